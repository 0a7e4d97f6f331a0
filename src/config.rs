//! Layered configuration: flag > environment > config file (per-repo section,
//! then top level) > built-in default. Every value remembers where it came
//! from, so a bad value is reported naming its key and source.

use crate::cli::{ChannelArgs, TransportKind};
use crate::exit::Exit;
use anyhow::Result;
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_ID_PATTERN: &str = r"^[A-Z][A-Z0-9]*-[0-9]+[a-z]?$";
pub const DEFAULT_CHECK_LINE_PATTERN: &str =
    r"^(?P<id>C[0-9]+[a-z]?)\s+(?P<status>PASS|FAIL|WAIVED|SKIP)\b\s*(?P<detail>.*)$";
const ENV_PREFIX: &str = "ORCH_STAGING_RUNNER_";

/// The shape of `stagerun.yaml`. Per-repo sections under `repos:` take the
/// same keys (except `repos` and `scope`).
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub enabled: Option<bool>,
    pub scope: Option<Vec<String>>,
    pub transport: Option<TransportKind>,
    pub exec_host_side: Option<bool>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub container: Option<String>,
    pub check_script: Option<String>,
    pub python: Option<String>,
    pub mode: Option<String>,
    pub identity_file: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub ssh_config: Option<PathBuf>,
    pub ssh_options: Option<Vec<String>>,
    pub connect_timeout: Option<f64>,
    pub server_alive_interval: Option<f64>,
    pub connection_reuse: Option<bool>,
    pub timeout: Option<f64>,
    pub grace: Option<f64>,
    pub heartbeat: Option<f64>,
    pub infra_retries: Option<u32>,
    pub backoff_base: Option<f64>,
    pub backoff_cap: Option<f64>,
    pub id_pattern: Option<String>,
    pub check_line_pattern: Option<String>,
    pub rules: Option<PathBuf>,
    pub alert_command: Option<String>,
    pub push: Option<bool>,
    pub push_remote: Option<String>,
    pub push_branch: Option<String>,
    pub push_timeout: Option<f64>,
    pub tail_lines: Option<usize>,
    pub repos: Option<BTreeMap<String, FileConfig>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File { path: PathBuf, key: String },
    Env(String),
    Flag(&'static str),
}

impl Source {
    fn rank(&self) -> u8 {
        match self {
            Source::Default => 0,
            Source::File { key, .. } if key.starts_with("repos.") => 2,
            Source::File { .. } => 1,
            Source::Env(_) => 3,
            Source::Flag(_) => 4,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::File { path, key } => write!(f, "key `{key}` in {}", path.display()),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Flag(name) => write!(f, "flag --{name}"),
        }
    }
}

/// One resolved value and where it came from, for `stagerun config` and errors.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub key: &'static str,
    pub value: String,
    pub source: Source,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub repo: String,
    pub enabled: bool,
    pub scope: Option<Vec<String>>,
    pub transport: TransportKind,
    pub host: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub container: Option<String>,
    pub check_script: String,
    pub python: String,
    pub mode: String,
    pub identity_file: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub ssh_config: Option<PathBuf>,
    pub ssh_options: Vec<String>,
    pub connect_timeout: Duration,
    pub server_alive_interval: Duration,
    pub connection_reuse: bool,
    pub timeout: Duration,
    pub grace: Duration,
    pub heartbeat: Duration,
    pub infra_retries: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub id_pattern: Regex,
    pub check_line_pattern: regex::bytes::Regex,
    pub rules: Option<PathBuf>,
    pub alert_command: Option<String>,
    pub push: bool,
    pub push_remote: String,
    pub push_branch: Option<String>,
    pub push_timeout: Duration,
    pub tail_lines: usize,
    pub provenance: Vec<Provenance>,
}

/// Flag values that are not part of `ChannelArgs`.
#[derive(Debug, Default, Clone)]
pub struct ExtraFlags {
    pub mode: Option<String>,
    pub retries: Option<String>,
    pub rules: Option<PathBuf>,
    pub no_push: bool,
}

