//! Adding and removing an instance's virtual addresses and routes
//! (rtnetlink), `no_accept`'s guard around them (nf_tables), and the
//! static addresses and routes (set while VRRP runs, whatever its states).

use super::io::Io;
use crate::net::Rtnl;
use tracing::{info, warn};
use vigil_config::{Route, RouteKind, RouteScope, Rule, VirtualAddress};

/// Adds (or removes) every virtual address (the excluded ones too) on its
/// interface: the vmac, the instance's interface, or the address's own
/// `dev`; then its routes (removed first, added last: a route may need an
/// address). Said once per interface: 32 lines per takeover drowned the
/// console.
pub fn change(io: &Io, add: bool) {
    let mut rtnl = match Rtnl::open() {
        Ok(x) => x,
        Err(e) => return warn!("rtnetlink: {e}"),
    };
    // As keepalived puts them: an address that names another interface
    // (`dev`) goes there; the others (`dev` none or the instance's own) on
    // the vmac if there is one (an excluded address of the other family
    // too: keepalived's man page warns of its MAC), else on the interface.
    let home = |a: &VirtualAddress| -> (String, i32) {
        // On its address vmac if it has one (`use_vmac_addr`, `use_vmac`).
        if let Some(of) = io.conf.address_vmac_of(a)
            && let Some(m) = io.addr_vmacs.iter().find(|m| m.of == of)
        {
            return (m.vmac.name.clone(), m.vmac.index);
        }
        match (&a.dev, &io.vmac) {
            (Some(d), _) if *d != io.conf.interface => (d.to_string(), -1),
            (_, Some(vm)) => (vm.name.clone(), vm.index),
            _ => (io.conf.interface.to_string(), io.ifindex),
        }
    };
    if !add {
        rules(&mut rtnl, &io.conf.virtual_rules, false);
        routes(&mut rtnl, &io.conf.virtual_routes, false);
    }
    let all: Vec<&VirtualAddress> =
        io.conf.virtual_ipaddress.iter().chain(io.conf.virtual_ipaddress_excluded.iter()).collect();
    let placed = all.into_iter().map(|a| (home(a), a)).collect();
    addresses(&mut rtnl, placed, add);
    if add {
        routes(&mut rtnl, &io.conf.virtual_routes, true);
        rules(&mut rtnl, &io.conf.virtual_rules, true);
    }
}

/// The static addresses and routes of a config, set at start (and as the
/// config changes) and removed at stop: `before` is what is set now.
pub fn statics(before: &vigil_config::Global, after: &vigil_config::Global) {
    if before.static_ipaddress == after.static_ipaddress
        && before.static_routes == after.static_routes
        && before.static_rules == after.static_rules
    {
        return;
    }
    let mut rtnl = match Rtnl::open() {
        Ok(x) => x,
        Err(e) => return warn!("rtnetlink: {e}"),
    };
    let gone: Vec<Rule> = before.static_rules.iter().filter(|r| !after.static_rules.contains(r)).cloned().collect();
    rules(&mut rtnl, &gone, false);
    let gone: Vec<Route> = before.static_routes.iter().filter(|r| !after.static_routes.contains(r)).cloned().collect();
    routes(&mut rtnl, &gone, false);
    let gone: Vec<&VirtualAddress> =
        before.static_ipaddress.iter().filter(|a| !after.static_ipaddress.contains(a)).collect();
    // A static address names its device (or is refused, with a warning).
    addresses(&mut rtnl, placed_on_dev(gone), false);
    let new: Vec<&VirtualAddress> =
        after.static_ipaddress.iter().filter(|a| !before.static_ipaddress.contains(a)).collect();
    addresses(&mut rtnl, placed_on_dev(new), true);
    let new: Vec<Route> = after.static_routes.iter().filter(|r| !before.static_routes.contains(r)).cloned().collect();
    routes(&mut rtnl, &new, true);
    let new: Vec<Rule> = after.static_rules.iter().filter(|r| !before.static_rules.contains(r)).cloned().collect();
    rules(&mut rtnl, &new, true);
}

/// Puts back the static addresses among `removed` (someone else's
/// removals), as keepalived does ("Restoring deleted static address").
pub fn restore_statics(statics: &vigil_config::Global, removed: &[std::net::IpAddr]) {
    let back: Vec<&VirtualAddress> =
        statics.static_ipaddress.iter().filter(|a| removed.contains(&a.addr.addr)).collect();
    if back.is_empty() {
        return;
    }
    for a in &back {
        info!("static address {} was removed: restoring it", a.addr);
    }
    match Rtnl::open() {
        Ok(mut rtnl) => addresses(&mut rtnl, placed_on_dev(back), true),
        Err(e) => warn!("rtnetlink: {e}"),
    }
}

