//! The firmware slots at run time: which one booted and why (from the
//! kernel command line the bootloader wrote: vigil never guesses), the boot
//! environment's two copies on the ESP (a damaged or stale copy is
//! rewritten at boot), and the health gate that keeps a slot on trial.
//!
//! The decisions are the bootenv crate's (`ab`, `gate`); this is the I/O
//! around them, and the operator's words for what happened.

use std::time::{Duration, Instant};
use tracing::{error, info, warn};
use vigil_bootenv::ab::{self, BootState, Booted, Copy, How, Slot};
use vigil_bootenv::esp::{self, Window};
use vigil_bootenv::gate::{Gate, Health, Verdict};
use vigil_bootenv::note::Note;

/// Where the ESP is.
struct Esp {
    device: String,
    offset: u64,
    size: u64,
}

impl Esp {
    fn open(&self) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new().read(true).write(true).open(&self.device)
    }

    fn read(&self) -> Result<[Vec<u8>; 2], String> {
        let f = self.open().map_err(|e| format!("{}: {e}", self.device))?;
        esp::read(Window::new(&f, self.offset, self.size)).map_err(|e| format!("the ESP on {}: {e}", self.device))
    }

    /// Writes `state` into `copies` (in order, each on the medium before
    /// the next) and reads them back.
    fn write(&self, state: &BootState, seq: u64, copies: &[Copy]) -> Result<(), String> {
        let f = self.open().map_err(|e| format!("{}: {e}", self.device))?;
        let block = ab::encode_copy(state, seq);
        esp::write(Window::new(&f, self.offset, self.size), &block, copies, || f.sync_data())
            .map_err(|e| format!("writing the boot environment on {}: {e}", self.device))?;
        let back = self.read()?;
        for &c in copies {
            let i = usize::from(c == Copy::B);
            if back[i] != block {
                return Err(format!("copy {} of the boot environment did not read back as written", letter(c)));
            }
        }
        Ok(())
    }
}

impl Esp {
    /// Why the last trial failed, if the slot on trial could say.
    fn read_note(&self) -> Option<Note> {
        let f = self.open().ok()?;
        let sector = esp::read_note(Window::new(&f, self.offset, self.size)).ok()??;
        Note::decode(&sector)
    }

    fn write_note(&self, note: &Note) -> Result<(), String> {
        let f = self.open().map_err(|e| format!("{}: {e}", self.device))?;
        esp::write_note(Window::new(&f, self.offset, self.size), &note.encode(), || f.sync_data())
            .map_err(|e| format!("writing why the trial failed on {}: {e}", self.device))
    }
}

/// Whether the watchdog reset the board last time (the driver's
/// WDIOF_CARDRESET in its boot status), where the driver can tell.
fn watchdog_reset() -> bool {
    std::fs::read_to_string("/sys/class/watchdog/watchdog0/bootstatus")
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .is_some_and(|s| s & 0x20 != 0)
}

fn letter(c: Copy) -> &'static str {
    match c {
        Copy::A => "a",
        Copy::B => "b",
    }
}

/// What `show boot` and the gate work from.
pub struct Slots {
    booted: Option<Booted>,
    esp: Option<Esp>,
    state: Option<(BootState, u64)>,
    /// Set while the booted slot is on trial and not yet kept.
    gate: Option<Gate>,
    /// What the gate last said.
    verdict: String,
    /// Each child's failures when the gate last looked.
    failures: Vec<(&'static str, u32, bool)>,
    /// What happened at boot, for `show boot`.
    events: Vec<String>,
    /// This boot rolled back from a failed trial: the slot, and why it failed.
    failed: Option<(Slot, String)>,
}

impl Slots {
    /// Reads the command line and the boot environment; logs what they say.
    pub fn at_boot(board: Option<&vigil_board::Runtime>, cmdline: &str, confirm_s: u16) -> Slots {
        let booted = Booted::from_cmdline(cmdline);
        let esp = board.and_then(|b| b.flash.as_ref()).and_then(|f| {
            let p = f.partitions.iter().find(|p| p.name == vigil_board::part::ESP)?;
            Some(Esp { device: f.device.clone(), offset: p.offset.0, size: p.size.0 })
        });
        let mut s = Slots {
            booted,
            esp,
            state: None,
            gate: None,
            verdict: String::new(),
            failures: Vec::new(),
            events: Vec::new(),
            failed: None,
        };
        let Some(b) = booted else {
            return s; // -kernel boots (QEMU, a bootloader of the operator's): no slots.
        };
        let Some(esp) = s.esp.take() else {
            s.say_warn(format!("booted slot {} but the board has no ESP partition to keep its state in", b.slot));
            return s;
        };
        s.settle(b, &esp, confirm_s);
        s.esp = Some(esp);
        s
    }

