//! `set` and `delete` by keepalived path, and completion of those paths.
//!
//! A path is keepalived.conf written on one line: `vrrp_instance VI_1
//! priority 120`, `virtual_server 10.0.0.1 80 real_server 10.0.0.2 80 weight
//! 3`. An edit is made on the statement tree of the config's export and the
//! result is imported again, so every value goes through the same checks as
//! an imported file, and an edit that does not import cleanly changes nothing.

use super::export::{Flavor, export, word};
use super::import::{Severity, import};
use super::syntax::{Pos, Stmt, Word, parse_str};
use crate::model::{Config, DnsType, Scheduler};

/// A block kind: the blocks it may hold (with how many words name each),
/// its leaf keywords, and whether it is a list (items are values, as in
/// `virtual_ipaddress`).
struct Ctx {
    name: &'static str,
    blocks: &'static [(&'static str, usize, &'static str)],
    leaves: &'static [&'static str],
    list: bool,
}

const CHECKER_LEAVES: &[&str] = &[
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_to",
    "connect_timeout",
    "retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
    "virtualhost",
    "helo_name",
    "type",
    "name",
    "payload",
    "require_reply",
    "misc_path",
    "misc_timeout",
    "misc_dynamic",
    "bind_if",
    "bind_port",
    "fwmark",
    "alpha",
    "log_all_failures",
    "http_protocol",
    "enable_sni",
    "verify_cert",
];

