//! The endpoint's thread: listens where `metrics_listen` says (and nowhere
//! when it is unset; a commit that moves it moves the listener), answers
//! GET of /metrics, and refuses the rest.
//!
//! It runs on a thread of PID 1's own, at a lower CPU priority, with its
//! own runtime: the control loop never waits for it, and it waits for no
//! one but the clients it serves. A hostile client is bounded everywhere:
//! [`MAX_CONNECTIONS`] at once (the next is told 503 and closed), the
//! request within [`http::MAX_REQUEST`] bytes and [`READ_TIMEOUT`], the
//! answer taken within [`WRITE_TIMEOUT`] (a client that stops reading is
//! dropped). The page is gathered at most once per [`FRESH`] whatever the
//! request rate: a scrape storm costs sockets, not renders.

use super::http::{self, Refusal, Verdict};
use super::{Snapshot, render};
use crate::report;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

pub const PATH: &str = "/metrics";
pub const MAX_CONNECTIONS: usize = 8;
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A page younger than this is served again instead of gathered anew.
pub const FRESH: Duration = Duration::from_millis(500);
/// When the address cannot be bound (not there yet), tried again this often.
const REBIND: Duration = Duration::from_secs(5);

/// Where the page's facts come from: what PID 1 holds, shared.
pub struct Sources {
    pub vrrp: report::Shared,
    pub checkers: report::Shared,
    pub children: crate::supervise::Children,
    pub bus: crate::bus::Subscriber,
    pub time: crate::timesync::Status,
    pub boot_slot: Option<String>,
}

/// The endpoint's own counts.
#[derive(Default)]
struct Counts {
    scrapes: AtomicU64,
    refused: [AtomicU64; Refusal::ALL.len()],
}

impl Counts {
    fn refuse(&self, r: Refusal) {
        if let Some(i) = Refusal::ALL.iter().position(|x| *x == r) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Shared {
    sources: Sources,
    counts: Counts,
    started_s: u64,
    /// The last page and when it was gathered (one gathering at a time).
    page: tokio::sync::Mutex<Option<(Instant, Arc<String>)>>,
}

/// Starts the thread; it runs for as long as PID 1 does.
pub fn start(sources: Sources) -> std::io::Result<()> {
    let started_s = unix_s(SystemTime::now());
    let shared = Arc::new(Shared { sources, counts: Counts::default(), started_s, page: Default::default() });
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        lower_priority();
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt.block_on(serve(shared)),
            Err(e) => warn!("metrics: no runtime ({e}): the endpoint is off"),
        }
    })?;
    Ok(())
}

/// Below the control plane's threads: under a scrape storm, the CPU goes
/// to VRRP and the checkers first.
fn lower_priority() {
    // gettid by its system call: musl's static libc has no gettid() symbol
    // (a call through it jumps to address 0).
    let tid = nix::unistd::gettid().as_raw() as libc::id_t;
    // SAFETY: setpriority takes plain integers and touches only this
    // thread's scheduling; a failure leaves the priority as it was.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, 10) };
    if r != 0 {
        warn!("metrics: could not lower the thread's priority: {}", std::io::Error::last_os_error());
    }
}

