//! Update figures (a benchmark, not a test): for each QEMU board, the
//! bundle's size, and from `update install URL` (Debian's nginx on this
//! host, reached over QEMU's user network) to: the slot written, checked
//! and on trial; the reboot into it, ready; and kept by its health gate
//! (`update_confirm_s 5`). Then the updater child's peak RSS (VmHWM) in the
//! guest during an install.
//!
//! `cargo bench -p vigil-tests --bench update` (VIGIL_BENCH_BOARDS=qemu-x86_64,...).

use std::time::{Duration, Instant};
use vigil_tests::disk::{boot_with, bundle, disk_of, release_image, release_key};
use vigil_tests::have_qemu;

fn main() {
    let boards = std::env::var("VIGIL_BENCH_BOARDS").unwrap_or_else(|_| "qemu-x86_64,qemu-aarch64".into());
    if !vigil_tests::nginx::have_nginx() {
        return;
    }
    for board in boards.split(',') {
        if !have_qemu(board) {
            continue;
        }
        let dir = vigil_tests::Cluster::empty(&format!("bench-update-{board}")).unwrap().dir.clone();
        let (key, trusted) = release_key(&dir);
        let v1 = release_image(board, 1, &trusted);
        let v2 = release_image(board, 2, &trusted);
        let web = vigil_tests::nginx::Nginx::start(&dir, None);
        let b2 = web.www.join("v2.vub");
        bundle(&v2, 2, 0, &key, &b2);
        let size = std::fs::metadata(&b2).unwrap().len();
        let conf = "interface eth1 {\n address 10.0.2.15/24\n}\nvigil_defs {\n update_confirm_s 5\n}\n";
        let mut d = disk_of(v1, &format!("bench-update-node-{board}"), conf);
        let n = boot_with(&mut d, |s| s.user_net = true);
        let node = d.c.node(n);
        let long = Duration::from_secs(600);
        node.wait_ready(long).unwrap();
        while !node.command("show update", long).unwrap().contains("running") {
            std::thread::sleep(Duration::from_millis(500));
        }
        let url = format!("http://{}:{}/v2.vub", vigil_image::qemu::HOST_ADDR, web.port);
        let t = Instant::now();
        node.command(&format!("update install {url}"), long).unwrap();
        // The updater's peak RSS, looked at while it writes.
        let mut rss = 0u64;
        while !node.console_text().contains("update: build 2 (0.2.0) is on trial") {
            let sup = node.command("show supervision", long).unwrap();
            let kib = sup
                .lines()
                .find(|l| l.starts_with("updater: running"))
                .and_then(|l| l.split("peak rss ").nth(1)?.split(' ').next()?.parse::<u64>().ok());
            rss = rss.max(kib.unwrap_or(0));
            assert!(t.elapsed() < long, "no trial in {long:?}");
            std::thread::sleep(Duration::from_millis(500));
        }
        node.expect("update: build 2 (0.2.0) is on trial", long).unwrap();
        let on_trial = t.elapsed();
        node.expect("vigil: ready in ", long).unwrap();
        let ready = t.elapsed();
        node.expect("update: build 2 (0.2.0) is installed and kept", long).unwrap();
        let kept = t.elapsed();
        println!(
            "{board}: bundle {:.1} MiB; install -> on trial {:.1} s ({:.1} MiB/s), -> ready on build 2 {:.1} s, -> kept {:.1} s; updater peak rss {rss} KiB",
            size as f64 / 1048576.0,
            on_trial.as_secs_f64(),
            size as f64 / 1048576.0 / on_trial.as_secs_f64(),
            ready.as_secs_f64(),
            kept.as_secs_f64()
        );
        node.kill();
    }
}
