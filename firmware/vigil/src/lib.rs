//! vigil: the whole userland of a router / load-balancer appliance.
//!
//! As PID 1 it boots the appliance (mounts, modules, interfaces) and then runs
//! the control plane. On an ordinary Linux host the same binary runs the
//! control plane without the init duties, so daemons can be tested in network
//! namespaces.

mod appliance;
mod balancer;
mod bfd;
mod boot;
mod bus;
mod checkers;
mod child;
mod clock;
mod commit;
mod config;
mod console;
mod disk;
mod init;
mod interfaces;
mod ipc;
mod kmod;
mod lb;
mod log;
mod mail;
mod metrics;
use vigil_net as net;
mod hook;
mod nft;
mod notify;
mod power;
mod program;
mod reap;
mod report;
mod slots;
mod status;
mod supervise;
mod syslog;
mod system;
mod terminal;
mod timesync;
mod update;
mod vrrp;
mod watchdog;

use std::io::Write;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The program: `vigil` and `vigil-debug` are this.
pub fn main() {
    let pid1 = std::process::id() == 1;
    // Hold the control signals pending until the event loop has handlers for
    // them: PID 1 has no default action for a signal without a handler, so
    // one sent during boot would otherwise be lost.
    power::hold_signals();
    // A child is told its supervisor's epoch (kernel start under PID 1).
    clock::set_epoch(pid1);
    log::init();
    if pid1 {
        power::install_panic_hook();
        init::run()
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("run") => {
            // vigil run [--flash FILE]: FILE holds the config, as flash does on a board.
            let flash = match args.iter().position(|a| a == "--flash") {
                Some(i) => match args.get(i + 1) {
                    Some(f) => Some(std::path::PathBuf::from(f)),
                    None => {
                        let _ = writeln!(std::io::stderr(), "vigil: --flash needs a file");
                        std::process::exit(2);
                    }
                },
                None => None,
            };
            let conf =
                args.iter().position(|a| a == "--config").and_then(|i| args.get(i + 1)).map(std::path::PathBuf::from);
            system::run_host(flash, conf)
        }
        Some("child") if let Some(role) = args.get(1).and_then(|r| ipc::Role::parse(r)) => child::main(role),
        Some("version" | "--version" | "-V") => {
            let _ = writeln!(std::io::stdout(), "vigil {VERSION}");
        }
        Some(other) => {
            let _ = writeln!(
                std::io::stderr(),
                "vigil: unknown command {other:?}\nusage: vigil [run [--flash FILE | --config keepalived.conf] | version]"
            );
            std::process::exit(2);
        }
    }
}
