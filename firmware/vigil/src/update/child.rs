//! The updater child: runs installs (one at a time) and keeps the state
//! partition, as PID 1's facts and commands say. Its descriptors (the
//! inactive slot, the state partition, a file to install from) come from
//! PID 1 over its stdout socket; it opens no device itself, and runs as
//! user nobody with no capabilities.

use super::fetch::{self, Source};
use super::job::{Shown, TrialReply};
use super::kit::{Kit, random, send_report};
use super::store::Store;
use super::{Booted, Command, Facts, slot_of};
use crate::ipc::Up;
use std::fs::File;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{error, info, warn};
use vigil_config::Config;
use vigil_update::channel::Outcome;

pub struct Updater {
    fd_sock: Option<UnixStream>,
    slot: Option<File>,
    store: Option<Arc<Mutex<Store>>>,
    /// Why there is no slot or state to work with.
    broken: Option<String>,
    facts: Option<Facts>,
    shown: Arc<Mutex<Shown>>,
    last_status: Vec<String>,
    /// The install or channel check in progress, on a thread of its own.
    job: Option<std::thread::JoinHandle<()>>,
    trial_reply: TrialReply,
    up_tx: mpsc::UnboundedSender<Up>,
    up_rx: mpsc::UnboundedReceiver<Up>,
    tick: tokio::time::Interval,
    config: Option<Arc<Config>>,
    next_poll: Option<tokio::time::Instant>,
    /// A channel check asked for while a job ran: done once it is over.
    check_asked: bool,
}

