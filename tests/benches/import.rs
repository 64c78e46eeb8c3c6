//! keepalived.conf import: vigil against `keepalived --config-test` on the
//! same files, wall time and peak memory (each in a process of its own,
//! measured by wait4's rusage), and their ratio: generated configs of
//! 1,000, 2,000 and 5,000 virtual servers x 10 real servers (TCP_CHECK),
//! one of the shape of keepalived issue #2318's production config (2,284
//! virtual servers, 37,298 real servers), and the largest corpus file.
//! vigil's child also encodes the blob (what `config compile` and a commit
//! do), and says its size.
//! A benchmark, not a test. `cargo bench -p vigil-tests --bench import`.

use std::process::Command;
use std::time::{Duration, Instant};

/// `n` virtual servers with `total` real servers between them (as even as
/// they go).
fn generated(n: usize, total: usize, dir: &std::path::Path) -> std::path::PathBuf {
    let mut t = String::from("global_defs {\n    router_id BENCH\n}\n");
    for v in 0..n {
        let per = total / n + usize::from(v < total % n);
        t.push_str(&format!(
            "virtual_server 10.{}.{}.1 80 {{\n    delay_loop 6\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n",
            v / 250,
            v % 250
        ));
        for r in 0..per {
            t.push_str(&format!(
                "    real_server 172.{}.{}.{} 8080 {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 3\n        }}\n    }}\n",
                16 + v / 250,
                v % 250,
                r + 1
            ));
        }
        t.push_str("}\n");
    }
    let p = dir.join(format!("vs{n}-rs{total}.conf"));
    std::fs::write(&p, t).unwrap();
    p
}

/// Runs a command to its end: wall time and peak resident memory (KiB).
/// Also what it printed (its first line: vigil's child says the blob's size).
fn measure(cmd: &mut Command) -> (Duration, i64, bool, String) {
    let t = Instant::now();
    let mut child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for the kernel to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid, with pointers to live locals;
    // the child is not waited for anywhere else (its Child is forgotten).
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    let took = t.elapsed();
    let mut out = String::new();
    // A line at most: it fits the pipe, read after the exit.
    let _ = std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out);
    std::mem::forget(child);
    assert!(pid > 0, "wait4 failed");
    (
        took,
        ru.ru_maxrss,
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        out.lines().next().unwrap_or("").to_string(),
    )
}

fn main() {
    // The child side: import one file and exit (0: no errors).
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--import") {
        let imported = vigil_config::keepalived::import_file(&args[i + 1]).unwrap();
        if let Some(e) = imported.errors().next() {
            eprintln!("{e}");
            std::process::exit(1);
        }
        match vigil_config::blob::encode(&imported.config, 1, 0) {
            Ok(b) => println!("{}", b.len()),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
        std::process::exit(0);
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
    let files = [
        generated(1000, 10_000, &dir),
        generated(2000, 20_000, &dir),
        generated(5000, 50_000, &dir),
        generated(2284, 37_298, &dir),
        largest,
    ];
    for f in files {
        let (vt, vm, vok, blob) = measure(Command::new(&me).arg("--import").arg(&f));
        let (kt, km, _, _) = measure(Command::new("keepalived").args(["--config-test", "-f"]).arg(&f));
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        println!(
            "{name:<32}  {:>7.1} {:>8}{}   {:>7.1} {:>8}            {:.2}x, {:.2}x   blob {blob} bytes",
            vt.as_secs_f64() * 1000.0,
            vm,
            if vok { "  " } else { " !" },
            kt.as_secs_f64() * 1000.0,
            km,
            vt.as_secs_f64() / kt.as_secs_f64(),
            vm as f64 / km as f64
        );
    }
    println!("(! : vigil refused the file)");
}
