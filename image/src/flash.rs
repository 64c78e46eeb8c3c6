//! `vigil-image flash`: a disk image onto a device (or a file), with a
//! progress line, then read back and compared. Refused before anything is
//! written: an image that is not the board's layout, a device that is
//! mounted (or has a partition mounted, or used as swap), a device smaller
//! than the image.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;
use vigil_board::Board;

const CHUNK: usize = 4 << 20;

/// Where `device` (or one of its partitions) is in use, from the text of
/// /proc/mounts and /proc/swaps: the first mount point or swap found.
pub fn in_use(device: &Path, mounts: &str, swaps: &str) -> Option<String> {
    let dev = device.to_string_lossy();
    // /dev/sdb covers /dev/sdb1; /dev/nvme0n1 and /dev/mmcblk0 cover p1.
    let covers = |src: &str| {
        src == dev
            || src.strip_prefix(dev.as_ref()).is_some_and(|rest| {
                let rest = rest.strip_prefix('p').unwrap_or(rest);
                !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())
            })
    };
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        if let (Some(src), Some(at)) = (f.next(), f.next())
            && covers(src)
        {
            return Some(format!("{src} is mounted on {at}"));
        }
    }
    for line in swaps.lines().skip(1) {
        if let Some(src) = line.split_whitespace().next()
            && covers(src)
        {
            return Some(format!("{src} is in use as swap"));
        }
    }
    None
}

/// Refuses an image that is not a GPT laid out as `board` says.
pub fn check_image(board: &Board, image: &Path) -> Result<u64> {
    let mut f = std::fs::File::open(image).with_context(|| format!("opening {}", image.display()))?;
    let len = f.seek(SeekFrom::End(0))?;
    let gpt = gptman::GPT::find_from(&mut f)
        .map_err(|e| anyhow::anyhow!("{}: no partition table ({e}): not a disk image", image.display()))?;
    let parts = crate::disk::layout(board)?;
    for p in &parts {
        let e = &gpt[p.number];
        let (start, end) = (e.starting_lba * 512, (e.ending_lba + 1) * 512);
        if e.partition_name.as_str() != p.name || start != p.offset || end - start != p.size {
            bail!(
                "{}: partition {} is {:?} at {} MiB ({} MiB); board {} has {} at {} MiB ({} MiB): built for another board or layout",
                image.display(),
                p.number,
                e.partition_name.as_str(),
                start >> 20,
                (end - start) >> 20,
                board.name,
                p.name,
                p.offset >> 20,
                p.size >> 20
            );
        }
    }
    Ok(len)
}

/// Writes `image` onto `target` and reads it back.
pub fn flash(board: &Board, image: &Path, target: &Path) -> Result<()> {
    let len = check_image(board, image)?;
    let meta = std::fs::metadata(target);
    let is_device = meta.as_ref().is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_block_device(&m.file_type()));
    if is_device {
        let real = std::fs::canonicalize(target).unwrap_or_else(|_| PathBuf::from(target));
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
        if let Some(why) = in_use(&real, &mounts, &swaps) {
            bail!("{}: {why}: unmount it first; nothing written", target.display());
        }
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .create(!is_device)
        .truncate(false)
        .open(target)
        .with_context(|| format!("opening {}", target.display()))?;
    if is_device {
        let have = out.seek(SeekFrom::End(0))?;
        if have < len {
            bail!(
                "{} holds {} MiB; the image needs {} MiB: nothing written",
                target.display(),
                have >> 20,
                len.div_ceil(1 << 20)
            );
        }
        out.seek(SeekFrom::Start(0))?;
    } else {
        out.set_len(len)?;
    }
    let mut inp = std::fs::File::open(image)?;
    let mut buf = vec![0u8; CHUNK];
    let mut want = Sha256::new();
    let t = Instant::now();
    let mut done = 0u64;
    while done < len {
        let n = usize::try_from((len - done).min(CHUNK as u64))?;
        inp.read_exact(&mut buf[..n])?;
        out.write_all(&buf[..n]).with_context(|| format!("writing {} at {} MiB", target.display(), done >> 20))?;
        want.update(&buf[..n]);
        done += n as u64;
        progress("writing", done, len, t);
    }
    out.sync_all().with_context(|| format!("syncing {}", target.display()))?;
    eprintln!();
    // Read back what the device holds (past the page cache where it can).
    let _ = nix::fcntl::posix_fadvise(&out, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED);
    out.seek(SeekFrom::Start(0))?;
    let mut got = Sha256::new();
    let (t, mut done) = (Instant::now(), 0u64);
    while done < len {
        let n = usize::try_from((len - done).min(CHUNK as u64))?;
        out.read_exact(&mut buf[..n]).with_context(|| format!("reading {} back", target.display()))?;
        got.update(&buf[..n]);
        done += n as u64;
        progress("verifying", done, len, t);
    }
    eprintln!();
    if got.finalize() != want.finalize() {
        bail!("{} does not read back as written: the device is faulty or was changed meanwhile", target.display());
    }
    eprintln!("{}: {} MiB written and verified", target.display(), len >> 20);
    Ok(())
}

