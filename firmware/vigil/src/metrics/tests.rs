use super::*;
use crate::report::{Check, Drops, Instance, Tracker, VirtualServer};
use vigil_ipvs::{Forward, Proto};

fn snapshot() -> Snapshot {
    let vi = Instance {
        name: "VI \"1\"".into(),
        interface: "eth0".into(),
        vrid: 51,
        version: 3,
        state: VrrpState::Master,
        priority: 100,
        effective_priority: 90,
        addresses: vec!["192.0.2.100".into(), "192.0.2.101".into()],
        adverts_sent: 12,
        adverts_received: 3,
        became_master: 1,
        transitions: 2,
        last_transition_ms: Some(1_700_000_000_250),
        dropped: Drops { auth: 2, ttl: 1, ..Drops::default() },
        ..Instance::default()
    };
    let mut svc =
        Service::new(ServiceKey::Addr { proto: Proto::Tcp, addr: "192.0.2.100".parse().unwrap(), port: 80 }, "wrr");
    svc.stats = Counters { connections: 5, packets_in: 50, packets_out: 40, bytes_in: 5000, bytes_out: 1 << 40 };
    let mut d = Dest::new("10.0.0.1".parse().unwrap(), 8080, 3, Forward::Masq);
    let mut live = vigil_ipvs::table::DestLive { active: 2, ..Default::default() };
    live.stats.connections = 5;
    d.live = Some(Box::new(live));
    let fwm = Service::new(ServiceKey::Fwmark { mark: 7, v6: false }, "rr");
    Snapshot {
        version: "0.1.0".into(),
        started_s: 1_700_000_000,
        vrrp_report: Arc::new(Report::Vrrp(Vrrp {
            instances: vec![vi],
            trackers: vec![
                Tracker { kind: TrackerKind::Script, name: "chk_haproxy".into(), state: Track::Good },
                Tracker { kind: TrackerKind::Script, name: "not_yet".into(), state: Track::Init },
                Tracker { kind: TrackerKind::File, name: "f".into(), state: Track::Value(-5) },
            ],
            strays: vec![],
        })),
        checkers_report: Arc::new(Report::Checkers(Checkers {
            virtual_servers: vec![VirtualServer {
                name: "192.0.2.100:80".into(),
                quorum: true,
                checks: vec![
                    Check {
                        kind: crate::report::Keyword::named("TCP_CHECK").unwrap(),
                        real_server: "10.0.0.1:8080".parse().unwrap(),
                        up: true,
                        probes: 9,
                        failed: 1,
                        error: None,
                        latency_us: Some(1500),
                    },
                    Check {
                        kind: crate::report::Keyword::named("HTTP_GET").unwrap(),
                        real_server: "10.0.0.1:8080".parse().unwrap(),
                        up: false,
                        probes: 9,
                        failed: 4,
                        error: None,
                        latency_us: None,
                    },
                ],
            }],
        })),
        ipvs: Ok(vec![(svc, vec![d]), (fwm, vec![])]),
        ipvs_totals: Some(Counters { connections: 9, ..Counters::default() }),
        children: vec![ChildFacts {
            name: "vrrp",
            up: true,
            restarts: 1,
            cpu_seconds: Some(0.5),
            rss_bytes: Some(3 << 20),
            ..ChildFacts::default()
        }],
        config_generation: 4,
        config_applied_ms: 1_700_000_100_500,
        boot_slot: Some("A".into()),
        time: TimeFacts { synced: true, offset_s: Some(-0.0015), last_sync_s: Some(1_700_000_050) },
        scrapes: 3,
        refused: vec![("busy", 2)],
    }
}

fn lines_of<'a>(page: &'a str, name: &str) -> Vec<&'a str> {
    page.lines().filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))).collect()
}

