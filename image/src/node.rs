//! A running QEMU node: its process, its serial console (logged to a file and
//! searchable for lines), and its QMP socket.

use crate::build::Image;
use crate::qemu;
pub use crate::qemu::NodeSpec;
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct ConsoleBuf {
    text: String,
    closed: bool,
}

/// What the node printed on its console so far, shared with the reader thread.
#[derive(Clone, Default)]
struct Shared(Arc<(Mutex<ConsoleBuf>, Condvar)>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, ConsoleBuf> {
        self.0.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct Node {
    pub spec: NodeSpec,
    pub name: String,
    child: Child,
    console: UnixStream,
    shared: Shared,
    /// Where in the console text the next `expect` starts.
    cursor: usize,
    pub started: Instant,
    pub log_path: PathBuf,
}

impl Node {
    /// Starts QEMU and connects to its console. QEMU waits for that
    /// connection before it runs the guest, so no output is lost.
    pub fn start(img: &Image, spec: NodeSpec) -> Result<Node> {
        std::fs::create_dir_all(&spec.dir)?;
        for s in [spec.console_socket(), spec.qmp_socket(), spec.net_socket()] {
            let _ = std::fs::remove_file(s);
        }
        let name = format!("node{}", spec.index);
        let mut cmd = qemu::command(img, &spec)?;
        let qemu_log = std::fs::File::create(spec.dir.join("qemu.log"))?;
        cmd.stdin(Stdio::null()).stdout(qemu_log.try_clone()?).stderr(qemu_log);
        // SAFETY: the closure runs in the forked child before exec and only
        // calls prctl(2), which is async-signal-safe. It makes the kernel kill
        // QEMU if the thread that started it dies, so a crashed test run
        // leaves no QEMU behind.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
        let console = match connect_console(&spec.console_socket(), &mut child) {
            Ok(c) => c,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(spec.dir.join("qemu.log")).unwrap_or_default();
                return Err(e.context(format!("{name}: QEMU said: {}", log.trim())));
            }
        };
        let log_path = spec.dir.join("console.log");
        let shared = Shared::default();
        {
            let mut reader = console.try_clone()?;
            let shared = shared.clone();
            let mut log = std::fs::File::create(&log_path)?;
            std::thread::Builder::new().name(format!("{name}-console")).spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let n = reader.read(&mut buf).unwrap_or(0);
                    let (m, cv) = &*shared.0;
                    let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
                    if n == 0 {
                        g.closed = true;
                        cv.notify_all();
                        return;
                    }
                    let _ = log.write_all(&buf[..n]);
                    g.text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    cv.notify_all();
                }
            })?;
        }
        Ok(Node { spec, name, child, console, shared, cursor: 0, started, log_path })
    }

    /// Waits until a console line contains `needle` (after the previous
    /// match) and returns that line.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.shared.0;
        let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(pos) = g.text[self.cursor..].find(needle) {
                let at = self.cursor + pos;
                let start = g.text[..at].rfind('\n').map_or(0, |i| i + 1);
                // The whole line, once it has arrived; a prompt ("vigil> ")
                // has no newline and is taken as it stands.
                let end = g.text[at..].find('\n').map(|i| at + i);
                if end.is_some() || needle.ends_with("> ") || g.closed {
                    let end = end.unwrap_or(g.text.len());
                    self.cursor = at + needle.len();
                    return Ok(g.text[start..end].trim_end_matches('\r').to_string());
                }
            }
            let now = Instant::now();
            if g.closed || now >= deadline {
                let why = if g.closed { "console closed (QEMU exited)" } else { "timed out" };
                bail!(
                    "{}: {why} after {:?} waiting for {needle:?}; console log {}; last lines:\n{}",
                    self.name,
                    timeout,
                    self.log_path.display(),
                    tail(&g.text, 25)
                );
            }
            g = cv.wait_timeout(g, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Waits for the firmware's ready line and returns the ms it reports.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<u64> {
        let line = self.expect("vigil: ready in ", timeout)?;
        // The console prompt follows once the control plane runs: commands
        // typed before it would be echoed ahead of it.
        self.expect("vigil> ", timeout)?;
        parse_ms_after(&line, "ready in ").with_context(|| format!("unparseable ready line {line:?}"))
    }

    /// Types a line at the console.
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        self.console.write_all(line.as_bytes())?;
        self.console.write_all(b"\r")?;
        Ok(())
    }

    /// Runs a console command and returns what it printed up to the next prompt.
    /// The console echoes what is typed, so the output starts after the echo
    /// (which also skips any prompt still unread).
    pub fn command(&mut self, line: &str, timeout: Duration) -> Result<String> {
        self.send_line(line)?;
        // A log line that came while the line was typed clears it, prints
        // itself and draws the typed part again: the output follows the
        // last drawing, the one Enter ends.
        // The echo ends with Enter's "\r": a log line that merely contains
        // the words (`commit` in "committed") is not it.
        loop {
            self.expect(&format!("{line}\r"), timeout)?;
            let g = self.shared.lock();
            if !g.text[self.cursor..].starts_with("\x1b[K") {
                break;
            }
        }
        let start = self.cursor;
        self.expect("vigil> ", timeout)?;
        let g = self.shared.lock();
        let out = &g.text[start..self.cursor - "vigil> ".len()];
        // Log lines of what the command did come before its output: they
        // are not the output (`console_text` has them).
        let out: Vec<&str> = out.split('\n').filter(|l| !is_log_line(l)).collect();
        Ok(out.join("\n").replace('\r', "").trim_start_matches('\n').to_string())
    }

    /// Console text after byte offset `pos`, and the new offset (for tools
    /// that stream a node's console).
    pub fn output_since(&self, pos: usize) -> (String, usize) {
        let g = self.shared.lock();
        let pos = pos.min(g.text.len());
        (g.text[pos..].to_string(), g.text.len())
    }

    /// Everything the console printed so far.
    pub fn console_text(&self) -> String {
        self.shared.lock().text.clone()
    }

    /// QEMU's monitor. QEMU makes its socket after the console's (which it
    /// waits on), so a node just started may not have it yet: up to 5 s.
    pub fn qmp(&self) -> Result<crate::qmp::Qmp> {
        let t = Instant::now();
        loop {
            match crate::qmp::Qmp::connect(&self.spec.qmp_socket()) {
                Err(_) if t.elapsed() < Duration::from_secs(5) => std::thread::sleep(Duration::from_millis(20)),
                other => return other,
            }
        }
    }

    /// Waits for QEMU to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            if Instant::now() >= deadline {
                bail!("{}: QEMU still running after {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills QEMU at once (a power cut).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn connect_console(path: &Path, child: &mut Child) -> Result<UnixStream> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(s) = UnixStream::connect(path) {
            return Ok(s);
        }
        if let Some(st) = child.try_wait()? {
            bail!("QEMU exited ({st}) before its console was up");
        }
        if Instant::now() >= deadline {
            bail!("QEMU's console {} did not appear", path.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The number after `key` in a line such as `vigil: ready in 341 ms`.
pub fn parse_ms_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A log line as the console prints it: `[    5.386]  INFO ...` (after a
/// redraw's clear, if any).
pub fn is_log_line(line: &str) -> bool {
    let l = line.trim_start_matches('\r').trim_start_matches("\x1b[K");
    let Some(rest) = l.strip_prefix('[') else { return false };
    let Some((stamp, tail)) = rest.split_once(']') else { return false };
    stamp.trim().parse::<f64>().is_ok()
        && ["INFO ", "WARN ", "ERROR ", "DEBUG "].iter().any(|lv| tail.trim_start().starts_with(lv))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ms_figures_are_read_from_lines() {
        let l = "vigil: ready in 341 ms (2878 ms after kernel start)";
        assert_eq!(super::parse_ms_after(l, "ready in "), Some(341));
        assert_eq!(super::parse_ms_after(l, "("), Some(2878));
        assert_eq!(super::parse_ms_after(l, "nope"), None);
    }

    #[test]
    fn log_lines_are_told_from_output() {
        assert!(super::is_log_line("[    5.386]  INFO supervise: checkers child started (pid 86)"));
        assert!(super::is_log_line("\r\x1b[K[   12.001]  WARN module x failed"));
        assert!(!super::is_log_line("VI_1 eth0 vrid 51 MASTER priority 100"));
        assert!(!super::is_log_line("[console: 12 bytes of output were dropped]"));
    }
}
