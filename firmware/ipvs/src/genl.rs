//! The kernel's `IPVS` generic netlink family (include/uapi/linux/ip_vs.h):
//! commands, attributes, and the conversion between them and [`Service`] /
//! [`Dest`]. Attribute payloads are built and read as bytes, in the byte
//! order the kernel uses for each (ports big-endian, the rest native).

use crate::table::{Counters, Dest, DestKey, Forward, Proto, Service, ServiceKey, TunnelType};
use neli::genl::{AttrTypeBuilder, Nlattr, NlattrBuilder};
use neli::types::{Buffer, GenlBuffer};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const FAMILY: &str = "IPVS";
pub const VERSION: u8 = 1;

pub mod cmd {
    pub const NEW_SERVICE: u8 = 1;
    pub const SET_SERVICE: u8 = 2;
    pub const DEL_SERVICE: u8 = 3;
    pub const GET_SERVICE: u8 = 4;
    pub const NEW_DEST: u8 = 5;
    pub const SET_DEST: u8 = 6;
    pub const DEL_DEST: u8 = 7;
    pub const GET_DEST: u8 = 8;
    pub const NEW_DAEMON: u8 = 9;
    pub const DEL_DAEMON: u8 = 10;
    pub const GET_DAEMON: u8 = 11;
    pub const SET_CONFIG: u8 = 12;
    pub const GET_CONFIG: u8 = 13;
    pub const GET_INFO: u8 = 15;
    pub const FLUSH: u8 = 17;
}

/// IPVS_CMD_ATTR_*.
pub mod attr {
    pub const SERVICE: u16 = 1;
    pub const DEST: u16 = 2;
    pub const DAEMON: u16 = 3;
    pub const TIMEOUT_TCP: u16 = 4;
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    pub const TIMEOUT_UDP: u16 = 6;
}

/// IPVS_SVC_ATTR_*.
mod svc {
    pub const AF: u16 = 1;
    pub const PROTOCOL: u16 = 2;
    pub const ADDR: u16 = 3;
    pub const PORT: u16 = 4;
    pub const FWMARK: u16 = 5;
    pub const SCHED_NAME: u16 = 6;
    pub const FLAGS: u16 = 7;
    pub const TIMEOUT: u16 = 8;
    pub const NETMASK: u16 = 9;
    pub const STATS: u16 = 10;
    pub const PE_NAME: u16 = 11;
    pub const STATS64: u16 = 12;
}

/// IPVS_DEST_ATTR_*.
mod dest {
    pub const ADDR: u16 = 1;
    pub const PORT: u16 = 2;
    pub const FWD_METHOD: u16 = 3;
    pub const WEIGHT: u16 = 4;
    pub const U_THRESH: u16 = 5;
    pub const L_THRESH: u16 = 6;
    pub const ACTIVE_CONNS: u16 = 7;
    pub const INACT_CONNS: u16 = 8;
    pub const STATS: u16 = 9;
    pub const ADDR_FAMILY: u16 = 11;
    pub const STATS64: u16 = 12;
    pub const TUN_TYPE: u16 = 13;
    pub const TUN_PORT: u16 = 14;
    pub const TUN_FLAGS: u16 = 15;
}

/// IPVS_STATS_ATTR_*, nested in a service's or a destination's STATS
/// (32-bit counts, 64-bit bytes) and STATS64 (all 64-bit).
mod stats {
    pub const CONNS: u16 = 1;
    pub const INPKTS: u16 = 2;
    pub const OUTPKTS: u16 = 3;
    pub const INBYTES: u16 = 4;
    pub const OUTBYTES: u16 = 5;
}

/// IPVS_DAEMON_ATTR_*.
pub mod daemon {
    pub const STATE: u16 = 1;
    pub const MCAST_IFN: u16 = 2;
    pub const SYNC_ID: u16 = 3;
    /// IP_VS_STATE_MASTER / _BACKUP.
    pub const MASTER: u32 = 1;
    pub const BACKUP: u32 = 2;
}

/// IPVS_INFO_ATTR_*.
pub mod info {
    pub const VERSION: u16 = 1;
    pub const CONN_TAB_SIZE: u16 = 2;
}

pub type Attr = Nlattr<u16, Buffer>;
pub type Attrs = GenlBuffer<u16, Buffer>;

