//! SNTP checks and arithmetic with made-up replies (deterministic), and a
//! query against Debian's chrony serving on loopback in a network namespace.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vigil_time::decide::{Correction, best, correction};
use vigil_time::packet::{MODE_SERVER, Repr, Timestamp};
use vigil_time::sample::{Reject, Sample, from_reply};

fn ts(unix_ms: u64) -> Timestamp {
    Timestamp::from_system(UNIX_EPOCH + Duration::from_millis(unix_ms))
}

/// A server reply to a request sent at t1, received at t2, answered at t3.
fn reply(t1: Timestamp, t2: Timestamp, t3: Timestamp) -> Repr {
    Repr {
        leap: 0,
        version: 4,
        mode: MODE_SERVER,
        stratum: 2,
        reference_id: *b"GPS\0",
        origin: t1,
        receive: t2,
        transmit: t3,
    }
}

const T: u64 = 1_795_000_000_000; // 2026-11-18, in ms

#[test]
fn timestamps_round_trip_and_survive_the_2036_era_change() {
    let now = UNIX_EPOCH + Duration::from_nanos(1_795_000_000_123_456_789);
    let back = vigil_time::packet::system_from_unix_nanos(Timestamp::from_system(now).to_unix_nanos());
    let err = back.duration_since(now).unwrap_or_else(|e| e.duration());
    assert!(err < Duration::from_nanos(2), "{err:?}");
    // 2040 is past the NTP era 0 rollover (2036-02-07).
    let later = UNIX_EPOCH + Duration::from_secs(2_208_988_800);
    let back = vigil_time::packet::system_from_unix_nanos(Timestamp::from_system(later).to_unix_nanos());
    assert_eq!(back, later);
}

#[test]
fn offset_and_delay_are_as_rfc_4330_says() {
    // Our clock is 5 s behind: request at 0 (ours), server gets it at 5.010
    // (its), answers at 5.012, we get it at 0.030 (ours).
    let (t1, t2, t3, t4) = (ts(T), ts(T + 5_010), ts(T + 5_012), ts(T + 30));
    let s = from_reply(&reply(t1, t2, t3).emit(), t1, t4).unwrap();
    assert!((s.offset_ns - 4_996_000_000).abs() < 1_000, "{}", s.offset_ns);
    assert!((s.delay_ns - 28_000_000).abs() < 1_000, "{}", s.delay_ns);
}

#[test]
fn falsetickers_are_rejected() {
    let (t1, t2, t3, t4) = (ts(T), ts(T + 10), ts(T + 11), ts(T + 20));
    let check = |r: Repr| from_reply(&r.emit(), t1, t4);
    let mut kod = reply(t1, t2, t3);
    kod.stratum = 0;
    kod.reference_id = *b"DENY";
    let e = check(kod).unwrap_err();
    assert_eq!(e, Reject::KissOfDeath("DENY".into()));
    assert!(e.stop_asking());
    let mut unsync = reply(t1, t2, t3);
    unsync.leap = 3;
    assert_eq!(check(unsync), Err(Reject::Unsynchronised));
    let mut zero = reply(t1, t2, t3);
    zero.transmit = Timestamp(0);
    assert_eq!(check(zero), Err(Reject::ZeroTransmit));
    let replay = reply(ts(T - 1000), t2, t3);
    assert_eq!(check(replay), Err(Reject::OriginMismatch));
    let mut client = reply(t1, t2, t3);
    client.mode = 3;
    assert_eq!(check(client), Err(Reject::NotAServerReply { mode: 3 }));
    let mut deep = reply(t1, t2, t3);
    deep.stratum = 16;
    assert_eq!(check(deep), Err(Reject::Stratum(16)));
    assert!(matches!(from_reply(&[0u8; 20], t1, t4), Err(Reject::Malformed(_))));
}

#[test]
fn the_nearest_server_wins_and_far_offsets_are_stepped() {
    let s = |offset_ns, delay_ns, stratum| Sample { offset_ns, delay_ns, stratum };
    assert_eq!(best(&[s(50, 9_000_000, 1), s(70, 1_000_000, 3), s(90, 1_000_000, 2)]), Some(s(90, 1_000_000, 2)));
    assert_eq!(best(&[]), None);
    assert_eq!(correction(500_000_000, false), Correction::Step(500_000_000));
    assert_eq!(correction(-20_000_000, false), Correction::Slew(-20_000_000));
    assert_eq!(correction(-20_000_000, true), Correction::Step(-20_000_000), "at boot: set it");
    assert_eq!(correction(400, false), Correction::None);
}

/// chronyd serving (not steering the host's clock: -x) on 127.0.0.1 in a
/// fresh network namespace; the query runs in that namespace too.
#[test]
fn a_query_to_chrony_on_loopback_agrees_with_our_clock() {
    let root = nix::unistd::Uid::effective().is_root();
    let chronyd = std::path::Path::new("/usr/sbin/chronyd").exists();
    let ci = std::env::var("CI").as_deref() == Ok("true");
    if !root || !chronyd {
        assert!(!ci, "root and chrony (apt-get install chrony) are needed");
        eprintln!("SKIPPED: needs root and chronyd");
        return;
    }
    let ns = format!("sntp-{}", std::process::id());
    let run = |args: &[&str]| std::process::Command::new("ip").args(args).status().unwrap();
    run(&["netns", "add", &ns]);
    run(&["-n", &ns, "link", "set", "lo", "up"]);
    let dir = std::env::temp_dir().join(&ns);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("chrony.conf");
    std::fs::write(
        &conf,
        format!(
            "allow 127.0.0.1\nlocal stratum 8\nport 123\ncmdport 0\ndriftfile {0}/drift\npidfile {0}/chronyd.pid\n",
            dir.display()
        ),
    )
    .unwrap();
    let mut chronyd = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "/usr/sbin/chronyd", "-d", "-x", "-f"])
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The query from inside the namespace: this thread enters it.
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
    let result = std::thread::spawn(move || {
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let server = "127.0.0.1:123".parse().unwrap();
        let mut last = None;
        for _ in 0..50 {
            match vigil_time::query::query(server, Duration::from_millis(200)) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e.to_string()),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(last.unwrap_or_default())
    })
    .join()
    .unwrap();
    let _ = chronyd.kill();
    let _ = chronyd.wait();
    run(&["netns", "del", &ns]);
    let _ = std::fs::remove_dir_all(&dir);
    let s = result.expect("chrony answered");
    // Same host clock on both ends: the offset is only measurement error.
    assert!(s.offset_ns.abs() < 50_000_000, "offset {} ns", s.offset_ns);
    assert!(s.delay_ns >= 0 && s.delay_ns < 50_000_000, "delay {} ns", s.delay_ns);
    assert_eq!(s.stratum, 8, "chrony's local stratum");
    let _ = SystemTime::now();
}
