//! Two vigil routers on a bridge (three network namespaces): the higher
//! priority owns the VIP; cutting its bridge port (carrier stays up) makes
//! both masters; putting it back leaves exactly one.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigil_board::Arch;
use vigil_tests::{firmware, is_root, require};

const VIP: &str = "198.51.100.100";

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().unwrap();
    assert!(st.success(), "ip {args:?}");
}

struct Lan {
    dir: std::path::PathBuf,
    children: Vec<Child>,
}

const NS: [&str; 3] = ["vl-br", "vl-r1", "vl-r2"];

impl Lan {
    fn new() -> Lan {
        let dir = vigil_tests::test_dir("vrrp-lan");
        for ns in NS {
            let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&["-n", "vl-br", "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", "vl-br", "link", "set", "br0", "up"]);
        for (i, ns) in [(1, "vl-r1"), (2, "vl-r2")] {
            let port = format!("p{i}");
            ip(&["link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", &port, "netns", "vl-br"]);
            ip(&["-n", "vl-br", "link", "set", &port, "master", "br0"]);
            ip(&["-n", "vl-br", "link", "set", &port, "up"]);
            ip(&["-n", ns, "addr", "add", &format!("198.51.100.{i}/24"), "dev", "eth0"]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
        }
        Lan { dir, children: Vec::new() }
    }

    fn vigil(&mut self, ns: &str, priority: u8) {
        let conf = self.dir.join(format!("{ns}.conf"));
        let text = format!(
            "vrrp_instance VI_1 {{\n interface eth0\n version 3\n virtual_router_id 7\n priority {priority}\n advert_int 0.2\n virtual_ipaddress {{\n  {VIP}/24\n }}\n}}\n"
        );
        std::fs::write(&conf, text).unwrap();
        let log = std::fs::File::create(self.dir.join(format!("{ns}.log"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(firmware(Arch::X86_64))
            .args(["run", "--config"])
            .arg(&conf)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.push(child);
    }

    fn holders(&self) -> Vec<&'static str> {
        ["vl-r1", "vl-r2"]
            .into_iter()
            .filter(|ns| {
                let out = Command::new("ip").args(["-n", ns, "-4", "addr", "show", "eth0"]).output().unwrap();
                String::from_utf8_lossy(&out.stdout).contains(&format!("inet {VIP}/24"))
            })
            .collect()
    }

    fn wait_for(&self, want: &[&str], timeout: Duration) -> Duration {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if self.holders() == want {
                return t.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("VIP holders {:?}, expected {want:?} within {timeout:?}", self.holders());
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in NS {
            let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
        }
    }
}

#[test]
fn a_split_brain_heals_to_one_master() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let mut lan = Lan::new();
    lan.vigil("vl-r1", 150);
    lan.vigil("vl-r2", 100);
    lan.wait_for(&["vl-r1"], Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lan.holders(), ["vl-r1"], "one master while the LAN is whole");
    // Cut r1's bridge port; its carrier stays up, so it keeps mastering.
    ip(&["-n", "vl-br", "link", "set", "p1", "nomaster"]);
    let t = lan.wait_for(&["vl-r1", "vl-r2"], Duration::from_secs(5));
    eprintln!("port cut -> two masters after {t:?}");
    ip(&["-n", "vl-br", "link", "set", "p1", "master", "br0"]);
    let t = lan.wait_for(&["vl-r1"], Duration::from_secs(5));
    eprintln!("port restored -> one master after {t:?}");
}

/// A commit that changes one instance restarts only that one: the other's
/// VIP never leaves.
#[test]
fn a_commit_restarts_only_the_changed_instance() {
    use std::io::Write;
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("vrrp-commit");
    let ns = "vr-commit";
    let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
    ip(&["netns", "add", ns]);
    ip(&["-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"]);
    for l in ["lo", "eth0", "peer0"] {
        ip(&["-n", ns, "link", "set", l, "up"]);
    }
    ip(&["-n", ns, "addr", "add", "203.0.113.1/24", "dev", "eth0"]);
    let log = std::fs::File::create(dir.join("vigil.log")).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(firmware(Arch::X86_64))
        .arg("run")
        .arg("--flash")
        .arg(dir.join("flash.img"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let inst = |name: &str, vrid: u8, vip: &str, prio: u8| {
        format!(
            "vrrp_instance {name} {{\n interface eth0\n version 3\n virtual_router_id {vrid}\n priority {prio}\n advert_int 0.1\n virtual_ipaddress {{\n {vip}/24\n }}\n}}\n"
        )
    };
    let conf = inst("VI_1", 1, "203.0.113.101", 100) + &inst("VI_2", 2, "203.0.113.102", 100);
    write!(stdin, "load keepalived\n{conf}end\ncommit\n").unwrap();
    let has = |vip: &str| {
        let out = Command::new("ip").args(["-n", ns, "-4", "addr", "show", "eth0"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&format!("inet {vip}/24"))
    };
    let t = Instant::now();
    while !(has("203.0.113.101") && has("203.0.113.102")) {
        assert!(t.elapsed() < Duration::from_secs(10), "both instances master");
        std::thread::sleep(Duration::from_millis(20));
    }
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let lost = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let watcher = {
        let (w, l) = (watching.clone(), lost.clone());
        std::thread::spawn(move || {
            while w.load(std::sync::atomic::Ordering::Relaxed) {
                let out = Command::new("ip").args(["-n", "vr-commit", "-4", "addr", "show", "eth0"]).output().unwrap();
                if !String::from_utf8_lossy(&out.stdout).contains("inet 203.0.113.101/24") {
                    l.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    writeln!(stdin, "set vrrp_instance VI_2 priority 120\ncommit").unwrap();
    let t = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(dir.join("vigil.log")).unwrap();
        if text.matches("VI_2: BACKUP -> MASTER").count() >= 2 || t.elapsed() > Duration::from_secs(10) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    watcher.join().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
    assert!(text.contains("vrrp_instance VI_2: changed or removed: stopping"), "{text}");
    assert!(!text.contains("vrrp_instance VI_1: changed"), "{text}");
    assert_eq!(text.matches("VI_2: BACKUP -> MASTER").count(), 2, "{text}");
    assert_eq!(lost.load(std::sync::atomic::Ordering::Relaxed), 0, "VI_1's VIP left during the commit");
}
