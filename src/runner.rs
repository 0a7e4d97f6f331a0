//! `stagerun run`: resolve, run with retries, classify, record, report.

use crate::capture::{Echo, LineScanner};
use crate::checks::{Check, CheckTable, Counts};
use crate::classify::{self, Class, Classification, RuleSet, RulesHandle};
use crate::cli::{RunArgs, TransportKind};
use crate::config::{self, ExtraFlags, Settings};
use crate::exit::{Exit, Verdict};
use crate::log::{self, AttemptRecord, Header, Report};
use crate::push::{self, PushResult};
use crate::retry::{self, AttemptResult, Backoff, Jitter, Sleeper};
use crate::workitem::WorkItem;
use crate::{alert, lock, signals, sshmaster, supervise, transport};
use anyhow::Result;
use serde::Serialize;
use std::time::{Duration, Instant};

pub struct Attempt {
    pub number: u32,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub outcome: supervise::Outcome,
    pub classification: Classification,
}

impl AttemptResult for Attempt {
    fn class(&self) -> Class {
        self.classification.class
    }
    fn interrupted(&self) -> bool {
        self.outcome.interrupted.is_some()
    }
}

struct InterruptibleSleeper;

impl Sleeper for InterruptibleSleeper {
    fn sleep(&mut self, d: Duration) -> bool {
        let start_count = signals::count();
        let until = Instant::now() + d;
        while Instant::now() < until {
            if signals::count() > start_count {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
        true
    }
}

#[derive(Serialize)]
pub struct JsonResult<'a> {
    pub schema: &'static str,
    pub verdict: Verdict,
    pub exit_code: u8,
    pub work_item: &'a str,
    pub repo: &'a str,
    pub outcome: &'a str,
    pub rule: &'a str,
    pub reason: &'a str,
    pub attempts: &'a [AttemptRecord],
    pub checks: &'a Counts,
    pub check_list: &'a [Check],
    pub summary: &'a str,
    pub log_path: String,
    pub log_written: bool,
    pub push: &'a PushResult,
    pub alert: Option<&'a str>,
    pub duration_s: f64,
    pub transport: &'a str,
    pub command: &'a str,
}

pub fn settings_for(args: &RunArgs) -> Result<Settings> {
    if args.channel.repo.trim().is_empty() {
        return Err(Exit::usage(
            "--repo must name the repository (it selects scope and per-repo settings)",
        ));
    }
    let env = config::process_env;
    let (path, file) = config::load_file(args.channel.config.as_deref(), &env)?;
    let extra = ExtraFlags {
        mode: args.mode.clone(),
        retries: args.retries.clone(),
        rules: args.rules.clone(),
        no_push: args.no_push,
    };
    Settings::resolve(&args.channel, &extra, &env, path.as_deref(), &file)
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Runs one attempt; a command that cannot even start becomes evidence
/// (exit 127 plus a `stagerun: cannot run` line) for the rules to classify.
fn one_attempt(
    number: u32,
    argv: &[String],
    settings: &Settings,
    rules: &RulesHandle,
    opts: &supervise::Options,
) -> Attempt {
    let started_at = chrono::Utc::now();
    let outcome = supervise::run_or_spawn_failure(argv, opts, || {
        classify::scanners(rules, &settings.check_line_pattern, settings.tail_lines)
    });
    if let Some(line) = &outcome.spawn_error {
        eprintln!("{line}");
    }
    let classification = rules.get().classify(&outcome.evidence());
    Attempt {
        number,
        started_at,
        outcome,
        classification,
    }
}

fn record(a: &Attempt) -> AttemptRecord {
    AttemptRecord {
        attempt: a.number,
        class: a.classification.class.as_str().to_string(),
        rule: a.classification.rule.clone(),
        exit_code: a.outcome.exit_code,
        signal: a.outcome.signal.map(signals::name),
        started_at: rfc3339(a.started_at),
        duration_s: log::seconds(a.outcome.duration),
    }
}

pub fn run(args: &RunArgs) -> Result<u8> {
    let settings = settings_for(args)?;
    if let Some(why) = settings.skip_reason() {
        eprintln!("stagerun: SKIPPED: {why}; nothing run, no log written");
        if args.channel.json {
            println!(
                "{}",
                serde_json::json!({"schema": "stagerun.result/1", "verdict": "SKIPPED", "exit_code": crate::exit::SKIPPED, "reason": why})
            );
        }
        return Ok(crate::exit::SKIPPED);
    }
    let item = WorkItem::open(&args.work_item_dir, &settings.id_pattern)?;
    let rules = match settings.rules.as_deref() {
        Some(path) => RulesHandle::ready(RuleSet::load(Some(path))?),
        None => RulesHandle::builtin_in_background(),
    };

    if args.dry_run {
        let argv = transport::run_argv(&settings, &item, None)?;
        if args.channel.json {
            println!(
                "{}",
                serde_json::json!({"argv": argv, "command": transport::display_argv(&argv)})
            );
        } else {
            println!("{}", transport::display_argv(&argv));
        }
        return Ok(crate::exit::SUCCESS);
    }
    // Validate the command before taking the lock or touching anything.
    transport::run_argv(&settings, &item, None)?;
    item.check_writable()?;
    let _lock = lock::acquire(&item.dir, &item.id)?;
    signals::install().map_err(|e| anyhow::anyhow!("cannot install signal handlers: {e}"))?;

    let master = if settings.transport == TransportKind::Ssh && settings.connection_reuse {
        sshmaster::Master::open(&settings)
    } else {
        None
    };
    let argv = transport::run_argv(&settings, &item, master.as_ref().map(|m| m.path.as_path()))?;
    let command = transport::display_argv(&argv);

    let json = args.channel.json;
    let (echo_out, echo_err) = match (args.quiet, json) {
        (true, _) => (Echo::None, Echo::None),
        (false, true) => (Echo::Stderr, Echo::Stderr),
        (false, false) => (Echo::Stdout, Echo::Stderr),
    };
    let mut env = Vec::new();
    if settings.transport == TransportKind::Local {
        // Live output: a piped Python otherwise buffers stdout to the end.
        env.push(("PYTHONUNBUFFERED".to_string(), "1".to_string()));
    }
    let opts = supervise::Options {
        timeout: settings.timeout,
        grace: settings.grace,
        heartbeat: settings.heartbeat,
        echo_stdout: echo_out,
        echo_stderr: echo_err,
        env,
        label: "stagerun".into(),
        live_status: !args.quiet && crate::ui::live_status(),
    };
    eprintln!(
        "stagerun: {} [{}] via {}: {command}",
        item.id,
        settings.repo,
        settings.transport.as_str()
    );

    let gitlab_sections = crate::integrations::in_gitlab_ci() && echo_out != Echo::None;
    if gitlab_sections {
        section_line(
            echo_out,
            &crate::integrations::gitlab_section_start(
                "stagerun_suite",
                &format!("staging suite output for {}", item.id),
            ),
        );
    }
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let backoff = Backoff {
        base: settings.backoff_base,
        cap: settings.backoff_cap,
    };
    let total = settings.infra_retries + 1;
    let (attempts, _) = retry::run_with_retries(
        settings.infra_retries,
        backoff,
        &mut Jitter::seeded(),
        &mut InterruptibleSleeper,
        |n| one_attempt(n, &argv, &settings, &rules, &opts),
        |n, delay, a| {
            eprintln!(
                "stagerun: attempt {n}/{total}: {} ({}): {}; retrying in {:.1}s",
                a.classification.class.as_str(),
                a.classification.rule,
                a.classification.reason,
                delay.as_secs_f64()
            );
        },
    );
    if gitlab_sections {
        section_line(
            echo_out,
            &crate::integrations::gitlab_section_end("stagerun_suite"),
        );
    }
    let interrupted_during_backoff = signals::count() > 0;
    drop(master);
    let last = attempts
        .last()
        .ok_or_else(|| anyhow::anyhow!("no attempt was made"))?;
    let interrupted = last.outcome.interrupted.or(if interrupted_during_backoff {
        signals::last()
    } else {
        None
    });

    let checks: &CheckTable = &last.outcome.stdout.checks;
    let (verdict, outcome, rule, reason) = if let Some(sig) = interrupted {
        (
            Verdict::Hold,
            "interrupted".to_string(),
            "interrupted".to_string(),
            format!(
                "stagerun received {}; the suite's process group was stopped",
                signals::name(sig)
            ),
        )
    } else {
        let c = &last.classification;
        let verdict = match c.class {
            Class::SuiteRan if last.outcome.exit_code == Some(0) && !checks.fail_seen => {
                Verdict::Success
            }
            Class::SuiteRan => Verdict::Failed,
            _ => Verdict::Hold,
        };
        let mut reason = c.reason.clone();
        if c.class == Class::TransientInfra && attempts.len() as u32 > settings.infra_retries {
            reason = format!(
                "{reason} (retry budget of {} spent)",
                settings.infra_retries
            );
        }
        (
            verdict,
            c.class.as_str().to_string(),
            c.rule.clone(),
            reason,
        )
    };
    if attempts.iter().any(|a| a.outcome.survivors) {
        eprintln!("stagerun: warning: processes of the suite survived SIGKILL");
    }

    let finished = chrono::Utc::now();
    let records: Vec<AttemptRecord> = attempts.iter().map(record).collect();
    let summary = checks.summary();
    let report = Report {
        header: Header {
            schema: log::SCHEMA,
            staging_status: verdict,
            work_item: item.id.clone(),
            repo: settings.repo.clone(),
            outcome: outcome.clone(),
            rule: rule.clone(),
            reason: reason.clone(),
            exit_code: last.outcome.exit_code,
            attempts: records.clone(),
            started_at: rfc3339(started),
            finished_at: rfc3339(finished),
            duration_s: log::seconds(clock.elapsed()),
            transport: settings.transport.as_str().to_string(),
            command: command.clone(),
            checks: checks.counts(),
            summary: summary.clone(),
            stagerun_version: env!("CARGO_PKG_VERSION"),
        },
        checks: checks.checks.clone(),
        stdout_tail: last.outcome.stdout.tail.text(),
        stderr_tail: last.outcome.stderr.tail.text(),
    };
    let log_path = item.log_path();
    let write_result =
        log::render(&report).and_then(|text| Ok(log::write_atomic(&log_path, text.as_bytes())?));
    let mut exit_code = verdict.exit_code();
    let log_written = match &write_result {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "stagerun: error: could not write {}: {e}; the previous log (if any) is left intact; exiting HOLD",
                log_path.display()
            );
            exit_code = crate::exit::HOLD;
            false
        }
    };

