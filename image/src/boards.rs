//! Reading `board/<name>.toml`.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use vigil_board::Board;

/// The file of a board given by name (in `board/`) or by path.
pub fn board_path(name_or_path: &str) -> PathBuf {
    if name_or_path.ends_with(".toml") || name_or_path.contains('/') {
        Path::new(name_or_path).to_path_buf()
    } else {
        crate::paths::boards_dir().join(format!("{name_or_path}.toml"))
    }
}

/// Loads and validates a board by name (from `board/`) or by path.
pub fn load_board(name_or_path: &str) -> Result<Board> {
    let path = board_path(name_or_path);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("board {name_or_path:?}: cannot read {} (boards: {})", path.display(), list_boards().join(", "))
    })?;
    let board: Board = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    if let Err(errs) = board.validate() {
        let lines: Vec<String> = errs.iter().map(|e| format!("  {e}")).collect();
        bail!("{}: invalid board definition:\n{}", path.display(), lines.join("\n"));
    }
    Ok(board)
}

/// Names of the boards in `board/`.
pub fn list_boards() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(crate::paths::boards_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".toml").map(str::to_string))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_shipped_board_loads() {
        let names = super::list_boards();
        assert!(names.contains(&"qemu-x86_64".to_string()), "{names:?}");
        assert!(names.contains(&"qemu-aarch64".to_string()), "{names:?}");
        for n in names {
            super::load_board(&n).unwrap();
        }
    }

    #[test]
    fn an_unknown_board_names_the_known_ones() {
        let e = format!("{:#}", super::load_board("nope").unwrap_err());
        assert!(e.contains("qemu-x86_64"), "{e}");
    }
}
