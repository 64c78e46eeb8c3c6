//! What the daemon tells the rest of the appliance: each instance's state
//! (at once, for what follows VRRP) and the `show vrrp` lines (at most
//! every [`EVERY`]: with 256 instances, formatting them on every packet
//! cost more than VRRP).

use crate::ipc::VrrpState;
use crate::notify::state_name;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_vrrp::instance::Dropped;
use vigil_vrrp::router::Router;
use vigil_vrrp::script::Verdict;

/// `show vrrp`, kept up to date by the daemon.
pub type Status = Arc<Mutex<Vec<String>>>;

/// Each instance's state by name, for what follows VRRP (the IPVS sync
/// daemon, a hand-over before a reboot).
pub type States = tokio::sync::watch::Sender<Vec<(String, VrrpState)>>;

/// How often the `show vrrp` lines are refreshed.
const EVERY: Duration = Duration::from_millis(250);

pub struct Publisher {
    pub status: Status,
    pub states: States,
    last_lines: Option<Instant>,
    /// A state changed since the states were last published.
    pub moved: bool,
}

impl Publisher {
    pub fn new(status: Status, states: States) -> Publisher {
        Publisher { status, states, last_lines: None, moved: true }
    }

    /// The states if one moved; the lines if they are due (or `force`).
    pub fn publish(&mut self, router: &Router, force: bool) {
        let due = force || self.last_lines.is_none_or(|t| t.elapsed() >= EVERY);
        let moved = std::mem::take(&mut self.moved);
        if !due && !moved {
            return;
        }
        self.states.send_if_modified(|s| {
            let now: Vec<(String, VrrpState)> =
                router.instances().map(|v| (v.spec.name.clone(), VrrpState::from(v.state))).collect();
            let same = *s == now;
            if !same {
                *s = now;
            }
            !same
        });
        if !due {
            return;
        }
        self.last_lines = Some(Instant::now());
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = lines(router);
    }
}

/// `show vrrp`: a line per instance (its drops by reason), a line per
/// interface that had adverts for VRIDs no instance runs.
fn lines(router: &Router) -> Vec<String> {
    let mut lines: Vec<String> = router
        .instances()
        .map(|v| {
            let d = v.drops;
            let mut line = format!(
                "{} {} vrid {} {} priority {} adverts sent {} received {} dropped {}",
                v.spec.name,
                v.spec.ifname,
                v.spec.vrrp.vrid,
                state_name(v.state),
                v.priority,
                v.stats.adverts_sent,
                v.stats.adverts_received,
                v.stats.dropped + d.not_a_peer + d.ttl + d.malformed
            );
            let mut why: Vec<String> = Dropped::ALL
                .iter()
                .zip(v.stats.dropped_by)
                .filter(|(_, n)| *n > 0)
                .map(|(reason, n)| format!("{n} {reason}"))
                .collect();
            for (n, reason) in
                [(d.not_a_peer, "not a unicast peer"), (d.ttl, "TTL not 255"), (d.malformed, "malformed")]
            {
                if n > 0 {
                    why.push(format!("{n} {reason}"));
                }
            }
            if !why.is_empty() {
                line.push_str(&format!(" ({})", why.join(", ")));
            }
            line
        })
        .collect();
    // What each tracked script says now (once per script).
    let mut scripts: Vec<&str> =
        router.instances().flat_map(|v| v.spec.scripts.iter().map(|t| t.name.as_str())).collect();
    scripts.sort();
    scripts.dedup();
    for name in scripts {
        let v = router.script(name);
        if let Some(b) = name.strip_prefix("bfd ") {
            let state = match v {
                Verdict::Init => "not heard of yet",
                Verdict::Good => "up",
                Verdict::Bad => "down",
            };
            lines.push(format!("bfd_instance {b}: {state}"));
            continue;
        }
        lines.push(match name.strip_prefix("process ") {
            Some(p) => format!(
                "vrrp_track_process {p}: {}",
                match v {
                    Verdict::Init => "not counted yet",
                    Verdict::Good => "in quorum",
                    Verdict::Bad => "out of quorum",
                }
            ),
            None => format!("vrrp_script {name}: {}", v.name()),
        });
    }
    let mut files: Vec<&str> = router.instances().flat_map(|v| v.spec.files.iter().map(|t| t.name.as_str())).collect();
    files.sort();
    files.dedup();
    for name in files {
        lines.push(format!("vrrp_track_file {name}: {}", router.file(name)));
    }
    for s in router.strays() {
        lines.push(format!(
            "{} ({}): {} adverts for VRIDs no instance runs (the last: VRID {} from {})",
            s.ifname,
            if s.v6 { "IPv6" } else { "IPv4" },
            s.count,
            s.last.0,
            s.last.1
        ));
    }
    lines
}
