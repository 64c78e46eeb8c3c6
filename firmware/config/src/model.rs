//! The config model: one typed tree for everything vigil runs, with bounded
//! sizes (heapless) so an encoded config has a known maximum size.
//!
//! Names follow keepalived's keywords where one exists, so an operator who
//! knows keepalived.conf recognises every field.

use crate::bounded::Bounded as Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use heapless::String;
use serde::{Deserialize, Serialize};

/// Bounds. Stated once, enforced on every path into the model (import, the
/// shell, decoding), and shown by `show limits`.
pub mod limits {
    pub const NAME: usize = 32;
    pub const IFNAME: usize = 15;
    pub const HOSTNAME: usize = 63;
    pub const PATH: usize = 128;
    /// An update channel's URL.
    pub const UPDATE_URL: usize = 256;
    /// A minisign public key's base64 line (56 characters).
    pub const UPDATE_KEY: usize = 64;
    pub const AUTH_PASS: usize = 8;
    pub const INTERFACES: usize = 16;
    pub const ADDRESSES: usize = 16;
    pub const VLANS: usize = 16;
    pub const TIME_SERVERS: usize = 4;
    pub const VRRP_INSTANCES: usize = 256;
    pub const VIRTUAL_ADDRESSES: usize = 32;
    pub const UNICAST_PEERS: usize = 16;
    pub const TRACKS: usize = 16;
    pub const SYNC_GROUPS: usize = 16;
    pub const GROUP_MEMBERS: usize = 16;
    /// keepalived issue #2318's production config has 2,284 (37,298 real
    /// servers); a slot's bytes bound what fits besides.
    pub const VIRTUAL_SERVERS: usize = 8192;
    /// `virtual_server_group` blocks, and the lines of one.
    pub const VS_GROUPS: usize = 256;
    pub const VS_GROUP_ENTRIES: usize = 64;
    /// IPVS services the virtual servers stand for, with every group's
    /// ranges counted out (a group line `2001:db8::1-ffff 80` alone is
    /// 65,535 services: this bounds what a config asks of the kernel).
    pub const IPVS_SERVICES: usize = 16_384;
    pub const REAL_SERVERS: usize = 1024;
    pub const CHECKERS: usize = 8;
    pub const URLS: usize = 4;
    pub const STATUS_CODES: usize = 4;
    /// `vrrp_script` blocks (and `vrrp_track_process` blocks).
    pub const VRRP_SCRIPTS: usize = 64;
    /// `bfd_instance` blocks (schema 9).
    pub const BFD_INSTANCES: usize = 64;
    /// `garp_group` blocks, and the interfaces of one (schema 10).
    pub const GARP_GROUPS: usize = 16;
    pub const GARP_GROUP_INTERFACES: usize = 16;
    /// A command line (`script`, and the same for every program vigil runs).
    pub const COMMAND: usize = 256;
    /// Routes of an instance (`virtual_routes`) and static ones.
    pub const ROUTES: usize = 32;
    /// Routes (and rules) of all instances and the static ones together.
    pub const ROUTES_TOTAL: usize = 1024;
    /// RTAX_* metrics on one route.
    pub const ROUTE_METRICS: usize = 16;
    /// Next hops of one multipath route.
    pub const NEXTHOPS: usize = 8;
    /// `notification_email` addresses, and an address's length.
    pub const EMAILS: usize = 16;
    pub const EMAIL: usize = 128;
    /// `track_group` blocks (schema 12).
    pub const TRACK_GROUPS: usize = 16;
    /// Static items naming a track group: as many as there are static items.
    pub const STATIC_TRACKS: usize = VIRTUAL_ADDRESSES + 2 * ROUTES;
}
use limits::*;

pub type Name = String<NAME>;
pub type IfName = String<IFNAME>;
pub type PathText = String<PATH>;

/// An address with a prefix length (`192.168.1.1/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn max_prefix(&self) -> u8 {
        if self.addr.is_ipv4() { 32 } else { 128 }
    }

    /// Whether `other` lies in this network.
    pub fn contains(&self, other: IpAddr) -> bool {
        match (self.addr, other) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix.min(32))) };
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let p = u32::from(self.prefix.min(128));
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

impl core::fmt::Display for IpNet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl core::str::FromStr for IpNet {
    type Err = std::string::String;
    /// `addr/prefix`, or a bare address (a host route: /32 or /128).
    fn from_str(s: &str) -> Result<IpNet, Self::Err> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("{a:?} is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("prefix {p:?} is not 0..={max}")),
            },
        };
        Ok(IpNet { addr, prefix })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub global: Global,
    pub interfaces: Vec<Interface, INTERFACES>,
    pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
    pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
    pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
    /// `vrrp_script` blocks (schema 5), run while an instance or a sync
    /// group tracks them.
    pub vrrp_scripts: Vec<VrrpScript, VRRP_SCRIPTS>,
    /// `vrrp_track_process` blocks (schema 5), watched while tracked.
    pub track_processes: Vec<TrackProcess, VRRP_SCRIPTS>,
    /// `vrrp_track_file` blocks (schema 5), read while tracked.
    pub track_files: Vec<TrackFile, VRRP_SCRIPTS>,
    /// `virtual_server_group` blocks (schema 6), for `virtual_server group
    /// NAME`.
    pub virtual_server_groups: Vec<VirtualServerGroup, VS_GROUPS>,
    /// `bfd_instance` blocks (schema 9): BFD sessions, for `track_bfd` and
    /// BFD_CHECK.
    pub bfd_instances: Vec<BfdInstance, BFD_INSTANCES>,
}

impl Config {
    /// The script, process and file tracks of an instance's own block
    /// that carry a weight (the line's, else the tracked block's), with
    /// their keyword and that weight: keepalived drops these from a sync
    /// group member unless the group says `sync_group_tracking_weight`.
    pub fn weighted_own_tracks<'a>(
        &'a self,
        v: &'a VrrpInstance,
    ) -> std::vec::Vec<(&'static str, &'a TrackScript, i16)> {
        fn weighted<'a>(
            what: &'static str,
            list: &'a [TrackScript],
            block: impl Fn(&str) -> Option<i16>,
        ) -> impl Iterator<Item = (&'static str, &'a TrackScript, i16)> {
            list.iter().filter_map(move |t| {
                let w = t.weight.map(|w| w.0).or_else(|| block(&t.name))?;
                (w != 0).then_some((what, t, w))
            })
        }
        weighted("track_script", &v.track_script, |n| self.vrrp_scripts.iter().find(|s| s.name == n).map(|s| s.weight))
            .chain(weighted("track_file", &v.track_file, |n| {
                self.track_files.iter().find(|s| s.name == n).map(|s| s.weight)
            }))
            .chain(weighted("track_process", &v.track_process, |n| {
                self.track_processes.iter().find(|s| s.name == n).map(|s| s.weight)
            }))
            .chain(weighted("track_bfd", &v.track_bfd, |n| {
                self.bfd_instances.iter().find(|b| b.name == n).map(|b| b.weight)
            }))
            .collect()
    }

    /// The `virtual_server_group` of that name.
    pub fn virtual_server_group(&self, name: &str) -> Option<&VirtualServerGroup> {
        self.virtual_server_groups.iter().find(|g| g.name == name)
    }

    /// The IPVS services a virtual server stands for: itself, or each
    /// address and mark of its group (none when the group is missing).
    /// Never a [`VirtualKey::Group`].
    pub fn services<'a>(&'a self, vs: &'a VirtualServer) -> impl Iterator<Item = VirtualKey> + 'a {
        let (single, group) = match &vs.key {
            VirtualKey::Group(name) => (None, self.virtual_server_group(name)),
            key => (Some(key.clone()), None),
        };
        single.into_iter().chain(group.into_iter().flat_map(|g| g.entries.iter().flat_map(|e| e.services())))
    }
}

/// `virtual_server_group NAME { ... }`: the addresses and marks one
/// `virtual_server group NAME` block is programmed for, each an IPVS
/// service with that block's settings and real servers. The real servers
/// are checked once, not once per service (as keepalived does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServerGroup {
    pub name: Name,
    pub entries: Vec<GroupEntry, VS_GROUP_ENTRIES>,
}

impl core::fmt::Display for GroupEntry {
    /// As keepalived.conf writes it: `192.0.2.1-10 80`, `2001:db8::1-1f 80`,
    /// `fwmark 5`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            GroupEntry::Fwmark(m) => write!(f, "fwmark {m}"),
            GroupEntry::Range { first, end, port } => {
                write!(f, "{first}")?;
                match (first, end) {
                    (IpAddr::V4(_), Some(end)) => write!(f, "-{end}")?,
                    (IpAddr::V6(_), Some(end)) => write!(f, "-{end:x}")?,
                    (_, None) => {}
                }
                write!(f, " {port}")
            }
        }
    }
}

/// A line of a `virtual_server_group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupEntry {
    /// `ADDRESS[-END] [PORT]`: `first`, and with `end` the addresses after
    /// it up to the one whose last octet (IPv4, decimal) or last 16-bit
    /// group (IPv6, hex) is `end`, both included. Port 0: every port
    /// (persistent services only).
    Range { first: IpAddr, end: Option<u16>, port: u16 },
    /// `fwmark N`.
    Fwmark(u32),
}

impl GroupEntry {
    /// The last part of an address that a range counts in: the last octet
    /// of an IPv4 address, the last 16 bits of an IPv6 one.
    pub fn last_part(ip: IpAddr) -> u16 {
        match ip {
            IpAddr::V4(a) => u16::from(a.octets()[3]),
            IpAddr::V6(a) => a.segments()[7],
        }
    }

