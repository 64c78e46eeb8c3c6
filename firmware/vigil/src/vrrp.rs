//! The VRRP daemon's I/O around the sans-IO core (`vigil-vrrp`): raw IPv4
//! sockets (protocol 112, TTL 255, the 224.0.0.18 group or unicast peers),
//! virtual addresses over rtnetlink, gratuitous ARP on an AF_PACKET socket,
//! and the timers. IPv6 (v3): raw IPv6 sockets to ff02::12 from the
//! link-local address, the hop limit checked from its control message,
//! unsolicited neighbour advertisements.

use crate::net::Rtnl;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tracing::{info, warn};
use vigil_config::{Config, VrrpInstance};
use vigil_vrrp::instance::{self, Action, Instance, State};
use vigil_vrrp::sync::Group;
use vigil_vrrp::wire::{self, Packet, Repr};

const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// `show vrrp`, kept up to date by the daemon.
pub type Status = Arc<Mutex<Vec<String>>>;

/// Each instance's state by name (INIT, BACKUP, MASTER, FAULT), for what
/// follows VRRP (the IPVS sync daemon).
pub type States = tokio::sync::watch::Sender<Vec<(String, &'static str)>>;

struct Running {
    name: String,
    ifname: String,
    ifindex: i32,
    mac: [u8; 6],
    vrrp: Instance,
    sock: AsyncFd<Socket>,
    v6: bool,
    peers: Vec<IpAddr>,
    conf: VrrpInstance,
    /// Packets dropped before the state machine saw them, by reason.
    drops: OwnDrops,
    /// `use_vmac`: the macvlan that carries the virtual MAC and the VIPs.
    vmac: Option<Vmac>,
    /// Dropped packets are logged, but not every one of a flood.
    drop_log: RateLimit,
    /// Its first virtual address was up when it started (a restart).
    resume: bool,
    /// The rest of a burst of gratuitous ARPs / unsolicited NAs spaced by
    /// `garp_interval`: stopped when the instance leaves MASTER (a backup
    /// announcing the VIP from its MAC sends the LAN's traffic astray).
    announcing: Option<tokio::task::AbortHandle>,
}

impl Running {
    fn stop_announcing(&mut self) {
        if let Some(a) = self.announcing.take() {
            a.abort();
        }
    }
}

/// What the receive side drops before an instance's state machine sees it.
#[derive(Debug, Default, Clone, Copy)]
struct OwnDrops {
    not_a_peer: u64,
    ttl: u64,
    malformed: u64,
}

/// Adverts on an interface for a VRID no instance there runs (RFC 5798
/// 7.1: "SHOULD log"): counted, and logged with a rate limit.
struct Strays {
    ifindex: i32,
    v6: bool,
    ifname: String,
    count: u64,
    last: (u8, IpAddr),
    log: RateLimit,
}

/// At most `BURST` log lines per `WINDOW`; what is held back is counted and
/// reported with the next line let through.
#[derive(Debug, Default)]
struct RateLimit {
    window: Option<Instant>,
    lines: u32,
    held: u64,
}

impl RateLimit {
    const BURST: u32 = 5;
    const WINDOW: Duration = Duration::from_secs(10);

    /// Whether to log now; `Some(n)`: yes, and n lines were held back before it.
    fn allow(&mut self, now: Instant) -> Option<u64> {
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

/// Logs a dropped packet through the instance's rate limit.
fn log_drop(r: &mut Running, what: std::fmt::Arguments) {
    if let Some(held) = r.drop_log.allow(Instant::now()) {
        if held > 0 {
            warn!("vrrp_instance {}: {what} ({held} more dropped without a log line)", r.name);
        } else {
            warn!("vrrp_instance {}: {what}", r.name);
        }
    }
}

/// A `use_vmac` link: `vrrp.VRID` (`vrrp6.VRID` for IPv6) on the instance's
/// interface with the virtual router MAC 00-00-5E-00-01-VRID (IPv6:
/// 00-00-5E-00-02-VRID, RFC 5798 7.3). A switch then only relearns a port
/// on failover; no host has to update its ARP cache.
struct Vmac {
    name: String,
    index: i32,
    mac: [u8; 6],
    /// IPv4 adverts leave through the vmac so their source MAC is the
    /// virtual one (IPv6 adverts leave through the base interface: the vmac
    /// has no link-local address of its own).
    tx: Option<Socket>,
}

/// Messages to the daemon.
pub enum Control {
    /// A new config (the instances are restarted).
    Config(Box<Config>),
    /// Resign (priority 0) and stop; the sender waits for the reply.
    Shutdown(tokio::sync::oneshot::Sender<()>),
    /// Before a reboot into an update: every master resigns (priority 0)
    /// and stays down; the reply names each one and whether another
    /// router's advert (priority above 0) came for it within `wait`: a
    /// backup took the VIPs.
    Handover { wait: Duration, done: tokio::sync::oneshot::Sender<Vec<(String, bool)>> },
}

/// A handover in progress: the instances that resigned, and whether
/// another master was heard for each.
struct Handover {
    resigned: Vec<(i32, bool, u8, String, bool)>,
    until: Instant,
    done: tokio::sync::oneshot::Sender<Vec<(String, bool)>>,
}

impl Handover {
    fn heard(&mut self, ifindex: i32, v6: bool, payload: &[u8]) {
        let (Some(&vrid), Some(&prio)) = (payload.get(1), payload.get(2)) else { return };
        if prio == 0 {
            return;
        }
        for r in self.resigned.iter_mut().filter(|r| r.0 == ifindex && r.1 == v6 && r.2 == vrid) {
            r.4 = true;
        }
    }

    fn all_taken(&self) -> bool {
        self.resigned.iter().all(|r| r.4)
    }

    fn reply(self) {
        let _ = self.done.send(self.resigned.into_iter().map(|r| (r.3, r.4)).collect());
    }
}

/// Runs until told to shut down.
pub async fn run(config: Config, status: Status, states: States, mut control: tokio::sync::mpsc::Receiver<Control>) {
    let mut d = Daemon::default();
    d.start_all(&config).await;
    // Link changes come from the kernel (RTNLGRP_LINK); without the monitor
    // (it cannot fail on Linux, but if it does) the links are read every 100 ms.
    let monitor = match LinkMonitor::open() {
        Ok(m) => Some(m),
        Err(e) => {
            warn!("vrrp: link monitor: {e}; reading links every 100 ms instead");
            None
        }
    };
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timer = match Timer::new() {
        Ok(t) => t,
        Err(e) => return warn!("vrrp: timerfd: {e}; VRRP not started"),
    };
    d.track_all().await;
    let mut last_lines = None;
    let epoch = Instant::now();
    let mut handover: Option<Handover> = None;
    loop {
        publish(&d.instances, &d.strays, &status, &states, &mut last_lines);
        let deadline = d.instances.iter().filter_map(|r| wake_at(r, epoch)).min();
        let sleep = timer.sleep_until(deadline);
        let link_event = async {
            match &monitor {
                Some(m) => m.changed().await,
                None => {
                    poll.tick().await;
                }
            }
        };
        let handover_until = handover.as_ref().map(|h| h.until);
        tokio::select! {
            _ = tokio::time::sleep_until(handover_until.unwrap_or_else(Instant::now).into()), if handover_until.is_some() => {
                if let Some(h) = handover.take() {
                    h.reply();
                }
            }
            _ = sleep => {
                let now = Instant::now();
                for r in &mut d.instances {
                    if r.vrrp.poll_timeout().is_some_and(|t| t <= now) {
                        r.vrrp.handle_timeout(now);
                    }
                }
                d.settle().await;
            }
            _ = link_event => d.track_all().await,
            _ = std::future::ready(()), if d.backlog => d.settle().await,
            batch = d.rx.recv() => {
                for dg in &batch {
                    if let Some(h) = handover.as_mut() {
                        h.heard(dg.ifindex, dg.v6, &dg.payload);
                    }
                    let vrid = crate::vrrp_rx::vrid(&dg.payload);
                    let mut taken = false;
                    for r in d.instances.iter_mut().filter(|r| {
                        r.ifindex == dg.ifindex && r.v6 == dg.v6 && Some(r.conf.virtual_router_id) == vrid
                    }) {
                        taken = true;
                        receive(r, dg.src, dg.ttl, &dg.payload);
                    }
                    if !taken {
                        d.stray(dg.ifindex, dg.v6, dg.src, vrid);
                    }
                }
                d.settle().await;
                if handover.as_ref().is_some_and(Handover::all_taken)
                    && let Some(h) = handover.take()
                {
                    h.reply();
                }
            }
            msg = control.recv() => match msg {
                Some(Control::Handover { wait, done }) => {
                    let mut resigned = Vec::new();
                    for r in d.instances.iter_mut().filter(|r| r.vrrp.state() == State::Master) {
                        info!("vrrp_instance {}: handing over (priority 0) before the reboot", r.name);
                        r.vrrp.shutdown();
                        resigned.push((r.ifindex, r.v6, r.conf.virtual_router_id, r.name.clone(), false));
                    }
                    d.settle().await;
                    let h = Handover { resigned, until: Instant::now() + wait, done };
                    if h.all_taken() {
                        h.reply();
                    } else {
                        handover = Some(h);
                    }
                }
                Some(Control::Config(c)) => {
                    d.reconfigure(&c).await;
                    d.track_all().await;
                }
                Some(Control::Shutdown(done)) => {
                    d.stop_all().await;
                    publish(&d.instances, &d.strays, &status, &states, &mut None);
                    let _ = done.send(());
                    return;
                }
                None => {
                    d.stop_all().await;
                    return;
                }
            },
        }
    }
}

/// A one-shot timer on a timerfd (an hrtimer): tokio's own timers round a
/// deadline up to the next millisecond, which would add up to 1 ms to
/// every takeover; this one fires within microseconds of it.
struct Timer {
    fd: AsyncFd<TimerFd>,
}

struct TimerFd(nix::sys::timerfd::TimerFd);

impl std::os::fd::AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

impl Timer {
    fn new() -> std::io::Result<Timer> {
        use nix::sys::timerfd::{ClockId, TimerFlags};
        let fd = nix::sys::timerfd::TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // SAFETY: the TimerFd owns its descriptor and moves into the
        // AsyncFd, which deregisters it before dropping (closing) it.
        Ok(Timer { fd: unsafe { AsyncFd::register(TimerFd(fd)) }? })
    }

    /// Returns at `deadline` (at once if it has passed; never if None).
    async fn sleep_until(&self, deadline: Option<Instant>) {
        use nix::sys::time::TimeSpec;
        use nix::sys::timerfd::{Expiration, TimerSetTimeFlags};
        let Some(deadline) = deadline else { return std::future::pending().await };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        // Re-arming also clears an expiry left from an earlier, abandoned wait.
        let armed =
            self.fd.get_ref().0.set(Expiration::OneShot(TimeSpec::from_duration(left)), TimerSetTimeFlags::empty());
        if let Err(e) = armed {
            warn!("vrrp: timerfd: {e}");
            return tokio::time::sleep(left).await;
        }
        loop {
            let Ok(mut guard) = self.fd.readable().await else { return tokio::time::sleep(left).await };
            let mut ticks = [0u8; 8];
            match nix::unistd::read(&guard.get_inner().0, &mut ticks) {
                Ok(_) => return,
                Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
                Err(_) => return,
            }
        }
    }
}

/// Wakes when the kernel reports a link change (RTNLGRP_LINK); the
/// messages themselves are not parsed: the links are read afresh.
struct LinkMonitor {
    fd: AsyncFd<std::os::fd::OwnedFd>,
}

impl LinkMonitor {
    fn open() -> std::io::Result<LinkMonitor> {
        use nix::sys::socket::{AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, socket};
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &NetlinkAddr::new(0, libc::RTMGRP_LINK as u32))?;
        // SAFETY: the OwnedFd moves into the AsyncFd, which deregisters it
        // before dropping (closing) it; nothing else holds the descriptor.
        Ok(LinkMonitor { fd: unsafe { AsyncFd::register(fd) }? })
    }

    /// Waits for at least one message and drains the socket. An overrun
    /// (ENOBUFS) also counts as a change.
    async fn changed(&self) {
        let Ok(mut guard) = self.fd.readable().await else {
            return std::future::pending().await;
        };
        let mut buf = [0u8; 8192];
        let fd = std::os::fd::AsRawFd::as_raw_fd(guard.get_inner());
        while let Ok(_) | Err(nix::errno::Errno::ENOBUFS | nix::errno::Errno::EINTR) =
            nix::sys::socket::recv(fd, &mut buf, nix::sys::socket::MsgFlags::empty())
        {}
        guard.clear_ready();
    }
}

/// The running instances and their sync groups (indices into `instances`).
#[derive(Default)]
struct Daemon {
    instances: Vec<Running>,
    groups: Vec<Group>,
    group_notify: Vec<vigil_config::Notify>,
    /// Drop rules for the VIPs of `no_accept` masters.
    no_accept: crate::nft::NoAccept,
    /// One receiving socket per interface and family.
    rx: crate::vrrp_rx::Receivers,
    /// Costly actions are left for the next turn of the loop.
    backlog: bool,
    /// Where the next turn's costly actions start (every instance gets its turn).
    cursor: usize,
    /// Adverts for VRIDs with no instance, per interface and family.
    strays: Vec<Strays>,
}

impl Daemon {
    /// An advert no instance on its interface and family takes.
    fn stray(&mut self, ifindex: i32, v6: bool, src: IpAddr, vrid: Option<u8>) {
        let Some(vrid) = vrid else { return };
        let i = match self.strays.iter().position(|s| s.ifindex == ifindex && s.v6 == v6) {
            Some(i) => i,
            None => {
                let ifname = self
                    .instances
                    .iter()
                    .find(|r| r.ifindex == ifindex)
                    .map_or_else(|| format!("interface {ifindex}"), |r| r.ifname.clone());
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
        if let Some(held) = s.log.allow(Instant::now()) {
            let more = if held > 0 { format!(" ({held} more since the last line)") } else { String::new() };
            warn!("vrrp: advert from {src} on {} for VRID {vrid}: no instance here runs it; dropped{more}", s.ifname);
        }
    }
}

impl Daemon {
    async fn start_all(&mut self, config: &Config) {
        let snap = Snapshot::read();
        for v in &config.vrrp_instances {
            self.start_one(v, &snap).await;
        }
        self.listen();
        self.regroup(config);
        self.settle().await;
    }

    /// A receiver for every interface and family that has instances (and the
    /// list of instances is published anew).
    fn listen(&mut self) {
        MOVED.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut wanted: Vec<(i32, String, bool)> = Vec::new();
        for r in &self.instances {
            if !wanted.iter().any(|w| w.0 == r.ifindex && w.2 == r.v6) {
                wanted.push((r.ifindex, r.ifname.clone(), r.v6));
            }
        }
        for e in self.rx.sync(&wanted) {
            warn!("vrrp: {e}");
        }
    }

    /// Starts one instance; then lets the rest of the child run (its
    /// heartbeats), however many instances start at once.
    async fn start_one(&mut self, v: &VrrpInstance, snap: &Result<Snapshot, String>) {
        match snap.as_ref().map_err(Clone::clone).and_then(|s| start(v, s)) {
            Ok(mut r) => {
                if r.resume {
                    // A restarted daemon whose addresses are still up: it was
                    // master a moment ago; it says so at once (no flap). A
                    // better router's adverts take it back to backup.
                    info!("vrrp_instance {}: its addresses are still up: resuming as master", r.name);
                    r.vrrp.resume_master(Instant::now());
                } else {
                    r.vrrp.start(Instant::now());
                }
                self.instances.push(r);
            }
            Err(e) => warn!("vrrp_instance {}: not started: {e}", v.name),
        }
        tokio::task::yield_now().await;
    }

    /// The sync groups by index into the (new) list of instances.
    fn regroup(&mut self, config: &Config) {
        self.groups.clear();
        self.group_notify.clear();
        for g in &config.sync_groups {
            let members =
                g.group.iter().filter_map(|m| self.instances.iter().position(|r| r.name == m.as_str())).collect();
            self.groups.push(Group::new(&g.name, members));
            self.group_notify.push(g.notify.clone());
        }
    }

    /// A new config: instances whose settings did not change keep running
    /// untouched (no VIP flap); changed ones restart; removed ones resign.
    async fn reconfigure(&mut self, config: &Config) {
        let mut kept = Vec::new();
        for mut r in self.instances.drain(..) {
            if config.vrrp_instances.contains(&r.conf) {
                kept.push(r);
            } else {
                info!("vrrp_instance {}: changed or removed: stopping", r.name);
                r.vrrp.shutdown();
                act(&mut r, &mut self.no_accept, false);
                remove_vmac(&mut r);
            }
        }
        self.instances = kept;
        let snap = Snapshot::read();
        for v in &config.vrrp_instances {
            if !self.instances.iter().any(|r| r.conf == *v) {
                self.start_one(v, &snap).await;
            }
        }
        self.listen();
        self.regroup(config);
        self.settle().await;
    }

    async fn stop_all(&mut self) {
        for r in self.instances.iter_mut() {
            r.vrrp.shutdown();
        }
        self.settle().await;
        for r in &mut self.instances {
            remove_vmac(r);
        }
        self.instances.clear();
    }

    /// Reads the links once and applies tracking to every instance, then
    /// the sync groups' fault.
    async fn track_all(&mut self) {
        let links = match Rtnl::open().and_then(|mut r| r.links()) {
            Ok(l) => l,
            Err(e) => return warn!("vrrp: reading links: {e}"),
        };
        for r in &mut self.instances {
            track(r, &links);
        }
        let now = Instant::now();
        for g in &self.groups {
            g.update_fault(now, &mut self.instances, |r| &mut r.vrrp);
        }
        self.settle().await;
    }

    /// Carries out every instance's pending actions; a state change moves
    /// the rest of its sync group, whose actions are carried out in turn.
    /// Carries out the instances' actions in two passes: the cheap ones
    /// (adverts, state changes) of every instance, then the costly ones
    /// (adding or removing addresses, announcing them) in turn until
    /// [`TURN`] is spent. What is left is the backlog, taken up on the next
    /// turn of the loop: while 256 instances take over at once, those that
    /// are master already keep sending their adverts, and the child keeps
    /// answering its heartbeats.
    async fn settle(&mut self) {
        let start = Instant::now();
        self.backlog = false;
        loop {
            let mut changed = false;
            for i in 0..self.instances.len() {
                changed |= self.apply(i, true);
            }
            let n = self.instances.len();
            for k in 0..n {
                let i = (self.cursor + k) % n;
                if !self.instances[i].vrrp.has_actions() {
                    continue;
                }
                if start.elapsed() > TURN {
                    self.cursor = i;
                    self.backlog = true;
                    return;
                }
                // Timers that came due meanwhile first: another instance's
                // takeover (its advert) does not wait behind these costly
                // actions (addresses, announcements).
                changed |= self.fire_due();
                changed |= self.apply(i, false);
                tokio::task::yield_now().await;
            }
            if !changed {
                return;
            }
        }
    }

    /// Handles the timers that are due and sends what they ask for at once
    /// (the cheap actions); returns whether a state changed.
    fn fire_due(&mut self) -> bool {
        let now = Instant::now();
        let mut changed = false;
        for i in 0..self.instances.len() {
            if self.instances[i].vrrp.poll_timeout().is_some_and(|t| t <= now) {
                self.instances[i].vrrp.handle_timeout(now);
                changed |= self.apply(i, true);
            }
        }
        changed
    }

    /// One instance's actions (only the cheap ones if `cheap`); a state it
    /// moves to moves its sync group. Returns whether it changed state.
    fn apply(&mut self, i: usize, cheap: bool) -> bool {
        let now = Instant::now();
        let moved = act(&mut self.instances[i], &mut self.no_accept, cheap);
        if !moved.is_empty() {
            MOVED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        for &to in &moved {
            for (g, n) in self.groups.iter_mut().zip(&self.group_notify) {
                if !g.contains(i) {
                    continue;
                }
                g.member_changed(now, i, to, &mut self.instances, |r| &mut r.vrrp);
                let states: Vec<State> = g.members.iter().map(|&m| self.instances[m].vrrp.state()).collect();
                if let Some(s) = g.agreed_change(states) {
                    info!("vrrp_sync_group {}: {}", g.name, state_name(s));
                    run_notify(n, &g.name, "GROUP", s, None);
                }
            }
        }
        !moved.is_empty()
    }
}

/// When to wake for an instance: a backup's Master_Down timer exactly (a
/// takeover is due to the microsecond), a master's next advert at the next
/// [`ADVERT_SLOT`] boundary, so that many masters' adverts go out in one
/// turn of the loop instead of a turn each (at most a slot late; the
/// backups wait three intervals).
fn wake_at(r: &Running, epoch: Instant) -> Option<Instant> {
    let t = r.vrrp.poll_timeout()?;
    if r.vrrp.state() != State::Master {
        return Some(t);
    }
    let slot = ADVERT_SLOT.as_nanos();
    let since = t.saturating_duration_since(epoch).as_nanos();
    let up = since.div_ceil(slot) * slot;
    Some(epoch + Duration::from_nanos(u64::try_from(up).unwrap_or(u64::MAX)))
}

/// Masters' adverts are sent together within this.
const ADVERT_SLOT: Duration = Duration::from_millis(10);

/// How long one turn of the loop spends on costly actions.
const TURN: Duration = Duration::from_millis(20);

/// Each instance's state for what follows VRRP, at once when one changes;
/// the `show vrrp` lines (counters too) at most every [`STATUS_EVERY`]:
/// with 256 instances, formatting them on every packet cost more than VRRP.
fn publish(
    instances: &[Running],
    strays: &[Strays],
    status: &Status,
    states: &States,
    last_lines: &mut Option<Instant>,
) {
    let due = last_lines.is_none_or(|t| t.elapsed() >= STATUS_EVERY);
    if !due && !MOVED.swap(false, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    states.send_if_modified(|s| {
        let same = s.len() == instances.len()
            && s.iter().zip(instances).all(|((n, st), r)| *n == r.name && *st == state_name(r.vrrp.state()));
        if !same {
            *s = instances.iter().map(|r| (r.name.clone(), state_name(r.vrrp.state()))).collect();
        }
        !same
    });
    let now = Instant::now();
    if last_lines.is_some_and(|t| now.duration_since(t) < STATUS_EVERY) {
        return;
    }
    *last_lines = Some(now);
    let mut lines: Vec<String> = instances
        .iter()
        .map(|r| {
            let d = r.drops;
            let mut line = format!(
                "{} {} vrid {} {} priority {} adverts sent {} received {} dropped {}",
                r.name,
                r.ifname,
                r.conf.virtual_router_id,
                state_name(r.vrrp.state()),
                r.vrrp.priority(),
                r.vrrp.stats.adverts_sent,
                r.vrrp.stats.adverts_received,
                r.vrrp.stats.dropped + d.not_a_peer + d.ttl + d.malformed
            );
            let mut why: Vec<String> = vigil_vrrp::instance::Dropped::ALL
                .iter()
                .zip(r.vrrp.stats.dropped_by)
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
    for s in strays {
        lines.push(format!(
            "{} ({}): {} adverts for VRIDs no instance runs (the last: VRID {} from {})",
            s.ifname,
            if s.v6 { "IPv6" } else { "IPv4" },
            s.count,
            s.last.0,
            s.last.1
        ));
    }
    *status.lock().unwrap_or_else(|p| p.into_inner()) = lines;
}

/// An instance changed state since the states were last published.
static MOVED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// How often the `show vrrp` lines are refreshed.
const STATUS_EVERY: Duration = Duration::from_millis(250);

/// The kernel's links and addresses, read once for a batch of instances
/// (each used to dump them for itself: with 256 instances and their 8,192
/// addresses up, a restart read millions of records).
struct Snapshot {
    links: Vec<crate::net::Link>,
    addrs: Vec<(i32, IpAddr, u8)>,
}

impl Snapshot {
    fn read() -> Result<Snapshot, String> {
        let mut rtnl = Rtnl::open().map_err(|e| format!("rtnetlink: {e}"))?;
        let links = rtnl.links().map_err(|e| format!("reading links: {e}"))?;
        let addrs = rtnl.all_addresses().map_err(|e| format!("reading addresses: {e}"))?;
        Ok(Snapshot { links, addrs })
    }

    fn link(&self, name: &str) -> Option<&crate::net::Link> {
        self.links.iter().find(|l| l.name == name)
    }

    fn addresses(&self, index: i32) -> impl Iterator<Item = IpAddr> + '_ {
        self.addrs.iter().filter(move |a| a.0 == index).map(|a| a.1)
    }
}

fn start(v: &VrrpInstance, snap: &Snapshot) -> Result<Running, String> {
    let v6 = v.is_ipv6();
    let link = snap.link(v.interface.as_str()).cloned().ok_or_else(|| format!("no interface {}", v.interface))?;
    // The source: unicast_src_ip, else the interface's first IPv4 address
    // (not a VIP), or for IPv6 its link-local address (RFC 5798 5.1.2.1).
    let primary: IpAddr = match v.unicast_src_ip {
        Some(a) => a,
        None => snap
            .addresses(link.index)
            .find(|a| match a {
                IpAddr::V4(_) => !v6 && !v.virtual_ipaddress.iter().any(|x| x.addr.addr == *a),
                IpAddr::V6(x) => v6 && x.segments()[0] & 0xffc0 == 0xfe80,
            })
            .ok_or_else(|| {
                format!("{} has no {} address to send from", v.interface, if v6 { "link-local IPv6" } else { "IPv4" })
            })?,
    };
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(wire::PROTOCOL))))
        .map_err(|e| format!("raw socket: {e}"))?;
    let ifindex = link.index as u32;
    let setup = || -> std::io::Result<()> {
        sock.bind_device(Some(v.interface.as_bytes()))?;
        match primary {
            IpAddr::V4(p) => {
                sock.set_ttl_v4(u32::from(wire::TTL))?;
                sock.set_multicast_ttl_v4(u32::from(wire::TTL))?;
                sock.set_multicast_loop_v4(false)?;
                sock.set_multicast_if_v4(&p)?;
            }
            IpAddr::V6(_) => {
                sock.set_unicast_hops_v6(u32::from(wire::TTL))?;
                sock.set_multicast_hops_v6(u32::from(wire::TTL))?;
                sock.set_multicast_loop_v6(false)?;
                sock.set_multicast_if_v6(ifindex)?;
            }
        }
        // It only sends: the interface's receiver reads the adverts.
        crate::vrrp_rx::deaf(&sock)?;
        sock.set_nonblocking(true)
    };
    setup().map_err(|e| format!("socket setup: {e}"))?;
    // SAFETY: the socket owns its descriptor and returns the same one from
    // as_raw_fd() until it is dropped, which happens only with the AsyncFd.
    let sock = unsafe { AsyncFd::register(sock) }.map_err(|e| e.to_string())?;
    let mut auth = None;
    if let Some(p) = &v.auth_pass {
        let mut a = [0u8; 8];
        a[..p.len()].copy_from_slice(p.as_bytes());
        auth = Some(a);
    }
    let cfg = instance::Config {
        version: v.version,
        vrid: v.virtual_router_id,
        priority: v.priority,
        advert_int_cs: v.advert_int_cs,
        preempt: v.preempt,
        preempt_delay: Duration::from_secs(u64::from(v.preempt_delay_s)),
        addrs: v.virtual_ipaddress.iter().map(|a| a.addr.addr).collect(),
        primary,
        auth,
        garp_delay: Duration::from_secs(u64::from(v.garp.master_delay_s)),
        garp_refresh: (v.garp.master_refresh_s > 0).then(|| Duration::from_secs(u64::from(v.garp.master_refresh_s))),
    };
    let resume = !v.use_vmac
        && v.virtual_ipaddress.first().is_some_and(|vip| {
            let dev = vip.dev.as_deref().map_or(link.index, |d| snap.link(d).map_or(-1, |l| l.index));
            snap.addresses(dev).any(|ip| ip == vip.addr.addr)
        });
    let vmac = if v.use_vmac {
        let mut rtnl = Rtnl::open().map_err(|e| format!("rtnetlink: {e}"))?;
        Some(create_vmac(&mut rtnl, v, link.index, primary)?)
    } else {
        None
    };
    let peers = v.unicast_peer.to_vec();
    info!(
        "vrrp_instance {}: on {} from {primary}, vrid {}, priority {}, v{}",
        v.name, v.interface, v.virtual_router_id, v.priority, v.version
    );
    Ok(Running {
        name: v.name.to_string(),
        ifname: v.interface.to_string(),
        ifindex: link.index,
        mac: link.mac.unwrap_or_default(),
        vrrp: Instance::new(cfg),
        sock,
        v6,
        peers,
        conf: v.clone(),
        drops: OwnDrops::default(),
        vmac,
        drop_log: RateLimit::default(),
        resume,
        announcing: None,
    })
}

/// Creates (or re-creates, after a crash) the instance's vmac, up, with
/// ARP answered only for addresses on the receiving link (so neither the
/// base interface answers for a VIP nor the vmac for the base's address).
/// No arp_filter or rp_filter on the vmac: replies to clients are routed
/// out of the base interface, which would make either drop them. And
/// arp_announce 2 on the base: its own ARP requests (for a client it
/// answers from the VIP) must not name the VIP, or the client would learn
/// the VIP at the base's MAC.
fn create_vmac(rtnl: &mut Rtnl, v: &VrrpInstance, base: i32, primary: IpAddr) -> Result<Vmac, String> {
    let v6 = v.is_ipv6();
    let name = format!("{}.{}", if v6 { "vrrp6" } else { "vrrp" }, v.virtual_router_id);
    let mac = [0x00, 0x00, 0x5e, 0x00, if v6 { 0x02 } else { 0x01 }, v.virtual_router_id];
    let find = |rtnl: &mut Rtnl| -> Result<Option<i32>, String> {
        Ok(rtnl.links().map_err(|e| e.to_string())?.into_iter().find(|l| l.name == name).map(|l| l.index))
    };
    if let Some(old) = find(rtnl)? {
        rtnl.delete_link(old).map_err(|e| format!("removing the old {name}: {e}"))?;
    }
    rtnl.add_macvlan(base, &name, mac).map_err(|e| format!("creating {name} (macvlan): {e}"))?;
    let index = find(rtnl)?.ok_or_else(|| format!("{name} vanished after creation"))?;
    rtnl.set_addr_gen_mode_none(index).map_err(|e| format!("{name}: addrgenmode none: {e}"))?;
    for (dev, key, val) in
        [(name.as_str(), "arp_ignore", "1"), (name.as_str(), "arp_filter", "0"), (name.as_str(), "rp_filter", "0")]
            .into_iter()
            .chain([
                (v.interface.as_str(), "arp_ignore", "1"),
                (v.interface.as_str(), "arp_filter", "1"),
                (v.interface.as_str(), "arp_announce", "2"),
            ])
    {
        let path = format!("/proc/sys/net/ipv4/conf/{dev}/{key}");
        if let Err(e) = std::fs::write(&path, val) {
            warn!("vrrp_instance {}: {path}: {e}", v.name);
        }
    }
    let up = (libc::IFF_UP | libc::IFF_MULTICAST) as u32;
    rtnl.set_flags(index, up, up).map_err(|e| format!("{name} up: {e}"))?;
    let tx = match primary {
        IpAddr::V6(_) => None,
        IpAddr::V4(_) => {
            let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(i32::from(wire::PROTOCOL))))
                .map_err(|e| format!("raw socket: {e}"))?;
            sock.bind_device(Some(name.as_bytes()))
                .and_then(|()| sock.bind(&SockAddr::from(SocketAddr::new(primary, 0))))
                .and_then(|()| sock.set_ttl_v4(u32::from(wire::TTL)))
                .and_then(|()| sock.set_multicast_ttl_v4(u32::from(wire::TTL)))
                .and_then(|()| sock.set_multicast_loop_v4(false))
                .map_err(|e| format!("{name}: send socket: {e}"))?;
            // Input is read on the base interface's socket only.
            let _ = sock.shutdown(std::net::Shutdown::Read);
            Some(sock)
        }
    };
    info!("vrrp_instance {}: {name} with MAC 00:00:5e:00:{:02x}:{:02x}", v.name, mac[4], mac[5]);
    Ok(Vmac { name, index, mac, tx })
}

/// Removes an instance's vmac (and the VIPs on it) once it has stopped.
fn remove_vmac(r: &mut Running) {
    if let Some(vm) = r.vmac.take() {
        match Rtnl::open().and_then(|mut n| n.delete_link(vm.index)) {
            Ok(()) => info!("vrrp_instance {}: {} removed", r.name, vm.name),
            Err(e) => warn!("vrrp_instance {}: removing {}: {e}", r.name, vm.name),
        }
    }
}

fn receive(r: &mut Running, src: IpAddr, ttl: u8, payload: &[u8]) {
    if src == r.vrrp.config().primary {
        return; // our own
    }
    if !r.peers.is_empty() && !r.peers.contains(&src) {
        r.drops.not_a_peer += 1;
        return;
    }
    if ttl != wire::TTL {
        r.drops.ttl += 1;
        log_drop(r, format_args!("advert from {src} with TTL {ttl} (not 255) dropped"));
        return;
    }
    let dst = match (r.peers.is_empty(), r.v6) {
        (true, false) => IpAddr::V4(GROUP_V4),
        (true, true) => IpAddr::V6(GROUP_V6),
        (false, _) => r.vrrp.config().primary,
    };
    let parsed = Packet::new_checked(payload).and_then(|p| Repr::parse(&p, src, dst));
    match parsed {
        Ok(repr) if repr.vrid != r.conf.virtual_router_id => {} // another router's instance
        Ok(repr) => {
            let answered = r.vrrp.stats.lower_priority_answered;
            if let Err(why) = r.vrrp.handle_advert(Instant::now(), src, &repr) {
                log_drop(r, format_args!("advert from {src} dropped: {why}"));
            } else if r.vrrp.stats.lower_priority_answered != answered {
                log_drop(
                    r,
                    format_args!(
                        "advert from {src} with lower priority {} (ours {}): another master; answered with an advert and an announcement of the addresses",
                        repr.priority,
                        r.vrrp.priority()
                    ),
                );
            }
        }
        Err(e) => {
            r.drops.malformed += 1;
            log_drop(r, format_args!("bad packet from {src}: {e}"));
        }
    }
}

/// Carries out what the state machine asked for; returns the states it
/// moved to (for the sync groups).
fn act(r: &mut Running, no_accept: &mut crate::nft::NoAccept, cheap: bool) -> Vec<State> {
    let mut moved = Vec::new();
    loop {
        let costly =
            matches!(r.vrrp.peek_action(), Some(Action::AddAddresses | Action::RemoveAddresses | Action::Announce));
        if cheap && costly {
            break;
        }
        let Some(a) = r.vrrp.poll_action() else { break };
        match a {
            Action::Send(repr) => {
                send(r, &repr);
                if r.vrrp.stats.adverts_sent == 1 {
                    // A stable line for the boot benchmark.
                    info!("vrrp_instance {}: first advert sent", r.name);
                }
            }
            Action::AddAddresses => {
                guard(r, no_accept, true);
                addresses(r, true);
            }
            Action::RemoveAddresses => {
                r.stop_announcing();
                addresses(r, false);
                guard(r, no_accept, false);
            }
            Action::Announce => announce(r),
            Action::StateChange { from, to } => {
                if to != State::Master {
                    r.stop_announcing();
                }
                info!("vrrp_instance {}: {} -> {}", r.name, state_name(from), state_name(to));
                run_notify(&r.conf.notify, &r.name, "INSTANCE", to, Some(r.vrrp.priority()));
                moved.push(to);
            }
        }
    }
    moved
}

/// Runs an instance's or a sync group's notify programs for a new state, as
/// keepalived: `notify_<state>` with no arguments, and `notify` with
/// `INSTANCE|GROUP name STATE [priority]`. Command lines are split on
/// spaces; no shell.
fn run_notify(n: &vigil_config::Notify, name: &str, kind: &str, to: State, priority: Option<u8>) {
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
        spawn_notify(cmd, &extra);
    }
}

/// Starts a notify program (a command line split on spaces, no shell, with
/// `extra` arguments after its own) and does not wait for it.
pub fn spawn_notify(cmd: &str, extra: &[String]) {
    let mut words = cmd.split_whitespace();
    let Some(prog) = words.next() else { return };
    match std::process::Command::new(prog).args(words).args(extra).stdin(std::process::Stdio::null()).spawn() {
        // Waited for on a thread (as PID 1 the reaper may collect it first: harmless).
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => warn!("notify {prog}: {e}"),
    }
}

/// Tracking: the instance's own interface and `track_interface`s, read from
/// the kernel. Own carrier lost, or a weight-0 tracked interface down: FAULT.
/// Otherwise the priority moves by the weights (negative when down, positive
/// when up), within 1..=254; an owner (255) is not moved.
fn track(r: &mut Running, links: &[crate::net::Link]) {
    let up = |name: &str| links.iter().find(|l| l.name == name).is_some_and(|l| l.is_up() && l.has_carrier());
    let mut fault = !up(&r.ifname);
    let base = i32::from(r.conf.priority);
    let mut prio = base;
    for t in &r.conf.track_interface {
        let is_up = up(&t.interface);
        match (t.weight, is_up) {
            (0, false) => fault = true,
            (w, false) if w < 0 => prio += i32::from(w),
            (w, true) if w > 0 => prio += i32::from(w),
            _ => {}
        }
    }
    let now = Instant::now();
    r.vrrp.set_link(now, !fault);
    if base != 255 {
        let p = prio.clamp(1, 254) as u8;
        if p != r.vrrp.priority() {
            info!("vrrp_instance {}: priority {} -> {p} (tracking)", r.name, r.vrrp.priority());
            r.vrrp.set_priority(p);
        }
    }
}

/// A state's name as a static string (from a child's report).
pub fn state_static(s: &str) -> &'static str {
    match s {
        "MASTER" => "MASTER",
        "BACKUP" => "BACKUP",
        "FAULT" => "FAULT",
        _ => "INIT",
    }
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

fn send(r: &mut Running, repr: &Repr) {
    let src = r.vrrp.config().primary;
    let group = if r.v6 { IpAddr::V6(GROUP_V6) } else { IpAddr::V4(GROUP_V4) };
    let targets: Vec<IpAddr> = if r.peers.is_empty() { vec![group] } else { r.peers.clone() };
    for dst in targets {
        match repr.emit(src, dst) {
            Ok(bytes) => {
                let to = match dst {
                    IpAddr::V6(d) => SockAddr::from(SocketAddrV6::new(d, 0, 0, r.ifindex as u32)),
                    IpAddr::V4(_) => SockAddr::from(SocketAddr::new(dst, 0)),
                };
                let sock = r.vmac.as_ref().and_then(|v| v.tx.as_ref()).unwrap_or(r.sock.get_ref());
                if let Err(e) = sock.send_to(&bytes, &to) {
                    warn!("vrrp_instance {}: send to {dst}: {e}", r.name);
                }
            }
            Err(e) => warn!("vrrp_instance {}: cannot build an advert: {e}", r.name),
        }
    }
}

/// `no_accept` (RFC 5798 Accept_Mode false): unless this router owns the
/// addresses (priority 255), packets to them are dropped while it holds
/// them. The rules go in before the addresses and come out after them.
fn guard(r: &Running, no_accept: &mut crate::nft::NoAccept, on: bool) {
    if r.conf.accept || r.conf.priority == 255 {
        return;
    }
    let vips = r.conf.virtual_ipaddress.iter().map(|v| v.addr.addr);
    match no_accept.set(vips, on) {
        Ok(()) => info!(
            "vrrp_instance {}: no_accept: {} packets to its addresses ({} guarded in nf_tables table {})",
            r.name,
            if on { "dropping" } else { "no longer dropping" },
            no_accept.guarded().len(),
            crate::nft::TABLE
        ),
        Err(e) => warn!("vrrp_instance {}: no_accept: nf_tables: {e}", r.name),
    }
}

fn addresses(r: &mut Running, add: bool) {
    let mut rtnl = match Rtnl::open() {
        Ok(x) => x,
        Err(e) => return warn!("vrrp_instance {}: rtnetlink: {e}", r.name),
    };
    let (home, home_index) = match &r.vmac {
        Some(v) => (v.name.as_str(), v.index),
        None => (r.ifname.as_str(), r.ifindex),
    };
    // Said once per interface: 32 lines per takeover drowned the console.
    let mut done: Vec<(String, Vec<String>)> = Vec::new();
    for vip in &r.conf.virtual_ipaddress {
        let dev = vip.dev.as_deref().unwrap_or(home);
        let index = if dev == home {
            home_index
        } else {
            match rtnl.links().ok().and_then(|l| l.into_iter().find(|l| l.name == dev)) {
                Some(l) => l.index,
                None => {
                    warn!("vrrp_instance {}: no interface {dev} for {}", r.name, vip.addr);
                    continue;
                }
            }
        };
        let label = vip.label.as_deref().map(|l| (l, vip.brd));
        match rtnl.change_address_labelled(index, vip.addr.addr, vip.addr.prefix, label, add) {
            Ok(()) => match done.iter_mut().find(|(d, _)| d == dev) {
                Some((_, list)) => list.push(vip.addr.to_string()),
                None => done.push((dev.to_string(), vec![vip.addr.to_string()])),
            },
            // Already there (adding) or already gone (removing): the goal holds.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::EADDRNOTAVAIL)) => {}
            Err(e) => warn!("vrrp_instance {}: {} {}: {e}", r.name, if add { "adding" } else { "removing" }, vip.addr),
        }
    }
    for (dev, list) in done {
        let shown = match list.len() {
            0..=4 => list.join(", "),
            n => format!("{}, ... ({n} addresses)", list[..3].join(", ")),
        };
        info!("vrrp_instance {}: {} {shown} on {dev}", r.name, if add { "added" } else { "removed" });
    }
}

/// Gratuitous ARP for each IPv4 virtual address, or an unsolicited
/// neighbour advertisement for each IPv6 one, `garp_master_repeat` times.
fn announce(r: &mut Running) {
    let (sock, to, frames) = if r.v6 { announce_v6(r) } else { announce_v4(r) };
    let Some(sock) = sock else { return };
    let repeat = r.conf.garp.master_repeat.max(1);
    let gap = Duration::from_millis(u64::from(r.conf.garp.interval_ms));
    let name = r.name.clone();
    // One round: every address once. False when the socket fails.
    let round = move || {
        frames.iter().all(|(ip, frame)| match sock.send_to(frame, &to) {
            Ok(_) => true,
            Err(e) => {
                warn!("vrrp_instance {name}: announcing {ip}: {e}");
                false
            }
        })
    };
    if gap.is_zero() {
        for _ in 0..repeat {
            if !round() {
                break;
            }
        }
    } else {
        // `garp_interval` between rounds: the rest of the burst runs beside
        // the daemon, until the instance leaves MASTER; a new burst
        // replaces the one running.
        r.stop_announcing();
        let burst = tokio::spawn(async move {
            for n in 0..repeat {
                if n > 0 {
                    tokio::time::sleep(gap).await;
                }
                if !round() {
                    return;
                }
            }
        });
        r.announcing = Some(burst.abort_handle());
    }
}

type Announcement = (Option<std::sync::Arc<Socket>>, SockAddr, Vec<(IpAddr, Vec<u8>)>);

/// Gratuitous ARPs on an AF_PACKET socket, from the vmac if there is one.
fn announce_v4(r: &Running) -> Announcement {
    let (mac, index) = r.vmac.as_ref().map_or((r.mac, r.ifindex), |v| (v.mac, v.index));
    let frames = r
        .conf
        .virtual_ipaddress
        .iter()
        .filter_map(|v| match v.addr.addr {
            IpAddr::V4(ip) => Some((v.addr.addr, garp_frame(mac, ip))),
            IpAddr::V6(_) => None,
        })
        .collect();
    let sock = announcer(&PACKET, 0, || Socket::new(Domain::PACKET, Type::RAW, None))
        .map_err(|e| warn!("vrrp_instance {}: packet socket: {e}", r.name))
        .ok();
    (sock, packet_addr(index), frames)
}

/// The sockets announcements go out on, opened once and kept: closing an
/// AF_PACKET socket waits for the kernel (synchronize_net, 4-44 ms
/// measured), and a socket per takeover held up the VRRP loop 7-31 ms each
/// time, so that with 8 instances taking over at once the 8th's first
/// advert was 106 ms late. One AF_PACKET socket serves every interface
/// (each frame is sent to its interface's address); an ICMPv6 socket is
/// bound to its interface, one each.
type Announcers = std::sync::Mutex<Vec<(i32, std::sync::Arc<Socket>)>>;
static PACKET: Announcers = std::sync::Mutex::new(Vec::new());
static ICMPV6: Announcers = std::sync::Mutex::new(Vec::new());

fn announcer(
    kept: &Announcers,
    ifindex: i32,
    open: impl FnOnce() -> std::io::Result<Socket>,
) -> std::io::Result<std::sync::Arc<Socket>> {
    let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, s)) = kept.iter().find(|(i, _)| *i == ifindex) {
        return Ok(s.clone());
    }
    let s = std::sync::Arc::new(open()?);
    kept.push((ifindex, s.clone()));
    Ok(s)
}

