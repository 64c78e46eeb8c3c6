//! The checker runner in host mode (no IPVS here: the table part logs its
//! error, the checkers run all the same): a TCP_CHECK follows a port that
//! opens and closes, a MISC_CHECK follows a program's exit status (the
//! checkers child waits for its programs) including a dynamic weight, and
//! the real servers' notify_up/notify_down programs run.

use std::process::Command;
use vigil_tests::vrrp_pair::{KillOnDrop, Netns, spawn_vigil, wait_log};
use vigil_tests::{is_root, require};

#[test]
fn tcp_and_misc_checks_follow_their_servers() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("checkers-host");
    let ns = Netns::fresh("chk-host");
    // The MISC_CHECK program exits with whatever the file says.
    let code = dir.join("code");
    std::fs::write(&code, "0").unwrap();
    let script = dir.join("check.sh");
    std::fs::write(&script, format!("#!/bin/sh\nexit $(cat {})\n", code.display())).unwrap();
    let notify = dir.join("notify.log");
    let note = dir.join("note.sh");
    std::fs::write(&note, format!("#!/bin/sh\necho \"$@\" >> {}\n", notify.display())).unwrap();
    Command::new("chmod").arg("755").arg(&script).arg(&note).status().unwrap();
    let conf = dir.join("vigil.conf");
    std::fs::write(
        &conf,
        format!(
            "virtual_server 127.0.0.1 8080 {{\n delay_loop 1\n lb_algo rr\n protocol TCP\n\
             real_server 127.0.0.1 8081 {{\n  weight 1\n  notify_down \"{n} tcp-down\"\n  notify_up \"{n} tcp-up\"\n  TCP_CHECK {{\n   connect_timeout 1\n   retry 1\n  }}\n }}\n\
             real_server 127.0.0.1 8082 {{\n  weight 1\n  MISC_CHECK {{\n   misc_path \"{s}\"\n   misc_timeout 2\n   misc_dynamic\n   retry 1\n  }}\n }}\n}}\n",
            n = note.display(),
            s = script.display()
        ),
    )
    .unwrap();
    let log = dir.join("vigil.log");
    let vigil = KillOnDrop(spawn_vigil(&ns, &conf, &log));

    // Nothing listens on 8081: down; the program exits 0: up.
    wait_log(&log, 0, "virtual_server 127.0.0.1:8080: TCP_CHECK real server 127.0.0.1:8081: DOWN");
    // A listener in the namespace: up.
    let mut listener = Command::new("ip")
        .args(["netns", "exec", &ns, "python3", "-c"])
        .arg("import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',8081))\ns.listen(50)\nwhile True:\n  c,_=s.accept(); c.close()")
        .spawn()
        .unwrap();
    wait_log(&log, 0, "virtual_server 127.0.0.1:8080: TCP_CHECK real server 127.0.0.1:8081: UP");
    let _ = listener.kill();
    let _ = listener.wait();
    // The program says 1: down (keepalived: exit 1 is a failure).
    std::fs::write(&code, "1").unwrap();
    let (_, line) = wait_log(&log, 0, "virtual_server 127.0.0.1:8080: MISC_CHECK real server 127.0.0.1:8082: DOWN");
    assert!(line.contains("(exited with status 1)"), "{line}");
    // 2..=255 with misc_dynamic: up, weight code - 2.
    std::fs::write(&code, "7").unwrap();
    wait_log(&log, 0, "virtual_server 127.0.0.1:8080: MISC_CHECK real server 127.0.0.1:8082: UP");
    drop(vigil);
    drop(ns);
    let notes = std::fs::read_to_string(&notify).unwrap_or_default();
    assert!(notes.contains("tcp-down") && notes.contains("tcp-up"), "{notes:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(": waiting for it: "), "every program's exit status came back:\n{text}");
}

