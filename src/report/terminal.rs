//! The last line a person reads, agreeing with the exit code; and what to do.

use super::{ResultWord, RunReport, Sink};
use crate::diag;

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

impl Sink for Terminal {
    fn name(&self) -> &'static str {
        "terminal"
    }
    fn emit(&self, r: &RunReport) -> Result<(), String> {
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
