//! A LAN of network namespaces: a bridge (`P-br`, with `br0`), two routers
//! (`P-r1`, `P-r2`, each `eth0` at 198.51.100.1 / .2) and a client (`P-c`,
//! 198.51.100.50), on bridge ports p1, p2 and pc. Cutting a router's port
//! (`nomaster`) keeps its carrier up: a split brain.

use crate::vrrp_pair::{Netns, ip};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const VIP: &str = "198.51.100.100";

/// A command's standard output.
pub fn out(args: &[&str]) -> String {
    String::from_utf8_lossy(&Command::new(args[0]).args(&args[1..]).output().unwrap().stdout).into_owned()
}

pub struct Lan {
    pub dir: std::path::PathBuf,
    pub children: Vec<Child>,
    /// Namespace names: bridge, router 1, router 2, client.
    pub br: String,
    pub r1: String,
    pub r2: String,
    pub c: String,
    /// Removed after the children are killed (fields drop after `drop`).
    _namespaces: Vec<Netns>,
}

impl Lan {
    /// Namespaces named after `p` (tests run in parallel).
    pub fn new(p: &str) -> Lan {
        let dir = crate::test_dir(&format!("vrrp-lan-{p}"));
        let (br, r1, r2, c) = (format!("{p}-br"), format!("{p}-r1"), format!("{p}-r2"), format!("{p}-c"));
        let namespaces = [&br, &r1, &r2, &c].into_iter().map(|n| Netns::fresh(n)).collect();
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &br, "link", "set", "br0", "up"]);
        for (i, ns) in [(1, &r1), (2, &r2), (50, &c)] {
            let port = if i == 50 { "pc".to_string() } else { format!("p{i}") };
            ip(&["link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", &port, "netns", &br]);
            ip(&["-n", &br, "link", "set", &port, "master", "br0"]);
            ip(&["-n", &br, "link", "set", &port, "up"]);
            ip(&["-n", ns, "addr", "add", &format!("198.51.100.{i}/24"), "dev", "eth0"]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
        }
        Lan { dir, children: Vec::new(), br, r1, r2, c, _namespaces: namespaces }
    }

    pub fn vigil(&mut self, ns: &str, priority: u8) -> usize {
        let conf = self.conf(ns, priority, "");
        let child = crate::vrrp_pair::spawn_vigil(ns, &conf, &self.dir.join(format!("{ns}.log")));
        self.children.push(child);
        self.children.len() - 1
    }

    /// One instance, VRID 7, v3 at 0.2 s, with `extra` lines.
    pub fn conf(&self, ns: &str, priority: u8, extra: &str) -> std::path::PathBuf {
        let conf = self.dir.join(format!("{ns}.conf"));
        let text = format!(
            "vrrp_instance VI_1 {{\n interface eth0\n version 3\n virtual_router_id 7\n priority {priority}\n advert_int 0.2\n{extra} virtual_ipaddress {{\n  {VIP}/24\n }}\n}}\n"
        );
        std::fs::write(&conf, text).unwrap();
        conf
    }

    /// Which routers (1, 2) hold the VIP.
    pub fn holders(&self) -> Vec<u8> {
        [(1u8, &self.r1), (2, &self.r2)]
            .into_iter()
            .filter(|(_, ns)| {
                let out = Command::new("ip").args(["-n", ns, "-4", "addr", "show", "eth0"]).output().unwrap();
                String::from_utf8_lossy(&out.stdout).contains(&format!("inet {VIP}/24"))
            })
            .map(|(n, _)| n)
            .collect()
    }

    pub fn wait_for(&self, want: &[u8], timeout: Duration) -> Duration {
        crate::eventually(timeout, || self.holders() == want)
            .unwrap_or_else(|| panic!("VIP holders {:?}, expected {want:?} within {timeout:?}", self.holders()))
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("ka.pid")) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).stderr(Stdio::null()).status();
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
