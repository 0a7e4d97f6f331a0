//! Over ssh the preflight steps run as one remote command: each step costs
//! its own command's time, not another ssh round trip (a session per step
//! over a master) or another handshake (without a master). A marker line
//! with a fresh nonce and the step's exit status follows each step on both
//! streams, so every step is judged from its own output exactly as when it
//! ran alone. The script stops at the first step that exits nonzero (every
//! step reads a nonzero exit as a failure).

use super::{Said, StepResult, judged, seconds};
use crate::classify::Class;
use crate::config::Settings;
use crate::process::helper::Helper;
use crate::transport::session::Session;
use crate::transport::{Step, Transport, ssh::remote_command};
use std::time::{Duration, Instant};

/// Output kept per stream: far more than any step prints, so a marker is
/// never cut off.
const CAPTURE: usize = 4 << 20;

/// One step's frame: its output on one stream and the status its marker
/// carried.
#[derive(Debug, PartialEq)]
struct Frame<'a> {
    output: &'a [u8],
    status: i32,
}

/// The frames in `buf` and whatever follows the last marker (the output of
/// a step that never finished, or of ssh itself).
fn frames<'a>(buf: &'a [u8], marker: &str) -> (Vec<Frame<'a>>, &'a [u8]) {
    let needle = format!("\n{marker} ");
    let needle = needle.as_bytes();
    let mut found = Vec::new();
    let mut rest = buf;
    while let Some(at) = memchr::memmem::find(rest, needle) {
        let after = &rest[at + needle.len()..];
        let Some(end) = memchr::memchr(b'\n', after) else {
            break;
        };
        let Some(status) = std::str::from_utf8(&after[..end])
            .ok()
            .and_then(|s| s.parse().ok())
        else {
            break;
        };
        found.push(Frame {
            output: &rest[..at],
            status,
        });
        rest = &after[end + 1..];
    }
    (found, rest)
}

/// The remote script: each step with its stdin closed, then its marker on
/// both streams; `$1` is the marker, never spliced into the text.
fn script(steps: &[Step]) -> crate::error::Result<String> {
    let mut text = String::new();
    for step in steps {
        text.push_str(&remote_command(&step.argv)?);
        text.push_str(
            " </dev/null; rc=$?; printf '\\n%s %s\\n' \"$1\" \"$rc\"; \
             printf '\\n%s %s\\n' \"$1\" \"$rc\" >&2; [ \"$rc\" = 0 ] || exit 0\n",
        );
    }
    Ok(text)
}

