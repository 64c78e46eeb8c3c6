//! Interop with a second real VRRP implementation: FRR's vrrpd (Debian's
//! `frr`, zebra + vrrpd in a namespace, with the macvlan it requires)
//! beside vigil in host mode in another, joined by a veth pair. v2 and v3,
//! IPv4 and IPv6, each router as master: the higher priority wins whoever
//! starts first, and when the master resigns (SIGTERM: priority 0) the
//! other takes over after Skew_Time instead of Master_Down_Interval. Then a
//! split brain: the link between them cut and restored with a client on
//! the LAN, whose ARP entry for the VIP must come back to vigil's MAC at
//! once.

use std::process::{Child, Command};
use std::time::{Duration, Instant};
use vigil_tests::frr::{self, Frr, Router};
use vigil_tests::vrrp_pair::{Netns, ip, spawn_vigil};
use vigil_tests::{is_root, require};

struct Peers {
    dir: std::path::PathBuf,
    fr: Netns,
    vg: Netns,
    vigil: Option<Child>,
    frr: Option<Frr>,
}

impl Drop for Peers {
    fn drop(&mut self) {
        self.frr.take();
        if let Some(mut c) = self.vigil.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// FRR in `NAME-fr` on `vf-a` (192.0.2.1), vigil in `NAME-vg` on `vf-b`
/// (192.0.2.2); IPv6 link-local addresses without DAD.
fn peers(name: &str) -> Option<Peers> {
    if !require(is_root(), "root (network namespaces)") || !frr::available() {
        return None;
    }
    let dir = vigil_tests::test_dir(name);
    let (fr, vg) = (Netns::fresh(&format!("{name}-fr")), Netns::fresh(&format!("{name}-vg")));
    for ns in [&*fr, &*vg] {
        for key in ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"] {
            let st = Command::new("ip").args(["netns", "exec", ns, "sysctl", "-qw", key]).status().unwrap();
            assert!(st.success());
        }
    }
    ip(&["link", "add", "vf-a", "netns", &fr, "type", "veth", "peer", "name", "vf-b", "netns", &vg]);
    ip(&["-n", &fr, "addr", "add", "192.0.2.1/24", "dev", "vf-a"]);
    ip(&["-n", &vg, "addr", "add", "192.0.2.2/24", "dev", "vf-b"]);
    ip(&["-n", &fr, "link", "set", "vf-a", "up"]);
    ip(&["-n", &vg, "link", "set", "vf-b", "up"]);
    Some(Peers { dir, fr, vg, vigil: None, frr: None })
}

fn vip(v6: bool) -> &'static str {
    if v6 { "2001:db8::100/64" } else { "192.0.2.100/24" }
}

impl Peers {
    fn start_frr(&mut self, version: u8, v6: bool, priority: u8) {
        let router =
            Router { interface: "vf-a".into(), vrid: 9, version, priority, interval_ms: 1000, vip: vip(v6).into() };
        self.frr = Some(Frr::start(&self.fr, &self.dir, router));
    }

    fn start_vigil(&mut self, version: u8, v6: bool, priority: u8) {
        let conf = self.dir.join("vigil.conf");
        let text = format!(
            "vrrp_instance VI_1 {{\n interface vf-b\n version {version}\n virtual_router_id 9\n priority {priority}\n advert_int 1\n virtual_ipaddress {{\n  {}\n }}\n}}\n",
            vip(v6)
        );
        std::fs::write(&conf, text).unwrap();
        self.vigil = Some(spawn_vigil(&self.vg, &conf, &self.dir.join("vigil.log")));
    }

    fn vigil_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("vigil.log")).unwrap_or_default()
    }

    fn frr(&self) -> &Frr {
        self.frr.as_ref().unwrap()
    }

    fn vigil_has_vip(&self, v6: bool) -> bool {
        let out = Command::new("ip").args(["-n", &self.vg, "addr", "show", "vf-b"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&format!(" {} ", vip(v6)))
    }

    /// Waits until vigil holds the VIP (or, `false`, no longer does).
    fn wait_vigil(&self, v6: bool, holds: bool, timeout: Duration) -> Duration {
        vigil_tests::eventually(timeout, || self.vigil_has_vip(v6) == holds).unwrap_or_else(|| {
            panic!(
                "vigil {} the VIP after {timeout:?}\nvigil:\n{}\nFRR:\n{}",
                if holds { "does not hold" } else { "still holds" },
                self.vigil_log(),
                self.frr().log()
            )
        })
    }
}

