//! A stable, seeded smoke run of what the cargo-fuzz targets in `fuzz/` do:
//! mutated blobs and mutated keepalived.conf text never panic, and what
//! imports cleanly round-trips. (The real fuzzing: `cargo +nightly fuzz run
//! blob_decode` / `keepalived_import` in fuzz/.)

mod common;
use vigil_config::blob;
use vigil_config::keepalived::{Flavor, export, import_str};

fn mutate(rng: &mut fastrand::Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.usize(1..8) {
        if v.is_empty() {
            v.push(rng.u8(..));
            continue;
        }
        let i = rng.usize(..v.len());
        match rng.u8(..4) {
            0 => v[i] ^= 1 << rng.u8(..8),
            1 => v[i] = rng.u8(..),
            2 => {
                v.remove(i);
            }
            _ => {
                let j = rng.usize(..v.len());
                let b = v[j];
                v.insert(i, b);
            }
        }
    }
    v
}

#[test]
fn mutated_blobs_never_panic() {
    let mut rng = fastrand::Rng::with_seed(1);
    let good = blob::encode(&common::sample(), 3, 0).unwrap();
    for _ in 0..20_000 {
        let m = mutate(&mut rng, &good);
        if let Ok(d) = blob::decode(&m) {
            let again = blob::encode(&d.config, 1, 0).unwrap();
            assert_eq!(blob::decode(&again).unwrap().config, d.config);
        }
    }
}

#[test]
fn mutated_keepalived_text_never_panics() {
    let mut rng = fastrand::Rng::with_seed(2);
    let mut seeds: Vec<String> = ["master.conf", "vigil.conf"]
        .iter()
        .map(|f| std::fs::read_to_string(format!("{}/tests/keepalived/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap())
        .collect();
    // The corpus's forms too (scripts, processes, files, routes, mail,
    // strict mode, parameters, conditions).
    let corpus = format!("{}/../../tests/corpus/keepalived", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&corpus).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    seeds.extend(
        files
            .iter()
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .map(|p| std::fs::read_to_string(p).unwrap()),
    );
    let mut clean = 0;
    // Fewer under qemu-user (the aarch64 run is emulated): the same seeds.
    let runs = if cfg!(target_arch = "x86_64") { 6_000 } else { 1_500 };
    for n in 0..runs {
        let m = mutate(&mut rng, seeds[n % seeds.len()].as_bytes());
        let Ok(text) = std::str::from_utf8(&m) else {
            continue;
        };
        if let Ok(i) = import_str("fuzz.conf", text)
            && i.errors().next().is_none()
        {
            clean += 1;
            let out = export(&i.config, Flavor::Vigil);
            let again = import_str("export", &out).unwrap_or_else(|e| panic!("{e}\n{out}"));
            assert_eq!(again.config, i.config, "{text}\n---\n{out}");
        }
    }
    assert!(clean > runs / 20, "only {clean} mutations imported cleanly");
}
