//! The few bytes of DNS a DNS_CHECK needs (RFC 1035 4.1): one question out,
//! and a response checked for its id, its question, RCODE NOERROR and at
//! least one answer.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QType {
    A = 1,
    Ns = 2,
    Cname = 5,
    Soa = 6,
    Mx = 15,
    Txt = 16,
    Aaaa = 28,
}

/// A query for `name` (dotted; a trailing dot is fine), recursion desired.
pub fn query(id: u16, name: &str, qtype: QType) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT 1
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        if label.len() > 63 {
            return Err(format!("label {label:?} is longer than 63 bytes"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    if q.len() > 12 + 255 {
        return Err("name is longer than 255 bytes".into());
    }
    q.extend_from_slice(&(qtype as u16).to_be_bytes());
    q.extend_from_slice(&[0, 1]); // IN
    Ok(q)
}

/// Checks a response to `query`; Ok(number of answers).
pub fn check_response(resp: &[u8], query: &[u8]) -> Result<u16, String> {
    if resp.len() < 12 {
        return Err(format!("response of {} bytes is shorter than a DNS header", resp.len()));
    }
    if resp[..2] != query[..2] {
        return Err("response id does not match the query".into());
    }
    if resp[2] & 0x80 == 0 {
        return Err("not a response (QR is 0)".into());
    }
    let rcode = resp[3] & 0x0f;
    if rcode != 0 {
        let name = match rcode {
            1 => "FORMERR",
            2 => "SERVFAIL",
            3 => "NXDOMAIN",
            4 => "NOTIMP",
            5 => "REFUSED",
            _ => "error",
        };
        return Err(format!("RCODE {rcode} ({name})"));
    }
    let question = &query[12..];
    if resp.get(12..12 + question.len()).is_none_or(|q| !q.eq_ignore_ascii_case(question)) {
        return Err("response is not for our question".into());
    }
    let answers = u16::from_be_bytes([resp[6], resp[7]]);
    if answers == 0 {
        return Err("no answer".into());
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_laid_out_as_rfc_1035_says() {
        let q = query(0x1234, "www.example.org.", QType::Aaaa).unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[12..], b"\x03www\x07example\x03org\x00\x00\x1c\x00\x01");
        assert!(query(1, &"a".repeat(64), QType::A).is_err());
    }

    #[test]
    fn responses_are_checked() {
        let q = query(7, "x.test", QType::A).unwrap();
        let mut r = q.clone();
        r[2] |= 0x80;
        r[7] = 1;
        assert_eq!(check_response(&r, &q), Ok(1));
        let mut bad = r.clone();
        bad[1] = 8;
        assert!(check_response(&bad, &q).unwrap_err().contains("id"));
        let mut nx = r.clone();
        nx[3] |= 3;
        assert!(check_response(&nx, &q).unwrap_err().contains("NXDOMAIN"));
        let mut none = r.clone();
        none[7] = 0;
        assert_eq!(check_response(&none, &q).unwrap_err(), "no answer");
        assert!(check_response(&r[..5], &q).is_err());
    }
}
