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

/// Output kept per stream: far more than any step prints; markers past it
/// are lost, and a step without its marker never passes.
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

/// First, the script says who it is (pid, process group, start time from
/// /proc), so a hung preflight can be stopped where it runs.
const WHO: &str = "{ read -r x < /proc/$$/stat; } 2>/dev/null && x=${x##*\") \"} && \
     set -- \"$1\" $x && printf '%s-pid %s %s %s\\n' \"$1\" \"$$\" \"$4\" \"${21}\" >&2\n";

/// Kills the preflight command's process group if that pid still is the
/// same process (pid, group and start time agree): never another's. Run
/// after the shared /proc helpers (`f` leaves the stat fields in `x`).
const STOP_BODY: &str = "# @procs: src/transport/procs.sh goes here\n\
     p=$1 g=$2 t=$3\n\
     f \"$p\" && set -- $x && [ \"$3\" = \"$g\" ] && [ \"${20}\" = \"$t\" ] && kill -9 -\"$g\" 2>/dev/null\n\
     exit 0\n";

fn stop_script() -> String {
    crate::transport::wrapper::with_procs(STOP_BODY)
}

/// The remote script: each step with its stdin closed, then its marker on
/// both streams; `$1` is the marker, never spliced into the text.
fn script(steps: &[Step]) -> crate::error::Result<String> {
    let mut text = String::from(WHO);
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
    let code = if out.spawn_error.is_some() {
        Some(127)
    } else {
        out.code()
    };
    let (who, stderr) = who(&out.stderr, &marker);
    let stderr = match &out.spawn_error {
        Some(e) => format!("stagerun: cannot run `{}`: {e}\n", argv[0]).into_bytes(),
        // Over a master, ssh's own words on a lost connection ("Connection
        // … closed", "Timeout, server … not responding") are the master's.
        None if code == Some(255) => {
            let master = session
                .as_deref_mut()
                .map(|s| s.take_log())
                .unwrap_or_default();
            [stderr.as_slice(), master.as_bytes()].concat()
        }
        None => stderr,
    };
    let (outs, out_rest) = frames(&out.stdout, &marker);
    let (errs, err_rest) = frames(&stderr, &marker);
    let mut results = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let finished = outs.get(i).zip(errs.get(i));
        let mut r = match finished {
            Some((o, e)) => {
                let said = Said {
                    code: Some(e.status),
                    timed_out: false,
                    stdout: o.output,
                    stderr: e.output,
                    limit,
                    // the status the step's own command ended with
                    via_ssh: false,
                };
                judged(rules, step, &said, start)
            }
            None => {
                let said = Said {
                    code,
                    timed_out: out.timed_out,
                    stdout: outs.get(i).map_or(out_rest, |f| f.output),
                    stderr: errs.get(i).map_or(err_rest, |f| f.output),
                    limit,
                    via_ssh: true,
                };
                let started = who.is_some() || !errs.is_empty();
                unfinished(rules, step, &said, &out, started, start)
            }
        };
        // The steps share one command; its time is on the first.
        r.duration_s = if i == 0 {
            seconds(start.elapsed())
        } else {
            0.0
        };
        let ok = r.ok && finished.is_some();
        on_step(&r);
        results.push(r);
        if !ok {
            break;
        }
    }
    // Cut off before its last marker: something may still run there.
    let cut_off = out.timed_out || out.interrupted || code == Some(255);
    if cut_off
        && outs.len().min(errs.len()) < steps.len()
        && let Some(who) = who
    {
        stop(t, s, session, &who);
    }
    results
}

/// The script's pid, process group and start time, and its stderr without
/// the line that said them.
fn who(stderr: &[u8], marker: &str) -> (Option<[String; 3]>, Vec<u8>) {
    let needle = format!("{marker}-pid ");
    let Some(at) = memchr::memmem::find(stderr, needle.as_bytes()) else {
        return (None, stderr.to_vec());
    };
    let after = &stderr[at + needle.len()..];
    let end = memchr::memchr(b'\n', after).unwrap_or(after.len());
    let fields: Vec<String> = String::from_utf8_lossy(&after[..end])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let rest = [&stderr[..at], &after[(end + 1).min(after.len())..]].concat();
    let who = match fields.as_slice() {
        [p, g, t]
            if [p, g, t]
                .iter()
                .all(|f| f.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Some([p.clone(), g.clone(), t.clone()])
        }
        _ => None,
    };
    (who, rest)
}

