//! A supervised daemon's side of the socket (`vigil child ROLE`): it drops
//! the capabilities it does not need, takes its config from PID 1 over
//! stdin (the socketpair), runs the daemon on its own runtime, answers
//! heartbeats, and sends its log lines and reports up. It exits when PID 1
//! says so or goes away.

use crate::ipc::Health;
use crate::ipc::{Down, Role, Up, recv, send, spawn_reader};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch};
use tracing::error;
use vigil_config::Config;

/// What each role may do, and nothing more; the bounding set goes too, so
/// nothing it runs (notify or MISC_CHECK programs) can get the rest back.
/// VRRP: addresses, nf_tables, macvlans, net sysctls (CAP_NET_ADMIN); raw
/// sockets, binding to a device (CAP_NET_RAW). Checkers: PING_CHECK's raw
/// ICMP sockets (CAP_NET_RAW). BFD: its port, 3784 (CAP_NET_BIND_SERVICE).
fn least_privilege(role: Role) -> Result<(), caps::errors::CapsError> {
    use caps::{CapSet, Capability};
    let keep: caps::CapsHashSet = match role {
        Role::Vrrp => [Capability::CAP_NET_ADMIN, Capability::CAP_NET_RAW].into_iter().collect(),
        Role::Checkers => [Capability::CAP_NET_RAW].into_iter().collect(),
        // Only to become user nobody, which takes these with it.
        Role::Updater => [Capability::CAP_SETUID, Capability::CAP_SETGID].into_iter().collect(),
        // UDP 3784 is a privileged port.
        Role::Bfd => [Capability::CAP_NET_BIND_SERVICE].into_iter().collect(),
    };
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

/// `vigil child ROLE`. Never returns.
pub fn main(role: Role) -> ! {
    let name = role.name();
    crate::power::release_signals();
    if let Err(e) = least_privilege(role) {
        error!("{name} child: dropping capabilities: {e}");
        std::process::exit(1);
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            error!("{name} child: runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(serve(role));
    std::process::exit(code)
}

async fn serve(role: Role) -> i32 {
    let name = role.name();
    // SAFETY: fd 0 is the socketpair end PID 1 gave us as stdin; nothing
    // else in this process uses fd 0, and this OwnedFd is its only owner.
    let fd: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(0) };
    let std_sock = std::os::unix::net::UnixStream::from(fd);
    let sock = match std_sock.set_nonblocking(true).and_then(|()| UnixStream::from_std(std_sock)) {
        Ok(s) => s,
        Err(e) => {
            error!("{name} child: not started by PID 1 ({e})");
            return 2;
        }
    };
    let (mut rd, mut wr) = sock.into_split();
    let first: std::io::Result<Down> = recv(&mut rd).await;
    let Ok(Down::Config { config, generation, resume }) = first else {
        error!("{name} child: no config from PID 1");
        return 2;
    };
    let (mut down_rx, _reader) = spawn_reader::<Down>(rd);
    // From here on the log goes to PID 1 over the socket.
    let (log_tx, mut log_rx) = mpsc::unbounded_channel();
    crate::log::send_to(log_tx);
    let mut daemon = match role {
        Role::Vrrp => Daemon::Vrrp(Vrrp::start(Arc::unwrap_or_clone(config))),
        Role::Checkers => Daemon::Checkers(Box::new(Checkers::start(config, generation, resume))),
        Role::Updater => {
            let mut u = crate::update::child::Updater::start();
            u.configure(config);
            Daemon::Updater(Box::new(u))
        }
        Role::Bfd => Daemon::Bfd(Bfd::start(config)),
    };
    loop {
        tokio::select! {
            // PID 1 first: a heartbeat is answered at the next turn, not
            // after every log line queued before it (37,298 lines when
            // every real server goes down at once).
            biased;
            m = down_rx.recv() => match m.unwrap_or_else(|| Err(std::io::Error::other("closed"))) {
                Ok(Down::Ping(n)) => {
                    if send(&mut wr, &Up::Pong(n)).await.is_err() {
                        break;
                    }
                }
                Ok(Down::Config { config, generation, .. }) => daemon.configure(config, generation).await,
                Ok(Down::Update(c)) => {
                    if let Daemon::Updater(u) = &mut daemon {
                        u.command(c);
                    }
                }
                Ok(Down::Bfd(states)) => match &mut daemon {
                    Daemon::Vrrp(v) => {
                        let _ = v.control.send(crate::vrrp::Control::Bfd(states)).await;
                    }
                    Daemon::Checkers(_) => crate::checkers::bfd_states(states),
                    _ => {}
                },
                Ok(Down::Handover { wait_ms }) => {
                    if let Daemon::Vrrp(v) = &mut daemon {
                        v.handover(Duration::from_millis(u64::from(wait_ms))).await;
                    }
                }
                Ok(Down::Shutdown) | Err(_) => {
                    daemon.stop().await;
                    // What the daemon logged on its way out, then the end.
                    while let Ok(text) = log_rx.try_recv() {
                        let _ = send(&mut wr, &Up::Log(text)).await;
                    }
                    let _ = send(&mut wr, &Up::Stopped).await;
                    break;
                }
            },
            // Log lines before reports: a state change is logged before it
            // is reported, and PID 1 then prints and acts in that order.
            Some(text) = log_rx.recv() => {
                if send(&mut wr, &Up::Log(text)).await.is_err() {
                    break;
                }
            }
            reports = daemon.reports() => {
                for r in reports {
                    if send(&mut wr, &r).await.is_err() {
                        return 0;
                    }
                }
            }
        }
    }
    0
}

enum Daemon {
    Vrrp(Vrrp),
    Checkers(Box<Checkers>),
    Updater(Box<crate::update::child::Updater>),
    Bfd(Bfd),
}

impl Daemon {
    async fn configure(&mut self, config: Arc<Config>, generation: u64) {
        match self {
            Daemon::Vrrp(v) => {
                let c = Box::new(Arc::unwrap_or_clone(config));
                let _ = v.control.send(crate::vrrp::Control::Config(c)).await;
            }
            Daemon::Checkers(c) => c.reconfigure(config, generation),
            Daemon::Updater(u) => u.configure(config),
            Daemon::Bfd(b) => {
                let _ = b.control.send(crate::bfd::Control::Config(config)).await;
            }
        }
    }

    async fn stop(&mut self) {
        match self {
            Daemon::Vrrp(v) => {
                // Masters resign with priority 0 so backups take over at once.
                let (done, wait) = tokio::sync::oneshot::channel();
                let _ = v.control.send(crate::vrrp::Control::Shutdown(done)).await;
                let _ = tokio::time::timeout(Duration::from_secs(2), wait).await;
                v.task.abort();
            }
            Daemon::Checkers(c) => {
                c.task.abort();
                // Within what PID 1 waits for a stopping child (2 s).
                let h = c.health.borrow().clone();
                crate::checkers::run_omega(&c.config, &h, Duration::from_millis(1500)).await;
            }
            Daemon::Updater(_) => {}
            Daemon::Bfd(b) => {
                // Each neighbor hears AdminDown, and goes down at once.
                let (done, wait) = tokio::sync::oneshot::channel();
                let _ = b.control.send(crate::bfd::Control::Shutdown(done)).await;
                let _ = tokio::time::timeout(Duration::from_secs(1), wait).await;
                b.task.abort();
            }
        }
    }

    /// What to tell PID 1 next (cancel safe: used in a select).
    async fn reports(&mut self) -> Vec<Up> {
        match self {
            Daemon::Vrrp(v) => v.reports().await,
            Daemon::Checkers(c) => c.reports().await,
            Daemon::Updater(u) => u.reports().await,
            Daemon::Bfd(b) => b.reports().await,
        }
    }
}

struct Bfd {
    control: mpsc::Sender<crate::bfd::Control>,
    task: tokio::task::JoinHandle<()>,
    states: watch::Receiver<crate::bfd::States>,
    status: StatusReport,
}

impl Bfd {
    fn start(config: Arc<Config>) -> Bfd {
        let status = StatusReport::new(Duration::from_millis(500));
        let (states_tx, states) = watch::channel(Vec::new());
        let (control, ctl_rx) = mpsc::channel(4);
        let task = tokio::spawn(crate::bfd::run(config, states_tx, status.status.clone(), ctl_rx));
        Bfd { control, task, states, status }
    }

    async fn reports(&mut self) -> Vec<Up> {
        tokio::select! {
            Ok(()) = self.states.changed() => {
                let s = self.states.borrow_and_update().clone();
                std::iter::once(Up::Bfd(s)).chain(self.status.changed()).collect()
            }
            _ = self.status.tick.tick() => self.status.changed().into_iter().collect(),
        }
    }
}

/// `show vrrp` / `show checkers` text, sent when it changed.
struct StatusReport {
    status: crate::report::Shared,
    /// The fingerprint of the report last sent.
    last: Option<u64>,
    tick: tokio::time::Interval,
}

impl StatusReport {
    fn new(every: Duration) -> StatusReport {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        StatusReport { status: Default::default(), last: None, tick }
    }

    /// The report made since the last one sent, if it says something new.
    fn changed(&mut self) -> Option<Up> {
        let (print, report) = crate::report::take(&self.status)?;
        (self.last != Some(print)).then(|| {
            self.last = Some(print);
            Up::Status(report)
        })
    }
}

struct Vrrp {
    control: mpsc::Sender<crate::vrrp::Control>,
    task: tokio::task::JoinHandle<()>,
    states: watch::Receiver<Vec<(String, crate::ipc::VrrpState)>>,
    status: StatusReport,
    /// A handover's answer, when it comes.
    handed_over: Option<tokio::sync::oneshot::Receiver<Vec<(String, bool)>>>,
}

impl Vrrp {
    fn start(config: Config) -> Vrrp {
        let status = StatusReport::new(Duration::from_millis(250));
        let (states_tx, states) = watch::channel(Vec::new());
        let (control, ctl_rx) = mpsc::channel(4);
        let task = tokio::spawn(crate::vrrp::run(config, status.status.clone(), states_tx, ctl_rx));
        Vrrp { control, task, states, status, handed_over: None }
    }

    /// Asks the daemon to hand its masters over; the answer comes as a report.
    async fn handover(&mut self, wait: Duration) {
        let (done, answer) = tokio::sync::oneshot::channel();
        let _ = self.control.send(crate::vrrp::Control::Handover { wait, done }).await;
        self.handed_over = Some(answer);
    }

    async fn reports(&mut self) -> Vec<Up> {
        let handing_over = self.handed_over.is_some();
        let answer = async {
            match self.handed_over.as_mut() {
                Some(rx) => rx.await.unwrap_or_default(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            list = answer, if handing_over => {
                self.handed_over = None;
                vec![Up::HandedOver(list)]
            }
            Ok(()) = self.states.changed() => {
                let s = self.states.borrow_and_update().clone();
                // `show vrrp` agrees with a transition at once, not at the next tick.
                std::iter::once(Up::States(s)).chain(self.status.changed()).collect()
            }
            _ = self.status.tick.tick() => self.status.changed().into_iter().collect(),
        }
    }
}

struct Checkers {
    /// The config the checkers run (verdicts carry over from it to the next).
    config: Arc<Config>,
    task: tokio::task::JoinHandle<()>,
    health_tx: watch::Sender<Health>,
    health: watch::Receiver<Health>,
    status: StatusReport,
}

impl Checkers {
    /// `resume`: the last health its predecessor reported, if for this generation.
    fn start(config: Arc<Config>, generation: u64, resume: Option<Health>) -> Checkers {
        let verdicts = resume
            .filter(|h| h.generation == generation)
            .map(|h| crate::checkers::verdicts(&config, &h))
            .unwrap_or_default();
        let (health_tx, health) = watch::channel(Health::default());
        let mut c = Checkers {
            config: Arc::default(),
            task: tokio::spawn(async {}),
            health_tx,
            health,
            // The text counts probes: once a second is enough.
            status: StatusReport::new(Duration::from_secs(1)),
        };
        c.run(config, generation, verdicts);
        c
    }

    /// A new config: the verdicts of the servers it keeps carry over.
    fn reconfigure(&mut self, config: Arc<Config>, generation: u64) {
        let now = crate::checkers::verdicts(&self.config, &self.health.borrow());
        let verdicts = crate::checkers::carry_over(&self.config, &now, &config);
        self.run(config, generation, verdicts);
    }

    fn run(&mut self, config: Arc<Config>, generation: u64, verdicts: crate::checkers::Verdicts) {
        self.task.abort();
        self.config = config.clone();
        let status = self.status.status.clone();
        self.task = tokio::spawn(crate::checkers::run(config, generation, verdicts, self.health_tx.clone(), status));
    }

    async fn reports(&mut self) -> Vec<Up> {
        tokio::select! {
            Ok(()) = self.health.changed() => {
                let h = Up::Health(self.health.borrow_and_update().clone());
                // `show checkers` agrees with the pools at once: the report
                // goes first, so that PID 1 holds it before the IPVS table
                // it applies from the pools can show the change (a scrape
                // between the two saw the kernel's table without a server
                // that the report still had up).
                self.status.changed().into_iter().chain(std::iter::once(h)).collect()
            }
            _ = self.status.tick.tick() => self.status.changed().into_iter().collect(),
        }
    }
}
