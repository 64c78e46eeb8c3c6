//! What Debian's mirror has, as apt on this machine sees it: `apt-cache show`
//! read as deb822 paragraphs (pure, tested on captured output), and the thin
//! layer that runs it.

use anyhow::{Context, Result, bail};
use std::process::Command;

/// One deb822 paragraph: `Field: value` lines, continuation lines folded in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    /// A field's value (field names are case-insensitive in deb822).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Splits `apt-cache show` output into paragraphs. Lines that are neither a
/// field nor a continuation are skipped: apt prints notes (`N: ...`) in the
/// same stream on some versions.
pub fn parse_paragraphs(text: &str) -> Vec<Paragraph> {
    let mut out = Vec::new();
    let mut cur = Paragraph::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.fields.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = cur.fields.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':')
            && !k.is_empty()
            && !k.contains(' ')
        {
            cur.fields.push((k.to_string(), v.trim().to_string()));
        }
    }
    if !cur.fields.is_empty() {
        out.push(cur);
    }
    out
}

/// The package a meta package's `Depends` pins exactly: from
/// `linux-image-6.1.0-56-amd64 (= 6.1.192-2)` the name and the version.
pub fn exact_dependency(depends: &str, prefix: &str) -> Option<(String, String)> {
    depends.split(',').flat_map(|alt| alt.split('|')).find_map(|dep| {
        let dep = dep.trim();
        let (name, rest) = dep.split_once(' ').unwrap_or((dep, ""));
        let name = name.split(':').next().unwrap_or(name);
        if !name.starts_with(prefix) {
            return None;
        }
        let version = rest.trim().strip_prefix("(=")?.strip_suffix(')')?.trim();
        Some((name.to_string(), version.to_string()))
    })
}

/// `apt-cache show --no-all-versions SPEC` (the candidate, or the version the
/// spec names), as paragraphs. An unknown package is an empty list, not an
/// error: apt says "No packages found" then.
pub fn show(spec: &str) -> Result<Vec<Paragraph>> {
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions", spec])
        .env("LC_ALL", "C")
        .output()
        .context("running apt-cache (is this a Debian machine? run ci/setup)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No packages found") || err.contains("Unable to locate") || err.contains("Can't select") {
            return Ok(Vec::new());
        }
        bail!("apt-cache show {spec}: {}", err.trim());
    }
    Ok(parse_paragraphs(&text))
}

/// The modification time of apt's newest package list, as "N days ago", to
/// tell whether what apt knows may be stale.
pub fn lists_age() -> Option<String> {
    let newest = std::fs::read_dir("/var/lib/apt/lists")
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_Packages"))
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()?;
    let age = newest.elapsed().ok()?.as_secs();
    Some(match age {
        0..=7199 => format!("{} minutes ago", age / 60),
        7200..=172_799 => format!("{} hours ago", age / 3600),
        _ => format!("{} days ago", age / 86_400),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from `apt-cache show --no-all-versions linux-image-amd64` on
    // Debian 12 (the long Description cut).
    const META: &str = "Package: linux-image-amd64
Source: linux-signed-amd64 (6.1.192+2)
Version: 6.1.192-2
Installed-Size: 14
Maintainer: Debian Kernel Team <debian-kernel@lists.debian.org>
Architecture: amd64
Provides: linux-latest-modules-6.1.0-56-amd64, wireguard-modules (= 1.0.0)
Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)
Description-en: Linux for 64-bit PCs (meta-package)
 This package depends on the latest Linux kernel and modules for use on PCs
 with AMD64, Intel 64 or VIA Nano processors.
Description-md5: 3b4e4b3ae9a2a2d1c6fca3fc94e17e3e
Section: kernel
Priority: optional
Filename: pool/updates/main/l/linux-signed-amd64/linux-image-amd64_6.1.192-2_amd64.deb
SHA256: 1111111111111111111111111111111111111111111111111111111111111111

";

    #[test]
    fn a_paragraph_is_read_with_its_continuations() {
        let ps = parse_paragraphs(META);
        assert_eq!(ps.len(), 1);
        let p = &ps[0];
        assert_eq!(p.get("package"), Some("linux-image-amd64"));
        assert_eq!(p.get("Version"), Some("6.1.192-2"));
        assert!(p.get("Description-en").unwrap().ends_with("Intel 64 or VIA Nano processors."));
        assert_eq!(p.get("Priority"), Some("optional"));
        assert_eq!(p.get("Nope"), None);
    }

    #[test]
    fn paragraphs_are_split_on_blank_lines_and_notes_are_skipped() {
        let text = "Package: a\nVersion: 1\n\n\nN: this is a note\nPackage: b\nVersion: 2\n";
        let ps = parse_paragraphs(text);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[1].get("Package"), Some("b"));
        assert!(parse_paragraphs("").is_empty());
        assert!(parse_paragraphs("\n\n \n").is_empty());
    }

    #[test]
    fn the_exact_dependency_of_a_meta_package() {
        let p = &parse_paragraphs(META)[0];
        assert_eq!(
            exact_dependency(p.get("Depends").unwrap(), "linux-image-"),
            Some(("linux-image-6.1.0-56-amd64".into(), "6.1.192-2".into()))
        );
        // Other dependencies, alternatives and arch qualifiers.
        assert_eq!(
            exact_dependency(
                "kmod, linux-base (>= 4.3~) | foo, linux-image-6.1.0-57-arm64:arm64 (= 6.1.200-1)",
                "linux-image-"
            ),
            Some(("linux-image-6.1.0-57-arm64".into(), "6.1.200-1".into()))
        );
        // Not pinned exactly: no answer rather than a guess.
        assert_eq!(exact_dependency("linux-image-6.1.0-56-amd64 (>= 6.1)", "linux-image-"), None);
        assert_eq!(exact_dependency("linux-image-6.1.0-56-amd64", "linux-image-"), None);
        assert_eq!(exact_dependency("", "linux-image-"), None);
    }
}
