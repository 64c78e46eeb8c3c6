//! The NTP packet header (RFC 5905 7.3), smoltcp-style: [`Packet`] wraps
//! bytes with checked field access; [`Repr`] is the parsed form.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const LEN: usize = 48;
pub const PORT: u16 = 123;

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const UNIX_OFFSET: u64 = 2_208_988_800;

/// An NTP timestamp: seconds since 1900 (era 0, or era 1 after 2036) and a
/// binary fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn from_system(t: SystemTime) -> Timestamp {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = (d.as_secs() + UNIX_OFFSET) & 0xffff_ffff;
        let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        Timestamp((secs << 32) | frac)
    }

    /// As a Unix time in nanoseconds (signed, so times before 1970 work).
    /// Era: a value with the top bit clear is taken as after 2036 (era 1),
    /// as RFC 4330 3 suggests, so the mapping lasts until 2104.
    pub fn to_unix_nanos(self) -> i128 {
        let secs = self.0 >> 32;
        let era_secs = if secs & 0x8000_0000 == 0 { secs + (1 << 32) } else { secs };
        let frac_ns = ((self.0 & 0xffff_ffff) * 1_000_000_000) >> 32;
        (i128::from(era_secs) - i128::from(UNIX_OFFSET)) * 1_000_000_000 + i128::from(frac_ns)
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

pub fn system_from_unix_nanos(ns: i128) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns.min(i128::from(u64::MAX)) as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos((-ns).min(i128::from(u64::MAX)) as u64)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not 48 bytes or more.
    Truncated(usize),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Truncated(n) => write!(f, "{n} bytes is shorter than an NTP header (48)"),
        }
    }
}

/// Checked access to the fields of an NTP header in a buffer.
pub struct Packet<T: AsRef<[u8]>>(T);

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_checked(b: T) -> Result<Packet<T>, Error> {
        let n = b.as_ref().len();
        if n < LEN { Err(Error::Truncated(n)) } else { Ok(Packet(b)) }
    }
    fn b(&self) -> &[u8] {
        self.0.as_ref()
    }
    pub fn leap(&self) -> u8 {
        self.b()[0] >> 6
    }
    pub fn version(&self) -> u8 {
        (self.b()[0] >> 3) & 7
    }
    pub fn mode(&self) -> u8 {
        self.b()[0] & 7
    }
    pub fn stratum(&self) -> u8 {
        self.b()[1]
    }
    pub fn reference_id(&self) -> [u8; 4] {
        [self.b()[12], self.b()[13], self.b()[14], self.b()[15]]
    }
    fn ts(&self, at: usize) -> Timestamp {
        let mut x = [0u8; 8];
        x.copy_from_slice(&self.b()[at..at + 8]);
        Timestamp(u64::from_be_bytes(x))
    }
    pub fn origin(&self) -> Timestamp {
        self.ts(24)
    }
    pub fn receive(&self) -> Timestamp {
        self.ts(32)
    }
    pub fn transmit(&self) -> Timestamp {
        self.ts(40)
    }
}

/// An NTP header, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub leap: u8,
    pub version: u8,
    pub mode: u8,
    pub stratum: u8,
    pub reference_id: [u8; 4],
    pub origin: Timestamp,
    pub receive: Timestamp,
    pub transmit: Timestamp,
}

pub const MODE_CLIENT: u8 = 3;
pub const MODE_SERVER: u8 = 4;

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            leap: p.leap(),
            version: p.version(),
            mode: p.mode(),
            stratum: p.stratum(),
            reference_id: p.reference_id(),
            origin: p.origin(),
            receive: p.receive(),
            transmit: p.transmit(),
        }
    }

    /// A client request (version 4) carrying `transmit` as its transmit time,
    /// which a server copies into its reply's origin.
    pub fn request(transmit: Timestamp) -> Repr {
        Repr {
            leap: 0,
            version: 4,
            mode: MODE_CLIENT,
            stratum: 0,
            reference_id: [0; 4],
            origin: Timestamp(0),
            receive: Timestamp(0),
            transmit,
        }
    }

    pub fn emit(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0] = (self.leap << 6) | (self.version << 3) | self.mode;
        b[1] = self.stratum;
        b[12..16].copy_from_slice(&self.reference_id);
        b[24..32].copy_from_slice(&self.origin.0.to_be_bytes());
        b[32..40].copy_from_slice(&self.receive.0.to_be_bytes());
        b[40..48].copy_from_slice(&self.transmit.0.to_be_bytes());
        b
    }
}
