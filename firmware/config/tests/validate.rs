mod common;
use common::{s, sample};
use vigil_config::*;

fn errors(c: &Config) -> Vec<String> {
    c.validate().err().unwrap_or_default().iter().map(|e| e.to_string()).collect()
}

#[test]
fn the_sample_is_valid() {
    assert_eq!(errors(&sample()), Vec::<String>::new());
}

#[test]
fn each_problem_names_its_path() {
    let mut c = sample();
    c.vrrp_instances[0].priority = 0;
    let mut dup = c.vrrp_instances[0].clone();
    dup.name = s("VI_2");
    dup.priority = 100;
    dup.virtual_ipaddress[0].addr = "172.16.42.112/24".parse().unwrap();
    c.vrrp_instances.push(dup).unwrap();
    let mut far = c.vrrp_instances[0].clone();
    far.name = s("VI_3");
    far.priority = 90;
    far.virtual_router_id = 52;
    far.virtual_ipaddress[0].addr = "10.9.9.9/32".parse().unwrap();
    c.vrrp_instances.push(far).unwrap();
    c.virtual_servers[0].real_servers[0].addr = "172.16.42.10:0".parse().unwrap();
    let e = errors(&c);
    assert!(
        e.contains(
            &"vrrp_instance VI_1: priority 0 is reserved (it means a master is resigning); use 1..=255".to_string()
        ),
        "{e:#?}"
    );
    assert!(
        e.contains(
            &"vrrp_instance VI_2: virtual_router_id 51 on eth0 is already used by vrrp_instance VI_1".to_string()
        ),
        "{e:#?}"
    );
    assert!(
        e.contains(
            &"vrrp_instance VI_3 virtual_ipaddress 10.9.9.9/32: is outside every subnet of eth0 (172.16.42.2/24)"
                .to_string()
        ),
        "{e:#?}"
    );
    assert!(e.contains(&"virtual_server 172.16.42.111 80 real_server 172.16.42.10 0: port 0".to_string()), "{e:#?}");
    assert_eq!(e.len(), 4, "{e:#?}");
}

#[test]
fn version_specific_rules() {
    let mut c = sample();
    c.vrrp_instances[0].advert_int_cs = 50;
    assert!(errors(&c)[0].contains("VRRPv2 needs whole seconds"));
    c.vrrp_instances[0].version = 3;
    c.vrrp_instances[0].auth_pass = Some(s("secret"));
    let e = errors(&c);
    assert_eq!(e, ["vrrp_instance VI_1: authentication exists only in VRRPv2 (RFC 5798 removed it)"]);
    c.vrrp_instances[0].auth_pass = None;
    c.vrrp_instances[0].virtual_ipaddress[0].addr = "fe80::1/64".parse().unwrap();
    c.vrrp_instances[0].virtual_ipaddress[0].brd = None;
    assert_eq!(errors(&c), Vec::<String>::new());
    c.vrrp_instances[0].version = 2;
    assert!(errors(&c).iter().any(|e| e.contains("IPv6 virtual addresses need version 3")));
}

#[test]
fn sync_groups_and_checkers() {
    let mut c = sample();
    let mut g = SyncGroup { name: s("G"), ..Default::default() };
    g.group.push(s("VI_1")).unwrap();
    g.group.push(s("VI_9")).unwrap();
    c.sync_groups.push(g).unwrap();
    if let CheckKind::Http(h) = &mut c.virtual_servers[0].real_servers[0].checkers[0].kind {
        h.urls[0].path = s("health");
        h.urls[0].status_code.push(StatusRange::one(700)).unwrap();
    }
    let e = errors(&c);
    assert!(e.contains(&"vrrp_sync_group G: group member VI_9 is not a vrrp_instance".to_string()), "{e:#?}");
    assert!(e.iter().any(|x| x.ends_with("HTTP_GET: url path \"health\" must start with '/'")), "{e:#?}");
    assert!(
        e.iter().any(|x| x.ends_with("HTTP_GET: status_code 700 is not an HTTP status or range of them")),
        "{e:#?}"
    );
}

#[test]
fn addresses_parse_with_clear_errors() {
    assert_eq!("10.0.0.1".parse::<IpNet>().unwrap().prefix, 32);
    assert_eq!("2001:db8::1/64".parse::<IpNet>().unwrap().prefix, 64);
    assert_eq!("10.0.0.1/33".parse::<IpNet>().unwrap_err(), "prefix \"33\" is not 0..=32");
    assert_eq!("10.0.0/8".parse::<IpNet>().unwrap_err(), "\"10.0.0\" is not an IP address");
    let n: IpNet = "192.168.1.0/24".parse().unwrap();
    assert!(n.contains("192.168.1.200".parse().unwrap()));
    assert!(!n.contains("192.168.2.1".parse().unwrap()));
    assert!(!n.contains("::1".parse().unwrap()));
}

