//! The A/B boot state, kept by the bootloader and vigil together in two
//! copies of a GRUB environment block.
//!
//! What each side does:
//! - the bootloader ([`BootState::boot`], and the GRUB script the image
//!   builder writes does the same): a slot on trial with tries left is
//!   booted and its tries go down by one first; a slot on trial with none
//!   left has failed: the good slot is booted and told which one failed.
//! - vigil: puts a slot on trial after writing it ([`BootState::start_trial`]),
//!   and confirms it once its health gate holds ([`BootState::confirm`]).
//!
//! Why this survives a power cut at any moment:
//! - every variable the bootloader changes keeps its length (`tries_left` is
//!   one digit, "no slot" is `-`), so GRUB rewrites only those bytes, in the
//!   first sector, and the rest of the block stays as it was; a countdown is
//!   one byte, and a rollback's two changes are in the order that leaves a
//!   state which rolls back the same way if only the first is written;
//! - vigil rewrites whole blocks, numbered: `vigil_seq` is the block's first
//!   line (first sector) and `vigil_check` its last (last sector). A block
//!   whose two differ was torn and is not believed;
//! - both writers write copy A, then copy B. Of two good copies the higher
//!   number wins, and A on a tie (A is written first, so it is never older).
//!   A torn copy is rewritten from the other; with both unreadable, the
//!   bootloader boots slot A and vigil says so and rewrites both.

use crate::grub::{self, BLOCK, Env};
use std::fmt;

/// A firmware slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn letter(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }

    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "a" | "A" => Some(Slot::A),
            "b" | "B" => Some(Slot::B),
            _ => None,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.letter())
    }
}

/// The most tries a trial can have: one digit, so the bootloader's
/// countdown never changes the block's length.
pub const MAX_TRIES: u8 = 9;

/// What the bootloader and vigil agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootState {
    /// The slot known to work.
    pub good: Slot,
    /// A slot on trial, if any.
    pub trying: Option<Slot>,
    /// Boots the trial has left.
    pub tries_left: u8,
    /// The last slot whose trial ran out of tries.
    pub failed: Option<Slot>,
}

/// What the bootloader booted, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boot {
    /// The good slot, nothing on trial.
    Good(Slot),
    /// A slot on trial (its tries already counted down).
    Trial(Slot),
    /// The trial of `failed` ran out of tries: back on the good slot.
    RolledBack { booted: Slot, failed: Slot },
}

impl Boot {
    pub fn slot(self) -> Slot {
        match self {
            Boot::Good(s) | Boot::Trial(s) => s,
            Boot::RolledBack { booted, .. } => booted,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0} tries: a trial has 1 to {MAX_TRIES}")]
    Tries(u8),
    #[error("slot {0} is the good slot already")]
    AlreadyGood(Slot),
}

impl BootState {
    pub fn new(good: Slot) -> BootState {
        BootState { good, trying: None, tries_left: 0, failed: None }
    }

    /// The bootloader's decision, and the state it saves before booting.
    pub fn boot(&mut self) -> Boot {
        match self.trying {
            Some(t) if self.tries_left > 0 => {
                self.tries_left -= 1;
                Boot::Trial(t)
            }
            Some(t) => {
                self.trying = None;
                self.failed = Some(t);
                Boot::RolledBack { booted: self.good, failed: t }
            }
            None => Boot::Good(self.good),
        }
    }

    /// Puts `slot` on trial for `tries` boots (vigil, after writing it).
    pub fn start_trial(&mut self, slot: Slot, tries: u8) -> Result<(), Error> {
        if !(1..=MAX_TRIES).contains(&tries) {
            return Err(Error::Tries(tries));
        }
        if slot == self.good {
            return Err(Error::AlreadyGood(slot));
        }
        self.trying = Some(slot);
        self.tries_left = tries;
        self.failed = None;
        Ok(())
    }

