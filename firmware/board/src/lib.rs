//! Board definitions.
//!
//! A board is a data file (`board/<name>.toml`) that names everything about a
//! piece of hardware (or a QEMU machine) that vigil needs: the kernel package it
//! boots, the kernel modules to load, the console, the NICs, the watchdog and
//! the flash layout. The image tool reads the full [`Board`]; the firmware gets
//! the [`Runtime`] subset, resolved and encoded into the initramfs, so it needs
//! no TOML parser and no module dependency logic of its own.

mod runtime;
mod size;

pub use runtime::{ModuleLoad, OnDemand, RUNTIME_PATH, Runtime, RuntimeError};
pub use size::Size;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// CPU architecture of a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The Rust target the firmware is built for on this architecture.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-musl",
            Arch::Aarch64 => "aarch64-unknown-linux-musl",
        }
    }

    /// Debian's name for the architecture (`dpkg --print-architecture`).
    pub fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        })
    }
}

/// A whole board definition, as written in `board/<name>.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub arch: Arch,
    /// Hostname set at boot until the config names one.
    pub hostname: String,
    pub kernel: Kernel,
    pub modules: Modules,
    pub console: Console,
    #[serde(rename = "nic", default)]
    pub nics: Vec<Nic>,
    pub watchdog: Option<Watchdog>,
    pub flash: Option<Flash>,
    /// Firmware the disk image carries outside its partitions, when the
    /// board's boot ROM starts a bootloader from fixed sectors.
    pub bootloader: Option<Bootloader>,
    /// How to run this board in QEMU; absent on real hardware.
    pub qemu: Option<Qemu>,
}

/// A bootloader from a pinned Debian package, written raw into the disk
/// image where the board's boot ROM looks for it (Rockchip: `idbloader.img`
/// at sector 64, `u-boot.itb` at sector 16384), outside every partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bootloader {
    /// Debian package, e.g. `u-boot-rockchip`.
    pub package: String,
    pub version: String,
    /// SHA-256 of the `.deb` file.
    pub sha256: String,
    #[serde(rename = "raw", default)]
    pub raw: Vec<Raw>,
}

/// One file of the bootloader package and where on the disk it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// Path inside the package, e.g. `usr/lib/u-boot/rock-pi-e-rk3328/idbloader.img`.
    pub file: String,
    pub offset: Size,
}

/// The kernel, as a Debian package pinned by version and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    /// Debian package name, e.g. `linux-image-6.1.0-56-amd64`.
    pub package: String,
    /// Debian package version, e.g. `6.1.192-2`.
    pub version: String,
    /// SHA-256 of the `.deb` file.
    pub sha256: String,
    /// `uname -r` of the kernel: the directory under `/lib/modules`.
    pub release: String,
    /// Path of the kernel image inside the package, e.g. `boot/vmlinuz-...`.
    pub image: String,
    /// Kernel command line.
    pub cmdline: String,
    /// The board's device tree, a path inside the kernel package
    /// (`usr/lib/linux-image-.../rockchip/rk3328-rock-pi-e.dtb`): it goes
    /// into each firmware slot beside the kernel it was built with, and the
    /// bootloader hands it to the kernel. None: the firmware provides one
    /// (ACPI on a PC, QEMU's own on `virt`).
    #[serde(default)]
    pub devicetree: Option<String>,
}

impl Kernel {
    /// File name of the package as `apt-get download` writes it.
    pub fn deb_file_name(&self, arch: Arch) -> String {
        deb_file_name(&self.package, &self.version, arch)
    }
}

/// File name of a package as `apt-get download` writes it.
pub fn deb_file_name(package: &str, version: &str, arch: Arch) -> String {
    // apt escapes ':' in versions as %3a.
    format!("{package}_{}_{}.deb", version.replace(':', "%3a"), arch.debian())
}

/// Kernel modules to load at boot.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Modules {
    /// Modules the board needs; their dependencies are resolved by the image tool.
    pub load: Vec<String>,
    /// Of `load`, what the first VRRP advert needs (the NIC drivers, and the
    /// flash driver to read the config): loaded first; the rest load once
    /// the VRRP daemon has started. None named: all load first.
    #[serde(default)]
    pub first: Vec<String>,
    /// Which module provides an alias when several do (e.g. `crc32c =
    /// "crc32c_generic"`: the generic one works on every CPU).
    #[serde(default)]
    pub prefer: BTreeMap<String, String>,
    /// Module parameters, e.g. `softdog = "soft_margin=10"`.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Modules put in the image but loaded only when needed (e.g. the IPVS
    /// schedulers a config names), with their dependencies.
    #[serde(default)]
    pub on_demand: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Console {
    /// Kernel device name, e.g. `ttyS0`, `ttyAMA0`.
    pub device: String,
    #[serde(default = "default_baud")]
    pub baud: u32,
}

