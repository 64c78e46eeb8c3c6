//! The daemon's two wake-ups besides packets: a microsecond-exact timer
//! for the router's deadlines, and the kernel's link-change events.

use std::time::Instant;
use tokio::io::unix::AsyncFd;
use tracing::warn;

/// A one-shot timer on a timerfd (an hrtimer): tokio's own timers round a
/// deadline up to the next millisecond, which would add up to 1 ms to
/// every takeover; this one fires within microseconds of it.
pub struct Timer {
    fd: AsyncFd<TimerFd>,
}

struct TimerFd(nix::sys::timerfd::TimerFd);

impl std::os::fd::AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

impl Timer {
    pub fn new() -> std::io::Result<Timer> {
        use nix::sys::timerfd::{ClockId, TimerFlags};
        let fd = nix::sys::timerfd::TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // SAFETY: the TimerFd owns its descriptor and moves into the
        // AsyncFd, which deregisters it before dropping (closing) it.
        Ok(Timer { fd: unsafe { AsyncFd::register(TimerFd(fd)) }? })
    }

    /// Returns at `deadline` (at once if it has passed; never if None).
    pub async fn sleep_until(&self, deadline: Option<Instant>) {
        use nix::sys::time::TimeSpec;
        use nix::sys::timerfd::{Expiration, TimerSetTimeFlags};
        let Some(deadline) = deadline else { return std::future::pending().await };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        // Re-arming also clears an expiry left from an earlier, abandoned wait.
        let armed =
            self.fd.get_ref().0.set(Expiration::OneShot(TimeSpec::from_duration(left)), TimerSetTimeFlags::empty());
        if let Err(e) = armed {
            warn!("vrrp: timerfd: {e}");
            return tokio::time::sleep(left).await;
        }
        loop {
            let Ok(mut guard) = self.fd.readable().await else { return tokio::time::sleep(left).await };
            let mut ticks = [0u8; 8];
            match nix::unistd::read(&guard.get_inner().0, &mut ticks) {
                Ok(_) => return,
                Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
                Err(_) => return,
            }
        }
    }
}

/// A socket on rtnetlink multicast groups, read in bursts (the link
/// monitor's and the route monitor's).
pub struct Listener {
    fd: AsyncFd<std::os::fd::OwnedFd>,
}

impl Listener {
    /// `groups`: the RTMGRP_* bits to join.
    pub fn open(groups: u32) -> std::io::Result<Listener> {
        use nix::sys::socket::{AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, socket};
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &NetlinkAddr::new(0, groups))?;
        // SAFETY: the OwnedFd moves into the AsyncFd, which deregisters it
        // before dropping (closing) it; nothing else holds the descriptor.
        Ok(Listener { fd: unsafe { AsyncFd::register(fd) }? })
    }

    /// Waits for at least one datagram and drains the socket: each datagram
    /// goes to `read`, an overrun (ENOBUFS: messages were dropped) as None.
    pub async fn drain(&self, mut read: impl FnMut(Option<&[u8]>)) {
        let Ok(mut guard) = self.fd.readable().await else {
            return std::future::pending().await;
        };
        let mut buf = [0u8; 8192];
        let fd = std::os::fd::AsRawFd::as_raw_fd(guard.get_inner());
        loop {
            match nix::sys::socket::recv(fd, &mut buf, nix::sys::socket::MsgFlags::empty()) {
                Ok(n) => read(Some(&buf[..n.min(buf.len())])),
                Err(nix::errno::Errno::ENOBUFS) => read(None),
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        guard.clear_ready();
    }
}

/// Wakes when the kernel reports a link change (RTNLGRP_LINK); the
/// messages themselves are not parsed: the links are read afresh.
pub struct LinkMonitor(Listener);

impl LinkMonitor {
    pub fn open() -> std::io::Result<LinkMonitor> {
        // Addresses too, for `track_src_ip` (the loop reads them only when
        // an instance tracks one).
        let groups = libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR;
        Listener::open(groups as u32).map(LinkMonitor)
    }

    /// Waits for at least one message and drains the socket; says what
    /// changed. An overrun (ENOBUFS) counts as both, and is said: the
    /// removals among the dropped messages are not in `removed`.
    pub async fn changed(&self) -> Changed {
        let mut changed = Changed::default();
        self.0
            .drain(|msgs| match msgs {
                Some(b) => changed.add(b),
                None => (changed.links, changed.addresses, changed.overrun) = (true, true, true),
            })
            .await;
        changed
    }
}

/// What a burst of rtnetlink messages was about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    pub links: bool,
    pub addresses: bool,
    /// The addresses RTM_DELADDR said were removed (as keepalived follows
    /// them: no dump), at most [`REMOVED`] a turn.
    pub removed: Vec<std::net::IpAddr>,
    /// The socket overran: messages were dropped, removals among them.
    pub overrun: bool,
}

