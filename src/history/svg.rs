//! `stagerun history --format svg`: a heat map, one row per check (in the
//! table's order, label in the left margin, figures in the right), one
//! column per run (oldest left). Green PASS, red FAIL, amber WAIVED/SKIP,
//! blank when the check did not report; a HOLD run is a grey column that
//! counts for nothing. Plain SVG 1.1 (no CSS, no scripts): browsers and
//! rsvg-convert show it alike; each cell's <title> names its run.

use super::score::{CheckStats, Label};
use super::{Mark, Run, Store, time_text};
use std::fmt::Write;

const CELL_W: usize = 14;
const CELL_H: usize = 18;
const GAP: usize = 2;
const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";
const PASS: &str = "#2da44e";
const FAIL: &str = "#cf222e";
const WAIVED: &str = "#e3b341";
const HOLD: &str = "#8c959f";
const EMPTY: &str = "#f6f8fa";
/// Column labels are shown for at most this many columns.
const MAX_LABELS: usize = 40;
const ID_CHARS: usize = 28;

pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in crate::report::escape::xml_text(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

fn label_color(l: Label) -> &'static str {
    match l {
        Label::Broken => FAIL,
        Label::Flaky => "#9a6700",
        Label::Stable => "#57606a",
    }
}

struct Layout {
    left: usize,
    top: usize,
    right: usize,
    bottom: usize,
}

impl Layout {
    fn x(&self, col: usize) -> usize {
        self.left + col * (CELL_W + GAP)
    }
    fn y(&self, row: usize) -> usize {
        self.top + row * (CELL_H + GAP)
    }
}

pub struct Chart<'a> {
    pub store: &'a Store,
    /// The columns, oldest first.
    pub runs: &'a [&'a Run],
    /// The rows, in the table's order.
    pub checks: &'a [CheckStats],
    pub title: String,
    /// Lines under the title.
    pub subtitle: Vec<String>,
}

