//! Where the suite got to, read from the markers of both streams, and the
//! attempt's classification that follows from it.

use super::plan::Plan;
use crate::capture::markers::Marker;
use crate::capture::{Scan, Scanner, Segment};
use crate::classify::{Class, Classification, Evidence, Scope};
use crate::model::Reached;
use crate::process::supervise::Outcome;
use crate::suite::SuiteReport;

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
        /// The search for what left the suite's group could not run there.
        unverified: bool,
        /// junit: whether the report was there after the suite (None: no report asked).
        report: Option<bool>,
    },
    Busy(String),
    StateError(String),
    /// The wrapper would not start the suite (a stale report it cannot remove).
    Refused(String),
    /// Reattaching found no run to follow: it was lost where it ran.
    RunLost(String),
}

impl Provenance {
    pub fn word(&self) -> Reached {
        match self {
            Provenance::Direct => Reached::Direct,
            Provenance::NotStarted => Reached::NotStarted,
            Provenance::Started => Reached::Lost,
            Provenance::Ended { .. } => Reached::Ended,
            Provenance::Busy(_) => Reached::Busy,
            Provenance::StateError(_) => Reached::StateError,
            Provenance::Refused(_) => Reached::Refused,
            Provenance::RunLost(_) => Reached::RunLost,
        }
    }
}