/// Removed addresses kept per turn (past it, the rest are not looked at).
pub const REMOVED: usize = 1024;

impl Changed {
    /// Reads the messages' types (a datagram holds one or more, each
    /// `nlmsghdr` first: length u32, type u16, ...); what cannot be read
    /// counts as both.
    fn add(&mut self, b: &[u8]) {
        each_message(b, |kind, m| match kind {
            libc::RTM_NEWLINK | libc::RTM_DELLINK => self.links = true,
            libc::RTM_NEWADDR => self.addresses = true,
            libc::RTM_DELADDR => {
                self.addresses = true;
                if self.removed.len() < REMOVED
                    && let Some(a) = removed_address(m)
                {
                    self.removed.push(a);
                }
            }
            _ => {}
        });
    }
}

/// Walks a datagram of rtnetlink messages (each `nlmsghdr` first: length
/// u32, type u16, ...), handing each message's type and bytes (cut at the
/// datagram's end) to `each`.
pub fn each_message(mut b: &[u8], mut each: impl FnMut(u16, &[u8])) {
    while b.len() >= 16 {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let kind = u16::from_ne_bytes([b[4], b[5]]);
        each(kind, &b[..len.min(b.len())]);
        // Messages are 4-byte aligned; a bad length ends the walk.
        let step = len.div_ceil(4) * 4;
        if len < 16 || step > b.len() {
            break;
        }
        b = &b[step..];
    }
}

/// The address of an RTM_DELADDR message: after the 16-byte header, an
/// `ifaddrmsg` (family u8, prefix u8, flags u8, scope u8, index u32), then
/// attributes (length u16, type u16, value, 4-byte aligned): IFA_LOCAL
/// (2), else IFA_ADDRESS (1). None for what cannot be read.
fn removed_address(m: &[u8]) -> Option<std::net::IpAddr> {
    let family = *m.get(16)?;
    let want = if family == libc::AF_INET as u8 {
        4
    } else if family == libc::AF_INET6 as u8 {
        16
    } else {
        return None;
    };
    let mut a = m.get(24..)?;
    let (mut local, mut address) = (None, None);
    while a.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([a[0], a[1]]));
        let ty = u16::from_ne_bytes([a[2], a[3]]);
        if len < 4 || len > a.len() {
            break;
        }
        let v = &a[4..len];
        let ip = match (want, v.len()) {
            (4, 4) => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(v).ok()?)),
            (16, 16) => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(v).ok()?)),
            _ => None,
        };
        match ty {
            2 => local = ip,
            1 => address = ip,
            _ => {}
        }
        let step = len.div_ceil(4) * 4;
        if step >= a.len() {
            break;
        }
        a = &a[step..];
    }
    local.or(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, len: u32) -> Vec<u8> {
        let mut m = vec![0u8; len.div_ceil(4) as usize * 4];
        m[..4].copy_from_slice(&len.to_ne_bytes());
        m[4..6].copy_from_slice(&kind.to_ne_bytes());
        m
    }

    /// RTM_DELADDR's address is read (IFA_LOCAL before IFA_ADDRESS); a
    /// message cut short says none.
    #[test]
    fn a_removed_address_is_read() {
        let mut m = msg(libc::RTM_DELADDR, 16 + 8 + 8 + 8);
        m[16] = libc::AF_INET as u8;
        m[24..28].copy_from_slice(&[8, 0, 1, 0]); // IFA_ADDRESS
        m[28..32].copy_from_slice(&[10, 0, 0, 9]);
        m[32..36].copy_from_slice(&[8, 0, 2, 0]); // IFA_LOCAL
        m[36..40].copy_from_slice(&[192, 0, 2, 100]);
        let mut c = Changed::default();
        c.add(&m);
        assert_eq!(c.removed, vec!["192.0.2.100".parse::<std::net::IpAddr>().unwrap()]);
        assert!(c.addresses);
        let mut c = Changed::default();
        c.add(&m[..30]);
        assert!(c.removed.is_empty());
    }

    /// A datagram of several messages says each kind; a truncated one
    /// stops the walk without reading past the end.
    #[test]
    fn message_kinds_are_told_apart() {
        let mut c = Changed::default();
        c.add(&msg(libc::RTM_NEWADDR, 42));
        assert_eq!(c, Changed { links: false, addresses: true, removed: vec![], overrun: false });
        let mut c = Changed::default();
        let mut both = msg(libc::RTM_NEWROUTE, 30);
        both.extend(msg(libc::RTM_DELLINK, 20));
        c.add(&both);
        assert_eq!(c, Changed { links: true, addresses: false, removed: vec![], overrun: false });
        let mut c = Changed::default();
        let mut cut = msg(libc::RTM_NEWLINK, 64);
        cut.truncate(20);
        c.add(&cut);
        c.add(&[1, 2, 3]);
        assert_eq!(c, Changed { links: true, addresses: false, removed: vec![], overrun: false });
    }
}
