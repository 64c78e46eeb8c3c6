//! BFD (`bfd_instance`, `track_bfd`, BFD_CHECK) against two independent
//! implementations as the neighbor, each in a namespace of its own joined
//! to vigil's (host mode) by a veth pair: FRR's bfdd and keepalived's own
//! BFD process. The session comes up with each; when the neighbor dies the
//! VRRP instance that tracks it goes to FAULT (and back when it returns),
//! a BFD_CHECK takes its real server out (and back); when vigil stops, the
//! neighbor hears AdminDown and goes down at once.

use std::process::Command;
use std::time::{Duration, Instant};
use vigil_tests::frr::Bfdd;
use vigil_tests::vrrp_pair::{KillOnDrop, Netns, ip, spawn_vigil, wait_log};
use vigil_tests::{is_root, require};

/// Two namespaces: the neighbor's on `bf-a` (192.0.2.1), vigil's on `bf-b`
/// (192.0.2.2).
fn link(name: &str) -> Option<(std::path::PathBuf, Netns, Netns)> {
    if !require(is_root(), "root (network namespaces)") {
        return None;
    }
    let dir = vigil_tests::test_dir(name);
    let (nb, vg) = (Netns::fresh(&format!("{name}-nb")), Netns::fresh(&format!("{name}-vg")));
    ip(&["link", "add", "bf-a", "netns", &nb, "type", "veth", "peer", "name", "bf-b", "netns", &vg]);
    ip(&["-n", &nb, "addr", "add", "192.0.2.1/24", "dev", "bf-a"]);
    ip(&["-n", &vg, "addr", "add", "192.0.2.2/24", "dev", "bf-b"]);
    ip(&["-n", &nb, "link", "set", "bf-a", "up"]);
    ip(&["-n", &vg, "link", "set", "bf-b", "up"]);
    Some((dir, nb, vg))
}

const VIGIL_BFD: &str =
    "bfd_instance B1 {\n neighbor_ip 192.0.2.1\n source_ip 192.0.2.2\n min_rx 100\n min_tx 100\n multiplier 3\n}\n";

