//! The integration-test harness: prerequisites (skip on a developer machine,
//! fail under CI), cached firmware and image builds, and QEMU nodes on a
//! virtual switch whose console logs are kept for failed tests.

pub mod client;
pub mod cuts;
pub mod disk;
pub mod frr;
pub mod lan;
pub mod nginx;
pub mod vrrp_pair;

use anyhow::Result;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use vigil_board::Arch;
use vigil_image::{Image, Node, NodeSpec, Switch};

/// Generous: TCG on a loaded 2-core machine boots in ~3-5 s.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// True under CI (`CI=true`), where a missing prerequisite is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Checks a prerequisite. Returns false (the test should return early) when
/// it is missing on a developer machine, after saying so; under CI it panics.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if in_ci() {
        panic!("prerequisite missing under CI: {what}");
    }
    eprintln!("SKIPPED: {what} (run ci/setup, as root, to have it)");
    false
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn have_program(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
}

/// QEMU for a board and its cached kernel package are present.
pub fn have_qemu(board: &str) -> bool {
    let Ok(b) = vigil_image::load_board(board) else {
        return false;
    };
    let Some(q) = &b.qemu else { return false };
    require(have_program(&q.binary), &format!("{} (apt-get install qemu-system-*)", q.binary))
}

/// What `build` makes for `key`, made once per test process and kept in `cell`
/// (tests run on several threads: the second one waits for the first build).
fn once<K: PartialEq + Clone, V: Clone>(cell: &OnceLock<Mutex<Vec<(K, V)>>>, key: K, build: impl FnOnce() -> V) -> V {
    let mut built = cell.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, v)) = built.iter().find(|(k, _)| *k == key) {
        return v.clone();
    }
    let v = build();
    built.push((key, v.clone()));
    v
}

/// The static firmware for `arch`, built once per test process.
pub fn firmware(arch: Arch) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<(Arch, PathBuf)>>> = OnceLock::new();
    once(&BUILT, arch, || vigil_image::build::firmware(arch).expect("building the firmware"))
}

/// A board's image, built once per test process.
pub fn image(board: &str) -> Image {
    static BUILT: OnceLock<Mutex<Vec<(String, Image)>>> = OnceLock::new();
    once(&BUILT, board.to_string(), || {
        let b = vigil_image::load_board(board).expect("board");
        vigil_image::build_image(&b, &firmware(b.arch)).expect("building the image")
    })
}

/// A board's image with the tests' own program (tests/server) as /init:
/// the backends and clients of the load-balancing tests. Built once per
/// test process.
pub fn test_server_image(board: &str) -> Image {
    static BUILT: OnceLock<Mutex<Vec<(String, Image)>>> = OnceLock::new();
    once(&BUILT, board.to_string(), || {
        let b = vigil_image::load_board(board).expect("board");
        let bin = vigil_image::build::static_binary(b.arch, "vigil-test-server", "test-server").expect("test-server");
        // Debian's ipvsadm, for the IPVS benchmark's comparison.
        let extra = if b.arch == Arch::X86_64 { host_program("/usr/sbin/ipvsadm") } else { Vec::new() };
        vigil_image::build::build_image_as(&b, &bin, &format!("test-server-{board}"), &extra)
            .expect("test-server image")
    })
}

/// An erased flash image of the board's size (sparse), for a node that
/// commits its config.
pub fn flash_image(board: &str, dir: &std::path::Path) -> PathBuf {
    let b = vigil_image::load_board(board).expect("board");
    let size = b.flash.as_ref().expect("the board has flash").size.0;
    let path = dir.join("flash.img");
    let f = std::fs::File::create(&path).expect("creating the flash image");
    f.set_len(size).expect("sizing the flash image");
    path
}

/// The static firmware with the test-only console commands (`debug stall`,
/// `debug kill`), built once per test process.
pub fn debug_firmware(arch: Arch) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<(Arch, PathBuf)>>> = OnceLock::new();
    once(&BUILT, arch, || {
        vigil_image::build::static_binary_with(arch, "vigil", "vigil-debug", &["debug-commands"]).expect("firmware")
    })
}

/// A board's image with that firmware, built once per test process.
pub fn debug_image(board: &str) -> Image {
    static BUILT: OnceLock<Mutex<Vec<(String, Image)>>> = OnceLock::new();
    once(&BUILT, board.to_string(), || {
        let b = vigil_image::load_board(board).expect("board");
        vigil_image::build::build_image_as(&b, &debug_firmware(b.arch), &format!("{board}-debug"), &[])
            .expect("debug image")
    })
}