    let push_result = if !log_written {
        PushResult {
            status: "skipped",
            detail: "log not written".into(),
        }
    } else if interrupted.is_some() {
        PushResult {
            status: "skipped",
            detail: "run interrupted".into(),
        }
    } else if !settings.push {
        PushResult {
            status: "skipped",
            detail: format!("disabled by {}", settings.source_of("push")),
        }
    } else {
        let message = format!(
            "deploy-staging({}): staging gate {} ({})",
            item.id, verdict, summary
        );
        let r = push::push(&push::PushRequest {
            log_path: &log_path,
            message: &message,
            remote: &settings.push_remote,
            branch: settings.push_branch.as_deref(),
            timeout: settings.push_timeout,
        });
        if r.status == "failed" {
            eprintln!(
                "stagerun: warning: push failed (verdict unchanged): {}",
                r.detail
            );
        }
        r
    };

    let mut alert_note = None;
    if verdict == Verdict::Hold
        && let Some(cmd) = &settings.alert_command
    {
        let log_str = log_path.display().to_string();
        let ctx = alert::AlertContext {
            verdict: verdict.as_str(),
            work_item: &item.id,
            repo: &settings.repo,
            class: &outcome,
            rule: &rule,
            reason: &reason,
            log_path: &log_str,
        };
        alert_note = Some(match alert::run(cmd, &ctx) {
            Ok(()) => "ran".to_string(),
            Err(e) => {
                eprintln!("stagerun: warning: {e} (verdict unchanged)");
                e
            }
        });
    }

