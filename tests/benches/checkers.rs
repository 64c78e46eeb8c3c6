//! Checker scale (a benchmark, not a test): vigil in host mode checks
//! 10,000 real servers (TCP_CHECK, delay_loop 1 s) on loopback: 127.0.x.y
//! port 18000, all served by one listener here that accepts and closes.
//! Prints the share of one core vigil used over 10 s (its own work and the
//! kernel's on its behalf), the checkers child's resident memory, and how
//! many connections arrived (10,000 a second is the schedule).
//!
//! Beside it, the floor: the same 10,000 connections a second made by a
//! bare loop (a non-blocking socket, connect, epoll, SO_ERROR, close: the
//! system calls any checker makes, keepalived's too) on one thread here.
//! On loopback the kernel does both ends of every handshake in the
//! connecting process, so most of any checker's CPU is the kernel's; the
//! ratio to the floor is what vigil adds. (keepalived's checker cannot run
//! on this host, which has no IPVS: `bench running` measures the two side
//! by side in a guest.)
//!
//! Then a cut: keepalived issue #2318's shape (2,284 virtual servers,
//! 37,298 real servers) in a namespace with no route to any: how long until
//! every real server is out, and the CPU vigil's processes used meanwhile.
//!
//! `cargo bench -p vigil-tests --bench checkers`.

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::resource::{UsageWho, getrusage};
use socket2::{Domain, SockAddr, Socket, Type};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigil_board::Arch;
use vigil_tests::procfs::{cpu_split, cpu_ticks, rss_kib};

const SERVERS: u32 = 10_000;
const PER_VS: u32 = 1000;
const WINDOW: Duration = Duration::from_secs(10);

/// The i-th real server's address.
fn server(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(127, (1 + i / 62500) as u8, ((i / 250) % 250) as u8, (1 + i % 250) as u8)
}

