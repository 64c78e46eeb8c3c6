//! VRRP's receive side: one raw socket per interface and address family,
//! shared by every instance there, each read by a task of its own that
//! feeds one channel to the daemon, which hands the adverts to the router.
//!
//! Why not a socket per instance: a raw socket for protocol 112 receives
//! every VRRP packet on its interface, so with 256 instances each advert was
//! read, copied and parsed 256 times, and every turn of the loop polled 256
//! sockets: the VRRP child ran at 99 % of a core and missed its heartbeats.
//! The instances' own sockets only send (a filter drops what reaches them).
//! Why a task per socket: a busy interface fills the channel at its own
//! pace and the others' tasks get their turns from the scheduler, instead
//! of one future polling every socket in a fixed order.

use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use vigil_vrrp::wire;

/// One received VRRP packet.
pub struct Datagram {
    /// The interface and family of the receiver it came in on.
    pub ifindex: i32,
    pub src: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6): 255 for a valid advert.
    pub ttl: u8,
    /// The VRRP packet, without the IP header.
    pub payload: Vec<u8>,
    /// When the kernel received it.
    pub at: Instant,
}

struct Rx {
    wanted: Wanted,
    task: tokio::task::AbortHandle,
}

/// A receiver: an interface, a family, and the multicast groups its
/// instances use (224.0.0.18 / ff02::12 unless `mcast_dst_ip` says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub ifindex: i32,
    pub ifname: String,
    pub v6: bool,
    pub groups: Vec<IpAddr>,
    /// The interface its adverts count as come in on, when not its own: an
    /// ipvlan's receiver (unicast adverts to the ipvlan's address reach
    /// only the ipvlan) hands them on as its instance's interface's.
    pub on_behalf_of: Option<i32>,
    /// The sources it keeps, when not all: the receiver of instances
    /// without an interface (bound to none, it sees the adverts of every
    /// interface's instances too) keeps their unicast peers' only.
    pub from: Vec<IpAddr>,
}

impl Drop for Rx {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The receivers, one per (interface, family) that has instances.
pub struct Receivers {
    rx: Vec<Rx>,
    tx: mpsc::Sender<Datagram>,
}

/// A receiver's buffer: room for a burst of adverts from every instance of
/// an interface (a 32-address advert takes about 2 KiB of kernel memory).
const RCVBUF: usize = 4 << 20;

/// Adverts read and not yet taken by the daemon: every instance of a busy
/// interface at a 1 s interval, several times over. A full channel makes
/// the readers wait (the kernel's buffer then holds the rest).
pub const CHANNEL: usize = 4096;

impl Receivers {
    pub fn new() -> (Receivers, mpsc::Receiver<Datagram>) {
        let (tx, rx) = mpsc::channel(CHANNEL);
        (Receivers { rx: Vec::new(), tx }, rx)
    }

    /// Has a receiver for each one wanted and none other (one whose groups
    /// changed is opened again). Returns what could not be opened, in the
    /// operator's words.
    pub fn sync(&mut self, wanted: &[Wanted]) -> Vec<String> {
        self.rx.retain(|r| wanted.contains(&r.wanted));
        let mut problems = Vec::new();
        for w in wanted {
            if self.rx.iter().any(|r| r.wanted == *w) {
                continue;
            }
            match open(w) {
                Ok(sock) => {
                    let as_index = w.on_behalf_of.unwrap_or(w.ifindex);
                    let task = tokio::spawn(read(sock, as_index, w.v6, w.from.clone(), self.tx.clone())).abort_handle();
                    self.rx.push(Rx { wanted: w.clone(), task });
                }
                Err(e) => problems.push(format!(
                    "cannot receive {} adverts on {}: {e}",
                    if w.v6 { "IPv6" } else { "IPv4" },
                    if w.ifname.is_empty() { "any interface" } else { &w.ifname }
                )),
            }
        }
        problems
    }
}

/// A receiver's task: reads until the socket is drained, then waits.
async fn read(sock: AsyncFd<Socket>, ifindex: i32, v6: bool, from: Vec<IpAddr>, tx: mpsc::Sender<Datagram>) {
    loop {
        let Ok(mut guard) = sock.readable().await else { return };
        loop {
            match guard.try_io(|s| if v6 { recv_v6(s.get_ref(), ifindex) } else { recv_v4(s.get_ref(), ifindex) }) {
                Ok(Ok(Some(dg))) if !from.is_empty() && !from.contains(&dg.src) => {}
                Ok(Ok(Some(dg))) => {
                    if tx.send(dg).await.is_err() {
                        return;
                    }
                }
                // Not an IP packet we can read, or a read error: the next one.
                Ok(Ok(None)) | Ok(Err(_)) => {}
                // Drained: wait for readiness again.
                Err(_would_block) => break,
            }
        }
    }
}

/// A receiver: protocol 112 on one interface, in its VRRP groups.
fn open(w: &Wanted) -> std::io::Result<AsyncFd<Socket>> {
    let domain = if w.v6 { Domain::IPV6 } else { Domain::IPV4 };
    let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(wire::PROTOCOL))))?;
    if !w.ifname.is_empty() {
        sock.bind_device(Some(w.ifname.as_bytes()))?;
    }
    let index = u32::try_from(w.ifindex).unwrap_or(0);
    for g in &w.groups {
        match g {
            IpAddr::V6(g) => sock.join_multicast_v6(g, index)?,
            IpAddr::V4(g) => sock.join_multicast_v4_n(g, &socket2::InterfaceIndexOrAddress::Index(index))?,
        }
    }
    if w.v6 {
        // The hop limit comes as a control message: it must be 255.
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::Ipv6RecvHopLimit, &true)?;
    }
    // Each packet comes with the kernel's receive time.
    nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::ReceiveTimestampns, &true)?;
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

