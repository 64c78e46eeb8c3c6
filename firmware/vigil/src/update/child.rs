//! The updater child: runs installs (one at a time) and keeps the state
//! partition, as PID 1's facts and commands say. Its descriptors (the
//! inactive slot, the state partition, a file to install from) come from
//! PID 1 over its stdout socket; it opens no device itself, and runs as
//! user nobody with no capabilities.

use super::fetch::{self, Source};
use super::{Booted, Command, Facts, Report, slot_of};
use crate::supervise::Up;
use sha2::Digest;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};
use vigil_update::install::{Action, Install};
use vigil_update::state::{self, InProgress, State, Trial};
use vigil_update::{CHUNK, Device};

/// The slot is synced and the progress recorded every this many chunks: a
/// cut loses at most this much download.
const RECORD_EVERY: usize = 8;

/// The state partition: two records in turn.
struct Store {
    file: File,
    state: State,
    seq: u64,
    next: usize,
}

impl Store {
    fn open(file: File) -> Store {
        let mut recs = [vec![0u8; state::RECORD], vec![0u8; state::RECORD]];
        for (i, r) in recs.iter_mut().enumerate() {
            if let Err(e) = file.read_exact_at(r, (i * state::RECORD) as u64) {
                warn!("update: reading state record {i}: {e}");
            }
        }
        let (state, seq, next) = state::read([&recs[0], &recs[1]]);
        Store { file, state, seq, next }
    }

    /// Writes the state into the older record and syncs it.
    fn save(&mut self) -> Result<(), String> {
        let bytes = state::encode(&self.state, self.seq + 1).map_err(|e| e.to_string())?;
        self.file
            .write_all_at(&bytes, (self.next * state::RECORD) as u64)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| format!("writing the update state: {e}"))?;
        self.seq += 1;
        self.next = 1 - self.next;
        Ok(())
    }
}

/// Where PID 1's answer to a finished install goes (the install task waits on it).
type TrialReply = Arc<Mutex<Option<oneshot::Sender<Result<(), String>>>>>;

/// What `show update` says, shared with the install task.
#[derive(Default)]
struct Shown {
    doing: String,
}

