//! SSIM (Wang et al. 2004), computed exactly as scikit-image's `structural_similarity`.
//!
//! scikit-image filters the whole image (reflecting at the borders), then averages the SSIM
//! map only over the pixels at least `(win_size − 1)/2` from every border. The window of
//! such a pixel never reaches past the image, so the border mode never matters and this
//! code filters only the "valid" region. Per channel, then averaged over channels.

/// Which of scikit-image's two SSIM settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsimWindow {
    /// `gaussian_weights=True, sigma=1.5, use_sample_covariance=False`: an 11-tap Gaussian
    /// (truncated at 3.5σ) and population covariances, as in Wang et al. 2004.
    Gaussian,
    /// scikit-image's defaults: a 7×7 uniform window and sample covariances (×49/48).
    Uniform,
}

impl SsimWindow {
    /// 1-D filter taps (the 2-D window is their outer product) and the covariance factor.
    fn taps(self) -> (Vec<f64>, f64) {
        match self {
            SsimWindow::Gaussian => {
                let sigma = 1.5f64;
                // scipy.ndimage's radius: int(truncate·σ + 0.5) with truncate = 3.5.
                let r = (3.5 * sigma + 0.5) as i64;
                let raw: Vec<f64> = (-r..=r)
                    .map(|x| (-0.5 * (x as f64 / sigma).powi(2)).exp())
                    .collect();
                let total: f64 = raw.iter().sum();
                (raw.iter().map(|v| v / total).collect(), 1.0)
            }
            SsimWindow::Uniform => {
                let n = 7usize;
                let np = (n * n) as f64;
                (vec![1.0 / n as f64; n], np / (np - 1.0))
            }
        }
    }

    /// Side of the window in pixels; images must be at least this large.
    pub fn size(self) -> usize {
        self.taps().0.len()
    }
}

/// Mean SSIM of two images with values in [0, 1] (data range 1.0), `channels` planes of
/// `height`×`width` each (CHW), per channel then averaged. `None` when a side is smaller
/// than the window (scikit-image raises an error there).
pub fn ssim(
    a: &[f32],
    b: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    window: SsimWindow,
) -> Option<f64> {
    let plane = height * width;
    assert_eq!(
        a.len(),
        channels * plane,
        "ssim: first image has the wrong size"
    );
    assert_eq!(
        b.len(),
        channels * plane,
        "ssim: second image has the wrong size"
    );
    let (taps, cov_norm) = window.taps();
    if height < taps.len() || width < taps.len() || channels == 0 {
        return None;
    }
    let sum: f64 = (0..channels)
        .map(|c| {
            let (pa, pb) = (
                &a[c * plane..(c + 1) * plane],
                &b[c * plane..(c + 1) * plane],
            );
            ssim_plane(pa, pb, height, width, &taps, cov_norm)
        })
        .sum();
    Some(sum / channels as f64)
}

/// Mean of the SSIM map of one plane over its valid region.
fn ssim_plane(a: &[f32], b: &[f32], h: usize, w: usize, taps: &[f64], cov_norm: f64) -> f64 {
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let n = taps.len();
    let (oh, ow) = (h + 1 - n, w + 1 - n);
    // The five filtered maps: E[x], E[y], E[x²], E[y²], E[xy].
    let products = |i: usize| {
        let (x, y) = (a[i] as f64, b[i] as f64);
        [x, y, x * x, y * y, x * y]
    };
    // Horizontal pass over every row, keeping only valid columns.
    let mut rows = vec![[0f64; 5]; h * ow];
    for r in 0..h {
        for j in 0..ow {
            let mut acc = [0f64; 5];
            for (t, &k) in taps.iter().enumerate() {
                let p = products(r * w + j + t);
                for (s, v) in acc.iter_mut().zip(p) {
                    *s += k * v;
                }
            }
            rows[r * ow + j] = acc;
        }
    }
    // Vertical pass over valid rows, then the SSIM formula.
    let mut total = 0f64;
    for i in 0..oh {
        for j in 0..ow {
            let mut m = [0f64; 5];
            for (t, &k) in taps.iter().enumerate() {
                for (s, v) in m.iter_mut().zip(rows[(i + t) * ow + j]) {
                    *s += k * v;
                }
            }
            let [ux, uy, uxx, uyy, uxy] = m;
            let vx = cov_norm * (uxx - ux * ux);
            let vy = cov_norm * (uyy - uy * uy);
            let vxy = cov_norm * (uxy - ux * uy);
            let num = (2.0 * ux * uy + c1) * (2.0 * vxy + c2);
            let den = (ux * ux + uy * uy + c1) * (vx + vy + c2);
            total += num / den;
        }
    }
    total / (oh * ow) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_score_one_and_windows_have_the_right_size() {
        let a: Vec<f32> = (0..3 * 12 * 13).map(|i| (i % 17) as f32 / 16.0).collect();
        for w in [SsimWindow::Gaussian, SsimWindow::Uniform] {
            let s = ssim(&a, &a, 3, 12, 13, w).unwrap();
            assert!((s - 1.0).abs() < 1e-12, "{w:?}: {s}");
        }
        assert_eq!(SsimWindow::Gaussian.size(), 11);
        assert_eq!(SsimWindow::Uniform.size(), 7);
        assert!(
            ssim(
                &a[..3 * 10 * 10],
                &a[..300],
                3,
                10,
                10,
                SsimWindow::Gaussian
            )
            .is_none()
        );
        let taps = SsimWindow::Gaussian.taps().0;
        assert!((taps.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
