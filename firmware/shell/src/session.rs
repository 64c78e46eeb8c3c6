//! A console session: login, the command language, the candidate config.
//! Sans-IO: bytes and an explicit clock go in; output goes to an
//! `embedded_io::Write` (a UART, a PTY, or a buffer in tests); what touches
//! the system (flash, applying config, status, power) goes through
//! [`System`].

use crate::diff::diff;
use crate::editor::{ESC_TIMEOUT, Editor, Event, MAX_LINE};
use crate::password;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_config::keepalived::edit::{self, Op};
use vigil_config::keepalived::{Flavor, export, import_str_as};
use vigil_config::{Config, limits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    PowerOff,
    Reboot,
    Halt,
}

/// What the shell needs from the appliance.
pub trait System {
    /// Writes `config` to flash (marked unconfirmed when `confirmed` is
    /// false) and applies it; returns the generation written.
    fn commit(&mut self, config: &Config, unconfirmed: bool) -> Result<u64, String>;
    /// Generations on flash, newest first.
    fn history(&mut self) -> Vec<u64>;
    fn load_generation(&mut self, generation: u64) -> Result<Config, String>;
    /// Status for `show TOPIC` (`json`: one JSON object, for automation;
    /// else text for people); None if the topic is unknown.
    fn status(&mut self, topic: &str, json: bool) -> Option<String>;
    /// Topics `show` offers besides config ones (system, interfaces, ...).
    fn status_topics(&self) -> Vec<String>;
    /// A fresh random salt for a password hash.
    fn random_salt(&mut self) -> [u8; 16];
    /// `debug ...`: commands for tests, present only in builds that have
    /// them (None: no such command here).
    fn debug(&mut self, _args: &[String]) -> Option<String> {
        None
    }
    /// `update ...`: the firmware updater. Ok: what happened; Err: why not.
    fn update(&mut self, _cmd: &UpdateCommand) -> Result<String, String> {
        Err("this system has no firmware updater".into())
    }
}

/// `update check | install URL|FILE | confirm | rollback`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateCommand {
    /// Ask the channel whether a newer build is there for this device.
    Check,
    /// Install a bundle from an http(s):// URL or a file (a /path).
    Install(String),
    /// Keep the slot on trial now, without waiting for its health gate.
    Confirm,
    /// Give up the slot on trial: reboot into the good slot.
    Rollback,
}

impl UpdateCommand {
    pub fn parse(args: &[String]) -> Result<UpdateCommand, String> {
        match args {
            [c] if c == "check" => Ok(UpdateCommand::Check),
            [c] if c == "confirm" => Ok(UpdateCommand::Confirm),
            [c] if c == "rollback" => Ok(UpdateCommand::Rollback),
            [c, src] if c == "install" => {
                if src.starts_with("http://") || src.starts_with("https://") || src.starts_with('/') {
                    Ok(UpdateCommand::Install(src.clone()))
                } else {
                    Err(format!("update install: {src:?} is not an http:// or https:// URL or a /path"))
                }
            }
            [c] if c == "install" => Err("update install: which bundle? (a URL or a /path)".into()),
            [] => Err("update: check | install URL|FILE | confirm | rollback".into()),
            [c, ..] => Err(format!("update: unknown {c:?}; update check | install URL|FILE | confirm | rollback")),
        }
    }
}

const PROMPT: &str = "vigil> ";

/// The largest keepalived.conf `load keepalived` takes: the parser's bound on
/// all config text.
pub const PASTE_BYTES: usize = 16 << 20;