    /// How many services the line stands for (0 for a range that ends
    /// before it starts, which validation refuses).
    pub fn len(&self) -> usize {
        match *self {
            GroupEntry::Range { first, end: Some(end), .. } => {
                usize::from(end).saturating_add(1).saturating_sub(usize::from(Self::last_part(first)))
            }
            _ => 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The services, in address order.
    pub fn services(self) -> impl Iterator<Item = VirtualKey> {
        // `len` keeps the count within the last octet or 16 bits, so the
        // additions stay in the range's own /24 or /112.
        (0..self.len()).map(move |i| match self {
            GroupEntry::Fwmark(m) => VirtualKey::Fwmark(m),
            GroupEntry::Range { first, port, .. } => {
                let ip = match first {
                    IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(i as u32))),
                    IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(i as u128))),
                };
                VirtualKey::Address(SocketAddr::new(ip, port))
            }
        })
    }
}

/// `vrrp_track_file NAME { file PATH weight N [reverse] init_file ... }`:
/// a number in a file (what an operator or a program writes there) times
/// the weight moves the priority; -254 or less puts the tracking
/// instances in FAULT (with weight 0: any number but 0, or 0 reversed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackFile {
    pub name: Name,
    pub file: PathText,
    /// -254..=254 (keepalived's default 1).
    pub weight: i16,
    pub reverse: bool,
    /// `init_file [VALUE] [overwrite]`: create it with VALUE (or write it
    /// over with `overwrite`) when VRRP starts.
    pub init: Option<(i32, bool)>,
}

/// `bfd_instance NAME { neighbor_ip ... }` (schema 9): one BFD session
/// (RFC 5880, single hop RFC 5881) with a neighbor, as keepalived runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdInstance {
    pub name: Name,
    /// `neighbor_ip` (or `neighbour_ip`).
    pub neighbor: IpAddr,
    /// `source_ip`: the local address sessions are sent from.
    pub source: Option<IpAddr>,
    /// `min_rx` in microseconds (1 ms up to [`BFD_INTERVAL_MAX_US`];
    /// keepalived's default 10 ms).
    pub min_rx_us: u32,
    /// `min_tx` in microseconds (the same range; default 10 ms).
    pub min_tx_us: u32,
    /// `idle_tx` in microseconds (1 s up; default 1 s): the interval
    /// while the session is not up.
    pub idle_tx_us: u32,
    /// `multiplier` (1-255; default 5).
    pub multiplier: u8,
    /// `passive`: send nothing until the neighbor has.
    pub passive: bool,
    /// `ttl` / `hoplimit` sent (default 255 for IPv4, 64 for IPv6).
    pub ttl: Option<u8>,
    /// `max_hops`: how far below the sent TTL a packet may arrive (0: it
    /// must arrive as sent; 255: not checked).
    pub max_hops: u8,
    /// `weight N [reverse]` (-253..=253, default 0): the default of the
    /// `track_bfd` lines that name no weight.
    pub weight: i16,
    pub reverse: bool,
    /// `vrrp` / `checker`: who hears the session's state (both by default).
    pub events: BfdEvents,
}

impl BfdInstance {
    /// keepalived's defaults.
    pub fn new(name: Name, neighbor: IpAddr) -> BfdInstance {
        BfdInstance {
            name,
            neighbor,
            source: None,
            min_rx_us: 10_000,
            min_tx_us: 10_000,
            idle_tx_us: 1_000_000,
            multiplier: 5,
            passive: false,
            ttl: None,
            max_hops: 0,
            weight: 0,
            reverse: false,
            events: BfdEvents::Both,
        }
    }

    /// The TTL or hop limit sent: the configured one, else 255 (IPv4) or
    /// 64 (IPv6) as keepalived sends.
    pub fn ttl(&self) -> u8 {
        self.ttl.unwrap_or(if self.neighbor.is_ipv4() { 255 } else { 64 })
    }
}

/// keepalived 2.2.7 takes BFD intervals up to 4,294,967 ms (in ms with
/// three decimals: the most microseconds a u32 holds, rounded down).
pub const BFD_INTERVAL_MAX_US: u32 = 4_294_967_000;

/// Which of vigil's processes a BFD session's state goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BfdEvents {
    #[default]
    Both,
    Vrrp,
    Checker,
}

/// `vrrp_track_process NAME { process ... quorum ... }`: how many
/// processes of a name run; in quorum (`quorum..=quorum_max`) counts as a
/// script that succeeds, out of it as one that fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackProcess {
    pub name: Name,
    /// The process: its name (as in /proc/PID/comm, or the path it was
    /// started as with `full_command`), then the parameters to match.
    pub process: String<COMMAND>,
    /// How the parameters match, when there are any.
    pub param_match: ParamMatch,
    /// `full_command`: match the command line's program, not the name.
    pub full_command: bool,
    pub quorum: u16,
    pub quorum_max: Option<u16>,
    /// Milliseconds a change must last before it counts (`fork_delay`,
    /// `terminate_delay`; `delay` sets both).
    pub fork_delay_ms: u32,
    pub terminate_delay_ms: u32,
    pub weight: i16,
    pub reverse: bool,
}

impl TrackProcess {
    pub fn new(name: Name) -> TrackProcess {
        TrackProcess {
            name,
            process: String::new(),
            param_match: ParamMatch::Exact,
            full_command: false,
            quorum: 1,
            quorum_max: None,
            fork_delay_ms: 0,
            terminate_delay_ms: 0,
            weight: 0,
            reverse: false,
        }
    }
}

/// keepalived's `param_match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamMatch {
    /// Every parameter, no more (the default).
    Exact,
    /// The given parameters first; more may follow.
    Initial,
    /// As `Initial`, the last one may be a prefix of the process's.
    Partial,
}

/// `vrrp_script NAME { ... }`: a program run every `interval`; its exit
/// status (0: success) moves the priority of the instances that track it,
/// or puts them in FAULT, as keepalived does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpScript {
    pub name: Name,
    /// The command line: program and arguments, split as keepalived splits
    /// them (spaces; '...' and "..." quote; a backslash escapes), no shell.
    pub script: String<COMMAND>,
    /// Milliseconds between runs (keepalived's default 1 s).
    pub interval_ms: u32,
    /// Milliseconds before a run is killed and counts as a failure; none:
    /// the interval (as keepalived).
    pub timeout_ms: Option<u32>,
    /// -253..=253. 0: the tracking instances go to FAULT while it fails;
    /// positive: added to their priority while it succeeds; negative:
    /// added while it fails.
    pub weight: i16,
    /// The weight works the other way round (`weight N reverse`).
    pub reverse: bool,
    /// Successes in a row before a failing script counts as succeeding.
    pub rise: u8,
    /// Failures in a row before a succeeding script counts as failing.
    pub fall: u8,
    /// `user USER [GROUP]`: whom it runs as (default: `script_user`, else
    /// vigil's own user).
    pub user: Option<ScriptUser>,
    /// Counts as failing until its first run says otherwise.
    pub init_fail: bool,
}

impl VrrpScript {
    pub fn new(name: Name) -> VrrpScript {
        VrrpScript {
            name,
            script: String::new(),
            interval_ms: 1000,
            timeout_ms: None,
            weight: 0,
            reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
        }
    }
}

/// `user USER [GROUP]` / `script_user USER [GROUP]`: names, or numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptUser {
    pub user: Name,
    pub group: Option<Name>,
}

/// One line of a `track_script` block: `NAME [weight N [reverse|noreverse]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackScript {
    pub name: Name,
    /// Overrides the script's weight (and with it its direction).
    pub weight: Option<(i16, bool)>,
}

/// `global_defs` plus the appliance's own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Global {
    /// keepalived `router_id`.
    pub router_id: Name,
    pub hostname: String<HOSTNAME>,
    /// NTP servers (addresses; the appliance has no resolver at boot).
    pub time_servers: Vec<IpAddr, TIME_SERVERS>,
    /// `vigil_defs syslog ADDR[:PORT] [tcp]`: every log line to a syslog
    /// server as RFC 5424 (schema 10 added TCP).
    pub syslog: Option<SyslogTarget>,
    pub watchdog: Watchdog,
    /// PBKDF2 hash of the console password; none: the console is open.
    pub console_password: Option<PasswordHash>,
    /// keepalived `vrrp_garp_master_delay` etc. defaults live per instance.
    pub enable_script_security: bool,
    /// keepalived `script_user USER [GROUP]`: whom scripts run as when
    /// they do not say (schema 5).
    pub script_user: Option<ScriptUser>,
    /// keepalived `vrrp_strict` (schema 5): its effects are applied to the
    /// instances when the config is read (as keepalived applies them);
    /// kept so that an export says it again.
    pub vrrp_strict: bool,
    /// keepalived `lvs_flush`: the IPVS table is vigil's alone; it is
    /// flushed at start and anything vigil did not ask for is removed.
    pub lvs_flush: bool,
    /// keepalived `lvs_sync_daemon INTERFACE VRRP_INSTANCE [id N]`: IPVS
    /// connection sync, master while the instance is, backup otherwise.
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    /// keepalived `lvs_timeouts tcp N tcpfin N udp N` (seconds; 0 keeps the kernel's).
    pub lvs_timeouts: Option<LvsTimeouts>,
    /// How PID 1 watches its daemons (schema 2).
    pub supervision: Supervision,
    /// How long a firmware slot on trial must stay healthy before it is
    /// kept (schema 3).
    pub update_confirm_s: u16,
    /// Where updates come from and when they may reboot the appliance
    /// (schema 4).
    pub updates: Updates,
    /// Mail alerts, as keepalived sends them (schema 5).
    pub mail: Mail,
    /// keepalived `static_ipaddress` and `static_routes` (schema 5): set
    /// when VRRP starts, whatever its states.
    pub static_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
    pub static_routes: Vec<Route, ROUTES>,
    /// keepalived `static_rules` (schema 5).
    pub static_rules: Vec<Rule, ROUTES>,
    /// keepalived `vrrp_startup_delay` (schema 7, ms): the instances start
    /// this long after the VRRP process (links such as bonds that pass
    /// traffic, then stop for a while as they come up, would otherwise let
    /// a backup that heard nothing take over).
    pub vrrp_startup_delay_ms: u32,
    /// keepalived `lvs_flush_on_stop [VS]` (schema 7): what vigil does to
    /// the IPVS table it programmed when it stops.
    pub lvs_flush_on_stop: Option<FlushOnStop>,
    /// keepalived `startup_script` / `shutdown_script` (schema 7): run
    /// once as vigil's daemons start and once as they stop.
    pub startup_script: Option<HookScript>,
    pub shutdown_script: Option<HookScript>,
    /// keepalived's `SSL { }` block (schema 7): what SSL_GET checks present
    /// and trust.
    pub ssl: Option<SslFiles>,
    /// keepalived `rs_init_notifies` (schema 7): as the checkers start, a
    /// real server's notify_up (or, alpha, notify_down) runs for the state
    /// it starts in.
    pub rs_init_notifies: bool,
    /// keepalived `no_checker_emails` (schema 7): mail when a real server
    /// goes out of its pool or back, not for each checker of it.
    pub no_checker_emails: bool,
    /// `vrrp_garp_interval` / `vrrp_gna_interval` (schema 10), in
    /// microseconds: the least time between two gratuitous ARPs (unsolicited
    /// NAs) on one interface, whichever instances they announce, for the
    /// interfaces no `garp_group` names (keepalived's meaning; vigil read
    /// them as each instance's interval between rounds before).
    pub garp_interval_us: Option<u32>,
    pub gna_interval_us: Option<u32>,
    /// `garp_group` blocks (schema 10).
    pub garp_groups: Vec<GarpGroup, GARP_GROUPS>,
    /// `vigil_defs metrics_listen ADDR:PORT` (schema 11): the Prometheus
    /// endpoint, bound only there; none: off.
    pub metrics_listen: Option<SocketAddr>,
    /// keepalived `track_group NAME { group { VI_1 ... } }` (schema 12).
    pub track_groups: Vec<TrackGroup, TRACK_GROUPS>,
    /// `track_group NAME` on a static address, route or rule line (schema
    /// 12): which item names which group.
    pub static_tracks: Vec<StaticTrack, STATIC_TRACKS>,
    /// keepalived `vmac_addr_prefix` (schema 13; `vmac_prefix` when it is
    /// not said): the name of an address's vmac is this, `6` for IPv6, a
    /// number if the name is taken, `.VRID`; none: `vrrp`.
    pub vmac_addr_prefix: Option<IfName>,
}

