//! Stopping an attempt where the suite runs: killing our ssh or docker
//! client does not stop a process started by `docker exec` (moby#9098,
//! kubernetes#89031), so a separate short exec stops the attempt's process
//! group there (TERM, grace, KILL) and verifies that nothing is left. It
//! goes through the session's master when that still answers, otherwise
//! over a new connection, bounded by its own time limit.

use super::plan::Plan;
use super::verdict::Cleanup;
use crate::capture::markers::{self, Marker};
use crate::process::helper::Helper;
use crate::transport::session::Session;
use crate::transport::wrapper;
use std::time::Duration;

pub fn stop(plan: &Plan, session: Option<&mut Session>, nonce: &str) -> Cleanup {
    let control = match session {
        Some(s) => s.alive().then(|| s.control.clone()),
        None => None,
    };
    let grace = plan.settings.grace.0;
    if let Some(control) = control {
        // A master that answers `-O check` can still have a stalled channel
        // (a stopped sshd session): give it the grace and a little more,
        // then stop over a new connection.
        match stop_via(plan, nonce, Some(&control), grace + Duration::from_secs(5)) {
            Cleanup::Failed(why) => {
                crate::note!(
                    "remote stop through the shared connection failed ({why}); trying a new connection"
                );
            }
            done => return done,
        }
    }
    let limit = plan.settings.connect_timeout.0 + grace + Duration::from_secs(10);
    stop_via(plan, nonce, None, limit)
}

fn stop_via(
    plan: &Plan,
    nonce: &str,
    control: Option<&std::path::Path>,
    limit: Duration,
) -> Cleanup {
    let cmd = wrapper::stop(
        nonce,
        &plan.settings.remote_state_dir.0,
        &plan.item.id,
        plan.settings.grace.0,
    );
    let argv = match plan.transport.argv(cmd, control) {
        Ok(a) => a,
        Err(e) => return Cleanup::Failed(e.to_string()),
    };
    let mut helper = Helper::new(argv, limit);
    // The signal that asked for this stop must not cut it short; another one may.
    helper.signals_since = Some(crate::signals::count());
    let out = helper.run();
    let answer = out
        .stdout_text()
        .lines()
        .find_map(|l| markers::find(l.as_bytes(), nonce.as_bytes()).map(|(_, m, _)| m));
    match answer {
        Some(Marker::Stopped { result, .. }) if result == "confirmed" => Cleanup::Confirmed,
        Some(Marker::Stopped { result, .. }) if result == "not-running" => Cleanup::Confirmed,
        Some(Marker::Stopped { result, .. }) if result == "unverified" => Cleanup::Unverified(
            "the search for processes carrying the run's tag cannot run there (/proc unreadable)"
                .into(),
        ),
        Some(Marker::Stopped { result, pids }) => Cleanup::Failed(format!(
            "{result} after TERM and KILL where the suite runs (pids {pids})"
        )),
        _ => {
            let last = out
                .stderr_text()
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            Cleanup::Failed(format!("{}{last}", out.failure("the remote stop")))
        }
    }
}
