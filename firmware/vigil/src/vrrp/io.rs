//! An instance's I/O: what the kernel says about its interface (index,
//! MAC, primary address), its send socket, its vmac and its announcement,
//! prepared before the router starts it and dropped after it has gone.

use super::announce::Announcement;
use super::vmac::{self, Vmac};
use crate::net::Rtnl;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::Duration;
use tracing::{info, warn};
use vigil_config::{Config, VrrpInstance};
use vigil_vrrp::instance;
use vigil_vrrp::router::{Garp, Spec, TrackedScript};
use vigil_vrrp::wire;

/// The kernel's links and addresses, read once for a batch of instances
/// (each used to dump them for itself: with 256 instances and their 8,192
/// addresses up, a restart read millions of records).
pub struct Snapshot {
    links: Vec<crate::net::Link>,
    addrs: Vec<(i32, IpAddr, u8)>,
}

impl Snapshot {
    pub fn read() -> Result<Snapshot, String> {
        let mut rtnl = Rtnl::open().map_err(|e| format!("rtnetlink: {e}"))?;
        let links = rtnl.links().map_err(|e| format!("reading links: {e}"))?;
        let addrs = rtnl.all_addresses().map_err(|e| format!("reading addresses: {e}"))?;
        Ok(Snapshot { links, addrs })
    }

    fn link(&self, name: &str) -> Option<&crate::net::Link> {
        self.links.iter().find(|l| l.name == name)
    }

    pub fn has_link(&self, name: &str) -> bool {
        self.link(name).is_some()
    }

    /// Every address on the system (for `track_src_ip` and tracked addresses).
    pub fn all_addresses(&self) -> Vec<IpAddr> {
        self.addrs.iter().map(|a| a.1).collect()
    }