/// keepalived's static track group: the instances that follow the static
/// addresses, routes and rules naming it. Each of them tracks such an
/// item's interface (an address's `dev`, a route's `dev`, a rule's `iif`)
/// as a weight-0 `track_interface` does: FAULT while it is down, when the
/// item cannot be there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackGroup {
    pub name: Name,
    pub group: Vec<Name, VRRP_INSTANCES>,
}

/// A static item by its place in its list (`static_ipaddress`,
/// `static_routes`, `static_rules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StaticItem {
    Address(u16),
    Route(u16),
    Rule(u16),
}

/// `track_group NAME` on a static item's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticTrack {
    pub item: StaticItem,
    pub group: Name,
}

impl Global {
    /// The track group a static item names, if any.
    pub fn track_group_of(&self, item: StaticItem) -> Option<&Name> {
        self.static_tracks.iter().find(|t| t.item == item).map(|t| &t.group)
    }

    /// The interfaces an instance follows for its track groups: each
    /// static item naming a group the instance is in has its interface
    /// followed (an address's `dev`, a route's `dev`, a rule's `iif`), as
    /// keepalived adds them to the instance's tracked interfaces. Each
    /// once, in the order the items stand.
    pub fn track_group_interfaces(&self, instance: &str) -> std::vec::Vec<IfName> {
        let mut out: std::vec::Vec<IfName> = std::vec::Vec::new();
        for t in &self.static_tracks {
            let member = self.track_groups.iter().any(|g| g.name == t.group && g.group.iter().any(|m| m == instance));
            if !member {
                continue;
            }
            let dev = match t.item {
                StaticItem::Address(i) => self.static_ipaddress.get(usize::from(i)).and_then(|a| a.dev.clone()),
                StaticItem::Route(i) => self.static_routes.get(usize::from(i)).and_then(|r| r.dev.clone()),
                StaticItem::Rule(i) => self.static_rules.get(usize::from(i)).and_then(|r| r.iif.clone()),
            };
            if let Some(d) = dev
                && !out.contains(&d)
            {
                out.push(d);
            }
        }
        out
    }
}

/// A syslog server: where, and whether over TCP (RFC 6587 octet counting)
/// instead of UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyslogTarget {
    pub addr: SocketAddr,
    pub tcp: bool,
}

/// `garp_group { garp_interval S  gna_interval S  interface NAME | interfaces
/// { ... } }`: the least time between two gratuitous ARPs (NAs) on one
/// interface, or across several (`interfaces`: they share one switch, and
/// the limit is the switch's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GarpGroup {
    pub interfaces: Vec<IfName, GARP_GROUP_INTERFACES>,
    /// `interfaces { }`: one pace across them all; `interface` lines: each
    /// its own.
    pub shared: bool,
    /// Microseconds.
    pub garp_interval_us: Option<u32>,
    /// Microseconds.
    pub gna_interval_us: Option<u32>,
}

/// keepalived's `SSL { password ca certificate key }`: SSL_GET presents the
/// certificate (and its key) to servers that ask for a client certificate.
/// keepalived loads `ca` without verifying servers against it; vigil does
/// the same, and with `verify_cert` (vigil's) verifies against it instead
/// of the public roots. Files are PEM; an encrypted key (`password`) is
/// refused by the checks with a reason (decrypt it with `openssl pkey`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SslFiles {
    pub password: Option<String<NAME>>,
    pub ca: Option<PathText>,
    pub certificate: Option<PathText>,
    pub key: Option<PathText>,
}

/// keepalived `lvs_flush_on_stop`: the whole IPVS table is flushed, or
/// (`VS`) each virtual server vigil made is removed with its real servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlushOnStop {
    All,
    VirtualServers,
}

/// A program run at start or stop (`startup_script PROGRAM [USER
/// [GROUP]]`, `startup_script_timeout S`): killed when it runs longer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookScript {
    pub program: PathText,
    pub user: Option<ScriptUser>,
    /// 1..=1000 (keepalived's range), 10 by default.
    pub timeout_s: u16,
}

impl HookScript {
    pub const DEFAULT_TIMEOUT_S: u16 = 10;
}

/// A policy routing rule, as keepalived's `virtual_rules` / `static_rules`
/// write one (`from A to B [not] [fwmark N[/M]] [iif X] [oif Y] [priority
/// N] table T`, or `blackhole|unreachable|prohibit` instead of a table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub v6: bool,
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    pub invert: bool,
    pub fwmark: Option<(u32, Option<u32>)>,
    pub iif: Option<IfName>,
    pub oif: Option<IfName>,
    pub priority: Option<u32>,
    /// The table looked up; none with a blackhole/unreachable/prohibit kind.
    pub table: Option<u32>,
    pub kind: RouteKind,
    /// `tos N` (schema 8).
    pub tos: u8,
    /// `realms [FROM/]TO` (schema 8): FROM << 16 | TO.
    pub realms: Option<u32>,
    /// `goto N` (schema 8): jump to the rule of that priority.
    pub goto: Option<u32>,
    /// `suppress_prefixlength N` (schema 8).
    pub suppress_prefixlength: Option<u32>,
    /// `suppress_ifgroup N` (schema 8).
    pub suppress_ifgroup: Option<u32>,
    /// `uidrange A-B` (schema 8).
    pub uidrange: Option<(u32, u32)>,
    /// `sport A[-B]`, `dport A[-B]` (schema 8).
    pub sport: Option<(u16, u16)>,
    pub dport: Option<(u16, u16)>,
    /// `ip_proto P` (schema 8): a protocol number.
    pub ip_proto: Option<u8>,
    /// `l3mdev` (schema 8): look up the table of the packet's VRF.
    pub l3mdev: bool,
    /// `protocol N` (schema 8): who installed it (none: keepalived's 18).
    pub protocol: Option<u8>,
    /// `no_track` (schema 8): kept for the export.
    pub no_track: bool,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            v6: false,
            from: None,
            to: None,
            invert: false,
            fwmark: None,
            iif: None,
            oif: None,
            priority: None,
            table: None,
            kind: RouteKind::Unicast,
            tos: 0,
            realms: None,
            goto: None,
            suppress_prefixlength: None,
            suppress_ifgroup: None,
            uidrange: None,
            sport: None,
            dport: None,
            ip_proto: None,
            l3mdev: false,
            protocol: None,
            no_track: false,
        }
    }
}

/// `realms [FROM/]TO` as keepalived and `ip` write them.
pub fn realms_text(r: u32) -> std::string::String {
    match (r >> 16, r & 0xffff) {
        (0, to) => format!("{to}"),
        (from, to) => format!("{from}/{to}"),
    }
}