const CTXS: &[Ctx] = &[
    Ctx {
        name: "top",
        blocks: &[
            ("global_defs", 0, "global_defs"),
            ("vigil_defs", 0, "vigil_defs"),
            ("interface", 1, "interface"),
            ("vrrp_script", 1, "vrrp_script"),
            ("vrrp_track_process", 1, "vrrp_track_process"),
            ("vrrp_track_file", 1, "vrrp_track_file"),
            ("bfd_instance", 1, "bfd_instance"),
            ("static_ipaddress", 0, "list"),
            ("static_routes", 0, "list"),
            ("static_rules", 0, "list"),
            ("vrrp_sync_group", 1, "vrrp_sync_group"),
            ("track_group", 1, "track_group"),
            ("vrrp_instance", 1, "vrrp_instance"),
            ("virtual_server_group", 1, "lines"),
            ("SSL", 0, "SSL"),
            ("virtual_server", 2, "virtual_server"),
        ],
        leaves: &[],
        list: false,
    },
    Ctx {
        name: "global_defs",
        blocks: &[("notification_email", 0, "list")],
        leaves: &[
            "router_id",
            "vmac_addr_prefix",
            "vrrp_version",
            "enable_script_security",
            "script_user",
            "vrrp_strict",
            "default_interface",
            "notification_email_from",
            "smtp_server",
            "smtp_helo_name",
            "smtp_connect_timeout",
            "smtp_alert",
            "smtp_alert_vrrp",
            "smtp_alert_checker",
            "no_email_faults",
            "vrrp_skip_check_adv_addr",
            "vrrp_lower_prio_no_advert",
            "vrrp_higher_prio_send_advert",
            "vrrp_garp_interval",
            "vrrp_gna_interval",
            "vrrp_garp_master_delay",
            "vrrp_garp_master_repeat",
            "vrrp_garp_master_refresh",
            "vrrp_min_garp",
            "vrrp_garp_master_refresh_repeat",
            "vrrp_garp_lower_prio_delay",
            "vrrp_garp_lower_prio_repeat",
            "vrrp_down_timer_adverts",
            "vrrp_garp_extra_if",
            "vrrp_mcast_group4",
            "vrrp_mcast_group6",
            "vrrp_startup_delay",
            "checker_log_all_failures",
            "rs_init_notifies",
            "no_checker_emails",
            "lvs_flush",
            "lvs_flush_on_stop",
            "lvs_sync_daemon",
            "lvs_timeouts",
            "startup_script",
            "startup_script_timeout",
            "shutdown_script",
            "shutdown_script_timeout",
        ],
        list: false,
    },
    Ctx {
        name: "vigil_defs",
        blocks: &[],
        leaves: &[
            "hostname",
            "time_server",
            "syslog",
            "metrics_listen",
            "watchdog",
            "watchdog_timeout",
            "heartbeat_ms",
            "heartbeat_limit_ms",
            "update_confirm_s",
            "update_channel",
            "update_window",
            "update_poll_s",
            "update_key",
            "console_password",
        ],
        list: false,
    },
    Ctx { name: "interface", blocks: &[("vlan", 1, "vlan")], leaves: &["address", "mtu", "multicast"], list: false },
    Ctx { name: "vlan", blocks: &[], leaves: &["address"], list: false },
    Ctx {
        name: "vrrp_instance",
        blocks: &[
            ("authentication", 0, "authentication"),
            ("virtual_ipaddress", 0, "list"),
            ("unicast_peer", 0, "list"),
            ("track_interface", 0, "list"),
            ("track_script", 0, "list"),
            ("virtual_ipaddress_excluded", 0, "list"),
            ("virtual_routes", 0, "list"),
            ("virtual_rules", 0, "list"),
            ("track_process", 0, "list"),
            ("track_file", 0, "list"),
            ("track_bfd", 0, "list"),
        ],
        leaves: &[
            "state",
            "interface",
            "version",
            "virtual_router_id",
            "priority",
            "advert_int",
            "nopreempt",
            "preempt_delay",
            "accept",
            "no_accept",
            "use_vmac",
            "vmac_xmit_base",
            "use_vmac_addr",
            "use_ipvlan",
            "dont_track_primary",
            "unicast_src_ip",
            "mcast_src_ip",
            "skip_check_adv_addr",
            "lower_prio_no_advert",
            "higher_prio_send_advert",
            "strict_mode",
            "smtp_alert",
            "gna_interval",
            "notify_master",
            "notify_backup",
            "notify_fault",
            "notify_stop",
            "notify",
            "garp_master_delay",
            "garp_master_repeat",
            "garp_master_refresh",
            "garp_interval",
            "garp_master_refresh_repeat",
            "garp_lower_prio_delay",
            "garp_lower_prio_repeat",
            "down_timer_adverts",
            "mcast_dst_ip",
            "unicast_ttl",
            "unicast_fault_no_peer",
            "track_src_ip",
            "promote_secondaries",
            "notify_master_rx_lower_pri",
            "notify_deleted",
            "garp_extra_if",
        ],
        list: false,
    },
    Ctx { name: "SSL", blocks: &[], leaves: &["password", "ca", "certificate", "key"], list: false },
    Ctx { name: "authentication", blocks: &[], leaves: &["auth_type", "auth_pass"], list: false },
    Ctx { name: "track_group", blocks: &[("group", 0, "list")], leaves: &[], list: false },
    Ctx {
        name: "vrrp_sync_group",
        blocks: &[
            ("group", 0, "list"),
            ("track_script", 0, "list"),
            ("track_process", 0, "list"),
            ("track_file", 0, "list"),
            ("track_bfd", 0, "list"),
        ],
        leaves: &[
            "notify_master",
            "notify_backup",
            "notify_fault",
            "notify_stop",
            "notify",
            "smtp_alert",
            "sync_group_tracking_weight",
        ],
        list: false,
    },
    Ctx { name: "vrrp_track_file", blocks: &[], leaves: &["file", "weight", "init_file"], list: false },
    Ctx {
        name: "bfd_instance",
        blocks: &[],
        leaves: &[
            "neighbor_ip",
            "neighbour_ip",
            "source_ip",
            "min_rx",
            "min_tx",
            "idle_tx",
            "multiplier",
            "passive",
            "ttl",
            "hoplimit",
            "max_hops",
            "weight",
            "vrrp",
            "checker",
        ],
        list: false,
    },
    Ctx { name: "file_check", blocks: &[], leaves: &["track_file", "weight", "dynamic"], list: false },
    Ctx { name: "bfd_check", blocks: &[], leaves: &["name"], list: false },
    Ctx {
        name: "vrrp_track_process",
        blocks: &[],
        leaves: &[
            "process",
            "param_match",
            "full_command",
            "quorum",
            "quorum_max",
            "delay",
            "fork_delay",
            "terminate_delay",
            "weight",
        ],
        list: false,
    },
    Ctx {
        name: "vrrp_script",
        blocks: &[],
        leaves: &["script", "interval", "timeout", "weight", "rise", "fall", "user", "init_fail"],
        list: false,
    },
    Ctx { name: "list", blocks: &[], leaves: &[], list: true },
    // A list whose lines are told apart by all their words, not the first
    // (`fwmark 3` and `fwmark 4`; `10.0.0.1-10 80` and `10.0.0.1-10 443`).
    Ctx { name: "lines", blocks: &[], leaves: &[], list: true },
    Ctx {
        name: "virtual_server",
        blocks: &[("real_server", 2, "real_server")],
        leaves: &[
            "delay_loop",
            "lb_algo",
            "lb_kind",
            "protocol",
            "persistence_timeout",
            "persistence_granularity",
            "quorum",
            "hysteresis",
            "sorry_server",
            "sorry_server_inhibit",
            "ha_suspend",
            "ip_family",
            "sorry_server_lvs_method",
            "inhibit_on_failure",
            "alpha",
            "omega",
            "smtp_alert",
            "quorum_up",
            "quorum_down",
            "ops",
            "flag-1",
            "flag-2",
            "flag-3",
        ],
        list: false,
    },
    Ctx {
        name: "real_server",
        blocks: &[
            ("TCP_CHECK", 0, "checker"),
            ("HTTP_GET", 0, "checker"),
            ("SSL_GET", 0, "checker"),
            ("SMTP_CHECK", 0, "checker"),
            ("DNS_CHECK", 0, "checker"),
            ("UDP_CHECK", 0, "checker"),
            ("PING_CHECK", 0, "checker"),
            ("MISC_CHECK", 0, "checker"),
            ("FILE_CHECK", 0, "file_check"),
            ("BFD_CHECK", 0, "bfd_check"),
        ],
        leaves: &[
            "weight",
            "lb_kind",
            "alpha",
            "inhibit_on_failure",
            "notify_up",
            "notify_down",
            "uthreshold",
            "lthreshold",
            "tun_type",
            "tun_port",
            "smtp_alert",
        ],
        list: false,
    },
    Ctx { name: "checker", blocks: &[("url", 0, "url")], leaves: CHECKER_LEAVES, list: false },
    Ctx {
        name: "url",
        blocks: &[],
        leaves: &[
            "path",
            "digest",
            "status_code",
            "regex",
            "regex_no_match",
            "regex_min_offset",
            "regex_max_offset",
            "regex_options",
        ],
        list: false,
    },
];

