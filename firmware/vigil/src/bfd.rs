//! The BFD child (`vigil child bfd`): the `bfd_instance` sessions, as
//! keepalived's BFD process runs them, around the sans-IO
//! [`vigil_bfd::Table`]. Control packets arrive on UDP 3784 (RFC 5881),
//! with their TTL; each session sends from a socket of its own (a source
//! port in 49152-65535, the configured TTL). Every state change goes to
//! PID 1, which hands the list to the VRRP child (`track_bfd`) and the
//! checkers (BFD_CHECK), as keepalived's BFD process tells its VRRP and
//! checker processes.

use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};
use vigil_bfd::wire::Micros;
use vigil_bfd::{Event, Peer, Settings, Table};
use vigil_config::{BfdInstance, Config};

/// Each session's name and whether it is up, in the config's order.
pub type States = Vec<(String, bool)>;

/// `show bfd` lines.
pub type Status = crate::report::Shared;

pub enum Control {
    Config(Arc<Config>),
    /// Every session says AdminDown to its neighbor; then the answer.
    Shutdown(oneshot::Sender<()>),
}

/// A datagram longer than this is not a control packet (24 bytes, more
/// with authentication); it is read and dropped.
const DATAGRAM: usize = 512;

/// What one socket received: its bytes, where from, with what TTL.
struct Received {
    len: usize,
    from: IpAddr,
    ttl: Option<u8>,
}

fn listener(v6: bool) -> std::io::Result<AsyncFd<Socket>> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_reuse_address(true)?;
    let any: IpAddr = if v6 { Ipv6Addr::UNSPECIFIED.into() } else { Ipv4Addr::UNSPECIFIED.into() };
    if v6 {
        sock.set_only_v6(true)?;
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::Ipv6RecvHopLimit, &true)?;
    } else {
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::Ipv4RecvTtl, &true)?;
    }
    sock.bind(&SocketAddr::new(any, vigil_bfd::PORT_SINGLE_HOP).into())?;
    sock.set_nonblocking(true)?;
    // SAFETY: the socket owns its descriptor and returns the same one from
    // as_raw_fd() until it is dropped, which happens only with the AsyncFd.
    unsafe { AsyncFd::register(sock) }.map_err(|e| std::io::Error::other(e.to_string()))
}

fn recv(sock: &Socket, buf: &mut [u8]) -> std::io::Result<Received> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg};
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())?;
    let mut ttl = None;
    for c in msg.cmsgs().into_iter().flatten() {
        match c {
            ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => ttl = u8::try_from(t).ok(),
            _ => {}
        }
    }
    let from = match msg.address {
        Some(a) if a.as_sockaddr_in().is_some() => a.as_sockaddr_in().map(|s| IpAddr::V4(s.ip())),
        Some(a) => a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())),
        None => None,
    };
    let from = from.ok_or_else(|| std::io::Error::other("a datagram without a source address"))?;
    Ok(Received { len: msg.bytes, from, ttl })
}