const HELP: &str = "\
show config | candidate | compare | history | limits | <status>
set PATH VALUE...     e.g. set vrrp_instance VI_1 priority 120
delete PATH           e.g. delete vrrp_instance VI_1 nopreempt
compare               candidate against running
commit                validate, write to flash, apply
commit confirmed N    ... and roll back after N minutes unless `confirm`
confirm               keep a `commit confirmed`
rollback [N]          candidate := running (0) or the Nth older generation
load keepalived       paste a keepalived.conf, end with a line `end`
export [keepalived]   the candidate as text (vigil's or keepalived's flavor)
password set | none   console password (takes effect on commit)
update check | install URL|FILE | confirm | rollback   firmware (show update)
logout
poweroff | reboot | halt [now]   asks first, unless `now`; never abbreviated
Tab completes; ? lists what may come next.";

enum Mode {
    /// Waiting for the password; failures and the time until which input
    /// is refused.
    Login {
        failures: u32,
        locked_until: Option<Instant>,
    },
    Normal,
    /// Reading a pasted keepalived.conf: the text so far, lines read, and
    /// the first bound it crossed (the rest is read and dropped until `end`).
    Paste {
        text: String,
        lines: usize,
        refused: Option<String>,
    },
    /// Reading a new password (first entry, when given).
    NewPassword(Option<String>),
    /// A power command waiting for its `y`.
    Confirm(Power),
}

pub struct Shell<S: System> {
    pub system: S,
    /// Shared (with PID 1's bus, and between the two until the candidate
    /// is edited): a production config's model is tens of MB.
    pub running: Arc<Config>,
    pub candidate: Arc<Config>,
    editor: Editor,
    mode: Mode,
    /// A `commit confirmed`: when it rolls back, and to what.
    pending: Option<(Instant, Arc<Config>)>,
    out: String,
    power: Option<Power>,
    completer: edit::Completer,
    /// When the last byte came (an escape sequence left unfinished is
    /// abandoned [`ESC_TIMEOUT`] after it).
    last_byte: Option<Instant>,
}

const COMMANDS: &[&str] = &[
    "show", "set", "delete", "compare", "commit", "confirm", "rollback", "load", "export", "save", "password",
    "logout", "poweroff", "reboot", "halt", "update", "help",
];

impl<S: System> Shell<S> {
    pub fn new(system: S, running: Arc<Config>) -> Shell<S> {
        let mut s = Shell {
            system,
            candidate: running.clone(),
            running,
            editor: Editor::new(PROMPT),
            mode: Mode::Normal,
            pending: None,
            out: String::new(),
            power: None,
            completer: edit::Completer::default(),
            last_byte: None,
        };
        s.enter_login_if_needed();
        s
    }

    fn enter_login_if_needed(&mut self) {
        if self.running.global.console_password.is_some() {
            self.mode = Mode::Login { failures: 0, locked_until: None };
            self.editor.echo = false;
            self.editor.set_prompt("Password: ");
        } else {
            self.mode = Mode::Normal;
            self.editor.echo = true;
            self.editor.set_prompt(PROMPT);
        }
    }

    /// Prints the prompt; call once when the console starts.
    pub fn start<W: embedded_io::Write>(&mut self, out: &mut W) -> Result<(), W::Error> {
        self.editor.show_prompt();
        self.flush(out)
    }

    /// A power action asked for at the console, taken once.
    /// The console's current line (prompt and typed text), for whoever
    /// prints between keystrokes to draw again after itself.
    pub fn redraw(&self) -> String {
        self.editor.redraw()
    }

    pub fn take_power(&mut self) -> Option<Power> {
        self.power.take()
    }

