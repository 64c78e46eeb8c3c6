//! Golden event traces, in the holo-vrrp style: each file under
//! `tests/traces/` is JSON lines of events going into a [`Router`] (with
//! the time they happen, in milliseconds) and the actions that come out
//! (with the time they came out, to the microsecond). The test replays the
//! events, fires the timers in between exactly when the router asks, and
//! compares everything that came out with the file, line by line.
//!
//! Input lines (a missing field takes the default in [`spec`]):
//!   {"note": "..."}                                  a comment, kept
//!   {"at": 0, "configure": {"instances": [...], "groups": [["A","B"]], "resume": ["A"]}}
//!   {"at": 0, "links": {"eth1": false}}              others are up
//!   {"at": 0, "addresses": ["10.0.0.5"]}             the system's (track_src)
//!   {"at": 0, "removed": ["192.0.2.100"]}            RTM_DELADDR's (tracked)
//!   {"at": 0, "lost": {"instance": "VI_1", "route": 0}}   (or "rule": N)
//!   {"at": 0, "script": {"name": "chk", "verdict": "good"}}   (or bad, init)
//!   {"at": 0, "file": {"name": "maint", "value": 3}}
//!   {"at": 5, "advert": {"if": 2, "src": "...", "priority": 200, ...}}
//!   {"at": 5, "datagram": {"if": 2, "src": "...", "ttl": 255, "hex": "31..."}}
//!   {"at": 9, "hand_over": {"wait_ms": 1000}}
//!   {"at": 9, "shutdown": {}}
//!   {"at": 9000, "tick": {}}                         only lets time pass
//! Output lines: {"at": 3609.375, "out": {...}}.
//!
//! `VIGIL_BLESS=1 cargo test -p vigil-vrrp --test traces` rewrites the
//! files' output lines from what the router does now: read the diff before
//! committing it (a new trace's outputs are checked by hand against the RFC).

use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use vigil_vrrp::instance::{self, State};
use vigil_vrrp::router::{Action, Garp, Id, Lost, Router, Spec, TrackedScript};
use vigil_vrrp::script::Verdict;
use vigil_vrrp::wire::{Packet, Repr};

fn ip(v: &Value) -> IpAddr {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not an address: {v}"))
}

fn num(v: &Value, key: &str, default: u64) -> u64 {
    v.get(key).map_or(default, |x| x.as_u64().unwrap_or_else(|| panic!("{key}: not a number: {x}")))
}

fn addrs(v: &Value) -> Vec<IpAddr> {
    v.as_array().map(|a| a.iter().map(ip).collect()).unwrap_or_default()
}

