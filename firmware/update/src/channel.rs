//! The fleet channel: static files on any web server or object store, no
//! server of vigil's own. `channel.json` says which build each board should
//! run and how far its rollout has gone; `channel.json.minisig` signs it
//! (the same keys as bundles). Devices poll it, decide alone whether they
//! are in the rollout, and PUT a small report of what happened into the
//! reports location; the host tool reads the reports and moves the rollout
//! on, or pauses it (hawkBit's group thresholds, without hawkBit).
//!
//! Freshness (TUF's lessons): a channel older than the last one a device
//! accepted (its sequence) is refused, so an attacker cannot replay an old
//! channel; an expired one is refused, but only once the device's clock is
//! known to be right, so a box with a wrong clock still updates.

use crate::Device;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const FORMAT: u32 = 1;
/// The largest channel.json a device reads.
pub const MAX_CHANNEL: usize = 256 << 10;
/// The rollout stages `advance` moves through.
pub const STAGES: [u8; 4] = [1, 10, 50, 100];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub format: u32,
    /// Grows with every change; a device never goes back to a lower one.
    pub sequence: u64,
    /// Unix seconds after which devices with a synced clock refuse it.
    pub expires: u64,
    pub releases: Vec<Release>,
    pub rollout: Rollout,
    /// Where devices PUT their reports: a URL, or a path relative to the
    /// channel's.
    pub reports: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub board: String,
    pub build: u64,
    pub version: String,
    /// The bundle: a URL, or a path relative to the channel's.
    pub bundle: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// The build being rolled out; devices install releases up to it.
    pub build: u64,
    /// Of the fleet, 0..=100.
    pub percent: u8,
    /// Mixed into each device's draw, so each rollout picks other devices first.
    pub salt: String,
    pub paused: bool,
    /// Why it was paused (set by `advance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// What a device does with the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Install this release (its bundle resolved against the channel's URL).
    Install {
        build: u64,
        version: String,
        url: String,
    },
    UpToDate {
        build: u64,
    },
    /// A newer build is there, but this device's draw is above the rollout's share.
    NotYet {
        build: u64,
        percent: u8,
    },
    Paused {
        build: u64,
        why: String,
    },
    /// The newer build rolled back here before.
    RolledBack {
        build: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("channel.json is {0} bytes (at most {MAX_CHANNEL})")]
    TooLarge(usize),
    #[error("the channel's signature: {0}")]
    Signature(String),
    #[error("channel.json cannot be read: {0}")]
    Json(String),
    #[error("channel format {0}; this firmware reads format {FORMAT}")]
    Format(u32),
    #[error(
        "channel sequence {have} is older than {seen}, the newest this device accepted: a stale or replayed channel"
    )]
    Stale { have: u64, seen: u64 },
    #[error("the channel expired at {expires} (Unix time); it is {now} now")]
    Expired { expires: u64, now: u64 },
    #[error("the channel has no release for board {0}")]
    NoRelease(String),
}

/// Reads and checks a channel: signature first (with the bundle keys),
/// then format, freshness against the highest sequence seen, and expiry
/// when `now` (Unix seconds of a synced clock) is known.
pub fn read(bytes: &[u8], signature: &[u8], keys: &[&str], seen: u64, now: Option<u64>) -> Result<Channel, Refusal> {
    if bytes.len() > MAX_CHANNEL {
        return Err(Refusal::TooLarge(bytes.len()));
    }
    crate::verify(bytes, signature, keys).map_err(|e| Refusal::Signature(e.to_string()))?;
    let c: Channel = serde_json::from_slice(bytes).map_err(|e| Refusal::Json(e.to_string()))?;
    if c.format != FORMAT {
        return Err(Refusal::Format(c.format));
    }
    if c.sequence < seen {
        return Err(Refusal::Stale { have: c.sequence, seen });
    }
    if let Some(now) = now
        && now > c.expires
    {
        return Err(Refusal::Expired { expires: c.expires, now });
    }
    Ok(c)
}

/// Whether `device_id` is among the first `percent` of the fleet for this
/// salt: a hash of both, as a point in 0..10000.
pub fn in_rollout(salt: &str, device_id: &str, percent: u8) -> bool {
    draw(salt, device_id) < u32::from(percent.min(100)) * 100
}

/// The device's point in 0..10000 for `salt`.
pub fn draw(salt: &str, device_id: &str) -> u32 {
    let h = Sha256::digest(format!("{salt}:{device_id}").as_bytes());
    (u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]) % 10_000) as u32
}

