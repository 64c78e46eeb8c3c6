//! Applying the config's interfaces to the kernel: VLAN links, MTU, the
//! multicast flag and addresses. Planning is pure (previous config, next
//! config and what the kernel holds in, steps out); the steps run over
//! rtnetlink. vigil only removes what an earlier config of its own added:
//! addresses and VLANs set up by someone else are left alone.

use crate::net::Rtnl;
use std::collections::BTreeMap;
use std::net::IpAddr;
use vigil_config::{Config, IpNet};

/// What the kernel holds for one link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    pub index: i32,
    pub mtu: u32,
    pub multicast: bool,
    /// Administratively up (IFF_UP).
    pub up: bool,
    pub addresses: Vec<(IpAddr, u8)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    DeleteLink {
        name: String,
    },
    CreateVlan {
        parent: String,
        name: String,
        id: u16,
    },
    SetMtu {
        name: String,
        mtu: u16,
    },
    SetMulticast {
        name: String,
        on: bool,
    },
    /// A link the config names is brought up (one the board does not list,
    /// a second NIC, is down until then).
    SetUp {
        name: String,
    },
    DelAddr {
        name: String,
        net: IpNet,
    },
    AddAddr {
        name: String,
        net: IpNet,
    },
}

impl Step {
    /// What the step does, in the operator's words: `adding 192.0.2.2/24 on
    /// eth0` (the log says it in the past tense once done).
    pub fn doing(&self) -> String {
        match self {
            Step::DeleteLink { name } => format!("removing {name}"),
            Step::CreateVlan { parent, name, id } => format!("creating VLAN {name} (id {id} on {parent})"),
            Step::SetMtu { name, mtu } => format!("setting MTU {mtu} on {name}"),
            Step::SetMulticast { name, on } => {
                format!("turning multicast {} on {name}", if *on { "on" } else { "off" })
            }
            Step::SetUp { name } => format!("bringing {name} up"),
            Step::DelAddr { name, net } => format!("removing {net} from {name}"),
            Step::AddAddr { name, net } => format!("adding {net} on {name}"),
        }
    }

    /// The same, done.
    pub fn done(&self) -> String {
        match self {
            Step::DeleteLink { name } => format!("removed {name}"),
            Step::CreateVlan { parent, name, id } => format!("created VLAN {name} (id {id} on {parent})"),
            Step::SetMtu { name, mtu } => format!("set MTU {mtu} on {name}"),
            Step::SetMulticast { name, on } => format!("turned multicast {} on {name}", if *on { "on" } else { "off" }),
            Step::SetUp { name } => format!("brought {name} up"),
            Step::DelAddr { name, net } => format!("removed {net} from {name}"),
            Step::AddAddr { name, net } => format!("added {net} on {name}"),
        }
    }
}

/// One link the config describes.
struct Wanted {
    name: String,
    /// For a VLAN: its parent interface and id.
    vlan: Option<(String, u16)>,
    mtu: Option<u16>,
    multicast: bool,
    addrs: Vec<IpNet>,
}

fn links(c: &Config) -> Vec<Wanted> {
    let mut out = Vec::new();
    for i in &c.interfaces {
        out.push(Wanted {
            name: i.name.to_string(),
            vlan: None,
            mtu: i.mtu,
            multicast: i.multicast,
            addrs: i.addresses.to_vec(),
        });
        for v in &i.vlans {
            out.push(Wanted {
                name: format!("{}.{}", i.name, v.id),
                vlan: Some((i.name.to_string(), v.id)),
                mtu: None,
                multicast: i.multicast,
                addrs: v.addresses.to_vec(),
            });
        }
    }
    out
}