    /// Reads the environment, says what the bootloader did, rewrites what
    /// is damaged or stale, and starts the gate for a trial.
    fn settle(&mut self, b: Booted, esp: &Esp, confirm_s: u16) {
        let s = self;
        let copies = match esp.read() {
            Ok(c) => c,
            Err(e) => {
                s.say_error(format!("boot: cannot read the boot environment: {e}"));
                return;
            }
        };
        let pair = ab::read_pair(&copies[0], &copies[1]);
        if b.env_lost || pair.from.is_none() {
            let why: Vec<String> = pair.damaged.iter().map(|(c, e)| format!("copy {}: {e}", letter(*c))).collect();
            s.say_error(format!(
                "boot: neither copy of the boot environment could be read ({}): the bootloader fell back to slot a; both rewritten",
                why.join("; ")
            ));
        } else {
            for (c, e) in &pair.damaged {
                s.say_warn(format!("boot: copy {} of the boot environment was damaged ({e}); rewritten", letter(*c)));
            }
        }
        let mut state = pair.state;
        // What the bootloader did, in the operator's words; and what the
        // state must say now that it did.
        match b.how {
            How::Good => s.say(format!("boot: slot {} (the good slot)", b.slot)),
            How::Trial => s.say(format!(
                "boot: slot {} on trial ({} more tries after this one); it is kept once healthy for {confirm_s} s",
                b.slot, state.tries_left
            )),
            How::Rollback => {
                let failed = state.failed;
                // The trial's own word if it left one for this very trial;
                // else what the hardware can tell; else what can have been.
                let why = match esp.read_note() {
                    Some(n) if Some(n.slot) == failed && n.seq == pair.seq => n.why,
                    _ if watchdog_reset() => "the watchdog reset the board (a hang)".to_string(),
                    _ => format!(
                        "it did not come up healthy for {confirm_s} s in its tries: a kernel panic, or a hang the watchdog reset"
                    ),
                };
                s.say_error(format!(
                    "boot: slot {} failed its trial: {why}; back on slot {}",
                    failed.map_or("?", Slot::letter),
                    b.slot
                ));
                s.failed = failed.map(|f| (f, why));
            }
        }
        if pair.from.is_none() {
            // Both lost: the state is what the bootloader fell back to.
            state = BootState::new(b.slot);
        }
        let seq = pair.seq;
        let stale = ab::stale(&pair, &copies[0], &copies[1]);
        if !stale.is_empty() {
            match esp.write(&state, seq + 1, &[Copy::A, Copy::B]) {
                Ok(()) => {}
                Err(e) => s.say_error(format!("boot: {e}")),
            }
            s.state = Some((state, seq + 1));
        } else {
            s.state = Some((state, seq));
        }
        if b.how == How::Trial && state.trying == Some(b.slot) {
            s.gate = Some(Gate::new(Duration::from_secs(u64::from(confirm_s))));
            s.verdict = "not ready yet".into();
        }
    }

    fn say(&mut self, line: String) {
        info!("{line}");
        self.events.push(line);
    }
    fn say_warn(&mut self, line: String) {
        warn!("{line}");
        self.events.push(line);
    }
    fn say_error(&mut self, line: String) {
        error!("{line}");
        self.events.push(line);
    }

    /// Puts `slot` on trial from the next boot with `tries` tries: both
    /// copies of the environment written, in turn, and read back.
    pub fn start_trial(&mut self, slot: Slot, tries: u8) -> Result<String, String> {
        let esp = self.esp.as_ref().ok_or("no boot environment here (not booted from a disk image)")?;
        let (mut state, seq) = self.state.ok_or("the boot environment was not read at boot")?;
        state.start_trial(slot, tries).map_err(|e| e.to_string())?;
        esp.write(&state, seq + 1, &[Copy::A, Copy::B])?;
        self.state = Some((state, seq + 1));
        Ok(format!("slot {slot} on trial from the next boot ({tries} tries)"))
    }

    /// A slot on trial waits for its health gate.
    pub fn on_trial(&self) -> bool {
        self.gate.is_some()
    }

    /// The slot that booted, as the bootloader said.
    pub fn booted(&self) -> Option<Booted> {
        self.booted
    }

    /// This boot is a rollback: the slot that failed its trial, and why.
    pub fn failed(&self) -> Option<(Slot, String)> {
        self.failed.clone()
    }

    /// The booted slot is the good slot, nothing on trial.
    pub fn kept(&self) -> bool {
        matches!((self.booted, self.state), (Some(b), Some((s, _))) if s.good == b.slot && s.trying.is_none())
    }

    /// `update confirm`: keeps the slot on trial now.
    pub fn confirm_now(&mut self) -> Result<String, String> {
        if self.gate.is_none() {
            return Err("no slot is on trial".into());
        }
        self.confirm();
        if self.kept() { Ok(self.verdict.clone()) } else { Err(self.verdict.clone()) }
    }