/// Reads the environment through a function so tests can resolve without
/// touching the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// Loads the config file: the explicit one must exist; the implicit
/// `./stagerun.yaml` is optional.
pub fn load_file(explicit: Option<&Path>, env: EnvLookup) -> Result<(Option<PathBuf>, FileConfig)> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => match env("STAGERUN_CONFIG") {
            Some(p) if !p.is_empty() => (PathBuf::from(p), true),
            _ => (PathBuf::from("stagerun.yaml"), false),
        },
    };
    let text = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((None, FileConfig::default()));
        }
        Err(e) => {
            return Err(Exit::config(format!(
                "cannot read config file {}: {e}",
                path.display()
            )));
        }
    };
    let text = String::from_utf8(text)
        .map_err(|_| Exit::config(format!("config file {} is not valid UTF-8", path.display())))?;
    let parsed =
        parse_file(&text).map_err(|msg| Exit::config(format!("{}:{msg}", path.display())))?;
    Ok((Some(path), parsed))
}

/// Parses config YAML; the error is one line, `LINE:COL: message`.
pub fn parse_file(text: &str) -> std::result::Result<FileConfig, String> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    let cfg: FileConfig = serde_saphyr::from_str(text).map_err(|e| one_line_yaml_error(&e))?;
    if let Some(repos) = &cfg.repos {
        for (name, section) in repos {
            if section.repos.is_some() || section.scope.is_some() || section.enabled.is_some() {
                return Err(format!(
                    " repos.{name}: `repos`, `scope` and `enabled` are only allowed at the top level"
                ));
            }
        }
    }
    Ok(cfg)
}

pub fn one_line_yaml_error(e: &serde_saphyr::Error) -> String {
    let first = e.to_string();
    let first = first.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match e.location() {
        Some(loc) => {
            let prefix = format!("line {} column {}: ", loc.line(), loc.column());
            let msg = first.strip_prefix(&prefix).unwrap_or(first);
            format!("{}:{}: {msg}", loc.line(), loc.column())
        }
        None => format!(" {first}"),
    }
}

/// One key being resolved through the layers.
struct Layered<'a> {
    file_path: Option<&'a Path>,
    repo: &'a str,
    env: EnvLookup<'a>,
    provenance: Vec<Provenance>,
}

impl Layered<'_> {
    /// Picks the highest layer that has a value, parses/validates it, and
    /// records where it came from.
    #[allow(clippy::too_many_arguments)]
    fn pick<T: Clone + fmt::Debug>(
        &mut self,
        key: &'static str,
        flag: Option<(&'static str, String)>,
        env_suffix: Option<&str>,
        repo_file: Option<T>,
        file: Option<T>,
        default: Option<T>,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
        check: impl Fn(&T) -> std::result::Result<(), String>,
        show: impl Fn(&T) -> String,
    ) -> Result<(Option<T>, Source)> {
        let mut candidate: Option<(T, Source)> = None;
        if let Some((flag_name, raw)) = flag {
            let source = Source::Flag(flag_name);
            let v = parse(&raw).map_err(|m| bad_value(key, &source, &m))?;
            candidate = Some((v, source));
        }
        if candidate.is_none()
            && let Some(suffix) = env_suffix
        {
            let name = format!("{ENV_PREFIX}{suffix}");
            if let Some(raw) = (self.env)(&name) {
                let source = Source::Env(name);
                let v = parse(raw.trim()).map_err(|m| bad_value(key, &source, &m))?;
                candidate = Some((v, source));
            }
        }
        if candidate.is_none()
            && let Some(v) = repo_file
        {
            candidate = Some((v, self.file_source(format!("repos.{}.{key}", self.repo))));
        }
        if candidate.is_none()
            && let Some(v) = file
        {
            candidate = Some((v, self.file_source(key.to_string())));
        }
        if candidate.is_none()
            && let Some(v) = default
        {
            candidate = Some((v, Source::Default));
        }
        match candidate {
            Some((v, source)) => {
                check(&v).map_err(|m| bad_value(key, &source, &m))?;
                self.provenance.push(Provenance {
                    key,
                    value: show(&v),
                    source: source.clone(),
                });
                Ok((Some(v), source))
            }
            None => {
                self.provenance.push(Provenance {
                    key,
                    value: "(unset)".into(),
                    source: Source::Default,
                });
                Ok((None, Source::Default))
            }
        }
    }

    fn file_source(&self, key: String) -> Source {
        Source::File {
            path: self.file_path.map(Path::to_path_buf).unwrap_or_default(),
            key,
        }
    }
}

fn bad_value(key: &str, source: &Source, msg: &str) -> anyhow::Error {
    Exit::config(format!("invalid value for `{key}` from {source}: {msg}"))
}

