//! `vigil run` on an ordinary host (here a network namespace): the control
//! plane without the init duties. It must leave the host's hostname and
//! clock alone (a network namespace does not isolate either), and a
//! SIGTERM stops it: it resigns and exits, even with its console (stdin)
//! open and silent, as under a service manager.

use std::process::{Command, Stdio};
use std::time::Duration;
use vigil_tests::vrrp_pair::{KillOnDrop, Netns, ip, pid_in, wait_log};
use vigil_tests::{firmware, is_root, require};

const CONF: &str = "vigil_defs {\n hostname not-this-host\n time_server 127.0.0.1\n}\n\
    vrrp_instance VI_1 {\n interface eth0\n version 3\n virtual_router_id 7\n priority 100\n advert_int 0.2\n\
    virtual_ipaddress {\n  203.0.113.100/24\n }\n}\n";

/// What vigil runs: a keepalived.conf, or a config flash file (empty at
/// first: the test loads a config at the console).
enum Config<'a> {
    Conf(&'a str),
    Flash,
}

/// `bin` (vigil, or the test-only build) in a fresh namespace `name` with
/// eth0 (203.0.113.1/24) on a veth pair, in a UTS namespace of its own (so
/// that, wrong, it would rename that namespace and not this machine), stdin
/// open and silent. Returns the namespace, the log's path and the process.
fn start_with(name: &str, bin: std::path::PathBuf, config: Config) -> (Netns, std::path::PathBuf, KillOnDrop) {
    let dir = vigil_tests::test_dir(name);
    let ns = Netns::fresh(name);
    ip(&["-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"]);
    for l in ["eth0", "peer0"] {
        ip(&["-n", &ns, "link", "set", l, "up"]);
    }
    ip(&["-n", &ns, "addr", "add", "203.0.113.1/24", "dev", "eth0"]);
    let (how, file) = match config {
        Config::Conf(text) => {
            let conf = dir.join("vigil.conf");
            std::fs::write(&conf, text).unwrap();
            ("--config", conf)
        }
        Config::Flash => ("--flash", dir.join("flash.img")),
    };
    let log = dir.join("vigil.log");
    let child = Command::new("unshare")
        .args(["--uts", "ip", "netns", "exec", &ns])
        .arg(bin)
        .args(["run", how])
        .arg(file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (ns, log, KillOnDrop(child))
}

/// The firmware with [`CONF`].
fn start(name: &str) -> (Netns, std::path::PathBuf, KillOnDrop) {
    start_with(name, firmware(vigil_board::Arch::X86_64), Config::Conf(CONF))
}

#[test]
fn host_mode_leaves_the_hostname_and_the_clock_alone() {
    if !require(is_root(), "root (network and UTS namespaces)") {
        return;
    }
    let (_ns, log, vigil) = start("host-mode-names");
    let (_, _) = wait_log(&log, 0, "VI_1: BACKUP -> MASTER");
    let pid = vigil.0.id().to_string();
    let out = Command::new("nsenter").args(["-t", &pid, "--uts", "hostname"]).output().unwrap();
    let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let ours = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    assert_eq!(theirs, ours, "host mode renamed the host");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("hostname set to"), "{text}");
    assert!(text.contains("time: host mode: the host keeps the clock"), "{text}");
    assert!(!text.contains("time: 127.0.0.1"), "host mode asked a time server:\n{text}");
    // The VRRP child's lines count from its supervisor's start: its first
    // is stamped after the supervisor's line that started it.
    let stamp = |line: &str| -> f64 {
        let inner = line.trim_start().strip_prefix('[').and_then(|l| l.split(']').next()).unwrap_or("");
        inner.trim().parse().unwrap_or_else(|_| panic!("no stamp: {line:?}"))
    };
    let started = text.lines().find(|l| l.contains("supervise: vrrp child started")).expect("the child started");
    let first = text.lines().find(|l| l.contains("vrrp_instance VI_1: on eth0")).expect("the child's first line");
    assert!(stamp(first) >= stamp(started), "the child's stamps count from elsewhere:\n{text}");
}

