//! Where things live: the source tree, the output directory and the cache
//! (kernels are large and shared between checkouts, so they are cached
//! outside the tree).

use std::path::PathBuf;

/// The workspace root: `$VIGIL_ROOT`, or the directory this crate was built in.
pub fn root() -> PathBuf {
    match std::env::var_os("VIGIL_ROOT") {
        Some(p) => PathBuf::from(p),
        None => {
            let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            manifest.parent().map(PathBuf::from).unwrap_or(manifest)
        }
    }
}

/// Board definitions: `<root>/board`.
pub fn boards_dir() -> PathBuf {
    root().join("board")
}

/// Files copied into every image: `<root>/rootfs`.
pub fn rootfs_dir() -> PathBuf {
    root().join("rootfs")
}

/// Cargo's target directory (`$CARGO_TARGET_DIR` or `<root>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// Built images and run directories: `<target>/vigil`.
pub fn out_dir() -> PathBuf {
    target_dir().join("vigil")
}

/// `$VIGIL_CACHE`, else `$XDG_CACHE_HOME/vigil`, else `~/.cache/vigil`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("VIGIL_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("vigil");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache").join("vigil")
}
