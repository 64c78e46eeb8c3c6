//! Boot figures (a benchmark, not a test): for each QEMU board, kernel start
//! to `/init`, `/init` to ready, kernel start to ready, QEMU start to ready
//! (wall clock), power-off to QEMU exit, and the image and binary sizes.
//! Then boot to service on each board: an appliance that owns a VIP
//! (priority 255, no time server): `/init` to its first VRRP advert (with
//! the steps on the way, from the console's stamps), and QEMU start to the
//! VIP answering a client's ping on the switch. Last, the same userland
//! path without an emulator: `vigil run` started in a network namespace on
//! this host, to its first advert seen by a raw socket on the peer.
//!
//! Then the disk image (`vigil-image disk`) booted through the board's UEFI
//! firmware and GRUB: QEMU start to GRUB's choice of slot (the firmware's
//! and the bootloader's share) and to ready, beside the `-kernel` figure.
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
            n.send_line("poweroff now").unwrap();
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
    for board in boards.split(',') {
        if have_qemu(board) {
            disk_boot(board, runs);
        }
    }
    for board in boards.split(',') {
        if have_qemu(board) {
            boot_to_service(board, runs);
        }
    }
    host_start_to_advert(runs.max(10));
}

/// QEMU start -> GRUB's choice of slot -> ready, booting the disk image.
fn disk_boot(board: &str, runs: usize) {
    let img = image(board);
    let tree = vigil_image::kernel::fetch(&img.board).unwrap();
    let dir = vigil_tests::test_dir(&format!("bench-disk-{board}"));
    let disk = dir.join("disk.img");
    let built = vigil_image::disk::SlotFiles::load(&img.board, &tree, &img.initrd)
        .and_then(|files| vigil_image::disk::build(&img.board, &files, &disk));
    if let Err(e) = built {
        println!("\n{board}: no disk image: {e:#}");
        return;
    }
    let (mut chosen, mut ready, mut kernel) = (Series::default(), Series::default(), Series::default());
    for run in 0..runs {
        let mut c = Cluster::empty(&format!("bench-disk-{board}-{run}")).unwrap();
        let n = c
            .add(&img, |s| {
                s.flash = Some(disk.clone());
                s.boot_disk = true;
            })
            .unwrap();
        let n = c.node(n);
        let t0 = n.started;
        n.expect("vigil: booting slot", Duration::from_secs(120)).unwrap();
        chosen.add(t0.elapsed().as_secs_f64() * 1000.0);
        let line = n.expect("vigil: ready in ", Duration::from_secs(120)).unwrap();
        ready.add(t0.elapsed().as_secs_f64() * 1000.0);
        kernel.add(parse_ms_after(&line, "(").unwrap() as f64);
    }
    let fw = img.board.qemu.as_ref().and_then(|q| q.uefi.as_ref()).map_or("?", |u| u.code.as_str());
    println!("\n{board}: booted from its disk image ({fw}, GRUB, slot a), {runs} runs, TCG");
    println!("  QEMU start -> GRUB picks a slot {}", chosen.summary());
    println!("  kernel start -> ready     {}", kernel.summary());
    println!("  QEMU start -> ready (wall){}", ready.summary());
}

/// Seconds since kernel start from a log line's `[    2.191]` stamp.
fn stamp_ms(line: &str) -> Option<f64> {
    // The line may follow a redrawn prompt (`vigil> \x1b[K[    2.191]`).
    line.split('[').filter_map(|part| part.split(']').next()?.trim().parse::<f64>().ok()).next().map(|s| s * 1000.0)
}

/// The boot steps the console stamps, in order, up to the first advert.
const STEPS: [(&str, &str); 5] = [
    ("modules (first): ", "NIC + flash drivers loaded"),
    ("net: 2: ", "interfaces up"),
    ("config: ", "config read"),
    ("supervise: vrrp child started", "vrrp child started"),
    ("first advert sent", "first VRRP advert"),
];

