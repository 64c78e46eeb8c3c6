//! Routes and rules removed under vigil (RTM_DELROUTE, RTM_DELRULE), as
//! keepalived follows them: a master whose virtual route or rule goes
//! resigns; a static one is put back. The messages are read into what
//! identifies a route or a rule ([`RouteKey`], [`RuleKey`]) and matched
//! against the config's ([`route_matches`], [`rule_matches`]); the socket
//! ([`RouteMonitor`]) is opened only while the config has routes or rules,
//! so a router taking a full BGP table does not wake VRRP for each.
//!
//! When the socket overruns (the kernel dropped messages: a table withdrawn
//! at once), the removals among the dropped are not known; the kernel's
//! routes and rules are read again ([`list`] into a [`Listing`]) and the
//! configured ones it no longer has count as removed.

use super::timer::each_message;
use std::net::IpAddr;
use vigil_config::{Route, RouteKind, Rule};

/// What identifies a route as the kernel says it (removed, or listed):
/// family and destination, table, TOS, who installed it, its type and its
/// metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteKey {
    pub dst: IpAddr,
    pub prefix: u8,
    pub table: u32,
    pub tos: u8,
    pub protocol: u8,
    /// RTN_* (unicast 1, blackhole 6, unreachable 7, prohibit 8).
    pub kind: u8,
    pub metric: u32,
}

/// What identifies a rule as the kernel says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleKey {
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
    pub routes: Vec<RouteKey>,
    pub rules: Vec<RuleKey>,
    /// The socket overran: messages were dropped, removals among them.
    pub overrun: bool,
}

pub const GONE: usize = 1024;

impl Gone {
    /// Nothing removed and nothing dropped.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.rules.is_empty() && !self.overrun
    }

    /// Reads a datagram of rtnetlink messages; others than RTM_DELROUTE
    /// and RTM_DELRULE, and what cannot be read, are passed over.
    pub fn add(&mut self, b: &[u8]) {
        each_message(b, |kind, m| match kind {
            libc::RTM_DELROUTE if self.routes.len() < GONE => self.routes.extend(route_key(m)),
            libc::RTM_DELRULE if self.rules.len() < GONE => self.rules.extend(rule_key(m)),
            _ => {}
        });
    }
}

