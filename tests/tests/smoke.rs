use ignis::{DType, Tensor};

#[test]
fn chain_rule_through_broadcast() {
    // y = sum((x * w + b)^2) with x [2,3], w [3], b scalar-shaped [1]
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).requires_grad_(true);
    let w = Tensor::from_vec(vec![0.5f32, -1.0, 2.0], [3]).requires_grad_(true);
    let b = Tensor::from_vec(vec![1.0f32], [1]).requires_grad_(true);
    let y = x.mul(&w).add(&b).square().sum_all();
    y.backward();
    // z = x*w + b = [[1.5, -1, 7], [3, -4, 13]]; dy/dz = 2z
    // dy/dx = 2z * w = [[1.5, 2, 28], [3, 8, 52]]
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![1.5, 2.0, 28.0, 3.0, 8.0, 52.0]);
    // dy/dw = sum over rows of 2z * x = [2*1.5*1 + 2*3*4, 2*-1*2 + 2*-4*5, 2*7*3 + 2*13*6]
    assert_eq!(w.grad().unwrap().to_vec::<f32>(), vec![27.0, -44.0, 198.0]);
    // dy/db = sum of 2z = 2 * (1.5 - 1 + 7 + 3 - 4 + 13)
    assert_eq!(b.grad().unwrap().to_vec::<f32>(), vec![39.0]);
    let _ = DType::F32;
}
