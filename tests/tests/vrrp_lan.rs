//! Two vigil routers on a bridge (three network namespaces): the higher
//! priority owns the VIP; cutting its bridge port (carrier stays up) makes
//! both masters; putting it back leaves exactly one.

use std::process::{Command, Stdio};
use std::time::Duration;
use vigil_board::Arch;
use vigil_tests::lan::{Lan, VIP, out};
use vigil_tests::vrrp_pair::{Netns, ip};
use vigil_tests::{firmware, is_root, require};

#[test]
fn a_split_brain_heals_to_one_master() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let mut lan = Lan::new("vl");
    let (r1, r2, br) = (lan.r1.clone(), lan.r2.clone(), lan.br.clone());
    lan.vigil(&r1, 150);
    lan.vigil(&r2, 100);
    lan.wait_for(&[1], Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lan.holders(), [1], "one master while the LAN is whole");
    // Cut r1's bridge port; its carrier stays up, so it keeps mastering.
    ip(&["-n", &br, "link", "set", "p1", "nomaster"]);
    let t = lan.wait_for(&[1, 2], Duration::from_secs(5));
    eprintln!("port cut -> two masters after {t:?}");
    ip(&["-n", &br, "link", "set", "p1", "master", "br0"]);
    let t = lan.wait_for(&[1], Duration::from_secs(5));
    eprintln!("port restored -> one master after {t:?}");
}

