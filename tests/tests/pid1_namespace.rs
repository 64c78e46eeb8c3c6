//! vigil as PID 1 of fresh pid/mount/uts/net namespaces on the host: it
//! mounts, brings up lo, reaps orphans re-parented to it, and turns signals
//! into power actions through reboot(2) (which, in a pid namespace, ends the
//! namespace: power off and halt kill its init with SIGINT, reboot with SIGHUP).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};
use vigil_board::Arch;
use vigil_tests::{firmware, have_program, is_root, require};

struct Pid1 {
    unshare: Child,
    lines: Receiver<String>,
    log: Vec<String>,
}

impl Pid1 {
    fn start() -> Option<Pid1> {
        if !require(is_root(), "root (namespaces)") || !require(have_program("unshare"), "unshare (util-linux)") {
            return None;
        }
        let fw = firmware(Arch::X86_64);
        let mut unshare = Command::new("unshare")
            .args(["--pid", "--fork", "--mount", "--uts", "--net", "--kill-child", "--"])
            .arg(&fw)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare");
        let err = unshare.stderr.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        let mut p = Pid1 { unshare, lines: rx, log: Vec::new() };
        p.expect("vigil: ready in ");
        Some(p)
    }

    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.log.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; vigil said:\n{}", self.log.join("\n")),
            }
        }
    }

    /// vigil's pid as the host sees it: unshare's only child.
    fn host_pid(&self) -> i32 {
        let path = format!("/proc/{0}/task/{0}/children", self.unshare.id());
        let text = std::fs::read_to_string(&path).unwrap();
        text.split_whitespace().next().expect("vigil is running").parse().unwrap()
    }

    /// Runs a shell inside vigil's namespaces (its parent is outside them,
    /// so what it leaves behind is re-parented to vigil), and in its root
    /// directory (`-r`: the same on a host, and right when the tests run in
    /// a chroot, as `ci/fresh --full` does).
    fn sh(&self, script: &str) -> String {
        let out = Command::new("nsenter")
            .args(["-t", &self.host_pid().to_string(), "-r", "-p", "-m", "-u", "-n", "--", "/bin/sh", "-c", script])
            .output()
            .expect("nsenter");
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.host_pid()), sig).unwrap();
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.unshare.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "the namespace did not end");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pid1 {
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

/// unshare re-raises the signal that killed its child, or exits 128+signal.
fn ended_by(st: std::process::ExitStatus, sig: i32) -> bool {
    st.signal() == Some(sig) || st.code() == Some(128 + sig)
}

#[test]
fn pid1_mounts_reaps_orphans_and_powers_off_on_sigterm() {
    let Some(mut p) = Pid1::start() else { return };
    // Mounted in its own mount namespace, hostname set in its own UTS one.
    let mounts = p.sh("cat /proc/self/mounts");
    for m in [" /proc proc ", " /sys sysfs ", " /dev devtmpfs ", " /run tmpfs ", " /tmp tmpfs "] {
        assert!(mounts.contains(m), "{m} not mounted:\n{mounts}");
    }
    assert_eq!(p.sh("cat /proc/sys/kernel/hostname"), "vigil");
    assert!(p.sh("cat /sys/class/net/lo/operstate; cat /sys/class/net/lo/flags").contains("0x9"), "lo is up");

    // An orphan: sh starts sleep in the background and exits; sleep's new parent is vigil.
    let orphan = p.sh("sleep 0.3 >/dev/null 2>&1 & echo $!");
    let line = p.expect(&format!("reaped pid {orphan}:"));
    assert!(line.contains("exited with status 0"), "{line}");

    // One that ignores SIGTERM is killed after the grace period.
    p.sh("(trap '' TERM; exec sleep 60) >/dev/null 2>&1 & true");
    p.signal(nix::sys::signal::Signal::SIGTERM);
    p.expect("vigil: powering off (SIGTERM)");
    p.expect("sending SIGKILL");
    p.expect("calling reboot(2)");
    let st = p.wait();
    assert!(ended_by(st, libc::SIGINT), "power off ends the namespace with SIGINT: {st:?}");
}

#[test]
fn pid1_reboots_on_sigint_and_powers_off_on_sigpwr() {
    let Some(mut p) = Pid1::start() else { return };
    p.signal(nix::sys::signal::Signal::SIGINT);
    p.expect("vigil: rebooting (SIGINT)");
    let st = p.wait();
    assert!(ended_by(st, libc::SIGHUP), "reboot ends the namespace with SIGHUP: {st:?}");

    let Some(mut p) = Pid1::start() else { return };
    p.signal(nix::sys::signal::Signal::SIGPWR);
    p.expect("vigil: powering off (SIGPWR)");
    // Nothing else runs: no grace period is waited out.
    let st = p.wait();
    assert!(ended_by(st, libc::SIGINT), "{st:?}");
    assert!(!p.log.iter().any(|l| l.contains("SIGKILL")), "{:?}", p.log);
}

#[test]
fn the_console_answers_in_host_mode() {
    // Host mode (not PID 1): the same binary, no init duties.
    let fw = firmware(Arch::X86_64);
    let mut child =
        Command::new(&fw).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "show system").unwrap();
    writeln!(stdin, "poweroff later").unwrap();
    drop(stdin);
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("mode host"), "{stdout}");
    assert!(stdout.contains("error: unexpected \"later\"; usage: poweroff [now]"), "{stdout}");
    assert!(stderr.contains("vigil: ready in") && stderr.contains("(host mode)"), "{stderr}");
    assert!(stderr.contains("vigil: stopping (SIGTERM)"), "{stderr}");
}

#[test]
fn a_console_nobody_reads_never_stalls_the_loop() {
    // Host mode with its console output a pipe that nobody reads: the
    // shell's answers fill the pipe, then the console queue, and the rest is
    // dropped. The event loop is not held up: it still takes SIGTERM, stops
    // the daemons and exits (it used to block in the write for good).
    let fw = firmware(Arch::X86_64);
    let mut child =
        Command::new(&fw).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let _unread = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let ready = Instant::now() + Duration::from_secs(20);
    while !lines.recv_timeout(ready.saturating_duration_since(Instant::now())).unwrap().contains("vigil: ready in") {}
    // About 1.5 MB of answers: far more than the pipe (64 KiB) and the
    // queue (256 KiB) hold.
    let mut stdin = child.stdin.take().unwrap();
    for _ in 0..3000 {
        writeln!(stdin, "show config").unwrap();
    }
    std::thread::sleep(Duration::from_secs(2));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("vigil did not stop on SIGTERM while its console was not read");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    drop(stdin);
}
