//! keepalived.conf (and vigil's own additions to it) into the model.
//!
//! Every statement is either taken into the model, or reported: an error
//! (a bad value, a bound exceeded) or "unsupported" (a keepalived keyword
//! vigil does not implement), each with file:line:column. Nothing is dropped
//! silently.

use super::syntax::{self, Pos, Stmt, SyntaxError, Word};
use crate::model::*;
use core::net::{IpAddr, SocketAddr};
use core::str::FromStr;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Unsupported,
    /// keepalived's, for what vigil deliberately does another way (the
    /// message says with what); ignored.
    Replaced,
    /// Taken, as keepalived takes it, with something to know (a value
    /// keepalived truncates, an argument it ignores).
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub pos: Pos,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.severity {
            Severity::Error => "error",
            Severity::Unsupported => "unsupported",
            Severity::Replaced => "replaced",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {s}: {}", self.pos, self.message)
    }
}

#[derive(Debug, Clone)]
pub struct Import {
    pub config: Config,
    pub diagnostics: Vec<Diagnostic>,
    /// Where each block (and real server) of the config was written, by
    /// the path validation names it with (`vrrp_instance VI_1`,
    /// `virtual_server 10.0.0.1 80 real_server 10.0.0.2 80`).
    pub places: Vec<(Place, Pos)>,
}

/// The path of a place, as validation names what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Path(String),
    /// A real server: its virtual server's path (one, shared by all of its
    /// real servers) and its address; the whole path is made when asked.
    /// (A string each was 4 MB of an import's peak at keepalived issue
    /// #2318's shape: 37,298 real servers.)
    RealServer(std::sync::Arc<str>, SocketAddr),
}

impl Place {
    pub fn path(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Place::Path(p) => p.as_str().into(),
            Place::RealServer(vs, a) => format!("{vs} real_server {} {}", a.ip(), a.port()).into(),
        }
    }
}

impl Import {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error)
    }
    pub fn unsupported(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Unsupported)
    }
    /// Everything that is not an error: what was ignored, and what was
    /// taken with a note.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity != Severity::Error)
    }

    /// What validation finds in the imported config, each at the place of
    /// the block it is about (the innermost one recorded): a semantic
    /// error, such as an empty sync group, says file:line:column too.
    pub fn problems(&self) -> Vec<Diagnostic> {
        let Err(errors) = self.config.validate() else { return Vec::new() };
        let start = || self.places.first().map(|(_, p)| Pos { line: 1, col: 1, ..p.clone() });
        errors
            .into_iter()
            .map(|e| {
                let within = |path: &str| e.path == path || e.path.starts_with(&format!("{path} "));
                let pos = self
                    .places
                    .iter()
                    // A real server's path starts with its virtual
                    // server's: only those that can hold are spelt out
                    // (not 37,298 paths for each error at #2318's shape).
                    .filter(|(place, _)| match place {
                        Place::RealServer(vs, _) => e.path.starts_with(&**vs),
                        Place::Path(_) => true,
                    })
                    .map(|(place, pos)| (place.path(), pos))
                    .filter(|(path, _)| within(path))
                    .max_by_key(|(path, _)| path.len())
                    .map(|(_, p)| p.clone())
                    .or_else(start)
                    .unwrap_or_else(|| Pos { file: "config".into(), line: 0, col: 0 });
                Diagnostic { pos, severity: Severity::Error, message: e.to_string() }
            })
            .collect()
    }
}

/// A message with its long quoted values cut short: an operator who pasted
/// 100 KB into one value needs to know which value, not to see it again.
pub fn shorten_quoted(message: &str) -> String {
    const KEEP: usize = 40;
    let mut out = String::with_capacity(message.len().min(512));
    let mut rest = message;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..=open]);
        let after = &rest[open + 1..];
        // The closing quote: the next '"' not escaped by Debug's backslash.
        let mut close = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    close = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(close) = close else {
            rest = after;
            break;
        };
        let inner = &after[..close];
        if inner.chars().count() > KEEP + 8 {
            out.extend(inner.chars().take(KEEP));
            out.push_str(&format!("...\" ({} bytes)", inner.len()));
        } else {
            out.push_str(inner);
            out.push('"');
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

pub fn import_file(path: &str) -> Result<Import, SyntaxError> {
    import_streamed(|| syntax::Statements::file(&syntax::Files, path, syntax::Limits::default(), None))
}

pub fn import_str(name: &str, text: &str) -> Result<Import, SyntaxError> {
    import_streamed(|| syntax::Statements::text(name, text, syntax::Limits::default(), None))
}

/// [`import_file`] for the node whose keepalived config id (`-i`, by
/// default its host name) is `instance`: its `@ID` lines are read.
pub fn import_file_as(path: &str, instance: &str) -> Result<Import, SyntaxError> {
    import_streamed(|| syntax::Statements::file(&syntax::Files, path, syntax::Limits::default(), Some(instance)))
}

/// [`import_str`] for the node whose config id is `instance`.
pub fn import_str_as(name: &str, text: &str, instance: &str) -> Result<Import, SyntaxError> {
    import_streamed(|| syntax::Statements::text(name, text, syntax::Limits::default(), Some(instance)))
}

/// Imports each top-level statement as it is read, so that the import
/// holds one block's tree at a time beside the config it builds (a 50,000
/// real server config's whole tree was as large as keepalived's whole
/// process). `global_defs` must come before what it sets defaults for: when
/// one comes after another block (rare; keepalived allows it), the file is
/// read again whole and imported as [`import`] does, global_defs first.
fn import_streamed<'s>(
    statements: impl Fn() -> Result<syntax::Statements<'s>, SyntaxError>,
) -> Result<Import, SyntaxError> {
    let mut im = Importer::new();
    let mut others = false;
    for st in statements()? {
        let st = st?;
        if st.keyword.text == "global_defs" {
            if others {
                return Ok(import(&statements()?.collect::<Result<Vec<_>, _>>()?));
            }
            im.global(&st);
        } else {
            others = true;
        }
        im.statement(&st);
    }
    Ok(im.finish())
}

/// Imports parsed statements into a fresh config.
pub fn import(stmts: &[Stmt]) -> Import {
    let mut im = Importer::new();
    // global_defs first: vrrp_version there sets the instances' default.
    for st in stmts.iter().filter(|s| s.keyword.text == "global_defs") {
        im.global(st);
    }
    for st in stmts {
        im.statement(st);
    }
    im.finish()
}

/// An import under way: statements go in one at a time.
struct Importer {
    cx: Cx,
    config: Config,
}

impl Importer {
    fn new() -> Importer {
        Importer { cx: Cx::new(), config: Config::default() }
    }

    fn global(&mut self, st: &Stmt) {
        self.cx.global_defs(st, &mut self.config.global);
    }

    /// One top-level statement (a `global_defs` has been through [`Self::global`]).
    fn statement(&mut self, st: &Stmt) {
        let (cx, config) = (&mut self.cx, &mut self.config);
        statement(cx, config, st);
    }

    fn finish(self) -> Import {
        finish(self.cx, self.config)
    }
}

impl Cx {
    fn new() -> Cx {
        Cx {
            diags: Vec::new(),
            default_version: None,
            track_refs: Vec::new(),
            vs_refs: Vec::new(),
            protocol_unsaid: false,
            no_protocol: Vec::new(),
            places: Vec::new(),
            tracking_weight: Vec::new(),
            check_defaults: CheckDefaults::default(),
            defaults: Defaults::default(),
            item_track: None,
            static_track_refs: Vec::new(),
        }
    }
}

fn statement(cx: &mut Cx, config: &mut Config, st: &Stmt) {
    // Where each block is, by the path validation names it with.
    let words: Vec<&str> = std::iter::once(&st.keyword).chain(&st.args).map(|w| w.text.as_str()).collect();
    cx.places.push((Place::Path(words.join(" ")), st.keyword.pos.clone()));
    if matches!(st.keyword.text.as_str(), "global_defs" | "vigil_defs") {
        for inner in st.block.as_deref().unwrap_or_default() {
            cx.places
                .push((Place::Path(format!("{} {}", st.keyword.text, inner.keyword.text)), inner.keyword.pos.clone()));
        }
    }
    match st.keyword.text.as_str() {
        "global_defs" => {}
        "vigil_defs" => cx.vigil_defs(st, &mut config.global),
        "interface" => {
            if let Some(i) = cx.interface(st) {
                cx.push(&st.keyword, &mut config.interfaces, i, "interfaces");
            }
        }
        "vrrp_instance" => {
            if let Some(v) = cx.vrrp_instance(st) {
                cx.push(&st.keyword, &mut config.vrrp_instances, v, "vrrp_instance");
            }
        }
        "vrrp_sync_group" => {
            if let Some(g) = cx.sync_group(st) {
                cx.push(&st.keyword, &mut config.sync_groups, g, "vrrp_sync_group");
            }
        }
        "virtual_server" => {
            if let Some(mut vs) = cx.virtual_server(st) {
                // Whole now: the room its list grew into goes back.
                vs.real_servers.shrink_to_fit();
                cx.places.push((Place::Path(crate::validate::vs_path(&vs)), st.keyword.pos.clone()));
                if let Some(w) = st.args.last() {
                    cx.vs_refs.push((config.virtual_servers.len(), w.clone()));
                }
                if cx.protocol_unsaid {
                    cx.no_protocol.push((config.virtual_servers.len(), st.keyword.pos.clone()));
                }
                cx.push(&st.keyword, &mut config.virtual_servers, vs, "virtual_server");
            }
        }
        "virtual_server_group" => {
            if let Some(g) = cx.vs_group(st) {
                cx.push(&st.keyword, &mut config.virtual_server_groups, g, "virtual_server_group");
            }
        }
        "static_ipaddress" => {
            for a in cx.block(st) {
                if let Some(mut vip) = cx.vip(a) {
                    // keepalived: default_interface, else eth0.
                    if vip.dev.is_none() {
                        vip.dev = Some(
                            cx.defaults
                                .default_interface
                                .clone()
                                .unwrap_or_else(|| IfName::try_from("eth0").unwrap_or_default()),
                        );
                    }
                    if vip.use_vmac {
                        cx.warn(&a.keyword.pos, "use_vmac on a static address: ignored (a vmac is an instance's)");
                        vip.use_vmac = false;
                    }
                    let (at, no_track) = (config.global.static_ipaddress.len(), vip.no_track);
                    cx.push(&a.keyword, &mut config.global.static_ipaddress, vip, "static addresses");
                    cx.static_track(crate::model::StaticItem::Address(at as u16), no_track);
                }
            }
        }
        "static_routes" => {
            for a in cx.block(st) {
                if let Some(r) = cx.route(a) {
                    let (at, no_track) = (config.global.static_routes.len(), r.no_track);
                    cx.push(&a.keyword, &mut config.global.static_routes, r, "static routes");
                    cx.static_track(crate::model::StaticItem::Route(at as u16), no_track);
                }
            }
        }
        "static_rules" => {
            for a in cx.block(st) {
                if let Some(r) = cx.rule(a) {
                    if r.iif.is_none()
                        && let Some(w) = &cx.item_track
                    {
                        let pos = w.pos.clone();
                        cx.warn(&pos, "a rule's track_group follows its iif, and this rule has none: nothing is tracked (as in keepalived)");
                    }
                    let (at, no_track) = (config.global.static_rules.len(), r.no_track);
                    cx.push(&a.keyword, &mut config.global.static_rules, r, "static rules");
                    cx.static_track(crate::model::StaticItem::Rule(at as u16), no_track);
                }
            }
        }
        "track_group" => {
            if let Some(g) = cx.track_group(st) {
                cx.push(&st.keyword, &mut config.global.track_groups, g, "track_group");
            }
        }
        "bfd_instance" => {
            if let Some(b) = cx.bfd_instance(st) {
                cx.push(&st.keyword, &mut config.bfd_instances, b, "bfd_instance");
            }
        }
        "garp_group" => {
            if let Some(g) = cx.garp_group(st) {
                cx.push(&st.keyword, &mut config.global.garp_groups, g, "garp_group");
            }
        }
        "vrrp_track_file" => {
            if let Some(tf) = cx.track_file_block(st) {
                cx.push(&st.keyword, &mut config.track_files, tf, "vrrp_track_file");
            }
        }
        "vrrp_track_process" => {
            if let Some(tp) = cx.track_process_block(st) {
                cx.push(&st.keyword, &mut config.track_processes, tp, "vrrp_track_process");
            }
        }
        "SSL" => config.global.ssl = Some(cx.ssl(st)),
        "vrrp_script" => {
            if let Some(script) = cx.vrrp_script(st) {
                cx.push(&st.keyword, &mut config.vrrp_scripts, script, "vrrp_script");
            }
        }
        _ => cx.unsupported(st),
    }
}

fn finish(mut cx: Cx, mut config: Config) -> Import {
    // Read item by item, the list grew by doubling.
    config.virtual_servers.shrink_to_fit();
    if config.global.lvs_sync_daemon.is_none() {
        config.global.lvs_sync_daemon = cx.defaults.sync_daemon.take();
    }
    // The virtual servers are read once the groups are known (their
    // FILE_CHECKs' track_file lines are resolved below with the others).
    cx.resolve_virtual_servers(&mut config);
    // A tracking line naming nothing would track nothing: the HA would
    // silently stop following the health it was meant to follow.
    let refs = std::mem::take(&mut cx.track_refs);
    for kind in [Tracked::Script, Tracked::File, Tracked::Process, Tracked::Bfd] {
        for (_, w, _) in refs.iter().filter(|(k, ..)| *k == kind) {
            let name = w.text.as_str();
            match kind {
                Tracked::Script if !config.vrrp_scripts.iter().any(|s| s.name == name) => {
                    let names: Vec<&str> = config.vrrp_scripts.iter().map(|s| s.name.as_str()).collect();
                    let hint = match names.as_slice() {
                        [] => "there is no vrrp_script block".to_string(),
                        _ => format!("the vrrp_script blocks are {}", names.join(", ")),
                    };
                    cx.error(&w.pos, format!("track_script {name:?}: no vrrp_script of that name ({hint})"));
                }
                Tracked::File if !config.track_files.iter().any(|s| s.name == name) => {
                    cx.error(&w.pos, format!("track_file {name:?}: no vrrp_track_file of that name"));
                }
                Tracked::Process if !config.track_processes.iter().any(|s| s.name == name) => {
                    cx.error(&w.pos, format!("track_process {name:?}: no vrrp_track_process of that name"));
                }
                Tracked::Bfd if !config.bfd_instances.iter().any(|b| b.name == name) => {
                    cx.error(&w.pos, format!("{name:?}: no bfd_instance of that name"));
                }
                _ => {}
            }
        }
    }
    cx.member_weights(&config, &refs);
    for (item, w) in std::mem::take(&mut cx.static_track_refs) {
        if !config.global.track_groups.iter().any(|g| g.name == w.text.as_str()) {
            let names: Vec<&str> = config.global.track_groups.iter().map(|g| g.name.as_str()).collect();
            let hint = match names.as_slice() {
                [] => "there is no track_group block".to_string(),
                _ => format!("the track_group blocks are {}", names.join(", ")),
            };
            cx.error(&w.pos, format!("track_group {:?}: no track_group of that name ({hint})", w.text));
            continue;
        }
        let Some(group) = cx.string(&w) else { continue };
        let t = crate::model::StaticTrack { item, group };
        cx.push(&w, &mut config.global.static_tracks, t, "static items naming a track_group");
    }
    Import { config, diagnostics: summarize(cx.diags), places: cx.places }
}

/// The same message many times is said once per kind: an error (a list
/// past its bound: one per item dropped) three times, then once more with
/// how many there were; a warning (a keyword vigil ignores) once, at its
/// first place, with how many times it stands in the config: a 2,000-line
/// config does not print 1,200 lines.
fn summarize(diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    const SHOWN: usize = 3;
    // (severity, message) -> times seen.
    let mut seen: std::collections::HashMap<(u8, String), usize> = std::collections::HashMap::new();
    for d in &diags {
        *seen.entry((d.severity as u8, d.message.clone())).or_insert(0) += 1;
    }
    let mut out = Vec::new();
    let mut many: Vec<Diagnostic> = Vec::new();
    let mut shown: std::collections::HashMap<(u8, String), usize> = std::collections::HashMap::new();
    for d in diags {
        let key = (d.severity as u8, d.message.clone());
        let total = seen[&key];
        let n = shown.entry(key).or_insert(0);
        *n += 1;
        match d.severity {
            Severity::Unsupported | Severity::Replaced | Severity::Warning if *n == 1 && total > 1 => {
                out.push(Diagnostic { message: format!("{} ({total} times; this is the first)", d.message), ..d })
            }
            Severity::Unsupported | Severity::Replaced | Severity::Warning if *n > 1 => {}
            _ if *n <= SHOWN => out.push(d),
            _ if *n == SHOWN + 1 => many.push(Diagnostic {
                message: format!("{} ({total} times in all; only the first {SHOWN} are listed)", d.message),
                ..d
            }),
            _ => {}
        }
    }
    out.extend(many);
    out
}

/// global_defs settings that are the instances' defaults (keepalived's
/// `vrrp_garp_*`, `vrrp_gna_interval`, `vrrp_skip_check_adv_addr`,
/// `vrrp_strict`): applied to each instance that does not set its own.
#[derive(Default)]
struct Defaults {
    garp_master_delay_s: Option<u16>,
    garp_master_repeat: Option<u8>,
    garp_master_refresh_s: Option<u16>,
    garp_master_refresh_repeat: Option<u8>,
    garp_lower_prio_delay_s: Option<u16>,
    garp_lower_prio_repeat: Option<u8>,
    down_timer_adverts: Option<u8>,
    garp_extra_if: Option<(u32, bool)>,
    /// `vmac_prefix`: the generated vmac names' prefix (resolved into each
    /// instance's vmac name as it is read, as keepalived names them).
    vmac_prefix: Option<String>,
    /// `checker_log_all_failures`: the checkers' `log_all_failures`.
    log_all_failures: Option<bool>,
    mcast_group4: Option<core::net::Ipv4Addr>,
    mcast_group6: Option<core::net::Ipv6Addr>,
    skip_check_adv_addr: bool,
    lower_prio_no_advert: bool,
    higher_prio_send_advert: bool,
    strict: bool,
    /// The old `lvs_sync_daemon_interface` in an instance.
    sync_daemon: Option<crate::model::LvsSyncDaemon>,
    /// `default_interface`: where a static address without `dev` goes.
    default_interface: Option<IfName>,
}