pub fn parse_bool(raw: &str) -> std::result::Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("`{raw}` is not a boolean (true/false)")),
    }
}

pub fn parse_seconds(raw: &str) -> std::result::Result<f64, String> {
    raw.parse::<f64>()
        .map_err(|_| format!("`{raw}` is not a number of seconds"))
}

fn positive_seconds(v: &f64) -> std::result::Result<(), String> {
    if v.is_finite() && *v > 0.0 && *v <= 7.0 * 86400.0 {
        Ok(())
    } else {
        Err(format!(
            "{v} is not a positive number of seconds (at most one week)"
        ))
    }
}

fn non_negative_seconds(v: &f64) -> std::result::Result<(), String> {
    if v.is_finite() && *v >= 0.0 && *v <= 86400.0 {
        Ok(())
    } else {
        Err(format!(
            "{v} is not a number of seconds between 0 and 86400"
        ))
    }
}

fn parse_u32(raw: &str) -> std::result::Result<u32, String> {
    raw.parse::<u32>()
        .map_err(|_| format!("`{raw}` is not a whole number ≥ 0"))
}

fn parse_string(raw: &str) -> std::result::Result<String, String> {
    Ok(raw.to_string())
}

/// Values that end up on a command line: no NUL and no line breaks, which no
/// quoting can carry safely through every shell and log line.
#[allow(clippy::ptr_arg)] // used as a validator for `Layered::pick::<String>`
pub fn no_control(v: &String) -> std::result::Result<(), String> {
    if v.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = v.chars().find(|c| *c == '\0' || *c == '\n' || *c == '\r') {
        return Err(format!("contains a forbidden character {:?}", c));
    }
    Ok(())
}

#[allow(clippy::ptr_arg)] // validator for `Layered::pick::<PathBuf>`
fn no_control_path(v: &PathBuf) -> std::result::Result<(), String> {
    no_control(&v.to_string_lossy().into_owned())
}

#[allow(clippy::ptr_arg)] // validator for `Layered::pick::<String>`
fn valid_regex(v: &String) -> std::result::Result<(), String> {
    // Syntax only; the one real compile happens when the value is used.
    regex_syntax::Parser::new()
        .parse(v)
        .map(|_| ())
        .map_err(|e| format!("invalid regular expression: {}", first_line(&e.to_string())))
}

pub fn first_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines.last().copied().unwrap_or("").to_string()
}

/// The check-line pattern as every scan uses it: bytes with ASCII classes,
/// like the rule patterns, since it runs on every stdout line and those need
/// not be UTF-8.
pub fn compile_check_line_pattern(pattern: &str) -> Result<regex::bytes::Regex, regex::Error> {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .build()
}