/// Puts back static routes and rules someone removed, as keepalived does
/// ("Restoring deleted static route").
pub fn restore_routes(back_routes: &[Route], back_rules: &[Rule]) {
    if back_routes.is_empty() && back_rules.is_empty() {
        return;
    }
    for r in back_routes {
        info!("static route {r} was removed: restoring it");
    }
    for r in back_rules {
        info!("static rule {r} was removed: restoring it");
    }
    match Rtnl::open() {
        Ok(mut rtnl) => {
            routes(&mut rtnl, back_routes, true);
            rules(&mut rtnl, back_rules, true);
        }
        Err(e) => warn!("rtnetlink: {e}"),
    }
}

/// A link came up: its static addresses and routes (all but `no_track`
/// ones) are set again where they are missing; those still there are left
/// as they are.
pub fn reinstate_on(statics: &vigil_config::Global, link: &str) {
    let on = |d: &Option<vigil_config::IfName>| d.as_deref() == Some(link);
    let addrs: Vec<&VirtualAddress> = statics.static_ipaddress.iter().filter(|a| !a.no_track && on(&a.dev)).collect();
    let back: Vec<Route> = statics.static_routes.iter().filter(|r| !r.no_track && on(&r.dev)).cloned().collect();
    if addrs.is_empty() && back.is_empty() {
        return;
    }
    match Rtnl::open() {
        Ok(mut rtnl) => {
            addresses(&mut rtnl, placed_on_dev(addrs), true);
            routes(&mut rtnl, &back, true);
        }
        Err(e) => warn!("rtnetlink: {e}"),
    }
}

/// The kernel's RT_SCOPE_* for a scope word.
fn rt_scope(s: RouteScope) -> u8 {
    match s {
        RouteScope::Global => libc::RT_SCOPE_UNIVERSE,
        RouteScope::Site => libc::RT_SCOPE_SITE,
        RouteScope::Link => libc::RT_SCOPE_LINK,
        RouteScope::Host => libc::RT_SCOPE_HOST,
        RouteScope::Nowhere => libc::RT_SCOPE_NOWHERE,
    }
}

fn net_kind(k: RouteKind) -> crate::net::RouteType {
    match k {
        RouteKind::Unicast => crate::net::RouteType::Unicast,
        RouteKind::Blackhole => crate::net::RouteType::Blackhole,
        RouteKind::Unreachable => crate::net::RouteType::Unreachable,
        RouteKind::Prohibit => crate::net::RouteType::Prohibit,
    }
}

/// Adds or removes rules, each said in the log as `ip rule` writes it.
fn rules(rtnl: &mut Rtnl, list: &[Rule], add: bool) {
    for r in list {
        let net = crate::net::Rule {
            v6: r.v6,
            from: r.from.map(|n| (n.addr, n.prefix)),
            to: r.to.map(|n| (n.addr, n.prefix)),
            invert: r.invert,
            fwmark: r.fwmark,
            iif: r.iif.as_ref().map(|i| i.to_string()),
            oif: r.oif.as_ref().map(|i| i.to_string()),
            priority: r.priority,
            table: r.table,
            kind: net_kind(r.kind),
            tos: r.tos,
            realms: r.realms,
            goto: r.goto,
            suppress_prefixlength: r.suppress_prefixlength,
            suppress_ifgroup: r.suppress_ifgroup,
            uidrange: r.uidrange,
            sport: r.sport,
            dport: r.dport,
            ip_proto: r.ip_proto,
            l3mdev: r.l3mdev,
            protocol: r.protocol,
        };
        match rtnl.change_rule(&net, add) {
            Ok(()) => info!("{} rule {r}", if add { "added" } else { "removed" }),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ENOENT)) => {}
            Err(e) => warn!("{} rule {r}: {e}", if add { "adding" } else { "removing" }),
        }
    }
}

