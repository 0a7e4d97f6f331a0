//! Reads one output stream of the suite: passes it through live, keeps a
//! bounded tail for the log, and scans every line (not just the tail) for
//! check lines and classification patterns. Memory stays bounded whatever the
//! suite prints.

use crate::checks::CheckTable;
use regex::bytes::{Regex, RegexSet};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Lines longer than this are matched and kept by their first part only.
pub const MAX_LINE: usize = 64 * 1024;
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
    fn push(&mut self, line: &[u8], truncated: bool) {
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
    pub fn text(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            out.push_str(&String::from_utf8_lossy(l));
            out.push('\n');
        }
        out
    }
}

/// Lines seen before a deferred pattern set is ready wait here, up to this
/// many bytes; past it the reader waits for the set.
const PENDING_MAX: usize = 4 * 1024 * 1024;

/// Per-stream line state.
#[derive(Debug)]
pub struct LineScanner {
    patterns: Option<RegexSet>,
    /// A set still being compiled elsewhere (see `classify::RulesHandle`).
    deferred: Option<Arc<std::sync::OnceLock<RegexSet>>>,
    pending: Vec<u8>,
    /// `hits[i]` is true once pattern i matched any line.
    pub hits: Vec<bool>,
    check_pattern: Option<Regex>,
    pub checks: CheckTable,
    pub tail: Tail,
    partial: Vec<u8>,
    partial_overflow: bool,
    pub bytes: u64,
    pub lines: u64,
}

impl LineScanner {
    pub fn new(
        patterns: Option<RegexSet>,
        check_pattern: Option<Regex>,
        tail_lines: usize,
    ) -> Self {
        let n = patterns.as_ref().map(RegexSet::len).unwrap_or(0);
        LineScanner {
            patterns,
            deferred: None,
            pending: Vec::new(),
            hits: vec![false; n],
            check_pattern,
            checks: CheckTable::default(),
            tail: Tail::new(tail_lines),
            partial: Vec::new(),
            partial_overflow: false,
            bytes: 0,
            lines: 0,
        }
    }

    /// A scanner whose pattern set arrives later; lines are matched once it does.
    pub fn deferred(
        set: Arc<std::sync::OnceLock<RegexSet>>,
        check_pattern: Option<Regex>,
        tail_lines: usize,
    ) -> Self {
        let mut s = LineScanner::new(None, check_pattern, tail_lines);
        s.deferred = Some(set);
        s
    }

    fn activate(&mut self, set: RegexSet) {
        self.hits = vec![false; set.len()];
        let pending = std::mem::take(&mut self.pending);
        for line in pending.split(|b| *b == b'\n') {
            Self::match_set(&set, &mut self.hits, line);
        }
        self.patterns = Some(set);
        self.deferred = None;
    }

    fn match_set(set: &RegexSet, hits: &mut [bool], line: &[u8]) {
        // is_match first: it allocates nothing, and almost no line matches.
        if set.is_match(line) {
            for i in set.matches(line).iter() {
                hits[i] = true;
            }
        }
    }

    pub fn feed(&mut self, mut chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        while let Some(pos) = memchr::memchr(b'\n', chunk) {
            let (head, rest) = chunk.split_at(pos);
            if self.partial.is_empty() && !self.partial_overflow {
                self.line(head, false);
            } else {
                self.append_partial(head);
                let line = std::mem::take(&mut self.partial);
                let overflow = std::mem::replace(&mut self.partial_overflow, false);
                self.line(&line, overflow);
                self.partial = line;
                self.partial.clear();
            }
            chunk = &rest[1..];
        }
        self.append_partial(chunk);
    }

    fn append_partial(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.partial_overflow = true;
        }
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Flushes a last line that had no newline, and waits for a deferred
    /// pattern set so every line has been matched.
    pub fn finish(&mut self) {
        if let Some(cell) = self.deferred.clone() {
            self.activate(cell.wait().clone());
        }
        if !self.partial.is_empty() || self.partial_overflow {
            let line = std::mem::take(&mut self.partial);
            let overflow = std::mem::replace(&mut self.partial_overflow, false);
            self.line(&line, overflow);
        }
    }