async fn serve(shared: Arc<Shared>) {
    let mut bus = shared.sources.bus.clone();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut bound: Option<(SocketAddr, TcpListener)> = None;
    // The address it could not bind, and when to try again.
    let mut failed: Option<(SocketAddr, tokio::time::Instant)> = None;
    loop {
        let want = bus.borrow_and_update().config.global.metrics_listen;
        // An address no longer wanted is no longer tried (its retry time,
        // past, would wake this loop at once, again and again).
        if failed.is_some_and(|(a, _)| want != Some(a)) {
            failed = None;
        }
        if bound.as_ref().map(|b| b.0) != want {
            if let Some((old, _)) = bound.take() {
                info!("metrics: no longer serving on {old}");
            }
            if let Some(addr) = want
                && failed.is_none_or(|(a, at)| a != addr || at <= tokio::time::Instant::now())
            {
                match listen(addr) {
                    Ok(l) => {
                        info!("metrics: serving http://{addr}{PATH}");
                        bound = Some((addr, l));
                        failed = None;
                    }
                    Err(e) => {
                        if failed.is_none_or(|(a, _)| a != addr) {
                            warn!("metrics: cannot listen on {addr}: {e}; trying again every {} s", REBIND.as_secs());
                        }
                        failed = Some((addr, tokio::time::Instant::now() + REBIND));
                    }
                }
            }
        }
        let accept = async {
            match &bound {
                Some((_, l)) => l.accept().await,
                None => std::future::pending().await,
            }
        };
        let retry = async {
            match failed {
                Some((_, at)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = bus.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = retry => {}
            r = accept => match r {
                Ok((stream, _)) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let shared = shared.clone();
                        tokio::spawn(async move {
                            answer(&shared, stream).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        // Told at once, without waiting for the request.
                        shared.counts.refuse(Refusal::Busy);
                        let _ = stream.try_write(&Refusal::Busy.response());
                    }
                },
                // Out of descriptors and the like: a breath, then on.
                Err(e) => {
                    warn!("metrics: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// A listener on exactly `addr`. IP_FREEBIND: an address that is not up
/// yet (a VIP on a backup) is bound all the same, and serves once it comes.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
        s.set_freebind_v6(true)?;
    } else {
        s.set_freebind_v4(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(64)?;
    TcpListener::from_std(s.into())
}

/// One connection: one request, one answer, closed.
async fn answer(shared: &Shared, mut stream: TcpStream) {
    let mut buf = Vec::with_capacity(1024);
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    let verdict = loop {
        let mut chunk = [0u8; 2048];
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => break Verdict::Refuse(Refusal::Timeout),
            // Closed, or reset, before a whole request: nothing to answer.
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
        match http::judge(&buf, PATH) {
            Verdict::Incomplete => continue,
            v => break v,
        }
    };
    let response = match verdict {
        Verdict::Metrics { head } => {
            shared.counts.scrapes.fetch_add(1, Ordering::Relaxed);
            http::metrics_response(&page(shared).await, head)
        }
        Verdict::Refuse(r) => {
            shared.counts.refuse(r);
            r.response()
        }
        Verdict::Incomplete => return,
    };
    // A client that does not take its answer in time is dropped.
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(&response).await?;
        stream.shutdown().await
    })
    .await;
}

/// The page, gathered anew when the last one is older than [`FRESH`].
async fn page(shared: &Shared) -> Arc<String> {
    let mut last = shared.page.lock().await;
    if let Some((at, page)) = last.as_ref()
        && at.elapsed() < FRESH
    {
        return page.clone();
    }
    // The IPVS dump and /proc reads block: off this thread's runtime. The
    // kernel's table is read first, what PID 1 holds after it: the checkers'
    // report reaches PID 1 before the pools it goes with are applied, so a
    // page never has the kernel without a server that the report still has
    // up (read the other way round, a report taken just before a change and
    // the table just after it disagreed: qemu_lb saw it on a loaded machine).
    let page = match tokio::task::spawn_blocking(read_ipvs).await {
        Ok((table, totals)) => {
            let mut snap = snapshot(shared);
            snap.ipvs = table;
            snap.ipvs_totals = totals;
            match tokio::task::spawn_blocking(move || render(&snap)).await {
                Ok(p) => Arc::new(p),
                Err(e) => Arc::new(format!("# the page could not be made: {e}\n")),
            }
        }
        Err(e) => Arc::new(format!("# the page could not be made: {e}\n")),
    };
    *last = Some((Instant::now(), page.clone()));
    page
}

/// What PID 1 holds, read now (the IPVS table is read beside it).
fn snapshot(shared: &Shared) -> Snapshot {
    let s = &shared.sources;
    let (generation, at_ms) = {
        let p = s.bus.borrow();
        (p.generation, p.at_ms)
    };
    let time = s.time.lock().unwrap_or_else(|p| p.into_inner()).facts;
    Snapshot {
        version: crate::VERSION.to_string(),
        started_s: shared.started_s,
        vrrp_report: report::latest(&s.vrrp),
        checkers_report: report::latest(&s.checkers),
        ipvs: Err("not read".into()),
        ipvs_totals: None,
        children: s.children.facts(),
        config_generation: generation,
        config_applied_ms: at_ms,
        boot_slot: s.boot_slot.clone(),
        time,
        scrapes: shared.counts.scrapes.load(Ordering::Relaxed),
        refused: Refusal::ALL
            .iter()
            .zip(&shared.counts.refused)
            .map(|(r, n)| (r.reason(), n.load(Ordering::Relaxed)))
            .collect(),
    }
}

type IpvsTable = Result<Vec<(vigil_ipvs::Service, Vec<vigil_ipvs::Dest>)>, String>;

/// The kernel's table with its counters, over a netlink socket of this
/// scrape's own; and the module's totals.
fn read_ipvs() -> (IpvsTable, Option<vigil_ipvs::Counters>) {
    let table = vigil_ipvs::Client::open().and_then(|mut c| {
        let mut out = Vec::new();
        for s in c.services()? {
            let dests = c.dests(&s.key)?;
            out.push((s, dests));
        }
        Ok(out)
    });
    let totals = std::fs::read_to_string("/proc/net/ip_vs_stats").ok().and_then(|t| super::parse_ipvs_stats(&t));
    (table.map_err(|e| e.to_string()), totals)
}

fn unix_s(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
