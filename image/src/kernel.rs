//! The pinned Debian kernel: fetched with `apt-get download`, checked against
//! the SHA-256 in the board file, unpacked with `dpkg-deb -x` into the cache.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use vigil_board::{Arch, Board, Kernel};

/// An unpacked kernel package.
#[derive(Debug, Clone)]
pub struct KernelTree {
    /// Where the package was unpacked (holds `boot/` and `lib/modules/`).
    pub root: PathBuf,
    /// `uname -r`.
    pub release: String,
    /// The kernel image as packaged.
    pub image: PathBuf,
}

impl KernelTree {
    /// `lib/modules/<release>` inside the package.
    pub fn modules_dir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.release)
    }
}

/// Fetches (if not cached), verifies and unpacks the board's kernel.
pub fn fetch(board: &Board) -> Result<KernelTree> {
    let k = &board.kernel;
    let pin = Pin { package: &k.package, version: &k.version, sha256: &k.sha256, arch: board.arch };
    let unpacked = fetch_pinned(&board.name, &pin, "kernels", || advice_when_missing(board))?;
    let tree = KernelTree { image: unpacked.join(&k.image), root: unpacked, release: k.release.clone() };
    if !tree.image.is_file() {
        bail!("{}: kernel.image {:?} is not in package {}", board.name, k.image, k.package);
    }
    if !tree.modules_dir().is_dir() {
        bail!("{}: kernel.release {:?}: no {} in the package", board.name, k.release, tree.modules_dir().display());
    }
    if let Some(dt) = &k.devicetree
        && !tree.root.join(dt).is_file()
    {
        bail!("{}: kernel.devicetree {dt:?} is not in package {}", board.name, k.package);
    }
    Ok(tree)
}

/// A Debian package pinned by version and SHA-256 of its `.deb`.
pub struct Pin<'a> {
    pub package: &'a str,
    pub version: &'a str,
    pub sha256: &'a str,
    pub arch: Arch,
}

/// Fetches a pinned package with `apt-get download` (if not cached in
/// `cache/<kind>`), checks its SHA-256 and unpacks it with `dpkg-deb -x`;
/// returns where. `advice` says what to do when the download fails.
pub fn fetch_pinned(board: &str, pin: &Pin, kind: &str, advice: impl FnOnce() -> String) -> Result<PathBuf> {
    let dir = crate::paths::cache_dir().join(kind);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let deb = dir.join(vigil_board::deb_file_name(pin.package, pin.version, pin.arch));
    let unpacked = dir.join(format!("{}_{}", pin.package, pin.version));
    let marker = unpacked.join(".vigil-unpacked");
    if !marker.exists() {
        if !deb.exists() {
            download(board, pin, &dir, advice)?;
        }
        let digest = sha256_file(&deb)?;
        if !digest.eq_ignore_ascii_case(pin.sha256) {
            let _ = std::fs::remove_file(&deb);
            bail!(
                "{}: SHA-256 is {digest}, but board {board} pins {}; the file was removed (re-run to fetch it again, or fix the pin)",
                deb.display(),
                pin.sha256
            );
        }
        unpack(&deb, &unpacked)?;
        std::fs::write(&marker, pin.sha256)?;
    }
    Ok(unpacked)
}

fn download(board: &str, pin: &Pin, dir: &Path, advice: impl FnOnce() -> String) -> Result<()> {
    let spec = format!("{}={}", apt_name(pin.package, pin.arch), pin.version);
    eprintln!("vigil-image: apt-get download {spec}");
    let out = Command::new("apt-get")
        .args(["download", "-q", &spec])
        .current_dir(dir)
        .output()
        .context("running apt-get (is this a Debian machine? run ci/setup)")?;
    if !out.status.success() {
        bail!(
            "board {board} pins {} {}, and apt-get download failed: {}\n{}",
            pin.package,
            pin.version,
            String::from_utf8_lossy(&out.stderr).trim(),
            advice()
        );
    }
    Ok(())
}

