//! Power cuts for the tests: a seeded sequence, and QEMU killed once a
//! given number of writes has landed on the node's flash.

use std::time::{Duration, Instant};

/// A cut series' seed: `VIGIL_SEED`, or a new one each run (printed by the
/// caller), so that runs add up to more cut points than any one makes.
pub fn seed() -> u64 {
    std::env::var("VIGIL_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    })
}

/// splitmix64: a seeded sequence, the same on every machine.
pub struct Rng(pub u64);
impl Rng {
    pub fn draw(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.draw() % n
    }
}

/// Write requests QEMU has completed on the node's disk (not the UEFI
/// variable store, which is a drive too).
pub fn writes(q: &mut vigil_image::qmp::Qmp) -> Option<u64> {
    let v = q.execute("query-blockstats", serde_json::json!({})).ok()?;
    v.as_array()?.iter().find(|d| d["device"] == "flash").and_then(|d| d["stats"]["wr_operations"].as_u64())
}

/// Kills the node once `target` writes have landed (and a seeded delay
/// after), or returns false when they do not come within `within` or
/// before the console says `until` (from now on: what it said before does
/// not count; the update series' cuts while PID 1 switches the boot
/// environment never happened because GRUB's "vigil: booting slot" of the
/// same boot was taken for the reboot).
pub fn cut_at(
    node: &mut vigil_image::node::Node,
    q: &mut vigil_image::qmp::Qmp,
    target: u64,
    delay_us: u64,
    within: Duration,
    until: &str,
) -> bool {
    let t = Instant::now();
    let from = node.console_text().len();
    while t.elapsed() < within && !node.output_since(from).0.contains(until) {
        if writes(q).is_some_and(|w| w >= target) {
            std::thread::sleep(Duration::from_micros(delay_us));
            node.kill();
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}
