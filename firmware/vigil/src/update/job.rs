//! One install on its own task: the sans-IO installer's actions carried
//! out against the source, the slot and the state partition.

use super::fetch::{self, Source};
use super::store::Store;
use super::{Report, slot_of};
use crate::ipc::Up;
use sha2::Digest;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tracing::info;
use vigil_update::install::{Action, Install};
use vigil_update::state::{InProgress, Trial};
use vigil_update::{CHUNK, Device};

/// The slot is synced and the progress recorded every this many chunks: a
/// cut loses at most this much download.
const RECORD_EVERY: usize = 8;

/// Where PID 1's answer to a finished install goes (the install task waits on it).
pub type TrialReply = Arc<Mutex<Option<oneshot::Sender<Result<(), String>>>>>;

/// What `show update` says, shared with the install task.
#[derive(Default)]
pub struct Shown {
    pub doing: String,
}

/// One install, on its own task.
pub struct Job {
    pub source: String,
    pub src: Source,
    pub slot: File,
    pub target: u8,
    pub store: Arc<Mutex<Store>>,
    pub device: Device,
    pub keys: Vec<String>,
    pub shown: Arc<Mutex<Shown>>,
    pub trial_reply: TrialReply,
    pub up: mpsc::UnboundedSender<Up>,
}

impl Job {
    fn show(&self, text: String) {
        self.shown.lock().unwrap_or_else(|p| p.into_inner()).doing = text;
    }

    fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.store.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub async fn run(self) -> Result<(String, u64), String> {
        let src = &self.source;
        // An install of the same bundle into the same slot, cut: resumed.
        let cut = self.with_store(|s| s.state.install.clone()).filter(|i| i.source == *src && i.slot == self.target);
        let mut inst = match &cut {
            Some(c) => {
                let inst = Install::resume(self.device.clone(), self.keys.clone(), &c.head, c.chunks_written as usize)
                    .map_err(|e| format!("{src}: {e}"))?;
                match inst.manifest() {
                    Some(m) => info!(
                        "update: resuming {src} at {} of {} MiB: build {} ({}) into slot {}",
                        c.chunks_written,
                        m.payload_size.div_ceil(1 << 20),
                        m.build,
                        m.version,
                        slot_of(self.target)
                    ),
                    None => info!("update: resuming {src} at {} MiB", c.chunks_written),
                }
                inst
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
                            inst.handle_end().map_err(|e| self.failed(e.to_string()))?;
                            break;
                        }
                        let mut off = 0;
                        while off < n {
                            let took = inst.handle_data(&buf[off..n]).map_err(|e| self.failed(e.to_string()))?;
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
                                        self.slot
                                            .write_all_at(&bytes, offset)
                                            .map_err(|e| self.failed(format!("writing the slot at {offset}: {e}")))?;
                                        written_since += 1;
                                        let (done, total) = inst.progress();
                                        self.show(format!(
                                            "writing {src}: {} of {} MiB",
                                            done >> 20,
                                            total.div_ceil(1 << 20)
                                        ));
                                        if written_since >= RECORD_EVERY {
                                            written_since = 0;
                                            // The state cannot be written (a failing flash):
                                            // the install stops, nothing boots it.
                                            self.record(&inst, head.as_deref()).map_err(|e| self.failed(e))?;
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
                        .map_err(|e| self.failed(format!("writing the slot: {e}")))?;
                }
                Action::Rehash { len } => {
                    self.show(format!("reading slot {} back", slot_of(self.target)));
                    self.slot.sync_data().map_err(|e| self.failed(format!("syncing the slot: {e}")))?;
                    let f = self.slot.try_clone().map_err(|e| e.to_string())?;
                    let sum = tokio::task::spawn_blocking(move || hash_prefix(&f, len))
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| self.failed(e))?;
                    inst.handle_rehash(sum).map_err(|e| self.failed(e.to_string()))?;
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
                        let saved = s.save();
                        if saved.is_err() {
                            // Not recorded: nothing is on trial.
                            s.state.trial = None;
                        }
                        saved
                    })
                    .map_err(|e| self.failed(e))?;
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
    fn failed(&self, e: String) -> String {
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