/// What to do when the pinned kernel cannot be fetched: most often a newer
/// point release has replaced it on the mirror, and then the way out is one
/// command. Says what the mirror has now, as apt on this machine sees it.
fn advice_when_missing(board: &Board) -> String {
    let k = &board.kernel;
    let age = crate::apt::lists_age().map(|a| format!(" (apt's package lists are from {a})")).unwrap_or_default();
    if board.arch.debian() != native_arch() && !foreign_arches().iter().any(|a| a == board.arch.debian()) {
        return format!("dpkg has no {} architecture: run ci/setup (it adds it)", board.arch.debian());
    }
    match mirror_kernel(board) {
        Ok(m) if m.package == k.package && m.version == k.version => format!(
            "The mirror lists this very version{age}: the download itself failed (the network, or stale lists: apt-get update)."
        ),
        Ok(m) => format!(
            "The mirror now has {} {}{age}: run `vigil-image kernel bump --board {}` (it rewrites the pin in the board file), \
             then the boot tests, and commit the board file.",
            m.package, m.version, board.name
        ),
        Err(e) => format!("What the mirror has now is unknown{age}: {e:#}"),
    }
}

/// Debian's architecture of this machine.
fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `dpkg --print-foreign-architectures`.
fn foreign_arches() -> Vec<String> {
    Command::new("dpkg")
        .arg("--print-foreign-architectures")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// A package name as apt wants it for `arch`: qualified unless native.
fn apt_name(package: &str, arch: Arch) -> String {
    if arch.debian() == native_arch() { package.to_string() } else { format!("{package}:{}", arch.debian()) }
}

/// The flavour in a Debian kernel package's name: `linux-image-6.1.0-56-amd64`
/// is flavour `amd64` of ABI `6.1.0-56`; `linux-image-6.1.0-56-cloud-amd64`
/// is `cloud-amd64`. The meta package `linux-image-FLAVOUR` always depends on
/// the newest kernel of that flavour.
pub fn flavour(package: &str) -> Option<&str> {
    let rest = package.strip_prefix("linux-image-")?;
    let (upstream, rest) = rest.split_once('-')?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !upstream.split('.').all(numeric) {
        return None;
    }
    let (abi, flavour) = rest.split_once('-')?;
    (numeric(abi) && !flavour.is_empty() && !flavour.ends_with("-unsigned")).then_some(flavour)
}

/// A kernel package on the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorKernel {
    pub package: String,
    pub version: String,
    /// SHA-256 of the `.deb`, from the mirror's signed index.
    pub sha256: String,
}

/// The newest kernel of the board's flavour that apt can install: what the
/// meta package `linux-image-FLAVOUR` depends on, with its SHA-256.
pub fn mirror_kernel(board: &Board) -> Result<MirrorKernel> {
    let k = &board.kernel;
    let fl = flavour(&k.package).with_context(|| {
        format!("{}: kernel.package {:?} is not named linux-image-ABI-FLAVOUR", board.name, k.package)
    })?;
    let meta = apt_name(&format!("linux-image-{fl}"), board.arch);
    let paragraphs = crate::apt::show(&meta)?;
    let depends = paragraphs.first().and_then(|p| p.get("Depends")).with_context(|| {
        format!("apt knows no {meta} (run apt-get update; for a foreign architecture, run ci/setup)")
    })?;
    let (package, version) = crate::apt::exact_dependency(depends, "linux-image-")
        .with_context(|| format!("{meta} depends on no exact kernel version: {depends:?}"))?;
    let spec = format!("{}={version}", apt_name(&package, board.arch));
    let paragraphs = crate::apt::show(&spec)?;
    let sha256 = paragraphs
        .first()
        .and_then(|p| p.get("SHA256"))
        .with_context(|| format!("apt has no SHA256 for {spec}"))?
        .to_ascii_lowercase();
    Ok(MirrorKernel { package, version, sha256 })
}

/// The board's kernel pin moved to `new`: the release (`uname -r`) and the
/// image path follow the package's name.
pub fn bumped(old: &Kernel, new: &MirrorKernel) -> Result<Kernel> {
    let release = new
        .package
        .strip_prefix("linux-image-")
        .with_context(|| format!("{:?} is not a linux-image package", new.package))?
        .to_string();
    if !old.image.contains(&old.release) {
        bail!("kernel.image {:?} does not name kernel.release {:?}: set both by hand", old.image, old.release);
    }
    Ok(Kernel {
        package: new.package.clone(),
        version: new.version.clone(),
        sha256: new.sha256.clone(),
        image: old.image.replace(&old.release, &release),
        devicetree: old.devicetree.as_ref().map(|d| d.replace(&old.release, &release)),
        release,
        cmdline: old.cmdline.clone(),
    })
}

