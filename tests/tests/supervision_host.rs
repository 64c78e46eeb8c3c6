//! Supervision on a host (a network namespace): vigil's VRRP daemon runs as
//! a child with only CAP_NET_ADMIN and CAP_NET_RAW, and a killed child is
//! restarted.

use std::process::Command;
use std::time::{Duration, Instant};
use vigil_tests::{is_root, require};

fn wait_log(log: &std::path::Path, after: usize, needle: &str) -> (usize, String) {
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(i) = text[after.min(text.len())..].find(needle) {
            let at = after + i;
            let line = text[at..].lines().next().unwrap_or("").to_string();
            return (at + needle.len(), line);
        }
        assert!(t.elapsed() < Duration::from_secs(15), "no {needle:?} in the log:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pid_in(line: &str) -> u32 {
    line.split("(pid ").nth(1).and_then(|r| r.trim_end_matches(')').parse().ok()).expect("a pid")
}

#[test]
fn the_vrrp_child_runs_with_network_capabilities_only_and_is_restarted() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("supervision-host");
    let ns = "sup-host";
    let _ = Command::new("ip").args(["netns", "del", ns]).status();
    vigil_tests::vrrp_pair::ip(&["netns", "add", ns]);
    vigil_tests::vrrp_pair::ip(&["-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"]);
    for l in ["lo", "eth0", "peer0"] {
        vigil_tests::vrrp_pair::ip(&["-n", ns, "link", "set", l, "up"]);
    }
    vigil_tests::vrrp_pair::ip(&["-n", ns, "addr", "add", "203.0.113.1/24", "dev", "eth0"]);
    let conf = dir.join("vigil.conf");
    std::fs::write(
        &conf,
        "vrrp_instance VI_1 {\n interface eth0\n version 3\n virtual_router_id 3\n priority 100\n advert_int 0.2\n virtual_ipaddress {\n  203.0.113.100/24\n }\n}\n",
    )
    .unwrap();
    let log = dir.join("vigil.log");
    let mut vigil = vigil_tests::vrrp_pair::spawn_vigil(ns, &conf, &log);
    let (at, line) = wait_log(&log, 0, "supervise: vrrp child started");
    let child = pid_in(&line);
    let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap();
    let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap().trim().to_string();
    let bnd = status.lines().find_map(|l| l.strip_prefix("CapBnd:")).unwrap().trim().to_string();
    assert_eq!(eff, "0000000000003000", "CAP_NET_ADMIN and CAP_NET_RAW only:\n{status}");
    assert_eq!(bnd, "0000000000003000", "the bounding set too:\n{status}");
    let (at, _) = wait_log(&log, at, "VI_1: BACKUP -> MASTER");
    let _ = Command::new("kill").args(["-KILL", &child.to_string()]).status();
    let (at, _) = wait_log(&log, at, "supervise: the vrrp child was killed by a signal");
    let (_, line) = wait_log(&log, at, "supervise: vrrp child started");
    assert_ne!(pid_in(&line), child, "a new child");
    let _ = vigil.kill();
    let _ = vigil.wait();
    let _ = Command::new("ip").args(["netns", "del", ns]).status();
}
