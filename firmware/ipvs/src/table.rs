//! The IPVS table as values: what the kernel holds, or what vigil wants it
//! to hold. Keys order and compare the way the kernel identifies entries.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn number(self) -> u16 {
        match self {
            Proto::Tcp => libc::IPPROTO_TCP as u16,
            Proto::Udp => libc::IPPROTO_UDP as u16,
            Proto::Sctp => libc::IPPROTO_SCTP as u16,
        }
    }
    pub fn from_number(n: u16) -> Option<Proto> {
        [Proto::Tcp, Proto::Udp, Proto::Sctp].into_iter().find(|p| p.number() == n)
    }
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
            Proto::Sctp => "SCTP",
        }
    }
}

/// How IPVS identifies a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceKey {
    Addr {
        proto: Proto,
        addr: IpAddr,
        port: u16,
    },
    /// Firewall-mark service, per address family (`v6`).
    Fwmark {
        mark: u32,
        v6: bool,
    },
}

impl ServiceKey {
    pub fn is_ipv6(&self) -> bool {
        match self {
            ServiceKey::Addr { addr, .. } => addr.is_ipv6(),
            ServiceKey::Fwmark { v6, .. } => *v6,
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr { proto, addr: IpAddr::V6(a), port } => write!(f, "{} [{a}]:{port}", proto.name()),
            ServiceKey::Addr { proto, addr, port } => write!(f, "{} {addr}:{port}", proto.name()),
            ServiceKey::Fwmark { mark, v6 } => write!(f, "FWM {mark}{}", if *v6 { " IPv6" } else { "" }),
        }
    }
}

/// `IP_VS_SVC_F_*`.
pub mod flags {
    pub const PERSISTENT: u32 = 0x1;
    pub const HASHED: u32 = 0x2;
    pub const ONEPACKET: u32 = 0x4;
    /// The flags vigil sets; the kernel's own (HASHED) are not compared.
    pub const SETTABLE: u32 = PERSISTENT | ONEPACKET | 0x8 | 0x10 | 0x20;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub key: ServiceKey,
    /// Scheduler name: rr, wrr, lc, ... (the kernel module is `ip_vs_<name>`).
    pub scheduler: String,
    /// `IP_VS_SVC_F_*` (persistence is also implied by a timeout).
    pub flags: u32,
    /// Persistence timeout in seconds (0: not persistent).
    pub timeout: u32,
    /// Persistence granularity: a prefix length (32 or 128 for one client).
    pub netmask_prefix: u8,
    /// Persistence engine (`sip`: the kernel module is `ip_vs_pe_<name>`).
    pub pe_name: Option<String>,
    /// Read back only: the kernel's traffic counters.
    pub stats: Counters,
}

/// What the kernel counted for a service or a destination since it was
/// added (IPVS_STATS_ATTR_*, the 64-bit set where the kernel has it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub connections: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Service {
    pub fn new(key: ServiceKey, scheduler: &str) -> Service {
        Service {
            key,
            scheduler: scheduler.to_string(),
            flags: 0,
            timeout: 0,
            netmask_prefix: if key.is_ipv6() { 128 } else { 32 },
            pe_name: None,
            stats: Counters::default(),
        }
    }

    /// The flags as the kernel holds them: persistent when there is a timeout.
    pub fn effective_flags(&self) -> u32 {
        let p = if self.timeout > 0 { flags::PERSISTENT } else { 0 };
        (self.flags | p) & flags::SETTABLE
    }

    /// Compares what vigil sets (not the kernel's own flags).
    pub fn same_settings(&self, other: &Service) -> bool {
        self.scheduler == other.scheduler
            && self.effective_flags() == other.effective_flags()
            && self.timeout == other.timeout
            && (self.timeout == 0 || self.netmask_prefix == other.netmask_prefix)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestKey {
    pub addr: IpAddr,
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
        }
    }
}

/// `IP_VS_CONN_F_MASQ` (NAT), `_TUNNEL`, `_DROUTE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forward {
    Masq,
    Tunnel,
    Route,
}

