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
    n.expect("config: nothing valid on flash", BOOT_TIMEOUT).unwrap();
    n.wait_ready(BOOT_TIMEOUT).unwrap();

    // Mistakes: an unknown command, an unknown keyword, a bad value.
    let out = n.command("sett vigil_defs hostname x", CMD).unwrap();
    assert!(out.contains("error: unknown command \"sett\""), "{out}");
    let out = n.command("set vigil_defs hostnme x", CMD).unwrap();
    assert!(out.contains("error: vigil_defs hostnme x: unknown keyword \"hostnme\" here"), "{out}");
    let out = n.command("set vigil_defs hostname -bad-", CMD).unwrap();
    assert!(out.contains("candidate unchanged"), "{out}");
    let out = n.command("set vigil_defs hostname lb-test", CMD).unwrap();
    assert_eq!(out.trim(), "", "{out}");
    let out = n.command("compare", CMD).unwrap();
    assert!(out.contains("+     hostname lb-test"), "{out}");
    let out = n.command("commit", CMD).unwrap();
    assert!(out.contains("commit: generation 1 written and applied"), "{out}");
    let out = n.command("show system", CMD).unwrap();
    assert!(out.contains("hostname lb-test"), "{out}");
    // A commit that does not validate writes nothing.
    n.command("set vrrp_instance VI_1 interface eth0", CMD).unwrap();
    let out = n.command("commit", CMD).unwrap();
    assert!(out.contains("vrrp_instance VI_1: virtual_router_id must be 1..=255"), "{out}");
    let out = n.command("show history", CMD).unwrap();
    assert!(out.contains("0  generation 1") && !out.contains("generation 2"), "{out}");

    // Interfaces are applied live over rtnetlink: address, MTU, a VLAN.
    n.command("rollback", CMD).unwrap();
    for cmd in [
        "set interface eth0 address 192.0.2.2/24",
        "set interface eth0 mtu 1400",
        "set interface eth0 vlan 10 address 198.51.100.2/24",
    ] {
        let out = n.command(cmd, CMD).unwrap();
        assert_eq!(out.trim(), "", "{cmd}: {out}");
    }
    let out = n.command("commit", CMD).unwrap();
    assert!(out.contains("generation 2 written and applied"), "{out}");
    let ifs = n.command("show interfaces", CMD).unwrap();
    assert!(ifs.contains(" eth0 <UP,BROADCAST,MULTICAST,LOWER_UP> mtu 1400"), "{ifs}");
    assert!(ifs.contains("    inet 192.0.2.2/24"), "{ifs}");
    assert!(ifs.contains(" eth0.10 <UP,BROADCAST,MULTICAST"), "{ifs}");
    assert!(ifs.contains("    inet 198.51.100.2/24"), "{ifs}");
    // Change the address and drop the VLAN: the old address and the VLAN go.
    n.command("delete interface eth0 address 192.0.2.2/24", CMD).unwrap();
    n.command("set interface eth0 address 192.0.2.3/24", CMD).unwrap();
    n.command("delete interface eth0 vlan 10", CMD).unwrap();
    let out = n.command("commit", CMD).unwrap();
    assert!(out.contains("generation 3 written and applied"), "{out}");
    let ifs = n.command("show interfaces", CMD).unwrap();
    assert!(ifs.contains("    inet 192.0.2.3/24") && !ifs.contains("192.0.2.2/"), "{ifs}");
    assert!(!ifs.contains("eth0.10"), "{ifs}");

    // A commit that validates but cannot be applied (there is no eth9): the
    // running config is written back as the newest generation, so the next
    // boot does not run what the operator was told did not take effect.
    n.command("set interface eth9 address 203.0.113.9/24", CMD).unwrap();
    let out = n.command("commit", CMD).unwrap();
    assert!(out.contains("error: commit failed: applying generation 4 failed: "), "{out}");
    assert!(out.contains("on eth9: "), "said in the operator's words: {out}");
    assert!(!out.contains("SetMulticast") && !out.contains("AddAddr"), "no Rust Debug dump: {out}");
    assert!(out.contains("the running config is written back as generation 5 and applied again"), "{out}");
    let out = n.command("show history", CMD).unwrap();
    assert!(out.contains("0  generation 5"), "{out}");

    // Power cut: QEMU is killed, no shutdown.
    n.kill();
    drop(c);

    let mut c = Cluster::start_with("config-shell-2", "qemu-x86_64", 1, with_flash).unwrap();
    let n = c.node(1);
    n.expect("config: generation 5 from slot 4", BOOT_TIMEOUT).unwrap();
    n.wait_ready(BOOT_TIMEOUT).unwrap();
    let out = n.command("show system", CMD).unwrap();
    assert!(out.contains("hostname lb-test"), "{out}");
    assert!(out.contains("config generation 5 in slot 4 of /dev/vda"), "{out}");
    assert!(out.contains("\nclock 20"), "{out}");
    let out = n.command("show config", CMD).unwrap();
    assert!(out.contains("hostname lb-test"), "{out}");
    assert!(!out.contains("VI_1"), "the invalid candidate was never committed: {out}");
    assert!(!out.contains("eth9"), "the commit that failed to apply does not boot: {out}");
    // The interfaces come back from flash at boot.
    let ifs = n.command("show interfaces", CMD).unwrap();
    assert!(ifs.contains(" eth0 <UP,BROADCAST,MULTICAST,LOWER_UP> mtu 1400"), "{ifs}");
    assert!(ifs.contains("    inet 192.0.2.3/24"), "{ifs}");
}
