//! What one reply says, once it has passed the checks RFC 4330 5 asks of a
//! client. Offsets and delays in nanoseconds (signed).

use crate::packet::{MODE_SERVER, Packet, Repr, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Server clock minus ours: ((T2 - T1) + (T3 - T4)) / 2.
    pub offset_ns: i128,
    /// Round trip minus the server's own time: (T4 - T1) - (T3 - T2).
    pub delay_ns: i128,
    pub stratum: u8,
}

/// Why a reply was not believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    Malformed(String),
    NotAServerReply {
        mode: u8,
    },
    Version(u8),
    /// Stratum 0: a kiss-o'-death with its code (RATE, DENY, RSTR, ...).
    KissOfDeath(String),
    Stratum(u8),
    /// Leap indicator 3: the server's clock is not synchronised.
    Unsynchronised,
    ZeroTransmit,
    /// Not a reply to our request (or a replay).
    OriginMismatch,
}

impl Reject {
    /// DENY and RSTR: the server asks not to be asked again.
    pub fn stop_asking(&self) -> bool {
        matches!(self, Reject::KissOfDeath(c) if c == "DENY" || c == "RSTR")
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::Malformed(m) => write!(f, "{m}"),
            Reject::NotAServerReply { mode } => write!(f, "mode {mode} is not a server reply"),
            Reject::Version(v) => write!(f, "NTP version {v}"),
            Reject::KissOfDeath(c) => write!(f, "kiss-o'-death {c}"),
            Reject::Stratum(s) => write!(f, "stratum {s}"),
            Reject::Unsynchronised => write!(f, "the server's clock is not synchronised (leap 3)"),
            Reject::ZeroTransmit => write!(f, "zero transmit time"),
            Reject::OriginMismatch => write!(f, "origin time is not our request's"),
        }
    }
}

/// Checks a reply to the request sent at `t1` and received at `t4` (our
/// clock), and computes offset and delay.
pub fn from_reply(bytes: &[u8], t1: Timestamp, t4: Timestamp) -> Result<Sample, Reject> {
    let p = Packet::new_checked(bytes).map_err(|e| Reject::Malformed(e.to_string()))?;
    let r = Repr::parse(&p);
    if r.mode != MODE_SERVER {
        return Err(Reject::NotAServerReply { mode: r.mode });
    }
    if !(3..=4).contains(&r.version) {
        return Err(Reject::Version(r.version));
    }
    if r.stratum == 0 {
        let code: String = r.reference_id.iter().map(|&c| if c.is_ascii_graphic() { c as char } else { '?' }).collect();
        return Err(Reject::KissOfDeath(code));
    }
    if r.stratum > 15 {
        return Err(Reject::Stratum(r.stratum));
    }
    if r.leap == 3 {
        return Err(Reject::Unsynchronised);
    }
    if r.transmit.is_zero() {
        return Err(Reject::ZeroTransmit);
    }
    if r.origin != t1 {
        return Err(Reject::OriginMismatch);
    }
    let (t1, t2, t3, t4) =
        (t1.to_unix_nanos(), r.receive.to_unix_nanos(), r.transmit.to_unix_nanos(), t4.to_unix_nanos());
    Ok(Sample { offset_ns: ((t2 - t1) + (t3 - t4)) / 2, delay_ns: (t4 - t1) - (t3 - t2), stratum: r.stratum })
}
