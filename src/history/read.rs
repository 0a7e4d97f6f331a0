//! Reading the runs: the cache's runs, then the commits it has not read
//! (`git log --raw` names each new log version, one `git cat-file --batch`
//! streams their contents, one at a time: memory does not grow with the
//! logs' size), then the logs in the work tree that differ from HEAD.

use super::git::{self, Git, Stop};
use super::{Store, cache, parse};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A log version is read up to this much; the rest (output tails) is
/// skipped unread. The check table sits well inside it.
const KEEP: u64 = 4 << 20;

pub struct Options {
    pub deadline: Option<Instant>,
    pub signals_since: Option<usize>,
    /// Use and update the cache under the git directory.
    pub cache: bool,
}

pub use crate::model::CacheUse;

pub struct Loaded {
    pub repo: git::Repo,
    pub store: Store,
    pub cache: CacheUse,
    /// Log versions read from git this time (0 with a warm cache).
    pub versions_read: usize,
    /// Logs read from the work tree.
    pub work_tree_logs: usize,
    pub duration: Duration,
}

/// Every run of the repository holding `path`; Ok(None) outside of one.
pub fn load(path: &Path, opts: &Options) -> Result<Option<Loaded>, Stop> {
    let started = Instant::now();
    let mut git = Git {
        dir: path.to_path_buf(),
        deadline: opts.deadline,
        signals_since: opts.signals_since,
    };
    let Some(repo) = git::discover(path, &git)? else {
        return Ok(None);
    };
    git.dir = repo.top.clone();
    // The work tree's status, the cache file and the refs are independent:
    // read at once (a failing run waits for this).
    let (tips, cached, work_tree) = std::thread::scope(|sc| {
        let status = repo
            .work_tree
            .then(|| sc.spawn(|| git::work_tree_logs(&git)));
        let cached = sc.spawn(|| {
            if opts.cache {
                cache::read(&repo.common_dir)
            } else {
                None
            }
        });
        let tips = git::tips(&git, repo.head.as_deref());
        let cached = cached.join().unwrap_or(None);
        let status = status.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(Stop::Failed("git status".into())))
        });
        (tips, cached, status)
    });
    let tips = tips?;
    let (mut store, cache_use, versions_read) = match cached {
        Some(c) if c.tips == tips => (c.store, CacheUse::Warm, 0),
        Some(c) if !git::lost_commits(&git, &c.tips, &tips)? => {
            let mut store = c.store;
            let n = read_commits(&git, &tips, &c.tips, &mut store)?;
            (store, CacheUse::Updated, n)
        }
        _ => {
            let mut store = Store::default();
            let n = read_commits(&git, &tips, &[], &mut store)?;
            let used = if opts.cache {
                CacheUse::Cold
            } else {
                CacheUse::Off
            };
            (store, used, n)
        }
    };
    if opts.cache && cache_use != CacheUse::Warm {
        // Best effort: a read-only git folder only costs the next read.
        let _ = cache::write(&repo.common_dir, &tips, &store);
    }
    let work_tree_logs = match work_tree {
        Some(paths) => read_work_tree(&repo.top, paths?, &mut store),
        None => 0,
    };
    Ok(Some(Loaded {
        repo,
        store,
        cache: cache_use,
        versions_read,
        work_tree_logs,
        duration: started.elapsed(),
    }))
}

/// Reads every log version in the commits reachable from `tips` but not
/// from `known`; the number of versions read.
fn read_commits(
    git: &Git,
    tips: &[String],
    known: &[String],
    store: &mut Store,
) -> Result<usize, Stop> {
    if tips.is_empty() {
        return Ok(0);
    }
    let mut revs = String::new();
    for t in tips {
        revs.push_str(t);
        revs.push('\n');
    }
    if !known.is_empty() {
        revs.push_str("--not\n");
        for t in known {
            revs.push_str(t);
            revs.push('\n');
        }
    }
    let mut log = git.spawn(
        &[
            "log",
            "--stdin",
            "--ignore-missing",
            "--no-renames",
            "--raw",
            "--no-abbrev",
            "-z",
            "--format=",
            "--",
            git::PATHSPEC,
        ],
        Some(revs.into_bytes()),
        false,
    )?;
    let mut cat = git.spawn(&["cat-file", "--batch", "--buffer"], None, true)?;
    let log_out = log.stdout.take();
    let cat_in = cat.stdin.take();
    // One thread names the versions while this one reads their contents.
    let naming = std::thread::spawn(move || name_versions(log_out, cat_in));
    let read = match cat.stdout.take() {
        Some(out) => read_blobs(out, store),
        None => Ok(0),
    };
    let stopped = cat.stopped().or_else(|| log.stopped());
    if stopped.is_some() || read.is_err() {
        // Killing both ends the naming thread too (a broken pipe).
        drop(cat);
        drop(log);
        let _ = naming.join();
        return Err(stopped.unwrap_or_else(|| {
            Stop::Failed(format!(
                "git cat-file's output could not be read: {}",
                read.err().map(|e| e.to_string()).unwrap_or_default()
            ))
        }));
    }
    let named = naming.join().unwrap_or(Err(()));
    log.finish()?;
    cat.finish()?;
    if named.is_err() {
        return Err(Stop::Failed("git log's output could not be read".into()));
    }
    read.map_err(|e| Stop::Failed(e.to_string()))
}