/// What the markers of both streams say.
pub fn provenance(wrapped: bool, o: &Outcome) -> Provenance {
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
    if let Some(Marker::Refused { why }) = find(|m| matches!(m, Marker::Refused { .. })) {
        return Provenance::Refused(why.clone());
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
    if let Some(Marker::End {
        status,
        how,
        left,
        unverified,
        report,
    }) = last_end(&o.stdout).or_else(|| last_end(&o.stderr))
    {
        return Provenance::Ended {
            status,
            how,
            left,
            unverified,
            report,
        };
    }
    // A reattach that found nothing: the run is gone, whatever came before.
    if let Some(Marker::Gone { why }) = o
        .stdout
        .markers
        .iter()
        .rev()
        .find(|m| matches!(m, Marker::Gone { .. }))
    {
        return Provenance::RunLost(why.clone());
    }
    if find(|m| matches!(m, Marker::Start { .. })).is_some() {
        return Provenance::Started;
    }
    Provenance::NotStarted
}

/// The earlier invocation's run an attempt adopted: (its nonce, its start).
pub fn adopted(o: &Outcome) -> Option<(String, String)> {
    o.stdout.markers.iter().find_map(|m| match m {
        Marker::Adopt { run, since } => Some((run.clone(), since.clone())),
        _ => None,
    })
}

/// What the wrapper found about earlier runs of the work item, in words.
pub fn notes(o: &Outcome) -> Vec<String> {
    o.stdout
        .markers
        .iter()
        .filter_map(|m| match m {
            Marker::Note { what } => Some(what.as_str()),
            _ => None,
        })
        .map(|what| {
            let mut f = what.splitn(3, ':');
            match (f.next(), f.next(), f.next()) {
                (Some("lost"), Some(run), Some(since)) => format!(
                    "an earlier run of this work item ({run}, started {since}) was lost where it ran: its supervisor was gone without an end status (a restarted container?); its lock was taken over"
                ),
                (Some("uncollected"), Some(run), Some(status)) => format!(
                    "an earlier run of this work item ({run}) ended with status {status} but nobody collected its end; it was removed"
                ),
                _ => format!("the wrapper said: {what}"),
            }
        })
        .collect()
}

/// A text (the ssh master's stderr, a spawn failure) scanned like a stream.
pub fn scan_text(plan: &Plan, text: &str) -> Scan {
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
pub fn classify(
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
    let mut ev = Evidence {
        timed_out: o.timed_out,
        format: Some(plan.settings.suite_format.into()),
        ..Evidence::default()
    };
    let scope = match provenance {
        Provenance::Busy(other) => return (Scope::Channel, busy(other)),
        Provenance::Refused(why) => return (Scope::Channel, refused(why)),
        Provenance::RunLost(why) => return (Scope::Lost, run_lost(why, o)),
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
            suite_flags(plan, suite, &mut ev);
            if *status == 0 && (o.stdout.cut || o.stderr.cut) {
                return (Scope::Suite, output_not_kept(plan));
            }
            Scope::Suite
        }
        Provenance::Direct => {
            ev.exit_code = o.code;
            ev.signal = o.signal;
            ev.stderr_hits = o.stderr.hits[during].clone();
            ev.stdout_hits = o.stdout.hits[during].clone();
            suite_flags(plan, suite, &mut ev);
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
            channel_evidence(plan, provenance, o, master, &mut ev);
            Scope::Channel
        }
    };
    ev.scope = Some(scope);
    let mut c = if scope == Scope::Lost {
        rules.classify_lost(&ev)
    } else {
        rules.classify(&ev)
    };
    add_context(&mut c, scope, o, suite);
    (scope, c)
}

fn refused(why: &str) -> Classification {
    Classification {
        class: Class::PermanentEnv,
        rule: "suite-report-stale".into(),
        reason: format!("the suite was not started: {why}"),
        fix: Some(
            "Remove the old report where the suite runs (as its owner), or point suite_report at a path the suite's user owns."
                .into(),
        ),
    }
}

fn run_lost(why: &str, o: &Outcome) -> Classification {
    let what = match why {
        "lost" => {
            "its supervisor is gone without an end status (the container was restarted, or the supervisor was killed)"
        }
        _ => {
            "its state folder is gone (the container was restarted or replaced, or remote_state_dir was cleared)"
        }
    };
    let away = o.reattaches.last().map_or(String::new(), |r| {
        format!(" after the channel was lost ({})", r.cause)
    });
    Classification {
        class: Class::TransientInfra,
        rule: "run-lost".into(),
        reason: format!("the run was lost where it ran{away}: {what}"),
        fix: Some(
            "Check the staging container (docker ps -a, its restart count and logs), then run again: the suite starts from scratch."
                .into(),
        ),
    }
}

fn busy(other: &str) -> Classification {
    Classification {
        class: Class::PermanentEnv,
        rule: "work-item-busy".into(),
        reason: format!("another run ({other}) holds this work item where the suite runs"),
        fix: Some("Wait for the other run to finish, then run again.".into()),
    }
}

fn suite_flags(plan: &Plan, suite: &SuiteReport, ev: &mut Evidence) {
    ev.evidence = suite.evidence();
    ev.failing_check = suite.failing;
    ev.near_miss = suite.near_miss.is_some();
    ev.incomplete = suite.incomplete.is_some();
    ev.bailed = suite.bailed.is_some();
    ev.errored = suite.errored;
    ev.format = Some(plan.settings.suite_format.into());
}

fn output_not_kept(plan: &Plan) -> Classification {
    Classification {
        class: Class::PermanentEnv,
        rule: "output-not-kept".into(),
        reason: format!(
            "the suite exited 0, but it printed more than spool_limit ({}) and the output past it was never read: a pass nobody scanned is not a pass",
            crate::config::Value::show(&plan.settings.spool_limit)
        ),
        fix: Some("Raise spool_limit, or make the suite print less.".into()),
    }
}

/// The suite never started (or could not take its lock): what the channel
/// printed before and after, the master's log and a spawn failure.
fn channel_evidence(
    plan: &Plan,
    provenance: &Provenance,
    o: &Outcome,
    master: &Scan,
    ev: &mut Evidence,
) {
    let before = Segment::Before as usize;
    let after = Segment::After as usize;
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
}

/// The rule's reason, with the line or the fault it is about.
fn add_context(c: &mut Classification, scope: Scope, o: &Outcome, suite: &SuiteReport) {
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
}
