//! The part of a board the firmware reads at boot, resolved by the image tool
//! and stored in the initramfs at [`RUNTIME_PATH`].
//!
//! Encoding: the magic `VGLB`, a little-endian u16 format version, then the
//! postcard encoding of [`Runtime`]. A newer version is refused with a clear
//! error rather than misread.

use crate::{Arch, Flash, Watchdog};
use serde::{Deserialize, Serialize};

pub const RUNTIME_PATH: &str = "/etc/vigil/board";
const MAGIC: &[u8; 4] = b"VGLB";
const VERSION: u16 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runtime {
    pub board: String,
    pub arch: Arch,
    pub hostname: String,
    pub kernel_release: String,
    /// Modules in load order: every dependency comes before its users.
    pub modules: Vec<ModuleLoad>,
    /// How many of `modules` (from the start) to load before the daemons
    /// start: the board's `modules.first` and their dependencies.
    pub first: usize,
    /// Modules loaded only when needed: each with its load order
    /// (dependencies first, the module itself last).
    pub on_demand: Vec<OnDemand>,
    pub console: String,
    pub nics: Vec<String>,
    pub watchdog: Option<Watchdog>,
    pub flash: Option<Flash>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleLoad {
    pub name: String,
    /// Absolute path of the `.ko` in the initramfs.
    pub path: String,
    /// Parameters passed to `finit_module`, e.g. `soft_margin=10`.
    pub params: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnDemand {
    pub name: String,
    pub chain: Vec<ModuleLoad>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error("not a vigil board file (magic {0:02x?}, expected \"VGLB\")")]
    BadMagic(Vec<u8>),
    #[error("board file format version {found} is newer than this firmware understands ({VERSION})")]
    TooNew { found: u16 },
    #[error("board file is truncated or corrupt: {0}")]
    Corrupt(String),
}

impl Runtime {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        // Encoding plain owned data into a Vec cannot fail.
        let body = postcard::to_allocvec(self).unwrap_or_default();
        out.extend_from_slice(&body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Runtime, RuntimeError> {
        if bytes.len() < 6 || &bytes[..4] != MAGIC {
            return Err(RuntimeError::BadMagic(bytes.iter().take(4).copied().collect()));
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version > VERSION {
            return Err(RuntimeError::TooNew { found: version });
        }
        match postcard::take_from_bytes::<Runtime>(&bytes[6..]) {
            Ok((rt, [])) => Ok(rt),
            Ok((_, rest)) => Err(RuntimeError::Corrupt(format!("{} trailing bytes", rest.len()))),
            Err(e) => Err(RuntimeError::Corrupt(e.to_string())),
        }
    }
}
