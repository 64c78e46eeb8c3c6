//! The updater's state partition: two records in turn (`vigil_update::state`).

use std::fs::File;
use std::os::unix::fs::FileExt;
use tracing::warn;
use vigil_update::state::{self, State};

/// The state partition: two records in turn.
pub struct Store {
    file: File,
    pub state: State,
    seq: u64,
    next: usize,
}

impl Store {
    pub fn open(file: File) -> Store {
        let mut recs = [vec![0u8; state::RECORD], vec![0u8; state::RECORD]];
        for (i, r) in recs.iter_mut().enumerate() {
            if let Err(e) = file.read_exact_at(r, (i * state::RECORD) as u64) {
                warn!("update: reading state record {i}: {e}");
            }
        }
        let (state, seq, next) = state::read([&recs[0], &recs[1]]);
        Store { file, state, seq, next }
    }

    /// Writes the state into the older record and syncs it.
    pub fn save(&mut self) -> Result<(), String> {
        let bytes = state::encode(&self.state, self.seq + 1).map_err(|e| e.to_string())?;
        self.file
            .write_all_at(&bytes, (self.next * state::RECORD) as u64)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| format!("writing the update state: {e}"))?;
        self.seq += 1;
        self.next = 1 - self.next;
        Ok(())
    }
}
