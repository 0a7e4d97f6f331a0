//! Process groups: every command stagerun starts leads its own group, so the
//! whole tree (children, grandchildren that ignore TERM) can be stopped.

use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(10);

/// True while a live (non-zombie) process is in the group. Zombies do not
/// count: they are dead, and an orphan's zombie may wait for a reaper that
/// is not us.
pub fn alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    if pgid <= 0 || unsafe { libc::killpg(pgid, 0) } != 0 {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat")) else {
            continue;
        };
        if let Some((state, pgrp)) = state_and_group(&stat)
            && pgrp == pgid
            && state != "Z"
            && state != "X"
        {
            return true;
        }
    }
    false
}

/// (state, pgrp) from a /proc/PID/stat line; the command name may contain
/// anything, so fields are counted from the last `)`.
pub fn state_and_group(stat: &str) -> Option<(&str, i32)> {
    let close = stat.rfind(')')?;
    let mut fields = stat[close + 1..].split_whitespace();
    let state = fields.next()?;
    let _ppid = fields.next();
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Process start time (clock ticks after boot), to tell a pid from its reuse.
/// This process's start time, read once.
pub fn own_start_time() -> Option<u64> {
    static OWN: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *OWN.get_or_init(|| start_time(std::process::id() as i32))
}

pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    stat[close + 1..].split_whitespace().nth(19)?.parse().ok()
}

pub fn signal(pgid: i32, sig: i32) {
    if pgid > 0 {
        // SAFETY: a group we created; ESRCH is fine.
        unsafe {
            libc::killpg(pgid, sig);
        }
    }
}

/// TERM the group, wait up to `grace` for it to empty (or until `hurry`
/// says stop waiting), then KILL. True if something is still there after KILL.
pub fn terminate(pgid: i32, grace: Duration, hurry: &dyn Fn() -> bool) -> bool {
    if !alive(pgid) {
        return false;
    }
    if !hurry() {
        signal(pgid, libc::SIGTERM);
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if !alive(pgid) {
                return false;
            }
            if hurry() {
                break;
            }
            std::thread::sleep(POLL);
        }
    }
    signal(pgid, libc::SIGKILL);
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if !alive(pgid) {
            return false;
        }
        std::thread::sleep(POLL);
    }
    alive(pgid)
}

/// The environment variable that tags an attempt's processes: whatever
/// the suite starts inherits it, also a daemon that left its group.
pub const TAG_VAR: &str = "STAGERUN_RUN";

/// Makes this process the reaper of orphans in its subtree (or stops it):
/// while the suite runs, a daemon it leaves behind becomes our child, so it
/// is found among a handful of children instead of in all of /proc.
pub fn adopt_orphans(on: bool) {
    // SAFETY: prctl with integer arguments only.
    let done = unsafe {
        libc::prctl(
            libc::PR_SET_CHILD_SUBREAPER,
            libc::c_ulong::from(on),
            0,
            0,
            0,
        ) == 0
    };
    ADOPTING.store(on && done, std::sync::atomic::Ordering::SeqCst);
}

static ADOPTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Our children, from every thread's `children` list; None where the kernel
/// does not offer the list.
fn our_children() -> Option<Vec<i32>> {
    let parse = |list: String| -> Vec<i32> {
        list.split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .collect()
    };
    // The main thread's list tells whether the kernel has them at all;
    // another thread may exit while we read (its list is gone, not empty).
    let me = std::process::id().to_string();
    let mut pids = parse(std::fs::read_to_string(format!("/proc/self/task/{me}/children")).ok()?);
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        if task.file_name().to_str() != Some(me.as_str())
            && let Ok(list) = std::fs::read_to_string(task.path().join("children"))
        {
            pids.extend(parse(list));
        }
    }
    Some(pids)
}

fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Live processes (other than us) whose environment carries `TAG_VAR=tag`:
/// among our children when we adopt orphans, else anywhere.
pub fn tagged(tag: &str, among_children: bool) -> Vec<i32> {
    let needle = format!("{TAG_VAR}={tag}");
    let me = std::process::id() as i32;
    let candidates = among_children
        .then(our_children)
        .flatten()
        .unwrap_or_else(all_pids);
    candidates
        .into_iter()
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        })
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| state_and_group(&s).map(|(st, _)| st != "Z" && st != "X"))
                .unwrap_or(false)
        })
        .collect()
}

/// Live processes (other than us) with `var` in their environment, and its
/// value: how a process that forked away from us (`ssh -f`) is found again.
pub fn with_env(var: &str) -> Vec<(i32, Vec<u8>)> {
    let prefix = format!("{var}=");
    let me = std::process::id() as i32;
    let live = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| state_and_group(&s).map(|(st, _)| st != "Z" && st != "X"))
            .unwrap_or(false)
    };
    all_pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            let value = env
                .split(|b| *b == 0)
                .find_map(|v| v.strip_prefix(prefix.as_bytes()))?
                .to_vec();
            live(pid).then_some((pid, value))
        })
        .collect()
}

/// Stops what escaped the group but carries the attempt's tag (a daemon
/// that called setsid twice): TERM, a short grace, KILL. Returns how many
/// were found, and whether any is still alive.
pub fn stop_tagged(tag: &str, grace: Duration) -> (usize, bool) {
    let among_children = ADOPTING.load(std::sync::atomic::Ordering::SeqCst);
    let tagged = |tag: &str| tagged(tag, among_children);
    let found = tagged(tag);
    if found.is_empty() {
        return (0, false);
    }
    // SAFETY: getpgrp has no preconditions.
    let ours = unsafe { libc::getpgrp() };
    let send = |pids: &[i32], sig| {
        for &pid in pids {
            // SAFETY: kill on a pid we just read, and on the group it leads
            // (a daemon's own children with it), never our own group;
            // ESRCH is fine.
            unsafe {
                let pgid = libc::getpgid(pid);
                if pgid > 0 && pgid != ours {
                    libc::killpg(pgid, sig);
                }
                libc::kill(pid, sig);
            }
        }
    };
    send(&found, libc::SIGTERM);
    let until = Instant::now() + grace;
    while Instant::now() < until && !tagged(tag).is_empty() {
        std::thread::sleep(POLL);
    }
    send(&tagged(tag), libc::SIGKILL);
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until && !tagged(tag).is_empty() {
        std::thread::sleep(POLL);
    }
    (found.len(), !tagged(tag).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_odd_command_names() {
        let stat = "123 (a) b (c) S 1 456 456 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 9999 0";
        assert_eq!(state_and_group(stat), Some(("S", 456)));
    }

    #[test]
    fn own_start_time_is_readable() {
        assert!(start_time(std::process::id() as i32).is_some());
    }
}
