//! The disk image (`vigil-image disk`) booted as an appliance boots it: QEMU
//! q35 with Debian's OVMF, GRUB from the ESP, the kernel and initramfs from
//! a slot.
//!
//! - Slot A boots; a config committed into the config ring the way it
//!   always was (1 MiB into the disk) is the one that runs.
//! - A damaged copy of the boot environment: GRUB reads the other one and
//!   vigil rewrites it; both damaged: GRUB boots slot a and vigil says so.
//! - Slot B put on trial boots, GRUB counts its tries down, and vigil keeps
//!   it once healthy for `update_confirm_s`: B is the good slot.
//! - A slot whose initramfs is garbage (the kernel panics; panic=-1 reboots)
//!   is tried for its try and rolled back by GRUB alone; vigil says which
//!   slot failed, at the console and in `show boot`.
//!
//! Prints QEMU start -> ready for the disk boot.

use std::time::{Duration, Instant};
use vigil_bootenv::ab::{self, BootState, Slot};
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

const BOARD: &str = "qemu-x86_64";
const CMD: Duration = Duration::from_secs(30);

fn env(board: &vigil_board::Board, disk: &std::path::Path) -> ab::Pair {
    let [a, b] = vigil_image::disk::read_env(board, disk).unwrap();
    let p = ab::read_pair(&a, &b);
    assert!(p.damaged.is_empty(), "{:?}", p.damaged);
    p
}

/// A cluster with `board`'s disk image holding `config` in its config ring.
struct Disk {
    img: vigil_image::build::Image,
    board: vigil_board::Board,
    tree: vigil_image::kernel::KernelTree,
    c: Cluster,
    disk: std::path::PathBuf,
}

fn disk_with(board: &str, test: &str, config: &str) -> Disk {
    let img = vigil_tests::image(board);
    let board = img.board.clone();
    let tree = vigil_image::kernel::fetch(&board).unwrap();
    let c = Cluster::empty(test).unwrap();
    let disk = c.dir.join("disk.img");
    let t = Instant::now();
    vigil_image::disk::build(&board, &tree.image, &img.initrd, &disk).unwrap();
    eprintln!("{test}: disk image built in {:?}", t.elapsed());
    let conf = c.dir.join("disk.conf");
    std::fs::write(&conf, config).unwrap();
    vigil_image::config_tool::install(&board, &disk, &conf).unwrap();
    Disk { img, board, tree, c, disk }
}

/// Boots the disk on a new node; returns its number.
fn boot(d: &mut Disk, reboot: bool) -> usize {
    let disk = d.disk.clone();
    d.c.add(&d.img, |s| {
        s.flash = Some(disk);
        s.boot_disk = true;
        s.no_reboot = !reboot;
    })
    .unwrap()
}

#[test]
fn a_disk_boots_tries_keeps_and_rolls_back_slots() {
    if !have_qemu(BOARD) {
        return;
    }
    let mut d = disk_with(BOARD, "disk-boot", "vigil_defs {\n hostname from-disk\n update_confirm_s 5\n}\n");
    let (board, disk, tree) = (d.board.clone(), d.disk.clone(), d.tree.clone());

    // Slot A, nothing on trial.
    let t = Instant::now();
    let n = boot(&mut d, false);
    let node = d.c.node(n);
    node.expect("vigil: booting slot a (good)", BOOT_TIMEOUT).unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    eprintln!("disk boot: QEMU start -> ready in {:?} (OVMF, GRUB, slot a)", t.elapsed());
    let text = node.console_text();
    assert!(text.contains("config: generation 1 from slot 0"), "the config ring was read where it always was");
    assert!(text.contains("hostname set to from-disk"), "the committed config runs");
    assert!(text.contains("boot: slot a (the good slot)"), "vigil says which slot booted");
    let show = node.command("show boot", CMD).unwrap();
    assert!(show.starts_with("booted   slot a (the good slot)\ngood     slot a\ntrial    none\n"), "{show}");
    let system = node.command("show system", CMD).unwrap();
    assert!(system.contains("\nslot a (the good slot)"), "{system}");
    node.kill();
    assert_eq!(env(&board, &disk).state, BootState::new(Slot::A));

    // A damaged copy: GRUB reads the other, vigil says so and rewrites it.
    vigil_image::disk::write_env_bytes(&board, &disk, &[b'#'; 1024], &[ab::Copy::A]).unwrap();
    let n = boot(&mut d, false);
    let node = d.c.node(n);
    node.expect("vigil: booting slot a (good)", BOOT_TIMEOUT).unwrap();
    node.expect(
        "boot: copy a of the boot environment was damaged (no \"# GRUB Environment Block\" header",
        BOOT_TIMEOUT,
    )
    .unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    node.kill();
    let p = env(&board, &disk);
    assert_eq!((p.state, p.seq), (BootState::new(Slot::A), 2), "both copies whole again");

    // Both damaged: GRUB falls back to slot a; vigil says so and rewrites both.
    vigil_image::disk::write_env_bytes(&board, &disk, &[0u8; 1024], &[ab::Copy::A, ab::Copy::B]).unwrap();
    let n = boot(&mut d, false);
    let node = d.c.node(n);
    node.expect("vigil: booting slot a (good)", BOOT_TIMEOUT).unwrap();
    node.expect("boot: neither copy of the boot environment could be read", BOOT_TIMEOUT).unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    node.kill();
    assert_eq!(env(&board, &disk).state, BootState::new(Slot::A), "both rewritten");

    // B on trial with three tries: GRUB counts one down and boots it; vigil
    // keeps it after 5 s of health.
    let mut s = BootState::new(Slot::A);
    s.start_trial(Slot::B, 3).unwrap();
    vigil_image::disk::write_env(&board, &disk, &s, 10).unwrap();
    let n = boot(&mut d, false);
    let node = d.c.node(n);
    node.expect("vigil: booting slot b (trial)", BOOT_TIMEOUT).unwrap();
    node.expect("boot: slot b on trial (2 more tries after this one)", BOOT_TIMEOUT).unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    node.expect("boot: slot b passed its health gate: it is the good slot now", Duration::from_secs(60)).unwrap();
    let show = node.command("show boot", CMD).unwrap();
    assert!(show.contains("good     slot b\ntrial    none"), "{show}");
    node.kill();
    let p = env(&board, &disk);
    assert_eq!((p.state, p.seq), (BootState::new(Slot::B), 11), "kept in both copies");

    // A broken A (its initramfs is garbage: the kernel panics and reboots)
    // on trial with one try: tried once, then GRUB boots B again.
    let kernel = std::fs::read(&tree.image).unwrap();
    vigil_image::disk::write_slot(&board, &disk, Slot::A, &kernel, b"not an initramfs").unwrap();
    let mut s = BootState::new(Slot::B);
    s.start_trial(Slot::A, 1).unwrap();
    vigil_image::disk::write_env(&board, &disk, &s, 12).unwrap();
    let n = boot(&mut d, true);
    let node = d.c.node(n);
    let t = Instant::now();
    node.expect("vigil: booting slot a (trial)", BOOT_TIMEOUT).unwrap();
    node.expect("Kernel panic", BOOT_TIMEOUT).unwrap();
    node.expect("vigil: booting slot b (rollback)", BOOT_TIMEOUT).unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    eprintln!("a panicking trial: its one try and back on the good slot in {:?}", t.elapsed());
    assert!(node.console_text().contains("boot: slot a failed its trial"), "vigil says which slot failed");
    let show = node.command("show boot", CMD).unwrap();
    assert!(
        show.starts_with("booted   slot b (rolled back)\ngood     slot b\ntrial    none\nfailed   slot a"),
        "{show}"
    );
    node.kill();
    let p = env(&board, &disk);
    assert_eq!((p.state.good, p.state.trying, p.state.failed), (Slot::B, None, Some(Slot::A)));
}

