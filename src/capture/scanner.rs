//! Per-stream line state. With the wrapper, each stream splits at the
//! markers into what the channel printed before the suite, what the suite
//! printed, and what the channel printed after it; rule patterns are
//! matched per segment so channel rules never judge the suite's lines.
//!
//! The suite's bytes come from a spool where it runs, each piece followed
//! by a zero-width marker with the spool offset after it. A piece counts
//! (is scanned and echoed) once its offset marker has come: when the
//! channel is lost, what came after the last offset is the channel's (a
//! piece cut short, ssh's own last words), and a reattach resumes at that
//! offset, so every byte the suite wrote is scanned exactly once.

mod lines;

use super::Tail;
use super::markers::{Marker, Piece, Splitter};
use crate::classify::{LazySet, PatternUse};
use crate::suite::{SuiteParser, checks};
use regex::bytes::{Regex, RegexSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Lines longer than this are matched and kept by their first part only.
pub const MAX_LINE: usize = 64 * 1024;
/// Lines wait here unmatched, up to this many bytes, until their pattern
/// set is compiled: at the end, only if some rule can use them; past this,
/// the set is compiled on the reader's thread and matching goes on live.
const PENDING_MAX: usize = 1024 * 1024;
const MAX_MARKERS: usize = 16;
/// Unconfirmed suite bytes kept back at most (a flood between two offset
/// markers); past it all but the last `HOLD_KEEP` count as read: a lost
/// channel's own words are only ever the last few hundred bytes.
const HOLD_MAX: usize = 4 << 20;
const HOLD_KEEP: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Before = 0,
    Suite = 1,
    After = 2,
}

/// What a finished stream showed.
#[derive(Debug, Default)]
pub struct Scan {
    pub lines: u64,
    pub bytes: u64,
    /// Rule-pattern hits, per segment (index = `Segment as usize`).
    pub hits: [Vec<bool>; 3],
    pub suite_tail: Tail,
    pub channel_tail: Tail,
    pub markers: Vec<Marker>,
    /// stdout: the suite's results in its format.
    pub suite: Option<crate::suite::SuiteReport>,
    /// stderr: a failing check printed there (near miss), checks format only.
    pub near_miss: Option<String>,
    /// End markers with our nonce: the wrapper prints one per stream.
    pub end_markers: u32,
    /// The spool passed its cap: output past it was never read.
    pub cut: bool,
    /// Offset markers that did not add up with the bytes before them.
    pub offset_mismatches: u32,
    /// The spool offset read up to (the suite's bytes scanned).
    pub offset: u64,
    /// Reattaches that resumed on this stream.
    pub resumes: u32,
}

impl Scan {
    pub fn marker(&self, pick: impl Fn(&Marker) -> bool) -> Option<&Marker> {
        self.markers.iter().find(|m| pick(m))
    }

    /// The suite's status from the last end marker: the wrapper prints its
    /// own after the suite has exited, so a copy the suite printed earlier
    /// never decides it.
    pub fn end_status(&self) -> Option<i32> {
        self.markers.iter().rev().find_map(|m| match m {
            Marker::End { status, .. } => Some(*status),
            _ => None,
        })
    }
}

/// Which family of rule patterns a segment's lines are matched with: the
/// suite's own lines with the suite's, the channel's with the channel's.
fn family(segment: Segment) -> usize {
    match segment {
        Segment::Suite => 1,
        Segment::Before | Segment::After => 0,
    }
}

/// A family's pattern set, possibly still being compiled elsewhere.
#[derive(Default)]
struct Patterns {
    ready: Option<RegexSet>,
    deferred: Option<Arc<LazySet>>,
    pending: Vec<(Segment, Vec<u8>)>,
    pending_bytes: usize,
}

