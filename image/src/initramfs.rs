//! A reproducible initramfs: a cpio (newc) archive, gzip-compressed. Entries
//! are written in path order with fixed inode numbers, owner root and mtime 0,
//! so the same inputs always give the same bytes.

use anyhow::{Context, Result, bail};
use flate2::{Compression, GzBuilder};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
    Symlink { target: String },
    CharDev { mode: u32, major: u32, minor: u32 },
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// The archive's contents, keyed by path without a leading '/'.
#[derive(Debug, Default, Clone)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

fn clean(path: &str) -> Result<String> {
    let p = path.trim_start_matches('/').trim_end_matches('/');
    if p.is_empty() || p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        bail!("invalid archive path {path:?}");
    }
    Ok(p.to_string())
}

impl Archive {
    pub fn new() -> Archive {
        Archive::default()
    }

    /// Adds an entry, creating its parent directories (mode 0755).
    pub fn add(&mut self, path: &str, entry: Entry) -> Result<()> {
        let p = clean(path)?;
        let mut parent = String::new();
        for comp in p.split('/').take(p.split('/').count() - 1) {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(comp);
            match self.entries.get(&parent) {
                None => {
                    self.entries.insert(parent.clone(), Entry::Dir { mode: 0o755 });
                }
                Some(Entry::Dir { .. }) => {}
                Some(_) => bail!("{path}: parent {parent} is not a directory"),
            }
        }
        self.entries.insert(p, entry);
        Ok(())
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> Result<()> {
        self.add(path, Entry::Dir { mode })
    }

    pub fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) -> Result<()> {
        self.add(path, Entry::File { mode, data })
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path.trim_start_matches('/'))
    }

    /// Adds a host directory tree under `prefix` (regular files keep their
    /// permission bits; owners and times are not kept).
    pub fn add_tree(&mut self, host_dir: &Path, prefix: &str) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mut stack = vec![host_dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
                let e = e?;
                let p = e.path();
                let rel = p.strip_prefix(host_dir)?.to_string_lossy().into_owned();
                let dest = format!("{prefix}/{rel}");
                let ft = e.file_type()?;
                if ft.is_dir() {
                    self.dir(&dest, 0o755)?;
                    stack.push(p);
                } else if ft.is_symlink() {
                    let target = std::fs::read_link(&p)?.to_string_lossy().into_owned();
                    self.add(&dest, Entry::Symlink { target })?;
                } else {
                    let mode = e.metadata()?.permissions().mode() & 0o7777;
                    self.file(&dest, mode, std::fs::read(&p)?)?;
                }
            }
        }
        Ok(())
    }

    /// The uncompressed cpio archive.
    pub fn to_cpio(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for (ino, (path, entry)) in self.entries.iter().enumerate() {
            let (mode, data, nlink, rdev): (u32, &[u8], u32, (u32, u32)) = match entry {
                Entry::Dir { mode } => (S_IFDIR | mode, &[], 2, (0, 0)),
                Entry::File { mode, data } => (S_IFREG | mode, data, 1, (0, 0)),
                Entry::Symlink { target } => (S_IFLNK | 0o777, target.as_bytes(), 1, (0, 0)),
                Entry::CharDev { mode, major, minor } => (S_IFCHR | mode, &[], 1, (*major, *minor)),
            };
            let size = u32::try_from(data.len()).with_context(|| format!("{path}: larger than 4 GiB"))?;
            let mut w = cpio::newc::Builder::new(path)
                .ino(ino as u32 + 1)
                .mode(mode)
                .uid(0)
                .gid(0)
                .nlink(nlink)
                .mtime(0)
                .rdev_major(rdev.0)
                .rdev_minor(rdev.1)
                .write(&mut out, size);
            w.write_all(data)?;
            w.finish()?;
        }
        cpio::newc::trailer(&mut out)?;
        Ok(out)
    }

    /// The gzip-compressed archive (no name, mtime 0: reproducible).
    pub fn to_gzip(&self) -> Result<Vec<u8>> {
        let cpio = self.to_cpio()?;
        let mut gz = GzBuilder::new().mtime(0).write(Vec::new(), Compression::best());
        gz.write_all(&cpio)?;
        Ok(gz.finish()?)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Lists a cpio archive as (path, mode, size), for checks and `vigil-image ls`.
pub fn list_cpio(bytes: &[u8]) -> Result<Vec<(String, u32, u32)>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    loop {
        let reader = cpio::newc::Reader::new(rest).context("corrupt cpio archive")?;
        let e = reader.entry();
        if e.is_trailer() {
            return Ok(out);
        }
        out.push((e.name().to_string(), e.mode(), e.file_size()));
        rest = reader.finish()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Archive {
        let mut a = Archive::new();
        a.file("/init", 0o755, b"#!binary".to_vec()).unwrap();
        a.file("lib/modules/6.1/kernel/net/ip_vs.ko", 0o644, vec![1, 2, 3]).unwrap();
        a.add("dev/console", Entry::CharDev { mode: 0o600, major: 5, minor: 1 }).unwrap();
        a
    }

    #[test]
    fn same_inputs_same_bytes() {
        let one = sample().to_gzip().unwrap();
        let two = sample().to_gzip().unwrap();
        assert_eq!(one, two);
        // gzip header: mtime (bytes 4..8) is zero, no file name flag.
        assert_eq!(&one[4..8], &[0, 0, 0, 0]);
        assert_eq!(one[3] & 0x08, 0);
    }

    #[test]
    fn parents_come_first_with_their_modes() {
        let cpio = sample().to_cpio().unwrap();
        let listed = list_cpio(&cpio).unwrap();
        let names: Vec<&str> = listed.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "dev",
                "dev/console",
                "init",
                "lib",
                "lib/modules",
                "lib/modules/6.1",
                "lib/modules/6.1/kernel",
                "lib/modules/6.1/kernel/net",
                "lib/modules/6.1/kernel/net/ip_vs.ko"
            ]
        );
        assert_eq!(listed[1].1, S_IFCHR | 0o600);
        assert_eq!(listed[2].1, S_IFREG | 0o755);
        assert_eq!(listed[2].2, 8);
        assert_eq!(listed[0].1, S_IFDIR | 0o755);
    }

    #[test]
    fn bad_paths_are_refused() {
        let mut a = Archive::new();
        assert!(a.file("../etc/passwd", 0o644, vec![]).is_err());
        assert!(a.file("", 0o644, vec![]).is_err());
        a.file("etc", 0o644, vec![]).unwrap();
        let e = a.file("etc/x", 0o644, vec![]).unwrap_err().to_string();
        assert!(e.contains("not a directory"), "{e}");
    }
}
