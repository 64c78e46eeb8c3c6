//! Time since boot, for log timestamps and boot figures.

use nix::time::{ClockId, clock_gettime};
use std::sync::OnceLock;
use std::time::Duration;

static EPOCH: OnceLock<Duration> = OnceLock::new();

/// Time since the kernel started (CLOCK_BOOTTIME).
pub fn since_boot() -> Duration {
    match clock_gettime(ClockId::CLOCK_BOOTTIME) {
        Ok(t) => Duration::new(
            t.tv_sec().max(0) as u64,
            t.tv_nsec().clamp(0, 999_999_999) as u32,
        ),
        Err(_) => Duration::ZERO,
    }
}

/// Log timestamps count from kernel start on an appliance (like the kernel's
/// own), and from process start on a host.
pub fn set_epoch(pid1: bool) {
    let _ = EPOCH.set(if pid1 { Duration::ZERO } else { since_boot() });
}

pub fn since_epoch() -> Duration {
    since_boot().saturating_sub(EPOCH.get().copied().unwrap_or_default())
}
