//! The autograd engine's contract: accumulation, grad mode, graph lifetime, higher-order
//! gradients, and the version counter that guards saved tensors.

use ignis::{DType, NoGradGuard, Tensor, enable_grad, is_grad_enabled, no_grad};

fn leaf(values: &[f64]) -> Tensor {
    Tensor::from_vec(values.to_vec(), values.len()).requires_grad_(true)
}

fn grad_of(t: &Tensor) -> Vec<f64> {
    t.grad().expect("a gradient after backward").to_vec::<f64>()
}

#[test]
fn gradients_accumulate_across_backward_calls() {
    let x = leaf(&[1.0, 2.0, 3.0]);
    // d/dx sum(x^2) = 2x, twice: 4x
    x.mul(&x).sum_all().backward();
    assert_eq!(grad_of(&x), vec![2.0, 4.0, 6.0]);
    x.mul(&x).sum_all().backward();
    assert_eq!(grad_of(&x), vec![4.0, 8.0, 12.0]);
    // d/dx sum(3x) = 3, added on top
    x.mul_scalar(3.0).sum_all().backward();
    assert_eq!(grad_of(&x), vec![7.0, 11.0, 15.0]);
}

#[test]
fn zero_grad_clears_the_gradient() {
    let x = leaf(&[1.0, -1.0]);
    x.mul_scalar(5.0).sum_all().backward();
    assert_eq!(grad_of(&x), vec![5.0, 5.0]);
    x.zero_grad();
    assert!(x.grad().is_none());
    // After clearing, a new backward starts from zero rather than adding to 5.
    x.mul_scalar(2.0).sum_all().backward();
    assert_eq!(grad_of(&x), vec![2.0, 2.0]);
}

#[test]
fn no_grad_records_nothing() {
    let x = leaf(&[1.0, 2.0]);
    let y = no_grad(|| x.mul_scalar(2.0).exp().sum_all());
    assert_eq!(y.grad_fn_name(), None);
    assert!(!y.requires_grad());
    assert!(y.is_leaf());
    // Outside the scope recording is back on.
    let z = x.mul_scalar(2.0);
    assert_eq!(z.grad_fn_name(), Some("ScalarOpBackward"));
    assert!(z.requires_grad());
}

#[test]
fn grad_mode_nests_and_restores() {
    assert!(is_grad_enabled());
    let x = leaf(&[3.0]);
    no_grad(|| {
        assert!(!is_grad_enabled());
        no_grad(|| assert!(!is_grad_enabled()));
        // The inner no_grad must not turn recording back on when it ends.
        assert!(!is_grad_enabled());
        let inner = enable_grad(|| {
            assert!(is_grad_enabled());
            x.square()
        });
        assert_eq!(inner.grad_fn_name(), Some("SquareBackward"));
        assert!(!is_grad_enabled());
    });
    assert!(is_grad_enabled());
    {
        let _guard = NoGradGuard::new();
        assert!(!is_grad_enabled());
        assert_eq!(x.neg().grad_fn_name(), None);
    }
    assert!(is_grad_enabled());
}

#[test]
fn detach_cuts_the_graph() {
    let x = leaf(&[1.0, 2.0, 3.0]);
    let y = x.mul_scalar(2.0);
    let d = y.detach();
    assert!(d.is_leaf());
    assert!(!d.requires_grad());
    assert!(d.shares_storage(&y));
    // sum(detach(2x) * x): only the second factor carries a gradient, so d/dx = 2x
    // (it would be 4x if the graph went through the detached factor).
    d.mul(&x).sum_all().backward();
    assert_eq!(grad_of(&x), vec![2.0, 4.0, 6.0]);
}

#[test]
fn retain_graph_allows_a_second_backward() {
    let x = leaf(&[1.0, -2.0]);
    let y = x.pow_scalar(3.0).sum_all();
    y.backward_with(None, true, false);
    // d/dx x^3 = 3x^2 = [3, 12]
    assert_eq!(grad_of(&x), vec![3.0, 12.0]);
    y.backward_with(None, true, false);
    assert_eq!(grad_of(&x), vec![6.0, 24.0]);
    y.backward();
    assert_eq!(grad_of(&x), vec![9.0, 36.0]);
}

#[test]
#[should_panic(expected = "second time")]
fn a_second_backward_without_retain_graph_panics() {
    let x = leaf(&[1.0, 2.0]);
    let y = x.exp().sum_all();
    y.backward();
    y.backward();
}

