//! The load balancer: the config's virtual servers and real servers made
//! into IPVS services and destinations, and kept so through reloads with
//! the fewest kernel changes (`vigil_ipvs::plan`). Scheduler modules the
//! image carries on demand are loaded before a service needs them.

use crate::ipc::Health;
use std::fmt::Write;
use std::net::IpAddr;
use tracing::{info, warn};
use vigil_board::OnDemand;
use vigil_config::{Config, Forwarding, Protocol, VirtualKey};
use vigil_ipvs::{
    Client, Dest, Dests, Forward, Op, Owned, Proto, Service, ServiceKey, Table, TunnelType, plan_removals, plan_service,
};

/// The table the config asks for, as the checkers see the real servers
/// (without a verdict: in, at the configured weight).
#[cfg(test)]
fn desired(config: &Config, health: Option<&Health>) -> Table {
    let mut t = Table::default();
    each_service(config, health, |key, entry| {
        t.services.insert(key, entry);
    });
    t
}

/// Each IPVS service the config asks for, one at a time, in the config's
/// order (what `desired` gathers; `Lb::apply` plans and applies each as it
/// comes instead of holding the whole table).
fn each_service(config: &Config, health: Option<&Health>, mut f: impl FnMut(ServiceKey, (Service, Dests))) {
    for (vi, vs) in config.virtual_servers.iter().enumerate() {
        // A group's services each get the virtual server's settings and
        // real servers, and the same verdicts: each real server is checked
        // once, whatever the number of services.
        for key in config.services(vs) {
            let key = match key {
                VirtualKey::Address(sa) => {
                    ServiceKey::Addr { proto: proto(vs.protocol), addr: sa.ip(), port: sa.port() }
                }
                VirtualKey::Fwmark(mark) => ServiceKey::Fwmark { mark, v6: vs.fwmark_v6() },
                VirtualKey::Group(_) => continue, // services() never gives one
            };
            f(key, service(key, vi, vs, health));
        }
    }
}

/// One IPVS service of a virtual server, with its real servers as the
/// checkers see them.
fn service(key: ServiceKey, vi: usize, vs: &vigil_config::VirtualServer, health: Option<&Health>) -> (Service, Dests) {
    let mut s = Service::new(key, vs.lb_algo.name());
    s.timeout = vs.persistence_timeout;
    // ops and the scheduler flags, as IPVS numbers them.
    let f = u32::from(vs.ipvs_flags);
    s.flags = (if f & 1 != 0 { vigil_ipvs::table::flags::ONEPACKET } else { 0 }) | ((f & 0b1110) << 2);
    if let Some(g) = vs.persistence_granularity {
        s.netmask_prefix = g.prefix;
    }
    s.pe_name = vs.persistence_engine.as_ref().map(|p| p.to_string());
    let mut dests = Vec::with_capacity(vs.real_servers.len() + 1);
    for (ri, rs) in vs.real_servers.iter().enumerate() {
        let weight = match health.and_then(|h| h.weights.get(&(vi, ri))) {
            Some(Some(w)) => *w,
            Some(None) => continue, // down: out of the pool
            None => rs.weight,
        };
        let fwd = forward(rs.lb_kind.unwrap_or(vs.lb_kind));
        let mut d = Dest::new(rs.addr.ip(), rs.addr.port(), weight, fwd);
        d.u_threshold = rs.uthreshold;
        d.l_threshold = rs.lthreshold;
        // The real server's tunnel, else its virtual server's.
        (d.tunnel, d.tun_flags) = match rs.tunnel.or(vs.tunnel) {
            Some(vigil_config::Tunnel::Gue { port, csum }) => (TunnelType::Gue(port), csum.flags()),
            Some(vigil_config::Tunnel::Gre { csum }) => (TunnelType::Gre, csum.flags()),
            Some(vigil_config::Tunnel::Ipip) | None => (TunnelType::Ipip, 0),
        };
        dests.push(d);
    }
    // The sorry server while the quorum is lost; with
    // `sorry_server_inhibit`, at weight 0 the rest of the time.
    if let Some(sorry) = vs.sorry_server {
        let fwd = forward(vs.sorry_server_lvs_kind.unwrap_or(vs.lb_kind));
        match health.is_some_and(|h| h.sorry.contains(&vi)) {
            true => dests.push(Dest::new(sorry.ip(), sorry.port(), 1, fwd)),
            false if vs.sorry_server_inhibit => dests.push(Dest::new(sorry.ip(), sorry.port(), 0, fwd)),
            false => {}
        }
    }
    // In any order (the config's); of a repeated one, the last, as before.
    (s, Dests::from_unsorted(dests))
}

