//! vigil: the whole userland of a router / load-balancer appliance.
//!
//! As PID 1 it boots the appliance (mounts, modules, interfaces) and then runs
//! the control plane. On an ordinary Linux host the same binary runs the
//! control plane without the init duties, so daemons can be tested in network
//! namespaces.

mod clock;
mod console;
mod init;
mod log;
mod net;
mod power;
mod reap;
mod system;

use std::io::Write;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn main() {
    let pid1 = std::process::id() == 1;
    // Hold the control signals pending until the event loop has handlers for
    // them: PID 1 has no default action for a signal without a handler, so
    // one sent during boot would otherwise be lost.
    power::hold_signals();
    clock::set_epoch(pid1);
    log::init();
    if pid1 {
        power::install_panic_hook();
        init::run()
    }
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        None | Some("run") => system::run_host(),
        Some("version" | "--version" | "-V") => {
            let _ = writeln!(std::io::stdout(), "vigil {VERSION}");
        }
        Some(other) => {
            let _ = writeln!(
                std::io::stderr(),
                "vigil: unknown command {other:?}\nusage: vigil [run | version]"
            );
            std::process::exit(2);
        }
    }
}
