//! The lines of a document that count: test points, the plan, and what a
//! finished subtest adds to the point that closes it. Fail closed: exactly
//! one plan (`1..N`, first or last), exactly N points, numbers inside the
//! plan and each used once; otherwise the document's problem says why.

use super::{Doc, MAX_DEPTH, Outcome, Problem};
use crate::suite::tap::line::{Directive, Point};
use crate::suite::{Status, truncate_chars};

/// Ids come from descriptions: keep them short enough to read in a table.
const MAX_ID: usize = 200;
/// Test numbers remembered to catch one used twice; past this many the
/// check stops, so a flood of points cannot grow memory without bound. A
/// subtest remembers fewer: up to 32 of them can be open at once.
const MAX_NUMBERS_TRACKED: usize = 100_000;
const MAX_NUMBERS_TRACKED_IN_SUBTEST: usize = 10_000;

pub(in crate::suite::tap) struct Plan {
    pub(in crate::suite::tap) count: u64,
    /// Points seen before the plan: 0 for a leading plan.
    after_points: u64,
    /// The reason of a `1..0 # reason` plan.
    pub(in crate::suite::tap) reason: String,
}

/// A point read but not yet in the table: a YAML block, a buffered
/// subtest or the subtest it closes may still change what it says.
pub(super) struct Pending {
    id: String,
    status: Status,
    detail: String,
    /// `not ok` with no TODO or SKIP.
    fails: bool,
    /// The point as printed, for saying what the parent said.
    said: &'static str,
    /// Its description: a buffered subtest's name.
    pub(super) name: String,
    /// The YAML `message:`, which replaces a failure's detail.
    pub(super) message: String,
    /// Its YAML block parsed to something: a `{` line may now open a
    /// buffered subtest.
    pub(super) diag_truthy: bool,
    pub(super) buffered: bool,
    /// The subtest this point closes.
    child: Option<Outcome>,
}

impl Doc {
    pub(super) fn point(&mut self, point: Point) {
        // A streamed subtest ends at the first point of its parent, which
        // is the point that summarises it.
        let streamed = match &self.child {
            Some(child) if !child.buffered => self.end_child(),
            _ => None,
        };
        self.flush();
        if self.bailed.is_some() {
            return;
        }
        self.points += 1;
        let number = point.number.unwrap_or(self.points);
        self.check_number(number);
        let (status, detail) = status_of(&point);
        if status != Status::Skip {
            self.results += 1;
        }
        self.current = Some(Pending {
            id: self.unique_id(&point.description, number),
            status,
            detail,
            fails: point.fails(),
            said: said(&point),
            name: point.description,
            message: String::new(),
            diag_truthy: false,
            buffered: point.buffered,
            child: streamed,
        });
    }

    /// Puts the pending point into the table, after ending a subtest left
    /// open (a buffered one is its point's; any other has none).
    pub(super) fn flush(&mut self) {
        if let Some(outcome) = self.end_child() {
            match self.current.as_mut() {
                Some(current) if outcome.buffered => current.child = Some(outcome),
                _ => self.orphan(outcome),
            }
        }
        self.yaml = None;
        if let Some(p) = self.current.take() {
            self.record(p);
        }
    }

    fn record(&mut self, p: Pending) {
        let mut detail = if p.status == Status::Fail && !p.message.is_empty() {
            p.message
        } else {
            p.detail
        };
        let mut failures = Vec::new();
        if let Some(child) = p.child {
            if child.failing() && !p.fails {
                detail = disagreement(p.said, &child);
                failures = child.failures;
            }
            if let Some(mut problem) = child.problem {
                problem.path.insert(0, p.id.clone());
                self.note(problem);
            }
        }
        self.add(p.id.clone(), p.status, detail);
        for f in failures {
            self.add(format!("{} › {}", p.id, f.id), Status::Fail, f.detail);
        }
    }

    /// A subtest no point closed (the stream ended, or bailed out, inside
    /// it). Unterminated, it is not TAP (TAP 14), but what it showed
    /// failing still fails the run, and so does a problem in it.
    fn orphan(&mut self, outcome: Outcome) {
        let name = if outcome.name.is_empty() {
            "subtest"
        } else {
            outcome.name.as_str()
        };
        for f in &outcome.failures {
            self.add(format!("{name} › {}", f.id), Status::Fail, f.detail.clone());
        }
        if let Some(mut problem) = outcome.problem {
            problem.path.insert(0, name.to_string());
            problem
                .text
                .push_str(" (and the output ends inside the subtest)");
            self.note(problem);
        }
    }

    /// A row of the table; a subtest keeps only its failing ones.
    fn add(&mut self, id: String, status: Status, detail: String) {
        if status == Status::Fail {
            self.failing = true;
        } else if self.level > 0 {
            return;
        }
        self.table.record(id, status, detail);
    }

    /// Numbers must sit inside the plan and be used once: `1..2` with
    /// `ok 1` twice does not show that test 2 ran.
    fn check_number(&mut self, number: u64) {
        if number == 0 {
            self.note_problem("test number 0 is outside any plan".into());
        }
        self.highest = self.highest.max(number);
        let limit = if self.level == 0 {
            MAX_NUMBERS_TRACKED
        } else {
            MAX_NUMBERS_TRACKED_IN_SUBTEST
        };
        if self.numbers.len() < limit && !self.numbers.insert(number) {
            self.note_problem(format!("test number {number} was reported twice"));
        }
    }

