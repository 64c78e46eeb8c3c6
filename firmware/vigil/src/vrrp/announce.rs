//! Announcing the virtual addresses after a takeover: a gratuitous ARP
//! for each IPv4 one (on an AF_PACKET socket, from the vmac's MAC if there
//! is one), an unsolicited neighbour advertisement for each IPv6 one (to
//! all nodes, hop limit 255). The router decides when (the bursts and
//! their spacing); this sends one round.
//!
//! The sockets are opened once and kept: closing an AF_PACKET socket waits
//! for the kernel (synchronize_net, 4-44 ms measured), and a socket per
//! takeover held up the VRRP loop 7-31 ms each time, so that with 8
//! instances taking over at once the 8th's first advert was 106 ms late.
//! One AF_PACKET socket serves every interface (each frame is sent to its
//! interface's address); an ICMPv6 socket is bound to its interface.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Instant;
use vigil_vrrp::pace::Pacer;
use vigil_vrrp::router::Id;

const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// One instance's round of announcements, built once: a leg per
/// interface its addresses are on (a VIP with `dev` is announced there,
/// from that interface's MAC).
pub struct Announcement {
    legs: Vec<Leg>,
}

/// The addresses of one interface.
struct Leg {
    v6: bool,
    /// The interface the IPv6 socket is bound to.
    ifindex: i32,
    ifname: String,
    to: SockAddr,
    frames: Vec<(IpAddr, Vec<u8>)>,
}

impl Announcement {
    /// For the addresses `vips` of an instance on `ifname` (`ifindex`),
    /// announced from `mac` out of `out_index` (the vmac, or the interface).
    pub fn new(
        v6: bool,
        ifindex: i32,
        ifname: &str,
        out_index: i32,
        mac: [u8; 6],
        vips: impl Iterator<Item = IpAddr>,
    ) -> Announcement {
        let mut a = Announcement { legs: Vec::new() };
        a.add(v6, ifindex, ifname, out_index, mac, vips);
        a
    }

    /// The addresses on another interface (`dev`), from its own MAC.
    pub fn add(
        &mut self,
        v6: bool,
        ifindex: i32,
        ifname: &str,
        out_index: i32,
        mac: [u8; 6],
        vips: impl Iterator<Item = IpAddr>,
    ) {
        let frames: Vec<(IpAddr, Vec<u8>)> = vips
            .filter_map(|ip| match ip {
                IpAddr::V4(a) if !v6 => Some((ip, garp_frame(mac, a))),
                IpAddr::V6(a) if v6 => Some((ip, unsolicited_na(mac, a))),
                _ => None,
            })
            .collect();
        if frames.is_empty() && !self.legs.is_empty() {
            return;
        }
        let to = if v6 {
            SockAddr::from(SocketAddrV6::new(ALL_NODES, 0, 0, ifindex as u32))
        } else {
            packet_addr(out_index)
        };
        self.legs.push(Leg { v6, ifindex, ifname: ifname.to_string(), to, frames });
    }

    /// The interfaces it announces on (for their sockets): not the first
    /// leg of an instance without an interface (index 0, no addresses).
    pub fn interfaces(&self) -> impl Iterator<Item = i32> + '_ {
        self.legs.iter().map(|l| l.ifindex).filter(|&i| i > 0)
    }
}

/// The kept sockets.
#[derive(Default)]
pub struct Announcers {
    packet: Option<Socket>,
    icmpv6: Vec<(i32, Socket)>,
}

/// A message that waits for its interface's pace (`garp_group`,
/// `vrrp_garp_interval`): which instance, leg and frame, and the pace it
/// waits for. One entry per message at most: a round that comes while the
/// last one's message still waits does not queue it twice (keepalived keeps
/// one pending flag per address), so the queue is bounded by the messages
/// configured. Kept in the order of the instances and their addresses.
struct Waiting {
    id: Id,
    leg: usize,
    frame: usize,
    interface: String,
    v6: bool,
}

#[derive(Default)]
pub struct Queue(VecDeque<Waiting>);

impl Queue {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn holds(&self, id: Id, leg: usize, frame: usize) -> bool {
        self.0.iter().any(|w| w.id == id && w.leg == leg && w.frame == frame)
    }

    fn blocks(&self, interface: &str, v6: bool) -> bool {
        self.0.iter().any(|w| w.v6 == v6 && w.interface == interface)
    }