    /// When [`Shell::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let lock = match self.mode {
            Mode::Login { locked_until, .. } => locked_until,
            _ => None,
        };
        let escape = self.last_byte.filter(|_| self.editor.in_escape()).map(|t| t + ESC_TIMEOUT);
        [self.pending.as_ref().map(|p| p.0), lock, escape].into_iter().flatten().min()
    }

    pub fn handle_timeout<W: embedded_io::Write>(&mut self, now: Instant, out: &mut W) -> Result<(), W::Error> {
        if self.last_byte.is_some_and(|t| now >= t + ESC_TIMEOUT) {
            self.editor.abandon_escape();
        }
        if let Some((deadline, previous)) = &self.pending
            && now >= *deadline
        {
            let previous = previous.clone();
            self.pending = None;
            self.say("\r\ncommit confirmed was not confirmed: rolling back");
            self.commit_config(previous, false);
            self.editor.show_prompt();
        }
        if let Mode::Login { locked_until: Some(t), .. } = &mut self.mode
            && now >= *t
        {
            self.mode = Mode::Login { failures: self.failures(), locked_until: None };
        }
        self.flush(out)
    }

    fn failures(&self) -> u32 {
        match self.mode {
            Mode::Login { failures, .. } => failures,
            _ => 0,
        }
    }

    /// Feeds bytes typed at the console.
    pub fn feed<W: embedded_io::Write>(&mut self, now: Instant, bytes: &[u8], out: &mut W) -> Result<(), W::Error> {
        if self.last_byte.is_some_and(|t| now >= t + ESC_TIMEOUT) {
            // Bytes that come after the timeout passed unnoticed (a caller
            // that was busy): the escape was a key of its own all the same.
            self.editor.abandon_escape();
        }
        if !bytes.is_empty() {
            self.last_byte = Some(now);
        }
        for &b in bytes {
            let ev = self.editor.feed(b);
            // The editor's echo (and Enter's newline) comes before what the
            // command prints.
            let echo = self.editor.take_output();
            self.out.push_str(&String::from_utf8_lossy(&echo));
            if let Some(ev) = ev {
                if matches!(ev, Event::Line(_)) {
                    self.flush(out)?;
                    out.flush()?;
                }
                self.event(now, ev);
            }
        }
        self.flush(out)
    }

    /// Hands what the shell printed to `out`. At the end of a turn the
    /// caller decides when it goes out (with the line it leaves on the
    /// terminal); `out.flush()` is called only mid-turn, when a command is
    /// about to run: its echo goes out first, whatever the command waits for.
    fn flush<W: embedded_io::Write>(&mut self, out: &mut W) -> Result<(), W::Error> {
        let echo = self.editor.take_output();
        self.out.push_str(&String::from_utf8_lossy(&echo));
        if !self.out.is_empty() {
            out.write_all(self.out.as_bytes())?;
            self.out.clear();
        }
        Ok(())
    }

    /// Text for the terminal: newlines become CR LF.
    fn say(&mut self, text: &str) {
        for line in text.split_inclusive('\n') {
            let (body, nl) = match line.strip_suffix('\n') {
                Some(b) => (b, true),
                None => (line, false),
            };
            self.out.push_str(body.strip_suffix('\r').unwrap_or(body));
            if nl {
                self.out.push_str("\r\n");
            }
        }
        if !text.ends_with('\n') {
            self.out.push_str("\r\n");
        }
    }

    fn event(&mut self, now: Instant, ev: Event) {
        match (&mut self.mode, ev) {
            (Mode::Login { .. }, Event::Line(pw)) => self.login(now, &pw),
            (Mode::Login { .. }, _) => self.editor.show_prompt(),
            (Mode::Paste { text, lines, refused }, Event::Line(l)) => {
                *lines += 1;
                if l.trim() == "end" {
                    let text = std::mem::take(text);
                    let refused = refused.take();
                    self.mode = Mode::Normal;
                    self.editor.set_prompt(PROMPT);
                    match refused {
                        Some(why) => self.say(&format!("error: {why}; load abandoned, candidate unchanged")),
                        None => self.load_keepalived(&text),
                    }
                } else if refused.is_none() {
                    if text.len() + l.len() + 1 > PASTE_BYTES {
                        *refused = Some(format!(
                            "the paste is larger than {} MiB, the limit (at line {lines})",
                            PASTE_BYTES >> 20
                        ));
                        *text = String::new();
                    } else {
                        text.push_str(&l);
                        text.push('\n');
                    }
                }
                self.editor.show_prompt();
            }
            (Mode::Paste { lines, refused, text }, Event::Overlong { .. }) => {
                *lines += 1;
                if refused.is_none() {
                    *refused =
                        Some(format!("line {lines} of the paste is longer than {MAX_LINE} characters, the limit"));
                    *text = String::new();
                }
                self.editor.show_prompt();
            }
            (Mode::Paste { .. }, Event::Interrupt | Event::Eof) => {
                self.mode = Mode::Normal;
                self.editor.set_prompt(PROMPT);
                self.say("load abandoned; candidate unchanged");
                self.editor.show_prompt();
            }
            (Mode::Paste { .. }, _) => {}
            (Mode::NewPassword(first), Event::Line(pw)) => {
                match first.take() {
                    None => {
                        self.mode = Mode::NewPassword(Some(pw));
                        self.editor.set_prompt("Again: ");
                    }
                    Some(p1) => {
                        self.mode = Mode::Normal;
                        self.editor.echo = true;
                        self.editor.set_prompt(PROMPT);
                        if p1 != pw {
                            self.say("error: the passwords differ; nothing changed");
                        } else if p1.len() < 8 {
                            self.say("error: a console password needs at least 8 characters; nothing changed");
                        } else {
                            let salt = self.system.random_salt();
                            Arc::make_mut(&mut self.candidate).global.console_password =
                                Some(password::hash(&p1, salt, password::ITERATIONS));
                            self.say("password set in the candidate; commit to apply");
                        }
                    }
                }
                self.editor.show_prompt();
            }
            (Mode::Confirm(p), Event::Line(answer)) => {
                let p = *p;
                self.mode = Mode::Normal;
                self.editor.set_prompt(PROMPT);
                if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
                    self.power = Some(p);
                } else {
                    self.say(&format!("{} cancelled", power_word(p)));
                    self.editor.show_prompt();
                }
            }
            (Mode::Confirm(p), Event::Interrupt | Event::Eof) => {
                let p = *p;
                self.mode = Mode::Normal;
                self.editor.set_prompt(PROMPT);
                self.say(&format!("{} cancelled", power_word(p)));
                self.editor.show_prompt();
            }
            (Mode::Confirm(_), _) => {}
            (Mode::NewPassword(_), _) => {
                self.mode = Mode::Normal;
                self.editor.echo = true;
                self.editor.set_prompt(PROMPT);
                self.say("password unchanged");
                self.editor.show_prompt();
            }
            (Mode::Normal, Event::Line(l)) => {
                self.command(now, &l);
                if self.power.is_none() {
                    self.editor.show_prompt();
                }
            }
            (Mode::Normal, Event::Overlong { dropped }) => {
                self.say(&format!(
                    "error: the line is longer than {MAX_LINE} characters, the limit ({dropped} more were dropped); it was not run"
                ));
                self.editor.show_prompt();
            }
            (Mode::Normal, Event::Complete) => self.complete(),
            (Mode::Normal, Event::Help) => {
                let before = self.editor.before_cursor();
                let line = self.editor.line();
                self.out.push_str("?\r\n");
                let h = self.help_for(&before);
                self.say(&h);
                self.editor.show_prompt();
                let _ = line;
            }
            (Mode::Normal, Event::Interrupt) => self.editor.show_prompt(),
            (Mode::Normal, Event::Eof) => {}
        }
    }

    fn login(&mut self, now: Instant, pw: &str) {
        let Mode::Login { failures, locked_until } = self.mode else {
            return;
        };
        if locked_until.is_some_and(|t| now < t) {
            let left = locked_until.map(|t| t.saturating_duration_since(now).as_secs() + 1).unwrap_or(0);
            self.say(&format!("locked: try again in {left} s"));
            self.editor.show_prompt();
            return;
        }
        let ok = self.running.global.console_password.as_ref().is_none_or(|h| password::verify(pw, h));
        if ok {
            self.mode = Mode::Normal;
            self.editor.echo = true;
            self.editor.set_prompt(PROMPT);
        } else {
            // 1, 2, 4 ... 30 s after each failure in a row.
            let failures = failures + 1;
            let delay = Duration::from_secs((1u64 << (failures - 1).min(5)).min(30));
            self.mode = Mode::Login { failures, locked_until: Some(now + delay) };
            self.say(&format!("wrong password; wait {} s", delay.as_secs()));
        }
        self.editor.show_prompt();
    }

    fn complete(&mut self) {
        let before = self.editor.before_cursor();
        let words = split_words(&before);
        let ends_in_space = before.ends_with(' ') || before.is_empty();
        let (done, partial) = if ends_in_space {
            (words.as_slice(), String::new())
        } else {
            let (last, rest) = words.split_last().map(|(l, r)| (l.clone(), r)).unwrap_or_default();
            (rest, last)
        };
        let options = self.completions(done, &partial);
        match options.as_slice() {
            [] => {}
            [one] => {
                let rest = one.strip_prefix(partial.as_str()).unwrap_or(one).to_string();
                self.editor.insert(&rest);
                self.editor.insert(" ");
            }
            many => {
                let common = common_prefix(many);
                if common.len() > partial.len() {
                    let rest = common[partial.len()..].to_string();
                    self.editor.insert(&rest);
                } else {
                    self.out.push_str("\r\n");
                    self.say(&many.join("  "));
                    self.editor.show_prompt();
                }
            }
        }
    }

    fn completions(&mut self, done: &[String], partial: &str) -> Vec<String> {
        let starts = |v: Vec<String>| v.into_iter().filter(|o| o.starts_with(partial)).collect::<Vec<_>>();
        match done.split_first() {
            None => starts(COMMANDS.iter().map(|s| s.to_string()).collect()),
            Some((cmd, rest)) => match cmd.as_str() {
                "set" | "delete" => self.completer.complete(&self.candidate, rest, partial),
                "show" if rest.is_empty() => starts(self.show_topics()),
                "export" | "save" if rest.is_empty() => starts(vec!["keepalived".into()]),
                "load" if rest.is_empty() => starts(vec!["keepalived".into()]),
                "password" if rest.is_empty() => starts(vec!["set".into(), "none".into()]),
                "commit" if rest.is_empty() => starts(vec!["confirmed".into()]),
                "update" if rest.is_empty() => {
                    starts(["check", "install", "confirm", "rollback"].iter().map(|s| s.to_string()).collect())
                }
                "rollback" if rest.is_empty() => {
                    let n = self.system.history().len();
                    starts((0..n).map(|i| i.to_string()).collect())
                }
                _ => vec![],
            },
        }
    }

    fn help_for(&mut self, before: &str) -> String {
        let words = split_words(before);
        let partial = if before.ends_with(' ') || before.is_empty() {
            String::new()
        } else {
            words.last().cloned().unwrap_or_default()
        };
        let done = if partial.is_empty() { &words[..] } else { &words[..words.len() - 1] };
        if done.is_empty() && partial.is_empty() {
            return HELP.into();
        }
        let options = self.completions(done, &partial);
        if options.is_empty() { "<value>".into() } else { options.join("  ") }
    }

    fn show_topics(&self) -> Vec<String> {
        let mut t: Vec<String> =
            ["config", "candidate", "compare", "history", "limits"].iter().map(|s| s.to_string()).collect();
        t.extend(self.system.status_topics());
        t
    }

    fn command(&mut self, now: Instant, line: &str) {
        let words = split_words(line);
        let Some((cmd, args)) = words.split_first() else {
            return;
        };
        // Not in the command list (no completion, no help): test builds only.
        if cmd == "debug" {
            match self.system.debug(args) {
                Some(text) => return self.say(&text),
                None => return self.say("error: unknown command \"debug\"; type help"),
            }
        }
        let matches: Vec<&&str> = COMMANDS.iter().filter(|c| c.starts_with(cmd.as_str())).collect();
        let cmd = match (COMMANDS.iter().find(|c| **c == cmd), matches.as_slice()) {
            (Some(c), _) => *c,
            (None, [one]) => **one,
            (None, []) => return self.say(&format!("error: unknown command {cmd:?}; type help")),
            (None, many) => {
                let list: Vec<&str> = many.iter().map(|c| **c).collect();
                return self.say(&format!("error: {cmd:?} is ambiguous: {}", list.join(", ")));
            }
        };
        match cmd {
            "help" => self.say(HELP),
            "show" => self.show(args),
            "set" | "delete" => {
                let op = if cmd == "set" { Op::Set } else { Op::Delete };
                match edit::edit(&self.candidate, op, args) {
                    Ok(c) => self.candidate = Arc::new(c),
                    Err(errs) => {
                        for e in errs {
                            self.say(&format!("error: {e}"));
                        }
                        self.say("candidate unchanged");
                    }
                }
            }
            "compare" => self.compare(),
            "update" => match UpdateCommand::parse(args).and_then(|c| self.system.update(&c)) {
                Ok(text) => self.say(&text),
                Err(e) => self.say(&format!("error: {e}")),
            },
            "commit" => self.commit(now, args),
            "confirm" => match self.pending.take() {
                Some(_) => {
                    let c = self.running.clone();
                    self.commit_config(c, false);
                }
                None => self.say("error: no commit confirmed is pending"),
            },
            "rollback" => self.rollback(args),
            "load" => match args {
                [k] if k == "keepalived" => {
                    self.mode = Mode::Paste { text: String::new(), lines: 0, refused: None };
                    self.editor.set_prompt("");
                    self.say("paste keepalived.conf; end with a line containing only: end");
                }
                _ => self.say("error: usage: load keepalived"),
            },
            "export" | "save" => match args {
                [] => self.say(&export(&self.candidate, Flavor::Vigil)),
                [k] if k == "keepalived" => self.say(&export(&self.candidate, Flavor::Keepalived)),
                _ => self.say("error: usage: export [keepalived]"),
            },
            "password" => match args {
                [s] if s == "set" => {
                    self.mode = Mode::NewPassword(None);
                    self.editor.echo = false;
                    self.editor.set_prompt("New password: ");
                }
                [n] if n == "none" => {
                    Arc::make_mut(&mut self.candidate).global.console_password = None;
                    self.say("password removed in the candidate; commit to apply");
                }
                _ => self.say("error: usage: password set | password none"),
            },
            "logout" => {
                self.enter_login_if_needed();
                if matches!(self.mode, Mode::Normal) {
                    self.say("no console password is set: nothing to log out of");
                }
            }
            "poweroff" | "reboot" | "halt" => {
                let p = match cmd {
                    "poweroff" => Power::PowerOff,
                    "reboot" => Power::Reboot,
                    _ => Power::Halt,
                };
                // Line noise on a serial console must not turn the box off:
                // no abbreviation, and a question unless `now` is typed.
                if words[0] != cmd {
                    return self.say(&format!(
                        "error: {:?} is not a command; power commands are typed in full: {cmd}",
                        words[0]
                    ));
                }
                match args {
                    [] => {
                        self.mode = Mode::Confirm(p);
                        self.editor.set_prompt(&format!("{} the appliance? [y/N] ", power_question(p)));
                    }
                    [n] if n == "now" => self.power = Some(p),
                    [other, ..] => self.say(&format!("error: unexpected {other:?}; usage: {cmd} [now]")),
                }
            }
            _ => {}
        }
    }

    fn show(&mut self, args: &[String]) {
        let Some(topic) = args.first() else {
            return self.say(&format!("show what? {}", self.show_topics().join(", ")));
        };
        let json = match &args[1..] {
            [] => false,
            [j] if j == "json" => true,
            [other, ..] => return self.say(&format!("error: unexpected {other:?}; usage: show TOPIC [json]")),
        };
        if json {
            return self.show_json(topic);
        }
        match topic.as_str() {
            "config" | "running" => self.say(&export(&self.running, Flavor::Vigil)),
            "candidate" => {
                let mut text = export(&self.candidate, Flavor::Vigil);
                // Partial edits are fine until `commit`; say what it would refuse.
                if let Err(errs) = self.candidate.validate() {
                    text.push_str("! incomplete: `commit` refuses this candidate until these are fixed:\n");
                    for e in errs {
                        text.push_str(&format!("!   {e}\n"));
                    }
                }
                self.say(&text)
            }
            "compare" => self.compare(),
            "history" => {
                let h = self.system.history();
                let text = if h.is_empty() {
                    "no config on flash: running the embedded default".to_string()
                } else {
                    h.iter().enumerate().map(|(i, g)| format!("{i}  generation {g}")).collect::<Vec<_>>().join("\n")
                };
                self.say(&text);
            }
            "limits" => self.say(&limits_text()),
            t => match self.system.status(t, false) {
                Some(text) => self.say(&text),
                None => self.say(&format!("error: unknown topic {t:?}; show one of {}", self.show_topics().join(", "))),
            },
        }
    }

    /// `show TOPIC json`: one line of JSON, for automation over the
    /// console. Configs are the model itself (the blob's fields, by name).
    fn show_json(&mut self, topic: &str) {
        let config = |c: &Config| serde_json::to_value(c).unwrap_or_default();
        let v = match topic {
            "config" | "running" => config(&self.running),
            "candidate" => {
                let errors: Vec<String> = match self.candidate.validate() {
                    Ok(()) => Vec::new(),
                    Err(errs) => errs.iter().map(|e| e.to_string()).collect(),
                };
                serde_json::json!({ "config": config(&self.candidate), "errors": errors })
            }
            "history" => serde_json::json!({ "generations": self.system.history() }),
            "compare" => {
                let d = diff(&export(&self.running, Flavor::Vigil), &export(&self.candidate, Flavor::Vigil), 3);
                serde_json::json!({ "lines": d.lines().collect::<Vec<_>>() })
            }
            "limits" => serde_json::json!({ "lines": limits_text().lines().collect::<Vec<_>>() }),
            t => match self.system.status(t, true) {
                Some(text) => return self.say(&text),
                None => {
                    let v =
                        serde_json::json!({ "error": format!("unknown topic {t:?}"), "topics": self.show_topics() });
                    return self.say(&v.to_string());
                }
            },
        };
        self.say(&v.to_string())
    }

    fn compare(&mut self) {
        let d = diff(&export(&self.running, Flavor::Vigil), &export(&self.candidate, Flavor::Vigil), 3);
        if d.is_empty() { self.say("no changes") } else { self.say(&d) }
    }

    fn commit(&mut self, now: Instant, args: &[String]) {
        let confirm_minutes = match args {
            [] => None,
            [c, n] if c == "confirmed" => match n.parse::<u32>() {
                Ok(m) if (1..=60).contains(&m) => Some(m),
                _ => return self.say("error: commit confirmed takes 1..=60 minutes"),
            },
            _ => return self.say("error: usage: commit [confirmed MINUTES]"),
        };
        if let Err(errs) = self.candidate.validate() {
            self.say("error: the candidate is invalid; nothing was written:");
            for e in errs {
                self.say(&format!("  {e}"));
            }
            return;
        }
        let previous = self.running.clone();
        let candidate = self.candidate.clone();
        if self.commit_config(candidate, confirm_minutes.is_some())
            && let Some(m) = confirm_minutes
        {
            self.pending = Some((now + Duration::from_secs(u64::from(m) * 60), previous));
            self.say(&format!("rolls back in {m} min unless you `confirm`"));
        }
    }

    /// Commits `config` through the system; on success it is running.
    fn commit_config(&mut self, config: Arc<Config>, unconfirmed: bool) -> bool {
        match self.system.commit(&config, unconfirmed) {
            Ok(g) => {
                self.say(&format!("commit: generation {g} written and applied"));
                self.running = config.clone();
                self.candidate = config;
                true
            }
            Err(e) => {
                self.say(&format!("error: commit failed: {e}; running config unchanged"));
                false
            }
        }
    }

    fn rollback(&mut self, args: &[String]) {
        let n: usize = match args {
            [] => 0,
            [n] => match n.parse() {
                Ok(n) => n,
                Err(_) => return self.say("error: usage: rollback [N]"),
            },
            _ => return self.say("error: usage: rollback [N]"),
        };
        if n == 0 {
            self.candidate = self.running.clone();
            return self.say("candidate reset to the running config");
        }
        let history = self.system.history();
        let Some(&g) = history.get(n) else {
            return self.say(&format!("error: only {} older generation(s) on flash", history.len().saturating_sub(1)));
        };
        match self.system.load_generation(g) {
            Ok(c) => {
                self.candidate = Arc::new(c);
                self.say(&format!("candidate loaded from generation {g}; `compare`, then `commit`"));
            }
            Err(e) => self.say(&format!("error: {e}")),
        }
    }

    fn load_keepalived(&mut self, text: &str) {
        // keepalived's config id defaults to the host name: `@NAME` lines
        // are read on the node of that name.
        let id = self.candidate.global.hostname.clone();
        match import_str_as("paste", text, &id) {
            Err(e) => self.say(&format!("error: {e}\ncandidate unchanged")),
            Ok(i) => {
                for d in &i.diagnostics {
                    self.say(&d.to_string());
                }
                if i.errors().next().is_some() {
                    self.say("candidate unchanged (errors above)");
                } else {
                    // What validation finds, at its place in the paste; the
                    // candidate takes it all the same, to be mended with
                    // `set` / `delete` (commit refuses it until then).
                    let problems = i.problems();
                    for d in &problems {
                        self.say(&d.to_string());
                    }
                    self.candidate = Arc::new(i.config);
                    if problems.is_empty() {
                        self.say("candidate replaced; `compare`, then `commit`");
                    } else {
                        self.say("candidate replaced, but it is not valid yet (above): mend it before `commit`");
                    }
                }
            }
        }
    }
}

