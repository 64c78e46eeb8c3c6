//! Loading kernel modules with finit_module(2), in the order the image tool
//! resolved (dependencies first): the boot's first set (init), the rest in
//! the background (the control plane), schedulers on demand (the balancer).

use nix::errno::Errno;
use nix::kmod::{ModuleInitFlags, finit_module};
use std::ffi::CString;
use std::fs::File;
use std::time::Instant;
use tracing::{debug, info, warn};
use vigil_board::ModuleLoad;

#[derive(Debug, Default)]
pub struct Report {
    pub loaded: usize,
    pub already: usize,
    /// Drivers for hardware this machine does not have (ENODEV): a board
    /// for many machines lists drivers for all of them.
    pub absent: Vec<String>,
    pub failed: Vec<(String, String)>,
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Loaded,
    AlreadyLoaded,
    /// The driver found none of its hardware.
    NoHardware,
}

fn load_one(m: &ModuleLoad) -> Result<Outcome, String> {
    let file = File::open(&m.path).map_err(|e| format!("cannot open {}: {e}", m.path))?;
    let params = CString::new(m.params.as_str()).map_err(|_| "parameters contain a NUL byte".to_string())?;
    match finit_module(&file, &params, ModuleInitFlags::empty()) {
        Ok(()) => Ok(Outcome::Loaded),
        Err(Errno::EEXIST) => Ok(Outcome::AlreadyLoaded),
        Err(Errno::ENODEV) => Ok(Outcome::NoHardware),
        Err(e) => Err(explain(e)),
    }
}

/// What a finit_module error usually means, for the operator.
fn explain(e: Errno) -> String {
    let hint = match e {
        Errno::ENODEV => "no such hardware on this board",
        Errno::ENOENT => "a dependency or symbol is missing (see the kernel log)",
        Errno::ENOEXEC => "not a module for this kernel",
        Errno::EINVAL => "invalid module or parameters",
        Errno::EPERM => "not permitted (lacking CAP_SYS_MODULE, or module loading is locked)",
        Errno::EKEYREJECTED | Errno::EBADMSG => "signature rejected",
        _ => "",
    };
    if hint.is_empty() { e.to_string() } else { format!("{e}: {hint}") }
}

/// Loads every module; each failure is logged by name and the rest continue.
/// `what` names the batch in the log.
pub fn load_all(what: &str, modules: &[ModuleLoad]) -> Report {
    let start = Instant::now();
    let mut report = Report::default();
    for m in modules {
        match load_one(m) {
            Ok(Outcome::Loaded) => {
                debug!("module {} loaded", m.name);
                report.loaded += 1;
            }
            Ok(Outcome::AlreadyLoaded) => {
                debug!("module {} already loaded", m.name);
                report.already += 1;
            }
            Ok(Outcome::NoHardware) => report.absent.push(m.name.clone()),
            Err(why) => {
                warn!("module {} failed to load: {why}", m.name);
                report.failed.push((m.name.clone(), why));
            }
        }
    }
    let absent = if report.absent.is_empty() {
        String::new()
    } else {
        format!(", {} for hardware not here ({})", report.absent.len(), report.absent.join(", "))
    };
    info!(
        "modules ({what}): {} loaded, {} already present, {} failed{absent} in {} ms",
        report.loaded,
        report.already,
        report.failed.len(),
        start.elapsed().as_millis()
    );
    report
}

/// Loads `modules` on a thread of the lowest priority (what the first VRRP
/// advert needs runs meanwhile, ahead of it); the report comes when all are in.
pub fn load_in_background(modules: Vec<ModuleLoad>) -> tokio::sync::oneshot::Receiver<Report> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let theirs = modules.clone();
    let spawned = std::thread::Builder::new().name("modules".into()).spawn(move || {
        // SAFETY: setpriority only reads its integer arguments; on Linux
        // PRIO_PROCESS with who = 0 is the calling thread alone.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) } != 0 {
            debug!("modules: setpriority: {}", std::io::Error::last_os_error());
        }
        let _ = tx.send(load_all("rest", &theirs));
    });
    match spawned {
        Ok(_) => rx,
        Err(e) => {
            // The closure (and its sender) is gone: report on a new channel.
            warn!("modules: no thread ({e}); loading them in line");
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _ = tx.send(load_all("rest", &modules));
            rx
        }
    }
}

/// Loads a module on demand: its chain in order (dependencies first); one
/// already loaded is fine. Stops at the first failure.
pub fn load_chain(chain: &[ModuleLoad]) -> Result<(), String> {
    for m in chain {
        match load_one(m) {
            Ok(Outcome::Loaded) => info!("module {} loaded on demand", m.name),
            Ok(Outcome::AlreadyLoaded) => {}
            Ok(Outcome::NoHardware) => return Err(format!("module {}: {}", m.name, explain(Errno::ENODEV))),
            Err(why) => return Err(format!("module {}: {why}", m.name)),
        }
    }
    Ok(())
}

/// IPVS is the reason this appliance exists: say plainly whether the kernel has it.
pub fn report_ipvs() {
    match std::fs::read_to_string("/proc/net/ip_vs") {
        Ok(text) => info!("ipvs: {}", text.lines().next().unwrap_or("present")),
        Err(e) => warn!("ipvs: /proc/net/ip_vs: {e}: load balancing unavailable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_a_hint() {
        assert!(explain(Errno::ENODEV).contains("no such hardware"));
        assert!(explain(Errno::ENOENT).contains("dependency"));
        assert_eq!(explain(Errno::EIO), Errno::EIO.to_string());
    }

    #[test]
    fn a_missing_file_is_reported_with_its_path() {
        let m = ModuleLoad { name: "nope".into(), path: "/nonexistent/nope.ko".into(), params: String::new() };
        let err = load_one(&m).unwrap_err();
        assert!(err.contains("/nonexistent/nope.ko"), "{err}");
        let report = load_all("test", &[m]);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].0, "nope");
    }
}
