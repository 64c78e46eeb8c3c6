//! Power off, reboot and halt, as PID 1: stop every process, sync, reboot(2).

use nix::sys::reboot::{RebootMode, reboot};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, sync};
use std::io::Write;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PowerOff,
    Reboot,
    Halt,
}

impl Action {
    /// What PID 1 does on each signal. SIGTERM and SIGPWR (power failure)
    /// power off; SIGINT is Ctrl-Alt-Del (we disable the kernel's instant
    /// reboot so it reaches us) and reboots; SIGUSR1/SIGUSR2 halt/power off
    /// as busybox init does.
    pub fn for_signal(sig: Signal) -> Option<Action> {
        match sig {
            Signal::SIGTERM | Signal::SIGPWR | Signal::SIGUSR2 => Some(Action::PowerOff),
            Signal::SIGINT => Some(Action::Reboot),
            Signal::SIGUSR1 => Some(Action::Halt),
            _ => None,
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::PowerOff => "powering off",
            Action::Reboot => "rebooting",
            Action::Halt => "halting",
        }
    }

    fn mode(self) -> RebootMode {
        match self {
            Action::PowerOff => RebootMode::RB_POWER_OFF,
            Action::Reboot => RebootMode::RB_AUTOBOOT,
            Action::Halt => RebootMode::RB_HALT_SYSTEM,
        }
    }
}

/// How long processes get between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// The shutdown sequence. Never returns: if reboot(2) itself fails there is
/// nothing left to do but keep reaping, so PID 1 does not exit.
pub fn shutdown(action: Action, why: &str) -> ! {
    crate::console::write(crate::console::Stream::Err, format!("vigil: {} ({why})\n", action.verb()).as_bytes());
    // What is queued for the console goes out first (a stuck console gets 2 s).
    crate::console::flush(Duration::from_secs(2));
    stop_all_processes();
    sync();
    info!("filesystems synced; calling reboot(2)");
    crate::console::flush(Duration::from_secs(1));
    match reboot(action.mode()) {
        Ok(never) => match never {},
        Err(e) => error!("reboot(2) failed: {e}; staying up, halted"),
    }
    loop {
        crate::reap::reap_all();
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// SIGTERM to every process but us, a grace period, then SIGKILL.
fn stop_all_processes() {
    // kill(-1) signals every process we may signal except ourselves.
    match kill(Pid::from_raw(-1), Signal::SIGTERM) {
        Ok(()) => {}
        Err(nix::errno::Errno::ESRCH) => return, // nothing else is running
        Err(e) => warn!("kill(-1, SIGTERM) failed: {e}"),
    }
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if !crate::reap::children_left() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    warn!("processes still running after {GRACE:?}; sending SIGKILL");
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    std::thread::sleep(Duration::from_millis(50));
    crate::reap::reap_all();
}

/// The signals the event loop handles.
fn control_signals() -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGPWR,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGHUP,
        Signal::SIGCHLD,
    ] {
        set.add(s);
    }
    set
}

/// Blocks the control signals (they stay pending) until [`release_signals`].
pub fn hold_signals() {
    if let Err(e) = control_signals().thread_block() {
        warn!("cannot hold signals during boot: {e}");
    }
}

/// Unblocks the control signals; called once their handlers exist. Must run
/// before any child is started, since children inherit the signal mask.
pub fn release_signals() {
    if let Err(e) = control_signals().thread_unblock() {
        error!("cannot unblock signals: {e}; power signals will not be handled");
    }
}

/// PID 1 must not die: its death panics the kernel. A panic is a bug, so log
/// it, sync, and reboot the appliance rather than leave it wedged.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(std::io::stderr(), "vigil: BUG: {info}; rebooting");
        sync();
        let _ = reboot(RebootMode::RB_AUTOBOOT);
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_actions() {
        assert_eq!(Action::for_signal(Signal::SIGTERM), Some(Action::PowerOff));
        assert_eq!(Action::for_signal(Signal::SIGPWR), Some(Action::PowerOff));
        assert_eq!(Action::for_signal(Signal::SIGINT), Some(Action::Reboot));
        assert_eq!(Action::for_signal(Signal::SIGUSR1), Some(Action::Halt));
        assert_eq!(Action::for_signal(Signal::SIGHUP), None);
    }
}
