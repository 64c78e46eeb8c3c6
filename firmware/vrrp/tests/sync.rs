//! Sync groups on a simulated pair of nodes, each a [`Router`] with two
//! instances (VRID 1 outside on interface 2, VRID 2 inside on interface 3)
//! in one group: what a router transmits reaches the other router's same
//! interface, through the wire format. Explicit clock.

use std::net::IpAddr;
use std::time::{Duration, Instant};
use vigil_vrrp::instance::{Config, State};
use vigil_vrrp::router::{Action, Garp, Router, Spec};

struct Node {
    router: Router,
    /// The group's agreed states, as notified.
    notified: Vec<State>,
    /// Interfaces whose link is down.
    down: Vec<&'static str>,
    /// The two instances' states, from the state changes seen.
    states: [State; 2],
    names: Vec<(vigil_vrrp::router::Id, usize)>,
}

struct Pair {
    now: Instant,
    n: [Node; 2],
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn spec(vrid: u8, priority: u8, node: u8) -> Spec {
    let net = if vrid == 1 { 1 } else { 2 };
    Spec {
        name: if vrid == 1 { "OUT" } else { "IN" }.to_string(),
        ifname: if vrid == 1 { "eth0" } else { "eth1" }.to_string(),
        ifindex: if vrid == 1 { 2 } else { 3 },
        peers: Vec::new(),
        group: None,
        fault_no_peer: false,
        track_src: None,
        tracked_addresses: Vec::new(),
        track_primary: true,
        vrrp: Config {
            version: 3,
            vrid,
            priority,
            advert_int_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            addrs: vec![ip(&format!("10.0.{net}.100"))],
            primary: ip(&format!("10.0.{net}.{node}")),
            auth: None,
            garp_delay: Duration::from_secs(5),
            garp_refresh: None,
            garp_lower_prio_delay: Duration::ZERO,
            garp_extra: None,
            down_timer_adverts: 3,
            skip_check_adv_addr: false,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
        },
        garp: Garp { repeat: 1, refresh_repeat: 1, lower_prio_repeat: 1, interval: Duration::ZERO },
        track: Vec::new(),
        scripts: Vec::new(),
        files: Vec::new(),
    }
}

fn node(now: Instant) -> Node {
    Node {
        router: Router::new(now),
        notified: Vec::new(),
        down: Vec::new(),
        states: [State::Initialize; 2],
        names: Vec::new(),
    }
}

impl Pair {
    fn new(a: [u8; 2], b: [u8; 2]) -> Pair {
        let now = Instant::now();
        let mut p = Pair { now, n: [node(now), node(now)] };
        p.start(0, a);
        p.start(1, b);
        p
    }

    fn start(&mut self, n: usize, prio: [u8; 2]) {
        let now = self.now;
        let node = &mut self.n[n];
        let specs = vec![spec(1, prio[0], n as u8 + 2), spec(2, prio[1], n as u8 + 2)];
        let group = vec![vec!["OUT".to_string(), "IN".to_string()]];
        for (k, (id, _)) in node.router.configure(now, specs, &group, |_| false).into_iter().enumerate() {
            node.names.push((id, k));
        }
        self.drain();
    }

