//! Validated value types: a value is parsed and checked once, where it is
//! loaded, whatever layer it comes from (flag, environment, file, default),
//! so every bad value is reported the same way with its key and source.

use regex::Regex;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

/// A value as one layer holds it before it is typed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Yaml {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Yaml>),
    Map(std::collections::BTreeMap<String, Yaml>),
}

impl Yaml {
    fn scalar(&self) -> Option<String> {
        match self {
            Yaml::Bool(b) => Some(b.to_string()),
            Yaml::Int(i) => Some(i.to_string()),
            Yaml::Float(f) => Some(f.to_string()),
            Yaml::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
}

/// Raw text (environment, flags) or a YAML node (config files).
#[derive(Debug, Clone)]
pub enum Raw {
    Text(String),
    Yaml(Yaml),
}

/// Where relative paths are resolved from: a config file's folder, or the
/// current directory for flags and the environment.
pub struct Ctx<'a> {
    pub base: Option<&'a Path>,
}

pub trait Value: Sized + Clone {
    /// What the value looks like, for help and docs.
    const SHAPE: &'static str;
    fn from_text(s: &str, ctx: &Ctx) -> Result<Self, String>;
    fn from_yaml(y: &Yaml, ctx: &Ctx) -> Result<Self, String> {
        match y.scalar() {
            Some(s) => Self::from_text(&s, ctx),
            None => Err(format!("expected {}, not a list or mapping", Self::SHAPE)),
        }
    }
    fn from_raw(raw: &Raw, ctx: &Ctx) -> Result<Self, String> {
        match raw {
            Raw::Text(s) => Self::from_text(s.trim(), ctx),
            Raw::Yaml(y) => Self::from_yaml(y, ctx),
        }
    }
    fn show(&self) -> String;
    /// The value of a key that no layer sets; only optional keys have one.
    fn absent() -> Option<Self> {
        None
    }
}

/// Values that reach an argv or a log line: no NUL or line breaks, which no
/// quoting carries safely through every shell.
fn plain(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = v.chars().find(|c| c.is_control()) {
        return Err(format!("contains a control character {c:?}"));
    }
    Ok(())
}

/// Values placed where a program reads options must not look like one.
fn not_option(v: &str) -> Result<(), String> {
    if v.starts_with('-') {
        return Err(format!(
            "`{v}` must not start with `-` (it would be read as an option)"
        ));
    }
    Ok(())
}

fn matching(v: &str, re: &Regex) -> Result<(), String> {
    if re.is_match(v) {
        Ok(())
    } else {
        Err(format!("`{v}` does not match `{}`", re.as_str()))
    }
}

macro_rules! pattern {
    ($name:ident, $re:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($re).expect("valid pattern"));
    };
}
pattern!(HOST_RE, r"^[A-Za-z0-9_\[][A-Za-z0-9_.:%\[\]-]*$");
pattern!(USER_RE, r"^[A-Za-z_][A-Za-z0-9_.-]*$");
pattern!(NAME_RE, r"^[A-Za-z0-9][A-Za-z0-9_.-]*$");
pattern!(K8S_RE, r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$");
pattern!(MODE_RE, r"^[A-Za-z0-9_][A-Za-z0-9_.=-]*$");
pattern!(BRANCH_RE, r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$");
pattern!(EXEC_OPT_RE, r"^--?[A-Za-z][A-Za-z0-9-]*(=.*)?$");

// ---- scalars ---------------------------------------------------------------

impl Value for bool {
    const SHAPE: &'static str = "true|false";
    fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            "" => Err("is empty (true or false)".into()),
            _ => Err(format!("`{s}` is not a boolean (true/false)")),
        }
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

/// `900`, `0.5`, `15m`, `1h 30m`, `250ms`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() {
        return Err("is empty (seconds, or a duration like 15m)".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(format!("`{s}` is not a duration"));
        }
        return Duration::try_from_secs_f64(secs).map_err(|_| format!("`{s}` is not a duration"));
    }
    humantime::parse_duration(s)
        .map_err(|_| format!("`{s}` is not a duration (seconds, or like 90s, 15m, 1h30m)"))
}

fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 && d.as_secs().is_multiple_of(60) {
        humantime::format_duration(d).to_string().replace(' ', "")
    } else {
        let s = d.as_secs_f64();
        if s.fract() == 0.0 {
            format!("{}s", s as u64)
        } else {
            format!("{s}s")
        }
    }
}

const WEEK: Duration = Duration::from_secs(7 * 86400);

