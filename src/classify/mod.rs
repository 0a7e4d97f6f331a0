//! Outcome classification: provenance first, rules second. The rules are
//! data (rules.yaml, embedded), ordered, first match wins; each says where
//! it applies (`on`):
//! - `channel`: the suite never started (no start marker): the transport's
//!   exit code and what the channel printed;
//! - `suite`: the suite ended (end marker, or a local run): its own status
//!   and output; channel rules never see the suite's lines;
//! - `lost`: the suite started and the channel died before it ended: always
//!   transient, never FAILED;
//! - `any`: all of them.
//!
//! A rules file can add rules (tried first), replace a built-in by reusing
//! its id, or disable one.

use crate::config::SuiteFormat;
use crate::error::{Error, Result};
use regex::bytes::RegexSet;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// src/classify/rules.yaml, converted to JSON by build.rs.
const BUILTIN_RULES_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/rules.json"));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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

/// Where the evidence comes from (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Channel,
    Suite,
    Lost,
    #[default]
    Any,
}

impl Scope {
    /// The family of pattern sets this scope's evidence is matched with.
    pub fn family(self) -> Family {
        match self {
            Scope::Suite => Family::Suite,
            _ => Family::Channel,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Channel => "channel",
            Scope::Suite => "suite",
            Scope::Lost => "lost",
            Scope::Any => "any",
        }
    }
}

/// Pattern sets come in two families, compiled apart: the suite's (a few
/// patterns, needed by every run, compiled first) and the channel's (most
/// patterns, needed only when the suite did not end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Channel = 0,
    Suite = 1,
}

pub const FAMILIES: [Family; 2] = [Family::Channel, Family::Suite];

/// A rule's patterns in one family's stderr and stdout sets.
#[derive(Debug, Clone, Copy, Default)]
struct Idx {
    stderr: Option<usize>,
    stdout: Option<usize>,
    /// The `output` pattern in the stderr and stdout sets.
    output: Option<(usize, usize)>,
}

#[derive(Debug, Clone, Default)]
struct Patterns {
    stderr: Vec<String>,
    stdout: Vec<String>,
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
    /// The remote deadline (the wrapper's own) stopped the suite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// A line of either stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The suite's own output shows it ran (check lines, TAP points, testcases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_check: Option<bool>,
    /// A line that looks like a failing check but does not parse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub near_miss: Option<bool>,
    /// The suite cannot be shown to have finished (TAP plan, JUnit report).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<bool>,
    /// TAP `Bail out!`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bailed: Option<bool>,
    /// JUnit `<error>` under `junit_errors: hold`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errored: Option<bool>,
    /// The wrapper could not create its lock where the suite runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_error: Option<bool>,
    /// More than one end marker, or two that disagree: the suite printed
    /// stagerun's own marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forged_marker: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Vec<SuiteFormatName>>,
}

/// Suite formats as rules name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SuiteFormatName {
    Checks,
    Tap,
    Junit,
}

