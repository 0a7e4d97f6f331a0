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

mod handle;
mod rules;

pub use handle::{LazySet, RulesHandle};
pub use rules::PatternUse;

use crate::config::SuiteFormat;
pub use crate::model::{Class, Scope};
use regex::bytes::RegexSet;
use rules::{Idx, Patterns};
use serde::{Deserialize, Serialize};

impl Scope {
    /// The family of pattern sets this scope's evidence is matched with.
    pub fn family(self) -> Family {
        match self {
            Scope::Suite => Family::Suite,
            _ => Family::Channel,
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

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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

impl RuleSet {
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
        self.conditions(rule, ev)
            .into_iter()
            .find(|c| !c.met)
            .map(|c| c.text)
    }

    /// Each condition of `rule` in the order it is checked, met or not,
    /// in words (`classify --explain` says why a near rule did not match).
    pub fn conditions(&self, rule: &Rule, ev: &Evidence) -> Vec<Condition> {
        let w = &rule.when;
        let mut out = Vec::new();
        let mut flag = |want, have, what| flag_condition(&mut out, want, have, what);
        flag(w.timed_out, ev.timed_out, "timed_out");
        flag(w.deadline, ev.deadline, "remote deadline");
        flag(w.signaled, ev.signal.is_some(), "signaled");
        flag(w.state_error, ev.state_error, "state error");
        flag(w.forged_marker, ev.forged_marker, "forged marker");
        value_conditions(w, ev, &mut out);
        let mut flag = |want, have, what| flag_condition(&mut out, want, have, what);
        flag(w.evidence, ev.evidence, "suite evidence");
        flag(w.failing_check, ev.failing_check, "failing check");
        flag(w.near_miss, ev.near_miss, "near-miss fail line");
        flag(w.incomplete, ev.incomplete, "incomplete");
        flag(w.bailed, ev.bailed, "bail-out");
        flag(w.errored, ev.errored, "errored");
        pattern_conditions(rule, ev, &mut out);
        out
    }
}

/// The exit-code and suite-format conditions of a rule.
fn value_conditions(w: &When, ev: &Evidence, out: &mut Vec<Condition>) {
    if let Some(codes) = &w.exit_in {
        let met = ev.exit_code.is_some_and(|c| codes.contains(&c));
        out.push(Condition {
            met,
            pattern: false,
            text: if met {
                format!("the exit code is {}", show_code(ev.exit_code))
            } else {
                format!(
                    "the exit code is {}, not {}",
                    show_code(ev.exit_code),
                    one_of(codes)
                )
            },
        });
    }
    if let Some(codes) = &w.exit_not_in {
        let met = ev.exit_code.is_some_and(|c| !codes.contains(&c));
        out.push(Condition {
            met,
            pattern: false,
            text: if met {
                format!(
                    "the exit code {} is not {}",
                    show_code(ev.exit_code),
                    one_of(codes)
                )
            } else {
                format!(
                    "the exit code is {}, which this rule excludes",
                    show_code(ev.exit_code)
                )
            },
        });
    }
    if let Some(formats) = &w.format {
        let met = ev.format.is_some_and(|f| formats.contains(&f));
        out.push(Condition {
            met,
            pattern: false,
            text: if met {
                "the suite format is one it names".into()
            } else {
                format!("the suite format is not in {formats:?}")
            },
        });
    }
}

/// Whether each of the rule's patterns matched a line of its stream.
fn pattern_conditions(rule: &Rule, ev: &Evidence, out: &mut Vec<Condition>) {
    let hit = |hits: &[bool], i: usize| hits.get(i).copied().unwrap_or(false);
    let idx = rule.idx[ev.scope.unwrap_or(Scope::Channel).family() as usize];
    let mut pattern = |met: bool, stream: &str| {
        out.push(Condition {
            met,
            pattern: true,
            text: if met {
                format!("a {stream} line matches")
            } else {
                format!("no {stream} line matches")
            },
        });
    };
    if let Some(i) = idx.stderr {
        pattern(hit(&ev.stderr_hits, i), "stderr");
    }
    if let Some(i) = idx.stdout {
        pattern(hit(&ev.stdout_hits, i), "stdout");
    }
    if let Some((e, o)) = idx.output {
        pattern(hit(&ev.stderr_hits, e) || hit(&ev.stdout_hits, o), "output");
    }
}

/// One condition of a rule, as `classify --explain` shows it.
#[derive(Debug, Clone)]
pub struct Condition {
    pub met: bool,
    /// A stderr/stdout/output pattern (what makes a rule "near" when met).
    pub pattern: bool,
    pub text: String,
}

fn one_of(codes: &[i32]) -> String {
    let list: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
    match list.as_slice() {
        [one] => one.clone(),
        _ => format!("one of {}", list.join(", ")),
    }
}

fn show_code(c: Option<i32>) -> String {
    c.map(|c| c.to_string()).unwrap_or_else(|| "none".into())
}

/// A yes/no condition of a rule, when the rule sets it, in words.
fn flag_condition(out: &mut Vec<Condition>, want: Option<bool>, have: bool, what: &str) {
    if let Some(want) = want {
        out.push(Condition {
            met: want == have,
            pattern: false,
            text: if want == have {
                format!("{what} is {have}")
            } else {
                format!("{what} is {have}, not {want}")
            },
        });
    }
}

#[cfg(test)]
mod tests;