/// `omega`: as vigil stops, each up real server's notify_down runs, and
/// quorum_down while the quorum holds (keepalived: "on daemon shutdown
/// consider quorum and RS down notifiers for execution").
#[test]
fn omega_runs_the_down_programs_as_vigil_stops() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("checkers-omega");
    let ns = Netns::fresh("chk-omega");
    let (note, notify) = vigil_tests::recording_program(&dir, "note");
    let conf = dir.join("vigil.conf");
    let vs = |port: u16, omega: &str| {
        format!(
            "virtual_server 127.0.0.1 {port} {{\n delay_loop 1\n protocol TCP\n{omega} quorum_down \"{n} quorum-down {port}\"\n\
             real_server 127.0.0.1 8082 {{\n  notify_down \"{n} rs-down {port}\"\n  MISC_CHECK {{\n   misc_path /bin/true\n  }}\n }}\n}}\n",
            n = note.display()
        )
    };
    std::fs::write(&conf, format!("{}{}", vs(8080, " omega\n"), vs(8090, ""))).unwrap();
    let log = dir.join("vigil.log");
    let mut vigil = KillOnDrop(spawn_vigil(&ns, &conf, &log));
    // Servers start up (no alpha); a few rounds of checks that pass.
    wait_log(&log, 0, "checkers: 2 checks of 2 virtual servers");
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(!notify.exists(), "nothing ran yet");
    Command::new("kill").args(["-TERM", &vigil.0.id().to_string()]).status().unwrap();
    let _ = vigil.0.wait();
    let mut ran: Vec<String> =
        std::fs::read_to_string(&notify).unwrap_or_default().lines().map(str::to_string).collect();
    ran.sort();
    // Only the virtual server with omega.
    assert_eq!(ran, ["quorum-down 8080", "rs-down 8080"], "{}", std::fs::read_to_string(&log).unwrap_or_default());
    wait_log(&log, 0, "omega: 2 notify_down/quorum_down programs as the checkers stop");
}

/// keepalived's `startup_script` runs once before the daemons, and
/// `shutdown_script` once after they stopped; one that runs past its
/// timeout is killed with what it started, and vigil stops all the same.
#[test]
fn startup_and_shutdown_scripts_run_once_and_a_slow_one_is_killed() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("hook-scripts");
    let ns = Netns::fresh("hooks");
    let notes = dir.join("notes.log");
    let note = dir.join("note.sh");
    std::fs::write(&note, format!("#!/bin/sh\necho \"$@\" >> {}\n", notes.display())).unwrap();
    // Says it stops, then outlives its timeout (a marker argument finds
    // its sleep afterwards).
    let slow = dir.join("slow.sh");
    std::fs::write(&slow, format!("#!/bin/sh\necho stopping >> {}\nsleep 31.25\n", notes.display())).unwrap();
    Command::new("chmod").arg("755").arg(&note).arg(&slow).status().unwrap();
    let conf = dir.join("vigil.conf");
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n startup_script \"{} started\"\n shutdown_script {}\n shutdown_script_timeout 1\n}}\n",
            note.display(),
            slow.display()
        ),
    )
    .unwrap();
    let log = dir.join("vigil.log");
    let mut vigil = KillOnDrop(spawn_vigil(&ns, &conf, &log));
    wait_log(&log, 0, &format!("startup_script {}: done", note.display()));
    assert_eq!(std::fs::read_to_string(&notes).unwrap_or_default(), "started\n");
    let t = std::time::Instant::now();
    Command::new("kill").args(["-TERM", &vigil.0.id().to_string()]).status().unwrap();
    let _ = vigil.0.wait();
    let took = t.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("still running after 1 s; killed"), "{text}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap_or_default(), "started\nstopping\n");
    assert!(took < std::time::Duration::from_secs(20), "vigil waited for the slow script: {took:?}");
    let left = Command::new("pgrep").args(["-f", "sleep 31.25"]).output().unwrap();
    assert!(left.stdout.is_empty(), "the script's sleep outlived it: {}", String::from_utf8_lossy(&left.stdout));
    eprintln!("vigil stopped in {took:?} with a shutdown_script killed after its 1 s");
}

