//! The embedded default data set: procedurally drawn images, deterministic per seed and
//! index, with no files and no network. Each image mixes a background (flat colour,
//! gradient, stripes, checkerboard or smooth noise) with one to five shapes (discs,
//! rectangles, triangles, rings), each filled flat, with a gradient or with stripes, so that
//! colours, edges, textures and smooth ramps are all present.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Number of images in the default data set.
pub const DEFAULT_LEN: usize = 20_000;

type Rgb = [f32; 3];

fn colour(rng: &mut ChaCha8Rng) -> Rgb {
    // HSV with varied saturation/value gives both muted and vivid colours.
    let h = rng.random::<f32>() * 6.0;
    let s = rng.random::<f32>().powf(0.7);
    let v = 0.15 + 0.85 * rng.random::<f32>();
    let f = h - h.floor();
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match h as u32 % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// A paint: how a region is coloured at a point (coordinates in [0, 1]).
enum Paint {
    Flat(Rgb),
    Linear {
        a: Rgb,
        b: Rgb,
        dir: [f32; 2],
    },
    Stripes {
        a: Rgb,
        b: Rgb,
        dir: [f32; 2],
        freq: f32,
    },
    Checker {
        a: Rgb,
        b: Rgb,
        cells: f32,
    },
    Noise {
        a: Rgb,
        b: Rgb,
        waves: Vec<[f32; 4]>,
    },
}

impl Paint {
    fn kind(&self) -> u32 {
        match self {
            Paint::Flat(_) => 0,
            Paint::Linear { .. } => 1,
            Paint::Stripes { .. } => 2,
            Paint::Checker { .. } => 3,
            Paint::Noise { .. } => 4,
        }
    }

    fn random(rng: &mut ChaCha8Rng, allow_noise: bool) -> Self {
        let a = colour(rng);
        let b = colour(rng);
        let angle = rng.random::<f32>() * std::f32::consts::TAU;
        let dir = [angle.cos(), angle.sin()];
        let kinds = if allow_noise { 5 } else { 3 };
        match rng.random_range(0..kinds) {
            0 => Paint::Flat(a),
            1 => Paint::Linear { a, b, dir },
            2 => Paint::Stripes {
                a,
                b,
                dir,
                freq: rng.random_range(3.0..14.0),
            },
            3 => Paint::Checker {
                a,
                b,
                cells: rng.random_range(2.0..10.0),
            },
            _ => Paint::Noise {
                a,
                b,
                waves: (0..4)
                    .map(|_| {
                        let t = rng.random::<f32>() * std::f32::consts::TAU;
                        let f = rng.random_range(1.0..7.0);
                        [
                            t.cos() * f,
                            t.sin() * f,
                            rng.random::<f32>() * 6.3,
                            rng.random_range(0.3..1.0),
                        ]
                    })
                    .collect(),
            },
        }
    }

    fn at(&self, x: f32, y: f32) -> Rgb {
        match self {
            Paint::Flat(c) => *c,
            Paint::Linear { a, b, dir } => {
                let t = (0.5 + (x - 0.5) * dir[0] + (y - 0.5) * dir[1]).clamp(0.0, 1.0);
                mix(*a, *b, t)
            }
            Paint::Stripes { a, b, dir, freq } => {
                let t = ((x * dir[0] + y * dir[1]) * freq).fract().abs();
                if t < 0.5 { *a } else { *b }
            }
            Paint::Checker { a, b, cells } => {
                let (i, j) = ((x * cells) as i32, (y * cells) as i32);
                if (i + j) % 2 == 0 { *a } else { *b }
            }
            Paint::Noise { a, b, waves } => {
                let mut s = 0.0;
                let mut norm = 0.0;
                for w in waves {
                    s += w[3] * (std::f32::consts::TAU * (x * w[0] + y * w[1]) + w[2]).sin();
                    norm += w[3];
                }
                mix(*a, *b, 0.5 + 0.5 * s / norm)
            }
        }
    }
}

enum Shape {
    Disc {
        c: [f32; 2],
        r: f32,
    },
    Ring {
        c: [f32; 2],
        r: f32,
        w: f32,
    },
    Rect {
        c: [f32; 2],
        half: [f32; 2],
        rot: [f32; 2],
    },
    Triangle {
        p: [[f32; 2]; 3],
    },
}

impl Shape {
    fn random(rng: &mut ChaCha8Rng) -> Self {
        let c = [rng.random_range(0.1..0.9), rng.random_range(0.1..0.9)];
        match rng.random_range(0..4) {
            0 => Shape::Disc {
                c,
                r: rng.random_range(0.06..0.3),
            },
            1 => Shape::Ring {
                c,
                r: rng.random_range(0.1..0.35),
                w: rng.random_range(0.02..0.08),
            },
            2 => {
                let t = rng.random::<f32>() * std::f32::consts::PI;
                Shape::Rect {
                    c,
                    half: [rng.random_range(0.05..0.3), rng.random_range(0.05..0.3)],
                    rot: [t.cos(), t.sin()],
                }
            }
            _ => Shape::Triangle {
                p: [0, 1, 2].map(|_| [rng.random_range(0.0..1.0), rng.random_range(0.0..1.0)]),
            },
        }
    }

    fn contains(&self, x: f32, y: f32) -> bool {
        match self {
            Shape::Disc { c, r } => (x - c[0]).powi(2) + (y - c[1]).powi(2) <= r * r,
            Shape::Ring { c, r, w } => {
                let d = ((x - c[0]).powi(2) + (y - c[1]).powi(2)).sqrt();
                (d - r).abs() <= *w
            }
            Shape::Rect { c, half, rot } => {
                let (dx, dy) = (x - c[0], y - c[1]);
                let u = dx * rot[0] + dy * rot[1];
                let v = -dx * rot[1] + dy * rot[0];
                u.abs() <= half[0] && v.abs() <= half[1]
            }
            Shape::Triangle { p } => {
                let edge = |a: [f32; 2], b: [f32; 2]| {
                    (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0])
                };
                let (d0, d1, d2) = (edge(p[0], p[1]), edge(p[1], p[2]), edge(p[2], p[0]));
                (d0 >= 0.0 && d1 >= 0.0 && d2 >= 0.0) || (d0 <= 0.0 && d1 <= 0.0 && d2 <= 0.0)
            }
        }
    }
}