/// Leaves that may appear several times; `set` adds, `delete` removes one.
const ADDITIVE: &[&str] = &["address", "time_server"];

/// Every keyword vigil reads, in any block (for "did you mean").
pub fn vigil_keywords() -> impl Iterator<Item = &'static str> + Clone {
    CTXS.iter().flat_map(|c| c.blocks.iter().map(|b| b.0).chain(c.leaves.iter().copied()))
}

/// The blocks vigil reads `word` in, as an operator names them ("the top
/// level", "vrrp_instance", "a checker").
pub fn blocks_reading(word: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = CTXS
        .iter()
        .filter(|c| c.blocks.iter().any(|b| b.0 == word) || c.leaves.contains(&word))
        .map(|c| match c.name {
            "top" => "the top level",
            "checker" => "a checker",
            n => n,
        })
        .collect();
    out.dedup();
    out
}

/// Whether vigil reads `word` as a keyword in some block.
pub fn is_vigil_keyword(word: &str) -> bool {
    vigil_keywords().any(|k| k == word)
}

fn ctx(name: &str) -> &'static Ctx {
    CTXS.iter().find(|c| c.name == name).unwrap_or(&CTXS[0])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Set,
    Delete,
}

fn w(text: &str) -> Word {
    Word { text: text.to_string(), pos: Pos { file: "edit".into(), line: 0, col: 0 } }
}

fn expected(c: &Ctx) -> String {
    let mut all: Vec<&str> = c.blocks.iter().map(|b| b.0).chain(c.leaves.iter().copied()).collect();
    all.sort();
    all.join(", ")
}

/// Applies `set`/`delete` with a path; returns the new config, or what was
/// wrong (and the config is unchanged).
/// Every message names the path it is about (`vrrp_instance VI_1 priority
/// 300: "300" is not a priority (1..=255)`).
pub fn edit(config: &Config, op: Op, path: &[String]) -> Result<Config, Vec<String>> {
    match path {
        [kw, a, b, ..] if kw == "virtual_server" => edit_virtual_server(config, op, path, [a, b]),
        _ => edit_whole(config, op, path),
    }
}

/// An edit under one `virtual_server`. Virtual servers are most of a
/// production config (issue #2318's: 2,284 of them with 37,298 real
/// servers, where the whole round trip took 0.4 s a `set` on a fast CPU
/// and 3 s under QEMU), and an edit of one touches only it: the round trip
/// is made on a config holding that virtual server and everything but the
/// other virtual servers (what its import reads: the globals, the groups),
/// and the result put in its place. The same checks as the whole config's
/// round trip, and the same result (a test holds the two equal), at the
/// cost of one virtual server.
fn edit_virtual_server(config: &Config, op: Op, path: &[String], id: [&String; 2]) -> Result<Config, Vec<String>> {
    // The words its block is named by in the export, as the whole round
    // trip matches them.
    let named = |vs: &crate::model::VirtualServer| match &vs.key {
        crate::model::VirtualKey::Group(g) => *id[0] == "group" && *id[1] == g.as_str(),
        key => {
            let text = key.to_string();
            let mut w = text.split_whitespace();
            w.next() == Some(id[0].as_str()) && w.next() == Some(id[1].as_str()) && w.next().is_none()
        }
    };
    let found = config.virtual_servers.iter().position(named);
    // Every field but the other virtual servers (no `..`: a field added to
    // Config must be thought about here).
    let mut one = Config {
        global: config.global.clone(),
        interfaces: config.interfaces.clone(),
        vrrp_instances: config.vrrp_instances.clone(),
        sync_groups: config.sync_groups.clone(),
        virtual_servers: Default::default(),
        vrrp_scripts: config.vrrp_scripts.clone(),
        track_processes: config.track_processes.clone(),
        track_files: config.track_files.clone(),
        virtual_server_groups: config.virtual_server_groups.clone(),
        bfd_instances: config.bfd_instances.clone(),
    };
    if let Some(i) = found {
        let _ = one.virtual_servers.push(config.virtual_servers[i].clone());
    }
    let edited = edit_whole(&one, op, path)?;
    let mut out = config.clone();
    match (found, edited.virtual_servers.first()) {
        (Some(i), Some(vs)) => out.virtual_servers[i] = vs.clone(),
        (Some(i), None) => {
            out.virtual_servers.remove(i);
        }
        (None, Some(vs)) => {
            if out.virtual_servers.push(vs.clone()).is_err() {
                // As the import says it.
                let most = crate::model::limits::VIRTUAL_SERVERS;
                return Err(vec![format!(
                    "{}: more than {most} virtual_server: this one is dropped",
                    path_label(path)
                )]);
            }
        }
        (None, None) => {}
    }
    Ok(out)
}

