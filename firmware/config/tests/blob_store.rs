//! The blob and the flash store: round trips, corruption, power cuts at every
//! byte, a newer schema, commit confirmed, and the size bound.

mod common;
use common::{s, sample};
use vigil_config::blob::{self, BlobError, HEADER_LEN, MAX_BODY};
use vigil_config::store::{MemFlash, Store};
use vigil_config::*;

const SLOT: u64 = 64 * 1024;

fn store() -> Store<MemFlash> {
    Store::new(MemFlash::new(4 * SLOT as usize), SLOT).unwrap()
}

#[test]
fn encode_decode_round_trip() {
    let c = sample();
    let b = blob::encode(&c, 7, 0).unwrap();
    let d = blob::decode(&b).unwrap();
    assert_eq!(d.config, c);
    assert_eq!(d.header.generation, 7);
    // Trailing bytes (the rest of a slot) are ignored.
    let mut padded = b.clone();
    padded.extend_from_slice(&[0xff; 100]);
    assert_eq!(blob::decode(&padded).unwrap().config, c);
}

#[test]
fn every_flipped_bit_and_every_truncation_is_detected() {
    let b = blob::encode(&sample(), 1, 0).unwrap();
    for i in 0..b.len() * 8 {
        let mut x = b.clone();
        x[i / 8] ^= 1 << (i % 8);
        assert!(blob::decode(&x).is_err(), "bit {i} flipped went unnoticed");
    }
    for n in 0..b.len() {
        assert!(blob::decode(&b[..n]).is_err(), "truncated to {n} bytes went unnoticed");
    }
    assert_eq!(blob::decode(&[0xff; 64]).unwrap_err(), BlobError::Empty);
    assert!(matches!(blob::decode(b"GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE"), Err(BlobError::NotAConfig { .. })));
}

