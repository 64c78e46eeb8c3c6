//! U-Boot's environment, for arm boards whose U-Boot keeps its own: a
//! little-endian CRC-32 (zlib's) of the data area, then (for a redundant
//! environment, two copies) a flags byte, then `name=value\0` entries, an
//! empty entry (`\0`) after the last, and padding (0xff, as `mkenvimage`
//! writes) to the environment's size. The CRC covers the whole data area,
//! padding included.
//!
//! Of two redundant copies that both check, the one with the newer flags
//! byte wins: flags count up by one per write and wrap, so 0 is newer than
//! 255 (U-Boot's env/common.c, `env_import_redund`).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0} bytes: too small for an environment")]
    Short(usize),
    #[error("checksum {found:#010x}, the data sums to {computed:#010x}: the environment is damaged")]
    Crc { found: u32, computed: u32 },
    #[error("byte {0}: an entry with no '=' (not name=value)")]
    NoEquals(usize),
    #[error("byte {0}: not UTF-8 text")]
    NotUtf8(usize),
    #[error("the entries run to the end of the environment (no empty entry after the last)")]
    Unterminated,
    #[error("the entries take {need} bytes; the environment holds {have}")]
    TooLarge { need: usize, have: usize },
    #[error("{0:?} cannot be stored (a name with '=' or a NUL byte, or a value with a NUL byte)")]
    Unstorable(String),
}

/// An environment: its entries in order, and the flags byte of a redundant copy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Env {
    pub vars: Vec<(String, String)>,
    /// `Some` for a copy of a redundant environment.
    pub flags: Option<u8>,
}

impl Env {
    /// Reads one copy; `redundant` says whether it has a flags byte.
    pub fn parse(bytes: &[u8], redundant: bool) -> Result<Env, Error> {
        let head = if redundant { 5 } else { 4 };
        if bytes.len() < head + 2 {
            return Err(Error::Short(bytes.len()));
        }
        let found = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let data = &bytes[head..];
        let computed = crc32fast::hash(data);
        if found != computed {
            return Err(Error::Crc { found, computed });
        }
        let mut vars = Vec::new();
        let mut p = 0;
        loop {
            let len = data[p..].iter().position(|&b| b == 0).ok_or(Error::Unterminated)?;
            if len == 0 {
                break;
            }
            let entry = std::str::from_utf8(&data[p..p + len]).map_err(|_| Error::NotUtf8(head + p))?;
            let (n, v) = entry.split_once('=').ok_or(Error::NoEquals(head + p))?;
            vars.push((n.to_string(), v.to_string()));
            p += len + 1;
        }
        Ok(Env { vars, flags: redundant.then_some(bytes[4]) })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, name: &str, value: &str) -> Result<(), Error> {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            return Err(Error::Unstorable(format!("{name}={value}")));
        }
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value.to_string(),
            None => self.vars.push((name.to_string(), value.to_string())),
        }
        Ok(())
    }

    /// One copy of `size` bytes, padded with 0xff as `mkenvimage` pads.
    pub fn encode(&self, size: usize) -> Result<Vec<u8>, Error> {
        let head = if self.flags.is_some() { 5 } else { 4 };
        let mut data = Vec::with_capacity(size);
        for (n, v) in &self.vars {
            data.extend_from_slice(n.as_bytes());
            data.push(b'=');
            data.extend_from_slice(v.as_bytes());
            data.push(0);
        }
        data.push(0);
        let have = size.saturating_sub(head);
        if data.len() > have {
            return Err(Error::TooLarge { need: data.len() + head, have: size });
        }
        data.resize(have, 0xff);
        let mut out = crc32fast::hash(&data).to_le_bytes().to_vec();
        out.extend(self.flags);
        out.extend_from_slice(&data);
        Ok(out)
    }
}

/// Which of two redundant copies U-Boot uses: `Ok(0)` or `Ok(1)`, or both
/// errors when neither checks.
pub fn choose(copies: [&[u8]; 2]) -> Result<(usize, Env), [Error; 2]> {
    match (Env::parse(copies[0], true), Env::parse(copies[1], true)) {
        (Ok(a), Ok(b)) => {
            // As env_import_redund: 255 then 0 is a wrap; else the larger;
            // equal flags, the first copy.
            let (fa, fb) = (a.flags.unwrap_or(0), b.flags.unwrap_or(0));
            let second = match (fa, fb) {
                (255, 0) => true,
                (0, 255) => false,
                _ => fb > fa,
            };
            if second { Ok((1, b)) } else { Ok((0, a)) }
        }
        (Ok(a), Err(_)) => Ok((0, a)),
        (Err(_), Ok(b)) => Ok((1, b)),
        (Err(ea), Err(eb)) => Err([ea, eb]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(flags: Option<u8>) -> Env {
        let mut e = Env { vars: Vec::new(), flags };
        e.set("a", "1").unwrap();
        e.set("bootcmd", "run x").unwrap();
        e
    }

    #[test]
    fn round_trip_and_damage() {
        for flags in [None, Some(7)] {
            let b = env(flags).encode(64).unwrap();
            assert_eq!(b.len(), 64);
            assert_eq!(Env::parse(&b, flags.is_some()).unwrap(), env(flags));
            let mut bad = b.clone();
            bad[20] ^= 1;
            assert!(matches!(Env::parse(&bad, flags.is_some()), Err(Error::Crc { .. })));
        }
        assert_eq!(env(None).encode(16), Err(Error::TooLarge { need: 23, have: 16 }));
        assert!(env(None).set("a=b", "1").is_err());
        assert_eq!(Env::parse(&[0; 3], false), Err(Error::Short(3)));
    }

    #[test]
    fn the_newer_redundant_copy_wins_across_the_wrap() {
        let mk = |f: u8| env(Some(f)).encode(64).unwrap();
        for (a, b, winner) in [(1u8, 2u8, 1usize), (2, 1, 0), (255, 0, 1), (0, 255, 0), (5, 5, 0), (9, 200, 1)] {
            let (w, _) = choose([&mk(a), &mk(b)]).unwrap();
            assert_eq!(w, winner, "flags {a} and {b}");
        }
        let mut broken = mk(9);
        broken[10] ^= 0xff;
        assert_eq!(choose([&broken, &mk(3)]).unwrap().0, 1);
        assert!(choose([&broken, &broken]).is_err());
    }
}
