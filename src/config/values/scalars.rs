//! Values of one piece: switches, durations, counts, ports, names, paths,
//! commands, patterns and choices.

use super::{BRANCH_RE, Ctx, HOST_RE, K8S_RE, MODE_RE, NAME_RE, USER_RE, Value};
use super::{last_line, matching, not_option, plain};
use regex::Regex;
use std::path::PathBuf;
use std::time::Duration;

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

/// `900`, `0.5`, `15m`, `1h 30m`, `250ms` (also a flag's value parser,
/// such as gate's `--wait`, so every duration reads alike).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
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
            const METAVAR: Option<&'static str> = Some("DURATION");
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
        count_type!($name, 0, $max);
    };
    ($name:ident, $min:expr, $max:expr) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub u32);
        impl Value for $name {
            const SHAPE: &'static str = "a whole number";
            const METAVAR: Option<&'static str> = Some("N");
            fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("`{s}` is not a whole number ≥ {}", $min));
                }
                // Digits only: what does not parse is too large.
                match s.parse::<u32>() {
                    Ok(n) if n.checked_sub($min).is_none() => {
                        Err(format!("`{s}` is less than the minimum of {}", $min))
                    }
                    Ok(n) if n <= $max => Ok($name(n)),
                    _ => Err(format!("`{s}` is more than the maximum of {}", $max)),
                }
            }
            fn show(&self) -> String {
                self.0.to_string()
            }
        }
    };
}
count_type!(Retries, 20);
count_type!(TailLines, 10_000);
count_type!(Reattaches, 100);

/// A size in bytes: a whole number, or with a k, M or G suffix (1024s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);
impl Value for Size {
    const SHAPE: &'static str = "a size (bytes, or like 512k, 256M, 1G)";
    fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
        let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            Some((i, _)) => s.split_at(i),
            None => (s, ""),
        };
        let shift = match unit {
            "" => 0,
            "k" | "K" => 10,
            "M" => 20,
            "G" => 30,
            _ => {
                return Err(format!(
                    "`{s}` is not a size (bytes, or like 512k, 256M, 1G)"
                ));
            }
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{s}` is not a size (bytes, or like 512k, 256M, 1G)"))?;
        match n.checked_mul(1 << shift) {
            Some(0) => Err(format!("`{s}` must be more than zero")),
            Some(b) if b <= 1 << 40 => Ok(Size(b)),
            _ => Err(format!("`{s}` is more than 1T")),
        }
    }
    fn show(&self) -> String {
        let b = self.0;
        for (shift, unit) in [(30, "G"), (20, "M"), (10, "k")] {
            if b >= 1 << shift && b.is_multiple_of(1 << shift) {
                return format!("{}{unit}", b >> shift);
            }
        }
        b.to_string()
    }
}

// History: a window of runs (0: every run), and counts that need at least one run.
count_type!(HistoryWindow, 1_000_000);
count_type!(HistoryRuns, 1, 10_000);

/// A share between 0 and 1 (a flip rate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);
impl Value for Rate {
    const SHAPE: &'static str = "a number from 0 to 1";
    fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
        match s.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(Rate(r)),
            Ok(_) => Err(format!("`{s}` is not between 0 and 1")),
            Err(_) => Err(format!("`{s}` is not a number (0 to 1, like 0.2)")),
        }
    }
    fn show(&self) -> String {
        self.0.to_string()
    }
}

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
    ($name:ident, $shape:literal $(, metavar $mv:literal)?, |$v:ident| $check:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub String);
        impl Value for $name {
            const SHAPE: &'static str = $shape;
            $(const METAVAR: Option<&'static str> = Some($mv);)?
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
text_type!(RemotePath, "a path where the suite runs", metavar "PATH", |v| not_option(
    v
));
text_type!(Word, "a name", |v| not_option(v));
text_type!(Branch, "a branch name", |v| {
    if v.contains("..") || v.ends_with(".lock") || v.ends_with('/') {
        Err(format!("`{v}` is not a valid branch name"))
    } else if v.starts_with("refs/") && !v.starts_with("refs/heads/") {
        // A full branch ref is accepted (and pushed as that branch).
        Err(format!(
            "`{v}` is a ref but not a branch: give the branch name, or refs/heads/NAME"
        ))
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
    const METAVAR: Option<&'static str> = Some("FILE");
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
            const CHOICES: &'static [&'static str] = &[$($text),*];
            fn from_text(s: &str, _: &Ctx) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(format!(
                        "`{s}` is not one of {}{}",
                        Self::CHOICES.join(", "),
                        crate::suggest::did_you_mean(s, Self::CHOICES.iter().copied())
                    )),
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
