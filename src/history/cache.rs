//! What history has read, kept under the git directory
//! (`<git-common-dir>/stagerun/history.cache`), keyed by the commits it has
//! read: the ref tips at the time. While the refs are the same, no `git
//! log` runs at all; when they moved forward, only the new commits are
//! read; when one was rewritten or deleted, everything is read again. A
//! cache written by another stagerun version is not used (the parser may
//! differ). Lines of text: names once, then one line per run by number.

use super::{Mark, Names, Run, Store};
use crate::exit::Verdict;
use std::io::Write;
use std::path::{Path, PathBuf};

const HEADER: &str = concat!("stagerun.history-cache/1 ", env!("CARGO_PKG_VERSION"));

pub struct Cache {
    pub tips: Vec<String>,
    pub store: Store,
}

pub fn path(common_dir: &Path) -> PathBuf {
    common_dir.join("stagerun").join("history.cache")
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn verdict_letter(v: Verdict) -> char {
    match v {
        Verdict::Success => 'S',
        Verdict::Failed => 'F',
        Verdict::Hold => 'H',
    }
}

/// None: no cache, another version's, or damaged (then it is rebuilt).
pub fn read(common_dir: &Path) -> Option<Cache> {
    let text = std::fs::read_to_string(path(common_dir)).ok()?;
    let mut lines = text.split('\n');
    if lines.next()? != HEADER {
        return None;
    }
    let n_tips = count(lines.next()?, "tips")?;
    let tips: Vec<String> = lines.by_ref().take(n_tips).map(str::to_string).collect();
    let n_names = count(lines.next()?, "names")?;
    let mut names = Names::default();
    for line in lines.by_ref().take(n_names) {
        let name = unescape(line);
        names.index.insert(name.clone(), names.list.len() as u32);
        names.list.push(name);
    }
    if names.list.len() != n_names || tips.len() != n_tips {
        return None;
    }
    let n_runs = count(lines.next()?, "runs")?;
    let mut store = Store {
        names,
        ..Store::default()
    };
    for line in lines.by_ref().take(n_runs) {
        let run = run_line(line, store.names.list.len() as u32)?;
        store.add(run);
    }
    if store.len() != n_runs || lines.next() != Some("end") {
        return None;
    }
    Some(Cache { tips, store })
}

/// `NAME N`: a section of N lines.
fn count(line: &str, name: &str) -> Option<usize> {
    line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()
}

fn run_line(line: &str, names: u32) -> Option<Run> {
    let mut f = line.split(' ');
    let name = |s: Option<&str>| -> Option<u32> { s?.parse().ok().filter(|n| *n < names) };
    let work_item = name(f.next())?;
    let repo = name(f.next())?;
    let outcome = name(f.next())?;
    let started_ms = f.next()?.parse().ok()?;
    let verdict = match f.next()? {
        "S" => Verdict::Success,
        "F" => Verdict::Failed,
        "H" => Verdict::Hold,
        _ => return None,
    };
    let answered = f.next()? == "1";
    let fingerprint = u64::from_str_radix(f.next()?, 16).ok()?;
    let mut checks = Vec::new();
    for item in f.next().unwrap_or("").split(',').filter(|s| !s.is_empty()) {
        let (id, mark) = item.split_once(':')?;
        let id = name(Some(id))?;
        let mark = Mark::from_letter(mark.chars().next()?)?;
        checks.push((id, mark));
    }
    Some(Run {
        work_item,
        repo,
        outcome,
        started_ms,
        verdict,
        answered,
        fingerprint,
        checks: checks.into(),
    })
}

pub fn write(common_dir: &Path, tips: &[String], store: &Store) -> std::io::Result<()> {
    let file = path(common_dir);
    let dir = file.parent().unwrap_or(common_dir);
    std::fs::create_dir_all(dir)?;
    let mut out = String::with_capacity(64 + store.len() * 96);
    out.push_str(HEADER);
    out.push_str(&format!("\ntips {}\n", tips.len()));
    for t in tips {
        out.push_str(t);
        out.push('\n');
    }
    out.push_str(&format!("names {}\n", store.names.list.len()));
    for n in &store.names.list {
        out.push_str(&escape(n));
        out.push('\n');
    }
    out.push_str(&format!("runs {}\n", store.len()));
    for r in store.runs() {
        out.push_str(&format!(
            "{} {} {} {} {} {} {:x} ",
            r.work_item,
            r.repo,
            r.outcome,
            r.started_ms,
            verdict_letter(r.verdict),
            u8::from(r.answered),
            r.fingerprint
        ));
        for (i, (id, mark)) in r.checks.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&id.to_string());
            out.push(':');
            out.push(mark.letter());
        }
        out.push('\n');
    }
    out.push_str("end\n");
    let mut tmp = tempfile::Builder::new()
        .prefix(".history.cache.")
        .tempfile_in(dir)?;
    tmp.write_all(out.as_bytes())?;
    tmp.persist(&file).map_err(|e| e.error)?;
    Ok(())
}
