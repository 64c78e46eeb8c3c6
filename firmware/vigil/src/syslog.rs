//! Remote syslog (`vigil_defs syslog ADDR[:PORT] [tcp]`): every log line,
//! PID 1's and its children's, as RFC 5424 (the hostname, the process as
//! APP-NAME, the instance or virtual server a line is about as structured
//! data), over UDP or TCP (RFC 6587 octet counting). Lines wait in a
//! bounded queue that drops the oldest when the server is away, and says
//! how many it dropped once the server is back. A thread of its own sends
//! them: no log line waits for the network, and PID 1's loop never does.

use std::collections::VecDeque;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

/// Lines kept while the server is away.
pub const QUEUE: usize = 1024;

/// An SD-ID of our own needs an enterprise number; 32473 is the one RFC
/// 5612 reserves for documentation and examples (vigil has none).
const PEN: u32 = 32473;

/// Where lines go, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub tcp: bool,
    pub hostname: String,
}

/// The lines that wait, bounded: the oldest go when it is full, counted.
#[derive(Default)]
struct Queue {
    /// Each line with its number (what was sent is taken off by number).
    lines: VecDeque<(u64, String)>,
    next: u64,
    dropped: u64,
}

impl Queue {
    fn push(&mut self, line: String) {
        if self.lines.len() == QUEUE {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back((self.next, line));
        self.next += 1;
    }

    /// The next lines to send, oldest first.
    fn batch(&self, n: usize) -> Vec<(u64, String)> {
        self.lines.iter().take(n).cloned().collect()
    }

    /// Lines up to number `last` went out (some may have been dropped
    /// meanwhile).
    fn sent(&mut self, last: u64) {
        while self.lines.front().is_some_and(|(n, _)| *n <= last) {
            self.lines.pop_front();
        }
    }
}

#[derive(Default)]
struct State {
    target: Option<Target>,
    queue: Queue,
    /// Bumped with each new target: the sender starts over with it.
    epoch: u64,
    started: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

fn shared() -> &'static Arc<Shared> {
    static SHARED: std::sync::OnceLock<Arc<Shared>> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| Arc::new(Shared { state: Mutex::new(State::default()), wake: Condvar::new() }))
}

/// Sends from now on to `target` (none: nowhere, and the queue empties).
pub fn configure(target: Option<Target>) {
    // Logged outside the lock: a log line comes back here (forward).
    let said = target.as_ref().map(|t| format!("syslog: to {} over {}", t.addr, if t.tcp { "TCP" } else { "UDP" }));
    let failed = {
        let sh = shared();
        let mut st = sh.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.target == target {
            return;
        }
        st.target = target;
        st.epoch += 1;
        let mut failed = None;
        if st.target.is_none() {
            st.queue = Queue::default();
        } else if !st.started {
            st.started = true;
            let sh2 = sh.clone();
            if let Err(e) = std::thread::Builder::new().name("syslog".into()).spawn(move || sender(&sh2)) {
                st.started = false;
                st.target = None;
                failed = Some(e);
            }
        }
        sh.wake.notify_one();
        failed
    };
    match (failed, said) {
        (Some(e), _) => tracing::error!("syslog: no thread to send from: {e}"),
        (None, Some(s)) => tracing::info!("{s}"),
        (None, None) => {}
    }
}

/// A log line (`[uptime] LEVEL text`) of `app` (`vigil`, or a child's
/// role) for the server, if there is one.
pub fn forward(app: &str, line: &str) {
    let sh = shared();
    let mut st = sh.state.lock().unwrap_or_else(|p| p.into_inner());
    let Some(t) = &st.target else { return };
    let hostname = t.hostname.clone();
    for l in line.lines().filter(|l| !l.trim().is_empty()) {
        st.queue.push(format(SystemTime::now(), &hostname, app, l));
    }
    sh.wake.notify_one();
}

