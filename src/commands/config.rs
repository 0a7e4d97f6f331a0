//! `stagerun config`: every key's effective value and where it came from.

use crate::cli::ConfigArgs;
use crate::config::{self, KEYS};
use crate::diag::{self, Stream};
use crate::error::Result;

pub fn show(args: &ConfigArgs) -> Result<u8> {
    if args.defaults {
        diag::write(Stream::Out, config::DEFAULTS.as_bytes());
        return Ok(crate::exit::SUCCESS);
    }
    let env = config::process_env;
    let req = config::Request {
        repo: &args.repo,
        config: args.config.as_deref(),
        flags: Vec::new(),
        env: &env,
    };
    let s = config::load(&req)?;
    let skip = s.skipped_because();
    let transport = crate::transport::Transport::for_settings(&s)
        .map(|t| t.label())
        .unwrap_or_else(|e| format!("(incomplete: {e})"));
    let file = s
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "none (no ./stagerun.yaml)".into());
    if args.json {
        let values: Vec<_> = s
            .provenance
            .iter()
            .map(|p| {
                let doc = KEYS.iter().find(|k| k.name == p.key);
                serde_json::json!({
                    "key": p.key,
                    "value": p.value,
                    "source": p.source.to_string(),
                    "env": doc.map(|d| d.env),
                    "shape": doc.map(|d| d.shape),
                })
            })
            .collect();
        let v = serde_json::json!({
            "schema": "stagerun.config/2",
            "repo": s.repo,
            "config_file": file,
            "transport": transport,
            "skip": skip,
            "values": values,
        });
        diag::line(Stream::Out, &v.to_string());
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
    let width = s.provenance.iter().map(|p| p.key.len()).max().unwrap_or(10);
    for p in &s.provenance {
        text.push_str(&format!(
            "{:<width$}  {:<40}  # {}\n",
            p.key, p.value, p.source
        ));
    }
    diag::write(Stream::Out, text.as_bytes());
    Ok(crate::exit::SUCCESS)
}
