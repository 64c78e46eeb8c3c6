//! Every VRRP instance of a node, sans-IO, in the quinn-proto style: the
//! [`Router`] takes what happened with the time it happened
//! ([`Router::handle_datagram`], [`Router::handle_links`],
//! [`Router::handle_timeout`], [`Router::configure`], [`Router::hand_over`])
//! and says what to do through [`Router::poll_action`] and when to call back
//! through [`Router::poll_timeout`]. The firmware's thin layer owns the
//! sockets, the addresses and the clock.
//!
//! Beside the per-instance state machines ([`Instance`]) it owns what is
//! between them and the wire: demultiplexing by interface, family and VRID;
//! the checks before the state machine (own packets, unicast peers, TTL,
//! parsing); sync groups; interface tracking; the bursts of gratuitous ARPs
//! / unsolicited NAs (cancelled when an instance leaves MASTER); the drop
//! counters and their rate-limited log lines; and reconfiguration that
//! leaves unchanged instances alone.
//!
//! Actions come out in two classes: the urgent ones (adverts, state
//! changes) of every instance before any costly one (adding or removing
//! addresses, announcing them). A caller that spends a budget per turn on
//! the costly ones, calling [`Router::handle_timeout`] between them, never
//! delays an advert or a takeover behind another instance's address work.

use crate::instance::{self, Burst, Dropped, Instance, State, Stats};
use crate::script::{self, Verdict};
use crate::sync::Group;
use crate::wire::{self, Packet, Repr};
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// Where adverts go without unicast peers.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// Masters' adverts are woken for on a grid of this step, so that many
/// masters' adverts go out in one turn instead of a turn each (at most a
/// step late; the backups wait three intervals). A backup's takeover is
/// woken for exactly.
pub const ADVERT_SLOT: Duration = Duration::from_millis(10);

/// An instance, for as long as it runs (a changed instance is a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(u32);

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One instance as configured, with what the I/O layer resolved for it
/// (its interface's index, its primary address in `vrrp.primary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub ifname: String,
    pub ifindex: i32,
    /// Unicast peers; none: the multicast group.
    pub peers: Vec<IpAddr>,
    /// The multicast group, when not the RFCs' (keepalived's
    /// `mcast_dst_ip`, `vrrp_mcast_group4/6`).
    pub group: Option<IpAddr>,
    /// FAULT for want of a unicast peer (keepalived's
    /// `unicast_fault_no_peer` with none listed).
    pub fault_no_peer: bool,
    /// FAULT while this address (the source) is not on the system
    /// (keepalived's `track_src_ip`): see [`Router::handle_addresses`].
    pub track_src: Option<IpAddr>,
    /// Its addresses whose removal by someone else makes a master resign
    /// (its virtual and excluded ones but those with `no_track`, as
    /// keepalived tracks them): see [`Router::handle_addresses`].
    pub tracked_addresses: Vec<IpAddr>,
    pub vrrp: instance::Config,
    pub garp: Garp,
    /// Whether its own interface going down puts it in FAULT (keepalived's
    /// `dont_track_primary` says no).
    pub track_primary: bool,
    /// `track_interface`: weight 0 puts the instance in FAULT while the
    /// interface is down; others move the priority (negative when down,
    /// positive when up).
    pub track: Vec<(String, i16)>,
    /// `track_script` (its sync group's too): by name, with the weight and
    /// direction that apply (see [`script::contribution`]).
    pub scripts: Vec<TrackedScript>,
    /// `track_file`: the same, for numbers in files (see
    /// [`script::file_contribution`]).
    pub files: Vec<TrackedScript>,
}

/// A script an instance tracks, with the weight it tracks it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedScript {
    pub name: String,
    pub weight: i16,
    pub reverse: bool,
}

impl Spec {
    pub fn v6(&self) -> bool {
        self.vrrp.primary.is_ipv6()
    }

    /// Where its adverts go.
    pub fn destinations(&self) -> Vec<IpAddr> {
        if self.peers.is_empty() { vec![self.multicast_group()] } else { self.peers.clone() }
    }

    /// The group its multicast adverts go to (and come to).
    pub fn multicast_group(&self) -> IpAddr {
        self.group.unwrap_or(if self.v6() { IpAddr::V6(GROUP_V6) } else { IpAddr::V4(GROUP_V4) })
    }
}

