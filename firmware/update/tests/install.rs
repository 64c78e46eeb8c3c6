//! The installer as event traces: what it asks for, in what order, and
//! what it never does when a bundle is bad.

use vigil_update::bundle;
use vigil_update::{Action, CHUNK, Device, Failure, Install, Manifest};

fn device() -> Device {
    Device {
        board: "qemu-x86_64".into(),
        arch: "x86_64".into(),
        build: 1,
        security_floor: 0,
        slot_size: 64 << 20,
        rolled_back: vec![],
    }
}

struct Signed {
    key: String,
    bytes: Vec<u8>,
    payload: Vec<u8>,
}

fn bundle_of(len: usize, f: impl FnOnce(&mut Manifest)) -> Signed {
    let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let payload: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
    let mut m = Manifest::of_payload("qemu-x86_64", "x86_64", 2, "0.2.0", 0, 0, &payload);
    f(&mut m);
    let mb = m.encode();
    let sig = minisign::sign(Some(&kp.pk), &kp.sk, &mb[..], None, None).unwrap().to_string();
    Signed { key: kp.pk.to_base64(), bytes: bundle::assemble(&mb, sig.as_bytes(), &payload), payload }
}

/// Runs an install against `source` (the bundle as the I/O layer would
/// read it, in pieces of `step` bytes, doing what the installer asks
/// between pieces) and a slot; returns the trace.
fn run(i: &mut Install, source: &[u8], slot: &mut Vec<u8>, step: usize) -> (Vec<String>, Option<Failure>) {
    let mut trace = Vec::new();
    // The fetch in progress: next byte, end.
    let mut fetch: Option<(usize, usize)> = None;
    loop {
        let r = match i.poll_action() {
            Some(Action::Fetch { from, len }) => {
                trace.push(format!("fetch {from}{}", len.map_or(String::new(), |l| format!("+{l}"))));
                fetch = Some((from as usize, len.map_or(source.len(), |l| (from + l) as usize)));
                Ok(())
            }
            Some(Action::Write { offset, bytes }) => {
                trace.push(format!("write {offset}+{}", bytes.len()));
                let end = offset as usize + bytes.len();
                if slot.len() < end {
                    slot.resize(end, 0);
                }
                slot[offset as usize..end].copy_from_slice(&bytes);
                Ok(())
            }
            Some(Action::Rehash { len }) => {
                trace.push(format!("rehash {len}"));
                use sha2::Digest;
                i.handle_rehash(sha2::Sha256::digest(&slot[..(len as usize).min(slot.len())]).into())
            }
            Some(Action::StartTrial) => {
                trace.push("trial".into());
                i.handle_trial_started()
            }
            None => match fetch {
                Some((at, end)) if at < end.min(source.len()) => {
                    let n = step.min(end.min(source.len()) - at);
                    i.handle_data(&source[at..at + n]).map(|took| fetch = Some((at + took, end)))
                }
                Some((at, _)) if at >= source.len() => {
                    fetch = None;
                    i.handle_end()
                }
                _ => return (trace, None),
            },
        };
        if let Err(e) = r {
            return (trace, Some(e));
        }
    }
}

#[test]
fn a_good_bundle_is_fetched_head_first_written_chunk_by_chunk_read_back_then_tried() {
    let b = bundle_of(2 * CHUNK + 100, |_| {});
    let head = bundle::Header::parse(&b.bytes).unwrap().head_len();
    for step in [1 << 16, 4096 + 7, CHUNK * 3] {
        let mut i = Install::new(device(), vec![b.key.clone()]);
        let mut slot = Vec::new();
        let (trace, err) = run(&mut i, &b.bytes, &mut slot, step);
        assert_eq!(err, None);
        assert_eq!(
            trace,
            [
                "fetch 0+18".to_string(),
                format!("fetch 18+{}", head - 18),
                format!("fetch {head}"),
                "write 0+1048576".into(),
                "write 1048576+1048576".into(),
                "write 2097152+100".into(),
                "rehash 2097252".into(),
                "trial".into(),
            ],
            "step {step}"
        );
        assert!(i.is_done() && slot == b.payload);
        assert_eq!(i.manifest().unwrap().build, 2);
    }
}

