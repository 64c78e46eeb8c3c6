//! keepalived's `startup_script` and `shutdown_script`: run by PID 1 (or
//! `vigil run`) once before its daemons start and once after they have
//! stopped, waited for up to their timeout, then killed with whatever they
//! started. As PID 1 the reaper collects every child, so the exit comes
//! from it ([`crate::reap::watch`]), not from a `wait` of our own.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;
use tokio::signal::unix::Signal;
use tracing::{info, warn};
use vigil_config::HookScript;

/// Runs `h` to its end or its timeout; says how it went. `sigchld` is the
/// event loop's (not turning yet, or no longer).
pub async fn run(kind: &str, h: &HookScript, sigchld: &mut Signal) {
    let argv = match vigil_config::command::split(&h.program) {
        Ok(a) if !a.is_empty() => a,
        Ok(_) => return warn!("{kind}: no program"),
        Err(e) => return warn!("{kind} {:?}: {e}", h.program.as_str()),
    };
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::null()).process_group(0);
    if let Some(u) = &h.user {
        match crate::program::credentials(u) {
            Ok((uid, gid)) => {
                cmd.uid(uid.as_raw()).gid(gid.as_raw());
            }
            Err(e) => return warn!("{kind} {}: not run: {e}", argv[0]),
        }
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return warn!("{kind} {}: not started: {e}", argv[0]),
    };
    let pid = child.id();
    // Before anything else runs on this thread (the reaper is on it too).
    let mut exit = crate::reap::watch(pid);
    drop(child);
    let timeout = Duration::from_secs(u64::from(h.timeout_s));
    info!("{kind} {}: started (up to {} s)", argv[0], h.timeout_s);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            r = &mut exit => {
                match r {
                    Ok(crate::reap::Exit::Code(0)) => info!("{kind} {}: done", argv[0]),
                    Ok(e) => warn!("{kind} {}: {e}", argv[0]),
                    Err(_) => warn!("{kind} {}: its end was not seen", argv[0]),
                }
                return;
            }
            _ = sigchld.recv() => {
                crate::reap::reap_all();
            }
            _ = &mut deadline => {
                // The program and whatever it started.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                warn!("{kind} {}: still running after {} s; killed", argv[0], h.timeout_s);
                crate::reap::reap_all();
                return;
            }
        }
    }
}
