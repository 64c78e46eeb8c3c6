//! The Prometheus endpoint (`vigil_defs metrics_listen ADDR:PORT`): what
//! the appliance knows, in the text exposition format (version 0.0.4).
//! [`render`] is pure (a [`Snapshot`] in, the page out); [`server`] is the
//! HTTP side, on a thread of its own.
//!
//! Names follow the exporters operators already have dashboards for:
//! keepalived's VRRP counters as mehdy/keepalived-exporter names them
//! (`keepalived_advertisements_sent_total{iname,intf,vrid,state}`, ...),
//! the IPVS backends as node_exporter's ipvs collector does
//! (`node_ipvs_backend_weight{local_address,...}`). What neither has is
//! `vigil_*`. README.md lists every metric.

pub mod http;
pub mod server;

use crate::ipc::VrrpState;
use crate::report::{Checkers, Report, Track, TrackerKind, Vrrp};
use std::fmt::Write;
use std::sync::Arc;
use vigil_ipvs::{Counters, Dest, Service, ServiceKey};

/// Everything one scrape reports, gathered by the server's thread.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub version: String,
    /// Seconds since the Unix epoch.
    pub started_s: u64,
    /// The children's latest reports as PID 1 holds them, shared with the
    /// scrape, not copied (37,298 checks at #2318's shape): see
    /// [`Snapshot::vrrp`] and [`Snapshot::checkers`].
    pub vrrp_report: Arc<Report>,
    pub checkers_report: Arc<Report>,
    /// The kernel's IPVS table with its counters, or why it could not be read.
    pub ipvs: Result<Vec<(Service, Vec<Dest>)>, String>,
    /// /proc/net/ip_vs_stats: the totals since the module loaded.
    pub ipvs_totals: Option<Counters>,
    pub children: Vec<ChildFacts>,
    pub config_generation: u64,
    pub config_applied_ms: u64,
    pub boot_slot: Option<String>,
    pub time: TimeFacts,
    /// The endpoint's own: requests answered, and refused by reason.
    pub scrapes: u64,
    pub refused: Vec<(&'static str, u64)>,
}

impl Snapshot {
    /// None: the VRRP child has not reported (yet, or since it restarted).
    pub fn vrrp(&self) -> Option<&Vrrp> {
        match &*self.vrrp_report {
            Report::Vrrp(v) => Some(v),
            _ => None,
        }
    }