/// The edit made on the whole config's export, imported again.
fn edit_whole(config: &Config, op: Op, path: &[String]) -> Result<Config, Vec<String>> {
    let label = path_label(path);
    let text = export(config, Flavor::Vigil);
    let mut tree = parse_str("running", &text).map_err(|e| vec![format!("internal: {e}")])?;
    apply(&mut tree, ctx("top"), path, op).map_err(|e| vec![format!("{label}: {e}")])?;
    let imported = import(&tree);
    let problems: Vec<String> = imported
        .diagnostics
        .iter()
        .filter(|d| matches!(d.severity, Severity::Error | Severity::Unsupported | Severity::Replaced))
        .map(|d| format!("{label}: {}", d.message))
        .collect();
    if problems.is_empty() { Ok(imported.config) } else { Err(problems) }
}

/// A path as the operator typed it, each word quoted as needed and long
/// words cut short.
fn path_label(path: &[String]) -> String {
    if path.is_empty() {
        return "(empty path)".into();
    }
    let words: Vec<String> = path
        .iter()
        .map(|p| {
            if p.chars().count() > 48 {
                let head: String = p.chars().take(40).collect();
                format!("{}... ({} bytes)", word(&head), p.len())
            } else {
                word(p)
            }
        })
        .collect();
    words.join(" ")
}

fn apply(stmts: &mut Vec<Stmt>, c: &Ctx, path: &[String], op: Op) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        return Err(format!("incomplete: expected one of {}", expected(c)));
    };
    if let Some(&(kw, ids, inner)) = c.blocks.iter().find(|b| b.0 == first) {
        if rest.len() < ids {
            return Err(format!("{kw} needs {ids} word{} to name it", if ids == 1 { "" } else { "s" }));
        }
        let (id, rest) = rest.split_at(ids);
        let found = stmts.iter().position(|s| s.keyword.text == kw && s.args.iter().map(|a| &a.text).eq(id.iter()));
        let named = || format!("{kw} {}", id.join(" ")).trim_end().to_string();
        if rest.is_empty() {
            return match (op, found) {
                (Op::Set, Some(_)) => Ok(()),
                (Op::Set, None) => {
                    stmts.push(Stmt {
                        keyword: w(kw),
                        args: id.iter().map(|s| w(s)).collect(),
                        block: Some(Vec::new()),
                    });
                    Ok(())
                }
                (Op::Delete, Some(i)) => {
                    stmts.remove(i);
                    Ok(())
                }
                (Op::Delete, None) => Err(format!("there is no {}", named())),
            };
        }
        let i = match (op, found) {
            (_, Some(i)) => i,
            (Op::Set, None) => {
                stmts.push(Stmt { keyword: w(kw), args: id.iter().map(|s| w(s)).collect(), block: Some(Vec::new()) });
                stmts.len() - 1
            }
            (Op::Delete, None) => return Err(format!("there is no {}", named())),
        };
        let block = stmts[i].block.get_or_insert_with(Vec::new);
        let inner = ctx(inner);
        if inner.list {
            let (item, args) = rest.split_first().map(|(a, b)| (a.clone(), b)).unwrap_or_default();
            let whole = inner.name == "lines";
            let pos = block
                .iter()
                .position(|s| s.keyword.text == item && (!whole || s.args.iter().map(|a| &a.text).eq(args.iter())));
            return match op {
                Op::Set if whole && pos.is_some() => Ok(()),
                Op::Set => {
                    let stmt = Stmt { keyword: w(&item), args: args.iter().map(|s| w(s)).collect(), block: None };
                    match pos {
                        Some(p) => block[p] = stmt,
                        None => block.push(stmt),
                    }
                    Ok(())
                }
                Op::Delete => match pos {
                    Some(p) => {
                        block.remove(p);
                        Ok(())
                    }
                    None => Err(format!("{} has no {item:?}", named())),
                },
            };
        }
        return apply(block, inner, rest, op);
    }
    if c.leaves.contains(&first.as_str()) {
        let additive = ADDITIVE.contains(&first.as_str());
        let same = |s: &Stmt| {
            s.keyword.text == *first && (!additive || rest.is_empty() || s.args.iter().map(|a| &a.text).eq(rest.iter()))
        };
        match op {
            Op::Set => {
                if !additive {
                    stmts.retain(|s| s.keyword.text != *first);
                } else if stmts.iter().any(&same) {
                    return Ok(());
                }
                stmts.push(Stmt { keyword: w(first), args: rest.iter().map(|s| w(s)).collect(), block: None });
            }
            Op::Delete => {
                let before = stmts.len();
                stmts.retain(|s| !same(s));
                if stmts.len() == before {
                    return Err(format!("{first} {} is not set", rest.join(" "))
                        .replace("  ", " ")
                        .trim_end()
                        .to_string());
                }
            }
        }
        return Ok(());
    }
    Err(format!("unknown keyword {first:?} here; expected one of {}", expected(c)))
}

