//! `stagerun classify`: replays a run offline with the same rules, patterns
//! and suite format as `run` (config file and environment included).

use crate::capture::{Scan, Scanner, Segment};
use crate::classify::{Class, Classification, Condition, Evidence, RuleSet, RulesHandle, Scope};
use crate::cli::{ClassifyArgs, ScopeArg};
use crate::config::{self, Settings, SuiteFormat};
use crate::diag::{self, Stream};
use crate::error::{Error, Result};
use crate::suite::{self, SuiteParser, SuiteReport};
use std::io::Read;

mod json;
#[cfg(test)]
pub use json::schema;
mod text;

use json::print_json;
use text::print_text;

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    let mut f = std::fs::File::open(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read {}: {}",
            path.display(),
            crate::error::describe_io(&e)
        ))
    })?;
    let mut buf = Vec::new();
    f.by_ref()
        .take(512 << 20)
        .read_to_end(&mut buf)
        .map_err(|e| {
            Error::Usage(format!(
                "cannot read {}: {}",
                path.display(),
                crate::error::describe_io(&e)
            ))
        })?;
    Ok(buf)
}

/// What the replayed output shows, as the rules see it in each scope.
struct Replay<'a> {
    args: &'a ClassifyArgs,
    signal: Option<i32>,
    format: SuiteFormat,
    out: Scan,
    err: Scan,
    out_channel: Scan,
    err_channel: Scan,
    report: SuiteReport,
}

impl Replay<'_> {
    fn evidence(&self, scope: Scope) -> Evidence {
        let hits = |suite: &Scan, channel: &Scan| match scope {
            Scope::Suite => suite.hits[Segment::Suite as usize].clone(),
            _ => channel.hits[Segment::Before as usize].clone(),
        };
        let report = &self.report;
        Evidence {
            scope: Some(scope),
            exit_code: self.args.exit_code,
            signal: self.signal,
            timed_out: self.args.timed_out,
            stderr_hits: hits(&self.err, &self.err_channel),
            stdout_hits: hits(&self.out, &self.out_channel),
            evidence: report.evidence(),
            failing_check: report.failing,
            near_miss: report.near_miss.is_some(),
            incomplete: report.incomplete.is_some(),
            bailed: report.bailed.is_some(),
            errored: report.errored,
            format: Some(self.format.into()),
            ..Evidence::default()
        }
    }
}

/// One rule as `--explain` shows it: the scope whose evidence it was tried
/// on, and each of its conditions, met or not (none unmet: it matched).
struct TraceRow {
    id: String,
    builtin: bool,
    class: Class,
    on: Scope,
    scope: Scope,
    conditions: Vec<Condition>,
    checked: String,
}

impl TraceRow {
    fn new(r: &crate::classify::Rule, scope: Scope, conditions: Vec<Condition>) -> TraceRow {
        TraceRow {
            id: r.id.clone(),
            builtin: r.builtin,
            class: r.class,
            on: r.on,
            scope,
            conditions,
            checked: r.checked.join(", "),
        }
    }
    fn mismatch(&self) -> Option<&str> {
        self.conditions
            .iter()
            .find(|c| !c.met)
            .map(|c| c.text.as_str())
    }
    fn texts(&self, met: bool) -> Vec<&str> {
        self.conditions
            .iter()
            .filter(|c| c.met == met)
            .map(|c| c.text.as_str())
            .collect()
    }
    /// Its output patterns that some line matches.
    fn matching_lines(&self) -> Vec<&str> {
        self.conditions
            .iter()
            .filter(|c| c.met && c.pattern)
            .map(|c| c.text.as_str())
            .collect()
    }
    /// An output line matches it, yet it did not match: the rule a person
    /// reading that stderr expects.
    fn near(&self) -> bool {
        self.mismatch().is_some() && self.conditions.iter().any(|c| c.pattern && c.met)
    }
}

/// The rules tried on one scope's evidence, in order, up to the match.
struct Pass {
    scope: Scope,
    rows: Vec<TraceRow>,
}

