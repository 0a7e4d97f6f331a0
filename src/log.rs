//! `15-staging-log.md`: YAML front matter for machines (exactly one
//! `staging_status:` line), a human section below. Written atomically: temp
//! file in the same folder, fsync, rename, fsync of the folder.

use crate::checks::{Check, Counts};
use crate::exit::Verdict;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

pub const SCHEMA: &str = "stagerun.staging-log/1";

/// Durations are recorded in seconds to the millisecond.
pub fn seconds(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub class: String,
    pub rule: String,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub started_at: String,
    pub duration_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub schema: &'static str,
    pub staging_status: Verdict,
    pub work_item: String,
    pub repo: String,
    pub outcome: String,
    pub rule: String,
    pub reason: String,
    pub exit_code: Option<i32>,
    pub attempts: Vec<AttemptRecord>,
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    pub transport: String,
    pub command: String,
    pub checks: Counts,
    pub summary: String,
    pub stagerun_version: &'static str,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub header: Header,
    pub checks: Vec<Check>,
    pub stdout_tail: String,
    pub stderr_tail: String,
}

fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// A fence longer than any backtick run in the text, so suite output can
/// never close it early.
fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// A pipeline may grep the whole file for `^staging_status:`; suite output
/// that happens to contain such a line is indented so only the front
/// matter's line can match.
fn neutralize_status_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.starts_with("staging_status") {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

pub fn render(report: &Report) -> anyhow::Result<String> {
    let h = &report.header;
    // One line per scalar: the front matter is read by scripts too.
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    let front = serde_saphyr::to_string_with_options(h, options)?;
    let mut out = String::with_capacity(front.len() + 4096);
    out.push_str("---\n");
    out.push_str(&front);
    if !front.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("---\n\n");
    out.push_str(&format!("# Staging log — {}\n\n", h.work_item));
    out.push_str(&format!(
        "**Verdict: {}** — {}\n\n",
        h.staging_status, h.summary
    ));
    out.push_str(&format!(
        "- Outcome: `{}` (rule `{}`): {}\n",
        h.outcome, h.rule, h.reason
    ));
    out.push_str(&format!(
        "- Repo `{}`, transport `{}`, {} attempt(s), {:.1}s, {} → {}\n\n",
        h.repo,
        h.transport,
        h.attempts.len(),
        h.duration_s,
        h.started_at,
        h.finished_at
    ));
    out.push_str("## Checks\n\n");
    if report.checks.is_empty() {
        out.push_str("_The suite reported no check lines._\n\n");
    } else {
        out.push_str("| Check | Status | Detail |\n|---|---|---|\n");
        for c in &report.checks {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                cell(&c.id),
                c.status.as_str(),
                cell(&c.detail)
            ));
        }
        out.push_str(&format!("\n{}\n\n", h.summary));
    }
    out.push_str("## Attempts\n\n| # | Class | Rule | Exit | Duration |\n|---|---|---|---|---|\n");
    for a in &h.attempts {
        let exit = match (&a.exit_code, &a.signal) {
            (Some(c), _) => c.to_string(),
            (None, Some(s)) => s.clone(),
            (None, None) => "—".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.1}s |\n",
            a.attempt, a.class, a.rule, exit, a.duration_s
        ));
    }
    out.push_str(&format!(
        "\n## Command\n\n{}\n{}\n{}\n\n",
        fence_for(&h.command),
        h.command,
        fence_for(&h.command)
    ));
    for (title, tail) in [
        ("stdout", &report.stdout_tail),
        ("stderr", &report.stderr_tail),
    ] {
        out.push_str(&format!("## {title} (tail, last attempt)\n\n"));
        if tail.is_empty() {
            out.push_str("_empty_\n\n");
        } else {
            let tail = &neutralize_status_lines(tail);
            let fence = fence_for(tail);
            out.push_str(&format!("{fence}text\n{tail}{fence}\n\n"));
        }
    }
    Ok(out)
}

