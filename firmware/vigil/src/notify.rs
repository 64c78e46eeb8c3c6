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

/// Why an instance left: vigil stops, a commit removed it, or a commit
/// changed it (its successor starts: keepalived's reload keeps it running
/// and says nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    Stopped,
    Removed,
    Changed,
}

/// Runs an instance's or a sync group's notify programs for a new state:
/// `notify_<state>` with no arguments, and `notify` with
/// `INSTANCE|GROUP name STATE [priority]` (keepalived's words: STOP for an
/// instance that stops).
pub fn state_change(n: &vigil_config::Notify, name: &str, kind: &str, to: State, priority: Option<u8>) {
    let (specific, word) = match to {
        State::Master => (n.master.as_deref(), "MASTER"),
        State::Backup => (n.backup.as_deref(), "BACKUP"),
        State::Fault => (n.fault.as_deref(), "FAULT"),
        State::Initialize => (n.stop.as_deref(), "STOP"),
    };
    run(n, specific, name, kind, word, priority);
}

/// An instance that left (see [`Left`]): STOP as vigil stops; a removed one
/// is FAULT as keepalived says it on a reload, or with `notify_deleted`
/// DELETED (and its program); a changed one says nothing.
pub fn left(v: &vigil_config::VrrpInstance, why: Left, priority: Option<u8>) {
    let n = &v.notify;
    match (why, &v.notify_deleted) {
        (Left::Stopped, _) => state_change(n, &v.name, "INSTANCE", State::Initialize, priority),
        (Left::Removed, None) => state_change(n, &v.name, "INSTANCE", State::Fault, priority),
        (Left::Removed, Some(program)) => run(n, program.as_deref(), &v.name, "INSTANCE", "DELETED", priority),
        (Left::Changed, _) => {}
    }
}

fn run(n: &vigil_config::Notify, specific: Option<&str>, name: &str, kind: &str, word: &str, priority: Option<u8>) {
    let mut args = vec![kind.to_string(), name.to_string(), word.to_string()];
    args.extend(priority.map(|p| p.to_string()));
    let generic = n.any.as_deref().map(|cmd| (cmd, args));
    for (cmd, extra) in specific.map(|c| (c, Vec::new())).into_iter().chain(generic) {
        crate::program::spawn(cmd, &extra);
    }
}
