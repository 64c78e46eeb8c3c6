//! Committing a config, on a thread of its own: written to flash (fsync
//! and all), published on the bus for the children, applied where PID 1
//! applies it itself (hostname, interfaces, the watchdog's settings) and in
//! the IPVS table (on the balancer's thread, waited for here). PID 1's event
//! loop hands the shell's requests over and keeps turning: the watchdog, the
//! reaper and the supervisors never wait for a flash write or a reconcile.
//!
//! If applying fails, the config that was running is written again as the
//! newest generation and applied again, so flash never holds, as its
//! newest, a config the operator was told did not take effect (Junos'
//! commit semantics).

use crate::balancer;
use crate::bus::{Bus, Part};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel};
use std::sync::{Arc, Mutex};
use tracing::{error, info, warn};
use vigil_config::Config;
use vigil_config::store::{FileFlash, Store};

pub enum Request {
    Commit { config: Box<Config>, unconfirmed: bool, reply: SyncSender<Result<u64, String>> },
    History { reply: SyncSender<Vec<u64>> },
    LoadGeneration { generation: u64, reply: SyncSender<Result<Config, String>> },
}

/// The newest generation on flash and its slot, for `show system`.
pub type Newest = Arc<Mutex<Option<(u64, usize)>>>;

pub struct Committer {
    pub store: Option<Store<FileFlash>>,
    pub bus: Arc<Bus>,
    pub watchdog: tokio::sync::watch::Sender<vigil_config::Watchdog>,
    pub lb: balancer::Handle,
    /// The config last applied (what vigil set up in the kernel).
    pub applied: Arc<Config>,
    pub location: String,
    /// PID 1 owns the system (hostname); host mode leaves it to the host.
    pub owns_system: bool,
    pub newest: Newest,
}

/// Starts the thread; requests go to the returned sender.
pub fn start(mut c: Committer) -> std::io::Result<Sender<Request>> {
    let (tx, rx) = channel();
    c.note_newest();
    std::thread::Builder::new().name("config".into()).spawn(move || c.run(rx))?;
    Ok(tx)
}

impl Committer {
    fn run(mut self, rx: Receiver<Request>) {
        while let Ok(r) = rx.recv() {
            match r {
                Request::Commit { config, unconfirmed, reply } => {
                    let _ = reply.send(self.commit(*config, unconfirmed));
                }
                Request::History { reply } => {
                    let h = self.store.as_mut().map(|s| s.history().into_iter().map(|h| h.0).collect());
                    let _ = reply.send(h.unwrap_or_default());
                }
                Request::LoadGeneration { generation, reply } => {
                    let r = match self.store.as_mut() {
                        Some(s) => s.load_generation(generation).map_err(|e| e.to_string()),
                        None => Err("no flash".into()),
                    };
                    let _ = reply.send(r);
                }
            }
        }
    }

    fn note_newest(&mut self) {
        let newest = self.store.as_mut().and_then(|s| s.history().first().copied());
        *self.newest.lock().unwrap_or_else(|p| p.into_inner()) = newest;
    }

    /// Write, apply; on a failure to apply, the running config back.
    fn commit(&mut self, config: Config, unconfirmed: bool) -> Result<u64, String> {
        let Some(store) = self.store.as_mut() else {
            // Host mode with a keepalived.conf: the config runs and is not
            // saved (the file is the operator's to edit).
            let g = self.bus.newest().generation + 1;
            let previous = self.applied.clone();
            let problems = self.apply_live(Arc::new(config), g);
            if !problems.is_empty() {
                let again = self.apply_live(previous, g + 1);
                let back =
                    if again.is_empty() { "the running config is applied again".to_string() } else { again.join("; ") };
                return Err(format!("applying generation {g} failed: {}; {back}", problems.join("; ")));
            }
            info!("config: generation {g} applied, not saved ({} is a text config)", self.location);
            return Ok(g);
        };
        let g = store.commit(&config, unconfirmed).map_err(|e| e.to_string())?;
        self.note_newest();
        info!("config: generation {g} committed to {}", self.location);
        let previous = self.applied.clone();
        let problems = self.apply_live(Arc::new(config), g);
        if problems.is_empty() {
            return Ok(g);
        }
        let failed = format!("applying generation {g} failed: {}", problems.join("; "));
        error!("config: {failed}");
        let Some(store) = self.store.as_mut() else {
            return Err(failed);
        };
        let restored = match store.commit(&previous, false) {
            Ok(g2) => {
                self.note_newest();
                let again = self.apply_live(previous, g2);
                if again.is_empty() {
                    format!("the running config is written back as generation {g2} and applied again")
                } else {
                    format!(
                        "the running config is written back as generation {g2}, but applying it again failed too: {}",
                        again.join("; ")
                    )
                }
            }
            Err(e) => format!("writing the running config back failed too ({e}): the next boot runs generation {g}"),
        };
        warn!("config: {restored}");
        Err(format!("{failed}; {restored}"))
    }

    /// Makes `config` (generation `g`) the running one: on the bus for the
    /// children (VRRP, checkers, updater); the watchdog, the hostname and
    /// interfaces, IPVS. Returns what could not be applied.
    fn apply_live(&mut self, config: Arc<Config>, g: u64) -> Vec<String> {
        let previous = std::mem::replace(&mut self.applied, config.clone());
        self.bus.publish(config.clone(), g);
        self.watchdog.send_if_modified(|w| std::mem::replace(w, config.global.watchdog.clone()) != *w);
        let applied = crate::config::apply(&previous, &config, self.owns_system);
        let checkers = Part::Checkers.generation(&self.bus.newest());
        let balanced = self.lb.configure_and_wait(config, g, checkers).map_err(|e| format!("ipvs: {e}"));
        [applied, balanced.map(drop)].into_iter().filter_map(Result::err).collect()
    }
}
