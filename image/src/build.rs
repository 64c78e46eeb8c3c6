//! Building the firmware and a board's boot image.

use crate::initramfs::{Archive, Entry};
use crate::kernel::{self, KernelTree};
use crate::modules::{self, KernelModules};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use vigil_board::{Arch, Board, KernelBoot, ModuleLoad, Runtime};

/// Builds the static firmware for an architecture with cargo and returns the
/// binary's path.
pub fn firmware(arch: Arch) -> Result<PathBuf> {
    static_binary(arch, "vigil", "vigil")
}

/// Builds a static binary of a workspace package for `arch` (the firmware,
/// or the tests' own /init) and returns its path.
pub fn static_binary(arch: Arch, package: &str, bin: &str) -> Result<PathBuf> {
    static_binary_with(arch, package, bin, &[])
}

/// The same with cargo features, for a binary that requires them (e.g.
/// `vigil-debug`): it has a name of its own, so it shares the target
/// directory (and the dependencies' builds) without ever replacing the
/// plain binary under a test that is using it.
pub fn static_binary_with(arch: Arch, package: &str, bin: &str, features: &[&str]) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = arch.rust_target();
    let target_dir = crate::paths::target_dir();
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--release", "--locked", "-p", package, "--bin", bin, "--target", target]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    // What cargo sets for the package a test runs in is not this build's:
    // ring's build script watches CARGO_MANIFEST_DIR, so a build from a test
    // with it set (to tests/) and one from ci/test without it would each
    // find the other's output stale and rebuild ring and everything above
    // it (75 s a target, twice a run).
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k == "OUT_DIR"
            || k == "CARGO_MANIFEST_DIR"
            || k == "CARGO_MANIFEST_PATH"
            || k == "CARGO_CRATE_NAME"
            || k == "CARGO_PRIMARY_PACKAGE"
            || k == "CARGO_TARGET_TMPDIR"
            || k == "CARGO_RUSTC_CURRENT_DIR"
            || k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_BIN_")
        {
            cmd.env_remove(&*k);
        }
    }
    let status = cmd.current_dir(crate::paths::root()).status().context("running cargo")?;
    if !status.success() {
        bail!("cargo build of {package} for {target} failed ({status})");
    }
    let bin = target_dir.join(target).join("release").join(bin);
    if !bin.is_file() {
        bail!("cargo succeeded but {} is missing", bin.display());
    }
    Ok(bin)
}

/// A board's boot image: what QEMU (or a bootloader) needs.
#[derive(Debug, Clone)]
pub struct Image {
    pub board: Board,
    /// The kernel as QEMU gets it (`vmlinux` for PVH boots).
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub cmdline: String,
    /// Modules in load order.
    pub modules: Vec<String>,
    pub builtin: Vec<String>,
}

/// Builds the initramfs for `board` around `firmware` into
/// `<target>/vigil/<board>/initramfs.cpio.gz`.
pub fn build_image(board: &Board, firmware: &Path) -> Result<Image> {
    build_image_as(board, firmware, &board.name, &[])
}

/// What an image says it is and whom it trusts: `/etc/vigil/release`
/// (build number, version) and `/etc/vigil/update-keys` (the public keys
/// its updates must be signed with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub release: vigil_update::release::Release,
    /// minisign public keys (the base64 lines).
    pub keys: Vec<String>,
}

impl Default for Stamp {
    /// A development build: number 0 (any signed build updates it), no keys.
    fn default() -> Stamp {
        Stamp {
            release: vigil_update::release::Release { build: 0, version: env!("CARGO_PKG_VERSION").to_string() },
            keys: Vec::new(),
        }
    }
}

/// The same with another program as /init, into `<target>/vigil/<name>/`,
/// with `extra` host files copied in (image path, host path): test tools.
pub fn build_image_as(board: &Board, firmware: &Path, name: &str, extra: &[(String, PathBuf)]) -> Result<Image> {
    build_image_stamped(board, firmware, name, extra, &Stamp::default())
}

