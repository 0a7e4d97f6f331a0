//! After the verdict: build the report, record it in the log (or leave a
//! HOLD record when that fails), alert on HOLD, push the log.

use super::attempt::{Attempt, Attempts};
use super::plan::Plan;
use super::provenance::Provenance;
use super::verdict::{Cleanup, Decision, Outcome};
use super::{alert, push};
use crate::config::{ChannelName, EngineName, TransportName};
use crate::exit::{self, Verdict};
use crate::model::{LogStatus, StepStatus, seconds};
use crate::report::staging_log::{self, Written};
use crate::report::{
    AdoptedRun, AttemptRecord, LogState, RESULT_SCHEMA, ReattachRecord, ResultWord, RunDetails,
    RunReport, StepOutcome,
};
use crate::suite::SuiteReport;

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn attempt_record(a: &Attempt) -> AttemptRecord {
    AttemptRecord {
        attempt: a.number,
        class: a.classification.class,
        rule: a.classification.rule.clone(),
        scope: a.scope,
        provenance: a.provenance.word(),
        exit_code: a.outcome.code,
        suite_status: a.suite_status(),
        signal: a.outcome.signal.map(crate::signals::name),
        timed_out: a.outcome.timed_out,
        started_at: rfc3339(a.started_at),
        duration_s: seconds(a.outcome.duration),
        remote_cleanup: a.cleanup.word(),
        checks: a.suite.table.counts(),
        failed_checks: a.suite.table.failed_seen.clone(),
        reattaches: a.outcome.reattaches.iter().map(reattach_record).collect(),
        adopted: a.adopted.as_ref().map(|(run, since)| AdoptedRun {
            run: run.clone(),
            started_at: since.clone(),
        }),
    }
}