#[test]
fn a_bad_head_is_refused_before_any_payload_byte_is_fetched() {
    let good = bundle_of(100, |_| {});
    // Signed by a key the device does not trust (or it trusts none): the
    // signature is checked before what the manifest says.
    let cases: Vec<(Signed, Vec<String>, &str)> = vec![
        (bundle_of(100, |m| m.board = "rock-pi-e".into()), vec![good.key.clone()], "signed with a key"),
        (bundle_of(100, |_| {}), vec![], "signed with a key this firmware does not trust (none of its 0 keys)"),
    ];
    for (b, keys, want) in cases {
        let mut i = Install::new(device(), keys);
        let (trace, err) = run(&mut i, &b.bytes, &mut Vec::new(), 4096);
        assert!(err.unwrap().to_string().starts_with(want));
        assert_eq!(trace.len(), 2, "{trace:?}");
    }
    // Signed by a trusted key, but not for this device.
    for (f, want) in [
        (
            Box::new(|m: &mut Manifest| m.board = "rock-pi-e".into()) as Box<dyn Fn(&mut Manifest)>,
            "refused: the bundle is for board rock-pi-e; this is qemu-x86_64",
        ),
        (Box::new(|m: &mut Manifest| m.build = 1), "refused: build 1 is not newer than the running build 1"),
        (Box::new(|m: &mut Manifest| m.security_version = 0), ""),
    ] {
        let b = bundle_of(100, |m| f(m));
        let mut d = device();
        if want.is_empty() {
            d.security_floor = 1;
        }
        let mut i = Install::new(d, vec![b.key.clone()]);
        let (trace, err) = run(&mut i, &b.bytes, &mut Vec::new(), 4096);
        let e = err.unwrap().to_string();
        if want.is_empty() {
            assert_eq!(e, "refused: security version 0 is below this device's 1");
        } else {
            assert_eq!(e, want);
        }
        assert!(!trace.iter().any(|t| t.starts_with("write")) && trace.len() == 2, "{trace:?}");
        assert!(i.poll_action().is_none(), "nothing after a refusal");
    }
    // The wrong file altogether.
    let mut i = Install::new(device(), vec![good.key.clone()]);
    let (_, err) = run(&mut i, b"GIF89a, not a bundle at all", &mut Vec::new(), 4096);
    assert_eq!(err.unwrap().to_string(), "not an update bundle (the first bytes are not \"VIGILUPD\")");
}

#[test]
fn a_tampered_chunk_is_never_written_and_a_short_download_never_tried() {
    let b = bundle_of(3 * CHUNK, |_| {});
    let head = bundle::Header::parse(&b.bytes).unwrap().head_len() as usize;
    let mut bad = b.bytes.clone();
    bad[head + CHUNK + 5] ^= 0x40;
    let mut i = Install::new(device(), vec![b.key.clone()]);
    let (trace, err) = run(&mut i, &bad, &mut Vec::new(), 65536);
    assert_eq!(
        err.unwrap().to_string(),
        "chunk 1 (payload bytes 1048576..2097152) does not match its SHA-256 in the manifest"
    );
    assert_eq!(trace.iter().filter(|t| t.starts_with("write")).collect::<Vec<_>>(), ["write 0+1048576"]);
    let mut i = Install::new(device(), vec![b.key.clone()]);
    let (trace, err) = run(&mut i, &b.bytes[..b.bytes.len() - 1], &mut Vec::new(), 65536);
    assert_eq!(err.unwrap().to_string(), "the payload is 3145727 bytes; the manifest says 3145728");
    assert!(!trace.iter().any(|t| t == "trial" || t.starts_with("rehash")), "{trace:?}");
}

#[test]
fn a_cut_install_resumes_at_the_first_chunk_not_written() {
    let b = bundle_of(3 * CHUNK + 9, |_| {});
    let head_len = bundle::Header::parse(&b.bytes).unwrap().head_len() as usize;
    // Two chunks were written before the cut.
    let mut slot = b.payload[..2 * CHUNK].to_vec();
    let mut i = Install::resume(device(), vec![b.key.clone()], &b.bytes[..head_len], 2).unwrap();
    let (trace, err) = run(&mut i, &b.bytes, &mut slot, 65536);
    assert_eq!(err, None);
    assert_eq!(
        trace,
        [
            format!("fetch {}", head_len + 2 * CHUNK),
            "write 2097152+1048576".to_string(),
            "write 3145728+9".into(),
            "rehash 3145737".into(),
            "trial".into(),
        ]
    );
    assert!(slot == b.payload);
    // A slot that did not keep what was written: the read-back says so.
    let mut slot = vec![0u8; 2 * CHUNK];
    let mut i = Install::resume(device(), vec![b.key.clone()], &b.bytes[..head_len], 2).unwrap();
    let (trace, err) = run(&mut i, &b.bytes, &mut slot, 65536);
    assert_eq!(err, Some(Failure::ReadBack));
    assert!(!trace.contains(&"trial".to_string()));
    // The keys changed since: the head is checked again.
    assert!(Install::resume(device(), vec![], &b.bytes[..head_len], 2).is_err());
}
