//! `15-staging-log.md`: YAML front matter for machines (exactly one
//! `staging_status:` line), a human section below. Written atomically: a
//! temp file in the same folder, fsync, rename, fsync of the folder. When
//! the new verdict cannot be recorded, the previous one must not keep
//! gating: a marker beside the log makes `gate` read HOLD.

use super::escape;
use super::{RunDetails, RunReport, staging_log_schema};
use crate::error::describe_io;
use crate::exit::Verdict;
pub use crate::workitem::unrecorded_marker;
use std::io::{Read, Write};
use std::path::Path;

pub const SCHEMA_PREFIX: &str = "stagerun.staging-log/";
/// Versions `gate` understands.
pub const KNOWN_SCHEMAS: [&str; 2] = ["stagerun.staging-log/1", "stagerun.staging-log/2"];
/// `gate` reads at most this much: the front matter is small.
pub const FRONT_MATTER_MAX: u64 = 256 * 1024;
/// Keys describing what happens after the log is written, and where the
/// history notes were read from (a local path, a timing); not in the log.
const AFTER_WRITE: [&str; 7] = [
    "log",
    "log_path",
    "log_written",
    "push",
    "alert",
    "live_output_dropped_bytes",
    "history",
];

/// A fence longer than any backtick run in the text, so suite output can
/// never close it early.
fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// A pipeline may grep the whole file for `^staging_status:`; output that
/// happens to contain such a line is indented so only the front matter's
/// line can match.
fn neutralize_status_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.starts_with("staging_status") {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

fn front_matter(r: &RunReport) -> Result<String, String> {
    let mut map = serde_json::Map::new();
    map.insert("schema".into(), staging_log_schema().into());
    map.insert("staging_status".into(), r.staging_verdict().as_str().into());
    map.insert("exit_code".into(), r.exit_code.into());
    map.insert("reason".into(), control_value(&r.reason));
    if let Some(run) = &r.run
        && let serde_json::Value::Object(fields) =
            serde_json::to_value(run).map_err(|e| e.to_string())?
    {
        for (k, v) in fields {
            if !AFTER_WRITE.contains(&k.as_str()) && !map.contains_key(&k) {
                map.insert(k, v);
            }
        }
    }
    let mut options = serde_saphyr::SerializerOptions::default();
    // One line per scalar: the front matter is read by scripts too.
    options.prefer_block_scalars = false;
    serde_saphyr::to_string_with_options(&serde_json::Value::Object(map), options)
        .map_err(|e| e.to_string())
}

fn control_value(s: &str) -> serde_json::Value {
    escape::control(s).into()
}

pub fn render(r: &RunReport) -> Result<String, String> {
    let front = front_matter(r)?;
    let run = r.run.as_ref();
    let mut out = String::with_capacity(front.len() + 8192);
    out.push_str("---\n");
    out.push_str(&front);
    if !front.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("---\n\n");
    let work_item = run.map(|d| d.work_item.as_str()).unwrap_or("");
    out.push_str(&format!("# Staging log — {work_item}\n\n"));
    let summary = run.map(|d| d.summary.as_str()).unwrap_or("");
    out.push_str(&format!(
        "**Verdict: {}** — {}\n\n",
        r.staging_verdict(),
        escape::control(summary)
    ));
    if let Some(d) = run {
        outcome_lines(&mut out, r, d);
    }
    if let Some(d) = run.filter(|d| !d.preflight.is_empty()) {
        preflight_section(&mut out, d);
    }
    checks_section(&mut out, r, summary);
    if let Some(d) = run {
        attempts_section(&mut out, d);
    }
    for (title, tail) in [("stdout", &r.stdout_tail), ("stderr", &r.stderr_tail)] {
        out.push_str(&format!("## {title} (tail, last attempt)\n\n"));
        if tail.is_empty() {
            out.push_str("_empty_\n\n");
        } else {
            let tail = neutralize_status_lines(&escape::control(tail));
            let fence = fence_for(&tail);
            out.push_str(&format!("{fence}text\n{tail}{fence}\n\n"));
        }
    }
    Ok(out)
}

fn outcome_lines(out: &mut String, r: &RunReport, d: &RunDetails) {
    out.push_str(&format!(
        "- Outcome: `{}` (rule `{}`): {}\n",
        d.outcome.as_str(),
        d.rule,
        escape::control(&r.reason)
    ));
    if r.staging_verdict() != Verdict::Success
        && let Some(fix) = &d.fix
    {
        out.push_str(&format!("- What to do: {fix}\n"));
    }
    out.push_str(&format!(
        "- Repo `{}`, {} (engine {}), suite format {}, {} of {} attempts used, {:.1}s, {} → {}\n",
        d.repo,
        d.channel,
        d.engine,
        d.suite_format,
        d.attempts.len(),
        d.attempts_allowed,
        d.duration_s,
        d.started_at,
        d.finished_at
    ));
    out.push_str(&format!(
        "- Suite stopped where it runs: {}{}\n",
        d.remote_cleanup,
        d.remote_cleanup_detail
            .as_deref()
            .map(|x| format!(" ({})", escape::control(x)))
            .unwrap_or_default()
    ));
    if let Some(rec) = &d.recovered {
        out.push_str(&format!("- Recovered: {}\n", escape::control(rec)));
    }
    if let Some(a) = &d.adopted_run {
        out.push_str(&format!(
            "- Adopted: the verdict is that of run `{}`, started {} by an earlier invocation whose runner was gone; the suite was not started again\n",
            a.run, a.started_at
        ));
    }
    if d.reattaches > 0 {
        out.push_str(&format!(
            "- Reattached: the channel was lost {} mid-suite, and stagerun read on in the same run (see Reattaches); the suite started once\n",
            if d.reattaches == 1 { "once".to_string() } else { format!("{} times", d.reattaches) }
        ));
    }
    out.push('\n');
}

fn preflight_section(out: &mut String, d: &RunDetails) {
    out.push_str("## Preflight\n\n| Step | Result | Detail |\n|---|---|---|\n");
    for s in &d.preflight {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            escape::cell(&s.name),
            if s.ok { "ok" } else { "FAIL" },
            escape::cell(&s.detail)
        ));
    }
    out.push('\n');
}

