//! vigil and Debian's keepalived as the two routers of one VRRP instance, in
//! two network namespaces joined by a veth pair: each side hears the other's
//! adverts (parsed, checksums right), a killed master is replaced after
//! Master_Down_Interval, and a master that stops cleanly resigns with
//! priority 0 so the backup takes over after Skew_Time. VRRPv2 and v3.

use std::process::Command;
use std::time::Duration;
use vigil_tests::vrrp_pair::{KillOnDrop, Pair, ip};

/// keepalived is master; vigil stays backup (it hears it), and takes over
/// after Master_Down_Interval (3 x 1 s + Skew 0.61 s) when keepalived dies.
#[test]
fn vigil_backs_up_keepalived_v2() {
    let Some(mut p) = Pair::new("vrrp-v2") else { return };
    p.keepalived(2, 150, "1");
    p.wait_vip(&p.ka.clone(), Duration::from_secs(10));
    p.vigil(2, 100, "1");
    std::thread::sleep(Duration::from_secs(5));
    assert!(!p.has_vip(&p.vg.clone()), "vigil took the VIP from a higher-priority master");
    p.kill_keepalived("-KILL");
    let took = p.wait_vip(&p.vg.clone(), Duration::from_secs(10));
    eprintln!("keepalived killed -> vigil owns the VIP after {took:?}");
    assert!(took >= Duration::from_millis(2500), "too early: {took:?}");
}

/// vigil is master (v3, 0.5 s); keepalived stays backup, and when vigil
/// stops cleanly (SIGTERM: priority 0) keepalived takes over after its Skew.
#[test]
fn keepalived_backs_up_vigil_v3() {
    let Some(mut p) = Pair::new("vrrp-v3") else { return };
    let v = p.vigil(3, 150, "0.5");
    p.wait_vip(&p.vg.clone(), Duration::from_secs(10));
    p.keepalived(3, 100, "0.5");
    std::thread::sleep(Duration::from_secs(4));
    assert!(!p.has_vip(&p.ka.clone()), "keepalived took the VIP from a higher-priority master");
    assert!(p.has_vip(&p.vg.clone()));
    p.signal(v, "-TERM");
    let took = p.wait_vip(&p.ka.clone(), Duration::from_secs(5));
    eprintln!("vigil resigned -> keepalived owns the VIP after {took:?}");
    // Skew for priority 100 at 0.5 s is 0.30 s; Master_Down would be 1.8 s.
    assert!(took < Duration::from_millis(1500), "priority 0 was not honoured: {took:?}");
    assert!(!p.has_vip(&p.vg.clone()), "vigil removed the VIP when it stopped");
}

/// Unicast peers (no multicast), as in clouds: vigil master, keepalived
/// backup; vigil resigns and keepalived takes over.
#[test]
fn unicast_peers_with_keepalived() {
    let Some(mut p) = Pair::new("vrrp-uc") else { return };
    p.extra = [
        " unicast_src_ip 192.0.2.1\n unicast_peer {\n  192.0.2.2\n }\n".to_string(),
        " unicast_src_ip 192.0.2.2\n unicast_peer {\n  192.0.2.1\n }\n".to_string(),
    ];
    let v = p.vigil(2, 150, "1");
    p.wait_vip(&p.vg.clone(), Duration::from_secs(10));
    p.keepalived(2, 100, "1");
    std::thread::sleep(Duration::from_secs(5));
    assert!(!p.has_vip(&p.ka.clone()), "keepalived took the VIP: it does not hear vigil's unicast adverts");
    p.signal(v, "-TERM");
    let took = p.wait_vip(&p.ka.clone(), Duration::from_secs(5));
    eprintln!("unicast: vigil resigned -> keepalived owns the VIP after {took:?}");
    assert!(took < Duration::from_millis(2000), "{took:?}");
}

/// vigil's unicast_src_ip is a second address on its interface, and
/// keepalived checks that adverts come from a unicast peer
/// (`check_unicast_src`): vigil's leave from that address, not the
/// interface's first (where routing would send them from), so keepalived
/// hears them and stays backup.
#[test]
fn unicast_adverts_leave_from_unicast_src_ip() {
    let Some(mut p) = Pair::new("vrrp-uc-src") else { return };
    let vg = p.vg.clone();
    ip(&["-n", &vg, "addr", "add", "192.0.2.12/24", "dev", "vk-b"]);
    p.extra = [
        " unicast_src_ip 192.0.2.1\n check_unicast_src\n unicast_peer {\n  192.0.2.12\n }\n".to_string(),
        " unicast_src_ip 192.0.2.12\n unicast_peer {\n  192.0.2.1\n }\n".to_string(),
    ];
    p.vigil(2, 150, "1");
    p.wait_vip(&vg, Duration::from_secs(10));
    p.keepalived(2, 100, "1");
    std::thread::sleep(Duration::from_secs(5));
    let ka_log = std::fs::read_to_string(p.dir.join("ka.log")).unwrap_or_default();
    assert!(!p.has_vip(&p.ka.clone()), "keepalived took the VIP: vigil's adverts came from elsewhere\n{ka_log}");
}

/// Unicast peers routers apart (a cloud's subnets): keepalived's adverts
/// reach vigil with a TTL below 255 (here nf_tables in vigil's namespace
/// sets it to 61, as three hops would). keepalived checks the TTL only
/// without unicast peers; vigil takes them too and stays backup.
#[test]
fn a_unicast_peer_routers_away_is_heard() {
    let Some(mut p) = Pair::new("vrrp-uc-ttl") else { return };
    p.extra = [
        " unicast_src_ip 192.0.2.1\n unicast_peer {\n  192.0.2.2\n }\n".to_string(),
        " unicast_src_ip 192.0.2.2\n unicast_peer {\n  192.0.2.1\n }\n".to_string(),
    ];
    let vg = p.vg.clone();
    let nft = |rules: &str| {
        let ok = Command::new("ip")
            .args(["netns", "exec", &vg, "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(rules.as_bytes())?;
                c.wait()
            })
            .is_ok_and(|s| s.success());
        assert!(ok, "nft -f: {rules}");
    };
    nft(
        "table ip hops {\n chain pre {\n  type filter hook prerouting priority -300;\n  ip protocol vrrp ip ttl set 61\n }\n}\n",
    );
    p.keepalived(2, 150, "1");
    p.wait_vip(&p.ka.clone(), Duration::from_secs(10));
    p.vigil(2, 100, "1");
    std::thread::sleep(Duration::from_secs(5));
    let log = std::fs::read_to_string(p.dir.join("vigil.log")).unwrap_or_default();
    assert!(!p.has_vip(&vg), "vigil took the VIP: it dropped keepalived's adverts\n{log}");
    assert!(!log.contains("TTL 61"), "{log}");
    assert!(p.has_vip(&p.ka.clone()), "keepalived kept the VIP");
}

/// keepalived's `mcast_dst_ip` on both sides: vigil joins 224.0.0.19 and
/// checks the adverts against it (a receiver in the default group only
/// hears nothing and takes the VIP); its unicast adverts go with
/// `unicast_ttl` (counted by nf_tables in keepalived's namespace).
#[test]
fn a_multicast_group_of_its_own_and_the_unicast_ttl() {
    let Some(mut p) = Pair::new("vrrp-mcast") else { return };
    p.extra = [" mcast_dst_ip 224.0.0.19\n".to_string(), " mcast_dst_ip 224.0.0.19\n".to_string()];
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    let k = p.keepalived(3, 150, "1");
    p.wait_vip(&ka, Duration::from_secs(10));
    let v = p.vigil(3, 100, "1");
    std::thread::sleep(Duration::from_secs(5));
    let log = std::fs::read_to_string(p.dir.join("vigil.log")).unwrap_or_default();
    assert!(!p.has_vip(&vg), "vigil took the VIP: it did not hear keepalived on 224.0.0.19\n{log}");
    assert!(p.has_vip(&ka), "keepalived kept the VIP");
    p.kill_keepalived("-TERM");
    let _ = p.children[k].wait();
    let took = p.wait_vip(&vg, Duration::from_secs(10));
    eprintln!("224.0.0.19: keepalived stopped -> vigil owns the VIP after {took:?}");
    p.signal(v, "-TERM");
    let _ = p.children[v].wait();

    // Unicast with unicast_ttl 64: keepalived's side counts what arrives.
    let nft = |ns: &str, rules: &str| -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "nft"])
            .args(rules.split(' '))
            .output()
            .unwrap_or_else(|e| panic!("nft {rules}: {e}"));
        assert!(out.status.success(), "nft {rules}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    nft(&ka, "add table ip ttl");
    nft(&ka, "add chain ip ttl pre { type filter hook prerouting priority -300 ; }");
    nft(&ka, "add rule ip ttl pre ip protocol vrrp ip ttl 64 counter");
    nft(&ka, "add rule ip ttl pre ip protocol vrrp ip ttl != 64 counter");
    p.extra[1] = " unicast_src_ip 192.0.2.2\n unicast_ttl 64\n unicast_peer {\n  192.0.2.1\n }\n".to_string();
    let v = p.vigil(3, 200, "1");
    wait_log_for(&p, "BACKUP -> MASTER");
    std::thread::sleep(Duration::from_secs(2));
    p.signal(v, "-TERM");
    let _ = p.children[v].wait();
    let rules = nft(&ka, "list chain ip ttl pre");
    let packets: Vec<u64> =
        rules.lines().filter_map(|l| l.split("packets ").nth(1)?.split(' ').next()?.parse().ok()).collect();
    assert_eq!(packets.len(), 2, "{rules}");
    assert!(packets[0] >= 2 && packets[1] == 0, "adverts with TTL 64, none other:\n{rules}");
}

