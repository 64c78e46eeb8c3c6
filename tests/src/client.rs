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
    /// What ARP frames on the wire (gratuitous ones included) last said of
    /// addresses, as a host's ARP cache learns them.
    cache: std::collections::HashMap<Ipv4Addr, [u8; 6]>,
}

/// What a client pinging an address saw over a while.
#[derive(Debug, Default)]
pub struct Watch {
    pub sent: u32,
    pub lost: u32,
    /// Each time the address stopped answering: when (from the start) and
    /// for how long (last reply before it to first reply after it).
    pub outages: Vec<(Duration, Duration)>,
    /// Each MAC that answered, from when.
    pub owners: Vec<(Duration, [u8; 6])>,
}

impl Watch {
    pub fn longest(&self) -> Duration {
        self.outages.iter().map(|o| o.1).max().unwrap_or_default()
    }

    /// One line for a test's output.
    pub fn summary(&self) -> String {
        let outages: Vec<String> = self
            .outages
            .iter()
            .map(|(at, len)| format!("{:.1} s at {:.1} s", len.as_secs_f64(), at.as_secs_f64()))
            .collect();
        format!(
            "{} pings, {} lost; {} outages ({}); answered by {} MACs in turn",
            self.sent,
            self.lost,
            self.outages.len(),
            if outages.is_empty() { "none".into() } else { outages.join(", ") },
            self.owners.len()
        )
    }
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
        Client { port, mac, ip, seq: 0, cache: Default::default() }
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

    /// Answers an ARP request for our address, if `f` is one, and learns
    /// the sender's address from any ARP frame.
    fn answer_arp(&mut self, f: &[u8]) {
        if f.len() >= 42 && f[12..14] == [0x08, 0x06] {
            let ip = Ipv4Addr::new(f[28], f[29], f[30], f[31]);
            let mut m = [0u8; 6];
            m.copy_from_slice(&f[22..28]);
            if ip != self.ip && ip != Ipv4Addr::UNSPECIFIED {
                self.cache.insert(ip, m);
            }
        }
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

    /// Pings `target` every `every` until `stop` is set, as a host with an
    /// ARP cache does: it sends to the MAC it last learned (gratuitous ARPs
    /// update it), and asks again after three echoes in a row go unanswered.
    pub fn watch(&mut self, target: Ipv4Addr, every: Duration, stop: &std::sync::atomic::AtomicBool) -> Watch {
        let start = Instant::now();
        let mut w = Watch::default();
        let mut last_reply: Option<Instant> = None;
        let mut down_since: Option<Instant> = None;
        let mut misses = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let t = Instant::now();
            let mac = match self.cache.get(&target) {
                Some(m) if misses < 3 => Some(*m),
                _ => self.resolve(target, every).ok(),
            };
            w.sent += 1;
            let ok = match mac {
                Some(m) => self.ping(m, target, every).unwrap_or(false),
                None => false,
            };
            if ok {
                let m = mac.unwrap_or_default();
                self.cache.insert(target, m);
                if w.owners.last().is_none_or(|o| o.1 != m) {
                    w.owners.push((t - start, m));
                }
                if down_since.take().is_some()
                    && let Some(up) = last_reply
                {
                    w.outages.push((up - start, Instant::now() - up));
                }
                last_reply = Some(Instant::now());
                misses = 0;
            } else {
                w.lost += 1;
                misses += 1;
                if down_since.is_none() && last_reply.is_some() {
                    down_since = Some(t);
                }
            }
            std::thread::sleep(every.saturating_sub(t.elapsed()));
        }
        w
    }
}