/// Announcement bursts: `repeat` rounds (every address once each),
/// `interval` apart (`garp_master_repeat`, `garp_interval`); a refresh
/// has `refresh_repeat` (`garp_master_refresh_repeat`), the answer to a
/// lower-priority master `lower_prio_repeat` (`garp_lower_prio_repeat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Garp {
    pub repeat: u32,
    pub refresh_repeat: u32,
    pub lower_prio_repeat: u32,
    pub interval: Duration,
}

impl Garp {
    /// Rounds in a burst of this kind (at least one).
    pub fn rounds(&self, kind: Burst) -> u32 {
        match kind {
            Burst::Master => self.repeat,
            Burst::Refresh => self.refresh_repeat,
            Burst::LowerPrio => self.lower_prio_repeat,
        }
        .max(1)
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this VRRP packet (checksum included) from the instance's
    /// primary address to `dst`.
    Transmit {
        id: Id,
        dst: IpAddr,
        payload: Vec<u8>,
    },
    StateChange {
        id: Id,
        from: State,
        to: State,
    },
    /// Every member of sync group `group` (its index in the configured
    /// list) is in state `to` now.
    GroupState {
        group: usize,
        to: State,
    },
    /// A master heard a lower-priority master (for
    /// `notify_master_rx_lower_pri`).
    HeardLower {
        id: Id,
        from: IpAddr,
        priority: u8,
    },
    /// A master's address, route or rule was removed by someone else: it
    /// resigned.
    Lost {
        id: Id,
        what: Lost,
    },
    /// Tracking moved the priority.
    Priority {
        id: Id,
        from: u8,
        to: u8,
    },
    /// A hand-over is over: each instance that resigned, and whether
    /// another router's advert came for it meanwhile.
    HandedOver(Vec<(Id, bool)>),
    // The costly ones, after every urgent one.
    AddAddresses(Id),
    RemoveAddresses(Id),
    /// One round of gratuitous ARPs / unsolicited NAs for its addresses.
    Announce(Id),
    /// One round for its addresses on other interfaces (`garp_extra_if`).
    AnnounceElsewhere(Id),
    /// The instance left the configuration and has resigned: its I/O goes.
    Removed(Id),
}

impl Action {
    /// Adding, removing or announcing addresses, or tearing an instance down.
    pub fn is_costly(&self) -> bool {
        matches!(
            self,
            Action::AddAddresses(_)
                | Action::RemoveAddresses(_)
                | Action::Announce(_)
                | Action::AnnounceElsewhere(_)
                | Action::Removed(_)
        )
    }
}

/// What a master lost under it (see [`Action::Lost`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    Address(IpAddr),
    /// Its virtual route of that place in its list.
    Route(usize),
    /// Its virtual rule of that place in its list.
    Rule(usize),
}

/// Packets dropped before an instance's state machine saw them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    pub not_a_peer: u64,
    pub ttl: u64,
    pub malformed: u64,
}

/// Something worth a log line, let through the rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The instance it concerns (None: no instance runs the VRID).
    pub id: Option<Id>,
    /// Lines of the same kind held back by the rate limit before this one.
    pub held: u64,
    pub what: Noticed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Noticed {
    Ttl {
        src: IpAddr,
        ttl: u8,
    },
    Malformed {
        src: IpAddr,
        error: wire::Error,
    },
    Dropped {
        src: IpAddr,
        why: Dropped,
    },
    /// A lower-priority master was answered (a split brain healing).
    Answered {
        src: IpAddr,
        theirs: u8,
        ours: u8,
    },
    /// An advert for a VRID no instance on the interface runs.
    Stray {
        src: IpAddr,
        ifname: String,
        vrid: u8,
    },
}

impl fmt::Display for Noticed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Noticed::Ttl { src, ttl } => write!(f, "advert from {src} with TTL {ttl} (not 255) dropped"),
            Noticed::Malformed { src, error } => write!(f, "bad packet from {src}: {error}"),
            Noticed::Dropped { src, why } => write!(f, "advert from {src} dropped: {why}"),
            Noticed::Answered { src, theirs, ours } => {
                if theirs == ours {
                    write!(f, "advert from {src} with our priority {ours} from a lower address")?;
                } else {
                    write!(f, "advert from {src} with lower priority {theirs} (ours {ours})")?;
                }
                write!(f, ": another master; answered with an advert and an announcement of the addresses")
            }
            Noticed::Stray { src, ifname, vrid } => {
                write!(f, "advert from {src} on {ifname} for VRID {vrid}: no instance here runs it; dropped")
            }
        }
    }
}

