use super::*;

const N: &str = "0123456789abcdef0123456789abcdef";

fn set(p: &[&str]) -> [Arc<LazySet>; 2] {
    let cell = LazySet::compiled(RegexSet::new(p).unwrap());
    [cell.clone(), cell]
}

fn m(what: &str) -> String {
    format!("@@stagerun:{N}:{what}@@")
}

#[test]
fn segments_split_at_the_markers() {
    let mut s = Scanner::new(Some(N), set(&["closed by remote host", "^Error"]), 10);
    s.feed(
        format!(
            "Error before\n{}Error from suite\nclosed by remote host",
            m("start:session")
        )
        .as_bytes(),
    );
    s.feed(
        format!(
            "{}{}\nclosed by remote host\n",
            m("at:38"),
            m("end:1:ok:none:-")
        )
        .as_bytes(),
    );
    let scan = s.finish();
    assert_eq!(scan.hits[Segment::Before as usize], vec![false, true]);
    assert_eq!(scan.hits[Segment::Suite as usize], vec![true, true]);
    assert_eq!(scan.hits[Segment::After as usize], vec![true, false]);
    assert_eq!(
        scan.suite_tail.text(),
        "Error from suite\nclosed by remote host\n"
    );
    assert!(matches!(scan.markers[1], Marker::End { status: 1, .. }));
    assert_eq!(scan.offset_mismatches, 0);
    assert_eq!(scan.offset, 38);
}

/// The channel lost mid-line: what came after the last offset is the
/// channel's, the reattach reads on from that offset and the line is
/// whole again; the echo shows every suite byte once and no marker.
#[test]
fn a_reattach_reads_every_byte_once_and_mends_the_cut_line() {
    let mut s = Scanner::new(Some(N), set(&["^C3 PASS$", "closed by remote"]), 10);
    let mut echo = Vec::new();
    s.feed_echo(
        format!(
            "{}C1 PASS\nC2 PASS\nC3 PA{}SS\nC4",
            m("start:session"),
            m("at:21")
        )
        .as_bytes(),
        &mut echo,
    );
    // ssh's own last words, after a piece whose offset never came
    s.feed_echo(b"Connection to h closed by remote host.\r\n", &mut echo);
    assert_eq!(s.offset(), 21);
    s.disconnect();
    s.feed_echo(
        format!(
            "motd\n{}SS\nC4 PASS\n{}{}",
            m("resume:21:0"),
            m("at:32"),
            m("end:0:ok:none:-")
        )
        .as_bytes(),
        &mut echo,
    );
    let scan = s.finish();
    // (live, the channel's words on the way back cut into the mended line)
    assert_eq!(
        String::from_utf8_lossy(&echo),
        "C1 PASS\nC2 PASS\nC3 PAmotd\nSS\nC4 PASS\n"
    );
    assert_eq!(
        scan.suite_tail.text(),
        "C1 PASS\nC2 PASS\nC3 PASS\nC4 PASS\n"
    );
    assert_eq!(scan.hits[Segment::Suite as usize], vec![true, false]);
    assert_eq!(
        scan.hits[Segment::After as usize],
        vec![false, true],
        "ssh's words are the channel's"
    );
    assert_eq!(scan.resumes, 1);
    assert_eq!(scan.offset_mismatches, 0);
    assert_eq!(scan.offset, 32);
}

#[test]
fn a_flood_between_offsets_is_counted_beyond_the_hold_and_resumed_after_it() {
    let mut s = Scanner::new(Some(N), set(&["x"]), 2);
    let mut echo = Vec::new();
    s.feed_echo(m("start:session").as_bytes(), &mut echo);
    let flood = vec![b'y'; HOLD_MAX + 10];
    s.feed_echo(&flood, &mut echo);
    assert_eq!(echo.len(), HOLD_MAX + 10 - HOLD_KEEP);
    assert_eq!(s.offset(), echo.len() as u64);
    s.disconnect();
    s.feed_echo(m(&format!("resume:{}:0", echo.len())).as_bytes(), &mut echo);
    s.feed_echo(&vec![b'y'; HOLD_KEEP], &mut echo);
    s.feed_echo(m(&format!("at:{}", HOLD_MAX + 10)).as_bytes(), &mut echo);
    assert_eq!(echo.len(), HOLD_MAX + 10);
    assert_eq!(s.finish().offset_mismatches, 0);
}

#[test]
fn splits_lines_across_chunks_and_keeps_a_bounded_tail() {
    let mut s = Scanner::new(None, set(&[r"^needle$"]), 3);
    for chunk in [&b"a\nne"[..], b"edle\r\nb\nc", b"\nd"] {
        s.feed(chunk);
    }
    let scan = s.finish();
    assert!(scan.hits[Segment::Suite as usize][0]);
    assert_eq!(scan.lines, 5);
    assert_eq!(scan.suite_tail.text(), "b\nc\nd\n");
}

#[test]
fn very_long_lines_are_capped_not_buffered() {
    let mut s = Scanner::new(None, set(&["x"]), 2);
    s.feed(&vec![b'x'; MAX_LINE * 4]);
    assert!(s.partial.capacity() <= MAX_LINE * 2);
    s.feed(b"\nshort\n");
    let scan = s.finish();
    assert_eq!(scan.lines, 2);
    assert!(scan.suite_tail.text().contains("[line truncated]"));
}

#[test]
fn lines_wait_for_their_set_and_are_matched_when_a_rule_can_use_them() {
    let cell = Arc::new(LazySet::default());
    let mut s = Scanner::new(None, [Arc::new(LazySet::default()), cell.clone()], 2);
    s.feed(b"early needle\nother\n");
    let setter = cell.clone();
    let t = std::thread::spawn(move || setter.publish(vec![r"needle".into(), r"^late$".into()]));
    s.feed(b"late\n");
    assert!(
        cell.ready().is_none(),
        "nothing compiled while lines stream"
    );
    let scan = s.finish();
    t.join().unwrap();
    assert_eq!(scan.hits[Segment::Suite as usize], vec![true, true]);
}

#[test]
fn a_set_no_rule_can_use_for_the_exit_code_is_never_compiled() {
    let cell = Arc::new(LazySet::default());
    cell.publish(vec![r"^Traceback".into()]);
    let exits = Arc::new(OnceLock::new());
    let _ = exits.set(PatternUse::OnExit(vec![1]));
    let scanner = || {
        let mut s = Scanner::new(None, [Arc::new(LazySet::default()), cell.clone()], 2)
            .with_suite_pattern_use(exits.clone());
        s.feed(b"Traceback (most recent call last):\n");
        s
    };
    let passed = scanner().finish_for(Some(0), false);
    assert!(passed.hits[Segment::Suite as usize].is_empty());
    assert!(
        cell.ready().is_none(),
        "exit 0: no rule with a pattern applies"
    );
    let crashed = scanner().finish_for(Some(1), false);
    assert_eq!(crashed.hits[Segment::Suite as usize], vec![true]);
}