/// Master_Down_Interval at priority 100 and 1 s: 3.6 s after the last
/// advert; a takeover on priority 0 comes after Skew_Time (0.6 s).
const ON_PRIORITY_ZERO: Duration = Duration::from_secs(2);

/// FRR is master (priority 200), vigil backs it up; FRR resigns and vigil
/// takes over at once; FRR comes back and preempts; FRR is killed and vigil
/// takes over after Master_Down_Interval.
fn frr_master(name: &str, version: u8, v6: bool) {
    let Some(mut p) = peers(name) else { return };
    p.start_frr(version, v6, 200);
    p.frr().wait_state("Master", Duration::from_secs(10));
    p.start_vigil(version, v6, 100);
    vigil_tests::vrrp_pair::wait_log(&p.dir.join("vigil.log"), 0, "vrrp_instance VI_1: INIT -> BACKUP");
    // Three intervals and more: vigil stays backup while FRR's adverts come.
    std::thread::sleep(Duration::from_secs(4));
    assert!(!p.vigil_has_vip(v6), "vigil took the VIP from a better master:\n{}", p.vigil_log());
    assert_eq!(p.frr().state(), "Master");
    p.frr.as_mut().unwrap().stop_vrrpd();
    let took = p.wait_vigil(v6, true, Duration::from_secs(10));
    println!("{name}: FRR resigned -> vigil holds the VIP after {took:?}");
    assert!(took < ON_PRIORITY_ZERO, "vigil waited {took:?}: FRR's priority 0 was not honoured\n{}", p.vigil_log());
    p.frr.as_mut().unwrap().start_vrrpd();
    p.wait_vigil(v6, false, Duration::from_secs(10));
    p.frr().wait_state("Master", Duration::from_secs(5));
    // FRR dies without a word: vigil takes over once Master_Down_Interval
    // (3 x 1 s + 0.61 s) has passed since FRR's last advert (at most 1 s
    // before the kill).
    std::thread::sleep(Duration::from_secs(2));
    p.frr.as_mut().unwrap().kill_vrrpd();
    let took = p.wait_vigil(v6, true, Duration::from_secs(10));
    println!("{name}: FRR killed -> vigil holds the VIP after {took:?}");
    assert!(took >= Duration::from_millis(2500) && took < Duration::from_millis(4000), "{took:?}\n{}", p.vigil_log());
}

