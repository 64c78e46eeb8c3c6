//! `use_ipvlan`, beside keepalived: this host's kernel has no ipvlan, so
//! both run in QEMU guests (Debian's kernel, its ipvlan module) on one
//! virtual switch with a client. Node 1 is vigil, node 2 Debian's
//! keepalived 2.2.7 (the test server's image carrying it), each with an L2
//! ipvlan of its own address on eth0. vigil (priority 150) is master and
//! keepalived stays backup: it hears vigil's adverts from the ipvlan's
//! address. The client finds the VIP at node 1's MAC (an ipvlan has its
//! interface's). vigil's priority is then committed down to 50: keepalived
//! takes the VIP, vigil stays backup (it hears keepalived's adverts from
//! keepalived's ipvlan), and the client finds the VIP at node 2's MAC.
//! Then the same with unicast adverts between the ipvlans' addresses
//! (which reach only the ipvlans: vigil reads them there). An IPv6
//! instance beside it (ipvlans without addresses, multicast) takes the
//! same turns in the first round.

use std::net::Ipv4Addr;
use std::time::Duration;
use vigil_board::Arch;
use vigil_tests::client::Client;
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const CMD: Duration = Duration::from_secs(20);

/// The instance both run; with `peer`, its adverts go unicast to the
/// peer's ipvlan address.
fn instance(priority: u8, ipvlan: &str, peer: Option<&str>) -> String {
    let unicast = peer.map(|p| format!(" unicast_peer {{\n  {p}\n }}\n")).unwrap_or_default();
    format!(
        "vrrp_instance VI_1 {{\n interface eth0\n version 3\n virtual_router_id 51\n priority {priority}\n advert_int 0.5\n\
         use_ipvlan {ipvlan}\n{unicast} virtual_ipaddress {{\n  192.0.2.100/24\n }}\n}}\n"
    )
}

/// An IPv6 instance beside it, multicast, on an ipvlan without an address
/// of its own (its adverts leave from the interface's link-local address).
fn instance6(priority: u8) -> String {
    format!(
        "vrrp_instance VI_6 {{\n interface eth0\n version 3\n virtual_router_id 52\n priority {priority}\n advert_int 0.5\n\
         use_ipvlan\n virtual_ipaddress {{\n  2001:db8::100/64\n }}\n}}\n"
    )
}

fn vigil_config(priority: u8, unicast: bool) -> String {
    format!(
        "vigil_defs {{\n hostname lb-1\n}}\ninterface eth0 {{\n address 192.0.2.1/24\n}}\n{}{}",
        instance(priority, "192.0.2.201/24", unicast.then_some("192.0.2.202")),
        instance6(priority)
    )
}

fn keepalived_config(unicast: bool) -> String {
    format!(
        "global_defs {{\n router_id kd\n}}\n{}{}",
        instance(100, "192.0.2.202/24", unicast.then_some("192.0.2.201")),
        instance6(100)
    )
}

