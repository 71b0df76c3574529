//! Library tests that pin numbers to independent references and exercise whole paths.

mod common;
mod data_parallel;
mod dvae_recipe;
mod entropy_penalty;
mod families;
mod fused_latent;
mod fuzz_seeds;
mod gradcheck;
mod gumbel;
mod infer;
mod logits;
mod metrics;
mod model;
mod openai;
mod prior;
mod quantizers;
mod reference;
mod shards;
mod train;
