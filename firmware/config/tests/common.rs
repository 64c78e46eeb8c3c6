//! Configs the tests share.

use std::net::SocketAddr;
use vigil_config::*;

pub fn s<const N: usize>(v: &str) -> heapless::String<N> {
    heapless::String::try_from(v).expect("fits")
}

/// A typical master: one interface, one VRRP instance, one virtual server.
pub fn sample() -> Config {
    let mut c = Config::default();
    c.global.router_id = s("LVS_A");
    let mut eth0 = Interface { name: s("eth0"), multicast: true, ..Default::default() };
    eth0.addresses.push("172.16.42.2/24".parse().unwrap()).unwrap();
    c.interfaces.push(eth0).unwrap();
    let mut vi = VrrpInstance::new("VI_1").unwrap();
    vi.interface = s("eth0");
    vi.virtual_router_id = 51;
    vi.priority = 150;
    vi.state = VrrpState::Master;
    vi.virtual_ipaddress
        .push(VirtualAddress {
            brd: Some("172.16.42.255".parse().unwrap()),
            label: Some(s("eth0:0")),
            ..VirtualAddress::new("172.16.42.111/24".parse().unwrap())
        })
        .unwrap();
    c.vrrp_instances.push(vi).unwrap();
    let mut vs = VirtualServer::new(VirtualKey::Address("172.16.42.111:80".parse().unwrap()));
    vs.lb_algo = Scheduler::Rr;
    vs.delay_loop_s = 6;
    let mut rs = RealServer::new("172.16.42.10:80".parse::<SocketAddr>().unwrap());
    let mut http = HttpCheck::default();
    http.urls.push(Url { path: s("/health"), status_code: Bounded::new(), digest: None, regex: None }).unwrap();
    rs.checkers.push(Checker::new(CheckKind::Http(Box::new(http)))).unwrap();
    vs.real_servers.push(rs).unwrap();
    c.virtual_servers.push(vs).unwrap();
    c
}
