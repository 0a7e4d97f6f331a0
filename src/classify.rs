//! Outcome classification: exit code + stderr + suite evidence → class.
//! The rules are data (src/rules.yaml, embedded); a user rules file can add
//! rules (tried first), replace a built-in by reusing its id, or disable one.

use crate::exit::Exit;
use anyhow::Result;
use regex::bytes::{Regex, RegexSet};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, OnceLock};

const BUILTIN_RULES: &str = include_str!("rules.yaml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    SuiteRan,
    PermanentEnv,
    TransientInfra,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::SuiteRan => "suite-ran",
            Class::PermanentEnv => "permanent-env",
            Class::TransientInfra => "transient-infra",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_in: Option<Vec<i32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_not_in: Option<Vec<i32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signaled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// A line of either stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_check: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    class: String,
    reason: String,
    #[serde(default)]
    fix: Option<String>,
    #[serde(default)]
    when: When,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rules: Vec<RuleSpec>,
    #[serde(default)]
    disable: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub class: Class,
    pub reason: String,
    /// What a person should do about it.
    pub fix: Option<String>,
    pub when: When,
    pub builtin: bool,
    stderr_idx: Option<usize>,
    stdout_idx: Option<usize>,
    /// Indexes of the `output` pattern in the stderr and stdout sets.
    output_idx: Option<(usize, usize)>,
}

/// What one attempt produced, reduced to what the rules look at.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stderr_hits: Vec<bool>,
    pub stdout_hits: Vec<bool>,
    pub check_lines: u64,
    pub failing_check: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    pub class: Class,
    pub rule: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Compiled once per run: every line of each stream is tested against
    /// all its patterns in one pass.
    stderr_set: RegexSet,
    stdout_set: RegexSet,
}

/// Rule patterns match bytes, with ASCII classes (`\S`, `\d`, `.` on any
/// byte): tool messages are ASCII, suite output may not be UTF-8, and the
/// ASCII automaton builds in half the time.
fn compile_set(patterns: &[String]) -> std::result::Result<RegexSet, String> {
    regex::bytes::RegexSetBuilder::new(patterns)
        .unicode(false)
        .build()
        .map_err(|e| crate::config::first_line(&e.to_string()))
}

/// Checks a pattern's syntax without building an automaton; the set build
/// catches anything else (such as size limits).
fn check_pattern(p: &str) -> std::result::Result<(), String> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(p)
        .map(|_| ())
        .map_err(|e| crate::config::first_line(&e.to_string()))
}

fn parse_class(s: &str) -> Option<Class> {
    match s {
        "suite-ran" => Some(Class::SuiteRan),
        "permanent-env" => Some(Class::PermanentEnv),
        "transient-infra" => Some(Class::TransientInfra),
        _ => None,
    }
}

impl RuleSet {
    pub fn builtin() -> RuleSet {
        // The embedded table is part of the binary and covered by tests.
        RuleSet::load(None).expect("built-in rules are valid")
    }

