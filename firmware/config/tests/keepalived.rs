//! keepalived.conf import and export: the walk-through master/backup pair,
//! vigil's own blocks, every sample Debian's keepalived ships, unsupported
//! keywords reported with positions, and import → export → import stability.

use vigil_config::keepalived::{Flavor, Import, Severity, export, import_file, import_file_as, import_str};
use vigil_config::*;

fn fixture(name: &str) -> String {
    format!("{}/tests/keepalived/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn clean(i: &Import) {
    let errs: Vec<String> = i.errors().map(|d| d.to_string()).collect();
    assert!(errs.is_empty(), "{errs:#?}");
}

/// Export (vigil flavor) and import again: the same model.
fn round_trip(c: &Config) {
    let text = export(c, Flavor::Vigil);
    let again = import_str("export", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    clean(&again);
    assert_eq!(again.unsupported().count(), 0, "{text}");
    assert_eq!(&again.config, c, "{text}");
}

#[test]
fn the_walk_through_pair_imports() {
    let m = import_file(&fixture("master.conf")).unwrap();
    clean(&m);
    assert_eq!(m.diagnostics, vec![]);
    let c = &m.config;
    assert_eq!(c.global.router_id.as_str(), "LVS_MASTER");
    let vi = &c.vrrp_instances[0];
    assert_eq!(
        (vi.state, vi.virtual_router_id, vi.priority, vi.advert_int_cs, vi.version),
        (VrrpState::Master, 51, 150, 100, 2)
    );
    assert_eq!(vi.auth_pass.as_deref(), Some("1111"));
    let vip = &vi.virtual_ipaddress[0];
    assert_eq!(vip.addr.to_string(), "172.16.42.111/24");
    assert_eq!(vip.brd.unwrap().to_string(), "172.16.42.255");
    assert_eq!(vip.dev.as_deref(), Some("ens33"));
    assert_eq!(vip.label.as_deref(), Some("ens33:0"));
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.key, VirtualKey::Address("10.10.10.2:1358".parse().unwrap()));
    assert_eq!(
        (vs.lb_algo, vs.lb_kind, vs.persistence_timeout, vs.delay_loop_s),
        (Scheduler::Rr, Forwarding::Nat, 50, 6)
    );
    assert_eq!(vs.sorry_server, Some("192.168.200.200:1358".parse().unwrap()));
    let CheckKind::Http(h) = &vs.real_servers[0].checkers[0].kind else { panic!() };
    assert_eq!(h.urls.len(), 2);
    assert_eq!(h.urls[0].digest.unwrap()[..2], [0x64, 0x02]);
    assert_eq!(vs.real_servers[0].checkers[0].retry, 3);
    assert_eq!(vs.real_servers[1].checkers[0].kind, CheckKind::Tcp);
    assert_eq!(vs.real_servers[1].checkers[0].connect_port, Some(1358));
    c.validate().unwrap();
    round_trip(c);

    let b = import_file(&fixture("backup.conf")).unwrap();
    clean(&b);
    assert_eq!(b.config.vrrp_instances[0].state, VrrpState::Backup);
    assert_eq!(b.config.vrrp_instances[0].priority, 100);
}

#[test]
fn vigils_own_blocks_and_ipv6() {
    let i = import_file(&fixture("vigil.conf")).unwrap();
    clean(&i);
    assert_eq!(i.diagnostics, vec![]);
    let c = &i.config;
    c.validate().unwrap();
    assert_eq!(c.global.hostname.as_str(), "lb-a");
    assert_eq!(c.global.time_servers.len(), 2);
    assert_eq!(c.global.supervision, Supervision { heartbeat_ms: 500, heartbeat_limit_ms: 1500 });
    assert_eq!(c.interfaces[0].vlans[0].id, 10);
    let v6 = &c.vrrp_instances[1];
    assert_eq!((v6.version, v6.advert_int_cs), (3, 50));
    assert!(!c.vrrp_instances[0].preempt);
    assert_eq!(c.vrrp_instances[0].track_interface[0].weight, -50);
    assert_eq!(c.virtual_servers[0].key, VirtualKey::Fwmark(3));
    assert_eq!(c.virtual_servers[0].persistence_granularity.unwrap().prefix, 24);
    assert_eq!(c.virtual_servers[1].real_servers[1].checkers.len(), 2);
    round_trip(c);
}

#[test]
fn unsupported_keywords_and_bad_values_are_reported_with_positions() {
    let text = "global_defs {\n  enable_traps\n  router_id R1\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 300\n  priority 100\n  smtp_alert\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n  vrf blue\n}\nbogus_block {\n}\n";
    let i = import_str("t.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        d,
        [
            "t.conf:2:3: replaced: keyword \"enable_traps\": vigil has no SNMP agent: `show vrrp`, `show checkers` and `show ipvs` at the console, the logs and mail alerts say what it would; ignored",
            "t.conf:7:21: error: \"300\" is not a VRID (1..=255)",
            "t.conf:13:7: warning: vrf blue beside interface: ignored, as keepalived ignores it (the interface's own VRF is the kernel's)",
            "t.conf:15:1: error: unknown keyword \"bogus_block\"",
        ]
    );
    assert_eq!(i.config.global.router_id.as_str(), "R1");
    assert_eq!(i.diagnostics.iter().filter(|d| d.severity == Severity::Error).count(), 2);
}

/// A keyword vigil reads, in a block it does not read it in (a brace
/// closed early or late, most often) is said as that, with where it is
/// read, not as a keyword vigil lacks.
#[test]
fn a_keyword_in_the_wrong_block_says_where_it_belongs() {
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n lb_algo rr\n virtual_ipaddress {\n  10.0.0.1/24\n }\n}\n\
                virtual_server 10.0.0.1 80 {\n protocol TCP\n advert_int 1\n real_server 10.0.1.1 80 {\n  delay_loop 3\n }\n}\n";
    let i = import_str("t.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        d,
        [
            "t.conf:4:2: unsupported: keyword \"lb_algo\" is not read in this block (vigil reads it in virtual_server); ignored",
            "t.conf:11:2: unsupported: keyword \"advert_int\" is not read in this block (vigil reads it in vrrp_instance); ignored",
        ]
    );
}

#[test]
fn bounds_are_enforced_on_import() {
    let mut text = String::from("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n");
    for n in 0..40 {
        text.push_str(&format!("  10.0.{n}.1\n"));
    }
    text.push_str(" }\n}\n");
    let i = import_str("b.conf", &text).unwrap();
    assert_eq!(i.config.vrrp_instances[0].virtual_ipaddress.len(), limits::VIRTUAL_ADDRESSES);
    let errs: Vec<String> = i.errors().map(|d| d.to_string()).collect();
    // The same error many times is said three times, then summed up once.
    assert_eq!(errs.len(), 4, "{errs:#?}");
    assert!(errs[0].starts_with("b.conf:37:3: error: more than 32 virtual addresses"), "{errs:#?}");
    assert_eq!(
        errs[3],
        format!(
            "b.conf:40:3: error: more than 32 virtual addresses: this one is dropped ({} times in all; only the first 3 are listed)",
            40 - limits::VIRTUAL_ADDRESSES
        )
    );
}

/// Debian's keepalived package ships sample configs: each imports with no
/// error and round-trips through vigil's export.
#[test]
fn every_keepalived_sample_imports_and_round_trips() {
    let dir = "/usr/share/doc/keepalived/samples";
    let Ok(entries) = std::fs::read_dir(dir) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("prerequisite missing under CI: {dir} (apt-get install keepalived)");
        }
        eprintln!("SKIPPED: {dir} missing (apt-get install keepalived)");
        return;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let path = e.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("keepalived.conf") {
            continue;
        }
        // It says to run keepalived with `-i high` or `-i low`.
        let i = if name.ends_with("conditional_conf") {
            import_file_as(path.to_str().unwrap(), "high")
        } else {
            import_file(path.to_str().unwrap())
        };
        let i = i.unwrap_or_else(|e| panic!("{name}: {e}"));
        let errs: Vec<String> = i.errors().map(|d| d.to_string()).collect();
        if name == "keepalived.conf.vrrp.lvs_syncd" {
            // Its sync group lists its members outside a `group { }`:
            // keepalived says "Unknown keyword" and runs with no sync group.
            // vigil refuses the typo where the operator meant a group.
            assert_eq!(errs.len(), 2, "{errs:#?}");
            assert!(errs[0].ends_with(":4:3: error: unknown keyword \"VI_2\""), "{errs:#?}");
            continue;
        }
        if name == "keepalived.conf.vrrp.rules" {
            // Two of its rules have no address (`192.168.100./24`):
            // keepalived says "Invalid rule to address" and skips them.
            assert_eq!(errs.len(), 2, "{errs:#?}");
            assert!(errs[0].ends_with(":11:8: error: \"192.168.100.\" is not an IP address"), "{errs:#?}");
            continue;
        }
        assert!(errs.is_empty(), "{name}: {errs:#?}");
        if name == "keepalived.conf.SMTP_CHECK" {
            // Its host blocks: a checker each, and the block's own (it
            // sets connect_timeout, a connection setting of its own).
            let counts: Vec<usize> =
                i.config.virtual_servers[0].real_servers.iter().map(|r| r.checkers.len()).collect();
            assert_eq!(counts, [1, 4, 4]);
        }
        if name == "keepalived.conf.virtual_server_group" {
            // Two addresses, one more, a range of eight and two marks.
            let c = &i.config;
            assert_eq!(c.services(&c.virtual_servers[0]).count(), 13);
            assert_eq!(i.unsupported().count(), 0, "{:#?}", i.diagnostics);
        }
        round_trip(&i.config);
        n += 1;
    }
    assert!(n >= 20, "only {n} samples found");
}

#[test]
fn update_settings_import_export_and_bad_ones_say_where() {
    let text = "vigil_defs {\n update_channel https://fw.example.net/stable/channel.json\n update_window 23:30-02:00\n update_poll_s 600\n update_key RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3\n}\n";
    let i = import_str("u.conf", text).unwrap();
    clean(&i);
    let u = &i.config.global.updates;
    assert_eq!(u.channel.as_deref(), Some("https://fw.example.net/stable/channel.json"));
    assert_eq!(u.window, Some((23 * 60 + 30, 120)));
    assert_eq!(u.poll_s, 600);
    assert!(u.key.is_some());
    i.config.validate().unwrap();
    round_trip(&i.config);

    let bad = "vigil_defs {\n update_channel ftp://x/c.json\n update_window 25:00-01:00\n update_poll_s 1\n}\n";
    let i = import_str("b.conf", bad).unwrap();
    let errs: Vec<String> = i.errors().map(|d| d.to_string()).collect();
    assert_eq!(
        errs,
        [
            "b.conf:2:2: error: update_channel takes one http:// or https:// URL (of channel.json)",
            "b.conf:3:16: error: update_window is HH:MM-HH:MM (UTC), e.g. 02:00-04:30, not \"25:00-01:00\"",
        ]
    );
    let e: Vec<String> = i.config.validate().unwrap_err().iter().map(|e| e.to_string()).collect();
    assert!(e.iter().any(|e| e.contains("vigil_defs update_poll_s: 1 s is outside 10..=604800")), "{e:?}");
}

