//! Preflight: the channel, the engine and the suite's environment, checked
//! step by step with the same rules as `run`. Each failing step says the
//! rule's reason and what to do. Used by `stagerun preflight` and by
//! `run --preflight` (over the run's own ssh master).

use crate::capture::{Scanner, Segment};
use crate::classify::{Class, Evidence, Family, RuleSet, Scope};
use crate::config::Settings;
pub use crate::model::StepResult;
use crate::model::seconds;
use crate::process::helper::Helper;
use crate::transport::session::Session;
use crate::transport::{Channel, Step, Transport, environment_steps};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod batch;

impl StepResult {
    /// A failed step that no rule named: the step's own reading.
    pub(crate) fn problem(name: &str, class: Class, detail: String, duration_s: f64) -> StepResult {
        StepResult {
            name: name.into(),
            ok: false,
            detail,
            class: Some(class),
            rule: None,
            fix: None,
            duration_s,
        }
    }
}

/// The steps for this transport, in order.
pub fn plan(t: &Transport, s: &Settings) -> Vec<Step> {
    let mut steps = Vec::new();
    if let Channel::Ssh(_) = &t.channel {
        steps.push(Step {
            name: "ssh reachable",
            argv: vec!["true".into()],
            judge: Box::new(|_, _| Ok("authenticated, command ran".into())),
        });
    }
    steps.extend(t.engine.preflight());
    steps.extend(environment_steps(t, s));
    steps
}

fn scan(text: &[u8], set: &Arc<crate::classify::LazySet>) -> Vec<bool> {
    let mut s = Scanner::new(None, [set.clone(), set.clone()], 0).channel_only();
    s.feed(text);
    std::mem::take(&mut s.finish().hits[Segment::Before as usize])
}

/// A failed step in the rules' words.
fn classified(
    rules: &crate::classify::RulesHandle,
    code: Option<i32>,
    timed_out: bool,
    stdout: &[u8],
    stderr: &[u8],
) -> crate::classify::Classification {
    let ev = Evidence {
        scope: Some(Scope::Channel),
        exit_code: code,
        timed_out,
        stderr_hits: scan(stderr, &rules.sets[Family::Channel as usize].stderr),
        stdout_hits: scan(stdout, &rules.sets[Family::Channel as usize].stdout),
        ..Evidence::default()
    };
    rules.get().classify(&ev)
}

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// `detail`, then what the command last said on stderr, if anything.
fn worded(detail: String, stderr: &[u8]) -> String {
    match last_line(stderr) {
        said if said.is_empty() => detail,
        said => format!("{detail} — {said}"),
    }
}

/// Runs the steps until one fails; a master that could not connect is the
/// first step's answer (no second authentication with the same key).
pub fn run_steps(
    t: &Transport,
    s: &Settings,
    rules: &crate::classify::RulesHandle,
    session: Option<&mut Session>,
    master_failure: Option<&crate::transport::session::OpenFailure>,
    mut on_step: impl FnMut(&StepResult),
) -> Vec<StepResult> {
    let steps = plan(t, s);
    if matches!(t.channel, Channel::Ssh(_)) && master_failure.is_none() {
        return batch::run(t, s, rules, &steps, session, on_step);
    }
    let control = session.and_then(|s| s.alive().then(|| s.control.clone()));
    let mut results = Vec::new();
    for (i, step) in steps.into_iter().enumerate() {
        let start = Instant::now();
        let result = match (i, master_failure) {
            (0, Some(f)) if f.interrupted => {
                let detail = "interrupted by a signal while connecting".to_string();
                StepResult::problem(step.name, Class::TransientInfra, detail, 0.0)
            }
            (0, Some(f)) => {
                let c = classified(rules, f.code, f.timed_out, b"", f.stderr.as_bytes());
                failed(step.name, &c, f.stderr.as_bytes(), start)
            }
            _ => run_step(t, s, rules, &step, control.as_deref(), start),
        };
        let ok = result.ok;
        on_step(&result);
        results.push(result);
        if !ok {
            break;
        }
    }
    results
}

fn failed(
    name: &str,
    c: &crate::classify::Classification,
    stderr: &[u8],
    start: Instant,
) -> StepResult {
    StepResult {
        name: name.into(),
        ok: false,
        detail: worded(c.reason.clone(), stderr),
        class: Some(c.class),
        rule: Some(c.rule.clone()),
        fix: c.fix.clone(),
        duration_s: seconds(start.elapsed()),
    }
}