/// One packet: its bytes (with the IP header for IPv4), its source for
/// IPv6, the hop limit (IPv6), and when the kernel received it.
struct Received {
    n: usize,
    src6: Option<std::net::Ipv6Addr>,
    hops: Option<i32>,
    at: Instant,
}

fn recv(sock: &Socket, buf: &mut [u8]) -> std::io::Result<Received> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg};
    use std::os::fd::AsRawFd;
    let mut cmsg = nix::cmsg_space!(libc::c_int, nix::sys::time::TimeSpec);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())?;
    let (mut hops, mut stamp) = (None, None);
    for c in msg.cmsgs().into_iter().flatten() {
        match c {
            ControlMessageOwned::Ipv6HopLimit(h) => hops = Some(h),
            ControlMessageOwned::ScmTimestampns(t) => stamp = Some(t),
            _ => {}
        }
    }
    let src6 = msg.address.as_ref().and_then(|a| a.as_sockaddr_in6()).map(|a| a.ip());
    Ok(Received { n: msg.bytes, src6, hops, at: arrival(stamp) })
}

/// The kernel's receive time (CLOCK_REALTIME) as an `Instant`: the
/// router's timers (a backup's Master_Down_Interval) run from when the
/// advert arrived, not from when this loop got to it. A stamp from the
/// future or over a second old (the wall clock stepped meanwhile) counts
/// as now.
fn arrival(stamp: Option<nix::sys::time::TimeSpec>) -> Instant {
    let now = Instant::now();
    let Some(t) = stamp else { return now };
    let stamp =
        std::time::UNIX_EPOCH + Duration::new(t.tv_sec().max(0) as u64, t.tv_nsec().clamp(0, 999_999_999) as u32);
    match std::time::SystemTime::now().duration_since(stamp) {
        Ok(ago) if ago < Duration::from_secs(1) => now.checked_sub(ago).unwrap_or(now),
        _ => now,
    }
}

fn recv_v4(sock: &Socket, ifindex: i32) -> std::io::Result<Option<Datagram>> {
    let mut buf = [0u8; 2048];
    let r = recv(sock, &mut buf)?;
    Ok(parse_ipv4(&buf[..r.n]).map(|(s, ttl, payload)| Datagram {
        ifindex,
        src: IpAddr::V4(s),
        ttl,
        payload,
        at: r.at,
    }))
}

/// A raw IPv6 socket gives no IP header: the source comes from recvmsg and
/// the hop limit from its control message.
fn recv_v6(sock: &Socket, ifindex: i32) -> std::io::Result<Option<Datagram>> {
    let mut buf = [0u8; 2048];
    let r = recv(sock, &mut buf)?;
    // No hop limit reported: treat as not 255 (dropped and counted).
    let ttl = r.hops.and_then(|h| u8::try_from(h).ok()).unwrap_or(0);
    Ok(r.src6.map(|s| Datagram { ifindex, src: IpAddr::V6(s), ttl, payload: buf[..r.n].to_vec(), at: r.at }))
}

/// A raw IPv4 socket delivers the IP header: (source, TTL, payload), or
/// None if it is not a whole IPv4 header.
pub fn parse_ipv4(b: &[u8]) -> Option<(Ipv4Addr, u8, Vec<u8>)> {
    let p = pnet_packet::ipv4::Ipv4Packet::new(b)?;
    let ihl = usize::from(p.get_header_length()) * 4;
    let total = usize::from(p.get_total_length()).min(b.len());
    if p.get_version() != 4 || ihl < 20 || total < ihl {
        return None;
    }
    Some((p.get_source(), p.get_ttl(), b[ihl..total].to_vec()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kernels_receive_time_becomes_an_instant() {
        use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
        let spec = |ago: i64| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64 - ago * 1_000_000;
            Some(nix::sys::time::TimeSpec::new(now / 1_000_000_000, now % 1_000_000_000))
        };
        let before = Instant::now();
        let ten_ms_ago = super::arrival(spec(10));
        let d = before.saturating_duration_since(ten_ms_ago);
        assert!(d >= Duration::from_millis(9) && d < Duration::from_millis(50), "{d:?}");
        // From the future, or too old (the clock stepped): now.
        for odd in [spec(-5000), spec(2000), None] {
            assert!(super::arrival(odd) >= before);
        }
    }

    #[test]
    fn ip_headers_are_checked() {
        let mut p = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 255, 112, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18];
        p.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let (src, ttl, payload) = super::parse_ipv4(&p).unwrap();
        assert_eq!((src.to_string(), ttl, payload.len()), ("10.0.0.1".into(), 255, 8));
        assert!(super::parse_ipv4(&p[..10]).is_none());
        p[0] = 0x41;
        assert!(super::parse_ipv4(&p).is_none());
    }
}
