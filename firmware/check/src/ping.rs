//! PING_CHECK: one ICMP (v4) or ICMPv6 echo, answered by the real server.
//! Raw sockets (vigil runs with CAP_NET_RAW); every ICMP message reaches a
//! raw socket, so replies are matched by source, identifier and sequence.

use crate::probe::Failure;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

static SEQ: AtomicU16 = AtomicU16::new(1);

const PAYLOAD: &[u8] = b"vigil-check ping";

/// An echo request: ICMP type 8 (v4, checksummed here) or ICMPv6 type 128
/// (the kernel fills in the checksum with the pseudo-header).
pub fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    use pnet_packet::icmp::{IcmpPacket, IcmpTypes, echo_request::MutableEchoRequestPacket};
    use pnet_packet::icmpv6::{Icmpv6Types, echo_request::MutableEchoRequestPacket as MutableEchoRequest6};
    let mut m = vec![0u8; MutableEchoRequestPacket::minimum_packet_size() + PAYLOAD.len()];
    if v6 {
        if let Some(mut e) = MutableEchoRequest6::new(&mut m) {
            e.set_icmpv6_type(Icmpv6Types::EchoRequest);
            e.set_identifier(id);
            e.set_sequence_number(seq);
            e.set_payload(PAYLOAD);
        }
    } else {
        if let Some(mut e) = MutableEchoRequestPacket::new(&mut m) {
            e.set_icmp_type(IcmpTypes::EchoRequest);
            e.set_identifier(id);
            e.set_sequence_number(seq);
            e.set_payload(PAYLOAD);
        }
        let c = IcmpPacket::new(&m).map(|whole| pnet_packet::icmp::checksum(&whole));
        if let (Some(c), Some(mut e)) = (c, MutableEchoRequestPacket::new(&mut m)) {
            e.set_checksum(c);
        }
    }
    m
}

/// Is this an echo reply to (id, seq)? `b` starts at the ICMP header.
pub fn is_reply(v6: bool, b: &[u8], id: u16, seq: u16) -> bool {
    if v6 {
        use pnet_packet::icmpv6::{Icmpv6Types, echo_reply::EchoReplyPacket};
        EchoReplyPacket::new(b).is_some_and(|r| {
            r.get_icmpv6_type() == Icmpv6Types::EchoReply && r.get_identifier() == id && r.get_sequence_number() == seq
        })
    } else {
        use pnet_packet::icmp::{IcmpTypes, echo_reply::EchoReplyPacket};
        EchoReplyPacket::new(b).is_some_and(|r| {
            r.get_icmp_type() == IcmpTypes::EchoReply && r.get_identifier() == id && r.get_sequence_number() == seq
        })
    }
}

/// What follows a raw IPv4 socket's IP header (empty if it is not one).
fn after_ipv4_header(b: &[u8]) -> &[u8] {
    let ihl = pnet_packet::ipv4::Ipv4Packet::new(b).map_or(0, |p| usize::from(p.get_header_length()) * 4);
    b.get(ihl.max(20)..).unwrap_or(&[])
}

pub async fn ping(addr: IpAddr, timeout: Duration) -> Result<(), Failure> {
    let v6 = addr.is_ipv6();
    let (domain, proto) = if v6 { (Domain::IPV6, Protocol::ICMPV6) } else { (Domain::IPV4, Protocol::ICMPV4) };
    let sock = Socket::new(domain, Type::RAW, Some(proto)).map_err(|e| format!("ICMP socket: {e}"))?;
    sock.set_nonblocking(true).map_err(|e| format!("ICMP socket: {e}"))?;
    // SAFETY: the socket owns its descriptor and moves into the AsyncFd,
    // which deregisters it before closing it.
    let sock = unsafe { AsyncFd::register(sock) }.map_err(|e| format!("ICMP socket: {e}"))?;
    let id = (std::process::id() as u16) ^ 0x5647;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let to = SockAddr::from(SocketAddr::new(addr, 0));
    sock.get_ref().send_to(&echo_request(v6, id, seq), &to).map_err(|e| format!("sending the echo: {e}"))?;
    let wait = async {
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
        loop {
            let mut guard = sock.readable().await.map_err(|e| e.to_string())?;
            match guard.try_io(|s| s.get_ref().recv_from(&mut buf)) {
                Ok(Ok((n, from))) => {
                    // SAFETY: recv_from initialised the first n bytes.
                    let b: Vec<u8> = buf[..n].iter().map(|x| unsafe { x.assume_init() }).collect();
                    let from = from.as_socket().map(|s| s.ip());
                    // IPv4 raw sockets hand over the IP header too.
                    let icmp = if v6 { &b[..] } else { after_ipv4_header(&b) };
                    if from == Some(addr) && is_reply(v6, icmp, id, seq) {
                        return Ok(());
                    }
                }
                Ok(Err(e)) => return Err(format!("receiving: {e}")),
                Err(_would_block) => continue,
            }
        }
    };
    tokio::time::timeout(timeout, wait).await.map_err(|_| format!("no echo reply within {} ms", timeout.as_millis()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_request_checksums_to_zero() {
        let m = echo_request(false, 0x1234, 7);
        // The Internet checksum over the whole message, its own field included, is 0.
        assert_eq!(pnet_packet::util::checksum(&m, usize::MAX), 0);
        assert_eq!(m[0], 8);
        assert_eq!(&m[4..8], &[0x12, 0x34, 0, 7]);
        let mut reply = m.clone();
        reply[0] = 0;
        assert!(is_reply(false, &reply, 0x1234, 7));
        assert!(!is_reply(false, &reply, 0x1234, 8));
        assert!(!is_reply(false, &m, 0x1234, 7), "a request is not a reply");
    }
}