fn run_step(
    t: &Transport,
    s: &Settings,
    rules: &crate::classify::RulesHandle,
    step: &Step,
    control: Option<&std::path::Path>,
    start: Instant,
) -> StepResult {
    let argv = match t.host_argv(step.argv.clone(), control) {
        Ok(a) => a,
        Err(e) => {
            return StepResult::problem(step.name, Class::PermanentEnv, e.to_string(), 0.0);
        }
    };
    let limit = s.connect_timeout.0 + Duration::from_secs(20);
    let out = Helper::new(argv.clone(), limit).run();
    let mut stderr = out.stderr.clone();
    if let Some(e) = &out.spawn_error {
        stderr = format!("stagerun: cannot run `{}`: {e}\n", argv[0]).into_bytes();
    }
    let code = if out.spawn_error.is_some() {
        Some(127)
    } else {
        out.code()
    };
    let said = Said {
        code,
        timed_out: out.timed_out,
        stdout: &out.stdout,
        stderr: &stderr,
        limit,
        via_ssh: false,
    };
    judged(rules, step, &said, start)
}

/// A known infrastructure signature, not a generic fallback.
fn is_signature(c: &crate::classify::Classification) -> bool {
    c.class != Class::SuiteRan && !matches!(c.rule.as_str(), "unknown-exit" | "no-rule-matched")
}

/// What one step's command did.
struct Said<'a> {
    code: Option<i32>,
    timed_out: bool,
    stdout: &'a [u8],
    stderr: &'a [u8],
    /// The time the step had.
    limit: Duration,
    /// Exit 255 is then ssh's own failure, not the step's answer.
    via_ssh: bool,
}

/// A step's result from what its command did: a known infrastructure
/// signature first, then the step's own reading of a clean exit.
fn judged(
    rules: &crate::classify::RulesHandle,
    step: &Step,
    out: &Said,
    start: Instant,
) -> StepResult {
    let (code, stderr) = (out.code, out.stderr);
    let problem = |class: Class, detail: String| {
        StepResult::problem(
            step.name,
            class,
            worded(detail, stderr),
            seconds(start.elapsed()),
        )
    };
    if out.timed_out {
        return problem(
            Class::TransientInfra,
            format!(
                "no answer within {}s (preflight's limit: connect_timeout + 20 s, over ssh + 2 s per step); something hangs there",
                out.limit.as_secs()
            ),
        );
    }
    let c = classified(rules, code, false, out.stdout, stderr);
    // A known infrastructure signature wins over the step's own reading;
    // the generic fallbacks do not.
    let signature = is_signature(&c);
    if !signature && out.via_ssh && code == Some(255) {
        return problem(
            Class::TransientInfra,
            "ssh exited 255 without a known message: the connection failed or was closed during this step".into(),
        );
    }
    if !signature && let Some(code) = code {
        let stdout = String::from_utf8_lossy(out.stdout);
        return match (step.judge)(code, stdout.trim()) {
            Ok(detail) => StepResult {
                name: step.name.into(),
                ok: true,
                detail,
                class: None,
                rule: None,
                fix: None,
                duration_s: seconds(start.elapsed()),
            },
            Err((class, detail)) => problem(class, detail),
        };
    }
    failed(step.name, &c, stderr, start)
}

/// One line per step, and the fix under a failing one.
pub fn print_step(r: &StepResult) {
    let mark = if r.ok { "ok  " } else { "FAIL" };
    let class = r
        .class
        .as_ref()
        .map(|c| {
            format!(
                " [{c}{}]",
                r.rule
                    .as_ref()
                    .map(|x| format!(", rule {x}"))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    crate::diag::line(
        crate::diag::Stream::Err,
        &format!("  {mark}  {:<22} {}{class}", r.name, r.detail),
    );
    if let Some(fix) = &r.fix {
        crate::diag::line(
            crate::diag::Stream::Err,
            &format!("        what to do: {fix}"),
        );
    }
}

/// Reads one rule set for preflight; kept beside the steps for `RuleSet` users.
pub fn rules_for(s: &Settings) -> crate::error::Result<crate::classify::RulesHandle> {
    Ok(crate::classify::RulesHandle::ready(RuleSet::load(
        s.rules.as_ref().map(|p| p.0.as_path()),
    )?))
}
