//! One staging log read back as a run: the few front-matter keys history
//! needs and the per-check table. A line scanner, not a YAML parser: the
//! front matter has one scalar per line by construction (staging_log.rs),
//! and 10,000 logs must read in the time `git log -p` prints them. It stops
//! after the check table: the output tails are never looked at.

use super::Mark;
use crate::exit::Verdict;
use crate::report::staging_log::KNOWN_SCHEMAS;

#[derive(Debug, Clone, PartialEq)]
pub struct LogRun {
    pub work_item: String,
    pub repo: String,
    pub started_ms: i64,
    pub verdict: Verdict,
    pub outcome: String,
    /// Check ids as the table shows them (`\|` and `\\` unescaped).
    pub checks: Vec<(String, Mark)>,
}

/// None: not a staging log this stagerun understands.
pub fn parse(bytes: &[u8]) -> Option<LogRun> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(bytes),
    };
    let body = text.strip_prefix("---\n")?;
    let mut lines = body.split('\n');
    let mut front = Front::default();
    let mut closed = false;
    for line in lines.by_ref() {
        if line == "---" {
            closed = true;
            break;
        }
        front.line(line)?;
    }
    if !closed || front.status_lines != 1 {
        return None;
    }
    if !KNOWN_SCHEMAS.contains(&front.schema.as_deref()?) {
        return None;
    }
    let verdict = Verdict::parse(front.status.as_deref()?)?;
    let started = front.started_at?;
    let started_ms = chrono::DateTime::parse_from_rfc3339(&started)
        .ok()?
        .timestamp_millis();
    let work_item = front.work_item.filter(|w| !w.is_empty())?;
    Some(LogRun {
        work_item,
        repo: front.repo.unwrap_or_default(),
        started_ms,
        verdict,
        outcome: front.outcome.unwrap_or_default(),
        checks: checks(lines),
    })
}

#[derive(Default)]
struct Front {
    schema: Option<String>,
    status: Option<String>,
    status_lines: usize,
    work_item: Option<String>,
    repo: Option<String>,
    outcome: Option<String>,
    started_at: Option<String>,
}

impl Front {
    /// Top-level keys only: attempts have their own, indented, started_at.
    fn line(&mut self, line: &str) -> Option<()> {
        if line.trim_start().starts_with("staging_status") {
            self.status_lines += 1;
        }
        if line.starts_with([' ', '-']) {
            return Some(());
        }
        let Some((key, value)) = line.split_once(':') else {
            return Some(());
        };
        let slot = match key {
            "schema" => &mut self.schema,
            "staging_status" => &mut self.status,
            "work_item" => &mut self.work_item,
            "repo" => &mut self.repo,
            "outcome" => &mut self.outcome,
            "started_at" => &mut self.started_at,
            _ => return Some(()),
        };
        *slot = Some(scalar(value.trim())?);
        Some(())
    }
}

/// A YAML scalar as serde-saphyr writes one on a line: plain, 'single' or
/// "double" quoted. None: a quoted value that does not close.
fn scalar(v: &str) -> Option<String> {
    if let Some(inner) = v.strip_prefix('\'') {
        return Some(inner.strip_suffix('\'')?.replace("''", "'"));
    }
    let Some(inner) = v.strip_prefix('"') else {
        return Some(if v == "~" || v == "null" {
            String::new()
        } else {
            v.to_string()
        });
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'x' => out.push(hex_char(&mut chars, 2)?),
            'u' => out.push(hex_char(&mut chars, 4)?),
            'U' => out.push(hex_char(&mut chars, 8)?),
            other => out.push(other),
        }
    }
    Some(out)
}

fn hex_char(chars: &mut std::str::Chars, n: usize) -> Option<char> {
    let digits: String = chars.take(n).collect();
    char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
}

/// The rows of the table under `## Checks`: the first two cells.
fn checks<'a>(mut lines: impl Iterator<Item = &'a str>) -> Vec<(String, Mark)> {
    let mut out = Vec::new();
    if !lines.by_ref().any(|l| l == "## Checks") {
        return out;
    }
    let mut lines = lines.skip_while(|l| l.is_empty());
    match lines.next() {
        Some(header) if header.starts_with("| Check | Status |") => {}
        _ => return out,
    }
    for row in lines.skip(1) {
        if !row.starts_with("| ") {
            break;
        }
        if let Some(check) = row_cells(row) {
            out.push(check);
        }
    }
    out
}

