//! One line of a segment: matched against the rules of its segment's
//! family (held back while that pattern set compiles), fed to the suite's
//! parser, looked at for a near miss, and kept in the tail.

use super::{PENDING_MAX, Scanner, Segment, family};
use crate::capture::normalize;
use crate::suite::checks;
use regex::bytes::RegexSet;

impl Scanner {
    pub(super) fn segment_line(&mut self, line: &[u8], truncated: bool) {
        self.scan.lines += 1;
        let segment = self.segment;
        let shown = normalize::shown(line);
        let overwritten = normalize::overwritten_segments(line);
        self.match_rules(segment, &shown);
        for seg in &overwritten {
            self.match_rules(segment, seg);
        }
        if segment == Segment::Suite {
            if let Some(p) = self.parser.as_mut() {
                p.line(&shown, &overwritten);
            }
            if let Some((pattern, loose)) = &self.stderr_checks
                && self.scan.near_miss.is_none()
            {
                let views = std::iter::once(&*shown).chain(overwritten.iter().map(Vec::as_slice));
                for v in views {
                    let fails = pattern
                        .captures(v)
                        .and_then(|c| c.name("status"))
                        .is_some_and(|s| s.as_bytes() == b"FAIL");
                    if fails || checks::near_miss(v, loose.as_ref()) {
                        let mut s = String::from_utf8_lossy(v).trim().to_string();
                        crate::suite::truncate_chars(&mut s, 200);
                        self.scan.near_miss = Some(s);
                        break;
                    }
                }
            }
            self.scan.suite_tail.push(line, truncated);
        } else {
            self.scan.channel_tail.push(line, truncated);
        }
    }

    fn match_rules(&mut self, segment: Segment, line: &[u8]) {
        let f = family(segment);
        if let Some(cell) = self.patterns[f].deferred.clone() {
            match cell.ready() {
                Some(set) => self.activate(f, set.clone()),
                None if self.patterns[f].pending_bytes + line.len() < PENDING_MAX => {
                    let p = &mut self.patterns[f];
                    p.pending_bytes += line.len();
                    p.pending.push((segment, line.to_vec()));
                    return;
                }
                None => self.activate(f, cell.get().clone()),
            }
        }
        if let Some(set) = &self.patterns[f].ready {
            // is_match first: it allocates nothing, and almost no line matches.
            if set.is_match(line) {
                let hits = &mut self.scan.hits[segment as usize];
                if hits.len() < set.len() {
                    hits.resize(set.len(), false);
                }
                for i in set.matches(line).iter() {
                    hits[i] = true;
                }
            }
        }
    }

    pub(super) fn activate(&mut self, f: usize, set: RegexSet) {
        let p = &mut self.patterns[f];
        p.deferred = None;
        p.pending_bytes = 0;
        let pending = std::mem::take(&mut p.pending);
        p.ready = Some(set);
        for (segment, line) in pending {
            self.match_rules(segment, &line);
        }
    }
}
