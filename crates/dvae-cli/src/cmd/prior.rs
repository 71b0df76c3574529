//! `dvae prior train` and `dvae prior eval`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use dvae::Tokenizer;
use dvae::artifact::RunDir;
use dvae::data::{DataSource, ImageSet, Split};
use dvae::prior::store::{PriorDir, PriorFile};
use dvae::prior::train::{self, PriorEvent, PriorTrainConfig, TokenData, unigram_bits};
use dvae::prior::{PriorConfig, PriorKind};
use dvae::run_config::FORMAT_VERSION;
use dvae::train::TrainOptions;
use indicatif::{ProgressBar, ProgressStyle};

/// Priors over a tokenizer's tokens, for generation.
#[derive(Parser)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encode a data set with a trained tokenizer (tokens cached) and train a prior on the
    /// token grids; held-out bits per token at every checkpoint.
    Train(Box<TrainArgs>),
    /// Held-out negative log-likelihood of a prior on a data set.
    Eval(EvalArgs),
}

/// The tokenizer and data a prior works on.
#[derive(clap::Args)]
struct Source {
    /// Run directory of the tokenizer (dVAE, VQ-VAE or imported OpenAI weights).
    #[arg(long)]
    run: PathBuf,
    /// default, a folder of images (subfolders are classes), mnist:PATH or cifar10:PATH.
    #[arg(long, default_value = "default")]
    data: String,
    /// Stop at the first unreadable file in a folder instead of skipping it.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    device: super::DeviceArg,
}

#[derive(clap::Args)]
struct TrainArgs {
    #[command(flatten)]
    source: Source,
    /// Prior directory to write [default: RUN/prior].
    #[arg(long)]
    out: Option<PathBuf>,
    /// transformer or pixelcnn.
    #[arg(long, default_value = "transformer")]
    kind: PriorKind,
    /// Optimizer steps in all [default: 2000; with --resume, the saved total].
    #[arg(long)]
    steps: Option<usize>,
    /// Token grids per step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Peak learning rate (linear warm-up, then cosine decay to a tenth).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Model width (transformer dimension, PixelCNN channels).
    #[arg(long, default_value_t = 128)]
    width: usize,
    /// Transformer blocks or PixelCNN layers.
    #[arg(long, default_value_t = 4)]
    layers: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    heads: usize,
    /// Ignore the data's class labels: an unconditional prior. By default a prior is
    /// class-conditional when the data has labels (subfolders, MNIST/CIFAR labels, the
    /// default set's background kinds), trained with 10% of labels dropped so that
    /// classifier-free guidance works.
    #[arg(long)]
    unconditional: bool,
    /// Evaluate and checkpoint every N steps.
    #[arg(long, default_value_t = 500)]
    checkpoint_every: usize,
    /// Seed of the weights, batches and label dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Continue from the prior directory's last checkpoint.
    #[arg(long)]
    resume: bool,
}

#[derive(clap::Args)]
struct EvalArgs {
    #[command(flatten)]
    source: Source,
    /// Prior directory written by `dvae prior train`.
    #[arg(long)]
    prior: PathBuf,
    /// Print one JSON object with keys bits_per_token, bits_per_dim, tokens, and the
    /// baselines uniform_bits_per_token (log2 K) and unigram_bits_per_token (the prior's
    /// training token frequencies; null when its token cache is gone).
    #[arg(long)]
    json: bool,
    /// Score at most N images (the default data set: its held-out split unless given).
    #[arg(long)]
    limit: Option<usize>,
}

pub fn run(a: Args) -> Result<()> {
    match a.command {
        Command::Train(t) => train_prior(*t),
        Command::Eval(e) => eval_prior(e),
    }
}

/// The tokenizer and its data set, loaded.
fn load(source: &Source) -> Result<(Tokenizer, ImageSet)> {
    let dvae = source.device.load(&source.run)?;
    let data = ImageSet::load(
        &DataSource::parse(&source.data),
        dvae.config.model.image_size,
        source.strict,
    )
    .with_context(|| format!("loading data {:?}", source.data))?;
    super::report_skipped(&data);
    Ok((dvae, data))
}

fn tokenize(
    source: &Source,
    dvae: &Tokenizer,
    data: &ImageSet,
    conditional: bool,
    dir: &PriorDir,
) -> Result<TokenData> {
    super::ensure_dir(&dir.root)?;
    let weights = RunDir::new(&source.run).weights();
    eprintln!(
        "encoding {} images with {}",
        data.len(),
        source.run.display()
    );
    let (tokens, cached) =
        train::tokenize_cached(dvae, &weights, &source.data, data, conditional, dir, 64)
            .with_context(|| format!("encoding {:?} with {}", source.data, source.run.display()))?;
    if cached {
        eprintln!(
            "(tokens read from the cache {})",
            dir.root.join("tokens.npy").display()
        );
    }
    Ok(tokens)
}

