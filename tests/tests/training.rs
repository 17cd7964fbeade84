//! End to end: nn + optim + data learn a real task. An MLP trained on the handwritten
//! digits that `--example digits` uses must classify held-out images well.

use ignis::data::{DataLoader, TensorDataset};
use ignis::nn::{self, Module, Sequential};
use ignis::optim::{Adam, AdamOptions, Optimizer};
use ignis::{DType, Tensor, no_grad};

const DIGITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../frontend/examples/data/digits.csv");

fn digits() -> (Tensor, Tensor) {
    let text = std::fs::read_to_string(DIGITS).expect("the digits file ships with the repository");
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let values: Vec<f32> = line.split(',').map(|v| v.parse().expect("a number")).collect();
        assert_eq!(values.len(), 65);
        pixels.extend(values[..64].iter().map(|p| p / 16.0));
        labels.push(values[64] as i64);
    }
    let n = labels.len();
    (Tensor::from_vec(pixels, [n, 64]), Tensor::from_vec(labels, [n]))
}

#[test]
fn an_mlp_learns_the_digits() {
    ignis::manual_seed(0);
    let (x, y) = digits();
    assert_eq!(y.numel(), 1797);
    // A fixed random fifth of the images is held out.
    let order =
        Tensor::from_vec(ignis::data::permutation(1797, 7).into_iter().map(|i| i as i64).collect::<Vec<_>>(), [1797]);
    let (x, y) = (x.index_select(0, &order), y.index_select(0, &order));
    let train = TensorDataset::new(vec![x.narrow(0, 0, 1437), y.narrow(0, 0, 1437)]);
    let (test_x, test_y) = (x.narrow(0, 1437, 360), y.narrow(0, 1437, 360));
    let model = Sequential::new().add(nn::Linear::new(64, 64)).add(nn::ReLU).add(nn::Linear::new(64, 10));
    let mut optimizer = Adam::new(model.parameters(), AdamOptions { lr: 3e-3, ..Default::default() });
    let loader = DataLoader::builder(train).batch_size(32).shuffle(true).seed(1).build();
    let mut first_epoch_loss = None;
    let mut last_epoch_loss = 0.0;
    for _ in 0..20 {
        let mut total = 0.0;
        for batch in &loader {
            optimizer.zero_grad();
            let loss = model.forward(&batch[0]).cross_entropy(&batch[1], &Default::default());
            loss.backward();
            optimizer.step();
            total += loss.item_f64();
        }
        last_epoch_loss = total / loader.len() as f64;
        first_epoch_loss.get_or_insert(last_epoch_loss);
    }
    assert!(last_epoch_loss < 0.5 * first_epoch_loss.unwrap(), "loss {first_epoch_loss:?} -> {last_epoch_loss}");
    let predicted = no_grad(|| model.forward(&test_x)).argmax(-1, false);
    let accuracy = predicted.eq(&test_y).to_dtype(DType::F64).mean_all().item_f64();
    assert!(accuracy >= 0.95, "held-out accuracy {accuracy}");
}
