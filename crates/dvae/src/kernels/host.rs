//! Values between Burn tensors and the host: float and int tensors read back, token ids
//! made into tensors, a 1×1 convolution's weights as the rows one-hot inputs pick.

use burn::prelude::*;
use burn::tensor::TensorData;

/// Values of a float tensor on the host.
pub fn float_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// Values of an int tensor on the host, as u32 (token ids).
pub fn int_values<const D: usize>(t: Tensor<D, Int>) -> Vec<u32> {
    t.into_data().iter::<i64>().map(|v| v as u32).collect()
}

/// The rows a 1×1 convolution `K → c` gives for one-hot inputs: `[K, c]`, row k being
/// the weight's column k plus the bias (the codebook lookup that replaces the convolution
/// over one-hot tokens). `None` for a larger kernel.
pub fn one_hot_rows(conv: &burn::nn::conv::Conv2d) -> Option<(Vec<f32>, usize)> {
    let [c, k, kh, kw] = conv.weight.val().dims();
    if [kh, kw] != [1, 1] {
        return None;
    }
    let w = float_values(conv.weight.val());
    let b = conv
        .bias
        .as_ref()
        .map_or(vec![0.0; c], |b| float_values(b.val()));
    let rows = (0..k)
        .flat_map(|code| (0..c).map(move |ch| (code, ch)))
        .map(|(code, ch)| w[ch * k + code] + b[ch])
        .collect();
    Some((rows, c))
}

/// Token ids as a Burn tensor.
///
/// # Shapes
/// `n·h·w` ids → `[n, h, w]`
pub fn tokens_tensor(ids: Vec<u32>, [n, h, w]: [usize; 3], device: &Device) -> Tensor<3, Int> {
    let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
    Tensor::from_data(TensorData::new(ids, [n, h, w]), device)
}
