//! Every probe against real servers on loopback: Python's http.server, and
//! small responders on real sockets (an SMTP greeter, a DNS responder, a
//! UDP echo), a port that refuses, and one that accepts and never answers.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use vigil_check::dns::QType;
use vigil_check::probe::{self, BodyMatch, Http, HttpVersion, Target, UrlCheck};

fn target(addr: SocketAddr) -> Target {
    Target::new(addr, Duration::from_millis(500))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Accepts connections and never says a word.
async fn black_hole() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    a
}

#[test]
fn tcp_check_sees_an_open_port_a_refusing_one_and_binds_its_source() {
    rt().block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = l.local_addr().unwrap();
        assert_eq!(probe::tcp(&target(open)).await, Ok(()));
        let (_, peer) = l.accept().await.unwrap();
        assert_eq!(peer.ip().to_string(), "127.0.0.1");
        let e = probe::tcp(&target(closed_port())).await.unwrap_err();
        assert!(e.contains("Connection refused"), "{e}");
        // bind_to: the connection comes from the given source address.
        let mut t = target(open);
        t.bind = Some("127.0.0.2".parse().unwrap());
        assert_eq!(probe::tcp(&t).await, Ok(()));
        let (_, peer) = l.accept().await.unwrap();
        assert_eq!(peer.ip().to_string(), "127.0.0.2");
    });
}

