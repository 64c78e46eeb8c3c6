//! Boot figures (a benchmark, not a test): for each QEMU board, kernel start
//! to `/init`, `/init` to ready, kernel start to ready, QEMU start to ready
//! (wall clock), power-off to QEMU exit, and the image and binary sizes.
//! Then boot to service on qemu-x86_64: an appliance that owns a VIP
//! (priority 255, no time server): `/init` to its first VRRP advert, and
//! QEMU start to the VIP answering a client's ping on the switch.
//!
//! `cargo bench -p vigil-tests --bench boot` (VIGIL_BENCH_RUNS=N, default 3;
//! VIGIL_BENCH_BOARDS=qemu-x86_64,... to pick boards).

use std::time::{Duration, Instant};
use vigil_board::Arch;
use vigil_image::node::parse_ms_after;
use vigil_tests::{Cluster, firmware, have_qemu, image};

#[derive(Default)]
struct Series(Vec<f64>);

impl Series {
    fn add(&mut self, v: f64) {
        self.0.push(v);
    }
    fn summary(&self) -> String {
        let mut v = self.0.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        if v.is_empty() {
            return "-".into();
        }
        format!("median {:>7.1} ms  [{:.1} .. {:.1}]", v[v.len() / 2], v[0], v[v.len() - 1])
    }
}

fn main() {
    // `cargo test --benches` passes --bench; ignore arguments.
    let runs: usize = std::env::var("VIGIL_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let boards = std::env::var("VIGIL_BENCH_BOARDS").unwrap_or_else(|_| "qemu-x86_64,qemu-aarch64".into());
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let fw = firmware(arch);
        println!(
            "firmware {:<8} {:>9} bytes  {}",
            arch.to_string(),
            std::fs::metadata(&fw).unwrap().len(),
            fw.display()
        );
    }
    for board in boards.split(',') {
        if !have_qemu(board) {
            continue;
        }
        let img = image(board);
        println!(
            "\n{board}: initramfs {} KiB, {} modules, {runs} runs, TCG",
            std::fs::metadata(&img.initrd).unwrap().len() / 1024,
            img.modules.len()
        );
        let (mut to_init, mut init_ready, mut kernel_ready, mut wall, mut off) =
            (Series::default(), Series::default(), Series::default(), Series::default(), Series::default());
        for run in 0..runs {
            let mut c = Cluster::start(&format!("bench-{board}-{run}"), board, 1).expect("start");
            let n = c.node(1);
            let t0 = n.started;
            let init = n.expect("/init started", Duration::from_secs(90)).unwrap();
            let ready = n.expect("vigil: ready in ", Duration::from_secs(90)).unwrap();
            wall.add(t0.elapsed().as_secs_f64() * 1000.0);
            to_init.add(parse_ms_after(&init, "started ").unwrap() as f64);
            init_ready.add(parse_ms_after(&ready, "ready in ").unwrap() as f64);
            kernel_ready.add(parse_ms_after(&ready, "(").unwrap() as f64);
            n.expect("vigil> ", Duration::from_secs(10)).unwrap();
            n.send_line("poweroff").unwrap();
            n.expect("reboot: Power down", Duration::from_secs(20)).unwrap();
            let t = Instant::now();
            n.wait_exit(Duration::from_secs(20)).unwrap();
            off.add(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!("  kernel start -> /init     {}", to_init.summary());
        println!("  /init -> ready            {}", init_ready.summary());
        println!("  kernel start -> ready     {}", kernel_ready.summary());
        println!("  QEMU start -> ready (wall){}", wall.summary());
        println!("  power down -> QEMU exit   {}", off.summary());
    }
    if boards.contains("qemu-x86_64") && have_qemu("qemu-x86_64") {
        boot_to_service(runs);
    }
}

/// Seconds since kernel start from a log line's `[    2.191]` stamp.
fn stamp_ms(line: &str) -> Option<f64> {
    let inner = line.split('[').nth(1)?.split(']').next()?.trim();
    inner.parse::<f64>().ok().map(|s| s * 1000.0)
}

fn boot_to_service(runs: usize) {
    use std::net::Ipv4Addr;
    let board = vigil_image::load_board("qemu-x86_64").unwrap();
    let dir = vigil_tests::test_dir("bench-boot-service");
    let conf = dir.join("owner.conf");
    std::fs::write(
        &conf,
        "interface eth0 {\n address 192.0.2.1/24\n}\nvrrp_instance VI_1 {\n interface eth0\n version 3\n virtual_router_id 7\n\
         priority 255\n advert_int 1\n virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n",
    )
    .unwrap();
    let flash = dir.join("flash.img");
    vigil_image::config_tool::install(&board, &flash, &conf).unwrap();
    let (mut to_advert, mut to_vip) = (Series::default(), Series::default());
    for run in 0..runs {
        let f = flash.clone();
        let mut c =
            Cluster::start_with(&format!("bench-service-{run}"), "qemu-x86_64", 1, |s| s.flash = Some(f.clone()))
                .expect("start");
        let port = c.switch.attach("client", &c.dir.join("client.sock")).unwrap();
        let mut client =
            vigil_tests::client::Client::new(port, [0x52, 0x54, 0, 0, 0, 0x99], Ipv4Addr::new(192, 0, 2, 99));
        let t0 = c.node(1).started;
        let vip = Ipv4Addr::new(192, 0, 2, 100);
        loop {
            let answered = client
                .resolve(vip, Duration::from_millis(50))
                .ok()
                .and_then(|mac| client.ping(mac, vip, Duration::from_millis(100)).ok())
                .unwrap_or(false);
            if answered {
                to_vip.add(t0.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "the VIP never answered");
        }
        let n = c.node(1);
        let init = n.expect("/init started", Duration::from_secs(5)).unwrap();
        let advert = n.expect("first advert sent", Duration::from_secs(5)).unwrap();
        let init_ms = parse_ms_after(&init, "started ").unwrap() as f64;
        if let Some(a) = stamp_ms(&advert) {
            to_advert.add(a - init_ms);
        }
    }
    println!("\nqemu-x86_64 boot to service (VIP owner, priority 255), {runs} runs, TCG");
    println!("  /init -> first VRRP advert {}", to_advert.summary());
    println!("  QEMU start -> VIP answers  {}", to_vip.summary());
}