/// At most [`RateLimit::BURST`] lines per [`RateLimit::WINDOW`]; what is
/// held back is counted and reported with the next line let through.
#[derive(Debug, Clone, Default)]
pub struct RateLimit {
    window: Option<Instant>,
    lines: u32,
    held: u64,
}

impl RateLimit {
    pub const BURST: u32 = 5;
    pub const WINDOW: Duration = Duration::from_secs(10);

    /// Whether to log now; `Some(n)`: yes, and n lines were held back before it.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if self.window.is_none_or(|w| now >= w + Self::WINDOW) {
            self.window = Some(now);
            self.lines = 0;
        }
        if self.lines < Self::BURST {
            self.lines += 1;
            return Some(std::mem::take(&mut self.held));
        }
        self.held += 1;
        None
    }
}

/// Adverts on an interface for VRIDs no instance there runs (RFC 5798 7.1:
/// "SHOULD log").
#[derive(Debug, Clone)]
pub struct Strays {
    pub ifindex: i32,
    pub v6: bool,
    pub ifname: String,
    pub count: u64,
    /// The last one's VRID and source.
    pub last: (u8, IpAddr),
    log: RateLimit,
}

struct Slot {
    id: Id,
    spec: Spec,
    vrrp: Instance,
    drops: Drops,
    log: RateLimit,
    /// The rest of the running announcement burst: rounds left and when
    /// the next is due.
    burst: Option<(u32, Instant)>,
    /// What the links said last: a fault (own link, weight-0 track) and
    /// the weights' sum.
    link_fault: bool,
    link_delta: i32,
    /// Its `track_src` address is not on the system.
    src_fault: bool,
    /// Started: not while a weight-0 script it (or its sync group) tracks
    /// has not run yet.
    started: bool,
    /// Start as master (a restarted daemon whose addresses are still up).
    resume: bool,
}

struct Handover {
    resigned: Vec<(Id, bool)>,
    until: Instant,
}

/// A read-only view of one instance (for status and metrics).
pub struct View<'a> {
    pub id: Id,
    pub spec: &'a Spec,
    pub state: State,
    /// The effective priority (tracking included).
    pub priority: u8,
    pub stats: &'a Stats,
    pub drops: Drops,
}

pub struct Router {
    slots: Vec<Slot>,
    groups: Vec<Group>,
    /// Every tracked script's verdict, by name (none: not run yet).
    scripts: BTreeMap<String, Verdict>,
    /// Every tracked file's number, by name (none: 0).
    files: BTreeMap<String, i32>,
    strays: Vec<Strays>,
    urgent: VecDeque<Action>,
    costly: VecDeque<Action>,
    handover: Option<Handover>,
    next_id: u32,
    /// The grid masters' adverts are woken on starts here.
    epoch: Instant,
    /// The system's addresses, as last said (for `track_src`).
    addresses: Option<Vec<IpAddr>>,
}

impl Router {
    pub fn new(now: Instant) -> Router {
        Router {
            slots: Vec::new(),
            groups: Vec::new(),
            scripts: BTreeMap::new(),
            files: BTreeMap::new(),
            strays: Vec::new(),
            urgent: VecDeque::new(),
            costly: VecDeque::new(),
            handover: None,
            next_id: 0,
            epoch: now,
            addresses: None,
        }
    }

    /// Whether an instance with exactly this spec runs (a new config
    /// leaves it alone): the I/O layer prepares only for the others.
    pub fn is_running(&self, spec: &Spec) -> bool {
        self.slots.iter().any(|s| s.spec == *spec)
    }

