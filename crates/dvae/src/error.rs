//! The one error type of the library. Every message names the thing (file, field, flag)
//! and says what was expected and what was found.

use std::path::PathBuf;

/// Errors returned by the `dvae` library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An image file could not be decoded.
    #[error("{}: not a readable image: {reason}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// A data source is malformed (an MNIST/CIFAR file, an empty folder, ...).
    #[error("{}: {reason}", path.display())]
    Data {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid {field}: {reason}")]
    Config {
        /// The field or flag.
        field: String,
        /// Expected vs actual.
        reason: String,
    },
    /// A run directory is missing a file, or holds one that does not match its config.
    #[error("run directory {}: {reason}", path.display())]
    Run {
        /// The run directory or the file in it.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor had a shape the operation cannot take.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// Training produced a non-finite loss or gradient.
    #[error("non-finite {what} at step {step}")]
    NonFinite {
        /// Loss or gradient.
        what: String,
        /// The step it happened at.
        step: usize,
    },
    /// Training produced a non-finite loss or gradient again after rolling back once.
    #[error(
        "non-finite {what} at step {step}, again after rolling back to step {rolled_back_to} \
         with half the learning rate; the run stops here and its last checkpoint is intact \
         (resume it with a lower --lr or a --grad-clip, or check the data)"
    )]
    NonFiniteAgain {
        /// Loss or gradient norm.
        what: String,
        /// The step it happened at (1-based, as logged).
        step: usize,
        /// The step the first fault rolled the run back to.
        rolled_back_to: usize,
    },
    /// Training was asked to stop (for example by Ctrl-C) and stopped after a checkpoint.
    #[error("interrupted at step {step}; the run can be resumed with --resume")]
    Interrupted {
        /// The last completed step.
        step: usize,
    },
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Config`] for `field`.
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Data`] for `path`.
    pub fn data(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Run`] for `path`.
    pub fn run(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Run {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
