//! A minimal IPv4 host on the virtual switch, for tests: it resolves an
//! address with ARP and pings it (ICMP echo), building and checking the
//! frames itself. The guests' kernels answer; nothing on the host's own
//! network stack is involved.

use anyhow::{Result, bail};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use vigil_image::switch::TapPort;

pub struct Client {
    pub port: TapPort,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    seq: u16,
}

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

impl Client {
    pub fn new(port: TapPort, mac: [u8; 6], ip: Ipv4Addr) -> Client {
        Client { port, mac, ip, seq: 0 }
    }

    fn arp_request(&self, target: Ipv4Addr) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&self.mac);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&self.mac);
        f.extend_from_slice(&self.ip.octets());
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&target.octets());
        f
    }

    /// Answers an ARP request for our address, if `f` is one.
    fn answer_arp(&self, f: &[u8]) {
        if f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 1] && f[38..42] == self.ip.octets() {
            let mut r = f[6..12].to_vec();
            r.extend_from_slice(&self.mac);
            r.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
            r.extend_from_slice(&self.mac);
            r.extend_from_slice(&self.ip.octets());
            r.extend_from_slice(&f[22..32]);
            let _ = self.port.send(&r);
        }
    }

    /// The MAC that answers ARP for `target`.
    pub fn resolve(&mut self, target: Ipv4Addr, timeout: Duration) -> Result<[u8; 6]> {
        let deadline = Instant::now() + timeout;
        let mut next_ask = Instant::now();
        while Instant::now() < deadline {
            if Instant::now() >= next_ask {
                self.port.send(&self.arp_request(target))?;
                next_ask = Instant::now() + Duration::from_millis(200);
            }
            if let Some(f) = self.port.recv(Duration::from_millis(50))? {
                self.answer_arp(&f);
                if f.len() >= 42
                    && f[12..14] == [0x08, 0x06]
                    && f[20..22] == [0, 2]
                    && f[28..32] == target.octets()
                    && f[0..6] == self.mac
                {
                    let mut m = [0u8; 6];
                    m.copy_from_slice(&f[22..28]);
                    return Ok(m);
                }
            }
        }
        bail!("no ARP reply for {target} in {timeout:?}")
    }

    /// Pings `target` (at `mac`) once; true if the echo reply came back.
    pub fn ping(&mut self, mac: [u8; 6], target: Ipv4Addr, timeout: Duration) -> Result<bool> {
        self.seq = self.seq.wrapping_add(1);
        let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34];
        icmp.extend_from_slice(&self.seq.to_be_bytes());
        icmp.extend_from_slice(b"vigil-test-ping!");
        let c = csum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let total = (20 + icmp.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 1, 0, 0]);
        ip.extend_from_slice(&self.ip.octets());
        ip.extend_from_slice(&target.octets());
        let c = csum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut f = mac.to_vec();
        f.extend_from_slice(&self.mac);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&icmp);
        self.port.send(&f)?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(r) = self.port.recv(Duration::from_millis(20))? {
                self.answer_arp(&r);
                let is_reply = r.len() >= 42
                    && r[12..14] == [0x08, 0x00]
                    && r[23] == 1
                    && r[26..30] == target.octets()
                    && r[34] == 0
                    && r[40..42] == self.seq.to_be_bytes();
                if is_reply {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}