/// A session's sending socket: from `source` (or the kernel's choice), a
/// port in 49152-65535 (RFC 5881 section 4), with its TTL.
fn sender(neighbor: IpAddr, source: Option<IpAddr>, ttl: u8, seed: u16) -> std::io::Result<std::net::UdpSocket> {
    let domain = if neighbor.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if neighbor.is_ipv4() {
        sock.set_ttl_v4(u32::from(ttl))?;
    } else {
        sock.set_unicast_hops_v6(u32::from(ttl))?;
    }
    // An address that is not (yet) on an interface can still be bound to:
    // the session sends once it is there, as keepalived's would.
    let _ = nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::IpFreebind, &true);
    let ip =
        source.unwrap_or(if neighbor.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() });
    let ports = vigil_bfd::SOURCE_PORTS;
    let span = ports.end() - ports.start() + 1;
    let mut last = None;
    for i in 0..64u16 {
        let port = ports.start() + (seed.wrapping_add(i.wrapping_mul(257))) % span;
        match sock.bind(&SocketAddr::new(ip, port).into()) {
            Ok(()) => {
                sock.set_nonblocking(true)?;
                return Ok(sock.into());
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free source port")))
}

fn peers(config: &Config) -> Vec<Peer> {
    config.bfd_instances.iter().map(peer).collect()
}

fn peer(b: &BfdInstance) -> Peer {
    Peer {
        name: b.name.to_string(),
        neighbor: b.neighbor,
        source: b.source,
        settings: Settings {
            desired_min_tx: b.min_tx_us,
            required_min_rx: b.min_rx_us,
            idle_tx: b.idle_tx_us,
            multiplier: b.multiplier,
            passive: b.passive,
            ttl: b.ttl(),
            max_hops: b.max_hops,
        },
    }
}

struct Daemon {
    table: Table,
    /// Each session's sending socket, by name.
    senders: HashMap<String, std::net::UdpSocket>,
    rx4: Option<AsyncFd<Socket>>,
    rx6: Option<AsyncFd<Socket>>,
    states: watch::Sender<States>,
    status: Status,
    /// Refusals said, by reason, so a flood is logged once per kind.
    said: std::collections::BTreeSet<String>,
}

impl Daemon {
    fn configure(&mut self, config: &Config) {
        let peers = peers(config);
        let now = Instant::now();
        let started = self.table.configure(now, &peers);
        // Removed sessions say AdminDown from their own socket, then go.
        self.farewells();
        for name in started {
            self.senders.remove(&name);
        }
        self.senders.retain(|name, _| peers.iter().any(|p| p.name == *name));
        for (i, p) in peers.iter().enumerate() {
            if self.senders.contains_key(&p.name) {
                continue;
            }
            match sender(p.neighbor, p.source, p.settings.ttl, (std::process::id() as u16).wrapping_add(i as u16 * 97))
            {
                Ok(s) => {
                    self.senders.insert(p.name.clone(), s);
                }
                Err(e) => warn!("bfd_instance {}: no socket to send from: {e}", p.name),
            }
        }
        let want4 = peers.iter().any(|p| p.neighbor.is_ipv4());
        let want6 = peers.iter().any(|p| p.neighbor.is_ipv6());
        for (want, slot, v6) in [(want4, &mut self.rx4, false), (want6, &mut self.rx6, true)] {
            if want && slot.is_none() {
                match listener(v6) {
                    Ok(s) => *slot = Some(s),
                    Err(e) => warn!(
                        "bfd: cannot listen on UDP {} {}: {e}",
                        if v6 { "[::]" } else { "0.0.0.0" },
                        vigil_bfd::PORT_SINGLE_HOP
                    ),
                }
            } else if !want {
                *slot = None;
            }
        }
        match peers.len() {
            0 => {}
            1 => info!("bfd: 1 session"),
            n => info!("bfd: {n} sessions"),
        }
        self.publish();
    }

    fn send_all(&mut self, now: Instant) {
        while let Some((name, to, _, bytes)) = self.table.poll_transmit(now) {
            if let Some(s) = self.senders.get(name) {
                // A full socket buffer loses this packet; the next one
                // follows within an interval (BFD tolerates a loss).
                let _ = s.send_to(&bytes, SocketAddr::new(to, vigil_bfd::PORT_SINGLE_HOP));
            }
        }
        self.farewells();
    }

    fn farewells(&mut self) {
        while let Some((name, to, _, bytes)) = self.table.poll_farewell() {
            if let Some(s) = self.senders.get(&name) {
                let _ = s.send_to(&bytes, SocketAddr::new(to, vigil_bfd::PORT_SINGLE_HOP));
            }
        }
    }

    fn events(&mut self) -> bool {
        let mut moved = false;
        while let Some((name, ev)) = self.table.poll_event() {
            let name = name.to_string();
            moved = true;
            let neighbor = self.table.sessions().find(|(p, _)| p.name == name).map(|(p, _)| p.neighbor);
            let with = neighbor.map(|n| format!(" with {n}")).unwrap_or_default();
            match ev {
                Event::Up => info!("bfd_instance {name}: up{with}"),
                Event::Down(why) => warn!("bfd_instance {name}: down{with} ({why})"),
            }
        }
        moved
    }

    fn publish(&mut self) {
        let states: States = self.table.sessions().map(|(p, s)| (p.name.clone(), s.is_up())).collect();
        self.states.send_if_modified(|cur| {
            let changed = *cur != states;
            if changed {
                *cur = states;
            }
            changed
        });
        let lines = self
            .table
            .sessions()
            .map(|(p, s)| {
                let mut line = format!("bfd_instance {}: {} with {}", p.name, s.state(), p.neighbor);
                if s.is_up() {
                    line += &format!(
                        ", sending every {}, detection time {}",
                        Micros(s.tx_interval().as_micros() as u32),
                        Micros(s.detection_time().as_micros() as u32)
                    );
                } else if s.diag() != vigil_bfd::Diag::None {
                    line += &format!(" ({})", s.diag());
                }
                line
            })
            .collect();
        crate::report::set(&self.status, crate::report::Report::Lines(lines));
    }

    fn received(&mut self, r: std::io::Result<Received>, buf: &[u8]) {
        let r = match r {
            Ok(r) => r,
            Err(e) => return warn!("bfd: receiving: {e}"),
        };
        if let Err(why) = self.table.handle_datagram(Instant::now(), r.from, r.ttl, &buf[..r.len.min(buf.len())]) {
            let text = why.to_string();
            // Each kind of refusal once per neighbor: a stray sender
            // cannot fill the log.
            let key = format!("{} {}", r.from, text.split(':').next().unwrap_or(""));
            if self.said.len() < 256 && self.said.insert(key) {
                warn!("bfd: a packet from {} refused: {text}", r.from);
            }
        }
    }
}

/// Runs the sessions of `config` (and of each config `control` brings)
/// until told to shut down.
pub async fn run(
    config: Arc<Config>,
    states: watch::Sender<States>,
    status: Status,
    mut control: mpsc::Receiver<Control>,
) {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    let mut d = Daemon {
        table: Table::new(seed ^ u64::from(std::process::id())),
        senders: HashMap::new(),
        rx4: None,
        rx6: None,
        states,
        status,
        said: Default::default(),
    };
    d.configure(&config);
    let mut buf4 = [0u8; DATAGRAM];
    let mut buf6 = [0u8; DATAGRAM];
    loop {
        let now = Instant::now();
        d.table.handle_timeout(now);
        d.send_all(now);
        if d.events() {
            d.publish();
        }
        let wake = d.table.poll_timeout().unwrap_or(now + Duration::from_secs(3600));
        let readable4 = async {
            match &d.rx4 {
                Some(s) => s.readable().await,
                None => std::future::pending().await,
            }
        };
        let readable6 = async {
            match &d.rx6 {
                Some(s) => s.readable().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            g = readable4 => {
                if let Ok(mut g) = g {
                    match g.try_io(|s| recv(s.get_ref(), &mut buf4)) {
                        Ok(r) => d.received(r, &buf4),
                        Err(_would_block) => continue,
                    }
                }
            }
            g = readable6 => {
                if let Ok(mut g) = g {
                    match g.try_io(|s| recv(s.get_ref(), &mut buf6)) {
                        Ok(r) => d.received(r, &buf6),
                        Err(_would_block) => continue,
                    }
                }
            }
            m = control.recv() => match m {
                Some(Control::Config(c)) => d.configure(&c),
                Some(Control::Shutdown(done)) => {
                    for (name, to, _, bytes) in d.table.shut_down(Instant::now()) {
                        if let Some(s) = d.senders.get(&name) {
                            let _ = s.send_to(&bytes, SocketAddr::new(to, vigil_bfd::PORT_SINGLE_HOP));
                        }
                    }
                    let _ = done.send(());
                    return;
                }
                None => return,
            },
        }
    }
}