macro_rules! duration_type {
    ($name:ident, $min_exclusive:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub struct $name(pub Duration);
        impl Value for $name {
            const SHAPE: &'static str = "a duration (seconds, or like 90s, 15m)";
            fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
                let d = parse_duration(s)?;
                if $min_exclusive && d.is_zero() {
                    return Err(format!("`{s}` must be more than zero"));
                }
                if d > WEEK {
                    return Err(format!("`{s}` is more than a week"));
                }
                Ok($name(d))
            }
            fn show(&self) -> String {
                show_duration(self.0)
            }
        }
    };
}
duration_type!(Positive, true, "A duration above zero.");
duration_type!(NonNegative, false, "A duration, zero allowed.");

macro_rules! count_type {
    ($name:ident, $max:expr) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub u32);
        impl Value for $name {
            const SHAPE: &'static str = "a whole number";
            fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
                let n: u32 = s
                    .parse()
                    .map_err(|_| format!("`{s}` is not a whole number ≥ 0"))?;
                if n > $max {
                    return Err(format!("{n} is more than the maximum of {}", $max));
                }
                Ok($name(n))
            }
            fn show(&self) -> String {
                self.0.to_string()
            }
        }
    };
}
count_type!(Retries, 20);
count_type!(TailLines, 10_000);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port(pub u16);
impl Value for Port {
    const SHAPE: &'static str = "a TCP port";
    fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
        match s.parse::<u16>() {
            Ok(p) if p > 0 => Ok(Port(p)),
            _ => Err(format!("`{s}` is not a port (1-65535)")),
        }
    }
    fn show(&self) -> String {
        self.0.to_string()
    }
}

macro_rules! text_type {
    ($name:ident, $shape:literal, |$v:ident| $check:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub String);
        impl Value for $name {
            const SHAPE: &'static str = $shape;
            fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
                let $v = s;
                plain($v)?;
                $check?;
                Ok($name(s.to_string()))
            }
            fn show(&self) -> String {
                self.0.clone()
            }
        }
    };
}
text_type!(Host, "a host name or address", |v| not_option(v)
    .and_then(|_| matching(v, &HOST_RE)));
text_type!(User, "a user name", |v| matching(v, &USER_RE));
text_type!(Name, "a container or pod name", |v| matching(v, &NAME_RE));
text_type!(K8sName, "a Kubernetes namespace", |v| matching(v, &K8S_RE));
text_type!(Mode, "a mode word", |v| matching(v, &MODE_RE));
text_type!(Program, "a program name or path", |v| not_option(v));
text_type!(RemotePath, "a path where the suite runs", |v| not_option(v));
text_type!(Word, "a name", |v| not_option(v));
text_type!(Branch, "a branch name", |v| {
    if v.contains("..") || v.ends_with(".lock") || v.ends_with('/') {
        Err(format!("`{v}` is not a valid branch name"))
    } else {
        matching(v, &BRANCH_RE)
    }
});
/// A shell command (the alert hook); shown as `(set)`, since it may hold a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command(pub String);
impl Value for Command {
    const SHAPE: &'static str = "a shell command";
    fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("must not be empty".into());
        }
        if s.contains('\0') {
            return Err("contains a NUL byte".into());
        }
        Ok(Command(s.to_string()))
    }
    fn show(&self) -> String {
        "(set)".into()
    }
}

/// A file on this machine; relative paths in a config file are relative to
/// that file's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPath(pub PathBuf);
impl Value for LocalPath {
    const SHAPE: &'static str = "a path";
    fn from_text(s: &str, ctx: &Ctx) -> Result<Self, String> {
        plain(s)?;
        let p = PathBuf::from(s);
        Ok(LocalPath(match ctx.base {
            Some(base) if p.is_relative() => base.join(p),
            _ => p,
        }))
    }
    fn show(&self) -> String {
        self.0.display().to_string()
    }
}

/// `ssh -o` options, `Key=value` each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshOptions(pub Vec<String>);
impl Value for SshOptions {
    const SHAPE: &'static str = "a list of ssh options (Key=value)";
    fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
        let items: Vec<String> = s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect();
        check_ssh_options(items)
    }
    fn from_yaml(y: &Yaml, ctx: &Ctx) -> Result<Self, String> {
        match y {
            Yaml::Seq(items) => check_ssh_options(
                items
                    .iter()
                    .map(|i| i.scalar().unwrap_or_default())
                    .collect(),
            ),
            other => Self::from_text(&other.scalar().unwrap_or_default(), ctx),
        }
    }
    fn show(&self) -> String {
        self.0.join(",")
    }
}