/// What a tracking line names: a `vrrp_script`, a `vrrp_track_process` or
/// a `vrrp_track_file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tracked {
    Script,
    Process,
    File,
    /// `track_bfd` lines and BFD_CHECK's `name`.
    Bfd,
}

impl Tracked {
    /// The tracking line's keyword.
    fn keyword(self) -> &'static str {
        match self {
            Tracked::Script => "track_script",
            Tracked::Process => "track_process",
            Tracked::File => "track_file",
            Tracked::Bfd => "track_bfd",
        }
    }
}

/// keepalived's checker settings at virtual_server and real_server level:
/// the defaults of the checkers below that do not set their own.
#[derive(Default, Clone)]
struct CheckDefaults {
    connect_timeout_s: Option<u16>,
    retry: Option<u8>,
    delay_before_retry_s: Option<u16>,
    warmup_s: Option<u16>,
    delay_loop_s: Option<u16>,
    virtualhost: Option<heapless::String<{ limits::HOSTNAME }>>,
    /// The virtual server's own delay_loop (DNS_CHECK's retry delay).
    vs_delay_loop_s: u16,
}

/// The keywords [`CheckDefaults`] takes.
const CHECK_DEFAULT_KEYS: &[&str] = &["connect_timeout", "retry", "delay_before_retry", "warmup", "virtualhost"];

struct Cx {
    diags: Vec<Diagnostic>,
    default_version: Option<u8>,
    defaults: Defaults,
    /// Every name a track_script / track_process / track_file line gives,
    /// checked once all blocks are read.
    /// (and the instance whose block it is in, for a sync group's members).
    track_refs: Vec<(Tracked, Word, Option<String>)>,
    /// Where each block was written, by its validation path.
    places: Vec<(Place, Pos)>,
    /// The sync groups that say `sync_group_tracking_weight`.
    tracking_weight: Vec<String>,
    /// Each virtual server's index and its last word (the port, the mark,
    /// a group's name), checked once all blocks are read.
    vs_refs: Vec<(usize, Word)>,
    /// The last virtual server read said no `protocol`; the ones that did
    /// not, with where they stand (see `resolve_virtual_servers`).
    protocol_unsaid: bool,
    no_protocol: Vec<(usize, Pos)>,
    /// Checker settings a virtual server or real server gives the
    /// checkers below it (keepalived's defaults at those levels).
    check_defaults: CheckDefaults,
    /// The `track_group NAME` of the address, route or rule just read.
    item_track: Option<Word>,
    /// Static items naming a track group, checked once all blocks are read.
    static_track_refs: Vec<(crate::model::StaticItem, Word)>,
}

impl Cx {
    fn error(&mut self, pos: &Pos, message: impl Into<String>) {
        let message = shorten_quoted(&message.into());
        self.diags.push(Diagnostic { pos: pos.clone(), severity: Severity::Error, message });
    }

    /// A statement vigil does not take here: keepalived's (a warning:
    /// ignored), or a keyword nobody knows, a typo (an error, with the
    /// keyword it is closest to).
    fn unsupported(&mut self, st: &Stmt) {
        let k = st.keyword.text.as_str();
        if !super::keywords::known_to_keepalived(k) && !super::edit::is_vigil_keyword(k) {
            let all = super::keywords::KEEPALIVED.iter().copied().chain(super::edit::vigil_keywords());
            let hint = super::keywords::closest(k, all).map(|c| format!("; did you mean {c:?}?")).unwrap_or_default();
            return self.error(&st.keyword.pos, format!("unknown keyword {k:?}{hint}"));
        }
        let what = if st.block.is_some() { "block" } else { "keyword" };
        if let Some(instead) = super::keywords::replaced_by(k) {
            return self.diags.push(Diagnostic {
                pos: st.keyword.pos.clone(),
                severity: Severity::Replaced,
                message: format!("{what} {k:?}: {instead}; ignored"),
            });
        }
        // Read elsewhere: most likely in the wrong block (a brace closed
        // early or late), which "not supported" would hide.
        let elsewhere = super::edit::blocks_reading(k);
        let message = if elsewhere.is_empty() {
            format!("{what} {k:?} is not supported by vigil; ignored")
        } else {
            format!("{what} {k:?} is not read in this block (vigil reads it in {}); ignored", elsewhere.join(", "))
        };
        self.diags.push(Diagnostic { pos: st.keyword.pos.clone(), severity: Severity::Unsupported, message });
    }

    fn push<T, L: crate::bounded::Push<T>>(&mut self, at: &Word, v: &mut L, item: T, what: &str) {
        if v.push_item(item).is_err() {
            self.error(&at.pos, format!("more than {} {what}: this one is dropped", L::LIMIT));
        }
    }

