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

use crate::bus::{Part, Published, Subscriber};
use crate::ipc::{Down, Grant, Health, Role, Up, send, spawn_reader};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::UnixStream;
use tracing::{error, info};
use vigil_config::Config;

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
}

impl Watched {
    fn set_line(&self, line: String) {
        *self.line.lock().unwrap_or_else(|p| p.into_inner()) = line;
    }
}

/// Where a child's reports go.
pub struct Reports {
    /// `show vrrp` / `show checkers`.
    pub status: Arc<std::sync::Mutex<Vec<String>>>,
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
}

/// One supervised child across its restarts.
struct Child {
    role: Role,
    /// What it takes from the config bus.
    part: Part,
    config: Arc<Config>,
    heartbeats: vigil_config::Supervision,
    generation: u64,
    /// The checkers' last health report for `generation`.
    last_health: Option<Health>,
    reports: Reports,
    watched: Arc<Watched>,
    /// Messages every new child gets after its config.
    sticky: Vec<Down>,
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
                child.reports.status.lock().unwrap_or_else(|p| p.into_inner()).clear();
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

/// Whether a heartbeat's answer is among what the child's reader has, or
/// gets once the runtime has polled the sockets (two turns); the rest is
/// reported. A closed socket counts as no answer (its exit says why).
async fn answered_meanwhile(
    up_rx: &mut tokio::sync::mpsc::UnboundedReceiver<std::io::Result<Up>>,
    mut report: impl FnMut(Up),
) -> bool {
    let mut answered = false;
    for _ in 0..2 {
        tokio::task::yield_now().await;
        while let Ok(m) = up_rx.try_recv() {
            match m {
                Ok(Up::Pong(_)) => answered = true,
                Ok(m) => report(m),
                Err(_) => return false,
            }
        }
    }
    answered
}

/// How a child ended, as its reaper told (or not).
fn how_it_ended(exit: Result<crate::reap::Exit, tokio::sync::oneshot::error::RecvError>) -> String {
    exit.map_or_else(|_| "ended".to_string(), |e| e.to_string())
}

enum Ended {
    Shutdown,
    Failed(String),
}

impl Child {
    /// Takes its part of a config from the bus; true if the part changed
    /// (the running child is to be told).
    fn take(&mut self, p: &Published) -> bool {
        self.heartbeats = p.config.global.supervision;
        self.watched.applied.store(p.generation, Ordering::Relaxed);
        let generation = self.part.generation(p);
        if generation == self.generation {
            return false;
        }
        self.last_health = None;
        self.config = self.part.take(&p.config);
        self.generation = generation;
        true
    }

    /// `show supervision` for a running child.
    fn set_running_line(&self, pid: u32) {
        let (every, limit) = self.heartbeats();
        self.watched.set_line(format!(
            "{}: running, pid {pid} (heartbeats every {} ms, limit {} ms)",
            self.role.name(),
            every.as_millis(),
            limit.as_millis()
        ));
    }

    /// The heartbeat period and the silence after which the child is killed.
    fn heartbeats(&self) -> (Duration, Duration) {
        let s = self.heartbeats;
        let ms = |v: u16| Duration::from_millis(u64::from(v.max(1)));
        (ms(s.heartbeat_ms), ms(s.heartbeat_limit_ms))
    }

    /// A sticky message replaces the one of its kind (the newest wins).
    fn keep(&mut self, down: Down, sticky: bool) {
        if sticky {
            self.sticky.retain(|d| std::mem::discriminant(d) != std::mem::discriminant(&down));
            self.sticky.push(down);
        }
    }

    fn first_message(&self) -> Down {
        Down::Config { config: self.config.clone(), generation: self.generation, resume: self.last_health.clone() }
    }

