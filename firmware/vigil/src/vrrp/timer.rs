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

/// Wakes when the kernel reports a link change (RTNLGRP_LINK); the
/// messages themselves are not parsed: the links are read afresh.
pub struct LinkMonitor {
    fd: AsyncFd<std::os::fd::OwnedFd>,
}

impl LinkMonitor {
    pub fn open() -> std::io::Result<LinkMonitor> {
        use nix::sys::socket::{AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, socket};
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &NetlinkAddr::new(0, libc::RTMGRP_LINK as u32))?;
        // SAFETY: the OwnedFd moves into the AsyncFd, which deregisters it
        // before dropping (closing) it; nothing else holds the descriptor.
        Ok(LinkMonitor { fd: unsafe { AsyncFd::register(fd) }? })
    }

    /// Waits for at least one message and drains the socket. An overrun
    /// (ENOBUFS) also counts as a change.
    pub async fn changed(&self) {
        let Ok(mut guard) = self.fd.readable().await else {
            return std::future::pending().await;
        };
        let mut buf = [0u8; 8192];
        let fd = std::os::fd::AsRawFd::as_raw_fd(guard.get_inner());
        while let Ok(_) | Err(nix::errno::Errno::ENOBUFS | nix::errno::Errno::EINTR) =
            nix::sys::socket::recv(fd, &mut buf, nix::sys::socket::MsgFlags::empty())
        {}
        guard.clear_ready();
    }
}
