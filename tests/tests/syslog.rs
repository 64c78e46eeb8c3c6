//! Remote syslog against Debian's rsyslog in a namespace: vigil (host
//! mode) in another sends every log line as RFC 5424, over TCP and over
//! UDP; rsyslog parses each (its `%app-name%`, `%structured-data%`, ...
//! are written out), and the lines a server that was away missed arrive
//! once it is back.

use std::process::{Child, Command, Stdio};
use vigil_tests::vrrp_pair::{KillOnDrop, Netns, ip, spawn_vigil, veth, wait_log};
use vigil_tests::{have_program, is_root, require};

fn rsyslogd(ns: &str, dir: &std::path::Path) -> Child {
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{d}\")\nmodule(load=\"imudp\")\nmodule(load=\"imtcp\")\n\
             input(type=\"imudp\" port=\"514\" address=\"192.0.2.1\")\ninput(type=\"imtcp\" port=\"514\" address=\"192.0.2.1\")\n\
             template(name=\"fields\" type=\"string\" string=\"%inputname% %protocol-version% %hostname% %app-name% %structured-data% %msg%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{d}/received.log\" template=\"fields\")\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let pid = dir.join("rsyslogd.pid");
    let _ = std::fs::remove_file(&pid);
    let child = Command::new("ip")
        .args(["netns", "exec", ns, "rsyslogd", "-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(&pid)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(dir.join("rsyslogd.out")).unwrap()))
        .spawn()
        .unwrap();
    let up = vigil_tests::eventually(std::time::Duration::from_secs(10), || pid.exists());
    assert!(
        up.is_some(),
        "rsyslogd did not start: {}",
        std::fs::read_to_string(dir.join("rsyslogd.out")).unwrap_or_default()
    );
    child
}

fn pid_in(line: &str) -> String {
    line.split("(pid ").nth(1).and_then(|p| p.split(')').next()).unwrap_or_default().to_string()
}

#[test]
fn every_line_reaches_rsyslog_as_rfc5424_over_tcp_and_udp_and_waits_out_a_server_away() {
    if !require(is_root(), "root (network namespaces)")
        || !require(have_program("rsyslogd"), "rsyslog (apt-get install rsyslog)")
    {
        return;
    }
    let dir = vigil_tests::test_dir("syslog");
    let (srv, vg) = (Netns::fresh("sl-srv"), Netns::fresh("sl-vg"));
    veth((&srv, "sl-a", "192.0.2.1/24"), (&vg, "sl-b", "192.0.2.2/24"));
    let received = dir.join("received.log");
    let _ = std::fs::remove_file(&received);
    let mut server = KillOnDrop(rsyslogd(&srv, &dir));

    let body = "vrrp_instance VI {\n state MASTER\n interface sl-b\n virtual_router_id 9\n priority 255\n advert_int 1\n\
                virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n\
                virtual_server 192.0.2.100 80 {\n delay_loop 1\n protocol TCP\n real_server 192.0.2.1 81 {\n  TCP_CHECK {\n   connect_timeout 1\n  }\n }\n}\n";
    let conf = dir.join("tcp.conf");
    std::fs::write(&conf, format!("vigil_defs {{\n hostname lb-test\n syslog 192.0.2.1 tcp\n}}\n{body}")).unwrap();
    let log = dir.join("vigil-tcp.log");
    let vigil = KillOnDrop(spawn_vigil(&vg, &conf, &log));
    // Parsed by rsyslog as RFC 5424: version 1, the hostname, the process
    // as APP-NAME, what the line is about as structured data.
    let (at, _) =
        wait_log(&received, 0, "imtcp 1 lb-test vrrp [vrrp@32473 instance=\"VI\"] vrrp_instance VI: INIT -> MASTER");
    wait_log(&received, 0, "imtcp 1 lb-test vigil - supervise: vrrp child started");
    let (_, line) = wait_log(&received, 0, "imtcp 1 lb-test checkers [lvs@32473 virtual_server=\"192.0.2.100:80\"]");
    assert!(line.contains("TCP_CHECK real server 192.0.2.1:81: DOWN"), "{line}");

    // The server goes away; meanwhile the checkers child is killed and
    // started again. Back, it gets what it missed.
    let _ = server.0.kill();
    let _ = server.0.wait();
    let (vat, started) = wait_log(&log, 0, "supervise: checkers child started (pid ");
    let st = Command::new("kill").args(["-KILL", &pid_in(&started)]).status().unwrap();
    assert!(st.success());
    wait_log(&log, vat, "supervise: checkers child started (pid ");
    let _server = KillOnDrop(rsyslogd(&srv, &dir));
    wait_log(&received, at, "imtcp 1 lb-test vigil - supervise: the checkers child was killed by SIGKILL");
    wait_log(&received, at, "imtcp 1 lb-test vigil - supervise: checkers child started");
    drop(vigil);
    ip(&["-n", &vg, "addr", "flush", "dev", "sl-b"]);
    ip(&["-n", &vg, "addr", "add", "192.0.2.2/24", "dev", "sl-b"]);

    // Over UDP (the port taken as 514).
    let conf = dir.join("udp.conf");
    std::fs::write(&conf, format!("vigil_defs {{\n hostname lb-udp\n syslog 192.0.2.1\n}}\n{body}")).unwrap();
    let log = dir.join("vigil-udp.log");
    let _vigil = KillOnDrop(spawn_vigil(&vg, &conf, &log));
    wait_log(&received, 0, "imudp 1 lb-udp vrrp [vrrp@32473 instance=\"VI\"] vrrp_instance VI: INIT -> MASTER");
}
