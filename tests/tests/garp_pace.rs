//! The pace of gratuitous ARPs on an interface (`vrrp_garp_interval`, a
//! `garp_group`), against keepalived: each becomes master alone on the same
//! config in a namespace, and a capture on the other end of the veth
//! (tshark) records what arrives. The same addresses, in the same order,
//! never faster than the pace.

use std::process::{Child, Command, Stdio};
use std::time::Duration;
use vigil_tests::vrrp_pair::{KillOnDrop, Netns, ip, spawn_keepalived, spawn_vigil, veth};
use vigil_tests::{have_program, is_root, require};

/// (seconds since the first, sender address) of each gratuitous ARP.
type Capture = Vec<(f64, String)>;

fn capture(ns: &str, dir: &std::path::Path, tag: &str, start: impl FnOnce() -> Child) -> Capture {
    let out = dir.join(format!("{tag}.cap"));
    let err = dir.join(format!("{tag}.tshark"));
    let mut tshark = KillOnDrop(
        Command::new("ip")
            .args(["netns", "exec", ns, "tshark", "-l", "-i", "gp-b", "-f", "arp", "-T", "fields"])
            .args(["-e", "frame.time_relative", "-e", "arp.src.proto_ipv4"])
            .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
            .spawn()
            .unwrap(),
    );
    let listening = vigil_tests::eventually(Duration::from_secs(20), || {
        std::fs::read_to_string(&err).unwrap_or_default().contains("Capturing on")
    });
    assert!(listening.is_some(), "tshark did not start: {}", std::fs::read_to_string(&err).unwrap_or_default());
    let router = KillOnDrop(start());
    // Eight messages at 100 ms at most, and the second burst is off.
    std::thread::sleep(Duration::from_secs(4));
    drop(router);
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill").args(["-INT", &tshark.0.id().to_string()]).status();
    let _ = tshark.0.wait();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let lines: Capture = text
        .lines()
        .filter_map(|l| {
            let (t, a) = l.split_once('\t')?;
            Some((t.parse().ok()?, a.trim().to_string()))
        })
        .filter(|(_, a)| a.starts_with("192.0.2.1"))
        .collect();
    let t0 = lines.first().map_or(0.0, |l| l.0);
    lines.into_iter().map(|(t, a)| (t - t0, a)).collect()
}

fn gaps(c: &Capture) -> Vec<u64> {
    c.windows(2).map(|w| ((w[1].0 - w[0].0) * 1000.0).round() as u64).collect()
}

#[test]
fn announcements_keep_keepalived_s_pace_per_interface_and_per_group() {
    if !require(is_root(), "root (network namespaces)")
        || !require(have_program("keepalived"), "keepalived (apt-get install keepalived)")
        || !require(have_program("tshark"), "tshark (apt-get install tshark)")
    {
        return;
    }
    let dir = vigil_tests::test_dir("garp-pace");
    let (rt, ls) = (Netns::fresh("gp-rt"), Netns::fresh("gp-ls"));
    veth((&rt, "gp-a", "192.0.2.2/24"), (&ls, "gp-b", "192.0.2.1/24"));
    let instance = "vrrp_instance VI {\n state MASTER\n interface gp-a\n virtual_router_id 7\n priority 255\n advert_int 1\n\
                    garp_master_repeat 2\n garp_master_delay 0\n virtual_ipaddress {\n  192.0.2.11/24\n  192.0.2.12/24\n  192.0.2.13/24\n  192.0.2.14/24\n }\n}\n";
    for (case, pace, ms) in [
        ("global", "global_defs {\n vrrp_garp_interval 0.1\n}\n", 100),
        (
            "group",
            "global_defs {\n vrrp_garp_interval 0.1\n}\ngarp_group {\n garp_interval 0.05\n interface gp-a\n}\n",
            50,
        ),
    ] {
        let conf = dir.join(format!("{case}.conf"));
        std::fs::write(&conf, format!("{pace}{instance}")).unwrap();
        let ka = capture(&ls, &dir, &format!("{case}-keepalived"), || spawn_keepalived(&rt, &conf, &dir, case));
        // What keepalived left (killed, its addresses stay) goes first.
        ip(&["-n", &rt, "addr", "flush", "dev", "gp-a"]);
        ip(&["-n", &rt, "addr", "add", "192.0.2.2/24", "dev", "gp-a"]);
        let log = dir.join(format!("{case}-vigil.log"));
        let vg = capture(&ls, &dir, &format!("{case}-vigil"), || spawn_vigil(&rt, &conf, &log));
        eprintln!("{case} ({ms} ms): keepalived {ka:?} gaps {:?}", gaps(&ka));
        eprintln!("{case} ({ms} ms): vigil {vg:?} gaps {:?}", gaps(&vg));
        // Every address announced, by both (whether the second burst's
        // first message is one more depends on when it comes: with either
        // implementation, 4 or 5 messages; the order is the addresses').
        let set = |c: &Capture| c.iter().map(|l| l.1.clone()).collect::<std::collections::BTreeSet<_>>();
        assert_eq!(set(&ka).len(), 4, "keepalived sent {ka:?}");
        assert_eq!(set(&vg), set(&ka), "the same addresses announced");
        let order = |c: &Capture| {
            let mut o: Vec<String> = c.iter().map(|l| l.1.clone()).collect();
            o.dedup();
            o
        };
        assert_eq!(order(&vg), order(&ka), "in the same order");
        // Never faster than the pace (the capture's clock is the
        // listener's: a millisecond or two of skew).
        for g in gaps(&vg) {
            assert!(g + 2 >= ms, "a gap of {g} ms at a pace of {ms} ms: {vg:?}");
        }
    }
}
