//! The control plane's event loop, shared by PID 1 and host mode: signals,
//! child reaping, the config and the console shell. Later subsystems
//! (supervision, VRRP, checkers) plug in here.

use crate::config::{self, Location};
use crate::power::{self, Action};
use crate::reap;
use crate::status::{Registry, read_or_explain};
use crate::terminal;
use nix::sys::signal::Signal;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};
use vigil_board::Runtime;
use vigil_config::Config;
use vigil_config::store::{FileFlash, Store};
use vigil_shell::session::Power;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pid1,
    Host,
}

/// What the shell reaches the appliance through.
pub struct Appliance {
    store: Option<Store<FileFlash>>,
    /// Each applied config, published once: the supervisors of the VRRP
    /// child, the checkers and the updater take their parts from it.
    bus: crate::bus::Bus,
    /// The watchdog settings, to the event loop that owns the device.
    watchdog: tokio::sync::watch::Sender<vigil_config::Watchdog>,
    /// IPVS and the checkers: new configs are reconciled into the kernel's table.
    lb: std::rc::Rc<std::cell::RefCell<crate::lb::Balancer>>,
    /// The supervised daemons (`debug kill` in test builds).
    #[cfg_attr(not(feature = "debug-commands"), allow(dead_code))]
    supervision: crate::supervise::Children,
    /// The firmware slots (`debug trial` in test builds).
    #[cfg_attr(not(feature = "debug-commands"), allow(dead_code))]
    slots: std::rc::Rc<std::cell::RefCell<crate::slots::Slots>>,
    /// The config last applied (what vigil set up in the kernel), shared
    /// with the balancer and the checkers' supervisor.
    applied: std::sync::Arc<Config>,
    location: String,
    registry: Registry,
    /// PID 1 owns the system (hostname); host mode leaves it to the host.
    mode: Mode,
}

impl Appliance {
    /// Makes `config` (generation `g`) the running one: on the bus for the
    /// children (VRRP, checkers, updater) and their heartbeats; the
    /// watchdog, the hostname and interfaces, IPVS. Returns what could not
    /// be applied.
    fn apply_live(&mut self, config: std::sync::Arc<Config>, g: u64) -> Vec<String> {
        let previous = std::mem::replace(&mut self.applied, config.clone());
        self.bus.publish(config.clone(), g);
        self.watchdog.send_if_modified(|w| std::mem::replace(w, config.global.watchdog.clone()) != *w);
        let applied = config::apply(&previous, &config, self.mode == Mode::Pid1);
        let checkers = crate::bus::Part::Checkers.generation(&self.bus.newest());
        let balanced = self.lb.borrow_mut().configure(&config, checkers).map_err(|e| format!("ipvs: {e}"));
        [applied, balanced.map(drop)].into_iter().filter_map(Result::err).collect()
    }
}

