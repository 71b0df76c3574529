//! Scoring a trained model batch by batch: reconstructions through tokens, and every metric
//! of [`EvalReport`] accumulated without keeping per-image results.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::config::{Family, ReconLoss};
use crate::error::Result;
use crate::metrics::{EvalAccumulator, EvalReport, bits};
use crate::model::{self, quantizer::gumbel};
use crate::pipeline::{Dvae, Reconstruction, float_values, int_values};

impl Dvae {
    /// Encodes, decodes and scores one batch, adding to `acc`: per image MSE, PSNR, both
    /// SSIMs and bits/dim of the 8-bit reconstruction a user gets; per cell the token
    /// (argmax for the dVAE, nearest code for the VQ-VAE) and the entropy of q(z|x). The
    /// continuous families (VAE at μ, AE) add no tokens. Returns each reconstruction.
    ///
    /// # Shapes
    /// pixels in [0, 1] `[B, C, S, S]`
    pub fn score_batch(
        &self,
        images: Tensor<4>,
        acc: &mut EvalAccumulator,
    ) -> Result<Vec<Reconstruction>> {
        self.check_images(&images)?;
        let m = &self.config.model;
        let (c, s) = (m.input_channels, m.image_size);
        let xm = model::map_pixels(images.clone());
        // Tokens and the summed per-cell entropy of q(z|x) for the discrete families (a
        // VQ-VAE's posterior is a point mass: entropy 0); the continuous ones decode their
        // deterministic latent and have no tokens.
        let out = match m.family {
            Family::Dvae => {
                let net = self.cpu_path();
                let logits = match net {
                    Some(net) => net.encode(xm),
                    None => self.model.encoder.forward(xm),
                };
                let log_q = log_softmax(logits.clone(), 1);
                let entropy = (log_q.clone().exp() * log_q).sum().neg();
                let tokens = gumbel::argmax_tokens(logits);
                let out = match net {
                    Some(net) => net.decode_tokens(tokens.clone()),
                    None => self.model.decode_tokens(tokens.clone()),
                };
                acc.add_tokens(&int_values(tokens), entropy.into_scalar::<f32>() as f64);
                out
            }
            Family::Vqvae => {
                let tokens = self.model.encode_tokens(xm);
                let out = self.model.decode_tokens(tokens.clone());
                acc.add_tokens(&int_values(tokens), 0.0);
                out
            }
            Family::Vae | Family::Ae => self.model.reconstruct(xm),
        };
        let recon = model::output_to_pixels(out.clone(), c);
        // μ and ln b of each pixel, when the decoder is a likelihood (see metrics::bits).
        let stats = (m.recon_loss == ReconLoss::LogitLaplace).then(|| float_values(out));
        let plane = c * s * s;
        let (xs, rs) = (float_values(images), float_values(recon));
        let mut out = Vec::with_capacity(xs.len() / plane);
        for (i, (x, r)) in xs.chunks(plane).zip(rs.chunks(plane)).enumerate() {
            let r8 = crate::grid::chw_to_hwc(r, s);
            let mut r8f = vec![0f32; plane];
            crate::data::hwc_to_chw(&r8, &mut r8f);
            let nll = stats.as_ref().map(|st| {
                let st = &st[i * 2 * plane..(i + 1) * 2 * plane];
                bits::nll_nats(x, &st[..plane], &st[plane..])
            });
            let scores = acc.add_image(x, &r8f, [c, s, s], nll);
            out.push(Reconstruction {
                pixels: r8,
                psnr: scores.psnr,
            });
        }
        Ok(out)
    }

    /// Scores a stream of batches, keeping no reconstructions: memory stays at one batch
    /// plus a histogram of the codes. `progress` gets the number of images done after each
    /// batch.
    pub fn evaluate_stream<I>(
        &self,
        batches: I,
        mut progress: impl FnMut(usize),
    ) -> Result<EvalReport>
    where
        I: IntoIterator<Item = Result<Tensor<4>>>,
    {
        let mut acc = EvalAccumulator::new(self.config.model.vocab_size);
        let mut done = 0;
        for batch in batches {
            done += self.score_batch(batch?, &mut acc)?.len();
            progress(done);
        }
        Ok(acc.report())
    }
}
