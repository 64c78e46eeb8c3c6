//! End to end in QEMU: a vigil load balancer, two backends and a client on
//! one switch. The backends run the tests' own /init (tests/server: HTTP,
//! SMTP and DNS responders; direct routing with the VIPs on lo). The web
//! service is a `virtual_server_group` (a range of three addresses and a
//! firewall mark; beside it an IPv6 range): every member is an IPVS service
//! of its own with the same real servers, each checked once. The client
//! asks the range's last address for `/` ten times a second. Requests are
//! spread round-robin; backend 2 is killed and leaves every pool in
//! /proc/net/ip_vs once its checks fail `retry` times, while the client's
//! requests keep succeeding on backend 1; it comes back when the backend
//! does. A line taken out of the group at the console takes its service
//! out, and only it. The client also scrapes vigil's metrics endpoint
//! through the switch: the kernel's IPVS table as the metrics see it
//! (weights, connections) follows the same events.

use std::time::Duration;
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

const CMD: Duration = Duration::from_secs(30);
/// The addresses the backends take as theirs (direct routing).
const VIPS: &str = "10.0.0.100,10.0.0.101,10.0.0.102";

fn conf() -> String {
    let rs = |ip: &str, port: u16, check: &str| {
        format!(
            "  real_server {ip} {port} {{\n    weight 1\n    {check} {{\n      connect_timeout 1\n      retry 2\n      delay_before_retry 1\n{}    }}\n  }}\n",
            if check == "HTTP_GET" {
                "      url {\n        path /\n        status_code 200\n      }\n"
            } else if check == "DNS_CHECK" {
                "      name www.example.test\n"
            } else {
                ""
            }
        )
    };
    let vs = |head: &str, port: u16, proto: &str, check: &str| {
        format!(
            "virtual_server {head} {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind DR\n  protocol {proto}\n{}{}}}\n",
            rs("10.0.0.11", port, check),
            rs("10.0.0.12", port, check)
        )
    };
    format!(
        "vigil_defs {{\n  metrics_listen 10.0.0.1:9650\n}}\n\
         interface eth0 {{\n  address 10.0.0.1/24 10.0.0.100/24 10.0.0.101/24 10.0.0.102/24\n}}\n\
         virtual_server_group WEB {{\n  10.0.0.100-102 80\n  fwmark 7\n}}\n\
         virtual_server_group WEB6 {{\n  2001:db8::100-102 80\n}}\n\
         virtual_server group WEB6 {{\n  lb_kind DR\n  protocol TCP\n  real_server 2001:db8::11 80 {{\n  }}\n}}\n{}{}{}",
        vs("group WEB", 80, "TCP", "HTTP_GET"),
        vs("10.0.0.100 25", 25, "TCP", "SMTP_CHECK"),
        vs("10.0.0.100 53", 53, "UDP", "DNS_CHECK")
    )
}

/// The services in the kernel's /proc/net/ip_vs.
fn services_in_proc(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("TCP ") || l.starts_with("UDP ") || l.starts_with("FWM "))
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

/// Destinations per service in the kernel's /proc/net/ip_vs.
fn backends_in_proc(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("-> "))
        .filter(|l| !l.starts_with("RemoteAddress"))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

/// Client lines after console offset `from`: (n, Some(backend) | None).
fn client_lines(text: &str) -> Vec<(u64, Option<String>)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("client: ")?;
            let mut w = rest.split_whitespace();
            let n = w.next()?.parse().ok()?;
            match w.next()? {
                "ok" => Some((n, w.nth(1).map(str::to_string))),
                _ => Some((n, None)),
            }
        })
        .collect()
}

/// Per metric family: its series count and the sum of their values.
type Families = std::collections::BTreeMap<String, (usize, f64)>;

/// The last whole scrape in the client's console: its number, and its families.
fn last_scrape(text: &str) -> Option<(u64, Families)> {
    let lines: Vec<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("scrape: ")).collect();
    let end = lines.iter().rposition(|l| l.ends_with(" end"))?;
    let n: u64 = lines[end].split(' ').next()?.parse().ok()?;
    let families = lines[..end]
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            match w[..] {
                [m, name, count, sum] if m.parse() == Ok(n) => {
                    Some((name.to_string(), (count.parse().ok()?, sum.parse().ok()?)))
                }
                _ => None,
            }
        })
        .collect();
    Some((n, families))
}

