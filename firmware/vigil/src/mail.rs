//! Mail alerts, as keepalived sends them: the same subjects and bodies
//! (`[router] VRRP Instance VI_1 - Entering MASTER state`, `=> VRRP
//! Instance is now owning VRRP VIPs <=`), over plain SMTP to the
//! configured server (HELO, MAIL FROM, RCPT TO each, DATA, QUIT).
//!
//! [`Dialogue`] is the SMTP client, sans-IO: it takes the server's replies
//! and says what to send. [`send`] is the thin I/O around it: one task per
//! mail, bounded in number and in time, so a mail server that is away or
//! slow never holds up VRRP or the checkers; each mail ends in a log line.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tracing::{info, warn};
use vigil_config::Mail;

/// Mails being sent at once at most; more are dropped (and logged): a
/// flapping instance must not pile up connections.
const IN_FLIGHT: usize = 8;
static SENDING: AtomicUsize = AtomicUsize::new(0);

/// A server's reply lines are bounded (RFC 5321 allows 512 bytes).
const LINE: usize = 1024;

/// One mail: where from and to, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub helo: String,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

impl Message {
    /// The DATA part, as keepalived writes it (headers, a blank line, the
    /// body, the end mark); lines that start with a dot are doubled.
    pub fn data(&self, date: SystemTime) -> String {
        let mut to = String::new();
        for (i, a) in self.to.iter().enumerate() {
            to.push_str(if i == 0 { " " } else { ",\r\n " });
            to.push_str(a);
        }
        let body: Vec<String> =
            self.body.lines().map(|l| if l.starts_with('.') { format!(".{l}") } else { l.to_string() }).collect();
        format!(
            "Date: {}\r\nFrom: {}\r\nSubject: {}\r\nX-Mailer: vigil\r\nTo:{to}\r\n\r\n{}\r\n\r\n.\r\n",
            httpdate::fmt_http_date(date),
            self.from,
            self.subject,
            body.join("\r\n")
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Greeting,
    Helo,
    MailFrom,
    Rcpt(usize),
    Data,
    Body,
    Quit,
    Done,
}

/// The SMTP dialogue of one mail.
pub struct Dialogue {
    message: Message,
    date: SystemTime,
    stage: Stage,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Send(String),
    /// Sent (and QUIT answered, or not: the mail was taken already).
    Done,
}

impl Dialogue {
    pub fn new(message: Message, date: SystemTime) -> Dialogue {
        Dialogue { message, date, stage: Stage::Greeting }
    }

    /// The server's (last) reply code: the next command, the end, or what
    /// went wrong (the step and the code).
    pub fn handle_reply(&mut self, code: u16) -> Result<Next, String> {
        let want = |ok: &[u16], what: &str| -> Result<(), String> {
            if ok.contains(&code) { Ok(()) } else { Err(format!("the server answered {what} with {code}")) }
        };
        let m = &self.message;
        let (next, send) = match self.stage {
            Stage::Greeting => {
                want(&[220], "the connection")?;
                (Stage::Helo, format!("HELO {}\r\n", m.helo))
            }
            Stage::Helo => {
                want(&[250], "HELO")?;
                (Stage::MailFrom, format!("MAIL FROM:<{}>\r\n", m.from))
            }
            Stage::MailFrom => {
                want(&[250], "MAIL FROM")?;
                (Stage::Rcpt(0), format!("RCPT TO:<{}>\r\n", m.to.first().map_or("", |s| s.as_str())))
            }
            Stage::Rcpt(i) => {
                want(&[250, 251], &format!("RCPT TO:<{}>", m.to.get(i).map_or("", |s| s.as_str())))?;
                match m.to.get(i + 1) {
                    Some(a) => (Stage::Rcpt(i + 1), format!("RCPT TO:<{a}>\r\n")),
                    None => (Stage::Data, "DATA\r\n".to_string()),
                }
            }
            Stage::Data => {
                want(&[354], "DATA")?;
                (Stage::Body, m.data(self.date))
            }
            Stage::Body => {
                want(&[250], "the message")?;
                (Stage::Quit, "QUIT\r\n".to_string())
            }
            Stage::Quit | Stage::Done => {
                self.stage = Stage::Done;
                return Ok(Next::Done);
            }
        };
        self.stage = next;
        Ok(Next::Send(send))
    }

    /// Whether the mail was taken (the server accepted the message).
    pub fn delivered(&self) -> bool {
        matches!(self.stage, Stage::Quit | Stage::Done)
    }
}

/// A reply's code, from its last line (`250 OK`); None for a continuation
/// line (`250-...`) or one that is not a reply.
fn reply_code(line: &str) -> Option<Result<u16, String>> {
    let line = line.trim_end();
    let (code, sep) = (line.get(..3)?, line.as_bytes().get(3).copied());
    match (code.parse::<u16>(), sep) {
        (Ok(_), Some(b'-')) => None,
        (Ok(c), None | Some(b' ')) => Some(Ok(c)),
        _ => Some(Err(format!("the server said {line:?}, not an SMTP reply"))),
    }
}

/// The host name (for `From:` and HELO when the config does not say).
fn hostname() -> String {
    Some(crate::config::hostname()).filter(|h| !h.is_empty()).unwrap_or_else(|| "vigil".into())
}

/// Sends a mail alert in the background, if the settings have somewhere
/// to send it; `router_id` names this router in the subject, as keepalived.
pub fn send(settings: &Mail, router_id: &str, subject: &str, body: &str) {
    let Some((server, port)) = settings.server.clone() else { return };
    if settings.to.is_empty() {
        return;
    }
    let host = hostname();
    let router = if router_id.is_empty() { host.clone() } else { router_id.to_string() };
    let message = Message {
        helo: settings.helo_name.as_deref().map_or_else(|| host.clone(), str::to_string),
        from: settings.from.as_deref().map_or_else(|| format!("keepalived@{host}"), str::to_string),
        to: settings.to.iter().map(|a| a.to_string()).collect(),
        subject: format!("[{router}] {subject}"),
        body: body.to_string(),
    };
    if SENDING.fetch_add(1, Ordering::SeqCst) >= IN_FLIGHT {
        SENDING.fetch_sub(1, Ordering::SeqCst);
        return warn!("mail not sent ({}): {IN_FLIGHT} mails are being sent already", message.subject);
    }
    let timeout = Duration::from_secs(u64::from(settings.connect_timeout_s.max(1)));
    tokio::spawn(async move {
        let subject = message.subject.clone();
        // The whole exchange within a few timeouts: a server that accepts
        // and then stalls does not hold a slot for ever.
        let r = tokio::time::timeout(timeout * 4, deliver(&server, port, message, timeout)).await;
        SENDING.fetch_sub(1, Ordering::SeqCst);
        match r {
            Ok(Ok(())) => info!("mail sent to {server}:{port}: {subject}"),
            Ok(Err(e)) => warn!("mail not sent to {server}:{port} ({subject}): {e}"),
            Err(_) => warn!("mail not sent to {server}:{port} ({subject}): no answer in {} s", timeout.as_secs() * 4),
        }
    });
}

async fn deliver(server: &str, port: u16, message: Message, timeout: Duration) -> Result<(), String> {
    let addr: SocketAddr = match server.parse::<std::net::IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => tokio::net::lookup_host((server, port))
            .await
            .map_err(|e| format!("resolving {server}: {e}"))?
            .next()
            .ok_or_else(|| format!("{server} has no address"))?,
    };
    let stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| format!("no connection in {} s", timeout.as_secs()))?
        .map_err(|e| format!("connecting: {e}"))?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut d = Dialogue::new(message, SystemTime::now());
    let mut line = String::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(timeout, AsyncReadExt::take(&mut r, LINE as u64).read_line(&mut line))
            .await
            .map_err(|_| format!("no answer in {} s", timeout.as_secs()))?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return if d.delivered() { Ok(()) } else { Err("the server closed the connection".into()) };
        }
        let Some(code) = reply_code(&line) else { continue };
        match d.handle_reply(code?)? {
            Next::Send(cmd) => w.write_all(cmd.as_bytes()).await.map_err(|e| e.to_string())?,
            Next::Done => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message {
            helo: "lb1".into(),
            from: "keepalived@lb1".into(),
            to: vec!["ops@example.com".into(), "root".into()],
            subject: "[lb1] VRRP Instance VI_1 - Entering MASTER state".into(),
            body: "=> VRRP Instance is now owning VRRP VIPs <=".into(),
        }
    }

    #[test]
    fn the_dialogue_of_one_mail() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let mut d = Dialogue::new(message(), t);
        let mut sent = Vec::new();
        for code in [220, 250, 250, 250, 251, 354, 250] {
            match d.handle_reply(code).unwrap() {
                Next::Send(s) => sent.push(s),
                Next::Done => panic!("done early"),
            }
        }
        assert!(d.delivered());
        assert_eq!(d.handle_reply(221).unwrap(), Next::Done);
        assert_eq!(
            &sent[..4],
            ["HELO lb1\r\n", "MAIL FROM:<keepalived@lb1>\r\n", "RCPT TO:<ops@example.com>\r\n", "RCPT TO:<root>\r\n"]
        );
        assert_eq!(sent[4], "DATA\r\n");
        assert_eq!(
            sent[5],
            "Date: Wed, 18 Nov 2026 11:06:40 GMT\r\nFrom: keepalived@lb1\r\nSubject: [lb1] VRRP Instance VI_1 - Entering MASTER state\r\nX-Mailer: vigil\r\nTo: ops@example.com,\r\n root\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n\r\n.\r\n"
        );
        assert_eq!(sent[6], "QUIT\r\n");
    }

    #[test]
    fn a_refusal_says_which_step_and_code() {
        let mut d = Dialogue::new(message(), SystemTime::UNIX_EPOCH);
        d.handle_reply(220).unwrap();
        d.handle_reply(250).unwrap();
        d.handle_reply(250).unwrap();
        assert_eq!(d.handle_reply(550).unwrap_err(), "the server answered RCPT TO:<ops@example.com> with 550");
        let mut d = Dialogue::new(message(), SystemTime::UNIX_EPOCH);
        assert_eq!(d.handle_reply(421).unwrap_err(), "the server answered the connection with 421");
    }

    #[test]
    fn replies_and_dots() {
        assert_eq!(reply_code("250-PIPELINING\r\n"), None);
        assert_eq!(reply_code("250 OK\r\n"), Some(Ok(250)));
        assert_eq!(reply_code("354\r\n"), Some(Ok(354)));
        assert!(reply_code("hello there\r\n").unwrap().is_err());
        let mut m = message();
        m.body = "a\n.b".into();
        assert!(m.data(SystemTime::UNIX_EPOCH).contains("a\r\n..b\r\n"));
    }
}
