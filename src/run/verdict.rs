//! The verdict, decided from the attempts alone: a pure function, tested
//! without processes.

use crate::classify::Class;
use crate::exit::Verdict;
use crate::model::CleanupState;
pub use crate::model::Outcome;
use serde::Serialize;

/// Whether what an attempt started where the suite runs is known to be gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Cleanup {
    /// Nothing was left to stop (the suite ended by itself, or never started).
    NotNeeded,
    /// A stop ran and verified that nothing of the attempt is left.
    Confirmed,
    /// Stopped, but what the suite may have started outside its group could
    /// not be looked for where it runs (the tag search cannot run there).
    Unverified(String),
    /// Could not be verified; the reason says why.
    Failed(String),
}

impl Cleanup {
    pub fn word(&self) -> CleanupState {
        match self {
            Cleanup::NotNeeded => CleanupState::NotNeeded,
            Cleanup::Confirmed => CleanupState::Confirmed,
            Cleanup::Unverified(_) => CleanupState::Unverified,
            Cleanup::Failed(_) => CleanupState::Failed,
        }
    }
    /// The worst of several attempts' cleanups.
    pub fn worst<'a>(all: impl Iterator<Item = &'a Cleanup>) -> Cleanup {
        let mut worst = Cleanup::NotNeeded;
        for c in all {
            match (c, &worst) {
                (Cleanup::Failed(_), _) => return c.clone(),
                (Cleanup::Unverified(_), Cleanup::NotNeeded | Cleanup::Confirmed) => {
                    worst = c.clone()
                }
                (Cleanup::Confirmed, Cleanup::NotNeeded) => worst = Cleanup::Confirmed,
                _ => {}
            }
        }
        worst
    }
}

/// The facts of one attempt that the verdict needs.
#[derive(Debug, Clone)]
pub struct Facts {
    pub class: Class,
    pub rule: String,
    pub reason: String,
    pub fix: Option<String>,
    /// The suite's own exit status, when it ended.
    pub suite_status: Option<i32>,
    pub failing: bool,
    pub busy: Option<String>,
    pub cleanup: Cleanup,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    pub outcome: Outcome,
    pub rule: String,
    pub reason: String,
    pub fix: Option<String>,
}

/// Why the run stopped retrying early, if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Budget,
    Deadline,
    CleanupFailed,
    /// The run was lost where it ran (its supervisor gone without an end):
    /// a retry would be a second run of the suite, from scratch.
    RunLost,
}

pub fn decide(
    attempts: &[Facts],
    interrupted: Option<&str>,
    retries: u32,
    stop: Option<Stop>,
) -> Decision {
    let cleanup = Cleanup::worst(attempts.iter().map(|a| &a.cleanup));
    let Some(last) = attempts.last() else {
        return Decision {
            verdict: Verdict::Hold,
            outcome: interrupted.map_or(Outcome::TransientInfra, |_| Outcome::Interrupted),
            rule: if interrupted.is_some() {
                "interrupted"
            } else {
                "no-attempt"
            }
            .into(),
            reason: match interrupted {
                Some(sig) => format!("stagerun received {sig} before the suite started"),
                None => "no attempt could be made (the run's deadline had passed)".into(),
            },
            fix: None,
        };
    };
    if let Some(sig) = interrupted {
        return cancelled(sig, &cleanup);
    }
    if let Some(other) = &last.busy {
        return Decision {
            verdict: Verdict::Hold,
            outcome: Outcome::Busy,
            rule: "work-item-busy".into(),
            reason: format!(
                "another run ({other}) holds this work item where the suite runs; it was left untouched"
            ),
            fix: Some("Wait for the other run to finish, then run again.".into()),
        };
    }
    let verdict = match last.class {
        Class::SuiteRan if last.suite_status == Some(0) && !last.failing => Verdict::Success,
        Class::SuiteRan => Verdict::Failed,
        _ => Verdict::Hold,
    };
    let mut reason = last.reason.clone();
    if last.class == Class::TransientInfra {
        match stop {
            Some(Stop::Budget) if retries == 0 => reason.push_str(" (no retries configured)"),
            Some(Stop::Budget) => reason.push_str(&format!(" (retry budget of {retries} spent)")),
            Some(Stop::Deadline) => reason.push_str(" (the run's deadline left no time to retry)"),
            Some(Stop::CleanupFailed) => reason
                .push_str(" (not retried: the previous attempt could not be confirmed stopped)"),
            Some(Stop::RunLost) => reason
                .push_str(" (not retried: a second run would start the suite again from scratch)"),
            None => {}
        }
    }
    Decision {
        verdict,
        outcome: last.class.into(),
        rule: last.rule.clone(),
        reason,
        fix: last.fix.clone(),
    }
}