fn has_vip(ns: &str) -> bool {
    let out = Command::new("ip").args(["-n", ns, "-4", "addr", "show", "bf-b"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).contains("192.0.2.100/24")
}

#[test]
fn track_bfd_follows_frr_bfdd_and_frr_hears_vigil_stop() {
    let Some((dir, nb, vg)) = link("bfd-frr") else { return };
    if !Bfdd::available() {
        return;
    }
    let conf = dir.join("vigil.conf");
    std::fs::write(
        &conf,
        format!(
            "{VIGIL_BFD}vrrp_instance VI {{\n state BACKUP\n interface bf-b\n virtual_router_id 9\n priority 100\n advert_int 1\n\
             virtual_ipaddress {{\n  192.0.2.100/24\n }}\n track_bfd {{\n  B1\n }}\n}}\n\
             virtual_server 192.0.2.100 80 {{\n delay_loop 60\n protocol TCP\n real_server 192.0.2.1 80 {{\n  BFD_CHECK {{\n   name B1\n  }}\n }}\n}}\n"
        ),
    )
    .unwrap();
    let log = dir.join("vigil.log");
    let mut vigil = KillOnDrop(spawn_vigil(&vg, &conf, &log));
    // Before the neighbor answers: the tracking instance waits in FAULT,
    // and the BFD_CHECK's real server starts out of the pool (no quorum).
    let (at, _) = wait_log(&log, 0, "vrrp_instance VI: INIT -> FAULT");
    wait_log(&log, 0, "virtual_server 192.0.2.100:80: quorum lost");
    let mut frr = Bfdd::start(
        &nb,
        &dir,
        "bfd\n peer 192.0.2.2 local-address 192.0.2.1\n  receive-interval 100\n  transmit-interval 100\n !\n!\n",
    );
    let (at, _) = wait_log(&log, at, "bfd_instance B1: up with 192.0.2.1");
    let (at, _) = wait_log(&log, at, "vrrp_instance VI: FAULT -> BACKUP");
    let (_, _) = wait_log(&log, at, "BFD_CHECK real server 192.0.2.1:80: UP");
    let (at, _) = wait_log(&log, at, "vrrp_instance VI: BACKUP -> MASTER");
    assert!(has_vip(&vg));
    let (status, ..) = frr.peer("192.0.2.2").expect("bfdd knows its peer");
    assert_eq!(status, "up", "{}", frr.log());

    // The neighbor dies: down after 3 x 100 ms, the instance to FAULT.
    let killed = Instant::now();
    frr.kill_bfdd();
    let (at, line) = wait_log(&log, at, "bfd_instance B1: down with 192.0.2.1");
    assert!(line.contains("(control detection time expired)"), "{line}");
    let (at, _) = wait_log(&log, at, "vrrp_instance VI: MASTER -> FAULT");
    let to_fault = killed.elapsed();
    wait_log(&log, at, "BFD_CHECK real server 192.0.2.1:80: DOWN");
    assert!(!has_vip(&vg), "the VIP went with the session");
    eprintln!("bfdd killed -> the tracking instance in FAULT after {to_fault:?} (detection time 300 ms)");

    // Back: up again, and master again.
    frr.start_bfdd();
    let (at, _) = wait_log(&log, at, "bfd_instance B1: up with 192.0.2.1");
    let (at, _) = wait_log(&log, at, "vrrp_instance VI: FAULT -> BACKUP");
    wait_log(&log, at, "BFD_CHECK real server 192.0.2.1:80: UP");
    wait_log(&log, at, "vrrp_instance VI: BACKUP -> MASTER");

    // vigil stops: bfdd hears AdminDown and goes down without waiting out
    // its detection time.
    let up = vigil_tests::eventually(Duration::from_secs(10), || frr.peer("192.0.2.2").is_some_and(|p| p.0 == "up"));
    assert!(up.is_some(), "bfdd never saw the session up again:\n{}", frr.log());
    let pid = vigil.0.id().to_string();
    let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(st.success());
    let _ = vigil.0.wait();
    let heard = frr.peer("192.0.2.2");
    let (status, diag, remote) = heard.clone().unwrap_or_default();
    assert_eq!(
        (status.as_str(), diag.as_str(), remote.as_str()),
        ("down", "neighbor signaled session down", "administratively down"),
        "{heard:?}\n{}",
        frr.log()
    );
}

#[test]
fn keepalived_bfd_and_vigil_come_up_and_keepalived_follows_a_killed_and_a_stopped_vigil() {
    let Some((dir, nb, vg)) = link("bfd-ka") else { return };
    if !require(vigil_tests::have_program("keepalived"), "keepalived (apt-get install keepalived)") {
        return;
    }
    let kconf = dir.join("keepalived.conf");
    std::fs::write(
        &kconf,
        "bfd_instance V {\n  neighbor_ip 192.0.2.2\n  source_ip 192.0.2.1\n  min_rx 100\n  min_tx 100\n  multiplier 3\n}\n",
    )
    .unwrap();
    let klog = dir.join("keepalived.log");
    let out = std::fs::File::create(&klog).unwrap();
    let _ka = KillOnDrop(
        Command::new("ip")
            .args(["netns", "exec", &nb, "keepalived", "-n", "-l", "-D", "-f"])
            .arg(&kconf)
            .arg("-p")
            .arg(dir.join("k.pid"))
            .arg("-b")
            .arg(dir.join("b.pid"))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap(),
    );
    let conf = dir.join("vigil.conf");
    std::fs::write(&conf, VIGIL_BFD).unwrap();
    let log = dir.join("vigil.log");
    let mut vigil = KillOnDrop(spawn_vigil(&vg, &conf, &log));
    let (_, started) = wait_log(&log, 0, "supervise: bfd child started (pid ");
    let (vat, _) = wait_log(&log, 0, "bfd_instance B1: up with 192.0.2.1");
    let (at, _) = wait_log(&klog, 0, "(V) Entering Up state");

    // The BFD child killed: the supervisor starts another at once, whose
    // first packets (Down, a new discriminator) take keepalived's session
    // down before its detection time has run out; then it comes up again.
    let pid = started.split("(pid ").nth(1).and_then(|p| p.split(')').next()).unwrap_or_default().to_string();
    let st = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    assert!(st.success(), "kill {pid}");
    let (at, line) = wait_log(&klog, at, "(V) Entering Down state");
    assert!(
        line.contains("Neighbor Signaled Session Down") || line.contains("Control Detection Time Expired"),
        "{line}"
    );
    eprintln!("BFD child killed -> keepalived: {line}");
    let (vat, _) = wait_log(&log, vat, "supervise: bfd child started (pid ");
    wait_log(&log, vat, "bfd_instance B1: up with 192.0.2.1");
    let (at, _) = wait_log(&klog, at, "(V) Entering Up state");

    // vigil stops (its children, however it ends): AdminDown, and
    // keepalived goes down at once.
    let st = Command::new("kill").args(["-TERM", &vigil.0.id().to_string()]).status().unwrap();
    assert!(st.success());
    let _ = vigil.0.wait();
    let (_, line) = wait_log(&klog, at, "(V) Entering Down state");
    assert!(line.contains("Neighbor Signaled Session Down") && line.contains("Administratively Down"), "{line}");
}
