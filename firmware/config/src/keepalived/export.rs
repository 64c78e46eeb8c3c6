//! The model as keepalived.conf text. `Flavor::Vigil` writes everything
//! (vigil's own `vigil_defs` and `interface` blocks too), so import → export
//! → import gives the same model; `Flavor::Keepalived` writes only what
//! keepalived itself accepts.

use crate::model::*;
use crate::validate::vs_path;
use core::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Vigil,
    Keepalived,
}

struct Out {
    text: String,
    depth: usize,
}

impl Out {
    fn line(&mut self, s: impl AsRef<str>) {
        for _ in 0..self.depth {
            self.text.push_str("    ");
        }
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }
    fn open(&mut self, s: impl AsRef<str>) {
        self.line(format!("{} {{", s.as_ref()));
        self.depth += 1;
    }
    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.line("}");
    }
}

/// Quotes a word that has spaces or syntax characters in it.
pub fn word(s: &str) -> String {
    if !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '{' | '}' | '#' | '!' | '\\')) {
        return s.to_string();
    }
    let mut q = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn seconds(cs: u16) -> String {
    if cs.is_multiple_of(100) {
        format!("{}", cs / 100)
    } else {
        format!("{}.{:02}", cs / 100, cs % 100).trim_end_matches('0').to_string()
    }
}

