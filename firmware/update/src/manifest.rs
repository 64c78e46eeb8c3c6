//! The manifest: what a bundle is for and what its payload must hash to;
//! what a device admits; the signature over it; and the payload's check,
//! chunk by chunk, before each chunk is written.

use crate::CHUNK;
use crate::bundle::Error;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bounds on the manifest's text fields (a board name, a version string).
const MAX_TEXT: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The board it is built for (`qemu-x86_64`).
    pub board: String,
    /// `x86_64` or `aarch64`.
    pub arch: String,
    /// Build number: only a higher one than the running build is installed.
    pub build: u64,
    /// What operators read (`0.2.0`).
    pub version: String,
    /// A device never installs a bundle below the highest security version
    /// it has confirmed (rollback protection: an old, signed build with a
    /// known hole cannot be put back).
    pub security_version: u32,
    /// The oldest running build this one may update (a build that needs a
    /// step on the way says so).
    pub min_build: u64,
    pub payload_size: u64,
    pub payload_sha256: [u8; 32],
    /// One SHA-256 per [`CHUNK`] of the payload.
    pub chunks: Vec<[u8; 32]>,
}

/// What a device is and has, for [`Manifest::admit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub board: String,
    pub arch: String,
    /// The build running now.
    pub build: u64,
    /// The highest security version confirmed on this device.
    pub security_floor: u32,
    /// The inactive slot's size.
    pub slot_size: u64,
    /// Builds that rolled back here: never tried again.
    pub rolled_back: Vec<u64>,
}

/// Why a device will not install a bundle: said before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the bundle is for board {bundle}; this is {device}")]
    Board { bundle: String, device: String },
    #[error("the bundle is for {bundle}; this board is {device}")]
    Arch { bundle: String, device: String },
    #[error("build {bundle} is not newer than the running build {running}")]
    NotNewer { bundle: u64, running: u64 },
    #[error("build {bundle} rolled back on this device before; it is not tried again")]
    RolledBack { bundle: u64 },
    #[error("security version {bundle} is below this device's {floor}")]
    Security { bundle: u32, floor: u32 },
    #[error("build {bundle} updates builds {min} and newer; this runs {running}: install a build between first")]
    TooOld { bundle: u64, min: u64, running: u64 },
    #[error("the payload is {payload} bytes; the slot holds {slot}")]
    TooBig { payload: u64, slot: u64 },
}

fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK as u64)
}