#[derive(Debug)]
pub struct EncodeError(pub String);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "building a netlink message: {}", self.0)
    }
}

fn err(e: impl std::fmt::Display) -> EncodeError {
    EncodeError(e.to_string())
}

/// An attribute with these bytes as its payload.
pub fn bytes(ty: u16, payload: &[u8]) -> Result<Attr, EncodeError> {
    NlattrBuilder::default()
        .nla_type(AttrTypeBuilder::default().nla_type(ty).build().map_err(err)?)
        .nla_payload(Buffer::from(payload.to_vec()))
        .build()
        .map_err(err)
}

pub fn u32_attr(ty: u16, v: u32) -> Result<Attr, EncodeError> {
    bytes(ty, &v.to_ne_bytes())
}

/// A NUL-terminated string (the kernel's NLA_NUL_STRING).
pub fn str_attr(ty: u16, s: &str) -> Result<Attr, EncodeError> {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    bytes(ty, &b)
}

/// A nested attribute holding `inner`.
pub fn nested(ty: u16, inner: &[Attr]) -> Result<Attr, EncodeError> {
    let mut a = NlattrBuilder::default()
        .nla_type(AttrTypeBuilder::default().nla_type(ty).nla_nested(true).build().map_err(err)?)
        .nla_payload(Buffer::new())
        .build()
        .map_err(err)?;
    for i in inner {
        a = a.nest(i).map_err(err)?;
    }
    Ok(a)
}

