//! Over ssh the preflight steps run as one remote command: each step costs
//! its own command's time, not another ssh round trip (a session per step
//! over a master) or another handshake (without a master). They run through
//! the same wrapper as the suite (its `steps` mode, transport/wrapper.sh):
//! a zero-width `step:INDEX:STATUS` marker with a fresh nonce follows each
//! step on both streams, so every step is judged from its own output
//! exactly as when it ran alone, and the first step that exits nonzero ends
//! them (every step reads a nonzero exit as a failure).

use super::{Said, StepResult, judged};
use crate::capture::markers::{Marker, Piece, Splitter};
use crate::classify::Class;
use crate::config::Settings;
use crate::model::seconds;
use crate::process::helper::{Helper, HelperOutput};
use crate::transport::session::Session;
use crate::transport::{Step, Transport, ssh::remote_command, wrapper};
use std::time::{Duration, Instant};

/// Output kept per stream: far more than any step prints; markers past it
/// are lost, and a step without its marker never passes.
const CAPTURE: usize = 4 << 20;

/// One step's output on one stream and the status its marker carried.
#[derive(Debug, PartialEq)]
struct Frame {
    output: Vec<u8>,
    status: i32,
}

/// A stream of the steps' command, split at its markers.
#[derive(Debug, Default, PartialEq)]
struct Framed {
    frames: Vec<Frame>,
    /// What follows the last step marker (a step that never finished, or ssh itself).
    rest: Vec<u8>,
    /// The remote command's pid, process group and start time, so a
    /// preflight cut off can be stopped where it runs.
    who: Option<[String; 3]>,
}

fn framed(buf: &[u8], nonce: &str) -> Framed {
    let mut f = Framed::default();
    let mut splitter = Splitter::new(nonce);
    let mut emit = |p: Piece| match p {
        Piece::Data(d) => f.rest.extend_from_slice(d),
        Piece::Marker(Marker::Step { status, .. }) => f.frames.push(Frame {
            output: std::mem::take(&mut f.rest),
            status,
        }),
        Piece::Marker(Marker::Who { pid, group, start }) => f.who = Some([pid, group, start]),
        Piece::Marker(_) => {}
    };
    splitter.push(buf, &mut emit);
    splitter.flush(&mut emit);
    f
}

/// Each step as one shell command for the wrapper's steps mode.
fn step_commands(steps: &[Step]) -> crate::error::Result<Vec<String>> {
    steps.iter().map(|s| remote_command(&s.argv)).collect()
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
    let nonce = crate::capture::markers::nonce();
    let argv = step_commands(steps)
        .and_then(|cmds| t.host_argv(wrapper::steps(&nonce, cmds), control.as_deref()));
    let argv = match argv {
        Ok(a) => a,
        Err(e) => {
            let name = steps.first().map_or("ssh reachable", |s| s.name);
            let r = StepResult::problem(name, Class::PermanentEnv, e.to_string(), 0.0);
            on_step(&r);
            return vec![r];
        }
    };
    let ran = run_once(&argv, s, steps.len(), session.as_deref_mut(), &nonce);
    let results = judge_each(rules, steps, &ran, start, on_step);
    // Cut off before its last marker: something may still run there.
    let cut_off = ran.out.timed_out || ran.out.interrupted || ran.code == Some(255);
    if cut_off
        && ran.stdout.frames.len().min(ran.stderr.frames.len()) < steps.len()
        && let Some(who) = ran.who()
    {
        stop(t, s, session, &nonce, &who);
    }
    results
}

/// What the one remote command of all steps gave, split at the markers.
struct Ran {
    out: HelperOutput,
    code: Option<i32>,
    stdout: Framed,
    stderr: Framed,
    limit: Duration,
}

impl Ran {
    fn who(&self) -> Option<[String; 3]> {
        self.stderr.who.clone().or_else(|| self.stdout.who.clone())
    }
}

fn run_once(
    argv: &[String],
    s: &Settings,
    steps: usize,
    session: Option<&mut Session>,
    nonce: &str,
) -> Ran {
    let limit =
        s.connect_timeout.0 + Duration::from_secs(20) + Duration::from_secs(2) * steps as u32;
    let mut helper = Helper::new(argv.to_vec(), limit);
    helper.capture = CAPTURE;
    let out = helper.run();
    let code = if out.spawn_error.is_some() {
        Some(127)
    } else {
        out.code()
    };
    let stderr = match &out.spawn_error {
        Some(e) => format!("stagerun: cannot run `{}`: {e}\n", argv[0]).into_bytes(),
        // Over a master, ssh's own words on a lost connection ("Connection
        // … closed", "Timeout, server … not responding") are the master's.
        None if code == Some(255) => {
            let master = session.map(|s| s.take_log()).unwrap_or_default();
            [out.stderr.as_slice(), master.as_bytes()].concat()
        }
        None => out.stderr.clone(),
    };
    Ran {
        stdout: framed(&out.stdout, nonce),
        stderr: framed(&stderr, nonce),
        out,
        code,
        limit,
    }
}

