//! `stagerun history [PATH]`: every staging run the repository's refs and
//! work tree hold, scored per check (docs/history.md), as a table, JSON,
//! markdown or an SVG heat map.

use crate::cli::{HistoryArgs, HistoryFormat};
use crate::config;
use crate::diag::{self, Stream};
use crate::error::{Error, Result};
use crate::history::read::{self, Options};
use crate::history::report::{self, Filter, Filters};
use crate::history::score::Params;
use crate::history::{render, svg};
use std::path::PathBuf;

/// Columns of the heat map when --last is not given.
const SVG_RUNS: usize = 60;

/// `2026-12-01` (midnight UTC) or an RFC 3339 time.
fn since_ms(text: &str) -> Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| {
            Error::Usage(format!(
                "invalid value `{text}` for --since: a date (2026-12-01) or an RFC 3339 time (2026-12-01T08:00:00Z)"
            ))
        })
}

fn folder(args: &HistoryArgs) -> Result<PathBuf> {
    let path = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => Ok(path),
        Ok(_) => Err(Error::Usage(format!(
            "`{}` is not a folder (give a git repository or a folder inside one)",
            path.display()
        ))),
        Err(e) => Err(Error::Usage(format!(
            "`{}`: {}",
            path.display(),
            crate::error::describe_io(&e)
        ))),
    }
}

/// The SVG: the last --last (or 60) of the chosen runs as columns.
fn heat_map(
    args: &HistoryArgs,
    loaded: &crate::history::read::Loaded,
    runs: &[&crate::history::Run],
    r: &report::HistoryReport,
    p: &Params,
) -> String {
    let shown = args.last.unwrap_or(SVG_RUNS).min(runs.len());
    let columns = &runs[runs.len() - shown..];
    let name = args.repo.clone().unwrap_or_else(|| {
        loaded
            .repo
            .top
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    svg::Chart {
        store: &loaded.store,
        runs: columns,
        checks: &r.checks,
        title: format!("stagerun history — {name}"),
        subtitle: vec![
            format!(
                "the last {shown} of {} runs, oldest left ({} HOLD in all); {}",
                r.runs.total, r.runs.hold, r.repository
            ),
            p.describe(),
        ],
    }
    .render()
}

pub fn history(args: &HistoryArgs) -> Result<u8> {
    let format = if args.json {
        HistoryFormat::Json
    } else {
        args.format.unwrap_or(HistoryFormat::Table)
    };
    let path = folder(args)?;
    let settings = config::resolve(&config::Request::new(
        config::Purpose::Inspect,
        args.repo.as_deref().unwrap_or(""),
        args.config.as_deref(),
        Vec::new(),
    ))?;
    let p = Params::from_settings(&settings);
    let filter = Filter {
        checks: args.checks.clone(),
        since_ms: args.since.as_deref().map(since_ms).transpose()?,
        last: args.last,
        repo: args.repo.clone(),
    };
    let opts = Options {
        deadline: None,
        signals_since: None,
        cache: !args.no_cache,
    };
    let loaded = read::load(&path, &opts)
        .map_err(|e| {
            Error::Hold(format!(
                "history: cannot read the repository at {}: {e}",
                path.display()
            ))
        })?
        .ok_or_else(|| {
            Error::Usage(format!(
                "`{}` is not in a git repository (history reads the staging logs in git)",
                path.display()
            ))
        })?;
    let runs = filter.select(&loaded.store);
    let filters = Filters {
        check: args.checks.clone(),
        since: args.since.clone(),
        last: args.last,
        repo: args.repo.clone(),
    };
    let r = report::build(&loaded, &runs, &filter, filters, &p);
    let text = match format {
        HistoryFormat::Table => render::table(&r),
        HistoryFormat::Markdown => render::markdown(&r),
        HistoryFormat::Json => {
            serde_json::to_string(&r).map_err(|e| Error::Internal(e.to_string()))? + "\n"
        }
        HistoryFormat::Svg => heat_map(args, &loaded, &runs, &r, &p),
    };
    diag::write(Stream::Out, text.as_bytes());
    Ok(crate::exit::SUCCESS)
}