    /// A new configuration: instances whose spec did not change keep
    /// running untouched (no VIP flap); the others resign and are
    /// [`Action::Removed`]; new ones start (as master at once if `resume`
    /// says its addresses are still up: a restarted daemon that was master
    /// a moment ago). `groups` are the sync groups by member names.
    /// Returns the new instances' ids, in the order of `specs`.
    pub fn configure(
        &mut self,
        now: Instant,
        specs: Vec<Spec>,
        groups: &[Vec<String>],
        resume: impl Fn(&Spec) -> bool,
    ) -> Vec<(Id, String)> {
        self.retire(now, &specs);
        let mut added = Vec::new();
        for spec in specs {
            if self.is_running(&spec) {
                continue;
            }
            let id = Id(self.next_id);
            self.next_id += 1;
            let vrrp = Instance::new(spec.vrrp.clone());
            added.push((id, spec.name.clone()));
            let spec_src_fault =
                spec.track_src.is_some_and(|a| self.addresses.as_ref().is_some_and(|list| !list.contains(&a)));
            let resume = resume(&spec);
            self.slots.push(Slot {
                id,
                spec,
                vrrp,
                drops: Drops::default(),
                log: RateLimit::default(),
                burst: None,
                link_fault: false,
                src_fault: spec_src_fault,
                link_delta: 0,
                started: false,
                resume,
            });
        }
        self.groups = groups
            .iter()
            .enumerate()
            .map(|(n, members)| {
                let idx = members.iter().filter_map(|m| self.slots.iter().position(|s| s.spec.name == *m)).collect();
                Group::new(&n.to_string(), idx)
            })
            .collect();
        self.track(now);
        added
    }

    /// A tracked script's verdict changed (`Verdict::Init`: it starts over,
    /// e.g. its definition changed). Instances that track it move their
    /// priority, go to FAULT or leave it; a weight-0 tracker waiting for
    /// its first verdict starts.
    pub fn handle_script(&mut self, now: Instant, name: &str, verdict: Verdict) {
        if verdict == Verdict::Init {
            self.scripts.remove(name);
        } else {
            self.scripts.insert(name.to_string(), verdict);
        }
        self.track(now);
    }

    /// Whether sync group `group` (its index in the configured list) has
    /// instance `id` as a member.
    pub fn group_has(&self, group: usize, id: Id) -> bool {
        self.groups.get(group).is_some_and(|g| g.members.iter().any(|&m| self.slots.get(m).is_some_and(|s| s.id == id)))
    }

    /// A tracked file's number changed (a missing or unreadable file is 0).
    pub fn handle_file(&mut self, now: Instant, name: &str, value: i32) {
        if self.files.get(name).copied().unwrap_or(0) == value {
            return;
        }
        self.files.insert(name.to_string(), value);
        self.track(now);
    }

    /// A tracked file's number as the router holds it.
    pub fn file(&self, name: &str) -> i32 {
        self.files.get(name).copied().unwrap_or(0)
    }

    /// A script's verdict as the router holds it.
    pub fn script(&self, name: &str) -> Verdict {
        self.scripts.get(name).copied().unwrap_or(Verdict::Init)
    }

    /// Whether slot `i` waits for a weight-0 script's first verdict.
    fn held(&self, i: usize) -> bool {
        self.slots[i].spec.scripts.iter().any(|t| script::holds(t.weight, self.script(&t.name)))
    }

