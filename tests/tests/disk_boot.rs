//! The disk image (`vigil-image disk`) booted as an appliance boots it: QEMU
//! q35 with Debian's OVMF, GRUB from the ESP, the kernel and initramfs from
//! a slot. Slot A boots; a config committed into the config ring the way it
//! always was (1 MiB into the disk) is the one that runs; putting slot B on
//! trial boots B and counts its tries down in GRUB's environment; a trial
//! with no tries left boots A again and records that B failed. Prints QEMU
//! start -> ready for the disk boot.

use std::time::{Duration, Instant};
use vigil_bootenv::ab::{self, BootState, Slot};
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

const BOARD: &str = "qemu-x86_64";

fn env(board: &vigil_board::Board, disk: &std::path::Path) -> ab::Pair {
    let [a, b] = vigil_image::disk::read_env(board, disk).unwrap();
    ab::read_pair(&a, &b)
}

#[test]
fn a_disk_boots_slot_a_tries_b_and_rolls_back() {
    if !have_qemu(BOARD) {
        return;
    }
    let img = vigil_tests::image(BOARD);
    let board = img.board.clone();
    let tree = vigil_image::kernel::fetch(&board).unwrap();
    let mut c = Cluster::empty("disk-boot").unwrap();
    let disk = c.dir.join("disk.img");
    let t = Instant::now();
    vigil_image::disk::build(&board, &tree.image, &img.initrd, &disk).unwrap();
    eprintln!("disk image built in {:?}", t.elapsed());
    let conf = c.dir.join("disk.conf");
    std::fs::write(&conf, "vigil_defs {\n hostname from-disk\n}\n").unwrap();
    vigil_image::config_tool::install(&board, &disk, &conf).unwrap();

    let boot = |c: &mut Cluster, expect: &str| -> Duration {
        let t = Instant::now();
        let n = c
            .add(&img, |s| {
                s.flash = Some(disk.clone());
                s.boot_disk = true;
            })
            .unwrap();
        let node = c.node(n);
        node.expect(expect, BOOT_TIMEOUT).unwrap();
        node.wait_ready(BOOT_TIMEOUT).unwrap();
        let took = t.elapsed();
        let text = node.console_text();
        assert!(text.contains("config: generation 1 from slot 0"), "the config ring was read");
        assert!(text.contains("hostname set to from-disk"), "the committed config runs");
        node.kill();
        took
    };

    // Slot A, nothing on trial.
    let a = boot(&mut c, "vigil: booting slot a (good)");
    eprintln!("disk boot: QEMU start -> ready in {a:?} (OVMF, GRUB, slot a)");
    let p = env(&board, &disk);
    assert_eq!((p.state, p.seq, p.damaged.len()), (BootState::new(Slot::A), 1, 0));

    // B on trial with three tries: booted, and GRUB counts one down.
    let mut s = p.state;
    s.start_trial(Slot::B, 3).unwrap();
    vigil_image::disk::write_env(&board, &disk, &s, 2).unwrap();
    boot(&mut c, "vigil: booting slot b (trial)");
    let p = env(&board, &disk);
    assert!(p.damaged.is_empty(), "{:?}", p.damaged);
    assert_eq!((p.state.trying, p.state.tries_left, p.seq), (Some(Slot::B), 2, 2), "GRUB saved the countdown");

    // No tries left: back on A, and B is recorded as failed.
    s.tries_left = 0;
    vigil_image::disk::write_env(&board, &disk, &s, 3).unwrap();
    boot(&mut c, "vigil: booting slot a (rollback)");
    let p = env(&board, &disk);
    assert!(p.damaged.is_empty(), "{:?}", p.damaged);
    assert_eq!((p.state.good, p.state.trying, p.state.failed), (Slot::A, None, Some(Slot::B)));
}
