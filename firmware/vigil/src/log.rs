//! Logging through `tracing` to the console (stderr), stamped with seconds
//! since boot like the kernel's own messages so the two interleave readably.
//! The last lines are also kept in memory for `show log`.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter, time::FormatTime};
use tracing_subscriber::registry::LookupSpan;

struct Uptime;

impl FormatTime for Uptime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let t = crate::clock::since_epoch();
        write!(w, "[{:>5}.{:03}]", t.as_secs(), t.subsec_millis())
    }
}

/// A log line: `[uptime] LEVEL what it is about: message`, where what it
/// is about comes from the spans the line was logged in, in the
/// operator's words: a span `vrrp_instance` with `name = VI_1` reads
/// `vrrp_instance VI_1: ` (not tracing's `vrrp_instance{name=VI_1}:`), so
/// the code says which instance once, not in every format string.
struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        Uptime.format_time(&mut w)?;
        write!(w, " {:>5} ", event.metadata().level())?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                let fields = ext.get::<FormattedFields<N>>().map_or("", |f| f.fields.as_str());
                let what = fields.strip_prefix("name=").unwrap_or(fields);
                if what.is_empty() {
                    write!(w, "{}: ", span.name())?;
                } else {
                    write!(w, "{} {what}: ", span.name())?;
                }
            }
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

const RING_LINES: usize = 500;

static RING: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// The last `n` log lines, oldest first.
pub fn recent(n: usize) -> Vec<String> {
    let r = RING.lock().unwrap_or_else(|p| p.into_inner());
    r.iter().skip(r.len().saturating_sub(n)).cloned().collect()
}

/// In a daemon child: where its log lines go instead of the console (to
/// PID 1, which prints them: one writer on the console, and the lines are
/// in `show log` too).
static SINK: Mutex<Option<tokio::sync::mpsc::UnboundedSender<String>>> = Mutex::new(None);

/// A child hands its log lines to `sink` from now on.
pub fn send_to(sink: tokio::sync::mpsc::UnboundedSender<String>) {
    *SINK.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
}

/// Log lines a child (`app`: its role) sent: kept and printed as PID 1's
/// own, and sent to the syslog server as the child's.
pub fn emit(app: &str, text: &str) {
    keep_and_print(text.as_bytes());
    crate::syslog::forward(app, text);
}

fn keep_and_print(buf: &[u8]) {
    let mut r = RING.lock().unwrap_or_else(|p| p.into_inner());
    for line in String::from_utf8_lossy(buf).lines() {
        if r.len() == RING_LINES {
            r.pop_front();
        }
        r.push_back(line.to_string());
    }
    drop(r);
    // The console's writer puts it around the shell's line.
    crate::console::log_line(buf);
}

/// Writes a log line to stderr and keeps it in the ring. If the shell has a
/// line on the terminal, the log line replaces it and the shell's line is
/// drawn again after it, so typed text is never split by a log line.
struct Tee;

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(sink) = SINK.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && sink.send(String::from_utf8_lossy(buf).into_owned()).is_ok()
        {
            return Ok(buf.len());
        }
        keep_and_print(buf);
        crate::syslog::forward("vigil", &String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
        .with_max_level(level)
        .event_format(Line)
        .with_writer(MakeTee)
        .try_init();
}