/// The steps from `kernel` (as `previous` left it) to `next`. Removals come
/// first: deleting a subnet's primary address also deletes its secondaries.
pub fn plan(previous: &Config, next: &Config, kernel: &BTreeMap<String, LinkState>) -> Vec<Step> {
    let (prev, want) = (links(previous), links(next));
    let mut removals = Vec::new();
    let mut additions = Vec::new();
    for Wanted { name, vlan, addrs, .. } in &prev {
        let still = want.iter().find(|w| &w.name == name);
        if vlan.is_some() && still.is_none() {
            if kernel.contains_key(name) {
                removals.push(Step::DeleteLink { name: name.clone() });
            }
            continue;
        }
        let keep: &[IpNet] = still.map_or(&[], |w| &w.addrs);
        let present = kernel.get(name).map(|k| k.addresses.as_slice()).unwrap_or(&[]);
        for a in addrs {
            if !keep.contains(a) && present.contains(&(a.addr, a.prefix)) {
                removals.push(Step::DelAddr { name: name.clone(), net: *a });
            }
        }
    }
    for Wanted { name, vlan, mtu, multicast, addrs } in &want {
        let k = kernel.get(name);
        if let (None, Some((p, id))) = (k, vlan) {
            additions.push(Step::CreateVlan { parent: p.clone(), name: name.clone(), id: *id });
        }
        if let Some(m) = mtu
            && k.is_none_or(|k| k.mtu != u32::from(*m))
        {
            additions.push(Step::SetMtu { name: name.clone(), mtu: *m });
        }
        if k.is_none_or(|k| k.multicast != *multicast) {
            additions.push(Step::SetMulticast { name: name.clone(), on: *multicast });
        }
        // A VLAN is created up.
        if vlan.is_none() && k.is_some_and(|k| !k.up) {
            additions.push(Step::SetUp { name: name.clone() });
        }
        let present = k.map(|k| k.addresses.as_slice()).unwrap_or(&[]);
        for a in addrs {
            if !present.contains(&(a.addr, a.prefix)) {
                additions.push(Step::AddAddr { name: name.clone(), net: *a });
            }
        }
    }
    removals.extend(additions);
    removals
}

/// Reads what the kernel holds, plans, and applies. Returns the problems
/// (each naming its interface); the other steps still run.
pub fn apply(previous: &Config, next: &Config) -> Vec<String> {
    let mut rtnl = match Rtnl::open() {
        Ok(r) => r,
        Err(e) => return vec![format!("rtnetlink: {e}")],
    };
    let kernel = match read_kernel(&mut rtnl) {
        Ok(k) => k,
        Err(e) => return vec![format!("rtnetlink: {e}")],
    };
    let mut problems = Vec::new();
    for step in plan(previous, next, &kernel) {
        if let Err(e) = run(&mut rtnl, &step) {
            problems.push(format!("{}: {e}", step.doing()));
        } else {
            tracing::info!("interfaces: {}", step.done());
        }
    }
    problems
}

fn read_kernel(rtnl: &mut Rtnl) -> std::io::Result<BTreeMap<String, LinkState>> {
    let mut out = BTreeMap::new();
    let all = rtnl.all_addresses()?;
    for l in rtnl.links()? {
        let addresses = all.iter().filter(|a| a.0 == l.index).map(|&(_, ip, p)| (ip, p)).collect();
        out.insert(
            l.name.clone(),
            LinkState { index: l.index, mtu: l.mtu, multicast: l.is_multicast(), up: l.is_up(), addresses },
        );
    }
    Ok(out)
}

fn index(rtnl: &mut Rtnl, name: &str) -> std::io::Result<i32> {
    rtnl.links()?
        .into_iter()
        .find(|l| l.name == name)
        .map(|l| l.index)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("no interface {name}")))
}

