//! `dvae`: the command-line interface. Argument parsing, terminal output and exit codes
//! live here; everything else is in the `dvae` library.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Train, run and evaluate discrete image tokenizers (DALL·E's dVAE).
#[derive(Parser)]
#[command(name = "dvae", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a dVAE and write a run directory.
    Train(Box<cmd::train::Args>),
    /// Images → token grids (.npy) with a trained run.
    Encode(cmd::encode::Args),
    /// Joins the token files of `dvae encode --shard I/N` into one, in input order.
    MergeTokens(cmd::merge_tokens::Args),
    /// Token grids (.npy) → PNG images.
    Decode(cmd::decode::Args),
    /// Image → tokens → image, with a side-by-side grid and per-image PSNR.
    Reconstruct(cmd::reconstruct::Args),
    /// Reconstruction and codebook metrics on a data set.
    Eval(cmd::eval::Args),
    /// One self-contained HTML report of a run (curves, metrics, grids, codebook atlas).
    Report(cmd::report::Args),
    /// Train the four families on the same data and budget; print and save the table.
    Compare(cmd::compare::Args),
    /// Gumbel vs Gaussian noise, Gumbel-Max vs Gumbel-softmax across τ, measured.
    Gumbel(cmd::gumbel::Args),
    /// Throughput of a preset on this machine (train, encode, decode img/s; peak memory).
    Bench(cmd::bench::Args),
    /// OpenAI's DALL·E dVAE (encoder.pkl / decoder.pkl) → a run directory.
    ImportOpenai(cmd::import_openai::Args),
    /// Train or evaluate a prior over a tokenizer's tokens (transformer or PixelCNN).
    Prior(cmd::prior::Args),
    /// Generate images: sample tokens from a prior, decode them with the tokenizer.
    Sample(Box<cmd::sample::Args>),
    /// A folder of images → WebDataset tar shards, every image validated.
    Pack(cmd::pack::Args),
}

fn main() -> ExitCode {
    dvae::alloc::retain_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Train(a) => cmd::train::run(*a),
        Command::Encode(a) => cmd::encode::run(a),
        Command::MergeTokens(a) => cmd::merge_tokens::run(a),
        Command::Decode(a) => cmd::decode::run(a),
        Command::Reconstruct(a) => cmd::reconstruct::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Compare(a) => cmd::compare::run(a),
        Command::Gumbel(a) => cmd::gumbel::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::ImportOpenai(a) => cmd::import_openai::run(a),
        Command::Prior(a) => cmd::prior::run(a),
        Command::Sample(a) => cmd::sample::run(*a),
        Command::Pack(a) => cmd::pack::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The chain of contexts, each once: a library error already ends with its cause.
            let mut line = e.to_string();
            for cause in e.chain().skip(1).map(|c| c.to_string()) {
                if !line.ends_with(&cause) {
                    line = format!("{line}: {cause}");
                }
            }
            eprintln!("error: {line}");
            // Stopped by a signal after a checkpoint: the conventional 128 + its number
            // (130 for Ctrl-C, 143 for SIGTERM).
            let interrupted = matches!(
                e.downcast_ref::<dvae::Error>(),
                Some(dvae::Error::Interrupted { .. })
            );
            ExitCode::from(if interrupted {
                cmd::signals::exit_status()
            } else {
                2
            })
        }
    }
}
