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
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};
use vigil_config::Config;
use vigil_update::channel::{self, Decision, Outcome};
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
    config: Option<Arc<Config>>,
    next_poll: Option<tokio::time::Instant>,
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
        if let Some(store) = &store {
            let mut st = store.lock().unwrap_or_else(|p| p.into_inner());
            if st.state.device_id.is_empty() {
                let mut id = [0u8; 8];
                let _ =
                    std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut id));
                st.state.device_id = id.iter().map(|b| format!("{b:02x}")).collect();
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

    /// What an install needs, cloned for its task.
    fn kit(&self) -> Result<Kit, String> {
        if let Some(b) = &self.broken {
            return Err(b.clone());
        }
        let facts = self.facts.clone().ok_or("PID 1 has not said what booted")?;
        let (target, size) = facts.target.clone()?;
        let slot = self.slot.as_ref().ok_or("no slot to write")?.try_clone().map_err(|e| e.to_string())?;
        let store = self.store.clone().ok_or("no state partition")?;
        let mut keys = facts.keys.clone();
        if let Some(k) = self.config.as_ref().and_then(|c| c.global.updates.key.clone()) {
            keys.push(k.to_string());
        }
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
            match self.fd_sock.as_ref().map(super::fds::recv) {
                Some(Ok(mut fds)) if fds.len() == 1 => fds.pop().map(File::from),
                _ => None,
            }
        } else {
            None
        };
        if self.busy() {
            warn!("update: an install is running; {source} not started");
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
            Ok((kit, src)) => self.job = Some(tokio::spawn(async move { kit.install(source, src, None).await })),
            Err(e) => error!("update: {source}: {e}"),
        }
    }

    /// Asks the channel (`update check`, or the poll timer).
    fn check(&mut self) {
        let Some(url) = self.config.as_ref().and_then(|c| c.global.updates.channel.clone()) else { return };
        if self.busy() {
            info!("update: an install is running; the channel is asked later");
            return;
        }
        match self.kit() {
            Ok(kit) => self.job = Some(tokio::spawn(async move { kit.check(url.to_string()).await })),
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
            _ = self.tick.tick() => self.status().into_iter().collect(),
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
        let doing = self.shown.lock().unwrap_or_else(|p| p.into_inner()).doing.clone();
        out.push(if doing.is_empty() { "now      idle".into() } else { format!("now      {doing}") });
        out
    }
}

/// What an install needs (the updater's parts, cloned for a task).
struct Kit {
    facts: Facts,
    keys: Vec<String>,
    target: u8,
    size: u64,
    slot: File,
    store: Arc<Mutex<Store>>,
    shown: Arc<Mutex<Shown>>,
    trial_reply: TrialReply,
    up: mpsc::UnboundedSender<Up>,
}

impl Kit {
    fn device(&self) -> Device {
        let st = self.store.lock().unwrap_or_else(|p| p.into_inner()).state.clone();
        Device {
            board: self.facts.board.clone(),
            arch: self.facts.arch.clone(),
            build: self.facts.release.as_ref().map_or(0, |r| r.0),
            security_floor: st.security_floor,
            slot_size: self.size,
            rolled_back: st.rolled_back,
        }
    }

    /// Installs from `src`; records and logs the outcome; reports it when
    /// the install came from the channel (`sequence`).
    async fn install(self, source: String, src: Source, sequence: Option<u64>) {
        let device = self.device();
        let job = Job {
            source: source.clone(),
            src,
            slot: self.slot,
            target: self.target,
            store: self.store.clone(),
            device,
            keys: self.keys,
            shown: self.shown.clone(),
            trial_reply: self.trial_reply,
            up: self.up,
        };
        let result = job.run().await;
        self.shown.lock().unwrap_or_else(|p| p.into_inner()).doing.clear();
        let (said, build) = match &result {
            Ok((text, build)) => (text.clone(), Some(*build)),
            Err(text) => (text.clone(), None),
        };
        let report = {
            let mut st = self.store.lock().unwrap_or_else(|p| p.into_inner());
            st.state.last = Some(said.clone());
            if let Err(e) = st.save() {
                error!("update: {e}");
            }
            (st.state.report_to.clone(), st.state.device_id.clone())
        };
        match &result {
            Ok(_) => info!("update: {said}"),
            Err(_) => error!("update: {said}"),
        }
        if let (Some(seq), (Some(to), id)) = (sequence, report) {
            let (outcome, reason) = match build {
                Some(_) => (Outcome::Installed, None),
                None => (Outcome::Failed, Some(said)),
            };
            let build = build.or_else(|| wanted_build(&source)).unwrap_or(0);
            send_report(&to, &self.facts.board, &id, build, outcome, reason, seq).await;
        }
    }

