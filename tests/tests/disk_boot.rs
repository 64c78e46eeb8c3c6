//! The disk image (`vigil-image disk`) booted as an appliance boots it: QEMU
//! q35 with Debian's OVMF, GRUB from the ESP, the kernel and initramfs from
//! a slot.
//!
//! - Slot A boots; a config committed into the config ring the way it
//!   always was (1 MiB into the disk) is the one that runs.
//! - Slot B put on trial boots, GRUB counts its tries down, and vigil keeps
//!   it once healthy for `update_confirm_s`: B is the good slot.
//! - A slot whose initramfs is garbage (the kernel panics; panic=-1 reboots)
//!   is tried for its try and rolled back by GRUB alone; vigil says which
//!   slot failed, at the console and in `show boot`.
//!
//! - arm64: U-Boot (as UEFI) and AAVMF both boot the image and GRUB counts
//!   trials through either. A damaged copy of the boot environment: GRUB
//!   reads the other one and vigil rewrites it; both damaged: GRUB boots
//!   slot a and vigil says so (the same GRUB script as on x86_64, where a
//!   boot takes twice as long under emulation).
//! - The ROCK Pi E image: Debian's U-Boot where the RK3328 boot ROM reads
//!   it, the partitions after it, the device tree in each slot.
//!
//! Prints QEMU start -> ready for the disk boot.

use std::time::{Duration, Instant};
use vigil_bootenv::ab::{self, BootState, Slot};
use vigil_tests::disk::{Disk, boot, break_slot, disk_of, disk_with, env, put_on_trial};
use vigil_tests::{BOOT_TIMEOUT, have_qemu};

const BOARD: &str = "qemu-x86_64";
const CMD: Duration = Duration::from_secs(30);

