//! The last line a person reads, agreeing with the exit code; and what to do.

use super::{ResultWord, RunReport, Sink, StepOutcome};
use crate::diag;
use crate::model::StepStatus;

pub struct Terminal;

fn style(word: ResultWord) -> anstyle::Style {
    let color = match word {
        ResultWord::Success => anstyle::AnsiColor::Green,
        ResultWord::Failed => anstyle::AnsiColor::Red,
        ResultWord::Hold | ResultWord::Skipped => anstyle::AnsiColor::Yellow,
        ResultWord::Error => anstyle::AnsiColor::Red,
    };
    anstyle::Style::new().bold().fg_color(Some(color.into()))
}

/// What happened to the log's commit and push, in one line.
fn push_line(push: &StepOutcome) -> String {
    match push.status {
        StepStatus::Pushed => format!("log committed and pushed to {}", push.detail),
        StepStatus::Failed => format!("log push failed (verdict unchanged): {}", push.detail),
        StepStatus::Skipped | StepStatus::Ran => format!("log push skipped: {}", push.detail),
    }
}

impl Sink for Terminal {
    fn name(&self) -> &'static str {
        "terminal"
    }
    fn emit(&self, r: &RunReport) -> Result<(), String> {
        if let Some(d) = r.run.as_ref().filter(|d| d.live_output_dropped_bytes > 0) {
            crate::note!(
                "live output lagged: {} bytes of the suite's output were not shown (every byte was scanned; the log keeps the tail)",
                d.live_output_dropped_bytes
            );
        }
        let word = diag::paint(r.verdict.as_str(), style(r.verdict));
        match &r.run {
            Some(d) => {
                let history = r
                    .history_notes()
                    .map(|h| format!("; history: {h}"))
                    .unwrap_or_default();
                crate::note!(
                    "{} {word} (exit {}) — {} [{}, rule {}]: {}{history}; log: {}",
                    d.work_item,
                    r.exit_code,
                    d.summary,
                    d.outcome.as_str(),
                    d.rule,
                    r.reason,
                    d.log_path
                );
                if let Some(a) = &d.adopted_run {
                    crate::note!(
                        "adopted: the verdict is that of the run started {} by an earlier invocation (run {}); the suite was not started again",
                        a.started_at,
                        a.run
                    );
                }
                if d.reattaches > 0 {
                    crate::note!(
                        "the channel was lost {} mid-suite and read on in the same run; the suite started once",
                        if d.reattaches == 1 {
                            "once".to_string()
                        } else {
                            format!("{} times", d.reattaches)
                        }
                    );
                }
                crate::note!("{}", push_line(&d.push));
                if r.verdict != ResultWord::Success
                    && let Some(fix) = &d.fix
                {
                    crate::note!("what to do: {fix}");
                }
            }
            None => match r.verdict {
                ResultWord::Skipped => {
                    crate::note!("{word}: {}; nothing run, no log written", r.reason)
                }
                ResultWord::Hold => crate::note!("{word}: {}", r.reason),
                _ => crate::note!("error: {}", r.reason),
            },
        }
        Ok(())
    }
}

/// `gate`'s line: the verdict it read back, or why there is none.
pub struct GateLine;

impl Sink for GateLine {
    fn name(&self) -> &'static str {
        "terminal"
    }
    fn emit(&self, r: &RunReport) -> Result<(), String> {
        match &r.error {
            None => crate::note!(
                "gate {}: staging_status {}",
                r.log_file.as_deref().unwrap_or_default(),
                r.verdict.as_str()
            ),
            Some(_) if r.exit_code == crate::exit::HOLD => crate::note!("HOLD: {}", r.reason),
            Some(_) => crate::note!("error: {}", r.reason),
        }
        Ok(())
    }
}
