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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    /// `bind_to`: the source address.
    pub bind: Option<IpAddr>,
    pub timeout: Duration,
    /// `bind_port`: the source port.
    pub bind_port: Option<u16>,
    /// `bind_if`: the interface the packets leave by.
    pub bind_if: Option<String>,
    /// `fwmark`: the mark the packets carry.
    pub fwmark: Option<u32>,
}

impl Target {
    pub fn new(addr: SocketAddr, timeout: Duration) -> Target {
        Target { addr, bind: None, timeout, bind_port: None, bind_if: None, fwmark: None }
    }

    /// The source address and port to bind, if any is set.
    fn local(&self) -> Option<SocketAddr> {
        let any = if self.addr.is_ipv6() { IpAddr::from([0u16; 8]) } else { IpAddr::from([0u8; 4]) };
        (self.bind.is_some() || self.bind_port.is_some())
            .then(|| SocketAddr::new(self.bind.unwrap_or(any), self.bind_port.unwrap_or(0)))
    }

    /// The interface and the mark, on a socket not yet connected.
    fn prepare(&self, sock: socket2::SockRef<'_>) -> Result<(), Failure> {
        if let Some(i) = &self.bind_if {
            sock.bind_device(Some(i.as_bytes())).map_err(|e| format!("bind_if {i}: {e}"))?;
        }
        if let Some(m) = self.fwmark {
            sock.set_mark(m).map_err(|e| format!("fwmark {m}: {e}"))?;
        }
        Ok(())
    }
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
        t.prepare(socket2::SockRef::from(&sock))?;
        if let Some(local) = t.local() {
            if t.bind_port.is_some() {
                // A fixed source port is taken again at once by the next check.
                sock.set_reuseaddr(true).map_err(|e| format!("bind {local}: {e}"))?;
            }
            sock.bind(local).map_err(|e| format!("bind {local}: {e}"))?;
        }
        sock.connect(t.addr).await.map_err(|e| format!("connect {}: {e}", t.addr))
    })
    .await
}

/// One URL of an HTTP_GET / SSL_GET.
#[derive(Debug, Clone)]
pub struct UrlCheck {
    pub path: String,
    /// Accepted status ranges; empty: 200-299.
    pub status: Vec<(u16, u16)>,
    /// MD5 of the body, as keepalived's genhash prints it.
    pub digest: Option<[u8; 16]>,
    /// keepalived's `regex`: what the body must (or must not) hold.
    pub body: Option<BodyMatch>,
}

/// A body's pattern: found starting at or after `min_offset` and at or
/// before `max_offset` (keepalived's `regex_min_offset` /
/// `regex_max_offset`); `no_match` turns the verdict round.
#[derive(Debug, Clone)]
pub struct BodyMatch {
    pub re: regex::bytes::Regex,
    pub no_match: bool,
    pub min_offset: usize,
    pub max_offset: Option<usize>,
}

impl BodyMatch {
    /// Why `body` fails, if it does.
    pub fn check(&self, body: &[u8]) -> Result<(), Failure> {
        let from = self.min_offset.min(body.len());
        let found = self.re.find_at(body, from).filter(|m| self.max_offset.is_none_or(|max| m.start() <= max));
        match (found, self.no_match) {
            (Some(_), false) | (None, true) => Ok(()),
            (None, false) => Err(format!("body does not match {:?}", self.re.as_str())),
            (Some(m), true) => {
                Err(format!("body matches {:?} at byte {} (regex_no_match)", self.re.as_str(), m.start()))
            }
        }
    }
}

/// How an HTTP_GET / SSL_GET asks: the Host (`virtualhost`, else the
/// address), the version; for SSL_GET whether the certificate is verified
/// and whether the server name goes in the handshake (`enable_sni`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Http<'a> {
    pub virtualhost: Option<&'a str>,
    pub version: HttpVersion,
    pub verify: bool,
    pub sni: bool,
    /// SSL_GET's client config when the config has an `SSL` block (built
    /// with [`crate::tls::client_config`] for this `verify` and `sni`).
    pub client: Option<&'a std::sync::Arc<rustls::ClientConfig>>,
}

/// keepalived's `http_protocol`: the request's version, and whether it
/// says `Connection: close` (1.1 always does: vigil reads to the close).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpVersion {
    #[default]
    V10,
    V10Close,
    V11,
}

impl HttpVersion {
    /// The request for `path` on `host`.
    pub fn request(self, path: &str, host: &str) -> String {
        let (version, close) = match self {
            HttpVersion::V10 => ("1.0", ""),
            HttpVersion::V10Close => ("1.0", "Connection: close\r\n"),
            HttpVersion::V11 => ("1.1", "Connection: close\r\n"),
        };
        format!("GET {path} HTTP/{version}\r\nHost: {host}\r\nUser-Agent: vigil-check\r\n{close}\r\n")
    }
}

/// Responses larger than this are cut (and then fail a digest).
const MAX_BODY: usize = 4 << 20;