/// The Kubernetes control-plane HA shape: a health script moves the VIP.
#[test]
fn vrrp_script_and_track_script_import_validate_and_round_trip() {
    let text = r#"global_defs {
  script_user keepalived_script
  enable_script_security
}
vrrp_script check_apiserver {
  script "/etc/keepalived/check_apiserver.sh --port 6443"
  interval 3
  timeout 2.5
  weight -60
  fall 10
  rise 2
}
vrrp_script chk_haproxy {
  script killall -0 "ha proxy"
  weight 2 reverse
  user nobody nogroup
  init_fail
}
vrrp_sync_group G {
  group {
    VI_2
  }
  track_script {
    chk_haproxy weight 0
  }
}
vrrp_instance VI_1 {
  interface eth0
  mcast_src_ip 10.0.0.2
  virtual_router_id 51
  priority 101
  virtual_ipaddress {
    10.0.0.100/24
  }
  track_script {
    check_apiserver
    chk_haproxy weight -20 noreverse
  }
}
vrrp_instance VI_2 {
  interface eth1
  virtual_router_id 52
  virtual_ipaddress {
    10.1.0.100/24
  }
}
"#;
    let i = import_str("k8s.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![], "{:#?}", i.diagnostics);
    let c = &i.config;
    let a = &c.vrrp_scripts[0];
    assert_eq!(a.script.as_str(), "/etc/keepalived/check_apiserver.sh --port 6443");
    assert_eq!(
        (a.interval_ms, a.timeout_ms, a.weight, a.reverse, a.fall, a.rise),
        (3000, Some(2500), -60, false, 10, 2)
    );
    let b = &c.vrrp_scripts[1];
    // Several words: each an argument as it stands, kept as one line.
    assert_eq!(command::split(&b.script).unwrap(), ["killall", "-0", "ha proxy"]);
    assert_eq!((b.weight, b.reverse, b.init_fail, b.interval_ms), (2, true, true, 1000));
    assert_eq!(
        b.user,
        Some(ScriptUser { user: "nobody".try_into().unwrap(), group: Some("nogroup".try_into().unwrap()) })
    );
    assert_eq!(c.global.script_user.as_ref().unwrap().user.as_str(), "keepalived_script");
    let vi = &c.vrrp_instances[0];
    assert_eq!(vi.unicast_src_ip, Some("10.0.0.2".parse().unwrap()));
    assert_eq!(vi.track_script[0], TrackScript { name: "check_apiserver".try_into().unwrap(), weight: None });
    assert_eq!(vi.track_script[1].weight, Some((-20, false)));
    assert_eq!(c.sync_groups[0].track_script[0].weight, Some((0, false)));
    c.validate().unwrap();
    round_trip(c);
}

#[test]
fn script_mistakes_say_where_and_what() {
    let text = "vrrp_script s {\n  script \"/bin/x 'a\"\n  weight 300\n  interval 0\n}\nvrrp_script t {\n  weight 2 sideways\n  script /bin/true\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1\n  }\n  track_script {\n    chk_typo\n    t weight\n    t heavy 3\n  }\n}\n";
    let i = import_str("s.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        d,
        [
            "s.conf:2:10: error: script: a ' is never closed",
            "s.conf:3:10: error: weight \"300\" is not -253..=253",
            "s.conf:4:12: error: \"0\" is not a number of seconds (more than 0)",
            "s.conf:1:1: error: vrrp_script s: no script to run",
            "s.conf:7:12: error: after the weight: \"sideways\" is not reverse or noreverse",
            "s.conf:18:5: error: weight needs a value (-253..=253)",
            "s.conf:19:7: error: track_script t: \"heavy\" is not weight",
            "s.conf:17:5: error: track_script \"chk_typo\": no vrrp_script of that name (the vrrp_script blocks are t)",
        ]
    );
    // And the same checks on the model (a shell edit goes through them).
    let mut c = i.config.clone();
    c.vrrp_instances[0].track_script.push(TrackScript { name: "gone".try_into().unwrap(), weight: None }).unwrap();
    c.vrrp_scripts[0].rise = 0;
    let errs: Vec<String> = c.validate().unwrap_err().iter().map(|e| e.to_string()).collect();
    assert!(errs.contains(&"vrrp_script t: rise and fall are 1 or more".to_string()), "{errs:#?}");
    assert!(
        errs.contains(&"vrrp_instance VI_1: track_script gone: no vrrp_script of that name".to_string()),
        "{errs:#?}"
    );
}

/// A typo is an error with where it is and what was meant; keepalived's
/// keywords that vigil does not act on are warnings, each said once with
/// how many times it stands in the config.
#[test]
fn typos_are_errors_and_ignored_keywords_are_counted_once() {
    let mut text = String::from(
        "global_defs {\n  enable_traps\n}\nvrrp_instance VI_1 {\n  interface eth0\n  priorty 120\n  virtual_router_id 1\n  adver_int 2\n  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n",
    );
    for n in 0..500 {
        text.push_str(&format!(
            "virtual_server 10.1.{}.{} 80 {{\n  vrf blue\n  real_server 10.2.0.1 80 {{\n    TCP_CHECK {{\n      conect_timeout 3\n    }}\n  }}\n}}\n",
            n / 250,
            n % 250 + 1
        ));
    }
    let i = import_str("t.conf", &text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        d,
        [
            "t.conf:2:3: replaced: keyword \"enable_traps\": vigil has no SNMP agent: `show vrrp`, `show checkers` and `show ipvs` at the console, the logs and mail alerts say what it would; ignored",
            "t.conf:6:3: error: unknown keyword \"priorty\"; did you mean \"priority\"?",
            "t.conf:8:3: error: unknown keyword \"adver_int\"; did you mean \"advert_int\"?",
            "t.conf:14:3: unsupported: keyword \"vrf\" is not supported by vigil; ignored (500 times; this is the first)",
            "t.conf:17:7: error: unknown keyword \"conect_timeout\"; did you mean \"connect_timeout\"?",
            "t.conf:25:7: error: unknown keyword \"conect_timeout\"; did you mean \"connect_timeout\"?",
            "t.conf:33:7: error: unknown keyword \"conect_timeout\"; did you mean \"connect_timeout\"?",
            "t.conf:13:1: warning: virtual_server without a protocol: UDP, as keepalived defaults to it (say `protocol TCP` for a TCP service) (500 times; this is the first)",
            "t.conf:41:7: error: unknown keyword \"conect_timeout\"; did you mean \"connect_timeout\"? (500 times in all; only the first 3 are listed)",
        ]
    );
}

/// Where keepalived is lenient, vigil takes the config too, does what
/// keepalived does, and says so.
#[test]
fn leniency_where_keepalived_is_lenient() {
    let text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  nopreempt 1\n  authentication {\n    auth_type PASS\n    auth_pass secret-password\n  }\n  unicast_src_ip 10.0.0.2\n  unicast_peer {\n    10.0.0.3/24\n  }\n}\nvirtual_server fwmark 7 {\n  alpha 1\n  omega on\n  inhibit_on_failure yes\n  real_server 10.0.1.1 80 {\n    inhibit_on_failure no\n    TCP_CHECK {\n    }\n  }\n}\n";
    let i = import_str("l.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        d,
        [
            "l.conf:4:13: warning: nopreempt takes no value; \"1\" ignored (as keepalived ignores it)",
            "l.conf:7:15: warning: auth_pass is 15 bytes; keepalived uses the first 8 (\"secret-p\"), and so does vigil",
            "l.conf:11:5: warning: unicast_peer 10.0.0.3/24: the prefix is ignored (a peer is one address)",
            "l.conf:1:1: warning: vrrp_instance VI_1: no virtual_ipaddress: it elects a master for its notify programs only (keepalived: \"at least one is sensible\")",
            "l.conf:15:9: warning: alpha takes on|off|true|false|yes|no (or nothing: on); keepalived ignores \"1\", and so does vigil: alpha stays off",
            "l.conf:17:22: warning: inhibit_on_failure takes no value; \"yes\" ignored (as keepalived ignores it)",
        ]
    );
    let c = &i.config;
    let vi = &c.vrrp_instances[0];
    // No virtual address: an instance for its notify programs (clouds).
    assert!(vi.virtual_ipaddress.is_empty());
    assert!(!vi.preempt);
    assert_eq!(vi.auth_pass.as_deref(), Some("secret-p"));
    assert_eq!(vi.unicast_peer[0], "10.0.0.3".parse::<std::net::IpAddr>().unwrap());
    let vs = &c.virtual_servers[0];
    assert_eq!((vs.alpha, vs.omega, vs.inhibit_on_failure), (false, true, true));
    assert_eq!(vs.real_servers[0].inhibit_on_failure, Some(false));
    c.validate().unwrap();
    round_trip(c);
}

/// The global defaults keepalived's own template puts in every config
/// (vrrp_garp_interval 0, vrrp_gna_interval 0, vrrp_skip_check_adv_addr,
/// vrrp_strict) are applied as keepalived applies them; strict mode's
/// changes are said, its refusals are errors; keepalived 1.x's
/// lvs_sync_daemon_interface is read as today's lvs_sync_daemon.
#[test]
fn global_defaults_and_strict_mode_as_keepalived() {
    let text = "global_defs {\n  vrrp_skip_check_adv_addr\n  vrrp_garp_interval 0.25\n  vrrp_gna_interval 0.5\n  vrrp_garp_master_repeat 2\n  vrrp_strict\n}\nvrrp_instance V4 {\n  state MASTER\n  interface eth0\n  lvs_sync_daemon_interface eth1\n  virtual_router_id 1\n  priority 100\n  authentication {\n    auth_type PASS\n    auth_pass 1111\n  }\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n}\nvrrp_instance V6 {\n  interface eth0\n  virtual_router_id 2\n  priority 255\n  garp_master_repeat 3\n  skip_check_adv_addr off\n  virtual_ipaddress {\n    2001:db8::1/64\n  }\n}\nvrrp_instance OPEN {\n  interface eth0\n  virtual_router_id 3\n  accept\n  version 3\n  virtual_ipaddress {\n    10.0.0.3/24\n  }\n}\n";
    let i = import_str("s.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        d,
        [
            "s.conf:11:3: warning: lvs_sync_daemon_interface is keepalived 1.x's form: read as global_defs lvs_sync_daemon eth1 V4",
            "s.conf:8:1: warning: vrrp_instance V4: vrrp_strict: state MASTER only with priority 255; starts as BACKUP (as keepalived)",
            "s.conf:8:1: warning: vrrp_instance V4: vrrp_strict: no authentication; auth_pass ignored (as keepalived)",
            "s.conf:8:1: warning: vrrp_instance V4: vrrp_strict: no_accept, as keepalived: while master, this node drops traffic to the virtual addresses (add `accept` to the instance to take it)",
        ]
    );
    let c = &i.config;
    let (v4, v6, open) = (&c.vrrp_instances[0], &c.vrrp_instances[1], &c.vrrp_instances[2]);
    // The intervals pace each interface, as keepalived paces them (not an
    // instance's rounds).
    assert_eq!((c.global.garp_interval_us, c.global.gna_interval_us), (Some(250_000), Some(500_000)));
    assert_eq!((v4.garp.interval_ms, v4.garp.master_repeat, v4.skip_check_adv_addr), (0, 2, true));
    assert_eq!((v4.state, v4.auth_pass.as_deref(), v4.accept), (VrrpState::Backup, None, false));
    assert_eq!((v6.garp.interval_ms, v6.garp.master_repeat, v6.skip_check_adv_addr, v6.accept), (0, 3, false, true));
    assert!(open.accept);
    let sync = c.global.lvs_sync_daemon.as_ref().unwrap();
    assert_eq!((sync.interface.as_str(), sync.instance.as_str()), ("eth1", "V4"));
    assert!(c.global.vrrp_strict);
    c.validate().unwrap();
    round_trip(c);

    // What strict mode refuses, keepalived refuses too.
    let bad = "global_defs {\n  vrrp_strict\n}\nvrrp_instance U {\n  interface eth0\n  virtual_router_id 1\n  unicast_peer {\n    10.0.0.9\n  }\n}\n";
    let e: Vec<String> = import_str("b.conf", bad).unwrap().errors().map(|d| d.to_string()).collect();
    assert_eq!(
        e,
        [
            "b.conf:4:1: error: vrrp_instance U: vrrp_strict does not allow unicast peers",
            "b.conf:4:1: error: vrrp_instance U: vrrp_strict does not allow an instance without virtual addresses",
        ]
    );
}

/// Addresses and routes that move with the state (or stay), as keepalived
/// writes them; `ip route` options vigil does not set are reported.
#[test]
fn excluded_addresses_routes_and_static_ones() {
    let text = "static_ipaddress {\n  192.168.200.18/24 dev eth2 scope link\n}\nstatic_routes {\n  src 192.168.100.1 to 192.168.109.0/24 via 192.168.200.254 dev eth1\n  192.168.110.0/24 via 192.168.200.254 dev eth1 metric 5 table 100\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n  virtual_ipaddress_excluded {\n    10.0.0.2/24\n    2001:db8::2/64\n  }\n  virtual_routes {\n    default via 10.0.0.254 dev eth0 table main\n    blackhole 198.51.100.0/24\n    2001:db8:1::/48 via 2001:db8::fe\n    10.9.0.0/16 via 10.0.0.253 realm 5 onlink\n  }\n}\n";
    let i = import_str("r.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(d, Vec::<String>::new());
    let c = &i.config;
    let g = &c.global;
    assert_eq!(g.static_ipaddress[0].dev.as_deref(), Some("eth2"));
    assert_eq!(g.static_ipaddress[0].scope, Some(RouteScope::Link));
    assert_eq!(g.static_routes[0].to_string(), "src 192.168.100.1 192.168.109.0/24 via 192.168.200.254 dev eth1");
    assert_eq!(g.static_routes[1].to_string(), "192.168.110.0/24 via 192.168.200.254 dev eth1 metric 5 table 100");
    let v = &c.vrrp_instances[0];
    assert_eq!(v.virtual_ipaddress_excluded.len(), 2);
    let routes: Vec<String> = v.virtual_routes.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        routes,
        [
            "0.0.0.0/0 via 10.0.0.254 dev eth0 table 254",
            "blackhole 198.51.100.0/24",
            "2001:db8:1::/48 via 2001:db8::fe",
            "10.9.0.0/16 via 10.0.0.253 onlink realms 5",
        ]
    );
    c.validate().unwrap();
    round_trip(c);

    // What the kernel would refuse is said before it is committed.
    let mut bad = c.clone();
    bad.vrrp_instances[0].virtual_routes[2].via = Some("10.0.0.1".parse().unwrap());
    bad.vrrp_instances[0].virtual_ipaddress_excluded[0].addr = "10.0.0.1/24".parse().unwrap();
    let errs: Vec<String> = bad.validate().unwrap_err().iter().map(|e| e.to_string()).collect();
    assert!(
        errs.contains(&"vrrp_instance VI_1: virtual_ipaddress_excluded 10.0.0.1/24 is a virtual address too".into()),
        "{errs:#?}"
    );
    assert!(
        errs.contains(
            &"vrrp_instance VI_1 virtual_routes 2001:db8:1::/48 via 10.0.0.1: via is not of the destination's family"
                .into()
        ),
        "{errs:#?}"
    );
}