/// Adds or removes routes, each said in the log as `ip route` writes it.
fn routes(rtnl: &mut Rtnl, list: &[Route], add: bool) {
    if list.is_empty() {
        return;
    }
    let links = rtnl.links().unwrap_or_default();
    // A device's index; Err (said) when there is no such interface.
    let index = |r: &Route, dev: &Option<vigil_config::IfName>| -> Result<Option<i32>, ()> {
        let Some(d) = dev else { return Ok(None) };
        match links.iter().find(|l| l.name == d.as_str()) {
            Some(l) => Ok(Some(l.index)),
            None => {
                warn!("route {r}: no interface {d}");
                Err(())
            }
        }
    };
    for r in list {
        // Without its device the route is not set; without a hop's, the
        // hop is left out.
        let Ok(oif) = index(r, &r.dev) else { continue };
        let nexthops =
            r.nexthops.iter().filter_map(|h| Some((h.via, index(r, &h.dev).ok()?, h.weight, h.onlink))).collect();
        let net = crate::net::Route {
            kind: net_kind(r.kind),
            via: r.via,
            oif,
            src: r.src,
            metric: r.metric,
            table: r.table,
            scope: r.scope.map(rt_scope),
            onlink: r.onlink,
            protocol: r.protocol,
            tos: r.tos,
            realms: r.realms,
            metrics: r.metrics.iter().map(|m| (m.kind, m.value, m.lock)).collect(),
            pref: r.pref,
            nexthops,
            append: r.append,
            ..crate::net::Route::new(r.dst.addr, r.dst.prefix)
        };
        match rtnl.change_route(&net, add) {
            Ok(()) => info!("{} route {r}", if add { "added" } else { "removed" }),
            // Already there (adding) or already gone (removing): the goal holds.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ESRCH)) => {}
            Err(e) => warn!("{} route {r}: {e}", if add { "adding" } else { "removing" }),
        }
    }
}

/// Static addresses, each on its `dev`.
fn placed_on_dev(list: Vec<&VirtualAddress>) -> Vec<((String, i32), &VirtualAddress)> {
    list.into_iter().map(|a| ((a.dev.as_deref().unwrap_or("").to_string(), -1), a)).collect()
}

/// Adds or removes addresses, each on the interface it is placed on (its
/// name, and its index when known: -1 looks the name up).
fn addresses(rtnl: &mut Rtnl, list: Vec<((String, i32), &VirtualAddress)>, add: bool) {
    let mut done: Vec<(String, Vec<String>)> = Vec::new();
    for ((dev, known), vip) in list {
        let dev = dev.as_str();
        if dev.is_empty() {
            warn!("{}: no dev to put it on", vip.addr);
            continue;
        }
        let index = if known >= 0 {
            known
        } else {
            match rtnl.links().ok().and_then(|l| l.into_iter().find(|l| l.name == dev)) {
                Some(l) => l.index,
                None => {
                    warn!("no interface {dev} for {}", vip.addr);
                    continue;
                }
            }
        };
        let a = crate::net::Address {
            label: vip.label.as_deref(),
            brd: vip.brd,
            scope: vip.scope.map_or(libc::RT_SCOPE_UNIVERSE, rt_scope),
            peer: vip.peer.map(|p| (p.addr, p.prefix)),
            flags: vip.flags,
            preferred_lft: vip.preferred_lft_s(),
            ..crate::net::Address::new(vip.addr.addr, vip.addr.prefix)
        };
        match rtnl.change_address_with(index, &a, add) {
            Ok(()) => match done.iter_mut().find(|(d, _)| d == dev) {
                Some((_, list)) => list.push(vip.addr.to_string()),
                None => done.push((dev.to_string(), vec![vip.addr.to_string()])),
            },
            // Already there (adding) or already gone (removing): the goal holds.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::EADDRNOTAVAIL)) => {}
            Err(e) => warn!("{} {}: {e}", if add { "adding" } else { "removing" }, vip.addr),
        }
    }
    for (dev, list) in done {
        let shown = match list.len() {
            0..=4 => list.join(", "),
            n => format!("{}, ... ({n} addresses)", list[..3].join(", ")),
        };
        info!("{} {shown} on {dev}", if add { "added" } else { "removed" });
    }
}

/// `no_accept` (RFC 5798 Accept_Mode false): unless this router owns the
/// addresses (priority 255), packets to them are dropped while it holds
/// them. The rules go in before the addresses and come out after them.
pub fn guard(io: &Io, no_accept: &mut crate::nft::NoAccept, on: bool) {
    if io.conf.accept || io.conf.priority == 255 {
        return;
    }
    let vips = io.conf.virtual_ipaddress.iter().map(|v| v.addr.addr);
    match no_accept.set(vips, on) {
        Ok(()) => info!(
            "no_accept: {} packets to its addresses ({} guarded in nf_tables table {})",
            if on { "dropping" } else { "no longer dropping" },
            no_accept.guarded().len(),
            crate::nft::TABLE
        ),
        Err(e) => warn!("no_accept: nf_tables: {e}"),
    }
}
