//! The messages of common mistakes: each names the op, the shapes or dtypes involved and
//! what was expected.

use ignis::{ConvOptions, CrossEntropyOptions, DType, Reduction, Tensor};

fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape.to_vec(), DType::F32)
}

#[test]
#[should_panic(expected = "add: shapes [2,3] and [4] cannot be broadcast: dim -1 is 3 in one and 4 in the other")]
fn add_of_shapes_that_do_not_broadcast() {
    zeros(&[2, 3]).add(&zeros(&[4]));
}

#[test]
#[should_panic(expected = "mul: shapes [5,1,3] and [4,2] cannot be broadcast")]
fn mul_of_shapes_that_do_not_broadcast() {
    zeros(&[5, 1, 3]).mul(&zeros(&[4, 2]));
}

#[test]
#[should_panic(expected = "matmul: cannot multiply [8,16] by [12,4]: the inner dimensions (16 and 12) must match")]
fn matmul_with_mismatched_inner_dimensions() {
    zeros(&[8, 16]).matmul(&zeros(&[12, 4]));
}

#[test]
#[should_panic(expected = "matmul: cannot multiply [2,3,4] by [5,4,2]: batch dims")]
fn matmul_with_mismatched_batch_dims() {
    zeros(&[2, 3, 4]).matmul(&zeros(&[5, 4, 2]));
}

#[test]
#[should_panic(expected = "sum: dim 5 is out of range for a tensor of rank 2 (expected a dim in [-2, 1])")]
fn sum_over_a_dim_past_the_rank() {
    zeros(&[2, 3]).sum(5, false);
}

#[test]
#[should_panic(expected = "softmax: dim -3 is out of range for a tensor of rank 2")]
fn softmax_over_a_negative_dim_past_the_rank() {
    zeros(&[2, 3]).softmax(-3);
}

#[test]
#[should_panic(expected = "reshape: cannot reshape [2,3] (6 elements) to [4] (4 elements)")]
fn reshape_to_the_wrong_element_count() {
    zeros(&[2, 3]).reshape([4]);
}

#[test]
#[should_panic(expected = "reshape: cannot reshape [2,3] (6 elements) to [4, -1]")]
fn reshape_with_an_inferred_dim_that_does_not_divide() {
    zeros(&[2, 3]).reshape_infer(&[4, -1]);
}

#[test]
#[should_panic(expected = "view: cannot view f32[3,2] with strides [1, 3] as [6]; use reshape")]
fn view_of_a_transposed_tensor() {
    zeros(&[2, 3]).t().view([6]);
}

#[test]
#[should_panic(expected = "expand: cannot expand [3] to [2,4]: dim 0 is 3, expected 4 or 1")]
fn expand_to_an_incompatible_shape() {
    zeros(&[3]).expand([2, 4]);
}

#[test]
#[should_panic(expected = "permute: permutation [0, 0] has 2 entries, expected 3")]
fn permute_with_the_wrong_number_of_dims() {
    zeros(&[2, 3, 4]).permute(&[0, 0]);
}

#[test]
#[should_panic(expected = "index_select: indices must be i64 or i32, got f32[2]")]
fn index_select_with_float_indices() {
    zeros(&[3, 4]).index_select(0, &Tensor::from_vec(vec![0.0f32, 1.0], 2));
}

#[test]
#[should_panic(expected = "gather: index 5 is out of range for dim 1 of size 3")]
fn gather_out_of_range() {
    zeros(&[2, 3]).gather(1, &Tensor::from_vec(vec![0i64, 5], [2, 1]));
}

#[test]
#[should_panic(expected = "index_select: index -1 is out of range for dim 0 of size 3")]
fn index_select_with_a_negative_index() {
    zeros(&[3, 2]).index_select(0, &Tensor::from_vec(vec![-1i64], 1));
}

#[test]
#[should_panic(expected = "cat: shapes [2,3] and [2,4] differ in dim 1 (only dim 0 may differ)")]
fn cat_with_mismatched_shapes() {
    Tensor::cat(&[&zeros(&[2, 3]), &zeros(&[2, 4])], 0);
}

#[test]
#[should_panic(expected = "stack: all tensors need one shape, got f32[2] and f32[3]")]
fn stack_with_mismatched_shapes() {
    Tensor::stack(&[&zeros(&[2]), &zeros(&[3])], 0);
}