impl vigil_shell::session::System for Appliance {
    /// Validate (the shell did), write, apply. If applying fails, the config
    /// that was running is written again as the newest generation and
    /// applied again, so flash never holds, as its newest, a config the
    /// operator was told did not take effect (Junos' commit semantics).
    fn commit(&mut self, config: &Config, unconfirmed: bool) -> Result<u64, String> {
        let Some(store) = self.store.as_mut() else {
            return Err("no flash to write the config to".into());
        };
        let g = store.commit(config, unconfirmed).map_err(|e| e.to_string())?;
        info!("config: generation {g} committed to {}", self.location);
        let previous = self.applied.clone();
        let problems = self.apply_live(std::sync::Arc::new(config.clone()), g);
        if problems.is_empty() {
            return Ok(g);
        }
        let failed = format!("applying generation {g} failed: {}", problems.join("; "));
        error!("config: {failed}");
        let Some(store) = self.store.as_mut() else {
            return Err(failed);
        };
        let restored = match store.commit(&previous, false) {
            Ok(g2) => {
                let again = self.apply_live(previous, g2);
                if again.is_empty() {
                    format!("the running config is written back as generation {g2} and applied again")
                } else {
                    format!(
                        "the running config is written back as generation {g2}, but applying it again failed too: {}",
                        again.join("; ")
                    )
                }
            }
            Err(e) => format!("writing the running config back failed too ({e}): the next boot runs generation {g}"),
        };
        warn!("config: {restored}");
        Err(format!("{failed}; {restored}"))
    }
    fn history(&mut self) -> Vec<u64> {
        self.store.as_mut().map(|s| s.history().into_iter().map(|h| h.0).collect()).unwrap_or_default()
    }
    fn load_generation(&mut self, generation: u64) -> Result<Config, String> {
        match self.store.as_mut() {
            Some(s) => s.load_generation(generation).map_err(|e| e.to_string()),
            None => Err("no flash".into()),
        }
    }
    fn status(&mut self, topic: &str) -> Option<String> {
        let mut text = self.registry.get(topic)?;
        if topic == "system" {
            // The config's place on flash, and the wall clock.
            let newest = self.store.as_mut().and_then(|s| s.history().first().copied());
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
        Some(text)
    }
    fn status_topics(&self) -> Vec<String> {
        self.registry.topics()
    }
    /// `debug stall [SECONDS]`: PID 1 stops turning its event loop (for
    /// good: the watchdog test; or for a while, as a long commit would);
    /// `debug kill`: a child dies; `debug trial`: a slot on trial at the
    /// next boot (the updater's last step, for the boot tests).
    #[cfg(feature = "debug-commands")]
    fn debug(&mut self, args: &[String]) -> Option<String> {
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

    fn random_salt(&mut self) -> [u8; 16] {
        random_salt()
    }
}

/// Salt for a console password: from the kernel, or the clock if it fails.
fn random_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    if let Err(e) = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut salt)) {
        warn!("/dev/urandom: {e}; salting from the clock");
        let t = crate::clock::since_boot().as_nanos().to_le_bytes();
        salt.copy_from_slice(&t);
    }
    salt
}

