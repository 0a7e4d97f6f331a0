//! TAP 13/14 (testanything.org), read line by line as the suite prints it,
//! the way the TAP authors' reference parser (tap-parser 13, node-tap's)
//! reads it; `docs/suite-formats.md` lists where stagerun is stricter.
//!
//! Fail closed: the stream must show that it finished. Exactly one plan
//! (`1..N`, first or last), exactly N top-level test points, numbers inside
//! the plan and each used once; otherwise `incomplete` says why. `Bail out!`
//! (at any depth) is the suite saying it could not test (`bailed`), and
//! ends the reading.
//!
//! Subtests (indented 4 spaces per level, streamed or buffered in
//! `{ … }`) are documents of their own, summarised by the parent point
//! that closes them. Only top-level points are evidence, but a subtest's
//! result reaches its parent: a failing (non-TODO) point inside it fails
//! the run even when the parent says `ok` (parent and child disagree), and
//! a subtest that does not finish (no plan, plan not met) leaves the run
//! unproven. Lines that are not TAP are ignored, as the spec asks, unless
//! `pragma +strict` is on: then they fail the stream. The inside of a YAML
//! block is data, never TAP.

mod doc;
mod line;
mod yaml;

use super::{Status, SuiteParser, SuiteReport};
use doc::Doc;

/// Streaming TAP reader (see the module docs). Its report is complete
/// once `finish` has run.
pub struct TapParser {
    doc: Doc,
    report: SuiteReport,
    /// A `not ok` drawn over by a carriage return still fails the run.
    overwritten_failure: bool,
    lines: u64,
    finished: bool,
}

impl Default for TapParser {
    fn default() -> Self {
        TapParser {
            doc: Doc::root(),
            report: SuiteReport::default(),
            overwritten_failure: false,
            lines: 0,
            finished: false,
        }
    }
}

impl TapParser {
    #[cfg(test)]
    pub fn new() -> TapParser {
        TapParser::default()
    }

    /// Top-level test points seen, skipped ones included.
    #[cfg(test)]
    pub fn points(&self) -> u64 {
        self.doc.points
    }

    /// The reason given by a `1..0 # reason` plan (the whole suite skipped).
    pub fn skip_all_reason(&self) -> Option<&str> {
        let plan = self.doc.plan.as_ref().filter(|p| p.count == 0)?;
        Some(plan.reason.as_str()).filter(|r| !r.is_empty())
    }

    fn note_overwritten(&mut self, overwritten: &[Vec<u8>]) {
        for seg in overwritten {
            let seg = String::from_utf8_lossy(seg);
            if line::parse_point(seg.trim_end()).is_some_and(|p| p.fails()) {
                self.overwritten_failure = true;
            }
        }
    }
}

impl SuiteParser for TapParser {
    fn line(&mut self, shown: &[u8], overwritten: &[Vec<u8>]) {
        if self.finished || self.doc.bailed.is_some() {
            return; // nothing after a bail-out is trusted
        }
        self.lines += 1;
        self.note_overwritten(overwritten);
        let text = String::from_utf8_lossy(shown);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        self.doc.parse(text, self.lines);
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        if self.doc.bailed.is_none() {
            self.doc.finish_root();
        }
        let mut table = std::mem::take(&mut self.doc.table);
        // `1..0 # reason`: the suite chose to test nothing; say why in the
        // table (a skip is never evidence, so this is no SUCCESS).
        if let Some(reason) = self.skip_all_reason().map(str::to_string) {
            table.record("(all tests)".into(), Status::Skip, reason);
        }
        self.report = SuiteReport {
            table,
            results: self.doc.results,
            failing: self.doc.failing || self.overwritten_failure,
            bailed: self.doc.bailed.clone(),
            incomplete: match self.doc.bailed {
                Some(_) => None,
                None => self.doc.incompleteness(),
            },
            ..SuiteReport::default()
        };
    }

    fn report(&self) -> &SuiteReport {
        &self.report
    }
}

#[cfg(test)]
mod tests;