pub fn export(c: &Config, flavor: Flavor) -> String {
    let mut o = Out { text: String::new(), depth: 0 };
    o.line("! keepalived.conf written by vigil");
    let g = &c.global;
    if !g.router_id.is_empty()
        || g.enable_script_security
        || g.script_user.is_some()
        || g.vrrp_strict
        || g.mail != Mail::default()
        || g.lvs_flush
        || g.lvs_sync_daemon.is_some()
        || g.lvs_timeouts.is_some()
        || g.vrrp_startup_delay_ms > 0
        || g.lvs_flush_on_stop.is_some()
        || g.startup_script.is_some()
        || g.shutdown_script.is_some()
        || g.rs_init_notifies
        || g.no_checker_emails
        || g.garp_interval_us.is_some()
        || g.gna_interval_us.is_some()
        || g.vmac_addr_prefix.is_some()
    {
        o.open("global_defs");
        if !g.router_id.is_empty() {
            o.line(format!("router_id {}", word(&g.router_id)));
        }
        if g.lvs_flush {
            o.line("lvs_flush");
        }
        if let Some(p) = &g.vmac_addr_prefix {
            o.line(format!("vmac_addr_prefix {p}"));
        }
        if g.rs_init_notifies {
            o.line("rs_init_notifies");
        }
        if g.no_checker_emails {
            o.line("no_checker_emails");
        }
        match g.lvs_flush_on_stop {
            Some(FlushOnStop::All) => o.line("lvs_flush_on_stop"),
            Some(FlushOnStop::VirtualServers) => o.line("lvs_flush_on_stop VS"),
            None => {}
        }
        if g.vrrp_startup_delay_ms > 0 {
            o.line(format!("vrrp_startup_delay {}", millis(g.vrrp_startup_delay_ms)));
        }
        for (k, h) in [("startup_script", &g.startup_script), ("shutdown_script", &g.shutdown_script)] {
            if let Some(h) = h {
                let u = h.user.as_ref().map(|u| format!(" {}", user(u))).unwrap_or_default();
                o.line(format!("{k} {}{u}", word(&h.program)));
                if h.timeout_s != HookScript::DEFAULT_TIMEOUT_S {
                    o.line(format!("{k}_timeout {}", h.timeout_s));
                }
            }
        }
        if let Some(t) = g.lvs_timeouts {
            o.line(format!("lvs_timeouts tcp {} tcpfin {} udp {}", t.tcp, t.tcpfin, t.udp));
        }
        if let Some(d) = &g.lvs_sync_daemon {
            let id = d.sync_id.map(|i| format!(" id {i}")).unwrap_or_default();
            o.line(format!("lvs_sync_daemon {} {}{id}", word(&d.interface), word(&d.instance)));
        }
        if g.enable_script_security {
            o.line("enable_script_security");
        }
        if let Some(u) = &g.script_user {
            o.line(format!("script_user {}", user(u)));
        }
        if g.vrrp_strict {
            o.line("vrrp_strict");
        }
        if let Some(us) = g.garp_interval_us {
            o.line(format!("vrrp_garp_interval {}", micros(us)));
        }
        if let Some(us) = g.gna_interval_us {
            o.line(format!("vrrp_gna_interval {}", micros(us)));
        }
        mail(&mut o, &g.mail);
        o.close();
    }
    if flavor == Flavor::Vigil {
        let d = Global::default();
        let mut lines = Vec::new();
        if g.hostname != d.hostname {
            lines.push(format!("hostname {}", g.hostname));
        }
        if !g.time_servers.is_empty() {
            let list: Vec<String> = g.time_servers.iter().map(|t| t.to_string()).collect();
            lines.push(format!("time_server {}", list.join(" ")));
        }
        if let Some(s) = g.syslog {
            let tcp = if s.tcp { " tcp" } else { "" };
            lines.push(format!("syslog {} {}{tcp}", s.addr.ip(), s.addr.port()));
        }
        if let Some(m) = g.metrics_listen {
            lines.push(format!("metrics_listen {m}"));
        }
        if g.watchdog.enabled != d.watchdog.enabled {
            lines.push(format!("watchdog {}", if g.watchdog.enabled { "on" } else { "off" }));
        }
        if g.watchdog.timeout_s != d.watchdog.timeout_s {
            lines.push(format!("watchdog_timeout {}", g.watchdog.timeout_s));
        }
        if g.supervision.heartbeat_ms != d.supervision.heartbeat_ms {
            lines.push(format!("heartbeat_ms {}", g.supervision.heartbeat_ms));
        }
        if g.supervision.heartbeat_limit_ms != d.supervision.heartbeat_limit_ms {
            lines.push(format!("heartbeat_limit_ms {}", g.supervision.heartbeat_limit_ms));
        }
        if g.update_confirm_s != d.update_confirm_s {
            lines.push(format!("update_confirm_s {}", g.update_confirm_s));
        }
        if let Some(c) = &g.updates.channel {
            lines.push(format!("update_channel {c}"));
        }
        if let Some((a, b)) = g.updates.window {
            lines.push(format!("update_window {:02}:{:02}-{:02}:{:02}", a / 60, a % 60, b / 60, b % 60));
        }
        if g.updates.poll_s != d.updates.poll_s {
            lines.push(format!("update_poll_s {}", g.updates.poll_s));
        }
        if let Some(k) = &g.updates.key {
            lines.push(format!("update_key {k}"));
        }
        if let Some(p) = &g.console_password {
            lines.push(format!("console_password {} {} {}", p.iterations, hex(&p.salt), hex(&p.hash)));
        }
        if !lines.is_empty() {
            o.open("vigil_defs");
            for l in lines {
                o.line(l);
            }
            o.close();
        }
        for i in &c.interfaces {
            o.open(format!("interface {}", word(&i.name)));
            for a in &i.addresses {
                o.line(format!("address {a}"));
            }
            if let Some(m) = i.mtu {
                o.line(format!("mtu {m}"));
            }
            if !i.multicast {
                o.line("multicast off");
            }
            for v in &i.vlans {
                o.open(format!("vlan {}", v.id));
                for a in &v.addresses {
                    o.line(format!("address {a}"));
                }
                o.close();
            }
            o.close();
        }
    }
    for t in &g.track_groups {
        o.open(format!("track_group {}", word(&t.name)));
        o.open("group");
        for m in &t.group {
            o.line(word(m));
        }
        o.close();
        o.close();
    }
    // A static item's line says the track group naming it, last.
    let tracked = |item: StaticItem, line: String| match g.track_group_of(item) {
        Some(t) => format!("{line} track_group {}", word(t)),
        None => line,
    };
    let n = |i: usize| i as u16;
    let lines: Vec<String> =
        g.static_ipaddress.iter().enumerate().map(|(i, a)| tracked(StaticItem::Address(n(i)), vip_line(a))).collect();
    list_block(&mut o, "static_ipaddress", &lines, String::clone);
    let lines: Vec<String> =
        g.static_routes.iter().enumerate().map(|(i, r)| tracked(StaticItem::Route(n(i)), r.to_string())).collect();
    list_block(&mut o, "static_routes", &lines, String::clone);
    let lines: Vec<String> =
        g.static_rules.iter().enumerate().map(|(i, r)| tracked(StaticItem::Rule(n(i)), r.to_string())).collect();
    list_block(&mut o, "static_rules", &lines, String::clone);
    for sc in &c.vrrp_scripts {
        vrrp_script(&mut o, sc);
    }
    for tp in &c.track_processes {
        track_process_block(&mut o, tp);
    }
    for tf in &c.track_files {
        o.open(format!("vrrp_track_file {}", word(&tf.name)));
        o.line(format!("file {}", word(&tf.file)));
        o.line(weight(tf.weight, tf.reverse));
        match tf.init {
            Some((v, true)) => o.line(format!("init_file {v} overwrite")),
            Some((v, false)) => o.line(format!("init_file {v}")),
            None => {}
        }
        o.close();
    }
    for b in &c.bfd_instances {
        bfd_instance(&mut o, b);
    }
    for g in &c.sync_groups {
        o.open(format!("vrrp_sync_group {}", word(&g.name)));
        o.open("group");
        for m in &g.group {
            o.line(word(m));
        }
        o.close();
        tracks(&mut o, "track_script", &g.track_script);
        tracks(&mut o, "track_process", &g.track_process);
        tracks(&mut o, "track_file", &g.track_file);
        tracks(&mut o, "track_bfd", &g.track_bfd);
        // vigil applies its members' own weighted tracks; keepalived only
        // with this said (it drops them otherwise).
        let members = c.vrrp_instances.iter().filter(|v| g.group.contains(&v.name));
        if members.into_iter().any(|v| !c.weighted_own_tracks(v).is_empty()) {
            o.line("sync_group_tracking_weight");
        }
        notify(&mut o, &g.notify);
        smtp_alert(&mut o, g.smtp_alert);
        o.close();
    }
    for gg in &g.garp_groups {
        o.open("garp_group");
        if let Some(us) = gg.garp_interval_us {
            o.line(format!("garp_interval {}", micros(us)));
        }
        if let Some(us) = gg.gna_interval_us {
            o.line(format!("gna_interval {}", micros(us)));
        }
        if gg.shared {
            list_block(&mut o, "interfaces", &gg.interfaces, |i| word(i));
        } else {
            for i in &gg.interfaces {
                o.line(format!("interface {}", word(i)));
            }
        }
        o.close();
    }
    for v in &c.vrrp_instances {
        vrrp(&mut o, v, g.vrrp_strict, flavor);
    }
    if let Some(f) = &g.ssl {
        o.open("SSL");
        for (k, v) in [
            ("password", f.password.as_deref()),
            ("ca", f.ca.as_deref()),
            ("certificate", f.certificate.as_deref()),
            ("key", f.key.as_deref()),
        ] {
            if let Some(v) = v {
                o.line(format!("{k} {}", word(v)));
            }
        }
        o.close();
    }
    for grp in &c.virtual_server_groups {
        list_block(&mut o, &format!("virtual_server_group {}", word(&grp.name)), &grp.entries, ToString::to_string);
    }
    for vs in &c.virtual_servers {
        virtual_server(&mut o, vs);
    }
    o.text
}