#[test]
fn vrrp_is_named_and_labelled_as_keepalived_exporter_names_it() {
    let page = render(&snapshot());
    assert_eq!(lines_of(&page, "keepalived_up"), ["keepalived_up 1"]);
    assert_eq!(
        lines_of(&page, "keepalived_vrrp_state"),
        [
            r#"keepalived_vrrp_state{iname="VI \"1\"",intf="eth0",vrid="51",ip_address="192.0.2.100"} 2"#,
            r#"keepalived_vrrp_state{iname="VI \"1\"",intf="eth0",vrid="51",ip_address="192.0.2.101"} 2"#,
        ]
    );
    assert_eq!(
        lines_of(&page, "keepalived_advertisements_sent_total"),
        [r#"keepalived_advertisements_sent_total{iname="VI \"1\"",intf="eth0",vrid="51",state="MASTER"} 12"#]
    );
    assert_eq!(
        lines_of(&page, "keepalived_authentication_failure_total"),
        [r#"keepalived_authentication_failure_total{iname="VI \"1\"",intf="eth0",vrid="51",state="MASTER"} 2"#]
    );
    // A script not run yet says nothing rather than BAD.
    assert_eq!(lines_of(&page, "keepalived_script_status"), [r#"keepalived_script_status{name="chk_haproxy"} 1"#]);
    assert_eq!(
        lines_of(&page, "vigil_vrrp_effective_priority"),
        [r#"vigil_vrrp_effective_priority{iname="VI \"1\"",intf="eth0",vrid="51"} 90"#]
    );
    assert_eq!(
        lines_of(&page, "vigil_vrrp_last_transition_timestamp_seconds"),
        [r#"vigil_vrrp_last_transition_timestamp_seconds{iname="VI \"1\"",intf="eth0",vrid="51"} 1700000000.25"#]
    );
    let drops = lines_of(&page, "vigil_vrrp_dropped_total");
    assert_eq!(drops.len(), 9, "every reason, zero or not");
    assert!(drops.contains(&r#"vigil_vrrp_dropped_total{iname="VI \"1\"",intf="eth0",vrid="51",reason="ttl"} 1"#));
    assert_eq!(lines_of(&page, "vigil_vrrp_track_file_value"), [r#"vigil_vrrp_track_file_value{name="f"} -5"#]);
}

#[test]
fn ipvs_backends_are_labelled_as_node_exporter_labels_them() {
    let page = render(&snapshot());
    assert_eq!(
        lines_of(&page, "node_ipvs_backend_weight"),
        [
            r#"node_ipvs_backend_weight{local_address="192.0.2.100",local_port="80",local_mark="",proto="TCP",remote_address="10.0.0.1",remote_port="8080"} 3"#
        ]
    );
    assert_eq!(
        lines_of(&page, "node_ipvs_backend_connections_active"),
        [
            r#"node_ipvs_backend_connections_active{local_address="192.0.2.100",local_port="80",local_mark="",proto="TCP",remote_address="10.0.0.1",remote_port="8080"} 2"#
        ]
    );
    assert_eq!(
        lines_of(&page, "vigil_ipvs_service_outgoing_bytes_total"),
        [
            r#"vigil_ipvs_service_outgoing_bytes_total{local_address="192.0.2.100",local_port="80",local_mark="",proto="TCP"} 1099511627776"#,
            r#"vigil_ipvs_service_outgoing_bytes_total{local_address="",local_port="0",local_mark="7",proto="FWM"} 0"#,
        ]
    );
    assert_eq!(lines_of(&page, "node_ipvs_connections_total"), ["node_ipvs_connections_total 9"]);
    assert_eq!(lines_of(&page, "vigil_ipvs_up"), ["vigil_ipvs_up 1"]);
}

#[test]
fn checkers_supervision_config_and_time_are_there() {
    let page = render(&snapshot());
    // One check down takes the real server out.
    assert_eq!(
        lines_of(&page, "vigil_real_server_up"),
        [r#"vigil_real_server_up{virtual_server="192.0.2.100:80",real_server="10.0.0.1:8080"} 0"#]
    );
    assert_eq!(
        lines_of(&page, "vigil_checker_latency_seconds"),
        [
            r#"vigil_checker_latency_seconds{virtual_server="192.0.2.100:80",real_server="10.0.0.1:8080",checker="TCP_CHECK"} 0.0015"#
        ]
    );
    assert_eq!(
        lines_of(&page, "vigil_checker_failures_total"),
        [
            r#"vigil_checker_failures_total{checker="HTTP_GET"} 4"#,
            r#"vigil_checker_failures_total{checker="TCP_CHECK"} 1"#
        ]
    );
    assert_eq!(lines_of(&page, "vigil_child_restarts_total"), [r#"vigil_child_restarts_total{child="vrrp"} 1"#]);
    assert_eq!(
        lines_of(&page, "vigil_child_resident_memory_bytes"),
        [r#"vigil_child_resident_memory_bytes{child="vrrp"} 3145728"#]
    );
    assert_eq!(lines_of(&page, "vigil_config_generation"), ["vigil_config_generation 4"]);
    assert_eq!(
        lines_of(&page, "vigil_config_applied_timestamp_seconds"),
        ["vigil_config_applied_timestamp_seconds 1700000100.5"]
    );
    assert_eq!(lines_of(&page, "vigil_time_offset_seconds"), ["vigil_time_offset_seconds -0.0015"]);
    assert_eq!(lines_of(&page, "vigil_boot_slot_info"), [r#"vigil_boot_slot_info{slot="A"} 1"#]);
    assert_eq!(lines_of(&page, "vigil_metrics_refused_total"), [r#"vigil_metrics_refused_total{reason="busy"} 2"#]);
}

/// Each family's HELP and TYPE come once, before its samples, and its
/// samples are together (promtool and Prometheus refuse a family split).
#[test]
fn every_family_is_declared_once_and_kept_together() {
    let page = render(&snapshot());
    let mut seen: Vec<&str> = Vec::new();
    let mut current = "";
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            assert!(!seen.contains(&name), "{name} declared twice");
            seen.push(name);
            current = name;
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            assert_eq!(name, current, "{line} is outside its family");
        }
    }
    assert!(seen.len() > 40, "{}", seen.len());
}

#[test]
fn without_the_vrrp_child_keepalived_up_is_0_and_an_unread_table_says_so() {
    let mut s = snapshot();
    s.vrrp_report = Arc::new(Report::Nothing);
    s.ipvs = Err("no IPVS".into());
    let page = render(&s);
    assert_eq!(lines_of(&page, "keepalived_up"), ["keepalived_up 0"]);
    assert!(lines_of(&page, "keepalived_advertisements_sent_total").is_empty());
    assert_eq!(lines_of(&page, "vigil_ipvs_up"), ["vigil_ipvs_up 0"]);
    assert!(lines_of(&page, "node_ipvs_backend_weight").is_empty());
}

#[test]
fn label_values_are_escaped() {
    let mut out = String::new();
    escape_label(&mut out, "a\\b\"c\nd");
    assert_eq!(out, r#"a\\b\"c\nd"#);
}

#[test]
fn ip_vs_stats_totals_are_read_from_hex() {
    let text = "   Total Incoming Outgoing         Incoming         Outgoing\n   Conns  Packets  Packets            Bytes            Bytes\n      1A       FF        0             1000                0\n\n Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n       0        0        0                0                0\n";
    assert_eq!(
        parse_ipvs_stats(text),
        Some(Counters { connections: 26, packets_in: 255, packets_out: 0, bytes_in: 4096, bytes_out: 0 })
    );
    assert_eq!(parse_ipvs_stats("garbage"), None);
    assert_eq!(parse_ipvs_stats("a\nb\nzz 1 2 3 4\n"), None);
}

/// 50,000 real servers would be a page of ~100 MB: past the bound the
/// per-real-server and per-check families go, the aggregates stay, and the
/// page says what it left out.
#[test]
fn past_the_bound_per_item_families_are_left_out_and_said() {
    let mut s = snapshot();
    let Report::Checkers(c) = Arc::make_mut(&mut s.checkers_report) else { unreachable!() };
    let vs = &mut c.virtual_servers[0];
    let one = vs.checks[0].clone();
    vs.checks = vec![one; MAX_PER_ITEM_SERIES + 1];
    let (svc, dests) = s.ipvs.as_mut().unwrap().remove(0);
    let d = dests[0].clone();
    s.ipvs.as_mut().unwrap().push((svc, vec![d; MAX_PER_ITEM_SERIES + 1]));
    let page = render(&s);
    assert!(lines_of(&page, "node_ipvs_backend_weight").is_empty());
    assert!(lines_of(&page, "vigil_checker_up").is_empty());
    assert!(lines_of(&page, "vigil_real_server_up").is_empty());
    assert_eq!(
        lines_of(&page, "vigil_checker_failures_total"),
        [r#"vigil_checker_failures_total{checker="TCP_CHECK"} 10001"#]
    );
    assert_eq!(lines_of(&page, "vigil_ipvs_service_connections_total").len(), 2);
    assert_eq!(
        lines_of(&page, "vigil_metrics_omitted"),
        [r#"vigil_metrics_omitted{what="backends"} 1"#, r#"vigil_metrics_omitted{what="checks"} 1"#]
    );
    assert!(page.len() < 20_000, "{} bytes", page.len());
    assert_eq!(
        lines_of(&render(&snapshot()), "vigil_metrics_omitted"),
        [r#"vigil_metrics_omitted{what="backends"} 0"#, r#"vigil_metrics_omitted{what="checks"} 0"#]
    );
}
