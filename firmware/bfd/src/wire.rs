//! The BFD control packet (RFC 5880 section 4.1), in the smoltcp style:
//! [`Packet`] wraps a byte buffer and checks its length at the edge;
//! [`Repr`] is the parsed meaning, with `parse` (the checks of section
//! 6.8.6 that need no session) and `emit`.
//!
//! ```text
//!  0                   1                   2                   3
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! ```
//!
//! Intervals are in microseconds. Authentication (the A bit and the
//! section after the header) is not supported: a packet that carries it is
//! refused, as the RFC requires of a session without authentication.

use std::fmt;

pub const VERSION: u8 = 1;
/// A control packet without authentication.
pub const LEN: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("truncated: {0} bytes, a control packet has 24")]
    Truncated(usize),
    #[error("version {0}, not 1")]
    Version(u8),
    #[error("length field {field} with {len} bytes received")]
    Length { field: u8, len: usize },
    #[error("authenticated (A bit): not configured here")]
    Authenticated,
    #[error("poll and final both set")]
    PollAndFinal,
    #[error("detect multiplier 0")]
    Multiplier,
    #[error("multipoint bit set")]
    Multipoint,
    #[error("my discriminator 0")]
    MyDiscriminator,
    #[error("your discriminator 0 in state {0}")]
    YourDiscriminator(State),
}

/// Session states (section 4.1), as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "admin down",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        })
    }
}

/// Diagnostic codes (section 4.1): why the session last left Up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Diag {
    None,
    DetectionTimeExpired,
    EchoFailed,
    NeighborSignaledDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdministrativelyDown,
    ReverseConcatenatedPathDown,
    /// A code this implementation does not know (9-31), kept as sent.
    Other(u8),
}

impl Diag {
    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::DetectionTimeExpired => 1,
            Diag::EchoFailed => 2,
            Diag::NeighborSignaledDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Other(c) => c & 0x1f,
        }
    }

    pub fn from_code(c: u8) -> Diag {
        match c & 0x1f {
            0 => Diag::None,
            1 => Diag::DetectionTimeExpired,
            2 => Diag::EchoFailed,
            3 => Diag::NeighborSignaledDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            c => Diag::Other(c),
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diag::None => f.write_str("no diagnostic"),
            Diag::DetectionTimeExpired => f.write_str("control detection time expired"),
            Diag::EchoFailed => f.write_str("echo function failed"),
            Diag::NeighborSignaledDown => f.write_str("neighbor signaled session down"),
            Diag::ForwardingPlaneReset => f.write_str("forwarding plane reset"),
            Diag::PathDown => f.write_str("path down"),
            Diag::ConcatenatedPathDown => f.write_str("concatenated path down"),
            Diag::AdministrativelyDown => f.write_str("administratively down"),
            Diag::ReverseConcatenatedPathDown => f.write_str("reverse concatenated path down"),
            Diag::Other(c) => write!(f, "diagnostic {c}"),
        }
    }
}

/// A control packet in a buffer.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buf: T) -> Packet<T> {
        Packet { buf }
    }

    /// Checks that the mandatory section is there; `Repr::parse` checks
    /// the rest.
    pub fn new_checked(buf: T) -> Result<Packet<T>, Error> {
        let len = buf.as_ref().len();
        if len < LEN {
            return Err(Error::Truncated(len));
        }
        Ok(Packet { buf })
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    fn u32_at(&self, at: usize) -> u32 {
        let b = self.b();
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    pub fn version(&self) -> u8 {
        self.b()[0] >> 5
    }
    pub fn diag(&self) -> Diag {
        Diag::from_code(self.b()[0])
    }
    pub fn state(&self) -> State {
        State::from_bits(self.b()[1] >> 6)
    }
    pub fn poll(&self) -> bool {
        self.b()[1] & 0x20 != 0
    }
    pub fn final_(&self) -> bool {
        self.b()[1] & 0x10 != 0
    }
    pub fn cpi(&self) -> bool {
        self.b()[1] & 0x08 != 0
    }
    pub fn auth(&self) -> bool {
        self.b()[1] & 0x04 != 0
    }
    pub fn demand(&self) -> bool {
        self.b()[1] & 0x02 != 0
    }
    pub fn multipoint(&self) -> bool {
        self.b()[1] & 0x01 != 0
    }
    pub fn detect_mult(&self) -> u8 {
        self.b()[2]
    }
    pub fn length(&self) -> u8 {
        self.b()[3]
    }
    pub fn my_disc(&self) -> u32 {
        self.u32_at(4)
    }
    pub fn your_disc(&self) -> u32 {
        self.u32_at(8)
    }
    pub fn desired_min_tx(&self) -> u32 {
        self.u32_at(12)
    }
    pub fn required_min_rx(&self) -> u32 {
        self.u32_at(16)
    }
    pub fn required_min_echo_rx(&self) -> u32 {
        self.u32_at(20)
    }
}

/// What a control packet says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub diag: Diag,
    pub state: State,
    pub poll: bool,
    pub final_: bool,
    /// Control Plane Independent: not claimed by this implementation.
    pub cpi: bool,
    pub demand: bool,
    pub detect_mult: u8,
    pub my_disc: u32,
    pub your_disc: u32,
    /// Microseconds.
    pub desired_min_tx: u32,
    /// Microseconds.
    pub required_min_rx: u32,
    /// Microseconds; 0: no echo packets wanted (this implementation sends
    /// none and asks for none).
    pub required_min_echo_rx: u32,
}

impl Repr {
    /// The checks of RFC 5880 section 6.8.6 that need no session.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, Error> {
        if p.version() != VERSION {
            return Err(Error::Version(p.version()));
        }
        let len = p.b().len();
        let field = p.length();
        // The length field covers the packet (with authentication it is
        // longer than 24); anything past it in the datagram is ignored.
        if (field as usize) < LEN || field as usize > len {
            return Err(Error::Length { field, len });
        }
        if p.auth() {
            return Err(Error::Authenticated);
        }
        if p.poll() && p.final_() {
            return Err(Error::PollAndFinal);
        }
        if p.detect_mult() == 0 {
            return Err(Error::Multiplier);
        }
        if p.multipoint() {
            return Err(Error::Multipoint);
        }
        if p.my_disc() == 0 {
            return Err(Error::MyDiscriminator);
        }
        let state = p.state();
        if p.your_disc() == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(Error::YourDiscriminator(state));
        }
        Ok(Repr {
            diag: p.diag(),
            state,
            poll: p.poll(),
            final_: p.final_(),
            cpi: p.cpi(),
            demand: p.demand(),
            detect_mult: p.detect_mult(),
            my_disc: p.my_disc(),
            your_disc: p.your_disc(),
            desired_min_tx: p.desired_min_tx(),
            required_min_rx: p.required_min_rx(),
            required_min_echo_rx: p.required_min_echo_rx(),
        })
    }

    /// Parses a datagram's payload.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Repr, Error> {
        Repr::parse(&Packet::new_checked(bytes)?)
    }

    /// The 24 bytes on the wire.
    pub fn emit(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0] = (VERSION << 5) | self.diag.code();
        b[1] = ((self.state as u8) << 6)
            | (u8::from(self.poll) << 5)
            | (u8::from(self.final_) << 4)
            | (u8::from(self.cpi) << 3)
            | (u8::from(self.demand) << 1);
        b[2] = self.detect_mult;
        b[3] = LEN as u8;
        b[4..8].copy_from_slice(&self.my_disc.to_be_bytes());
        b[8..12].copy_from_slice(&self.your_disc.to_be_bytes());
        b[12..16].copy_from_slice(&self.desired_min_tx.to_be_bytes());
        b[16..20].copy_from_slice(&self.required_min_rx.to_be_bytes());
        b[20..24].copy_from_slice(&self.required_min_echo_rx.to_be_bytes());
        b
    }
}

impl fmt::Display for Repr {
    /// As an operator reads a capture: `up, my 7 your 9, tx 300 ms rx 300
    /// ms x3, poll`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, my {} your {}, tx {} rx {} x{}",
            self.state,
            self.my_disc,
            self.your_disc,
            Micros(self.desired_min_tx),
            Micros(self.required_min_rx),
            self.detect_mult
        )?;
        if self.diag != Diag::None {
            write!(f, ", {}", self.diag)?;
        }
        if self.poll {
            f.write_str(", poll")?;
        }
        if self.final_ {
            f.write_str(", final")?;
        }
        Ok(())
    }
}

