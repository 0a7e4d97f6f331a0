//! The grammar of one TAP line, exactly as TAP 14 and the reference parser
//! (tap-parser 13, node-tap's) read it: each kind of line is one pattern
//! over the whole line, so `1..5 ` (a trailing space) is not a plan and
//! `ok\tx` is not a test point. The patterns are the reference's own, with
//! JavaScript's `.` (anything but a line terminator) spelled out.

use regex::Regex;
use std::sync::LazyLock;

/// JavaScript's `.`, which the reference's patterns are written with.
macro_rules! any {
    () => {
        r"[^\r\n\u{2028}\u{2029}]"
    };
}

fn pattern(p: &str) -> Regex {
    Regex::new(p).expect("valid pattern")
}

static POINT: LazyLock<Regex> = LazyLock::new(|| {
    pattern(concat!(
        r"^(not )?ok(?: ([0-9]+))?(?:(?: -)?( ",
        any!(),
        r"*?))?(\{?)$"
    ))
});
static PRAGMA: LazyLock<Regex> = LazyLock::new(|| pattern(r"^pragma ([+-])([a-zA-Z0-9_-]+)$"));
static BAIL_OUT: LazyLock<Regex> =
    LazyLock::new(|| pattern(concat!(r"(?i)^bail out!(", any!(), r"*)$")));
static VERSION: LazyLock<Regex> = LazyLock::new(|| pattern(r"(?i)^TAP version ([0-9]+)$"));
static PLAN: LazyLock<Regex> = LazyLock::new(|| {
    pattern(concat!(
        r"^([0-9]+)\.\.([0-9]+)(?:\s+(?:#\s*(",
        any!(),
        r"*)))?$"
    ))
});
static SUBTEST: LazyLock<Regex> =
    LazyLock::new(|| pattern(concat!(r"^# Subtest(?:: (", any!(), r"*))?$")));
static SUBTEST_INDENT: LazyLock<Regex> =
    LazyLock::new(|| pattern(concat!(r"^    # Subtest(?:: (", any!(), r"*))?$")));
static COMMENT: LazyLock<Regex> = LazyLock::new(|| pattern(concat!(r"^\s*#", any!(), r"*$")));
static TIME: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?i)^time=((?:[1-9][0-9]*|0)(?:\.[0-9]+)?)(ms|s)$"));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Directive {
    None,
    Skip,
    Todo,
}

/// One test point as printed.
#[derive(Debug)]
pub(super) struct Point {
    pub(super) ok: bool,
    pub(super) number: Option<u64>,
    /// Unescaped and trimmed, without the leading ` - `; may be empty.
    pub(super) description: String,
    pub(super) directive: Directive,
    /// The text after `SKIP…`/`TODO…`, unescaped.
    pub(super) reason: String,
    /// Ends in `{`: a buffered subtest follows, closed by `}`.
    pub(super) buffered: bool,
}

impl Point {
    /// `not ok` that neither TODO nor SKIP excuses.
    pub(super) fn fails(&self) -> bool {
        !self.ok && self.directive == Directive::None
    }
}

/// What a line is, tried in the reference's order.
#[derive(Debug)]
pub(super) enum Kind {
    Point(Point),
    Pragma {
        on: bool,
        key: String,
    },
    /// `Bail out!` and its reason, unescaped.
    BailOut(String),
    Version(u64),
    Plan {
        start: u64,
        end: u64,
        reason: String,
    },
    /// `# Subtest` or `# Subtest: name`.
    Subtest(String),
    Comment,
}

