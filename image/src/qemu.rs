//! The QEMU command line for one node of a board.

use crate::build::Image;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How QEMU executes guest code. TCG is the default: on this kind of machine
/// `/dev/kvm` opens but guests hang under it (see `vigil-image probe-kvm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

impl Accel {
    /// `VIGIL_ACCEL=kvm` opts in to KVM; anything else is TCG.
    pub fn from_env() -> Accel {
        match std::env::var("VIGIL_ACCEL").as_deref() {
            Ok("kvm") => Accel::Kvm,
            _ => Accel::Tcg,
        }
    }
}

/// Where a node with `user_net` reaches the host's loopback: QEMU's user
/// network maps its gateway address to the host's 127.0.0.1.
pub const HOST_ADDR: &str = "10.0.2.2";

/// One node's run-time settings.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// 1-based; also the last byte of the node's MAC address.
    pub index: u8,
    /// Holds the node's sockets and logs.
    pub dir: PathBuf,
    /// The switch's socket, if the node has a network.
    pub hub: Option<PathBuf>,
    /// A raw disk image attached as the board's flash (`/dev/vda`).
    pub flash: Option<PathBuf>,
    /// A NIC of its own (after the switch's, if any: `eth1`, else `eth0`)
    /// on QEMU's user network, where `10.0.2.2:PORT` is the host's
    /// `127.0.0.1:PORT`: how a guest fetches from a web server the test runs
    /// on loopback (nginx).
    pub user_net: bool,
    /// A second raw drive, read-only, after the flash (a USB stick holding
    /// an update bundle): `/dev/vdb` (virtio).
    pub stick: Option<PathBuf>,
    /// Boot the flash (a `vigil-image disk` image) through the board's UEFI
    /// firmware and its bootloader instead of handing QEMU the kernel.
    pub boot_disk: bool,
    /// Another firmware than the board's `qemu.uefi` for a disk boot (to
    /// compare them).
    pub uefi: Option<vigil_board::Uefi>,
    /// Appended to the board's kernel command line.
    pub extra_cmdline: String,
    /// Exit QEMU instead of rebooting the guest (a reboot ends the run).
    pub no_reboot: bool,
    pub accel: Accel,
    /// `-rtc base=...`: the guest's clock at start (e.g. a wrong one).
    pub rtc_base: Option<String>,
    /// Byte offsets on the flash where every write fails with an I/O error
    /// (QEMU's blkdebug driver: a worn or full part of the flash); reads
    /// there still work.
    pub flash_write_errors: Vec<u64>,
}

impl NodeSpec {
    pub fn new(index: u8, dir: impl Into<PathBuf>) -> NodeSpec {
        NodeSpec {
            index,
            dir: dir.into(),
            hub: None,
            flash: None,
            stick: None,
            user_net: false,
            boot_disk: false,
            uefi: None,
            extra_cmdline: String::new(),
            no_reboot: true,
            rtc_base: None,
            flash_write_errors: Vec::new(),
            accel: Accel::from_env(),
        }
    }

    pub fn mac(&self) -> [u8; 6] {
        [0x52, 0x54, 0x00, 0x00, 0x00, self.index]
    }
    pub fn console_socket(&self) -> PathBuf {
        self.dir.join("console.sock")
    }
    pub fn qmp_socket(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }
    /// The node's end of the Ethernet link (the switch sends here).
    pub fn net_socket(&self) -> PathBuf {
        self.dir.join("net.sock")
    }
}

pub fn mac_string(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().with_context(|| format!("{}: not UTF-8", p.display()))
}

