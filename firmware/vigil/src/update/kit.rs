//! What an install or a channel check needs, cloned for its task; the
//! channel check; reports to the channel.

use super::Facts;
use super::fetch::{self, Source};
use super::job::{Job, Shown, TrialReply};
use super::store::Store;
use crate::ipc::Up;
use std::fs::File;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tracing::{error, info, warn};
use vigil_update::Device;
use vigil_update::channel::{self, Decision, Outcome};

/// What an install needs (the updater's parts, cloned for a task).
pub struct Kit {
    pub facts: Facts,
    pub keys: Vec<String>,
    pub target: u8,
    pub size: u64,
    pub slot: File,
    pub store: Arc<Mutex<Store>>,
    pub shown: Arc<Mutex<Shown>>,
    pub trial_reply: TrialReply,
    pub up: mpsc::UnboundedSender<Up>,
}

impl Kit {
    fn device(&self) -> Device {
        let st = self.store.lock().unwrap_or_else(|p| p.into_inner()).state.clone();
        self.facts.device(self.size, st.security_floor, st.rolled_back)
    }

    /// Installs from `src`; records and logs the outcome; reports it when
    /// the install came from the channel (`sequence`).
    pub async fn install(self, source: String, src: Source, sequence: Option<u64>) {
        let _done = Done(self.shown.clone());
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
        self.shown.lock().unwrap_or_else(|p| p.into_inner()).doing = "recording the outcome".into();
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
            self.shown.lock().unwrap_or_else(|p| p.into_inner()).doing =
                format!("reporting build {build}'s outcome to {to}");
            send_report(&to, &self.facts.board, &id, build, outcome, reason, seq).await;
        }
    }

    /// Reads the channel, decides, and installs when this device is in.
    pub async fn check(self, url: String) {
        let _done = Done(self.shown.clone());
        self.shown.lock().unwrap_or_else(|p| p.into_inner()).doing = format!("asking the channel {url}");
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

/// Clears what `show update` says the job does when the job ends, however
/// it ends.
struct Done(Arc<Mutex<Shown>>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).doing.clear();
    }
}

/// The build a source names, if it is a channel bundle (`BOARD-BUILD.vub`).
fn wanted_build(source: &str) -> Option<u64> {
    source.rsplit('/').next()?.strip_suffix(".vub")?.rsplit('-').next()?.parse().ok()
}

/// PUTs this device's report (`<to><device id>.json`); a failure is logged.
pub async fn send_report(
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
pub fn random() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b)).is_err() {
        return crate::clock::since_boot().as_nanos() as u64;
    }
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_channel_bundle_names_its_build() {
        assert_eq!(super::wanted_build("http://h/bundles/qemu-x86_64-42.vub"), Some(42));
        assert_eq!(super::wanted_build("http://h/v2.vub"), None);
        assert_eq!(super::wanted_build("/dev/vdb"), None);
    }
}
