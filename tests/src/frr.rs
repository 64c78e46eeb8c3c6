//! FRR's vrrpd (Debian's `frr`) as a VRRP peer in a network namespace:
//! zebra and vrrpd in the foreground with their sockets, pid files and log
//! under the test's directory (nothing of the host's FRR is touched), and
//! the macvlan FRR requires for each virtual router: it carries the
//! virtual MAC (00-00-5E-00-01-VRID, IPv6 00-00-5E-00-02-VRID) and the
//! virtual addresses, and vrrpd finds it by that MAC.

use crate::{have_program, require};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const ZEBRA: &str = "/usr/lib/frr/zebra";
pub const VRRPD: &str = "/usr/lib/frr/vrrpd";

/// Whether FRR is here (in CI its absence fails the test).
pub fn available() -> bool {
    require(Path::new(VRRPD).exists() && have_program("vtysh"), "FRR's vrrpd (apt-get install frr)")
}

/// One virtual router on FRR.
#[derive(Debug, Clone)]
pub struct Router {
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    pub priority: u8,
    pub interval_ms: u32,
    /// The virtual address with its prefix (IPv4 or IPv6).
    pub vip: String,
}

impl Router {
    fn v6(&self) -> bool {
        self.vip.contains(':')
    }

    /// The macvlan vrrpd finds by its MAC.
    pub fn macvlan(&self) -> String {
        format!("vrrp{}-{}", if self.v6() { 6 } else { 4 }, self.vrid)
    }
}

pub struct Frr {
    ns: String,
    dir: PathBuf,
    router: Router,
    zebra: Option<Child>,
    vrrpd: Option<Child>,
}

