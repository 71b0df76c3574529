//! What `dvae train --resume` does with the other flags: the run goes on as its
//! `config.json` says. `--steps` extends it (recorded in config.json); a flag that would
//! change anything else in config.json is refused, naming the flag and the run's value (the
//! same value as the run's is accepted: a job script may repeat its whole command line);
//! the flags that do not change the run's configuration (`--out`, `--strict`,
//! `--data-workers`, `--checkpoint-every-minutes`, `--device`, `--devices`) are taken as
//! given.

use anyhow::{Result, bail};
use dvae::run_config::RunConfig;
use serde_json::Value;

use super::train_flags::Flags;

/// The rule in `dvae train --help`.
pub const HELP: &str = "\
Resume: --resume continues the run in --out as its config.json describes it. --steps \
extends it (or shortens it) to that many steps and is recorded in config.json. Any other \
flag that is part of the run's configuration (--lr, --batch, --preset, --data, a family's \
option, ...) is refused unless it has the run's value, with a message naming the flag and \
that value; --strict, --data-workers, --checkpoint-every-minutes, --device and --devices apply \
to the resumed process (on another device than the run's the numbers are no longer bit-identical).";

/// A flag's value as JSON, or nothing when the flag was not given.
macro_rules! j {
    ($v:expr) => {
        $v.as_ref()
            .map(|v| serde_json::to_value(v).expect("flag values serialise"))
    };
}

/// (flag, JSON pointer into config.json, value, the family it belongs to if it is a
/// family's) of every configuration flag given.
fn given(f: &Flags) -> Vec<(String, String, Value, Option<&'static str>)> {
    let model = |k: &str| format!("/model/{k}");
    let train = |k: &str| format!("/train/{k}");
    let grad_clip = f.grad_clip.map(|c| (c > 0.0).then_some(c));
    let run: Vec<(&str, String, Option<Value>)> = vec![
        ("preset", "/preset".into(), j!(f.preset)),
        ("recipe", train("recipe"), j!(f.recipe)),
        ("data", "/data".into(), j!(f.data)),
        ("eval-data", train("eval_data"), j!(f.eval_data)),
        (
            "stream",
            train("stream"),
            f.stream.then_some(Value::Bool(true)),
        ),
        (
            "shuffle-buffer",
            train("shuffle_buffer"),
            j!(f.shuffle_buffer),
        ),
        (
            "crop-scale",
            train("augment/crop_scale"),
            f.crop_scale.map(|c| serde_json::json!(c.0)),
        ),
        (
            "hflip",
            train("augment/hflip"),
            f.hflip.then_some(Value::Bool(true)),
        ),
        ("batch", train("batch"), j!(f.batch)),
        ("seed", train("seed"), j!(f.seed)),
        (
            "checkpoint-every",
            train("checkpoint_every"),
            j!(f.checkpoint_every),
        ),
        ("loss", model("recon_loss"), j!(f.loss)),
        ("image-size", model("image_size"), j!(f.image_size)),
        ("group-count", model("group_count"), j!(f.group_count)),
        ("n-hid", model("n_hid"), j!(f.n_hid)),
        (
            "n-blk-per-group",
            model("n_blk_per_group"),
            j!(f.n_blk_per_group),
        ),
        ("vocab-size", model("vocab_size"), j!(f.vocab_size)),
        ("n-init", model("n_init"), j!(f.n_init)),
        ("code-dim", model("code_dim"), j!(f.code_dim)),
        ("lr", train("lr"), j!(f.lr)),
        ("lr-end", train("lr_end"), j!(f.lr_end)),
        ("warmup-steps", train("warmup_steps"), j!(f.warmup_steps)),
        ("weight-decay", train("weight_decay"), j!(f.weight_decay)),
        ("ema-decay", train("ema_decay"), j!(f.ema_decay)),
        ("grad-clip", train("grad_clip"), j!(grad_clip)),
        ("log-every", train("log_every"), j!(f.log_every)),
        ("holdout", train("holdout"), j!(f.holdout)),
        ("family", "/bottleneck/family".into(), j!(f.family)),
    ];
    let family = f
        .family_flags
        .given()
        .into_iter()
        .map(|(owner, flag, key, v)| (flag, format!("/bottleneck/{key}"), Some(v), Some(owner)));
    run.into_iter()
        .map(|(flag, pointer, v)| (flag, pointer, v, None))
        .chain(family)
        .filter_map(|(flag, pointer, v, owner)| v.map(|v| (flag.to_string(), pointer, v, owner)))
        .collect()
}

/// Refuses the flags given with `--resume` that would change the run `saved`.
pub fn check(flags: &Flags, saved: &RunConfig) -> Result<()> {
    let mut saved_json = serde_json::to_value(saved)?;
    // The fields config.json leaves out at their defaults, spelled out to compare with.
    let t = &saved.train;
    saved_json["train"]["shuffle_buffer"] = t.shuffle_buffer.into();
    saved_json["train"]["eval_data"] = serde_json::json!(t.eval_data);
    saved_json["train"]["stream"] = t.stream.into();
    saved_json["train"]["augment"] =
        serde_json::json!({"crop_scale": t.augment.crop_scale, "hflip": t.augment.hflip});
    let family = saved.bottleneck.name();
    let mut refused = Vec::new();
    for (flag, pointer, value, owner) in given(flags) {
        let key = pointer.rsplit('/').next().unwrap_or(&pointer);
        match saved_json.pointer(&pointer) {
            _ if owner.is_some_and(|o| !dvae::model::family::owns(o, family)) => {
                refused.push(format!(
                    "--{flag}: an option of --family {}, and the run is a {family} run",
                    owner.unwrap_or_default()
                ))
            }
            Some(have) if same(have, &value) => {}
            Some(have) => refused.push(format!(
                "--{flag}: cannot change on --resume (the run has {key} {have})"
            )),
            None => refused.push(format!(
                "--{flag}: cannot change on --resume (the run's family {family} has no such option)"
            )),
        }
    }
    if !refused.is_empty() {
        bail!(
            "{} (--resume continues the run as its config.json says; only --steps may change it)",
            refused.join("; ")
        );
    }
    Ok(())
}

/// Whether a flag's value is the run's: numbers compare as numbers (`--lr 1` is `1.0`).
fn same(have: &Value, given: &Value) -> bool {
    if let (Some(a), Some(b)) = (have.as_u64(), given.as_u64()) {
        return a == b;
    }
    match (have.as_f64(), given.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => have == given,
    }
}
