//! The `Module` trait and what it derives: names, modes, gradients, state dicts; layer
//! construction and PyTorch's default initialisation.

use ignis::nn::{
    AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, BlockConfig, Conv1d, Conv2d, Dropout, Embedding, Entry, Flatten, GELU,
    LayerNorm, Linear, MaxPool2d, Module, ModuleList, ReLU, Sequential, StateDict, TransformerBlock, init,
};
use ignis::{DType, Error, Tensor, manual_seed};

fn names(pairs: &[(String, Tensor)]) -> Vec<&str> {
    pairs.iter().map(|(n, _)| n.as_str()).collect()
}

fn small_cnn() -> Sequential {
    Sequential::new()
        .add(Conv2d::with_config(Conv2d::config(1, 4, 3).padding(1)))
        .add(BatchNorm2d::new(4))
        .add(ReLU)
        .add(MaxPool2d::new(2))
        .add(Flatten::default())
        .add(Dropout::new(0.5))
        .add(Linear::new(4 * 2 * 2, 3))
}

#[test]
fn named_parameters_and_buffers_use_dotted_pytorch_names() {
    let model = small_cnn();
    assert_eq!(names(&model.named_parameters()), ["0.weight", "0.bias", "1.weight", "1.bias", "6.weight", "6.bias"]);
    assert_eq!(names(&model.named_buffers()), ["1.running_mean", "1.running_var", "1.num_batches_tracked"]);
    let keys: Vec<String> = model.state_dict().into_keys().collect();
    assert_eq!(keys.len(), 9);
    assert_eq!(model.num_parameters(), (4 * 9 + 4) + (4 + 4) + (16 * 3 + 3));
    let y = model.forward(&Tensor::randn([2, 1, 4, 4], DType::F32));
    assert_eq!(y.shape(), &[2, 3]);
}

#[test]
fn transformer_block_names_nest() {
    let block = TransformerBlock::decoder(&BlockConfig::new(8, 2));
    assert_eq!(
        names(&block.named_parameters()),
        [
            "ln1.weight",
            "ln1.bias",
            "attn.in_proj_weight",
            "attn.in_proj_bias",
            "attn.out_proj.weight",
            "attn.out_proj.bias",
            "ln2.weight",
            "ln2.bias",
            "mlp.fc1.weight",
            "mlp.fc1.bias",
            "mlp.fc2.weight",
            "mlp.fc2.bias",
        ]
    );
    let blocks = ModuleList::new(vec![TransformerBlock::encoder(&BlockConfig::new(8, 2)), block]);
    assert_eq!(blocks.named_parameters()[12].0, "1.ln1.weight");
    let x = Tensor::randn([2, 5, 8], DType::F32);
    assert_eq!(blocks.forward(&x).shape(), &[2, 5, 8]);
}

/// A module that uses one tensor twice (weight tying).
struct Tied {
    a: Linear,
    b: Linear,
}

impl Module for Tied {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.b.forward(&self.a.forward(x))
    }
    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        visit("a", Entry::Child(&self.a));
        visit("b", Entry::Child(&self.b));
    }
}

#[test]
fn a_shared_parameter_is_listed_once() {
    let a = Linear::with_bias(4, 4, false);
    let b = Linear::from_weights(a.weight.clone(), None);
    let tied = Tied { a, b };
    assert_eq!(names(&tied.named_parameters()), ["a.weight"]);
    // The state dict still names both places, as PyTorch's does.
    assert_eq!(tied.state_dict().len(), 2);
}

#[test]
fn train_and_eval_reach_every_dropout_and_batch_norm() {
    let model = small_cnn();
    manual_seed(3);
    let x = Tensor::randn([4, 1, 4, 4], DType::F32);
    model.eval();
    let a = model.forward(&x).to_vec::<f32>();
    let b = model.forward(&x).to_vec::<f32>();
    assert_eq!(a, b, "eval mode is deterministic");
    let running = model.named_buffers()[0].1.to_vec::<f32>();
    assert_eq!(running, vec![0.0; 4], "eval mode does not update running statistics");
    model.train();
    let c = model.forward(&x).to_vec::<f32>();
    assert_ne!(a, c);
    assert_ne!(model.named_buffers()[0].1.to_vec::<f32>(), running, "training updates running statistics");
}