    let view = crate::integrations::ResultView {
        work_item: &item.id,
        repo: &settings.repo,
        verdict,
        outcome: &outcome,
        rule: &rule,
        reason: &reason,
        summary: &summary,
        checks: &report.checks,
        duration_s: report.header.duration_s,
        started_at: &report.header.started_at,
        log_path: &log_path,
        attempts: records.len(),
    };
    if let Some(junit) = &args.junit
        && let Err(e) = crate::integrations::write_junit(junit, &view)
    {
        eprintln!(
            "stagerun: warning: cannot write JUnit report {}: {e} (verdict unchanged)",
            junit.display()
        );
    }
    if crate::integrations::in_github_actions() {
        crate::integrations::github_actions(&view, !json);
    }
    eprintln!(
        "stagerun: {} {} — {} [{outcome}, rule {rule}]: {reason}; log: {}",
        item.id,
        crate::ui::paint(verdict.as_str(), verdict, crate::ui::stderr_color()),
        summary,
        log_path.display()
    );
    if verdict == Verdict::Hold
        && interrupted.is_none()
        && let Some(fix) = &last.classification.fix
    {
        eprintln!("stagerun: what to do: {fix}");
    }
    if json {
        let result = JsonResult {
            schema: "stagerun.result/1",
            verdict,
            exit_code,
            work_item: &item.id,
            repo: &settings.repo,
            outcome: &outcome,
            rule: &rule,
            reason: &reason,
            attempts: &records,
            checks: &report.header.checks,
            check_list: &report.checks,
            summary: &summary,
            log_path: log_path.display().to_string(),
            log_written,
            push: &push_result,
            alert: alert_note.as_deref(),
            duration_s: report.header.duration_s,
            transport: settings.transport.as_str(),
            command: &command,
        };
        println!("{}", serde_json::to_string(&result)?);
    }
    Ok(exit_code)
}

fn section_line(echo: Echo, line: &str) {
    match echo {
        Echo::Stdout => println!("{line}"),
        Echo::Stderr => eprintln!("{line}"),
        Echo::None => {}
    }
}

/// Used by `classify` to feed a file through the same scanner as a live run.
pub fn scan_file(path: &std::path::Path, scanner: &mut LineScanner) -> Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)
        .map_err(|e| Exit::usage(format!("cannot read {}: {e}", path.display())))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Exit::usage(format!("cannot read {}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        scanner.feed(&buf[..n]);
    }
    scanner.finish();
    Ok(())
}