#[test]
fn track_process_imports_validates_and_round_trips() {
    let text = "vrrp_track_process haproxy {\n  process \"/usr/sbin/haproxy -f /etc/haproxy\"\n  param_match partial\n  full_command\n  quorum 2\n  quorum_max 4\n  delay 0.5\n  weight -30 reverse\n}\nvrrp_sync_group G {\n  group {\n    VI_1\n  }\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1\n  }\n  track_process {\n    haproxy weight 0\n    missing\n  }\n}\n";
    let i = import_str("p.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(d, ["p.conf:23:5: error: track_process \"missing\": no vrrp_track_process of that name"]);
    let mut c = i.config.clone();
    let t = &c.track_processes[0];
    assert_eq!(t.process.as_str(), "/usr/sbin/haproxy -f /etc/haproxy");
    assert_eq!(
        (
            t.param_match,
            t.full_command,
            t.quorum,
            t.quorum_max,
            t.fork_delay_ms,
            t.terminate_delay_ms,
            t.weight,
            t.reverse
        ),
        (ParamMatch::Partial, true, 2, Some(4), 500, 500, -30, true)
    );
    c.vrrp_instances[0].track_process.retain(|t| t.name.as_str() == "haproxy");
    c.validate().unwrap();
    round_trip(&c);
    c.track_processes[0].quorum_max = Some(1);
    let errs: Vec<String> = c.validate().unwrap_err().iter().map(|e| e.to_string()).collect();
    assert_eq!(errs, ["vrrp_track_process haproxy: quorum_max 1 is below quorum 2"]);
}

