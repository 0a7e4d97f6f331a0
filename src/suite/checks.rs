//! The native format: one `<ID> <STATUS> <detail>` line per check on stdout
//! (pattern configurable). A line that looks like a failing check but does
//! not parse (`C2 FAILED`, `c2 fail`, `  C2 FAIL`, `C2: ERROR`) is a near
//! miss: never ignored, never SUCCESS (docs/suite-formats.md).

use super::{Status, SuiteParser, SuiteReport};
use regex::bytes::{Regex, RegexBuilder};
use std::sync::LazyLock;

/// An id like the default one, then a failure word, in any case, anywhere
/// in the line: after indentation, a bullet, a timestamp or a logger's
/// prefix (`[INFO] C4 FAIL db`) it is still a failing check to a reader.
static NEAR_MISS: LazyLock<Regex> = LazyLock::new(|| {
    RegexBuilder::new(r"(?:^|[^A-Za-z0-9_])(C[0-9]+[a-z]?)\s*[:.\-]?\s+(FAIL|FAILED|FAILURE|FAILING|ERROR|ERRORED|ERR)\b")
        .case_insensitive(true)
        .unicode(false)
        .build()
        .expect("valid pattern")
});

/// The bytes every match of an anchored pattern starts with (`^C[0-9]+…`
/// → `C`), from its literal prefixes; None when that cannot be said.
fn first_bytes(pattern: &str) -> Option<Vec<u8>> {
    use regex_syntax::hir::{Look, literal::Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    if !hir.properties().look_set_prefix().contains(Look::Start) {
        return None;
    }
    let prefixes = Extractor::new().extract(&hir);
    let mut first: Vec<u8> = Vec::new();
    for lit in prefixes.literals()? {
        let b = *lit.as_bytes().first()?;
        if !first.contains(&b) {
            first.push(b);
        }
    }
    (!first.is_empty()).then_some(first)
}

pub struct ChecksParser {
    pattern: Regex,
    /// What a check line must start with, when the pattern says.
    first: Option<Vec<u8>>,
    loose_first: Option<Vec<u8>>,
    /// The configured pattern, case-insensitive, for near misses under a
    /// custom id scheme.
    loose: Option<Regex>,
    report: SuiteReport,
}

fn parse(pattern: &Regex, line: &[u8]) -> Option<(String, Status, String)> {
    // is_match allocates nothing, and most lines of a chatty suite are not
    // checks: only a match pays for the captures.
    if !pattern.is_match(line) {
        return None;
    }
    let caps = pattern.captures(line)?;
    let id = caps.name("id")?;
    let status = match caps.name("status")?.as_bytes() {
        b"PASS" => Status::Pass,
        b"FAIL" => Status::Fail,
        b"WAIVED" => Status::Waived,
        b"SKIP" => Status::Skip,
        _ => return None,
    };
    let detail = caps
        .name("detail")
        .map(|d| String::from_utf8_lossy(d.as_bytes()).trim().to_string())
        .unwrap_or_default();
    Some((
        String::from_utf8_lossy(id.as_bytes()).into_owned(),
        status,
        detail,
    ))
}

/// Where an id like the default one could start: a `C` or `c` followed by
/// a digit. A line without one skips the unanchored search (the common
/// case of a chatty suite, and the search costs a scan of the whole line).
fn may_hold_an_id(line: &[u8]) -> bool {
    memchr::memchr2_iter(b'C', b'c', line).any(|i| line.get(i + 1).is_some_and(u8::is_ascii_digit))
}

/// True for a line that reads as a failing check without being one.
pub fn near_miss(line: &[u8], loose: Option<&Regex>) -> bool {
    if may_hold_an_id(line) && NEAR_MISS.is_match(line) {
        return true;
    }
    let Some(loose) = loose else { return false };
    let trimmed = line.trim_ascii_start();
    if !loose.is_match(trimmed) {
        return false;
    }
    loose.captures(trimmed).is_some_and(|c| {
        c.name("status").is_some_and(|s| {
            let s = s.as_bytes().to_ascii_uppercase();
            s.starts_with(b"FAIL") || s.starts_with(b"ERR")
        })
    })
}

impl ChecksParser {
    pub fn new(pattern: Regex) -> ChecksParser {
        let loose = RegexBuilder::new(pattern.as_str())
            .case_insensitive(true)
            .unicode(false)
            .build()
            .ok();
        let first = first_bytes(pattern.as_str());
        let loose_first = first.as_ref().map(|f| {
            f.iter()
                .flat_map(|b| [b.to_ascii_lowercase(), b.to_ascii_uppercase()])
                .collect()
        });
        ChecksParser {
            pattern,
            loose,
            first,
            loose_first,
            report: SuiteReport::default(),
        }
    }

    pub fn loose(&self) -> Option<&Regex> {
        self.loose.as_ref()
    }
}

/// Bytes a terminal or an editor shows as a line break, or not at all,
/// inside one `\n`-terminated line: NUL and the other C0 controls but tab,
/// DEL, NEL, and the Unicode line and paragraph separators.
fn hidden_break_at(line: &[u8], i: usize) -> Option<usize> {
    match line[i] {
        b'\t' => None,
        0x00..=0x1f | 0x7f => Some(1),
        0xc2 if line.get(i + 1) == Some(&0x85) => Some(2),
        0xe2 if line.get(i + 1) == Some(&0x80) && matches!(line.get(i + 2), Some(0xa8 | 0xa9)) => {
            Some(3)
        }
        _ => None,
    }
}

/// Whether a byte may start a hidden break (checked without branches, so
/// the common line is scanned a vector at a time).
fn may_break(b: u8) -> bool {
    (b < 0x20 && b != b'\t') | (b == 0x7f) | (b == 0xc2) | (b == 0xe2)
}

/// The line's parts between hidden breaks; one part for an ordinary line.
fn parts(line: &[u8]) -> Vec<&[u8]> {
    if !line.iter().fold(false, |seen, &b| seen | may_break(b)) {
        return if line.is_empty() {
            Vec::new()
        } else {
            vec![line]
        };
    }
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < line.len() {
        match hidden_break_at(line, i) {
            Some(n) => {
                out.push(&line[start..i]);
                i += n;
                start = i;
            }
            None => i += 1,
        }
    }
    out.push(&line[start..]);
    out.retain(|p| !p.is_empty());
    out
}

impl ChecksParser {
    /// One visible line: a check, a near miss, or neither.
    fn part(&mut self, shown: &[u8]) {
        let starts = |set: &Option<Vec<u8>>, line: &[u8]| {
            set.as_ref()
                .is_none_or(|s| line.first().is_some_and(|b| s.contains(b)))
        };
        // Most lines of a chatty suite cannot start a check: no regex runs.
        let parsed = if starts(&self.first, shown) {
            parse(&self.pattern, shown)
        } else {
            None
        };
        let loose = self
            .loose
            .as_ref()
            .filter(|_| starts(&self.loose_first, shown.trim_ascii_start()));
        match parsed {
            Some((id, status, detail)) => {
                self.report.results += 1;
                if status == Status::Fail {
                    self.report.failing = true;
                }
                self.report.table.record(id, status, detail);
            }
            None if near_miss(shown, loose) => self.report.note_near_miss(shown),
            None => {}
        }
    }
}

impl SuiteParser for ChecksParser {
    fn line(&mut self, shown: &[u8], overwritten: &[Vec<u8>]) {
        // A FAIL that was overwritten on screen still counts.
        for seg in overwritten {
            if let Some((_, Status::Fail, _)) = parse(&self.pattern, seg) {
                self.report.failing = true;
            }
        }
        // `C1 PASS ok\0C2 FAIL x` is two checks to whoever reads it.
        for part in parts(shown) {
            self.part(part);
        }
    }

    fn report(&self) -> &SuiteReport {
        &self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::normalize;

    pub const DEFAULT: &str =
        r"^(?P<id>C[0-9]+[a-z]?)\s+(?P<status>PASS|FAIL|WAIVED|SKIP)\b\s*(?P<detail>.*)$";

    fn feed(lines: &[&[u8]]) -> SuiteReport {
        let mut p = ChecksParser::new(crate::config::compile_check_pattern(DEFAULT).unwrap());
        for l in lines {
            let shown = normalize::shown(l);
            p.line(&shown, &normalize::overwritten_segments(l));
        }
        p.report().clone()
    }

    #[test]
    fn summary_like_the_pipeline_writes_it() {
        let mut lines: Vec<String> = (1..=8).map(|i| format!("C{i} PASS ok")).collect();
        lines.push("C9a WAIVED known flake".into());
        lines.push("C9b WAIVED known flake".into());
        let refs: Vec<&[u8]> = lines.iter().map(|s| s.as_bytes()).collect();
        let r = feed(&refs);
        assert_eq!(r.table.summary(), "8/10 PASS, C9a/C9b waived");
        assert!(!r.failing);
    }

    #[test]
    fn an_anchored_pattern_tells_what_a_check_starts_with() {
        assert_eq!(first_bytes(DEFAULT), Some(vec![b'C']));
        assert_eq!(
            first_bytes(r"^(?:T|CHK)-\d+ (?P<id>x)"),
            Some(vec![b'T', b'C'])
        );
        assert_eq!(
            first_bytes(r"(?P<id>C\d+) (?P<status>PASS)"),
            None,
            "not anchored"
        );
        assert_eq!(first_bytes(r"^\s*(?P<id>C\d+)"), None, "no literal start");
    }

    #[test]
    fn near_misses_are_never_nothing() {
        for l in [
            &b"C2 FAILED x"[..],
            b"c2 fail",
            b"  C2 FAIL indented",
            b"C2: ERROR boom",
            b"- C2 Failure",
            b"2026-01-01T00:00:00Z C4 FAIL db",
            b"[INFO] C4 FAIL db",
            b"check C4 FAIL db",
            b"@@C4 FAIL hidden",
            b"@@stagerun:zzz:end:0:ok:none@@C4 FAIL hidden",
            b"C1 PASS ok\x00C2 FAIL after nul",
            b"C4 PASS\x0bC5 FAIL",
            b"C4 PASS\x0cC5 FAIL",
            b"C4 PASS\xc2\x85C5 FAIL",
            b"C4 PASS\xe2\x80\xa8C5 FAIL",
            b"C4 PASS\x08\x08\x08\x08FAIL",
            b"C4 FAIL\x08\x08\x08\x08PASS",
        ] {
            let r = feed(&[l]);
            assert!(
                r.near_miss.is_some() || r.failing,
                "{}",
                String::from_utf8_lossy(l)
            );
        }
        for l in [
            &b"C1 PASS ok"[..],
            b"checking C2 later",
            b"C2 PASS no failures",
            b"C2 PASS\ttabs are fine",
            b"ABC2 FAIL is not a check id",
        ] {
            let r = feed(&[l]);
            assert!(
                r.near_miss.is_none() && !r.failing,
                "{}",
                String::from_utf8_lossy(l)
            );
        }
    }

    #[test]
    fn terminal_tricks_do_not_hide_a_fail() {
        for l in [
            &b"\x1b[31mC2 FAIL red\x1b[0m"[..],
            b"progress\rC2 FAIL",
            b"C2 PASS\rC2 FAIL",
            b"C2 FAIL\rC2 PASS",
            b"\xef\xbb\xbfC2 FAIL bom",
        ] {
            assert!(feed(&[l]).failing, "{}", String::from_utf8_lossy(l));
        }
        // The table shows what the terminal shows.
        let r = feed(&[b"C2 PASS\rC2 FAIL"]);
        assert_eq!(r.table.checks[0].status, Status::Fail);
    }
}
