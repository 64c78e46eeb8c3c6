//! The shell driven as a terminal would: bytes in, screen text out, with the
//! config store on in-memory flash (the real store; the flash is memory).

use std::time::{Duration, Instant};
use vigil_config::Config;
use vigil_config::keepalived::Severity;
use vigil_config::store::{MemFlash, Store};
use vigil_shell::session::{Power, Shell, System, UpdateCommand};

struct MemSystem {
    store: Store<MemFlash>,
    applied: Vec<Config>,
    updates: Vec<UpdateCommand>,
}

impl System for MemSystem {
    fn commit(&mut self, config: &Config, unconfirmed: bool) -> Result<u64, String> {
        let g = self.store.commit(config, unconfirmed).map_err(|e| e.to_string())?;
        self.applied.push(config.clone());
        Ok(g)
    }
    fn history(&mut self) -> Vec<u64> {
        self.store.history().into_iter().map(|h| h.0).collect()
    }
    fn load_generation(&mut self, g: u64) -> Result<Config, String> {
        self.store.load_generation(g).map_err(|e| e.to_string())
    }
    fn status(&mut self, topic: &str, json: bool) -> Option<String> {
        (topic == "system").then(|| if json { r#"{"hostname":"test"}"# } else { "hostname test" }.to_string())
    }
    fn status_topics(&self) -> Vec<String> {
        vec!["system".into()]
    }
    fn random_salt(&mut self) -> [u8; 16] {
        [9; 16]
    }
    fn update(&mut self, cmd: &UpdateCommand) -> Result<String, String> {
        self.updates.push(cmd.clone());
        match cmd {
            UpdateCommand::Install(s) => Ok(format!("installing {s}")),
            _ => Err("no slot is on trial".into()),
        }
    }
}

fn default_config() -> Config {
    let i = vigil_config::keepalived::import_str(
        "default",
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 10.0.0.1/24\n }\n}\n",
    )
    .unwrap();
    assert!(!i.diagnostics.iter().any(|d| d.severity == Severity::Error));
    i.config
}

struct Term {
    shell: Shell<MemSystem>,
    now: Instant,
    screen: String,
}

impl Term {
    fn new() -> Term {
        let store = Store::new(MemFlash::new(4 * 65536), 65536).unwrap();
        let mut shell = Shell::new(
            MemSystem { store, applied: Vec::new(), updates: Vec::new() },
            std::sync::Arc::new(default_config()),
        );
        let mut out = Vec::new();
        shell.start(&mut out).unwrap();
        Term { shell, now: Instant::now(), screen: String::from_utf8(out).unwrap() }
    }

