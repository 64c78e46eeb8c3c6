//! The console fuzzer: seeded random keys, words, pastes and escape
//! sequences typed into the sans-IO shell over the real config store (on
//! in-memory flash). Whatever is typed: no panic; each key's output is
//! bounded (a few bytes for an editing key, the size of the configs for a
//! command), so no key can cost quadratic work; and the flash only ever
//! holds generations that load and validate.
//!
//! `cargo test -p vigil-shell --test console_fuzz` runs a fixed count;
//! `VIGIL_FUZZ_SESSIONS=5000 VIGIL_FUZZ_SEED=7 cargo test --release ...` runs
//! longer by hand.

use std::time::{Duration, Instant};
use vigil_config::Config;
use vigil_config::keepalived::{Flavor, export};
use vigil_config::store::{MemFlash, Store};
use vigil_shell::editor::MAX_LINE;
use vigil_shell::session::{Shell, System};

struct MemSystem {
    store: Store<MemFlash>,
}

impl System for MemSystem {
    fn commit(&mut self, config: &Config, unconfirmed: bool) -> Result<u64, String> {
        self.store.commit(config, unconfirmed).map_err(|e| e.to_string())
    }
    fn history(&mut self) -> Vec<u64> {
        self.store.history().into_iter().map(|h| h.0).collect()
    }
    fn load_generation(&mut self, g: u64) -> Result<Config, String> {
        self.store.load_generation(g).map_err(|e| e.to_string())
    }
    fn status(&mut self, topic: &str) -> Option<String> {
        (topic == "system").then(|| "hostname fuzz".to_string())
    }
    fn status_topics(&self) -> Vec<String> {
        vec!["system".into()]
    }
    fn random_salt(&mut self) -> [u8; 16] {
        [7; 16]
    }
}

const WORDS: &[&str] = &[
    "set",
    "delete",
    "show",
    "config",
    "candidate",
    "compare",
    "commit",
    "confirm",
    "confirmed",
    "1",
    "rollback",
    "load",
    "keepalived",
    "end",
    "export",
    "help",
    "history",
    "limits",
    "system",
    "logout",
    "poweroff",
    "reboot",
    "halt",
    "now",
    "y",
    "n",
    "vrrp_instance",
    "VI_1",
    "VI_2",
    "priority",
    "100",
    "300",
    "0",
    "interface",
    "eth0",
    "\"eth 0\"",
    "virtual_router_id",
    "51",
    "virtual_ipaddress",
    "10.0.0.1/24",
    "10.0.0.2/33",
    "virtual_server",
    "10.0.0.10",
    "80",
    "real_server",
    "10.0.0.11",
    "weight",
    "nopreempt",
    "vigil_defs",
    "hostname",
    "lb-1",
    "-bad-",
    "global_defs",
    "router_id",
    "{",
    "}",
    "\"a\\\"b\"",
    "\\\\",
    "vrrp_sync_group",
    "G1",
    "group",
    "advert_int",
    "0.5",
    "state",
    "MASTER",
    "track_interface",
    "unicast_peer",
    "é",
    "ünïcödé",
];

const KEYS: &[&[u8]] = &[
    b"\r",
    b"\n",
    b"\r\n",
    b"\t",
    b"?",
    b" ",
    b"\x7f",
    b"\x08",
    b"\x01",
    b"\x05",
    b"\x02",
    b"\x06",
    b"\x0b",
    b"\x15",
    b"\x17",
    b"\x0c",
    b"\x03",
    b"\x04",
    b"\x1b",
    b"\x1b[A",
    b"\x1b[B",
    b"\x1b[C",
    b"\x1b[D",
    b"\x1b[H",
    b"\x1b[F",
    b"\x1b[3~",
    b"\x1b[1;5C",
    b"\x1b[1;5D",
    b"\x1bOH",
    b"\x1bOF",
    b"\x1b[1;2;3;4;5m",
    b"\x1b[?25h",
    b"\x1b[999999999~",
    b"\x1b[",
    b"\x1bO",
];

/// A paste of keepalived.conf, sometimes broken.
fn paste(rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut text = String::from("load keepalived\r");
    let good =
        "vrrp_instance VI_3 {\r interface eth0\r virtual_router_id 33\r virtual_ipaddress {\r  10.0.3.1/24\r }\r}\r";
    match rng.u8(0..4) {
        0 => text.push_str(good),
        1 => text.push_str(&"a {\r".repeat(rng.usize(1..200))),
        2 => text.push_str(&good[..rng.usize(0..good.len())]),
        _ => {
            for _ in 0..rng.usize(1..20) {
                text.push_str(WORDS[rng.usize(0..WORDS.len())]);
                text.push(if rng.bool() { ' ' } else { '\r' });
            }
        }
    }
    if rng.u8(0..4) != 0 {
        text.push_str("end\r");
    }
    text.into_bytes()
}