pub struct Updater {
    fd_sock: Option<UnixStream>,
    slot: Option<File>,
    store: Option<Arc<Mutex<Store>>>,
    /// Why there is no slot or state to work with.
    broken: Option<String>,
    facts: Option<Facts>,
    shown: Arc<Mutex<Shown>>,
    last_status: Vec<String>,
    job: Option<tokio::task::JoinHandle<()>>,
    trial_reply: TrialReply,
    up_tx: mpsc::UnboundedSender<Up>,
    up_rx: mpsc::UnboundedReceiver<Up>,
    tick: tokio::time::Interval,
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
        match fd_sock.as_ref().map(super::fds::recv) {
            Some(Ok(fds)) if fds.len() == 2 => {
                let mut it = fds.into_iter();
                slot = it.next().map(File::from);
                store = it.next().map(|f| Arc::new(Mutex::new(Store::open(File::from(f)))));
            }
            Some(Ok(_)) => broken = Some("PID 1 could not open the inactive slot and the state partition".to_string()),
            Some(Err(e)) => broken = Some(format!("no descriptors from PID 1: {e}")),
            None => {}
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
        let said = match (f.booted, &f.failed) {
            (Some((slot, _)), _) if slot == t.slot && f.kept => {
                st.state.security_floor = st.state.security_floor.max(t.security_version);
                format!("build {} ({}) is installed and kept in slot {}", t.build, t.version, slot_of(t.slot))
            }
            (Some((slot, Booted::Trial)), _) if slot == t.slot => return,
            (Some((_, Booted::Rollback)), Some((failed, why))) if *failed == t.slot => {
                if !st.state.rolled_back.contains(&t.build) {
                    st.state.rolled_back.push(t.build);
                }
                format!("build {} ({}) rolled back: {why}; it is not installed again here", t.build, t.version)
            }
            _ => format!("the install of build {} ({}) was cut before its trial began", t.build, t.version),
        };
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

    fn install(&mut self, source: String, file: bool) {
        // The descriptor comes first, whatever happens next.
        let fd = if file {
            match self.fd_sock.as_ref().map(super::fds::recv) {
                Some(Ok(mut fds)) if fds.len() == 1 => fds.pop().map(File::from),
                _ => None,
            }
        } else {
            None
        };
        if self.job.as_ref().is_some_and(|j| !j.is_finished()) {
            warn!("update: an install is running; {source} not started");
            return;
        }
        let ready = (|| {
            if let Some(b) = &self.broken {
                return Err(b.clone());
            }
            let f = self.facts.clone().ok_or("PID 1 has not said what booted")?;
            let (target, size) = f.target.clone()?;
            let slot = self.slot.as_ref().ok_or("no slot to write")?.try_clone().map_err(|e| e.to_string())?;
            let store = self.store.clone().ok_or("no state partition")?;
            let src = match fd {
                Some(fd) => Source::File(fd),
                None if file => return Err(format!("{source}: PID 1 sent no file")),
                None => Source::Http(fetch::Url::parse(&source)?),
            };
            Ok((f, target, size, slot, store, src))
        })();
        let (f, target, size, slot, store, src) = match ready {
            Ok(r) => r,
            Err(e) => {
                error!("update: {source}: {e}");
                return;
            }
        };
        let st = store.lock().unwrap_or_else(|p| p.into_inner()).state.clone();
        let device = Device {
            board: f.board.clone(),
            arch: f.arch.clone(),
            build: f.release.as_ref().map_or(0, |r| r.0),
            security_floor: st.security_floor,
            slot_size: size,
            rolled_back: st.rolled_back.clone(),
        };
        let job = Job {
            source: source.clone(),
            src,
            slot,
            target,
            store,
            device,
            keys: f.keys.clone(),
            shown: self.shown.clone(),
            trial_reply: self.trial_reply.clone(),
            up: self.up_tx.clone(),
        };
        self.job = Some(tokio::spawn(async move {
            let shown = job.shown.clone();
            let store = job.store.clone();
            let (said, ok) = match job.run().await {
                Ok(text) => (text, true),
                Err(text) => (text, false),
            };
            shown.lock().unwrap_or_else(|p| p.into_inner()).doing.clear();
            let mut st = store.lock().unwrap_or_else(|p| p.into_inner());
            st.state.last = Some(said.clone());
            let saved = st.save();
            if ok {
                info!("update: {said}");
            } else {
                error!("update: {said}");
            }
            if let Err(e) = saved {
                error!("update: {e}");
            }
        }));
    }

    /// `show update`, when it changed; and what the install task sends.
    pub async fn reports(&mut self) -> Vec<Up> {
        tokio::select! {
            Some(up) = self.up_rx.recv() => {
                let mut v = vec![up];
                v.extend(self.status());
                v
            }
            _ = self.tick.tick() => self.status().into_iter().collect(),
        }
    }

    fn status(&mut self) -> Option<Up> {
        let now = self.status_lines();
        (now != self.last_status).then(|| {
            self.last_status = now.clone();
            Up::Status(now)
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
        let doing = self.shown.lock().unwrap_or_else(|p| p.into_inner()).doing.clone();
        out.push(if doing.is_empty() { "now      idle".into() } else { format!("now      {doing}") });
        out
    }
}

/// One install, on its own task.
struct Job {
    source: String,
    src: Source,
    slot: File,
    target: u8,
    store: Arc<Mutex<Store>>,
    device: Device,
    keys: Vec<String>,
    shown: Arc<Mutex<Shown>>,
    trial_reply: TrialReply,
    up: mpsc::UnboundedSender<Up>,
}

impl Job {
    fn show(&self, text: String) {
        self.shown.lock().unwrap_or_else(|p| p.into_inner()).doing = text;
    }

    fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.store.lock().unwrap_or_else(|p| p.into_inner()))
    }

    async fn run(self) -> Result<String, String> {
        let src = &self.source;
        // An install of the same bundle into the same slot, cut: resumed.
        let cut = self.with_store(|s| s.state.install.clone()).filter(|i| i.source == *src && i.slot == self.target);
        let mut inst = match &cut {
            Some(c) => {
                info!("update: resuming {src} at {} MiB", c.chunks_written);
                Install::resume(self.device.clone(), self.keys.clone(), &c.head, c.chunks_written as usize)
                    .map_err(|e| format!("{src}: {e}"))?
            }
            None => Install::new(self.device.clone(), self.keys.clone()),
        };
        let mut head: Option<Vec<u8>> = cut.map(|c| c.head);
        let mut written_since = 0usize;
        let mut pending: Option<Action> = None;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let Some(action) = pending.take().or_else(|| inst.poll_action()) else {
                return Err(format!("{src}: the install stopped with nothing left to do"));
            };
            match action {
                Action::Fetch { from, len } => {
                    let mut body = fetch::open(&self.src, from, len).await.map_err(|e| self.cut_at(&inst, e))?;
                    'body: loop {
                        let n = body.read(&mut buf).await.map_err(|e| self.cut_at(&inst, e))?;
                        if n == 0 {
                            inst.handle_end().map_err(|e| self.failed(&inst, e.to_string()))?;
                            break;
                        }
                        let mut off = 0;
                        while off < n {
                            let took = inst.handle_data(&buf[off..n]).map_err(|e| self.failed(&inst, e.to_string()))?;
                            off += took;
                            if head.is_none()
                                && let Some(h) = inst.head()
                            {
                                head = Some(h.to_vec());
                                let m = inst.manifest().cloned();
                                if let Some(m) = m {
                                    info!(
                                        "update: {src}: build {} ({}) for {}, signed; writing {} MiB into slot {}",
                                        m.build,
                                        m.version,
                                        m.board,
                                        m.payload_size.div_ceil(1 << 20),
                                        slot_of(self.target)
                                    );
                                }
                            }
                            while let Some(a) = inst.poll_action() {
                                match a {
                                    Action::Write { offset, bytes } => {
                                        self.slot.write_all_at(&bytes, offset).map_err(|e| {
                                            self.failed(&inst, format!("writing the slot at {offset}: {e}"))
                                        })?;
                                        written_since += 1;
                                        let (done, total) = inst.progress();
                                        self.show(format!(
                                            "writing {src}: {} of {} MiB",
                                            done >> 20,
                                            total.div_ceil(1 << 20)
                                        ));
                                        if written_since >= RECORD_EVERY {
                                            written_since = 0;
                                            self.record(&inst, head.as_deref())?;
                                        }
                                    }
                                    other => {
                                        pending = Some(other);
                                        break;
                                    }
                                }
                            }
                            if pending.is_some() {
                                break 'body;
                            }
                            if took == 0 {
                                break 'body;
                            }
                        }
                    }
                }
                Action::Write { offset, bytes } => {
                    self.slot
                        .write_all_at(&bytes, offset)
                        .map_err(|e| self.failed(&inst, format!("writing the slot: {e}")))?;
                }
                Action::Rehash { len } => {
                    self.show(format!("reading slot {} back", slot_of(self.target)));
                    self.slot.sync_data().map_err(|e| self.failed(&inst, format!("syncing the slot: {e}")))?;
                    let f = self.slot.try_clone().map_err(|e| e.to_string())?;
                    let sum = tokio::task::spawn_blocking(move || hash_prefix(&f, len))
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| self.failed(&inst, e))?;
                    inst.handle_rehash(sum).map_err(|e| self.failed(&inst, e.to_string()))?;
                }
                Action::StartTrial => {
                    let m = inst.manifest().cloned().ok_or("no manifest")?;
                    let head = head.clone().ok_or("no head")?;
                    // Recorded before the boot environment changes: after
                    // the reboot, the updater knows what is on trial.
                    self.with_store(|s| {
                        s.state.install = None;
                        s.state.trial = Some(Trial {
                            build: m.build,
                            version: m.version.clone(),
                            security_version: m.security_version,
                            slot: self.target,
                        });
                        s.save()
                    })?;
                    self.show(format!("build {} written; PID 1 checks it and puts it on trial", m.build));
                    let (tx, rx) = oneshot::channel();
                    *self.trial_reply.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
                    let _ = self.up.send(Up::Update(Report::Ready { head, slot: self.target }));
                    let answer = rx.await.unwrap_or_else(|_| Err("PID 1 did not answer".into()));
                    return match answer {
                        Ok(()) => {
                            let _ = inst.handle_trial_started();
                            Ok(format!(
                                "build {} ({}) is in slot {}, on trial from the next boot",
                                m.build,
                                m.version,
                                slot_of(self.target)
                            ))
                        }
                        Err(e) => {
                            self.with_store(|s| {
                                s.state.trial = None;
                                s.save()
                            })?;
                            Err(format!("build {} was written but not put on trial: {e}", m.build))
                        }
                    };
                }
            }
        }
    }

    /// Records how far the slot is written (synced first).
    fn record(&self, inst: &Install, head: Option<&[u8]>) -> Result<(), String> {
        let Some(head) = head else { return Ok(()) };
        self.slot.sync_data().map_err(|e| format!("syncing the slot: {e}"))?;
        let chunks = (inst.progress().0 / CHUNK as u64) as u32;
        self.with_store(|s| {
            s.state.install = Some(InProgress {
                source: self.source.clone(),
                slot: self.target,
                head: head.to_vec(),
                chunks_written: chunks,
            });
            s.save()
        })
    }

    /// The source failed: what is written is kept for a resume.
    fn cut_at(&self, inst: &Install, e: String) -> String {
        let (done, total) = inst.progress();
        let _ = self.record(inst, inst.head());
        if total > 0 {
            format!(
                "{}: {e}; {} of {} MiB are in the slot: install it again to resume",
                self.source,
                done >> 20,
                total.div_ceil(1 << 20)
            )
        } else {
            format!("{}: {e}", self.source)
        }
    }

    /// The bundle failed a check: nothing of it is kept.
    fn failed(&self, _inst: &Install, e: String) -> String {
        let _ = self.with_store(|s| {
            s.state.install = None;
            s.save()
        });
        format!("{}: {e}; the running slot and the boot environment are untouched", self.source)
    }
}

/// SHA-256 of a file's first `len` bytes.
fn hash_prefix(f: &File, len: u64) -> Result<[u8; 32], String> {
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < len {
        let want = (len - at).min(buf.len() as u64) as usize;
        f.read_exact_at(&mut buf[..want], at).map_err(|e| format!("reading the slot back at {at}: {e}"))?;
        h.update(&buf[..want]);
        at += want as u64;
    }
    Ok(h.finalize().into())
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
