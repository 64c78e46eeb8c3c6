//! The load balancer ([`crate::lb::Balancer`]) on a thread of its own:
//! an IPVS reconcile can take seconds (11,000 changes took 11 s under
//! emulation), and on PID 1's event loop it held up the watchdog, the
//! reaper and the heartbeats' bookkeeping. The loop and the config thread
//! send it what changed and go on; a commit waits for its answer on its
//! own thread.

use crate::ipc::{Health, VrrpState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use tracing::{error, warn};
use vigil_board::OnDemand;
use vigil_config::Config;

enum Message {
    /// A config to run; `reply`: the outcome, for a commit that waits.
    Configure {
        config: Arc<Config>,
        generation: u64,
        checkers: u64,
        reply: Option<Sender<Result<usize, String>>>,
    },
    Vrrp(Vec<(String, VrrpState)>),
    Health(Health),
    /// vigil stops: what it programmed goes (see [`crate::lb::Lb::stop`]).
    Stop {
        flush: Option<vigil_config::FlushOnStop>,
        reply: Sender<Result<usize, String>>,
    },
}

/// Where to send the balancer what changed.
#[derive(Clone)]
pub struct Handle {
    tx: Sender<Message>,
    /// The config generation the table follows (applied without an error).
    applied: Arc<AtomicU64>,
}

impl Handle {
    /// Starts the thread.
    pub fn start(on_demand: Vec<OnDemand>) -> Handle {
        let (tx, rx) = channel();
        let applied = Arc::new(AtomicU64::new(0));
        let acked = applied.clone();
        let spawned = std::thread::Builder::new().name("ipvs".into()).spawn(move || run(on_demand, rx, &acked));
        if let Err(e) = spawned {
            // Without a thread there is no balancer: every request says so.
            error!("ipvs: no thread for the balancer: {e}");
        }
        Handle { tx, applied }
    }

    /// The config generation the IPVS table follows (`show supervision`).
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    /// A new config, not waited for (problems are logged).
    pub fn configure(&self, config: Arc<Config>, generation: u64, checkers: u64) {
        let _ = self.tx.send(Message::Configure { config, generation, checkers, reply: None });
    }

    /// A new config; waits until the table follows it (on the caller's thread).
    pub fn configure_and_wait(&self, config: Arc<Config>, generation: u64, checkers: u64) -> Result<usize, String> {
        let (reply, answer) = channel();
        self.tx
            .send(Message::Configure { config, generation, checkers, reply: Some(reply) })
            .map_err(|_| "the balancer is not running".to_string())?;
        answer.recv().map_err(|_| "the balancer stopped".to_string())?
    }

    pub fn vrrp_changed(&self, states: Vec<(String, VrrpState)>) {
        let _ = self.tx.send(Message::Vrrp(states));
    }

    pub fn health_changed(&self, h: Health) {
        let _ = self.tx.send(Message::Health(h));
    }

    /// Removes what vigil programmed (or flushes the table) as it stops;
    /// waits for it on a blocking thread, up to `within`.
    pub async fn stop(&self, flush: Option<vigil_config::FlushOnStop>, within: std::time::Duration) {
        let (reply, answer) = channel();
        if self.tx.send(Message::Stop { flush, reply }).is_err() {
            return;
        }
        let waited = tokio::task::spawn_blocking(move || answer.recv_timeout(within));
        match waited.await {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err(e))) => warn!("ipvs: as vigil stops: {e}"),
            Ok(Err(_)) | Err(_) => warn!("ipvs: the table was not cleared within {} s", within.as_secs()),
        }
    }
}

fn run(on_demand: Vec<OnDemand>, rx: Receiver<Message>, applied: &AtomicU64) {
    let mut b = crate::lb::Balancer::new(on_demand);
    while let Ok(first) = rx.recv() {
        // What queued up during a long reconcile: every config in turn, but
        // of the VRRP states and the health only the newest (each is whole).
        let batch: Vec<Message> = std::iter::once(first).chain(rx.try_iter()).collect();
        let last_vrrp = batch.iter().rposition(|m| matches!(m, Message::Vrrp(_)));
        let last_health = batch.iter().rposition(|m| matches!(m, Message::Health(_)));
        for (i, m) in batch.into_iter().enumerate() {
            match m {
                Message::Configure { config, generation, checkers, reply } => {
                    let r = b.configure(&config, checkers);
                    if r.is_ok() {
                        applied.store(generation, Ordering::Relaxed);
                    }
                    match reply {
                        Some(tx) => {
                            let _ = tx.send(r);
                        }
                        None => {
                            if let Err(e) = r {
                                warn!("ipvs: {e}");
                            }
                        }
                    }
                }
                Message::Vrrp(states) if Some(i) == last_vrrp => b.vrrp_changed(&states),
                Message::Health(h) if Some(i) == last_health => b.health_changed(&h),
                Message::Vrrp(_) | Message::Health(_) => {}
                Message::Stop { flush, reply } => {
                    let _ = reply.send(b.stop(flush));
                }
            }
        }
    }
}
