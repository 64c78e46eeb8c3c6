//! What the updater keeps on the state partition, so that a power cut
//! loses nothing: the facts about the device that outlive an install (the
//! security floor, builds that rolled back here) and an install in
//! progress (the bundle's head, where it comes from, how many chunks are
//! in the slot). Two records, written in turn (the older one is
//! overwritten), each with a sequence number and a SHA-256 of its body: a
//! torn write leaves the other one, and the newer whole one wins.
//!
//! ```text
//! magic "VIGILST1" | sequence u64 | body length u32 | body (postcard) | SHA-256 of the bytes before it
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MAGIC: &[u8; 8] = b"VIGILST1";
/// Each record's room on the partition (the head of a bundle is at most
/// about 260 KiB).
pub const RECORD: usize = 512 << 10;
const FIXED: usize = 8 + 8 + 4;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The highest security version a kept slot has had.
    pub security_floor: u32,
    /// Builds that rolled back on this device: never installed again.
    pub rolled_back: Vec<u64>,
    pub install: Option<InProgress>,
    /// A slot put on trial, waiting for its health gate (kept) or for the
    /// bootloader to give up on it (rolled back).
    pub trial: Option<Trial>,
    /// What the last install came to, in the operator's words.
    pub last: Option<String>,
    /// This device's id for the channel's rollout draw and its reports
    /// (random, made at the first start, kept for ever).
    pub device_id: String,
    /// The newest channel sequence accepted: an older channel is refused.
    pub channel_seq: u64,
    /// Where reports go (from the channel last read), for outcomes known
    /// only after a reboot.
    pub report_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    pub build: u64,
    pub version: String,
    pub security_version: u32,
    /// 0 for slot a, 1 for slot b.
    pub slot: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InProgress {
    /// Where the bundle comes from (a URL or a path).
    pub source: String,
    /// 0 for slot a, 1 for slot b: the slot being written.
    pub slot: u8,
    /// The bundle's header, manifest and signature, as fetched.
    pub head: Vec<u8>,
    /// Chunks verified and written into the slot.
    pub chunks_written: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the state is {0} bytes; a record holds {max}", max = RECORD - FIXED - 32)]
    TooLarge(usize),
}

/// One record's bytes, to be written at the start of its `RECORD`-sized
/// room (what follows them there is never read).
pub fn encode(state: &State, seq: u64) -> Result<Vec<u8>, Error> {
    let body = postcard::to_allocvec(state).unwrap_or_default();
    if FIXED + body.len() + 32 > RECORD {
        return Err(Error::TooLarge(body.len()));
    }
    let mut out = Vec::with_capacity(RECORD);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

/// A record, if it is whole: `(sequence, state)`.
pub fn decode(bytes: &[u8]) -> Option<(u64, State)> {
    if bytes.get(..8)? != MAGIC {
        return None;
    }
    let seq = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
    let len = u32::from_le_bytes(bytes.get(16..20)?.try_into().ok()?) as usize;
    let end = FIXED.checked_add(len)?;
    let sum = bytes.get(end..end.checked_add(32)?)?;
    if Sha256::digest(&bytes[..end])[..] != sum[..] {
        return None;
    }
    let state = postcard::from_bytes(&bytes[FIXED..end]).ok()?;
    Some((seq, state))
}

/// The state from the two records: the newer whole one, else the only
/// whole one, else a new device's (nothing lost that was ever kept: a
/// device with no record has never kept a slot). Returns it with its
/// sequence and which record to write next (the other one).
pub fn read(records: [&[u8]; 2]) -> (State, u64, usize) {
    match (decode(records[0]), decode(records[1])) {
        (Some((a, sa)), Some((b, sb))) => {
            if b > a {
                (sb, b, 0)
            } else {
                (sa, a, 1)
            }
        }
        (Some((a, sa)), None) => (sa, a, 1),
        (None, Some((b, sb))) => (sb, b, 0),
        (None, None) => (State::default(), 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(n: u32) -> State {
        State {
            security_floor: 3,
            rolled_back: vec![7, 9],
            install: Some(InProgress {
                source: "http://192.0.2.1/v2.vub".into(),
                slot: 1,
                head: vec![1; 300],
                chunks_written: n,
            }),
            trial: None,
            last: Some("build 7 rolled back".into()),
            device_id: "0123456789abcdef".into(),
            channel_seq: 4,
            report_to: None,
        }
    }

    #[test]
    fn the_newer_whole_record_wins_and_a_torn_one_never_does() {
        let r1 = encode(&state(1), 1).unwrap();
        let r2 = encode(&state(2), 2).unwrap();
        assert_eq!(read([&r1, &r2]), (state(2), 2, 0));
        assert_eq!(read([&r2, &r1]), (state(2), 2, 1));
        // Record 0 rewritten with seq 3, cut at every byte of what differs:
        // the result is state 2 or state 3, never anything else.
        let r3 = encode(&state(3), 3).unwrap();
        let differ = r1.iter().zip(&r3).rposition(|(a, b)| a != b).unwrap() + 1;
        for cut in 0..=differ {
            let mut torn = r1.clone();
            torn[..cut].copy_from_slice(&r3[..cut]);
            let (s, seq, next) = read([&torn, &r2]);
            if cut == differ {
                assert_eq!((s, seq, next), (state(3), 3, 1), "cut {cut}");
            } else {
                assert_eq!((s, seq, next), (state(2), 2, 0), "cut {cut}");
            }
        }
        assert_eq!(read([&[0u8; 64], &[0xffu8; 64]]), (State::default(), 0, 0));
    }

    #[test]
    fn a_state_too_large_for_a_record_is_refused() {
        let mut s = state(0);
        s.install.as_mut().unwrap().head = vec![0; RECORD];
        assert!(matches!(encode(&s, 1), Err(Error::TooLarge(_))));
    }
}
