//! Reconstruction and codebook metrics: pure functions on host data.
//!
//! [`ssim`] (scikit-image's SSIM, both settings), [`bits`] (bits/dim of 8-bit pixels under
//! the discretised logit-Laplace), token statistics here, and an [`EvalAccumulator`] that
//! streams them over batches into an [`EvalReport`].

pub mod accumulate;
pub mod bits;
pub mod report;
pub mod scores;
pub mod ssim;

pub use accumulate::{EvalAccumulator, ImageScores};
pub use report::{EvalReport, MetricRow, describe};
pub use scores::{CodeStats, code_stats, histogram, mse, psnr};
pub use ssim::{SsimWindow, ssim};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_of_known_mse() {
        assert!((psnr(0.01) - 20.0).abs() < 1e-12);
        assert!((psnr(1e-3) - 30.0).abs() < 1e-12);
        assert_eq!(psnr(0.0), 100.0);
        assert!((mse(&[0.0, 1.0], &[0.5, 0.5]) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn code_stats_closed_forms() {
        // Uniform over 4 of 8 codes: usage 50%, perplexity 4, 4 dead.
        let s = code_stats(&histogram(&[0, 1, 2, 3, 0, 1, 2, 3], 8));
        assert_eq!(s.usage, 0.5);
        assert!((s.perplexity - 4.0).abs() < 1e-12);
        assert_eq!(s.dead_codes, 4);
        assert!((s.entropy_bits - 2.0).abs() < 1e-12);
        // One code only: perplexity 1.
        assert!((code_stats(&histogram(&[5; 10], 8)).perplexity - 1.0).abs() < 1e-12);
    }
}