fn proto(p: Protocol) -> Proto {
    match p {
        Protocol::Tcp => Proto::Tcp,
        Protocol::Udp => Proto::Udp,
        Protocol::Sctp => Proto::Sctp,
    }
}

fn forward(f: Forwarding) -> Forward {
    match f {
        Forwarding::Nat => Forward::Masq,
        Forwarding::Dr => Forward::Route,
        Forwarding::Tun => Forward::Tunnel,
    }
}

/// What vigil has programmed, across reloads.
pub struct Lb {
    owned: Owned,
    on_demand: Vec<OnDemand>,
    flushed: bool,
    /// The table as vigil last left it, when every change went in: the next
    /// plan starts from it instead of reading the kernel's back (a dump per
    /// service: 0.7 s for 1,000 services in a TCG guest). Any failure, and
    /// every `REREAD`th apply, reads the kernel again.
    known: Option<Table>,
    applies: u32,
    /// `lvs_timeouts` as last set.
    timeouts: Option<vigil_config::LvsTimeouts>,
}

/// Read the kernel's table at least every this many applies (another tool
/// may have touched it).
const REREAD: u32 = 64;

impl Lb {
    pub fn new(on_demand: Vec<OnDemand>) -> Lb {
        Lb { owned: Owned::default(), on_demand, flushed: false, known: None, applies: 0, timeouts: None }
    }

