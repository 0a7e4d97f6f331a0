//! The attempt's command started: its own process group (killed if we
//! die), stdout and stderr on widened pipes, stdin a keepalive pipe or null.

use super::Options;
use crate::process::group;

/// Starts `argv` in its own process group, its output on two pipes.
pub(super) type Spawned = (
    duct::Handle,
    os_pipe::PipeReader,
    os_pipe::PipeReader,
    Option<os_pipe::PipeWriter>,
);

pub(super) fn spawn(argv: &[String], opts: &Options) -> Result<Spawned, String> {
    let pipes = os_pipe::pipe().and_then(|o| os_pipe::pipe().map(|e| (o, e)));
    let ((out_r, out_w), (err_r, err_w)) = pipes.map_err(|e| e.to_string())?;
    widen_pipe(&out_r);
    widen_pipe(&err_r);
    let mut stdin_w = None;
    let mut expr = duct::cmd(&argv[0], &argv[1..]);
    expr = match opts.keepalive {
        Some(_) => {
            let (r, w) = os_pipe::pipe().map_err(|e| e.to_string())?;
            // Our end never blocks: a keepalive that does not fit is not needed.
            set_nonblocking(&w);
            stdin_w = Some(w);
            expr.stdin_file(r)
        }
        None => expr.stdin_null(),
    };
    let mut expr = expr
        .stdout_file(out_w)
        .stderr_file(err_w)
        .unchecked()
        .before_spawn(|cmd| {
            crate::process::own_group_dying_with_us(cmd, libc::SIGKILL);
            Ok(())
        });
    for (k, v) in &opts.env {
        expr = expr.env(k, v);
    }
    if let Some(tag) = &opts.tag {
        expr = expr.env(group::TAG_VAR, tag);
        group::adopt_orphans(true);
    }
    let handle = expr.start();
    // Our copies of the pipes' write ends must close, or EOF never comes.
    drop(expr);
    let handle = handle.map_err(|e| crate::error::describe_io(&e))?;
    Ok((handle, out_r, err_r, stdin_w))
}

fn set_nonblocking(w: &os_pipe::PipeWriter) {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a pipe fd we own; failure leaves it blocking.
    unsafe {
        let flags = libc::fcntl(w.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(w.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// A 1 MiB pipe instead of the default 64 KiB: a flooding suite then costs
/// far fewer context switches. Best effort; the kernel may cap it.
fn widen_pipe(pipe: &os_pipe::PipeReader) {
    use std::os::fd::AsRawFd;
    // SAFETY: F_SETPIPE_SZ on a pipe fd we own; failure leaves it as it was.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}
