//! Adding and removing an instance's virtual addresses (rtnetlink), and
//! `no_accept`'s guard around them (nf_tables).

use super::io::Io;
use crate::net::Rtnl;
use tracing::{info, warn};

/// Adds (or removes) every virtual address on its interface: the vmac, the
/// instance's interface, or the address's own `dev`. Said once per
/// interface: 32 lines per takeover drowned the console.
pub fn change(io: &Io, add: bool) {
    let mut rtnl = match Rtnl::open() {
        Ok(x) => x,
        Err(e) => return warn!("rtnetlink: {e}"),
    };
    let (home, home_index) = match &io.vmac {
        Some(v) => (v.name.as_str(), v.index),
        None => (io.conf.interface.as_str(), io.ifindex),
    };
    let mut done: Vec<(String, Vec<String>)> = Vec::new();
    for vip in &io.conf.virtual_ipaddress {
        let dev = vip.dev.as_deref().unwrap_or(home);
        let index = if dev == home {
            home_index
        } else {
            match rtnl.links().ok().and_then(|l| l.into_iter().find(|l| l.name == dev)) {
                Some(l) => l.index,
                None => {
                    warn!("no interface {dev} for {}", vip.addr);
                    continue;
                }
            }
        };
        let label = vip.label.as_deref().map(|l| (l, vip.brd));
        match rtnl.change_address_labelled(index, vip.addr.addr, vip.addr.prefix, label, add) {
            Ok(()) => match done.iter_mut().find(|(d, _)| d == dev) {
                Some((_, list)) => list.push(vip.addr.to_string()),
                None => done.push((dev.to_string(), vec![vip.addr.to_string()])),
            },
            // Already there (adding) or already gone (removing): the goal holds.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::EADDRNOTAVAIL)) => {}
            Err(e) => warn!("{} {}: {e}", if add { "adding" } else { "removing" }, vip.addr),
        }
    }
    for (dev, list) in done {
        let shown = match list.len() {
            0..=4 => list.join(", "),
            n => format!("{}, ... ({n} addresses)", list[..3].join(", ")),
        };
        info!("{} {shown} on {dev}", if add { "added" } else { "removed" });
    }
}

/// `no_accept` (RFC 5798 Accept_Mode false): unless this router owns the
/// addresses (priority 255), packets to them are dropped while it holds
/// them. The rules go in before the addresses and come out after them.
pub fn guard(io: &Io, no_accept: &mut crate::nft::NoAccept, on: bool) {
    if io.conf.accept || io.conf.priority == 255 {
        return;
    }
    let vips = io.conf.virtual_ipaddress.iter().map(|v| v.addr.addr);
    match no_accept.set(vips, on) {
        Ok(()) => info!(
            "no_accept: {} packets to its addresses ({} guarded in nf_tables table {})",
            if on { "dropping" } else { "no longer dropping" },
            no_accept.guarded().len(),
            crate::nft::TABLE
        ),
        Err(e) => warn!("no_accept: nf_tables: {e}"),
    }
}