/// `union nf_inet_addr`: 16 bytes, an IPv4 address in the first four.
fn inet_addr(a: IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match a {
        IpAddr::V4(v4) => b[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => b = v6.octets(),
    }
    b
}

fn af(v6: bool) -> u16 {
    if v6 { libc::AF_INET6 as u16 } else { libc::AF_INET as u16 }
}

/// IPVS_CMD_ATTR_SERVICE identifying a service (for delete, get, dests).
pub fn service_key(k: &ServiceKey) -> Result<Attr, EncodeError> {
    nested(attr::SERVICE, &key_attrs(k)?)
}

fn key_attrs(k: &ServiceKey) -> Result<Vec<Attr>, EncodeError> {
    let mut v = vec![bytes(svc::AF, &af(k.is_ipv6()).to_ne_bytes())?];
    match k {
        ServiceKey::Addr { proto, addr, port } => {
            v.push(bytes(svc::PROTOCOL, &proto.number().to_ne_bytes())?);
            v.push(bytes(svc::ADDR, &inet_addr(*addr))?);
            v.push(bytes(svc::PORT, &port.to_be_bytes())?);
        }
        ServiceKey::Fwmark { mark, .. } => v.push(u32_attr(svc::FWMARK, *mark)?),
    }
    Ok(v)
}

/// IPVS_CMD_ATTR_SERVICE with every setting (for new and set).
pub fn service(s: &Service) -> Result<Attr, EncodeError> {
    let mut v = key_attrs(&s.key)?;
    v.push(str_attr(svc::SCHED_NAME, &s.scheduler)?);
    let mut flags = s.flags;
    if s.timeout > 0 {
        flags |= crate::table::flags::PERSISTENT;
    }
    // struct ip_vs_flags { flags; mask; }
    let mut f = flags.to_ne_bytes().to_vec();
    f.extend_from_slice(&crate::table::flags::SETTABLE.to_ne_bytes());
    v.push(bytes(svc::FLAGS, &f)?);
    v.push(u32_attr(svc::TIMEOUT, s.timeout)?);
    v.push(bytes(svc::NETMASK, &netmask(s.key.is_ipv6(), s.netmask_prefix))?);
    if let Some(pe) = &s.pe_name {
        v.push(str_attr(svc::PE_NAME, pe)?);
    }
    nested(attr::SERVICE, &v)
}

/// The persistence netmask as the kernel reads it: an IPv4 mask in network
/// order, or an IPv6 prefix length as a native u32.
fn netmask(v6: bool, prefix: u8) -> [u8; 4] {
    if v6 {
        u32::from(prefix.min(128)).to_ne_bytes()
    } else {
        let p = u32::from(prefix.min(32));
        let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
        mask.to_be_bytes()
    }
}

/// IPVS_CMD_ATTR_DEST with every setting.
pub fn dest(d: &Dest) -> Result<Attr, EncodeError> {
    let mut v = vec![
        bytes(dest::ADDR_FAMILY, &af(d.key.addr.is_ipv6()).to_ne_bytes())?,
        bytes(dest::ADDR, &inet_addr(d.key.addr))?,
        bytes(dest::PORT, &d.key.port.to_be_bytes())?,
        u32_attr(dest::FWD_METHOD, d.forward.code())?,
        u32_attr(dest::WEIGHT, d.weight)?,
        u32_attr(dest::U_THRESH, d.u_threshold)?,
        u32_attr(dest::L_THRESH, d.l_threshold)?,
    ];
    if d.forward == Forward::Tunnel {
        let (ty, port) = match d.tunnel {
            TunnelType::Ipip => (0u8, 0u16),
            TunnelType::Gue(p) => (1, p),
            TunnelType::Gre => (2, 0),
        };
        v.push(bytes(dest::TUN_TYPE, &[ty])?);
        if ty == 1 {
            v.push(bytes(dest::TUN_PORT, &port.to_be_bytes())?);
        }
        if ty != 0 {
            v.push(bytes(dest::TUN_FLAGS, &d.tun_flags.to_ne_bytes())?);
        }
    }
    nested(attr::DEST, &v)
}

/// IPVS_CMD_ATTR_DEST identifying a destination (for delete).
pub fn dest_key(k: &DestKey) -> Result<Attr, EncodeError> {
    nested(
        attr::DEST,
        &[
            bytes(dest::ADDR_FAMILY, &af(k.addr.is_ipv6()).to_ne_bytes())?,
            bytes(dest::ADDR, &inet_addr(k.addr))?,
            bytes(dest::PORT, &k.port.to_be_bytes())?,
        ],
    )
}

/// The attributes nested in `a`, by type (the last of a type wins).
pub fn children(a: &Attr) -> Vec<(u16, Vec<u8>)> {
    match a.get_attr_handle::<u16>() {
        Ok(h) => h.get_attrs().iter().map(|x| (*x.nla_type().nla_type(), x.nla_payload().as_ref().to_vec())).collect(),
        Err(_) => Vec::new(),
    }
}

fn find(attrs: &[(u16, Vec<u8>)], ty: u16) -> Option<&[u8]> {
    attrs.iter().rev().find(|(t, _)| *t == ty).map(|(_, p)| p.as_slice())
}

pub fn get_u32(attrs: &[(u16, Vec<u8>)], ty: u16) -> Option<u32> {
    find(attrs, ty).and_then(|b| b.get(..4)).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

fn get_u16(attrs: &[(u16, Vec<u8>)], ty: u16) -> Option<u16> {
    find(attrs, ty).and_then(|b| b.get(..2)).map(|b| u16::from_ne_bytes([b[0], b[1]]))
}

fn get_be16(attrs: &[(u16, Vec<u8>)], ty: u16) -> Option<u16> {
    find(attrs, ty).and_then(|b| b.get(..2)).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn get_addr(attrs: &[(u16, Vec<u8>)], ty: u16, v6: bool) -> Option<IpAddr> {
    let b = find(attrs, ty)?;
    if v6 {
        Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b.get(..16)?).ok()?)))
    } else {
        Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b.get(..4)?).ok()?)))
    }
}

pub fn get_string(attrs: &[(u16, Vec<u8>)], ty: u16) -> Option<String> {
    let b = find(attrs, ty)?;
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    Some(String::from_utf8_lossy(&b[..end]).into_owned())
}

/// The attributes in a nested attribute's payload (`struct nlattr` each:
/// length, type, value, padded to 4 bytes); what does not fit is left.
fn nested_raw(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
        // NLA_F_NESTED and NLA_F_NET_BYTEORDER are flags, not the type.
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        let Some(value) = b.get(4..len) else { break };
        out.push((ty, value.to_vec()));
        b = b.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    out
}

fn get_u64(attrs: &[(u16, Vec<u8>)], ty: u16) -> Option<u64> {
    let b = find(attrs, ty)?;
    match b.len() {
        8.. => Some(u64::from_ne_bytes(b[..8].try_into().ok()?)),
        4.. => Some(u64::from(u32::from_ne_bytes(b[..4].try_into().ok()?))),
        _ => None,
    }
}

