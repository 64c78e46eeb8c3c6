//! VRRP at its documented limits in QEMU: two appliances with 256 instances
//! of 32 virtual addresses each (255 VRIDs on eth0 and one on a VLAN), one
//! at priority 200 and one at 100. Every instance elects its master, and for
//! 30 s after no child of either appliance is restarted: the VRRP child
//! keeps up with 256 adverts a second with CPU to spare (it used to sit at
//! 99 % of a core and be killed for missed heartbeats every 3 s).

use std::fmt::Write;
use std::time::{Duration, Instant};
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

const INSTANCES: usize = vigil_config::limits::VRRP_INSTANCES;
const ADDRESSES: usize = vigil_config::limits::VIRTUAL_ADDRESSES;

fn config(node: u8, priority: u8) -> String {
    let mut c = format!(
        "interface eth0 {{\n address 10.254.254.{node}/8\n vlan 10 {{\n  address 172.16.254.{node}/12\n }}\n}}\n"
    );
    for i in 0..INSTANCES {
        let (dev, vrid) = if i < 255 { ("eth0", i + 1) } else { ("eth0.10", 1) };
        let _ = write!(
            c,
            "vrrp_instance VI_{i} {{\n interface {dev}\n virtual_router_id {vrid}\n priority {priority}\n advert_int 1\n virtual_ipaddress {{\n"
        );
        for j in 0..ADDRESSES {
            if i < 255 {
                let _ = writeln!(c, "  10.{i}.{j}.1/24");
            } else {
                let _ = writeln!(c, "  172.16.{j}.1/24");
            }
        }
        c.push_str(" }\n}\n");
    }
    c
}

fn pids(sup: &str) -> Vec<String> {
    sup.lines().filter_map(|l| l.split("running, pid ").nth(1)?.split_whitespace().next().map(str::to_string)).collect()
}

/// How many instances `show vrrp` lists in `state`.
fn count(node: &mut vigil_image::Node, state: &str) -> usize {
    let out = node.command("show vrrp", Duration::from_secs(60)).unwrap();
    out.lines().filter(|l| l.split_whitespace().nth(4) == Some(state)).count()
}

#[test]
fn two_appliances_at_256_instances_of_32_addresses() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let img = vigil_tests::image("qemu-x86_64");
    let board = vigil_image::load_board("qemu-x86_64").unwrap();
    let mut c = Cluster::empty("vrrp-limits").unwrap();
    for (node, priority) in [(1u8, 200u8), (2, 100)] {
        let conf = c.dir.join(format!("node{node}.conf"));
        std::fs::write(&conf, config(node, priority)).unwrap();
        let flash = c.dir.join(format!("flash{node}.img"));
        vigil_image::config_tool::install(&board, &flash, &conf).unwrap();
        c.add(&img, |s| s.flash = Some(flash.clone())).unwrap();
    }
    for n in 1..=2 {
        c.node(n).wait_ready(BOOT_TIMEOUT).unwrap();
    }
    // Every instance elects: all masters on node 1, all backups on node 2.
    let t = Instant::now();
    loop {
        let (m1, b2) = (count(c.node(1), "MASTER"), count(c.node(2), "BACKUP"));
        if m1 == INSTANCES && b2 == INSTANCES {
            eprintln!("256 masters on node 1 and 256 backups on node 2 after {:?}", t.elapsed());
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "after 120 s: node 1 {m1} masters, node 2 {b2} backups");
        std::thread::sleep(Duration::from_secs(2));
    }
    let before: Vec<Vec<String>> =
        (1..=2).map(|n| pids(&c.node(n).command("show supervision", Duration::from_secs(60)).unwrap())).collect();
    std::thread::sleep(Duration::from_secs(30));
    for n in 1..=2 {
        let node = c.node(n);
        let after = pids(&node.command("show supervision", Duration::from_secs(60)).unwrap());
        assert_eq!(after, before[n - 1], "node {n}: a child was restarted");
        let console = node.console_text();
        assert!(!console.contains("missed its heartbeats"), "node {n}: a child missed its heartbeats");
    }
    assert_eq!(count(c.node(1), "MASTER"), INSTANCES, "node 1 kept every instance");
    assert_eq!(count(c.node(2), "BACKUP"), INSTANCES, "node 2 stayed backup");
}