/// Builds the QEMU command for a node. The console is a Unix socket that
/// QEMU serves and waits on (`wait=on`), so no early output is lost.
pub fn command(img: &Image, spec: &NodeSpec) -> Result<Command> {
    let q = img.board.qemu.as_ref().with_context(|| format!("board {} has no [qemu] section", img.board.name))?;
    let mut c = Command::new(&q.binary);
    let mut cmdline = img.cmdline.clone();
    if !spec.extra_cmdline.is_empty() {
        cmdline.push(' ');
        cmdline.push_str(&spec.extra_cmdline);
    }
    let accel = match spec.accel {
        Accel::Tcg => "tcg",
        Accel::Kvm => "kvm",
    };
    c.args(["-machine", &q.machine, "-accel", accel, "-cpu", &q.cpu, "-smp", "1"])
        .args(["-m", &q.memory_mib.to_string()])
        .args(["-nodefaults", "-display", "none", "-monitor", "none"]);
    if spec.boot_disk {
        let uefi = spec
            .uefi
            .as_ref()
            .or(q.uefi.as_ref())
            .with_context(|| format!("board {}: no qemu.uefi to boot a disk with", img.board.name))?;
        if spec.flash.is_none() {
            anyhow::bail!("a disk boot needs the disk: set the node's flash");
        }
        if !Path::new(&uefi.code).is_file() {
            anyhow::bail!("{} is missing: install {}", uefi.code, uefi.package);
        }
        match &uefi.vars {
            Some(template) => {
                // The variables are the node's own: the firmware writes boot entries there.
                let vars = spec.dir.join("uefi-vars.fd");
                if !vars.exists() {
                    std::fs::copy(template, &vars)
                        .with_context(|| format!("copying {template} (install {})", uefi.package))?;
                }
                c.arg("-drive")
                    .arg(format!("if=pflash,format=raw,unit=0,readonly=on,file={}", uefi.code))
                    .arg("-drive")
                    .arg(format!("if=pflash,format=raw,unit=1,file={}", path_str(&vars)?));
            }
            None => {
                c.arg("-bios").arg(&uefi.code);
            }
        }
    } else {
        c.arg("-kernel").arg(&img.kernel).arg("-initrd").arg(&img.initrd).args(["-append", &cmdline]);
    }
    c.arg("-chardev")
        .arg(format!("socket,id=con0,path={},server=on,wait=on", path_str(&spec.console_socket())?))
        .args(["-serial", "chardev:con0"])
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", path_str(&spec.qmp_socket())?));
    if let Some(hub) = &spec.hub {
        c.arg("-netdev").arg(format!(
            "dgram,id=n0,local.type=unix,local.path={},remote.type=unix,remote.path={}",
            path_str(&spec.net_socket())?,
            path_str(hub)?
        ));
        c.arg("-device").arg(format!("{},netdev=n0,mac={}", q.nic_model, mac_string(spec.mac())));
    }
    if let Some(flash) = &spec.flash {
        let mut file = path_str(flash)?.to_string();
        let mut report = "";
        if !spec.flash_write_errors.is_empty() {
            // One blkdebug rule per offset; the guest is told of the error
            // (werror=report: QEMU's default stops the VM on ENOSPC).
            let rules: String = spec
                .flash_write_errors
                .iter()
                .map(|at| {
                    format!(
                        "[inject-error]\nevent = \"pwritev\"\niotype = \"write\"\nerrno = \"5\"\nsector = \"{}\"\n",
                        at / 512
                    )
                })
                .collect();
            let conf = spec.dir.join("flash-errors.conf");
            std::fs::write(&conf, rules).with_context(|| format!("writing {}", conf.display()))?;
            file = format!("blkdebug:{}:{file}", path_str(&conf)?);
            report = ",werror=report";
        }
        match q.disk {
            vigil_board::DiskBus::Virtio => {
                // Named "flash" on every bus (QMP's query-blockstats reports it so).
                c.arg("-drive").arg(format!("file={file},if=virtio,format=raw,id=flash{report}"));
            }
            vigil_board::DiskBus::Nvme => {
                c.arg("-drive").arg(format!("file={file},if=none,id=flash,format=raw{report}"));
                c.args(["-device", "nvme,drive=flash,serial=vigil0"]);
            }
            vigil_board::DiskBus::Ahci => {
                c.arg("-drive").arg(format!("file={file},if=none,id=flash,format=raw{report}"));
                c.args(["-device", "ide-hd,drive=flash,bus=ide.0"]);
            }
        }
    }
    if spec.user_net {
        c.arg("-netdev").arg("user,id=web,net=10.0.2.0/24");
        let mut mac = spec.mac();
        mac[4] = 1;
        c.arg("-device").arg(format!("{},netdev=web,mac={}", q.nic_model, mac_string(mac)));
    }
    if let Some(stick) = &spec.stick {
        c.arg("-drive").arg(format!("file={},if=virtio,format=raw,readonly=on,id=stick", path_str(stick)?));
    }
    if let Some(w) = &q.watchdog {
        c.args(["-device", w]);
    }
    if spec.no_reboot {
        c.arg("-no-reboot");
    }
    if let Some(base) = &spec.rtc_base {
        c.arg("-rtc").arg(format!("base={base}"));
    }
    Ok(c)
}