/// Python's http.server on a directory with one file.
struct PyHttp {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Drop for PyHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python_http(dir: &std::path::Path) -> Option<PyHttp> {
    let port = closed_port().port();
    let child = std::process::Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Some(PyHttp { child, addr });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Python's http.server behind TLS in `dir`, with `cert` and `key`;
/// with `client_ca`, it wants a client certificate signed by it.
fn python_tls(dir: &std::path::Path, cert: &str, key: &str, client_ca: Option<&str>) -> PyHttp {
    let port = closed_port().port();
    let require = client_ca
        .map(|ca| format!("ctx.verify_mode = ssl.CERT_REQUIRED\nctx.load_verify_locations('{ca}')\n"))
        .unwrap_or_default();
    let script = format!(
        "import http.server, ssl\nsrv = http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)\n\
         ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\nctx.load_cert_chain('{cert}', '{key}')\n{require}\
         srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\nsrv.serve_forever()\n"
    );
    let child = std::process::Command::new("python3")
        .args(["-c", &script])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = PyHttp { child, addr: format!("127.0.0.1:{port}").parse().unwrap() };
    for _ in 0..100 {
        if std::net::TcpStream::connect(server.addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

#[test]
fn http_get_checks_status_codes_and_the_body_digest_against_a_real_server() {
    let dir = std::env::temp_dir().join(format!("vigil-check-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), b"hello from a real server\n").unwrap();
    let Some(server) = python_http(&dir) else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "python3 is needed for this test");
        eprintln!("SKIPPED: python3 not available");
        return;
    };
    // md5sum of the file: what keepalived's genhash prints for the URL.
    let digest: [u8; 16] = <md5::Md5 as md5::Digest>::digest(b"hello from a real server\n").into();
    let url = |path: &str, status: Vec<(u16, u16)>, digest: Option<[u8; 16]>| UrlCheck {
        path: path.into(),
        status,
        digest,
        body: None,
    };
    let plain = Http::default();
    rt().block_on(async {
        let t = target(server.addr);
        assert_eq!(probe::http(&t, &[url("/index.html", vec![], Some(digest))], &plain).await, Ok(()));
        let e = probe::http(&t, &[url("/missing", vec![], None)], &plain).await.unwrap_err();
        assert_eq!(e, "/missing: status 404");
        assert_eq!(probe::http(&t, &[url("/missing", vec![(404, 404)], None)], &plain).await, Ok(()));
        let e = probe::http(&t, &[url("/index.html", vec![], Some([0; 16]))], &plain).await.unwrap_err();
        assert!(e.contains("body digest") && e.contains(&probe::hex(&digest)), "{e}");
        // Every URL must pass.
        let both = [url("/index.html", vec![], None), url("/missing", vec![], None)];
        let named = Http { virtualhost: Some("www.example.org"), ..Http::default() };
        assert!(probe::http(&t, &both, &named).await.is_err());
        // keepalived's regex: found between the offsets, or (regex_no_match) not.
        let with = |pattern: &str, no_match: bool, min_offset: usize, max_offset: Option<usize>| {
            let re = regex::bytes::Regex::new(pattern).unwrap();
            UrlCheck {
                body: Some(BodyMatch { re, no_match, min_offset, max_offset }),
                ..url("/index.html", vec![], None)
            }
        };
        for version in [HttpVersion::V10, HttpVersion::V10Close, HttpVersion::V11] {
            let o = Http { version, ..Http::default() };
            assert_eq!(probe::http(&t, &[with("real s[a-z]+", false, 0, None)], &o).await, Ok(()), "{version:?}");
        }
        assert_eq!(probe::http(&t, &[with("^hello", false, 0, Some(0))], &plain).await, Ok(()));
        let e = probe::http(&t, &[with("hello", false, 1, None)], &plain).await.unwrap_err();
        assert_eq!(e, "/index.html: body does not match \"hello\"");
        let e = probe::http(&t, &[with("server", false, 0, Some(10))], &plain).await.unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        let e = probe::http(&t, &[with("real", true, 0, None)], &plain).await.unwrap_err();
        assert_eq!(e, "/index.html: body matches \"real\" at byte 13 (regex_no_match)");
        assert_eq!(probe::http(&t, &[with("error", true, 0, None)], &plain).await, Ok(()));
        // A server that accepts and never answers: a timeout, not a hang.
        let e = probe::http(&target(black_hole().await), &[url("/", vec![], None)], &plain).await.unwrap_err();
        assert!(e.contains("no answer within 500 ms"), "{e}");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// An SMTP greeter: `greeting` first, then 250 to HELO.
async fn smtp_server(greeting: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(greeting.as_bytes()).await;
                let mut buf = [0u8; 256];
                if let Ok(n) = s.read(&mut buf).await
                    && buf[..n].starts_with(b"HELO ")
                {
                    let _ = s.write_all(b"250 pleased to meet you\r\n").await;
                }
                let _ = s.read(&mut buf).await;
            });
        }
    });
    a
}

#[test]
fn smtp_check_wants_a_220_greeting_and_250_to_helo() {
    rt().block_on(async {
        let good = smtp_server("220-mail.test ESMTP\r\n220 ready\r\n").await;
        assert_eq!(probe::smtp(&target(good), "vigil").await, Ok(()));
        let busy = smtp_server("554 no service\r\n").await;
        assert_eq!(probe::smtp(&target(busy), "vigil").await.unwrap_err(), "greeting: 554 no service");
        let e = probe::smtp(&target(black_hole().await), "vigil").await.unwrap_err();
        assert!(e.contains("no answer"), "{e}");
    });
}

/// A DNS responder: answers A queries for `known` with 192.0.2.1, anything
/// else NXDOMAIN.
async fn dns_server(known: &'static str) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let a = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let q = &buf[..n];
            let mut r = q.to_vec();
            r[2] |= 0x80;
            let want = vigil_check::dns::query(0, known, QType::A).unwrap();
            if q[12..] == want[12..] {
                r[7] = 1;
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
            } else {
                r[3] |= 3;
            }
            let _ = s.send_to(&r, from).await;
        }
    });
    a
}

#[test]
fn dns_check_wants_an_answer() {
    rt().block_on(async {
        let d = dns_server("www.example.test").await;
        assert_eq!(probe::dns(&target(d), "www.example.test", QType::A, 42).await, Ok(1));
        let e = probe::dns(&target(d), "nope.example.test", QType::A, 43).await.unwrap_err();
        assert_eq!(e, "RCODE 3 (NXDOMAIN)");
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let e = probe::dns(&target(silent.local_addr().unwrap()), "x.test", QType::A, 44).await.unwrap_err();
        assert_eq!(e, "no response");
    });
}

