//! [`CpuConvBackend`] on flex: the convolutions of the kernels on host buffers.

use burn::backend::ops::{ActivationOps, FloatTensorOps, ModuleOps};
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::TensorData;
use burn_flex::FlexTensor;

use super::backend::{CpuConvBackend, back_to, conv_options, nchw, relu_if, transpose_options};
use crate::kernels::conv::Conv;
use crate::kernels::conv_transpose::ConvTranspose;
use crate::kernels::gemm::ConvOpts;
use crate::kernels::maps::{Act, AsMaps, Maps};

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

/// A map tensor's `[N, C, H, W]`, whatever its layout.
fn nchw_dims(t: &FlexTensor, cl: bool) -> [usize; 4] {
    let [a, b, c, d] = dims4(t);
    if cl { [a, d, b, c] } else { [a, b, c, d] }
}

/// A contiguous f32 copy-free view with its shape, `None` for other dtypes.
fn host(t: &FlexTensor) -> Option<(&[f32], [usize; 4])> {
    Some((t.as_slice::<f32>()?, dims4(t)))
}

/// A map tensor's values channels-last: read in place (NHWC), or transposed (NCHW).
enum HostMaps<'a> {
    InPlace(Maps<'a>),
    Transposed(Act),
}

impl AsMaps for HostMaps<'_> {
    fn maps(&self) -> Maps<'_> {
        match self {
            Self::InPlace(m) => *m,
            Self::Transposed(a) => a.maps(),
        }
    }
}

/// A map tensor's values channels-last (a copy only for NCHW, which `cl` says it is not).
fn act(t: &FlexTensor, cl: bool) -> Option<HostMaps<'_>> {
    let (v, d) = host(t)?;
    Some(if cl {
        HostMaps::InPlace(Maps::new(v, d))
    } else {
        HostMaps::Transposed(Act::from_nchw_slice(v, d))
    })
}

/// A map back as a tensor in the layout `cl` names (NHWC is moved, NCHW transposed).
fn map_tensor(a: Act, cl: bool) -> FlexTensor {
    let data = if cl {
        let shape = [a.n, a.h, a.w, a.c];
        TensorData::new(a.into_nhwc_vec(), shape)
    } else {
        TensorData::new(a.to_nchw_vec(), [a.n, a.c, a.h, a.w])
    };
    FlexTensor::from_data(data)
}

/// `w'[ci][co][ky][kx] = w[co][ci][k−1−ky][k−1−kx]`: a stride-1 input gradient's kernel.
fn flip_transpose(w: &[f32], [cout, cin, k]: [usize; 3]) -> Vec<f32> {
    let kk = k * k;
    let mut out = vec![0.0; w.len()];
    for co in 0..cout {
        for ci in 0..cin {
            for t in 0..kk {
                out[(ci * cout + co) * kk + kk - 1 - t] = w[(co * cin + ci) * kk + t];
            }
        }
    }
    out
}

impl CpuConvBackend for Flex {
    fn cl_conv2d(
        x: FlexTensor,
        w: FlexTensor,
        b: FlexTensor,
        s: usize,
        p: usize,
        cl: bool,
        relu_in: bool,
    ) -> FlexTensor {
        let (xc, wc, bc) = (x.to_contiguous(), w.to_contiguous(), b.to_contiguous());
        let (Some(xa), Some((ws, [cout, cin, k, _])), Some(bs)) =
            (act(&xc, cl), host(&wc), bc.as_slice::<f32>())
        else {
            let x = relu_if::<Self>(nchw::<Self>(x, cl), relu_in);
            let y = Self::conv2d(x, w, Some(b), conv_options(s, p));
            return back_to::<Self>(y, cl);
        };
        let conv = Conv::new([cin, cout], [k, k], [s, s], [p; 4], ws, Some(bs), 1.0);
        let o = ConvOpts {
            input_relu: relu_in,
            ..ConvOpts::default()
        };
        map_tensor(conv.forward(&xa, o), cl)
    }

    fn cl_conv2d_x_grad(
        x: FlexTensor,
        w: FlexTensor,
        dy: FlexTensor,
        s: usize,
        p: usize,
        cl: bool,
        relu_in: bool,
    ) -> FlexTensor {
        let (wc, dc) = (w.to_contiguous(), dy.to_contiguous());
        let [_, _, h, wd] = nchw_dims(&x, cl);
        let (Some((ws, [cout, cin, k, _])), Some(dy)) = (host(&wc), act(&dc, cl)) else {
            let (x, dy) = (nchw::<Self>(x, cl), nchw::<Self>(dy, cl));
            let dx = Self::conv2d_x_backward(x.clone(), w, dy, conv_options(s, p));
            let dx = if relu_in {
                Self::relu_backward(x, dx)
            } else {
                dx
            };
            return back_to::<Self>(dx, cl);
        };
        let dx = if s == 1 && p < k {
            let flipped = flip_transpose(ws, [cout, cin, k]);
            let back = [k - 1 - p; 4];
            let conv = Conv::new([cout, cin], [k, k], [1, 1], back, &flipped, None, 1.0);
            conv.forward(&dy, ConvOpts::default())
        } else {
            // The stride's remainder rows the convolution never read get no gradient.
            let reach = |i: usize| (i - 1) * s + k - 2 * p;
            let pad_out = [h - reach(dy.maps().h), wd - reach(dy.maps().w)];
            let t = ConvTranspose::new([cout, cin], [k, k], [s, s], [p, p], pad_out, ws, None);
            t.forward(&dy, ConvOpts::default())
        };
        if !relu_in {
            return map_tensor(dx, cl);
        }
        // The ReLU's mask: on the host where x lies as dx does (channels-last, f32).
        let xc = x.to_contiguous();
        match (cl, host(&xc)) {
            (true, Some((xs, _))) => {
                let mut dx = dx;
                crate::kernels::math::relu_mask(&mut dx.data, xs);
                map_tensor(dx, cl)
            }
            _ => Self::relu_backward(x, map_tensor(dx, cl)),
        }
    }

