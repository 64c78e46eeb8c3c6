//! The state machine on a simulated LAN with an explicit clock: adverts go
//! through the wire format (emit, then parse with checksum) to every other
//! router on the link, instantly. Deterministic: no sleeps, no sockets.

use std::net::IpAddr;
use std::time::{Duration, Instant};
use vigil_vrrp::instance::{Action, Burst, Config, Dropped, Instance, State};
use vigil_vrrp::wire::{Packet, Repr};

const GROUP: &str = "224.0.0.18";

struct Router {
    vrrp: Instance,
    addr: IpAddr,
    /// Connected to the LAN (false: its port is cut).
    connected: bool,
    /// Holds the virtual addresses.
    vips: bool,
    announced: u32,
    heard_lower: u32,
    became_master_at: Vec<Duration>,
}

struct Lan {
    t0: Instant,
    now: Instant,
    routers: Vec<Router>,
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cfg(version: u8, priority: u8, primary: &str) -> Config {
    Config {
        version,
        vrid: 51,
        priority,
        advert_int_cs: 100,
        preempt: true,
        preempt_delay: Duration::ZERO,
        addrs: vec![ip("10.0.0.100")],
        primary: ip(primary),
        auth: None,
        garp_delay: Duration::from_secs(5),
        garp_refresh: None,
        garp_lower_prio_delay: Duration::ZERO,
        garp_extra: None,
        down_timer_adverts: 3,
        skip_check_adv_addr: false,
        lower_prio_no_advert: false,
        higher_prio_send_advert: false,
    }
}

impl Lan {
    fn new(cfgs: Vec<Config>) -> Lan {
        let t0 = Instant::now();
        let routers = cfgs
            .into_iter()
            .map(|c| Router {
                addr: c.primary,
                vrrp: Instance::new(c),
                connected: true,
                vips: false,
                announced: 0,
                heard_lower: 0,
                became_master_at: Vec::new(),
            })
            .collect();
        Lan { t0, now: t0, routers }
    }

    fn start(&mut self, i: usize) {
        self.routers[i].vrrp.start(self.now);
        self.drain();
    }

    /// Carries out every pending action; adverts reach the other connected routers.
    fn drain(&mut self) {
        loop {
            let mut any = false;
            for i in 0..self.routers.len() {
                while let Some(a) = self.routers[i].vrrp.poll_action() {
                    any = true;
                    match a {
                        Action::Send(repr) => {
                            let src = self.routers[i].addr;
                            let bytes = repr.emit(src, ip(GROUP)).unwrap();
                            if !self.routers[i].connected {
                                continue;
                            }
                            for j in 0..self.routers.len() {
                                if j != i && self.routers[j].connected {
                                    let p = Packet::new_checked(&bytes[..]).unwrap();
                                    let parsed = Repr::parse(&p, src, ip(GROUP)).unwrap();
                                    let _ = self.routers[j].vrrp.handle_advert(self.now, src, &parsed);
                                }
                            }
                        }
                        Action::AddAddresses => self.routers[i].vips = true,
                        Action::RemoveAddresses => self.routers[i].vips = false,
                        Action::Announce(_) => self.routers[i].announced += 1,
                        Action::HeardLower { .. } => self.routers[i].heard_lower += 1,
                        Action::AnnounceElsewhere => {}
                        Action::StateChange { to: State::Master, .. } => {
                            let at = self.now - self.t0;
                            self.routers[i].became_master_at.push(at);
                        }
                        Action::StateChange { .. } => {}
                    }
                }
            }
            if !any {
                return;
            }
        }
    }

    /// Runs the clock forward to t0 + `until`, firing timers in order.
    fn run_until(&mut self, until: Duration) {
        let end = self.t0 + until;
        loop {
            let next = self.routers.iter().filter_map(|r| r.vrrp.poll_timeout()).min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for r in &mut self.routers {
                        if r.vrrp.poll_timeout().is_some_and(|x| x <= self.now) {
                            r.vrrp.handle_timeout(self.now);
                        }
                    }
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.routers.len()).filter(|&i| self.routers[i].vrrp.state() == State::Master).collect()
    }