#[test]
#[should_panic(expected = "conv2d: input f32[1,3,5,5] and weight f32[4,2,3,3] do not fit 1 groups")]
fn conv2d_with_the_wrong_channel_count() {
    zeros(&[1, 3, 5, 5]).conv2d(&zeros(&[4, 2, 3, 3]), None, &ConvOptions::new(2));
}

#[test]
#[should_panic(expected = "conv2d: input size 2 with padding 0 is smaller than the kernel's span 3")]
fn conv2d_with_a_kernel_larger_than_the_input() {
    zeros(&[1, 1, 2, 2]).conv2d(&zeros(&[1, 1, 3, 3]), None, &ConvOptions::new(2));
}

#[test]
#[should_panic(expected = "cross_entropy: targets i64[3] do not fit logits f32[4,5] (expected targets of shape [4])")]
fn cross_entropy_with_a_mismatched_target_shape() {
    zeros(&[4, 5]).cross_entropy(&Tensor::zeros([3], DType::I64), &CrossEntropyOptions::default());
}

#[test]
#[should_panic(expected = "cross_entropy: probability targets f32[4,2] must match the logits f32[4,5]")]
fn cross_entropy_with_mismatched_probabilities() {
    zeros(&[4, 5]).cross_entropy(&zeros(&[4, 2]), &CrossEntropyOptions::default());
}

#[test]
#[should_panic(expected = "mse_loss: input f32[3] and target f32[4] must have the same shape")]
fn mse_loss_with_mismatched_shapes() {
    zeros(&[3]).mse_loss(&zeros(&[4]), Reduction::Mean);
}

#[test]
#[should_panic(expected = "narrow: range 2..5 is out of bounds for dim 1 of size 3 (f32[2,3])")]
fn narrow_out_of_bounds() {
    zeros(&[2, 3]).narrow(1, 2, 3);
}

#[test]
#[should_panic(expected = "select: index 2 is out of range for dim 0 of size 2")]
fn select_out_of_bounds() {
    zeros(&[2, 3]).select(0, 2);
}

#[test]
#[should_panic(expected = "requires_grad_: only floating point tensors can require gradients, got i64")]
fn requires_grad_on_an_integer_tensor() {
    Tensor::zeros([2], DType::I64).requires_grad_(true);
}

#[test]
#[should_panic(expected = "requires_grad_: can only change requires_grad of leaf tensors")]
fn requires_grad_on_a_non_leaf() {
    zeros(&[2]).requires_grad_(true).mul_scalar(2.0).requires_grad_(false);
}

#[test]
#[should_panic(expected = "item: expected a tensor with one element, got f32[2,3]")]
fn item_of_a_tensor_with_several_elements() {
    zeros(&[2, 3]).item::<f32>();
}

#[test]
#[should_panic(expected = "from_vec: 5 elements cannot fill shape [2,3] (6 elements)")]
fn from_vec_with_the_wrong_element_count() {
    Tensor::from_vec(vec![0.0f32; 5], [2, 3]);
}

#[test]
#[should_panic(expected = "where: the condition must be bool, got f32[2]")]
fn where_with_a_float_condition() {
    zeros(&[2]).where_(&zeros(&[2]), &zeros(&[2]));
}

#[test]
#[should_panic(expected = "max: cannot reduce over dim 0 of size 0 (f32[0,3])")]
fn max_over_an_empty_dim() {
    zeros(&[0, 3]).max(0, false);
}

#[test]
#[should_panic(expected = "backward: the tensor does not require grad and has no grad_fn")]
fn backward_of_a_tensor_without_history() {
    zeros(&[2]).sum_all().backward();
}

#[test]
#[should_panic(expected = "rem: integer division by zero")]
fn integer_remainder_by_zero() {
    Tensor::from_vec(vec![3i64], 1).rem(&Tensor::from_vec(vec![0i64], 1));
}

#[test]
#[should_panic(expected = "clamp: min (2) is greater than max (1)")]
fn clamp_with_crossed_bounds() {
    zeros(&[2]).clamp(Some(2.0), Some(1.0));
}

#[test]
#[should_panic(expected = "pad: reflect padding (3, 0) of dim 1 must be less than its size 3")]
fn reflect_padding_wider_than_the_input() {
    zeros(&[2, 3]).pad(&[3, 0], ignis::PadMode::Reflect, 0.0);
}
