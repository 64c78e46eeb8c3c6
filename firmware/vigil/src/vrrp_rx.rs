//! VRRP's receive side: one raw socket per interface and address family,
//! shared by every instance there, with adverts handed to the instance whose
//! VRID they carry.
//!
//! Why not a socket per instance: a raw socket for protocol 112 receives
//! every VRRP packet on its interface, so with 256 instances each advert was
//! read, copied and parsed 256 times, and every turn of the loop polled 256
//! sockets: the VRRP child ran at 99 % of a core and missed its heartbeats.
//! The instances' own sockets now only send (a filter drops what reaches
//! them); one receiver per interface reads each advert once.

use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use tokio::io::unix::AsyncFd;
use vigil_vrrp::wire;

const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// One received VRRP packet.
pub struct Datagram {
    /// The interface and family of the receiver it came in on.
    pub ifindex: i32,
    pub v6: bool,
    pub src: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6): 255 for a valid advert.
    pub ttl: u8,
    /// The VRRP packet, without the IP header.
    pub payload: Vec<u8>,
}

/// The VRID of a VRRP packet (its second byte), to find its instance without
/// parsing it for every instance.
pub fn vrid(payload: &[u8]) -> Option<u8> {
    payload.get(1).copied()
}

struct Rx {
    ifindex: i32,
    v6: bool,
    sock: AsyncFd<Socket>,
}

/// The receivers, one per (interface, family) that has instances.
#[derive(Default)]
pub struct Receivers {
    rx: Vec<Rx>,
    /// Where the next poll starts: a busy interface cannot starve the others.
    next: AtomicUsize,
}

/// A receiver's buffer: room for a burst of adverts from every instance of
/// an interface (a 32-address advert takes about 2 KiB of kernel memory).
const RCVBUF: usize = 4 << 20;

/// At most this many packets are read from one socket per turn of the loop
/// (every instance of an interface at a 1 s interval, twice over).
const BURST: usize = 512;

impl Receivers {
    /// Has a receiver for each `(ifindex, ifname, v6)` wanted and none other.
    /// Returns what could not be opened, in the operator's words.
    pub fn sync(&mut self, wanted: &[(i32, String, bool)]) -> Vec<String> {
        self.rx.retain(|r| wanted.iter().any(|(i, _, v6)| *i == r.ifindex && *v6 == r.v6));
        let mut problems = Vec::new();
        for (ifindex, ifname, v6) in wanted {
            if self.rx.iter().any(|r| r.ifindex == *ifindex && r.v6 == *v6) {
                continue;
            }
            match open(*ifindex, ifname, *v6) {
                Ok(sock) => self.rx.push(Rx { ifindex: *ifindex, v6: *v6, sock }),
                Err(e) => problems
                    .push(format!("cannot receive {} adverts on {ifname}: {e}", if *v6 { "IPv6" } else { "IPv4" })),
            }
        }
        self.next.store(0, Ordering::Relaxed);
        problems
    }

    /// The adverts waiting on every receiver (at least one, at most
    /// [`BURST`] from each); pending for good when there is no receiver.
    ///
    /// Why a batch: the loop settles every instance after what it receives,
    /// and while 256 instances take over it spends a whole turn on that. One
    /// advert per turn was 50 a second, and a backup that reads 50 of the
    /// 256 its master sends every second takes over from it.
    pub async fn recv(&self) -> Vec<Datagram> {
        std::future::poll_fn(|cx| {
            let n = self.rx.len();
            let start = self.next.load(Ordering::Relaxed);
            let mut got = Vec::new();
            for k in 0..n {
                let i = (start + k) % n;
                let r = &self.rx[i];
                for _ in 0..BURST {
                    let mut guard = match r.sock.poll_read_ready(cx) {
                        Poll::Ready(Ok(g)) => g,
                        // Pending (the waker is registered) or an error: next socket.
                        _ => break,
                    };
                    match guard.try_io(|s| if r.v6 { recv_v6(s.get_ref()) } else { recv_v4(s.get_ref()) }) {
                        Ok(Ok(Some((src, ttl, payload)))) => {
                            got.push(Datagram { ifindex: r.ifindex, v6: r.v6, src, ttl, payload })
                        }
                        // Not an IP packet we can read, or a read error: the next one.
                        Ok(Ok(None)) | Ok(Err(_)) => {}
                        // Drained: the next poll registers the waker.
                        Err(_would_block) => {}
                    }
                }
            }
            if got.is_empty() {
                return Poll::Pending;
            }
            // A receiver left with more than a burst goes first next time.
            self.next.store((start + 1) % n.max(1), Ordering::Relaxed);
            Poll::Ready(got)
        })
        .await
    }
}

