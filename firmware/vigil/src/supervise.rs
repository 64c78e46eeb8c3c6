//! Supervision, as keepalived does it and for the same reason: a fault in a
//! daemon must not take PID 1 down. The VRRP daemon runs as a child process
//! of the same binary (`vigil child vrrp`), talking to PID 1 over a Unix
//! socketpair (the child's stdin) with length-delimited postcard messages:
//! configs and shutdown down, status and states up, heartbeats both ways.
//!
//! PID 1 restarts a child that exits, crashes or misses heartbeats, with an
//! exponential backoff; past `CRASH_LOOP` restarts in `CRASH_WINDOW` it stops
//! trying and reports it, and stops petting the watchdog, so the board resets.

use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tracing::{error, info};
use vigil_config::Config;

/// PID 1 to the child.
#[derive(Debug, Serialize, Deserialize)]
pub enum Down {
    Config(Box<Config>),
    Ping(u64),
    /// Resign (priority 0) and exit; answered with `Stopped`.
    Shutdown,
}

/// The child to PID 1.
#[derive(Debug, Serialize, Deserialize)]
pub enum Up {
    Pong(u64),
    Status(Vec<String>),
    States(Vec<(String, String)>),
    /// Log lines, formatted (PID 1 prints them).
    Log(String),
    Stopped,
}

/// Messages over 64 MiB are refused (a config is at most 4 MiB).
const MAX_MESSAGE: usize = 64 << 20;

pub async fn send<T: Serialize>(s: &mut (impl AsyncWriteExt + Unpin), m: &T) -> std::io::Result<()> {
    let body = postcard::to_allocvec(m).map_err(std::io::Error::other)?;
    s.write_all(&(body.len() as u32).to_le_bytes()).await?;
    s.write_all(&body).await
}

pub async fn recv<T: for<'a> Deserialize<'a>>(s: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(std::io::Error::other(format!("a message of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await?;
    postcard::from_bytes(&body).map_err(|e| std::io::Error::other(format!("a bad message: {e}")))
}

/// Reads messages whole on their own task and hands them over a channel
/// (a read cut short by another branch of a select would lose bytes
/// mid-message); the channel ends after the first error.
fn spawn_reader<T: for<'a> Deserialize<'a> + Send + 'static>(
    mut rd: tokio::net::unix::OwnedReadHalf,
) -> (tokio::sync::mpsc::UnboundedReceiver<std::io::Result<T>>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let m: std::io::Result<T> = recv(&mut rd).await;
            let end = m.is_err();
            if tx.send(m).is_err() || end {
                return;
            }
        }
    });
    (rx, task)
}

/// Heartbeat period and the silence after which a child is killed.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
pub const HEARTBEAT_LIMIT: Duration = Duration::from_secs(3);
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const CRASH_LOOP: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(60);

/// What PID 1 knows of its children, for `show supervision` and the watchdog.
#[derive(Default)]
pub struct Health {
    pub healthy: AtomicBool,
    pub lines: std::sync::Mutex<Vec<String>>,
    pub pid: std::sync::atomic::AtomicU32,
}

