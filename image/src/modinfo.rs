//! A kernel module's `.modinfo` section: `key=value` strings separated by NUL
//! bytes. The image tool reads `depends`, `softdep` and `alias` from it, since
//! Debian's kernel package ships no `modules.dep`.

use anyhow::{Context, Result};
use object::{Object, ObjectSection};
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModInfo {
    pub name: Option<String>,
    /// Hard dependencies (`depends=a,b`): must load first.
    pub depends: Vec<String>,
    /// `softdep=pre: x y post: z`: optional, loaded before / after.
    pub pre: Vec<String>,
    pub post: Vec<String>,
    pub aliases: Vec<String>,
}

/// Module names are written with '-' or '_' interchangeably; the kernel uses '_'.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

impl ModInfo {
    /// Parses the raw section contents.
    pub fn parse(section: &[u8]) -> ModInfo {
        let mut info = ModInfo::default();
        for entry in section.split(|&b| b == 0) {
            let Ok(entry) = std::str::from_utf8(entry) else {
                continue;
            };
            let Some((key, value)) = entry.split_once('=') else {
                continue;
            };
            match key {
                "name" => info.name = Some(normalize(value)),
                "depends" => {
                    info.depends.extend(value.split(',').filter(|s| !s.is_empty()).map(normalize));
                }
                "softdep" => parse_softdep(value, &mut info.pre, &mut info.post),
                "alias" => info.aliases.push(value.to_string()),
                _ => {}
            }
        }
        info
    }

    /// Reads the `.modinfo` section of a `.ko` file.
    pub fn read(path: &Path) -> Result<ModInfo> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let file = object::File::parse(&*data).with_context(|| format!("{}: not an ELF module", path.display()))?;
        let section =
            file.section_by_name(".modinfo").with_context(|| format!("{}: no .modinfo section", path.display()))?;
        let bytes = section.data().with_context(|| format!("{}: unreadable .modinfo", path.display()))?;
        Ok(ModInfo::parse(bytes))
    }
}

/// `pre: a b post: c` (either part optional, in any order).
fn parse_softdep(value: &str, pre: &mut Vec<String>, post: &mut Vec<String>) {
    let mut target: Option<&mut Vec<String>> = None;
    for word in value.split_whitespace() {
        match word {
            "pre:" => target = Some(&mut *pre),
            "post:" => target = Some(&mut *post),
            name => {
                if let Some(t) = target.as_deref_mut() {
                    t.push(normalize(name));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fields_vigil_uses() {
        let raw = b"alias=crypto-crc32c\0alias=crc32c\0depends=nf_conntrack,libcrc32c\0\0softdep=pre: crc32c post: foo-bar\0name=ip_vs\0license=GPL\0";
        let m = ModInfo::parse(raw);
        assert_eq!(m.name.as_deref(), Some("ip_vs"));
        assert_eq!(m.depends, ["nf_conntrack", "libcrc32c"]);
        assert_eq!(m.pre, ["crc32c"]);
        assert_eq!(m.post, ["foo_bar"]);
        assert_eq!(m.aliases, ["crypto-crc32c", "crc32c"]);
    }

    #[test]
    fn empty_depends_and_garbage_are_ignored() {
        let m = ModInfo::parse(b"depends=\0\xff\xfe=x\0noequals\0softdep=post: a b\0");
        assert!(m.depends.is_empty());
        assert!(m.pre.is_empty());
        assert_eq!(m.post, ["a", "b"]);
    }
}
