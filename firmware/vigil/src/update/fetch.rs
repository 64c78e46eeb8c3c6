//! Where bundle bytes come from: a file PID 1 opened for the updater (a
//! USB stick's block device, say), or HTTP(S) with a `Range` request, so a
//! download cut anywhere resumes at the first chunk not yet written.
//! Responses are parsed with httparse; the body is read as it comes, never
//! whole (a bundle is tens of MiB).

use std::io::SeekFrom;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a response head may take.
const MAX_HEAD: usize = 16 << 10;
/// A connection or a read that takes longer is cut.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Url {
    /// `http://HOST[:PORT]/PATH` or `https://...`; an IPv6 host in brackets.
    pub fn parse(text: &str) -> Result<Url, String> {
        let (tls, rest) = if let Some(r) = text.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = text.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(format!("{text:?} is not an http:// or https:// URL"));
        };
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
        let default = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| format!("{text:?}: no ] after the IPv6 address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| format!("{text:?}: port {p:?} is not a number"))?,
                None if after.is_empty() => default,
                None => return Err(format!("{text:?}: {after:?} after the address")),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => {
                    (h.to_string(), p.parse().map_err(|_| format!("{text:?}: port {p:?} is not a number"))?)
                }
                None => (authority.to_string(), default),
            }
        };
        if host.is_empty() || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{text:?} is not a URL vigil can fetch"));
        }
        Ok(Url { tls, host, port, path: path.to_string() })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == if self.tls { 443 } else { 80 } { host } else { format!("{host}:{}", self.port) }
    }
}

/// A source of bundle bytes.
pub enum Source {
    File(std::fs::File),
    Http(Url),
}

/// Bytes of the bundle from an offset.
pub struct Body {
    inner: Box<dyn AsyncRead + Unpin + Send>,
    /// Bytes still to come, when known.
    left: Option<u64>,
}

impl Body {
    /// The next bytes; 0 at the end.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        let want = self.left.map_or(buf.len(), |l| (l.min(buf.len() as u64)) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = tokio::time::timeout(TIMEOUT, self.inner.read(&mut buf[..want]))
            .await
            .map_err(|_| format!("nothing came for {} s", TIMEOUT.as_secs()))?
            .map_err(|e| format!("reading: {e}"))?;
        if let Some(l) = self.left.as_mut() {
            *l -= n as u64;
        }
        Ok(n)
    }
}

/// Opens `source` at byte `from`, for `len` bytes or to its end.
pub async fn open(source: &Source, from: u64, len: Option<u64>) -> Result<Body, String> {
    match source {
        Source::File(f) => {
            let f = f.try_clone().map_err(|e| format!("the file: {e}"))?;
            let mut f = tokio::fs::File::from_std(f);
            f.seek(SeekFrom::Start(from)).await.map_err(|e| format!("seeking to byte {from}: {e}"))?;
            Ok(Body { inner: Box::new(f), left: len })
        }
        Source::Http(url) => http(url, from, len).await,
    }
}

/// A response: its status, the head's fields vigil reads, the body.
struct Response {
    status: u16,
    content_range: Option<String>,
    body: Body,
}

/// One request on a new connection (`Connection: close`).
async fn request(url: &Url, method: &str, extra: &str, payload: &[u8]) -> Result<Response, String> {
    let addr = format!("{}:{}", url.host, url.port);
    let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect(&addr))
        .await
        .map_err(|_| format!("connecting to {addr}: no answer in {} s", TIMEOUT.as_secs()))?
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let req = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\n{extra}User-Agent: vigil-updater/{}\r\nConnection: close\r\n\r\n",
        url.path,
        url.host_header(),
        crate::VERSION
    );
    let mut stream: Box<dyn AsyncReadWrite> = if url.tls {
        let name = rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|e| format!("{:?} as a TLS server name: {e}", url.host))?;
        // What is fetched is signed: TLS keeps it private, it is not what
        // makes it trusted. So any certificate is taken (a box whose clock
        // is wrong still updates), its handshake signatures checked.
        let connector = vigil_check::tls::connector(false)?;
        let tls = tokio::time::timeout(TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| "TLS handshake: no answer".to_string())?
            .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    stream.write_all(req.as_bytes()).await.map_err(|e| format!("sending the request: {e}"))?;
    if !payload.is_empty() {
        stream.write_all(payload).await.map_err(|e| format!("sending the body: {e}"))?;
    }
    // The head, then what came with it.
    let mut buf = Vec::with_capacity(4096);
    let (status, headers_len, length, content_range) = loop {
        let mut piece = [0u8; 4096];
        let n = tokio::time::timeout(TIMEOUT, stream.read(&mut piece))
            .await
            .map_err(|_| format!("{addr}: no response in {} s", TIMEOUT.as_secs()))?
            .map_err(|e| format!("reading the response: {e}"))?;
        if n == 0 {
            return Err(format!("{addr} closed the connection before a whole response head"));
        }
        buf.extend_from_slice(&piece[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(at)) => {
                let header = |name: &str| {
                    resp.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
                };
                if let Some(te) = header("transfer-encoding").filter(|t| !t.eq_ignore_ascii_case("identity")) {
                    return Err(format!("{}: the server sent a {te} body; vigil fetches plain files", url.path));
                }
                let length = header("content-length").and_then(|l| l.parse::<u64>().ok());
                break (resp.code.unwrap_or(0), at, length, header("content-range"));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => return Err(format!("{addr}: a response head over {MAX_HEAD} bytes")),
            Err(e) => return Err(format!("{addr}: not an HTTP response ({e})")),
        }
    };
    let rest = buf.split_off(headers_len);
    let inner: Box<dyn AsyncRead + Unpin + Send> = Box::new(std::io::Cursor::new(rest).chain(stream));
    Ok(Response { status, content_range, body: Body { inner, left: length } })
}

