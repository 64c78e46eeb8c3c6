//! The /init of a test node in QEMU, built from tests/ so that nothing
//! test-only enters the firmware. As a backend it serves HTTP (:80), TCP
//! echo (:7), UDP echo (:7), DNS (:53, every A query answered with its own
//! address) and SMTP (:25, a greeting and HELO); as a client it asks a
//! virtual server for `/` ten times a second and prints each answer.
//!
//! Settings come from the kernel command line: `vigil.ip=10.0.0.11/24`,
//! `vigil.name=b1`, `vigil.vip=10.0.0.100[,10.0.0.102...]` (a direct-routing
//! backend: the VIPs on lo, ARP for them left to the balancer),
//! `vigil.client=10.0.0.100:80`, `vigil.scrape=10.0.0.1:9650` (beside the
//! client: vigil's metrics every 2 s, one line per family),
//! `vigil.hold=10.0.0.100:7[,...]` (a client that holds one connection to
//! each TCP echo service and talks on it five times a second),
//! `vigil.bench=ipvs|running` (a benchmark that prints `bench: ...`),
//! `vigil.keepalived=/etc/k.conf` (Debian's keepalived, VRRP only, on that
//! config, logging to the console: a peer for vigil where the host's
//! kernel lacks what the config needs; the image carries keepalived).

mod running;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

