//! `run --dry-run`: what a person can check first (where the suite would
//! run, the suite's own command line, the limits, and where each setting
//! came from), then the exact argv (the contract; `--dry-run=exact` prints
//! only that, `--json` the one object).

use super::plan::Plan;
use crate::cli::DryRunForm;
use crate::config::{Settings, Source};
use crate::diag::{self, Stream};
use crate::error::Result;
use crate::process::supervise::fmt_elapsed;
use crate::transport::{Channel, display_argv, wrapper};

/// `run --dry-run --json`: the exact argv, and the same as one line.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct DryRunJson<'a> {
    schema: &'static str,
    argv: &'a [String],
    command: &'a str,
}

/// docs/dry-run.schema.json is generated from it.
#[cfg(test)]
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(DryRunJson<'static>)).unwrap_or_default()
}

pub fn print(plan: &Plan, form: DryRunForm) -> Result<()> {
    let argv = plan.attempt_argv(&crate::capture::markers::nonce(), None)?;
    let exact = display_argv(&argv);
    if plan.json {
        let v = DryRunJson {
            schema: "stagerun.dry-run/1",
            argv: &argv,
            command: &exact,
        };
        crate::report::json::print_object(&v)?;
        return Ok(());
    }
    if form == DryRunForm::Full {
        diag::write(Stream::Out, summary(plan).as_bytes());
    }
    diag::line(Stream::Out, &exact);
    Ok(())
}

/// The value a key resolved to, as `stagerun config` shows it.
fn value(s: &Settings, key: &str) -> String {
    s.provenance
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.clone())
        .unwrap_or_default()
}

/// Where some keys came from: each one set somewhere by name, the ones
/// left at their default together.
fn sources(s: &Settings, keys: &[&str]) -> String {
    let mut set = Vec::new();
    let mut defaults = Vec::new();
    for key in keys {
        match s.source_of(key) {
            Source::Default => defaults.push(*key),
            source => set.push(format!("{key} from {source}")),
        }
    }
    if !defaults.is_empty() {
        let which = defaults.join(", ");
        set.push(if defaults.len() == 1 && set.is_empty() {
            "built-in default".to_string()
        } else {
            format!("{which}: built-in default")
        });
    }
    set.join("; ")
}

/// What decided the channel: `transport`, else `exec_host_side`, else the default.
fn channel_source(s: &Settings) -> String {
    match (s.source_of("transport"), s.source_of("exec_host_side")) {
        (t, e) if t.rank() >= e.rank() && t != Source::Default => format!("transport from {t}"),
        (_, Source::Default) => "channel: built-in default".into(),
        (_, e) => format!("exec_host_side from {e}"),
    }
}

fn channel(plan: &Plan) -> (String, String) {
    let s = &plan.settings;
    match &plan.transport.channel {
        Channel::Local => ("local (this machine)".into(), channel_source(s)),
        Channel::Ssh(ssh) => {
            let mut keys = vec!["host"];
            if ssh.user.is_some() {
                keys.push("user");
            }
            if ssh.port.is_some() {
                keys.push("port");
            }
            (
                format!("ssh to {}", ssh.target()),
                format!("{}; {}", channel_source(s), sources(s, &keys)),
            )
        }
    }
}

fn engine(plan: &Plan) -> (String, String) {
    use crate::config::EngineName;
    let s = &plan.settings;
    let name = plan.transport.engine.name();
    let engine_source = match s.source_of("engine") {
        Source::Default => "engine: the channel's default".to_string(),
        source => format!("engine from {source}"),
    };
    let (what, keys): (String, Vec<&str>) = match name {
        EngineName::None => (
            "none (the suite runs directly, no container)".into(),
            vec![],
        ),
        EngineName::Docker | EngineName::Podman => (
            format!("{name} exec, container {}", value(s, "container")),
            vec!["container"],
        ),
        EngineName::Kubectl => {
            let mut what = format!("kubectl exec, pod {}", value(s, "pod"));
            let mut keys = vec!["pod"];
            for key in ["container", "namespace", "kube_context"] {
                if s.source_of(key) != Source::Default {
                    what.push_str(&format!(", {} {}", key.replace('_', " "), value(s, key)));
                    keys.push(key);
                }
            }
            (what, keys)
        }
    };
    let source = if keys.is_empty() {
        engine_source
    } else {
        format!("{engine_source}; {}", sources(s, &keys))
    };
    (what, source)
}

fn summary(plan: &Plan) -> String {
    let s = &plan.settings;
    let (channel, channel_from) = channel(plan);
    let (engine, engine_from) = engine(plan);
    let timeout = fmt_elapsed(s.timeout.0);
    let attempts = plan.attempts_allowed();
    let retries = match s.infra_retries.0 {
        0 => "0: one attempt, a transient fault is HOLD at once".to_string(),
        n => format!("{n}: up to {attempts} attempts when a fault is transient"),
    };
    let deadline = match s.deadline {
        Some(d) => format!("{} for the whole run, retries included", fmt_elapsed(d.0)),
        None => "none (only each attempt's timeout)".into(),
    };
    let push = if s.push {
        format!(
            "the log is committed and pushed to {}",
            value(s, "push_remote")
        )
    } else {
        "off: the log is written, not committed".into()
    };
    let rows = [
        (
            "work item",
            format!("{} (repo {})", plan.item.id, s.repo),
            String::new(),
        ),
        ("channel", channel, channel_from),
        ("engine", engine, engine_from),
        (
            "suite",
            display_argv(&plan.suite),
            sources(s, &["check_script", "python", "mode"]),
        ),
        (
            "format",
            s.suite_format.as_str().to_string(),
            sources(s, &["suite_format"]),
        ),
        (
            "timeout",
            if plan.transport.wrapped() {
                let remote = wrapper::remote_deadline(s.timeout.0, s.grace.0);
                format!(
                    "{timeout} per attempt (stopped where it runs at {})",
                    fmt_elapsed(remote)
                )
            } else {
                format!("{timeout} per attempt")
            },
            sources(s, &["timeout"]),
        ),
        ("retries", retries, sources(s, &["infra_retries"])),
        ("deadline", deadline, sources(s, &["deadline"])),
        ("push", push, sources(s, &["push"])),
        (
            "log",
            plan.item.log_path().display().to_string(),
            String::new(),
        ),
    ];
    let config = match &s.config_file {
        Some(f) => format!("config file {}", f.display()),
        None => "no config file".into(),
    };
    let mut text = format!("dry run: nothing is started ({config})\n");
    text.push_str(&table(rows));
    let wrapped = if plan.transport.wrapped() {
        "the suite inside stagerun's sh wrapper, "
    } else {
        ""
    };
    text.push_str(&format!(
        "exact argv ({wrapped}as started; `--dry-run=exact` prints only this, `--json` one object):\n"
    ));
    text
}

/// Sources in a column, as `stagerun config` shows them; a long value (a
/// suite's command line) pushes only its own.
fn table<const N: usize>(rows: [(&str, String, String); N]) -> String {
    let mut text = String::new();
    let width = rows
        .iter()
        .filter(|(_, _, from)| !from.is_empty())
        .map(|(_, what, _)| what.chars().count())
        .filter(|w| *w <= 60)
        .max()
        .unwrap_or(0);
    for (name, what, from) in rows {
        let line = if from.is_empty() {
            format!("  {name:<10} {what}")
        } else {
            format!("  {name:<10} {what:<width$}  # {from}")
        };
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}