/// arm64: the same disk layout booted by Debian's AAVMF (UEFI for QEMU's
/// `virt`) and GRUB for arm64, to ready on slot A with its config.
#[test]
fn the_arm64_disk_boots_slot_a() {
    const ARM: &str = "qemu-aarch64";
    if !have_qemu(ARM) {
        return;
    }
    let mut d = disk_with(ARM, "disk-boot-arm64", "vigil_defs {\n hostname arm-disk\n}\n");
    let t = Instant::now();
    let n = boot(&mut d, false);
    let node = d.c.node(n);
    node.expect("vigil: booting slot a (good)", BOOT_TIMEOUT).unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    eprintln!("arm64 disk boot: QEMU start -> ready in {:?} (AAVMF, GRUB, slot a)", t.elapsed());
    assert!(node.console_text().contains("hostname set to arm-disk"), "the committed config runs");
    let show = node.command("show boot", CMD).unwrap();
    assert!(show.starts_with("booted   slot a (the good slot)\ngood     slot a\n"), "{show}");
}

/// The board for any UEFI PC (`x86_64-uefi`), on q35 as a PC: OVMF boots
/// its disk from NVMe, the NIC is an e1000e, the watchdog the chipset's
/// iTCO. vigil finds its flash by the partition named `config` (the board
/// says `device = "auto"`), and drivers for hardware that is not there
/// (the AMD watchdog) are no problem.
#[test]
fn the_pc_board_boots_from_nvme_with_e1000e_and_itco() {
    const PC: &str = "x86_64-uefi";
    if !have_qemu(PC) {
        return;
    }
    let mut d =
        disk_with(PC, "disk-boot-pc", "vigil_defs {\n hostname pc\n}\ninterface eth0 {\n address 192.0.2.9/24\n}\n");
    let t = Instant::now();
    let n = boot(&mut d, false);
    let node = d.c.node(n);
    node.expect("vigil: booting slot a (good)", BOOT_TIMEOUT).unwrap();
    node.expect("flash: /dev/nvme0n1 (the disk with a partition named \"config\")", BOOT_TIMEOUT).unwrap();
    node.expect("watchdog: /dev/watchdog0 armed", BOOT_TIMEOUT).unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    eprintln!("x86_64-uefi: QEMU start -> ready in {:?} (OVMF, GRUB, NVMe, e1000e, iTCO)", t.elapsed());
    let text = node.console_text();
    let ready = text.lines().find(|l| l.contains("vigil: ready in")).unwrap_or_default();
    assert!(!ready.contains("degraded"), "{ready}");
    assert!(text.contains("for hardware not here (sp5100_tco)"), "the AMD watchdog's absence is said, not counted");
    assert!(text.contains("hostname set to pc") && text.contains("added 192.0.2.9/24 on eth0"));
    let ifs = node.command("show interfaces", CMD).unwrap();
    assert!(ifs.contains("eth0") && ifs.contains("192.0.2.9/24"), "{ifs}");
}
