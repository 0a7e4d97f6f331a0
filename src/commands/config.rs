//! `stagerun config`: every key's effective value and where it came from.

use crate::cli::ConfigArgs;
use crate::config::{self, KEYS, Source};
use crate::diag::{self, Stream};
use crate::error::Result;

/// `config --json`: every key's effective value and where it came from.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct ConfigJson<'a> {
    schema: &'static str,
    repo: &'a str,
    config_file: &'a str,
    transport: &'a str,
    skip: Option<&'a str>,
    values: Vec<ValueJson<'a>>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct ValueJson<'a> {
    key: &'a str,
    value: &'a str,
    source: &'a str,
    env: Option<&'static str>,
    shape: Option<&'static str>,
}

#[cfg(test)]
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ConfigJson<'static>)).unwrap_or_default()
}

pub fn show(args: &ConfigArgs) -> Result<u8> {
    if args.defaults {
        diag::write(Stream::Out, config::DEFAULTS.as_bytes());
        return Ok(crate::exit::SUCCESS);
    }
    let s = config::resolve(&config::Request::new(
        config::Purpose::Inspect,
        &args.repo,
        args.config.as_deref(),
        Vec::new(),
    ))?;
    let skip = s.skipped_because();
    let rows = rows(&s);
    let transport = crate::transport::Transport::for_settings(&s)
        .map(|t| t.label())
        .unwrap_or_else(|e| format!("(incomplete: {e})"));
    let file = s
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "none (no ./stagerun.yaml)".into());
    if args.json {
        let values = rows
            .iter()
            .map(|(key, value, source)| {
                let doc = KEYS.iter().find(|k| k.name == *key);
                ValueJson {
                    key,
                    value,
                    source,
                    env: doc.map(|d| d.env),
                    shape: doc.map(|d| d.shape),
                }
            })
            .collect();
        crate::report::json::print_object(&ConfigJson {
            schema: "stagerun.config/2",
            repo: &s.repo,
            config_file: &file,
            transport: &transport,
            skip: skip.as_deref(),
            values,
        })?;
        return Ok(crate::exit::SUCCESS);
    }
    let repo = if s.repo.is_empty() {
        "(none given)"
    } else {
        s.repo.as_str()
    };
    let mut text =
        format!("# repo: {repo}\n# config file: {file}\n# effective transport: {transport}\n");
    if let Some(why) = &skip {
        text.push_str(&format!("# runs would be SKIPPED: {why}\n"));
    }
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
    for (key, value, source) in &rows {
        text.push_str(&format!("{key:<width$}  {value:<40}  # {source}\n"));
    }
    diag::write(Stream::Out, text.as_bytes());
    Ok(crate::exit::SUCCESS)
}

/// (key, value in effect, where it comes from) for every key. An unset
/// key says what unset means; `transport` and `engine` show the channel and
/// engine in effect, and what decided them.
fn rows(s: &config::Settings) -> Vec<(&'static str, String, String)> {
    let placement = s.placement().ok();
    s.provenance
        .iter()
        .map(|p| {
            let doc = KEYS.iter().find(|k| k.name == p.key);
            let unset = doc.filter(|d| d.optional && p.source == Source::Default);
            let mut row = (p.key, p.value.clone(), p.source.to_string());
            match (p.key, unset, &placement) {
                ("transport", Some(_), Some(pl)) => {
                    row.1 = pl.channel.as_str().into();
                    if pl.channel_by.0 != "transport" {
                        row.2 = format!("implied by `{}` ({})", pl.channel_by.0, pl.channel_by.1);
                    }
                }
                ("engine", Some(_), Some(pl)) => {
                    row.1 = pl.engine.as_str().into();
                    // docker is the default over ssh; locally the default is
                    // none, so there the channel decided it.
                    row.2 = match pl.channel {
                        config::ChannelName::Ssh => "built-in default".to_string(),
                        _ => format!(
                            "built-in default with the {} channel (from `{}`)",
                            pl.channel.as_str(),
                            pl.channel_by.0
                        ),
                    };
                }
                (_, Some(d), _) => {
                    if let Some(meaning) = d.unset {
                        row.2 = format!("built-in default: {meaning}");
                    }
                }
                _ => {}
            }
            row
        })
        .collect()
}