/// An HTTP_GET with keepalived's `regex` against a real web server (Python's
/// http.server in the namespace), from a `bind_port`, with
/// `log_all_failures`: a body that stops matching is said at each failed
/// check the retries absorb, then the real server goes down; it comes back
/// when the body matches again.
#[test]
fn http_regex_and_log_all_failures_follow_the_body() {
    if !require(is_root(), "root (network namespaces)") || !require(vigil_tests::have_program("python3"), "python3") {
        return;
    }
    let dir = vigil_tests::test_dir("checkers-regex");
    let ns = Netns::fresh("chk-regex");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("health"), "service: ok\n").unwrap();
    let mut web = KillOnDrop(
        Command::new("ip")
            .args(["netns", "exec", ns.0.as_str(), "python3", "-m", "http.server", "--bind", "127.0.0.1", "8085"])
            .current_dir(&www)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The server listens before vigil starts (its first checks would
    // otherwise find the port closed).
    let listening = vigil_tests::eventually(std::time::Duration::from_secs(10), || {
        Command::new("ip")
            .args(["netns", "exec", ns.0.as_str(), "python3", "-c"])
            .arg("import socket; socket.create_connection(('127.0.0.1', 8085), 1)")
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(listening.is_some(), "the web server did not start");
    let conf = dir.join("vigil.conf");
    std::fs::write(
        &conf,
        "virtual_server 127.0.0.1 80 {\n delay_loop 1\n protocol TCP\n real_server 127.0.0.1 8085 {\n  HTTP_GET {\n   url {\n    path /health\n\
         \x20   regex \"service: (ok|degraded)\"\n   }\n   http_protocol 1.1\n   bind_port 41234\n   retry 2\n   delay_before_retry 1\n\
         \x20  log_all_failures\n  }\n }\n}\n",
    )
    .unwrap();
    let log = dir.join("vigil.log");
    let _vigil = KillOnDrop(spawn_vigil(&ns, &conf, &log));
    wait_log(&log, 0, "checkers: 1 checks of 1 virtual servers");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let before = std::fs::read_to_string(&log).unwrap_or_default().len();
    std::fs::write(www.join("health"), "service: down\n").unwrap();
    let (at, line) = wait_log(&log, before, "check failed");
    assert!(
        line.contains("/health: body does not match \"service: (ok|degraded)\"") && line.contains("still up"),
        "{line}"
    );
    let (at, _) = wait_log(&log, at, "HTTP_GET real server 127.0.0.1:8085: DOWN");
    std::fs::write(www.join("health"), "service: degraded\n").unwrap();
    wait_log(&log, at, "HTTP_GET real server 127.0.0.1:8085: UP");
    let _ = web.0.kill();
}

/// `ha_suspend`: the checks of a virtual server whose address is not on
/// this system (a backup) wait; they run once the address comes (a closed
/// port then takes the real server down), and wait again when it goes.
#[test]
fn ha_suspend_holds_the_checks_until_the_address_is_here() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("checkers-suspend");
    let ns = Netns::fresh("chk-suspend");
    let conf = dir.join("vigil.conf");
    std::fs::write(
        &conf,
        "virtual_server 192.0.2.50 80 {\n delay_loop 1\n protocol TCP\n ha_suspend\n real_server 127.0.0.1 8086 {\n  TCP_CHECK {\n   connect_timeout 1\n  }\n }\n}\n",
    )
    .unwrap();
    let log = dir.join("vigil.log");
    let _vigil = KillOnDrop(spawn_vigil(&ns, &conf, &log));
    let (at, _) = wait_log(&log, 0, "checks suspended: its address is not on this system (ha_suspend)");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains("DOWN"), "a suspended check ran:\n{text}");
    let addr = |op: &str| {
        let st =
            Command::new("ip").args(["-n", ns.0.as_str(), "addr", op, "192.0.2.50/32", "dev", "lo"]).status().unwrap();
        assert!(st.success());
    };
    addr("add");
    let (at, _) = wait_log(&log, at, "checks resumed: its address is on this system (ha_suspend)");
    let (at, _) = wait_log(&log, at, "TCP_CHECK real server 127.0.0.1:8086: DOWN");
    addr("del");
    wait_log(&log, at, "checks suspended");
}

/// `rs_init_notifies`: as the checkers start, each real server's program
/// for the state it starts in runs (notify_up; with alpha, notify_down).
#[test]
fn rs_init_notifies_runs_the_starting_states_programs() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("checkers-init-notifies");
    let ns = Netns::fresh("chk-initn");
    let (note, notes) = vigil_tests::recording_program(&dir, "note");
    let conf = dir.join("vigil.conf");
    let rs = |port: u16, alpha: &str| {
        format!(
            " real_server 127.0.0.1 {port} {{\n{alpha}  notify_up \"{n} up {port}\"\n  notify_down \"{n} down {port}\"\n  MISC_CHECK {{\n   misc_path /bin/true\n  }}\n }}\n",
            n = note.display()
        )
    };
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n rs_init_notifies\n}}\nvirtual_server 127.0.0.1 80 {{\n delay_loop 30\n protocol TCP\n{}{}}}\n",
            rs(8081, ""),
            rs(8082, "  alpha\n")
        ),
    )
    .unwrap();
    let log = dir.join("vigil.log");
    let _vigil = KillOnDrop(spawn_vigil(&ns, &conf, &log));
    wait_log(&log, 0, "checkers: 2 checks of 1 virtual servers");
    let got = vigil_tests::eventually(std::time::Duration::from_secs(5), || {
        let mut l: Vec<String> =
            std::fs::read_to_string(&notes).unwrap_or_default().lines().map(str::to_string).collect();
        l.sort();
        // (The alpha server's first check comes within delay_loop, 30 s.)
        l == ["down 8082", "up 8081"]
    });
    assert!(got.is_some(), "{}", std::fs::read_to_string(&notes).unwrap_or_default());
}

