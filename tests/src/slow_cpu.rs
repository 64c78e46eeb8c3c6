//! A slow CPU for a process tree: a cgroup whose CPU time is capped (a
//! share of one core), so that a test sees what a small appliance's CPU
//! (or QEMU's emulation) makes of work that a fast host does in a blink.
//! cgroup v2 (`cpu.max`) or v1 (`cpu.cfs_quota_us`), whichever the host
//! mounts; removed when dropped.

use std::path::PathBuf;

pub struct SlowCpu {
    dir: PathBuf,
    v2: bool,
}

impl SlowCpu {
    /// A cgroup `name` capped at `percent` of one core, or None when the
    /// host has no CPU controller to cap with (or no right to).
    pub fn new(name: &str, percent: u32) -> Option<SlowCpu> {
        let (period, quota) = (100_000u32, percent * 1000);
        let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers");
        if std::fs::read_to_string(v2).is_ok_and(|c| c.split_whitespace().any(|w| w == "cpu")) {
            let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+cpu");
            let dir = PathBuf::from("/sys/fs/cgroup").join(name);
            std::fs::create_dir_all(&dir).ok()?;
            std::fs::write(dir.join("cpu.max"), format!("{quota} {period}")).ok()?;
            return Some(SlowCpu { dir, v2: true });
        }
        let dir = PathBuf::from("/sys/fs/cgroup/cpu").join(name);
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::write(dir.join("cpu.cfs_period_us"), period.to_string()).ok()?;
        std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string()).ok()?;
        Some(SlowCpu { dir, v2: false })
    }

    /// Moves `pid` in (the processes it starts from now on are in too).
    pub fn add(&self, pid: u32) -> std::io::Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
    }
}

impl Drop for SlowCpu {
    fn drop(&mut self) {
        // A cgroup goes once it is empty: its processes back to the root.
        let root = if self.v2 { PathBuf::from("/sys/fs/cgroup") } else { PathBuf::from("/sys/fs/cgroup/cpu") };
        let procs = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        for p in procs.lines() {
            let _ = std::fs::write(root.join("cgroup.procs"), p);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
