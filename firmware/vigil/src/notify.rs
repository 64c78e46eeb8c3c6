//! Notify programs, as keepalived runs them (VRRP instances and sync
//! groups, and the checkers' quorum programs): started and not waited for
//! ([`crate::program::spawn`]).

use vigil_vrrp::instance::State;

/// A state's name as keepalived says it (and `show vrrp`).
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

/// Runs an instance's or a sync group's notify programs for a new state:
/// `notify_<state>` with no arguments, and `notify` with
/// `INSTANCE|GROUP name STATE [priority]`.
pub fn state_change(n: &vigil_config::Notify, name: &str, kind: &str, to: State, priority: Option<u8>) {
    let specific = match to {
        State::Master => n.master.as_deref(),
        State::Backup => n.backup.as_deref(),
        State::Fault => n.fault.as_deref(),
        State::Initialize => n.stop.as_deref(),
    };
    let mut args = vec![kind.to_string(), name.to_string(), state_name(to).to_string()];
    args.extend(priority.map(|p| p.to_string()));
    let generic = n.any.as_deref().map(|cmd| (cmd, args));
    for (cmd, extra) in specific.map(|c| (c, Vec::new())).into_iter().chain(generic) {
        crate::program::spawn(cmd, &extra);
    }
}
