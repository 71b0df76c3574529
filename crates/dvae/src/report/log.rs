//! Reading a run's `log.jsonl` into the series the report and `curves.png` draw.

use serde_json::Value;

use crate::artifact::RunDir;
use crate::error::{Error, Result};

/// The parsed lines of `log.jsonl`: training steps and held-out evaluations.
#[derive(Clone, Debug, Default)]
pub struct TrainLog {
    /// Lines with `"kind": "step"`.
    pub steps: Vec<Value>,
    /// Lines with `"kind": "eval"`.
    pub evals: Vec<Value>,
}

/// Which lines a series is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Training steps.
    Step,
    /// Held-out evaluations.
    Eval,
}

/// One line of a panel: where its values come from and how it is drawn.
#[derive(Clone, Copy, Debug)]
pub struct LineSpec {
    /// Step or eval lines.
    pub kind: Kind,
    /// The JSON key.
    pub key: &'static str,
    /// Legend text.
    pub label: &'static str,
    /// RGB colour.
    pub rgb: [u8; 3],
}

/// One chart: a title (ASCII, for the bitmap font of `curves.png`), lines, and its y scale.
#[derive(Clone, Copy, Debug)]
pub struct Panel {
    /// Title.
    pub title: &'static str,
    /// Lines drawn.
    pub lines: &'static [LineSpec],
    /// Logarithmic y axis.
    pub log_y: bool,
}

const BLUE: [u8; 3] = [31, 119, 180];
const ORANGE: [u8; 3] = [230, 120, 20];

const fn step(key: &'static str, label: &'static str, rgb: [u8; 3]) -> LineSpec {
    LineSpec {
        kind: Kind::Step,
        key,
        label,
        rgb,
    }
}

const fn eval(key: &'static str, label: &'static str, rgb: [u8; 3]) -> LineSpec {
    LineSpec {
        kind: Kind::Eval,
        key,
        label,
        rgb,
    }
}

/// The training curves, in the order both the report and `curves.png` show them.
pub const PANELS: &[Panel] = &[
    Panel {
        title: "loss (per dim)",
        lines: &[
            step("loss", "total", BLUE),
            step("recon", "reconstruction", ORANGE),
        ],
        log_y: false,
    },
    Panel {
        title: "KL to uniform (nats/cell)",
        lines: &[step("kl", "KL", BLUE)],
        log_y: false,
    },
    Panel {
        title: "temperature tau",
        lines: &[step("tau", "tau", BLUE)],
        log_y: false,
    },
    Panel {
        title: "KL weight beta",
        lines: &[step("beta", "beta", BLUE)],
        log_y: false,
    },
    Panel {
        title: "learning rate",
        lines: &[step("lr", "lr", BLUE)],
        log_y: true,
    },
    Panel {
        title: "codebook usage (fraction)",
        lines: &[
            step("usage", "batch", BLUE),
            eval("usage", "held-out", ORANGE),
        ],
        log_y: false,
    },
    Panel {
        title: "held-out PSNR (dB)",
        lines: &[eval("psnr", "PSNR", BLUE)],
        log_y: false,
    },
    Panel {
        title: "gradient norm",
        lines: &[step("grad_norm", "before clipping", BLUE)],
        log_y: true,
    },
];

impl TrainLog {
    /// Reads `run`'s `log.jsonl`; a missing file is an empty log, and lines that do not
    /// parse (a write cut short) are skipped.
    pub fn read(run: &RunDir) -> Result<Self> {
        let path = run.log();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut log = Self::default();
        for v in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            match v["kind"].as_str() {
                Some("step") => log.steps.push(v),
                Some("eval") => log.evals.push(v),
                _ => {}
            }
        }
        Ok(log)
    }

    /// `(step, value)` of `key` in the `kind` lines, skipping lines without a finite value.
    pub fn series(&self, kind: Kind, key: &str) -> Vec<(f64, f64)> {
        let lines = match kind {
            Kind::Step => &self.steps,
            Kind::Eval => &self.evals,
        };
        lines
            .iter()
            .filter_map(|v| Some((v["step"].as_f64()?, v[key].as_f64()?)))
            .filter(|(s, y)| s.is_finite() && y.is_finite())
            .collect()
    }

    /// The last evaluation line, if any.
    pub fn last_eval(&self) -> Option<&Value> {
        self.evals.last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_steps_and_evals_skipping_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert!(TrainLog::read(&run).unwrap().steps.is_empty());
        let text = "{\"kind\":\"step\",\"step\":1,\"loss\":2.0,\"usage\":0.5}\n\
                    {\"kind\":\"step\",\"step\":2,\"loss\":1.5}\n\
                    {\"kind\":\"eval\",\"step\":2,\"psnr\":12.0,\"usage\":0.25}\n\
                    {\"kind\":\"step\",\"st";
        std::fs::write(run.log(), text).unwrap();
        let log = TrainLog::read(&run).unwrap();
        assert_eq!(log.series(Kind::Step, "loss"), [(1.0, 2.0), (2.0, 1.5)]);
        assert_eq!(log.series(Kind::Step, "usage"), [(1.0, 0.5)]);
        assert_eq!(log.series(Kind::Eval, "usage"), [(2.0, 0.25)]);
        assert_eq!(log.last_eval().unwrap()["psnr"], 12.0);
    }
}