/// A commit that changes one instance restarts only that one: the other's
/// VIP never leaves.
#[test]
fn a_commit_restarts_only_the_changed_instance() {
    use std::io::Write;
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("vrrp-commit");
    let netns = Netns::fresh("vr-commit");
    let ns: &str = &netns;
    ip(&["-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"]);
    for l in ["eth0", "peer0"] {
        ip(&["-n", ns, "link", "set", l, "up"]);
    }
    ip(&["-n", ns, "addr", "add", "203.0.113.1/24", "dev", "eth0"]);
    let log = std::fs::File::create(dir.join("vigil.log")).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(firmware(Arch::X86_64))
        .arg("run")
        .arg("--flash")
        .arg(dir.join("flash.img"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let inst = |name: &str, vrid: u8, vip: &str, prio: u8| {
        format!(
            "vrrp_instance {name} {{\n interface eth0\n version 3\n virtual_router_id {vrid}\n priority {prio}\n advert_int 0.1\n virtual_ipaddress {{\n {vip}/24\n }}\n}}\n"
        )
    };
    let conf = inst("VI_1", 1, "203.0.113.101", 100) + &inst("VI_2", 2, "203.0.113.102", 100);
    write!(stdin, "load keepalived\n{conf}end\ncommit\n").unwrap();
    let has = |vip: &str| {
        let out = Command::new("ip").args(["-n", ns, "-4", "addr", "show", "eth0"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&format!("inet {vip}/24"))
    };
    let both = vigil_tests::eventually(Duration::from_secs(10), || has("203.0.113.101") && has("203.0.113.102"));
    assert!(both.is_some(), "both instances master");
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let lost = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let watcher = {
        let (w, l) = (watching.clone(), lost.clone());
        std::thread::spawn(move || {
            while w.load(std::sync::atomic::Ordering::Relaxed) {
                let out = Command::new("ip").args(["-n", "vr-commit", "-4", "addr", "show", "eth0"]).output().unwrap();
                if !String::from_utf8_lossy(&out.stdout).contains("inet 203.0.113.101/24") {
                    l.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    writeln!(stdin, "set vrrp_instance VI_2 priority 120\ncommit").unwrap();
    vigil_tests::eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(dir.join("vigil.log")).unwrap().matches("VI_2: BACKUP -> MASTER").count() >= 2
    });
    let text = std::fs::read_to_string(dir.join("vigil.log")).unwrap();
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    watcher.join().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    drop(netns);
    assert!(text.contains("vrrp_instance VI_2: changed: stopping"), "{text}");
    assert!(!text.contains("vrrp_instance VI_1: changed"), "{text}");
    assert_eq!(text.matches("VI_2: BACKUP -> MASTER").count(), 2, "{text}");
    assert_eq!(lost.load(std::sync::atomic::Ordering::Relaxed), 0, "VI_1's VIP left during the commit");
}

/// A client keeps pinging the VIP (every 50 ms) while the master router dies
/// (vigil killed and its port cut): the backup takes over, announces the VIP,
/// and the replies resume. (The killed vigil's VRRP child, left without its
/// supervisor, resigns and removes its copy of the VIP.)
#[test]
fn a_client_keeps_reaching_the_vip_through_a_failover() {
    if !require(is_root(), "root (network namespaces)")
        || !require(vigil_tests::have_program("ping"), "ping (iputils-ping)")
    {
        return;
    }
    let mut lan = Lan::new("vp");
    let (r1ns, r2ns, br, c) = (lan.r1.clone(), lan.r2.clone(), lan.br.clone(), lan.c.clone());
    let r1 = lan.vigil(&r1ns, 150);
    lan.vigil(&r2ns, 100);
    lan.wait_for(&[1], Duration::from_secs(10));
    let ping = Command::new("ip")
        .args(["netns", "exec", &c, "ping", "-n", "-i", "0.05", "-W", "0.2", "-c", "100", VIP])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    // Router 1 dies: its daemon and its link.
    let _ = lan.children[r1].kill();
    ip(&["-n", &br, "link", "set", "p1", "nomaster"]);
    let killed_at_seq = 20; // 1 s of 50 ms pings
    let out = ping.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let seqs: Vec<u32> =
        text.lines().filter_map(|l| l.split("icmp_seq=").nth(1)?.split_whitespace().next()?.parse().ok()).collect();
    let before = seqs.iter().filter(|&&s| s < killed_at_seq).count();
    let after: Vec<&u32> = seqs.iter().filter(|&&s| s > killed_at_seq + 20).collect();
    let lost = 100 - seqs.len();
    eprintln!("pings answered: {} of 100 ({lost} lost across the failover)", seqs.len());
    assert!(before >= 15, "the VIP answered before the failover:\n{text}");
    assert!(after.len() >= 50, "the VIP answers again after the failover:\n{text}");
    // r1's VRRP child lost its supervisor: it resigned and took its copy away.
    assert_eq!(lan.holders(), [2], "r2 holds the VIP");
}

/// use_vmac on both routers (vigil and keepalived): the VIP lives on
/// `vrrp.7` with MAC 00:00:5e:00:01:07, so after a failover the client's
/// ARP entry is still right and only the switch relearns the port.
#[test]
fn use_vmac_keeps_the_vip_mac_across_a_failover_to_keepalived() {
    const VMAC: &str = "00:00:5e:00:01:07";
    if !require(is_root(), "root (network namespaces)")
        || !require(vigil_tests::have_program("keepalived"), "keepalived (apt-get install keepalived)")
        || !require(vigil_tests::have_program("ping"), "ping (iputils-ping)")
    {
        return;
    }
    let mut lan = Lan::new("vm");
    let (r1ns, r2ns, br, c) = (lan.r1.clone(), lan.r2.clone(), lan.br.clone(), lan.c.clone());
    let conf = lan.conf(&r1ns, 150, " use_vmac\n");
    let r1 = lan.children.len();
    lan.children.push(vigil_tests::vrrp_pair::spawn_vigil(&r1ns, &conf, &lan.dir.join("r1.log")));
    let on_vmac = |ns: &str| out(&["ip", "-n", ns, "-4", "addr", "show", "vrrp.7"]).contains(&format!("inet {VIP}/24"));
    let up = vigil_tests::eventually(Duration::from_secs(10), || on_vmac(&r1ns));
    assert!(up.is_some(), "{}", std::fs::read_to_string(lan.dir.join("r1.log")).unwrap());
    let link = out(&["ip", "-n", &r1ns, "-d", "link", "show", "vrrp.7"]);
    assert!(link.contains(&format!("link/ether {VMAC}")) && link.contains("macvlan mode private"), "{link}");
    assert!(!out(&["ip", "-n", &r1ns, "-4", "addr", "show", "eth0"]).contains(VIP), "the VIP is on the vmac only");

    // keepalived leaves arp_announce to the operator (its docs recommend 2;
    // vigil sets it): without it, its base interface's ARP requests name
    // the VIP and teach the client the base's MAC.
    ip(&["netns", "exec", &r2ns, "sh", "-c", "echo 2 > /proc/sys/net/ipv4/conf/eth0/arp_announce"]);
    let kconf = lan.conf(&r2ns, 100, " use_vmac\n");
    lan.children.push(vigil_tests::vrrp_pair::spawn_keepalived(&r2ns, &kconf, &lan.dir, "ka"));
    std::thread::sleep(Duration::from_secs(2));
    assert!(on_vmac(&r1ns) && !on_vmac(&r2ns), "vigil (150) stays master");

    let ping = |n: &str| out(&["ip", "netns", "exec", &c, "ping", "-n", "-c", n, "-i", "0.1", "-W", "1", VIP]);
    assert!(ping("3").contains(" 0% packet loss"));
    let neigh = |c: &str| out(&["ip", "-n", c, "neigh", "show", VIP]);
    assert!(neigh(&c).contains(VMAC), "the client knows the VIP by its virtual MAC: {}", neigh(&c));
    let fdb = |port: &str| {
        out(&["bridge", "-n", &br, "fdb", "show", "br", "br0"])
            .lines()
            .any(|l| l.starts_with(VMAC) && l.contains(&format!("dev {port} ")))
    };
    assert!(fdb("p1"), "the switch learnt the virtual MAC on r1's port");

    // vigil stops cleanly (priority 0): keepalived takes over on its own vmac.
    let _ = Command::new("kill").args(["-TERM", &lan.children[r1].id().to_string()]).status();
    let took = vigil_tests::eventually(Duration::from_secs(5), || on_vmac(&r2ns)).expect("keepalived takes over");
    eprintln!("vigil stopped -> keepalived's vrrp.7 holds the VIP after {took:?}");
    let _ = lan.children[r1].wait();
    assert!(!out(&["ip", "-n", &r1ns, "link", "show"]).contains("vrrp.7"), "vigil removed its vmac on the way out");
    let replies = ping("5");
    assert!(replies.contains(" 0% packet loss"), "{replies}");
    assert!(neigh(&c).contains(VMAC), "same MAC after the failover: {}", neigh(&c));
    assert!(fdb("p2"), "the switch moved the virtual MAC to r2's port");
}

/// no_accept: the master holds the VIPs (IPv4 and IPv6) and answers ARP and
/// neighbour solicitations for them, but drops packets sent to them; the
/// kernel's nf_tables shows the rules. A clean stop removes them.
#[test]
fn no_accept_drops_packets_to_the_vips_but_answers_arp_and_nd() {
    const VIP6: &str = "2001:db8:7::100";
    if !require(is_root(), "root (network namespaces)")
        || !require(vigil_tests::have_program("ping"), "ping (iputils-ping)")
        || !require(vigil_tests::have_program("nft"), "nft (apt-get install nftables)")
    {
        return;
    }
    let mut lan = Lan::new("na");
    let (r1ns, c) = (lan.r1.clone(), lan.c.clone());
    for (ns, host) in [(&r1ns, 1), (&c, 50)] {
        ip(&["-n", ns, "-6", "addr", "add", &format!("2001:db8:7::{host}/64"), "dev", "eth0", "nodad"]);
    }
    let mut conf = std::fs::read_to_string(lan.conf(&r1ns, 150, " no_accept\n")).unwrap();
    conf += &format!(
        "vrrp_instance VI_6 {{\n interface eth0\n version 3\n virtual_router_id 8\n priority 150\n advert_int 0.2\n no_accept\n virtual_ipaddress {{\n  {VIP6}/64\n }}\n}}\n"
    );
    let path = lan.dir.join("no-accept.conf");
    std::fs::write(&path, conf).unwrap();
    let r1 = lan.children.len();
    lan.children.push(vigil_tests::vrrp_pair::spawn_vigil(&r1ns, &path, &lan.dir.join("r1.log")));
    let holds = vigil_tests::eventually(Duration::from_secs(10), || {
        lan.holders() == [1] && out(&["ip", "-n", &r1ns, "-6", "addr", "show", "eth0"]).contains(VIP6)
    });
    assert!(holds.is_some(), "{}", std::fs::read_to_string(lan.dir.join("r1.log")).unwrap());
    let rules = out(&["ip", "netns", "exec", &r1ns, "nft", "list", "ruleset"]);
    assert!(rules.contains(&format!("ip daddr {VIP} drop")), "{rules}");
    assert!(rules.contains(&format!("ip6 daddr {VIP6} drop")), "{rules}");

    let ping = |args: &[&str]| {
        let mut a = vec!["ip", "netns", "exec", &c, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "1"];
        a.extend_from_slice(args);
        out(&a)
    };
    assert!(ping(&[VIP]).contains(" 100% packet loss"), "IPv4 packets to the VIP are dropped");
    assert!(ping(&["-6", VIP6]).contains(" 100% packet loss"), "IPv6 packets to the VIP are dropped");
    assert!(ping(&["198.51.100.1"]).contains(" 0% packet loss"), "the router's own address still answers");
    let n4 = out(&["ip", "-n", &c, "neigh", "show", VIP]);
    let n6 = out(&["ip", "-n", &c, "-6", "neigh", "show", VIP6]);
    assert!(n4.contains("lladdr"), "ARP for the VIP is answered: {n4:?}");
    assert!(n6.contains("lladdr"), "neighbour solicitations for the VIP are answered: {n6:?}");

    let _ = Command::new("kill").args(["-TERM", &lan.children[r1].id().to_string()]).status();
    let _ = lan.children[r1].wait();
    let rules = out(&["ip", "netns", "exec", &r1ns, "nft", "list", "ruleset"]);
    assert!(!rules.contains("vigil"), "the tables are gone after a clean stop: {rules}");
}

/// After a split brain heals, vigil (the higher priority) hears the other
/// side's adverts: it answers with its own and a gratuitous ARP burst, as
/// keepalived does, so a client that learnt keepalived's MAC for the VIP
/// during the split has vigil's again within an advert interval (it kept
/// the wrong one for 6.8 s when vigil ignored them). keepalived adverts
/// every 0.1 s and vigil every 1 s, so that after the heal vigil almost
/// always hears keepalived before keepalived hears vigil and backs off
/// silently (then nobody announces anything, as between two keepalived);
/// a heal where the client stays wrong is tried again, three at most.
#[test]
fn after_a_split_brain_heals_the_client_learns_the_masters_mac_at_once() {
    if !require(is_root(), "root (network namespaces)")
        || !require(vigil_tests::have_program("keepalived"), "keepalived (apt-get install keepalived)")
        || !require(vigil_tests::have_program("ping"), "ping (iputils-ping)")
    {
        return;
    }
    let mut lan = Lan::new("vh");
    let (r1, r2, br, c) = (lan.r1.clone(), lan.r2.clone(), lan.br.clone(), lan.c.clone());
    let conf = |ns: &str, priority: u8, interval: &str| {
        let path = lan.dir.join(format!("{ns}.conf"));
        let text = format!(
            "vrrp_instance VI_1 {{\n interface eth0\n version 3\n virtual_router_id 7\n priority {priority}\n advert_int {interval}\n virtual_ipaddress {{\n  {VIP}/24\n }}\n}}\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let (vconf, kconf) = (conf(&r1, 150, "1"), conf(&r2, 100, "0.1"));
    let log = lan.dir.join("r1.log");
    lan.children.push(vigil_tests::vrrp_pair::spawn_vigil(&r1, &vconf, &log));
    ip(&["netns", "exec", &r2, "sh", "-c", "echo 2 > /proc/sys/net/ipv4/conf/eth0/arp_announce"]);
    lan.children.push(vigil_tests::vrrp_pair::spawn_keepalived(&r2, &kconf, &lan.dir, "ka"));
    lan.wait_for(&[1], Duration::from_secs(10));
    let mac_of = |ns: &str| vigil_image::qemu::mac_string(vigil_tests::vrrp_pair::mac_of(ns, "eth0"));
    let (vigil_mac, ka_mac) = (mac_of(&r1), mac_of(&r2));
    let neigh = || out(&["ip", "-n", &c, "neigh", "show", VIP]);
    let mut took_each = Vec::new();
    for round in 1..=3 {
        ip(&["-n", &br, "link", "set", "p1", "nomaster"]);
        lan.wait_for(&[1, 2], Duration::from_secs(10));
        // The client reaches the VIP at keepalived during the split; then
        // waits out keepalived's second announcement (5 s after it became
        // master) and the kernel's 1 s lock on a fresh entry.
        let replies = out(&["ip", "netns", "exec", &c, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", VIP]);
        assert!(replies.contains(" 0% packet loss"), "{replies}");
        std::thread::sleep(Duration::from_secs(6));
        assert!(neigh().contains(&ka_mac), "the client learnt keepalived's MAC: {}", neigh());
        let before = std::fs::read_to_string(&log).unwrap().len();
        ip(&["-n", &br, "link", "set", "p1", "master", "br0"]);
        let took = vigil_tests::eventually(Duration::from_secs(10), || neigh().contains(&vigil_mac))
            .unwrap_or(Duration::from_secs(10));
        lan.wait_for(&[1], Duration::from_secs(5));
        let text = std::fs::read_to_string(&log).unwrap();
        let answered = text[before..].contains("with lower priority 100 (ours 150): another master; answered");
        eprintln!(
            "heal {round}: the client has vigil's MAC for the VIP after {took:?} (vigil answered keepalived: {answered})"
        );
        took_each.push(took);
        if took < Duration::from_secs(1) {
            return;
        }
    }
    panic!("after each of three heals the client kept keepalived's MAC for the VIP: {took_each:?}");
}