fn ok<T>(_: &T) -> std::result::Result<(), String> {
    Ok(())
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

impl Settings {
    /// Resolves every key for `repo` from the layers.
    pub fn resolve(
        channel: &ChannelArgs,
        extra: &ExtraFlags,
        env: EnvLookup,
        file_path: Option<&Path>,
        file: &FileConfig,
    ) -> Result<Settings> {
        let repo = channel.repo.clone();
        if !repo.is_empty() {
            no_control(&repo).map_err(|m| Exit::usage(format!("invalid --repo: {m}")))?;
        }
        let section = file
            .repos
            .as_ref()
            .and_then(|r| r.get(&repo))
            .cloned()
            .unwrap_or_default();
        let mut l = Layered {
            file_path,
            repo: &repo,
            env,
            provenance: Vec::new(),
        };
        let show_s = |v: &String| v.clone();
        let show_f = |v: &f64| format!("{v}");
        let show_p = |v: &PathBuf| v.display().to_string();
        let show_b = |v: &bool| v.to_string();

        let (enabled, _) = l.pick(
            "enabled",
            None,
            Some("ENABLED"),
            None,
            file.enabled,
            Some(true),
            parse_bool,
            ok,
            show_b,
        )?;
        let (scope, _) = l.pick(
            "scope",
            None,
            Some("REPOS"),
            None,
            file.scope.clone(),
            None,
            |raw| {
                Ok(raw
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect())
            },
            ok,
            |v: &Vec<String>| v.join(","),
        )?;
        let (transport, transport_src) = l.pick(
            "transport",
            channel
                .transport
                .map(|t| ("transport", t.as_str().to_string())),
            Some("TRANSPORT"),
            section.transport,
            file.transport,
            None,
            |raw| match raw {
                "ssh" => Ok(TransportKind::Ssh),
                "docker" => Ok(TransportKind::Docker),
                "local" => Ok(TransportKind::Local),
                _ => Err(format!("`{raw}` is not one of ssh, docker, local")),
            },
            ok,
            |v: &TransportKind| v.as_str().to_string(),
        )?;
        let (host_side, host_side_src) = l.pick(
            "exec_host_side",
            None,
            Some("EXEC_HOST_SIDE"),
            section.exec_host_side,
            file.exec_host_side,
            Some(true),
            parse_bool,
            ok,
            show_b,
        )?;
        // An explicit transport beats the older boolean switch only when it
        // comes from the same or a higher layer.
        let transport = match transport {
            Some(t) if transport_src.rank() >= host_side_src.rank() => t,
            _ if host_side == Some(false) => TransportKind::Docker,
            _ => TransportKind::Ssh,
        };

        let (host, _) = l.pick(
            "host",
            channel.host.clone().map(|v| ("host", v)),
            Some("HOST"),
            section.host.clone(),
            file.host.clone(),
            None,
            parse_string,
            no_control,
            show_s,
        )?;
        let (user, _) = l.pick(
            "user",
            channel.user.clone().map(|v| ("user", v)),
            Some("USER"),
            section.user.clone(),
            file.user.clone(),
            None,
            parse_string,
            no_control,
            show_s,
        )?;
        let (port, _) = l.pick(
            "port",
            channel.port.map(|v| ("port", v.to_string())),
            Some("PORT"),
            section.port,
            file.port,
            None,
            |raw| {
                raw.parse::<u16>()
                    .map_err(|_| format!("`{raw}` is not a port number"))
            },
            |v: &u16| {
                if *v == 0 {
                    Err("port 0 is not valid".into())
                } else {
                    Ok(())
                }
            },
            |v: &u16| v.to_string(),
        )?;
        let (container, _) = l.pick(
            "container",
            channel.container.clone().map(|v| ("container", v)),
            Some("CONTAINER"),
            section.container.clone(),
            file.container.clone(),
            None,
            parse_string,
            no_control,
            show_s,
        )?;
        let (check_script, _) = l.pick(
            "check_script",
            channel.check_script.clone().map(|v| ("check-script", v)),
            Some("CHECK_SCRIPT"),
            section.check_script.clone(),
            file.check_script.clone(),
            Some("staging_check.py".to_string()),
            parse_string,
            no_control,
            show_s,
        )?;
        let (python, _) = l.pick(
            "python",
            channel.python.clone().map(|v| ("python", v)),
            Some("PYTHON"),
            section.python.clone(),
            file.python.clone(),
            Some("python3".to_string()),
            parse_string,
            no_control,
            show_s,
        )?;
        let (mode, _) = l.pick(
            "mode",
            extra.mode.clone().map(|v| ("mode", v)),
            Some("MODE"),
            section.mode.clone(),
            file.mode.clone(),
            Some("stub".to_string()),
            parse_string,
            no_control,
            show_s,
        )?;
        let (identity_file, _) = l.pick(
            "identity_file",
            channel
                .identity_file
                .clone()
                .map(|v| ("identity-file", v.display().to_string())),
            Some("IDENTITY_FILE"),
            section.identity_file.clone(),
            file.identity_file.clone(),
            None,
            |r| Ok(PathBuf::from(r)),
            no_control_path,
            show_p,
        )?;
        let (known_hosts, _) = l.pick(
            "known_hosts",
            channel
                .known_hosts
                .clone()
                .map(|v| ("known-hosts", v.display().to_string())),
            Some("KNOWN_HOSTS"),
            section.known_hosts.clone(),
            file.known_hosts.clone(),
            None,
            |r| Ok(PathBuf::from(r)),
            no_control_path,
            show_p,
        )?;
        let (ssh_config, _) = l.pick(
            "ssh_config",
            None,
            Some("SSH_CONFIG"),
            section.ssh_config.clone(),
            file.ssh_config.clone(),
            None,
            |r| Ok(PathBuf::from(r)),
            no_control_path,
            show_p,
        )?;
        let (ssh_options, _) = l.pick(
            "ssh_options",
            None,
            None,
            section.ssh_options.clone(),
            file.ssh_options.clone(),
            Some(Vec::new()),
            |_| Ok(Vec::new()),
            |v: &Vec<String>| {
                for o in v {
                    no_control(o)?;
                    if !o.contains('=') || o.starts_with('-') {
                        return Err(format!("`{o}` is not an ssh option of the form Key=value"));
                    }
                }
                Ok(())
            },
            |v: &Vec<String>| v.join(" "),
        )?;
        let (connect_timeout, _) = l.pick(
            "connect_timeout",
            None,
            Some("CONNECT_TIMEOUT"),
            section.connect_timeout,
            file.connect_timeout,
            Some(10.0),
            parse_seconds,
            positive_seconds,
            show_f,
        )?;
        let (server_alive, _) = l.pick(
            "server_alive_interval",
            None,
            None,
            section.server_alive_interval,
            file.server_alive_interval,
            Some(15.0),
            parse_seconds,
            positive_seconds,
            show_f,
        )?;
        let (reuse, _) = l.pick(
            "connection_reuse",
            None,
            Some("CONNECTION_REUSE"),
            section.connection_reuse,
            file.connection_reuse,
            Some(true),
            parse_bool,
            ok,
            show_b,
        )?;
        let (timeout, _) = l.pick(
            "timeout",
            channel.timeout.clone().map(|v| ("timeout", v)),
            Some("TIMEOUT"),
            section.timeout,
            file.timeout,
            Some(900.0),
            parse_seconds,
            positive_seconds,
            show_f,
        )?;
        let (grace, _) = l.pick(
            "grace",
            None,
            Some("GRACE"),
            section.grace,
            file.grace,
            Some(5.0),
            parse_seconds,
            non_negative_seconds,
            show_f,
        )?;
        let (heartbeat, _) = l.pick(
            "heartbeat",
            None,
            Some("HEARTBEAT"),
            section.heartbeat,
            file.heartbeat,
            Some(30.0),
            parse_seconds,
            positive_seconds,
            show_f,
        )?;
        let (retries, _) = l.pick(
            "infra_retries",
            extra.retries.clone().map(|v| ("retries", v)),
            Some("INFRA_RETRIES"),
            section.infra_retries,
            file.infra_retries,
            Some(2),
            parse_u32,
            |v: &u32| {
                if *v > 20 {
                    Err(format!("{v} retries is more than the maximum of 20"))
                } else {
                    Ok(())
                }
            },
            |v: &u32| v.to_string(),
        )?;
        let (backoff_base, _) = l.pick(
            "backoff_base",
            None,
            Some("BACKOFF_BASE"),
            section.backoff_base,
            file.backoff_base,
            Some(2.0),
            parse_seconds,
            non_negative_seconds,
            show_f,
        )?;
        let (backoff_cap, _) = l.pick(
            "backoff_cap",
            None,
            Some("BACKOFF_CAP"),
            section.backoff_cap,
            file.backoff_cap,
            Some(60.0),
            parse_seconds,
            non_negative_seconds,
            show_f,
        )?;
        let (id_pattern, _) = l.pick(
            "id_pattern",
            None,
            Some("ID_PATTERN"),
            section.id_pattern.clone(),
            file.id_pattern.clone(),
            Some(DEFAULT_ID_PATTERN.to_string()),
            parse_string,
            valid_regex,
            show_s,
        )?;
        let (check_line_pattern, _) = l.pick(
            "check_line_pattern",
            None,
            Some("CHECK_LINE_PATTERN"),
            section.check_line_pattern.clone(),
            file.check_line_pattern.clone(),
            Some(DEFAULT_CHECK_LINE_PATTERN.to_string()),
            parse_string,
            |v: &String| {
                valid_regex(v)?;
                for group in ["id", "status"] {
                    if !v.contains(&format!("(?P<{group}>")) && !v.contains(&format!("(?<{group}>"))
                    {
                        return Err(format!("must have a named group `(?P<{group}>…)`"));
                    }
                }
                Ok(())
            },
            show_s,
        )?;
        let (rules, _) = l.pick(
            "rules",
            extra
                .rules
                .clone()
                .map(|v| ("rules", v.display().to_string())),
            Some("RULES"),
            section.rules.clone(),
            file.rules.clone(),
            None,
            |r| Ok(PathBuf::from(r)),
            no_control_path,
            show_p,
        )?;
        let (alert_command, _) = l.pick(
            "alert_command",
            None,
            Some("ALERT_COMMAND"),
            section.alert_command.clone(),
            file.alert_command.clone(),
            None,
            parse_string,
            ok,
            |_| "(set)".into(),
        )?;
        let (push, _) = l.pick(
            "push",
            extra.no_push.then(|| ("no-push", "false".to_string())),
            Some("PUSH"),
            section.push,
            file.push,
            Some(true),
            parse_bool,
            ok,
            show_b,
        )?;
        let (push_remote, _) = l.pick(
            "push_remote",
            None,
            Some("PUSH_REMOTE"),
            section.push_remote.clone(),
            file.push_remote.clone(),
            Some("origin".to_string()),
            parse_string,
            no_control,
            show_s,
        )?;
        let (push_branch, _) = l.pick(
            "push_branch",
            None,
            Some("PUSH_BRANCH"),
            section.push_branch.clone(),
            file.push_branch.clone(),
            None,
            parse_string,
            no_control,
            show_s,
        )?;
        let (push_timeout, _) = l.pick(
            "push_timeout",
            None,
            Some("PUSH_TIMEOUT"),
            section.push_timeout,
            file.push_timeout,
            Some(60.0),
            parse_seconds,
            positive_seconds,
            show_f,
        )?;
        let (tail_lines, _) = l.pick(
            "tail_lines",
            None,
            None,
            section.tail_lines,
            file.tail_lines,
            Some(60),
            |r| r.parse().map_err(|_| format!("`{r}` is not a number")),
            |v: &usize| {
                if *v > 10_000 {
                    Err("at most 10000".into())
                } else {
                    Ok(())
                }
            },
            |v: &usize| v.to_string(),
        )?;

        let provenance = std::mem::take(&mut l.provenance);
        drop(l);
        let backoff_base = backoff_base.unwrap_or(2.0);
        let backoff_cap = backoff_cap.unwrap_or(60.0).max(backoff_base);
        Ok(Settings {
            repo: repo.clone(),
            enabled: enabled.unwrap_or(true),
            scope,
            transport,
            host,
            user,
            port,
            container,
            check_script: check_script.unwrap_or_default(),
            python: python.unwrap_or_default(),
            mode: mode.unwrap_or_default(),
            identity_file,
            known_hosts,
            ssh_config,
            ssh_options: ssh_options.unwrap_or_default(),
            connect_timeout: secs(connect_timeout.unwrap_or(10.0)),
            server_alive_interval: secs(server_alive.unwrap_or(15.0)),
            connection_reuse: reuse.unwrap_or(true),
            timeout: secs(timeout.unwrap_or(900.0)),
            grace: secs(grace.unwrap_or(5.0)),
            heartbeat: secs(heartbeat.unwrap_or(30.0)),
            infra_retries: retries.unwrap_or(2),
            backoff_base: secs(backoff_base),
            backoff_cap: secs(backoff_cap),
            id_pattern: Regex::new(&id_pattern.unwrap_or_default()).map_err(|e| {
                Exit::config(format!("`id_pattern`: {}", first_line(&e.to_string())))
            })?,
            check_line_pattern: compile_check_line_pattern(&check_line_pattern.unwrap_or_default())
                .map_err(|e| {
                    Exit::config(format!(
                        "`check_line_pattern`: {}",
                        first_line(&e.to_string())
                    ))
                })?,
            rules,
            alert_command,
            push: push.unwrap_or(true),
            push_remote: push_remote.unwrap_or_default(),
            push_branch,
            push_timeout: secs(push_timeout.unwrap_or(60.0)),
            tail_lines: tail_lines.unwrap_or(60),
            provenance,
        })
    }

    /// Kill-switch and scope: `Some(reason)` when this run must be skipped.
    pub fn skip_reason(&self) -> Option<String> {
        if !self.enabled {
            let src = self.source_of("enabled");
            return Some(format!("runner disabled by {src}"));
        }
        if let Some(scope) = &self.scope
            && !scope.iter().any(|r| r == &self.repo)
        {
            let src = self.source_of("scope");
            return Some(format!(
                "repo `{}` is outside the runner's scope [{}] ({src})",
                self.repo,
                scope.join(", ")
            ));
        }
        None
    }

    pub fn source_of(&self, key: &str) -> String {
        self.provenance
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.source.to_string())
            .unwrap_or_else(|| "built-in default".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(flags: ChannelArgs, env: &[(&str, &str)], yaml: &str) -> Result<Settings> {
        let map: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| map.get(k).cloned();
        let file = parse_file(yaml).map_err(Exit::config)?;
        Settings::resolve(
            &flags,
            &ExtraFlags::default(),
            &lookup,
            Some(Path::new("stagerun.yaml")),
            &file,
        )
    }

    fn repo(name: &str) -> ChannelArgs {
        ChannelArgs {
            repo: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn flag_beats_env_beats_repo_section_beats_file_beats_default() {
        let yaml = "timeout: 100\nrepos:\n  core:\n    timeout: 200\n";
        assert_eq!(
            resolve(repo("other"), &[], "").unwrap().timeout.as_secs(),
            900
        );
        assert_eq!(
            resolve(repo("other"), &[], yaml).unwrap().timeout.as_secs(),
            100
        );
        assert_eq!(
            resolve(repo("core"), &[], yaml).unwrap().timeout.as_secs(),
            200
        );
        let env = [("ORCH_STAGING_RUNNER_TIMEOUT", "300")];
        assert_eq!(
            resolve(repo("core"), &env, yaml).unwrap().timeout.as_secs(),
            300
        );
        let mut flags = repo("core");
        flags.timeout = Some("400".into());
        let s = resolve(flags, &env, yaml).unwrap();
        assert_eq!(s.timeout.as_secs(), 400);
        assert_eq!(s.source_of("timeout"), "flag --timeout");
    }

    #[test]
    fn exec_host_side_false_selects_docker_unless_transport_is_higher() {
        let env = [("ORCH_STAGING_RUNNER_EXEC_HOST_SIDE", "false")];
        assert_eq!(
            resolve(repo("r"), &env, "").unwrap().transport,
            TransportKind::Docker
        );
        assert_eq!(
            resolve(repo("r"), &env, "transport: local\n")
                .unwrap()
                .transport,
            TransportKind::Docker
        );
        let mut flags = repo("r");
        flags.transport = Some(TransportKind::Local);
        assert_eq!(
            resolve(flags, &env, "").unwrap().transport,
            TransportKind::Local
        );
        assert_eq!(
            resolve(repo("r"), &[], "").unwrap().transport,
            TransportKind::Ssh
        );
    }

    #[test]
    fn bad_values_name_key_and_source() {
        for (env, needle) in [
            ("abc", "`abc` is not a number"),
            ("-5", "not a positive number"),
            ("0", "not a positive number"),
        ] {
            let err = resolve(repo("r"), &[("ORCH_STAGING_RUNNER_TIMEOUT", env)], "").unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("`timeout`")
                    && msg.contains("ORCH_STAGING_RUNNER_TIMEOUT")
                    && msg.contains(needle),
                "{msg}"
            );
        }
        let msg = resolve(repo("r"), &[], "timeout: 0\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("key `timeout` in stagerun.yaml"), "{msg}");
        let msg = resolve(repo("r"), &[("ORCH_STAGING_RUNNER_ENABLED", "maybe")], "")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("ORCH_STAGING_RUNNER_ENABLED") && msg.contains("boolean"),
            "{msg}"
        );
    }

    #[test]
    fn yaml_errors_are_one_line_with_position() {
        let msg = parse_file("timeout: 5\nnope: 1\n").unwrap_err();
        assert!(
            msg.starts_with("2:1:") && msg.contains("unknown field `nope`") && !msg.contains('\n'),
            "{msg}"
        );
        let msg = parse_file("timeout: [1,\n").unwrap_err();
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn scope_and_kill_switch() {
        let s = resolve(repo("a"), &[("ORCH_STAGING_RUNNER_REPOS", "b, c")], "").unwrap();
        assert!(
            s.skip_reason()
                .unwrap()
                .contains("outside the runner's scope")
        );
        let s = resolve(repo("b"), &[("ORCH_STAGING_RUNNER_REPOS", "b, c")], "").unwrap();
        assert!(s.skip_reason().is_none());
        let s = resolve(repo("b"), &[("ORCH_STAGING_RUNNER_ENABLED", "false")], "").unwrap();
        assert!(s.skip_reason().unwrap().contains("disabled"));
    }
}
