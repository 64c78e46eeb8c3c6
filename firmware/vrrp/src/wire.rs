//! The VRRP advertisement on the wire, in the smoltcp style: [`Packet`]
//! wraps a byte buffer and checks lengths at the edge; [`Repr`] is the
//! parsed meaning, with `parse` (which verifies the checksum) and `emit`.
//!
//! ```text
//!  0                   1                   2                   3
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IPvX Addr|
//! v2: | Auth Type |  Adver Int (s) |          Checksum             |
//! v3: |(rsvd)| Max Adver Int (cs)  |          Checksum             |
//! |                IPvX addresses (4 or 16 bytes each)            |
//! v2: |                Authentication data (8 bytes)                 |
//! ```

use std::net::IpAddr;

/// IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// Advertisements are sent and checked with TTL / hop limit 255.
pub const TTL: u8 = 255;
pub const HEADER_LEN: usize = 8;
pub const AUTH_LEN: usize = 8;
const TYPE_ADVERTISEMENT: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("truncated: {0} bytes")]
    Truncated(usize),
    #[error("version {0} is not 2 or 3")]
    Version(u8),
    #[error("type {0} is not an advertisement")]
    Type(u8),
    #[error("{count} addresses do not fit {len} bytes")]
    Count { count: u8, len: usize },
    #[error("checksum mismatch")]
    Checksum,
    #[error("VRRPv2 over IPv6 does not exist")]
    V2OverIpv6,
    #[error("source and destination are of different families")]
    Family,
    #[error("address family of the advertised addresses differs from the packet's")]
    AddressFamily,
}

/// A VRRP packet in a buffer.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buf: T) -> Packet<T> {
        Packet { buf }
    }

    /// Checks that the header is there; `Repr::parse` checks the rest.
    pub fn new_checked(buf: T) -> Result<Packet<T>, Error> {
        let len = buf.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated(len));
        }
        Ok(Packet { buf })
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn version(&self) -> u8 {
        self.b()[0] >> 4
    }
    pub fn kind(&self) -> u8 {
        self.b()[0] & 0x0f
    }
    pub fn vrid(&self) -> u8 {
        self.b()[1]
    }
    pub fn priority(&self) -> u8 {
        self.b()[2]
    }
    pub fn count(&self) -> u8 {
        self.b()[3]
    }
    /// v2: the authentication type.
    pub fn auth_type(&self) -> u8 {
        self.b()[4]
    }
    /// v2: seconds; v3: centiseconds (12 bits).
    pub fn interval(&self) -> u16 {
        if self.version() == 2 {
            u16::from(self.b()[5])
        } else {
            u16::from_be_bytes([self.b()[4], self.b()[5]]) & 0x0fff
        }
    }
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.b()[6], self.b()[7]])
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.b()
    }
}

/// A parsed advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// Centiseconds (v2 intervals are whole seconds: multiples of 100).
    pub interval_cs: u16,
    pub addrs: Vec<IpAddr>,
    /// v2 simple password (auth type 1), zero-padded to 8 bytes.
    pub auth: Option<[u8; AUTH_LEN]>,
}

/// The checksum field is the fourth 16-bit word.
const CHECKSUM_WORD: usize = 3;

/// The advertisement's checksum (the Internet checksum, RFC 1071): v2 over
/// the packet alone, v3 with the IPv4 or IPv6 pseudo-header (RFC 5798
/// 5.2.8). The checksum field counts as zero.
fn checksum(bytes: &[u8], version: u8, src: IpAddr, dst: IpAddr) -> Result<u16, Error> {
    use pnet_packet::ip::IpNextHeaderProtocol;
    use pnet_packet::util;
    let proto = IpNextHeaderProtocol(PROTOCOL);
    Ok(match (version, src, dst) {
        (2, _, _) => util::checksum(bytes, CHECKSUM_WORD),
        (_, IpAddr::V4(s), IpAddr::V4(d)) => util::ipv4_checksum(bytes, CHECKSUM_WORD, &[], &s, &d, proto),
        (_, IpAddr::V6(s), IpAddr::V6(d)) => util::ipv6_checksum(bytes, CHECKSUM_WORD, &[], &s, &d, proto),
        _ => return Err(Error::Family),
    })
}

