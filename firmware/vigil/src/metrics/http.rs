//! The endpoint's HTTP, sans-IO: what a request's bytes so far call for,
//! and the response's bytes. One request per connection (`Connection:
//! close`): a scraper needs no more, and nothing is held between requests.

/// A request (line and headers) longer than this is refused: a scraper's
/// is a few hundred bytes.
pub const MAX_REQUEST: usize = 8 * 1024;

/// What the bytes read so far call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Read more.
    Incomplete,
    /// GET of the metrics path: answer with the page (`head`: without it).
    Metrics { head: bool },
    /// Answer with this status, and close.
    Refuse(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not HTTP/1.x, or malformed.
    BadRequest,
    /// Another path.
    NotFound,
    /// Another method than GET (or HEAD).
    Method,
    /// Line and headers past [`MAX_REQUEST`].
    TooLarge,
    /// Every connection slot is taken.
    Busy,
    /// The request did not arrive in time.
    Timeout,
}

impl Refusal {
    pub const ALL: [Refusal; 6] =
        [Refusal::BadRequest, Refusal::NotFound, Refusal::Method, Refusal::TooLarge, Refusal::Busy, Refusal::Timeout];

    /// The label in `vigil_metrics_refused_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::BadRequest => "bad_request",
            Refusal::NotFound => "not_found",
            Refusal::Method => "method",
            Refusal::TooLarge => "too_large",
            Refusal::Busy => "busy",
            Refusal::Timeout => "timeout",
        }
    }

    fn status(self) -> (u16, &'static str) {
        match self {
            Refusal::BadRequest => (400, "Bad Request"),
            Refusal::NotFound => (404, "Not Found"),
            Refusal::Method => (405, "Method Not Allowed"),
            Refusal::TooLarge => (431, "Request Header Fields Too Large"),
            Refusal::Busy => (503, "Service Unavailable"),
            Refusal::Timeout => (408, "Request Timeout"),
        }
    }

    /// The whole response.
    pub fn response(self) -> Vec<u8> {
        let (code, text) = self.status();
        let allow = if self == Refusal::Method { "Allow: GET, HEAD\r\n" } else { "" };
        let body = format!("{code} {text}\n");
        format!(
            "HTTP/1.1 {code} {text}\r\n{allow}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

/// What `buf` (the bytes read so far) calls for, on an endpoint serving `path`.
pub fn judge(buf: &[u8], path: &str) -> Verdict {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) if buf.len() >= MAX_REQUEST => Verdict::Refuse(Refusal::TooLarge),
        Ok(httparse::Status::Partial) => Verdict::Incomplete,
        // More than 32 headers: no scraper sends that many.
        Err(httparse::Error::TooManyHeaders) => Verdict::Refuse(Refusal::TooLarge),
        Err(_) => Verdict::Refuse(Refusal::BadRequest),
        Ok(httparse::Status::Complete(_)) if buf.len() > MAX_REQUEST => Verdict::Refuse(Refusal::TooLarge),
        Ok(httparse::Status::Complete(_)) => {
            let target = req.path.unwrap_or_default();
            // The query (Prometheus sends none; others may) is not looked at.
            let asked = target.split(['?', '#']).next().unwrap_or_default();
            match req.method {
                _ if asked != path => Verdict::Refuse(Refusal::NotFound),
                Some("GET") => Verdict::Metrics { head: false },
                Some("HEAD") => Verdict::Metrics { head: true },
                _ => Verdict::Refuse(Refusal::Method),
            }
        }
    }
}

/// The page's response.
pub fn metrics_response(page: &str, head: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        page.len()
    )
    .into_bytes();
    if !head {
        out.extend_from_slice(page.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_of_the_path_is_answered_and_the_rest_refused_with_its_status() {
        let j = |r: &str| judge(r.as_bytes(), "/metrics");
        assert_eq!(j("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"), Verdict::Metrics { head: false });
        assert_eq!(j("GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Verdict::Metrics { head: false });
        assert_eq!(j("HEAD /metrics HTTP/1.1\r\n\r\n"), Verdict::Metrics { head: true });
        assert_eq!(j("GET /metrics HTTP/1.1\r\nHost: x\r\n"), Verdict::Incomplete);
        assert_eq!(j("GET /metr"), Verdict::Incomplete);
        assert_eq!(j("GET / HTTP/1.1\r\n\r\n"), Verdict::Refuse(Refusal::NotFound));
        assert_eq!(j("GET /metrics/../x HTTP/1.1\r\n\r\n"), Verdict::Refuse(Refusal::NotFound));
        assert_eq!(j("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), Verdict::Refuse(Refusal::Method));
        assert_eq!(j("DELETE /metrics HTTP/1.1\r\n\r\n"), Verdict::Refuse(Refusal::Method));
        // A TLS ClientHello: no HTTP at all.
        assert_eq!(
            judge(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "/metrics"),
            Verdict::Refuse(Refusal::BadRequest)
        );
        assert_eq!(j("GET /metrics HTTP/2.0\r\n\r\n"), Verdict::Refuse(Refusal::BadRequest));
        let r = String::from_utf8(Refusal::Method.response()).unwrap();
        assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\n405 Method Not Allowed\n"), "{r}");
    }

    #[test]
    fn a_request_past_the_bound_is_refused_whether_or_not_it_ends() {
        let long = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_REQUEST));
        assert_eq!(judge(long.as_bytes(), "/metrics"), Verdict::Refuse(Refusal::TooLarge));
        let ended = format!("{long}\r\n");
        assert_eq!(judge(ended.as_bytes(), "/metrics"), Verdict::Refuse(Refusal::TooLarge));
        let many: String = (0..40).map(|i| format!("H{i}: v\r\n")).collect();
        let r = format!("GET /metrics HTTP/1.1\r\n{many}\r\n");
        assert_eq!(judge(r.as_bytes(), "/metrics"), Verdict::Refuse(Refusal::TooLarge));
    }

    #[test]
    fn the_page_goes_with_its_length_and_content_type() {
        let r = String::from_utf8(metrics_response("a 1\n", false)).unwrap();
        assert_eq!(
            r,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 4\r\nConnection: close\r\n\r\na 1\n"
        );
        assert!(
            String::from_utf8(metrics_response("a 1\n", true))
                .unwrap()
                .ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n")
        );
    }
}
