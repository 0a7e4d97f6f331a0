//! JUnit XML for CI test reporters. Test identity is stable across
//! outcomes: one testcase per check, named by its id, plus one
//! `infrastructure` testcase that carries HOLD (error) and earlier attempts
//! (`rerunFailure`/`flakyFailure`, as nextest shows retries). Written with a
//! real XML writer to what the Jenkins xunit plugin's schema accepts
//! (quick-junit always writes `testsuites@skipped`, which that schema
//! rejects).

use super::escape::xml_text;
use super::{ResultWord, RunReport, Sink};
use crate::suite::{Check, Status};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use std::path::PathBuf;

pub struct Junit(pub PathBuf);

type W = Writer<Vec<u8>>;
type R = std::io::Result<()>;

fn start(w: &mut W, name: &str, attrs: &[(&str, &str)]) -> R {
    let mut e = BytesStart::new(name);
    for (k, v) in attrs {
        e.push_attribute((*k, xml_text(v).as_str()));
    }
    w.write_event(Event::Start(e)).map(|_| ())
}

fn empty(w: &mut W, name: &str, attrs: &[(&str, &str)]) -> R {
    let mut e = BytesStart::new(name);
    for (k, v) in attrs {
        e.push_attribute((*k, xml_text(v).as_str()));
    }
    w.write_event(Event::Empty(e)).map(|_| ())
}

fn end(w: &mut W, name: &str) -> R {
    w.write_event(Event::End(BytesEnd::new(name))).map(|_| ())
}

fn text(w: &mut W, t: &str) -> R {
    w.write_event(Event::Text(BytesText::new(&xml_text(t))))
        .map(|_| ())
}

fn element(w: &mut W, name: &str, attrs: &[(&str, &str)], body: &str) -> R {
    start(w, name, attrs)?;
    text(w, body)?;
    end(w, name)
}

/// Seconds with at most 3 decimals, as the schema's SUREFIRE_TIME wants.
fn time(s: f64) -> String {
    format!("{:.3}", s.max(0.0))
}

/// The counts of `<testsuites>` and `<testsuite>`: the checks plus the
/// `infrastructure` testcase.
struct Totals {
    tests: String,
    failures: String,
    errors: String,
    skipped: String,
}

fn totals(r: &RunReport) -> Totals {
    let checks = &r.check_list;
    let failures = checks.iter().filter(|c| c.status == Status::Fail).count()
        + usize::from(
            r.verdict == ResultWord::Failed && !checks.iter().any(|c| c.status == Status::Fail),
        );
    let errors = checks.iter().filter(|c| c.status == Status::Error).count()
        + usize::from(matches!(r.verdict, ResultWord::Hold | ResultWord::Error));
    let skipped = checks
        .iter()
        .filter(|c| matches!(c.status, Status::Waived | Status::Skip | Status::Todo))
        .count()
        + usize::from(r.verdict == ResultWord::Skipped);
    Totals {
        tests: (checks.len() + 1).to_string(),
        failures: failures.to_string(),
        errors: errors.to_string(),
        skipped: skipped.to_string(),
    }
}

pub fn render(r: &RunReport) -> std::io::Result<String> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let work_item = r
        .run
        .as_ref()
        .map(|d| d.work_item.clone())
        .unwrap_or_default();
    let class = format!(
        "staging.{}",
        if work_item.is_empty() {
            "stagerun"
        } else {
            &work_item
        }
    );
    let Totals {
        tests,
        failures,
        errors,
        skipped,
    } = totals(r);
    let duration = time(r.run.as_ref().map_or(0.0, |d| d.duration_s));
    start(
        &mut w,
        "testsuites",
        &[
            ("name", "stagerun"),
            ("tests", &tests),
            ("failures", &failures),
            ("errors", &errors),
            ("time", &duration),
        ],
    )?;
    // No run (skipped, usage, config): no work item to name.
    let suite_name = format!("deploy-staging {work_item}").trim_end().to_string();
    let timestamp = r
        .run
        .as_ref()
        .map(|d| d.started_at.clone())
        .unwrap_or_default();
    let mut suite_attrs = vec![
        ("name", suite_name.as_str()),
        ("tests", tests.as_str()),
        ("failures", failures.as_str()),
        ("errors", errors.as_str()),
        ("skipped", skipped.as_str()),
        ("time", duration.as_str()),
    ];
    if !timestamp.is_empty() {
        suite_attrs.push(("timestamp", timestamp.as_str()));
    }
    start(&mut w, "testsuite", &suite_attrs)?;
    properties(&mut w, r)?;
    for c in &r.check_list {
        check_case(&mut w, c, &class)?;
    }
    infrastructure(&mut w, r, &class)?;
    if !r.stdout_tail.is_empty() {
        element(&mut w, "system-out", &[], &r.stdout_tail)?;
    }
    if !r.stderr_tail.is_empty() {
        element(&mut w, "system-err", &[], &r.stderr_tail)?;
    }
    end(&mut w, "testsuite")?;
    end(&mut w, "testsuites")?;
    let mut out = String::from_utf8_lossy(&w.into_inner()).into_owned();
    out.push('\n');
    Ok(out)
}

