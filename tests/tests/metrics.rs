//! The metrics endpoint against Debian's Prometheus in a namespace: vigil
//! (host mode) in another serves `metrics_listen`; `promtool check metrics`
//! passes its page; Prometheus scrapes it and sees what happens (a tracked
//! script failing lowers the priority, a backend going away takes its real
//! server out). Then hostile clients: wrong methods, paths, sizes, bytes,
//! more connections than it takes, clients that send nothing; each is
//! refused with its status, counted, and the endpoint and VRRP carry on.

use std::process::{Child, Command, Stdio};
use std::time::Duration;
use vigil_tests::vrrp_pair::{KillOnDrop, Netns, spawn_vigil, veth, wait_log};
use vigil_tests::{eventually, have_program, is_root, require};

const ENDPOINT: &str = "192.0.2.2:9650";

/// Runs python3 in `ns`; its stdout.
fn py(ns: &str, code: &str) -> String {
    py_or_why(ns, code).unwrap_or_else(|e| panic!("python3 failed: {e}"))
}

fn py_or_why(ns: &str, code: &str) -> Result<String, String> {
    let out = Command::new("ip").args(["netns", "exec", ns, "python3", "-c", code]).output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Sends `request` (Python bytes syntax) to the endpoint from `ns`; the whole answer.
fn raw(ns: &str, request: &str) -> String {
    py(
        ns,
        &format!(
            "import socket\ns=socket.create_connection(('192.0.2.2',9650),timeout=10)\ns.sendall({request})\n\
             d=b''\nwhile True:\n  b=s.recv(65536)\n  if not b: break\n  d+=b\nprint(d.decode('utf-8','replace'))"
        ),
    )
}

fn scrape(ns: &str) -> String {
    raw(ns, "b'GET /metrics HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'")
}

/// A sample's value on a page: the line that starts with `series`.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines().find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))?.rsplit(' ').next()?.parse().ok()
}

/// What Prometheus answers to an instant query: each series' value (none
/// while it is not answering yet: on a loaded machine it takes seconds to
/// start listening).
fn query(ns: &str, q: &str) -> Vec<f64> {
    let out = py_or_why(
        ns,
        &format!(
            "import json,urllib.request,urllib.parse\n\
             u='http://192.0.2.1:9090/api/v1/query?query='+urllib.parse.quote({q:?})\n\
             r=json.load(urllib.request.urlopen(u,timeout=5))\n\
             print(' '.join(x['value'][1] for x in r['data']['result']))"
        ),
    )
    .unwrap_or_default();
    out.split_whitespace().filter_map(|v| v.parse().ok()).collect()
}