fn input(rng: &mut fastrand::Rng) -> Vec<u8> {
    match rng.u8(0..100) {
        0..=39 => {
            let mut line = String::new();
            for _ in 0..rng.usize(1..8) {
                line.push_str(WORDS[rng.usize(0..WORDS.len())]);
                line.push(' ');
            }
            if rng.u8(0..4) != 0 {
                line.push('\r');
            }
            line.into_bytes()
        }
        40..=69 => KEYS[rng.usize(0..KEYS.len())].to_vec(),
        70..=84 => (0..rng.usize(1..16)).map(|_| rng.u8(..)).collect(),
        85..=89 => paste(rng),
        93 => {
            // Edits in the middle of a long line.
            let mut v = vec![b'w'; rng.usize(1000..5000)];
            v.extend_from_slice(if rng.bool() { b"\x01" } else { b"\x1b[D\x1b[D\x1b[1;5D" });
            v.extend_from_slice(b"abc\x7f\x7f\x1b[3~d");
            v
        }
        94 => b"delete vrrp_instance VI_1 nopreempt\rset vrrp_instance VI_1 priority 120\rcommit\r".to_vec(),
        90..=92 => vec![b"xy z"[rng.usize(0..4)]; rng.usize(100..5000)],
        _ => {
            let mut v = b"set vrrp_instance VI_1 priority 1".to_vec();
            v.extend(std::iter::repeat_n(b'\t', rng.usize(1..50)));
            v
        }
    }
}

fn default_config() -> Config {
    vigil_config::keepalived::import_str(
        "default",
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 10.0.0.1/24\n }\n}\n",
    )
    .unwrap()
    .config
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn random_console_input_is_bounded_and_the_flash_stays_valid() {
    let seed = env("VIGIL_FUZZ_SEED", 1);
    let sessions = env("VIGIL_FUZZ_SESSIONS", 25);
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut keys, mut commits) = (0u64, 0u64);
    for session in 0..sessions {
        let store = Store::new(MemFlash::new(8 * 65536), 65536).unwrap();
        let mut shell = Shell::new(MemSystem { store }, default_config());
        let mut now = Instant::now();
        let mut out = Vec::new();
        shell.start(&mut out).unwrap();
        for _ in 0..200 {
            let bytes = input(&mut rng);
            for &b in &bytes {
                out.clear();
                shell.feed(now, &[b], &mut out).unwrap();
                keys += 1;
                // An editing key draws a few bytes, or the line once (Ctrl-L,
                // history); Enter, Tab and ? may print up to the configs and
                // the help; nothing costs more, whatever came before.
                let command = b"\r\n\t?".contains(&b);
                // A line is at most MAX_LINE characters of at most 4 bytes.
                let bound = 4 * MAX_LINE
                    + 256
                    + if command {
                        let configs =
                            export(&shell.running, Flavor::Vigil).len() + export(&shell.candidate, Flavor::Vigil).len();
                        4 * configs + (64 << 10)
                    } else {
                        0
                    };
                assert!(
                    out.len() <= bound,
                    "seed {seed} session {session}: key {b:#04x} printed {} bytes (bound {bound})",
                    out.len()
                );
                if shell.take_power().is_some() {
                    shell.handle_timeout(now, &mut out).unwrap();
                }
            }
            now += Duration::from_millis(rng.u64(0..120_000));
            if shell.poll_timeout().is_some_and(|t| t <= now) {
                out.clear();
                shell.handle_timeout(now, &mut out).unwrap();
            }
        }
        // Every generation on flash loads and is valid.
        let history = shell.system.history();
        commits += history.len() as u64;
        for g in history {
            let c = shell.system.load_generation(g).unwrap_or_else(|e| panic!("seed {seed}: generation {g}: {e}"));
            c.validate().unwrap_or_else(|e| panic!("seed {seed}: generation {g} is on flash but invalid: {e:?}"));
        }
    }
    eprintln!("console fuzz: seed {seed}, {sessions} sessions, {keys} keys, {commits} generations on flash checked");
    assert!(commits > 0, "the fuzzer never committed anything: it does not reach the flash");
}
