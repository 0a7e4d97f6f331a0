//! Attempts: run the suite once, read its provenance, classify, stop what
//! is left where it runs, and retry transient faults with backoff.

use super::plan::Plan;
use super::recovery::Recorder;
use super::remote;
use super::verdict::{Cleanup, Facts, Stop};
use crate::capture::markers::{self, Marker};
use crate::capture::{Scan, Scanner, Segment};
use crate::classify::{Class, Classification, Evidence, Scope};
use crate::config::SuiteFormat;
use crate::diag::Stream;
use crate::process::supervise::{self, Outcome};
use crate::process::{helper::Helper, registry};
use crate::suite::{self, SuiteParser, SuiteReport};
use crate::transport::session::Session;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// What the markers say about where the suite got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Run directly here: we saw it start and end ourselves.
    Direct,
    NotStarted,
    /// Started, never ended: the channel was lost mid-suite.
    Started,
    Ended {
        status: i32,
        how: String,
        left: Vec<u32>,
    },
    Busy(String),
    StateError(String),
}

impl Provenance {
    pub fn word(&self) -> &'static str {
        match self {
            Provenance::Direct => "direct",
            Provenance::NotStarted => "not-started",
            Provenance::Started => "lost",
            Provenance::Ended { .. } => "ended",
            Provenance::Busy(_) => "busy",
            Provenance::StateError(_) => "state-error",
        }
    }
}

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
        let plan = self.plan;
        let recovered = self.recover();
        let mut steps = Vec::new();
        if preflight {
            let failure = self.ensure_session();
            steps = crate::preflight::run_steps(
                &plan.transport,
                &plan.settings,
                &plan.rules,
                self.session.as_mut(),
                failure.as_ref(),
                crate::preflight::print_step,
            );
            if steps.iter().any(|s| !s.ok) {
                self.recorder.clear();
                return Attempts {
                    list: Vec::new(),
                    stop: None,
                    interrupted: (crate::signals::count() > self.signals_before)
                        .then(crate::signals::last)
                        .flatten(),
                    recovered,
                    preflight: steps,
                };
            }
        }
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
            list.push(attempt);
            if class != Class::TransientInfra || interrupted {
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
        let interrupted = list
            .iter()
            .rev()
            .find_map(|a| a.outcome.interrupted)
            .or_else(|| {
                (crate::signals::count() > self.signals_before)
                    .then(crate::signals::last)
                    .flatten()
            });
        self.recorder.clear();
        registry::set_local_group(None);
        registry::set_remote_stop(None);
        Attempts {
            list,
            stop,
            interrupted,
            recovered,
            preflight: steps,
        }
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
        if let Some(nonce) = &left.nonce
            && self.plan.transport.wrapped()
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
        match super::persist::session(&self.plan.settings, ssh, self.signals_before) {
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
        let mut suite = outcome.stdout.suite.clone().unwrap_or_default();
        if let Some(near) = &outcome.stderr.near_miss
            && suite.near_miss.is_none()
        {
            suite.near_miss = Some(format!("{near} (on stderr)"));
        }
        if plan.settings.suite_format == SuiteFormat::Junit
            && matches!(provenance, Provenance::Ended { .. } | Provenance::Direct)
        {
            suite = self.read_report();
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
        }
    }

    fn supervise(&mut self, n: u32, nonce: Option<&str>) -> Outcome {
        let plan = self.plan;
        let control = self.session.as_ref().map(|s| s.control.clone());
        let argv = match plan.attempt_argv(nonce.unwrap_or(""), control.as_deref()) {
            Ok(a) => a,
            Err(e) => {
                return Outcome {
                    spawn_error: Some(e.to_string()),
                    ..Outcome::default()
                };
            }
        };
        if plan.report_path().is_some() && !plan.transport.wrapped() {
            // A report left by an earlier run must not pass for this one's.
            let _ = std::fs::remove_file(plan.report_path().unwrap_or_default());
        }
        let end_seen = Arc::new(AtomicBool::new(false));
        let (out, err) = self.scanners(nonce, &end_seen);
        let per_attempt = Instant::now() + plan.settings.timeout.0;
        let deadline = match plan.deadline {
            Some(d) => d.min(per_attempt),
            None => per_attempt,
        };
        let echo = match (plan.quiet, plan.json) {
            (true, _) => None,
            (false, true) => Some((Stream::Err, Stream::Err)),
            (false, false) => Some((Stream::Out, Stream::Err)),
        };
        let mut env = Vec::new();
        if !plan.transport.wrapped() {
            // Live output: a piped Python otherwise buffers stdout to the end.
            env.push(("PYTHONUNBUFFERED".to_string(), "1".to_string()));
        }
        let opts = supervise::Options {
            deadline,
            grace: plan.settings.grace.0,
            heartbeat: plan.settings.heartbeat.0,
            echo,
            env,
            live_status: !plan.quiet && crate::diag::live_status(),
            label: format!(
                "attempt {n}/{} ({} per attempt{})",
                plan.attempts_allowed(),
                secs(plan.settings.timeout.0),
                plan.time_left()
                    .map(|l| format!(", {} of the run left", secs(l)))
                    .unwrap_or_default()
            ),
            signals_since: self.signals_before,
            nonce: nonce.map(str::to_string),
            end_seen,
            // Run directly, the suite's descendants are swept for here;
            // wrapped, the wrapper does it where the suite runs.
            tag: (!plan.transport.wrapped()).then(markers::nonce),
        };
        let nonce_owned = nonce.map(str::to_string);
        let recorder = &mut self.recorder;
        let outcome = supervise::run(&argv, &opts, out, err, |pgid| {
            registry::set_local_group(Some(pgid));
            recorder.set(nonce_owned.clone(), Some(pgid));
        });
        registry::set_local_group(None);
        outcome
    }

    /// junit: the suite's report, read back through the same channel.
    fn read_report(&mut self) -> SuiteReport {
        let plan = self.plan;
        let Some(path) = plan.report_path() else {
            return SuiteReport::default();
        };
        let errors_fail = plan.settings.junit_errors == crate::config::JunitErrors::Failed;
        let bytes = if plan.transport.wrapped() {
            let control = match self.session.as_mut() {
                Some(s) => s.alive().then(|| s.control.clone()),
                None => None,
            };
            let cmd = vec![
                "sh".to_string(),
                "-c".into(),
                r#"[ -f "$1" ] || { echo "no report at $1" >&2; exit 3; }; s=$(wc -c < "$1"); [ "$s" -le "$2" ] || { echo "report is $s bytes, over $2" >&2; exit 4; }; cat "$1""#.into(),
                "stagerun-report".into(),
                path.to_string(),
                REPORT_MAX.to_string(),
            ];
            let argv = match plan.transport.argv(cmd, control.as_deref()) {
                Ok(a) => a,
                Err(e) => return incomplete(format!("cannot read the report: {e}")),
            };
            let mut h = Helper::new(
                argv,
                plan.settings.connect_timeout.0 + Duration::from_secs(30),
            );
            h.capture = REPORT_MAX + 1;
            let out = h.run();
            if !out.success() {
                let why = out
                    .stderr_text()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                return incomplete(format!(
                    "the suite's report {path} could not be read: {why}"
                ));
            }
            out.stdout
        } else {
            match read_bounded(std::path::Path::new(path)) {
                Ok(b) => b,
                Err(why) => {
                    return incomplete(format!(
                        "the suite's report {path} could not be read: {why}"
                    ));
                }
            }
        };
        suite::junit::parse_report(&bytes, errors_fail, REPORT_MAX)
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
        let needed = match provenance {
            Provenance::Ended { how, left, .. } => {
                how != "ok" || !left.is_empty() || outcome.timed_out
            }
            Provenance::Started => true,
            Provenance::NotStarted => {
                outcome.timed_out || outcome.interrupted.is_some() || outcome.pipes_held
            }
            Provenance::Direct | Provenance::Busy(_) | Provenance::StateError(_) => false,
        };
        if !needed {
            return local;
        }
        let remote = remote::stop(self.plan, self.session.as_mut(), nonce);
        match (local, remote) {
            (Cleanup::Failed(why), _) | (_, Cleanup::Failed(why)) => Cleanup::Failed(why),
            _ => Cleanup::Confirmed,
        }
    }
}

