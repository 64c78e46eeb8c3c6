//! The bundle's header: where the manifest, the signature and the payload
//! are. Checked at the edge: every length is bounded before anything is
//! read with it.

/// The first bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"VIGILUPD";
/// The format this code reads and writes.
pub const FORMAT: u16 = 1;
/// The largest manifest (a 4 GiB payload has 4,096 chunk hashes: 128 KiB;
/// slots are 64 MiB: 2 KiB).
pub const MAX_MANIFEST: u32 = 256 << 10;
/// The largest signature (minisign's text form is about 300 bytes).
pub const MAX_SIGNATURE: u32 = 4 << 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0} bytes: shorter than a bundle's header ({SIZE} bytes)", SIZE = Header::SIZE)]
    Short(usize),
    #[error("not an update bundle (the first bytes are not \"VIGILUPD\")")]
    Magic,
    #[error("bundle format {0}; this firmware reads format {FORMAT}")]
    Format(u16),
    #[error("the manifest's length is {0} bytes; at most {MAX_MANIFEST}")]
    ManifestLength(u32),
    #[error("the signature's length is {0} bytes; at most {MAX_SIGNATURE}")]
    SignatureLength(u32),
    #[error("the manifest cannot be read: {0}")]
    Manifest(String),
    #[error("the bundle is not signed")]
    Unsigned,
    #[error("the signature cannot be read: {0}")]
    SignatureText(String),
    #[error("signed with a key this firmware does not trust (none of its {0} keys)")]
    UnknownKey(usize),
    #[error("the signature does not match the manifest: the bundle was changed or signed by another key")]
    BadSignature,
    #[error("chunk {index} (payload bytes {start}..{end}) does not match its SHA-256 in the manifest")]
    Chunk { index: usize, start: u64, end: u64 },
    #[error("the payload is {have} bytes; the manifest says {want}")]
    PayloadSize { have: u64, want: u64 },
    #[error("the payload's SHA-256 does not match the manifest's")]
    PayloadHash,
}

/// Where the parts of a bundle are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub manifest_len: u32,
    pub signature_len: u32,
}

impl Header {
    pub const SIZE: usize = 18;

    pub fn parse(bytes: &[u8]) -> Result<Header, Error> {
        let b = bytes.get(..Self::SIZE).ok_or(Error::Short(bytes.len()))?;
        if &b[..8] != MAGIC {
            return Err(Error::Magic);
        }
        let format = u16::from_le_bytes([b[8], b[9]]);
        if format != FORMAT {
            return Err(Error::Format(format));
        }
        let manifest_len = u32::from_le_bytes([b[10], b[11], b[12], b[13]]);
        let signature_len = u32::from_le_bytes([b[14], b[15], b[16], b[17]]);
        if manifest_len == 0 || manifest_len > MAX_MANIFEST {
            return Err(Error::ManifestLength(manifest_len));
        }
        if signature_len > MAX_SIGNATURE {
            return Err(Error::SignatureLength(signature_len));
        }
        Ok(Header { manifest_len, signature_len })
    }

    pub fn emit(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[..8].copy_from_slice(MAGIC);
        out[8..10].copy_from_slice(&FORMAT.to_le_bytes());
        out[10..14].copy_from_slice(&self.manifest_len.to_le_bytes());
        out[14..18].copy_from_slice(&self.signature_len.to_le_bytes());
        out
    }

    /// Header, manifest and signature: what a device fetches first.
    pub fn head_len(&self) -> u64 {
        Self::SIZE as u64 + u64::from(self.manifest_len) + u64::from(self.signature_len)
    }

    /// The manifest's and the signature's bytes in `head` (at least
    /// [`Header::head_len`] bytes from the bundle's start).
    pub fn parts<'a>(&self, head: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
        let m = Self::SIZE..Self::SIZE + self.manifest_len as usize;
        let s = m.end..m.end + self.signature_len as usize;
        Some((head.get(m)?, head.get(s)?))
    }
}

/// A whole bundle's bytes: header, manifest, signature, payload.
pub fn assemble(manifest: &[u8], signature: &[u8], payload: &[u8]) -> Vec<u8> {
    let h = Header { manifest_len: manifest.len() as u32, signature_len: signature.len() as u32 };
    let mut out = Vec::with_capacity(h.head_len() as usize + payload.len());
    out.extend_from_slice(&h.emit());
    out.extend_from_slice(manifest);
    out.extend_from_slice(signature);
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_and_every_bad_field_is_named() {
        let h = Header { manifest_len: 100, signature_len: 300 };
        assert_eq!(Header::parse(&h.emit()), Ok(h));
        assert_eq!(h.head_len(), 418);
        assert_eq!(Header::parse(&h.emit()[..17]), Err(Error::Short(17)));
        let mut b = h.emit();
        b[0] = b'X';
        assert_eq!(Header::parse(&b), Err(Error::Magic));
        let mut b = h.emit();
        b[8] = 2;
        assert_eq!(Header::parse(&b).unwrap_err().to_string(), "bundle format 2; this firmware reads format 1");
        let big = Header { manifest_len: MAX_MANIFEST + 1, signature_len: 0 };
        assert_eq!(Header::parse(&big.emit()), Err(Error::ManifestLength(MAX_MANIFEST + 1)));
        let big = Header { manifest_len: 1, signature_len: MAX_SIGNATURE + 1 };
        assert_eq!(Header::parse(&big.emit()), Err(Error::SignatureLength(MAX_SIGNATURE + 1)));
        assert_eq!(Header::parse(&Header { manifest_len: 0, signature_len: 0 }.emit()), Err(Error::ManifestLength(0)));
    }

    #[test]
    fn the_parts_are_where_the_header_says() {
        let b = assemble(b"mani", b"sig", b"payload");
        let h = Header::parse(&b).unwrap();
        assert_eq!(h.parts(&b), Some((&b"mani"[..], &b"sig"[..])));
        assert_eq!(&b[h.head_len() as usize..], b"payload");
        assert_eq!(h.parts(&b[..20]), None, "a short head is no parts, not a panic");
    }
}
