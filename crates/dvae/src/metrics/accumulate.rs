//! [`EvalAccumulator`]: metrics summed over batches, so memory does not grow with the
//! number of images (a histogram of K counts and a few sums).

use super::bits;
use super::report::EvalReport;
use super::scores::{code_stats, mse, psnr};
use super::ssim::{SsimWindow, ssim};

/// Running sums of an evaluation.
#[derive(Clone, Debug)]
pub struct EvalAccumulator {
    hist: Vec<u64>,
    images: usize,
    mse: f64,
    psnr: f64,
    ssim: Option<f64>,
    ssim_uniform: Option<f64>,
    bits: Option<f64>,
    dims_per_image: usize,
    cell_entropy_nats: f64,
    cells: u64,
}

/// The scores of one image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageScores {
    /// Mean squared error.
    pub mse: f64,
    /// PSNR (dB, data range 1.0).
    pub psnr: f64,
    /// Gaussian-window SSIM.
    pub ssim: Option<f64>,
    /// Uniform-window SSIM.
    pub ssim_uniform: Option<f64>,
    /// Bits per dimension.
    pub bits_per_dim: Option<f64>,
}

fn add(sum: &mut Option<f64>, first: bool, v: Option<f64>) {
    *sum = match (first, *sum, v) {
        (true, _, v) => v,
        (false, Some(s), Some(v)) => Some(s + v),
        _ => None,
    };
}

impl EvalAccumulator {
    /// An empty evaluation of a codebook of `vocab_size` codes.
    pub fn new(vocab_size: usize) -> Self {
        Self {
            hist: vec![0; vocab_size],
            images: 0,
            mse: 0.0,
            psnr: 0.0,
            ssim: None,
            ssim_uniform: None,
            bits: None,
            dims_per_image: 0,
            cell_entropy_nats: 0.0,
            cells: 0,
        }
    }

    /// Scores one image: `original` and `recon` are CHW values in [0, 1] of `channels`
    /// planes of `height`×`width`; `nll_nats` is the image's negative log-likelihood under
    /// the decoder (summed over its pixels), if the decoder defines one.
    pub fn add_image(
        &mut self,
        original: &[f32],
        recon: &[f32],
        [channels, height, width]: [usize; 3],
        nll_nats: Option<f64>,
    ) -> ImageScores {
        let m = mse(original, recon);
        let dims = channels * height * width;
        let scores = ImageScores {
            mse: m,
            psnr: psnr(m),
            ssim: ssim(
                original,
                recon,
                channels,
                height,
                width,
                SsimWindow::Gaussian,
            ),
            ssim_uniform: ssim(
                original,
                recon,
                channels,
                height,
                width,
                SsimWindow::Uniform,
            ),
            bits_per_dim: nll_nats.map(|n| bits::nats_to_bits(n) / dims as f64),
        };
        let first = self.images == 0;
        self.images += 1;
        self.dims_per_image = dims;
        self.mse += scores.mse;
        self.psnr += scores.psnr;
        add(&mut self.ssim, first, scores.ssim);
        add(&mut self.ssim_uniform, first, scores.ssim_uniform);
        add(&mut self.bits, first, scores.bits_per_dim);
        scores
    }

    /// Counts the argmax `tokens` of some cells and adds `entropy_nats`, the sum over the
    /// same cells of the entropy of q(z|x) in nats. Out-of-range ids are ignored.
    pub fn add_tokens(&mut self, tokens: &[u32], entropy_nats: f64) {
        for &t in tokens {
            if let Some(c) = self.hist.get_mut(t as usize) {
                *c += 1;
            }
        }
        self.cells += tokens.len() as u64;
        self.cell_entropy_nats += entropy_nats;
    }

    /// Counts per code so far.
    pub fn histogram(&self) -> &[u64] {
        &self.hist
    }

    /// The metrics of everything added so far.
    /// With no tokens added (the continuous families) the token fields are NaN (`null` in
    /// JSON), and `dead_codes` and `vocab_size` are 0.
    pub fn report(&self) -> EvalReport {
        let n = self.images.max(1) as f64;
        let mut stats = code_stats(&self.hist);
        let mut vocab = self.hist.len();
        if self.cells == 0 {
            (stats.usage, stats.perplexity, stats.entropy_bits) = (f64::NAN, f64::NAN, f64::NAN);
            (stats.dead_codes, vocab) = (0, 0);
        }
        let bits_per_dim = self.bits.map(|b| b / n);
        let cells_per_image = self.cells as f64 / n;
        let token_bits = cells_per_image * (vocab.max(1) as f64).log2();
        EvalReport {
            images: self.images,
            mse: self.mse / n,
            psnr: self.psnr / n,
            ssim: self.ssim.map(|s| s / n),
            ssim_uniform: self.ssim_uniform.map(|s| s / n),
            bits_per_dim,
            // A bound through tokens needs tokens (not the continuous families).
            elbo_bits_per_dim: bits_per_dim
                .filter(|_| self.cells > 0)
                .map(|b| b + token_bits / self.dims_per_image.max(1) as f64),
            usage: stats.usage,
            perplexity: stats.perplexity,
            dead_codes: stats.dead_codes,
            token_entropy: stats.entropy_bits,
            cell_entropy: if self.cells == 0 {
                f64::NAN
            } else {
                bits::nats_to_bits(self.cell_entropy_nats / self.cells as f64)
            },
            vocab_size: vocab,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_average_per_image_and_count_codes() {
        let mut acc = EvalAccumulator::new(4);
        let a = vec![0.5f32; 3 * 12 * 12];
        let b = vec![0.6f32; 3 * 12 * 12];
        acc.add_image(&a, &a, [3, 12, 12], Some(0.0));
        let s = acc.add_image(&a, &b, [3, 12, 12], Some(432.0 * std::f64::consts::LN_2));
        assert!((s.bits_per_dim.unwrap() - 1.0).abs() < 1e-12);
        acc.add_tokens(&[0, 0, 1, 1, 9], 5.0 * 2f64.ln());
        let r = acc.report();
        assert_eq!(r.images, 2);
        assert!((r.mse - 0.005).abs() < 1e-7, "{}", r.mse);
        assert!((r.psnr - (100.0 + 20.0) / 2.0).abs() < 1e-4, "{}", r.psnr);
        assert!((r.bits_per_dim.unwrap() - 0.5).abs() < 1e-12);
        // 5 cells for 2 images at 2 bits each over 432 dims.
        let elbo = 0.5 + 2.5 * 2.0 / 432.0;
        assert!((r.elbo_bits_per_dim.unwrap() - elbo).abs() < 1e-12);
        assert_eq!((r.dead_codes, r.usage, r.vocab_size), (2, 0.5, 4));
        assert!((r.token_entropy - 1.0).abs() < 1e-12);
        assert!((r.cell_entropy - 1.0).abs() < 1e-12);
        // No likelihood for one image: none for the set.
        acc.add_image(&a, &b, [3, 12, 12], None);
        assert!(acc.report().bits_per_dim.is_none());
    }
}
