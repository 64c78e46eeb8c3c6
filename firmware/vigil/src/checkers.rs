//! The health checkers: every checker of every real server on the checkers
//! child's current-thread runtime. The schedule and verdicts are `vigil_check`'s
//! (sans-IO); this module runs the probes (at most `MAX_IN_FLIGHT` at once,
//! each bounded by its connect_timeout), feeds the results back, and
//! publishes what the IPVS pools should be whenever a verdict changes.

use crate::ipc::Health;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tracing::info;
use vigil_check::dns::QType;
use vigil_check::pool::{Member, Pool, Quorum};
use vigil_check::probe::{self, BodyMatch, Http, HttpVersion, Target, UrlCheck};
use vigil_check::timer::{CheckTimer, Timing, Verdict};
use vigil_config::{BodyRegex, CheckKind, Checker, Config, DnsType, HttpProtocol, RealServer, VirtualServer};

/// Probes running at once, across all checkers (each holds a socket); the
/// loop starts no more until one has finished.
const MAX_IN_FLIGHT: usize = 256;

/// The most work of one kind (probes started, results taken in, virtual
/// servers set up) between two turns of the child's loop, where its
/// heartbeats are answered: the whole of issue #2318's 37,298 real servers
/// in one go held a slow CPU's child past its heartbeats at every start.
const TURN: usize = 256;

/// `show checkers`, kept up to date.
pub type Status = crate::report::Shared;

/// One checker of one real server.
struct Check {
    vs: usize,
    rs: usize,
    /// Its checker: `config.virtual_servers[vs].real_servers[rs].checkers[ck]`
    /// (a copy was 240 bytes a check: 9 MB at issue #2318's shape).
    ck: usize,
    timer: CheckTimer,
    /// (A boxed str, and microseconds below: a check is kept for every
    /// real server, 37,298 at #2318's shape.)
    last_error: Option<Box<str>>,
    /// How long the last probe took, in microseconds.
    last_took_us: Option<u32>,
    /// MISC_CHECK with misc_dynamic: the weight it last reported.
    dynamic_weight: Option<u32>,
}

impl Check {
    fn spec<'a>(&self, config: &'a Config) -> &'a Checker {
        &config.virtual_servers[self.vs].real_servers[self.rs].checkers[self.ck]
    }
}

/// Which checks belong to each real server and virtual server. The checks
/// are made in the config's order (virtual server, real server, checker),
/// so each real server's are a run of them: kept as where each run starts,
/// with one more start at the end (a `Vec` of `Vec`s per virtual server
/// was two allocations a real server: about 2 MB at #2318's shape).
struct Index {
    /// Per virtual server, its first real server's place in `first_check`.
    first_rs: Vec<u32>,
    /// Per real server (all of them, in order), its first check.
    first_check: Vec<u32>,
}

impl Index {
    fn new(config: &Config, checks: &[Check]) -> Index {
        let servers: usize = config.virtual_servers.iter().map(|vs| vs.real_servers.len()).sum();
        let mut first_rs = Vec::with_capacity(config.virtual_servers.len() + 1);
        let mut first_check = Vec::with_capacity(servers + 1);
        let mut i = 0;
        for (vi, vs) in config.virtual_servers.iter().enumerate() {
            first_rs.push(first_check.len() as u32);
            for ri in 0..vs.real_servers.len() {
                first_check.push(i as u32);
                while checks.get(i).is_some_and(|c| (c.vs, c.rs) == (vi, ri)) {
                    i += 1;
                }
            }
        }
        first_rs.push(first_check.len() as u32);
        first_check.push(i as u32);
        Index { first_rs, first_check }
    }

    /// Where real server `ri` of virtual server `vi` has its checks.
    fn real_server(&self, vi: usize, ri: usize) -> std::ops::Range<usize> {
        let g = self.first_rs[vi] as usize + ri;
        self.first_check[g] as usize..self.first_check[g + 1] as usize
    }

    /// Where virtual server `vi`'s real servers have theirs.
    fn virtual_server(&self, vi: usize) -> std::ops::Range<usize> {
        let (a, b) = (self.first_rs[vi] as usize, self.first_rs[vi + 1] as usize);
        self.first_check[a] as usize..self.first_check[b] as usize
    }
}

struct Outcome {
    check: usize,
    result: Result<Option<u32>, String>,
    took: Duration,
}

/// The verdict each real server starts from (true: up), by (virtual server,
/// real server) index; a server not in it starts as configured (up, or
/// down with `alpha`).
pub type Verdicts = BTreeMap<(usize, usize), bool>;

/// What a health report says of every real server of `config`, the config
/// it was made for.
pub fn verdicts(config: &Config, h: &Health) -> Verdicts {
    let mut v = Verdicts::new();
    for (vi, vs) in config.virtual_servers.iter().enumerate() {
        for ri in 0..vs.real_servers.len() {
            v.insert((vi, ri), !h.down.contains(&(vi, ri)));
        }
    }
    v
}

/// The verdicts of `old` that still hold in `new`: a real server keeps its
/// verdict when its virtual server (address or fwmark, and protocol) and
/// the server itself (address and checkers) are unchanged; anything else
/// starts over.
pub fn carry_over(old: &Config, verdicts: &Verdicts, new: &Config) -> Verdicts {
    let mut out = Verdicts::new();
    for (nvi, nvs) in new.virtual_servers.iter().enumerate() {
        let Some((ovi, ovs)) =
            old.virtual_servers.iter().enumerate().find(|(_, o)| o.key == nvs.key && o.protocol == nvs.protocol)
        else {
            continue;
        };
        for (nri, nrs) in nvs.real_servers.iter().enumerate() {
            let same = ovs.real_servers.iter().position(|o| o.addr == nrs.addr && o.checkers == nrs.checkers);
            if let Some(up) = same.and_then(|ori| verdicts.get(&(ovi, ori))) {
                out.insert((nvi, nri), *up);
            }
        }
    }
    out
}

