//! The probes: one check of one real server, with real sockets. Each one
//! is bounded by `connect_timeout` (the caller wraps the whole probe in a
//! timeout too) and says why it failed.

use crate::dns;
use md5::{Digest, Md5};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

/// Where and how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    /// `bind_to`: the source address.
    pub bind: Option<IpAddr>,
    pub timeout: Duration,
}

/// Why a probe failed (for the log and `show checkers`).
pub type Failure = String;

pub(crate) async fn within<T>(
    t: Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    tokio::time::timeout(t, f).await.map_err(|_| format!("{what}: no answer within {} ms", t.as_millis()))?
}

/// TCP_CHECK: the port accepts a connection.
pub async fn tcp(t: &Target) -> Result<(), Failure> {
    connect(t).await.map(drop)
}

pub(crate) async fn connect(t: &Target) -> Result<TcpStream, Failure> {
    within(t.timeout, "connect", async {
        let sock = if t.addr.is_ipv6() { TcpSocket::new_v6() } else { TcpSocket::new_v4() }
            .map_err(|e| format!("socket: {e}"))?;
        if let Some(b) = t.bind {
            sock.bind(SocketAddr::new(b, 0)).map_err(|e| format!("bind {b}: {e}"))?;
        }
        sock.connect(t.addr).await.map_err(|e| format!("connect {}: {e}", t.addr))
    })
    .await
}

/// One URL of an HTTP_GET / SSL_GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlCheck {
    pub path: String,
    /// Accepted status ranges; empty: 200-299.
    pub status: Vec<(u16, u16)>,
    /// MD5 of the body, as keepalived's genhash prints it.
    pub digest: Option<[u8; 16]>,
}

/// Responses larger than this are cut (and then fail a digest).
const MAX_BODY: usize = 4 << 20;

/// HTTP_GET: every URL answers with an accepted status (and body digest).
/// HTTP/1.0 with a Host header, as keepalived sends it, so the body is
/// never chunked.
pub async fn http(t: &Target, urls: &[UrlCheck], virtualhost: Option<&str>) -> Result<(), Failure> {
    for u in urls {
        let stream = connect(t).await?;
        let host = virtualhost.map_or_else(|| t.addr.ip().to_string(), str::to_string);
        let response = within(t.timeout, &format!("GET {}", u.path), exchange(stream, &u.path, &host)).await?;
        check_response(&response, u)?;
    }
    Ok(())
}

pub(crate) async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    path: &str,
    host: &str,
) -> Result<Vec<u8>, Failure> {
    let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: vigil-check\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.map_err(|e| format!("sending the request: {e}"))?;
    let mut buf = Vec::new();
    match (&mut s).take(MAX_BODY as u64).read_to_end(&mut buf).await {
        Ok(_) => Ok(buf),
        // A TLS server that closes without close_notify: the response is
        // whole all the same (HTTP/1.0 ends at the close).
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => Ok(buf),
        Err(e) => Err(format!("reading the response: {e}")),
    }
}

/// Checks a whole HTTP response against one URL's expectations.
pub fn check_response(resp: &[u8], u: &UrlCheck) -> Result<(), Failure> {
    let head_end = resp.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no complete response header")?;
    let head = String::from_utf8_lossy(&resp[..head_end]);
    let status_line = head.lines().next().unwrap_or("");
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP status line: {status_line:?}"))?;
    let ok = if u.status.is_empty() {
        (200..=299).contains(&code)
    } else {
        u.status.iter().any(|&(a, b)| (a..=b).contains(&code))
    };
    if !ok {
        return Err(format!("{}: status {code}", u.path));
    }
    if let Some(want) = u.digest {
        let got: [u8; 16] = Md5::digest(&resp[head_end + 4..]).into();
        if got != want {
            return Err(format!("{}: body digest {} is not {}", u.path, hex(&got), hex(&want)));
        }
    }
    Ok(())
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SMTP_CHECK: a 220 greeting, then 250 to HELO.
pub async fn smtp(t: &Target, helo: &str) -> Result<(), Failure> {
    let stream = connect(t).await?;
    within(t.timeout, "SMTP", async {
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        expect_reply(&mut r, 220, "greeting").await?;
        w.write_all(format!("HELO {helo}\r\n").as_bytes()).await.map_err(|e| format!("HELO: {e}"))?;
        expect_reply(&mut r, 250, "HELO").await?;
        let _ = w.write_all(b"QUIT\r\n").await;
        Ok(())
    })
    .await
}

/// Reads one (possibly multi-line) SMTP reply and checks its code.
async fn expect_reply<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R, code: u16, what: &str) -> Result<(), Failure> {
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).await.map_err(|e| format!("{what}: {e}"))?;
        if n == 0 {
            return Err(format!("{what}: connection closed"));
        }
        let got: u16 = line.get(..3).and_then(|c| c.parse().ok()).ok_or_else(|| format!("{what}: {line:?}"))?;
        if line.as_bytes().get(3) == Some(&b'-') {
            continue; // more lines of the same reply
        }
        return if got == code { Ok(()) } else { Err(format!("{what}: {}", line.trim_end())) };
    }
}

/// DNS_CHECK: a query over UDP gets an answer.
pub async fn dns(t: &Target, name: &str, qtype: dns::QType, id: u16) -> Result<u16, Failure> {
    let q = dns::query(id, name, qtype)?;
    let resp = udp_exchange(t, &q).await?.ok_or("no response")?;
    dns::check_response(&resp, &q)
}

/// UDP_CHECK: the payload is sent; a reply is up; an ICMP unreachable is
/// down; silence is up unless a reply is required.
pub async fn udp(t: &Target, payload: &[u8], require_reply: bool) -> Result<(), Failure> {
    match udp_exchange(t, payload).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) if !require_reply => Ok(()),
        Ok(None) => Err("no reply".into()),
        Err(e) => Err(e),
    }
}

/// Sends one datagram on a connected socket and waits `timeout` for one
/// back: Some(reply), None on silence; an ICMP error is an Err.
async fn udp_exchange(t: &Target, payload: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
    let local = SocketAddr::new(
        t.bind.unwrap_or(if t.addr.is_ipv6() { "::".parse().unwrap() } else { "0.0.0.0".parse().unwrap() }),
        0,
    );
    let sock = UdpSocket::bind(local).await.map_err(|e| format!("bind {local}: {e}"))?;
    sock.connect(t.addr).await.map_err(|e| format!("connect {}: {e}", t.addr))?;
    sock.send(payload).await.map_err(|e| format!("send: {e}"))?;
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(t.timeout, sock.recv(&mut buf)).await {
        Err(_) => Ok(None),
        Ok(Ok(n)) => Ok(Some(buf[..n].to_vec())),
        Ok(Err(e)) if e.raw_os_error() == Some(libc::ECONNREFUSED) => Err("port unreachable (ICMP)".into()),
        Ok(Err(e)) => Err(format!("receive: {e}")),
    }
}

/// What a MISC_CHECK program's end means, as keepalived reads it: exit 0
/// up, 1 down, 2..=255 up with weight `code - 2` when `dynamic` (else down).
pub fn misc_verdict(code: Option<i32>, dynamic: bool) -> Result<Option<u32>, Failure> {
    match code {
        Some(0) => Ok(None),
        Some(c @ 2..=255) if dynamic => Ok(Some(c as u32 - 2)),
        Some(c) => Err(format!("exited with status {c}")),
        None => Err("killed by a signal".into()),
    }
}
