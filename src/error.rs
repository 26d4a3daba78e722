//! Typed errors for the library. Each carries the path it is about, and its message is a
//! plain sentence a person can act on.

use std::io;
use std::path::{Path, PathBuf};

/// What went wrong with one file. The job goes on with the others.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O call failed; `action` says what Ripcord was doing ("open", "read", "write"…).
    #[error("{}: cannot {action}: {}", .path.display(), describe_io(.source))]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// What was being done, as a verb.
        action: &'static str,
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },
    /// The output exists and overwriting was not asked for.
    /// Says the fact only: each front end adds its own words for what to do (the CLI
    /// "use --force", the window "tick Overwrite existing").
    #[error("{}: already exists", .path.display())]
    Exists {
        /// The existing file, left untouched.
        path: PathBuf,
    },
    /// The input is not what the operation needs (not zstd, not a manifest, …).
    #[error("{}: {reason}", .path.display())]
    Invalid {
        /// The offending file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// The output of an input could not be written; `path` is the input.
    #[error("{}: {cause}", .path.display())]
    Output {
        /// The input being processed.
        path: PathBuf,
        /// What went wrong with its output (names the output).
        cause: Box<Error>,
    },
    /// The file changed size while it was being read.
    #[error("{}: file changed while being read (expected {expected} bytes, got {got})", .path.display())]
    Changed {
        /// The file.
        path: PathBuf,
        /// Size when the job saw it first.
        expected: u64,
        /// Bytes actually read.
        got: u64,
    },
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(path: impl AsRef<Path>, action: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            action,
            source,
        }
    }

    /// Builds an [`Error::Invalid`].
    pub fn invalid(path: impl AsRef<Path>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.as_ref().to_path_buf(),
            reason: reason.into(),
        }
    }

    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Error::Io { path, .. }
            | Error::Exists { path }
            | Error::Invalid { path, .. }
            | Error::Output { path, .. }
            | Error::Changed { path, .. } => path,
        }
    }

    /// The message without the leading path, for views that show the path already.
    pub fn reason(&self) -> String {
        match self {
            Error::Io { action, source, .. } => format!("cannot {action}: {}", describe_io(source)),
            Error::Exists { .. } => "already exists".into(),
            Error::Invalid { reason, .. } => reason.clone(),
            Error::Output { cause, .. } => cause.to_string(),
            Error::Changed { expected, got, .. } => {
                format!("file changed while being read (expected {expected} bytes, got {got})")
            }
        }
    }
}

/// The OS message without Rust's " (os error N)" suffix, as coreutils prints it.
pub fn describe_io(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