/// Completions for the last (partial) word of a path, given the words
/// before it, for the config as it stands.
pub fn complete(config: &Config, before: &[String], partial: &str) -> Vec<String> {
    Completer::default().complete(config, before, partial)
}

/// Completion for a console: the config's statement tree is built once per
/// change of the config, not once per key (Tab and `?` used to export and
/// parse the whole candidate each time: 30 ms a key with 200 instances).
#[derive(Default)]
pub struct Completer {
    built: Option<(Config, Vec<Stmt>)>,
}

impl Completer {
    /// Completions as [`complete`] gives them, from the cached tree.
    pub fn complete(&mut self, config: &Config, before: &[String], partial: &str) -> Vec<String> {
        // Comparing the model is cheap next to exporting and parsing it.
        if self.built.as_ref().is_none_or(|(c, _)| c != config) {
            let tree = parse_str("running", &export(config, Flavor::Vigil)).unwrap_or_default();
            self.built = Some((config.clone(), tree));
        }
        let tree = self.built.as_ref().map_or(&[][..], |(_, t)| t.as_slice());
        complete_in(tree, before, partial)
    }

    /// What may follow at a point of a path, for `?`.
    pub fn help(&mut self, config: &Config, before: &[String]) -> String {
        let options = self.complete(config, before, "");
        if options.is_empty() { "<value>".into() } else { options.join("  ") }
    }
}

fn complete_in(tree: &[Stmt], before: &[String], partial: &str) -> Vec<String> {
    let mut stmts: &[Stmt] = tree;
    let mut c = ctx("top");
    let mut i = 0;
    let mut out: Vec<String> = Vec::new();
    loop {
        if i == before.len() {
            // A keyword at this level.
            if c.list {
                out = stmts.iter().map(|s| s.keyword.text.clone()).collect();
            } else {
                out = c.blocks.iter().map(|b| b.0.to_string()).chain(c.leaves.iter().map(|l| l.to_string())).collect();
            }
            break;
        }
        let word = &before[i];
        if let Some(&(kw, ids, inner)) = c.blocks.iter().find(|b| b.0 == word) {
            let have = before.len() - i - 1;
            if have < ids {
                // Completing a name: the ones that exist.
                let named: Vec<&Stmt> = stmts
                    .iter()
                    .filter(|s| {
                        s.keyword.text == kw && s.args.iter().take(have).map(|a| &a.text).eq(before[i + 1..].iter())
                    })
                    .collect();
                out = named.iter().filter_map(|s| s.args.get(have).map(|a| a.text.clone())).collect();
                if kw == "virtual_server" && have == 0 {
                    out.retain(|w| w != "fwmark" && w != "group");
                    out.push("fwmark".into());
                    out.push("group".into());
                }
                if kw == "virtual_server" && have == 1 && before[i + 1] == "group" {
                    // A group not yet used by a virtual server.
                    for g in stmts.iter().filter(|s| s.keyword.text == "virtual_server_group") {
                        if let Some(name) = g.args.first()
                            && !out.contains(&name.text)
                        {
                            out.push(name.text.clone());
                        }
                    }
                }
                break;
            }
            let id = &before[i + 1..i + 1 + ids];
            stmts = stmts
                .iter()
                .find(|s| s.keyword.text == kw && s.args.iter().map(|a| &a.text).eq(id.iter()))
                .and_then(|s| s.block.as_deref())
                .unwrap_or(&[]);
            c = ctx(inner);
            i += 1 + ids;
            continue;
        }
        if c.leaves.contains(&word.as_str()) && i + 1 == before.len() {
            out = values(word);
        }
        break;
    }
    out.sort();
    out.dedup();
    out.retain(|o| o.starts_with(partial));
    out.into_iter().map(|o| word(&o)).collect()
}

