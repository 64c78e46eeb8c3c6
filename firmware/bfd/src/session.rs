//! One BFD session (RFC 5880 section 6.8) in asynchronous mode, without
//! echo and without authentication, as keepalived and FRR's bfdd run it.
//!
//! Driven by the caller: [`Session::handle_packet`] with each control
//! packet demultiplexed to it, [`Session::handle_timeout`] when
//! [`Session::poll_timeout`] passes, [`Session::poll_transmit`] for what to
//! send, [`Session::poll_event`] for Up / Down. No sockets, no clock of its
//! own, and its randomness (discriminator, transmit jitter) from a seed the
//! caller gives: a test replays it exactly.

use crate::wire::{Diag, Repr, State};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What the operator set (keepalived's `bfd_instance`), in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `min_tx`: bfd.DesiredMinTxInterval while the session is Up.
    pub desired_min_tx: u32,
    /// `min_rx`: bfd.RequiredMinRxInterval.
    pub required_min_rx: u32,
    /// `idle_tx`: the transmit interval while the session is not Up
    /// (RFC 5880 asks for at least one second; keepalived's default).
    pub idle_tx: u32,
    /// `multiplier`: bfd.DetectMult.
    pub multiplier: u8,
    /// `passive`: send nothing until the neighbor has spoken.
    pub passive: bool,
    /// The TTL (hop limit) sent: 255 (RFC 5881), or the operator's.
    pub ttl: u8,
    /// `max_hops`: how far below `ttl` a packet may arrive (0: as sent,
    /// RFC 5881's GTSM check; 255, or at least `ttl`: not checked).
    pub max_hops: u8,
}

impl Default for Settings {
    /// keepalived's defaults: 10 ms, 10 ms, idle 1 s, x5, active, TTL 255.
    fn default() -> Settings {
        Settings {
            desired_min_tx: 10_000,
            required_min_rx: 10_000,
            idle_tx: 1_000_000,
            multiplier: 5,
            passive: false,
            ttl: 255,
            max_hops: 0,
        }
    }
}

/// A session came up or went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Up,
    /// Left Up, and why (the diagnostic it now sends).
    Down(Diag),
}

/// Why a packet demultiplexed to this session was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Dropped {
    #[error("TTL {ttl} is below {min} (max_hops {max_hops})")]
    Ttl { ttl: u8, min: u8, max_hops: u8 },
    #[error("your discriminator {got} is not this session's {mine}")]
    Discriminator { got: u32, mine: u32 },
    #[error("the session is administratively down")]
    AdminDown,
}

/// Events kept for the caller: a session that flaps faster than it is
/// polled keeps only the newest few (the last one is the state).
const EVENTS: usize = 8;

#[derive(Debug, Clone)]
pub struct Session {
    settings: Settings,
    local_disc: u32,
    remote_disc: u32,
    state: State,
    remote_state: State,
    diag: Diag,
    /// bfd.RemoteMinRxInterval: starts at 1 µs (RFC 5880 6.8.1).
    remote_min_rx: u32,
    remote_desired_min_tx: u32,
    remote_mult: u8,
    remote_demand: bool,
    /// A Poll Sequence of ours is running: P on every packet until F.
    polling: bool,
    /// The neighbor polled: send F now.
    final_due: bool,
    /// Something changed that the neighbor should hear at once.
    send_now: bool,
    next_tx: Option<Instant>,
    /// Detection deadline: when the neighbor is declared gone.
    detect: Option<Instant>,
    events: VecDeque<Event>,
    rng: u64,
}

impl Session {
    /// A new session, Down. `seed` feeds the discriminator and the jitter
    /// (any value; 0 is replaced). The first packet is due at once unless
    /// passive.
    pub fn new(now: Instant, settings: Settings, seed: u64) -> Session {
        let mut s = Session {
            settings,
            local_disc: 0,
            remote_disc: 0,
            state: State::Down,
            remote_state: State::Down,
            diag: Diag::None,
            remote_min_rx: 1,
            remote_desired_min_tx: 0,
            remote_mult: 0,
            remote_demand: false,
            polling: false,
            final_due: false,
            send_now: false,
            next_tx: None,
            detect: None,
            events: VecDeque::new(),
            rng: seed | 1,
        };
        while s.local_disc == 0 {
            s.local_disc = s.random() as u32;
        }
        if !settings.passive {
            s.next_tx = Some(now);
        }
        s
    }

