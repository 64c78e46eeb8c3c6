//! A minimal IPv4 host on the virtual switch, for tests: it resolves an
//! address with ARP and pings it (ICMP echo), building and checking the
//! frames itself. The guests' kernels answer; nothing on the host's own
//! network stack is involved.

use anyhow::{Result, bail};
use pnet_packet::Packet;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperation, ArpOperations, ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::{EtherType, EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::icmp::echo_reply::EchoReplyPacket;
use pnet_packet::icmp::echo_request::MutableEchoRequestPacket;
use pnet_packet::icmp::{IcmpPacket, IcmpTypes};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{Ipv4Packet, MutableIpv4Packet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use vigil_image::switch::TapPort;

pub struct Client {
    pub port: TapPort,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    seq: u16,
    /// What ARP frames on the wire (gratuitous ones included) last said of
    /// addresses, as a host's ARP cache learns them.
    cache: std::collections::HashMap<Ipv4Addr, [u8; 6]>,
}

/// What a client pinging an address saw over a while.
#[derive(Debug, Default)]
pub struct Watch {
    pub sent: u32,
    pub lost: u32,
    /// Each time the address stopped answering: when (from the start) and
    /// for how long (last reply before it to first reply after it).
    pub outages: Vec<(Duration, Duration)>,
    /// Each MAC that answered, from when.
    pub owners: Vec<(Duration, [u8; 6])>,
}

impl Watch {
    pub fn longest(&self) -> Duration {
        self.outages.iter().map(|o| o.1).max().unwrap_or_default()
    }

    /// One line for a test's output.
    pub fn summary(&self) -> String {
        let outages: Vec<String> = self
            .outages
            .iter()
            .map(|(at, len)| format!("{:.1} s at {:.1} s", len.as_secs_f64(), at.as_secs_f64()))
            .collect();
        format!(
            "{} pings, {} lost; {} outages ({}); answered by {} MACs in turn",
            self.sent,
            self.lost,
            self.outages.len(),
            if outages.is_empty() { "none".into() } else { outages.join(", ") },
            self.owners.len()
        )
    }
}

/// An Ethernet frame from `src` to `dst` carrying `payload` of `ethertype`.
fn frame(dst: [u8; 6], src: [u8; 6], ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; MutableEthernetPacket::minimum_packet_size() + payload.len()];
    if let Some(mut eth) = MutableEthernetPacket::new(&mut f) {
        eth.set_destination(dst.into());
        eth.set_source(src.into());
        eth.set_ethertype(ethertype);
        eth.set_payload(payload);
    }
    f
}

/// An ARP message (Ethernet, IPv4).
fn arp(op: ArpOperation, sender: ([u8; 6], Ipv4Addr), target: ([u8; 6], Ipv4Addr)) -> Vec<u8> {
    let mut a = vec![0u8; MutableArpPacket::minimum_packet_size()];
    if let Some(mut p) = MutableArpPacket::new(&mut a) {
        p.set_hardware_type(ArpHardwareTypes::Ethernet);
        p.set_protocol_type(EtherTypes::Ipv4);
        p.set_hw_addr_len(6);
        p.set_proto_addr_len(4);
        p.set_operation(op);
        p.set_sender_hw_addr(sender.0.into());
        p.set_sender_proto_addr(sender.1);
        p.set_target_hw_addr(target.0.into());
        p.set_target_proto_addr(target.1);
    }
    a
}

/// The ARP message in an Ethernet frame, if it carries one.
fn arp_in(f: &[u8]) -> Option<ArpPacket<'_>> {
    let eth = EthernetPacket::new(f)?;
    if eth.get_ethertype() != EtherTypes::Arp {
        return None;
    }
    ArpPacket::new(&f[EthernetPacket::minimum_packet_size()..])
}

const PING_ID: u16 = 0x1234;
const PING_PAYLOAD: &[u8] = b"vigil-test-ping!";

impl Client {
    pub fn new(port: TapPort, mac: [u8; 6], ip: Ipv4Addr) -> Client {
        Client { port, mac, ip, seq: 0, cache: Default::default() }
    }

    fn arp_request(&self, target: Ipv4Addr) -> Vec<u8> {
        let ask = arp(ArpOperations::Request, (self.mac, self.ip), ([0; 6], target));
        frame([0xff; 6], self.mac, EtherTypes::Arp, &ask)
    }

    /// Answers an ARP request for our address, if `f` is one, and learns
    /// the sender's address from any ARP frame.
    fn answer_arp(&mut self, f: &[u8]) {
        let Some(a) = arp_in(f) else { return };
        let (sender_mac, sender_ip) = (a.get_sender_hw_addr().octets(), a.get_sender_proto_addr());
        if sender_ip != self.ip && sender_ip != Ipv4Addr::UNSPECIFIED {
            self.cache.insert(sender_ip, sender_mac);
        }
        if a.get_operation() == ArpOperations::Request && a.get_target_proto_addr() == self.ip {
            let reply = arp(ArpOperations::Reply, (self.mac, self.ip), (sender_mac, sender_ip));
            let _ = self.port.send(&frame(sender_mac, self.mac, EtherTypes::Arp, &reply));
        }
    }