fn main() {
    // A backlog as a real server's (std's 128 overflows when a check round
    // starts late and its connections come at once).
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    listener.set_reuse_address(true).expect("SO_REUSEADDR");
    listener.bind(&SockAddr::from(SocketAddr::from(([0, 0, 0, 0], 18000)))).expect("port 18000");
    listener.listen(4096).expect("listen");
    let listener = std::net::TcpListener::from(listener);
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            drop(s);
            count.fetch_add(1, Ordering::Relaxed);
        }
    });
    let dir = vigil_tests::test_dir("bench-checkers");
    let conf = dir.join("checkers.conf");
    let mut f = std::fs::File::create(&conf).unwrap();
    for vs in 0..SERVERS / PER_VS {
        writeln!(f, "virtual_server 10.9.{vs}.1 80 {{\n delay_loop 1\n lb_algo rr\n protocol TCP").unwrap();
        for r in 0..PER_VS {
            let a = server(vs * PER_VS + r);
            writeln!(f, " real_server {a} 18000 {{\n  TCP_CHECK {{\n   connect_timeout 2\n  }}\n }}").unwrap();
        }
        writeln!(f, "}}").unwrap();
    }
    drop(f);
    let log = std::fs::File::create(dir.join("vigil.log")).unwrap();
    let mut vigil = Command::new(vigil_tests::firmware(Arch::X86_64))
        .args(["run", "--config"])
        .arg(&conf)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = vigil.id();
    // Let the first rounds settle.
    std::thread::sleep(Duration::from_secs(5));
    // vigil and its daemons (the checkers run in a child).
    let pids = vigil_tests::procfs::tree(pid);
    let checkers = pids
        .iter()
        .copied()
        .find(|&p| std::fs::read_to_string(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.contains("checkers")));
    let cpu = || pids.iter().map(|&p| cpu_split(p)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let (cpu0, n0, t0) = (cpu(), accepted.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(WINDOW);
    let (cpu1, n1, dt) = (cpu(), accepted.load(Ordering::Relaxed), t0.elapsed().as_secs_f64());
    let rss: u64 = pids.iter().map(|&p| rss_kib(p)).sum();
    let child_rss = checkers.map(rss_kib).unwrap_or(0);
    let _ = vigil.kill();
    let _ = vigil.wait();
    // USER_HZ ticks to a share of one core.
    let share = |ticks: u64| ticks as f64 / dt;
    let (user, sys) = (share(cpu1.0 - cpu0.0), share(cpu1.1 - cpu0.1));
    let log = std::fs::read_to_string(dir.join("vigil.log")).unwrap_or_default();
    let downs = log.matches(": DOWN").count();
    println!(
        "{SERVERS} TCP checks at delay_loop 1 s: vigil {:.1} % of one core (its own {user:.1} %, the kernel's {sys:.1} %), \
         RSS {rss} KiB ({} processes; the checkers child {child_rss} KiB), {:.0} checks/s answered, {downs} went down",
        user + sys,
        pids.len(),
        (n1 - n0) as f64 / dt
    );
    std::thread::sleep(Duration::from_secs(2));
    let (n0, t0) = (accepted.load(Ordering::Relaxed), Instant::now());
    let (floor_user, floor_sys, made) = bare_connects(SERVERS, WINDOW);
    let dt = t0.elapsed().as_secs_f64();
    let floor = floor_user + floor_sys;
    println!(
        "the floor, a bare loop making the same {SERVERS} connections a second: {floor:.1} % of one core \
         (its own {floor_user:.1} %, the kernel's {floor_sys:.1} %), {:.0} made/s, {:.0} answered/s; vigil / floor: {:.2}x",
        made as f64 / dt,
        (accepted.load(Ordering::Relaxed) - n0) as f64 / dt,
        (user + sys) / floor
    );
    cut();
}

/// `rate` connections a second for `window`, round the real servers, as a
/// checker makes them with nothing else: returns this thread's CPU (own,
/// kernel's) as percent of one core, and how many completed.
fn bare_connects(rate: u32, window: Duration) -> (f64, f64, u64) {
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).expect("epoll");
    let mut open: Vec<Option<Socket>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = [EpollEvent::empty(); 256];
    let usage = || getrusage(UsageWho::RUSAGE_THREAD).expect("getrusage");
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let u0 = usage();
    let start = Instant::now();
    let (mut started, mut done) = (0u64, 0u64);
    while start.elapsed() < window {
        let due = (start.elapsed().as_secs_f64() * f64::from(rate)) as u64;
        while started < due {
            let to = SocketAddr::from((server((started % u64::from(rate)) as u32), 18000));
            started += 1;
            let s = Socket::new(Domain::IPV4, Type::STREAM.nonblocking().cloexec(), None).expect("socket");
            match s.connect(&SockAddr::from(to)) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                Err(e) => panic!("connect {to}: {e}"),
            }
            let slot = free.pop().unwrap_or_else(|| {
                open.push(None);
                open.len() - 1
            });
            ep.add(&s, EpollEvent::new(EpollFlags::EPOLLOUT, slot as u64)).expect("epoll add");
            open[slot] = Some(s);
        }
        let n = ep.wait(&mut events, EpollTimeout::from(1u8)).expect("epoll wait");
        for e in &events[..n] {
            let slot = e.data() as usize;
            if let Some(s) = open[slot].take() {
                let _ = s.take_error();
                ep.delete(&s).expect("epoll delete");
                drop(s);
                free.push(slot);
                done += 1;
            }
        }
    }
    let (u1, elapsed) = (usage(), start.elapsed().as_secs_f64());
    let pct = |a: f64, b: f64| (b - a) * 100.0 / elapsed;
    (pct(secs(u0.user_time()), secs(u1.user_time())), pct(secs(u0.system_time()), secs(u1.system_time())), done)
}

fn cut() {
    let ns = vigil_tests::vrrp_pair::Netns::fresh("bench-cut");
    let (services, servers) = vigil_tests::PRODUCTION_SHAPE;
    let conf = vigil_tests::production_shape_config();
    let dir = vigil_tests::test_dir("bench-cut");
    let path = dir.join("vigil.conf");
    std::fs::write(&path, conf).unwrap();
    let log = dir.join("vigil.log");
    let started = Instant::now();
    let mut vigil = vigil_tests::vrrp_pair::spawn_vigil(&ns, &path, &log);
    let spawned = started.elapsed();
    let pids = || vigil_tests::procfs::tree(vigil.id());
    let mut cpu_at_end = 0;
    let done = vigil_tests::eventually(Duration::from_secs(300), || {
        cpu_at_end = pids().iter().map(|&p| cpu_ticks(p)).sum::<u64>();
        std::fs::read_to_string(&log).unwrap_or_default().matches(": DOWN (connect ").count() >= servers
    });
    let rss: u64 = pids().iter().map(|&p| rss_kib(p)).sum();
    let _ = vigil.kill();
    let _ = vigil.wait();
    match done {
        Some(took) => println!(
            "cut: {servers} real servers of {services} virtual servers unreachable at once: all out {:.1} s after start, CPU {:.1} s meanwhile, RSS {rss} KiB",
            (took + spawned).as_secs_f64(),
            cpu_at_end as f64 / 100.0
        ),
        None => println!("cut: not every real server went out within 300 s"),
    }
}