impl Repr {
    /// Parses and verifies an advertisement received from `src` to `dst`
    /// (the IP header's addresses, needed for the v3 checksum).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>, src: IpAddr, dst: IpAddr) -> Result<Repr, Error> {
        let bytes = p.as_bytes();
        let version = p.version();
        if version != 2 && version != 3 {
            return Err(Error::Version(version));
        }
        if p.kind() != TYPE_ADVERTISEMENT {
            return Err(Error::Type(p.kind()));
        }
        if src.is_ipv6() != dst.is_ipv6() {
            return Err(Error::Family);
        }
        let v6 = src.is_ipv6();
        if v6 && version == 2 {
            return Err(Error::V2OverIpv6);
        }
        let alen = if v6 { 16 } else { 4 };
        let count = p.count();
        let auth_len = if version == 2 { AUTH_LEN } else { 0 };
        let need = HEADER_LEN + usize::from(count) * alen + auth_len;
        // Trailing bytes beyond what the header describes are not allowed
        // either: the length must be exactly right.
        if bytes.len() != need {
            return Err(if bytes.len() < need {
                Error::Truncated(bytes.len())
            } else {
                Error::Count { count, len: bytes.len() }
            });
        }
        if checksum(bytes, version, src, dst)? != p.checksum() {
            return Err(Error::Checksum);
        }
        let addrs = bytes[HEADER_LEN..HEADER_LEN + usize::from(count) * alen]
            .chunks_exact(alen)
            .map(|c| match <[u8; 4]>::try_from(c) {
                Ok(a) => IpAddr::from(a),
                Err(_) => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(c);
                    IpAddr::from(a)
                }
            })
            .collect();
        let auth = (version == 2 && p.auth_type() == 1).then(|| {
            let mut a = [0u8; AUTH_LEN];
            a.copy_from_slice(&bytes[need - AUTH_LEN..need]);
            a
        });
        let interval_cs = if version == 2 { p.interval().saturating_mul(100) } else { p.interval() };
        Ok(Repr { version, vrid: p.vrid(), priority: p.priority(), interval_cs, addrs, auth })
    }

    pub fn buffer_len(&self) -> usize {
        let alen = self.addrs.first().map_or(4, |a| if a.is_ipv6() { 16 } else { 4 });
        HEADER_LEN + self.addrs.len() * alen + if self.version == 2 { AUTH_LEN } else { 0 }
    }

    /// Writes the advertisement, checksum included, into a new buffer.
    pub fn emit(&self, src: IpAddr, dst: IpAddr) -> Result<Vec<u8>, Error> {
        if self.addrs.iter().any(|a| a.is_ipv6() != src.is_ipv6()) {
            return Err(Error::AddressFamily);
        }
        if src.is_ipv6() && self.version == 2 {
            return Err(Error::V2OverIpv6);
        }
        let mut b = vec![0u8; self.buffer_len()];
        b[0] = (self.version << 4) | TYPE_ADVERTISEMENT;
        b[1] = self.vrid;
        b[2] = self.priority;
        b[3] = self.addrs.len().min(255) as u8;
        if self.version == 2 {
            b[4] = u8::from(self.auth.is_some());
            b[5] = (self.interval_cs / 100).min(255) as u8;
        } else {
            b[4..6].copy_from_slice(&(self.interval_cs & 0x0fff).to_be_bytes());
        }
        let mut off = HEADER_LEN;
        for a in &self.addrs {
            match a {
                IpAddr::V4(v) => b[off..off + 4].copy_from_slice(&v.octets()),
                IpAddr::V6(v) => b[off..off + 16].copy_from_slice(&v.octets()),
            }
            off += if a.is_ipv6() { 16 } else { 4 };
        }
        if let (2, Some(auth)) = (self.version, self.auth) {
            b[off..off + AUTH_LEN].copy_from_slice(&auth);
        }
        let c = checksum(&b, self.version, src, dst)?;
        b[6..8].copy_from_slice(&c.to_be_bytes());
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const GROUP4: &str = "224.0.0.18";

    #[test]
    fn v2_with_password_round_trips() {
        let r = Repr {
            version: 2,
            vrid: 51,
            priority: 150,
            interval_cs: 100,
            addrs: vec![ip("172.16.42.111")],
            auth: Some(*b"1111\0\0\0\0"),
        };
        let b = r.emit(ip("172.16.42.2"), ip(GROUP4)).unwrap();
        assert_eq!(b.len(), 8 + 4 + 8);
        assert_eq!(&b[..6], &[0x21, 51, 150, 1, 1, 1]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p, ip("172.16.42.2"), ip(GROUP4)).unwrap(), r);
    }

    /// A VRRPv2 advertisement as RFC 3768 lays it out, checksum computed by
    /// hand: VRID 1, priority 100, one address 192.168.0.1, interval 1 s, no auth.
    #[test]
    fn v2_known_bytes() {
        let bytes = [0x21, 0x01, 0x64, 0x01, 0x00, 0x01, 0xba, 0x52, 192, 168, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let p = Packet::new_checked(&bytes[..]).unwrap();
        let r = Repr::parse(&p, ip("192.168.0.2"), ip(GROUP4)).unwrap();
        assert_eq!(
            (r.vrid, r.priority, r.interval_cs, r.addrs.clone(), r.auth),
            (1, 100, 100, vec![ip("192.168.0.1")], None)
        );
        assert_eq!(r.emit(ip("192.168.0.2"), ip(GROUP4)).unwrap(), bytes);
    }

    #[test]
    fn v3_checksum_covers_the_pseudo_header() {
        let r =
            Repr { version: 3, vrid: 8, priority: 100, interval_cs: 50, addrs: vec![ip("2001:db8::100")], auth: None };
        let (src, dst) = (ip("fe80::1"), ip("ff02::12"));
        let b = r.emit(src, dst).unwrap();
        assert_eq!(b.len(), 8 + 16);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p, src, dst).unwrap(), r);
        // The same bytes from another source fail: the source is summed.
        assert_eq!(Repr::parse(&p, ip("fe80::2"), dst), Err(Error::Checksum));
        let r4 =
            Repr { version: 3, vrid: 8, priority: 100, interval_cs: 4095, addrs: vec![ip("10.0.0.1")], auth: None };
        let b4 = r4.emit(ip("10.0.0.2"), ip(GROUP4)).unwrap();
        assert_eq!(Packet::new_checked(&b4[..]).unwrap().interval(), 4095);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b4[..]).unwrap(), ip("10.0.0.3"), ip(GROUP4)),
            Err(Error::Checksum)
        );
    }

    #[test]
    fn malformed_packets_are_errors() {
        let r = Repr { version: 2, vrid: 1, priority: 100, interval_cs: 100, addrs: vec![ip("10.0.0.1")], auth: None };
        let (s, d) = (ip("10.0.0.2"), ip(GROUP4));
        let good = r.emit(s, d).unwrap();
        assert_eq!(Packet::new_checked(&good[..4]).unwrap_err(), Error::Truncated(4));
        for n in HEADER_LEN..good.len() {
            assert!(Repr::parse(&Packet::new_checked(&good[..n]).unwrap(), s, d).is_err());
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(Repr::parse(&Packet::new_checked(&long[..]).unwrap(), s, d), Err(Error::Count { .. })));
        let mut bad = good.clone();
        bad[2] = 101;
        assert_eq!(Repr::parse(&Packet::new_checked(&bad[..]).unwrap(), s, d), Err(Error::Checksum));
        let mut v4 = good.clone();
        v4[0] = 0x41;
        assert_eq!(Repr::parse(&Packet::new_checked(&v4[..]).unwrap(), s, d), Err(Error::Version(4)));
        let mut t = good;
        t[0] = 0x22;
        assert_eq!(Repr::parse(&Packet::new_checked(&t[..]).unwrap(), s, d), Err(Error::Type(2)));
        assert_eq!(r.emit(ip("fe80::1"), ip("ff02::12")), Err(Error::AddressFamily));
    }
}

