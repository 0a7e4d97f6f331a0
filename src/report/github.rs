//! GitHub Actions: the suite's output is grouped and fenced off with
//! `::stop-commands::` (a suite printing `::error …` or `::add-mask::` must
//! not talk to the runner), then a step summary and one annotation that
//! agree with the exit code, on every exit path.

use super::escape;
use super::{ResultWord, RunReport, Sink};
use crate::diag::{self, Stream};
use std::io::Write;

pub fn active() -> bool {
    std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
}

/// Workflow command data: `%`, CR and LF escaped.
pub fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow command property values: also `:` and `,`.
pub fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Opens a collapsible group and stops command processing for the suite's
/// output; the token ends it. On the stream the suite's output is echoed
/// to, so the runner sees them in order (stderr under --json, whose stdout
/// holds exactly one JSON object: the runner reads commands on both).
pub fn begin_suite(stream: Stream, title: &str) -> String {
    let token = format!("stagerun-{}", crate::capture::markers::nonce());
    diag::line(stream, &format!("::group::{}", data(title)));
    diag::line(stream, &format!("::stop-commands::{token}"));
    token
}

pub fn end_suite(stream: Stream, token: &str) {
    diag::line(stream, &format!("::{token}::"));
    diag::line(stream, "::endgroup::");
}

pub fn summary(r: &RunReport) -> String {
    let icon = match r.verdict {
        ResultWord::Success => "✅",
        ResultWord::Failed => "❌",
        ResultWord::Hold => "⏸️",
        ResultWord::Skipped => "⏭️",
        ResultWord::Error => "⚠️",
    };
    let Some(d) = &r.run else {
        return format!(
            "### {icon} deploy-staging: {} (exit {})\n\n{}\n\n",
            r.verdict.as_str(),
            r.exit_code,
            escape::cell(&r.reason)
        );
    };
    let mut s = format!(
        "### {icon} deploy-staging {}: {} (exit {})\n\n{}\n\n- Outcome `{}`, rule `{}`: {}\n- Repo `{}`, {} of {} attempts, {:.1}s; suite stopped where it runs: {}\n- Log: `{}`\n",
        escape::cell(&d.work_item),
        r.verdict.as_str(),
        r.exit_code,
        escape::cell(&d.summary),
        d.outcome.as_str(),
        escape::cell(&d.rule),
        escape::cell(&r.reason),
        escape::cell(&d.repo),
        d.attempts.len(),
        d.attempts_allowed,
        d.duration_s,
        d.remote_cleanup,
        escape::cell(&d.log_path)
    );
    if r.verdict != ResultWord::Success
        && let Some(fix) = &d.fix
    {
        s.push_str(&format!("- What to do: {}\n", escape::cell(fix)));
    }
    if !r.check_list.is_empty() {
        let history = r.check_list.iter().any(|c| c.history.is_some());
        s.push_str(if history {
            "\n| Check | Status | Detail | History |\n|---|---|---|---|\n"
        } else {
            "\n| Check | Status | Detail |\n|---|---|---|\n"
        });
        for c in &r.check_list {
            s.push_str(&format!(
                "| {} | {} | {} |",
                escape::cell(&c.id),
                c.status.as_str(),
                escape::cell(&c.detail)
            ));
            if history {
                let note = c.history.as_ref().map(|h| h.text.as_str()).unwrap_or("");
                s.push_str(&format!(" {} |", escape::cell(note)));
            }
            s.push('\n');
        }
    }
    s.push('\n');
    s
}

pub fn annotation(r: &RunReport) -> Option<String> {
    let (level, what) = match r.verdict {
        ResultWord::Success => return None,
        ResultWord::Failed => ("error", "staging suite FAILED"),
        ResultWord::Hold => ("warning", "staging HOLD (infrastructure, no rollback)"),
        ResultWord::Skipped => ("notice", "staging SKIPPED"),
        ResultWord::Error => ("error", "stagerun could not run"),
    };
    let title = match &r.run {
        Some(d) => format!("deploy-staging {}", d.work_item),
        None => "deploy-staging".to_string(),
    };
    let history = r
        .history_notes()
        .map(|h| format!("; history: {h}"))
        .unwrap_or_default();
    let detail = match &r.run {
        Some(d) => format!(
            "{what} (exit {}): {} — {} [rule {}]{history}",
            r.exit_code, d.summary, r.reason, d.rule
        ),
        None => format!("{what} (exit {}): {}", r.exit_code, r.reason),
    };
    Some(format!(
        "::{level} title={}::{}",
        property(&title),
        data(&escape::strip_ansi(&detail))
    ))
}

/// Appends to a regular file only: a FIFO or device must not block us.
fn append_file(path: &std::ffi::OsStr, what: &str, text: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(format!("{what} is not a regular file; not writing to it"));
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot open {what}: {}", crate::error::describe_io(&e)))?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!("{what} is not a regular file; not writing to it"));
    }
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot append to {what}: {}", crate::error::describe_io(&e)))
}

pub struct GitHub {
    /// Annotations go to stdout, unless stdout carries JSON.
    pub annotations_to: Stream,
}

impl Sink for GitHub {
    fn name(&self) -> &'static str {
        "github"
    }
    fn emit(&self, r: &RunReport) -> Result<(), String> {
        if let Some(line) = annotation(r) {
            diag::line(self.annotations_to, &line);
        }
        let mut result = Ok(());
        if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
            result = append_file(&path, "GITHUB_OUTPUT", &outputs(r));
        }
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
            result = result.and(append_file(&path, "GITHUB_STEP_SUMMARY", &summary(r)));
        }
        result
    }
}

/// Step outputs (`verdict`, `exit-code`, `log-path`) for later steps and
/// jobs; values are single-line by construction.
pub fn outputs(r: &RunReport) -> String {
    let log = r
        .run
        .as_ref()
        .map(|d| d.log_path.clone())
        .or_else(|| r.log_file.clone())
        .unwrap_or_default()
        .replace(['\n', '\r'], " ");
    format!(
        "verdict={}\nexit-code={}\nlog-path={log}\n",
        r.verdict.as_str(),
        r.exit_code
    )
}
