//! The checkers at production scale: keepalived issue #2318's shape (2,284
//! virtual servers, 37,298 real servers, TCP_CHECK) in a namespace with no
//! route to any of them, so that every real server goes down in the first
//! round at once, as in a network cut. The checkers child must carry on:
//! every real server down, none twice, no heartbeat missed, no restart.
//! (How long it takes is the checkers bench's figure: publishing the pools
//! on each change, a pass over every real server and a message of all of
//! them to PID 1, made it a minute; at most ten times a second, seconds.)

use vigil_tests::vrrp_pair::{KillOnDrop, Netns, spawn_vigil, wait_log};
use vigil_tests::{is_root, require};

#[test]
fn every_real_server_of_a_production_config_going_down_at_once_stalls_nothing() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("checkers-scale");
    let ns = Netns::fresh("chk-scale");
    let (_, servers) = vigil_tests::PRODUCTION_SHAPE;
    let conf = vigil_tests::production_shape_config();
    let path = dir.join("vigil.conf");
    std::fs::write(&path, conf).unwrap();
    let log = dir.join("vigil.log");
    let _vigil = KillOnDrop(spawn_vigil(&ns, &path, &log));
    wait_log(&log, 0, "checkers: 37298 checks of 2284 virtual servers");
    let down = |text: &str| text.matches(": DOWN (connect ").count();
    let mut text = String::new();
    let all = vigil_tests::eventually(std::time::Duration::from_secs(120), || {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        down(&text) >= servers
    });
    assert!(all.is_some(), "{} of {servers} real servers down", down(&text));
    // Two more rounds, all still down: nothing stalled, nothing restarted.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains("missed its heartbeats"), "the checkers child stalled:\n{}", tail(&text));
    assert_eq!(text.matches("supervise: checkers child started").count(), 1, "{}", tail(&text));
    assert_eq!(down(&text), servers, "each real server went down once");
}

fn tail(text: &str) -> String {
    text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
}