/// Microseconds as an operator writes them: `300 ms`, `3.312 ms`, `1 s`.
pub struct Micros(pub u32);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        if us >= 1_000_000 && us.is_multiple_of(1_000_000) {
            write!(f, "{} s", us / 1_000_000)
        } else if us.is_multiple_of(1000) {
            write!(f, "{} ms", us / 1000)
        } else {
            let s = format!("{}.{:03}", us / 1000, us % 1000);
            write!(f, "{} ms", s.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up() -> Repr {
        Repr {
            diag: Diag::None,
            state: State::Up,
            poll: false,
            final_: true,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_disc: 0x0102_0304,
            your_disc: 9,
            desired_min_tx: 300_000,
            required_min_rx: 300_000,
            required_min_echo_rx: 0,
        }
    }

    #[test]
    fn emit_and_parse_round_trip_bit_for_bit() {
        let r = up();
        let b = r.emit();
        // Version 1, diag 0; Up (3 << 6) with F (0x10); mult 3; length 24.
        assert_eq!(&b[..4], &[0x20, 0xd0, 3, 24]);
        assert_eq!(&b[4..8], &[1, 2, 3, 4]);
        assert_eq!(&b[12..16], &300_000u32.to_be_bytes());
        assert_eq!(Repr::parse_bytes(&b), Ok(r));
        let d = Repr { diag: Diag::NeighborSignaledDown, state: State::Down, poll: true, final_: false, ..r };
        assert_eq!(d.emit()[0], 0x23);
        assert_eq!(d.emit()[1], 0x60);
        assert_eq!(Repr::parse_bytes(&d.emit()), Ok(d));
    }

    /// A packet FRR's bfdd 8.4.4 sent (captured with tshark in a namespace
    /// here, `peer 10.9.0.1` with its defaults): Down, your discriminator
    /// 0, 1 s while down, multiplier 3, echo 50 ms; from port 49152, TTL 255.
    #[test]
    fn a_packet_from_frr_is_read() {
        let b = [
            0x20, 0x40, 0x03, 0x18, 0x14, 0x74, 0x75, 0x47, 0, 0, 0, 0, 0x00, 0x0f, 0x42, 0x40, 0x00, 0x0f, 0x42, 0x40,
            0x00, 0x00, 0xc3, 0x50,
        ];
        let r = Repr::parse_bytes(&b).unwrap();
        assert_eq!((r.state, r.my_disc, r.your_disc, r.detect_mult), (State::Down, 0x1474_7547, 0, 3));
        assert_eq!((r.desired_min_tx, r.required_min_rx, r.required_min_echo_rx), (1_000_000, 1_000_000, 50_000));
        assert_eq!(r.to_string(), "down, my 343176519 your 0, tx 1 s rx 1 s x3");
        assert_eq!(r.emit(), b);
    }

    #[test]
    fn bad_packets_say_what_is_wrong() {
        let good = up().emit();
        let with = |i: usize, v: u8| {
            let mut b = good;
            b[i] = v;
            Repr::parse_bytes(&b)
        };
        assert_eq!(Repr::parse_bytes(&good[..23]), Err(Error::Truncated(23)));
        assert_eq!(Repr::parse_bytes(&[]), Err(Error::Truncated(0)));
        assert_eq!(with(0, 0x40), Err(Error::Version(2)));
        assert_eq!(with(3, 23), Err(Error::Length { field: 23, len: 24 }));
        assert_eq!(with(3, 30), Err(Error::Length { field: 30, len: 24 }));
        assert_eq!(with(1, 0xd4), Err(Error::Authenticated));
        assert_eq!(with(2, 0), Err(Error::Multiplier));
        assert_eq!(with(1, 0xf0), Err(Error::PollAndFinal));
        assert_eq!(with(1, 0xc1), Err(Error::Multipoint));
        let mut b = good;
        b[4..8].fill(0);
        assert_eq!(Repr::parse_bytes(&b), Err(Error::MyDiscriminator));
        let mut b = good;
        b[8..12].fill(0);
        assert_eq!(Repr::parse_bytes(&b), Err(Error::YourDiscriminator(State::Up)));
        assert_eq!(Error::YourDiscriminator(State::Up).to_string(), "your discriminator 0 in state up");
        // Bytes past the length field are ignored.
        let mut long = good.to_vec();
        long.extend_from_slice(&[0xff; 8]);
        assert_eq!(Repr::parse_bytes(&long), Ok(up()));
    }

    #[test]
    fn every_byte_string_parses_or_errs_without_panicking() {
        // A small exhaustive sweep over the header bytes that steer parsing.
        let base = up().emit();
        for b0 in 0..=255u8 {
            for b1 in 0..=255u8 {
                let mut b = base;
                b[0] = b0;
                b[1] = b1;
                if let Ok(r) = Repr::parse_bytes(&b) {
                    assert_eq!(r.emit()[1] & !0x01, b1 & !0x05, "{b0:#x} {b1:#x}");
                }
            }
        }
    }

    #[test]
    fn intervals_read_as_operators_write_them() {
        assert_eq!(Micros(300_000).to_string(), "300 ms");
        assert_eq!(Micros(3_312).to_string(), "3.312 ms");
        assert_eq!(Micros(3_300).to_string(), "3.3 ms");
        assert_eq!(Micros(1_000_000).to_string(), "1 s");
        assert_eq!(Micros(0).to_string(), "0 ms");
    }
}
