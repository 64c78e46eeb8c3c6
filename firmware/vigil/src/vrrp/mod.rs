//! The VRRP daemon: the thin I/O layer around `vigil_vrrp::router::Router`,
//! which decides everything (which instance an advert is for, state
//! changes, sync groups, tracking, when to announce). Here: the sockets
//! ([`rx`], [`io`]), the addresses ([`addresses`], [`vmac`]), the
//! announcements ([`announce`]), the timer and link events ([`timer`]),
//! what is published ([`status`]), and the loop that feeds the router and
//! carries out what it asks.

mod addresses;
mod announce;
mod files;
mod io;
mod processes;
mod routes;
mod rx;
mod scripts;
mod status;
pub(crate) mod timer;
mod vmac;

pub use files::init as init_track_file;

use crate::notify::{self, state_name};
use io::{Io, Snapshot};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tracing::{info, warn};
use vigil_config::{Config, Notify};
use vigil_vrrp::router::{Action, Id, Notice, Router, Spec};

pub use status::{States, Status};

/// Messages to the daemon.
pub enum Control {
    /// A new config: unchanged instances keep running, changed ones restart.
    Config(Box<Config>),
    /// The BFD sessions' states (from the BFD child, through PID 1).
    Bfd(Vec<(String, bool)>),
    /// Resign (priority 0) and stop; the sender waits for the reply.
    Shutdown(tokio::sync::oneshot::Sender<()>),
    /// Before a reboot into an update: every master resigns (priority 0)
    /// and stays down; the reply names each one and whether another
    /// router's advert (priority above 0) came for it within `wait`: a
    /// backup took the VIPs.
    Handover { wait: Duration, done: tokio::sync::oneshot::Sender<Vec<(String, bool)>> },
}

/// How long one turn of the loop spends on costly actions (addresses,
/// announcements) before it looks at packets and timers again: while 256
/// instances take over at once, those that are master already keep sending
/// their adverts, and the child keeps answering its heartbeats.
const TURN: Duration = Duration::from_millis(20);

struct Daemon {
    router: Router,
    io: HashMap<Id, Io>,
    /// The sync groups' names and notify programs, as the router numbers them.
    groups: Vec<(String, Notify)>,
    /// Drop rules for the VIPs of `no_accept` masters.
    no_accept: crate::nft::NoAccept,
    rx: rx::Receivers,
    announcers: announce::Announcers,
    handover: Option<tokio::sync::oneshot::Sender<Vec<(String, bool)>>>,
    publisher: status::Publisher,
    scripts: scripts::Scripts,
    processes: processes::Processes,
    files: files::Files,
    /// Mail alerts: the settings, this router's name, and the sync groups'
    /// own `smtp_alert` (as the router numbers them).
    mail: vigil_config::Mail,
    router_id: String,
    group_alerts: Vec<Option<bool>>,
    /// The static addresses and routes that are set (in a `Global` of
    /// their own).
    statics: vigil_config::Global,
    /// Instances a commit retires, and why (for their notify programs).
    leaving: HashMap<Id, notify::Left>,
    /// Instances that wait for their interface (or its address), and the
    /// config to start them with when the links or addresses change.
    waiting: Vec<String>,
    config: Option<Box<Config>>,
    /// What vigil itself removed lately.
    own_removals: OwnRemovals,
    /// The links up when last read (one coming up has its static
    /// addresses and routes put back).
    links_up: Vec<String>,
    /// The BFD sessions that are up, as last told (`track_bfd`).
    bfd: HashMap<String, bool>,
    /// The interfaces' announcement pace (`garp_group`,
    /// `vrrp_garp_interval`), and what waits for it.
    pacer: vigil_vrrp::pace::Pacer,
    paced: announce::Queue,
    pace_conf: Option<(
        Option<u32>,
        Option<u32>,
        vigil_config::Bounded<vigil_config::GarpGroup, { vigil_config::limits::GARP_GROUPS }>,
    )>,
}

/// The router's name for a tracked BFD session (it counts as a script
/// that succeeds while the session is up).
pub fn bfd_key(name: &str) -> String {
    format!("bfd {name}")
}

fn bfd_verdict(up: Option<bool>) -> vigil_vrrp::script::Verdict {
    if up == Some(true) { vigil_vrrp::script::Verdict::Good } else { vigil_vrrp::script::Verdict::Bad }
}

