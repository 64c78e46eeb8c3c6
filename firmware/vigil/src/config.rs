//! The config at boot and on commit: the store on the board's flash (or a
//! file in host mode), the embedded default, and applying a config live.

use std::path::{Path, PathBuf};
use tracing::{error, info, warn};
use vigil_board::Runtime;
use vigil_config::store::{FileFlash, Store};
use vigil_config::{Config, blob};

/// Slot size in the config partition: one blob of the largest config.
const SLOT: u64 = (blob::HEADER_LEN + blob::MAX_BODY) as u64;

const DEFAULT_TEXT: &str = include_str!("default.conf");

/// The embedded default config (checked by a unit test to import cleanly).
pub fn default_config() -> Config {
    match vigil_config::keepalived::import_str("default.conf", DEFAULT_TEXT) {
        Ok(i) => i.config,
        Err(_) => Config::default(),
    }
}

/// Where the config lives.
pub enum Location {
    /// The board's config partition.
    Partition { device: PathBuf, offset: u64, size: u64 },
    /// A file (host mode), 8 slots.
    File(PathBuf),
    /// A keepalived.conf read at start (host mode; commits are not saved).
    Conf(PathBuf),
}

impl Location {
    pub fn for_board(board: &Runtime) -> Option<Location> {
        let flash = board.flash.as_ref()?;
        let p = flash.partitions.iter().find(|p| p.name == "config")?;
        Some(Location::Partition { device: PathBuf::from(&flash.device), offset: p.offset.0, size: p.size.0 })
    }

    fn open(&self) -> Result<Store<FileFlash>, String> {
        let (path, offset, size): (&Path, u64, u64) = match self {
            Location::Partition { device, offset, size } => (device, *offset, *size),
            Location::File(p) => (p, 0, 8 * SLOT),
            Location::Conf(p) => return Err(format!("{} is a text config, not flash", p.display())),
        };
        let flash = FileFlash::open(path, offset, size).map_err(|e| format!("{}: {e}", path.display()))?;
        // The ring is read a header (32 bytes) per slot, 4 MiB apart: the
        // kernel's readahead would read 128 KiB or more behind each one
        // (a third of the config step at boot in a TCG guest).
        if let Err(e) = nix::fcntl::posix_fadvise(flash.file(), 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_RANDOM)
        {
            tracing::debug!("config: posix_fadvise: {e}");
        }
        Store::new(flash, SLOT).map_err(|e| e.to_string())
    }

    pub fn describe(&self) -> String {
        match self {
            Location::Partition { device, offset, size } => {
                format!("{} at {} MiB, {} MiB", device.display(), offset >> 20, size >> 20)
            }
            Location::File(p) | Location::Conf(p) => p.display().to_string(),
        }
    }
}

/// The store, if there is flash to keep the config on.
pub struct Flash {
    pub store: Option<Store<FileFlash>>,
    pub location: String,
    /// The running config came from flash (not the embedded default).
    pub from_flash: bool,
}

/// Loads the newest valid config, saying where it came from.
pub fn load(location: Option<Location>) -> (Config, Flash) {
    let Some(loc) = location else {
        warn!("config: no flash on this board: running the embedded default; commits cannot be saved");
        return (default_config(), Flash { store: None, location: "none".into(), from_flash: false });
    };
    let describe = loc.describe();
    if let Location::Conf(path) = &loc {
        return (import_conf(path), Flash { store: None, location: describe, from_flash: false });
    }
    let mut store = match loc.open() {
        Ok(s) => s,
        Err(e) => {
            error!("config: cannot open the flash ({e}): running the embedded default; commits cannot be saved");
            return (default_config(), Flash { store: None, location: describe, from_flash: false });
        }
    };
    let loaded = store.load(default_config());
    for s in &loaded.skipped {
        warn!("config: skipped {s}");
    }
    match (loaded.generation, loaded.slot) {
        (Some(g), Some(slot)) => info!("config: generation {g} from slot {slot} ({describe})"),
        _ => info!("config: nothing valid on flash ({describe}): using the embedded default"),
    }
    let from_flash = loaded.generation.is_some();
    (loaded.config, Flash { store: Some(store), location: describe, from_flash })
}

/// Host mode's `--config FILE`: a keepalived.conf. Errors end the process
/// (exit 2) after saying what and where; unsupported keywords are warnings.
fn import_conf(path: &Path) -> Config {
    let fail = |m: String| -> ! {
        error!("{m}");
        std::process::exit(2)
    };
    let name = path.to_str().unwrap_or_default();
    // keepalived's config id (for `@ID` lines) is the host name.
    let host = hostname();
    let imported = vigil_config::keepalived::import_file_as(name, &host).unwrap_or_else(|e| fail(e.to_string()));
    for d in &imported.diagnostics {
        match d.severity {
            vigil_config::keepalived::Severity::Error => error!("{d}"),
            _ => warn!("{d}"),
        }
    }
    if imported.errors().next().is_some() {
        fail(format!("{name}: errors above; not started"));
    }
    let problems = imported.problems();
    if !problems.is_empty() {
        for d in problems {
            error!("{d}");
        }
        fail(format!("{name}: invalid; not started"));
    }
    info!("config: {name}");
    imported.config
}

/// Applies what can be applied live: the hostname (when vigil owns the
/// system: PID 1, not host mode, where the hostname is the host's and a
/// network namespace does not isolate it) and the interfaces (`previous`
/// says what vigil itself set up before). VRRP and IPVS attach here as they
/// arrive.
pub fn apply(previous: &Config, config: &Config, owns_system: bool) -> Result<(), String> {
    let mut problems = Vec::new();
    let want = config.global.hostname.as_str();
    let have = hostname();
    if owns_system && want != have {
        match nix::unistd::sethostname(want) {
            Ok(()) => info!("hostname set to {want}"),
            Err(e) => problems.push(format!("sethostname({want}): {e}")),
        }
    }
    problems.extend(crate::interfaces::apply(previous, config));
    // The syslog server, with the name the lines carry: the configured
    // hostname, else the router_id, else the system's.
    let g = &config.global;
    let name = [g.hostname.as_str(), g.router_id.as_str()]
        .into_iter()
        .find(|n| !n.is_empty())
        .map_or_else(hostname, str::to_string);
    crate::syslog::configure(g.syslog.map(|s| crate::syslog::Target { addr: s.addr, tcp: s.tcp, hostname: name }));
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// The host's name as the kernel has it (empty if it cannot be read).
pub fn hostname() -> String {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_default_imports_cleanly_and_validates() {
        let i = vigil_config::keepalived::import_str("default.conf", super::DEFAULT_TEXT).unwrap();
        assert!(i.diagnostics.is_empty(), "{:?}", i.diagnostics);
        i.config.validate().unwrap();
        assert_eq!(i.config.global.hostname.as_str(), "vigil");
    }
}