/// The counters of a service or destination: STATS64 where the kernel
/// sends it (since 4.1), else STATS; none: zero.
fn parse_counters(a: &[(u16, Vec<u8>)], stats64: u16, stats32: u16) -> Counters {
    let Some(nested) = find(a, stats64).or_else(|| find(a, stats32)) else { return Counters::default() };
    let s = nested_raw(nested);
    let g = |t| get_u64(&s, t).unwrap_or(0);
    Counters {
        connections: g(stats::CONNS),
        packets_in: g(stats::INPKTS),
        packets_out: g(stats::OUTPKTS),
        bytes_in: g(stats::INBYTES),
        bytes_out: g(stats::OUTBYTES),
    }
}

/// A service from the attributes nested in IPVS_CMD_ATTR_SERVICE.
pub fn parse_service(a: &[(u16, Vec<u8>)]) -> Option<Service> {
    let v6 = get_u16(a, svc::AF)? == libc::AF_INET6 as u16;
    let mark = get_u32(a, svc::FWMARK).unwrap_or(0);
    let key = if mark != 0 {
        ServiceKey::Fwmark { mark, v6 }
    } else {
        ServiceKey::Addr {
            proto: Proto::from_number(get_u16(a, svc::PROTOCOL)?)?,
            addr: get_addr(a, svc::ADDR, v6)?,
            port: get_be16(a, svc::PORT)?,
        }
    };
    let mut s = Service::new(key, &get_string(a, svc::SCHED_NAME).unwrap_or_default());
    s.flags = find(a, svc::FLAGS).and_then(|b| b.get(..4)).map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    s.timeout = get_u32(a, svc::TIMEOUT).unwrap_or(0);
    s.pe_name = get_string(a, svc::PE_NAME).filter(|n| !n.is_empty());
    s.stats = parse_counters(a, svc::STATS64, svc::STATS);
    if let Some(m) = find(a, svc::NETMASK).and_then(|b| <[u8; 4]>::try_from(b.get(..4)?).ok()) {
        s.netmask_prefix =
            if v6 { u32::from_ne_bytes(m).min(128) as u8 } else { u32::from_be_bytes(m).count_ones() as u8 };
    }
    Some(s)
}

