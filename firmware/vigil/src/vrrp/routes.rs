//! Routes and rules removed under vigil (RTM_DELROUTE, RTM_DELRULE), as
//! keepalived follows them: a master whose virtual route or rule goes
//! resigns; a static one is put back. The messages are read into what
//! identifies a route or a rule ([`RouteGone`], [`RuleGone`]) and matched
//! against the config's ([`route_matches`], [`rule_matches`]); the socket
//! ([`RouteMonitor`]) is opened only while the config has routes or rules,
//! so a router taking a full BGP table does not wake VRRP for each.

use std::net::IpAddr;
use vigil_config::{Route, RouteKind, Rule};

/// What identifies a removed route: family and destination, table, TOS,
/// who installed it, its type and its metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteGone {
    pub dst: IpAddr,
    pub prefix: u8,
    pub table: u32,
    pub tos: u8,
    pub protocol: u8,
    /// RTN_* (unicast 1, blackhole 6, unreachable 7, prohibit 8).
    pub kind: u8,
    pub metric: u32,
}

/// What identifies a removed rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleGone {
    pub v6: bool,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub priority: Option<u32>,
    pub table: u32,
    pub protocol: Option<u8>,
}

/// What a burst of route and rule messages removed, at most [`GONE`] of
/// each a turn (past it, the rest are not looked at).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gone {
    pub routes: Vec<RouteGone>,
    pub rules: Vec<RuleGone>,
}

pub const GONE: usize = 1024;

impl Gone {
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.rules.is_empty()
    }

    /// Reads a datagram of rtnetlink messages (each `nlmsghdr` first:
    /// length u32, type u16, ...); others than RTM_DELROUTE and
    /// RTM_DELRULE, and what cannot be read, are passed over.
    pub fn add(&mut self, mut b: &[u8]) {
        while b.len() >= 16 {
            let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
            let kind = u16::from_ne_bytes([b[4], b[5]]);
            let m = &b[..len.min(b.len())];
            match kind {
                libc::RTM_DELROUTE if self.routes.len() < GONE => self.routes.extend(route_gone(m)),
                libc::RTM_DELRULE if self.rules.len() < GONE => self.rules.extend(rule_gone(m)),
                _ => {}
            }
            // Messages are 4-byte aligned; a bad length ends the walk.
            let step = len.div_ceil(4) * 4;
            if len < 16 || step > b.len() {
                break;
            }
            b = &b[step..];
        }
    }
}

/// The attributes after a message's fixed part (`at`): (type, value)
/// pairs (length u16, type u16, value, 4-byte aligned); None if they do
/// not add up to the message (cut short, or a length that lies).
fn attrs(m: &[u8], at: usize) -> Option<Vec<(u16, &[u8])>> {
    let mut a = m.get(at..)?;
    let mut out = Vec::new();
    while !a.is_empty() {
        let len = usize::from(u16::from_ne_bytes([*a.first()?, *a.get(1)?]));
        let ty = u16::from_ne_bytes([*a.get(2)?, *a.get(3)?]) & 0x3fff;
        if len < 4 || len > a.len() {
            return None;
        }
        out.push((ty, &a[4..len]));
        a = a.get(len.div_ceil(4) * 4..).unwrap_or_default();
    }
    Some(out)
}

fn ip(family: u8, v: &[u8]) -> Option<IpAddr> {
    match (family, v.len()) {
        (f, 4) if f == libc::AF_INET as u8 => Some(IpAddr::from(<[u8; 4]>::try_from(v).ok()?)),
        (f, 16) if f == libc::AF_INET6 as u8 => Some(IpAddr::from(<[u8; 16]>::try_from(v).ok()?)),
        _ => None,
    }
}

fn u32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.try_into().ok()?))
}

fn unspecified(family: u8) -> Option<IpAddr> {
    match family {
        f if f == libc::AF_INET as u8 => Some(IpAddr::from([0u8; 4])),
        f if f == libc::AF_INET6 as u8 => Some(IpAddr::from([0u8; 16])),
        _ => None,
    }
}

