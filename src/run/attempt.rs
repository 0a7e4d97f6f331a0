//! Attempts: run the suite once, read its provenance, classify, stop what
//! is left where it runs, and retry transient faults with backoff.

use super::plan::Plan;
use super::provenance::{Provenance, classify, provenance, scan_text};
use super::recovery::Recorder;
use super::verdict::{Cleanup, Facts, Stop};
use super::{remote, suite_report};

mod connection;
use crate::capture::markers;
use crate::capture::{Scan, Scanner};
use crate::classify::{Class, Classification, Scope};
use crate::config::SuiteFormat;
use crate::diag::Stream;
use crate::process::registry;
use crate::process::supervise::{self, Connection, Outcome, Reattach, Supervisor};
use crate::suite::{self, SuiteParser, SuiteReport};
use crate::transport::session::Session;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

pub struct Attempt {
    pub number: u32,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub nonce: Option<String>,
    pub outcome: Outcome,
    pub provenance: Provenance,
    pub suite: SuiteReport,
    pub scope: Scope,
    pub classification: Classification,
    pub cleanup: Cleanup,
    /// The earlier invocation's run this attempt adopted: (nonce, its start).
    pub adopted: Option<(String, String)>,
}

impl Attempt {
    /// The suite's own exit status, when it is known.
    pub fn suite_status(&self) -> Option<i32> {
        match &self.provenance {
            Provenance::Ended { status, .. } => Some(*status),
            Provenance::Direct => self.outcome.code,
            _ => None,
        }
    }

    pub fn facts(&self) -> Facts {
        Facts {
            class: self.classification.class,
            rule: self.classification.rule.clone(),
            reason: self.classification.reason.clone(),
            fix: self.classification.fix.clone(),
            suite_status: self.suite_status(),
            failing: self.suite.failing,
            busy: match &self.provenance {
                Provenance::Busy(other) => Some(other.clone()),
                _ => None,
            },
            cleanup: self.cleanup.clone(),
        }
    }
}

pub struct Attempts {
    pub list: Vec<Attempt>,
    pub stop: Option<Stop>,
    pub interrupted: Option<i32>,
    /// A previous, killed run's leftovers that this run stopped.
    pub recovered: Option<String>,
    /// `run --preflight`: the steps, in order (a failed one ends the list).
    pub preflight: Vec<crate::preflight::StepResult>,
    /// This run's own ssh master, told to go: reaped when the attempts are
    /// dropped, after the log is written, so its goodbye is off the run's path.
    pub closing_master: Option<Session>,
}

pub struct Runner<'a> {
    plan: &'a Plan,
    session: Option<Session>,
    recorder: Recorder,
    signals_before: usize,
}

fn secs(d: Duration) -> String {
    supervise::fmt_elapsed(d)
}

