//! `gate` and `classify`.

use crate::classify::{self, RuleSet};
use crate::cli::{ClassifyArgs, GateArgs};
use crate::config::DEFAULT_CHECK_LINE_PATTERN;
use crate::exit::{self, Exit};
use crate::workitem::LOG_FILE;
use anyhow::Result;

/// Reads the verdict back. A missing or unreadable verdict is HOLD (75):
/// the gate never lets a work item through, nor rolls it back, on a verdict
/// it cannot read.
pub fn gate(args: &GateArgs) -> Result<u8> {
    let dir = &args.work_item_dir;
    if !dir.is_dir() {
        return Err(Exit::usage(format!(
            "work item `{}` is not a folder",
            dir.display()
        )));
    }
    let path = dir.join(LOG_FILE);
    let text = match std::fs::read(&path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            return Err(Exit::hold(format!(
                "gate: no verdict: cannot read {}: {}",
                path.display(),
                crate::workitem::describe_io(&e)
            )));
        }
    };
    match crate::log::read_verdict(&text) {
        Ok(v) => {
            eprintln!("stagerun: gate {}: staging_status {v}", path.display());
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"verdict": v, "exit_code": v.exit_code(), "log_path": path})
                );
            }
            Ok(v.exit_code())
        }
        Err(why) => Err(Exit::hold(format!(
            "gate: malformed log {}: {why}",
            path.display()
        ))),
    }
}

pub fn classify(args: &ClassifyArgs) -> Result<u8> {
    let signal = match &args.signal {
        Some(s) => Some(
            crate::signals::parse(s)
                .ok_or_else(|| Exit::usage(format!("--signal: `{s}` is not a signal")))?,
        ),
        None => None,
    };
    if args.exit_code.is_none() && signal.is_none() && !args.timed_out {
        return Err(Exit::usage(
            "classify needs --exit-code, --signal or --timed-out",
        ));
    }
    let handle = classify::RulesHandle::ready(RuleSet::load(args.rules.as_deref())?);
    let rules = handle.get();
    let check = crate::config::compile_check_line_pattern(DEFAULT_CHECK_LINE_PATTERN)?;
    let (mut out, mut err) = classify::scanners(&handle, &check, 0);
    if let Some(p) = &args.stdout_file {
        crate::runner::scan_file(p, &mut out)?;
    }
    if let Some(p) = &args.stderr_file {
        crate::runner::scan_file(p, &mut err)?;
    }
    let ev = classify::evidence(args.exit_code, signal, args.timed_out, &out, &err);
    let c = rules.classify(&ev);
    if args.json {
        let mut v = serde_json::to_value(&c)?;
        if args.explain {
            let trace: Vec<_> = rules
                .rules
                .iter()
                .map(|r| serde_json::json!({"rule": r.id, "builtin": r.builtin, "mismatch": rules.mismatch(r, &ev)}))
                .collect();
            v["explain"] = serde_json::Value::Array(trace);
        }
        println!("{v}");
    } else {
        println!(
            "class: {}\nrule: {}\nreason: {}",
            c.class.as_str(),
            c.rule,
            c.reason
        );
        if args.explain {
            println!("\nrules, in order (first match wins):");
            for r in &rules.rules {
                let origin = if r.builtin { "built-in" } else { "user" };
                match rules.mismatch(r, &ev) {
                    None => {
                        println!("  MATCH  {} ({origin}) → {}", r.id, r.class.as_str());
                        break;
                    }
                    Some(why) => println!("  skip   {} ({origin}): {why}", r.id),
                }
            }
        }
    }
    Ok(exit::SUCCESS)
}

pub fn show_config(args: &crate::cli::ConfigArgs) -> Result<u8> {
    let env = crate::config::process_env;
    let (path, file) = crate::config::load_file(args.config.as_deref(), &env)?;
    let channel = crate::cli::ChannelArgs {
        repo: args.repo.clone(),
        ..Default::default()
    };
    let s = crate::config::Settings::resolve(
        &channel,
        &Default::default(),
        &env,
        path.as_deref(),
        &file,
    )?;
    let file_note = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "none (no ./stagerun.yaml)".into());
    if args.json {
        let values: Vec<_> = s
            .provenance
            .iter()
            .map(|p| serde_json::json!({"key": p.key, "value": p.value, "source": p.source.to_string()}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"repo": s.repo, "config_file": file_note, "transport": s.transport.as_str(), "skip": s.skip_reason(), "values": values})
        );
        return Ok(exit::SUCCESS);
    }
    println!(
        "# repo: {}\n# config file: {file_note}\n# effective transport: {}",
        if s.repo.is_empty() {
            "(none given)"
        } else {
            &s.repo
        },
        s.transport.as_str()
    );
    if let Some(why) = s.skip_reason() {
        println!("# runs would be SKIPPED: {why}");
    }
    let width = s.provenance.iter().map(|p| p.key.len()).max().unwrap_or(10);
    for p in &s.provenance {
        println!("{:<width$}  {:<40}  # {}", p.key, p.value, p.source);
    }
    Ok(exit::SUCCESS)
}

pub fn completions(args: &crate::cli::CompletionsArgs) -> Result<u8> {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "stagerun", &mut std::io::stdout());
    Ok(exit::SUCCESS)
}

pub fn man() -> Result<u8> {
    use clap::CommandFactory;
    let cmd = crate::cli::Cli::command();
    clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
    Ok(exit::SUCCESS)
}
