//! Failures that scripts can tell apart: each carries an exit code and, when we know one, what to do.

use std::fmt;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A value the user gave is wrong (clap uses 2 for its own usage errors too).
    Usage = 2,
    /// No server, no key, an unreadable or invalid file.
    Config = 3,
    /// The server refused the credentials (401/403).
    Unauthorized = 4,
    /// The room, peer or API token does not exist (404).
    NotFound = 5,
    /// The server cannot be reached or failed (network, TLS, 5xx).
    Unavailable = 6,
    /// `token inspect`: bad signature, expired, wrong algorithm, malformed.
    InvalidToken = 7,
}

/// An error with an exit code and an optional hint ("what to do").
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure { exit, message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Shorthand: `Err(fail(Exit::Config, "..."))?`.
pub fn fail(exit: Exit, message: impl Into<String>) -> anyhow::Error {
    Failure::new(exit, message).into()
}

/// Prints `e` to stderr (message, causes, hint) and returns its exit code.
pub fn report(e: &anyhow::Error) -> ExitCode {
    let failure = e.chain().find_map(|c| c.downcast_ref::<Failure>());
    eprintln!("meetctl: error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if let Some(hint) = failure.and_then(|f| f.hint.as_deref()) {
        eprintln!("  hint: {hint}");
    }
    ExitCode::from(failure.map_or(1, |f| f.exit as u8))
}