#[test]
fn an_ipvlan_instance_takes_turns_with_keepalived_on_one() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    if !vigil_tests::require(std::path::Path::new("/usr/sbin/keepalived").exists(), "Debian's keepalived") {
        return;
    }
    let lb_img = vigil_tests::image("qemu-x86_64");
    let mut c = Cluster::empty("qemu-ipvlan").unwrap();
    // keepalived's config goes onto its image; the same instance but for
    // its priority and its ipvlan's address (no name: keepalived's own).
    let conf = c.dir.join("keepalived.conf");
    std::fs::write(&conf, keepalived_config(false)).unwrap();
    let unicast_conf = c.dir.join("keepalived-unicast.conf");
    std::fs::write(&unicast_conf, keepalived_config(true)).unwrap();
    let b = vigil_image::load_board("qemu-x86_64").expect("board");
    let server = vigil_image::build::static_binary(b.arch, "vigil-test-server", "test-server").expect("test-server");
    let mut extra = vigil_tests::host_program("/usr/sbin/keepalived");
    extra.push(("etc/keepalived-ipvlan.conf".into(), conf));
    extra.push(("etc/keepalived-unicast.conf".into(), unicast_conf));
    let kd_img = vigil_image::build::build_image_as(&b, &server, "test-server-keepalived", &extra).expect("image");
    assert_eq!(b.arch, Arch::X86_64);

    // vigil first: master before keepalived starts, so keepalived has no
    // reason ever to be master while vigil's adverts reach it.
    let lb = c.add_with_config(&lb_img, &vigil_config(150, false), |_| {}).unwrap();
    c.node(lb).wait_ready(BOOT_TIMEOUT).unwrap();
    c.node(lb).expect("vrrp_instance VI_1: BACKUP -> MASTER", Duration::from_secs(20)).unwrap();
    let kd = c
        .add(&kd_img, |s| s.extra_cmdline = "vigil.ip=192.0.2.2/24 vigil.keepalived=/etc/keepalived-ipvlan.conf".into())
        .unwrap();
    c.node(kd).expect("test-server: keepalived started", BOOT_TIMEOUT).unwrap();
    c.node(kd).expect("(VI_1) Entering BACKUP STATE", Duration::from_secs(30)).unwrap();
    let port = c.switch.attach("client", &c.dir.join("client.sock")).unwrap();
    let mut client = Client::new(port, [0x52, 0x54, 0, 0, 0, 0x99], Ipv4Addr::new(192, 0, 2, 99));
    let node1 = [0x52, 0x54, 0, 0, 0, 1];

    let mut owner = None;
    vigil_tests::eventually(Duration::from_secs(30), || {
        owner = client.reach(VIP, Duration::from_millis(400));
        owner == Some(node1)
    });
    assert_eq!(owner, Some(node1), "vigil (priority 150) answers for the VIP, at its interface's MAC");
    let links = c.node(lb).command("show interfaces", CMD).unwrap();
    let ipvlan: Vec<&str> = links.lines().skip_while(|l| !l.contains(": vrrp.51 ")).take(3).collect();
    assert!(
        ipvlan.first().is_some_and(|l| l.contains("52:54:00:00:00:01"))
            && ipvlan.iter().any(|l| l.contains("192.0.2.201/24"))
            && ipvlan.iter().any(|l| l.contains("192.0.2.100/24")),
        "the ipvlan vrrp.51 with vigil's MAC, its address and the VIP:\n{links}"
    );
    // keepalived heard vigil all along: backup, never master.
    std::thread::sleep(Duration::from_secs(3));
    let mut kd_text = c.node(kd).console_text();
    assert!(!kd_text.contains("Entering MASTER STATE"), "keepalived became master beside vigil:\n{kd_text}");
    // Both name an unnamed ipvlan alike.
    assert!(kd_text.contains("(VI_1): Success creating ipvlan interface vrrp.51"), "{kd_text}");
    // IPv6 the same: vigil master on vrrp6.52 with the VIP, keepalived
    // backup (it hears vigil's adverts to ff02::12).
    // (Its ipvlan's link-local address passes DAD a second or more after
    // keepalived starts: till then it is in FAULT, "no IPv6 address".)
    vigil_tests::eventually(Duration::from_secs(20), || {
        kd_text = c.node(kd).console_text();
        kd_text.contains("(VI_6) Entering BACKUP STATE")
    });
    assert!(kd_text.contains("(VI_6) Entering BACKUP STATE"), "{kd_text}");
    assert!(!kd_text.contains("Entering MASTER STATE"), "keepalived became master beside vigil:\n{kd_text}");
    let vrrp = c.node(lb).command("show vrrp", CMD).unwrap();
    assert!(vrrp.contains("VI_6 eth0 vrid 52 MASTER priority 150"), "{vrrp}");
    let ipvlan6: Vec<&str> = links.lines().skip_while(|l| !l.contains(": vrrp6.52 ")).take(4).collect();
    assert!(
        ipvlan6.first().is_some_and(|l| l.contains("52:54:00:00:00:01"))
            && ipvlan6.iter().any(|l| l.contains("2001:db8::100/64")),
        "the ipvlan vrrp6.52 with vigil's MAC and the IPv6 VIP:\n{links}"
    );

    // vigil's priority down to 50: keepalived (100) preempts it, and vigil
    // stays backup (it hears keepalived's adverts).
    yield_to_keepalived(&mut c, lb, kd, &mut client, false);
    c.node(kd).expect("(VI_6) Entering MASTER STATE", Duration::from_secs(20)).unwrap();
    let vrrp = c.node(lb).command("show vrrp", CMD).unwrap();
    assert!(vrrp.contains("VI_6 eth0 vrid 52 BACKUP priority 50"), "IPv6: {vrrp}");
    let links = c.node(lb).command("show interfaces", CMD).unwrap();
    assert!(!links.contains("2001:db8::100/64"), "vigil let the IPv6 VIP go:\n{links}");

    // The same with unicast adverts, to each ipvlan's address (they reach
    // the ipvlan only: vigil reads them there). keepalived goes; vigil takes
    // over, is committed to unicast at 150 and is master; keepalived comes
    // back on its unicast config and stays backup.
    c.node(kd).kill();
    c.node(lb).expect("vrrp_instance VI_1: BACKUP -> MASTER", Duration::from_secs(20)).unwrap();
    commit(&mut c, lb, &vigil_config(150, true));
    c.node(lb).expect("vrrp_instance VI_1: BACKUP -> MASTER", Duration::from_secs(20)).unwrap();
    c.node(kd).spec.extra_cmdline = "vigil.ip=192.0.2.2/24 vigil.keepalived=/etc/keepalived-unicast.conf".into();
    c.restart(kd, &kd_img).unwrap();
    c.node(kd).expect("test-server: keepalived started", BOOT_TIMEOUT).unwrap();
    c.node(kd).expect("(VI_1) Entering BACKUP STATE", Duration::from_secs(30)).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let kd_text = c.node(kd).console_text();
    assert!(!kd_text.contains("Entering MASTER STATE"), "keepalived (unicast) became master beside vigil:\n{kd_text}");
    let mut owner = None;
    vigil_tests::eventually(Duration::from_secs(30), || {
        owner = client.reach(VIP, Duration::from_millis(400));
        owner == Some(node1)
    });
    assert_eq!(owner, Some(node1), "vigil (unicast, priority 150) answers for the VIP");
    yield_to_keepalived(&mut c, lb, kd, &mut client, true);
}

