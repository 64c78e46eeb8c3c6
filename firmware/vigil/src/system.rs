//! The control plane's event loop, shared by PID 1 and host mode: signals,
//! child reaping, the supervised daemons, the watchdog, the update's
//! reboot, and the console shell's requests (commits go to the config
//! thread, [`crate::commit`]; the IPVS table to its own, [`crate::balancer`]).

use crate::appliance::{Appliance, Mode, random_salt, registry};
use crate::boot::{Boot, needs_all_modules, print_ready};
use crate::config::{self, Location};
use crate::power::{self, Action};
use crate::reap;
use crate::report::Report::Lines;
use crate::terminal;
use crate::update::reboot::{self, HANDOVER, TRIES};
use nix::sys::signal::Signal;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};
use vigil_board::Runtime;
use vigil_config::Config;
use vigil_shell::session::Power;

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
    // keepalived's `startup_script`: once, before the daemons start.
    if let Some(h) = &running.global.startup_script {
        crate::hook::run("startup_script", h, &mut sigchld).await;
    }
    // The daemons, each a supervised child process; VRRP first: the first
    // advert should not wait for anything else.
    let mut supervision = crate::supervise::Children::default();
    let vrrp_status = crate::vrrp::Status::default();
    let (handed_over_tx, mut handed_over) = tokio::sync::mpsc::unbounded_channel::<Vec<(String, bool)>>();
    let (states_tx, mut vrrp_states) = tokio::sync::watch::channel(Vec::new());
    // One copy of the config for the bus, the console and the rest (a
    // production config's model is tens of MB).
    let running = std::sync::Arc::new(running);
    let shared = running.clone();
    let bus = std::sync::Arc::new(crate::bus::Bus::new(shared.clone()));
    let vrrp_tx = supervision.spawn(
        crate::ipc::Role::Vrrp,
        crate::bus::Part::Vrrp,
        bus.subscribe(),
        crate::supervise::Reports {
            status: vrrp_status.clone(),
            states: Some(states_tx),
            handed_over: Some(handed_over_tx),
            ..Default::default()
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
    let checkers_control = supervision.spawn(
        crate::ipc::Role::Checkers,
        crate::bus::Part::Checkers,
        bus.subscribe(),
        crate::supervise::Reports { status: checker_status.clone(), health: Some(health_tx), ..Default::default() },
    );
    // The BFD sessions: their states go to the VRRP child and the checkers
    // (below, as they change).
    let bfd_status = crate::vrrp::Status::default();
    let (bfd_tx, mut bfd_states) = tokio::sync::watch::channel(crate::bfd::States::new());
    let _bfd_control = supervision.spawn(
        crate::ipc::Role::Bfd,
        crate::bus::Part::Bfd,
        bus.subscribe(),
        crate::supervise::Reports { status: bfd_status.clone(), bfd: Some(bfd_tx), ..Default::default() },
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
                    update: Some(update_reports_tx),
                    grant: Some(crate::update::grant(slot_part, state_part)),
                    ..Default::default()
                },
            );
            let facts = crate::update::facts(board.as_ref(), &slots.borrow(), crate::timesync::synced(&time_status));
            reboot::tell_updater(Some(&tx), facts).await;
            Some(tx)
        }
        (_, Some(Err(e))) => {
            warn!("update: no updater: {e}");
            crate::report::set(&update_status, Lines(vec![format!("updates are not possible here: {e}")]));
            None
        }
        _ => {
            crate::report::set(
                &update_status,
                Lines(vec!["updates are not possible here: booted without vigil's bootloader (no A/B slots)".into()]),
            );
            None
        }
    };
    let (verified_tx, mut verified) =
        tokio::sync::mpsc::unbounded_channel::<(u8, Result<vigil_update::Manifest, String>)>();
    let lb = crate::balancer::Handle::start(board.as_ref().map(|b| b.on_demand.clone()).unwrap_or_default());
    lb.configure(shared.clone(), bus.newest().generation, crate::bus::Part::Checkers.generation(&bus.newest()));
    let update_board = board.clone();
    let slot_slots = slots.clone();
    let mut registry = registry(mode, board, move || slot_slots.borrow().summary());
    let time_text = time_status.clone();
    registry.add_off_loop("time", move || crate::timesync::show(&time_text));
    let time_json = time_status.clone();
    registry.add_json_off_loop("time", move || {
        let t = time_json.lock().unwrap_or_else(|p| p.into_inner()).clone();
        serde_json::json!({
            "synced": t.facts.synced,
            "offset_s": t.facts.offset_s,
            "last_sync_s": t.facts.last_sync_s,
            "text": t.text,
        })
        .to_string()
    });
    // The Prometheus endpoint (`metrics_listen`), once every child is
    // spawned: it follows the config from here.
    let sources = crate::metrics::server::Sources {
        vrrp: vrrp_status.clone(),
        checkers: checker_status.clone(),
        children: supervision.clone(),
        bus: bus.subscribe(),
        time: time_status.clone(),
        boot_slot: slots.borrow().booted().map(|b| b.slot.to_string()),
    };
    if let Err(e) = crate::metrics::server::start(sources) {
        error!("metrics: no thread for the endpoint ({e}): no metrics");
    }
    let sup = supervision.clone();
    let ipvs = lb.clone();
    registry.add("supervision", move || {
        format!("{}\nipvs: the table follows config generation {}", sup.show(), ipvs.applied())
    });
    let (sup, ipvs) = (supervision.clone(), lb.clone());
    registry.add_json("supervision", move || {
        serde_json::json!({ "children": sup.facts(), "ipvs_generation": ipvs.applied() }).to_string()
    });
    let boot_slots = slots.clone();
    registry.add("boot", move || boot_slots.borrow().show());
    // A trial waiting for the update window to reboot into it.
    let reboot_note: std::sync::Arc<std::sync::Mutex<Option<String>>> = Default::default();
    let mut reboot_at: Option<(tokio::time::Instant, String)> = None;
    // A reboot waiting for the VRRP masters to hand over.
    let mut handing_over: Option<String> = None;
    let note = reboot_note.clone();
    registry.add_off_loop("update", move || {
        let mut text = crate::report::latest(&update_status).text("the updater is starting");
        if let Some(n) = note.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            text.push('\n');
            text.push_str(n);
        }
        text
    });
    let mut gate_tick = tokio::time::interval(Duration::from_secs(1));
    gate_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let checkers_report = checker_status.clone();
    registry.add_off_loop("checkers", move || {
        crate::report::latest(&checkers_report).text("no health checkers are running")
    });
    let checkers_report = checker_status.clone();
    registry.add_json_off_loop("checkers", move || crate::report::latest(&checkers_report).json());
    registry.add_off_loop("bfd", move || crate::report::latest(&bfd_status).text("no BFD sessions are running"));
    let vrrp_report = vrrp_status.clone();
    registry.add_off_loop("vrrp", move || crate::report::latest(&vrrp_report).text("no VRRP instances are running"));
    let vrrp_report = vrrp_status.clone();
    registry.add_json_off_loop("vrrp", move || crate::report::latest(&vrrp_report).json());
    let resign = vrrp_tx.clone();
    let newest = crate::commit::Newest::default();
    let commits = crate::commit::start(crate::commit::Committer {
        store: flash.store,
        bus: bus.clone(),
        watchdog: watchdog_tx,
        lb: lb.clone(),
        applied: shared,
        location: flash.location.clone(),
        owns_system: mode == Mode::Pid1,
        newest: newest.clone(),
    });
    let commits = match commits {
        Ok(tx) => Some(tx),
        Err(e) => {
            error!("config: no thread for commits ({e}): the config cannot be changed");
            None
        }
    };
    let appliance = Appliance {
        bus: bus.clone(),
        supervision: supervision.clone(),
        slots: slots.clone(),
        newest,
        location: flash.location,
        registry,
    };
    let mut appliance = appliance;
    // The shell runs on a thread of its own: console work never holds up
    // this loop (the watchdog, the heartbeats).
    let topics = appliance.status_topics();
    let off_loop = appliance.registry.off_loop();
    terminal::raw_console();
    print_ready(mode, boot.as_ref());
    let (mut requests, mut console_open) = match crate::console::start(running, topics, off_loop, Box::new(random_salt))
    {
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
                lb.vrrp_changed(vrrp_states.borrow_and_update().clone());
                continue;
            }
            Ok(()) = health.changed() => {
                lb.health_changed(health.borrow_and_update().clone());
                continue;
            }
            // keepalived's BFD process tells its VRRP and checker
            // processes; here PID 1 hands the states on (sticky: a child
            // that restarts is told again).
            Ok(()) = bfd_states.changed() => {
                let states = bfd_states.borrow_and_update().clone();
                for tx in [&vrrp_tx, &checkers_control] {
                    let down = crate::ipc::Down::Bfd(states.clone());
                    let _ = tx.send(crate::supervise::Control::Message { down, fds: Vec::new(), sticky: true }).await;
                }
                continue;
            }
            // A slot on trial: kept once healthy long enough, or rebooted
            // (the bootloader counts the trial down and rolls it back).
            _ = gate_tick.tick(), if slots.borrow().on_trial() => {
                let interfaces: Vec<String> = appliance.applied().interfaces.iter().map(|i| i.name.to_string()).collect();
                let failed = slots.borrow_mut().observe(std::time::Instant::now(), from_flash, &interfaces, supervision.failures());
                if let Some(why) = failed {
                    break (Action::Reboot, why);
                }
                if slots.borrow().kept() {
                    let facts = crate::update::facts(update_board.as_ref(), &slots.borrow(), crate::timesync::synced(&time_status));
                    reboot::tell_updater(updater_tx.as_ref(), facts).await;
                }
                continue;
            }
            // The updater wrote a slot: PID 1 checks it itself, off this loop.
            Some(crate::update::Report::Ready { head, slot }) = update_reports.recv() => {
                let facts = crate::update::facts(update_board.as_ref(), &slots.borrow(), crate::timesync::synced(&time_status));
                let keys = facts.trusted(&appliance.applied());
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
                        let wait = appliance.applied().global.updates.window.map_or(0, |w| vigil_update::window::until_open(reboot::seconds_of_day(), w));
                        if wait == 0 {
                            if reboot::hand_over(&resign, &vrrp_states).await {
                                // The answer, or this, whichever comes first.
                                reboot_at = Some((tokio::time::Instant::now() + HANDOVER + Duration::from_secs(5), why.clone()));
                                handing_over = Some(why);
                                continue;
                            }
                            // The updater records it before it reports.
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            break (Action::Reboot, why);
                        }
                        let window = appliance.applied().global.updates.window.map(vigil_update::window::text).unwrap_or_default();
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
                if reboot::hand_over(&resign, &vrrp_states).await {
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
                let to_config = |r: crate::commit::Request| match &commits {
                    Some(tx) => tx.send(r).map_err(|e| e.0),
                    None => Err(r),
                };
                match req {
                    None => console_open = false,
                    Some(crate::console::Request::Power(p)) => break (action(p), "console".to_string()),
                    // To the config thread, which answers the shell itself.
                    Some(crate::console::Request::Commit { config, unconfirmed, reply }) => {
                        if let Err(crate::commit::Request::Commit { reply, .. }) = to_config(crate::commit::Request::Commit { config, unconfirmed, reply }) {
                            let _ = reply.send(Err("the config cannot be changed: no thread for commits".into()));
                        }
                    }
                    Some(crate::console::Request::History { reply }) => {
                        if let Err(crate::commit::Request::History { reply }) = to_config(crate::commit::Request::History { reply }) {
                            let _ = reply.send(Vec::new());
                        }
                    }
                    Some(crate::console::Request::LoadGeneration { generation, reply }) => {
                        if let Err(crate::commit::Request::LoadGeneration { reply, .. }) = to_config(crate::commit::Request::LoadGeneration { generation, reply }) {
                            let _ = reply.send(Err("no flash".into()));
                        }
                    }
                    Some(crate::console::Request::Status { topic, json, reply }) => {
                        let _ = reply.send(appliance.status(&topic, json));
                    }
                    Some(crate::console::Request::Debug { args, reply }) => {
                        let _ = reply.send(appliance.debug(&args));
                    }
                    Some(crate::console::Request::Update { command, reply }) => {
                        use vigil_shell::session::UpdateCommand;
                        let answer = match command {
                            UpdateCommand::Install(source) => crate::update::install(updater_tx.as_ref(), &source).await,
                            UpdateCommand::Check => match (&updater_tx, &appliance.applied().global.updates.channel) {
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
                                    reboot::tell_updater(updater_tx.as_ref(), facts).await;
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
    // Masters resign with priority 0 so backups take over at once; the
    // checkers stop beside them (with `omega`, their down programs run).
    let (done, wait) = tokio::sync::oneshot::channel();
    let (checkers_done, checkers_wait) = tokio::sync::oneshot::channel();
    let vrrp = resign.send(crate::supervise::Control::Shutdown(done)).await.is_ok();
    let checkers = checkers_control.send(crate::supervise::Control::Shutdown(checkers_done)).await.is_ok();
    let (v, c) =
        tokio::join!(async { vrrp && tokio::time::timeout(Duration::from_secs(2), wait).await.is_err() }, async {
            checkers && tokio::time::timeout(Duration::from_secs(3), checkers_wait).await.is_err()
        },);
    if v {
        warn!("vrrp: did not stop within 2 s");
    }
    if c {
        warn!("checkers: did not stop within 3 s");
    }
    // What vigil programmed goes, as keepalived's does (or the whole table
    // with `lvs_flush_on_stop`): on a host the table outlives vigil.
    let last = bus.newest().config;
    lb.stop(last.global.lvs_flush_on_stop, Duration::from_secs(10)).await;
    if let Some(h) = &last.global.shutdown_script {
        crate::hook::run("shutdown_script", h, &mut sigchld).await;
    }
    Ok((action, why))
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
