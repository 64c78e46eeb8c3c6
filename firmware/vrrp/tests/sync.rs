//! Sync groups on a simulated pair of routers, each with two instances
//! (VRID 1 outside, VRID 2 inside) in one group: adverts go through the
//! wire format to the same VRID on the other router. Explicit clock.

use std::net::IpAddr;
use std::time::{Duration, Instant};
use vigil_vrrp::instance::{Action, Config, Instance, State};
use vigil_vrrp::sync::Group;
use vigil_vrrp::wire::{Packet, Repr};

struct Router {
    addr: IpAddr,
    inst: Vec<Instance>,
    group: Group,
    /// Group notifications seen (agreed states).
    notified: Vec<State>,
}

struct Pair {
    t0: Instant,
    now: Instant,
    r: [Router; 2],
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cfg(vrid: u8, priority: u8, primary: &str) -> Config {
    Config {
        version: 3,
        vrid,
        priority,
        advert_int_cs: 100,
        preempt: true,
        preempt_delay: Duration::ZERO,
        addrs: vec![ip(if vrid == 1 { "10.0.1.100" } else { "10.0.2.100" })],
        primary: ip(primary),
        auth: None,
        garp_delay: Duration::from_secs(5),
        garp_refresh: None,
    }
}

fn router(prio: [u8; 2], addr: &str) -> Router {
    Router {
        addr: ip(addr),
        inst: vec![Instance::new(cfg(1, prio[0], addr)), Instance::new(cfg(2, prio[1], addr))],
        group: Group::new("G", vec![0, 1]),
        notified: Vec::new(),
    }
}

impl Pair {
    fn new(a: [u8; 2], b: [u8; 2]) -> Pair {
        let t0 = Instant::now();
        let mut p = Pair { t0, now: t0, r: [router(a, "10.0.0.2"), router(b, "10.0.0.3")] };
        for n in 0..2 {
            for i in 0..2 {
                p.r[n].inst[i].start(t0);
            }
        }
        p.drain();
        p
    }

    /// Carries out actions until none are left: adverts to the peer's
    /// instance of the same VRID, state changes to the sync group.
    fn drain(&mut self) {
        loop {
            let mut any = false;
            for n in 0..2 {
                for i in 0..2 {
                    while let Some(a) = self.r[n].inst[i].poll_action() {
                        any = true;
                        match a {
                            Action::Send(repr) => {
                                let src = self.r[n].addr;
                                let bytes = repr.emit(src, ip("224.0.0.18")).unwrap();
                                let p = Packet::new_checked(&bytes[..]).unwrap();
                                let parsed = Repr::parse(&p, src, ip("224.0.0.18")).unwrap();
                                let now = self.now;
                                let _ = self.r[1 - n].inst[i].handle_advert(now, src, &parsed);
                            }
                            Action::StateChange { to, .. } => {
                                let now = self.now;
                                let r = &mut self.r[n];
                                r.group.member_changed(now, i, to, &mut r.inst, |x| x);
                                if let Some(s) = r.group.agreed_change(r.inst.iter().map(|x| x.state())) {
                                    r.notified.push(s);
                                }
                            }
                            _ => {}
                        }
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
            let next = self.r.iter().flat_map(|r| r.inst.iter()).filter_map(|i| i.poll_timeout()).min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for r in &mut self.r {
                        for i in &mut r.inst {
                            if i.poll_timeout().is_some_and(|x| x <= self.now) {
                                i.handle_timeout(self.now);
                            }
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
        [self.r[n].inst[0].state(), self.r[n].inst[1].state()]
    }

    fn link(&mut self, n: usize, i: usize, up: bool) {
        let now = self.now;
        self.r[n].inst[i].set_link(now, up);
        let r = &mut self.r[n];
        r.group.update_fault(now, &mut r.inst, |x| x);
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
    let _ = p.t0;
}

#[test]
fn a_fault_in_one_member_moves_the_whole_group() {
    let mut p = Pair::new([200, 200], [100, 100]);
    p.run_for(Duration::from_secs(10));
    assert_eq!((p.states(0), p.states(1)), ([Master, Master], [Backup, Backup]));
    assert_eq!(p.r[0].notified, [Backup, Master]);

    // A's inside link fails: both of A's instances go to FAULT (the outside
    // one resigns with priority 0), and B takes both after Skew_Time.
    p.link(0, 1, false);
    assert_eq!(p.states(0), [Fault, Fault]);
    assert_eq!(p.r[0].notified.last(), Some(&Fault));
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
    let t0 = Instant::now();
    let mut p = Pair { t0, now: t0, r: [router([150, 150], "10.0.0.2"), router([100, 200], "10.0.0.3")] };
    for i in 0..2 {
        p.r[0].inst[i].start(t0);
    }
    p.drain();
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.states(0), [Master, Master]);
    for i in 0..2 {
        let now = p.now;
        p.r[1].inst[i].start(now);
    }
    p.drain();
    p.run_for(Duration::from_secs(10));
    assert_eq!((p.states(0), p.states(1)), ([Backup, Backup], [Master, Master]));
}