    /// In the order of the instances and their addresses, which is the
    /// order keepalived sends what waited (it sweeps its instances'
    /// addresses for the pending ones each time the pace allows one).
    fn insert(&mut self, w: Waiting) {
        let key = (w.id, w.leg, w.frame);
        let at = self.0.partition_point(|x| (x.id, x.leg, x.frame) < key);
        self.0.insert(at, w);
    }
}

impl Announcers {
    /// Sends every address of `a` (instance `id`) once, each on its
    /// interface (only those on other interfaces than the instance's:
    /// `elsewhere`), at the interfaces' pace: what may not go yet waits in
    /// `queue` for [`Announcers::drain`]. Stops at the first failure, which
    /// it returns in the operator's words.
    pub fn round(
        &mut self,
        now: Instant,
        id: Id,
        a: &Announcement,
        elsewhere: bool,
        pacer: &mut Pacer,
        queue: &mut Queue,
    ) -> Result<(), String> {
        for (li, leg) in a.legs.iter().enumerate().skip(usize::from(elsewhere)) {
            for (fi, (ip, frame)) in leg.frames.iter().enumerate() {
                if queue.holds(id, li, fi) {
                    continue;
                }
                // Behind what already waits for this interface.
                if queue.blocks(&leg.ifname, leg.v6) || pacer.admit(now, &leg.ifname, leg.v6).is_err() {
                    queue.insert(Waiting { id, leg: li, frame: fi, interface: leg.ifname.clone(), v6: leg.v6 });
                    continue;
                }
                self.send(leg, ip, frame)?;
            }
        }
        Ok(())
    }

    /// Sends, in order, what waited and may go now; a message whose
    /// instance or address is gone is dropped. Returns the failures.
    pub fn drain<'a>(
        &mut self,
        now: Instant,
        pacer: &mut Pacer,
        queue: &mut Queue,
        announcement: impl Fn(Id) -> Option<&'a Announcement>,
    ) -> Vec<String> {
        let mut failures = Vec::new();
        let mut closed: Vec<(String, bool)> = Vec::new();
        let mut keep = VecDeque::with_capacity(queue.0.len());
        while let Some(w) = queue.0.pop_front() {
            let Some((leg, (ip, frame))) =
                announcement(w.id).and_then(|a| a.legs.get(w.leg)).and_then(|l| Some((l, l.frames.get(w.frame)?)))
            else {
                continue;
            };
            if closed.iter().any(|(i, v6)| *i == w.interface && *v6 == w.v6) {
                keep.push_back(w);
                continue;
            }
            match pacer.admit(now, &w.interface, w.v6) {
                Ok(()) => {
                    if let Err(e) = self.send(leg, ip, frame) {
                        failures.push(e);
                    }
                }
                Err(_) => {
                    closed.push((w.interface.clone(), w.v6));
                    keep.push_back(w);
                }
            }
        }
        queue.0 = keep;
        failures
    }

    fn send(&mut self, leg: &Leg, ip: &IpAddr, frame: &[u8]) -> Result<(), String> {
        let sock = if leg.v6 { self.icmpv6(leg) } else { self.packet() }?;
        sock.send_to(frame, &leg.to).map_err(|e| format!("announcing {ip} on {}: {e}", leg.ifname))?;
        Ok(())
    }

    fn packet(&mut self) -> Result<&Socket, String> {
        if self.packet.is_none() {
            let s = Socket::new(Domain::PACKET, Type::RAW, None).map_err(|e| format!("packet socket: {e}"))?;
            self.packet = Some(s);
        }
        self.packet.as_ref().ok_or_else(String::new)
    }

    fn icmpv6(&mut self, a: &Leg) -> Result<&Socket, String> {
        if let Some(i) = self.icmpv6.iter().position(|(i, _)| *i == a.ifindex) {
            return Ok(&self.icmpv6[i].1);
        }
        let open = || -> std::io::Result<Socket> {
            let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
            // RFC 4861: neighbour discovery is sent and accepted with hop limit 255.
            sock.bind_device(Some(a.ifname.as_bytes()))?;
            sock.set_multicast_hops_v6(255)?;
            sock.set_multicast_if_v6(a.ifindex as u32)?;
            // It only sends: what it would receive (every ICMPv6 packet on
            // the link) is not kept.
            sock.set_recv_buffer_size(0)?;
            Ok(sock)
        };
        let s = open().map_err(|e| format!("ICMPv6 socket on {}: {e}", a.ifname))?;
        self.icmpv6.push((a.ifindex, s));
        Ok(&self.icmpv6[self.icmpv6.len() - 1].1)
    }

    /// Forgets the sockets of interfaces no instance uses any more.
    pub fn retain(&mut self, used: impl Fn(i32) -> bool) {
        self.icmpv6.retain(|(i, _)| used(*i));
    }
}

