//! PID 1's boot sequence. Each step logs its failure and the boot carries on
//! degraded: an appliance with no NIC still gets a console.

mod mount;
mod netup;

use crate::clock;
use std::io::Write;
use std::time::Duration;
use tracing::{error, info, warn};
use vigil_board::{RUNTIME_PATH, Runtime};

pub fn run() -> ! {
    let started = clock::since_boot();
    // A stable line the boot benchmark reads: kernel start to /init.
    let _ = writeln!(
        std::io::stderr(),
        "vigil {}: /init started {} ms after kernel start",
        crate::VERSION,
        started.as_millis()
    );

    let failed_mounts = mount::mount_all();
    // Ctrl-Alt-Del becomes SIGINT to us instead of an instant reboot.
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        warn!("cannot hand Ctrl-Alt-Del to init: {e}");
    }

    let board = load_board();
    let hostname = board.as_ref().map_or("vigil", |b| b.hostname.as_str());
    if let Err(e) = nix::unistd::sethostname(hostname) {
        error!("sethostname({hostname}) failed: {e}");
    }
    // What the first advert needs (NIC and flash drivers) now; the rest on
    // a thread while the control plane reads the config and starts VRRP.
    let (first, rest) = match &board {
        Some(b) => b.modules.split_at(b.first.min(b.modules.len())),
        None => (&[][..], &[][..]),
    };
    let modules = crate::kmod::load_all("first", first);
    let nics: Vec<String> = board.as_ref().map(|b| b.nics.clone()).unwrap_or_default();
    let net = netup::bring_up(&nics);

    let problems = failed_mounts + modules.failed.len() + net.missing.len() + net.failed;
    // The ready line is printed by the control plane once the config is
    // loaded and the console answers.
    let rest = Some(rest.to_vec());
    crate::system::run_pid1(board, crate::boot::Boot { started, problems, rest })
}

fn load_board() -> Option<Runtime> {
    match std::fs::read(RUNTIME_PATH) {
        Ok(bytes) => match Runtime::decode(&bytes) {
            Ok(b) => {
                info!("board {} ({}), kernel {}", b.board, b.arch, b.kernel_release);
                Some(b)
            }
            Err(e) => {
                error!("{RUNTIME_PATH}: {e}; no modules loaded");
                None
            }
        },
        Err(e) => {
            warn!("{RUNTIME_PATH}: {e}; no modules loaded, bringing up every interface found");
            None
        }
    }
}

/// How long to wait for a board NIC whose driver probes asynchronously.
const NIC_WAIT: Duration = Duration::from_secs(3);
