//! Power cuts through an update: QEMU killed at seeded points while the
//! updater writes the slot, while PID 1 switches the boot environment to the
//! trial, during the trial's boot, and around the health gate keeping it.
//! After every cut the appliance must come back to ready, on build 1 or
//! build 2, never bricked; an install that was cut is started again (it
//! resumes), a trial cut in all its tries rolls back; a chain ends when
//! build 2 is kept (or refused after rolling back) and starts again from
//! build 1.
//!
//! Writes into the environment are seen as they land (QMP's count of the
//! flash's write requests); the other phases are cut after a seeded delay.
//! `VIGIL_UPDATE_CUTS` (default 4 in the suite, about 35 s a cut; the series is 100) and
//! `VIGIL_SEED` (default: a new one each run, printed) choose the run.

use std::time::{Duration, Instant};
use vigil_tests::cuts::{Rng, cut_at, writes};
use vigil_tests::disk::{boot_with, bundle, disk_of, release_image, release_key};
use vigil_tests::{BOOT_TIMEOUT, have_qemu};

const BOARD: &str = "qemu-aarch64";
const CMD: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct Tally {
    cuts: [usize; 4],
    boots: usize,
    ready_on: [usize; 2],
    kept: usize,
    rolled_back: usize,
    resumed: usize,
    chains: usize,
}

const PHASES: [&str; 4] = ["writing the slot", "switching the environment", "the trial's boot", "the health gate"];

#[test]
fn cuts_through_an_update_always_come_back_to_ready_on_one_build() {
    if !have_qemu(BOARD) {
        return;
    }
    let total: usize = std::env::var("VIGIL_UPDATE_CUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(4);
    let seed = vigil_tests::cuts::seed();
    eprintln!("update cuts: {total}, seed {seed} (VIGIL_SEED={seed} repeats this run)");
    let t0 = Instant::now();
    let dir = vigil_tests::Cluster::empty("update-cuts-keys").unwrap().dir.clone();
    let (key, trusted) = release_key(&dir);
    let v1 = release_image(BOARD, 1, &trusted);
    let v2 = release_image(BOARD, 2, &trusted);
    let stick = dir.join("v2.vub");
    bundle(&v2, 2, 0, &key, &stick);
    let mut d = disk_of(v1, "update-cuts", "vigil_defs {\n update_confirm_s 5\n}\n");
    let pristine = dir.join("pristine.img");
    std::fs::copy(&d.disk, &pristine).unwrap();
    let mut rng = Rng(seed);
    let mut t = Tally::default();
    let boot = |d: &mut vigil_tests::disk::Disk| boot_with(d, |s| s.stick = Some(stick.clone()));
    while t.cuts.iter().sum::<usize>() < total {
        let n = boot(&mut d);
        t.boots += 1;
        let what = format!("boot {} (seed {seed}, {} cuts so far)", t.boots, t.cuts.iter().sum::<usize>());
        let node = d.c.node(n);
        node.wait_ready(BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{what}: not ready: {e:#}"));
        // What runs, once the updater has looked.
        let mut show = String::new();
        vigil_tests::eventually_every(CMD, Duration::from_millis(300), || {
            show = node.command("show update", CMD).unwrap();
            show.contains("running  build")
        });
        let build2 = show.starts_with("running  build 2");
        assert!(build2 || show.starts_with("running  build 1"), "{what}: {show}");
        t.ready_on[usize::from(build2)] += 1;
        let done = (build2 && !show.contains("trial    build 2")) || show.contains("refused  builds 2");
        if done {
            if build2 {
                t.kept += 1;
            } else {
                t.rolled_back += 1;
            }
            // Back to build 1 for the next chain.
            node.kill();
            std::fs::copy(&pristine, &d.disk).unwrap();
            t.chains += 1;
            continue;
        }
        let on_trial_boot = show.contains("trial    build 2") && !build2;
        let phase = rng.below(4) as usize;
        let cut = if on_trial_boot {
            // A trial was set up before the last cut: this boot is not it
            // (it is the good slot's); the next boot is. Nothing to cut here.
            node.kill();
            continue;
        } else if build2 {
            // On trial, waiting for the gate: cut around its keeping.
            std::thread::sleep(Duration::from_millis(rng.below(7000)));
            node.kill();
            Some(3)
        } else {
            let resuming = show.contains("cut      an install");
            if resuming {
                t.resumed += 1;
            }
            node.send_line("update install /dev/vdb").unwrap();
            match phase {
                0 => {
                    // Writing from the start or from where a cut left it.
                    let says =
                        if resuming { "update: resuming /dev/vdb at " } else { "update: /dev/vdb: build 2 (0.2.0)" };
                    node.expect(says, CMD).unwrap_or_else(|e| panic!("{what}: {e:#}"));
                    std::thread::sleep(Duration::from_millis(rng.below(5000)));
                    node.kill();
                    Some(0)
                }
                1 => {
                    // The environment's writes come after the slot's (and
                    // PID 1's read-back): counted from when the updater
                    // hands the slot to PID 1.
                    vigil_tests::eventually_every(Duration::from_secs(120), Duration::from_millis(100), || {
                        node.command("show update", CMD).unwrap().contains("PID 1 checks it")
                    });
                    let mut q = node.qmp().unwrap();
                    let base = writes(&mut q).unwrap_or(0);
                    let k = 1 + rng.below(3);
                    let ok =
                        cut_at(node, &mut q, base + k, rng.below(2000), Duration::from_secs(60), "vigil: booting slot");
                    if !ok {
                        node.kill();
                    }
                    ok.then_some(1)
                }
                _ => {
                    node.expect("vigil: booting slot b (trial)", Duration::from_secs(180))
                        .unwrap_or_else(|e| panic!("{what}: {e:#}"));
                    std::thread::sleep(Duration::from_millis(rng.below(if phase == 2 { 6000 } else { 12_000 })));
                    node.kill();
                    Some(if phase == 2 { 2 } else { 3 })
                }
            }
        };
        if let Some(p) = cut {
            t.cuts[p] += 1;
        }
    }
    // The last word: a boot to ready.
    let n = boot(&mut d);
    d.c.node(n).wait_ready(BOOT_TIMEOUT).unwrap();
    d.c.node(n).kill();
    eprintln!(
        "update cuts (seed {seed}): {} while {}, {} while {}, {} in {}, {} around {}; {} boots, ready on build 1 {} times, \
         on build 2 {} times; {} chains ({} kept build 2, {} refused it after a rollback), {} installs resumed; {:?}",
        t.cuts[0],
        PHASES[0],
        t.cuts[1],
        PHASES[1],
        t.cuts[2],
        PHASES[2],
        t.cuts[3],
        PHASES[3],
        t.boots,
        t.ready_on[0],
        t.ready_on[1],
        t.chains,
        t.kept,
        t.rolled_back,
        t.resumed,
        t0.elapsed()
    );
}
