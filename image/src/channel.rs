//! The fleet channel on the host (`vigil-image channel publish | advance |
//! pause | status`): a directory to put on any web server or object store,
//! with `channel.json`, its signature `channel.json.minisig`, the bundles
//! under `bundles/`, and the devices' reports under `reports/`. The rules
//! (what a device does, when a rollout moves on or pauses) are the
//! firmware's own (`vigil_update::channel`).

use anyhow::{Context, Result, bail};
use std::path::Path;
use vigil_update::channel::{self, Channel, Report, Rollout, Step, Thresholds};

pub const CHANNEL: &str = "channel.json";
pub const SIGNATURE: &str = "channel.json.minisig";

/// The channel in `dir`, if there is one (not checked: this is the
/// publisher's own copy).
pub fn load(dir: &Path) -> Result<Option<Channel>> {
    let p = dir.join(CHANNEL);
    match std::fs::read(&p) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).with_context(|| format!("{}", p.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// Writes `c` with the next sequence number and its signature; the
/// signature goes first, then the channel is renamed into place, so a
/// server never serves a channel without its signature.
pub fn save(dir: &Path, c: &mut Channel, key: &Path) -> Result<()> {
    c.sequence += 1;
    let bytes = c.to_json();
    let sk = crate::update::secret_key(key)?;
    let comment = format!("vigil channel sequence {}", c.sequence);
    let sig =
        minisign::sign(None, &sk, &bytes[..], Some(&comment), None).map_err(|e| anyhow::anyhow!("signing: {e}"))?;
    let tmp = dir.join(".channel.json.partial");
    std::fs::write(&tmp, &bytes)?;
    std::fs::write(dir.join(SIGNATURE), sig.to_string())?;
    std::fs::rename(&tmp, dir.join(CHANNEL))?;
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `publish`: puts `bundle` in the channel and starts its rollout at
/// `percent`, with a new salt (so another share of the fleet goes first).
pub fn publish(
    dir: &Path,
    key: &Path,
    bundle: &Path,
    percent: u8,
    expires_days: u64,
    salt: Option<String>,
) -> Result<Channel> {
    if percent > 100 {
        bail!("--percent {percent}: a share of the fleet is 0 to 100");
    }
    let bytes = std::fs::read(bundle).with_context(|| format!("reading {}", bundle.display()))?;
    let p = crate::update::parse(&bytes).with_context(|| format!("{}", bundle.display()))?;
    if p.signature.is_empty() {
        bail!("{}: not signed (vigil-image sign --key KEY {})", bundle.display(), bundle.display());
    }
    let m = p.manifest;
    std::fs::create_dir_all(dir.join("bundles"))?;
    std::fs::create_dir_all(dir.join("reports"))?;
    let name = format!("bundles/{}-{}.vub", m.board, m.build);
    std::fs::copy(bundle, dir.join(&name)).with_context(|| format!("copying into {}", dir.display()))?;
    let mut c = load(dir)?.unwrap_or(Channel {
        format: channel::FORMAT,
        sequence: 0,
        expires: 0,
        releases: Vec::new(),
        rollout: Rollout { build: 0, percent: 0, salt: String::new(), paused: false, why: None },
        reports: "reports/".into(),
    });
    c.releases.retain(|r| !(r.board == m.board && r.build == m.build));
    c.releases.push(channel::Release {
        board: m.board.clone(),
        build: m.build,
        version: m.version.clone(),
        bundle: name,
        size: bytes.len() as u64,
    });
    c.releases.sort_by(|a, b| (&a.board, a.build).cmp(&(&b.board, b.build)));
    let salt = salt.unwrap_or_else(|| {
        let mut b = [0u8; 8];
        let _ = getrandom(&mut b);
        hex::encode(b)
    });
    c.rollout = Rollout { build: m.build, percent, salt, paused: false, why: None };
    c.expires = now() + expires_days * 86_400;
    save(dir, &mut c, key)?;
    Ok(c)
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// The devices' reports (the newest per device: one file each).
pub fn reports(dir: &Path) -> Result<Vec<Report>> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir.join("reports")) else { return Ok(out) };
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            match std::fs::read(&p).ok().and_then(|b| serde_json::from_slice::<Report>(&b).ok()) {
                Some(r) => out.push(r),
                None => eprintln!("{}: not a report; skipped", p.display()),
            }
        }
    }
    out.sort_by(|a, b| a.device.cmp(&b.device));
    Ok(out)
}

