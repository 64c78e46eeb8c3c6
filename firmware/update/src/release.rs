//! What a slot holds and whom it trusts, as the image tool stamps them
//! into the initramfs: the release (`/etc/vigil/release`: build number and
//! version, so a device knows what it runs without guessing from a file
//! name or a command line) and the update keys (`/etc/vigil/update-keys`:
//! the public keys bundles must be signed with, one minisign key per line).
//! Both are part of the signed slot: a key is changed by an update signed
//! with a key the device already trusts.

pub const RELEASE_PATH: &str = "/etc/vigil/release";
pub const KEYS_PATH: &str = "/etc/vigil/update-keys";

/// The file is a few lines; anything longer is not one.
const MAX_TEXT: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub build: u64,
    pub version: String,
}

impl Release {
    /// `build=N` and `version=V` lines (os-release's shape).
    pub fn text(&self) -> String {
        format!("build={}\nversion={}\n", self.build, self.version)
    }

    /// Reads the text; says which line is wrong.
    pub fn parse(text: &str) -> Result<Release, String> {
        if text.len() > MAX_TEXT {
            return Err(format!("{} bytes (at most {MAX_TEXT})", text.len()));
        }
        let (mut build, mut version) = (None, None);
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('=') {
                Some(("build", v)) => {
                    build = Some(v.parse::<u64>().map_err(|_| format!("line {}: build {v:?} is not a number", i + 1))?)
                }
                Some(("version", v)) if !v.is_empty() && v.len() <= 64 && !v.chars().any(char::is_control) => {
                    version = Some(v.to_string())
                }
                _ => return Err(format!("line {}: {line:?} is not build=N or version=TEXT", i + 1)),
            }
        }
        match (build, version) {
            (Some(build), Some(version)) => Ok(Release { build, version }),
            (None, _) => Err("no build= line".into()),
            (_, None) => Err("no version= line".into()),
        }
    }
}

/// The keys in an update-keys file: each line that is not blank, a
/// comment or minisign's "untrusted comment:" line.
pub fn parse_keys(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("untrusted comment:"))
        .take(16)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_reads_back_and_a_bad_line_is_named() {
        let r = Release { build: 42, version: "0.3.0".into() };
        assert_eq!(Release::parse(&r.text()), Ok(r));
        assert_eq!(Release::parse("build=x\nversion=1\n"), Err("line 1: build \"x\" is not a number".into()));
        assert_eq!(Release::parse("version=1\n"), Err("no build= line".into()));
        assert_eq!(
            Release::parse("build=1\nname=v\n"),
            Err("line 2: \"name=v\" is not build=N or version=TEXT".into())
        );
        assert!(Release::parse(&"#".repeat(5000)).is_err());
    }

    #[test]
    fn keys_skip_comments() {
        let t = "untrusted comment: minisign public key ABC\nRWQ1\n\n# another\nRWQ2\n";
        assert_eq!(parse_keys(t), ["RWQ1", "RWQ2"]);
    }
}