#[test]
fn udp_check_tells_an_echo_from_an_unreachable_port_and_silence() {
    rt().block_on(async {
        let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let e_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = echo.recv_from(&mut buf).await {
                let _ = echo.send_to(&buf[..n], from).await;
            }
        });
        assert_eq!(probe::udp(&target(e_addr), b"ping", true).await, Ok(()));
        let closed = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        assert_eq!(probe::udp(&target(closed), b"ping", false).await.unwrap_err(), "port unreachable (ICMP)");
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let s_addr = silent.local_addr().unwrap();
        assert_eq!(probe::udp(&target(s_addr), b"ping", false).await, Ok(()), "silence is fine without require_reply");
        assert_eq!(probe::udp(&target(s_addr), b"ping", true).await.unwrap_err(), "no reply");
    });
}

#[test]
fn ping_check_gets_echo_replies_on_ipv4_and_ipv6() {
    if !nix::unistd::Uid::effective().is_root() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "root is needed for raw ICMP sockets");
        eprintln!("SKIPPED: raw ICMP sockets need root");
        return;
    }
    rt().block_on(async {
        let t = Duration::from_millis(500);
        assert_eq!(vigil_check::ping::ping("127.0.0.1".parse().unwrap(), t).await, Ok(()));
        assert_eq!(vigil_check::ping::ping("::1".parse().unwrap(), t).await, Ok(()));
    });
}

#[test]
fn a_hung_backend_does_not_delay_other_checks() {
    rt().block_on(async {
        let hole = black_hole().await;
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = l.local_addr().unwrap();
        let mut slow = target(hole);
        slow.timeout = Duration::from_secs(5);
        let urls = [UrlCheck { path: "/".into(), status: vec![], digest: None, body: None }];
        let plain = Http::default();
        let hung = probe::http(&slow, &urls, &plain);
        let fast = target(open);
        let quick = probe::tcp(&fast);
        // Both run concurrently on one thread: the quick one finishes first.
        tokio::select! {
            r = hung => panic!("the hung check finished first: {r:?}"),
            r = quick => assert_eq!(r, Ok(())),
        }
    });
}

#[test]
fn misc_check_exit_codes_mean_what_keepalived_says() {
    use probe::misc_verdict;
    assert_eq!(misc_verdict(Some(0), false), Ok(None));
    assert_eq!(misc_verdict(Some(1), true), Err("exited with status 1".into()));
    assert_eq!(misc_verdict(Some(7), true), Ok(Some(5)));
    assert_eq!(misc_verdict(Some(7), false), Err("exited with status 7".into()));
    assert_eq!(misc_verdict(None, true), Err("killed by a signal".into()));
}