    /// A session with a given discriminator (one the caller keeps unique
    /// across its sessions).
    pub fn with_discriminator(now: Instant, settings: Settings, seed: u64, disc: u32) -> Session {
        let mut s = Session::new(now, settings, seed);
        if disc != 0 {
            s.local_disc = disc;
        }
        s
    }

    pub fn local_discriminator(&self) -> u32 {
        self.local_disc
    }
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_disc
    }
    pub fn state(&self) -> State {
        self.state
    }
    pub fn remote_state(&self) -> State {
        self.remote_state
    }
    pub fn diag(&self) -> Diag {
        self.diag
    }
    pub fn settings(&self) -> Settings {
        self.settings
    }
    pub fn is_up(&self) -> bool {
        self.state == State::Up
    }

    /// xorshift64*: jitter and discriminators need spread, not secrecy.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// bfd.DesiredMinTxInterval now: `min_tx` while Up, `idle_tx` before.
    fn desired_min_tx(&self) -> u32 {
        if self.state == State::Up { self.settings.desired_min_tx } else { self.settings.idle_tx }
    }

    /// The interval between periodic packets, before jitter (6.8.7): the
    /// slower of what we want to send and what the neighbor can take.
    pub fn tx_interval(&self) -> Duration {
        Duration::from_micros(u64::from(self.desired_min_tx().max(self.remote_min_rx)))
    }

    /// The detection time in asynchronous mode (6.8.4): the neighbor's
    /// multiplier times the slower of what we can take and what it sends.
    pub fn detection_time(&self) -> Duration {
        let interval = self.settings.required_min_rx.max(self.remote_desired_min_tx);
        Duration::from_micros(u64::from(interval) * u64::from(self.remote_mult.max(1)))
    }

    fn jittered(&mut self, interval: Duration) -> Duration {
        // 75-100 % of the interval; 75-90 % with a multiplier of 1 (6.8.7).
        let span = if self.settings.multiplier == 1 { 15 } else { 25 };
        let pct = 75 + (self.random() % (span + 1)) as u32;
        interval * pct / 100
    }

    fn set_state(&mut self, state: State, diag: Diag) {
        if state == self.state {
            return;
        }
        let was_up = self.state == State::Up;
        self.state = state;
        // Why it left Up is said until it is Up again.
        self.diag = if state == State::Up { Diag::None } else { diag };
        if state == State::Up {
            self.push(Event::Up);
        } else if was_up {
            self.push(Event::Down(diag));
        }
        // Our DesiredMinTx changes with Up (idle_tx <-> min_tx): a Poll
        // Sequence tells the neighbor (6.8.3), and the change is sent now
        // rather than an idle interval later.
        self.polling = true;
        self.send_now = true;
    }

    fn push(&mut self, e: Event) {
        if self.events.len() == EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    /// A control packet for this session (demultiplexed by the caller:
    /// by `your_disc` when non-zero, else by the addresses), with the TTL
    /// or hop limit it arrived with when the socket reports it.
    pub fn handle_packet(&mut self, now: Instant, p: &Repr, ttl: Option<u8>) -> Result<(), Dropped> {
        // keepalived's check: received + max_hops below the TTL sent.
        if let Some(ttl) = ttl {
            let Settings { ttl: sent, max_hops, .. } = self.settings;
            if max_hops != 255 && u16::from(ttl) + u16::from(max_hops) < u16::from(sent) {
                return Err(Dropped::Ttl { ttl, min: sent - max_hops, max_hops });
            }
        }
        if p.your_disc != 0 && p.your_disc != self.local_disc {
            return Err(Dropped::Discriminator { got: p.your_disc, mine: self.local_disc });
        }
        self.remote_disc = p.my_disc;
        self.remote_state = p.state;
        self.remote_demand = p.demand;
        self.remote_min_rx = p.required_min_rx;
        self.remote_desired_min_tx = p.desired_min_tx;
        self.remote_mult = p.detect_mult;
        if p.final_ {
            self.polling = false;
        }
        if self.state == State::AdminDown {
            return Err(Dropped::AdminDown);
        }
        if p.state == State::AdminDown {
            if self.state != State::Down {
                self.set_state(State::Down, Diag::NeighborSignaledDown);
            }
        } else {
            match (self.state, p.state) {
                (State::Down, State::Down) => self.set_state(State::Init, Diag::None),
                (State::Down, State::Init) => self.set_state(State::Up, Diag::None),
                (State::Init, State::Init | State::Up) => self.set_state(State::Up, Diag::None),
                (State::Up, State::Down) => self.set_state(State::Down, Diag::NeighborSignaledDown),
                _ => {}
            }
        }
        if p.poll {
            self.final_due = true;
        }
        // The interval shrank below what is left of the current wait (the
        // neighbor takes packets faster, or we came Up from idle_tx): pull
        // the next packet in.
        let interval = self.tx_interval();
        match self.next_tx {
            Some(t) if t > now + interval => self.next_tx = Some(now + interval),
            None if self.periodic() => self.next_tx = Some(now),
            _ => {}
        }
        self.detect = Some(now + self.detection_time());
        Ok(())
    }

    /// Whether periodic packets go out (6.8.7): not to a neighbor that
    /// wants none, not while both ends are Up in Demand mode, and, passive,
    /// not before the neighbor has spoken.
    fn periodic(&self) -> bool {
        if self.remote_min_rx == 0 {
            return false;
        }
        if self.settings.passive && self.remote_disc == 0 {
            return false;
        }
        !(self.remote_demand && self.state == State::Up && self.remote_state == State::Up)
    }

    /// The detection time passed without a packet (or the transmit time
    /// came): call when [`Session::poll_timeout`] is reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.detect
            && now >= d
        {
            self.detect = None;
            // 6.8.1: bfd.RemoteDiscr is forgotten after a Detection Time
            // without packets, whatever the state.
            self.remote_disc = 0;
            self.remote_state = State::Down;
            self.remote_min_rx = 1;
            if matches!(self.state, State::Init | State::Up) {
                self.set_state(State::Down, Diag::DetectionTimeExpired);
            }
            if self.settings.passive {
                self.next_tx = None;
            }
        }
    }

    /// The next time the session needs [`Session::handle_timeout`] or
    /// [`Session::poll_transmit`]. Packets due at once (an answer to a
    /// poll, a state change) are taken by calling `poll_transmit` after
    /// each `handle_*`, as the caller does anyway.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next_tx, self.detect].into_iter().flatten().min()
    }

    /// Whether a packet may go out at all (a state change, an answer).
    fn may_send(&self) -> bool {
        self.state == State::AdminDown || (self.remote_min_rx != 0 && !(self.settings.passive && self.remote_disc == 0))
    }

    /// What to send now, if anything: a packet with F in answer to a poll
    /// (at once, outside the schedule), a state change (at once), or the
    /// periodic packet when it is due.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Repr> {
        let mut due = self.next_tx.is_some_and(|t| now >= t);
        if due && !self.periodic() && self.state != State::AdminDown {
            // The neighbor stopped wanting packets since this was planned.
            self.next_tx = None;
            due = false;
        }
        let immediate = self.final_due || (self.send_now && self.may_send());
        if !due && !immediate {
            return None;
        }
        let final_ = std::mem::take(&mut self.final_due);
        self.send_now = false;
        let repr = Repr {
            diag: self.diag,
            state: self.state,
            // P and F are never both set: a poll waits for the next packet.
            poll: self.polling && !final_,
            final_,
            cpi: false,
            demand: false,
            detect_mult: self.settings.multiplier,
            my_disc: self.local_disc,
            your_disc: self.remote_disc,
            desired_min_tx: self.desired_min_tx(),
            required_min_rx: self.settings.required_min_rx,
            required_min_echo_rx: 0,
        };
        if due || self.next_tx.is_none() {
            self.next_tx = if self.periodic() || self.state == State::AdminDown {
                let interval = self.tx_interval();
                Some(now + self.jittered(interval))
            } else {
                None
            };
        }
        Some(repr)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Takes the session administratively down (vigil stopping, the
    /// instance removed): the neighbor is told at once, with diagnostic 7,
    /// and goes Down without waiting out its detection time.
    pub fn admin_down(&mut self) {
        self.set_state(State::AdminDown, Diag::AdministrativelyDown);
        self.polling = false;
        self.detect = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A neighbor's first packet: Down, `my_disc`, 10 ms, x3.
    fn down(my_disc: u32) -> Repr {
        Repr {
            diag: Diag::None,
            state: State::Down,
            poll: false,
            final_: false,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_disc,
            your_disc: 0,
            desired_min_tx: 10_000,
            required_min_rx: 10_000,
            required_min_echo_rx: 0,
        }
    }

    fn settings(tx_ms: u32, mult: u8) -> Settings {
        Settings {
            desired_min_tx: tx_ms * 1000,
            required_min_rx: tx_ms * 1000,
            multiplier: mult,
            ..Settings::default()
        }
    }

    /// Two sessions wired back to back: each one's packets are the
    /// other's input, as long as `link` is up. Returns the events seen.
    struct Pair {
        a: Session,
        b: Session,
        now: Instant,
        link: bool,
        sent: [u32; 2],
    }

    impl Pair {
        fn new(sa: Settings, sb: Settings) -> Pair {
            let now = Instant::now();
            Pair { a: Session::new(now, sa, 1), b: Session::new(now, sb, 2), now, link: true, sent: [0; 2] }
        }

        /// Runs until `until` (virtual time), in steps of the sessions'
        /// own timeouts; returns (time, side, event) in order.
        fn run(&mut self, until: Duration) -> Vec<(Duration, char, Event)> {
            let start = self.now;
            let end = self.now + until;
            let mut out = Vec::new();
            for _ in 0..1_000_000 {
                // Everything due now, until neither side has more to say.
                for _ in 0..100 {
                    let mut quiet = true;
                    for which in 0..2 {
                        let (me, peer) =
                            if which == 0 { (&mut self.a, &mut self.b) } else { (&mut self.b, &mut self.a) };
                        me.handle_timeout(self.now);
                        while let Some(p) = me.poll_transmit(self.now) {
                            quiet = false;
                            self.sent[which] += 1;
                            if self.link {
                                let parsed = Repr::parse_bytes(&p.emit()).unwrap();
                                let _ = peer.handle_packet(self.now, &parsed, Some(255));
                            }
                        }
                    }
                    if quiet {
                        break;
                    }
                }
                for (side, s) in [('a', &mut self.a), ('b', &mut self.b)] {
                    while let Some(e) = s.poll_event() {
                        out.push((self.now - start, side, e));
                    }
                }
                match [self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min() {
                    Some(t) if t <= end => self.now = t.max(self.now + Duration::from_micros(1)),
                    _ => {
                        self.now = end;
                        return out;
                    }
                }
            }
            panic!("no progress");
        }
    }

    #[test]
    fn two_sessions_come_up_in_a_three_way_handshake() {
        let mut p = Pair::new(settings(10, 3), settings(10, 3));
        let ev = p.run(ms(50));
        assert!(ev.iter().any(|e| e.1 == 'a' && e.2 == Event::Up), "{ev:?}");
        assert!(ev.iter().any(|e| e.1 == 'b' && e.2 == Event::Up), "{ev:?}");
        // Up at once: the packets that change state go out without
        // waiting for the idle interval.
        assert!(ev.iter().all(|e| e.0 < ms(5)), "{ev:?}");
        assert_eq!(p.a.remote_discriminator(), p.b.local_discriminator());
        assert_eq!(p.b.remote_discriminator(), p.a.local_discriminator());
        // Up, each sends at min_tx with jitter: 75-100 % of 10 ms.
        let before = p.sent;
        p.run(ms(1000));
        for n in [p.sent[0] - before[0], p.sent[1] - before[1]] {
            assert!((100..=134).contains(&n), "{n} packets in a second at 10 ms");
        }
        assert_eq!(p.a.detection_time(), ms(30));
    }

    #[test]
    fn a_silent_neighbor_is_down_after_the_detection_time() {
        let mut p = Pair::new(settings(10, 3), settings(10, 3));
        p.run(ms(100));
        assert!(p.a.is_up() && p.b.is_up());
        p.link = false;
        let ev = p.run(ms(100));
        let downs: Vec<_> = ev.iter().filter(|e| matches!(e.2, Event::Down(_))).collect();
        assert_eq!(downs.len(), 2, "{ev:?}");
        for d in downs {
            assert_eq!(d.2, Event::Down(Diag::DetectionTimeExpired));
            // Detection time 30 ms after the last packet (sent up to 10 ms
            // before the cut).
            assert!(d.0 > ms(20) && d.0 <= ms(31), "{d:?}");
        }
        assert_eq!(p.a.remote_discriminator(), 0);
        // Down, the sessions fall back to idle_tx (1 s).
        let before = p.sent;
        p.run(ms(3000));
        assert!((3..=4).contains(&(p.sent[0] - before[0])), "{:?}", p.sent);
        // The link back: Up again.
        p.link = true;
        let ev = p.run(ms(2000));
        assert_eq!(ev.iter().filter(|e| e.2 == Event::Up).count(), 2, "{ev:?}");
    }

    #[test]
    fn admin_down_is_heard_at_once_as_neighbor_signaled_down() {
        let mut p = Pair::new(settings(10, 3), settings(10, 3));
        p.run(ms(100));
        p.a.admin_down();
        let ev = p.run(ms(5));
        assert_eq!(
            ev,
            vec![
                (ms(0), 'a', Event::Down(Diag::AdministrativelyDown)),
                (ms(0), 'b', Event::Down(Diag::NeighborSignaledDown))
            ]
        );
        assert_eq!(p.a.state(), State::AdminDown);
        assert_eq!(p.b.state(), State::Down);
        // It stays down while a is admin down.
        let ev = p.run(ms(3000));
        assert!(ev.is_empty(), "{ev:?}");
    }

    #[test]
    fn a_passive_session_waits_for_its_neighbor() {
        let passive = Settings { passive: true, ..settings(10, 3) };
        let now = Instant::now();
        let mut s = Session::new(now, passive, 7);
        assert_eq!(s.poll_transmit(now + ms(5000)), None);
        assert_eq!(s.poll_timeout(), None);
        // Two passive ends never meet; an active one brings both up.
        let mut p = Pair::new(passive, passive);
        assert!(p.run(ms(3000)).is_empty());
        assert_eq!(p.sent, [0, 0]);
        let mut p = Pair::new(passive, settings(10, 3));
        let ev = p.run(ms(3000));
        assert_eq!(ev.iter().filter(|e| e.2 == Event::Up).count(), 2, "{ev:?}");
    }

    #[test]
    fn a_poll_is_answered_with_final_at_once() {
        let now = Instant::now();
        let mut s = Session::new(now, settings(300, 3), 3);
        let first = s.poll_transmit(now).unwrap();
        assert_eq!((first.state, first.poll, first.final_), (State::Down, false, false));
        assert_eq!(first.desired_min_tx, 1_000_000, "idle_tx before Up");
        let peer = Repr {
            diag: Diag::None,
            state: State::Init,
            poll: true,
            final_: false,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_disc: 42,
            your_disc: s.local_discriminator(),
            desired_min_tx: 300_000,
            required_min_rx: 300_000,
            required_min_echo_rx: 50_000,
        };
        s.handle_packet(now + ms(10), &peer, Some(255)).unwrap();
        assert_eq!(s.state(), State::Up);
        assert_eq!(s.poll_event(), Some(Event::Up));
        let reply = s.poll_transmit(now + ms(10)).unwrap();
        assert!(reply.final_ && !reply.poll, "{reply}");
        assert_eq!((reply.state, reply.your_disc, reply.desired_min_tx), (State::Up, 42, 300_000));
        // Our own poll (DesiredMinTx changed with Up) rides the next one,
        // until the neighbor's F.
        let next = s.poll_transmit(now + ms(400)).unwrap();
        assert!(next.poll && !next.final_, "{next}");
        s.handle_packet(now + ms(410), &Repr { poll: false, final_: true, state: State::Up, ..peer }, Some(255))
            .unwrap();
        let after = s.poll_transmit(now + ms(800)).unwrap();
        assert!(!after.poll && !after.final_, "{after}");
    }

    #[test]
    fn packets_for_another_session_or_off_path_are_dropped() {
        let now = Instant::now();
        let mut s = Session::with_discriminator(now, settings(10, 3), 3, 77);
        let p = Repr { your_disc: 78, ..down(5) };
        assert_eq!(s.handle_packet(now, &p, None), Err(Dropped::Discriminator { got: 78, mine: 77 }));
        let p = Repr { your_disc: 0, ..p };
        assert_eq!(s.handle_packet(now, &p, Some(254)), Err(Dropped::Ttl { ttl: 254, min: 255, max_hops: 0 }));
        assert_eq!(Dropped::Ttl { ttl: 254, min: 255, max_hops: 0 }.to_string(), "TTL 254 is below 255 (max_hops 0)");
        assert_eq!(s.state(), State::Down);
        let mut multi = Session::new(now, Settings { max_hops: 2, ..settings(10, 3) }, 3);
        assert!(multi.handle_packet(now, &p, Some(253)).is_ok());
        assert_eq!(multi.state(), State::Init);
        let mut any = Session::new(now, Settings { max_hops: 255, ..settings(10, 3) }, 3);
        assert!(any.handle_packet(now, &p, Some(1)).is_ok());
    }

    #[test]
    fn a_neighbor_that_wants_no_packets_gets_none() {
        let now = Instant::now();
        let mut s = Session::new(now, settings(10, 3), 3);
        let _ = s.poll_transmit(now);
        let p = Repr { required_min_rx: 0, ..down(5) };
        s.handle_packet(now, &p, None).unwrap();
        // Init now: the state change is still not sent to a neighbor that
        // asked for no packets.
        assert_eq!(s.poll_transmit(now + ms(5000)), None);
    }

    #[test]
    fn the_transmit_interval_follows_the_slower_end_and_detection_the_neighbors_multiplier() {
        let mut p = Pair::new(settings(10, 3), settings(50, 5));
        p.run(ms(200));
        assert!(p.a.is_up() && p.b.is_up());
        // a may send every 10 ms but b takes one per 50 ms.
        assert_eq!(p.a.tx_interval(), ms(50));
        // a expects b every 50 ms, and b's multiplier is 5.
        assert_eq!(p.a.detection_time(), ms(250));
        assert_eq!(p.b.detection_time(), ms(150));
        let before = p.sent;
        p.run(ms(1000));
        let n = p.sent[0] - before[0];
        assert!((20..=27).contains(&n), "{n} at 50 ms");
    }

    #[test]
    fn events_are_bounded() {
        let now = Instant::now();
        let mut s = Session::new(now, settings(10, 3), 3);
        for i in 0..100 {
            s.push(if i % 2 == 0 { Event::Up } else { Event::Down(Diag::PathDown) });
        }
        assert_eq!(s.events.len(), EVENTS);
        assert_eq!(s.events.back(), Some(&Event::Down(Diag::PathDown)));
    }
}