    fn holders(&self) -> Vec<usize> {
        (0..self.routers.len()).filter(|&i| self.routers[i].vips).collect()
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[test]
fn timers_are_as_rfc_5798_says() {
    let i = Instance::new(cfg(3, 100, "10.0.0.2"));
    // Skew = (256-100)*100cs/256 = 60.9375 cs; Master_Down = 3*100 cs + Skew.
    assert_eq!(i.skew_time(), Duration::from_micros(609_375));
    assert_eq!(i.master_down_interval(), Duration::from_micros(3_609_375));
    // At 10 ms the skew is still there (6.09 ms), not truncated to 0 cs.
    let mut fast = cfg(3, 100, "10.0.0.2");
    fast.advert_int_cs = 1;
    assert_eq!(Instance::new(fast).master_down_interval(), Duration::from_micros(36_093));
    let v2 = Instance::new(cfg(2, 100, "10.0.0.2"));
    // RFC 3768: (256-100)/256 s = 609.375 ms.
    assert_eq!(v2.skew_time(), Duration::from_micros(609_375));
}

#[test]
fn a_lone_backup_becomes_master_after_master_down_interval() {
    let mut lan = Lan::new(vec![cfg(3, 100, "10.0.0.2")]);
    lan.start(0);
    assert_eq!(lan.routers[0].vrrp.state(), State::Backup);
    lan.run_until(Duration::from_millis(3609));
    assert_eq!(lan.masters(), Vec::<usize>::new());
    lan.run_until(Duration::from_millis(3610));
    assert_eq!(lan.masters(), [0]);
    assert_eq!(lan.holders(), [0]);
    assert_eq!(lan.routers[0].announced, 1);
    // The second announcement burst after garp_delay (5 s).
    lan.run_until(Duration::from_millis(8610));
    assert_eq!(lan.routers[0].announced, 2);
}

#[test]
fn the_owner_is_master_at_once() {
    let mut lan = Lan::new(vec![cfg(3, 255, "10.0.0.100"), cfg(3, 200, "10.0.0.3")]);
    lan.start(0);
    lan.start(1);
    assert_eq!(lan.masters(), [0]);
    lan.run_until(Duration::from_secs(30));
    assert_eq!(lan.masters(), [0]);
    assert_eq!(lan.holders(), [0]);
}

#[test]
fn the_higher_priority_wins_and_priority_zero_hands_over_after_skew() {
    let mut lan = Lan::new(vec![cfg(3, 150, "10.0.0.2"), cfg(3, 100, "10.0.0.3")]);
    lan.start(0);
    lan.start(1);
    lan.run_until(Duration::from_secs(10));
    assert_eq!(lan.masters(), [0]);
    // A: Master_Down = 300 cs + 106*100/256 cs (414.0625 ms).
    assert_eq!(lan.routers[0].became_master_at[0], Duration::from_micros(3_414_062));
    assert_eq!(lan.holders(), [0]);
    // A shuts down cleanly: B takes over after its Skew_Time (609.375 ms).
    lan.routers[0].vrrp.shutdown();
    let t = lan.now - lan.t0;
    lan.drain();
    lan.run_until(t + Duration::from_millis(609));
    assert_eq!(lan.masters(), Vec::<usize>::new());
    lan.run_until(t + Duration::from_millis(610));
    assert_eq!(lan.masters(), [1]);
    assert_eq!(lan.holders(), [1]);
}

#[test]
fn a_silent_master_is_replaced_after_master_down_interval() {
    let mut lan = Lan::new(vec![cfg(3, 150, "10.0.0.2"), cfg(3, 100, "10.0.0.3")]);
    lan.start(0);
    lan.start(1);
    lan.run_until(Duration::from_millis(10_415)); // A just advertised (3.414 + 7 s)
    lan.routers[0].connected = false; // A's port dies
    // B heard A last at 10414.062 ms; Master_Down is 3609.375 ms.
    lan.run_until(Duration::from_millis(14_023));
    assert_eq!(lan.routers[1].vrrp.state(), State::Backup);
    lan.run_until(Duration::from_millis(14_024));
    assert_eq!(lan.routers[1].vrrp.state(), State::Master);
}

#[test]
fn preempt_nopreempt_and_preempt_delay() {
    // B (100) is master alone; A (150) starts later and preempts.
    let mut lan = Lan::new(vec![cfg(3, 150, "10.0.0.2"), cfg(3, 100, "10.0.0.3")]);
    lan.start(1);
    lan.run_until(Duration::from_secs(5));
    assert_eq!(lan.masters(), [1]);
    lan.start(0);
    lan.run_until(Duration::from_secs(20));
    assert_eq!(lan.masters(), [0]);
    assert_eq!(lan.holders(), [0]);

    // With nopreempt A stays backup.
    let mut a = cfg(3, 150, "10.0.0.2");
    a.preempt = false;
    let mut lan = Lan::new(vec![a, cfg(3, 100, "10.0.0.3")]);
    lan.start(1);
    lan.run_until(Duration::from_secs(5));
    lan.start(0);
    lan.run_until(Duration::from_secs(60));
    assert_eq!(lan.masters(), [1]);

    // With preempt_delay 10 s, A waits 10 s after its start, then preempts.
    let mut a = cfg(3, 150, "10.0.0.2");
    a.preempt_delay = Duration::from_secs(10);
    let mut lan = Lan::new(vec![a, cfg(3, 100, "10.0.0.3")]);
    lan.start(1);
    lan.run_until(Duration::from_secs(5));
    lan.start(0);
    lan.run_until(Duration::from_secs(15));
    assert_eq!(lan.masters(), [1]);
    lan.run_until(Duration::from_secs(30));
    assert_eq!(lan.masters(), [0]);
    let at = ms(lan.routers[0].became_master_at[0]);
    assert!((15_000..=19_500).contains(&at), "preempted at {at} ms");
}

#[test]
fn equal_priorities_tie_break_on_the_higher_address() {
    let mut lan = Lan::new(vec![cfg(3, 100, "10.0.0.2"), cfg(3, 100, "10.0.0.9")]);
    lan.start(0);
    lan.start(1);
    lan.run_until(Duration::from_secs(20));
    assert_eq!(lan.masters(), [1]);
    assert_eq!(lan.holders(), [1]);
}

#[test]
fn a_split_brain_heals_to_one_master() {
    let mut lan = Lan::new(vec![cfg(3, 150, "10.0.0.2"), cfg(3, 100, "10.0.0.3")]);
    lan.start(0);
    lan.start(1);
    lan.run_until(Duration::from_secs(10));
    // Cut A off the LAN, both keep their carrier: two masters.
    lan.routers[0].connected = false;
    lan.run_until(Duration::from_secs(20));
    assert_eq!(lan.masters(), [0, 1]);
    // Heal: B hears the higher priority and backs off within one advert.
    lan.routers[0].connected = true;
    lan.run_until(Duration::from_secs(22));
    assert_eq!(lan.masters(), [0]);
    assert_eq!(lan.holders(), [0]);
}

#[test]
fn a_fault_resigns_and_recovery_restarts() {
    let mut lan = Lan::new(vec![cfg(3, 150, "10.0.0.2"), cfg(3, 100, "10.0.0.3")]);
    lan.start(0);
    lan.start(1);
    lan.run_until(Duration::from_secs(10));
    let now = lan.now;
    lan.routers[0].vrrp.set_link(now, false);
    lan.drain();
    assert_eq!(lan.routers[0].vrrp.state(), State::Fault);
    assert!(!lan.routers[0].vips);
    lan.run_until(Duration::from_millis(10_610));
    assert_eq!(lan.masters(), [1]);
    let now = lan.now;
    lan.routers[0].vrrp.set_link(now, true);
    lan.drain();
    assert_eq!(lan.routers[0].vrrp.state(), State::Backup);
    lan.run_until(Duration::from_secs(20));
    assert_eq!(lan.masters(), [0]);
}

#[test]
fn v3_backups_learn_the_masters_interval() {
    let mut fast = cfg(3, 150, "10.0.0.2");
    fast.advert_int_cs = 10;
    let mut lan = Lan::new(vec![fast, cfg(3, 100, "10.0.0.3")]);
    lan.start(0);
    lan.start(1);
    lan.run_until(Duration::from_secs(10));
    assert_eq!(lan.masters(), [0]);
    // B now uses 0.1 s: Master_Down = 300 ms + 156*10/256 cs (60.937 ms).
    assert_eq!(lan.routers[1].vrrp.master_down_interval(), Duration::from_micros(360_937));
    lan.routers[0].connected = false;
    let t = lan.now - lan.t0;
    lan.run_until(t + Duration::from_millis(400));
    assert_eq!(lan.routers[1].vrrp.state(), State::Master);
}

#[test]
fn v2_drops_wrong_password_interval_and_vrid() {
    let mut a = cfg(2, 100, "10.0.0.2");
    a.auth = Some(*b"secret\0\0");
    let mut i = Instance::new(a);
    let now = Instant::now();
    i.start(now);
    let good = Repr {
        version: 2,
        vrid: 51,
        priority: 200,
        interval_cs: 100,
        addrs: vec![ip("10.0.0.100")],
        auth: Some(*b"secret\0\0"),
    };
    let src = ip("10.0.0.9");
    assert_eq!(i.handle_advert(now, src, &good), Ok(()));
    let mut bad = good.clone();
    bad.auth = Some(*b"guess\0\0\0");
    assert_eq!(i.handle_advert(now, src, &bad), Err(Dropped::Auth));
    let mut bad = good.clone();
    bad.interval_cs = 200;
    assert_eq!(i.handle_advert(now, src, &bad), Err(Dropped::Interval));
    let mut bad = good.clone();
    bad.vrid = 52;
    assert_eq!(i.handle_advert(now, src, &bad), Err(Dropped::Vrid));
    let mut bad = good.clone();
    bad.version = 3;
    assert_eq!(i.handle_advert(now, src, &bad), Err(Dropped::Version));
    assert_eq!(i.stats.dropped, 4);
    assert_eq!(i.stats.adverts_received, 1);
}

#[test]
fn adverts_for_other_addresses_are_dropped_unless_from_the_owner() {
    let mut c = cfg(3, 100, "10.0.0.2");
    c.addrs = vec![ip("10.0.0.100"), ip("10.0.0.101")];
    let mut i = Instance::new(c);
    let now = Instant::now();
    i.start(now);
    let adv = |priority: u8, addrs: &[&str]| Repr {
        version: 3,
        vrid: 51,
        priority,
        interval_cs: 100,
        addrs: addrs.iter().map(|a| ip(a)).collect(),
        auth: None,
    };
    let src = ip("10.0.0.9");
    // The same set in another order is fine.
    assert_eq!(i.handle_advert(now, src, &adv(200, &["10.0.0.101", "10.0.0.100"])), Ok(()));
    assert_eq!(i.handle_advert(now, src, &adv(200, &["10.0.0.100"])), Err(Dropped::Addresses));
    assert_eq!(i.handle_advert(now, src, &adv(200, &["10.0.0.100", "10.0.0.102"])), Err(Dropped::Addresses));
    assert_eq!(i.stats.address_list_mismatch, 2);
    // A dropped advert does not hold the backup down: it becomes master
    // Master_Down_Interval after the last good one.
    let mut t = now;
    for _ in 0..10 {
        t += Duration::from_millis(500);
        let _ = i.handle_advert(t, src, &adv(200, &["10.0.0.100"]));
        i.handle_timeout(t);
    }
    assert_eq!(i.state(), State::Master);
    // The owner (255) is believed whatever it lists.
    let mut j = Instance::new(cfg(3, 100, "10.0.0.2"));
    j.start(now);
    assert_eq!(j.handle_advert(now, src, &adv(255, &["10.9.9.9"])), Ok(()));
}

fn actions(i: &mut Instance) -> Vec<Action> {
    std::iter::from_fn(|| i.poll_action()).collect()
}

fn master(version: u8, priority: u8) -> (Instance, Instant) {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(version, priority, "10.0.0.2"));
    i.start(t0);
    let now = t0 + i.master_down_interval();
    i.handle_timeout(now);
    assert_eq!(i.state(), State::Master);
    actions(&mut i);
    (i, now)
}

fn advert(priority: u8) -> Repr {
    Repr { version: 3, vrid: 51, priority, interval_cs: 100, addrs: vec![ip("10.0.0.100")], auth: None }
}

/// After a split brain heals, the master hears the other side's (lower
/// priority) adverts: like keepalived, it answers with its own advert and a
/// gratuitous ARP / NA burst, so that hosts that learnt the other side's
/// MAC for the VIP come back at once instead of when their cache expires.
#[test]
fn a_master_answers_a_lower_priority_master_with_an_advert_and_an_announcement() {
    let (mut i, now) = master(3, 150);
    i.handle_advert(now, ip("10.0.0.3"), &advert(100)).unwrap();
    let a = actions(&mut i);
    assert_eq!(a.len(), 3, "{a:?}");
    assert_eq!(a[0], Action::HeardLower { from: ip("10.0.0.3"), priority: 100 });
    assert!(matches!(&a[1], Action::Send(r) if r.priority == 150), "{a:?}");
    assert_eq!(a[2], Action::Announce(Burst::LowerPrio));
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.stats.lower_priority_answered, 1);
    // The next regular advert is a full interval after the answer.
    assert_eq!(i.poll_timeout(), Some(now + Duration::from_secs(1)));
}

/// keepalived's `lower_prio_no_advert`: the lower-priority master is not
/// answered (it steps down when its own timers say so); and
/// `higher_prio_send_advert`: a master that hears a higher priority sends
/// an advert of its own as it becomes backup.
#[test]
fn lower_prio_no_advert_and_higher_prio_send_advert() {
    let t0 = Instant::now();
    let mut c = cfg(3, 150, "10.0.0.2");
    c.lower_prio_no_advert = true;
    c.higher_prio_send_advert = true;
    let mut i = Instance::new(c);
    i.start(t0);
    let now = t0 + i.master_down_interval();
    i.handle_timeout(now);
    actions(&mut i);
    i.handle_advert(now, ip("10.0.0.3"), &advert(100)).unwrap();
    // No answer to a lower priority; its notify program still runs.
    let heard = Action::HeardLower { from: ip("10.0.0.3"), priority: 100 };
    assert_eq!(actions(&mut i), vec![heard], "no answer to a lower priority");
    assert_eq!((i.state(), i.stats.lower_priority_answered), (State::Master, 0));
    i.handle_advert(now, ip("10.0.0.4"), &advert(200)).unwrap();
    let a = actions(&mut i);
    assert!(matches!(a.first(), Some(Action::Send(r)) if r.priority == 150), "{a:?}");
    assert_eq!(i.state(), State::Backup);
    // Without it, a master that hears a higher priority steps down silently.
    let (mut j, now) = master(3, 150);
    j.handle_advert(now, ip("10.0.0.4"), &advert(200)).unwrap();
    assert!(!actions(&mut j).iter().any(|a| matches!(a, Action::Send(_))));
}

/// RFC 5798 6.4.3: a master that hears priority 0 sends an advert at once.
/// A flood of them is answered at most once per quarter interval.
#[test]
fn answers_to_a_flood_of_priority_zero_adverts_are_rate_limited() {
    let (mut i, t) = master(3, 150);
    let mut sent = 0;
    for k in 0..1000u64 {
        let now = t + Duration::from_millis(k);
        if i.poll_timeout().is_some_and(|d| d <= now) {
            i.handle_timeout(now);
        }
        i.handle_advert(now, ip("10.0.0.3"), &advert(0)).unwrap();
        sent += actions(&mut i).iter().filter(|a| matches!(a, Action::Send(_))).count();
    }
    // One a quarter second, and at most one regular advert besides.
    assert!((4..=5).contains(&sent), "{sent} adverts sent for 1000 priority-0 adverts in 1 s");
    assert_eq!(i.stats.priority_zero_received, 1000);
    assert!(i.stats.answers_limited >= 995, "{:?}", i.stats);
}

/// Every dropped advert is counted by its reason, and the reason reads as
/// an operator would say it.
#[test]
fn drops_are_counted_by_reason() {
    let (mut i, now) = master(3, 150);
    let mut other_vrid = advert(100);
    other_vrid.vrid = 52;
    let mut other_addrs = advert(100);
    other_addrs.addrs = vec![ip("10.0.0.101")];
    let mut v2 = advert(100);
    v2.version = 2;
    for (a, n) in [(&other_vrid, 1), (&other_addrs, 2), (&v2, 3)] {
        for _ in 0..n {
            let _ = i.handle_advert(now, ip("10.0.0.3"), a);
        }
    }
    let by: Vec<(String, u64)> =
        Dropped::ALL.iter().zip(i.stats.dropped_by).filter(|(_, n)| *n > 0).map(|(d, n)| (d.to_string(), n)).collect();
    assert_eq!(
        by,
        [("another VRRP version".to_string(), 3), ("another VRID".into(), 1), ("other virtual addresses".into(), 2)]
    );
    assert_eq!(i.stats.dropped, 6);
}

/// keepalived's skip_check_adv_addr: once an advert from a router was
/// taken, its later adverts are not checked for their addresses; another
/// router's still are.
#[test]
fn skip_check_adv_addr_checks_a_new_master_only() {
    let t0 = Instant::now();
    let mut c = cfg(3, 100, "10.0.0.2");
    c.skip_check_adv_addr = true;
    let mut i = Instance::new(c.clone());
    i.start(t0);
    let advert =
        |addrs: Vec<IpAddr>| Repr { version: 3, vrid: c.vrid, priority: 200, interval_cs: 100, addrs, auth: None };
    let (a, b): (IpAddr, IpAddr) = ("10.0.0.3".parse().unwrap(), "10.0.0.4".parse().unwrap());
    let other = vec!["192.0.2.99".parse().unwrap()];
    // The first from a: checked, and its addresses do not match.
    assert_eq!(i.handle_advert(t0, a, &advert(other.clone())), Err(Dropped::Addresses));
    i.handle_advert(t0, a, &advert(c.addrs.clone())).unwrap();
    // Taken from a once: a's next adverts are not checked.
    i.handle_advert(t0, a, &advert(other.clone())).unwrap();
    // b is checked.
    assert_eq!(i.handle_advert(t0, b, &advert(other)), Err(Dropped::Addresses));
}

/// What keepalived's exporter reads as become_master / release_master /
/// pri_zero_sent, and the transitions besides.
#[test]
fn masterships_resignations_and_transitions_are_counted() {
    let (mut i, now) = master(3, 150);
    // INIT -> BACKUP -> MASTER.
    assert_eq!((i.stats.became_master, i.stats.released_master, i.stats.transitions), (1, 0, 2));
    assert_eq!(i.stats.priority_zero_sent, 0);
    // A higher priority takes over: MASTER -> BACKUP.
    i.handle_advert(now, ip("10.0.0.3"), &advert(200)).unwrap();
    actions(&mut i);
    assert_eq!(i.state(), State::Backup);
    assert_eq!((i.stats.became_master, i.stats.released_master, i.stats.transitions), (1, 1, 3));
    // It goes silent: BACKUP -> MASTER; then vigil stops: priority 0.
    let later = now + i.master_down_interval() * 2;
    i.handle_timeout(later);
    assert_eq!(i.state(), State::Master);
    let sent = i.stats.adverts_sent;
    i.shutdown();
    actions(&mut i);
    assert_eq!(i.stats.priority_zero_sent, 1);
    assert_eq!(i.stats.adverts_sent, sent + 1);
    assert_eq!((i.stats.became_master, i.stats.released_master), (2, 2));
}
