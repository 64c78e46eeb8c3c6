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
    let mut c = Cluster::empty("watchdog").unwrap();
    let flash = c.flash_with("qemu-x86_64", "watchdog", "vigil_defs {\n watchdog on\n watchdog_timeout 3\n}\n");
    let n = c
        .add(&img, |s| {
            s.flash = Some(flash.clone());
            s.no_reboot = false; // a watchdog reset reboots the VM
        })
        .unwrap();
    let node = c.node(n);
    node.expect("watchdog: /dev/watchdog0 armed, timeout 3 s", BOOT_TIMEOUT).unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    // Pets keep it alive well past the timeout.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(node.console_text().matches(BOOT_LINE).count(), 1, "no reset while PID 1 runs");

    // PID 1 stalls: the board resets and boots again.
    node.send_line("debug stall").unwrap();
    node.expect("debug stall: the event loop stops here", CMD).unwrap();
    let stalled = Instant::now();
    let t = Instant::now();
    while node.console_text().matches(BOOT_LINE).count() < 2 {
        assert!(t.elapsed() < Duration::from_secs(60), "the watchdog never reset the board");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("PID 1 stalled -> board reset after {:?}", stalled.elapsed());
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
        let t = Instant::now();
        while !node.console_text()[from..].contains(then) {
            assert!(t.elapsed() < CMD, "no {then:?} after the commit");
            std::thread::sleep(Duration::from_millis(50));
        }
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
