//! The commands other than `run`: gate, classify, preflight, config,
//! disconnect, completions, man.

pub mod classify;
pub mod config;
pub mod gate;
pub mod history;
pub mod man;
pub mod status;

use crate::cli::{DisconnectArgs, PreflightArgs};
use crate::config::ChannelName;
use crate::diag::{self, Stream};
use crate::error::{Error, Result};
use crate::exit::Verdict;
use crate::model::StepResult;

/// `preflight --json`: the steps and what they add up to.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct PreflightJson<'a> {
    schema: &'static str,
    ok: bool,
    verdict: Verdict,
    exit_code: u8,
    steps: &'a [StepResult],
}

/// `disconnect --json` on success (its errors are the result object).
#[derive(serde::Serialize, schemars::JsonSchema)]
struct DisconnectJson<'a> {
    schema: &'static str,
    ok: bool,
    verdict: Verdict,
    exit_code: u8,
    closed: bool,
    target: Option<&'a str>,
    message: &'a str,
}

/// Every `--json` object's schema, generated from its type: the run's
/// result, history, status and the smaller commands' objects
/// (docs/*.schema.json; see `schemas_are_current`).
#[cfg(test)]
pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    let of = |s: schemars::Schema| serde_json::to_value(s).unwrap_or_default();
    vec![
        ("docs/result.schema.json", crate::model::result_schema()),
        ("docs/history.schema.json", crate::history::report::schema()),
        ("docs/status.schema.json", status::schema()),
        ("docs/dry-run.schema.json", crate::run::dry_run_schema()),
        (
            "docs/preflight.schema.json",
            of(schemars::schema_for!(PreflightJson<'static>)),
        ),
        (
            "docs/disconnect.schema.json",
            of(schemars::schema_for!(DisconnectJson<'static>)),
        ),
        ("docs/config.schema.json", config::schema()),
        ("docs/classify.schema.json", classify::schema()),
    ]
}

pub fn preflight(args: &PreflightArgs) -> Result<u8> {
    let settings = crate::config::resolve(&args.request())?;
    let transport = crate::transport::Transport::for_settings(&settings)?;
    let rules = crate::preflight::rules_for(&settings)?;
    crate::signals::install().map_err(|e| Error::Internal(e.to_string()))?;
    let target = transport
        .ssh()
        .map(|s| format!(" to {}", s.target()))
        .unwrap_or_default();
    crate::note!(
        "preflight: repo {} via {}{target}",
        settings.repo,
        transport.label()
    );
    let (mut session, failure) = match transport.ssh() {
        Some(ssh) if settings.connection_reuse => {
            // The same master rules as `run`, shared when connection_persist is on.
            match crate::transport::persist::session_for(&settings, ssh) {
                Ok(s) => (Some(s), None),
                Err(f) => (None, Some(f)),
            }
        }
        _ => (None, None),
    };
    let steps = crate::preflight::run_steps(
        &transport,
        &settings,
        &rules,
        session.as_mut(),
        failure.as_ref(),
        crate::preflight::print_step,
    );
    drop(session);
    let ok = steps.iter().all(|s| s.ok);
    let code = if ok {
        crate::exit::SUCCESS
    } else {
        crate::exit::HOLD
    };
    if args.json {
        crate::report::json::print_object(&PreflightJson {
            schema: "stagerun.preflight/2",
            ok,
            verdict: if ok { Verdict::Success } else { Verdict::Hold },
            exit_code: code,
            steps: &steps,
        })?;
    }
    Ok(code)
}

/// Only the channel matters: no engine, container or suite is needed to
/// close a master.
pub fn disconnect(args: &DisconnectArgs) -> Result<u8> {
    let settings = crate::config::resolve(&args.request())?;
    let ssh = match settings.placement()?.channel {
        ChannelName::Ssh => Some(crate::transport::ssh::Ssh::from_settings(&settings)?),
        ChannelName::Local => None,
    };
    let (closed, target, message) = match &ssh {
        None => (
            false,
            None,
            "nothing to close: the transport is not ssh".to_string(),
        ),
        Some(ssh) => match crate::transport::persist::disconnect(ssh) {
            Ok(closed) => {
                let what = if closed { "closed the" } else { "no" };
                let message = format!("{what} shared ssh master for {}", ssh.target());
                (closed, Some(ssh.target()), message)
            }
            Err(e) => {
                return Err(Error::Hold(format!(
                    "could not close the shared ssh master: {e}"
                )));
            }
        },
    };
    crate::note!("{message}");
    // Its error paths print the result object (lib.rs); this is the
    // success path's one object.
    if args.json {
        crate::report::json::print_object(&DisconnectJson {
            schema: "stagerun.disconnect/1",
            ok: true,
            verdict: Verdict::Success,
            exit_code: crate::exit::SUCCESS,
            closed,
            target: target.as_deref(),
            message: &message,
        })?;
    }
    Ok(crate::exit::SUCCESS)
}

pub fn completions(args: &crate::cli::CompletionsArgs) -> Result<u8> {
    let mut cmd = crate::cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "stagerun", &mut out);
    diag::write(Stream::Out, &out);
    Ok(crate::exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    /// Every docs/*.schema.json is generated from the type that prints its
    /// object; regenerate with
    /// `STAGERUN_UPDATE_DOCS=1 cargo test --lib schemas_are_current`.
    #[test]
    fn schemas_are_current() {
        for (file, schema) in super::schemas() {
            let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            if std::env::var("STAGERUN_UPDATE_DOCS").as_deref() == Ok("1") {
                std::fs::write(&path, &generated).unwrap();
            }
            let documented = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                documented == generated,
                "{file} is stale: STAGERUN_UPDATE_DOCS=1 cargo test --lib schemas_are_current"
            );
        }
    }
}