fn checks_section(out: &mut String, r: &RunReport, summary: &str) {
    out.push_str("## Checks\n\n");
    if r.check_list.is_empty() {
        out.push_str("_The suite reported no checks._\n\n");
    } else {
        // A History column only when a failing check has one to show.
        let history = r.check_list.iter().any(|c| c.history.is_some());
        if history {
            out.push_str("| Check | Status | Detail | History |\n|---|---|---|---|\n");
        } else {
            out.push_str("| Check | Status | Detail |\n|---|---|---|\n");
        }
        for c in &r.check_list {
            out.push_str(&format!(
                "| {} | {} | {} |",
                escape::cell(&c.id),
                c.status.as_str(),
                escape::cell(&c.detail)
            ));
            if history {
                let note = c.history.as_ref().map(|h| h.text.as_str()).unwrap_or("");
                out.push_str(&format!(" {} |", escape::cell(note)));
            }
            out.push('\n');
        }
        out.push_str(&format!("\n{}\n\n", escape::control(summary)));
    }
}

fn attempts_section(out: &mut String, d: &RunDetails) {
    out.push_str("## Attempts\n\n| # | Class | Rule | Provenance | Exit | Suite | Duration | Remote cleanup | Failing checks |\n|---|---|---|---|---|---|---|---|---|\n");
    for a in &d.attempts {
        let exit = match (&a.exit_code, &a.signal) {
            (Some(c), _) => c.to_string(),
            (None, Some(s)) => s.clone(),
            (None, None) => "—".into(),
        };
        let suite = a
            .suite_status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "—".into());
        let failing: Vec<String> = a
            .failed_checks
            .iter()
            .map(|c| format!("{} {}", c.id, c.detail))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1}s | {} | {} |\n",
            a.attempt,
            a.class,
            a.rule,
            a.provenance,
            exit,
            suite,
            a.duration_s,
            a.remote_cleanup,
            escape::cell(&failing.join("; "))
        ));
    }
    let lost: Vec<_> = d
        .attempts
        .iter()
        .flat_map(|a| a.reattaches.iter().map(move |r| (a.attempt, r)))
        .collect();
    if !lost.is_empty() {
        out.push_str("\n## Reattaches\n\n| Attempt | Lost at | Away | Resumed at (stdout, stderr bytes) | Tries | Cause | Result |\n|---|---|---|---|---|---|---|\n");
        for (attempt, r) in lost {
            out.push_str(&format!(
                "| {attempt} | {} | {:.1}s | {}, {} | {} | {} | {} |\n",
                r.at,
                r.away_s,
                r.stdout_offset,
                r.stderr_offset,
                r.tries,
                escape::cell(&r.cause),
                if r.resumed { "read on" } else { "gave up" }
            ));
        }
    }
    let command = escape::control(&d.command);
    let fence = fence_for(&command);
    out.push_str(&format!("\n## Command\n\n{fence}\n{command}\n{fence}\n\n"));
}

