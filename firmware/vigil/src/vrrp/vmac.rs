//! `use_vmac [NAME] [MAC]`: a macvlan (`vrrp.VRID`, `vrrp6.VRID` for IPv6,
//! unless named) on the instance's interface with the virtual router MAC
//! 00-00-5E-00-01-VRID (IPv6: 00-00-5E-00-02-VRID, RFC 5798 7.3) unless
//! given. A switch then only relearns
//! a port on failover; no host has to update its ARP cache.

use crate::net::Rtnl;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, SocketAddr};
use tracing::{info, warn};
use vigil_config::VrrpInstance;
use vigil_vrrp::wire;

pub struct Vmac {
    pub name: String,
    pub index: i32,
    pub mac: [u8; 6],
    /// IPv4 adverts leave through the vmac so their source MAC is the
    /// virtual one (IPv6 adverts leave through the base interface: the vmac
    /// has no link-local address of its own).
    pub tx: Option<Socket>,
}

/// Creates (or re-creates, after a crash) the instance's vmac, up, with
/// ARP answered only for addresses on the receiving link (so neither the
/// base interface answers for a VIP nor the vmac for the base's address).
/// No arp_filter or rp_filter on the vmac: replies to clients are routed
/// out of the base interface, which would make either drop them. And
/// arp_announce 2 on the base: its own ARP requests (for a client it
/// answers from the VIP) must not name the VIP, or the client would learn
/// the VIP at the base's MAC.
pub fn create(
    rtnl: &mut Rtnl,
    v: &VrrpInstance,
    spec: &vigil_config::Vmac,
    base: i32,
    primary: IpAddr,
) -> Result<Vmac, String> {
    let v6 = v.is_ipv6();
    let name = spec.name_for(v.virtual_router_id, v6);
    let mac = spec.mac_for(v.virtual_router_id, v6);
    let index = make(rtnl, &name, mac, base, &v.interface, &[])?;
    let tx = match primary {
        // vmac_xmit_base: adverts leave by the base interface's socket.
        _ if spec.xmit_base => None,
        IpAddr::V6(_) => None,
        IpAddr::V4(_) => Some(send_from(&name, primary, wire::TTL)?),
    };
    let m = mac;
    let base_note = if spec.xmit_base { ", adverts by the base interface" } else { "" };
    info!("{name} with MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}{base_note}", m[0], m[1], m[2], m[3], m[4], m[5]);
    Ok(Vmac { name, index, mac, tx })
}

/// `use_ipvlan`: an L2 ipvlan on the instance's interface (it has the
/// interface's MAC), up, with its own address (the adverts' source for
/// IPv4: the kernel hands an ipvlan only the packets for its addresses).
/// The instance's addresses go on it; IPv4 adverts leave from it, IPv6
/// ones from the base interface (as with a vmac: no link-local address of
/// its own). Held as a [`Vmac`]: the same link, without a MAC of its own.
pub fn create_ipvlan(
    rtnl: &mut Rtnl,
    v: &VrrpInstance,
    spec: &vigil_config::Ipvlan,
    base: &crate::net::Link,
    primary: IpAddr,
) -> Result<Vmac, String> {
    let name = spec.name_for(v.virtual_router_id, v.is_ipv6());
    let mac = base.mac.unwrap_or_default();
    let find = |rtnl: &mut Rtnl| -> Result<Option<crate::net::Link>, String> {
        Ok(rtnl.links().map_err(|e| e.to_string())?.into_iter().find(|l| l.name == name))
    };
    if let Some(old) = find(rtnl)? {
        // One left by a crash has the interface's MAC; a link of that name
        // with another is someone else's.
        if old.mac != Some(mac) {
            return Err(format!("{name} exists and is not this instance's ipvlan (its MAC is another): left alone"));
        }
        rtnl.delete_link(old.index).map_err(|e| format!("removing the old {name}: {e}"))?;
    }
    rtnl.add_ipvlan(base.index, &name, spec.mode.flags())
        .map_err(|e| format!("creating {name} (ipvlan on {}): {e}", v.interface))?;
    let index = find(rtnl)?.ok_or_else(|| format!("{name} vanished after creation"))?.index;
    // Its link-local address would be the interface's own (the same MAC).
    rtnl.set_addr_gen_mode_none(index).map_err(|e| format!("{name}: addrgenmode none: {e}"))?;
    let up = (libc::IFF_UP | libc::IFF_MULTICAST) as u32;
    rtnl.set_flags(index, up, up).map_err(|e| format!("{name} up: {e}"))?;
    if let Some(a) = spec.address {
        match rtnl.change_address(index, a.addr, a.prefix, true) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(format!("{name}: adding {a}: {e}")),
        }
    }
    let tx = match primary {
        IpAddr::V4(_) if spec.address.is_some() => Some(send_from(&name, primary, v.unicast_ttl)?),
        _ => None,
    };
    info!(
        "{name}: ipvlan (L2, {}) on {}{}",
        spec.mode.word(),
        v.interface,
        spec.address.map(|a| format!(" with {a}")).unwrap_or_default()
    );
    Ok(Vmac { name, index, mac, tx })
}

/// An IPv4 socket that sends adverts out of `dev` from `primary`, unicast
/// ones with `unicast_ttl` (multicast ones with 255); input is read by the
/// receivers.
fn send_from(dev: &str, primary: IpAddr, unicast_ttl: u8) -> Result<Socket, String> {
    let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(i32::from(wire::PROTOCOL))))
        .map_err(|e| format!("raw socket: {e}"))?;
    sock.bind_device(Some(dev.as_bytes()))
        .and_then(|()| sock.bind(&SockAddr::from(SocketAddr::new(primary, 0))))
        .and_then(|()| sock.set_ttl_v4(u32::from(unicast_ttl)))
        .and_then(|()| sock.set_multicast_ttl_v4(u32::from(wire::TTL)))
        .and_then(|()| sock.set_multicast_loop_v4(false))
        .map_err(|e| format!("{dev}: send socket: {e}"))?;
    let _ = sock.shutdown(std::net::Shutdown::Read);
    Ok(sock)
}

