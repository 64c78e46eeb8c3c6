//! A virtual Ethernet switch for QEMU nodes.
//!
//! Each node's NIC is a QEMU `-netdev dgram` backend: it sends every frame as
//! one datagram from its own Unix socket to the switch's socket, and receives
//! frames sent to its socket. The switch learns source MACs per port, floods
//! broadcast, multicast and unknown unicast, and can be steered while it runs:
//! cut or restore a port's link, drop a share of frames, delay them, and
//! capture every frame it receives to a pcap file. It counts frames per port
//! and who reached whom. No host IP traffic is involved at all.

use anyhow::{Context, Result, bail};
use std::collections::{BinaryHeap, HashMap};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Per-port counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Frames received from the port.
    pub rx: u64,
    /// Frames delivered to the port.
    pub tx: u64,
    /// Frames from the port dropped because its link was cut.
    pub dropped_rx: u64,
    /// Frames for the port dropped (link cut, loss, or the node not there).
    pub dropped_tx: u64,
}

#[derive(Debug, Clone)]
struct Port {
    name: String,
    addr: PathBuf,
    link_up: bool,
    /// Share of frames to drop, 0.0..=1.0, on frames leaving this port.
    loss: f64,
    /// Added to frames leaving this port.
    delay: Duration,
    stats: PortStats,
    /// Frames waiting for the node to take them: its socket holds only
    /// `net.unix.max_dgram_qlen` (10) datagrams, fewer than one burst of
    /// VRRP adverts from a peer with 256 instances. A real switch port
    /// buffers too; what is past [`PORT_BUFFER`] is dropped.
    backlog: std::collections::VecDeque<(usize, Vec<u8>)>,
}

/// Frames a port holds for a node that is slow to take them (a switch
/// port's buffer: 1,024 full-size frames is 1.5 MB).
const PORT_BUFFER: usize = 1024;

struct Delayed {
    due: Instant,
    seq: u64,
    to: usize,
    from: usize,
    frame: Vec<u8>,
}

impl PartialEq for Delayed {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Delayed {
    // Reversed: BinaryHeap is a max-heap, we want the earliest first.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.due, o.seq).cmp(&(self.due, self.seq))
    }
}

struct State {
    ports: Vec<Port>,
    fdb: HashMap<[u8; 6], usize>,
    /// matrix[from][to]: frames delivered.
    matrix: Vec<Vec<u64>>,
    unknown_sender: u64,
    pcap: Option<pcap_file::pcap::PcapWriter<std::fs::File>>,
    started: Instant,
    rng: fastrand::Rng,
    delayed: BinaryHeap<Delayed>,
    seq: u64,
}

/// The switch; it runs on its own thread until dropped.
pub struct Switch {
    socket_path: PathBuf,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A port the caller drives itself (a test acting as a host on the segment).
pub struct TapPort {
    pub index: usize,
    sock: UnixDatagram,
    hub: PathBuf,
}

impl TapPort {
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        self.sock.send_to(frame, &self.hub)?;
        Ok(())
    }

