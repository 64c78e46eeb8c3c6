//! The running load balancer, vigil against Debian's keepalived 2.2.7 in
//! one run, inside a QEMU guest (TCG; keepalived's checker needs IPVS,
//! which this host's kernel lacks): the guest's test server runs each on
//! the same config in turn and measures its whole process tree (PSS, RSS,
//! CPU), with every real server answering (see tests/server/src/running.rs).
//!
//! - memory: keepalived issue #2318's shape (2,284 virtual servers, 37,298
//!   real servers; `delay_loop` 300 so that checking does not drown the
//!   guest: memory does not depend on it), programmed into IPVS and checked.
//! - checkers: 200 real servers at `delay_loop` 1 (a fiftieth of the host
//!   checkers bench's 10,000: at 1,000 neither kept up in a TCG guest), the
//!   CPU each tree uses, and per check answered.
//!
//! Figures are the guest's: TCG makes every figure of CPU time larger than
//! on hardware by the same factor for both, so the ratio is the result.
//! A benchmark, not a test. `cargo bench -p vigil-tests --bench running`.

use std::time::Duration;
use vigil_board::Arch;
use vigil_tests::{Cluster, have_qemu};

fn main() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    // Not the cluster's own directory (it starts empty).
    let dir = vigil_tests::test_dir("bench-running-configs");
    let (services, servers) = vigil_tests::PRODUCTION_SHAPE;
    let configs = [
        ("shape.conf", vigil_tests::shape_config(services, servers, Some(300), "\n lb_algo rr")),
        ("checks.conf", vigil_tests::shape_config(10, 200, Some(1), "\n lb_algo rr")),
    ];
    let mut extra: Vec<(String, std::path::PathBuf)> = Vec::new();
    for (name, text) in configs {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        extra.push((format!("etc/bench/{name}"), path));
    }
    extra.push(("usr/bin/vigil".into(), vigil_tests::firmware(Arch::X86_64)));
    for program in ["/usr/sbin/keepalived", "/usr/sbin/ip"] {
        let files = vigil_tests::host_program(program);
        if files.is_empty() {
            println!("{program} is not on this host: its figures are left out");
        }
        for f in files {
            if !extra.iter().any(|e| e.0 == f.0) {
                extra.push(f);
            }
        }
    }
    let b = vigil_image::load_board("qemu-x86_64").expect("board");
    let server = vigil_image::build::static_binary(b.arch, "vigil-test-server", "test-server").expect("test-server");
    let img = vigil_image::build::build_image_as(&b, &server, "bench-running", &extra).expect("image");
    let mut c = Cluster::empty("bench-running").unwrap();
    let n = c.add(&img, |s| s.extra_cmdline = "vigil.bench=running".into()).unwrap();
    c.node(n).expect("bench: done", Duration::from_secs(1800)).unwrap();
    for l in c.node(n).console_text().lines().filter(|l| l.starts_with("bench: ") && !l.contains("done")) {
        println!("{}", l.trim_start_matches("bench: "));
    }
}