fn commit(c: &mut Cluster, lb: usize, conf: &str) {
    vigil_tests::load_keepalived(c.node(lb), conf);
    let out = c.node(lb).command("commit", CMD).unwrap();
    assert!(out.contains("written and applied"), "{out}");
}

/// vigil's priority committed down to 50: keepalived (100) takes the VIP,
/// the client finds it at node 2's MAC, and vigil stays backup (it hears
/// keepalived's adverts from keepalived's ipvlan) without the VIP.
fn yield_to_keepalived(c: &mut Cluster, lb: usize, kd: usize, client: &mut Client, unicast: bool) {
    commit(c, lb, &vigil_config(50, unicast));
    c.node(kd).expect("(VI_1) Entering MASTER STATE", Duration::from_secs(20)).unwrap();
    let node2 = [0x52, 0x54, 0, 0, 0, 2];
    let mut owner = None;
    vigil_tests::eventually(Duration::from_secs(30), || {
        owner = client.reach(VIP, Duration::from_millis(400));
        owner == Some(node2)
    });
    assert_eq!(owner, Some(node2), "keepalived answers for the VIP once vigil's priority is below its own");
    std::thread::sleep(Duration::from_secs(3));
    let vrrp = c.node(lb).command("show vrrp", CMD).unwrap();
    assert!(vrrp.contains("VI_1 eth0 vrid 51 BACKUP priority 50"), "unicast {unicast}: {vrrp}");
    let links = c.node(lb).command("show interfaces", CMD).unwrap();
    assert!(!links.contains("192.0.2.100/24"), "vigil let the VIP go:\n{links}");
}
