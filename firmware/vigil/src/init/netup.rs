//! Bringing up lo and the board's NICs, with multicast (VRRP needs it).

use super::NIC_WAIT;
use crate::net::{Link, Rtnl};
use std::time::Instant;
use tracing::{error, info, warn};

#[derive(Debug, Default)]
pub struct Report {
    pub missing: Vec<String>,
    pub failed: usize,
}

const UP: u32 = libc::IFF_UP as u32;
const MULTICAST: u32 = libc::IFF_MULTICAST as u32;

/// With no board NICs named, every non-loopback link is brought up.
pub fn bring_up(nics: &[String]) -> Report {
    let mut report = Report::default();
    let mut rtnl = match Rtnl::open() {
        Ok(r) => r,
        Err(e) => {
            error!("rtnetlink: {e}: no interfaces brought up");
            report.failed += 1;
            return report;
        }
    };
    let start = Instant::now();
    let links = loop {
        let links = match rtnl.links() {
            Ok(l) => l,
            Err(e) => {
                error!("rtnetlink: listing links: {e}");
                report.failed += 1;
                return report;
            }
        };
        let all_present = nics.iter().all(|n| links.iter().any(|l| &l.name == n));
        if all_present || start.elapsed() >= NIC_WAIT {
            break links;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };

    for link in &links {
        let wanted = if link.name == "lo" {
            Some(UP)
        } else if nics.is_empty() || nics.contains(&link.name) {
            Some(UP | MULTICAST)
        } else {
            None
        };
        let Some(flags) = wanted else { continue };
        if let Err(e) = rtnl.set_flags(link.index, flags, flags) {
            error!("{}: cannot set up: {e}", link.name);
            report.failed += 1;
        }
    }
    for nic in nics {
        if !links.iter().any(|l| &l.name == nic) {
            error!("{nic}: board NIC not found (waited {} ms)", NIC_WAIT.as_millis());
            report.missing.push(nic.clone());
        }
    }
    // Read back what the kernel now holds, so the log shows facts, not intent.
    match rtnl.links() {
        Ok(after) => {
            for l in after.iter().filter(|l| l.name == "lo" || nics.is_empty() || nics.contains(&l.name)) {
                log_link(l);
            }
        }
        Err(e) => warn!("rtnetlink: re-reading links: {e}"),
    }
    report
}

fn log_link(l: &Link) {
    if l.name != "lo" && !l.is_multicast() {
        warn!("net: {l} has no multicast: VRRP will not work on it");
    } else if l.is_up() {
        info!("net: {l}");
    } else {
        warn!("net: {l} is still down");
    }
}