    /// The description if it is new, else `description #N`, else `test N`.
    fn unique_id(&self, description: &str, number: u64) -> String {
        let mut base = description.to_string();
        truncate_chars(&mut base, MAX_ID);
        let numbered = format!("test {number}");
        let candidates = if base.is_empty() {
            vec![numbered]
        } else {
            vec![base.clone(), format!("{base} #{number}"), numbered]
        };
        let taken = |id: &str| self.table.checks.iter().any(|c| c.id == id);
        let fallback = candidates.last().cloned().unwrap_or_default();
        candidates
            .into_iter()
            .find(|id| !taken(id))
            .unwrap_or(fallback)
    }

    /// `start..end`: TAP 14 plans start at 1; one that does not, or a
    /// second plan, leaves the run unproven. A plan inside an open
    /// subtest is not TAP.
    pub(super) fn plan(&mut self, start: u64, end: u64, reason: String, line: &str) {
        let mut quoted = line.to_string();
        truncate_chars(&mut quoted, 60);
        if let Some(old) = &self.plan {
            let old = old.count;
            return self.note_problem(format!("a second plan `{quoted}` after 1..{old}"));
        }
        if self.child.is_some() {
            return self.non_tap(line);
        }
        self.flush();
        if start != 1 {
            return self.note_problem(format!("plan `{quoted}` is not of the form 1..N"));
        }
        self.post_plan = self.points > 0 || end == 0;
        self.plan = Some(Plan {
            count: end,
            after_points: self.points,
            reason,
        });
    }

    pub(super) fn point_after_plan(&self) -> String {
        match &self.plan {
            Some(plan) if plan.after_points == 0 => {
                format!(
                    "a test point came after the plan 1..{} (no tests)",
                    plan.count
                )
            }
            _ => "a test point came after the closing plan".into(),
        }
    }

    /// Why the stream does not show that it finished, if it does not.
    pub(in crate::suite::tap) fn incompleteness(&self) -> Option<String> {
        if self.too_deep {
            return Some(format!(
                "subtests are nested deeper than {MAX_DEPTH} levels"
            ));
        }
        self.problem().map(|p| p.to_string())
    }

    /// The first problem, or what the plan shows missing. A subtest with
    /// neither plan nor points is empty, not unfinished.
    pub(super) fn problem(&self) -> Option<Problem> {
        if let Some(problem) = &self.problem {
            return Some(problem.clone());
        }
        let text = |text: String| {
            Some(Problem {
                path: Vec::new(),
                text,
            })
        };
        let Some(plan) = &self.plan else {
            if self.level > 0 && self.points == 0 {
                return None;
            }
            let hint = match &self.near_plan {
                Some(near) => format!("; {near} is not a plan: a plan line is exactly `1..N`"),
                None => String::new(),
            };
            return text(format!(
                "no TAP plan (1..N) in the output ({} test points seen{hint})",
                self.points
            ));
        };
        if self.points != plan.count {
            return text(format!("planned {} tests, saw {}", plan.count, self.points));
        }
        if self.highest > plan.count {
            return text(format!(
                "test number {} is outside the plan 1..{}",
                self.highest, plan.count
            ));
        }
        None
    }

    /// The end of the stream: what is still open is finished. Output that
    /// stops inside a YAML block was cut off.
    pub(in crate::suite::tap) fn finish_root(&mut self) {
        if let Some(yaml) = &self.yaml {
            let empty = yaml.is_empty();
            self.note_problem("the output ends inside a YAML block (no closing `...`)".into());
            if !empty {
                self.yaml_garbage();
            }
        }
        self.flush();
    }
}

/// What a passing parent said, in a failing subtest's detail.
fn disagreement(said: &str, child: &Outcome) -> String {
    let first = child.failures.first().map_or("", |f| f.id.as_str());
    let others = child.failures.len() as u64 - 1 + child.more;
    let more = match others {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(
        "the point says `{said}`, but its subtest failed (`{first}`{more}): parent and child disagree"
    )
}

fn said(p: &Point) -> &'static str {
    match (p.ok, p.directive) {
        (true, Directive::None) => "ok",
        (true, Directive::Todo) => "ok # TODO",
        (true, Directive::Skip) => "ok # SKIP",
        (false, Directive::Todo) => "not ok # TODO",
        (false, Directive::Skip) => "not ok # SKIP",
        (false, Directive::None) => "not ok",
    }
}

/// The table entry for a point: TODO failures and skips are not failures.
fn status_of(p: &Point) -> (Status, String) {
    match (p.ok, p.directive) {
        (_, Directive::Skip) => (Status::Skip, p.reason.clone()),
        (false, Directive::Todo) => (Status::Todo, p.reason.clone()),
        (true, Directive::Todo) if p.reason.is_empty() => (Status::Pass, "TODO passed".into()),
        (true, Directive::Todo) => (Status::Pass, format!("TODO passed: {}", p.reason)),
        (true, Directive::None) => (Status::Pass, String::new()),
        (false, Directive::None) if p.description.is_empty() => (Status::Fail, "not ok".into()),
        (false, Directive::None) => (Status::Fail, p.description.clone()),
    }
}