/// The same, stamped with a release and update keys.
pub fn build_image_stamped(
    board: &Board,
    firmware: &Path,
    name: &str,
    extra: &[(String, PathBuf)],
    stamp: &Stamp,
) -> Result<Image> {
    let tree = kernel::fetch(board)?;
    let mut archive = assemble(board, &tree, firmware)?;
    let strip = |p: &str| p.trim_start_matches('/').to_string();
    archive.0.file(&strip(vigil_update::release::RELEASE_PATH), 0o644, stamp.release.text().into_bytes())?;
    let keys: String = stamp.keys.iter().map(|k| format!("{k}\n")).collect();
    archive.0.file(&strip(vigil_update::release::KEYS_PATH), 0o644, keys.into_bytes())?;
    for (at, from) in extra {
        let data = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
        archive.0.file(at, 0o755, data)?;
    }
    let (modules, builtin) = (archive.1, archive.2);
    let dir = crate::paths::out_dir().join(name);
    std::fs::create_dir_all(&dir)?;
    let initrd = dir.join("initramfs.cpio.gz");
    let bytes = archive.0.to_gzip()?;
    // Written beside and renamed: a concurrent build never sees half a file.
    let tmp = dir.join(format!(".initramfs.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, &initrd)?;
    let kernel = match board.qemu.as_ref().map(|q| q.boot) {
        Some(KernelBoot::Pvh) => kernel::vmlinux(&tree)?,
        _ => tree.image.clone(),
    };
    Ok(Image { board: board.clone(), kernel, initrd, cmdline: board.kernel.cmdline.clone(), modules, builtin })
}

/// The archive's contents (pure apart from reading the inputs), with the
/// module load order and the built-in modules that were skipped.
pub fn assemble(board: &Board, tree: &KernelTree, firmware: &Path) -> Result<(Archive, Vec<String>, Vec<String>)> {
    let mut a = Archive::new();
    for d in ["dev", "proc", "sys", "run", "tmp", "etc", "root"] {
        a.dir(d, 0o755)?;
    }
    a.dir("tmp", 0o1777)?;
    // The kernel opens /dev/console for init's stdio before init mounts devtmpfs.
    a.add("dev/console", Entry::CharDev { mode: 0o600, major: 5, minor: 1 })?;
    let rootfs = crate::paths::rootfs_dir();
    if rootfs.is_dir() {
        a.add_tree(&rootfs, "")?;
    }
    let bin = std::fs::read(firmware).with_context(|| format!("reading the firmware {}", firmware.display()))?;
    crate::elf::check_static(&bin).with_context(|| format!("{}", firmware.display()))?;
    crate::elf::check_arch(&bin, board.arch).with_context(|| format!("{}", firmware.display()))?;
    a.file("init", 0o755, bin)?;

    let km = KernelModules::open(&tree.modules_dir())?;
    let mut res = modules::resolve(&km, &board.modules.load, &board.modules.prefer)
        .with_context(|| format!("board {}: resolving modules", board.name))?;
    // `first` and their dependencies lead, in their own resolved order; the
    // rest follow in theirs (a dependency of theirs may already be loaded).
    let first = modules::resolve(&km, &board.modules.first, &board.modules.prefer)
        .with_context(|| format!("board {}: resolving modules.first", board.name))?;
    let lead: std::collections::BTreeSet<&str> = first.order.iter().map(|m| m.name.as_str()).collect();
    res.order = first
        .order
        .iter()
        .cloned()
        .chain(res.order.iter().filter(|m| !lead.contains(m.name.as_str())).cloned())
        .collect();
    let mut loads = Vec::new();
    for m in &res.order {
        let dest = format!("lib/modules/{}/{}", tree.release, m.file);
        let data = std::fs::read(km.path(&m.file))?;
        if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) || data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']) {
            bail!("{}: compressed module; this kernel cannot load it (no CONFIG_MODULE_DECOMPRESS)", m.file);
        }
        a.file(&dest, 0o644, data)?;
        let params = board.modules.params.get(&m.name).cloned().unwrap_or_default();
        loads.push(ModuleLoad { name: m.name.clone(), path: format!("/{dest}"), params });
    }
    // On-demand modules: in the image, each with its own load order; files
    // already there (boot modules, shared dependencies) are not added twice.
    let mut on_demand = Vec::new();
    let mut added: std::collections::BTreeSet<String> = res.order.iter().map(|m| m.file.clone()).collect();
    for name in &board.modules.on_demand {
        let r = modules::resolve(&km, std::slice::from_ref(name), &board.modules.prefer)
            .with_context(|| format!("board {}: resolving on-demand module {name}", board.name))?;
        let mut chain = Vec::new();
        for m in &r.order {
            let dest = format!("lib/modules/{}/{}", tree.release, m.file);
            if added.insert(m.file.clone()) {
                a.file(&dest, 0o644, std::fs::read(km.path(&m.file))?)?;
            }
            let params = board.modules.params.get(&m.name).cloned().unwrap_or_default();
            chain.push(ModuleLoad { name: m.name.clone(), path: format!("/{dest}"), params });
        }
        on_demand.push(vigil_board::OnDemand { name: name.replace('-', "_"), chain });
    }
    let runtime = Runtime {
        board: board.name.clone(),
        arch: board.arch,
        hostname: board.hostname.clone(),
        kernel_release: tree.release.clone(),
        modules: loads,
        // A board that names no `first` loads everything before the daemons.
        first: if board.modules.first.is_empty() { res.order.len() } else { first.order.len() },
        on_demand,
        console: board.console.device.clone(),
        nics: board.nics.iter().map(|n| n.name.clone()).collect(),
        watchdog: board.watchdog.clone(),
        flash: board.flash.clone(),
    };
    a.file(vigil_board::RUNTIME_PATH, 0o644, runtime.encode())?;
    let order = res.order.iter().map(|m| m.name.clone()).collect();
    Ok((a, order, res.builtin))
}