/// An unsolicited neighbour advertisement (RFC 4861 7.2.6): Override set,
/// with the target link-layer address. The kernel fills in the checksum.
pub fn unsolicited_na(mac: [u8; 6], target: Ipv6Addr) -> Vec<u8> {
    use pnet_packet::icmpv6::Icmpv6Types;
    use pnet_packet::icmpv6::ndp::{MutableNeighborAdvertPacket, NdpOption, NdpOptionTypes, NeighborAdvertFlags};
    let option = NdpOption { option_type: NdpOptionTypes::TargetLLAddr, length: 1, data: mac.to_vec() };
    // The fixed part, and one option of 8 bytes (type, length, the MAC).
    let mut m = vec![0u8; MutableNeighborAdvertPacket::minimum_packet_size() + 8];
    if let Some(mut na) = MutableNeighborAdvertPacket::new(&mut m) {
        na.set_icmpv6_type(Icmpv6Types::NeighborAdvert);
        na.set_flags(NeighborAdvertFlags::Override);
        na.set_target_addr(target);
        na.set_options(&[option]);
    }
    m
}

/// An ARP request with sender and target both the virtual address: what
/// routers and hosts take as "this address moved to this MAC".
pub fn garp_frame(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    use pnet_packet::MutablePacket;
    use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
    use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
    let mut f = vec![0u8; MutableEthernetPacket::minimum_packet_size() + MutableArpPacket::minimum_packet_size()];
    if let Some(mut eth) = MutableEthernetPacket::new(&mut f) {
        eth.set_destination([0xff; 6].into());
        eth.set_source(mac.into());
        eth.set_ethertype(EtherTypes::Arp);
        if let Some(mut arp) = MutableArpPacket::new(eth.payload_mut()) {
            arp.set_hardware_type(ArpHardwareTypes::Ethernet);
            arp.set_protocol_type(EtherTypes::Ipv4);
            arp.set_hw_addr_len(6);
            arp.set_proto_addr_len(4);
            arp.set_operation(ArpOperations::Request);
            arp.set_sender_hw_addr(mac.into());
            arp.set_sender_proto_addr(ip);
            arp.set_target_hw_addr([0xff; 6].into());
            arp.set_target_proto_addr(ip);
        }
    }
    f
}

fn packet_addr(ifindex: i32) -> SockAddr {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value, and the
    // fields set below are the ones AF_PACKET reads for sendto(2).
    let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = 0x0806u16.to_be();
    ll.sll_ifindex = ifindex;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    // SAFETY: the storage is large enough for a sockaddr_ll, which is
    // copied in whole; the length passed is its size.
    unsafe {
        SockAddr::try_init(|storage, len| {
            std::ptr::copy_nonoverlapping(
                &ll as *const libc::sockaddr_ll as *const u8,
                storage as *mut u8,
                std::mem::size_of::<libc::sockaddr_ll>(),
            );
            *len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            Ok(())
        })
        .map(|((), a)| a)
        .unwrap_or_else(|_| SockAddr::from(SocketAddr::from(([0, 0, 0, 0], 0))))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn gratuitous_arp_layout() {
        let f = super::garp_frame([0x52, 0x54, 0, 0, 0, 1], "192.0.2.100".parse().unwrap());
        assert_eq!(f.len(), 42);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 1]);
        assert_eq!(&f[28..32], &[192, 0, 2, 100]);
        assert_eq!(&f[38..42], &[192, 0, 2, 100]);
        assert_eq!(&f[..12], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0, 0, 1]);
        assert_eq!(&f[14..22], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&f[22..28], &[0x52, 0x54, 0, 0, 0, 1]);
        assert_eq!(&f[32..38], &[0xff; 6]);
    }

    #[test]
    fn neighbour_advertisement_layout() {
        let m = super::unsolicited_na([2, 0, 0, 0, 0, 1], "2001:db8::100".parse().unwrap());
        assert_eq!(m.len(), 32);
        assert_eq!(m[0], 136);
        assert_eq!(m[4], 0x20);
        assert_eq!(&m[24..26], &[2, 1]);
        assert_eq!(&m[26..32], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&m[8..24], &"2001:db8::100".parse::<std::net::Ipv6Addr>().unwrap().octets());
    }
}
