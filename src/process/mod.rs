//! Starting and stopping processes: the suite's attempt (supervise), short
//! helpers (git, the alert hook, ssh control commands, remote stops), their
//! process groups, and what is left to clean up if stagerun itself dies.

pub mod group;
pub mod helper;
pub mod registry;
pub mod supervise;

use std::os::unix::process::CommandExt;

/// Makes `cmd` lead its own process group and die with stagerun
/// (`PR_SET_PDEATHSIG`), so a SIGKILLed stagerun does not leave it running.
pub fn own_group_dying_with_us(cmd: &mut std::process::Command, death_signal: i32) {
    cmd.process_group(0);
    // SAFETY: getpid is async-signal-safe; the closure only calls prctl,
    // getppid and _exit, all async-signal-safe.
    let parent = unsafe { libc::getpid() };
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                death_signal as libc::c_ulong,
                0,
                0,
                0,
            );
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}
