//! One TAP document: the stream itself, or a subtest nested in it (4
//! spaces deeper per level, streamed or buffered in `{ … }`). Lines are
//! routed as the reference parser routes them (tap-parser 13's `parse`
//! and `parseIndent`): a line indented 4 more belongs to the open subtest,
//! a line under a point may open its YAML block, and a 4-space indented
//! TAP line opens a subtest. This half is the routing; `points` reads the
//! lines that count.

mod points;

use super::line::{self, Kind};
use super::yaml::Yaml;
use crate::suite::{CheckTable, Status, truncate_chars};
use points::Pending;
pub(super) use points::Plan;
use std::collections::HashSet;

/// Subtests deeper than this are not followed (each level is a frame of
/// recursion and a document in memory): the run is then unproven.
const MAX_DEPTH: usize = 32;

/// What a finished subtest tells the point that closes it.
pub(super) struct Outcome {
    name: String,
    buffered: bool,
    /// Its failing points (and those of its own subtests), first ones kept.
    failures: Vec<crate::suite::Check>,
    /// Failing points beyond those kept.
    more: u64,
    /// Why it does not show that it finished (no plan, plan not met…).
    problem: Option<Problem>,
}

/// A breach of TAP's rules that leaves the run unproven, and the subtests
/// (outermost first) it happened in.
#[derive(Clone)]
pub(super) struct Problem {
    path: Vec<String>,
    text: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path.as_slice() {
            [] => f.write_str(&self.text),
            path => write!(f, "subtest `{}`: {}", path.join(" › "), self.text),
        }
    }
}

impl Outcome {
    fn failing(&self) -> bool {
        !self.failures.is_empty() || self.more > 0
    }
}

pub(super) struct Doc {
    pub(super) level: usize,
    /// A subtest's name (its `# Subtest:` comment or buffered point).
    name: String,
    strict: bool,
    /// A `{ … }` subtest, closed by `}`.
    buffered: bool,
    /// The stream's checks; a subtest keeps only its failing ones.
    pub(super) table: CheckTable,
    /// A failing point, here or in a subtest, or a strict-mode breach.
    pub(super) failing: bool,
    /// Points that are not skips: evidence that something was tested.
    pub(super) results: u64,
    /// Points, skips included: what the plan is checked against.
    pub(super) points: u64,
    pub(super) plan: Option<Plan>,
    /// A plan came after points (or was `1..0`): only comments may follow.
    post_plan: bool,
    highest: u64,
    numbers: HashSet<u64>,
    /// The last point, until what may follow it (YAML, `{`) is known.
    current: Option<Pending>,
    yaml: Option<Yaml>,
    child: Option<Box<Doc>>,
    /// A `# Subtest…` comment whose subtest has not started yet.
    maybe_child: Option<String>,
    /// The first breach of TAP's rules that leaves the run unproven.
    problem: Option<Problem>,
    /// Subtests went deeper than MAX_DEPTH here or below.
    pub(super) too_deep: bool,
    pub(super) bailed: Option<String>,
    /// A strict-mode breach is already the check that says so.
    strict_breach: bool,
    /// The number of the line being read, for what is said about it.
    line_no: u64,
    /// The first line that is a plan but for its spaces, for saying why
    /// there is no plan.
    near_plan: Option<String>,
}

impl Doc {
    pub(super) fn root() -> Doc {
        Doc::new(0, String::new(), false, false)
    }

    fn new(level: usize, name: String, strict: bool, buffered: bool) -> Doc {
        Doc {
            level,
            name,
            strict,
            buffered,
            table: CheckTable::default(),
            failing: false,
            results: 0,
            points: 0,
            plan: None,
            post_plan: false,
            highest: 0,
            numbers: HashSet::new(),
            current: None,
            yaml: None,
            child: None,
            maybe_child: None,
            problem: None,
            too_deep: false,
            bailed: None,
            strict_breach: false,
            line_no: 0,
            near_plan: None,
        }
    }

