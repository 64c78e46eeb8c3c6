//! Asking one server, blocking with a timeout (the caller runs it off the
//! event loop). The clock is read right before sending and right after
//! receiving; a reply that fails the checks is reported as such.

use crate::packet::{LEN, Repr, Timestamp};
use crate::sample::{Reject, Sample, from_reply};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug)]
pub enum QueryError {
    Io(std::io::Error),
    Timeout,
    Rejected(Reject),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Io(e) => write!(f, "{e}"),
            QueryError::Timeout => write!(f, "no reply"),
            QueryError::Rejected(r) => write!(f, "reply rejected: {r}"),
        }
    }
}

pub fn query(server: SocketAddr, timeout: Duration) -> Result<Sample, QueryError> {
    let local: SocketAddr =
        if server.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }.parse().map_err(|_| QueryError::Timeout)?;
    let sock = UdpSocket::bind(local).map_err(QueryError::Io)?;
    sock.connect(server).map_err(QueryError::Io)?;
    let t1 = Timestamp::from_system(SystemTime::now());
    sock.send(&Repr::request(t1).emit()).map_err(QueryError::Io)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(QueryError::Timeout);
        }
        sock.set_read_timeout(Some(left)).map_err(QueryError::Io)?;
        match sock.recv(&mut buf) {
            Ok(n) => {
                let t4 = Timestamp::from_system(SystemTime::now());
                match from_reply(&buf[..n], t1, t4) {
                    // A stray or replayed datagram: keep waiting for ours.
                    Err(Reject::OriginMismatch) if n >= LEN => continue,
                    r => return r.map_err(QueryError::Rejected),
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(QueryError::Timeout);
            }
            Err(e) => return Err(QueryError::Io(e)),
        }
    }
}