/// `reference` resolved against `base` (the channel's URL): absolute URLs
/// stay, `/path` takes base's origin, anything else base's directory.
pub fn resolve(base: &str, reference: &str) -> String {
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return reference.to_string();
    }
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    if let Some(r) = reference.strip_prefix('/') {
        let origin_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
        return format!("{}/{r}", &base[..origin_end]);
    }
    let dir_end = base.rfind('/').filter(|&i| i >= after_scheme).map_or(base.len(), |i| i + 1);
    let dir = &base[..dir_end];
    if dir.ends_with('/') { format!("{dir}{reference}") } else { format!("{dir}/{reference}") }
}

impl Channel {
    /// What `device` (running `device.build`, drawing by `device_id`) does.
    pub fn decide(&self, channel_url: &str, device: &Device, device_id: &str) -> Result<Decision, Refusal> {
        let r = self
            .releases
            .iter()
            .filter(|r| r.board == device.board && r.build <= self.rollout.build.max(device.build))
            .max_by_key(|r| r.build)
            .ok_or_else(|| Refusal::NoRelease(device.board.clone()))?;
        if r.build <= device.build {
            return Ok(Decision::UpToDate { build: device.build });
        }
        if device.rolled_back.contains(&r.build) {
            return Ok(Decision::RolledBack { build: r.build });
        }
        if self.rollout.paused {
            return Ok(Decision::Paused { build: r.build, why: self.rollout.why.clone().unwrap_or_default() });
        }
        // Only the build in rollout is drawn for; older releases in the
        // channel are fully out.
        if r.build == self.rollout.build && !in_rollout(&self.rollout.salt, device_id, self.rollout.percent) {
            return Ok(Decision::NotYet { build: r.build, percent: self.rollout.percent });
        }
        Ok(Decision::Install { build: r.build, version: r.version.clone(), url: resolve(channel_url, &r.bundle) })
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// What a device reports (PUT as `<reports>/<device id>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub device: String,
    pub board: String,
    /// The build the report is about.
    pub build: u64,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The channel sequence the device acted on.
    pub sequence: u64,
}

impl Report {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Written and on trial.
    Installed,
    /// Kept after its health gate.
    Confirmed,
    /// Its trial failed; back on the old build.
    RolledBack,
    /// Refused or failed before its trial (a bad download, a bad bundle).
    Failed,
}

/// hawkBit's group thresholds: a stage is done when this share of the
/// devices that reported on the build kept it; the rollout pauses when
/// this share (or more) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub success_percent: u8,
    pub error_percent: u8,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { success_percent: 90, error_percent: 10 }
    }
}

/// What `advance` does with the rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Not enough kept yet (what was counted).
    Hold(String),
    Advance {
        from: u8,
        to: u8,
        why: String,
    },
    Pause(String),
    /// At 100 %, or paused already.
    Done(String),
}

