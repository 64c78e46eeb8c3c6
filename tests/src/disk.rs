//! Disk images for the tests: a board's `vigil-image disk` image with a
//! config in its ring, booted through its bootloader; the boot environment
//! written and read as the bootloader and vigil do.

use crate::Cluster;
use std::time::Instant;
use vigil_bootenv::ab::{self, BootState, Slot};

pub fn env(board: &vigil_board::Board, disk: &std::path::Path) -> ab::Pair {
    let [a, b] = vigil_image::disk::read_env(board, disk).unwrap();
    let p = ab::read_pair(&a, &b);
    assert!(p.damaged.is_empty(), "{:?}", p.damaged);
    p
}

/// A cluster with `board`'s disk image holding `config` in its config ring.
pub struct Disk {
    pub img: vigil_image::build::Image,
    pub board: vigil_board::Board,
    pub tree: vigil_image::kernel::KernelTree,
    pub c: Cluster,
    pub disk: std::path::PathBuf,
}

pub fn disk_with(board: &str, test: &str, config: &str) -> Disk {
    disk_of(crate::image(board), test, config)
}

/// The same with a given image (e.g. one with the test-only commands).
pub fn disk_of(img: vigil_image::build::Image, test: &str, config: &str) -> Disk {
    let board = img.board.clone();
    let tree = vigil_image::kernel::fetch(&board).unwrap();
    let c = Cluster::empty(test).unwrap();
    let disk = c.dir.join("disk.img");
    let t = Instant::now();
    let files = vigil_image::disk::SlotFiles::load(&board, &tree, &img.initrd).unwrap();
    vigil_image::disk::build(&board, &files, &disk).unwrap();
    eprintln!("{test}: disk image built in {:?}", t.elapsed());
    let conf = c.dir.join("disk.conf");
    std::fs::write(&conf, config).unwrap();
    vigil_image::config_tool::install(&board, &disk, &conf).unwrap();
    Disk { img, board, tree, c, disk }
}

/// Writes the boot environment with `slot` on trial (`tries` tries) over
/// `good`, numbered `seq`.
pub fn put_on_trial(d: &Disk, good: Slot, slot: Slot, tries: u8, seq: u64) {
    let mut s = BootState::new(good);
    s.start_trial(slot, tries).unwrap();
    vigil_image::disk::write_env(&d.board, &d.disk, &s, seq).unwrap();
}

/// Writes `slot` with a garbage initramfs: its kernel panics (panic=-1
/// reboots).
pub fn break_slot(d: &Disk, slot: Slot) {
    let mut broken = vigil_image::disk::SlotFiles::load(&d.board, &d.tree, &d.img.initrd).unwrap();
    broken.initrd = b"not an initramfs".to_vec();
    vigil_image::disk::write_slot(&d.board, &d.disk, slot, &broken).unwrap();
}

/// Boots the disk on a new node; returns its number.
pub fn boot(d: &mut Disk, reboot: bool) -> usize {
    boot_with(d, |s| s.no_reboot = !reboot)
}

/// Boots the disk on a new node that reboots in place (an update's reboot
/// is part of what is tested), with `tweak` for the rest (a drive holding a
/// bundle, the user network); returns its number.
pub fn boot_with(d: &mut Disk, tweak: impl FnOnce(&mut vigil_image::NodeSpec)) -> usize {
    let disk = d.disk.clone();
    d.c.add(&d.img, |s| {
        s.flash = Some(disk);
        s.boot_disk = true;
        s.no_reboot = false;
        tweak(s);
    })
    .unwrap()
}

/// An update signing key pair for a test, in `dir`: the secret key's path
/// and the public key as images are stamped with it.
pub fn release_key(dir: &std::path::Path) -> (std::path::PathBuf, Vec<String>) {
    let (key, pubkey) = vigil_image::update::keygen(&dir.join("release")).unwrap();
    (key, vec![vigil_image::update::public_key(&pubkey).unwrap()])
}

/// A board's image stamped as build `build` trusting `keys`, once per test
/// process and build.
pub fn release_image(board: &str, build: u64, keys: &[String]) -> vigil_image::build::Image {
    let b = vigil_image::load_board(board).unwrap();
    let stamp = vigil_image::build::Stamp {
        release: vigil_update::release::Release { build, version: format!("0.{build}.0") },
        keys: keys.to_vec(),
    };
    // Named by its keys too: tests that run side by side each have keys
    // of their own, and one must not overwrite another's image.
    let tag: String = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        keys.hash(&mut h);
        format!("{:016x}", h.finish())
    };
    let name = format!("{board}-build{build}-{tag}");
    vigil_image::build::build_image_stamped(&b, &crate::firmware(b.arch), &name, &[], &stamp).unwrap()
}

/// A signed bundle of `img` (whose stamp says its build) at `out`.
pub fn bundle(
    img: &vigil_image::build::Image,
    build: u64,
    security_version: u32,
    key: &std::path::Path,
    out: &std::path::Path,
) {
    let tree = vigil_image::kernel::fetch(&img.board).unwrap();
    let files = vigil_image::disk::SlotFiles::load(&img.board, &tree, &img.initrd).unwrap();
    bundle_files(&img.board, &files, build, security_version, key, out);
}

/// A signed bundle of a slot holding `files`.
pub fn bundle_files(
    board: &vigil_board::Board,
    files: &vigil_image::disk::SlotFiles,
    build: u64,
    security_version: u32,
    key: &std::path::Path,
    out: &std::path::Path,
) {
    let payload = vigil_image::disk::slot_payload(board, files).unwrap();
    let m = vigil_update::Manifest::of_payload(
        &board.name,
        &board.arch.to_string(),
        build,
        &format!("0.{build}.0"),
        security_version,
        0,
        &payload,
    );
    std::fs::write(out, vigil_image::update::unsigned(&m, &payload)).unwrap();
    vigil_image::update::sign(out, key).unwrap();
}