/// Checker settings at virtual_server and real_server level are the
/// defaults of the checkers below, as keepalived reads them; each kind's
/// own default delay_before_retry (3 s for HTTP, delay_loop for DNS, 1 s
/// otherwise); ops, scheduler flags and the quorum programs.
#[test]
fn virtual_server_level_checker_defaults_flags_and_quorum_programs() {
    let text = "virtual_server 10.0.0.1 53 {\n  delay_loop 20\n  protocol UDP\n  lb_algo sh\n  ops\n  sh-port\n  quorum_up \"/bin/echo up\"\n  quorum_down /bin/true\n  retry 4\n  virtualhost www.example.com\n  real_server 10.0.1.1 53 {\n    connect_timeout 7\n    DNS_CHECK {\n      name example.com\n    }\n    HTTP_GET {\n      url {\n        path /\n      }\n      retry 2\n    }\n  }\n  real_server 10.0.1.2 53 {\n    TCP_CHECK {\n    }\n  }\n}\n";
    let i = import_str("d.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![], "{:#?}", i.diagnostics);
    let vs = &i.config.virtual_servers[0];
    assert_eq!(vs.ipvs_flags, vs_flags::OPS | vs_flags::FLAG_2);
    assert_eq!((vs.quorum_up.as_deref(), vs.quorum_down.as_deref()), (Some("/bin/echo up"), Some("/bin/true")));
    let (dns, http, tcp) =
        (&vs.real_servers[0].checkers[0], &vs.real_servers[0].checkers[1], &vs.real_servers[1].checkers[0]);
    // DNS: the real server's connect_timeout, the virtual server's retry,
    // and its delay_loop as the retry delay.
    assert_eq!((dns.connect_timeout_s, dns.retry, dns.delay_before_retry_s), (7, 4, 20));
    // HTTP: its own retry, 3 s between retries, the virtual server's virtualhost.
    assert_eq!((http.connect_timeout_s, http.retry, http.delay_before_retry_s), (7, 2, 3));
    let CheckKind::Http(h) = &http.kind else { panic!() };
    assert_eq!(h.virtualhost.as_deref(), Some("www.example.com"));
    // TCP: nothing from the first real server.
    assert_eq!((tcp.connect_timeout_s, tcp.retry, tcp.delay_before_retry_s), (5, 4, 1));
    i.config.validate().unwrap();
    round_trip(&i.config);
}

#[test]
fn track_file_imports_and_round_trips() {
    let text = "vrrp_track_file maint {\n  file /run/maint\n  weight -5 reverse\n  init_file 3 overwrite\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1\n  }\n  track_file {\n    maint weight 0\n  }\n}\n";
    let i = import_str("f.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![]);
    let f = &i.config.track_files[0];
    assert_eq!((f.file.as_str(), f.weight, f.reverse, f.init), ("/run/maint", -5, true, Some((3, true))));
    assert_eq!(i.config.vrrp_instances[0].track_file[0].weight, Some((0, false)));
    i.config.validate().unwrap();
    round_trip(&i.config);
    let e = import_str("f.conf", &text.replace("maint weight 0", "mant")).unwrap();
    let d: Vec<String> = e.errors().map(|d| d.to_string()).collect();
    assert_eq!(d, ["f.conf:13:5: error: track_file \"mant\": no vrrp_track_file of that name"]);
}

/// A static address without `dev` goes on `default_interface` (else eth0),
/// as keepalived puts it.
#[test]
fn static_addresses_go_on_the_default_interface() {
    let text =
        "global_defs {\n  default_interface bond0\n}\nstatic_ipaddress {\n  192.0.2.5/24\n  192.0.2.6/24 dev eth3\n}\n";
    let i = import_str("s.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![]);
    let devs: Vec<&str> = i.config.global.static_ipaddress.iter().map(|a| a.dev.as_deref().unwrap()).collect();
    assert_eq!(devs, ["bond0", "eth3"]);
    round_trip(&i.config);
    let i = import_str("s.conf", "static_ipaddress {\n  192.0.2.5/24\n}\n").unwrap();
    assert_eq!(i.config.global.static_ipaddress[0].dev.as_deref(), Some("eth0"));
}

#[test]
fn rules_import_validate_and_round_trip() {
    let text = "static_rules {\n  from 192.168.28.0/24 table 1\n  inet6 fwmark 0x10/0xff priority 100 lookup main\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n  virtual_rules {\n    from 10.0.0.1 to 198.51.100.0/24 iif eth0 priority 200 table 100\n    to 203.0.113.0/24 not blackhole\n    from 10.0.0.2 realms 5 table 7\n  }\n}\n";
    let i = import_str("r.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(d, Vec::<String>::new());
    let g: Vec<String> = i.config.global.static_rules.iter().map(|r| r.to_string()).collect();
    assert_eq!(g, ["from 192.168.28.0/24 table 1", "inet6 fwmark 16/255 priority 100 table 254"]);
    let v: Vec<String> = i.config.vrrp_instances[0].virtual_rules.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        v,
        [
            "from 10.0.0.1/32 to 198.51.100.0/24 iif eth0 priority 200 table 100",
            "to 203.0.113.0/24 not blackhole",
            "from 10.0.0.2/32 realms 5 table 7",
        ]
    );
    i.config.validate().unwrap();
    round_trip(&i.config);
    let e: Vec<String> = import_str("r.conf", "static_rules {\n  from 10.0.0.0/8\n}\n")
        .unwrap()
        .errors()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(e, ["r.conf:2:3: error: a rule needs a table (or blackhole, unreachable, prohibit)"]);
}

/// `virtual_server_group` as keepalived reads it: IPv4 ranges in the last
/// octet, IPv6 ranges in the last 16 bits (hex), single addresses, marks;
/// `virtual_server group NAME` stands for every one of them.
#[test]
fn virtual_server_groups_import_expand_validate_and_round_trip() {
    let text = "\
virtual_server_group WEB {
  192.168.201.10-12 80
  10.1.1.5 80   # one address
  fwmark 7
}
virtual_server_group V6 {
  2001:db8::a-c 443
}
virtual_server group WEB {
  lb_algo rr
  protocol TCP
  real_server 10.0.0.1 80 {
    TCP_CHECK {
    }
  }
}
virtual_server group V6 {
  protocol TCP
  real_server 2001:db8:1::1 443 {
  }
}
";
    let i = import_str("g.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![]);
    let c = &i.config;
    c.validate().unwrap();
    let services = |vi: usize| c.services(&c.virtual_servers[vi]).map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(services(0), ["192.168.201.10 80", "192.168.201.11 80", "192.168.201.12 80", "10.1.1.5 80", "fwmark 7"]);
    assert_eq!(services(1), ["2001:db8::a 443", "2001:db8::b 443", "2001:db8::c 443"]);
    assert_eq!(c.virtual_servers[1].key.to_string(), "group V6");
    round_trip(c);
    let out = export(c, Flavor::Keepalived);
    assert!(out.contains("virtual_server_group V6 {\n    2001:db8::a-c 443\n}"), "{out}");
    assert!(out.contains("virtual_server group WEB {"), "{out}");
}

#[test]
fn group_mistakes_say_where_and_what() {
    let errors = |text: &str| -> Vec<String> {
        let i = import_str("g.conf", text).unwrap();
        i.diagnostics.iter().map(|d| d.to_string()).collect()
    };
    // A group nobody defined: keepalived drops the virtual server (its
    // services silently gone); vigil says so, naming the groups there are.
    assert_eq!(
        errors("virtual_server_group WEB {\n  10.0.0.1 80\n}\nvirtual_server group WBE {\n}\n"),
        ["g.conf:4:22: error: virtual_server group WBE: no virtual_server_group of that name (the groups are WEB)"]
    );
    assert_eq!(
        errors(
            "virtual_server_group W {\n  10.0.0.20-10 80\n  10.0.0.1-256 80\n  2001:db8::1-fffff 80\n  10.0.0.x 80\n  10.0.0.1 80 90\n}\n"
        ),
        [
            "g.conf:2:3: error: 10.0.0.20-10: the range ends at 10, not after where it starts",
            "g.conf:3:3: error: 10.0.0.1-256: the range's end \"256\" is not 0..=255",
            "g.conf:4:3: error: 2001:db8::1-fffff: the range's end \"fffff\" is not 0..=ffff, hex",
            "g.conf:5:3: error: \"10.0.0.x\" is not an address, a range (10.0.0.1-10) or fwmark N",
            "g.conf:6:15: error: \"90\" is extra: a group line is an address and a port",
        ]
    );
    // An empty group is dropped as keepalived drops it.
    assert_eq!(
        errors("virtual_server_group E {\n}\n"),
        ["g.conf:1:1: warning: virtual_server_group E: no addresses or marks; dropped (as keepalived drops it)"]
    );
    // A line without a port is every port: persistent, as keepalived makes it.
    let i = import_str(
        "g.conf",
        "virtual_server_group A {\n  10.0.0.1-2\n}\nvirtual_server group A {\n  protocol TCP\n}\n",
    )
    .unwrap();
    assert_eq!(
        i.diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        [
            "g.conf:4:22: warning: virtual_server group A: port 0 (every port) is only for persistent services; persistence_timeout 360 set, as keepalived sets it"
        ]
    );
    assert_eq!(i.config.virtual_servers[0].persistence_timeout, 360);
    i.config.validate().unwrap();
}

#[test]
fn group_services_are_validated_as_ipvs_sees_them() {
    let invalid = |text: &str| -> Vec<String> {
        let i = import_str("g.conf", text).unwrap();
        assert!(i.errors().next().is_none(), "{:?}", i.diagnostics);
        i.config.validate().unwrap_err().iter().map(|e| e.to_string()).collect()
    };
    // The same service from a group and from a virtual server of its own.
    assert_eq!(
        invalid(
            "virtual_server_group G {\n  10.0.0.1-5 80\n}\nvirtual_server group G {\n}\nvirtual_server 10.0.0.3 80 {\n}\n"
        ),
        ["virtual_server 10.0.0.3 80: 10.0.0.3 80 is also virtual_server group G"]
    );
    // Within a group, and across families.
    assert_eq!(
        invalid(
            "virtual_server_group G {\n  10.0.0.1-5 80\n  10.0.0.4 80\n  2001:db8::1 80\n}\nvirtual_server group G {\n}\n"
        ),
        [
            "virtual_server_group G 2001:db8::1 80: mixes IPv4 and IPv6 addresses in one group",
            "virtual_server group G: stands for 10.0.0.4 80 twice",
        ]
    );
    // A range of 65,535 IPv6 services is more than a config may ask of
    // the kernel: counted, not listed.
    assert_eq!(
        invalid("virtual_server_group G {\n  2001:db8::1-ffff 80\n}\nvirtual_server group G {\n}\n"),
        ["virtual_server: the virtual servers and their groups stand for 65535 IPVS services, more than 16384"]
    );
}

/// Weights in a sync group, as keepalived 2.2.7 runs them (seen in its
/// logs): a sync group's weighted tracking moves every member's priority,
/// a member's weighted track_interface its own; a weighted script in a
/// member's own block keepalived drops ("ignoring tracked script with
/// weights due to SYNC group"): vigil applies it and says so.
#[test]
fn weights_in_sync_groups_import_as_keepalived_runs_them() {
    let text = "\
vrrp_script chk {
  script /bin/true
  weight -20
}
vrrp_script chk0 {
  script /bin/true
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
  track_script {
    chk
    chk0 weight 5
  }
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 12
  virtual_ipaddress {
    192.0.2.5/24
  }
  track_interface {
    eth1 weight 10
  }
  track_script {
    chk weight -7
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 13
  virtual_ipaddress {
    192.0.2.6/24
  }
}
";
    let i = import_str("s.conf", text).unwrap();
    assert_eq!(
        i.diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        [
            "s.conf:28:5: warning: track_script chk (weight -7) in VI_1, a member of vrrp_sync_group G: keepalived 2.2.7 drops a weighted track from a member's own block (its log: ignoring tracked script with weights due to SYNC group), vigil applies it to VI_1's priority"
        ]
    );
    i.config.validate().unwrap();
    round_trip(&i.config); // keepalived runs the export as vigil runs it: the group says so.
    let out = export(&i.config, Flavor::Keepalived);
    assert!(out.contains("    sync_group_tracking_weight\n"), "{out}");
    // With it said, keepalived applies the member's weights too: nothing
    // to warn of.
    let said = text.replace("  track_script {\n    chk\n", "  sync_group_tracking_weight\n  track_script {\n    chk\n");
    let i = import_str("s.conf", &said).unwrap();
    assert_eq!(i.diagnostics, vec![]);
}

/// `vrrp_min_garp`: one gratuitous ARP/NA on becoming master, no second
/// burst (keepalived.conf(5)); an instance's own settings still win.
#[test]
fn vrrp_min_garp_sends_one_announcement() {
    let text = "global_defs {\n  vrrp_min_garp\n}\n\
        vrrp_instance A {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n}\n\
        vrrp_instance B {\n  interface eth0\n  virtual_router_id 2\n  garp_master_repeat 3\n  virtual_ipaddress {\n    10.0.0.2/24\n  }\n}\n";
    let i = import_str("g.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![]);
    let g = |n: usize| (i.config.vrrp_instances[n].garp.master_repeat, i.config.vrrp_instances[n].garp.master_delay_s);
    assert_eq!(g(0), (1, 0));
    assert_eq!(g(1), (3, 0));
    round_trip(&i.config);
}

/// The timers, groups and start/stop settings of schema 7: the globals are
/// the instances' defaults (each family its own group), an instance's own
/// setting wins, and all of it is written back.
#[test]
fn timers_groups_and_start_stop_settings() {
    let text = "global_defs {\n  vrrp_garp_master_refresh_repeat 2\n  vrrp_garp_lower_prio_delay 7\n  vrrp_garp_lower_prio_repeat 4\n\
        vrrp_down_timer_adverts 5\n  vrrp_mcast_group4 224.0.0.19\n  vrrp_mcast_group6 ff02::19\n  vrrp_startup_delay 5.5\n\
        lvs_flush_on_stop VS\n  startup_script_timeout 20\n  startup_script \"/bin/up start\" nobody nogroup\n  shutdown_script /bin/down\n}\n\
        vrrp_instance A {\n  interface eth0\n  virtual_router_id 1\n  garp_master_refresh_repeat 3\n  down_timer_adverts 4\n\
        unicast_ttl 64\n  unicast_fault_no_peer\n  track_src_ip\n  promote_secondaries\n  unicast_src_ip 10.0.0.5\n\
        notify_master_rx_lower_pri /bin/lower\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n}\n\
        vrrp_instance B {\n  interface eth0\n  virtual_router_id 2\n  virtual_ipaddress {\n    2001:db8::1/64\n  }\n}\n\
        vrrp_instance C {\n  interface eth0\n  virtual_router_id 3\n  mcast_dst_ip 224.0.0.20\n  virtual_ipaddress {\n    10.0.0.3/24\n  }\n}\n";
    let i = import_str("t.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![], "{:?}", i.diagnostics);
    let g = &i.config.global;
    assert_eq!(g.vrrp_startup_delay_ms, 5500);
    assert_eq!(g.lvs_flush_on_stop, Some(FlushOnStop::VirtualServers));
    let up = g.startup_script.as_ref().unwrap();
    assert_eq!((up.program.as_str(), up.timeout_s), ("/bin/up start", 20));
    assert_eq!(up.user.as_ref().map(|u| (u.user.as_str(), u.group.as_deref())), Some(("nobody", Some("nogroup"))));
    assert_eq!(g.shutdown_script.as_ref().map(|h| (h.program.as_str(), h.timeout_s)), Some(("/bin/down", 10)));
    let [a, b, c] = [0, 1, 2].map(|n| &i.config.vrrp_instances[n]);
    assert_eq!(
        (a.garp.master_refresh_repeat, a.garp.lower_prio_delay_s, a.garp.lower_prio_repeat),
        (3, Some(7), Some(4))
    );
    assert_eq!((a.down_timer_adverts, a.unicast_ttl, a.mcast_dst_ip), (4, 64, Some("224.0.0.19".parse().unwrap())));
    assert!(a.unicast_fault_no_peer && a.track_src_ip && a.promote_secondaries);
    assert_eq!(a.notify_master_rx_lower_pri.as_deref(), Some("/bin/lower"));
    assert_eq!((b.garp.master_refresh_repeat, b.down_timer_adverts), (2, 5));
    assert_eq!(b.mcast_dst_ip, Some("ff02::19".parse().unwrap()));
    assert_eq!((b.unicast_ttl, b.unicast_fault_no_peer), (255, false));
    assert_eq!(c.mcast_dst_ip, Some("224.0.0.20".parse().unwrap()));
    round_trip(&i.config);

    // What validation refuses, where it stands.
    for (bad, want) in [
        ("mcast_dst_ip 10.0.0.9", "mcast_dst_ip 10.0.0.9 is not an IPv4 multicast group"),
        ("mcast_dst_ip ff05::12", "mcast_dst_ip ff05::12 is not an IPv4 multicast group"),
        ("down_timer_adverts 0", "down_timer_adverts 0 is outside 1..=100"),
        ("track_src_ip", "track_src_ip needs a unicast_src_ip"),
    ] {
        let t = format!(
            "vrrp_instance C {{\n  interface eth0\n  virtual_router_id 3\n  {bad}\n  virtual_ipaddress {{\n    10.0.0.3/24\n  }}\n}}\n"
        );
        let i = import_str("bad.conf", &t);
        let said = match i {
            Ok(i) => i.problems().iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"),
            Err(e) => e.to_string(),
        };
        assert!(said.contains(want) && said.contains("bad.conf:1:1"), "{bad}: {said}");
    }
    let i = import_str("t.conf", "global_defs {\n  lvs_flush_on_stop ALL\n  startup_script_timeout 0\n}\n").unwrap();
    let e: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    let e = e.join("\n");
    assert!(e.contains("t.conf:2:21") && e.contains("lvs_flush_on_stop takes nothing or VS, not \"ALL\""), "{e}");
    assert!(e.contains("t.conf:3:26") && e.contains("\"0\" is not a number of seconds (1..=1000)"), "{e}");
}

/// A checker's own connection settings, alpha and log_all_failures (the
/// global checker_log_all_failures their default), HTTP's protocol, SNI
/// and a url's regex: read, validated (a pattern that does not compile is
/// refused where it stands) and written back.
#[test]
fn checker_settings_and_http_regex() {
    let text = "global_defs {\n  checker_log_all_failures\n}\nvirtual_server 10.0.0.1 443 {\n  protocol TCP\n  real_server 10.0.0.2 443 {\n\
        SSL_GET {\n      url {\n        path /health\n        regex \"ok|up\"\n        regex_no_match\n        regex_min_offset 2\n        regex_max_offset 90\n        regex_options caseless dotall\n      }\n\
        http_protocol 1.0C\n      enable_sni\n      bind_if eth1\n      bind_port 4000\n      fwmark 9\n      alpha\n      fast_recovery\n    }\n\
        TCP_CHECK {\n      log_all_failures off\n    }\n  }\n}\n";
    let i = import_str("c.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].starts_with("c.conf:22:7: replaced: keyword \"fast_recovery\": vigil checks every url"), "{d:?}");
    let rs = &i.config.virtual_servers[0].real_servers[0];
    let (ssl, tcp) = (&rs.checkers[0], &rs.checkers[1]);
    let CheckKind::Http(h) = &ssl.kind else { panic!("{ssl:?}") };
    assert_eq!((h.protocol, h.enable_sni, h.tls), (HttpProtocol::Http10Close, true, true));
    let r = h.urls[0].regex.as_ref().unwrap();
    assert_eq!((r.pattern.as_str(), r.no_match, r.min_offset, r.max_offset), ("ok|up", true, 2, Some(90)));
    assert_eq!(r.options, regex_options::CASELESS | regex_options::DOTALL);
    assert_eq!(
        (ssl.bind_if.as_deref().map(|i| i.as_str()), ssl.bind_port, ssl.fwmark, ssl.alpha),
        (Some("eth1"), Some(4000), Some(9), Some(true))
    );
    assert_eq!((ssl.log_all_failures, tcp.log_all_failures), (Some(true), Some(false)));
    i.config.validate().unwrap();
    round_trip(&i.config);

    let bad = text.replace("regex \"ok|up\"", "regex \"(ok\"");
    let i = import_str("c.conf", &bad).unwrap();
    let p: Vec<String> = i.problems().iter().map(|d| d.to_string()).collect();
    assert!(
        p.iter().any(|l| l.starts_with("c.conf:6:3: error: ")
            && l.contains("SSL_GET: regex \"(ok\": ")
            && l.contains("unclosed group")),
        "{p:?}"
    );
    let bad = text.replace("http_protocol 1.0C", "http_protocol 2");
    let e: Vec<String> = import_str("c.conf", &bad).unwrap().diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(e.iter().any(|l| l == "c.conf:16:15: error: http_protocol is 1.0, 1.0C or 1.1, not \"2\""), "{e:?}");
}

/// `ha_suspend`: kept on an address, dropped with a warning on a mark (as
/// keepalived clears it there).
#[test]
fn ha_suspend_on_addresses_and_not_on_marks() {
    let text =
        "virtual_server 10.0.0.1 80 {\n  protocol TCP\n  ha_suspend\n}\nvirtual_server fwmark 3 {\n  ha_suspend\n}\n";
    let i = import_str("h.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        d,
        [
            "h.conf:6:3: warning: ha_suspend on a fwmark virtual server: it has no address to wait for; ignored (as keepalived clears it)"
        ]
    );
    assert!(i.config.virtual_servers[0].ha_suspend && !i.config.virtual_servers[1].ha_suspend);
    round_trip(&i.config);
}

/// `ip_family` gives a mark its family (validation holds its real servers
/// to it); `rs_init_notifies` and `no_checker_emails` are read and written.
#[test]
fn ip_family_and_checker_notify_settings() {
    let text =
        "global_defs {\n  rs_init_notifies\n  no_checker_emails\n}\nvirtual_server fwmark 5 {\n  ip_family inet6\n}\n";
    let i = import_str("f.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![]);
    assert!(i.config.global.rs_init_notifies && i.config.global.no_checker_emails);
    assert!(i.config.virtual_servers[0].fwmark_v6());
    i.config.validate().unwrap();
    round_trip(&i.config);
    let mixed = text.replace("  ip_family inet6\n", "  ip_family inet6\n  real_server 10.0.0.2 80 {\n  }\n");
    let i = import_str("f.conf", &mixed).unwrap();
    let p: Vec<String> = i.problems().iter().map(|d| d.to_string()).collect();
    assert_eq!(
        p,
        ["f.conf:5:1: error: virtual_server fwmark 5: real_server 10.0.0.2:80 is not of its ip_family inet6"]
    );
    let e: Vec<String> = import_str("f.conf", &text.replace("inet6", "ipv6"))
        .unwrap()
        .diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(e, ["f.conf:6:13: error: ip_family is inet or inet6, not \"ipv6\""]);
}

/// `garp_extra_if [all] S` and the global `vrrp_garp_extra_if`: read,
/// said when `all` is missing (keepalived then sends on VMAC interfaces
/// only), written back; 0 is off.
#[test]
fn garp_extra_if_and_its_global() {
    let text = "global_defs {\n  vrrp_garp_extra_if all 100\n}\n\
        vrrp_instance A {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n}\n\
        vrrp_instance B {\n  interface eth0\n  virtual_router_id 2\n  garp_extra_if 30\n  virtual_ipaddress {\n    10.0.0.2/24\n  }\n}\n\
        vrrp_instance C {\n  interface eth0\n  virtual_router_id 3\n  garp_extra_if all 0\n  virtual_ipaddress {\n    10.0.0.3/24\n  }\n}\n";
    let i = import_str("x.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].starts_with("x.conf:14:3: warning: garp_extra_if without all:"), "{d:?}");
    let e = |n: usize| i.config.vrrp_instances[n].garp_extra_if;
    assert_eq!((e(0), e(1), e(2)), (Some((100, true)), Some((30, false)), None));
    round_trip(&i.config);
}

/// keepalived's top-level `SSL { }` block (refused as an unknown keyword
/// before): read, said when its key is encrypted, written back.
#[test]
fn the_ssl_block_is_read_and_written_back() {
    let text = "SSL {\n  ca /etc/keepalived/ca.pem\n  certificate /etc/keepalived/client.pem\n  key /etc/keepalived/client.key\n}\n";
    let i = import_str("s.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![]);
    let f = i.config.global.ssl.as_ref().unwrap();
    assert_eq!(
        (f.ca.as_deref(), f.certificate.as_deref(), f.key.as_deref(), f.password.as_deref()),
        (Some("/etc/keepalived/ca.pem"), Some("/etc/keepalived/client.pem"), Some("/etc/keepalived/client.key"), None)
    );
    round_trip(&i.config);
    let i = import_str("s.conf", &text.replace("SSL {\n", "SSL {\n  password secret\n")).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 1);
    assert!(d[0].starts_with("s.conf:1:1: warning: SSL password: vigil reads unencrypted keys only"), "{d:?}");
    round_trip(&i.config);
}

/// SMTP_CHECK's deprecated `host { }` blocks are checkers of their own (as
/// keepalived 2.2.7 reads them); the block checks too when it names a
/// connection of its own.
#[test]
fn smtp_check_host_blocks_are_checkers_of_their_own() {
    let text = "virtual_server 10.0.0.1 25 {\n  protocol TCP\n  real_server 10.0.0.2 25 {\n    SMTP_CHECK {\n      helo_name lb.example\n      retry 2\n\
        host {\n        connect_ip 172.16.1.11\n      }\n      host {\n        connect_ip 192.168.155.10\n        connect_port 587\n        bindto 192.168.155.2\n      }\n    }\n\
        SMTP_CHECK {\n      connect_port 2525\n      host {\n        connect_ip 172.16.1.12\n      }\n    }\n  }\n}\n";
    let i = import_str("s.conf", text).unwrap();
    assert_eq!(
        i.diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        [
            "s.conf:7:1: warning: SMTP_CHECK host blocks are deprecated (keepalived says so too): each host is read as an SMTP_CHECK of its own (2 times; this is the first)"
        ]
    );
    let rs = &i.config.virtual_servers[0].real_servers[0];
    let got: Vec<String> = rs
        .checkers
        .iter()
        .map(|c| format!("{:?} {:?} {:?} retry {}", c.connect_ip, c.connect_port, c.bind_to, c.retry))
        .collect();
    assert_eq!(
        got,
        [
            "Some(172.16.1.11) None None retry 2",
            "Some(192.168.155.10) Some(587) Some(192.168.155.2) retry 2",
            "None Some(2525) None retry 1",
            "Some(172.16.1.12) Some(2525) None retry 1",
        ]
    );
    assert!(rs.checkers.iter().all(|c| matches!(&c.kind, CheckKind::Smtp { .. })));
    round_trip(&i.config);
}

#[test]
fn sorry_server_inhibit_and_lvs_method_import_and_round_trip() {
    let text = "virtual_server 10.0.0.1 80 {\n  protocol TCP\n  lb_kind DR\n  sorry_server 10.0.9.9 8080\n  sorry_server_inhibit\n  sorry_server_lvs_method NAT\n\
        real_server 10.0.0.2 80 {\n  }\n}\nvirtual_server 10.0.0.1 81 {\n  sorry_server_inhibit\n  protocol TCP\n  real_server 10.0.0.2 81 {\n  }\n}\n";
    let i = import_str("s.conf", text).unwrap();
    assert_eq!(
        i.diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        ["s.conf:11:3: warning: sorry_server_inhibit without a sorry_server: ignored (as keepalived ignores it)"]
    );
    let vs = &i.config.virtual_servers[0];
    assert_eq!((vs.sorry_server_inhibit, vs.sorry_server_lvs_kind), (true, Some(Forwarding::Nat)));
    assert!(!i.config.virtual_servers[1].sorry_server_inhibit);
    i.config.validate().unwrap();
    round_trip(&i.config);
}

/// `alpha` on a real server overrides its virtual server's (keepalived
/// reads it at both levels).
#[test]
fn a_real_servers_own_alpha_imports_and_round_trips() {
    let text = "virtual_server 10.0.0.1 80 {\n  protocol TCP\n  alpha\n  real_server 10.0.0.2 80 {\n    alpha off\n  }\n  real_server 10.0.0.3 80 {\n  }\n}\n\
        virtual_server 10.0.0.1 81 {\n  protocol TCP\n  real_server 10.0.0.2 81 {\n    alpha\n  }\n}\n";
    let i = import_str("a.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![]);
    let c = &i.config;
    let alpha = |v: usize, r: usize| c.virtual_servers[v].real_servers[r].alpha;
    assert_eq!((alpha(0, 0), alpha(0, 1), alpha(1, 0)), (Some(false), None, Some(true)));
    round_trip(c);
}

/// What validation finds in an import is said at its place: file, line and
/// column of the block (or real server) it is about.
#[test]
fn semantic_errors_say_where() {
    let text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n}\n\
        vrrp_sync_group G {\n  group {\n  }\n}\n\
        virtual_server 10.0.0.1 80 {\n  real_server 10.0.0.2 80 {\n    weight 70000\n  }\n}\n";
    let i = import_str("p.conf", text).unwrap();
    assert!(i.errors().next().is_none(), "{:?}", i.diagnostics);
    let problems: Vec<String> = i.problems().iter().map(|d| d.to_string()).collect();
    assert_eq!(
        problems,
        [
            "p.conf:8:1: error: vrrp_sync_group G: has no members (group { INSTANCE ... })",
            "p.conf:13:3: error: virtual_server 10.0.0.1 80 real_server 10.0.0.2 80: weight 70000 is above 65535",
        ]
    );
    // A value keepalived does not take says what it found.
    let i = import_str("s.conf", "vrrp_instance VI_1 {\n  state MASTR\n}\n").unwrap();
    assert_eq!(i.errors().next().unwrap().to_string(), "s.conf:2:9: error: state is MASTER or BACKUP, not \"MASTR\"");
}

/// A virtual address in two instances is refused where it stands (the one
/// that goes BACKUP would take it from the other's MASTER); one listed
/// twice in an instance is taken once, as keepalived takes it.
#[test]
fn a_virtual_address_of_two_instances_is_refused_and_one_listed_twice_taken_once() {
    let text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n}\n\
        vrrp_instance VI_2 {\n  interface eth0\n  virtual_router_id 2\n  virtual_ipaddress {\n    10.0.0.7/24\n    10.0.0.7/24\n  }\n\
          virtual_ipaddress_excluded {\n    10.0.0.1/24\n  }\n}\n";
    let i = import_str("d.conf", text).unwrap();
    assert_eq!(
        i.diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        ["d.conf:13:5: warning: 10.0.0.7 is listed twice in this instance: taken once (as keepalived takes it)"]
    );
    assert_eq!(i.config.vrrp_instances[1].virtual_ipaddress.len(), 1);
    assert_eq!(
        i.problems().iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        [
            "d.conf:8:1: error: vrrp_instance VI_2: virtual address 10.0.0.1 is vrrp_instance VI_1's too: whichever goes BACKUP would take it from the other's MASTER"
        ]
    );
}

#[test]
fn dont_track_primary_imports_and_round_trips() {
    let text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  dont_track_primary\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n}\n";
    let i = import_str("d.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![]);
    assert!(i.config.vrrp_instances[0].dont_track_primary);
    round_trip(&i.config);
}

/// `vrrp_lower_prio_no_advert` / `vrrp_higher_prio_send_advert` are the
/// instances' defaults; an instance's own setting wins.
#[test]
fn advert_answer_settings_import_with_their_global_defaults() {
    let text = "global_defs {\n  vrrp_lower_prio_no_advert\n  vrrp_higher_prio_send_advert true\n}\n\
        vrrp_instance A {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n}\n\
        vrrp_instance B {\n  interface eth0\n  virtual_router_id 2\n  lower_prio_no_advert false\n  virtual_ipaddress {\n    10.0.0.2/24\n  }\n}\n";
    let i = import_str("a.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![]);
    let f = |n: usize| {
        (i.config.vrrp_instances[n].lower_prio_no_advert, i.config.vrrp_instances[n].higher_prio_send_advert)
    };
    assert_eq!((f(0), f(1)), ((true, true), (false, true)));
    round_trip(&i.config);
}

/// Everything `ip address`, `ip route` and `ip rule` options keepalived
/// takes on its addresses, routes and rules is read, kept and written back
/// (an operator's `scope global` or `proto static` was "ignored" before).
#[test]
fn address_route_and_rule_options_import_and_round_trip() {
    let text = "\
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 7
  use_vmac vrrp7 02:00:5e:00:01
  vmac_xmit_base
  virtual_ipaddress {
    192.0.2.10/24 dev eth0 scope global label eth0:1 noprefixroute
    192.0.2.11/32 peer 192.0.2.99/32 home -nodad no_track
    192.0.2.12/24 brd + mngtmpaddr autojoin
  }
  virtual_ipaddress_excluded {
    2001:db8::7/128 dev eth1 preferred_lft forever
    2001:db8::8/64 dev eth1 preferred_lft 0
  }
  virtual_routes {
    10.0.0.0/8 via 192.0.2.1 proto static tos 0x10 realms 3/4 mtu lock 1400 advmss 1360 features ecn no_track
    10.1.0.0/16 nexthop via 192.0.2.1 dev eth0 weight 2 nexthop via 192.0.2.2 onlink table 100 append no_track
  }
  virtual_rules {
    from 192.0.2.0/24 tos 8 realms 9 uidrange 1000-1999 sport 1024-2048 dport 53 ip_proto udp l3mdev protocol 4 priority 50 table 7
    from 198.51.100.0/24 priority 60 goto 80
    to 203.0.113.0/24 suppress_prefixlength 0 suppress_ifgroup 3 table main no_track
  }
}
";
    let i = import_str("o.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(d, Vec::<String>::new());
    let v = &i.config.vrrp_instances[0];
    let vm = v.vmac.as_ref().unwrap();
    assert_eq!(vm.name.as_deref(), Some("vrrp7"));
    assert_eq!(vm.mac, Some([0x02, 0, 0x5e, 0, 1, 7]), "five octets: the VRID is the sixth");
    assert!(vm.xmit_base);
    let [a, b, c] = &v.virtual_ipaddress[..] else { panic!("{:?}", v.virtual_ipaddress) };
    let [d7, d8] = &v.virtual_ipaddress_excluded[..] else { panic!("{:?}", v.virtual_ipaddress_excluded) };
    assert_eq!((d7.preferred_lft, d7.preferred_lft_s(), d8.preferred_lft_s()), (Some(Lifetime::Forever), u32::MAX, 0));
    assert_eq!(
        VirtualAddress::new("2001:db8::9/128".parse().unwrap()).preferred_lft_s(),
        0,
        "a /128 is deprecated by default"
    );
    assert_eq!(
        (a.scope, a.label.as_deref(), a.flags),
        (Some(RouteScope::Global), Some("eth0:1"), addr_flags::NOPREFIXROUTE)
    );
    assert_eq!(b.peer.map(|p| p.to_string()), Some("192.0.2.99/32".into()));
    assert_eq!((b.flags, b.no_track), (addr_flags::HOME | addr_flags::NODAD, true));
    assert_eq!(c.brd, Some("192.0.2.255".parse().unwrap()), "brd + sets the host bits");
    assert_eq!(c.flags, addr_flags::MNGTMPADDR | addr_flags::AUTOJOIN);
    let r: Vec<String> = v.virtual_routes.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        r,
        [
            "10.0.0.0/8 via 192.0.2.1 protocol 4 tos 16 realms 3/4 mtu lock 1400 advmss 1360 features ecn no_track",
            "10.1.0.0/16 table 100 nexthop via 192.0.2.1 dev eth0 weight 2 nexthop via 192.0.2.2 onlink append no_track",
        ]
    );
    let rules: Vec<String> = v.virtual_rules.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        rules,
        [
            "from 192.0.2.0/24 priority 50 tos 8 realms 9 uidrange 1000-1999 sport 1024-2048 dport 53-53 ipproto 17 l3mdev protocol 4 table 7",
            "from 198.51.100.0/24 priority 60 goto 80",
            "to 203.0.113.0/24 suppress_prefixlength 0 suppress_ifgroup 3 table 254 no_track",
        ]
    );
    i.config.validate().unwrap();
    round_trip(&i.config);
    // keepalived's export of the same passes through its own parser
    // (tests/keepalived_accepts runs keepalived --config-test on exports).
    let k = export(&i.config, Flavor::Keepalived);
    assert!(k.contains("use_vmac vrrp7 02:00:5e:00:01:07") && k.contains("vmac_xmit_base"), "{k}");

    // use_vmac with unicast peers: vmac_xmit_base set, as keepalived does.
    let uni = "vrrp_instance U {\n  interface eth0\n  virtual_router_id 9\n  use_vmac\n  unicast_peer {\n    192.0.2.2\n  }\n  virtual_ipaddress {\n    192.0.2.9/24\n  }\n}\n";
    let u = import_str("u.conf", uni).unwrap();
    let d: Vec<String> = u.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        d,
        ["u.conf:1:1: warning: use_vmac with unicast peers needs vmac_xmit_base: set (as keepalived sets it)"]
    );
    assert!(u.config.vrrp_instances[0].vmac.as_ref().unwrap().xmit_base);

    // As keepalived: a tracked route's protocol is its own; an RFC 5798
    // MAC given to use_vmac is the default one.
    let t = text.replace(" no_track\n    10.1.0.0/16", "\n    10.1.0.0/16").replace("02:00:5e:00:01", "00:00:5e:00:01");
    let i2 = import_str("o.conf", &t).unwrap();
    let d: Vec<String> = i2.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        d,
        [
            "o.conf:16:5: warning: a tracked route's protocol is keepalived's (18): the protocol given is reset, as keepalived resets it (add no_track to keep it)",
            "o.conf:4:18: warning: use_vmac: a MAC of RFC 5798's form is the default one; the given one is ignored (as in keepalived)",
        ]
    );
    let v2 = &i2.config.vrrp_instances[0];
    assert_eq!((v2.vmac.as_ref().unwrap().mac, v2.virtual_routes[0].protocol), (None, None));

    // vmac_prefix: keepalived names a vmac PREFIX.VRID (both families).
    let pre =
        format!("global_defs {{\n  vmac_prefix vx\n}}\n{}", uni.replace("use_vmac\n", "use_vmac\n  vmac_xmit_base\n"));
    let p = import_str("p.conf", &pre).unwrap();
    assert_eq!(p.diagnostics, vec![]);
    assert_eq!(p.config.vrrp_instances[0].vmac.as_ref().unwrap().name.as_deref(), Some("vx.9"));
    round_trip(&p.config);

    // Mistakes say where and what.
    let bad = text
        .replace("scope global", "scope planet")
        .replace("tos 0x10", "tos 0x1000")
        .replace("weight 2", "weight 300")
        .replace("uidrange 1000-1999", "uidrange 2000-1999")
        .replace("preferred_lft 0", "preferred_lft soon")
        .replace("noprefixroute", "noprefixrout");
    let e: Vec<String> = import_str("o.conf", &bad).unwrap().errors().map(|d| d.to_string()).collect();
    assert_eq!(
        e,
        [
            "o.conf:7:34: error: scope \"planet\" is not global, site, link, host or nowhere",
            "o.conf:7:54: error: \"noprefixrout\" is not an address option; did you mean \"noprefixroute\"?",
            "o.conf:13:43: error: \"soon\" is not seconds or forever",
            "o.conf:16:47: error: \"0x1000\" is not a TOS byte",
            "o.conf:17:55: error: weight 300 is not 1..=256",
            "o.conf:20:47: error: uidrange \"2000-1999\" is not A-B (A <= B)",
        ]
    );
    // A multipath route with a gateway of its own, or a hop of the other family: refused.
    let mut c = i.config.clone();
    c.vrrp_instances[0].virtual_routes[1].via = Some("192.0.2.9".parse().unwrap());
    c.vrrp_instances[0].virtual_routes[1].nexthops[0].via = Some("2001:db8::1".parse().unwrap());
    let errs: Vec<String> = c.validate().unwrap_err().iter().map(|e| e.to_string()).collect();
    assert!(errs.iter().any(|e| e.ends_with("nexthops are instead of via, on a unicast route")), "{errs:?}");
    assert!(errs.iter().any(|e| e.ends_with("a nexthop's via is not of the destination's family")), "{errs:?}");
    // A vmac named after a NIC would hide it: refused.
    let mut c = i.config.clone();
    c.vrrp_instances[0].vmac.as_mut().unwrap().name = Some("eth0".try_into().unwrap());
    let errs: Vec<String> = c.validate().unwrap_err().iter().map(|e| e.to_string()).collect();
    assert!(errs.iter().any(|e| e.contains("use_vmac eth0: that is an interface of the appliance")), "{errs:?}");
}

/// FILE_CHECK: its track_file, weight and direction are read, checked
/// against the vrrp_track_file blocks with where, and written back.
#[test]
fn file_checks_import_validate_and_round_trip() {
    let text = "vrrp_track_file maint {\n  file /run/maint\n  weight 0\n}\nvrrp_track_file load {\n  file /run/load\n}\nvirtual_server 192.0.2.1 80 {\n  protocol TCP\n  real_server 192.0.2.11 80 {\n    FILE_CHECK {\n      track_file maint\n    }\n    FILE_CHECK {\n      track_file load\n      weight -3 reverse\n    }\n  }\n}\n";
    let i = import_str("f.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![]);
    let rs = &i.config.virtual_servers[0].real_servers[0];
    assert_eq!(
        rs.checkers.iter().map(|c| c.kind.clone()).collect::<Vec<_>>(),
        [
            CheckKind::File { track_file: Box::new("maint".try_into().unwrap()), weight: None, dynamic: false },
            CheckKind::File {
                track_file: Box::new("load".try_into().unwrap()),
                weight: Some((-3, true)),
                dynamic: false
            },
        ]
    );
    i.config.validate().unwrap();
    round_trip(&i.config);
    let k = export(&i.config, Flavor::Keepalived);
    assert!(k.contains("FILE_CHECK {\n            track_file load\n            weight -3 reverse\n        }"), "{k}");

    let bad = text
        .replace("      track_file load", "      track_file lod")
        .replace("weight -3 reverse", "weight -3 backwards");
    let e: Vec<String> = import_str("f.conf", &bad).unwrap().errors().map(|d| d.to_string()).collect();
    assert_eq!(
        e,
        [
            "f.conf:16:17: error: weight option \"backwards\" is not reverse or noreverse",
            "f.conf:15:18: error: track_file \"lod\": no vrrp_track_file of that name",
        ]
    );
    let none = text.replace("      track_file maint\n", "");
    let e: Vec<String> = import_str("f.conf", &none).unwrap().errors().map(|d| d.to_string()).collect();
    assert_eq!(e, ["f.conf:11:5: error: FILE_CHECK needs a track_file"]);
}

/// `lvs_method TUN type gue port N csum` as keepalived 2.2.7 writes it (at
/// the virtual server, a default, and per real server): vigil refused it
/// ("lvs_method takes one value") and wrote `tun_type`, which keepalived
/// refuses. `persistence_engine sip` is read and checked.
#[test]
fn tunnels_and_the_persistence_engine_import_validate_and_round_trip() {
    let text = "virtual_server 192.0.2.1 5060 {\n  protocol UDP\n  lvs_method TUN type gue port 6080 csum\n  persistence_engine sip\n  persistence_timeout 50\n  real_server 192.0.2.11 5060 {\n    lvs_method TUN type gre\n  }\n  real_server 192.0.2.12 5060 {\n  }\n  real_server 192.0.2.13 5060 {\n    lvs_method TUN type gue port 7000 remcsum\n  }\n}\n";
    let i = import_str("t.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![]);
    let vs = &i.config.virtual_servers[0];
    assert_eq!((vs.lb_kind, vs.tunnel), (Forwarding::Tun, Some(Tunnel::Gue { port: 6080, csum: TunCsum::Csum })));
    assert_eq!(vs.persistence_engine.as_deref(), Some("sip"));
    let t: Vec<Option<Tunnel>> = vs.real_servers.iter().map(|r| r.tunnel).collect();
    assert_eq!(
        t,
        [Some(Tunnel::Gre { csum: TunCsum::None }), None, Some(Tunnel::Gue { port: 7000, csum: TunCsum::Remcsum })]
    );
    i.config.validate().unwrap();
    round_trip(&i.config);
    let k = export(&i.config, Flavor::Keepalived);
    assert!(k.contains("lvs_method TUN type gue port 6080 csum") && k.contains("persistence_engine sip"), "{k}");
    assert!(!k.contains("tun_type"), "{k}");

    // vigil's old tun_type/tun_port are read, said as not keepalived's.
    let old = "virtual_server 192.0.2.1 80 {\n  protocol TCP\n  real_server 192.0.2.11 80 {\n    lb_kind TUN\n    tun_type gue\n    tun_port 6080\n  }\n}\n";
    let o = import_str("o.conf", old).unwrap();
    assert_eq!(
        o.config.virtual_servers[0].real_servers[0].tunnel,
        Some(Tunnel::Gue { port: 6080, csum: TunCsum::None })
    );
    assert_eq!(o.diagnostics.iter().filter(|d| d.severity == Severity::Warning).count(), 2);

    // Mistakes: where and what.
    let bad = text.replace("type gre", "type gre remcsum").replace("port 6080 csum", "csum").replace("sip", "ftp");
    let e: Vec<String> = import_str("t.conf", &bad).unwrap().errors().map(|d| d.to_string()).collect();
    assert_eq!(
        e,
        ["t.conf:3:3: error: type gue needs a port", "t.conf:7:5: error: remcsum is for type gue (GRE has none)"]
    );
    let mut c = i.config.clone();
    c.virtual_servers[0].persistence_engine = Some("ftp".try_into().unwrap());
    c.virtual_servers[0].persistence_timeout = 0;
    let errs: Vec<String> = c.validate().unwrap_err().iter().map(|e| e.to_string()).collect();
    assert!(errs.iter().any(|e| e.contains("persistence_engine ftp: the kernel's only engine is sip")), "{errs:?}");
    // No lb_algo: keepalived's wlc ("no scheduler set, setting default
    // 'wlc'"); vigil took wrr.
    assert_eq!(i.config.virtual_servers[0].lb_algo, Scheduler::Wlc);
}

/// BFD as keepalived 2.2.7 reads it (its --config-test run here on the same
/// lines): intervals in ms with three decimals, `neighbour_ip`, `hoplimit`,
/// `max_hops -1`, `vrrp`/`checker`; `track_bfd` in an instance and a sync
/// group; BFD_CHECK. Out-of-range values are errors with where (keepalived
/// ignores them with a "Configuration error").
#[test]
fn bfd_instances_track_bfd_and_bfd_checks_import_validate_and_round_trip() {
    let text = "bfd_instance B1 {\n  neighbor_ip 10.8.0.2\n  source_ip 10.8.0.1\n  min_rx 3.312\n  min_tx 20\n  idle_tx 2000\n  multiplier 3\n  ttl 250\n  max_hops 2\n  weight 10 reverse\n  vrrp\n}\nbfd_instance B2 {\n  neighbour_ip 2001:db8::3\n  passive\n  hoplimit 3\n  max_hops -1\n}\nvrrp_instance VI {\n  interface eth0\n  virtual_router_id 9\n  priority 100\n  virtual_ipaddress {\n    10.8.0.100/24\n  }\n  track_bfd {\n    B1 weight -20\n    B2\n  }\n}\nvrrp_sync_group G {\n  group {\n    VI\n  }\n  track_bfd {\n    B2\n  }\n}\nvirtual_server 10.8.0.100 80 {\n  protocol TCP\n  real_server 10.8.0.5 80 {\n    BFD_CHECK {\n      name B2\n    }\n  }\n}\n";
    let i = import_str("b.conf", text).unwrap();
    clean(&i);
    let warnings: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        warnings,
        [
            "b.conf:27:5: warning: track_bfd B1 (weight -20) in VI, a member of vrrp_sync_group G: keepalived 2.2.7 drops a weighted track from a member's own block (its log: ignoring tracked script with weights due to SYNC group), vigil applies it to VI's priority"
        ]
    );
    let c = &i.config;
    let b1 = &c.bfd_instances[0];
    assert_eq!(b1.neighbor, "10.8.0.2".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(b1.source, Some("10.8.0.1".parse().unwrap()));
    assert_eq!((b1.min_rx_us, b1.min_tx_us, b1.idle_tx_us, b1.multiplier), (3_312, 20_000, 2_000_000, 3));
    assert_eq!((b1.ttl, b1.max_hops, b1.weight, b1.reverse, b1.events), (Some(250), 2, 10, true, BfdEvents::Vrrp));
    let b2 = &c.bfd_instances[1];
    assert_eq!((b2.passive, b2.ttl, b2.ttl(), b2.max_hops, b2.events), (true, Some(3), 3, 255, BfdEvents::Both));
    assert_eq!((b2.min_rx_us, b2.min_tx_us, b2.idle_tx_us, b2.multiplier), (10_000, 10_000, 1_000_000, 5));
    let vi = &c.vrrp_instances[0];
    assert_eq!(
        vi.track_bfd.iter().map(|t| (t.name.as_str(), t.weight)).collect::<Vec<_>>(),
        [("B1", Some((-20, false))), ("B2", None)]
    );
    assert_eq!(c.sync_groups[0].track_bfd[0].name.as_str(), "B2");
    assert_eq!(
        c.virtual_servers[0].real_servers[0].checkers[0].kind,
        CheckKind::Bfd { name: Box::new("B2".try_into().unwrap()) }
    );
    c.validate().unwrap();
    round_trip(c);
    let k = export(c, Flavor::Keepalived);
    assert!(k.contains("bfd_instance B1 {\n    neighbor_ip 10.8.0.2\n    source_ip 10.8.0.1\n    min_rx 3.312\n    min_tx 20\n    idle_tx 2000\n    multiplier 3\n    ttl 250\n    max_hops 2\n    weight 10 reverse\n    vrrp\n}"), "{k}");
    assert!(
        k.contains("bfd_instance B2 {\n    neighbor_ip 2001:db8::3\n    passive\n    hoplimit 3\n    max_hops -1\n}"),
        "{k}"
    );
    assert!(k.contains("BFD_CHECK {\n            name B2\n        }"), "{k}");

    let bad = text
        .replace("min_rx 3.312", "min_rx 3.3125")
        .replace("idle_tx 2000", "idle_tx 999")
        .replace("multiplier 3", "multiplier 0")
        .replace("ttl 250", "ttl 256")
        .replace("max_hops 2", "max_hops -2")
        .replace("    B1 weight -20", "    B3 weight -20")
        .replace("      name B2", "      name B4");
    let e: Vec<String> = import_str("b.conf", &bad).unwrap().errors().map(|d| d.to_string()).collect();
    assert_eq!(
        e,
        [
            "b.conf:4:10: error: min_rx \"3.3125\" is not 1..=4294967 ms (up to three decimals)",
            "b.conf:6:11: error: idle_tx \"999\" is not 1000..=4294967 ms (up to three decimals)",
            "b.conf:7:14: error: multiplier 0 is outside 1..=255",
            "b.conf:8:7: error: \"256\" is not a TTL (1-255)",
            "b.conf:9:12: error: max_hops -2 is outside -1..=255",
            "b.conf:27:5: error: \"B3\": no bfd_instance of that name",
            "b.conf:43:12: error: \"B4\": no bfd_instance of that name",
        ],
        "{e:#?}"
    );
    // More hops than the TTL sent: cut to it, as keepalived cuts it.
    let more = import_str("b.conf", &text.replace("max_hops -1", "max_hops 9")).unwrap();
    assert_eq!(more.config.bfd_instances[1].max_hops, 3);
    assert!(
        more.diagnostics.iter().any(|d| d.to_string()
            == "b.conf:13:1: warning: bfd_instance B2: max_hops 9 is more than the ttl 3 sent: taken as 3, as keepalived takes it"),
        "{:#?}",
        more.diagnostics
    );
    let none = text.replace("  neighbor_ip 10.8.0.2\n", "");
    let e: Vec<String> = import_str("b.conf", &none).unwrap().errors().map(|d| d.to_string()).collect();
    assert!(e.contains(&"b.conf:1:1: error: bfd_instance B1: no neighbor_ip".to_string()), "{e:#?}");
}

/// `garp_group` and the global GARP/NA pace as keepalived 2.2.7 reads them
/// (its --config-test run here on the same lines): seconds down to the
/// microsecond, `interface` (each its own pace) or `interfaces { }` (one
/// pace across them); an interface in two groups is an error (keepalived:
/// "garp_group already specified for kv0 - ignoring").
#[test]
fn garp_groups_and_the_global_pace_import_validate_and_round_trip() {
    let text = "global_defs {\n  vrrp_garp_interval 0.001\n  vrrp_gna_interval 0.000002\n}\ngarp_group {\n  garp_interval 0.05\n  gna_interval 0.02\n  interface eth0\n}\ngarp_group {\n  garp_interval 0.1\n  interfaces {\n    eth1\n    eth2\n  }\n}\n";
    let i = import_str("g.conf", text).unwrap();
    assert_eq!(i.diagnostics, vec![]);
    let g = &i.config.global;
    assert_eq!((g.garp_interval_us, g.gna_interval_us), (Some(1_000), Some(2)));
    let (a, b) = (&g.garp_groups[0], &g.garp_groups[1]);
    assert_eq!(
        (a.interfaces.len(), a.shared, a.garp_interval_us, a.gna_interval_us),
        (1, false, Some(50_000), Some(20_000))
    );
    assert_eq!((b.interfaces.len(), b.shared, b.garp_interval_us, b.gna_interval_us), (2, true, Some(100_000), None));
    i.config.validate().unwrap();
    round_trip(&i.config);
    let k = export(&i.config, Flavor::Keepalived);
    assert!(k.contains("vrrp_garp_interval 0.001\n") && k.contains("vrrp_gna_interval 0.000002\n"), "{k}");
    assert!(
        k.contains("garp_group {\n    garp_interval 0.1\n    interfaces {\n        eth1\n        eth2\n    }\n}"),
        "{k}"
    );

    let bad = text.replace("0.000002", "0.0000005").replace("interface eth0", "interface eth0\n  interface eth1");
    let i = import_str("g.conf", &bad).unwrap();
    let e: Vec<String> = i.errors().map(|d| d.to_string()).collect();
    assert_eq!(
        e,
        ["g.conf:3:21: error: \"0.0000005\" is not a number of seconds (0.000001..=4294.967295, six decimals at most)"]
    );
    let e: Vec<String> = i.config.validate().unwrap_err().iter().map(|e| e.to_string()).collect();
    assert_eq!(e, ["garp_group 2: interface eth1 is in garp_group 1 too"]);
    let none = import_str("g.conf", "garp_group {\n  garp_interval 1\n}\n").unwrap();
    assert!(none.config.global.garp_groups.is_empty());
    assert_eq!(
        none.diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        ["g.conf:1:1: warning: garp_group names no interface: it paces nothing (as in keepalived)"]
    );
}

/// `vigil_defs metrics_listen ADDR:PORT`: the endpoint's one address;
/// written back as read.
#[test]
fn the_metrics_endpoint_imports_and_round_trips() {
    let listen = |line: &str| {
        let i = import_str("m.conf", &format!("vigil_defs {{\n  {line}\n}}\n")).unwrap();
        let e: Vec<String> = i.errors().map(|d| d.to_string()).collect();
        (i.config.global.metrics_listen.map(|s| s.to_string()), e, i.config)
    };
    for (line, want) in [
        ("metrics_listen 192.0.2.1:9650", "192.0.2.1:9650"),
        ("metrics_listen [2001:db8::1]:9100", "[2001:db8::1]:9100"),
    ] {
        let (got, e, c) = listen(line);
        assert_eq!((got.as_deref(), e), (Some(want), vec![]), "{line}");
        assert!(export(&c, Flavor::Vigil).contains(&format!("metrics_listen {want}\n")));
        round_trip(&c);
    }
    let (got, e, _) = listen("metrics_listen 192.0.2.1");
    assert_eq!(got, None);
    assert_eq!(
        e,
        ["m.conf:2:18: error: \"192.0.2.1\" is not ADDRESS:PORT or [IPv6]:PORT (where the metrics are served)"]
    );
    let (_, e, _) = listen("metrics_listen");
    assert_eq!(e, ["m.conf:2:3: error: metrics_listen takes ADDRESS:PORT, e.g. 192.0.2.1:9650"]);
    let (_, _, c) = listen("metrics_listen 0.0.0.0:0");
    let errs: Vec<String> = c.validate().unwrap_err().iter().map(|e| e.to_string()).collect();
    assert_eq!(errs, ["vigil_defs metrics_listen: 0.0.0.0:0: port 0 is no port a scraper can be told"]);
}

/// `vigil_defs syslog ADDR[:PORT] [tcp|udp]` and vigil's older `syslog ADDR
/// PORT`; written back as `syslog ADDR PORT [tcp]`.
#[test]
fn syslog_targets_import_and_round_trip() {
    let target = |line: &str| {
        let i = import_str("s.conf", &format!("vigil_defs {{\n  {line}\n}}\n")).unwrap();
        let e: Vec<String> = i.errors().map(|d| d.to_string()).collect();
        (i.config.global.syslog.map(|s| (s.addr.to_string(), s.tcp)), e, i.config)
    };
    for (line, want) in [
        ("syslog 192.0.2.1", ("192.0.2.1:514", false)),
        ("syslog 192.0.2.1 1514", ("192.0.2.1:1514", false)),
        ("syslog 192.0.2.1:6514 tcp", ("192.0.2.1:6514", true)),
        ("syslog [2001:db8::1]:514 udp", ("[2001:db8::1]:514", false)),
        ("syslog 2001:db8::1 tcp", ("[2001:db8::1]:514", true)),
    ] {
        let (got, e, c) = target(line);
        assert_eq!((got, e), (Some((want.0.to_string(), want.1)), vec![]), "{line}");
        round_trip(&c);
    }
    let (got, e, _) = target("syslog logs.example 514 tcp");
    assert_eq!(got, None);
    assert_eq!(e, ["s.conf:2:10: error: \"logs.example\" is not an IP address"]);
    let (_, e, _) = target("syslog");
    assert_eq!(e, ["s.conf:2:3: error: syslog takes ADDRESS[:PORT] [tcp|udp]"]);
}

/// Each top-level block is imported as it is read; a `global_defs` after
/// the blocks it sets defaults for still sets them (the file is read again
/// whole): both orders give the same config.
#[test]
fn global_defs_apply_whether_they_come_first_or_last() {
    let globals = "global_defs {\n  vrrp_version 3\n  checker_log_all_failures\n}\n";
    let rest = "vrrp_instance VI {\n  interface eth0\n  virtual_router_id 5\n  virtual_ipaddress {\n    192.0.2.5/24\n  }\n}\n\
                virtual_server 192.0.2.5 80 {\n  protocol TCP\n  real_server 192.0.2.9 80 {\n    TCP_CHECK {\n    }\n  }\n}\n";
    let first = import_str("first.conf", &format!("{globals}{rest}")).unwrap();
    let last = import_str("last.conf", &format!("{rest}{globals}")).unwrap();
    assert_eq!(first.config.vrrp_instances[0].version, 3);
    assert_eq!(first.config.virtual_servers[0].real_servers[0].checkers[0].log_all_failures, Some(true));
    assert_eq!(first.config, last.config);
    assert_eq!(first.errors().count() + last.errors().count(), 0);
}

/// keepalived's static track groups, as its man page writes them: a
/// `track_group` block naming instances, and static addresses, routes and
/// rules naming the group; they import, validate, export and import again
/// the same. What keepalived does not take (a group nobody defines, a
/// member that is no instance, a tracked route without a device) is an
/// error at its place; what it ignores is a warning.
#[test]
fn static_track_groups_import_validate_and_round_trip() {
    let text = "\
track_group GROUP1 {
  group {
    VI_1
    VI_2
  }
}
static_ipaddress {
  192.168.1.1/24 dev eth0 scope global track_group GROUP1
  192.168.9.1/24 dev eth2
}
static_routes {
  192.168.2.0/24 via 192.168.1.100 dev eth0 track_group GROUP1
}
static_rules {
  from 192.168.2.0/24 iif eth0 priority 100 table 1 track_group GROUP1
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    10.0.0.1/24
  }
}
vrrp_instance VI_2 {
  interface eth1
  virtual_router_id 2
  virtual_ipaddress {
    10.0.1.1/24
  }
}
";
    let i = import_str("t.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(d, Vec::<String>::new());
    let g = &i.config.global;
    assert_eq!(g.track_groups.len(), 1);
    assert_eq!(g.track_groups[0].group.iter().map(|m| m.as_str()).collect::<Vec<_>>(), ["VI_1", "VI_2"]);
    let named = |item| g.track_group_of(item).map(|n| n.as_str());
    assert_eq!(named(StaticItem::Address(0)), Some("GROUP1"));
    assert_eq!(named(StaticItem::Address(1)), None);
    assert_eq!(named(StaticItem::Route(0)), Some("GROUP1"));
    assert_eq!(named(StaticItem::Rule(0)), Some("GROUP1"));
    // Each member follows the items' interfaces (eth0 once); eth2's
    // address names no group.
    assert_eq!(g.track_group_interfaces("VI_2"), ["eth0"]);
    assert!(g.track_group_interfaces("VI_3").is_empty());
    i.config.validate().unwrap();
    round_trip(&i.config);
    let text_out = export(&i.config, Flavor::Keepalived);
    assert!(text_out.contains("192.168.2.0/24 via 192.168.1.100 dev eth0 track_group GROUP1"), "{text_out}");

    let said = |text: &str| -> Vec<String> {
        import_str("t.conf", text).unwrap().diagnostics.iter().map(|d| d.to_string()).collect()
    };
    let inst = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1/24 track_group G\n  }\n}\n";
    assert_eq!(
        said(&format!("static_ipaddress {{\n  192.0.2.1/24 dev eth0 track_group NOPE\n}}\n{inst}")),
        [
            "t.conf:8:29: warning: track_group applies to static addresses, routes and rules only (as keepalived says); ignored here",
            "t.conf:2:37: error: track_group \"NOPE\": no track_group of that name (there is no track_group block)",
        ]
    );
    assert_eq!(
        said("static_routes {\n  192.0.2.0/24 via 198.51.100.1 dev eth0 no_track track_group G\n}\n"),
        ["t.conf:2:63: warning: track_group with no_track: not tracked (as keepalived says)"]
    );
    let e = import_str(
        "t.conf",
        "track_group G {\n  group {\n    VI_9\n  }\n}\nstatic_routes {\n  192.0.2.0/24 via 198.51.100.1 track_group G\n}\n",
    )
    .unwrap()
    .config
    .validate()
    .unwrap_err();
    let e: Vec<String> = e.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        e,
        [
            "track_group G: group member VI_9 is not a vrrp_instance",
            "static_routes 192.0.2.0/24: a route's track_group follows its dev: give it one (keepalived refuses it too)",
        ]
    );
}

/// Address vmacs as keepalived 2.2.7 reads them: `use_vmac_addr` on an
/// instance, `use_vmac` on an address, `vmac_addr_prefix` (else
/// `vmac_prefix`) for their names; they import, export and import again
/// the same; on a static address `use_vmac` means nothing and says so.
#[test]
fn address_vmacs_import_and_round_trip() {
    let text = "\
global_defs {
  vmac_prefix vk
}
static_ipaddress {
  192.0.2.9/24 dev eth2 use_vmac
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  use_vmac_addr
  virtual_ipaddress {
    192.0.2.100/24
    198.51.100.100/24 dev eth1 use_vmac
  }
}
";
    let i = import_str("v.conf", text).unwrap();
    let d: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(d, ["v.conf:5:3: warning: use_vmac on a static address: ignored (a vmac is an instance's)"]);
    let c = &i.config;
    assert_eq!(c.global.vmac_addr_prefix.as_deref(), Some("vk"), "vmac_prefix names address vmacs too");
    assert!(!c.global.static_ipaddress[0].use_vmac);
    let vi = &c.vrrp_instances[0];
    assert!(vi.use_vmac_addr);
    assert_eq!(vi.virtual_ipaddress.iter().map(|a| a.use_vmac).collect::<Vec<_>>(), [false, true]);
    // What goes where, and the names keepalived 2.2.7 gives (seen with it
    // in a namespace: vx.51 on eth1, vx6.51 for an IPv6 excluded address on
    // the instance's own interface, vrrp1.51 when vrrp.51 is taken).
    let vm = vi.address_vmacs();
    assert_eq!(vm, [AddressVmac { parent: "eth1".try_into().unwrap(), v6: false }]);
    assert_eq!(vi.address_vmac_of(&vi.virtual_ipaddress[0]), None);
    assert_eq!(vm[0].name(Some("vx"), 0, 51), "vx.51");
    assert_eq!(vm[0].name(None, 1, 51), "vrrp1.51");
    assert_eq!(vm[0].mac(51), [0, 0, 0x5e, 0, 1, 51]);
    let mut other = vi.clone();
    let mut evip = VirtualAddress::new("2001:db8::100/64".parse().unwrap());
    evip.dev = None;
    other.virtual_ipaddress_excluded.push(evip).unwrap();
    let six = AddressVmac { parent: "eth0".try_into().unwrap(), v6: true };
    assert_eq!(other.address_vmacs()[1], six);
    assert_eq!(six.name(Some("vx"), 0, 51), "vx6.51");
    assert_eq!(six.mac(51), [0, 0, 0x5e, 0, 2, 51]);
    other.use_vmac_addr = false;
    assert_eq!(other.address_vmacs().len(), 1, "without use_vmac_addr only the address saying use_vmac");
    c.validate().unwrap();
    round_trip(c);
    let out = export(c, Flavor::Keepalived);
    assert!(out.contains("vmac_addr_prefix vk") && out.contains("use_vmac_addr"), "{out}");
    assert!(out.contains("198.51.100.100/24 dev eth1 use_vmac"), "{out}");
    let e: Vec<String> = import_str("v.conf", "global_defs {\n  vmac_addr_prefix a/b\n}\n")
        .unwrap()
        .errors()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(e, ["v.conf:2:20: error: vmac_addr_prefix \"a/b\" is not 1..=11 characters of an interface name"]);
}