    /// The slot on trial passed its health gate: it is the good slot now.
    /// Returns it, or None when nothing was on trial.
    pub fn confirm(&mut self) -> Option<Slot> {
        let t = self.trying.take()?;
        self.good = t;
        self.tries_left = 0;
        self.failed = None;
        Some(t)
    }
}

/// The variables, in their order in the block.
const SEQ: &str = "vigil_seq";
const GOOD: &str = "good_slot";
const TRYING: &str = "try_slot";
const TRIES: &str = "tries_left";
const FAILED: &str = "failed_slot";
const CHECK: &str = "vigil_check";

/// `#` left at the end of a block: GRUB's free space (it needs none for
/// the same-length changes it makes, but a `grub-editenv set` by hand fits).
const TAIL: usize = 64;

fn opt(s: Option<Slot>) -> &'static str {
    s.map_or("-", Slot::letter)
}

/// One copy: `vigil_seq` first, the state, a comment to fill the first
/// sector and more, `vigil_check` in the last sector, then free space.
pub fn encode_copy(state: &BootState, seq: u64) -> Vec<u8> {
    let mut head = Env::new();
    let tries = state.tries_left.min(MAX_TRIES).to_string();
    for (n, v) in [
        (SEQ, seq.to_string().as_str()),
        (GOOD, state.good.letter()),
        // Before try_slot: a rollback sets both, and a write cut between
        // them (GRUB writes the block from its start) leaves the slot
        // marked failed and still on trial with no tries: a state that
        // rolls back the same way on the next boot.
        (FAILED, opt(state.failed)),
        (TRYING, opt(state.trying)),
        (TRIES, tries.as_str()),
    ] {
        // Names are constants and values digits or letters: always valid.
        let _ = head.set(n, v);
    }
    let check = format!("{CHECK}={seq}\n");
    let mut b = grub::SIGNATURE.as_bytes().to_vec();
    b.extend_from_slice(head.lines().as_bytes());
    let fill = BLOCK - TAIL - check.len() - b.len() - 1;
    b.extend(std::iter::repeat_n(b'#', fill));
    b.push(b'\n');
    b.extend_from_slice(check.as_bytes());
    b.resize(BLOCK, b'#');
    b
}

/// Why a copy is not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    #[error("{0}")]
    Env(#[from] grub::Error),
    #[error("{0} bytes, not {BLOCK}")]
    Size(usize),
    #[error("no {0}")]
    Missing(&'static str),
    #[error("{name}={value} is not a valid value")]
    Value { name: &'static str, value: String },
    #[error("torn: written up to vigil_seq={seq} but ending with vigil_check={check}")]
    Torn { seq: String, check: String },
}

/// Reads one copy: its state and number.
pub fn decode_copy(block: &[u8]) -> Result<(BootState, u64), CopyError> {
    if block.len() != BLOCK {
        return Err(CopyError::Size(block.len()));
    }
    let env = Env::parse(block)?;
    let get = |n: &'static str| env.get(n).ok_or(CopyError::Missing(n));
    let bad = |name: &'static str, value: &str| CopyError::Value { name, value: value.to_string() };
    let (seq, check) = (get(SEQ)?, get(CHECK)?);
    if seq != check {
        return Err(CopyError::Torn { seq: seq.to_string(), check: check.to_string() });
    }
    let seq_n: u64 = seq.parse().map_err(|_| bad(SEQ, seq))?;
    let slot = |n: &'static str| -> Result<Option<Slot>, CopyError> {
        match get(n)? {
            "-" => Ok(None),
            v => Slot::parse(v).map(Some).ok_or_else(|| bad(n, v)),
        }
    };
    let good = slot(GOOD)?.ok_or_else(|| bad(GOOD, "-"))?;
    let tries = get(TRIES)?;
    let tries_left = tries.parse::<u8>().ok().filter(|t| *t <= MAX_TRIES).ok_or_else(|| bad(TRIES, tries))?;
    Ok((BootState { good, trying: slot(TRYING)?, tries_left, failed: slot(FAILED)? }, seq_n))
}

/// Which copy a state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    A,
    B,
}

