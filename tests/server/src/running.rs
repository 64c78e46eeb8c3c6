//! `vigil.bench=running`: the running load balancer's memory and CPU, vigil
//! against Debian's keepalived on the same config, in the same guest, one
//! after the other (the image carries `/usr/bin/vigil`, keepalived with its
//! libraries, `ip`, and the configs under `/etc/bench/`).
//!
//! Every address of 172.16.0.0/12 is made this node's (a `local` route on
//! lo) and one listener on :8080 accepts and closes, so every real server
//! of the configs answers its TCP_CHECK and IPVS holds every destination:
//! the steady state of a healthy production balancer.
//!
//! Each program runs alone: started, its process tree's PSS sampled every
//! 5 s while it settles (the peak), then its CPU time over a window, its
//! PSS and RSS at the end, the checks the listener answered, and what IPVS
//! holds; then it is stopped and IPVS emptied. PSS counts each shared page
//! once across the tree (keepalived's processes share most of theirs), so
//! the trees' figures compare.

use crate::say;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "../../src/procfs.rs"]
mod procfs;

/// A phase: its name, its config, how long each program settles before
/// the window, and the window.
const PHASES: [(&str, &str, u64, u64); 2] =
    [("memory", "/etc/bench/shape.conf", 150, 30), ("checkers", "/etc/bench/checks.conf", 30, 30)];

pub fn bench() {
    let _ = Command::new("/usr/sbin/ip").args(["link", "set", "lo", "up"]).status();
    match Command::new("/usr/sbin/ip").args(["route", "add", "local", "172.16.0.0/12", "dev", "lo"]).status() {
        Ok(s) if s.success() => {}
        other => return say(&format!("bench: ip route add local 172.16.0.0/12: {other:?}")),
    }
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let l = match std::net::TcpListener::bind("0.0.0.0:8080") {
            Ok(l) => l,
            Err(e) => return say(&format!("bench: listener :8080: {e}")),
        };
        for s in l.incoming() {
            drop(s);
            count.fetch_add(1, Ordering::Relaxed);
        }
    });
    syslog_sink();
    for d in ["/run", "/tmp", "/var/run"] {
        let _ = std::fs::create_dir_all(d);
    }
    // keepalived reads no config that is executable (the image's extra
    // files are).
    for (_, conf, _, _) in PHASES {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(conf, std::fs::Permissions::from_mode(0o644));
    }
    for (phase, conf, settle, window) in PHASES {
        let mut figures = Vec::new();
        for program in ["vigil", "keepalived"] {
            match run(program, conf, Duration::from_secs(settle), Duration::from_secs(window), &accepted) {
                Ok(f) => {
                    say(&format!(
                        "bench: {phase} {program}: PSS {} KiB (peak {} KiB), RSS {} KiB, {} processes; \
                         CPU {:.1} % of the guest's core over {window} s; {:.0} checks/s answered \
                         ({:.2} ms of CPU a check); IPVS {} services, {} destinations",
                        f.pss,
                        f.peak,
                        f.rss,
                        f.processes,
                        f.cpu,
                        f.checks,
                        f.per_check(),
                        f.services,
                        f.dests
                    ));
                    figures.push(f);
                }
                Err(e) => say(&format!("bench: {phase} {program}: {e}")),
            }
        }
        if let [v, k] = figures.as_slice() {
            say(&format!(
                "bench: {phase} vigil/keepalived: PSS {:.2}x, peak {:.2}x, CPU {:.2}x, CPU a check {:.2}x",
                v.pss as f64 / k.pss.max(1) as f64,
                v.peak as f64 / k.peak.max(1) as f64,
                v.cpu / k.cpu.max(0.01),
                v.per_check() / k.per_check().max(0.0001)
            ));
        }
    }
    say("bench: done");
}

impl Figures {
    /// Milliseconds of CPU a check answered.
    fn per_check(&self) -> f64 {
        self.cpu * 10.0 / self.checks.max(0.01)
    }
}

struct Figures {
    pss: u64,
    peak: u64,
    rss: u64,
    processes: usize,
    cpu: f64,
    checks: f64,
    services: usize,
    dests: usize,
}