fn train_prior(a: TrainArgs) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| a.source.run.join("prior"));
    let dir = PriorDir::new(&out);
    let (dvae, data) = load(&a.source)?;
    let m = &dvae.config.model;
    let labels = data.labels.as_ref().filter(|_| !a.unconditional);
    let file = if a.resume {
        let mut f = dir.read()?;
        f.train.steps = a.steps.unwrap_or(f.train.steps);
        f
    } else {
        if dir.weights().exists() {
            bail!(
                "{}: already holds a prior; use --resume to continue it or choose another --out",
                out.display()
            );
        }
        let model = PriorConfig {
            width: a.width,
            layers: a.layers,
            heads: a.heads,
            ..PriorConfig::new(
                a.kind,
                m.vocab_size,
                m.grid_size(),
                labels.map_or(0, |l| l.classes()),
            )
        };
        let train = PriorTrainConfig {
            steps: a.steps.unwrap_or(2000),
            batch: a.batch,
            lr: a.lr,
            seed: a.seed,
            checkpoint_every: a.checkpoint_every,
            holdout: dvae.config.train.holdout,
            ..Default::default()
        };
        model.validate()?;
        train.validate()?;
        PriorFile {
            format_version: FORMAT_VERSION,
            tokenizer: a.source.run.clone(),
            data: a.source.data.clone(),
            model,
            train,
            class_names: labels.map_or(Vec::new(), |l| l.names.clone()),
        }
    };
    let tokens = tokenize(&a.source, &dvae, &data, file.model.classes > 0, &dir)?;
    dir.write(&file)?;
    println!("dvae prior train → {}", out.display());
    println!("{}", serde_json::to_string_pretty(&file)?);

    let split = Split::new(tokens.grids.n, file.train.holdout);
    let k = file.model.vocab_size;
    let unigram = unigram_bits(&tokens.ids(&split.train), &tokens.ids(&split.holdout), k);
    let uniform = (k as f64).log2();
    let stop = super::signals::stop_on_signals();
    let bar = ProgressBar::new(file.train.steps as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .expect("valid template"),
    );
    let device = a.source.device.device()?;
    let result = train::train(
        &dir,
        &file,
        &tokens,
        m.image_size,
        &device,
        &TrainOptions {
            resume: a.resume,
            stop: Some(stop),
            ..Default::default()
        },
        |e| match e {
            PriorEvent::Start {
                params,
                start_step,
                train,
                holdout,
            } => {
                bar.set_position(start_step as u64);
                super::say(
                    &bar,
                    format!(
                        "{params} parameters; {train} training / {holdout} held-out grids of {} tokens; \
                     baselines: uniform {uniform:.3}, unigram {unigram:.3} bits per token",
                        file.model.tokens()
                    ),
                );
            }
            PriorEvent::Step { step, bits, lr } => {
                bar.set_position(step as u64);
                bar.set_message(format!("train {bits:.3} bits/token lr {lr:.2e}"));
            }
            PriorEvent::Eval { step, eval } => super::say(
                &bar,
                format!(
                    "step {step}: held-out {:.3} bits per token ({:.4} bits per dim)",
                    eval.bits_per_token, eval.bits_per_dim
                ),
            ),
        },
    );
    bar.finish_and_clear();
    match result? {
        Some(e) => println!(
            "done: held-out {:.3} bits per token ({:.4} bits per dim); uniform {uniform:.3}, \
             unigram {unigram:.3}; prior in {}",
            e.bits_per_token,
            e.bits_per_dim,
            out.display()
        ),
        None => println!(
            "nothing to train: the prior is already at its {} steps",
            file.train.steps
        ),
    }
    Ok(())
}

fn eval_prior(a: EvalArgs) -> Result<()> {
    let dir = PriorDir::new(&a.prior);
    let file = dir.read()?;
    let (dvae, data) = load(&a.source)?;
    super::check_prior_fits(&file, &dvae, &a.prior)?;
    if let Some(l) = data.labels.as_ref().filter(|_| file.model.classes > 0)
        && l.names != file.class_names
    {
        bail!(
            "{:?}: its classes ({}) are not the prior's ({})",
            a.source.data,
            l.names.join(", "),
            file.class_names.join(", ")
        );
    }
    let device = a.source.device.device()?;
    let prior = dir.load(&file, &device)?;
    let indices: Vec<usize> = match (a.limit, DataSource::parse(&a.source.data)) {
        (Some(n), _) => (0..data.len().min(n)).collect(),
        (None, DataSource::Default) => Split::new(data.len(), file.train.holdout).holdout,
        (None, _) => (0..data.len()).collect(),
    };
    let tokens =
        train::tokenize(&dvae, &data, &indices, file.model.classes > 0, 64).with_context(|| {
            format!(
                "encoding {:?} with {}",
                a.source.data,
                a.source.run.display()
            )
        })?;
    let all: Vec<usize> = (0..indices.len()).collect();
    let m = &dvae.config.model;
    let e = train::evaluate(
        &prior,
        &file.model,
        &tokens,
        &all,
        64,
        m.image_size,
        &device,
    );
    let k = file.model.vocab_size;
    let uniform = (k as f64).log2();
    // The unigram baseline: token frequencies of the prior's training tokens, if cached.
    let unigram = dvae::tokens::read_npy(&a.prior.join("tokens.npy"), k, file.model.grid)
        .ok()
        .map(|train| unigram_bits(&train.ids, &tokens.grids.ids, k));
    if a.json {
        let mut v = serde_json::to_value(&e)?;
        v["uniform_bits_per_token"] = uniform.into();
        v["unigram_bits_per_token"] = unigram.into();
        println!("{v}");
    } else {
        let unigram = unigram.map_or(String::new(), |u| format!(", unigram {u:.3}"));
        println!(
            "{:.4} bits per token, {:.5} bits per dim over {} tokens ({} grids); uniform {uniform:.3}{unigram}",
            e.bits_per_token,
            e.bits_per_dim,
            e.tokens,
            indices.len()
        );
    }
    Ok(())
}
