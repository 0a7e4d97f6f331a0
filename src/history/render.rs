//! `stagerun history` for people: a terminal table and markdown (a CI step
//! summary). Both are rendered from the same `HistoryReport` as the JSON.

use super::report::HistoryReport;
use super::score::{CheckStats, Label};
use crate::report::escape;

fn last_fail(c: &CheckStats) -> String {
    c.last_fail
        .as_ref()
        .map(|r| format!("{} {}", r.work_item, r.started_at))
        .unwrap_or_else(|| "—".into())
}

fn headline(r: &HistoryReport) -> String {
    let span = match (&r.first_run, &r.last_run) {
        (Some(a), Some(b)) => format!(", {a} → {b}"),
        _ => String::new(),
    };
    let n = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    format!(
        "{} of {}{span}: {} answered, {} HOLD (which count for nothing)",
        n(r.runs.total, "run"),
        n(r.work_items, "work item"),
        r.runs.answered,
        r.runs.hold
    )
}

fn params(r: &HistoryReport) -> String {
    super::score::Params {
        window: r.window,
        broken_after: r.broken_after,
        flaky_min_runs: r.flaky_min_runs,
        flaky_flip_rate: r.flaky_flip_rate,
    }
    .describe()
}

fn style(label: Label) -> anstyle::Style {
    let color = match label {
        Label::Broken => anstyle::AnsiColor::Red,
        Label::Flaky => anstyle::AnsiColor::Yellow,
        Label::Stable => anstyle::AnsiColor::Green,
    };
    anstyle::Style::new().fg_color(Some(color.into()))
}

pub fn table(r: &HistoryReport) -> String {
    let mut out = format!(
        "stagerun history: {}\n{}\n{}\n\n",
        r.repository,
        headline(r),
        params(r)
    );
    if r.checks.is_empty() {
        out.push_str("No check has a result in a run in which the suite answered.\n");
        return out;
    }
    let head = [
        "CHECK",
        "LABEL",
        "RUNS",
        "PASS",
        "FAIL",
        "WAIVED",
        "SKIP",
        "FLIPS",
        "FLIP RATE",
        "LAST FAIL",
    ];
    let rows: Vec<[String; 10]> = r
        .checks
        .iter()
        .map(|c| {
            [
                escape::control(&c.id).replace('\n', " "),
                c.label.as_str().to_string(),
                c.runs.to_string(),
                c.pass.to_string(),
                c.fail.to_string(),
                c.waived.to_string(),
                c.skip.to_string(),
                c.flips.to_string(),
                format!("{:.2}", c.flip_rate),
                last_fail(c),
            ]
        })
        .collect();
    let mut width = head.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String], labels: Option<Label>| -> String {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
            let pad = w.saturating_sub(cell.chars().count());
            let shown = match (i, labels) {
                (1, Some(label)) => crate::diag::paint(cell, style(label)),
                _ => cell.clone(),
            };
            // Names left, numbers right.
            if (2..=8).contains(&i) {
                l.push_str(&" ".repeat(pad));
                l.push_str(&shown);
            } else {
                l.push_str(&shown);
                if i + 1 < cells.len() {
                    l.push_str(&" ".repeat(pad));
                }
            }
            if i + 1 < cells.len() {
                l.push_str("  ");
            }
        }
        l.push('\n');
        l
    };
    out.push_str(&line(&head.map(String::from), None));
    for (row, c) in rows.iter().zip(&r.checks) {
        out.push_str(&line(row, Some(c.label)));
    }
    out
}

pub fn markdown(r: &HistoryReport) -> String {
    let mut out = format!(
        "### Staging history\n\n{}.\n\n{}.\n\n",
        escape::cell(&headline(r)),
        escape::cell(&params(r))
    );
    if r.checks.is_empty() {
        out.push_str("_No check has a result in a run in which the suite answered._\n");
        return out;
    }
    out.push_str(
        "| Check | Label | Runs | Pass | Fail | Waived | Skip | Flips | Flip rate | Last fail |\n",
    );
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|---|\n");
    for c in &r.checks {
        let label = match c.label {
            Label::Stable => "stable".to_string(),
            other => format!("**{}**", other.as_str()),
        };
        out.push_str(&format!(
            "| {} | {label} | {} | {} | {} | {} | {} | {} | {:.2} | {} |\n",
            escape::cell(&c.id),
            c.runs,
            c.pass,
            c.fail,
            c.waived,
            c.skip,
            c.flips,
            c.flip_rate,
            escape::cell(&last_fail(c))
        ));
    }
    out
}
