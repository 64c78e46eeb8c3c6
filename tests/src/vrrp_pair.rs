//! Two routers of one VRRP instance in two network namespaces joined by a
//! veth pair: keepalived in one (`KA`), vigil in the other (`VG`). Shared by
//! the interop tests and the failover benchmark.

use crate::{firmware, have_program, is_root, require};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigil_board::Arch;

/// vigil in namespace `ns`, host mode, with a keepalived.conf; stdin stays
/// open (the console), stderr (its log) goes to `log`.
pub fn spawn_vigil(ns: &str, conf: &std::path::Path, log: &std::path::Path) -> Child {
    spawn_vigil_with_console(ns, conf, log, None)
}

/// [`spawn_vigil`], with what the console shell prints (its stdout) kept in
/// `console` when given.
pub fn spawn_vigil_with_console(
    ns: &str,
    conf: &std::path::Path,
    log: &std::path::Path,
    console: Option<&std::path::Path>,
) -> Child {
    let log = std::fs::File::create(log).unwrap();
    let out = console.map_or_else(Stdio::null, |c| Stdio::from(std::fs::File::create(c).unwrap()));
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(firmware(Arch::X86_64))
        .args(["run", "--config"])
        .arg(conf)
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Asks a vigil started with its console kept in `console` (see
/// [`spawn_vigil_with_console`]) `show TOPIC json` on its stdin, and
/// returns the answer: the last JSON line holding `key` that the console
/// printed after byte `seen` (moved past what was read, so that the next
/// question gets its own answer), within `within`; None as soon as the
/// answer is JSON without `key` (nothing reported yet). Only whole lines are
/// read: an answer can be one line of megabytes.
pub fn show_json(
    stdin: &mut impl std::io::Write,
    console: &std::path::Path,
    seen: &mut u64,
    topic: &str,
    key: &str,
    within: Duration,
) -> Option<serde_json::Value> {
    use std::io::{Read, Seek};
    writeln!(stdin, "show {topic} json").ok()?;
    let (mut found, mut answered) = (None, false);
    crate::eventually_every(within, Duration::from_millis(100), || {
        let Ok(mut f) = std::fs::File::open(console) else { return false };
        let mut text = String::new();
        if f.seek(std::io::SeekFrom::Start(*seen)).is_err() || f.read_to_string(&mut text).is_err() {
            return false;
        }
        let Some(end) = text.rfind('\n') else { return false };
        for line in text[..end].lines() {
            if let Some(v) =
                line.find('{').and_then(|i| serde_json::from_str::<serde_json::Value>(line[i..].trim_end()).ok())
            {
                // An answer without `key` (`{}` before the first report)
                // is an answer all the same: no use waiting for another.
                answered = true;
                if v.get(key).is_some() {
                    found = Some(v);
                }
            }
        }
        *seen += end as u64 + 1;
        answered
    });
    found
}

/// keepalived (VRRP only, foreground) in namespace `ns`; its log and pid
/// files are `<tag>.log`, `<tag>.pid`, `<tag>-vrrp.pid` in `dir`.
pub fn spawn_keepalived(ns: &str, conf: &std::path::Path, dir: &std::path::Path, tag: &str) -> Child {
    let log = std::fs::File::create(dir.join(format!("{tag}.log"))).unwrap();
    Command::new("ip")
        .args(["netns", "exec", ns, "keepalived", "-n", "-l", "-D", "--vrrp", "-f"])
        .arg(conf)
        .arg("-p")
        .arg(dir.join(format!("{tag}.pid")))
        .arg("-r")
        .arg(dir.join(format!("{tag}-vrrp.pid")))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

pub const VIP: &str = "192.0.2.100";

pub struct Pair {
    /// The virtual address with its prefix.
    pub vip: String,
    /// Extra lines for both routers' instance (e.g. unicast peers), by side.
    pub extra: [String; 2],
    /// Blocks before the instance (e.g. a vrrp_script), by side.
    pub top: [String; 2],
    /// Instances without `interface` (keepalived 2.3's, unicast only), by
    /// side: the VIP names its interface (`dev`) instead (an `interface`
    /// line in `extra` puts the instance elsewhere than its VIP).
    pub without_interface: [bool; 2],
    pub dir: std::path::PathBuf,
    pub ka: String,
    pub vg: String,
    pub children: Vec<Child>,
    /// Removed after the children are killed (fields drop after `drop`).
    _namespaces: [Netns; 2],
}

pub fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().unwrap();
    assert!(st.success(), "ip {args:?}");
}

/// A veth pair between two namespaces, each end with its address and up:
/// `(namespace, interface, address/prefix)` for either end.
pub fn veth(a: (&str, &str, &str), b: (&str, &str, &str)) {
    ip(&["link", "add", a.1, "netns", a.0, "type", "veth", "peer", "name", b.1, "netns", b.0]);
    for (ns, name, addr) in [a, b] {
        ip(&["-n", ns, "addr", "add", addr, "dev", name]);
        ip(&["-n", ns, "link", "set", name, "up"]);
    }
}

impl Pair {
    pub fn new(name: &str) -> Option<Pair> {
        if !require(is_root(), "root (network namespaces)")
            || !require(have_program("keepalived"), "keepalived (apt-get install keepalived)")
        {
            return None;
        }
        let dir = crate::test_dir(name);
        let (ka, vg) = (format!("{name}-ka"), format!("{name}-vg"));
        let namespaces = [Netns::fresh(&ka), Netns::fresh(&vg)];
        ip(&["link", "add", "vk-a", "netns", &ka, "type", "veth", "peer", "name", "vk-b", "netns", &vg]);
        ip(&["-n", &ka, "addr", "add", "192.0.2.1/24", "dev", "vk-a"]);
        ip(&["-n", &ka, "link", "set", "vk-a", "up"]);
        ip(&["-n", &vg, "addr", "add", "192.0.2.2/24", "dev", "vk-b"]);
        ip(&["-n", &vg, "link", "set", "vk-b", "up"]);
        Some(Pair {
            vip: format!("{VIP}/24"),
            extra: [String::new(), String::new()],
            top: [String::new(), String::new()],
            without_interface: [false; 2],
            dir,
            ka,
            vg,
            children: Vec::new(),
            _namespaces: namespaces,
        })
    }

    pub fn conf(&self, file: &str, iface: &str, version: u8, priority: u8, interval: &str) -> std::path::PathBuf {
        let p = self.dir.join(file);
        let side = usize::from(iface == "vk-b");
        let (extra, top) = (&self.extra[side], &self.top[side]);
        let (on, dev) = match self.without_interface[side] {
            true => (String::new(), format!(" dev {iface}")),
            false => (format!(" interface {iface}\n"), String::new()),
        };
        let text = format!(
            "{top}vrrp_instance VI_1 {{\n{on} version {version}\n virtual_router_id 51\n priority {priority}\n advert_int {interval}\n{extra} virtual_ipaddress {{\n  {}{dev}\n }}\n}}\n",
            self.vip
        );
        std::fs::write(&p, text).unwrap();
        p
    }

    /// keepalived, VRRP only, in the foreground. Returns its index.
    pub fn keepalived(&mut self, version: u8, priority: u8, interval: &str) -> usize {
        let conf = self.conf("keepalived.conf", "vk-a", version, priority, interval);
        let child = spawn_keepalived(&self.ka, &conf, &self.dir, "ka");
        self.children.push(child);
        self.children.len() - 1
    }

    pub fn vigil(&mut self, version: u8, priority: u8, interval: &str) -> usize {
        let conf = self.conf("vigil.conf", "vk-b", version, priority, interval);
        let child = spawn_vigil(&self.vg, &conf, &self.dir.join("vigil.log"));
        self.children.push(child);
        self.children.len() - 1
    }

    pub fn has_vip(&self, ns: &str) -> bool {
        let out = Command::new("ip").args(["-n", ns, "addr", "show"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.contains(&format!("inet {} ", self.vip)) || text.contains(&format!("inet6 {} ", self.vip))
    }

    /// Waits until `ns` holds the VIP; returns how long that took.
    pub fn wait_vip(&self, ns: &str, timeout: Duration) -> Duration {
        crate::eventually(timeout, || self.has_vip(ns)).unwrap_or_else(|| {
            panic!(
                "{ns} did not get {} in {timeout:?}\nvigil:\n{}\nkeepalived:\n{}",
                self.vip,
                std::fs::read_to_string(self.dir.join("vigil.log")).unwrap_or_default(),
                std::fs::read_to_string(self.dir.join("ka.log")).unwrap_or_default()
            )
        })
    }

    /// keepalived's processes: the parent and its VRRP child.
    pub fn kill_keepalived(&mut self, sig: &str) {
        for f in ["ka-vrrp.pid", "ka.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join(f)) {
                let _ = Command::new("kill").args([sig, pid.trim()]).stderr(Stdio::null()).status();
            }
        }
    }

    pub fn signal(&mut self, i: usize, sig: &str) {
        // `ip netns exec` execs the program: the child's pid is vigil's.
        let _ = Command::new("kill").args([sig, &self.children[i].id().to_string()]).status();
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.kill_keepalived("-KILL");
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A process killed (and waited for) when dropped, so that a failing test
/// leaves nothing running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A network namespace made for a test (any left from an earlier run is
/// removed first), with `lo` up; removed again when dropped.
pub struct Netns(pub String);

impl Netns {
    pub fn fresh(name: &str) -> Netns {
        delete_netns(name);
        ip(&["netns", "add", name]);
        ip(&["-n", name, "link", "set", "lo", "up"]);
        Netns(name.to_string())
    }
}

impl std::ops::Deref for Netns {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete_netns(&self.0);
    }
}

/// Removes a namespace, quietly if there is none.
pub fn delete_netns(name: &str) {
    let _ = Command::new("ip").args(["netns", "del", name]).stderr(Stdio::null()).status();
}

/// The pid in a supervisor's log line ("... child started (pid N)").
pub fn pid_in(line: &str) -> u32 {
    line.split("(pid ").nth(1).and_then(|r| r.trim_end_matches(')').parse().ok()).expect("a pid")
}

/// Waits up to 15 s for `needle` in the log file after byte `after`;
/// returns where it ends and the whole line it starts.
pub fn wait_log(log: &std::path::Path, after: usize, needle: &str) -> (usize, String) {
    let mut found = None;
    let mut text = String::new();
    crate::eventually(Duration::from_secs(15), || {
        text = std::fs::read_to_string(log).unwrap_or_default();
        found = text.get(after.min(text.len())..).and_then(|rest| rest.find(needle)).map(|i| after + i);
        found.is_some()
    });
    let at = found.unwrap_or_else(|| panic!("no {needle:?} in the log:\n{text}"));
    let line = text[at..].lines().next().unwrap_or("").to_string();
    (at + needle.len(), line)
}

/// One ARP frame seen on the wire: when, the sender's MAC and address.
#[derive(Debug, Clone)]
pub struct Arp {
    pub at: std::time::SystemTime,
    pub mac: [u8; 6],
    pub ip: std::net::Ipv4Addr,
}

/// Captures the ARP frames in namespace `ns` for `span`, on a thread of its
/// own (it enters the namespace); returns once the socket is open.
pub fn capture_arp(ns: &str, span: Duration) -> std::thread::JoinHandle<Vec<Arp>> {
    let path = format!("/var/run/netns/{ns}");
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap();
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let proto = socket2::Protocol::from(i32::from(0x0806u16.to_be()));
        let s = socket2::Socket::new(socket2::Domain::PACKET, socket2::Type::RAW, Some(proto)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        ready_tx.send(()).unwrap();
        let mut seen = Vec::new();
        let end = Instant::now() + span;
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1514];
        while Instant::now() < end {
            let Ok(n) = s.recv(&mut buf) else { continue };
            // SAFETY: recv initialised the first n bytes.
            let f: Vec<u8> = buf[..n].iter().map(|b| unsafe { b.assume_init() }).collect();
            use pnet_packet::Packet;
            let eth = pnet_packet::ethernet::EthernetPacket::new(&f)
                .filter(|e| e.get_ethertype() == pnet_packet::ethernet::EtherTypes::Arp);
            if let Some(a) = eth.as_ref().and_then(|e| pnet_packet::arp::ArpPacket::new(e.payload())) {
                seen.push(Arp {
                    at: std::time::SystemTime::now(),
                    mac: a.get_sender_hw_addr().octets(),
                    ip: a.get_sender_proto_addr(),
                });
            }
        }
        seen
    });
    ready.recv().unwrap();
    h
}

/// An interface's MAC address in namespace `ns`.
pub fn mac_of(ns: &str, iface: &str) -> [u8; 6] {
    let out = Command::new("ip").args(["-n", ns, "-o", "link", "show", iface]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.split("link/ether ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap();
    let mut mac = [0u8; 6];
    for (m, h) in mac.iter_mut().zip(hex.split(':')) {
        *m = u8::from_str_radix(h, 16).unwrap();
    }
    mac
}
