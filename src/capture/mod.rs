//! Reading one output stream of an attempt: every byte is scanned (rule
//! patterns, check lines or TAP, provenance markers), a bounded tail is
//! kept for the log, and live echo is handed to the writer thread, which may
//! lag or drop but never holds up the scan.

pub mod markers;
pub mod normalize;
pub mod scanner;

pub use scanner::{Scan, Scanner, Segment};

use std::collections::VecDeque;

/// A tail line is shortened to this for the log.
const TAIL_LINE_MAX: usize = 2000;

#[derive(Debug, Default, Clone)]
pub struct Tail {
    lines: VecDeque<Vec<u8>>,
    max_lines: usize,
}

impl Tail {
    pub fn new(max_lines: usize) -> Tail {
        Tail {
            lines: VecDeque::with_capacity(max_lines.min(1024)),
            max_lines,
        }
    }

    pub fn push(&mut self, line: &[u8], truncated: bool) {
        if self.max_lines == 0 {
            return;
        }
        // Reuse the evicted line's buffer: a flood of short lines must not
        // cost an allocation each.
        let mut kept = if self.lines.len() == self.max_lines {
            self.lines.pop_front().unwrap_or_default()
        } else {
            Vec::new()
        };
        kept.clear();
        kept.extend_from_slice(&line[..line.len().min(TAIL_LINE_MAX)]);
        if truncated || line.len() > TAIL_LINE_MAX {
            kept.extend_from_slice(" …[line truncated]".as_bytes());
        }
        self.lines.push_back(kept);
    }

    /// The lines, lossily decoded; control bytes are escaped by the renderers.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            out.push_str(&String::from_utf8_lossy(l));
            out.push('\n');
        }
        out
    }

    pub fn last_line(&self) -> Option<String> {
        self.lines
            .iter()
            .rev()
            .map(|l| String::from_utf8_lossy(l).trim().to_string())
            .find(|l| !l.is_empty())
    }
}
