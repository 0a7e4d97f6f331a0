//! `classify --json`: the classification, the verdict it would give, and
//! under --explain every rule tried and the near ones, as typed records.

use super::{Shown, TraceRow};
use crate::classify::{Class, Classification, Scope};
use crate::error::Result;
use crate::exit::Verdict;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct ClassifyJson<'a> {
    #[serde(flatten)]
    classification: &'a Classification,
    scope: Scope,
    schema: &'static str,
    verdict: Verdict,
    verdict_exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<Vec<Tried<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    near: Option<Vec<Near<'a>>>,
}

/// One rule tried, and the first condition it did not meet.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Tried<'a> {
    rule: &'a str,
    builtin: bool,
    class: Class,
    scope: Scope,
    mismatch: Option<&'a str>,
    checked: &'a str,
}

/// A rule whose patterns matched but not all its conditions, and what it
/// would have meant.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Near<'a> {
    rule: &'a str,
    class: Class,
    scope: Scope,
    met: Vec<&'a str>,
    unmet: Vec<&'a str>,
    verdict: Verdict,
    verdict_exit_code: u8,
}

#[cfg(test)]
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ClassifyJson<'static>)).unwrap_or_default()
}

fn tried(r: &TraceRow) -> Tried<'_> {
    Tried {
        rule: &r.id,
        builtin: r.builtin,
        class: r.class,
        scope: r.scope,
        mismatch: r.mismatch(),
        checked: &r.checked,
    }
}

fn near<'a>(s: &Shown, r: &'a TraceRow) -> Near<'a> {
    let then = s.had_it_matched(r);
    Near {
        rule: &r.id,
        class: r.class,
        scope: r.scope,
        met: r.texts(true),
        unmet: r.texts(false),
        verdict: then.verdict,
        verdict_exit_code: then.verdict.exit_code(),
    }
}

pub fn print_json(s: &Shown) -> Result<()> {
    let explain = s.args.explain;
    crate::report::json::print_object(&ClassifyJson {
        classification: s.c,
        scope: s.scope,
        schema: "stagerun.classify/2",
        verdict: s.result.verdict,
        verdict_exit_code: s.result.verdict.exit_code(),
        explain: explain.then(|| {
            s.passes
                .iter()
                .flat_map(|p| p.rows.iter())
                .map(tried)
                .collect()
        }),
        near: explain.then(|| s.near().map(|r| near(s, r)).collect()),
    })
}
