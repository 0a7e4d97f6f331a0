//! The one place the outputs are chosen, as nextest's reporter builder: a
//! `Reporter` is built once per exit path from its flags and the CI
//! environment, holds the chosen sinks in the order they write, and every
//! path hands it the result or the error. The contract it keeps: JSON,
//! JUnit, the GitHub annotations and the terminal line agree with the exit
//! code on every path.

use super::github::{self, GitHub};
use super::gitlab::{self, GitLab};
use super::json::Json;
use super::junit::Junit;
use super::terminal::{GateLine, Terminal};
use super::{RunReport, Sink};
use crate::diag::Stream;
use crate::error::Error;
use std::path::PathBuf;

pub struct Reporter {
    sinks: Vec<Box<dyn Sink>>,
    /// Where the suite's output is fenced off for the CI (GitHub group,
    /// GitLab section); None when it is not streamed.
    fence: Option<Stream>,
}

/// The CI markers that open the suite's output, to be closed after it.
pub struct SuiteFence {
    github_token: Option<String>,
    gitlab: bool,
}

/// Under --json stdout holds exactly one object: the CI's lines go to
/// stderr (the runners read commands on both).
fn side_stream(json: bool) -> Stream {
    if json { Stream::Err } else { Stream::Out }
}

fn github_sink(json: bool) -> Option<Box<dyn Sink>> {
    github::active().then(|| {
        Box::new(GitHub {
            annotations_to: side_stream(json),
        }) as Box<dyn Sink>
    })
}

impl Reporter {
    fn new(sinks: Vec<Option<Box<dyn Sink>>>) -> Reporter {
        Reporter {
            sinks: sinks.into_iter().flatten().collect(),
            fence: None,
        }
    }

    /// `run`: JUnit when asked for, the CI's annotations, the terminal
    /// line, and the JSON object under --json.
    pub fn for_run(json: bool, quiet: bool, junit: Option<PathBuf>) -> Reporter {
        let mut r = Reporter::new(vec![
            junit.map(|p| Box::new(Junit(p)) as Box<dyn Sink>),
            github_sink(json),
            gitlab::active().then(|| {
                Box::new(GitLab {
                    stream: side_stream(json),
                }) as Box<dyn Sink>
            }),
            Some(Box::new(Terminal)),
            json.then(|| Box::new(Json) as Box<dyn Sink>),
        ]);
        r.fence = (!quiet).then(|| side_stream(json));
        r
    }

    /// An error that ended another command without a run: the one line,
    /// and the JSON object under --json.
    pub fn for_error(json: bool) -> Reporter {
        Reporter::new(vec![
            Some(Box::new(Terminal)),
            json.then(|| Box::new(Json) as Box<dyn Sink>),
        ])
    }

    /// Arguments that do not parse: clap has printed the message; a `run`
    /// still owes a CI step its annotation and summary.
    pub fn for_usage_error(json: bool, is_run: bool) -> Reporter {
        Reporter::new(vec![
            github_sink(json).filter(|_| is_run),
            json.then(|| Box::new(Json) as Box<dyn Sink>),
        ])
    }

    /// After a panic, whatever the command: the annotation, the one line,
    /// the JSON object.
    pub fn for_panic(json: bool) -> Reporter {
        Reporter::new(vec![
            github_sink(json),
            Some(Box::new(Terminal)),
            json.then(|| Box::new(Json) as Box<dyn Sink>),
        ])
    }

    /// `gate`: its own line (the verdict it read back, or why none), and
    /// the JSON object under --json.
    pub fn for_gate(json: bool) -> Reporter {
        Reporter::new(vec![
            Some(Box::new(GateLine)),
            json.then(|| Box::new(Json) as Box<dyn Sink>),
        ])
    }

    /// Every chosen output, from the one report; returns its exit code.
    pub fn emit(&self, r: &RunReport) -> u8 {
        for sink in &self.sinks {
            if let Err(e) = sink.emit(r) {
                crate::warn!("{} output failed (verdict unchanged): {e}", sink.name());
            }
        }
        r.exit_code
    }

    /// An error that ended the command, through the same outputs.
    pub fn emit_error(&self, e: &Error) -> u8 {
        self.emit(&RunReport::from_error(e))
    }

    /// Opens the CI's fence around the suite's output, on the stream it is
    /// echoed to, so the runner sees them in order.
    pub fn begin_suite(&self, title: &str) -> SuiteFence {
        let Some(stream) = self.fence else {
            return SuiteFence {
                github_token: None,
                gitlab: false,
            };
        };
        let gitlab = gitlab::active();
        if gitlab {
            gitlab::begin_suite(stream, title);
        }
        SuiteFence {
            github_token: github::active().then(|| github::begin_suite(stream, title)),
            gitlab,
        }
    }

    pub fn end_suite(&self, fence: SuiteFence) {
        let Some(stream) = self.fence else {
            return;
        };
        if let Some(token) = fence.github_token {
            github::end_suite(stream, &token);
        }
        if fence.gitlab {
            gitlab::end_suite(stream);
        }
    }
}