    /// The statement's only argument.
    fn one<'a>(&mut self, st: &'a Stmt) -> Option<&'a Word> {
        match st.args.as_slice() {
            [a] => Some(a),
            [] => {
                self.error(&st.keyword.pos, format!("{} needs a value", st.keyword.text));
                None
            }
            [_, extra, ..] => {
                self.error(&extra.pos, format!("{} takes one value; {:?} is extra", st.keyword.text, extra.text));
                None
            }
        }
    }

    fn warn(&mut self, pos: &Pos, message: impl Into<String>) {
        let message = shorten_quoted(&message.into());
        self.diags.push(Diagnostic { pos: pos.clone(), severity: Severity::Warning, message });
    }

    /// A keyword that takes no value, as keepalived reads it: a value
    /// after it (`nopreempt 1`) is ignored, with a warning.
    fn flag(&mut self, st: &Stmt) -> bool {
        if let Some(a) = st.args.first() {
            self.warn(
                &a.pos,
                format!("{} takes no value; {:?} ignored (as keepalived ignores it)", st.keyword.text, a.text),
            );
        }
        true
    }

    /// A keyword with an optional <BOOL> (`alpha`, `alpha on`): nothing,
    /// on, true or yes set it; off, false or no clear it. Anything else
    /// (`alpha 1`) keepalived reports and ignores, leaving the setting as
    /// it was: vigil does the same, and says what that means.
    fn bool_flag(&mut self, st: &Stmt, before: bool) -> bool {
        match st.args.first().map(|a| (a, a.text.as_str())) {
            None | Some((_, "on" | "true" | "yes")) => true,
            Some((_, "off" | "false" | "no")) => false,
            Some((a, _)) => {
                let now = if before { "on" } else { "off" };
                self.warn(
                    &a.pos,
                    format!(
                        "{} takes on|off|true|false|yes|no (or nothing: on); keepalived ignores {:?}, and so does vigil: {} stays {now}",
                        st.keyword.text, a.text, st.keyword.text
                    ),
                );
                before
            }
        }
    }

    fn parse<T: FromStr>(&mut self, w: &Word, what: &str) -> Option<T> {
        match w.text.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(&w.pos, format!("{:?} is not {what}", w.text));
                None
            }
        }
    }

    fn value<T: FromStr>(&mut self, st: &Stmt, what: &str) -> Option<T> {
        let w = self.one(st)?;
        self.parse(w, what)
    }

    fn string<const N: usize>(&mut self, w: &Word) -> Option<heapless::String<N>> {
        match heapless::String::try_from(w.text.as_str()) {
            Ok(s) => Some(s),
            Err(_) => {
                let (bytes, chars) = (w.text.len(), w.text.chars().count());
                let length = if bytes == chars {
                    format!("{bytes} bytes long")
                } else {
                    format!("{bytes} bytes long ({chars} characters)")
                };
                self.error(&w.pos, format!("{:?} is {length}; the limit is {N} bytes", w.text));
                None
            }
        }
    }

    /// An interface name: a string that Linux takes as one.
    fn ifname<const N: usize>(&mut self, w: &Word) -> Option<heapless::String<N>> {
        if let Err(m) = crate::validate::check_ifname(&w.text) {
            self.error(&w.pos, m);
            return None;
        }
        self.string(w)
    }

    fn string_value<const N: usize>(&mut self, st: &Stmt) -> Option<heapless::String<N>> {
        let w = self.one(st)?;
        self.string(w)
    }

    /// Seconds, possibly fractional, as centiseconds.
    fn centiseconds(&mut self, st: &Stmt) -> Option<u16> {
        let w = self.one(st)?;
        match w.text.parse::<f64>() {
            Ok(s) if (0.0..=655.35).contains(&s) => Some((s * 100.0).round() as u16),
            _ => {
                self.error(&w.pos, format!("{:?} is not a number of seconds (0..=655.35)", w.text));
                None
            }
        }
    }

    fn block<'a>(&mut self, st: &'a Stmt) -> &'a [Stmt] {
        match &st.block {
            Some(b) => b,
            None => {
                self.error(&st.keyword.pos, format!("{} needs a {{ ... }} block", st.keyword.text));
                &[]
            }
        }
    }

    fn global_defs(&mut self, st: &Stmt, g: &mut Global) {
        let (mut startup_timeout, mut shutdown_timeout) = (None, None);
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "router_id" => {
                    if let Some(v) = self.string_value(s) {
                        g.router_id = v;
                    }
                }
                "vrrp_version" => {
                    if let Some(v) = self.value::<u8>(s, "a VRRP version (2 or 3)") {
                        self.default_version = Some(v);
                    }
                }
                "enable_script_security" => g.enable_script_security = self.flag(s),
                "script_user" => g.script_user = self.script_user(s),
                "notification_email" => {
                    for a in self.block(s) {
                        if let Some(addr) = self.email(&a.keyword) {
                            self.push(&a.keyword, &mut g.mail.to, addr, "notification_email addresses");
                        }
                        if let Some(x) = a.args.first() {
                            self.error(&x.pos, format!("one address a line; {:?} is extra", x.text));
                        }
                    }
                }
                "notification_email_from" => g.mail.from = self.one(s).and_then(|w| self.email(w)),
                "smtp_server" => {
                    let (host, port) = match s.args.as_slice() {
                        [h] => (Some(h), Some(25)),
                        [h, p] => (Some(h), self.parse::<u16>(p, "a port")),
                        _ => {
                            self.error(&s.keyword.pos, "smtp_server takes ADDRESS|NAME [PORT]");
                            (None, None)
                        }
                    };
                    if let (Some(h), Some(port)) = (host, port)
                        && let Some(host) = self.string(h)
                    {
                        g.mail.server = Some((host, port));
                    }
                }
                "smtp_helo_name" => g.mail.helo_name = self.string_value(s),
                "smtp_connect_timeout" => {
                    if let Some(t) = self.value(s, "a number of seconds") {
                        g.mail.connect_timeout_s = t;
                    }
                }
                "smtp_alert" => g.mail.alert = Some(self.bool_flag(s, g.mail.alert.unwrap_or(false))),
                "smtp_alert_vrrp" => g.mail.alert_vrrp = Some(self.bool_flag(s, g.mail.alert_vrrp.unwrap_or(false))),
                "smtp_alert_checker" => {
                    g.mail.alert_checker = Some(self.bool_flag(s, g.mail.alert_checker.unwrap_or(false)))
                }
                "no_email_faults" => g.mail.no_faults = self.flag(s),
                // keepalived's meaning: the pace of each interface's
                // announcements, whichever instances they are for.
                "vrrp_garp_interval" => g.garp_interval_us = self.interval_us(s),
                "vrrp_gna_interval" => g.gna_interval_us = self.interval_us(s),
                "vrrp_garp_master_delay" => self.defaults.garp_master_delay_s = self.value(s, "a number of seconds"),
                "vrrp_garp_master_repeat" => self.defaults.garp_master_repeat = self.value(s, "a count"),
                "vrrp_garp_master_refresh" => {
                    self.defaults.garp_master_refresh_s = self.value(s, "a number of seconds")
                }
                // keepalived: "only one ARP/NA message is sent, with no
                // repeat 5 seconds later".
                "vrrp_min_garp" => {
                    if self.bool_flag(s, false) {
                        self.defaults.garp_master_repeat = Some(1);
                        self.defaults.garp_master_delay_s = Some(0);
                    }
                }
                "vrrp_garp_master_refresh_repeat" => {
                    self.defaults.garp_master_refresh_repeat = self.value(s, "a count")
                }
                "vrrp_garp_lower_prio_delay" => {
                    self.defaults.garp_lower_prio_delay_s = self.value(s, "a number of seconds")
                }
                "vrrp_garp_lower_prio_repeat" => self.defaults.garp_lower_prio_repeat = self.value(s, "a count"),
                "vrrp_down_timer_adverts" => {
                    self.defaults.down_timer_adverts = self.value(s, "a number of adverts (1..=100)")
                }
                "vrrp_garp_extra_if" => self.defaults.garp_extra_if = self.garp_extra_if(s),
                "vmac_prefix" => self.defaults.vmac_prefix = self.vmac_prefix(s).map(|w| w.text.clone()),
                // PREFIX.VRID as vmac_prefix (an IPv6 one's `6` and a number
                // to tell names apart must fit too, or that vmac is refused
                // when it is made, saying so).
                "vmac_addr_prefix" => {
                    if let Some(w) = self.vmac_prefix(s) {
                        g.vmac_addr_prefix = self.ifname(w);
                    }
                }
                "vrrp_mcast_group4" => self.defaults.mcast_group4 = self.value(s, "an IPv4 multicast address"),
                "vrrp_mcast_group6" => self.defaults.mcast_group6 = self.value(s, "an IPv6 multicast address"),
                "vrrp_startup_delay" => {
                    if let Some(w) = self.one(s) {
                        match w.text.parse::<f64>() {
                            Ok(x) if (0.0..=3600.0).contains(&x) => {
                                g.vrrp_startup_delay_ms = (x * 1000.0).round() as u32
                            }
                            _ => self.error(&w.pos, format!("{:?} is not a number of seconds (0..=3600)", w.text)),
                        }
                    }
                }
                "lvs_flush_on_stop" => {
                    g.lvs_flush_on_stop = match s.args.first().map(|w| (w, w.text.as_str())) {
                        None => Some(FlushOnStop::All),
                        Some((_, "VS")) => Some(FlushOnStop::VirtualServers),
                        Some((w, t)) => {
                            self.error(&w.pos, format!("lvs_flush_on_stop takes nothing or VS, not {t:?}"));
                            None
                        }
                    }
                }
                "startup_script" => g.startup_script = self.hook_script(s),
                "shutdown_script" => g.shutdown_script = self.hook_script(s),
                "startup_script_timeout" => startup_timeout = self.hook_timeout(s).or(startup_timeout),
                "shutdown_script_timeout" => shutdown_timeout = self.hook_timeout(s).or(shutdown_timeout),
                "rs_init_notifies" => g.rs_init_notifies = self.flag(s),
                "no_checker_emails" => g.no_checker_emails = self.flag(s),
                "checker_log_all_failures" => self.defaults.log_all_failures = Some(self.bool_flag(s, false)),
                "vrrp_skip_check_adv_addr" => self.defaults.skip_check_adv_addr = self.bool_flag(s, false),
                "vrrp_lower_prio_no_advert" => self.defaults.lower_prio_no_advert = self.bool_flag(s, false),
                "vrrp_higher_prio_send_advert" => self.defaults.higher_prio_send_advert = self.bool_flag(s, false),
                "vrrp_strict" => {
                    g.vrrp_strict = self.flag(s);
                    self.defaults.strict = true;
                }
                "default_interface" => self.defaults.default_interface = self.one(s).and_then(|w| self.ifname(w)),
                "lvs_flush" => g.lvs_flush = self.flag(s),
                "lvs_sync_daemon" => g.lvs_sync_daemon = self.lvs_sync_daemon(s),
                "lvs_timeouts" => {
                    let mut t = crate::model::LvsTimeouts::default();
                    let mut words = s.args.iter();
                    while let Some(w) = words.next() {
                        let v = words.next().and_then(|n| self.parse::<u32>(n, "a number of seconds"));
                        match (w.text.as_str(), v) {
                            ("tcp", Some(v)) => t.tcp = v,
                            ("tcpfin", Some(v)) => t.tcpfin = v,
                            ("udp", Some(v)) => t.udp = v,
                            _ => self
                                .error(&w.pos, format!("lvs_timeouts wants tcp N, tcpfin N, udp N, not {:?}", w.text)),
                        }
                    }
                    g.lvs_timeouts = Some(t);
                }
                _ => self.unsupported(s),
            }
        }
        for (script, timeout) in [(&mut g.startup_script, startup_timeout), (&mut g.shutdown_script, shutdown_timeout)]
        {
            if let (Some(h), Some(t)) = (script, timeout) {
                h.timeout_s = t;
            }
        }
        // keepalived: an address's vmac takes vmac_prefix's name unless
        // vmac_addr_prefix says another.
        if g.vmac_addr_prefix.is_none() {
            g.vmac_addr_prefix = self.defaults.vmac_prefix.as_deref().and_then(|p| IfName::try_from(p).ok());
        }
    }

    /// `garp_extra_if [all] S` (0..=86400; 0: off).
    fn garp_extra_if(&mut self, s: &Stmt) -> Option<(u32, bool)> {
        let (all, w) = match s.args.as_slice() {
            [a, w] if a.text == "all" => (true, w),
            [w] => (false, w),
            _ => {
                self.error(&s.keyword.pos, format!("{} takes [all] SECONDS", s.keyword.text));
                return None;
            }
        };
        let secs = match w.text.parse::<u32>() {
            Ok(n @ 0..=86400) => n,
            _ => {
                self.error(&w.pos, format!("{:?} is not a number of seconds (0..=86400)", w.text));
                return None;
            }
        };
        if !all && secs > 0 {
            self.warn(
                &s.keyword.pos,
                format!("{} without all: keepalived sends on VMAC interfaces only (use_vmac_addr); vigil makes none, so it sends on each interface with a VIP instead", s.keyword.text),
            );
        }
        Some((secs, all))
    }

    /// keepalived's `SSL { password ca certificate key }`.
    fn ssl(&mut self, st: &Stmt) -> SslFiles {
        let mut f = SslFiles::default();
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "password" => f.password = self.string_value(s),
                "ca" => f.ca = self.string_value(s),
                "certificate" => f.certificate = self.string_value(s),
                "key" => f.key = self.string_value(s),
                _ => self.unsupported(s),
            }
        }
        if f.password.is_some() {
            self.warn(
                &st.keyword.pos,
                "SSL password: vigil reads unencrypted keys only; the checks will say so until the key is decrypted (openssl pkey -in KEY -out KEY.plain)",
            );
        }
        f
    }

    /// `startup_script PROGRAM [USER [GROUP]]`.
    fn hook_script(&mut self, s: &Stmt) -> Option<HookScript> {
        let timeout_s = HookScript::DEFAULT_TIMEOUT_S;
        let (program, user) = match s.args.as_slice() {
            [p] => (p, None),
            [p, u] => (p, Some(ScriptUser { user: self.string(u)?, group: None })),
            [p, u, g] => (p, Some(ScriptUser { user: self.string(u)?, group: Some(self.string(g)?) })),
            _ => {
                self.error(&s.keyword.pos, format!("{} takes PROGRAM [USER [GROUP]]", s.keyword.text));
                return None;
            }
        };
        Some(HookScript { program: self.string(program)?, user, timeout_s })
    }

    /// `startup_script_timeout S` (1..=1000; before or after the script).
    fn hook_timeout(&mut self, s: &Stmt) -> Option<u16> {
        let w = self.one(s)?;
        match w.text.parse::<u16>() {
            Ok(t @ 1..=1000) => Some(t),
            _ => {
                self.error(&w.pos, format!("{:?} is not a number of seconds (1..=1000)", w.text));
                None
            }
        }
    }

    /// A mail address (`root@example.com`, or a local mailbox: `root`),
    /// with nothing that would break the SMTP dialogue it goes into as it
    /// is: no spaces, angle brackets, commas or control characters.
    fn email(&mut self, w: &Word) -> Option<heapless::String<{ limits::EMAIL }>> {
        let ok = !w.text.is_empty()
            && !w.text.contains(|c: char| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ','));
        if !ok {
            self.error(&w.pos, format!("{:?} is not a mail address", w.text));
            return None;
        }
        self.string(w)
    }

    /// keepalived's garp/gna intervals (seconds, fractional) as
    /// milliseconds, within what an instance's interval holds.
    fn interval_ms(&mut self, st: &Stmt) -> Option<u16> {
        let w = self.one(st)?;
        match w.text.parse::<f64>() {
            Ok(s) if (0.0..=65.535).contains(&s) => Some((s * 1000.0).round() as u16),
            _ => {
                self.error(&w.pos, format!("{:?} is not a number of seconds (0..=65.535)", w.text));
                None
            }
        }
    }

    /// A garp/gna pace (seconds, fractional, down to a microsecond) in
    /// microseconds; 0 is none (keepalived 2.2.7 calls 0 invalid and keeps
    /// its default, which is none).
    fn interval_us(&mut self, st: &Stmt) -> Option<u32> {
        let w = self.one(st)?;
        let decimals = w.text.split_once('.').map_or(0, |(_, f)| f.len());
        match w.text.parse::<f64>() {
            Ok(0.0) => None,
            Ok(s) if decimals <= 6 && (0.000001..=4294.967295).contains(&s) => Some((s * 1_000_000.0).round() as u32),
            _ => {
                self.error(
                    &w.pos,
                    format!("{:?} is not a number of seconds (0.000001..=4294.967295, six decimals at most)", w.text),
                );
                None
            }
        }
    }

    /// `garp_group { garp_interval S  gna_interval S  interface NAME |
    /// interfaces { NAME ... } }`.
    fn garp_group(&mut self, st: &Stmt) -> Option<GarpGroup> {
        let mut g = GarpGroup::default();
        let (mut one, mut many) = (false, false);
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "garp_interval" => g.garp_interval_us = self.interval_us(s),
                "gna_interval" => g.gna_interval_us = self.interval_us(s),
                "interface" => {
                    if let Some(w) = self.one(s)
                        && let Some(name) = self.ifname(w)
                    {
                        self.push(&s.keyword, &mut g.interfaces, name, "garp_group interfaces");
                        one = true;
                    }
                }
                "interfaces" => {
                    g.shared = true;
                    many = true;
                    for i in self.block(s) {
                        if let Some(name) = self.ifname(&i.keyword) {
                            self.push(&i.keyword, &mut g.interfaces, name, "garp_group interfaces");
                        }
                    }
                }
                _ => self.unsupported(s),
            }
        }
        if g.interfaces.is_empty() {
            self.warn(&st.keyword.pos, "garp_group names no interface: it paces nothing (as in keepalived)");
            return None;
        }
        if one && many {
            self.warn(
                &st.keyword.pos,
                "garp_group: interface and interfaces both (keepalived: only one per block): all of them share one pace",
            );
        }
        Some(g)
    }

    /// `lvs_sync_daemon INTERFACE VRRP_INSTANCE [id N]`.
    fn lvs_sync_daemon(&mut self, s: &Stmt) -> Option<crate::model::LvsSyncDaemon> {
        let (Some(i), Some(n)) = (s.args.first(), s.args.get(1)) else {
            self.error(&s.keyword.pos, "lvs_sync_daemon wants INTERFACE VRRP_INSTANCE [id SYNC_ID]");
            return None;
        };
        let mut d =
            crate::model::LvsSyncDaemon { interface: self.string(i)?, instance: self.string(n)?, sync_id: None };
        let mut rest = s.args[2..].iter();
        while let Some(w) = rest.next() {
            match (w.text.as_str(), rest.next()) {
                ("id", Some(v)) => d.sync_id = self.parse(v, "a sync id (0..=255)"),
                _ => self.error(&w.pos, format!("lvs_sync_daemon: {:?} is not supported here (only id)", w.text)),
            }
        }
        Some(d)
    }

    fn vigil_defs(&mut self, st: &Stmt, g: &mut Global) {
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "hostname" => {
                    if let Some(v) = self.string_value::<{ limits::HOSTNAME }>(s) {
                        match crate::validate::check_hostname(&v) {
                            Ok(()) => g.hostname = v,
                            Err(m) => self.error(&s.args[0].pos, m),
                        }
                    }
                }
                "time_server" => {
                    for a in &s.args {
                        if let Some(ip) = self.parse::<IpAddr>(a, "an IP address") {
                            self.push(a, &mut g.time_servers, ip, "time servers");
                        }
                    }
                }
                "syslog" => g.syslog = self.syslog(s),
                "metrics_listen" => match s.args.as_slice() {
                    [a] => match a.text.parse::<SocketAddr>() {
                        Ok(sa) => g.metrics_listen = Some(sa),
                        Err(_) => self.error(
                            &a.pos,
                            format!("{:?} is not ADDRESS:PORT or [IPv6]:PORT (where the metrics are served)", a.text),
                        ),
                    },
                    _ => self.error(&s.keyword.pos, "metrics_listen takes ADDRESS:PORT, e.g. 192.0.2.1:9650"),
                },
                "watchdog" => match self.one(s).map(|w| w.text.as_str()) {
                    Some("on") => g.watchdog.enabled = true,
                    Some("off") => g.watchdog.enabled = false,
                    Some(v) => self.error(&s.args[0].pos, format!("watchdog is on or off, not {v:?}")),
                    None => {}
                },
                "watchdog_timeout" => {
                    if let Some(v) = self.value(s, "a number of seconds") {
                        g.watchdog.timeout_s = v;
                    }
                }
                "heartbeat_ms" => {
                    if let Some(v) = self.value(s, "a number of milliseconds") {
                        g.supervision.heartbeat_ms = v;
                    }
                }
                "heartbeat_limit_ms" => {
                    if let Some(v) = self.value(s, "a number of milliseconds") {
                        g.supervision.heartbeat_limit_ms = v;
                    }
                }
                "update_confirm_s" => {
                    if let Some(v) = self.value(s, "a number of seconds") {
                        g.update_confirm_s = v;
                    }
                }
                "update_poll_s" => {
                    if let Some(v) = self.value(s, "a number of seconds") {
                        g.updates.poll_s = v;
                    }
                }
                "update_channel" => match s.args.as_slice() {
                    [url] if url.text.starts_with("http://") || url.text.starts_with("https://") => {
                        match heapless::String::try_from(url.text.as_str()) {
                            Ok(u) => g.updates.channel = Some(u),
                            Err(_) => self.error(
                                &url.pos,
                                format!("the URL is over {} characters", crate::model::limits::UPDATE_URL),
                            ),
                        }
                    }
                    _ => {
                        self.error(&s.keyword.pos, "update_channel takes one http:// or https:// URL (of channel.json)")
                    }
                },
                "update_key" => match s.args.as_slice() {
                    [k] if k.text.len() <= crate::model::limits::UPDATE_KEY
                        && k.text.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)) =>
                    {
                        g.updates.key = heapless::String::try_from(k.text.as_str()).ok();
                    }
                    _ => self.error(&s.keyword.pos, "update_key takes a minisign public key (its base64 line)"),
                },
                "update_window" => match s.args.as_slice() {
                    [w] => match parse_window(&w.text) {
                        Some(win) => g.updates.window = Some(win),
                        None => self.error(
                            &w.pos,
                            format!("update_window is HH:MM-HH:MM (UTC), e.g. 02:00-04:30, not {:?}", w.text),
                        ),
                    },
                    _ => self.error(&s.keyword.pos, "update_window is HH:MM-HH:MM (UTC), e.g. 02:00-04:30"),
                },
                "console_password" => {
                    let parsed = (s.args.len() == 3)
                        .then(|| {
                            let iterations = s.args[0].text.parse().ok()?;
                            let salt = hex_array::<16>(&s.args[1].text)?;
                            let hash = hex_array::<32>(&s.args[2].text)?;
                            Some(PasswordHash { iterations, salt, hash })
                        })
                        .flatten();
                    match parsed {
                        Some(p) => g.console_password = Some(p),
                        None => {
                            self.error(&s.keyword.pos, "console_password takes ITERATIONS SALT(32 hex) HASH(64 hex)")
                        }
                    }
                }
                _ => self.unsupported(s),
            }
        }
    }

    /// `IP PORT` or `IP` (with a default port).
    /// `syslog ADDR[:PORT] [tcp|udp]` (and vigil's older `syslog ADDR
    /// PORT`): port 514 unless said.
    fn syslog(&mut self, st: &Stmt) -> Option<SyslogTarget> {
        let mut args: Vec<&Word> = st.args.iter().collect();
        let tcp = match args.last().map(|w| w.text.as_str()) {
            Some("tcp") => {
                args.pop();
                true
            }
            Some("udp") => {
                args.pop();
                false
            }
            _ => false,
        };
        let addr = match args.as_slice() {
            [a] => match (a.text.parse::<SocketAddr>(), a.text.parse::<IpAddr>()) {
                (Ok(sa), _) => sa,
                (_, Ok(ip)) => SocketAddr::new(ip, 514),
                _ => {
                    self.error(&a.pos, format!("{:?} is not ADDRESS, ADDRESS:PORT or [IPv6]:PORT", a.text));
                    return None;
                }
            },
            [ip, port] => SocketAddr::new(self.parse(ip, "an IP address")?, self.parse(port, "a port")?),
            _ => {
                self.error(&st.keyword.pos, "syslog takes ADDRESS[:PORT] [tcp|udp]");
                return None;
            }
        };
        Some(SyslogTarget { addr, tcp })
    }

    fn socket(&mut self, st: &Stmt, default_port: u16) -> Option<SocketAddr> {
        match st.args.as_slice() {
            [ip] => Some(SocketAddr::new(self.parse(ip, "an IP address")?, default_port)),
            [ip, port] => Some(SocketAddr::new(self.parse(ip, "an IP address")?, self.parse(port, "a port")?)),
            _ => {
                self.error(&st.keyword.pos, format!("{} takes an address and a port", st.keyword.text));
                None
            }
        }
    }

    fn interface(&mut self, st: &Stmt) -> Option<Interface> {
        let name = self.one(st)?;
        let mut i = Interface { name: self.ifname(name)?, multicast: true, ..Default::default() };
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "address" => {
                    for a in &s.args {
                        if let Some(n) = self.net(a) {
                            self.push(a, &mut i.addresses, n, "addresses");
                        }
                    }
                }
                "mtu" => i.mtu = self.value(s, "an MTU"),
                "multicast" => match self.one(s).map(|w| w.text.as_str()) {
                    Some("on") => i.multicast = true,
                    Some("off") => i.multicast = false,
                    Some(v) => self.error(&s.args[0].pos, format!("multicast is on or off, not {v:?}")),
                    None => {}
                },
                "vlan" => {
                    let Some(id) = self.value::<u16>(s, "a VLAN id") else {
                        continue;
                    };
                    let mut v = Vlan { id, ..Default::default() };
                    for a in self.block(s) {
                        if a.keyword.text == "address" {
                            for w in &a.args {
                                if let Some(n) = self.net(w) {
                                    self.push(w, &mut v.addresses, n, "addresses");
                                }
                            }
                        } else {
                            self.unsupported(a);
                        }
                    }
                    self.push(&s.keyword, &mut i.vlans, v, "VLANs");
                }
                _ => self.unsupported(s),
            }
        }
        Some(i)
    }

    fn net(&mut self, w: &Word) -> Option<IpNet> {
        match w.text.parse::<IpNet>() {
            Ok(n) => Some(n),
            Err(e) => {
                self.error(&w.pos, e);
                None
            }
        }
    }

    fn vrrp_instance(&mut self, st: &Stmt) -> Option<VrrpInstance> {
        let name = self.one(st)?;
        let Some(mut v) = VrrpInstance::new(&name.text) else {
            // Says the lengths in bytes and characters, as `string` does.
            let _ = self.string::<{ limits::NAME }>(name);
            return None;
        };
        let mut version = None;
        // What the instance sets itself (the globals' defaults do not
        // apply to it; strict mode treats an unset accept its own way).
        let (mut accept_set, mut garp_set, mut gna, mut skip, mut strict) = (false, false, None, None, None);
        let (mut repeat_set, mut delay_set, mut refresh_set) = (false, false, false);
        let (mut lower, mut higher) = (None, None);
        // Schema 7's, whose defaults the globals give.
        let (mut refresh_repeat, mut lower_delay, mut lower_repeat, mut down, mut mcast) =
            (None, None, None, None, None);
        let mut extra_if = None;
        let (mut short_mac, mut xmit_base, mut mac_pos) = (false, None, None);
        let mut vrf: Option<Word> = None;
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "vrf" => vrf = self.one(s).cloned(),
                "state" => match self.one(s).map(|w| w.text.as_str()) {
                    Some("MASTER") => v.state = VrrpState::Master,
                    Some("BACKUP") => v.state = VrrpState::Backup,
                    Some(v) => self.error(&s.args[0].pos, format!("state is MASTER or BACKUP, not {v:?}")),
                    None => {}
                },
                "interface" => {
                    if let Some(i) = self.one(s).and_then(|w| self.ifname(w)) {
                        v.interface = i;
                    }
                }
                "virtual_router_id" => v.virtual_router_id = self.value(s, "a VRID (1..=255)").unwrap_or(0),
                "priority" => {
                    if let Some(p) = self.value(s, "a priority (1..=255)") {
                        v.priority = p;
                    }
                }
                "advert_int" => {
                    if let Some(cs) = self.centiseconds(s) {
                        v.advert_int_cs = cs;
                    }
                }
                "version" => version = self.value(s, "a VRRP version (2 or 3)"),
                "native_ipv6" => {
                    if self.flag(s) {
                        version = Some(3);
                    }
                }
                "authentication" => {
                    let mut ah = false;
                    let mut pass = None;
                    for a in self.block(s) {
                        match a.keyword.text.as_str() {
                            "auth_type" => match self.one(a).map(|w| w.text.as_str()) {
                                Some("PASS") => {}
                                Some("AH") => {
                                    ah = true;
                                    self.diags.push(Diagnostic {
                                        pos: a.args[0].pos.clone(),
                                        severity: Severity::Unsupported,
                                        message: "auth_type AH is not supported (RFC 5798 dropped it); the instance runs without authentication".into(),
                                    });
                                }
                                Some(v) => self.error(&a.args[0].pos, format!("auth_type is PASS or AH, not {v:?}")),
                                None => {}
                            },
                            "auth_pass" => pass = self.auth_pass(a),
                            _ => self.unsupported(a),
                        }
                    }
                    if !ah {
                        v.auth_pass = pass;
                    }
                }
                "virtual_ipaddress" => {
                    for a in self.block(s) {
                        let vip = self.vip(a);
                        self.not_static();
                        if let Some(vip) = vip {
                            // keepalived takes an address listed twice once.
                            if v.virtual_ipaddress.iter().any(|x| x.addr.addr == vip.addr.addr) {
                                self.warn(
                                    &a.keyword.pos,
                                    format!(
                                        "{} is listed twice in this instance: taken once (as keepalived takes it)",
                                        vip.addr.addr
                                    ),
                                );
                                continue;
                            }
                            self.push(&a.keyword, &mut v.virtual_ipaddress, vip, "virtual addresses");
                        }
                    }
                }
                "virtual_ipaddress_excluded" => {
                    for a in self.block(s) {
                        let vip = self.vip(a);
                        self.not_static();
                        if let Some(vip) = vip {
                            self.push(&a.keyword, &mut v.virtual_ipaddress_excluded, vip, "excluded addresses");
                        }
                    }
                }
                "virtual_routes" => {
                    for a in self.block(s) {
                        let r = self.route(a);
                        self.not_static();
                        if let Some(r) = r {
                            self.push(&a.keyword, &mut v.virtual_routes, r, "virtual routes");
                        }
                    }
                }
                "virtual_rules" => {
                    for a in self.block(s) {
                        let r = self.rule(a);
                        self.not_static();
                        if let Some(r) = r {
                            self.push(&a.keyword, &mut v.virtual_rules, r, "virtual rules");
                        }
                    }
                }
                // keepalived sets one source address from either.
                "unicast_src_ip" | "mcast_src_ip" => v.unicast_src_ip = self.value(s, "an IP address"),
                "track_script" => v.track_script = self.tracks(s, Tracked::Script, Some(&v.name)),
                "track_process" => v.track_process = self.tracks(s, Tracked::Process, Some(&v.name)),
                "track_file" => v.track_file = self.tracks(s, Tracked::File, Some(&v.name)),
                "track_bfd" => v.track_bfd = self.tracks(s, Tracked::Bfd, Some(&v.name)),
                "unicast_peer" => {
                    for a in self.block(s) {
                        // keepalived takes a prefix on a peer and ignores it.
                        let text = match a.keyword.text.split_once('/') {
                            Some((addr, _)) => {
                                self.warn(
                                    &a.keyword.pos,
                                    format!(
                                        "unicast_peer {}: the prefix is ignored (a peer is one address)",
                                        a.keyword.text
                                    ),
                                );
                                addr.to_string()
                            }
                            None => a.keyword.text.clone(),
                        };
                        let w = Word { text, pos: a.keyword.pos.clone() };
                        if let Some(ip) = self.parse::<IpAddr>(&w, "an IP address") {
                            self.push(&a.keyword, &mut v.unicast_peer, ip, "unicast peers");
                        }
                        if let Some(x) = a.args.first() {
                            self.diags.push(Diagnostic {
                                pos: x.pos.clone(),
                                severity: Severity::Unsupported,
                                message: format!("unicast_peer option {:?} is not supported; ignored", x.text),
                            });
                        }
                    }
                }
                "nopreempt" => v.preempt = !self.flag(s),
                "dont_track_primary" => v.dont_track_primary = self.flag(s),
                "preempt" => v.preempt = self.flag(s),
                "preempt_delay" => v.preempt_delay_s = self.value(s, "a number of seconds").unwrap_or(0),
                "accept" => {
                    v.accept = self.flag(s);
                    accept_set = true;
                }
                "no_accept" => {
                    v.accept = !self.flag(s);
                    accept_set = true;
                }
                "skip_check_adv_addr" => skip = Some(self.bool_flag(s, self.defaults.skip_check_adv_addr)),
                "lower_prio_no_advert" => lower = Some(self.bool_flag(s, self.defaults.lower_prio_no_advert)),
                "higher_prio_send_advert" => higher = Some(self.bool_flag(s, self.defaults.higher_prio_send_advert)),
                "strict_mode" => strict = Some(self.bool_flag(s, self.defaults.strict)),
                "gna_interval" => gna = self.interval_ms(s),
                "lvs_sync_daemon_interface" => {
                    if let Some(w) = self.one(s)
                        && let Some(interface) = self.ifname(w)
                    {
                        self.warn(
                            &s.keyword.pos,
                            format!(
                                "lvs_sync_daemon_interface is keepalived 1.x's form: read as global_defs lvs_sync_daemon {} {}",
                                w.text, v.name
                            ),
                        );
                        self.defaults.sync_daemon.get_or_insert(crate::model::LvsSyncDaemon {
                            interface,
                            instance: v.name.clone(),
                            sync_id: None,
                        });
                    }
                }
                "use_vmac" => {
                    let mut vm = Vmac::default();
                    for a in &s.args {
                        match parse_mac(&a.text) {
                            Some((mac, n)) => {
                                vm.mac = Some(mac);
                                short_mac = n == 5;
                                mac_pos = Some(a.pos.clone());
                            }
                            None if a.text.matches(':').count() >= 4 => self
                                .error(&a.pos, format!("use_vmac {:?} is not a MAC address (5 or 6 octets)", a.text)),
                            None => vm.name = self.ifname(a),
                        }
                    }
                    v.vmac = Some(vm);
                }
                "vmac_xmit_base" => {
                    self.flag(s);
                    xmit_base = Some(s.keyword.pos.clone());
                }
                "use_vmac_addr" => {
                    self.flag(s);
                    v.use_vmac_addr = true;
                }
                "use_ipvlan" => {
                    if v.ipvlan.is_some() {
                        self.error(&s.keyword.pos, "use_ipvlan given twice");
                        continue;
                    }
                    // Its words in any order, as keepalived reads them: a
                    // mode, an address, else the interface's name.
                    let mut ipvlan = crate::model::Ipvlan::default();
                    let mut mode_given = false;
                    for a in &s.args {
                        let mode = match a.text.as_str() {
                            "bridge" => Some(crate::model::IpvlanMode::Bridge),
                            "private" => Some(crate::model::IpvlanMode::Private),
                            "vepa" => Some(crate::model::IpvlanMode::Vepa),
                            _ => None,
                        };
                        if let Some(m) = mode {
                            if mode_given {
                                self.error(&a.pos, format!("use_ipvlan: a second mode {:?}", a.text));
                            }
                            (ipvlan.mode, mode_given) = (m, true);
                        } else if a.text.split('/').next().is_some_and(|t| t.parse::<IpAddr>().is_ok()) {
                            if ipvlan.address.is_some() {
                                self.error(&a.pos, format!("use_ipvlan: a second address {:?}", a.text));
                            }
                            ipvlan.address = self.net(a).or(ipvlan.address);
                        } else if ipvlan.name.is_some() {
                            self.error(&a.pos, format!("use_ipvlan: a second interface name {:?}", a.text));
                        } else {
                            ipvlan.name = self.ifname(a);
                        }
                    }
                    v.ipvlan = Some(ipvlan);
                }
                "track_interface" => {
                    for a in self.block(s) {
                        let Some(name) = self.ifname(&a.keyword) else {
                            continue;
                        };
                        let weight = match a.args.as_slice() {
                            [] => 0,
                            [w, n] if w.text == "weight" => self.parse(n, "a weight (-254..=254)").unwrap_or(0),
                            _ => {
                                self.error(&a.keyword.pos, "expected INTERFACE [weight N]");
                                continue;
                            }
                        };
                        self.push(
                            &a.keyword,
                            &mut v.track_interface,
                            Track { interface: name, weight },
                            "tracked interfaces",
                        );
                    }
                }
                "notify_master" => v.notify.master = self.string_value(s),
                "notify_backup" => v.notify.backup = self.string_value(s),
                "notify_fault" => v.notify.fault = self.string_value(s),
                "notify_stop" => v.notify.stop = self.string_value(s),
                "notify" => v.notify.any = self.string_value(s),
                "smtp_alert" => v.smtp_alert = Some(self.bool_flag(s, v.smtp_alert.unwrap_or(false))),
                "garp_master_delay" => {
                    v.garp.master_delay_s = self.value(s, "a number of seconds").unwrap_or(5);
                    delay_set = true;
                }
                "garp_master_repeat" => {
                    v.garp.master_repeat = self.value(s, "a count").unwrap_or(5);
                    repeat_set = true;
                }
                "garp_master_refresh" => {
                    v.garp.master_refresh_s = self.value(s, "a number of seconds").unwrap_or(0);
                    refresh_set = true;
                }
                "garp_interval" => {
                    v.garp.interval_ms = self.interval_ms(s).unwrap_or(0);
                    garp_set = true;
                }
                "garp_master_refresh_repeat" => refresh_repeat = self.value(s, "a count"),
                "garp_lower_prio_delay" => lower_delay = self.value(s, "a number of seconds"),
                "garp_lower_prio_repeat" => lower_repeat = self.value(s, "a count"),
                "down_timer_adverts" => down = self.value(s, "a number of adverts (1..=100)"),
                "mcast_dst_ip" => mcast = self.value(s, "a multicast address"),
                "unicast_ttl" => v.unicast_ttl = self.value(s, "a TTL (0..=255)").unwrap_or(255),
                "unicast_fault_no_peer" => v.unicast_fault_no_peer = self.flag(s),
                "track_src_ip" => v.track_src_ip = self.flag(s),
                "promote_secondaries" => v.promote_secondaries = self.flag(s),
                "notify_master_rx_lower_pri" => v.notify_master_rx_lower_pri = self.string_value(s),
                "garp_extra_if" => extra_if = self.garp_extra_if(s),
                "notify_deleted" => {
                    v.notify_deleted = Some(match s.args.first() {
                        Some(w) => self.string(w),
                        None => None,
                    })
                }
                _ => self.unsupported(s),
            }
        }
        v.version = version.or(self.default_version).unwrap_or(if v.is_ipv6() { 3 } else { 2 });
        // keepalived 2.2.7 (Debian's), as measured: `vrf` beside `interface`
        // is cleared ("vrf can only be specified without interface"), and
        // an instance without an interface is refused ("Unknown
        // interface!"), in a VRF or not. vigil runs one without an
        // interface in the default VRF (keepalived 2.3's form) only.
        if let Some(w) = vrf {
            if v.interface.is_empty() {
                self.error(
                    &w.pos,
                    format!(
                        "vrf {}: an instance in a VRF is not supported (keepalived 2.2.7 refuses one without an interface too: \"Unknown interface!\"); name the interface it runs on",
                        w.text
                    ),
                );
            } else {
                self.warn(
                    &w.pos,
                    format!("vrf {} beside interface: ignored, as keepalived ignores it (the interface's own VRF is the kernel's)", w.text),
                );
            }
        }
        // Without an interface (unicast only, keepalived 2.1's), an address
        // that names none goes on the default interface, as keepalived puts
        // it there (written out: an export says `dev`).
        if v.interface.is_empty() && !v.unicast_peer.is_empty() {
            let default = self.defaults.default_interface.clone().or_else(|| IfName::try_from("eth0").ok());
            for vip in v.virtual_ipaddress.iter_mut().chain(v.virtual_ipaddress_excluded.iter_mut()) {
                if vip.dev.is_none() {
                    vip.dev = default.clone();
                }
            }
        }
        // The globals, where the instance did not say (unsolicited NAs for
        // IPv6, gratuitous ARPs for IPv4).
        let (mut vmac_unicast, mut rfc_mac) = (false, false);
        let prefixed = self.defaults.vmac_prefix.as_ref().map(|p| format!("{p}.{}", v.virtual_router_id));
        if let Some(vm) = &mut v.vmac {
            // `vmac_prefix`: the name keepalived gives it, written out (an
            // export says `use_vmac PREFIX.VRID`).
            if vm.name.is_none() {
                vm.name = prefixed.and_then(|n| IfName::try_from(n.as_str()).ok());
            }
            if short_mac && let Some(m) = &mut vm.mac {
                m[5] = v.virtual_router_id; // five octets: the VRID is the sixth
            }
            // keepalived: "VMAC MAC address not allowed to be RFC5798
            // address - ignoring" (it is the default anyway).
            if vm.mac.is_some_and(|m| m[..4] == [0, 0, 0x5e, 0] && (m[4] == 1 || m[4] == 2)) {
                vm.mac = None;
                rfc_mac = true;
            }
            vm.xmit_base = xmit_base.is_some();
            if !vm.xmit_base && !v.unicast_peer.is_empty() {
                // keepalived: "unicast with use_vmac requires vmac_xmit_base - setting".
                vm.xmit_base = true;
                vmac_unicast = true;
            }
        }
        if let (true, Some(pos)) = (rfc_mac, &mac_pos) {
            self.warn(
                pos,
                "use_vmac: a MAC of RFC 5798's form is the default one; the given one is ignored (as in keepalived)",
            );
        }
        if vmac_unicast {
            self.warn(&st.keyword.pos, "use_vmac with unicast peers needs vmac_xmit_base: set (as keepalived sets it)");
        }
        if let (None, Some(pos)) = (&v.vmac, &xmit_base) {
            self.warn(pos, "vmac_xmit_base without use_vmac does nothing (as in keepalived)");
        }
        let d = &self.defaults;
        // vigil's own interval between an instance's rounds (keepalived
        // has none: its `garp_interval` is a garp_group's, per interface).
        if !garp_set
            && v.is_ipv6()
            && let Some(ms) = gna
        {
            v.garp.interval_ms = ms;
        }
        if !delay_set && let Some(x) = d.garp_master_delay_s {
            v.garp.master_delay_s = x;
        }
        if !repeat_set && let Some(x) = d.garp_master_repeat {
            v.garp.master_repeat = x;
        }
        if !refresh_set && let Some(x) = d.garp_master_refresh_s {
            v.garp.master_refresh_s = x;
        }
        if let Some(x) = refresh_repeat.or(d.garp_master_refresh_repeat) {
            v.garp.master_refresh_repeat = x;
        }
        v.garp_extra_if = extra_if.or(d.garp_extra_if).filter(|x| x.0 > 0);
        v.garp.lower_prio_delay_s = lower_delay.or(d.garp_lower_prio_delay_s);
        v.garp.lower_prio_repeat = lower_repeat.or(d.garp_lower_prio_repeat);
        v.down_timer_adverts = down.or(d.down_timer_adverts).unwrap_or(VrrpInstance::DOWN_TIMER_ADVERTS);
        v.mcast_dst_ip =
            mcast.or(if v.is_ipv6() { d.mcast_group6.map(IpAddr::V6) } else { d.mcast_group4.map(IpAddr::V4) });
        v.skip_check_adv_addr = skip.unwrap_or(d.skip_check_adv_addr);
        v.lower_prio_no_advert = lower.unwrap_or(d.lower_prio_no_advert);
        v.higher_prio_send_advert = higher.unwrap_or(d.higher_prio_send_advert);
        let strict = strict.unwrap_or(d.strict);
        if v.virtual_ipaddress.is_empty() && !strict {
            self.warn(
                &st.keyword.pos,
                format!("vrrp_instance {}: no virtual_ipaddress: it elects a master for its notify programs only (keepalived: \"at least one is sensible\")", v.name),
            );
        }
        if strict {
            self.strict(st, &mut v, accept_set);
        }
        Some(v)
    }

    /// keepalived's strict mode (`vrrp_strict`, `strict_mode`), applied as
    /// keepalived applies it when it reads the config: what it refuses is
    /// an error here; what it changes is changed, with a warning that says
    /// so (above all no_accept: the VIPs take no traffic, the usual
    /// surprise of vrrp_strict).
    fn strict(&mut self, st: &Stmt, v: &mut VrrpInstance, accept_set: bool) {
        let at = &st.keyword.pos;
        let name = v.name.clone();
        if !v.unicast_peer.is_empty() {
            self.error(at, format!("vrrp_instance {name}: vrrp_strict does not allow unicast peers"));
        }
        if v.virtual_ipaddress.is_empty() {
            self.error(
                at,
                format!("vrrp_instance {name}: vrrp_strict does not allow an instance without virtual addresses"),
            );
        }
        if v.state == VrrpState::Master && v.priority != 255 {
            self.warn(at, format!("vrrp_instance {name}: vrrp_strict: state MASTER only with priority 255; starts as BACKUP (as keepalived)"));
            v.state = VrrpState::Backup;
        }
        if v.auth_pass.take().is_some() {
            self.warn(
                at,
                format!("vrrp_instance {name}: vrrp_strict: no authentication; auth_pass ignored (as keepalived)"),
            );
        }
        if v.preempt_delay_s != 0 {
            self.warn(at, format!("vrrp_instance {name}: vrrp_strict: no preempt_delay; ignored (as keepalived)"));
            v.preempt_delay_s = 0;
        }
        let accept_set = if accept_set && v.version == 2 {
            self.warn(
                at,
                format!(
                    "vrrp_instance {name}: vrrp_strict: accept mode cannot be set for VRRPv2; ignored (as keepalived)"
                ),
            );
            false
        } else {
            accept_set
        };
        if !accept_set {
            v.accept = v.priority == 255;
            if !v.accept {
                self.warn(
                    at,
                    format!(
                        "vrrp_instance {name}: vrrp_strict: no_accept, as keepalived: while master, this node drops traffic to the virtual addresses (add `accept` to the instance to take it)"
                    ),
                );
            }
        }
    }

    /// keepalived uses the first 8 bytes of a longer password (RFC 3768's
    /// field is 8 bytes): so does vigil, and says so.
    fn auth_pass(&mut self, a: &Stmt) -> Option<heapless::String<{ limits::AUTH_PASS }>> {
        let w = self.one(a)?;
        let mut cut = w.text.len().min(limits::AUTH_PASS);
        while !w.text.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut < w.text.len() {
            self.warn(
                &w.pos,
                format!(
                    "auth_pass is {} bytes; keepalived uses the first 8 ({:?}), and so does vigil",
                    w.text.len(),
                    &w.text[..cut]
                ),
            );
        }
        heapless::String::try_from(&w.text[..cut]).ok()
    }

    /// A route line: `[blackhole|unreachable|prohibit] [src A] [to] DEST
    /// [via|gw GW] [dev|oif IF] [metric|priority|preference N] [table N]
    /// [scope S] [onlink]`; `default` is 0.0.0.0/0 (::/0 with an IPv6
    /// gateway). Options of `ip route` that vigil does not set are
    /// reported, not dropped silently.
    fn route(&mut self, st: &Stmt) -> Option<Route> {
        self.item_track = None;
        let words: Vec<&Word> = std::iter::once(&st.keyword).chain(st.args.iter()).collect();
        let mut kind = RouteKind::Unicast;
        let mut dst: Option<(&Word, Option<IpNet>)> = None;
        let mut r = Route::new(IpNet { addr: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), prefix: 0 });
        let mut i = 0;
        while i < words.len() {
            let w = words[i];
            let val = words.get(i + 1).copied();
            let need = |cx: &mut Cx| -> Option<&Word> {
                if val.is_none() {
                    cx.error(&w.pos, format!("{:?} needs a value", w.text));
                }
                val
            };
            let used = match w.text.as_str() {
                "blackhole" if i == 0 => {
                    kind = RouteKind::Blackhole;
                    1
                }
                "unreachable" if i == 0 => {
                    kind = RouteKind::Unreachable;
                    1
                }
                "prohibit" if i == 0 => {
                    kind = RouteKind::Prohibit;
                    1
                }
                "src" => {
                    r.src = need(self).and_then(|v| self.parse(v, "an IP address"));
                    2
                }
                "to" => {
                    let v = need(self)?;
                    dst = Some((v, self.route_dst(v)));
                    2
                }
                "via" | "gw" => {
                    r.via = need(self).and_then(|v| self.parse(v, "an IP address"));
                    2
                }
                "dev" | "oif" => {
                    r.dev = need(self).and_then(|v| self.ifname(v));
                    2
                }
                "metric" | "priority" | "preference" => {
                    r.metric = need(self).and_then(|v| self.parse(v, "a metric"));
                    2
                }
                "table" => {
                    r.table = need(self).and_then(|v| self.table(v));
                    2
                }
                "scope" => {
                    r.scope = need(self).and_then(|v| self.scope(v));
                    2
                }
                "protocol" | "proto" => {
                    r.protocol = need(self).and_then(|v| self.route_protocol(v));
                    2
                }
                "tos" | "dsfield" => {
                    r.tos = need(self).and_then(|v| self.number(v, "a TOS byte")).unwrap_or(0);
                    2
                }
                "realm" | "realms" => {
                    r.realms = need(self).and_then(|v| self.realms(v));
                    2
                }
                "features" => {
                    if let Some(v) = need(self) {
                        match v.text.as_str() {
                            "ecn" => {
                                let m = RouteMetric { kind: RouteMetric::FEATURES, value: 1, lock: false };
                                self.push(w, &mut r.metrics, m, "route metrics");
                            }
                            _ => self.error(&v.pos, format!("features {:?}: the only route feature is ecn", v.text)),
                        }
                    }
                    2
                }
                "pref" => {
                    r.pref = need(self).and_then(|v| match v.text.as_str() {
                        "low" => Some(3),
                        "medium" => Some(0),
                        "high" => Some(1),
                        _ => {
                            self.error(&v.pos, format!("pref {:?} is not low, medium or high", v.text));
                            None
                        }
                    });
                    2
                }
                "append" => {
                    r.append = true;
                    1
                }
                "no_track" => {
                    r.no_track = true;
                    1
                }
                "track_group" => {
                    self.item_track = need(self).cloned();
                    2
                }
                "nexthop" => {
                    let mut hop = Nexthop { via: None, dev: None, weight: 1, onlink: false };
                    let mut k = i + 1;
                    while let Some(o) = words.get(k) {
                        let v = words.get(k + 1).copied();
                        k += match (o.text.as_str(), v) {
                            ("via" | "gw", Some(v)) => {
                                hop.via = self.parse(v, "an IP address");
                                2
                            }
                            ("dev", Some(v)) => {
                                hop.dev = self.ifname(v);
                                2
                            }
                            ("weight", Some(v)) => {
                                match self.parse::<u16>(v, "a next hop weight (1..=256)") {
                                    Some(n @ 1..=256) => hop.weight = n,
                                    Some(n) => self.error(&v.pos, format!("weight {n} is not 1..=256")),
                                    None => {}
                                }
                                2
                            }
                            ("onlink", _) => {
                                hop.onlink = true;
                                1
                            }
                            _ => break,
                        };
                    }
                    if hop.via.is_none() && hop.dev.is_none() {
                        self.error(&w.pos, "a nexthop needs via or dev");
                    } else {
                        self.push(w, &mut r.nexthops, hop, "next hops");
                    }
                    k - i
                }
                m if RouteMetric::NAMES.iter().any(|(n, _)| *n == m) => {
                    let kind = RouteMetric::NAMES.iter().find(|(n, _)| *n == m).map_or(0, |(_, k)| *k);
                    let lock = val.is_some_and(|v| v.text == "lock");
                    let at = if lock { words.get(i + 2).copied() } else { val };
                    match at {
                        Some(v) => {
                            if let Some(value) = self.number(v, "a number") {
                                self.push(w, &mut r.metrics, RouteMetric { kind, value, lock }, "route metrics");
                            }
                        }
                        None => self.error(&w.pos, format!("{m:?} needs a value")),
                    }
                    if lock { 3 } else { 2 }
                }
                "onlink" => {
                    r.onlink = true;
                    1
                }
                _ if dst.is_none() && !super::keywords::known_route_option(&w.text) => {
                    dst = Some((w, self.route_dst(w)));
                    1
                }
                _ => {
                    self.diags.push(Diagnostic {
                        pos: w.pos.clone(),
                        severity: Severity::Unsupported,
                        message: format!(
                            "route option {:?} is not supported by vigil; the route is set without it",
                            w.text
                        ),
                    });
                    // The option's value goes with it (`realm 5`, `mtu 1400`).
                    if val.is_some_and(|v| !super::keywords::known_route_option(&v.text)) { 2 } else { 1 }
                }
            };
            i += used;
        }
        let Some((_, Some(net))) = dst else {
            if dst.is_none() {
                self.error(&st.keyword.pos, "a route needs a destination");
            }
            return None;
        };
        r.kind = kind;
        r.dst = net;
        // keepalived finds the routes it tracks by their protocol: "Route
        // cannot be tracked if protocol is not RTPROT_KEEPALIVED(18),
        // resetting protocol" (unless no_track).
        if r.protocol.is_some_and(|p| p != 18) && !r.no_track {
            self.warn(&st.keyword.pos, "a tracked route's protocol is keepalived's (18): the protocol given is reset, as keepalived resets it (add no_track to keep it)");
            r.protocol = None;
        }
        // `default` takes its family from the gateway.
        if net.prefix == 0 && r.via.is_some_and(|v| v.is_ipv6() != net.addr.is_ipv6()) {
            r.dst = IpNet { addr: IpAddr::V6(core::net::Ipv6Addr::UNSPECIFIED), prefix: 0 };
        }
        Some(r)
    }

    /// A rule line: `[inet|inet6] [from A[/L]] [to B[/L]] [not] [fwmark
    /// N[/M]] [iif X] [oif Y] [priority|preference|pref N] [table|lookup T]`
    /// or `blackhole|unreachable|prohibit` in place of the table. Other
    /// `ip rule` options are reported.
    fn rule(&mut self, st: &Stmt) -> Option<Rule> {
        self.item_track = None;
        let words: Vec<&Word> = std::iter::once(&st.keyword).chain(st.args.iter()).collect();
        let mut r = Rule::default();
        let mut family = None;
        let mut i = 0;
        while i < words.len() {
            let w = words[i];
            let val = words.get(i + 1).copied();
            let need = |cx: &mut Cx| -> Option<&Word> {
                if val.is_none() {
                    cx.error(&w.pos, format!("{:?} needs a value", w.text));
                }
                val
            };
            i += match w.text.as_str() {
                "inet" => {
                    family = Some(false);
                    1
                }
                "inet6" => {
                    family = Some(true);
                    1
                }
                "from" => {
                    r.from = need(self).and_then(|v| self.net(v));
                    2
                }
                "to" => {
                    r.to = need(self).and_then(|v| self.net(v));
                    2
                }
                "not" => {
                    r.invert = true;
                    1
                }
                "fwmark" => {
                    if let Some(v) = need(self) {
                        let (m, mask) = match v.text.split_once('/') {
                            Some((m, k)) => (m, Some(k)),
                            None => (v.text.as_str(), None),
                        };
                        let num = |t: &str| match t.strip_prefix("0x") {
                            Some(h) => u32::from_str_radix(h, 16).ok(),
                            None => t.parse().ok(),
                        };
                        match (num(m), mask.map(num)) {
                            (Some(m), None) => r.fwmark = Some((m, None)),
                            (Some(m), Some(Some(k))) => r.fwmark = Some((m, Some(k))),
                            _ => self.error(&v.pos, format!("fwmark {:?} is not a mark[/mask]", v.text)),
                        }
                    }
                    2
                }
                "iif" | "dev" => {
                    r.iif = need(self).and_then(|v| self.ifname(v));
                    2
                }
                "oif" => {
                    r.oif = need(self).and_then(|v| self.ifname(v));
                    2
                }
                "priority" | "preference" | "pref" => {
                    r.priority = need(self).and_then(|v| self.parse(v, "a rule priority"));
                    2
                }
                "table" | "lookup" => {
                    r.table = need(self).and_then(|v| self.table(v));
                    2
                }
                "blackhole" => {
                    r.kind = RouteKind::Blackhole;
                    1
                }
                "unreachable" => {
                    r.kind = RouteKind::Unreachable;
                    1
                }
                "prohibit" => {
                    r.kind = RouteKind::Prohibit;
                    1
                }
                "tos" | "dsfield" => {
                    r.tos = need(self).and_then(|v| self.number(v, "a TOS byte")).unwrap_or(0);
                    2
                }
                "realm" | "realms" => {
                    r.realms = need(self).and_then(|v| self.realms(v));
                    2
                }
                "goto" => {
                    r.goto = need(self).and_then(|v| self.parse(v, "a rule priority"));
                    2
                }
                "suppress_prefixlength" | "sup_pl" => {
                    r.suppress_prefixlength = need(self).and_then(|v| self.parse(v, "a prefix length"));
                    2
                }
                "suppress_ifgroup" | "sup_group" => {
                    r.suppress_ifgroup = need(self).and_then(|v| self.parse(v, "an interface group"));
                    2
                }
                "uidrange" => {
                    r.uidrange = need(self).and_then(|v| {
                        let pair = v.text.split_once('-').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
                        match pair {
                            Some((a, b)) if a <= b => Some((a, b)),
                            _ => {
                                self.error(&v.pos, format!("uidrange {:?} is not A-B (A <= B)", v.text));
                                None
                            }
                        }
                    });
                    2
                }
                "sport" | "dport" => {
                    let range = need(self).and_then(|v| {
                        let (a, b) = v.text.split_once('-').unwrap_or((&v.text, &v.text));
                        match (a.parse::<u16>(), b.parse::<u16>()) {
                            (Ok(a), Ok(b)) if a <= b => Some((a, b)),
                            _ => {
                                self.error(&v.pos, format!("{} {:?} is not a port or A-B", w.text, v.text));
                                None
                            }
                        }
                    });
                    if w.text == "sport" {
                        r.sport = range;
                    } else {
                        r.dport = range;
                    }
                    2
                }
                "ip_proto" | "ipproto" => {
                    r.ip_proto = need(self).and_then(|v| match v.text.to_ascii_lowercase().as_str() {
                        "tcp" => Some(6),
                        "udp" => Some(17),
                        "sctp" => Some(132),
                        "icmp" => Some(1),
                        "ipv6-icmp" | "icmpv6" => Some(58),
                        _ => self.parse(v, "a protocol (tcp, udp, sctp, icmp, ipv6-icmp or a number)"),
                    });
                    2
                }
                "l3mdev" => {
                    r.l3mdev = true;
                    1
                }
                "protocol" | "proto" => {
                    r.protocol = need(self).and_then(|v| self.route_protocol(v));
                    2
                }
                "no_track" => {
                    r.no_track = true;
                    1
                }
                "track_group" => {
                    self.item_track = need(self).cloned();
                    2
                }
                _ => {
                    self.diags.push(Diagnostic {
                        pos: w.pos.clone(),
                        severity: Severity::Unsupported,
                        message: format!(
                            "rule option {:?} is not supported by vigil; the rule is set without it",
                            w.text
                        ),
                    });
                    if val.is_some() { 2 } else { 1 }
                }
            };
        }
        r.v6 = family.unwrap_or_else(|| r.from.or(r.to).is_some_and(|n| n.addr.is_ipv6()));
        if r.kind != RouteKind::Unicast {
            r.table = None; // a blackhole/unreachable/prohibit rule looks nothing up
        }
        if r.goto.is_some() {
            r.table = None; // a goto rule looks nothing up either
        }
        if r.kind == RouteKind::Unicast && r.table.is_none() && r.goto.is_none() {
            self.error(&st.keyword.pos, "a rule needs a table (or blackhole, unreachable, prohibit)");
            return None;
        }
        Some(r)
    }

    /// A number as `ip` reads one: decimal or 0x hex.
    fn number<T: TryFrom<u64>>(&mut self, w: &Word, what: &str) -> Option<T> {
        let n = match w.text.strip_prefix("0x").or_else(|| w.text.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => w.text.parse().ok(),
        };
        match n.and_then(|n| T::try_from(n).ok()) {
            Some(v) => Some(v),
            None => {
                self.error(&w.pos, format!("{:?} is not {what}", w.text));
                None
            }
        }
    }

    /// `realms [FROM/]TO` (numbers: vigil has no rt_realms file).
    fn realms(&mut self, w: &Word) -> Option<u32> {
        let (from, to) = match w.text.split_once('/') {
            Some((f, t)) => (Word { text: f.into(), pos: w.pos.clone() }, Word { text: t.into(), pos: w.pos.clone() }),
            None => (Word { text: "0".into(), pos: w.pos.clone() }, w.clone()),
        };
        let from: u16 = self.number(&from, "a realm number")?;
        let to: u16 = self.number(&to, "a realm number")?;
        Some(u32::from(from) << 16 | u32::from(to))
    }

    /// A route's (or rule's) `protocol`: a number, or a name of
    /// iproute2's rt_protos.
    fn route_protocol(&mut self, w: &Word) -> Option<u8> {
        const NAMES: [(&str, u8); 20] = [
            ("redirect", 1),
            ("kernel", 2),
            ("boot", 3),
            ("static", 4),
            ("gated", 8),
            ("ra", 9),
            ("mrt", 10),
            ("zebra", 11),
            ("bird", 12),
            ("dnrouted", 13),
            ("xorp", 14),
            ("ntk", 15),
            ("dhcp", 16),
            ("keepalived", 18),
            ("babel", 42),
            ("bgp", 186),
            ("isis", 187),
            ("ospf", 188),
            ("rip", 189),
            ("eigrp", 192),
        ];
        match NAMES.iter().find(|(n, _)| *n == w.text) {
            Some((_, p)) => Some(*p),
            None => self.number(w, "a route protocol (a number or a name such as static, bird, zebra)"),
        }
    }

    /// A routing table: a number, or `main`, `local`, `default`.
    fn table(&mut self, w: &Word) -> Option<u32> {
        match w.text.as_str() {
            "main" => Some(254),
            "local" => Some(255),
            "default" => Some(253),
            _ => self.parse(w, "a table (number, main, local or default)"),
        }
    }

    fn route_dst(&mut self, w: &Word) -> Option<IpNet> {
        if w.text == "default" {
            return Some(IpNet { addr: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED), prefix: 0 });
        }
        self.net(w)
    }

    /// `ADDR[/PREFIX] [brd B|+|-] [dev D] [scope S] [label L] [peer P]
    /// [home] [-nodad] [mngtmpaddr] [noprefixroute] [autojoin] [no_track]
    /// [preferred_lft N|forever]`, as keepalived (and `ip address`) read
    /// them.
    fn vip(&mut self, st: &Stmt) -> Option<VirtualAddress> {
        self.item_track = None;
        let addr = self.net(&st.keyword)?;
        let mut vip = VirtualAddress::new(addr);
        let mut it = st.args.iter();
        while let Some(k) = it.next() {
            if let Some((_, bit)) = addr_flags::NAMES.iter().find(|(n, _)| *n == k.text) {
                vip.flags |= bit;
                continue;
            }
            match k.text.as_str() {
                "no_track" => {
                    vip.no_track = true;
                    continue;
                }
                "track_group" => {
                    match it.next() {
                        Some(g) => self.item_track = Some(g.clone()),
                        None => self.error(&k.pos, "track_group needs a group's name"),
                    }
                    continue;
                }
                "use_vmac" => {
                    vip.use_vmac = true;
                    continue;
                }
                _ => {}
            }
            const VALUED: [&str; 7] = ["brd", "broadcast", "dev", "label", "scope", "peer", "preferred_lft"];
            if !VALUED.contains(&k.text.as_str()) {
                let all = VALUED.iter().copied().chain(addr_flags::NAMES.iter().map(|(n, _)| *n)).chain(["no_track"]);
                let hint = super::keywords::closest(&k.text, all)
                    .map(|c| format!("; did you mean {c:?}?"))
                    .unwrap_or_default();
                self.error(&k.pos, format!("{:?} is not an address option{hint}", k.text));
                continue;
            }
            let Some(val) = it.next() else {
                self.error(&k.pos, format!("{:?} needs a value", k.text));
                break;
            };
            match k.text.as_str() {
                "brd" | "broadcast" => {
                    vip.brd = match (val.text.as_str(), addr.addr) {
                        // keepalived's (and ip's) + and -: the host bits set or clear.
                        ("+" | "-", IpAddr::V4(a)) if addr.prefix < 31 => {
                            let host = u32::MAX.checked_shr(u32::from(addr.prefix)).unwrap_or(0);
                            let net = u32::from(a) & !host;
                            Some(core::net::Ipv4Addr::from(if val.text == "+" { net | host } else { net }))
                        }
                        ("+" | "-", _) => None,
                        _ => self.parse(val, "an IPv4 broadcast address (or + or -)"),
                    }
                }
                "dev" => vip.dev = self.string(val),
                "label" => vip.label = self.string(val),
                "scope" => vip.scope = self.scope(val),
                "peer" => vip.peer = self.net(val),
                "preferred_lft" => {
                    vip.preferred_lft = match val.text.as_str() {
                        "forever" => Some(Lifetime::Forever),
                        _ => self.parse(val, "seconds or forever").map(Lifetime::Seconds),
                    }
                }
                _ => {}
            }
        }
        if vip.preferred_lft.is_some() && addr.addr.is_ipv4() {
            self.warn(
                &st.keyword.pos,
                format!(
                    "{}: preferred_lft is for IPv6 addresses; keepalived sets none on IPv4 (nor does vigil)",
                    st.keyword.text
                ),
            );
        }
        if vip.peer.is_some_and(|p| p.addr.is_ipv6() != addr.addr.is_ipv6()) {
            self.error(&st.keyword.pos, format!("{}: its peer is of the other family", st.keyword.text));
        }
        Some(vip)
    }

    /// `scope global|site|link|host|nowhere`.
    fn scope(&mut self, v: &Word) -> Option<RouteScope> {
        match RouteScope::ALL.iter().find(|s| s.name() == v.text) {
            Some(s) => Some(*s),
            None => {
                self.error(&v.pos, format!("scope {:?} is not global, site, link, host or nowhere", v.text));
                None
            }
        }
    }

    /// `vmac_prefix P` / `vmac_addr_prefix P`: keepalived names a vmac
    /// PREFIX.VRID, within IFNAMSIZ with the VRID.
    fn vmac_prefix<'a>(&mut self, st: &'a Stmt) -> Option<&'a Word> {
        let w = self.one(st)?;
        if w.text.is_empty() || w.text.len() > 11 || w.text.contains(['/', ' ', ':']) {
            let k = &st.keyword.text;
            self.error(&w.pos, format!("{k} {:?} is not 1..=11 characters of an interface name", w.text));
            return None;
        }
        Some(w)
    }

    /// `track_group NAME { group { VI_1 VI_2 } }`.
    fn track_group(&mut self, st: &Stmt) -> Option<crate::model::TrackGroup> {
        let name = self.one(st)?;
        let mut g = crate::model::TrackGroup { name: self.string(name)?, ..Default::default() };
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "group" => {
                    for m in self.block(s) {
                        if let Some(n) = self.string(&m.keyword) {
                            self.push(&m.keyword, &mut g.group, n, "track_group members");
                        }
                    }
                }
                _ => self.unsupported(s),
            }
        }
        Some(g)
    }

    /// The static item just pushed names a track group: noted, and checked
    /// once all blocks are read. With `no_track` it is not tracked, as
    /// keepalived says ("has both track_group and no_track set").
    fn static_track(&mut self, item: crate::model::StaticItem, no_track: bool) {
        let Some(w) = self.item_track.take() else { return };
        if no_track {
            return self.warn(&w.pos, "track_group with no_track: not tracked (as keepalived says)");
        }
        self.static_track_refs.push((item, w));
    }

    /// An instance's address, route or rule said `track_group`, which only
    /// static ones take (keepalived's man page: "The track_group option only
    /// applies to static addresses/routes/rules").
    fn not_static(&mut self) {
        if let Some(w) = self.item_track.take() {
            self.warn(
                &w.pos,
                "track_group applies to static addresses, routes and rules only (as keepalived says); ignored here",
            );
        }
    }

    fn sync_group(&mut self, st: &Stmt) -> Option<SyncGroup> {
        let name = self.one(st)?;
        let mut g = SyncGroup { name: self.string(name)?, ..Default::default() };
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "group" => {
                    for m in self.block(s) {
                        if let Some(n) = self.string(&m.keyword) {
                            self.push(&m.keyword, &mut g.group, n, "group members");
                        }
                    }
                }
                "track_script" => g.track_script = self.tracks(s, Tracked::Script, None),
                "track_process" => g.track_process = self.tracks(s, Tracked::Process, None),
                "track_file" => g.track_file = self.tracks(s, Tracked::File, None),
                "track_bfd" => g.track_bfd = self.tracks(s, Tracked::Bfd, None),
                "notify_master" => g.notify.master = self.string_value(s),
                "notify_backup" => g.notify.backup = self.string_value(s),
                "notify_fault" => g.notify.fault = self.string_value(s),
                "notify_stop" => g.notify.stop = self.string_value(s),
                "notify" => g.notify.any = self.string_value(s),
                "smtp_alert" => g.smtp_alert = Some(self.bool_flag(s, g.smtp_alert.unwrap_or(false))),
                // What vigil always does: members' own weights count.
                "sync_group_tracking_weight" => {
                    self.flag(s);
                    self.tracking_weight.push(g.name.to_string());
                }
                "global_tracking" => {
                    self.warn(
                        &s.keyword.pos,
                        "global_tracking is deprecated (keepalived says so too): read as sync_group_tracking_weight",
                    );
                    self.tracking_weight.push(g.name.to_string());
                }
                _ => self.unsupported(s),
            }
        }
        Some(g)
    }

    /// `vrrp_script NAME { script ... interval ... }`.
    fn vrrp_script(&mut self, st: &Stmt) -> Option<VrrpScript> {
        let name = self.one(st)?;
        let mut v = VrrpScript::new(self.string(name)?);
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "script" => {
                    if let Some(c) = self.command(s) {
                        v.script = c;
                    }
                }
                "interval" => {
                    if let Some(ms) = self.millis(s) {
                        v.interval_ms = ms;
                    }
                }
                "timeout" => v.timeout_ms = self.millis(s),
                "weight" => {
                    if let Some((w, reverse)) = self.weight(s, &s.args) {
                        (v.weight, v.reverse) = (w, reverse);
                    }
                }
                "rise" => {
                    if let Some(n) = self.value(s, "a count (1..=255)") {
                        v.rise = n;
                    }
                }
                "fall" => {
                    if let Some(n) = self.value(s, "a count (1..=255)") {
                        v.fall = n;
                    }
                }
                "user" => v.user = self.script_user(s),
                "init_fail" => v.init_fail = self.flag(s),
                _ => self.unsupported(s),
            }
        }
        if v.script.is_empty() {
            self.error(&st.keyword.pos, format!("vrrp_script {}: no script to run", v.name));
            return None;
        }
        Some(v)
    }

    /// A program to run (`quorum_up`, ...): a command line, checked.
    fn command_path(&mut self, s: &Stmt) -> Option<PathText> {
        let c = self.command(s)?;
        let w = Word { text: c.to_string(), pos: s.keyword.pos.clone() };
        self.string(&w)
    }

    /// A command line: one (quoted) word, split later as keepalived does,
    /// or several words, each an argument as it stands.
    fn command(&mut self, s: &Stmt) -> Option<heapless::String<{ limits::COMMAND }>> {
        let line = match s.args.as_slice() {
            [] => {
                self.error(&s.keyword.pos, format!("{} needs a command line", s.keyword.text));
                return None;
            }
            [one] => one.text.clone(),
            many => crate::command::join(&many.iter().map(|w| w.text.clone()).collect::<Vec<_>>()),
        };
        if let Err(m) = crate::command::split(&line) {
            self.error(&s.args[0].pos, format!("{}: {m}", s.keyword.text));
            return None;
        }
        let at = Word { text: line, pos: s.args[0].pos.clone() };
        self.string(&at)
    }

    /// Seconds, possibly fractional (to the millisecond), as milliseconds.
    fn millis(&mut self, st: &Stmt) -> Option<u32> {
        let w = self.one(st)?;
        match w.text.parse::<f64>() {
            Ok(s) if s > 0.0 && s <= 4_000_000.0 => Some((s * 1000.0).round().max(1.0) as u32),
            _ => {
                self.error(&w.pos, format!("{:?} is not a number of seconds (more than 0)", w.text));
                None
            }
        }
    }

    /// `N [reverse|noreverse]` after `weight`: -253..=253, and the direction.
    fn weight(&mut self, st: &Stmt, args: &[Word]) -> Option<(i16, bool)> {
        let Some(n) = args.first() else {
            self.error(&st.keyword.pos, "weight needs a value (-253..=253)");
            return None;
        };
        let w = match n.text.parse::<i16>() {
            Ok(w) if (-253..=253).contains(&w) => w,
            _ => {
                self.error(&n.pos, format!("weight {:?} is not -253..=253", n.text));
                return None;
            }
        };
        let reverse = match args.get(1).map(|r| (r, r.text.as_str())) {
            None | Some((_, "noreverse")) => false,
            Some((_, "reverse")) => true,
            Some((r, _)) => {
                self.error(&r.pos, format!("after the weight: {:?} is not reverse or noreverse", r.text));
                return None;
            }
        };
        if let Some(x) = args.get(2) {
            self.error(&x.pos, format!("weight takes N [reverse|noreverse]; {:?} is extra", x.text));
            return None;
        }
        Some((w, reverse))
    }

    /// `USER [GROUP]`.
    fn script_user(&mut self, s: &Stmt) -> Option<ScriptUser> {
        match s.args.as_slice() {
            [u] => Some(ScriptUser { user: self.string(u)?, group: None }),
            [u, g] => Some(ScriptUser { user: self.string(u)?, group: Some(self.string(g)?) }),
            _ => {
                self.error(&s.keyword.pos, format!("{} takes USER [GROUP]", s.keyword.text));
                None
            }
        }
    }

    /// `vrrp_track_file NAME { file PATH weight N [reverse] init_file [V] [overwrite] }`.
    fn track_file_block(&mut self, st: &Stmt) -> Option<TrackFile> {
        let name = self.one(st)?;
        let mut t = TrackFile {
            name: self.string(name)?,
            file: heapless::String::new(),
            weight: 1,
            reverse: false,
            init: None,
        };
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "file" => t.file = self.string_value(s).unwrap_or_default(),
                "weight" => {
                    if let Some((w, reverse)) = self.weight(s, &s.args) {
                        (t.weight, t.reverse) = (w, reverse);
                    }
                }
                "init_file" => {
                    let mut value = 0;
                    let mut overwrite = false;
                    for a in &s.args {
                        match a.text.as_str() {
                            "overwrite" => overwrite = true,
                            _ => value = self.parse(a, "a number").unwrap_or(0),
                        }
                    }
                    t.init = Some((value, overwrite));
                }
                _ => self.unsupported(s),
            }
        }
        if t.file.is_empty() {
            self.error(&st.keyword.pos, format!("vrrp_track_file {}: no file", t.name));
            return None;
        }
        Some(t)
    }

    /// `vrrp_track_process NAME { process ... quorum ... }`.
    fn track_process_block(&mut self, st: &Stmt) -> Option<TrackProcess> {
        let name = self.one(st)?;
        let mut t = TrackProcess::new(self.string(name)?);
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "process" => {
                    if let Some(c) = self.command(s) {
                        t.process = c;
                    }
                }
                "param_match" => match self.one(s).map(|w| w.text.as_str()) {
                    Some("initial") => t.param_match = ParamMatch::Initial,
                    Some("partial") => t.param_match = ParamMatch::Partial,
                    Some(v) => self.error(&s.args[0].pos, format!("param_match is initial or partial, not {v:?}")),
                    None => {}
                },
                "full_command" => t.full_command = self.flag(s),
                "quorum" => {
                    if let Some(q) = self.value(s, "a number of processes") {
                        t.quorum = q;
                    }
                }
                "quorum_max" => t.quorum_max = self.value(s, "a number of processes"),
                "delay" => {
                    if let Some(ms) = self.millis(s) {
                        (t.fork_delay_ms, t.terminate_delay_ms) = (ms, ms);
                    }
                }
                "fork_delay" => t.fork_delay_ms = self.millis(s).unwrap_or(0),
                "terminate_delay" => t.terminate_delay_ms = self.millis(s).unwrap_or(0),
                "weight" => {
                    if let Some((w, reverse)) = self.weight(s, &s.args) {
                        (t.weight, t.reverse) = (w, reverse);
                    }
                }
                _ => self.unsupported(s),
            }
        }
        if t.process.is_empty() {
            self.error(&st.keyword.pos, format!("vrrp_track_process {}: no process to watch", t.name));
            return None;
        }
        Some(t)
    }

    /// `track_script|track_process|track_file { NAME [weight N
    /// [reverse|noreverse]] ... }`: the names are checked against `kind`'s
    /// blocks once all are read.
    /// A tracking block's lines; `instance`: the instance it is in (none:
    /// a sync group's).
    fn tracks(
        &mut self,
        st: &Stmt,
        kind: Tracked,
        instance: Option<&str>,
    ) -> crate::Bounded<TrackScript, { limits::TRACKS }> {
        let mut list = crate::Bounded::new();
        for a in self.block(st) {
            let Some(name) = self.string(&a.keyword) else { continue };
            let weight = match a.args.split_first() {
                None => None,
                Some((w, rest)) if w.text == "weight" => match self.weight(a, rest) {
                    Some(w) => Some(w),
                    None => continue,
                },
                Some((x, _)) => {
                    self.error(&x.pos, format!("{} {}: {:?} is not weight", st.keyword.text, a.keyword.text, x.text));
                    continue;
                }
            };
            self.track_refs.push((kind, a.keyword.clone(), instance.map(str::to_string)));
            self.push(&a.keyword, &mut list, TrackScript { name, weight }, "tracked scripts");
        }
        list
    }

    fn virtual_server(&mut self, st: &Stmt) -> Option<VirtualServer> {
        let key = match st.args.as_slice() {
            [fw, mark] if fw.text == "fwmark" => VirtualKey::Fwmark(self.parse(mark, "a firewall mark")?),
            [group, name] if group.text == "group" => VirtualKey::Group(self.string(name)?),
            [ip, port] => {
                VirtualKey::Address(SocketAddr::new(self.parse(ip, "an IP address")?, self.parse(port, "a port")?))
            }
            _ => {
                self.error(&st.keyword.pos, "virtual_server takes IP PORT or fwmark N");
                return None;
            }
        };
        let mut vs = VirtualServer::new(key);
        // Its path, for its real servers' places (made at the first).
        let mut vs_place: Option<std::sync::Arc<str>> = None;
        // keepalived: "no scheduler set, setting default 'wlc'".
        vs.lb_algo = Scheduler::Wlc;
        let block = self.block(st);
        self.check_defaults = CheckDefaults::default();
        self.check_defaults(block, false);
        self.check_defaults.vs_delay_loop_s = block
            .iter()
            .rfind(|s| s.keyword.text == "delay_loop")
            .and_then(|s| s.args.first())
            .and_then(|w| w.text.parse().ok())
            .unwrap_or(60);
        for s in block {
            match s.keyword.text.as_str() {
                // Taken above, as the checkers' defaults.
                k if CHECK_DEFAULT_KEYS.contains(&k) => {}
                "delay_loop" => vs.delay_loop_s = self.value(s, "a number of seconds").unwrap_or(60),
                "quorum_up" => vs.quorum_up = self.command_path(s),
                "quorum_down" => vs.quorum_down = self.command_path(s),
                "ops" => {
                    self.flag(s);
                    vs.ipvs_flags |= vs_flags::OPS;
                }
                "flag-1" | "sh-fallback" | "mh-fallback" => {
                    self.flag(s);
                    vs.ipvs_flags |= vs_flags::FLAG_1;
                }
                "flag-2" | "sh-port" | "mh-port" => {
                    self.flag(s);
                    vs.ipvs_flags |= vs_flags::FLAG_2;
                }
                "flag-3" => {
                    self.flag(s);
                    vs.ipvs_flags |= vs_flags::FLAG_3;
                }
                "lb_algo" | "lvs_sched" => {
                    if let Some(w) = self.one(s) {
                        match Scheduler::parse(&w.text) {
                            Some(x) => vs.lb_algo = x,
                            None => self.error(&w.pos, format!("unknown scheduler {:?}", w.text)),
                        }
                    }
                }
                "lb_kind" | "lvs_method" => {
                    if let Some((k, t)) = self.forwarding_tunnel(s) {
                        vs.lb_kind = k;
                        vs.tunnel = t;
                    }
                }
                "persistence_engine" => vs.persistence_engine = self.one(s).and_then(|w| self.string(w)),
                "protocol" => match self.one(s).map(|w| w.text.as_str()) {
                    Some("TCP") => vs.protocol = Protocol::Tcp,
                    Some("UDP") => vs.protocol = Protocol::Udp,
                    Some("SCTP") => vs.protocol = Protocol::Sctp,
                    Some(v) => self.error(&s.args[0].pos, format!("protocol is TCP, UDP or SCTP, not {v:?}")),
                    None => {}
                },
                "persistence_timeout" => vs.persistence_timeout = self.value(s, "a number of seconds").unwrap_or(0),
                "persistence_granularity" => {
                    if let Some(w) = self.one(s) {
                        vs.persistence_granularity = granularity(&w.text);
                        if vs.persistence_granularity.is_none() {
                            self.error(&w.pos, format!("{:?} is not a netmask or prefix length", w.text));
                        }
                    }
                }
                "quorum" => vs.quorum = self.value(s, "a weight").unwrap_or(1),
                "hysteresis" => vs.hysteresis = self.value(s, "a weight").unwrap_or(0),
                "sorry_server" => vs.sorry_server = self.socket(s, 0),
                "sorry_server_inhibit" | "sorry_server_lvs_method"
                    if !block.iter().any(|b| b.keyword.text == "sorry_server") =>
                {
                    self.warn(
                        &s.keyword.pos,
                        format!("{} without a sorry_server: ignored (as keepalived ignores it)", s.keyword.text),
                    );
                }
                "sorry_server_inhibit" => vs.sorry_server_inhibit = self.flag(s),
                "ip_family" => match self.one(s).map(|w| (w, w.text.as_str())) {
                    Some((_, "inet")) => vs.ip_family_v6 = Some(false),
                    Some((_, "inet6")) => vs.ip_family_v6 = Some(true),
                    Some((w, t)) => self.error(&w.pos, format!("ip_family is inet or inet6, not {t:?}")),
                    None => {}
                },
                "ha_suspend" => {
                    if matches!(vs.key, VirtualKey::Fwmark(_)) {
                        self.flag(s);
                        self.warn(
                            &s.keyword.pos,
                            "ha_suspend on a fwmark virtual server: it has no address to wait for; ignored (as keepalived clears it)",
                        );
                    } else {
                        vs.ha_suspend = self.flag(s);
                    }
                }
                "sorry_server_lvs_method" => vs.sorry_server_lvs_kind = self.forwarding(s),
                "inhibit_on_failure" => vs.inhibit_on_failure = self.flag(s),
                "alpha" => vs.alpha = self.bool_flag(s, vs.alpha),
                "omega" => vs.omega = self.bool_flag(s, vs.omega),
                "smtp_alert" => vs.smtp_alert = Some(self.bool_flag(s, vs.smtp_alert.unwrap_or(false))),
                "real_server" => {
                    if let Some(rs) = self.real_server(s) {
                        let path = vs_place.get_or_insert_with(|| crate::validate::vs_path(&vs).into()).clone();
                        self.places.push((Place::RealServer(path, rs.addr), s.keyword.pos.clone()));
                        self.push(&s.keyword, &mut vs.real_servers, rs, "real servers");
                    }
                }
                _ => self.unsupported(s),
            }
        }
        self.protocol_unsaid = !block.iter().any(|s| s.keyword.text == "protocol");
        Some(vs)
    }

    /// `virtual_server_group NAME { ADDRESS[-END] [PORT] ... fwmark N ... }`.
    /// A group with no lines is dropped with a warning, as keepalived drops
    /// it (a virtual server naming it is then an error).
    fn vs_group(&mut self, st: &Stmt) -> Option<VirtualServerGroup> {
        let name = self.one(st)?;
        let mut g = VirtualServerGroup { name: self.string(name)?, entries: crate::Bounded::new() };
        let lines = self.block(st);
        for line in lines {
            if let Some(e) = self.group_entry(line) {
                self.push(&line.keyword, &mut g.entries, e, "lines in a virtual_server_group");
            }
        }
        // (Lines that were all wrong have said so already.)
        if g.entries.is_empty() {
            if lines.is_empty() && st.block.is_some() {
                self.warn(
                    &st.keyword.pos,
                    format!("virtual_server_group {}: no addresses or marks; dropped (as keepalived drops it)", g.name),
                );
            }
            return None;
        }
        Some(g)
    }

    /// A group's line: `fwmark N`, or an address, a range of them (the last
    /// octet, or the last 16 bits of an IPv6 address in hex: `10.0.0.1-10`,
    /// `2001:db8::1-1f`) and a port (none: 0, every port).
    fn group_entry(&mut self, st: &Stmt) -> Option<GroupEntry> {
        if st.block.is_some() {
            self.error(&st.keyword.pos, format!("{:?} in a virtual_server_group takes no block", st.keyword.text));
            return None;
        }
        if st.keyword.text == "fwmark" {
            return Some(GroupEntry::Fwmark(self.value(st, "a firewall mark")?));
        }
        let w = &st.keyword;
        let (first, end) = match w.text.split_once('-') {
            Some((a, e)) => (a, Some(e)),
            None => (w.text.as_str(), None),
        };
        let Ok(first) = first.parse::<IpAddr>() else {
            self.error(&w.pos, format!("{:?} is not an address, a range (10.0.0.1-10) or fwmark N", w.text));
            return None;
        };
        let end = match end {
            None => None,
            Some(e) => {
                let (radix, max, what) =
                    if first.is_ipv4() { (10, 255, "0..=255") } else { (16, 0xffff, "0..=ffff, hex") };
                match u16::from_str_radix(e, radix) {
                    Ok(n) if n <= max && n > GroupEntry::last_part(first) => Some(n),
                    Ok(n) if n <= max => {
                        self.error(&w.pos, format!("{}: the range ends at {e}, not after where it starts", w.text));
                        return None;
                    }
                    _ => {
                        self.error(&w.pos, format!("{}: the range's end {e:?} is not {what}", w.text));
                        return None;
                    }
                }
            }
        };
        let port = match st.args.as_slice() {
            [] => 0,
            [p] => self.parse(p, "a port")?,
            [_, extra, ..] => {
                self.error(&extra.pos, format!("{:?} is extra: a group line is an address and a port", extra.text));
                return None;
            }
        };
        Some(GroupEntry::Range { first, end, port })
    }

    /// A weighted track in a sync group member's own block: keepalived 2.2.7
    /// drops such a script, file or process track at start ("ignoring
    /// tracked script with weights due to SYNC group"), so the VIP stops
    /// following it. vigil applies it (to that member's priority) and says
    /// that keepalived would not.
    fn member_weights(&mut self, config: &Config, refs: &[(Tracked, Word, Option<String>)]) {
        for (kind, w, instance) in refs {
            let Some(inst) = instance else { continue };
            let Some(group) = config.sync_groups.iter().find(|g| g.group.iter().any(|m| m == inst.as_str())) else {
                continue;
            };
            if self.tracking_weight.iter().any(|g| g == group.name.as_str()) {
                continue; // keepalived applies them too
            }
            let Some(v) = config.vrrp_instances.iter().find(|v| v.name == inst.as_str()) else { continue };
            let name = w.text.as_str();
            let what = kind.keyword();
            let weighted = config.weighted_own_tracks(v);
            let weight = weighted.iter().find(|(k, t, _)| *k == what && t.name == name).map(|(.., w)| *w);
            if let Some(weight) = weight {
                self.warn(
                    &w.pos,
                    format!(
                        "{what} {name} (weight {weight}) in {inst}, a member of vrrp_sync_group {}: keepalived 2.2.7 drops a weighted track from a member's own block (its log: ignoring tracked script with weights due to SYNC group), vigil applies it to {inst}'s priority",
                        group.name
                    ),
                );
            }
        }
    }

    /// After every block is read: each `virtual_server group NAME` names a
    /// group (keepalived drops a virtual server whose group is missing:
    /// here that loss is an error), and a service on port 0 without
    /// persistence is made persistent for 360 s, as keepalived makes it.
    fn resolve_virtual_servers(&mut self, config: &mut Config) {
        // keepalived: "no protocol set - defaulting to UDP" (the kernel
        // takes 0 as UDP) for an address, or a group with address lines.
        // A config that runs today runs such a service as UDP: so does the
        // import, and it says how to have TCP (once, with a count).
        for (vi, pos) in std::mem::take(&mut self.no_protocol) {
            let Some(vs) = config.virtual_servers.get(vi) else { continue };
            let addresses = match &vs.key {
                VirtualKey::Address(_) => true,
                VirtualKey::Fwmark(_) => false,
                VirtualKey::Group(name) => config
                    .virtual_server_group(name)
                    .is_some_and(|g| g.entries.iter().any(|e| matches!(e, GroupEntry::Range { .. }))),
            };
            if addresses {
                self.warn(
                    &pos,
                    "virtual_server without a protocol: UDP, as keepalived defaults to it (say `protocol TCP` for a TCP service)",
                );
                if let Some(vs) = config.virtual_servers.get_mut(vi) {
                    vs.protocol = Protocol::Udp;
                }
            }
        }
        for (vi, w) in std::mem::take(&mut self.vs_refs) {
            let Some(vs) = config.virtual_servers.get(vi) else { continue };
            if let VirtualKey::Group(name) = &vs.key
                && config.virtual_server_group(name).is_none()
            {
                let names: Vec<&str> = config.virtual_server_groups.iter().map(|g| g.name.as_str()).collect();
                let hint = match names.as_slice() {
                    [] => "there is no virtual_server_group block".to_string(),
                    _ => format!("the groups are {}", names.join(", ")),
                };
                self.error(
                    &w.pos,
                    format!("virtual_server group {name}: no virtual_server_group of that name ({hint})"),
                );
                continue;
            }
            if vs.persistence_timeout == 0
                && config.services(vs).any(|k| matches!(k, VirtualKey::Address(a) if a.port() == 0))
            {
                self.warn(
                    &w.pos,
                    format!(
                        "virtual_server {}: port 0 (every port) is only for persistent services; persistence_timeout 360 set, as keepalived sets it",
                        vs.key
                    ),
                );
                if let Some(vs) = config.virtual_servers.get_mut(vi) {
                    vs.persistence_timeout = 360;
                }
            }
        }
    }

    /// The checker defaults a virtual_server or real_server block sets,
    /// over the ones around it.
    fn check_defaults(&mut self, block: &[Stmt], with_delay_loop: bool) {
        for s in block {
            match s.keyword.text.as_str() {
                "connect_timeout" => self.check_defaults.connect_timeout_s = self.value(s, "a number of seconds"),
                "retry" => self.check_defaults.retry = self.value(s, "a count"),
                "delay_before_retry" => self.check_defaults.delay_before_retry_s = self.value(s, "a number of seconds"),
                "warmup" => self.check_defaults.warmup_s = self.value(s, "a number of seconds"),
                "virtualhost" => self.check_defaults.virtualhost = self.string_value(s),
                "delay_loop" if with_delay_loop => {
                    self.check_defaults.delay_loop_s = self.value(s, "a number of seconds")
                }
                _ => {}
            }
        }
    }

    /// `lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`
    /// (keepalived 2.2's form; `lb_kind` is its old name).
    fn forwarding_tunnel(&mut self, st: &Stmt) -> Option<(Forwarding, Option<Tunnel>)> {
        let Some(first) = st.args.first() else {
            self.error(&st.keyword.pos, format!("{} needs a value", st.keyword.text));
            return None;
        };
        let kind = match first.text.as_str() {
            "NAT" => Forwarding::Nat,
            "DR" => Forwarding::Dr,
            "TUN" => Forwarding::Tun,
            _ => {
                self.error(&first.pos, format!("lb_kind is NAT, DR or TUN, not {:?}", first.text));
                return None;
            }
        };
        let rest = &st.args[1..];
        if rest.is_empty() {
            return Some((kind, None));
        }
        if kind != Forwarding::Tun {
            self.error(&rest[0].pos, format!("{} {}: {:?} is for TUN only", st.keyword.text, first.text, rest[0].text));
            return Some((kind, None));
        }
        let mut words = rest.iter();
        let mut tunnel = None;
        let mut csum = TunCsum::None;
        while let Some(w) = words.next() {
            match w.text.as_str() {
                "type" => {
                    let Some(t) = words.next() else {
                        self.error(&w.pos, "type needs ipip, gue or gre");
                        break;
                    };
                    tunnel = match t.text.as_str() {
                        "ipip" => Some(Tunnel::Ipip),
                        "gre" => Some(Tunnel::Gre { csum: TunCsum::None }),
                        "gue" => Some(Tunnel::Gue { port: 0, csum: TunCsum::None }),
                        _ => {
                            self.error(&t.pos, format!("tunnel type is ipip, gue or gre, not {:?}", t.text));
                            None
                        }
                    };
                }
                "port" => {
                    let port = words.next().and_then(|p| self.parse::<u16>(p, "a port"));
                    match (&mut tunnel, port) {
                        (Some(Tunnel::Gue { port: p, .. }), Some(n)) => *p = n,
                        (_, Some(_)) => self.error(&w.pos, "port is for type gue"),
                        _ => {}
                    }
                }
                "nocsum" => csum = TunCsum::None,
                "csum" => csum = TunCsum::Csum,
                "remcsum" => csum = TunCsum::Remcsum,
                _ => self
                    .error(&w.pos, format!("{:?} is not a tunnel option (type, port, nocsum, csum, remcsum)", w.text)),
            }
        }
        match &mut tunnel {
            Some(Tunnel::Gue { port: 0, .. }) => self.error(&st.keyword.pos, "type gue needs a port"),
            Some(Tunnel::Gue { csum: c, .. }) => *c = csum,
            Some(Tunnel::Gre { csum: c }) if csum == TunCsum::Remcsum => {
                self.error(&st.keyword.pos, "remcsum is for type gue (GRE has none)");
                *c = TunCsum::None;
            }
            Some(Tunnel::Gre { csum: c }) => *c = csum,
            _ if csum != TunCsum::None => self.error(&st.keyword.pos, "a checksum option is for type gue or gre"),
            _ => {}
        }
        Some((kind, tunnel))
    }

    /// vigil's old `tun_type ipip|gue|gre`, `tun_port N`, `tun_flags F`.
    fn legacy_tunnel(&mut self, s: &Stmt, rs: &mut RealServer) {
        self.warn(
            &s.keyword.pos,
            format!(
                "{} is not keepalived's (2.2.7 refuses it): read, and written as lvs_method TUN type ...",
                s.keyword.text
            ),
        );
        let w = self.one(s).map(|w| w.text.clone());
        let csum_of = |t: &Option<Tunnel>| match t {
            Some(Tunnel::Gue { csum, .. } | Tunnel::Gre { csum }) => *csum,
            _ => TunCsum::None,
        };
        let csum = csum_of(&rs.tunnel);
        match (s.keyword.text.as_str(), w.as_deref()) {
            ("tun_type", Some("ipip")) => rs.tunnel = Some(Tunnel::Ipip),
            ("tun_type", Some("gre")) => rs.tunnel = Some(Tunnel::Gre { csum }),
            ("tun_type", Some("gue")) => {
                let port = match rs.tunnel {
                    Some(Tunnel::Gue { port, .. }) => port,
                    _ => 0,
                };
                rs.tunnel = Some(Tunnel::Gue { port, csum });
            }
            ("tun_port", Some(_)) => {
                let port = self.value(s, "a port").unwrap_or(0);
                rs.tunnel = Some(Tunnel::Gue { port, csum });
            }
            ("tun_flags", Some(f)) => {
                let c = match f {
                    "nocsum" => TunCsum::None,
                    "csum" => TunCsum::Csum,
                    "remcsum" => TunCsum::Remcsum,
                    _ => return self.error(&s.args[0].pos, format!("tun_flags is nocsum, csum or remcsum, not {f:?}")),
                };
                match &mut rs.tunnel {
                    Some(Tunnel::Gue { csum, .. } | Tunnel::Gre { csum }) => *csum = c,
                    _ => rs.tunnel = Some(Tunnel::Gue { port: 0, csum: c }),
                }
            }
            (k, Some(v)) => self.error(&s.args[0].pos, format!("{k} {v:?} is not ipip, gue or gre")),
            _ => {}
        }
    }

    fn forwarding(&mut self, st: &Stmt) -> Option<Forwarding> {
        let w = self.one(st)?;
        match w.text.as_str() {
            "NAT" => Some(Forwarding::Nat),
            "DR" => Some(Forwarding::Dr),
            "TUN" => Some(Forwarding::Tun),
            _ => {
                self.error(&w.pos, format!("lb_kind is NAT, DR or TUN, not {:?}", w.text));
                None
            }
        }
    }

    fn real_server(&mut self, st: &Stmt) -> Option<RealServer> {
        let addr = self.socket(st, 0)?;
        let around = self.check_defaults.clone();
        let block = self.block(st);
        self.check_defaults(block, true);
        let rs = self.real_server_in(addr, block);
        self.check_defaults = around;
        rs
    }

    fn real_server_in(&mut self, addr: SocketAddr, block: &[Stmt]) -> Option<RealServer> {
        let mut rs = RealServer::new(addr);
        for s in block {
            let kind = match s.keyword.text.as_str() {
                // Taken above, as the checkers' defaults.
                k if CHECK_DEFAULT_KEYS.contains(&k) || k == "delay_loop" => continue,
                "weight" => {
                    rs.weight = self.value(s, "a weight").unwrap_or(1);
                    continue;
                }
                "lb_kind" | "lvs_method" => {
                    if let Some((k, t)) = self.forwarding_tunnel(s) {
                        rs.lb_kind = Some(k);
                        rs.tunnel = t;
                    }
                    continue;
                }
                "alpha" => {
                    let before = rs.alpha.unwrap_or(false);
                    rs.alpha = Some(self.bool_flag(s, before));
                    continue;
                }
                "inhibit_on_failure" => {
                    let before = rs.inhibit_on_failure.unwrap_or(false);
                    rs.inhibit_on_failure = Some(self.bool_flag(s, before));
                    continue;
                }
                "notify_up" => {
                    rs.notify_up = self.string_value(s).map(Box::new);
                    continue;
                }
                "notify_down" => {
                    rs.notify_down = self.string_value(s).map(Box::new);
                    continue;
                }
                "uthreshold" => {
                    rs.uthreshold = self.value(s, "a connection count").unwrap_or(0);
                    continue;
                }
                "lthreshold" => {
                    rs.lthreshold = self.value(s, "a connection count").unwrap_or(0);
                    continue;
                }
                // vigil's older export wrote these (keepalived 2.2.7 does not
                // know them: "Unknown keyword"); read still, said once.
                "tun_type" | "tun_port" | "tun_flags" => {
                    self.legacy_tunnel(s, &mut rs);
                    continue;
                }
                "smtp_alert" => {
                    rs.smtp_alert = Some(self.bool_flag(s, rs.smtp_alert.unwrap_or(false)));
                    continue;
                }
                "TCP_CHECK" => CheckKind::Tcp,
                "HTTP_GET" => CheckKind::Http(Box::default()),
                "SSL_GET" => CheckKind::Http(Box::new(HttpCheck { tls: true, ..Default::default() })),
                "SMTP_CHECK" => CheckKind::Smtp { helo_name: None },
                "DNS_CHECK" => CheckKind::Dns { query_type: DnsType::A, query_name: Box::default() },
                "UDP_CHECK" => CheckKind::Udp { payload: Box::default(), require_reply: false },
                "PING_CHECK" => CheckKind::Ping,
                "MISC_CHECK" => CheckKind::Misc { path: Box::default(), timeout_s: 5, dynamic: false },
                "BFD_CHECK" => {
                    if let Some(c) = self.bfd_check(s) {
                        self.push(&s.keyword, &mut rs.checkers, c, "checkers per real server");
                    }
                    continue;
                }
                "FILE_CHECK" => {
                    if let Some(c) = self.file_check(s) {
                        self.push(&s.keyword, &mut rs.checkers, c, "checkers per real server");
                    }
                    continue;
                }
                _ => {
                    self.unsupported(s);
                    continue;
                }
            };
            let Some(c) = self.checker(s, kind) else { continue };
            for c in self.smtp_hosts(s, c) {
                self.push(&s.keyword, &mut rs.checkers, c, "checkers per real server");
            }
        }
        Some(rs)
    }

    /// SMTP_CHECK's `host { connect_ip ... }` blocks, as keepalived 2.2.7
    /// reads them ("deprecated: define additional checkers"): each host is
    /// a checker of its own with the block's settings and the host's
    /// connection; the block itself checks too only when it names a
    /// connection of its own.
    fn smtp_hosts(&mut self, st: &Stmt, main: Checker) -> Vec<Checker> {
        let block = st.block.as_deref().unwrap_or_default();
        let hosts: Vec<&Stmt> = block.iter().filter(|s| s.keyword.text == "host").collect();
        if hosts.is_empty() || !matches!(main.kind, CheckKind::Smtp { .. }) {
            return vec![main];
        }
        self.warn(
            &hosts[0].keyword.pos,
            "SMTP_CHECK host blocks are deprecated (keepalived says so too): each host is read as an SMTP_CHECK of its own",
        );
        let own = block.iter().any(|s| {
            matches!(s.keyword.text.as_str(), "connect_ip" | "connect_port" | "bindto" | "bind_to" | "connect_timeout")
        });
        let mut out = Vec::new();
        if own {
            out.push(main.clone());
        }
        for h in hosts {
            let mut c = main.clone();
            for s in h.block.as_deref().unwrap_or_default() {
                match s.keyword.text.as_str() {
                    "connect_ip" => c.connect_ip = self.value(s, "an IP address"),
                    "connect_port" => c.connect_port = self.value(s, "a port"),
                    "bindto" | "bind_to" => c.bind_to = self.value(s, "an IP address"),
                    "connect_timeout" => c.connect_timeout_s = self.value(s, "a number of seconds").unwrap_or(5),
                    _ => self.unsupported(s),
                }
            }
            out.push(c);
        }
        out
    }

    /// `BFD_CHECK { name NAME }`: up while that bfd_instance's session is.
    fn bfd_check(&mut self, st: &Stmt) -> Option<Checker> {
        let mut name = None;
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "name" => {
                    if let Some(w) = self.one(s) {
                        self.track_refs.push((Tracked::Bfd, w.clone(), None));
                        name = self.string(w);
                    }
                }
                _ => self.unsupported(s),
            }
        }
        let Some(name) = name else {
            self.error(&st.keyword.pos, "BFD_CHECK needs the name of a bfd_instance");
            return None;
        };
        Some(Checker::new(CheckKind::Bfd { name: Box::new(name) }))
    }

    /// `bfd_instance NAME { neighbor_ip ... }`, with keepalived 2.2.7's
    /// ranges (it ignores a value out of range; here it is an error).
    fn bfd_instance(&mut self, st: &Stmt) -> Option<BfdInstance> {
        let name = self.one(st)?;
        let name = self.string(name)?;
        let mut neighbor = None;
        let mut b = BfdInstance::new(name, IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED));
        let (mut vrrp, mut checker) = (false, false);
        let mut max_hops = None;
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "neighbor_ip" | "neighbour_ip" => neighbor = self.value(s, "an IP address"),
                "source_ip" => b.source = self.value(s, "an IP address"),
                "min_rx" => b.min_rx_us = self.bfd_ms(s, 1_000).unwrap_or(b.min_rx_us),
                "min_tx" => b.min_tx_us = self.bfd_ms(s, 1_000).unwrap_or(b.min_tx_us),
                "idle_tx" => b.idle_tx_us = self.bfd_ms(s, 1_000_000).unwrap_or(b.idle_tx_us),
                "multiplier" => match self.value::<u8>(s, "a multiplier (1-255)") {
                    Some(0) => self.error(&s.args[0].pos, "multiplier 0 is outside 1..=255"),
                    Some(m) => b.multiplier = m,
                    None => {}
                },
                "passive" => b.passive = self.flag(s),
                "ttl" | "hoplimit" => match self.value::<u8>(s, "a TTL (1-255)") {
                    Some(0) => self.error(&s.args[0].pos, format!("{} 0 is outside 1..=255", s.keyword.text)),
                    Some(t) => b.ttl = Some(t),
                    None => {}
                },
                "max_hops" => match self.value::<i16>(s, "a hop count (-1-255)") {
                    // -1 turns the check off, whatever the TTL (kept as
                    // 255, which keepalived would cut down to a lower TTL).
                    Some(-1) => {
                        max_hops = None;
                        b.max_hops = 255;
                    }
                    Some(h @ 0..=255) => max_hops = Some(h as u8),
                    Some(h) => self.error(&s.args[0].pos, format!("max_hops {h} is outside -1..=255")),
                    None => {}
                },
                "weight" => {
                    if let Some((w, reverse)) = self.weight(s, &s.args) {
                        (b.weight, b.reverse) = (w, reverse);
                    }
                }
                "vrrp" => vrrp = self.flag(s),
                "checker" => checker = self.flag(s),
                _ => self.unsupported(s),
            }
        }
        let Some(neighbor) = neighbor else {
            self.error(&st.keyword.pos, format!("bfd_instance {}: no neighbor_ip", b.name));
            return None;
        };
        b.neighbor = neighbor;
        b.events = match (vrrp, checker) {
            (true, false) => BfdEvents::Vrrp,
            (false, true) => BfdEvents::Checker,
            _ => BfdEvents::Both,
        };
        if let Some(h) = max_hops {
            b.max_hops = h;
            if h > b.ttl() {
                // keepalived: "max_hops exceeds ttl/hoplimit - setting to
                // ttl/hoplimit".
                self.warn(
                    &st.keyword.pos,
                    format!("bfd_instance {}: max_hops {h} is more than the ttl {} sent: taken as {}, as keepalived takes it", b.name, b.ttl(), b.ttl()),
                );
                b.max_hops = b.ttl();
            }
        }
        Some(b)
    }

    /// A BFD interval: ms with up to three decimals (keepalived 2.2.7),
    /// from `lo_us` up to 4,294,967 ms; in microseconds.
    fn bfd_ms(&mut self, s: &Stmt, lo_us: u32) -> Option<u32> {
        let w = self.one(s)?;
        let (int, frac) = w.text.split_once('.').unwrap_or((&w.text, ""));
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let us = if digits(int) && (frac.is_empty() || digits(frac)) && frac.len() <= 3 && int.len() <= 10 {
            let frac_us = format!("{frac:0<3}").parse::<u64>().ok()?;
            int.parse::<u64>().ok().map(|i| i * 1000 + frac_us)
        } else {
            None
        };
        match us {
            Some(us) if (u64::from(lo_us)..=u64::from(BFD_INTERVAL_MAX_US)).contains(&us) => Some(us as u32),
            _ => {
                self.error(
                    &w.pos,
                    format!(
                        "{} {:?} is not {}..=4294967 ms (up to three decimals)",
                        s.keyword.text,
                        w.text,
                        lo_us / 1000
                    ),
                );
                None
            }
        }
    }

    /// `FILE_CHECK { track_file NAME  weight W [reverse]  dynamic }`: none
    /// of the other checkers' options (keepalived has none for it).
    fn file_check(&mut self, st: &Stmt) -> Option<Checker> {
        let (mut name, mut weight, mut dynamic) = (None, None, false);
        for s in self.block(st) {
            match s.keyword.text.as_str() {
                "track_file" => {
                    if let Some(w) = self.one(s) {
                        // Resolved with the other tracking lines, at the end.
                        self.track_refs.push((Tracked::File, w.clone(), None));
                        name = self.string(w);
                    }
                }
                "weight" => {
                    let w = s.args.first().and_then(|w| self.parse::<i32>(w, "a weight (a 32-bit number)"));
                    let reverse = match s.args.get(1).map(|w| w.text.as_str()) {
                        None | Some("noreverse") => false,
                        Some("reverse") => true,
                        Some(x) => {
                            self.error(&s.args[1].pos, format!("weight option {x:?} is not reverse or noreverse"));
                            false
                        }
                    };
                    if s.args.is_empty() {
                        self.error(&s.keyword.pos, "weight needs a value");
                    }
                    weight = w.map(|w| (w, reverse));
                }
                "dynamic" => {
                    dynamic = self.flag(s);
                    self.warn(&s.keyword.pos, "FILE_CHECK dynamic: keepalived 2.2.7 refuses it (\"Unknown keyword\"); a weighted FILE_CHECK moves the weight without it (in keepalived and vigil)");
                }
                _ => self.unsupported(s),
            }
        }
        let Some(track_file) = name else {
            self.error(&st.keyword.pos, "FILE_CHECK needs a track_file");
            return None;
        };
        Some(Checker::new(CheckKind::File { track_file: Box::new(track_file), weight, dynamic }))
    }

    fn checker(&mut self, st: &Stmt, kind: CheckKind) -> Option<Checker> {
        let mut c = Checker::new(kind);
        if matches!(c.kind, CheckKind::Dns { .. }) {
            // keepalived's DNS_CHECK default query name.
            c.kind = CheckKind::Dns {
                query_type: DnsType::Soa,
                query_name: Box::new(heapless::String::try_from(".").ok()?),
            };
        }
        let block = self.block(st);
        let set =
            |k: &str| block.iter().any(|s| s.keyword.text == k || (k == "retry" && s.keyword.text == "nb_get_retry"));
        // The defaults from around it, then keepalived's per kind.
        let d = self.check_defaults.clone();
        if !set("connect_timeout")
            && let Some(v) = d.connect_timeout_s
        {
            c.connect_timeout_s = v;
        }
        if !set("retry")
            && let Some(v) = d.retry
        {
            c.retry = v;
        }
        if !set("warmup")
            && let Some(v) = d.warmup_s
        {
            c.warmup_s = v;
        }
        if !set("delay_loop") && d.delay_loop_s.is_some() {
            c.delay_loop_s = d.delay_loop_s;
        }
        if !set("delay_before_retry") {
            c.delay_before_retry_s = d.delay_before_retry_s.unwrap_or(match c.kind {
                CheckKind::Http(_) => 3,
                CheckKind::Dns { .. } => c.delay_loop_s.unwrap_or(d.vs_delay_loop_s),
                _ => 1,
            });
        }
        if let (CheckKind::Http(h), Some(v)) = (&mut c.kind, &d.virtualhost)
            && !set("virtualhost")
        {
            h.virtualhost = Some(v.clone());
        }
        if !set("log_all_failures") {
            c.log_all_failures = self.defaults.log_all_failures;
        }
        for s in block {
            match (s.keyword.text.as_str(), &mut c.kind) {
                // MISC_CHECK connects to nothing (keepalived refuses these there).
                ("connect_ip" | "connect_port" | "bind_to" | "bindto" | "connect_timeout", CheckKind::Misc { .. }) => {
                    self.unsupported(s)
                }
                ("connect_ip", _) => c.connect_ip = self.value(s, "an IP address"),
                ("connect_port", _) => c.connect_port = self.value(s, "a port"),
                // keepalived's spelling is bindto; vigil read bind_to first.
                ("bindto" | "bind_to", _) => c.bind_to = self.value(s, "an IP address"),
                ("connect_timeout", _) => c.connect_timeout_s = self.value(s, "a number of seconds").unwrap_or(5),
                ("retry" | "nb_get_retry", _) => {
                    if s.keyword.text == "nb_get_retry" {
                        self.warn(&s.keyword.pos, "nb_get_retry is deprecated (keepalived says so too): read as retry");
                    }
                    c.retry = self.value(s, "a count").unwrap_or(1)
                }
                ("delay_before_retry", _) => c.delay_before_retry_s = self.value(s, "a number of seconds").unwrap_or(1),
                ("warmup", _) => c.warmup_s = self.value(s, "a number of seconds").unwrap_or(0),
                ("delay_loop", _) => c.delay_loop_s = self.value(s, "a number of seconds"),
                ("bind_if", _) => c.bind_if = self.one(s).and_then(|w| self.ifname(w)).map(Box::new),
                ("bind_port", _) => c.bind_port = self.value(s, "a port"),
                ("fwmark", _) => c.fwmark = self.value(s, "a firewall mark"),
                ("alpha", _) => c.alpha = Some(self.bool_flag(s, c.alpha.unwrap_or(false))),
                ("log_all_failures", _) => {
                    c.log_all_failures = Some(self.bool_flag(s, c.log_all_failures.unwrap_or(false)))
                }
                ("http_protocol", CheckKind::Http(h)) => {
                    if let Some(w) = self.one(s) {
                        match w.text.as_str() {
                            "1.0" => h.protocol = HttpProtocol::Http10,
                            "1.0C" | "1.0c" => h.protocol = HttpProtocol::Http10Close,
                            "1.1" => h.protocol = HttpProtocol::Http11,
                            t => self.error(&w.pos, format!("http_protocol is 1.0, 1.0C or 1.1, not {t:?}")),
                        }
                    }
                }
                ("enable_sni", CheckKind::Http(h)) => h.enable_sni = self.flag(s),
                // vigil's: keepalived 2.2.7 does not know it.
                ("verify_cert", CheckKind::Http(h)) if h.tls => h.verify_cert = self.flag(s),
                ("url", CheckKind::Http(h)) => {
                    let mut url = Url::default();
                    for u in s.block.as_deref().unwrap_or_default() {
                        match u.keyword.text.as_str() {
                            "path" => url.path = self.string_value(u).unwrap_or_default(),
                            "digest" => match self.one(u).map(|w| (w, hex_array::<16>(&w.text))) {
                                Some((_, Some(d))) => url.digest = Some(d),
                                Some((w, None)) => {
                                    self.error(&w.pos, format!("digest is 32 hex digits (an MD5), not {:?}", w.text))
                                }
                                None => {}
                            },
                            "status_code" => {
                                for w in &u.args {
                                    if let Some(code) = self.parse::<StatusRange>(w, "an HTTP status code or range") {
                                        self.push(w, &mut url.status_code, code, "status codes");
                                    }
                                }
                            }
                            "regex" => {
                                if let Some(p) = self.string_value(u) {
                                    url.regex.get_or_insert_with(BodyRegex::default).pattern = p;
                                }
                            }
                            "regex_no_match" => {
                                url.regex.get_or_insert_with(BodyRegex::default).no_match = self.flag(u)
                            }
                            "regex_min_offset" => {
                                url.regex.get_or_insert_with(BodyRegex::default).min_offset =
                                    self.value(u, "a byte offset").unwrap_or(0)
                            }
                            "regex_max_offset" => {
                                url.regex.get_or_insert_with(BodyRegex::default).max_offset =
                                    self.value(u, "a byte offset")
                            }
                            "regex_options" => {
                                let mut bits = 0;
                                for w in &u.args {
                                    match regex_options::NAMES.iter().find(|(n, _)| *n == w.text) {
                                        Some((_, b)) => bits |= b,
                                        None => self.diags.push(Diagnostic {
                                            pos: w.pos.clone(),
                                            severity: Severity::Unsupported,
                                            message: format!(
                                                "regex_options {:?} is not supported (vigil has caseless, multiline, dotall, extended, ungreedy); ignored",
                                                w.text
                                            ),
                                        }),
                                    }
                                }
                                url.regex.get_or_insert_with(BodyRegex::default).options = bits;
                            }
                            _ => self.unsupported(u),
                        }
                    }
                    if url.regex.as_ref().is_some_and(|r| r.pattern.is_empty()) {
                        self.error(&s.keyword.pos, "url: regex_* settings without a regex");
                    }
                    self.push(&s.keyword, &mut h.urls, url, "urls per checker");
                }
                ("virtualhost", CheckKind::Http(h)) => h.virtualhost = self.string_value(s),
                ("helo_name", CheckKind::Smtp { helo_name }) => *helo_name = self.string_value(s).map(Box::new),
                ("type", CheckKind::Dns { query_type, .. }) => {
                    if let Some(w) = self.one(s) {
                        match DnsType::parse(&w.text) {
                            Some(t) => *query_type = t,
                            None => self.error(&w.pos, format!("unknown DNS type {:?}", w.text)),
                        }
                    }
                }
                ("name", CheckKind::Dns { query_name, .. }) => **query_name = self.string_value(s).unwrap_or_default(),
                ("payload", CheckKind::Udp { payload, .. }) => {
                    if let Some(w) = self.one(s) {
                        match hex_vec(&w.text).and_then(|v| crate::Bounded::try_from(v).ok()) {
                            Some(p) => **payload = p,
                            None => self.error(&w.pos, format!("payload is up to 64 bytes in hex, not {:?}", w.text)),
                        }
                    }
                }
                ("require_reply", CheckKind::Udp { require_reply, .. }) => *require_reply = self.flag(s),
                ("misc_path", CheckKind::Misc { path, .. }) => **path = self.string_value(s).unwrap_or_default(),
                ("misc_timeout", CheckKind::Misc { timeout_s, .. }) => {
                    *timeout_s = self.value(s, "a number of seconds").unwrap_or(5)
                }
                ("misc_dynamic", CheckKind::Misc { dynamic, .. }) => *dynamic = self.flag(s),
                // Read after the block, by `smtp_hosts`.
                ("host", CheckKind::Smtp { .. }) if s.block.is_some() => {}
                _ => self.unsupported(s),
            }
        }
        Some(c)
    }
}

