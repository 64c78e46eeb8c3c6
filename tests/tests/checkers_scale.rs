//! The checkers at production scale: keepalived issue #2318's shape (2,284
//! virtual servers, 37,298 real servers, TCP_CHECK) in a namespace with no
//! route to any of them, so that every real server goes down in the first
//! round at once, as in a network cut. The checkers child must carry on:
//! every real server down, none twice, no heartbeat missed, no restart.
//! vigil runs on a slow CPU (15 % of one core for its whole process tree,
//! a cgroup's cap): on a fast host the child did all of it within its
//! heartbeat limit whatever it did, while under QEMU its start alone (the
//! config read, 37,298 checks built, the first report) missed its
//! heartbeats, and it was killed at every start until given up.
//! (How long it takes is the checkers bench's figure: publishing the pools
//! on each change, a pass over every real server and a message of all of
//! them to PID 1, made it a minute; at most ten times a second, seconds.)
//!
//! What is down is read from vigil's own report (`show checkers json` on
//! its console), not by counting log lines: 37,298 lines at once are more
//! than the console's queue holds when its writer is slow (a loaded CI
//! machine), and the console drops what does not fit, by design (it says
//! how much), so the log is a lower bound only.

use std::time::Duration;
use vigil_tests::vrrp_pair::{KillOnDrop, Netns, show_json, spawn_vigil_with_console, wait_log};
use vigil_tests::{is_root, require};

#[test]
fn every_real_server_of_a_production_config_going_down_at_once_stalls_nothing() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("checkers-scale");
    let ns = Netns::fresh("chk-scale");
    let (services, servers) = vigil_tests::PRODUCTION_SHAPE;
    let conf = vigil_tests::production_shape_config();
    let path = dir.join("vigil.conf");
    std::fs::write(&path, conf).unwrap();
    let log = dir.join("vigil.log");
    let console = dir.join("console.txt");
    let slow = vigil_tests::slow_cpu::SlowCpu::new("vigil-checkers-scale", 15);
    if !require(slow.is_some(), "a cgroup CPU controller to cap vigil's CPU with") {
        return;
    }
    let slow = slow.unwrap();
    let mut vigil = KillOnDrop(spawn_vigil_with_console(&ns, &path, &log, Some(&console)));
    // Before it starts its children (it reads 2.9 MB of config first).
    slow.add(vigil.0.id()).unwrap();
    let mut stdin = vigil.0.stdin.take().unwrap();
    wait_log(&log, 0, "checkers: 37298 checks of 2284 virtual servers");
    // Each question is answered after what was read so far.
    let mut seen = 0u64;
    let mut report = |stdin: &mut std::process::ChildStdin| {
        let t = std::time::Instant::now();
        let r = show_json(stdin, &console, &mut seen, "checkers", "virtual_servers", Duration::from_secs(60));
        eprintln!("show checkers json answered in {:.1} s", t.elapsed().as_secs_f64());
        r
    };
    let down = |v: &serde_json::Value| -> (usize, usize, usize) {
        let vss = v["virtual_servers"].as_array().map(Vec::as_slice).unwrap_or_default();
        let checks = vss.iter().flat_map(|vs| vs["checks"].as_array().map(Vec::as_slice).unwrap_or_default());
        let (all, down) = checks.fold((0, 0), |(a, d), c| (a + 1, d + usize::from(c["up"] == false)));
        (vss.len(), all, down)
    };
    // Until every real server is said to be down (or the log dropped some
    // lines), the log is watched: asking for the 4 MB report meanwhile
    // would spend the 15 % of a core the checkers have too.
    let said = |text: &str| text.matches(": DOWN (connect ").count();
    let mut logged = 0;
    let settled = vigil_tests::eventually_every(Duration::from_secs(120), Duration::from_secs(1), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        logged = said(&text);
        logged >= servers || text.contains("bytes of output were dropped")
    });
    assert!(settled.is_some(), "{logged} of {servers} real servers said DOWN in 120 s");
    eprintln!("every real server said DOWN after {:.1} s", settled.unwrap_or_default().as_secs_f64());
    let mut last = (0, 0, 0);
    let all = vigil_tests::eventually_every(Duration::from_secs(120), Duration::from_secs(5), || {
        if let Some(v) = report(&mut stdin) {
            last = down(&v);
        }
        last == (services, servers, servers)
    });
    assert!(all.is_some(), "(virtual servers, checks, down) = {last:?}, want ({services}, {servers}, {servers})");
    // Two more rounds, all still down: nothing stalled, nothing restarted.
    std::thread::sleep(Duration::from_secs(5));
    let v = report(&mut stdin).expect("show checkers json after 5 s");
    assert_eq!(down(&v), (services, servers, servers));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    for bad in ["missed its heartbeats", "first heartbeat"] {
        assert!(!text.contains(bad), "the checkers child stalled:\n{}", tail(&text));
    }
    assert_eq!(text.matches("supervise: checkers child started").count(), 1, "{}", tail(&text));
    // None went down twice (the log may have dropped some under load, never
    // added one).
    let logged = text.matches(": DOWN (connect ").count();
    assert!(logged <= servers, "{logged} DOWN lines for {servers} real servers");
    if !text.contains("bytes of output were dropped") {
        assert_eq!(logged, servers, "each real server went down once");
    }
}

fn tail(text: &str) -> String {
    text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
}
