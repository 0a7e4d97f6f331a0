//! Per-check figures and labels (docs/history.md). Runs are walked newest
//! first; only runs in which the suite answered count. A check's figures
//! cover the last `window` answered runs in which it reported (a rolling
//! window, as Trunk's and Buildkite's failure rates); `runs` are those in
//! which it reported PASS or FAIL, WAIVED and SKIP are counted beside.
//! Flips are PASS↔FAIL changes between consecutive such runs, the flip
//! rate flips / (runs − 1) (Google's and Apple's flakiness score);
//! `broken` is failing in each of the last K runs, `flaky` a flip rate at
//! or above the threshold over at least M runs.

use super::{Mark, Run, Store, time_text};
pub use crate::model::{Label, RunRef};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// 0: every run.
    pub window: u32,
    pub broken_after: u32,
    pub flaky_min_runs: u32,
    pub flaky_flip_rate: f64,
}

impl Params {
    pub fn from_settings(s: &crate::config::Settings) -> Params {
        Params {
            window: s.history_window.0,
            broken_after: s.history_broken_after.0,
            flaky_min_runs: s.history_flaky_min_runs.0,
            flaky_flip_rate: s.history_flaky_flip_rate.0,
        }
    }

    /// `each check's last 20 runs; broken: …` for headers.
    pub fn describe(&self) -> String {
        let window = if self.window == 0 {
            "every run".to_string()
        } else {
            format!("its last {} runs", self.window)
        };
        format!(
            "per check {window}; broken: failed its last {}; flaky: at least {} runs and a flip rate of {} or more",
            self.broken_after, self.flaky_min_runs, self.flaky_flip_rate
        )
    }
}

impl RunRef {
    pub fn of(store: &Store, run: &Run) -> RunRef {
        RunRef {
            work_item: store.names.name(run.work_item).to_string(),
            started_at: time_text(run.started_ms),
        }
    }
}

/// One check's history.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CheckStats {
    pub id: String,
    pub label: Label,
    /// Runs in the window (its last `window` reports) in which it reported PASS or FAIL.
    pub runs: u32,
    pub pass: u32,
    pub fail: u32,
    pub waived: u32,
    pub skip: u32,
    /// PASS↔FAIL changes between consecutive runs in the window.
    pub flips: u32,
    /// flips / (runs − 1); 0 with fewer than two runs.
    pub flip_rate: f64,
    /// Its latest failure, in or before the window.
    pub last_fail: Option<RunRef>,
    /// Failures in a row up to the latest run.
    #[serde(skip)]
    #[schemars(skip)]
    pub streak: u32,
    /// The first run of that streak.
    #[serde(skip)]
    #[schemars(skip)]
    pub streak_since: Option<RunRef>,
}

#[derive(Default)]
struct Tally<'a> {
    runs: u32,
    pass: u32,
    fail: u32,
    waived: u32,
    skip: u32,
    flips: u32,
    newer: Option<Mark>,
    full: bool,
    last_fail: Option<&'a Run>,
    streak: u32,
    streak_ended: bool,
    streak_since: Option<&'a Run>,
}

impl<'a> Tally<'a> {
    fn see(&mut self, run: &'a Run, mark: Mark, window: u32) {
        if mark == Mark::Fail && self.last_fail.is_none() {
            self.last_fail = Some(run);
        }
        if matches!(mark, Mark::Pass | Mark::Fail) && !self.streak_ended {
            if mark == Mark::Fail {
                self.streak += 1;
                self.streak_since = Some(run);
            } else {
                self.streak_ended = true;
            }
        }
        if self.full {
            return;
        }
        match mark {
            Mark::Pass | Mark::Fail => {
                self.runs += 1;
                if mark == Mark::Pass {
                    self.pass += 1;
                } else {
                    self.fail += 1;
                }
                if self.newer.is_some_and(|n| n != mark) {
                    self.flips += 1;
                }
                self.newer = Some(mark);
            }
            Mark::Waived => self.waived += 1,
            Mark::Skip => self.skip += 1,
        }
        self.full = window > 0 && self.runs + self.waived + self.skip >= window;
    }
}

/// Every check that reported in an answered run among `runs` (oldest
/// first), in the order the table shows them.
pub fn score(store: &Store, runs: &[&Run], p: &Params) -> Vec<CheckStats> {
    let mut tallies: HashMap<u32, Tally> = HashMap::new();
    for run in runs.iter().rev().filter(|r| r.answered) {
        for &(id, mark) in run.checks.iter() {
            tallies.entry(id).or_default().see(run, mark, p.window);
        }
    }
    let mut stats: Vec<CheckStats> = tallies
        .into_iter()
        .map(|(id, t)| {
            let flip_rate = if t.runs >= 2 {
                f64::from(t.flips) / f64::from(t.runs - 1)
            } else {
                0.0
            };
            let label = if t.streak >= p.broken_after {
                Label::Broken
            } else if t.runs >= p.flaky_min_runs && flip_rate >= p.flaky_flip_rate {
                Label::Flaky
            } else {
                Label::Stable
            };
            CheckStats {
                id: store.names.name(id).to_string(),
                label,
                runs: t.runs,
                pass: t.pass,
                fail: t.fail,
                waived: t.waived,
                skip: t.skip,
                flips: t.flips,
                flip_rate: (flip_rate * 1000.0).round() / 1000.0,
                last_fail: t.last_fail.map(|r| RunRef::of(store, r)),
                streak: t.streak,
                streak_since: t.streak_since.map(|r| RunRef::of(store, r)),
            }
        })
        .collect();
    stats.sort_by(order);
    stats
}

fn fail_rate(s: &CheckStats) -> f64 {
    if s.runs == 0 {
        0.0
    } else {
        f64::from(s.fail) / f64::from(s.runs)
    }
}

/// Broken, flaky, stable; then by failure rate, highest first; then by id.
fn order(a: &CheckStats, b: &CheckStats) -> Ordering {
    a.label
        .cmp(&b.label)
        .then(fail_rate(b).total_cmp(&fail_rate(a)))
        .then_with(|| natural(&a.id, &b.id))
}

/// `C2` before `C10`, `C9a` before `C9b`.
pub fn natural(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let n = x.iter().take_while(|b| b.is_ascii_digit()).count();
                let m = y.iter().take_while(|b| b.is_ascii_digit()).count();
                let (p, q) = (&x[..n], &y[..m]);
                let trim = |s: &'_ [u8]| -> usize { s.iter().take_while(|b| **b == b'0').count() };
                let (p, q) = (&p[trim(p)..], &q[trim(q)..]);
                let c = p.len().cmp(&q.len()).then(p.cmp(q));
                if c != Ordering::Equal {
                    return c;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}
