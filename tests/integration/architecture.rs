//! The layering of src/: the graph of its top-level modules, read from the
//! `crate::…` paths of the product code (test code may reach up: a test of
//! the rules that feeds them through the scanner is not a dependency of the
//! rules), has no cycle. docs/architecture.md names the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where an edge was seen: `src/report/mod.rs:14`.
type Edges = BTreeMap<String, BTreeMap<String, String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The text with comments, string and char literals blanked (newlines
/// kept, so line numbers stay right).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, s: &[u8]| {
        out.extend(s.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }))
    };
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(rest.len(), |e| e + 4);
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"r\"") || rest.starts_with(b"r#") {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            if rest.get(1 + hashes) != Some(&b'"') {
                out.push(b[i]);
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            let end = text[i + body..]
                .find(&close)
                .map_or(rest.len(), |e| body + e + close.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'\'' {
            // A char literal ('x', '\n', '\u{1b}'), not a lifetime ('a).
            let end = if rest.get(1) == Some(&b'\\') {
                rest[2..].iter().position(|&c| c == b'\'').map(|e| e + 3)
            } else {
                let ch = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                (rest.get(1 + ch) == Some(&b'\'')).then_some(ch + 2)
            };
            match end {
                Some(end) => {
                    blank(&mut out, &rest[..end]);
                    i += end;
                }
                None => {
                    out.push(b'\'');
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("blanking keeps UTF-8 boundaries")
}

/// From `at` (just past an item's attributes) to the end of the item: the
/// first `;` at depth 0, or the brace group that opens first.
fn item_end(code: &[u8], at: usize) -> usize {
    let mut depth = 0usize;
    for (k, &c) in code.iter().enumerate().skip(at) {
        match c {
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 && c == b'}' {
                    return k + 1;
                }
            }
            b';' if depth == 0 => return k + 1,
            _ => {}
        }
    }
    code.len()
}

/// Past the attributes starting at `at`.
fn skip_attributes(code: &str, mut at: usize) -> usize {
    loop {
        let rest = &code[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if trimmed.starts_with("#[") {
            at = item_end_bracket(code.as_bytes(), at + 1);
        } else {
            return at;
        }
    }
}

fn item_end_bracket(code: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, &c) in code.iter().enumerate().skip(open) {
        match c {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// The product code of one file: `#[cfg(test)]` items blanked; and the
/// `mod x;` files it declares, each with whether it is test code.
fn product_code(code: &str) -> (String, Vec<(String, bool)>) {
    let mut out = code.as_bytes().to_vec();
    let mut children = Vec::new();
    let bytes = code.as_bytes();
    let mut test_spans = Vec::new();
    let mut from = 0;
    while let Some(off) = code[from..].find("#[cfg(test)]") {
        let start = from + off;
        let body = skip_attributes(code, start);
        let end = item_end(bytes, body);
        test_spans.push((start, end));
        from = end.max(start + 1);
    }
    let mod_decl = regex::Regex::new(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;").unwrap();
    for m in mod_decl.captures_iter(code) {
        let whole = m.get(0).unwrap();
        let in_test = test_spans
            .iter()
            .any(|(s, e)| whole.start() >= *s && whole.end() <= *e);
        children.push((m[1].to_string(), in_test));
    }
    for (s, e) in &test_spans {
        for c in &mut out[*s..*e] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    }
    (String::from_utf8(out).unwrap(), children)
}

/// Every file of a module tree with whether it is test code.
fn files_of(root: &Path, test: bool, found: &mut Vec<(PathBuf, bool)>) {
    let original =
        std::fs::read_to_string(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let code = code_only(&original);
    let (_, children) = product_code(&code);
    found.push((root.to_path_buf(), test));
    let name = root.file_stem().unwrap().to_string_lossy().to_string();
    let dir = if name == "mod" || root.parent() == Some(&src()) && name == "lib" {
        root.parent().unwrap().to_path_buf()
    } else {
        root.with_extension("")
    };
    let path_attr = regex::Regex::new(r#"#\[path\s*=\s*"([^"]+)"\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;"#).unwrap();
    let mut renamed = BTreeMap::new();
    for c in path_attr.captures_iter(&original) {
        renamed.insert(c[2].to_string(), root.parent().unwrap().join(&c[1]));
    }
    // `#[path = "x.rs"] mod y;` (read from the text before its literal was blanked).
    for (child, child_test) in children {
        let file = renamed.get(&child).cloned().unwrap_or_else(|| {
            let flat = dir.join(format!("{child}.rs"));
            if flat.exists() {
                flat
            } else {
                dir.join(&child).join("mod.rs")
            }
        });
        files_of(&file, test || child_test, found);
    }
}

/// The top-level modules `lib.rs` declares.
fn top_modules() -> Vec<String> {
    let lib = code_only(&std::fs::read_to_string(src().join("lib.rs")).unwrap());
    let (_, children) = product_code(&lib);
    children.into_iter().map(|(n, _)| n).collect()
}

/// The top-level modules a piece of product code names through `crate::`.
fn named_modules(code: &str, tops: &BTreeSet<String>) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue; // `$crate::`, `mycrate::`
        }
        let after = at + "crate::".len();
        let rest = &code[after..];
        if rest.starts_with('{') {
            // `crate::{a, b::{c, d}}`: the names at the group's top level.
            let end = item_end(bytes, after) - after;
            let group = &rest[1..end - 1];
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars().chain([',']) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let name: String = item
                            .trim()
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if tops.contains(&name) {
                            found.push((name, line_of(at)));
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if tops.contains(&name) {
                found.push((name, line_of(at)));
            }
        }
    }
    found
}

fn module_graph() -> (BTreeSet<String>, Edges) {
    let tops: BTreeSet<String> = top_modules().into_iter().collect();
    let mut edges = Edges::new();
    for top in &tops {
        let flat = src().join(format!("{top}.rs"));
        let root = if flat.exists() {
            flat
        } else {
            src().join(top).join("mod.rs")
        };
        let mut files = Vec::new();
        files_of(&root, false, &mut files);
        for (file, test) in files {
            if test {
                continue;
            }
            let code = code_only(&std::fs::read_to_string(&file).unwrap());
            let (product, _) = product_code(&code);
            let shown = file
                .strip_prefix(src().parent().unwrap())
                .unwrap()
                .display()
                .to_string();
            for (to, line) in named_modules(&product, &tops) {
                if &to != top {
                    edges
                        .entry(top.clone())
                        .or_default()
                        .entry(to)
                        .or_insert_with(|| format!("{shown}:{line}"));
                }
            }
        }
    }
    (tops, edges)
}

/// Each cycle, as `a -> b (file:line) -> a (file:line)`: one per strongly
/// connected group of modules (Tarjan), shortest path back found by BFS.
fn cycles(nodes: &BTreeSet<String>, edges: &Edges) -> Vec<String> {
    let out =
        |n: &str| -> Vec<&String> { edges.get(n).map(|m| m.keys().collect()).unwrap_or_default() };
    // Reachability is enough for a few dozen modules: a and b are in one
    // cycle when each reaches the other.
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(n) = todo.pop() {
            for m in out(&n) {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let mut found = Vec::new();
    for n in nodes {
        if reported.contains(n) || !reach(n).contains(n) {
            continue;
        }
        // The shortest way back to n.
        let mut prev: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([n.clone()]);
        'bfs: while let Some(x) = queue.pop_front() {
            for y in out(&x) {
                if !prev.contains_key(y) {
                    prev.insert(y.clone(), x.clone());
                    if y == n {
                        break 'bfs;
                    }
                    queue.push_back(y.clone());
                }
            }
        }
        let mut path = vec![n.clone()];
        let mut at = prev[n].clone();
        while &at != n {
            path.push(at.clone());
            at = prev[&at].clone();
        }
        path[1..].reverse();
        path.push(n.clone());
        let mut text = n.clone();
        for w in path.windows(2) {
            text.push_str(&format!(" -> {} ({})", w[1], edges[&w[0]][&w[1]]));
        }
        let group: BTreeSet<String> = reach(n)
            .into_iter()
            .filter(|m| reach(m).contains(n))
            .collect();
        reported.extend(group);
        found.push(text);
    }
    found
}

#[test]
fn the_top_level_modules_form_no_cycle() {
    let (tops, edges) = module_graph();
    // Guards against a reader that finds nothing (and so no cycle).
    assert!(
        tops.len() >= 15,
        "top-level modules read from src/lib.rs: {tops:?}"
    );
    assert!(
        edges
            .get("run")
            .is_some_and(|e| e.contains_key("report") && e.contains_key("transport")),
        "run's edges were not read: {edges:?}"
    );
    let found = cycles(&tops, &edges);
    assert!(
        found.is_empty(),
        "src/'s top-level modules form {} cycle(s); each edge names where it is used:\n  {}",
        found.len(),
        found.join("\n  ")
    );
}

#[test]
fn the_cycle_finder_names_a_cycle_and_test_code_is_left_out() {
    let nodes: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
    let mut edges = Edges::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        edges
            .entry(from.into())
            .or_default()
            .insert(to.into(), format!("src/{from}.rs:1"));
    }
    assert_eq!(
        cycles(&nodes, &edges),
        ["a -> b (src/a.rs:1) -> c (src/b.rs:1) -> a (src/c.rs:1)"]
    );
    let tops: BTreeSet<String> = ["report", "run", "model"].map(String::from).into();
    let code = code_only(
        "use crate::{model::X, report::{self, Y}};\n// crate::run\nlet s = \"crate::run\";\n#[cfg(test)]\nmod tests {\n    use crate::run::Z;\n}\n",
    );
    let (product, children) = product_code(&code);
    let named: Vec<String> = named_modules(&product, &tops)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(named, ["model", "report"]);
    assert!(children.is_empty());
    let (_, children) = product_code(&code_only("#[cfg(test)]\nmod tests;\nmod plain;\n"));
    assert_eq!(
        children,
        [("tests".to_string(), true), ("plain".to_string(), false)]
    );
}
