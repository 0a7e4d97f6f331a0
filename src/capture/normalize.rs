//! What a line says, whatever terminal tricks it plays: colour codes are
//! stripped, a BOM dropped, and carriage returns and backspaces overlaid
//! the way a terminal shows them (`C2 PASS\rC2 FAIL` shows `C2 FAIL`).
//! Every segment between them is also looked at on its own, so a FAIL that
//! was overwritten on screen still counts (fail closed).

use std::borrow::Cow;

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Removes ANSI escape sequences (CSI, OSC, and two-byte escapes).
pub fn strip_ansi(line: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(0x1b, line).is_none() {
        return Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if b != 0x1b {
            out.push(b);
            i += 1;
            continue;
        }
        match line.get(i + 1) {
            Some(b'[') => {
                i += 2;
                while i < line.len() && !(0x40..=0x7e).contains(&line[i]) {
                    i += 1;
                }
                i += 1;
            }
            Some(b']') => {
                i += 2;
                while i < line.len() {
                    if line[i] == 0x07 {
                        i += 1;
                        break;
                    }
                    if line[i] == 0x1b && line.get(i + 1) == Some(&b'\\') {
                        i += 2;
                        break;
                    }
                    i += 1;
                }
            }
            Some(_) => i += 2,
            None => i += 1,
        }
    }
    Cow::Owned(out)
}

fn moves_cursor(b: &u8) -> bool {
    matches!(b, b'\r' | 0x08)
}

fn any_cursor_move(line: &[u8]) -> bool {
    memchr::memchr2(b'\r', 0x08, line).is_some()
}

/// The line as a terminal would show it: escapes stripped, BOM dropped, a
/// CR back to column 0 and a backspace back one column, later bytes
/// overwriting earlier ones.
pub fn shown(line: &[u8]) -> Cow<'_, [u8]> {
    let line = line.strip_prefix(BOM).unwrap_or(line);
    let stripped = strip_ansi(line);
    if !any_cursor_move(&stripped) {
        return stripped;
    }
    let mut screen: Vec<u8> = Vec::with_capacity(stripped.len());
    let mut cursor: usize = 0;
    for &b in stripped.iter() {
        match b {
            b'\r' => cursor = 0,
            0x08 => cursor = cursor.saturating_sub(1),
            _ => {
                if cursor < screen.len() {
                    screen[cursor] = b;
                } else {
                    screen.push(b);
                }
                cursor += 1;
            }
        }
    }
    Cow::Owned(screen)
}

/// The segments of a line between carriage returns and backspaces
/// (escapes stripped), for lines that were overwritten on screen; empty
/// when there is none.
pub fn overwritten_segments(line: &[u8]) -> Vec<Vec<u8>> {
    if !any_cursor_move(line) {
        return Vec::new();
    }
    let line = line.strip_prefix(BOM).unwrap_or(line);
    strip_ansi(line)
        .split(moves_cursor)
        .filter(|s| !s.is_empty())
        .map(|s| s.to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_view() {
        assert_eq!(&*shown(b"\x1b[31mC2 FAIL\x1b[0m x"), b"C2 FAIL x");
        assert_eq!(&*shown(b"progress 50%\rC2 FAIL boom  "), b"C2 FAIL boom  ");
        assert_eq!(&*shown(b"C2 PASS\rC2 FAIL"), b"C2 FAIL");
        assert_eq!(&*shown(b"\xef\xbb\xbfC2 FAIL"), b"C2 FAIL");
        assert_eq!(&*shown(b"\x1b]0;title\x07C1 PASS"), b"C1 PASS");
        assert_eq!(&*shown(b"plain"), b"plain");
        assert_eq!(
            overwritten_segments(b"C2 FAIL\rC2 PASS"),
            vec![b"C2 FAIL".to_vec(), b"C2 PASS".to_vec()]
        );
        assert_eq!(&*shown(b"C4 PASS\x08\x08\x08\x08FAIL"), b"C4 FAIL");
        assert_eq!(
            overwritten_segments(b"C4 FAIL\x08\x08\x08\x08PASS"),
            vec![b"C4 FAIL".to_vec(), b"PASS".to_vec()]
        );
    }
}
