//! Failover figures (a benchmark, not a test). A keepalived master (priority
//! 150) is SIGKILLed; the backup (priority 100) is vigil or keepalived, in
//! the other namespace of a veth pair. Watchers inside the backup's
//! namespace stamp every advert from the master (a raw socket, protocol
//! 112) and the moment the VIP is added (rtnetlink, RTMGRP_IPV4_IFADDR).
//! The RFC says the backup takes over Master_Down_Interval after the last
//! advert it heard (3 x interval + Skew_Time, 156/256 of an interval at
//! priority 100): the figure is how much later than that the VIP came.
//!
//! The vigil backup runs a second time with its metrics endpoint under a
//! scrape storm (1,000 requests a second from four clients in its
//! namespace, each answered in full): the storm must not move the figure.
//!
//! Then each daemon idles as master of 100 instances (advert_int 1 s) for
//! 10 s: CPU time used and resident memory (keepalived: both processes).
//!
//! `cargo bench -p vigil-tests --bench failover` (as root; VIGIL_BENCH_RUNS=N).

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_tests::procfs::{cpu_ticks, rss_kib};
use vigil_tests::vrrp_pair::{Pair, VIP, ip};

fn main() {
    let runs: usize = std::env::var("VIGIL_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    println!("failover: VIP added at the backup after the master's last advert, minus Master_Down_Interval");
    for (version, interval, interval_ms) in [(2u8, "1", 1000.0), (3, "0.1", 100.0), (3, "0.01", 10.0)] {
        let bound_ms = 3.0 * interval_ms + 156.0 * interval_ms / 256.0;
        for backup in ["vigil", "vigil, 1,000 scrapes/s", "keepalived"] {
            let mut extra = Vec::new();
            let mut kill_to_vip = Vec::new();
            let (mut rates, mut storm_failures) = (Vec::new(), 0u64);
            for run in 0..runs {
                let Some(mut p) = Pair::new(&format!("fo{run}")) else { return };
                p.keepalived(version, 150, interval);
                p.wait_vip(&p.ka.clone(), Duration::from_secs(15));
                let watch = Watch::start(&p.vg);
                let mut storm = None;
                if backup.starts_with("vigil") {
                    let scraped = backup != "vigil";
                    if scraped {
                        p.top[1] = format!("vigil_defs {{\n metrics_listen {METRICS}\n}}\n");
                    }
                    p.vigil(version, 100, interval);
                    if scraped {
                        storm = Some(Storm::start(&p.vg, 1000));
                    }
                } else {
                    let conf = p.conf("keepalived-backup.conf", "vk-b", version, 100, interval);
                    let child = vigil_tests::vrrp_pair::spawn_keepalived(&p.vg, &conf, &p.dir, "kb");
                    p.children.push(child);
                }
                std::thread::sleep(Duration::from_secs(3));
                assert!(!p.has_vip(&p.vg.clone()), "the backup took over while the master ran");
                let killed = Instant::now();
                p.kill_keepalived("-KILL");
                p.wait_vip(&p.vg.clone(), Duration::from_secs(10));
                let (last_advert, vip_at) = watch.finish();
                if let Some(s) = storm {
                    let (rate, failed) = s.finish();
                    rates.push(rate);
                    storm_failures += failed;
                }
                let (Some(last), Some(vip)) = (last_advert, vip_at) else {
                    println!("  run {run}: no advert or no VIP seen by the watchers");
                    continue;
                };
                extra.push(ms(vip.saturating_duration_since(last)) - bound_ms);
                kill_to_vip.push(ms(vip.saturating_duration_since(killed)));
                drop(p);
            }
            if extra.is_empty() {
                continue;
            }
            println!(
                "  v{version} advert_int {interval:>4} s, backup {backup:<10}: over the bound {} ms; kill -> VIP {} ms (bound {bound_ms:.2} ms)",
                spread(&mut extra),
                spread(&mut kill_to_vip),
            );
            if !rates.is_empty() {
                println!("    scrapes answered {} /s, {storm_failures} failed", spread(&mut rates).replace('+', ""));
            }
        }
    }
    idle_hundred();
}

const METRICS: &str = "192.0.2.2:9650";

/// Clients in a namespace asking for /metrics at `rate` a second between
/// them (each request a connection of its own, the answer read in full).
struct Storm {
    stop: Arc<AtomicBool>,
    answered: Arc<std::sync::atomic::AtomicU64>,
    failed: Arc<std::sync::atomic::AtomicU64>,
    started: Instant,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Storm {
    fn start(ns: &str, rate: u32) -> Storm {
        const CLIENTS: u32 = 4;
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let every = Duration::from_secs(1) * CLIENTS / rate;
        let threads = (0..CLIENTS)
            .map(|_| {
                let (ns, stop, answered, failed) = (ns.to_string(), stop.clone(), answered.clone(), failed.clone());
                std::thread::spawn(move || {
                    enter(&ns);
                    let addr: std::net::SocketAddr = METRICS.parse().unwrap();
                    let mut next = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        let ok = (|| -> std::io::Result<bool> {
                            use std::io::{Read, Write};
                            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
                            s.set_read_timeout(Some(Duration::from_secs(2)))?;
                            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")?;
                            let mut page = Vec::new();
                            s.read_to_end(&mut page)?;
                            Ok(page.starts_with(b"HTTP/1.1 200 "))
                        })();
                        match ok {
                            Ok(true) => answered.fetch_add(1, Ordering::Relaxed),
                            // Before the first answer vigil is still starting.
                            _ if answered.load(Ordering::Relaxed) == 0 => 0,
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                        next += every;
                        std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    }
                })
            })
            .collect();
        Storm { stop, answered, failed, started: Instant::now(), threads }
    }

    /// Stops it: (pages answered a second, requests that failed).
    fn finish(self) -> (f64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let took = self.started.elapsed().as_secs_f64();
        for t in self.threads {
            let _ = t.join();
        }
        (self.answered.load(Ordering::Relaxed) as f64 / took, self.failed.load(Ordering::Relaxed))
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// "median [min .. max]".
fn spread(v: &mut [f64]) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    format!("{:+.2} [{:+.2} .. {:+.2}]", v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Two threads inside a namespace: one stamps adverts from the master
/// (192.0.2.1), one the first time the VIP appears.
struct Watch {
    stop: Arc<AtomicBool>,
    adverts: Arc<Mutex<Vec<Instant>>>,
    vip: Arc<Mutex<Option<Instant>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("namespace");
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

impl Watch {
    fn start(ns: &str) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let adverts = Arc::new(Mutex::new(Vec::new()));
        let vip = Arc::new(Mutex::new(None));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        {
            let (ns, stop, adverts, ready) = (ns.to_string(), stop.clone(), adverts.clone(), ready_tx.clone());
            threads.push(std::thread::spawn(move || {
                enter(&ns);
                use socket2::{Domain, Protocol, Socket, Type};
                let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                let _ = ready.send(());
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = std::io::Read::read(&mut &s, &mut buf) {
                        let now = Instant::now();
                        if n >= 20 && Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]) == Ipv4Addr::new(192, 0, 2, 1) {
                            adverts.lock().unwrap().push(now);
                        }
                    }
                }
            }));
        }
        {
            let (ns, stop, vip, ready) = (ns.to_string(), stop.clone(), vip.clone(), ready_tx);
            threads.push(std::thread::spawn(move || {
                enter(&ns);
                use nix::sys::socket::{
                    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, setsockopt,
                    socket, sockopt,
                };
                use std::os::fd::AsRawFd;
                let fd = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::empty(), SockProtocol::NetlinkRoute)
                    .unwrap();
                bind(fd.as_raw_fd(), &NetlinkAddr::new(0, libc::RTMGRP_IPV4_IFADDR as u32)).unwrap();
                setsockopt(&fd, sockopt::ReceiveTimeout, &nix::sys::time::TimeVal::new(0, 50_000)).unwrap();
                let _ = ready.send(());
                let want: Ipv4Addr = VIP.parse().unwrap();
                let mut buf = [0u8; 8192];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) else { continue };
                    let now = Instant::now();
                    if new_address(&buf[..n], want) {
                        vip.lock().unwrap().get_or_insert(now);
                    }
                }
            }));
        }
        for _ in 0..2 {
            let _ = ready_rx.recv();
        }
        Watch { stop, adverts, vip, threads }
    }

    /// Stops the watchers: (the master's last advert, the VIP's arrival).
    fn finish(self) -> (Option<Instant>, Option<Instant>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let last = self.adverts.lock().unwrap().last().copied();
        let vip = *self.vip.lock().unwrap();
        (last, vip)
    }
}