/// How often a FILE_CHECK reads its file.
const FILE_EVERY: Duration = Duration::from_secs(1);
/// While verdicts keep changing, the pools are published at most this
/// often (the first change of a quiet spell at once): publishing is a pass
/// over every real server and a message of all of them to PID 1 (which
/// reprograms IPVS from it), so with 37,298 real servers going down
/// together (a network cut) publishing each change was quadratic work on
/// both sides (the cut bench: all out in 3.9 s before, 2.5 s after).
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// `show checkers` (and the metrics) are refreshed with the pools when
/// there are few checks, else this often: the report is all of them, and at
/// 37,298 checks it is 4 MB to send and decode.
const STATUS_EVERY: Duration = Duration::from_secs(1);
const STATUS_EVERY_LARGE: Duration = Duration::from_secs(5);
const LARGE: usize = 1_000;

/// How often a BFD_CHECK reads its session's last state.
const BFD_EVERY: Duration = Duration::from_millis(200);

/// Runs the checkers of `config` until the task is dropped (aborted on a
/// new config). `health` gets a new value whenever a pool changes.
/// `resume`: where the real servers' verdicts start (those of a child that
/// died, or of the config before), so a server that was down does not flap
/// back into its pool, nor one that was up out of it.
pub async fn run(
    config: std::sync::Arc<Config>,
    generation: u64,
    resume: Verdicts,
    health: watch::Sender<Health>,
    status: Status,
) {
    // The files FILE_CHECKs read and no instance tracks get their
    // init_file here (the VRRP process does it for the others).
    let read: std::collections::BTreeSet<&str> = config
        .virtual_servers
        .iter()
        .flat_map(|vs| &vs.real_servers)
        .flat_map(|rs| &rs.checkers)
        .filter_map(|c| match &c.kind {
            CheckKind::File { track_file, .. } => Some(track_file.as_str()),
            _ => None,
        })
        .collect();
    for f in config.track_files.iter().filter(|f| {
        let by_file_check = read.contains(f.name.as_str());
        let by_vrrp = config.vrrp_instances.iter().any(|v| v.track_file.iter().any(|t| t.name == f.name))
            || config.sync_groups.iter().any(|g| g.track_file.iter().any(|t| t.name == f.name));
        by_file_check && !by_vrrp
    }) {
        crate::vrrp::init_track_file(f);
    }
    let now = Instant::now();
    let total: usize = config.virtual_servers.iter().flat_map(|vs| &vs.real_servers).map(|rs| rs.checkers.len()).sum();
    let mut checks = Vec::new();
    for (vi, vs) in config.virtual_servers.iter().enumerate() {
        if vi % TURN == TURN - 1 {
            tokio::task::yield_now().await;
        }
        for (ri, rs) in vs.real_servers.iter().enumerate() {
            for (ck, c) in rs.checkers.iter().enumerate() {
                let file = matches!(c.kind, CheckKind::File { .. });
                let bfd = matches!(c.kind, CheckKind::Bfd { .. });
                let timing = if bfd {
                    // keepalived's BFD_CHECK hears each change as it
                    // happens; a read of the last state told, five times a
                    // second, one reading decides.
                    Timing { delay_loop: BFD_EVERY, delay_before_retry: BFD_EVERY, retry: 0 }
                } else if file {
                    // keepalived follows the file with inotify: its state is
                    // known at once. Read every second (128 bytes), at once
                    // at start, one reading decides.
                    Timing { delay_loop: FILE_EVERY, delay_before_retry: FILE_EVERY, retry: 0 }
                } else {
                    Timing {
                        delay_loop: secs(c.delay_loop_s.unwrap_or(vs.delay_loop_s)),
                        delay_before_retry: secs(c.delay_before_retry_s),
                        retry: c.retry,
                    }
                };
                let jitter = if file || bfd {
                    Duration::ZERO
                } else {
                    first_probe(c.warmup_s, timing.delay_loop, checks.len(), total)
                };
                // alpha: the checker's own, else its real server's, else
                // its virtual server's (a file's state is read at once:
                // keepalived clears alpha for it).
                // A BFD_CHECK starts down: a session is down until it has
                // come up, as keepalived's tracked BFD starts down.
                let alpha = if file {
                    false
                } else if bfd {
                    true
                } else {
                    c.alpha.or(rs.alpha).unwrap_or(vs.alpha)
                };
                let start_up = resume.get(&(vi, ri)).copied().unwrap_or(!alpha);
                checks.push(Check {
                    vs: vi,
                    rs: ri,
                    ck,
                    timer: CheckTimer::new(now, timing, start_up, jitter),
                    last_error: None,
                    last_took_us: None,
                    dynamic_weight: None,
                });
            }
        }
    }
    let mut pools: Vec<Pool> = config
        .virtual_servers
        .iter()
        .map(|vs| Pool::new(Quorum { quorum: u32::from(vs.quorum), hysteresis: u32::from(vs.hysteresis) }))
        .collect();
    let index = Index::new(&config, &checks);
    // `rs_init_notifies`: each new real server's program for the state it
    // starts in (one that resumes a verdict has had its own).
    if config.global.rs_init_notifies {
        for (vi, vs) in config.virtual_servers.iter().enumerate() {
            for (ri, rs) in vs.real_servers.iter().enumerate().filter(|(ri, _)| !resume.contains_key(&(vi, *ri))) {
                let up = checks[index.real_server(vi, ri)].iter().all(|c| c.timer.verdict() == Verdict::Up);
                if let Some(p) = if up {
                    rs.notify_up.as_deref().map(|p| p.as_str())
                } else {
                    rs.notify_down.as_deref().map(|p| p.as_str())
                } {
                    crate::program::spawn(p, &[]);
                }
            }
        }
    }
    publish(&config, generation, &checks, &index, &mut pools, &health);
    status_report(&config, &checks, &index, &pools, &status);
    if checks.is_empty() {
        return std::future::pending().await;
    }
    info!("checkers: {} checks of {} virtual servers", checks.len(), config.virtual_servers.len());
    // Probes started whose outcome has not come back yet.
    let mut in_flight = 0usize;
    let tls = tls_clients(&config);
    let (tx, mut rx) = mpsc::unbounded_channel::<Outcome>();
    // Due times, soonest first; a check is in here unless its probe runs.
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> =
        checks.iter().enumerate().filter_map(|(i, c)| Some(Reverse((c.timer.poll_timeout()?, i)))).collect();
    let mut status_at = Instant::now();
    // When the pools were last published, and whether a change waits.
    let mut published_at: Option<Instant> = None;
    let mut unpublished = false;
    // `ha_suspend`: the system's addresses, followed by rtnetlink, for the
    // virtual servers whose checks wait for theirs.
    let mut suspend = Suspend::new(&config);
    loop {
        let now = Instant::now();
        // At most a turn's worth of probes started, then the loop goes
        // round (and lets the heartbeats in) before the rest.
        let mut started = 0;
        while let Some(&Reverse((t, i))) = due.peek() {
            if t > now || started == TURN || in_flight == MAX_IN_FLIGHT {
                break;
            }
            started += 1;
            due.pop();
            let c = &mut checks[i];
            if suspend.holds(c.vs) {
                // Asked again a delay_loop later (or as soon as the address comes).
                let every = secs(c.spec(&config).delay_loop_s.unwrap_or(config.virtual_servers[c.vs].delay_loop_s));
                due.push(Reverse((now + every, i)));
                continue;
            }
            if c.timer.start_probe(now) {
                let rs = &config.virtual_servers[c.vs].real_servers[c.rs];
                let spec = c.spec(&config);
                let target = target(rs, spec);
                let tx = tx.clone();
                in_flight += 1;
                match spec.kind {
                    // The common one, thousands a second at scale: its task
                    // holds only the connect (bounded by connect_timeout).
                    // The others' future is the largest of all kinds (an
                    // HTTPS exchange: kilobytes), boxed once so that it
                    // is not moved into and out of every task.
                    CheckKind::Tcp => spawn_probe(i, tx, async move { probe::tcp(&target).await.map(|()| None) }),
                    _ => {
                        let file = file_probe(&config, rs, &spec.kind);
                        let fut = probe_once(spec.kind.clone(), target, spec.misc_timeout(), tls.clone(), file);
                        spawn_probe(i, tx, Box::pin(fut));
                    }
                }
            }
        }
        // Whether a turn's worth was done: the loop yields before the next.
        let mut full_turn = started == TURN;
        // With every probe slot taken, the next outcome wakes the loop.
        let next = if in_flight == MAX_IN_FLIGHT { None } else { due.peek().map(|Reverse((t, _))| *t) };
        let sleep = async {
            match next {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        let addresses = async {
            match &suspend.monitor {
                Some(m) => m.changed().await,
                None => std::future::pending().await,
            }
        };
        let publish_due = async {
            match published_at {
                Some(t) if unpublished => tokio::time::sleep_until((t + PUBLISH_EVERY).into()).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = publish_due => {
                publish(&config, generation, &checks, &index, &mut pools, &health);
                (published_at, unpublished) = (Some(Instant::now()), false);
                if checks.len() <= LARGE {
                    status_report(&config, &checks, &index, &pools, &status);
                    status_at = Instant::now();
                }
            }
            changed = addresses => {
                let resumed = if changed.addresses { suspend.refresh(&config) } else { Vec::new() };
                if !resumed.is_empty() {
                    // Checks that waited for an address that came run now.
                    let now = Instant::now();
                    due = due
                        .into_iter()
                        .map(|Reverse((t, i))| Reverse((if resumed.contains(&checks[i].vs) { t.min(now) } else { t }, i)))
                        .collect();
                }
            }
            Some(o) = rx.recv() => {
                let mut changed = false;
                let mut next_o = Some(o);
                // Drain what else finished meanwhile (up to a turn's worth)
                // before publishing once.
                let mut settled = 0;
                while let Some(o) = next_o {
                    in_flight -= 1;
                    let i = o.check;
                    changed |= settle(&config, &mut checks, o);
                    if let Some(t) = checks.get(i).and_then(|c| c.timer.poll_timeout()) {
                        due.push(Reverse((t, i)));
                    }
                    settled += 1;
                    next_o = if settled < TURN { rx.try_recv().ok() } else { None };
                }
                full_turn |= settled == TURN;
                let now = Instant::now();
                let publish_now = changed && published_at.is_none_or(|t| now >= t + PUBLISH_EVERY);
                if publish_now {
                    publish(&config, generation, &checks, &index, &mut pools, &health);
                    (published_at, unpublished) = (Some(now), false);
                } else if changed {
                    unpublished = true;
                }
                // `show checkers`: with the pools (few checks), else on its period.
                let every = if checks.len() <= LARGE { STATUS_EVERY } else { STATUS_EVERY_LARGE };
                if (publish_now && checks.len() <= LARGE) || status_at.elapsed() >= every {
                    status_report(&config, &checks, &index, &pools, &status);
                    status_at = Instant::now();
                }
            }
        }
        // A select whose branches were ready returns without giving the
        // thread up: the child's loop (its heartbeats, its log) runs now.
        if full_turn {
            tokio::task::yield_now().await;
        }
    }
}

/// Runs one probe as its own task and sends its outcome back to the loop,
/// which counts it as finished then.
fn spawn_probe(
    check: usize,
    tx: mpsc::UnboundedSender<Outcome>,
    probe: impl Future<Output = Result<Option<u32>, String>> + Send + 'static,
) {
    let started = Instant::now();
    let mut sent = Sent { check, started, tx: Some(tx) };
    tokio::spawn(async move {
        let result = probe.await;
        sent.send(result);
    });
}

/// A probe's outcome, sent once: a probe task that ends without one (it
/// panicked, or the runtime dropped it) still frees its slot, as a failure.
struct Sent {
    check: usize,
    started: Instant,
    tx: Option<mpsc::UnboundedSender<Outcome>>,
}

impl Sent {
    fn send(&mut self, result: Result<Option<u32>, String>) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Outcome { check: self.check, result, took: self.started.elapsed() });
        }
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        self.send(Err("the probe ended without a result".into()));
    }
}