#[test]
fn use_ipvlan_imports_validates_and_round_trips() {
    let inst = |line: &str, vip: &str| {
        format!(
            "vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  {line}\n  virtual_ipaddress {{\n    {vip}\n  }}\n}}\n"
        )
    };
    // Its words in any order, as keepalived takes them.
    let i = import_str("v.conf", &inst("use_ipvlan private 192.0.2.51/24 ipv51", "192.0.2.100/24")).unwrap();
    clean(&i);
    assert_eq!(i.unsupported().count(), 0);
    let ip = i.config.vrrp_instances[0].ipvlan.clone().unwrap();
    assert_eq!(ip.name.as_deref(), Some("ipv51"));
    assert_eq!(ip.address.map(|a| a.to_string()).as_deref(), Some("192.0.2.51/24"));
    assert_eq!((ip.mode, ip.mode.flags()), (IpvlanMode::Private, 1));
    i.config.validate().unwrap();
    round_trip(&i.config);
    let out = export(&i.config, Flavor::Keepalived);
    assert!(out.contains("use_ipvlan ipv51 192.0.2.51/24 private"), "{out}");
    // A bare address is a host address; no name: vrrp.VRID (vrrp6 for IPv6).
    let i = import_str("v.conf", &inst("use_ipvlan 192.0.2.51", "192.0.2.100/24")).unwrap();
    let ip = i.config.vrrp_instances[0].ipvlan.clone().unwrap();
    assert_eq!((ip.address.map(|a| a.prefix), ip.mode), (Some(32), IpvlanMode::Bridge));
    assert_eq!(ip.name_for(51, false), "vrrp.51");
    assert_eq!(ip.name_for(51, true), "vrrp6.51");
    // IPv6 may go without an address (the link-local one is used).
    let i = import_str("v.conf", &inst("use_ipvlan", "2001:db8::100/64")).unwrap();
    clean(&i);
    i.config.validate().unwrap();
    round_trip(&i.config);
    // Mistakes say where and what.
    let errors = |text: &str| -> Vec<String> {
        let i = import_str("v.conf", text).unwrap();
        let mut e: Vec<String> = i.errors().map(|d| d.to_string()).collect();
        e.extend(i.config.validate().err().into_iter().flatten().map(|e| e.to_string()));
        e
    };
    let e = errors(&inst("use_ipvlan", "192.0.2.100/24"));
    assert!(e.iter().any(|e| e.contains("an IPv4 instance's ipvlan needs its own address")), "{e:?}");
    let e = errors(&inst("use_ipvlan bridge vepa 192.0.2.1 192.0.2.2", "192.0.2.100/24"));
    assert_eq!(
        e,
        [
            "v.conf:4:21: error: use_ipvlan: a second mode \"vepa\"",
            "v.conf:4:36: error: use_ipvlan: a second address \"192.0.2.2\"",
        ]
    );
    let e = errors(&inst("use_ipvlan 2001:db8::1/64", "192.0.2.100/24"));
    assert!(e.iter().any(|e| e.contains("its address 2001:db8::1/64 is not of the instance's family")), "{e:?}");
    let e = errors(&inst("use_ipvlan eth0 192.0.2.1/24\n  use_vmac", "192.0.2.100/24"));
    assert!(e.iter().any(|e| e.contains("that is an interface of the appliance")), "{e:?}");
    assert!(e.iter().any(|e| e.contains("use_ipvlan and use_vmac both")), "{e:?}");
    assert!(
        errors(&inst("use_ipvlan 192.0.2.1/24\n  unicast_peer {\n    192.0.2.2\n  }", "192.0.2.100/24")).is_empty()
    );
}