    fn report(&mut self, m: Up) {
        match m {
            Up::Pong(_) | Up::Stopped => {}
            Up::Status(lines) => *self.reports.status.lock().unwrap_or_else(|p| p.into_inner()) = lines,
            Up::States(s) => {
                let Some(states) = &self.reports.states else { return };
                states.send_if_modified(|cur| {
                    let changed = *cur != s;
                    if changed {
                        *cur = s;
                    }
                    changed
                });
            }
            Up::Health(h) => {
                if h.generation == self.generation {
                    self.last_health = Some(h.clone());
                }
                if let Some(tx) = &self.reports.health {
                    tx.send_replace(h);
                }
            }
            Up::Log(text) => crate::log::emit(&text),
            Up::Update(r) => {
                if let Some(tx) = &self.reports.update {
                    let _ = tx.send(r);
                }
            }
            Up::HandedOver(list) => {
                if let Some(tx) = &self.reports.handed_over {
                    let _ = tx.send(list);
                }
            }
        }
    }

    async fn run_once(&mut self, bus: &mut Subscriber, control: &mut tokio::sync::mpsc::Receiver<Control>) -> Ended {
        let name = self.role.name();
        let (ours, theirs) = match std::os::unix::net::UnixStream::pair() {
            Ok(p) => p,
            Err(e) => return Ended::Failed(format!("could not start: socketpair: {e}")),
        };
        // A child with a grant gets its descriptors on its stdout, a socket.
        let mut fd_sock = None;
        let mut stdout = std::process::Stdio::null();
        if let Some(grant) = self.reports.grant.clone() {
            let (fds_ours, fds_theirs) = match std::os::unix::net::UnixStream::pair() {
                Ok(p) => p,
                Err(e) => return Ended::Failed(format!("could not start: socketpair: {e}")),
            };
            let fds = match grant() {
                Ok(fds) => fds,
                Err(e) => {
                    error!("supervise: {name}: {e}");
                    Vec::new()
                }
            };
            if let Err(e) = crate::ipc::fds::send(&fds_ours, &fds) {
                return Ended::Failed(format!("could not start: passing descriptors: {e}"));
            }
            stdout = std::process::Stdio::from(OwnedFd::from(fds_theirs));
            fd_sock = Some(fds_ours);
        }
        let exe = std::env::current_exe().unwrap_or_else(|_| "/init".into());
        let spawned = std::process::Command::new(exe)
            .args(["child", name])
            .stdin(std::process::Stdio::from(OwnedFd::from(theirs)))
            .stdout(stdout)
            // Its own process group: a signal meant for it (or for the
            // programs it runs) reaches no one else.
            .process_group(0)
            .spawn();
        let spawned = match spawned {
            Ok(c) => c,
            Err(e) => return Ended::Failed(format!("could not start: {e}")),
        };
        let pid = spawned.id();
        // Registered before the runtime can run the reaper (same thread).
        let mut exited = crate::reap::watch(pid);
        drop(spawned);
        self.watched.pid.store(pid, Ordering::Relaxed);
        let kill = || {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
        };
        if ours.set_nonblocking(true).is_err() {
            kill();
            return Ended::Failed("socket setup failed".into());
        }
        let Ok(sock) = UnixStream::from_std(ours) else {
            kill();
            return Ended::Failed("socket setup failed".into());
        };
        let (rd, mut wr) = sock.into_split();
        if let Err(e) = send(&mut wr, &self.first_message()).await {
            kill();
            return Ended::Failed(format!("took no config: {e}"));
        }
        for m in self.sticky.clone() {
            let _ = send(&mut wr, &m).await;
        }
        info!("supervise: {name} child started (pid {pid})");
        self.watched.healthy.store(true, Ordering::Relaxed);
        let (mut every, mut limit) = self.heartbeats();
        self.set_running_line(pid);
        let mut beat = heartbeat(every);
        let mut seq = 0u64;
        // The oldest heartbeat the child has not answered. The child's
        // silence is counted from it, not from its last answer: if this loop
        // itself was held up (a long IPVS reconcile), no heartbeat went out
        // meanwhile, and a healthy child must not pay for it.
        let mut unanswered: Option<Instant> = None;
        let far = Instant::now() + Duration::from_secs(86_400);
        let mut bus_open = true;
        let (mut up_rx, reader) = spawn_reader::<Up>(rd);
        let outcome = loop {
            tokio::select! {
                exit = &mut exited => break Ended::Failed(how_it_ended(exit)),
                _ = beat.tick() => {
                    seq += 1;
                    let _ = send(&mut wr, &Down::Ping(seq)).await;
                    unanswered.get_or_insert_with(Instant::now);
                }
                _ = tokio::time::sleep_until(unanswered.map_or(far, |t| t + limit).into()) => {
                    // If this loop was held up (a long commit on PID 1's
                    // thread), the deadline fires as it comes back, before
                    // the answers the child sent meanwhile are read: read
                    // what is there first.
                    if answered_meanwhile(&mut up_rx, |m| self.report(m)).await {
                        unanswered = None;
                        continue;
                    }
                    kill();
                    break Ended::Failed(format!("missed its heartbeats for {} ms; killed", limit.as_millis()));
                }
                m = up_rx.recv() => match m {
                    Some(Ok(Up::Pong(_))) => unanswered = None,
                    Some(Ok(m)) => self.report(m),
                    Some(Err(_)) | None => {
                        // The socket closed: the child is going; its exit tells why.
                        match tokio::time::timeout(Duration::from_secs(2), &mut exited).await {
                            Ok(exit) => break Ended::Failed(how_it_ended(exit)),
                            Err(_) => {
                                kill();
                                break Ended::Failed("closed its socket; killed".into());
                            }
                        }
                    }
                },
                changed = bus.changed(), if bus_open => {
                    if changed.is_err() {
                        // PID 1 is going: its shutdown follows on `control`.
                        bus_open = false;
                        continue;
                    }
                    let newest = bus.borrow_and_update().clone();
                    let was = self.heartbeats;
                    if self.take(&newest) {
                        let down = Down::Config { config: self.config.clone(), generation: self.generation, resume: None };
                        let _ = send(&mut wr, &down).await;
                    }
                    if self.heartbeats != was {
                        (every, limit) = self.heartbeats();
                        beat = heartbeat(every);
                        info!("supervise: {name} heartbeats every {} ms, limit {} ms", every.as_millis(), limit.as_millis());
                        self.set_running_line(pid);
                    }
                }
                c = control.recv() => match c {
                    Some(Control::Message { down, fds, sticky }) => {
                        self.keep(down.clone(), sticky);
                        match fd_sock.as_ref() {
                            Some(sock) if !fds.is_empty() => {
                                if let Err(e) = crate::ipc::fds::send(sock, &fds) {
                                    error!("supervise: {name}: passing descriptors: {e}");
                                }
                            }
                            _ => {}
                        }
                        let _ = send(&mut wr, &down).await;
                    }
                    Some(Control::Shutdown(done)) => {
                        let _ = send(&mut wr, &Down::Shutdown).await;
                        // The child stops (a VRRP child resigns, printing what
                        // it logs) and says it stopped.
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            while let Some(Ok(m)) = up_rx.recv().await {
                                match m {
                                    Up::Stopped => break,
                                    m => self.report(m),
                                }
                            }
                        })
                        .await;
                        let _ = tokio::time::timeout(Duration::from_secs(1), &mut exited).await;
                        kill();
                        let _ = done.send(());
                        break Ended::Shutdown;
                    }
                    None => {
                        let _ = send(&mut wr, &Down::Shutdown).await;
                        let _ = tokio::time::timeout(Duration::from_secs(2), &mut exited).await;
                        kill();
                        break Ended::Shutdown;
                    }
                },
            }
        };
        reader.abort();
        outcome
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

    /// The pid of `role`'s child as last started.
    #[cfg_attr(not(feature = "debug-commands"), allow(dead_code))]
    pub fn pid(&self, role: Role) -> Option<u32> {
        self.0.iter().find(|(r, _)| *r == role).map(|(_, w)| w.pid.load(Ordering::Relaxed))
    }
}

/// Heartbeats every `every`; after a stall, one at once rather than a burst.
fn heartbeat(every: Duration) -> tokio::time::Interval {
    let mut beat = tokio::time::interval(every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat
}

/// The most resident memory a process has had (VmHWM), from /proc/PID/status.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    if pid == 0 {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()
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