pub(super) fn kind(line: &str) -> Option<Kind> {
    if let Some(point) = parse_point(line) {
        return Some(Kind::Point(point));
    }
    if let Some(c) = PRAGMA.captures(line) {
        let on = &c[1] == "+";
        return Some(Kind::Pragma {
            on,
            key: c[2].to_string(),
        });
    }
    if let Some(c) = BAIL_OUT.captures(line) {
        return Some(Kind::BailOut(unescape(c[1].trim())));
    }
    if let Some(c) = VERSION.captures(line) {
        return Some(Kind::Version(number(&c[1])));
    }
    if let Some(c) = PLAN.captures(line) {
        let reason = c.get(3).map_or(String::new(), |m| unescape(m.as_str()));
        return Some(Kind::Plan {
            start: number(&c[1]),
            end: number(&c[2]),
            reason: reason.trim().to_string(),
        });
    }
    if let Some(c) = SUBTEST.captures(line) {
        let name = c.get(1).map_or("", |m| m.as_str());
        return Some(Kind::Subtest(name.trim().to_string()));
    }
    COMMENT.is_match(line).then_some(Kind::Comment)
}

/// A version line, which a subtest skips wherever it comes.
pub(super) fn is_version(line: &str) -> bool {
    VERSION.is_match(line)
}

/// `    # Subtest: name`: a subtest announced at its own indentation.
pub(super) fn subtest_indent(line: &str) -> Option<String> {
    let c = SUBTEST_INDENT.captures(line)?;
    Some(c.get(1).map_or("", |m| m.as_str()).trim().to_string())
}

/// `1..N` as it stands (a line that is one once trimmed says why a stream
/// has no plan).
pub(super) fn is_plan(line: &str) -> bool {
    PLAN.is_match(line)
}

pub(super) fn is_comment(line: &str) -> bool {
    COMMENT.is_match(line)
}

/// Digits to a number; one too large for u64 is u64::MAX, outside any plan.
fn number(digits: &str) -> u64 {
    digits.parse().unwrap_or(u64::MAX)
}

/// `(not )?ok[ N][ -][ description][ # directive][{]` at column 0. `ok`
/// and `not ok` are case-sensitive, and what follows them starts with a
/// space (`okay`, `ok:` and `ok\tx` are log text, not points).
pub(super) fn parse_point(line: &str) -> Option<Point> {
    let c = POINT.captures(line)?;
    let rest = c.get(3).map_or("", |m| m.as_str());
    let mut buffered = c.get(4).is_some_and(|m| !m.is_empty());
    let mut directive = Directive::None;
    let mut reason = String::new();
    let mut described = rest;
    if let Some(at) = directive_start(rest)
        && let Some((d, why)) = parse_directive(&rest[at + 1..])
    {
        (directive, reason, described) = (d, unescape(why), &rest[..at]);
    }
    let mut description = unescape(described);
    // `ok 2 - name { # time=1ms`: the brace before the directive counts.
    let trimmed = description.trim_end();
    if let Some(head) = trimmed.strip_suffix('{') {
        description = head.to_string();
        buffered = true;
    }
    Some(Point {
        ok: c.get(1).is_none(),
        number: c.get(2).map(|m| number(m.as_str())),
        description: description.trim().to_string(),
        directive,
        reason,
        buffered,
    })
}

/// Byte offset of the directive `#`: the first unescaped `#` that follows
/// whitespace (or an escaped backslash, as in the spec's `hello \\# todo`),
/// or starts the text. A `#` glued to a word (`page.html#skip`) is text.
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

/// The text after the directive `#`: `SKIP…`/`TODO…` in any case (`#
/// skipped`, `# Skip: why`, `#todo`, even `# skipper`, as the spec says),
/// or the reference's `time=12ms`, which is neither but is no part of the
/// description. None: the `#` and what follows are description.
fn parse_directive(s: &str) -> Option<(Directive, &str)> {
    let s = s.trim();
    let s = s.strip_suffix('{').unwrap_or(s).trim();
    if TIME.is_match(s) {
        return Some((Directive::None, ""));
    }
    let word_end = s.find(char::is_whitespace).unwrap_or(s.len());
    let directive = match s.get(..4)?.to_ascii_lowercase().as_str() {
        "skip" => Directive::Skip,
        "todo" => Directive::Todo,
        _ => return None,
    };
    Some((directive, s[word_end..].trim()))
}

/// TAP escapes: `\\` is `\`, `\#` is `#`; any other backslash is literal.
pub(super) fn unescape(s: &str) -> String {
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

#[cfg(test)]
mod tests;
