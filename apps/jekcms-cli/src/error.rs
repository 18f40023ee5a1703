//! The CLI's error type.

use std::path::Path;

/// Why a command could not run (per-item failures of an import are not errors: they are
/// in its outcome).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server or the connection failed.
    #[error("{0}")]
    Client(#[from] jekcms_client::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The input or the arguments do not make sense.
    #[error("{0}")]
    Input(String),
}

impl CliError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
