//! Which disk is the flash, when the board cannot say (`flash.device =
//! "auto"`: a PC's disk may be `/dev/sda`, `/dev/nvme0n1` or `/dev/vda`):
//! the disk whose GPT has a partition named `config` (the kernel reports
//! GPT partition names as `PARTNAME=` in each partition's uevent). Disks
//! appear as their drivers probe them, so the search waits a little.

use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The board's word for "find it".
pub const AUTO: &str = "auto";

/// From `(partition, parent disk, uevent text)` of every block partition:
/// the disks that have a partition named `name`, sorted.
pub fn disks_with(parts: &[(String, String, String)], name: &str) -> Vec<String> {
    let mut out: Vec<String> = parts
        .iter()
        .filter(|(_, _, uevent)| uevent.lines().any(|l| l.strip_prefix("PARTNAME=") == Some(name)))
        .map(|(_, disk, _)| format!("/dev/{disk}"))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every partition the kernel knows: (name, its disk, its uevent).
fn partitions() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/sys/class/block") else { return out };
    for e in dir.flatten() {
        let path = e.path();
        let Ok(uevent) = std::fs::read_to_string(path.join("uevent")) else { continue };
        if !uevent.lines().any(|l| l == "DEVTYPE=partition") {
            continue;
        }
        // /sys/class/block/sda1 -> .../block/sda/sda1: the parent is the disk.
        let disk = std::fs::canonicalize(&path)
            .ok()
            .and_then(|p| p.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()));
        if let Some(disk) = disk {
            out.push((e.file_name().to_string_lossy().into_owned(), disk, uevent));
        }
    }
    out
}

/// The device node of the partition named `name` on the disk `disk`
/// (`/dev/vda` → `/dev/vda3`), as the kernel lists it.
pub fn partition_device(disk: &str, name: &str) -> Option<std::path::PathBuf> {
    let disk = disk.strip_prefix("/dev/").unwrap_or(disk);
    partitions().into_iter().find_map(|(part, parent, uevent)| {
        (parent == disk && uevent.lines().any(|l| l.strip_prefix("PARTNAME=") == Some(name)))
            .then(|| std::path::PathBuf::from(format!("/dev/{part}")))
    })
}

/// Resolves an `auto` flash device in place; waits up to `patience` for
/// the disk to appear. Leaves a named device as it is.
pub fn resolve(board: &mut vigil_board::Runtime, patience: Duration) {
    let Some(flash) = board.flash.as_mut() else { return };
    if flash.device != AUTO {
        return;
    }
    let start = Instant::now();
    loop {
        let found = disks_with(&partitions(), vigil_board::part::CONFIG);
        match found.as_slice() {
            [one] => {
                info!(
                    "flash: {one} (the disk with a partition named \"config\"), found in {} ms",
                    start.elapsed().as_millis()
                );
                flash.device = one.clone();
                return;
            }
            [first, ..] => {
                warn!(
                    "flash: {} disks have a partition named \"config\" ({}): using {first}; remove the others' to choose",
                    found.len(),
                    found.join(", ")
                );
                flash.device = first.clone();
                return;
            }
            [] if start.elapsed() >= patience => {
                warn!(
                    "flash: no disk has a partition named \"config\" after {} s: no flash (the embedded config runs; commits cannot be saved)",
                    patience.as_secs()
                );
                board.flash = None;
                return;
            }
            [] => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disk_with_a_config_partition_is_found() {
        let p = |part: &str, disk: &str, name: &str| {
            (
                part.to_string(),
                disk.to_string(),
                format!("MAJOR=259\nMINOR=1\nDEVNAME={part}\nDEVTYPE=partition\nPARTN=1\nPARTNAME={name}\n"),
            )
        };
        let parts = vec![
            p("sda1", "sda", "EFI System"),
            p("nvme0n1p1", "nvme0n1", "config"),
            p("nvme0n1p4", "nvme0n1", "esp"),
            p("sdb1", "sdb", "configuration"),
        ];
        assert_eq!(disks_with(&parts, "config"), ["/dev/nvme0n1"]);
        assert_eq!(disks_with(&parts, "nothing"), Vec::<String>::new());
        let two = [parts.clone(), vec![p("vda1", "vda", "config")]].concat();
        assert_eq!(disks_with(&two, "config"), ["/dev/nvme0n1", "/dev/vda"]);
    }
}