/// An instance from a trace; defaults: VRRPv3, 1 s, preempt, garp as
/// keepalived (5 rounds at once, a second burst 5 s later).
fn spec(v: &Value) -> Spec {
    let name = v["name"].as_str().expect("an instance needs a name").to_string();
    let auth = v.get("auth").and_then(Value::as_str).map(|p| {
        let mut a = [0u8; 8];
        a[..p.len()].copy_from_slice(p.as_bytes());
        a
    });
    Spec {
        name,
        ifname: v.get("ifname").and_then(Value::as_str).unwrap_or("eth0").to_string(),
        ifindex: num(v, "if", 2) as i32,
        peers: v.get("peers").map(addrs).unwrap_or_default(),
        group: v.get("group").map(ip),
        fault_no_peer: v.get("unicast_fault_no_peer").and_then(Value::as_bool).unwrap_or(false),
        track_src: v.get("track_src").map(ip),
        tracked_addresses: v.get("tracked").map(addrs).unwrap_or_default(),
        track_primary: !v.get("dont_track_primary").and_then(Value::as_bool).unwrap_or(false),
        vrrp: instance::Config {
            version: num(v, "version", 3) as u8,
            vrid: num(v, "vrid", 1) as u8,
            priority: num(v, "priority", 100) as u8,
            advert_int_cs: num(v, "interval_cs", 100) as u16,
            preempt: v.get("preempt").and_then(Value::as_bool).unwrap_or(true),
            preempt_delay: Duration::from_millis(num(v, "preempt_delay_ms", 0)),
            addrs: v.get("addrs").map(addrs).unwrap_or_else(|| vec!["192.0.2.100".parse().unwrap()]),
            primary: ip(&v["primary"]),
            auth,
            garp_delay: Duration::from_millis(num(v, "garp_delay_ms", 5000)),
            garp_refresh: v.get("garp_refresh_ms").and_then(Value::as_u64).map(Duration::from_millis),
            garp_lower_prio_delay: Duration::from_millis(num(v, "garp_lower_prio_delay_ms", 0)),
            garp_extra: v.get("garp_extra_ms").and_then(Value::as_u64).map(Duration::from_millis),
            down_timer_adverts: num(v, "down_timer_adverts", 3) as u8,
            skip_check_adv_addr: v.get("skip_check_adv_addr").and_then(Value::as_bool).unwrap_or(false),
            lower_prio_no_advert: v.get("lower_prio_no_advert").and_then(Value::as_bool).unwrap_or(false),
            higher_prio_send_advert: v.get("higher_prio_send_advert").and_then(Value::as_bool).unwrap_or(false),
        },
        garp: Garp {
            repeat: num(v, "garp_repeat", 5) as u32,
            refresh_repeat: num(v, "garp_refresh_repeat", 1) as u32,
            lower_prio_repeat: num(v, "garp_lower_prio_repeat", num(v, "garp_repeat", 5)) as u32,
            interval: Duration::from_millis(num(v, "garp_interval_ms", 0)),
        },
        track: v
            .get("track")
            .and_then(Value::as_object)
            .map(|t| t.iter().map(|(k, w)| (k.clone(), w.as_i64().unwrap_or(0) as i16)).collect())
            .unwrap_or_default(),
        files: tracked(v, "files"),
        scripts: tracked(v, "scripts"),
    }
}

