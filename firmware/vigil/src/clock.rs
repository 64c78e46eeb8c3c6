//! Time since boot, for log timestamps and boot figures.

use nix::time::{ClockId, clock_gettime};
use std::sync::OnceLock;
use std::time::Duration;

static EPOCH: OnceLock<Duration> = OnceLock::new();

/// Time since the kernel started (CLOCK_BOOTTIME).
pub fn since_boot() -> Duration {
    match clock_gettime(ClockId::CLOCK_BOOTTIME) {
        Ok(t) => Duration::new(t.tv_sec().max(0) as u64, t.tv_nsec().clamp(0, 999_999_999) as u32),
        Err(_) => Duration::ZERO,
    }
}

/// The variable a child is started with that holds its parent's epoch
/// (nanoseconds of CLOCK_BOOTTIME), so that the lines of a supervisor and
/// its children, in one log, count from one start.
pub const EPOCH_VAR: &str = "VIGIL_LOG_EPOCH_NS";

/// Log timestamps count from kernel start on an appliance (like the kernel's
/// own), from process start on a host, and in a child from its parent's
/// epoch (on a host the child's lines counted from its own start, a few
/// milliseconds later: its first line came after its parent's "child
/// started" stamped earlier).
pub fn set_epoch(pid1: bool) {
    let inherited = std::env::var(EPOCH_VAR).ok().and_then(|v| v.parse::<u64>().ok()).map(Duration::from_nanos);
    let _ = EPOCH.set(match inherited {
        Some(e) => e,
        None if pid1 => Duration::ZERO,
        None => since_boot(),
    });
}

/// This process's epoch, for its children ([`EPOCH_VAR`]).
pub fn epoch() -> Duration {
    EPOCH.get().copied().unwrap_or_default()
}

pub fn since_epoch() -> Duration {
    since_boot().saturating_sub(EPOCH.get().copied().unwrap_or_default())
}

/// The wall clock as ISO 8601 UTC (`2026-11-25T20:33:07Z`).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    utc(secs)
}

fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc(1_795_638_787), "2026-11-25T20:33:07Z");
    }
}