/// RTM_DELROUTE: after the header, an `rtmsg` (family, dst_len, src_len,
/// tos, table u8, protocol, scope, type, flags u32), then RTA_DST (1),
/// RTA_PRIORITY (6), RTA_TABLE (15, the table past 255).
fn route_gone(m: &[u8]) -> Option<RouteGone> {
    let h = m.get(16..28)?;
    let family = h[0];
    let mut r = RouteGone {
        dst: unspecified(family)?,
        prefix: h[1],
        tos: h[3],
        table: u32::from(h[4]),
        protocol: h[5],
        kind: h[7],
        metric: 0,
    };
    for (ty, v) in attrs(m, 28)? {
        match ty {
            1 => r.dst = ip(family, v)?,
            6 => r.metric = u32_of(v)?,
            15 => r.table = u32_of(v)?,
            _ => {}
        }
    }
    Some(r)
}

/// RTM_DELRULE: after the header, a `fib_rule_hdr` (family, dst_len,
/// src_len, tos, table u8, two reserved, action, flags u32), then FRA_DST
/// (1), FRA_SRC (2), FRA_PRIORITY (6), FRA_TABLE (15), FRA_PROTOCOL (21).
fn rule_gone(m: &[u8]) -> Option<RuleGone> {
    let h = m.get(16..28)?;
    let family = h[0];
    unspecified(family)?;
    let (dst_len, src_len) = (h[1], h[2]);
    let mut r = RuleGone {
        v6: family == libc::AF_INET6 as u8,
        from: None,
        to: None,
        priority: None,
        table: u32::from(h[4]),
        protocol: None,
    };
    for (ty, v) in attrs(m, 28)? {
        match ty {
            1 => r.to = Some((ip(family, v)?, dst_len)),
            2 => r.from = Some((ip(family, v)?, src_len)),
            6 => r.priority = Some(u32_of(v)?),
            15 => r.table = u32_of(v)?,
            21 => r.protocol = v.first().copied(),
            _ => {}
        }
    }
    Some(r)
}

/// The network part of an address (what the kernel keeps of a route's
/// destination).
fn masked(a: IpAddr, prefix: u8) -> IpAddr {
    match a {
        IpAddr::V4(x) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
            IpAddr::from((u32::from(x) & m).to_be_bytes())
        }
        IpAddr::V6(x) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0);
            IpAddr::from((u128::from(x) & m).to_be_bytes())
        }
    }
}

/// The protocol vigil marks what it adds with unless told (keepalived's).
const RTPROT_KEEPALIVED: u8 = 18;

/// Whether a removed route is this configured one: same destination,
/// table (main unless said), TOS, protocol (keepalived's unless said) and
/// type, and the metric if one was given.
pub fn route_matches(r: &Route, g: &RouteGone) -> bool {
    let kind = match r.kind {
        RouteKind::Unicast => 1,
        RouteKind::Blackhole => 6,
        RouteKind::Unreachable => 7,
        RouteKind::Prohibit => 8,
    };
    r.dst.prefix == g.prefix
        && r.dst.addr.is_ipv6() == g.dst.is_ipv6()
        && masked(r.dst.addr, r.dst.prefix) == g.dst
        && r.table.unwrap_or(u32::from(libc::RT_TABLE_MAIN)) == g.table
        && r.tos == g.tos
        && r.protocol.unwrap_or(RTPROT_KEEPALIVED) == g.protocol
        && kind == g.kind
        && r.metric.is_none_or(|m| m == g.metric)
}

/// Whether a removed rule is this configured one: same family, selectors,
/// table, and priority if one was given; a rule another protocol installed
/// is someone else's (keepalived: "not a rule we are monitoring").
pub fn rule_matches(r: &Rule, g: &RuleGone) -> bool {
    let net = |n: Option<vigil_config::IpNet>| n.map(|n| (masked(n.addr, n.prefix), n.prefix));
    let v6 = r.v6 || r.from.or(r.to).is_some_and(|n| n.addr.is_ipv6());
    v6 == g.v6
        && net(r.from) == g.from
        && net(r.to) == g.to
        && r.table.unwrap_or(0) == g.table
        && r.priority.is_none_or(|p| Some(p) == g.priority)
        && g.protocol.is_none_or(|p| p == r.protocol.unwrap_or(RTPROT_KEEPALIVED))
}