    fn addresses(&self, index: i32) -> impl Iterator<Item = IpAddr> + '_ {
        self.addrs.iter().filter(move |a| a.0 == index).map(|a| a.1)
    }

    /// The instance as the router runs it: the config with its interface's
    /// index and its primary address: unicast_src_ip, else the interface's
    /// first IPv4 address (not a VIP), or for IPv6 its link-local address
    /// (RFC 5798 5.1.2.1).
    pub fn spec(&self, v: &VrrpInstance, config: &Config) -> Result<Spec, String> {
        let v6 = v.is_ipv6();
        // Without an interface (unicast only) its adverts come in on any
        // interface: the receiver of index 0, bound to none.
        let link = match v.interface.is_empty() {
            true => None,
            false => Some(self.link(v.interface.as_str()).ok_or_else(|| format!("no interface {}", v.interface))?),
        };
        // An IPv4 ipvlan's address is the adverts' source (keepalived's
        // too), unless unicast_src_ip says; IPv6 adverts leave from the
        // interface's link-local address (RFC 5798 5.1.2.1).
        let ipvlan_addr = v.ipvlan.as_ref().and_then(|i| i.address).map(|a| a.addr).filter(IpAddr::is_ipv4);
        let primary = match (v.unicast_src_ip.or(ipvlan_addr), link) {
            (Some(a), _) => a,
            (None, None) => route_source(&v.unicast_peer)?,
            (None, Some(link)) => self
                .addresses(link.index)
                .find(|a| match a {
                    IpAddr::V4(_) => !v6 && !v.virtual_ipaddress.iter().any(|x| x.addr.addr == *a),
                    IpAddr::V6(x) => v6 && x.segments()[0] & 0xffc0 == 0xfe80,
                })
                .ok_or_else(|| {
                    format!(
                        "{} has no {} address to send from",
                        v.interface,
                        if v6 { "link-local IPv6" } else { "IPv4" }
                    )
                })?,
        };
        let auth = v.auth_pass.as_ref().map(|p| {
            let mut a = [0u8; 8];
            a[..p.len()].copy_from_slice(p.as_bytes());
            a
        });
        Ok(Spec {
            name: v.name.to_string(),
            ifname: v.interface.to_string(),
            ifindex: link.map_or(0, |l| l.index),
            peers: v.unicast_peer.to_vec(),
            group: v.mcast_dst_ip,
            fault_no_peer: v.unicast_fault_no_peer && v.unicast_peer.is_empty(),
            track_src: v.unicast_src_ip.filter(|_| v.track_src_ip),
            // keepalived resigns when one of these is removed under it;
            // `no_track` opts an address out.
            tracked_addresses: v
                .virtual_ipaddress
                .iter()
                .chain(v.virtual_ipaddress_excluded.iter())
                .filter(|a| !a.no_track)
                .map(|a| a.addr.addr)
                .collect(),
            track_primary: !v.dont_track_primary && link.is_some(),
            vrrp: instance::Config {
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
                garp_refresh: (v.garp.master_refresh_s > 0)
                    .then(|| Duration::from_secs(u64::from(v.garp.master_refresh_s))),
                garp_lower_prio_delay: Duration::from_secs(u64::from(
                    v.garp.lower_prio_delay_s.unwrap_or(v.garp.master_delay_s),
                )),
                down_timer_adverts: v.down_timer_adverts,
                // Only with addresses on other interfaces (`dev`).
                garp_extra: v
                    .garp_extra_if
                    .filter(|_| {
                        v.virtual_ipaddress
                            .iter()
                            .chain(&v.virtual_ipaddress_excluded)
                            .any(|a| a.dev.as_ref().is_some_and(|d| *d != v.interface))
                    })
                    .map(|(s, _)| Duration::from_secs(u64::from(s))),
                skip_check_adv_addr: v.skip_check_adv_addr,
                lower_prio_no_advert: v.lower_prio_no_advert,
                higher_prio_send_advert: v.higher_prio_send_advert,
            },
            garp: Garp {
                repeat: u32::from(v.garp.master_repeat.max(1)),
                refresh_repeat: u32::from(v.garp.master_refresh_repeat.max(1)),
                lower_prio_repeat: u32::from(v.garp.lower_prio_repeat.unwrap_or(v.garp.master_repeat).max(1)),
                interval: Duration::from_millis(u64::from(v.garp.interval_ms)),
            },
            // A static track group's members follow its items' interfaces
            // as a weight-0 track_interface (keepalived adds them so).
            track: v
                .track_interface
                .iter()
                .map(|t| (t.interface.to_string(), t.weight))
                .chain(config.global.track_group_interfaces(&v.name).into_iter().map(|i| (i.to_string(), 0)))
                .collect(),
            scripts: tracked_scripts(v, config),
            files: tracked_files(v, config),
        })
    }

    /// Its first virtual address is up (a daemon restarted while master):
    /// it resumes as master, so the addresses do not flap.
    pub fn still_up(&self, v: &VrrpInstance) -> bool {
        let index = self.link(v.interface.as_str()).map_or(-1, |l| l.index);
        v.vmac.is_none()
            && v.ipvlan.is_none()
            && v.address_vmacs().is_empty()
            && v.virtual_ipaddress.first().is_some_and(|vip| {
                let dev = vip.dev.as_deref().map_or(index, |d| self.link(d).map_or(-1, |l| l.index));
                self.addresses(dev).any(|ip| ip == vip.addr.addr)
            })
    }
}

/// The address the kernel sends from toward the first unicast peer (an
/// instance with neither an interface nor `unicast_src_ip`): what a
/// connected UDP socket is given, which is the route's source.
fn route_source(peers: &[IpAddr]) -> Result<IpAddr, String> {
    let peer = *peers.first().ok_or("no unicast peer, no address to send from")?;
    let domain = if peer.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let found = Socket::new(domain, Type::DGRAM, None)
        .and_then(|s| s.connect(&SockAddr::from(SocketAddr::new(peer, 9))).map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.as_socket().map(|a| a.ip()));
    match found {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(format!("no address to send from toward {peer}")),
        Err(e) => Err(format!("no address to send from toward {peer}: {e}")),
    }
}

/// The scripts an instance tracks (its own `track_script` and its sync
/// group's), each with the weight and direction it tracks it with: the
/// line's own, else the script's. Tracked processes and BFD sessions
/// count as scripts, under their router names.
pub fn tracked_scripts(v: &VrrpInstance, config: &Config) -> Vec<TrackedScript> {
    let scripts = tracked(
        v,
        config,
        |v| &v.track_script,
        |g| &g.track_script,
        |n| config.vrrp_scripts.iter().find(|s| s.name == n).map(|s| (s.weight, s.reverse)),
        str::to_string,
    );
    let processes = tracked(
        v,
        config,
        |v| &v.track_process,
        |g| &g.track_process,
        |n| config.track_processes.iter().find(|s| s.name == n).map(|s| (s.weight, s.reverse)),
        super::processes::key,
    );
    let bfd = tracked(
        v,
        config,
        |v| &v.track_bfd,
        |g| &g.track_bfd,
        |n| config.bfd_instances.iter().find(|b| b.name == n).map(|b| (b.weight, b.reverse)),
        super::bfd_key,
    );
    scripts.into_iter().chain(processes).chain(bfd).collect()
}

