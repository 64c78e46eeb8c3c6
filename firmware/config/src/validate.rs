//! Validation: every problem, each with the path of what is wrong
//! (`vrrp_instance VI_1: priority 0 is reserved`). Invalid config is never
//! committed.

use crate::model::limits::{IPVS_SERVICES, ROUTES_TOTAL};
use crate::model::*;
use core::net::IpAddr;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where: `vrrp_instance VI_1`, `virtual_server 10.0.0.1 80 real_server 10.0.0.2 80`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

impl std::error::Error for ConfigError {}

struct Errors(Vec<ConfigError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError { path: path.into(), message: message.into() });
    }
}

pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', ':', '\0']) || name == "." || name == ".." {
        Err(format!("{name:?} is not an interface name (1-15 characters, no '/', ':' or space)"))
    } else {
        Ok(())
    }
}

/// RFC 1123 host name label rules (shared with board definitions).
pub use vigil_board::check_hostname;

/// A route the kernel can take: a gateway of the destination's family, a
/// prefix within it, no gateway on a blackhole.
fn check_route(path: &str, r: &Route, e: &mut Errors) {
    let path = format!("{path} {r}");
    if r.dst.prefix > r.dst.max_prefix() {
        e.push(&path, format!("prefix /{} is longer than the address", r.dst.prefix));
    }
    for (what, a) in [("via", r.via), ("src", r.src)] {
        if a.is_some_and(|a| a.is_ipv6() != r.dst.addr.is_ipv6()) {
            e.push(&path, format!("{what} is not of the destination's family"));
        }
    }
    if r.kind != RouteKind::Unicast && (r.via.is_some() || r.dev.is_some()) {
        e.push(&path, format!("a {} route has no gateway or device", r.kind.name()));
    }
    if let Some(d) = &r.dev
        && let Err(m) = check_ifname(d)
    {
        e.push(&path, format!("dev: {m}"));
    }
    if r.table == Some(0) {
        e.push(&path, "table 0 is not a table");
    }
    for h in r.nexthops.iter() {
        if h.via.is_some_and(|a| a.is_ipv6() != r.dst.addr.is_ipv6()) {
            e.push(&path, "a nexthop's via is not of the destination's family");
        }
        if let Some(d) = &h.dev
            && let Err(m) = check_ifname(d)
        {
            e.push(&path, format!("nexthop dev: {m}"));
        }
    }
    if !r.nexthops.is_empty() && (r.via.is_some() || r.kind != RouteKind::Unicast) {
        e.push(&path, "nexthops are instead of via, on a unicast route");
    }
}

/// A rule the kernel can take: its addresses of its family.
fn check_rule(path: &str, r: &Rule, e: &mut Errors) {
    let path = format!("{path} {r}");
    for (what, n) in [("from", r.from), ("to", r.to)] {
        if n.is_some_and(|n| n.addr.is_ipv6() != r.v6) {
            e.push(&path, format!("{what} is not of the rule's family"));
        }
        if n.is_some_and(|n| n.prefix > n.max_prefix()) {
            e.push(&path, format!("{what}: the prefix is longer than the address"));
        }
    }
    if r.table == Some(0) {
        e.push(&path, "table 0 is not a table");
    }
}

/// How a virtual server is written in keepalived.conf.
pub fn vs_path(vs: &VirtualServer) -> String {
    format!("virtual_server {}", vs.key)
}