#[test]
fn dropout_zeroes_about_p_and_rescales_the_rest() {
    manual_seed(7);
    let d = Dropout::new(0.25);
    let y = d.forward(&Tensor::ones([100_000], DType::F32)).to_vec::<f32>();
    let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
    assert!((zeros - 0.25).abs() < 0.01, "dropped fraction {zeros}");
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    d.eval();
    assert_eq!(d.forward(&Tensor::ones([10], DType::F32)).to_vec::<f32>(), vec![1.0; 10]);
}

#[test]
fn zero_grad_clears_every_parameter() {
    let model = small_cnn();
    model.forward(&Tensor::randn([2, 1, 4, 4], DType::F32)).sum_all().backward();
    assert!(model.parameters().iter().all(|p| p.grad().is_some()));
    model.zero_grad();
    assert!(model.parameters().iter().all(|p| p.grad().is_none()));
}

#[test]
fn load_state_dict_copies_in_place_and_keeps_the_handles() {
    let a = small_cnn();
    let b = small_cnn();
    let handle = b.parameters()[0].clone();
    let snapshot: StateDict = a.state_dict().into_iter().map(|(k, t)| (k, t.deep_clone())).collect();
    b.load_state_dict(&snapshot, true).unwrap();
    // The handle an optimizer would hold sees the new values.
    assert_eq!(handle.to_vec::<f32>(), a.parameters()[0].to_vec::<f32>());
    assert!(handle.requires_grad());
}

#[test]
fn load_state_dict_names_missing_unexpected_and_mis_shaped_keys() {
    let model = Sequential::new().add(Linear::new(3, 4)).add(LayerNorm::new(&[4]));
    let mut state = model.state_dict();
    state.remove("1.bias");
    state.insert("2.weight".into(), Tensor::zeros([1], DType::F32));
    state.insert("0.bias".into(), Tensor::zeros([5], DType::F32));
    let before = model.parameters()[0].to_vec::<f32>();
    let err = model.load_state_dict(&state, true).unwrap_err();
    assert!(matches!(err, Error::StateDict(_)));
    assert_eq!(
        err.to_string(),
        "load_state_dict: missing keys: 1.bias; unexpected keys: 2.weight; \
         shape or dtype mismatch: 0.bias (expected f32[4], got f32[5])"
    );
    assert_eq!(model.parameters()[0].to_vec::<f32>(), before, "nothing is written on error");
    // Non-strict loading tolerates missing and unexpected keys but never a wrong shape.
    assert!(model.load_state_dict(&state, false).is_err());
    state.insert("0.bias".into(), Tensor::ones([4], DType::F32));
    model.load_state_dict(&state, false).unwrap();
    assert_eq!(model.named_parameters()[1].1.to_vec::<f32>(), vec![1.0; 4]);
}

fn uniform_bound_and_std(t: &Tensor) -> (f32, f64) {
    let v = t.to_vec::<f32>();
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
    (max, var.sqrt())
}

#[test]
fn linear_and_conv_use_pytorchs_default_init() {
    manual_seed(11);
    let lin = Linear::new(400, 300);
    // Kaiming uniform with a = sqrt(5): bound 1 / sqrt(fan_in); std = bound / sqrt(3).
    let bound = 1.0 / 400f32.sqrt();
    let (max, std) = uniform_bound_and_std(&lin.weight);
    assert!(max <= bound && max > 0.99 * bound, "weight max {max}, bound {bound}");
    assert!((std - bound as f64 / 3f64.sqrt()).abs() < 0.01 * bound as f64, "std {std}");
    let (bmax, _) = uniform_bound_and_std(lin.bias.as_ref().unwrap());
    assert!(bmax <= bound && bmax > 0.9 * bound);

    let conv = Conv2d::new(16, 32, 3);
    let conv_bound = 1.0 / (16.0f32 * 9.0).sqrt();
    let (max, _) = uniform_bound_and_std(&conv.weight);
    assert!(max <= conv_bound && max > 0.99 * conv_bound);
    assert_eq!(conv.weight.shape(), &[32, 16, 3, 3]);
    let conv1 = Conv1d::with_config(Conv1d::config(4, 6, 3).groups(2).bias(false));
    assert_eq!(conv1.weight.shape(), &[6, 2, 3]);
    assert!(conv1.bias.is_none());
    assert_eq!(conv1.forward(&Tensor::randn([2, 4, 10], DType::F32)).shape(), &[2, 6, 8]);
}

