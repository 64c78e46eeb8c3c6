//! The pace of announcements on the wire, as keepalived keeps it for
//! switches that cannot take a flood of gratuitous ARPs: at least
//! `garp_interval` between two gratuitous ARPs on one interface (and
//! `gna_interval` between two unsolicited NAs), whichever instances they
//! announce; a `garp_group` with `interfaces { }` shares one pace across
//! several (they hang off one switch). Interfaces no group names take the
//! global `vrrp_garp_interval` / `vrrp_gna_interval`; without any, nothing
//! waits. Pure: the caller asks before each message, with the time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One group of interfaces as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub interfaces: Vec<String>,
    /// One pace across all of them; else each its own.
    pub shared: bool,
    pub garp: Option<Duration>,
    pub gna: Option<Duration>,
}

#[derive(Debug, Clone)]
struct Gate {
    garp: Option<Duration>,
    gna: Option<Duration>,
    /// When the next message of each kind may go.
    next_garp: Option<Instant>,
    next_gna: Option<Instant>,
}

impl Gate {
    fn new(garp: Option<Duration>, gna: Option<Duration>) -> Gate {
        Gate { garp, gna, next_garp: None, next_gna: None }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Pacer {
    gates: Vec<Gate>,
    by_interface: HashMap<String, usize>,
    /// The global pace, for interfaces no group names (each its own gate,
    /// made when first used).
    default: (Option<Duration>, Option<Duration>),
}

impl Pacer {
    pub fn new(groups: &[Group], garp: Option<Duration>, gna: Option<Duration>) -> Pacer {
        let mut p = Pacer { default: (garp, gna), ..Pacer::default() };
        for g in groups {
            let mut shared = None;
            for i in &g.interfaces {
                let gate = match (g.shared, shared) {
                    (true, Some(s)) => s,
                    _ => {
                        p.gates.push(Gate::new(g.garp, g.gna));
                        p.gates.len() - 1
                    }
                };
                if g.shared {
                    shared = Some(gate);
                }
                p.by_interface.entry(i.clone()).or_insert(gate);
            }
        }
        p
    }

    /// Whether nothing is paced at all (the default).
    pub fn is_idle(&self) -> bool {
        self.gates.iter().all(|g| g.garp.is_none() && g.gna.is_none())
            && self.default.0.is_none()
            && self.default.1.is_none()
    }

    /// May a gratuitous ARP (`v6`: an unsolicited NA) go out of `interface`
    /// now? If so the pace moves on and `Ok`; if not, when it may.
    pub fn admit(&mut self, now: Instant, interface: &str, v6: bool) -> Result<(), Instant> {
        let gate = match self.by_interface.get(interface) {
            Some(&g) => g,
            None => {
                if self.default == (None, None) {
                    return Ok(());
                }
                self.gates.push(Gate::new(self.default.0, self.default.1));
                let g = self.gates.len() - 1;
                self.by_interface.insert(interface.to_string(), g);
                g
            }
        };
        let g = &mut self.gates[gate];
        let (interval, next) = if v6 { (g.gna, &mut g.next_gna) } else { (g.garp, &mut g.next_garp) };
        let Some(interval) = interval else { return Ok(()) };
        match *next {
            Some(t) if t > now => Err(t),
            _ => {
                *next = Some(now + interval);
                Ok(())
            }
        }
    }

    /// The soonest a closed gate opens (for the caller's timer while
    /// messages wait).
    pub fn next_open(&self, now: Instant) -> Option<Instant> {
        self.gates.iter().flat_map(|g| [g.next_garp, g.next_gna]).flatten().filter(|t| *t > now).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn without_a_pace_nothing_waits() {
        let mut p = Pacer::new(&[], None, None);
        let now = Instant::now();
        assert!(p.is_idle());
        for _ in 0..100 {
            assert_eq!(p.admit(now, "eth0", false), Ok(()));
        }
    }

    #[test]
    fn the_global_pace_holds_per_interface_and_per_kind() {
        let mut p = Pacer::new(&[], Some(ms(100)), Some(ms(20)));
        let t = Instant::now();
        assert_eq!(p.admit(t, "eth0", false), Ok(()));
        assert_eq!(p.admit(t, "eth0", false), Err(t + ms(100)));
        // Another interface, and NAs, have paces of their own.
        assert_eq!(p.admit(t, "eth1", false), Ok(()));
        assert_eq!(p.admit(t, "eth0", true), Ok(()));
        assert_eq!(p.admit(t + ms(10), "eth0", true), Err(t + ms(20)));
        assert_eq!(p.next_open(t + ms(10)), Some(t + ms(20)));
        assert_eq!(p.admit(t + ms(100), "eth0", false), Ok(()));
        assert_eq!(p.admit(t + ms(150), "eth0", false), Err(t + ms(200)));
    }

    #[test]
    fn a_group_paces_its_interfaces_alone_or_together_and_others_take_the_global_pace() {
        let groups = [
            Group { interfaces: vec!["eth0".into()], shared: false, garp: Some(ms(50)), gna: None },
            Group { interfaces: vec!["eth1".into(), "eth2".into()], shared: true, garp: Some(ms(10)), gna: None },
            Group { interfaces: vec!["eth3".into(), "eth4".into()], shared: false, garp: Some(ms(10)), gna: None },
        ];
        let mut p = Pacer::new(&groups, Some(ms(1000)), None);
        let t = Instant::now();
        assert_eq!(p.admit(t, "eth0", false), Ok(()));
        assert_eq!(p.admit(t, "eth0", false), Err(t + ms(50)));
        // eth1 and eth2 share one switch: one message per 10 ms across both.
        assert_eq!(p.admit(t, "eth1", false), Ok(()));
        assert_eq!(p.admit(t, "eth2", false), Err(t + ms(10)));
        // eth3 and eth4 each have their own.
        assert_eq!(p.admit(t, "eth3", false), Ok(()));
        assert_eq!(p.admit(t, "eth4", false), Ok(()));
        // A group without an NA pace does not pace NAs, even with a global
        // ARP pace; an interface of no group takes the global one.
        assert_eq!(p.admit(t, "eth0", true), Ok(()));
        assert_eq!(p.admit(t, "eth0", true), Ok(()));
        assert_eq!(p.admit(t, "eth9", false), Ok(()));
        assert_eq!(p.admit(t, "eth9", false), Err(t + ms(1000)));
        assert!(!p.is_idle());
    }

    #[test]
    fn a_burst_drains_at_the_pace() {
        // 32 addresses on one interface at 10 ms: the last goes 310 ms on.
        let mut p = Pacer::new(&[], Some(ms(10)), None);
        let start = Instant::now();
        let mut now = start;
        let mut sent = Vec::new();
        let mut waiting = 32;
        while waiting > 0 {
            match p.admit(now, "eth0", false) {
                Ok(()) => {
                    sent.push(now - start);
                    waiting -= 1;
                }
                Err(t) => now = t,
            }
        }
        assert_eq!(sent.first(), Some(&ms(0)));
        assert_eq!(sent.last(), Some(&ms(310)));
        assert!(sent.windows(2).all(|w| w[1] - w[0] == ms(10)));
    }
}
