//! `vrrp_script`s: each script an instance or a sync group tracks runs in
//! a task of its own, every `interval`, through [`crate::program::run`]
//! (no shell; killed at its timeout), so a slow or hung script never holds
//! up VRRP. Its runs go through the pure [`Tracker`] (rise and fall); only
//! a change of verdict reaches the daemon's loop, which hands it to the
//! router.

use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, warn};
use vigil_config::{Config, ScriptUser, VrrpScript};
use vigil_vrrp::script::{Tracker, Verdict};

/// A script's new verdict, for the router.
pub struct Changed {
    pub name: String,
    pub verdict: Verdict,
}

struct Running {
    def: VrrpScript,
    user: Option<ScriptUser>,
    task: tokio::task::JoinHandle<()>,
}

pub struct Scripts {
    running: HashMap<String, Running>,
    tx: mpsc::Sender<Changed>,
}

impl Drop for Scripts {
    fn drop(&mut self) {
        for r in self.running.values() {
            r.task.abort();
        }
    }
}

impl Scripts {
    pub fn new() -> (Scripts, mpsc::Receiver<Changed>) {
        // A verdict changes at most once a run: a few per script in flight.
        let (tx, rx) = mpsc::channel(256);
        (Scripts { running: HashMap::new(), tx }, rx)
    }

    /// Where verdicts go (the tracked processes' too).
    pub fn sender(&self) -> mpsc::Sender<Changed> {
        self.tx.clone()
    }

    /// Runs the scripts in `tracked` (names) as `config` defines them:
    /// unchanged ones keep running (and keep their verdict); changed and
    /// new ones start over. Returns each script that starts over (or
    /// stops) with the verdict it starts from, for the router.
    pub fn sync(&mut self, config: &Config, tracked: &[String]) -> Vec<(String, Verdict)> {
        let mut reset = Vec::new();
        let wanted: Vec<(&VrrpScript, Option<ScriptUser>)> = config
            .vrrp_scripts
            .iter()
            .filter(|s| tracked.iter().any(|t| t == s.name.as_str()))
            .map(|s| (s, s.user.clone().or_else(|| config.global.script_user.clone())))
            .collect();
        self.running.retain(|name, r| {
            let keep = wanted.iter().any(|(s, u)| **s == r.def && *u == r.user);
            if !keep {
                r.task.abort();
                if !wanted.iter().any(|(s, _)| s.name.as_str() == name) {
                    info!("vrrp_script {name}: no longer tracked; stopped");
                    reset.push((name.clone(), Verdict::Init));
                }
            }
            keep
        });
        for (def, user) in wanted {
            if self.running.contains_key(def.name.as_str()) {
                continue;
            }
            let tracker = Tracker::new(def.rise, def.fall, def.init_fail);
            reset.push((def.name.to_string(), tracker.verdict()));
            let task = tokio::spawn(run(def.clone(), user.clone(), tracker, self.tx.clone()));
            self.running.insert(def.name.to_string(), Running { def: def.clone(), user, task });
        }
        reset
    }
}

/// One script, for as long as it is tracked: a run every interval (the
/// next one starts an interval after the last started, or at once if that
/// run took longer), each run's verdict through the tracker.
async fn run(def: VrrpScript, user: Option<ScriptUser>, mut tracker: Tracker, tx: mpsc::Sender<Changed>) {
    let name = def.name.to_string();
    let interval = Duration::from_millis(u64::from(def.interval_ms.max(1)));
    let timeout = Duration::from_millis(u64::from(def.timeout_ms.unwrap_or(def.interval_ms).max(1)));
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut said = None;
    loop {
        every.tick().await;
        let outcome = match user.as_ref().map(crate::program::credentials).transpose() {
            Ok(creds) => crate::program::run(&def.script, creds, timeout).await,
            Err(e) => crate::program::Outcome::NotStarted(e),
        };
        // A program that cannot start says so once, not every interval.
        if let crate::program::Outcome::NotStarted(e) = &outcome
            && said.as_ref() != Some(e)
        {
            warn!("vrrp_script {name}: {e}");
            said = Some(e.clone());
        }
        if let Some(verdict) = tracker.handle_result(outcome.ok()) {
            info!("vrrp_script {name}: {} ({outcome})", verdict.name());
            if tx.send(Changed { name: name.clone(), verdict }).await.is_err() {
                return;
            }
        }
    }
}