/// A preflight cut off by its limit, a signal or a lost connection can
/// leave a step hanging where it runs (a `docker exec` into a frozen
/// container): its process group is killed there, over the master if it
/// still answers, else over a new connection, bounded.
fn stop(t: &Transport, s: &Settings, session: Option<&mut Session>, who: &[String; 3]) {
    let control = session.and_then(|s| s.alive().then(|| s.control.clone()));
    let mut cmd = vec![
        "sh".into(),
        "-c".into(),
        stop_script(),
        "stagerun-preflight-stop".into(),
    ];
    cmd.extend(who.iter().cloned());
    if let Ok(argv) = t.host_argv(cmd, control.as_deref()) {
        let _ = Helper::new(argv, s.connect_timeout.0 + Duration::from_secs(5)).run();
    }
}

/// The step that was running when the remote command ended.
fn unfinished(
    rules: &crate::classify::RulesHandle,
    step: &Step,
    said: &Said,
    out: &crate::process::helper::HelperOutput,
    started: bool,
    start: Instant,
) -> StepResult {
    if out.interrupted {
        let detail = if started {
            "interrupted by a signal before this step finished"
        } else {
            "interrupted by a signal while connecting"
        };
        return StepResult::problem(step.name, Class::TransientInfra, detail.into(), 0.0);
    }
    // ssh's own failures (255), a missing ssh client and a hang have their
    // readings; any other end without this step's marker means the remote
    // shell never ran it or cut it short.
    if out.timed_out || said.code == Some(255) || out.spawn_error.is_some() {
        return judged(rules, step, said, start);
    }
    // A login shell that cannot parse the command has a rule of its own.
    let c = super::classified(rules, said.code, false, said.stdout, said.stderr);
    if super::is_signature(&c) {
        return super::failed(step.name, &c, said.stderr, start);
    }
    let detail = format!(
        "the staging host ended preflight's command before this step finished (exit {}): a forced command for this key, a login shell that is not a POSIX sh, or more than 4 MiB printed before the steps keep them from running",
        said.code
            .map_or_else(|| "by signal".to_string(), |c| c.to_string()),
    );
    StepResult::problem(
        step.name,
        Class::PermanentEnv,
        super::worded(detail, said.stderr),
        0.0,
    )
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
    fn who_is_read_and_taken_out_of_stderr() {
        let err = format!("{M}-pid 41 41 9001\nwarning\n\n{M} 0\n");
        let (said, rest) = who(err.as_bytes(), M);
        assert_eq!(said, Some(["41".into(), "41".into(), "9001".into()]));
        assert_eq!(rest, format!("warning\n\n{M} 0\n").as_bytes());
        let (none, same) = who(b"no such line\n", M);
        assert!(none.is_none());
        assert_eq!(same, b"no such line\n");
    }

    /// The stop kills the preflight command's group where it runs, and
    /// nothing when the start time does not match (a reused pid).
    #[test]
    fn the_stop_kills_the_hung_command_and_only_it() {
        use std::io::{BufRead, BufReader};
        use std::os::unix::process::CommandExt;
        let hung = || {
            let mut c = std::process::Command::new("sh")
                .args(["-c", &format!("{WHO}sleep 30"), "stagerun-preflight", M])
                .stderr(std::process::Stdio::piped())
                .process_group(0)
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(c.stderr.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            let (who, _) = who(line.as_bytes(), M);
            (c, who.expect(&line))
        };
        let stop = |who: &[String]| {
            let status = std::process::Command::new("sh")
                .args(["-c", &stop_script(), "stagerun-preflight-stop"])
                .args(who)
                .status()
                .unwrap();
            assert!(status.success());
        };
        let (mut other, who) = hung();
        stop(&[who[0].clone(), who[1].clone(), "1".into()]);
        assert!(
            other.try_wait().unwrap().is_none(),
            "a different start time was killed"
        );
        stop(&who);
        let status = other.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
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