fn progress(what: &str, done: u64, len: u64, t: Instant) {
    let secs = t.elapsed().as_secs_f64().max(0.001);
    eprint!(
        "\r{what} {:>3}% ({} of {} MiB) {:.1} MiB/s ",
        done * 100 / len.max(1),
        done >> 20,
        len >> 20,
        (done as f64 / (1 << 20) as f64) / secs
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_in_use_is_named_with_where() {
        let mounts = "/dev/sdb1 /media/usb vfat rw 0 0\n/dev/nvme0n1p2 / ext4 rw 0 0\nproc /proc proc rw 0 0\n";
        let swaps = "Filename Type Size Used Priority\n/dev/sdc2 partition 1 0 -2\n";
        assert_eq!(in_use(Path::new("/dev/sdb"), mounts, swaps).unwrap(), "/dev/sdb1 is mounted on /media/usb");
        assert_eq!(in_use(Path::new("/dev/nvme0n1"), mounts, swaps).unwrap(), "/dev/nvme0n1p2 is mounted on /");
        assert_eq!(in_use(Path::new("/dev/sdc"), mounts, swaps).unwrap(), "/dev/sdc2 is in use as swap");
        assert_eq!(in_use(Path::new("/dev/sdd"), mounts, swaps), None);
        // sdb does not cover sdba (another disk).
        assert_eq!(in_use(Path::new("/dev/sd"), "/dev/sdb1 /x vfat rw 0 0\n", ""), None);
    }

    #[test]
    fn an_image_is_checked_written_and_verified() {
        let b = crate::load_board("qemu-x86_64").unwrap();
        let dir = std::env::temp_dir().join(format!("vigil-flash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Not a disk image.
        let junk = dir.join("junk.img");
        std::fs::write(&junk, vec![0u8; 1 << 20]).unwrap();
        let e = flash(&b, &junk, &dir.join("out.img")).unwrap_err().to_string();
        assert!(e.contains("no partition table"), "{e}");
        assert!(!dir.join("out.img").exists(), "nothing written");
        // A GPT of another layout.
        let mut other = b.clone();
        other.flash.as_mut().unwrap().partitions[4].size = vigil_board::Size(30 << 20);
        let junk = crate::disk::SlotFiles { kernel: vec![0; 1 << 20], initrd: vec![0; 1 << 20], dtb: None };
        if crate::disk::build(&other, &junk, &dir.join("other.img")).is_ok() {
            let e = flash(&b, &dir.join("other.img"), &dir.join("out.img")).unwrap_err().to_string();
            assert!(e.contains("built for another board or layout"), "{e}");
            // The right one: written to a file and verified.
            crate::disk::build(&b, &junk, &dir.join("disk.img")).unwrap();
            flash(&b, &dir.join("disk.img"), &dir.join("out.img")).unwrap();
            assert!(std::fs::read(dir.join("out.img")).unwrap() == std::fs::read(dir.join("disk.img")).unwrap());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