pub struct Scanner {
    /// Takes the wrapper's markers out (None: the suite runs directly).
    splitter: Option<Splitter>,
    segment: Segment,
    /// The suite's unfinished line while the channel is away.
    parked: Option<(Vec<u8>, bool)>,
    /// Suite bytes since the last offset marker, not yet counted.
    held: Vec<u8>,
    /// The spool offset of the last offset marker, and bytes counted past it.
    confirmed: u64,
    ahead: u64,
    resumed_at: Option<std::time::Instant>,
    /// [channel family, suite family]
    patterns: [Patterns; 2],
    parser: Option<Box<dyn SuiteParser>>,
    /// stderr in the checks format: a FAIL line here is a near miss.
    stderr_checks: Option<(Regex, Option<Regex>)>,
    partial: Vec<u8>,
    partial_overflow: bool,
    end_seen: Option<Arc<AtomicBool>>,
    /// For which suite exit codes the suite family's patterns matter.
    suite_pattern_use: Option<Arc<OnceLock<PatternUse>>>,
    scan: Scan,
}

impl Scanner {
    /// `nonce`: the attempt's wrapper nonce, or None when the suite runs
    /// directly (every line is the suite's). `sets`: the channel's and the
    /// suite's pattern sets for this stream.
    pub fn new(nonce: Option<&str>, sets: [Arc<LazySet>; 2], tail_lines: usize) -> Scanner {
        let [channel, suite] = sets;
        Scanner {
            splitter: nonce.map(Splitter::new),
            parked: None,
            held: Vec::new(),
            confirmed: 0,
            ahead: 0,
            resumed_at: None,
            segment: if nonce.is_some() {
                Segment::Before
            } else {
                Segment::Suite
            },
            patterns: [
                Patterns {
                    deferred: Some(channel),
                    ..Patterns::default()
                },
                Patterns {
                    deferred: Some(suite),
                    ..Patterns::default()
                },
            ],
            parser: None,
            stderr_checks: None,
            partial: Vec::new(),
            partial_overflow: false,
            end_seen: None,
            suite_pattern_use: None,
            scan: Scan {
                suite_tail: Tail::new(tail_lines),
                channel_tail: Tail::new(tail_lines.clamp(1, 40)),
                ..Scan::default()
            },
        }
    }

    /// A text that is all the channel's (the ssh master's log, a spawn
    /// failure): matched with the channel's patterns, hits in `Before`.
    pub fn channel_only(mut self) -> Scanner {
        self.segment = Segment::Before;
        self.splitter = None;
        self
    }

    /// stdout: the suite's results are parsed here.
    pub fn with_parser(mut self, parser: Box<dyn SuiteParser>) -> Scanner {
        self.parser = Some(parser);
        self
    }

    /// stderr under the checks format: check lines here are near misses.
    pub fn with_stderr_checks(mut self, pattern: Regex) -> Scanner {
        let loose = checks::ChecksParser::new(pattern.clone()).loose().cloned();
        self.stderr_checks = Some((pattern, loose));
        self
    }

    /// Set once this stream carried the end marker.
    pub fn with_end_flag(mut self, flag: Arc<AtomicBool>) -> Scanner {
        self.end_seen = Some(flag);
        self
    }

    /// Lets `finish_for` skip matching the suite's lines (and waiting for
    /// their patterns) when no rule with a pattern can apply to the suite's
    /// exit code: a passing suite never waits for a compile.
    pub fn with_suite_pattern_use(mut self, cell: Arc<OnceLock<PatternUse>>) -> Scanner {
        self.suite_pattern_use = Some(cell);
        self
    }

    /// Whether lines are split at wrapper markers (else all are the suite's).
    pub fn wrapped(&self) -> bool {
        self.splitter.is_some()
    }

    /// The nonce markers carry now (an adopted run's, after `Adopt`).
    pub fn nonce(&self) -> Option<String> {
        self.splitter
            .as_ref()
            .map(|s| String::from_utf8_lossy(s.nonce()).into_owned())
    }

    /// The spool offset to resume at: every byte before it was scanned.
    pub fn offset(&self) -> u64 {
        self.confirmed + self.ahead
    }

    pub fn resumes(&self) -> u32 {
        self.scan.resumes
    }

