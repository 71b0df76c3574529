//! Library tests that pin numbers to independent references and exercise whole paths.

mod common;
mod gradcheck;
mod gumbel;
mod model;
mod reference;
mod train;
