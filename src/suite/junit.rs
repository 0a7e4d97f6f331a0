//! A JUnit XML report, read once the run is over (the suite's stdout is not
//! parsed: `NoLines`). One streaming pass with quick-xml; no DOM is built,
//! so a large report costs no more memory than its bytes.
//!
//! Fail closed: the report must be whole and must agree with itself. An
//! empty, oversized, malformed or truncated file, one with no `<testsuite>`
//! or no `<testcase>`, or a `<testsuite>` whose `tests=`/`failures=`/
//! `errors=`/`skipped=` disagree with the testcases under it, leaves
//! `incomplete` set with the reason. Whatever was read before the fault is
//! still in the table, for the log.

mod xml;

use super::{Status, SuiteReport, truncate_chars};
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use xml::{attributes, get, resolve_ref};

/// Enough of a `<failure>` body to find its first line; tracebacks can be
/// long and only one line becomes the detail.
const MAX_TEXT: usize = 4_096;
/// A check id is `classname.name`; keep it readable in the table.
const MAX_ID: usize = 200;

/// Reads a JUnit XML report. `errors_fail`: an `<error>` is a failure
/// (`junit_errors: fail`) rather than a reason to hold (`Status::Error`,
/// `errored`). Never panics; a report that cannot be trusted as complete
/// comes back with `incomplete` set.
pub fn parse_report(xml: &[u8], errors_fail: bool, max_bytes: usize) -> SuiteReport {
    if let Some(reason) = refusal(xml, max_bytes) {
        return SuiteReport {
            incomplete: Some(reason),
            ..SuiteReport::default()
        };
    }
    let mut walk = Walk::new(errors_fail);
    let outcome = walk.run(xml);
    walk.finish(outcome)
}

/// Inputs not worth parsing.
fn refusal(xml: &[u8], max_bytes: usize) -> Option<String> {
    if xml.len() > max_bytes {
        return Some(format!(
            "JUnit report is {} bytes, over the {max_bytes}-byte limit",
            xml.len()
        ));
    }
    if xml.trim_ascii().is_empty() {
        return Some("JUnit report is empty".into());
    }
    // NUL is not allowed in XML; a UTF-16 report is full of them.
    if memchr::memchr(0, xml).is_some() {
        return Some("JUnit report has NUL bytes (UTF-16?); it must be UTF-8".into());
    }
    None
}

/// The counts a suite declares or that its testcases add up to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    tests: u64,
    failures: u64,
    errors: u64,
    skipped: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.tests += other.tests;
        self.failures += other.failures;
        self.errors += other.errors;
        self.skipped += other.skipped;
    }

    fn get(&self, key: &str) -> u64 {
        match key {
            "tests" => self.tests,
            "failures" => self.failures,
            "errors" => self.errors,
            _ => self.skipped,
        }
    }
}

const COUNT_KEYS: [&str; 4] = ["tests", "failures", "errors", "skipped"];

/// An open `<testsuite>` or `<testsuites>`.
struct Suite {
    label: String,
    /// Count attributes as written (a non-number is a disagreement too).
    declared: Vec<(&'static str, String)>,
    /// What the testcases under it, nested suites included, add up to.
    found: Tally,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Failure,
    Error,
    Skipped,
}

/// An open `<failure>`, `<error>` or `<skipped>`, collecting its text in
/// case it has no `message=`.
struct Element {
    outcome: Outcome,
    message: Option<String>,
    kind: Option<String>,
    text: String,
}

/// An open `<testcase>`: the first detail of each outcome it reported.
#[derive(Default)]
struct Case {
    id: String,
    failure: Option<String>,
    error: Option<String>,
    skipped: Option<String>,
    tally: Tally,
}

impl Case {
    fn showed_outcome(&self) -> bool {
        self.failure.is_some() || self.error.is_some() || self.skipped.is_some()
    }
}

struct Walk {
    errors_fail: bool,
    report: SuiteReport,
    /// Open elements, to tell a truncated document from a whole one.
    depth: usize,
    roots: usize,
    suites: Vec<Suite>,
    testsuites_seen: u64,
    testcases: u64,
    case: Option<Case>,
    element: Option<Element>,
    /// The first thing that makes the report untrustworthy.
    problem: Option<String>,
}

impl Walk {
    fn new(errors_fail: bool) -> Walk {
        Walk {
            errors_fail,
            report: SuiteReport::default(),
            depth: 0,
            roots: 0,
            suites: Vec::new(),
            testsuites_seen: 0,
            testcases: 0,
            case: None,
            element: None,
            problem: None,
        }
    }