/// How long an address vigil removed is taken as its own removal.
const OWN_REMOVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs until told to shut down.
pub async fn run(config: Config, status: Status, states: States, mut control: tokio::sync::mpsc::Receiver<Control>) {
    let (receivers, mut datagrams) = rx::Receivers::new();
    let (scripts, mut verdicts) = scripts::Scripts::new();
    let (files, mut numbers) = files::Files::new();
    let mut d = Daemon {
        router: Router::new(Instant::now()),
        io: HashMap::new(),
        groups: Vec::new(),
        no_accept: Default::default(),
        rx: receivers,
        announcers: Default::default(),
        handover: None,
        publisher: status::Publisher::new(status, states),
        processes: processes::Processes::new(scripts.sender()),
        files,
        scripts,
        mail: Default::default(),
        router_id: String::new(),
        group_alerts: Vec::new(),
        statics: vigil_config::Global::default(),
        leaving: HashMap::new(),
        waiting: Vec::new(),
        config: None,
        own_removals: OwnRemovals::default(),
        links_up: Vec::new(),
        bfd: HashMap::new(),
        pacer: Default::default(),
        paced: Default::default(),
        pace_conf: None,
    };
    // keepalived's `vrrp_startup_delay`: links such as bonds pass traffic,
    // then stop for a while as they come up; a backup that heard nothing
    // meanwhile would take over. The instances wait; the child's
    // heartbeats do not.
    if config.global.vrrp_startup_delay_ms > 0 {
        let delay = Duration::from_millis(u64::from(config.global.vrrp_startup_delay_ms));
        info!("vrrp: the instances start in {:.1} s (vrrp_startup_delay)", delay.as_secs_f64());
        tokio::time::sleep(delay).await;
    }
    d.configure(&config).await;
    // Link changes come from the kernel (RTNLGRP_LINK); without the monitor
    // (it cannot fail on Linux, but if it does) the links are read every 100 ms.
    let monitor = match timer::LinkMonitor::open() {
        Ok(m) => Some(m),
        Err(e) => {
            warn!("vrrp: link monitor: {e}; reading links every 100 ms instead");
            None
        }
    };
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timer = match timer::Timer::new() {
        Ok(t) => t,
        Err(e) => return warn!("vrrp: timerfd: {e}; VRRP not started"),
    };
    d.track();
    d.settle().await;
    let mut batch = Vec::with_capacity(rx::CHANNEL);
    // Routes and rules are followed while the config has some.
    let mut route_monitor: Option<routes::RouteMonitor> = None;
    loop {
        if d.follows_routes() != route_monitor.is_some() {
            route_monitor = match d.follows_routes().then(routes::RouteMonitor::open).transpose() {
                Ok(m) => m,
                Err(e) => {
                    warn!("vrrp: route monitor: {e}; removed routes and rules are not followed");
                    None
                }
            };
        }
        d.publisher.publish(&d.router, false);
        d.drain_paced();
        let paced = if d.paced.is_empty() { None } else { d.pacer.next_open(Instant::now()) };
        let wake = [d.router.poll_timeout(), paced].into_iter().flatten().min();
        let sleep = timer.sleep_until(wake);
        let link_event = async {
            match &monitor {
                Some(m) => m.changed().await,
                None => {
                    poll.tick().await;
                    timer::Changed { links: true, addresses: true, ..Default::default() }
                }
            }
        };
        let route_event = async {
            match &route_monitor {
                Some(m) => m.gone().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => d.router.handle_timeout(Instant::now()),
            gone = route_event => d.handle_gone(gone),
            changed = link_event => {
                if let Some(c) = d.config.take() {
                    d.configure(&c).await;
                }
                if changed.links {
                    d.track();
                }
                if changed.addresses {
                    d.track_addresses();
                }
                let mut removed = d.others_removals(changed.removed);
                if changed.overrun {
                    d.unlisted_addresses(&mut removed);
                }
                if !removed.is_empty() {
                    // A static address someone removed is put back, as
                    // keepalived restores it.
                    addresses::restore_statics(&d.statics, &removed);
                    d.router.handle_removed(Instant::now(), &removed);
                }
            }
            Some(c) = verdicts.recv() => {
                d.publisher.moved = true;
                d.router.handle_script(Instant::now(), &c.name, c.verdict);
            }
            Some(c) = numbers.recv() => {
                d.publisher.moved = true;
                d.router.handle_file(Instant::now(), &c.name, c.value);
            }
            // What the last turn left (its budget was spent).
            _ = std::future::ready(()), if d.router.has_actions() => {}
            n = datagrams.recv_many(&mut batch, rx::CHANNEL) => {
                if n == 0 {
                    return warn!("vrrp: the receivers are gone");
                }
                for dg in batch.drain(..) {
                    // With the time it arrived: a backup's Master_Down timer
                    // runs from there however late this loop got to it.
                    let notice = d.router.handle_datagram(dg.at, dg.ifindex, dg.src, dg.ttl, &dg.payload);
                    if let Some(n) = notice {
                        d.log(n);
                    }
                }
            }
            msg = control.recv() => match msg {
                Some(Control::Handover { wait, done }) => {
                    d.handover = Some(done);
                    for id in d.router.hand_over(Instant::now(), wait) {
                        if let Some(io) = d.io.get(&id) {
                            io.span.in_scope(|| info!("handing over (priority 0) before the reboot"));
                        }
                    }
                }
                Some(Control::Config(c)) => {
                    d.configure(&c).await;
                    d.track();
                }
                Some(Control::Bfd(states)) => {
                    d.publisher.moved = true;
                    for (name, up) in states {
                        if d.bfd.insert(name.clone(), up) != Some(up) {
                            d.router.handle_script(Instant::now(), &bfd_key(&name), bfd_verdict(Some(up)));
                        }
                    }
                }
                Some(Control::Shutdown(done)) => {
                    d.stop().await;
                    d.publisher.publish(&d.router, true);
                    let _ = done.send(());
                    return;
                }
                None => return d.stop().await,
            },
        }
        d.settle().await;
    }
}

/// Addresses, routes and rules vigil itself removed lately, and when: the
/// kernel's word of their removal is no one else's (a changed instance's
/// successor is master by the time its predecessor's removals are read).
#[derive(Default)]
struct OwnRemovals {
    addresses: HashMap<std::net::IpAddr, Instant>,
    routes: Vec<(vigil_config::Route, Instant)>,
    rules: Vec<(vigil_config::Rule, Instant)>,
}

impl OwnRemovals {
    /// Notes an instance's addresses, routes and rules as removed now.
    fn note(&mut self, io: &Io) {
        let now = Instant::now();
        self.forget(now);
        for a in io.conf.virtual_ipaddress.iter().chain(io.conf.virtual_ipaddress_excluded.iter()) {
            self.addresses.insert(a.addr.addr, now);
        }
        self.routes.extend(io.conf.virtual_routes.iter().map(|r| (r.clone(), now)));
        self.rules.extend(io.conf.virtual_rules.iter().map(|r| (r.clone(), now)));
    }

    fn forget(&mut self, now: Instant) {
        self.addresses.retain(|_, at| now.duration_since(*at) < OWN_REMOVAL);
        self.routes.retain(|(_, at)| now.duration_since(*at) < OWN_REMOVAL);
        self.rules.retain(|(_, at)| now.duration_since(*at) < OWN_REMOVAL);
    }

    /// Whether a removal is vigil's own (taken out once).
    fn address(&mut self, a: &std::net::IpAddr, now: Instant) -> bool {
        self.addresses.remove(a).is_some_and(|at| now.duration_since(at) < OWN_REMOVAL)
    }

    fn route(&mut self, g: &routes::RouteKey, now: Instant) -> bool {
        self.forget(now);
        let at = self.routes.iter().position(|(r, _)| routes::route_matches(r, g));
        at.map(|i| self.routes.swap_remove(i)).is_some()
    }

    fn rule(&mut self, g: &routes::RuleKey, now: Instant) -> bool {
        self.forget(now);
        let at = self.rules.iter().position(|(r, _)| routes::rule_matches(r, g));
        at.map(|i| self.rules.swap_remove(i)).is_some()
    }
}

impl Daemon {
    /// The removals someone else made: each of vigil's own recent ones is
    /// taken out once.
    fn others_removals(&mut self, removed: Vec<std::net::IpAddr>) -> Vec<std::net::IpAddr> {
        let now = Instant::now();
        removed.into_iter().filter(|a| !self.own_removals.address(a, now)).collect()
    }

    /// After the link monitor overran: the static and virtual addresses the
    /// kernel no longer has, added to `removed` (as if their RTM_DELADDR
    /// had come). A backup's virtual addresses are not set, and not had:
    /// the router passes over what a backup lost.
    fn unlisted_addresses(&self, removed: &mut Vec<std::net::IpAddr>) {
        warn!("vrrp: link and address messages overran: reading the kernel's addresses again");
        let present = match vigil_net::Rtnl::open().and_then(|mut r| r.all_addresses()) {
            Ok(all) => all.into_iter().map(|(_, a, _)| a).collect::<std::collections::HashSet<_>>(),
            Err(e) => {
                return warn!("vrrp: reading the kernel's addresses: {e}; removals in the overrun are not followed");
            }
        };
        let virtual_addresses = self
            .io
            .values()
            .flat_map(|io| io.conf.virtual_ipaddress.iter().chain(io.conf.virtual_ipaddress_excluded.iter()));
        for a in self.statics.static_ipaddress.iter().chain(virtual_addresses) {
            let a = a.addr.addr;
            if !present.contains(&a) && !removed.contains(&a) {
                removed.push(a);
            }
        }
    }

    /// Whether the config has routes or rules to follow (its instances' or
    /// static ones).
    fn follows_routes(&self) -> bool {
        let s = &self.statics;
        !s.static_routes.is_empty()
            || !s.static_rules.is_empty()
            || self.io.values().any(|io| !io.conf.virtual_routes.is_empty() || !io.conf.virtual_rules.is_empty())
    }

    /// Routes and rules someone else removed, as keepalived follows them: a
    /// master whose virtual route or rule it was resigns (unless
    /// `no_track`); a static one is put back. When the monitor overran, the
    /// configured ones the kernel no longer lists count as removed too.
    fn handle_gone(&mut self, gone: routes::Gone) {
        use vigil_vrrp::router::Lost;
        if gone.is_empty() {
            return;
        }
        let now = Instant::now();
        let own = &mut self.own_removals;
        let removed_routes: Vec<routes::RouteKey> = gone.routes.into_iter().filter(|g| !own.route(g, now)).collect();
        let removed_rules: Vec<routes::RuleKey> = gone.rules.into_iter().filter(|g| !own.rule(g, now)).collect();
        let (unlisted_routes, unlisted_rules) = if gone.overrun { self.unlisted() } else { Default::default() };
        let route_gone = |r: &vigil_config::Route| {
            !r.no_track && (removed_routes.iter().any(|g| routes::route_matches(r, g)) || unlisted_routes.contains(r))
        };
        let rule_gone = |r: &vigil_config::Rule| {
            !r.no_track && (removed_rules.iter().any(|g| routes::rule_matches(r, g)) || unlisted_rules.contains(r))
        };
        let mut lost: Vec<(Id, Lost)> = Vec::new();
        for (id, io) in &self.io {
            let routes = io.conf.virtual_routes.iter().enumerate();
            lost.extend(routes.filter(|(_, r)| route_gone(r)).map(|(n, _)| (*id, Lost::Route(n))));
            let rules = io.conf.virtual_rules.iter().enumerate();
            lost.extend(rules.filter(|(_, r)| rule_gone(r)).map(|(n, _)| (*id, Lost::Rule(n))));
        }
        let routes_back: Vec<_> = self.statics.static_routes.iter().filter(|r| route_gone(r)).cloned().collect();
        let rules_back: Vec<_> = self.statics.static_rules.iter().filter(|r| rule_gone(r)).cloned().collect();
        for (id, what) in lost {
            self.publisher.moved = true;
            self.router.handle_lost(now, id, what);
        }
        addresses::restore_routes(&routes_back, &rules_back);
    }

    /// After the route monitor overran: the followed routes and rules
    /// (static ones and the instances' virtual ones, all but `no_track`)
    /// that the kernel no longer lists. A backup's virtual routes are not
    /// set, and not listed: the router passes over what a backup lost.
    fn unlisted(&self) -> (Vec<vigil_config::Route>, Vec<vigil_config::Rule>) {
        warn!("vrrp: route messages overran (a large routing change): reading the kernel's routes and rules again");
        let s = &self.statics;
        let virtual_routes = self.io.values().flat_map(|io| io.conf.virtual_routes.iter());
        let virtual_rules = self.io.values().flat_map(|io| io.conf.virtual_rules.iter());
        let mut l = routes::Listing::new(
            s.static_routes.iter().chain(virtual_routes).filter(|r| !r.no_track),
            s.static_rules.iter().chain(virtual_rules).filter(|r| !r.no_track),
        );
        match routes::list(&mut l) {
            Ok(()) => (l.missing_routes().cloned().collect(), l.missing_rules().cloned().collect()),
            Err(e) => {
                warn!("vrrp: reading the kernel's routes and rules: {e}; removals in the overrun are not followed");
                Default::default()
            }
        }
    }

    /// A new config: instances whose settings did not change keep running
    /// untouched (no VIP flap); changed ones restart; removed ones resign.
    async fn configure(&mut self, config: &Config) {
        let snap = Snapshot::read();
        let mut specs: Vec<(Spec, &vigil_config::VrrpInstance)> = Vec::new();
        let mut waiting = Vec::new();
        for v in &config.vrrp_instances {
            match snap.as_ref().map_err(Clone::clone).and_then(|s| s.spec(v, config)) {
                Ok(spec) => specs.push((spec, v)),
                // An interface made later (a VLAN, a bond, a tunnel):
                // the instance starts when it appears (keepalived's
                // `dynamic_interfaces`, always).
                Err(e)
                    if snap.as_ref().is_ok_and(|s| !v.interface.is_empty() && !s.has_link(&v.interface))
                        || e.contains("address to send from") =>
                {
                    if !self.waiting.contains(&v.name.to_string()) {
                        let what = if e.contains("address") { e } else { format!("no interface {}", v.interface) };
                        warn!("vrrp_instance {}: waiting: {what} (it starts when there is)", v.name);
                    }
                    waiting.push(v.name.to_string());
                }
                Err(e) => warn!("vrrp_instance {}: not started: {e}", v.name),
            }
        }
        self.waiting = waiting;
        self.config = if self.waiting.is_empty() { None } else { Some(Box::new(config.clone())) };
        // Kept: the same spec running with the same settings (the router
        // sees only the spec; the I/O's settings count too, and the name
        // prefix its address vmacs were made with).
        let prefix = config.global.vmac_addr_prefix.as_deref();
        let kept: Vec<Spec> = specs
            .iter()
            .filter(|(spec, v)| {
                self.io.iter().any(|(id, io)| {
                    io.conf == **v
                        && (io.addr_vmacs.is_empty() || io.vmac_prefix.as_deref() == prefix)
                        && self.router.get(*id).is_some_and(|r| r.spec == spec)
                })
            })
            .map(|(spec, _)| spec.clone())
            .collect();
        let retired: Vec<Id> = self.router.instances().filter(|v| !kept.contains(v.spec)).map(|v| v.id).collect();
        for id in &retired {
            if let Some(io) = self.io.get(id) {
                let changed = config.vrrp_instances.iter().any(|v| v.name == io.conf.name);
                io.span.in_scope(|| info!("{}: stopping", if changed { "changed" } else { "removed" }));
                self.leaving.insert(*id, if changed { notify::Left::Changed } else { notify::Left::Removed });
            }
        }
        self.router.retire(Instant::now(), &kept);
        // The old ones go before the new ones come (a changed instance's
        // vmac is the same link as its successor's), and the kernel is read
        // again once their addresses are gone.
        self.run_all();
        let snap = if retired.is_empty() { snap } else { Snapshot::read() };
        let mut ready = Vec::new();
        let mut opened: HashMap<String, Io> = HashMap::new();
        let mut resume = Vec::new();
        for (spec, v) in specs {
            if kept.contains(&spec) {
                ready.push(spec);
                continue;
            }
            let Ok(snap) = snap.as_ref() else { continue };
            match Io::open(v, &spec, snap, config.global.vmac_addr_prefix.as_deref()) {
                Ok(io) => {
                    if snap.still_up(v) {
                        io.span.in_scope(|| info!("its addresses are still up: resuming as master"));
                        resume.push(spec.name.clone());
                    }
                    opened.insert(spec.name.clone(), io);
                    ready.push(spec);
                }
                Err(e) => warn!("vrrp_instance {}: not started: {e}", v.name),
            }
            // The rest of the child (its heartbeats) runs between instances,
            // however many start at once.
            tokio::task::yield_now().await;
        }
        // The scripts the new instances track run (or start over) before
        // the router starts them: a weight-0 script holds its instance
        // until it has said.
        let mut tracked: Vec<String> = ready.iter().flat_map(|s| s.scripts.iter().map(|t| t.name.clone())).collect();
        tracked.sort();
        tracked.dedup();
        for (name, verdict) in self.scripts.sync(config, &tracked) {
            self.router.handle_script(Instant::now(), &name, verdict);
        }
        let processes: Vec<String> =
            tracked.iter().filter_map(|t| t.strip_prefix("process ")).map(str::to_string).collect();
        for (name, verdict) in self.processes.sync(config, &processes) {
            self.router.handle_script(Instant::now(), &name, verdict);
        }
        // Tracked BFD sessions: as last told; one not heard of yet is down
        // (keepalived's tracked BFD starts down too).
        for t in tracked.iter().filter_map(|t| t.strip_prefix("bfd ")) {
            let verdict = bfd_verdict(self.bfd.get(t).copied());
            self.router.handle_script(Instant::now(), &bfd_key(t), verdict);
        }
        let mut files: Vec<String> = ready.iter().flat_map(|s| s.files.iter().map(|t| t.name.clone())).collect();
        files.sort();
        files.dedup();
        for (name, value) in self.files.sync(config, &files) {
            self.router.handle_file(Instant::now(), &name, value);
        }
        let groups: Vec<Vec<String>> =
            config.sync_groups.iter().map(|g| g.group.iter().map(|m| m.to_string()).collect()).collect();
        self.groups = config.sync_groups.iter().map(|g| (g.name.to_string(), g.notify.clone())).collect();
        self.group_alerts = config.sync_groups.iter().map(|g| g.smtp_alert).collect();
        self.mail = config.global.mail.clone();
        self.router_id = config.global.router_id.to_string();
        self.pace(&config.global);
        let statics = vigil_config::Global {
            static_ipaddress: config.global.static_ipaddress.clone(),
            static_routes: config.global.static_routes.clone(),
            static_rules: config.global.static_rules.clone(),
            ..Default::default()
        };
        // Static addresses this config drops (or changes) are vigil's own
        // removals, not someone else's to undo.
        let now = Instant::now();
        for a in self.statics.static_ipaddress.iter().filter(|a| !statics.static_ipaddress.contains(a)) {
            self.own_removals.addresses.insert(a.addr.addr, now);
        }
        addresses::statics(&self.statics, &statics);
        self.statics = statics;
        // An instance that tracks its source address starts in FAULT when
        // it is not there, rather than starting and falling.
        if ready.iter().any(|s| s.track_src.is_some())
            && let Ok(snap) = Snapshot::read()
        {
            self.router.handle_addresses(Instant::now(), snap.all_addresses());
        }
        let added = self.router.configure(Instant::now(), ready, &groups, |s| resume.contains(&s.name));
        for (id, name) in added {
            if let Some(io) = opened.remove(&name) {
                self.io.insert(id, io);
            }
        }
        self.listen();
    }

    /// A receiver for every interface and family that has instances.
    fn listen(&mut self) {
        self.publisher.moved = true;
        let mut wanted: Vec<rx::Wanted> = Vec::new();
        for v in self.router.instances() {
            // An instance without an interface joins no group: its
            // receiver, bound to none, sees every VRRP packet the system
            // takes in and keeps its peers' only.
            let anywhere = v.spec.ifname.is_empty();
            let group = (!anywhere).then(|| v.spec.multicast_group());
            let w = match wanted.iter_mut().position(|w| w.ifindex == v.spec.ifindex && w.v6 == v.spec.v6()) {
                Some(i) => &mut wanted[i],
                None => {
                    wanted.push(rx::Wanted {
                        ifindex: v.spec.ifindex,
                        ifname: v.spec.ifname.clone(),
                        v6: v.spec.v6(),
                        groups: Vec::new(),
                        on_behalf_of: None,
                        from: Vec::new(),
                    });
                    wanted.last_mut().expect("just pushed")
                }
            };
            if let Some(g) = group
                && !w.groups.contains(&g)
            {
                w.groups.push(g);
            }
            if anywhere {
                w.from.extend(v.spec.peers.iter().filter(|p| !w.from.contains(p)).copied().collect::<Vec<_>>());
            }
            // Unicast adverts to an ipvlan's address reach the ipvlan only:
            // it gets a receiver of its own, in no group.
            if let Some(io) = self.io.get(&v.id)
                && io.conf.ipvlan.is_some()
                && !v.spec.peers.is_empty()
                && let Some(ipvlan) = &io.vmac
            {
                wanted.push(rx::Wanted {
                    ifindex: ipvlan.index,
                    ifname: ipvlan.name.clone(),
                    v6: v.spec.v6(),
                    groups: Vec::new(),
                    on_behalf_of: Some(v.spec.ifindex),
                    from: Vec::new(),
                });
            }
        }
        for w in &mut wanted {
            w.groups.sort();
            w.from.sort();
        }
        for e in self.rx.sync(&wanted) {
            warn!("vrrp: {e}");
        }
        let announced: Vec<i32> = self.io.values().flat_map(|io| io.announcement.interfaces()).collect();
        self.announcers.retain(|i| wanted.iter().any(|w| w.ifindex == i) || announced.contains(&i));
    }

    /// Every instance resigns (priority 0 from masters) and goes.
    async fn stop(&mut self) {
        self.router.shutdown(Instant::now());
        self.run_all();
        addresses::statics(&self.statics, &vigil_config::Global::default());
    }

    /// Reads the addresses (one dump, no links), for instances that track
    /// their source address.
    fn track_addresses(&mut self) {
        if !self.router.tracks_addresses() {
            return;
        }
        match crate::net::Rtnl::open().and_then(|mut r| r.all_addresses()) {
            Ok(all) => self.router.handle_addresses(Instant::now(), all.into_iter().map(|a| a.1).collect()),
            Err(e) => warn!("vrrp: reading addresses: {e}"),
        }
    }

    /// Reads the links and lets the router apply tracking.
    fn track(&mut self) {
        let links = match crate::net::Rtnl::open().and_then(|mut r| r.links()) {
            Ok(l) => l,
            Err(e) => return warn!("vrrp: reading links: {e}"),
        };
        self.router.handle_links(Instant::now(), |name| {
            links.iter().find(|l| l.name == name).is_some_and(|l| l.is_up() && l.has_carrier())
        });
        // A link that comes up has its static addresses and routes put
        // back (the kernel flushes a downed link's routes without a word),
        // as keepalived reinstates them.
        let up: Vec<String> = links.iter().filter(|l| l.is_up() && l.has_carrier()).map(|l| l.name.clone()).collect();
        for name in up.iter().filter(|n| !self.links_up.contains(n)) {
            addresses::reinstate_on(&self.statics, name);
        }
        self.links_up = up;
    }

    /// Carries out what the router asks: every urgent action, and costly
    /// ones until [`TURN`] is spent (the rest waits for the next turn of
    /// the loop). Timers that came due meanwhile are fired before each
    /// costly action, so another instance's takeover (its advert) does not
    /// wait behind addresses and announcements.
    async fn settle(&mut self) {
        let start = Instant::now();
        loop {
            if !self.router.has_urgent() {
                let now = Instant::now();
                if self.router.poll_timeout().is_some_and(|t| t <= now) {
                    self.router.handle_timeout(now);
                    continue;
                }
                if start.elapsed() > TURN {
                    return;
                }
            }
            let Some(a) = self.router.poll_action() else { return };
            let costly = a.is_costly();
            self.execute(a);
            if costly {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Carries out everything at once (stopping, reconfiguring).
    fn run_all(&mut self) {
        while let Some(a) = self.router.poll_action() {
            self.execute(a);
        }
    }

    fn execute(&mut self, a: Action) {
        let span = |d: &Daemon, id: Id| d.io.get(&id).map_or_else(tracing::Span::none, |io| io.span.clone());
        match a {
            Action::Transmit { id, dst, payload } => {
                let Some(io) = self.io.get_mut(&id) else { return };
                let _in = io.span.enter();
                io.send(dst, &payload);
                if !io.sent {
                    io.sent = true;
                    // A stable line for the boot benchmark.
                    info!("first advert sent");
                }
            }
            Action::StateChange { id, from, to } => {
                self.publisher.moved = true;
                let _in = span(self, id).entered();
                info!("{} -> {}", state_name(from), state_name(to));
                // A retired instance has left the router already: its
                // configured priority then.
                if let Some(io) = self.io.get(&id) {
                    let priority = self.router.get(id).map_or(io.conf.priority, |v| v.priority);
                    match to {
                        vigil_vrrp::instance::State::Initialize => {
                            let why = self.leaving.remove(&id).unwrap_or(notify::Left::Stopped);
                            notify::left(&io.conf, why, Some(priority));
                        }
                        _ => notify::state_change(&io.conf.notify, &io.conf.name, "INSTANCE", to, Some(priority)),
                    }
                    // A sync group's members mail as the group (keepalived).
                    let grouped = self.groups.iter().enumerate().any(|(n, _)| self.router.group_has(n, id));
                    if !grouped && self.mail.wanted(io.conf.smtp_alert, true, false) {
                        self.state_mail("VRRP Instance", &io.conf.name, to, "VRRP Instance is");
                    }
                }
            }
            Action::GroupState { group, to } => {
                if let Some((name, notify)) = self.groups.get(group) {
                    info!("vrrp_sync_group {name}: {}", state_name(to));
                    crate::notify::state_change(notify, name, "GROUP", to, None);
                    if self.mail.wanted(self.group_alerts.get(group).copied().flatten(), true, false) {
                        self.state_mail("VRRP Group", name, to, "All VRRP group instances are");
                    }
                }
            }
            Action::Priority { id, from, to } => {
                let _in = span(self, id).entered();
                info!("priority {from} -> {to} (tracking)");
            }
            Action::Lost { id, what } => {
                use vigil_vrrp::router::Lost;
                let _in = span(self, id).entered();
                let conf = self.io.get(&id).map(|io| &io.conf);
                let (what, word) = match what {
                    Lost::Address(a) => (a.to_string(), "address"),
                    Lost::Route(n) => {
                        let r = conf.and_then(|c| c.virtual_routes.get(n));
                        (format!("route {}", r.map_or_else(|| n.to_string(), |r| r.to_string())), "route")
                    }
                    Lost::Rule(n) => {
                        let r = conf.and_then(|c| c.virtual_rules.get(n));
                        (format!("rule {}", r.map_or_else(|| n.to_string(), |r| r.to_string())), "rule")
                    }
                };
                warn!(
                    "{what} was removed from the system while master: resigning (priority 0), as keepalived does; no_track on the {word} keeps it master"
                );
            }
            // The log line is the router's notice (rate-limited); the
            // program runs with no arguments, as keepalived runs it.
            Action::HeardLower { id, .. } => {
                if let Some(cmd) = self.io.get(&id).and_then(|io| io.conf.notify_master_rx_lower_pri.as_deref()) {
                    crate::program::spawn(cmd, &[]);
                }
            }
            Action::HandedOver(list) => {
                let named = list.iter().filter_map(|(id, b)| Some((self.io.get(id)?.conf.name.to_string(), *b)));
                let named = named.collect();
                if let Some(done) = self.handover.take() {
                    let _ = done.send(named);
                }
            }
            Action::AddAddresses(id) => {
                let Some(io) = self.io.get(&id) else { return };
                let _in = io.span.enter();
                addresses::guard(io, &mut self.no_accept, true);
                addresses::change(io, true);
            }
            Action::RemoveAddresses(id) => {
                let Some(io) = self.io.get(&id) else { return };
                let _in = io.span.enter();
                self.own_removals.note(io);
                addresses::change(io, false);
                addresses::guard(io, &mut self.no_accept, false);
            }
            Action::Announce(id) | Action::AnnounceElsewhere(id) => {
                let Some(io) = self.io.get(&id) else { return };
                let _in = io.span.enter();
                let elsewhere = matches!(a, Action::AnnounceElsewhere(_));
                let now = Instant::now();
                if let Err(e) =
                    self.announcers.round(now, id, &io.announcement, elsewhere, &mut self.pacer, &mut self.paced)
                {
                    warn!("{e}");
                }
            }
            Action::Removed(id) => {
                if let Some(io) = self.io.remove(&id) {
                    // Its vmac goes with the addresses on it.
                    self.own_removals.note(&io);
                    let span = io.span.clone();
                    span.in_scope(|| io.close());
                }
            }
        }
    }

    /// The announcement pace of `g` (kept as it runs when unchanged: a
    /// commit does not let a burst through early).
    fn pace(&mut self, g: &vigil_config::Global) {
        let conf = (g.garp_interval_us, g.gna_interval_us, g.garp_groups.clone());
        if self.pace_conf.as_ref() == Some(&conf) {
            return;
        }
        let us = |u: Option<u32>| u.map(|u| Duration::from_micros(u64::from(u)));
        let groups: Vec<vigil_vrrp::pace::Group> = g
            .garp_groups
            .iter()
            .map(|gg| vigil_vrrp::pace::Group {
                interfaces: gg.interfaces.iter().map(|i| i.to_string()).collect(),
                shared: gg.shared,
                garp: us(gg.garp_interval_us),
                gna: us(gg.gna_interval_us),
            })
            .collect();
        self.pacer = vigil_vrrp::pace::Pacer::new(&groups, us(g.garp_interval_us), us(g.gna_interval_us));
        self.pace_conf = Some(conf);
    }

    /// Announcements that waited for their interface's pace and may go.
    fn drain_paced(&mut self) {
        if self.paced.is_empty() {
            return;
        }
        let io = &self.io;
        let failures = self
            .announcers
            .drain(Instant::now(), &mut self.pacer, &mut self.paced, |id| io.get(&id).map(|i| &i.announcement));
        for e in failures {
            warn!("vrrp: {e}");
        }
    }

    /// keepalived's mail for a state change: `VRRP Instance VI_1 - Entering
    /// MASTER state`, `=> VRRP Instance is now owning VRRP VIPs <=` (none
    /// for FAULT with `no_email_faults`, nor for INIT).
    fn state_mail(&self, kind: &str, name: &str, to: vigil_vrrp::instance::State, who: &str) {
        use vigil_vrrp::instance::State;
        let body = match (to, kind) {
            (State::Master, "VRRP Instance") => "=> VRRP Instance is now owning VRRP VIPs <=".to_string(),
            (State::Backup, "VRRP Instance") => "=> VRRP Instance is nolonger owning VRRP VIPs <=".to_string(),
            (State::Fault, _) if self.mail.no_faults => return,
            (State::Initialize, _) => return,
            (s, _) => format!("=> {who} now in {} state <=", state_name(s)),
        };
        let subject = format!("{kind} {name} - Entering {} state", state_name(to));
        crate::mail::send(&self.mail, &self.router_id, &subject, &body);
    }

    /// A notice from the router, in the log (its rate limit applied).
    fn log(&self, n: Notice) {
        let held = if n.held > 0 { format!(" ({} more not logged)", n.held) } else { String::new() };
        match n.id.and_then(|id| self.io.get(&id)) {
            Some(io) => io.span.in_scope(|| warn!("{}{held}", n.what)),
            None => warn!("vrrp: {}{held}", n.what),
        }
    }
}
