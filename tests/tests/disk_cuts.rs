//! Power cuts while the boot environment is written: QEMU killed at seeded
//! points during the writes GRUB makes (a trial's countdown) and the ones
//! vigil makes (repairs at boot, a new trial), and the boot after every cut
//! comes back to ready on some slot.
//!
//! A write is seen as it lands: QEMU's own count of the disk's write
//! requests (QMP `query-blockstats`), polled; the cut is the seeded k-th
//! write of the phase plus a seeded delay of 0-2 ms, so cuts fall between
//! and inside the two copies' writes rather than where a timer happens to
//! be. Two chains run side by side: x86_64 (OVMF, GRUB) and arm64 (U-Boot,
//! GRUB). Boots take turns: one cut before ready (GRUB's countdown or
//! rollback writes, or vigil's repair of what a cut left), then one that
//! must come back to ready and is cut while vigil puts a slot on trial
//! (one or two tries, so GRUB's rollbacks come too).
//!
//! `VIGIL_CUTS` (default 20 in the suite, 50 for the series: 8 of 25 on x86_64, the rest on arm64) and `VIGIL_SEED`
//! (default: a new one each run, printed) choose the run; the figures are printed.

use std::time::{Duration, Instant};
use vigil_bootenv::ab::{self, Slot};
use vigil_tests::cuts::{Rng, cut_at, writes};
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

const CMD: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct Tally {
    cuts: usize,
    in_grub: usize,
    in_vigil_boot: usize,
    in_vigil_trial: usize,
    boots: usize,
    ready_on: [usize; 2],
    rollbacks: usize,
}

fn chain(board: &str, seed: u64, cuts: usize) -> Tally {
    let img = vigil_tests::debug_image(board);
    let d = vigil_tests::disk::disk_of(
        img.clone(),
        &format!("disk-cuts-{board}"),
        "vigil_defs {\n update_confirm_s 3600\n}\n",
    );
    // The first boot has a trial for GRUB to count down.
    vigil_tests::disk::put_on_trial(&d, Slot::A, Slot::B, 3, 2);
    let vigil_tests::disk::Disk { board: b, mut c, disk, .. } = d;

    let mut rng = Rng(seed ^ vigil_image::disk::layout(&b).map(|p| p.len() as u64).unwrap_or(0) ^ board.len() as u64);
    let mut t = Tally::default();
    let mut must_reach_ready = false;
    let boot = |c: &mut Cluster| {
        c.add(&img, |s| {
            s.flash = Some(disk.clone());
            s.boot_disk = true;
        })
        .unwrap()
    };
    while t.cuts < cuts {
        let n = boot(&mut c);
        t.boots += 1;
        let node = c.node(n);
        let what = format!("{board} boot {} (cut {} so far)", t.boots, t.cuts);
        // Boots take turns: one cut before ready (at GRUB's k-th write:
        // its countdown or rollback, two writes; or vigil's repair after
        // an earlier cut), then one that must reach ready and is cut in
        // vigil's writes after it.
        if !must_reach_ready {
            let k = 1 + rng.below(3);
            let delay = rng.below(2000);
            let mut q = node.qmp().unwrap();
            let base = writes(&mut q).unwrap_or(0);
            if cut_at(node, &mut q, base + k, delay, BOOT_TIMEOUT, "vigil: ready") {
                if node.console_text().contains("/init started") {
                    t.in_vigil_boot += 1;
                } else {
                    t.in_grub += 1;
                }
                t.cuts += 1;
                must_reach_ready = true;
                continue;
            }
        }
        let line = node.expect("vigil: booting slot", BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{what}: {e:#}"));
        node.wait_ready(BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{what}: no ready after {line:?}: {e:#}"));
        t.ready_on[usize::from(line.contains("slot b"))] += 1;
        must_reach_ready = false;
        if line.contains("(rollback)") {
            t.rollbacks += 1;
        }
        // After ready: vigil puts the slot that is not the good one on
        // trial (both copies written in turn), cut at its k-th write.
        let show = node.command("show boot", CMD).unwrap();
        let other = if show.contains("good     slot a") { "b" } else { "a" };
        let k = 1 + rng.below(4);
        let delay = rng.below(2000);
        let mut q = node.qmp().unwrap();
        let base = writes(&mut q).unwrap_or(0);
        // One or two tries: with one, the boot after next is GRUB's
        // rollback (two more writes of its own to cut).
        node.send_line(&format!("debug trial {other} {}", 1 + rng.below(2))).unwrap();
        if cut_at(node, &mut q, base + k, delay, Duration::from_secs(10), "debug: slot") {
            t.in_vigil_trial += 1;
            t.cuts += 1;
        } else {
            node.kill();
        }
    }
    // The last word: a boot to ready, and both copies whole after it.
    let n = boot(&mut c);
    let node = c.node(n);
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    node.command("show boot", CMD).unwrap();
    node.kill();
    let [a, bb] = vigil_image::disk::read_env(&b, &disk).unwrap();
    let p = ab::read_pair(&a, &bb);
    assert!(p.damaged.is_empty(), "{board}: after the last boot: {:?}", p.damaged);
    t
}

#[test]
fn cuts_while_the_boot_environment_is_written_always_come_back_to_ready() {
    let boards = ["qemu-x86_64", "qemu-aarch64"];
    if !boards.iter().all(|b| have_qemu(b)) {
        return;
    }
    let total: usize = std::env::var("VIGIL_CUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let seed = vigil_tests::cuts::seed();
    eprintln!("disk cuts: {total}, seed {seed} (VIGIL_SEED={seed} repeats this run)");
    let t0 = Instant::now();
    // A cut costs about 16.5 s on x86_64 (OVMF) and 7.7 s on arm64
    // (U-Boot): 8 of 25 cuts on x86_64, so both chains end about together.
    let x86 = total * 8 / 25;
    let chains: Vec<_> = [(boards[0], x86), (boards[1], total - x86)]
        .into_iter()
        .map(|(b, n)| {
            let b = b.to_string();
            std::thread::spawn(move || {
                let t = Instant::now();
                let tally = chain(&b, seed, n);
                (b, tally, t.elapsed())
            })
        })
        .collect();
    for h in chains {
        let (b, t, took) = h.join().expect("a chain failed");
        eprintln!(
            "{b}: {} cuts (seed {seed}): {} in GRUB's writes, {} in vigil's at boot, {} in vigil's trial writes; \
             {} boots, ready on slot a {} times (after a rollback {}), slot b {} times; {took:?}",
            t.cuts, t.in_grub, t.in_vigil_boot, t.in_vigil_trial, t.boots, t.ready_on[0], t.rollbacks, t.ready_on[1]
        );
    }
    eprintln!("{total} cuts in {:?}", t0.elapsed());
}