/// Waits for a scrape in which `ok` holds; its families.
fn scrape_where(c: &mut Cluster, client: usize, what: &str, ok: impl Fn(&Families) -> bool) -> Families {
    let mut last = None;
    let got = vigil_tests::eventually(Duration::from_secs(60), || {
        last = last_scrape(&c.node(client).console_text());
        last.as_ref().is_some_and(|(_, f)| ok(f))
    });
    assert!(got.is_some(), "no scrape where {what}: {last:?}");
    last.map(|l| l.1).unwrap_or_default()
}

/// Waits for `count` client lines numbered above `mark`, and returns them.
fn next_client_lines(c: &mut Cluster, client: usize, mark: u64, count: usize) -> Vec<(u64, Option<String>)> {
    let mut after = Vec::new();
    let got = vigil_tests::eventually(Duration::from_secs(60), || {
        after = client_lines(&c.node(client).console_text()).into_iter().filter(|l| l.0 > mark).collect();
        after.len() >= count
    });
    assert!(got.is_some(), "the client stalled: {after:?}");
    after
}

#[test]
fn checkers_take_a_dead_backend_out_and_put_it_back() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let lb_img = vigil_tests::image("qemu-x86_64");
    let ts_img = vigil_tests::test_server_image("qemu-x86_64");
    let mut c = Cluster::empty("qemu-lb").unwrap();
    let flash = vigil_tests::flash_image("qemu-x86_64", &c.dir);
    let lb = c.add(&lb_img, |s| s.flash = Some(flash.clone())).unwrap();
    let b1 =
        c.add(&ts_img, |s| s.extra_cmdline = format!("vigil.name=b1 vigil.ip=10.0.0.11/24 vigil.vip={VIPS}")).unwrap();
    let b2 =
        c.add(&ts_img, |s| s.extra_cmdline = format!("vigil.name=b2 vigil.ip=10.0.0.12/24 vigil.vip={VIPS}")).unwrap();
    c.node(lb).wait_ready(BOOT_TIMEOUT).unwrap();
    c.node(b1).expect("test-server: b1 ready", BOOT_TIMEOUT).unwrap();
    c.node(b2).expect("test-server: b2 ready", BOOT_TIMEOUT).unwrap();

    let n = c.node(lb);
    vigil_tests::load_keepalived(n, &conf());
    let out = n.command("commit", CMD).unwrap();
    assert!(out.contains("written and applied"), "{out}");
    let proc_text = n.command("show ipvs-kernel", CMD).unwrap();
    // The group's three addresses (0A000064..66 is 10.0.0.100..102) and
    // its mark, the IPv6 range, SMTP and DNS.
    let mut services = services_in_proc(&proc_text);
    services.sort();
    assert_eq!(
        services,
        [
            "FWM 00000007",
            "TCP 0A000064:0019",
            "TCP 0A000064:0050",
            "TCP 0A000065:0050",
            "TCP 0A000066:0050",
            "TCP [2001:0db8:0000:0000:0000:0000:0000:0100]:0050",
            "TCP [2001:0db8:0000:0000:0000:0000:0000:0101]:0050",
            "TCP [2001:0db8:0000:0000:0000:0000:0000:0102]:0050",
            "UDP 0A000064:0035",
        ],
        "{proc_text}"
    );
    // Four web services x 2 backends, SMTP and DNS x 2, IPv6 3 x 1.
    assert_eq!(backends_in_proc(&proc_text).len(), 15, "{proc_text}");

    let client = c
        .add(&ts_img, |s| {
            s.extra_cmdline = "vigil.ip=10.0.0.50/24 vigil.client=10.0.0.102:80 vigil.scrape=10.0.0.1:9650".into()
        })
        .unwrap();
    c.node(client).expect("test-server: client ready", BOOT_TIMEOUT).unwrap();
    let seen = next_client_lines(&mut c, client, 0, 20);
    let ok: Vec<&String> = seen.iter().filter_map(|(_, b)| b.as_ref()).collect();
    assert!(ok.len() >= 18, "the VIP answers: {seen:?}");
    let alternations = ok.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(ok.iter().any(|b| *b == "b1") && ok.iter().any(|b| *b == "b2"), "both backends serve: {ok:?}");
    assert!(alternations * 10 >= (ok.len() - 1) * 8, "round-robin: {ok:?}");
    // Each real server is checked once, not once per service of its group.
    let out = c.node(lb).command("show checkers", CMD).unwrap();
    assert_eq!(out.matches(": up (probes").count(), 6, "{out}");
    // The metrics through the switch: the kernel's table read (15 real
    // servers of weight 1), the client's connections counted on the range's
    // last address, every check up.
    let f = scrape_where(&mut c, client, "15 backends and connections counted", |f| {
        f.get("node_ipvs_backend_weight") == Some(&(15, 15.0))
            && f.get("vigil_ipvs_service_connections_total").is_some_and(|s| s.1 >= 10.0)
    });
    assert_eq!(f.get("vigil_ipvs_up"), Some(&(1, 1.0)), "{f:?}");
    assert_eq!(f.get("vigil_checker_up"), Some(&(6, 6.0)), "{f:?}");
    assert_eq!(f.get("vigil_real_server_up"), Some(&(6, 6.0)), "{f:?}");
    assert!(f.get("node_ipvs_connections_total").is_some_and(|t| t.1 >= 10.0), "{f:?}");
    assert!(f.get("vigil_ipvs_backend_incoming_bytes_total").is_some_and(|t| t.1 > 0.0), "{f:?}");

    // Backend 2 dies.
    c.node(b2).kill();
    let mut text = String::new();
    let removed = vigil_tests::eventually(Duration::from_secs(30), || {
        text = c.node(lb).command("show ipvs-kernel", CMD).unwrap();
        !backends_in_proc(&text).iter().any(|d| d.starts_with("0A00000C"))
    })
    .unwrap_or_else(|| panic!("b2 never left the pools:\n{text}"));
    assert_eq!(backends_in_proc(&text).len(), 9, "b1 stays in every service:\n{text}");
    // delay_loop 1 s x retry 2, plus connect timeouts (1 s each) and TCG.
    eprintln!("backend killed -> out of /proc/net/ip_vs after {removed:?}");
    let out = c.node(lb).command("show checkers", CMD).unwrap();
    assert!(out.contains("HTTP_GET 10.0.0.12:80: DOWN"), "{out}");
    let f =
        scrape_where(&mut c, client, "b2 out of the table", |f| f.get("node_ipvs_backend_weight") == Some(&(9, 9.0)));
    assert_eq!(f.get("vigil_real_server_up"), Some(&(6, 3.0)), "{f:?}");
    // From the request after the one in flight when b2 left the pools.
    let mark = client_lines(&c.node(client).console_text()).last().map_or(0, |l| l.0) + 1;
    let after = next_client_lines(&mut c, client, mark, 20);
    assert!(after.iter().all(|l| l.1.as_deref() == Some("b1")), "every request succeeds, on b1: {after:?}");

    // Backend 2 returns.
    c.restart(b2, &ts_img).unwrap();
    c.node(b2).expect("test-server: b2 ready", BOOT_TIMEOUT).unwrap();
    let back = vigil_tests::eventually(Duration::from_secs(30), || {
        text = c.node(lb).command("show ipvs-kernel", CMD).unwrap();
        backends_in_proc(&text).len() == 15
    })
    .unwrap_or_else(|| panic!("b2 never came back:\n{text}"));
    eprintln!("backend back -> in /proc/net/ip_vs after {back:?}");
    let mark = client_lines(&c.node(client).console_text()).last().map_or(0, |l| l.0) + 1;
    let after = next_client_lines(&mut c, client, mark, 20);
    assert!(after.iter().all(|l| l.1.is_some()), "every request succeeds: {after:?}");
    assert!(after.iter().any(|l| l.1.as_deref() == Some("b2")), "b2 serves again: {after:?}");

    // A group's line removed at the console: its service goes, the others
    // keep their real servers.
    let n = c.node(lb);
    n.command("delete virtual_server_group WEB fwmark 7", CMD).unwrap();
    let out = n.command("commit", CMD).unwrap();
    assert!(out.contains("written and applied"), "{out}");
    let text = n.command("show ipvs-kernel", CMD).unwrap();
    let services = services_in_proc(&text);
    assert!(services.len() == 8 && !services.iter().any(|s| s.starts_with("FWM")), "{text}");
    assert_eq!(backends_in_proc(&text).len(), 13, "{text}");

    // As vigil stops, the services it made go, as keepalived's do.
    n.send_line("poweroff now").unwrap();
    n.expect("ipvs: 8 virtual services removed as vigil stops", CMD).unwrap();
    n.expect("reboot: Power down", CMD).unwrap();
}
