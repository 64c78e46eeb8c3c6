//! Time sync in QEMU: an appliance boots with its clock 25 years wrong
//! (QEMU's RTC set to 2001) and a time server configured (a test node
//! answering NTP with its own, right, clock). Before the daemons start it
//! steps its clock; the next poll finds it within 50 ms of the server.

use std::time::{Duration, SystemTime};
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

#[test]
fn a_wrong_clock_is_stepped_at_boot_and_stays_within_50_ms() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let ts_img = vigil_tests::test_server_image("qemu-x86_64");
    let img = vigil_tests::image("qemu-x86_64");
    let mut c = Cluster::empty("qemu-time").unwrap();
    let server = c.add(&ts_img, |s| s.extra_cmdline = "vigil.name=ntp vigil.ip=10.0.0.11/24".into()).unwrap();
    c.node(server).expect("test-server: ntp ready", BOOT_TIMEOUT).unwrap();
    let n = c
        .add_with_config(&img, &vigil_tests::config("time"), |s| s.rtc_base = Some("2001-01-01T00:00:00".into()))
        .unwrap();
    let node = c.node(n);
    let stepped = node.expect("time: stepped by", BOOT_TIMEOUT).unwrap();
    eprintln!("{}", stepped.trim());
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    assert!(stepped.contains("from 10.0.0.11"), "{stepped}");
    // The first poll after the step (2 s later) measures what is left.
    let mut line = String::new();
    let polled = vigil_tests::eventually(Duration::from_secs(30), || {
        line = node.command("show time", Duration::from_secs(20)).unwrap();
        line.contains("(kept)") || line.contains("(slewing)")
    });
    assert!(polled.is_some(), "no poll after the step: {line}");
    let offset: f64 = line
        .split("offset ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {line:?}"));
    eprintln!("after the step: {}", line.trim());
    assert!(offset.abs() < 50.0, "{offset} ms from the server");
    // A slew of a millisecond or more takes the kernel over 2 s (500 ppm):
    // `show time` tells how much is left meanwhile.
    if line.contains("(slewing)") && offset.abs() >= 1.0 {
        assert!(line.contains("time: slewing, ") && line.contains(" left"), "{line}");
    }
    // And the wall clock is this year's, not 2001's.
    let year = 1970 + SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() / 31_556_952;
    let system = node.command("show system", Duration::from_secs(20)).unwrap();
    assert!(system.contains(&format!("\nclock {year}-")), "{system}");
}