impl core::fmt::Display for Rule {
    /// As keepalived.conf (and `ip rule`) write it.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut parts: std::vec::Vec<std::string::String> = std::vec::Vec::new();
        if let Some(a) = self.from {
            parts.push(format!("from {a}"));
        }
        if let Some(a) = self.to {
            parts.push(format!("to {a}"));
        }
        if self.invert {
            parts.push("not".into());
        }
        if let Some((m, mask)) = self.fwmark {
            parts.push(match mask {
                Some(k) => format!("fwmark {m}/{k}"),
                None => format!("fwmark {m}"),
            });
        }
        if let Some(i) = &self.iif {
            parts.push(format!("iif {i}"));
        }
        if let Some(o) = &self.oif {
            parts.push(format!("oif {o}"));
        }
        if let Some(p) = self.priority {
            parts.push(format!("priority {p}"));
        }
        if self.tos != 0 {
            parts.push(format!("tos {}", self.tos));
        }
        if let Some(r) = self.realms {
            parts.push(format!("realms {}", realms_text(r)));
        }
        if let Some(n) = self.suppress_prefixlength {
            parts.push(format!("suppress_prefixlength {n}"));
        }
        if let Some(n) = self.suppress_ifgroup {
            parts.push(format!("suppress_ifgroup {n}"));
        }
        if let Some((a, b)) = self.uidrange {
            parts.push(format!("uidrange {a}-{b}"));
        }
        // keepalived takes ports as ranges only (`dport 443-443`), and
        // `ipproto` (its man page's `ip_proto` it does not know).
        for (word, range) in [("sport", self.sport), ("dport", self.dport)] {
            if let Some((a, b)) = range {
                parts.push(format!("{word} {a}-{b}"));
            }
        }
        if let Some(p) = self.ip_proto {
            parts.push(format!("ipproto {p}"));
        }
        if self.l3mdev {
            parts.push("l3mdev".into());
        }
        if let Some(p) = self.protocol {
            parts.push(format!("protocol {p}"));
        }
        match (self.kind, self.table, self.goto) {
            (_, _, Some(g)) => parts.push(format!("goto {g}")),
            (RouteKind::Unicast, Some(t), None) => parts.push(format!("table {t}")),
            (RouteKind::Unicast, None, None) => {}
            (k, _, None) => parts.push(k.name().to_string()),
        }
        if self.no_track {
            parts.push("no_track".into());
        }
        if self.from.is_none() && self.to.is_none() && self.v6 {
            parts.insert(0, "inet6".into());
        }
        f.write_str(&parts.join(" "))
    }
}

/// A route, as keepalived's `virtual_routes` / `static_routes` write one
/// (`[src A] [to] DEST [via GW] [dev IF] [metric N] [table N] [scope S]`,
/// or `blackhole|unreachable|prohibit DEST`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub kind: RouteKind,
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<IfName>,
    pub src: Option<IpAddr>,
    pub metric: Option<u32>,
    /// A table number (`main` is 254, `local` 255); none: main.
    pub table: Option<u32>,
    pub scope: Option<RouteScope>,
    /// `onlink`: the gateway is on the link even if no prefix says so.
    pub onlink: bool,
    /// `protocol N|NAME` (schema 8): who installed it (none: keepalived's 18).
    pub protocol: Option<u8>,
    /// `tos N` / `dsfield N` (schema 8).
    pub tos: u8,
    /// `realms [FROM/]TO` (schema 8): FROM << 16 | TO.
    pub realms: Option<u32>,
    /// `mtu`, `advmss`, `window`, `rtt`... (schema 8): the kernel's RTAX_*
    /// metrics, each with `lock` or not.
    pub metrics: Vec<RouteMetric, ROUTE_METRICS>,
    /// `pref low|medium|high` (schema 8, IPv6): the router preference.
    pub pref: Option<u8>,
    /// `nexthop via A [dev X] [weight N] [onlink] ...` (schema 8): a
    /// multipath route (its own `via`/`dev` are none then).
    pub nexthops: Vec<Nexthop, NEXTHOPS>,
    /// `append` (schema 8): added after a route that matches (`ip route
    /// append`), where keepalived otherwise prepends.
    pub append: bool,
    /// `no_track` (schema 8): kept for the export.
    pub no_track: bool,
}

/// One RTAX_* metric of a route: which (the kernel's number), its value,
/// and whether the kernel may change it (`lock`: it may not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteMetric {
    pub kind: u16,
    pub value: u32,
    pub lock: bool,
}

impl RouteMetric {
    /// keepalived's (and `ip route`'s) words for the RTAX_* numbers it
    /// takes a number for; `rtt`, `rttvar` and `rto_min` are milliseconds
    /// in the config and kept as such (the kernel's units are converted
    /// where the route is set).
    pub const NAMES: [(&str, u16); 14] = [
        ("mtu", 2),
        ("window", 3),
        ("rtt", 4),
        ("rttvar", 5),
        ("ssthresh", 6),
        ("cwnd", 7),
        ("advmss", 8),
        ("reordering", 9),
        ("hoplimit", 10),
        ("initcwnd", 11),
        ("rto_min", 13),
        ("initrwnd", 14),
        ("quickack", 15),
        ("fastopen_no_cookie", 17),
    ];
    /// RTAX_FEATURES (`features ecn`: bit 0) and RTAX_FASTOPEN_NO_COOKIE.
    pub const FEATURES: u16 = 12;
    pub const FASTOPEN_NO_COOKIE: u16 = 17;

    pub fn name(self) -> &'static str {
        match self.kind {
            Self::FEATURES => "features",
            k => Self::NAMES.iter().find(|(_, n)| *n == k).map_or("metric", |(w, _)| *w),
        }
    }
}

/// One next hop of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nexthop {
    pub via: Option<IpAddr>,
    pub dev: Option<IfName>,
    /// `weight N` (1..=256).
    pub weight: u16,
    pub onlink: bool,
}

impl Route {
    pub fn new(dst: IpNet) -> Route {
        Route {
            kind: RouteKind::Unicast,
            dst,
            via: None,
            dev: None,
            src: None,
            metric: None,
            table: None,
            scope: None,
            onlink: false,
            protocol: None,
            tos: 0,
            realms: None,
            metrics: Vec::new(),
            pref: None,
            nexthops: Vec::new(),
            append: false,
            no_track: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteKind {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
}

impl RouteKind {
    pub fn name(self) -> &'static str {
        match self {
            RouteKind::Unicast => "unicast",
            RouteKind::Blackhole => "blackhole",
            RouteKind::Unreachable => "unreachable",
            RouteKind::Prohibit => "prohibit",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteScope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
}

impl RouteScope {
    pub const ALL: [RouteScope; 5] =
        [RouteScope::Global, RouteScope::Site, RouteScope::Link, RouteScope::Host, RouteScope::Nowhere];
    pub fn name(self) -> &'static str {
        match self {
            RouteScope::Global => "global",
            RouteScope::Site => "site",
            RouteScope::Link => "link",
            RouteScope::Host => "host",
            RouteScope::Nowhere => "nowhere",
        }
    }
}

impl core::fmt::Display for Route {
    /// As keepalived.conf (and `ip route`) write it.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.kind != RouteKind::Unicast {
            write!(f, "{} ", self.kind.name())?;
        }
        if let Some(s) = self.src {
            write!(f, "src {s} ")?;
        }
        write!(f, "{}", self.dst)?;
        if let Some(v) = self.via {
            write!(f, " via {v}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        if let Some(t) = self.table {
            write!(f, " table {t}")?;
        }
        if let Some(s) = self.scope {
            write!(f, " scope {}", s.name())?;
        }
        if self.onlink {
            f.write_str(" onlink")?;
        }
        if let Some(p) = self.protocol {
            write!(f, " protocol {p}")?;
        }
        if self.tos != 0 {
            write!(f, " tos {}", self.tos)?;
        }
        if let Some(r) = self.realms {
            write!(f, " realms {}", realms_text(r))?;
        }
        for m in self.metrics.iter() {
            match m.kind {
                RouteMetric::FEATURES => f.write_str(" features ecn")?,
                _ => write!(f, " {}{} {}", m.name(), if m.lock { " lock" } else { "" }, m.value)?,
            }
        }
        if let Some(p) = self.pref {
            write!(
                f,
                " pref {}",
                match p {
                    3 => "low",
                    1 => "high",
                    _ => "medium",
                }
            )?;
        }
        for n in self.nexthops.iter() {
            f.write_str(" nexthop")?;
            if let Some(v) = n.via {
                write!(f, " via {v}")?;
            }
            if let Some(d) = &n.dev {
                write!(f, " dev {d}")?;
            }
            if n.weight != 1 {
                write!(f, " weight {}", n.weight)?;
            }
            if n.onlink {
                f.write_str(" onlink")?;
            }
        }
        if self.append {
            f.write_str(" append")?;
        }
        if self.no_track {
            f.write_str(" no_track")?;
        }
        Ok(())
    }
}

/// keepalived's `notification_email`, `notification_email_from`,
/// `smtp_server`, `smtp_helo_name`, `smtp_connect_timeout` and the
/// `smtp_alert*` defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub to: Vec<String<EMAIL>, EMAILS>,
    /// Default: `keepalived@<host name>`, as keepalived.
    pub from: Option<String<EMAIL>>,
    /// An address or a host name, and the port (25).
    pub server: Option<(String<HOSTNAME>, u16)>,
    /// Default: the host name.
    pub helo_name: Option<String<HOSTNAME>>,
    pub connect_timeout_s: u16,
    /// `smtp_alert`, `smtp_alert_vrrp`, `smtp_alert_checker`: the
    /// defaults of the instances', groups' and servers' own `smtp_alert`.
    pub alert: Option<bool>,
    pub alert_vrrp: Option<bool>,
    pub alert_checker: Option<bool>,
    /// `no_email_faults`: no mail when an instance enters FAULT.
    pub no_faults: bool,
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            to: Vec::new(),
            from: None,
            server: None,
            helo_name: None,
            connect_timeout_s: 30,
            alert: None,
            alert_vrrp: None,
            alert_checker: None,
            no_faults: false,
        }
    }
}

impl Mail {
    /// Whether mail goes out for something whose own `smtp_alert` is
    /// `own` (VRRP: `vrrp`, else the checkers): its own setting, else the
    /// specific default, else the general one, else `otherwise` (keepalived:
    /// yes for a real server, no for the rest); never when there is no
    /// server or no address to send to.
    pub fn wanted(&self, own: Option<bool>, vrrp: bool, otherwise: bool) -> bool {
        let specific = if vrrp { self.alert_vrrp } else { self.alert_checker };
        self.server.is_some() && !self.to.is_empty() && own.or(specific).or(self.alert).unwrap_or(otherwise)
    }
}