fn check_ssh_options(items: Vec<String>) -> Result<SshOptions, String> {
    for o in &items {
        plain(o)?;
        if !o.contains('=') || o.starts_with('-') {
            return Err(format!("`{o}` is not an ssh option of the form Key=value"));
        }
    }
    Ok(SshOptions(items))
}

/// Options for `docker exec` / `podman exec`, `--flag` or `--flag=value` each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOptions(pub Vec<String>);
impl Value for ExecOptions {
    const SHAPE: &'static str = "a list of options (--flag or --flag=value)";
    fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
        check_exec_options(s.split_whitespace().map(str::to_string).collect())
    }
    fn from_yaml(y: &Yaml, ctx: &Ctx) -> Result<Self, String> {
        match y {
            Yaml::Seq(items) => check_exec_options(
                items
                    .iter()
                    .map(|i| i.scalar().unwrap_or_default())
                    .collect(),
            ),
            other => Self::from_text(&other.scalar().unwrap_or_default(), ctx),
        }
    }
    fn show(&self) -> String {
        self.0.join(" ")
    }
}

/// Options that take the suite out of our hands: a detached exec runs it
/// unsupervised (no end marker, no stop, a busy work item for the whole
/// remote deadline); a TTY merges its streams and an open stdin hangs it.
fn takes_the_suite_away(o: &str) -> bool {
    let name = o.split('=').next().unwrap_or(o);
    if let Some(long) = name.strip_prefix("--") {
        return matches!(long, "detach" | "detach-keys" | "interactive" | "tty");
    }
    // A cluster of short flags, `-it`, up to the first that takes a value.
    name.strip_prefix('-').is_some_and(|cluster| {
        cluster
            .chars()
            .take_while(|c| matches!(c, 'd' | 'i' | 't'))
            .next()
            .is_some()
    })
}

fn check_exec_options(items: Vec<String>) -> Result<ExecOptions, String> {
    for o in &items {
        plain(o)?;
        if !EXEC_OPT_RE.is_match(o) {
            return Err(format!(
                "`{o}` is not an option of the form --flag or --flag=value"
            ));
        }
        if takes_the_suite_away(o) {
            return Err(format!(
                "`{o}` would run the suite detached, on a TTY or reading stdin, out of stagerun's supervision"
            ));
        }
    }
    Ok(ExecOptions(items))
}

/// The repositories the runner serves: `a,b` or a YAML list. An empty value
/// is an error, not "every repo": an unset CI variable often arrives empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoList(pub Vec<String>);
impl Value for RepoList {
    const SHAPE: &'static str = "a list of repository names";
    fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
        check_repos(
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
        )
    }
    fn from_yaml(y: &Yaml, ctx: &Ctx) -> Result<Self, String> {
        match y {
            Yaml::Seq(items) => check_repos(items.iter().filter_map(Yaml::scalar).collect()),
            other => Self::from_text(&other.scalar().unwrap_or_default(), ctx),
        }
    }
    fn show(&self) -> String {
        self.0.join(",")
    }
}

fn check_repos(items: Vec<String>) -> Result<RepoList, String> {
    if items.is_empty() {
        return Err(
            "is empty: list the repositories in scope, or unset it to serve every repository"
                .into(),
        );
    }
    for r in &items {
        plain(r)?;
    }
    Ok(RepoList(items))
}

/// A regular expression for work-item ids.
#[derive(Debug, Clone)]
pub struct IdPattern(pub Regex);
impl Value for IdPattern {
    const SHAPE: &'static str = "a regular expression";
    fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
        plain(s)?;
        Regex::new(s)
            .map(IdPattern)
            .map_err(|e| format!("invalid regular expression: {}", last_line(&e.to_string())))
    }
    fn show(&self) -> String {
        self.0.as_str().to_string()
    }
}

/// The check-line pattern: bytes with ASCII classes (suite output need not
/// be UTF-8), with named groups `id` and `status`.
#[derive(Debug, Clone)]
pub struct CheckPattern(pub regex::bytes::Regex);
impl Value for CheckPattern {
    const SHAPE: &'static str = "a regular expression with groups id and status";
    fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
        plain(s)?;
        let re = compile_check_pattern(s)
            .map_err(|e| format!("invalid regular expression: {}", last_line(&e.to_string())))?;
        for group in ["id", "status"] {
            if !re.capture_names().any(|n| n == Some(group)) {
                return Err(format!("must have a named group `(?P<{group}>…)`"));
            }
        }
        Ok(CheckPattern(re))
    }
    fn show(&self) -> String {
        self.0.as_str().to_string()
    }
}

