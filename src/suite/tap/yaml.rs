//! A YAML diagnostic block under a test point: `---` … `...`, every line
//! starting with the `---` line's indentation. As the reference does, the
//! block is parsed as YAML when it closes: one that does not parse is
//! non-TAP (a failure under `pragma +strict`), one that does may carry the
//! failure's `message:`, and may open a buffered subtest (`{` on the next
//! line).

use crate::suite::truncate_chars;

/// A block's text is kept up to this size to be parsed; past it the block
/// is taken as valid, without a message (a dump is not a verdict).
const MAX_TEXT: usize = 256 * 1024;
/// A `message:` is a detail line, not a document.
const MAX_MESSAGE: usize = 1_000;

pub(super) struct Yaml {
    /// The `---` line's indentation, which every line of the block starts with.
    pub(super) indent: String,
    text: String,
    overflow: bool,
}

/// What a closed (or abandoned) block said.
pub(super) struct Diag {
    /// It parsed as YAML (a block too large to keep counts as valid).
    pub(super) valid: bool,
    /// Its value is not empty, false, zero or null (the reference's test
    /// for a block that a `{` may follow).
    pub(super) truthy: bool,
    /// `message:` as one line, cut at MAX_MESSAGE characters.
    pub(super) message: Option<String>,
}

impl Yaml {
    pub(super) fn new(indent: &str) -> Yaml {
        Yaml {
            indent: indent.to_string(),
            text: String::new(),
            overflow: false,
        }
    }

    /// Adds a line that starts with the indentation; true when it was the
    /// closing `...`.
    pub(super) fn line(&mut self, line: &str) -> bool {
        if line.strip_prefix(self.indent.as_str()) == Some("...") {
            return true;
        }
        if self.overflow || self.text.len() + line.len() >= MAX_TEXT {
            self.overflow = true;
            return false;
        }
        self.text.push_str(line);
        self.text.push('\n');
        false
    }

    /// No line yet: the reference drops such a block silently.
    pub(super) fn is_empty(&self) -> bool {
        self.text.is_empty() && !self.overflow
    }

    pub(super) fn read(&self) -> Diag {
        if self.overflow {
            return Diag {
                valid: true,
                truthy: true,
                message: None,
            };
        }
        match parse(&self.text) {
            Some(value) => Diag {
                valid: true,
                truthy: truthy(&value),
                message: value.get("message").and_then(one_line),
            },
            None => Diag {
                valid: false,
                truthy: false,
                message: None,
            },
        }
    }
}

/// The block as YAML; an empty document (blank or comment lines only) is
/// null, as it is for the reference.
fn parse(text: &str) -> Option<serde_json::Value> {
    let blank = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if blank {
        return Some(serde_json::Value::Null);
    }
    serde_saphyr::from_str::<serde_json::Value>(text).ok()
}

fn truthy(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A scalar as one line of text: runs of whitespace (the newlines of a
/// block scalar, tabs) become one space.
fn one_line(value: &serde_json::Value) -> Option<String> {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return None;
    }
    truncate_chars(&mut line, MAX_MESSAGE);
    Some(line)
}