/// Python's http.server behind TLS with a self-signed certificate (made
/// with openssl for backend.test and 127.0.0.1).
#[test]
fn ssl_get_checks_a_real_tls_server_with_and_without_certificate_verification() {
    let dir = std::env::temp_dir().join(format!("vigil-check-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), b"hello over TLS\n").unwrap();
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=backend.test"])
        .args(["-addext", "subjectAltName=DNS:backend.test,IP:127.0.0.1", "-keyout", "key.pem", "-out", "cert.pem"])
        .current_dir(&dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "openssl is needed for this test");
        eprintln!("SKIPPED: openssl not available");
        return;
    }
    let server = python_tls(&dir, "cert.pem", "key.pem", None);
    let digest: [u8; 16] = <md5::Md5 as md5::Digest>::digest(b"hello over TLS\n").into();
    let url = |digest| [UrlCheck { path: "/index.html".into(), status: vec![], digest, body: None }];
    let named = |verify, sni| Http { virtualhost: Some("backend.test"), verify, sni, ..Http::default() };
    rt().block_on(async {
        let t = target(server.addr);
        // keepalived's default: any certificate.
        assert_eq!(vigil_check::tls::https(&t, &url(Some(digest)), &Http::default()).await, Ok(()));
        assert_eq!(vigil_check::tls::https(&t, &url(None), &named(false, false)).await, Ok(()));
        assert_eq!(vigil_check::tls::https(&t, &url(None), &named(false, true)).await, Ok(()));
        let e = vigil_check::tls::https(&t, &url(Some([1; 16])), &Http::default()).await.unwrap_err();
        assert!(e.contains("body digest"), "{e}");
        // verify_cert: a self-signed certificate is refused.
        let e = vigil_check::tls::https(&t, &url(None), &named(true, true)).await.unwrap_err();
        assert!(e.starts_with("TLS: invalid peer certificate"), "{e}");
        // Plain HTTP to a TLS port fails clearly.
        assert!(probe::http(&t, &url(None), &Http::default()).await.is_err());
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `bind_port` and `bindto`: the connection comes from that address and
/// port (a listener sees it), check after check; `bind_if` names a device
/// that must exist.
#[test]
fn a_check_leaves_from_its_bind_port_and_interface() {
    rt().block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut t = target(l.local_addr().unwrap());
        let port = closed_port().port();
        t.bind = Some("127.0.0.1".parse().unwrap());
        t.bind_port = Some(port);
        for _ in 0..2 {
            let (accepted, probed) = tokio::join!(l.accept(), probe::tcp(&t));
            assert_eq!(probed, Ok(()));
            assert_eq!(accepted.unwrap().1.port(), port);
        }
        t.bind_port = None;
        t.bind_if = Some("lo".into());
        let (accepted, probed) = tokio::join!(l.accept(), probe::tcp(&t));
        assert_eq!(probed, Ok(()));
        assert!(accepted.is_ok());
        t.bind_if = Some("nosuchif0".into());
        let e = probe::tcp(&t).await.unwrap_err();
        assert!(e.starts_with("bind_if nosuchif0: No such device"), "{e}");
    });
}

/// keepalived's `SSL { ca certificate key }`: a server that wants a client
/// certificate (Python's ssl, CERT_REQUIRED) takes SSL_GET's; without it
/// the handshake fails. With `verify_cert`, the `ca` is what the server's
/// certificate must chain to (the public roots would refuse it).
#[test]
fn ssl_get_presents_the_ssl_blocks_client_certificate() {
    let dir = std::env::temp_dir().join(format!("vigil-check-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), b"mutual\n").unwrap();
    // A CA, the server's certificate signed by it, and a client's own.
    let made = std::process::Command::new("sh")
        .arg("-c")
        .arg(
            "set -e; q() { openssl \"$@\" 2>/dev/null; }\n\
             q req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca.key -out ca.pem\n\
             q req -newkey rsa:2048 -nodes -subj /CN=backend.test -keyout backend.test.key -out backend.csr\n\
             printf 'subjectAltName=DNS:backend.test\\n' > san.ext\n\
             q x509 -req -in backend.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out backend.test.pem\n\
             q req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=client -addext extendedKeyUsage=clientAuth -keyout client.key -out client.pem\n",
        )
        .current_dir(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "openssl is needed for this test");
        eprintln!("SKIPPED: openssl not available");
        return;
    }
    let server = python_tls(&dir, "backend.test.pem", "backend.test.key", Some("client.pem"));
    let read = |f: &str| Some(std::fs::read(dir.join(f)).unwrap());
    let files =
        vigil_check::tls::ClientFiles { ca: read("ca.pem"), chain: read("client.pem"), key: read("client.key") };
    let urls = [UrlCheck { path: "/index.html".into(), status: vec![], digest: None, body: None }];
    rt().block_on(async {
        let t = target(server.addr);
        let e = vigil_check::tls::https(&t, &urls, &Http::default()).await.unwrap_err();
        assert!(e.contains("TLS") || e.contains("reading the response"), "{e}");
        let any = vigil_check::tls::client_config(false, false, &files).unwrap();
        assert_eq!(vigil_check::tls::https(&t, &urls, &Http { client: Some(&any), ..Http::default() }).await, Ok(()));
        let trusted = vigil_check::tls::client_config(true, true, &files).unwrap();
        let o = Http {
            virtualhost: Some("backend.test"),
            verify: true,
            sni: true,
            client: Some(&trusted),
            ..Http::default()
        };
        assert_eq!(vigil_check::tls::https(&t, &urls, &o).await, Ok(()));
    });
    // A key without its certificate, an encrypted key: said, not a panic.
    let half = vigil_check::tls::ClientFiles { key: read("client.key"), ..Default::default() };
    assert!(vigil_check::tls::client_config(false, false, &half).unwrap_err().contains("needs its key"));
    let locked = vigil_check::tls::ClientFiles {
        key: Some(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n".to_vec()),
        chain: read("client.pem"),
        ..Default::default()
    };
    assert!(vigil_check::tls::client_config(false, false, &locked).unwrap_err().starts_with("SSL key: encrypted"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