/// Names of the default set's classes: the kind of each image's background paint.
pub const LABEL_NAMES: [&str; 5] = ["flat", "gradient", "stripes", "checker", "noise"];

/// The class of image `index`: the kind of its background (an index into [`LABEL_NAMES`]).
pub fn label(seed: u64, index: usize) -> u32 {
    Paint::random(&mut image_rng(seed, index), true).kind()
}

fn image_rng(seed: u64, index: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(index as u64 + 1))
}

/// Draws image `index` of the data set with `seed`, `size`×`size` RGB, row-major HWC bytes.
/// Edges are anti-aliased with 2×2 supersampling.
pub fn draw(seed: u64, index: usize, size: usize) -> Vec<u8> {
    let mut rng = image_rng(seed, index);
    let background = Paint::random(&mut rng, true);
    let n_shapes = rng.random_range(1..=5);
    let shapes: Vec<(Shape, Paint)> = (0..n_shapes)
        .map(|_| (Shape::random(&mut rng), Paint::random(&mut rng, false)))
        .collect();
    let mut out = vec![0u8; size * size * 3];
    let inv = 1.0 / size as f32;
    for py in 0..size {
        for px in 0..size {
            let mut acc = [0.0f32; 3];
            for (sx, sy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let (x, y) = ((px as f32 + sx) * inv, (py as f32 + sy) * inv);
                let mut c = background.at(x, y);
                for (shape, paint) in &shapes {
                    if shape.contains(x, y) {
                        c = paint.at(x, y);
                    }
                }
                for k in 0..3 {
                    acc[k] += c[k];
                }
            }
            let o = (py * size + px) * 3;
            for k in 0..3 {
                out[o + k] = (acc[k] * 0.25 * 255.0).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        let a = draw(0, 7, 32);
        assert_eq!(a, draw(0, 7, 32));
        assert_ne!(a, draw(1, 7, 32));
        assert_ne!(a, draw(0, 8, 32));
        // Every image has some contrast, and the set covers the colour range.
        let mut lo = [255u8; 3];
        let mut hi = [0u8; 3];
        for i in 0..64 {
            let img = draw(0, i, 32);
            let (mn, mx) = (img.iter().min().unwrap(), img.iter().max().unwrap());
            assert!(mx > mn, "image {i} is flat");
            for px in img.chunks(3) {
                for k in 0..3 {
                    lo[k] = lo[k].min(px[k]);
                    hi[k] = hi[k].max(px[k]);
                }
            }
        }
        assert!(
            lo.iter().all(|&v| v < 50) && hi.iter().all(|&v| v > 220),
            "{lo:?} {hi:?}"
        );
    }
}