#[test]
fn create_graph_gives_second_derivatives() {
    let x = leaf(&[-2.0, 0.5, 1.0, 3.0]);
    x.pow_scalar(3.0).sum_all().backward_with(None, false, true);
    // d/dx x^3 = 3x^2, and the gradient itself carries a graph.
    let first = x.grad().unwrap();
    assert_eq!(first.to_vec::<f64>(), vec![12.0, 0.75, 3.0, 27.0]);
    assert!(first.grad_fn_name().is_some());
    x.zero_grad();
    first.sum_all().backward();
    // d^2/dx^2 x^3 = 6x
    assert_eq!(grad_of(&x), vec![-12.0, 3.0, 6.0, 18.0]);
}

#[test]
fn create_graph_gives_mixed_second_derivatives() {
    let x = leaf(&[1.0, 2.0, -3.0]);
    let y = leaf(&[4.0, -5.0, 0.5]);
    // f = sum(x^2 y): df/dx = 2xy, df/dy = x^2
    x.mul(&x).mul(&y).sum_all().backward_with(None, false, true);
    let dfdx = x.grad().unwrap();
    assert_eq!(dfdx.to_vec::<f64>(), vec![8.0, -20.0, -3.0]);
    assert_eq!(grad_of(&y), vec![1.0, 4.0, 9.0]);
    x.zero_grad();
    y.zero_grad();
    // d/dy sum(2xy) = 2x, d/dx sum(2xy) = 2y
    dfdx.sum_all().backward();
    assert_eq!(grad_of(&y), vec![2.0, 4.0, -6.0]);
    assert_eq!(grad_of(&x), vec![8.0, -10.0, 1.0]);
}

#[test]
fn gradient_of_a_gradient_through_a_nonlinearity() {
    // g(x) = d/dx tanh(x) = 1 - tanh^2; g'(x) = -2 tanh(x) (1 - tanh^2(x))
    let points = [-1.5, -0.3, 0.0, 0.7, 2.0];
    let x = leaf(&points);
    x.tanh().sum_all().backward_with(None, false, true);
    let g = x.grad().unwrap();
    x.zero_grad();
    g.sum_all().backward();
    for (got, &p) in grad_of(&x).iter().zip(&points) {
        let t = f64::tanh(p);
        let want = -2.0 * t * (1.0 - t * t);
        assert!((got - want).abs() < 1e-12, "at {p}: got {got}, want {want}");
    }
}

#[test]
fn second_derivatives_of_ops_whose_rule_uses_their_output() {
    // exp, sigmoid and sqrt write their gradient with the saved output; the second
    // derivative must still see that output depend on x.
    let points = [-1.0, 0.25, 0.5, 2.0];
    type Case = (&'static str, fn(&Tensor) -> Tensor, fn(f64) -> f64);
    let cases: [Case; 3] = [
        // d^2/dx^2 e^(2x) = 4 e^(2x)
        ("exp", |x| x.mul_scalar(2.0).exp(), |x| 4.0 * (2.0 * x).exp()),
        // s'' = s (1 - s) (1 - 2 s)
        (
            "sigmoid",
            |x| x.sigmoid(),
            |x| {
                let s = 1.0 / (1.0 + (-x).exp());
                s * (1.0 - s) * (1.0 - 2.0 * s)
            },
        ),
        // d^2/dx^2 sqrt(x + 2) = -1/4 (x + 2)^(-3/2)
        ("sqrt", |x| x.add_scalar(2.0).sqrt(), |x| -0.25 * (x + 2.0).powf(-1.5)),
    ];
    for (name, f, second) in cases {
        let x = leaf(&points);
        // The gradient's graph reuses the forward graph (x * 2 before exp), so keep it, as
        // PyTorch does by default under create_graph.
        f(&x).sum_all().backward_with(None, true, true);
        let g = x.grad().unwrap();
        x.zero_grad();
        g.sum_all().backward();
        for (got, &p) in grad_of(&x).iter().zip(&points) {
            let want = second(p);
            assert!((got - want).abs() < 1e-12 * (1.0 + want.abs()), "{name} at {p}: got {got}, want {want}");
        }
    }
}

#[test]
#[should_panic(expected = "a gradient can be implied only for outputs with one element")]
fn backward_of_a_non_scalar_needs_a_gradient() {
    let x = leaf(&[1.0, 2.0]);
    x.mul_scalar(2.0).backward();
}

#[test]
fn backward_with_an_explicit_gradient() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).requires_grad_(true);
    let w = Tensor::from_vec(vec![2.0f32, 3.0], [2]);
    let y = x.mul(&w);
    let g = Tensor::from_vec(vec![1.0f32, 10.0, 100.0, 1000.0], [2, 2]);
    y.backward_with(Some(&g), false, false);
    // dL/dx = g * w (broadcast over rows)
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![2.0, 30.0, 200.0, 3000.0]);
}

