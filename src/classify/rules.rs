//! Rule files: the built-in table and a user's file parsed, merged and
//! checked, and their patterns gathered into per-family sets.

use super::{Class, FAMILIES, Family, Rule, RuleSet, Scope, When};
use crate::error::{Error, Result};
use regex::bytes::RegexSet;
use serde::Deserialize;
use std::path::Path;

/// src/classify/rules.yaml, converted to JSON by build.rs.
const BUILTIN_RULES_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/rules.json"));

/// A rule's patterns in one family's stderr and stdout sets.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Idx {
    pub(super) stderr: Option<usize>,
    pub(super) stdout: Option<usize>,
    /// The `output` pattern in the stderr and stdout sets.
    pub(super) output: Option<(usize, usize)>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Patterns {
    pub(super) stderr: Vec<String>,
    pub(super) stdout: Vec<String>,
}

/// For which exit codes some rule with a pattern in a family can match:
/// when none can, that family's lines need not be matched at all, and a
/// run does not wait for its patterns to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternUse {
    Always,
    OnExit(Vec<i32>),
}

impl PatternUse {
    pub fn needed(&self, exit: Option<i32>) -> bool {
        match self {
            PatternUse::Always => true,
            PatternUse::OnExit(codes) => exit.is_some_and(|c| codes.contains(&c)),
        }
    }

