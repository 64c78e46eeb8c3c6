//! Firmware updates on the device. The updater (`vigil child updater`, a
//! supervised child with no capabilities, as user nobody) fetches a signed
//! bundle from a URL or a file, checks it before and while writing it into
//! the inactive slot, and asks PID 1 to put the slot on trial. PID 1 holds
//! the keys, opens for it only the inactive slot and the state partition,
//! checks the signature and the slot's hash itself before it touches the
//! boot environment (a subverted updater can spoil the inactive slot, never
//! boot it), then reboots into the trial; the health gate keeps it or the
//! bootloader rolls it back, and the updater records which.
//!
//! The decisions are `vigil-update`'s (sans-IO); this is the I/O.

pub mod child;
pub mod fetch;
mod job;
mod kit;
pub mod reboot;
mod store;

use std::os::fd::OwnedFd;
use vigil_bootenv::ab::{How, Slot};
use vigil_update::release::{KEYS_PATH, RELEASE_PATH, Release};

pub use crate::ipc::update::{Booted, Command, Facts, Report};

pub fn slot_index(s: Slot) -> u8 {
    u8::from(s == Slot::B)
}

pub fn slot_of(i: u8) -> Slot {
    if i == 0 { Slot::A } else { Slot::B }
}

/// What this firmware is, from its own initramfs.
pub fn release() -> Result<Release, String> {
    let text = std::fs::read_to_string(RELEASE_PATH).map_err(|e| format!("{RELEASE_PATH}: {e}"))?;
    Release::parse(&text).map_err(|e| format!("{RELEASE_PATH}: {e}"))
}

pub fn keys() -> Vec<String> {
    std::fs::read_to_string(KEYS_PATH).map(|t| vigil_update::release::parse_keys(&t)).unwrap_or_default()
}

/// A partition of the flash disk, by its GPT name.
#[derive(Debug, Clone)]
pub struct Part {
    pub device: std::path::PathBuf,
    pub size: u64,
}

/// The flash's partitions the updater needs, or why they are not there.
pub fn partitions(board: Option<&vigil_board::Runtime>, slot: Slot) -> Result<(Part, Part), String> {
    let flash = board.and_then(|b| b.flash.as_ref()).ok_or("this board has no flash")?;
    let find = |name: &str| -> Result<Part, String> {
        let p = flash.partitions.iter().find(|p| p.name == name).ok_or(format!("the board has no {name} partition"))?;
        let device = crate::disk::partition_device(&flash.device, name)
            .ok_or(format!("{}: the kernel shows no partition named {name}", flash.device))?;
        Ok(Part { device, size: p.size.0 })
    };
    let slot_name = if slot == Slot::A { vigil_board::part::SLOT_A } else { vigil_board::part::SLOT_B };
    Ok((find(slot_name)?, find(vigil_board::part::STATE)?))
}

/// The updater's descriptors: the inactive slot and the state partition,
/// opened for reading and writing, nothing else.
pub fn grant(slot: Part, state: Part) -> crate::ipc::Grant {
    std::sync::Arc::new(move || {
        let open = |p: &Part| -> Result<OwnedFd, String> {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p.device)
                .map(OwnedFd::from)
                .map_err(|e| format!("opening {} for the updater: {e}", p.device.display()))
        };
        Ok(vec![open(&slot)?, open(&state)?])
    })
}

/// What the updater is told at its start.
pub fn facts(board: Option<&vigil_board::Runtime>, slots: &crate::slots::Slots, clock_synced: bool) -> Facts {
    let booted = slots.booted();
    let target = match booted {
        None => Err("booted without vigil's bootloader (no A/B slots): updates need a disk image".to_string()),
        Some(b) => partitions(board, b.slot.other()).map(|(p, _)| (slot_index(b.slot.other()), p.size)),
    };
    Facts {
        board: board.map(|b| b.board.clone()).unwrap_or_default(),
        arch: std::env::consts::ARCH.to_string(),
        release: release().ok().map(|r| (r.build, r.version)),
        keys: keys(),
        target,
        booted: booted.map(|b| {
            let how = match b.how {
                How::Good => Booted::Good,
                How::Trial => Booted::Trial,
                How::Rollback => Booted::Rollback,
            };
            (slot_index(b.slot), how)
        }),
        failed: slots.failed().map(|(s, why)| (slot_index(s), why)),
        kept: slots.kept(),
        clock_synced,
    }
}

/// What PID 1 checks before it puts a slot on trial, whatever the updater
/// said: the manifest's signature with the keys PID 1 trusts, that the
/// device admits it, and the slot's bytes against the payload's SHA-256.
/// Blocking (it reads the whole payload): run it off the event loop.
pub fn check_written(
    head: &[u8],
    slot: &Part,
    device: &vigil_update::Device,
    keys: &[String],
) -> Result<vigil_update::Manifest, String> {
    use sha2::Digest;
    use std::io::Read;
    let header = vigil_update::Header::parse(head).map_err(|e| e.to_string())?;
    let (mb, sb) = header.parts(head).ok_or("the bundle's head is cut short")?;
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    vigil_update::verify(mb, sb, &keys).map_err(|e| e.to_string())?;
    let m = vigil_update::Manifest::decode(mb).map_err(|e| e.to_string())?;
    m.admit(device).map_err(|e| e.to_string())?;
    let f = std::fs::File::open(&slot.device).map_err(|e| format!("{}: {e}", slot.device.display()))?;
    let mut r = f.take(m.payload_size);
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).map_err(|e| format!("reading {} back: {e}", slot.device.display()))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
    }
    if total != m.payload_size || h.finalize()[..] != m.payload_sha256[..] {
        return Err(format!(
            "slot {} does not hold build {}'s payload (its SHA-256 differs)",
            slot.device.display(),
            m.build
        ));
    }
    Ok(m)
}

/// `update install SOURCE`: hands the updater the URL, or the file opened
/// here (the updater may not open files itself).
pub async fn install(
    tx: Option<&tokio::sync::mpsc::Sender<crate::supervise::Control>>,
    source: &str,
) -> Result<String, String> {
    let tx = tx.ok_or("updates are not possible here: show update says why")?;
    let (file, fds) = if source.starts_with('/') {
        let f = std::fs::File::open(source).map_err(|e| format!("{source}: {e}"))?;
        (true, vec![OwnedFd::from(f)])
    } else {
        fetch::Url::parse(source)?;
        (false, Vec::new())
    };
    let down = crate::ipc::Down::Update(Command::Install { source: source.to_string(), file });
    tx.send(crate::supervise::Control::Message { down, fds, sticky: false })
        .await
        .map_err(|_| "the updater's supervisor is gone".to_string())?;
    Ok(format!("installing {source}: show update follows it"))
}
