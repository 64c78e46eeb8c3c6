//! The config store: a ring of slots on the board's config partition (or a
//! file on a host). A commit writes a blob into a slot that does not hold
//! the newest valid config, syncs, and reads it back; only then is it
//! current. A power cut at any byte leaves a slot that fails its checksum,
//! and the next boot loads the newest slot that is whole. Older generations
//! stay in the other slots for `rollback`.

use crate::blob::{self, BlobError, FLAG_UNCONFIRMED, HEADER_LEN, Header};
use crate::model::Config;
use crate::validate::ConfigError;
use std::fmt;
use std::io;

/// Byte-addressed storage: a block device partition, a file, or memory.
pub trait Flash {
    fn size(&self) -> u64;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Returns once written data is durable.
    fn sync(&mut self) -> io::Result<()>;
}

/// A region of a file or block device.
pub struct FileFlash {
    file: std::fs::File,
    start: u64,
    len: u64,
}

impl FileFlash {
    /// Opens `len` bytes at `start` of `path`; a regular file is created and
    /// extended (sparse) as needed, for host use.
    pub fn open(path: &std::path::Path, start: u64, len: u64) -> io::Result<FileFlash> {
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let meta = file.metadata()?;
        if meta.is_file() && meta.len() < start + len {
            file.set_len(start + len)?;
        }
        Ok(FileFlash { file, start, len })
    }

    /// The open file (to tune how the kernel reads it).
    pub fn file(&self) -> &std::fs::File {
        &self.file
    }
}

impl Flash for FileFlash {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.read_exact_at(buf, self.start + offset)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.write_all_at(data, self.start + offset)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }
}

/// Flash in memory, for tests; can simulate a power cut.
#[derive(Debug, Clone)]
pub struct MemFlash {
    pub bytes: Vec<u8>,
    /// Bytes that may still be written before "power is cut": later writes
    /// are lost (a test fake for a power cut, which cannot be done for real
    /// on a host).
    pub write_budget: Option<usize>,
}

impl MemFlash {
    pub fn new(len: usize) -> MemFlash {
        MemFlash { bytes: vec![0xff; len], write_budget: None }
    }
}

