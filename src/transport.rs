//! Builds the argv for each transport. Every value that crosses a shell on
//! the staging host is validated first and quoted with `shlex::try_join`.

use crate::cli::TransportKind;
use crate::config::Settings;
use crate::exit::Exit;
use crate::workitem::WorkItem;
use anyhow::Result;
use regex::Regex;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

/// Runs the suite under `timeout` inside the container when the container
/// has it: killing our local ssh or docker client does not stop a process
/// started by `docker exec`, so the remote side needs its own deadline.
/// Without `timeout` in the container the suite runs without one (see
/// docs/transports.md). The deadline values arrive as positional
/// parameters, never spliced into the script text.
pub const DEADLINE_WRAPPER: &str = r#"d=$1; k=$2; shift 2; if command -v timeout >/dev/null 2>&1; then exec timeout -k "$k" "$d" "$@"; fi; exec "$@""#;
pub const DEADLINE_ARG0: &str = "stagerun-deadline";

static HOST_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_\[][A-Za-z0-9_.:%\[\]-]*$").unwrap());
static USER_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_.-]*$").unwrap());
static CONTAINER_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$").unwrap());
static MODE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]*$").unwrap());

/// The remote deadline ends the suite a little before our local one, so the
/// remote side reports the timeout (exit 124) while the channel still works.
pub fn remote_deadline(local: Duration) -> Duration {
    let margin = (local / 20).clamp(Duration::from_secs(1), Duration::from_secs(10));
    if local > margin * 2 {
        local - margin
    } else {
        local.mul_f64(0.8)
    }
}

fn fmt_secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}", ms / 1000)
    } else {
        format!("{:.3}", d.as_secs_f64())
    }
}

fn invalid(settings: &Settings, key: &str, value: &str, why: &str) -> anyhow::Error {
    Exit::config(format!(
        "invalid value for `{key}` from {}: {value:?} {why}",
        settings.source_of(key)
    ))
}

fn check(settings: &Settings, key: &str, value: &str, re: &Regex) -> Result<()> {
    if re.is_match(value) {
        Ok(())
    } else {
        Err(invalid(
            settings,
            key,
            value,
            &format!("does not match `{}`", re.as_str()),
        ))
    }
}

fn not_an_option(settings: &Settings, key: &str, value: &str) -> Result<()> {
    if value.starts_with('-') {
        return Err(invalid(settings, key, value, "must not start with `-`"));
    }
    Ok(())
}

/// argv of the suite itself, as the interpreter sees it.
pub fn suite_argv(settings: &Settings, item: &WorkItem) -> Result<Vec<String>> {
    not_an_option(settings, "python", &settings.python)?;
    not_an_option(settings, "check_script", &settings.check_script)?;
    check(settings, "mode", &settings.mode, &MODE_RE)?;
    Ok(vec![
        settings.python.clone(),
        settings.check_script.clone(),
        "--work-item".into(),
        item.id.clone(),
        "--mode".into(),
        settings.mode.clone(),
    ])
}

fn require<'a>(settings: &Settings, key: &str, value: &'a Option<String>) -> Result<&'a str> {
    value.as_deref().ok_or_else(|| {
        Exit::config(format!(
            "`{key}` is not set: the {} transport needs it (flag --{}, environment ORCH_STAGING_RUNNER_{}, or config key `{key}`)",
            settings.transport.as_str(),
            key.replace('_', "-"),
            key.to_ascii_uppercase()
        ))
    })
}

/// `docker exec CONTAINER <deadline wrapper> ARGV…` as run on the docker host.
pub fn docker_exec_argv(settings: &Settings, inner: &[String]) -> Result<Vec<String>> {
    let container = require(settings, "container", &settings.container)?;
    check(settings, "container", container, &CONTAINER_RE)?;
    let deadline = remote_deadline(settings.timeout);
    let mut argv: Vec<String> = vec![
        "docker".into(),
        "exec".into(),
        container.into(),
        "sh".into(),
        "-c".into(),
        DEADLINE_WRAPPER.into(),
        DEADLINE_ARG0.into(),
        fmt_secs(deadline),
        fmt_secs(settings.grace.max(Duration::from_secs(1))),
    ];
    argv.extend(inner.iter().cloned());
    Ok(argv)
}