/// `255.255.255.0` or `24` (keepalived takes a netmask; IPv6 a prefix).
fn granularity(s: &str) -> Option<IpNet> {
    if let Ok(mask) = s.parse::<core::net::Ipv4Addr>() {
        let m = u32::from(mask);
        let prefix = m.leading_ones();
        if m.checked_shl(prefix).unwrap_or(0) != 0 {
            return None; // not contiguous
        }
        return Some(IpNet { addr: IpAddr::V4(mask), prefix: prefix as u8 });
    }
    let p: u8 = s.parse().ok()?;
    (p <= 128).then_some(IpNet { addr: IpAddr::V6(core::net::Ipv6Addr::UNSPECIFIED), prefix: p })
}

pub fn hex_vec(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

pub fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    hex_vec(s)?.try_into().ok()
}

/// `HH:MM-HH:MM` as minutes after midnight.
pub fn parse_window(text: &str) -> Option<(u16, u16)> {
    let minutes = |t: &str| -> Option<u16> {
        let (h, m) = t.split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && t.len() == 5).then_some(h * 60 + m)
    };
    let (a, b) = text.split_once('-')?;
    let (a, b) = (minutes(a)?, minutes(b)?);
    (a != b).then_some((a, b))
}

/// A MAC address of 5 or 6 colon-separated hex octets, and how many
/// there were (keepalived's `use_vmac` takes the VRID as a missing sixth).
fn parse_mac(text: &str) -> Option<([u8; 6], usize)> {
    let mut mac = [0u8; 6];
    let mut n = 0;
    for part in text.split(':') {
        if n == 6 || part.is_empty() || part.len() > 2 {
            return None;
        }
        mac[n] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n >= 5).then_some((mac, n))
}