/// keepalived 2.1's instance without an interface: unicast only, its
/// addresses on their `dev`, else on the default interface.
#[test]
fn an_instance_without_interface_imports_with_unicast_peers() {
    let text = "global_defs {\n  default_interface eth1\n}\n\
        vrrp_instance VI_1 {\n  virtual_router_id 51\n  unicast_peer {\n    198.51.100.2\n  }\n  \
        virtual_ipaddress {\n    192.0.2.100/24\n    192.0.2.101/24 dev eth2\n  }\n}\n";
    let i = import_str("v.conf", text).unwrap();
    clean(&i);
    let v = &i.config.vrrp_instances[0];
    assert!(v.interface.is_empty());
    let devs: Vec<_> = v.virtual_ipaddress.iter().map(|a| a.dev.as_deref().unwrap_or("-").to_string()).collect();
    assert_eq!(devs, ["eth1", "eth2"], "the default interface, as keepalived puts it");
    i.config.validate().unwrap();
    round_trip(&i.config);
    let out = export(&i.config, Flavor::Keepalived);
    assert!(!out.contains("interface ") && out.contains("192.0.2.100/24 dev eth1"), "{out}");
    // Without default_interface: eth0, as keepalived's.
    let i = import_str("v.conf", &text.replace("  default_interface eth1\n", "")).unwrap();
    assert_eq!(i.config.vrrp_instances[0].virtual_ipaddress[0].dev.as_deref(), Some("eth0"));
    // Multicast needs an interface; so do vmacs and link-local peers.
    let errors = |text: &str| -> Vec<String> {
        let i = import_str("v.conf", text).unwrap();
        let mut e: Vec<String> = i.errors().map(|d| d.to_string()).collect();
        e.extend(i.config.validate().err().into_iter().flatten().map(|e| e.to_string()));
        e
    };
    let e = errors("vrrp_instance VI_1 {\n  virtual_router_id 51\n}\n");
    assert!(e.iter().any(|e| e.contains("has no interface: an instance without one needs unicast_peer")), "{e:?}");
    let e = errors(&text.replace("virtual_router_id 51\n", "virtual_router_id 51\n  use_vmac\n"));
    assert!(e.iter().any(|e| e.contains("use_vmac and use_ipvlan need the instance's interface")), "{e:?}");
    let v6 = "vrrp_instance VI_6 {\n  virtual_router_id 52\n  unicast_peer {\n    fe80::2\n  }\n  \
        virtual_ipaddress {\n    2001:db8::100/64 dev eth1\n  }\n}\n";
    let e = errors(v6);
    assert!(e.iter().any(|e| e.contains("fe80::2 is link-local")), "{e:?}");
    // Two of them with one VRID and family would share every advert.
    let e = errors(&format!("{text}{}", text.split_once("}\n").unwrap().1.replace("VI_1", "VI_2")));
    assert!(
        e.iter().any(|e| e.contains("virtual_router_id 51 without an interface is already used by vrrp_instance VI_1")),
        "{e:?}"
    );
    // Built in the model (the shell's path): an address without dev is refused.
    let mut c = i.config.clone();
    c.vrrp_instances[0].virtual_ipaddress[0].dev = None;
    let e: Vec<String> = c.validate().unwrap_err().into_iter().map(|e| e.to_string()).collect();
    assert!(
        e.iter().any(|e| e.contains("192.0.2.100/24: the instance has no interface, so the address needs dev")),
        "{e:?}"
    );
}