/// The sender thread: takes lines as they come and sends them; while the
/// server cannot be reached it tries again every few seconds, and the
/// queue holds the newest lines.
fn sender(sh: &Shared) {
    let mut conn: Option<(u64, Conn)> = None;
    let mut backoff = Duration::from_millis(500);
    loop {
        let (target, epoch, batch, dropped) = {
            let mut st = sh.state.lock().unwrap_or_else(|p| p.into_inner());
            while st.target.is_some() && st.queue.lines.is_empty() {
                st = sh.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            let Some(target) = st.target.clone() else {
                conn = None;
                st = sh.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                drop(st);
                continue;
            };
            let batch = st.queue.batch(64);
            (target, st.epoch, batch, std::mem::take(&mut st.queue.dropped))
        };
        // A server that went away closed the connection: a write would
        // still be taken (into a socket nobody reads) and the line lost.
        if conn.as_ref().is_none_or(|(e, c)| *e != epoch || !c.alive()) {
            conn = Conn::open(&target).ok().map(|c| (epoch, c));
        }
        let mut sent: usize = 0;
        if let Some((_, c)) = conn.as_mut() {
            if dropped > 0 {
                let note = format!(
                    "<{}>1 {} {} vigil - - - syslog: {dropped} log lines dropped while the server could not be reached",
                    8 * 3 + 4,
                    timestamp(SystemTime::now()),
                    target.hostname
                );
                let _ = c.send(&note);
            }
            for (_, m) in &batch {
                if c.send(m).is_err() {
                    break;
                }
                sent += 1;
            }
        }
        let mut st = sh.state.lock().unwrap_or_else(|p| p.into_inner());
        // What was sent goes (the queue may have dropped some of it meanwhile).
        if let Some((last, _)) = sent.checked_sub(1).and_then(|i| batch.get(i)) {
            st.queue.sent(*last);
        }
        if sent < batch.len() {
            // The rest waits (the oldest go first if the queue fills); the
            // count of dropped lines carries on.
            conn = None;
            st.queue.dropped += dropped;
            drop(st);
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(10));
            continue;
        }
        backoff = Duration::from_millis(500);
    }
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

impl Conn {
    fn open(t: &Target) -> std::io::Result<Conn> {
        if t.tcp {
            let s = TcpStream::connect_timeout(&t.addr, Duration::from_secs(2))?;
            s.set_write_timeout(Some(Duration::from_secs(2)))?;
            Ok(Conn::Tcp(s))
        } else {
            let any: SocketAddr =
                if t.addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
            let s = UdpSocket::bind(any)?;
            s.connect(t.addr)?;
            Ok(Conn::Udp(s))
        }
    }

    /// Whether the server still holds the connection open (as rsyslog's
    /// own forwarder checks before sending: a peek that finds the end).
    fn alive(&self) -> bool {
        match self {
            Conn::Udp(_) => true,
            Conn::Tcp(s) => {
                let mut b = [0u8; 1];
                if s.set_nonblocking(true).is_err() {
                    return false;
                }
                let r = s.peek(&mut b);
                let alive = match r {
                    Ok(0) => false,
                    Ok(_) => true,
                    Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
                };
                alive && s.set_nonblocking(false).is_ok()
            }
        }
    }

    fn send(&mut self, msg: &str) -> std::io::Result<()> {
        match self {
            // A datagram per message; one the server refuses (ICMP) is lost,
            // as UDP syslog loses it.
            Conn::Udp(s) => {
                let _ = s.send(msg.as_bytes());
                Ok(())
            }
            // RFC 6587 octet counting: the length, a space, the message.
            Conn::Tcp(s) => s.write_all(format!("{} {msg}", msg.len()).as_bytes()),
        }
    }
}

/// RFC 3339 in UTC, to the millisecond.
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, dd) = civil(days as i64);
    format!("{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_millis())
}

/// Days since 1970-01-01 as a civil date (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// One log line as an RFC 5424 message: facility daemon, the severity of
/// its level, `app` as APP-NAME, what the line is about as structured data
/// (and the line as the console shows it, less its uptime and level, as
/// MSG) (`[vrrp@32473 instance="VI_1"]`, `[lvs@32473
/// virtual_server="192.0.2.1:80"]`).
pub fn format(at: SystemTime, hostname: &str, app: &str, line: &str) -> String {
    // `[  12.345]  INFO text`: the uptime and level vigil's console shows.
    let rest = line.trim_start();
    let rest = match rest.strip_prefix('[') {
        Some(r) => r.split_once(']').map_or(r, |(_, after)| after),
        None => rest,
    };
    let rest = rest.trim_start();
    let (severity, msg) = match rest.split_once(' ') {
        Some((level, m)) => match level {
            "ERROR" => (3, m.trim_start()),
            "WARN" => (4, m.trim_start()),
            "INFO" => (6, m.trim_start()),
            "DEBUG" | "TRACE" => (7, m.trim_start()),
            _ => (6, rest),
        },
        None => (6, rest),
    };
    let sd = structured(msg);
    let host = if hostname.is_empty() { "-" } else { hostname };
    let app: String = app.chars().filter(|c| c.is_ascii_graphic()).take(48).collect();
    format!("<{}>1 {} {host} {app} - - {sd} {msg}", 3 * 8 + severity, timestamp(at))
}

