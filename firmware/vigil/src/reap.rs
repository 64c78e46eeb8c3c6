//! Reaping children. As PID 1 every orphan in the system becomes our child, so
//! each SIGCHLD drains all exited children, not only the ones we started.

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tracing::{debug, info, warn};

/// How a watched child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal { signal: nix::sys::signal::Signal, core: bool },
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with status {c}"),
            Exit::Signal { signal, core } => {
                write!(f, "was killed by {signal}{}", if *core { " (core dumped)" } else { "" })
            }
        }
    }
}

/// Children whose end someone waits for (the supervised daemons): the
/// reaper hands their status over instead of only logging it.
static WATCHED: Mutex<BTreeMap<i32, tokio::sync::oneshot::Sender<Exit>>> = Mutex::new(BTreeMap::new());

/// Asks for `pid`'s exit status. Call it right after spawning, before the
/// runtime runs anything else: the reaper runs on this same thread, so the
/// child cannot be reaped in between.
pub fn watch(pid: u32) -> tokio::sync::oneshot::Receiver<Exit> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    WATCHED.lock().unwrap_or_else(|p| p.into_inner()).insert(pid as i32, tx);
    rx
}

/// Hands a reaped child's status to whoever watches it; false if nobody does.
fn deliver(pid: Pid, exit: Exit) -> bool {
    let tx = WATCHED.lock().unwrap_or_else(|p| p.into_inner()).remove(&pid.as_raw());
    match tx {
        Some(tx) => {
            let _ = tx.send(exit);
            debug!("reaped watched pid {pid}: {exit:?}");
            true
        }
        None => false,
    }
}

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
                if !deliver(pid, Exit::Code(code)) {
                    info!("reaped pid {pid}: exited with status {code}");
                }
            }
            Ok(WaitStatus::Signaled(pid, sig, core)) => {
                n += 1;
                if !deliver(pid, Exit::Signal { signal: sig, core }) {
                    let core = if core { " (core dumped)" } else { "" };
                    info!("reaped pid {pid}: killed by {sig}{core}");
                }
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