/// FILE_CHECK, as keepalived reads it: a maintenance switch (weight 0: a
/// non-zero number takes the real server out, 0 brings it back, read
/// within a second) and a weighted one (the number times the weight added
/// to the real server's, never below 0); `init_file` creates the
/// file when no instance tracks it.
#[test]
fn file_checks_follow_their_files() {
    if !require(is_root(), "root (network namespaces)") {
        return;
    }
    let dir = vigil_tests::test_dir("checkers-file");
    let ns = Netns::fresh("chk-file");
    let (maint, load) = (dir.join("maint"), dir.join("load"));
    let conf = dir.join("vigil.conf");
    std::fs::write(
        &conf,
        format!(
            "vrrp_track_file maint {{\n file {m}\n weight 0\n init_file 0\n}}\n\
             vrrp_track_file load {{\n file {l}\n}}\n\
             virtual_server 127.0.0.1 8080 {{\n delay_loop 60\n protocol TCP\n\
             real_server 127.0.0.1 8081 {{\n  weight 5\n  FILE_CHECK {{\n   track_file maint\n  }}\n }}\n\
             real_server 127.0.0.1 8082 {{\n  weight 10\n  FILE_CHECK {{\n   track_file load\n   weight -2\n  }}\n }}\n}}\n",
            m = maint.display(),
            l = load.display()
        ),
    )
    .unwrap();
    std::fs::write(&load, "1\n").unwrap();
    let log = dir.join("vigil.log");
    let _vigil = KillOnDrop(spawn_vigil(&ns, &conf, &log));
    let (at, _) = wait_log(&log, 0, "FILE_CHECK real server 127.0.0.1:8082: weight 8");
    assert_eq!(std::fs::read_to_string(&maint).unwrap(), "0\n", "init_file did not create it");
    std::fs::write(&maint, "1\n").unwrap();
    let (at, line) = wait_log(&log, at, "FILE_CHECK real server 127.0.0.1:8081: DOWN");
    assert!(line.contains("(the file holds 1)"), "{line}");
    std::fs::write(&maint, "0\n").unwrap();
    let (at, _) = wait_log(&log, at, "FILE_CHECK real server 127.0.0.1:8081: UP");
    std::fs::write(&load, "4\n").unwrap();
    let (at, _) = wait_log(&log, at, "FILE_CHECK real server 127.0.0.1:8082: weight 2");
    std::fs::write(&load, "9\n").unwrap();
    wait_log(&log, at, "FILE_CHECK real server 127.0.0.1:8082: weight 0");
}