/// `vigil_defs update_channel URL`, `update_window HH:MM-HH:MM`,
/// `update_poll_s N`, `update_key KEY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Updates {
    /// The channel's `channel.json` (its signature beside it, `.minisig`).
    pub channel: Option<String<UPDATE_URL>>,
    /// When an installed update may reboot the appliance: minutes after
    /// midnight UTC, start and end (the end may be past midnight). None:
    /// at once.
    pub window: Option<(u16, u16)>,
    /// How often the channel is polled (with up to a tenth of jitter).
    pub poll_s: u32,
    /// A public key trusted besides the ones built into the firmware
    /// (minisign's base64 line).
    pub key: Option<String<UPDATE_KEY>>,
}

impl Default for Updates {
    fn default() -> Self {
        Updates { channel: None, window: None, poll_s: UPDATE_POLL_S, key: None }
    }
}

/// The default of [`Updates::poll_s`].
pub const UPDATE_POLL_S: u32 = 3600;

/// The default of [`Global::update_confirm_s`].
pub const UPDATE_CONFIRM_S: u16 = 120;

/// Heartbeats between PID 1 and its children: one every `heartbeat_ms`; a
/// child silent for `heartbeat_limit_ms` is killed and restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supervision {
    pub heartbeat_ms: u16,
    pub heartbeat_limit_ms: u16,
}