/// Feeds one result in; true if a real server's verdict (or dynamic weight) changed.
fn settle(config: &Config, checks: &mut [Check], o: Outcome) -> bool {
    let mut mail = None;
    let Some(c) = checks.get_mut(o.check) else { return false };
    let (cvs, crs) = (c.vs, c.rs);
    let now = Instant::now();
    let vs = &config.virtual_servers[c.vs];
    let rs = &vs.real_servers[c.rs];
    let spec = c.spec(config);
    let mut changed = false;
    c.last_took_us = Some(u32::try_from(o.took.as_micros()).unwrap_or(u32::MAX));
    match &o.result {
        Ok(w) => {
            c.last_error = None;
            if *w != c.dynamic_weight {
                c.dynamic_weight = *w;
                changed = true;
                if let Some(w) = w {
                    let _vs = vs_span(vs).entered();
                    info!("{} real server {}: weight {w}", spec.kind.keyword(), rs.addr);
                }
            }
        }
        Err(e) => c.last_error = Some(e.as_str().into()),
    }
    let was_up = c.timer.verdict() == Verdict::Up;
    let verdict = c.timer.handle_result(now, o.result.is_ok());
    // `log_all_failures`: a failure the retries still absorb is said too.
    if let (Err(e), None, true, Some(true)) = (&o.result, verdict, was_up, spec.log_all_failures) {
        let _vs = vs_span(vs).entered();
        info!("{} real server {}: check failed ({e}); still up", spec.kind.keyword(), rs.addr);
    }
    if let Some(v) = verdict {
        changed = true;
        let why = c.last_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
        let _vs = vs_span(vs).entered();
        info!("{} real server {}: {}{why}", spec.kind.keyword(), rs.addr, if v == Verdict::Up { "UP" } else { "DOWN" });
        let program = if v == Verdict::Up {
            rs.notify_up.as_deref().map(|p| p.as_str())
        } else {
            rs.notify_down.as_deref().map(|p| p.as_str())
        };
        if let Some(p) = program {
            crate::program::spawn(p, &[]);
        }
        if config.global.mail.wanted(rs.smtp_alert, false, true) {
            // keepalived's subject and body.
            let (state, body) = match (v, c.last_error.as_deref()) {
                (Verdict::Up, _) => ("UP", "=> CHECK succeed on service <=".to_string()),
                (_, Some(e)) => ("DOWN", format!("=> CHECK failed on service : {e} <=")),
                (_, None) => ("DOWN", "=> CHECK failed on service <=".to_string()),
            };
            let subject = format!("Realserver {} of virtual server {} - {state}", bracketed(rs.addr), vs_name(vs));
            mail = Some((subject, body));
        }
    }
    // `no_checker_emails`: mail when the server leaves its pool or comes
    // back, not for each of its checkers. A server is in its pool while
    // all its checks are up: this check's verdict moved it iff all its
    // others are up (looked at only then, not for every result).
    let others_up = || {
        checks
            .iter()
            .enumerate()
            .all(|(i, x)| i == o.check || x.vs != cvs || x.rs != crs || x.timer.verdict() == Verdict::Up)
    };
    if let Some((subject, body)) = mail
        && (!config.global.no_checker_emails || others_up())
    {
        crate::mail::send(&config.global.mail, &config.global.router_id, &subject, &body);
    }
    changed
}