    /// Feeds every event; Err is a reason to stop reading.
    fn run(&mut self, xml: &[u8]) -> Result<(), String> {
        let mut reader = Reader::from_reader(xml);
        loop {
            let event = reader
                .read_event()
                .map_err(|e| format!("malformed XML at byte {}: {e}", reader.error_position()))?;
            match event {
                Event::Start(e) => {
                    self.open(&e)?;
                    self.depth += 1;
                }
                Event::Empty(e) => {
                    self.open(&e)?;
                    self.close(e.local_name().as_ref());
                }
                Event::End(e) => {
                    self.depth = self.depth.saturating_sub(1);
                    self.close(e.local_name().as_ref());
                }
                Event::Text(t) => self.text(&t.xml10_content()),
                Event::CData(c) => self.text(&c.xml10_content()),
                Event::GeneralRef(r) => self.text(&resolve_ref(&r)),
                Event::Eof => return Ok(()),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }

    fn open(&mut self, e: &BytesStart) -> Result<(), String> {
        let name = e.local_name();
        let name = name.as_ref();
        if self.depth == 0 {
            self.root(name)?;
        }
        match name {
            "testsuites" | "testsuite" => self.open_suite(e, name)?,
            "testcase" => self.open_case(e)?,
            "failure" | "error" | "skipped" => self.open_element(e, name)?,
            _ => {} // properties, system-out, system-err, …: nothing to count
        }
        Ok(())
    }

    /// One root, and a JUnit one: two reports glued together, or an HTML
    /// error page saved as the report, are not a report.
    fn root(&mut self, name: &str) -> Result<(), String> {
        self.roots += 1;
        if self.roots > 1 {
            return Err("more than one root element (two reports in one file?)".into());
        }
        if !matches!(name, "testsuites" | "testsuite") {
            let mut name = name.to_string();
            truncate_chars(&mut name, 40);
            return Err(format!(
                "root element is <{name}>, not <testsuites> or <testsuite>"
            ));
        }
        Ok(())
    }

    fn open_suite(&mut self, e: &BytesStart, name: &str) -> Result<(), String> {
        let attrs = attributes(e)?;
        let declared = COUNT_KEYS
            .into_iter()
            .filter_map(|key| Some((key, get(&attrs, key)?)))
            .collect();
        let label = match get(&attrs, "name") {
            Some(mut n) => {
                truncate_chars(&mut n, 60);
                format!("<{name} name=\"{n}\">")
            }
            None => format!("<{name}>"),
        };
        if name == "testsuite" {
            self.testsuites_seen += 1;
        }
        self.suites.push(Suite {
            label,
            declared,
            found: Tally::default(),
        });
        Ok(())
    }

    fn open_case(&mut self, e: &BytesStart) -> Result<(), String> {
        if self.case.is_some() {
            return Err("a <testcase> inside a <testcase>".into());
        }
        self.testcases += 1;
        let attrs = attributes(e)?;
        let name = get(&attrs, "name").filter(|n| !n.is_empty());
        let classname = get(&attrs, "classname").filter(|c| !c.is_empty());
        // A nameless testcase is still a result; its position names it.
        let name = name.unwrap_or_else(|| format!("testcase {}", self.testcases));
        let mut id = match classname {
            Some(class) => format!("{class}.{name}"),
            None => name,
        };
        truncate_chars(&mut id, MAX_ID);
        self.case = Some(Case {
            id,
            tally: Tally {
                tests: 1,
                ..Tally::default()
            },
            ..Case::default()
        });
        Ok(())
    }

    fn open_element(&mut self, e: &BytesStart, name: &str) -> Result<(), String> {
        if self.case.is_none() || self.element.is_some() {
            return Ok(()); // outside a testcase it reports nothing
        }
        let outcome = match name {
            "failure" => Outcome::Failure,
            "error" => Outcome::Error,
            _ => Outcome::Skipped,
        };
        let attrs = attributes(e)?;
        self.element = Some(Element {
            outcome,
            message: get(&attrs, "message"),
            kind: get(&attrs, "type"),
            text: String::new(),
        });
        Ok(())
    }

    fn text(&mut self, text: &str) {
        if let Some(el) = self.element.as_mut()
            && el.text.len() < MAX_TEXT
        {
            el.text.push_str(text);
        }
    }

    fn close(&mut self, name: &str) {
        match name {
            "failure" | "error" | "skipped" => self.close_element(),
            "testcase" => self.close_case(),
            "testsuites" | "testsuite" => self.close_suite(),
            _ => {}
        }
    }

    fn close_element(&mut self) {
        let (Some(el), Some(case)) = (self.element.take(), self.case.as_mut()) else {
            return;
        };
        let detail = element_detail(&el);
        let (slot, count) = match el.outcome {
            Outcome::Failure => (&mut case.failure, &mut case.tally.failures),
            Outcome::Error => (&mut case.error, &mut case.tally.errors),
            Outcome::Skipped => (&mut case.skipped, &mut case.tally.skipped),
        };
        *count += 1;
        slot.get_or_insert(detail);
    }

    fn close_case(&mut self) {
        let Some(case) = self.case.take() else {
            return;
        };
        if let Some(suite) = self.suites.last_mut() {
            suite.found.add(case.tally);
        }
        let (status, detail) = self.verdict(&case);
        match status {
            Status::Fail => self.report.failing = true,
            Status::Error => self.report.errored = true,
            _ => {}
        }
        if status != Status::Skip {
            self.report.results += 1;
        }
        record_worst(&mut self.report, case.id, status, detail);
    }

    /// A failure outranks an error, which outranks a skip.
    fn verdict(&self, case: &Case) -> (Status, String) {
        if let Some(detail) = &case.failure {
            return (Status::Fail, detail.clone());
        }
        if let Some(detail) = &case.error {
            let status = if self.errors_fail {
                Status::Fail
            } else {
                Status::Error
            };
            return (status, detail.clone());
        }
        if let Some(detail) = &case.skipped {
            return (Status::Skip, detail.clone());
        }
        (Status::Pass, String::new())
    }

    fn close_suite(&mut self) {
        let Some(suite) = self.suites.pop() else {
            return;
        };
        if let Some(parent) = self.suites.last_mut() {
            parent.found.add(suite.found);
        }
        if let Some(disagreement) = disagreement(&suite) {
            self.problem.get_or_insert(disagreement);
        }
    }

    /// The report, with the first reason it cannot be trusted, if any.
    fn finish(mut self, outcome: Result<(), String>) -> SuiteReport {
        // Cut off inside a testcase: a failure it showed still counts, but it
        // never showed that it passed.
        self.close_element();
        if self.case.as_ref().is_some_and(Case::showed_outcome) {
            self.close_case();
        }
        self.report.incomplete = self.distrust(outcome);
        self.report
    }

    fn distrust(&mut self, outcome: Result<(), String>) -> Option<String> {
        if let Err(reason) = outcome {
            return Some(reason);
        }
        if self.depth > 0 {
            return Some("the report ends before its elements close (truncated)".into());
        }
        if let Some(problem) = self.problem.take() {
            return Some(problem);
        }
        if self.testsuites_seen == 0 {
            return Some("no <testsuite> element in the report".into());
        }
        if self.testcases == 0 {
            return Some("the report has no <testcase>: no test ran".into());
        }
        None
    }
}

/// `tests=3 failures=1` against what was found, or None when they agree.
fn disagreement(suite: &Suite) -> Option<String> {
    let mut says = Vec::new();
    let mut found = Vec::new();
    for (key, value) in &suite.declared {
        let actual = suite.found.get(key);
        if value.trim().parse::<u64>().ok() != Some(actual) {
            says.push(format!("{key}={value}"));
            found.push(format!("{key}={actual}"));
        }
    }
    if says.is_empty() {
        return None;
    }
    Some(format!(
        "{}: report says {}, found {}",
        suite.label,
        says.join(" "),
        found.join(" ")
    ))
}

/// A testcase reported twice (pytest writes a failing call and its teardown
/// error as two `<testcase>`s of one name) keeps its worst status. It goes
/// through `record` all the same, so `failed_seen` and the caps apply.
fn record_worst(report: &mut SuiteReport, id: String, status: Status, detail: String) {
    let rank = |s: Status| match s {
        Status::Fail => 4,
        Status::Error => 3,
        Status::Pass | Status::Todo | Status::Waived => 2,
        Status::Skip => 1,
    };
    let before = report.table.checks.iter().find(|c| c.id == id).cloned();
    report.table.record(id.clone(), status, detail);
    if let Some(old) = before.filter(|old| rank(old.status) > rank(status))
        && let Some(slot) = report.table.checks.iter_mut().find(|c| c.id == id)
    {
        *slot = old;
    }
}

/// `message=` if present, else the first non-blank line of the body, else
/// `type=`; one line, whatever the report put in it.
fn element_detail(el: &Element) -> String {
    let from_text = || {
        el.text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    };
    let detail = el
        .message
        .clone()
        .filter(|m| !m.trim().is_empty())
        .or_else(from_text)
        .or_else(|| el.kind.clone())
        .unwrap_or_default();
    one_line(&detail)
}

/// Newlines and runs of whitespace become one space.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