fn boot_to_service(board: &str, runs: usize) {
    use std::net::Ipv4Addr;
    let b = vigil_image::load_board(board).unwrap();
    let dir = vigil_tests::test_dir(&format!("bench-boot-service-{board}"));
    let conf = dir.join("owner.conf");
    std::fs::write(
        &conf,
        "interface eth0 {\n address 192.0.2.1/24\n}\nvrrp_instance VI_1 {\n interface eth0\n version 3\n virtual_router_id 7\n\
         priority 255\n advert_int 1\n virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n",
    )
    .unwrap();
    let flash = dir.join("flash.img");
    vigil_image::config_tool::install(&b, &flash, &conf).unwrap();
    let mut steps: Vec<Series> = STEPS.iter().map(|_| Series::default()).collect();
    let mut to_vip = Series::default();
    for run in 0..runs {
        let f = flash.clone();
        let mut c =
            Cluster::start_with(&format!("bench-service-{board}-{run}"), board, 1, |s| s.flash = Some(f.clone()))
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
        let init_ms = parse_ms_after(&init, "started ").unwrap() as f64;
        for ((needle, _), series) in STEPS.iter().zip(&mut steps) {
            let line = n.expect(needle, Duration::from_secs(5)).unwrap();
            if let Some(at) = stamp_ms(&line) {
                series.add(at - init_ms);
            }
        }
    }
    println!("\n{board} boot to service (VIP owner, priority 255), {runs} runs, TCG");
    for ((_, what), series) in STEPS.iter().zip(&steps) {
        println!("  /init -> {what:<26} {}", series.summary());
    }
    println!("  QEMU start -> VIP answers           {}", to_vip.summary());
}

/// `vigil run` (host mode: no modules, no flash) exec'd straight into a
/// network namespace, to its first advert on the wire: the userland path
/// at native speed.
fn host_start_to_advert(runs: usize) {
    use std::os::unix::process::CommandExt;
    if !vigil_tests::is_root() {
        println!("\nhost: exec -> first advert: skipped (needs root for network namespaces)");
        return;
    }
    let dir = vigil_tests::test_dir("bench-boot-host");
    let conf = dir.join("owner.conf");
    std::fs::write(
        &conf,
        "vrrp_instance VI_1 {\n interface eth0\n version 3\n virtual_router_id 7\n priority 255\n advert_int 1\n\
         virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n",
    )
    .unwrap();
    let (ns, peer) = ("bb-vigil", "bb-peer");
    let ip = vigil_tests::vrrp_pair::ip;
    let mut series = Series::default();
    for _ in 0..runs {
        let _namespaces = [ns, peer].map(vigil_tests::vrrp_pair::Netns::fresh);
        ip(&["-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "p0", "netns", peer]);
        ip(&["-n", ns, "addr", "add", "192.0.2.1/24", "dev", "eth0"]);
        ip(&["-n", ns, "link", "set", "eth0", "up"]);
        ip(&["-n", peer, "addr", "add", "192.0.2.2/24", "dev", "p0"]);
        ip(&["-n", peer, "link", "set", "p0", "up"]);
        // The peer's raw socket, in its namespace, before vigil starts.
        let (tx, rx) = std::sync::mpsc::channel();
        let watcher = std::thread::spawn(move || {
            let f = std::fs::File::open(format!("/var/run/netns/{peer}")).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::RAW, Some(socket2::Protocol::from(112)))
                .unwrap();
            // The VRRP group, or the kernel drops the adverts before the socket.
            s.join_multicast_v4(&std::net::Ipv4Addr::new(224, 0, 0, 18), &std::net::Ipv4Addr::new(192, 0, 2, 2))
                .unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            tx.send(()).unwrap();
            let mut buf = [0u8; 1500];
            std::io::Read::read(&mut &s, &mut buf).ok().map(|_| Instant::now())
        });
        rx.recv().unwrap();
        let target = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
        let mut cmd = std::process::Command::new(firmware(Arch::X86_64));
        cmd.args(["run", "--config"]).arg(&conf).stdin(std::process::Stdio::piped());
        cmd.stdout(std::process::Stdio::null()).stderr(std::fs::File::create(dir.join("vigil.log")).unwrap());
        // SAFETY: between fork and exec the closure makes one system call
        // (setns) on a descriptor opened before the fork: async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                nix::sched::setns(&target, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
            });
        }
        let t0 = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let seen = watcher.join().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        if let Some(at) = seen {
            series.add(at.duration_since(t0).as_secs_f64() * 1000.0);
        }
    }
    println!("\nhost (native, no emulator), {runs} runs");
    println!("  exec -> first VRRP advert on the wire {}", series.summary());
}