/// vigil is master (priority 200), FRR backs it up; vigil stops (SIGTERM:
/// priority 0) and FRR takes over at once.
fn vigil_master(name: &str, version: u8, v6: bool) {
    let Some(mut p) = peers(name) else { return };
    p.start_vigil(version, v6, 200);
    p.wait_vigil(v6, true, Duration::from_secs(10));
    p.start_frr(version, v6, 100);
    p.frr().wait_state("Backup", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(p.frr().state(), "Backup", "FRR took over from a better master:\n{}", p.frr().log());
    assert!(p.vigil_has_vip(v6));
    let pid = p.vigil.as_ref().unwrap().id().to_string();
    let t = Instant::now();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    p.frr().wait_state("Master", Duration::from_secs(10));
    let took = t.elapsed();
    println!("{name}: vigil stopped -> FRR master after {took:?}");
    assert!(took < ON_PRIORITY_ZERO, "FRR waited {took:?}: vigil's priority 0 did not reach it\n{}", p.frr().log());
    assert!(!p.vigil_has_vip(v6), "vigil left the VIP behind");
}

#[test]
fn v3_ipv4_frr_master_vigil_backup() {
    frr_master("fr-3m", 3, false);
}

#[test]
fn v3_ipv4_vigil_master_frr_backup() {
    vigil_master("fr-3b", 3, false);
}

#[test]
fn v2_ipv4_frr_master_vigil_backup() {
    frr_master("fr-2m", 2, false);
}

#[test]
fn v2_ipv4_vigil_master_frr_backup() {
    vigil_master("fr-2b", 2, false);
}

#[test]
fn v3_ipv6_frr_master_vigil_backup() {
    frr_master("fr-6m", 3, true);
}

#[test]
fn v3_ipv6_vigil_master_frr_backup() {
    vigil_master("fr-6b", 3, true);
}

/// A split brain between vigil (priority 150) and FRR (100) on a LAN with
/// a client: vigil's bridge port is cut, FRR takes over and announces the
/// VIP from its virtual MAC, the client learns it; the port comes back.
/// vigil hears FRR's lower-priority adverts and answers with its own advert
/// and an announcement (as keepalived does), FRR falls back to backup, and
/// the client's ARP entry is vigil's MAC again within one advert interval,
/// not when its cache expires.
#[test]
fn after_a_split_brain_with_frr_heals_the_client_learns_the_masters_mac_at_once() {
    use vigil_tests::lan::{Lan, VIP, out};
    if !require(is_root(), "root (network namespaces)")
        || !frr::available()
        || !require(vigil_tests::have_program("ping"), "ping (iputils-ping)")
    {
        return;
    }
    let mut lan = Lan::new("fs");
    let (r1, r2, br, c) = (lan.r1.clone(), lan.r2.clone(), lan.br.clone(), lan.c.clone());
    let log = lan.dir.join(format!("{r1}.log"));
    // vigil advertises every second, FRR every 0.1 s: after the heal, FRR's
    // advert most likely reaches vigil before vigil's reaches FRR (had FRR
    // heard vigil first, it would fall back in silence and nothing would
    // call for an answer: the rounds below allow for that).
    let vconf = lan.dir.join("vigil.conf");
    std::fs::write(
        &vconf,
        format!(
            "vrrp_instance VI_1 {{\n interface eth0\n version 3\n virtual_router_id 7\n priority 150\n advert_int 1\n virtual_ipaddress {{\n  {VIP}/24\n }}\n}}\n"
        ),
    )
    .unwrap();
    lan.children.push(vigil_tests::vrrp_pair::spawn_vigil(&r1, &vconf, &log));
    lan.wait_for(&[1], Duration::from_secs(10));
    let router = Router {
        interface: "eth0".into(),
        vrid: 7,
        version: 3,
        priority: 100,
        interval_ms: 100,
        vip: format!("{VIP}/24"),
    };
    let frr = Frr::start(&r2, &lan.dir, router);
    frr.wait_state("Backup", Duration::from_secs(10));
    let vigil_mac = vigil_image::qemu::mac_string(vigil_tests::vrrp_pair::mac_of(&r1, "eth0"));
    let frr_mac = "00:00:5e:00:01:07";
    let neigh = || out(&["ip", "-n", &c, "neigh", "show", VIP]);
    // Who hears whom first after the heal is a race: when FRR hears vigil's
    // advert before vigil hears FRR's, FRR just falls back and nothing
    // calls for an answer (keepalived behaves the same). A round where
    // vigil heard FRR must heal the client at once; up to four rounds.
    for round in 1..=4 {
        ip(&["-n", &br, "link", "set", "p1", "nomaster"]);
        frr.wait_state("Master", Duration::from_secs(10));
        let replies = out(&["ip", "netns", "exec", &c, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", VIP]);
        assert!(replies.contains(" 0% packet loss"), "the client reaches the VIP at FRR: {replies}");
        assert!(neigh().contains(frr_mac), "the client learnt FRR's virtual MAC: {}", neigh());
        // The kernel ignores a new address for an entry updated within the
        // last second (locktime): let that pass.
        std::thread::sleep(Duration::from_millis(1500));
        let before = std::fs::read_to_string(&log).unwrap().len();
        ip(&["-n", &br, "link", "set", "p1", "master", "br0"]);
        let took = vigil_tests::eventually(Duration::from_secs(3), || neigh().contains(&vigil_mac))
            .unwrap_or(Duration::from_secs(3));
        frr.wait_state("Backup", Duration::from_secs(5));
        let text = std::fs::read_to_string(&log).unwrap();
        let answered = text[before..].contains("with lower priority 100 (ours 150): another master; answered");
        println!(
            "heal {round}: the client has vigil's MAC for the VIP after {took:?} (vigil answered FRR: {answered})"
        );
        if answered {
            // FRR advertises every 0.1 s: vigil answers the first it hears.
            assert!(took < Duration::from_secs(1), "the client kept FRR's MAC for {took:?}: {}", neigh());
            assert_eq!(lan.holders(), [1]);
            return;
        }
    }
    panic!("in four heals vigil never heard FRR's advert before FRR fell back");
}
