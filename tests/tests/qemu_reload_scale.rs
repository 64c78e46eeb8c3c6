//! A 1 % reload at production scale, with live connections through IPVS,
//! in QEMU: the balancer boots keepalived issue #2318's shape from its
//! flash (2,284 virtual servers, 37,298 real servers, unchecked: every one
//! in IPVS) beside two live direct-routing services (TCP echo on a backend
//! node, TCP_CHECKed). A client holds a connection to each live service and
//! talks on it five times a second. At the console, 1 % of the virtual
//! servers get another scheduler and as many real servers another weight,
//! and the change is committed: exactly those 46 changes reach the kernel
//! (nothing else is deleted, re-added or edited), the held connections
//! carry on through the commit without a break, and new connections are
//! served.
//!
//! (A service deleted and added again would not break a direct-routing
//! connection by itself: the kernel keeps forwarding it to the old
//! destination unless `expire_nodest_conn` is set. The count of changes
//! is what proves the rest untouched; the held connections prove the
//! traffic lives through PID 1 compiling, writing 1.3 MB of flash and
//! reconciling 39,586 entries.)

use std::time::Duration;
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

const CMD: Duration = Duration::from_secs(60);
const LIVE: [&str; 2] = ["10.0.0.100", "10.0.0.101"];
/// Every hundredth virtual server: 23 of 2,284.
const STEP: usize = 100;

fn conf() -> String {
    let (services, servers) = vigil_tests::PRODUCTION_SHAPE;
    let mut conf = String::from("interface eth0 {\n  address 10.0.0.1/24 10.0.0.100/24 10.0.0.101/24\n}\n");
    for vip in LIVE {
        conf.push_str(&format!(
            "virtual_server {vip} 7 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n  \
             real_server 10.0.0.11 7 {{\n    TCP_CHECK {{\n      connect_timeout 2\n    }}\n  }}\n}}\n"
        ));
    }
    conf + &vigil_tests::shape_config(services, servers, None, "\n lb_algo rr")
}

/// The hold lines of the client's console: (target, ok count | broken why).
fn holds(text: &str) -> Vec<(String, Result<u64, String>)> {
    text.lines()
        .filter_map(|l| {
            let (target, rest) = l.trim().strip_prefix("hold: ")?.split_once(' ')?;
            let got = match rest.split_once(' ') {
                Some((n, "ok")) => Ok(n.parse().ok()?),
                _ if rest.starts_with("broken") => Err(rest.to_string()),
                _ => return None,
            };
            Some((target.to_string(), got))
        })
        .collect()
}

/// The last `ok` count of each live service's held connection.
fn held(text: &str) -> Vec<u64> {
    let h = holds(text);
    LIVE.iter()
        .map(|vip| {
            let t = format!("{vip}:7");
            h.iter().rev().find_map(|(target, got)| (*target == t).then(|| got.clone().unwrap_or(0))).unwrap_or(0)
        })
        .collect()
}

#[test]
fn a_one_percent_reload_of_a_production_config_touches_only_what_changed() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let (services, servers) = vigil_tests::PRODUCTION_SHAPE;
    let lb_img = vigil_tests::image("qemu-x86_64");
    let ts_img = vigil_tests::test_server_image("qemu-x86_64");
    let mut c = Cluster::empty("qemu-reload-scale").unwrap();
    let lb = c.add_with_config(&lb_img, &conf(), |_| {}).unwrap();
    let vips = LIVE.join(",");
    let b1 =
        c.add(&ts_img, |s| s.extra_cmdline = format!("vigil.name=b1 vigil.ip=10.0.0.11/24 vigil.vip={vips}")).unwrap();
    c.node(lb).wait_ready(BOOT_TIMEOUT).unwrap();
    c.node(b1).expect("test-server: b1 ready", BOOT_TIMEOUT).unwrap();
    // Everything programmed: the shape and the two live services.
    let programmed = format!("changes applied ({} services, {} destinations wanted)", services + 2, servers + 2);
    c.node(lb).expect(&programmed, Duration::from_secs(300)).unwrap();
    let targets = LIVE.iter().map(|v| format!("{v}:7")).collect::<Vec<_>>().join(",");
    let client = c.add(&ts_img, |s| s.extra_cmdline = format!("vigil.ip=10.0.0.50/24 vigil.hold={targets}")).unwrap();
    c.node(client).expect("test-server: hold ready", BOOT_TIMEOUT).unwrap();
    let mut before = Vec::new();
    let talking = vigil_tests::eventually(Duration::from_secs(120), || {
        before = held(&c.node(client).console_text());
        before.iter().all(|&n| n >= 25)
    });
    assert!(talking.is_some(), "the held connections never talked: {before:?}\n{}", c.node(client).console_text());

    // 1 %: 23 schedulers and 23 weights, then one commit.
    let n = c.node(lb);
    let mut edits = 0;
    for v in (0..services).step_by(STEP) {
        let out = n.command(&format!("set virtual_server 10.{}.{}.1 80 lb_algo wrr", v / 250, v % 250), CMD).unwrap();
        assert!(!out.contains("error"), "{out}");
        let w = v + STEP / 2;
        let out = n
            .command(
                &format!(
                    "set virtual_server 10.{}.{}.1 80 real_server 172.{}.{}.1 8080 weight 2",
                    w / 250,
                    w % 250,
                    16 + w / 250,
                    w % 250
                ),
                CMD,
            )
            .unwrap();
        assert!(!out.contains("error"), "{out}");
        edits += 2;
    }
    assert_eq!(edits, 46);
    let mark = n.console_text().len();
    let out = n.command("commit", Duration::from_secs(300)).unwrap();
    assert!(out.contains("written and applied"), "{out}");
    let reconciled = format!("ipvs: {edits} of {edits} changes applied ({} services", services + 2);
    let mut log = String::new();
    let applied = vigil_tests::eventually(Duration::from_secs(120), || {
        log = n.console_text()[mark..].to_string();
        log.contains("ipvs: ") && log.contains("changes applied")
    });
    assert!(applied.is_some(), "no reconcile after the commit:\n{log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("changes applied")).collect();
    assert!(lines.len() == 1 && lines[0].contains(&reconciled), "want {reconciled:?}, got {lines:?}");

    // The held connections carried on, and carry on.
    let now = held(&c.node(client).console_text());
    let mut after = Vec::new();
    let carried = vigil_tests::eventually(Duration::from_secs(60), || {
        after = held(&c.node(client).console_text());
        after.iter().zip(&now).all(|(a, n)| *a >= n + 50)
    });
    assert!(carried.is_some(), "held connections stalled: {before:?} -> {now:?} -> {after:?}");
    let text = c.node(client).console_text();
    let broken: Vec<_> = holds(&text).into_iter().filter(|h| h.1.is_err()).collect();
    assert!(broken.is_empty(), "connections broke: {broken:?}");
    assert_eq!(text.matches("connected").count(), LIVE.len(), "each connection made once:\n{text}");
}