impl Forward {
    pub fn code(self) -> u32 {
        match self {
            Forward::Masq => 0,
            Forward::Tunnel => 2,
            Forward::Route => 3,
        }
    }
    pub fn from_code(c: u32) -> Option<Forward> {
        match c {
            0 => Some(Forward::Masq),
            2 => Some(Forward::Tunnel),
            3 => Some(Forward::Route),
            _ => None,
        }
    }
    /// As ipvsadm prints it.
    pub fn name(self) -> &'static str {
        match self {
            Forward::Masq => "Masq",
            Forward::Tunnel => "Tunnel",
            Forward::Route => "Route",
        }
    }
}

/// `IP_VS_CONN_F_TUNNEL_TYPE_*`: how a tunnel destination is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TunnelType {
    #[default]
    Ipip,
    /// Generic UDP encapsulation to this port.
    Gue(u16),
    Gre,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    pub key: DestKey,
    pub weight: u32,
    pub forward: Forward,
    /// With `Forward::Tunnel` only.
    pub tunnel: TunnelType,
    /// IP_VS_TUNNEL_ENCAP_FLAG_* for GUE and GRE: 0 none, 1 csum, 2 remcsum.
    pub tun_flags: u16,
    pub u_threshold: u32,
    pub l_threshold: u32,
    /// Read back only: what the kernel counts for it (boxed: the tables
    /// vigil plans with hold tens of thousands of destinations and need
    /// none of it; 40 bytes less each).
    pub live: Option<Box<DestLive>>,
}

/// A destination's connections and traffic, as the kernel counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestLive {
    pub active: u32,
    pub inactive: u32,
    pub stats: Counters,
}

impl Dest {
    pub fn new(addr: IpAddr, port: u16, weight: u32, forward: Forward) -> Dest {
        Dest {
            key: DestKey { addr, port },
            weight,
            forward,
            tunnel: TunnelType::Ipip,
            tun_flags: 0,
            u_threshold: 0,
            l_threshold: 0,
            live: None,
        }
    }

    /// Its live figures (zero when not read from the kernel).
    pub fn live(&self) -> DestLive {
        self.live.as_deref().copied().unwrap_or_default()
    }

    /// Compares what vigil sets (not the counters).
    pub fn same_settings(&self, other: &Dest) -> bool {
        self.weight == other.weight
            && self.forward == other.forward
            && (self.forward != Forward::Tunnel || self.tunnel == other.tunnel)
            && self.u_threshold == other.u_threshold
            && self.l_threshold == other.l_threshold
    }
}

/// A service's destinations, ordered by key, in a sorted `Vec`: a
/// destination holds its key, and tables of tens of thousands of them are
/// what PID 1 plans with and keeps. In a `BTreeMap` keyed by a copy of the
/// key, with its half-full nodes, #2318's 37,298 destinations took about
/// three times the memory (the heap bench's figures, in README.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dests(Vec<Dest>);

impl Dests {
    /// From destinations in any order; of two with one key, the later.
    pub fn from_unsorted(mut v: Vec<Dest>) -> Dests {
        // Reversed, a stable sort puts the later of equal keys first, and
        // dedup keeps the first.
        v.reverse();
        v.sort_by_key(|d| d.key);
        v.dedup_by_key(|d| d.key);
        v.shrink_to_fit();
        Dests(v)
    }

    fn find(&self, k: &DestKey) -> Result<usize, usize> {
        self.0.binary_search_by(|d| d.key.cmp(k))
    }

    pub fn get(&self, k: &DestKey) -> Option<&Dest> {
        self.find(k).ok().map(|i| &self.0[i])
    }

    pub fn get_mut(&mut self, k: &DestKey) -> Option<&mut Dest> {
        self.find(k).ok().map(|i| &mut self.0[i])
    }

    pub fn contains_key(&self, k: &DestKey) -> bool {
        self.find(k).is_ok()
    }