    pub fn resumed_at(&self) -> Option<std::time::Instant> {
        self.resumed_at
    }

    /// A `gone` marker came: there was no run to follow.
    pub fn gone(&self) -> bool {
        self.scan
            .markers
            .iter()
            .any(|m| matches!(m, Marker::Gone { .. }))
    }

    /// True once the start (or a resume) marker came on this connection.
    pub fn in_suite(&self) -> bool {
        self.segment == Segment::Suite
    }

    /// The connection ended without the end marker: what came after the
    /// last offset marker is the channel's (counted as its last words), the
    /// suite's unfinished line waits for a reattach, and the next
    /// connection starts before the suite again.
    pub fn disconnect(&mut self) {
        let mut rest = Vec::new();
        if let Some(s) = self.splitter.as_mut() {
            s.flush(&mut |p| {
                if let Piece::Data(d) = p {
                    rest.extend_from_slice(d)
                }
            });
        }
        let held = std::mem::take(&mut self.held);
        if self.segment == Segment::Suite {
            let line = std::mem::take(&mut self.partial);
            let overflow = std::mem::replace(&mut self.partial_overflow, false);
            self.parked = Some((line, overflow));
        } else {
            self.flush();
        }
        self.segment = Segment::After;
        self.feed_lines(&held);
        self.feed_lines(&rest);
        self.flush();
        self.segment = Segment::Before;
    }

    /// The suite's status from this stream's end marker. Call `flush` first:
    /// the marker may be on a last line without a newline.
    pub fn end_status(&self) -> Option<i32> {
        self.scan.end_status()
    }

