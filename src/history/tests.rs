use super::score::{Label, Params, score};
use super::*;

const P: Params = Params {
    window: 20,
    broken_after: 3,
    flaky_min_runs: 5,
    flaky_flip_rate: 0.2,
};

/// A run of work item `item` at minute `t` with `checks` like "C1=P C2=F".
fn run(store: &mut Store, item: &str, t: i64, verdict: Verdict, checks: &str) {
    let checks = checks
        .split_whitespace()
        .map(|c| {
            let (id, m) = c.split_once('=').unwrap();
            (
                id.to_string(),
                Mark::from_letter(m.chars().next().unwrap()).unwrap(),
            )
        })
        .collect();
    let outcome = if verdict == Verdict::Hold {
        "transient-infra"
    } else {
        "suite-ran"
    };
    store.add_log(
        parse::LogRun {
            work_item: item.into(),
            repo: "core".into(),
            started_ms: t * 60_000,
            verdict,
            outcome: outcome.into(),
            checks,
        },
        t as u64,
    );
}

fn stats(store: &Store) -> Vec<score::CheckStats> {
    score(store, &store.sorted(), &P)
}

fn find<'a>(s: &'a [score::CheckStats], id: &str) -> &'a score::CheckStats {
    s.iter().find(|c| c.id == id).unwrap()
}

/// Ten answered runs: C1 fails every other run, C2 fails the last five, C3 never.
fn ten() -> Store {
    let mut s = Store::default();
    add_ten(&mut s);
    s
}

fn add_ten(s: &mut Store) {
    for i in 0..10 {
        let c1 = if i % 2 == 1 { "F" } else { "P" };
        let c2 = if i >= 5 { "F" } else { "P" };
        let v = if c1 == "F" || c2 == "F" {
            Verdict::Failed
        } else {
            Verdict::Success
        };
        run(
            s,
            &format!("ORCH-{i}"),
            i,
            v,
            &format!("C1={c1} C2={c2} C3=P C9a=W"),
        );
    }
}

#[test]
fn flaky_broken_and_stable() {
    let s = stats(&ten());
    let ids: Vec<&str> = s.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["C2", "C1", "C3", "C9a"],
        "broken, flaky, then by failure rate"
    );
    let c1 = find(&s, "C1");
    assert_eq!(
        (c1.label, c1.runs, c1.fail, c1.flips),
        (Label::Flaky, 10, 5, 9)
    );
    assert_eq!(c1.flip_rate, 1.0);
    assert_eq!(c1.last_fail.as_ref().unwrap().work_item, "ORCH-9");
    let c2 = find(&s, "C2");
    assert_eq!(
        (c2.label, c2.fail, c2.flips, c2.streak),
        (Label::Broken, 5, 1, 5)
    );
    assert_eq!(c2.streak_since.as_ref().unwrap().work_item, "ORCH-5");
    let c3 = find(&s, "C3");
    assert_eq!(
        (c3.label, c3.runs, c3.fail, c3.flips),
        (Label::Stable, 10, 0, 0)
    );
    assert!(c3.last_fail.is_none());
    let c9 = find(&s, "C9a");
    assert_eq!((c9.runs, c9.waived), (0, 10));
}

#[test]
fn hold_runs_change_no_figure() {
    let before = serde_json::to_string(&stats(&ten())).unwrap();
    let mut s = ten();
    // HOLD runs whose tables say anything at all, between and after the others.
    run(&mut s, "ORCH-H1", 3, Verdict::Hold, "C3=F C1=F C2=P C7=F");
    run(&mut s, "ORCH-H2", 11, Verdict::Hold, "C3=F C2=P");
    run(&mut s, "ORCH-H3", 12, Verdict::Hold, "");
    assert_eq!(s.len(), 13);
    assert_eq!(serde_json::to_string(&stats(&s)).unwrap(), before);
}

#[test]
fn one_run_is_counted_once_whichever_version_is_read_first() {
    let mut a = ten();
    run(&mut a, "ORCH-3", 3, Verdict::Hold, "C1=P");
    let mut b = Store::default();
    run(&mut b, "ORCH-3", 3, Verdict::Hold, "C1=P");
    add_ten(&mut b);
    assert_eq!(a.len(), 10);
    assert_eq!(b.len(), 10);
    assert_eq!(
        serde_json::to_string(&stats(&a)).unwrap(),
        serde_json::to_string(&stats(&b)).unwrap()
    );
    // The version in which the suite answered wins.
    assert_eq!(find(&stats(&a), "C1").fail, 5);
}

