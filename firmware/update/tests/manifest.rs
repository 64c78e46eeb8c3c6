//! The manifest's checks, its signature, and the chunk verifier.

use vigil_update::bundle::{self, Error};
use vigil_update::{CHUNK, Chunks, Device, Manifest, Refusal, verify};

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn manifest(p: &[u8]) -> Manifest {
    Manifest::of_payload("qemu-x86_64", "x86_64", 7, "0.2.0", 2, 3, p)
}

fn device() -> Device {
    Device {
        board: "qemu-x86_64".into(),
        arch: "x86_64".into(),
        build: 5,
        security_floor: 2,
        slot_size: 64 << 20,
        rolled_back: vec![],
    }
}

fn sign(kp: &minisign::KeyPair, data: &[u8]) -> Vec<u8> {
    minisign::sign(Some(&kp.pk), &kp.sk, data, Some("vigil test"), None).unwrap().to_string().into_bytes()
}

#[test]
fn a_manifest_round_trips_and_a_damaged_one_is_refused() {
    let m = manifest(&payload(2 * CHUNK + 5));
    assert_eq!(m.chunks.len(), 3);
    let bytes = m.encode();
    assert_eq!(Manifest::decode(&bytes).unwrap(), m);
    for cut in 0..bytes.len() {
        assert!(Manifest::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut short = m.clone();
    short.chunks.pop();
    let e = Manifest::decode(&short.encode()).unwrap_err().to_string();
    assert_eq!(e, "the manifest cannot be read: 2 chunk hashes for a payload of 2097157 bytes (want 3)");
    let mut odd = m;
    odd.board = "x\u{1b}[2J".into();
    assert!(Manifest::decode(&odd.encode()).unwrap_err().to_string().contains("board \"x\\u{1b}[2J\""));
}

#[test]
fn a_device_says_why_it_refuses_a_bundle() {
    let m = manifest(&payload(100));
    assert_eq!(m.admit(&device()), Ok(()));
    let refused = |f: &dyn Fn(&mut Device)| {
        let mut d = device();
        f(&mut d);
        m.admit(&d).unwrap_err().to_string()
    };
    assert_eq!(refused(&|d| d.board = "rock-pi-e".into()), "the bundle is for board qemu-x86_64; this is rock-pi-e");
    assert_eq!(refused(&|d| d.arch = "aarch64".into()), "the bundle is for x86_64; this board is aarch64");
    assert_eq!(refused(&|d| d.build = 7), "build 7 is not newer than the running build 7");
    assert_eq!(
        refused(&|d| d.rolled_back = vec![7]),
        "build 7 rolled back on this device before; it is not tried again"
    );
    assert_eq!(refused(&|d| d.security_floor = 3), "security version 2 is below this device's 3");
    assert_eq!(
        refused(&|d| d.build = 2),
        "build 7 updates builds 3 and newer; this runs 2: install a build between first"
    );
    assert_eq!(refused(&|d| d.slot_size = 99), "the payload is 100 bytes; the slot holds 99");
    assert!(matches!(m.admit(&Device { build: 9, ..device() }), Err(Refusal::NotNewer { .. })));
}

#[test]
fn only_a_trusted_key_over_these_very_bytes_verifies() {
    let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let other = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let m = manifest(&payload(10)).encode();
    let sig = sign(&kp, &m);
    let key = kp.pk.to_base64();
    let other_key = other.pk.to_base64();
    assert_eq!(verify(&m, &sig, &[&other_key, &key]), Ok(()));
    assert_eq!(verify(&m, &sig, &[&other_key]), Err(Error::UnknownKey(1)));
    assert_eq!(verify(&m, &sig, &[]), Err(Error::UnknownKey(0)));
    let mut tampered = m.clone();
    tampered[3] ^= 1;
    assert_eq!(verify(&tampered, &sig, &[&key]), Err(Error::BadSignature));
    assert_eq!(verify(&m, b"", &[&key]), Err(Error::Unsigned));
    assert!(matches!(verify(&m, b"untrusted comment: x\nnot base64\n", &[&key]), Err(Error::SignatureText(_))));
    assert!(matches!(verify(&m, &[0xff, 0xfe], &[&key]), Err(Error::SignatureText(_))));
}

#[test]
fn chunks_come_out_verified_in_any_split_and_a_bad_one_is_never_written() {
    let p = payload(2 * CHUNK + CHUNK / 2);
    let m = manifest(&p);
    let mut rng = fastrand::Rng::with_seed(1);
    for _ in 0..20 {
        let mut c = Chunks::new(&m);
        let mut out = vec![0u8; p.len()];
        let mut at = 0;
        while at < p.len() {
            let n = rng.usize(1..=CHUNK / 3 * 2).min(p.len() - at);
            c.push(&p[at..at + n], |off, chunk| out[off as usize..off as usize + chunk.len()].copy_from_slice(chunk))
                .unwrap();
            at += n;
        }
        c.finish().unwrap();
        assert!(out == p);
    }
    // A byte changed in chunk 1: chunk 0 is written, chunk 1 never.
    let mut bad = p.clone();
    bad[CHUNK + 10] ^= 1;
    let mut c = Chunks::new(&m);
    let mut written = Vec::new();
    let e = c.push(&bad, |off, _| written.push(off)).unwrap_err();
    assert_eq!(e.to_string(), "chunk 1 (payload bytes 1048576..2097152) does not match its SHA-256 in the manifest");
    assert_eq!(written, [0]);
    // Short and long payloads.
    let mut c = Chunks::new(&m);
    c.push(&p[..p.len() - 1], |_, _| {}).unwrap();
    assert_eq!(c.finish(), Err(Error::PayloadSize { have: p.len() as u64 - 1, want: p.len() as u64 }));
    let mut c = Chunks::new(&m);
    let mut long = p.clone();
    long.push(0);
    assert!(matches!(c.push(&long, |_, _| {}), Err(Error::PayloadSize { .. })));
    // An empty payload is one with no chunks.
    let empty = manifest(&[]);
    Chunks::new(&empty).finish().unwrap();
}

#[test]
fn a_whole_bundle_is_read_back_by_its_header() {
    let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let p = payload(3000);
    let m = manifest(&p).encode();
    let sig = sign(&kp, &m);
    let b = bundle::assemble(&m, &sig, &p);
    let h = bundle::Header::parse(&b).unwrap();
    let (mb, sb) = h.parts(&b).unwrap();
    verify(mb, sb, &[&kp.pk.to_base64()]).unwrap();
    let mm = Manifest::decode(mb).unwrap();
    let mut c = Chunks::new(&mm);
    c.push(&b[h.head_len() as usize..], |_, _| {}).unwrap();
    c.finish().unwrap();
}
