//! What the console shell reaches on PID 1's loop: `show` topics and the
//! test-only `debug` commands. (Commits and the flash go to the config
//! thread: [`crate::commit`].)

use crate::status::{Registry, read_or_explain};
#[cfg(feature = "debug-commands")]
use nix::sys::signal::Signal;
#[cfg(feature = "debug-commands")]
use std::time::Duration;
use tracing::warn;
use vigil_board::Runtime;
use vigil_config::Config;

/// PID 1 owns the system (hostname, clock, modules, watchdog); host mode
/// (`vigil run`) leaves them to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pid1,
    Host,
}

/// What the shell reaches on PID 1's loop (commits and flash go to the
/// config thread: [`crate::commit`]).
pub struct Appliance {
    /// Each applied config, as published for the children.
    pub bus: std::sync::Arc<crate::bus::Bus>,
    /// The supervised daemons (`debug kill` in test builds).
    #[cfg_attr(not(feature = "debug-commands"), allow(dead_code))]
    pub supervision: crate::supervise::Children,
    /// The firmware slots (`debug trial` in test builds).
    #[cfg_attr(not(feature = "debug-commands"), allow(dead_code))]
    pub slots: std::rc::Rc<std::cell::RefCell<crate::slots::Slots>>,
    /// The newest generation on flash (the config thread keeps it).
    pub newest: crate::commit::Newest,
    pub location: String,
    pub registry: Registry,
}

impl Appliance {
    /// The config running now.
    pub fn applied(&self) -> std::sync::Arc<Config> {
        self.bus.newest().config
    }

    pub fn status(&mut self, topic: &str, json: bool) -> Option<String> {
        if json && let Some(j) = self.registry.json(topic) {
            return Some(j);
        }
        let mut text = self.registry.get(topic)?;
        if topic == "system" {
            // The config's place on flash, and the wall clock.
            let newest = *self.newest.lock().unwrap_or_else(|p| p.into_inner());
            match newest {
                Some((g, slot)) => {
                    text.push_str(&format!("\nconfig generation {g} in slot {slot} of {}", self.location))
                }
                None => text.push_str(&format!("\nconfig embedded default (flash: {})", self.location)),
            }
            text.push_str(&format!("\nclock {}", crate::clock::utc_now()));
            if let Some(t) = self.registry.get("time") {
                text.push_str(&format!("\n{t}"));
            }
        }
        Some(if json { crate::status::lines_json(&text) } else { text })
    }
    pub fn status_topics(&self) -> Vec<String> {
        self.registry.topics()
    }
    /// `debug stall [SECONDS]`: PID 1 stops turning its event loop (for
    /// good: the watchdog test; or for a while, as a long commit would);
    /// `debug kill`: a child dies; `debug trial`: a slot on trial at the
    /// next boot (the updater's last step, for the boot tests).
    #[cfg(feature = "debug-commands")]
    pub fn debug(&mut self, args: &[String]) -> Option<String> {
        match args.first().map(String::as_str) {
            Some("stall") => match args.get(1).and_then(|s| s.parse::<u64>().ok()) {
                // As a long commit (fsync, a big IPVS reconcile) would.
                Some(secs) => {
                    warn!("debug stall {secs}: the event loop stops for {secs} s");
                    std::thread::sleep(Duration::from_secs(secs.min(60)));
                    Some(format!("debug: the event loop was held {secs} s"))
                }
                None => {
                    warn!("debug stall: the event loop stops here; the watchdog should reset the board");
                    loop {
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                }
            },
            Some("kill") => {
                let role = args.get(1).and_then(|r| crate::ipc::Role::parse(r));
                let Some(pid) = role.and_then(|r| self.supervision.pid(r)) else {
                    return Some("debug: kill vrrp|checkers [KILL|STOP]".into());
                };
                let sig = match args.get(2).map(String::as_str) {
                    Some("STOP") => Signal::SIGSTOP,
                    _ => Signal::SIGKILL,
                };
                let name = role.map_or("", |r| r.name());
                match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig) {
                    Ok(()) => Some(format!("debug: {sig} sent to the {name} child (pid {pid})")),
                    Err(e) => Some(format!("debug: kill {pid}: {e}")),
                }
            }
            Some("trial") => {
                let slot = match args.get(1).map(String::as_str) {
                    Some("a") => vigil_bootenv::ab::Slot::A,
                    Some("b") => vigil_bootenv::ab::Slot::B,
                    _ => return Some("debug: trial a|b TRIES".into()),
                };
                let tries = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(3);
                Some(match self.slots.borrow_mut().start_trial(slot, tries) {
                    Ok(text) | Err(text) => format!("debug: {text}"),
                })
            }
            _ => Some("debug: stall [SECONDS] | kill vrrp|checkers [KILL|STOP] | trial a|b TRIES".into()),
        }
    }

    #[cfg(not(feature = "debug-commands"))]
    pub fn debug(&mut self, _args: &[String]) -> Option<String> {
        None
    }
}

/// Salt for a console password: from the kernel, or the clock if it fails.
pub fn random_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    if let Err(e) = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut salt)) {
        warn!("/dev/urandom: {e}; salting from the clock");
        let t = crate::clock::since_boot().as_nanos().to_le_bytes();
        salt.copy_from_slice(&t);
    }
    salt
}

pub fn registry(mode: Mode, board: Option<Runtime>, slot: impl Fn() -> String + 'static) -> Registry {
    let mut r = Registry::default();
    r.add("system", move || format!("{}\nslot {}", show_system(mode, board.as_ref()), slot()));
    r.add_off_loop("interfaces", show_interfaces);
    r.add_off_loop("modules", || {
        read_or_explain("/proc/modules", |t| {
            t.lines().map(|l| l.split(' ').next().unwrap_or("")).collect::<Vec<_>>().join("\n")
        })
    });
    r.add_off_loop("ipvs", crate::lb::show);
    r.add_off_loop("ipvs-sync", crate::lb::show_sync);
    r.add_off_loop("ipvs-kernel", || read_or_explain("/proc/net/ip_vs", |t| t.trim_end().to_string()));
    r.add_off_loop("log", || crate::log::recent(50).join("\n"));
    r
}

fn show_system(mode: Mode, board: Option<&Runtime>) -> String {
    let host = crate::config::hostname();
    let kernel = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let up = crate::clock::since_boot();
    let board = board.map_or("none", |b| b.board.as_str());
    format!(
        "vigil {}\nhostname {host}\nboard {board}\nkernel {kernel}\nuptime {}.{:03} s\nmode {}",
        crate::VERSION,
        up.as_secs(),
        up.subsec_millis(),
        if mode == Mode::Pid1 { "init" } else { "host" }
    )
}

fn show_interfaces() -> String {
    let mut rtnl = match crate::net::Rtnl::open() {
        Ok(r) => r,
        Err(e) => return format!("error: rtnetlink: {e}"),
    };
    let links = match rtnl.links() {
        Ok(l) => l,
        Err(e) => return format!("error: rtnetlink: {e}"),
    };
    let all = rtnl.all_addresses().unwrap_or_default();
    let mut out = Vec::new();
    for l in links {
        out.push(l.to_string());
        for &(_, a, p) in all.iter().filter(|a| a.0 == l.index) {
            out.push(format!("    inet{} {a}/{p}", if a.is_ipv6() { "6" } else { "" }));
        }
    }
    out.join("\n")
}