#[test]
fn the_window_covers_each_checks_last_runs() {
    let mut s = Store::default();
    for i in 0..30 {
        let c1 = if i < 10 && i % 2 == 1 { "F" } else { "P" };
        run(&mut s, "ORCH-1", i, Verdict::Success, &format!("C1={c1}"));
    }
    let c1 = find(&stats(&s), "C1").clone();
    assert_eq!(
        (c1.runs, c1.fail, c1.flips, c1.label),
        (20, 0, 0, Label::Stable)
    );
    assert_eq!(
        c1.last_fail.unwrap().work_item,
        "ORCH-1",
        "last_fail looks past the window"
    );
    let all = score(&s, &s.sorted(), &Params { window: 0, ..P });
    assert_eq!((all[0].runs, all[0].fail, all[0].flips), (30, 5, 10));
}

#[test]
fn too_few_runs_are_not_flaky_and_a_pass_ends_a_streak() {
    let mut s = Store::default();
    for (i, m) in ["P", "F", "P", "F"].iter().enumerate() {
        run(&mut s, "A-1", i as i64, Verdict::Failed, &format!("C1={m}"));
    }
    assert_eq!(find(&stats(&s), "C1").label, Label::Stable, "4 runs < 5");
    run(&mut s, "A-1", 9, Verdict::Failed, "C1=F");
    run(&mut s, "A-1", 10, Verdict::Failed, "C1=F");
    let c1 = find(&stats(&s), "C1").clone();
    assert_eq!((c1.streak, c1.label), (3, Label::Broken));
}

#[test]
fn ids_sort_naturally() {
    let mut ids = vec!["C10", "C9b", "C2", "C9a", "C1", "C02"];
    ids.sort_by(|a, b| score::natural(a, b));
    assert_eq!(ids, ["C1", "C02", "C2", "C9a", "C9b", "C10"]);
}

#[test]
fn the_cache_gives_back_what_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = ten();
    run(&mut s, "we|ird\\id", 40, Verdict::Hold, "odd|id\\x=F");
    let tips = vec!["a".repeat(40), "b".repeat(40)];
    cache::write(dir.path(), &tips, &s).unwrap();
    let back = cache::read(dir.path()).unwrap();
    assert_eq!(back.tips, tips);
    assert_eq!(back.store.len(), s.len());
    assert_eq!(
        serde_json::to_string(&stats(&back.store)).unwrap(),
        serde_json::to_string(&stats(&s)).unwrap()
    );
    // A damaged cache is no cache.
    let path = cache::path(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 10]).unwrap();
    assert!(cache::read(dir.path()).is_none());
}

#[test]
fn notes_say_what_the_history_says() {
    use super::annotate::text;
    let s = ten();
    let before = stats(&s);
    let mut now_store = s.clone();
    run(
        &mut now_store,
        "ORCH-10",
        10,
        Verdict::Failed,
        "C1=F C2=F C3=F",
    );
    let now = stats(&now_store);
    assert_eq!(
        text(find(&now, "C1"), find(&before, "C1")),
        "flaky: failed 6 of its last 11 runs, 9 flips; last on ORCH-9"
    );
    assert_eq!(
        text(find(&now, "C2"), find(&before, "C2")),
        "broken: failed each of its last 6 runs, since ORCH-5"
    );
    assert_eq!(
        text(find(&now, "C3"), find(&before, "C3")),
        "first failure in 10 runs"
    );
}

#[test]
fn waived_and_skipped_reports_fill_the_window_too() {
    let mut s = Store::default();
    for i in 0..30 {
        let c1 = if i >= 25 { "P" } else { "W" };
        run(
            &mut s,
            "ORCH-1",
            i,
            Verdict::Success,
            &format!("C1={c1} C2=S"),
        );
    }
    let st = stats(&s);
    let c1 = find(&st, "C1");
    assert_eq!((c1.runs, c1.pass, c1.waived), (5, 5, 15));
    assert_eq!(find(&st, "C2").skip, 20);
}