impl Flash for MemFlash {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let o = offset as usize;
        let src = self.bytes.get(o..o + buf.len()).ok_or_else(|| io::Error::other("read beyond the end"))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let o = offset as usize;
        let n = match self.write_budget {
            Some(b) => data.len().min(b),
            None => data.len(),
        };
        let dst = self.bytes.get_mut(o..o + data.len()).ok_or_else(|| io::Error::other("write beyond the end"))?;
        dst[..n].copy_from_slice(&data[..n]);
        if let Some(b) = self.write_budget.as_mut() {
            *b -= n;
            if n < data.len() {
                return Err(io::Error::other("power cut"));
            }
        }
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
pub enum StoreError {
    Invalid(Vec<ConfigError>),
    Blob(BlobError),
    Io(io::Error),
    /// The read-back after a write differed.
    Verify {
        slot: usize,
    },
    Layout(String),
    NoSuchGeneration(u64),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Invalid(errs) => {
                write!(f, "config is invalid, nothing written:")?;
                for e in errs {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
            StoreError::Blob(e) => write!(f, "{e}"),
            StoreError::Io(e) => write!(f, "flash: {e}"),
            StoreError::Verify { slot } => write!(f, "flash: slot {slot} read back differently from what was written"),
            StoreError::Layout(m) => f.write_str(m),
            StoreError::NoSuchGeneration(g) => write!(f, "generation {g} is not on flash"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError::Io(e)
    }
}

/// What one slot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotState {
    pub slot: usize,
    pub status: Result<Header, BlobError>,
}

/// The result of loading at boot.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// None: nothing valid on flash, the embedded default is in use.
    pub generation: Option<u64>,
    pub slot: Option<usize>,
    /// Slots that were skipped, and why (shown at boot and in `show config`).
    pub skipped: Vec<String>,
}

pub struct Store<F: Flash> {
    flash: F,
    slot_size: u64,
    slots: usize,
}

impl<F: Flash> Store<F> {
    /// A store over `flash` cut into slots of `slot_size` bytes (at least two).
    pub fn new(flash: F, slot_size: u64) -> Result<Store<F>, StoreError> {
        let slots = (flash.size() / slot_size.max(1)) as usize;
        if slots < 2 || slot_size < (HEADER_LEN as u64) + 1024 {
            return Err(StoreError::Layout(format!(
                "config partition of {} bytes holds {slots} slots of {slot_size}: need at least 2",
                flash.size()
            )));
        }
        Ok(Store { flash, slot_size, slots })
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    pub fn into_flash(self) -> F {
        self.flash
    }

    fn offset(&self, slot: usize) -> u64 {
        slot as u64 * self.slot_size
    }

    /// Reads one slot's blob, fully checked.
    fn read_slot(&mut self, slot: usize) -> Result<blob::Decoded, StoreError> {
        let mut h = [0u8; HEADER_LEN];
        self.flash.read_at(self.offset(slot), &mut h)?;
        let header = Header::parse(&h).map_err(StoreError::Blob)?;
        if header.total_len() as u64 > self.slot_size {
            return Err(StoreError::Blob(BlobError::TooLong { length: header.length }));
        }
        let mut buf = vec![0u8; header.total_len()];
        self.flash.read_at(self.offset(slot), &mut buf)?;
        blob::decode(&buf).map_err(StoreError::Blob)
    }

    /// The state of every slot (headers only).
    pub fn scan(&mut self) -> Vec<SlotState> {
        (0..self.slots)
            .map(|slot| {
                let mut h = [0u8; HEADER_LEN];
                let status = match self.flash.read_at(self.offset(slot), &mut h) {
                    Ok(()) => Header::parse(&h),
                    Err(e) => Err(BlobError::Decode { generation: 0, why: e.to_string() }),
                };
                SlotState { slot, status }
            })
            .collect()
    }

    /// Valid, confirmed generations, newest first: (generation, slot).
    pub fn history(&mut self) -> Vec<(u64, usize)> {
        let mut out = Vec::new();
        for s in self.scan() {
            if let Ok(h) = s.status
                && h.flags & FLAG_UNCONFIRMED == 0
                && self.read_slot(s.slot).is_ok()
            {
                out.push((h.generation, s.slot));
            }
        }
        out.sort_by(|a, b| b.cmp(a));
        out
    }

    /// Loads the newest whole, valid, confirmed config; `default` if none.
    pub fn load(&mut self, default: Config) -> Loaded {
        let mut skipped = Vec::new();
        let mut candidates: Vec<(u64, usize)> = Vec::new();
        for s in self.scan() {
            match s.status {
                Ok(h) if h.flags & FLAG_UNCONFIRMED != 0 => skipped.push(format!(
                    "slot {}: generation {} was committed with confirm and never confirmed",
                    s.slot, h.generation
                )),
                Ok(h) => candidates.push((h.generation, s.slot)),
                Err(BlobError::Empty) => {}
                Err(e) => skipped.push(format!("slot {}: {e}", s.slot)),
            }
        }
        candidates.sort_by(|a, b| b.cmp(a));
        for (generation, slot) in candidates {
            match self.read_slot(slot) {
                Ok(d) => match d.config.validate() {
                    Ok(()) => {
                        return Loaded { config: d.config, generation: Some(generation), slot: Some(slot), skipped };
                    }
                    Err(errs) => skipped.push(format!(
                        "slot {slot}: generation {generation} is invalid: {}",
                        errs.first().map(|e| e.to_string()).unwrap_or_default()
                    )),
                },
                Err(e) => skipped.push(format!("slot {slot}: {e}")),
            }
        }
        Loaded { config: default, generation: None, slot: None, skipped }
    }

    /// A past generation (for `rollback`).
    pub fn load_generation(&mut self, generation: u64) -> Result<Config, StoreError> {
        for s in self.scan() {
            if let Ok(h) = s.status
                && h.generation == generation
            {
                return self.read_slot(s.slot).map(|d| d.config);
            }
        }
        Err(StoreError::NoSuchGeneration(generation))
    }

    /// Validates and writes `config` as a new generation. With `confirm`
    /// pending, the blob is marked unconfirmed: it is not booted until
    /// [`Store::confirm`] rewrites it.
    pub fn commit(&mut self, config: &Config, unconfirmed: bool) -> Result<u64, StoreError> {
        config.validate().map_err(StoreError::Invalid)?;
        let states = self.scan();
        let newest = states.iter().filter_map(|s| s.status.as_ref().ok().map(|h| h.generation)).max();
        let generation = newest.map_or(1, |g| g + 1);
        let flags = if unconfirmed { FLAG_UNCONFIRMED } else { 0 };
        let bytes = blob::encode(config, generation, flags).map_err(StoreError::Blob)?;
        if bytes.len() as u64 > self.slot_size {
            return Err(StoreError::Layout(format!(
                "config of {} bytes does not fit a {}-byte slot",
                bytes.len(),
                self.slot_size
            )));
        }
        let slot = self.victim(&states);
        let off = self.offset(slot);
        self.flash.write_at(off, &bytes)?;
        self.flash.sync()?;
        let mut back = vec![0u8; bytes.len()];
        self.flash.read_at(off, &mut back)?;
        if back != bytes {
            return Err(StoreError::Verify { slot });
        }
        Ok(generation)
    }

    /// Which slot to overwrite: an empty or broken one first, then the one
    /// holding the oldest generation; never the newest valid one, and a slot
    /// from a newer firmware only when nothing else is left.
    fn victim(&self, states: &[SlotState]) -> usize {
        let newest =
            states.iter().filter_map(|s| s.status.as_ref().ok().map(|h| (h.generation, s.slot))).max().map(|(_, s)| s);
        let rank = |s: &SlotState| -> (u8, u64) {
            match &s.status {
                Err(BlobError::TooNew { .. }) => (2, 0),
                Err(_) => (0, 0),
                Ok(h) => (1, h.generation),
            }
        };
        states.iter().filter(|s| Some(s.slot) != newest).min_by_key(|s| rank(s)).map(|s| s.slot).unwrap_or(0)
    }

    /// Confirms a pending `commit confirmed`: the config is written again as
    /// a new, confirmed generation.
    pub fn confirm(&mut self, config: &Config) -> Result<u64, StoreError> {
        self.commit(config, false)
    }
}
