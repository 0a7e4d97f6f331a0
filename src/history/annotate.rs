//! Where a failure is reported: each failing check of a FAILED run gets
//! what its history says ("flaky: failed 10 of its last 20 runs, 19 flips;
//! last on ORCH-131", "first failure in 19 runs"). The history is the
//! repository holding the work item, runs of the same repo, this run
//! included for the label; outside a repository, or with no earlier runs
//! of a check, nothing is said. It never changes the verdict: only the
//! checks' `history` and the run's `history` are written here.
//!
//! The read is bounded: the cache under the git directory makes it a few
//! git processes and one file (docs/performance.md), and `history_timeout`
//! ends a cold read that would take longer (then nothing is said).

use super::read::{self, Options};
use super::score::{self, CheckStats, Label, Params};
use super::{Mark, Run, Store, parse};
use crate::exit::Verdict;
use crate::model::{CacheUse, HistoryStatus};
pub use crate::model::{CheckNote, HistoryRead};
use crate::report::{ResultWord, RunReport};
use crate::suite::Status;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

fn plural(n: u32, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The words for one failing check: `now` counts this run, `before` not.
pub fn text(now: &CheckStats, before: &CheckStats) -> String {
    let last = before
        .last_fail
        .as_ref()
        .map(|r| format!("last on {}", r.work_item));
    let first = || format!("first failure in {}", plural(before.runs, "run"));
    match now.label {
        Label::Broken => {
            let since = now
                .streak_since
                .as_ref()
                .filter(|_| now.streak > 1)
                .map(|r| format!(", since {}", r.work_item))
                .unwrap_or_default();
            format!(
                "broken: failed each of its last {}{since}",
                plural(now.streak, "run")
            )
        }
        Label::Flaky => format!(
            "flaky: failed {} of its last {}, {}; {}",
            now.fail,
            plural(now.runs, "run"),
            plural(now.flips, "flip"),
            last.unwrap_or_else(first)
        ),
        Label::Stable if before.fail == 0 => first(),
        Label::Stable => format!(
            "failed {} of its last {}; {}",
            now.fail,
            plural(now.runs, "run"),
            last.unwrap_or_else(first)
        ),
    }
}

fn read_info(status: HistoryStatus, detail: String, started: Instant) -> HistoryRead {
    HistoryRead {
        status,
        detail,
        repository: None,
        earlier_runs: 0,
        cache: CacheUse::Off,
        duration_s: crate::model::seconds(started.elapsed()),
    }
}

/// Adds the notes to a FAILED report; anything else is left as it is.
pub fn annotate(settings: &crate::config::Settings, dir: &Path, r: &mut RunReport) {
    if r.verdict != ResultWord::Failed {
        return;
    }
    let started = Instant::now();
    let Some(d) = r.run.as_ref() else { return };
    let (work_item, repo) = (d.work_item.clone(), d.repo.clone());
    let started_ms = chrono::DateTime::parse_from_rfc3339(&d.started_at)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0);
    if !settings.history {
        let why = format!("disabled by {}", settings.source_of("history"));
        set(r, read_info(HistoryStatus::Off, why, started));
        return;
    }
    let opts = Options {
        deadline: Some(started + settings.history_timeout.0),
        signals_since: Some(crate::signals::count()),
        cache: true,
    };
    let loaded = match read::load(dir, &opts) {
        Ok(Some(l)) => l,
        Ok(None) => {
            set(
                r,
                read_info(
                    HistoryStatus::None,
                    "not in a git repository".into(),
                    started,
                ),
            );
            return;
        }
        Err(stop) => {
            let status = match stop {
                super::git::Stop::TimedOut => HistoryStatus::TimedOut,
                super::git::Stop::Interrupted => HistoryStatus::Interrupted,
                super::git::Stop::Failed(_) => HistoryStatus::Failed,
            };
            crate::note!("history not read ({stop}); nothing is said about the checks' history");
            set(r, read_info(status, stop.to_string(), started));
            return;
        }
    };
    let mut store = loaded.store;
    store.remove(&work_item, started_ms);
    let current = current_run(&mut store, r, &work_item, &repo, started_ms);
    let filter = super::report::Filter {
        repo: Some(repo.clone()),
        ..Default::default()
    };
    let p = Params::from_settings(settings);
    let before = filter.select(&store);
    let earlier = before.len();
    let mut now = before.clone();
    now.push(&current);
    let by_id = |runs: &[&Run]| -> HashMap<String, CheckStats> {
        score::score(&store, runs, &p)
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect()
    };
    add_notes(r, &by_id(&before), &by_id(&now));
    set(
        r,
        HistoryRead {
            status: HistoryStatus::Read,
            detail: format!("{earlier} earlier runs of {repo}"),
            repository: Some(loaded.repo.top.display().to_string()),
            earlier_runs: earlier,
            cache: loaded.cache,
            duration_s: crate::model::seconds(started.elapsed()),
        },
    );
}

/// Each failing check with earlier runs gets its note: the label and
/// figures with this run, the previous failure without it.
fn add_notes(
    r: &mut RunReport,
    before: &HashMap<String, CheckStats>,
    now: &HashMap<String, CheckStats>,
) {
    for c in r.check_list.iter_mut() {
        if !matches!(c.status, Status::Fail | Status::Error) {
            continue;
        }
        let id = parse::table_id(&c.id);
        let (Some(b), Some(n)) = (before.get(&id), now.get(&id)) else {
            continue;
        };
        if b.runs == 0 {
            continue;
        }
        c.history = Some(CheckNote {
            label: n.label,
            runs: n.runs,
            fail: n.fail,
            flips: n.flips,
            flip_rate: n.flip_rate,
            previous_fail: b.last_fail.clone(),
            text: text(n, b),
        });
    }
}

fn set(r: &mut RunReport, info: HistoryRead) {
    if let Some(d) = r.run.as_mut() {
        d.history = Some(info);
    }
}

/// This run as history will read it back from its log.
fn current_run(
    store: &mut Store,
    r: &RunReport,
    work_item: &str,
    repo: &str,
    started_ms: i64,
) -> Run {
    let checks = r
        .check_list
        .iter()
        .filter_map(|c| {
            let mark = Mark::from_status(c.status.as_str())?;
            Some((store.names.id(&parse::table_id(&c.id)), mark))
        })
        .collect();
    Run {
        work_item: store.names.id(work_item),
        repo: store.names.id(repo),
        outcome: store.names.id("suite-ran"),
        started_ms,
        verdict: Verdict::Failed,
        answered: true,
        fingerprint: 0,
        checks,
    }
}