/// A program of this host with the shared libraries it links (`ldd`), as
/// extra files for a guest image (same paths in the guest); empty when the
/// host has no such program.
pub fn host_program(path: &str) -> Vec<(String, PathBuf)> {
    let Ok(out) = std::process::Command::new("ldd").arg(path).output() else { return Vec::new() };
    if !out.status.success() {
        return Vec::new();
    }
    let mut files = vec![(path.trim_start_matches('/').to_string(), PathBuf::from(path))];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "libnl-3.so.200 => /lib/x86_64-linux-gnu/libnl-3.so.200 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let lib = line.split("=>").last().and_then(|r| r.split_whitespace().next()).unwrap_or("");
        if lib.starts_with('/') {
            files.push((lib.trim_start_matches('/').to_string(), PathBuf::from(lib)));
        }
    }
    files
}

/// The children's pids as `show supervision` lists them (a restarted child
/// has a new one).
pub fn supervised_pids(show_supervision: &str) -> Vec<String> {
    show_supervision
        .lines()
        .filter_map(|l| l.split("running, pid ").nth(1)?.split_whitespace().next().map(str::to_string))
        .collect()
}

/// A flash image for `board` in `dir`, holding `config` (keepalived.conf
/// text) as its first generation: `name.conf` and `name.img`.
pub fn flash_with(dir: &std::path::Path, board: &str, name: &str, config: &str) -> PathBuf {
    let b = vigil_image::load_board(board).expect("board");
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(&conf, config).expect("writing the config");
    let flash = dir.join(format!("{name}.img"));
    vigil_image::config_tool::install(&b, &flash, &conf).expect("installing the config");
    flash
}

/// Polls `ok` (every 20 ms) until it holds: `Some(how long that took)`, or
/// `None` once `timeout` has passed. The one wait loop of the tests; the
/// caller says what did not happen, with what it knows.
pub fn eventually(timeout: std::time::Duration, ok: impl FnMut() -> bool) -> Option<std::time::Duration> {
    eventually_every(timeout, std::time::Duration::from_millis(20), ok)
}