    fn add(&mut self, when: &When) {
        match (&mut *self, &when.exit_in) {
            (PatternUse::OnExit(codes), Some(more)) => codes.extend(more),
            _ => *self = PatternUse::Always,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    class: Class,
    #[serde(default)]
    on: Scope,
    reason: String,
    #[serde(default)]
    fix: Option<String>,
    /// Tool versions a built-in rule was checked against (docs only).
    #[serde(default)]
    checked: Option<Vec<String>>,
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

/// Rule patterns match bytes with ASCII classes: tool messages are ASCII,
/// suite output may not be UTF-8, and the ASCII automaton builds faster.
pub(super) fn compile_set(patterns: &[String]) -> std::result::Result<RegexSet, String> {
    regex::bytes::RegexSetBuilder::new(patterns)
        .unicode(false)
        .build()
        .map_err(|e| crate::config::last_line(&e.to_string()))
}

/// Checks a pattern's syntax without building an automaton.
fn check_pattern(p: &str) -> std::result::Result<(), String> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(p)
        .map(|_| ())
        .map_err(|e| crate::config::last_line(&e.to_string()))
}

fn yaml_error(e: &serde_saphyr::Error) -> String {
    crate::config::one_line_yaml_error(e)
}

impl RuleSet {
    #[cfg(test)]
    pub fn builtin() -> RuleSet {
        // The embedded table is part of the binary and covered by tests.
        RuleSet::load(None).expect("built-in rules are valid")
    }

    /// Built-ins plus, when given, a user rules file; every pattern compiled,
    /// so a bad one is reported now.
    pub fn load(user_file: Option<&Path>) -> Result<RuleSet> {
        let mut set = RuleSet::parse(user_file)?;
        for family in FAMILIES {
            set.compile_family(family, user_file)?;
        }
        Ok(set)
    }

    /// The rules without their compiled pattern sets (the built-ins are
    /// known valid: their sets compile on first use).
    pub(super) fn parse(user_file: Option<&Path>) -> Result<RuleSet> {
        let builtin: Vec<RuleSpec> = serde_json::from_str(BUILTIN_RULES_JSON)
            .map_err(|e| Error::Internal(format!("built-in rules: {e}")))?;
        let mut specs: Vec<(RuleSpec, bool)> = builtin.into_iter().map(|r| (r, true)).collect();
        if let Some(path) = user_file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Config(format!(
                    "cannot read rules file {shown}: {}",
                    crate::error::describe_io(&e)
                ))
            })?;
            let user = parse_user_rules(&text)
                .map_err(|m| Error::Config(format!("rules file {shown}:{m}")))?;
            for id in &user.disable {
                let before = specs.len();
                specs.retain(|(r, _)| &r.id != id);
                if specs.len() == before {
                    return Err(Error::Config(format!(
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
        RuleSet::from_specs(specs, user_file)
    }

    fn origin(user_file: Option<&Path>, builtin: bool) -> String {
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
    }

    pub(super) fn compile_family(
        &mut self,
        family: Family,
        user_file: Option<&Path>,
    ) -> Result<()> {
        if self.compiled[family as usize].is_some() {
            return Ok(());
        }
        let p = &self.patterns[family as usize];
        let set_error = |stream: &str, e: String| {
            Error::Config(format!(
                "{}: {stream} patterns cannot be compiled: {e}",
                Self::origin(user_file, user_file.is_none())
            ))
        };
        let e = compile_set(&p.stderr).map_err(|e| set_error("stderr", e))?;
        let o = compile_set(&p.stdout).map_err(|e| set_error("stdout", e))?;
        self.compiled[family as usize] = Some((e, o));
        Ok(())
    }

    fn from_specs(specs: Vec<(RuleSpec, bool)>, user_file: Option<&Path>) -> Result<RuleSet> {
        let origin = |builtin: bool| Self::origin(user_file, builtin);
        let mut rules = Vec::new();
        let mut patterns: [Patterns; 2] = Default::default();
        let mut pattern_use = [
            PatternUse::OnExit(Vec::new()),
            PatternUse::OnExit(Vec::new()),
        ];
        let mut seen = std::collections::HashSet::new();
        for (spec, builtin) in specs {
            let fail =
                |m: String| Error::Config(format!("{}: rule `{}`: {m}", origin(builtin), spec.id));
            if spec.id.trim().is_empty() {
                return Err(Error::Config(format!(
                    "{}: a rule has an empty id",
                    origin(builtin)
                )));
            }
            if !seen.insert(spec.id.clone()) {
                return Err(fail("duplicate rule id".into()));
            }
            for (p, what) in [
                (&spec.when.stderr, "stderr"),
                (&spec.when.stdout, "stdout"),
                (&spec.when.output, "output"),
            ] {
                // Built-in patterns compile in every test run; checking them
                // again at each start is the cost of a trivial run.
                if let (Some(p), false) = (p, builtin) {
                    check_pattern(p).map_err(|e| fail(format!("invalid {what} regex: {e}")))?;
                }
            }
            let mut idx = [Idx::default(); 2];
            let families: &[Family] = match spec.on {
                Scope::Suite => &[Family::Suite],
                Scope::Channel | Scope::Lost => &[Family::Channel],
                Scope::Any => &FAMILIES,
            };
            let when = &spec.when;
            for family in families {
                if when.stderr.is_some() || when.stdout.is_some() || when.output.is_some() {
                    pattern_use[*family as usize].add(when);
                }
                let (i, pats) = (&mut idx[*family as usize], &mut patterns[*family as usize]);
                if let Some(p) = &spec.when.stderr {
                    i.stderr = Some(pats.stderr.len());
                    pats.stderr.push(p.clone());
                }
                if let Some(p) = &spec.when.stdout {
                    i.stdout = Some(pats.stdout.len());
                    pats.stdout.push(p.clone());
                }
                if let Some(p) = &spec.when.output {
                    i.output = Some((pats.stderr.len(), pats.stdout.len()));
                    pats.stderr.push(p.clone());
                    pats.stdout.push(p.clone());
                }
            }
            rules.push(Rule {
                id: spec.id,
                class: spec.class,
                on: spec.on,
                reason: spec.reason,
                fix: spec.fix,
                checked: spec.checked.unwrap_or_default(),
                when: spec.when,
                builtin,
                idx,
            });
        }
        Ok(RuleSet {
            rules,
            patterns,
            pattern_use,
            compiled: [None, None],
        })
    }
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
        let rules = serde_saphyr::from_str::<Vec<RuleSpec>>(text).map_err(|e| yaml_error(&e))?;
        return Ok(RulesFile {
            rules,
            disable: Vec::new(),
        });
    }
    serde_saphyr::from_str::<RulesFile>(text).map_err(|e| yaml_error(&e))
}
