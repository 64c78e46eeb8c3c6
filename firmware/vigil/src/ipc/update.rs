//! The updater's messages: PID 1 to the updater ([`Command`]) and back
//! ([`Report`]), and what the updater works for ([`Facts`]).

use serde::{Deserialize, Serialize};

/// PID 1 to the updater.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// What the updater works for (sent at each start, and again when the
    /// slot on trial is kept).
    Facts(Facts),
    /// Install from an http(s) URL, or (`file`) from the descriptor that
    /// comes with this message.
    Install { source: String, file: bool },
    /// Whether PID 1 put the written slot on trial.
    TrialStarted(Result<(), String>),
    /// Ask the channel now (`update check`).
    Check,
}

/// The updater to PID 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Report {
    /// The slot is written and reads back whole: PID 1 checks it and puts
    /// it on trial. `head`: the bundle's header, manifest and signature.
    Ready { head: Vec<u8>, slot: u8 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Facts {
    pub board: String,
    pub arch: String,
    pub release: Option<(u64, String)>,
    /// Trusted public keys (minisign's base64 lines).
    pub keys: Vec<String>,
    /// The slot to write (0 = a, 1 = b) and its size, or why there is none.
    pub target: Result<(u8, u64), String>,
    /// The booted slot and how the bootloader chose it.
    pub booted: Option<(u8, Booted)>,
    /// The slot whose trial failed, when this boot is its rollback, and why.
    pub failed: Option<(u8, String)>,
    /// The booted slot is the good slot (a trial was kept).
    pub kept: bool,
    /// The clock was set from a time server (a channel's expiry is checked
    /// only then).
    pub clock_synced: bool,
}

impl Facts {
    /// This device as the bundle checks see it, with what the state
    /// partition knows (PID 1, which does not read it, passes none).
    pub fn device(&self, slot_size: u64, security_floor: u32, rolled_back: Vec<u64>) -> vigil_update::Device {
        vigil_update::Device {
            board: self.board.clone(),
            arch: self.arch.clone(),
            build: self.release.as_ref().map_or(0, |r| r.0),
            security_floor,
            slot_size,
            rolled_back,
        }
    }

    /// The keys the image trusts, and the config's extra one.
    pub fn trusted(&self, config: &vigil_config::Config) -> Vec<String> {
        let mut keys = self.keys.clone();
        keys.extend(config.global.updates.key.as_ref().map(|k| k.to_string()));
        keys
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Booted {
    Good,
    Trial,
    Rollback,
}