/// `omega`: the programs to run as the checkers stop, as keepalived runs
/// them ("on daemon shutdown consider quorum and RS down notifiers for
/// execution"): each up real server's `notify_down`, and `quorum_down`
/// where the quorum holds.
pub fn omega_programs<'a>(config: &'a Config, h: &Health) -> Vec<&'a str> {
    let mut out = Vec::new();
    for (vi, vs) in config.virtual_servers.iter().enumerate().filter(|(_, vs)| vs.omega) {
        for (ri, rs) in vs.real_servers.iter().enumerate() {
            if let (false, Some(p)) = (h.down.contains(&(vi, ri)), rs.notify_down.as_deref().map(|p| p.as_str())) {
                out.push(p);
            }
        }
        if let (false, Some(p)) = (h.quorum_lost.contains(&vi), vs.quorum_down.as_deref()) {
            out.push(p);
        }
    }
    out
}

/// Runs `omega`'s programs, all together, each to its end or until
/// `within` is over (PID 1 waits for a stopping child only so long).
pub async fn run_omega(config: &Config, h: &Health, within: Duration) {
    let programs = omega_programs(config, h);
    if programs.is_empty() {
        return;
    }
    info!("omega: {} notify_down/quorum_down programs as the checkers stop", programs.len());
    let mut set = tokio::task::JoinSet::new();
    for p in programs {
        let line = p.to_string();
        set.spawn(async move { crate::program::run(&line, None, within).await });
    }
    // Each is killed at `within`; this only bounds the waiting.
    let _ =
        tokio::time::timeout(within + Duration::from_millis(100), async { while set.join_next().await.is_some() {} })
            .await;
}

