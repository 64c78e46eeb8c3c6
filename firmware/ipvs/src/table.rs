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

/// Services with their destinations, ordered by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub services: BTreeMap<ServiceKey, (Service, BTreeMap<DestKey, Dest>)>,
}

impl Table {
    pub fn add_service(&mut self, s: Service) {
        self.services.insert(s.key, (s, BTreeMap::new()));
    }

    /// Adds a destination to a service already in the table (false if not).
    pub fn add_dest(&mut self, svc: ServiceKey, d: Dest) -> bool {
        match self.services.get_mut(&svc) {
            Some((_, dests)) => {
                dests.insert(d.key, d);
                true
            }
            None => false,
        }
    }

    pub fn dest_count(&self) -> usize {
        self.services.values().map(|(_, d)| d.len()).sum()
    }
}
