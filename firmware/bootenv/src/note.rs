//! Why a trial failed, kept for the boot after it: a slot that fails its
//! health gate (a child crash-looping) writes what it saw before it
//! reboots, and the good slot the bootloader rolls back to reads it and
//! says it. A kernel panic or a hang writes nothing; the good slot then
//! says what can have happened.
//!
//! One 512-byte sector (`slot=b seq=12 why=... crc=1a2b3c4d`, the CRC-32
//! of what comes before ` crc=`, then newlines to the end),
//! rewritten in place in a file the image builder made that size, so a
//! write never moves a cluster or touches the FAT. The note names the
//! trial by its slot and the environment's sequence number: a note left
//! by an older trial is not believed.

use crate::ab::Slot;

/// The note's size: one sector.
pub const SIZE: usize = 512;

/// What the longest reason can take (the rest of the sector is the header).
pub const MAX_WHY: usize = 400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub slot: Slot,
    /// The boot environment's sequence number during the trial.
    pub seq: u64,
    pub why: String,
}

impl Note {
    /// The sector; a long reason is cut (on a character boundary) to
    /// [`MAX_WHY`] bytes, and line breaks become spaces.
    pub fn encode(&self) -> [u8; SIZE] {
        let mut why: String = self.why.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        if why.len() > MAX_WHY {
            let mut cut = MAX_WHY;
            while !why.is_char_boundary(cut) {
                cut -= 1;
            }
            why.truncate(cut);
        }
        let body = format!("slot={} seq={} why={why}", self.slot.letter(), self.seq);
        let text = format!("{body} crc={:08x}\n", crc32fast::hash(body.as_bytes()));
        let mut out = [b'\n'; SIZE];
        out[..text.len()].copy_from_slice(text.as_bytes());
        out
    }

    /// The note in a sector, or None: empty, torn or not a note.
    pub fn decode(bytes: &[u8]) -> Option<Note> {
        let line = bytes.split(|&b| b == b'\n').next()?;
        let text = std::str::from_utf8(line).ok()?;
        let (body, crc) = text.rsplit_once(" crc=")?;
        if u32::from_str_radix(crc, 16).ok()? != crc32fast::hash(body.as_bytes()) || crc.len() != 8 {
            return None;
        }
        let rest = body.strip_prefix("slot=")?;
        let (slot, rest) = rest.split_once(" seq=")?;
        let (seq, why) = rest.split_once(" why=")?;
        let slot = match slot {
            "a" => Slot::A,
            "b" => Slot::B,
            _ => return None,
        };
        // The padding after the line must be whole: a torn write leaves
        // old bytes there.
        if bytes.len() != SIZE || bytes[line.len()..].iter().any(|&b| b != b'\n') {
            return None;
        }
        Some(Note { slot, seq: seq.parse().ok()?, why: why.to_string() })
    }

    /// An empty note (what a new image has).
    pub fn blank() -> [u8; SIZE] {
        [b'\n'; SIZE]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_round_trips_and_a_long_reason_is_cut_whole() {
        let n = Note { slot: Slot::B, seq: 12, why: "checkers kept crashing\nand was given up".into() };
        let back = Note::decode(&n.encode()).unwrap();
        assert_eq!(back, Note { why: "checkers kept crashing and was given up".into(), ..n });
        let long = Note { slot: Slot::A, seq: u64::MAX, why: "é".repeat(300) };
        let back = Note::decode(&long.encode()).unwrap();
        assert_eq!(back.why.len(), MAX_WHY);
        assert_eq!(back.seq, u64::MAX);
    }

    #[test]
    fn blank_torn_and_foreign_sectors_are_no_note() {
        assert_eq!(Note::decode(&Note::blank()), None);
        assert_eq!(Note::decode(&[0u8; SIZE]), None);
        let n = Note { slot: Slot::B, seq: 3, why: "x".into() }.encode();
        // A torn write: the new start over an older, longer note's tail.
        let old = Note { slot: Slot::B, seq: 2, why: "y".repeat(100) }.encode();
        let mut torn = n;
        torn[40..].copy_from_slice(&old[40..]);
        assert_eq!(Note::decode(&torn), None);
        // Cut anywhere: never a wrong note.
        for cut in 0..SIZE {
            let mut t = Note::blank();
            t[..cut].copy_from_slice(&n[..cut]);
            let d = Note::decode(&t);
            assert!(d.is_none() || d.as_ref() == Note::decode(&n).as_ref(), "cut {cut}: {d:?}");
        }
        let mut foreign = Note::blank();
        let line = format!("slot=c seq=1 why=x crc={:08x}", crc32fast::hash(b"slot=c seq=1 why=x"));
        foreign[..line.len()].copy_from_slice(line.as_bytes());
        assert_eq!(Note::decode(&foreign), None);
    }
}