pub fn compile_check_pattern(pattern: &str) -> Result<regex::bytes::Regex, regex::Error> {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .build()
}

/// The meaningful (last non-empty) line of a multi-line error message.
pub fn last_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// Choice keys: one enum each, parsed by name.
macro_rules! choice {
    ($name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, schemars::JsonSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),* }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }
        impl Value for $name {
            const SHAPE: &'static str = concat!($($text, "|"),*);
            fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(format!("`{s}` is not one of {}", [$($text),*].join(", "))),
                }
            }
            fn show(&self) -> String { self.as_str().to_string() }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}
choice!(TransportName { Ssh = "ssh", Local = "local", Docker = "docker" });
choice!(EngineName { Docker = "docker", Podman = "podman", Kubectl = "kubectl", None = "none" });
choice!(SuiteFormat { Checks = "checks", Tap = "tap", Junit = "junit" });
choice!(JunitErrors { Failed = "failed", Hold = "hold" });

/// Keys without a default are `Option<T>`: absent is a value too.
impl<T: Value + OptionalValue> Value for Option<T> {
    const SHAPE: &'static str = T::SHAPE;
    fn from_text(s: &str, ctx: &Ctx) -> Result<Self, String> {
        T::from_text(s, ctx).map(Some)
    }
    fn from_yaml(y: &Yaml, ctx: &Ctx) -> Result<Self, String> {
        T::from_yaml(y, ctx).map(Some)
    }
    fn show(&self) -> String {
        self.as_ref()
            .map(T::show)
            .unwrap_or_else(|| "(unset)".into())
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

/// Marks the types that may be left unset.
pub trait OptionalValue {}
impl OptionalValue for Host {}
impl OptionalValue for User {}
impl OptionalValue for Port {}
impl OptionalValue for Name {}
impl OptionalValue for K8sName {}
impl OptionalValue for Word {}
impl OptionalValue for RemotePath {}
impl OptionalValue for LocalPath {}
impl OptionalValue for RepoList {}
impl OptionalValue for Branch {}
impl OptionalValue for Positive {}
impl OptionalValue for EngineName {}
impl OptionalValue for TransportName {}
impl OptionalValue for Command {}
impl OptionalValue for Program {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx<'static> {
        Ctx { base: None }
    }

    #[test]
    fn durations_read_as_seconds_or_human() {
        for (text, secs) in [
            ("900", 900.0),
            ("0.5", 0.5),
            ("15m", 900.0),
            ("1h 30m", 5400.0),
            ("250ms", 0.25),
        ] {
            assert_eq!(
                Positive::from_text(text, &ctx()).unwrap().0.as_secs_f64(),
                secs,
                "{text}"
            );
        }
        for bad in ["", "-1", "abc", "0", "nan", "inf", "8d"] {
            assert!(Positive::from_text(bad, &ctx()).is_err(), "{bad}");
        }
        assert_eq!(
            NonNegative::from_text("0", &ctx()).unwrap().0,
            Duration::ZERO
        );
        assert_eq!(Positive(Duration::from_secs(900)).show(), "15m");
        assert_eq!(Positive(Duration::from_millis(1500)).show(), "1.5s");
    }

    #[test]
    fn values_reaching_an_argv_refuse_option_lookalikes_and_controls() {
        assert!(Host::from_text("-oProxyCommand=x", &ctx()).is_err());
        assert!(Program::from_text("-c", &ctx()).is_err());
        assert!(Word::from_text("--upload-pack=x", &ctx()).is_err());
        assert!(Branch::from_text("-f", &ctx()).is_err());
        assert!(Name::from_text("a b", &ctx()).is_err());
        assert!(Host::from_text("a\nb", &ctx()).is_err());
        assert!(RepoList::from_text("", &ctx()).is_err());
        assert!(RepoList::from_text(" , ", &ctx()).is_err());
        assert!(ExecOptions::from_text("--user=app --workdir=/s", &ctx()).is_ok());
        assert!(ExecOptions::from_text("; rm -rf /", &ctx()).is_err());
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let base = Path::new("/etc/stagerun");
        let p = LocalPath::from_text("rules.yaml", &Ctx { base: Some(base) }).unwrap();
        assert_eq!(p.0, Path::new("/etc/stagerun/rules.yaml"));
        let p = LocalPath::from_text("/abs/rules.yaml", &Ctx { base: Some(base) }).unwrap();
        assert_eq!(p.0, Path::new("/abs/rules.yaml"));
    }
}
