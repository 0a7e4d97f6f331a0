//! The provenance markers the wrapper prints (transport/wrapper.sh):
//! `@@stagerun:NONCE:KIND[:ARGS]@@`. Only markers carrying this attempt's
//! nonce count; anything else that looks like one is ordinary text.

pub const PREFIX: &[u8] = b"@@stagerun:";
pub const NONCE_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// The wrapper runs where the suite runs and holds the lock; `session`
    /// when the suite got its own session (setsid), `group` otherwise.
    Start { mode: String },
    /// A reattach: the follower goes on from these spool offsets.
    Resume { out: u64, err: u64 },
    /// Zero-width: this stream's bytes so far end at this spool offset.
    At(u64),
    /// The suite ended: its exact status, how (ok | deadline | stopped),
    /// pids still alive after the sweep (empty: none; `unverified`: the
    /// search could not run), and whether its report was written.
    End {
        status: i32,
        how: String,
        left: Vec<u32>,
        unverified: bool,
        report: Option<bool>,
    },
    /// The spool passed its cap: nothing more of this stream was kept.
    Cut,
    /// Another run holds the work item where the suite runs.
    Busy { other: String },
    /// The wrapper could not create its lock.
    StateError { why: String },
    /// The wrapper would not start the suite (a stale report it cannot remove).
    Refused { why: String },
    /// An unattended run of the same command is adopted; markers from here
    /// on carry its nonce.
    Adopt { run: String, since: String },
    /// Nothing to follow: `no-run` (no such run there), `lost` (its
    /// supervisor is gone without an end: a restarted container).
    Gone { why: String },
    /// Something about an earlier run the wrapper found (`lost:RUN:SINCE`,
    /// `uncollected:RUN:STATUS`).
    Note { what: String },
    /// A preflight's remote command: its pid, process group and start time.
    Who {
        pid: String,
        group: String,
        start: String,
    },
    /// A preflight step's exit status.
    Step { index: usize, status: i32 },
    /// Answer of a remote stop: not-running | confirmed | survivors | unverified.
    Stopped { result: String, pids: String },
}

/// A fresh random nonce for one attempt (hex, `NONCE_LEN` long).
pub fn nonce() -> String {
    let mut bytes = [0u8; NONCE_LEN / 2];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !from_os {
        let mut rng = fastrand::Rng::new();
        bytes.iter_mut().for_each(|b| *b = rng.u8(..));
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Finds this nonce's marker in a line: (text before it, the marker, text after).
pub fn find<'a>(line: &'a [u8], nonce: &[u8]) -> Option<(&'a [u8], Marker, &'a [u8])> {
    let mut from = 0;
    while let Some(pos) = memchr::memmem::find(&line[from..], PREFIX) {
        let start = from + pos;
        let body_start = start + PREFIX.len();
        if let Some(end_rel) = memchr::memmem::find(&line[body_start..], b"@@") {
            let body = &line[body_start..body_start + end_rel];
            if let Some(m) = parse_body(body, nonce) {
                return Some((&line[..start], m, &line[body_start + end_rel + 2..]));
            }
        }
        from = body_start;
    }
    None
}

fn parse_body(body: &[u8], nonce: &[u8]) -> Option<Marker> {
    let text = std::str::from_utf8(body).ok()?;
    let mut parts = text.splitn(3, ':');
    if parts.next()?.as_bytes() != nonce {
        return None;
    }
    let kind = parts.next()?;
    let rest = parts.next().unwrap_or("");
    let word = |s: &str| s.to_string();
    Some(match kind {
        "start" => Marker::Start { mode: word(rest) },
        "resume" => {
            let (out, err) = rest.split_once(':')?;
            Marker::Resume {
                out: out.parse().ok()?,
                err: err.parse().ok()?,
            }
        }
        "at" => Marker::At(rest.parse().ok()?),
        "end" => end(rest)?,
        "cut" => Marker::Cut,
        "busy" => Marker::Busy { other: word(rest) },
        "state-error" => Marker::StateError { why: word(rest) },
        "refused" => Marker::Refused { why: word(rest) },
        "adopt" => {
            let (run, since) = rest.split_once(':').unwrap_or((rest, ""));
            if run.len() != NONCE_LEN || !run.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            Marker::Adopt {
                run: word(run),
                since: word(since),
            }
        }
        "gone" => Marker::Gone { why: word(rest) },
        "note" => Marker::Note { what: word(rest) },
        "who" => {
            let mut f = rest.split(':');
            Marker::Who {
                pid: word(f.next()?),
                group: word(f.next()?),
                start: word(f.next()?),
            }
        }
        "step" => {
            let (index, status) = rest.split_once(':')?;
            Marker::Step {
                index: index.parse().ok()?,
                status: status.parse().ok()?,
            }
        }
        "stopped" => {
            let (result, pids) = rest.split_once(':').unwrap_or((rest, ""));
            Marker::Stopped {
                result: word(result),
                pids: word(pids),
            }
        }
        _ => return None,
    })
}

/// `STATUS:HOW:LEFT[:REPORT]`; LEFT is `none`, `unverified` or pids.
fn end(rest: &str) -> Option<Marker> {
    let mut f = rest.splitn(4, ':');
    let status = f.next()?.parse().ok()?;
    let how = f.next().unwrap_or("ok").to_string();
    let left_field = f.next().unwrap_or("");
    let left = left_field
        .split([',', ' '])
        .filter_map(|p| p.parse().ok())
        .collect();
    let report = match f.next() {
        Some("written") => Some(true),
        Some("absent") => Some(false),
        _ => None,
    };
    Some(Marker::End {
        status,
        how,
        left,
        unverified: left_field == "unverified",
        report,
    })
}

/// What a stream carries once the markers are taken out of it.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Data(&'a [u8]),
    Marker(Marker),
}