    /// The MAC that answers ARP for `target`.
    pub fn resolve(&mut self, target: Ipv4Addr, timeout: Duration) -> Result<[u8; 6]> {
        let deadline = Instant::now() + timeout;
        let mut next_ask = Instant::now();
        while Instant::now() < deadline {
            if Instant::now() >= next_ask {
                self.port.send(&self.arp_request(target))?;
                next_ask = Instant::now() + Duration::from_millis(200);
            }
            if let Some(f) = self.port.recv(Duration::from_millis(50))? {
                self.answer_arp(&f);
                if let Some(a) = arp_in(&f)
                    && a.get_operation() == ArpOperations::Reply
                    && a.get_sender_proto_addr() == target
                    && a.get_target_hw_addr().octets() == self.mac
                {
                    return Ok(a.get_sender_hw_addr().octets());
                }
            }
        }
        bail!("no ARP reply for {target} in {timeout:?}")
    }

    /// The MAC that answers for `target` (ARP, then a ping to it), if one
    /// does, each within `timeout`: who holds a VIP now.
    pub fn reach(&mut self, target: Ipv4Addr, timeout: Duration) -> Option<[u8; 6]> {
        let mac = self.resolve(target, timeout).ok()?;
        self.ping(mac, target, timeout).ok()?.then_some(mac)
    }

    /// Pings `target` (at `mac`) once; true if the echo reply came back.
    pub fn ping(&mut self, mac: [u8; 6], target: Ipv4Addr, timeout: Duration) -> Result<bool> {
        self.seq = self.seq.wrapping_add(1);
        let mut icmp = vec![0u8; MutableEchoRequestPacket::minimum_packet_size() + PING_PAYLOAD.len()];
        if let Some(mut e) = MutableEchoRequestPacket::new(&mut icmp) {
            e.set_icmp_type(IcmpTypes::EchoRequest);
            e.set_identifier(PING_ID);
            e.set_sequence_number(self.seq);
            e.set_payload(PING_PAYLOAD);
        }
        let c = IcmpPacket::new(&icmp).map(|p| pnet_packet::icmp::checksum(&p));
        if let (Some(c), Some(mut e)) = (c, MutableEchoRequestPacket::new(&mut icmp)) {
            e.set_checksum(c);
        }
        let mut ip = vec![0u8; MutableIpv4Packet::minimum_packet_size() + icmp.len()];
        if let Some(mut p) = MutableIpv4Packet::new(&mut ip) {
            p.set_version(4);
            p.set_header_length(5);
            p.set_total_length((MutableIpv4Packet::minimum_packet_size() + icmp.len()) as u16);
            p.set_flags(pnet_packet::ipv4::Ipv4Flags::DontFragment);
            p.set_ttl(64);
            p.set_next_level_protocol(IpNextHeaderProtocols::Icmp);
            p.set_source(self.ip);
            p.set_destination(target);
            p.set_payload(&icmp);
            let c = pnet_packet::ipv4::checksum(&p.to_immutable());
            p.set_checksum(c);
        }
        let f = frame(mac, self.mac, EtherTypes::Ipv4, &ip);
        self.port.send(&f)?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(r) = self.port.recv(Duration::from_millis(20))? {
                self.answer_arp(&r);
                let is_reply = EthernetPacket::new(&r)
                    .filter(|e| e.get_ethertype() == EtherTypes::Ipv4)
                    .and_then(|e| Ipv4Packet::owned(e.payload().to_vec()))
                    .filter(|p| p.get_source() == target && p.get_next_level_protocol() == IpNextHeaderProtocols::Icmp)
                    .is_some_and(|p| {
                        EchoReplyPacket::new(p.payload()).is_some_and(|e| {
                            e.get_icmp_type() == IcmpTypes::EchoReply && e.get_sequence_number() == self.seq
                        })
                    });
                if is_reply {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Pings `target` every `every` until `stop` is set, as a host with an
    /// ARP cache does: it sends to the MAC it last learned (gratuitous ARPs
    /// update it), and asks again after three echoes in a row go unanswered.
    pub fn watch(&mut self, target: Ipv4Addr, every: Duration, stop: &std::sync::atomic::AtomicBool) -> Watch {
        let start = Instant::now();
        let mut w = Watch::default();
        let mut last_reply: Option<Instant> = None;
        let mut down_since: Option<Instant> = None;
        let mut misses = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let t = Instant::now();
            let mac = match self.cache.get(&target) {
                Some(m) if misses < 3 => Some(*m),
                _ => self.resolve(target, every).ok(),
            };
            w.sent += 1;
            let ok = match mac {
                Some(m) => self.ping(m, target, every).unwrap_or(false),
                None => false,
            };
            if ok {
                let m = mac.unwrap_or_default();
                self.cache.insert(target, m);
                if w.owners.last().is_none_or(|o| o.1 != m) {
                    w.owners.push((t - start, m));
                }
                if down_since.take().is_some()
                    && let Some(up) = last_reply
                {
                    w.outages.push((up - start, Instant::now() - up));
                }
                last_reply = Some(Instant::now());
                misses = 0;
            } else {
                w.lost += 1;
                misses += 1;
                if down_since.is_none() && last_reply.is_some() {
                    down_since = Some(t);
                }
            }
            std::thread::sleep(every.saturating_sub(t.elapsed()));
        }
        w
    }
}