fn say(line: &str) {
    // The console: every line whole, so the test can read it.
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn main() {
    if std::process::id() == 1 {
        init();
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let arg =
        |k: &str| cmdline.split_whitespace().find_map(|w| w.strip_prefix(&format!("vigil.{k}=")).map(str::to_string));
    let name = arg("name").unwrap_or_else(|| "test".into());
    if let Some(ip) = arg("ip")
        && let Err(e) = network(&ip, arg("vip").as_deref())
    {
        say(&format!("test-server: network: {e}"));
    }
    if let Some(target) = arg("scrape") {
        std::thread::spawn(move || scrape(&target));
    }
    match (arg("client"), arg("hold"), arg("bench")) {
        (Some(target), _, _) => client(&target),
        (None, Some(targets), _) => hold(&targets),
        (None, None, Some(b)) if b == "ipvs" => bench_ipvs(),
        (None, None, Some(b)) if b == "running" => running::bench(),
        _ if arg("keepalived").is_some() => keepalived(&arg("keepalived").unwrap_or_default()),
        _ => serve(&name),
    }
    // PID 1 must never exit.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// eth0 has a link-local IPv6 address that is no longer tentative
/// (/proc/net/if_inet6: address, index, prefix, scope 20 = link, flags
/// with 40 = tentative, name).
fn eth0_link_local_ready() -> bool {
    let table = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    table.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let flags = f.get(4).and_then(|v| u32::from_str_radix(v, 16).ok()).unwrap_or(0x40);
        f.get(5) == Some(&"eth0") && f.get(3) == Some(&"20") && flags & 0x40 == 0
    })
}

/// Debian's keepalived (VRRP only) on `conf`, its log on the console;
/// says when it has gone.
fn keepalived(conf: &str) {
    running::syslog_sink();
    for d in ["/run", "/tmp", "/var/run"] {
        let _ = std::fs::create_dir_all(d);
    }
    // keepalived reads no config that is executable (the image's extra
    // files are).
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(conf, std::fs::Permissions::from_mode(0o644));
    // keepalived 2.2.7 started while eth0 is still down, or before its
    // link-local address has passed DAD, holds an IPv6 instance in FAULT
    // ("no IPv6 address for interface") until the address is usable (on a
    // loaded CI machine eth0 was still down when it started, and
    // qemu_ipvlan looked for the instance's BACKUP too early): start it
    // once the address is usable (10 s at most; a guest without IPv6
    // starts it then anyway).
    let t = std::time::Instant::now();
    while !eth0_link_local_ready() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let started = std::process::Command::new("/usr/sbin/keepalived")
        .args(["-n", "-l", "-D", "--vrrp", "-f", conf, "-p", "/run/k.pid", "-r", "/run/kv.pid"])
        .spawn();
    match started {
        Ok(mut child) => {
            say("test-server: keepalived started");
            let status = child.wait();
            say(&format!("test-server: keepalived exited: {status:?}"));
        }
        Err(e) => say(&format!("test-server: keepalived: {e}")),
    }
}

/// What an init does before anything else: the kernel filesystems and the
/// board's modules (the NIC driver among them).
fn init() {
    use nix::mount::{MsFlags, mount};
    for (src, dst, fs) in [("proc", "/proc", "proc"), ("sysfs", "/sys", "sysfs"), ("devtmpfs", "/dev", "devtmpfs")] {
        let _ = std::fs::create_dir_all(dst);
        if let Err(e) = mount(Some(src), dst, Some(fs), MsFlags::empty(), None::<&str>) {
            say(&format!("test-server: mount {dst}: {e}"));
        }
    }
    let board = std::fs::read(vigil_board::RUNTIME_PATH).ok().and_then(|b| vigil_board::Runtime::decode(&b).ok());
    for m in board.map(|b| b.modules).unwrap_or_default() {
        let loaded = std::fs::File::open(&m.path).map_err(|e| e.to_string()).and_then(|f| {
            let params = std::ffi::CString::new(m.params.as_str()).map_err(|e| e.to_string())?;
            match nix::kmod::finit_module(&f, &params, nix::kmod::ModuleInitFlags::empty()) {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        });
        if let Err(e) = loaded {
            say(&format!("test-server: module {}: {e}", m.name));
        }
    }
}

fn network(ip: &str, vip: Option<&str>) -> Result<(), String> {
    let (addr, prefix) = ip.split_once('/').ok_or("vigil.ip wants ADDRESS/PREFIX")?;
    let addr: IpAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let prefix: u8 = prefix.parse().map_err(|e| format!("{prefix}: {e}"))?;
    let mut rtnl = vigil_net::Rtnl::open().map_err(|e| e.to_string())?;
    let links = rtnl.links().map_err(|e| e.to_string())?;
    let index = |n: &str| links.iter().find(|l| l.name == n).map(|l| l.index).ok_or(format!("no {n}"));
    let up = libc_up();
    for l in ["lo", "eth0"] {
        rtnl.set_flags(index(l)?, up, up).map_err(|e| format!("{l} up: {e}"))?;
    }
    rtnl.change_address(index("eth0")?, addr, prefix, true).map_err(|e| format!("{ip}: {e}"))?;
    if let Some(vips) = vip {
        // Direct routing: the VIPs are ours on lo, but only the balancer
        // answers ARP for them.
        for vip in vips.split(',') {
            let v: IpAddr = vip.parse().map_err(|e| format!("{vip}: {e}"))?;
            rtnl.change_address(index("lo")?, v, 32, true).map_err(|e| format!("{vip} on lo: {e}"))?;
        }
        for dev in ["all", "eth0"] {
            let _ = std::fs::write(format!("/proc/sys/net/ipv4/conf/{dev}/arp_ignore"), "1");
            let _ = std::fs::write(format!("/proc/sys/net/ipv4/conf/{dev}/arp_announce"), "2");
        }
    }
    say(&format!("test-server: eth0 {ip}{}", vip.map(|v| format!(", VIP {v} on lo")).unwrap_or_default()));
    Ok(())
}

fn libc_up() -> u32 {
    // IFF_UP | IFF_MULTICAST
    0x1 | 0x1000
}

fn serve(name: &str) {
    let n = name.to_string();
    spawn_tcp(80, move |s| http(s, &n));
    spawn_tcp(7, echo);
    let n = name.to_string();
    spawn_tcp(25, move |s| smtp(s, &n));
    spawn_udp(7, |q, _| Some(q.to_vec()));
    spawn_udp(53, dns);
    spawn_udp(123, ntp);
    say(&format!("test-server: {name} ready"));
}

fn spawn_tcp(port: u16, handle: impl Fn(TcpStream) + Send + Sync + Clone + 'static) {
    std::thread::spawn(move || {
        let l = match TcpListener::bind(("0.0.0.0", port)) {
            Ok(l) => l,
            Err(e) => return say(&format!("test-server: tcp {port}: {e}")),
        };
        for s in l.incoming().flatten() {
            let h = handle.clone();
            std::thread::spawn(move || h(s));
        }
    });
}

fn spawn_udp(port: u16, answer: fn(&[u8], SocketAddr) -> Option<Vec<u8>>) {
    std::thread::spawn(move || {
        let s = match UdpSocket::bind(("0.0.0.0", port)) {
            Ok(s) => s,
            Err(e) => return say(&format!("test-server: udp {port}: {e}")),
        };
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            if let Some(r) = answer(&buf[..n], from) {
                let _ = s.send_to(&r, from);
            }
        }
    });
}

fn http(mut s: TcpStream, name: &str) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut r = BufReader::new(match s.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut request = String::new();
    if r.read_line(&mut request).is_err() {
        return;
    }
    let mut line = String::new();
    while r.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let body = format!("backend {name}\n");
    let _ = write!(
        s,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn echo(mut s: TcpStream) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 || s.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn smtp(mut s: TcpStream, name: &str) {
    let _ = write!(s, "220 {name} ESMTP test-server\r\n");
    let mut r = BufReader::new(match s.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut line = String::new();
    while r.read_line(&mut line).is_ok_and(|n| n > 0) {
        let reply = if line.starts_with("HELO") || line.starts_with("EHLO") { "250 hello\r\n" } else { "221 bye\r\n" };
        if s.write_all(reply.as_bytes()).is_err() || reply.starts_with("221") {
            return;
        }
        line.clear();
    }
}

/// Answers every query with one A record: 192.0.2.53.
fn dns(q: &[u8], _from: SocketAddr) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    let mut r = q.to_vec();
    r[2] |= 0x80;
    r[3] = 0x80; // RA, NOERROR
    r[6..8].copy_from_slice(&[0, 1]);
    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 53]);
    Some(r)
}

/// Asks `target` for `/` ten times a second, for ever; prints
/// `client: N ok backend b1` or `client: N failed <why>`.
fn client(target: &str) {
    let Ok(addr) = target.parse::<SocketAddr>() else {
        return say(&format!("test-server: vigil.client {target:?} is not ADDRESS:PORT"));
    };
    say("test-server: client ready");
    for n in 0u64.. {
        let got = (|| -> std::io::Result<String> {
            // 3 s: a request to a dead backend fails whatever the limit
            // (nothing answers); one to a live backend under TCG on a
            // loaded host took over 1 s (CI: one in twenty failed on b1).
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            write!(s, "GET / HTTP/1.0\r\nHost: {target}\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text.lines().last().unwrap_or("").to_string())
        })();
        match got {
            Ok(body) => say(&format!("client: {n} ok {body}")),
            Err(e) => say(&format!("client: {n} failed {e}")),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Holds a connection to each of `targets` (TCP echo services), sending a
/// line on each five times a second and reading it back: prints `hold:
/// TARGET N ok` every 25 lines, and `hold: TARGET broken after N: why`
/// when a connection fails (then connects again after 1 s). A connection
/// that lives through a reload says nothing but its `ok` lines.
fn hold(targets: &str) {
    for target in targets.split(',').map(str::to_string) {
        let Ok(addr) = target.parse::<SocketAddr>() else {
            return say(&format!("test-server: vigil.hold {target:?} is not ADDRESS:PORT"));
        };
        std::thread::spawn(move || {
            loop {
                let mut n = 0u64;
                let held = (|| -> std::io::Result<()> {
                    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
                    s.set_read_timeout(Some(Duration::from_secs(5)))?;
                    let mut r = BufReader::new(s.try_clone()?);
                    let mut w = s;
                    say(&format!("hold: {target} connected"));
                    loop {
                        writeln!(w, "ping {n}")?;
                        let mut line = String::new();
                        r.read_line(&mut line)?;
                        if line.trim_end() != format!("ping {n}") {
                            return Err(std::io::Error::other(format!("echoed {line:?}")));
                        }
                        n += 1;
                        if n.is_multiple_of(25) {
                            say(&format!("hold: {target} {n} ok"));
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                })();
                if let Err(e) = held {
                    say(&format!("hold: {target} broken after {n}: {e}"));
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    }
    say("test-server: hold ready");
}

/// Asks `target` for /metrics every 2 s, for ever; prints each family's
/// series count and the sum of their values (a page is too long for a
/// serial console under TCG): `scrape: N FAMILY SERIES SUM`, then `scrape:
/// N end`; or `scrape: N failed <why>`.
fn scrape(target: &str) {
    let Ok(addr) = target.parse::<SocketAddr>() else {
        return say(&format!("test-server: vigil.scrape {target:?} is not ADDRESS:PORT"));
    };
    for n in 0u64.. {
        let got = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            write!(s, "GET /metrics HTTP/1.1\r\nHost: {target}\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        })();
        match got {
            Ok(text) if text.starts_with("HTTP/1.1 200 ") => {
                let mut families: Vec<(String, usize, f64)> = Vec::new();
                for line in text.split("\r\n\r\n").nth(1).unwrap_or("").lines().filter(|l| !l.starts_with('#')) {
                    let name = line.split(['{', ' ']).next().unwrap_or("");
                    let v: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
                    match families.last_mut() {
                        Some(f) if f.0 == name => {
                            f.1 += 1;
                            f.2 += v;
                        }
                        _ => families.push((name.to_string(), 1, v)),
                    }
                }
                for (name, count, sum) in families {
                    say(&format!("scrape: {n} {name} {count} {sum}"));
                }
                say(&format!("scrape: {n} end"));
            }
            Ok(text) => say(&format!("scrape: {n} failed {}", text.lines().next().unwrap_or(""))),
            Err(e) => say(&format!("scrape: {n} failed {e}")),
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// `vigil.bench=ipvs`: 1,000 services x 10 destinations programmed from
/// empty through vigil's reconciler and netlink client, then a reload that
/// changes 1 % of the destinations; the same with Debian's `ipvsadm -R`
/// when the image carries it. Prints `bench: ...` lines.
fn bench_ipvs() {
    use std::time::Instant;
    use vigil_ipvs::{Client, Dest, Forward, Owned, Proto, Service, ServiceKey, Table, plan};
    let key = |i: u32| ServiceKey::Addr {
        proto: Proto::Tcp,
        addr: IpAddr::from((0x0a01_0000u32 + i).to_be_bytes()),
        port: 80,
    };
    // `services` services with `total` destinations between them; changed:
    // one destination's weight in every tenth service (1 %).
    let table = |services: u32, total: u32, changed: bool| {
        let mut t = Table::default();
        for i in 0..services {
            t.add_service(Service::new(key(i), "wrr"));
            let per = total / services + u32::from(i < total % services);
            for d in 0..per {
                let w = if changed && i % 10 == 0 && d == 0 { 2 } else { 1 };
                t.add_dest(
                    key(i),
                    Dest::new(IpAddr::from((0x0a03_0001u32 + d).to_be_bytes()), 8080, w, Forward::Route),
                );
            }
        }
        t
    };
    let mut c = match Client::open() {
        Ok(c) => c,
        Err(e) => return say(&format!("bench: {e}")),
    };
    let _ = c.flush();
    for (services, total) in [(1000, 10_000), (2284, 37_298)] {
        say(&format!("bench: {services} services, {total} destinations"));
        let _ = c.flush();
        let mut owned = Owned::default();
        // `known`: plan against the table last applied (as the firmware does)
        // instead of reading the kernel's back (one dump per service).
        let mut last: Option<Table> = None;
        let mut run = |want: &Table, what: &str, c: &mut Client, known: bool| {
            let t = Instant::now();
            let have = match (&last, known) {
                (Some(l), true) => l.clone(),
                _ => c.table().unwrap_or_default(),
            };
            let read = t.elapsed();
            let ops = plan(want, &have, &owned);
            let mut failed = 0;
            for op in &ops {
                match c.apply(op) {
                    Ok(()) => owned.record(op),
                    Err(e) => {
                        if failed == 0 {
                            say(&format!("bench: first error: {e}"));
                        }
                        failed += 1;
                    }
                }
            }
            owned.adopt(want);
            last = (failed == 0).then(|| want.clone());
            say(&format!(
                "bench: vigil {what}: {} changes in {:.1} ms ({} {:.1} ms), {failed} failed",
                ops.len(),
                t.elapsed().as_secs_f64() * 1000.0,
                if known { "planning against the last applied table" } else { "reading the kernel's table back" },
                read.as_secs_f64() * 1000.0
            ));
        };
        run(&table(services, total, false), "from empty", &mut c, false);
        run(&table(services, total, true), "reload, 1 % changed", &mut c, false);
        run(&table(services, total, false), "reload, 1 % changed back", &mut c, true);
        run(&table(services, total, false), "reload, nothing changed", &mut c, true);
        let back = c.table().map(|t| (t.services.len(), t.dest_count())).unwrap_or_default();
        say(&format!("bench: read back {} services, {} destinations", back.0, back.1));
    }

    if std::path::Path::new("/usr/sbin/ipvsadm").exists() {
        let _ = c.flush();
        let mut rules = String::new();
        let mut edits = String::new();
        for i in 0..1000u32 {
            let k = key(i);
            let ServiceKey::Addr { addr, .. } = k else { continue };
            rules.push_str(&format!("-A -t {addr}:80 -s wrr\n"));
            for d in 0..10u32 {
                let r = IpAddr::from((0x0a03_0001u32 + d).to_be_bytes());
                rules.push_str(&format!("-a -t {addr}:80 -r {r}:8080 -g -w 1\n"));
                if i % 10 == 0 && d == 0 {
                    edits.push_str(&format!("-e -t {addr}:80 -r {r}:8080 -g -w 2\n"));
                }
            }
        }
        for (what, text) in [("restore from empty", rules), ("100 edits", edits)] {
            let _ = std::fs::write("/tmp/rules", text);
            let t = Instant::now();
            let ok = std::fs::File::open("/tmp/rules")
                .and_then(|f| std::process::Command::new("/usr/sbin/ipvsadm").arg("-R").stdin(f).status())
                .map(|s| s.success())
                .unwrap_or(false);
            say(&format!(
                "bench: ipvsadm -R {what}: {:.1} ms{}",
                t.elapsed().as_secs_f64() * 1000.0,
                if ok { "" } else { " (failed)" }
            ));
        }
    } else {
        say("bench: ipvsadm is not in this image");
    }
    say("bench: done");
}

/// An NTP server (stratum 2) answering with this node's own clock.
fn ntp(q: &[u8], _from: SocketAddr) -> Option<Vec<u8>> {
    if q.len() < 48 || q[0] & 7 != 3 {
        return None;
    }
    let now = || {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let secs = (d.as_secs() + 2_208_988_800) & 0xffff_ffff;
        (secs << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
    };
    let received = now();
    let mut r = vec![0u8; 48];
    r[0] = (4 << 3) | 4; // version 4, server
    r[1] = 2;
    r[12..16].copy_from_slice(b"TEST");
    r[24..32].copy_from_slice(&q[40..48]); // origin: their transmit time
    r[32..40].copy_from_slice(&received.to_be_bytes());
    r[40..48].copy_from_slice(&now().to_be_bytes());
    Some(r)
}