/// `vrf` as keepalived 2.2.7 reads it (measured with Debian's): beside
/// `interface` it is cleared with a warning, so vigil ignores it and says
/// so; without an interface 2.2.7 refuses the instance, and so does vigil,
/// saying where and why.
#[test]
fn vrf_is_read_as_keepalived_reads_it() {
    let inst = |lines: &str| {
        format!(
            "vrrp_instance VI_1 {{\n{lines}  virtual_router_id 51\n  virtual_ipaddress {{\n    192.0.2.100/24 dev eth0\n  }}\n}}\n"
        )
    };
    for lines in ["  vrf blue\n  interface eth0\n", "  interface eth0\n  vrf blue\n"] {
        let i = import_str("v.conf", &inst(lines)).unwrap();
        assert_eq!(i.errors().count(), 0);
        let w: Vec<String> = i.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(
            w.iter().any(|w| w.contains("warning: vrf blue beside interface: ignored, as keepalived ignores it")),
            "{w:?}"
        );
        assert_eq!(i.unsupported().count(), 0, "not an unsupported keyword any more");
        assert_eq!(i.config.vrrp_instances[0].interface.as_str(), "eth0");
        i.config.validate().unwrap();
    }
    let i = import_str("v.conf", &inst("  vrf blue\n  unicast_peer {\n    192.0.2.2\n  }\n")).unwrap();
    let e: Vec<String> = i.errors().map(|d| d.to_string()).collect();
    assert_eq!(
        e,
        [
            "v.conf:2:7: error: vrf blue: an instance in a VRF is not supported (keepalived 2.2.7 refuses one without an interface too: \"Unknown interface!\"); name the interface it runs on"
        ]
    );
}
