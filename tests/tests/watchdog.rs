//! The hardware watchdog in QEMU (i6300esb): PID 1 arms it and pets it from
//! its event loop. A clean halt disarms it (the halted VM is left alone); a
//! PID 1 that stops turning its loop (`debug stall`, a test-only build) has
//! the board reset, and it boots again. Commits change its timeout, or turn
//! it off and on, while it runs.

use std::time::{Duration, Instant};
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

const CMD: Duration = Duration::from_secs(30);
const BOOT_LINE: &str = "/init started";

#[test]
fn a_stalled_pid1_is_reset_and_a_clean_halt_is_not() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let img = vigil_tests::debug_image("qemu-x86_64");
    // A watchdog reset reboots the VM.
    let mut c =
        Cluster::with_configs("watchdog", &img, &[vigil_tests::config("watchdog")], |s| s.no_reboot = false).unwrap();
    let node = c.node(1);
    node.expect("watchdog: /dev/watchdog0 armed, timeout 3 s", BOOT_TIMEOUT).unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    // Pets keep it alive well past the timeout.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(node.console_text().matches(BOOT_LINE).count(), 1, "no reset while PID 1 runs");

    // PID 1 stalls: the board resets and boots again.
    node.send_line("debug stall").unwrap();
    node.expect("debug stall: the event loop stops here", CMD).unwrap();
    let reset =
        vigil_tests::eventually(Duration::from_secs(60), || node.console_text().matches(BOOT_LINE).count() >= 2)
            .expect("the watchdog never reset the board");
    eprintln!("PID 1 stalled -> board reset after {reset:?}");
    node.expect("watchdog: /dev/watchdog0 armed, timeout 3 s", BOOT_TIMEOUT).unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();

    // Commits reach the running watchdog: a new timeout (as the driver
    // took it), off (disarmed: no reset however long), on again.
    // The loop logs the watchdog's change as it applies the commit; the
    // shell (a thread of its own) prints its answer when it gets it: the
    // log line may come first, so it is looked for from the commit on.
    let commit = |node: &mut vigil_image::Node, line: &str, then: &str| {
        let out = node.command(line, CMD).unwrap();
        assert!(!out.contains("error"), "{out}");
        let from = node.console_text().len();
        let out = node.command("commit", CMD).unwrap();
        assert!(out.contains("written and applied"), "{out}");
        let applied = vigil_tests::eventually(CMD, || node.console_text()[from..].contains(then));
        assert!(applied.is_some(), "no {then:?} after the commit");
    };
    commit(node, "set vigil_defs watchdog_timeout 5", "watchdog: /dev/watchdog0 timeout 5 s");
    commit(node, "set vigil_defs watchdog off", "watchdog: /dev/watchdog0 disarmed");
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(node.console_text().matches(BOOT_LINE).count(), 2, "no reset while disarmed");
    commit(node, "set vigil_defs watchdog on", "watchdog: /dev/watchdog0 armed, timeout 5 s");

    // A clean halt: disarmed; the halted VM is not reset.
    node.send_line("halt now").unwrap();
    node.expect("watchdog: /dev/watchdog0 disarmed", CMD).unwrap();
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(node.console_text().matches(BOOT_LINE).count(), 2, "no reset after a clean halt");
}

/// 1,000 virtual servers with 10 real servers each: 11,000 IPVS changes,
/// seconds of netlink under emulation.
fn many_services(real_servers: bool) -> String {
    let mut text =
        String::from("vigil_defs {\n watchdog on\n watchdog_timeout 3\n}\ninterface eth0 {\n address 10.0.0.1/24\n}\n");
    for i in 0..1000u32 {
        text.push_str(&format!(
            "virtual_server 198.18.{}.{} 80 {{\n lb_algo rr\n lb_kind NAT\n protocol TCP\n",
            i / 250,
            i % 250 + 1
        ));
        if real_servers {
            for r in 2..12 {
                text.push_str(&format!(" real_server 10.0.0.{r} 80 {{\n  weight 1\n }}\n"));
            }
        }
        text.push_str("}\n");
    }
    text
}

/// The IPVS table is programmed on a thread of its own, and commits on
/// another: a reconcile of 11,000 changes (seconds under emulation) at boot
/// and in a commit leaves PID 1's loop turning, and the watchdog (3 s)
/// petted. (On the loop, a reconcile of 11,000 changes held it 11 s.)
#[test]
fn long_ipvs_reconciles_leave_the_watchdog_petted() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let img = vigil_tests::image("qemu-x86_64");
    let mut c = Cluster::with_configs("watchdog-ipvs", &img, &[many_services(true)], |s| s.no_reboot = false).unwrap();
    let node = c.node(1);
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    let line = "ipvs: 11000 of 11000 changes applied (1000 services, 10000 destinations wanted)";
    node.expect(line, Duration::from_secs(120)).unwrap();
    // The destinations again, in a commit: the services emptied, then back.
    let text = many_services(false);
    vigil_tests::load_keepalived(node, &text);
    let out = node.command("commit", Duration::from_secs(120)).unwrap();
    assert!(out.contains("written and applied"), "{out}");
    let out = node.command("rollback 1", CMD).unwrap();
    assert!(out.contains("candidate loaded from generation"), "{out}");
    let from = node.console_text().len();
    let t = Instant::now();
    let out = node.command("commit", Duration::from_secs(120)).unwrap();
    assert!(out.contains("written and applied"), "{out}");
    eprintln!("a commit of 10,000 destinations took {:?}", t.elapsed());
    assert!(node.console_text()[from..].contains("10000 of 10000 changes applied"), "{}", &node.console_text()[from..]);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(node.console_text().matches(BOOT_LINE).count(), 1, "the watchdog reset the board");
    // No child was killed for a missed heartbeat meanwhile.
    let text = node.console_text();
    for child in ["vrrp", "checkers"] {
        assert_eq!(text.matches(&format!("supervise: {child} child started")).count(), 1, "{child} restarted");
    }
}