#[test]
fn an_empty_flash_loads_the_default_and_commits_are_kept() {
    let mut st = store();
    let l = st.load(Config::default());
    assert_eq!(l.generation, None);
    assert!(l.skipped.is_empty());
    let g1 = st.commit(&sample(), false).unwrap();
    let mut c2 = sample();
    c2.global.hostname = s("lb-2");
    let g2 = st.commit(&c2, false).unwrap();
    assert_eq!((g1, g2), (1, 2));
    let l = st.load(Config::default());
    assert_eq!(l.generation, Some(2));
    assert_eq!(l.config.global.hostname.as_str(), "lb-2");
    assert_eq!(st.history().iter().map(|h| h.0).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(st.load_generation(1).unwrap(), sample());
}

#[test]
fn an_invalid_config_is_never_written() {
    let mut st = store();
    st.commit(&sample(), false).unwrap();
    let before = st.scan();
    let mut bad = sample();
    bad.vrrp_instances[0].priority = 0;
    let e = st.commit(&bad, false).unwrap_err().to_string();
    assert!(e.contains("vrrp_instance VI_1: priority 0 is reserved"), "{e}");
    assert_eq!(st.scan(), before);
}

#[test]
fn a_power_cut_at_any_byte_loses_nothing_committed() {
    // Generation 1 is on flash; generation 2's write is cut after n bytes.
    let mut c2 = sample();
    c2.global.hostname = s("second");
    let len = blob::encode(&c2, 2, 0).unwrap().len();
    for n in 0..=len {
        let mut st = store();
        st.commit(&sample(), false).unwrap();
        let mut flash = st.into_flash();
        flash.write_budget = Some(n);
        let mut st = Store::new(flash, SLOT).unwrap();
        let result = st.commit(&c2, false);
        let mut flash = st.into_flash();
        flash.write_budget = None;
        let mut st = Store::new(flash, SLOT).unwrap();
        let l = st.load(Config::default());
        if n < len {
            assert!(result.is_err());
            assert_eq!(l.generation, Some(1), "cut after {n} of {len} bytes");
            assert_eq!(l.config, sample());
        } else {
            assert_eq!(l.generation, Some(2));
            assert_eq!(l.config, c2);
        }
    }
}

#[test]
fn a_torn_sector_with_garbage_falls_back() {
    let mut st = store();
    st.commit(&sample(), false).unwrap();
    let mut c2 = sample();
    c2.global.hostname = s("second");
    st.commit(&c2, false).unwrap();
    let newest = st.history()[0].1;
    let mut flash = st.into_flash();
    let off = newest * SLOT as usize;
    for (i, b) in flash.bytes[off + 40..off + 40 + 512].iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    let mut st = Store::new(flash, SLOT).unwrap();
    let l = st.load(Config::default());
    assert_eq!(l.generation, Some(1));
    assert!(l.skipped[0].contains("body checksum mismatch"), "{:?}", l.skipped);
}

#[test]
fn a_newer_schema_is_refused_by_name_and_kept() {
    let mut st = store();
    st.commit(&sample(), false).unwrap();
    // A blob from a future firmware in another slot, with a higher generation.
    let mut future = blob::encode(&sample(), 9, 0).unwrap();
    let next = (blob::SCHEMA + 1) as u8;
    future[4] = next; // the schema after this firmware's
    let hc = blob::crc32(&future[..28]);
    future[28..32].copy_from_slice(&hc.to_le_bytes());
    let mut flash = st.into_flash();
    flash.bytes[SLOT as usize..SLOT as usize + future.len()].copy_from_slice(&future);
    let mut st = Store::new(flash, SLOT).unwrap();
    let l = st.load(Config::default());
    assert_eq!(l.generation, Some(1));
    let said = format!("newer firmware (config schema {next}");
    assert!(l.skipped.iter().any(|m| m.contains(&said)), "{:?}", l.skipped);
    // Commits go to the free slots, not over the future blob.
    for _ in 0..2 {
        st.commit(&sample(), false).unwrap();
    }
    let scan = st.scan();
    assert!(matches!(scan[1].status, Err(BlobError::TooNew { schema }) if schema == u16::from(next)), "{scan:?}");
}

#[test]
fn unconfirmed_commits_are_not_booted() {
    let mut st = store();
    st.commit(&sample(), false).unwrap();
    let mut c2 = sample();
    c2.global.hostname = s("trial");
    st.commit(&c2, true).unwrap();
    let l = st.load(Config::default());
    assert_eq!(l.generation, Some(1));
    assert!(l.skipped[0].contains("never confirmed"), "{:?}", l.skipped);
    st.confirm(&c2).unwrap();
    assert_eq!(st.load(Config::default()).config.global.hostname.as_str(), "trial");
}

#[test]
fn the_ring_keeps_older_generations_until_it_wraps() {
    let mut st = store();
    for i in 0..10u8 {
        let mut c = sample();
        c.vrrp_instances[0].priority = 100 + i;
        st.commit(&c, false).unwrap();
    }
    let h: Vec<u64> = st.history().iter().map(|h| h.0).collect();
    assert_eq!(h, [10, 9, 8, 7]);
    assert_eq!(st.load(Config::default()).config.vrrp_instances[0].priority, 109);
}

/// Fills every bounded collection and string to its limit. The whole VRRP
/// side at its largest (every instance, address, peer, track and group
/// full) fits a slot; a config with every virtual server at its largest too
/// may not, and then it is refused by size (before anything is written).
#[test]
fn the_largest_vrrp_config_fits_and_an_oversized_one_is_refused() {
    use limits::*;
    fn full<const N: usize>(c: char) -> heapless::String<N> {
        let mut x = heapless::String::new();
        while x.push(c).is_ok() {}
        x
    }
    let v6: IpNet = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128".parse().unwrap();
    let path: model::PathText = full('p');
    let mut c = Config::default();
    c.global.router_id = full('r');
    c.global.hostname = full('h');
    c.global.syslog = Some(model::SyslogTarget { addr: "[2001:db8::1]:514".parse().unwrap(), tcp: true });
    c.global.metrics_listen = Some("[2001:db8::1]:65535".parse().unwrap());
    c.global.vmac_addr_prefix = Some(full('p'));
    while c.global.time_servers.push(v6.addr).is_ok() {}
    c.global.console_password = Some(PasswordHash { iterations: u32::MAX, salt: [0xff; 16], hash: [0xff; 32] });
    let mut vlan = Vlan { id: 4094, addresses: Bounded::new() };
    while vlan.addresses.push(v6).is_ok() {}
    let mut iface = Interface { name: full('i'), mtu: Some(9216), multicast: true, ..Default::default() };
    while iface.addresses.push(v6).is_ok() {}
    while iface.vlans.push(vlan.clone()).is_ok() {}
    while c.interfaces.push(iface.clone()).is_ok() {}
    let mut vi = VrrpInstance::new(&"n".repeat(NAME)).unwrap();
    vi.interface = full('i');
    vi.unicast_src_ip = Some(v6.addr);
    vi.auth_pass = Some(full('a'));
    vi.notify = Notify {
        master: Some(path.clone()),
        backup: Some(path.clone()),
        fault: Some(path.clone()),
        stop: Some(path.clone()),
        any: Some(path.clone()),
    };
    let vip = VirtualAddress {
        addr: v6,
        brd: Some("255.255.255.255".parse().unwrap()),
        dev: Some(full('d')),
        label: Some(full('l')),
        scope: Some(RouteScope::Nowhere),
        peer: Some(v6),
        preferred_lft: Some(Lifetime::Seconds(u32::MAX)),
        flags: u32::MAX,
        no_track: true,
        use_vmac: true,
    };
    // The largest route and rule.
    let mut route = Route::new(v6);
    (route.via, route.src, route.dev) = (Some(v6.addr), Some(v6.addr), Some(full('d')));
    (route.metric, route.table, route.scope, route.onlink) =
        (Some(u32::MAX), Some(u32::MAX), Some(RouteScope::Link), true);
    (route.protocol, route.tos, route.realms, route.pref) = (Some(u8::MAX), u8::MAX, Some(u32::MAX), Some(u8::MAX));
    while route.metrics.push(RouteMetric { kind: u16::MAX, value: u32::MAX, lock: true }).is_ok() {}
    let hop = Nexthop { via: Some(v6.addr), dev: Some(full('d')), weight: u16::MAX, onlink: true };
    while route.nexthops.push(hop.clone()).is_ok() {}
    (route.append, route.no_track) = (true, true);
    let rule = Rule {
        v6: true,
        from: Some(v6),
        to: Some(v6),
        invert: true,
        fwmark: Some((u32::MAX, Some(u32::MAX))),
        iif: Some(full('i')),
        oif: Some(full('o')),
        priority: Some(u32::MAX),
        table: Some(u32::MAX),
        kind: RouteKind::Prohibit,
        tos: u8::MAX,
        realms: Some(u32::MAX),
        goto: Some(u32::MAX),
        suppress_prefixlength: Some(u32::MAX),
        suppress_ifgroup: Some(u32::MAX),
        uidrange: Some((u32::MAX, u32::MAX)),
        sport: Some((u16::MAX, u16::MAX)),
        dport: Some((u16::MAX, u16::MAX)),
        ip_proto: Some(u8::MAX),
        l3mdev: true,
        protocol: Some(u8::MAX),
        no_track: true,
    };
    // As many as the whole config may have, spread over the instances.
    for _ in 0..ROUTES_TOTAL / VRRP_INSTANCES {
        vi.virtual_routes.push(route.clone()).unwrap();
        vi.virtual_rules.push(rule.clone()).unwrap();
    }
    vi.vmac = Some(Vmac { name: Some(full('m')), mac: Some([0xff; 6]), xmit_base: true });
    vi.use_vmac_addr = true;
    vi.ipvlan = Some(Ipvlan { name: Some(full('p')), address: Some(v6), mode: IpvlanMode::Vepa });
    while vi.virtual_ipaddress.push(vip.clone()).is_ok() {}
    while vi.unicast_peer.push(v6.addr).is_ok() {}
    while vi.track_interface.push(Track { interface: full('t'), weight: -254 }).is_ok() {}
    let track = TrackScript { name: full('s'), weight: Some((-253, true)) };
    while vi.track_script.push(track.clone()).is_ok() {}
    (vi.track_file, vi.track_process, vi.track_bfd) =
        (vi.track_script.clone(), vi.track_script.clone(), vi.track_script.clone());
    while c.vrrp_instances.push(vi.clone()).is_ok() {}
    let mut g = SyncGroup { name: full('g'), notify: vi.notify.clone(), ..Default::default() };
    while g.track_script.push(track.clone()).is_ok() {}
    (g.track_file, g.track_process, g.track_bfd) =
        (g.track_script.clone(), g.track_script.clone(), g.track_script.clone());
    let mut bfd = model::BfdInstance::new(full('b'), v6.addr);
    (bfd.source, bfd.min_rx_us, bfd.min_tx_us, bfd.idle_tx_us) = (Some(v6.addr), u32::MAX, u32::MAX, u32::MAX);
    (bfd.multiplier, bfd.passive, bfd.ttl, bfd.max_hops, bfd.weight) = (u8::MAX, true, Some(u8::MAX), u8::MAX, -253);
    (bfd.reverse, bfd.events) = (true, model::BfdEvents::Checker);
    while c.bfd_instances.push(bfd.clone()).is_ok() {}
    (c.global.garp_interval_us, c.global.gna_interval_us) = (Some(u32::MAX), Some(u32::MAX));
    let mut gg = model::GarpGroup {
        shared: true,
        garp_interval_us: Some(u32::MAX),
        gna_interval_us: Some(u32::MAX),
        ..Default::default()
    };
    while gg.interfaces.push(full('i')).is_ok() {}
    while c.global.garp_groups.push(gg.clone()).is_ok() {}
    let mut tg = model::TrackGroup { name: full('t'), ..Default::default() };
    while tg.group.push(full('n')).is_ok() {}
    while c.global.track_groups.push(tg.clone()).is_ok() {}
    let mut i = 0u16;
    while c.global.static_tracks.push(model::StaticTrack { item: model::StaticItem::Rule(i), group: full('t') }).is_ok()
    {
        i += 1;
    }
    let user = Some(ScriptUser { user: full('u'), group: Some(full('g')) });
    c.global.script_user = user.clone();
    let mut sc = VrrpScript::new(full('s'));
    sc.script = full('x');
    (sc.interval_ms, sc.timeout_ms, sc.weight, sc.user) = (u32::MAX, Some(u32::MAX), -253, user);
    while c.vrrp_scripts.push(sc.clone()).is_ok() {}
    while g.group.push(full('n')).is_ok() {}
    while c.sync_groups.push(g.clone()).is_ok() {}
    let vrrp_only = blob::encode(&c, u64::MAX, u16::MAX).expect("the largest VRRP config fits").len() - HEADER_LEN;
    eprintln!("largest VRRP config body: {vrrp_only} bytes (bound {MAX_BODY})");
    assert_eq!(c.vrrp_instances.len(), VRRP_INSTANCES);
    let regex = BodyRegex {
        pattern: path.clone(),
        no_match: true,
        min_offset: u32::MAX,
        max_offset: Some(u32::MAX),
        options: u8::MAX,
    };
    let mut url = Url { path: path.clone(), status_code: Bounded::new(), digest: Some([0xff; 16]), regex: Some(regex) };
    while url.status_code.push(StatusRange { from: 599, to: 599 }).is_ok() {}
    let mut http = HttpCheck { tls: true, virtualhost: Some(full('v')), verify_cert: true, ..Default::default() };
    while http.urls.push(url.clone()).is_ok() {}
    // The largest checker kind decides the bound; take the largest of them.
    let kinds = [
        CheckKind::Http(Box::new(http)),
        CheckKind::Misc { path: Box::new(path.clone()), timeout_s: u16::MAX, dynamic: true },
        CheckKind::Dns { query_type: DnsType::Aaaa, query_name: Box::new(full('q')) },
    ];
    let mut biggest = 0;
    for kind in kinds {
        let mut chk = Checker::new(kind);
        chk.connect_ip = Some(v6.addr);
        chk.bind_to = Some(v6.addr);
        chk.connect_port = Some(u16::MAX);
        chk.delay_loop_s = Some(u16::MAX);
        chk.connect_timeout_s = u16::MAX;
        chk.warmup_s = u16::MAX;
        chk.delay_before_retry_s = u16::MAX;
        chk.bind_if = Some(Box::new(full('i')));
        chk.bind_port = Some(u16::MAX);
        chk.fwmark = Some(u32::MAX);
        chk.alpha = Some(true);
        chk.log_all_failures = Some(true);
        let mut rs = RealServer::new("[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535".parse().unwrap());
        rs.weight = u32::MAX;
        rs.lb_kind = Some(Forwarding::Tun);
        rs.inhibit_on_failure = Some(true);
        rs.notify_up = Some(Box::new(path.clone()));
        rs.notify_down = Some(Box::new(path.clone()));
        while rs.checkers.push(chk.clone()).is_ok() {}
        let mut vs =
            VirtualServer::new(VirtualKey::Address("[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535".parse().unwrap()));
        vs.persistence_timeout = u32::MAX;
        vs.persistence_granularity = Some(v6);
        vs.sorry_server = Some("[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535".parse().unwrap());
        while vs.real_servers.push(rs.clone()).is_ok() {}
        // Enough of the largest virtual server to pass the bound (filling
        // every bound would take gigabytes): the encoding grows by one
        // virtual server's size per copy.
        let one = postcard::to_allocvec(&vs).unwrap().len();
        let copies = (MAX_BODY / one + 2).min(VIRTUAL_SERVERS);
        let mut cfg = c.clone();
        for _ in 0..copies {
            cfg.virtual_servers.push(vs.clone()).unwrap();
        }
        let body = postcard::to_allocvec(&cfg).unwrap().len();
        biggest = biggest.max(body);
        if body > MAX_BODY {
            // Store::commit encodes before it writes anything.
            let e = blob::encode(&cfg, 1, 0).unwrap_err().to_string();
            let kib = |n: usize| n.div_ceil(1024);
            let says = format!(
                "the config encodes to {} KiB, and a flash slot holds {} KiB: cut at least {} KiB; the room goes to: virtual_server ",
                kib(body),
                kib(MAX_BODY),
                kib(body - MAX_BODY)
            );
            assert!(e.starts_with(&says), "{e}");
        } else {
            let blob = blob::encode(&cfg, u64::MAX, u16::MAX).unwrap();
            assert_eq!(blob::decode(&blob).unwrap().config, cfg);
        }
    }
    eprintln!("largest config body tried: {biggest} bytes (bound {MAX_BODY})");
    assert!(biggest > MAX_BODY, "an oversized config was tried");
}

/// Bytes from the hex text the blobs below are kept as.
fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// A blob as schema-1 firmware wrote it (commit 62630e4: `sample()` plus a
/// time server and lvs_flush, generation 7), byte for byte.
const SCHEMA_1_BLOB: &str = concat!(
    "56474c43010000009c00000007000000000000005f9fc83a00000000be634c11054c56535f4105766967696c0100c000",
    "027b00011e00000100000104657468300100ac102a0218000100010456495f31020104657468303396640100ac102a6f",
    "1801ac102aff000106657468303a30000001000000010000000000000505000000010000ac102a6f5000000000000601",
    "00000000000100ac102a0a50010000000000000001010001072f6865616c7468000000000000000501010000",
);

/// A blob as schema-2 firmware wrote it (commit 5a3436e, `vigil-image
/// config compile` of hostname s2, heartbeat_ms 500 and one instance).
const SCHEMA_2_BLOB: &str = concat!(
    "56474c43020000003f00000001000000000000002339a78e000000004f8f0607000273320000011e0000000000f403b8",
    "1700010456495f310200046574683007646401000a0000071800000000000100000001000000000000050500000000",
);

#[test]
fn a_schema_2_blob_is_read_with_the_default_confirm_time() {
    let bytes = unhex(SCHEMA_2_BLOB);
    let d = blob::decode(&bytes).unwrap();
    assert_eq!(d.header.schema, 2);
    assert_eq!(d.config.global.hostname.as_str(), "s2");
    assert_eq!(d.config.global.supervision.heartbeat_ms, 500);
    assert_eq!(d.config.global.update_confirm_s, model::UPDATE_CONFIRM_S);
    assert_eq!(d.config.vrrp_instances[0].virtual_router_id, 7);
    d.config.validate().unwrap();
}

/// A blob as schema-3 firmware wrote it (commit 53e1b11, `vigil-image
/// config compile` of hostname s3, update_confirm_s 60 and one instance).
const SCHEMA_3_BLOB: &str = concat!(
    "56474c43030000004000000001000000000000009edb1ea50000000091e96667000273330000011e0000000000e807b8",
    "173c00010456495f310200046574683009646401000a0000091800000000000100000001000000000000050500000000",
);

#[test]
fn a_schema_3_blob_is_read_with_no_update_channel() {
    let bytes = unhex(SCHEMA_3_BLOB);
    let d = blob::decode(&bytes).unwrap();
    assert_eq!(d.header.schema, 3);
    assert_eq!(d.config.global.hostname.as_str(), "s3");
    assert_eq!(d.config.global.update_confirm_s, 60);
    assert_eq!(d.config.global.updates, model::Updates::default());
    assert_eq!(d.config.vrrp_instances[0].virtual_router_id, 9);
    d.config.validate().unwrap();
}

/// A blob as schema-4 firmware wrote it (commit 083239c, `vigil-image
/// config compile` of hostname s4, an update channel, a sync group and an
/// instance that tracks an interface).
const SCHEMA_4_BLOB: &str = concat!(
    "56474c43040000007600000001000000000000008c43187300000000f4df321a000273340000011e0000000000e807b8",
    "1778011d68747470733a2f2f66772e6578616d706c652e6e65742f632e6a736f6e00901c0000010456495f3102000465",
    "7468300b786401000a000001180000000000010000000101046574683100000000000005050000010147010456495f31",
    "000000000000",
);

#[test]
fn a_schema_4_blob_is_read_with_no_scripts() {
    let bytes = unhex(SCHEMA_4_BLOB);
    let d = blob::decode(&bytes).unwrap();
    assert_eq!(d.header.schema, 4);
    let c = &d.config;
    assert_eq!(c.global.hostname.as_str(), "s4");
    assert_eq!(c.global.updates.channel.as_deref(), Some("https://fw.example.net/c.json"));
    assert_eq!(c.global.script_user, None);
    let vi = &c.vrrp_instances[0];
    assert_eq!((vi.virtual_router_id, vi.priority), (11, 120));
    assert_eq!(vi.track_interface[0].interface.as_str(), "eth1");
    assert!(vi.track_script.is_empty());
    assert_eq!(c.sync_groups[0].group[0].as_str(), "VI_1");
    assert!(c.sync_groups[0].track_script.is_empty() && c.vrrp_scripts.is_empty());
    c.validate().unwrap();
    // Written again, it is today's schema and reads back the same.
    let again = blob::decode(&blob::encode(c, 2, 0).unwrap()).unwrap();
    assert_eq!((again.header.schema, &again.config), (blob::SCHEMA, c));
}

/// A blob as schema-5 firmware wrote it (commit a319810, `vigil-image
/// config compile` of hostname s5, script_user nobody, a tracked
/// vrrp_script and a virtual server with smtp_alert).
const SCHEMA_5_BLOB: &str = concat!(
    "56474c4305000000b40000000100000000000000a073ebfd000000006a9bba94000273350000011e000001066e6f626f",
    "64790000000000e807b817780000901c00000000001e0000000000000000010456495f31020004657468300c6e640100",
    "c0000205180000000000010000000100010363686b000000000000050500000000000000000000010000c00002055000",
    "010000003c0100000000000100c000023250010000000000000001000000000501010000000101000000010363686b09",
    "2f62696e2f74727565d00f002700010100000000",
);

#[test]
fn a_schema_5_blob_is_read_with_no_groups() {
    let bytes = unhex(SCHEMA_5_BLOB);
    let d = blob::decode(&bytes).unwrap();
    assert_eq!(d.header.schema, 5);
    let c = &d.config;
    assert_eq!(c.global.hostname.as_str(), "s5");
    assert_eq!(c.global.script_user.as_ref().map(|u| u.user.as_str()), Some("nobody"));
    assert_eq!(c.vrrp_scripts[0].name.as_str(), "chk");
    assert_eq!(c.vrrp_instances[0].track_script[0].name.as_str(), "chk");
    assert_eq!(c.virtual_servers[0].key, VirtualKey::Address("192.0.2.5:80".parse().unwrap()));
    assert_eq!(c.virtual_servers[0].smtp_alert, Some(true));
    assert!(c.virtual_server_groups.is_empty());
    c.validate().unwrap();
    let again = blob::decode(&blob::encode(c, 2, 0).unwrap()).unwrap();
    assert_eq!((again.header.schema, &again.config), (blob::SCHEMA, c));
}

/// A blob as schema-6 firmware wrote it (commit 0c4d0fd, `vigil-image
/// config compile` of hostname s6, a virtual_server_group with a range and
/// a mark, an instance with `garp_master_repeat 3` and a global
/// `vrrp_garp_master_refresh 30`, a virtual server with an inhibited
/// sorry server and a real server with its own alpha).
const SCHEMA_6_BLOB: &str = concat!(
    "56474c4306000000ab000000010000000000000045e1acec00000000b02147ac000273360000011e00000000000000e8",
    "07b817780000901c00000000001e0000000000000000010456495f31020004657468300e82640100c000020a18000000",
    "000001000000010000000000000005031e00000000000000000100000001020357454200000000003c01000100c00002",
    "63500000000100c000021450010000000000000001000000000301010000000101000000000100000000010357454202",
    "0000c000020a010c500107",
);

#[test]
fn a_schema_6_blob_is_read_with_the_rfc_timers_and_no_start_scripts() {
    let bytes = unhex(SCHEMA_6_BLOB);
    let d = blob::decode(&bytes).unwrap();
    assert_eq!(d.header.schema, 6);
    let c = &d.config;
    assert_eq!(c.global.hostname.as_str(), "s6");
    assert_eq!((c.global.vrrp_startup_delay_ms, &c.global.startup_script), (0, &None));
    let vi = &c.vrrp_instances[0];
    assert_eq!((vi.virtual_router_id, vi.priority, vi.dont_track_primary), (14, 130, true));
    assert_eq!((vi.garp.master_repeat, vi.garp.master_refresh_s, vi.garp.master_refresh_repeat), (3, 30, 1));
    assert_eq!((vi.garp.lower_prio_delay_s, vi.garp.lower_prio_repeat), (None, None));
    assert_eq!((vi.down_timer_adverts, vi.unicast_ttl, vi.mcast_dst_ip), (3, 255, None));
    assert_eq!(c.virtual_server_groups[0].name.as_str(), "WEB");
    assert!(c.virtual_servers[0].sorry_server_inhibit);
    assert_eq!(c.virtual_servers[0].real_servers[0].alpha, Some(true));
    c.validate().unwrap();
    let again = blob::decode(&blob::encode(c, 2, 0).unwrap()).unwrap();
    assert_eq!((again.header.schema, &again.config), (blob::SCHEMA, c));
}

/// A blob as schema-7 firmware wrote it (commit a8ae7b7, `vigil-image
/// config compile` of router_id s7: a static address with a label, a
/// static route and rule, an instance with `use_vmac`, a VIP with brd and
/// label, a virtual route and rule, `unicast_ttl 9`).
const SCHEMA_7_BLOB: &str = concat!(
    "56474c4307000000f20000000100000000000000351ea61900000000bb85c91f02733705766967696c0000011e000000",
    "00000000e807b817780000901c00000000001e000000000100c000023218000104657468310106657468313a39010000",
    "c6336400180100c000020101046574683100000107000001000100c00002001800000000000164010700d00f00000000",
    "000000010456495f37020004657468301178640100c00002071801c00002ff0104657468300106657468303a37000001",
    "000001010000000000000005050000010000000000010000cb007100180100c000020100000105000001000001000001",
    "00cb007100180000000001c801010900000000030900000000000000000000000000",
);

#[test]
fn a_schema_7_blob_is_read_with_its_vmac_routes_and_addresses_as_they_were() {
    let bytes = unhex(SCHEMA_7_BLOB);
    let d = blob::decode(&bytes).unwrap();
    assert_eq!(d.header.schema, 7);
    let c = &d.config;
    assert_eq!((c.global.router_id.as_str(), c.global.vrrp_startup_delay_ms), ("s7", 2000));
    let st = &c.global.static_ipaddress[0];
    assert_eq!(
        (st.addr.to_string(), st.label.as_deref(), st.dev.as_deref()),
        ("192.0.2.50/24".into(), Some("eth1:9"), Some("eth1"))
    );
    assert_eq!((st.scope, st.peer, st.preferred_lft, st.flags, st.no_track), (None, None, None, 0, false));
    assert_eq!(c.global.static_routes[0].to_string(), "198.51.100.0/24 via 192.0.2.1 dev eth1 table 7");
    assert_eq!(c.global.static_rules[0].to_string(), "from 192.0.2.0/24 priority 100 table 7");
    let vi = &c.vrrp_instances[0];
    assert_eq!((vi.virtual_router_id, vi.priority, vi.unicast_ttl), (17, 120, 9));
    assert_eq!(vi.vmac, Some(Vmac::default()), "use_vmac stays a vmac of the default name and MAC");
    let vip = &vi.virtual_ipaddress[0];
    assert_eq!((vip.brd, vip.label.as_deref()), (Some("192.0.2.255".parse().unwrap()), Some("eth0:7")));
    let r = &vi.virtual_routes[0];
    assert_eq!(r.to_string(), "203.0.113.0/24 via 192.0.2.1 metric 5 onlink");
    assert!(r.metrics.is_empty() && r.nexthops.is_empty() && r.protocol.is_none());
    assert_eq!(vi.virtual_rules[0].to_string(), "to 203.0.113.0/24 priority 200 table 9");
    c.validate().unwrap();
    let again = blob::decode(&blob::encode(c, 2, 0).unwrap()).unwrap();
    assert_eq!((again.header.schema, &again.config), (blob::SCHEMA, c));
}

/// A blob as schema-8 firmware wrote it (commit fc6e206, `vigil-image
/// config compile` of router_id s8: a named vmac with its MAC, a scoped
/// VIP, a route with a locked MTU, a track_file in an instance and a sync
/// group, a FILE_CHECK).
const SCHEMA_8_BLOB: &str = concat!(
    "56474c4308000000190100000100000000000000d2597218000000006535cfe102733805766967696c0000011e000000",
    "00000000e807b817780000901c00000000001e000000000000000000000000000000010456495f380200046574683012",
    "6e640100c0000212180000000102000000000000010000010104767831380102005e0001120001000000000000000505",
    "0000010000000000010000cb007100180100c00002010000000000000000000102f80a01000000000001025446010400",
    "0000000003ff0000000000000001025347010456495f3800000000000000000102544600010000c00002125000000000",
    "000301000000000001000a00000850010000000000000001070254460000000000050101000000000000000000000000",
    "00000000000000000001025446072f72756e2f746606000000",
);

#[test]
fn a_schema_8_blob_is_read_without_bfd_and_the_rest_as_it_was() {
    let bytes = unhex(SCHEMA_8_BLOB);
    let d = blob::decode(&bytes).unwrap();
    assert_eq!(d.header.schema, 8);
    let c = &d.config;
    assert_eq!(c.global.router_id.as_str(), "s8");
    let vi = &c.vrrp_instances[0];
    assert_eq!((vi.virtual_router_id, vi.priority), (18, 110));
    let vmac = vi.vmac.as_ref().unwrap();
    assert_eq!(vmac.name.as_deref(), Some("vx18"));
    assert_eq!(vi.virtual_ipaddress[0].scope, Some(vigil_config::model::RouteScope::Link));
    assert_eq!(vi.virtual_routes[0].to_string(), "203.0.113.0/24 via 192.0.2.1 mtu lock 1400");
    assert_eq!((vi.track_file[0].name.as_str(), vi.track_file[0].weight), ("TF", Some((2, false))));
    assert!(vi.track_bfd.is_empty() && c.sync_groups[0].track_bfd.is_empty() && c.bfd_instances.is_empty());
    assert_eq!(c.sync_groups[0].track_file[0].name.as_str(), "TF");
    let check = &c.virtual_servers[0].real_servers[0].checkers[0];
    assert_eq!(check.kind.keyword(), "FILE_CHECK");
    c.validate().unwrap();
    let again = blob::decode(&blob::encode(c, 2, 0).unwrap()).unwrap();
    assert_eq!((again.header.schema, &again.config), (blob::SCHEMA, c));
}

/// A blob as schema-9 firmware wrote it (commit 311e8c1, `vigil-image
/// config compile` of router_id s9: a bfd_instance, an instance tracking it
/// with a weight, a BFD_CHECK, and `vrrp_garp_interval 0.25`, which schema 9
/// read into each instance's interval between rounds).
const SCHEMA_9_BLOB: &str = concat!(
    "56474c4309000000e00000000100000000000000daf936450000000021ad832b02733905766967696c0000011e000000",
    "00000000e807b817780000901c00000000001e000000000000000000000000000000010456495f390200046574683013",
    "78640100c00002131800000000000000000000010000000100000000000000050500fa01010000000000000000000000",
    "0003ff0000000000000001024231013b0000010000c00002135000030000003c0100000000000100c000020950010000",
    "0000000000010802423100000005010100000000000000000000000000000000000000000000000102423100c0000209",
    "00d08603904ec0843d03000000000000",
);

#[test]
fn a_schema_9_blob_is_read_with_its_bfd_and_its_garp_interval_where_it_was() {
    let bytes = unhex(SCHEMA_9_BLOB);
    let d = blob::decode(&bytes).unwrap();
    assert_eq!(d.header.schema, 9);
    let c = &d.config;
    assert_eq!(c.global.router_id.as_str(), "s9");
    let b = &c.bfd_instances[0];
    assert_eq!((b.name.as_str(), b.min_rx_us, b.multiplier), ("B1", 50_000, 3));
    let vi = &c.vrrp_instances[0];
    assert_eq!((vi.virtual_router_id, vi.garp.interval_ms), (19, 250));
    assert_eq!(vi.track_bfd[0].weight, Some((-30, false)));
    assert_eq!((c.global.garp_interval_us, c.global.gna_interval_us), (None, None));
    assert!(c.global.garp_groups.is_empty());
    assert_eq!(c.virtual_servers[0].real_servers[0].checkers[0].kind.keyword(), "BFD_CHECK");
    c.validate().unwrap();
    let again = blob::decode(&blob::encode(c, 2, 0).unwrap()).unwrap();
    assert_eq!((again.header.schema, &again.config), (blob::SCHEMA, c));
}

/// A blob as schema-10 firmware wrote it (commit a7c118a, `vigil-image
/// config compile` of router_id s10: a TCP syslog server, the global GARP
/// pace and a garp_group of two interfaces).
const SCHEMA_10_BLOB: &str = concat!(
    "56474c430a000000a20000000100000000000000be12857200000000728bf2560373313005766967696c000100c00002",
    "09f23201011e00000000000000e807b817780000901c00000000001e000000000000000000000000000001a08d060001",
    "02046574683004657468310101d086030000010556495f3130020004657468301464640100c000020a18000000000000",
    "00000000010000000100000000000000050500000100000000000000000000000003ff00000000000000000000000000",
    "0000",
);

#[test]
fn a_schema_10_blob_is_read_without_a_metrics_endpoint_and_the_rest_as_it_was() {
    let bytes = unhex(SCHEMA_10_BLOB);
    let d = blob::decode(&bytes).unwrap();
    assert_eq!(d.header.schema, 10);
    let c = &d.config;
    assert_eq!(c.global.router_id.as_str(), "s10");
    assert_eq!(c.global.syslog.map(|s| (s.addr.to_string(), s.tcp)), Some(("192.0.2.9:6514".into(), true)));
    assert_eq!(c.global.garp_interval_us, Some(100_000));
    let gg = &c.global.garp_groups[0];
    assert_eq!((gg.interfaces.len(), gg.shared, gg.garp_interval_us), (2, true, Some(50_000)));
    assert_eq!(c.global.metrics_listen, None);
    assert_eq!(c.vrrp_instances[0].virtual_router_id, 20);
    c.validate().unwrap();
    let again = blob::decode(&blob::encode(c, 2, 0).unwrap()).unwrap();
    assert_eq!((again.header.schema, &again.config), (blob::SCHEMA, c));
}

/// A blob as schema-11 firmware wrote it (commit 0e2e036, `vigil-image
/// config compile` of router_id s11: a metrics endpoint, a static address
/// and route, one instance).
const SCHEMA_11_BLOB: &str = concat!(
    "56474c430b000000c100000001000000000000000b2427ad000000004443ae5d0373313105766967696c0000011e0000",
    "0000000000e807b817780000901c00000000001e000000000100c63364011800010465746830000000000000010000c6",
    "120000100100c63364fe0104657468300000000000000000000000000000000000000000000000000100c0000209b24b",
    "00010556495f3131020004657468300b64640100c000020b180000000000000000000001000000010000000000000005",
    "0500000100000000000000000000000003ff000000000000000000000000000000",
);

#[test]
fn a_schema_11_blob_is_read_without_track_groups_and_the_rest_as_it_was() {
    let bytes = unhex(SCHEMA_11_BLOB);
    let d = blob::decode(&bytes).unwrap();
    assert_eq!(d.header.schema, 11);
    let c = &d.config;
    assert_eq!(c.global.router_id.as_str(), "s11");
    assert_eq!(c.global.metrics_listen.map(|m| m.to_string()), Some("192.0.2.9:9650".into()));
    assert_eq!(c.global.static_ipaddress[0].addr.to_string(), "198.51.100.1/24");
    assert_eq!(c.global.static_routes[0].to_string(), "198.18.0.0/16 via 198.51.100.254 dev eth0");
    assert!(c.global.track_groups.is_empty() && c.global.static_tracks.is_empty());
    assert_eq!(c.vrrp_instances[0].virtual_router_id, 11);
    c.validate().unwrap();
    let again = blob::decode(&blob::encode(c, 2, 0).unwrap()).unwrap();
    assert_eq!((again.header.schema, &again.config), (blob::SCHEMA, c));
}

/// A blob as schema-12 firmware wrote it (commit 4632c6f,
/// `vigil-image config compile` of router_id s12: a static track group, a
/// static address naming it, an instance with an address on another
/// interface).
const SCHEMA_12_BLOB: &str = concat!(
    "56474c430c000000be0000000100000000000000da78153a00000000cdf7bddb0373313205766967696c0000011e0000",
    "0000000000e807b817780000901c00000000001e000000000100c6336401180001046574683100000000000000000000",
    "00000000000000000001025447010556495f313201000002544700010556495f3132020004657468300c64640200c000",
    "020c18000000000000000000cb00710c1800010465746832000000000000000001000000010000000000000005050000",
    "0100000000000000000000000003ff000000000000000000000000000000",
);

#[test]
fn a_schema_12_blob_is_read_without_address_vmacs_and_the_rest_as_it_was() {
    let bytes = unhex(SCHEMA_12_BLOB);
    let d = blob::decode(&bytes).unwrap();
    assert_eq!(d.header.schema, 12);
    let c = &d.config;
    assert_eq!(c.global.router_id.as_str(), "s12");
    assert_eq!(c.global.track_groups[0].name.as_str(), "TG");
    assert_eq!(c.global.track_group_of(StaticItem::Address(0)).map(|n| n.as_str()), Some("TG"));
    assert_eq!(c.global.static_ipaddress[0].dev.as_deref(), Some("eth1"));
    assert_eq!(c.global.vmac_addr_prefix, None);
    let vi = &c.vrrp_instances[0];
    assert_eq!(vi.virtual_router_id, 12);
    assert_eq!(vi.virtual_ipaddress[1].dev.as_deref(), Some("eth2"));
    assert!(!vi.use_vmac_addr && vi.virtual_ipaddress.iter().all(|a| !a.use_vmac));
    c.validate().unwrap();
    let again = blob::decode(&blob::encode(c, 2, 0).unwrap()).unwrap();
    assert_eq!((again.header.schema, &again.config), (blob::SCHEMA, c));
}

/// A blob as schema-13 firmware wrote it (commit 7008e5d, `vigil-image
/// config compile` of router_id s13: `vmac_addr_prefix vx`, an instance
/// with `use_vmac_addr` and an address on eth2 with `use_vmac`).
const SCHEMA_13_BLOB: &str = concat!(
    "56474c430d000000a30000000100000000000000013a1513000000000d7c3d480373313305766967696c0000011e0000",
    "0000000000e807b817780000901c00000000001e00000000000000000000000000000000000000000102767800010556",
    "495f3133020004657468300d64640200c000020d1800000000000000000000cb00710d18000104657468320000000000",
    "00010000010000000100000000000000050500000100000000000000000000000003ff00000000000000000100000000",
    "000000",
);

#[test]
fn a_schema_13_blob_is_read_without_an_ipvlan_and_the_rest_as_it_was() {
    let bytes = unhex(SCHEMA_13_BLOB);
    let d = blob::decode(&bytes).unwrap();
    assert_eq!(d.header.schema, 13);
    let c = &d.config;
    assert_eq!(c.global.router_id.as_str(), "s13");
    assert_eq!(c.global.vmac_addr_prefix.as_deref(), Some("vx"));
    let vi = &c.vrrp_instances[0];
    assert_eq!(vi.virtual_router_id, 13);
    assert!(vi.use_vmac_addr && vi.virtual_ipaddress[1].use_vmac);
    assert_eq!(vi.virtual_ipaddress[1].dev.as_deref(), Some("eth2"));
    assert_eq!(vi.ipvlan, None);
    c.validate().unwrap();
    let again = blob::decode(&blob::encode(c, 2, 0).unwrap()).unwrap();
    assert_eq!((again.header.schema, &again.config), (blob::SCHEMA, c));
}

#[test]
fn a_schema_1_blob_is_read_and_the_next_commit_writes_todays_schema() {
    let bytes = unhex(SCHEMA_1_BLOB);
    let mut want = sample();
    want.global.time_servers.push("192.0.2.123".parse().unwrap()).unwrap();
    want.global.lvs_flush = true;
    assert_eq!(want.global.supervision, Supervision::default());
    let d = blob::decode(&bytes).unwrap();
    assert_eq!((d.header.schema, d.header.generation), (1, 7));
    assert_eq!(d.config, want);
    // On flash: booted from, kept, and the next commit is today's schema.
    let mut flash = store().into_flash();
    flash.bytes[..bytes.len()].copy_from_slice(&bytes);
    let mut st = Store::new(flash, SLOT).unwrap();
    let l = st.load(Config::default());
    assert_eq!((l.generation, &l.config), (Some(7), &want), "{:?}", l.skipped);
    want.global.supervision.heartbeat_ms = 500;
    assert_eq!(st.commit(&want, false).unwrap(), 8);
    let scan = st.scan();
    let schemas: Vec<u16> = scan.iter().filter_map(|s| s.status.as_ref().ok().map(|h| h.schema)).collect();
    assert!(schemas.contains(&1) && schemas.contains(&blob::SCHEMA), "{scan:?}");
    assert_eq!(st.load(Config::default()).config, want);
}

#[test]
fn a_damaged_schema_1_body_says_which_schema() {
    // A body that is short for schema 1's layout (a valid CRC over it).
    let body = [0u8; 3];
    let header = blob::Header { schema: 1, flags: 0, length: 3, generation: 2, body_crc: blob::crc32(&body) };
    let mut bytes = header.emit().to_vec();
    bytes.extend_from_slice(&body);
    let e = blob::decode(&bytes).unwrap_err().to_string();
    assert!(e.contains("schema 1"), "{e}");
}

#[test]
fn a_config_too_large_for_a_slot_says_what_takes_the_room() {
    use std::fmt::Write;
    // One virtual server of 1,024 real servers with long MISC_CHECK paths,
    // then copies of it under other ports: over the 4 MiB of a slot.
    let mut text = String::from("virtual_server 10.0.0.1 80 {\n lb_kind NAT\n protocol TCP\n");
    for r in 0..1024 {
        let _ = write!(
            text,
            " real_server 10.1.{}.{} 80 {{\n  MISC_CHECK {{\n   misc_path \"/usr/local/bin/check-backend --host 10.1.{}.{} --timeout 3 --expect ok --verbose\"\n  }}\n }}\n",
            r / 250,
            r % 250,
            r / 250,
            r % 250
        );
    }
    text.push_str("}\n");
    let i = vigil_config::keepalived::import_str("big.conf", &text).unwrap();
    assert_eq!(i.errors().count(), 0, "{:?}", i.diagnostics);
    let mut config = i.config;
    let vs = config.virtual_servers[0].clone();
    for port in 81..121u16 {
        let mut v = vs.clone();
        if let vigil_config::model::VirtualKey::Address(a) = &mut v.key {
            a.set_port(port);
        }
        config.virtual_servers.push(v).unwrap();
    }
    let e = vigil_config::blob::encode(&config, 1, 0).unwrap_err().to_string();
    assert!(e.starts_with("the config encodes to "), "{e}");
    assert!(e.contains(" KiB, and a flash slot holds 4096 KiB: cut at least "), "{e}");
    assert!(e.contains("; the room goes to: virtual_server "), "{e}");
    assert!(e.contains("(41, "), "the count of virtual servers: {e}");
}