const REPORT_MAX: usize = 32 << 20;

fn incomplete(why: String) -> SuiteReport {
    SuiteReport {
        incomplete: Some(why),
        ..SuiteReport::default()
    }
}

fn read_bounded(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| crate::error::describe_io(&e))?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut buf = Vec::new();
    f.take(REPORT_MAX as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| crate::error::describe_io(&e))?;
    Ok(buf)
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

/// What the markers of both streams say.
fn provenance(wrapped: bool, o: &Outcome) -> Provenance {
    if !wrapped {
        return if o.spawn_error.is_some() {
            Provenance::NotStarted
        } else {
            Provenance::Direct
        };
    }
    let find = |pick: fn(&Marker) -> bool| o.stdout.marker(pick).or_else(|| o.stderr.marker(pick));
    if let Some(Marker::Busy { other }) = find(|m| matches!(m, Marker::Busy { .. })) {
        return Provenance::Busy(other.clone());
    }
    if let Some(Marker::StateError { why }) = find(|m| matches!(m, Marker::StateError { .. })) {
        return Provenance::StateError(why.clone());
    }
    // The last end marker: the wrapper's own comes after anything the
    // suite printed (a copy the suite forged is caught as `forged_marker`).
    let last_end = |s: &Scan| {
        s.markers
            .iter()
            .rev()
            .find(|m| matches!(m, Marker::End { .. }))
            .cloned()
    };
    if let Some(Marker::End { status, how, left }) =
        last_end(&o.stdout).or_else(|| last_end(&o.stderr))
    {
        return Provenance::Ended { status, how, left };
    }
    if find(|m| matches!(m, Marker::Start { .. })).is_some() {
        return Provenance::Started;
    }
    Provenance::NotStarted
}

