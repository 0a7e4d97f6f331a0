//! TAP 13/14 (testanything.org), read line by line as the suite prints it.
//!
//! Fail closed: the stream must show that it finished. Exactly one plan
//! (`1..N`, first or last), exactly N top-level test points, numbers inside
//! the plan and each used once; otherwise `incomplete` says why. `Bail out!`
//! is the suite saying it could not test (`bailed`), and ends the reading.
//!
//! Only top-level points count: an indented subtest is summarised by its
//! parent's own point, and the inside of a YAML block is data, never TAP.
//! Lines that are not TAP (pragmas, logs, comments) are ignored, as the spec
//! asks; the plan is what catches a suite that died between points.

mod line;

use super::{Status, SuiteParser, SuiteReport, truncate_chars};
use line::{Directive, Point, bail_out, parse_point, unescape, unquote_yaml};
use regex::Regex;
use std::collections::HashSet;
use std::sync::LazyLock;

/// `1..N`, optionally `# reason` (a reason mostly goes with `1..0`).
static PLAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d+)\.\.(\d+)\s*(?:#\s*(.*))?$").expect("valid pattern"));

/// Ids come from descriptions: keep them short enough to read in a table.
const MAX_ID: usize = 200;
/// A YAML `message:` is a detail line, not a document.
const MAX_MESSAGE: usize = 1_000;
/// Test numbers remembered to catch one used twice; past this many the
/// check stops, so a flood of points cannot grow memory without bound.
const MAX_NUMBERS_TRACKED: usize = 100_000;

/// A point counted but not yet in the table: the YAML block that may follow
/// it can still supply its failure message.
struct Pending {
    id: String,
    status: Status,
    detail: String,
    /// The YAML `message:`, which replaces a failure's detail.
    message: String,
}

struct Plan {
    count: u64,
    /// Points seen before the plan: 0 for a leading plan.
    after_points: u64,
    /// The reason of a `1..0 # reason` plan.
    reason: Option<String>,
}

/// An open YAML diagnostic block.
struct Yaml {
    /// Indentation of its `---`: a line indented less ends a block whose
    /// `...` went missing (the recovery the spec's indentation is for).
    indent: usize,
    /// Indentation of `message:` while its block scalar (`|`, `>`) goes on.
    message_block: Option<usize>,
}

/// Streaming TAP reader (see the module docs).
#[derive(Default)]
pub struct TapParser {
    report: SuiteReport,
    plan: Option<Plan>,
    /// Top-level points, skips included: what the plan is checked against.
    points: u64,
    highest: u64,
    numbers: HashSet<u64>,
    pending: Option<Pending>,
    /// The last significant line was a point: an indented `---` now opens
    /// its YAML block (comments and blank lines may come between).
    after_point: bool,
    yaml: Option<Yaml>,
    /// The first breach of TAP's rules that leaves the run unproven.
    problem: Option<String>,
    finished: bool,
}

impl TapParser {
    #[cfg(test)]
    pub fn new() -> TapParser {
        TapParser::default()
    }

    /// Top-level test points seen, skipped ones included.
    #[cfg(test)]
    pub fn points(&self) -> u64 {
        self.points
    }

    /// The reason given by a `1..0 # reason` plan (the whole suite skipped).
    pub fn skip_all_reason(&self) -> Option<&str> {
        self.plan
            .as_ref()
            .filter(|p| p.count == 0)?
            .reason
            .as_deref()
    }

    /// A `not ok` that was overwritten on screen still fails the run.
    fn note_overwritten(&mut self, overwritten: &[Vec<u8>]) {
        for seg in overwritten {
            let seg = String::from_utf8_lossy(seg);
            if parse_point(seg.trim_end()).is_some_and(|p| p.fails()) {
                self.report.failing = true;
            }
        }
    }

    fn tap_line(&mut self, line: &str) {
        let indent = indentation(line);
        let rest = &line[indent..];
        if rest.is_empty() || rest.starts_with('#') {
            return; // blank or comment: a YAML block may still follow a point
        }
        if indent > 0 {
            return self.indented_line(rest, indent);
        }
        self.after_point = false;
        if let Some(point) = parse_point(line) {
            self.point(point);
        } else if let Some(reason) = bail_out(line) {
            self.bail(reason);
        } else if let Some(caps) = PLAN.captures(line) {
            let number = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<u64>().ok());
            let reason = caps.get(3).map(|m| unescape(m.as_str().trim()));
            self.plan(number(1), number(2), line, reason);
        }
        // Anything else (version, pragma, logs) is not TAP the verdict needs.
    }

    /// YAML start, subtest line, or noise. A subtest's points are summed up
    /// by its parent's point, but its `Bail out!` stops the whole run.
    fn indented_line(&mut self, rest: &str, indent: usize) {
        if std::mem::take(&mut self.after_point) && rest == "---" {
            self.yaml = Some(Yaml {
                indent,
                message_block: None,
            });
            return;
        }
        if indent.is_multiple_of(4)
            && let Some(reason) = bail_out(rest)
        {
            self.bail(reason);
        }
    }

    /// Reads a line inside a YAML block; false when the line ended the block
    /// without being part of it (it is then read as TAP).
    fn yaml_line(&mut self, line: &str) -> bool {
        let Some(yaml) = self.yaml.as_mut() else {
            return false;
        };
        let indent = indentation(line);
        let rest = &line[indent..];
        if rest.is_empty() {
            return true; // blank lines belong to the YAML document
        }
        if indent < yaml.indent {
            self.close_yaml();
            return false;
        }
        if indent == yaml.indent && rest == "..." {
            self.close_yaml();
            return true;
        }
        match yaml.message_block {
            Some(key_indent) if indent > key_indent => {
                self.add_message(rest);
                return true;
            }
            Some(_) => yaml.message_block = None,
            None => {}
        }
        if indent == yaml.indent
            && let Some(value) = rest.strip_prefix("message:")
        {
            self.yaml_message(value.trim(), indent);
        }
        true
    }

    /// `message: value`, quoted or plain, or the start of a block scalar
    /// (`|`, `>`, or nothing with the text on the indented lines below).
    fn yaml_message(&mut self, value: &str, indent: usize) {
        if value.is_empty() || value.starts_with(['|', '>']) {
            if let Some(yaml) = self.yaml.as_mut() {
                yaml.message_block = Some(indent);
            }
            return;
        }
        self.add_message(&unquote_yaml(value));
    }

    /// Adds a piece of the YAML message (block scalars come line by line).
    fn add_message(&mut self, text: &str) {
        let Some(pending) = self.pending.as_mut() else {
            return;
        };
        if text.is_empty() || pending.message.chars().count() >= MAX_MESSAGE {
            return; // nothing to add, or already cut at the limit
        }
        if !pending.message.is_empty() {
            pending.message.push(' ');
        }
        pending.message.push_str(text);
        truncate_chars(&mut pending.message, MAX_MESSAGE);
    }

    fn close_yaml(&mut self) {
        self.yaml = None;
        self.flush();
    }

    /// Puts the pending point into the table; a failure's YAML message, if
    /// any, is its detail.
    fn flush(&mut self) {
        if let Some(p) = self.pending.take() {
            let detail = if p.status == Status::Fail && !p.message.is_empty() {
                p.message
            } else {
                p.detail
            };
            self.report.table.record(p.id, p.status, detail);
        }
    }

    fn point(&mut self, point: Point) {
        self.flush();
        self.points += 1;
        self.after_point = true;
        let number = point.number.unwrap_or(self.points);
        self.check_number(number);
        if self.plan.as_ref().is_some_and(|p| p.after_points > 0) {
            self.note_problem("a test point came after the closing plan".into());
        }
        let (status, detail) = status_of(&point);
        if status != Status::Skip {
            self.report.results += 1;
        }
        if status == Status::Fail {
            self.report.failing = true;
        }
        let id = self.unique_id(&point.description, number);
        self.pending = Some(Pending {
            id,
            status,
            detail,
            message: String::new(),
        });
    }

    /// Numbers must sit inside the plan and be used once: `1..2` with
    /// `ok 1` twice does not show that test 2 ran.
    fn check_number(&mut self, number: u64) {
        if number == 0 {
            self.note_problem("test number 0 is outside any plan".into());
        }
        self.highest = self.highest.max(number);
        if self.numbers.len() < MAX_NUMBERS_TRACKED && !self.numbers.insert(number) {
            self.note_problem(format!("test number {number} was reported twice"));
        }
    }

    /// The description if it is new, else `description #N`, else `test N`.
    fn unique_id(&self, description: &str, number: u64) -> String {
        let mut base = description.to_string();
        truncate_chars(&mut base, MAX_ID);
        let numbered = format!("test {number}");
        let candidates = if base.is_empty() {
            vec![numbered]
        } else {
            vec![base.clone(), format!("{base} #{number}"), numbered]
        };
        let taken = |id: &str| self.report.table.checks.iter().any(|c| c.id == id);
        let fallback = candidates.last().cloned().unwrap_or_default();
        candidates
            .into_iter()
            .find(|id| !taken(id))
            .unwrap_or(fallback)
    }

    fn plan(&mut self, first: Option<u64>, count: Option<u64>, line: &str, reason: Option<String>) {
        self.flush();
        // Quoted in the reason; a plan's comment can be long.
        let mut line = line.to_string();
        truncate_chars(&mut line, 60);
        if let Some(old) = &self.plan {
            let old = old.count;
            return self.note_problem(format!("a second plan `{line}` after 1..{old}"));
        }
        let (Some(1), Some(count)) = (first, count) else {
            return self.note_problem(format!("plan `{line}` is not of the form 1..N"));
        };
        self.plan = Some(Plan {
            count,
            after_points: self.points,
            reason,
        });
    }

    fn bail(&mut self, reason: String) {
        self.flush();
        let reason = if reason.is_empty() {
            "no reason given".to_string()
        } else {
            reason
        };
        self.report.bailed = Some(reason);
    }

    fn note_problem(&mut self, problem: String) {
        self.problem.get_or_insert(problem);
    }

    /// Why the output does not show a finished run, if it does not.
    fn incompleteness(&self) -> Option<String> {
        if let Some(problem) = &self.problem {
            return Some(problem.clone());
        }
        let Some(plan) = &self.plan else {
            return Some(format!(
                "no TAP plan (1..N) in the output ({} test points seen)",
                self.points
            ));
        };
        if self.points != plan.count {
            return Some(format!("planned {} tests, saw {}", plan.count, self.points));
        }
        if self.highest > plan.count {
            return Some(format!(
                "test number {} is outside the plan 1..{}",
                self.highest, plan.count
            ));
        }
        if self.yaml.is_some() {
            return Some("the output ends inside a YAML block (no closing `...`)".into());
        }
        None
    }
}