/// A destination from the attributes nested in IPVS_CMD_ATTR_DEST; its
/// family is its own (ADDR_FAMILY), else the service's.
pub fn parse_dest(a: &[(u16, Vec<u8>)], service_v6: bool) -> Option<Dest> {
    let v6 = get_u16(a, dest::ADDR_FAMILY).map_or(service_v6, |f| f == libc::AF_INET6 as u16);
    let mut d = Dest::new(
        get_addr(a, dest::ADDR, v6)?,
        get_be16(a, dest::PORT)?,
        get_u32(a, dest::WEIGHT)?,
        Forward::from_code(get_u32(a, dest::FWD_METHOD)? & 0x7)?,
    );
    d.u_threshold = get_u32(a, dest::U_THRESH).unwrap_or(0);
    d.l_threshold = get_u32(a, dest::L_THRESH).unwrap_or(0);
    d.tunnel = match (find(a, dest::TUN_TYPE).and_then(|b| b.first().copied()), get_be16(a, dest::TUN_PORT)) {
        (Some(1), p) => TunnelType::Gue(p.unwrap_or(0)),
        (Some(2), _) => TunnelType::Gre,
        _ => TunnelType::Ipip,
    };
    d.tun_flags = get_u16(a, dest::TUN_FLAGS).unwrap_or(0);
    d.live = Some(Box::new(crate::table::DestLive {
        active: get_u32(a, dest::ACTIVE_CONNS).unwrap_or(0),
        inactive: get_u32(a, dest::INACT_CONNS).unwrap_or(0),
        stats: parse_counters(a, dest::STATS64, dest::STATS),
    }));
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_round_trips_through_its_attributes() {
        for key in [
            ServiceKey::Addr { proto: Proto::Tcp, addr: "192.0.2.10".parse().unwrap(), port: 80 },
            ServiceKey::Addr { proto: Proto::Udp, addr: "2001:db8::10".parse().unwrap(), port: 53 },
            ServiceKey::Fwmark { mark: 7, v6: false },
        ] {
            let mut s = Service::new(key, "wrr");
            s.timeout = 300;
            s.netmask_prefix = if key.is_ipv6() { 64 } else { 24 };
            let a = service(&s).unwrap();
            let back = parse_service(&children(&a)).unwrap();
            assert_eq!(back.key, key);
            assert!(back.same_settings(&s), "{back:?} vs {s:?}");
        }
    }

    #[test]
    fn ports_are_big_endian_and_ipv4_masks_network_order() {
        let s =
            Service::new(ServiceKey::Addr { proto: Proto::Tcp, addr: "10.0.0.1".parse().unwrap(), port: 0x1234 }, "rr");
        let a = children(&service(&s).unwrap());
        assert_eq!(find(&a, svc::PORT), Some(&[0x12, 0x34][..]));
        assert_eq!(find(&a, svc::ADDR).unwrap()[..4], [10, 0, 0, 1]);
        assert_eq!(netmask(false, 24), [255, 255, 255, 0]);
        assert_eq!(netmask(true, 64), 64u32.to_ne_bytes());
        assert_eq!(get_string(&a, svc::SCHED_NAME).as_deref(), Some("rr"));
        assert_eq!(find(&a, svc::SCHED_NAME).unwrap().last(), Some(&0), "NUL-terminated");
    }

    #[test]
    fn a_dest_round_trips() {
        let mut d = Dest::new("2001:db8::2".parse().unwrap(), 8080, 5, Forward::Route);
        d.u_threshold = 100;
        d.l_threshold = 10;
        // What the kernel counts comes back too (zero here).
        let back = parse_dest(&children(&dest(&d).unwrap()), true).unwrap();
        assert_eq!(back.live.as_deref(), Some(&Default::default()));
        assert_eq!(Dest { live: None, ..back }, d);
        let mut t = Dest::new("192.0.2.9".parse().unwrap(), 80, 1, Forward::Tunnel);
        t.tunnel = TunnelType::Gue(6080);
        let back = parse_dest(&children(&dest(&t).unwrap()), false).unwrap();
        assert_eq!(Dest { live: None, ..back }, t);
    }

    /// `struct nlattr`s as the kernel packs them, for the parser to read.
    fn packed(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (ty, v) in attrs {
            out.extend(((v.len() + 4) as u16).to_ne_bytes());
            out.extend(ty.to_ne_bytes());
            out.extend(*v);
            out.resize(out.len().next_multiple_of(4), 0);
        }
        out
    }

    #[test]
    fn counters_come_from_stats64_else_stats() {
        let s64 = packed(&[
            (stats::CONNS, &7u64.to_ne_bytes()),
            (stats::INPKTS, &(5u64 << 33).to_ne_bytes()),
            (stats::OUTPKTS, &3u64.to_ne_bytes()),
            (stats::INBYTES, &1000u64.to_ne_bytes()),
            (stats::OUTBYTES, &2000u64.to_ne_bytes()),
        ]);
        // The 32-bit set: counts in 4 bytes (a 2-byte value must not break
        // the walk), bytes in 8.
        let s32 = packed(&[(stats::CONNS, &9u32.to_ne_bytes()), (20, &[1, 2]), (stats::INBYTES, &10u64.to_ne_bytes())]);
        let both = vec![(svc::STATS, s32.clone()), (svc::STATS64, s64)];
        let c = parse_counters(&both, svc::STATS64, svc::STATS);
        assert_eq!(
            c,
            Counters { connections: 7, packets_in: 5 << 33, packets_out: 3, bytes_in: 1000, bytes_out: 2000 }
        );
        let old = vec![(svc::STATS, s32)];
        let c = parse_counters(&old, svc::STATS64, svc::STATS);
        assert_eq!(c, Counters { connections: 9, bytes_in: 10, ..Counters::default() });
        assert_eq!(parse_counters(&[], svc::STATS64, svc::STATS), Counters::default());
    }

    #[test]
    fn a_nested_attribute_that_overruns_its_payload_ends_the_walk() {
        let mut b = packed(&[(stats::CONNS, &1u64.to_ne_bytes())]);
        b.extend(200u16.to_ne_bytes());
        b.extend(stats::INPKTS.to_ne_bytes());
        b.extend([0; 4]);
        assert_eq!(nested_raw(&b), vec![(stats::CONNS, 1u64.to_ne_bytes().to_vec())]);
        assert_eq!(nested_raw(&[1, 0]), vec![]);
        // A length below the header's own 4 bytes.
        assert_eq!(nested_raw(&[2, 0, 1, 0, 9, 9, 9, 9]), vec![]);
    }
}