/// Supervises the VRRP child for ever: `control` carries configs and the
/// shutdown from the event loop; `status` and `states` are kept up to date
/// from the child's reports.
pub async fn vrrp(
    mut config: Config,
    status: crate::vrrp::Status,
    states: crate::vrrp::States,
    mut control: tokio::sync::mpsc::Receiver<crate::vrrp::Control>,
    health: Arc<Health>,
) {
    let mut restarts: Vec<Instant> = Vec::new();
    let mut backoff = BACKOFF_FIRST;
    loop {
        let started = Instant::now();
        let outcome = run_once(&config, &status, &states, &mut control, &health).await;
        health.healthy.store(false, Ordering::Relaxed);
        match outcome {
            Ended::Shutdown => return,
            Ended::Failed(why) => {
                error!("supervise: the vrrp child {why}");
                // What it last reported is no longer true.
                status.lock().unwrap_or_else(|p| p.into_inner()).clear();
                set_line(&health, format!("vrrp: {why}; restarting"));
            }
        }
        // A child that ran a while is not crash-looping.
        if started.elapsed() > CRASH_WINDOW {
            backoff = BACKOFF_FIRST;
        }
        let now = Instant::now();
        restarts.retain(|t| now.duration_since(*t) < CRASH_WINDOW);
        restarts.push(now);
        if restarts.len() > CRASH_LOOP {
            let why =
                format!("vrrp: crash loop ({} restarts in {} s); given up", restarts.len(), CRASH_WINDOW.as_secs());
            error!("supervise: {why}");
            set_line(&health, why);
            // Keep taking configs (and the shutdown) so the rest of the system runs on.
            while let Some(c) = control.recv().await {
                if let crate::vrrp::Control::Shutdown(done) = c {
                    let _ = done.send(());
                    return;
                }
            }
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
        // Configs that came meanwhile: the newest wins.
        while let Ok(c) = control.try_recv() {
            match c {
                crate::vrrp::Control::Config(c) => config = *c,
                crate::vrrp::Control::Shutdown(done) => {
                    let _ = done.send(());
                    return;
                }
            }
        }
    }
}

fn set_line(health: &Health, line: String) {
    *health.lines.lock().unwrap_or_else(|p| p.into_inner()) = vec![line];
}

enum Ended {
    Shutdown,
    Failed(String),
}

async fn run_once(
    config: &Config,
    status: &crate::vrrp::Status,
    states: &crate::vrrp::States,
    control: &mut tokio::sync::mpsc::Receiver<crate::vrrp::Control>,
    health: &Health,
) -> Ended {
    let (ours, theirs) = match std::os::unix::net::UnixStream::pair() {
        Ok(p) => p,
        Err(e) => return Ended::Failed(format!("could not start: socketpair: {e}")),
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| "/init".into());
    let child = std::process::Command::new(exe)
        .args(["child", "vrrp"])
        .stdin(std::process::Stdio::from(OwnedFd::from(theirs)))
        .stdout(std::process::Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => return Ended::Failed(format!("could not start: {e}")),
    };
    let pid = child.id();
    // Registered before the runtime can run the reaper (same thread).
    let mut exited = crate::reap::watch(pid);
    drop(child);
    health.pid.store(pid, Ordering::Relaxed);
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
    if let Err(e) = send(&mut wr, &Down::Config(Box::new(config.clone()))).await {
        kill();
        return Ended::Failed(format!("took no config: {e}"));
    }
    info!("supervise: vrrp child started (pid {pid})");
    health.healthy.store(true, Ordering::Relaxed);
    set_line(health, format!("vrrp: running, pid {pid}"));
    let mut beat = tokio::time::interval(HEARTBEAT);
    let mut seq = 0u64;
    let mut last_pong = Instant::now();
    let (mut up_rx, reader) = spawn_reader::<Up>(rd);
    let outcome = loop {
        tokio::select! {
            code = &mut exited => {
                let how = match code {
                    Ok(Some(c)) => format!("exited with status {c}"),
                    Ok(None) => "was killed by a signal".to_string(),
                    Err(_) => "ended".to_string(),
                };
                break Ended::Failed(how);
            }
            _ = beat.tick() => {
                if last_pong.elapsed() > HEARTBEAT_LIMIT {
                    kill();
                    break Ended::Failed(format!("missed its heartbeats for {} s; killed", HEARTBEAT_LIMIT.as_secs()));
                }
                seq += 1;
                let _ = send(&mut wr, &Down::Ping(seq)).await;
            }
            m = up_rx.recv() => match m {
                Some(Ok(Up::Pong(_))) => last_pong = Instant::now(),
                Some(Ok(Up::Status(lines))) => *status.lock().unwrap_or_else(|p| p.into_inner()) = lines,
                Some(Ok(Up::States(s))) => {
                    let now: Vec<(String, &'static str)> = s.into_iter().map(|(n, st)| (n, crate::vrrp::state_static(&st))).collect();
                    states.send_if_modified(|cur| {
                        let changed = *cur != now;
                        if changed {
                            *cur = now;
                        }
                        changed
                    });
                }
                Some(Ok(Up::Log(text))) => crate::log::emit(&text),
                Some(Ok(Up::Stopped)) => {}
                Some(Err(_)) | None => {
                    // The socket closed: the child is going; its exit tells why.
                    match tokio::time::timeout(Duration::from_secs(2), &mut exited).await {
                        Ok(Ok(Some(c))) => break Ended::Failed(format!("exited with status {c}")),
                        Ok(_) => break Ended::Failed("was killed by a signal".into()),
                        Err(_) => {
                            kill();
                            break Ended::Failed("closed its socket; killed".into());
                        }
                    }
                }
            },
            c = control.recv() => match c {
                Some(crate::vrrp::Control::Config(c)) => {
                    let _ = send(&mut wr, &Down::Config(c)).await;
                }
                Some(crate::vrrp::Control::Shutdown(done)) => {
                    let _ = send(&mut wr, &Down::Shutdown).await;
                    // The child resigns (printing what it logs) and says it stopped.
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        while let Some(Ok(m)) = up_rx.recv().await {
                            match m {
                                Up::Log(text) => crate::log::emit(&text),
                                Up::Stopped => break,
                                _ => {}
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

/// The VRRP daemon needs the network and nothing else: every capability
/// but CAP_NET_ADMIN (addresses, nf_tables, macvlans, net sysctls) and
/// CAP_NET_RAW (raw sockets, binding to a device) goes, from the bounding
/// set too, so nothing it runs (notify programs) can get them back.
fn least_privilege() -> Result<(), caps::errors::CapsError> {
    use caps::{CapSet, Capability};
    let keep: caps::CapsHashSet = [Capability::CAP_NET_ADMIN, Capability::CAP_NET_RAW].into_iter().collect();
    for cap in caps::all() {
        if !keep.contains(&cap) {
            // Not in the bounding set already: nothing to drop.
            let _ = caps::drop(None, CapSet::Bounding, cap);
        }
    }
    caps::set(None, CapSet::Inheritable, &caps::CapsHashSet::new())?;
    caps::set(None, CapSet::Effective, &keep)?;
    caps::set(None, CapSet::Permitted, &keep)?;
    Ok(())
}

/// `vigil child vrrp`: the VRRP daemon, on its own runtime, fed from stdin
/// (the socketpair). Exits when PID 1 goes away or says so.
pub fn child_vrrp() {
    crate::power::release_signals();
    if let Err(e) = least_privilege() {
        error!("vrrp child: dropping capabilities: {e}");
        std::process::exit(1);
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            error!("vrrp child: runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(async {
        // SAFETY: fd 0 is the socketpair end PID 1 gave us as stdin; nothing
        // else in this process uses fd 0, and this OwnedFd is its only owner.
        let fd: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(0) };
        let std_sock = std::os::unix::net::UnixStream::from(fd);
        let sock = match std_sock.set_nonblocking(true).and_then(|()| UnixStream::from_std(std_sock)) {
            Ok(s) => s,
            Err(e) => {
                error!("vrrp child: not started by PID 1 ({e})");
                std::process::exit(2);
            }
        };
        let (mut rd, mut wr) = sock.into_split();
        let first: std::io::Result<Down> = recv(&mut rd).await;
        let Ok(Down::Config(config)) = first else {
            error!("vrrp child: no config from PID 1");
            std::process::exit(2);
        };
        let (mut down_rx, _reader) = spawn_reader::<Down>(rd);
        // From here on the log goes to PID 1 over the socket.
        let (log_tx, mut log_rx) = tokio::sync::mpsc::unbounded_channel();
        crate::log::send_to(log_tx);
        let status = crate::vrrp::Status::default();
        let (states_tx, mut states_rx) = tokio::sync::watch::channel(Vec::new());
        let (ctl_tx, ctl_rx) = tokio::sync::mpsc::channel(4);
        let daemon = tokio::spawn(crate::vrrp::run(*config, status.clone(), states_tx, ctl_rx));
        let mut report = tokio::time::interval(Duration::from_millis(250));
        let mut last_status = Vec::new();
        loop {
            tokio::select! {
                // Log lines first: a state change is logged before it is
                // reported, and PID 1 then prints and acts in that order.
                biased;
                Some(text) = log_rx.recv() => {
                    if send(&mut wr, &Up::Log(text)).await.is_err() {
                        break;
                    }
                }
                m = down_rx.recv() => match m.unwrap_or_else(|| Err(std::io::Error::other("closed"))) {
                    Ok(Down::Ping(n)) => {
                        if send(&mut wr, &Up::Pong(n)).await.is_err() {
                            break;
                        }
                    }
                    Ok(Down::Config(c)) => {
                        let _ = ctl_tx.send(crate::vrrp::Control::Config(c)).await;
                    }
                    Ok(Down::Shutdown) | Err(_) => {
                        let (done, wait) = tokio::sync::oneshot::channel();
                        let _ = ctl_tx.send(crate::vrrp::Control::Shutdown(done)).await;
                        let _ = tokio::time::timeout(Duration::from_secs(2), wait).await;
                        // What the daemon logged on its way out, then the end.
                        while let Ok(text) = log_rx.try_recv() {
                            let _ = send(&mut wr, &Up::Log(text)).await;
                        }
                        let _ = send(&mut wr, &Up::Stopped).await;
                        break;
                    }
                },
                Ok(()) = states_rx.changed() => {
                    let s: Vec<(String, String)> =
                        states_rx.borrow_and_update().iter().map(|(n, st)| (n.clone(), st.to_string())).collect();
                    if send(&mut wr, &Up::States(s)).await.is_err() {
                        break;
                    }
                    // `show vrrp` agrees with a transition at once, not at the next tick.
                    let now = status.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    if now != last_status {
                        last_status = now.clone();
                        if send(&mut wr, &Up::Status(now)).await.is_err() {
                            break;
                        }
                    }
                }
                _ = report.tick() => {
                    let now = status.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    if now != last_status {
                        last_status = now.clone();
                        if send(&mut wr, &Up::Status(now)).await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
        daemon.abort();
    });
    std::process::exit(0);
}