/// Markers are short; anything longer after the prefix is ordinary text.
const MAX_MARKER: usize = 512;

/// Takes this nonce's markers out of a stream read in chunks of any size:
/// a marker may be split across two reads, and bytes that may start one
/// wait for the next read. An `Adopt` marker switches the nonce.
pub struct Splitter {
    nonce: Vec<u8>,
    held: Vec<u8>,
}

impl Splitter {
    pub fn new(nonce: &str) -> Splitter {
        Splitter {
            nonce: nonce.as_bytes().to_vec(),
            held: Vec::new(),
        }
    }

    pub fn nonce(&self) -> &[u8] {
        &self.nonce
    }

    /// Feeds a chunk; `emit` gets the data and the markers in order.
    pub fn push(&mut self, chunk: &[u8], emit: &mut dyn FnMut(Piece)) {
        if self.held.is_empty() {
            let rest = self.split(chunk, emit);
            self.held.extend_from_slice(rest);
        } else {
            let mut data = std::mem::take(&mut self.held);
            data.extend_from_slice(chunk);
            let rest = self.split(&data, emit).to_vec();
            self.held = rest;
        }
    }

    /// What is still held at the end of the stream is data.
    pub fn flush(&mut self, emit: &mut dyn FnMut(Piece)) {
        let held = std::mem::take(&mut self.held);
        if !held.is_empty() {
            emit(Piece::Data(&held));
        }
    }

    /// Emits what is certain and returns the tail that may start a marker.
    fn split<'a>(&mut self, mut data: &'a [u8], emit: &mut dyn FnMut(Piece)) -> &'a [u8] {
        loop {
            let Some(pos) = memchr::memmem::find(data, PREFIX) else {
                let keep = partial_prefix(data);
                let (now, later) = data.split_at(data.len() - keep);
                if !now.is_empty() {
                    emit(Piece::Data(now));
                }
                return later;
            };
            let body_start = pos + PREFIX.len();
            match memchr::memmem::find(&data[body_start..], b"@@") {
                Some(rel) if rel <= MAX_MARKER => {
                    let body = &data[body_start..body_start + rel];
                    match parse_body(body, &self.nonce) {
                        Some(m) => {
                            if pos > 0 {
                                emit(Piece::Data(&data[..pos]));
                            }
                            if let Marker::Adopt { run, .. } = &m {
                                self.nonce = run.as_bytes().to_vec();
                            }
                            emit(Piece::Marker(m));
                            data = &data[body_start + rel + 2..];
                        }
                        None => {
                            // Not ours: text up to past this prefix.
                            emit(Piece::Data(&data[..body_start]));
                            data = &data[body_start..];
                        }
                    }
                }
                None if data.len() - body_start <= MAX_MARKER => {
                    if pos > 0 {
                        emit(Piece::Data(&data[..pos]));
                    }
                    return &data[pos..];
                }
                _ => {
                    emit(Piece::Data(&data[..body_start]));
                    data = &data[body_start..];
                }
            }
        }
    }
}