/// `[192.0.2.10]:80`, as keepalived writes a server in its mails.
fn bracketed(a: std::net::SocketAddr) -> String {
    format!("[{}]:{}", a.ip(), a.port())
}

/// A virtual server's log lines say which it is: `virtual_server 192.0.2.1:80: ...`.
fn vs_span(vs: &VirtualServer) -> tracing::Span {
    tracing::info_span!("virtual_server", name = %vs_name(vs))
}

fn vs_name(vs: &VirtualServer) -> String {
    match &vs.key {
        vigil_config::VirtualKey::Address(a) => a.to_string(),
        key => key.to_string(),
    }
}

/// Recomputes every pool and hands the result to the load balancer.
fn publish(
    config: &Config,
    generation: u64,
    checks: &[Check],
    index: &Index,
    pools: &mut [Pool],
    health: &watch::Sender<Health>,
) {
    let mut h = Health { generation, ..Default::default() };
    for (vi, vs) in config.virtual_servers.iter().enumerate() {
        let members: Vec<Member> = vs
            .real_servers
            .iter()
            .enumerate()
            .map(|(ri, rs)| {
                let mine = &checks[index.real_server(vi, ri)];
                Member {
                    weight: rs.weight,
                    alive: mine.iter().all(|c| c.timer.verdict() == Verdict::Up),
                    dynamic_weight: mine.iter().find_map(|c| c.dynamic_weight),
                    inhibit_on_failure: rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure),
                }
            })
            .collect();
        h.down.extend(members.iter().enumerate().filter(|(_, m)| !m.alive).map(|(ri, _)| (vi, ri)));
        if let Some(q) = pools[vi].update(&members) {
            let what = if q { "regained" } else { "lost" };
            vs_span(vs).in_scope(|| info!("quorum {what}"));
            if let Some(p) = if q { vs.quorum_up.as_deref() } else { vs.quorum_down.as_deref() } {
                crate::program::spawn(p, &[]);
            }
            if config.global.mail.wanted(vs.smtp_alert, false, false) {
                let (state, body) = if q { ("UP", "=> Gained quorum <=") } else { ("DOWN", "=> Lost quorum <=") };
                let subject = format!("Virtual server {} - {state}", vs_name(vs));
                crate::mail::send(&config.global.mail, &config.global.router_id, &subject, body);
            }
        }
        if !pools[vi].has_quorum() {
            h.quorum_lost.insert(vi);
        }
        let wanted = pools[vi].wanted(&members);
        for (ri, rs) in vs.real_servers.iter().enumerate() {
            let w = wanted.members.iter().find(|(i, _)| *i == ri).map(|(_, w)| *w);
            // What differs from the config only (see Health::weights).
            if w != Some(rs.weight) {
                h.weights.insert((vi, ri), w);
            }
        }
        if wanted.sorry && vs.sorry_server.is_some() {
            h.sorry.insert(vi);
        }
    }
    health.send_replace(h);
}

/// `show checkers` and the metrics: each virtual server's quorum, each
/// check's verdict, counts, last error and latency.
/// `index`: each virtual server's real servers' checks (a pass over every
/// check for each virtual server was 85 million steps at issue #2318's
/// shape: a fifth of the checkers child's time in a cut).
fn status_report(config: &Config, checks: &[Check], index: &Index, pools: &[Pool], status: &Status) {
    let virtual_servers = config
        .virtual_servers
        .iter()
        .enumerate()
        .map(|(vi, vs)| crate::report::VirtualServer {
            name: vs_name(vs),
            quorum: pools.get(vi).is_none_or(|p| p.has_quorum()),
            checks: checks[index.virtual_server(vi)]
                .iter()
                .map(|c| crate::report::Check {
                    kind: crate::report::Keyword::of(&c.spec(config).kind),
                    real_server: vs.real_servers[c.rs].addr,
                    up: c.timer.verdict() == Verdict::Up,
                    probes: c.timer.probes(),
                    failed: c.timer.failed_probes(),
                    error: c.last_error.clone(),
                    latency_us: c.last_took_us,
                })
                .collect(),
        })
        .collect();
    crate::report::set(status, crate::report::Report::Checkers(crate::report::Checkers { virtual_servers }));
}

fn secs(s: u16) -> Duration {
    Duration::from_secs(u64::from(s))
}

/// When the first probe runs: within `warmup` if set (spread by index: the
/// same on every boot, no random source needed), else spread evenly over
/// the first delay_loop, so that thousands of checks do not all connect in
/// the same instant every round.
fn first_probe(warmup_s: u16, delay_loop: Duration, index: usize, total: usize) -> Duration {
    if warmup_s > 0 {
        let span = u64::from(warmup_s) * 1000;
        return Duration::from_millis((index as u64).wrapping_mul(7919) % span);
    }
    if total <= 1 {
        return Duration::ZERO;
    }
    delay_loop.mul_f64(index as f64 / total as f64)
}