    /// Built-ins plus, when given, a user rules file.
    pub fn load(user_file: Option<&Path>) -> Result<RuleSet> {
        let builtin: Vec<RuleSpec> = serde_saphyr::from_str(BUILTIN_RULES).map_err(|e| {
            anyhow::anyhow!("built-in rules: {}", crate::config::one_line_yaml_error(&e))
        })?;
        let mut specs: Vec<(RuleSpec, bool)> = builtin.into_iter().map(|r| (r, true)).collect();
        if let Some(path) = user_file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| Exit::config(format!("cannot read rules file {shown}: {e}")))?;
            let user = parse_user_rules(&text)
                .map_err(|m| Exit::config(format!("rules file {shown}:{m}")))?;
            for id in &user.disable {
                let before = specs.len();
                specs.retain(|(r, _)| &r.id != id);
                if specs.len() == before {
                    return Err(Exit::config(format!(
                        "rules file {shown}: `disable` names unknown rule `{id}`"
                    )));
                }
            }
            let mut prepend = Vec::new();
            for rule in user.rules {
                if let Some(slot) = specs.iter_mut().find(|(r, _)| r.id == rule.id) {
                    *slot = (rule, false);
                } else {
                    prepend.push((rule, false));
                }
            }
            prepend.extend(specs);
            specs = prepend;
        }
        RuleSet::compile(specs, user_file)
    }

    fn compile(specs: Vec<(RuleSpec, bool)>, user_file: Option<&Path>) -> Result<RuleSet> {
        let origin = |builtin: bool| {
            if builtin {
                "built-in rules".to_string()
            } else {
                format!(
                    "rules file {}",
                    user_file
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )
            }
        };
        let mut rules = Vec::new();
        let mut stderr_patterns = Vec::new();
        let mut stdout_patterns = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (spec, builtin) in specs {
            let fail =
                |m: String| Exit::config(format!("{}: rule `{}`: {m}", origin(builtin), spec.id));
            if spec.id.trim().is_empty() {
                return Err(Exit::config(format!(
                    "{}: a rule has an empty id",
                    origin(builtin)
                )));
            }
            if !seen.insert(spec.id.clone()) {
                return Err(fail("duplicate rule id".into()));
            }
            let class = parse_class(&spec.class).ok_or_else(|| {
                fail(format!(
                    "unknown class `{}` (expected suite-ran, permanent-env or transient-infra)",
                    spec.class
                ))
            })?;
            let mut stderr_idx = None;
            if let Some(p) = &spec.when.stderr {
                check_pattern(p).map_err(|e| fail(format!("invalid stderr regex: {e}")))?;
                stderr_idx = Some(stderr_patterns.len());
                stderr_patterns.push(p.clone());
            }
            let mut stdout_idx = None;
            if let Some(p) = &spec.when.stdout {
                check_pattern(p).map_err(|e| fail(format!("invalid stdout regex: {e}")))?;
                stdout_idx = Some(stdout_patterns.len());
                stdout_patterns.push(p.clone());
            }
            let mut output_idx = None;
            if let Some(p) = &spec.when.output {
                check_pattern(p).map_err(|e| fail(format!("invalid output regex: {e}")))?;
                output_idx = Some((stderr_patterns.len(), stdout_patterns.len()));
                stderr_patterns.push(p.clone());
                stdout_patterns.push(p.clone());
            }
            rules.push(Rule {
                id: spec.id,
                class,
                reason: spec.reason,
                fix: spec.fix,
                when: spec.when,
                builtin,
                stderr_idx,
                stdout_idx,
                output_idx,
            });
        }
        let set_error = |stream: &str, e: String| {
            Exit::config(format!(
                "{}: {stream} patterns cannot be compiled: {e}",
                origin(user_file.is_none())
            ))
        };
        Ok(RuleSet {
            rules,
            stderr_set: compile_set(&stderr_patterns).map_err(|e| set_error("stderr", e))?,
            stdout_set: compile_set(&stdout_patterns).map_err(|e| set_error("stdout", e))?,
        })
    }

    pub fn classify(&self, ev: &Evidence) -> Classification {
        for rule in &self.rules {
            if self.mismatch(rule, ev).is_none() {
                return Classification {
                    class: rule.class,
                    rule: rule.id.clone(),
                    reason: rule.reason.clone(),
                    fix: rule.fix.clone(),
                };
            }
        }
        // Only reachable when a rules file disabled the catch-all.
        Classification {
            class: Class::TransientInfra,
            rule: "no-rule-matched".into(),
            reason: "no rule matched; treated as transient, never FAILED".into(),
            fix: None,
        }
    }

    /// Why `rule` does not match, or None when it does.
    pub fn mismatch(&self, rule: &Rule, ev: &Evidence) -> Option<String> {
        let w = &rule.when;
        if let Some(t) = w.timed_out
            && t != ev.timed_out
        {
            return Some(format!("timed_out is {}", ev.timed_out));
        }
        if let Some(s) = w.signaled
            && s != ev.signal.is_some()
        {
            return Some(format!("signaled is {}", ev.signal.is_some()));
        }
        if let Some(codes) = &w.exit_in {
            match ev.exit_code {
                Some(c) if codes.contains(&c) => {}
                other => return Some(format!("exit code {} not in {codes:?}", show_code(other))),
            }
        }
        if let Some(codes) = &w.exit_not_in {
            match ev.exit_code {
                Some(c) if !codes.contains(&c) => {}
                other => {
                    return Some(format!(
                        "exit code {} is excluded by {codes:?}",
                        show_code(other)
                    ));
                }
            }
        }
        if let Some(e) = w.evidence
            && e != (ev.check_lines > 0)
        {
            return Some(format!("suite evidence is {}", ev.check_lines > 0));
        }
        if let Some(f) = w.failing_check
            && f != ev.failing_check
        {
            return Some(format!("failing check is {}", ev.failing_check));
        }
        if let Some(i) = rule.stderr_idx
            && !ev.stderr_hits.get(i).copied().unwrap_or(false)
        {
            return Some("no stderr line matches".into());
        }
        if let Some(i) = rule.stdout_idx
            && !ev.stdout_hits.get(i).copied().unwrap_or(false)
        {
            return Some("no stdout line matches".into());
        }
        if let Some((e, o)) = rule.output_idx
            && !ev.stderr_hits.get(e).copied().unwrap_or(false)
            && !ev.stdout_hits.get(o).copied().unwrap_or(false)
        {
            return Some("no output line matches".into());
        }
        None
    }
}