fn reattach_record(r: &crate::process::supervise::Reattach) -> ReattachRecord {
    ReattachRecord {
        at: rfc3339(r.at),
        away_s: seconds(r.away),
        stdout_offset: r.stdout_offset,
        stderr_offset: r.stderr_offset,
        tries: r.tries,
        cause: r.cause.clone(),
        resumed: r.resumed,
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The failing checks an attempt reported, each id once, in the order
/// seen (kept even when the id later passed), with the word for each.
fn failing_seen(suite: &SuiteReport) -> Option<String> {
    let mut ids: Vec<(&str, &str)> = Vec::new();
    for c in &suite.table.failed_seen {
        if !ids.iter().any(|(id, _)| *id == c.id) {
            let word = if c.status == crate::suite::Status::Error {
                "errored"
            } else {
                "failed"
            };
            ids.push((c.id.as_str(), word));
        }
    }
    let beyond = suite.table.dropped_fail;
    if ids.is_empty() && beyond == 0 {
        return None;
    }
    let word = if ids.iter().all(|(_, w)| *w == "errored") && beyond == 0 {
        "errored"
    } else {
        "failed"
    };
    let mut named = match ids.len() {
        0 => String::new(),
        1..=4 => ids.iter().map(|(id, _)| *id).collect::<Vec<_>>().join("/"),
        n => plural(n, "check"),
    };
    if beyond > 0 {
        let more = format!("{beyond} beyond the check table");
        named = if named.is_empty() {
            more
        } else {
            format!("{named} and {more}")
        };
    }
    Some(format!("{named} {word}"))
}

/// How far the suite got: what passed, and every failing check it saw.
fn how_far(suite: &SuiteReport) -> String {
    let passed = suite.table.counts().pass;
    match (suite.table.checks.is_empty(), failing_seen(suite)) {
        (_, Some(failing)) if passed == 0 => failing,
        (_, Some(failing)) => format!("{} passed and {failing}", plural(passed, "check")),
        (true, None) => "no checks reported".to_string(),
        (false, None) => format!("{} passed", plural(passed, "check")),
    }
}

/// What happened, in words that cannot mislead: a table summary when the
/// suite finished with a verdict, otherwise how far it got (failing checks
/// named) and how it ended; never a bare "N/N PASS" next to HOLD.
fn summary(decision: &Decision, attempts: &[Attempt]) -> String {
    let verdict = decision.verdict;
    let Some(last) = attempts.last() else {
        return "the suite did not run".into();
    };
    let suite = &last.suite;
    let table = suite.table.summary();
    let got = how_far(suite);
    let clean_end = matches!(
        last.provenance,
        Provenance::Ended { .. } | Provenance::Direct
    ) && !last.outcome.timed_out
        && last.outcome.interrupted.is_none();
    let said = match (verdict, clean_end, last.suite_status()) {
        (Verdict::Success, _, _) => return table,
        (Verdict::Failed, _, _) if suite.failing => return table,
        (_, true, Some(status)) if status != 0 => format!("{got} before the suite exited {status}"),
        (Verdict::Hold, true, _) if !suite.table.checks.is_empty() || suite.table.dropped > 0 => {
            format!("{got}, not enough for a verdict")
        }
        (_, true, _) if !suite.table.checks.is_empty() => table,
        (_, true, _) => got,
        _ if last.outcome.interrupted.is_some() => format!("{got} before the run was interrupted"),
        _ if last.outcome.timed_out => format!("{got} before the attempt timed out"),
        _ => match last.provenance {
            Provenance::Started => format!("{got} before the channel was lost"),
            Provenance::RunLost(_) => format!("{got} before the run was lost where it ran"),
            Provenance::Busy(_) => "the work item is busy where the suite runs".into(),
            _ => "the suite did not start".into(),
        },
    };
    // A failing check an earlier attempt saw is named too: it is why the
    // retry happened, and the HOLD must not read as if nothing failed.
    let earlier: Vec<String> = attempts[..attempts.len() - 1]
        .iter()
        .filter_map(|a| failing_seen(&a.suite).map(|f| format!("attempt {}: {f}", a.number)))
        .collect();
    if earlier.is_empty() || verdict != Verdict::Hold {
        said
    } else {
        format!("{said}; earlier, {}", earlier.join("; "))
    }
}

/// The last attempt's output tails; the channel's stderr too when the
/// suite did not end.
fn tails(a: &Attempt) -> (String, String) {
    let mut err = a.outcome.stderr.suite_tail.text();
    if !matches!(a.provenance, Provenance::Ended { .. } | Provenance::Direct) {
        err.push_str(&a.outcome.stderr.channel_tail.text());
    }
    (a.outcome.stdout.suite_tail.text(), err)
}

pub fn report(plan: &Plan, attempts: &Attempts, decision: &Decision) -> RunReport {
    let s = &plan.settings;
    let last = attempts.list.last();
    let suite = last.map(|a| a.suite.clone()).unwrap_or_default();
    let cleanup = Cleanup::worst(attempts.list.iter().map(|a| &a.cleanup));
    let (stdout_tail, stderr_tail) = last.map(tails).unwrap_or_default();
    let log_path = plan.item.log_path().display().to_string();
    let legacy_transport = match (plan.transport.channel.name(), plan.transport.engine.name()) {
        (ChannelName::Local, EngineName::Docker) => TransportName::Docker,
        (ChannelName::Local, _) => TransportName::Local,
        (ChannelName::Ssh, _) => TransportName::Ssh,
    };
    RunReport {
        schema: RESULT_SCHEMA.into(),
        verdict: decision.verdict.into(),
        exit_code: decision.verdict.exit_code(),
        reason: decision.reason.clone(),
        error: None,
        run: Some(RunDetails {
            work_item: plan.item.id.clone(),
            repo: s.repo.clone(),
            outcome: decision.outcome,
            rule: decision.rule.clone(),
            fix: decision.fix.clone(),
            summary: summary(decision, &attempts.list),
            checks: suite.table.counts(),
            attempts: attempts.list.iter().map(attempt_record).collect(),
            attempts_allowed: plan.attempts_allowed(),
            started_at: rfc3339(plan.started_at),
            finished_at: rfc3339(chrono::Utc::now()),
            duration_s: seconds(plan.clock.elapsed()),
            transport: legacy_transport,
            channel: plan.transport.channel.name(),
            engine: plan.transport.engine.name(),
            suite_format: s.suite_format,
            command: plan.display_command(last.and_then(|a| a.nonce.as_deref()).unwrap_or("")),
            remote_cleanup: cleanup.word(),
            remote_cleanup_detail: match &cleanup {
                Cleanup::Failed(why) | Cleanup::Unverified(why) => Some(why.clone()),
                _ => None,
            },
            recovered: attempts.recovered.clone(),
            reattaches: attempts
                .list
                .iter()
                .map(|a| a.outcome.reattaches.iter().filter(|r| r.resumed).count() as u32)
                .sum(),
            adopted: last.is_some_and(|a| a.adopted.is_some()),
            adopted_run: last
                .and_then(|a| a.adopted.as_ref())
                .map(|(run, since)| AdoptedRun {
                    run: run.clone(),
                    started_at: since.clone(),
                }),
            preflight: attempts.preflight.clone(),
            log: LogState {
                path: log_path.clone(),
                status: LogStatus::Pending,
                detail: None,
            },
            log_path,
            log_written: false,
            push: StepOutcome {
                status: StepStatus::Skipped,
                detail: "not attempted".into(),
            },
            alert: None,
            live_output_dropped_bytes: 0,
            history: None,
            stagerun_version: env!("CARGO_PKG_VERSION").into(),
        }),
        check_list: suite.table.checks.clone(),
        log_file: None,
        stdout_tail,
        stderr_tail,
        suite_verdict: None,
    }
}

/// Writes the log; when it cannot be written, the report becomes HOLD
/// ("unrecorded") everywhere and a record that `gate` reads as HOLD is left.
pub fn record(plan: &Plan, lock: &crate::lock::WorkItemLock, r: &mut RunReport) {
    let log = plan.item.log_path();
    crate::fault::point("before-log-write");
    let result = if !plan.item.unchanged() || !lock.guards(&plan.item.dir) {
        Err(format!(
            "the work item folder {} was replaced during the run",
            plan.item.dir.display()
        ))
    } else {
        staging_log::render(r)
            .map_err(|e| format!("cannot render the log: {e}"))
            .and_then(|text| staging_log::write_atomic(&log, text.as_bytes()))
    };
    let suite_verdict = r.staging_verdict();
    let Some(d) = r.run.as_mut() else { return };
    match result {
        Ok(written) => {
            // The new verdict stands: an older "not recorded" marker goes.
            let _ = std::fs::remove_file(staging_log::unrecorded_marker(&log));
            d.log_written = true;
            d.log.status = LogStatus::Written;
            if let Written::NotDurable(why) = written {
                let msg = format!(
                    "the new log was renamed into place, but syncing its folder failed ({why}): readers see the new verdict; a crash now could bring back the previous log"
                );
                crate::warn!("{msg}");
                d.log.detail = Some(msg);
            }
        }
        Err(why) => {
            let stands = staging_log::mark_unrecorded(
                &log,
                &format!("{suite_verdict} could not be recorded: {why}"),
            );
            d.log.status = LogStatus::Failed;
            d.log.detail = Some(format!("{why}; {stands}"));
            d.outcome = Outcome::Unrecorded;
            d.fix = Some("Free space or fix permissions in the work item folder, then run again; until then the gate reads HOLD.".into());
            r.suite_verdict = Some(suite_verdict);
            r.reason = format!(
                "the suite's verdict {suite_verdict} could not be recorded: {why}; {stands}"
            );
            r.verdict = ResultWord::Hold;
            r.exit_code = exit::HOLD;
            crate::note!("error: could not write {}: {why}; {stands}", log.display());
        }
    }
}

/// Alert on HOLD, push a written log; neither changes the verdict.
pub fn notify(plan: &Plan, r: &mut RunReport, interrupted: bool, signals_since: usize) {
    let s = &plan.settings;
    let verdict = r.staging_verdict();
    let Some(d) = r.run.as_ref() else { return };
    let alert = match (&s.alert_command, verdict) {
        (Some(cmd), Verdict::Hold) => Some(alert::run(&cmd.0, r, signals_since)),
        _ => None,
    };
    let push = if !d.log_written {
        step(StepStatus::Skipped, "log not written")
    } else if interrupted {
        step(StepStatus::Skipped, "run interrupted")
    } else if !s.push {
        step(
            StepStatus::Skipped,
            &format!("disabled by {}", s.source_of("push")),
        )
    } else if crate::signals::count() > signals_since {
        step(StepStatus::Skipped, "interrupted before the push")
    } else {
        let message = format!(
            "deploy-staging({}): staging gate {} ({})",
            d.work_item, verdict, d.summary
        );
        push::push(&push::Request {
            log_path: &plan.item.log_path(),
            message: &message,
            remote: &s.push_remote.0,
            branch: s.push_branch.as_ref().map(|b| b.0.as_str()),
            timeout: s.push_timeout.0,
            connect_timeout: s.connect_timeout.0,
            signals_since,
        })
    };
    if let Some(d) = r.run.as_mut() {
        d.alert = alert;
        d.push = push;
        d.live_output_dropped_bytes = crate::diag::echo_dropped();
    }
}

fn step(status: StepStatus, detail: &str) -> StepOutcome {
    StepOutcome {
        status,
        detail: detail.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::Status;

    fn attempt(number: u32, provenance: Provenance, lines: &[(&str, Status)]) -> Attempt {
        let mut suite = SuiteReport::default();
        for (id, status) in lines {
            suite.table.record(id.to_string(), *status, String::new());
        }
        Attempt {
            number,
            started_at: chrono::Utc::now(),
            nonce: None,
            outcome: Default::default(),
            provenance,
            suite,
            scope: Default::default(),
            classification: crate::classify::Classification {
                class: crate::classify::Class::TransientInfra,
                rule: "channel-lost".into(),
                reason: String::new(),
                fix: None,
            },
            cleanup: Cleanup::NotNeeded,
            adopted: None,
        }
    }

    fn hold() -> Decision {
        Decision {
            verdict: Verdict::Hold,
            outcome: Outcome::TransientInfra,
            rule: "channel-lost".into(),
            reason: String::new(),
            fix: None,
        }
    }

    #[test]
    fn a_lost_channel_names_the_failing_checks_it_saw() {
        let lost = attempt(
            1,
            Provenance::Started,
            &[("C1", Status::Pass), ("C4", Status::Fail)],
        );
        assert_eq!(
            summary(&hold(), std::slice::from_ref(&lost)),
            "1 check passed and C4 failed before the channel was lost"
        );
        // A failing check of an earlier attempt is named too.
        let again = attempt(2, Provenance::Started, &[("C1", Status::Pass)]);
        assert_eq!(
            summary(&hold(), &[lost, again]),
            "1 check passed before the channel was lost; earlier, attempt 1: C4 failed"
        );
        let errored = attempt(1, Provenance::Started, &[("t.x", Status::Error)]);
        assert_eq!(
            summary(&hold(), &[errored]),
            "t.x errored before the channel was lost"
        );
    }

    #[test]
    fn a_hold_that_ended_cleanly_never_reads_as_a_pass() {
        let ended = Provenance::Ended {
            status: 0,
            how: "ok".into(),
            left: Vec::new(),
            unverified: false,
            report: None,
        };
        let a = attempt(1, ended, &[("C1", Status::Pass), ("C2", Status::Pass)]);
        let s = summary(&hold(), &[a]);
        assert_eq!(s, "2 checks passed, not enough for a verdict");
    }
}