impl Manifest {
    /// The manifest of `payload`.
    pub fn of_payload(
        board: &str,
        arch: &str,
        build: u64,
        version: &str,
        security_version: u32,
        min_build: u64,
        payload: &[u8],
    ) -> Manifest {
        Manifest {
            board: board.into(),
            arch: arch.into(),
            build,
            version: version.into(),
            security_version,
            min_build,
            payload_size: payload.len() as u64,
            payload_sha256: Sha256::digest(payload).into(),
            chunks: payload.chunks(CHUNK).map(|c| Sha256::digest(c).into()).collect(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // A Vec grows as needed: postcard cannot fail here.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Reads a manifest and checks that it is whole: bounded text, one
    /// hash per chunk of the payload.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, Error> {
        let m: Manifest = postcard::from_bytes(bytes).map_err(|e| Error::Manifest(e.to_string()))?;
        for (field, v) in [("board", &m.board), ("arch", &m.arch), ("version", &m.version)] {
            if v.is_empty() || v.len() > MAX_TEXT || v.chars().any(char::is_control) {
                return Err(Error::Manifest(format!("{field} {v:?} is not 1-{MAX_TEXT} printable characters")));
            }
        }
        if m.chunks.len() as u64 != chunk_count(m.payload_size) {
            return Err(Error::Manifest(format!(
                "{} chunk hashes for a payload of {} bytes (want {})",
                m.chunks.len(),
                m.payload_size,
                chunk_count(m.payload_size)
            )));
        }
        Ok(m)
    }

    /// Whether `device` installs this bundle: the first reason it does not.
    pub fn admit(&self, d: &Device) -> Result<(), Refusal> {
        if self.board != d.board {
            return Err(Refusal::Board { bundle: self.board.clone(), device: d.board.clone() });
        }
        if self.arch != d.arch {
            return Err(Refusal::Arch { bundle: self.arch.clone(), device: d.arch.clone() });
        }
        if self.build <= d.build {
            return Err(Refusal::NotNewer { bundle: self.build, running: d.build });
        }
        if d.rolled_back.contains(&self.build) {
            return Err(Refusal::RolledBack { bundle: self.build });
        }
        if self.security_version < d.security_floor {
            return Err(Refusal::Security { bundle: self.security_version, floor: d.security_floor });
        }
        if d.build < self.min_build {
            return Err(Refusal::TooOld { bundle: self.build, min: self.min_build, running: d.build });
        }
        if self.payload_size > d.slot_size {
            return Err(Refusal::TooBig { payload: self.payload_size, slot: d.slot_size });
        }
        Ok(())
    }
}

/// Checks `manifest` (its bytes as in the bundle) against its minisign
/// `signature` with the trusted public keys (minisign's base64 form).
/// A key that cannot be read is skipped: it trusts nothing.
pub fn verify(manifest: &[u8], signature: &[u8], keys: &[&str]) -> Result<(), Error> {
    if signature.is_empty() {
        return Err(Error::Unsigned);
    }
    let text = std::str::from_utf8(signature).map_err(|_| Error::SignatureText("not UTF-8 text".into()))?;
    let sig = minisign_verify::Signature::decode(text).map_err(|e| Error::SignatureText(e.to_string()))?;
    for key in keys {
        let Ok(pk) = minisign_verify::PublicKey::from_base64(key.trim()) else { continue };
        match pk.verify(manifest, &sig, false) {
            Ok(()) => return Ok(()),
            Err(minisign_verify::Error::UnexpectedKeyId) => continue,
            Err(_) => return Err(Error::BadSignature),
        }
    }
    Err(Error::UnknownKey(keys.len()))
}

/// The payload's check as it arrives: whole chunks come out verified (to
/// be written at their offset), a chunk that does not match is an error
/// before any of it is written, and [`Chunks::finish`] checks the size and
/// the whole payload's hash. Holds at most one chunk.
#[derive(Debug, Clone)]
pub struct Chunks {
    manifest: Manifest,
    buf: Vec<u8>,
    index: usize,
    /// The whole payload's hash, when it started at byte 0.
    whole: Option<Sha256>,
    received: u64,
}

impl Chunks {
    pub fn new(manifest: &Manifest) -> Chunks {
        Chunks { manifest: manifest.clone(), buf: Vec::new(), index: 0, whole: Some(Sha256::new()), received: 0 }
    }

    /// Resumes at chunk `index` (a download cut after that many chunks were
    /// written). The whole payload's hash is then the slot's, read back.
    pub fn resume(manifest: &Manifest, index: usize) -> Chunks {
        let index = index.min(manifest.chunks.len());
        let received = (index as u64 * CHUNK as u64).min(manifest.payload_size);
        Chunks { manifest: manifest.clone(), buf: Vec::new(), index, whole: None, received }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Bytes received so far (what a resumed download starts from is the
    /// last verified chunk's end: [`Chunks::verified`]).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Where the verified part of the payload ends.
    pub fn verified(&self) -> u64 {
        self.index as u64 * CHUNK as u64
    }

    /// Takes the next bytes of the payload; calls `write(offset, chunk)`
    /// for each whole chunk that matches its hash.
    pub fn push(&mut self, mut data: &[u8], mut write: impl FnMut(u64, &[u8])) -> Result<(), Error> {
        let size = self.manifest.payload_size;
        if self.received + data.len() as u64 > size {
            return Err(Error::PayloadSize { have: self.received + data.len() as u64, want: size });
        }
        self.received += data.len() as u64;
        while !data.is_empty() {
            let start = self.verified();
            let want = (size - start).min(CHUNK as u64) as usize;
            let take = (want - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == want {
                let ok = self.manifest.chunks.get(self.index).is_some_and(|h| Sha256::digest(&self.buf)[..] == h[..]);
                if !ok {
                    return Err(Error::Chunk { index: self.index, start, end: start + want as u64 });
                }
                if let Some(w) = self.whole.as_mut() {
                    w.update(&self.buf);
                }
                write(start, &self.buf);
                self.buf.clear();
                self.index += 1;
            }
        }
        Ok(())
    }

    /// Every byte came (and the whole hash matches, when it began at 0).
    pub fn finish(self) -> Result<(), Error> {
        if self.received != self.manifest.payload_size || !self.buf.is_empty() {
            return Err(Error::PayloadSize { have: self.received, want: self.manifest.payload_size });
        }
        match self.whole.map(|w| w.finalize()) {
            Some(h) if h[..] != self.manifest.payload_sha256[..] => Err(Error::PayloadHash),
            _ => Ok(()),
        }
    }
}
