//! `stagerun classify`: replays a run offline with the same rules, patterns
//! and suite format as `run` (config file and environment included).

use crate::capture::{Scan, Scanner, Segment};
use crate::classify::{Classification, Evidence, RuleSet, RulesHandle, Scope};
use crate::cli::{ClassifyArgs, ScopeArg};
use crate::config::{self, Settings, SuiteFormat};
use crate::diag::{self, Stream};
use crate::error::{Error, Result};
use crate::suite::{self, SuiteParser, SuiteReport};
use std::io::Read;

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

/// One rule's line in `--explain`: id, built-in, class, why it does not
/// match (None: it does), the versions it was checked against.
type TraceRow = (String, bool, &'static str, Option<String>, String);

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
    let trace: Vec<TraceRow> = rules
        .rules
        .iter()
        .map(|r| {
            let applies = RuleSet::applies(r, Some(scope));
            let why = if applies {
                rules.mismatch(r, &replay.evidence(scope))
            } else {
                Some(format!("applies on {}", r.on.as_str()))
            };
            (
                r.id.clone(),
                r.builtin,
                r.class.as_str(),
                why,
                r.checked.join(", "),
            )
        })
        .collect();
    if args.json {
        print_json(args, scope, &c, &trace);
    } else {
        print_text(args, scope, &c, &trace);
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

fn print_json(args: &ClassifyArgs, scope: Scope, c: &Classification, trace: &[TraceRow]) {
    let mut v = serde_json::to_value(c).unwrap_or_default();
    v["scope"] = scope.as_str().into();
    v["schema"] = "stagerun.classify/2".into();
    if args.explain {
        v["explain"] = trace
            .iter()
            .map(|(id, builtin, class, why, checked)| {
                serde_json::json!({"rule": id, "builtin": builtin, "class": class, "mismatch": why, "checked": checked})
            })
            .collect();
    }
    diag::line(Stream::Out, &v.to_string());
}

fn print_text(args: &ClassifyArgs, scope: Scope, c: &Classification, trace: &[TraceRow]) {
    let mut text = format!(
        "class: {}\nrule: {}\nscope: {}\nreason: {}",
        c.class.as_str(),
        c.rule,
        scope.as_str(),
        c.reason
    );
    if let Some(fix) = &c.fix {
        text.push_str(&format!("\nwhat to do: {fix}"));
    }
    diag::line(Stream::Out, &text);
    if args.explain {
        diag::line(Stream::Out, "\nrules, in order (first match wins):");
        for (id, builtin, class, why, checked) in trace {
            let origin = if *builtin { "built-in" } else { "user" };
            match why {
                None => {
                    let versions = if checked.is_empty() {
                        String::new()
                    } else {
                        format!(" (checked against {checked})")
                    };
                    diag::line(
                        Stream::Out,
                        &format!("  MATCH  {id} ({origin}) → {class}{versions}"),
                    );
                    break;
                }
                Some(why) => diag::line(Stream::Out, &format!("  skip   {id} ({origin}): {why}")),
            }
        }
    }
}
