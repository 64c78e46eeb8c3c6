//! One supervised child from start to end: the process (`vigil child
//! ROLE`) with its socketpair and descriptors, the first messages, then
//! heartbeats, reports and configs until it ends or is told to stop.

use super::{Control, Reports, Watched};
use crate::bus::{Part, Published, Subscriber};
use crate::ipc::{Down, Health, Role, Up, send, spawn_reader};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::net::UnixStream;
use tracing::{error, info};
use vigil_config::Config;

/// One supervised child across its restarts.
pub struct Child {
    pub role: Role,
    /// What it takes from the config bus.
    pub part: Part,
    pub config: Arc<Config>,
    pub heartbeats: vigil_config::Supervision,
    pub generation: u64,
    /// The checkers' last health report for `generation`.
    pub last_health: Option<Health>,
    pub reports: Reports,
    pub watched: Arc<Watched>,
    /// Messages every new child gets after its config.
    pub sticky: Vec<Down>,
}

/// How long a child has to answer its first heartbeat: before it answers
/// any, it reads its config and builds its state from it, which at
/// keepalived issue #2318's shape (37,298 real servers) took a checkers
/// child 0.2 s on a fast CPU and over 3 s (the usual limit) on a slow one
/// or under QEMU, so every start was killed as a hang and the child given
/// up as crash-looping. A child hung from its start is still found.
const FIRST_ANSWER: Duration = Duration::from_secs(30);

/// The silence allowed before a child is taken as hung.
fn allowed(limit: Duration, answered: bool) -> Duration {
    if answered { limit } else { limit.max(FIRST_ANSWER) }
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

pub enum Ended {
    Shutdown,
    Failed(String),
}

impl Child {
    /// Takes its part of a config from the bus; true if the part changed
    /// (the running child is to be told).
    pub fn take(&mut self, p: &Published) -> bool {
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
    pub fn keep(&mut self, down: Down, sticky: bool) {
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
            Up::Status(r) => crate::report::set(&self.reports.status, r),
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
            Up::Log(text) => crate::log::emit(self.role.name(), &text),
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
            Up::Bfd(states) => {
                if let Some(tx) = &self.reports.bfd {
                    tx.send_if_modified(|cur| {
                        let changed = *cur != states;
                        if changed {
                            *cur = states;
                        }
                        changed
                    });
                }
            }
        }
    }

    pub async fn run_once(
        &mut self,
        bus: &mut Subscriber,
        control: &mut tokio::sync::mpsc::Receiver<Control>,
    ) -> Ended {
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
            .env(crate::clock::EPOCH_VAR, crate::clock::epoch().as_nanos().to_string())
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
        // Until its first answer, a child has [`FIRST_ANSWER`]: it answers
        // once it has read its config and built its state.
        let mut answered = false;
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
                _ = tokio::time::sleep_until(unanswered.map_or(far, |t| t + allowed(limit, answered)).into()) => {
                    // If this loop was held up (a long commit on PID 1's
                    // thread), the deadline fires as it comes back, before
                    // the answers the child sent meanwhile are read: read
                    // what is there first.
                    if answered_meanwhile(&mut up_rx, |m| self.report(m)).await {
                        (unanswered, answered) = (None, true);
                        continue;
                    }
                    kill();
                    self.watched.heartbeat_kills.fetch_add(1, Ordering::Relaxed);
                    if !answered {
                        break Ended::Failed(format!(
                            "did not answer its first heartbeat within {} s of starting; killed",
                            allowed(limit, false).as_secs()
                        ));
                    }
                    break Ended::Failed(format!("missed its heartbeats for {} ms; killed", limit.as_millis()));
                }
                m = up_rx.recv() => match m {
                    Some(Ok(Up::Pong(_))) => (unanswered, answered) = (None, true),
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

/// Heartbeats every `every`; after a stall, one at once rather than a burst.
fn heartbeat(every: Duration) -> tokio::time::Interval {
    let mut beat = tokio::time::interval(every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat
}