/// Length of the longest suffix of `data` that is a proper prefix of PREFIX.
fn partial_prefix(data: &[u8]) -> usize {
    (1..PREFIX.len().min(data.len() + 1))
        .rev()
        .find(|&n| data.ends_with(&PREFIX[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn finds_markers_anywhere_in_a_line() {
        let line = b"partial@@stagerun:0123456789abcdef0123456789abcdef:end:3:ok:none@@";
        let (before, m, after) = find(line, N).unwrap();
        assert_eq!(before, b"partial");
        assert_eq!(
            m,
            Marker::End {
                status: 3,
                how: "ok".into(),
                left: vec![],
                unverified: false,
                report: None,
            }
        );
        assert!(after.is_empty());
        let (_, m, _) = find(
            b"@@stagerun:0123456789abcdef0123456789abcdef:end:137:deadline:12 13@@",
            N,
        )
        .unwrap();
        assert_eq!(
            m,
            Marker::End {
                status: 137,
                how: "deadline".into(),
                left: vec![12, 13],
                unverified: false,
                report: None,
            }
        );
    }

    #[test]
    fn other_nonces_and_lookalikes_are_text() {
        assert!(
            find(
                b"@@stagerun:ffffffffffffffffffffffffffffffff:end:0:ok:none@@",
                N
            )
            .is_none()
        );
        assert!(
            find(
                b"@@stagerun:@@ @@stagerun:0123456789abcdef0123456789abcdef:start:session@@",
                N
            )
            .is_some()
        );
        assert!(find(b"no marker here", N).is_none());
    }

    fn split_all(chunks: &[&[u8]]) -> (Vec<u8>, Vec<Marker>) {
        let mut s = Splitter::new(std::str::from_utf8(N).unwrap());
        let (mut data, mut marks) = (Vec::new(), Vec::new());
        let mut emit = |p: Piece| match p {
            Piece::Data(d) => data.extend_from_slice(d),
            Piece::Marker(m) => marks.push(m),
        };
        for c in chunks {
            s.push(c, &mut emit);
        }
        s.flush(&mut emit);
        (data, marks)
    }

    #[test]
    fn the_splitter_finds_markers_split_across_reads_at_every_byte() {
        let stream = format!(
            "before@@stagerun:{n}:start:session@@C1 PA@@stagerun:{n}:at:5@@SS\n@@stagerun:ffffffffffffffffffffffffffffffff:at:1@@x@@stagerun:{n}:end:0:ok:none:written@@",
            n = std::str::from_utf8(N).unwrap()
        );
        let bytes = stream.as_bytes();
        for cut in 0..bytes.len() {
            for cut2 in [cut, (cut + 7).min(bytes.len())] {
                let (data, marks) = split_all(&[&bytes[..cut], &bytes[cut..cut2], &bytes[cut2..]]);
                assert_eq!(
                    String::from_utf8(data).unwrap(),
                    "beforeC1 PASS\n@@stagerun:ffffffffffffffffffffffffffffffff:at:1@@x",
                    "cut at {cut}/{cut2}"
                );
                assert_eq!(marks.len(), 3, "cut at {cut}");
                assert_eq!(marks[1], Marker::At(5));
                assert!(matches!(
                    marks[2],
                    Marker::End {
                        report: Some(true),
                        ..
                    }
                ));
            }
        }
    }

    #[test]
    fn an_adopt_marker_switches_the_nonce() {
        let other = "ffffffffffffffffffffffffffffffff";
        let stream = format!(
            "@@stagerun:{n}:adopt:{other}:2026-12-03T10:00:00Z@@@@stagerun:{other}:start:session@@ok@@stagerun:{n}:at:9@@",
            n = std::str::from_utf8(N).unwrap()
        );
        let (data, marks) = split_all(&[stream.as_bytes()]);
        assert_eq!(
            marks[0],
            Marker::Adopt {
                run: other.into(),
                since: "2026-12-03T10:00:00Z".into()
            }
        );
        assert!(matches!(marks[1], Marker::Start { .. }));
        assert_eq!(marks.len(), 2, "the old nonce's markers are text now");
        assert!(data.starts_with(b"ok@@stagerun:0123"));
    }

    #[test]
    fn unterminated_lookalikes_are_text() {
        let long = format!(
            "@@stagerun:{}:{}",
            std::str::from_utf8(N).unwrap(),
            "x".repeat(2000)
        );
        let (data, marks) = split_all(&[long.as_bytes(), b"@@"]);
        assert!(marks.is_empty());
        assert_eq!(data.len(), long.len() + 2);
        let (data, marks) = split_all(&[b"tail @@stag"]);
        assert!(marks.is_empty());
        assert_eq!(data, b"tail @@stag");
    }

    #[test]
    fn nonces_are_fresh() {
        let a = nonce();
        assert_eq!(a.len(), NONCE_LEN);
        assert_ne!(a, nonce());
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
