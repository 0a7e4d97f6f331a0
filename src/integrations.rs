//! Making the result native where stagerun runs: JUnit XML for test
//! reporters, GitHub Actions step summary and annotations, GitLab CI
//! collapsible sections.

use crate::checks::{Check, Status};
use crate::exit::Verdict;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

pub struct ResultView<'a> {
    pub work_item: &'a str,
    pub repo: &'a str,
    pub verdict: Verdict,
    pub outcome: &'a str,
    pub rule: &'a str,
    pub reason: &'a str,
    pub summary: &'a str,
    pub checks: &'a [Check],
    pub duration_s: f64,
    pub started_at: &'a str,
    pub log_path: &'a Path,
    pub attempts: usize,
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry other control characters at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// One testcase per staging check (FAIL → failure, WAIVED/SKIP → skipped)
/// plus one `infrastructure` testcase: an error on HOLD.
pub fn junit(v: &ResultView) -> String {
    let class = format!("staging.{}", v.work_item);
    let failures = v.checks.iter().filter(|c| c.status == Status::Fail).count()
        + usize::from(
            v.verdict == Verdict::Failed && !v.checks.iter().any(|c| c.status == Status::Fail),
        );
    let skipped = v
        .checks
        .iter()
        .filter(|c| matches!(c.status, Status::Waived | Status::Skip))
        .count();
    let errors = usize::from(v.verdict == Verdict::Hold);
    let tests = v.checks.len() + 1;
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<testsuites name="stagerun" tests="{tests}" failures="{failures}" errors="{errors}" skipped="{skipped}" time="{:.3}">"#,
        v.duration_s
    );
    let _ = writeln!(
        x,
        r#"  <testsuite name="deploy-staging {}" tests="{tests}" failures="{failures}" errors="{errors}" skipped="{skipped}" time="{:.3}" timestamp="{}">"#,
        xml_escape(v.work_item),
        v.duration_s,
        xml_escape(v.started_at)
    );
    for c in v.checks {
        let name = xml_escape(&format!("{} {}", c.id, c.detail));
        let detail = xml_escape(&c.detail);
        match c.status {
            Status::Pass => {
                let _ = writeln!(
                    x,
                    r#"    <testcase classname="{}" name="{name}"/>"#,
                    xml_escape(&class)
                );
            }
            Status::Fail => {
                let _ = writeln!(
                    x,
                    r#"    <testcase classname="{}" name="{name}"><failure type="FAIL" message="{detail}">{detail}</failure></testcase>"#,
                    xml_escape(&class)
                );
            }
            Status::Waived | Status::Skip => {
                let _ = writeln!(
                    x,
                    r#"    <testcase classname="{}" name="{name}"><skipped message="{} {detail}"/></testcase>"#,
                    xml_escape(&class),
                    c.status.as_str()
                );
            }
        }
    }
    let body = match v.verdict {
        Verdict::Hold => format!(
            r#"<error type="{}" message="{}">HOLD: {} ({} attempt(s)); log: {}</error>"#,
            xml_escape(v.rule),
            xml_escape(v.reason),
            xml_escape(v.outcome),
            v.attempts,
            xml_escape(&v.log_path.display().to_string())
        ),
        Verdict::Failed if !v.checks.iter().any(|c| c.status == Status::Fail) => format!(
            r#"<failure type="{}" message="{}">the suite failed without a FAIL check line</failure>"#,
            xml_escape(v.rule),
            xml_escape(v.reason)
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        x,
        r#"    <testcase classname="{}" name="infrastructure: {} via {}" time="{:.3}">{body}</testcase>"#,
        xml_escape(&class),
        xml_escape(v.outcome),
        xml_escape(v.rule),
        v.duration_s
    );
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

pub fn write_junit(path: &Path, v: &ResultView) -> std::io::Result<()> {
    crate::log::write_atomic(path, junit(v).as_bytes())
}

/// Markdown for `$GITHUB_STEP_SUMMARY`.
pub fn github_summary(v: &ResultView) -> String {
    let icon = match v.verdict {
        Verdict::Success => "✅",
        Verdict::Failed => "❌",
        Verdict::Hold => "⏸️",
    };
    let mut s = format!(
        "### {icon} deploy-staging {}: {}\n\n{}\n\n- Outcome `{}`, rule `{}`: {}\n- Repo `{}`, {} attempt(s), {:.1}s\n- Log: `{}`\n",
        v.work_item,
        v.verdict,
        v.summary,
        v.outcome,
        v.rule,
        v.reason,
        v.repo,
        v.attempts,
        v.duration_s,
        v.log_path.display()
    );
    if !v.checks.is_empty() {
        s.push_str("\n| Check | Status | Detail |\n|---|---|---|\n");
        for c in v.checks {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                c.id,
                c.status.as_str(),
                c.detail.replace('|', "\\|")
            );
        }
    }
    s.push('\n');
    s
}

/// GitHub workflow command data: `%`, CR and LF must be escaped.
fn gh_escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

pub fn github_annotation(v: &ResultView) -> Option<String> {
    let (level, what) = match v.verdict {
        Verdict::Success => return None,
        Verdict::Failed => ("error", "staging suite FAILED"),
        Verdict::Hold => ("warning", "staging HOLD (infrastructure, no rollback)"),
    };
    Some(format!(
        "::{level} title={}::{}",
        gh_escape(&format!("deploy-staging {}", v.work_item))
            .replace(',', "%2C")
            .replace(':', "%3A"),
        gh_escape(&format!(
            "{what}: {} — {} [rule {}]",
            v.summary, v.reason, v.rule
        ))
    ))
}

/// Appends the summary and prints the annotation when running in GitHub
/// Actions. Errors are reported, never fatal.
pub fn github_actions(v: &ResultView, annotations_to_stdout: bool) {
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let res = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(github_summary(v).as_bytes()));
        if let Err(e) = res {
            eprintln!("stagerun: warning: cannot append to GITHUB_STEP_SUMMARY: {e}");
        }
    }
    if let Some(line) = github_annotation(v) {
        if annotations_to_stdout {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }
}

pub fn in_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
}

pub fn in_gitlab_ci() -> bool {
    std::env::var("GITLAB_CI").as_deref() == Ok("true")
}

/// GitLab's collapsible section markers.
pub fn gitlab_section_start(name: &str, header: &str) -> String {
    format!(
        "\x1b[0Ksection_start:{}:{name}[collapsed=true]\r\x1b[0K{header}",
        chrono::Utc::now().timestamp()
    )
}

pub fn gitlab_section_end(name: &str) -> String {
    format!(
        "\x1b[0Ksection_end:{}:{name}\r\x1b[0K",
        chrono::Utc::now().timestamp()
    )
}
