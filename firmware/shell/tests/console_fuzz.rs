//! The console fuzzer: seeded random keys, words, pastes and escape
//! sequences typed into the sans-IO shell over the real config store (on
//! in-memory flash). Whatever is typed: no panic; each key's output and the
//! memory it takes at its peak are bounded (a few bytes and kilobytes for an
//! editing key, a multiple of the configs' size for a command), so no key
//! can cost quadratic work; the memory the shell holds between keys stays
//! under its paste and history bounds; and the flash only ever holds
//! generations that load and validate. The slowest key's time is printed (a
//! figure, not an assertion: timing belongs to benchmarks).
//!
//! `cargo test -p vigil-shell --test console_fuzz` runs a fixed count;
//! `VIGIL_FUZZ_SESSIONS=5000 VIGIL_FUZZ_SEED=7 cargo test --release ...` runs
//! longer by hand.

use std::alloc::{GlobalAlloc, Layout, System as Heap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use vigil_config::Config;
use vigil_config::keepalived::{Flavor, export};
use vigil_config::store::{MemFlash, Store};
use vigil_shell::editor::MAX_LINE;
use vigil_shell::session::{Shell, System};

/// The heap, counted: bytes in use now and the most since [`Counting::mark`].
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    /// Starts a measurement; returns the bytes in use now.
    fn mark() -> usize {
        let now = IN_USE.load(Ordering::Relaxed);
        PEAK.store(now, Ordering::Relaxed);
        now
    }

    /// The most in use since the mark, above it.
    fn peak_since(mark: usize) -> usize {
        PEAK.load(Ordering::Relaxed).saturating_sub(mark)
    }

    fn grew(by: usize) {
        let now = IN_USE.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed to the system allocator unchanged, with the
// caller's layout and pointer; the counters around it never touch memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is the system's.
        let p = unsafe { Heap.alloc(layout) };
        if !p.is_null() {
            Counting::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { Heap.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and `new_size` is the caller's to vouch for.
        let p = unsafe { Heap.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
            Counting::grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

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
    fn status(&mut self, topic: &str, _json: bool) -> Option<String> {
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

/// The running and candidate configs' size, as exported text.
fn config_bytes(shell: &Shell<MemSystem>) -> usize {
    export(&shell.running, Flavor::Vigil).len() + export(&shell.candidate, Flavor::Vigil).len()
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
    // [editing keys, command keys]
    let mut worst_mem = [0usize; 2];
    let mut worst_time = [Duration::ZERO; 2];
    let mut max_held = 0usize;
    for session in 0..sessions {
        let session_start = IN_USE.load(Ordering::Relaxed);
        let store = Store::new(MemFlash::new(8 * 65536), 65536).unwrap();
        let mut shell = Shell::new(MemSystem { store }, std::sync::Arc::new(default_config()));
        let mut now = Instant::now();
        let mut out = Vec::new();
        shell.start(&mut out).unwrap();
        for _ in 0..200 {
            let bytes = input(&mut rng);
            for &b in &bytes {
                out.clear();
                out.shrink_to(64 << 10);
                let mark = Counting::mark();
                let t = Instant::now();
                shell.feed(now, &[b], &mut out).unwrap();
                let took = t.elapsed();
                let peak = Counting::peak_since(mark);
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
                // Memory: what the key printed, twice over (built, then
                // written), a line's worth for the editor, and for a command
                // a multiple of the configs it works on (export, parse, diff
                // and the new candidate each hold a copy or a model of one).
                let mem_bound = 2 * bound
                    + 16 * MAX_LINE
                    + (64 << 10)
                    + if command { 64 * config_bytes(&shell) + (1 << 20) } else { 0 };
                assert!(
                    peak <= mem_bound,
                    "seed {seed} session {session}: key {b:#04x} took {peak} bytes at its peak (bound {mem_bound})"
                );
                let class = usize::from(command);
                if peak > worst_mem[class] {
                    worst_mem[class] = peak;
                }
                if took > worst_time[class] {
                    worst_time[class] = took;
                }
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
        // Between keys the shell holds its configs, its history and at
        // most a paste's bound.
        let held = IN_USE.load(Ordering::Relaxed).saturating_sub(session_start);
        let held_bound = vigil_shell::session::PASTE_BYTES + 64 * config_bytes(&shell) + 100 * 4 * MAX_LINE + (4 << 20);
        assert!(held <= held_bound, "seed {seed} session {session}: the shell holds {held} bytes (bound {held_bound})");
        max_held = max_held.max(held);
        // Every generation on flash loads and is valid.
        let history = shell.system.history();
        commits += history.len() as u64;
        for g in history {
            let c = shell.system.load_generation(g).unwrap_or_else(|e| panic!("seed {seed}: generation {g}: {e}"));
            c.validate().unwrap_or_else(|e| panic!("seed {seed}: generation {g} is on flash but invalid: {e:?}"));
        }
    }
    eprintln!("console fuzz: seed {seed}, {sessions} sessions, {keys} keys, {commits} generations on flash checked");
    eprintln!(
        "console fuzz: peak memory per key {} KiB (editing), {} KiB (commands); at most {} KiB held between keys",
        worst_mem[0] >> 10,
        worst_mem[1] >> 10,
        max_held >> 10
    );
    eprintln!(
        "console fuzz: slowest key {:?} (editing), {:?} (commands) (a figure for the record, not a bound)",
        worst_time[0], worst_time[1]
    );
    assert!(commits > 0, "the fuzzer never committed anything: it does not reach the flash");
}
