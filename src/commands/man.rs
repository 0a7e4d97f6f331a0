//! Man pages: stagerun(1) and one per subcommand, each with EXIT STATUS,
//! ENVIRONMENT and FILES sections, one section per topic (and SEE ALSO
//! stagerun(1) on a subcommand's page).

use crate::cli::ManArgs;
use crate::diag::{self, Stream};
use crate::error::{Error, Result};

const USAGE: (&str, &str) = ("2", "Usage error: bad command line or work item.");
const CONFIG: (&str, &str) = (
    "78",
    "Configuration error: a bad value, named with its key and source.",
);
// The error codes every command can reach, by the kind of error.
const INTERNAL: (&str, &str) = ("70", "Internal error.");
const SKIPPED: (&str, &str) = (
    "3",
    "SKIPPED: the runner is disabled (kill-switch) or the repository is out of scope.",
);
/// The whole contract: `run`'s codes, listed on stagerun(1) and run's page.
const CONTRACT: [(&str, &str); 7] = [
    ("0", "SUCCESS: the suite ran and passed."),
    (
        "1",
        "FAILED: the suite ran and failed; the pipeline rolls the work item back.",
    ),
    USAGE,
    SKIPPED,
    (
        "75",
        "HOLD: an infrastructure fault, an interruption, or the work item is busy; no rollback.",
    ),
    CONFIG,
    INTERNAL,
];

/// The exit codes a page's command can end with: `run` (and stagerun(1))
/// the whole contract, every other subcommand its own answers and the
/// error codes it can reach.
fn exit_codes(sub: Option<&str>) -> Vec<(&'static str, &'static str)> {
    match sub {
        None | Some("run") => CONTRACT.to_vec(),
        Some("gate") => vec![
            ("0", "The log says SUCCESS."),
            ("1", "The log says FAILED."),
            (
                "75",
                "HOLD: the log says HOLD, or no current verdict can be read (no log, a malformed one, a run in progress, a run that could not record its verdict).",
            ),
            USAGE,
            INTERNAL,
        ],
        Some("preflight") => vec![
            ("0", "Every step passed."),
            (
                "75",
                "HOLD: a step failed (each is named with its class and what to do).",
            ),
            USAGE,
            SKIPPED,
            CONFIG,
            INTERNAL,
        ],
        Some("classify") => vec![
            (
                "0",
                "Classified, whatever the verdict (it is printed, and in --json).",
            ),
            USAGE,
            CONFIG,
            INTERNAL,
        ],
        Some("disconnect") => vec![
            ("0", "The shared ssh master was closed, or there was none."),
            ("75", "The shared ssh master could not be closed."),
            USAGE,
            CONFIG,
            INTERNAL,
        ],
        Some("history") => vec![
            ("0", "The history was read, whatever it says."),
            (
                "75",
                "The repository could not be read (git failed or timed out).",
            ),
            (
                "2",
                "Usage error: a bad command line, or PATH is not in a git repository.",
            ),
            INTERNAL,
        ],
        Some("status") => vec![
            ("0", "Whatever it reports, a broken configuration included."),
            USAGE,
            INTERNAL,
        ],
        Some("config") => vec![("0", "The values were shown."), USAGE, CONFIG, INTERNAL],
        Some(_) => vec![("0", "Done."), USAGE, INTERNAL],
    }
}

fn extra_sections(page: &mut Vec<u8>, sub: Option<&str>) {
    let mut roff = String::new();
    roff.push_str(".SH \"EXIT STATUS\"\n");
    for (code, what) in exit_codes(sub) {
        roff.push_str(&format!(".TP\n{code}\n{what}\n"));
    }
    roff.push_str(".SH ENVIRONMENT\n");
    for k in crate::config::KEYS {
        roff.push_str(&format!(
            ".TP\n{}\n{} (key \\fB{}\\fR)\n",
            k.env,
            k.doc.replace('\\', "\\\\"),
            k.name
        ));
    }
    roff.push_str(".TP\nSTAGERUN_CONFIG\nConfiguration file, when --config is not given.\n");
    roff.push_str(".TP\nNO_COLOR, CLICOLOR, CLICOLOR_FORCE\nColour, as --color auto reads them.\n");
    roff.push_str(".SH FILES\n.TP\n./stagerun.yaml\nConfiguration (see \\fBstagerun config --defaults\\fR for every key).\n");
    roff.push_str(".TP\nWORK_ITEM/15-staging-log.md\nThe verdict: YAML front matter with one staging_status line.\n");
    roff.push_str(".TP\nWORK_ITEM/.15-staging-log.md.unrecorded\nPresent when the last run could not record its verdict; gate reads HOLD.\n");
    page.extend_from_slice(roff.as_bytes());
}

