//! IPVS programmed over generic netlink inside a QEMU appliance (the host
//! kernel has no IPVS): a keepalived.conf with TCP, UDP/IPv6, persistent
//! (one with the SIP persistence engine), GUE-tunnelled (with checksums)
//! and fwmark virtual servers is loaded at the console and committed; the
//! table read back over netlink (`show ipvs`) and the kernel's own
//! /proc/net/ip_vs (`show ipvs-kernel`) both say exactly what the config
//! says. A reload changes a weight, adds a destination and removes a
//! service with exactly those three changes; a second commit of the same
//! config changes nothing.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use vigil_tests::{BOOT_TIMEOUT, Cluster, have_qemu};

const CMD: Duration = Duration::from_secs(30);

const FIRST: &str = "\
global_defs {
  lvs_timeouts tcp 7200 tcpfin 60 udp 120
}
virtual_server 192.0.2.10 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 10.0.0.2 80 {
    weight 1
  }
  real_server 10.0.0.3 80 {
    weight 2
  }
}
virtual_server 192.0.2.10 443 {
  lb_algo sh
  lb_kind DR
  protocol TCP
  persistence_timeout 300
  persistence_granularity 255.255.255.0
  real_server 10.0.0.2 443 {
    weight 1
  }
  real_server 10.0.0.5 443 {
    weight 1
    lvs_method TUN type gue port 6080 csum
    uthreshold 100
    lthreshold 10
  }
}
virtual_server fwmark 7 {
  lb_algo wlc
  lb_kind DR
  real_server 10.0.0.4 0 {
    weight 4
  }
}
virtual_server 192.0.2.10 5060 {
  lb_algo rr
  lb_kind DR
  protocol UDP
  persistence_timeout 60
  persistence_engine sip
  real_server 10.0.0.2 5060 {
    weight 1
  }
}
virtual_server 2001:db8::10 53 {
  lb_algo rr
  lb_kind DR
  protocol UDP
  real_server 2001:db8::2 53 {
    weight 3
  }
}
";

fn expected_first() -> BTreeSet<String> {
    [
        "SVC TCP 192.0.2.10:80 rr",
        "DEST TCP 192.0.2.10:80 -> 10.0.0.2:80 Masq 1",
        "DEST TCP 192.0.2.10:80 -> 10.0.0.3:80 Masq 2",
        "SVC TCP 192.0.2.10:443 sh persistent 300 mask 255.255.255.0",
        "DEST TCP 192.0.2.10:443 -> 10.0.0.2:443 Route 1",
        "DEST TCP 192.0.2.10:443 -> 10.0.0.5:443 Tunnel 1",
        "SVC UDP 192.0.2.10:5060 rr persistent 60",
        "DEST UDP 192.0.2.10:5060 -> 10.0.0.2:5060 Route 1",
        "SVC FWM 7 wlc",
        "DEST FWM 7 -> 10.0.0.4:0 Route 4",
        "SVC UDP [2001:db8::10]:53 rr",
        "DEST UDP [2001:db8::10]:53 -> [2001:db8::2]:53 Route 3",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// Reads `show ipvs` (ipvsadm -Ln layout) into canonical lines.
fn from_show(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut svc = String::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        match t.as_slice() {
            ["->", dest, fwd, weight, ..] if dest.contains(':') && *dest != "RemoteAddress:Port" => {
                out.insert(format!("DEST {svc} -> {} {fwd} {weight}", canon_sockaddr(dest)));
            }
            [proto @ ("TCP" | "UDP" | "SCTP"), addr, sched, rest @ ..] => {
                svc = format!("{proto} {}", canon_sockaddr(addr));
                out.insert(service_line(&svc, sched, rest));
            }
            ["FWM", mark, sched, rest @ ..] => {
                svc = format!("FWM {mark}");
                out.insert(service_line(&svc, sched, rest));
            }
            _ => {}
        }
    }
    out
}

/// The guest kernel's CONFIG_HZ: /proc/net/ip_vs prints persistence
/// timeouts in jiffies.
fn kernel_hz() -> u32 {
    let board = vigil_image::load_board("qemu-x86_64").unwrap();
    let tree = vigil_image::kernel::fetch(&board).unwrap();
    let config = std::fs::read_to_string(tree.root.join(format!("boot/config-{}", tree.release))).unwrap();
    config.lines().find_map(|l| l.strip_prefix("CONFIG_HZ=")?.parse().ok()).expect("CONFIG_HZ")
}

/// Reads the kernel's /proc/net/ip_vs (hex addresses and ports, timeouts
/// in jiffies) into the same canonical lines.
fn from_proc(text: &str) -> BTreeSet<String> {
    let hz = kernel_hz();
    let seconds = |rest: &[&str]| -> Vec<String> {
        match rest {
            ["persistent", j, mask, ..] => {
                let mut v = vec!["persistent".to_string(), (j.parse::<u32>().unwrap() / hz).to_string()];
                // The IPv4 mask in hex; all ones is the default ipvsadm leaves out.
                if let Ok(m) = u32::from_str_radix(mask, 16)
                    && m != u32::MAX
                {
                    v.extend(["mask".to_string(), Ipv4Addr::from(m).to_string()]);
                }
                v
            }
            _ => rest.iter().map(|s| s.to_string()).collect(),
        }
    };
    let mut out = BTreeSet::new();
    let mut svc = String::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        match t.as_slice() {
            ["->", dest, fwd, weight, ..] if *dest != "RemoteAddress:Port" => {
                out.insert(format!("DEST {svc} -> {} {fwd} {weight}", hex_sockaddr(dest)));
            }
            [proto @ ("TCP" | "UDP" | "SCTP"), addr, sched, rest @ ..] => {
                svc = format!("{proto} {}", hex_sockaddr(addr));
                let rest = seconds(rest);
                out.insert(service_line(&svc, sched, &rest.iter().map(String::as_str).collect::<Vec<_>>()));
            }
            ["FWM", mark, sched, rest @ ..] => {
                svc = format!("FWM {}", u32::from_str_radix(mark, 16).unwrap());
                let rest = seconds(rest);
                out.insert(service_line(&svc, sched, &rest.iter().map(String::as_str).collect::<Vec<_>>()));
            }
            _ => {}
        }
    }
    out
}

