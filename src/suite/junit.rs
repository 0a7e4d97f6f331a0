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

use super::{Status, SuiteReport, truncate_chars};
use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

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

/// An element's attributes, entities decoded. Read all at once so that a
/// malformed or duplicated attribute is an error, not a silent first pick;
/// a reference the XML spec does not define (no DTD is read) stays as
/// written rather than being lost.
fn attributes(e: &BytesStart) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| {
            format!(
                "malformed attribute in <{}>: {err}",
                e.local_name().as_ref()
            )
        })?;
        let value = match attr.normalized_value(XmlVersion::Implicit1_0) {
            Ok(v) => v.into_owned(),
            Err(_) => attr.value.into_owned(),
        };
        out.push((attr.key.local_name().as_ref().to_string(), value));
    }
    Ok(out)
}

fn get(attrs: &[(String, String)], key: &str) -> Option<String> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// `&lt;`, `&#10;`, `&#x41;` in text; an unknown entity stays as written.
fn resolve_ref(r: &BytesRef) -> String {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return c.to_string();
    }
    match resolve_predefined_entity(r) {
        Some(s) => s.to_string(),
        None => format!("&{};", &**r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const MAX: usize = 1 << 20;

    fn parse(xml: &str) -> SuiteReport {
        parse_report(xml.as_bytes(), false, MAX)
    }

    fn fixture(name: &str, errors_fail: bool) -> SuiteReport {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join("suites")
            .join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        parse_report(&bytes, errors_fail, MAX)
    }

    fn table(r: &SuiteReport) -> Vec<(&str, Status, &str)> {
        r.table
            .checks
            .iter()
            .map(|c| (c.id.as_str(), c.status, c.detail.as_str()))
            .collect()
    }

    #[test]
    fn all_pass() {
        let r = parse(
            r#"<?xml version="1.0"?>
            <testsuites><testsuite name="s" tests="2" failures="0" errors="0" skipped="0">
              <properties><property name="env" value="staging"/></properties>
              <testcase classname="pkg.Mod" name="test_a" time="0.1"><system-out>hi</system-out></testcase>
              <testcase name="bare"/>
            </testsuite></testsuites>"#,
        );
        assert_eq!(r.incomplete, None);
        assert_eq!((r.results, r.failing, r.errored), (2, false, false));
        assert_eq!(
            table(&r),
            [
                ("pkg.Mod.test_a", Status::Pass, ""),
                ("bare", Status::Pass, "")
            ]
        );
    }

    #[test]
    fn failure_message_attribute_and_text() {
        let r = parse(
            r#"<testsuite tests="3" failures="3">
              <testcase classname="c" name="attr"><failure message="expected &lt;1&gt; &amp; got &quot;2&quot;" type="AssertionError">trace</failure></testcase>
              <testcase classname="c" name="text"><failure><![CDATA[
                first <line> & more
                second line]]></failure></testcase>
              <testcase classname="c" name="type"><failure type="Boom"/></testcase>
            </testsuite>"#,
        );
        assert_eq!(r.incomplete, None);
        assert!(r.failing);
        assert_eq!(
            table(&r),
            [
                ("c.attr", Status::Fail, "expected <1> & got \"2\""),
                ("c.text", Status::Fail, "first <line> & more"),
                ("c.type", Status::Fail, "Boom"),
            ]
        );
    }

    #[test]
    fn error_under_both_policies() {
        let xml = r#"<testsuite tests="2" errors="1"><testcase name="ok"/><testcase classname="c" name="e"><error message="setup broke">tb</error></testcase></testsuite>"#;
        let hold = parse_report(xml.as_bytes(), false, MAX);
        assert_eq!((hold.failing, hold.errored, hold.results), (false, true, 2));
        assert_eq!(table(&hold)[1], ("c.e", Status::Error, "setup broke"));
        assert_eq!(hold.incomplete, None);
        let fail = parse_report(xml.as_bytes(), true, MAX);
        assert_eq!((fail.failing, fail.errored), (true, false));
        assert_eq!(table(&fail)[1], ("c.e", Status::Fail, "setup broke"));
    }

    #[test]
    fn skipped_is_not_evidence() {
        let r = parse(
            r#"<testsuite tests="2" skipped="2"><testcase name="a"><skipped message="no db"/></testcase><testcase name="b"><skipped/></testcase></testsuite>"#,
        );
        assert_eq!(r.incomplete, None);
        assert_eq!(r.results, 0);
        assert!(!r.evidence());
        assert_eq!(
            table(&r),
            [("a", Status::Skip, "no db"), ("b", Status::Skip, "")]
        );
    }

    #[test]
    fn nested_suites_add_up() {
        let xml = r#"<testsuites tests="3" failures="1">
            <testsuite name="outer" tests="3" failures="1">
              <testsuite name="inner" tests="2" failures="1">
                <testcase classname="i" name="a"/><testcase classname="i" name="b"><failure message="x"/></testcase>
              </testsuite>
              <testcase classname="o" name="c"/>
            </testsuite></testsuites>"#;
        let r = parse(xml);
        assert_eq!(r.incomplete, None);
        assert_eq!((r.results, r.failing), (3, true));
        let wrong = xml.replace(r#"name="outer" tests="3""#, r#"name="outer" tests="2""#);
        assert_eq!(
            parse(&wrong).incomplete.as_deref(),
            Some(r#"<testsuite name="outer">: report says tests=2, found tests=3"#)
        );
    }

    #[test]
    fn count_mismatch() {
        let r = parse(
            r#"<testsuite name="s" tests="3" failures="1" errors="0" skipped="0"><testcase name="a"/><testcase name="b"/></testsuite>"#,
        );
        assert_eq!(
            r.incomplete.as_deref(),
            Some(
                r#"<testsuite name="s">: report says tests=3 failures=1, found tests=2 failures=0"#
            )
        );
        assert_eq!(r.results, 2, "what was read is still reported");
        let r = parse(r#"<testsuite tests="many"><testcase name="a"/></testsuite>"#);
        assert_eq!(
            r.incomplete.as_deref(),
            Some("<testsuite>: report says tests=many, found tests=1")
        );
    }

    #[test]
    fn truncated() {
        let whole = r#"<testsuites><testsuite tests="2"><testcase name="a"/><testcase name="b"><failure message="x">long trace"#;
        let r = parse(whole);
        assert!(
            r.incomplete
                .as_deref()
                .is_some_and(|s| s.contains("truncated")),
            "{:?}",
            r.incomplete
        );
        assert!(r.failing, "the failure read before the cut still counts");
        for cut in [10, 30, 45, 60] {
            let r = parse(&whole[..cut]);
            assert!(r.incomplete.is_some(), "cut at {cut}");
        }
        let r = parse(r#"<testsuite tests="1"><testcase name="a"/></testsuite"#);
        assert!(r.incomplete.is_some());
        // A testcase cut off before any outcome never showed it passed.
        let r = parse(r#"<testsuite tests="1"><testcase name="a"><system-out>half"#);
        assert_eq!((r.results, r.table.checks.len()), (0, 0));
        let r =
            parse(r#"<testsuite><testcase name="a"><testcase name="b"/></testcase></testsuite>"#);
        assert_eq!(
            r.incomplete.as_deref(),
            Some("a <testcase> inside a <testcase>")
        );
    }

    #[test]
    fn what_other_producers_write() {
        // A UTF-8 BOM (.NET tools), a namespace prefix, a DTD whose entities
        // are not expanded (no entity bombs), a comment and a PI.
        let r = parse(
            "\u{feff}<?xml version=\"1.0\"?><!-- c --><?pi x?><j:testsuite xmlns:j=\"urn:x\" tests=\"1\"><j:testcase name=\"a\"/></j:testsuite>",
        );
        assert_eq!((r.incomplete, r.results), (None, 1));
        let r = parse(
            r#"<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><testsuite tests="1" failures="1"><testcase name="t"><failure message="&b;">&b; body</failure></testcase></testsuite>"#,
        );
        assert_eq!((r.incomplete, r.failing), (None, true));
        assert_eq!(r.table.checks[0].detail, "&b;");
    }

    #[test]
    fn empty_huge_and_not_xml() {
        assert_eq!(
            parse("").incomplete.as_deref(),
            Some("JUnit report is empty")
        );
        assert_eq!(
            parse(" \n\t").incomplete.as_deref(),
            Some("JUnit report is empty")
        );
        let big = format!(
            "<testsuite tests=\"1\"><testcase name=\"a\"/>{}</testsuite>",
            " ".repeat(2000)
        );
        assert_eq!(
            parse_report(big.as_bytes(), false, 1000)
                .incomplete
                .as_deref(),
            Some(
                format!(
                    "JUnit report is {} bytes, over the 1000-byte limit",
                    big.len()
                )
                .as_str()
            )
        );
        for junk in [
            "not xml at all",
            "{\"tests\": 3}",
            "<html><body>502 Bad Gateway</body></html>",
            "<testsuite><testcase name='a'></testsuite>",
            "<testsuite tests=\"1\"><testcase name=\"a\" name=\"b\"/></testsuite>",
            "<testsuite/><testsuite/>",
        ] {
            let r = parse(junk);
            assert!(r.incomplete.is_some(), "{junk}");
            assert!(!r.failing);
        }
        let r = parse_report(
            b"<testsuite tests=\"1\"><testcase name=\"\xff\xfe\"/></testsuite>",
            false,
            MAX,
        );
        assert!(r.incomplete.is_some(), "invalid UTF-8");
        let utf16: Vec<u8> = "<testsuite tests=\"1\"><testcase name=\"a\"/></testsuite>"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let r = parse_report(&utf16, false, MAX);
        assert_eq!(
            r.incomplete.as_deref(),
            Some("JUnit report has NUL bytes (UTF-16?); it must be UTF-8")
        );
    }

    #[test]
    fn no_suite_or_no_cases() {
        assert_eq!(
            parse("<testsuites/>").incomplete.as_deref(),
            Some("no <testsuite> element in the report")
        );
        assert_eq!(
            parse(r#"<testsuite tests="0"/>"#).incomplete.as_deref(),
            Some("the report has no <testcase>: no test ran")
        );
    }

    #[test]
    fn failure_and_teardown_error_of_one_test_keep_the_failure() {
        let r = parse(
            r#"<testsuite tests="2" failures="1" errors="1"><testcase classname="m" name="t"><failure message="assert 0"/></testcase><testcase classname="m" name="t"><error message="teardown"/></testcase></testsuite>"#,
        );
        assert_eq!(r.incomplete, None);
        assert_eq!(table(&r), [("m.t", Status::Fail, "assert 0")]);
        assert_eq!((r.failing, r.errored, r.results), (true, true, 2));
        assert_eq!(r.table.failed_seen.len(), 2);
    }

    #[test]
    fn garbage_never_panics() {
        let base = br#"<?xml version="1.0"?><testsuites><testsuite name="s" tests="2" failures="1"><testcase classname="c" name="a"><failure message="m&amp;">t<![CDATA[x]]>&#10;</failure></testcase><testcase name="b"/></testsuite></testsuites>"#;
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut xml = base.to_vec();
            let at = (state as usize) % xml.len();
            match i % 3 {
                0 => xml.truncate(at),
                1 => xml[at] = (state >> 32) as u8,
                _ => xml.insert(at, b"<&>\"'/"[(state >> 40) as usize % 6]),
            }
            let r = parse_report(&xml, i % 2 == 0, MAX);
            assert!(r.incomplete.is_some() || r.results > 0);
        }
    }

    // Reports written by pytest 9.2.0 (fixtures/README.md).

    #[test]
    fn pytest_all_pass() {
        let r = fixture("pytest-pass.xml", false);
        assert_eq!(r.incomplete, None);
        assert_eq!((r.results, r.failing, r.errored), (3, false, false));
        assert_eq!(r.table.checks[2].id, "test_pass.TestGroup.test_in_class");
    }

    #[test]
    fn pytest_one_failure() {
        let r = fixture("pytest-fail.xml", false);
        assert_eq!(r.incomplete, None);
        assert_eq!((r.results, r.failing), (3, true));
        assert_eq!(
            table(&r)[1],
            (
                "test_fail.test_compare_markup",
                Status::Fail,
                "AssertionError: rendered markup differs assert \"<a href='x'>&amp;</a>\" == '<b>' - <b> + <a href='x'>&amp;</a>"
            )
        );
    }

    #[test]
    fn pytest_skip() {
        let r = fixture("pytest-skip.xml", false);
        assert_eq!(r.incomplete, None);
        assert_eq!((r.results, r.failing), (1, false));
        assert_eq!(
            table(&r)[1],
            (
                "test_skip.test_needs_database",
                Status::Skip,
                "no database on this host"
            )
        );
    }

    #[test]
    fn pytest_setup_error() {
        let r = fixture("pytest-setup-error.xml", false);
        assert_eq!(r.incomplete, None);
        assert_eq!((r.results, r.failing, r.errored), (2, false, true));
        assert_eq!(
            table(&r)[0],
            (
                "test_setup_error.test_uses_database",
                Status::Error,
                "failed on setup with \"ConnectionError: cannot reach db:5432\""
            )
        );
        let r = fixture("pytest-setup-error.xml", true);
        assert_eq!((r.failing, r.errored), (true, false));
    }

    #[test]
    fn pytest_collection_error() {
        let r = fixture("pytest-collect-error.xml", false);
        assert_eq!(r.incomplete, None);
        assert_eq!((r.results, r.failing, r.errored), (1, false, true));
        assert_eq!(
            table(&r),
            [("test_syntax", Status::Error, "collection failure")]
        );
        assert!(fixture("pytest-collect-error.xml", true).failing);
    }

    #[test]
    fn pytest_no_tests_collected() {
        let r = fixture("pytest-no-tests.xml", false);
        assert_eq!(
            r.incomplete.as_deref(),
            Some("the report has no <testcase>: no test ran")
        );
        assert!(!r.evidence());
    }

    #[test]
    fn pytest_teardown_errors() {
        let r = fixture("pytest-teardown-error.xml", false);
        assert_eq!(r.incomplete, None);
        assert_eq!((r.failing, r.errored), (true, true));
        let t = table(&r);
        assert_eq!(
            t[0].0,
            "test_teardown_error.test_passes_then_teardown_errors"
        );
        assert_eq!(t[0].1, Status::Error);
        assert_eq!(
            (t[1].0, t[1].1),
            (
                "test_teardown_error.test_fails_then_teardown_errors",
                Status::Fail
            )
        );
        assert_eq!(t.len(), 2);
    }
}