/// How a write ended.
#[derive(Debug)]
pub enum Written {
    Durable,
    /// Renamed into place, but the folder's fsync failed: readers see the
    /// new log; a crash now could bring back the old one.
    NotDurable(String),
}

/// Replaces `path` with `content` so that a reader sees the old file or the
/// new one, never a mix; Err means the old one is untouched.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<Written, String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("log");
    let fail = |what: &str, e: std::io::Error| format!("{what}: {}", describe_io(&e));
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| fail("cannot create a temp file", e))?;
    tmp.write_all(content)
        .map_err(|e| fail("cannot write", e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| fail("cannot sync", e))?;
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| fail("cannot set permissions", e))?;
    tmp.persist(path)
        .map_err(|e| fail("cannot rename into place", e.error))?;
    // The rename is durable only once the folder is synced.
    match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        Ok(()) => Ok(Written::Durable),
        Err(e) => Ok(Written::NotDurable(describe_io(&e))),
    }
}

/// Leaves a record that `gate` reads as HOLD after a verdict could not be
/// written; says what now stands.
pub fn mark_unrecorded(log: &Path, why: &str) -> String {
    let marker = unrecorded_marker(log);
    // Creating an empty file needs no data block: it works on a full disk.
    match std::fs::File::create(&marker) {
        Ok(mut f) => {
            let _ = writeln!(f, "{why}");
            let _ = f.sync_all();
            format!(
                "{} marks the verdict as not recorded; gate reads HOLD",
                marker.display()
            )
        }
        Err(marker_err) => match hold_in_place(log) {
            Ok(true) => format!(
                "the marker could not be created ({}); the previous log's status line now reads HOLD instead",
                describe_io(&marker_err)
            ),
            Ok(false) => format!(
                "no previous log, and no marker could be created ({}); gate finds no log and reads HOLD",
                describe_io(&marker_err)
            ),
            Err(e) => format!(
                "WARNING: neither a marker ({}) nor an in-place HOLD ({e}) could be written: gate would still read the previous verdict",
                describe_io(&marker_err)
            ),
        },
    }
}

/// Rewrites `staging_status: X` to HOLD in place, padded to the same
/// length: no new data block is needed, so it works on a full disk.
fn hold_in_place(log: &Path) -> Result<bool, String> {
    use std::io::{Seek, SeekFrom};
    let mut f = match std::fs::OpenOptions::new().read(true).write(true).open(log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(describe_io(&e)),
    };
    let mut head = vec![0u8; 64 * 1024];
    let n = f.read(&mut head).map_err(|e| describe_io(&e))?;
    let text = String::from_utf8_lossy(&head[..n]);
    let Some(start) = text.find("\nstaging_status: ") else {
        return Err("no status line in the previous log".into());
    };
    let value_at = start + "\nstaging_status: ".len();
    let end = text[value_at..]
        .find('\n')
        .map(|e| value_at + e)
        .unwrap_or(n);
    let width = end - value_at;
    if width < 4 {
        return Err("status line too short".into());
    }
    let replacement = format!("{:<width$}", "HOLD");
    f.seek(SeekFrom::Start(value_at as u64))
        .map_err(|e| describe_io(&e))?;
    f.write_all(replacement.as_bytes())
        .map_err(|e| describe_io(&e))?;
    f.sync_all().map_err(|e| describe_io(&e))?;
    Ok(true)
}