    /// `update rollback`: gives up the slot on trial (no tries left: the
    /// bootloader boots the good slot and records the failure).
    pub fn abandon_trial(&mut self) -> Result<String, String> {
        let (Some(esp), Some(b), Some((mut state, seq))) = (self.esp.as_ref(), self.booted, self.state) else {
            return Err("no boot environment here".into());
        };
        if state.trying != Some(b.slot) || self.gate.is_none() {
            return Err(format!("slot {} is not on trial: nothing to roll back", b.slot));
        }
        state.tries_left = 0;
        esp.write(&state, seq + 1, &[Copy::A, Copy::B])?;
        self.state = Some((state, seq + 1));
        let why = "the operator rolled it back (update rollback)".to_string();
        if let Err(e) = esp.write_note(&Note { slot: b.slot, seq: seq + 1, why }) {
            self.say_warn(format!("boot: {e}"));
        }
        self.gate = None;
        self.say_warn(format!(
            "boot: slot {} given up by the operator; back on slot {} after the reboot",
            b.slot, state.good
        ));
        Ok(format!("slot {} given up: rebooting into slot {}", b.slot, state.good))
    }

    /// Looks at the system once: `failures` from the supervisor, the
    /// interfaces the config wants up. Returns a reason to reboot when the
    /// trial has failed (the bootloader counts it down, then rolls back).
    pub fn observe(
        &mut self,
        now: Instant,
        config_from_flash: bool,
        interfaces: &[String],
        failures: Vec<(&'static str, u32, bool)>,
    ) -> Option<String> {
        let gate = self.gate.as_mut()?;
        let restarted = failures
            .iter()
            .filter(|(n, f, _)| self.failures.iter().any(|(m, g, _)| m == n && f > g))
            .map(|(n, _, _)| n.to_string())
            .collect();
        let given_up = failures.iter().filter(|(_, _, g)| *g).map(|(n, _, _)| n.to_string()).collect();
        self.failures = failures;
        let health = Health {
            ready: true,
            config_from_flash,
            interfaces_down: interfaces.iter().filter(|i| !link_up(i)).cloned().collect(),
            restarted,
            given_up,
        };
        match gate.observe(now, &health) {
            Verdict::Waiting(why) => self.verdict = why,
            Verdict::Holding { at } => {
                self.verdict = format!("healthy; kept in {} s", at.saturating_duration_since(now).as_secs());
            }
            Verdict::Confirm => self.confirm(),
            Verdict::Fail(why) => {
                self.verdict = format!("failed: {why}");
                let slot = self.booted.map_or("?", |b| b.slot.letter());
                self.say_error(format!("boot: slot {slot} fails its trial: {why}; rebooting"));
                // For the slot the bootloader rolls back to to say.
                if let (Some(esp), Some(b), Some((_, seq))) = (self.esp.as_ref(), self.booted, self.state)
                    && let Err(e) = esp.write_note(&Note { slot: b.slot, seq, why: why.clone() })
                {
                    self.say_warn(format!("boot: {e}"));
                }
                self.gate = None;
                return Some(format!("slot {slot} failed its trial"));
            }
        }
        None
    }

    fn confirm(&mut self) {
        self.gate = None;
        let (Some(esp), Some((mut state, seq))) = (self.esp.as_ref(), self.state) else { return };
        let Some(slot) = state.confirm() else { return };
        match esp.write(&state, seq + 1, &[Copy::A, Copy::B]) {
            Ok(()) => {
                self.state = Some((state, seq + 1));
                self.verdict = "kept".into();
                self.say(format!("boot: slot {slot} passed its health gate: it is the good slot now"));
            }
            Err(e) => {
                self.verdict = format!("healthy, but {e}");
                self.say_error(format!("boot: slot {slot} is healthy but could not be kept: {e}"));
            }
        }
    }

    /// One line for `show system`.
    pub fn summary(&self) -> String {
        let Some(b) = self.booted else { return "none (the kernel was handed over directly)".to_string() };
        match (b.how, self.state) {
            (How::Trial, Some((s, _))) if s.trying == Some(b.slot) => {
                format!("{} (on trial, {} tries left; show boot)", b.slot, s.tries_left)
            }
            (How::Rollback, _) => format!("{} (rolled back from a failed trial; show boot)", b.slot),
            _ => format!("{} (the good slot)", b.slot),
        }
    }

    /// `show boot`.
    pub fn show(&self) -> String {
        let Some(b) = self.booted else {
            return "booted without vigil's bootloader (the kernel was handed over directly): no firmware slots"
                .to_string();
        };
        let how = match b.how {
            How::Good => "the good slot",
            How::Trial => "on trial",
            How::Rollback => "rolled back",
        };
        let mut out = vec![format!("booted   slot {} ({how})", b.slot)];
        if let Some((s, seq)) = self.state {
            out.push(format!("good     slot {}", s.good));
            out.push(match s.trying {
                Some(t) => format!("trial    slot {t}, {} tries left", s.tries_left),
                None => "trial    none".to_string(),
            });
            if let Some(f) = s.failed {
                out.push(format!("failed   slot {f} (its trial ran out of tries)"));
            }
            out.push(format!("env      #{seq}"));
        }
        if self.gate.is_some() || !self.verdict.is_empty() {
            out.push(format!("gate     {}", self.verdict));
        }
        out.extend(self.events.iter().map(|e| format!("event    {e}")));
        out.join("\n")
    }
}

/// An interface is up: administratively, and with its link (`unknown`
/// counts: virtual links report no carrier state).
fn link_up(name: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{name}/operstate"))
        .is_ok_and(|s| matches!(s.trim(), "up" | "unknown"))
}
