//! What the daemon tells the rest of the appliance: each instance's state
//! (at once, for what follows VRRP) and the `show vrrp` lines (at most
//! every [`EVERY`]: with 256 instances, formatting them on every packet
//! cost more than VRRP).

use crate::ipc::VrrpState;
use crate::report::{Drops, Instance, Report, Stray, Track, Tracker, TrackerKind, Vrrp};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};
use vigil_vrrp::router::Router;
use vigil_vrrp::script::Verdict;

/// `show vrrp` and the metrics, kept up to date by the daemon.
pub type Status = crate::report::Shared;

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
    /// Each instance's state when last seen, and since when (ms since the
    /// Unix epoch; 0: as it started).
    last: HashMap<String, (VrrpState, u64)>,
}

impl Publisher {
    pub fn new(status: Status, states: States) -> Publisher {
        Publisher { status, states, last_lines: None, moved: true, last: HashMap::new() }
    }

    /// The states if one moved; the lines if they are due (or `force`).
    pub fn publish(&mut self, router: &Router, force: bool) {
        let due = force || self.last_lines.is_none_or(|t| t.elapsed() >= EVERY);
        let moved = std::mem::take(&mut self.moved);
        if !due && !moved {
            return;
        }
        let now: Vec<(String, VrrpState)> =
            router.instances().map(|v| (v.spec.name.clone(), VrrpState::from(v.state))).collect();
        if moved {
            // When each state was reached: as near as the loop publishes it
            // (at once, on a change).
            let ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            self.last.retain(|name, _| now.iter().any(|(n, _)| n == name));
            for (name, state) in &now {
                match self.last.get_mut(name) {
                    Some(l) if l.0 != *state => *l = (*state, ms),
                    Some(_) => {}
                    None => {
                        self.last.insert(name.clone(), (*state, 0));
                    }
                }
            }
        }
        self.states.send_if_modified(|s| {
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
        crate::report::set(&self.status, Report::Vrrp(report(router, &self.last)));
    }
}

/// The report: each instance with its counters, each tracker, each
/// interface that had adverts for VRIDs no instance runs.
fn report(router: &Router, last: &HashMap<String, (VrrpState, u64)>) -> Vrrp {
    let instances = router
        .instances()
        .map(|v| {
            let (d, by) = (v.drops, v.stats.dropped_by);
            let state = VrrpState::from(v.state);
            Instance {
                name: v.spec.name.clone(),
                interface: v.spec.ifname.clone(),
                vrid: v.spec.vrrp.vrid,
                version: v.spec.vrrp.version,
                state,
                priority: v.spec.vrrp.priority,
                effective_priority: v.priority,
                addresses: v.spec.vrrp.addrs.iter().map(|a| a.to_string()).collect(),
                adverts_sent: v.stats.adverts_sent,
                adverts_received: v.stats.adverts_received,
                became_master: v.stats.became_master,
                released_master: v.stats.released_master,
                priority_zero_sent: v.stats.priority_zero_sent,
                priority_zero_received: v.stats.priority_zero_received,
                transitions: v.stats.transitions,
                last_transition_ms: last.get(&v.spec.name).map(|l| l.1).filter(|t| *t > 0),
                // Indexed as Dropped::ALL.
                dropped: Drops {
                    version: by[0],
                    vrid: by[1],
                    auth: by[2],
                    interval: by[3],
                    not_listening: by[4],
                    addresses: by[5],
                    not_a_peer: d.not_a_peer,
                    ttl: d.ttl,
                    malformed: d.malformed,
                },
            }
        })
        .collect();
    // What each tracked script says now (once per script).
    let mut scripts: Vec<&str> =
        router.instances().flat_map(|v| v.spec.scripts.iter().map(|t| t.name.as_str())).collect();
    scripts.sort();
    scripts.dedup();
    let mut trackers: Vec<Tracker> = scripts
        .into_iter()
        .map(|name| {
            let state = match router.script(name) {
                Verdict::Init => Track::Init,
                Verdict::Good => Track::Good,
                Verdict::Bad => Track::Bad,
            };
            let (kind, name) = match (name.strip_prefix("bfd "), name.strip_prefix("process ")) {
                (Some(b), _) => (TrackerKind::Bfd, b),
                (_, Some(p)) => (TrackerKind::Process, p),
                _ => (TrackerKind::Script, name),
            };
            Tracker { kind, name: name.to_string(), state }
        })
        .collect();
    let mut files: Vec<&str> = router.instances().flat_map(|v| v.spec.files.iter().map(|t| t.name.as_str())).collect();
    files.sort();
    files.dedup();
    trackers.extend(files.into_iter().map(|name| Tracker {
        kind: TrackerKind::File,
        name: name.to_string(),
        state: Track::Value(router.file(name)),
    }));
    let strays = router
        .strays()
        .iter()
        .map(|s| Stray {
            interface: s.ifname.clone(),
            ipv6: s.v6,
            count: s.count,
            last_vrid: s.last.0,
            last_from: s.last.1.to_string(),
        })
        .collect();
    Vrrp { instances, trackers, strays }
}
