//! The two copies of the boot environment as files on the EFI system
//! partition (`EFI/vigil/grubenv-a`, `-b`), where GRUB's `load_env` and
//! `save_env` find them. The partition is reached through any
//! `Read + Write + Seek` (a [`Window`] onto a disk image or the flash
//! device): no mount, no kernel FAT driver. A copy is rewritten in place:
//! the file keeps its size, so its clusters do not move and GRUB keeps
//! writing the same sectors.

use crate::ab::Copy;
use std::io::{Read, Seek, SeekFrom, Write};

/// Where the copies are, from the ESP's root.
pub fn path(copy: Copy) -> &'static str {
    match copy {
        Copy::A => "EFI/vigil/grubenv-a",
        Copy::B => "EFI/vigil/grubenv-b",
    }
}

/// Every timestamp vigil writes into a FAT file system: FAT's epoch,
/// 1980-01-01 00:00 (images are the same bytes from the same inputs, and an
/// appliance's clock may not be set yet).
#[derive(Debug)]
pub struct Epoch;

impl fatfs::TimeProvider for Epoch {
    fn get_current_date(&self) -> fatfs::Date {
        fatfs::Date { year: 1980, month: 1, day: 1 }
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime { date: self.get_current_date(), time: fatfs::Time { hour: 0, min: 0, sec: 0, millis: 0 } }
    }
}

pub static EPOCH: Epoch = Epoch;

/// Both copies' bytes (a copy that cannot be read is empty: not believed).
pub fn read<T: Read + Write + Seek>(esp: T) -> std::io::Result<[Vec<u8>; 2]> {
    let fs = fatfs::FileSystem::new(esp, fatfs::FsOptions::new().time_provider(&EPOCH))?;
    let mut out = [Vec::new(), Vec::new()];
    for (c, buf) in [Copy::A, Copy::B].into_iter().zip(out.iter_mut()) {
        if let Ok(mut f) = fs.root_dir().open_file(path(c)) {
            // At most a little more than a block: a huge file is not ours.
            let _ = Read::by_ref(&mut f).take(crate::grub::BLOCK as u64 + 1).read_to_end(buf);
        }
    }
    Ok(out)
}

/// Writes `block` over each copy in `copies`, in that order, calling
/// `sync` after each (so the first is on the medium before the second is
/// touched); creates a copy that is missing.
pub fn write<T: Read + Write + Seek>(
    esp: T,
    block: &[u8],
    copies: &[Copy],
    mut sync: impl FnMut() -> std::io::Result<()>,
) -> std::io::Result<()> {
    let fs = fatfs::FileSystem::new(esp, fatfs::FsOptions::new().time_provider(&EPOCH))?;
    for &c in copies {
        let mut f = match fs.root_dir().open_file(path(c)) {
            Ok(f) => f,
            Err(_) => {
                let dir = match fs.root_dir().open_dir("EFI/vigil") {
                    Ok(d) => d,
                    Err(_) => fs.root_dir().create_dir("EFI")?.create_dir("vigil")?,
                };
                dir.create_file(path(c).rsplit('/').next().unwrap_or("grubenv"))?
            }
        };
        f.write_all(block)?;
        // Same size: nothing to cut; a longer file (not ours) is cut to one block.
        f.truncate()?;
        f.flush()?;
        drop(f);
        sync()?;
    }
    fs.unmount()
}

/// Where a failed trial's note is ([`crate::note`]).
pub const NOTE_PATH: &str = "EFI/vigil/trial-note";

/// The note's sector, if the ESP has the file (images since the note
/// came have it; it is never created here: creating a file writes the FAT).
pub fn read_note<T: Read + Write + Seek>(esp: T) -> std::io::Result<Option<Vec<u8>>> {
    let fs = fatfs::FileSystem::new(esp, fatfs::FsOptions::new().time_provider(&EPOCH))?;
    let Ok(f) = fs.root_dir().open_file(NOTE_PATH) else { return Ok(None) };
    let mut buf = Vec::new();
    Read::by_ref(&mut { f }).take(crate::note::SIZE as u64).read_to_end(&mut buf)?;
    Ok(Some(buf))
}

/// Writes the note's sector over the file in place (it must be there and
/// of the note's size: then no cluster moves), then `sync`.
pub fn write_note<T: Read + Write + Seek>(
    esp: T,
    sector: &[u8; crate::note::SIZE],
    sync: impl FnOnce() -> std::io::Result<()>,
) -> std::io::Result<()> {
    let fs = fatfs::FileSystem::new(esp, fatfs::FsOptions::new().time_provider(&EPOCH))?;
    let mut f = fs.root_dir().open_file(NOTE_PATH)?;
    let len = f.seek(SeekFrom::End(0))?;
    if len != crate::note::SIZE as u64 {
        return Err(std::io::Error::other(format!("{NOTE_PATH} is {len} bytes, not {}", crate::note::SIZE)));
    }
    f.seek(SeekFrom::Start(0))?;
    f.write_all(sector)?;
    f.flush()?;
    drop(f);
    sync()?;
    fs.unmount()
}

/// A window onto part of a device or file (a partition), for the FAT code
/// to see as a whole device.
pub struct Window<F> {
    inner: F,
    start: u64,
    len: u64,
    pos: u64,
}

impl<F> Window<F> {
    pub fn new(inner: F, start: u64, len: u64) -> Window<F> {
        Window { inner, start, len, pos: 0 }
    }
}

impl<F: Read + Seek> Read for Window<F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = usize::try_from(self.len.saturating_sub(self.pos)).unwrap_or(usize::MAX).min(buf.len());
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let got = self.inner.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl<F: Write + Seek> Write for Window<F> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = usize::try_from(self.len.saturating_sub(self.pos)).unwrap_or(usize::MAX).min(buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(std::io::Error::other("write past the end of the partition"));
        }
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let put = self.inner.write(&buf[..n])?;
        self.pos += put as u64;
        Ok(put)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<F> Seek for Window<F> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.filter(|p| *p <= self.len).ok_or_else(|| std::io::Error::other("seek outside the partition"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ab::{self, BootState, Slot};
    use std::io::Cursor;

    #[test]
    fn copies_are_written_in_order_and_read_back() {
        let mut disk = Cursor::new(vec![0u8; 8 << 20]);
        let mut w = Window::new(&mut disk, 1 << 20, 4 << 20);
        fatfs::format_volume(&mut w, fatfs::FormatVolumeOptions::new()).unwrap();
        // Missing copies read as empty (not believed), and are created.
        let [a, b] = read(Window::new(&mut disk, 1 << 20, 4 << 20)).unwrap();
        assert!(a.is_empty() && b.is_empty());
        let block = ab::encode_copy(&BootState::new(Slot::B), 9);
        let mut order = Vec::new();
        write(Window::new(&mut disk, 1 << 20, 4 << 20), &block, &[Copy::A, Copy::B], || {
            order.push(());
            Ok(())
        })
        .unwrap();
        assert_eq!(order.len(), 2, "a sync after each copy");
        let [a, b] = read(Window::new(&mut disk, 1 << 20, 4 << 20)).unwrap();
        assert_eq!((a.as_slice(), b.as_slice()), (block.as_slice(), block.as_slice()));
        // Nothing outside the window was touched.
        assert!(disk.get_ref()[..1 << 20].iter().all(|&x| x == 0));
        assert!(disk.get_ref()[5 << 20..].iter().all(|&x| x == 0));
    }
}
