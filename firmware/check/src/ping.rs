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

/// The Internet checksum (RFC 1071).
pub fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request: ICMP type 8 (v4, checksummed here) or ICMPv6 type 128
/// (the kernel fills in the checksum with the pseudo-header).
pub fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut m = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(b"vigil-check ping");
    if !v6 {
        let c = checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
    }
    m
}

/// Is this an echo reply to (id, seq)? `b` starts at the ICMP header.
pub fn is_reply(v6: bool, b: &[u8], id: u16, seq: u16) -> bool {
    b.len() >= 8
        && b[0] == if v6 { 129 } else { 0 }
        && u16::from_be_bytes([b[4], b[5]]) == id
        && u16::from_be_bytes([b[6], b[7]]) == seq
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
                    let icmp = if v6 {
                        &b[..]
                    } else {
                        b.get(usize::from(b.first().map_or(0, |x| x & 0x0f)) * 4..).unwrap_or(&[])
                    };
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
        assert_eq!(checksum(&m), 0);
        assert_eq!(&m[4..8], &[0x12, 0x34, 0, 7]);
        let mut reply = m.clone();
        reply[0] = 0;
        assert!(is_reply(false, &reply, 0x1234, 7));
        assert!(!is_reply(false, &reply, 0x1234, 8));
        assert!(!is_reply(false, &m, 0x1234, 7), "a request is not a reply");
    }
}
