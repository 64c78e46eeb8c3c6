//! The firmware is fully static for both targets, and a board's initramfs is
//! reproducible and holds what the board needs in the right order.

use std::io::Read;
use vigil_board::{Arch, Runtime};
use vigil_tests::{firmware, image, require};

#[test]
fn both_firmware_binaries_are_static() {
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let bin = firmware(arch);
        let bytes = std::fs::read(&bin).unwrap();
        let l = vigil_image::elf::linkage(&bytes).unwrap();
        assert_eq!(l.interpreter, None, "{}", bin.display());
        assert_eq!(l.needed, 0, "{}", bin.display());
        vigil_image::elf::check_arch(&bytes, arch).unwrap();
    }
}

fn unpack(path: &std::path::Path) -> Vec<u8> {
    let gz = std::fs::read(path).unwrap();
    let mut cpio = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut cpio).unwrap();
    cpio
}

#[test]
fn the_initramfs_is_reproducible_and_complete() {
    if !require(vigil_tests::have_program("dpkg-deb"), "dpkg-deb") {
        return;
    }
    let img = image("qemu-x86_64");
    let first = std::fs::read(&img.initrd).unwrap();
    let b = vigil_image::load_board("qemu-x86_64").unwrap();
    let again = vigil_image::build_image(&b, &firmware(Arch::X86_64)).unwrap();
    assert_eq!(first, std::fs::read(&again.initrd).unwrap(), "two builds differ");

    let cpio = unpack(&img.initrd);
    let listing = vigil_image::initramfs::list_cpio(&cpio).unwrap();
    let has = |p: &str| listing.iter().any(|(n, _, _)| n == p);
    assert!(has("init") && has("dev/console") && has("etc/vigil/board"), "{listing:?}");

    // The board file the firmware reads: modules in dependency order, each
    // present in the archive at the path it names.
    let rt = Runtime::decode(&board_file(&cpio)).unwrap();
    assert_eq!(rt.board, "qemu-x86_64");
    let order: Vec<&str> = rt.modules.iter().map(|m| m.name.as_str()).collect();
    let pos = |m: &str| order.iter().position(|o| *o == m).unwrap_or_else(|| panic!("{m} missing: {order:?}"));
    // ip_vs needs libcrc32c (softdep crc32c -> crc32c_generic), nf_defrag_ipv4/6, nf_conntrack;
    // virtio_net needs virtio*, failover, net_failover.
    for (dep, user) in [
        ("crc32c_generic", "libcrc32c"),
        ("libcrc32c", "nf_conntrack"),
        ("nf_defrag_ipv4", "nf_conntrack"),
        ("nf_defrag_ipv6", "nf_conntrack"),
        ("nf_conntrack", "ip_vs"),
        ("ip_vs", "ip_vs_rr"),
        ("virtio", "virtio_net"),
        ("virtio_ring", "virtio_net"),
        ("failover", "net_failover"),
        ("net_failover", "virtio_net"),
    ] {
        assert!(pos(dep) < pos(user), "{dep} must load before {user}: {order:?}");
    }
    assert!(!order.contains(&"crc32c_intel"), "the board prefers crc32c_generic");
    // `modules.first` (virtio_pci, virtio_net, virtio_blk) and their
    // dependencies lead; IPVS and the rest follow.
    let (lead, rest) = order.split_at(rt.first);
    for m in ["virtio_pci", "virtio_net", "virtio_blk", "virtio", "virtio_ring", "net_failover"] {
        assert!(lead.contains(&m), "{m} is not loaded first: {lead:?}");
    }
    for m in ["ip_vs", "nf_conntrack", "i6300esb", "nf_tables"] {
        assert!(rest.contains(&m), "{m} loads with the rest: {rest:?}");
    }
    // A board that names no `first` loads everything before the daemons.
    let mut all_first = b.clone();
    all_first.modules.first.clear();
    let img2 = vigil_image::build_image(&all_first, &firmware(Arch::X86_64)).unwrap();
    let rt2 = Runtime::decode(&board_file(&unpack(&img2.initrd))).unwrap();
    assert_eq!(rt2.first, rt2.modules.len());
    for m in &rt.modules {
        assert!(has(m.path.trim_start_matches('/')), "{} not in the archive", m.path);
    }
}

/// The board file (`etc/vigil/board`) in an unpacked initramfs.
fn board_file(cpio: &[u8]) -> Vec<u8> {
    let mut rest = cpio;
    loop {
        let r = cpio::newc::Reader::new(rest).unwrap();
        if r.entry().is_trailer() {
            panic!("no etc/vigil/board");
        }
        if r.entry().name() == "etc/vigil/board" {
            let mut v = Vec::new();
            let mut r = r;
            r.read_to_end(&mut v).unwrap();
            return v;
        }
        rest = r.finish().unwrap();
    }
}