/// A signal ended the run: HOLD, saying honestly what was stopped.
fn cancelled(sig: &str, cleanup: &Cleanup) -> Decision {
    let what = match cleanup {
        Cleanup::Confirmed => "the suite was stopped (confirmed where it runs)".to_string(),
        Cleanup::NotNeeded => "nothing of the suite was left running".to_string(),
        Cleanup::Unverified(why) => format!(
            "the suite was stopped, but whether it left anything outside its group could not be checked where it runs: {why}"
        ),
        Cleanup::Failed(why) => {
            format!("the suite could NOT be confirmed stopped where it runs: {why}")
        }
    };
    Decision {
        verdict: Verdict::Hold,
        outcome: Outcome::Interrupted,
        rule: "interrupted".into(),
        reason: format!("stagerun received {sig}; {what}"),
        fix: Some(
            "The run was cancelled (CI job cancelled, Ctrl-C, shutdown); run it again.".into(),
        ),
    }
}

/// `run --preflight` stopped at a failing step: HOLD, the suite never ran.
pub fn preflight_failed(step: &crate::preflight::StepResult) -> Decision {
    let outcome = match step.class {
        Some(Class::TransientInfra) => Outcome::TransientInfra,
        _ => Outcome::PermanentEnv,
    };
    Decision {
        verdict: Verdict::Hold,
        outcome,
        rule: step
            .rule
            .clone()
            .unwrap_or_else(|| format!("preflight-{}", step.name.replace(' ', "-"))),
        reason: format!(
            "preflight step `{}` failed: {}; the suite was not run",
            step.name, step.detail
        ),
        fix: step.fix.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(class: Class, status: Option<i32>, failing: bool) -> Facts {
        Facts {
            class,
            rule: "r".into(),
            reason: "why".into(),
            fix: None,
            suite_status: status,
            failing,
            busy: None,
            cleanup: Cleanup::NotNeeded,
        }
    }

    #[test]
    fn success_only_when_the_suite_ran_and_passed() {
        let d = decide(&[facts(Class::SuiteRan, Some(0), false)], None, 2, None);
        assert_eq!(d.verdict, Verdict::Success);
        for (class, status, failing) in [
            (Class::SuiteRan, Some(0), true),
            (Class::SuiteRan, Some(1), false),
            (Class::SuiteRan, None, false),
        ] {
            assert_eq!(
                decide(&[facts(class, status, failing)], None, 2, None).verdict,
                Verdict::Failed
            );
        }
        for class in [Class::PermanentEnv, Class::TransientInfra] {
            assert_eq!(
                decide(&[facts(class, Some(0), false)], None, 2, None).verdict,
                Verdict::Hold
            );
        }
    }

    #[test]
    fn the_last_attempt_decides_and_earlier_ones_are_kept() {
        let attempts = [
            facts(Class::TransientInfra, None, true),
            facts(Class::SuiteRan, Some(0), false),
        ];
        assert_eq!(decide(&attempts, None, 2, None).verdict, Verdict::Success);
    }

    #[test]
    fn interruption_is_hold_and_says_honestly_what_was_stopped() {
        let mut a = facts(Class::SuiteRan, Some(0), false);
        a.cleanup = Cleanup::Failed("ssh: connect refused".into());
        let d = decide(&[a], Some("SIGTERM"), 2, None);
        assert_eq!(
            (d.verdict, d.outcome),
            (Verdict::Hold, Outcome::Interrupted)
        );
        assert!(d.reason.contains("could NOT be confirmed"), "{}", d.reason);
        let mut b = facts(Class::TransientInfra, None, false);
        b.cleanup = Cleanup::Confirmed;
        assert!(
            decide(&[b], Some("SIGINT"), 2, None)
                .reason
                .contains("stopped (confirmed")
        );
        assert_eq!(
            decide(&[], Some("SIGHUP"), 2, None).outcome,
            Outcome::Interrupted
        );
    }

    #[test]
    fn busy_and_budget() {
        let mut a = facts(Class::PermanentEnv, None, false);
        a.busy = Some("nonce".into());
        assert_eq!(decide(&[a], None, 2, None).outcome, Outcome::Busy);
        let d = decide(
            &[facts(Class::TransientInfra, None, false)],
            None,
            2,
            Some(Stop::Budget),
        );
        assert!(d.reason.ends_with("(retry budget of 2 spent)"));
    }

    #[test]
    fn cleanup_worst_of_all() {
        let all = [Cleanup::NotNeeded, Cleanup::Confirmed, Cleanup::NotNeeded];
        assert_eq!(Cleanup::worst(all.iter()), Cleanup::Confirmed);
        let all = [Cleanup::Failed("x".into()), Cleanup::Confirmed];
        assert_eq!(Cleanup::worst(all.iter()).word(), CleanupState::Failed);
    }
}
