//! Values that are lists: `a,b` (or space-separated options) as text, or a
//! YAML sequence in a config file.

use super::{Ctx, EXEC_OPT_RE, Value, Yaml, plain};

/// A YAML sequence's items as text (a non-scalar item is empty, which
/// every item check refuses).
fn scalars(items: &[Yaml]) -> Vec<String> {
    items
        .iter()
        .map(|i| i.scalar().unwrap_or_default())
        .collect()
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
            Yaml::Seq(items) => check_ssh_options(scalars(items)),
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
            Yaml::Seq(items) => check_exec_options(scalars(items)),
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