/// A seeded, stable version of `fuzz/fuzz_targets/vrrp_parse.rs`.
#[cfg(test)]
mod smoke {
    use super::*;

    #[test]
    fn random_and_mutated_packets_never_panic() {
        let good = Repr {
            version: 3,
            vrid: 7,
            priority: 100,
            interval_cs: 100,
            addrs: vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()],
            auth: None,
        }
        .emit("10.0.0.9".parse().unwrap(), "224.0.0.18".parse().unwrap())
        .unwrap();
        // xorshift: deterministic, no dependency.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pairs: [(IpAddr, IpAddr); 2] = [
            ("10.0.0.9".parse().unwrap(), "224.0.0.18".parse().unwrap()),
            ("fe80::9".parse().unwrap(), "ff02::12".parse().unwrap()),
        ];
        let mut parsed = 0;
        for n in 0..50_000 {
            let mut b = good.clone();
            if n % 2 == 0 {
                let len = (next() % 64) as usize;
                b = (0..len).map(|_| next() as u8).collect();
                if len > 0 {
                    b[0] = 0x21 + (next() % 2) as u8 * 0x10;
                }
            } else {
                for _ in 0..(next() % 4 + 1) {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
            }
            for (s, d) in pairs {
                if let Ok(p) = Packet::new_checked(&b[..])
                    && let Ok(r) = Repr::parse(&p, s, d)
                {
                    parsed += 1;
                    let again = r.emit(s, d).unwrap();
                    assert_eq!(Repr::parse(&Packet::new_checked(&again[..]).unwrap(), s, d).unwrap(), r);
                }
            }
        }
        assert!(parsed > 0);
    }
}