impl SuiteParser for TapParser {
    fn line(&mut self, shown: &[u8], overwritten: &[Vec<u8>]) {
        if self.finished || self.report.bailed.is_some() {
            return; // nothing after a bail-out is trusted
        }
        self.note_overwritten(overwritten);
        let text = String::from_utf8_lossy(shown);
        let line = text.trim_end();
        if !self.yaml_line(line) {
            self.tap_line(line);
        }
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.flush();
        // `1..0 # reason`: the suite chose to test nothing; say why in the
        // table (a skip is never evidence, so this is no SUCCESS).
        if let Some(reason) = self.skip_all_reason().map(str::to_string) {
            self.report
                .table
                .record("(all tests)".into(), Status::Skip, reason);
        }
        if self.report.bailed.is_none() && self.report.incomplete.is_none() {
            self.report.incomplete = self.incompleteness();
        }
    }

    fn report(&self) -> &SuiteReport {
        &self.report
    }
}

/// Leading spaces (TAP indents with spaces; a tab is not indentation).
fn indentation(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The table entry for a point: TODO failures and skips are not failures.
fn status_of(p: &Point) -> (Status, String) {
    match (p.ok, p.directive) {
        (_, Directive::Skip) => (Status::Skip, p.reason.clone()),
        (false, Directive::Todo) => (Status::Todo, p.reason.clone()),
        (true, Directive::Todo) if p.reason.is_empty() => (Status::Pass, "TODO passed".into()),
        (true, Directive::Todo) => (Status::Pass, format!("TODO passed: {}", p.reason)),
        (true, Directive::None) => (Status::Pass, String::new()),
        (false, Directive::None) if p.description.is_empty() => (Status::Fail, "not ok".into()),
        (false, Directive::None) => (Status::Fail, p.description.clone()),
    }
}

#[cfg(test)]
mod tests;
