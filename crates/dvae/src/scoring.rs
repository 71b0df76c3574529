//! Scoring a trained model batch by batch: reconstructions through tokens, and every metric
//! of [`EvalReport`] accumulated without keeping per-image results.

use burn::prelude::*;

use crate::config::ReconLoss;
use crate::error::Result;
use crate::kernels::host::{float_values, int_values};
use crate::metrics::{EvalAccumulator, EvalReport, bits};
use crate::model::pixels::{map_pixels, output_to_pixels};
use crate::pipeline::{Reconstruction, Tokenizer};

impl Tokenizer {
    /// Encodes, decodes and scores one batch, adding to `acc`: per image MSE, PSNR, both
    /// SSIMs and bits/dim of the 8-bit reconstruction a user gets; per cell the family's
    /// token and the entropy of q(z|x). The continuous families add no tokens and decode
    /// their deterministic latent. Returns each reconstruction.
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
        let encoded = self.encode_mapped(map_pixels(images.clone()));
        if let Some(tokens) = encoded.tokens {
            acc.add_tokens(&int_values(tokens), encoded.entropy);
        }
        let out = self.decode_input(encoded.input);
        let recon = output_to_pixels(out.clone(), c);
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
