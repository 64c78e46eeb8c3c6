//! The pinned Debian kernel: fetched with `apt-get download`, checked against
//! the SHA-256 in the board file, unpacked with `dpkg-deb -x` into the cache.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use vigil_board::Board;

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
    let dir = crate::paths::cache_dir().join("kernels");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let deb = dir.join(k.deb_file_name(board.arch));
    let unpacked = dir.join(format!("{}_{}", k.package, k.version));
    let marker = unpacked.join(".vigil-unpacked");
    if !marker.exists() {
        if !deb.exists() {
            download(&k.package, &k.version, board.arch.debian(), &dir)?;
        }
        let digest = sha256_file(&deb)?;
        if !digest.eq_ignore_ascii_case(&k.sha256) {
            let _ = std::fs::remove_file(&deb);
            bail!(
                "{}: SHA-256 is {digest}, but board {} pins {}; the file was removed (re-run to fetch it again, or fix the pin)",
                deb.display(),
                board.name,
                k.sha256
            );
        }
        unpack(&deb, &unpacked)?;
        std::fs::write(&marker, &k.sha256)?;
    }
    let tree = KernelTree { image: unpacked.join(&k.image), root: unpacked, release: k.release.clone() };
    if !tree.image.is_file() {
        bail!("{}: kernel.image {:?} is not in package {}", board.name, k.image, k.package);
    }
    if !tree.modules_dir().is_dir() {
        bail!("{}: kernel.release {:?}: no {} in the package", board.name, k.release, tree.modules_dir().display());
    }
    Ok(tree)
}

fn download(package: &str, version: &str, arch: &str, dir: &Path) -> Result<()> {
    let spec = if arch == "amd64" && std::env::consts::ARCH == "x86_64" {
        format!("{package}={version}")
    } else {
        format!("{package}:{arch}={version}")
    };
    eprintln!("vigil-image: apt-get download {spec}");
    let out = Command::new("apt-get")
        .args(["download", "-q", &spec])
        .current_dir(dir)
        .output()
        .context("running apt-get (is this a Debian machine? run ci/setup)")?;
    if !out.status.success() {
        bail!(
            "apt-get download {spec} failed: {}\n(if the version left the mirror, bump the pin in the board file; for arm64, run ci/setup to add the architecture)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
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