fn target(rs: &RealServer, c: &Checker) -> Target {
    let ip = c.connect_ip.unwrap_or(rs.addr.ip());
    let port = c.connect_port.unwrap_or(rs.addr.port());
    Target {
        bind: c.bind_to,
        bind_port: c.bind_port,
        bind_if: c.bind_if.as_ref().map(|i| i.to_string()),
        fwmark: c.fwmark,
        ..Target::new(SocketAddr::new(ip, port), secs(c.connect_timeout_s.max(1)))
    }
}

trait MiscTimeout {
    fn misc_timeout(&self) -> Duration;
}

impl MiscTimeout for Checker {
    fn misc_timeout(&self) -> Duration {
        match &self.kind {
            CheckKind::Misc { timeout_s, .. } if *timeout_s > 0 => secs(*timeout_s),
            _ => secs(self.connect_timeout_s.max(1)),
        }
    }
}

/// One probe; Ok(Some(weight)) only from a dynamic MISC_CHECK.
/// keepalived's `ha_suspend`: which virtual servers' addresses are on this
/// system (a backup has not got them: its checks wait).
struct Suspend {
    /// Per virtual server: it has ha_suspend and none of its addresses is here.
    held: Vec<bool>,
    monitor: Option<crate::vrrp::timer::LinkMonitor>,
}

impl Suspend {
    fn new(config: &Config) -> Suspend {
        let mut s = Suspend { held: vec![false; config.virtual_servers.len()], monitor: None };
        if config.virtual_servers.iter().any(|vs| vs.ha_suspend) {
            s.monitor = crate::vrrp::timer::LinkMonitor::open()
                .inspect_err(|e| {
                    tracing::warn!("checkers: address monitor: {e}; ha_suspend follows the addresses at each check")
                })
                .ok();
            s.refresh(config);
        }
        s
    }

    fn holds(&self, vs: usize) -> bool {
        self.held.get(vs).copied().unwrap_or(false)
    }

    /// Reads the addresses again; returns the virtual servers whose checks
    /// may run again (and logs each change).
    fn refresh(&mut self, config: &Config) -> Vec<usize> {
        let here: Vec<std::net::IpAddr> = match crate::net::Rtnl::open().and_then(|mut r| r.all_addresses()) {
            Ok(a) => a.into_iter().map(|a| a.1).collect(),
            Err(e) => {
                tracing::warn!("checkers: reading addresses: {e}");
                return Vec::new();
            }
        };
        let mut resumed = Vec::new();
        for (vi, vs) in config.virtual_servers.iter().enumerate() {
            if !vs.ha_suspend {
                continue;
            }
            let held = !config.services(vs).any(|k| match k {
                vigil_config::VirtualKey::Address(a) => here.contains(&a.ip()),
                _ => false,
            });
            if held != self.held[vi] {
                let _vs = vs_span(vs).entered();
                if held {
                    info!("checks suspended: its address is not on this system (ha_suspend)");
                } else {
                    info!("checks resumed: its address is on this system (ha_suspend)");
                    resumed.push(vi);
                }
            }
            self.held[vi] = held;
        }
        resumed
    }
}

/// SSL_GET's client configs when the config has an `SSL` block, by
/// (verify_cert, enable_sni): the files are read once, as the checkers
/// start; what is wrong with them is each SSL_GET's failure.
type TlsClients = Arc<[Result<Arc<rustls::ClientConfig>, String>; 4]>;

fn tls_clients(config: &Config) -> Option<TlsClients> {
    let f = config.global.ssl.as_ref()?;
    let read = |p: &Option<vigil_config::PathText>, what: &str| -> Result<Option<Vec<u8>>, String> {
        p.as_ref().map(|p| std::fs::read(p.as_str()).map_err(|e| format!("SSL {what} {p}: {e}"))).transpose()
    };
    let files = (|| {
        Ok::<_, String>(vigil_check::tls::ClientFiles {
            ca: read(&f.ca, "ca")?,
            chain: read(&f.certificate, "certificate")?,
            key: read(&f.key, "key")?,
        })
    })();
    let mode = |i: usize| files.clone().and_then(|fl| vigil_check::tls::client_config(i >= 2, i % 2 == 1, &fl));
    Some(Arc::new([mode(0), mode(1), mode(2), mode(3)]))
}

/// What a FILE_CHECK reads and how it weighs it: the file, the weight
/// (the check's own, else its track_file's) and direction, and the real
/// server's configured weight.
struct FileProbe {
    path: String,
    weight: i32,
    reverse: bool,
    base: u32,
}

fn file_probe(config: &Config, rs: &RealServer, kind: &CheckKind) -> Option<FileProbe> {
    let CheckKind::File { track_file, weight, .. } = kind else { return None };
    let f = config.track_files.iter().find(|f| f.name == **track_file)?;
    let (weight, reverse) = match weight {
        Some((w, r)) if *w != 0 => (*w, *r),
        _ => (i32::from(f.weight), f.reverse),
    };
    Some(FileProbe { path: f.file.to_string(), weight, reverse, base: rs.weight })
}