/// A small file whole (a channel, its signature): at most `max` bytes.
pub async fn get(url: &Url, max: usize) -> Result<Vec<u8>, String> {
    let mut r = request(url, "GET", "", &[]).await?;
    if r.status != 200 {
        return Err(format!("{}: status {}", url.path, r.status));
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = r.body.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > max {
            return Err(format!("{}: over {max} bytes", url.path));
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// PUTs `payload` (a report) at `url`.
pub async fn put(url: &Url, payload: &[u8], content_type: &str) -> Result<(), String> {
    let extra = format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", payload.len());
    let r = request(url, "PUT", &extra, payload).await?;
    if (200..300).contains(&r.status) { Ok(()) } else { Err(format!("PUT {}: status {}", url.path, r.status)) }
}

async fn http(url: &Url, from: u64, len: Option<u64>) -> Result<Body, String> {
    let range = match len {
        Some(l) => format!("bytes={from}-{}", from + l.max(1) - 1),
        None => format!("bytes={from}-"),
    };
    let r = request(url, "GET", &format!("Range: {range}\r\n"), &[]).await?;
    let mut body = r.body;
    match r.status {
        206 => {
            // Content-Range: bytes FROM-TO/TOTAL: the range asked for.
            let start = r
                .content_range
                .as_deref()
                .and_then(|c| c.strip_prefix("bytes "))
                .and_then(|c| c.split('-').next())
                .and_then(|s| s.parse::<u64>().ok());
            if start != Some(from) {
                return Err(format!("{}: asked for bytes from {from}, got {:?}", url.path, r.content_range));
            }
        }
        // A server that ignores Range sends it all: skip to `from`.
        200 => {
            let mut skip = from;
            let mut sink = vec![0u8; 64 << 10];
            while skip > 0 {
                let n = body.read(&mut sink[..skip.min(64 << 10) as usize]).await?;
                if n == 0 {
                    return Err(format!("{}: the file ends before byte {from}", url.path));
                }
                skip -= n as u64;
            }
        }
        416 => return Err(format!("{}: the server has no byte {from} of it (416)", url.path)),
        code => return Err(format!("{}: status {code}", url.path)),
    }
    if let Some(l) = len {
        body.left = Some(body.left.map_or(l, |left| left.min(l)));
    }
    Ok(body)
}

trait AsyncReadWrite: AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + tokio::io::AsyncWrite + Unpin + Send> AsyncReadWrite for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_bad_ones_say_why() {
        let u = Url::parse("http://192.0.2.1:8080/fw/v2.vub").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port, u.path.as_str()), (false, "192.0.2.1", 8080, "/fw/v2.vub"));
        assert_eq!(u.host_header(), "192.0.2.1:8080");
        let u = Url::parse("https://[2001:db8::1]/b").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.host_header()),
            (true, "2001:db8::1", 443, "[2001:db8::1]".into())
        );
        assert_eq!(Url::parse("http://h").unwrap().path, "/");
        assert!(Url::parse("ftp://h/x").unwrap_err().contains("not an http"));
        assert!(Url::parse("http://h:x/").unwrap_err().contains("port"));
        assert!(Url::parse("http:///x").is_err());
        assert!(Url::parse("http://h/a b").is_err());
    }
}
