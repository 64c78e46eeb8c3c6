//! IPVS programming speed inside a QEMU guest (TCG): vigil's reconciler and
//! netlink client against Debian's `ipvsadm -R` on the same 1,000 services
//! x 10 destinations, from empty and for a reload that changes 1 %; then
//! vigil alone on keepalived issue #2318's shape (2,284 services, 37,298
//! destinations). (The
//! guest has an address on the destinations' subnet: IPVS refuses a
//! destination the guest has no route to.)
//! A benchmark, not a test. `cargo bench -p vigil-tests --bench ipvs`.

use std::time::Duration;
use vigil_tests::{Cluster, have_qemu};

fn main() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let img = vigil_tests::test_server_image("qemu-x86_64");
    let mut c = Cluster::empty("bench-ipvs").unwrap();
    let n = c.add(&img, |s| s.extra_cmdline = "vigil.ip=10.3.0.100/16 vigil.bench=ipvs".into()).unwrap();
    c.node(n).expect("bench: done", Duration::from_secs(600)).unwrap();
    for l in c.node(n).console_text().lines().filter(|l| l.starts_with("bench: ") && !l.contains("done")) {
        println!("{}", l.trim_start_matches("bench: "));
    }
}
