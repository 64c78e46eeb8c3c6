//! Time: SNTP against the configured servers (`vigil_defs time_server`).
//! At boot, before the daemons start, one bounded round (all servers at
//! once, a few seconds at most; the boot carries on without an answer)
//! steps the clock; then a round every `POLL` slews small offsets with
//! adjtime(3) and steps big ones. The decisions are `vigil_time`'s.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tracing::{info, warn};
use vigil_time::decide::{Correction, best, correction};
use vigil_time::query::query;
use vigil_time::sample::Sample;

const POLL: Duration = Duration::from_secs(64);
/// The first poll after the boot step, to see how well it took.
const FIRST_POLL: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_millis(1500);

/// `show time`'s lines, and what the metrics say.
pub type Status = Arc<Mutex<Time>>;

#[derive(Debug, Clone, Default)]
pub struct Time {
    pub text: String,
    pub facts: crate::metrics::TimeFacts,
}

fn set_text(status: &Status, text: String) {
    status.lock().unwrap_or_else(|p| p.into_inner()).text = text;
}

/// One round: every server asked at once (each on its own thread: the
/// query blocks); the best good answer.
async fn round(servers: &[IpAddr]) -> Option<(IpAddr, Sample)> {
    let mut asks = Vec::new();
    for &ip in servers {
        asks.push((ip, tokio::task::spawn_blocking(move || query(SocketAddr::new(ip, 123), TIMEOUT))));
    }
    let mut good = Vec::new();
    for (ip, ask) in asks {
        match ask.await {
            Ok(Ok(s)) => good.push((ip, s)),
            Ok(Err(e)) => warn!("time: {ip}: {e}"),
            Err(e) => warn!("time: {ip}: {e}"),
        }
    }
    let b = best(&good.iter().map(|g| g.1).collect::<Vec<_>>())?;
    good.into_iter().find(|g| g.1 == b)
}

fn apply(c: Correction) -> Result<&'static str, String> {
    match c {
        Correction::None => Ok("kept"),
        Correction::Step(ns) => {
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos() as i128;
            let t = now + ns;
            let ts = nix::sys::time::TimeSpec::new((t / 1_000_000_000) as i64, (t % 1_000_000_000) as i64);
            nix::time::clock_settime(nix::time::ClockId::CLOCK_REALTIME, ts)
                .map_err(|e| format!("clock_settime: {e}"))?;
            Ok("stepped")
        }
        Correction::Slew(ns) => {
            let delta =
                libc::timeval { tv_sec: (ns / 1_000_000_000) as _, tv_usec: ((ns % 1_000_000_000) / 1000) as _ };
            // SAFETY: adjtime reads the timeval we pass and writes nothing
            // (the old-delta pointer is null).
            let r = unsafe { libc::adjtime(&delta, std::ptr::null_mut()) };
            if r != 0 {
                return Err(format!("adjtime: {}", std::io::Error::last_os_error()));
            }
            Ok("slewing")
        }
    }
}

fn ms(ns: i128) -> String {
    format!("{:+.3} ms", ns as f64 / 1e6)
}

/// What a slew (adjtime) has yet to correct, in nanoseconds; None when the
/// clock is not being slewed.
pub fn slew_left() -> Option<i128> {
    // adjtime(NULL, &left) would do, but musl's asks the PLL instead of
    // the single-shot slew: ask the kernel directly.
    // SAFETY: timex is plain data; all-zero is a valid value.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    tx.modes = libc::ADJ_OFFSET_SS_READ as _;
    // SAFETY: with ADJ_OFFSET_SS_READ adjtimex changes nothing and writes
    // the outstanding slew (microseconds) into `tx`, which lives across the call.
    let r = unsafe { libc::adjtimex(&mut tx) };
    let ns = i128::from(tx.offset) * 1000;
    (r >= 0 && ns != 0).then_some(ns)
}

/// `show system`'s time lines, with a slew's progress.
/// The last round set the clock from a server (it is known to be right).
pub fn synced(status: &Status) -> bool {
    status.lock().unwrap_or_else(|p| p.into_inner()).facts.synced
}

pub fn show(status: &Status) -> String {
    let mut text = status.lock().unwrap_or_else(|p| p.into_inner()).text.clone();
    if let Some(ns) = slew_left() {
        text.push_str(&format!("\ntime: slewing, {} left", ms(ns)));
    }
    text
}

/// Host mode: the clock is the host's (its own NTP daemon keeps it);
/// vigil neither asks a server nor steps it.
pub fn host_keeps_it(status: &Status) {
    info!("time: host mode: the host keeps the clock");
    set_text(status, "time: host mode: the host keeps the clock".into());
}

/// The boot round: returns once the clock is set, or no server answered.
pub async fn at_boot(servers: &[IpAddr], status: &Status) {
    if servers.is_empty() {
        info!("time: no server configured; the clock is as the board keeps it");
        set_text(status, "time: no server configured".into());
        return;
    }
    sync(servers, status, true).await;
}

async fn sync(servers: &[IpAddr], status: &Status, at_boot: bool) {
    let mut synced = None;
    let text = match round(servers).await {
        Some((ip, s)) => {
            let c = correction(s.offset_ns, at_boot);
            match apply(c) {
                Ok(what) => {
                    if what != "kept" || at_boot {
                        info!("time: {what} by {} from {ip} (delay {})", ms(s.offset_ns), ms(s.delay_ns));
                    }
                    synced = Some(s.offset_ns as f64 / 1e9);
                    format!(
                        "time: synced from {ip} at {}, offset {} ({what}), delay {}, stratum {}",
                        crate::clock::utc_now(),
                        ms(s.offset_ns),
                        ms(s.delay_ns),
                        s.stratum
                    )
                }
                Err(e) => {
                    warn!("time: {e}");
                    format!("time: {ip} answered, but {e}")
                }
            }
        }
        None => {
            if at_boot {
                warn!("time: no server answered; carrying on with the clock as it is");
            }
            format!("time: no server answered at {}", crate::clock::utc_now())
        }
    };
    let mut st = status.lock().unwrap_or_else(|p| p.into_inner());
    st.text = text;
    st.facts.synced = synced.is_some();
    if let Some(offset) = synced {
        st.facts.offset_s = Some(offset);
        st.facts.last_sync_s = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).ok().map(|d| d.as_secs());
    }
}

/// Keeps the clock right for ever (a task).
pub async fn run(servers: Vec<IpAddr>, status: Status) {
    if servers.is_empty() {
        return;
    }
    tokio::time::sleep(FIRST_POLL).await;
    loop {
        sync(&servers, &status, false).await;
        tokio::time::sleep(POLL).await;
    }
}
