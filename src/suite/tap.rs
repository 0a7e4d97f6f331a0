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

use super::{Status, SuiteParser, SuiteReport, truncate_chars};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Directive {
    None,
    Skip,
    Todo,
}

/// One test point as printed.
#[derive(Debug)]
struct Point {
    ok: bool,
    number: Option<u64>,
    /// Unescaped, without the leading ` - `; may be empty.
    description: String,
    directive: Directive,
    /// The text after `SKIP…`/`TODO…`, unescaped.
    reason: String,
}

impl Point {
    /// `not ok` that neither TODO nor SKIP excuses.
    fn fails(&self) -> bool {
        !self.ok && self.directive == Directive::None
    }
}

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

/// `(not )ok [N] [-] [description] [# directive]`, at column 0. `ok` and
/// `not ok` are case-sensitive and end at whitespace (`okay`, `ok:` are
/// log text, not points).
fn parse_point(line: &str) -> Option<Point> {
    let (ok, rest) = match line.strip_prefix("not ok") {
        Some(rest) => (false, rest),
        None => (true, line.strip_prefix("ok")?),
    };
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let (number, rest) = split_number(rest.trim_start());
    let (description, directive) = match directive_start(rest) {
        Some(at) => (&rest[..at], parse_directive(&rest[at + 1..])),
        None => (rest, None),
    };
    let (directive, reason) = match directive {
        Some((d, reason)) => (d, unescape(reason)),
        // An unknown directive stays part of the description.
        None => (Directive::None, String::new()),
    };
    let description = if directive == Directive::None {
        rest
    } else {
        description
    };
    Some(Point {
        ok,
        number,
        description: unescape(strip_dash(description.trim())),
        directive,
        reason,
    })
}

/// The test number, when the text starts with digits ending at whitespace.
/// One too large for u64 is kept as u64::MAX: outside any plan.
fn split_number(s: &str) -> (Option<u64>, &str) {
    let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let after = &s[digits..];
    if digits == 0 || !(after.is_empty() || after.starts_with(char::is_whitespace)) {
        return (None, s);
    }
    let number = s[..digits].parse::<u64>().unwrap_or(u64::MAX);
    (Some(number), after.trim_start())
}

/// `- description` and `description` are the same description.
fn strip_dash(s: &str) -> &str {
    match s.strip_prefix('-') {
        Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => rest.trim_start(),
        _ => s,
    }
}

/// Byte offset of the directive `#`: the first unescaped `#` that follows
/// whitespace (or an escaped backslash, as in the spec's `hello \\# todo`).
/// `s` starts right after whitespace, so a `#` at 0 qualifies. A `#` glued
/// to a word (`page.html#skip`) is text.
fn directive_start(s: &str) -> Option<usize> {
    let mut after_gap = true;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' if after_gap => return Some(i),
            '\\' => match chars.clone().next() {
                Some((_, '\\')) => {
                    chars.next();
                    after_gap = true;
                    continue;
                }
                Some((_, '#')) => {
                    chars.next();
                    after_gap = false;
                    continue;
                }
                _ => {}
            },
            _ => {}
        }
        after_gap = c.is_whitespace();
    }
    None
}

/// The TAP 14 rule `#\s*(SKIP|TODO)\S*(\s+reason)?`, any case: `# skipped`,
/// `# Skip: why` and `#todo` count; `# skipper` does too, as the spec says.
fn parse_directive(s: &str) -> Option<(Directive, &str)> {
    let s = s.trim_start();
    let word_end = s.find(char::is_whitespace).unwrap_or(s.len());
    let word = s.get(..4)?.to_ascii_lowercase();
    let directive = match word.as_str() {
        "skip" => Directive::Skip,
        "todo" => Directive::Todo,
        _ => return None,
    };
    Some((directive, s[word_end..].trim()))
}