fn spawn(program: &str, conf: &str) -> Result<Child, String> {
    let mut c = match program {
        "vigil" => {
            let mut c = Command::new("/usr/bin/vigil");
            c.args(["run", "--config", conf]);
            c
        }
        _ => {
            // The parent and its checker (and VRRP, when configured)
            // children, in the foreground, logging to stderr (`-l`; no
            // syslog here) as vigil does.
            let mut c = Command::new("/usr/sbin/keepalived");
            c.args(["-n", "-l", "-f", conf, "-p", "/run/k.pid", "-c", "/run/kc.pid", "-r", "/run/kv.pid"]);
            c
        }
    };
    // vigil's console is its stdin: a pipe that stays open and quiet. The
    // log goes to a file (its last lines are shown after the figures).
    let log = std::fs::File::create(format!("/tmp/{program}.log")).map_err(|e| e.to_string())?;
    c.stdin(Stdio::piped()).stdout(log.try_clone().map_err(|e| e.to_string())?).stderr(log);
    c.spawn().map_err(|e| format!("starting {program}: {e}"))
}

fn run(program: &str, conf: &str, settle: Duration, window: Duration, accepted: &AtomicU64) -> Result<Figures, String> {
    let mut ipvs = vigil_ipvs::Client::open().map_err(|e| format!("IPVS: {e}"))?;
    let _ = ipvs.flush();
    let mut child = spawn(program, conf)?;
    let pid = child.id();
    let pss = |pids: &[u32]| pids.iter().map(|&p| procfs::pss_kib(p)).sum::<u64>();
    let t = Instant::now();
    let mut peak = 0;
    while t.elapsed() < settle {
        std::thread::sleep(Duration::from_secs(5));
        peak = peak.max(pss(&procfs::tree(pid)));
    }
    let pids = procfs::tree(pid);
    let cpu = || pids.iter().map(|&p| procfs::cpu_ticks(p)).sum::<u64>();
    let (cpu0, n0, t0) = (cpu(), accepted.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(window);
    let (cpu1, n1, dt) = (cpu(), accepted.load(Ordering::Relaxed), t0.elapsed().as_secs_f64());
    // Each process: its role (vigil's children are `vigil child NAME`,
    // keepalived's say nothing but their pid files) and its PSS.
    let each: Vec<(String, u64)> = pids
        .iter()
        .map(|&p| {
            let cmd = std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let words: Vec<&str> = cmd.split('\0').filter(|w| !w.is_empty()).collect();
            let role = match words.as_slice() {
                [_, "child", name, ..] => name,
                _ if p == pid => "main",
                _ => "child",
            };
            (role.to_string(), procfs::pss_kib(p))
        })
        .collect();
    let listed: Vec<String> = each.iter().map(|(role, kib)| format!("{role} {kib} KiB")).collect();
    say(&format!("bench: {program} processes: {}", listed.join(", ")));
    let now = each.iter().map(|e| e.1).sum();
    let (services, dests) = ipvs.table().map(|t| (t.services.len(), t.dest_count())).unwrap_or_default();
    let f = Figures {
        pss: now,
        peak: peak.max(now),
        rss: pids.iter().map(|&p| procfs::rss_kib(p)).sum(),
        processes: pids.len(),
        cpu: cpu1.saturating_sub(cpu0) as f64 / dt, // ticks are 1/100 s: per second, a percentage
        checks: n1.saturating_sub(n0) as f64 / dt,
        services,
        dests,
    };
    stop(&mut child, &pids);
    let log = std::fs::read_to_string(format!("/tmp/{program}.log")).unwrap_or_default();
    for l in log.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev() {
        say(&format!("{program} log: {l}"));
    }
    let _ = std::fs::remove_file(format!("/tmp/{program}.log"));
    let _ = ipvs.flush();
    Ok(f)
}

/// SIGTERM, up to 60 s to leave (keepalived takes its destinations out of
/// IPVS one by one), then SIGKILL to whatever of the tree is left.
fn stop(child: &mut Child, pids: &[u32]) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for &p in pids {
        let _ = kill(Pid::from_raw(p as i32), Signal::SIGKILL);
    }
    let _ = child.wait();
}

/// A syslog socket that takes keepalived's lines and drops them: without
/// one, glibc's syslog writes them to /dev/console (LOG_CONS), a serial
/// line that would cost keepalived dearly under TCG (`-l` logs them to
/// stderr too).
pub fn syslog_sink() {
    match std::os::unix::net::UnixDatagram::bind("/dev/log") {
        Ok(log) => {
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while log.recv(&mut buf).is_ok() {}
            });
        }
        Err(e) => say(&format!("test-server: /dev/log: {e}")),
    }
}
