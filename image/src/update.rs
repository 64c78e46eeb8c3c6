//! Update bundles on the host: keys, building, signing, checking and
//! reading them (`vigil-image keygen | bundle | sign | verify | inspect`).
//! The format and the checks are the firmware's own (`vigil-update`); the
//! signing is minisign's (the `minisign` crate: Ed25519, the same files the
//! `minisign` tool reads and writes).

use anyhow::{Context, Result, bail};
use std::path::Path;
use vigil_update::bundle::{self, Header};
use vigil_update::{Chunks, Manifest};

/// Writes a new key pair: `<base>.key` (the secret key, unencrypted: keep
/// it off the build machine's shared disks) and `<base>.pub`.
pub fn keygen(base: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let (sk_path, pk_path) = (base.with_extension("key"), base.with_extension("pub"));
    for p in [&sk_path, &pk_path] {
        if p.exists() {
            bail!("{} exists: not overwritten (a lost key cannot be made again)", p.display());
        }
    }
    let kp = minisign::KeyPair::generate_unencrypted_keypair().context("making the key pair")?;
    let sk_box = kp.sk.to_box(Some("vigil update signing key")).context("encoding the secret key")?;
    let pk_box = kp.pk.to_box().context("encoding the public key")?;
    std::fs::write(&sk_path, sk_box.to_string()).with_context(|| format!("writing {}", sk_path.display()))?;
    std::fs::write(&pk_path, pk_box.to_string()).with_context(|| format!("writing {}", pk_path.display()))?;
    Ok((sk_path, pk_path))
}

/// The public key's base64 line from a `.pub` file (or the line itself).
pub fn public_key(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .with_context(|| format!("{}: no key in it", path.display()))?;
    Ok(line.to_string())
}

/// An unsigned bundle of `payload` described by `manifest`.
pub fn unsigned(manifest: &Manifest, payload: &[u8]) -> Vec<u8> {
    bundle::assemble(&manifest.encode(), &[], payload)
}

/// The parts of a bundle file's bytes.
pub struct Parsed<'a> {
    pub header: Header,
    pub manifest_bytes: &'a [u8],
    pub manifest: Manifest,
    pub signature: &'a [u8],
    pub payload: &'a [u8],
}

pub fn parse(bytes: &[u8]) -> Result<Parsed<'_>> {
    let header = Header::parse(bytes)?;
    let (manifest_bytes, signature) = header
        .parts(bytes)
        .with_context(|| format!("the bundle ends at {} bytes, inside its manifest or signature", bytes.len()))?;
    let manifest = Manifest::decode(manifest_bytes)?;
    let payload = &bytes[header.head_len() as usize..];
    Ok(Parsed { header, manifest_bytes, manifest, signature, payload })
}

/// The secret key in a `.key` file from `keygen`.
pub fn secret_key(key: &Path) -> Result<minisign::SecretKey> {
    let text = std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    minisign::SecretKeyBox::from_string(&text)
        .and_then(|b| b.into_unencrypted_secret_key())
        .map_err(|e| anyhow::anyhow!("{}: not an unencrypted minisign secret key: {e}", key.display()))
}

/// Signs the bundle at `path` in place with the secret key at `key`.
pub fn sign(path: &Path, key: &Path) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let p = parse(&bytes).with_context(|| format!("{}", path.display()))?;
    let sk = secret_key(key)?;
    let m = &p.manifest;
    let comment = format!("vigil {} build {} ({}) for {}", m.version, m.build, m.arch, m.board);
    let sig = minisign::sign(None, &sk, p.manifest_bytes, Some(&comment), None)
        .map_err(|e| anyhow::anyhow!("signing: {e}"))?
        .to_string();
    let out = bundle::assemble(p.manifest_bytes, sig.as_bytes(), p.payload);
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, out).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Checks a bundle as a device would: the signature with `keys`, then the
/// payload chunk by chunk and whole. Returns the manifest.
pub fn verify(bytes: &[u8], keys: &[String]) -> Result<Manifest> {
    let p = parse(bytes)?;
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    vigil_update::verify(p.manifest_bytes, p.signature, &keys)?;
    let mut c = Chunks::new(&p.manifest);
    c.push(p.payload, |_, _| {})?;
    c.finish()?;
    Ok(p.manifest)
}