    fn cl_conv2d_weight_grad(
        x: FlexTensor,
        w: FlexTensor,
        dy: FlexTensor,
        s: usize,
        p: usize,
        cl: bool,
        relu_in: bool,
    ) -> FlexTensor {
        let (xc, dc) = (x.to_contiguous(), dy.to_contiguous());
        let [cout, cin, k, _] = dims4(&w);
        let (Some(xa), Some(da)) = (act(&xc, cl), act(&dc, cl)) else {
            let x = relu_if::<Self>(nchw::<Self>(x, cl), relu_in);
            let dy = nchw::<Self>(dy, cl);
            return Self::conv2d_weight_backward(x, w, dy, conv_options(s, p));
        };
        let geometry = Conv::geometry([cin, cout], [k, k], [s, s], [p; 4]);
        let dw = geometry.weight_grad_of(&xa, &da, relu_in);
        FlexTensor::from_data(TensorData::new(dw, [cout, cin, k, k]))
    }

    fn cl_conv_transpose2d(
        x: FlexTensor,
        w: FlexTensor,
        b: FlexTensor,
        geometry: [usize; 3],
        cl: bool,
    ) -> FlexTensor {
        let (xc, wc, bc) = (x.to_contiguous(), w.to_contiguous(), b.to_contiguous());
        let (Some(xa), Some((ws, [cin, cout, k, _])), Some(bs)) =
            (act(&xc, cl), host(&wc), bc.as_slice::<f32>())
        else {
            let o = transpose_options(geometry);
            let y = Self::conv_transpose2d(nchw::<Self>(x, cl), w, Some(b), o);
            return back_to::<Self>(y, cl);
        };
        let [s, p, po] = geometry;
        let t = ConvTranspose::new([cin, cout], [k, k], [s, s], [p, p], [po, po], ws, Some(bs));
        map_tensor(t.forward(&xa, ConvOpts::default()), cl)
    }

    fn cl_conv_transpose2d_x_grad(
        w: FlexTensor,
        dy: FlexTensor,
        geometry: [usize; 3],
        cl: bool,
    ) -> FlexTensor {
        let (wc, dc) = (w.to_contiguous(), dy.to_contiguous());
        let (Some((ws, [cin, cout, k, _])), Some(da)) = (host(&wc), act(&dc, cl)) else {
            let o = transpose_options(geometry);
            let dx = Self::conv_transpose2d_x_backward(w, nchw::<Self>(dy, cl), o);
            return back_to::<Self>(dx, cl);
        };
        // The convolution with the same weights, read as `[cin, cout, k, k]` = OIHW.
        let [s, p, _] = geometry;
        let conv = Conv::new([cout, cin], [k, k], [s, s], [p; 4], ws, None, 1.0);
        map_tensor(conv.forward(&da, ConvOpts::default()), cl)
    }

    fn cl_conv_transpose2d_weight_grad(
        x: FlexTensor,
        w: FlexTensor,
        dy: FlexTensor,
        geometry: [usize; 3],
        cl: bool,
    ) -> FlexTensor {
        let (xc, dc) = (x.to_contiguous(), dy.to_contiguous());
        let [cin, cout, k, _] = dims4(&w);
        let (Some(xa), Some(da)) = (act(&xc, cl), act(&dc, cl)) else {
            let (x, dy) = (nchw::<Self>(x, cl), nchw::<Self>(dy, cl));
            let o = transpose_options(geometry);
            return Self::conv_transpose2d_weight_backward(x, w, dy, o);
        };
        // The convolution dy → x with these weights has the same weight gradient, with the
        // roles of input and output gradient swapped.
        let [s, p, _] = geometry;
        let conv = Conv::geometry([cout, cin], [k, k], [s, s], [p; 4]);
        let dw = conv.weight_grad(&da, &xa);
        FlexTensor::from_data(TensorData::new(dw, [cin, cout, k, k]))
    }

    fn cl_relayout(x: FlexTensor, to_cl: bool) -> FlexTensor {
        let xc = x.to_contiguous();
        let Some((v, d)) = host(&xc) else {
            let o = if to_cl { [0, 2, 3, 1] } else { [0, 3, 1, 2] };
            return Self::float_permute(x, &o);
        };
        // Both directions by the blocked, parallel transposes of `Act`.
        let data = if to_cl {
            let a = Act::from_nchw_slice(v, d);
            TensorData::new(a.into_nhwc_vec(), [d[0], d[2], d[3], d[1]])
        } else {
            let [n, h, w, c] = d;
            let m = Maps::new(v, d);
            TensorData::new(m.to_nchw_vec(), [n, c, h, w])
        };
        FlexTensor::from_data(data)
    }
}