impl Updater {
    /// Takes the descriptors PID 1 sent on stdout; drops to user nobody.
    pub fn start() -> Updater {
        let mut broken = None;
        let fd_sock = {
            // SAFETY: fd 1 is the socket PID 1 gave the updater as stdout;
            // nothing else in this process writes to stdout (logs go to PID 1
            // over the other socket), and this is its only owner.
            let fd: std::os::fd::OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(1) };
            Some(UnixStream::from(fd))
        };
        let (mut slot, mut store) = (None, None);
        match fd_sock.as_ref().map(crate::ipc::fds::recv) {
            Some(Ok(fds)) if fds.len() == 2 => {
                let mut it = fds.into_iter();
                slot = it.next().map(File::from);
                store = it.next().map(|f| Arc::new(Mutex::new(Store::open(File::from(f)))));
            }
            Some(Ok(_)) => broken = Some("PID 1 could not open the inactive slot and the state partition".to_string()),
            Some(Err(e)) => broken = Some(format!("no descriptors from PID 1: {e}")),
            None => {}
        }
        if let Some(store) = &store {
            let mut st = store.lock().unwrap_or_else(|p| p.into_inner());
            if st.state.device_id.is_empty() {
                st.state.device_id = format!("{:016x}", random());
                match st.save() {
                    Ok(()) => info!("update: this device is {} to the update channel", st.state.device_id),
                    Err(e) => warn!("update: {e}"),
                }
            }
        }
        if let Err(e) = become_nobody() {
            error!("updater: dropping to user nobody: {e}");
        }
        let (up_tx, up_rx) = mpsc::unbounded_channel();
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Updater {
            fd_sock,
            slot,
            store,
            broken,
            facts: None,
            shown: Arc::default(),
            last_status: Vec::new(),
            job: None,
            trial_reply: Arc::default(),
            up_tx,
            up_rx,
            tick,
            config: None,
            next_poll: None,
            check_asked: false,
        }
    }

    pub fn command(&mut self, c: Command) {
        // `show update` follows at once.
        self.tick.reset_immediately();
        match c {
            Command::Facts(f) => {
                self.facts = Some(f);
                self.reconcile();
            }
            Command::Install { source, file } => self.install(source, file),
            Command::Check => self.check(),
            Command::TrialStarted(r) => {
                if let Some(tx) = self.trial_reply.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = tx.send(r);
                }
            }
        }
    }

    /// What the state says against what booted: a trial kept, rolled back,
    /// or cut before it began.
    fn reconcile(&mut self) {
        let (Some(f), Some(store)) = (self.facts.as_ref(), self.store.as_ref()) else { return };
        let mut st = store.lock().unwrap_or_else(|p| p.into_inner());
        let Some(t) = st.state.trial.clone() else { return };
        let (said, report) = match (f.booted, &f.failed) {
            (Some((slot, _)), _) if slot == t.slot && f.kept => {
                st.state.security_floor = st.state.security_floor.max(t.security_version);
                (
                    format!("build {} ({}) is installed and kept in slot {}", t.build, t.version, slot_of(t.slot)),
                    Some((Outcome::Confirmed, None)),
                )
            }
            (Some((slot, Booted::Trial)), _) if slot == t.slot => return,
            (Some((_, Booted::Rollback)), Some((failed, why))) if *failed == t.slot => {
                if !st.state.rolled_back.contains(&t.build) {
                    st.state.rolled_back.push(t.build);
                }
                (
                    format!("build {} ({}) rolled back: {why}; it is not installed again here", t.build, t.version),
                    Some((Outcome::RolledBack, Some(why.clone()))),
                )
            }
            _ => (format!("the install of build {} ({}) was cut before its trial began", t.build, t.version), None),
        };
        if let (Some((outcome, reason)), Some(to)) = (report, st.state.report_to.clone()) {
            let (board, id, seq, build) = (f.board.clone(), st.state.device_id.clone(), st.state.channel_seq, t.build);
            tokio::spawn(async move { send_report(&to, &board, &id, build, outcome, reason, seq).await });
        }
        st.state.trial = None;
        st.state.install = None;
        st.state.last = Some(said.clone());
        let saved = st.save();
        match (saved, st.state.rolled_back.contains(&t.build)) {
            (Ok(()), false) => info!("update: {said}"),
            (Ok(()), true) => error!("update: {said}"),
            (Err(e), _) => error!("update: {said}, but {e}"),
        }
    }

    fn busy(&self) -> bool {
        self.job.as_ref().is_some_and(|j| !j.is_finished())
    }

    /// What the job does, for `show update` and for a command that has to
    /// wait: idle only once its thread is done (its last line logged, its
    /// report sent).
    fn doing(&self) -> String {
        if !self.busy() {
            return "idle".into();
        }
        let doing = self.shown.lock().unwrap_or_else(|p| p.into_inner()).doing.clone();
        if doing.is_empty() { "starting".into() } else { doing }
    }

    /// What an install needs, cloned for its task.
    fn kit(&self) -> Result<Kit, String> {
        if let Some(b) = &self.broken {
            return Err(b.clone());
        }
        let facts = self.facts.clone().ok_or("PID 1 has not said what booted")?;
        let (target, size) = facts.target.clone()?;
        let slot = self.slot.as_ref().ok_or("no slot to write")?.try_clone().map_err(|e| e.to_string())?;
        let store = self.store.clone().ok_or("no state partition")?;
        let keys = self.config.as_ref().map_or_else(|| facts.keys.clone(), |c| facts.trusted(c));
        Ok(Kit {
            facts,
            keys,
            target,
            size,
            slot,
            store,
            shown: self.shown.clone(),
            trial_reply: self.trial_reply.clone(),
            up: self.up_tx.clone(),
        })
    }

    fn install(&mut self, source: String, file: bool) {
        // The descriptor comes first, whatever happens next.
        let fd = if file {
            match self.fd_sock.as_ref().map(crate::ipc::fds::recv) {
                Some(Ok(mut fds)) if fds.len() == 1 => fds.pop().map(File::from),
                _ => None,
            }
        } else {
            None
        };
        if self.busy() {
            warn!("update: busy ({}); {source} not started", self.doing());
            return;
        }
        let ready = self.kit().and_then(|kit| {
            let src = match fd {
                Some(fd) => Source::File(fd),
                None if file => return Err("PID 1 sent no file".to_string()),
                None => Source::Http(fetch::Url::parse(&source)?),
            };
            Ok((kit, src))
        });
        match ready {
            Ok((kit, src)) => self.job = on_own_thread(async move { kit.install(source, src, None).await }),
            Err(e) => error!("update: {source}: {e}"),
        }
    }

    /// Asks the channel (`update check`, or the poll timer).
    fn check(&mut self) {
        let Some(url) = self.config.as_ref().and_then(|c| c.global.updates.channel.clone()) else { return };
        if self.busy() {
            info!("update: busy ({}); the channel is asked once that is done", self.doing());
            self.check_asked = true;
            return;
        }
        match self.kit() {
            Ok(kit) => self.job = on_own_thread(async move { kit.check(url.to_string()).await }),
            Err(e) => warn!("update: not asking {url}: {e}"),
        }
    }

    pub fn configure(&mut self, config: Arc<Config>) {
        let was = self.config.as_ref().map(|c| c.global.updates.clone());
        let now = config.global.updates.clone();
        self.config = Some(config);
        if was.as_ref() != Some(&now) {
            // The first look a little after the start (or the change), so a
            // fleet that boots together does not ask at once.
            self.next_poll = now.channel.as_ref().map(|_| {
                let jitter = u64::from(now.poll_s / 10).max(2);
                tokio::time::Instant::now() + Duration::from_secs(2 + random() % jitter)
            });
        }
    }

    /// The next poll: `poll_s`, give or take a tenth.
    fn schedule(&mut self) {
        let Some(c) = &self.config else { return };
        let u = &c.global.updates;
        self.next_poll = u.channel.as_ref().map(|_| {
            let p = u64::from(u.poll_s);
            let tenth = (p / 10).max(1);
            tokio::time::Instant::now() + Duration::from_secs(p - tenth + random() % (2 * tenth + 1))
        });
    }

    /// `show update`, when it changed; and what the install task sends.
    pub async fn reports(&mut self) -> Vec<Up> {
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
        tokio::select! {
            Some(up) = self.up_rx.recv() => {
                let mut v = vec![up];
                v.extend(self.status());
                v
            }
            _ = self.tick.tick() => {
                if self.check_asked && !self.busy() {
                    self.check_asked = false;
                    self.check();
                }
                self.status().into_iter().collect()
            }
            _ = tokio::time::sleep_until(self.next_poll.unwrap_or(far)), if self.next_poll.is_some() => {
                self.schedule();
                self.check();
                Vec::new()
            }
        }
    }

    fn status(&mut self) -> Option<Up> {
        let now = self.status_lines();
        (now != self.last_status).then(|| {
            self.last_status = now.clone();
            Up::Status(crate::report::Report::Lines(now))
        })
    }

    fn status_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(f) = &self.facts else { return vec!["updater starting".into()] };
        out.push(match (&f.release, f.booted) {
            (Some((b, v)), Some((s, _))) => format!("running  build {b} ({v}) in slot {}", slot_of(s)),
            (Some((b, v)), None) => format!("running  build {b} ({v})"),
            (None, _) => "running  an unnumbered build (no /etc/vigil/release)".into(),
        });
        match (&f.target, &self.broken) {
            (Err(why), _) | (_, Some(why)) => out.push(format!("updates  not possible: {why}")),
            (Ok((t, size)), None) => out.push(format!("target   slot {} ({} MiB)", slot_of(*t), size >> 20)),
        }
        out.push(format!("keys     {} trusted", f.keys.len()));
        if let Some(store) = &self.store {
            let st = &store.lock().unwrap_or_else(|p| p.into_inner()).state;
            out.push(format!("device   {}", st.device_id));
            if let Some(url) = self.config.as_ref().and_then(|c| c.global.updates.channel.clone()) {
                out.push(format!("channel  {url} (sequence {} seen)", st.channel_seq));
            }
            out.push(format!("floor    security version {}", st.security_floor));
            if let Some(t) = &st.trial {
                out.push(format!(
                    "trial    build {} ({}) in slot {}, waiting for its health gate",
                    t.build,
                    t.version,
                    slot_of(t.slot)
                ));
            }
            if let Some(i) = &st.install {
                out.push(format!(
                    "cut      an install from {} stopped at {} MiB: install it again to resume",
                    i.source, i.chunks_written
                ));
            }
            if !st.rolled_back.is_empty() {
                let b: Vec<String> = st.rolled_back.iter().map(u64::to_string).collect();
                out.push(format!("refused  builds {} (rolled back here)", b.join(", ")));
            }
            if let Some(l) = &st.last {
                out.push(format!("last     {l}"));
            }
        }
        out.push(format!("now      {}", self.doing()));
        out
    }
}

/// User and group nobody, no supplementary groups; the capabilities go
/// with the change of user (and the bounding set was emptied before).
fn become_nobody() -> nix::Result<()> {
    let nobody = nix::unistd::Uid::from_raw(65534);
    let nogroup = nix::unistd::Gid::from_raw(65534);
    nix::unistd::setgroups(&[])?;
    nix::unistd::setresgid(nogroup, nogroup, nogroup)?;
    nix::unistd::setresuid(nobody, nobody, nobody)
}

/// Runs an install (or a channel check) on a thread with a runtime of its
/// own: hashing and writing a slot under emulation takes whole seconds of
/// CPU and blocking I/O, and the updater's own loop must keep answering
/// PID 1's heartbeats meanwhile (it missed them, and was killed, when the
/// install ran on it).
fn on_own_thread(job: impl std::future::Future<Output = ()> + Send + 'static) -> Option<std::thread::JoinHandle<()>> {
    let spawned = std::thread::Builder::new().name("update-job".into()).spawn(move || {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt.block_on(job),
            Err(e) => error!("update: no runtime for the install: {e}"),
        }
    });
    match spawned {
        Ok(h) => Some(h),
        Err(e) => {
            error!("update: cannot start the install's thread: {e}");
            None
        }
    }
}