fn run(rtnl: &mut Rtnl, step: &Step) -> std::io::Result<()> {
    let up_mc = (libc::IFF_UP | libc::IFF_MULTICAST) as u32;
    match step {
        Step::DeleteLink { name } => {
            let i = index(rtnl, name)?;
            rtnl.delete_link(i)
        }
        Step::CreateVlan { parent, name, id } => {
            let p = index(rtnl, parent)?;
            rtnl.add_vlan(p, name, *id)?;
            let i = index(rtnl, name)?;
            rtnl.set_flags(i, up_mc, up_mc)
        }
        Step::SetMtu { name, mtu } => {
            let i = index(rtnl, name)?;
            rtnl.set_mtu(i, u32::from(*mtu))
        }
        Step::SetUp { name } => {
            let i = index(rtnl, name)?;
            let up = libc::IFF_UP as u32;
            rtnl.set_flags(i, up, up)
        }
        Step::SetMulticast { name, on } => {
            let i = index(rtnl, name)?;
            let mc = libc::IFF_MULTICAST as u32;
            rtnl.set_flags(i, if *on { mc } else { 0 }, mc)
        }
        Step::DelAddr { name, net } => {
            let i = index(rtnl, name)?;
            rtnl.change_address(i, net.addr, net.prefix, false)
        }
        Step::AddAddr { name, net } => {
            let i = index(rtnl, name)?;
            rtnl.change_address(i, net.addr, net.prefix, true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_config::keepalived::import_str;

    fn cfg(text: &str) -> Config {
        let i = import_str("t", text).unwrap();
        assert_eq!(i.errors().count(), 0);
        i.config
    }

    fn kernel(links: &[(&str, &[&str])]) -> BTreeMap<String, LinkState> {
        links
            .iter()
            .enumerate()
            .map(|(n, (name, addrs))| {
                let addresses = addrs
                    .iter()
                    .map(|a| {
                        let net: IpNet = a.parse().unwrap();
                        (net.addr, net.prefix)
                    })
                    .collect();
                (name.to_string(), LinkState { index: n as i32 + 1, mtu: 1500, multicast: true, up: true, addresses })
            })
            .collect()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn first_apply_creates_what_is_missing() {
        let next =
            cfg("interface eth0 {\n address 192.0.2.2/24\n mtu 1400\n vlan 10 {\n address 198.51.100.2/24\n }\n}\n");
        let k = kernel(&[("lo", &["127.0.0.1/8"]), ("eth0", &[])]);
        assert_eq!(
            plan(&Config::default(), &next, &k),
            [
                Step::SetMtu { name: "eth0".into(), mtu: 1400 },
                Step::AddAddr { name: "eth0".into(), net: net("192.0.2.2/24") },
                Step::CreateVlan { parent: "eth0".into(), name: "eth0.10".into(), id: 10 },
                Step::SetMulticast { name: "eth0.10".into(), on: true },
                Step::AddAddr { name: "eth0.10".into(), net: net("198.51.100.2/24") },
            ]
        );
    }

    #[test]
    fn changes_remove_before_adding_and_leave_foreign_addresses() {
        let prev = cfg("interface eth0 {\n address 192.0.2.2/24\n vlan 10 {\n }\n}\n");
        let next = cfg("interface eth0 {\n address 192.0.2.3/24\n}\n");
        // 203.0.113.9 was added by someone else: vigil leaves it.
        let k = kernel(&[("eth0", &["192.0.2.2/24", "203.0.113.9/24"]), ("eth0.10", &[])]);
        assert_eq!(
            plan(&prev, &next, &k),
            [
                Step::DelAddr { name: "eth0".into(), net: net("192.0.2.2/24") },
                Step::DeleteLink { name: "eth0.10".into() },
                Step::AddAddr { name: "eth0".into(), net: net("192.0.2.3/24") },
            ]
        );
        // Applying again changes nothing.
        let k = kernel(&[("eth0", &["192.0.2.3/24", "203.0.113.9/24"])]);
        assert_eq!(plan(&next, &next, &k), []);
    }

    #[test]
    fn a_link_the_config_names_is_brought_up() {
        let next = cfg("interface eth1 {\n address 10.0.2.15/24\n}\n");
        let mut k = kernel(&[("eth0", &[]), ("eth1", &[])]);
        k.get_mut("eth1").unwrap().up = false;
        assert_eq!(
            plan(&Config::default(), &next, &k),
            [Step::SetUp { name: "eth1".into() }, Step::AddAddr { name: "eth1".into(), net: net("10.0.2.15/24") },]
        );
        assert_eq!(Step::SetUp { name: "eth1".into() }.done(), "brought eth1 up");
    }
}