/// The files an instance tracks (its own `track_file` and its sync
/// group's), with the weight it tracks each with.
pub fn tracked_files(v: &VrrpInstance, config: &Config) -> Vec<TrackedScript> {
    tracked(
        v,
        config,
        |v| &v.track_file,
        |g| &g.track_file,
        |n| config.track_files.iter().find(|f| f.name == n).map(|f| (f.weight, f.reverse)),
        str::to_string,
    )
}

/// One kind of tracking line of an instance and of its sync groups: each
/// whose block exists (`block` gives its weight and direction), with the
/// line's own weight if it has one, named `key(name)` for the router.
fn tracked(
    v: &VrrpInstance,
    config: &Config,
    own: impl Fn(&VrrpInstance) -> &[vigil_config::TrackScript],
    group: impl Fn(&vigil_config::SyncGroup) -> &[vigil_config::TrackScript],
    block: impl Fn(&str) -> Option<(i16, bool)>,
    key: impl Fn(&str) -> String,
) -> Vec<TrackedScript> {
    let groups = config.sync_groups.iter().filter(|g| g.group.contains(&v.name));
    let lines = own(v).iter().chain(groups.flat_map(|g| group(g).iter()));
    lines
        .filter_map(|t| {
            let (weight, reverse) = t.weight.unwrap_or(block(&t.name)?);
            Some(TrackedScript { name: key(&t.name), weight, reverse })
        })
        .collect()
}

/// A running instance's I/O.
pub struct Io {
    pub conf: VrrpInstance,
    pub ifindex: i32,
    sock: Socket,
    pub vmac: Option<Vmac>,
    /// Vmacs for its addresses on other interfaces or of the other family
    /// (`use_vmac_addr`, an address's `use_vmac`).
    pub addr_vmacs: Vec<vmac::AddressVmac>,
    /// The `vmac_addr_prefix` they were named with (a new one makes them
    /// again).
    pub vmac_prefix: Option<String>,
    pub announcement: Announcement,
    /// Its log lines say which instance they are about.
    pub span: tracing::Span,
    /// Whether an advert went out yet (the first is logged).
    pub sent: bool,
}

