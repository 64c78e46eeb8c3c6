//! What the control plane holds in memory at keepalived issue #2318's
//! shape (2,284 virtual servers, 37,298 real servers with a TCP_CHECK),
//! counted by a counting allocator in this process, step by step: the
//! config read from keepalived.conf text and from a blob, one more copy of
//! the model, and the IPVS reconcile PID 1 runs at start (a service at a
//! time, as lb.rs does: the table and ownership it keeps, the most it held;
//! beside it the whole table wanted and whole plan, as it once was).
//! Bytes asked of the heap, not pages: what each step keeps and the most
//! it held at once. The running bench measures the processes (PSS) beside
//! keepalived; this one says where PID 1's share goes.
//! A benchmark, not a test. `cargo bench -p vigil-tests --bench heap`.

use std::alloc::{GlobalAlloc, Layout, System as Heap};
use std::sync::atomic::{AtomicUsize, Ordering};
use vigil_ipvs::{Dest, Dests, Forward, Owned, Proto, Service, ServiceKey, Table, plan, plan_service};

/// The heap, counted: bytes in use now, and the most since the last mark.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = IN_USE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed to the system allocator unchanged, with the
// caller's layout and pointer; the counters around it never touch memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is the system's.
        let p = unsafe { Heap.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { Heap.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and `new_size` is the caller's to vouch for.
        let p = unsafe { Heap.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Starts a step: the bytes in use now.
fn mark() -> usize {
    let now = IN_USE.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// Says what the step since `m` keeps and the most it held at once.
fn step(what: &str, m: usize) {
    let mb = |n: usize| n as f64 / 1e6;
    let (now, peak) = (IN_USE.load(Ordering::Relaxed), PEAK.load(Ordering::Relaxed));
    println!("{what:<50} keeps {:>6.1} MB, peak {:>6.1} MB", mb(now.saturating_sub(m)), mb(peak.saturating_sub(m)));
}

fn main() {
    let (services, servers) = vigil_tests::PRODUCTION_SHAPE;
    let text = vigil_tests::shape_config(services, servers, Some(300), "\n lb_algo rr");
    println!(
        "issue #2318's shape: {services} virtual servers, {servers} real servers; a checker {} bytes, a real server {}, an IPVS destination {}, a planned op {}",
        size_of::<vigil_config::Checker>(),
        size_of::<vigil_config::RealServer>(),
        size_of::<Dest>(),
        size_of::<vigil_ipvs::Op>()
    );
    let before = mark();
    let import = vigil_config::keepalived::import_str("shape.conf", &text).expect("the shape imports");
    step("import (keepalived.conf text, with its places)", before);
    // The rest of the import (its places, its diagnostics) goes here.
    let config = {
        let import = import;
        import.config
    };
    step("the model from text, its places dropped (host mode keeps this)", before);
    let m = mark();
    let blob = vigil_config::blob::encode(&config, 1, 0).expect("the shape encodes");
    step(&format!("encode (a blob of {} KiB)", blob.len() / 1024), m);
    let m = mark();
    let decoded = vigil_config::blob::decode(&blob).expect("the blob decodes");
    step("decode (the model, as PID 1 boots it)", m);
    drop(decoded);
    let m = mark();
    let copy = config.clone();
    step("one more copy of the model", m);
    drop(copy);

    // The first apply as lb.rs runs it: a service at a time, its wanted
    // entry built (a destination per real server in the pool), planned
    // against the table known so far (empty, as the kernel's at start),
    // applied to it, and dropped. Then, for comparison, the whole table
    // wanted and the whole plan at once (as it was done before).
    let all = mark();
    let mut owned = Owned::default();
    let mut known = Table::default();
    let (mut ops_n, mut biggest) = (0, 0);
    for_each_service(&config, |key, entry| {
        let ops = plan_service(key, &entry, known.services.get(&key), &owned);
        (ops_n, biggest) = (ops_n + ops.len(), biggest.max(ops.len()));
        for op in &ops {
            owned.record(op);
            op.apply_to(&mut known);
        }
        owned.adopt_service(key, &entry.1);
    });
    // As lb.rs keeps them.
    owned.shrink_to_fit();
    known.shrink_to_fit();
    step(&format!("ipvs: the first apply, a service at a time ({ops_n} ops, at most {biggest} at once)"), all);
    drop((known, owned));

    let all = mark();
    let mut want = Table::default();
    for_each_service(&config, |key, entry| {
        want.services.insert(key, entry);
    });
    step(&format!("ipvs: the table wanted, whole ({} destinations)", want.dest_count()), all);
    let m = mark();
    let ops = plan(&want, &Table::default(), &Owned::default());
    step(&format!("ipvs: the plan from an empty table, whole ({} ops)", ops.len()), m);
}

/// Each IPVS service lb.rs builds for the shape: a service per virtual
/// server, a destination per real server.
fn for_each_service(config: &vigil_config::Config, mut f: impl FnMut(ServiceKey, (Service, Dests))) {
    for vs in &config.virtual_servers {
        let vigil_config::VirtualKey::Address(sa) = vs.key else { continue };
        let key = ServiceKey::Addr { proto: Proto::Tcp, addr: sa.ip(), port: sa.port() };
        let dests = vs.real_servers.iter().map(|rs| Dest::new(rs.addr.ip(), rs.addr.port(), rs.weight, Forward::Masq));
        f(key, (Service::new(key, vs.lb_algo.name()), Dests::from_unsorted(dests.collect())));
    }
}