    /// Carries out actions until none are left: adverts to the other
    /// node's same interface, state changes and group notices recorded.
    fn drain(&mut self) {
        loop {
            let mut any = false;
            for n in 0..2 {
                while let Some(a) = self.n[n].router.poll_action() {
                    any = true;
                    match a {
                        Action::Transmit { id, dst: _, payload } => {
                            let v = self.n[n].router.get(id).unwrap();
                            let (ifindex, src) = (v.spec.ifindex, v.spec.vrrp.primary);
                            let now = self.now;
                            let _ = self.n[1 - n].router.handle_datagram(now, ifindex, src, 255, &payload);
                        }
                        Action::StateChange { id, to, .. } => {
                            let k = self.n[n].names.iter().find(|x| x.0 == id).unwrap().1;
                            self.n[n].states[k] = to;
                        }
                        Action::GroupState { to, .. } => self.n[n].notified.push(to),
                        _ => {}
                    }
                }
            }
            if !any {
                return;
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            match self.n.iter().filter_map(|n| n.router.poll_timeout()).min() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for n in &mut self.n {
                        if n.router.poll_timeout().is_some_and(|x| x <= self.now) {
                            n.router.handle_timeout(self.now);
                        }
                    }
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn states(&self, n: usize) -> [State; 2] {
        // What the router says agrees with what its actions said.
        let said: Vec<State> = self.n[n].router.instances().map(|v| v.state).collect();
        assert_eq!(said, self.n[n].states);
        self.n[n].states
    }

    fn link(&mut self, n: usize, i: usize, up: bool) {
        let now = self.now;
        let ifname = ["eth0", "eth1"][i];
        let node = &mut self.n[n];
        node.down.retain(|d| *d != ifname);
        if !up {
            node.down.push(ifname);
        }
        let down = node.down.clone();
        node.router.handle_links(now, |name| !down.contains(&name));
        self.drain();
    }
}

use State::{Backup, Fault, Master};

#[test]
fn members_become_master_together() {
    // A is the better router for VRID 1 only; VRID 2 alone would elect B.
    let mut p = Pair::new([200, 100], [100, 150]);
    p.run_for(Duration::from_secs(10));
    // Whichever member won first took the other along; the pair settles
    // with every instance on one router, never split.
    let a = p.states(0);
    let b = p.states(1);
    assert!(
        a == [Master, Master] && b == [Backup, Backup] || a == [Backup, Backup] && b == [Master, Master],
        "{a:?} {b:?}"
    );
}

#[test]
fn a_fault_in_one_member_moves_the_whole_group() {
    let mut p = Pair::new([200, 200], [100, 100]);
    p.run_for(Duration::from_secs(10));
    assert_eq!((p.states(0), p.states(1)), ([Master, Master], [Backup, Backup]));
    assert_eq!(p.n[0].notified, [Backup, Master]);

    // A's inside link fails: both of A's instances go to FAULT (the outside
    // one resigns with priority 0), and B takes both after Skew_Time.
    p.link(0, 1, false);
    assert_eq!(p.states(0), [Fault, Fault]);
    assert_eq!(p.n[0].notified.last(), Some(&Fault));
    p.run_for(Duration::from_millis(700));
    assert_eq!(p.states(1), [Master, Master]);

    // Back: A's members leave FAULT together as backups, then preempt.
    p.link(0, 1, true);
    assert_eq!(p.states(0), [Backup, Backup]);
    p.run_for(Duration::from_secs(5));
    assert_eq!((p.states(0), p.states(1)), ([Master, Master], [Backup, Backup]));
}

#[test]
fn the_group_stays_in_fault_until_every_member_is_healthy() {
    let mut p = Pair::new([200, 200], [100, 100]);
    p.run_for(Duration::from_secs(10));
    p.link(0, 0, false);
    p.link(0, 1, false);
    p.link(0, 0, true);
    assert_eq!(p.states(0), [Fault, Fault], "one member still faulted");
    p.link(0, 1, true);
    assert_eq!(p.states(0), [Backup, Backup]);
}

#[test]
fn a_master_that_sees_a_better_router_takes_its_group_to_backup() {
    // B starts late with higher priority for VRID 2 only: A's VRID 2 falls
    // back to backup and takes VRID 1 along, so both move to B.
    let now = Instant::now();
    let mut p = Pair { now, n: [node(now), node(now)] };
    p.start(0, [150, 150]);
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.states(0), [Master, Master]);
    p.start(1, [100, 200]);
    p.run_for(Duration::from_secs(10));
    assert_eq!((p.states(0), p.states(1)), ([Backup, Backup], [Master, Master]));
}