    /// Applies the links' and the scripts' verdicts to every instance:
    /// FAULT or not, and the effective priority (within 1..=254; an
    /// owner's 255 is not moved). Then starts the instances no script
    /// holds back (a sync group's members together), and re-derives the
    /// groups' faults.
    fn track(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            let mut fault = s.link_fault || s.src_fault || s.spec.fault_no_peer;
            let base = i32::from(s.spec.vrrp.priority);
            let mut prio = base + s.link_delta;
            for t in &s.spec.scripts {
                match script::contribution(t.weight, t.reverse, self.script(&t.name)) {
                    Some(d) => prio += d,
                    None => fault = true,
                }
            }
            for t in &s.spec.files {
                match script::file_contribution(t.weight, t.reverse, self.file(&t.name)) {
                    Some(d) => prio += d,
                    None => fault = true,
                }
            }
            let s = &mut self.slots[i];
            let p = if base == 255 { 255 } else { prio.clamp(1, 254) as u8 };
            if !s.started {
                s.vrrp.set_link_before_start(!fault);
                s.vrrp.set_priority(p);
                continue;
            }
            // In FAULT the priority is not sent: it moves when the fault is
            // over, before the instance starts again (no "priority" line
            // for a number that means nothing).
            if !fault && p != s.vrrp.priority() {
                self.urgent.push_back(Action::Priority { id: s.id, from: s.vrrp.priority(), to: p });
                s.vrrp.set_priority(p);
            }
            s.vrrp.set_link(now, !fault);
        }
        let held: Vec<bool> = (0..self.slots.len()).map(|i| self.held(i)).collect();
        for i in 0..self.slots.len() {
            let group_held = self.groups.iter().filter(|g| g.contains(i)).any(|g| g.members.iter().any(|&m| held[m]));
            let s = &mut self.slots[i];
            if !s.started && !held[i] && !group_held {
                s.started = true;
                if s.resume {
                    s.vrrp.resume_master(now);
                } else {
                    s.vrrp.start(now);
                }
            }
        }
        for g in &self.groups {
            if g.members.iter().all(|&m| self.slots.get(m).is_some_and(|s| s.started)) {
                g.update_fault(now, &mut self.slots, |s| &mut s.vrrp);
            }
        }
        self.drain(now);
    }

    /// The instances whose spec is not in `keep` resign (priority 0 from a
    /// master, addresses removed) and are [`Action::Removed`]. The I/O
    /// layer carries that out before it prepares for the new instances
    /// (a changed instance's vmac is the same link as its successor's).
    pub fn retire(&mut self, now: Instant, keep: &[Spec]) {
        let mut gone = Vec::new();
        for s in self.slots.iter_mut().filter(|s| !keep.contains(&s.spec)) {
            s.vrrp.shutdown();
            gone.push(s.id);
        }
        if gone.is_empty() {
            return;
        }
        // Their resignations (and the groups' notices) first, then they go.
        self.drain(now);
        for id in &gone {
            self.cancel_announcements(*id);
            self.costly.push_back(Action::Removed(*id));
        }
        self.slots.retain(|s| !gone.contains(&s.id));
        self.groups.clear();
        self.strays.retain(|s| self.slots.iter().any(|x| x.spec.ifindex == s.ifindex));
    }

    /// Every instance resigns and goes (a shutdown).
    pub fn shutdown(&mut self, now: Instant) {
        self.configure(now, Vec::new(), &[], |_| false);
    }

    /// Before a reboot: every master resigns (priority 0) and stays down;
    /// [`Action::HandedOver`] follows once another router's advert came for
    /// each, or at `now + wait`. Returns the instances that resigned.
    pub fn hand_over(&mut self, now: Instant, wait: Duration) -> Vec<Id> {
        let mut resigned = Vec::new();
        for s in self.slots.iter_mut().filter(|s| s.vrrp.state() == State::Master) {
            s.vrrp.shutdown();
            resigned.push((s.id, false));
        }
        let ids = resigned.iter().map(|r| r.0).collect();
        self.handover = Some(Handover { resigned, until: now + wait });
        self.drain(now);
        self.handover_done(false);
        ids
    }

    fn handover_done(&mut self, deadline: bool) {
        if self.handover.as_ref().is_some_and(|h| deadline || h.resigned.iter().all(|r| r.1))
            && let Some(h) = self.handover.take()
        {
            self.urgent.push_back(Action::HandedOver(h.resigned));
        }
    }

    /// A VRRP packet (the IP payload) received on interface `ifindex` from
    /// `src` with TTL / hop limit `ttl`. Returns what deserves a log line,
    /// through a rate limit.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        ifindex: i32,
        src: IpAddr,
        ttl: u8,
        payload: &[u8],
    ) -> Option<Notice> {
        let v6 = src.is_ipv6();
        let vrid = *payload.get(1)?;
        if let Some(h) = &mut self.handover
            && payload.get(2).is_some_and(|&p| p > 0)
        {
            for r in h.resigned.iter_mut() {
                if let Some(s) = self.slots.iter().find(|s| s.id == r.0)
                    && s.spec.ifindex == ifindex
                    && s.spec.v6() == v6
                    && s.spec.vrrp.vrid == vrid
                {
                    r.1 = true;
                }
            }
            self.handover_done(false);
        }
        let mut notice = None;
        let mut taken = false;
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            if s.spec.ifindex != ifindex || s.spec.v6() != v6 || s.spec.vrrp.vrid != vrid {
                continue;
            }
            taken = true;
            if let Some(what) = receive(&mut self.slots[i], now, src, ttl, payload) {
                let s = &mut self.slots[i];
                if let Some(held) = s.log.allow(now) {
                    notice = Some(Notice { id: Some(s.id), held, what });
                }
            }
        }
        if !taken {
            return self.stray(now, ifindex, v6, src, vrid);
        }
        self.drain(now);
        notice
    }

    fn stray(&mut self, now: Instant, ifindex: i32, v6: bool, src: IpAddr, vrid: u8) -> Option<Notice> {
        let i = match self.strays.iter().position(|s| s.ifindex == ifindex && s.v6 == v6) {
            Some(i) => i,
            None => {
                let ifname = self
                    .slots
                    .iter()
                    .find(|s| s.spec.ifindex == ifindex)
                    .map_or_else(|| format!("interface {ifindex}"), |s| s.spec.ifname.clone());
                // Instances without an interface share the receiver of none.
                let ifname = if ifname.is_empty() { "any interface".to_string() } else { ifname };
                self.strays.push(Strays {
                    ifindex,
                    v6,
                    ifname,
                    count: 0,
                    last: (vrid, src),
                    log: RateLimit::default(),
                });
                self.strays.len() - 1
            }
        };
        let s = &mut self.strays[i];
        s.count += 1;
        s.last = (vrid, src);
        let held = s.log.allow(now)?;
        Some(Notice { id: None, held, what: Noticed::Stray { src, ifname: s.ifname.clone(), vrid } })
    }

    /// The links changed: `up(name)` says whether an interface is up with
    /// a carrier. Own link down, or a weight-0 tracked interface down:
    /// FAULT (and the instance's sync group with it). Otherwise the
    /// priority moves by the weights, within 1..=254; an owner (255) is
    /// not moved.
    pub fn handle_links(&mut self, now: Instant, up: impl Fn(&str) -> bool) {
        for s in &mut self.slots {
            s.link_fault = s.spec.track_primary && !up(&s.spec.ifname);
            s.link_delta = 0;
            for (ifname, weight) in &s.spec.track {
                match (*weight, up(ifname)) {
                    (0, false) => s.link_fault = true,
                    (w, false) if w < 0 => s.link_delta += i32::from(w),
                    (w, true) if w > 0 => s.link_delta += i32::from(w),
                    _ => {}
                }
            }
        }
        self.track(now);
    }

    /// The system's addresses (all of them, as the kernel lists them):
    /// an instance that tracks its source address (`track_src`) is in
    /// FAULT while it is not among them. Kept for instances configured
    /// later, so that one starts in FAULT rather than starting and falling.
    pub fn handle_addresses(&mut self, now: Instant, addresses: Vec<IpAddr>) {
        let mut moved = false;
        for s in &mut self.slots {
            let fault = s.spec.track_src.is_some_and(|a| !addresses.contains(&a));
            moved |= fault != s.src_fault;
            s.src_fault = fault;
        }
        self.addresses = Some(addresses);
        if moved {
            self.track(now);
        }
    }

    /// Whether an instance tracks its source address (the caller then
    /// follows the system's addresses).
    pub fn tracks_addresses(&self) -> bool {
        self.slots.iter().any(|s| s.spec.track_src.is_some())
    }

    /// Addresses the system says were removed (RTM_DELADDR, as keepalived
    /// follows them): a master whose tracked address is among them resigns
    /// ([`Instance::address_lost`]). A master's own removals come after it
    /// left MASTER, so they change nothing. O(instances x their addresses).
    pub fn handle_removed(&mut self, now: Instant, removed: &[IpAddr]) {
        let removed: std::collections::HashSet<&IpAddr> = removed.iter().collect();
        let mut lost = false;
        for s in &mut self.slots {
            if s.vrrp.state() != State::Master {
                continue;
            }
            if let Some(gone) = s.spec.tracked_addresses.iter().find(|a| removed.contains(a)) {
                self.urgent.push_back(Action::Lost { id: s.id, what: Lost::Address(*gone) });
                s.vrrp.address_lost(now);
                lost = true;
            }
        }
        if lost {
            self.drain(now);
        }
    }

    /// One of an instance's virtual routes or rules was removed by someone
    /// else (RTM_DELROUTE, RTM_DELRULE; the caller matched it against the
    /// instance's config and left out `no_track` ones): a master resigns,
    /// as keepalived puts it back to backup. Anything else changes nothing
    /// (a backup has none set; a master's own removals come after it left
    /// MASTER).
    pub fn handle_lost(&mut self, now: Instant, id: Id, what: Lost) {
        let Some(s) = self.slots.iter_mut().find(|s| s.id == id) else { return };
        if s.vrrp.state() != State::Master {
            return;
        }
        self.urgent.push_back(Action::Lost { id, what });
        s.vrrp.address_lost(now);
        self.drain(now);
    }

    /// Fires every timer that is due: instances' timers, announcement
    /// rounds, a hand-over's deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        for s in &mut self.slots {
            if s.vrrp.poll_timeout().is_some_and(|t| t <= now) {
                s.vrrp.handle_timeout(now);
            }
        }
        for i in 0..self.slots.len() {
            let s = &mut self.slots[i];
            if let Some((left, at)) = s.burst
                && at <= now
            {
                s.burst = (left > 1).then(|| (left - 1, at + s.spec.garp.interval));
                let id = s.id;
                self.costly.push_back(Action::Announce(id));
            }
        }
        if self.handover.as_ref().is_some_and(|h| h.until <= now) {
            self.handover_done(true);
        }
        self.drain(now);
    }

    /// When to call [`Router::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let slot = ADVERT_SLOT.as_nanos();
        let instances = self.slots.iter().filter_map(|s| {
            let t = s.vrrp.poll_timeout()?;
            if s.vrrp.state() != State::Master {
                return Some(t);
            }
            let since = t.saturating_duration_since(self.epoch).as_nanos();
            let up = since.div_ceil(slot) * slot;
            Some(self.epoch + Duration::from_nanos(u64::try_from(up).unwrap_or(u64::MAX)))
        });
        let bursts = self.slots.iter().filter_map(|s| s.burst.map(|b| b.1));
        instances.chain(bursts).chain(self.handover.as_ref().map(|h| h.until)).min()
    }

    /// The next thing to do: every urgent action before any costly one.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.urgent.pop_front().or_else(|| self.costly.pop_front())
    }

    /// Whether an urgent action waits (a caller working through costly
    /// ones takes these first).
    pub fn has_urgent(&self) -> bool {
        !self.urgent.is_empty()
    }

    pub fn has_actions(&self) -> bool {
        !self.urgent.is_empty() || !self.costly.is_empty()
    }

    pub fn get(&self, id: Id) -> Option<View<'_>> {
        self.slots.iter().find(|s| s.id == id).map(view)
    }

    pub fn instances(&self) -> impl Iterator<Item = View<'_>> {
        self.slots.iter().map(view)
    }

    pub fn strays(&self) -> &[Strays] {
        &self.strays
    }

    /// Takes every instance's actions into the router's queues; a state
    /// change moves the rest of its sync groups, whose actions are taken
    /// in turn (until no state moves); then a group whose members all
    /// agree on a new state says so, after its members did.
    fn drain(&mut self, now: Instant) {
        loop {
            let mut changes = Vec::new();
            for i in 0..self.slots.len() {
                while let Some(a) = self.slots[i].vrrp.poll_action() {
                    if let Some(to) = self.take(now, i, a) {
                        changes.push((i, to));
                    }
                }
            }
            if changes.is_empty() {
                break;
            }
            for (i, to) in changes {
                for g in &self.groups {
                    g.member_changed(now, i, to, &mut self.slots, |s| &mut s.vrrp);
                }
            }
        }
        for (n, g) in self.groups.iter_mut().enumerate() {
            // A group held back by a script has not started: nothing to say.
            if g.members.iter().any(|&m| self.slots.get(m).is_some_and(|s| !s.started)) {
                continue;
            }
            let states: Vec<State> =
                g.members.iter().filter_map(|&m| self.slots.get(m)).map(|s| s.vrrp.state()).collect();
            if let Some(to) = g.agreed_change(states) {
                self.urgent.push_back(Action::GroupState { group: n, to });
            }
        }
    }

    /// One of instance `i`'s actions into the queues; returns the state it
    /// moved to, if it did.
    fn take(&mut self, now: Instant, i: usize, a: instance::Action) -> Option<State> {
        let id = self.slots[i].id;
        match a {
            instance::Action::Send(repr) => {
                for dst in self.slots[i].spec.destinations() {
                    // An emit error is a mix of families, which the
                    // configuration's validation refuses.
                    if let Ok(payload) = repr.emit(self.slots[i].spec.vrrp.primary, dst) {
                        self.urgent.push_back(Action::Transmit { id, dst, payload });
                    }
                }
            }
            instance::Action::AddAddresses => self.costly.push_back(Action::AddAddresses(id)),
            instance::Action::RemoveAddresses => {
                self.cancel_announcements(id);
                self.costly.push_back(Action::RemoveAddresses(id));
            }
            instance::Action::Announce(kind) => {
                // A new burst replaces the one running: one round now, the
                // rest at once or `interval` apart.
                self.cancel_announcements(id);
                self.costly.push_back(Action::Announce(id));
                let s = &mut self.slots[i];
                let g = s.spec.garp;
                let rounds = g.rounds(kind);
                if rounds > 1 {
                    if g.interval.is_zero() {
                        for _ in 1..rounds {
                            self.costly.push_back(Action::Announce(id));
                        }
                    } else {
                        s.burst = Some((rounds - 1, now + g.interval));
                    }
                }
            }
            instance::Action::AnnounceElsewhere => self.costly.push_back(Action::AnnounceElsewhere(id)),
            instance::Action::HeardLower { from, priority } => {
                self.urgent.push_back(Action::HeardLower { id, from, priority })
            }
            instance::Action::StateChange { from, to } => {
                if to != State::Master {
                    self.cancel_announcements(id);
                }
                self.urgent.push_back(Action::StateChange { id, from, to });
                return Some(to);
            }
        }
        None
    }

    /// A backup announcing the VIPs from its MAC sends the LAN's traffic
    /// astray: what is left of a burst goes when an instance leaves MASTER.
    fn cancel_announcements(&mut self, id: Id) {
        if let Some(s) = self.slots.iter_mut().find(|s| s.id == id) {
            s.burst = None;
        }
        self.costly.retain(|a| *a != Action::Announce(id) && *a != Action::AnnounceElsewhere(id));
    }
}

