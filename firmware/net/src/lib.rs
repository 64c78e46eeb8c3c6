//! Interfaces over rtnetlink (via `neli`): list links, set them up with
//! multicast. Blocking calls on a private socket: each is one round trip to
//! the kernel.

use neli::consts::nl::{NlmF, Nlmsg};
use neli::consts::rtnl::{
    Ifa, IfaF, Iff, Ifla, IflaInfo, IflaVlan, RtAddrFamily, RtScope, RtTable, Rta, Rtm, RtmF, Rtn, Rtprot,
};
use neli::consts::socket::NlFamily;
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::rtnl::{Ifaddrmsg, IfaddrmsgBuilder, Ifinfomsg, IfinfomsgBuilder, RtattrBuilder, RtmsgBuilder};
use neli::socket::synchronous::NlSocketHandle;
use neli::types::{Buffer, RtBuffer};
use neli::utils::Groups;
use std::fmt;
use std::io;
use std::net::IpAddr;

/// One network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    pub name: String,
    pub flags: u32,
    pub mtu: u32,
    pub mac: Option<[u8; 6]>,
}

impl Link {
    pub fn is_up(&self) -> bool {
        self.flags & libc::IFF_UP as u32 != 0
    }
    pub fn is_multicast(&self) -> bool {
        self.flags & libc::IFF_MULTICAST as u32 != 0
    }
    /// The carrier is up (IFF_LOWER_UP).
    pub fn has_carrier(&self) -> bool {
        self.flags & libc::IFF_LOWER_UP as u32 != 0
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut flags = Vec::new();
        for (bit, name) in [
            (libc::IFF_UP, "UP"),
            (libc::IFF_BROADCAST, "BROADCAST"),
            (libc::IFF_LOOPBACK, "LOOPBACK"),
            (libc::IFF_MULTICAST, "MULTICAST"),
            (libc::IFF_LOWER_UP, "LOWER_UP"),
        ] {
            if self.flags & bit as u32 != 0 {
                flags.push(name);
            }
        }
        write!(f, "{}: {} <{}> mtu {}", self.index, self.name, flags.join(","), self.mtu)?;
        if let Some(m) = self.mac {
            write!(f, " link/ether {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])?;
        }
        Ok(())
    }
}

/// A route for [`Rtnl::change_route`], as `ip route` takes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub kind: RouteType,
    pub dst: IpAddr,
    pub prefix: u8,
    pub via: Option<IpAddr>,
    pub oif: Option<i32>,
    pub src: Option<IpAddr>,
    pub metric: Option<u32>,
    /// None: main.
    pub table: Option<u32>,
    /// `RT_SCOPE_*`; none: link for a route without a gateway, else universe
    /// (what `ip route` chooses).
    pub scope: Option<u8>,
    pub onlink: bool,
    /// RTPROT_*; none: keepalived's ([`RTPROT_KEEPALIVED`]).
    pub protocol: Option<u8>,
    pub tos: u8,
    /// RTA_FLOW: FROM << 16 | TO.
    pub realms: Option<u32>,
    /// RTAX_* metrics: (kind, value, locked).
    pub metrics: Vec<(u16, u32, bool)>,
    /// RTA_PREF (IPv6 router preference).
    pub pref: Option<u8>,
    /// RTA_MULTIPATH: each hop's gateway, interface, weight (1..=256) and onlink.
    pub nexthops: Vec<(Option<IpAddr>, Option<i32>, u16, bool)>,
    /// After a matching route (`ip route append`), not an exclusive add.
    pub append: bool,
}

impl Route {
    pub fn new(dst: IpAddr, prefix: u8) -> Route {
        Route {
            kind: RouteType::Unicast,
            dst,
            prefix,
            via: None,
            oif: None,
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
        }
    }
}

/// An address for [`Rtnl::change_address_with`], as `ip address` takes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address<'a> {
    pub addr: IpAddr,
    pub prefix: u8,
    /// IPv4 label (`eth0:1`).
    pub label: Option<&'a str>,
    pub brd: Option<std::net::Ipv4Addr>,
    /// RT_SCOPE_*.
    pub scope: u8,
    /// The other end of a point-to-point address (IFA_ADDRESS).
    pub peer: Option<(IpAddr, u8)>,
    /// IFA_F_* (IPv6 addresses always get NODAD: usable at once).
    pub flags: u32,
    /// Seconds; u32::MAX is forever.
    pub preferred_lft: u32,
}

