//! Checker scale (a benchmark, not a test): vigil in host mode checks
//! 10,000 real servers (TCP_CHECK, delay_loop 1 s) on loopback: 127.0.x.y
//! port 18000, all served by one listener here that accepts and closes.
//! Prints the share of one core vigil used over 10 s, its resident memory,
//! and how many connections arrived (10,000 a second is the schedule).
//!
//! Then a cut: keepalived issue #2318's shape (2,284 virtual servers,
//! 37,298 real servers) in a namespace with no route to any: how long until
//! every real server is out, and the CPU vigil's processes used meanwhile.
//!
//! `cargo bench -p vigil-tests --bench checkers`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigil_board::Arch;
use vigil_tests::procfs::{cpu_ticks, rss_kib};

const SERVERS: u32 = 10_000;
const PER_VS: u32 = 1000;

fn main() {
    let listener = std::net::TcpListener::bind("0.0.0.0:18000").expect("port 18000");
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
            let i = vs * PER_VS + r;
            writeln!(
                f,
                " real_server 127.{}.{}.{} 18000 {{\n  TCP_CHECK {{\n   connect_timeout 2\n  }}\n }}",
                1 + i / 62500,
                (i / 250) % 250,
                1 + i % 250
            )
            .unwrap();
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
    let cpu = || pids.iter().map(|&p| cpu_ticks(p)).sum::<u64>();
    let (cpu0, n0, t0) = (cpu(), accepted.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    let (cpu1, n1, dt) = (cpu(), accepted.load(Ordering::Relaxed), t0.elapsed().as_secs_f64());
    let rss: u64 = pids.iter().map(|&p| rss_kib(p)).sum();
    let _ = vigil.kill();
    let _ = vigil.wait();
    let cpu = (cpu1 - cpu0) as f64 / 100.0; // USER_HZ
    let log = std::fs::read_to_string(dir.join("vigil.log")).unwrap_or_default();
    let downs = log.matches(": DOWN").count();
    println!(
        "{SERVERS} TCP checks at delay_loop 1 s: {:.1} % of one core, RSS {rss} KiB ({} processes), {:.0} checks/s answered, {downs} went down",
        cpu * 100.0 / dt,
        pids.len(),
        (n1 - n0) as f64 / dt
    );
    cut();
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
