//! Supervision, as keepalived does it and for the same reason: a fault in a
//! daemon must not take PID 1 down. The VRRP daemon and the health checkers
//! run as child processes of the same binary (`vigil child vrrp`, `vigil
//! child checkers`), each talking to PID 1 over a Unix socketpair (the
//! child's stdin) with length-delimited postcard messages: configs and
//! shutdown down, reports up, heartbeats both ways.
//!
//! PID 1 restarts a child that exits, crashes or misses heartbeats, with an
//! exponential backoff; past `CRASH_LOOP` restarts in `CRASH_WINDOW` it stops
//! trying and reports it, and stops petting the watchdog, so the board resets.

use crate::bus::{Part, Subscriber};
use crate::ipc::{Down, Grant, Health, Role};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::error;

mod child;
use child::{Child, Ended};

/// From the event loop to a child's supervisor.
#[derive(Debug)]
pub enum Control {
    /// Stop the child; the sender waits for the reply.
    Shutdown(tokio::sync::oneshot::Sender<()>),
    /// A message for the child, with file descriptors it is given (sent on
    /// its descriptor socket first: see [`crate::ipc::Grant`]). `sticky`: sent again to
    /// every child started after this one (what it must know to run).
    Message { down: Down, fds: Vec<OwnedFd>, sticky: bool },
}

/// The wait before a restart: none for the first, then doubling from
/// `BACKOFF_FIRST` up to `BACKOFF_MAX`.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const CRASH_LOOP: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(60);

/// What PID 1 knows of one child, for `show supervision`, the watchdog and
/// `debug kill`.
#[derive(Default)]
pub struct Watched {
    pub healthy: AtomicBool,
    pub line: std::sync::Mutex<String>,
    pub pid: std::sync::atomic::AtomicU32,
    /// Times the child failed and was restarted (or given up).
    pub failures: std::sync::atomic::AtomicU32,
    /// In a crash loop: no longer restarted.
    pub given_up: AtomicBool,
    /// The config generation its supervisor last took from the bus.
    pub applied: std::sync::atomic::AtomicU64,
    /// Times it was killed for missing its heartbeats (among `failures`).
    pub heartbeat_kills: std::sync::atomic::AtomicU32,
}

impl Watched {
    fn set_line(&self, line: String) {
        *self.line.lock().unwrap_or_else(|p| p.into_inner()) = line;
    }
}

/// Where a child's reports go (none but its status, by default).
#[derive(Default)]
pub struct Reports {
    /// `show vrrp` / `show checkers` / the metrics.
    pub status: crate::report::Shared,
    /// VRRP states (the VRRP child).
    pub states: Option<crate::vrrp::States>,
    /// Pools (the checkers child).
    pub health: Option<tokio::sync::watch::Sender<Health>>,
    /// The updater's reports.
    pub update: Option<tokio::sync::mpsc::UnboundedSender<crate::ipc::update::Report>>,
    /// Descriptors for the child at each start.
    pub grant: Option<Grant>,
    /// The VRRP child's answer to a handover.
    pub handed_over: Option<tokio::sync::mpsc::UnboundedSender<Vec<(String, bool)>>>,
    /// The BFD sessions' states (the BFD child).
    pub bfd: Option<tokio::sync::watch::Sender<crate::bfd::States>>,
}

/// Supervises the `role` child for ever: it runs its `part` of the newest
/// config on the `bus`; `control` carries messages for it and the shutdown
/// from the event loop.
pub async fn supervise(
    role: Role,
    part: Part,
    mut bus: Subscriber,
    mut control: tokio::sync::mpsc::Receiver<Control>,
    reports: Reports,
    watched: Arc<Watched>,
) {
    let newest = bus.borrow_and_update().clone();
    let mut child = Child {
        role,
        part,
        config: part.take(&newest.config),
        heartbeats: newest.config.global.supervision,
        generation: part.generation(&newest),
        last_health: None,
        reports,
        watched,
        sticky: Vec::new(),
    };
    child.watched.applied.store(newest.generation, Ordering::Relaxed);
    let name = role.name();
    let mut restarts: Vec<Instant> = Vec::new();
    let mut backoff = Duration::ZERO;
    loop {
        let started = Instant::now();
        let outcome = child.run_once(&mut bus, &mut control).await;
        child.watched.healthy.store(false, Ordering::Relaxed);
        match outcome {
            Ended::Shutdown => return,
            Ended::Failed(why) => {
                child.watched.failures.fetch_add(1, Ordering::Relaxed);
                error!("supervise: the {name} child {why}");
                // What it last reported is no longer true.
                crate::report::set(&child.reports.status, crate::report::Report::Nothing);
                child.watched.set_line(format!("{name}: {why}; restarting"));
            }
        }
        // A child that ran a while is not crash-looping.
        if started.elapsed() > CRASH_WINDOW {
            backoff = Duration::ZERO;
        }
        let now = Instant::now();
        restarts.retain(|t| now.duration_since(*t) < CRASH_WINDOW);
        restarts.push(now);
        if restarts.len() > CRASH_LOOP {
            let why =
                format!("{name}: crash loop ({} restarts in {} s); given up", restarts.len(), CRASH_WINDOW.as_secs());
            error!("supervise: {why}");
            child.watched.set_line(why);
            child.watched.given_up.store(true, Ordering::Relaxed);
            // Keep taking configs (and the shutdown) so the rest of the system runs on.
            while let Some(c) = control.recv().await {
                if let Control::Shutdown(done) = c {
                    let _ = done.send(());
                    return;
                }
            }
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).clamp(BACKOFF_FIRST, BACKOFF_MAX);
        // The newest config, whatever came meanwhile.
        if bus.has_changed().unwrap_or(false) {
            let newest = bus.borrow_and_update().clone();
            child.take(&newest);
        }
        while let Ok(c) = control.try_recv() {
            match c {
                Control::Shutdown(done) => {
                    let _ = done.send(());
                    return;
                }
                // Its descriptors were for the child that is gone.
                Control::Message { down, sticky, .. } => child.keep(down, sticky),
            }
        }
    }
}