    /// Processes a last line without a newline.
    pub fn flush(&mut self) {
        if !self.partial.is_empty() || self.partial_overflow {
            let line = std::mem::take(&mut self.partial);
            let overflow = std::mem::replace(&mut self.partial_overflow, false);
            self.line(&line, overflow);
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        let mut sink = Vec::new();
        self.feed_echo(chunk, &mut sink);
    }

    /// Feeds a chunk; what a person should see of it (the channel's text,
    /// the suite's counted bytes, no markers) is appended to `echo`.
    pub fn feed_echo(&mut self, chunk: &[u8], echo: &mut Vec<u8>) {
        self.scan.bytes += chunk.len() as u64;
        let Some(mut splitter) = self.splitter.take() else {
            self.feed_lines(chunk);
            echo.extend_from_slice(chunk);
            return;
        };
        splitter.push(chunk, &mut |piece| self.piece(piece, echo));
        self.splitter = Some(splitter);
    }

    fn piece(&mut self, piece: Piece, echo: &mut Vec<u8>) {
        match piece {
            Piece::Data(d) if self.segment == Segment::Suite => {
                self.held.extend_from_slice(d);
                if self.held.len() > HOLD_MAX {
                    self.release(self.held.len() - HOLD_KEEP, echo);
                }
            }
            Piece::Data(d) => {
                self.feed_lines(d);
                echo.extend_from_slice(d);
            }
            Piece::Marker(m) => self.apply(m, echo),
        }
    }

    /// Counts the first `n` held bytes as read: scanned and echoed.
    fn release(&mut self, n: usize, echo: &mut Vec<u8>) {
        let held = std::mem::take(&mut self.held);
        let (now, later) = held.split_at(n.min(held.len()));
        self.feed_lines(now);
        echo.extend_from_slice(now);
        self.ahead += now.len() as u64;
        self.held = later.to_vec();
        self.scan.offset = self.offset();
    }

    /// Lines of data in the current segment.
    fn feed_lines(&mut self, mut chunk: &[u8]) {
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

    /// Flushes a last line without a newline and waits for a deferred
    /// pattern set, so every line has been matched.
    pub fn finish(self) -> Scan {
        self.finish_for(None, true)
    }

    /// `finish` once the suite's exit code is known (None: it never ended,
    /// or was killed): the suite's lines are matched only if some rule with
    /// a pattern can apply to that code.
    pub fn finish_for(mut self, suite_exit: Option<i32>, always: bool) -> Scan {
        if self.splitter.is_some() && self.segment == Segment::Suite {
            // The stream ended inside the suite's output (the channel lost
            // for good): what followed the last offset marker is the
            // channel's last words, as on a reattach.
            self.disconnect();
        }
        if let Some(mut s) = self.splitter.take() {
            // Bytes held back as a possible marker's start are text.
            let mut rest = Vec::new();
            s.flush(&mut |p| {
                if let Piece::Data(d) = p {
                    rest.extend_from_slice(d)
                }
            });
            self.feed_lines(&rest);
        }
        self.flush();
        if let Some((line, overflow)) = self.parked.take() {
            // Lost for good mid-line: the suite's last words are its own.
            let segment = std::mem::replace(&mut self.segment, Segment::Suite);
            self.partial = line;
            self.partial_overflow = overflow;
            self.flush();
            self.segment = segment;
        }
        let suite_patterns_unused = !always
            && self
                .suite_pattern_use
                .as_ref()
                .is_some_and(|cell| !cell.wait().needed(suite_exit));
        if suite_patterns_unused {
            let p = &mut self.patterns[1];
            p.pending.clear();
            p.pending_bytes = 0;
        }
        // Only a family whose lines are waiting needs its set: a local run
        // never waits for the channel's patterns to compile.
        for f in 0..2 {
            if !self.patterns[f].pending.is_empty()
                && let Some(cell) = self.patterns[f].deferred.clone()
            {
                self.activate(f, cell.get().clone());
            }
        }
        if let Some(mut p) = self.parser.take() {
            p.finish();
            self.scan.suite = Some(p.report().clone());
        }
        self.scan
    }

    fn line(&mut self, raw: &[u8], truncated: bool) {
        let capped = &raw[..raw.len().min(MAX_LINE)];
        let line = capped.strip_suffix(b"\r").unwrap_or(capped);
        let truncated = truncated || raw.len() > MAX_LINE;
        self.segment_line(line, truncated);
    }

    fn apply(&mut self, marker: Marker, echo: &mut Vec<u8>) {
        match &marker {
            Marker::Start { .. } => {
                self.flush();
                self.segment = Segment::Suite;
                self.confirmed = 0;
                self.ahead = 0;
            }
            Marker::Resume { .. } => {
                self.flush();
                self.segment = Segment::Suite;
                self.scan.resumes += 1;
                self.resumed_at = Some(std::time::Instant::now());
                if let Some((line, overflow)) = self.parked.take() {
                    self.partial = line;
                    self.partial_overflow = overflow;
                }
            }
            Marker::At(offset) => {
                if self.segment == Segment::Suite {
                    let expected = self.offset() + self.held.len() as u64;
                    if expected != *offset {
                        self.scan.offset_mismatches += 1;
                    }
                    self.release(self.held.len(), echo);
                    self.confirmed = *offset;
                    self.ahead = 0;
                    self.scan.offset = self.offset();
                }
                return;
            }
            Marker::Cut => {
                self.release(self.held.len(), echo);
                self.scan.cut = true;
            }
            Marker::Gone { .. } => {
                // Nothing more of the suite comes: the rest is the channel's.
                self.release(self.held.len(), echo);
                self.flush();
                self.segment = Segment::After;
            }
            Marker::End { .. } => {
                self.release(self.held.len(), echo);
                self.flush();
                self.scan.end_markers += 1;
                self.segment = Segment::After;
                if let Some(f) = &self.end_seen {
                    f.store(true, Ordering::SeqCst);
                }
            }
            _ => {}
        }
        if self.scan.markers.len() < MAX_MARKERS {
            self.scan.markers.push(marker);
        } else if matches!(marker, Marker::End { .. }) {
            // The last end marker must be kept: it decides the status.
            if let Some(last) = self.scan.markers.last_mut() {
                *last = marker;
            }
        }
    }
}

#[cfg(test)]
mod tests;