/// HTTP_GET: every URL answers with an accepted status (and body digest).
/// HTTP/1.0 with a Host header as keepalived sends it (`http_protocol`
/// can say 1.1: a chunked body is then digested and matched as sent, as
/// keepalived does).
pub async fn http(t: &Target, urls: &[UrlCheck], o: &Http<'_>) -> Result<(), Failure> {
    for u in urls {
        let stream = connect(t).await?;
        let host = o.virtualhost.map_or_else(|| t.addr.ip().to_string(), str::to_string);
        let response =
            within(t.timeout, &format!("GET {}", u.path), exchange(stream, &u.path, &host, o.version)).await?;
        check_response(&response, u)?;
    }
    Ok(())
}

pub(crate) async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    path: &str,
    host: &str,
    v: HttpVersion,
) -> Result<Vec<u8>, Failure> {
    let req = v.request(path, host);
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
    let body = &resp[head_end + 4..];
    if let Some(want) = u.digest {
        let got: [u8; 16] = Md5::digest(body).into();
        if got != want {
            return Err(format!("{}: body digest {} is not {}", u.path, hex(&got), hex(&want)));
        }
    }
    if let Some(b) = &u.body {
        b.check(body).map_err(|why| format!("{}: {why}", u.path))?;
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
    let any = if t.addr.is_ipv6() { IpAddr::from([0u16; 8]) } else { IpAddr::from([0u8; 4]) };
    let local = t.local().unwrap_or(SocketAddr::new(any, 0));
    let sock = UdpSocket::bind(local).await.map_err(|e| format!("bind {local}: {e}"))?;
    t.prepare(socket2::SockRef::from(&sock))?;
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

/// The number a tracked file holds, as keepalived's checker reads it
/// (`strtol(buf, NULL, 0)`: blanks, a sign, then decimal, `0x` hex or
/// `0` octal digits; what follows is ignored; no digits is 0), or None
/// past the 32-bit range (keepalived: "Invalid number ... ignoring").
pub fn file_number(text: &str) -> Option<i64> {
    let t = text.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    let mut n: i64 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else { break };
        n = n.checked_mul(i64::from(radix))?.checked_add(i64::from(d))?;
        if n > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let n = if neg { -n } else { n };
    (i64::from(i32::MIN)..=i64::from(i32::MAX) + 1).contains(&n).then_some(n)
}

/// FILE_CHECK's verdict on a file's number, as keepalived 2.2.7 decides
/// it: with weight 0 a non-zero number is a failure (`reverse`: zero is);
/// otherwise number x weight (negated with `reverse`) fails only at
/// i32::MIN or below, and is added to the real server's `base` weight
/// (kept within 0..=65535, IPVS's range).
pub fn file_verdict(number: i64, weight: i32, reverse: bool, base: u32) -> Result<Option<u32>, Failure> {
    if weight == 0 {
        return match (number != 0) != reverse {
            true if reverse => Err("the file holds 0 (reverse)".into()),
            true => Err(format!("the file holds {number}")),
            false => Ok(None),
        };
    }
    let s = number.saturating_mul(i64::from(weight)) * if reverse { -1 } else { 1 };
    if s <= i64::from(i32::MIN) {
        return Err(format!("the file holds {number}: x {weight} is past i32's range (keepalived's fault)"));
    }
    let s = s.min(i64::from(i32::MAX));
    Ok(Some((i64::from(base) + s).clamp(0, 65535) as u32))
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn numbers_read_as_strtol_reads_them() {
        for (text, want) in [
            ("42\n", Some(42)),
            ("  -7 apples", Some(-7)),
            ("0x1f", Some(31)),
            ("010", Some(8)),
            ("", Some(0)),
            ("abc", Some(0)),
            ("+3", Some(3)),
            ("2147483648", Some(2_147_483_648)),
            ("2147483649", None),
            ("-2147483648", Some(-2_147_483_648)),
            ("99999999999999999999", None),
        ] {
            assert_eq!(file_number(text), want, "{text:?}");
        }
    }

    #[test]
    fn verdicts_follow_keepalived() {
        // Weight 0: a maintenance switch.
        assert_eq!(file_verdict(0, 0, false, 5), Ok(None));
        assert_eq!(file_verdict(1, 0, false, 5), Err("the file holds 1".into()));
        assert_eq!(file_verdict(0, 0, true, 5), Err("the file holds 0 (reverse)".into()));
        assert_eq!(file_verdict(3, 0, true, 5), Ok(None));
        // A weight: up, and the weight moves (never below 0, never past IPVS's).
        assert_eq!(file_verdict(10, 2, false, 5), Ok(Some(25)));
        assert_eq!(file_verdict(10, 2, true, 5), Ok(Some(0)));
        assert_eq!(file_verdict(-3, 1, false, 5), Ok(Some(2)));
        assert_eq!(file_verdict(1 << 20, 1 << 20, false, 5), Ok(Some(65535)));
        // At i32::MIN: keepalived's fault.
        assert!(file_verdict(-2_147_483_648, 1, false, 5).is_err());
        assert!(file_verdict(1 << 20, -(1 << 20), false, 5).is_err());
    }
}