/// What reading both copies found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The state to believe.
    pub state: BootState,
    /// Its number (the next write uses `seq + 1`).
    pub seq: u64,
    /// The copy it came from; None when neither could be read and the
    /// state is the fallback (slot A good, nothing on trial).
    pub from: Option<Copy>,
    /// Copies that could not be read, and why: rewrite them.
    pub damaged: Vec<(Copy, CopyError)>,
}

/// Reads both copies as the bootloader does.
pub fn read_pair(a: &[u8], b: &[u8]) -> Pair {
    let (ra, rb) = (decode_copy(a), decode_copy(b));
    let mut damaged = Vec::new();
    let (state, seq, from) = match (ra, rb) {
        (Ok((sa, qa)), Ok((sb, qb))) => {
            if qb > qa {
                (sb, qb, Some(Copy::B))
            } else {
                (sa, qa, Some(Copy::A))
            }
        }
        (Ok((sa, qa)), Err(e)) => {
            damaged.push((Copy::B, e));
            (sa, qa, Some(Copy::A))
        }
        (Err(e), Ok((sb, qb))) => {
            damaged.push((Copy::A, e));
            (sb, qb, Some(Copy::B))
        }
        (Err(ea), Err(eb)) => {
            damaged.push((Copy::A, ea));
            damaged.push((Copy::B, eb));
            (BootState::new(Slot::A), 0, None)
        }
    };
    Pair { state, seq, from, damaged }
}

/// A copy that differs from the believed state in what it says (not only a
/// damaged one): after a cut between the writes of A and B, B is one step
/// behind, and the next write puts both level.
pub fn stale(pair: &Pair, a: &[u8], b: &[u8]) -> Vec<Copy> {
    let mut out = Vec::new();
    for (c, bytes) in [(Copy::A, a), (Copy::B, b)] {
        if decode_copy(bytes).ok() != Some((pair.state, pair.seq)) {
            out.push(c);
        }
    }
    out
}

/// What the bootloader told the kernel: `vigil.slot=a vigil.boot=trial
/// vigil.env=ok` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booted {
    pub slot: Slot,
    pub how: How,
    /// Neither copy of the environment could be read (the bootloader fell
    /// back to slot A).
    pub env_lost: bool,
}

/// Why the bootloader picked the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Good,
    Trial,
    Rollback,
}