#[test]
fn sigterm_stops_host_mode_with_the_console_open() {
    if !require(is_root(), "root (network and UTS namespaces)") {
        return;
    }
    let (_ns, log, mut vigil) = start("host-mode-term");
    let (_, vrrp) = wait_log(&log, 0, "supervise: vrrp child started (pid ");
    let (_, checkers) = wait_log(&log, 0, "supervise: checkers child started (pid ");
    let (at, _) = wait_log(&log, 0, "VI_1: BACKUP -> MASTER");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(vigil.0.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    wait_log(&log, at, "vigil: stopping");
    let mut status = None;
    vigil_tests::eventually(Duration::from_secs(10), || {
        status = vigil.0.try_wait().unwrap();
        status.is_some()
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.is_some(), "still running 10 s after it said it stops (stdin open):\n{text}");
    assert!(status.unwrap().success(), "{status:?}\n{text}");
    assert!(text.contains("VI_1: MASTER -> "), "it resigned first:\n{text}");
    // Its children went with it (none left running, reparented).
    for line in [vrrp, checkers] {
        let pid = pid_in(&line);
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "));
        assert!(!alive, "{line}: still running");
    }
}

/// Commits made while the VRRP child cannot take them (stopped: its socket
/// fills and its supervisor waits) are not lost: once it runs again it
/// runs the newest. (Each config went into a queue of four with
/// `try_send`; when it was full the config was dropped, and as the running
/// config had already been replaced, no later commit sent it again.)
#[test]
fn commits_while_the_vrrp_child_is_stopped_are_not_lost() {
    use std::io::Write;
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let (_ns, log, mut vigil) = start_with("host-mode-commits", firmware(vigil_board::Arch::X86_64), Config::Flash);
    let mut stdin = vigil.0.stdin.take().unwrap();
    // Enough instances that a few configs fill the child's socket.
    let mut conf = String::from("vigil_defs {\n heartbeat_limit_ms 60000\n}\n");
    for i in 1..=150 {
        conf += &format!(
            "vrrp_instance VI_{i} {{\n interface eth0\n version 3\n virtual_router_id {i}\n priority 100\n advert_int 1\n\
             virtual_ipaddress {{\n  10.77.{i}.1/24\n }}\n}}\n"
        );
    }
    write!(stdin, "load keepalived\n{conf}end\ncommit\n").unwrap();
    let (at, line) = wait_log(&log, 0, "supervise: vrrp child started (pid ");
    let pid = pid_in(&line) as i32;
    let (at, _) = wait_log(&log, at, "vrrp_instance VI_150: on eth0");
    // Stopped: it reads nothing more, and its socket fills.
    let current = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(current, nix::sys::signal::Signal::SIGSTOP).unwrap();
    for k in 1..=30 {
        writeln!(stdin, "set vrrp_instance VI_1 priority {}\ncommit", 100 + k).unwrap();
    }
    let (_, _) = wait_log(&log, at, "config: generation 31 committed");
    nix::sys::signal::kill(current, nix::sys::signal::Signal::SIGCONT).unwrap();
    wait_log(&log, at, "vrrp_instance VI_1: on eth0 from 203.0.113.1, vrid 1, priority 130");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("vrrp child started (pid").count(), 1, "the child was restarted:\n{text}");
}

/// PID 1's loop held up (`debug stall 3`, as a long commit holds it: an
/// fsync, a big IPVS reconcile) longer than the heartbeat limit: the
/// children answered meanwhile, and none is killed for it. (The deadline
/// fired as the loop came back, before the answers waiting in the
/// children's sockets were read.)
#[test]
fn a_held_up_event_loop_does_not_kill_healthy_children() {
    use std::io::Write;
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let (_ns, log, mut vigil) =
        start_with("host-mode-held", vigil_tests::debug_firmware(vigil_board::Arch::X86_64), Config::Flash);
    let mut stdin = vigil.0.stdin.take().unwrap();
    let conf = "vigil_defs {\n heartbeat_ms 100\n heartbeat_limit_ms 1000\n}\n\
        vrrp_instance VI_1 {\n interface eth0\n version 3\n virtual_router_id 9\n priority 100\n advert_int 0.2\n\
        virtual_ipaddress {\n  203.0.113.100/24\n }\n}\n";
    write!(stdin, "load keepalived\n{conf}end\ncommit\n").unwrap();
    let (_, line) = wait_log(&log, 0, "supervise: vrrp child started (pid ");
    let pid = pid_in(&line) as i32;
    let child = nix::unistd::Pid::from_raw(pid);
    let (mut at, _) = wait_log(&log, 0, "supervise: vrrp heartbeats every 100 ms, limit 1000 ms");
    // Each round: the child stops answering for a moment (so that a
    // heartbeat is outstanding when the loop is held), the loop is held
    // 3 s, and the child answers during it.
    use nix::sys::signal::{Signal, kill};
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(500));
        let _ = kill(child, Signal::SIGSTOP);
        std::thread::sleep(Duration::from_millis(250));
        writeln!(stdin, "debug stall 3").unwrap();
        at = wait_log(&log, at, "debug stall 3: the event loop stops for 3 s").0;
        std::thread::sleep(Duration::from_millis(300));
        let _ = kill(child, Signal::SIGCONT);
        // (What the command prints goes to the console, not the log.)
        std::thread::sleep(Duration::from_secs(3));
    }
    std::thread::sleep(Duration::from_secs(1));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("missed its heartbeats"), "a healthy child was killed:\n{text}");
    assert_eq!(text.matches("vrrp child started (pid").count(), 1, "{text}");
}