/// FILE_CHECK: reads the file (a missing one is 0, as keepalived takes a
/// deleted file) on a blocking thread, and weighs its number.
async fn file_check(f: FileProbe) -> Result<Option<u32>, String> {
    let path = f.path.clone();
    let text = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut buf = Vec::new();
        match std::fs::File::open(&path) {
            Ok(file) => file.take(128).read_to_end(&mut buf).map(|_| String::from_utf8_lossy(&buf).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(e),
        }
    })
    .await
    .map_err(|e| format!("reading {}: {e}", f.path))?
    .map_err(|e| format!("reading {}: {e}", f.path))?;
    // keepalived ignores a number past 32 bits (the last one stands);
    // vigil says so as the check's failure.
    let n = probe::file_number(&text).ok_or_else(|| format!("{}: not a 32-bit number", f.path))?;
    probe::file_verdict(n, f.weight, f.reverse, f.base)
}

/// The BFD sessions that are up, as PID 1 last told this child: what a
/// BFD_CHECK reads.
static BFD: std::sync::Mutex<BTreeMap<String, bool>> = std::sync::Mutex::new(BTreeMap::new());

/// The BFD sessions' states (from the BFD child, through PID 1).
pub fn bfd_states(states: Vec<(String, bool)>) {
    *BFD.lock().unwrap_or_else(|p| p.into_inner()) = states.into_iter().collect();
}

fn bfd_check(name: &str) -> Result<Option<u32>, String> {
    match BFD.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
        Some(true) => Ok(None),
        Some(false) => Err(format!("BFD session {name} is down")),
        None => Err(format!("BFD session {name}: not heard of yet")),
    }
}

async fn probe_once(
    kind: CheckKind,
    t: Target,
    misc_timeout: Duration,
    tls: Option<TlsClients>,
    file: Option<FileProbe>,
) -> Result<Option<u32>, String> {
    // A backstop above each probe's own timeouts (an HTTP check may use
    // one per URL): nothing runs for ever.
    let limit = t.timeout * 4 + Duration::from_secs(1);
    let run = async {
        match kind {
            CheckKind::Tcp => probe::tcp(&t).await.map(|()| None),
            CheckKind::Http(h) => {
                let mut urls: Vec<UrlCheck> = Vec::with_capacity(h.urls.len());
                for u in &h.urls {
                    // Validation compiled it already: an error here is one
                    // the config let through, said as the check's failure.
                    let body = match &u.regex {
                        Some(r) => Some(BodyMatch {
                            re: compiled(r).map_err(|why| format!("{}: regex: {why}", u.path))?,
                            no_match: r.no_match,
                            min_offset: r.min_offset as usize,
                            max_offset: r.max_offset.map(|m| m as usize),
                        }),
                        None => None,
                    };
                    urls.push(UrlCheck {
                        path: u.path.to_string(),
                        status: u.status_code.iter().map(|r| (r.from, r.to)).collect(),
                        digest: u.digest,
                        body,
                    });
                }
                let o = Http {
                    virtualhost: h.virtualhost.as_deref(),
                    version: match h.protocol {
                        HttpProtocol::Http10 => HttpVersion::V10,
                        HttpProtocol::Http10Close => HttpVersion::V10Close,
                        HttpProtocol::Http11 => HttpVersion::V11,
                    },
                    verify: h.verify_cert,
                    sni: h.enable_sni,
                    client: match &tls {
                        Some(t) => Some(t[usize::from(h.verify_cert) * 2 + usize::from(h.enable_sni)].as_ref()?),
                        None => None,
                    },
                };
                if h.tls {
                    vigil_check::tls::https(&t, &urls, &o).await.map(|()| None)
                } else {
                    probe::http(&t, &urls, &o).await.map(|()| None)
                }
            }
            CheckKind::Smtp { helo_name } => {
                let helo = helo_name.as_deref().map_or("vigil", |h| h.as_str());
                probe::smtp(&t, helo).await.map(|()| None)
            }
            CheckKind::Dns { query_type, query_name } => {
                static ID: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0x5647);
                let id = ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                probe::dns(&t, &query_name, qtype(query_type), id).await.map(|_| None)
            }
            CheckKind::Udp { payload, require_reply } => probe::udp(&t, &payload, require_reply).await.map(|()| None),
            CheckKind::Ping => vigil_check::ping::ping(t.addr.ip(), t.timeout).await.map(|()| None),
            CheckKind::Misc { path, dynamic, .. } => misc(&path, misc_timeout, dynamic).await,
            CheckKind::File { track_file, .. } => match file {
                Some(f) => file_check(f).await,
                None => Err(format!("no vrrp_track_file {track_file}")),
            },
            CheckKind::Bfd { name } => bfd_check(&name),
        }
    };
    let limit = limit.max(misc_timeout + Duration::from_secs(1));
    tokio::time::timeout(limit, run).await.unwrap_or_else(|_| Err("the probe did not finish".into()))
}

/// A url's pattern, compiled once (checks run every `delay_loop`; a
/// compiled pattern is shared, cheap to clone). The cache holds what the
/// configs name; past a bound it starts over.
fn compiled(r: &BodyRegex) -> Result<regex::bytes::Regex, String> {
    static CACHE: Mutex<BTreeMap<(String, u8), regex::bytes::Regex>> = Mutex::new(BTreeMap::new());
    let key = (r.pattern.to_string(), r.options);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(re) = cache.get(&key) {
        return Ok(re.clone());
    }
    let re = r.compile()?;
    if cache.len() >= 4096 {
        cache.clear();
    }
    cache.insert(key, re.clone());
    Ok(re)
}

fn qtype(t: DnsType) -> QType {
    match t {
        DnsType::A => QType::A,
        DnsType::Ns => QType::Ns,
        DnsType::Cname => QType::Cname,
        DnsType::Soa => QType::Soa,
        DnsType::Mx => QType::Mx,
        DnsType::Txt => QType::Txt,
        DnsType::Aaaa => QType::Aaaa,
    }
}