/// What `inspect` prints.
pub fn describe(p: &Parsed) -> String {
    let m = &p.manifest;
    let signed = match std::str::from_utf8(p.signature) {
        Ok("") => "no".to_string(),
        Ok(text) => {
            let trusted = text.lines().find_map(|l| l.strip_prefix("trusted comment: ")).unwrap_or("?");
            format!("yes ({trusted})")
        }
        Err(_) => "unreadable".to_string(),
    };
    format!(
        "board            {}\narch             {}\nversion          {}\nbuild            {}\nsecurity version {}\n\
         updates builds   {} and newer\npayload          {} bytes, {} chunks, sha256 {}\nsigned           {signed}",
        m.board,
        m.arch,
        m.version,
        m.build,
        m.security_version,
        m.min_build,
        m.payload_size,
        m.chunks.len(),
        hex::encode(m.payload_sha256)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_bundle_sign_verify_and_every_tampering_refused() {
        let dir = std::env::temp_dir().join(format!("vigil-update-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (sk, pk) = keygen(&dir.join("release")).unwrap();
        assert!(keygen(&dir.join("release")).unwrap_err().to_string().contains("not overwritten"));
        let (_, other_pk) = keygen(&dir.join("other")).unwrap();
        let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let m = Manifest::of_payload("qemu-x86_64", "x86_64", 2, "0.2.0", 1, 0, &payload);
        let path = dir.join("b.vub");
        std::fs::write(&path, unsigned(&m, &payload)).unwrap();
        let keys = vec![public_key(&pk).unwrap()];
        let e = verify(&std::fs::read(&path).unwrap(), &keys).unwrap_err();
        assert_eq!(e.to_string(), "the bundle is not signed");
        sign(&path, &sk).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(verify(&bytes, &keys).unwrap(), m);
        assert!(
            describe(&parse(&bytes).unwrap())
                .contains("signed           yes (vigil 0.2.0 build 2 (x86_64) for qemu-x86_64)")
        );
        // Another key; a changed payload byte; a cut file.
        let e = verify(&bytes, &[public_key(&other_pk).unwrap()]).unwrap_err();
        assert!(e.to_string().starts_with("signed with a key this firmware does not trust"), "{e}");
        let mut t = bytes.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert!(verify(&t, &keys).unwrap_err().to_string().starts_with("chunk 2 "));
        let e = verify(&bytes[..bytes.len() - 10], &keys).unwrap_err();
        assert_eq!(e.to_string(), "the payload is 2999990 bytes; the manifest says 3000000");
        // A changed manifest (build 2 -> 3) no longer matches the signature.
        let p = parse(&bytes).unwrap();
        let mut m3 = p.manifest.clone();
        m3.build = 3;
        let forged = bundle::assemble(&m3.encode(), p.signature, p.payload);
        assert_eq!(
            verify(&forged, &keys).unwrap_err().to_string(),
            "the signature does not match the manifest: the bundle was changed or signed by another key"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Debian's `minisign` tool verifies what `sign` makes, and a manifest
    /// it signs verifies here: the same format, not a look-alike.
    #[test]
    fn the_minisign_tool_and_vigil_agree() {
        let have =
            std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("minisign").is_file()));
        if !have {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "minisign is missing: ci/setup installs it");
            return eprintln!("skipped: no minisign tool");
        }
        let dir = std::env::temp_dir().join(format!("vigil-minisign-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (sk, pk) = keygen(&dir.join("k")).unwrap();
        let payload = vec![7u8; 5000];
        let m = Manifest::of_payload("qemu-aarch64", "aarch64", 9, "0.9.0", 0, 0, &payload);
        let path = dir.join("b.vub");
        std::fs::write(&path, unsigned(&m, &payload)).unwrap();
        sign(&path, &sk).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let p = parse(&bytes).unwrap();
        std::fs::write(dir.join("manifest"), p.manifest_bytes).unwrap();
        std::fs::write(dir.join("ours.minisig"), p.signature).unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("minisign")
                .args(args)
                .current_dir(&dir)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            assert!(out.status.success(), "minisign {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&["-V", "-p", "k.pub", "-m", "manifest", "-x", "ours.minisig"]);
        run(&["-S", "-s", "k.key", "-m", "manifest", "-x", "theirs.minisig", "-t", "signed by the tool"]);
        let theirs = std::fs::read(dir.join("theirs.minisig")).unwrap();
        let b = bundle::assemble(p.manifest_bytes, &theirs, p.payload);
        assert_eq!(verify(&b, &[public_key(&pk).unwrap()]).unwrap(), m);
        assert!(describe(&parse(&b).unwrap()).contains("yes (signed by the tool)"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