/// `advance`: the next step from the reports; a move or a pause is
/// written and signed. Returns the step.
pub fn advance(dir: &Path, key: &Path, t: Thresholds) -> Result<Step> {
    let mut c =
        load(dir)?.with_context(|| format!("{}: no {CHANNEL} (vigil-image channel publish first)", dir.display()))?;
    let step = channel::advance(&c, &reports(dir)?, t);
    match &step {
        Step::Advance { to, .. } => {
            c.rollout.percent = *to;
            save(dir, &mut c, key)?;
        }
        Step::Pause(why) => {
            c.rollout.paused = true;
            c.rollout.why = Some(why.clone());
            save(dir, &mut c, key)?;
        }
        Step::Hold(_) | Step::Done(_) => {}
    }
    Ok(step)
}

/// `pause`: stops the rollout where it is.
pub fn pause(dir: &Path, key: &Path, why: &str) -> Result<Channel> {
    let mut c = load(dir)?.with_context(|| format!("{}: no {CHANNEL}", dir.display()))?;
    c.rollout.paused = true;
    c.rollout.why = Some(why.to_string());
    save(dir, &mut c, key)?;
    Ok(c)
}

/// `status`: the channel and the reports, for people.
pub fn status(dir: &Path) -> Result<String> {
    let c = load(dir)?.with_context(|| format!("{}: no {CHANNEL}", dir.display()))?;
    let mut out = vec![format!("channel  sequence {}, expires {} (Unix time)", c.sequence, c.expires)];
    for r in &c.releases {
        out.push(format!("release  {} build {} ({}) {} ({} bytes)", r.board, r.build, r.version, r.bundle, r.size));
    }
    let ro = &c.rollout;
    out.push(format!(
        "rollout  build {} at {} %{}",
        ro.build,
        ro.percent,
        if ro.paused { format!(", paused: {}", ro.why.clone().unwrap_or_default()) } else { String::new() }
    ));
    for r in reports(dir)? {
        out.push(format!(
            "report   {} {} build {}: {:?}{}",
            r.device,
            r.board,
            r.build,
            r.outcome,
            r.reason.map(|w| format!(" ({w})")).unwrap_or_default()
        ));
    }
    Ok(out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_update::channel::Outcome;

    #[test]
    fn publish_advance_and_pause_sign_every_change() {
        let dir = std::env::temp_dir().join(format!("vigil-channel-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (sk, pk) = crate::update::keygen(&dir.join("k")).unwrap();
        let keys = [crate::update::public_key(&pk).unwrap()];
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let payload = vec![7u8; 100];
        let m = vigil_update::Manifest::of_payload("b", "x86_64", 3, "0.3", 0, 0, &payload);
        let bundle = dir.join("b3.vub");
        std::fs::write(&bundle, crate::update::unsigned(&m, &payload)).unwrap();
        let ch = dir.join("ch");
        assert!(publish(&ch, &sk, &bundle, 1, 30, None).unwrap_err().to_string().contains("not signed"));
        crate::update::sign(&bundle, &sk).unwrap();
        let c = publish(&ch, &sk, &bundle, 1, 30, Some("s".into())).unwrap();
        assert_eq!((c.sequence, c.rollout.build, c.rollout.percent), (1, 3, 1));
        let read = |seen| {
            let b = std::fs::read(ch.join(CHANNEL)).unwrap();
            let s = std::fs::read(ch.join(SIGNATURE)).unwrap();
            channel::read(&b, &s, &keys, seen, None)
        };
        assert_eq!(read(0).unwrap(), c);
        assert!(ch.join("bundles/b-3.vub").is_file());
        // No reports: hold. One kept: 1 -> 10. A failure: paused.
        assert!(matches!(advance(&ch, &sk, Thresholds::default()).unwrap(), Step::Hold(_)));
        let report = |d: &str, o| {
            let r = Report { device: d.into(), board: "b".into(), build: 3, outcome: o, reason: None, sequence: 1 };
            std::fs::write(ch.join(format!("reports/{d}.json")), serde_json::to_vec(&r).unwrap()).unwrap();
        };
        report("d1", Outcome::Confirmed);
        assert!(matches!(advance(&ch, &sk, Thresholds::default()).unwrap(), Step::Advance { from: 1, to: 10, .. }));
        assert_eq!(read(2).unwrap().rollout.percent, 10);
        report("d2", Outcome::RolledBack);
        assert!(matches!(advance(&ch, &sk, Thresholds::default()).unwrap(), Step::Pause(_)));
        let c = read(3).unwrap();
        assert!(c.rollout.paused && c.sequence == 3);
        assert!(status(&ch).unwrap().contains("report   d2 b build 3: RolledBack"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