/// `git log --raw -z`: `:MODES OLD NEW STATUS\0PATH\0` per change; each
/// new blob is sent to cat-file once.
fn name_versions(
    out: Option<std::process::ChildStdout>,
    cat_in: Option<std::process::ChildStdin>,
) -> Result<(), ()> {
    let (Some(out), Some(cat_in)) = (out, cat_in) else {
        return Err(());
    };
    let mut cat_in = std::io::BufWriter::with_capacity(64 * 1024, cat_in);
    let mut seen: HashSet<[u8; 20]> = HashSet::new();
    let mut reader = BufReader::with_capacity(256 * 1024, out);
    let mut token = Vec::new();
    loop {
        token.clear();
        match reader.read_until(0, &mut token) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return Err(()),
        }
        if token.last() == Some(&0) {
            token.pop();
        }
        let Some(oid) = new_blob(&token) else {
            continue;
        };
        let mut key = [0u8; 20];
        for (k, pair) in key.iter_mut().zip(oid.chunks(2)) {
            *k = hex_byte(pair);
        }
        if seen.insert(key) && (cat_in.write_all(oid).is_err() || cat_in.write_all(b"\n").is_err())
        {
            return Err(());
        }
    }
    cat_in.flush().map_err(|_| ())
}

/// The new blob of a raw change line (`:100644 100644 OLD NEW M`), unless
/// the file was deleted.
fn new_blob(token: &[u8]) -> Option<&[u8]> {
    let rest = token.strip_prefix(b":")?;
    let mut fields = rest.split(|b| *b == b' ');
    let new = fields.nth(3)?;
    let status = fields.next()?;
    if status.first() == Some(&b'D') || new.iter().all(|b| *b == b'0') || new.len() < 40 {
        return None;
    }
    Some(new)
}

fn hex_byte(pair: &[u8]) -> u8 {
    let v = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
    match pair {
        [a, b] => v(*a) << 4 | v(*b),
        _ => 0,
    }
}

/// `OID blob SIZE\nCONTENT\n` per object; each parsed as it arrives.
fn read_blobs(out: std::process::ChildStdout, store: &mut Store) -> std::io::Result<usize> {
    let mut reader = BufReader::with_capacity(256 * 1024, out);
    let mut header = String::new();
    let mut content = Vec::new();
    let mut n = 0;
    loop {
        header.clear();
        if reader.read_line(&mut header)? == 0 {
            return Ok(n);
        }
        let mut fields = header.split_whitespace();
        let (Some(oid), Some(kind), Some(size)) = (fields.next(), fields.next(), fields.next())
        else {
            continue; // `OID missing`
        };
        let size: u64 = size
            .parse()
            .map_err(|_| std::io::Error::other("bad size"))?;
        content.clear();
        (&mut reader)
            .take(size.min(KEEP))
            .read_to_end(&mut content)?;
        if size > KEEP {
            std::io::copy(&mut (&mut reader).take(size - KEEP), &mut std::io::sink())?;
        }
        let mut newline = [0u8; 1];
        reader.read_exact(&mut newline)?;
        if kind != "blob" {
            continue;
        }
        n += 1;
        if let Some(log) = parse::parse(&content) {
            store.add_log(log, oid_fingerprint(oid));
        }
    }
}

/// A version's fingerprint is its blob id's first 64 bits.
fn oid_fingerprint(oid: &str) -> u64 {
    u64::from_str_radix(oid.get(..16).unwrap_or("0"), 16).unwrap_or(0)
}

fn read_work_tree(top: &Path, paths: Vec<PathBuf>, store: &mut Store) -> usize {
    let mut n = 0;
    for rel in paths {
        let path: PathBuf = top.join(rel);
        let Ok(f) = std::fs::File::open(&path) else {
            continue;
        };
        let mut bytes = Vec::new();
        if f.take(KEEP).read_to_end(&mut bytes).is_err() {
            continue;
        }
        n += 1;
        if let Some(log) = parse::parse(&bytes) {
            store.add_log(log, super::fingerprint(&bytes));
        }
    }
    n
}