/// Unsolicited neighbour advertisements to all nodes, hop limit 255.
fn announce_v6(r: &Running) -> Announcement {
    let to = SockAddr::from(SocketAddrV6::new(ALL_NODES, 0, 0, r.ifindex as u32));
    let mac = r.vmac.as_ref().map_or(r.mac, |v| v.mac);
    let frames = r
        .conf
        .virtual_ipaddress
        .iter()
        .filter_map(|v| match v.addr.addr {
            IpAddr::V6(ip) => Some((v.addr.addr, unsolicited_na(mac, ip))),
            IpAddr::V4(_) => None,
        })
        .collect();
    let sock = announcer(&ICMPV6, r.ifindex, || {
        let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
        // RFC 4861: neighbour discovery is sent and accepted with hop limit 255.
        sock.bind_device(Some(r.ifname.as_bytes()))?;
        sock.set_multicast_hops_v6(255)?;
        sock.set_multicast_if_v6(r.ifindex as u32)?;
        // It only sends: what it would receive (every ICMPv6 packet on the
        // link) is not kept.
        sock.set_recv_buffer_size(0)?;
        Ok(sock)
    });
    let sock = sock.map_err(|e| warn!("vrrp_instance {}: ICMPv6 socket: {e}", r.name)).ok();
    (sock, to, frames)
}