/// [`eventually`], polling every `every` (for a probe that costs the guest:
/// a console command on a node with 256 VRRP instances).
pub fn eventually_every(
    timeout: std::time::Duration,
    every: std::time::Duration,
    mut ok: impl FnMut() -> bool,
) -> Option<std::time::Duration> {
    let t = std::time::Instant::now();
    loop {
        if ok() {
            return Some(t.elapsed());
        }
        if t.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Pastes `conf` (keepalived.conf text) at node's console with `load
/// keepalived` ... `end`; the candidate must be replaced.
pub fn load_keepalived(node: &mut Node, conf: &str) {
    node.send_line("load keepalived").unwrap();
    for l in conf.lines() {
        node.send_line(l).unwrap();
    }
    let out = node.command("end", std::time::Duration::from_secs(30)).unwrap();
    assert!(out.contains("candidate replaced"), "{out}");
}

/// A config of the tests, `tests/configs/NAME.conf` (keepalived.conf text).
pub fn config(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs").join(format!("{name}.conf"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// keepalived issue #2318's production shape: 2,284 virtual servers with
/// 37,298 real servers between them (TCP_CHECK, `delay_loop` 2), the real
/// servers at 172.16-25.x.y:8080 (a namespace without routes reaches none).
pub const PRODUCTION_SHAPE: (usize, usize) = (2284, 37_298);

/// [`PRODUCTION_SHAPE`]'s config text.
pub fn production_shape_config() -> String {
    let (services, servers) = PRODUCTION_SHAPE;
    shape_config(services, servers, Some(2), "")
}

/// `services` virtual servers (10.a.b.1:80) with `servers` real servers
/// between them (172.16-31.x.y:8080, in order; at most 254 to a virtual
/// server), TCP_CHECKed at `delay_loop` (none: unchecked, always up);
/// `extra`: more lines in each virtual server's block.
pub fn shape_config(services: usize, servers: usize, delay_loop: Option<u32>, extra: &str) -> String {
    use std::fmt::Write;
    let mut conf = String::new();
    for v in 0..services {
        let per = servers / services + usize::from(v < servers % services);
        let _ = writeln!(conf, "virtual_server 10.{}.{}.1 80 {{\n protocol TCP{extra}", v / 250, v % 250);
        if let Some(d) = delay_loop {
            let _ = writeln!(conf, " delay_loop {d}");
        }
        let check = if delay_loop.is_some() { "\n  TCP_CHECK {\n   connect_timeout 3\n  }" } else { "" };
        for r in 0..per {
            let _ = writeln!(conf, " real_server 172.{}.{}.{} 8080 {{{check}\n }}", 16 + v / 250, v % 250, r + 1);
        }
        conf.push_str("}\n");
    }
    conf
}

/// A fresh directory for one test's sockets and logs, under the target dir
/// (kept after the run, for the logs).
pub fn test_dir(name: &str) -> PathBuf {
    let dir = vigil_image::paths::out_dir().join("tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the test directory");
    dir
}

/// A program that appends its arguments, one line a run, to a log: the
/// notify and quorum programs' stand-in. Returns the program and the log
/// (named `name`.sh and `name`.log in `dir`).
pub fn recording_program(dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf) {
    let (program, log) = (dir.join(format!("{name}.sh")), dir.join(format!("{name}.log")));
    std::fs::write(&program, format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display())).expect("writing the program");
    let made = std::process::Command::new("chmod").arg("755").arg(&program).status();
    assert!(made.is_ok_and(|s| s.success()), "chmod {}", program.display());
    (program, log)
}

/// Nodes of one board on one switch. Dropping it kills every QEMU it started;
/// if the test is failing, the tail of each console log is printed first.
pub struct Cluster {
    pub switch: Switch,
    pub nodes: Vec<Node>,
    pub dir: PathBuf,
}

impl Cluster {
    /// Starts `count` nodes (numbered from 1; node i is switch port i-1).
    pub fn start(name: &str, board: &str, count: u8) -> Result<Cluster> {
        Self::start_with(name, board, count, |_| {})
    }

    pub fn start_with(name: &str, board: &str, count: u8, mut tweak: impl FnMut(&mut NodeSpec)) -> Result<Cluster> {
        let img = image(board);
        let dir = test_dir(name);
        let switch = Switch::start(&dir.join("switch.sock"))?;
        let mut cluster = Cluster { switch, nodes: Vec::new(), dir: dir.clone() };
        for i in 1..=count {
            let mut spec = NodeSpec::new(i, dir.join(format!("node{i}")));
            spec.hub = Some(cluster.switch.socket_path().to_path_buf());
            tweak(&mut spec);
            cluster.switch.add_port(&format!("node{i}"), &spec.net_socket());
            cluster.nodes.push(Node::start(&img, spec)?);
        }
        Ok(cluster)
    }

    /// A flash image for `board` in this cluster's directory, holding
    /// `config` (keepalived.conf text) as its first generation: `name.conf`
    /// and `name.img`.
    pub fn flash_with(&self, board: &str, name: &str, config: &str) -> PathBuf {
        flash_with(&self.dir, board, name, config)
    }

    /// Nodes of `board`'s image, one per config (keepalived.conf text,
    /// installed on each node's own flash as its first generation), started
    /// in order on the switch; `tweak` sees each node's spec too.
    pub fn with_configs(
        name: &str,
        img: &Image,
        configs: &[String],
        mut tweak: impl FnMut(&mut NodeSpec),
    ) -> Result<Cluster> {
        let mut c = Cluster::empty(name)?;
        for config in configs {
            c.add_with_config(img, config, &mut tweak)?;
        }
        Ok(c)
    }

    /// One more node whose flash holds `config` (keepalived.conf text).
    pub fn add_with_config(&mut self, img: &Image, config: &str, tweak: impl FnOnce(&mut NodeSpec)) -> Result<usize> {
        let n = self.nodes.len() + 1;
        let flash = flash_with(&self.dir, &img.board.name, &format!("node{n}"), config);
        self.add(img, |s| {
            s.flash = Some(flash);
            tweak(s);
        })
    }

    /// A switch and no nodes yet (see [`Cluster::add`]).
    pub fn empty(name: &str) -> Result<Cluster> {
        let dir = test_dir(name);
        let switch = Switch::start(&dir.join("switch.sock"))?;
        Ok(Cluster { switch, nodes: Vec::new(), dir })
    }

    /// Starts one more node from `img` on the next switch port; returns its
    /// number (1-based).
    pub fn add(&mut self, img: &Image, tweak: impl FnOnce(&mut NodeSpec)) -> Result<usize> {
        let i = self.nodes.len() as u8 + 1;
        let mut spec = NodeSpec::new(i, self.dir.join(format!("node{i}")));
        spec.hub = Some(self.switch.socket_path().to_path_buf());
        tweak(&mut spec);
        self.switch.add_port(&format!("node{i}"), &spec.net_socket());
        self.nodes.push(Node::start(img, spec)?);
        Ok(usize::from(i))
    }

    /// Starts node `i` again (after it was killed), on the same port.
    pub fn restart(&mut self, i: usize, img: &Image) -> Result<()> {
        let spec = self.nodes[i - 1].spec.clone();
        self.nodes[i - 1].kill();
        self.nodes[i - 1] = Node::start(img, spec)?;
        Ok(())
    }

    /// Node `i` (1-based).
    pub fn node(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i - 1]
    }

    pub fn wait_all_ready(&mut self) -> Result<Vec<u64>> {
        self.nodes.iter_mut().map(|n| n.wait_ready(BOOT_TIMEOUT)).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for n in &self.nodes {
                eprintln!(
                    "---- {} console ({}), last lines ----\n{}",
                    n.name,
                    n.log_path.display(),
                    vigil_image::node::tail(&n.console_text(), 40)
                );
            }
            eprintln!("---- switch ----\n{}", self.switch.report());
        }
        for n in &mut self.nodes {
            n.kill();
        }
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    vigil_image::paths::root()
}

/// A process's figures from /proc, for the benchmarks (the test server's
/// guest benches read the same file).
pub mod procfs;
pub mod slow_cpu;