#[test]
fn a_disk_boots_tries_keeps_and_rolls_back_slots() {
    if !have_qemu(BOARD) {
        return;
    }
    let mut d = disk_with(BOARD, "disk-boot", "vigil_defs {\n hostname from-disk\n update_confirm_s 5\n}\n");
    let (board, disk) = (d.board.clone(), d.disk.clone());

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

    // B on trial with three tries: GRUB counts one down and boots it; vigil
    // keeps it after 5 s of health.
    put_on_trial(&d, Slot::A, Slot::B, 3, 10);
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
    break_slot(&d, Slot::A);
    put_on_trial(&d, Slot::B, Slot::A, 1, 12);
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

/// A trial that crash-loops (a child restarted past its limit: the gate
/// fails, vigil notes why on the ESP and reboots) and a trial that hangs
/// (PID 1 stalls: the watchdog resets the board) each come back on the good
/// slot by themselves, GRUB rolling back when the one try is spent; the
/// good slot says why.
#[test]
fn a_trial_that_crash_loops_or_hangs_comes_back_on_the_good_slot() {
    if !have_qemu(BOARD) {
        return;
    }
    // The board's watchdog timeout (30 s) while a child crash-loops: PID 1
    // pets the watchdog only while its children are healthy, and a child
    // restarting under TCG can take more than a short timeout.
    let config = "vigil_defs {\n update_confirm_s 600\n}\n";
    let mut d = disk_of(vigil_tests::debug_image(BOARD), "disk-boot-fail", config);
    let trial = |d: &Disk| {
        let seq = vigil_image::disk::read_env(&d.board, &d.disk).map(|[a, b]| ab::read_pair(&a, &b).seq).unwrap();
        put_on_trial(d, Slot::A, Slot::B, 1, seq + 1);
    };

    // Crash loop: the checkers child killed until the supervisor gives up.
    trial(&d);
    let n = boot(&mut d, true);
    let node = d.c.node(n);
    node.expect("vigil: booting slot b (trial)", BOOT_TIMEOUT).unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    let t = Instant::now();
    let mut kills = 0;
    while !node.console_text().contains("checkers: crash loop") {
        assert!(kills < 12, "no crash loop after {kills} kills");
        let out = node.command("debug kill checkers", CMD).unwrap();
        assert!(out.starts_with("debug: "), "{out}");
        if out.contains("SIGKILL sent") {
            kills += 1;
            let _ = node.expect("checkers child started", Duration::from_secs(10));
        }
    }
    node.expect("boot: slot b fails its trial: checkers kept crashing and was given up; rebooting", CMD).unwrap();
    node.expect("vigil: booting slot a (rollback)", BOOT_TIMEOUT).unwrap();
    node.expect("boot: slot b failed its trial: checkers kept crashing and was given up; back on slot a", BOOT_TIMEOUT)
        .unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    eprintln!("crash-looping trial ({kills} kills) -> back on slot a, ready, in {:?}", t.elapsed());
    let show = node.command("show boot", CMD).unwrap();
    assert!(show.contains("good     slot a\n"), "{show}");
    node.kill();
    assert_eq!(env(&d.board, &d.disk).state.failed, Some(Slot::B));

    // A hang: PID 1 stops petting the watchdog.
    trial(&d);
    let n = boot(&mut d, true);
    let node = d.c.node(n);
    node.expect("vigil: booting slot b (trial)", BOOT_TIMEOUT).unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    // A short timeout, so the hang is caught soon.
    node.command("set vigil_defs watchdog_timeout 3", CMD).unwrap();
    // The loop applies the watchdog's change as the config thread publishes
    // it: its line may come before the commit's answer.
    let from = node.console_text().len();
    node.command("commit", CMD).unwrap();
    let applied =
        vigil_tests::eventually(CMD, || node.console_text()[from..].contains("watchdog: /dev/watchdog0 timeout 3 s"));
    assert!(applied.is_some(), "the watchdog's new timeout was not applied");
    node.send_line("debug stall").unwrap();
    node.expect("debug stall: the event loop stops here", CMD).unwrap();
    let t = Instant::now();
    node.expect("vigil: booting slot a (rollback)", BOOT_TIMEOUT).unwrap();
    let said = node.expect("boot: slot b failed its trial: ", BOOT_TIMEOUT).unwrap();
    assert!(!said.contains("crash"), "an old note is not believed: {said}");
    assert!(said.contains("hang"), "{said}");
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    eprintln!("hung trial -> watchdog reset -> back on slot a, ready, in {:?}: {said}", t.elapsed());
    node.kill();
}

/// arm64: the same disk layout booted by U-Boot (Debian's `qemu_arm64`
/// build, acting as UEFI: the chain real arm64 boards use) and GRUB for
/// arm64, to ready on slot A with its config; then slot B on trial, its
/// tries counted down by GRUB through U-Boot's block I/O, kept; then the
/// same disk booted by AAVMF (EDK2), the other firmware measured.
#[test]
fn the_arm64_disk_boots_through_u_boot_and_aavmf() {
    const ARM: &str = "qemu-aarch64";
    if !have_qemu(ARM) {
        return;
    }
    let mut d = disk_with(ARM, "disk-boot-arm64", "vigil_defs {\n hostname arm-disk\n update_confirm_s 5\n}\n");
    let t = Instant::now();
    let n = boot(&mut d, false);
    let node = d.c.node(n);
    node.expect("U-Boot 20", BOOT_TIMEOUT).unwrap();
    node.expect("vigil: booting slot a (good)", BOOT_TIMEOUT).unwrap();
    let grub = t.elapsed();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    eprintln!("arm64 disk boot: QEMU start -> GRUB {grub:?} -> ready {:?} (U-Boot, GRUB, slot a)", t.elapsed());
    assert!(node.console_text().contains("hostname set to arm-disk"), "the committed config runs");
    let show = node.command("show boot", CMD).unwrap();
    assert!(show.starts_with("booted   slot a (the good slot)\ngood     slot a\n"), "{show}");
    node.kill();

    // A damaged copy: GRUB reads the other, vigil says so and rewrites it.
    vigil_image::disk::write_env_bytes(&d.board, &d.disk, &[b'#'; 1024], &[ab::Copy::A]).unwrap();
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
    let p = env(&d.board, &d.disk);
    assert_eq!((p.state, p.seq), (BootState::new(Slot::A), 2), "both copies whole again");

    // Both damaged: GRUB falls back to slot a; vigil says so and rewrites both.
    vigil_image::disk::write_env_bytes(&d.board, &d.disk, &[0u8; 1024], &[ab::Copy::A, ab::Copy::B]).unwrap();
    let n = boot(&mut d, false);
    let node = d.c.node(n);
    node.expect("vigil: booting slot a (good)", BOOT_TIMEOUT).unwrap();
    node.expect("boot: neither copy of the boot environment could be read", BOOT_TIMEOUT).unwrap();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    node.kill();
    assert_eq!(env(&d.board, &d.disk).state, BootState::new(Slot::A), "both rewritten");

    put_on_trial(&d, Slot::A, Slot::B, 3, 10);
    let n = boot(&mut d, false);
    let node = d.c.node(n);
    node.expect("vigil: booting slot b (trial)", BOOT_TIMEOUT).unwrap();
    node.expect("boot: slot b on trial (2 more tries after this one)", BOOT_TIMEOUT).unwrap();
    node.expect("boot: slot b passed its health gate: it is the good slot now", Duration::from_secs(60)).unwrap();
    node.kill();
    assert_eq!(env(&d.board, &d.disk).state, BootState::new(Slot::B), "kept in both copies");

    // A on trial with a garbage initramfs: the kernel panics, U-Boot and
    // GRUB start again, GRUB rolls back to B.
    break_slot(&d, Slot::A);
    put_on_trial(&d, Slot::B, Slot::A, 1, 12);
    let n = boot(&mut d, true);
    let node = d.c.node(n);
    node.expect("vigil: booting slot a (trial)", BOOT_TIMEOUT).unwrap();
    node.expect("Kernel panic", BOOT_TIMEOUT).unwrap();
    node.expect("vigil: booting slot b (rollback)", BOOT_TIMEOUT).unwrap();
    let said = node.expect("boot: slot a failed its trial: ", BOOT_TIMEOUT).unwrap();
    assert!(said.contains("a kernel panic"), "{said}");
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    node.kill();

    let aavmf = vigil_board::Uefi {
        code: "/usr/share/AAVMF/AAVMF_CODE.fd".into(),
        vars: Some("/usr/share/AAVMF/AAVMF_VARS.fd".into()),
        package: "qemu-efi-aarch64".into(),
    };
    let disk = d.disk.clone();
    let t = Instant::now();
    let n =
        d.c.add(&d.img, |s| {
            s.flash = Some(disk);
            s.boot_disk = true;
            s.uefi = Some(aavmf);
        })
        .unwrap();
    let node = d.c.node(n);
    node.expect("vigil: booting slot b (good)", BOOT_TIMEOUT).unwrap();
    let grub = t.elapsed();
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    eprintln!("arm64 disk boot: QEMU start -> GRUB {grub:?} -> ready {:?} (AAVMF, GRUB, slot b)", t.elapsed());
}

/// The ROCK Pi E (RK3328) cannot run in QEMU; its image is checked as its
/// boot ROM and U-Boot will read it: Debian's `idbloader.img` at sector 64
/// and `u-boot.itb` at sector 16384, byte for byte; the partitions after
/// them (a flash to a file verifies the layout); GRUB for arm64 at the
/// removable path U-Boot's distro boot looks for; and each slot holding its
/// kernel's own device tree, which GRUB's script loads.
#[test]
fn the_rock_pi_e_image_has_u_boot_where_the_boot_rom_reads_it() {
    const ROCK: &str = "rock-pi-e";
    let need = ["dpkg-deb", "apt-get", "grub-mkimage"];
    if !need.iter().all(|p| vigil_tests::require(vigil_tests::have_program(p), p)) {
        return;
    }
    let img = vigil_tests::image(ROCK);
    let board = img.board.clone();
    let tree = vigil_image::kernel::fetch(&board).unwrap();
    let dir = vigil_tests::test_dir("disk-rock-pi-e");
    let disk = dir.join("disk.img");
    let files = vigil_image::disk::SlotFiles::load(&board, &tree, &img.initrd).unwrap();
    let built = vigil_image::disk::build(&board, &files, &disk).unwrap();
    assert_eq!(built.parts[0].offset, 16 << 20, "after the loaders' sectors");
    let bytes = std::fs::read(&disk).unwrap();
    let parts = vigil_image::disk::layout(&board).unwrap();
    for raw in vigil_image::disk::bootloader(&board, &parts).unwrap() {
        let at = raw.offset as usize;
        assert!(bytes[at..at + raw.bytes.len()] == raw.bytes[..], "{} at {at}", raw.file);
    }
    assert_eq!(&bytes[512..520], b"EFI PART", "a GPT");
    let out = dir.join("card.img");
    vigil_image::flash::flash(&board, &disk, &out).unwrap();
    assert!(std::fs::read(&out).unwrap() == bytes, "flashed and read back");
    let grub = vigil_image::disk::read_file(&board, &disk, "esp", "EFI/BOOT/BOOTAA64.EFI").unwrap();
    assert_eq!(&grub[..2], b"MZ", "an EFI program");
    let cfg =
        String::from_utf8(vigil_image::disk::read_file(&board, &disk, "esp", "EFI/vigil/grub.cfg").unwrap()).unwrap();
    assert!(cfg.contains("devicetree ($disk,$part)/dtb"), "{cfg}");
    let dtb = std::fs::read(tree.root.join(board.kernel.devicetree.as_deref().unwrap())).unwrap();
    for slot in ["slot-a", "slot-b"] {
        assert!(vigil_image::disk::read_file(&board, &disk, slot, "dtb").unwrap() == dtb, "{slot}");
        let manifest = vigil_image::disk::read_file(&board, &disk, slot, "manifest").unwrap();
        assert!(String::from_utf8_lossy(&manifest).starts_with("board=rock-pi-e\n"));
    }
    assert_eq!(&dtb[..4], &[0xd0, 0x0d, 0xfe, 0xed], "a flattened device tree");
    let _ = std::fs::remove_dir_all(&dir);
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
