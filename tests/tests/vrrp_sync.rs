//! A sync group against keepalived's: vigil and keepalived each run
//! VI_OUT (outside, a veth pair) and VI_IN (inside, through a bridge) in a
//! `vrrp_sync_group`. vigil's inside port is cut: both its instances go to
//! FAULT and keepalived takes both addresses; the port comes back and vigil
//! takes both back. The group's notify program hears GROUP transitions.

use std::process::{Command, Stdio};
use std::time::Duration;
use vigil_tests::vrrp_pair::{Netns, ip, spawn_keepalived, spawn_vigil};
use vigil_tests::{have_program, is_root, require};

const OUT_VIP: &str = "192.0.2.100";
const IN_VIP: &str = "198.51.100.100";

fn conf(out_if: &str, in_if: &str, priority: u8, notify: &str) -> String {
    let inst = |name: &str, iface: &str, vrid: u8, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n interface {iface}\n version 3\n virtual_router_id {vrid}\n priority {priority}\n advert_int 0.5\n virtual_ipaddress {{\n  {vip}/24\n }}\n}}\n"
        )
    };
    format!(
        "vrrp_sync_group G {{\n group {{\n  VI_OUT\n  VI_IN\n }}\n{notify}}}\n{}{}",
        inst("VI_OUT", out_if, 10, OUT_VIP),
        inst("VI_IN", in_if, 20, IN_VIP)
    )
}

fn holds(ns: &str, vip: &str) -> bool {
    let out = Command::new("ip").args(["-n", ns, "-4", "addr", "show"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).contains(&format!("inet {vip}/24"))
}

/// Waits until `ns` holds both VIPs and `other` neither; returns how long.
fn wait_both(ns: &str, other: &str, timeout: Duration, dir: &std::path::Path) -> Duration {
    let both = vigil_tests::eventually(timeout, || {
        holds(ns, OUT_VIP) && holds(ns, IN_VIP) && !holds(other, OUT_VIP) && !holds(other, IN_VIP)
    });
    both.unwrap_or_else(|| {
        panic!(
            "{ns} should hold both VIPs, {other} neither\nvigil:\n{}\nkeepalived:\n{}",
            std::fs::read_to_string(dir.join("vigil.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.join("ka.log")).unwrap_or_default()
        )
    })
}

#[test]
fn a_sync_group_moves_together_with_keepalived() {
    if !require(is_root(), "root (network namespaces)")
        || !require(have_program("keepalived"), "keepalived (apt-get install keepalived)")
    {
        return;
    }
    let dir = vigil_tests::test_dir("vrrp-sync");
    let (ka, vg, br) = ("vs-ka".to_string(), "vs-vg".to_string(), "vs-br".to_string());
    let _ns = [Netns::fresh(&ka), Netns::fresh(&vg), Netns::fresh(&br)];
    ip(&["link", "add", "out0", "netns", &ka, "type", "veth", "peer", "name", "out0", "netns", &vg]);
    ip(&["-n", &br, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", &br, "link", "set", "br0", "up"]);
    for (ns, port) in [(&ka, "pka"), (&vg, "pvg")] {
        ip(&["link", "add", "in0", "netns", ns, "type", "veth", "peer", "name", port, "netns", &br]);
        ip(&["-n", &br, "link", "set", port, "master", "br0"]);
        ip(&["-n", &br, "link", "set", port, "up"]);
    }
    for (ns, host) in [(&ka, 1), (&vg, 2)] {
        ip(&["-n", ns, "addr", "add", &format!("192.0.2.{host}/24"), "dev", "out0"]);
        ip(&["-n", ns, "addr", "add", &format!("198.51.100.{host}/24"), "dev", "in0"]);
        ip(&["-n", ns, "link", "set", "out0", "up"]);
        ip(&["-n", ns, "link", "set", "in0", "up"]);
    }
    let (script, log) = vigil_tests::recording_program(&dir, "notify");

    let vconf = dir.join("vigil.conf");
    std::fs::write(&vconf, conf("out0", "in0", 200, &format!(" notify {}\n", script.display()))).unwrap();
    let kconf = dir.join("keepalived.conf");
    std::fs::write(&kconf, conf("out0", "in0", 100, "")).unwrap();
    let mut children = vec![spawn_vigil(&vg, &vconf, &dir.join("vigil.log"))];
    children.push(spawn_keepalived(&ka, &kconf, &dir, "ka"));
    let _guard = Children(children, dir.clone());

    wait_both(&vg, &ka, Duration::from_secs(10), &dir);
    std::thread::sleep(Duration::from_secs(2));
    assert!(holds(&vg, OUT_VIP) && holds(&vg, IN_VIP) && !holds(&ka, OUT_VIP), "vigil (200) masters both");

    // vigil's inside port goes down: in0 loses its carrier in vigil's namespace.
    ip(&["-n", &br, "link", "set", "pvg", "down"]);
    let took = wait_both(&ka, &vg, Duration::from_secs(5), &dir);
    eprintln!("inside link cut -> keepalived holds both VIPs after {took:?}");
    let notified = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(notified.contains("GROUP G MASTER") && notified.contains("GROUP G FAULT"), "{notified:?}");

    ip(&["-n", &br, "link", "set", "pvg", "up"]);
    let took = wait_both(&vg, &ka, Duration::from_secs(8), &dir);
    eprintln!("inside link back -> vigil holds both VIPs after {took:?}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(holds(&vg, OUT_VIP) && holds(&vg, IN_VIP) && !holds(&ka, OUT_VIP) && !holds(&ka, IN_VIP));
}

/// Kills vigil and keepalived (its pid files are in the test directory).
struct Children(Vec<std::process::Child>, std::path::PathBuf);

impl Drop for Children {
    fn drop(&mut self) {
        for f in ["ka-vrrp.pid", "ka.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.1.join(f)) {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).stderr(Stdio::null()).status();
            }
        }
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