#[test]
fn init_functions_follow_their_formulas() {
    manual_seed(5);
    let t = Tensor::zeros([256, 512], DType::F32);
    init::xavier_uniform_(&t, 2.0);
    let bound = 2.0 * (6.0f64 / (256.0 + 512.0)).sqrt();
    let (max, std) = uniform_bound_and_std(&t);
    assert!((max as f64) <= bound && (max as f64) > 0.99 * bound);
    assert!((std - bound / 3f64.sqrt()).abs() < 0.01 * bound);

    init::kaiming_normal_(&t, init::FanMode::FanOut, init::Nonlinearity::Relu);
    let (_, std) = uniform_bound_and_std(&t);
    let want = 2f64.sqrt() / 256f64.sqrt();
    assert!((std - want).abs() < 0.01 * want, "std {std}, want {want}");

    init::trunc_normal_(&t, 0.0, 1.0, -0.5, 0.5);
    let (max, std) = uniform_bound_and_std(&t);
    assert!(max <= 0.5);
    // The std of N(0,1) truncated to [-0.5, 0.5] is 0.2841.
    assert!((std - 0.2841).abs() < 0.005, "std {std}");

    init::constant_(&t, 0.75);
    assert!(t.to_vec::<f32>().iter().all(|&v| v == 0.75));
    assert_eq!(init::calculate_gain(init::Nonlinearity::Tanh), 5.0 / 3.0);
    assert_eq!(init::calculate_gain(init::Nonlinearity::LeakyRelu(0.2)), (2.0f64 / 1.04).sqrt());
}

#[test]
fn embedding_padding_row_starts_at_zero_and_gets_no_gradient() {
    let e = Embedding::with_padding_idx(5, 3, 0);
    assert_eq!(e.weight.select(0, 0).to_vec::<f32>(), vec![0.0; 3]);
    let ids = Tensor::from_vec(vec![0i64, 2, 0, 4], [2, 2]);
    let y = e.forward(&ids);
    assert_eq!(y.shape(), &[2, 2, 3]);
    y.sum_all().backward();
    let g = e.weight.grad().unwrap().to_vec::<f32>();
    assert_eq!(&g[0..3], &[0.0; 3], "padding row");
    assert_eq!(&g[6..9], &[1.0; 3], "row 2 used once");
    assert_eq!(&g[3..6], &[0.0; 3], "row 1 unused");
}

#[test]
fn pooling_and_activation_modules_apply_their_ops() {
    let x = Tensor::arange(0.0, 16.0, 1.0, DType::F32).reshape([1, 1, 4, 4]);
    assert_eq!(MaxPool2d::new(2).forward(&x).to_vec::<f32>(), vec![5.0, 7.0, 13.0, 15.0]);
    assert_eq!(AvgPool2d::new(2).forward(&x).to_vec::<f32>(), vec![2.5, 4.5, 10.5, 12.5]);
    assert_eq!(AdaptiveAvgPool2d::new([1, 1]).forward(&x).to_vec::<f32>(), vec![7.5]);
    let v = Tensor::from_vec(vec![-1.0f32, 0.0, 2.0], [3]);
    assert_eq!(ReLU.forward(&v).to_vec::<f32>(), vec![0.0, 0.0, 2.0]);
    // GELU(2) = 2 * Phi(2) = 1.9544997; the tanh form gives 1.9545977.
    assert!((GELU::default().forward(&v).to_vec::<f32>()[2] - 1.9544997).abs() < 1e-6);
    assert!((GELU::tanh().forward(&v).to_vec::<f32>()[2] - 1.9545977).abs() < 1e-6);
}

#[test]
fn readme_nn_example_runs() -> ignis::Result<()> {
    use ignis::nn::{self, Module, Sequential};
    let images = Tensor::randn([3, 1, 8, 8], DType::F32);
    let model = Sequential::new()
        .add(nn::Conv2d::with_config(nn::Conv2d::config(1, 16, 3).padding(1)))
        .add(nn::BatchNorm2d::new(16))
        .add(nn::ReLU)
        .add(nn::MaxPool2d::new(2))
        .add(nn::Flatten::default())
        .add(nn::Linear::new(16 * 4 * 4, 10));
    let logits = model.forward(&images);
    assert_eq!(logits.shape(), &[3, 10]);
    let path = std::env::temp_dir().join(format!("ignis-readme-cnn-{}.safetensors", std::process::id()));
    ignis::weights::save(&model.state_dict(), &path)?;
    assert_eq!(ignis::weights::load(&path)?.len(), model.state_dict().len());
    Ok(())
}
