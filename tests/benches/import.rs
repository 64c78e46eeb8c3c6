//! keepalived.conf import: vigil against `keepalived --config-test` on the
//! same files, wall time and peak memory (each in a process of its own,
//! measured by wait4's rusage), and their ratio: generated configs of
//! 1,000 and 2,000 virtual servers x 10 real servers (TCP_CHECK; vigil's
//! limit today is 1,024: the 2,000 one is refused past it, still read
//! whole), and the largest corpus file.
//! A benchmark, not a test. `cargo bench -p vigil-tests --bench import`.

use std::process::Command;
use std::time::{Duration, Instant};

fn generated(n: usize, dir: &std::path::Path) -> std::path::PathBuf {
    let mut t = String::from("global_defs {\n    router_id BENCH\n}\n");
    for v in 0..n {
        t.push_str(&format!(
            "virtual_server 10.{}.{}.1 80 {{\n    delay_loop 6\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n",
            v / 250,
            v % 250
        ));
        for r in 0..10 {
            t.push_str(&format!(
                "    real_server 172.16.{}.{} 8080 {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 3\n        }}\n    }}\n",
                v / 25,
                (v % 25) * 10 + r + 1
            ));
        }
        t.push_str("}\n");
    }
    let p = dir.join(format!("vs{n}.conf"));
    std::fs::write(&p, t).unwrap();
    p
}

/// Runs a command to its end: wall time and peak resident memory (KiB).
fn measure(cmd: &mut Command) -> (Duration, i64, bool) {
    let t = Instant::now();
    let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for the kernel to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid, with pointers to live locals;
    // the child is not waited for anywhere else (its Child is forgotten).
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    std::mem::forget(child);
    assert!(pid > 0, "wait4 failed");
    (t.elapsed(), ru.ru_maxrss, libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0)
}

fn main() {
    // The child side: import one file and exit (0: no errors).
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--import") {
        let imported = vigil_config::keepalived::import_file(&args[i + 1]).unwrap();
        std::process::exit(if imported.errors().next().is_some() { 1 } else { 0 });
    }
    if !vigil_tests::have_program("keepalived") {
        return eprintln!("SKIPPED: keepalived (apt-get install keepalived)");
    }
    let dir = vigil_tests::test_dir("bench-import");
    let corpus = vigil_tests::root().join("tests/corpus/keepalived");
    let largest = std::fs::read_dir(&corpus)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .unwrap();
    let me = std::env::current_exe().unwrap();
    println!(
        "file                              vigil (ms, peak KiB)   keepalived --config-test   ratio (time, memory)"
    );
    for f in [generated(1000, &dir), generated(2000, &dir), largest] {
        let (vt, vm, vok) = measure(Command::new(&me).arg("--import").arg(&f));
        let (kt, km, _) = measure(Command::new("keepalived").args(["--config-test", "-f"]).arg(&f));
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        println!(
            "{name:<32}  {:>7.1} {:>8}{}   {:>7.1} {:>8}            {:.2}x, {:.2}x",
            vt.as_secs_f64() * 1000.0,
            vm,
            if vok { "  " } else { " !" },
            kt.as_secs_f64() * 1000.0,
            km,
            vt.as_secs_f64() / kt.as_secs_f64(),
            vm as f64 / km as f64
        );
    }
    println!(
        "(! : vigil refused the file: past its limit of {} virtual servers)",
        vigil_config::limits::VIRTUAL_SERVERS
    );
}