/// One section per topic: the exit codes only in EXIT STATUS (not in an
/// EXTRA section made of `--help`'s last line, nor in the description), and
/// only pages `man --dir` writes named (no `stagerun-help(1)`).
fn for_man(cmd: clap::Command) -> clap::Command {
    let cmd = cmd
        .disable_help_subcommand(true)
        .after_help(None::<&str>)
        .after_long_help(None::<&str>);
    let about = cmd.get_long_about().map(|a| a.to_string());
    match about
        .as_deref()
        .and_then(|a| a.find(": 0 SUCCESS").map(|i| (a, i)))
    {
        Some((about, i)) => {
            let short = format!("{} (EXIT STATUS below).", &about[..i]);
            cmd.long_about(short)
        }
        None => cmd,
    }
}

fn render(cmd: clap::Command, root: bool) -> Result<Vec<u8>> {
    let sub = (!root).then(|| cmd.get_name().trim_start_matches("stagerun-").to_string());
    let mut page = Vec::new();
    clap_mangen::Man::new(for_man(cmd))
        .source(format!("stagerun {}", env!("CARGO_PKG_VERSION")))
        .render(&mut page)
        .map_err(|e| Error::Internal(format!("cannot render the man page: {e}")))?;
    extra_sections(&mut page, sub.as_deref());
    if !root {
        page.extend_from_slice(b".SH \"SEE ALSO\"\n\\fBstagerun\\fR(1)\n");
    }
    Ok(page)
}

/// A page name that is none of ours: the nearest one, and every one.
fn no_page(name: &str, root: &clap::Command) -> Error {
    let subs: Vec<&str> = root
        .get_subcommands()
        .map(|s| s.get_name())
        .filter(|n| *n != "help")
        .collect();
    let word = name.strip_prefix("stagerun-").unwrap_or(name);
    Error::Usage(format!(
        "no man page `{name}`{}; the pages are stagerun(1) and one per subcommand: {}",
        crate::suggest::did_you_mean(word, subs.iter().copied()),
        subs.join(", ")
    ))
}

fn page_for(name: Option<&str>) -> Result<(String, Vec<u8>)> {
    let root = crate::cli::command();
    match name {
        None => Ok(("stagerun.1".into(), render(root, true)?)),
        Some(name) => {
            // `man run` and `man stagerun-run` are the same page.
            let sub = name.strip_prefix("stagerun-").unwrap_or(name);
            let sc = root
                .find_subcommand(sub)
                .ok_or_else(|| no_page(name, &root))?
                .clone()
                .name(format!("stagerun-{sub}"))
                .bin_name(format!("stagerun {sub}"));
            Ok((format!("stagerun-{sub}.1"), render(sc, false)?))
        }
    }
}

pub fn man(args: &ManArgs) -> Result<u8> {
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Usage(format!(
                    "cannot create {}: {}",
                    dir.display(),
                    crate::error::describe_io(&e)
                ))
            })?;
            let mut names: Vec<Option<String>> = vec![None];
            names.extend(
                crate::cli::command()
                    .get_subcommands()
                    .map(|s| Some(s.get_name().to_string())),
            );
            for n in names {
                let (file, page) = page_for(n.as_deref())?;
                std::fs::write(dir.join(&file), page).map_err(|e| {
                    Error::Usage(format!(
                        "cannot write {}: {}",
                        dir.join(&file).display(),
                        crate::error::describe_io(&e)
                    ))
                })?;
            }
        }
        None => {
            let (_, page) = page_for(args.subcommand.as_deref())?;
            diag::write(Stream::Out, &page);
        }
    }
    Ok(crate::exit::SUCCESS)
}