/// A board file's text with a new kernel pin: the `[kernel]` table's
/// package, version, sha256, release, image and devicetree, every other byte (comments,
/// order, the rest of the file) as it was.
pub fn edit_board_text(text: &str, new: &Kernel) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().context("the board file is not valid TOML")?;
    let table = doc.get_mut("kernel").and_then(|t| t.as_table_mut()).context("the board file has no [kernel] table")?;
    for (key, value) in [
        ("package", &new.package),
        ("version", &new.version),
        ("sha256", &new.sha256),
        ("release", &new.release),
        ("image", &new.image),
    ]
    .into_iter()
    .chain(new.devicetree.as_ref().map(|d| ("devicetree", d)))
    {
        let item = table.get_mut(key).with_context(|| format!("[kernel] has no {key}"))?;
        let decor = item.as_value().map(|v| v.decor().clone());
        *item = toml_edit::value(value.as_str());
        if let (Some(d), Some(v)) = (decor, item.as_value_mut()) {
            *v.decor_mut() = d;
        }
    }
    Ok(doc.to_string())
}

/// What `kernel bump` did to one board.
#[derive(Debug, Clone)]
pub enum Bump {
    /// The pin is the mirror's newest already.
    Current(Kernel),
    /// The board file now pins `to` (it pinned `from`); the package was
    /// fetched, checked and unpacked.
    Bumped { from: Kernel, to: Kernel },
}

/// Moves a board file's kernel pin to the newest kernel of its flavour on the
/// mirror. The new package is fetched and checked (SHA-256, image and modules
/// present) before the file is written, so a bump that cannot boot never
/// lands in the board file.
pub fn bump(board_path: &Path) -> Result<Bump> {
    let board = crate::boards::load_board(&board_path.to_string_lossy())?;
    let m = mirror_kernel(&board)?;
    let old = board.kernel.clone();
    if m.package == old.package && m.version == old.version {
        if !m.sha256.eq_ignore_ascii_case(&old.sha256) {
            bail!(
                "{}: the mirror has {} {} with SHA-256 {}, but the board pins {}: fix the pin by hand after checking why",
                board.name,
                m.package,
                m.version,
                m.sha256,
                old.sha256
            );
        }
        return Ok(Bump::Current(old));
    }
    let new = bumped(&old, &m)?;
    let mut next = board.clone();
    next.kernel = new.clone();
    fetch(&next).with_context(|| format!("checking {} {} before pinning it", new.package, new.version))?;
    let text = std::fs::read_to_string(board_path).with_context(|| format!("reading {}", board_path.display()))?;
    let edited = edit_board_text(&text, &new).with_context(|| format!("{}", board_path.display()))?;
    let tmp = board_path.with_extension("toml.partial");
    std::fs::write(&tmp, edited).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, board_path).with_context(|| format!("replacing {}", board_path.display()))?;
    Ok(Bump::Bumped { from: old, to: new })
}

fn unpack(deb: &Path, dest: &Path) -> Result<()> {
    let tmp = dest.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::remove_dir_all(dest);
    let status = Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tmp).status().context("running dpkg-deb")?;
    if !status.success() {
        bail!("dpkg-deb -x {} failed ({status})", deb.display());
    }
    std::fs::rename(&tmp, dest)?;
    Ok(())
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];

