//! PID 1 keeps its timing while the console works hard. With 1,000 virtual
//! servers of 10 real servers each committed (a 66,000-line config), `show
//! config` and 15 s of `compare` and bursts of Tabs at the
//! serial console kill no child for missed heartbeats, and the watchdog
//! never fires: the shell runs on a thread of its own and its output goes
//! through a bounded queue. (This used to block the loop for seconds at a
//! time, and then both children were killed.)

use std::fmt::Write;
use std::time::{Duration, Instant};
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

fn big_config() -> String {
    let mut c = String::from(
        "interface eth0 {\n address 192.0.2.1/24\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n\
         priority 150\n advert_int 1\n virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n",
    );
    for v in 0..1000 {
        let _ = write!(
            c,
            "virtual_server 10.{}.{}.1 80 {{\n delay_loop 5\n lb_algo rr\n lb_kind NAT\n protocol TCP\n",
            v / 250,
            v % 250
        );
        for r in 0..10 {
            let _ = write!(c, " real_server 192.168.{}.{} 80 {{\n  weight 1\n }}\n", v % 250, r + 1);
        }
        c.push_str("}\n");
    }
    c
}

#[test]
fn a_busy_console_kills_no_child() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let img = vigil_tests::image("qemu-x86_64");
    let mut c = Cluster::with_configs("console-busy", &img, &[big_config()], |_| {}).unwrap();
    let node = c.node(1);
    node.wait_ready(BOOT_TIMEOUT).unwrap();
    node.expect("vrrp_instance VI_1: BACKUP -> MASTER", BOOT_TIMEOUT).unwrap();
    let long = Duration::from_secs(120);
    let before = node.command("show supervision", long).unwrap();
    let started = vigil_tests::supervised_pids(&before);
    // The VRRP child, the checkers and the BFD child.
    assert_eq!(started.len(), 3, "{before}");

    // One `show config` (1.6 MB: the shell streams it as the console takes
    // it), then rounds of `compare` (two exports of the whole config and a
    // diff: the shell's CPU, little output) and bursts of Tabs.
    node.send_line("show config").unwrap();
    let t = Instant::now();
    let mut rounds = 0;
    while t.elapsed() < Duration::from_secs(15) {
        node.send_line(&format!(
            "set virtual_server 10.0.{}.1 80 real_server 192.168.{}.1 80 weight 2",
            rounds, rounds
        ))
        .unwrap();
        node.send_line("compare").unwrap();
        node.send_line(&format!("set vrrp_instance VI_1 {}", "\t".repeat(50))).unwrap();
        rounds += 1;
        std::thread::sleep(Duration::from_secs(2));
    }
    eprintln!("{rounds} rounds of console work in {:?}", t.elapsed());
    // Whatever the console still has to do and print, it gets there: wait
    // until it has been quiet for 5 s (typing into a full input buffer
    // would lose keys).
    let quiet = Instant::now();
    loop {
        let len = node.console_text().len();
        std::thread::sleep(Duration::from_secs(5));
        if node.console_text().len() == len || quiet.elapsed() > Duration::from_secs(240) {
            break;
        }
    }
    node.send_line("").unwrap();
    let after = node.command("show supervision", long).unwrap();
    assert_eq!(vigil_tests::supervised_pids(&after), started, "a child was restarted:\n{after}");
    let console = node.console_text();
    for bad in ["missed its heartbeats", "child was killed", "crash loop"] {
        assert!(!console.contains(bad), "{bad:?} during the busy console");
    }
    assert_eq!(console.matches("/init started").count(), 1, "the board was reset");
}
