//! Validated value types: a value is parsed and checked once, where it is
//! loaded, whatever layer it comes from (flag, environment, file, default),
//! so every bad value is reported the same way with its key and source.

mod lists;
mod scalars;

pub use lists::*;
pub use scalars::*;

use regex::Regex;
use serde::Deserialize;
use std::path::Path;
use std::sync::LazyLock;

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
    /// The placeholder of its flag's value in help (default: the flag's name).
    const METAVAR: Option<&'static str> = None;
    /// The closed set of values it takes, if it has one (clap checks a
    /// flag's value against it and suggests the nearest).
    const CHOICES: &'static [&'static str] = &[];
    /// Whether no layer may set it (`Option<T>`: its line says what unset means).
    const OPTIONAL: bool = false;
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

/// The meaningful (last non-empty) line of a multi-line error message.
pub fn last_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// Keys without a default are `Option<T>`: absent is a value too.
impl<T: Value + OptionalValue> Value for Option<T> {
    const SHAPE: &'static str = T::SHAPE;
    const METAVAR: Option<&'static str> = T::METAVAR;
    const CHOICES: &'static [&'static str] = T::CHOICES;
    const OPTIONAL: bool = true;
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
    use std::time::Duration;

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
        assert!(Branch::from_text("refs/heads/feature/x", &ctx()).is_ok());
        assert!(Branch::from_text("refs/tags/v1", &ctx()).is_err());
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
