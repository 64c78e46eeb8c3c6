//! vigil and Debian's keepalived as the two routers of one VRRP instance, in
//! two network namespaces joined by a veth pair: each side hears the other's
//! adverts (parsed, checksums right), a killed master is replaced after
//! Master_Down_Interval, and a master that stops cleanly resigns with
//! priority 0 so the backup takes over after Skew_Time. VRRPv2 and v3.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigil_board::Arch;
use vigil_tests::{firmware, have_program, is_root, require};

const VIP: &str = "192.0.2.100";

struct Pair {
    /// The virtual address with its prefix.
    vip: String,
    /// Extra lines for both routers' instance (e.g. unicast peers), by side.
    extra: [String; 2],
    dir: std::path::PathBuf,
    ka: String,
    vg: String,
    children: Vec<Child>,
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().unwrap();
    assert!(st.success(), "ip {args:?}");
}

impl Pair {
    fn new(name: &str) -> Option<Pair> {
        if !require(is_root(), "root (network namespaces)")
            || !require(have_program("keepalived"), "keepalived (apt-get install keepalived)")
        {
            return None;
        }
        let dir = vigil_tests::test_dir(name);
        let (ka, vg) = (format!("{name}-ka"), format!("{name}-vg"));
        for ns in [&ka, &vg] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&["link", "add", "vk-a", "netns", &ka, "type", "veth", "peer", "name", "vk-b", "netns", &vg]);
        ip(&["-n", &ka, "addr", "add", "192.0.2.1/24", "dev", "vk-a"]);
        ip(&["-n", &ka, "link", "set", "vk-a", "up"]);
        ip(&["-n", &vg, "addr", "add", "192.0.2.2/24", "dev", "vk-b"]);
        ip(&["-n", &vg, "link", "set", "vk-b", "up"]);
        Some(Pair {
            vip: format!("{VIP}/24"),
            extra: [String::new(), String::new()],
            dir,
            ka,
            vg,
            children: Vec::new(),
        })
    }

    fn conf(&self, file: &str, iface: &str, version: u8, priority: u8, interval: &str) -> std::path::PathBuf {
        let p = self.dir.join(file);
        let extra = &self.extra[usize::from(iface == "vk-b")];
        let text = format!(
            "vrrp_instance VI_1 {{\n interface {iface}\n version {version}\n virtual_router_id 51\n priority {priority}\n advert_int {interval}\n{extra} virtual_ipaddress {{\n  {}\n }}\n}}\n",
            self.vip
        );
        std::fs::write(&p, text).unwrap();
        p
    }

    /// keepalived, VRRP only, in the foreground. Returns its index.
    fn keepalived(&mut self, version: u8, priority: u8, interval: &str) -> usize {
        let conf = self.conf("keepalived.conf", "vk-a", version, priority, interval);
        let log = std::fs::File::create(self.dir.join("keepalived.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ka, "keepalived", "-n", "-l", "-D", "--vrrp", "-f"])
            .arg(&conf)
            .arg("-p")
            .arg(self.dir.join("ka.pid"))
            .arg("-r")
            .arg(self.dir.join("ka-vrrp.pid"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    fn vigil(&mut self, version: u8, priority: u8, interval: &str) -> usize {
        let conf = self.conf("vigil.conf", "vk-b", version, priority, interval);
        let log = std::fs::File::create(self.dir.join("vigil.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.vg])
            .arg(firmware(Arch::X86_64))
            .arg("run")
            .arg("--config")
            .arg(&conf)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    fn has_vip(&self, ns: &str) -> bool {
        let out = Command::new("ip").args(["-n", ns, "addr", "show"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.contains(&format!("inet {} ", self.vip)) || text.contains(&format!("inet6 {} ", self.vip))
    }

    /// Waits until `ns` holds the VIP; returns how long that took.
    fn wait_vip(&self, ns: &str, timeout: Duration) -> Duration {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if self.has_vip(ns) {
                return t.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{ns} did not get {} in {timeout:?}\nvigil:\n{}\nkeepalived:\n{}",
            self.vip,
            std::fs::read_to_string(self.dir.join("vigil.log")).unwrap_or_default(),
            std::fs::read_to_string(self.dir.join("keepalived.log")).unwrap_or_default()
        );
    }

    /// keepalived's processes: the parent and its VRRP child.
    fn kill_keepalived(&mut self, sig: &str) {
        for f in ["ka-vrrp.pid", "ka.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join(f)) {
                let _ = Command::new("kill").args([sig, pid.trim()]).stderr(Stdio::null()).status();
            }
        }
    }

    fn signal(&mut self, i: usize, sig: &str) {
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
        for ns in [&self.ka, &self.vg] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// keepalived is master; vigil stays backup (it hears it), and takes over
/// after Master_Down_Interval (3 x 1 s + Skew 0.61 s) when keepalived dies.
#[test]
fn vigil_backs_up_keepalived_v2() {
    let Some(mut p) = Pair::new("vrrp-v2") else { return };
    p.keepalived(2, 150, "1");
    p.wait_vip(&p.ka.clone(), Duration::from_secs(10));
    p.vigil(2, 100, "1");
    std::thread::sleep(Duration::from_secs(5));
    assert!(!p.has_vip(&p.vg.clone()), "vigil took the VIP from a higher-priority master");
    p.kill_keepalived("-KILL");
    let took = p.wait_vip(&p.vg.clone(), Duration::from_secs(10));
    eprintln!("keepalived killed -> vigil owns the VIP after {took:?}");
    assert!(took >= Duration::from_millis(2500), "too early: {took:?}");
}

/// vigil is master (v3, 0.5 s); keepalived stays backup, and when vigil
/// stops cleanly (SIGTERM: priority 0) keepalived takes over after its Skew.
#[test]
fn keepalived_backs_up_vigil_v3() {
    let Some(mut p) = Pair::new("vrrp-v3") else { return };
    let v = p.vigil(3, 150, "0.5");
    p.wait_vip(&p.vg.clone(), Duration::from_secs(10));
    p.keepalived(3, 100, "0.5");
    std::thread::sleep(Duration::from_secs(4));
    assert!(!p.has_vip(&p.ka.clone()), "keepalived took the VIP from a higher-priority master");
    assert!(p.has_vip(&p.vg.clone()));
    p.signal(v, "-TERM");
    let took = p.wait_vip(&p.ka.clone(), Duration::from_secs(5));
    eprintln!("vigil resigned -> keepalived owns the VIP after {took:?}");
    // Skew for priority 100 at 0.5 s is 0.30 s; Master_Down would be 1.8 s.
    assert!(took < Duration::from_millis(1500), "priority 0 was not honoured: {took:?}");
    assert!(!p.has_vip(&p.vg.clone()), "vigil removed the VIP when it stopped");
}

/// Unicast peers (no multicast), as in clouds: vigil master, keepalived
/// backup; vigil resigns and keepalived takes over.
#[test]
fn unicast_peers_with_keepalived() {
    let Some(mut p) = Pair::new("vrrp-uc") else { return };
    p.extra = [
        " unicast_src_ip 192.0.2.1\n unicast_peer {\n  192.0.2.2\n }\n".to_string(),
        " unicast_src_ip 192.0.2.2\n unicast_peer {\n  192.0.2.1\n }\n".to_string(),
    ];
    let v = p.vigil(2, 150, "1");
    p.wait_vip(&p.vg.clone(), Duration::from_secs(10));
    p.keepalived(2, 100, "1");
    std::thread::sleep(Duration::from_secs(5));
    assert!(!p.has_vip(&p.ka.clone()), "keepalived took the VIP: it does not hear vigil's unicast adverts");
    p.signal(v, "-TERM");
    let took = p.wait_vip(&p.ka.clone(), Duration::from_secs(5));
    eprintln!("unicast: vigil resigned -> keepalived owns the VIP after {took:?}");
    assert!(took < Duration::from_millis(2000), "{took:?}");
}

/// VRRPv3 over IPv6 both ways: keepalived master, vigil backup takes over
/// when it is killed; then vigil master resigns and keepalived takes over.
#[test]
fn ipv6_v3_with_keepalived() {
    let Some(mut p) = Pair::new("vrrp-v6") else { return };
    p.vip = "2001:db8::100/64".to_string();
    let k = p.keepalived(3, 150, "0.5");
    p.wait_vip(&p.ka.clone(), Duration::from_secs(15));
    let v = p.vigil(3, 100, "0.5");
    std::thread::sleep(Duration::from_secs(4));
    assert!(!p.has_vip(&p.vg.clone()), "vigil took the VIP from a higher-priority IPv6 master");
    p.kill_keepalived("-KILL");
    let _ = p.children[k].wait();
    let took = p.wait_vip(&p.vg.clone(), Duration::from_secs(10));
    eprintln!("IPv6: keepalived killed -> vigil owns the VIP after {took:?}");
    // vigil (100) is master now; a keepalived at 50 stays backup, then
    // takes over when vigil resigns.
    // A SIGKILLed keepalived leaves its address and pid files behind.
    std::fs::remove_file(p.dir.join("ka.pid")).ok();
    std::fs::remove_file(p.dir.join("ka-vrrp.pid")).ok();
    ip(&["-n", &p.ka.clone(), "addr", "del", "2001:db8::100/64", "dev", "vk-a"]);
    p.keepalived(3, 50, "0.5");
    std::thread::sleep(Duration::from_secs(4));
    assert!(!p.has_vip(&p.ka.clone()), "keepalived did not hear vigil's IPv6 adverts");
    p.signal(v, "-TERM");
    let took = p.wait_vip(&p.ka.clone(), Duration::from_secs(5));
    eprintln!("IPv6: vigil resigned -> keepalived owns the VIP after {took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

/// track_interface with a weight and notify: vigil (150) is master; its
/// tracked interface loses carrier, its priority drops to 90, keepalived
/// (100) preempts; the carrier returns and vigil preempts back. The notify
/// program is called with keepalived's arguments.
#[test]
fn tracking_and_notify_with_keepalived() {
    let Some(mut p) = Pair::new("vrrp-trk") else { return };
    let vg = p.vg.clone();
    ip(&["-n", &vg, "link", "add", "trk0", "type", "veth", "peer", "name", "trk1"]);
    ip(&["-n", &vg, "link", "set", "trk0", "up"]);
    ip(&["-n", &vg, "link", "set", "trk1", "up"]);
    let script = p.dir.join("notify.sh");
    let log = p.dir.join("notify.log");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display())).unwrap();
    Command::new("chmod").arg("755").arg(&script).status().unwrap();
    p.extra[1] = format!(" track_interface {{\n  trk0 weight -60\n }}\n notify {}\n", script.display());
    p.vigil(2, 150, "1");
    p.wait_vip(&vg, Duration::from_secs(10));
    p.keepalived(2, 100, "1");
    std::thread::sleep(Duration::from_secs(3));
    assert!(!p.has_vip(&p.ka.clone()));
    let notified = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(notified.contains("INSTANCE VI_1 MASTER 150"), "{notified:?}");

    ip(&["-n", &vg, "link", "set", "trk1", "down"]); // trk0 loses its carrier
    let took = p.wait_vip(&p.ka.clone(), Duration::from_secs(8));
    eprintln!("tracked link down (150 -> 90) -> keepalived (100) preempts after {took:?}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!p.has_vip(&vg), "vigil kept the VIP after being preempted");
    let notified = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(notified.contains("INSTANCE VI_1 BACKUP 90"), "{notified:?}");

    ip(&["-n", &vg, "link", "set", "trk1", "up"]);
    let took = p.wait_vip(&vg, Duration::from_secs(8));
    eprintln!("tracked link up (90 -> 150) -> vigil preempts back after {took:?}");
}