    /// One line, without its newline; `no` is its number in the stream.
    pub(super) fn parse(&mut self, line: &str, no: u64) {
        if self.bailed.is_some() {
            return; // nothing after a bail-out is trusted
        }
        self.line_no = no;
        if line.is_empty() {
            return self.blank();
        }
        // A subtest skips version lines (many producers repeat them there).
        if self.level > 0 && self.yaml.is_none() && line::is_version(line) {
            return;
        }
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if indent > 0 {
            return self.indented(line, indent);
        }
        if line == "}" && self.child.as_ref().is_some_and(|c| c.buffered) {
            return self.flush();
        }
        if line == "{"
            && self.child.is_none()
            && let Some(current) = self.current.as_mut()
            && current.diag_truthy
            && !current.buffered
        {
            current.buffered = true; // `ok 1 - name`, its YAML, then `{`
            return;
        }
        let Some(kind) = line::kind(line) else {
            return self.non_tap(line);
        };
        if matches!(kind, Kind::Comment) {
            return;
        }
        if self.yaml.is_some() {
            self.yaml_garbage();
        }
        self.maybe_child = None;
        if self.post_plan {
            if matches!(kind, Kind::Point(_)) {
                self.note_problem(self.point_after_plan());
            }
            return self.non_tap(line);
        }
        self.tap(kind, line);
    }

    fn tap(&mut self, kind: Kind, line: &str) {
        match kind {
            Kind::Point(point) => self.point(point),
            Kind::BailOut(reason) => self.bail(reason),
            Kind::Pragma { on, key } => self.pragma(on, &key, line),
            Kind::Version(version) => self.version(version, line),
            Kind::Plan { start, end, reason } => self.plan(start, end, reason, line),
            Kind::Subtest(name) => self.maybe_child = Some(name),
            Kind::Comment => {}
        }
    }

    /// An empty line belongs to the open subtest or YAML block, if any.
    fn blank(&mut self) {
        if let Some(child) = self.child.as_mut() {
            child.parse("", self.line_no);
            return self.after_child();
        }
        if let Some(yaml) = self.yaml.as_mut() {
            let line = yaml.indent.clone();
            yaml.line(&line);
        }
    }

    /// A line that starts with spaces or tabs: the open subtest's, YAML,
    /// a new subtest, a comment, or not TAP.
    fn indented(&mut self, line: &str, indent: usize) {
        if let Some(child) = self.child.as_mut()
            && let Some(inner) = line.strip_prefix("    ")
        {
            child.parse(inner, self.line_no);
            return self.after_child();
        }
        if let Some(yaml) = self.yaml.as_mut() {
            if line.starts_with(yaml.indent.as_str()) {
                if yaml.line(line) {
                    self.close_yaml();
                }
                return;
            }
            self.yaml_garbage(); // indented less: the block was not YAML
        }
        if self.current.is_some() && &line[indent..] == "---" {
            self.yaml = Some(Yaml::new(&line[..indent]));
            return;
        }
        if line.starts_with("    ") && self.opens_subtest(line) {
            return self.start_child(line);
        }
        if !line::is_comment(line) {
            self.non_tap(line);
        }
    }

    /// Whether an indented line starts a subtest: one was announced, a
    /// buffered point waits for its body, or the line is TAP at a
    /// multiple of 4 spaces (a comment there is just a comment).
    fn opens_subtest(&self, line: &str) -> bool {
        let waiting = self.maybe_child.is_some()
            || self.current.as_ref().is_some_and(|c| c.buffered)
            || line::subtest_indent(line).is_some();
        if waiting {
            return true;
        }
        let spaces = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[spaces / 4 * 4..];
        !rest.starts_with(' ') && line::kind(rest).is_some_and(|k| !matches!(k, Kind::Comment))
    }

    fn start_child(&mut self, line: &str) {
        let buffered = self.current.as_ref().is_some_and(|c| c.buffered);
        let announced = !buffered && self.maybe_child.is_some();
        let named_here = (!buffered && !announced)
            .then(|| line::subtest_indent(line))
            .flatten();
        if !buffered {
            self.flush();
        }
        if self.level + 1 > MAX_DEPTH {
            self.too_deep = true;
            return;
        }
        let name = match (&named_here, self.current.as_ref()) {
            (Some(name), _) => name.clone(),
            (None, Some(current)) if buffered => current.name.clone(),
            _ => self.maybe_child.take().unwrap_or_default(),
        };
        self.maybe_child = None;
        let child = Doc::new(self.level + 1, name, self.strict, buffered);
        let no = self.line_no;
        let child = self.child.insert(Box::new(child));
        if named_here.is_none() {
            child.parse(&line[4..], no);
        }
        self.after_child();
    }