/// The uncompressed `vmlinux` inside an x86_64 bzImage, for QEMU's PVH entry
/// (it skips the in-guest decompressor, which is slow under TCG). Cached next
/// to the package.
pub fn vmlinux(tree: &KernelTree) -> Result<PathBuf> {
    let out = tree.root.join("vmlinux");
    if out.is_file() {
        return Ok(out);
    }
    let bz = std::fs::read(&tree.image).with_context(|| format!("reading {}", tree.image.display()))?;
    let start = bz
        .windows(XZ_MAGIC.len())
        .position(|w| w == XZ_MAGIC)
        .with_context(|| format!("{}: no xz payload (not an xz-compressed bzImage)", tree.image.display()))?;
    // The payload is followed by the bzImage's trailer: --single-stream stops at
    // the end of the xz stream and ignores what follows.
    let mut child = Command::new("xz")
        .args(["-dc", "--single-stream"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running xz (install xz-utils: run ci/setup)")?;
    let mut stdin = child.stdin.take().context("xz stdin")?;
    let payload = bz[start..].to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&payload));
    let result = child.wait_with_output()?;
    // xz closes its input early once the stream ends: a broken pipe is expected.
    let _ = writer.join();
    if !result.stdout.starts_with(b"\x7fELF") {
        bail!(
            "{}: the xz payload did not decompress to an ELF vmlinux: {}",
            tree.image.display(),
            String::from_utf8_lossy(&result.stderr).trim()
        );
    }
    let tmp = out.with_extension("partial");
    std::fs::write(&tmp, &result.stdout)?;
    std::fs::rename(&tmp, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(board: &str) -> String {
        std::fs::read_to_string(crate::boards::board_path(board)).unwrap()
    }

    fn mirror(package: &str, version: &str) -> MirrorKernel {
        MirrorKernel { package: package.into(), version: version.into(), sha256: "ab".repeat(32) }
    }

    #[test]
    fn the_flavour_of_a_kernel_package() {
        assert_eq!(flavour("linux-image-6.1.0-56-amd64"), Some("amd64"));
        assert_eq!(flavour("linux-image-6.1.0-56-arm64"), Some("arm64"));
        assert_eq!(flavour("linux-image-6.1.0-56-cloud-amd64"), Some("cloud-amd64"));
        assert_eq!(flavour("linux-image-6.12.9-1-rt-arm64"), Some("rt-arm64"));
        for not in [
            "linux-image-amd64",
            "linux-image-6.1.0-amd64",
            "linux-image-6.1.0--amd64",
            "linux-image-6.1.0-56-",
            "linux-image-6.1.x-56-amd64",
            "linux-image-6.1.0-56-amd64-unsigned",
            "linux-headers-6.1.0-56-amd64",
            "",
        ] {
            assert_eq!(flavour(not), None, "{not}");
        }
    }

    #[test]
    fn a_bump_moves_release_and_image_with_the_package() {
        let b = crate::boards::load_board("qemu-x86_64").unwrap();
        let new = bumped(&b.kernel, &mirror("linux-image-6.1.0-57-amd64", "6.1.200-1")).unwrap();
        assert_eq!(new.package, "linux-image-6.1.0-57-amd64");
        assert_eq!(new.version, "6.1.200-1");
        assert_eq!(new.release, "6.1.0-57-amd64");
        assert_eq!(new.image, "boot/vmlinuz-6.1.0-57-amd64");
        assert_eq!(new.sha256, "ab".repeat(32));
        assert_eq!(new.cmdline, b.kernel.cmdline);

        let mut odd = b.kernel.clone();
        odd.image = "boot/vmlinuz".into();
        let e = bumped(&odd, &mirror("linux-image-6.1.0-57-amd64", "6.1.200-1")).unwrap_err().to_string();
        assert!(e.contains("does not name kernel.release"), "{e}");
        assert!(bumped(&b.kernel, &mirror("linux-headers-6.1.0-57-amd64", "1")).is_err());
    }

    #[test]
    fn editing_a_board_file_changes_the_pin_and_nothing_else() {
        for board in ["qemu-x86_64", "qemu-aarch64"] {
            let text = shipped(board);
            let b: Board = toml::from_str(&text).unwrap();
            let fl = flavour(&b.kernel.package).unwrap();
            let m = mirror(&format!("linux-image-6.1.0-99-{fl}"), "6.1.999-9");
            let new = bumped(&b.kernel, &m).unwrap();
            let edited = edit_board_text(&text, &new).unwrap();

            let after: Board = toml::from_str(&edited).unwrap();
            after.validate().unwrap();
            assert_eq!(after.kernel, new);
            // Line for line the same file, but for the five pinned fields.
            let (old_lines, new_lines): (Vec<_>, Vec<_>) = (text.lines().collect(), edited.lines().collect());
            assert_eq!(old_lines.len(), new_lines.len());
            let changed: Vec<&str> = old_lines
                .iter()
                .zip(&new_lines)
                .filter(|(a, b)| a != b)
                .map(|(_, b)| b.split(" =").next().unwrap())
                .collect();
            assert_eq!(changed, ["package", "version", "sha256", "release", "image"], "{board}");
            // Applying the same pin again changes nothing.
            assert_eq!(edit_board_text(&edited, &new).unwrap(), edited);
        }
    }

    #[test]
    fn a_board_file_without_a_kernel_pin_is_refused_with_the_reason() {
        let b = crate::boards::load_board("qemu-x86_64").unwrap();
        let e = format!("{:#}", edit_board_text("name = \"x\"\n", &b.kernel).unwrap_err());
        assert!(e.contains("no [kernel] table"), "{e}");
        let e = format!("{:#}", edit_board_text("[kernel]\npackage = \"p\"\n", &b.kernel).unwrap_err());
        assert!(e.contains("[kernel] has no version"), "{e}");
        let e = format!("{:#}", edit_board_text("[kernel\n", &b.kernel).unwrap_err());
        assert!(e.contains("not valid TOML"), "{e}");
    }
}