/// `| ID | STATUS | …`: the id up to the first unescaped `|`.
fn row_cells(row: &str) -> Option<(String, Mark)> {
    let rest = row.strip_prefix("| ")?;
    let mut id = String::new();
    let mut chars = rest.char_indices();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('\\' | '|'))) => id.push(e),
                Some((_, e)) => {
                    id.push('\\');
                    id.push(e);
                }
                None => id.push('\\'),
            },
            '|' => {
                end = Some(i);
                break;
            }
            c => id.push(c),
        }
    }
    let after = &rest[end? + 1..];
    if id.ends_with(' ') {
        id.pop();
    }
    let status = after.trim_start().split(' ').next()?;
    Some((id, Mark::from_status(status)?))
}

/// The id a check of this run has in a log read back (the table's cell,
/// unescaped the way `row_cells` does).
pub fn table_id(id: &str) -> String {
    let cell = crate::report::escape::cell(id);
    row_cells(&format!("| {cell} | PASS | |"))
        .map(|(id, _)| id)
        .unwrap_or(cell)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "---\nschema: stagerun.staging-log/2\nstaging_status: FAILED\nexit_code: 1\nreason: \"a: b\"\nwork_item: ORCH-7\nrepo: orch-core\noutcome: suite-ran\nattempts:\n- attempt: 1\n  started_at: \"2020-01-01T00:00:00.000Z\"\nstarted_at: \"2026-12-03T11:54:42.997Z\"\n---\n\n# Staging log — ORCH-7\n\n## Checks\n\n| Check | Status | Detail | History |\n|---|---|---|---|\n| C1 | PASS | ok |  |\n| a\\|b\\\\c | FAIL | x \\| y | flaky |\n| C9a | WAIVED | w |  |\n| T1 | TODO | t |  |\n\n8/10 PASS\n\n## stdout (tail, last attempt)\n\n```text\n| C2 | FAIL | not a row |\n```\n";

    #[test]
    fn reads_the_keys_and_the_table() {
        let r = parse(LOG.as_bytes()).unwrap();
        assert_eq!(r.work_item, "ORCH-7");
        assert_eq!(r.repo, "orch-core");
        assert_eq!(r.verdict, Verdict::Failed);
        assert_eq!(r.outcome, "suite-ran");
        assert_eq!(
            r.started_ms,
            chrono::DateTime::parse_from_rfc3339("2026-12-03T11:54:42.997Z")
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(
            r.checks,
            vec![
                ("C1".to_string(), Mark::Pass),
                ("a|b\\c".to_string(), Mark::Fail),
                ("C9a".to_string(), Mark::Waived),
                ("T1".to_string(), Mark::Skip),
            ]
        );
        assert_eq!(table_id("a|b\\c"), "a|b\\c");
    }

    #[test]
    fn what_is_not_a_log_is_none() {
        for bad in [
            "",
            "staging_status: SUCCESS\n",
            "---\nschema: stagerun.staging-log/2\nstaging_status: SUCCESS\nwork_item: A-1\nstarted_at: \"2026-12-03T11:54:42.997Z\"\n",
            "---\nschema: stagerun.staging-log/9\nstaging_status: SUCCESS\nwork_item: A-1\nstarted_at: \"2026-12-03T11:54:42.997Z\"\n---\n",
            "---\nschema: stagerun.staging-log/2\nstaging_status: SUCCESS\nstaging_status: HOLD\nwork_item: A-1\nstarted_at: \"2026-12-03T11:54:42.997Z\"\n---\n",
            "---\nschema: stagerun.staging-log/2\nstaging_status: SUCCESS\nwork_item: A-1\nstarted_at: yesterday\n---\n",
            "---\nschema: stagerun.staging-log/2\nstaging_status: SUCCESS\nstarted_at: \"2026-12-03T11:54:42.997Z\"\n---\n",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn quoted_scalars() {
        assert_eq!(scalar("'it''s'").unwrap(), "it's");
        assert_eq!(scalar("\"a\\\"b\\u00e9\\x41\"").unwrap(), "a\"béA");
        assert_eq!(scalar("plain").unwrap(), "plain");
        assert_eq!(scalar("\"open"), None);
    }
}
