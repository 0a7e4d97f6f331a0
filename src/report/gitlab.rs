//! GitLab CI: the suite's output in a collapsible section. A section's
//! collapsed state is fixed when it opens, before the outcome is known, so
//! it opens collapsed and, when the run did not succeed, the result and the
//! output tails follow in an expanded section.

use super::{ResultWord, RunReport, Sink};
use crate::diag::{self, Stream};

pub fn active() -> bool {
    std::env::var("GITLAB_CI").as_deref() == Ok("true")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn section_start(name: &str, header: &str, collapsed: bool) -> String {
    let opt = if collapsed { "[collapsed=true]" } else { "" };
    format!(
        "\x1b[0Ksection_start:{}:{name}{opt}\r\x1b[0K{header}",
        now()
    )
}

pub fn section_end(name: &str) -> String {
    format!("\x1b[0Ksection_end:{}:{name}\r\x1b[0K", now())
}

pub fn begin_suite(stream: Stream, header: &str) {
    diag::line(stream, &section_start("stagerun_suite", header, true));
}

pub fn end_suite(stream: Stream) {
    diag::line(stream, &section_end("stagerun_suite"));
}

pub struct GitLab {
    pub stream: Stream,
}

impl Sink for GitLab {
    fn name(&self) -> &'static str {
        "gitlab"
    }
    fn emit(&self, r: &RunReport) -> Result<(), String> {
        if r.verdict == ResultWord::Success || r.run.is_none() {
            return Ok(());
        }
        let header = format!(
            "stagerun {} (exit {}): {}",
            r.verdict.as_str(),
            r.exit_code,
            r.reason
        );
        diag::line(
            self.stream,
            &section_start("stagerun_result", &super::escape::control(&header), false),
        );
        for c in r.check_list.iter() {
            if let Some(h) = &c.history {
                let line = format!("history: {} {}: {}", c.id, c.status.as_str(), h.text);
                diag::line(self.stream, &super::escape::control(&line));
            }
        }
        for (what, tail) in [("stdout", &r.stdout_tail), ("stderr", &r.stderr_tail)] {
            if !tail.is_empty() {
                diag::line(self.stream, &format!("--- suite {what} (tail) ---"));
                diag::write(self.stream, super::escape::control(tail).as_bytes());
            }
        }
        diag::line(self.stream, &section_end("stagerun_result"));
        Ok(())
    }
}