impl Io {
    /// Opens the send socket and creates the vmac.
    pub fn open(v: &VrrpInstance, spec: &Spec, snap: &Snapshot, vmac_prefix: Option<&str>) -> Result<Io, String> {
        let span = tracing::info_span!("vrrp_instance", name = %v.name);
        let _in = span.enter();
        // An instance without an interface has only addresses with `dev`.
        let nowhere = crate::net::Link { index: 0, name: String::new(), flags: 0, mtu: 0, mac: None };
        let link = match v.interface.is_empty() {
            true => &nowhere,
            false => snap.link(v.interface.as_str()).ok_or_else(|| format!("no interface {}", v.interface))?,
        };
        if v.promote_secondaries && !v.interface.is_empty() {
            // Removing one address of a subnet keeps the others (the
            // kernel would drop every secondary with its primary).
            let path = format!("/proc/sys/net/ipv4/conf/{}/promote_secondaries", v.interface);
            match std::fs::write(&path, "1") {
                Ok(()) => info!("promote_secondaries set on {}", v.interface),
                Err(e) => warn!("{path}: {e}"),
            }
        }
        let sock = send_socket(v, spec)?;
        let vmac = match (&v.vmac, &v.ipvlan) {
            (Some(vm), _) => {
                let mut rtnl = Rtnl::open().map_err(|e| format!("rtnetlink: {e}"))?;
                Some(vmac::create(&mut rtnl, v, vm, link.index, spec.vrrp.primary)?)
            }
            (None, Some(ip)) => {
                let mut rtnl = Rtnl::open().map_err(|e| format!("rtnetlink: {e}"))?;
                Some(vmac::create_ipvlan(&mut rtnl, v, ip, link, spec.vrrp.primary)?)
            }
            (None, None) => None,
        };
        let addr_vmacs = if v.address_vmacs().is_empty() {
            Vec::new()
        } else {
            let mut rtnl = Rtnl::open().map_err(|e| format!("rtnetlink: {e}"))?;
            vmac::create_for_addresses(&mut rtnl, v, vmac_prefix, vmac.as_ref())
        };
        let mac = link.mac.unwrap_or_default();
        // Gratuitous ARPs leave from the vmac with its MAC (with
        // vmac_xmit_base too: a switch must learn the virtual MAC's port).
        let (out_index, out_mac) = vmac.as_ref().map_or((link.index, mac), |m| (m.index, m.mac));
        // The excluded addresses are announced too (of the instance's
        // family: its announcement is ARP or NA), each on its interface: a
        // VIP with `dev` is announced there, from that interface's MAC
        // (hosts on that link are the ones that must learn it).
        let addrs: Vec<&vigil_config::VirtualAddress> = v
            .virtual_ipaddress
            .iter()
            .chain(v.virtual_ipaddress_excluded.iter().filter(|a| a.addr.addr.is_ipv6() == spec.v6()))
            .collect();
        // An address on an address vmac is announced from it, below.
        let on_vmac = |a: &vigil_config::VirtualAddress| {
            v.address_vmac_of(a).is_some_and(|of| addr_vmacs.iter().any(|m| m.of == of))
        };
        let addrs: Vec<&vigil_config::VirtualAddress> = addrs.into_iter().filter(|a| !on_vmac(a)).collect();
        let elsewhere = |a: &&&vigil_config::VirtualAddress| a.dev.as_ref().is_some_and(|d| *d != v.interface);
        let own = addrs.iter().filter(|a| !elsewhere(a)).map(|a| a.addr.addr);
        let mut announcement = Announcement::new(spec.v6(), link.index, &v.interface, out_index, out_mac, own);
        let mut devs: Vec<&str> = addrs.iter().filter(elsewhere).filter_map(|a| a.dev.as_deref()).collect();
        devs.sort();
        devs.dedup();
        for dev in devs {
            match snap.link(dev) {
                Some(l) => announcement.add(
                    spec.v6(),
                    l.index,
                    dev,
                    l.index,
                    l.mac.unwrap_or_default(),
                    addrs.iter().filter(|a| a.dev.as_deref() == Some(dev)).map(|a| a.addr.addr),
                ),
                None => warn!("no interface {dev}: its virtual addresses are not announced"),
            }
        }
        // Each address vmac's addresses (of its family, whichever the
        // instance's), from its MAC, on its parent interface.
        for m in &addr_vmacs {
            let Some(parent) = snap.link(m.of.parent.as_str()) else { continue };
            let mine = v
                .virtual_ipaddress
                .iter()
                .chain(v.virtual_ipaddress_excluded.iter())
                .filter(|a| v.address_vmac_of(a).as_ref() == Some(&m.of))
                .map(|a| a.addr.addr);
            announcement.add(m.of.v6, parent.index, &m.of.parent, m.vmac.index, m.vmac.mac, mine);
        }
        let on =
            if v.interface.is_empty() { "unicast on any interface".to_string() } else { format!("on {}", v.interface) };
        info!("{on} from {}, vrid {}, priority {}, v{}", spec.vrrp.primary, v.virtual_router_id, v.priority, v.version);
        drop(_in);
        Ok(Io {
            conf: v.clone(),
            ifindex: link.index,
            sock,
            vmac,
            addr_vmacs,
            vmac_prefix: vmac_prefix.map(str::to_string),
            announcement,
            span,
            sent: false,
        })
    }

    /// Sends an advert (from the vmac's socket if it has one).
    pub fn send(&self, dst: IpAddr, payload: &[u8]) {
        let to = match dst {
            IpAddr::V6(d) => SockAddr::from(SocketAddrV6::new(d, 0, 0, self.ifindex as u32)),
            IpAddr::V4(_) => SockAddr::from(SocketAddr::new(dst, 0)),
        };
        let sock = self.vmac.as_ref().and_then(|v| v.tx.as_ref()).unwrap_or(&self.sock);
        if let Err(e) = sock.send_to(payload, &to) {
            warn!("send to {dst}: {e}");
        }
    }