    /// A subtest's `Bail out!` stops the whole run; nesting too deep
    /// anywhere is the run's problem.
    fn after_child(&mut self) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        self.too_deep |= child.too_deep;
        if let Some(reason) = child.bailed.clone() {
            self.bail(reason);
        }
    }

    /// The open subtest, finished: what it tells its closing point.
    fn end_child(&mut self) -> Option<Outcome> {
        let mut child = self.child.take()?;
        Some(child.outcome())
    }

    fn outcome(&mut self) -> Outcome {
        if self.yaml.as_ref().is_some_and(|y| !y.is_empty()) {
            self.yaml_garbage();
        }
        self.flush();
        let failures: Vec<_> = self
            .table
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .take(crate::suite::MAX_FAILED_KEPT)
            .cloned()
            .collect();
        let failed = self.table.counts().fail as u64 + self.table.dropped_fail;
        Outcome {
            name: std::mem::take(&mut self.name),
            buffered: self.buffered,
            more: failed.saturating_sub(failures.len() as u64),
            failures,
            problem: self.problem(),
        }
    }

    fn close_yaml(&mut self) {
        let Some(yaml) = self.yaml.take() else {
            return;
        };
        let diag = yaml.read();
        if !diag.valid {
            return self.non_tap("a YAML block that is not YAML");
        }
        if let Some(current) = self.current.as_mut() {
            current.diag_truthy = diag.truthy;
            if let Some(message) = diag.message {
                current.message = message;
            }
        }
    }

    /// A YAML block that TAP interrupted: not YAML after all. Its message
    /// still explains its point's failure.
    pub(super) fn yaml_garbage(&mut self) {
        let Some(yaml) = self.yaml.take() else {
            return;
        };
        if let (Some(message), Some(current)) = (yaml.read().message, self.current.as_mut()) {
            current.message = message;
        }
        self.flush();
        self.non_tap("a YAML block without its closing `...`");
    }

    /// Not TAP: ignored, as the spec asks, unless `pragma +strict` is on,
    /// where it fails the stream (the first such line is the check).
    pub(super) fn non_tap(&mut self, line: &str) {
        if self.near_plan.is_none() && line::is_plan(line.trim()) {
            self.near_plan = Some(format!("line {} `{line}`", self.line_no));
        }
        if !self.strict || std::mem::replace(&mut self.strict_breach, true) {
            return;
        }
        let mut shown = line.trim().to_string();
        truncate_chars(&mut shown, 80);
        let no = self.line_no;
        self.failing = true;
        self.table.record(
            STRICT_ID.into(),
            Status::Fail,
            format!("line {no} is not TAP while `pragma +strict` is on: `{shown}`"),
        );
    }

    /// `pragma +strict` / `-strict` (other keys are the producer's own);
    /// inside an open subtest it is not TAP.
    fn pragma(&mut self, on: bool, key: &str, line: &str) {
        if self.child.is_some() {
            return self.non_tap(line);
        }
        self.flush();
        if key == "strict" {
            self.strict = on;
        }
    }

    /// A version line is TAP only first, and only for TAP 13 and later.
    fn version(&mut self, version: u64, line: &str) {
        let first = self.plan.is_none() && self.points == 0 && self.current.is_none();
        if version < 13 || !first {
            self.non_tap(line);
        }
    }

    pub(super) fn bail(&mut self, reason: String) {
        self.flush();
        self.bailed = Some(if reason.is_empty() {
            "no reason given".into()
        } else {
            reason
        });
    }

    pub(super) fn note_problem(&mut self, text: String) {
        self.note(Problem {
            path: Vec::new(),
            text,
        });
    }

    fn note(&mut self, problem: Problem) {
        self.problem.get_or_insert(problem);
    }
}

/// The check a strict-mode breach is reported as.
const STRICT_ID: &str = "pragma +strict";
