//! Booting each QEMU board to ready: IPVS present, NICs up with multicast,
//! modules loaded, and a clean power-off from the console.

use std::time::Duration;
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

const CMD: Duration = Duration::from_secs(20);

fn boot_and_check(board: &str, test: &str) {
    if !have_qemu(board) {
        return;
    }
    let mut c = Cluster::start(test, board, 1).expect("starting QEMU");
    let n = c.node(1);
    let init_ms = vigil_image::node::parse_ms_after(&n.expect("/init started", BOOT_TIMEOUT).unwrap(), "started ");
    n.wait_ready(BOOT_TIMEOUT).unwrap();
    assert!(init_ms.is_some(), "the /init line carries a figure");
    assert!(!n.console_text().contains("degraded"), "boot was degraded");
    // The boot order, each step logged with its time since kernel start.
    let console = n.console_text();
    let mut at = 0;
    for step in [
        "/init started",
        "INFO mounts: ",
        "INFO modules (first): ",
        "INFO net: 2: eth0 ",
        "INFO config: ",
        "INFO time: ",
        "INFO supervise: vrrp child started",
        "INFO modules (rest): ",
        "INFO ipvs: IP Virtual Server",
        "vigil: ready in ",
    ] {
        match console[at..].find(step) {
            Some(i) => at += i + step.len(),
            None => panic!("boot step {step:?} not logged after byte {at}:\n{console}"),
        }
    }

    let ipvs = n.command("show ipvs", CMD).unwrap();
    assert!(ipvs.starts_with("IP Virtual Server version 1.2.1"), "{ipvs}");

    let ifs = n.command("show interfaces", CMD).unwrap();
    let eth0 = ifs.lines().find(|l| l.contains(" eth0 ")).unwrap_or_else(|| panic!("no eth0 in:\n{ifs}"));
    for flag in ["UP", "MULTICAST", "LOWER_UP"] {
        assert!(eth0.contains(flag), "eth0 lacks {flag}: {eth0}");
    }
    assert!(eth0.contains("52:54:00:00:00:01"), "{eth0}");
    let lo = ifs.lines().find(|l| l.contains(" lo ")).expect("lo listed");
    assert!(lo.contains("<UP,"), "{lo}");

    let mods = n.command("show modules", CMD).unwrap();
    for m in ["ip_vs", "ip_vs_rr", "nf_conntrack", "virtio_net", "i6300esb"] {
        assert!(mods.lines().any(|l| l == m), "{m} not loaded:\n{mods}");
    }
    let system = n.command("show system", CMD).unwrap();
    assert!(system.contains(&format!("board {board}")), "{system}");
    assert!(system.contains("mode init"), "{system}");
    assert!(system.contains("\nslot none (the kernel was handed over directly)"), "{system}");
    // The kernel that booted is the board's pin (printed: the test says which
    // kernel it ran).
    let pin = vigil_image::load_board(board).unwrap().kernel;
    assert!(system.lines().any(|l| l == format!("kernel {}", pin.release)), "not {}:\n{system}", pin.release);
    println!("{board}: booted {} {} (uname -r {})", pin.package, pin.version, pin.release);

    // A typo is an error that names the word; the console carries on.
    let typo = n.command("shwo system", CMD).unwrap();
    assert!(typo.contains("unknown command \"shwo\""), "{typo}");

    assert!(!n.console_text().contains("failed to load"), "a module failed");
    n.send_line("poweroff now").unwrap();
    n.expect("vigil: powering off (console)", CMD).unwrap();
    n.expect("reboot: Power down", CMD).unwrap();
    n.wait_exit(Duration::from_secs(20)).unwrap();
}

#[test]
fn qemu_x86_64_boots_to_ready() {
    boot_and_check("qemu-x86_64", "boot-x86_64");
}

#[test]
fn qemu_aarch64_boots_to_ready() {
    boot_and_check("qemu-aarch64", "boot-aarch64");
}

/// SIGTERM from the host's side of a panic-free PID 1 is not possible in a
/// VM; Ctrl-Alt-Del is: QEMU's `system_reset` is not it, but `send-key` is.
#[test]
fn ctrl_alt_del_reboots_cleanly() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let mut c = Cluster::start("boot-cad", "qemu-x86_64", 1).expect("starting QEMU");
    let n = c.node(1);
    n.wait_ready(BOOT_TIMEOUT).unwrap();
    let mut qmp = n.qmp().unwrap();
    let keys = serde_json::json!({"keys": [
        {"type": "qcode", "data": "ctrl"}, {"type": "qcode", "data": "alt"}, {"type": "qcode", "data": "delete"}
    ]});
    qmp.execute("send-key", keys).unwrap();
    n.expect("vigil: rebooting (SIGINT)", CMD).unwrap();
    // -no-reboot: QEMU exits instead of starting the guest again.
    n.wait_exit(Duration::from_secs(20)).unwrap();
}