/// Fixed values a leaf takes.
fn values(leaf: &str) -> Vec<String> {
    let v: Vec<&str> = match leaf {
        "state" => vec!["MASTER", "BACKUP"],
        "version" | "vrrp_version" => vec!["2", "3"],
        "lb_kind" => vec!["NAT", "DR", "TUN"],
        "protocol" => vec!["TCP", "UDP", "SCTP"],
        "watchdog" | "multicast" => vec!["on", "off"],
        "auth_type" => vec!["PASS"],
        "lb_algo" => {
            return Scheduler::ALL.iter().map(|s| s.name().to_string()).collect();
        }
        "type" => return DnsType::ALL.iter().map(|t| t.name().to_string()).collect(),
        _ => vec![],
    };
    v.into_iter().map(str::to_string).collect()
}

/// What may follow at a point of a path, for `?`.
pub fn help(config: &Config, before: &[String]) -> String {
    Completer::default().help(config, before)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    use crate::model::VirtualKey;

    fn s(w: &str) -> String {
        w.to_string()
    }

    fn base() -> Config {
        super::super::import_str(
            "t",
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 10.0.0.1/24\n }\n}\n",
        )
        .unwrap()
        .config
    }

    #[test]
    fn set_and_delete_leaves_blocks_and_list_items() {
        let c = base();
        let c = edit(&c, Op::Set, &p("vrrp_instance VI_1 priority 120")).unwrap();
        assert_eq!(c.vrrp_instances[0].priority, 120);
        let c = edit(&c, Op::Set, &p("vrrp_instance VI_1 nopreempt")).unwrap();
        assert!(!c.vrrp_instances[0].preempt);
        let c = edit(&c, Op::Delete, &p("vrrp_instance VI_1 nopreempt")).unwrap();
        assert!(c.vrrp_instances[0].preempt);
        let c = edit(&c, Op::Set, &p("vrrp_instance VI_1 virtual_ipaddress 10.0.0.2/24 dev eth0")).unwrap();
        assert_eq!(c.vrrp_instances[0].virtual_ipaddress.len(), 2);
        let c = edit(&c, Op::Delete, &p("vrrp_instance VI_1 virtual_ipaddress 10.0.0.1/24")).unwrap();
        assert_eq!(c.vrrp_instances[0].virtual_ipaddress[0].addr.to_string(), "10.0.0.2/24");
        let c = edit(&c, Op::Set, &p("virtual_server 10.0.0.2 80 real_server 10.0.0.10 80 weight 3")).unwrap();
        assert_eq!(c.virtual_servers[0].real_servers[0].weight, 3);
        let c = edit(&c, Op::Set, &p("vigil_defs hostname lb-7")).unwrap();
        assert_eq!(c.global.hostname.as_str(), "lb-7");
        let c = edit(&c, Op::Delete, &p("virtual_server 10.0.0.2 80")).unwrap();
        assert!(c.virtual_servers.is_empty());
    }

    /// An edit under a virtual_server is made on that one alone: its result
    /// (config or errors) is the whole config's round trip's, for sets and
    /// deletes of blocks, leaves and checkers, new virtual servers, groups,
    /// fwmarks and mistakes.
    #[test]
    fn an_edit_of_one_virtual_server_is_the_whole_round_trips() {
        let c = super::super::import_str(
            "t",
            "global_defs {\n lvs_timeouts tcp 7200\n}\n\
             virtual_server_group WEB {\n 10.0.0.100-102 80\n}\n\
             virtual_server group WEB {\n lb_algo rr\n protocol TCP\n real_server 10.0.1.1 80 {\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n }\n}\n\
             virtual_server fwmark 7 {\n lb_kind DR\n real_server 10.0.1.2 0 {\n }\n}\n\
             virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.1.3 80 {\n  TCP_CHECK {\n  }\n }\n}\n\
             virtual_server 2001:db8::1 443 {\n protocol TCP\n real_server 2001:db8::3 443 {\n }\n}\n",
        )
        .unwrap()
        .config;
        assert_eq!(c.virtual_servers.len(), 4);
        let mut refused = 0;
        for (op, path) in [
            (Op::Set, "virtual_server 10.0.0.1 80 lb_algo wrr"),
            (Op::Set, "virtual_server 10.0.0.1 80 real_server 10.0.1.3 80 weight 5"),
            (Op::Set, "virtual_server 10.0.0.1 80 real_server 10.0.1.9 80 TCP_CHECK connect_timeout 2"),
            (Op::Delete, "virtual_server 10.0.0.1 80 real_server 10.0.1.3 80"),
            (Op::Delete, "virtual_server 10.0.0.1 80"),
            (Op::Set, "virtual_server group WEB delay_loop 3"),
            (Op::Set, "virtual_server group WEB real_server 10.0.1.1 80 HTTP_GET url path /health"),
            (Op::Delete, "virtual_server group WEB"),
            (Op::Set, "virtual_server fwmark 7 persistence_timeout 60"),
            (Op::Set, "virtual_server 2001:db8::1 443 real_server 2001:db8::3 443 weight 2"),
            (Op::Set, "virtual_server 10.0.0.9 8080 protocol TCP"),
            (Op::Set, "virtual_server 10.0.0.9 8080"),
            (Op::Set, "virtual_server group NOPE lb_algo rr"),
            (Op::Set, "virtual_server 10.0.0.1 80 lb_algo nonsense"),
            (Op::Set, "virtual_server 10.0.0.1 80 priorty 3"),
            (Op::Delete, "virtual_server 10.0.0.8 80"),
            (Op::Delete, "virtual_server 10.0.0.1 80 lb_algo"),
            (Op::Set, "virtual_server 10.0.0.1 http lb_algo rr"),
        ] {
            let path = p(path);
            let one = edit(&c, op, &path);
            let whole = edit_whole(&c, op, &path);
            assert_eq!(one, whole, "{op:?} {path:?}");
            refused += usize::from(one.is_err());
        }
        assert_eq!(refused, 5, "the mistakes are refused (both ways), the rest made");
    }

    #[test]
    fn mistakes_change_nothing_and_say_why() {
        let c = base();
        // Every message names the path.
        assert_eq!(
            edit(&c, Op::Set, &p("vrrp_instance VI_1 priority 300")).unwrap_err(),
            ["vrrp_instance VI_1 priority 300: \"300\" is not a priority (1..=255)"]
        );
        let e = edit(&c, Op::Set, &p("vrrp_instance VI_1 prioriti 3")).unwrap_err();
        assert!(
            e[0].starts_with(
                "vrrp_instance VI_1 prioriti 3: unknown keyword \"prioriti\" here; expected one of accept, advert_int"
            ),
            "{e:?}"
        );
        assert_eq!(
            edit(&c, Op::Delete, &p("vrrp_instance VI_9")).unwrap_err(),
            ["vrrp_instance VI_9: there is no vrrp_instance VI_9"]
        );
        assert_eq!(
            edit(&c, Op::Set, &p("vrrp_instance")).unwrap_err(),
            ["vrrp_instance: vrrp_instance needs 1 word to name it"]
        );
        assert_eq!(
            edit(&c, Op::Delete, &p("vrrp_instance VI_1 preempt_delay")).unwrap_err(),
            ["vrrp_instance VI_1 preempt_delay: preempt_delay is not set"]
        );
        // A huge value is named, not echoed back in full.
        let huge = "x".repeat(100_000);
        let e = edit(&c, Op::Set, &[s("vrrp_instance"), s("VI_1"), s("notify"), huge.clone()]).unwrap_err();
        assert_eq!(
            e,
            [format!(
                "vrrp_instance VI_1 notify {}... (100000 bytes): \"{}...\" (100000 bytes) is 100000 bytes long; the limit is 128 bytes",
                "x".repeat(40),
                "x".repeat(40)
            )]
        );
        // Byte and character lengths told apart.
        let e = edit(&c, Op::Set, &[s("vrrp_instance"), s("VI_1"), s("interface"), "ééééééééé".into()]).unwrap_err();
        assert!(e[0].contains("is not an interface name"), "{e:?}");
        let e =
            edit(&c, Op::Set, &[s("vrrp_instance"), "ééééééééééééééééé".into(), s("priority"), s("1")]).unwrap_err();
        assert!(e[0].ends_with("is 34 bytes long (17 characters); the limit is 32 bytes"), "{e:?}");
    }

    #[test]
    fn a_partial_instance_does_not_wedge_the_candidate() {
        // An instance begun without its interface: later edits of anything
        // else still work, and the interface can be added after.
        let c = edit(&base(), Op::Set, &p("vrrp_instance VI_9 priority 100")).unwrap();
        let c = edit(&c, Op::Set, &p("vrrp_instance VI_1 priority 50")).unwrap();
        assert_eq!(c.vrrp_instances[0].priority, 50);
        assert!(c.validate().is_err(), "VI_9 is not complete");
        let c = edit(&c, Op::Set, &p("vrrp_instance VI_9 interface eth0")).unwrap();
        assert_eq!(c.vrrp_instances[1].interface.as_str(), "eth0");
        // A name Linux would refuse is refused at once, naming the path.
        let e = edit(&c, Op::Set, &[s("vrrp_instance"), s("VI_1"), s("interface"), "eth 0".into()]).unwrap_err();
        assert_eq!(
            e,
            [
                "vrrp_instance VI_1 interface \"eth 0\": \"eth 0\" is not an interface name (1-15 characters, no '/', ':' or space)"
            ]
        );
        let c = edit(&c, Op::Set, &p("vrrp_instance VI_1 priority 60")).unwrap();
        assert_eq!(c.vrrp_instances[0].priority, 60);
    }

    #[test]
    fn completion_offers_keywords_names_and_values() {
        let c = base();
        assert_eq!(
            complete(&c, &[], "vr"),
            ["vrrp_instance", "vrrp_script", "vrrp_sync_group", "vrrp_track_file", "vrrp_track_process"]
        );
        assert_eq!(complete(&c, &p("vrrp_instance"), ""), ["VI_1"]);
        assert_eq!(complete(&c, &p("vrrp_instance VI_1"), "pri"), ["priority"]);
        assert_eq!(complete(&c, &p("vrrp_instance VI_1 state"), ""), ["BACKUP", "MASTER"]);
        assert_eq!(complete(&c, &p("vrrp_instance VI_1 virtual_ipaddress"), ""), ["10.0.0.1/24"]);
        assert_eq!(complete(&c, &p("virtual_server"), ""), ["fwmark", "group"]);
    }

    /// BFD at the console: a session, an instance tracking it, a check on
    /// it, each a path; a bad value changes nothing and says where.
    #[test]
    fn bfd_instances_their_tracks_and_checks_are_edited_by_path() {
        let c = edit(&base(), Op::Set, &p("bfd_instance B1 neighbor_ip 10.0.0.9")).unwrap();
        let c = edit(&c, Op::Set, &p("bfd_instance B1 min_rx 3.5")).unwrap();
        let c = edit(&c, Op::Set, &p("bfd_instance B1 passive")).unwrap();
        assert_eq!((c.bfd_instances[0].min_rx_us, c.bfd_instances[0].passive), (3_500, true));
        let c = edit(&c, Op::Set, &p("vrrp_instance VI_1 track_bfd B1 weight -10")).unwrap();
        assert_eq!(c.vrrp_instances[0].track_bfd[0].weight, Some((-10, false)));
        let c = edit(&c, Op::Set, &p("virtual_server 10.0.0.1 80 real_server 10.0.0.9 80 BFD_CHECK name B1")).unwrap();
        assert_eq!(c.virtual_servers[0].real_servers[0].checkers[0].kind.keyword(), "BFD_CHECK");
        assert_eq!(complete(&c, &p("bfd_instance B1"), "mi"), ["min_rx", "min_tx"]);
        let e = edit(&c, Op::Set, &p("bfd_instance B1 multiplier 0")).unwrap_err();
        assert_eq!(e, ["bfd_instance B1 multiplier 0: multiplier 0 is outside 1..=255"]);
        let e = edit(&c, Op::Set, &p("vrrp_instance VI_1 track_bfd B2")).unwrap_err();
        assert_eq!(e, ["vrrp_instance VI_1 track_bfd B2: \"B2\": no bfd_instance of that name"]);
        let c = edit(&c, Op::Delete, &p("vrrp_instance VI_1 track_bfd B1")).unwrap();
        assert!(c.vrrp_instances[0].track_bfd.is_empty());
    }

    #[test]
    fn groups_are_edited_line_by_line_and_completed() {
        let c = edit(&base(), Op::Set, &p("virtual_server_group WEB 10.0.0.10-12 80")).unwrap();
        // Lines are told apart by all their words: a second port and two
        // marks are lines of their own, and the same line twice is one.
        let c = edit(&c, Op::Set, &p("virtual_server_group WEB 10.0.0.10-12 443")).unwrap();
        let c = edit(&c, Op::Set, &p("virtual_server_group WEB fwmark 3")).unwrap();
        let c = edit(&c, Op::Set, &p("virtual_server_group WEB fwmark 4")).unwrap();
        let c = edit(&c, Op::Set, &p("virtual_server_group WEB fwmark 4")).unwrap();
        let lines: Vec<String> = c.virtual_server_groups[0].entries.iter().map(|e| e.to_string()).collect();
        assert_eq!(lines, ["10.0.0.10-12 80", "10.0.0.10-12 443", "fwmark 3", "fwmark 4"]);
        let c = edit(&c, Op::Delete, &p("virtual_server_group WEB fwmark 3")).unwrap();
        assert_eq!(c.virtual_server_groups[0].entries.len(), 3);
        assert_eq!(complete(&c, &p("virtual_server group"), ""), ["WEB"]);
        let c = edit(&c, Op::Set, &p("virtual_server group WEB real_server 10.0.1.1 80 weight 2")).unwrap();
        assert_eq!(c.virtual_servers[0].key, VirtualKey::Group("WEB".try_into().unwrap()));
        assert_eq!(c.services(&c.virtual_servers[0]).count(), 3 + 3 + 1);
        // A group the virtual server does not name, and a range that ends
        // before it starts, change nothing and say where.
        let e = edit(&c, Op::Set, &p("virtual_server group WBE lb_algo rr")).unwrap_err();
        assert_eq!(
            e,
            [
                "virtual_server group WBE lb_algo rr: virtual_server group WBE: no virtual_server_group of that name (the groups are WEB)"
            ]
        );
        let e = edit(&c, Op::Set, &p("virtual_server_group WEB 10.0.0.20-19 80")).unwrap_err();
        assert_eq!(
            e,
            ["virtual_server_group WEB 10.0.0.20-19 80: 10.0.0.20-19: the range ends at 19, not after where it starts"]
        );
    }
}