/// MISC_CHECK: the program's exit status is the verdict (with
/// `misc_dynamic`, 2..=255 also sets the weight).
async fn misc(cmdline: &str, timeout: Duration, dynamic: bool) -> Result<Option<u32>, String> {
    match crate::program::run(cmdline, None, timeout).await {
        crate::program::Outcome::Signalled => probe::misc_verdict(None, dynamic),
        crate::program::Outcome::Exited(c) => probe::misc_verdict(Some(c), dynamic),
        other => Err(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_config::{VirtualKey, VirtualServer};

    fn vs(addr: &str, servers: &[(&str, CheckKind)]) -> VirtualServer {
        let mut v = VirtualServer::new(VirtualKey::Address(addr.parse().unwrap()));
        for (a, kind) in servers {
            let mut rs = RealServer::new(a.parse().unwrap());
            rs.checkers.push(Checker::new(kind.clone())).unwrap();
            v.real_servers.push(rs).unwrap();
        }
        v
    }

    #[test]
    fn a_probe_task_that_ends_without_a_result_still_sends_one() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut sent = Sent { check: 7, started: Instant::now(), tx: Some(tx.clone()) };
        sent.send(Ok(None));
        drop(sent);
        drop(Sent { check: 8, started: Instant::now(), tx: Some(tx) });
        let first = rx.try_recv().unwrap();
        assert_eq!((first.check, first.result), (7, Ok(None)));
        let second = rx.try_recv().unwrap();
        assert_eq!((second.check, second.result), (8, Err("the probe ended without a result".to_string())));
        assert!(rx.try_recv().is_err(), "each sends once");
    }

    fn config(list: Vec<VirtualServer>) -> Config {
        let mut c = Config::default();
        for v in list {
            c.virtual_servers.push(v).unwrap();
        }
        c
    }

    /// Each real server's checks and each virtual server's are found as
    /// runs of the checks, a real server without checks and a virtual
    /// server without real servers included.
    #[test]
    fn the_index_finds_each_servers_checks() {
        let mut c = config(vec![
            vs("10.0.0.1:80", &[("10.0.1.1:80", CheckKind::Tcp), ("10.0.1.2:80", CheckKind::Ping)]),
            vs("10.0.0.2:80", &[]),
            vs("10.0.0.3:80", &[("10.0.1.3:80", CheckKind::Tcp), ("10.0.1.4:80", CheckKind::Tcp)]),
        ]);
        // Two checkers on the first real server; none on 10.0.1.3.
        c.virtual_servers[0].real_servers[0].checkers.push(Checker::new(CheckKind::Ping)).unwrap();
        c.virtual_servers[2].real_servers[0].checkers = Default::default();
        let now = Instant::now();
        let timing =
            Timing { delay_loop: Duration::from_secs(1), delay_before_retry: Duration::from_secs(1), retry: 0 };
        let mut checks = Vec::new();
        for (vi, v) in c.virtual_servers.iter().enumerate() {
            for (ri, rs) in v.real_servers.iter().enumerate() {
                for ck in 0..rs.checkers.len() {
                    let timer = CheckTimer::new(now, timing, true, Duration::ZERO);
                    let (last_error, last_took_us, dynamic_weight) = (None, None, None);
                    checks.push(Check { vs: vi, rs: ri, ck, timer, last_error, last_took_us, dynamic_weight });
                }
            }
        }
        let index = Index::new(&c, &checks);
        assert_eq!(index.real_server(0, 0), 0..2);
        assert_eq!(index.real_server(0, 1), 2..3);
        assert_eq!(index.real_server(2, 0), 3..3);
        assert_eq!(index.real_server(2, 1), 3..4);
        assert_eq!([index.virtual_server(0), index.virtual_server(1), index.virtual_server(2)], [0..3, 3..3, 3..4]);
        for (i, ch) in checks.iter().enumerate() {
            assert!(index.real_server(ch.vs, ch.rs).contains(&i) && index.virtual_server(ch.vs).contains(&i));
        }
    }

    #[test]
    fn verdicts_carry_over_to_the_servers_a_new_config_keeps() {
        let tcp = CheckKind::Tcp;
        let old = config(vec![
            vs("10.0.0.1:80", &[("10.0.1.1:80", tcp.clone()), ("10.0.1.2:80", tcp.clone())]),
            vs("10.0.0.2:25", &[("10.0.1.1:25", tcp.clone())]),
        ]);
        // 10.0.1.2:80 and 10.0.1.1:25 are down.
        let h = Health { generation: 1, down: [(0, 1), (1, 0)].into_iter().collect(), ..Default::default() };
        let before = verdicts(&old, &h);
        assert_eq!(before, [((0, 0), true), ((0, 1), false), ((1, 0), false)].into_iter().collect());

        // A virtual server in front, a server added, one's checker changed.
        let mut changed = vs("10.0.0.2:25", &[("10.0.1.1:25", CheckKind::Ping)]);
        changed.delay_loop_s = 9;
        let new = config(vec![
            vs("10.0.0.9:53", &[("10.0.1.9:53", tcp.clone())]),
            vs("10.0.0.1:80", &[("10.0.1.3:80", tcp.clone()), ("10.0.1.2:80", tcp.clone()), ("10.0.1.1:80", tcp)]),
            changed,
        ]);
        let after = carry_over(&old, &before, &new);
        // The kept servers, at their new places; the new one and the one
        // whose checker changed start as configured.
        assert_eq!(after, [((1, 1), false), ((1, 2), true)].into_iter().collect());
    }
}