/// `Bail out!` (any case) and its reason, unescaped.
fn bail_out(line: &str) -> Option<String> {
    let head = line.get(..9)?;
    if !head.eq_ignore_ascii_case("bail out!") {
        return None;
    }
    Some(unescape(line[9..].trim()))
}

/// TAP escapes: `\\` is `\`, `\#` is `#`; any other backslash is literal.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next @ ('\\' | '#')) = chars.peek()
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// A YAML scalar on one line: `'it''s'`, `"say \"hi\""`, or plain.
fn unquote_yaml(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.replace("''", "'");
    }
    if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        return unescape_double_quoted(inner);
    }
    value.to_string()
}

/// The common escapes of a double-quoted YAML scalar; a newline becomes a
/// space (details are one line).
fn unescape_double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 't' | 'r') => out.push(' '),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::normalize;
    use std::path::Path;

    fn feed(text: &str) -> (SuiteReport, TapParser) {
        feed_bytes(text.as_bytes())
    }

    fn feed_bytes(text: &[u8]) -> (SuiteReport, TapParser) {
        let mut p = TapParser::new();
        for l in text.split(|b| *b == b'\n') {
            p.line(&normalize::shown(l), &normalize::overwritten_segments(l));
        }
        p.finish();
        (p.report().clone(), p)
    }

    fn statuses(r: &SuiteReport) -> Vec<(String, Status, String)> {
        r.table
            .checks
            .iter()
            .map(|c| (c.id.clone(), c.status, c.detail.clone()))
            .collect()
    }

    fn fixture(name: &str) -> SuiteReport {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join("suites")
            .join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        feed_bytes(&bytes).0
    }

    #[test]
    fn all_pass() {
        let (r, _) = feed("TAP version 14\n1..3\nok 1 - first\nok 2 second\nok 3\n");
        assert_eq!(r.incomplete, None);
        assert_eq!(r.results, 3);
        assert!(!r.failing);
        assert_eq!(r.table.summary(), "3/3 PASS");
        let ids: Vec<_> = r.table.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["first", "second", "test 3"]);
    }

    #[test]
    fn one_failure() {
        let (r, _) = feed("1..3\nok 1 - a\nnot ok 2 - b is wrong\nok 3 - c\n");
        assert!(r.failing);
        assert_eq!(r.incomplete, None);
        assert_eq!(r.results, 3);
        assert_eq!(r.table.counts().fail, 1);
        assert_eq!(r.table.failed_seen[0].detail, "b is wrong");
    }

    #[test]
    fn skip_is_not_evidence_and_not_failure() {
        let (r, p) =
            feed("1..3\nok 1 - a # SKIP no db\nnot ok 2 - b # skip\nok 3 - c # Skipped: later\n");
        assert_eq!(r.incomplete, None, "skips count for the plan");
        assert!(!r.failing);
        assert_eq!(r.results, 0);
        assert!(!r.evidence());
        assert_eq!(p.points(), 3);
        assert_eq!(
            statuses(&r),
            [
                ("a".to_string(), Status::Skip, "no db".to_string()),
                ("b".to_string(), Status::Skip, String::new()),
                ("c".to_string(), Status::Skip, "later".to_string()),
            ]
        );
    }

    #[test]
    fn todo_failing_is_not_a_failure() {
        let (r, _) = feed("1..2\nok 1\nnot ok 2 - parser # TODO not written yet\n");
        assert!(!r.failing);
        assert_eq!(r.results, 2);
        assert_eq!(r.incomplete, None);
        assert_eq!(r.table.checks[1].status, Status::Todo);
        assert_eq!(r.table.checks[1].detail, "not written yet");
    }

    #[test]
    fn todo_passing_is_a_pass_that_says_so() {
        let (r, _) = feed("1..2\nok 1 - fixed # todo was broken\nok 2 - also # TODO\n");
        assert!(!r.failing);
        assert_eq!(
            statuses(&r)[0],
            (
                "fixed".into(),
                Status::Pass,
                "TODO passed: was broken".into()
            )
        );
        assert_eq!(
            statuses(&r)[1],
            ("also".into(), Status::Pass, "TODO passed".into())
        );
    }

    #[test]
    fn directive_rules_of_the_spec() {
        let cases = [
            (
                "ok 1 - must be skipped test # SKIP",
                Directive::Skip,
                "must be skipped test",
                "",
            ),
            (
                "ok 2 - must not be skipped test \\# SKIP",
                Directive::None,
                "must not be skipped test # SKIP",
                "",
            ),
            (
                "ok 1 # skip this test is skipped",
                Directive::Skip,
                "",
                "this test is skipped",
            ),
            (
                "ok 2 not skipped: https://example.com/page.html#skip is a url",
                Directive::None,
                "not skipped: https://example.com/page.html#skip is a url",
                "",
            ),
            (
                "ok 3 - #SkIp case insensitive",
                Directive::Skip,
                "",
                "case insensitive",
            ),
            (
                "ok 1 - do it later # Skipped",
                Directive::Skip,
                "do it later",
                "",
            ),
            (
                "ok 2 - on windows # Skipped: only run on windows",
                Directive::Skip,
                "on windows",
                "only run on windows",
            ),
            ("ok 1 - hello # todo", Directive::Todo, "hello", ""),
            ("ok 2 - hello \\# todo", Directive::None, "hello # todo", ""),
            (
                "ok 3 - hello # todo hash \\# character",
                Directive::Todo,
                "hello",
                "hash # character",
            ),
            (
                "ok 4 - hello # todo hash # character",
                Directive::Todo,
                "hello",
                "hash # character",
            ),
            (
                "ok 5 - hello \\\\# todo hash \\# character",
                Directive::Todo,
                "hello \\",
                "hash # character",
            ),
            (
                "ok 7 - hello # description # todo",
                Directive::None,
                "hello # description # todo",
                "",
            ),
            (
                "ok 8 - hello \\\\\\\\\\\\\\# todo",
                Directive::None,
                "hello \\\\\\# todo",
                "",
            ),
            (
                "not ok 13 # TODO bend space and time",
                Directive::Todo,
                "",
                "bend space and time",
            ),
            (
                "not ok 14 - x # TODO: with colon",
                Directive::Todo,
                "x",
                "with colon",
            ),
            ("ok 9 - a # sk", Directive::None, "a # sk", ""),
        ];
        for (line, directive, description, reason) in cases {
            let p = parse_point(line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(
                (p.directive, p.description.as_str(), p.reason.as_str()),
                (directive, description, reason),
                "{line}"
            );
        }
    }

    #[test]
    fn what_is_and_is_not_a_point() {
        for line in ["ok", "not ok", "ok 1", "ok - x", "not ok 2 - y", "ok\tx"] {
            assert!(parse_point(line).is_some(), "{line}");
        }
        for line in [
            "okay then",
            "ok: done",
            "Not ok 1",
            "NOT OK",
            "not ok1",
            " ok 1",
            "# ok 1",
            "nothing ok",
        ] {
            assert!(parse_point(line).is_none(), "{line}");
        }
        let p = parse_point("ok 12 - 3 apples").unwrap_or_else(|| panic!());
        assert_eq!((p.number, p.description.as_str()), (Some(12), "3 apples"));
        let p = parse_point("ok 1a").unwrap_or_else(|| panic!());
        assert_eq!((p.number, p.description.as_str()), (None, "1a"));
    }

    #[test]
    fn bail_out_before_a_failure() {
        let (r, _) = feed("1..3\nok 1\nBail out! MySQL is not running.\nnot ok 2 - after\n");
        assert_eq!(r.bailed.as_deref(), Some("MySQL is not running."));
        assert!(!r.failing, "nothing after the bail-out is read");
        assert_eq!(r.incomplete, None);
        assert_eq!(r.results, 1);
    }

    #[test]
    fn bail_out_after_a_failure() {
        let (r, _) = feed("TAP version 14\n1..573\nnot ok 1 - database handle\nbail out!\nok 2\n");
        assert_eq!(r.bailed.as_deref(), Some("no reason given"));
        assert!(r.failing);
        assert_eq!(
            r.table.checks.len(),
            1,
            "the failing point is recorded before the bail-out"
        );
        assert_eq!(r.incomplete, None);
    }

    #[test]
    fn bail_out_in_a_subtest_stops_everything() {
        let (r, _) = feed(
            "1..2\n# Subtest: inner\n    ok 1\n    Bail out! \\# broken\nok 1 - inner\nok 2\n",
        );
        assert_eq!(r.bailed.as_deref(), Some("# broken"));
        assert_eq!(r.results, 0);
    }

    #[test]
    fn missing_plan() {
        let (r, _) = feed("ok 1\nok 2\n");
        assert!(
            r.incomplete
                .as_deref()
                .is_some_and(|s| s.starts_with("no TAP plan (1..N)")),
            "{:?}",
            r.incomplete
        );
        let (r, _) = feed("");
        assert!(r.incomplete.is_some());
        assert!(!r.evidence());
    }

    #[test]
    fn plan_mismatch_fewer_and_more() {
        let (r, _) = feed("1..3\nok 1\nok 2\n");
        assert_eq!(r.incomplete.as_deref(), Some("planned 3 tests, saw 2"));
        let (r, _) = feed("1..2\nok 1\nok 2\nok 3\n");
        assert_eq!(r.incomplete.as_deref(), Some("planned 2 tests, saw 3"));
        // Unnumbered points are numbered by the harness; the count still rules.
        let (r, _) = feed("1..6\nnot ok\nok\nnot ok\nok\nok\n");
        assert_eq!(r.incomplete.as_deref(), Some("planned 6 tests, saw 5"));
    }

    #[test]
    fn plan_at_end() {
        let (r, _) = feed("TAP version 14\nok 1 - a\n# chatter\nok 2 - b\n1..2\n");
        assert_eq!(r.incomplete, None);
        assert_eq!(r.results, 2);
        let (r, _) = feed("ok 1\n1..1\nok 2\n");
        assert_eq!(
            r.incomplete.as_deref(),
            Some("a test point came after the closing plan")
        );
    }

    #[test]
    fn only_one_plan() {
        let (r, _) = feed("1..2\nok 1\nok 2\n1..2\n");
        assert_eq!(
            r.incomplete.as_deref(),
            Some("a second plan `1..2` after 1..2")
        );
        let (r, _) = feed("2..3\nok 2\nok 3\n");
        assert_eq!(
            r.incomplete.as_deref(),
            Some("plan `2..3` is not of the form 1..N")
        );
        let (r, _) = feed("1..99999999999999999999999\nok\n");
        assert!(r.incomplete.is_some());
    }

    #[test]
    fn numbers_must_fit_the_plan_and_not_repeat() {
        let (r, _) = feed("1..2\nok 1\nok 1\n");
        assert_eq!(
            r.incomplete.as_deref(),
            Some("test number 1 was reported twice")
        );
        let (r, _) = feed("1..3\nok 2\nok 4\nok 1\n");
        assert_eq!(
            r.incomplete.as_deref(),
            Some("test number 4 is outside the plan 1..3")
        );
        let (r, _) = feed("1..3\nok 2\nok 3\nok 1\n");
        assert_eq!(r.incomplete, None, "any order is fine");
        let (r, _) = feed("1..1\nok 0\n");
        assert!(r.incomplete.is_some());
    }

    #[test]
    fn skip_all_plan() {
        let (r, p) = feed("TAP version 14\n1..0 # skip because the translator isn't installed\n");
        assert_eq!(r.incomplete, None);
        assert_eq!(r.results, 0);
        assert!(!r.failing);
        assert_eq!(
            p.skip_all_reason(),
            Some("skip because the translator isn't installed")
        );
        let (r, _) = feed("1..0\nok 1\n");
        assert_eq!(r.incomplete.as_deref(), Some("planned 0 tests, saw 1"));
    }

    #[test]
    fn yaml_block_is_data_not_tap() {
        let tap = "TAP version 14\n1..2\nnot ok 1 - resolve address\n  ---\n  message: \"hostname 'peebles' not found\"\n  severity: fail\n  log: |\n    not ok 7 - inner text\n    ok 8\n    Bail out! not really\n  data:\n    got: 1\n  ...\nok 2 - next\n";
        let (r, _) = feed(tap);
        assert_eq!(r.incomplete, None);
        assert_eq!(r.bailed, None);
        assert_eq!(r.results, 2);
        assert_eq!(r.table.checks[0].detail, "hostname 'peebles' not found");
        assert_eq!(r.table.checks.len(), 2);
    }

    #[test]
    fn yaml_message_forms() {
        let cases = [
            ("  message: 'it''s broken'", "it's broken"),
            ("  message: plain words here", "plain words here"),
            ("  message: \"tab\\there \\\"q\\\"\"", "tab here \"q\""),
            (
                "  message: |\n    line one\n    line two\n  severity: fail",
                "line one line two",
            ),
            ("  message: >-\n    folded\n\n    more", "folded more"),
        ];
        for (yaml, want) in cases {
            let (r, _) = feed(&format!("1..1\nnot ok 1 - desc\n  ---\n{yaml}\n  ...\n"));
            assert_eq!(r.table.checks[0].detail, want, "{yaml}");
        }
        // A passing point keeps its own detail.
        let (r, _) = feed("1..1\nok 1 - fine\n  ---\n  message: 'board layout'\n  ...\n");
        assert_eq!(r.table.checks[0].detail, "");
    }

    #[test]
    fn a_long_message_is_capped() {
        let long = "x".repeat(5000);
        let (r, p) = feed(&format!(
            "1..1\nnot ok 1 - d\n  ---\n  message: |\n    {long}\n    {long}\n  ...\n"
        ));
        assert_eq!(
            r.table.checks[0].detail.chars().count(),
            301,
            "the table's own cap, plus its ellipsis"
        );
        assert!(p.pending.is_none());
    }

    #[test]
    fn unterminated_yaml_recovers_at_the_next_unindented_line() {
        let (r, _) = feed("1..3\nnot ok 1 - a\n  ---\n  message: boom\nnot ok 2 - b\nok 3\n");
        assert_eq!(r.incomplete, None);
        assert_eq!(r.table.counts().fail, 2);
        assert_eq!(r.table.checks[0].detail, "boom");
        let (r, _) = feed("1..1\nnot ok 1 - a\n  ---\n  message: cut off\n");
        assert_eq!(
            r.incomplete.as_deref(),
            Some("the output ends inside a YAML block (no closing `...`)")
        );
    }

    #[test]
    fn yaml_only_right_after_a_point() {
        // A `---` after other output is noise; what follows is read as TAP.
        let (r, _) = feed("1..1\nok 1\nsome log\n  ---\nnot ok 2\n");
        assert!(r.failing);
        assert_eq!(r.incomplete.as_deref(), Some("planned 1 tests, saw 2"));
    }

    #[test]
    fn subtests_do_not_touch_the_plan() {
        let tap = "TAP version 14\n1..2\nok 1 - in the parent\n# Subtest: nested\n    1..3\n    ok 1 - inner\n    not ok 2 - inner fails\n      ---\n      message: inner\n      ...\n        # Subtest: deeper\n        1..1\n        ok 1\n    ok 3 - deeper\nnot ok 2 - nested\n  ---\n  message: 1 of 3 failed\n  ...\n";
        let (r, _) = feed(tap);
        assert_eq!(r.incomplete, None);
        assert_eq!(r.results, 2);
        assert_eq!(
            statuses(&r),
            [
                ("in the parent".to_string(), Status::Pass, String::new()),
                (
                    "nested".to_string(),
                    Status::Fail,
                    "1 of 3 failed".to_string()
                ),
            ]
        );
        // A bare subtest (no comment) passing, with a passing parent.
        let (r, _) = feed("    ok 1 - sub\n    1..1\nok 1 - parent\n1..1\n");
        assert_eq!(
            (r.incomplete.as_deref(), r.failing, r.results),
            (None, false, 1)
        );
    }

    #[test]
    fn escaped_hash_is_description() {
        let (r, _) = feed("1..2\nok 1 - issue \\#42 fixed\nnot ok 2 - C\\# parser \\\\ path\n");
        assert_eq!(r.table.checks[0].id, "issue #42 fixed");
        assert_eq!(r.table.checks[0].status, Status::Pass);
        assert_eq!(r.table.checks[1].id, "C# parser \\ path");
        assert!(r.failing);
    }

    #[test]
    fn shared_descriptions_get_stable_unique_ids() {
        let (r, _) = feed("1..4\nok 1 - same\nnot ok 2 - same\nok 3 - same #2\nok 4\n");
        let ids: Vec<_> = r.table.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["same", "same #2", "same #2 #3", "test 4"]);
        assert_eq!(
            r.table.counts().fail,
            1,
            "the failure is not overwritten by a later pass"
        );
    }

    #[test]
    fn pragmas_version_and_noise_are_ignored() {
        let (r, _) = feed(
            "TAP version 13\npragma +strict\n!!not TAP!!\n\n1..1\n# comment\nok 1\n   odd indent\npragma -bail\n",
        );
        assert_eq!(
            (r.incomplete.as_deref(), r.failing, r.results),
            (None, false, 1)
        );
    }

    #[test]
    fn an_overwritten_failure_still_fails() {
        let (r, _) = feed_bytes(b"1..1\nnot ok 1 - x\rok 1 - x\n");
        assert!(r.failing);
        assert_eq!(
            r.table.checks[0].status,
            Status::Pass,
            "the table shows what the terminal showed"
        );
        let (r, _) = feed_bytes(b"1..1\n\x1b[32mok 1 - green\x1b[0m\n");
        assert_eq!((r.incomplete, r.results), (None, 1));
    }

    #[test]
    fn finish_is_idempotent_and_lines_after_it_are_ignored() {
        let mut p = TapParser::new();
        p.line(b"1..1", &[]);
        p.finish();
        p.line(b"ok 1", &[]);
        p.finish();
        assert_eq!(
            p.report().incomplete.as_deref(),
            Some("planned 1 tests, saw 0")
        );
    }

    /// xorshift: deterministic noise without a dependency.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn garbage_never_panics() {
        const PIECES: &[&str] = &[
            "ok",
            "not ok",
            " ",
            "  ",
            "    ",
            "#",
            "\\",
            "\\#",
            "1..",
            "1",
            "0",
            "99999999999999999999",
            "-",
            "---",
            "...",
            "Bail out!",
            "SKIP",
            "todo",
            "message:",
            "|",
            "'",
            "\"",
            "é",
            "\u{0}",
            "\t",
            "pragma +strict",
            "# Subtest: x",
            "\u{fffd}",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..300 {
            let mut p = TapParser::new();
            for _ in 0..40 {
                let mut line = Vec::new();
                for _ in 0..next(&mut state) % 8 {
                    let r = next(&mut state);
                    if r.is_multiple_of(5) {
                        line.push((r >> 8) as u8); // any byte, invalid UTF-8 included
                    } else {
                        line.extend_from_slice(PIECES[(r >> 8) as usize % PIECES.len()].as_bytes());
                    }
                }
                let segs = if next(&mut state).is_multiple_of(7) {
                    vec![line.clone(), b"not ok 1".to_vec()]
                } else {
                    vec![]
                };
                p.line(&line, &segs);
            }
            p.finish();
            let r = p.report();
            assert!(r.results <= p.points());
            assert!(r.bailed.is_some() || r.incomplete.is_some() || p.plan.is_some());
        }
    }

    #[test]
    fn a_flood_of_points_stays_bounded() {
        let mut p = TapParser::new();
        p.line(b"1..2000", &[]);
        for i in 1..=2000 {
            p.line(format!("ok {i} - check {i}").as_bytes(), &[]);
        }
        p.finish();
        let r = p.report();
        assert_eq!((r.incomplete.as_deref(), r.results), (None, 2000));
        assert_eq!((r.table.checks.len(), r.table.dropped), (500, 1500));
    }

    // Recorded output of Debian's bats 1.8.2 (fixtures/README.md).

    #[test]
    fn bats_all_pass() {
        let r = fixture("bats-pass.tap");
        assert_eq!(
            (r.incomplete.as_deref(), r.failing, r.results),
            (None, false, 3)
        );
        assert_eq!(r.table.checks[0].id, "addition works");
    }

    #[test]
    fn bats_one_failure() {
        let r = fixture("bats-fail.tap");
        assert_eq!(
            (r.incomplete.as_deref(), r.failing, r.results),
            (None, true, 3)
        );
        assert_eq!(
            statuses(&r)[1],
            ("second fails".into(), Status::Fail, "second fails".into())
        );
    }

    #[test]
    fn bats_tap13_failure_message_from_yaml() {
        let r = fixture("bats-fail-tap13.tap");
        assert_eq!(
            (r.incomplete.as_deref(), r.failing, r.results),
            (None, true, 3)
        );
        assert_eq!(
            r.table.checks[1].detail,
            "(in test file bats-fail.bats, line 10) `[ 2 -eq 3 ]' failed expected 2, got 3"
        );
    }

    #[test]
    fn bats_skip() {
        let r = fixture("bats-skip.tap");
        assert_eq!(
            (r.incomplete.as_deref(), r.failing, r.results),
            (None, false, 1)
        );
        assert_eq!(
            statuses(&r)[1],
            (
                "needs a database".into(),
                Status::Skip,
                "no database on this host".into()
            )
        );
        assert_eq!(
            statuses(&r)[2],
            (
                "skipped without a reason".into(),
                Status::Skip,
                String::new()
            )
        );
    }

    #[test]
    fn bats_tap13_skip_is_not_ok_skip() {
        // bats' tap13 formatter prints skips as `not ok … # SKIP`.
        let r = fixture("bats-skip-tap13.tap");
        assert_eq!(
            (r.incomplete.as_deref(), r.failing, r.results),
            (None, false, 1)
        );
        assert_eq!(r.table.counts().skip, 2);
    }

    #[test]
    fn perl_test_more() {
        // Escaped `\#`, a skip, a TODO failure and a commented subtest.
        let r = fixture("perl-testmore.tap");
        assert_eq!(
            (r.incomplete.as_deref(), r.failing, r.results),
            (None, true, 4)
        );
        assert_eq!(
            statuses(&r),
            [
                ("first".to_string(), Status::Pass, String::new()),
                (
                    "second # not a directive".to_string(),
                    Status::Fail,
                    "second # not a directive".to_string()
                ),
                ("test 3".to_string(), Status::Skip, "no net".to_string()),
                ("todo one".to_string(), Status::Todo, "later".to_string()),
                ("inner".to_string(), Status::Pass, String::new()),
            ]
        );
    }

    #[test]
    fn bats_killed_midway_is_incomplete() {
        let r = fixture("bats-killed.tap");
        assert_eq!(r.incomplete.as_deref(), Some("planned 3 tests, saw 1"));
        assert!(!r.failing);
        assert_eq!(r.results, 1);
    }
}