/// Makes a macvlan `name` with `mac` on `base` (named `base_name`), up,
/// with ARP answered only for addresses on the receiving link (so neither
/// the base interface answers for a VIP nor the vmac for the base's
/// address). A link of that name with this MAC (left by a crash) is made
/// again, unless it is among `mine` (made for this instance just now: an
/// instance's vmacs share their MAC); with another MAC it is someone
/// else's and is left alone.
fn make(rtnl: &mut Rtnl, name: &str, mac: [u8; 6], base: i32, base_name: &str, mine: &[&str]) -> Result<i32, String> {
    let find = |rtnl: &mut Rtnl| -> Result<Option<crate::net::Link>, String> {
        Ok(rtnl.links().map_err(|e| e.to_string())?.into_iter().find(|l| l.name == name))
    };
    if let Some(old) = find(rtnl)? {
        // A vmac left by a crash has this MAC; a link of that name with
        // another is someone else's (a named vmac must not take a NIC).
        if old.mac != Some(mac) || mine.contains(&name) {
            return Err(format!("{name} exists and is not this instance's vmac (its MAC is another): left alone"));
        }
        rtnl.delete_link(old.index).map_err(|e| format!("removing the old {name}: {e}"))?;
    }
    rtnl.add_macvlan(base, name, mac).map_err(|e| format!("creating {name} (macvlan): {e}"))?;
    let index = find(rtnl)?.ok_or_else(|| format!("{name} vanished after creation"))?.index;
    rtnl.set_addr_gen_mode_none(index).map_err(|e| format!("{name}: addrgenmode none: {e}"))?;
    for (dev, key, val) in [(name, "arp_ignore", "1"), (name, "arp_filter", "0"), (name, "rp_filter", "0")]
        .into_iter()
        .chain([(base_name, "arp_ignore", "1"), (base_name, "arp_filter", "1"), (base_name, "arp_announce", "2")])
    {
        let path = format!("/proc/sys/net/ipv4/conf/{dev}/{key}");
        if let Err(e) = std::fs::write(&path, val) {
            warn!("{path}: {e}");
        }
    }
    let up = (libc::IFF_UP | libc::IFF_MULTICAST) as u32;
    rtnl.set_flags(index, up, up).map_err(|e| format!("{name} up: {e}"))?;
    Ok(index)
}

/// An address vmac (`use_vmac_addr`, an address's `use_vmac`): a macvlan
/// on the addresses' interface with the virtual router's MAC of their
/// family; the addresses go on it while master and are announced from it.
pub struct AddressVmac {
    pub of: vigil_config::AddressVmac,
    pub vmac: Vmac,
}

/// Makes the address vmacs an instance needs, each named as keepalived
/// names them (`vrrp.51`, `vrrp1.51` when that is taken, `vrrp6.51` for
/// IPv6; `vmac_addr_prefix` instead of `vrrp`). One that cannot be made is
/// said, and its addresses stay on their interface.
pub fn create_for_addresses(
    rtnl: &mut Rtnl,
    v: &VrrpInstance,
    prefix: Option<&str>,
    own: Option<&Vmac>,
) -> Vec<AddressVmac> {
    let mut made: Vec<AddressVmac> = Vec::new();
    for of in v.address_vmacs() {
        let links = match rtnl.links() {
            Ok(l) => l,
            Err(e) => {
                warn!("address vmacs: reading links: {e}");
                break;
            }
        };
        let Some(base) = links.iter().find(|l| l.name == of.parent.as_str()) else {
            warn!("no interface {}: its addresses get no vmac", of.parent);
            continue;
        };
        let mac = of.mac(v.virtual_router_id);
        let mut mine: Vec<&str> = made.iter().map(|m| m.vmac.name.as_str()).collect();
        mine.extend(own.map(|o| o.name.as_str()));
        // The first name free (or this instance's own, left by a crash).
        let name = (0..10).map(|n| of.name(prefix, n, v.virtual_router_id)).find(|name| {
            !mine.contains(&name.as_str()) && links.iter().find(|l| l.name == *name).is_none_or(|l| l.mac == Some(mac))
        });
        let Some(name) = name.filter(|n| n.len() <= 15) else {
            warn!(
                "no name left for a vmac on {} ({} is taken or longer than an interface name): its addresses stay on {}",
                of.parent,
                of.name(prefix, 0, v.virtual_router_id),
                of.parent
            );
            continue;
        };
        match make(rtnl, &name, mac, base.index, &of.parent, &mine) {
            Ok(index) => {
                let m = mac;
                info!(
                    "{name} on {} with MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} for its addresses there",
                    of.parent, m[0], m[1], m[2], m[3], m[4], m[5]
                );
                made.push(AddressVmac { of, vmac: Vmac { name, index, mac, tx: None } });
            }
            Err(e) => warn!("{e}: its addresses stay on {}", of.parent),
        }
    }
    made
}

/// Removes a vmac (and the VIPs on it) once its instance has stopped.
pub fn remove(vm: Vmac) {
    match Rtnl::open().and_then(|mut n| n.delete_link(vm.index)) {
        Ok(()) => info!("{} removed", vm.name),
        Err(e) => warn!("removing {}: {e}", vm.name),
    }
}