    fn line(&mut self, raw: &[u8], truncated: bool) {
        self.lines += 1;
        let capped = &raw[..raw.len().min(MAX_LINE)];
        let line = capped.strip_suffix(b"\r").unwrap_or(capped);
        if let Some(cell) = self.deferred.clone() {
            match cell.get() {
                Some(set) => self.activate(set.clone()),
                None if self.pending.len() + line.len() < PENDING_MAX => {
                    self.pending.extend_from_slice(line);
                    self.pending.push(b'\n');
                }
                None => self.activate(cell.wait().clone()),
            }
        }
        if let Some(set) = &self.patterns {
            Self::match_set(set, &mut self.hits, line);
        }
        if let Some(re) = &self.check_pattern
            && re.is_match(line)
        {
            self.checks.observe(re, line);
        }
        self.tail.push(line, truncated || raw.len() > MAX_LINE);
    }
}

/// Set while a transient status line is on the terminal; the next output
/// chunk erases it first so suite output never lands mid-line.
pub static STATUS_SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn clear_status() {
    if STATUS_SHOWN.swap(false, Ordering::SeqCst) {
        let _ = std::io::stderr().lock().write_all(b"\r\x1b[2K");
    }
}

/// Where live output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    None,
    Stdout,
    Stderr,
}

/// Copies `reader` to `echo` and into `scanner` until EOF. `last_output`
/// holds milliseconds since `start` of the last byte seen, for the heartbeat.
pub fn pump(
    mut reader: impl Read,
    echo: Echo,
    scanner: Arc<Mutex<LineScanner>>,
    last_output: Arc<AtomicU64>,
    start: Instant,
) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut echo_ok = echo != Echo::None;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        last_output.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        if echo_ok {
            clear_status();
            // A closed terminal or pipe on our side must not stop the capture.
            echo_ok = match echo {
                Echo::Stdout => std::io::stdout().lock().write_all(&buf[..n]).is_ok(),
                Echo::Stderr => std::io::stderr().lock().write_all(&buf[..n]).is_ok(),
                Echo::None => false,
            };
        }
        if let Ok(mut s) = scanner.lock() {
            s.feed(&buf[..n]);
        }
    }
    if let Ok(mut s) = scanner.lock() {
        s.finish();
    }
    if echo == Echo::Stdout {
        let _ = std::io::stdout().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks_and_keeps_a_bounded_tail() {
        let set = RegexSet::new([r"^needle$"]).unwrap();
        let mut s = LineScanner::new(Some(set), None, 3);
        for chunk in [&b"a\nne"[..], b"edle\r\nb\nc", b"\nd"] {
            s.feed(chunk);
        }
        s.finish();
        assert!(s.hits[0]);
        assert_eq!(s.lines, 5);
        assert_eq!(s.tail.text(), "b\nc\nd\n");
    }

    #[test]
    fn very_long_lines_are_capped_not_buffered() {
        let mut s = LineScanner::new(None, None, 2);
        let big = vec![b'x'; MAX_LINE * 4];
        s.feed(&big);
        s.feed(b"\nshort\n");
        assert!(s.partial.capacity() <= MAX_LINE * 2);
        assert_eq!(s.lines, 2);
        assert!(s.tail.text().contains("[line truncated]"));
    }

    #[test]
    fn lines_before_a_deferred_set_is_ready_are_still_matched() {
        let cell = Arc::new(std::sync::OnceLock::new());
        let mut s = LineScanner::deferred(cell.clone(), None, 2);
        s.feed(b"early needle\nother\n");
        assert!(s.hits.is_empty());
        cell.set(RegexSet::new([r"needle", r"^late$"]).unwrap())
            .unwrap();
        s.feed(b"late\n");
        s.finish();
        assert_eq!(s.hits, vec![true, true]);
        // Set arriving only at finish: still every line.
        let cell = Arc::new(std::sync::OnceLock::new());
        let mut s = LineScanner::deferred(cell.clone(), None, 2);
        s.feed(b"needle\n");
        let setter = cell.clone();
        let t =
            std::thread::spawn(move || setter.set(RegexSet::new([r"needle"]).unwrap()).unwrap());
        s.finish();
        t.join().unwrap();
        assert_eq!(s.hits, vec![true]);
    }

    #[test]
    fn non_utf8_is_kept_lossily() {
        let mut s = LineScanner::new(None, None, 2);
        s.feed(b"caf\xe9\n");
        assert_eq!(s.tail.text(), "caf\u{fffd}\n");
    }
}
