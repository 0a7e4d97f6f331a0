//! `classify`'s text answer, and with `--explain` the rules' trace.

use super::*;

fn origin(builtin: bool) -> &'static str {
    if builtin { "built-in" } else { "user" }
}

pub(super) fn print_text(s: &Shown) {
    let c = s.c;
    let mut text = format!(
        "class: {}\nrule: {}\nscope: {}\nreason: {}",
        c.class.as_str(),
        c.rule,
        s.scope.as_str(),
        c.reason
    );
    if let Some(fix) = &c.fix {
        text.push_str(&format!("\nwhat to do: {fix}"));
    }
    text.push_str(&format!("\nverdict: {}", verdict_line(s.result)));
    diag::line(Stream::Out, &text);
    if !s.args.explain {
        return;
    }
    print_near(s);
    print_passes(s);
}

/// The rules an output line matched that did not match as a whole.
fn print_near(s: &Shown) {
    let near: Vec<&TraceRow> = s.near().collect();
    if !near.is_empty() {
        diag::line(
            Stream::Out,
            "\nnear rules (an output line matches them, yet they did not match):",
        );
        for r in near {
            let then = s.had_it_matched(r);
            diag::line(
                Stream::Out,
                &format!(
                    "  {} ({}, on {}): {}, but {}\n    had it matched: {} → {}",
                    r.id,
                    origin(r.builtin),
                    r.on.as_str(),
                    r.matching_lines().join(" and "),
                    r.texts(false).join(" and "),
                    r.class.as_str(),
                    verdict_line(&then)
                ),
            );
        }
    }
}

/// Each pass of the rules, in order, and why each rule did or did not match.
fn print_passes(s: &Shown) {
    let two = s.passes.len() > 1;
    for p in s.passes {
        let what = match p.scope {
            Scope::Channel if two => "channel rules first, as if the suite never started",
            Scope::Channel => "channel rules: the suite never started",
            Scope::Suite => "suite rules: the suite ended; its own status and output decide",
            Scope::Lost => {
                "the suite started and the channel was lost: our timeout, a transient channel signature, else the lost rule"
            }
            Scope::Any => "rules",
        };
        diag::line(
            Stream::Out,
            &format!("\n{what} (in order, first match wins):"),
        );
        for r in &p.rows {
            match r.mismatch() {
                None => {
                    let versions = if r.checked.is_empty() {
                        String::new()
                    } else {
                        format!(" (checked against {})", r.checked)
                    };
                    let next = if p.scope == Scope::Channel && two {
                        "; no channel signature matched, so the suite rules judge"
                    } else {
                        ""
                    };
                    diag::line(
                        Stream::Out,
                        &format!(
                            "  MATCH  {} ({}) → {}{versions}{next}",
                            r.id,
                            origin(r.builtin),
                            r.class.as_str()
                        ),
                    );
                }
                Some(why) => diag::line(
                    Stream::Out,
                    &format!("  skip   {} ({}): {why}", r.id, origin(r.builtin)),
                ),
            }
        }
    }
}