/// Does this rtnetlink datagram hold an RTM_NEWADDR for `want`?
fn new_address(mut b: &[u8], want: Ipv4Addr) -> bool {
    while b.len() >= 16 {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let ty = u16::from_ne_bytes([b[4], b[5]]);
        if len < 16 || len > b.len() {
            return false;
        }
        if ty == libc::RTM_NEWADDR {
            let mut a = &b[24.min(len)..len];
            while a.len() >= 4 {
                let alen = usize::from(u16::from_ne_bytes([a[0], a[1]]));
                let aty = u16::from_ne_bytes([a[2], a[3]]);
                if alen < 4 || alen > a.len() {
                    break;
                }
                if (aty == libc::IFA_LOCAL || aty == libc::IFA_ADDRESS) && a[4..alen] == want.octets() {
                    return true;
                }
                a = &a[alen.next_multiple_of(4).min(a.len())..];
            }
        }
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
    false
}

/// Each daemon alone as master of 100 instances (VRIDs 1..=100, one VIP
/// each, advert_int 1 s): CPU time over 10 s and resident memory.
fn idle_hundred() {
    let Some(mut p) = Pair::new("idle") else { return };
    let mut conf = String::new();
    for vrid in 1..=100u32 {
        conf += &format!(
            "vrrp_instance VI_{vrid} {{\n interface IFACE\n version 3\n virtual_router_id {vrid}\n priority 200\n advert_int 1\n virtual_ipaddress {{\n  10.{}.{}.1/32\n }}\n}}\n",
            vrid / 250,
            vrid % 250
        );
    }
    ip(&["-n", &p.vg.clone(), "link", "set", "vk-b", "up"]);
    let vconf = p.dir.join("hundred-vigil.conf");
    std::fs::write(&vconf, conf.replace("IFACE", "vk-b")).unwrap();
    let kconf = p.dir.join("hundred-keepalived.conf");
    std::fs::write(&kconf, conf.replace("IFACE", "vk-a")).unwrap();
    // One after the other (the configs share VRIDs and priority), each alone.
    let vg = p.vg.clone();
    let ka = p.ka.clone();
    let i = p.children.len();
    p.children.push(vigil_tests::vrrp_pair::spawn_vigil(&vg, &vconf, &p.dir.join("hundred-vigil.log")));
    let vigil_pid = p.children[i].id();
    // PID 1's stand-in and its daemons (the VRRP and checkers children).
    std::thread::sleep(Duration::from_secs(1));
    settle_and_measure("vigil", &vigil_tests::procfs::tree(vigil_pid), &vg);
    let _ = p.children[i].kill();
    let _ = p.children[i].wait();
    let child = vigil_tests::vrrp_pair::spawn_keepalived(&ka, &kconf, &p.dir, "ka");
    p.children.push(child);
    std::thread::sleep(Duration::from_secs(1));
    let pids: Vec<u32> = ["ka.pid", "ka-vrrp.pid"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(p.dir.join(f)).ok()?.trim().parse().ok())
        .collect();
    settle_and_measure("keepalived", &pids, &ka);
}

fn settle_and_measure(who: &str, pids: &[u32], ns: &str) {
    // All 100 masters (the VIPs are there) before measuring.
    let t = Instant::now();
    loop {
        let out = Command::new("ip").args(["-n", ns, "-4", "addr", "show"]).output().unwrap();
        let n = String::from_utf8_lossy(&out.stdout).matches("/32 scope global").count();
        if n >= 100 || t.elapsed() > Duration::from_secs(20) {
            if n < 100 {
                println!("  {who}: only {n} of 100 instances became master");
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let cpu0: u64 = pids.iter().map(|&p| cpu_ticks(p)).sum();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let cpu1: u64 = pids.iter().map(|&p| cpu_ticks(p)).sum();
    let hz = 100.0; // USER_HZ on Linux
    let cpu_s = (cpu1 - cpu0) as f64 / hz;
    let rss: u64 = pids.iter().map(|&p| rss_kib(p)).sum();
    println!(
        "idle master of 100 instances, {who:<10}: CPU {:.2} % of a core ({cpu_s:.2} s in {:.1} s), RSS {rss} KiB ({} process{})",
        cpu_s * 100.0 / t0.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64(),
        pids.len(),
        if pids.len() == 1 { "" } else { "es" }
    );
}
