//! Reaping children. As PID 1 every orphan in the system becomes our child, so
//! each SIGCHLD drains all exited children, not only the ones we started.

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tracing::{info, warn};

/// Collects every child that has exited, without blocking. Returns how many.
pub fn reap_all() -> usize {
    let mut n = 0;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return n,
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
                return n;
            }
        }
    }
}
