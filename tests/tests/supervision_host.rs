//! Supervision on a host (a network namespace): vigil's VRRP daemon runs as
//! a child with only CAP_NET_ADMIN and CAP_NET_RAW, the checkers as one with
//! CAP_NET_RAW only; a killed child is restarted, and a restarted checkers
//! child starts from the verdicts its predecessor reported.

use std::process::Command;
use std::time::Duration;
use vigil_tests::vrrp_pair::{KillOnDrop, Netns, ip, pid_in, spawn_vigil, wait_log};
use vigil_tests::{is_root, require};

#[test]
fn the_vrrp_child_runs_with_network_capabilities_only_and_is_restarted() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("supervision-host");
    let ns = Netns::fresh("sup-host");
    ip(&["-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"]);
    for l in ["eth0", "peer0"] {
        ip(&["-n", &ns, "link", "set", l, "up"]);
    }
    ip(&["-n", &ns, "addr", "add", "203.0.113.1/24", "dev", "eth0"]);
    let conf = dir.join("vigil.conf");
    std::fs::write(
        &conf,
        "vrrp_instance VI_1 {\n interface eth0\n version 3\n virtual_router_id 3\n priority 100\n advert_int 0.2\n virtual_ipaddress {\n  203.0.113.100/24\n }\n}\n",
    )
    .unwrap();
    let log = dir.join("vigil.log");
    let vigil = KillOnDrop(spawn_vigil(&ns, &conf, &log));
    let (at, line) = wait_log(&log, 0, "supervise: vrrp child started");
    let child = pid_in(&line);
    let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap();
    let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap().trim().to_string();
    let bnd = status.lines().find_map(|l| l.strip_prefix("CapBnd:")).unwrap().trim().to_string();
    assert_eq!(eff, "0000000000003000", "CAP_NET_ADMIN and CAP_NET_RAW only:\n{status}");
    assert_eq!(bnd, "0000000000003000", "the bounding set too:\n{status}");
    let (at, _) = wait_log(&log, at, "VI_1: BACKUP -> MASTER");
    let _ = Command::new("kill").args(["-KILL", &child.to_string()]).status();
    let (at, _) = wait_log(&log, at, "supervise: the vrrp child was killed by SIGKILL");
    let (_, line) = wait_log(&log, at, "supervise: vrrp child started");
    assert_ne!(pid_in(&line), child, "a new child");
    drop(vigil);
}

fn caps(pid: u32) -> (String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let get = |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).unwrap().trim().to_string();
    (get("CapEff:"), get("CapBnd:"))
}

#[test]
fn the_checkers_child_runs_with_raw_sockets_only_and_resumes_its_verdicts() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("supervision-checkers");
    let ns = Netns::fresh("sup-chk");
    // Nothing listens on 8081: DOWN. PING_CHECK needs the raw socket: UP.
    let conf = dir.join("vigil.conf");
    std::fs::write(
        &conf,
        "vigil_defs {\n heartbeat_ms 200\n heartbeat_limit_ms 600\n}\n\
         virtual_server 127.0.0.1 8080 {\n delay_loop 1\n lb_algo rr\n protocol TCP\n\
         real_server 127.0.0.1 8081 {\n  TCP_CHECK {\n   connect_timeout 1\n   retry 1\n  }\n }\n\
         real_server 127.0.0.2 8082 {\n  PING_CHECK {\n   connect_timeout 1\n   retry 1\n  }\n }\n}\n",
    )
    .unwrap();
    let log = dir.join("vigil.log");
    let vigil = KillOnDrop(spawn_vigil(&ns, &conf, &log));
    let (at, line) = wait_log(&log, 0, "supervise: checkers child started");
    let child = pid_in(&line);
    assert_eq!(caps(child), ("0000000000002000".into(), "0000000000002000".into()), "CAP_NET_RAW only");
    let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap();
    let pgrp: u32 = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(pgrp, child, "its own process group: {stat}");
    let (at, _) = wait_log(&log, at, "virtual_server 127.0.0.1:8080: TCP_CHECK real server 127.0.0.1:8081: DOWN");
    // The ping is answered (the raw socket works) and nothing says otherwise.
    std::thread::sleep(Duration::from_secs(2));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("virtual_server 127.0.0.1:8080: PING_CHECK real server 127.0.0.2:8082: DOWN"), "{text}");
    let _ = Command::new("kill").args(["-KILL", &child.to_string()]).status();
    let (at, _) = wait_log(&log, at, "supervise: the checkers child was killed by SIGKILL");
    let (at, line) = wait_log(&log, at, "supervise: checkers child started");
    let second = pid_in(&line);
    assert_ne!(second, child, "a new child");
    // Started from the reported verdicts: the dead server is not taken for
    // up (and then found down again), the live one not for down.
    std::thread::sleep(Duration::from_secs(4));
    let text = std::fs::read_to_string(&log).unwrap();
    let after = &text[at..];
    assert!(!after.contains("real server 127.0.0.1:8081"), "no verdict change after the restart:\n{text}");
    assert!(!after.contains("real server 127.0.0.2:8082"), "no verdict change after the restart:\n{text}");
    assert!(std::path::Path::new(&format!("/proc/{second}")).exists(), "the new child keeps running:\n{text}");
    // Stopped, it misses the configured heartbeats.
    let _ = Command::new("kill").args(["-STOP", &second.to_string()]).status();
    let (at, _) = wait_log(&log, at, "supervise: the checkers child missed its heartbeats for 600 ms; killed");
    let (_, line) = wait_log(&log, at, "supervise: checkers child started");
    assert_ne!(pid_in(&line), second, "a new child");
    drop(vigil);
}