fn properties(w: &mut W, r: &RunReport) -> R {
    start(w, "properties", &[])?;
    let exit = r.exit_code.to_string();
    let mut props = vec![
        ("verdict", r.verdict.as_str().to_string()),
        ("exit_code", exit),
    ];
    if let Some(d) = &r.run {
        props.push(("outcome", d.outcome.as_str().to_string()));
        props.push(("rule", d.rule.clone()));
        props.push(("repo", d.repo.clone()));
        props.push(("remote_cleanup", d.remote_cleanup.to_string()));
    }
    props.push(("stagerun.version", env!("CARGO_PKG_VERSION").to_string()));
    for (k, v) in &props {
        empty(w, "property", &[("name", k), ("value", v)])?;
    }
    end(w, "properties")
}

/// One testcase per check, named by its id whatever its outcome.
fn check_case(w: &mut W, c: &Check, class: &str) -> R {
    let attrs = [("name", c.id.as_str()), ("classname", class)];
    match c.status {
        Status::Pass => empty(w, "testcase", &attrs)?,
        Status::Fail | Status::Error => {
            start(w, "testcase", &attrs)?;
            let kind = if c.status == Status::Fail {
                "failure"
            } else {
                "error"
            };
            let (message, body) = match &c.history {
                Some(h) => (
                    format!("{} [history: {}]", c.detail, h.text),
                    format!("{}\n\nhistory: {}", c.detail, h.text),
                ),
                None => (c.detail.clone(), c.detail.clone()),
            };
            element(
                w,
                kind,
                &[("type", c.status.as_str()), ("message", &message)],
                &body,
            )?;
            end(w, "testcase")?;
        }
        Status::Waived | Status::Skip | Status::Todo => {
            start(w, "testcase", &attrs)?;
            empty(
                w,
                "skipped",
                &[("message", &format!("{}: {}", c.status.as_str(), c.detail))],
            )?;
            end(w, "testcase")?;
        }
    }
    Ok(())
}

/// The one stable testcase for everything that is not a check.
fn infrastructure(w: &mut W, r: &RunReport, class: &str) -> R {
    let duration = time(r.run.as_ref().map_or(0.0, |d| d.duration_s));
    start(
        w,
        "testcase",
        &[
            ("name", "infrastructure"),
            ("classname", class),
            ("time", &duration),
        ],
    )?;
    let rule = r
        .run
        .as_ref()
        .map(|d| d.rule.clone())
        .or_else(|| r.error.as_ref().map(|e| e.kind.to_string()))
        .unwrap_or_default();
    match r.verdict {
        ResultWord::Hold | ResultWord::Error => {
            let body = match &r.run {
                Some(d) => format!(
                    "{}: {} ({} of {} attempts); log: {}",
                    r.verdict.as_str(),
                    d.outcome.as_str(),
                    d.attempts.len(),
                    d.attempts_allowed,
                    d.log_path
                ),
                None => format!("{}: {}", r.verdict.as_str(), r.reason),
            };
            element(
                w,
                "error",
                &[("type", &rule), ("message", &r.reason)],
                &body,
            )?;
        }
        ResultWord::Failed if !r.check_list.iter().any(|c| c.status == Status::Fail) => {
            element(
                w,
                "failure",
                &[("type", &rule), ("message", &r.reason)],
                "the suite failed without a failing check line",
            )?;
        }
        ResultWord::Skipped => empty(w, "skipped", &[("message", &r.reason)])?,
        _ => {}
    }
    if let Some(d) = &r.run {
        let earlier = &d.attempts[..d.attempts.len().saturating_sub(1)];
        let flaky = r.verdict == ResultWord::Success;
        for a in earlier {
            let tag = if flaky {
                "flakyFailure"
            } else {
                "rerunFailure"
            };
            let message = format!("attempt {}: {} ({})", a.attempt, a.rule, a.class);
            let failing: Vec<String> = a
                .failed_checks
                .iter()
                .map(|c| format!("{} FAIL {}", c.id, c.detail))
                .collect();
            element(
                w,
                tag,
                &[("type", a.class.as_str()), ("message", &message)],
                &failing.join("\n"),
            )?;
        }
    }
    end(w, "testcase")
}

impl Sink for Junit {
    fn name(&self) -> &'static str {
        "junit"
    }
    fn emit(&self, report: &RunReport) -> Result<(), String> {
        let xml = render(report).map_err(|e| e.to_string())?;
        // Named like every other file stagerun cannot write.
        super::staging_log::write_atomic(&self.0, xml.as_bytes())
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", self.0.display()))
    }
}