#[test]
fn heartbeats_are_bounded_and_the_limit_spans_two_of_them() {
    let mut c = sample();
    c.global.supervision = Supervision { heartbeat_ms: 50, heartbeat_limit_ms: 3000 };
    assert_eq!(errors(&c), vec!["vigil_defs heartbeat_ms: 50 ms is outside 100..=10000".to_string()]);
    c.global.supervision = Supervision { heartbeat_ms: 1000, heartbeat_limit_ms: 1500 };
    let e = errors(&c);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("vigil_defs heartbeat_limit_ms: 1500 ms is less than two heartbeats (2000 ms)"), "{e:?}");
    c.global.supervision = Supervision { heartbeat_ms: 100, heartbeat_limit_ms: 200 };
    assert_eq!(errors(&c), Vec::<String>::new());
}

#[test]
fn bfd_instances_their_tracks_and_checks_are_checked_with_keepalived_s_ranges() {
    use vigil_config::model::{BfdEvents, BfdInstance, TrackScript};
    let mut c = sample();
    let good = BfdInstance::new(s("B1"), "192.0.2.9".parse().unwrap());
    assert_eq!((good.ttl(), BfdInstance::new(s("x"), "2001:db8::9".parse().unwrap()).ttl()), (255, 64));
    c.bfd_instances.push(good.clone()).unwrap();
    let track = |name: &str, weight| TrackScript { name: s(name), weight };
    c.vrrp_instances[0].track_bfd.push(track("B1", Some((-20, false)))).unwrap();
    assert_eq!(errors(&c), Vec::<String>::new());

    let mut bad = BfdInstance::new(s("B2"), "192.0.2.9".parse().unwrap());
    bad.source = Some("2001:db8::1".parse().unwrap());
    (bad.min_rx_us, bad.min_tx_us, bad.idle_tx_us) = (500, 4_294_967_001, 999_999);
    (bad.multiplier, bad.ttl, bad.max_hops, bad.weight) = (0, Some(0), 3, 254);
    bad.events = BfdEvents::Checker;
    c.bfd_instances.push(bad).unwrap();
    c.bfd_instances.push(good).unwrap();
    c.vrrp_instances[0].track_bfd.push(track("B2", None)).unwrap();
    c.vrrp_instances[0].track_bfd.push(track("NONE", Some((254, false)))).unwrap();
    let e = errors(&c);
    for want in [
        "bfd_instance B2: neighbor_ip 192.0.2.9 is bfd_instance B1's too",
        "bfd_instance B2: source_ip 2001:db8::1 and neighbor_ip 192.0.2.9 are of different families",
        "bfd_instance B2: min_rx 0.5 ms is outside 1..=4294967 ms",
        "bfd_instance B2: min_tx 4294967.001 ms is outside 1..=4294967 ms",
        "bfd_instance B2: idle_tx 999.999 ms is outside 1000..=4294967 ms",
        "bfd_instance B2: multiplier 0 is outside 1..=255",
        "bfd_instance B2: ttl 0: a packet sent with it goes nowhere (1..=255)",
        "bfd_instance B2: max_hops 3 is more than the ttl 0 sent",
        "bfd_instance B2: weight 254 is outside -253..=253",
        "bfd_instance B1: is defined twice",
        "vrrp_instance VI_1: track_bfd B2: that bfd_instance says `checker`, so VRRP is not told",
        "vrrp_instance VI_1: track_bfd NONE: no bfd_instance of that name",
    ] {
        assert!(e.contains(&want.to_string()), "{want}\n{e:#?}");
    }

    let mut c = sample();
    let mut b = BfdInstance::new(s("B1"), "192.0.2.9".parse().unwrap());
    b.events = BfdEvents::Vrrp;
    c.bfd_instances.push(b).unwrap();
    let checker = |name: &str| vigil_config::model::Checker {
        kind: vigil_config::model::CheckKind::Bfd { name: Box::new(s(name)) },
        ..c.virtual_servers[0].real_servers[0].checkers[0].clone()
    };
    let (b1, none) = (checker("B1"), checker("NONE"));
    let rs = &mut c.virtual_servers[0].real_servers[0];
    rs.checkers.push(b1).unwrap();
    rs.checkers.push(none).unwrap();
    let e = errors(&c);
    assert!(
        e.iter().any(|m| m.ends_with("BFD_CHECK name B1: that bfd_instance says `vrrp`, so the checkers are not told")),
        "{e:#?}"
    );
    assert!(e.iter().any(|m| m.ends_with("BFD_CHECK name NONE: no bfd_instance of that name")), "{e:#?}");
}