impl Booted {
    /// From the kernel command line; None when vigil's bootloader did not
    /// boot this kernel (QEMU's `-kernel`, a bootloader of the operator's):
    /// vigil never guesses the slot.
    pub fn from_cmdline(cmdline: &str) -> Option<Booted> {
        let arg = |k: &str| cmdline.split_whitespace().find_map(|w| w.strip_prefix(k)?.strip_prefix('='));
        let slot = Slot::parse(arg("vigil.slot")?)?;
        let how = match arg("vigil.boot")? {
            "good" => How::Good,
            "trial" => How::Trial,
            "rollback" => How::Rollback,
            _ => return None,
        };
        Some(Booted { slot, how, env_lost: arg("vigil.env") == Some("lost") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_round_trips_and_keeps_its_fields_in_their_sectors() {
        let mut s = BootState::new(Slot::A);
        s.start_trial(Slot::B, 3).unwrap();
        let b = encode_copy(&s, 41);
        assert_eq!(b.len(), BLOCK);
        assert_eq!(decode_copy(&b).unwrap(), (s, 41));
        let text = String::from_utf8(b.clone()).unwrap();
        assert!(text.find("tries_left=").unwrap() < 512, "GRUB's changes are in the first sector");
        assert!(text.find("vigil_check=").unwrap() >= 512, "the check is in the last sector");
        assert!(text.ends_with(&"#".repeat(TAIL)));
    }

    #[test]
    fn trial_countdown_rollback_and_confirm() {
        let mut s = BootState::new(Slot::A);
        assert_eq!(s.boot(), Boot::Good(Slot::A));
        assert_eq!(s.start_trial(Slot::A, 3), Err(Error::AlreadyGood(Slot::A)));
        assert_eq!(s.start_trial(Slot::B, 0), Err(Error::Tries(0)));
        assert_eq!(s.start_trial(Slot::B, 10), Err(Error::Tries(10)));
        s.start_trial(Slot::B, 2).unwrap();
        assert_eq!(s.boot(), Boot::Trial(Slot::B));
        assert_eq!(s.boot(), Boot::Trial(Slot::B));
        assert_eq!(s.boot(), Boot::RolledBack { booted: Slot::A, failed: Slot::B });
        assert_eq!(s.boot(), Boot::Good(Slot::A));
        assert_eq!(s.failed, Some(Slot::B));
        assert_eq!(s.confirm(), None);
        s.start_trial(Slot::B, 1).unwrap();
        assert_eq!(s.failed, None);
        assert_eq!(s.boot(), Boot::Trial(Slot::B));
        assert_eq!(s.confirm(), Some(Slot::B));
        assert_eq!(s, BootState::new(Slot::B));
    }

    #[test]
    fn damage_in_a_copy_says_what() {
        let s = BootState::new(Slot::B);
        let good = encode_copy(&s, 7);
        let mut torn = good.clone();
        let at = torn.windows(14).position(|w| w == b"vigil_check=7\n").unwrap();
        torn[at + 12] = b'6';
        assert_eq!(
            decode_copy(&torn).unwrap_err().to_string(),
            "torn: written up to vigil_seq=7 but ending with vigil_check=6"
        );
        let bad = String::from_utf8(good.clone()).unwrap().replace("good_slot=b", "good_slot=c");
        assert_eq!(decode_copy(bad.as_bytes()).unwrap_err().to_string(), "good_slot=c is not a valid value");
        let bad = String::from_utf8(good.clone()).unwrap().replace("tries_left=0", "tries_left=x");
        assert_eq!(decode_copy(bad.as_bytes()).unwrap_err().to_string(), "tries_left=x is not a valid value");
        assert_eq!(decode_copy(&good[..512]).unwrap_err(), CopyError::Size(512));
        assert_eq!(
            decode_copy(&[0; BLOCK]).unwrap_err().to_string(),
            "no \"# GRUB Environment Block\" header: not an environment block"
        );
    }

    #[test]
    fn the_command_line_says_the_slot_or_nothing() {
        let b = Booted::from_cmdline("console=ttyS0 vigil.slot=b vigil.boot=trial vigil.env=ok panic=-1").unwrap();
        assert_eq!(b, Booted { slot: Slot::B, how: How::Trial, env_lost: false });
        let b = Booted::from_cmdline("vigil.slot=a vigil.boot=good vigil.env=lost").unwrap();
        assert!(b.env_lost);
        assert_eq!(Booted::from_cmdline("console=ttyS0 panic=-1"), None);
        assert_eq!(Booted::from_cmdline("vigil.slot=c vigil.boot=good"), None);
        assert_eq!(Booted::from_cmdline("vigil.slot=a vigil.boot=maybe"), None);
        assert_eq!(Booted::from_cmdline("vigil.slotx=a vigil.boot=good"), None);
    }

    #[test]
    fn the_pair_prefers_the_newer_then_a() {
        let (s1, s2) = (BootState::new(Slot::A), BootState::new(Slot::B));
        let p = read_pair(&encode_copy(&s1, 5), &encode_copy(&s2, 6));
        assert_eq!((p.state, p.seq, p.from), (s2, 6, Some(Copy::B)));
        assert!(p.damaged.is_empty());
        let p = read_pair(&encode_copy(&s1, 5), &encode_copy(&s2, 5));
        assert_eq!(p.from, Some(Copy::A));
        let p = read_pair(&[0; BLOCK], &encode_copy(&s2, 5));
        assert_eq!((p.state, p.from, p.damaged.len()), (s2, Some(Copy::B), 1));
        let p = read_pair(&[0; BLOCK], &[1; BLOCK]);
        assert_eq!((p.state, p.from, p.damaged.len()), (BootState::new(Slot::A), None, 2));
    }
}
