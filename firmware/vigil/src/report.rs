//! What a daemon tells PID 1 about itself, typed: the VRRP instances with
//! their counters, the health checks with their verdicts. Sent as postcard
//! over the child's socket; PID 1 renders the same value as `show` text for
//! people, as JSON for automation (`show vrrp json`) and as metrics.

use crate::ipc::VrrpState;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use vigil_vrrp::instance::Dropped;

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Report {
    /// Nothing reported yet (or the child that did is gone).
    #[default]
    Nothing,
    /// Status that is only ever read by people (the updater, BFD).
    Lines(Vec<String>),
    Vrrp(Vrrp),
    Checkers(Checkers),
}

/// The latest report of one child, as PID 1 (or the child) holds it.
/// Behind an `Arc`: `show`, the metrics and the console read the report
/// PID 1 holds without copying it (37,298 checks at #2318's shape) on the
/// loop, and render it off the loop.
pub type Shared = Arc<Mutex<Arc<Report>>>;

/// The latest report (shared, not copied).
pub fn latest(r: &Shared) -> Arc<Report> {
    r.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

pub fn set(r: &Shared, to: Report) {
    *r.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(to);
}

/// The latest report, taken out (leaving [`Report::Nothing`]) with its
/// fingerprint; None when there is none. A child's report waits here only
/// until it is sent: copying it out to send was one more copy of 37,298
/// checks (and a third while the next was built), and keeping the last one
/// sent to compare would be another.
pub fn take(r: &Shared) -> Option<(u64, Report)> {
    use std::hash::{Hash, Hasher};
    let mut r = r.lock().unwrap_or_else(|p| p.into_inner());
    if **r == Report::Nothing {
        return None;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    r.hash(&mut h);
    // Nobody else holds a child's own report (it is only ever taken), so
    // this moves it out; were it shared, it is copied.
    let report = Arc::try_unwrap(std::mem::take(&mut *r)).unwrap_or_else(|shared| (*shared).clone());
    Some((h.finish(), report))
}

impl Report {
    /// The `show` text; `none` when there is nothing to say.
    pub fn text(&self, none: &str) -> String {
        let lines = match self {
            Report::Nothing => Vec::new(),
            Report::Lines(l) => l.clone(),
            Report::Vrrp(v) => v.lines(),
            Report::Checkers(c) => c.lines(),
        };
        if lines.is_empty() { none.to_string() } else { lines.join("\n") }
    }

    /// `show TOPIC json`: one JSON object. Written straight from the
    /// report: through a `serde_json::Value` it was a tree of 37,298 maps
    /// built and dropped at #2318's shape, 0.3 s of CPU.
    pub fn json(&self) -> String {
        let written = match self {
            Report::Nothing => Ok("{}".to_string()),
            Report::Lines(l) => serde_json::to_string(&serde_json::json!({ "lines": l })),
            Report::Vrrp(v) => serde_json::to_string(v),
            Report::Checkers(c) => serde_json::to_string(c),
        };
        // Only maps with string keys and plain values: it cannot fail.
        written.unwrap_or_else(|_| "{}".to_string())
    }
}

/// The VRRP daemon's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Vrrp {
    pub instances: Vec<Instance>,
    /// What each tracked script, process, BFD session and file says now.
    pub trackers: Vec<Tracker>,
    /// Interfaces that carried adverts for VRIDs no instance runs.
    pub strays: Vec<Stray>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Instance {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    pub state: VrrpState,
    /// As configured.
    pub priority: u8,
    /// With tracking: what the adverts carry.
    pub effective_priority: u8,
    /// The virtual addresses, as `192.0.2.100/24` is written in the config
    /// (the prefix left out).
    pub addresses: Vec<String>,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub became_master: u64,
    pub released_master: u64,
    pub priority_zero_sent: u64,
    pub priority_zero_received: u64,
    pub transitions: u64,
    /// Milliseconds since the Unix epoch; none before the first.
    pub last_transition_ms: Option<u64>,
    pub dropped: Drops,
}

/// Adverts dropped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Drops {
    pub version: u64,
    pub vrid: u64,
    pub auth: u64,
    pub interval: u64,
    pub not_listening: u64,
    pub addresses: u64,
    pub not_a_peer: u64,
    pub ttl: u64,
    pub malformed: u64,
}

impl Drops {
    /// Each reason's label in the metrics and its count: first the six an
    /// instance drops for (in [`Dropped::ALL`]'s order), then the router's.
    pub fn counts(&self) -> [(&'static str, u64); 9] {
        [
            ("version", self.version),
            ("vrid", self.vrid),
            ("auth", self.auth),
            ("interval", self.interval),
            ("not_listening", self.not_listening),
            ("addresses", self.addresses),
            ("not_a_peer", self.not_a_peer),
            ("ttl", self.ttl),
            ("malformed", self.malformed),
        ]
    }

    /// `show vrrp`'s words for each reason and its count: the instance's
    /// own reasons say what [`Dropped`] says.
    fn in_words(&self) -> impl Iterator<Item = (String, u64)> {
        Dropped::ALL
            .iter()
            .map(|d| d.to_string())
            .chain(["not a unicast peer", "TTL not 255", "malformed"].map(String::from))
            .zip(self.counts().map(|c| c.1))
    }

    pub fn total(&self) -> u64 {
        self.counts().iter().map(|c| c.1).sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrackerKind {
    Script,
    Process,
    Bfd,
    File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Track {
    /// Not run (counted, heard of) yet.
    Init,
    Good,
    Bad,
    /// A tracked file's number.
    Value(i32),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tracker {
    pub kind: TrackerKind,
    pub name: String,
    pub state: Track,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stray {
    pub interface: String,
    pub ipv6: bool,
    pub count: u64,
    pub last_vrid: u8,
    pub last_from: String,
}

impl Vrrp {
    /// `show vrrp`: a line per instance (its drops by reason), per tracker,
    /// per interface that had adverts for VRIDs no instance runs.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for v in &self.instances {
            let mut line = format!(
                "{} {} vrid {} {} priority {} adverts sent {} received {} dropped {}",
                v.name,
                // An instance without an interface (unicast only).
                if v.interface.is_empty() { "unicast" } else { &v.interface },
                v.vrid,
                v.state,
                v.effective_priority,
                v.adverts_sent,
                v.adverts_received,
                v.dropped.total()
            );
            let why: Vec<String> =
                v.dropped.in_words().filter(|r| r.1 > 0).map(|(words, n)| format!("{n} {words}")).collect();
            if !why.is_empty() {
                let _ = write!(line, " ({})", why.join(", "));
            }
            lines.push(line);
        }
        for t in &self.trackers {
            lines.push(match (t.kind, t.state) {
                (_, Track::Value(n)) => format!("vrrp_track_file {}: {n}", t.name),
                (TrackerKind::Bfd, s) => format!(
                    "bfd_instance {}: {}",
                    t.name,
                    match s {
                        Track::Good => "up",
                        Track::Bad => "down",
                        _ => "not heard of yet",
                    }
                ),
                (TrackerKind::Process, s) => format!(
                    "vrrp_track_process {}: {}",
                    t.name,
                    match s {
                        Track::Good => "in quorum",
                        Track::Bad => "out of quorum",
                        _ => "not counted yet",
                    }
                ),
                (_, s) => format!(
                    "vrrp_script {}: {}",
                    t.name,
                    match s {
                        Track::Good => "succeeding",
                        Track::Bad => "failing",
                        _ => "not run yet",
                    }
                ),
            });
        }
        for s in &self.strays {
            lines.push(format!(
                "{} ({}): {} adverts for VRIDs no instance runs (the last: VRID {} from {})",
                s.interface,
                if s.ipv6 { "IPv6" } else { "IPv4" },
                s.count,
                s.last_vrid,
                s.last_from
            ));
        }
        lines
    }
}

/// The health checkers' report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Checkers {
    pub virtual_servers: Vec<VirtualServer>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VirtualServer {
    /// `192.0.2.100:80`, `fwmark 7`, `group NAME`.
    pub name: String,
    pub quorum: bool,
    pub checks: Vec<Check>,
}

/// One check. Neither its keyword nor its address takes an allocation of
/// its own (two of them a check were 2.4 MB of each copy of the report at
/// issue #2318's 37,298 real servers), in the child that makes the report
/// nor in PID 1 that decodes it; JSON writes both as strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Check {
    /// The keyword: TCP_CHECK, HTTP_GET, ...
    pub kind: Keyword,
    pub real_server: std::net::SocketAddr,
    pub up: bool,
    /// (32 bits, as the checks count them: see `CheckTimer`.)
    pub probes: u32,
    pub failed: u32,
    /// Why the last probe failed, if it did.
    pub error: Option<Box<str>>,
    /// How long the last probe took, in microseconds.
    pub latency_us: Option<u32>,
}

impl Checkers {
    /// `show checkers`: a line per virtual server, one per check under it.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for vs in &self.virtual_servers {
            let q = if vs.quorum { "quorum up" } else { "QUORUM LOST" };
            lines.push(format!("virtual server {}: {q}", vs.name));
            for c in &vs.checks {
                lines.push(format!(
                    "  {} {}: {} (probes {}, failed {}){}",
                    c.kind,
                    c.real_server,
                    if c.up { "up" } else { "DOWN" },
                    c.probes,
                    c.failed,
                    c.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                ));
            }
        }
        lines
    }
}

/// A checker's keyword (TCP_CHECK, HTTP_GET, ...): its place in
/// `CheckKind::KEYWORDS`, a byte in each of a report's checks (37,298 at
/// #2318's shape: a `Cow<str>` was 24 bytes of each, in the child that
/// makes the report and in PID 1 that holds it); written and read as its
/// text, in JSON as in the message between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Keyword(u8);

impl Keyword {
    pub fn of(kind: &vigil_config::CheckKind) -> Keyword {
        Keyword(kind.keyword_index() as u8)
    }

    /// One of `CheckKind::KEYWORDS`, or None.
    pub fn named(text: &str) -> Option<Keyword> {
        let i = vigil_config::CheckKind::KEYWORDS.iter().position(|k| *k == text)?;
        Some(Keyword(i as u8))
    }

    pub fn as_str(self) -> &'static str {
        vigil_config::CheckKind::KEYWORDS.get(usize::from(self.0)).copied().unwrap_or("?")
    }
}

impl std::fmt::Display for Keyword {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Keyword {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Keyword {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keyword, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Keyword;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a checker keyword")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Keyword, E> {
                Keyword::named(s).ok_or_else(|| E::custom(format!("{s:?} is not a checker keyword")))
            }
        }
        d.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A check's keyword goes between the processes as its text and comes
    /// back as the same keyword; a text that is none is an error.
    #[test]
    fn checker_keywords_go_as_text() {
        let check = |kind: &str| Check {
            kind: Keyword::named(kind).unwrap(),
            real_server: "10.0.0.1:80".parse().unwrap(),
            up: true,
            probes: 1,
            failed: 0,
            error: None,
            latency_us: None,
        };
        for kind in vigil_config::CheckKind::KEYWORDS {
            let bytes = postcard::to_allocvec(&check(kind)).unwrap();
            let back: Check = postcard::from_bytes(&bytes).unwrap();
            assert_eq!((back.kind.as_str(), &back), (kind, &check(kind)));
        }
        assert_eq!(serde_json::to_string(&Keyword::named("SSL_GET").unwrap()).unwrap(), "\"SSL_GET\"");
        assert!(Keyword::named("NEW_CHECK").is_none());
        let bytes = postcard::to_allocvec(&"NEW_CHECK").unwrap();
        assert!(postcard::from_bytes::<Keyword>(&bytes).is_err());
        assert_eq!(Keyword::of(&vigil_config::CheckKind::Ping).as_str(), "PING_CHECK");
    }

    fn instance() -> Instance {
        Instance {
            name: "VI_1".into(),
            interface: "eth0".into(),
            vrid: 51,
            version: 3,
            state: VrrpState::Master,
            priority: 100,
            effective_priority: 90,
            addresses: vec!["192.0.2.100".into()],
            adverts_sent: 12,
            adverts_received: 3,
            dropped: Drops { vrid: 2, ttl: 1, ..Drops::default() },
            ..Instance::default()
        }
    }

    #[test]
    fn show_vrrp_says_each_instance_tracker_and_stray_in_words() {
        let r = Report::Vrrp(Vrrp {
            instances: vec![instance()],
            trackers: vec![
                Tracker { kind: TrackerKind::Script, name: "chk".into(), state: Track::Bad },
                Tracker { kind: TrackerKind::Bfd, name: "b1".into(), state: Track::Init },
                Tracker { kind: TrackerKind::File, name: "f".into(), state: Track::Value(-20) },
            ],
            strays: vec![Stray {
                interface: "eth1".into(),
                ipv6: false,
                count: 4,
                last_vrid: 9,
                last_from: "192.0.2.7".into(),
            }],
        });
        assert_eq!(
            r.text("none"),
            "VI_1 eth0 vrid 51 MASTER priority 90 adverts sent 12 received 3 dropped 3 (2 another VRID, 1 TTL not 255)\n\
             vrrp_script chk: failing\n\
             bfd_instance b1: not heard of yet\n\
             vrrp_track_file f: -20\n\
             eth1 (IPv4): 4 adverts for VRIDs no instance runs (the last: VRID 9 from 192.0.2.7)"
        );
        assert_eq!(
            Report::Vrrp(Vrrp::default()).text("no VRRP instances are running"),
            "no VRRP instances are running"
        );
    }

    #[test]
    fn json_is_the_report_itself() {
        let r = Report::Vrrp(Vrrp { instances: vec![instance()], ..Vrrp::default() });
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(v["instances"][0]["name"], "VI_1");
        assert_eq!(v["instances"][0]["state"], "Master");
        assert_eq!(v["instances"][0]["dropped"]["vrid"], 2);
        let c = Report::Checkers(Checkers {
            virtual_servers: vec![VirtualServer {
                name: "192.0.2.100:80".into(),
                quorum: false,
                checks: vec![Check {
                    kind: Keyword::named("TCP_CHECK").unwrap(),
                    real_server: "192.0.2.1:80".parse().unwrap(),
                    up: false,
                    error: Some("connection refused".into()),
                    probes: 3,
                    failed: 3,
                    latency_us: None,
                }],
            }],
        });
        assert_eq!(
            c.text(""),
            "virtual server 192.0.2.100:80: QUORUM LOST\n  TCP_CHECK 192.0.2.1:80: DOWN (probes 3, failed 3): connection refused"
        );
        let v: serde_json::Value = serde_json::from_str(&c.json()).unwrap();
        assert_eq!(v["virtual_servers"][0]["checks"][0]["up"], false);
        assert_eq!(Report::Lines(vec!["a".into()]).json(), r#"{"lines":["a"]}"#);
    }
}
