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
    /// The suite ended: its exact status, how (ok | deadline | stopped), and
    /// pids still alive after the wrapper's TERM/KILL (empty: none).
    End {
        status: i32,
        how: String,
        left: Vec<u32>,
    },
    /// Another run holds the work item where the suite runs.
    Busy { other: String },
    /// The wrapper could not create its lock.
    StateError { why: String },
    /// Answer of a remote stop: not-running | confirmed | survivors.
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
    Some(match kind {
        "start" => Marker::Start {
            mode: rest.to_string(),
        },
        "end" => {
            let mut f = rest.splitn(3, ':');
            let status = f.next()?.parse().ok()?;
            let how = f.next().unwrap_or("ok").to_string();
            let left = f
                .next()
                .unwrap_or("")
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            Marker::End { status, how, left }
        }
        "busy" => Marker::Busy {
            other: rest.to_string(),
        },
        "state-error" => Marker::StateError {
            why: rest.to_string(),
        },
        "stopped" => {
            let (result, pids) = rest.split_once(':').unwrap_or((rest, ""));
            Marker::Stopped {
                result: result.to_string(),
                pids: pids.to_string(),
            }
        }
        _ => return None,
    })
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
                left: vec![]
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
                left: vec![12, 13]
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

    #[test]
    fn nonces_are_fresh() {
        let a = nonce();
        assert_eq!(a.len(), NONCE_LEN);
        assert_ne!(a, nonce());
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