/// An FRR daemon in `ns`, its sockets, pid file and output in `dir`.
fn daemon(ns: &str, dir: &Path, program: &str, tag: &str, extra: &[&str]) -> Child {
    let log = std::fs::File::create(dir.join(format!("{tag}.out"))).unwrap();
    Command::new("ip")
        .args(["netns", "exec", ns, program, "-z"])
        .arg(dir.join("zserv.api"))
        .arg("-i")
        .arg(dir.join(format!("{tag}.pid")))
        .arg("--vty_socket")
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// `dir` made anew for the daemons (they drop to user frr: it is theirs),
/// and zebra started there, its API socket open.
fn zebra(ns: &str, dir: &Path) -> Child {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let st = Command::new("chown").args(["frr:frr"]).arg(dir).status().unwrap();
    assert!(st.success(), "chown frr {}", dir.display());
    let z = daemon(ns, dir, ZEBRA, "zebra", &[]);
    let api = dir.join("zserv.api");
    let opened = crate::eventually(Duration::from_secs(10), || api.exists());
    assert!(opened.is_some(), "zebra did not open {}", api.display());
    z
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().unwrap();
    assert!(st.success(), "ip {args:?}");
}

impl Frr {
    /// Sets the macvlan up in `ns` and starts zebra and vrrpd there.
    pub fn start(ns: &str, dir: &Path, router: Router) -> Frr {
        let dir = dir.join("frr");
        let mv = router.macvlan();
        let mac = format!("00:00:5e:00:0{}:{:02x}", if router.v6() { 2 } else { 1 }, router.vrid);
        ip(&["-n", ns, "link", "add", &mv, "link", &router.interface, "type", "macvlan", "mode", "bridge"]);
        ip(&["-n", ns, "link", "set", &mv, "address", &mac]);
        if router.v6() {
            // vrrpd sends IPv6 adverts from the macvlan's link-local address.
            ip(&["-n", ns, "link", "set", &mv, "addrgenmode", "random"]);
            ip(&["-n", ns, "addr", "add", &router.vip, "dev", &mv, "nodad"]);
        } else {
            ip(&["-n", ns, "addr", "add", &router.vip, "dev", &mv]);
        }
        ip(&["-n", ns, "link", "set", &mv, "up"]);
        // As with vigil's own vmacs: the base interface must not answer ARP
        // for the addresses on the macvlan (from its own MAC), nor name them
        // in its own requests.
        for (dev, key, val) in
            [(router.interface.as_str(), "arp_ignore", "1"), (router.interface.as_str(), "arp_announce", "2")]
        {
            let w = format!("net.ipv4.conf.{dev}.{key}={val}");
            let st = Command::new("ip").args(["netns", "exec", ns, "sysctl", "-qw", &w]).status().unwrap();
            assert!(st.success(), "sysctl {w}");
        }
        let zebra = Some(zebra(ns, &dir));
        let mut frr = Frr { ns: ns.to_string(), dir, router, zebra, vrrpd: None };
        frr.start_vrrpd();
        frr
    }

    fn daemon(&self, program: &str, tag: &str, extra: &[&str]) -> Child {
        daemon(&self.ns, &self.dir, program, tag, extra)
    }

    /// vrrpd with the router's configuration (again after [`Frr::stop_vrrpd`]).
    pub fn start_vrrpd(&mut self) {
        let r = &self.router;
        let family = if r.v6() { "ipv6" } else { "ip" };
        let addr = r.vip.split('/').next().unwrap_or_default();
        let conf = format!(
            "interface {}\n vrrp {vrid} version {}\n vrrp {vrid} priority {}\n vrrp {vrid} advertisement-interval {}\n vrrp {vrid} {family} {addr}\n",
            r.interface,
            r.version,
            r.priority,
            r.interval_ms,
            vrid = r.vrid
        );
        let path = self.dir.join("vrrpd.conf");
        std::fs::write(&path, conf).unwrap();
        let path = path.to_string_lossy().into_owned();
        let log = format!("file:{}", self.dir.join("vrrpd.log").display());
        self.vrrpd = Some(self.daemon(VRRPD, "vrrpd", &["-f", &path, "--log", &log]));
    }

    /// SIGTERM: vrrpd shuts its routers down (a master sends priority 0).
    pub fn stop_vrrpd(&mut self) {
        self.signal_vrrpd("-TERM");
    }

    /// SIGKILL: vrrpd dies without a word (its adverts just stop).
    pub fn kill_vrrpd(&mut self) {
        self.signal_vrrpd("-KILL");
    }

    fn signal_vrrpd(&mut self, sig: &str) {
        if let Some(mut c) = self.vrrpd.take() {
            let _ = Command::new("kill").args([sig, &c.id().to_string()]).status();
            crate::eventually(Duration::from_secs(5), || c.try_wait().ok().flatten().is_some());
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The router's state as vrrpd says it ("Master", "Backup", "Initialize").
    pub fn state(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "vtysh", "--vty_socket"])
            .arg(&self.dir)
            .args(["-c", &format!("show vrrp {} json", self.router.vrid)])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let family = if self.router.v6() { "v6" } else { "v4" };
        v[0][family]["status"].as_str().unwrap_or("(none)").to_string()
    }

    /// Waits until vrrpd says `state`; returns how long that took.
    pub fn wait_state(&self, state: &str, timeout: Duration) -> Duration {
        crate::eventually(timeout, || self.state() == state).unwrap_or_else(|| {
            panic!("FRR's router is {} after {timeout:?}, not {state}:\n{}", self.state(), self.log())
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("vrrpd.log")).unwrap_or_default()
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        for c in [self.vrrpd.as_mut(), self.zebra.as_mut()].into_iter().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub const BFDD: &str = "/usr/lib/frr/bfdd";

/// FRR's bfdd (with the zebra it needs) in a namespace, its sockets, pid
/// files and log under the test's directory: a second, independent BFD
/// implementation as the neighbor.
pub struct Bfdd {
    ns: String,
    dir: PathBuf,
    conf: String,
    zebra: Option<Child>,
    bfdd: Option<Child>,
}

impl Bfdd {
    /// Whether FRR's bfdd is here (in CI its absence fails the test).
    pub fn available() -> bool {
        require(Path::new(BFDD).exists() && have_program("vtysh"), "FRR's bfdd (apt-get install frr)")
    }

    /// zebra and bfdd in `ns` with `conf` (bfdd's configuration: `bfd` and
    /// its `peer` blocks).
    pub fn start(ns: &str, dir: &Path, conf: &str) -> Bfdd {
        let dir = dir.join("bfdd");
        let zebra = Some(zebra(ns, &dir));
        let mut b = Bfdd { ns: ns.to_string(), dir, conf: conf.to_string(), zebra, bfdd: None };
        b.start_bfdd();
        b
    }

    fn daemon(&self, program: &str, tag: &str, extra: &[&str]) -> Child {
        daemon(&self.ns, &self.dir, program, tag, extra)
    }

    /// bfdd with the configuration (again after [`Bfdd::kill_bfdd`]).
    pub fn start_bfdd(&mut self) {
        let path = self.dir.join("bfdd.conf");
        std::fs::write(&path, &self.conf).unwrap();
        let path = path.to_string_lossy().into_owned();
        let log = format!("file:{}", self.dir.join("bfdd.log").display());
        self.bfdd = Some(self.daemon(BFDD, "bfdd", &["-f", &path, "--log", &log]));
    }

    /// SIGKILL: bfdd dies without a word (its packets just stop).
    pub fn kill_bfdd(&mut self) {
        if let Some(mut c) = self.bfdd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What bfdd says of its peer `peer`: (status, diagnostic, remote
    /// diagnostic), as `show bfd peers json` words them.
    pub fn peer(&self, peer: &str) -> Option<(String, String, String)> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "vtysh", "--vty_socket"])
            .arg(&self.dir)
            .args(["-c", "show bfd peers json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let p = v.as_array()?.iter().find(|p| p["peer"].as_str() == Some(peer))?;
        let s = |k: &str| p[k].as_str().unwrap_or("").to_string();
        Some((s("status"), s("diagnostic"), s("remote-diagnostic")))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("bfdd.log")).unwrap_or_default()
    }
}

impl Drop for Bfdd {
    fn drop(&mut self) {
        for c in [self.bfdd.as_mut(), self.zebra.as_mut()].into_iter().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