/// Adverts for a VRID no instance runs (keepalived next door, VRID 9) are
/// counted and logged (RFC 5798 7.1 says SHOULD log), and `show vrrp` gives
/// the drops by reason, not only their total.
#[test]
fn adverts_for_other_vrids_are_counted_logged_and_shown_by_reason() {
    use std::io::Write;
    if !require(is_root(), "root (network namespaces)")
        || !require(vigil_tests::have_program("keepalived"), "keepalived (apt-get install keepalived)")
    {
        return;
    }
    let dir = vigil_tests::test_dir("host-mode-strays");
    // keepalived in a namespace of its own: a packet from an address of
    // the receiver's own namespace would be dropped as a martian.
    let ns = Netns::fresh("host-mode-strays");
    let kns = Netns::fresh("host-mode-strays-ka");
    ip(&["link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", "peer0", "netns", &kns]);
    ip(&["-n", &ns, "link", "set", "eth0", "up"]);
    ip(&["-n", &kns, "link", "set", "peer0", "up"]);
    ip(&["-n", &ns, "addr", "add", "203.0.113.1/24", "dev", "eth0"]);
    ip(&["-n", &kns, "addr", "add", "203.0.113.2/24", "dev", "peer0"]);
    let kconf = dir.join("keepalived.conf");
    std::fs::write(
        &kconf,
        "vrrp_instance K {\n interface peer0\n version 3\n virtual_router_id 9\n priority 100\n advert_int 0.1\n\
         virtual_ipaddress {\n  203.0.113.109/24\n }\n}\n\
         vrrp_instance M {\n interface peer0\n version 3\n virtual_router_id 7\n priority 50\n advert_int 0.2\n\
         virtual_ipaddress {\n  203.0.113.107/24\n }\n}\n",
    )
    .unwrap();
    let _ka = KillOnDrop(vigil_tests::vrrp_pair::spawn_keepalived(&kns, &kconf, &dir, "ka"));
    let conf = dir.join("vigil.conf");
    std::fs::write(
        &conf,
        "vrrp_instance VI_1 {\n interface eth0\n version 3\n virtual_router_id 7\n priority 100\n advert_int 0.2\n\
         virtual_ipaddress {\n  203.0.113.100/24\n }\n}\n",
    )
    .unwrap();
    let log = dir.join("vigil.log");
    let console = dir.join("console.txt");
    let mut vigil = KillOnDrop(vigil_tests::vrrp_pair::spawn_vigil_with_console(&ns, &conf, &log, Some(&console)));
    wait_log(&log, 0, "WARN vrrp: advert from 203.0.113.2 on eth0 for VRID 9: no instance here runs it; dropped");
    std::thread::sleep(Duration::from_secs(2));
    let mut stdin = vigil.0.stdin.take().unwrap();
    writeln!(stdin, "show vrrp").unwrap();
    vigil_tests::eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&console).unwrap_or_default().contains("adverts for VRIDs no instance runs")
    });
    let shown = std::fs::read_to_string(&console).unwrap_or_default();
    let stray =
        shown.lines().find(|l| l.contains("adverts for VRIDs no instance runs")).unwrap_or_else(|| panic!("{shown}"));
    let n: u64 = stray.split(": ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    assert!(n >= 10, "{stray}");
    assert!(stray.starts_with("eth0 (IPv4): ") && stray.ends_with("(the last: VRID 9 from 203.0.113.2)"), "{stray}");
    // VRID 7 from keepalived names another address: dropped, and said why.
    let mut vi = String::new();
    vigil_tests::eventually_every(Duration::from_secs(10), Duration::from_millis(500), || {
        let text = std::fs::read_to_string(&console).unwrap_or_default();
        vi = text.lines().rev().find(|l| l.starts_with("VI_1 eth0 vrid 7")).unwrap_or_default().to_string();
        let done = vi.contains("other virtual addresses)");
        if !done {
            writeln!(stdin, "show vrrp").unwrap();
        }
        done
    });
    assert!(vi.contains(" other virtual addresses)") && vi.contains("dropped "), "{vi}");
    // A flood of log lines is held back: far fewer lines than adverts.
    let logged = std::fs::read_to_string(&log).unwrap().matches("no instance here runs it").count() as u64;
    assert!(logged < n, "{logged} log lines for {n} adverts");
    // The same, for automation: one line of JSON each.
    let mut seen = 0;
    let mut json = |topic: &str| {
        let key = if topic == "vrrp" { "instances" } else { "children" };
        vigil_tests::vrrp_pair::show_json(&mut stdin, &console, &mut seen, topic, key, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("no JSON for show {topic}"))
    };
    let v = json("vrrp");
    let vi = &v["instances"][0];
    assert_eq!((vi["name"].as_str(), vi["vrid"].as_u64()), (Some("VI_1"), Some(7)), "{v}");
    assert!(vi["dropped"]["addresses"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(v["strays"][0]["count"].as_u64().unwrap_or(0) >= 10, "{v}");
    let s = json("supervision");
    let names: Vec<&str> = s["children"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["vrrp", "checkers", "bfd"], "{s}");
    assert!(s["children"].as_array().unwrap().iter().all(|c| c["up"] == true && c["restarts"] == 0), "{s}");
}

/// A new `vmac_addr_prefix` alone makes a running instance's address vmacs
/// again under the new name (the instance's own settings are unchanged).
#[test]
fn a_new_vmac_addr_prefix_renames_the_address_vmacs() {
    use std::io::Write;
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let (ns, log, mut vigil) = start_with("host-mode-vmac-prefix", firmware(vigil_board::Arch::X86_64), Config::Flash);
    ip(&["-n", &ns, "link", "add", "vx-b", "type", "veth", "peer", "name", "vx-peer"]);
    for l in ["vx-b", "vx-peer"] {
        ip(&["-n", &ns, "link", "set", l, "up"]);
    }
    let mut stdin = vigil.0.stdin.take().unwrap();
    let conf = |prefix: &str| {
        format!(
            "global_defs {{\n vmac_addr_prefix {prefix}\n}}\nvrrp_instance VI_1 {{\n interface eth0\n version 3\n virtual_router_id 51\n\
             priority 150\n advert_int 0.2\n use_vmac_addr\n virtual_ipaddress {{\n  203.0.113.100/24\n  198.51.100.100/24 dev vx-b\n }}\n}}\n"
        )
    };
    let link = |name: &str| -> String {
        let out = Command::new("ip").args(["-n", &ns, "-br", "addr", "show", name]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    write!(stdin, "load keepalived\n{}end\ncommit\n", conf("vx")).unwrap();
    let made = vigil_tests::eventually(Duration::from_secs(10), || link("vx.51").contains("198.51.100.100/24"));
    assert!(made.is_some(), "no vx.51 with the address: {}", link("vx.51"));
    write!(stdin, "load keepalived\n{}end\ncommit\n", conf("vy")).unwrap();
    let renamed = vigil_tests::eventually(Duration::from_secs(10), || {
        link("vy.51").contains("198.51.100.100/24") && link("vx.51").is_empty()
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(renamed.is_some(), "vy.51: {:?}, vx.51: {:?}\n{text}", link("vy.51"), link("vx.51"));
}