/// Every supervised child, as the event loop, the watchdog and the shell see them.
#[derive(Default, Clone)]
pub struct Children(Vec<(Role, Arc<Watched>)>);

impl Children {
    /// Starts `role`'s supervisor on its `part` of the bus's configs; the
    /// returned sender carries messages for the child and the shutdown.
    pub fn spawn(
        &mut self,
        role: Role,
        part: Part,
        bus: Subscriber,
        reports: Reports,
    ) -> tokio::sync::mpsc::Sender<Control> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let watched = Arc::new(Watched::default());
        self.0.push((role, watched.clone()));
        tokio::spawn(supervise(role, part, bus, rx, reports, watched));
        tx
    }

    /// Every child is running and answering its heartbeats.
    pub fn healthy(&self) -> bool {
        self.0.iter().all(|(_, w)| w.healthy.load(Ordering::Relaxed))
    }

    /// `show supervision`: each child's state; for a running one, the
    /// config generation it runs (the newest its supervisor took from the
    /// bus) and the CPU time and memory it has used.
    pub fn show(&self) -> String {
        self.0
            .iter()
            .map(|(_, w)| {
                let mut line = w.line.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let pid = w.pid.load(Ordering::Relaxed);
                if line.contains("running, pid") {
                    line.push_str(&format!(", config generation {}", w.applied.load(Ordering::Relaxed)));
                }
                match (cpu_seconds(pid), peak_rss_kib(pid)) {
                    (Some(cpu), Some(kib)) if line.contains("running, pid") => {
                        format!("{line}, cpu {cpu:.2} s, peak rss {kib} KiB")
                    }
                    (Some(cpu), None) if line.contains("running, pid") => format!("{line}, cpu {cpu:.2} s"),
                    _ => line,
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Each child's name, failures so far, and whether it was given up.
    pub fn failures(&self) -> Vec<(&'static str, u32, bool)> {
        self.0
            .iter()
            .map(|(r, w)| (r.name(), w.failures.load(Ordering::Relaxed), w.given_up.load(Ordering::Relaxed)))
            .collect()
    }

    /// What the metrics say of each child.
    pub fn facts(&self) -> Vec<crate::metrics::ChildFacts> {
        self.0
            .iter()
            .map(|(r, w)| {
                let pid = w.pid.load(Ordering::Relaxed);
                let up = w.healthy.load(Ordering::Relaxed);
                crate::metrics::ChildFacts {
                    name: r.name(),
                    up,
                    restarts: w.failures.load(Ordering::Relaxed),
                    heartbeat_kills: w.heartbeat_kills.load(Ordering::Relaxed),
                    given_up: w.given_up.load(Ordering::Relaxed),
                    cpu_seconds: if up { cpu_seconds(pid) } else { None },
                    rss_bytes: if up { rss_kib(pid).map(|k| k * 1024) } else { None },
                }
            })
            .collect()
    }

    /// The pid of `role`'s child as last started.
    #[cfg_attr(not(feature = "debug-commands"), allow(dead_code))]
    pub fn pid(&self, role: Role) -> Option<u32> {
        self.0.iter().find(|(r, _)| *r == role).map(|(_, w)| w.pid.load(Ordering::Relaxed))
    }
}

/// The most resident memory a process has had (VmHWM), from /proc/PID/status.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// The memory a process has resident now (VmRSS).
fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    if pid == 0 {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(field))?.trim().trim_end_matches("kB").trim().parse().ok()
}

/// User and system CPU time a process has used, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> Option<f64> {
    if pid == 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks as f64 / if hz > 0 { hz as f64 } else { 100.0 })
}
