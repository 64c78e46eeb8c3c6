//! Supervision in QEMU (a test build with `debug kill`): the VRRP daemon and
//! the checkers are children of PID 1. Killed (SIGKILL) a child is
//! restarted at once; stopped (SIGSTOP) it misses its heartbeats and is
//! killed and restarted. Each time the new VRRP daemon finds its VIP still
//! up and resumes as master: the VIP never leaves; the new checkers start
//! from the verdicts reported before: the IPVS pool does not change, nor
//! does it when a commit changes the virtual server.

use std::time::{Duration, Instant};
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

const CMD: Duration = Duration::from_secs(30);

#[test]
fn a_killed_or_hung_child_is_restarted_the_vip_stays_and_the_pool_holds() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let img = vigil_tests::debug_image("qemu-x86_64");
    let mut c = Cluster::with_configs("supervision", &img, &[vigil_tests::config("supervision")], |_| {}).unwrap();
    let n = 1;
    let node = c.node(n);
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    node.expect("vrrp_instance VI_1: BACKUP -> MASTER", BOOT_TIMEOUT).unwrap();
    let has_vip =
        |node: &mut vigil_image::Node| node.command("show interfaces", CMD).unwrap().contains("inet 192.0.2.100/24");
    assert!(has_vip(node));

    for (sig, why) in [("KILL", "was killed by SIGKILL"), ("STOP", "missed its heartbeats for 3000 ms; killed")] {
        let out = node.command(&format!("debug kill vrrp {sig}"), CMD).unwrap();
        assert!(out.contains("sent to the vrrp child"), "{out}");
        let t = Instant::now();
        node.expect(&format!("supervise: the vrrp child {why}"), CMD).unwrap();
        node.expect("supervise: vrrp child started", CMD).unwrap();
        node.expect("vrrp_instance VI_1: its addresses are still up: resuming as master", CMD).unwrap();
        eprintln!("SIG{sig} -> a new vrrp child mastering after {:?}", t.elapsed());
        assert!(has_vip(node), "the VIP stayed");
        let sup = node.command("show supervision", CMD).unwrap();
        assert!(sup.contains("vrrp: running, pid"), "{sup}");
    }
    let console = node.console_text();
    assert!(!console.contains("removed 192.0.2.100/24"), "the VIP never left:\n{console}");

    // The checkers: the live server (this node) in the pool, the dead one out.
    let dead = "virtual_server 192.0.2.100:80: PING_CHECK real server 192.0.2.77:80: DOWN";
    let went_down = vigil_tests::eventually(CMD, || node.console_text().contains(dead));
    assert!(went_down.is_some(), "the dead server never went down:\n{}", node.console_text());
    let pool = |node: &mut vigil_image::Node| node.command("show ipvs-kernel", CMD).unwrap();
    let before = pool(node);
    assert!(!before.contains("C000024D:0050") && before.contains("C0000201:0050"), "{before}");
    for (sig, why) in [("KILL", "was killed by SIGKILL"), ("STOP", "missed its heartbeats for 3000 ms; killed")] {
        // The child's end may be logged before the command's answer: it is
        // looked for in the whole console, counted.
        let line = format!("supervise: the checkers child {why}");
        let seen = node.console_text().matches(&line).count();
        let out = node.command(&format!("debug kill checkers {sig}"), CMD).unwrap();
        assert!(out.contains("sent to the checkers child"), "{out}");
        let t = Instant::now();
        let ended = vigil_tests::eventually(CMD, || node.console_text().matches(&line).count() > seen);
        assert!(ended.is_some(), "no {line:?}:\n{}", node.console_text());
        node.expect("supervise: checkers child started", CMD).unwrap();
        eprintln!("SIG{sig} -> a new checkers child after {:?}", t.elapsed());
        // Two delay_loops: every check has run again.
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(pool(node), before, "the pool did not change");
        let sup = node.command("show supervision", CMD).unwrap();
        assert!(sup.contains("checkers: running, pid") && sup.contains("vrrp: running, pid"), "{sup}");
    }
    // A commit that changes the virtual server (the checkers start over
    // with the new config) keeps the verdicts of the servers it keeps.
    let out = node.command("set virtual_server 192.0.2.100 80 delay_loop 2", CMD).unwrap();
    assert!(!out.contains("error"), "{out}");
    let starts = |node: &mut vigil_image::Node| node.console_text().matches("checkers: 2 checks of 1").count();
    let before_commit = starts(node);
    let out = node.command("commit", CMD).unwrap();
    assert!(out.contains("written and applied"), "{out}");
    let restarted = vigil_tests::eventually(CMD, || starts(node) != before_commit);
    assert!(restarted.is_some(), "the checkers did not start over:\n{}", node.console_text());
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(pool(node), before, "the pool did not change");
    let console = node.console_text();
    assert_eq!(console.matches(dead).count(), 1, "the dead server was never taken for up again:\n{console}");
    // Heartbeats follow a commit, and `show supervision` says so.
    let out = node.command("set vigil_defs heartbeat_ms 500", CMD).unwrap();
    assert!(!out.contains("error"), "{out}");
    let out = node.command("commit", CMD).unwrap();
    assert!(out.contains("written and applied"), "{out}");
    let g = out.split("generation ").nth(1).and_then(|r| r.split(' ').next()).unwrap().to_string();
    // (The supervisors take it from the config bus a moment after the
    // commit, and say which generation they run; so does the IPVS table,
    // which the commit waited for.)
    let sup = node.command("show supervision", CMD).unwrap();
    assert!(sup.contains(&format!("ipvs: the table follows config generation {g}")), "{sup}");
    let mut sup = String::new();
    let both = vigil_tests::eventually(Duration::from_secs(5), || {
        sup = node.command("show supervision", CMD).unwrap();
        // The VRRP child, the checkers and the BFD child.
        sup.matches(&format!("(heartbeats every 500 ms, limit 3000 ms), config generation {g}")).count() == 3
    });
    assert!(both.is_some(), "{sup}");
    let checks = node.command("show checkers", CMD).unwrap();
    assert!(checks.contains("PING_CHECK 192.0.2.77:80: DOWN"), "{checks}");
    // The new child's first report reaches PID 1 within a quarter second.
    std::thread::sleep(Duration::from_secs(1));
    let vrrp = node.command("show vrrp", CMD).unwrap();
    assert!(vrrp.contains("VI_1 eth0 vrid 9 MASTER"), "{vrrp}");
}
