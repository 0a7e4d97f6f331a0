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
