//! Trains an MLP and a small CNN on the 8x8 handwritten digits shipped in
//! `examples/data/digits.csv` and reports their test accuracy.
//!
//!     cargo run --release -p ignis --example digits -- [--epochs N] [--plot FILE.svg]

mod common;

use ignis::data::{DataLoader, TensorDataset, random_split};
use ignis::nn::{self, Module, Sequential};
use ignis::optim::{AdamW, AdamWOptions, CosineAnnealingLR, LrScheduler, Optimizer};
use ignis::{CrossEntropyOptions, DType, Tensor, no_grad};
use std::path::PathBuf;
use std::time::Instant;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/digits.csv");

struct Options {
    epochs: usize,
    plot: PathBuf,
    seed: u64,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options { epochs: 30, plot: PathBuf::from("digits_loss.svg"), seed: 0 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--epochs" => options.epochs = value()?.parse().map_err(|e| format!("--epochs: {e}"))?,
            "--plot" => options.plot = PathBuf::from(value()?),
            "--seed" => options.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            other => return Err(format!("unknown argument {other} (try --epochs N, --plot FILE.svg, --seed N)")),
        }
    }
    Ok(options)
}

/// Pixels scaled to [0, 1] as `[N, 64]` and labels as i64 `[N]`.
fn load_digits() -> Result<(Tensor, Tensor), String> {
    let text = std::fs::read_to_string(DATA).map_err(|e| format!("{DATA}: {e}"))?;
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (line_no, line) in text.lines().enumerate() {
        let values: Vec<f32> = line
            .split(',')
            .map(|v| v.trim().parse::<f32>().map_err(|e| format!("{DATA}:{}: {e}", line_no + 1)))
            .collect::<Result<_, _>>()?;
        if values.len() != 65 {
            return Err(format!("{DATA}:{}: expected 65 values, got {}", line_no + 1, values.len()));
        }
        pixels.extend(values[..64].iter().map(|p| p / 16.0));
        labels.push(values[64] as i64);
    }
    let n = labels.len();
    Ok((Tensor::from_vec(pixels, [n, 64]), Tensor::from_vec(labels, [n])))
}

fn mlp() -> Sequential {
    Sequential::new()
        .add(nn::Linear::new(64, 128))
        .add(nn::ReLU)
        .add(nn::Dropout::new(0.1))
        .add(nn::Linear::new(128, 64))
        .add(nn::ReLU)
        .add(nn::Linear::new(64, 10))
}

/// Takes `[N, 64]` and views it as `[N, 1, 8, 8]` images.
struct Image;

impl Module for Image {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.reshape([x.shape()[0], 1, 8, 8])
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, nn::Entry<'a>)) {}
}

fn cnn() -> Sequential {
    Sequential::new()
        .add(Image)
        .add(nn::Conv2d::with_config(nn::Conv2d::config(1, 16, 3).padding(1)))
        .add(nn::BatchNorm2d::new(16))
        .add(nn::ReLU)
        .add(nn::MaxPool2d::new(2))
        .add(nn::Conv2d::with_config(nn::Conv2d::config(16, 32, 3).padding(1)))
        .add(nn::BatchNorm2d::new(32))
        .add(nn::ReLU)
        .add(nn::MaxPool2d::new(2))
        .add(nn::Flatten::default())
        .add(nn::Dropout::new(0.2))
        .add(nn::Linear::new(32 * 2 * 2, 10))
}

fn accuracy(model: &dyn Module, x: &Tensor, y: &Tensor) -> f64 {
    model.eval();
    let predicted = no_grad(|| model.forward(x)).argmax(-1, false);
    let correct = predicted.eq(y).to_dtype(DType::F64).sum_all().item_f64();
    model.train();
    correct / y.numel() as f64
}

/// Trains `model`, returning the mean training loss of every epoch and the test accuracy.
fn train(
    name: &str,
    model: &dyn Module,
    loader: &DataLoader<TensorDataset, Vec<Tensor>>,
    test: (&Tensor, &Tensor),
    epochs: usize,
) -> (Vec<(f64, f64)>, f64) {
    let mut optimizer = AdamW::new(model.parameters(), AdamWOptions { lr: 3e-3, ..Default::default() });
    let mut schedule = CosineAnnealingLR::new(&mut optimizer, epochs, 1e-5);
    let loss_options = CrossEntropyOptions { label_smoothing: 0.05, ..Default::default() };
    let bar = common::progress((epochs * loader.len()) as u64, name);
    let mut curve = Vec::new();
    for epoch in 0..epochs {
        let mut total = 0.0;
        for batch in loader.iter() {
            optimizer.zero_grad();
            let loss = model.forward(&batch[0]).cross_entropy(&batch[1], &loss_options);
            loss.backward();
            optimizer.step();
            total += loss.item_f64();
            bar.inc(1);
        }
        schedule.step(&mut optimizer);
        let mean = total / loader.len() as f64;
        bar.set_message(format!("epoch {} loss {mean:.4}", epoch + 1));
        curve.push(((epoch + 1) as f64, mean));
    }
    bar.finish();
    (curve, accuracy(model, test.0, test.1))
}

fn main() {
    let options = parse_args().unwrap_or_else(|e| {
        eprintln!("digits: {e}");
        std::process::exit(2);
    });
    let (x, y) = load_digits().unwrap_or_else(|e| {
        eprintln!("digits: {e}");
        std::process::exit(1);
    });
    ignis::manual_seed(options.seed);
    let splits = random_split(TensorDataset::new(vec![x, y]), [0.8, 0.2], options.seed);
    let (train_set, test_set) = (&splits[0], &splits[1]);
    let to_tensors = |set: &ignis::data::Subset<TensorDataset>| {
        let index =
            Tensor::from_vec(set.indices().iter().map(|&i| i as i64).collect::<Vec<_>>(), [set.indices().len()]);
        let all = set.dataset().tensors();
        (all[0].index_select(0, &index), all[1].index_select(0, &index))
    };
    let (train_x, train_y) = to_tensors(train_set);
    let (test_x, test_y) = to_tensors(test_set);
    println!(
        "digits: {} training and {} test images of 8x8 pixels, {} epochs, {} threads",
        train_y.numel(),
        test_y.numel(),
        options.epochs,
        ignis::runtime::num_threads()
    );
    let loader = DataLoader::builder(TensorDataset::new(vec![train_x, train_y]))
        .batch_size(32)
        .shuffle(true)
        .seed(options.seed)
        .build();

    let mut curves = Vec::new();
    for (name, model) in [("mlp", mlp()), ("cnn", cnn())] {
        let start = Instant::now();
        let (curve, acc) = train(name, &model, &loader, (&test_x, &test_y), options.epochs);
        let final_loss = curve.last().map_or(f64::NAN, |p| p.1);
        println!(
            "{name}: {} parameters, final training loss {final_loss:.4}, test accuracy {:.2}% ({:.1} s)",
            model.num_parameters(),
            acc * 100.0,
            start.elapsed().as_secs_f64()
        );
        curves.push((name, curve));
    }
    match common::plot_curves(&options.plot, "digits: training loss", "epoch", "cross entropy", &curves) {
        Ok(()) => println!("loss curves: {}", options.plot.display()),
        Err(e) => eprintln!("digits: cannot write {}: {e}", options.plot.display()),
    }
}
