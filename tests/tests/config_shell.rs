//! The console shell on a QEMU appliance with a flash disk: a value set and
//! committed at the serial console survives a power cut (QEMU killed), and
//! mistakes print clear errors and change nothing.

use std::time::Duration;
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

const CMD: Duration = Duration::from_secs(30);

fn flash_image(dir: &std::path::Path) -> std::path::PathBuf {
    let b = vigil_image::load_board("qemu-x86_64").unwrap();
    let size = b.flash.as_ref().expect("the board has flash").size.0;
    let path = dir.join("flash.img");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(size).unwrap(); // sparse: erased flash reads as zeros
    path
}

#[test]
fn a_committed_config_survives_a_power_cut() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let dir = vigil_tests::test_dir("config-shell-flash");
    let flash = flash_image(&dir);
    let with_flash = |s: &mut vigil_image::NodeSpec| s.flash = Some(flash.clone());

    let mut c = Cluster::start_with("config-shell-1", "qemu-x86_64", 1, with_flash).unwrap();
    let n = c.node(1);
    n.expect("config: nothing valid on flash", BOOT_TIMEOUT)
        .unwrap();
    n.wait_ready(BOOT_TIMEOUT).unwrap();

    // Mistakes: an unknown command, an unknown keyword, a bad value.
    let out = n.command("sett vigil_defs hostname x", CMD).unwrap();
    assert!(out.contains("error: unknown command \"sett\""), "{out}");
    let out = n.command("set vigil_defs hostnme x", CMD).unwrap();
    assert!(
        out.contains("error: unknown keyword \"hostnme\" here"),
        "{out}"
    );
    let out = n.command("set vigil_defs hostname -bad-", CMD).unwrap();
    assert!(out.contains("candidate unchanged"), "{out}");
    let out = n.command("set vigil_defs hostname lb-test", CMD).unwrap();
    assert_eq!(out.trim(), "", "{out}");
    let out = n.command("compare", CMD).unwrap();
    assert!(out.contains("+     hostname lb-test"), "{out}");
    let out = n.command("commit", CMD).unwrap();
    assert!(
        out.contains("commit: generation 1 written and applied"),
        "{out}"
    );
    let out = n.command("show system", CMD).unwrap();
    assert!(out.contains("hostname lb-test"), "{out}");
    // A commit that does not validate writes nothing.
    n.command("set vrrp_instance VI_1 interface eth0", CMD)
        .unwrap();
    let out = n.command("commit", CMD).unwrap();
    assert!(
        out.contains("vrrp_instance VI_1: virtual_router_id must be 1..=255"),
        "{out}"
    );
    let out = n.command("show history", CMD).unwrap();
    assert!(
        out.contains("0  generation 1") && !out.contains("generation 2"),
        "{out}"
    );

    // Power cut: QEMU is killed, no shutdown.
    n.kill();
    drop(c);

    let mut c = Cluster::start_with("config-shell-2", "qemu-x86_64", 1, with_flash).unwrap();
    let n = c.node(1);
    n.expect("config: generation 1 from slot 0", BOOT_TIMEOUT)
        .unwrap();
    n.wait_ready(BOOT_TIMEOUT).unwrap();
    let out = n.command("show system", CMD).unwrap();
    assert!(out.contains("hostname lb-test"), "{out}");
    let out = n.command("show config", CMD).unwrap();
    assert!(out.contains("hostname lb-test"), "{out}");
    assert!(
        !out.contains("VI_1"),
        "the invalid candidate was never committed: {out}"
    );
}