/// An unsolicited neighbour advertisement (RFC 4861 7.2.6): Override set,
/// with the target link-layer address. The kernel fills in the checksum.
pub fn unsolicited_na(mac: [u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let mut m = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[2, 1]);
    m.extend_from_slice(&mac);
    m
}

/// An ARP request with sender and target both the virtual address: what
/// routers and hosts take as "this address moved to this MAC".
pub fn garp_frame(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06]); // ARP
    f.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]); // Ethernet/IPv4, request
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&ip.octets());
    f
}

fn packet_addr(ifindex: i32) -> SockAddr {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value, and the
    // fields set below are the ones AF_PACKET reads for sendto(2).
    let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = 0x0806u16.to_be();
    ll.sll_ifindex = ifindex;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    // SAFETY: the storage is large enough for a sockaddr_ll, which is
    // copied in whole; the length passed is its size.
    unsafe {
        SockAddr::try_init(|storage, len| {
            std::ptr::copy_nonoverlapping(
                &ll as *const libc::sockaddr_ll as *const u8,
                storage as *mut u8,
                std::mem::size_of::<libc::sockaddr_ll>(),
            );
            *len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            Ok(())
        })
        .map(|((), a)| a)
        .unwrap_or_else(|_| SockAddr::from(SocketAddr::from(([0, 0, 0, 0], 0))))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn gratuitous_arp_layout() {
        let f = super::garp_frame([0x52, 0x54, 0, 0, 0, 1], "192.0.2.100".parse().unwrap());
        assert_eq!(f.len(), 42);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 1]);
        assert_eq!(&f[28..32], &[192, 0, 2, 100]);
        assert_eq!(&f[38..42], &[192, 0, 2, 100]);
    }

    #[test]
    fn neighbour_advertisement_layout() {
        let m = super::unsolicited_na([2, 0, 0, 0, 0, 1], "2001:db8::100".parse().unwrap());
        assert_eq!(m.len(), 32);
        assert_eq!(m[0], 136);
        assert_eq!(m[4], 0x20);
        assert_eq!(&m[24..26], &[2, 1]);
    }

    #[test]
    fn dropped_packets_are_logged_with_a_rate_limit() {
        use std::time::{Duration, Instant};
        let mut l = super::RateLimit::default();
        let t = Instant::now();
        let first: Vec<_> = (0..8).map(|_| l.allow(t)).collect();
        assert_eq!(first, [Some(0), Some(0), Some(0), Some(0), Some(0), None, None, None]);
        // The next window lets lines through again and reports the 3 held back.
        assert_eq!(l.allow(t + Duration::from_secs(10)), Some(3));
        assert_eq!(l.allow(t + Duration::from_secs(11)), Some(0));
    }

    #[test]
    fn ip_headers_are_checked() {
        let mut p = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 255, 112, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18];
        p.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let (src, ttl, payload) = crate::vrrp_rx::parse_ipv4(&p).unwrap();
        assert_eq!((src.to_string(), ttl, payload.len()), ("10.0.0.1".into(), 255, 8));
        assert!(crate::vrrp_rx::parse_ipv4(&p[..10]).is_none());
        p[0] = 0x41;
        assert!(crate::vrrp_rx::parse_ipv4(&p).is_none());
    }
}