fn show_code(c: Option<i32>) -> String {
    c.map(|c| c.to_string()).unwrap_or_else(|| "none".into())
}

fn parse_user_rules(text: &str) -> std::result::Result<RulesFile, String> {
    if text.trim().is_empty() {
        return Ok(RulesFile::default());
    }
    // Either a bare list of rules or a mapping with `rules:` and `disable:`.
    let is_list = text
        .lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with('-'));
    if is_list {
        let rules = serde_saphyr::from_str::<Vec<RuleSpec>>(text)
            .map_err(|e| crate::config::one_line_yaml_error(&e))?;
        return Ok(RulesFile {
            rules,
            disable: Vec::new(),
        });
    }
    serde_saphyr::from_str::<RulesFile>(text).map_err(|e| crate::config::one_line_yaml_error(&e))
}

#[cfg(test)]
mod tests;

/// The rule set for a run. The built-in rules are known to be valid, so they
/// load and compile on a background thread while the suite starts; the
/// scanners buffer the first lines until the sets are ready. A user rules
/// file is loaded up front, so its errors stop the run before anything runs.
#[derive(Clone)]
pub struct RulesHandle {
    stderr: Arc<OnceLock<RegexSet>>,
    stdout: Arc<OnceLock<RegexSet>>,
    rules: Arc<OnceLock<RuleSet>>,
}

impl RulesHandle {
    pub fn ready(rules: RuleSet) -> RulesHandle {
        let h = RulesHandle::empty();
        h.publish(rules);
        h
    }

    pub fn builtin_in_background() -> RulesHandle {
        let h = RulesHandle::empty();
        let publisher = h.clone();
        let spawned = std::thread::Builder::new()
            .name("stagerun-rules".into())
            .spawn(move || {
                // Never leave waiters hanging: an impossible failure degrades
                // to "no rule matched", which is transient, never FAILED.
                let rules = RuleSet::load(None).or_else(|_| RuleSet::compile(Vec::new(), None));
                if let Ok(rules) = rules {
                    publisher.publish(rules);
                }
            });
        if spawned.is_err() {
            h.publish(RuleSet::builtin());
        }
        h
    }

    fn empty() -> RulesHandle {
        RulesHandle {
            stderr: Arc::new(OnceLock::new()),
            stdout: Arc::new(OnceLock::new()),
            rules: Arc::new(OnceLock::new()),
        }
    }

    fn publish(&self, rules: RuleSet) {
        let _ = self.stderr.set(rules.stderr_set.clone());
        let _ = self.stdout.set(rules.stdout_set.clone());
        let _ = self.rules.set(rules);
    }

    /// Waits for the rules if they are still loading.
    pub fn get(&self) -> &RuleSet {
        self.rules.wait()
    }
}

/// Scanners for one attempt: stdout is scanned for check lines and stdout
/// rules, stderr for stderr rules.
pub fn scanners(
    rules: &RulesHandle,
    check_pattern: &Regex,
    tail_lines: usize,
) -> (crate::capture::LineScanner, crate::capture::LineScanner) {
    use crate::capture::LineScanner;
    (
        LineScanner::deferred(
            rules.stdout.clone(),
            Some(check_pattern.clone()),
            tail_lines,
        ),
        LineScanner::deferred(rules.stderr.clone(), None, tail_lines),
    )
}

pub fn evidence(
    exit_code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    stdout: &crate::capture::LineScanner,
    stderr: &crate::capture::LineScanner,
) -> Evidence {
    Evidence {
        exit_code,
        signal,
        timed_out,
        stderr_hits: stderr.hits.clone(),
        stdout_hits: stdout.hits.clone(),
        check_lines: stdout.checks.lines_seen,
        failing_check: stdout.checks.fail_seen,
    }
}