/// Each step judged from its own frames, in order, until one fails.
fn judge_each(
    rules: &crate::classify::RulesHandle,
    steps: &[Step],
    ran: &Ran,
    start: Instant,
    mut on_step: impl FnMut(&StepResult),
) -> Vec<StepResult> {
    let (outs, errs) = (&ran.stdout.frames, &ran.stderr.frames);
    let mut results = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let finished = outs.get(i).zip(errs.get(i));
        let mut r = match finished {
            Some((o, e)) => {
                let said = Said {
                    code: Some(e.status),
                    timed_out: false,
                    stdout: &o.output,
                    stderr: &e.output,
                    limit: ran.limit,
                    // the status the step's own command ended with
                    via_ssh: false,
                };
                judged(rules, step, &said, start)
            }
            None => {
                let said = Said {
                    code: ran.code,
                    timed_out: ran.out.timed_out,
                    stdout: outs.get(i).map_or(&ran.stdout.rest, |f| &f.output),
                    stderr: errs.get(i).map_or(&ran.stderr.rest, |f| &f.output),
                    limit: ran.limit,
                    via_ssh: true,
                };
                let started = ran.who().is_some() || !errs.is_empty();
                unfinished(rules, step, &said, &ran.out, started, start)
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
    results
}

/// A preflight cut off by its limit, a signal or a lost connection can
/// leave a step hanging where it runs (a `docker exec` into a frozen
/// container): its process group is killed there, over the master if it
/// still answers, else over a new connection, bounded.
fn stop(
    t: &Transport,
    s: &Settings,
    session: Option<&mut Session>,
    nonce: &str,
    who: &[String; 3],
) {
    let control = session.and_then(|s| s.alive().then(|| s.control.clone()));
    if let Ok(argv) = t.host_argv(wrapper::stop_steps(nonce, who), control.as_deref()) {
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

    const N: &str = "0123456789abcdef0123456789abcdef";

    fn marker(what: &str) -> String {
        format!("@@stagerun:{N}:{what}@@")
    }

    #[test]
    fn frames_split_each_step_and_keep_the_unfinished_rest() {
        let buf = format!(
            "banner\n{}engine 28\n{}{}running{}partial",
            marker("who:41:41:9001"),
            marker("step:0:0"),
            marker("step:1:0"),
            marker("step:2:1")
        );
        let f = framed(buf.as_bytes(), N);
        let statuses: Vec<_> = f.frames.iter().map(|f| f.status).collect();
        assert_eq!(statuses, vec![0, 0, 1]);
        assert_eq!(f.frames[0].output, b"banner\nengine 28\n");
        assert_eq!(f.frames[1].output, b"");
        assert_eq!(f.frames[2].output, b"running");
        assert_eq!(f.rest, b"partial");
        assert_eq!(f.who, Some(["41".into(), "41".into(), "9001".into()]));
    }

    #[test]
    fn another_nonces_markers_are_output() {
        let other = "@@stagerun:ffffffffffffffffffffffffffffffff:step:0:0@@";
        let f = framed(format!("out{other}").as_bytes(), N);
        assert!(f.frames.is_empty());
        assert_eq!(f.rest, format!("out{other}").as_bytes());
    }

    fn run_steps(cmds: Vec<String>) -> (std::process::Child, String) {
        let nonce = crate::capture::markers::nonce();
        let argv = wrapper::steps(&nonce, cmds);
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        (child, nonce)
    }

    /// The stop kills the preflight command's group where it runs, and
    /// nothing when the start time does not match (a reused pid).
    #[test]
    fn the_stop_kills_the_hung_command_and_only_it() {
        use std::io::Read;
        let (mut hung, nonce) = run_steps(vec!["sleep 30".into()]);
        let mut err = hung.stderr.take().unwrap();
        let mut seen = Vec::new();
        let who = loop {
            let mut buf = [0u8; 256];
            let n = err.read(&mut buf).unwrap();
            assert!(n > 0, "no who marker");
            seen.extend_from_slice(&buf[..n]);
            if let Some(w) = framed(&seen, &nonce).who {
                break w;
            }
        };
        let stop = |who: &[String; 3]| {
            let argv = wrapper::stop_steps(&nonce, who);
            let out = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let wrong = [who[0].clone(), who[1].clone(), "1".into()];
        assert!(stop(&wrong).contains(":stopped:not-running@@"));
        assert!(
            hung.try_wait().unwrap().is_none(),
            "a different start time was killed"
        );
        assert!(stop(&who).contains(":stopped:confirmed@@"));
        let status = hung.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn the_steps_run_each_quoted_and_stop_at_a_failure() {
        let cmds = step_commands(&[
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
            Step {
                name: "c",
                argv: vec!["echo".into(), "never".into()],
                judge: Box::new(|_, _| Ok(String::new())),
            },
        ])
        .unwrap();
        let (child, nonce) = run_steps(cmds);
        let out = child.wait_with_output().unwrap();
        let f = framed(&out.stdout, &nonce);
        assert_eq!(
            f.frames.iter().map(|f| f.status).collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert!(f.rest.is_empty());
        assert_eq!(framed(&out.stderr, &nonce).frames.len(), 2);
    }
}