    /// Makes the kernel's table what `config` asks for. Returns how many
    /// changes were made, or every error (the other changes still go in).
    /// A service at a time: its wanted entry built, planned against what
    /// the kernel has, applied, and dropped before the next (at keepalived
    /// issue #2318's shape the whole wanted table and plan were 8 MB at
    /// once, on top of the table kept).
    pub fn apply(&mut self, config: &Config, health: Option<&Health>) -> Result<usize, String> {
        self.owned.all = config.global.lvs_flush;
        let wants_any = config.virtual_servers.iter().any(|vs| config.services(vs).next().is_some());
        if !wants_any && !self.owned.all && self.owned == Owned::default() {
            return Ok(0); // nothing asked for, nothing of ours: leave IPVS be
        }
        let mut client = Client::open().map_err(|e| e.to_string())?;
        if config.global.lvs_flush && !self.flushed {
            client.flush().map_err(|e| e.to_string())?;
            info!("ipvs: table flushed (lvs_flush)");
            self.flushed = true;
        }
        let mut errors = Vec::new();
        self.applies = self.applies.wrapping_add(1);
        if let Some(t) = config.global.lvs_timeouts
            && self.timeouts != Some(t)
        {
            match client.set_timeouts(t.tcp, t.tcpfin, t.udp) {
                Ok(()) => {
                    info!("ipvs: timeouts tcp {} tcpfin {} udp {}", t.tcp, t.tcpfin, t.udp);
                    self.timeouts = Some(t);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        // What the kernel has, and becomes as the ops go in.
        let mut have = match self.known.take() {
            Some(t) if !self.applies.is_multiple_of(REREAD) => t,
            _ => client.table().map_err(|e| e.to_string())?,
        };
        let (mut done, mut planned, mut dests) = (0, 0, 0);
        let mut wanted = std::collections::BTreeSet::new();
        // The schedulers' and persistence engines' modules, each looked
        // for once, before the first service that needs it.
        let mut modules = std::collections::BTreeSet::new();
        let mut apply = |op: &Op, have: &mut Table, owned: &mut Owned, errors: &mut Vec<String>| match client.apply(op)
        {
            Ok(()) => {
                owned.record(op);
                op.apply_to(have);
                done += 1;
            }
            Err(e) => errors.push(e.to_string()),
        };
        each_service(config, health, |key, entry| {
            let (svc, ds) = &entry;
            let pe = svc.pe_name.as_ref().map(|p| (format!("ip_vs_pe_{p}"), "persistence engine"));
            for (module, what) in std::iter::once((format!("ip_vs_{}", svc.scheduler), "scheduler")).chain(pe) {
                if !modules.contains(&module) {
                    if let Err(e) = self.ensure_module(&module, what) {
                        errors.push(e);
                    }
                    modules.insert(module);
                }
            }
            let ops = plan_service(key, &entry, have.services.get(&key), &self.owned);
            planned += ops.len();
            for op in &ops {
                apply(op, &mut have, &mut self.owned, &mut errors);
            }
            self.owned.adopt_service(key, ds);
            dests += ds.len();
            wanted.insert(key);
        });
        for op in plan_removals(&have, |k| wanted.contains(k), &self.owned) {
            planned += 1;
            apply(&op, &mut have, &mut self.owned, &mut errors);
        }
        self.owned.shrink_to_fit();
        if errors.is_empty() {
            have.shrink_to_fit();
            self.known = Some(have);
        }
        if planned > 0 {
            info!("ipvs: {done} of {planned} changes applied ({} services, {dests} destinations wanted)", wanted.len());
        }
        for e in &errors {
            warn!("ipvs: {e}");
        }
        if errors.is_empty() { Ok(done) } else { Err(errors.join("; ")) }
    }

    /// As vigil stops: keepalived removes the virtual servers it made (the
    /// kernel takes their real servers with them), or with
    /// `lvs_flush_on_stop` (no `VS`) flushes the whole table. Returns how
    /// many services went (the whole table: 0).
    pub fn stop(&mut self, flush: Option<vigil_config::FlushOnStop>) -> Result<usize, String> {
        if flush == Some(vigil_config::FlushOnStop::All) {
            Client::open().and_then(|mut c| c.flush()).map_err(|e| e.to_string())?;
            info!("ipvs: table flushed (lvs_flush_on_stop)");
            return Ok(0);
        }
        if !self.owned.all && self.owned == Owned::default() {
            return Ok(0); // nothing of ours (and maybe no IPVS at all)
        }
        let mut client = Client::open().map_err(|e| e.to_string())?;
        let have = client.table().map_err(|e| e.to_string())?;
        let mut gone = 0;
        let mut errors = Vec::new();
        for op in plan_removals(&have, |_| false, &self.owned) {
            match client.apply(&op) {
                Ok(()) => {
                    self.owned.record(&op);
                    gone += 1;
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        self.known = None;
        info!("ipvs: {gone} virtual services removed as vigil stops");
        if errors.is_empty() { Ok(gone) } else { Err(errors.join("; ")) }
    }

    /// Loads a scheduler's (`ip_vs_<name>`) or persistence engine's
    /// (`ip_vs_pe_<name>`) module if the image carries it and it is not
    /// loaded.
    fn ensure_module(&self, module: &str, what: &str) -> Result<(), String> {
        if std::path::Path::new("/sys/module").join(module).exists() {
            return Ok(());
        }
        match self.on_demand.iter().find(|m| m.name == module) {
            Some(m) => crate::kmod::load_chain(&m.chain).map_err(|e| format!("{what} {module}: {e}")),
            // Not in the image: the kernel may have it built in; if not,
            // adding the service says so.
            None => Ok(()),
        }
    }
}

/// The load balancer as the appliance runs it: the IPVS table, the
/// checkers of the current config, and the health they report.
pub struct Balancer {
    lb: Lb,
    /// Shared with the checkers' supervisor and the shell's appliance.
    config: std::sync::Arc<Config>,
    generation: u64,
    health: Option<Health>,
    /// Health for a newer generation than the one configured: the checkers
    /// (told by the bus) can report before the config thread's configure
    /// reaches this thread; it counts once that arrives.
    early: Option<Health>,
    /// A config has been given.
    started: bool,
    /// The sync daemon vigil runs (MASTER or BACKUP), following VRRP.
    sync: Option<u32>,
    vrrp: Vec<(String, crate::ipc::VrrpState)>,
}

impl Balancer {
    /// See [`Lb::stop`].
    pub fn stop(&mut self, flush: Option<vigil_config::FlushOnStop>) -> Result<usize, String> {
        self.lb.stop(flush)
    }

    pub fn new(on_demand: Vec<OnDemand>) -> Balancer {
        Balancer {
            lb: Lb::new(on_demand),
            config: Default::default(),
            generation: 0,
            health: None,
            early: None,
            started: false,
            sync: None,
            vrrp: Vec::new(),
        }
    }

    /// A config to run: the table follows it at once. `checkers`: the
    /// generation at which the virtual servers last changed (the bus's);
    /// the checkers restart with it, and the verdicts of an older one no
    /// longer count (the pools, and the verdicts, survive any other commit).
    pub fn configure(&mut self, config: &std::sync::Arc<Config>, checkers: u64) -> Result<usize, String> {
        if !self.started || checkers != self.generation {
            self.generation = checkers;
            self.health = self.early.take().filter(|h| h.generation == checkers);
            self.started = true;
        }
        self.config = std::sync::Arc::clone(config);
        let applied = self.lb.apply(&self.config, self.health.as_ref());
        self.follow_vrrp();
        applied
    }

    /// VRRP states changed: the sync daemon follows its instance.
    pub fn vrrp_changed(&mut self, states: &[(String, crate::ipc::VrrpState)]) {
        self.vrrp = states.to_vec();
        self.follow_vrrp();
    }

    /// keepalived's rule: the connection-sync daemon is master while the
    /// configured instance is MASTER and backup otherwise, so the backup
    /// balancer holds the connections when it takes over.
    fn follow_vrrp(&mut self) {
        use vigil_ipvs::genl::daemon::{BACKUP, MASTER};
        let want = self.config.global.lvs_sync_daemon.as_ref().map(|d| {
            let master = self.vrrp.iter().any(|(n, s)| n == d.instance.as_str() && *s == crate::ipc::VrrpState::Master);
            let vrid =
                self.config.vrrp_instances.iter().find(|v| v.name == d.instance).map_or(0, |v| v.virtual_router_id);
            vigil_ipvs::client::SyncDaemon {
                state: if master { MASTER } else { BACKUP },
                interface: d.interface.to_string(),
                sync_id: u32::from(d.sync_id.unwrap_or(vrid)),
            }
        });
        if want.as_ref().map(|d| d.state) == self.sync {
            return;
        }
        let mut c = match Client::open() {
            Ok(c) => c,
            Err(e) => return warn!("ipvs sync daemon: {e}"),
        };
        if let Some(old) = self.sync.take() {
            match c.stop_daemon(old) {
                Ok(()) => info!("ipvs: sync daemon ({}) stopped", vigil_ipvs::client::state_name(old)),
                Err(e) => warn!("ipvs: {e}"),
            }
        }
        if let Some(d) = want {
            match c.start_daemon(&d) {
                Ok(()) => {
                    info!(
                        "ipvs: sync daemon {} on {} (sync id {})",
                        vigil_ipvs::client::state_name(d.state),
                        d.interface,
                        d.sync_id
                    );
                    self.sync = Some(d.state);
                }
                Err(e) => warn!("ipvs: {e}"),
            }
        }
    }

    /// The checkers report new pools.
    pub fn health_changed(&mut self, h: &Health) {
        if h.generation > self.generation {
            self.early = Some(h.clone());
            return;
        }
        if h.generation != self.generation || self.health.as_ref() == Some(h) {
            return; // from checkers of an older config, or nothing new
        }
        self.health = Some(h.clone());
        if let Err(e) = self.lb.apply(&self.config, self.health.as_ref()) {
            warn!("ipvs: {e}");
        }
    }
}

/// `show ipvs-sync`: the connection-sync daemons the kernel runs.
pub fn show_sync() -> String {
    let daemons = Client::open().and_then(|mut c| c.daemons());
    match daemons {
        Ok(d) if d.is_empty() => "no IPVS sync daemon is running".into(),
        Ok(d) => d
            .iter()
            .map(|d| format!("{} on {} sync id {}", vigil_ipvs::client::state_name(d.state), d.interface, d.sync_id))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("error: {e}"),
    }
}

/// `show ipvs`: the kernel's table read back over netlink, laid out as
/// `ipvsadm -Ln` does.
pub fn show() -> String {
    let mut c = match Client::open() {
        Ok(c) => c,
        Err(e) => return format!("error: {e}"),
    };
    let mut out = String::new();
    match c.info() {
        Ok(i) => {
            let _ = writeln!(out, "IP Virtual Server version {} (size={})", i.version_text(), i.conn_tab_size);
        }
        Err(e) => return format!("error: {e}"),
    }
    out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
    out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
    let table = match c.table() {
        Ok(t) => t,
        Err(e) => return format!("{out}error: {e}"),
    };
    for (s, dests) in table.services.values() {
        let head = match s.key {
            ServiceKey::Addr { proto, addr, port } => format!("{:<4} {}", proto.name(), hostport(addr, port)),
            ServiceKey::Fwmark { mark, .. } => format!("FWM  {mark}"),
        };
        let _ = write!(out, "{head} {}", s.scheduler);
        if s.timeout > 0 {
            let _ = write!(out, " persistent {}", s.timeout);
            let full = if s.key.is_ipv6() { 128 } else { 32 };
            if s.netmask_prefix != full {
                if s.key.is_ipv6() {
                    let _ = write!(out, " mask {}", s.netmask_prefix);
                } else {
                    let m = u32::MAX.checked_shl(32 - u32::from(s.netmask_prefix)).unwrap_or(0);
                    let _ = write!(out, " mask {}", std::net::Ipv4Addr::from(m));
                }
            }
        }
        if let Some(pe) = &s.pe_name {
            let _ = write!(out, " pe {pe}");
        }
        out.push('\n');
        for d in dests.iter() {
            let mut extra = String::new();
            if d.u_threshold > 0 || d.l_threshold > 0 {
                extra.push_str(&format!(" uthreshold {} lthreshold {}", d.u_threshold, d.l_threshold));
            }
            match (d.forward, d.tunnel) {
                (Forward::Tunnel, TunnelType::Gue(p)) => extra.push_str(&format!(" tunnel gue port {p}")),
                (Forward::Tunnel, TunnelType::Gre) => extra.push_str(" tunnel gre"),
                _ => {}
            }
            match (d.forward, d.tun_flags) {
                (Forward::Tunnel, 1) => extra.push_str(" csum"),
                (Forward::Tunnel, 2) => extra.push_str(" remcsum"),
                _ => {}
            }
            let _ = writeln!(
                out,
                "  -> {:<28} {:<7} {:<6} {:<10} {:<10}{extra}",
                hostport(d.key.addr, d.key.port),
                d.forward.name(),
                d.weight,
                d.live().active,
                d.live().inactive
            );
        }
    }
    if let Ok((tcp, fin, udp)) = c.timeouts() {
        let _ = write!(out, "Timeout (tcp tcpfin udp): {tcp} {fin} {udp}");
    }
    out.trim_end().to_string()
}

fn hostport(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        IpAddr::V4(v4) => format!("{v4}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_a_service_per_address_and_mark_with_the_same_real_servers_and_verdicts() {
        let text = "virtual_server_group WEB {\n  10.0.0.10-12 80\n  fwmark 7\n}\n\
            virtual_server group WEB {\n  lb_algo rr\n  protocol TCP\n  persistence_timeout 30\n\
              real_server 10.0.1.1 80 {\n  }\n  real_server 10.0.1.2 80 {\n    weight 3\n  }\n}\n";
        let c = vigil_config::keepalived::import_str("t", text).unwrap().config;
        c.validate().unwrap();
        // Checked once: one verdict per real server, for every service.
        let mut h = Health::default();
        h.weights.insert((0, 0), None);
        h.weights.insert((0, 1), Some(3));
        let t = desired(&c, Some(&h));
        let keys: Vec<String> = t.services.keys().map(|k| k.to_string()).collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        for (key, (s, dests)) in &t.services {
            assert_eq!((s.scheduler.as_str(), s.timeout), ("rr", 30), "{key}");
            let d: Vec<String> = dests.iter().map(|d| format!("{}:{} {}", d.key.addr, d.key.port, d.weight)).collect();
            assert_eq!(d, ["10.0.1.2:80 3"], "{key}");
        }
        assert!(t.services.contains_key(&ServiceKey::Fwmark { mark: 7, v6: false }));
        assert!(t.services.contains_key(&ServiceKey::Addr {
            proto: Proto::Tcp,
            addr: "10.0.0.11".parse().unwrap(),
            port: 80
        }));
    }

    #[test]
    fn the_sorry_server_is_in_at_weight_0_with_inhibit_and_has_its_own_forwarding() {
        let text = "virtual_server 10.0.0.1 80 {\n  protocol TCP\n  lb_kind DR\n  sorry_server 10.0.9.9 8080\n  sorry_server_inhibit\n\
            sorry_server_lvs_method NAT\n  real_server 10.0.0.2 80 {\n  }\n}\n";
        let c = vigil_config::keepalived::import_str("t", text).unwrap().config;
        let sorry = |t: &Table| -> Vec<(u32, Forward)> {
            t.services
                .values()
                .flat_map(|(_, d)| d.iter())
                .filter(|d| d.key.port == 8080)
                .map(|d| (d.weight, d.forward))
                .collect()
        };
        // The quorum holds: in, at weight 0; lost: weight 1.
        let mut h = Health::default();
        h.weights.insert((0, 0), Some(1));
        assert_eq!(sorry(&desired(&c, Some(&h))), [(0, Forward::Masq)]);
        h.weights.insert((0, 0), None);
        h.sorry.insert(0);
        assert_eq!(sorry(&desired(&c, Some(&h))), [(1, Forward::Masq)]);
    }
}
