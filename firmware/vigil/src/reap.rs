//! Reaping children. As PID 1 every orphan in the system becomes our child, so
//! each SIGCHLD drains all exited children, not only the ones we started.

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tracing::{info, warn};

/// Collects every child that has exited, without blocking. Returns how many.
pub fn reap_all() -> usize {
    reap().0
}

/// Reaps, and tells whether any child is still running. As PID 1 "no child"
/// means no user process at all: every process descends from PID 1, and an
/// orphan is re-parented to it. (kill(-1, 0) cannot tell: it also succeeds
/// on kernel threads.)
pub fn children_left() -> bool {
    reap().1
}

fn reap() -> (usize, bool) {
    let mut n = 0;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return (n, true),
            Err(Errno::ECHILD) => return (n, false),
            Ok(WaitStatus::Exited(pid, code)) => {
                n += 1;
                info!("reaped pid {pid}: exited with status {code}");
            }
            Ok(WaitStatus::Signaled(pid, sig, core)) => {
                n += 1;
                let core = if core { " (core dumped)" } else { "" };
                info!("reaped pid {pid}: killed by {sig}{core}");
            }
            Ok(_) => {} // stopped/continued: nothing to collect
            Err(Errno::EINTR) => continue,
            Err(e) => {
                warn!("waitpid failed: {e}");
                return (n, true);
            }
        }
    }
}