/// The rules as `classify` tried them on `scope` (RuleSet::classify and
/// classify_lost), up to the one that matched.
fn pass(rules: &RuleSet, replay: &Replay, scope: Scope) -> Pass {
    let ev = replay.evidence(scope);
    let mut rows = Vec::new();
    if scope == Scope::Lost {
        // Started, never ended: our own timeout, else a transient channel
        // signature, else the lost rule itself.
        if ev.timed_out
            && let Some(r) = rules.get("own-timeout")
        {
            rows.push(TraceRow::new(r, scope, rules.conditions(r, &ev)));
            return Pass { scope, rows };
        }
        let channel = replay.evidence(Scope::Channel);
        for r in rules
            .rules
            .iter()
            .filter(|r| r.on == Scope::Channel && r.class == Class::TransientInfra)
        {
            let conditions = rules.conditions(r, &channel);
            let matched = conditions.iter().all(|c| c.met);
            rows.push(TraceRow::new(r, Scope::Channel, conditions));
            if matched {
                return Pass { scope, rows };
            }
        }
        if let Some(r) = rules.rules.iter().find(|r| r.on == Scope::Lost) {
            rows.push(TraceRow::new(r, scope, Vec::new()));
        }
        return Pass { scope, rows };
    }
    for r in rules
        .rules
        .iter()
        .filter(|r| RuleSet::applies(r, Some(scope)))
    {
        let conditions = rules.conditions(r, &ev);
        let matched = conditions.iter().all(|c| c.met);
        rows.push(TraceRow::new(r, scope, conditions));
        if matched {
            break;
        }
    }
    Pass { scope, rows }
}

/// The verdict `run` would give after this classification (the same
/// decision function), and how it comes about.
struct Consequence {
    verdict: crate::exit::Verdict,
    how: String,
}

fn consequence(class: Class, rule: &str, settings: &Settings, ev: &Evidence) -> Consequence {
    use crate::run::verdict::{Cleanup, Facts, decide};
    let facts = Facts {
        class,
        rule: rule.into(),
        reason: String::new(),
        fix: None,
        suite_status: ev.exit_code,
        failing: ev.failing_check,
        busy: None,
        cleanup: Cleanup::NotNeeded,
    };
    let retries = settings.infra_retries.0;
    let verdict = decide(&[facts], None, retries, None).verdict;
    let how = match class {
        Class::SuiteRan => "the suite ran and gave its own answer".to_string(),
        Class::PermanentEnv => "at once, never retried (a permanent environment fault)".to_string(),
        Class::TransientInfra if retries == 0 => format!(
            "at once, no retries (infra_retries 0, {})",
            settings.source_of("infra_retries")
        ),
        Class::TransientInfra => format!(
            "after up to {retries} retries (infra_retries, {}), unless a retry gives another answer",
            settings.source_of("infra_retries")
        ),
    };
    Consequence { verdict, how }
}

fn verdict_line(c: &Consequence) -> String {
    format!("{} (exit {}): {}", c.verdict, c.verdict.exit_code(), c.how)
}

pub fn classify(args: &ClassifyArgs) -> Result<u8> {
    let signal = signal(args)?;
    let settings = config::resolve(&args.request())?;
    let format = settings.suite_format;
    let handle = RulesHandle::ready(RuleSet::load(
        settings.rules.as_ref().map(|p| p.0.as_path()),
    )?);
    let rules = handle.get();
    let replay = replay(args, &settings, &handle, format, signal)?;
    let judge = |scope| match scope {
        Scope::Lost => (scope, rules.classify_lost(&replay.evidence(scope))),
        _ => (scope, rules.classify(&replay.evidence(scope))),
    };
    let (scope, c): (Scope, Classification) = match args.scope {
        ScopeArg::Channel => judge(Scope::Channel),
        ScopeArg::Suite => judge(Scope::Suite),
        ScopeArg::Lost => judge(Scope::Lost),
        ScopeArg::Auto => {
            let (s, c) = judge(Scope::Channel);
            if c.rule == "unknown-exit" || c.rule == "no-rule-matched" {
                judge(Scope::Suite)
            } else {
                (s, c)
            }
        }
    };
    // The passes as the decision went: under auto, the channel's rules
    // first (as if the suite never started), then the suite's.
    let scopes = match args.scope {
        ScopeArg::Auto if scope == Scope::Suite => vec![Scope::Channel, Scope::Suite],
        _ => vec![scope],
    };
    let passes: Vec<Pass> = scopes
        .into_iter()
        .map(|s| pass(rules, &replay, s))
        .collect();
    let result = consequence(c.class, &c.rule, &settings, &replay.evidence(scope));
    let shown = Shown {
        args,
        scope,
        c: &c,
        result: &result,
        passes: &passes,
        settings: &settings,
        replay: &replay,
    };
    if args.json {
        print_json(&shown)?;
    } else {
        print_text(&shown);
    }
    Ok(crate::exit::SUCCESS)
}