/// The configured routes and rules checked against what the kernel lists
/// (its RTM_NEWROUTE and RTM_NEWRULE replies to a dump): which of them it
/// still has. Only a flag per configured one is kept, however many routes
/// the kernel lists.
pub struct Listing<'a> {
    routes: Vec<(&'a Route, bool)>,
    rules: Vec<(&'a Rule, bool)>,
}

impl<'a> Listing<'a> {
    pub fn new(routes: impl IntoIterator<Item = &'a Route>, rules: impl IntoIterator<Item = &'a Rule>) -> Self {
        Listing {
            routes: routes.into_iter().map(|r| (r, false)).collect(),
            rules: rules.into_iter().map(|r| (r, false)).collect(),
        }
    }

    /// Reads a datagram of a dump's replies; what is not a route or a rule,
    /// or cannot be read, is passed over.
    pub fn add(&mut self, b: &[u8]) {
        each_message(b, |kind, m| match kind {
            libc::RTM_NEWROUTE => {
                if let Some(k) = route_key(m) {
                    for (r, found) in &mut self.routes {
                        *found |= route_matches(r, &k);
                    }
                }
            }
            libc::RTM_NEWRULE => {
                if let Some(k) = rule_key(m) {
                    for (r, found) in &mut self.rules {
                        *found |= rule_matches(r, &k);
                    }
                }
            }
            _ => {}
        });
    }

    /// The protocols the configured routes are installed with: the kernel
    /// is asked for each one's routes only (a full table is not sent).
    pub fn protocols(&self) -> Vec<u8> {
        let mut p: Vec<u8> = self.routes.iter().map(|(r, _)| r.protocol.unwrap_or(RTPROT_KEEPALIVED)).collect();
        p.sort_unstable();
        p.dedup();
        p
    }

    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The configured routes the kernel did not list.
    pub fn missing_routes(&self) -> impl Iterator<Item = &'a Route> + '_ {
        self.routes.iter().filter(|(_, found)| !found).map(|(r, _)| *r)
    }

    /// The configured rules the kernel did not list.
    pub fn missing_rules(&self) -> impl Iterator<Item = &'a Rule> + '_ {
        self.rules.iter().filter(|(_, found)| !found).map(|(r, _)| *r)
    }
}

/// Reads the kernel's routes and rules into `l`: a dump of routes per
/// protocol `l` asks for, the kernel filtering (strict checking: a router
/// holding a full BGP table sends only the few vigil installed), and a dump
/// of rules when `l` has any (there are few).
pub fn list(l: &mut Listing<'_>) -> std::io::Result<()> {
    use neli::consts::socket::{Msg, NlFamily};
    let sock = neli::socket::NlSocket::connect(NlFamily::Route, None, neli::utils::Groups::empty())?;
    // Without strict checking (kernels before 4.20) the filter is not
    // applied: every route comes, and is matched all the same.
    let _ = sock.enable_strict_checking(true);
    let mut buf = vec![0u8; 64 * 1024];
    let mut seq = 0u32;
    let mut dump = |kind: u16, body: [u8; 12], l: &mut Listing<'_>| -> std::io::Result<()> {
        seq += 1;
        let mut req = Vec::with_capacity(28);
        req.extend_from_slice(&28u32.to_ne_bytes());
        req.extend_from_slice(&kind.to_ne_bytes());
        req.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
        req.extend_from_slice(&seq.to_ne_bytes());
        req.extend_from_slice(&0u32.to_ne_bytes());
        req.extend_from_slice(&body);
        sock.send(&req, Msg::empty())?;
        loop {
            let (n, _) = sock.recv(&mut buf[..], Msg::empty())?;
            let mut end = None;
            each_message(&buf[..n.min(buf.len())], |kind, m| {
                let ours = m.get(8..12).is_some_and(|s| s == seq.to_ne_bytes());
                if !ours || end.is_some() {
                    return;
                }
                match i32::from(kind) {
                    libc::NLMSG_DONE => end = Some(Ok(())),
                    libc::NLMSG_ERROR => {
                        let e = m.get(16..20).map_or(0, |e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
                        end = Some(Err(std::io::Error::from_raw_os_error(-e)));
                    }
                    _ => l.add(m),
                }
            });
            if let Some(r) = end {
                return r;
            }
            if n == 0 {
                return Err(std::io::Error::other("the kernel closed the dump"));
            }
        }
    };
    for p in l.protocols() {
        // rtmsg: family (any), lengths, TOS, table (any), protocol (the
        // filter), scope, type (any), flags.
        dump(libc::RTM_GETROUTE, [0, 0, 0, 0, 0, p, 0, 0, 0, 0, 0, 0], l)?;
    }
    if l.has_rules() {
        dump(libc::RTM_GETRULE, [0; 12], l)?;
    }
    Ok(())
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

/// RTM_DELROUTE or RTM_NEWROUTE: after the header, an `rtmsg` (family, dst_len, src_len,
/// tos, table u8, protocol, scope, type, flags u32), then RTA_DST (1),
/// RTA_PRIORITY (6), RTA_TABLE (15, the table past 255).
fn route_key(m: &[u8]) -> Option<RouteKey> {
    let h = m.get(16..28)?;
    let family = h[0];
    let mut r = RouteKey {
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

/// RTM_DELRULE or RTM_NEWRULE: after the header, a `fib_rule_hdr` (family, dst_len,
/// src_len, tos, table u8, two reserved, action, flags u32), then FRA_DST
/// (1), FRA_SRC (2), FRA_PRIORITY (6), FRA_TABLE (15), FRA_PROTOCOL (21).
fn rule_key(m: &[u8]) -> Option<RuleKey> {
    let h = m.get(16..28)?;
    let family = h[0];
    unspecified(family)?;
    let (dst_len, src_len) = (h[1], h[2]);
    let mut r = RuleKey {
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

/// The protocol vigil marks what it adds with unless told (keepalived's):
/// the one vigil-net installs routes with.
use vigil_net::RTPROT_KEEPALIVED;

/// Whether a removed route is this configured one: same destination,
/// table (main unless said), TOS, protocol (keepalived's unless said) and
/// type, and the metric if one was given.
pub fn route_matches(r: &Route, g: &RouteKey) -> bool {
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
pub fn rule_matches(r: &Rule, g: &RuleKey) -> bool {
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
    /// removed, and whether messages were dropped.
    pub async fn gone(&self) -> Gone {
        let mut gone = Gone::default();
        self.0
            .drain(|msgs| match msgs {
                Some(b) => gone.add(b),
                None => gone.overrun = true,
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
        let want = RouteKey {
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
        let want = RuleKey {
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
        let theirs = RuleKey { protocol: Some(4), ..want };
        assert!(!rule_matches(&rule("from 198.18.50.0/24 priority 1001 table 101"), &theirs));
    }

    /// After an overrun: the kernel's listing (a dump's RTM_NEWROUTE and
    /// RTM_NEWRULE, two in a datagram) checked against the configured
    /// routes and rules: the ones it lists are there; the others, missing.
    /// The kernel is asked for the configured routes' protocols only.
    #[test]
    fn a_listing_says_which_configured_routes_and_rules_the_kernel_no_longer_has() {
        let there = route("198.51.100.0/24 via 192.0.2.254 dev eth0");
        let gone = route("203.0.113.0/24 dev eth0 table 100");
        let rule_there = rule("from 198.18.50.0/24 priority 1001 table 101");
        let rule_gone = rule("to 198.18.51.0/24 priority 1002 table 102");
        let (routes, rules) = ([there.clone(), gone.clone()], [rule_there, rule_gone.clone()]);
        let mut l = Listing::new(&routes, &rules);
        // A tracked route is keepalived's protocol (the importer resets
        // another): one dump, of those.
        assert_eq!(l.protocols(), [18]);
        assert!(l.has_rules());
        let mut dg = msg(
            libc::RTM_NEWROUTE,
            [V4, 24, 0, 0, 254, 18, 0, 1, 0, 0, 0, 0],
            &[(15, &254u32.to_ne_bytes()), (1, &[198, 51, 100, 0]), (4, &[2, 0, 0, 0])],
        );
        // The same prefix as `gone`, in another table: not it.
        dg.extend(msg(
            libc::RTM_NEWROUTE,
            [V4, 24, 0, 0, 254, 18, 0, 1, 0, 0, 0, 0],
            &[(15, &254u32.to_ne_bytes()), (1, &[203, 0, 113, 0])],
        ));
        l.add(&dg);
        l.add(&msg(
            libc::RTM_NEWRULE,
            [V4, 0, 24, 0, 101, 0, 0, 1, 0, 0, 0, 0],
            &[(15, &101u32.to_ne_bytes()), (2, &[198, 18, 50, 0]), (6, &1001u32.to_ne_bytes())],
        ));
        // A removal in a listing is not a route listed.
        l.add(&msg(libc::RTM_DELRULE, [V4, 24, 0, 0, 102, 0, 0, 1, 0, 0, 0, 0], &[(1, &[198, 18, 51, 0])]));
        assert_eq!(l.missing_routes().collect::<Vec<_>>(), [&gone]);
        assert_eq!(l.missing_rules().collect::<Vec<_>>(), [&rule_gone]);
        // An overrun with nothing read is not nothing.
        assert!(!Gone { overrun: true, ..Gone::default() }.is_empty());
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