    /// Types bytes; returns what the terminal showed in response.
    fn keys(&mut self, bytes: &[u8]) -> String {
        let mut out = Vec::new();
        self.shell.feed(self.now, bytes, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        self.screen.push_str(&s);
        s
    }

    fn line(&mut self, l: &str) -> String {
        self.keys(format!("{l}\r").as_bytes())
    }

    fn wait(&mut self, d: Duration) -> String {
        self.now += d;
        let mut out = Vec::new();
        if self.shell.poll_timeout().is_some_and(|t| t <= self.now) {
            self.shell.handle_timeout(self.now, &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }
}

#[test]
fn set_compare_commit() {
    let mut t = Term::new();
    assert!(t.screen.ends_with("vigil> "));
    t.line("set vrrp_instance VI_1 priority 120");
    let cmp = t.line("compare");
    assert!(cmp.contains("-     priority 100\r\n+     priority 120\r\n"), "{cmp}");
    let out = t.line("commit");
    assert!(out.contains("commit: generation 1 written and applied"), "{out}");
    assert_eq!(t.shell.running.vrrp_instances[0].priority, 120);
    assert_eq!(t.shell.system.applied.len(), 1);
    assert!(t.line("compare").contains("no changes"));
    assert!(t.line("show history").contains("0  generation 1"));
}

#[test]
fn mistakes_print_errors_and_change_nothing() {
    let mut t = Term::new();
    let before = t.shell.candidate.clone();
    assert!(t.line("sett system").contains("error: unknown command \"sett\"; type help"));
    let out = t.line("set vrrp_instance VI_1 priority 300");
    assert!(out.contains("error: vrrp_instance VI_1 priority 300: \"300\" is not a priority (1..=255)"), "{out}");
    assert!(out.contains("candidate unchanged"));
    let out = t.line("set vrrp_instance VI_1 prioirty 30");
    assert!(out.contains("error: vrrp_instance VI_1 prioirty 30: unknown keyword \"prioirty\" here"), "{out}");
    assert_eq!(t.shell.candidate, before);
    // A candidate that fails validation is not written.
    t.line("set vrrp_instance VI_1 unicast_peer 2001:db8::1");
    let out = t.line("commit");
    assert!(
        out.contains("vrrp_instance VI_1: unicast_peer 2001:db8::1 is not of the virtual addresses' family"),
        "{out}"
    );
    assert!(t.shell.system.history().is_empty());
    assert!(t.line("poweroff later").contains("error: unexpected \"later\"; usage: poweroff [now]"));
    assert!(t.line("c").contains("ambiguous: compare, commit, confirm"));
}

#[test]
fn commit_confirmed_rolls_back_unless_confirmed() {
    let mut t = Term::new();
    t.line("commit");
    t.line("set vrrp_instance VI_1 priority 50");
    let out = t.line("commit confirmed 2");
    assert!(out.contains("rolls back in 2 min"), "{out}");
    assert_eq!(t.shell.running.vrrp_instances[0].priority, 50);
    assert!(t.wait(Duration::from_secs(100)).is_empty());
    let out = t.wait(Duration::from_secs(30));
    assert!(out.contains("was not confirmed: rolling back"), "{out}");
    assert_eq!(t.shell.running.vrrp_instances[0].priority, 100);

    t.line("set vrrp_instance VI_1 priority 60");
    t.line("commit confirmed 1");
    assert!(t.line("confirm").contains("written and applied"));
    assert!(t.wait(Duration::from_secs(120)).is_empty());
    assert_eq!(t.shell.running.vrrp_instances[0].priority, 60);
    assert!(t.line("confirm").contains("no commit confirmed is pending"));
}

#[test]
fn rollback_loads_older_generations() {
    let mut t = Term::new();
    for p in [110, 120, 130] {
        t.line(&format!("set vrrp_instance VI_1 priority {p}"));
        t.line("commit");
    }
    let out = t.line("rollback 2");
    assert!(out.contains("candidate loaded from generation 1"), "{out}");
    assert_eq!(t.shell.candidate.vrrp_instances[0].priority, 110);
    t.line("rollback");
    assert_eq!(t.shell.candidate.vrrp_instances[0].priority, 130);
    assert!(t.line("rollback 9").contains("error: only 2 older generation(s)"));
}

#[test]
fn load_keepalived_by_paste() {
    let mut t = Term::new();
    t.line("load keepalived");
    t.line("vrrp_instance VI_2 {");
    t.line(" interface eth1");
    t.line(" virtual_router_id 9");
    t.line(" vrf blue");
    t.line(" virtual_ipaddress {");
    t.line("  192.0.2.9/24");
    t.line(" }");
    t.line("}");
    let out = t.line("end");
    assert!(out.contains("paste:4:6: warning: vrf blue beside interface: ignored, as keepalived ignores it"), "{out}");
    assert!(out.contains("candidate replaced"), "{out}");
    assert_eq!(t.shell.candidate.vrrp_instances[0].name.as_str(), "VI_2");
    // A paste with errors replaces nothing.
    t.line("load keepalived");
    t.line("vrrp_instance VI_3 {");
    t.line(" priority 0x");
    t.line("}");
    let out = t.line("end");
    assert!(out.contains("candidate unchanged"), "{out}");
    assert_eq!(t.shell.candidate.vrrp_instances[0].name.as_str(), "VI_2");

    // What validation finds is said at its place in the paste at once,
    // not only at commit.
    t.line("load keepalived");
    t.line("vrrp_instance VI_4 {");
    t.line(" interface eth0");
    t.line(" virtual_router_id 4");
    t.line("}");
    t.line("vrrp_sync_group G {");
    t.line(" group {");
    t.line(" }");
    t.line("}");
    let out = t.line("end");
    assert!(out.contains("paste:5:1: error: vrrp_sync_group G: has no members"), "{out}");
    assert!(out.contains("candidate replaced, but it is not valid yet (above): mend it before `commit`"), "{out}");
}

#[test]
fn tab_completion_and_help() {
    let mut t = Term::new();
    t.keys(b"sh\t");
    t.keys(b"con\t");
    let out = t.keys(b"\r");
    assert!(out.contains("vrrp_instance VI_1 {"), "{out}");
    t.keys(b"set vrrp_instance \t");
    t.keys(b"pri\t130\r");
    assert_eq!(t.shell.candidate.vrrp_instances[0].priority, 130);
    let out = t.keys(b"set vrrp_instance VI_1 state ?");
    assert!(out.contains("BACKUP  MASTER"), "{out}");
    t.keys(b"\x15");
    let out = t.keys(b"?");
    assert!(out.contains("commit confirmed N"), "{out}");
}

#[test]
fn console_password_with_lockout() {
    let mut t = Term::new();
    t.line("password set");
    t.line("short");
    assert!(t.line("short").contains("at least 8 characters"));
    t.line("password set");
    t.line("correct horse");
    t.line("correct horse");
    t.line("commit");
    assert!(t.shell.running.global.console_password.is_some());
    let out = t.line("logout");
    assert!(out.ends_with("Password: "), "{out}");
    let out = t.line("wrong");
    assert!(!out.contains("wrong\r"), "the password is not echoed: {out}");
    assert!(out.contains("wrong password; wait 1 s"));
    // While locked even the right password is refused.
    assert!(t.line("correct horse").contains("locked"));
    t.wait(Duration::from_secs(1));
    assert!(t.line("bad again").contains("wait 2 s"));
    t.wait(Duration::from_secs(2));
    let out = t.line("correct horse");
    assert!(out.ends_with("vigil> "), "{out}");
    assert!(t.line("show system").contains("hostname test"));
}

#[test]
fn power_commands_are_handed_to_the_system() {
    let mut t = Term::new();
    t.line("reboot now");
    assert_eq!(t.shell.take_power(), Some(Power::Reboot));
    assert_eq!(t.shell.take_power(), None);
}

#[test]
fn power_commands_ask_first_and_are_never_abbreviated() {
    let mut t = Term::new();
    // Abbreviations (line noise on a serial console) do nothing.
    for (typed, full) in [("po", "poweroff"), ("powero", "poweroff"), ("ha", "halt"), ("reb", "reboot")] {
        let out = t.line(typed);
        assert!(
            out.contains(&format!("error: {typed:?} is not a command; power commands are typed in full: {full}")),
            "{out}"
        );
        assert_eq!(t.shell.take_power(), None);
    }
    // The question: anything but y/yes cancels, and so do Ctrl-C and Ctrl-D.
    for (cmd, power) in [("poweroff", Power::PowerOff), ("reboot", Power::Reboot), ("halt", Power::Halt)] {
        let q = t.line(cmd);
        assert!(q.ends_with("the appliance? [y/N] "), "{q}");
        let out = t.line("");
        assert!(out.contains(&format!("{cmd} cancelled")), "{out}");
        assert!(out.ends_with("vigil> "), "{out}");
        t.line(cmd);
        assert!(t.line("yess").contains("cancelled"));
        t.line(cmd);
        t.keys(b"\x03");
        assert_eq!(t.shell.take_power(), None);
        t.line(cmd);
        t.line("Y");
        assert_eq!(t.shell.take_power(), Some(power));
    }
    assert!(t.line("poweroff").contains("power off the appliance? [y/N] "));
    t.line("yes");
    assert_eq!(t.shell.take_power(), Some(Power::PowerOff));
}

#[test]
fn a_partial_instance_is_marked_in_the_candidate_and_refused_at_commit() {
    let mut t = Term::new();
    let out = t.line("set vrrp_instance VI_9 priority 100");
    assert!(!out.contains("error"), "{out}");
    // Other edits still work.
    let out = t.line("set vrrp_instance VI_1 priority 50");
    assert!(!out.contains("error"), "{out}");
    let cand = t.line("show candidate");
    assert!(cand.contains("! incomplete: `commit` refuses this candidate until these are fixed:"), "{cand}");
    assert!(cand.contains("!   vrrp_instance VI_9"), "{cand}");
    let out = t.line("commit");
    assert!(out.contains("the candidate is invalid; nothing was written"), "{out}");
    assert!(t.shell.system.history().is_empty());
    // Completed, it commits.
    t.line("set vrrp_instance VI_9 interface eth0");
    t.line("set vrrp_instance VI_9 virtual_router_id 9");
    t.line("set vrrp_instance VI_9 virtual_ipaddress 10.0.9.1/24");
    assert!(!t.line("show candidate").contains("incomplete"));
    assert!(t.line("commit").contains("written and applied"));
}

#[test]
fn quotes_and_backslashes_can_be_escaped() {
    use vigil_shell::session::split_words;
    assert_eq!(split_words(r#"set a "b c" d"#), ["set", "a", "b c", "d"]);
    assert_eq!(split_words(r#""a\"b""#), [r#"a"b"#]);
    assert_eq!(split_words(r#"a\\b \"q\""#), [r#"a\b"#, r#""q""#]);
    // A lone backslash is itself.
    assert_eq!(split_words(r#"a\b"#), [r#"a\b"#]);
    let mut t = Term::new();
    t.line(r#"set vrrp_instance VI_1 notify "/bin/notify \"a b\"""#);
    assert_eq!(t.shell.candidate.vrrp_instances[0].notify.any.as_deref(), Some(r#"/bin/notify "a b""#));
}

#[test]
fn overlong_lines_are_refused_in_commands_and_pastes() {
    let mut t = Term::new();
    let before = t.shell.candidate.clone();
    let out = t.line(&format!("set vrrp_instance VI_1 notify {}", "x".repeat(5000)));
    assert!(out.contains("error: the line is longer than 4096 characters, the limit ("), "{out}");
    assert!(out.contains("it was not run"), "{out}");
    assert_eq!(t.shell.candidate, before);

    // In a paste: the rest is read until `end`, then the load is refused
    // with the line that crossed the bound; nothing of it runs as commands.
    t.line("load keepalived");
    t.line("vrrp_instance VI_2 {");
    t.line(&format!(" notify {}", "y".repeat(5000)));
    t.line(" interface eth0");
    let out = t.line("poweroff now");
    assert!(!out.contains("error"), "lines in a paste are not commands: {out}");
    let out = t.line("end");
    assert!(
        out.contains(
            "error: line 2 of the paste is longer than 4096 characters, the limit; load abandoned, candidate unchanged"
        ),
        "{out}"
    );
    assert_eq!(t.shell.take_power(), None);
    assert_eq!(t.shell.candidate, before);
    assert!(t.line("show candidate").contains("VI_1"));
}

#[test]
fn an_escape_that_nothing_follows_in_time_is_the_escape_key() {
    let mut t = Term::new();
    t.line("show version");
    // ESC, then the rest of Up within the timeout: history.
    t.keys(b"\x1b");
    let due = t.shell.poll_timeout().expect("a half-read escape waits for its timeout");
    assert_eq!(due, t.now + vigil_shell::editor::ESC_TIMEOUT);
    t.wait(Duration::from_millis(100));
    t.keys(b"[A");
    assert_eq!(t.shell.redraw(), "vigil> show version");
    t.keys(b"\x15"); // Ctrl-U
    // ESC, the terminal quiet past the timeout: "[A" is typed text.
    t.keys(b"\x1b");
    t.wait(Duration::from_millis(600));
    assert_eq!(t.shell.poll_timeout(), None, "nothing left to wait for");
    t.keys(b"[A");
    assert_eq!(t.shell.redraw(), "vigil> [A");
    // The same when the caller was late and the bytes come after the timeout.
    t.keys(b"\x15\x1b");
    t.now += Duration::from_secs(1);
    t.keys(b"[B");
    assert_eq!(t.shell.redraw(), "vigil> [B");
}

#[test]
fn update_commands_reach_the_system_typed_and_mistakes_do_not() {
    let mut t = Term::new();
    assert!(t.line("update install http://192.0.2.1/v2.vub").contains("installing http://192.0.2.1/v2.vub"));
    assert!(t.line("up install /dev/sdb").contains("installing /dev/sdb"), "a prefix is enough");
    assert!(t.line("update confirm").contains("error: no slot is on trial"));
    for (bad, says) in [
        ("update install v2.vub", "is not an http:// or https:// URL or a /path"),
        ("update install", "which bundle?"),
        ("update", "update: check | install URL|FILE | confirm | rollback"),
        ("update frobnicate", "unknown \"frobnicate\""),
    ] {
        let out = t.line(bad);
        assert!(out.contains(says), "{bad}: {out}");
    }
    assert_eq!(
        t.shell.system.updates,
        [
            UpdateCommand::Install("http://192.0.2.1/v2.vub".into()),
            UpdateCommand::Install("/dev/sdb".into()),
            UpdateCommand::Confirm
        ]
    );
    assert!(t.keys(b"update \t").contains("check"), "completion offers the subcommands");
}

/// `show TOPIC json`: one line of JSON each; the config is the model
/// itself, a candidate carries what commit would refuse, a mistake is an
/// error in words.
#[test]
fn show_json_answers_in_one_line_of_json() {
    let mut t = Term::new();
    let json = |out: &str| -> serde_json::Value {
        let line = out.split("\r\n").find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON in {out:?}"));
        serde_json::from_str(line).unwrap()
    };
    let c = json(&t.line("show config json"));
    assert_eq!(c["vrrp_instances"][0]["priority"], 100);
    assert_eq!(c["vrrp_instances"][0]["name"], "VI_1");
    t.line("set vrrp_instance VI_9 priority 100");
    let cand = json(&t.line("show candidate json"));
    assert_eq!(cand["config"]["vrrp_instances"][1]["name"], "VI_9");
    assert!(cand["errors"][0].as_str().unwrap().contains("vrrp_instance VI_9"), "{cand}");
    assert_eq!(json(&t.line("show system json"))["hostname"], "test");
    assert_eq!(json(&t.line("show history json"))["generations"], serde_json::json!([]));
    let e = json(&t.line("show nonsense json"));
    assert_eq!(e["error"], "unknown topic \"nonsense\"");
    let out = t.line("show system jsn");
    assert!(out.contains("error: unexpected \"jsn\"; usage: show TOPIC [json]"), "{out}");
}