fn service_line(svc: &str, sched: &str, rest: &[&str]) -> String {
    match rest {
        ["persistent", t, "mask", m, ..] => format!("SVC {svc} {sched} persistent {t} mask {m}"),
        ["persistent", t, ..] => format!("SVC {svc} {sched} persistent {t}"),
        _ => format!("SVC {svc} {sched}"),
    }
}

fn canon_sockaddr(s: &str) -> String {
    s.parse::<SocketAddr>().map(|a| a.to_string()).unwrap_or_else(|_| s.to_string())
}

/// `C000020A:0050` or `[2001:0db8:...:0010]:0035`.
fn hex_sockaddr(s: &str) -> String {
    let (addr, port) = s.rsplit_once(':').unwrap();
    let port = u16::from_str_radix(port, 16).unwrap();
    let ip: IpAddr = match addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        Some(v6) => IpAddr::V6(v6.parse::<Ipv6Addr>().unwrap()),
        None => IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(addr, 16).unwrap())),
    };
    SocketAddr::new(ip, port).to_string()
}

#[test]
fn ipvs_matches_the_config_through_reloads() {
    if !have_qemu("qemu-x86_64") {
        return;
    }
    let mut c = Cluster::start("qemu-ipvs", "qemu-x86_64", 1).unwrap();
    let n = c.node(1);
    n.wait_ready(BOOT_TIMEOUT).unwrap();
    let out = n.command("show ipvs", CMD).unwrap();
    assert!(out.starts_with("IP Virtual Server version 1.2.1 (size=4096)"), "{out}");

    vigil_tests::load_keepalived(n, FIRST);
    let out = n.command("commit", CMD).unwrap();
    assert!(out.contains("written and applied"), "{out}");
    let console = n.console_text();
    assert!(console.contains("module ip_vs_sh loaded on demand"), "sh came from the image on demand");
    assert!(console.contains("module ip_vs_pe_sip loaded on demand"), "the SIP persistence engine, on demand");
    assert!(console.contains("ipvs: 12 of 12 changes applied"), "5 services, 7 destinations");
    let text = n.command("show ipvs", CMD).unwrap();
    assert!(text.contains("\nTimeout (tcp tcpfin udp): 7200 60 120"), "{text}");
    assert!(
        text.contains("Tunnel  1      0          0          uthreshold 100 lthreshold 10 tunnel gue port 6080 csum"),
        "{text}"
    );
    assert!(text.contains("UDP  192.0.2.10:5060 rr persistent 60 pe sip\n"), "{text}");
    let shown = from_show(&text);
    let kernel = from_proc(&n.command("show ipvs-kernel", CMD).unwrap());
    assert_eq!(shown, expected_first(), "netlink read-back");
    assert_eq!(kernel, expected_first(), "/proc/net/ip_vs");

    // Reload: a weight changes, a destination is added, a service goes.
    let second =
        FIRST.replace("real_server 10.0.0.3 80 {\n    weight 2", "real_server 10.0.0.3 80 {\n    weight 5").replace(
            "  real_server 10.0.0.2 80 {",
            "  real_server 10.0.0.9 80 {\n    weight 1\n  }\n  real_server 10.0.0.2 80 {",
        );
    let second = {
        let start = second.find("virtual_server 192.0.2.10 443").unwrap();
        let end = start + second[start..].find("\n}\n").unwrap() + 3;
        format!("{}{}", &second[..start], &second[end..])
    };
    vigil_tests::load_keepalived(n, &second);
    let mark = n.console_text().len();
    let out = n.command("commit", CMD).unwrap();
    assert!(out.contains("written and applied"), "{out}");
    let after = n.console_text()[mark..].to_string();
    assert!(after.contains("ipvs: 3 of 3 changes applied"), "only what changed: {after}");
    let mut want = expected_first();
    want.retain(|l| !l.contains(":443"));
    want.remove("DEST TCP 192.0.2.10:80 -> 10.0.0.3:80 Masq 2");
    want.insert("DEST TCP 192.0.2.10:80 -> 10.0.0.3:80 Masq 5".into());
    want.insert("DEST TCP 192.0.2.10:80 -> 10.0.0.9:80 Masq 1".into());
    assert_eq!(from_show(&n.command("show ipvs", CMD).unwrap()), want);
    assert_eq!(from_proc(&n.command("show ipvs-kernel", CMD).unwrap()), want);

    // The same config again: nothing to do.
    let mark = n.console_text().len();
    let out = n.command("commit", CMD).unwrap();
    assert!(out.contains("written and applied"), "{out}");
    assert!(!n.console_text()[mark..].contains("changes applied"), "a second apply changes nothing");
}