fn vip_line(a: &VirtualAddress) -> String {
    let mut l = a.addr.to_string();
    if let Some(b) = a.brd {
        let _ = write!(l, " brd {b}");
    }
    if let Some(d) = &a.dev {
        let _ = write!(l, " dev {d}");
    }
    if let Some(lb) = &a.label {
        let _ = write!(l, " label {lb}");
    }
    if let Some(sc) = a.scope {
        let _ = write!(l, " scope {}", sc.name());
    }
    // keepalived takes a peer without a prefix ("Invalid peer address
    // 192.0.2.2/32"): a host peer is written bare.
    match a.peer {
        Some(p) if p.prefix == p.max_prefix() => {
            let _ = write!(l, " peer {}", p.addr);
        }
        Some(p) => {
            let _ = write!(l, " peer {p}");
        }
        None => {}
    }
    for (word, bit) in addr_flags::NAMES {
        if a.flags & bit != 0 {
            let _ = write!(l, " {word}");
        }
    }
    if a.use_vmac {
        l.push_str(" use_vmac");
    }
    if a.no_track {
        l.push_str(" no_track");
    }
    match a.preferred_lft {
        Some(Lifetime::Seconds(n)) => {
            let _ = write!(l, " preferred_lft {n}");
        }
        Some(Lifetime::Forever) => l.push_str(" preferred_lft forever"),
        None => {}
    }
    l
}

