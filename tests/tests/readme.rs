//! The README's example, kept compiling and checked against a hand-derived gradient.

use ignis::{DType, Tensor};

#[test]
fn readme_example_runs_and_its_gradient_is_right() {
    ignis::manual_seed(0);
    let x = Tensor::randn([4, 3], DType::F32);
    let w = Tensor::randn([3, 2], DType::F32).requires_grad_(true);
    let b = Tensor::zeros([2], DType::F32).requires_grad_(true);

    let y = x.matmul(&w).add(&b).gelu_tanh();
    let loss = y.square().mean_all();
    loss.backward();

    // d loss / d w = x^T (2 y / 8 * gelu_tanh'(z)), with gelu_tanh' computed in f64 here.
    let (xv, wv) = (x.to_vec::<f32>(), w.to_vec::<f32>());
    let mut expected = [0.0f64; 6];
    for i in 0..4 {
        for j in 0..2 {
            let z: f64 = (0..3).map(|k| xv[i * 3 + k] as f64 * wv[k * 2 + j] as f64).sum();
            let (c, a) = ((2.0 / std::f64::consts::PI).sqrt(), 0.044715);
            let t = (c * (z + a * z * z * z)).tanh();
            let y = 0.5 * z * (1.0 + t);
            let dy = 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * c * (1.0 + 3.0 * a * z * z);
            for k in 0..3 {
                expected[k * 2 + j] += xv[i * 3 + k] as f64 * 2.0 * y / 8.0 * dy;
            }
        }
    }
    let got = w.grad().expect("w has a gradient").to_vec::<f32>();
    for (g, e) in got.iter().zip(expected) {
        assert!((*g as f64 - e).abs() < 1e-5, "{got:?} vs {expected:?}");
    }
    assert_eq!(b.grad().expect("b has a gradient").shape(), &[2]);
}

#[test]
fn readme_compile_example_runs() {
    use ignis::compile::Static;
    use ignis::{compile, explain};

    let w = Tensor::randn([64, 64], DType::F32);
    let w_in = w.clone();
    let layer = compile(move |x: Tensor| x.matmul(&w_in).relu());
    let _ = layer.call(Tensor::randn([8, 64], DType::F32));
    let y = layer.call(Tensor::randn([8, 64], DType::F32));
    assert_eq!(layer.stats().replays, 1);

    let scaled = compile(|(x, Static(double)): (Tensor, Static<bool>)| if double { x.mul_scalar(2.0) } else { x });
    let doubled = scaled.call((y.clone(), Static(true)));
    assert_eq!(doubled.to_vec::<f32>(), y.mul_scalar(2.0).to_vec::<f32>());

    let f = compile(|x: Tensor| if x.sum_all().item::<f32>() > 0.0 { x.relu() } else { x.neg() });
    let report = explain(&f, y.clone());
    assert_eq!(report.break_count(), 1);
}