impl<'a> Runner<'a> {
    pub fn new(plan: &'a Plan) -> Runner<'a> {
        Runner {
            plan,
            session: None,
            recorder: Recorder::for_work_item(&plan.item.dir),
            signals_before: crate::signals::count(),
        }
    }

    /// Recovery, the preflight steps when asked (over the same ssh
    /// master), then the attempts.
    pub fn run_all(mut self, preflight: bool) -> Attempts {
        let recovered = self.recover();
        let mut steps = Vec::new();
        if preflight {
            steps = self.preflight_steps();
            if steps.iter().any(|s| !s.ok) {
                self.recorder.clear();
                return Attempts {
                    list: Vec::new(),
                    stop: None,
                    interrupted: self.signalled(),
                    recovered,
                    preflight: steps,
                    closing_master: self.close_master(),
                };
            }
        }
        let (list, stop) = self.attempts();
        let interrupted = list
            .iter()
            .rev()
            .find_map(|a| a.outcome.interrupted)
            .or_else(|| self.signalled());
        self.recorder.clear();
        registry::set_local_group(None);
        registry::set_remote_stop(None);
        Attempts {
            list,
            stop,
            interrupted,
            recovered,
            preflight: steps,
            closing_master: self.close_master(),
        }
    }

    /// The master is no longer needed: it starts going now.
    fn close_master(&mut self) -> Option<Session> {
        let session = self.session.take()?;
        session.begin_close();
        Some(session)
    }

    /// The last signal, if one came since the run began.
    fn signalled(&self) -> Option<i32> {
        (crate::signals::count() > self.signals_before)
            .then(crate::signals::last)
            .flatten()
    }

    fn preflight_steps(&mut self) -> Vec<crate::preflight::StepResult> {
        let plan = self.plan;
        let failure = self.ensure_session();
        crate::preflight::run_steps(
            &plan.transport,
            &plan.settings,
            &plan.rules,
            self.session.as_mut(),
            failure.as_ref(),
            crate::preflight::print_step,
        )
    }

    /// Attempts until one is not transient, or the budget, the deadline, a
    /// failed cleanup or a signal ends them.
    fn attempts(&mut self) -> (Vec<Attempt>, Option<Stop>) {
        let plan = self.plan;
        let total = plan.attempts_allowed();
        let mut list: Vec<Attempt> = Vec::new();
        let mut stop = None;
        let mut jitter = fastrand::Rng::new();
        for n in 1..=total {
            if plan.time_left().is_some_and(|l| l.is_zero()) {
                stop = Some(Stop::Deadline);
                break;
            }
            let mut attempt = self.one(n);
            // The lock where the suite runs is held by one of our own earlier
            // attempts whose start marker never reached us: stop it, try again.
            if let Provenance::Busy(other) = &attempt.provenance
                && list
                    .iter()
                    .any(|a| a.nonce.as_deref() == Some(other.as_str()))
                && remote::stop(plan, self.session.as_mut(), other) == Cleanup::Confirmed
            {
                attempt = self.one(n);
            }
            let class = attempt.classification.class;
            let interrupted = attempt.outcome.interrupted.is_some();
            let cleanup_failed = matches!(attempt.cleanup, Cleanup::Failed(_));
            let run_lost = matches!(attempt.provenance, Provenance::RunLost(_));
            list.push(attempt);
            if class != Class::TransientInfra || interrupted {
                break;
            }
            if run_lost {
                stop = Some(Stop::RunLost);
                break;
            }
            if n == total {
                stop = Some(Stop::Budget);
                break;
            }
            if cleanup_failed {
                stop = Some(Stop::CleanupFailed);
                break;
            }
            let delay = backoff(plan, n, jitter.f64());
            if plan.time_left().is_some_and(|left| left <= delay) {
                stop = Some(Stop::Deadline);
                break;
            }
            let last = &list[list.len() - 1];
            crate::note!(
                "attempt {n}/{total}: {} ({}): {}; retrying in {:.1}s",
                last.classification.class.as_str(),
                last.classification.rule,
                last.classification.reason,
                delay.as_secs_f64()
            );
            if !crate::signals::sleep_unless_signalled(delay, self.signals_before) {
                break;
            }
        }
        (list, stop)
    }

    /// Stops what a SIGKILLed earlier run left, before anything new starts.
    fn recover(&mut self) -> Option<String> {
        let left = self.recorder.leftover()?;
        let mut notes = Vec::new();
        if let Some(pgid) = left.local_group
            && crate::process::group::alive(pgid)
        {
            let survivors =
                crate::process::group::terminate(pgid, self.plan.settings.grace.0, &|| false);
            notes.push(if survivors {
                format!("its local process group {pgid} survived KILL")
            } else {
                format!("stopped its local process group {pgid}")
            });
        }
        // The same command's run is left running: the wrapper adopts it
        // (its verdict is this run's); another command's run is stopped.
        let adoptable = left.identity.as_deref() == Some(self.plan.identity().as_str());
        if let Some(nonce) = &left.nonce
            && self.plan.transport.wrapped()
            && !adoptable
        {
            self.ensure_session();
            let how = remote::stop(self.plan, self.session.as_mut(), nonce);
            notes.push(match how {
                Cleanup::Failed(why) => {
                    format!("could not confirm its suite stopped where it runs: {why}")
                }
                _ => "its suite is confirmed stopped where it runs".into(),
            });
        }
        self.recorder.clear();
        let text = format!(
            "a previous run (pid {}) ended without cleaning up; {}",
            left.pid,
            notes.join("; ")
        );
        if !notes.is_empty() {
            crate::warn!("{text}");
        }
        (!notes.is_empty()).then_some(text)
    }

    /// Opens (or reuses) the ssh master; Err holds what ssh said.
    fn ensure_session(&mut self) -> Option<crate::transport::session::OpenFailure> {
        let ssh = self.plan.transport.ssh()?;
        if !self.plan.settings.connection_reuse {
            return None;
        }
        if self.session.as_mut().is_some_and(|s| s.alive()) {
            return None;
        }
        self.session = None;
        match crate::transport::persist::session(&self.plan.settings, ssh, self.signals_before) {
            Ok(s) => {
                self.session = Some(s);
                None
            }
            Err(f) => Some(f),
        }
    }

    fn scanners(&self, nonce: Option<&str>, end_seen: &Arc<AtomicBool>) -> (Scanner, Scanner) {
        let s = &self.plan.settings;
        let rules = &self.plan.rules;
        let tail = s.tail_lines.0 as usize;
        let parser: Box<dyn SuiteParser> = match s.suite_format {
            SuiteFormat::Checks => Box::new(suite::checks::ChecksParser::new(
                s.check_line_pattern.0.clone(),
            )),
            SuiteFormat::Tap => Box::new(suite::tap::TapParser::default()),
            SuiteFormat::Junit => Box::<suite::NoLines>::default(),
        };
        let sets = &rules.sets;
        let out = Scanner::new(
            nonce,
            [sets[0].stdout.clone(), sets[1].stdout.clone()],
            tail,
        )
        .with_parser(parser)
        .with_end_flag(end_seen.clone())
        .with_suite_pattern_use(sets[1].pattern_use.clone());
        let mut err = Scanner::new(
            nonce,
            [sets[0].stderr.clone(), sets[1].stderr.clone()],
            tail,
        )
        .with_end_flag(end_seen.clone())
        .with_suite_pattern_use(sets[1].pattern_use.clone());
        if s.suite_format == SuiteFormat::Checks {
            err = err.with_stderr_checks(s.check_line_pattern.0.clone());
        }
        (out, err)
    }

    fn one(&mut self, n: u32) -> Attempt {
        let plan = self.plan;
        let started_at = chrono::Utc::now();
        let wrapped = plan.transport.wrapped();
        let nonce = wrapped.then(markers::nonce);
        let open_failure = self.ensure_session();
        let never_started = open_failure.is_some();
        let mut master_text = String::new();
        let outcome = match open_failure {
            Some(f) => {
                // The master could not connect: that is this attempt's
                // evidence; no second connection with the same key.
                master_text = f.stderr.clone();
                Outcome {
                    code: f.code,
                    timed_out: f.timed_out,
                    interrupted: f.interrupted.then(crate::signals::last).flatten(),
                    stdout: Scan::default(),
                    stderr: Scan::default(),
                    ..Outcome::default()
                }
            }
            None => self.supervise(n, nonce.as_deref()),
        };
        if let Some(s) = self.session.as_mut() {
            master_text.push_str(&s.take_log());
        }
        if let Some(err) = &outcome.spawn_error {
            crate::note!("cannot run `{}`: {err}", plan.transport_program());
        }
        let provenance = provenance(wrapped, &outcome);
        let adopted = super::provenance::adopted(&outcome);
        // An adopted run is stopped and read by its own nonce.
        let nonce = outcome.nonce.clone().or(nonce);
        for note in super::provenance::notes(&outcome) {
            crate::warn!("{note}");
        }
        let mut suite = outcome.stdout.suite.clone().unwrap_or_default();
        if let Some(near) = &outcome.stderr.near_miss
            && suite.near_miss.is_none()
        {
            suite.near_miss = Some(format!("{near} (on stderr)"));
        }
        if plan.settings.suite_format == SuiteFormat::Junit
            && matches!(provenance, Provenance::Ended { .. } | Provenance::Direct)
        {
            suite = match written_report(&provenance) {
                true => suite_report::read(plan, self.session.as_mut()),
                false => SuiteReport {
                    incomplete: Some(format!(
                        "the suite wrote no report at {}",
                        plan.report_path().unwrap_or_default()
                    )),
                    ..SuiteReport::default()
                },
            };
        }
        let master = scan_text(plan, &master_text);
        let (scope, classification) = classify(plan, &provenance, &outcome, &suite, &master);
        // No connection, no command: nothing can be left where the suite runs.
        let cleanup = if never_started {
            Cleanup::NotNeeded
        } else {
            self.cleanup(&provenance, &outcome, nonce.as_deref())
        };
        Attempt {
            number: n,
            started_at,
            nonce,
            outcome,
            provenance,
            suite,
            scope,
            classification,
            cleanup,
            adopted,
        }
    }

    /// Stops the attempt where the suite runs when it may still be there.
    fn cleanup(
        &mut self,
        provenance: &Provenance,
        outcome: &Outcome,
        nonce: Option<&str>,
    ) -> Cleanup {
        let local = if outcome.survivors {
            Cleanup::Failed("local processes of the suite survived SIGKILL".into())
        } else {
            Cleanup::NotNeeded
        };
        let Some(nonce) = nonce else { return local };
        if let Provenance::Ended {
            unverified: true,
            how,
            left,
            ..
        } = provenance
            && how == "ok"
            && left.is_empty()
            && !outcome.timed_out
            && matches!(local, Cleanup::NotNeeded)
        {
            return Cleanup::Unverified(
                "the suite ended, but the search for what it may have left outside its group cannot run where it runs".into(),
            );
        }
        let needed = match provenance {
            Provenance::Ended { how, left, .. } => {
                how != "ok" || !left.is_empty() || outcome.timed_out
            }
            Provenance::Started => true,
            Provenance::NotStarted => {
                outcome.timed_out || outcome.interrupted.is_some() || outcome.pipes_held
            }
            // Lost: a supervisor gone may have left the suite running unwatched.
            Provenance::RunLost(_) => true,
            Provenance::Direct
            | Provenance::Busy(_)
            | Provenance::StateError(_)
            | Provenance::Refused(_) => false,
        };
        if !needed {
            return local;
        }
        let remote = remote::stop(self.plan, self.session.as_mut(), nonce);
        match (local, remote) {
            (Cleanup::Failed(why), _) | (_, Cleanup::Failed(why)) => Cleanup::Failed(why),
            (_, Cleanup::Unverified(why)) => Cleanup::Unverified(why),
            _ => Cleanup::Confirmed,
        }
    }
}

/// junit: a report is read back only when the wrapper saw it written
/// after the suite started (or could not say).
fn written_report(p: &Provenance) -> bool {
    !matches!(
        p,
        Provenance::Ended {
            report: Some(false),
            ..
        }
    )
}

fn backoff(plan: &Plan, retry: u32, unit: f64) -> Duration {
    // Half of the capped exponential step is fixed, half is jitter, so
    // retries from several runners spread out but never collapse to zero.
    let base = plan.settings.backoff_base.0;
    let cap = plan.settings.backoff_cap.0.max(base);
    let step = base
        .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
        .min(cap);
    step / 2 + step.mul_f64(0.5 * unit.clamp(0.0, 1.0))
}