/// ssh options shared by the run, preflight and the master connection.
pub fn ssh_base_argv(settings: &Settings, control_path: Option<&Path>) -> Result<Vec<String>> {
    let host = require(settings, "host", &settings.host)?;
    check(settings, "host", host, &HOST_RE)?;
    let mut argv: Vec<String> = vec!["ssh".into()];
    if let Some(cfg) = &settings.ssh_config {
        argv.extend(["-F".into(), cfg.display().to_string()]);
    }
    let mut opt = |o: String| argv.extend(["-o".into(), o]);
    // BatchMode: never a password or passphrase prompt; StrictHostKeyChecking:
    // never a silently accepted host key.
    opt("BatchMode=yes".into());
    opt("StrictHostKeyChecking=yes".into());
    opt(format!(
        "ConnectTimeout={}",
        settings.connect_timeout.as_secs().max(1)
    ));
    opt(format!(
        "ServerAliveInterval={}",
        settings.server_alive_interval.as_secs().max(1)
    ));
    opt("ServerAliveCountMax=3".into());
    if let Some(kh) = &settings.known_hosts {
        opt(format!("UserKnownHostsFile={}", kh.display()));
    }
    if let Some(path) = control_path {
        opt(format!("ControlPath={}", path.display()));
        opt("ControlMaster=no".into());
    }
    for extra in &settings.ssh_options {
        opt(extra.clone());
    }
    if let Some(id) = &settings.identity_file {
        argv.extend([
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-i".into(),
            id.display().to_string(),
        ]);
    }
    if let Some(port) = settings.port {
        argv.extend(["-p".into(), port.to_string()]);
    }
    if let Some(user) = &settings.user {
        check(settings, "user", user, &USER_RE)?;
        argv.extend(["-l".into(), user.clone()]);
    }
    argv.push("--".into());
    argv.push(host.into());
    Ok(argv)
}

/// One POSIX-quoted command string for the remote login shell.
pub fn remote_command(parts: &[String]) -> Result<String> {
    shlex::try_join(parts.iter().map(String::as_str))
        .map_err(|e| Exit::config(format!("cannot quote the remote command: {e}")))
}

/// The complete argv for one attempt of the suite.
pub fn run_argv(
    settings: &Settings,
    item: &WorkItem,
    control_path: Option<&Path>,
) -> Result<Vec<String>> {
    let inner = suite_argv(settings, item)?;
    match settings.transport {
        TransportKind::Local => Ok(inner),
        TransportKind::Docker => docker_exec_argv(settings, &inner),
        TransportKind::Ssh => {
            let remote = docker_exec_argv(settings, &inner)?;
            let mut argv = ssh_base_argv(settings, control_path)?;
            argv.push(remote_command(&remote)?);
            Ok(argv)
        }
    }
}

/// A shell-pasteable rendering of an argv, for logs and `--dry-run`.
pub fn display_argv(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| format!("{argv:?}"))
}

/// argv that starts the shared master connection in the background.
pub fn ssh_master_argv(settings: &Settings, control_path: &Path) -> Result<Vec<String>> {
    let mut argv = ssh_base_argv(settings, None)?;
    let host_at = argv.len() - 2;
    let extra = [
        "-o".to_string(),
        format!("ControlPath={}", control_path.display()),
        "-o".into(),
        "ControlMaster=yes".into(),
        "-o".into(),
        "ControlPersist=yes".into(),
        "-N".into(),
        "-f".into(),
    ];
    argv.splice(host_at..host_at, extra);
    Ok(argv)
}

/// argv that tells the master connection to exit.
pub fn ssh_exit_argv(settings: &Settings, control_path: &Path) -> Result<Vec<String>> {
    let mut argv = ssh_base_argv(settings, Some(control_path))?;
    let host_at = argv.len() - 2;
    argv.splice(host_at..host_at, ["-O".to_string(), "exit".into()]);
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_deadline_is_shorter_and_positive() {
        for s in [1u64, 2, 3, 10, 60, 900, 86400] {
            let local = Duration::from_secs(s);
            let remote = remote_deadline(local);
            assert!(remote < local && remote > Duration::ZERO, "{s}: {remote:?}");
        }
        assert_eq!(
            remote_deadline(Duration::from_secs(900)),
            Duration::from_secs(890)
        );
    }

    #[test]
    fn wrapper_runs_argv_verbatim_under_timeout() {
        let out = std::process::Command::new("sh")
            .args([
                "-c",
                DEADLINE_WRAPPER,
                DEADLINE_ARG0,
                "5",
                "1",
                "printf",
                "%s|",
                "a b",
                "$(x)",
                "'",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a b|$(x)|'|");
    }
}