/// The rollout's next step from the devices' reports (the newest per
/// device; reports on other builds are not counted).
pub fn advance(c: &Channel, reports: &[Report], t: Thresholds) -> Step {
    let build = c.rollout.build;
    if c.rollout.paused {
        return Step::Done(format!("build {build} is paused: {}", c.rollout.why.clone().unwrap_or_default()));
    }
    let on: Vec<&Report> = reports.iter().filter(|r| r.build == build).collect();
    let kept = on.iter().filter(|r| r.outcome == Outcome::Confirmed).count();
    let failed = on.iter().filter(|r| matches!(r.outcome, Outcome::RolledBack | Outcome::Failed)).count();
    let total = on.len();
    let counted = format!(
        "{total} reported on build {build}: {kept} kept, {failed} failed, {} in progress",
        total - kept - failed
    );
    if failed > 0 && failed * 100 >= usize::from(t.error_percent) * total {
        let first = on
            .iter()
            .find(|r| matches!(r.outcome, Outcome::RolledBack | Outcome::Failed))
            .map(|r| format!(" (first: {} {})", r.device, r.reason.clone().unwrap_or_default()))
            .unwrap_or_default();
        return Step::Pause(format!("{counted}: at or over the {} % error threshold{first}", t.error_percent));
    }
    let Some(next) = STAGES.iter().copied().find(|&s| s > c.rollout.percent) else {
        return Step::Done(format!("build {build} is at 100 %: {counted}"));
    };
    if kept > 0 && kept * 100 >= usize::from(t.success_percent) * total {
        return Step::Advance { from: c.rollout.percent, to: next, why: counted };
    }
    Step::Hold(format!("{counted}: under the {} % success threshold", t.success_percent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> Channel {
        Channel {
            format: FORMAT,
            sequence: 5,
            expires: 2_000_000_000,
            releases: vec![
                Release { board: "b".into(), build: 2, version: "0.2".into(), bundle: "b-2.vub".into(), size: 10 },
                Release { board: "b".into(), build: 3, version: "0.3".into(), bundle: "/fw/b-3.vub".into(), size: 10 },
            ],
            rollout: Rollout { build: 3, percent: 50, salt: "s".into(), paused: false, why: None },
            reports: "reports/".into(),
        }
    }

    fn device(build: u64) -> Device {
        Device {
            board: "b".into(),
            arch: "x".into(),
            build,
            security_floor: 0,
            slot_size: 1 << 30,
            rolled_back: vec![],
        }
    }

    #[test]
    fn urls_resolve_as_a_browser_would() {
        let base = "http://10.0.2.2:8080/stable/channel.json";
        assert_eq!(resolve(base, "b.vub"), "http://10.0.2.2:8080/stable/b.vub");
        assert_eq!(resolve(base, "/fw/b.vub"), "http://10.0.2.2:8080/fw/b.vub");
        assert_eq!(resolve(base, "https://cdn/x.vub"), "https://cdn/x.vub");
        assert_eq!(resolve("http://h", "r/"), "http://h/r/");
    }

    #[test]
    fn the_draw_splits_the_fleet_as_the_percentage_says() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("dev-{i}")).collect();
        for pct in [1u8, 10, 34, 50, 100] {
            let n = ids.iter().filter(|d| in_rollout("salt-1", d, pct)).count();
            let want = usize::from(pct) * 100;
            assert!(n.abs_diff(want) <= want / 5 + 30, "{pct} %: {n} of 10000");
        }
        // A device in at 10 % is in at 50 %.
        assert!(ids.iter().filter(|d| in_rollout("s", d, 10)).all(|d| in_rollout("s", d, 50)));
        assert!(!ids.iter().any(|d| in_rollout("s", d, 0)));
    }

    #[test]
    fn a_device_decides_from_the_channel() {
        let c = channel();
        let url = "http://h/stable/channel.json";
        let inside = (0..).map(|i| format!("d{i}")).find(|d| in_rollout("s", d, 50)).unwrap();
        let outside = (0..).map(|i| format!("d{i}")).find(|d| !in_rollout("s", d, 50)).unwrap();
        assert_eq!(
            c.decide(url, &device(1), &inside),
            Ok(Decision::Install { build: 3, version: "0.3".into(), url: "http://h/fw/b-3.vub".into() })
        );
        assert_eq!(c.decide(url, &device(1), &outside), Ok(Decision::NotYet { build: 3, percent: 50 }));
        assert_eq!(c.decide(url, &device(3), &inside), Ok(Decision::UpToDate { build: 3 }));
        let mut d = device(1);
        d.rolled_back = vec![3];
        assert_eq!(c.decide(url, &d, &inside), Ok(Decision::RolledBack { build: 3 }));
        let mut p = c.clone();
        p.rollout.paused = true;
        p.rollout.why = Some("2 failed".into());
        assert_eq!(p.decide(url, &device(1), &inside), Ok(Decision::Paused { build: 3, why: "2 failed".into() }));
        let mut other = device(1);
        other.board = "z".into();
        assert_eq!(c.decide(url, &other, &inside), Err(Refusal::NoRelease("z".into())));
        // Rolling out build 2 only: build 3 is in the channel but not offered.
        let mut two = c.clone();
        two.rollout.build = 2;
        two.rollout.percent = 100;
        assert!(matches!(two.decide(url, &device(1), &outside), Ok(Decision::Install { build: 2, .. })));
    }

    #[test]
    fn advance_moves_on_holds_and_pauses() {
        let c = channel();
        let r = |device: &str, outcome| Report {
            device: device.into(),
            board: "b".into(),
            build: 3,
            outcome,
            reason: None,
            sequence: 5,
        };
        let t = Thresholds::default();
        assert!(matches!(advance(&c, &[], t), Step::Hold(_)));
        assert_eq!(
            advance(&c, &[r("a", Outcome::Confirmed)], t),
            Step::Advance { from: 50, to: 100, why: "1 reported on build 3: 1 kept, 0 failed, 0 in progress".into() }
        );
        assert!(matches!(advance(&c, &[r("a", Outcome::Confirmed), r("b", Outcome::Installed)], t), Step::Hold(_)));
        let p = advance(&c, &[r("a", Outcome::Confirmed), r("b", Outcome::RolledBack)], t);
        assert!(matches!(&p, Step::Pause(w) if w.contains("first: b")), "{p:?}");
        let mut full = c.clone();
        full.rollout.percent = 100;
        assert!(matches!(advance(&full, &[r("a", Outcome::Confirmed)], t), Step::Done(_)));
    }
}
