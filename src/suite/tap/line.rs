//! The grammar of one TAP line: a test point and its directive, `Bail out!`,
//! TAP's escapes, and the one-line YAML scalars of a diagnostic block.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Directive {
    None,
    Skip,
    Todo,
}

/// One test point as printed.
#[derive(Debug)]
pub(super) struct Point {
    pub(super) ok: bool,
    pub(super) number: Option<u64>,
    /// Unescaped, without the leading ` - `; may be empty.
    pub(super) description: String,
    pub(super) directive: Directive,
    /// The text after `SKIP…`/`TODO…`, unescaped.
    pub(super) reason: String,
}

impl Point {
    /// `not ok` that neither TODO nor SKIP excuses.
    pub(super) fn fails(&self) -> bool {
        !self.ok && self.directive == Directive::None
    }
}

/// `(not )ok [N] [-] [description] [# directive]`, at column 0. `ok` and
/// `not ok` are case-sensitive and end at whitespace (`okay`, `ok:` are
/// log text, not points).
pub(super) fn parse_point(line: &str) -> Option<Point> {
    let (ok, rest) = match line.strip_prefix("not ok") {
        Some(rest) => (false, rest),
        None => (true, line.strip_prefix("ok")?),
    };
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let (number, rest) = split_number(rest.trim_start());
    let (description, directive) = match directive_start(rest) {
        Some(at) => (&rest[..at], parse_directive(&rest[at + 1..])),
        None => (rest, None),
    };
    let (directive, reason) = match directive {
        Some((d, reason)) => (d, unescape(reason)),
        // An unknown directive stays part of the description.
        None => (Directive::None, String::new()),
    };
    let description = if directive == Directive::None {
        rest
    } else {
        description
    };
    Some(Point {
        ok,
        number,
        description: unescape(strip_dash(description.trim())),
        directive,
        reason,
    })
}

/// The test number, when the text starts with digits ending at whitespace.
/// One too large for u64 is kept as u64::MAX: outside any plan.
fn split_number(s: &str) -> (Option<u64>, &str) {
    let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let after = &s[digits..];
    if digits == 0 || !(after.is_empty() || after.starts_with(char::is_whitespace)) {
        return (None, s);
    }
    let number = s[..digits].parse::<u64>().unwrap_or(u64::MAX);
    (Some(number), after.trim_start())
}

/// `- description` and `description` are the same description.
fn strip_dash(s: &str) -> &str {
    match s.strip_prefix('-') {
        Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => rest.trim_start(),
        _ => s,
    }
}

/// Byte offset of the directive `#`: the first unescaped `#` that follows
/// whitespace (or an escaped backslash, as in the spec's `hello \\# todo`).
/// `s` starts right after whitespace, so a `#` at 0 qualifies. A `#` glued
/// to a word (`page.html#skip`) is text.
fn directive_start(s: &str) -> Option<usize> {
    let mut after_gap = true;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' if after_gap => return Some(i),
            '\\' => match chars.clone().next() {
                Some((_, '\\')) => {
                    chars.next();
                    after_gap = true;
                    continue;
                }
                Some((_, '#')) => {
                    chars.next();
                    after_gap = false;
                    continue;
                }
                _ => {}
            },
            _ => {}
        }
        after_gap = c.is_whitespace();
    }
    None
}

/// The TAP 14 rule `#\s*(SKIP|TODO)\S*(\s+reason)?`, any case: `# skipped`,
/// `# Skip: why` and `#todo` count; `# skipper` does too, as the spec says.
fn parse_directive(s: &str) -> Option<(Directive, &str)> {
    let s = s.trim_start();
    let word_end = s.find(char::is_whitespace).unwrap_or(s.len());
    let word = s.get(..4)?.to_ascii_lowercase();
    let directive = match word.as_str() {
        "skip" => Directive::Skip,
        "todo" => Directive::Todo,
        _ => return None,
    };
    Some((directive, s[word_end..].trim()))
}

/// `Bail out!` (any case) and its reason, unescaped.
pub(super) fn bail_out(line: &str) -> Option<String> {
    let head = line.get(..9)?;
    if !head.eq_ignore_ascii_case("bail out!") {
        return None;
    }
    Some(unescape(line[9..].trim()))
}

/// TAP escapes: `\\` is `\`, `\#` is `#`; any other backslash is literal.
pub(super) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next @ ('\\' | '#')) = chars.peek()
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// A YAML scalar on one line: `'it''s'`, `"say \"hi\""`, or plain.
pub(super) fn unquote_yaml(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.replace("''", "'");
    }
    if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        return unescape_double_quoted(inner);
    }
    value.to_string()
}

/// The common escapes of a double-quoted YAML scalar; a newline becomes a
/// space (details are one line).
fn unescape_double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 't' | 'r') => out.push(' '),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests;
