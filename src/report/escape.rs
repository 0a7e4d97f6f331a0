//! One escaper per kind of output, used by every sink: the log must stay
//! text (`grep` never says "binary file matches"), a table cell stays one
//! cell, XML stays well-formed.

/// Terminal colour codes and other escape sequences, removed.
pub fn strip_ansi(s: &str) -> String {
    match crate::capture::normalize::strip_ansi(s.as_bytes()) {
        std::borrow::Cow::Borrowed(_) => s.to_string(),
        std::borrow::Cow::Owned(b) => String::from_utf8_lossy(&b).into_owned(),
    }
}

/// Control characters (other than newline and tab) shown as `\xNN` /
/// `\u{…}`, so the text is safe to `cat` and to grep.
pub fn control(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (0x80..=0x9f).contains(&(c as u32)) || matches!(c as u32, 0xfffe | 0xffff) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// One markdown table cell: escapes, no line breaks, no column breaks.
pub fn cell(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    control(&strip_ansi(&flat).replace('\\', "\\\\").replace('|', "\\|"))
}

/// Text XML 1.0 can carry: ANSI stripped, forbidden characters dropped
/// (a suite printing U+FFFE must not make the report unreadable).
pub fn xml_text(s: &str) -> String {
    strip_ansi(s)
        .chars()
        .filter(|&c| {
            matches!(c as u32,
                0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(control("a\0b\x1b[31mc\r"), "a\\x00b\\x1b[31mc\\x0d");
        assert_eq!(control("ok\ttab\nline"), "ok\ttab\nline");
        assert_eq!(cell("x|y\rz\n\x1b[1mw"), "x\\|y z w");
        assert_eq!(xml_text("a\u{fffe}b\x01c\x1b[31md"), "abcd");
    }
}