impl From<SuiteFormat> for SuiteFormatName {
    fn from(f: SuiteFormat) -> Self {
        match f {
            SuiteFormat::Checks => SuiteFormatName::Checks,
            SuiteFormat::Tap => SuiteFormatName::Tap,
            SuiteFormat::Junit => SuiteFormatName::Junit,
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

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub class: Class,
    pub on: Scope,
    pub reason: String,
    pub fix: Option<String>,
    pub checked: Vec<String>,
    pub when: When,
    pub builtin: bool,
    idx: [Idx; 2],
}

/// What one attempt produced, reduced to what the rules look at.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub scope: Option<Scope>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub deadline: bool,
    pub stderr_hits: Vec<bool>,
    pub stdout_hits: Vec<bool>,
    pub evidence: bool,
    pub failing_check: bool,
    pub near_miss: bool,
    pub incomplete: bool,
    pub bailed: bool,
    pub errored: bool,
    pub state_error: bool,
    pub forged_marker: bool,
    pub format: Option<SuiteFormatName>,
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
    patterns: [Patterns; 2],
    pattern_use: [PatternUse; 2],
    /// Compiled once per run: every line of each stream is tested against
    /// all its family's patterns in one pass. Empty until compiled.
    compiled: [Option<(RegexSet, RegexSet)>; 2],
}

/// Rule patterns match bytes with ASCII classes: tool messages are ASCII,
/// suite output may not be UTF-8, and the ASCII automaton builds faster.
fn compile_set(patterns: &[String]) -> std::result::Result<RegexSet, String> {
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
    /// known valid: their sets compile in the background).
    fn parse(user_file: Option<&Path>) -> Result<RuleSet> {
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

    fn compile_family(&mut self, family: Family, user_file: Option<&Path>) -> Result<()> {
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

    pub fn applies(rule: &Rule, scope: Option<Scope>) -> bool {
        match (rule.on, scope) {
            (Scope::Any, _) | (_, None) => true,
            (on, Some(s)) => on == s,
        }
    }

    pub fn classify(&self, ev: &Evidence) -> Classification {
        for rule in &self.rules {
            if Self::applies(rule, ev.scope) && self.mismatch(rule, ev).is_none() {
                return Self::matched(rule);
            }
        }
        // Only reachable when a rules file disabled the catch-alls.
        Classification {
            class: Class::TransientInfra,
            rule: "no-rule-matched".into(),
            reason: "no rule matched; treated as transient, never FAILED".into(),
            fix: None,
        }
    }

    /// Started but never ended: transient whatever was printed; named by
    /// the channel's own words when it said any (the master's log, or what
    /// came after the suite), else `channel-lost`.
    pub fn classify_lost(&self, ev: &Evidence) -> Classification {
        if ev.timed_out
            && let Some(r) = self.get("own-timeout")
        {
            return Self::matched(r);
        }
        let mut channel = ev.clone();
        channel.scope = Some(Scope::Channel);
        for rule in &self.rules {
            if rule.on == Scope::Channel
                && rule.class == Class::TransientInfra
                && self.mismatch(rule, &channel).is_none()
            {
                return Self::matched(rule);
            }
        }
        match self.rules.iter().find(|r| r.on == Scope::Lost) {
            Some(r) => Self::matched(r),
            None => Classification {
                class: Class::TransientInfra,
                rule: "channel-lost".into(),
                reason: "the channel was lost while the suite ran".into(),
                fix: None,
            },
        }
    }

    pub fn matched(rule: &Rule) -> Classification {
        Classification {
            class: rule.class,
            rule: rule.id.clone(),
            reason: rule.reason.clone(),
            fix: rule.fix.clone(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Why `rule` does not match, or None when it does.
    pub fn mismatch(&self, rule: &Rule, ev: &Evidence) -> Option<String> {
        let w = &rule.when;
        let flag = |want: Option<bool>, have: bool, what: &str| match want {
            Some(w) if w != have => Some(format!("{what} is {have}")),
            _ => None,
        };
        if let Some(m) = flag(w.timed_out, ev.timed_out, "timed_out")
            .or_else(|| flag(w.deadline, ev.deadline, "remote deadline"))
            .or_else(|| flag(w.signaled, ev.signal.is_some(), "signaled"))
            .or_else(|| flag(w.state_error, ev.state_error, "state error"))
            .or_else(|| flag(w.forged_marker, ev.forged_marker, "forged marker"))
        {
            return Some(m);
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
        if let Some(formats) = &w.format
            && !ev.format.is_some_and(|f| formats.contains(&f))
        {
            return Some(format!("suite format is not in {formats:?}"));
        }
        if let Some(m) = flag(w.evidence, ev.evidence, "suite evidence")
            .or_else(|| flag(w.failing_check, ev.failing_check, "failing check"))
            .or_else(|| flag(w.near_miss, ev.near_miss, "near-miss fail line"))
            .or_else(|| flag(w.incomplete, ev.incomplete, "incomplete"))
            .or_else(|| flag(w.bailed, ev.bailed, "bail-out"))
            .or_else(|| flag(w.errored, ev.errored, "errored"))
        {
            return Some(m);
        }
        let hit = |hits: &[bool], i: usize| hits.get(i).copied().unwrap_or(false);
        let idx = rule.idx[ev.scope.unwrap_or(Scope::Channel).family() as usize];
        if let Some(i) = idx.stderr
            && !hit(&ev.stderr_hits, i)
        {
            return Some("no stderr line matches".into());
        }
        if let Some(i) = idx.stdout
            && !hit(&ev.stdout_hits, i)
        {
            return Some("no stdout line matches".into());
        }
        if let Some((e, o)) = idx.output
            && !hit(&ev.stderr_hits, e)
            && !hit(&ev.stdout_hits, o)
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
        let rules = serde_saphyr::from_str::<Vec<RuleSpec>>(text).map_err(|e| yaml_error(&e))?;
        return Ok(RulesFile {
            rules,
            disable: Vec::new(),
        });
    }
    serde_saphyr::from_str::<RulesFile>(text).map_err(|e| yaml_error(&e))
}

/// A pattern set compiled the first time a line must be matched with it:
/// most runs never need one (a passing suite with a quiet channel), and
/// compiling the built-in table costs more than the rest of a trivial run.
#[derive(Default)]
pub struct LazySet {
    patterns: OnceLock<Vec<String>>,
    set: OnceLock<RegexSet>,
}

impl LazySet {
    /// Compiled already.
    pub fn ready(&self) -> Option<&RegexSet> {
        self.set.get()
    }

    /// Compiles it now if nobody has (waiting for the rules to be parsed).
    pub fn get(&self) -> &RegexSet {
        self.set.get_or_init(|| {
            // Only the built-in table comes here uncompiled, and it compiles
            // in every test run; a failure would be "no rule matched".
            compile_set(self.patterns.wait()).unwrap_or_else(|_| RegexSet::empty())
        })
    }

    #[cfg(test)]
    pub fn publish(&self, patterns: Vec<String>) {
        let _ = self.patterns.set(patterns);
    }

    #[cfg(test)]
    pub fn compiled(set: RegexSet) -> Arc<LazySet> {
        let lazy = LazySet::default();
        let _ = lazy.patterns.set(Vec::new());
        let _ = lazy.set.set(set);
        Arc::new(lazy)
    }
}

/// One family's pattern sets, per stream.
#[derive(Clone, Default)]
pub struct Sets {
    pub stderr: Arc<LazySet>,
    pub stdout: Arc<LazySet>,
    /// Known as soon as the rules are parsed, long before the sets compile.
    pub pattern_use: Arc<OnceLock<PatternUse>>,
}

/// The rule set for a run. The built-in rules are known to be valid: they
/// are parsed on a background thread while the suite starts, and their
/// pattern sets compile only when a line has to be matched (the scanners
/// buffer lines until then, and drop them when the exit code shows no rule
/// with a pattern can apply). A user rules file is loaded and compiled up
/// front, so its errors stop the run before anything runs.
#[derive(Clone)]
pub struct RulesHandle {
    pub sets: [Sets; 2],
    rules: Arc<OnceLock<RuleSet>>,
}

impl RulesHandle {
    pub fn ready(mut rules: RuleSet) -> RulesHandle {
        let h = RulesHandle::empty();
        h.publish_use(&rules);
        for family in FAMILIES {
            let _ = rules.compile_family(family, None);
            h.publish_family(&rules, family);
        }
        let _ = h.rules.set(rules);
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
                let rules = RuleSet::parse(None).unwrap_or_else(|_| RuleSet {
                    rules: Vec::new(),
                    patterns: Default::default(),
                    pattern_use: [PatternUse::Always, PatternUse::Always],
                    compiled: [None, None],
                });
                publisher.publish_use(&rules);
                publisher.publish_patterns(&rules);
                let _ = publisher.rules.set(rules);
            });
        if spawned.is_err() {
            return RulesHandle::ready(RuleSet::builtin());
        }
        h
    }

    /// Built-ins in the background, or a user file up front.
    pub fn for_file(path: Option<&Path>) -> Result<RulesHandle> {
        Ok(match path {
            Some(p) => RulesHandle::ready(RuleSet::load(Some(p))?),
            None => RulesHandle::builtin_in_background(),
        })
    }

    fn empty() -> RulesHandle {
        RulesHandle {
            sets: Default::default(),
            rules: Arc::new(OnceLock::new()),
        }
    }

    fn publish_use(&self, rules: &RuleSet) {
        for family in FAMILIES {
            let _ = self.sets[family as usize]
                .pattern_use
                .set(rules.pattern_use[family as usize].clone());
        }
    }

    fn publish_patterns(&self, rules: &RuleSet) {
        for family in FAMILIES {
            let (p, sets) = (
                &rules.patterns[family as usize],
                &self.sets[family as usize],
            );
            let _ = sets.stderr.patterns.set(p.stderr.clone());
            let _ = sets.stdout.patterns.set(p.stdout.clone());
        }
    }

    fn publish_family(&self, rules: &RuleSet, family: Family) {
        let (e, o) = rules.compiled[family as usize]
            .clone()
            .unwrap_or_else(|| (RegexSet::empty(), RegexSet::empty()));
        let sets = &self.sets[family as usize];
        let _ = sets.stderr.patterns.set(Vec::new());
        let _ = sets.stdout.patterns.set(Vec::new());
        let _ = sets.stderr.set.set(e);
        let _ = sets.stdout.set.set(o);
    }

    /// Waits for the rules if they are still loading.
    pub fn get(&self) -> &RuleSet {
        self.rules.wait()
    }
}

#[cfg(test)]
mod tests;
