//! The kernel filesystems PID 1 mounts before anything else.

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;
use tracing::{debug, error, info};

struct Mount {
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: MsFlags,
    data: &'static str,
}

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV).union(MsFlags::MS_NOEXEC);

/// In order: /dev/pts needs /dev.
const MOUNTS: &[Mount] = &[
    Mount { source: "proc", target: "/proc", fstype: "proc", flags: NOSUID_NODEV_NOEXEC, data: "" },
    Mount { source: "sysfs", target: "/sys", fstype: "sysfs", flags: NOSUID_NODEV_NOEXEC, data: "" },
    // CONFIG_DEVTMPFS_MOUNT is off in Debian's kernel: we mount it ourselves.
    Mount { source: "devtmpfs", target: "/dev", fstype: "devtmpfs", flags: MsFlags::MS_NOSUID, data: "mode=0755" },
    Mount {
        source: "devpts",
        target: "/dev/pts",
        fstype: "devpts",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        data: "mode=0620,ptmxmode=0666",
    },
    Mount { source: "tmpfs", target: "/run", fstype: "tmpfs", flags: NOSUID_NODEV_NOEXEC, data: "mode=0755,size=16m" },
    Mount {
        source: "tmpfs",
        target: "/tmp",
        fstype: "tmpfs",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        data: "mode=1777,size=32m",
    },
];

/// Mounts each filesystem; a failure is logged by mount point and the rest
/// carry on. Returns the number of failures.
pub fn mount_all() -> usize {
    let mut failed = 0;
    let started = std::time::Instant::now();
    for m in MOUNTS {
        match nix::unistd::mkdir(m.target, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                error!("mount {}: cannot create the mount point: {e}", m.target);
                failed += 1;
                continue;
            }
        }
        let data = (!m.data.is_empty()).then_some(m.data);
        match mount(Some(m.source), m.target, Some(m.fstype), m.flags, data) {
            Ok(()) => debug!("mounted {} on {}", m.fstype, m.target),
            // Already mounted (a kernel with DEVTMPFS_MOUNT, or a restart).
            Err(Errno::EBUSY) => debug!("{} already mounted", m.target),
            Err(e) => {
                error!("mount {} ({}) failed: {e}", m.target, m.fstype);
                failed += 1;
            }
        }
    }
    info!("mounts: {} of {} in {} us", MOUNTS.len() - failed, MOUNTS.len(), started.elapsed().as_micros());
    failed
}
