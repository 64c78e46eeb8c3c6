//! A power cut at every byte of a write to the boot state, by vigil (two
//! whole blocks, A then B) and by the bootloader (its countdown in place):
//! what is read afterwards is the state before the write or after it, never
//! a third, and a later write puts both copies level again.

use vigil_bootenv::ab::{self, Boot, BootState, Slot, read_pair, stale};
use vigil_bootenv::grub::BLOCK;

/// Some states, on trial or not, with every field set some way.
fn states(rng: &mut fastrand::Rng) -> BootState {
    let good = if rng.bool() { Slot::A } else { Slot::B };
    let mut s = BootState::new(good);
    if rng.bool() {
        s.start_trial(good.other(), rng.u8(1..=ab::MAX_TRIES)).unwrap();
        for _ in 0..rng.u8(0..4) {
            s.boot();
        }
    }
    s
}

/// Writes `new` over `old` byte by byte (A's 1,024 bytes, then B's) and
/// stops after `cut` bytes.
fn cut_write(old: &[Vec<u8>; 2], new: &[Vec<u8>; 2], cut: usize) -> [Vec<u8>; 2] {
    let mut disk = old.clone();
    for i in 0..cut.min(2 * BLOCK) {
        disk[i / BLOCK][i % BLOCK] = new[i / BLOCK][i % BLOCK];
    }
    disk
}

#[test]
fn vigils_writes_cut_at_every_byte() {
    let mut rng = fastrand::Rng::with_seed(14);
    // Numbers that change length too (9 -> 10, 99 -> 100).
    for seq in [1u64, 9, 41, 99, 999_999] {
        for _ in 0..4 {
            let (before, after) = (states(&mut rng), states(&mut rng));
            let old = [ab::encode_copy(&before, seq), ab::encode_copy(&before, seq)];
            let new = [ab::encode_copy(&after, seq + 1), ab::encode_copy(&after, seq + 1)];
            for cut in 0..=2 * BLOCK {
                let disk = cut_write(&old, &new, cut);
                let p = read_pair(&disk[0], &disk[1]);
                assert!(
                    (p.state, p.seq) == (before, seq) || (p.state, p.seq) == (after, seq + 1),
                    "cut at byte {cut} (seq {seq}): read {:?} #{}, neither {before:?} nor {after:?}",
                    p.state,
                    p.seq
                );
                // Once A is whole, the new state is what is read.
                if cut >= BLOCK {
                    assert_eq!((p.state, p.seq), (after, seq + 1), "cut at byte {cut}");
                }
                // The next write (from what was read) leaves both copies level.
                let next = ab::encode_copy(&p.state, p.seq + 1);
                let healed = read_pair(&next, &next);
                assert!(healed.damaged.is_empty() && stale(&healed, &next, &next).is_empty());
            }
        }
    }
}

#[test]
fn the_bootloaders_countdown_cut_at_every_byte() {
    let mut s = BootState::new(Slot::A);
    s.start_trial(Slot::B, 2).unwrap();
    let seq = 77;
    let mut old = [ab::encode_copy(&s, seq), ab::encode_copy(&s, seq)];
    for _ in 0..3 {
        let before = s;
        let boot = s.boot();
        let after = s;
        // GRUB's save_env: the same bytes but the changed values.
        let new = [ab::encode_copy(&after, seq), ab::encode_copy(&after, seq)];
        let diff: Vec<usize> = (0..BLOCK).filter(|&i| old[0][i] != new[0][i]).collect();
        assert!(diff.iter().all(|&i| i < 512), "{boot:?}: the bootloader writes past the first sector");
        for cut in 0..=2 * BLOCK {
            let disk = cut_write(&old, &new, cut);
            let p = read_pair(&disk[0], &disk[1]);
            // The one state between: a rollback cut after failed_slot was
            // written; it rolls back the same way next time.
            let mid = BootState { failed: before.trying, ..before };
            assert!(
                p.state == before || p.state == after || (p.state == mid && before.tries_left == 0),
                "{boot:?} cut at {cut}: {:?}",
                p.state
            );
            if p.state == mid {
                assert_eq!({ mid }.boot(), { before }.boot());
            }
        }
        if let Boot::RolledBack { booted, failed } = boot {
            assert_eq!((booted, failed), (Slot::A, Slot::B));
        }
        old = new;
    }
    assert_eq!(s.failed, Some(Slot::B), "two tries, then the rollback");
}

#[test]
fn sectors_written_out_of_order_are_caught_too() {
    // A disk may put a write's sectors down in any order: with only the
    // second sector new, the block is torn and the other copy is read.
    let (before, mut after) = (BootState::new(Slot::A), BootState::new(Slot::A));
    after.start_trial(Slot::B, 3).unwrap();
    let old = ab::encode_copy(&before, 5);
    let new = ab::encode_copy(&after, 6);
    let mut a = old.clone();
    a[512..].copy_from_slice(&new[512..]);
    let p = read_pair(&a, &old);
    assert_eq!((p.state, p.seq), (before, 5));
    assert_eq!(p.damaged.len(), 1);
    assert!(p.damaged[0].1.to_string().starts_with("torn:"), "{:?}", p.damaged);
}
