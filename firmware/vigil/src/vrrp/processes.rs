//! `vrrp_track_process`: the processes instances and sync groups track,
//! counted from /proc once a second (on a blocking thread: the VRRP loop
//! never waits for the scan) and judged by the pure
//! [`vigil_vrrp::process::ProcessTracker`]. Verdicts reach the router as a
//! script's do, under the name `process NAME`.

use super::scripts::Changed;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{info, warn};
use vigil_config::{Config, ParamMatch, TrackProcess};
use vigil_vrrp::process::{self, Pattern, ProcessTracker};
use vigil_vrrp::script::Verdict;

/// How often /proc is read.
const EVERY: Duration = Duration::from_secs(1);

/// A command line read from /proc is cut here (enough for the program and
/// the parameters anyone matches).
const CMDLINE: u64 = 4096;

/// The router's name for a tracked process.
pub fn key(name: &str) -> String {
    format!("process {name}")
}

pub struct Processes {
    watched: Vec<TrackProcess>,
    task: Option<tokio::task::JoinHandle<()>>,
    tx: mpsc::Sender<Changed>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl Processes {
    /// Verdicts come out on the scripts' channel.
    pub fn new(tx: mpsc::Sender<Changed>) -> Processes {
        Processes { watched: Vec::new(), task: None, tx }
    }

    /// Watches the processes in `tracked` (names) as `config` defines
    /// them; a change of the set starts the count over. Returns the router
    /// keys that start over, each with the verdict it starts from.
    pub fn sync(&mut self, config: &Config, tracked: &[String]) -> Vec<(String, Verdict)> {
        let wanted: Vec<TrackProcess> =
            config.track_processes.iter().filter(|t| tracked.iter().any(|n| n == t.name.as_str())).cloned().collect();
        if wanted == self.watched {
            return Vec::new();
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
        let mut reset: Vec<(String, Verdict)> =
            self.watched.iter().chain(wanted.iter()).map(|t| (key(&t.name), Verdict::Init)).collect();
        reset.dedup();
        self.watched = wanted.clone();
        if !wanted.is_empty() {
            self.task = Some(tokio::spawn(watch(wanted, self.tx.clone())));
        }
        reset
    }
}

fn pattern(t: &TrackProcess) -> Pattern {
    let mut words = vigil_config::command::split(&t.process).unwrap_or_default().into_iter();
    Pattern {
        name: words.next().unwrap_or_default(),
        params: words.collect(),
        param_match: match t.param_match {
            ParamMatch::Exact => process::ParamMatch::Exact,
            ParamMatch::Initial => process::ParamMatch::Initial,
            ParamMatch::Partial => process::ParamMatch::Partial,
        },
        full_command: t.full_command,
    }
}

async fn watch(watched: Vec<TrackProcess>, tx: mpsc::Sender<Changed>) {
    let patterns: Vec<Pattern> = watched.iter().map(pattern).collect();
    let mut trackers: Vec<ProcessTracker> = watched
        .iter()
        .map(|t| {
            ProcessTracker::new(
                u32::from(t.quorum),
                t.quorum_max.map(u32::from),
                Duration::from_millis(u64::from(t.fork_delay_ms)),
                Duration::from_millis(u64::from(t.terminate_delay_ms)),
            )
        })
        .collect();
    loop {
        let procs = match tokio::task::spawn_blocking(scan).await {
            Ok(p) => p,
            Err(e) => return warn!("vrrp_track_process: reading /proc: {e}"),
        };
        let now = Instant::now();
        for (i, t) in trackers.iter_mut().enumerate() {
            let count = procs.iter().filter(|(comm, argv)| process::matches(&patterns[i], comm, argv)).count();
            let changed = t.handle_count(now, count as u32).or_else(|| t.handle_timeout(now));
            if let Some(v) = changed {
                let name = &watched[i].name;
                let what = if v == Verdict::Good { "in quorum" } else { "out of quorum" };
                info!("vrrp_track_process {name}: {what} ({count} running)");
                if tx.send(Changed { name: key(name), verdict: v }).await.is_err() {
                    return;
                }
            }
        }
        // The next scan, or sooner for a delay that ends before it.
        let next = trackers
            .iter()
            .filter_map(|t| t.poll_timeout())
            .min()
            .map_or(EVERY, |t| t.saturating_duration_since(Instant::now()).clamp(Duration::from_millis(10), EVERY));
        tokio::time::sleep(next).await;
    }
}

/// Every process's name and command line (those that vanish while read
/// are skipped).
fn scan() -> Vec<(String, Vec<String>)> {
    use std::io::Read;
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let name = e.file_name();
        if !name.to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        let path = e.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else { continue };
        let mut raw = Vec::new();
        if let Ok(f) = std::fs::File::open(path.join("cmdline")) {
            let _ = f.take(CMDLINE).read_to_end(&mut raw);
        }
        let argv = raw.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned());
        out.push((comm.trim_end_matches('\n').to_string(), argv.collect()));
    }
    out
}