    pub fn checkers(&self) -> Option<&Checkers> {
        match &*self.checkers_report {
            Report::Checkers(c) => Some(c),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ChildFacts {
    pub name: &'static str,
    pub up: bool,
    pub restarts: u32,
    pub heartbeat_kills: u32,
    pub given_up: bool,
    pub cpu_seconds: Option<f64>,
    pub rss_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TimeFacts {
    pub synced: bool,
    pub offset_s: Option<f64>,
    /// Seconds since the Unix epoch.
    pub last_sync_s: Option<u64>,
}

/// Past this many real servers (checks), the families with a series per
/// real server (per check) are left out, and `vigil_metrics_omitted` says
/// so: at 50,000 real servers they would be 650,000 series, a page of
/// ~100 MB made in PID 1 for each scrape. The per-service and per-virtual-
/// server families stay.
pub const MAX_PER_ITEM_SERIES: usize = 10_000;

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

#[derive(Clone, Copy)]
enum Value {
    U(u64),
    F(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::U(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::U(u64::from(v))
    }
}

impl From<u8> for Value {
    fn from(v: u8) -> Value {
        Value::U(u64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::U(u64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::F(v)
    }
}

/// The page being written: a family's HELP and TYPE once, then its samples
/// (a family's samples must be together).
#[derive(Default)]
struct Page {
    out: String,
}

impl Page {
    fn family(&mut self, name: &'static str, kind: Kind, help: &str) -> Family<'_> {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.out, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        Family { page: self, name }
    }
}

struct Family<'a> {
    page: &'a mut Page,
    name: &'static str,
}

impl Family<'_> {
    fn sample(&mut self, labels: &[(&str, &str)], value: impl Into<Value>) -> &mut Self {
        let out = &mut self.page.out;
        out.push_str(self.name);
        if !labels.is_empty() {
            out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{k}=\"");
                escape_label(out, v);
                out.push('"');
            }
            out.push('}');
        }
        let _ = match value.into() {
            Value::U(n) => writeln!(out, " {n}"),
            Value::F(f) if f.is_nan() => writeln!(out, " NaN"),
            Value::F(f) if f.is_infinite() => writeln!(out, " {}Inf", if f > 0.0 { "+" } else { "-" }),
            Value::F(f) => writeln!(out, " {f}"),
        };
        self
    }
}

/// A label value as the format quotes it: backslash, double quote and
/// line feed escaped (names of instances and scripts are the operator's).
fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// keepalived's numbering, which its exporters pass on.
fn state_number(s: VrrpState) -> u64 {
    match s {
        VrrpState::Init => 0,
        VrrpState::Backup => 1,
        VrrpState::Master => 2,
        VrrpState::Fault => 3,
    }
}

/// The page for one scrape.
pub fn render(s: &Snapshot) -> String {
    let mut p = Page::default();
    p.family("keepalived_up", Kind::Gauge, "Whether the VRRP daemon is running and reporting (1) or not (0).")
        .sample(&[], s.vrrp().is_some());
    if let Some(v) = s.vrrp() {
        vrrp(&mut p, v);
    }
    if let Some(c) = s.checkers() {
        checkers(&mut p, c);
    }
    let backends = ipvs(&mut p, s);
    appliance(&mut p, s);
    let checks = s.checkers().map_or(0, |c| c.virtual_servers.iter().map(|v| v.checks.len()).sum());
    let mut f = p.family(
        "vigil_metrics_omitted",
        Kind::Gauge,
        "1 where the per-real-server (per-check) families are left out: more of them than the page takes.",
    );
    f.sample(&[("what", "backends")], backends > MAX_PER_ITEM_SERIES);
    f.sample(&[("what", "checks")], checks > MAX_PER_ITEM_SERIES);
    p.out
}

fn vrrp(p: &mut Page, v: &Vrrp) {
    // Labels as mehdy/keepalived-exporter's: iname, intf, vrid, state.
    let labels: Vec<[(&str, String); 4]> = v
        .instances
        .iter()
        .map(|i| {
            [
                ("iname", i.name.clone()),
                ("intf", i.interface.clone()),
                ("vrid", i.vrid.to_string()),
                ("state", i.state.to_string()),
            ]
        })
        .collect();
    let l = |i: usize| -> Vec<(&str, &str)> { labels[i].iter().map(|(k, v)| (*k, v.as_str())).collect() };
    {
        let mut f = p.family(
            "keepalived_vrrp_state",
            Kind::Gauge,
            "Each virtual address's instance state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.",
        );
        for i in &v.instances {
            let vrid = i.vrid.to_string();
            for a in &i.addresses {
                f.sample(
                    &[("iname", &i.name), ("intf", &i.interface), ("vrid", &vrid), ("ip_address", a)],
                    state_number(i.state),
                );
            }
        }
    }
    type Counter = fn(&crate::report::Instance) -> u64;
    let counters: [(&'static str, &str, Counter); 11] = [
        ("keepalived_advertisements_received_total", "Advertisements received.", |i| i.adverts_received),
        ("keepalived_advertisements_sent_total", "Advertisements sent.", |i| i.adverts_sent),
        ("keepalived_become_master_total", "Times the instance became MASTER.", |i| i.became_master),
        ("keepalived_release_master_total", "Times the instance left MASTER.", |i| i.released_master),
        ("keepalived_priority_zero_received_total", "Adverts with priority 0 (a master resigning) received.", |i| {
            i.priority_zero_received
        }),
        ("keepalived_priority_zero_sent_total", "Adverts with priority 0 sent (resigning).", |i| i.priority_zero_sent),
        ("keepalived_authentication_failure_total", "Adverts dropped for a wrong password.", |i| i.dropped.auth),
        ("keepalived_advertisements_interval_errors_total", "Adverts dropped for another advert interval (v2).", |i| {
            i.dropped.interval
        }),
        ("keepalived_ip_ttl_errors_total", "Adverts dropped for a TTL (hop limit) other than 255.", |i| i.dropped.ttl),
        ("keepalived_address_list_errors_total", "Adverts dropped for other virtual addresses.", |i| {
            i.dropped.addresses
        }),
        ("keepalived_packet_length_errors_total", "Adverts dropped as malformed (length, checksum, fields).", |i| {
            i.dropped.malformed
        }),
    ];
    for (name, help, get) in counters {
        let mut f = p.family(name, Kind::Counter, help);
        for (n, i) in v.instances.iter().enumerate() {
            f.sample(&l(n), get(i));
        }
    }
    {
        let mut f = p.family(
            "keepalived_script_status",
            Kind::Gauge,
            "Each vrrp_script's result: 0 BAD, 1 GOOD (not yet run: absent).",
        );
        for t in v.trackers.iter().filter(|t| t.kind == TrackerKind::Script) {
            match t.state {
                Track::Good => f.sample(&[("name", &t.name)], 1u64),
                Track::Bad => f.sample(&[("name", &t.name)], 0u64),
                _ => &mut f,
            };
        }
    }
    // vigil's own, per instance (labels iname, intf, vrid: no state).
    type PerInstance = fn(&crate::report::Instance) -> Option<Value>;
    let per_instance: [(&'static str, Kind, &str, PerInstance); 5] = [
        (
            "vigil_vrrp_state",
            Kind::Gauge,
            "Each instance's state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT (keepalived_vrrp_state is per address).",
            |i| Some(state_number(i.state).into()),
        ),
        ("vigil_vrrp_priority", Kind::Gauge, "Each instance's configured priority.", |i| Some(i.priority.into())),
        (
            "vigil_vrrp_effective_priority",
            Kind::Gauge,
            "Each instance's priority with its tracking (what its adverts carry).",
            |i| Some(i.effective_priority.into()),
        ),
        ("vigil_vrrp_transitions_total", Kind::Counter, "Each instance's state changes.", |i| {
            Some(i.transitions.into())
        }),
        (
            "vigil_vrrp_last_transition_timestamp_seconds",
            Kind::Gauge,
            "When each instance last changed state (seconds since the Unix epoch; absent before the first).",
            |i| i.last_transition_ms.map(|ms| (ms as f64 / 1000.0).into()),
        ),
    ];
    for (name, kind, help, get) in per_instance {
        let mut f = p.family(name, kind, help);
        for (n, i) in v.instances.iter().enumerate() {
            if let Some(value) = get(i) {
                f.sample(&l(n)[..3], value);
            }
        }
    }
    {
        let mut f = p.family("vigil_vrrp_dropped_total", Kind::Counter, "Adverts each instance dropped, by reason.");
        for (n, i) in v.instances.iter().enumerate() {
            for (reason, count) in i.dropped.counts() {
                let mut labels = l(n)[..3].to_vec();
                labels.push(("reason", reason));
                f.sample(&labels, count);
            }
        }
    }
    {
        let mut f = p.family(
            "vigil_vrrp_tracker_up",
            Kind::Gauge,
            "Each tracked script, process and BFD session: 1 good, 0 bad (not yet known: absent).",
        );
        for t in v.trackers.iter().filter(|t| t.kind != TrackerKind::File) {
            let kind = match t.kind {
                TrackerKind::Script => "script",
                TrackerKind::Process => "process",
                _ => "bfd",
            };
            match t.state {
                Track::Good => f.sample(&[("kind", kind), ("name", &t.name)], 1u64),
                Track::Bad => f.sample(&[("kind", kind), ("name", &t.name)], 0u64),
                _ => &mut f,
            };
        }
    }
    {
        let mut f = p.family("vigil_vrrp_track_file_value", Kind::Gauge, "Each vrrp_track_file's number.");
        for t in &v.trackers {
            if let Track::Value(n) = t.state {
                f.sample(&[("name", &t.name)], f64::from(n));
            }
        }
    }
}

fn checkers(p: &mut Page, c: &Checkers) {
    {
        let mut f = p.family(
            "vigil_virtual_server_quorum",
            Kind::Gauge,
            "Whether each virtual server has its quorum (1) or its sorry server stands in (0).",
        );
        for vs in &c.virtual_servers {
            f.sample(&[("virtual_server", &vs.name)], vs.quorum);
        }
    }
    let checks: usize = c.virtual_servers.iter().map(|v| v.checks.len()).sum();
    let mut by_kind: std::collections::BTreeMap<&str, u64> = Default::default();
    for ch in c.virtual_servers.iter().flat_map(|vs| &vs.checks) {
        *by_kind.entry(ch.kind.as_str()).or_default() += u64::from(ch.failed);
    }
    {
        let mut f = p.family("vigil_checker_failures_total", Kind::Counter, "Failed probes, by checker type.");
        for (kind, n) in by_kind {
            f.sample(&[("checker", kind)], n);
        }
    }
    if checks > MAX_PER_ITEM_SERIES {
        return;
    }
    {
        let mut f = p.family(
            "vigil_real_server_up",
            Kind::Gauge,
            "Whether every check of a real server says it is up (1: in its pool).",
        );
        for vs in &c.virtual_servers {
            let mut servers: Vec<std::net::SocketAddr> = vs.checks.iter().map(|c| c.real_server).collect();
            servers.dedup();
            for rs in servers {
                let up = vs.checks.iter().filter(|c| c.real_server == rs).all(|c| c.up);
                f.sample(&[("virtual_server", &vs.name), ("real_server", &rs.to_string())], up);
            }
        }
    }
    let each = |p: &mut Page,
                name: &'static str,
                kind: Kind,
                help: &str,
                get: &dyn Fn(&crate::report::Check) -> Option<Value>| {
        let mut f = p.family(name, kind, help);
        for vs in &c.virtual_servers {
            for ch in &vs.checks {
                if let Some(v) = get(ch) {
                    let rs = ch.real_server.to_string();
                    f.sample(&[("virtual_server", &vs.name), ("real_server", &rs), ("checker", ch.kind.as_str())], v);
                }
            }
        }
    };
    each(p, "vigil_checker_up", Kind::Gauge, "Each check's verdict: 1 up, 0 down.", &|c| Some(c.up.into()));
    each(p, "vigil_checker_probes_total", Kind::Counter, "Probes each check ran.", &|c| Some(c.probes.into()));
    each(p, "vigil_checker_failed_probes_total", Kind::Counter, "Probes of each check that failed.", &|c| {
        Some(c.failed.into())
    });
    each(p, "vigil_checker_latency_seconds", Kind::Gauge, "How long each check's last probe took.", &|c| {
        c.latency_us.map(|us| (us as f64 / 1e6).into())
    });
}

/// node_exporter's ipvs labels for a service.
fn service_labels(k: &ServiceKey) -> [(&'static str, String); 4] {
    match k {
        ServiceKey::Addr { proto, addr, port } => [
            ("local_address", addr.to_string()),
            ("local_port", port.to_string()),
            ("local_mark", String::new()),
            ("proto", proto.name().to_uppercase()),
        ],
        ServiceKey::Fwmark { mark, .. } => [
            ("local_address", String::new()),
            ("local_port", "0".into()),
            ("local_mark", mark.to_string()),
            ("proto", "FWM".into()),
        ],
    }
}

/// The IPVS families; how many real servers the table has.
fn ipvs(p: &mut Page, s: &Snapshot) -> usize {
    p.family("vigil_ipvs_up", Kind::Gauge, "Whether the kernel's IPVS table could be read for this scrape.")
        .sample(&[], s.ipvs.is_ok());
    if let Some(t) = s.ipvs_totals {
        let totals: [(&'static str, &str, u64); 5] = [
            ("node_ipvs_connections_total", "Connections IPVS made since it was loaded.", t.connections),
            ("node_ipvs_incoming_packets_total", "Packets IPVS took in.", t.packets_in),
            ("node_ipvs_outgoing_packets_total", "Packets IPVS sent out.", t.packets_out),
            ("node_ipvs_incoming_bytes_total", "Bytes IPVS took in.", t.bytes_in),
            ("node_ipvs_outgoing_bytes_total", "Bytes IPVS sent out.", t.bytes_out),
        ];
        for (name, help, v) in totals {
            p.family(name, Kind::Counter, help).sample(&[], v);
        }
    }
    let Ok(table) = &s.ipvs else { return 0 };
    let backends: usize = table.iter().map(|(_, d)| d.len()).sum();
    let svc: Vec<[(&'static str, String); 4]> = table.iter().map(|(s, _)| service_labels(&s.key)).collect();
    let backend = |si: usize, d: &Dest| -> Vec<(&'static str, String)> {
        let mut l = svc[si].to_vec();
        l.push(("remote_address", d.key.addr.to_string()));
        l.push(("remote_port", d.key.port.to_string()));
        l
    };
    type Get = fn(&Counters) -> u64;
    // (the service's family, the real server's, what it counts, how to read it)
    let counters: [(&'static str, &'static str, &str, Get); 5] = [
        ("vigil_ipvs_service_connections_total", "vigil_ipvs_backend_connections_total", "Connections", |c| {
            c.connections
        }),
        ("vigil_ipvs_service_incoming_packets_total", "vigil_ipvs_backend_incoming_packets_total", "Packets in", |c| {
            c.packets_in
        }),
        (
            "vigil_ipvs_service_outgoing_packets_total",
            "vigil_ipvs_backend_outgoing_packets_total",
            "Packets out",
            |c| c.packets_out,
        ),
        ("vigil_ipvs_service_incoming_bytes_total", "vigil_ipvs_backend_incoming_bytes_total", "Bytes in", |c| {
            c.bytes_in
        }),
        ("vigil_ipvs_service_outgoing_bytes_total", "vigil_ipvs_backend_outgoing_bytes_total", "Bytes out", |c| {
            c.bytes_out
        }),
    ];
    for (name, _, words, get) in counters {
        let mut f = p.family(name, Kind::Counter, &format!("{words} of each virtual service, as IPVS counts them."));
        for (si, (s, _)) in table.iter().enumerate() {
            let l: Vec<(&str, &str)> = svc[si].iter().map(|(k, v)| (*k, v.as_str())).collect();
            f.sample(&l, get(&s.stats));
        }
    }
    if backends > MAX_PER_ITEM_SERIES {
        return backends;
    }
    for (_, name, words, get) in counters {
        let mut f = p.family(name, Kind::Counter, &format!("{words} of each real server, as IPVS counts them."));
        for (si, (_, dests)) in table.iter().enumerate() {
            for d in dests {
                let l = backend(si, d);
                let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
                f.sample(&l, get(&d.live().stats));
            }
        }
    }
    type Gauge = fn(&Dest) -> u64;
    let gauges: [(&'static str, &str, Gauge); 3] = [
        ("node_ipvs_backend_connections_active", "Each real server's active connections.", |d| {
            u64::from(d.live().active)
        }),
        ("node_ipvs_backend_connections_inactive", "Each real server's inactive connections.", |d| {
            u64::from(d.live().inactive)
        }),
        ("node_ipvs_backend_weight", "Each real server's weight in IPVS (0: no new connections).", |d| {
            u64::from(d.weight)
        }),
    ];
    for (name, help, get) in gauges {
        let mut f = p.family(name, Kind::Gauge, help);
        for (si, (_, dests)) in table.iter().enumerate() {
            for d in dests {
                let l = backend(si, d);
                let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
                f.sample(&l, get(d));
            }
        }
    }
    backends
}

fn appliance(p: &mut Page, s: &Snapshot) {
    p.family("vigil_build_info", Kind::Gauge, "The firmware's version (always 1).")
        .sample(&[("version", &s.version)], 1u64);
    p.family("vigil_start_time_seconds", Kind::Gauge, "When vigil started (seconds since the Unix epoch).")
        .sample(&[], s.started_s);
    if let Some(slot) = &s.boot_slot {
        p.family("vigil_boot_slot_info", Kind::Gauge, "The firmware slot booted (always 1).")
            .sample(&[("slot", slot)], 1u64);
    }
    p.family(
        "vigil_config_generation",
        Kind::Gauge,
        "The running config's generation on flash (0: the config read at start).",
    )
    .sample(&[], s.config_generation);
    p.family(
        "vigil_config_applied_timestamp_seconds",
        Kind::Gauge,
        "When the running config was applied (seconds since the Unix epoch).",
    )
    .sample(&[], s.config_applied_ms as f64 / 1000.0);
    type ChildValue = fn(&ChildFacts) -> Option<Value>;
    let children: [(&'static str, Kind, &str, ChildValue); 6] = [
        ("vigil_child_up", Kind::Gauge, "Whether each supervised child runs and answers its heartbeats.", |c| {
            Some(c.up.into())
        }),
        ("vigil_child_restarts_total", Kind::Counter, "Times each child failed and was restarted.", |c| {
            Some(c.restarts.into())
        }),
        (
            "vigil_child_heartbeat_kills_total",
            Kind::Counter,
            "Times each child missed its heartbeats and was killed.",
            |c| Some(c.heartbeat_kills.into()),
        ),
        (
            "vigil_child_crash_loop",
            Kind::Gauge,
            "Whether each child is in a crash loop and no longer restarted.",
            |c| Some(c.given_up.into()),
        ),
        ("vigil_child_cpu_seconds_total", Kind::Counter, "CPU time each running child has used.", |c| {
            c.cpu_seconds.map(Value::F)
        }),
        ("vigil_child_resident_memory_bytes", Kind::Gauge, "Each running child's resident memory.", |c| {
            c.rss_bytes.map(Value::U)
        }),
    ];
    for (name, kind, help, get) in children {
        let mut f = p.family(name, kind, help);
        for c in &s.children {
            if let Some(v) = get(c) {
                f.sample(&[("child", c.name)], v);
            }
        }
    }
    p.family("vigil_time_synced", Kind::Gauge, "Whether the last SNTP round set the clock from a server.")
        .sample(&[], s.time.synced);
    if let Some(o) = s.time.offset_s {
        p.family("vigil_time_offset_seconds", Kind::Gauge, "The clock's offset the last SNTP round measured.")
            .sample(&[], o);
    }
    if let Some(t) = s.time.last_sync_s {
        p.family(
            "vigil_time_last_sync_timestamp_seconds",
            Kind::Gauge,
            "When a server last answered (seconds since the Unix epoch).",
        )
        .sample(&[], t);
    }
    p.family("vigil_metrics_scrapes_total", Kind::Counter, "Requests for the metrics this endpoint answered.")
        .sample(&[], s.scrapes);
    let mut f = p.family("vigil_metrics_refused_total", Kind::Counter, "Requests this endpoint refused, by reason.");
    for (reason, n) in &s.refused {
        f.sample(&[("reason", reason)], *n);
    }
}

/// /proc/net/ip_vs_stats: the third line holds the totals, in hex.
pub fn parse_ipvs_stats(text: &str) -> Option<Counters> {
    let line = text.lines().nth(2)?;
    let v: Vec<u64> = line.split_whitespace().map(|f| u64::from_str_radix(f, 16)).collect::<Result<_, _>>().ok()?;
    match v[..] {
        [connections, packets_in, packets_out, bytes_in, bytes_out] => {
            Some(Counters { connections, packets_in, packets_out, bytes_in, bytes_out })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