/// A block of one line per item (`virtual_routes { ... }`), none when
/// there are no items.
fn list_block<T>(o: &mut Out, block: &str, list: &[T], line: impl Fn(&T) -> String) {
    if list.is_empty() {
        return;
    }
    o.open(block);
    for item in list {
        o.line(line(item));
    }
    o.close();
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn mail(o: &mut Out, m: &Mail) {
    if !m.to.is_empty() {
        o.open("notification_email");
        for a in &m.to {
            o.line(word(a));
        }
        o.close();
    }
    if let Some(f) = &m.from {
        o.line(format!("notification_email_from {}", word(f)));
    }
    if let Some((host, port)) = &m.server {
        o.line(format!("smtp_server {} {port}", word(host)));
    }
    if let Some(h) = &m.helo_name {
        o.line(format!("smtp_helo_name {}", word(h)));
    }
    if m.connect_timeout_s != Mail::default().connect_timeout_s {
        o.line(format!("smtp_connect_timeout {}", m.connect_timeout_s));
    }
    for (k, v) in [("smtp_alert", m.alert), ("smtp_alert_vrrp", m.alert_vrrp), ("smtp_alert_checker", m.alert_checker)]
    {
        if let Some(b) = v {
            o.line(format!("{k} {}", on_off(b)));
        }
    }
    if m.no_faults {
        o.line("no_email_faults");
    }
}

fn smtp_alert(o: &mut Out, v: Option<bool>) {
    if let Some(b) = v {
        o.line(format!("smtp_alert {}", on_off(b)));
    }
}

fn user(u: &ScriptUser) -> String {
    match &u.group {
        Some(g) => format!("{} {}", word(&u.user), word(g)),
        None => word(&u.user),
    }
}

/// Milliseconds as keepalived's seconds (fractional when they are).
/// Seconds as keepalived reads them, down to the microsecond.
fn micros(us: u32) -> String {
    if us.is_multiple_of(1_000_000) {
        format!("{}", us / 1_000_000)
    } else {
        format!("{}.{:06}", us / 1_000_000, us % 1_000_000).trim_end_matches('0').to_string()
    }
}

fn millis(ms: u32) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}", ms / 1000)
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000).trim_end_matches('0').to_string()
    }
}

fn weight(w: i16, reverse: bool) -> String {
    if reverse { format!("weight {w} reverse") } else { format!("weight {w}") }
}

fn vrrp_script(o: &mut Out, sc: &VrrpScript) {
    let d = VrrpScript::new(sc.name.clone());
    o.open(format!("vrrp_script {}", word(&sc.name)));
    o.line(format!("script {}", word(&sc.script)));
    o.line(format!("interval {}", millis(sc.interval_ms)));
    if let Some(t) = sc.timeout_ms {
        o.line(format!("timeout {}", millis(t)));
    }
    if sc.weight != 0 || sc.reverse {
        o.line(weight(sc.weight, sc.reverse));
    }
    if sc.rise != d.rise {
        o.line(format!("rise {}", sc.rise));
    }
    if sc.fall != d.fall {
        o.line(format!("fall {}", sc.fall));
    }
    if let Some(u) = &sc.user {
        o.line(format!("user {}", user(u)));
    }
    if sc.init_fail {
        o.line("init_fail");
    }
    o.close();
}

fn track_process_block(o: &mut Out, t: &TrackProcess) {
    let d = TrackProcess::new(t.name.clone());
    o.open(format!("vrrp_track_process {}", word(&t.name)));
    o.line(format!("process {}", word(&t.process)));
    match t.param_match {
        ParamMatch::Exact => {}
        ParamMatch::Initial => o.line("param_match initial"),
        ParamMatch::Partial => o.line("param_match partial"),
    }
    if t.full_command {
        o.line("full_command");
    }
    if t.quorum != d.quorum {
        o.line(format!("quorum {}", t.quorum));
    }
    if let Some(m) = t.quorum_max {
        o.line(format!("quorum_max {m}"));
    }
    if t.fork_delay_ms != 0 {
        o.line(format!("fork_delay {}", millis(t.fork_delay_ms)));
    }
    if t.terminate_delay_ms != 0 {
        o.line(format!("terminate_delay {}", millis(t.terminate_delay_ms)));
    }
    if t.weight != 0 || t.reverse {
        o.line(weight(t.weight, t.reverse));
    }
    o.close();
}