impl Config {
    /// Checks the whole config and returns every problem found.
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let mut e = Errors(Vec::new());
        self.check_global(&mut e);
        self.check_interfaces(&mut e);
        self.check_scripts(&mut e);
        self.check_bfd(&mut e);
        self.check_vrrp(&mut e);
        self.check_sync_groups(&mut e);
        self.check_track_groups(&mut e);
        if let Some(d) = &self.global.lvs_sync_daemon {
            if !self.vrrp_instances.iter().any(|v| v.name == d.instance) {
                e.push("global_defs lvs_sync_daemon", format!("no vrrp_instance {}", d.instance));
            }
            if let Err(m) = check_ifname(&d.interface) {
                e.push("global_defs lvs_sync_daemon", format!("interface: {m}"));
            }
        }
        self.check_virtual_server_groups(&mut e);
        self.check_virtual_servers(&mut e);
        if e.0.is_empty() { Ok(()) } else { Err(e.0) }
    }

    fn check_global(&self, e: &mut Errors) {
        let g = &self.global;
        if let Err(m) = check_hostname(&g.hostname) {
            e.push("global_defs hostname", m);
        }
        if g.watchdog.enabled && !(1..=600).contains(&g.watchdog.timeout_s) {
            e.push("global_defs watchdog", format!("timeout {} s is outside 1..=600", g.watchdog.timeout_s));
        }
        let sup = g.supervision;
        if !(100..=10_000).contains(&sup.heartbeat_ms) {
            e.push("vigil_defs heartbeat_ms", format!("{} ms is outside 100..=10000", sup.heartbeat_ms));
        } else if u32::from(sup.heartbeat_limit_ms) < 2 * u32::from(sup.heartbeat_ms) {
            e.push(
                "vigil_defs heartbeat_limit_ms",
                format!(
                    "{} ms is less than two heartbeats ({} ms): one late heartbeat would kill a child",
                    sup.heartbeat_limit_ms,
                    2 * u32::from(sup.heartbeat_ms)
                ),
            );
        }
        if !(5..=3600).contains(&g.update_confirm_s) {
            e.push(
                "vigil_defs update_confirm_s",
                format!("{} s is outside 5..=3600 (how long a new firmware must stay healthy)", g.update_confirm_s),
            );
        }
        if !(10..=604_800).contains(&g.updates.poll_s) {
            e.push(
                "vigil_defs update_poll_s",
                format!("{} s is outside 10..=604800 (how often the update channel is asked)", g.updates.poll_s),
            );
        }
        if let Some(m) = g.metrics_listen
            && m.port() == 0
        {
            e.push("vigil_defs metrics_listen", format!("{m}: port 0 is no port a scraper can be told"));
        }
        if let Some(p) = &g.console_password
            && p.iterations < 1000
        {
            e.push("global_defs console_password", "fewer than 1000 PBKDF2 iterations");
        }
        // An interface has one pace: in one garp_group at most.
        let mut paced: BTreeMap<&str, usize> = BTreeMap::new();
        for (n, gg) in g.garp_groups.iter().enumerate() {
            let path = format!("garp_group {}", n + 1);
            if gg.interfaces.is_empty() {
                e.push(&path, "names no interface");
            }
            for i in &gg.interfaces {
                if let Err(m) = check_ifname(i) {
                    e.push(&path, format!("interface: {m}"));
                }
                if let Some(other) = paced.insert(i.as_str(), n + 1) {
                    e.push(&path, format!("interface {i} is in garp_group {other} too"));
                }
            }
        }
    }

    /// An instance without an interface (keepalived 2.1's): its adverts
    /// go to its unicast peers wherever routing takes them, and come in on
    /// any interface; its addresses each name their interface.
    fn check_interfaceless(&self, path: &str, v: &VrrpInstance, e: &mut Errors) {
        if v.unicast_peer.is_empty() {
            e.push(path, "has no interface: an instance without one needs unicast_peer (its adverts go where routing takes them)");
        }
        for p in v.unicast_peer.iter().chain(&v.unicast_src_ip) {
            if let IpAddr::V6(a) = p
                && a.segments()[0] & 0xffc0 == 0xfe80
            {
                e.push(path, format!("{a} is link-local: an instance without an interface cannot reach it"));
            }
        }
        for vip in v.virtual_ipaddress.iter().chain(&v.virtual_ipaddress_excluded) {
            if vip.dev.is_none() {
                e.push(path, format!("{}: the instance has no interface, so the address needs dev", vip.addr));
            }
        }
        if v.vmac.is_some() || v.ipvlan.is_some() {
            e.push(path, "use_vmac and use_ipvlan need the instance's interface");
        }
    }

    fn check_interfaces(&self, e: &mut Errors) {
        let mut names = BTreeSet::new();
        for i in &self.interfaces {
            let path = format!("interface {}", i.name);
            if let Err(m) = check_ifname(&i.name) {
                e.push(&path, m);
            }
            if !names.insert(i.name.as_str()) {
                e.push(&path, "is configured twice");
            }
            if let Some(mtu) = i.mtu
                && !(68..=9216).contains(&mtu)
            {
                e.push(&path, format!("mtu {mtu} is outside 68..=9216"));
            }
            check_addresses(e, &path, &i.addresses);
            let mut ids = BTreeSet::new();
            for v in &i.vlans {
                let vpath = format!("{path} vlan {}", v.id);
                if !(1..=4094).contains(&v.id) {
                    e.push(&vpath, "VLAN id must be 1..=4094");
                }
                if !ids.insert(v.id) {
                    e.push(&vpath, "is configured twice");
                }
                check_addresses(e, &vpath, &v.addresses);
            }
        }
    }

    /// Networks configured on an interface (by name, VLANs as `eth0.10`).
    fn networks_of(&self, ifname: &str) -> Option<Vec<IpNet>> {
        for i in &self.interfaces {
            if i.name.as_str() == ifname {
                return Some(i.addresses.to_vec());
            }
            for v in &i.vlans {
                if format!("{}.{}", i.name, v.id) == ifname {
                    return Some(v.addresses.to_vec());
                }
            }
        }
        None
    }

    fn check_vrrp(&self, e: &mut Errors) {
        let mut names = BTreeSet::new();
        let mut vrids: BTreeMap<(&str, u8, bool), &str> = BTreeMap::new();
        // A virtual address moved by two instances: whichever goes BACKUP
        // takes it away from the other's MASTER (keepalived runs such a
        // config, and the address comes and goes).
        let mut owner: BTreeMap<IpAddr, &str> = BTreeMap::new();
        let mut vmacs: BTreeMap<String, &str> = BTreeMap::new();
        for v in &self.vrrp_instances {
            let path = format!("vrrp_instance {}", v.name);
            let mine: BTreeSet<IpAddr> =
                v.virtual_ipaddress.iter().chain(&v.virtual_ipaddress_excluded).map(|a| a.addr.addr).collect();
            for a in mine {
                if let Some(other) = owner.insert(a, v.name.as_str())
                    && other != v.name.as_str()
                {
                    e.push(
                        &path,
                        format!("virtual address {a} is vrrp_instance {other}'s too: whichever goes BACKUP would take it from the other's MASTER"),
                    );
                }
            }
            if v.name.is_empty() {
                e.push("vrrp_instance", "has no name");
            }
            if !names.insert(v.name.as_str()) {
                e.push(&path, "is defined twice");
            }
            if v.interface.is_empty() {
                self.check_interfaceless(&path, v, e);
            } else if let Err(m) = check_ifname(&v.interface) {
                e.push(&path, format!("interface: {m}"));
            }
            if v.version != 2 && v.version != 3 {
                e.push(&path, format!("version {} is not 2 or 3", v.version));
            }
            if v.virtual_router_id == 0 {
                e.push(&path, "virtual_router_id must be 1..=255");
            }
            if v.priority == 0 {
                e.push(&path, "priority 0 is reserved (it means a master is resigning); use 1..=255");
            }
            match v.version {
                2 if v.advert_int_cs % 100 != 0 || !(100..=25500).contains(&v.advert_int_cs) => e.push(
                    &path,
                    format!("advert_int {} s: VRRPv2 needs whole seconds 1..=255", f64::from(v.advert_int_cs) / 100.0),
                ),
                3 if !(1..=4095).contains(&v.advert_int_cs) => e.push(
                    &path,
                    format!("advert_int {} s: VRRPv3 needs 0.01..=40.95", f64::from(v.advert_int_cs) / 100.0),
                ),
                _ => {}
            }
            if v.auth_pass.is_some() && v.version == 3 {
                e.push(&path, "authentication exists only in VRRPv2 (RFC 5798 removed it)");
            }
            // No virtual address is allowed, as keepalived allows it: the
            // instance elects a master for its notify programs (clouds
            // move their addresses through an API).
            let v6 = v.is_ipv6();
            if v6 && v.version == 2 {
                e.push(&path, "IPv6 virtual addresses need version 3");
            }
            let mut seen = BTreeSet::new();
            for vip in &v.virtual_ipaddress {
                let vpath = format!("{path} virtual_ipaddress {}", vip.addr);
                if vip.addr.addr.is_ipv6() != v6 {
                    e.push(&vpath, "mixes IPv4 and IPv6 in one instance");
                }
                if !seen.insert(vip.addr.addr) {
                    e.push(&vpath, "is listed twice");
                }
                if let Some(d) = &vip.dev
                    && let Err(m) = check_ifname(d)
                {
                    e.push(&vpath, format!("dev: {m}"));
                }
                // A VIP must be reachable on its link: inside a subnet of the
                // interface, when the config declares that interface's addresses.
                let dev = vip.dev.as_deref().unwrap_or(&v.interface);
                if let (IpAddr::V4(_), Some(nets)) = (vip.addr.addr, self.networks_of(dev)) {
                    let v4: Vec<&IpNet> = nets.iter().filter(|n| n.addr.is_ipv4()).collect();
                    if !v4.is_empty() && !v4.iter().any(|n| n.contains(vip.addr.addr)) {
                        let list: Vec<String> = v4.iter().map(|n| n.to_string()).collect();
                        e.push(&vpath, format!("is outside every subnet of {dev} ({})", list.join(", ")));
                    }
                }
            }
            if let Some(src) = v.unicast_src_ip
                && !v.virtual_ipaddress.is_empty()
                && src.is_ipv6() != v6
            {
                e.push(&path, "unicast_src_ip is not of the virtual addresses' family");
            }
            if !(1..=100).contains(&v.down_timer_adverts) {
                e.push(&path, format!("down_timer_adverts {} is outside 1..=100", v.down_timer_adverts));
            }
            if let Some(g) = v.mcast_dst_ip {
                // keepalived: an IPv6 group must be link-local (ffX2::).
                let ok = match g {
                    IpAddr::V4(a) => !v6 && a.is_multicast(),
                    IpAddr::V6(a) => v6 && a.is_multicast() && a.segments()[0] & 0x000f == 2,
                };
                if !ok {
                    let want =
                        if v6 { "a link-local IPv6 multicast group (ffX2::)" } else { "an IPv4 multicast group" };
                    e.push(&path, format!("mcast_dst_ip {g} is not {want}"));
                }
            }
            if let Some(vm) = &v.vmac {
                let name = vm.name_for(v.virtual_router_id, v6);
                if let Err(m) = check_ifname(&name) {
                    e.push(&path, format!("use_vmac {name}: {m}"));
                }
                // Named after a NIC it would hide it (vigil refuses to take
                // over a link that is not its vmac, at run time too).
                if name == v.interface.as_str() || self.interfaces.iter().any(|i| i.name.as_str() == name) {
                    e.push(&path, format!("use_vmac {name}: that is an interface of the appliance, not a vmac name"));
                }
                if let Some(other) = vmacs.insert(name.clone(), v.name.as_str()) {
                    e.push(&path, format!("use_vmac {name} is vrrp_instance {other}'s vmac too"));
                }
                if let Some(m) = vm.mac
                    && (m[0] & 1 == 1 || m == [0; 6])
                {
                    e.push(&path, format!("use_vmac {name}: the MAC is multicast or zero"));
                }
                if !vm.xmit_base && !v.unicast_peer.is_empty() {
                    e.push(&path, "use_vmac with unicast peers needs vmac_xmit_base (as in keepalived)");
                }
            }
            if let Some(ip) = &v.ipvlan {
                let name = ip.name_for(v.virtual_router_id, v6);
                if let Err(m) = check_ifname(&name) {
                    e.push(&path, format!("use_ipvlan {name}: {m}"));
                }
                if name == v.interface.as_str() || self.interfaces.iter().any(|i| i.name.as_str() == name) {
                    e.push(
                        &path,
                        format!("use_ipvlan {name}: that is an interface of the appliance, not an ipvlan name"),
                    );
                }
                if let Some(other) = vmacs.insert(name.clone(), v.name.as_str()) {
                    e.push(&path, format!("use_ipvlan {name} is vrrp_instance {other}'s vmac or ipvlan too"));
                }
                if v.vmac.is_some() {
                    e.push(&path, "use_ipvlan and use_vmac both: an instance runs on one of them");
                }
                match ip.address {
                    // keepalived: an ipvlan takes only the packets for its
                    // own addresses, so IPv4 adverts need one to come from.
                    None if !v6 => e.push(
                        &path,
                        format!("use_ipvlan {name}: an IPv4 instance's ipvlan needs its own address (use_ipvlan {name} ADDRESS/PREFIX)"),
                    ),
                    Some(a) if a.addr.is_ipv6() != v6 => {
                        e.push(&path, format!("use_ipvlan {name}: its address {a} is not of the instance's family"))
                    }
                    _ => {}
                }
            }
            for vip in v.virtual_ipaddress.iter().chain(&v.virtual_ipaddress_excluded) {
                if vip.peer.is_some_and(|p| p.addr.is_ipv6() != vip.addr.addr.is_ipv6()) {
                    e.push(&path, format!("{}: its peer is not of its family", vip.addr));
                }
                if vip.brd.is_some() && vip.addr.addr.is_ipv6() {
                    e.push(&path, format!("{}: brd is IPv4's", vip.addr));
                }
            }
            if v.track_src_ip && v.unicast_src_ip.is_none() {
                e.push(&path, "track_src_ip needs a unicast_src_ip (or mcast_src_ip) to track");
            }
            for p in &v.unicast_peer {
                if p.is_ipv6() != v6 {
                    e.push(&path, format!("unicast_peer {p} is not of the virtual addresses' family"));
                }
            }
            for t in &v.track_interface {
                if !(-254..=254).contains(&t.weight) {
                    e.push(&path, format!("track_interface {} weight {} is outside -254..=254", t.interface, t.weight));
                }
            }
            for t in &v.track_script {
                self.tracked_weight(&path, t, e);
            }
            for t in &v.track_process {
                self.tracked_process_weight(&path, t, e);
            }
            for t in &v.track_file {
                if !self.track_files.iter().any(|f| f.name == t.name) {
                    e.push(&path, format!("track_file {}: no vrrp_track_file of that name", t.name));
                }
            }
            for t in &v.track_bfd {
                self.tracked_bfd(&path, t, e);
            }
            for vip in &v.virtual_ipaddress_excluded {
                if v.virtual_ipaddress.iter().any(|x| x.addr.addr == vip.addr.addr) {
                    e.push(&path, format!("virtual_ipaddress_excluded {} is a virtual address too", vip.addr));
                }
            }
            for r in &v.virtual_routes {
                check_route(&format!("{path} virtual_routes"), r, e);
            }
            for r in &v.virtual_rules {
                check_rule(&format!("{path} virtual_rules"), r, e);
            }
            if v.virtual_router_id != 0
                && let Some(other) = vrids.insert((v.interface.as_str(), v.virtual_router_id, v6), v.name.as_str())
            {
                let on = if v.interface.is_empty() {
                    "without an interface".to_string()
                } else {
                    format!("on {}", v.interface)
                };
                e.push(
                    &path,
                    format!("virtual_router_id {} {on} is already used by vrrp_instance {other}", v.virtual_router_id),
                );
            }
        }
    }

    fn check_scripts(&self, e: &mut Errors) {
        // Each instance may have ROUTES of each, but not every instance:
        // the largest config must fit a flash slot (blob::MAX_BODY).
        let routes =
            self.global.static_routes.len() + self.vrrp_instances.iter().map(|v| v.virtual_routes.len()).sum::<usize>();
        let rules =
            self.global.static_rules.len() + self.vrrp_instances.iter().map(|v| v.virtual_rules.len()).sum::<usize>();
        for (what, n) in [("routes", routes), ("rules", rules)] {
            if n > ROUTES_TOTAL {
                e.push(
                    "vrrp_instance",
                    format!("{n} {what} across the instances and the static ones: more than {ROUTES_TOTAL}"),
                );
            }
        }
        for r in &self.global.static_routes {
            check_route("static_routes", r, e);
        }
        for r in &self.global.static_rules {
            check_rule("static_rules", r, e);
        }
        let mut names = BTreeSet::new();
        for t in &self.track_processes {
            let path = format!("vrrp_track_process {}", t.name);
            if !names.insert(t.name.as_str()) {
                e.push(&path, "is defined twice");
            }
            if let Err(m) = crate::command::split(&t.process) {
                e.push(&path, format!("process: {m}"));
            }
            if t.quorum_max.is_some_and(|m| m < t.quorum) {
                e.push(&path, format!("quorum_max {} is below quorum {}", t.quorum_max.unwrap_or(0), t.quorum));
            }
            if !(-253..=253).contains(&t.weight) {
                e.push(&path, format!("weight {} is outside -253..=253", t.weight));
            }
        }
        let mut names = BTreeSet::new();
        for sc in &self.vrrp_scripts {
            let path = format!("vrrp_script {}", sc.name);
            if !names.insert(sc.name.as_str()) {
                e.push(&path, "is defined twice");
            }
            if let Err(m) = crate::command::split(&sc.script) {
                e.push(&path, format!("script: {m}"));
            }
            if sc.interval_ms == 0 || sc.timeout_ms == Some(0) {
                e.push(&path, "interval and timeout are more than 0 seconds");
            }
            if !(-253..=253).contains(&sc.weight) {
                e.push(&path, format!("weight {} is outside -253..=253", sc.weight));
            }
            if sc.rise == 0 || sc.fall == 0 {
                e.push(&path, "rise and fall are 1 or more");
            }
        }
    }

    /// `bfd_instance` blocks, with keepalived 2.2.7's ranges (its parser ignores
    /// a value out of range; here it is an error where it was written).
    fn check_bfd(&self, e: &mut Errors) {
        let mut names = BTreeSet::new();
        let mut neighbors = BTreeMap::new();
        for b in &self.bfd_instances {
            let path = format!("bfd_instance {}", b.name);
            if b.name.is_empty() {
                e.push("bfd_instance", "has no name");
            }
            if !names.insert(b.name.as_str()) {
                e.push(&path, "is defined twice");
            }
            if let Some(other) = neighbors.insert(b.neighbor, b.name.as_str()) {
                e.push(&path, format!("neighbor_ip {} is bfd_instance {other}'s too", b.neighbor));
            }
            if b.source.is_some_and(|s| s.is_ipv4() != b.neighbor.is_ipv4()) {
                e.push(
                    &path,
                    format!(
                        "source_ip {} and neighbor_ip {} are of different families",
                        b.source.map(|s| s.to_string()).unwrap_or_default(),
                        b.neighbor
                    ),
                );
            }
            // keepalived 2.2.7's ranges, in ms with three decimals.
            for (what, us, lo) in
                [("min_rx", b.min_rx_us, 1_000), ("min_tx", b.min_tx_us, 1_000), ("idle_tx", b.idle_tx_us, 1_000_000)]
            {
                if !(lo..=BFD_INTERVAL_MAX_US).contains(&us) {
                    let ms = f64::from(us) / 1000.0;
                    e.push(
                        &path,
                        format!("{what} {ms} ms is outside {}..={} ms", lo / 1000, BFD_INTERVAL_MAX_US / 1000),
                    );
                }
            }
            if b.multiplier == 0 {
                e.push(&path, "multiplier 0 is outside 1..=255");
            }
            if b.ttl == Some(0) {
                e.push(&path, "ttl 0: a packet sent with it goes nowhere (1..=255)");
            }
            if b.max_hops != 255 && b.max_hops > b.ttl() {
                e.push(&path, format!("max_hops {} is more than the ttl {} sent", b.max_hops, b.ttl()));
            }
            if !(-253..=253).contains(&b.weight) {
                e.push(&path, format!("weight {} is outside -253..=253", b.weight));
            }
        }
    }

    /// A `track_bfd` line: its bfd_instance, told to VRRP, and its weight.
    fn tracked_bfd(&self, path: &str, t: &TrackScript, e: &mut Errors) {
        let Some(b) = self.bfd_instances.iter().find(|b| b.name == t.name) else {
            e.push(path, format!("track_bfd {}: no bfd_instance of that name", t.name));
            return;
        };
        if b.events == BfdEvents::Checker {
            e.push(path, format!("track_bfd {}: that bfd_instance says `checker`, so VRRP is not told", t.name));
        }
        if let Some((w, _)) = t.weight
            && !(-253..=253).contains(&w)
        {
            e.push(path, format!("track_bfd {} weight {w} is outside -253..=253", t.name));
        }
    }

    /// The weight a `track_process` line gives its process (its own, or
    /// the block's).
    fn tracked_process_weight(&self, path: &str, t: &TrackScript, e: &mut Errors) -> Option<i16> {
        let Some(tp) = self.track_processes.iter().find(|s| s.name == t.name) else {
            e.push(path, format!("track_process {}: no vrrp_track_process of that name", t.name));
            return None;
        };
        Some(t.weight.map_or(tp.weight, |w| w.0))
    }

    /// The weight a `track_script` line gives its script (its own, or the
    /// script's), and problems with the line.
    fn tracked_weight(&self, path: &str, t: &TrackScript, e: &mut Errors) -> Option<i16> {
        let Some(sc) = self.vrrp_scripts.iter().find(|s| s.name == t.name) else {
            e.push(path, format!("track_script {}: no vrrp_script of that name", t.name));
            return None;
        };
        let w = t.weight.map_or(sc.weight, |w| w.0);
        if !(-253..=253).contains(&w) {
            e.push(path, format!("track_script {} weight {w} is outside -253..=253", t.name));
        }
        Some(w)
    }

    fn check_sync_groups(&self, e: &mut Errors) {
        let mut member_of: BTreeMap<&str, &str> = BTreeMap::new();
        let mut names = BTreeSet::new();
        for g in &self.sync_groups {
            let path = format!("vrrp_sync_group {}", g.name);
            if !names.insert(g.name.as_str()) {
                e.push(&path, "is defined twice");
            }
            if g.group.is_empty() {
                e.push(&path, "has no members (group { INSTANCE ... })");
            }
            // Weights count here as keepalived counts them: a sync group's
            // tracking moves every member's priority, a member's its own.
            for t in &g.track_script {
                self.tracked_weight(&path, t, e);
            }
            for t in &g.track_bfd {
                self.tracked_bfd(&path, t, e);
            }
            for m in &g.group {
                if !self.vrrp_instances.iter().any(|v| v.name == *m) {
                    e.push(&path, format!("group member {m} is not a vrrp_instance"));
                }
                if let Some(other) = member_of.insert(m.as_str(), g.name.as_str()) {
                    e.push(&path, format!("{m} is already in vrrp_sync_group {other}"));
                }
            }
        }
    }

    /// Static track groups: their members are instances, and each static
    /// item naming one exists, names an existing group, once, and has an
    /// interface to follow.
    fn check_track_groups(&self, e: &mut Errors) {
        let g = &self.global;
        let mut names = BTreeSet::new();
        for t in &g.track_groups {
            let path = format!("track_group {}", t.name);
            if !names.insert(t.name.as_str()) {
                e.push(&path, "is defined twice");
            }
            if t.group.is_empty() {
                e.push(&path, "has no members (group { INSTANCE ... })");
            }
            for m in &t.group {
                if !self.vrrp_instances.iter().any(|v| v.name == *m) {
                    e.push(&path, format!("group member {m} is not a vrrp_instance"));
                }
            }
        }
        let mut seen = BTreeSet::new();
        for t in &g.static_tracks {
            let (path, exists, has_if) = match t.item {
                StaticItem::Address(i) => {
                    let a = g.static_ipaddress.get(usize::from(i));
                    (format!("static_ipaddress {}", a.map_or("?".into(), |a| a.addr.to_string())), a.is_some(), true)
                }
                StaticItem::Route(i) => {
                    let r = g.static_routes.get(usize::from(i));
                    (
                        format!("static_routes {}", r.map_or("?".into(), |r| r.dst.to_string())),
                        r.is_some(),
                        r.is_some_and(|r| r.dev.is_some()),
                    )
                }
                StaticItem::Rule(i) => {
                    let r = g.static_rules.get(usize::from(i));
                    (format!("static_rules {}", r.map_or("?".into(), |r| r.to_string())), r.is_some(), true)
                }
            };
            if !exists {
                e.push("global_defs static_tracks", format!("{:?} is past the end of its list", t.item));
                continue;
            }
            if !seen.insert(t.item) {
                e.push(&path, "names a track_group twice");
            }
            if !g.track_groups.iter().any(|x| x.name == t.group) {
                e.push(&path, format!("track_group {}: no track_group of that name", t.group));
            }
            if !has_if {
                e.push(&path, "a route's track_group follows its dev: give it one (keepalived refuses it too)");
            }
        }
    }

    fn check_virtual_server_groups(&self, e: &mut Errors) {
        let mut names = BTreeSet::new();
        for g in &self.virtual_server_groups {
            let path = format!("virtual_server_group {}", g.name);
            if !names.insert(g.name.as_str()) {
                e.push(&path, "is defined twice");
            }
            if g.entries.is_empty() {
                e.push(&path, "has no addresses or marks");
            }
            let mut v6 = None;
            for entry in &g.entries {
                let at = format!("{path} {entry}");
                match *entry {
                    GroupEntry::Fwmark(0) => e.push(&at, "fwmark 0 is not a mark"),
                    GroupEntry::Fwmark(_) => {}
                    GroupEntry::Range { first, end, .. } => {
                        if *v6.get_or_insert(first.is_ipv6()) != first.is_ipv6() {
                            e.push(&at, "mixes IPv4 and IPv6 addresses in one group");
                        }
                        let start = GroupEntry::last_part(first);
                        match end {
                            Some(end) if first.is_ipv4() && end > 255 => {
                                e.push(&at, format!("range end {end} is past the last octet (255)"))
                            }
                            Some(end) if end <= start => {
                                e.push(&at, format!("range end {end} is not above its start {start}"))
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }

    fn check_virtual_servers(&self, e: &mut Errors) {
        // Every IPVS service the virtual servers stand for, counted before
        // any is listed: a range is up to 65,535 of them.
        let total: usize = self
            .virtual_servers
            .iter()
            .map(|vs| match &vs.key {
                VirtualKey::Group(name) => {
                    self.virtual_server_group(name).map_or(0, |g| g.entries.iter().map(GroupEntry::len).sum())
                }
                _ => 1,
            })
            .sum();
        if total > IPVS_SERVICES {
            e.push(
                "virtual_server",
                format!(
                    "the virtual servers and their groups stand for {total} IPVS services, more than {IPVS_SERVICES}"
                ),
            );
        }
        let mut keys = BTreeMap::new();
        for vs in &self.virtual_servers {
            let path = vs_path(vs);
            if let Some(t) = vs.tunnel {
                if vs.lb_kind != Forwarding::Tun {
                    e.push(&path, format!("{t} without lvs_method TUN"));
                }
                check_tunnel(e, &path, t);
            }
            if let Some(pe) = &vs.persistence_engine {
                // The kernel has one (ip_vs_pe_sip); it keys on SIP's Call-ID,
                // over UDP, and only for a persistent service.
                if pe.as_str() != "sip" {
                    e.push(&path, format!("persistence_engine {pe}: the kernel's only engine is sip"));
                } else if vs.persistence_timeout == 0 {
                    e.push(&path, "persistence_engine sip needs persistence_timeout");
                }
            }
            match &vs.key {
                VirtualKey::Address(a) if a.port() == 0 && vs.persistence_timeout == 0 => {
                    e.push(&path, "port 0 is only allowed for persistent services");
                }
                VirtualKey::Fwmark(0) => e.push(&path, "fwmark 0 is not a mark"),
                VirtualKey::Group(name) => match self.virtual_server_group(name) {
                    None => e.push(&path, format!("no virtual_server_group {name}")),
                    Some(g) => {
                        if vs.persistence_timeout == 0
                            && let Some(p) = g.entries.iter().find(|x| matches!(x, GroupEntry::Range { port: 0, .. }))
                        {
                            e.push(&path, format!("{p}: port 0 is only allowed for persistent services"));
                        }
                    }
                },
                _ => {}
            }
            // A fwmark service is one per mark and family, whatever the
            // protocol.
            let v6 = vs.fwmark_v6();
            if let (VirtualKey::Fwmark(_), Some(fam)) = (&vs.key, vs.ip_family_v6) {
                for rs in vs.real_servers.iter().filter(|r| r.addr.is_ipv6() != fam) {
                    let want = if fam { "inet6" } else { "inet" };
                    e.push(&path, format!("real_server {} is not of its ip_family {want}", rs.addr));
                }
            }
            if total <= IPVS_SERVICES {
                for key in self.services(vs) {
                    let id = match key {
                        VirtualKey::Fwmark(m) => (VirtualKey::Fwmark(m), None, v6),
                        k => (k, Some(vs.protocol), false),
                    };
                    if let Some(other) = keys.insert(id.clone(), path.clone()) {
                        let what = &id.0;
                        if other == path {
                            e.push(&path, format!("stands for {what} twice"));
                        } else {
                            e.push(&path, format!("{what} is also {other}"));
                        }
                    }
                }
            }
            if vs.quorum == 0 {
                e.push(&path, "quorum must be at least 1");
            }
            if let Some(g) = vs.persistence_granularity
                && vs.persistence_timeout == 0
            {
                e.push(&path, format!("persistence_granularity {g} without persistence_timeout"));
            }
            let mut reals = BTreeSet::new();
            for rs in &vs.real_servers {
                let rpath = format!("{path} real_server {} {}", rs.addr.ip(), rs.addr.port());
                if rs.addr.port() == 0
                    && self.services(vs).any(|k| matches!(k, VirtualKey::Address(a) if a.port() != 0))
                {
                    e.push(&rpath, "port 0");
                }
                if !reals.insert(rs.addr) {
                    e.push(&rpath, "is listed twice");
                }
                if rs.weight > 65535 {
                    e.push(&rpath, format!("weight {} is above 65535", rs.weight));
                }
                if rs.lthreshold > 0 && rs.uthreshold > 0 && rs.lthreshold > rs.uthreshold {
                    e.push(&rpath, format!("lthreshold {} is above uthreshold {}", rs.lthreshold, rs.uthreshold));
                }
                if let Some(t) = rs.tunnel {
                    if rs.lb_kind.unwrap_or(vs.lb_kind) != Forwarding::Tun {
                        e.push(&rpath, format!("{t} without lvs_method TUN"));
                    }
                    check_tunnel(e, &rpath, t);
                }
                for c in &rs.checkers {
                    check_checker(e, &rpath, c);
                    if let CheckKind::Bfd { name } = &c.kind {
                        match self.bfd_instances.iter().find(|b| b.name == **name) {
                            None => e.push(&rpath, format!("BFD_CHECK name {name}: no bfd_instance of that name")),
                            Some(b) if b.events == BfdEvents::Vrrp => e.push(
                                &rpath,
                                format!(
                                    "BFD_CHECK name {name}: that bfd_instance says `vrrp`, so the checkers are not told"
                                ),
                            ),
                            Some(_) => {}
                        }
                    }
                    if let CheckKind::File { track_file, .. } = &c.kind
                        && !self.track_files.iter().any(|f| f.name == **track_file)
                    {
                        e.push(&rpath, format!("FILE_CHECK track_file {track_file}: no vrrp_track_file of that name"));
                    }
                }
            }
        }
    }
}

fn check_addresses(e: &mut Errors, path: &str, addrs: &[IpNet]) {
    let mut seen = BTreeSet::new();
    for a in addrs {
        if a.prefix > a.max_prefix() {
            e.push(path, format!("{a}: prefix too long"));
        }
        if !seen.insert(a.addr) {
            e.push(path, format!("address {} is listed twice", a.addr));
        }
    }
}

/// A tunnel the kernel takes: GUE to a port, no remote checksum on GRE.
fn check_tunnel(e: &mut Errors, path: &str, t: Tunnel) {
    match t {
        Tunnel::Gue { port: 0, .. } => e.push(path, "type gue needs a port"),
        Tunnel::Gre { csum: TunCsum::Remcsum } => e.push(path, "type gre has no remcsum"),
        _ => {}
    }
}

fn check_checker(e: &mut Errors, path: &str, c: &Checker) {
    let name = c.kind.keyword();
    let path = format!("{path} {name}");
    if c.connect_timeout_s == 0 {
        e.push(&path, "connect_timeout must be at least 1 s");
    }
    if c.connect_port == Some(0) {
        e.push(&path, "connect_port 0");
    }
    if let Some(i) = &c.bind_if
        && let Err(m) = check_ifname(i)
    {
        e.push(&path, format!("bind_if: {m}"));
    }
    match &c.kind {
        CheckKind::Http(h) => {
            if h.urls.is_empty() {
                e.push(&path, "needs at least one url");
            }
            for u in &h.urls {
                if !u.path.starts_with('/') {
                    e.push(&path, format!("url path {:?} must start with '/'", u.path));
                }
                for s in &u.status_code {
                    if !(100..=599).contains(&s.from) || !(100..=599).contains(&s.to) || s.from > s.to {
                        e.push(&path, format!("status_code {s} is not an HTTP status or range of them"));
                    }
                }
                if let Some(r) = &u.regex {
                    if let Err(why) = r.compile() {
                        e.push(&path, format!("regex {:?}: {why}", r.pattern));
                    }
                    if r.max_offset.is_some_and(|m| m < r.min_offset) {
                        e.push(&path, "regex_max_offset is before regex_min_offset");
                    }
                }
            }
        }
        CheckKind::Misc { path: p, timeout_s, .. } => {
            if !p.starts_with('/') {
                e.push(&path, format!("misc_path {p:?} must be an absolute path"));
            }
            if *timeout_s == 0 {
                e.push(&path, "misc_timeout must be at least 1 s");
            }
        }
        CheckKind::Dns { query_name, .. } if query_name.is_empty() => e.push(&path, "empty name"),
        _ => {}
    }
}