fn registry(mode: Mode, board: Option<Runtime>, slot: impl Fn() -> String + 'static) -> Registry {
    let mut r = Registry::default();
    r.add("system", move || format!("{}\nslot {}", show_system(mode, board.as_ref()), slot()));
    r.add("interfaces", show_interfaces);
    r.add("modules", || {
        read_or_explain("/proc/modules", |t| {
            t.lines().map(|l| l.split(' ').next().unwrap_or("")).collect::<Vec<_>>().join("\n")
        })
    });
    r.add("ipvs", crate::lb::show);
    r.add("ipvs-sync", crate::lb::show_sync);
    r.add("ipvs-kernel", || read_or_explain("/proc/net/ip_vs", |t| t.trim_end().to_string()));
    r.add("log", || crate::log::recent(50).join("\n"));
    r
}

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
    async fn modules_loaded(&mut self) {
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
/// (8021q), use_vmac (macvlan), no_accept (nf_tables).
fn needs_all_modules(c: &Config) -> bool {
    c.interfaces.iter().any(|i| !i.vlans.is_empty()) || c.vrrp_instances.iter().any(|v| v.use_vmac || !v.accept)
}

fn print_ready(mode: Mode, boot: Option<&Boot>) {
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

/// PID 1: runs until a power action, then shuts down. Never returns.
pub fn run_pid1(board: Option<Runtime>, boot: Boot) -> ! {
    // A board that names no flash device (a PC): the disk with vigil's
    // partitions, once its driver has found it.
    let board = board.map(|mut b| {
        crate::disk::resolve(&mut b, Duration::from_secs(10));
        b
    });
    let location = board.as_ref().and_then(Location::for_board);
    match runtime() {
        Ok(rt) => match rt.block_on(event_loop(Mode::Pid1, board, location, Some(boot))) {
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

/// Host mode: the same control plane without the init duties; a signal or
/// `poweroff` stops it. `flash`: a file that holds the config.
pub fn run_host(flash: Option<std::path::PathBuf>, conf: Option<std::path::PathBuf>) {
    let result = runtime().and_then(|rt| {
        rt.block_on(event_loop(Mode::Host, None, conf.map(Location::Conf).or(flash.map(Location::File)), None))
    });
    match result {
        Ok((_, why)) => {
            crate::console::write(crate::console::Stream::Err, format!("vigil: stopping ({why})\n").as_bytes());
            crate::console::flush(Duration::from_secs(2));
        }
        Err(e) => {
            error!("{e}");
            std::process::exit(1);
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

fn action(p: Power) -> Action {
    match p {
        Power::PowerOff => Action::PowerOff,
        Power::Reboot => Action::Reboot,
        Power::Halt => Action::Halt,
    }
}

async fn event_loop(
    mode: Mode,
    board: Option<Runtime>,
    location: Option<Location>,
    mut boot: Option<Boot>,
) -> std::io::Result<(Action, String)> {
    let mut sigchld = signal(SignalKind::child())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigpwr = signal(SignalKind::from_raw(libc::SIGPWR))?;
    let mut sigusr1 = signal(SignalKind::user_defined1())?;
    let mut sigusr2 = signal(SignalKind::user_defined2())?;
    let mut sighup = signal(SignalKind::hangup())?;
    // Handlers are in place: what arrived since boot is delivered now.
    power::release_signals();
    // Children may have exited before the handler was installed.
    reap::reap_all();

    let (running, flash) = config::load(location);
    // Which firmware slot booted, and why; a slot on trial waits for its
    // health gate (checked below, once the loop turns).
    let cmdline = match mode {
        Mode::Pid1 => std::fs::read_to_string("/proc/cmdline").unwrap_or_default(),
        Mode::Host => String::new(),
    };
    let slots = std::rc::Rc::new(std::cell::RefCell::new(crate::slots::Slots::at_boot(
        board.as_ref(),
        &cmdline,
        running.global.update_confirm_s,
    )));
    let from_flash = flash.from_flash;
    if needs_all_modules(&running)
        && let Some(b) = boot.as_mut()
    {
        b.modules_loaded().await;
    }
    if let Err(e) = config::apply(&Config::default(), &running, mode == Mode::Pid1) {
        error!("config: {e}");
    }
    // The clock, before the daemons that log and check certificates; in
    // host mode it is the host's to keep.
    let time_status = crate::timesync::Status::default();
    match mode {
        Mode::Pid1 => {
            let servers: Vec<std::net::IpAddr> = running.global.time_servers.to_vec();
            crate::timesync::at_boot(&servers, &time_status).await;
            tokio::spawn(crate::timesync::run(servers, time_status.clone()));
        }
        Mode::Host => crate::timesync::host_keeps_it(&time_status),
    }
    // The daemons, each a supervised child process; VRRP first: the first
    // advert should not wait for anything else.
    let mut supervision = crate::supervise::Children::default();
    let vrrp_status = crate::vrrp::Status::default();
    let (handed_over_tx, mut handed_over) = tokio::sync::mpsc::unbounded_channel::<Vec<(String, bool)>>();
    let (states_tx, mut vrrp_states) = tokio::sync::watch::channel(Vec::new());
    let shared = std::sync::Arc::new(running.clone());
    let bus = crate::bus::Bus::new(shared.clone());
    let vrrp_tx = supervision.spawn(
        crate::ipc::Role::Vrrp,
        crate::bus::Part::Vrrp,
        bus.subscribe(),
        crate::supervise::Reports {
            status: vrrp_status.clone(),
            states: Some(states_tx),
            health: None,
            update: None,
            grant: None,
            handed_over: Some(handed_over_tx),
        },
    );
    // Its supervisor starts the child now. The rest of the modules load
    // once VRRP has taken its first state (a master has sent its first
    // advert by then), or after a second: under emulation, module loading
    // slows everything else down.
    tokio::task::yield_now().await;
    if !running.vrrp_instances.is_empty() {
        let _ = tokio::time::timeout(Duration::from_secs(1), vrrp_states.changed()).await;
        vrrp_states.mark_changed();
    }
    // IPVS, the watchdog driver ...
    if let Some(b) = boot.as_mut() {
        b.modules_loaded().await;
    }
    // The hardware watchdog, as PID 1 on a board that has one.
    let device = match mode {
        Mode::Pid1 => board.as_ref().and_then(|b| b.watchdog.as_ref()).map(|w| w.device.clone()),
        Mode::Host => None,
    };
    let mut watchdog = None;
    let mut pet = tokio::time::interval(Duration::from_secs(3600));
    rearm(&mut watchdog, device.as_deref(), &running.global.watchdog, &mut pet);
    let (watchdog_tx, mut watchdog_rx) = tokio::sync::watch::channel(running.global.watchdog.clone());
    let checker_status = crate::checkers::Status::default();
    let (health_tx, mut health) = tokio::sync::watch::channel(crate::ipc::Health::default());
    // Held for the loop's life: when it is dropped the supervisor stops the
    // checkers (configs come over the bus).
    let _checkers_control = supervision.spawn(
        crate::ipc::Role::Checkers,
        crate::bus::Part::Checkers,
        bus.subscribe(),
        crate::supervise::Reports {
            status: checker_status.clone(),
            states: None,
            health: Some(health_tx),
            update: None,
            grant: None,
            handed_over: None,
        },
    );
    // The updater: the inactive slot and the state partition are all it
    // may write; it starts only on a board booted from its slots.
    let update_status = crate::vrrp::Status::default();
    let (update_reports_tx, mut update_reports) = tokio::sync::mpsc::unbounded_channel();
    let booted = slots.borrow().booted();
    let update_parts = booted.map(|b| crate::update::partitions(board.as_ref(), b.slot.other()));
    let updater_tx = match (mode, update_parts) {
        (Mode::Pid1, Some(Ok((slot_part, state_part)))) => {
            let tx = supervision.spawn(
                crate::ipc::Role::Updater,
                crate::bus::Part::Updates,
                bus.subscribe(),
                crate::supervise::Reports {
                    status: update_status.clone(),
                    states: None,
                    health: None,
                    update: Some(update_reports_tx),
                    grant: Some(crate::update::grant(slot_part, state_part)),
                    handed_over: None,
                },
            );
            let facts = crate::update::facts(board.as_ref(), &slots.borrow(), crate::timesync::synced(&time_status));
            tell_updater(Some(&tx), facts).await;
            Some(tx)
        }
        (_, Some(Err(e))) => {
            warn!("update: no updater: {e}");
            *update_status.lock().unwrap_or_else(|p| p.into_inner()) =
                vec![format!("updates are not possible here: {e}")];
            None
        }
        _ => {
            *update_status.lock().unwrap_or_else(|p| p.into_inner()) =
                vec!["updates are not possible here: booted without vigil's bootloader (no A/B slots)".into()];
            None
        }
    };
    let (verified_tx, mut verified) =
        tokio::sync::mpsc::unbounded_channel::<(u8, Result<vigil_update::Manifest, String>)>();
    let balancer = crate::lb::Balancer::new(board.as_ref().map(|b| b.on_demand.clone()).unwrap_or_default());
    let lb = std::rc::Rc::new(std::cell::RefCell::new(balancer));
    if let Err(e) = lb.borrow_mut().configure(&shared, crate::bus::Part::Checkers.generation(&bus.newest())) {
        error!("ipvs: {e}");
    }
    let update_board = board.clone();
    let slot_slots = slots.clone();
    let mut registry = registry(mode, board, move || slot_slots.borrow().summary());
    let time_text = time_status.clone();
    registry.add("time", move || crate::timesync::show(&time_text));
    let sup = supervision.clone();
    registry.add("supervision", move || sup.show());
    let boot_slots = slots.clone();
    registry.add("boot", move || boot_slots.borrow().show());
    // A trial waiting for the update window to reboot into it.
    let reboot_note: std::sync::Arc<std::sync::Mutex<Option<String>>> = Default::default();
    let mut reboot_at: Option<(tokio::time::Instant, String)> = None;
    // A reboot waiting for the VRRP masters to hand over.
    let mut handing_over: Option<String> = None;
    let note = reboot_note.clone();
    registry.add("update", move || {
        let mut lines = update_status.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if lines.is_empty() {
            lines.push("the updater is starting".to_string());
        }
        lines.extend(note.lock().unwrap_or_else(|p| p.into_inner()).clone());
        lines.join("\n")
    });
    let mut gate_tick = tokio::time::interval(Duration::from_secs(1));
    gate_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    registry.add("checkers", move || {
        let lines = checker_status.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if lines.is_empty() { "no health checkers are running".to_string() } else { lines.join("\n") }
    });
    registry.add("vrrp", move || {
        let lines = vrrp_status.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if lines.is_empty() { "no VRRP instances are running".to_string() } else { lines.join("\n") }
    });
    let resign = vrrp_tx.clone();
    let appliance = Appliance {
        store: flash.store,
        bus,
        watchdog: watchdog_tx,
        lb: lb.clone(),
        supervision: supervision.clone(),
        slots: slots.clone(),
        applied: shared,
        location: flash.location,
        registry,
        mode,
    };
    let mut appliance = appliance;
    // The shell runs on a thread of its own: console work never holds up
    // this loop (the watchdog, the heartbeats).
    let topics = vigil_shell::session::System::status_topics(&appliance);
    terminal::raw_console();
    print_ready(mode, boot.as_ref());
    let (mut requests, mut console_open) = match crate::console::start(running, topics, Box::new(random_salt)) {
        Ok(rx) => (rx, true),
        Err(e) => {
            error!("console: cannot start the shell: {e}");
            (tokio::sync::mpsc::unbounded_channel().1, false)
        }
    };
    let (action, why) = loop {
        let sig = tokio::select! {
            _ = sigchld.recv() => { reap::reap_all(); continue; }
            // The loop turns: tell the hardware.
            _ = pet.tick(), if watchdog.is_some() => {
                // Only while the supervised daemons are healthy, too.
                if let Some(w) = watchdog.as_mut()
                    && supervision.healthy()
                {
                    w.pet();
                }
                continue;
            }
            Ok(()) = watchdog_rx.changed() => {
                let w = watchdog_rx.borrow_and_update().clone();
                rearm(&mut watchdog, device.as_deref(), &w, &mut pet);
                continue;
            }
            Ok(()) = vrrp_states.changed() => {
                let states = vrrp_states.borrow_and_update().clone();
                lb.borrow_mut().vrrp_changed(&states);
                continue;
            }
            Ok(()) = health.changed() => {
                let h = health.borrow_and_update().clone();
                lb.borrow_mut().health_changed(&h);
                continue;
            }
            // A slot on trial: kept once healthy long enough, or rebooted
            // (the bootloader counts the trial down and rolls it back).
            _ = gate_tick.tick(), if slots.borrow().on_trial() => {
                let interfaces: Vec<String> = appliance.applied.interfaces.iter().map(|i| i.name.to_string()).collect();
                let failed = slots.borrow_mut().observe(std::time::Instant::now(), from_flash, &interfaces, supervision.failures());
                if let Some(why) = failed {
                    break (Action::Reboot, why);
                }
                if slots.borrow().kept() {
                    let facts = crate::update::facts(update_board.as_ref(), &slots.borrow(), crate::timesync::synced(&time_status));
                    tell_updater(updater_tx.as_ref(), facts).await;
                }
                continue;
            }
            // The updater wrote a slot: PID 1 checks it itself, off this loop.
            Some(crate::update::Report::Ready { head, slot }) = update_reports.recv() => {
                let facts = crate::update::facts(update_board.as_ref(), &slots.borrow(), crate::timesync::synced(&time_status));
                let keys = facts.trusted(&appliance.applied);
                let part = crate::update::partitions(update_board.as_ref(), crate::update::slot_of(slot));
                let tx = verified_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let r = part.and_then(|(p, _)| {
                        let device = facts.device(p.size, 0, Vec::new());
                        crate::update::check_written(&head, &p, &device, &keys)
                    });
                    let _ = tx.send((slot, r));
                });
                continue;
            }
            Some((slot, checked)) = verified.recv() => {
                let started = checked.and_then(|m| {
                    slots.borrow_mut().start_trial(crate::update::slot_of(slot), TRIES).map(|_| m)
                });
                let answer = started.as_ref().map(|_| ()).map_err(Clone::clone);
                if let Some(tx) = updater_tx.as_ref() {
                    let _ = tx.send(crate::supervise::Control::Message {
                        down: crate::ipc::Down::Update(crate::update::Command::TrialStarted(answer)),
                        fds: Vec::new(),
                        sticky: false,
                    }).await;
                }
                match started {
                    Ok(m) => {
                        info!("update: build {} ({}) is on trial in slot {} from the next boot ({TRIES} tries)", m.build, m.version, crate::update::slot_of(slot));
                        let why = format!("update to build {}", m.build);
                        let wait = appliance.applied.global.updates.window.map_or(0, |w| vigil_update::window::until_open(seconds_of_day(), w));
                        if wait == 0 {
                            if hand_over(&resign, &vrrp_states).await {
                                // The answer, or this, whichever comes first.
                                reboot_at = Some((tokio::time::Instant::now() + HANDOVER + Duration::from_secs(5), why.clone()));
                                handing_over = Some(why);
                                continue;
                            }
                            // The updater records it before it reports.
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            break (Action::Reboot, why);
                        }
                        let window = appliance.applied.global.updates.window.map(vigil_update::window::text).unwrap_or_default();
                        let text = format!("reboot   into build {} when the update window opens ({window}), in {} min", m.build, wait.div_ceil(60));
                        info!("update: rebooting {}", text.trim_start_matches("reboot   "));
                        *reboot_note.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
                        reboot_at = Some((tokio::time::Instant::now() + Duration::from_secs(u64::from(wait)), why));
                    }
                    Err(e) => error!("update: not put on trial: {e}"),
                }
                continue;
            }
            _ = tokio::time::sleep_until(reboot_at.as_ref().map_or_else(tokio::time::Instant::now, |r| r.0)), if reboot_at.is_some() => {
                let Some((_, why)) = reboot_at.take() else { continue };
                *reboot_note.lock().unwrap_or_else(|p| p.into_inner()) = None;
                if handing_over.take().is_some() {
                    warn!("update: the VRRP daemon did not answer the handover; rebooting");
                    break (Action::Reboot, why);
                }
                if hand_over(&resign, &vrrp_states).await {
                    reboot_at = Some((tokio::time::Instant::now() + HANDOVER + Duration::from_secs(5), why.clone()));
                    handing_over = Some(why);
                    continue;
                }
                break (Action::Reboot, why);
            }
            // The masters resigned for the reboot: said who took over.
            Some(list) = handed_over.recv() => {
                let Some(why) = handing_over.take() else { continue };
                for (name, taken) in &list {
                    if *taken {
                        info!("update: vrrp_instance {name}: a backup took over; rebooting");
                    } else {
                        warn!("update: vrrp_instance {name}: no backup took over within {} s (a lone master); rebooting all the same", HANDOVER.as_secs());
                    }
                }
                break (Action::Reboot, why);
            }
            _ = sighup.recv() => { info!("SIGHUP: nothing to reload yet"); continue; }
            _ = sigterm.recv() => Signal::SIGTERM,
            _ = sigint.recv() => Signal::SIGINT,
            _ = sigpwr.recv() => Signal::SIGPWR,
            _ = sigusr1.recv() => Signal::SIGUSR1,
            _ = sigusr2.recv() => Signal::SIGUSR2,
            req = requests.recv(), if console_open => {
                use vigil_shell::session::System;
                match req {
                    None => console_open = false,
                    Some(crate::console::Request::Power(p)) => break (action(p), "console".to_string()),
                    Some(crate::console::Request::Commit { config, unconfirmed, reply }) => {
                        let _ = reply.send(appliance.commit(&config, unconfirmed));
                    }
                    Some(crate::console::Request::History { reply }) => {
                        let _ = reply.send(appliance.history());
                    }
                    Some(crate::console::Request::LoadGeneration { generation, reply }) => {
                        let _ = reply.send(appliance.load_generation(generation));
                    }
                    Some(crate::console::Request::Status { topic, reply }) => {
                        let _ = reply.send(appliance.status(&topic));
                    }
                    Some(crate::console::Request::Debug { args, reply }) => {
                        let _ = reply.send(appliance.debug(&args));
                    }
                    Some(crate::console::Request::Update { command, reply }) => {
                        use vigil_shell::session::UpdateCommand;
                        let answer = match command {
                            UpdateCommand::Install(source) => crate::update::install(updater_tx.as_ref(), &source).await,
                            UpdateCommand::Check => match (&updater_tx, &appliance.applied.global.updates.channel) {
                                (Some(tx), Some(url)) => {
                                    let _ = tx.send(crate::supervise::Control::Message {
                                        down: crate::ipc::Down::Update(crate::update::Command::Check),
                                        fds: Vec::new(),
                                        sticky: false,
                                    }).await;
                                    Ok(format!("asking {url}: show update and the log follow it"))
                                }
                                (None, _) => Err("updates are not possible here: show update says why".into()),
                                (_, None) => Err("no update channel is configured (vigil_defs update_channel URL)".into()),
                            },
                            UpdateCommand::Confirm => {
                                let r = slots.borrow_mut().confirm_now();
                                if r.is_ok() {
                                    let facts = crate::update::facts(update_board.as_ref(), &slots.borrow(), crate::timesync::synced(&time_status));
                                    tell_updater(updater_tx.as_ref(), facts).await;
                                }
                                r
                            }
                            UpdateCommand::Rollback => {
                                let r = slots.borrow_mut().abandon_trial();
                                if let Ok(text) = r {
                                    let _ = reply.send(Ok(text));
                                    break (Action::Reboot, "update rollback".to_string());
                                }
                                r
                            }
                        };
                        let _ = reply.send(answer);
                    }
                }
                continue;
            }
        };
        if let Some(action) = Action::for_signal(sig) {
            break (action, sig.as_str().to_string());
        }
    };
    // A clean power action: the watchdog must not reset the board meanwhile.
    if let Some(w) = watchdog.take() {
        w.disarm();
    }
    // Masters resign with priority 0 so backups take over at once.
    let (done, wait) = tokio::sync::oneshot::channel();
    if resign.send(crate::supervise::Control::Shutdown(done)).await.is_ok()
        && tokio::time::timeout(Duration::from_secs(2), wait).await.is_err()
    {
        warn!("vrrp: did not stop within 2 s");
    }
    Ok((action, why))
}

/// How long masters wait for a backup to take over before a reboot.
const HANDOVER: Duration = Duration::from_secs(10);

/// Before a reboot into an update: when this node masters an instance, the
/// VRRP child resigns them (priority 0) and answers once a backup has taken
/// each over (or after `HANDOVER`). Returns whether it was asked.
async fn hand_over(
    vrrp: &tokio::sync::mpsc::Sender<crate::supervise::Control>,
    states: &tokio::sync::watch::Receiver<Vec<(String, crate::ipc::VrrpState)>>,
) -> bool {
    let masters: Vec<String> =
        states.borrow().iter().filter(|(_, s)| *s == crate::ipc::VrrpState::Master).map(|(n, _)| n.clone()).collect();
    if masters.is_empty() {
        return false;
    }
    info!("update: handing over {} before the reboot", masters.join(", "));
    vrrp.send(crate::supervise::Control::Message {
        down: crate::ipc::Down::Handover { wait_ms: HANDOVER.as_millis() as u32 },
        fds: Vec::new(),
        sticky: false,
    })
    .await
    .is_ok()
}

/// Seconds since midnight UTC, by the wall clock.
fn seconds_of_day() -> u32 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (now.as_secs() % 86_400) as u32
}

/// Boots a slot on trial gets.
const TRIES: u8 = 3;

/// The updater learns what booted (again, once a trial is kept).
async fn tell_updater(tx: Option<&tokio::sync::mpsc::Sender<crate::supervise::Control>>, facts: crate::update::Facts) {
    let Some(tx) = tx else { return };
    let _ = tx
        .send(crate::supervise::Control::Message {
            down: crate::ipc::Down::Update(crate::update::Command::Facts(facts)),
            fds: Vec::new(),
            sticky: true,
        })
        .await;
}

/// Makes the hardware watchdog what `want` says: opened (armed) with its
/// timeout, given a new timeout, or disarmed with the magic close; `pet`
/// follows the timeout.
fn rearm(
    watchdog: &mut Option<crate::watchdog::Watchdog>,
    device: Option<&str>,
    want: &vigil_config::Watchdog,
    pet: &mut tokio::time::Interval,
) {
    let timeout_s = u32::from(want.timeout_s);
    match (watchdog.as_mut(), device, want.enabled) {
        (Some(w), _, true) => {
            if w.timeout.as_secs() != u64::from(timeout_s) {
                w.set_timeout(timeout_s);
            }
        }
        (Some(_), _, false) => {
            if let Some(w) = watchdog.take() {
                w.disarm();
            }
        }
        (None, Some(path), true) => match crate::watchdog::Watchdog::open(path, timeout_s) {
            Ok(w) => *watchdog = Some(w),
            Err(e) => error!("watchdog: {e}"),
        },
        (None, _, _) => {}
    }
    let period = watchdog.as_ref().map_or(Duration::from_secs(3600), |w| w.period());
    if pet.period() != period {
        *pet = tokio::time::interval(period);
        pet.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
}

fn show_system(mode: Mode, board: Option<&Runtime>) -> String {
    let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
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