/// Replaces `path` with `content` so that a reader sees the old file or the
/// new one, never a mix, and a failure leaves the old one untouched.
pub fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("log");
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(content)?;
    tmp.as_file().sync_all()?;
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename is durable only once the folder is synced.
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// What `gate` reads back: the verdict line and the schema.
pub fn read_verdict(text: &str) -> Result<Verdict, String> {
    let body = text
        .strip_prefix("---\n")
        .ok_or("does not start with YAML front matter (`---`)")?;
    let end = body
        .find("\n---\n")
        .ok_or("front matter is not closed by `---`")?;
    let front = &body[..end + 1];
    let status_lines: Vec<&str> = front
        .lines()
        .filter(|l| l.trim_start().starts_with("staging_status"))
        .collect();
    match status_lines.len() {
        0 => return Err("no `staging_status:` line in the front matter".into()),
        1 => {}
        n => {
            return Err(format!(
                "{n} `staging_status:` lines; exactly one is allowed"
            ));
        }
    }
    let value = status_lines[0]
        .strip_prefix("staging_status:")
        .ok_or("`staging_status:` must start its line")?
        .trim();
    let verdict = Verdict::parse(value)
        .ok_or_else(|| format!("`staging_status: {value}` is not SUCCESS, FAILED or HOLD"))?;
    #[derive(serde::Deserialize)]
    struct Probe {
        schema: Option<String>,
    }
    let probe: Probe = serde_saphyr::from_str(front).map_err(|e| {
        format!(
            "front matter is not valid YAML: {}",
            crate::config::one_line_yaml_error(&e)
        )
    })?;
    match probe.schema.as_deref() {
        Some(s) if s.starts_with("stagerun.staging-log/") => Ok(verdict),
        Some(s) => Err(format!("unknown schema `{s}`")),
        None => Err("front matter has no `schema:`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: Verdict) -> Report {
        Report {
            header: Header {
                schema: SCHEMA,
                staging_status: status,
                work_item: "ORCH-1".into(),
                repo: "r".into(),
                outcome: "suite-ran".into(),
                rule: "suite-passed".into(),
                reason: "staging_status: FAILED # sneaky".into(),
                exit_code: Some(0),
                attempts: vec![],
                started_at: "2026-01-01T00:00:00Z".into(),
                finished_at: "2026-01-01T00:00:01Z".into(),
                duration_s: 1.0,
                transport: "local".into(),
                command: "python3 x".into(),
                checks: Counts::default(),
                summary: "s".into(),
                stagerun_version: "0",
            },
            checks: vec![],
            stdout_tail: "staging_status: FAILED\n```\n---\n".into(),
            stderr_tail: String::new(),
        }
    }

    #[test]
    fn rendered_log_reads_back_whatever_the_suite_printed() {
        for v in [Verdict::Success, Verdict::Failed, Verdict::Hold] {
            let text = render(&report(v)).unwrap();
            assert_eq!(read_verdict(&text), Ok(v), "{text}");
            assert_eq!(
                text.lines()
                    .filter(|l| l.starts_with("staging_status:"))
                    .count(),
                1
            );
        }
    }

    #[test]
    fn malformed_logs_are_errors() {
        for bad in [
            "",
            "staging_status: SUCCESS\n",
            "---\nstaging_status: SUCCESS\n",
            "---\nschema: stagerun.staging-log/1\nstaging_status: PASSED\n---\n",
            "---\nschema: stagerun.staging-log/1\nstaging_status: SUCCESS\nstaging_status: FAILED\n---\n",
            "---\nstaging_status: SUCCESS\n---\n",
            "---\nschema: stagerun.staging-log/1\nstaging_status: SUCCESS\n: : [\n---\n",
        ] {
            assert!(read_verdict(bad).is_err(), "{bad:?}");
        }
    }
}