    /// Its vmac goes (with the addresses on it).
    pub fn close(mut self) {
        if let Some(vm) = self.vmac.take() {
            vmac::remove(vm);
        }
        for m in self.addr_vmacs.drain(..) {
            vmac::remove(m.vmac);
        }
    }
}

/// A raw socket for protocol 112 on the instance's interface that only
/// sends (the interface's receiver reads the adverts), TTL 255.
fn send_socket(v: &VrrpInstance, spec: &Spec) -> Result<Socket, String> {
    let domain = if spec.v6() { Domain::IPV6 } else { Domain::IPV4 };
    let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(wire::PROTOCOL))))
        .map_err(|e| format!("raw socket: {e}"))?;
    let setup = || -> std::io::Result<()> {
        if v.interface.is_empty() {
            // Where routing takes it, from its source (which a tracked
            // unicast_src_ip may not be yet: freebind).
            if spec.v6() {
                sock.set_freebind_v6(true)?
            } else {
                sock.set_freebind_v4(true)?
            }
            sock.bind(&SockAddr::from(SocketAddr::new(spec.vrrp.primary, 0)))?;
        } else {
            sock.bind_device(Some(v.interface.as_bytes()))?;
            // From unicast_src_ip, as keepalived sends: routing would pick
            // the interface's primary address, and a peer that checks the
            // source against its unicast_peer list (`check_unicast_src`)
            // drops adverts from any other. Freebind: it may not be there
            // yet (a tracked one).
            if let Some(src) = v.unicast_src_ip {
                let at = match src {
                    IpAddr::V6(a) if a.is_unicast_link_local() => {
                        SockAddr::from(SocketAddrV6::new(a, 0, 0, spec.ifindex as u32))
                    }
                    a => SockAddr::from(SocketAddr::new(a, 0)),
                };
                if src.is_ipv6() {
                    sock.set_freebind_v6(true)?
                } else {
                    sock.set_freebind_v4(true)?
                }
                sock.bind(&at)?;
            }
        }
        match spec.vrrp.primary {
            IpAddr::V4(p) => {
                // Unicast adverts go with `unicast_ttl` (keepalived's; 255
                // unless said), multicast ones with 255 (RFC 5798 5.1.1.3).
                sock.set_ttl_v4(u32::from(v.unicast_ttl))?;
                sock.set_multicast_ttl_v4(u32::from(wire::TTL))?;
                sock.set_multicast_loop_v4(false)?;
                // An ipvlan's address is on the ipvlan, which sends the
                // adverts (this socket, bound to the interface, does not).
                if v.ipvlan.is_none() {
                    sock.set_multicast_if_v4(&p)?;
                }
            }
            IpAddr::V6(_) => {
                sock.set_unicast_hops_v6(u32::from(v.unicast_ttl))?;
                sock.set_multicast_hops_v6(u32::from(wire::TTL))?;
                sock.set_multicast_loop_v6(false)?;
                sock.set_multicast_if_v6(spec.ifindex as u32)?;
            }
        }
        super::rx::deaf(&sock)?;
        sock.set_nonblocking(true)
    };
    setup().map_err(|e| format!("socket setup: {e}"))?;
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sync group's weighted scripts count for every member, with the
    /// line's weight or the script's; a member's own come first.
    #[test]
    fn members_track_their_sync_groups_scripts_with_their_weights() {
        let text = "vrrp_script chk {\n  script /bin/true\n  weight -20\n}\n\
            vrrp_script chk0 {\n  script /bin/true\n}\n\
            vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n  track_script {\n    chk\n    chk0 weight 5\n  }\n}\n\
            vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 12\n  track_script {\n    chk weight -7 reverse\n  }\n}\n\
            vrrp_instance VI_2 {\n  interface eth0\n  virtual_router_id 13\n}\n";
        let c = vigil_config::keepalived::import_str("t", text).unwrap().config;
        let got = |i: usize| -> Vec<(String, i16, bool)> {
            tracked_scripts(&c.vrrp_instances[i], &c).into_iter().map(|t| (t.name, t.weight, t.reverse)).collect()
        };
        let s = |n: &str, w: i16, r: bool| (n.to_string(), w, r);
        assert_eq!(got(0), [s("chk", -7, true), s("chk", -20, false), s("chk0", 5, false)]);
        assert_eq!(got(1), [s("chk", -20, false), s("chk0", 5, false)]);
    }
}
