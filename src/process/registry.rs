//! What must not outlive stagerun, whatever ends it: the local process group
//! of the running attempt, a remote stop to run for it, and a log whose new
//! verdict could not be recorded. `main` calls `cleanup` after a panic; the
//! normal paths clear the entries as they finish them.

use std::sync::Mutex;
use std::time::Duration;

type Action = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Live {
    local_group: Option<i32>,
    remote_stop: Option<Action>,
    unrecorded: Option<Action>,
}

static LIVE: Mutex<Option<Live>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Live) -> R) -> R {
    let mut guard = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(Live::default))
}

pub fn set_local_group(pgid: Option<i32>) {
    with(|l| l.local_group = pgid);
}

pub fn set_remote_stop(stop: Option<Action>) {
    with(|l| l.remote_stop = stop);
}

/// What marks the work item's verdict as not recorded, if we die first.
pub fn set_unrecorded(mark: Option<Action>) {
    with(|l| l.unrecorded = mark);
}

/// After a panic: stop the suite here and where it runs, and leave a record
/// that `gate` reads as HOLD.
pub fn cleanup() {
    let live = LIVE.lock().unwrap_or_else(|p| p.into_inner()).take();
    let Some(live) = live else { return };
    if let Some(pgid) = live.local_group {
        super::group::terminate(pgid, Duration::from_secs(1), &|| false);
    }
    if let Some(stop) = live.remote_stop {
        stop();
    }
    if let Some(mark) = live.unrecorded {
        mark();
    }
}