fn view(s: &Slot) -> View<'_> {
    View {
        id: s.id,
        spec: &s.spec,
        state: s.vrrp.state(),
        priority: s.vrrp.priority(),
        stats: &s.vrrp.stats,
        drops: s.drops,
    }
}

/// The checks before the state machine, then the state machine.
fn receive(s: &mut Slot, now: Instant, src: IpAddr, ttl: u8, payload: &[u8]) -> Option<Noticed> {
    if src == s.spec.vrrp.primary {
        return None; // our own
    }
    if !s.spec.peers.is_empty() && !s.spec.peers.contains(&src) {
        s.drops.not_a_peer += 1;
        return None;
    }
    // RFC 5798 5.1.1.3's TTL 255 says the advert came from the link; a
    // unicast peer may be routers away (keepalived checks it only without
    // unicast peers too, and sends them `unicast_ttl`).
    if s.spec.peers.is_empty() && ttl != wire::TTL {
        s.drops.ttl += 1;
        return Some(Noticed::Ttl { src, ttl });
    }
    let dst = if s.spec.peers.is_empty() { s.spec.multicast_group() } else { s.spec.vrrp.primary };
    let repr = match Packet::new_checked(payload).and_then(|p| Repr::parse(&p, src, dst)) {
        Ok(r) => r,
        Err(error) => {
            s.drops.malformed += 1;
            return Some(Noticed::Malformed { src, error });
        }
    };
    let answered = s.vrrp.stats.lower_priority_answered;
    match s.vrrp.handle_advert(now, src, &repr) {
        Err(why) => Some(Noticed::Dropped { src, why }),
        Ok(()) if s.vrrp.stats.lower_priority_answered != answered => {
            Some(Noticed::Answered { src, theirs: repr.priority, ours: s.vrrp.priority() })
        }
        Ok(()) => None,
    }
}