impl Address<'_> {
    pub fn new(addr: IpAddr, prefix: u8) -> Address<'static> {
        Address {
            addr,
            prefix,
            label: None,
            brd: None,
            scope: libc::RT_SCOPE_UNIVERSE,
            peer: None,
            flags: 0,
            preferred_lft: u32::MAX,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteType {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// A policy routing rule for [`Rtnl::change_rule`], as `ip rule` takes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub v6: bool,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub invert: bool,
    pub fwmark: Option<(u32, Option<u32>)>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub priority: Option<u32>,
    /// None with a blackhole/unreachable/prohibit kind (or a goto).
    pub table: Option<u32>,
    pub kind: RouteType,
    pub tos: u8,
    pub realms: Option<u32>,
    /// Jump to the rule of this priority (FR_ACT_GOTO).
    pub goto: Option<u32>,
    pub suppress_prefixlength: Option<u32>,
    pub suppress_ifgroup: Option<u32>,
    pub uidrange: Option<(u32, u32)>,
    pub sport: Option<(u16, u16)>,
    pub dport: Option<(u16, u16)>,
    pub ip_proto: Option<u8>,
    pub l3mdev: bool,
    /// None: keepalived's ([`RTPROT_KEEPALIVED`]).
    pub protocol: Option<u8>,
}

impl RouteType {
    /// As the kernel numbers it (the route's type; a rule's FR_ACT_*
    /// action has the same numbers for these four).
    fn rtn(self) -> Rtn {
        match self {
            RouteType::Unicast => Rtn::Unicast,
            RouteType::Blackhole => Rtn::Blackhole,
            RouteType::Unreachable => Rtn::Unreachable,
            RouteType::Prohibit => Rtn::Prohibit,
        }
    }
}

/// An address's bytes, as an attribute carries them.
fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// A route or rule attribute.
fn rta(t: Rta, v: Vec<u8>) -> io::Result<neli::rtnl::Rtattr<Rta, Buffer>> {
    RtattrBuilder::default().rta_type(t).rta_payload(Buffer::from(v)).build().map_err(io_err)
}

/// The header's table byte: the table when it fits, else unspecified (the
/// table attribute says it).
fn header_table(table: Option<u32>) -> RtTable {
    match table {
        Some(t) if t < 256 => RtTable::from(t as u8),
        _ => RtTable::Unspec,
    }
}

/// The protocol number keepalived marks its routes with (iproute2's
/// `rt_protos`: "keepalived"): `ip route show proto keepalived` lists them.
pub const RTPROT_KEEPALIVED: u8 = 18;

/// `onlink` (linux/rtnetlink.h; not in the libc crate).
const RTNH_F_ONLINK: u32 = 4;

pub struct Rtnl {
    sock: NlSocketHandle,
    seq: u32,
}

fn io_err(e: impl fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// An attribute of type `ty` with `inner` nested in it.
fn nested<T: neli::consts::rtnl::RtaType, I: neli::consts::rtnl::RtaType>(
    ty: T,
    inner: &neli::rtnl::Rtattr<I, Buffer>,
) -> io::Result<neli::rtnl::Rtattr<T, Buffer>> {
    RtattrBuilder::default()
        .rta_type(ty)
        .rta_payload(Buffer::new())
        .build()
        .map_err(io_err)?
        .nest(inner)
        .map_err(io_err)
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        let sock = NlSocketHandle::connect(NlFamily::Route, None, Groups::empty()).map_err(io_err)?;
        Ok(Rtnl { sock, seq: 0 })
    }

    fn send<P: neli::Size + neli::ToBytes + std::fmt::Debug>(
        &mut self,
        ty: Rtm,
        flags: NlmF,
        msg: P,
    ) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let hdr = NlmsghdrBuilder::default()
            .nl_type(ty)
            .nl_flags(NlmF::REQUEST | flags)
            .nl_seq(self.seq)
            .nl_payload(NlPayload::Payload(msg))
            .build()
            .map_err(io_err)?;
        self.sock.send(&hdr).map_err(io_err)?;
        Ok(self.seq)
    }

    /// Every link, in kernel index order.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let msg = IfinfomsgBuilder::default().ifi_family(RtAddrFamily::Unspecified).build().map_err(io_err)?;
        let seq = self.send(Rtm::Getlink, NlmF::DUMP, msg)?;
        let mut out = Vec::new();
        self.dump::<Ifinfomsg>(seq, |info| out.push(parse_link(info)))?;
        Ok(out)
    }

    /// Receives the replies to a dump request until NLMSG_DONE, handing each
    /// payload to `each`.
    fn dump<P>(&mut self, seq: u32, mut each: impl FnMut(&P)) -> io::Result<()>
    where
        P: neli::Size + neli::FromBytesWithInput<Input = usize> + std::fmt::Debug,
    {
        loop {
            let (msgs, _) = self.sock.recv::<Rtm, P>().map_err(io_err)?;
            for m in msgs {
                let m = m.map_err(io_err)?;
                if *m.nl_seq() != seq {
                    continue;
                }
                if u16::from(*m.nl_type()) == u16::from(Nlmsg::Done) {
                    return Ok(());
                }
                match m.nl_payload() {
                    NlPayload::Payload(p) => each(p),
                    NlPayload::Err(e) => return Err(io::Error::from_raw_os_error(-*e.error())),
                    _ => {}
                }
            }
        }
    }

    /// Sets `flags` within `mask` on a link (like `ip link set dev X up multicast on`).
    pub fn set_flags(&mut self, index: i32, flags: u32, mask: u32) -> io::Result<()> {
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .ifi_index(index)
            .ifi_flags(Iff::from_bits_retain(flags))
            .ifi_change(Iff::from_bits_retain(mask))
            .build()
            .map_err(io_err)?;
        let seq = self.send(Rtm::Newlink, NlmF::ACK, msg)?;
        self.wait_ack(seq)
    }

    /// Addresses on a link: (address, prefix length).
    pub fn addresses(&mut self, index: i32) -> io::Result<Vec<(IpAddr, u8)>> {
        let all = self.all_addresses()?;
        Ok(all.into_iter().filter(|a| a.0 == index).map(|(_, ip, p)| (ip, p)).collect())
    }

    /// Every address on every link, in one dump: (link index, address, prefix length).
    pub fn all_addresses(&mut self) -> io::Result<Vec<(i32, IpAddr, u8)>> {
        let msg = IfaddrmsgBuilder::default()
            .ifa_family(RtAddrFamily::Unspecified)
            .ifa_prefixlen(0)
            .ifa_scope(RtScope::Universe)
            .ifa_index(0)
            .build()
            .map_err(io_err)?;
        let seq = self.send(Rtm::Getaddr, NlmF::DUMP, msg)?;
        let mut out = Vec::new();
        self.dump::<Ifaddrmsg>(seq, |a| {
            let want = if *a.ifa_family() == RtAddrFamily::Inet { Ifa::Local } else { Ifa::Address };
            for attr in a.rtattrs().iter() {
                if *attr.rta_type() == want
                    && let Some(ip) = ip_from(attr.rta_payload().as_ref())
                {
                    out.push((*a.ifa_index() as i32, ip, *a.ifa_prefixlen()));
                }
            }
        })?;
        Ok(out)
    }

    /// Adds (`add`) or removes an address, like `ip addr add|del A/P dev X`.
    /// IPv6 addresses skip duplicate address detection (usable at once).
    pub fn change_address(&mut self, index: i32, addr: IpAddr, prefix: u8, add: bool) -> io::Result<()> {
        self.change_address_with(index, &Address::new(addr, prefix), add)
    }

    /// As `change_address`, with everything `ip address add` takes:
    /// label, broadcast, scope, peer, flags, preferred lifetime.
    pub fn change_address_with(&mut self, index: i32, a: &Address<'_>, add: bool) -> io::Result<()> {
        const IFA_FLAGS: u16 = 8;
        const IFA_F_NODAD: u32 = 0x02;
        let (family, bytes) = match a.addr {
            IpAddr::V4(v) => (RtAddrFamily::Inet, v.octets().to_vec()),
            IpAddr::V6(v) => (RtAddrFamily::Inet6, v.octets().to_vec()),
        };
        let mut attrs = RtBuffer::new();
        let attr = |t: Ifa, v: Vec<u8>| RtattrBuilder::default().rta_type(t).rta_payload(Buffer::from(v)).build();
        attrs.push(attr(Ifa::Local, bytes.clone()).map_err(io_err)?);
        // With a peer, IFA_ADDRESS is the other end (and the prefix is its).
        let (address, prefix) = match a.peer {
            Some((p, len)) => (octets(p), len),
            None => (bytes, a.prefix),
        };
        attrs.push(attr(Ifa::Address, address).map_err(io_err)?);
        if let Some(l) = a.label {
            let mut l = l.as_bytes().to_vec();
            l.push(0);
            attrs.push(attr(Ifa::Label, l).map_err(io_err)?);
        }
        if let Some(b) = a.brd {
            attrs.push(attr(Ifa::Broadcast, b.octets().to_vec()).map_err(io_err)?);
        }
        let flags = if a.addr.is_ipv6() { a.flags | IFA_F_NODAD } else { a.flags };
        if add && flags > 0xff {
            attrs.push(attr(Ifa::from(IFA_FLAGS), flags.to_ne_bytes().to_vec()).map_err(io_err)?);
        }
        if add && a.preferred_lft != u32::MAX {
            // struct ifa_cacheinfo: preferred, valid (forever), and two
            // timestamps the kernel fills.
            let mut ci = a.preferred_lft.to_ne_bytes().to_vec();
            ci.extend_from_slice(&u32::MAX.to_ne_bytes());
            ci.extend_from_slice(&[0; 8]);
            attrs.push(attr(Ifa::Cacheinfo, ci).map_err(io_err)?);
        }
        let msg = IfaddrmsgBuilder::default()
            .ifa_family(family)
            .ifa_prefixlen(prefix)
            .ifa_flags(IfaF::from_bits_retain(flags as u8))
            .ifa_scope(RtScope::from(a.scope))
            .ifa_index(index as u32)
            .rtattrs(attrs)
            .build()
            .map_err(io_err)?;
        let (ty, flags) =
            if add { (Rtm::Newaddr, NlmF::ACK | NlmF::CREATE | NlmF::EXCL) } else { (Rtm::Deladdr, NlmF::ACK) };
        let seq = self.send(ty, flags, msg)?;
        self.wait_ack(seq)
    }

    /// Adds (`add`) or removes a route, like `ip route add|del`. Adding
    /// a route that is there already is EEXIST; removing one that is not,
    /// ESRCH.
    pub fn change_route(&mut self, r: &Route, add: bool) -> io::Result<()> {
        let family = if r.dst.is_ipv6() { RtAddrFamily::Inet6 } else { RtAddrFamily::Inet };
        let mut attrs = RtBuffer::new();
        if r.prefix > 0 {
            attrs.push(rta(Rta::Dst, octets(r.dst))?);
        }
        if let Some(g) = r.via {
            attrs.push(rta(Rta::Gateway, octets(g))?);
        }
        if let Some(i) = r.oif {
            attrs.push(rta(Rta::Oif, (i as u32).to_ne_bytes().to_vec())?);
        }
        if let Some(s) = r.src {
            attrs.push(rta(Rta::Prefsrc, octets(s))?);
        }
        if let Some(m) = r.metric {
            attrs.push(rta(Rta::Priority, m.to_ne_bytes().to_vec())?);
        }
        const RTA_METRICS: u16 = 8;
        const RTA_MULTIPATH: u16 = 9;
        const RTA_FLOW: u16 = 11;
        const RTA_PREF: u16 = 20;
        const RTAX_LOCK: u16 = 1;
        if let Some(f) = r.realms {
            attrs.push(rta(Rta::from(RTA_FLOW), f.to_ne_bytes().to_vec())?);
        }
        if let Some(p) = r.pref {
            attrs.push(rta(Rta::from(RTA_PREF), vec![p])?);
        }
        if !r.metrics.is_empty() {
            // A nest of RTAX_* u32 attributes (and RTAX_LOCK: a bit per
            // locked metric), written out by hand: header, value, no padding
            // needed (4-byte values).
            let mut nest = Vec::new();
            let mut push = |kind: u16, v: u32| {
                nest.extend_from_slice(&8u16.to_ne_bytes());
                nest.extend_from_slice(&kind.to_ne_bytes());
                nest.extend_from_slice(&v.to_ne_bytes());
            };
            let locks = r
                .metrics
                .iter()
                .filter(|m| m.2)
                .fold(0u32, |acc, m| acc | 1u32.checked_shl(u32::from(m.0)).unwrap_or(0));
            if locks != 0 {
                push(RTAX_LOCK, locks);
            }
            for (kind, v, _) in &r.metrics {
                push(*kind, *v);
            }
            attrs.push(rta(Rta::from(RTA_METRICS), nest)?);
        }
        if !r.nexthops.is_empty() {
            // struct rtnexthop { len u16, flags u8, hops u8 (weight - 1),
            // ifindex i32 } followed by its gateway attribute, per hop.
            let mut mp = Vec::new();
            for (via, oif, weight, onlink) in &r.nexthops {
                let gw = via.map(octets).unwrap_or_default();
                let gw_len = if gw.is_empty() { 0 } else { 4 + gw.len() };
                let len = 8 + gw_len;
                mp.extend_from_slice(&(len as u16).to_ne_bytes());
                mp.push(if *onlink { RTNH_F_ONLINK as u8 } else { 0 });
                mp.push(weight.saturating_sub(1).min(255) as u8);
                mp.extend_from_slice(&oif.unwrap_or(0).to_ne_bytes());
                if !gw.is_empty() {
                    mp.extend_from_slice(&(gw_len as u16).to_ne_bytes());
                    mp.extend_from_slice(&libc::RTA_GATEWAY.to_ne_bytes());
                    mp.extend_from_slice(&gw);
                }
            }
            attrs.push(rta(Rta::from(RTA_MULTIPATH), mp)?);
        }
        let table = r.table.unwrap_or(254);
        attrs.push(rta(Rta::Table, table.to_ne_bytes().to_vec())?);
        let kind = r.kind.rtn();
        let scope = match r.scope {
            Some(s) => RtScope::from(s),
            None if r.kind == RouteType::Unicast && r.via.is_none() && r.nexthops.is_empty() => RtScope::Link,
            None => RtScope::Universe,
        };
        let msg = RtmsgBuilder::default()
            .rtm_family(family)
            .rtm_dst_len(r.prefix)
            .rtm_src_len(0)
            .rtm_tos(r.tos)
            // Tables past 255 go in RTA_TABLE (given for every table).
            .rtm_table(header_table(Some(table)))
            .rtm_protocol(Rtprot::from(r.protocol.unwrap_or(RTPROT_KEEPALIVED)))
            .rtm_scope(scope)
            .rtm_type(kind)
            .rtm_flags(if r.onlink { RtmF::from_bits_retain(RTNH_F_ONLINK) } else { RtmF::empty() })
            .rtattrs(attrs)
            .build()
            .map_err(io_err)?;
        let (ty, flags) = match (add, r.append) {
            (true, false) => (Rtm::Newroute, NlmF::ACK | NlmF::CREATE | NlmF::EXCL),
            (true, true) => (Rtm::Newroute, NlmF::ACK | NlmF::CREATE | NlmF::APPEND),
            (false, _) => (Rtm::Delroute, NlmF::ACK),
        };
        let seq = self.send(ty, flags, msg)?;
        self.wait_ack(seq)
    }

    /// Adds (`add`) or removes a rule, like `ip rule add|del`. The rule
    /// header (`struct fib_rule_hdr`) has rtmsg's layout: family, lengths,
    /// tos, table, two reserved bytes, the action (FR_ACT_* share the
    /// RTN_* numbers vigil uses: to-table 1, blackhole 6, unreachable 7,
    /// prohibit 8) and flags; FRA_* attributes.
    pub fn change_rule(&mut self, r: &Rule, add: bool) -> io::Result<()> {
        const FRA_DST: u16 = 1;
        const FRA_SRC: u16 = 2;
        const FRA_IIFNAME: u16 = 3;
        const FRA_PRIORITY: u16 = 6;
        const FRA_FWMARK: u16 = 10;
        const FRA_TABLE: u16 = 15;
        const FRA_FWMASK: u16 = 16;
        const FRA_OIFNAME: u16 = 17;
        const FRA_PROTOCOL: u16 = 21;
        const FIB_RULE_INVERT: u32 = 2;
        // FRA_* share the attribute header with RTA_*.
        let attr = |t: u16, v: Vec<u8>| rta(Rta::from(t), v);
        let name = |n: &str| {
            let mut v = n.as_bytes().to_vec();
            v.push(0);
            v
        };
        let mut attrs = RtBuffer::new();
        if let Some((a, _)) = r.to {
            attrs.push(attr(FRA_DST, octets(a))?);
        }
        if let Some((a, _)) = r.from {
            attrs.push(attr(FRA_SRC, octets(a))?);
        }
        if let Some(i) = &r.iif {
            attrs.push(attr(FRA_IIFNAME, name(i))?);
        }
        if let Some(o) = &r.oif {
            attrs.push(attr(FRA_OIFNAME, name(o))?);
        }
        if let Some(p) = r.priority {
            attrs.push(attr(FRA_PRIORITY, p.to_ne_bytes().to_vec())?);
        }
        if let Some((m, mask)) = r.fwmark {
            attrs.push(attr(FRA_FWMARK, m.to_ne_bytes().to_vec())?);
            if let Some(k) = mask {
                attrs.push(attr(FRA_FWMASK, k.to_ne_bytes().to_vec())?);
            }
        }
        if let Some(t) = r.table {
            attrs.push(attr(FRA_TABLE, t.to_ne_bytes().to_vec())?);
        }
        const FRA_GOTO: u16 = 4;
        const FRA_FLOW: u16 = 11;
        const FRA_SUPPRESS_IFGROUP: u16 = 13;
        const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
        const FRA_L3MDEV: u16 = 19;
        const FRA_UID_RANGE: u16 = 20;
        const FRA_IP_PROTO: u16 = 22;
        const FRA_SPORT_RANGE: u16 = 23;
        const FRA_DPORT_RANGE: u16 = 24;
        const FR_ACT_GOTO: u8 = 2;
        if let Some(g) = r.goto {
            attrs.push(attr(FRA_GOTO, g.to_ne_bytes().to_vec())?);
        }
        if let Some(f) = r.realms {
            attrs.push(attr(FRA_FLOW, f.to_ne_bytes().to_vec())?);
        }
        if let Some(g) = r.suppress_ifgroup {
            attrs.push(attr(FRA_SUPPRESS_IFGROUP, g.to_ne_bytes().to_vec())?);
        }
        if let Some(p) = r.suppress_prefixlength {
            attrs.push(attr(FRA_SUPPRESS_PREFIXLEN, p.to_ne_bytes().to_vec())?);
        }
        if r.l3mdev {
            attrs.push(attr(FRA_L3MDEV, vec![1])?);
        }
        if let Some((a, b)) = r.uidrange {
            attrs.push(attr(FRA_UID_RANGE, [a.to_ne_bytes(), b.to_ne_bytes()].concat())?);
        }
        if let Some(p) = r.ip_proto {
            attrs.push(attr(FRA_IP_PROTO, vec![p])?);
        }
        for (t, range) in [(FRA_SPORT_RANGE, r.sport), (FRA_DPORT_RANGE, r.dport)] {
            if let Some((a, b)) = range {
                attrs.push(attr(t, [a.to_ne_bytes(), b.to_ne_bytes()].concat())?);
            }
        }
        if add {
            attrs.push(attr(FRA_PROTOCOL, vec![r.protocol.unwrap_or(RTPROT_KEEPALIVED)])?);
        }
        let kind = if r.goto.is_some() { Rtn::from(FR_ACT_GOTO) } else { r.kind.rtn() };
        let msg = RtmsgBuilder::default()
            .rtm_family(if r.v6 { RtAddrFamily::Inet6 } else { RtAddrFamily::Inet })
            .rtm_dst_len(r.to.map_or(0, |t| t.1))
            .rtm_src_len(r.from.map_or(0, |f| f.1))
            .rtm_tos(r.tos)
            .rtm_table(header_table(r.table))
            .rtm_protocol(Rtprot::Unspec)
            .rtm_scope(RtScope::Universe)
            .rtm_type(kind)
            .rtm_flags(if r.invert { RtmF::from_bits_retain(FIB_RULE_INVERT) } else { RtmF::empty() })
            .rtattrs(attrs)
            .build()
            .map_err(io_err)?;
        let (ty, flags) =
            if add { (Rtm::Newrule, NlmF::ACK | NlmF::CREATE | NlmF::EXCL) } else { (Rtm::Delrule, NlmF::ACK) };
        let seq = self.send(ty, flags, msg)?;
        self.wait_ack(seq)
    }

    pub fn set_mtu(&mut self, index: i32, mtu: u32) -> io::Result<()> {
        let mtu = RtattrBuilder::default().rta_type(Ifla::Mtu).rta_payload(Buffer::from(mtu.to_ne_bytes().to_vec()));
        self.set_link_attr(index, mtu.build().map_err(io_err)?)
    }

    /// Sets one attribute of a link (RTM_NEWLINK on an existing index).
    fn set_link_attr(&mut self, index: i32, attr: neli::rtnl::Rtattr<Ifla, Buffer>) -> io::Result<()> {
        let mut attrs = RtBuffer::new();
        attrs.push(attr);
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .ifi_index(index)
            .rtattrs(attrs)
            .build()
            .map_err(io_err)?;
        let seq = self.send(Rtm::Newlink, NlmF::ACK, msg)?;
        self.wait_ack(seq)
    }

    /// Creates an 802.1Q VLAN link `name` on `parent`, like `ip link add
    /// link PARENT name NAME type vlan id ID`.
    pub fn add_vlan(&mut self, parent: i32, name: &str, id: u16) -> io::Result<()> {
        let vlan_id = RtattrBuilder::default().rta_type(IflaVlan::Id).rta_payload(id).build().map_err(io_err)?;
        self.add_link(parent, name, "vlan", nested(IflaInfo::Data, &vlan_id)?, None)
    }

    /// Creates a macvlan link `name` on `parent` with address `mac`, in
    /// private mode (macvlans on one parent do not talk to each other), like
    /// `ip link add link PARENT name NAME address MAC type macvlan mode private`.
    pub fn add_macvlan(&mut self, parent: i32, name: &str, mac: [u8; 6]) -> io::Result<()> {
        const IFLA_MACVLAN_MODE: u16 = 1;
        const MACVLAN_MODE_PRIVATE: u32 = 1;
        let mode = RtattrBuilder::default()
            .rta_type(IflaVlan::from(IFLA_MACVLAN_MODE))
            .rta_payload(MACVLAN_MODE_PRIVATE)
            .build()
            .map_err(io_err)?;
        let addr = RtattrBuilder::default()
            .rta_type(Ifla::Address)
            .rta_payload(Buffer::from(mac.to_vec()))
            .build()
            .map_err(io_err)?;
        self.add_link(parent, name, "macvlan", nested(IflaInfo::Data, &mode)?, Some(addr))
    }

    /// Adds an L2 ipvlan `name` on `parent` (the parent's MAC; the kernel
    /// hands it the packets for its own addresses) with IFLA_IPVLAN_FLAGS
    /// `flags` (0 bridge, 1 private, 2 vepa).
    pub fn add_ipvlan(&mut self, parent: i32, name: &str, flags: u16) -> io::Result<()> {
        const IFLA_IPVLAN_MODE: u16 = 1;
        const IFLA_IPVLAN_FLAGS: u16 = 2;
        const IPVLAN_MODE_L2: u16 = 0;
        let attr = |ty: u16, v: u16| {
            RtattrBuilder::default().rta_type(IflaVlan::from(ty)).rta_payload(v).build().map_err(io_err)
        };
        let data = nested(IflaInfo::Data, &attr(IFLA_IPVLAN_MODE, IPVLAN_MODE_L2)?)?
            .nest(&attr(IFLA_IPVLAN_FLAGS, flags)?)
            .map_err(io_err)?;
        self.add_link(parent, name, "ipvlan", data, None)
    }

    /// A link of `kind` on `parent`, with its IFLA_INFO_DATA (nested).
    fn add_link(
        &mut self,
        parent: i32,
        name: &str,
        kind: &str,
        data: neli::rtnl::Rtattr<IflaInfo, Buffer>,
        extra: Option<neli::rtnl::Rtattr<Ifla, Buffer>>,
    ) -> io::Result<()> {
        let kind = RtattrBuilder::default()
            .rta_type(IflaInfo::Kind)
            .rta_payload(Buffer::from(kind.as_bytes().to_vec()))
            .build()
            .map_err(io_err)?;
        let info = nested(Ifla::Linkinfo, &kind)?.nest(&data).map_err(io_err)?;
        let mut attrs = RtBuffer::new();
        attrs.push(
            RtattrBuilder::default()
                .rta_type(Ifla::Link)
                .rta_payload(Buffer::from((parent as u32).to_ne_bytes().to_vec()))
                .build()
                .map_err(io_err)?,
        );
        let mut ifname = name.as_bytes().to_vec();
        ifname.push(0);
        attrs.push(
            RtattrBuilder::default()
                .rta_type(Ifla::Ifname)
                .rta_payload(Buffer::from(ifname))
                .build()
                .map_err(io_err)?,
        );
        if let Some(x) = extra {
            attrs.push(x);
        }
        attrs.push(info);
        let msg =
            IfinfomsgBuilder::default().ifi_family(RtAddrFamily::Unspecified).rtattrs(attrs).build().map_err(io_err)?;
        let seq = self.send(Rtm::Newlink, NlmF::ACK | NlmF::CREATE | NlmF::EXCL, msg)?;
        self.wait_ack(seq)
    }

    /// No IPv6 link-local address of its own (`ip link set NAME addrgenmode
    /// none`); set while the link is down.
    pub fn set_addr_gen_mode_none(&mut self, index: i32) -> io::Result<()> {
        const IFLA_INET6_ADDR_GEN_MODE: u16 = 8;
        const IN6_ADDR_GEN_MODE_NONE: u8 = 1;
        let mode = RtattrBuilder::default()
            .rta_type(Ifla::from(IFLA_INET6_ADDR_GEN_MODE))
            .rta_payload(IN6_ADDR_GEN_MODE_NONE)
            .build()
            .map_err(io_err)?;
        let inet6 = nested(Ifla::from(libc::AF_INET6 as u16), &mode)?;
        self.set_link_attr(index, nested(Ifla::AfSpec, &inet6)?)
    }

    pub fn delete_link(&mut self, index: i32) -> io::Result<()> {
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .ifi_index(index)
            .build()
            .map_err(io_err)?;
        let seq = self.send(Rtm::Dellink, NlmF::ACK, msg)?;
        self.wait_ack(seq)
    }

    fn wait_ack(&mut self, seq: u32) -> io::Result<()> {
        loop {
            // The payload as bytes: an error echoes the request it answers
            // (an rtmsg, an ifaddrmsg, ...), and read as any one type the
            // others fail to parse, the errno lost ("Deserialization error"
            // where EEXIST was meant, and an EEXIST that is fine warned of).
            let (msgs, _) = self.sock.recv::<Rtm, Buffer>().map_err(io_err)?;
            for m in msgs {
                let m = m.map_err(io_err)?;
                if *m.nl_seq() != seq {
                    continue;
                }
                match m.nl_payload() {
                    NlPayload::Ack(_) => return Ok(()),
                    NlPayload::Err(e) => return Err(io::Error::from_raw_os_error(-*e.error())),
                    _ => {}
                }
            }
        }
    }
}

fn ip_from(b: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::from(a));
    }
    <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
}

fn parse_link(info: &Ifinfomsg) -> Link {
    let mut link =
        Link { index: *info.ifi_index(), name: String::new(), flags: info.ifi_flags().bits(), mtu: 0, mac: None };
    for attr in info.rtattrs().iter() {
        let p: &[u8] = attr.rta_payload().as_ref();
        match *attr.rta_type() {
            Ifla::Ifname => {
                let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
                link.name = String::from_utf8_lossy(&p[..end]).into_owned();
            }
            Ifla::Mtu => {
                if let Ok(b) = <[u8; 4]>::try_from(p) {
                    link.mtu = u32::from_ne_bytes(b);
                }
            }
            Ifla::Address => link.mac = <[u8; 6]>::try_from(p).ok(),
            _ => {}
        }
    }
    link
}