/// `{"chk": 0, "other": [-20, true]}`: name, weight, reverse.
fn tracked(v: &Value, key: &str) -> Vec<TrackedScript> {
    v.get(key)
        .and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .map(|(name, w)| {
                    let (weight, reverse) = match w {
                        Value::Array(a) => (a[0].as_i64().unwrap(), a[1].as_bool().unwrap()),
                        w => (w.as_i64().unwrap(), false),
                    };
                    TrackedScript { name: name.clone(), weight: weight as i16, reverse }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn state(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

/// Milliseconds since the trace's start: a whole number when it is one.
fn at(t0: Instant, now: Instant) -> Value {
    let us = now.duration_since(t0).as_micros();
    if us.is_multiple_of(1000) { json!(us / 1000) } else { json!(us as f64 / 1000.0) }
}

struct Replay {
    t0: Instant,
    now: Instant,
    router: Router,
    names: HashMap<Id, String>,
    /// The sources of each instance, to decode what it transmits.
    primaries: HashMap<Id, IpAddr>,
    out: Vec<Value>,
}

impl Replay {
    fn name(&self, id: Id) -> Value {
        json!(self.names.get(&id).cloned().unwrap_or_else(|| id.to_string()))
    }

    fn collect(&mut self) {
        while let Some(a) = self.router.poll_action() {
            let o = match a {
                Action::Transmit { id, dst, payload } => {
                    let src = self.primaries[&id];
                    let r = Packet::new_checked(&payload[..])
                        .and_then(|p| Repr::parse(&p, src, dst))
                        .unwrap_or_else(|e| panic!("the router sent a bad packet ({e}): {payload:02x?}"));
                    let mut t = json!({"instance": self.name(id), "dst": dst.to_string(), "version": r.version,
                        "vrid": r.vrid, "priority": r.priority, "interval_cs": r.interval_cs,
                        "addrs": r.addrs.iter().map(ToString::to_string).collect::<Vec<_>>()});
                    if let Some(a) = r.auth {
                        t["auth"] = json!(String::from_utf8_lossy(&a).trim_end_matches('\0'));
                    }
                    json!({ "transmit": t })
                }
                Action::StateChange { id, from, to } => {
                    json!({"state": {"instance": self.name(id), "from": state(from), "to": state(to)}})
                }
                Action::GroupState { group, to } => json!({"group": {"group": group, "to": state(to)}}),
                Action::HeardLower { id, from, priority } => {
                    json!({"heard_lower": {"instance": self.name(id), "from": from.to_string(), "priority": priority}})
                }
                Action::Lost { id, what: Lost::Address(addr) } => {
                    json!({"address_lost": {"instance": self.name(id), "addr": addr.to_string()}})
                }
                Action::Lost { id, what: Lost::Route(n) } => {
                    json!({"route_lost": {"instance": self.name(id), "route": n}})
                }
                Action::Lost { id, what: Lost::Rule(n) } => {
                    json!({"rule_lost": {"instance": self.name(id), "rule": n}})
                }
                Action::Priority { id, from, to } => {
                    json!({"priority": {"instance": self.name(id), "from": from, "to": to}})
                }
                Action::HandedOver(list) => {
                    json!({"handed_over": list.iter().map(|(id, b)| json!([self.name(*id), b])).collect::<Vec<_>>()})
                }
                Action::AddAddresses(id) => json!({"add_addresses": self.name(id)}),
                Action::RemoveAddresses(id) => json!({"remove_addresses": self.name(id)}),
                Action::Announce(id) => json!({"announce": self.name(id)}),
                Action::AnnounceElsewhere(id) => json!({"announce_elsewhere": self.name(id)}),
                Action::Removed(id) => json!({"removed": self.name(id)}),
            };
            self.out.push(json!({"at": at(self.t0, self.now), "out": o}));
        }
    }

    /// Fires the router's timers up to `until`, each at its own time.
    fn run_until(&mut self, until: Instant) {
        while let Some(t) = self.router.poll_timeout().filter(|t| *t <= until) {
            self.now = self.now.max(t);
            self.router.handle_timeout(self.now);
            self.collect();
        }
        self.now = until;
    }

    /// Lets time pass up to the event (the timers' actions come out),
    /// then the event (echoed) and what it causes.
    fn event(&mut self, ev: &Value) {
        let ms = ev["at"].as_f64().expect("an event needs \"at\" (ms)");
        self.run_until(self.t0 + Duration::from_micros((ms * 1000.0).round() as u64));
        self.out.push(ev.clone());
        let now = self.now;
        if let Some(c) = ev.get("configure") {
            let specs: Vec<Spec> = c["instances"].as_array().map(|a| a.iter().map(spec).collect()).unwrap_or_default();
            let groups: Vec<Vec<String>> = c
                .get("groups")
                .and_then(Value::as_array)
                .map(|g| {
                    g.iter()
                        .map(|m| m.as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect())
                        .collect()
                })
                .unwrap_or_default();
            let resume: Vec<String> = c
                .get("resume")
                .and_then(Value::as_array)
                .map(|r| r.iter().map(|n| n.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            let primaries: Vec<(String, IpAddr)> = specs.iter().map(|s| (s.name.clone(), s.vrrp.primary)).collect();
            let added = self.router.configure(now, specs, &groups, |s| resume.contains(&s.name));
            for (id, name) in added {
                let primary = primaries.iter().find(|p| p.0 == name).map(|p| p.1).unwrap();
                self.primaries.insert(id, primary);
                self.names.insert(id, name);
            }
        } else if let Some(f) = ev.get("file") {
            let value = f["value"].as_i64().expect("a file's value is a number") as i32;
            self.router.handle_file(now, f["name"].as_str().expect("a file needs a name"), value);
        } else if let Some(sc) = ev.get("script") {
            let verdict = match sc["verdict"].as_str() {
                Some("good") => Verdict::Good,
                Some("bad") => Verdict::Bad,
                Some("init") => Verdict::Init,
                v => panic!("a script's verdict is good, bad or init, not {v:?}"),
            };
            self.router.handle_script(now, sc["name"].as_str().expect("a script needs a name"), verdict);
        } else if let Some(l) = ev.get("links") {
            let down: Vec<String> =
                l.as_object().unwrap().iter().filter(|(_, up)| up == &&json!(false)).map(|(n, _)| n.clone()).collect();
            self.router.handle_links(now, |n| !down.iter().any(|d| d == n));
        } else if let Some(a) = ev.get("addresses") {
            let present: Vec<IpAddr> = addrs(a);
            self.router.handle_addresses(now, present);
        } else if let Some(a) = ev.get("removed") {
            self.router.handle_removed(now, &addrs(a));
        } else if let Some(l) = ev.get("lost") {
            let name = l["instance"].as_str().expect("lost: which instance");
            let id = *self.names.iter().find(|(_, n)| *n == name).expect("lost: a configured instance").0;
            let what = match (l.get("route").and_then(Value::as_u64), l.get("rule").and_then(Value::as_u64)) {
                (Some(n), _) => Lost::Route(n as usize),
                (_, Some(n)) => Lost::Rule(n as usize),
                _ => panic!("lost: a route or a rule"),
            };
            self.router.handle_lost(now, id, what);
        } else if let Some(a) = ev.get("advert").or_else(|| ev.get("datagram")) {
            let src = ip(&a["src"]);
            let payload = match a.get("hex").and_then(Value::as_str) {
                Some(h) => (0..h.len() / 2).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap()).collect(),
                None => {
                    let auth = a.get("auth").and_then(Value::as_str).map(|p| {
                        let mut b = [0u8; 8];
                        b[..p.len()].copy_from_slice(p.as_bytes());
                        b
                    });
                    let version = num(a, "version", 3) as u8;
                    let r = Repr {
                        version,
                        vrid: num(a, "vrid", 1) as u8,
                        priority: num(a, "priority", 100) as u8,
                        interval_cs: num(a, "interval_cs", 100) as u16,
                        addrs: a.get("addrs").map(addrs).unwrap_or_else(|| vec!["192.0.2.100".parse().unwrap()]),
                        auth: if version == 2 { auth } else { None },
                    };
                    let dst = a.get("dst").map(ip).unwrap_or_else(|| {
                        if src.is_ipv6() { "ff02::12".parse().unwrap() } else { "224.0.0.18".parse().unwrap() }
                    });
                    r.emit(src, dst).unwrap()
                }
            };
            let notice =
                self.router.handle_datagram(now, num(a, "if", 2) as i32, src, num(a, "ttl", 255) as u8, &payload);
            if let Some(n) = notice {
                let instance = n.id.map_or(Value::Null, |id| self.name(id));
                self.out.push(json!({"at": at(self.t0, now), "out": {"notice": {"instance": instance, "held": n.held, "text": n.what.to_string()}}}));
            }
        } else if let Some(h) = ev.get("hand_over") {
            self.router.hand_over(now, Duration::from_millis(num(h, "wait_ms", 10_000)));
        } else if ev.get("shutdown").is_some() {
            self.router.shutdown(now);
        } else if ev.get("tick").is_none() {
            panic!("unknown event: {ev}");
        }
        self.collect();
    }
}

/// A trace line as written: the time first, then the rest (keys sorted).
fn line(v: &Value) -> String {
    let mut rest = v.clone();
    let Some(at) = rest.as_object_mut().and_then(|o| o.remove("at")) else {
        return serde_json::to_string(v).unwrap();
    };
    let tail = serde_json::to_string(&rest).unwrap();
    format!("{{\"at\":{at},{}", &tail[1..])
}

fn replay(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}:{}: not JSON: {e}", path.display(), n + 1)))
        .collect();
    let t0 = Instant::now();
    let mut r = Replay {
        t0,
        now: t0,
        router: Router::new(t0),
        names: HashMap::new(),
        primaries: HashMap::new(),
        out: Vec::new(),
    };
    for l in lines.iter().filter(|l| l.get("out").is_none()) {
        if l.get("note").is_some() && l.get("at").is_none() {
            r.out.push(l.clone());
            continue;
        }
        r.event(l);
    }
    let got: Vec<String> = r.out.iter().map(line).collect();
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::write(path, got.join("\n") + "\n").unwrap();
        return;
    }
    let want: Vec<String> = lines.iter().map(line).collect();
    if got != want {
        let first = got.iter().zip(&want).position(|(g, w)| g != w).unwrap_or(got.len().min(want.len()));
        panic!(
            "{}: differs from line {} of the trace\n  want: {}\n  got:  {}\n(VIGIL_BLESS=1 rewrites the trace)",
            path.display(),
            first + 1,
            want.get(first).map_or("(end)", String::as_str),
            got.get(first).map_or("(end)", String::as_str)
        );
    }
}

#[test]
fn golden_traces() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the traces are missing from {}", dir.display());
    for f in &files {
        replay(f);
    }
}
