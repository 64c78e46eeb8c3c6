//! Three x86_64 nodes on one virtual switch: each node's frames reach the
//! other two (the kernels' own IPv6 DAD/MLD/RS frames are enough), a cut
//! link stops them both ways while the rest keep flowing, and a restored
//! link carries them again. Captured frames land in a pcap file.

use std::time::{Duration, Instant};
use vigil_tests::{Cluster, have_qemu};

/// Polls `cond` until it holds or `timeout` passes.
fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

/// Pulls and replugs a node's cable (QMP set_link): its kernel announces
/// itself again (DAD, MLD reports, router solicitations).
fn replug(c: &mut Cluster, node: usize) {
    let mut q = c.node(node).qmp().expect("QMP");
    q.set_link("n0", false).expect("link down");
    std::thread::sleep(Duration::from_millis(200));
    q.set_link("n0", true).expect("link up");
}

#[test]
fn three_nodes_reach_each_other_until_a_link_is_cut() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let mut c = Cluster::start("cluster-3", "qemu-x86_64", 3).expect("starting the cluster");
    let pcap = c.dir.join("segment.pcap");
    c.switch.capture(&pcap).unwrap();
    c.wait_all_ready().expect("all three ready");

    // Every ordered pair of nodes exchanged frames.
    let all_pairs = |c: &Cluster| (0..3).all(|a| (0..3).all(|b| a == b || c.switch.delivered(a, b) > 0));
    if !eventually(Duration::from_secs(20), || all_pairs(&c)) {
        for i in 1..=3 {
            replug(&mut c, i);
        }
        assert!(eventually(Duration::from_secs(20), || all_pairs(&c)), "{}", c.switch.report());
    }
    eprintln!("after boot:\n{}", c.switch.report());

    // Cut node 3 at the switch; make every node talk.
    c.switch.set_link(2, false).unwrap();
    let before: Vec<Vec<u64>> = (0..3).map(|a| (0..3).map(|b| c.switch.delivered(a, b)).collect()).collect();
    let dropped_before = c.switch.stats(2).dropped_rx;
    for i in 1..=3 {
        replug(&mut c, i);
    }
    assert!(
        eventually(Duration::from_secs(20), || {
            c.switch.delivered(0, 1) > before[0][1]
                && c.switch.delivered(1, 0) > before[1][0]
                && c.switch.stats(2).dropped_rx > dropped_before
        }),
        "nodes 1 and 2 keep talking and node 3's frames are dropped:\n{}",
        c.switch.report()
    );
    for (a, b) in [(2, 0), (2, 1), (0, 2), (1, 2)] {
        assert_eq!(c.switch.delivered(a, b), before[a][b], "{a}->{b} while cut:\n{}", c.switch.report());
    }
    eprintln!("node 3 cut:\n{}", c.switch.report());

    // Restore it: frames flow both ways again.
    c.switch.set_link(2, true).unwrap();
    replug(&mut c, 3);
    assert!(
        eventually(Duration::from_secs(20), || {
            c.switch.delivered(2, 0) > before[2][0] && c.switch.delivered(2, 1) > before[2][1]
        }),
        "node 3 reaches the others again:\n{}",
        c.switch.report()
    );
    replug(&mut c, 1);
    assert!(
        eventually(Duration::from_secs(20), || c.switch.delivered(0, 2) > before[0][2]),
        "node 1 reaches node 3 again:\n{}",
        c.switch.report()
    );
    eprintln!("restored:\n{}", c.switch.report());

    // The capture holds frames from every node's MAC.
    c.switch.stop_capture();
    let file = std::fs::File::open(&pcap).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(file).unwrap();
    let mut seen = [false; 3];
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        if p.data.len() >= 12 && p.data[6..11] == [0x52, 0x54, 0, 0, 0] && (1..=3).contains(&p.data[11]) {
            seen[usize::from(p.data[11]) - 1] = true;
        }
    }
    assert_eq!(seen, [true; 3], "frames from every node in {}", pcap.display());
}
