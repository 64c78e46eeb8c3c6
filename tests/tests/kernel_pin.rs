//! The boards' kernel pins against Debian's mirror, through the real apt on
//! this machine: what the mirror has now, the message when a pinned kernel
//! is gone, and `kernel bump` rewriting a board file that pins an old one.

use vigil_image::kernel::{self, Bump};
use vigil_tests::{have_program, require};

/// apt with package lists for both boards' architectures (ci/setup makes
/// them).
fn have_apt() -> bool {
    require(have_program("apt-cache") && have_program("apt-get"), "apt (a Debian machine)")
        && require(
            vigil_image::apt::show("linux-image-arm64:arm64").is_ok_and(|p| !p.is_empty()),
            "apt package lists with arm64 (run ci/setup)",
        )
}

#[test]
fn every_board_has_a_kernel_of_its_flavour_on_the_mirror() {
    if !have_apt() {
        return;
    }
    for name in vigil_image::boards::list_boards() {
        let b = vigil_image::load_board(&name).unwrap();
        let m = kernel::mirror_kernel(&b).unwrap();
        assert_eq!(kernel::flavour(&m.package), kernel::flavour(&b.kernel.package), "{name}: {m:?}");
        assert_eq!(m.sha256.len(), 64, "{m:?}");
        assert!(m.sha256.bytes().all(|c| c.is_ascii_hexdigit()), "{m:?}");
        if m.package == b.kernel.package && m.version == b.kernel.version {
            assert_eq!(m.sha256, b.kernel.sha256, "{name}: the mirror's SHA-256 differs from the pin");
        }
    }
}

#[test]
fn a_pinned_kernel_the_mirror_lacks_is_named_with_what_it_has_and_the_fix() {
    if !have_apt() {
        return;
    }
    for name in ["qemu-x86_64", "qemu-aarch64"] {
        let mut b = vigil_image::load_board(name).unwrap();
        let now = kernel::mirror_kernel(&b).unwrap();
        // A version that never was: apt refuses it from its lists, offline.
        b.kernel.version = "6.1.0-0vigil1".into();
        let e = format!("{:#}", kernel::fetch(&b).unwrap_err());
        assert!(e.contains(&format!("board {name} pins {} 6.1.0-0vigil1", b.kernel.package)), "{e}");
        assert!(e.contains(&format!("The mirror now has {} {}", now.package, now.version)), "{e}");
        assert!(e.contains(&format!("vigil-image kernel bump --board {name}")), "{e}");
    }
}

#[test]
fn kernel_bump_rewrites_an_old_pin_to_the_mirrors_newest() {
    if !have_apt() {
        return;
    }
    let dir = vigil_tests::test_dir("kernel-bump");
    let shipped = std::fs::read_to_string(vigil_image::boards::board_path("qemu-x86_64")).unwrap();
    let b = vigil_image::load_board("qemu-x86_64").unwrap();
    // The same board pinned to an older ABI, as a board file looks after a
    // point release replaced its kernel on the mirror.
    let old = b.kernel.release.replace("6.1.0-", "6.1.0-1");
    let old_text = shipped
        .replace(&b.kernel.release, &old)
        .replace(&b.kernel.version, "6.1.0-1")
        .replace(&b.kernel.sha256, &"0".repeat(64));
    assert_ne!(old_text, shipped);
    let path = dir.join("old-x86_64.toml");
    std::fs::write(&path, &old_text).unwrap();

    let now = kernel::mirror_kernel(&b).unwrap();
    let Bump::Bumped { from, to } = kernel::bump(&path).unwrap() else { panic!("an old pin was left as it was") };
    assert_eq!(from.release, old);
    assert_eq!(
        (to.package.as_str(), to.version.as_str(), to.sha256.as_str()),
        (now.package.as_str(), now.version.as_str(), now.sha256.as_str())
    );
    let after = vigil_image::load_board(&path.to_string_lossy()).unwrap();
    assert_eq!(after.kernel, to);
    if now.package == b.kernel.package {
        // The shipped pin is the newest: the bump gives the shipped file back, byte for byte.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), shipped);
    }
    // A second bump finds nothing to do.
    assert!(matches!(kernel::bump(&path).unwrap(), Bump::Current(_)));
}
