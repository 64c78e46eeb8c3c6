//! Two vigil appliances (QEMU) and a client on one virtual switch: the
//! appliances boot with their configs on flash; node 1 (priority 150) owns
//! the VIP and answers the client; node 1's VM is killed; node 2 takes the
//! VIP over and the client reaches it there. Both balancers hold the same
//! IPVS table throughout, and the connection-sync daemon follows VRRP:
//! master on the master, backup on the backup, master on node 2 after.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use vigil_tests::client::Client;
use vigil_tests::{Cluster, have_qemu};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

fn config(n: u8, priority: u8) -> String {
    format!(
        "global_defs {{\n lvs_sync_daemon eth0 VI_1 id 5\n}}\n\
         vigil_defs {{\n hostname lb-{n}\n}}\ninterface eth0 {{\n address 192.0.2.{n}/24\n}}\n\
         virtual_server 192.0.2.100 80 {{\n lb_algo wrr\n lb_kind DR\n protocol TCP\n\
         real_server 192.0.2.11 80 {{\n  weight 2\n }}\n real_server 192.0.2.12 80 {{\n  weight 1\n }}\n}}\n\
         vrrp_instance VI_1 {{\n interface eth0\n version 3\n virtual_router_id 51\n priority {priority}\n advert_int 0.5\n\
         virtual_ipaddress {{\n  192.0.2.100/24\n }}\n}}\n"
    )
}

#[test]
fn the_backup_takes_over_when_the_master_vm_dies() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let img = vigil_tests::image("qemu-x86_64");
    let mut c = Cluster::with_configs("qemu-vrrp", &img, &[config(1, 150), config(2, 100)], |_| {}).unwrap();
    c.wait_all_ready().unwrap();
    let port = c.switch.attach("client", &c.dir.join("client.sock")).unwrap();
    let mut client = Client::new(port, [0x52, 0x54, 0, 0, 0, 0x99], Ipv4Addr::new(192, 0, 2, 99));
    let node1 = [0x52, 0x54, 0, 0, 0, 1];
    let node2 = [0x52, 0x54, 0, 0, 0, 2];

    let mut owner = None;
    vigil_tests::eventually(Duration::from_secs(30), || {
        owner = client.reach(VIP, Duration::from_millis(400));
        owner == Some(node1)
    });
    assert_eq!(owner, Some(node1), "node 1 (priority 150) answers for the VIP");
    c.node(1).expect("vrrp_instance VI_1: BACKUP -> MASTER", Duration::from_secs(5)).unwrap();
    let cmd = Duration::from_secs(20);
    let mut sync1 = String::new();
    vigil_tests::eventually(Duration::from_secs(5), || {
        sync1 = c.node(1).command("show ipvs-sync", cmd).unwrap();
        sync1.contains("master")
    });
    // The table (and its sync daemon) is programmed on a thread of its own:
    // on the node that booted last it may come a moment after "ready".
    let mut sync2 = String::new();
    vigil_tests::eventually(Duration::from_secs(5), || {
        sync2 = c.node(2).command("show ipvs-sync", cmd).unwrap();
        sync2.contains("backup")
    });
    assert_eq!(sync1.trim(), "master on eth0 sync id 5");
    assert_eq!(sync2.trim(), "backup on eth0 sync id 5");
    let table1 = c.node(1).command("show ipvs", cmd).unwrap();
    let table2 = c.node(2).command("show ipvs", cmd).unwrap();
    assert!(table1.contains("TCP  192.0.2.100:80 wrr") && table1.contains("192.0.2.11:80"), "{table1}");
    assert_eq!(table1, table2, "the backup holds the same table");

    c.node(1).kill();
    let killed = Instant::now();
    let mut owner = None;
    vigil_tests::eventually(Duration::from_secs(30), || {
        owner = client.reach(VIP, Duration::from_millis(400));
        owner == Some(node2)
    });
    let took = killed.elapsed();
    assert_eq!(owner, Some(node2), "node 2 answers after node 1 died");
    c.node(2).expect("vrrp_instance VI_1: BACKUP -> MASTER", Duration::from_secs(5)).unwrap();
    eprintln!("node 1 killed -> the client reaches the VIP on node 2 after {took:?}");
    // The daemon reports to PID 1 over its socket: give the report a moment.
    let mut out = String::new();
    vigil_tests::eventually(Duration::from_secs(2), || {
        out = c.node(2).command("show vrrp", Duration::from_secs(20)).unwrap();
        out.contains("MASTER")
    });
    assert!(out.contains("VI_1 eth0 vrid 51 MASTER priority 100"), "{out}");
    // The sync daemon switches with the state (the balancer's thread follows
    // VRRP as the state comes).
    let mut sync2 = String::new();
    vigil_tests::eventually(Duration::from_secs(5), || {
        sync2 = c.node(2).command("show ipvs-sync", Duration::from_secs(20)).unwrap();
        sync2.contains("master")
    });
    assert_eq!(sync2.trim(), "master on eth0 sync id 5");
    assert!(c.node(2).console_text().contains("ipvs: sync daemon (backup) stopped"));
}
