//! Live echo without the provenance markers: the suite's output reaches the
//! terminal as the suite wrote it. Bytes that might start a marker are held
//! back until the marker is complete or proves not to be one.

use super::markers::{NONCE_LEN, PREFIX};
use std::borrow::Cow;

/// A marker is short; anything longer after the prefix is ordinary text.
const MAX_MARKER: usize = 256;

#[derive(Default)]
pub struct EchoFilter {
    nonce: Vec<u8>,
    held: Vec<u8>,
    at_line_start: bool,
    /// A marker on a line of its own ended a chunk: its newline is next.
    eat_newline: bool,
}

/// Length of the longest suffix of `data` that is a proper prefix of PREFIX.
fn partial_prefix(data: &[u8]) -> usize {
    (1..PREFIX.len().min(data.len() + 1))
        .rev()
        .find(|&n| data.ends_with(&PREFIX[..n]))
        .unwrap_or(0)
}

impl EchoFilter {
    pub fn new(nonce: &str) -> EchoFilter {
        EchoFilter {
            nonce: nonce.as_bytes().to_vec(),
            held: Vec::new(),
            at_line_start: true,
            eat_newline: false,
        }
    }

    pub fn filter<'a>(&mut self, mut chunk: &'a [u8]) -> Cow<'a, [u8]> {
        if std::mem::take(&mut self.eat_newline)
            && let Some(rest) = chunk.strip_prefix(b"\n")
        {
            chunk = rest;
        }
        if self.held.is_empty()
            && memchr::memmem::find(chunk, PREFIX).is_none()
            && partial_prefix(chunk) == 0
        {
            if let Some(&last) = chunk.last() {
                self.at_line_start = last == b'\n';
            }
            return Cow::Borrowed(chunk);
        }
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(data.len());
        let mut i = 0;
        while let Some(rel) = memchr::memmem::find(&data[i..], PREFIX) {
            let p = i + rel;
            self.push(&mut out, &data[i..p]);
            let body = p + PREFIX.len();
            match memchr::memmem::find(&data[body..], b"@@") {
                Some(end_rel) => {
                    let end = body + end_rel + 2;
                    let ours = data[body..].starts_with(&self.nonce)
                        && data.get(body + NONCE_LEN) == Some(&b':');
                    if !ours {
                        self.push(&mut out, &data[p..end]);
                        i = end;
                        continue;
                    }
                    // A marker on a line of its own goes with its newline;
                    // one appended to a partial line leaves that line's end.
                    let mut next = end;
                    if self.at_line_start {
                        match data.get(end) {
                            Some(b'\n') => next += 1,
                            None => self.eat_newline = true,
                            Some(_) => {}
                        }
                    }
                    i = next;
                }
                None if data.len() - p < MAX_MARKER => {
                    self.held = data[p..].to_vec();
                    return Cow::Owned(out);
                }
                None => {
                    self.push(&mut out, &data[p..body]);
                    i = body;
                }
            }
        }
        let rest = &data[i..];
        let keep = partial_prefix(rest);
        self.push(&mut out, &rest[..rest.len() - keep]);
        self.held = rest[rest.len() - keep..].to_vec();
        Cow::Owned(out)
    }

    fn push(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        if let Some(&last) = bytes.last() {
            self.at_line_start = last == b'\n';
        }
        out.extend_from_slice(bytes);
    }

    /// What is still held back at EOF is text.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &str = "0123456789abcdef0123456789abcdef";

    fn run(chunks: &[&[u8]]) -> Vec<u8> {
        let mut f = EchoFilter::new(N);
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&f.filter(c));
        }
        out.extend(f.finish());
        out
    }

    #[test]
    fn markers_vanish_from_echo_even_split_across_chunks() {
        let m = format!("@@stagerun:{N}:start:session@@\n");
        let text = format!("{m}C1 PASS ok\npartial@@stagerun:{N}:end:0:ok:none@@\n");
        let expected = b"C1 PASS ok\npartial\n".to_vec();
        assert_eq!(run(&[text.as_bytes()]), expected);
        for cut in 0..text.len() {
            let (a, b) = text.as_bytes().split_at(cut);
            assert_eq!(run(&[a, b]), expected, "cut at {cut}");
        }
    }

    #[test]
    fn lookalikes_and_other_nonces_are_shown() {
        let text = b"@@stagerun:ffffffffffffffffffffffffffffffff:end:0@@\n@@stage\n";
        assert_eq!(run(&[text]), text.to_vec());
    }
}
