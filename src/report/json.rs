//! `--json`: exactly one object on stdout, on every exit path.

use super::{RunReport, Sink};
use crate::diag::{self, Stream};

pub struct Json;

impl Sink for Json {
    fn name(&self) -> &'static str {
        "json"
    }
    fn emit(&self, report: &RunReport) -> Result<(), String> {
        let mut text = serde_json::to_string(report).map_err(|e| e.to_string())?;
        text.push('\n');
        diag::write(Stream::Out, text.as_bytes());
        Ok(())
    }
}

/// A command's own `--json` object (dry-run, preflight, config, classify,
/// disconnect): one line on stdout, from its typed record.
pub fn print_object<T: serde::Serialize>(v: &T) -> crate::error::Result<()> {
    let text = serde_json::to_string(v)
        .map_err(|e| crate::error::Error::Internal(format!("cannot write the JSON object: {e}")))?;
    diag::line(Stream::Out, &text);
    Ok(())
}
