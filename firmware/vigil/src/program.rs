//! The operator's programs, as keepalived runs them: a command line split
//! by [`vigil_config::command::split`] (no shell), in a process group of
//! its own, as the user the config names, killed with whatever it started
//! when it runs past its time. MISC_CHECK and `vrrp_script` run through
//! [`run`]; notify programs through [`spawn`] (not waited for).

use nix::unistd::{Gid, Group, Uid, User};
use std::process::Stdio;
use std::time::Duration;
use tracing::warn;
use vigil_config::ScriptUser;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    /// Killed by a signal (not vigil's).
    Signalled,
    /// Still running at its timeout: killed (with its process group).
    TimedOut(Duration),
    /// It could not be started (no such program, not executable, no such
    /// user).
    NotStarted(String),
}

impl Outcome {
    pub fn ok(&self) -> bool {
        *self == Outcome::Exited(0)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Exited(c) => write!(f, "exit status {c}"),
            Outcome::Signalled => f.write_str("killed by a signal"),
            Outcome::TimedOut(t) => write!(f, "still running after {:.1} s; killed", t.as_secs_f64()),
            Outcome::NotStarted(e) => write!(f, "not started: {e}"),
        }
    }
}

/// A user (and group) by name or number; the group defaults to the
/// user's own.
pub fn credentials(u: &ScriptUser) -> Result<(Uid, Gid), String> {
    let (uid, own_gid) = match u.user.parse::<u32>() {
        Ok(n) => (Uid::from_raw(n), None),
        Err(_) => match User::from_name(&u.user) {
            Ok(Some(user)) => (user.uid, Some(user.gid)),
            Ok(None) => return Err(format!("no user {}", u.user)),
            Err(e) => return Err(format!("looking up user {}: {e}", u.user)),
        },
    };
    let gid = match &u.group {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => Gid::from_raw(n),
            Err(_) => match Group::from_name(g) {
                Ok(Some(group)) => group.gid,
                Ok(None) => return Err(format!("no group {g}")),
                Err(e) => return Err(format!("looking up group {g}: {e}")),
            },
        },
        None => own_gid.unwrap_or(Gid::from_raw(uid.as_raw())),
    };
    Ok((uid, gid))
}

fn command(argv: &[String], user: Option<(Uid, Gid)>) -> Option<tokio::process::Command> {
    let (prog, args) = argv.split_first()?;
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).process_group(0).kill_on_drop(true);
    if let Some((uid, gid)) = user {
        cmd.uid(uid.as_raw()).gid(gid.as_raw());
    }
    Some(cmd)
}

/// Runs a command line to its end or its timeout. (The children that run
/// programs are not PID 1: tokio waits for its own children.)
pub async fn run(line: &str, user: Option<(Uid, Gid)>, timeout: Duration) -> Outcome {
    let argv = match vigil_config::command::split(line) {
        Ok(a) => a,
        Err(e) => return Outcome::NotStarted(e),
    };
    let Some(mut cmd) = command(&argv, user) else { return Outcome::NotStarted("no program".into()) };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::NotStarted(format!("{}: {e}", argv[0])),
    };
    let pid = child.id();
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => status.code().map_or(Outcome::Signalled, Outcome::Exited),
        Ok(Err(e)) => Outcome::NotStarted(format!("{}: waiting for it: {e}", argv[0])),
        Err(_) => {
            if let Some(pid) = pid {
                // The program and whatever it started.
                let _ =
                    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.wait().await;
            Outcome::TimedOut(timeout)
        }
    }
}

/// Starts a program (its command line, then `extra` arguments) and does
/// not wait for it to finish (notify programs).
pub fn spawn(line: &str, extra: &[String]) {
    let argv = match vigil_config::command::split(line) {
        Ok(a) => a,
        Err(e) => return warn!("notify {line:?}: {e}"),
    };
    let Some((prog, args)) = argv.split_first() else { return };
    match std::process::Command::new(prog).args(args).args(extra).stdin(Stdio::null()).spawn() {
        // Waited for on a thread (as PID 1 the reaper may collect it first: harmless).
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => warn!("notify {prog}: {e}"),
    }
}
