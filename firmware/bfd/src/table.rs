//! Every configured session, by name: demultiplexing what arrives (by
//! Your Discriminator, else by the neighbor's address, RFC 5881 section 3),
//! what to send where, the timers, the events, and a new config that keeps
//! the sessions it does not change (as keepalived keeps them over a
//! reload: a session that is up stays up).

use crate::session::{Dropped, Event, Session, Settings};
use crate::wire::{self, Repr};
use std::net::IpAddr;
use std::time::Instant;

/// One session as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub neighbor: IpAddr,
    /// The local address to send from (none: the kernel's choice).
    pub source: Option<IpAddr>,
    pub settings: Settings,
}

/// Why a datagram was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Malformed(wire::Error),
    #[error("no session with neighbor {from} (your discriminator {your_disc})")]
    NoSession { from: IpAddr, your_disc: u32 },
    #[error("session {name}: {why}")]
    Dropped { name: String, why: Dropped },
}

/// A removed (or stopping) session's last packet: its name, neighbor,
/// source, and the AdminDown packet.
pub type Farewell = (String, IpAddr, Option<IpAddr>, [u8; wire::LEN]);

#[derive(Debug)]
struct Entry {
    peer: Peer,
    session: Session,
}

#[derive(Debug, Default)]
pub struct Table {
    entries: Vec<Entry>,
    /// Final AdminDown packets of removed sessions.
    farewells: Vec<Farewell>,
    seed: u64,
}

impl Table {
    /// `seed`: the randomness for discriminators and jitter.
    pub fn new(seed: u64) -> Table {
        Table { entries: Vec::new(), farewells: Vec::new(), seed: seed | 1 }
    }

    fn next_seed(&mut self) -> u64 {
        // splitmix64: a fresh, well-spread seed per session.
        self.seed = self.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Runs `peers` from now on: a session whose neighbor, source and
    /// settings are unchanged carries on as it is; a changed one starts
    /// over; a removed one says AdminDown to its neighbor once (see
    /// [`Table::poll_farewell`]). Returns the names started anew.
    pub fn configure(&mut self, now: Instant, peers: &[Peer]) -> Vec<String> {
        let mut old = std::mem::take(&mut self.entries);
        let mut started = Vec::new();
        for p in peers {
            if let Some(i) = old.iter().position(|e| e.peer == *p) {
                self.entries.push(old.swap_remove(i));
                continue;
            }
            let mut disc = 0;
            while disc == 0 || self.entries.iter().chain(old.iter()).any(|e| e.session.local_discriminator() == disc) {
                disc = self.next_seed() as u32;
            }
            let seed = self.next_seed();
            self.entries
                .push(Entry { peer: p.clone(), session: Session::with_discriminator(now, p.settings, seed, disc) });
            started.push(p.name.clone());
        }
        for mut e in old {
            if e.session.remote_discriminator() != 0 {
                e.session.admin_down();
                if let Some(r) = e.session.poll_transmit(now) {
                    self.farewells.push((e.peer.name, e.peer.neighbor, e.peer.source, r.emit()));
                }
            }
        }
        started
    }

    /// Every session AdminDown (vigil stopping): their last packets.
    pub fn shut_down(&mut self, now: Instant) -> Vec<Farewell> {
        let mut out = std::mem::take(&mut self.farewells);
        for e in &mut self.entries {
            if e.session.remote_discriminator() != 0 {
                e.session.admin_down();
                if let Some(r) = e.session.poll_transmit(now) {
                    out.push((e.peer.name.clone(), e.peer.neighbor, e.peer.source, r.emit()));
                }
            }
        }
        out
    }

    /// A last packet for a removed session.
    pub fn poll_farewell(&mut self) -> Option<Farewell> {
        self.farewells.pop()
    }

    /// A datagram to port 3784 from `from`, with the TTL it arrived with.
    /// Returns the session's name.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: IpAddr,
        ttl: Option<u8>,
        bytes: &[u8],
    ) -> Result<&str, Refused> {
        let repr = Repr::parse_bytes(bytes).map_err(Refused::Malformed)?;
        let from = canonical(from);
        let i = if repr.your_disc != 0 {
            self.entries.iter().position(|e| e.session.local_discriminator() == repr.your_disc)
        } else {
            self.entries.iter().position(|e| e.peer.neighbor == from)
        };
        let Some(i) = i else {
            return Err(Refused::NoSession { from, your_disc: repr.your_disc });
        };
        let e = &mut self.entries[i];
        if e.peer.neighbor != from {
            // A discriminator guessed (or reused) from elsewhere.
            return Err(Refused::NoSession { from, your_disc: repr.your_disc });
        }
        e.session.handle_packet(now, &repr, ttl).map_err(|why| Refused::Dropped { name: e.peer.name.clone(), why })?;
        Ok(&e.peer.name)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for e in &mut self.entries {
            e.session.handle_timeout(now);
        }
    }