    /// Reads the channel, decides, and installs when this device is in.
    async fn check(self, url: String) {
        let (seen, id) = {
            let st = self.store.lock().unwrap_or_else(|p| p.into_inner());
            (st.state.channel_seq, st.state.device_id.clone())
        };
        let channel = async {
            let sig_url = format!("{url}.minisig");
            let bytes = fetch::get(&fetch::Url::parse(&url)?, channel::MAX_CHANNEL).await?;
            let sig =
                fetch::get(&fetch::Url::parse(&sig_url)?, 4096).await.map_err(|e| format!("the signature: {e}"))?;
            let now = self
                .facts
                .clock_synced
                .then(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
            let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
            channel::read(&bytes, &sig, &keys, seen, now).map_err(|e| e.to_string())
        }
        .await;
        let c = match channel {
            Ok(c) => c,
            Err(e) => {
                error!("update: channel {url}: {e}; nothing installed");
                return;
            }
        };
        {
            let mut st = self.store.lock().unwrap_or_else(|p| p.into_inner());
            st.state.channel_seq = c.sequence;
            let to = channel::resolve(&url, &c.reports);
            st.state.report_to = Some(if to.ends_with('/') { to } else { format!("{to}/") });
            if let Err(e) = st.save() {
                warn!("update: {e}");
            }
        }
        let device = self.device();
        let pct = f64::from(channel::draw(&c.rollout.salt, &id)) / 100.0;
        match c.decide(&url, &device, &id) {
            Ok(Decision::Install { build, version, url: bundle }) => {
                info!(
                    "update: channel {} says build {build} ({version}) for this device: installing {bundle}",
                    c.sequence
                );
                match fetch::Url::parse(&bundle) {
                    Ok(u) => self.install(bundle, Source::Http(u), Some(c.sequence)).await,
                    Err(e) => error!("update: channel {}: {e}", c.sequence),
                }
            }
            Ok(Decision::UpToDate { build }) => {
                info!("update: channel {}: build {build} is the newest for this device", c.sequence)
            }
            Ok(Decision::NotYet { build, percent }) => info!(
                "update: channel {}: build {build} is rolling out to {percent} % of the fleet; this device draws {pct:.2} %: not yet",
                c.sequence
            ),
            Ok(Decision::Paused { build, why }) => {
                warn!("update: channel {}: the rollout of build {build} is paused ({why})", c.sequence)
            }
            Ok(Decision::RolledBack { build }) => {
                info!("update: channel {}: build {build} rolled back here before; not installed again", c.sequence)
            }
            Err(e) => warn!("update: channel {}: {e}", c.sequence),
        }
    }
}

/// The build a source names, if it is a channel bundle (`BOARD-BUILD.vub`).
fn wanted_build(source: &str) -> Option<u64> {
    source.rsplit('/').next()?.strip_suffix(".vub")?.rsplit('-').next()?.parse().ok()
}

/// PUTs this device's report (`<to><device id>.json`); a failure is logged.
async fn send_report(
    to: &str,
    board: &str,
    id: &str,
    build: u64,
    outcome: Outcome,
    reason: Option<String>,
    sequence: u64,
) {
    let r = channel::Report { device: id.to_string(), board: board.to_string(), build, outcome, reason, sequence };
    let body = r.to_json();
    let url = format!("{to}{id}.json");
    match fetch::Url::parse(&url) {
        Ok(u) => match fetch::put(&u, &body, "application/json").await {
            Ok(()) => info!("update: reported build {build} {} to {url}", outcome_word(outcome)),
            Err(e) => warn!("update: report to {url}: {e}"),
        },
        Err(e) => warn!("update: report: {e}"),
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Installed => "installed",
        Outcome::Confirmed => "kept",
        Outcome::RolledBack => "rolled back",
        Outcome::Failed => "failed",
    }
}

/// A random number (from the kernel; the clock if that fails).
fn random() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b)).is_err() {
        return crate::clock::since_boot().as_nanos() as u64;
    }
    u64::from_le_bytes(b)
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

    async fn run(self) -> Result<(String, u64), String> {
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
                            Ok((
                                format!(
                                    "build {} ({}) is in slot {}, on trial from the next boot",
                                    m.build,
                                    m.version,
                                    slot_of(self.target)
                                ),
                                m.build,
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
