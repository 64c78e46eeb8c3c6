//! A channel as a device reads it: signed by a trusted key, not older than
//! the newest it accepted, not expired (when its clock is known), and what
//! it says about this device.

use vigil_update::channel::{self, Channel, FORMAT, Refusal, Release, Rollout};

fn sign(kp: &minisign::KeyPair, data: &[u8]) -> Vec<u8> {
    minisign::sign(Some(&kp.pk), &kp.sk, data, Some("vigil test"), None).unwrap().to_string().into_bytes()
}

fn channel(sequence: u64) -> Channel {
    Channel {
        format: FORMAT,
        sequence,
        expires: 1_800_000_000,
        releases: vec![Release {
            board: "b".into(),
            build: 2,
            version: "0.2".into(),
            bundle: "b-2.vub".into(),
            size: 1,
        }],
        rollout: Rollout { build: 2, percent: 100, salt: "x".into(), paused: false, why: None },
        reports: "reports/".into(),
    }
}

#[test]
fn a_channel_is_refused_unsigned_stale_or_expired_and_taken_otherwise() {
    let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let other = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let key = kp.pk.to_base64();
    let keys = [key.as_str()];
    let c = channel(7);
    let bytes = c.to_json();
    let sig = sign(&kp, &bytes);
    assert_eq!(channel::read(&bytes, &sig, &keys, 7, Some(1_700_000_000)), Ok(c.clone()));
    // The clock is not known: the expiry is not checked.
    assert_eq!(channel::read(&bytes, &sig, &keys, 0, None), Ok(c.clone()));
    assert_eq!(channel::read(&bytes, &sig, &keys, 8, None), Err(Refusal::Stale { have: 7, seen: 8 }));
    assert_eq!(
        channel::read(&bytes, &sig, &keys, 0, Some(1_900_000_000)),
        Err(Refusal::Expired { expires: 1_800_000_000, now: 1_900_000_000 })
    );
    assert!(matches!(channel::read(&bytes, &sign(&other, &bytes), &keys, 0, None), Err(Refusal::Signature(_))));
    let mut tampered = bytes.clone();
    let at = tampered.iter().position(|&b| b == b'7').unwrap();
    tampered[at] = b'9';
    assert!(matches!(channel::read(&tampered, &sig, &keys, 0, None), Err(Refusal::Signature(_))));
    let junk = b"{\"format\": 1}".to_vec();
    assert!(matches!(channel::read(&junk, &sign(&kp, &junk), &keys, 0, None), Err(Refusal::Json(_))));
    let mut f2 = channel(7);
    f2.format = 2;
    let b2 = f2.to_json();
    assert_eq!(channel::read(&b2, &sign(&kp, &b2), &keys, 0, None), Err(Refusal::Format(2)));
    let big = vec![b' '; channel::MAX_CHANNEL + 1];
    assert_eq!(channel::read(&big, &sig, &keys, 0, None), Err(Refusal::TooLarge(channel::MAX_CHANNEL + 1)));
}