/// The kernel's route and rule removals (both families), on a socket of
/// their own: an overrun here (a full table withdrawn at once) loses only
/// these, never a link change.
pub struct RouteMonitor(super::timer::Listener);

impl RouteMonitor {
    pub fn open() -> std::io::Result<RouteMonitor> {
        // RTNLGRP_IPV6_RULE (19) has no RTMGRP_ constant: its bit is 1 << 18.
        let groups = libc::RTMGRP_IPV4_ROUTE | libc::RTMGRP_IPV6_ROUTE | libc::RTMGRP_IPV4_RULE | (1 << 18);
        super::timer::Listener::open(groups as u32).map(RouteMonitor)
    }

    /// Waits for at least one message and drains the socket; says what was
    /// removed (an overrun loses what it dropped, and says so).
    pub async fn gone(&self) -> Gone {
        let mut gone = Gone::default();
        self.0
            .drain(|msgs| match msgs {
                Some(b) => gone.add(b),
                None => tracing::warn!(
                    "vrrp: route messages overran (a large routing change): removals among them are not followed"
                ),
            })
            .await;
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, fixed: [u8; 12], attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = vec![0u8; 16];
        m[4..6].copy_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&fixed);
        for (ty, v) in attrs {
            let len = 4 + v.len();
            m.extend_from_slice(&(len as u16).to_ne_bytes());
            m.extend_from_slice(&ty.to_ne_bytes());
            m.extend_from_slice(v);
            m.resize(m.len().div_ceil(4) * 4, 0);
        }
        let len = m.len() as u32;
        m[..4].copy_from_slice(&len.to_ne_bytes());
        m
    }

    fn route(text: &str) -> Route {
        let conf = format!("static_routes {{\n {text}\n}}\n");
        let i = vigil_config::keepalived::import_str("t", &conf).unwrap();
        assert_eq!(i.errors().count(), 0, "{text}");
        i.config.global.static_routes[0].clone()
    }

    fn rule(text: &str) -> Rule {
        let conf = format!("static_rules {{\n {text}\n}}\n");
        let i = vigil_config::keepalived::import_str("t", &conf).unwrap();
        assert_eq!(i.errors().count(), 0, "{text}");
        i.config.global.static_rules[0].clone()
    }

    const V4: u8 = libc::AF_INET as u8;

    /// `ip route del 198.51.100.0/24` as the kernel says it: read, and
    /// matched to the configured route only (not another table's, not
    /// another protocol's, not a blackhole of the same prefix).
    #[test]
    fn a_removed_route_is_read_and_matched_to_its_config() {
        let m = msg(
            libc::RTM_DELROUTE,
            [V4, 24, 0, 0, 254, 18, 0, 1, 0, 0, 0, 0],
            &[(15, &254u32.to_ne_bytes()), (1, &[198, 51, 100, 0]), (6, &7u32.to_ne_bytes()), (4, &[2, 0, 0, 0])],
        );
        let mut g = Gone::default();
        g.add(&m);
        let want = RouteGone {
            dst: "198.51.100.0".parse().unwrap(),
            prefix: 24,
            table: 254,
            tos: 0,
            protocol: 18,
            kind: 1,
            metric: 7,
        };
        assert_eq!(g.routes, [want]);
        assert!(route_matches(&route("198.51.100.0/24 via 192.0.2.254 dev eth0 metric 7"), &want));
        assert!(route_matches(&route("198.51.100.7/24 via 192.0.2.254 dev eth0"), &want), "host bits and no metric");
        assert!(!route_matches(&route("198.51.100.0/24 via 192.0.2.254 dev eth0 metric 8"), &want));
        assert!(!route_matches(&route("198.51.100.0/24 via 192.0.2.254 dev eth0 table 100"), &want));
        assert!(!route_matches(&route("198.51.100.0/24 via 192.0.2.254 dev eth0 protocol static no_track"), &want));
        assert!(!route_matches(&route("blackhole 198.51.100.0/24"), &want));
        assert!(!route_matches(&route("198.51.100.0/25 dev eth0"), &want));
        // A table past 255 is in RTA_TABLE (the header says 252, RT_TABLE_COMPAT).
        let m = msg(
            libc::RTM_DELROUTE,
            [V4, 24, 0, 0, 252, 18, 0, 6, 0, 0, 0, 0],
            &[(15, &1000u32.to_ne_bytes()), (1, &[203, 0, 113, 0])],
        );
        let mut g = Gone::default();
        g.add(&m);
        assert!(route_matches(&route("blackhole 203.0.113.0/24 table 1000"), &g.routes[0]));
    }

    /// `ip rule del` as the kernel says it, matched by family, selectors,
    /// table and priority; another protocol's rule is not ours.
    #[test]
    fn a_removed_rule_is_read_and_matched_to_its_config() {
        let m = msg(
            libc::RTM_DELRULE,
            [V4, 0, 24, 0, 101, 0, 0, 1, 0, 0, 0, 0],
            &[(15, &101u32.to_ne_bytes()), (2, &[198, 18, 50, 0]), (6, &1001u32.to_ne_bytes()), (21, &[18])],
        );
        let mut g = Gone::default();
        g.add(&m);
        let want = RuleGone {
            v6: false,
            from: Some(("198.18.50.0".parse().unwrap(), 24)),
            to: None,
            priority: Some(1001),
            table: 101,
            protocol: Some(18),
        };
        assert_eq!(g.rules, [want]);
        assert!(rule_matches(&rule("from 198.18.50.0/24 priority 1001 table 101"), &want));
        assert!(rule_matches(&rule("from 198.18.50.0/24 table 101"), &want), "no priority given: any");
        assert!(!rule_matches(&rule("from 198.18.50.0/24 priority 1002 table 101"), &want));
        assert!(!rule_matches(&rule("from 198.18.50.0/24 priority 1001 table 102"), &want));
        assert!(!rule_matches(&rule("to 198.18.50.0/24 priority 1001 table 101"), &want));
        assert!(!rule_matches(&rule("inet6 priority 1001 table 101"), &want));
        let theirs = RuleGone { protocol: Some(4), ..want };
        assert!(!rule_matches(&rule("from 198.18.50.0/24 priority 1001 table 101"), &theirs));
    }

    /// Other messages, cut ones and a bad length are passed over without
    /// reading past the end.
    #[test]
    fn other_and_broken_messages_are_passed_over() {
        let mut g = Gone::default();
        g.add(&msg(libc::RTM_NEWROUTE, [V4, 24, 0, 0, 254, 18, 0, 1, 0, 0, 0, 0], &[(1, &[10, 0, 0, 0])]));
        g.add(&msg(libc::RTM_DELROUTE, [7, 24, 0, 0, 254, 18, 0, 1, 0, 0, 0, 0], &[]));
        let m = msg(libc::RTM_DELROUTE, [V4, 24, 0, 0, 254, 18, 0, 1, 0, 0, 0, 0], &[(1, &[10, 0, 0, 0])]);
        g.add(&m[..22]);
        g.add(&m[..30]);
        g.add(&[1, 2, 3]);
        let mut bad = m.clone();
        bad[28..30].copy_from_slice(&200u16.to_ne_bytes());
        g.add(&bad);
        assert!(g.is_empty(), "{g:?}");
        // Two in one datagram: both.
        let mut two = m.clone();
        two.extend(msg(libc::RTM_DELRULE, [V4, 0, 0, 0, 7, 0, 0, 1, 0, 0, 0, 0], &[]));
        g.add(&two);
        assert_eq!((g.routes.len(), g.rules.len()), (1, 1));
    }
}