fn signal(args: &ClassifyArgs) -> Result<Option<i32>> {
    let signal = match &args.signal {
        Some(s) => Some(
            crate::signals::parse(s)
                .ok_or_else(|| Error::Usage(format!("--signal: `{s}` is not a signal")))?,
        ),
        None => None,
    };
    if args.exit_code.is_none() && signal.is_none() && !args.timed_out {
        return Err(Error::Usage(
            "classify needs --exit-code, --signal or --timed-out".into(),
        ));
    }
    Ok(signal)
}

/// Scans the given files as `run` would have, and reads the report.
fn replay<'a>(
    args: &'a ClassifyArgs,
    settings: &Settings,
    handle: &RulesHandle,
    format: SuiteFormat,
    signal: Option<i32>,
) -> Result<Replay<'a>> {
    let parser: Box<dyn SuiteParser> = match format {
        SuiteFormat::Checks => Box::new(suite::checks::ChecksParser::new(
            settings.check_line_pattern.0.clone(),
        )),
        SuiteFormat::Tap => Box::new(suite::tap::TapParser::default()),
        SuiteFormat::Junit => Box::<suite::NoLines>::default(),
    };
    let stdout_sets = || [handle.sets[0].stdout.clone(), handle.sets[1].stdout.clone()];
    let stderr_sets = || [handle.sets[0].stderr.clone(), handle.sets[1].stderr.clone()];
    // Each file is read as the suite's lines (suite rules) and as the
    // channel's (channel rules); the scope decides which hits judge.
    let mut out = Scanner::new(None, stdout_sets(), 0).with_parser(parser);
    let mut err = Scanner::new(None, stderr_sets(), 0);
    let mut out_channel = Scanner::new(None, stdout_sets(), 0).channel_only();
    let mut err_channel = Scanner::new(None, stderr_sets(), 0).channel_only();
    if format == SuiteFormat::Checks {
        err = err.with_stderr_checks(settings.check_line_pattern.0.clone());
    }
    if let Some(p) = &args.stdout_file {
        let bytes = read(p)?;
        out.feed(&bytes);
        out_channel.feed(&bytes);
    }
    if let Some(p) = &args.stderr_file {
        let bytes = read(p)?;
        err.feed(&bytes);
        err_channel.feed(&bytes);
    }
    let (out, err) = (out.finish(), err.finish());
    let (out_channel, err_channel) = (out_channel.finish(), err_channel.finish());
    let mut report: SuiteReport = out.suite.clone().unwrap_or_default();
    if format == SuiteFormat::Junit {
        report = match &args.report {
            Some(p) => suite::junit::parse_report(
                &read(p)?,
                settings.junit_errors == config::JunitErrors::Failed,
                32 << 20,
            ),
            None => SuiteReport {
                incomplete: Some("no report given (--report)".into()),
                ..SuiteReport::default()
            },
        };
    }
    if report.near_miss.is_none() {
        report.near_miss = err.near_miss.clone();
    }
    Ok(Replay {
        args,
        signal,
        format,
        out,
        err,
        out_channel,
        err_channel,
        report,
    })
}

/// Everything the printers show.
struct Shown<'a> {
    args: &'a ClassifyArgs,
    scope: Scope,
    c: &'a Classification,
    result: &'a Consequence,
    passes: &'a [Pass],
    settings: &'a Settings,
    replay: &'a Replay<'a>,
}

impl Shown<'_> {
    fn near(&self) -> impl Iterator<Item = &TraceRow> {
        self.passes
            .iter()
            .flat_map(|p| p.rows.iter())
            .filter(|r| r.near())
    }
    /// What a near rule would have meant, had it matched.
    fn had_it_matched(&self, row: &TraceRow) -> Consequence {
        consequence(
            row.class,
            &row.id,
            self.settings,
            &self.replay.evidence(row.scope),
        )
    }
}