fn wait_log_for(p: &Pair, needle: &str) {
    vigil_tests::vrrp_pair::wait_log(&p.dir.join("vigil.log"), 0, needle);
}

/// `track_src_ip`: vigil's instance is in FAULT while its source address
/// is not on the system, and comes back (and takes the VIP) when it is.
#[test]
fn track_src_ip_faults_while_the_source_address_is_gone() {
    let Some(mut p) = Pair::new("vrrp-src") else { return };
    let vg = p.vg.clone();
    vigil_tests::vrrp_pair::ip(&["-n", &vg, "addr", "add", "192.0.2.22/24", "dev", "vk-b"]);
    p.extra[1] = " unicast_src_ip 192.0.2.22\n track_src_ip\n".to_string();
    let v = p.vigil(3, 150, "1");
    let took = p.wait_vip(&vg, Duration::from_secs(10));
    eprintln!("track_src_ip: master after {took:?}");
    vigil_tests::vrrp_pair::ip(&["-n", &vg, "addr", "del", "192.0.2.22/24", "dev", "vk-b"]);
    wait_log_for(&p, "VI_1: MASTER -> FAULT");
    assert!(!p.has_vip(&vg), "vigil kept the VIP in FAULT");
    vigil_tests::vrrp_pair::ip(&["-n", &vg, "addr", "add", "192.0.2.22/24", "dev", "vk-b"]);
    let took = p.wait_vip(&vg, Duration::from_secs(10));
    eprintln!("track_src_ip: the address back -> master again after {took:?}");
    p.signal(v, "-TERM");
}

