//! Logging through `tracing` to the console (stderr), stamped with seconds
//! since boot like the kernel's own messages so the two interleave readably.
//! The last lines are also kept in memory for `show log`.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use tracing_subscriber::fmt::{MakeWriter, format::Writer, time::FormatTime};

struct Uptime;

impl FormatTime for Uptime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let t = crate::clock::since_epoch();
        write!(w, "[{:>5}.{:03}]", t.as_secs(), t.subsec_millis())
    }
}

const RING_LINES: usize = 500;

static RING: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// The last `n` log lines, oldest first.
pub fn recent(n: usize) -> Vec<String> {
    let r = RING.lock().unwrap_or_else(|p| p.into_inner());
    r.iter().skip(r.len().saturating_sub(n)).cloned().collect()
}

/// Writes a log line to stderr and keeps it in the ring.
struct Tee;

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut r = RING.lock().unwrap_or_else(|p| p.into_inner());
        for line in String::from_utf8_lossy(buf).lines() {
            if r.len() == RING_LINES {
                r.pop_front();
            }
            r.push_back(line.to_string());
        }
        drop(r);
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

struct MakeTee;

impl<'a> MakeWriter<'a> for MakeTee {
    type Writer = Tee;
    fn make_writer(&'a self) -> Tee {
        Tee
    }
}

/// The level comes from `VIGIL_LOG` (error, warn, info, debug, trace); on an
/// appliance, put `VIGIL_LOG=debug` on the kernel command line.
pub fn init() {
    let level = match std::env::var("VIGIL_LOG").as_deref() {
        Ok("error") => tracing::Level::ERROR,
        Ok("warn") => tracing::Level::WARN,
        Ok("debug") => tracing::Level::DEBUG,
        Ok("trace") => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_target(false)
        .with_timer(Uptime)
        .with_max_level(level)
        .with_writer(MakeTee)
        .try_init();
}
