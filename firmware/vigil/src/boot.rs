//! What the boot sequence hands the control plane: when /init started,
//! what failed, the modules left to load; and the ready line.

use crate::appliance::Mode;
use std::time::Duration;
use tracing::error;
use vigil_config::Config;

/// What the boot sequence reports for the ready line.
pub struct Boot {
    /// When /init started (since kernel start).
    pub started: Duration,
    /// Failed boot steps (mounts, modules, NICs).
    pub problems: usize,
    /// The modules left to load once VRRP has started (None once loaded).
    pub rest: Option<Vec<vigil_board::ModuleLoad>>,
}

impl Boot {
    /// Loads the rest of the modules on a thread and waits for them (once;
    /// later calls return at once), then says whether IPVS is there.
    pub async fn modules_loaded(&mut self) {
        let Some(rest) = self.rest.take() else { return };
        if !rest.is_empty() {
            match crate::kmod::load_in_background(rest).await {
                Ok(report) => self.problems += report.failed.len(),
                Err(_) => error!("modules: the loader ended without a report"),
            }
        }
        crate::kmod::report_ipvs();
    }
}

/// What in a config needs modules that load after the first ones: VLANs
/// (8021q), use_vmac and address vmacs (macvlan), use_ipvlan (ipvlan),
/// no_accept (nf_tables).
pub fn needs_all_modules(c: &Config) -> bool {
    c.interfaces.iter().any(|i| !i.vlans.is_empty())
        || c.vrrp_instances
            .iter()
            .any(|v| v.vmac.is_some() || v.ipvlan.is_some() || !v.address_vmacs().is_empty() || !v.accept)
}

pub fn print_ready(mode: Mode, boot: Option<&Boot>) {
    let now = crate::clock::since_boot();
    let line = match (mode, boot) {
        (Mode::Pid1, Some(b)) => format!(
            "vigil: ready in {} ms ({} ms after kernel start){}",
            now.saturating_sub(b.started).as_millis(),
            now.as_millis(),
            if b.problems > 0 { format!(", degraded: {} problems", b.problems) } else { String::new() }
        ),
        _ => format!("vigil: ready in {} ms (host mode)", crate::clock::since_epoch().as_millis()),
    };
    crate::console::write(crate::console::Stream::Err, format!("{line}\n").as_bytes());
}