pub(super) fn run(
    t: &Transport,
    s: &Settings,
    rules: &crate::classify::RulesHandle,
    steps: &[Step],
    mut session: Option<&mut Session>,
    mut on_step: impl FnMut(&StepResult),
) -> Vec<StepResult> {
    let start = Instant::now();
    let control = session
        .as_deref_mut()
        .and_then(|s| s.alive().then(|| s.control.clone()));
    let marker = format!("@@stagerun-step-{}", crate::capture::markers::nonce());
    let argv = script(steps).and_then(|text| {
        t.host_argv(
            vec![
                "sh".into(),
                "-c".into(),
                text,
                "stagerun-preflight".into(),
                marker.clone(),
            ],
            control.as_deref(),
        )
    });
    let argv = match argv {
        Ok(a) => a,
        Err(e) => {
            let name = steps.first().map_or("ssh reachable", |s| s.name);
            let r = StepResult::problem(name, Class::PermanentEnv, e.to_string(), 0.0);
            on_step(&r);
            return vec![r];
        }
    };
    let limit =
        s.connect_timeout.0 + Duration::from_secs(20) + Duration::from_secs(2) * steps.len() as u32;
    let mut helper = Helper::new(argv.clone(), limit);
    helper.capture = CAPTURE;
    let out = helper.run();
    let replaced;
    let code = if out.spawn_error.is_some() {
        Some(127)
    } else {
        out.code()
    };
    let (stdout, stderr): (&[u8], &[u8]) = match &out.spawn_error {
        Some(e) => {
            replaced = format!("stagerun: cannot run `{}`: {e}\n", argv[0]).into_bytes();
            (b"", &replaced)
        }
        // Over a master, ssh's own words on a lost connection ("Connection
        // … closed", "Timeout, server … not responding") are the master's.
        None if code == Some(255) => {
            let master = session.map(|s| s.take_log()).unwrap_or_default();
            replaced = [out.stderr.as_slice(), master.as_bytes()].concat();
            (&out.stdout, &replaced)
        }
        None => (&out.stdout, &out.stderr),
    };
    let (outs, out_rest) = frames(stdout, &marker);
    let (errs, err_rest) = frames(stderr, &marker);
    let mut results = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let said = match (outs.get(i), errs.get(i)) {
            (Some(o), Some(e)) => Said {
                code: Some(e.status),
                timed_out: false,
                stdout: o.output,
                stderr: e.output,
                limit,
                // the status the step's own command ended with
                via_ssh: false,
            },
            // The step that was running when the command ended: what ssh
            // or the timeout did is its answer.
            _ if i == outs.len().min(errs.len()) => Said {
                code,
                timed_out: out.timed_out,
                stdout: outs.get(i).map_or(out_rest, |f| f.output),
                stderr: errs.get(i).map_or(err_rest, |f| f.output),
                limit,
                via_ssh: true,
            },
            _ => break,
        };
        let mut r = judged(rules, step, &said, start);
        // The steps share one command; its time is on the first.
        r.duration_s = if i == 0 {
            seconds(start.elapsed())
        } else {
            0.0
        };
        if r.ok && said.code != Some(0) {
            r = ended_early(step.name, said.code);
        }
        let ok = r.ok;
        on_step(&r);
        results.push(r);
        if !ok {
            break;
        }
    }
    results
}

/// A step read as fine although the remote command ended before its marker
/// (the remote shell died): never a pass.
fn ended_early(name: &str, code: Option<i32>) -> StepResult {
    let detail = format!(
        "the remote preflight command ended before this step finished (exit {})",
        code.map_or_else(|| "by signal".to_string(), |c| c.to_string())
    );
    StepResult::problem(name, Class::TransientInfra, detail, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "@@stagerun-step-abc";

    #[test]
    fn frames_split_each_step_and_keep_the_unfinished_rest() {
        let buf = format!("engine 28\n\n{M} 0\n\n{M} 0\nrunning\n{M} 1\npartial");
        let (f, rest) = frames(buf.as_bytes(), M);
        assert_eq!(
            f,
            vec![
                Frame {
                    output: b"engine 28\n",
                    status: 0
                },
                Frame {
                    output: b"",
                    status: 0
                },
                Frame {
                    output: b"running",
                    status: 1
                },
            ]
        );
        assert_eq!(rest, b"partial");
    }

    #[test]
    fn a_marker_without_its_status_line_is_not_a_frame() {
        let buf = format!("out\n{M} 0");
        let (f, rest) = frames(buf.as_bytes(), M);
        assert!(f.is_empty());
        assert_eq!(rest, buf.as_bytes());
        let other = "out\n@@stagerun-step-xyz 0\n";
        assert!(frames(other.as_bytes(), M).0.is_empty());
    }

    #[test]
    fn the_script_runs_each_step_quoted_and_stops_at_a_failure() {
        let steps = vec![
            Step {
                name: "a",
                argv: vec!["true".into()],
                judge: Box::new(|_, _| Ok(String::new())),
            },
            Step {
                name: "b",
                argv: vec![
                    "sh".into(),
                    "-c".into(),
                    "test -f \"$1\"".into(),
                    "x y".into(),
                ],
                judge: Box::new(|_, _| Ok(String::new())),
            },
        ];
        let text = script(&steps).unwrap();
        let out = std::process::Command::new("sh")
            .args(["-c", &text, "stagerun-preflight", M])
            .output()
            .unwrap();
        let (f, rest) = frames(&out.stdout, M);
        assert_eq!(f.iter().map(|f| f.status).collect::<Vec<_>>(), vec![0, 1]);
        assert!(rest.is_empty());
        assert_eq!(frames(&out.stderr, M).0.len(), 2);
    }
}