fn prometheus(ns: &str, dir: &std::path::Path) -> Child {
    let conf = dir.join("prometheus.yml");
    std::fs::write(
        &conf,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: vigil\n    static_configs:\n      - targets: ['{ENDPOINT}']\n"
        ),
    )
    .unwrap();
    let data = dir.join("prometheus-data");
    let _ = std::fs::remove_dir_all(&data);
    Command::new("ip")
        .args(["netns", "exec", ns, "prometheus"])
        .arg(format!("--config.file={}", conf.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--web.listen-address=192.0.2.1:9090")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(dir.join("prometheus.log")).unwrap()))
        .spawn()
        .unwrap()
}

#[test]
fn prometheus_scrapes_what_happens_and_hostile_clients_are_refused() {
    if !require(is_root(), "root (network namespaces)")
        || !require(have_program("prometheus"), "prometheus (apt-get install prometheus)")
        || !require(have_program("promtool"), "promtool (apt-get install prometheus)")
        || !require(have_program("python3"), "python3")
    {
        return;
    }
    let dir = vigil_tests::test_dir("metrics");
    let (srv, vg) = (Netns::fresh("mx-srv"), Netns::fresh("mx-vg"));
    veth((&srv, "mx-a", "192.0.2.1/24"), (&vg, "mx-b", "192.0.2.2/24"));
    // The backend the TCP_CHECK follows.
    let backend = KillOnDrop(
        Command::new("ip")
            .args(["netns", "exec", &srv, "python3", "-c"])
            .arg("import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('192.0.2.1',81))\ns.listen(50)\nwhile True:\n  c,_=s.accept(); c.close()")
            .spawn()
            .unwrap(),
    );
    let healthy = dir.join("healthy");
    std::fs::write(&healthy, "").unwrap();
    let conf = dir.join("vigil.conf");
    std::fs::write(
        &conf,
        format!(
            "vigil_defs {{\n metrics_listen {ENDPOINT}\n}}\n\
             vrrp_script chk {{\n script \"/usr/bin/test -e {h}\"\n interval 1\n weight -50\n}}\n\
             vrrp_instance VI_1 {{\n state MASTER\n interface mx-b\n virtual_router_id 9\n priority 200\n advert_int 1\n\
             virtual_ipaddress {{\n  192.0.2.100/24\n }}\n track_script {{\n  chk\n }}\n}}\n\
             virtual_server 192.0.2.100 80 {{\n delay_loop 1\n protocol TCP\n real_server 192.0.2.1 81 {{\n  TCP_CHECK {{\n   connect_timeout 1\n  }}\n }}\n}}\n",
            h = healthy.display()
        ),
    )
    .unwrap();
    let log = dir.join("vigil.log");
    let _vigil = KillOnDrop(spawn_vigil(&vg, &conf, &log));
    wait_log(&log, 0, &format!("metrics: serving http://{ENDPOINT}/metrics"));
    // Master after its master-down interval (~3 s), as the log says.
    wait_log(&log, 0, "vrrp_instance VI_1: BACKUP -> MASTER");

    // The page as a scraper gets it, and promtool's lint of it.
    let answer = scrape(&srv);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4"), "{answer}");
    let page = answer.split("\r\n\r\n").nth(1).unwrap().to_string();
    std::fs::write(dir.join("page.txt"), &page).unwrap();
    let lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(dir.join("page.txt")).unwrap())
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    assert_eq!(
        value(&page, "keepalived_vrrp_state{iname=\"VI_1\",intf=\"mx-b\",vrid=\"9\",ip_address=\"192.0.2.100\"}"),
        Some(2.0)
    );
    assert_eq!(value(&page, "keepalived_script_status{name=\"chk\"}"), Some(1.0));
    assert_eq!(value(&page, "vigil_child_up{child=\"checkers\"}"), Some(1.0));

    // Prometheus scrapes it, and sees what happens.
    let _prom = KillOnDrop(prometheus(&srv, &dir));
    let seen = |q: &str, want: f64| {
        let mut last = Vec::new();
        let ok = eventually(Duration::from_secs(60), || {
            last = query(&srv, q);
            last == [want]
        });
        assert!(
            ok.is_some(),
            "Prometheus: {q} = {last:?}, not [{want}]\n{}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
    };
    seen("up{job=\"vigil\"}", 1.0);
    seen("keepalived_vrrp_state{ip_address=\"192.0.2.100\"}", 2.0);
    seen("vigil_real_server_up{real_server=\"192.0.2.1:81\"}", 1.0);
    seen("vigil_vrrp_effective_priority{iname=\"VI_1\"}", 200.0);
    // The tracked script fails: 200 - 50; the backend goes: out.
    std::fs::remove_file(&healthy).unwrap();
    seen("keepalived_script_status{name=\"chk\"}", 0.0);
    seen("vigil_vrrp_effective_priority{iname=\"VI_1\"}", 150.0);
    drop(backend);
    seen("vigil_real_server_up{real_server=\"192.0.2.1:81\"}", 0.0);
    seen("vigil_checker_failures_total{checker=\"TCP_CHECK\"} > bool 0", 1.0);
    let sent_before = value(
        &scrape(&srv),
        "keepalived_advertisements_sent_total{iname=\"VI_1\",intf=\"mx-b\",vrid=\"9\",state=\"MASTER\"}",
    )
    .unwrap();

    // Hostile clients: each refused with its status.
    let status = |a: &str| a.lines().next().unwrap_or_default().to_string();
    assert_eq!(
        status(&raw(&srv, "b'POST /metrics HTTP/1.1\\r\\nContent-Length: 0\\r\\n\\r\\n'")),
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert_eq!(status(&raw(&srv, "b'GET /admin HTTP/1.1\\r\\n\\r\\n'")), "HTTP/1.1 404 Not Found");
    assert_eq!(
        status(&raw(&srv, "b'\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03'")),
        "HTTP/1.1 400 Bad Request"
    );
    assert_eq!(
        status(&raw(&srv, "b'GET /metrics HTTP/1.1\\r\\nX: ' + b'a'*20000 + b'\\r\\n\\r\\n'")),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    // Eight clients that send nothing hold every slot: the ninth is told
    // 503 at once; the eight get 408 after the read timeout (5 s).
    let held = py(
        &srv,
        "import socket,time\n\
         idle=[socket.create_connection(('192.0.2.2',9650),timeout=10) for _ in range(8)]\n\
         time.sleep(0.5)\n\
         t=time.time(); s=socket.create_connection(('192.0.2.2',9650),timeout=10)\n\
         print(s.recv(100).split(b'\\r\\n')[0].decode(), round(time.time()-t,2))\n\
         for c in idle:\n  print(c.recv(100).split(b'\\r\\n')[0].decode(), round(time.time()-t,1))",
    );
    let lines: Vec<&str> = held.lines().collect();
    assert!(lines[0].starts_with("HTTP/1.1 503 Service Unavailable "), "{held}");
    let busy_s: f64 = lines[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(busy_s < 1.0, "the ninth waited {busy_s} s: {held}");
    assert_eq!(lines.len(), 9, "{held}");
    for l in &lines[1..] {
        assert!(l.starts_with("HTTP/1.1 408 Request Timeout "), "{held}");
        let s: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((4.0..7.0).contains(&s), "timed out after {s} s: {held}");
    }
    // A slot freed, a scrape is answered; every refusal was counted (busy:
    // the ninth client, and Prometheus's scrapes while the eight held on).
    let page = scrape(&srv);
    let refused = |r: &str| value(&page, &format!("vigil_metrics_refused_total{{reason=\"{r}\"}}")).unwrap_or(-1.0);
    assert_eq!(
        [refused("method"), refused("not_found"), refused("bad_request"), refused("too_large"), refused("timeout")],
        [1.0, 1.0, 1.0, 1.0, 8.0],
        "{page}"
    );
    assert!(refused("busy") >= 1.0, "{page}");
    // VRRP went on meanwhile: still master, an advert a second.
    let sent_after =
        value(&page, "keepalived_advertisements_sent_total{iname=\"VI_1\",intf=\"mx-b\",vrid=\"9\",state=\"MASTER\"}")
            .unwrap();
    assert!(sent_after - sent_before >= 5.0, "adverts sent {sent_before} -> {sent_after}");
}