/// What a line is about, from the way vigil's lines begin.
fn structured(msg: &str) -> String {
    let about = |prefix: &str| {
        let rest = msg.strip_prefix(prefix)?;
        let (name, _) = rest.split_once(": ")?;
        (!name.is_empty() && !name.contains(' ')).then_some(name)
    };
    let one = |id: &str, key: &str, value: &str| format!("[{id}@{PEN} {key}=\"{}\"]", escape(value));
    if let Some(n) = about("vrrp_instance ") {
        one("vrrp", "instance", n)
    } else if let Some(n) = about("vrrp_sync_group ") {
        one("vrrp", "sync_group", n)
    } else if let Some(n) = about("virtual_server ") {
        one("lvs", "virtual_server", n)
    } else if let Some(n) = about("bfd_instance ") {
        one("bfd", "instance", n)
    } else {
        "-".to_string()
    }
}

/// RFC 5424 6.3.3: `"`, `\` and `]` are escaped in a PARAM-VALUE.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> SystemTime {
        // 2026-11-28T04:52:34.123Z
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_841_554_123)
    }

    #[test]
    fn lines_become_rfc5424_with_what_they_are_about() {
        assert_eq!(
            format(at(), "lb-1", "vrrp", "[   12.345]  INFO vrrp_instance VI_1: added 192.0.2.100/24 on eth0"),
            "<30>1 2026-11-28T04:52:34.123Z lb-1 vrrp - - [vrrp@32473 instance=\"VI_1\"] vrrp_instance VI_1: added 192.0.2.100/24 on eth0"
        );
        assert_eq!(
            format(
                at(),
                "lb-1",
                "checkers",
                "[    1.000]  WARN virtual_server 192.0.2.1:80: TCP_CHECK real server 10.0.0.1:80: DOWN"
            ),
            "<28>1 2026-11-28T04:52:34.123Z lb-1 checkers - - [lvs@32473 virtual_server=\"192.0.2.1:80\"] virtual_server 192.0.2.1:80: TCP_CHECK real server 10.0.0.1:80: DOWN"
        );
        assert_eq!(
            format(at(), "", "vigil", "[    0.002] ERROR config: no flash"),
            "<27>1 2026-11-28T04:52:34.123Z - vigil - - - config: no flash"
        );
        assert_eq!(
            format(at(), "h", "bfd", "[ 0.1] DEBUG bfd_instance B1: up with 10.0.0.2"),
            "<31>1 2026-11-28T04:52:34.123Z h bfd - - [bfd@32473 instance=\"B1\"] bfd_instance B1: up with 10.0.0.2"
        );
        // A line that is not vigil's shape goes as it is.
        assert_eq!(format(at(), "h", "vigil", "plain"), "<30>1 2026-11-28T04:52:34.123Z h vigil - - - plain");
    }

    #[test]
    fn param_values_are_escaped_and_app_names_kept_printable() {
        assert_eq!(escape(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
        let m = format(at(), "h", "v r\u{7}p", "[ 1.0]  INFO vrrp_sync_group G]1: x");
        assert_eq!(
            m,
            "<30>1 2026-11-28T04:52:34.123Z h vrp - - [vrrp@32473 sync_group=\"G\\]1\"] vrrp_sync_group G]1: x"
        );
    }

    #[test]
    fn the_queue_keeps_the_newest_and_counts_what_it_dropped() {
        let mut q = Queue::default();
        for i in 0..QUEUE + 10 {
            q.push(format!("line {i}"));
        }
        assert_eq!((q.lines.len(), q.dropped), (QUEUE, 10));
        let b = q.batch(3);
        assert_eq!(b[0], (10, "line 10".to_string()));
        // Three sent; meanwhile five more came and pushed five out.
        for i in 0..5 {
            q.push(format!("more {i}"));
        }
        q.sent(b[2].0);
        assert_eq!(q.lines.front().map(|l| l.1.as_str()), Some("line 15"));
        assert_eq!(q.lines.back().map(|l| l.1.as_str()), Some("more 4"));
        assert_eq!(q.dropped, 15);
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(timestamp(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
