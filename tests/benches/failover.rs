//! Failover figures (a benchmark, not a test): a keepalived master (priority
//! 150) is SIGKILLed; the backup (priority 100) is vigil or keepalived; the
//! time from the kill to the VIP on the backup, against the protocol's
//! bound (Master_Down_Interval = 3 x interval + Skew_Time; the kill lands
//! somewhere within an advert interval, so the figure is at most the bound).
//!
//! `cargo bench -p vigil-tests --bench failover` (as root; VIGIL_BENCH_RUNS=N).

use std::time::{Duration, Instant};
use vigil_tests::vrrp_pair::Pair;

fn main() {
    let runs: usize = std::env::var("VIGIL_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    for (version, interval, bound_ms) in [(2u8, "1", 3609.0), (3, "0.1", 360.0)] {
        for backup in ["vigil", "keepalived"] {
            let mut figures = Vec::new();
            for run in 0..runs {
                let Some(mut p) = Pair::new(&format!("fo{run}")) else { return };
                // The master is always keepalived, in the "ka" namespace.
                p.keepalived(version, 150, interval);
                p.wait_vip(&p.ka.clone(), Duration::from_secs(15));
                let backup_ns = if backup == "vigil" {
                    p.vigil(version, 100, interval);
                    p.vg.clone()
                } else {
                    // A second keepalived in the other namespace.
                    keepalived_backup(&mut p, version, interval);
                    p.vg.clone()
                };
                std::thread::sleep(Duration::from_secs(3));
                assert!(!p.has_vip(&backup_ns), "the backup took over while the master ran");
                p.kill_keepalived("-KILL");
                let t = Instant::now();
                while !p.has_vip(&backup_ns) && t.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(2));
                }
                figures.push(t.elapsed().as_secs_f64() * 1000.0);
                drop(p);
            }
            figures.sort_by(|a, b| a.total_cmp(b));
            println!(
                "v{version} advert_int {interval} s, backup {backup:<10}: median {:>7.1} ms [{:.1} .. {:.1}], bound {bound_ms} ms",
                figures[figures.len() / 2],
                figures[0],
                figures[figures.len() - 1]
            );
        }
    }
}

/// keepalived as the backup, in vigil's namespace (its own pid files).
fn keepalived_backup(p: &mut Pair, version: u8, interval: &str) {
    let conf = p.conf("keepalived-backup.conf", "vk-b", version, 100, interval);
    let child = vigil_tests::vrrp_pair::spawn_keepalived(&p.vg, &conf, &p.dir, "kb");
    p.children.push(child);
}
