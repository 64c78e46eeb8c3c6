//! The control plane's event loop, shared by PID 1 and host mode: signals,
//! child reaping and the console. Later subsystems (supervision, VRRP,
//! checkers) plug in here.

use crate::console::{self, Command};
use crate::power::{self, Action};
use crate::reap;
use nix::sys::signal::Signal;
use std::io::Write;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};
use vigil_board::Runtime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pid1,
    Host,
}

struct Context {
    mode: Mode,
    board: Option<Runtime>,
}

/// PID 1: runs until a power action, then shuts down. Never returns.
pub fn run_pid1(board: Option<Runtime>) -> ! {
    let ctx = Context {
        mode: Mode::Pid1,
        board,
    };
    match runtime() {
        Ok(rt) => match rt.block_on(event_loop(&ctx)) {
            Ok((action, why)) => power::shutdown(action, &why),
            Err(e) => error!("event loop failed: {e}"),
        },
        Err(e) => error!("cannot start the runtime: {e}"),
    }
    // Degraded: no runtime. Keep reaping so the system does not fill with zombies.
    loop {
        reap::reap_all();
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Host mode: the same control plane without the init duties; a signal stops it.
pub fn run_host() {
    let ctx = Context {
        mode: Mode::Host,
        board: None,
    };
    let _ = writeln!(
        std::io::stderr(),
        "vigil: ready in {} ms (host mode)",
        crate::clock::since_epoch().as_millis()
    );
    let result = runtime().and_then(|rt| rt.block_on(event_loop(&ctx)));
    match result {
        Ok((_, why)) => {
            let _ = writeln!(std::io::stderr(), "vigil: stopping ({why})");
        }
        Err(e) => {
            error!("{e}");
            std::process::exit(1);
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

async fn event_loop(ctx: &Context) -> std::io::Result<(Action, String)> {
    let mut sigchld = signal(SignalKind::child())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigpwr = signal(SignalKind::from_raw(libc::SIGPWR))?;
    let mut sigusr1 = signal(SignalKind::user_defined1())?;
    let mut sigusr2 = signal(SignalKind::user_defined2())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut console = Some(BufReader::new(tokio::io::stdin()).lines());
    // Handlers are in place: what arrived since boot is delivered now.
    power::release_signals();
    // Children may have exited before the handler was installed.
    reap::reap_all();
    prompt(ctx);
    loop {
        let sig = tokio::select! {
            _ = sigchld.recv() => { reap::reap_all(); continue; }
            _ = sighup.recv() => { info!("SIGHUP: nothing to reload yet"); continue; }
            _ = sigterm.recv() => Signal::SIGTERM,
            _ = sigint.recv() => Signal::SIGINT,
            _ = sigpwr.recv() => Signal::SIGPWR,
            _ = sigusr1.recv() => Signal::SIGUSR1,
            _ = sigusr2.recv() => Signal::SIGUSR2,
            line = next_line(&mut console) => {
                match line {
                    Some(line) => {
                        if let Some(action) = execute_line(ctx, &line) {
                            return Ok((action, "console".into()));
                        }
                        prompt(ctx);
                    }
                    None => { console = None; }
                }
                continue;
            }
        };
        if let Some(action) = Action::for_signal(sig) {
            return Ok((action, sig.as_str().to_string()));
        }
    }
}

type Lines = tokio::io::Lines<BufReader<tokio::io::Stdin>>;

/// The next console line; pends forever once the console is gone.
async fn next_line(console: &mut Option<Lines>) -> Option<String> {
    match console {
        Some(lines) => match lines.next_line().await {
            Ok(Some(l)) => Some(l),
            Ok(None) => None,
            Err(e) => {
                warn!("console read failed: {e}; console closed");
                None
            }
        },
        None => std::future::pending().await,
    }
}

fn prompt(ctx: &Context) {
    if ctx.mode == Mode::Pid1 {
        let mut out = std::io::stdout();
        let _ = write!(out, "vigil> ");
        let _ = out.flush();
    }
}

fn execute_line(ctx: &Context, line: &str) -> Option<Action> {
    let mut out = std::io::stdout();
    let text = match console::parse(line) {
        Err(e) => format!("error: {e}"),
        Ok(Command::Nothing) => return None,
        Ok(Command::Help) => console::HELP.to_string(),
        Ok(Command::PowerOff) => return Some(Action::PowerOff),
        Ok(Command::Reboot) => return Some(Action::Reboot),
        Ok(Command::Halt) => return Some(Action::Halt),
        Ok(Command::ShowSystem) => show_system(ctx),
        Ok(Command::ShowInterfaces) => show_interfaces(),
        Ok(Command::ShowModules) => read_or_explain("/proc/modules", |t| {
            t.lines()
                .map(|l| l.split(' ').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n")
        }),
        Ok(Command::ShowIpvs) => read_or_explain("/proc/net/ip_vs", |t| t.trim_end().to_string()),
    };
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
    None
}

fn read_or_explain(path: &str, f: impl Fn(&str) -> String) -> String {
    match std::fs::read_to_string(path) {
        Ok(t) => f(&t),
        Err(e) => format!("error: {path}: {e}"),
    }
}

fn show_system(ctx: &Context) -> String {
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let up = crate::clock::since_boot();
    let board = ctx.board.as_ref().map_or("none", |b| b.board.as_str());
    format!(
        "vigil {}\nhostname {host}\nboard {board}\nkernel {kernel}\nuptime {}.{:03} s\nmode {}",
        crate::VERSION,
        up.as_secs(),
        up.subsec_millis(),
        if ctx.mode == Mode::Pid1 {
            "init"
        } else {
            "host"
        }
    )
}

fn show_interfaces() -> String {
    match crate::net::Rtnl::open().and_then(|mut r| r.links()) {
        Ok(links) => links
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("error: rtnetlink: {e}"),
    }
}