impl Chart<'_> {
    pub fn render(&self) -> String {
        let names = &self.store.names;
        let id_w = self
            .checks
            .iter()
            .map(|c| short(&c.id, ID_CHARS).chars().count())
            .max()
            .unwrap_or(4);
        let item_w = self
            .runs
            .iter()
            .map(|r| names.name(r.work_item).chars().count())
            .max()
            .unwrap_or(4);
        let lay = Layout {
            left: 16 + id_w * 8 + 64,
            top: 48 + self.subtitle.len() * 14,
            right: 16
                + self
                    .checks
                    .iter()
                    .map(|c| figures(c).chars().count() * 7)
                    .max()
                    .unwrap_or(100),
            bottom: 24 + item_w * 7 + 48,
        };
        let cols = self.runs.len().max(1);
        let rows = self.checks.len().max(1);
        let text_w = |t: &str, px: usize| 16 + t.chars().count() * px + 16;
        let width = (lay.x(cols) + lay.right)
            .max(text_w(&self.title, 10))
            .max(
                self.subtitle
                    .iter()
                    .map(|l| text_w(l, 6))
                    .max()
                    .unwrap_or(0),
            )
            .max(legend_width() + 32);
        let height = lay.y(rows) + lay.bottom;
        let mut s = String::with_capacity(4096 + cols * rows * 160);
        let _ = write!(
            s,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"{FONT}\">\n<title>{}</title>\n<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n<text x=\"16\" y=\"26\" font-size=\"16\" font-weight=\"bold\" fill=\"#1f2328\">{}</text>\n\n",
            xml(&self.title),
            xml(&self.title),
        );
        for (i, line) in self.subtitle.iter().enumerate() {
            let _ = writeln!(
                s,
                "<text x=\"16\" y=\"{}\" font-size=\"11\" fill=\"#57606a\">{}</text>",
                44 + i * 14,
                xml(line)
            );
        }
        self.hold_columns(&mut s, &lay, rows);
        for (row, check) in self.checks.iter().enumerate() {
            self.row(&mut s, &lay, row, check);
        }
        if self.checks.is_empty() {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#57606a\">no check has a result in a run in which the suite answered</text>",
                lay.left,
                lay.y(0) + 13
            );
        }
        self.column_labels(&mut s, &lay, rows);
        legend(&mut s, 16, height - 20);
        s.push_str("</svg>\n");
        s
    }

    fn hold_columns(&self, s: &mut String, lay: &Layout, rows: usize) {
        for (col, run) in self.runs.iter().enumerate().filter(|(_, r)| !r.answered) {
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{}\" width=\"{CELL_W}\" height=\"{}\" fill=\"{HOLD}\"><title>{} {} HOLD ({}): counts for nothing</title></rect>",
                lay.x(col),
                lay.y(0),
                lay.y(rows) - lay.y(0) - GAP,
                xml(self.store.names.name(run.work_item)),
                time_text(run.started_ms),
                xml(self.store.names.name(run.outcome))
            );
        }
    }

    fn row(&self, s: &mut String, lay: &Layout, row: usize, c: &CheckStats) {
        let names = &self.store.names;
        let y = lay.y(row);
        let text_y = y + CELL_H - 5;
        let _ = writeln!(
            s,
            "<text x=\"16\" y=\"{text_y}\" font-size=\"12\" fill=\"#1f2328\">{}</text>\n<text x=\"{}\" y=\"{text_y}\" font-size=\"11\" font-weight=\"bold\" fill=\"{}\" text-anchor=\"end\">{}</text>",
            xml(&short(&c.id, ID_CHARS)),
            lay.left - 8,
            label_color(c.label),
            c.label.as_str()
        );
        let Some(id) = names.find(&c.id) else { return };
        for (col, run) in self.runs.iter().enumerate().filter(|(_, r)| r.answered) {
            let mark = run.checks.iter().find(|(i, _)| *i == id).map(|(_, m)| *m);
            let (fill, word) = match mark {
                Some(Mark::Pass) => (PASS, "PASS"),
                Some(Mark::Fail) => (FAIL, "FAIL"),
                Some(Mark::Waived) => (WAIVED, "WAIVED"),
                Some(Mark::Skip) => (WAIVED, "SKIP"),
                None => (EMPTY, "not reported"),
            };
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{y}\" width=\"{CELL_W}\" height=\"{CELL_H}\" fill=\"{fill}\"><title>{} {} {}: {word}</title></rect>",
                lay.x(col),
                xml(&c.id),
                xml(names.name(run.work_item)),
                time_text(run.started_ms)
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{text_y}\" font-size=\"11\" fill=\"#57606a\">{}</text>",
            lay.x(self.runs.len().max(1)) + 6,
            figures(c)
        );
    }

    fn column_labels(&self, s: &mut String, lay: &Layout, rows: usize) {
        let every = self.runs.len().div_ceil(MAX_LABELS).max(1);
        let y = lay.y(rows) + 6;
        for (col, run) in self.runs.iter().enumerate() {
            if col % every != 0 && col + 1 != self.runs.len() {
                continue;
            }
            let x = lay.x(col) + CELL_W / 2 + 4;
            let _ = writeln!(
                s,
                "<text x=\"{x}\" y=\"{y}\" font-size=\"10\" fill=\"#57606a\" text-anchor=\"end\" transform=\"rotate(-90 {x} {y})\">{}</text>",
                xml(self.store.names.name(run.work_item))
            );
        }
    }
}

/// The right margin: what the label stands on.
fn figures(c: &CheckStats) -> String {
    let n = |n: u32, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    if c.runs == 0 {
        return format!("no PASS/FAIL; {} waived, {} skipped", c.waived, c.skip);
    }
    format!(
        "failed {} of {}, {}",
        c.fail,
        n(c.runs, "run"),
        n(c.flips, "flip")
    )
}

const LEGEND: [(&str, &str); 5] = [
    (PASS, "PASS"),
    (FAIL, "FAIL"),
    (WAIVED, "WAIVED / SKIP"),
    (EMPTY, "not reported"),
    (HOLD, "HOLD run (counts for nothing)"),
];

fn legend_step(word: &str) -> usize {
    16 + word.chars().count() * 7 + 18
}

fn legend_width() -> usize {
    LEGEND.iter().map(|(_, w)| legend_step(w)).sum()
}

fn legend(s: &mut String, x: usize, y: usize) {
    let mut at = x;
    for (fill, word) in LEGEND {
        let _ = writeln!(
            s,
            "<rect x=\"{at}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{fill}\" stroke=\"#d0d7de\"/><text x=\"{}\" y=\"{y}\" font-size=\"11\" fill=\"#1f2328\">{word}</text>",
            y - 10,
            at + 16
        );
        at += legend_step(word);
    }
}
