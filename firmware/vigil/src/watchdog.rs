//! The board's hardware watchdog (`/dev/watchdog*`: i6300esb in QEMU, or
//! softdog). PID 1 arms it with the configured timeout and pets it from its
//! event loop, so a PID 1 that stops turning its loop gets the board reset.
//! A clean power action disarms it with the magic close ('V'), so a halted
//! or rebooting system is not reset behind its back.

use nix::libc::c_int;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::Duration;
use tracing::{info, warn};

// <linux/watchdog.h>: WDIOC_KEEPALIVE = _IOR('W', 5, int),
// WDIOC_SETTIMEOUT = _IOWR('W', 6, int), WDIOC_GETTIMEOUT = _IOR('W', 7, int).
nix::ioctl_read!(wdioc_keepalive, b'W', 5, c_int);
nix::ioctl_readwrite!(wdioc_settimeout, b'W', 6, c_int);
nix::ioctl_read!(wdioc_gettimeout, b'W', 7, c_int);

pub struct Watchdog {
    file: std::fs::File,
    path: String,
    /// What the driver accepted.
    pub timeout: Duration,
}

impl Watchdog {
    /// Opens (and so arms) the device and sets its timeout.
    pub fn open(path: &str, timeout_s: u32) -> Result<Watchdog, String> {
        let file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| format!("{path}: {e}"))?;
        let mut w = Watchdog { file, path: path.to_string(), timeout: Duration::ZERO };
        w.timeout = w.apply_timeout(timeout_s);
        info!("watchdog: {path} armed, timeout {} s", w.timeout.as_secs());
        Ok(w)
    }

    /// A new timeout, while armed (a commit changed it).
    pub fn set_timeout(&mut self, timeout_s: u32) {
        self.timeout = self.apply_timeout(timeout_s);
        info!("watchdog: {} timeout {} s", self.path, self.timeout.as_secs());
    }

    /// Asks the driver for `timeout_s`; returns what it took.
    fn apply_timeout(&mut self, timeout_s: u32) -> Duration {
        let fd = self.file.as_raw_fd();
        let mut t = c_int::try_from(timeout_s).unwrap_or(c_int::MAX);
        // SAFETY: the descriptor is open for the lifetime of `file`, and the
        // driver reads and writes one int through the pointer, which points
        // at `t` for the whole call.
        if let Err(e) = unsafe { wdioc_settimeout(fd, &mut t) } {
            warn!("watchdog {}: cannot set a {timeout_s} s timeout ({e}); keeping the driver's", self.path);
        }
        let mut got: c_int = 0;
        // SAFETY: as above; the driver writes one int into `got`.
        match unsafe { wdioc_gettimeout(fd, &mut got) } {
            Ok(_) if got > 0 => Duration::from_secs(got as u64),
            _ => Duration::from_secs(u64::from(timeout_s)),
        }
    }

    /// How often to pet: a third of the timeout, at least once a second.
    pub fn period(&self) -> Duration {
        (self.timeout / 3).max(Duration::from_secs(1)).min(self.timeout.max(Duration::from_secs(1)))
    }

    pub fn pet(&mut self) {
        let mut dummy: c_int = 0;
        // SAFETY: the descriptor is open; the driver ignores the argument
        // or writes one int into `dummy`.
        if let Err(e) = unsafe { wdioc_keepalive(self.file.as_raw_fd(), &mut dummy) } {
            // Drivers without the ioctl take a write as a ping.
            if let Err(w) = self.file.write_all(b"\0") {
                warn!("watchdog {}: keepalive failed ({e}, {w})", self.path);
            }
        }
    }

    /// The magic close: the driver stops the timer when 'V' was written
    /// just before the device is closed.
    pub fn disarm(mut self) {
        match self.file.write_all(b"V") {
            Ok(()) => info!("watchdog: {} disarmed", self.path),
            Err(e) => warn!("watchdog {}: magic close failed ({e}); it may reset the board", self.path),
        }
    }
}
