//! Config on the host: compile keepalived.conf (or vigil's text form) into
//! the flash blob, show a blob as text, diff two configs, and install a
//! config into a board's flash image.

use anyhow::{Context, Result, bail};
use std::path::Path;
use vigil_board::Board;
use vigil_config::Config;
use vigil_config::blob;
use vigil_config::keepalived::{Flavor, export, import_file};
use vigil_config::store::{FileFlash, Store};

/// Reads a config from a blob file or from keepalived.conf text; prints
/// unsupported keywords as warnings and fails on errors.
pub fn read(path: &Path) -> Result<Config> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(&blob::MAGIC) {
        let d = blob::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok(d.config);
    }
    let name = path.to_str().context("path is not UTF-8")?;
    let imported = import_file(name).map_err(|e| anyhow::anyhow!("{e}"))?;
    for d in imported.warnings() {
        eprintln!("{d}");
    }
    let errors: Vec<String> = imported.errors().map(|d| d.to_string()).collect();
    if !errors.is_empty() {
        bail!("{} error(s):\n{}", errors.len(), errors.join("\n"));
    }
    // What validation finds, at the places it is about.
    let problems: Vec<String> = imported.problems().iter().map(|d| d.to_string()).collect();
    if !problems.is_empty() {
        bail!("the config is invalid:\n{}", problems.join("\n"));
    }
    Ok(imported.config)
}

fn validated(c: Config) -> Result<Config> {
    if let Err(errs) = c.validate() {
        let lines: Vec<String> = errs.iter().map(|e| format!("  {e}")).collect();
        bail!("the config is invalid:\n{}", lines.join("\n"));
    }
    Ok(c)
}

/// keepalived.conf → blob (generation 1, confirmed).
pub fn compile(input: &Path, output: &Path) -> Result<usize> {
    let c = validated(read(input)?)?;
    let bytes = blob::encode(&c, 1, 0).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    Ok(bytes.len())
}

pub fn show(input: &Path, flavor: Flavor) -> Result<String> {
    Ok(export(&read(input)?, flavor))
}

/// A line diff of two configs (each a blob or text), `-` first, `+` second.
pub fn diff(a: &Path, b: &Path) -> Result<String> {
    let (a, b) = (read(a)?, read(b)?);
    Ok(vigil_shell::diff::diff(&export(&a, Flavor::Vigil), &export(&b, Flavor::Vigil), 3))
}

/// Commits a config into the config partition of a board's flash image,
/// creating the image (sparse) if it does not exist. Returns the generation.
pub fn install(board: &Board, flash_image: &Path, input: &Path) -> Result<u64> {
    let c = validated(read(input)?)?;
    let flash = board.flash.as_ref().with_context(|| format!("board {} has no flash", board.name))?;
    let part = flash
        .partitions
        .iter()
        .find(|p| p.name == "config")
        .with_context(|| format!("board {} has no config partition", board.name))?;
    if !flash_image.exists() {
        let f = std::fs::File::create(flash_image)?;
        f.set_len(flash.size.0)?;
    }
    let slot = (blob::HEADER_LEN + blob::MAX_BODY) as u64;
    let ff = FileFlash::open(flash_image, part.offset.0, part.size.0)?;
    let mut store = Store::new(ff, slot).map_err(|e| anyhow::anyhow!("{e}"))?;
    store.commit(&c, false).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("vigil-config-tool-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join(name)
    }

    const CONF: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n priority 120\n virtual_ipaddress {\n  10.1.1.1/24\n }\n}\n";

    #[test]
    fn compile_show_diff_install() {
        let conf = tmp("a.conf");
        std::fs::write(&conf, CONF).unwrap();
        let blob_path = tmp("a.blob");
        let n = compile(&conf, &blob_path).unwrap();
        assert!(n > 32);
        let text = show(&blob_path, Flavor::Keepalived).unwrap();
        assert!(text.contains("priority 120"), "{text}");
        let conf2 = tmp("b.conf");
        std::fs::write(&conf2, CONF.replace("priority 120", "priority 90")).unwrap();
        let d = diff(&blob_path, &conf2).unwrap();
        assert!(d.contains("-     priority 120") && d.contains("+     priority 90"), "{d}");

        let board = crate::load_board("qemu-x86_64").unwrap();
        let img = tmp("flash.img");
        let _ = std::fs::remove_file(&img);
        assert_eq!(install(&board, &img, &conf).unwrap(), 1);
        assert_eq!(install(&board, &img, &conf2).unwrap(), 2);
        // What the firmware will find at boot.
        let part = &board.flash.as_ref().unwrap().partitions[0];
        let ff = FileFlash::open(&img, part.offset.0, part.size.0).unwrap();
        let mut store = Store::new(ff, (blob::HEADER_LEN + blob::MAX_BODY) as u64).unwrap();
        let loaded = store.load(Config::default());
        assert_eq!(loaded.generation, Some(2));
        assert_eq!(loaded.config.vrrp_instances[0].priority, 90);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let conf = tmp("bad.conf");
        std::fs::write(&conf, CONF.replace("priority 120", "priority 0x")).unwrap();
        let e = format!("{:#}", compile(&conf, &tmp("bad.blob")).unwrap_err());
        assert!(e.contains("bad.conf:4:11: error: \"0x\" is not a priority"), "{e}");
        let conf = tmp("invalid.conf");
        std::fs::write(&conf, CONF.replace("priority 120", "priority 0")).unwrap();
        let e = format!("{:#}", compile(&conf, &tmp("invalid.blob")).unwrap_err());
        assert!(e.contains("vrrp_instance VI_1: priority 0 is reserved"), "{e}");
    }
}
