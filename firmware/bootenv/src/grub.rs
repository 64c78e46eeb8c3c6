//! GRUB's environment block, as `load_env` / `save_env` and `grub-editenv`
//! read and write it (grub/lib/envblk.c): a file of exactly its own size
//! (1,024 bytes by default) that starts with [`SIGNATURE`], then
//! `name=value\n` lines, with `\` before a backslash or a newline in a
//! value, and `#` everywhere else. Lines that start with `#` are comments.
//! No checksum: see [`crate::ab`] for how vigil tells a torn block.
//!
//! GRUB changes a variable in place: the rest of the block moves by the
//! difference in length and the `#` run at the end is the free space. A
//! change of the same length rewrites only the bytes of the value, which is
//! why every variable GRUB changes during a boot keeps its length.

use std::fmt::Write;

/// The size GRUB and `grub-editenv create` give a block.
pub const BLOCK: usize = 1024;

/// The first line of every block.
pub const SIGNATURE: &str = "# GRUB Environment Block\n";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0} bytes, shorter than the header: not an environment block")]
    Short(usize),
    #[error("no \"# GRUB Environment Block\" header: not an environment block")]
    NoSignature,
    #[error("byte {0}: a line with no '=' (not name=value)")]
    NoEquals(usize),
    #[error("byte {0}: the value runs to the end of the block (no newline)")]
    Unterminated(usize),
    #[error("byte {0}: not UTF-8 text")]
    NotUtf8(usize),
    #[error("the variables take {need} bytes; the block holds {have}")]
    TooLarge { need: usize, have: usize },
    #[error("{0:?} is not a variable name (letters, digits and _, not empty, not starting with a digit)")]
    BadName(String),
}

/// The variables of a block, in their order in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    pub fn new() -> Env {
        Env::default()
    }

    /// Reads a block as GRUB does, but strictly: a line GRUB would skip as
    /// broken is an error here, so a damaged block is never half believed.
    pub fn parse(block: &[u8]) -> Result<Env, Error> {
        let sig = SIGNATURE.as_bytes();
        if block.len() < sig.len() {
            return Err(Error::Short(block.len()));
        }
        if &block[..sig.len()] != sig {
            return Err(Error::NoSignature);
        }
        let mut env = Env::new();
        let mut p = sig.len();
        while p < block.len() {
            match block[p] {
                // A comment or the padding: to the end of its line.
                b'#' => p = block[p..].iter().position(|&b| b == b'\n').map_or(block.len(), |n| p + n + 1),
                b'\n' => p += 1,
                _ => {
                    let line = p;
                    let eq = block[p..]
                        .iter()
                        .position(|&b| b == b'=' || b == b'\n')
                        .filter(|&n| block[p + n] == b'=')
                        .ok_or(Error::NoEquals(line))?;
                    let name = std::str::from_utf8(&block[p..p + eq]).map_err(|_| Error::NotUtf8(line))?;
                    p += eq + 1;
                    let mut value = Vec::new();
                    loop {
                        match block.get(p) {
                            None => return Err(Error::Unterminated(line)),
                            Some(b'\n') => {
                                p += 1;
                                break;
                            }
                            Some(b'\\') => {
                                let c = *block.get(p + 1).ok_or(Error::Unterminated(line))?;
                                value.push(c);
                                p += 2;
                            }
                            Some(&c) => {
                                value.push(c);
                                p += 1;
                            }
                        }
                    }
                    let value = String::from_utf8(value).map_err(|_| Error::NotUtf8(line))?;
                    env.put(name, &value);
                }
            }
        }
        Ok(env)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Sets a variable (kept in its place if it exists, else added last).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(Error::BadName(name.to_string()));
        }
        self.put(name, value);
        Ok(())
    }

    fn put(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value.to_string(),
            None => self.vars.push((name.to_string(), value.to_string())),
        }
    }

    pub fn unset(&mut self, name: &str) {
        self.vars.retain(|(n, _)| n != name);
    }

    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The lines, escaped as GRUB writes them (no header, no padding).
    pub fn lines(&self) -> String {
        let mut s = String::new();
        for (n, v) in &self.vars {
            let _ = write!(s, "{n}=");
            for c in v.chars() {
                if c == '\\' || c == '\n' {
                    s.push('\\');
                }
                s.push(c);
            }
            s.push('\n');
        }
        s
    }

    /// A block of `size` bytes: the header, the lines, `#` to the end.
    pub fn encode(&self, size: usize) -> Result<Vec<u8>, Error> {
        let mut b = SIGNATURE.as_bytes().to_vec();
        b.extend_from_slice(self.lines().as_bytes());
        if b.len() > size {
            return Err(Error::TooLarge { need: b.len(), have: size });
        }
        b.resize(size, b'#');
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_round_trips_with_escapes() {
        let mut e = Env::new();
        e.set("a", "1").unwrap();
        e.set("b", "x\\y").unwrap();
        e.set("c", "line1\nline2").unwrap();
        e.set("d", "").unwrap();
        let b = e.encode(BLOCK).unwrap();
        assert_eq!(b.len(), BLOCK);
        assert!(b.starts_with(b"# GRUB Environment Block\na=1\nb=x\\\\y\nc=line1\\\nline2\nd=\n###"));
        assert_eq!(Env::parse(&b).unwrap(), e);
        e.set("a", "2").unwrap();
        assert_eq!(e.vars().next(), Some(("a", "2")), "a set keeps its place");
    }

    #[test]
    fn damage_is_refused_with_where() {
        assert_eq!(Env::parse(b"# GRUB"), Err(Error::Short(6)));
        assert_eq!(Env::parse(&[0u8; BLOCK]), Err(Error::NoSignature));
        let mut b = Env::new().encode(BLOCK).unwrap();
        b[25..30].copy_from_slice(b"abc\n#");
        assert_eq!(Env::parse(&b), Err(Error::NoEquals(25)));
        let mut b = SIGNATURE.as_bytes().to_vec();
        b.extend_from_slice(b"a=no end");
        assert_eq!(Env::parse(&b), Err(Error::Unterminated(25)));
        let mut b = SIGNATURE.as_bytes().to_vec();
        b.extend_from_slice(b"a=\xff\n");
        assert_eq!(Env::parse(&b), Err(Error::NotUtf8(25)));
        let mut e = Env::new();
        e.set("big", &"x".repeat(1000)).unwrap();
        assert_eq!(e.encode(BLOCK), Err(Error::TooLarge { need: 1030, have: 1024 }));
        assert_eq!(e.set("a=b", "1"), Err(Error::BadName("a=b".into())));
        assert_eq!(e.set("", "1"), Err(Error::BadName(String::new())));
    }

    #[test]
    fn comments_anywhere_are_skipped() {
        let mut b = SIGNATURE.as_bytes().to_vec();
        b.extend_from_slice(b"# WARNING: Do not edit this file by tools other than grub-editenv!!!\na=1\n####\nb=2\n");
        b.resize(BLOCK, b'#');
        let e = Env::parse(&b).unwrap();
        assert_eq!((e.get("a"), e.get("b"), e.get("c")), (Some("1"), Some("2"), None));
    }
}
