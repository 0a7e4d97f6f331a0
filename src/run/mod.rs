//! `stagerun run`: plan, attempts, verdict, record, report.

pub mod after;
mod alert;
pub mod attempt;
mod dry_run;
#[cfg(test)]
pub use dry_run::schema as dry_run_schema;
pub mod plan;
mod provenance;
mod push;
pub mod recovery;
mod remote;
mod suite_report;
pub mod verdict;

use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::lock::WorkItemLock;
use crate::process::{registry, supervise};
use crate::report::{self, Reporter, RunReport};
use plan::Plan;

/// Runs and reports; every exit path ends in the sinks with one exit code.
pub fn run(args: &RunArgs) -> u8 {
    let signals_before = crate::signals::count();
    let reporter = Reporter::for_run(args.json, args.quiet, args.junit.clone());
    let mut report = match execute(args, &reporter) {
        Ok(Some(r)) => r,
        Ok(None) => return crate::exit::SUCCESS,
        Err(e) => RunReport::from_error(&e),
    };
    // The verdict is recorded; now its lines go out after the suite's.
    crate::diag::end_echo(signals_before);
    if let Some(d) = report.run.as_mut() {
        d.live_output_dropped_bytes = crate::diag::echo_dropped();
    }
    reporter.emit(&report)
}

fn execute(args: &RunArgs, reporter: &Reporter) -> Result<Option<RunReport>> {
    crate::signals::install()
        .map_err(|e| Error::Internal(format!("cannot install signal handlers: {e}")))?;
    let (settings, item) = crate::config::resolve_with(&args.request(), |s| {
        crate::workitem::WorkItem::open(&args.work_item_dir, &s.id_pattern.0)
    })?;
    let plan = Plan::build(
        settings,
        item,
        plan::Outputs {
            json: args.json,
            quiet: args.quiet,
        },
    )?;
    if let Some(form) = args.dry_run {
        dry_run::print(&plan, form)?;
        return Ok(None);
    }
    let lock = WorkItemLock::acquire(&plan.item.dir, &plan.item.id)?;
    plan.item.check_writable()?;
    plan.item.clean_stale_temp_files();
    let log = plan.item.log_path();
    registry::set_unrecorded(Some(Box::new(move || {
        report::staging_log::mark_unrecorded(
            &log,
            "stagerun ended without recording a verdict (internal error)",
        );
    })));
    announce(&plan);
    let fence = reporter.begin_suite(&format!("staging suite output for {}", plan.item.id));
    let previous = previous_run_lost(&plan.item.log_path());
    if let Some(p) = &previous {
        crate::warn!("{p}");
    }
    let mut attempts = attempt::Runner::new(&plan).run_all(args.preflight);
    if let Some(p) = previous {
        attempts.recovered = Some(match attempts.recovered.take() {
            Some(r) => format!("{p}; {r}"),
            None => p,
        });
    }
    reporter.end_suite(fence);
    let facts: Vec<_> = attempts.list.iter().map(|a| a.facts()).collect();
    let signal = attempts.interrupted.map(crate::signals::name);
    let decision = match attempts.preflight.iter().find(|s| !s.ok) {
        Some(step) if signal.is_none() => verdict::preflight_failed(step),
        _ => verdict::decide(
            &facts,
            signal.as_deref(),
            plan.settings.infra_retries.0,
            attempts.stop.clone(),
        ),
    };
    let mut report = after::report(&plan, &attempts, &decision);
    // What a failing check's history says; the verdict is already decided.
    crate::history::annotate::annotate(&plan.settings, &plan.item.dir, &mut report);
    let closing_master = attempts.closing_master.take();
    after::record(&plan, &lock, &mut report);
    registry::set_unrecorded(None);
    // Told to go when the attempts ended; reaped here (it has usually gone
    // during the log write; at most ~1 s more, then killed).
    drop(closing_master);
    after::notify(
        &plan,
        &mut report,
        attempts.interrupted.is_some(),
        crate::signals::count(),
    );
    Ok(Some(report))
}

/// What is about to run, and within what limits.
fn announce(plan: &Plan) {
    let s = &plan.settings;
    let budget = match s.deadline {
        Some(d) => format!(", the whole run at most {}", supervise::fmt_elapsed(d.0)),
        None => String::new(),
    };
    let each = supervise::fmt_elapsed(s.timeout.0);
    let attempts = match plan.attempts_allowed() {
        1 => format!("one attempt of {each}"),
        n => format!("up to {n} attempts of {each} each"),
    };
    crate::note!(
        "{} [{}] via {}: {attempts}{budget}",
        plan.item.id,
        s.repo,
        plan.transport.label(),
    );
    crate::note!("command: {}", plan.short_command());
}

/// The log of the work item's last run, when that run was lost where it
/// ran (a restarted container): this one says so before starting afresh.
fn previous_run_lost(log: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(log).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut head = String::new();
    f.take(16 * 1024).read_to_string(&mut head).ok()?;
    let front = head.strip_prefix("---\n")?.split("\n---\n").next()?;
    let top = |key: &str| {
        front
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().trim_matches('"').to_string())
    };
    (top("rule: ")? == "run-lost").then(|| {
        format!(
            "the previous run of this work item (started {}) was lost where it ran (its supervisor gone without an end: a restarted container?); this run starts the suite from scratch",
            top("started_at: ").unwrap_or_else(|| "at an unknown time".into())
        )
    })
}