#[test]
#[should_panic(expected = "does not match the output")]
fn backward_with_a_gradient_of_the_wrong_shape_panics() {
    let x = leaf(&[1.0, 2.0]);
    x.mul_scalar(2.0).backward_with(Some(&Tensor::ones([3], DType::F64)), false, false);
}

#[test]
fn a_diamond_sums_both_paths() {
    let x = leaf(&[1.0, 2.0, -1.0]);
    let a = x.mul_scalar(2.0);
    let b = x.square();
    // y = sum(2x * x^2) = sum(2x^3); the two paths give 2 x^2 (through a) + 4 x^2 (through b)
    a.mul(&b).sum_all().backward();
    assert_eq!(grad_of(&x), vec![6.0, 24.0, 6.0]);

    let z = leaf(&[5.0]);
    z.add(&z).add(&z).sum_all().backward();
    assert_eq!(grad_of(&z), vec![3.0]);
}

#[test]
fn retain_grad_keeps_a_non_leaf_gradient() {
    let x = leaf(&[1.0, 2.0, 3.0]);
    let h = x.mul_scalar(2.0);
    let other = x.add_scalar(1.0);
    h.retain_grad();
    // y = sum(h^2 * other): dy/dh = 2 h other
    h.square().mul(&other).sum_all().backward();
    assert_eq!(grad_of(&h), vec![8.0, 24.0, 48.0]);
    assert!(other.grad().is_none(), "a non-leaf keeps no gradient unless asked");
    // dy/dx = 8x (x + 1) + 4x^2 = [20, 64, 132]
    assert_eq!(grad_of(&x), vec![20.0, 64.0, 132.0]);
}

#[test]
#[should_panic(expected = "modified by an in-place operation")]
fn modifying_a_saved_tensor_in_place_is_caught() {
    let a = Tensor::randn([3], DType::F32);
    let w = Tensor::randn([3], DType::F32).requires_grad_(true);
    let y = a.mul(&w).sum_all();
    a.add_scalar_(1.0);
    y.backward();
}

#[test]
fn modifying_an_unsaved_tensor_in_place_is_fine() {
    // add does not save its inputs, so changing one afterwards leaves backward correct.
    let a = Tensor::from_vec(vec![1.0f64, 2.0], [2]);
    let w = leaf(&[3.0, 4.0]);
    let y = a.add(&w).sum_all();
    a.add_scalar_(10.0);
    y.backward();
    assert_eq!(grad_of(&w), vec![1.0, 1.0]);
}

#[test]
#[should_panic(expected = "in-place ops on tensors that require grad are not supported")]
fn in_place_on_a_tensor_requiring_grad_panics() {
    let w = leaf(&[1.0, 2.0]);
    w.add_scalar_(1.0);
}

#[test]
fn in_place_updates_under_no_grad_are_allowed() {
    let w = leaf(&[1.0, 2.0]);
    w.mul(&w).sum_all().backward();
    let g = w.grad().unwrap();
    // SGD step with lr 0.5: w - 0.5 * 2w = 0
    no_grad(|| w.add_scaled_(&g, -0.5));
    assert_eq!(w.to_vec::<f64>(), vec![0.0, 0.0]);
    assert!(w.requires_grad());
}

#[test]
fn version_counter_counts_in_place_writes_and_is_shared_by_views() {
    let t = Tensor::zeros([2, 3], DType::F32);
    let v0 = t.version();
    t.add_scalar_(1.0);
    assert_eq!(t.version(), v0 + 1);
    t.mul_scalar_(3.0);
    assert_eq!(t.version(), v0 + 2);
    // Out-of-place ops leave it alone.
    let _ = t.add_scalar(1.0);
    assert_eq!(t.version(), v0 + 2);

    let row = t.narrow(0, 1, 1);
    let col = t.transpose(0, 1);
    assert_eq!(row.version(), t.version());
    row.fill_(7.0);
    assert_eq!(t.version(), v0 + 3);
    assert_eq!(col.version(), v0 + 3);
    // The write went through the view into the shared storage.
    assert_eq!(t.to_vec::<f32>(), vec![3.0, 3.0, 3.0, 7.0, 7.0, 7.0]);
    col.zero_();
    assert_eq!(row.version(), v0 + 4);
    assert_eq!(t.to_vec::<f32>(), vec![0.0; 6]);

    // A copy has its own counter.
    let copy = t.contiguous_copy();
    let before = copy.version();
    t.add_scalar_(1.0);
    assert_eq!(copy.version(), before);
}

#[test]
#[should_panic(expected = "modified by an in-place operation")]
fn writing_through_a_view_invalidates_a_saved_base() {
    let a = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [3]);
    let w = leaf(&[1.0, 1.0, 1.0]);
    let y = a.mul(&w).sum_all();
    a.narrow(0, 0, 1).fill_(0.0);
    y.backward();
}
