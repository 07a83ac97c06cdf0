//! Errors that end a run, and the exit code each one maps to.

use std::fmt;

/// Why a run ended other than by success.
#[derive(Debug)]
pub enum Error {
    /// The command line cannot run (exit 2).
    Usage(String),
    /// Something failed while running: a connection, a file, a peer (exit 1).
    Runtime(String),
}

impl Error {
    /// A runtime failure with this message.
    pub fn runtime(message: impl Into<String>) -> Error {
        Error::Runtime(message.into())
    }

    /// The process exit code: 2 for usage errors, 1 for runtime failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Runtime(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) | Error::Runtime(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}