impl Default for Supervision {
    fn default() -> Self {
        Supervision { heartbeat_ms: 1000, heartbeat_limit_ms: 3000 }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvsTimeouts {
    pub tcp: u32,
    pub tcpfin: u32,
    pub udp: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvsSyncDaemon {
    pub interface: IfName,
    pub instance: Name,
    /// 0..=255 (keepalived's default is the instance's VRID).
    pub sync_id: Option<u8>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            router_id: String::new(),
            hostname: String::try_from("vigil").unwrap_or_default(),
            time_servers: Vec::new(),
            syslog: None,
            watchdog: Watchdog::default(),
            console_password: None,
            enable_script_security: false,
            script_user: None,
            vrrp_strict: false,
            lvs_flush: false,
            lvs_sync_daemon: None,
            lvs_timeouts: None,
            supervision: Supervision::default(),
            update_confirm_s: UPDATE_CONFIRM_S,
            updates: Updates::default(),
            mail: Mail::default(),
            static_ipaddress: Vec::new(),
            static_routes: Vec::new(),
            static_rules: Vec::new(),
            vrrp_startup_delay_ms: 0,
            lvs_flush_on_stop: None,
            startup_script: None,
            shutdown_script: None,
            ssl: None,
            rs_init_notifies: false,
            no_checker_emails: false,
            garp_interval_us: None,
            gna_interval_us: None,
            garp_groups: Vec::new(),
            metrics_listen: None,
            track_groups: Vec::new(),
            static_tracks: Vec::new(),
            vmac_addr_prefix: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watchdog {
    pub enabled: bool,
    pub timeout_s: u16,
}

impl Default for Watchdog {
    fn default() -> Self {
        Watchdog { enabled: true, timeout_s: 30 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordHash {
    pub iterations: u32,
    pub salt: [u8; 16],
    pub hash: [u8; 32],
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub name: IfName,
    pub addresses: Vec<IpNet, ADDRESSES>,
    pub mtu: Option<u16>,
    pub multicast: bool,
    pub vlans: Vec<Vlan, VLANS>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vlan {
    pub id: u16,
    pub addresses: Vec<IpNet, ADDRESSES>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VrrpState {
    #[default]
    Backup,
    Master,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpInstance {
    pub name: Name,
    /// 2 (RFC 3768) or 3 (RFC 5798).
    pub version: u8,
    /// keepalived `state`: the initial state wished for.
    pub state: VrrpState,
    pub interface: IfName,
    pub virtual_router_id: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2 allows whole seconds only).
    pub advert_int_cs: u16,
    pub virtual_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peer: Vec<IpAddr, UNICAST_PEERS>,
    /// false: keepalived `nopreempt`.
    pub preempt: bool,
    pub preempt_delay_s: u16,
    /// v2 `authentication { auth_type PASS auth_pass ... }`.
    pub auth_pass: Option<String<AUTH_PASS>>,
    /// `use_vmac [NAME] [MAC]` (schema 8: the name, the MAC and
    /// `vmac_xmit_base`).
    pub vmac: Option<Vmac>,
    /// Accept mode (RFC 5798 6.1): a master that does not own the addresses
    /// (priority < 255) still takes packets sent to them. On by default, as
    /// in keepalived; `no_accept` drops them (the VIPs then only route).
    pub accept: bool,
    pub track_interface: Vec<Track, TRACKS>,
    /// `track_script` (schema 5).
    pub track_script: Vec<TrackScript, TRACKS>,
    pub notify: Notify,
    pub garp: Garp,
    /// keepalived `skip_check_adv_addr` (schema 5; the global
    /// `vrrp_skip_check_adv_addr` is its default): the addresses of an
    /// advert from the same master as the last are not checked again.
    pub skip_check_adv_addr: bool,
    /// `smtp_alert` (schema 5): mail on its state changes (see [`Mail::wanted`]).
    pub smtp_alert: Option<bool>,
    /// `virtual_ipaddress_excluded` (schema 5): moved with the state like
    /// the virtual addresses, but not in the adverts.
    pub virtual_ipaddress_excluded: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
    /// `virtual_routes` (schema 5): added while master.
    pub virtual_routes: Vec<Route, ROUTES>,
    /// `track_process` (schema 5): names of `vrrp_track_process` blocks.
    pub track_process: Vec<TrackScript, TRACKS>,
    /// `track_file` (schema 5): names of `vrrp_track_file` blocks.
    pub track_file: Vec<TrackScript, TRACKS>,
    /// `virtual_rules` (schema 5): added while master.
    pub virtual_rules: Vec<Rule, ROUTES>,
    /// `dont_track_primary` (schema 6): the instance's own interface going
    /// down does not put it in FAULT.
    pub dont_track_primary: bool,
    /// `lower_prio_no_advert` (schema 6): a master does not answer a
    /// lower-priority master's advert (a split brain heals when that one's
    /// own timers say so).
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert` (schema 6): a master that hears a
    /// higher-priority one sends an advert of its own as it steps down.
    pub higher_prio_send_advert: bool,
    /// `down_timer_adverts` (schema 7): adverts missed before a backup
    /// takes over (the RFCs' 3; every router of the VRID must agree).
    pub down_timer_adverts: u8,
    /// `unicast_ttl` (schema 7): the TTL / hop limit unicast adverts are
    /// sent with (multicast ones always go with 255).
    pub unicast_ttl: u8,
    /// `mcast_dst_ip` (schema 7; the global `vrrp_mcast_group4/6` is its
    /// default): the group adverts go to instead of 224.0.0.18 / ff02::12.
    pub mcast_dst_ip: Option<IpAddr>,
    /// `unicast_fault_no_peer` (schema 7): unicast named (a source) but no
    /// peer is FAULT, not multicast (keepalived's fallback).
    pub unicast_fault_no_peer: bool,
    /// `track_src_ip` (schema 7): FAULT while the source address
    /// (`unicast_src_ip` / `mcast_src_ip`) is not on the system.
    pub track_src_ip: bool,
    /// `promote_secondaries` (schema 7): set on the interface, so that
    /// removing a virtual address does not take the others of its subnet.
    pub promote_secondaries: bool,
    /// `notify_master_rx_lower_pri` (schema 7): run when the master hears
    /// a lower-priority advert (another router thinks it is master).
    pub notify_master_rx_lower_pri: Option<PathText>,
    /// `notify_deleted [PROGRAM]` (schema 7): an instance a commit removes
    /// is said to `notify` as DELETED (and PROGRAM runs), not as FAULT.
    pub notify_deleted: Option<Option<PathText>>,
    /// `garp_extra_if [all] S` (schema 7; the global `vrrp_garp_extra_if`
    /// is its default): while master, its addresses on other interfaces
    /// (`dev`) are announced again every S seconds; `all` is kept for the
    /// export (without it keepalived sends on VMAC interfaces only).
    pub garp_extra_if: Option<(u32, bool)>,
    /// `track_bfd` (schema 9): names of `bfd_instance` blocks, each
    /// `NAME [weight N [reverse]]`.
    pub track_bfd: Vec<TrackScript, TRACKS>,
    /// keepalived `use_vmac_addr` (schema 13): every address of the
    /// instance on another interface (or of the other family) goes on a
    /// vmac of that interface, as keepalived puts it (see
    /// [`VirtualAddress::use_vmac`]).
    pub use_vmac_addr: bool,
    /// keepalived `use_ipvlan [NAME] [ADDRESS] [bridge|private|vepa]`
    /// (schema 14): an L2 ipvlan on the interface carries the instance (its
    /// adverts, from the ipvlan's address) and its addresses.
    pub ipvlan: Option<Ipvlan>,
}

/// `use_ipvlan`: an L2 ipvlan on the instance's interface (same MAC as the
/// interface; the kernel gives it the packets for its own addresses). The
/// instance sends its adverts from it and puts its addresses on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipvlan {
    /// Its interface name; none: `vrrp.VRID` (`vrrp6.VRID` for IPv6), as
    /// a vmac's.
    pub name: Option<IfName>,
    /// Its own address, the adverts' source (required for IPv4: an ipvlan
    /// takes only the packets for its addresses; IPv6 uses the link-local
    /// one without).
    pub address: Option<IpNet>,
    pub mode: IpvlanMode,
}

/// The ipvlan's flags (one per parent interface: every ipvlan on an
/// interface must agree, the kernel's rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpvlanMode {
    /// Its ipvlans on one interface reach each other directly.
    #[default]
    Bridge,
    /// They do not reach each other.
    Private,
    /// Their traffic to each other goes out to the switch.
    Vepa,
}

impl IpvlanMode {
    pub fn word(self) -> &'static str {
        match self {
            IpvlanMode::Bridge => "bridge",
            IpvlanMode::Private => "private",
            IpvlanMode::Vepa => "vepa",
        }
    }

    /// IFLA_IPVLAN_FLAGS.
    pub fn flags(self) -> u16 {
        match self {
            IpvlanMode::Bridge => 0,
            IpvlanMode::Private => 1,
            IpvlanMode::Vepa => 2,
        }
    }
}

impl Ipvlan {
    /// The ipvlan's name for an instance.
    pub fn name_for(&self, vrid: u8, v6: bool) -> std::string::String {
        match &self.name {
            Some(n) => n.to_string(),
            None => format!("{}.{vrid}", if v6 { "vrrp6" } else { "vrrp" }),
        }
    }
}

impl VrrpInstance {
    pub fn new(name: &str) -> Option<VrrpInstance> {
        Some(VrrpInstance {
            name: String::try_from(name).ok()?,
            version: 2,
            state: VrrpState::Backup,
            interface: String::new(),
            virtual_router_id: 0,
            priority: 100,
            advert_int_cs: 100,
            virtual_ipaddress: Vec::new(),
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            preempt: true,
            preempt_delay_s: 0,
            auth_pass: None,
            vmac: None,
            accept: true,
            track_interface: Vec::new(),
            track_script: Vec::new(),
            notify: Notify::default(),
            garp: Garp::default(),
            skip_check_adv_addr: false,
            smtp_alert: None,
            virtual_ipaddress_excluded: Vec::new(),
            virtual_routes: Vec::new(),
            track_process: Vec::new(),
            track_file: Vec::new(),
            virtual_rules: Vec::new(),
            dont_track_primary: false,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            down_timer_adverts: VrrpInstance::DOWN_TIMER_ADVERTS,
            unicast_ttl: 255,
            mcast_dst_ip: None,
            unicast_fault_no_peer: false,
            track_src_ip: false,
            promote_secondaries: false,
            notify_master_rx_lower_pri: None,
            notify_deleted: None,
            garp_extra_if: None,
            track_bfd: Vec::new(),
            use_vmac_addr: false,
            ipvlan: None,
        })
    }

    /// The RFCs' Master_Down_Interval: three adverts (and the skew).
    pub const DOWN_TIMER_ADVERTS: u8 = 3;

    /// IPv6 if its virtual addresses are (keepalived does not mix families
    /// in one instance); with none, if its unicast addresses are.
    pub fn is_ipv6(&self) -> bool {
        match self.virtual_ipaddress.first() {
            Some(v) => v.addr.addr.is_ipv6(),
            None => self.unicast_src_ip.or(self.unicast_peer.first().copied()).is_some_and(|a| a.is_ipv6()),
        }
    }
}

/// keepalived `use_vmac [NAME] [MAC]`: a macvlan on the instance's
/// interface that holds its virtual addresses, with the virtual router MAC
/// (RFC 5798 7.3) so that a switch only relearns a port on failover.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vmac {
    /// Its interface name; none: `vrrp.VRID` (`vrrp6.VRID` for IPv6).
    pub name: Option<IfName>,
    /// Its MAC; none: 00:00:5e:00:01:VRID (02 for IPv6). Five bytes given
    /// in the config take the VRID as the sixth, as keepalived does.
    pub mac: Option<[u8; 6]>,
    /// `vmac_xmit_base`: adverts go out of (and are read on) the base
    /// interface, with its MAC; only the addresses live on the vmac.
    pub xmit_base: bool,
}

/// A vmac an instance's addresses need (`use_vmac_addr`, an address's
/// `use_vmac`): on which interface, for which family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressVmac {
    pub parent: IfName,
    pub v6: bool,
}

impl AddressVmac {
    /// Its name at the `n`th try, as keepalived 2.2.7 names them: the
    /// prefix (`vrrp` unless given), `6` for IPv6, `n` past the first try
    /// (the first name free is taken), `.VRID`.
    pub fn name(&self, prefix: Option<&str>, n: u32, vrid: u8) -> std::string::String {
        let six = if self.v6 { "6" } else { "" };
        let n = if n == 0 { std::string::String::new() } else { n.to_string() };
        format!("{}{six}{n}.{vrid}", prefix.unwrap_or("vrrp"))
    }

    /// The virtual router's MAC of its family (RFC 5798 7.3).
    pub fn mac(&self, vrid: u8) -> [u8; 6] {
        [0x00, 0x00, 0x5e, 0x00, if self.v6 { 0x02 } else { 0x01 }, vrid]
    }
}

impl VrrpInstance {
    /// The address vmac an address goes on, if any: one on another
    /// interface (`dev`) or of the other family, with `use_vmac_addr` on
    /// the instance or `use_vmac` on the address (keepalived 2.2.7 puts it
    /// so; the others stay where they were).
    pub fn address_vmac_of(&self, a: &VirtualAddress) -> Option<AddressVmac> {
        let parent = a.dev.clone().unwrap_or_else(|| self.interface.clone());
        let v6 = a.addr.addr.is_ipv6();
        let apart = parent != self.interface || v6 != self.is_ipv6();
        (apart && (self.use_vmac_addr || a.use_vmac)).then_some(AddressVmac { parent, v6 })
    }

    /// Every address vmac the instance needs, each once, in the order of
    /// its addresses.
    pub fn address_vmacs(&self) -> std::vec::Vec<AddressVmac> {
        let mut out: std::vec::Vec<AddressVmac> = std::vec::Vec::new();
        for a in self.virtual_ipaddress.iter().chain(self.virtual_ipaddress_excluded.iter()) {
            if let Some(v) = self.address_vmac_of(a)
                && !out.contains(&v)
            {
                out.push(v);
            }
        }
        out
    }
}

impl Vmac {
    /// The vmac's name for an instance.
    pub fn name_for(&self, vrid: u8, v6: bool) -> std::string::String {
        match &self.name {
            Some(n) => n.to_string(),
            None => format!("{}.{vrid}", if v6 { "vrrp6" } else { "vrrp" }),
        }
    }

    /// The vmac's MAC for an instance.
    pub fn mac_for(&self, vrid: u8, v6: bool) -> [u8; 6] {
        self.mac.unwrap_or([0x00, 0x00, 0x5e, 0x00, if v6 { 0x02 } else { 0x01 }, vrid])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualAddress {
    pub addr: IpNet,
    /// `brd` (IPv4 broadcast).
    pub brd: Option<Ipv4Addr>,
    /// `dev`: another interface than the instance's.
    pub dev: Option<IfName>,
    /// `label` (e.g. `eth0:0`).
    pub label: Option<IfName>,
    /// `scope` (schema 8): none is global.
    pub scope: Option<RouteScope>,
    /// `peer ADDR[/LEN]` (schema 8): the other end of a point-to-point
    /// address.
    pub peer: Option<IpNet>,
    /// `preferred_lft N|forever` (schema 8, seconds): 0 deprecates an IPv6
    /// address (the kernel does not pick it as a source); none: as
    /// keepalived does (0 for an IPv6 /128, forever otherwise). IPv4
    /// addresses keep forever, as keepalived sets them.
    pub preferred_lft: Option<Lifetime>,
    /// `home`, `-nodad`, `mngtmpaddr`, `noprefixroute`, `autojoin`
    /// (schema 8): the kernel's IFA_F_* bits ([`addr_flags`]).
    pub flags: u32,
    /// `no_track` (schema 8): a master whose address is removed by
    /// someone else stays master.
    pub no_track: bool,
    /// `use_vmac` on the address (schema 13): on another interface than
    /// the instance's (`dev`), it goes on a vmac of that interface (a
    /// macvlan with the virtual router's MAC), as keepalived puts it.
    pub use_vmac: bool,
}

/// `preferred_lft`: seconds, or `forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lifetime {
    Seconds(u32),
    Forever,
}

/// [`VirtualAddress::flags`]: the kernel's IFA_F_* bits, with
/// keepalived's (and `ip address`'s) words for them.
pub mod addr_flags {
    pub const NODAD: u32 = 0x02;
    pub const HOME: u32 = 0x10;
    pub const MNGTMPADDR: u32 = 0x100;
    pub const NOPREFIXROUTE: u32 = 0x200;
    pub const AUTOJOIN: u32 = 0x400;
    pub const NAMES: [(&str, u32); 5] = [
        ("home", HOME),
        ("-nodad", NODAD),
        ("mngtmpaddr", MNGTMPADDR),
        ("noprefixroute", NOPREFIXROUTE),
        ("autojoin", AUTOJOIN),
    ];
}

impl VirtualAddress {
    pub fn new(addr: IpNet) -> VirtualAddress {
        VirtualAddress {
            addr,
            brd: None,
            dev: None,
            label: None,
            scope: None,
            peer: None,
            preferred_lft: None,
            flags: 0,
            no_track: false,
            use_vmac: false,
        }
    }

    /// The preferred lifetime the kernel is given (seconds; u32::MAX is
    /// forever): keepalived deprecates an IPv6 /128 unless told, and sets
    /// no lifetime on an IPv4 address (its `preferred_lft` is IPv6's).
    pub fn preferred_lft_s(&self) -> u32 {
        if self.addr.addr.is_ipv4() {
            return u32::MAX;
        }
        match self.preferred_lft {
            Some(Lifetime::Seconds(s)) => s,
            Some(Lifetime::Forever) => u32::MAX,
            None if self.addr.addr.is_ipv6() && self.addr.prefix == 128 => 0,
            None => u32::MAX,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    pub interface: IfName,
    /// 0: the instance goes to FAULT when the interface is down; otherwise
    /// the priority is adjusted by this much (-254..=254).
    pub weight: i16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    pub master: Option<PathText>,
    pub backup: Option<PathText>,
    pub fault: Option<PathText>,
    pub stop: Option<PathText>,
    /// Called on every transition with `INSTANCE name state priority`.
    pub any: Option<PathText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Garp {
    /// `garp_master_delay` (s): the second burst after becoming master.
    pub master_delay_s: u16,
    /// `garp_master_repeat`: gratuitous ARPs per burst.
    pub master_repeat: u8,
    /// `garp_master_refresh` (s, 0 = off): periodic refresh while master.
    pub master_refresh_s: u16,
    /// `garp_interval` (ms) between the ARPs of one burst.
    pub interval_ms: u16,
    /// `garp_master_refresh_repeat` (schema 7): gratuitous ARPs per refresh.
    pub master_refresh_repeat: u8,
    /// `garp_lower_prio_delay` (s, schema 7): the second burst after a
    /// lower-priority master was answered; none: `master_delay_s`.
    pub lower_prio_delay_s: Option<u16>,
    /// `garp_lower_prio_repeat` (schema 7): gratuitous ARPs per burst
    /// then; none: `master_repeat`.
    pub lower_prio_repeat: Option<u8>,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            master_delay_s: 5,
            master_repeat: 5,
            master_refresh_s: 0,
            interval_ms: 0,
            master_refresh_repeat: 1,
            lower_prio_delay_s: None,
            lower_prio_repeat: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncGroup {
    pub name: Name,
    pub group: Vec<Name, GROUP_MEMBERS>,
    /// `track_script`: tracked by every member (schema 5).
    pub track_script: Vec<TrackScript, TRACKS>,
    pub notify: Notify,
    /// `smtp_alert` (schema 5).
    pub smtp_alert: Option<bool>,
    /// `track_process` (schema 5): tracked by every member.
    pub track_process: Vec<TrackScript, TRACKS>,
    /// `track_file` (schema 5): tracked by every member.
    pub track_file: Vec<TrackScript, TRACKS>,
    /// `track_bfd` (schema 9): tracked by every member.
    pub track_bfd: Vec<TrackScript, TRACKS>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VirtualKey {
    Address(SocketAddr),
    Fwmark(u32),
    /// `virtual_server group NAME` (schema 6): the services of a
    /// [`VirtualServerGroup`].
    Group(Name),
}

impl core::fmt::Display for VirtualKey {
    /// As keepalived.conf writes it after `virtual_server`: `192.0.2.1 80`,
    /// `fwmark 3`, `group NAME`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VirtualKey::Address(a) => write!(f, "{} {}", a.ip(), a.port()),
            VirtualKey::Fwmark(m) => write!(f, "fwmark {m}"),
            VirtualKey::Group(g) => write!(f, "group {g}"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scheduler {
    Rr,
    #[default]
    Wrr,
    Lc,
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Mh,
}

impl Scheduler {
    pub const ALL: [Scheduler; 11] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Mh,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Mh => "mh",
        }
    }
    pub fn parse(s: &str) -> Option<Scheduler> {
        Scheduler::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// `lb_kind`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Forwarding {
    #[default]
    Nat,
    Dr,
    Tun,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServer {
    pub key: VirtualKey,
    pub protocol: Protocol,
    pub lb_algo: Scheduler,
    pub lb_kind: Forwarding,
    /// Seconds; 0: not persistent.
    pub persistence_timeout: u32,
    pub persistence_granularity: Option<IpNet>,
    pub delay_loop_s: u16,
    pub quorum: u16,
    pub hysteresis: u16,
    pub sorry_server: Option<SocketAddr>,
    pub inhibit_on_failure: bool,
    /// Real servers start down until their first check passes.
    pub alpha: bool,
    /// keepalived's `omega`: as the checkers stop, each up real server's
    /// `notify_down` runs, and `quorum_down` while the quorum holds.
    pub omega: bool,
    pub real_servers: Vec<RealServer, REAL_SERVERS>,
    /// `smtp_alert` (schema 5): mail when the quorum is lost or regained.
    pub smtp_alert: Option<bool>,
    /// `quorum_up` / `quorum_down` (schema 5): programs run when the quorum
    /// is regained or lost.
    pub quorum_up: Option<PathText>,
    pub quorum_down: Option<PathText>,
    /// `ops` (one-packet scheduling) and the scheduler's `flag-1..3`
    /// (`sh-fallback`/`mh-fallback`, `sh-port`/`mh-port`, `flag-3`),
    /// schema 5: bit 0 ops, bits 1..=3 flag-1..3.
    pub ipvs_flags: u8,
    /// `sorry_server_inhibit` (schema 6): while the quorum holds, the sorry
    /// server stays in the table at weight 0 instead of leaving it.
    pub sorry_server_inhibit: bool,
    /// `sorry_server_lvs_method` (schema 6): how packets reach the sorry
    /// server (none: as `lb_kind`).
    pub sorry_server_lvs_kind: Option<Forwarding>,
    /// `ha_suspend` (schema 7): its checks wait while its address is not
    /// on this system (a backup's), and start when VRRP brings it.
    pub ha_suspend: bool,
    /// `ip_family inet|inet6` (schema 7): a firewall mark's family when
    /// its real servers do not say (none yet, or mixed).
    pub ip_family_v6: Option<bool>,
    /// `persistence_engine NAME` (schema 8; the kernel has `sip`): what
    /// persistence keys on besides the client's address (SIP Call-ID).
    pub persistence_engine: Option<Name>,
    /// `lvs_method TUN type ...` here (schema 8): the tunnel of its real
    /// servers that do not name their own.
    pub tunnel: Option<Tunnel>,
}

/// [`VirtualServer::ipvs_flags`]' bits.
pub mod vs_flags {
    pub const OPS: u8 = 1;
    pub const FLAG_1: u8 = 2;
    pub const FLAG_2: u8 = 4;
    pub const FLAG_3: u8 = 8;
}

impl VirtualServer {
    /// The family of its firewall-mark services: a mark has no address,
    /// so it is its (first) real server's.
    pub fn fwmark_v6(&self) -> bool {
        self.ip_family_v6.unwrap_or_else(|| self.real_servers.first().is_some_and(|r| r.addr.is_ipv6()))
    }

    pub fn new(key: VirtualKey) -> VirtualServer {
        VirtualServer {
            key,
            protocol: Protocol::Tcp,
            lb_algo: Scheduler::Wrr,
            lb_kind: Forwarding::Nat,
            persistence_timeout: 0,
            persistence_granularity: None,
            delay_loop_s: 60,
            quorum: 1,
            hysteresis: 0,
            sorry_server: None,
            inhibit_on_failure: false,
            alpha: false,
            omega: false,
            real_servers: Vec::new(),
            smtp_alert: None,
            quorum_up: None,
            quorum_down: None,
            ipvs_flags: 0,
            sorry_server_inhibit: false,
            sorry_server_lvs_kind: None,
            ha_suspend: false,
            ip_family_v6: None,
            persistence_engine: None,
            tunnel: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    pub addr: SocketAddr,
    pub weight: u32,
    /// Overrides the virtual server's `lb_kind`.
    pub lb_kind: Option<Forwarding>,
    pub inhibit_on_failure: Option<bool>,
    /// Boxed: rare, and inline they were two thirds of every real server's
    /// size (the same bytes on flash: serde writes a box as its content).
    pub notify_up: Option<Box<PathText>>,
    pub notify_down: Option<Box<PathText>>,
    /// `uthreshold` / `lthreshold`: connection limits (0: none).
    pub uthreshold: u32,
    pub lthreshold: u32,
    /// `lvs_method TUN type ...` (with `lb_kind TUN`): the encapsulation,
    /// when not IPIP (none: the virtual server's).
    pub tunnel: Option<Tunnel>,
    /// Its first checker inline (nearly every real server has exactly one).
    pub checkers: crate::bounded::FirstInline<Checker, CHECKERS>,
    /// `smtp_alert` (schema 5): mail when it goes down or comes up.
    pub smtp_alert: Option<bool>,
    /// `alpha` here (schema 6): overrides the virtual server's.
    pub alpha: Option<bool>,
}

/// `lvs_method TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tunnel {
    Ipip,
    /// Generic UDP encapsulation to this port.
    Gue {
        port: u16,
        csum: TunCsum,
    },
    /// (Linux 5.3 on; no remote checksum offload.)
    Gre {
        csum: TunCsum,
    },
}

/// A GUE or GRE tunnel's checksum (schema 8): IPVS's
/// IP_VS_TUNNEL_ENCAP_FLAG_*.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TunCsum {
    /// `nocsum` (keepalived's default).
    #[default]
    None,
    Csum,
    /// Remote checksum offload (GUE only).
    Remcsum,
}

impl TunCsum {
    pub fn name(self) -> &'static str {
        match self {
            TunCsum::None => "nocsum",
            TunCsum::Csum => "csum",
            TunCsum::Remcsum => "remcsum",
        }
    }

    /// IP_VS_TUNNEL_ENCAP_FLAG_*.
    pub fn flags(self) -> u16 {
        match self {
            TunCsum::None => 0,
            TunCsum::Csum => 1,
            TunCsum::Remcsum => 2,
        }
    }
}

impl core::fmt::Display for Tunnel {
    /// As keepalived writes it after `lvs_method TUN`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Tunnel::Ipip => f.write_str("type ipip"),
            Tunnel::Gue { port, csum: TunCsum::None } => write!(f, "type gue port {port}"),
            Tunnel::Gue { port, csum } => write!(f, "type gue port {port} {}", csum.name()),
            Tunnel::Gre { csum: TunCsum::None } => f.write_str("type gre"),
            Tunnel::Gre { csum } => write!(f, "type gre {}", csum.name()),
        }
    }
}

impl RealServer {
    pub fn new(addr: SocketAddr) -> RealServer {
        RealServer {
            addr,
            weight: 1,
            lb_kind: None,
            inhibit_on_failure: None,
            notify_up: None,
            notify_down: None,
            uthreshold: 0,
            lthreshold: 0,
            tunnel: None,
            checkers: crate::bounded::FirstInline::new(),
            smtp_alert: None,
            alpha: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checker {
    pub kind: CheckKind,
    /// Where to connect, when not the real server's own address/port.
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bind_to: Option<IpAddr>,
    pub connect_timeout_s: u16,
    /// keepalived `retry` (`nb_get_retry` for HTTP): failures in a row before down.
    pub retry: u8,
    pub delay_before_retry_s: u16,
    /// Seconds of random delay before the first check.
    pub warmup_s: u16,
    /// Overrides the virtual server's `delay_loop`.
    pub delay_loop_s: Option<u16>,
    /// `bind_if` (schema 7): the interface its connections leave by
    /// (boxed: rare, and inline 24 bytes of every checker).
    pub bind_if: Option<Box<IfName>>,
    /// `bind_port` (schema 7): the source port of its connections.
    pub bind_port: Option<u16>,
    /// `fwmark` (schema 7): its packets carry this mark (SO_MARK).
    pub fwmark: Option<u32>,
    /// `alpha` here (schema 7): this checker starts failing (overrides the
    /// real server's and the virtual server's).
    pub alpha: Option<bool>,
    /// `log_all_failures` (schema 7; the global `checker_log_all_failures`
    /// is its default): every failed check is logged, not only the one
    /// that takes the real server down.
    pub log_all_failures: Option<bool>,
}

impl Checker {
    pub fn new(kind: CheckKind) -> Checker {
        Checker {
            kind,
            connect_ip: None,
            connect_port: None,
            bind_to: None,
            connect_timeout_s: 5,
            retry: 1,
            delay_before_retry_s: 1,
            warmup_s: 0,
            delay_loop_s: None,
            bind_if: None,
            bind_port: None,
            fwmark: None,
            alpha: None,
            log_all_failures: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    Tcp,
    /// HTTP_GET, or SSL_GET with `tls`. Boxed: its URLs and TLS settings
    /// made every checker 240 bytes, TCP_CHECKs too (the bulk of a
    /// production config: 37,298 of them in issue #2318's); the blob's
    /// bytes are the same (serde writes a box as what it holds).
    Http(Box<HttpCheck>),
    /// Names and a UDP payload are boxed too: inline, a 32-byte name made
    /// every checker (TCP_CHECKs too) 48 bytes larger.
    Smtp {
        helo_name: Option<Box<Name>>,
    },
    /// The name is boxed, as the path of a MISC_CHECK and the file of a
    /// FILE_CHECK: inline, each made every checker 80 bytes larger (a
    /// check is 3 MB of a model at issue #2318's shape per 80 bytes); the
    /// blob's bytes are the same.
    Dns {
        query_type: DnsType,
        query_name: Box<String<PATH>>,
    },
    Udp {
        payload: Box<Vec<u8, 64>>,
        require_reply: bool,
    },
    Ping,
    /// `misc_path` is a command line (program and arguments, split on
    /// spaces as keepalived does; no shell).
    Misc {
        path: Box<PathText>,
        timeout_s: u16,
        dynamic: bool,
    },
    /// FILE_CHECK (schema 8): the number in a `vrrp_track_file`'s file
    /// decides, as keepalived 2.2.7 reads it: with weight 0 (its own, else
    /// the track_file's) a non-zero number is down (`reverse`: zero is);
    /// otherwise number x weight is down only at i32::MIN, else added to
    /// the real server's weight. `dynamic` (in keepalived's man page, not
    /// in its 2.2.7 parser) is kept for the export: weights always move.
    File {
        track_file: Box<Name>,
        weight: Option<(i32, bool)>,
        dynamic: bool,
    },
    /// BFD_CHECK (schema 9): up while the named `bfd_instance`'s session
    /// is up.
    Bfd {
        name: Box<Name>,
    },
}

impl CheckKind {
    /// Every checker keyword, as [`CheckKind::keyword`] says them.
    pub const KEYWORDS: [&'static str; 10] = [
        "TCP_CHECK",
        "SSL_GET",
        "HTTP_GET",
        "SMTP_CHECK",
        "DNS_CHECK",
        "UDP_CHECK",
        "PING_CHECK",
        "MISC_CHECK",
        "FILE_CHECK",
        "BFD_CHECK",
    ];

    /// The checker's keepalived.conf keyword.
    pub fn keyword(&self) -> &'static str {
        Self::KEYWORDS[self.keyword_index()]
    }

    /// Its keyword's place in [`CheckKind::KEYWORDS`].
    pub fn keyword_index(&self) -> usize {
        match self {
            CheckKind::Tcp => 0,
            CheckKind::Http(h) if h.tls => 1,
            CheckKind::Http(_) => 2,
            CheckKind::Smtp { .. } => 3,
            CheckKind::Dns { .. } => 4,
            CheckKind::Udp { .. } => 5,
            CheckKind::Ping => 6,
            CheckKind::Misc { .. } => 7,
            CheckKind::File { .. } => 8,
            CheckKind::Bfd { .. } => 9,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    pub tls: bool,
    pub urls: Vec<Url, URLS>,
    pub virtualhost: Option<String<HOSTNAME>>,
    /// Verify the server's certificate (SSL_GET).
    pub verify_cert: bool,
    /// `http_protocol` (schema 7): the request's version.
    pub protocol: HttpProtocol,
    /// `enable_sni` (schema 7): SSL_GET sends the server name (the
    /// virtualhost) in its handshake; keepalived sends none without it.
    pub enable_sni: bool,
}

/// keepalived's `http_protocol`: `1.0` (its default), `1.0C` (1.0 with
/// `Connection: close`), `1.1` (with `Connection: close`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpProtocol {
    #[default]
    Http10,
    Http10Close,
    Http11,
}

impl HttpProtocol {
    pub fn keyword(self) -> &'static str {
        match self {
            HttpProtocol::Http10 => "1.0",
            HttpProtocol::Http10Close => "1.0C",
            HttpProtocol::Http11 => "1.1",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Url {
    pub path: PathText,
    /// Expected status codes (single codes or ranges such as 200-299);
    /// none: 200-299, as keepalived.
    pub status_code: Vec<StatusRange, STATUS_CODES>,
    /// MD5 of the body, as keepalived's genhash prints it.
    pub digest: Option<[u8; 16]>,
    /// `regex` (schema 7): the body must match it (or, `regex_no_match`,
    /// must not).
    pub regex: Option<BodyRegex>,
}

/// keepalived's `regex`, `regex_no_match`, `regex_min_offset`,
/// `regex_max_offset` and `regex_options` in a `url` block: a pattern
/// searched for in the body from `min_offset`, a match starting at most at
/// `max_offset`. The pattern is compiled by the checkers (the `regex`
/// crate's syntax: PCRE's less backtracking-only forms); validation
/// compiles it too, so a bad one is refused with where it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyRegex {
    pub pattern: String<PATH>,
    pub no_match: bool,
    pub min_offset: u32,
    pub max_offset: Option<u32>,
    /// `caseless`, `multiline`, `dotall`, `extended`, `ungreedy`.
    pub options: u8,
}

impl BodyRegex {
    /// The pattern compiled with its options, within a bound on what the
    /// compiled form may take (a pattern is input: `a{1000}{1000}` must
    /// not take the memory).
    pub fn compile(&self) -> Result<regex::bytes::Regex, std::string::String> {
        use regex_options::*;
        regex::bytes::RegexBuilder::new(&self.pattern)
            .case_insensitive(self.options & CASELESS != 0)
            .multi_line(self.options & MULTILINE != 0)
            .dot_matches_new_line(self.options & DOTALL != 0)
            .ignore_whitespace(self.options & EXTENDED != 0)
            .swap_greed(self.options & UNGREEDY != 0)
            .size_limit(1 << 20)
            .nest_limit(64)
            .build()
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(_) => "the compiled pattern would be over 1 MiB".to_string(),
                // The syntax error's own text points at the place (it is
                // several lines: one is enough in a list of problems).
                e => e.to_string().lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string(),
            })
    }
}

/// [`BodyRegex::options`]' bits.
pub mod regex_options {
    pub const CASELESS: u8 = 1;
    pub const MULTILINE: u8 = 2;
    pub const DOTALL: u8 = 4;
    pub const EXTENDED: u8 = 8;
    pub const UNGREEDY: u8 = 16;
    pub const NAMES: [(&str, u8); 5] = [
        ("caseless", CASELESS),
        ("multiline", MULTILINE),
        ("dotall", DOTALL),
        ("extended", EXTENDED),
        ("ungreedy", UNGREEDY),
    ];
}

/// HTTP status codes `from..=to` (one code when equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRange {
    pub from: u16,
    pub to: u16,
}

impl StatusRange {
    pub fn one(code: u16) -> StatusRange {
        StatusRange { from: code, to: code }
    }
    pub fn contains(&self, code: u16) -> bool {
        (self.from..=self.to).contains(&code)
    }
}

impl core::fmt::Display for StatusRange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.from == self.to { write!(f, "{}", self.from) } else { write!(f, "{}-{}", self.from, self.to) }
    }
}

impl core::str::FromStr for StatusRange {
    type Err = ();
    /// `200` or `200-299`.
    fn from_str(s: &str) -> Result<StatusRange, ()> {
        match s.split_once('-') {
            Some((a, b)) => Ok(StatusRange { from: a.parse().map_err(|_| ())?, to: b.parse().map_err(|_| ())? }),
            None => s.parse().map(StatusRange::one).map_err(|_| ()),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DnsType {
    #[default]
    A,
    Ns,
    Cname,
    Soa,
    Mx,
    Txt,
    Aaaa,
}

impl DnsType {
    pub const ALL: [DnsType; 7] =
        [DnsType::A, DnsType::Ns, DnsType::Cname, DnsType::Soa, DnsType::Mx, DnsType::Txt, DnsType::Aaaa];
    pub fn name(self) -> &'static str {
        match self {
            DnsType::A => "A",
            DnsType::Ns => "NS",
            DnsType::Cname => "CNAME",
            DnsType::Soa => "SOA",
            DnsType::Mx => "MX",
            DnsType::Txt => "TXT",
            DnsType::Aaaa => "AAAA",
        }
    }
    pub fn parse(s: &str) -> Option<DnsType> {
        DnsType::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(s))
    }
}