/// What `gate` reads back: the verdict and the schema, from at most
/// `FRONT_MATTER_MAX` bytes of a regular file.
pub fn read_verdict(path: &Path) -> Result<Verdict, String> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read {}: {}", path.display(), describe_io(&e)))?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mut head = Vec::new();
    f.take(FRONT_MATTER_MAX)
        .read_to_end(&mut head)
        .map_err(|e| format!("cannot read {}: {}", path.display(), describe_io(&e)))?;
    parse_verdict(&String::from_utf8_lossy(&head))
}

pub fn parse_verdict(text: &str) -> Result<Verdict, String> {
    let body = text
        .strip_prefix("---\n")
        .ok_or("does not start with YAML front matter (`---`)")?;
    let end = body
        .find("\n---\n")
        .ok_or("front matter is not closed by `---` within the first 256 KiB")?;
    let front = &body[..end + 1];
    let status_lines: Vec<&str> = front
        .lines()
        .filter(|l| l.trim_start().starts_with("staging_status"))
        .collect();
    match status_lines.len() {
        0 => return Err("no `staging_status:` line in the front matter".into()),
        1 => {}
        n => {
            return Err(format!(
                "{n} `staging_status:` lines; exactly one is allowed"
            ));
        }
    }
    let value = status_lines[0]
        .strip_prefix("staging_status:")
        .ok_or("`staging_status:` must start its line")?
        .trim();
    let verdict = Verdict::parse(value)
        .ok_or_else(|| format!("`staging_status: {value}` is not SUCCESS, FAILED or HOLD"))?;
    #[derive(serde::Deserialize)]
    struct SchemaOnly {
        schema: Option<String>,
    }
    let probe: SchemaOnly = serde_saphyr::from_str(front).map_err(|e| {
        format!(
            "front matter is not valid YAML: {}",
            crate::config::one_line_yaml_error(&e)
        )
    })?;
    match probe.schema.as_deref() {
        Some(s) if KNOWN_SCHEMAS.contains(&s) => Ok(verdict),
        Some(s) if s.starts_with(SCHEMA_PREFIX) => Err(format!(
            "schema `{s}` is newer than this stagerun understands ({}); upgrade stagerun",
            KNOWN_SCHEMAS.join(", ")
        )),
        Some(s) => Err(format!("unknown schema `{s}`")),
        None => Err("front matter has no `schema:`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workitem::LOG_FILE;

    #[test]
    fn malformed_logs_are_errors() {
        for bad in [
            "",
            "staging_status: SUCCESS\n",
            "---\nstaging_status: SUCCESS\n",
            "---\nschema: stagerun.staging-log/1\nstaging_status: PASSED\n---\n",
            "---\nschema: stagerun.staging-log/1\nstaging_status: SUCCESS\nstaging_status: FAILED\n---\n",
            "---\nstaging_status: SUCCESS\n---\n",
            "---\nschema: stagerun.staging-log/1\nstaging_status: SUCCESS\n: : [\n---\n",
            "---\nschema: stagerun.staging-log/999\nstaging_status: SUCCESS\n---\n",
        ] {
            assert!(parse_verdict(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_verdict("---\nschema: stagerun.staging-log/2\nstaging_status: FAILED\n---\n"),
            Ok(Verdict::Failed)
        );
    }

    #[test]
    fn hold_in_place_keeps_the_length() {
        let t = tempfile::tempdir().unwrap();
        let log = t.path().join(LOG_FILE);
        let text =
            "---\nschema: stagerun.staging-log/2\nstaging_status: SUCCESS\nx: 1\n---\nbody\n";
        std::fs::write(&log, text).unwrap();
        assert_eq!(hold_in_place(&log), Ok(true));
        let after = std::fs::read_to_string(&log).unwrap();
        assert_eq!(after.len(), text.len());
        assert_eq!(parse_verdict(&after), Ok(Verdict::Hold));
    }
}
