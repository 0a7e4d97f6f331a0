//! Every way a command can end without a verdict of its own, each knowing
//! its exit code (as nextest's `ExpectedError::process_exit_code()`).

use crate::exit;

words! {
    /// What ended a command without a run (the `error.kind` of `--json`).
    pub enum ErrorKind {
        Usage = "usage",
        Config = "config",
        Hold = "hold",
        Skipped = "skipped",
        Internal = "internal",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command line or work item (2).
    #[error("{0}")]
    Usage(String),
    /// Bad configuration value, rules file or config file (78).
    #[error("{0}")]
    Config(String),
    /// No verdict can be given now: busy, run in progress, unreadable log (75).
    #[error("{0}")]
    Hold(String),
    /// Kill-switch or scope (3).
    #[error("{0}")]
    Skipped(String),
    /// A bug or an impossible state (70).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Config(_) => exit::CONFIG,
            Error::Hold(_) => exit::HOLD,
            Error::Skipped(_) => exit::SKIPPED,
            Error::Internal(_) => exit::INTERNAL,
        }
    }

    /// The name used in `--json` error objects.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Usage(_) => ErrorKind::Usage,
            Error::Config(_) => ErrorKind::Config,
            Error::Hold(_) => ErrorKind::Hold,
            Error::Skipped(_) => ErrorKind::Skipped,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// `invalid value for `KEY` from SOURCE: WHY`, the one shape of a bad value.
    pub fn bad_value(
        key: &str,
        source: impl std::fmt::Display,
        why: impl std::fmt::Display,
    ) -> Error {
        Error::Config(format!("invalid value for `{key}` from {source}: {why}"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Internal(e.to_string())
    }
}

/// Short words for the I/O errors users meet, instead of "(os error 2)".
pub fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "no such file or folder".into(),
        K::PermissionDenied => "permission denied".into(),
        K::StorageFull => "no space left on device".into(),
        K::FileTooLarge => "file too large (a file size limit, ulimit -f?)".into(),
        K::ReadOnlyFilesystem => "read-only file system".into(),
        K::IsADirectory => "is a folder".into(),
        K::NotADirectory => "a part of the path is not a folder".into(),
        _ => match e.raw_os_error() {
            Some(libc::EIO) => "input/output error".into(),
            Some(libc::ENXIO) => "no reader on the other end (a FIFO?)".into(),
            _ => e.to_string(),
        },
    }
}