    /// Adds or replaces (returning the one replaced). In key order, as the
    /// plans add them, an append; otherwise the rest moves up (a bulk of
    /// destinations in any order goes through [`Dests::from_unsorted`]).
    pub fn insert(&mut self, d: Dest) -> Option<Dest> {
        match self.find(&d.key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i], d)),
            Err(i) => {
                self.0.insert(i, d);
                None
            }
        }
    }

    pub fn remove(&mut self, k: &DestKey) -> Option<Dest> {
        self.find(k).ok().map(|i| self.0.remove(i))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In key order.
    pub fn iter(&self) -> std::slice::Iter<'_, Dest> {
        self.0.iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = &DestKey> + '_ {
        self.0.iter().map(|d| &d.key)
    }
}

impl<'a> IntoIterator for &'a Dests {
    type Item = &'a Dest;
    type IntoIter = std::slice::Iter<'a, Dest>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Services with their destinations, ordered by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub services: BTreeMap<ServiceKey, (Service, Dests)>,
}

impl Table {
    pub fn add_service(&mut self, s: Service) {
        self.services.insert(s.key, (s, Dests::default()));
    }

    /// Adds a destination to a service already in the table (false if not).
    pub fn add_dest(&mut self, svc: ServiceKey, d: Dest) -> bool {
        match self.services.get_mut(&svc) {
            Some((_, dests)) => {
                dests.insert(d);
                true
            }
            None => false,
        }
    }

    /// A service's destinations, all at once and in any order (false if
    /// the service is not in the table).
    pub fn set_dests(&mut self, svc: ServiceKey, dests: Vec<Dest>) -> bool {
        match self.services.get_mut(&svc) {
            Some((_, have)) => {
                *have = Dests::from_unsorted(dests);
                true
            }
            None => false,
        }
    }

    /// Gives back the room its destination lists grew into (a table built
    /// by applying a plan's ops one at a time is kept afterwards).
    pub fn shrink_to_fit(&mut self) {
        for (_, dests) in self.services.values_mut() {
            dests.0.shrink_to_fit();
        }
    }

    pub fn dest_count(&self) -> usize {
        self.services.values().map(|(_, d)| d.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(last: u8, port: u16, weight: u32) -> Dest {
        Dest::new(IpAddr::from([10, 0, 0, last]), port, weight, Forward::Masq)
    }

    fn listed(ds: &Dests) -> Vec<String> {
        ds.iter().map(|d| format!("{} {}", d.key, d.weight)).collect()
    }

    /// A bulk in any order comes out in key order, the later of a repeated
    /// key kept (as a map's insert would leave it); single inserts and
    /// removals keep the order, and look-ups find by key.
    #[test]
    fn destinations_stay_in_key_order_like_a_map() {
        let mut ds = Dests::from_unsorted(vec![d(3, 80, 1), d(1, 80, 1), d(3, 80, 7), d(2, 81, 1), d(2, 80, 1)]);
        assert_eq!(listed(&ds), ["10.0.0.1:80 1", "10.0.0.2:80 1", "10.0.0.2:81 1", "10.0.0.3:80 7"]);
        assert_eq!(ds.insert(d(0, 80, 2)), None);
        assert_eq!(ds.insert(d(9, 80, 2)), None);
        assert_eq!(ds.insert(d(2, 81, 5)).map(|o| o.weight), Some(1), "replaced, the old one returned");
        assert_eq!(ds.len(), 6);
        let k = |last: u8, port: u16| DestKey { addr: IpAddr::from([10, 0, 0, last]), port };
        assert_eq!(ds.remove(&k(2, 80)).map(|o| o.key), Some(k(2, 80)));
        assert_eq!(ds.remove(&k(2, 80)), None);
        assert!(ds.contains_key(&k(9, 80)) && !ds.contains_key(&k(9, 81)));
        ds.get_mut(&k(1, 80)).unwrap().weight = 4;
        assert_eq!(ds.get(&k(1, 80)).map(|d| d.weight), Some(4));
        assert_eq!(listed(&ds), ["10.0.0.0:80 2", "10.0.0.1:80 4", "10.0.0.2:81 5", "10.0.0.3:80 7", "10.0.0.9:80 2"]);
        let keys: Vec<DestKey> = ds.keys().copied().collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }
}