fn default_baud() -> u32 {
    115_200
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    /// Kernel interface name, e.g. `eth0`.
    pub name: String,
    /// Free text shown to operators (`lan`, `wan`, `sync`).
    #[serde(default)]
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Watchdog {
    pub device: String,
    /// Seconds without a ping before the board resets.
    #[serde(default = "default_watchdog_timeout")]
    pub timeout_s: u32,
}

fn default_watchdog_timeout() -> u32 {
    30
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Flash {
    /// Block device, e.g. `/dev/vda`, `/dev/mmcblk0`.
    pub device: String,
    pub size: Size,
    #[serde(rename = "partition", default)]
    pub partitions: Vec<Partition>,
}

/// What a GPT takes at each end of a disk with 512-byte sectors: the
/// protective MBR (first end only), a header and 128 entries of 128 bytes.
pub const GPT_BYTES: u64 = 34 * 512;

/// The partitions a disk image has, by name: what each holds.
pub mod part {
    /// The config ring (vigil's own format, at the same offset as before the
    /// disk had a partition table).
    pub const CONFIG: &str = "config";
    /// Firmware slots: a FAT file system with the kernel, the initramfs and
    /// the slot's manifest.
    pub const SLOT_A: &str = "slot-a";
    pub const SLOT_B: &str = "slot-b";
    /// The EFI system partition: the bootloader, its script and environment.
    pub const ESP: &str = "esp";
    /// The updater's state.
    pub const STATE: &str = "state";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    pub name: String,
    pub offset: Size,
    pub size: Size,
}

/// How a kernel image is handed to QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelBoot {
    /// The image as packaged (bzImage on x86_64, Image on arm64).
    Image,
    /// x86_64 only: the uncompressed vmlinux, extracted from the bzImage and
    /// started through its PVH entry point (2x faster under TCG).
    Pvh,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qemu {
    pub binary: String,
    pub machine: String,
    pub cpu: String,
    #[serde(default = "default_memory")]
    pub memory_mib: u32,
    pub boot: KernelBoot,
    pub nic_model: String,
    /// QEMU watchdog device (`i6300esb`), if the board has one.
    pub watchdog: Option<String>,
    /// How the flash disk is attached: `virtio` (default), `nvme` or `ahci`
    /// (SATA on q35), to test the drivers a real machine needs.
    #[serde(default)]
    pub disk: DiskBus,
    /// The UEFI firmware that boots the disk image (`vigil-image disk`):
    /// Debian's OVMF / AAVMF, code read-only and a copy of the variables
    /// per node.
    #[serde(default)]
    pub uefi: Option<Uefi>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DiskBus {
    #[default]
    Virtio,
    Nvme,
    Ahci,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Uefi {
    /// The firmware's code: a pflash image (`/usr/share/OVMF/OVMF_CODE_4M.fd`)
    /// when `vars` is set, else a program QEMU starts with `-bios` (U-Boot's
    /// `qemu_arm64` build, acting as UEFI).
    pub code: String,
    /// The variable store a pflash firmware starts from, copied for each node.
    #[serde(default)]
    pub vars: Option<String>,
    /// The Debian package that has them.
    pub package: String,
}

fn default_memory() -> u32 {
    256
}

/// One problem found in a board definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("board {board}: {field}: {message}")]
pub struct BoardError {
    pub board: String,
    pub field: String,
    pub message: String,
}

impl Board {
    /// Checks everything that can be checked without the kernel package.
    /// Returns every problem, not just the first.
    pub fn validate(&self) -> Result<(), Vec<BoardError>> {
        let mut errs = Vec::new();
        let mut err = |field: &str, message: String| {
            errs.push(BoardError { board: self.name.clone(), field: field.to_string(), message })
        };
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            err("name", format!("{:?} must be non-empty letters, digits, '-' or '_'", self.name));
        }
        if let Err(m) = check_hostname(&self.hostname) {
            err("hostname", m);
        }
        let k = &self.kernel;
        if k.sha256.len() != 64 || !k.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            err("kernel.sha256", format!("{:?} is not 64 hex digits", k.sha256));
        }
        for (field, v) in [
            ("kernel.package", &k.package),
            ("kernel.version", &k.version),
            ("kernel.release", &k.release),
            ("kernel.image", &k.image),
        ] {
            if v.is_empty() {
                err(field, "must not be empty".into());
            }
        }
        if let Some(dt) = &k.devicetree
            && (dt.is_empty() || dt.starts_with('/') || dt.contains(".."))
        {
            err("kernel.devicetree", format!("{dt:?} must be a path inside the kernel package"));
        }
        if self.modules.load.iter().chain(&self.modules.on_demand).any(|m| m.is_empty() || m.contains('/')) {
            err("modules.load", "module names must be non-empty and contain no '/'".into());
        }
        for m in &self.modules.first {
            if !self.modules.load.contains(m) {
                err("modules.first", format!("{m:?} is not in modules.load"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, nic) in self.nics.iter().enumerate() {
            if nic.name.is_empty() || nic.name.len() > 15 || nic.name.contains(['/', ' ', ':']) {
                err(
                    &format!("nic[{i}].name"),
                    format!("{:?} is not a valid interface name (1-15 chars, no '/', ':' or space)", nic.name),
                );
            }
            if !seen.insert(&nic.name) {
                err(&format!("nic[{i}].name"), format!("{:?} is listed twice", nic.name));
            }
        }
        if let Some(w) = &self.watchdog
            && (w.timeout_s == 0 || w.timeout_s > 600)
        {
            err("watchdog.timeout_s", format!("{} is outside 1..=600", w.timeout_s));
        }
        if let Some(f) = &self.flash {
            let mut parts: Vec<&Partition> = f.partitions.iter().collect();
            parts.sort_by_key(|p| p.offset.0);
            for p in &parts {
                let field = format!("flash.partition {}", p.name);
                if !p.offset.0.is_multiple_of(512) || !p.size.0.is_multiple_of(512) || p.size.0 == 0 {
                    err(&field, "offset and size must be non-zero multiples of 512".into());
                }
                if p.offset.0.saturating_add(p.size.0) > f.size.0 {
                    err(&field, format!("ends at {} beyond the flash size {}", Size(p.offset.0 + p.size.0), f.size));
                } else if p.offset.0 < GPT_BYTES || p.offset.0 + p.size.0 > f.size.0.saturating_sub(GPT_BYTES) {
                    err(
                        &field,
                        format!(
                            "must leave the first and last {GPT_BYTES} bytes of the flash to the partition table (GPT)"
                        ),
                    );
                }
            }
            for w in parts.windows(2) {
                if w[0].offset.0 + w[0].size.0 > w[1].offset.0 {
                    err("flash.partition", format!("{} overlaps {}", w[0].name, w[1].name));
                }
            }
            if let Some(bl) = &self.bootloader {
                // Where each file ends is known only from the package: the
                // image tool checks that; here, where each one starts.
                for (i, r) in bl.raw.iter().enumerate() {
                    let field = format!("bootloader.raw[{i}].offset");
                    if r.offset.0 < GPT_BYTES || !r.offset.0.is_multiple_of(512) {
                        err(
                            &field,
                            format!(
                                "{} must be a multiple of 512 after the partition table ({GPT_BYTES} bytes)",
                                r.offset
                            ),
                        );
                    }
                    if let Some(p) =
                        parts.iter().find(|p| r.offset.0 >= p.offset.0 && r.offset.0 < p.offset.0 + p.size.0)
                    {
                        err(&field, format!("{} is inside partition {}", r.offset, p.name));
                    }
                }
            }
        } else if self.bootloader.is_some() {
            err("bootloader", "a board with a bootloader needs a [flash] to put it on".into());
        }
        if let Some(bl) = &self.bootloader
            && (bl.sha256.len() != 64 || !bl.sha256.chars().all(|c| c.is_ascii_hexdigit()))
        {
            err("bootloader.sha256", format!("{:?} is not 64 hex digits", bl.sha256));
        }
        if let Some(q) = &self.qemu
            && q.boot == KernelBoot::Pvh
            && self.arch != Arch::X86_64
        {
            err("qemu.boot", "pvh boot exists only on x86_64".into());
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }
}

/// RFC 1123 host name label rules (one label; vigil does not set a domain).
pub fn check_hostname(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid host name (1-63 letters, digits or '-', not starting or ending with '-')"))
    }
}

#[cfg(test)]
mod tests;