/// The command that asks for a power action.
fn power_word(p: Power) -> &'static str {
    match p {
        Power::PowerOff => "poweroff",
        Power::Reboot => "reboot",
        Power::Halt => "halt",
    }
}

fn power_question(p: Power) -> &'static str {
    match p {
        Power::PowerOff => "power off",
        Power::Reboot => "reboot",
        Power::Halt => "halt",
    }
}

fn limits_text() -> String {
    use limits::*;
    format!(
        "interfaces {INTERFACES} (addresses {ADDRESSES}, vlans {VLANS} each)\n\
         vrrp_instance {VRRP_INSTANCES} (virtual addresses {VIRTUAL_ADDRESSES}, unicast peers {UNICAST_PEERS}, tracked interfaces {TRACKS} each)\n\
         vrrp_sync_group {SYNC_GROUPS} ({GROUP_MEMBERS} members each)\n\
         virtual_server {VIRTUAL_SERVERS} (real servers {REAL_SERVERS} each, {CHECKERS} checkers each, {URLS} urls per HTTP check)\n\
         names {NAME} chars, interface names {IFNAME}, paths {PATH}\n\
         largest encoded config: {} bytes",
        vigil_config::blob::MAX_BODY
    )
}

/// Splits a command line into words; `"..."` quotes a word with spaces, and
/// `\"` and `\\` stand for a quote and a backslash (inside quotes or not).
pub fn split_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('"' | '\\')) => {
                cur.extend(chars.next());
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

fn common_prefix(v: &[String]) -> String {
    let first = &v[0];
    let mut n = first.len();
    for s in &v[1..] {
        n = n.min(first.chars().zip(s.chars()).take_while(|(a, b)| a == b).count());
    }
    first.chars().take(n).collect()
}