/// VRRPv3 over IPv6 both ways: keepalived master, vigil backup takes over
/// when it is killed; then vigil master resigns and keepalived takes over.
#[test]
fn ipv6_v3_with_keepalived() {
    let Some(mut p) = Pair::new("vrrp-v6") else { return };
    p.vip = "2001:db8::100/64".to_string();
    let k = p.keepalived(3, 150, "0.5");
    p.wait_vip(&p.ka.clone(), Duration::from_secs(15));
    let v = p.vigil(3, 100, "0.5");
    std::thread::sleep(Duration::from_secs(4));
    assert!(!p.has_vip(&p.vg.clone()), "vigil took the VIP from a higher-priority IPv6 master");
    p.kill_keepalived("-KILL");
    let _ = p.children[k].wait();
    let took = p.wait_vip(&p.vg.clone(), Duration::from_secs(10));
    eprintln!("IPv6: keepalived killed -> vigil owns the VIP after {took:?}");
    // vigil (100) is master now; a keepalived at 50 stays backup, then
    // takes over when vigil resigns.
    // A SIGKILLed keepalived leaves its address and pid files behind.
    std::fs::remove_file(p.dir.join("ka.pid")).ok();
    std::fs::remove_file(p.dir.join("ka-vrrp.pid")).ok();
    ip(&["-n", &p.ka.clone(), "addr", "del", "2001:db8::100/64", "dev", "vk-a"]);
    p.keepalived(3, 50, "0.5");
    std::thread::sleep(Duration::from_secs(4));
    assert!(!p.has_vip(&p.ka.clone()), "keepalived did not hear vigil's IPv6 adverts");
    p.signal(v, "-TERM");
    let took = p.wait_vip(&p.ka.clone(), Duration::from_secs(5));
    eprintln!("IPv6: vigil resigned -> keepalived owns the VIP after {took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

/// track_interface with a weight and notify: vigil (150) is master; its
/// tracked interface loses carrier, its priority drops to 90, keepalived
/// (100) preempts; the carrier returns and vigil preempts back. The notify
/// program is called with keepalived's arguments.
#[test]
fn tracking_and_notify_with_keepalived() {
    let Some(mut p) = Pair::new("vrrp-trk") else { return };
    let vg = p.vg.clone();
    ip(&["-n", &vg, "link", "add", "trk0", "type", "veth", "peer", "name", "trk1"]);
    ip(&["-n", &vg, "link", "set", "trk0", "up"]);
    ip(&["-n", &vg, "link", "set", "trk1", "up"]);
    let (script, log) = vigil_tests::recording_program(&p.dir, "notify");
    p.extra[1] = format!(" track_interface {{\n  trk0 weight -60\n }}\n notify {}\n", script.display());
    p.vigil(2, 150, "1");
    p.wait_vip(&vg, Duration::from_secs(10));
    p.keepalived(2, 100, "1");
    std::thread::sleep(Duration::from_secs(3));
    assert!(!p.has_vip(&p.ka.clone()));
    let notified = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(notified.contains("INSTANCE VI_1 MASTER 150"), "{notified:?}");

    ip(&["-n", &vg, "link", "set", "trk1", "down"]); // trk0 loses its carrier
    let took = p.wait_vip(&p.ka.clone(), Duration::from_secs(8));
    eprintln!("tracked link down (150 -> 90) -> keepalived (100) preempts after {took:?}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!p.has_vip(&vg), "vigil kept the VIP after being preempted");
    let notified = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(notified.contains("INSTANCE VI_1 BACKUP 90"), "{notified:?}");

    ip(&["-n", &vg, "link", "set", "trk1", "up"]);
    let took = p.wait_vip(&vg, Duration::from_secs(8));
    eprintln!("tracked link up (90 -> 150) -> vigil preempts back after {took:?}");
}

/// Preemption against keepalived (v3): keepalived (100) is master alone;
/// vigil (150) joins and takes over at once (it preempts a lower master);
/// with `nopreempt` vigil (150) joins and stays backup.
#[test]
fn vigil_preempts_keepalived_unless_nopreempt() {
    let Some(mut p) = Pair::new("vrrp-pre") else { return };
    p.keepalived(3, 100, "0.2");
    p.wait_vip(&p.ka.clone(), Duration::from_secs(10));
    p.vigil(3, 150, "0.2");
    let took = p.wait_vip(&p.vg.clone(), Duration::from_secs(5));
    eprintln!("vigil (150) joined keepalived (100) -> preempted after {took:?}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(!p.has_vip(&p.ka.clone()), "keepalived gave the VIP up");
    drop(p); // both daemons stopped, namespaces gone

    let Some(mut p) = Pair::new("vrrp-nop") else { return };
    p.extra[1] = " nopreempt\n".to_string();
    p.keepalived(3, 100, "0.2");
    p.wait_vip(&p.ka.clone(), Duration::from_secs(10));
    p.vigil(3, 150, "0.2");
    std::thread::sleep(Duration::from_secs(3));
    assert!(p.has_vip(&p.ka.clone()) && !p.has_vip(&p.vg.clone()), "nopreempt: keepalived stays master");
}

/// A master that falls back to backup (keepalived joins with a higher
/// priority and preempts it) stops announcing the VIP at once: its burst of
/// gratuitous ARPs (50, 100 ms apart here) used to run on for the rest of
/// its 5 s, telling the LAN the VIP was at vigil's MAC while keepalived
/// held it.
#[test]
fn a_master_that_falls_back_stops_announcing_the_vip() {
    use vigil_tests::vrrp_pair::{VIP, capture_arp, mac_of, wait_log};
    let Some(mut p) = Pair::new("vrrp-garp") else { return };
    p.extra[1] = " garp_master_repeat 50\n garp_interval 0.1\n".to_string();
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    let vigil_mac = mac_of(&vg, "vk-b");
    // Built before the capture's clock starts (the first test to ask builds it).
    vigil_tests::firmware(vigil_board::Arch::X86_64);
    let cap = capture_arp(&ka, Duration::from_secs(7));
    p.vigil(3, 100, "0.2");
    p.wait_vip(&vg, Duration::from_secs(5));
    p.keepalived(3, 200, "0.2");
    wait_log(&p.dir.join("vigil.log"), 0, "VI_1: MASTER -> BACKUP");
    let fell = std::time::SystemTime::now();
    let arps = cap.join().unwrap();
    let vip: std::net::Ipv4Addr = VIP.parse().unwrap();
    let ours: Vec<_> = arps.iter().filter(|a| a.mac == vigil_mac && a.ip == vip).collect();
    assert!(ours.iter().any(|a| a.at < fell), "vigil announced the VIP while master: {arps:?}");
    let late = ours.iter().filter(|a| a.at > fell + Duration::from_millis(100)).count();
    assert_eq!(late, 0, "{late} gratuitous ARPs for the VIP from vigil after it fell back to backup");
}

/// One busy interface does not starve another: keepalived is master of
/// VRID 5 (0.1 s) on the second link, vigil its backup; for 3 s the first
/// link is flooded, as fast as a raw socket sends, with adverts for a VRID
/// nobody runs. Every advert is read and counted (`show vrrp`), and vigil's
/// backup on the second link never takes the master for dead.
#[test]
fn a_flood_on_one_interface_does_not_starve_another() {
    use std::io::Write;
    use vigil_tests::vrrp_pair::{KillOnDrop, Netns, spawn_keepalived};
    if !vigil_tests::require(vigil_tests::is_root(), "root (network namespaces)")
        || !vigil_tests::require(vigil_tests::have_program("keepalived"), "keepalived (apt-get install keepalived)")
    {
        return;
    }
    let dir = vigil_tests::test_dir("vrrp-flood");
    let (ka, vg) = (Netns::fresh("vrrp-flood-ka"), Netns::fresh("vrrp-flood-vg"));
    for (a, b, net) in [("fa0", "fb0", 1), ("fa1", "fb1", 2)] {
        ip(&["link", "add", a, "netns", &ka, "type", "veth", "peer", "name", b, "netns", &vg]);
        ip(&["-n", &ka, "addr", "add", &format!("198.18.{net}.1/24"), "dev", a]);
        ip(&["-n", &vg, "addr", "add", &format!("198.18.{net}.2/24"), "dev", b]);
        ip(&["-n", &ka, "link", "set", a, "up"]);
        ip(&["-n", &vg, "link", "set", b, "up"]);
    }
    let instance = |name: &str, iface: &str, vrid: u8, priority: u8, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n interface {iface}\n version 3\n virtual_router_id {vrid}\n priority {priority}\n advert_int 0.1\n virtual_ipaddress {{\n  {vip}/24\n }}\n}}\n"
        )
    };
    let kconf = dir.join("keepalived.conf");
    std::fs::write(&kconf, instance("K", "fa1", 5, 200, "198.18.2.100")).unwrap();
    let _k = KillOnDrop(spawn_keepalived(&ka, &kconf, &dir, "ka"));
    std::thread::sleep(Duration::from_secs(1));
    let vconf = dir.join("vigil.conf");
    let text = instance("BUSY", "fb0", 6, 100, "198.18.1.100") + &instance("WATCHED", "fb1", 5, 100, "198.18.2.100");
    std::fs::write(&vconf, text).unwrap();
    let console = dir.join("console.txt");
    let log = dir.join("vigil.log");
    let mut vigil = KillOnDrop(vigil_tests::vrrp_pair::spawn_vigil_with_console(&vg, &vconf, &log, Some(&console)));
    vigil_tests::vrrp_pair::wait_log(&log, 0, "vrrp_instance WATCHED: INIT -> BACKUP");
    std::thread::sleep(Duration::from_secs(1));
    // The flood, from keepalived's namespace on the first link.
    let sent = {
        let path = format!("/var/run/netns/{}", &*ka);
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::RAW, Some(socket2::Protocol::from(112)))
                .unwrap();
            s.bind_device(Some(b"fa0")).unwrap();
            s.set_multicast_ttl_v4(255).unwrap();
            s.set_multicast_if_v4(&"198.18.1.1".parse().unwrap()).unwrap();
            // VRRPv3, VRID 77, priority 100, one address, checksum not
            // checked by anyone: no instance runs VRID 77.
            let advert = [0x31, 77, 100, 1, 0, 10, 0, 0, 198, 18, 1, 77];
            let to = socket2::SockAddr::from(std::net::SocketAddr::from(([224, 0, 0, 18], 0)));
            let t = std::time::Instant::now();
            let mut n = 0u64;
            while t.elapsed() < Duration::from_secs(3) {
                if s.send_to(&advert, &to).is_ok() {
                    n += 1;
                }
            }
            n
        })
        .join()
        .unwrap()
    };
    std::thread::sleep(Duration::from_secs(1));
    let mut stdin = vigil.0.stdin.take().unwrap();
    writeln!(stdin, "show vrrp").unwrap();
    let shown = vigil_tests::eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&console).unwrap_or_default().contains("adverts for VRIDs no instance runs")
    });
    let text = std::fs::read_to_string(&console).unwrap_or_default();
    assert!(shown.is_some(), "{text}");
    let strays = text.lines().find(|l| l.starts_with("fb0 (IPv4): ")).unwrap_or_else(|| panic!("{text}"));
    let counted: u64 =
        strays.split(": ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    println!("flood: {sent} adverts sent in 3 s, {counted} read and counted");
    assert!(counted > 10_000, "the flood did not reach vigil: {strays}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains("WATCHED: BACKUP -> MASTER"), "the watched backup took over during the flood:\n{logged}");
}

/// The VIP follows a health script, both ways, the same vrrp_script on
/// each side (the Kubernetes control-plane HA shape: `weight -60`, the
/// script a test of a file standing for haproxy): keepalived (150) is
/// master while healthy; its script fails (90) and vigil (120) takes the
/// VIP; vigil's script fails too (60) and keepalived (90) takes it back;
/// keepalived recovers (150) and keeps it; vigil recovers (120) and stays
/// backup. A weight-0 script then puts vigil's instance in FAULT while it
/// fails.
#[test]
fn a_health_script_moves_the_vip_between_vigil_and_keepalived() {
    use vigil_tests::vrrp_pair::wait_log;
    let Some(mut p) = Pair::new("vrrp-scr") else { return };
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    let flag = |side: &str| p.dir.join(format!("healthy-{side}"));
    let (ka_flag, vg_flag) = (flag("ka"), flag("vg"));
    std::fs::write(&ka_flag, "").unwrap();
    std::fs::write(&vg_flag, "").unwrap();
    let script = |f: &std::path::Path, weight: i32| {
        format!(
            "vrrp_script chk_haproxy {{\n script \"/usr/bin/test -e {}\"\n interval 1\n weight {weight}\n rise 1\n fall 1\n}}\n",
            f.display()
        )
    };
    p.top = [script(&ka_flag, -60), script(&vg_flag, -60)];
    let track = " track_script {\n  chk_haproxy\n }\n".to_string();
    p.extra = [track.clone(), track];
    p.keepalived(2, 150, "1");
    p.wait_vip(&ka, Duration::from_secs(10));
    let v = p.vigil(2, 120, "1");
    let log = p.dir.join("vigil.log");
    wait_log(&log, 0, "vrrp_script chk_haproxy: succeeding (exit status 0)");
    std::thread::sleep(Duration::from_secs(3));
    assert!(p.has_vip(&ka) && !p.has_vip(&vg), "keepalived (150) is master while both are healthy");

    std::fs::remove_file(&ka_flag).unwrap();
    let took = p.wait_vip(&vg, Duration::from_secs(10));
    eprintln!("keepalived's script fails (150 -> 90) -> vigil (120) takes the VIP after {took:?}");

    std::fs::remove_file(&vg_flag).unwrap();
    let took = p.wait_vip(&ka, Duration::from_secs(10));
    eprintln!("vigil's script fails (120 -> 60) -> keepalived (90) takes the VIP back after {took:?}");
    let (_, line) = wait_log(&log, 0, "vrrp_script chk_haproxy: failing");
    assert!(line.contains("(exit status 1)"), "{line}");
    wait_log(&log, 0, "priority 120 -> 60 (tracking)");
    assert!(!p.has_vip(&vg), "vigil kept the VIP at priority 60");

    std::fs::write(&ka_flag, "").unwrap();
    std::fs::write(&vg_flag, "").unwrap();
    wait_log(&log, 0, "priority 60 -> 120 (tracking)");
    // Whichever script sees its file first moves first: when vigil's does
    // (120 over keepalived's 90), vigil preempts, and keepalived (150)
    // takes the VIP back once its own script has run and its master-down
    // timer (3.4 s) ran out: up to about 5 s.
    let settled = vigil_tests::eventually(Duration::from_secs(10), || p.has_vip(&ka) && !p.has_vip(&vg));
    assert!(settled.is_some(), "both healthy again: keepalived (150) is master");

    p.signal(v, "-TERM");
    let _ = p.children[v].wait();

    // Weight 0: FAULT while failing, back when it succeeds. vigil (200) is
    // master over keepalived (150) while healthy.
    p.top[1] = script(&vg_flag, 0);
    let v = p.vigil(2, 200, "1");
    let took = p.wait_vip(&vg, Duration::from_secs(10));
    eprintln!("weight 0, healthy: vigil (200) preempts after {took:?}");
    std::fs::remove_file(&vg_flag).unwrap();
    let took = p.wait_vip(&ka, Duration::from_secs(10));
    eprintln!("weight 0, failing: vigil in FAULT -> keepalived takes the VIP after {took:?}");
    wait_log(&log, 0, "VI_1: MASTER -> FAULT");
    assert!(!p.has_vip(&vg), "vigil kept the VIP in FAULT");
    std::fs::write(&vg_flag, "").unwrap();
    let took = p.wait_vip(&vg, Duration::from_secs(10));
    eprintln!("weight 0, healthy again: vigil leaves FAULT and preempts after {took:?}");
    p.signal(v, "-TERM");
}

/// Routes, rules and excluded addresses move with the state; static ones
/// stay while vigil runs: vigil (150) is master and has its virtual routes
/// (a gateway route and a blackhole, marked `proto keepalived`), its rule
/// and its excluded address; keepalived (200) preempts and they go; the
/// static route and rule stay until vigil stops.
#[test]
fn virtual_routes_follow_the_master_and_static_routes_stay() {
    let Some(mut p) = Pair::new("vrrp-rt") else { return };
    let vg = p.vg.clone();
    let routes = |ns: &str| -> String {
        let out = Command::new("ip").args(["-n", ns, "route", "show", "table", "all"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let addrs = |ns: &str| -> String {
        let out = Command::new("ip").args(["-n", ns, "addr", "show"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let rules = |ns: &str| -> String {
        let out = Command::new("ip").args(["-n", ns, "rule", "show"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    p.top[1] = "static_routes {\n 198.18.50.0/24 dev vk-b\n}\nstatic_rules {\n from 198.18.50.0/24 priority 1001 table 101\n}\n".to_string();
    p.extra[1] = " virtual_ipaddress_excluded {\n  192.0.2.201/24\n }\n virtual_routes {\n  198.51.100.0/24 via 192.0.2.254 dev vk-b metric 7\n  blackhole 203.0.113.0/24 table 100\n }\n virtual_rules {\n  from 192.0.2.100 priority 1000 table 100\n }\n".to_string();
    let v = p.vigil(3, 150, "0.5");
    p.wait_vip(&vg, Duration::from_secs(10));
    let up = vigil_tests::eventually(Duration::from_secs(5), || {
        let r = routes(&vg);
        r.contains("198.51.100.0/24 via 192.0.2.254 dev vk-b proto keepalived metric 7")
            && r.contains("blackhole 203.0.113.0/24 table 100 proto keepalived")
    });
    assert!(up.is_some(), "the master's routes are not there:\n{}", routes(&vg));
    assert!(routes(&vg).contains("198.18.50.0/24 dev vk-b proto keepalived scope link"), "{}", routes(&vg));
    assert!(addrs(&vg).contains("inet 192.0.2.201/24"), "{}", addrs(&vg));
    assert!(rules(&vg).contains("1000:\tfrom 192.0.2.100 lookup 100 proto keepalived"), "{}", rules(&vg));
    assert!(rules(&vg).contains("1001:\tfrom 198.18.50.0/24 lookup 101 proto keepalived"), "{}", rules(&vg));

    p.keepalived(3, 200, "0.5");
    let gone = vigil_tests::eventually(Duration::from_secs(10), || {
        let r = routes(&vg);
        !r.contains("198.51.100.0/24") && !r.contains("203.0.113.0/24") && !addrs(&vg).contains("192.0.2.201")
    });
    assert!(
        gone.is_some(),
        "routes or the excluded address stayed after the fall to backup:\n{}\n{}",
        routes(&vg),
        addrs(&vg)
    );
    eprintln!("keepalived preempted: vigil's virtual routes and excluded address gone after {gone:?}");
    assert!(routes(&vg).contains("198.18.50.0/24 dev vk-b"), "the static route went with the state:\n{}", routes(&vg));
    assert!(!rules(&vg).contains("192.0.2.100"), "the virtual rule stayed:\n{}", rules(&vg));
    assert!(rules(&vg).contains("1001:"), "the static rule went with the state:\n{}", rules(&vg));
    let log = std::fs::read_to_string(p.dir.join("vigil.log")).unwrap_or_default();
    assert!(log.contains("added route 198.51.100.0/24 via 192.0.2.254 dev vk-b metric 7"), "{log}");
    assert!(log.contains("removed route blackhole 203.0.113.0/24 table 100"), "{log}");

    p.signal(v, "-TERM");
    let _ = p.children[v].wait();
    assert!(!routes(&vg).contains("198.18.50.0/24"), "the static route stayed after vigil stopped:\n{}", routes(&vg));
    assert!(!rules(&vg).contains("1001:"), "the static rule stayed after vigil stopped:\n{}", rules(&vg));
}

/// track_process: vigil (150) tracks a daemon (a copy of `sleep` under a
/// name of its own, so nothing else on the machine counts) with weight
/// -60. While it runs vigil is master over keepalived (100); when it is
/// killed vigil drops to 90 and keepalived takes the VIP; when it runs
/// again vigil takes it back.
#[test]
fn a_tracked_process_moves_the_vip() {
    use vigil_tests::vrrp_pair::{KillOnDrop, wait_log};
    let Some(mut p) = Pair::new("vrrp-proc") else { return };
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    let daemon = p.dir.join("vigil-trk-dmn");
    std::fs::copy("/bin/sleep", &daemon).unwrap();
    let start = || KillOnDrop(Command::new(&daemon).arg("600").spawn().unwrap());
    let mut running = Some(start());
    p.top[1] = "vrrp_track_process dmn {\n process vigil-trk-dmn\n weight -60\n}\n".to_string();
    p.extra[1] = " track_process {\n  dmn\n }\n".to_string();
    p.vigil(3, 150, "0.5");
    p.wait_vip(&vg, Duration::from_secs(10));
    let log = p.dir.join("vigil.log");
    wait_log(&log, 0, "vrrp_track_process dmn: in quorum (1 running)");
    p.keepalived(3, 100, "0.5");
    std::thread::sleep(Duration::from_secs(2));
    assert!(p.has_vip(&vg) && !p.has_vip(&ka), "vigil (150) is master while the daemon runs");

    drop(running.take());
    let took = p.wait_vip(&ka, Duration::from_secs(10));
    eprintln!("tracked process killed (150 -> 90) -> keepalived (100) takes the VIP after {took:?}");
    wait_log(&log, 0, "vrrp_track_process dmn: out of quorum (0 running)");
    wait_log(&log, 0, "priority 150 -> 90 (tracking)");

    running = Some(start());
    let took = p.wait_vip(&vg, Duration::from_secs(10));
    eprintln!("tracked process back (90 -> 150) -> vigil takes the VIP back after {took:?}");
    assert!(running.is_some());
}

/// track_file, the maintenance switch: vigil (150) tracks a file with
/// weight -1 (init_file creates it with 0); writing 100 to it drops vigil
/// to 50 and keepalived (100) takes the VIP; writing 0 gives it back.
/// A sync group's weighted tracking moves its members' priorities, as
/// keepalived 2.2.7 runs it (vigil used to refuse weights in a sync group).
#[test]
fn a_sync_groups_weighted_track_moves_the_vip() {
    let Some(mut p) = Pair::new("vrrp-group-file") else { return };
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    let file = p.dir.join("maint");
    p.top[1] = format!(
        "vrrp_track_file maint {{\n file {}\n init_file 0\n}}\n\
         vrrp_sync_group G {{\n group {{\n  VI_1\n }}\n track_file {{\n  maint weight -1\n }}\n}}\n",
        file.display()
    );
    p.vigil(3, 150, "0.5");
    p.wait_vip(&vg, Duration::from_secs(10));
    p.keepalived(3, 100, "0.5");
    std::thread::sleep(Duration::from_secs(2));
    assert!(p.has_vip(&vg) && !p.has_vip(&ka), "vigil (150) is master");
    std::fs::write(&file, "100\n").unwrap();
    let took = p.wait_vip(&ka, Duration::from_secs(10));
    eprintln!("sync group track_file 100 (150 -> 50) -> keepalived (100) takes the VIP after {took:?}");
    vigil_tests::vrrp_pair::wait_log(&p.dir.join("vigil.log"), 0, "priority 150 -> 50 (tracking)");
    std::fs::write(&file, "0\n").unwrap();
    let took = p.wait_vip(&vg, Duration::from_secs(10));
    eprintln!("sync group track_file 0 (50 -> 150) -> vigil takes the VIP back after {took:?}");
}

#[test]
fn a_tracked_file_moves_the_vip() {
    use vigil_tests::vrrp_pair::wait_log;
    let Some(mut p) = Pair::new("vrrp-file") else { return };
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    let file = p.dir.join("maint");
    p.top[1] = format!("vrrp_track_file maint {{\n file {}\n weight -1\n init_file 0\n}}\n", file.display());
    p.extra[1] = " track_file {\n  maint\n }\n".to_string();
    p.vigil(3, 150, "0.5");
    p.wait_vip(&vg, Duration::from_secs(10));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "0\n", "init_file did not create it");
    p.keepalived(3, 100, "0.5");
    std::thread::sleep(Duration::from_secs(2));
    assert!(p.has_vip(&vg) && !p.has_vip(&ka), "vigil (150) is master");

    std::fs::write(&file, "100\n").unwrap();
    let took = p.wait_vip(&ka, Duration::from_secs(10));
    eprintln!("track_file 100 (150 -> 50) -> keepalived (100) takes the VIP after {took:?}");
    let log = p.dir.join("vigil.log");
    wait_log(&log, 0, "vrrp_track_file maint: 0 -> 100");
    wait_log(&log, 0, "priority 150 -> 50 (tracking)");

    std::fs::write(&file, "0\n").unwrap();
    let took = p.wait_vip(&vg, Duration::from_secs(10));
    eprintln!("track_file 0 (50 -> 150) -> vigil takes the VIP back after {took:?}");
}

/// keepalived's notify words as instances leave: a commit that removes an
/// instance says FAULT to its `notify` (DELETED, and its own program, with
/// `notify_deleted`); a changed one says nothing as it restarts (keepalived
/// keeps it running); vigil stopping says STOP (it said INIT before).
#[test]
fn notify_says_deleted_fault_and_stop_as_keepalived_does() {
    use std::io::Write;
    let Some(p) = Pair::new("vrrp-del") else { return };
    let (note, notes) = vigil_tests::recording_program(&p.dir, "note");
    let n = note.display();
    let instance = |name: &str, vrid: u8, extra: &str| {
        format!(
            "vrrp_instance {name} {{\n interface vk-b\n virtual_router_id {vrid}\n priority 255\n advert_int 1\n notify {n}\n{extra} virtual_ipaddress {{\n  192.0.2.{vrid}/24\n }}\n}}\n"
        )
    };
    let text = instance("VI_1", 61, "")
        + &instance("VI_2", 62, &format!(" notify_deleted \"{n} deleted-program\"\n"))
        + &instance("VI_3", 63, "");
    let conf = p.dir.join("vigil.conf");
    std::fs::write(&conf, text).unwrap();
    let console = p.dir.join("console.txt");
    let log = p.dir.join("vigil.log");
    let mut vigil = KillOnDrop(vigil_tests::vrrp_pair::spawn_vigil_with_console(&p.vg, &conf, &log, Some(&console)));
    let lines =
        || -> Vec<String> { std::fs::read_to_string(&notes).unwrap_or_default().lines().map(str::to_string).collect() };
    let masters = vigil_tests::eventually(Duration::from_secs(10), || {
        lines().iter().filter(|l| l.ends_with("MASTER 255")).count() == 3
    });
    assert!(masters.is_some(), "{:?}", lines());
    let mut stdin = vigil.0.stdin.take().unwrap();
    for cmd in
        ["delete vrrp_instance VI_2", "delete vrrp_instance VI_3", "set vrrp_instance VI_1 advert_int 2", "commit"]
    {
        writeln!(stdin, "{cmd}").unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let left = vigil_tests::eventually(Duration::from_secs(10), || {
        let l = lines();
        l.contains(&"INSTANCE VI_2 DELETED 255".to_string()) && l.contains(&"INSTANCE VI_3 FAULT 255".to_string())
    });
    assert!(left.is_some(), "{:?}\n{}", lines(), std::fs::read_to_string(&console).unwrap_or_default());
    assert!(lines().contains(&"deleted-program".to_string()), "{:?}", lines());
    // VI_1 changed: it restarts (and is master again) without a word of
    // leaving.
    let again = vigil_tests::eventually(Duration::from_secs(10), || {
        lines().iter().filter(|l| l.as_str() == "INSTANCE VI_1 MASTER 255").count() == 2
    });
    assert!(again.is_some(), "{:?}", lines());
    assert!(!lines().iter().any(|l| l.starts_with("INSTANCE VI_1 ") && !l.contains("MASTER")), "{:?}", lines());
    Command::new("kill").args(["-TERM", &vigil.0.id().to_string()]).status().unwrap();
    let _ = vigil.0.wait();
    let stop =
        vigil_tests::eventually(Duration::from_secs(5), || lines().contains(&"INSTANCE VI_1 STOP 255".to_string()));
    assert!(stop.is_some(), "{:?}", lines());
}

/// An instance on an interface made later (a VLAN, a bond) waits for it,
/// saying so, and starts when it appears (keepalived needs
/// `dynamic_interfaces` for this; vigil always does it).
#[test]
fn an_instance_waits_for_its_interface() {
    use vigil_tests::vrrp_pair::{Netns, spawn_vigil, wait_log};
    if !vigil_tests::require(vigil_tests::is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("vrrp-late-if");
    let ns = Netns::fresh("vrrp-late");
    let conf = dir.join("vigil.conf");
    std::fs::write(
        &conf,
        "vrrp_instance LATE {\n interface late0\n virtual_router_id 7\n priority 255\n advert_int 1\n virtual_ipaddress {\n  192.0.2.77/24\n }\n}\n",
    )
    .unwrap();
    let log = dir.join("vigil.log");
    let _vigil = KillOnDrop(spawn_vigil(&ns.0, &conf, &log));
    let (at, _) = wait_log(&log, 0, "vrrp_instance LATE: waiting: no interface late0 (it starts when there is)");
    std::thread::sleep(Duration::from_secs(1));
    ip(&["-n", &ns.0, "link", "add", "late0", "type", "veth", "peer", "name", "late1"]);
    ip(&["-n", &ns.0, "addr", "add", "192.0.2.9/24", "dev", "late0"]);
    ip(&["-n", &ns.0, "link", "set", "late1", "up"]);
    ip(&["-n", &ns.0, "link", "set", "late0", "up"]);
    let (_, line) = wait_log(&log, at, "vrrp_instance LATE: ");
    assert!(line.contains("on late0 from 192.0.2.9"), "{line}");
    wait_log(&log, at, "vrrp_instance LATE: INIT -> MASTER");
    let has = vigil_tests::eventually(Duration::from_secs(5), || {
        let out = Command::new("ip").args(["-n", &ns.0, "addr", "show", "late0"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains("192.0.2.77/24")
    });
    assert!(has.is_some(), "the VIP did not come");
}

/// A VIP with `dev` on another interface is announced there, from that
/// interface's MAC (an LVS-NAT router's inside gateway): hosts on that link
/// learn the new master at once. vigil announced it on the instance's
/// interface, with that interface's MAC, before.
#[test]
fn a_vip_on_another_interface_is_announced_there() {
    use vigil_tests::vrrp_pair::{capture_arp, mac_of};
    let Some(mut p) = Pair::new("vrrp-dev") else { return };
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    ip(&["link", "add", "vl-a", "netns", &ka, "type", "veth", "peer", "name", "vl-b", "netns", &vg]);
    ip(&["-n", &ka, "addr", "add", "10.9.0.1/24", "dev", "vl-a"]);
    ip(&["-n", &ka, "link", "set", "vl-a", "up"]);
    ip(&["-n", &vg, "addr", "add", "10.9.0.2/24", "dev", "vl-b"]);
    ip(&["-n", &vg, "link", "set", "vl-b", "up"]);
    p.vip = "192.0.2.100/24\n  10.9.0.100/24 dev vl-b".to_string();
    // One announcement on taking over, then (garp_extra_if) the inside one
    // again every 2 s.
    p.extra[1] = " garp_master_repeat 1\n garp_master_delay 0\n garp_extra_if all 2\n".to_string();
    // vigil (150, alone) takes over after its master-down timer (3.4 s).
    let v = p.vigil(2, 150, "1");
    let arps = capture_arp(&ka, Duration::from_secs(10)).join().unwrap();
    p.signal(v, "-TERM");
    let (outside, inside) = (mac_of(&vg, "vk-b"), mac_of(&vg, "vl-b"));
    let from = |ip: &str| -> Vec<[u8; 6]> {
        let ip: std::net::Ipv4Addr = ip.parse().unwrap();
        arps.iter().filter(|a| a.ip == ip).map(|a| a.mac).collect()
    };
    let (vip, gw) = (from("192.0.2.100"), from("10.9.0.100"));
    assert!(!vip.is_empty() && vip.iter().all(|m| *m == outside), "{arps:?}");
    assert!(
        !gw.is_empty() && gw.iter().all(|m| *m == inside),
        "the inside VIP from {gw:02x?}, not vl-b's {inside:02x?}"
    );
    assert_eq!(vip.len(), 1, "{arps:?}");
    assert!(gw.len() >= 3, "garp_extra_if: {} announcements of the inside VIP in 10 s: {arps:?}", gw.len());
}

/// What keepalived puts in the kernel for its addresses, routes and rules
/// with their `ip` options, vigil puts there the same: each master in turn
/// (keepalived alone, then vigil alone, on the same config), and every
/// line of `ip address`, `ip route` and `ip rule` that names them is the
/// same (interface names aside). A named vmac with its own MAC and
/// `vmac_xmit_base` (adverts from the base interface's MAC) too.
#[test]
fn address_route_and_rule_options_reach_the_kernel_as_keepalived_puts_them() {
    use vigil_tests::vrrp_pair::mac_of;
    let Some(mut p) = Pair::new("vrrp-opts") else { return };
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    // A second link, for an address on another interface than the
    // instance's (keepalived puts those of its own on the vmac).
    ip(&["link", "add", "vx-a", "netns", &ka, "type", "veth", "peer", "name", "vx-b", "netns", &vg]);
    ip(&["-n", &ka, "link", "set", "vx-a", "up"]);
    ip(&["-n", &vg, "link", "set", "vx-b", "up"]);
    let extra = |dev: &str| {
        let dev2 = dev.replace("vk", "vx");
        format!(
            " use_vmac vrrp.opt 02:00:00:00:33\n vmac_xmit_base\n\
             virtual_ipaddress_excluded {{\n  198.18.0.10/24 dev {dev2} scope link noprefixroute label {dev2}:x\n  192.0.2.211/32 dev {dev} peer 192.0.2.212 preferred_lft 0\n }}\n\
             virtual_routes {{\n  198.51.100.0/24 via 192.0.2.254 dev {dev} protocol static mtu lock 1400 advmss 1360 no_track\n  203.0.113.0/24 table 100 nexthop via 192.0.2.251 dev {dev} weight 1 nexthop via 192.0.2.252 dev {dev} weight 2\n  172.16.0.0/12 via 192.0.2.254 dev {dev} realms 2/3 tos 0x10\n }}\n\
             virtual_rules {{\n  from 192.0.2.0/24 ipproto tcp dport 443-443 table 100 priority 90\n  from 10.20.0.0/16 uidrange 1000-1999 priority 95 goto 100\n  to 10.30.0.0/16 sport 1000-2000 tos 8 priority 96 table 100\n }}\n"
        )
    };
    p.extra = [extra("vk-a"), extra("vk-b")];
    let show = |ns: &str, args: &[&str]| -> String {
        let out = Command::new("ip").args(["-n", ns]).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.replace("vk-a", "DEV").replace("vk-b", "DEV").replace("vx-a", "DEV2").replace("vx-b", "DEV2")
    };
    // The lines that name what the config asked for, interface names as DEV.
    let state = |ns: &str| -> Vec<String> {
        let mut lines = Vec::new();
        for (args, keys) in [
            (&["-o", "addr", "show"][..], &["198.18.0.10", "192.0.2.211", "192.0.2.100"][..]),
            (&["route", "show", "table", "all"][..], &["198.51.100.0", "203.0.113.0", "172.16.0.0", "nexthop"][..]),
            (&["rule", "show"][..], &["192.0.2.0/24", "10.20.0.0", "10.30.0.0"][..]),
        ] {
            let text = show(ns, args);
            lines.extend(
                text.lines()
                    .filter(|l| keys.iter().any(|k| l.contains(k)))
                    // `valid_lft`/`preferred_lft` count down; the words stay.
                    .map(|l| l.split_whitespace().filter(|w| !w.ends_with("sec")).collect::<Vec<_>>().join(" ")),
            );
        }
        lines
    };
    let master = |ns: &str| {
        let full =
            |s: &[String]| s.iter().any(|l| l.contains("192.0.2.100")) && s.iter().any(|l| l.contains("10.30.0.0"));
        vigil_tests::eventually(Duration::from_secs(10), || full(&state(ns)))?;
        std::thread::sleep(Duration::from_millis(500)); // the rest of what it sets as it becomes master
        Some(state(ns))
    };
    let k = p.keepalived(3, 150, "0.5");
    let theirs = master(&ka).unwrap_or_else(|| panic!("keepalived did not become master:\n{:?}", state(&ka)));
    let vmac_ka = mac_of(&ka, "vrrp.opt");
    p.kill_keepalived("-TERM");
    let _ = p.children[k].wait();
    p.vigil(3, 150, "0.5");
    let ours = master(&vg).unwrap_or_else(|| panic!("vigil did not become master:\n{:?}", state(&vg)));
    eprintln!("keepalived:\n{}\nvigil:\n{}", theirs.join("\n"), ours.join("\n"));
    assert_eq!(ours, theirs, "vigil's addresses, routes and rules differ from keepalived's");
    for want in ["mtu lock 1400", "nexthop via 192.0.2.252 dev DEV weight 2", "realms 2/3", "ipproto tcp dport 443"] {
        assert!(ours.iter().any(|l| l.contains(want)), "{want:?} is not in the kernel: {ours:#?}");
    }
    assert_eq!(mac_of(&vg, "vrrp.opt"), [2, 0, 0, 0, 0x33, 51]);
    assert_eq!(vmac_ka, [2, 0, 0, 0, 0x33, 51], "keepalived's vmac MAC");
}

/// A master's virtual address removed by hand (`ip addr del`): vigil
/// resigns with priority 0 as keepalived does, so keepalived (the backup)
/// takes the VIP at once instead of the clients losing it while vigil
/// stays master without it; vigil (higher priority) then takes it back,
/// address and all.
#[test]
fn a_master_whose_vip_is_removed_resigns_and_comes_back() {
    use vigil_tests::vrrp_pair::wait_log;
    let Some(mut p) = Pair::new("vrrp-vipgone") else { return };
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    p.vigil(3, 150, "1");
    p.wait_vip(&vg, Duration::from_secs(10));
    p.keepalived(3, 100, "1");
    std::thread::sleep(Duration::from_secs(3));
    assert!(p.has_vip(&vg) && !p.has_vip(&ka), "vigil (150) is master");
    let vip = p.vip.clone();
    ip(&["-n", &vg, "addr", "del", &vip, "dev", "vk-b"]);
    let took = p.wait_vip(&ka, Duration::from_secs(3));
    eprintln!("VIP removed under vigil: keepalived took it after {took:?}");
    let log = p.dir.join("vigil.log");
    wait_log(&log, 0, "192.0.2.100 was removed from the system while master: resigning");
    wait_log(&log, 0, "MASTER -> BACKUP");
    let back = p.wait_vip(&vg, Duration::from_secs(10));
    eprintln!("vigil (150) preempted keepalived (100) and added the VIP back after {back:?}");
}

/// A static address someone removes (`ip addr del`) is put back, as
/// keepalived puts it back ("Restoring deleted static address"): each on
/// its side, the same config.
#[test]
fn a_removed_static_address_is_put_back_as_keepalived_puts_it_back() {
    use vigil_tests::vrrp_pair::wait_log;
    let Some(mut p) = Pair::new("vrrp-static") else { return };
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    p.top = [
        "static_ipaddress {\n 198.51.100.1/24 dev vk-a\n}\n".to_string(),
        "static_ipaddress {\n 198.51.100.2/24 dev vk-b\n}\n".to_string(),
    ];
    p.keepalived(3, 100, "1");
    p.vigil(3, 150, "1");
    let has = |ns: &str, a: &str| {
        let out = Command::new("ip").args(["-n", ns, "-4", "addr", "show"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&format!("inet {a} "))
    };
    for (ns, a) in [(&ka, "198.51.100.1/24"), (&vg, "198.51.100.2/24")] {
        let set = vigil_tests::eventually(Duration::from_secs(10), || has(ns, a));
        assert!(set.is_some(), "{a} never set in {ns}");
    }
    ip(&["-n", &ka, "addr", "del", "198.51.100.1/24", "dev", "vk-a"]);
    ip(&["-n", &vg, "addr", "del", "198.51.100.2/24", "dev", "vk-b"]);
    let back_ka = vigil_tests::eventually(Duration::from_secs(5), || has(&ka, "198.51.100.1/24"));
    let back_vg = vigil_tests::eventually(Duration::from_secs(5), || has(&vg, "198.51.100.2/24"));
    assert!(back_ka.is_some(), "keepalived did not put it back (the test's premise)");
    assert!(back_vg.is_some(), "vigil did not put it back");
    wait_log(&p.dir.join("vigil.log"), 0, "static address 198.51.100.2/24 was removed: restoring it");
    eprintln!("a static address removed: back after {back_ka:?} (keepalived), {back_vg:?} (vigil)");
}

/// Routes and rules removed by hand, as keepalived follows them, each
/// router on its side with the same static ones: a static route or rule
/// someone deletes (`ip route del`, `ip rule del`) is put back, by both;
/// vigil's master whose virtual route is deleted resigns with priority 0,
/// so keepalived (the backup) takes the VIP at once, and vigil (higher)
/// takes it back, route and all.
#[test]
fn removed_routes_and_rules_are_followed_as_keepalived_follows_them() {
    use vigil_tests::vrrp_pair::wait_log;
    let Some(mut p) = Pair::new("vrrp-rtgone") else { return };
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    let show = |ns: &str, what: &str| -> String {
        let out = Command::new("ip").args(["-n", ns, what, "show"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for (side, dev) in [(0, "vk-a"), (1, "vk-b")] {
        p.top[side] = format!(
            "static_routes {{\n 198.18.60.0/24 dev {dev}\n}}\nstatic_rules {{\n from 198.18.60.0/24 priority 1101 table 101\n}}\n"
        );
        p.extra[side] = format!(" virtual_routes {{\n  198.51.100.0/24 via 192.0.2.254 dev {dev}\n }}\n");
    }
    p.vigil(3, 150, "0.5");
    p.wait_vip(&vg, Duration::from_secs(10));
    p.keepalived(3, 100, "0.5");
    for ns in [&ka, &vg] {
        let set = vigil_tests::eventually(Duration::from_secs(10), || {
            show(ns, "route").contains("198.18.60.0/24") && show(ns, "rule").contains("1101:")
        });
        assert!(set.is_some(), "the static route and rule never set in {ns}");
    }
    assert!(show(&vg, "route").contains("198.51.100.0/24 via 192.0.2.254"), "{}", show(&vg, "route"));
    std::thread::sleep(Duration::from_secs(2));

    for (ns, dev) in [(&ka, "vk-a"), (&vg, "vk-b")] {
        ip(&["-n", ns, "route", "del", "198.18.60.0/24", "dev", dev]);
        ip(&["-n", ns, "rule", "del", "priority", "1101"]);
    }
    for ns in [&ka, &vg] {
        let who = if *ns == ka { "keepalived (the test's premise)" } else { "vigil" };
        let back = vigil_tests::eventually(Duration::from_secs(5), || show(ns, "route").contains("198.18.60.0/24"));
        assert!(back.is_some(), "{who} did not put the static route back:\n{}", show(ns, "route"));
    }
    // keepalived 2.2.7 leaves a deleted static rule deleted (it puts back
    // addresses and routes only); vigil puts it back like the others.
    let back = vigil_tests::eventually(Duration::from_secs(5), || show(&vg, "rule").contains("1101:"));
    assert!(back.is_some(), "vigil did not put the static rule back:\n{}", show(&vg, "rule"));
    eprintln!("keepalived put its static rule back: {}", show(&ka, "rule").contains("1101:"));
    let log = p.dir.join("vigil.log");
    wait_log(&log, 0, "static route 198.18.60.0/24 dev vk-b was removed: restoring it");
    wait_log(&log, 0, "static rule from 198.18.60.0/24 priority 1101 table 101 was removed: restoring it");
    assert!(p.has_vip(&vg) && !p.has_vip(&ka), "a static route or rule moved the VIP");

    ip(&["-n", &vg, "route", "del", "198.51.100.0/24"]);
    let took = p.wait_vip(&ka, Duration::from_secs(3));
    eprintln!("vigil's virtual route removed under it: keepalived took the VIP after {took:?}");
    wait_log(
        &log,
        0,
        "route 198.51.100.0/24 via 192.0.2.254 dev vk-b was removed from the system while master: resigning (priority 0)",
    );
    let back = p.wait_vip(&vg, Duration::from_secs(10));
    let route = vigil_tests::eventually(Duration::from_secs(5), || show(&vg, "route").contains("198.51.100.0/24"));
    assert!(route.is_some(), "vigil is master again without its route:\n{}", show(&vg, "route"));
    eprintln!("vigil took the VIP back (and set its route) after {back:?}");
}

/// Removals in an overrun: vigil's VRRP child is stopped while the kernel
/// sends its route and link monitors far more than their sockets hold (2,000
/// routes and 2,000 addresses added: a large routing change), then a static
/// route, rule and address and the master's virtual route are deleted; those
/// messages are dropped. Let go, the child finds its sockets overran, reads
/// the kernel's routes, rules and addresses again, puts the static ones back
/// and resigns for the virtual route, as it does for a removal it was told of.
/// (vigil alone: keepalived's behaviour is not the question here.)
#[test]
fn removals_dropped_in_an_overrun_are_found_by_reading_the_kernel_again() {
    use vigil_tests::vrrp_pair::{pid_in, wait_log};
    let Some(mut p) = Pair::new("vrrp-overrun") else { return };
    let vg = p.vg.clone();
    let show = |what: &[&str]| -> String {
        let out = Command::new("ip").args(["-n", &vg]).args(what).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    p.top[1] = "vigil_defs {\n heartbeat_limit_ms 60000\n}\n\
        static_ipaddress {\n 198.18.99.2/24 dev vk-b\n}\n\
        static_routes {\n 198.18.60.0/24 dev vk-b\n}\n\
        static_rules {\n from 198.18.60.0/24 priority 1101 table 101\n}\n"
        .to_string();
    p.extra[1] = " virtual_routes {\n  198.51.100.0/24 via 192.0.2.254 dev vk-b\n }\n".to_string();
    p.vigil(3, 150, "0.5");
    p.wait_vip(&vg, Duration::from_secs(10));
    let all_set = || {
        let (routes, rules, addrs) = (show(&["route", "show"]), show(&["rule", "show"]), show(&["-4", "addr", "show"]));
        routes.contains("198.18.60.0/24 dev vk-b")
            && routes.contains("198.51.100.0/24 via 192.0.2.254")
            && rules.contains("1101:")
            && addrs.contains("inet 198.18.99.2/24 ")
    };
    assert!(vigil_tests::eventually(Duration::from_secs(10), all_set).is_some(), "{}", show(&["route", "show"]));
    let log = p.dir.join("vigil.log");
    let (at, line) = wait_log(&log, 0, "supervise: vrrp child started (pid ");
    let child = nix::unistd::Pid::from_raw(pid_in(&line) as i32);

    nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let mut batch = String::new();
    for i in 0..2000 {
        batch += &format!("route add 10.200.{}.{}/32 dev vk-b\n", i / 250, i % 250 + 1);
        batch += &format!("address add 10.201.{}.{}/32 dev vk-b\n", i / 250, i % 250 + 1);
    }
    let file = p.dir.join("flood.batch");
    std::fs::write(&file, batch).unwrap();
    ip(&["-n", &vg, "-batch", file.to_str().unwrap()]);
    ip(&["-n", &vg, "route", "del", "198.18.60.0/24", "dev", "vk-b"]);
    ip(&["-n", &vg, "rule", "del", "priority", "1101"]);
    ip(&["-n", &vg, "addr", "del", "198.18.99.2/24", "dev", "vk-b"]);
    ip(&["-n", &vg, "route", "del", "198.51.100.0/24"]);
    nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGCONT).unwrap();

    wait_log(&log, at, "route messages overran (a large routing change): reading the kernel's routes and rules again");
    wait_log(&log, at, "link and address messages overran: reading the kernel's addresses again");
    wait_log(&log, at, "static route 198.18.60.0/24 dev vk-b was removed: restoring it");
    wait_log(&log, at, "static rule from 198.18.60.0/24 priority 1101 table 101 was removed: restoring it");
    wait_log(&log, at, "static address 198.18.99.2/24 was removed: restoring it");
    wait_log(
        &log,
        at,
        "route 198.51.100.0/24 via 192.0.2.254 dev vk-b was removed from the system while master: resigning (priority 0)",
    );
    let back = vigil_tests::eventually(Duration::from_secs(10), all_set);
    assert!(back.is_some(), "not all back:\n{}\n{}", show(&["route", "show"]), show(&["rule", "show"]));
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("vrrp child started (pid").count(), 1, "the child was restarted:\n{text}");
    // The kernel's errors are read as errors (an EEXIST from the statics
    // set twice at start is passed over, not warned of as unreadable).
    assert!(!text.contains("Deserialization error"), "{text}");
}

/// keepalived's static track group: vigil's instance is in a group its
/// static address and route (on an interface of its own) name, so it follows that
/// interface as a weight-0 track_interface. Downed, vigil goes to FAULT and
/// keepalived takes the VIP; up again, vigil takes it back and the static
/// route the kernel flushed with the link is set again.
#[test]
fn a_static_track_groups_interface_down_faults_its_members() {
    use vigil_tests::vrrp_pair::wait_log;
    let Some(mut p) = Pair::new("vrrp-trackgrp") else { return };
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    // A veth pair inside the namespace (the host kernel has no dummy).
    ip(&["-n", &vg, "link", "add", "vk-t", "type", "veth", "peer", "name", "vk-u"]);
    ip(&["-n", &vg, "link", "set", "vk-u", "up"]);
    ip(&["-n", &vg, "link", "set", "vk-t", "up"]);
    p.top[1] = "track_group TG {\n group {\n  VI_1\n }\n}\nstatic_ipaddress {\n 198.18.70.1/24 dev vk-t track_group TG\n}\nstatic_routes {\n 198.18.71.0/24 via 198.18.70.254 dev vk-t track_group TG\n}\n".to_string();
    let routes = || {
        let out = Command::new("ip").args(["-n", &vg, "route", "show"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    p.vigil(3, 150, "0.5");
    p.wait_vip(&vg, Duration::from_secs(10));
    p.keepalived(3, 100, "0.5");
    std::thread::sleep(Duration::from_secs(2));
    assert!(p.has_vip(&vg) && !p.has_vip(&ka), "vigil (150) is master");
    assert!(routes().contains("198.18.71.0/24 via 198.18.70.254 dev vk-t"), "{}", routes());

    ip(&["-n", &vg, "link", "set", "vk-t", "down"]);
    let took = p.wait_vip(&ka, Duration::from_secs(3));
    eprintln!("the track group's interface went down: keepalived took the VIP after {took:?}");
    let log = p.dir.join("vigil.log");
    wait_log(&log, 0, "MASTER -> FAULT");
    assert!(!routes().contains("198.18.71.0/24"), "the kernel keeps a downed link's routes?\n{}", routes());

    ip(&["-n", &vg, "link", "set", "vk-t", "up"]);
    let back = p.wait_vip(&vg, Duration::from_secs(10));
    let route = vigil_tests::eventually(Duration::from_secs(5), || routes().contains("198.18.71.0/24"));
    assert!(route.is_some(), "the static route was not set again when its link came up:\n{}", routes());
    eprintln!("the interface came back: vigil master again after {back:?}, its static route set again");
}

/// Address vmacs (`use_vmac_addr`), as keepalived 2.2.7 makes them, each
/// router on its side of the same links: an excluded address on a second
/// link goes on a macvlan of that link named `vx.51` (`vmac_addr_prefix
/// vx`) with MAC 00:00:5e:00:01:33, made at start by both; the master's
/// address answers ARP from it, so a host there learns the virtual MAC;
/// when vigil stops, keepalived takes the address on its own vmac and vigil
/// removes its vmac.
#[test]
fn address_vmacs_are_made_as_keepalived_makes_them() {
    let Some(mut p) = Pair::new("vrrp-avmac") else { return };
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    vigil_tests::vrrp_pair::veth((&ka, "vx-a", "198.51.100.1/24"), (&vg, "vx-b", "198.51.100.2/24"));
    for (side, dev) in [(0, "vx-a"), (1, "vx-b")] {
        p.top[side] = "global_defs {\n vmac_addr_prefix vx\n}\n".to_string();
        p.extra[side] = format!(" use_vmac_addr\n virtual_ipaddress_excluded {{\n  198.51.100.100/24 dev {dev}\n }}\n");
    }
    let link = |ns: &str| -> String {
        let out = Command::new("ip").args(["-n", ns, "-br", "link", "show", "vx.51"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let addrs = |ns: &str| -> String {
        let out = Command::new("ip").args(["-n", ns, "-br", "addr", "show", "vx.51"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let v = p.vigil(3, 150, "0.5");
    p.wait_vip(&vg, Duration::from_secs(10));
    p.keepalived(3, 100, "0.5");
    for (ns, parent) in [(&vg, "vx-b"), (&ka, "vx-a")] {
        let made = vigil_tests::eventually(Duration::from_secs(10), || link(ns).contains(&format!("vx.51@{parent}")));
        assert!(made.is_some(), "no vx.51 on {parent} in {ns}: {}", link(ns));
        assert!(link(ns).contains("00:00:5e:00:01:33"), "{}", link(ns));
    }
    let on = vigil_tests::eventually(Duration::from_secs(5), || addrs(&vg).contains("198.51.100.100/24"));
    assert!(on.is_some(), "the master's address is not on its vmac: {}", addrs(&vg));
    assert!(!addrs(&ka).contains("198.51.100.100"), "the backup holds it: {}", addrs(&ka));
    // A host on that link (keepalived's namespace, through its own address)
    // learns the address at the virtual MAC.
    let st = Command::new("ip")
        .args(["netns", "exec", &ka, "ping", "-c", "1", "-W", "2", "-I", "198.51.100.1", "198.51.100.100"])
        .status()
        .unwrap();
    assert!(st.success(), "198.51.100.100 does not answer on the second link");
    let out = Command::new("ip").args(["-n", &ka, "neigh", "show", "198.51.100.100"]).output().unwrap();
    let neigh = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(neigh.contains("00:00:5e:00:01:33"), "learnt at another MAC: {neigh}");

    p.signal(v, "-TERM");
    let _ = p.children[v].wait();
    let moved = vigil_tests::eventually(Duration::from_secs(10), || addrs(&ka).contains("198.51.100.100/24"));
    assert!(moved.is_some(), "keepalived did not put it on its vmac: {}", addrs(&ka));
    assert!(link(&vg).is_empty(), "vigil left its vmac behind: {}", link(&vg));
}

/// An instance without an interface (keepalived 2.3's; 2.2.7 refuses one:
/// "Unknown interface!"): unicast adverts go over a second link (routing's
/// choice), the VIP is on the first (`dev`). vigil sends from the route's
/// source (no unicast_src_ip) and hears keepalived's adverts on whichever
/// interface they come in; keepalived runs its instance on that second link.
#[test]
fn an_instance_without_interface_beside_keepalived() {
    let Some(mut p) = Pair::new("vrrp-noif") else { return };
    let (ka, vg) = (p.ka.clone(), p.vg.clone());
    vigil_tests::vrrp_pair::veth((&ka, "vk-c", "198.51.100.1/24"), (&vg, "vk-d", "198.51.100.2/24"));
    p.without_interface = [true, true];
    p.extra = [
        " interface vk-c\n unicast_src_ip 198.51.100.1\n unicast_peer {\n  198.51.100.2\n }\n".to_string(),
        " unicast_peer {\n  198.51.100.1\n }\n".to_string(),
    ];
    let v = p.vigil(2, 150, "1");
    p.wait_vip(&vg, Duration::from_secs(10));
    let log = std::fs::read_to_string(p.dir.join("vigil.log")).unwrap_or_default();
    assert!(log.contains("unicast on any interface from 198.51.100.2"), "{log}");
    p.keepalived(2, 100, "1");
    std::thread::sleep(Duration::from_secs(5));
    assert!(!p.has_vip(&ka), "keepalived took the VIP: it does not hear vigil's adverts over vk-c");
    p.signal(v, "-TERM");
    let took = p.wait_vip(&ka, Duration::from_secs(5));
    eprintln!("without interface: vigil resigned -> keepalived owns the VIP after {took:?}");
    assert!(took < Duration::from_millis(2000), "{took:?}");
    // vigil again, below keepalived: it hears its adverts on vk-d (a
    // receiver bound to vk-b, the VIP's, would not) and stays backup.
    std::thread::sleep(Duration::from_secs(1));
    let _ = std::fs::remove_file(p.dir.join("vigil.log"));
    p.vigil(2, 50, "1");
    std::thread::sleep(Duration::from_secs(6));
    let log = std::fs::read_to_string(p.dir.join("vigil.log")).unwrap_or_default();
    assert!(log.contains("unicast on any interface"), "{log}");
    assert!(!p.has_vip(&vg), "vigil took the VIP: it did not hear keepalived's adverts\n{log}");
    assert!(p.has_vip(&ka));
}