/// `bfd_instance NAME { ... }`: every setting that is not keepalived's
/// default, intervals in ms as keepalived reads them (three decimals).
fn bfd_instance(o: &mut Out, b: &BfdInstance) {
    o.open(format!("bfd_instance {}", word(&b.name)));
    o.line(format!("neighbor_ip {}", b.neighbor));
    if let Some(src) = b.source {
        o.line(format!("source_ip {src}"));
    }
    let ms = |us: u32| {
        let text = format!("{}.{:03}", us / 1000, us % 1000);
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    let d = BfdInstance::new(b.name.clone(), b.neighbor);
    for (k, v, default) in [
        ("min_rx", b.min_rx_us, d.min_rx_us),
        ("min_tx", b.min_tx_us, d.min_tx_us),
        ("idle_tx", b.idle_tx_us, d.idle_tx_us),
    ] {
        if v != default {
            o.line(format!("{k} {}", ms(v)));
        }
    }
    if b.multiplier != d.multiplier {
        o.line(format!("multiplier {}", b.multiplier));
    }
    if b.passive {
        o.line("passive");
    }
    if let Some(ttl) = b.ttl {
        o.line(format!("{} {ttl}", if b.neighbor.is_ipv4() { "ttl" } else { "hoplimit" }));
    }
    match b.max_hops {
        0 => {}
        // Off: -1 says so whatever the TTL (255 would be cut to it).
        255 => o.line("max_hops -1"),
        h => o.line(format!("max_hops {h}")),
    }
    if b.weight != 0 || b.reverse {
        o.line(weight(b.weight, b.reverse));
    }
    match b.events {
        BfdEvents::Both => {}
        BfdEvents::Vrrp => o.line("vrrp"),
        BfdEvents::Checker => o.line("checker"),
    }
    o.close();
}

fn tracks(o: &mut Out, block: &str, list: &[TrackScript]) {
    list_block(o, block, list, |t| match t.weight {
        None => word(&t.name),
        Some((w, r)) => format!("{} {}", word(&t.name), weight(w, r)),
    });
}

fn notify(o: &mut Out, n: &Notify) {
    for (k, v) in [
        ("notify_master", &n.master),
        ("notify_backup", &n.backup),
        ("notify_fault", &n.fault),
        ("notify_stop", &n.stop),
        ("notify", &n.any),
    ] {
        if let Some(p) = v {
            o.line(format!("{k} {}", word(p)));
        }
    }
}

fn vrrp(o: &mut Out, v: &VrrpInstance, strict: bool, flavor: Flavor) {
    o.open(format!("vrrp_instance {}", word(&v.name)));
    o.line(format!("state {}", if v.state == VrrpState::Master { "MASTER" } else { "BACKUP" }));
    // An instance being edited may have no interface yet: it is written
    // without one, and `commit` says what is missing.
    if !v.interface.is_empty() {
        o.line(format!("interface {}", word(&v.interface)));
    }
    o.line(format!("version {}", v.version));
    o.line(format!("virtual_router_id {}", v.virtual_router_id));
    o.line(format!("priority {}", v.priority));
    o.line(format!("advert_int {}", seconds(v.advert_int_cs)));
    if !v.preempt {
        o.line("nopreempt");
    }
    if v.preempt_delay_s > 0 {
        o.line(format!("preempt_delay {}", v.preempt_delay_s));
    }
    if !v.accept {
        o.line("no_accept");
    } else if strict && v.priority != 255 {
        // Strict mode's default would be no_accept.
        o.line("accept");
    }
    if v.lower_prio_no_advert {
        o.line("lower_prio_no_advert");
    }
    if v.higher_prio_send_advert {
        o.line("higher_prio_send_advert");
    }
    if v.skip_check_adv_addr {
        o.line("skip_check_adv_addr");
    }
    if v.dont_track_primary {
        o.line("dont_track_primary");
    }
    if v.down_timer_adverts != VrrpInstance::DOWN_TIMER_ADVERTS {
        o.line(format!("down_timer_adverts {}", v.down_timer_adverts));
    }
    if v.unicast_ttl != 255 {
        o.line(format!("unicast_ttl {}", v.unicast_ttl));
    }
    if let Some(g) = v.mcast_dst_ip {
        o.line(format!("mcast_dst_ip {g}"));
    }
    for (set, k) in [
        (v.unicast_fault_no_peer, "unicast_fault_no_peer"),
        (v.track_src_ip, "track_src_ip"),
        (v.promote_secondaries, "promote_secondaries"),
    ] {
        if set {
            o.line(k);
        }
    }
    if let Some(vm) = &v.vmac {
        let mut l = String::from("use_vmac");
        if let Some(n) = &vm.name {
            let _ = write!(l, " {n}");
        }
        if let Some(m) = vm.mac {
            let _ = write!(l, " {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
        }
        o.line(l);
        if vm.xmit_base {
            o.line("vmac_xmit_base");
        }
    }
    if v.use_vmac_addr {
        o.line("use_vmac_addr");
    }
    if let Some(ip) = &v.ipvlan {
        let mut l = String::from("use_ipvlan");
        if let Some(n) = &ip.name {
            let _ = write!(l, " {n}");
        }
        if let Some(a) = &ip.address {
            let _ = write!(l, " {a}");
        }
        let _ = write!(l, " {}", ip.mode.word());
        o.line(l);
    }
    if let Some(p) = &v.auth_pass {
        o.open("authentication");
        o.line("auth_type PASS");
        o.line(format!("auth_pass {}", word(p)));
        o.close();
    }
    if let Some(s) = v.unicast_src_ip {
        o.line(format!("unicast_src_ip {s}"));
    }
    if !v.unicast_peer.is_empty() {
        o.open("unicast_peer");
        for p in &v.unicast_peer {
            o.line(p.to_string());
        }
        o.close();
    }
    o.open("virtual_ipaddress");
    for a in &v.virtual_ipaddress {
        o.line(vip_line(a));
    }
    o.close();
    list_block(o, "virtual_ipaddress_excluded", &v.virtual_ipaddress_excluded, vip_line);
    list_block(o, "virtual_routes", &v.virtual_routes, Route::to_string);
    list_block(o, "virtual_rules", &v.virtual_rules, Rule::to_string);
    if !v.track_interface.is_empty() {
        o.open("track_interface");
        for t in &v.track_interface {
            if t.weight == 0 {
                o.line(word(&t.interface))
            } else {
                o.line(format!("{} weight {}", word(&t.interface), t.weight))
            }
        }
        o.close();
    }
    tracks(o, "track_script", &v.track_script);
    tracks(o, "track_process", &v.track_process);
    tracks(o, "track_file", &v.track_file);
    tracks(o, "track_bfd", &v.track_bfd);
    notify(o, &v.notify);
    if let Some(p) = &v.notify_master_rx_lower_pri {
        o.line(format!("notify_master_rx_lower_pri {}", word(p)));
    }
    if let Some((secs, all)) = v.garp_extra_if {
        o.line(format!("garp_extra_if {}{secs}", if all { "all " } else { "" }));
    }
    match &v.notify_deleted {
        Some(Some(p)) => o.line(format!("notify_deleted {}", word(p))),
        Some(None) => o.line("notify_deleted"),
        None => {}
    }
    smtp_alert(o, v.smtp_alert);
    let d = Garp::default();
    if v.garp.master_delay_s != d.master_delay_s {
        o.line(format!("garp_master_delay {}", v.garp.master_delay_s));
    }
    if v.garp.master_repeat != d.master_repeat {
        o.line(format!("garp_master_repeat {}", v.garp.master_repeat));
    }
    if v.garp.master_refresh_s != d.master_refresh_s {
        o.line(format!("garp_master_refresh {}", v.garp.master_refresh_s));
    }
    // vigil's own interval between an instance's rounds: keepalived has no
    // such keyword in an instance ("Unknown keyword 'garp_interval'").
    if v.garp.interval_ms != d.interval_ms && flavor == Flavor::Vigil {
        o.line(format!("garp_interval {}", millis(u32::from(v.garp.interval_ms))));
    }
    if v.garp.master_refresh_repeat != d.master_refresh_repeat {
        o.line(format!("garp_master_refresh_repeat {}", v.garp.master_refresh_repeat));
    }
    if let Some(x) = v.garp.lower_prio_delay_s {
        o.line(format!("garp_lower_prio_delay {x}"));
    }
    if let Some(x) = v.garp.lower_prio_repeat {
        o.line(format!("garp_lower_prio_repeat {x}"));
    }
    o.close();
}

fn forwarding(f: Forwarding) -> &'static str {
    match f {
        Forwarding::Nat => "NAT",
        Forwarding::Dr => "DR",
        Forwarding::Tun => "TUN",
    }
}

fn virtual_server(o: &mut Out, vs: &VirtualServer) {
    match &vs.key {
        VirtualKey::Group(g) => o.open(format!("virtual_server group {}", word(g))),
        _ => o.open(vs_path(vs)),
    }
    o.line(format!("delay_loop {}", vs.delay_loop_s));
    o.line(format!("lb_algo {}", vs.lb_algo.name()));
    match vs.tunnel {
        Some(t) => o.line(format!("lvs_method TUN {t}")),
        None => o.line(format!("lb_kind {}", forwarding(vs.lb_kind))),
    }
    if let Some(pe) = &vs.persistence_engine {
        o.line(format!("persistence_engine {}", word(pe)));
    }
    // A fwmark service has no protocol (keepalived ignores one, with a warning).
    if !matches!(vs.key, VirtualKey::Fwmark(_)) {
        o.line(format!(
            "protocol {}",
            match vs.protocol {
                Protocol::Tcp => "TCP",
                Protocol::Udp => "UDP",
                Protocol::Sctp => "SCTP",
            }
        ));
    }
    if vs.ha_suspend {
        o.line("ha_suspend");
    }
    match vs.ip_family_v6 {
        Some(true) => o.line("ip_family inet6"),
        Some(false) => o.line("ip_family inet"),
        None => {}
    }
    if vs.persistence_timeout > 0 {
        o.line(format!("persistence_timeout {}", vs.persistence_timeout));
    }
    if let Some(g) = vs.persistence_granularity {
        match g.addr {
            core::net::IpAddr::V4(m) => o.line(format!("persistence_granularity {m}")),
            core::net::IpAddr::V6(_) => o.line(format!("persistence_granularity {}", g.prefix)),
        }
    }
    if vs.quorum != 1 {
        o.line(format!("quorum {}", vs.quorum));
    }
    if vs.hysteresis != 0 {
        o.line(format!("hysteresis {}", vs.hysteresis));
    }
    if let Some(s) = vs.sorry_server {
        o.line(format!("sorry_server {} {}", s.ip(), s.port()));
        if vs.sorry_server_inhibit {
            o.line("sorry_server_inhibit");
        }
        if let Some(k) = vs.sorry_server_lvs_kind {
            o.line(format!("sorry_server_lvs_method {}", forwarding(k)));
        }
    }
    for (flag, k) in [(vs.inhibit_on_failure, "inhibit_on_failure"), (vs.alpha, "alpha"), (vs.omega, "omega")] {
        if flag {
            o.line(k);
        }
    }
    smtp_alert(o, vs.smtp_alert);
    for (k, p) in [("quorum_up", &vs.quorum_up), ("quorum_down", &vs.quorum_down)] {
        if let Some(p) = p {
            o.line(format!("{k} {}", word(p)));
        }
    }
    for (bit, k) in [
        (vs_flags::OPS, "ops"),
        (vs_flags::FLAG_1, "flag-1"),
        (vs_flags::FLAG_2, "flag-2"),
        (vs_flags::FLAG_3, "flag-3"),
    ] {
        if vs.ipvs_flags & bit != 0 {
            o.line(k);
        }
    }
    for rs in &vs.real_servers {
        o.open(format!("real_server {} {}", rs.addr.ip(), rs.addr.port()));
        o.line(format!("weight {}", rs.weight));
        smtp_alert(o, rs.smtp_alert);
        if let Some(t) = rs.tunnel {
            o.line(format!("lvs_method TUN {t}"));
        } else if let Some(k) = rs.lb_kind {
            o.line(format!("lb_kind {}", forwarding(k)));
        }
        if let Some(on) = rs.alpha {
            o.line(if on { "alpha" } else { "alpha off" });
        }
        if let Some(on) = rs.inhibit_on_failure {
            o.line(if on { "inhibit_on_failure" } else { "inhibit_on_failure off" });
        }
        if let Some(p) = &rs.notify_up {
            o.line(format!("notify_up {}", word(p)));
        }
        if let Some(p) = &rs.notify_down {
            o.line(format!("notify_down {}", word(p)));
        }
        if rs.uthreshold > 0 {
            o.line(format!("uthreshold {}", rs.uthreshold));
        }
        if rs.lthreshold > 0 {
            o.line(format!("lthreshold {}", rs.lthreshold));
        }

        for c in &rs.checkers {
            checker(o, c);
        }
        o.close();
    }
    o.close();
}

fn checker(o: &mut Out, c: &Checker) {
    let name = c.kind.keyword();
    o.open(name);
    // FILE_CHECK takes only these (keepalived: "BFD_CHECK and FILE_CHECK
    // which have none" of the common options).
    if let CheckKind::File { track_file, weight, dynamic } = &c.kind {
        o.line(format!("track_file {}", word(track_file)));
        if let Some((w, r)) = weight {
            o.line(format!("weight {w}{}", if *r { " reverse" } else { "" }));
        }
        if *dynamic {
            o.line("dynamic");
        }
        return o.close();
    }
    if let CheckKind::Bfd { name } = &c.kind {
        o.line(format!("name {}", word(name)));
        return o.close();
    }
    match &c.kind {
        CheckKind::Http(h) => {
            for u in &h.urls {
                o.open("url");
                o.line(format!("path {}", word(&u.path)));
                if let Some(d) = u.digest {
                    o.line(format!("digest {}", hex(&d)));
                }
                if !u.status_code.is_empty() {
                    let codes: Vec<String> = u.status_code.iter().map(|c| c.to_string()).collect();
                    o.line(format!("status_code {}", codes.join(" ")));
                }
                if let Some(r) = &u.regex {
                    o.line(format!("regex {}", word(&r.pattern)));
                    if r.no_match {
                        o.line("regex_no_match");
                    }
                    if r.min_offset > 0 {
                        o.line(format!("regex_min_offset {}", r.min_offset));
                    }
                    if let Some(m) = r.max_offset {
                        o.line(format!("regex_max_offset {m}"));
                    }
                    let options: Vec<&str> =
                        regex_options::NAMES.iter().filter(|(_, b)| r.options & b != 0).map(|(n, _)| *n).collect();
                    if !options.is_empty() {
                        o.line(format!("regex_options {}", options.join(" ")));
                    }
                }
                o.close();
            }
            if let Some(v) = &h.virtualhost {
                o.line(format!("virtualhost {}", word(v)));
            }
            if h.protocol != HttpProtocol::default() {
                o.line(format!("http_protocol {}", h.protocol.keyword()));
            }
            if h.enable_sni {
                o.line("enable_sni");
            }
            if h.verify_cert {
                o.line("verify_cert");
            }
        }
        CheckKind::Smtp { helo_name: Some(h) } => o.line(format!("helo_name {}", word(h))),
        CheckKind::Dns { query_type, query_name } => {
            o.line(format!("type {}", query_type.name()));
            o.line(format!("name {}", word(query_name)));
        }
        CheckKind::Udp { payload, require_reply } => {
            if !payload.is_empty() {
                o.line(format!("payload {}", hex(payload)));
            }
            if *require_reply {
                o.line("require_reply");
            }
        }
        CheckKind::Misc { path, timeout_s, dynamic } => {
            o.line(format!("misc_path {}", word(path)));
            o.line(format!("misc_timeout {timeout_s}"));
            if *dynamic {
                o.line("misc_dynamic");
            }
        }
        _ => {}
    }
    // MISC_CHECK runs a program: it has no connection (keepalived refuses
    // these keywords there; misc_timeout is its timeout).
    if !matches!(c.kind, CheckKind::Misc { .. }) {
        if let Some(ip) = c.connect_ip {
            o.line(format!("connect_ip {ip}"));
        }
        if let Some(p) = c.connect_port {
            o.line(format!("connect_port {p}"));
        }
        if let Some(b) = c.bind_to {
            o.line(format!("bindto {b}"));
        }
        if let Some(i) = &c.bind_if {
            o.line(format!("bind_if {}", word(i)));
        }
        if let Some(p) = c.bind_port {
            o.line(format!("bind_port {p}"));
        }
        if let Some(m) = c.fwmark {
            o.line(format!("fwmark {m}"));
        }
        o.line(format!("connect_timeout {}", c.connect_timeout_s));
    }
    if let Some(a) = c.alpha {
        o.line(if a { "alpha" } else { "alpha off" });
    }
    if let Some(l) = c.log_all_failures {
        o.line(if l { "log_all_failures" } else { "log_all_failures off" });
    }
    o.line(format!("retry {}", c.retry));
    o.line(format!("delay_before_retry {}", c.delay_before_retry_s));
    if c.warmup_s > 0 {
        o.line(format!("warmup {}", c.warmup_s));
    }
    if let Some(d) = c.delay_loop_s {
        o.line(format!("delay_loop {d}"));
    }
    o.close();
}