    /// The next frame, or None after `timeout`.
    pub fn recv(&self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        self.sock.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut buf = vec![0u8; 65536];
        match self.sock.recv(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                Ok(Some(buf))
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves counters that are still usable.
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl Switch {
    /// Starts a switch listening on `socket_path`.
    pub fn start(socket_path: &Path) -> Result<Switch> {
        let _ = std::fs::remove_file(socket_path);
        let sock = UnixDatagram::bind(socket_path).with_context(|| format!("binding {}", socket_path.display()))?;
        // Non-blocking: a port whose receive queue is full must not stall the
        // switch (it would deadlock with a sender waiting on the switch's own
        // queue). Such frames are dropped, as a real switch drops them.
        sock.set_nonblocking(true)?;
        let state = Arc::new(Mutex::new(State {
            ports: Vec::new(),
            fdb: HashMap::new(),
            matrix: Vec::new(),
            unknown_sender: 0,
            pcap: None,
            started: Instant::now(),
            rng: fastrand::Rng::with_seed(0x5eed),
            delayed: BinaryHeap::new(),
            seq: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::Builder::new().name("switch".into()).spawn(move || run(sock, &state, &stop))?
        };
        Ok(Switch { socket_path: socket_path.to_path_buf(), state, stop, thread: Some(thread) })
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// Adds a port whose peer socket is `addr` (a QEMU node's `local.path`).
    /// Returns its index.
    pub fn add_port(&self, name: &str, addr: &Path) -> usize {
        let mut s = lock(&self.state);
        s.ports.push(Port {
            name: name.to_string(),
            addr: addr.to_path_buf(),
            link_up: true,
            loss: 0.0,
            delay: Duration::ZERO,
            stats: PortStats::default(),
            backlog: Default::default(),
        });
        let n = s.ports.len();
        for row in &mut s.matrix {
            row.push(0);
        }
        s.matrix.push(vec![0; n]);
        n - 1
    }

    /// Adds a port driven by the caller through a socket at `addr`.
    pub fn attach(&self, name: &str, addr: &Path) -> Result<TapPort> {
        let _ = std::fs::remove_file(addr);
        let sock = UnixDatagram::bind(addr).with_context(|| format!("binding {}", addr.display()))?;
        let index = self.add_port(name, addr);
        Ok(TapPort { index, sock, hub: self.socket_path.clone() })
    }

    fn port_mut<R>(&self, port: usize, f: impl FnOnce(&mut Port) -> R) -> Result<R> {
        let mut s = lock(&self.state);
        let n = s.ports.len();
        match s.ports.get_mut(port) {
            Some(p) => Ok(f(p)),
            None => bail!("no port {port} (the switch has {n})"),
        }
    }

    /// Cuts (false) or restores (true) a port's link: while cut, nothing is
    /// delivered from or to it. The node's carrier stays up, as when a switch
    /// port or cable further along fails.
    pub fn set_link(&self, port: usize, up: bool) -> Result<()> {
        self.port_mut(port, |p| p.link_up = up)
    }

    /// Drops `share` (0.0..=1.0) of the frames delivered to the port.
    pub fn set_loss(&self, port: usize, share: f64) -> Result<()> {
        if !(0.0..=1.0).contains(&share) {
            bail!("loss {share} is outside 0..1");
        }
        self.port_mut(port, |p| p.loss = share)
    }

    /// Delays every frame delivered to the port.
    pub fn set_delay(&self, port: usize, delay: Duration) -> Result<()> {
        self.port_mut(port, |p| p.delay = delay)
    }

    /// Starts writing every received frame to a pcap file (Ethernet).
    pub fn capture(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let w = pcap_file::pcap::PcapWriter::new(file)?;
        lock(&self.state).pcap = Some(w);
        Ok(())
    }

    /// Stops capturing and flushes the file.
    pub fn stop_capture(&self) {
        lock(&self.state).pcap = None;
    }

    pub fn stats(&self, port: usize) -> PortStats {
        lock(&self.state).ports.get(port).map(|p| p.stats.clone()).unwrap_or_default()
    }

    /// Frames delivered from port `from` to port `to`.
    pub fn delivered(&self, from: usize, to: usize) -> u64 {
        let s = lock(&self.state);
        s.matrix.get(from).and_then(|r| r.get(to)).copied().unwrap_or(0)
    }

    /// A readable table of the counters and the who-reached-whom matrix.
    pub fn report(&self) -> String {
        let s = lock(&self.state);
        let mut out = String::from("port  name        link  rx      tx      drop-rx drop-tx\n");
        for (i, p) in s.ports.iter().enumerate() {
            out.push_str(&format!(
                "{i:<5} {:<11} {:<5} {:<7} {:<7} {:<7} {}\n",
                p.name,
                if p.link_up { "up" } else { "CUT" },
                p.stats.rx,
                p.stats.tx,
                p.stats.dropped_rx,
                p.stats.dropped_tx
            ));
        }
        out.push_str("delivered from\\to");
        for i in 0..s.ports.len() {
            out.push_str(&format!(" {i:>6}"));
        }
        out.push('\n');
        for (i, row) in s.matrix.iter().enumerate() {
            out.push_str(&format!("{i:<17}"));
            for v in row {
                out.push_str(&format!(" {v:>6}"));
            }
            out.push('\n');
        }
        if s.unknown_sender > 0 {
            out.push_str(&format!("frames from unknown senders: {}\n", s.unknown_sender));
        }
        out
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.socket_path);
    }
}

fn run(sock: UnixDatagram, state: &Mutex<State>, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        // Wake in time for the next delayed frame.
        let wait = {
            let s = lock(state);
            s.delayed.peek().map(|d| d.due.saturating_duration_since(Instant::now()))
        };
        let backlogged = lock(state).ports.iter().any(|p| !p.backlog.is_empty());
        let idle = if backlogged { Duration::from_millis(1) } else { Duration::from_millis(50) };
        let wait = wait.unwrap_or(idle).clamp(Duration::from_millis(1), idle);
        wait_readable(&sock, wait);
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                let mut s = lock(state);
                let from = from.as_pathname().map(Path::to_path_buf);
                handle_frame(&mut s, &sock, from.as_deref(), &buf[..n]);
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
        let mut s = lock(state);
        let now = Instant::now();
        while s.delayed.peek().is_some_and(|d| d.due <= now) {
            if let Some(d) = s.delayed.pop() {
                send(&mut s, &sock, d.from, d.to, &d.frame);
            }
        }
        drain(&mut s, &sock);
    }
}

/// Hands each port's waiting frames to its node, in order, until it is
/// full again.
fn drain(s: &mut State, sock: &UnixDatagram) {
    for to in 0..s.ports.len() {
        if !s.ports[to].link_up {
            let n = s.ports[to].backlog.len() as u64;
            s.ports[to].backlog.clear();
            s.ports[to].stats.dropped_tx += n;
            continue;
        }
        while let Some((from, frame)) = s.ports[to].backlog.pop_front() {
            match sock.send_to(&frame, &s.ports[to].addr) {
                Ok(_) => {
                    s.ports[to].stats.tx += 1;
                    s.matrix[from][to] += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    s.ports[to].backlog.push_front((from, frame));
                    break;
                }
                Err(_) => s.ports[to].stats.dropped_tx += 1,
            }
        }
    }
}

/// Waits until the socket has a datagram or `timeout` passes.
fn wait_readable(sock: &UnixDatagram, timeout: Duration) {
    use std::os::fd::AsFd;
    let mut fds = [nix::poll::PollFd::new(sock.as_fd(), nix::poll::PollFlags::POLLIN)];
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    // EINTR or an error: the caller's recv is non-blocking and retries.
    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
}

fn handle_frame(s: &mut State, sock: &UnixDatagram, from: Option<&Path>, frame: &[u8]) {
    let Some(src) = from.and_then(|f| s.ports.iter().position(|p| p.addr == f)) else {
        s.unknown_sender += 1;
        return;
    };
    if let Some(w) = s.pcap.as_mut() {
        let ts = s.started.elapsed();
        let _ = w.write_packet(&pcap_file::pcap::PcapPacket::new(ts, frame.len() as u32, frame));
    }
    s.ports[src].stats.rx += 1;
    if !s.ports[src].link_up {
        s.ports[src].stats.dropped_rx += 1;
        return;
    }
    if frame.len() < 14 {
        return; // not Ethernet
    }
    let mut dst = [0u8; 6];
    let mut srcmac = [0u8; 6];
    dst.copy_from_slice(&frame[..6]);
    srcmac.copy_from_slice(&frame[6..12]);
    if srcmac[0] & 1 == 0 {
        s.fdb.insert(srcmac, src);
    }
    let targets: Vec<usize> = match s.fdb.get(&dst) {
        Some(&p) if dst[0] & 1 == 0 => vec![p],
        _ => (0..s.ports.len()).collect(),
    };
    for to in targets.into_iter().filter(|&t| t != src) {
        let p = &s.ports[to];
        if !p.link_up || (p.loss > 0.0 && s.rng.f64() < p.loss) {
            s.ports[to].stats.dropped_tx += 1;
            continue;
        }
        if p.delay > Duration::ZERO {
            let due = Instant::now() + p.delay;
            s.seq += 1;
            let seq = s.seq;
            s.delayed.push(Delayed { due, seq, to, from: src, frame: frame.to_vec() });
        } else {
            send(s, sock, src, to, frame);
        }
    }
}

fn send(s: &mut State, sock: &UnixDatagram, from: usize, to: usize, frame: &[u8]) {
    // A link cut while the frame waited in the delay queue loses it.
    if !s.ports[to].link_up || !s.ports[from].link_up {
        s.ports[to].stats.dropped_tx += 1;
        return;
    }
    // Frames wait their turn behind those already waiting.
    if !s.ports[to].backlog.is_empty() {
        queue(s, from, to, frame);
        return;
    }
    match sock.send_to(frame, &s.ports[to].addr) {
        Ok(_) => {
            s.ports[to].stats.tx += 1;
            s.matrix[from][to] += 1;
        }
        // The node's socket is full: the port holds the frame.
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => queue(s, from, to, frame),
        // The node is not running (yet, or any more).
        Err(_) => s.ports[to].stats.dropped_tx += 1,
    }
}

fn queue(s: &mut State, from: usize, to: usize, frame: &[u8]) {
    if s.ports[to].backlog.len() >= PORT_BUFFER {
        s.ports[to].stats.dropped_tx += 1;
    } else {
        s.ports[to].backlog.push_back((from, frame.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(dst: [u8; 6], src: [u8; 6], payload: &[u8]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x88, 0xb5]); // local experimental ethertype
        f.extend_from_slice(payload);
        f
    }

    const BCAST: [u8; 6] = [0xff; 6];
    const A: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
    const B: [u8; 6] = [0x52, 0x54, 0, 0, 0, 2];
    const C: [u8; 6] = [0x52, 0x54, 0, 0, 0, 3];

    struct Lab {
        _dir: PathBuf,
        sw: Switch,
        ports: Vec<TapPort>,
    }

    fn lab(name: &str, n: usize) -> Lab {
        let dir = std::env::temp_dir().join(format!("vigil-switch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sw = Switch::start(&dir.join("hub.sock")).unwrap();
        let ports = (0..n).map(|i| sw.attach(&format!("p{i}"), &dir.join(format!("p{i}.sock"))).unwrap()).collect();
        Lab { _dir: dir, sw, ports }
    }

    const SHORT: Duration = Duration::from_millis(150);

    #[test]
    fn floods_broadcast_then_learns_unicast() {
        let l = lab("learn", 3);
        l.ports[0].send(&frame(BCAST, A, b"hello")).unwrap();
        assert_eq!(l.ports[1].recv(SHORT).unwrap().unwrap()[12..], [0x88, 0xb5, b'h', b'e', b'l', b'l', b'o']);
        assert!(l.ports[2].recv(SHORT).unwrap().is_some());
        assert!(l.ports[0].recv(SHORT).unwrap().is_none(), "no echo to the sender");
        // B answers A: A's MAC was learnt, so only port 0 gets it.
        l.ports[1].send(&frame(A, B, b"reply")).unwrap();
        assert!(l.ports[0].recv(SHORT).unwrap().is_some());
        assert!(l.ports[2].recv(SHORT).unwrap().is_none());
        assert_eq!(l.sw.delivered(0, 1), 1);
        assert_eq!(l.sw.delivered(0, 2), 1);
        assert_eq!(l.sw.delivered(1, 0), 1);
        assert_eq!(l.sw.delivered(1, 2), 0);
        assert_eq!(l.sw.stats(0).rx, 1);
        assert_eq!(l.sw.stats(0).tx, 1);
    }

    #[test]
    fn a_cut_port_neither_sends_nor_receives_until_restored() {
        let l = lab("cut", 3);
        l.sw.set_link(2, false).unwrap();
        l.ports[2].send(&frame(BCAST, C, b"x")).unwrap();
        l.ports[0].send(&frame(BCAST, A, b"y")).unwrap();
        assert_eq!(l.ports[1].recv(SHORT).unwrap().unwrap()[6..12], A);
        assert!(l.ports[1].recv(SHORT).unwrap().is_none(), "C's frame was dropped");
        assert!(l.ports[2].recv(SHORT).unwrap().is_none());
        assert_eq!(l.sw.stats(2).dropped_rx, 1);
        assert_eq!(l.sw.stats(2).dropped_tx, 1);
        l.sw.set_link(2, true).unwrap();
        l.ports[2].send(&frame(BCAST, C, b"z")).unwrap();
        assert!(l.ports[0].recv(SHORT).unwrap().is_some());
        assert_eq!(l.sw.delivered(2, 0), 1);
        assert!(!l.sw.report().contains("CUT"));
        assert!(l.sw.set_link(9, true).is_err());
    }

    #[test]
    fn loss_drops_about_the_share_asked() {
        let l = lab("loss", 2);
        l.sw.set_loss(1, 0.5).unwrap();
        let mut got = 0;
        // In batches smaller than a Unix socket's queue (10 datagrams by
        // default), so only the loss setting drops frames.
        for batch in 0..50u32 {
            for i in 0..8u32 {
                l.ports[0].send(&frame(BCAST, A, &(batch * 8 + i).to_be_bytes())).unwrap();
            }
            while l.ports[1].recv(Duration::from_millis(30)).unwrap().is_some() {
                got += 1;
            }
        }
        assert!((140..=260).contains(&got), "{got} of 400 delivered at 50% loss");
        assert_eq!(l.sw.stats(1).dropped_tx + got, 400);
        assert!(l.sw.set_loss(1, 1.5).is_err());
    }

    #[test]
    fn delay_holds_frames_back_in_order() {
        let l = lab("delay", 2);
        l.sw.set_delay(1, Duration::from_millis(200)).unwrap();
        let t = Instant::now();
        for i in 0..3u8 {
            l.ports[0].send(&frame(BCAST, A, &[i])).unwrap();
        }
        let mut order = Vec::new();
        while let Some(f) = l.ports[1].recv(Duration::from_millis(1000)).unwrap() {
            order.push(f[14]);
            if order.len() == 3 {
                break;
            }
        }
        assert_eq!(order, [0, 1, 2]);
        assert!(t.elapsed() >= Duration::from_millis(200), "{:?}", t.elapsed());
    }

    #[test]
    fn a_burst_waits_in_the_port_for_a_slow_node() {
        // 200 frames at once: the node's socket holds 10; the port holds
        // the rest and hands them over in order as the node reads.
        let l = lab("burst", 2);
        for i in 0..200u8 {
            l.ports[0].send(&frame(BCAST, A, &[i])).unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
        let mut got = Vec::new();
        while let Some(f) = l.ports[1].recv(Duration::from_millis(500)).unwrap() {
            got.push(f[14]);
            if got.len() == 200 {
                break;
            }
        }
        assert_eq!(got, (0..200u8).collect::<Vec<_>>());
        assert_eq!(l.sw.stats(1).dropped_tx, 0);
    }

    #[test]
    fn captures_to_pcap() {
        let l = lab("pcap", 2);
        let path = l._dir.join("cap.pcap");
        l.sw.capture(&path).unwrap();
        l.ports[0].send(&frame(BCAST, A, b"one")).unwrap();
        l.ports[1].send(&frame(BCAST, B, b"two")).unwrap();
        assert!(l.ports[1].recv(SHORT).unwrap().is_some());
        assert!(l.ports[0].recv(SHORT).unwrap().is_some());
        l.sw.stop_capture();
        let mut r = pcap_file::pcap::PcapReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let mut srcs = Vec::new();
        while let Some(p) = r.next_packet() {
            srcs.push(p.unwrap().data[6..12].to_vec());
        }
        assert_eq!(srcs, [A.to_vec(), B.to_vec()]);
    }

    #[test]
    fn frames_from_strangers_are_counted_not_forwarded() {
        let l = lab("stranger", 2);
        let stranger = UnixDatagram::unbound().unwrap();
        stranger.send_to(&frame(BCAST, C, b"?"), l.sw.socket_path()).unwrap();
        assert!(l.ports[0].recv(SHORT).unwrap().is_none());
        assert!(l.sw.report().contains("unknown senders: 1"), "{}", l.sw.report());
    }
}