/// A text (the ssh master's stderr, a spawn failure) scanned like a stream.
fn scan_text(plan: &Plan, text: &str) -> Scan {
    let sets = &plan.rules.sets;
    let mut s =
        Scanner::new(None, [sets[0].stderr.clone(), sets[1].stderr.clone()], 20).channel_only();
    s.feed(text.as_bytes());
    s.finish()
}

fn or_hits(parts: &[&[bool]]) -> Vec<bool> {
    let len = parts.iter().map(|p| p.len()).max().unwrap_or(0);
    (0..len)
        .map(|i| parts.iter().any(|p| p.get(i).copied().unwrap_or(false)))
        .collect()
}

/// Provenance first, rules second (classify/rules.yaml).
fn classify(
    plan: &Plan,
    provenance: &Provenance,
    o: &Outcome,
    suite: &SuiteReport,
    master: &Scan,
) -> (Scope, Classification) {
    let rules = plan.rules.get();
    let before = Segment::Before as usize;
    let during = Segment::Suite as usize;
    let after = Segment::After as usize;
    let suite_flags = |ev: &mut Evidence| {
        ev.evidence = suite.evidence();
        ev.failing_check = suite.failing;
        ev.near_miss = suite.near_miss.is_some();
        ev.incomplete = suite.incomplete.is_some();
        ev.bailed = suite.bailed.is_some();
        ev.errored = suite.errored;
        ev.format = Some(plan.settings.suite_format.into());
    };
    let mut ev = Evidence {
        timed_out: o.timed_out,
        format: Some(plan.settings.suite_format.into()),
        ..Evidence::default()
    };
    let scope = match provenance {
        Provenance::Busy(other) => {
            return (
                Scope::Channel,
                Classification {
                    class: Class::PermanentEnv,
                    rule: "work-item-busy".into(),
                    reason: format!(
                        "another run ({other}) holds this work item where the suite runs"
                    ),
                    fix: Some("Wait for the other run to finish, then run again.".into()),
                },
            );
        }
        Provenance::Ended { status, how, .. } => {
            ev.exit_code = Some(*status);
            ev.deadline = how == "deadline";
            ev.forged_marker = o.stdout.end_markers > 1
                || o.stderr.end_markers > 1
                || matches!(
                    (o.stdout.end_status(), o.stderr.end_status()),
                    (Some(a), Some(b)) if a != b
                );
            ev.stderr_hits = o.stderr.hits[during].clone();
            ev.stdout_hits = o.stdout.hits[during].clone();
            suite_flags(&mut ev);
            Scope::Suite
        }
        Provenance::Direct => {
            ev.exit_code = o.code;
            ev.signal = o.signal;
            ev.stderr_hits = o.stderr.hits[during].clone();
            ev.stdout_hits = o.stdout.hits[during].clone();
            suite_flags(&mut ev);
            Scope::Suite
        }
        Provenance::Started => {
            ev.exit_code = o.code;
            ev.signal = o.signal;
            ev.stderr_hits = or_hits(&[&o.stderr.hits[after], &master.hits[before]]);
            ev.stdout_hits = o.stdout.hits[after].clone();
            Scope::Lost
        }
        Provenance::NotStarted | Provenance::StateError(_) => {
            ev.exit_code = o.code;
            ev.signal = o.signal;
            ev.state_error = matches!(provenance, Provenance::StateError(_));
            let mut spawn = Scan::default();
            if let Some(err) = &o.spawn_error {
                spawn = scan_text(
                    plan,
                    &format!(
                        "stagerun: cannot run `{}`: {err}\n",
                        plan.transport_program()
                    ),
                );
                ev.exit_code = Some(127);
            }
            ev.stderr_hits = or_hits(&[
                &o.stderr.hits[before],
                &o.stderr.hits[after],
                &master.hits[before],
                &spawn.hits[before],
            ]);
            ev.stdout_hits = or_hits(&[&o.stdout.hits[before], &o.stdout.hits[after]]);
            Scope::Channel
        }
    };
    ev.scope = Some(scope);
    let mut c = if scope == Scope::Lost {
        rules.classify_lost(&ev)
    } else {
        rules.classify(&ev)
    };
    if let Some(near) = &suite.near_miss
        && matches!(
            c.rule.as_str(),
            "suite-near-miss-nonzero" | "suite-ambiguous-check-line"
        )
    {
        c.reason = format!("{}: {near:?}", c.reason);
    }
    if let Some(why) = suite.incomplete.as_ref().or(suite.bailed.as_ref())
        && matches!(c.rule.as_str(), "suite-incomplete" | "suite-bailed-out")
    {
        c.reason = format!("{}: {why}", c.reason);
    }
    if scope == Scope::Lost
        && let Some(last) = o.stderr.suite_tail.last_line()
    {
        c.reason = format!("{} (last stderr line: {last:?})", c.reason);
    }
    (scope, c)
}
