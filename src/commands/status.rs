//! `stagerun status`: the runner's snapshot, as the pipeline's
//! observability block showed it — enabled (and which setting decided it),
//! scope, transport and target, time and retry budget, the runs in progress
//! on this machine (from their locks) and, inside a repository, the last
//! verdicts and the counts by outcome class. It reports; it exits 0
//! whatever it finds, a broken configuration included.

use crate::cli::StatusArgs;
use crate::config::{self, Settings};
use crate::diag::{self, Stream};
use crate::error::Result;
use crate::history::read::{self, Options};
use crate::history::report::Filter;
use crate::history::time_text;
use crate::lock::InProgress;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const STATUS_SCHEMA: &str = "stagerun.status/1";
const RECENT: usize = 10;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Target {
    /// ssh+docker, local+none, …
    pub transport: String,
    pub channel: String,
    pub engine: String,
    /// user@host:port (ssh).
    pub host: Option<String>,
    pub container: Option<String>,
    pub pod: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Budget {
    /// One attempt's time limit, seconds.
    pub timeout_s: f64,
    /// The whole run's, when set.
    pub deadline_s: Option<f64>,
    pub infra_retries: u32,
    pub attempts_allowed: u32,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RecentRun {
    pub work_item: String,
    pub repo: String,
    pub started_at: String,
    /// SUCCESS, FAILED or HOLD.
    pub verdict: String,
    /// suite-ran, permanent-env, transient-infra, interrupted, busy, unrecorded.
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Recent {
    /// The repository read.
    pub repository: Option<String>,
    /// Why there are no verdicts (not in a repository, unreadable).
    pub detail: Option<String>,
    /// The last verdicts, newest first.
    pub last: Vec<RecentRun>,
    /// The runs the counts cover (history_window; 0: every run).
    pub window: u32,
    pub runs_counted: usize,
    pub by_class: BTreeMap<String, usize>,
    pub by_verdict: BTreeMap<String, usize>,
}

/// `stagerun status --json`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StatusReport {
    pub schema: String,
    pub repo: String,
    /// The kill-switch: false skips every run (exit 3).
    pub enabled: bool,
    /// The setting that decided it.
    pub enabled_by: String,
    /// Why a run would be SKIPPED (exit 3), if it would.
    pub skip: Option<String>,
    /// Repositories served; none: every repository.
    pub scope: Option<Vec<String>>,
    pub scope_by: String,
    pub config_file: Option<String>,
    /// The configuration does not load (a run would exit 78).
    pub config_error: Option<String>,
    pub target: Option<Target>,
    /// Why the transport is incomplete (a run would exit 78).
    pub target_error: Option<String>,
    pub budget: Option<Budget>,
    /// Runs holding a work item's lock on this machine.
    pub in_progress: Vec<InProgress>,
    pub recent: Recent,
}

fn target(s: &Settings) -> (Option<Target>, Option<String>) {
    match crate::transport::Transport::for_settings(s) {
        Ok(t) => (
            Some(Target {
                transport: t.label(),
                channel: t.channel.name().to_string(),
                engine: t.engine.name().as_str().into(),
                host: t.ssh().map(|s| s.target()),
                container: s.container.as_ref().map(|c| c.0.clone()),
                pod: s.pod.as_ref().map(|c| c.0.clone()),
                namespace: s.namespace.as_ref().map(|c| c.0.clone()),
            }),
            None,
        ),
        Err(e) => (None, Some(e.to_string())),
    }
}

fn recent(repo: &str, window: u32, limit: Duration) -> Recent {
    let mut out = Recent {
        repository: None,
        detail: None,
        last: Vec::new(),
        window,
        runs_counted: 0,
        by_class: BTreeMap::new(),
        by_verdict: BTreeMap::new(),
    };
    let opts = Options {
        deadline: Some(Instant::now() + limit),
        signals_since: None,
        cache: true,
    };
    let loaded = match read::load(std::path::Path::new("."), &opts) {
        Ok(Some(l)) => l,
        Ok(None) => {
            out.detail = Some("not in a git repository".into());
            return out;
        }
        Err(e) => {
            out.detail = Some(format!("history not read: {e}"));
            return out;
        }
    };
    out.repository = Some(loaded.repo.top.display().to_string());
    let filter = Filter {
        repo: (!repo.is_empty()).then(|| repo.to_string()),
        ..Filter::default()
    };
    let runs = filter.select(&loaded.store);
    let names = &loaded.store.names;
    for r in runs.iter().rev().take(RECENT) {
        out.last.push(RecentRun {
            work_item: names.name(r.work_item).into(),
            repo: names.name(r.repo).into(),
            started_at: time_text(r.started_ms),
            verdict: r.verdict.as_str().into(),
            outcome: names.name(r.outcome).into(),
        });
    }
    let counted = if window == 0 {
        runs.len()
    } else {
        runs.len().min(window as usize)
    };
    for r in &runs[runs.len() - counted..] {
        *out.by_class
            .entry(names.name(r.outcome).to_string())
            .or_default() += 1;
        *out.by_verdict
            .entry(r.verdict.as_str().to_string())
            .or_default() += 1;
    }
    out.runs_counted = counted;
    out
}

pub fn build(args: &StatusArgs) -> StatusReport {
    let req = config::Request::new(
        config::Purpose::Inspect,
        &args.repo,
        args.config.as_deref(),
        Vec::new(),
    );
    let loaded = config::resolve(&req);
    let skip = match config::skip_reason(&req) {
        Ok(s) => s,
        Err(e) => Some(format!("(undecided: {e})")),
    };
    let mut r = StatusReport {
        schema: STATUS_SCHEMA.into(),
        repo: args.repo.clone(),
        enabled: !skip
            .as_deref()
            .is_some_and(|s| s.starts_with("runner disabled")),
        enabled_by: "unknown: the configuration does not load".into(),
        skip,
        scope: None,
        scope_by: "unknown: the configuration does not load".into(),
        config_file: None,
        config_error: None,
        target: None,
        target_error: None,
        budget: None,
        in_progress: crate::lock::in_progress(),
        recent: Recent {
            repository: None,
            detail: None,
            last: Vec::new(),
            window: 0,
            runs_counted: 0,
            by_class: BTreeMap::new(),
            by_verdict: BTreeMap::new(),
        },
    };
    let (window, limit) = match &loaded {
        Ok(s) => (s.history_window.0, s.history_timeout.0),
        Err(_) => (20, Duration::from_secs(5)),
    };
    match loaded {
        Ok(s) => {
            r.enabled = s.enabled;
            r.enabled_by = s.source_of("enabled").to_string();
            r.scope = s.scope.as_ref().map(|l| l.0.clone());
            r.scope_by = s.source_of("scope").to_string();
            r.config_file = s.config_file.as_ref().map(|p| p.display().to_string());
            (r.target, r.target_error) = target(&s);
            r.budget = Some(Budget {
                timeout_s: s.timeout.0.as_secs_f64(),
                deadline_s: s.deadline.map(|d| d.0.as_secs_f64()),
                infra_retries: s.infra_retries.0,
                attempts_allowed: s.infra_retries.0 + 1,
            });
        }
        Err(e) => r.config_error = Some(e.to_string()),
    }
    r.recent = recent(&args.repo, window, limit);
    r
}

pub fn status(args: &StatusArgs) -> Result<u8> {
    let r = build(args);
    let text = if args.json {
        serde_json::to_string(&r).unwrap_or_default() + "\n"
    } else {
        render(&r)
    };
    diag::write(Stream::Out, text.as_bytes());
    Ok(crate::exit::SUCCESS)
}

fn secs(s: f64) -> String {
    crate::process::supervise::fmt_elapsed(Duration::from_secs_f64(s))
}

fn render(r: &StatusReport) -> String {
    let mut t = String::new();
    let on = if r.enabled { "enabled" } else { "DISABLED" };
    t.push_str(&format!("runner:       {on} ({})\n", r.enabled_by));
    let scope = match &r.scope {
        Some(list) => format!("[{}]", list.join(", ")),
        None => "every repository".into(),
    };
    t.push_str(&format!("scope:        {scope} ({})\n", r.scope_by));
    if let Some(why) = &r.skip {
        t.push_str(&format!("runs now:     SKIPPED (exit 3): {why}\n"));
    }
    if let Some(e) = &r.config_error {
        t.push_str(&format!("config:       ERROR (a run would exit 78): {e}\n"));
    } else if let Some(f) = &r.config_file {
        t.push_str(&format!("config file:  {f}\n"));
    }
    if let Some(tg) = &r.target {
        let mut where_ = tg.transport.clone();
        for (what, v) in [
            ("to", &tg.host),
            ("container", &tg.container),
            ("pod", &tg.pod),
            ("namespace", &tg.namespace),
        ] {
            if let Some(v) = v {
                where_.push_str(&format!(" {what} {v}"));
            }
        }
        t.push_str(&format!("transport:    {where_}\n"));
    }
    if let Some(e) = &r.target_error {
        t.push_str(&format!(
            "transport:    incomplete (a run would exit 78): {e}\n"
        ));
    }
    if let Some(b) = &r.budget {
        let deadline = b
            .deadline_s
            .map(|d| format!(", the whole run at most {}", secs(d)))
            .unwrap_or_default();
        t.push_str(&format!(
            "budget:       {} per attempt, {} retries ({} attempts){deadline}\n",
            secs(b.timeout_s),
            b.infra_retries,
            b.attempts_allowed
        ));
    }
    if r.in_progress.is_empty() {
        t.push_str("in progress:  none on this machine\n");
    } else {
        t.push_str("in progress:\n");
        for p in &r.in_progress {
            let attempt = p
                .attempt
                .map(|a| format!("attempt {a}"))
                .unwrap_or_else(|| "starting".into());
            t.push_str(&format!(
                "  {}  pid {}  since {}  {attempt}  {}\n",
                p.work_item, p.pid, p.since, p.dir
            ));
        }
    }
    recent_text(&mut t, &r.recent);
    t
}

fn recent_text(t: &mut String, r: &Recent) {
    match (&r.repository, &r.detail) {
        (Some(repo), _) => t.push_str(&format!("repository:   {repo}\n")),
        (None, Some(why)) => {
            t.push_str(&format!("verdicts:     none ({why})\n"));
            return;
        }
        (None, None) => return,
    }
    if r.last.is_empty() {
        t.push_str("verdicts:     no staging runs recorded\n");
        return;
    }
    t.push_str(&format!("last {} verdicts:\n", r.last.len()));
    for v in &r.last {
        t.push_str(&format!(
            "  {}  {:<12} {:<7}  {}\n",
            v.started_at, v.work_item, v.verdict, v.outcome
        ));
    }
    let counts = |m: &BTreeMap<String, usize>| {
        m.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    t.push_str(&format!(
        "over the last {} runs: {}; {}\n",
        r.runs_counted,
        counts(&r.by_class),
        counts(&r.by_verdict)
    ));
}

/// The JSON schema of `status --json`, generated from the type.
#[cfg(test)]
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(StatusReport)).unwrap_or_default()
}