/// A receiver: protocol 112 on one interface, in the VRRP group.
fn open(ifindex: i32, ifname: &str, v6: bool) -> std::io::Result<AsyncFd<Socket>> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(wire::PROTOCOL))))?;
    sock.bind_device(Some(ifname.as_bytes()))?;
    let index = u32::try_from(ifindex).unwrap_or(0);
    if v6 {
        sock.join_multicast_v6(&GROUP_V6, index)?;
        // The hop limit comes as a control message: it must be 255.
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::Ipv6RecvHopLimit, &true)?;
    } else {
        sock.join_multicast_v4_n(&GROUP_V4, &socket2::InterfaceIndexOrAddress::Index(index))?;
    }
    // All the instances of an interface send at once (they started
    // together): 256 adverts arrive in one burst, more than the default
    // buffer holds. CAP_NET_ADMIN may go past rmem_max.
    let want = RCVBUF;
    if nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBufForce, &want).is_err() {
        let _ = sock.set_recv_buffer_size(want);
    }
    sock.set_nonblocking(true)?;
    // SAFETY: the socket owns its descriptor and returns the same one from
    // as_raw_fd() until it is dropped, which happens only with the AsyncFd.
    unsafe { AsyncFd::register(sock) }.map_err(|e| std::io::Error::other(e.to_string()))
}

/// Makes an instance's socket send-only: a filter that keeps no packet, so
/// the kernel does not queue every advert on it too.
pub fn deaf(sock: &Socket) -> std::io::Result<()> {
    // BPF: ret #0 (keep 0 bytes of the packet: drop it).
    const RET_K: u16 = 0x06;
    sock.attach_filter(&[SockFilter::new(RET_K, 0, 0, 0)])
}

fn recv_v4(sock: &Socket) -> std::io::Result<Option<(IpAddr, u8, Vec<u8>)>> {
    let mut buf = [0u8; 2048];
    let n = std::io::Read::read(&mut &*sock, &mut buf)?;
    Ok(parse_ipv4(&buf[..n]).map(|(s, t, p)| (IpAddr::V4(s), t, p)))
}

/// A raw IPv6 socket gives no IP header: the source comes from recvmsg and
/// the hop limit from its control message.
fn recv_v6(sock: &Socket) -> std::io::Result<Option<(IpAddr, u8, Vec<u8>)>> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg};
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 2048];
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let (n, src, hops) = {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<SockaddrIn6>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())?;
        let hops = msg.cmsgs().ok().and_then(|mut c| {
            c.find_map(|m| match m {
                ControlMessageOwned::Ipv6HopLimit(h) => Some(h),
                _ => None,
            })
        });
        (msg.bytes, msg.address.map(|a| a.ip()), hops)
    };
    // No hop limit reported: treat as not 255 (dropped and counted).
    let hops = hops.and_then(|h| u8::try_from(h).ok()).unwrap_or(0);
    Ok(src.map(|s| (IpAddr::V6(s), hops, buf[..n].to_vec())))
}

/// A raw IPv4 socket delivers the IP header: (source, TTL, payload).
pub fn parse_ipv4(b: &[u8]) -> Option<(Ipv4Addr, u8, Vec<u8>)> {
    if b.len() < 20 || b[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(b[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([b[2], b[3]])).min(b.len());
    if ihl < 20 || total < ihl {
        return None;
    }
    let src = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
    Some((src, b[8], b[ihl..total].to_vec()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_vrid_is_the_second_byte() {
        assert_eq!(super::vrid(&[0x21, 51, 100, 1]), Some(51));
        assert_eq!(super::vrid(&[0x21]), None);
        assert_eq!(super::vrid(&[]), None);
    }
}