    /// The next packet to send: (session name, neighbor, source, bytes).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(&str, IpAddr, Option<IpAddr>, [u8; wire::LEN])> {
        for e in &mut self.entries {
            if let Some(r) = e.session.poll_transmit(now) {
                return Some((&e.peer.name, e.peer.neighbor, e.peer.source, r.emit()));
            }
        }
        None
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries.iter().filter_map(|e| e.session.poll_timeout()).min()
    }

    /// The next Up / Down, with the session's name.
    pub fn poll_event(&mut self) -> Option<(&str, Event)> {
        for e in &mut self.entries {
            if let Some(ev) = e.session.poll_event() {
                return Some((&e.peer.name, ev));
            }
        }
        None
    }

    /// Each session's name, whether it is up, and the session.
    pub fn sessions(&self) -> impl Iterator<Item = (&Peer, &Session)> {
        self.entries.iter().map(|e| (&e.peer, &e.session))
    }
}

/// An IPv4 address received on a dual-stack socket is v4-mapped.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn peer(name: &str, neighbor: &str) -> Peer {
        Peer {
            name: name.into(),
            neighbor: neighbor.parse().unwrap(),
            source: None,
            settings: Settings {
                desired_min_tx: 50_000,
                required_min_rx: 50_000,
                multiplier: 3,
                ..Settings::default()
            },
        }
    }

    /// Two tables, "here" (192.0.2.1) and "there" (192.0.2.2 and .3 as
    /// two hosts), wired by address; runs until `until`.
    fn exchange(a: &mut Table, b: &mut Table, now: &mut Instant, until: Duration) -> Vec<String> {
        let end = *now + until;
        let mut events = Vec::new();
        loop {
            for _ in 0..100 {
                let mut quiet = true;
                a.handle_timeout(*now);
                b.handle_timeout(*now);
                while let Some((_, to, _, bytes)) = a.poll_transmit(*now) {
                    quiet = false;
                    if to == "192.0.2.2".parse::<IpAddr>().unwrap() {
                        b.handle_datagram(*now, "192.0.2.1".parse().unwrap(), Some(255), &bytes).unwrap();
                    }
                }
                while let Some((_, to, _, bytes)) = b.poll_transmit(*now) {
                    quiet = false;
                    assert_eq!(to, "192.0.2.1".parse::<IpAddr>().unwrap());
                    a.handle_datagram(*now, "::ffff:192.0.2.2".parse().unwrap(), Some(255), &bytes).unwrap();
                }
                if quiet {
                    break;
                }
            }
            for (side, t) in [("a", &mut *a), ("b", &mut *b)] {
                while let Some((name, ev)) = t.poll_event() {
                    events.push(format!("{side} {name} {ev:?}"));
                }
            }
            match [a.poll_timeout(), b.poll_timeout()].into_iter().flatten().min() {
                Some(t) if t <= end => *now = t.max(*now + Duration::from_micros(1)),
                _ => {
                    *now = end;
                    return events;
                }
            }
        }
    }

    #[test]
    fn sessions_are_found_by_address_then_discriminator_and_kept_over_a_reload() {
        let mut now = Instant::now();
        let mut a = Table::new(1);
        let mut b = Table::new(2);
        assert_eq!(a.configure(now, &[peer("B2", "192.0.2.2"), peer("B3", "192.0.2.3")]), ["B2", "B3"]);
        b.configure(now, &[peer("A", "192.0.2.1")]);
        let ev = exchange(&mut a, &mut b, &mut now, Duration::from_secs(2));
        assert!(ev.contains(&"a B2 Up".to_string()) && ev.contains(&"b A Up".to_string()), "{ev:?}");
        assert!(!ev.iter().any(|e| e.starts_with("a B3")), "{ev:?}");
        // The same config again (and B3's settings changed): B2 carries on.
        let mut b3 = peer("B3", "192.0.2.3");
        b3.settings.multiplier = 4;
        assert_eq!(a.configure(now, &[peer("B2", "192.0.2.2"), b3]), ["B3"]);
        let ev = exchange(&mut a, &mut b, &mut now, Duration::from_secs(2));
        assert!(ev.is_empty(), "{ev:?}");
        // B2 removed: the neighbor hears AdminDown at once.
        a.configure(now, &[]);
        let (name, to, _, bytes) = a.poll_farewell().unwrap();
        assert_eq!(name, "B2");
        assert_eq!(to, "192.0.2.2".parse::<IpAddr>().unwrap());
        b.handle_datagram(now, "192.0.2.1".parse().unwrap(), Some(255), &bytes).unwrap();
        assert_eq!(b.poll_event(), Some(("A", Event::Down(crate::Diag::NeighborSignaledDown))));
        assert_eq!(a.poll_farewell(), None);
    }

    #[test]
    fn strangers_and_garbage_are_refused_with_why() {
        let now = Instant::now();
        let mut a = Table::new(1);
        a.configure(now, &[peer("B2", "192.0.2.2")]);
        let from: IpAddr = "192.0.2.9".parse().unwrap();
        let mut s = Session::new(now, Settings::default(), 5);
        let bytes = s.poll_transmit(now).unwrap().emit();
        assert_eq!(
            a.handle_datagram(now, from, Some(255), &bytes).unwrap_err().to_string(),
            "no session with neighbor 192.0.2.9 (your discriminator 0)"
        );
        assert_eq!(
            a.handle_datagram(now, from, None, &bytes[..10]).unwrap_err(),
            Refused::Malformed(wire::Error::Truncated(10))
        );
        let e = a.handle_datagram(now, "192.0.2.2".parse().unwrap(), Some(3), &bytes).unwrap_err();
        assert_eq!(e.to_string(), "session B2: TTL 3 is below 255 (max_hops 0)");
        // The right discriminator from the wrong address.
        let (_, _, _, mine) = a.poll_transmit(now).unwrap();
        let disc = u32::from_be_bytes([mine[4], mine[5], mine[6], mine[7]]);
        let mut forged = Repr::parse_bytes(&bytes).unwrap();
        forged.your_disc = disc;
        assert!(matches!(a.handle_datagram(now, from, Some(255), &forged.emit()), Err(Refused::NoSession { .. })));
    }

    #[test]
    fn discriminators_are_unique() {
        let now = Instant::now();
        let mut t = Table::new(7);
        let peers: Vec<Peer> = (0..64).map(|i| peer(&format!("B{i}"), &format!("10.0.0.{i}"))).collect();
        t.configure(now, &peers);
        let mut discs: Vec<u32> = t.sessions().map(|(_, s)| s.local_discriminator()).collect();
        discs.sort();
        discs.dedup();
        assert_eq!(discs.len(), 64);
        assert!(!discs.contains(&0));
    }
}
