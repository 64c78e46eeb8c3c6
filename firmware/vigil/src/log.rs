//! Logging through `tracing` to the console (stderr), stamped with seconds
//! since boot like the kernel's own messages so the two interleave readably.

use std::fmt;
use tracing_subscriber::fmt::{format::Writer, time::FormatTime};

struct Uptime;

impl FormatTime for Uptime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let t = crate::clock::since_epoch();
        write!(w, "[{:>5}.{:03}]", t.as_secs(), t.subsec_millis())
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
        .with_writer(std::io::stderr)
        .try_init();
}
