//! Installing a bundle into the inactive slot, sans-IO (quinn's shape):
//! the I/O layer asks [`Install::poll_action`] what to do (fetch bundle
//! bytes from an offset, write verified bytes into the slot, read the slot
//! back, start the trial) and reports back (`handle_*`). Nothing here
//! touches a file, a socket or a clock, so every path is tested as a
//! sequence of events.
//!
//! The order is the safety: the header, manifest and signature are fetched
//! first and checked (signature, then what the device admits) before one
//! payload byte is asked for; each chunk is checked before it is written;
//! the slot is read back and hashed whole; only then the trial starts. A
//! failure at any step leaves the running slot and the boot environment as
//! they were.

use crate::bundle::{Error, Header, MAX_MANIFEST, MAX_SIGNATURE};
use crate::{Chunks, Device, Manifest, Refusal};
use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Read the bundle from byte `from`: `len` bytes, or to its end (a file
    /// read, or an HTTP Range request).
    Fetch { from: u64, len: Option<u64> },
    /// Write these verified bytes at `offset` of the inactive slot.
    Write { offset: u64, bytes: Vec<u8> },
    /// Read back the slot's first `len` bytes; hand their SHA-256 to
    /// [`Install::handle_rehash`].
    Rehash { len: u64 },
    /// The payload is in the slot and whole: put it on trial.
    StartTrial,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Bundle(#[from] Error),
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error("the slot read back does not hash to the payload's SHA-256: the write did not hold")]
    ReadBack,
    #[error("{0} when no install asked for it")]
    Unexpected(&'static str),
}

enum Stage {
    /// Gathering the header, manifest and signature.
    Head {
        buf: Vec<u8>,
        need: u64,
    },
    Payload {
        chunks: Chunks,
    },
    ReadBack(Manifest),
    Trial(Manifest),
    Done(Manifest),
    Failed,
}

/// One install of one bundle into the inactive slot.
pub struct Install {
    device: Device,
    keys: Vec<String>,
    stage: Stage,
    actions: VecDeque<Action>,
    /// The bundle's head once checked (kept with a cut install, to resume).
    head: Option<Vec<u8>>,
}

impl Install {
    /// A new install: the first thing it asks for is the header.
    pub fn new(device: Device, keys: Vec<String>) -> Install {
        let need = Header::SIZE as u64;
        Install {
            device,
            keys,
            stage: Stage::Head { buf: Vec::new(), need },
            actions: VecDeque::from([Action::Fetch { from: 0, len: Some(need) }]),
            head: None,
        }
    }

    /// An install cut after `chunks_written` chunks were written (kept in
    /// the state partition): `head` is the bundle's head as fetched then;
    /// it is checked again (the keys or the device may have changed), and
    /// the fetch resumes at the first chunk not written.
    pub fn resume(device: Device, keys: Vec<String>, head: &[u8], chunks_written: usize) -> Result<Install, Failure> {
        let mut i = Install { device, keys, stage: Stage::Failed, actions: VecDeque::new(), head: None };
        let (header, manifest) = i.check_head(head)?;
        i.head = Some(head.to_vec());
        let chunks = Chunks::resume(&manifest, chunks_written);
        let from = header.head_len() + chunks.received();
        i.stage = Stage::Payload { chunks };
        i.actions.push_back(Action::Fetch { from, len: None });
        i.finish_if_whole()?;
        Ok(i)
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The manifest, once the head has been checked.
    pub fn manifest(&self) -> Option<&Manifest> {
        match &self.stage {
            Stage::Payload { chunks, .. } => Some(chunks.manifest()),
            Stage::ReadBack(m) | Stage::Trial(m) | Stage::Done(m) => Some(m),
            Stage::Head { .. } | Stage::Failed => None,
        }
    }

    /// Payload bytes written so far, and the payload's size.
    pub fn progress(&self) -> (u64, u64) {
        match &self.stage {
            Stage::Payload { chunks, .. } => (chunks.verified(), chunks.manifest().payload_size),
            Stage::ReadBack(m) | Stage::Trial(m) | Stage::Done(m) => (m.payload_size, m.payload_size),
            Stage::Head { .. } | Stage::Failed => (0, 0),
        }
    }

    /// The bundle's header, manifest and signature, once checked.
    pub fn head(&self) -> Option<&[u8]> {
        self.head.as_deref()
    }

    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done(_))
    }

    /// Bytes of the bundle, continuing the last fetch. Returns how many
    /// were taken: fewer than given when the rest is not wanted yet (the
    /// next action says what is).
    pub fn handle_data(&mut self, data: &[u8]) -> Result<usize, Failure> {
        let r = self.data(data);
        if r.is_err() {
            self.fail();
        }
        r
    }

    fn data(&mut self, data: &[u8]) -> Result<usize, Failure> {
        match &mut self.stage {
            Stage::Head { buf, need } => {
                let take = (*need as usize - buf.len()).min(data.len());
                buf.extend_from_slice(&data[..take]);
                if buf.len() as u64 == *need {
                    let head = std::mem::take(buf);
                    if head.len() == Header::SIZE {
                        let h = Header::parse(&head)?;
                        self.stage = Stage::Head { need: h.head_len(), buf: head };
                        self.actions.push_back(Action::Fetch {
                            from: Header::SIZE as u64,
                            len: Some(h.head_len() - Header::SIZE as u64),
                        });
                    } else {
                        let (header, manifest) = self.check_head(&head)?;
                        self.head = Some(head);
                        self.stage = Stage::Payload { chunks: Chunks::new(&manifest) };
                        self.actions.push_back(Action::Fetch { from: header.head_len(), len: None });
                        self.finish_if_whole()?;
                    }
                }
                Ok(take)
            }
            Stage::Payload { chunks, .. } => {
                let room = (chunks.manifest().payload_size - chunks.received()) as usize;
                let take = room.min(data.len());
                let actions = &mut self.actions;
                chunks.push(&data[..take], |offset, bytes| {
                    actions.push_back(Action::Write { offset, bytes: bytes.to_vec() })
                })?;
                self.finish_if_whole()?;
                Ok(take)
            }
            _ => Err(Failure::Unexpected("bundle bytes")),
        }
    }

    /// The source ended (end of file, or the server closed): an install
    /// still wanting bytes has a truncated bundle.
    pub fn handle_end(&mut self) -> Result<(), Failure> {
        let err = match &self.stage {
            Stage::Head { buf, need } => Some(Error::PayloadSize { have: buf.len() as u64, want: *need }),
            Stage::Payload { chunks, .. } => {
                Some(Error::PayloadSize { have: chunks.received(), want: chunks.manifest().payload_size })
            }
            _ => None,
        };
        match err {
            Some(e) => {
                self.fail();
                Err(e.into())
            }
            None => Ok(()),
        }
    }

    /// The slot's first `payload_size` bytes, read back and hashed.
    pub fn handle_rehash(&mut self, sha256: [u8; 32]) -> Result<(), Failure> {
        let Stage::ReadBack(m) = &self.stage else { return Err(Failure::Unexpected("a read-back")) };
        if sha256 != m.payload_sha256 {
            self.fail();
            return Err(Failure::ReadBack);
        }
        self.stage = Stage::Trial(m.clone());
        self.actions.push_back(Action::StartTrial);
        Ok(())
    }

    /// The boot environment now has the slot on trial (written and read back).
    pub fn handle_trial_started(&mut self) -> Result<(), Failure> {
        let Stage::Trial(m) = &self.stage else { return Err(Failure::Unexpected("a trial")) };
        self.stage = Stage::Done(m.clone());
        Ok(())
    }

    fn fail(&mut self) {
        self.stage = Stage::Failed;
        self.actions.clear();
    }

    /// The head, checked: its parts, the signature, then the device's rules.
    fn check_head(&self, head: &[u8]) -> Result<(Header, Manifest), Failure> {
        let header = Header::parse(head)?;
        debug_assert!(header.head_len() <= Header::SIZE as u64 + u64::from(MAX_MANIFEST) + u64::from(MAX_SIGNATURE));
        let (mb, sb) =
            header.parts(head).ok_or(Error::PayloadSize { have: head.len() as u64, want: header.head_len() })?;
        let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        crate::verify(mb, sb, &keys)?;
        let manifest = Manifest::decode(mb)?;
        manifest.admit(&self.device)?;
        Ok((header, manifest))
    }

    /// Every payload byte came: check the size (and hash) and read back.
    fn finish_if_whole(&mut self) -> Result<(), Failure> {
        let Stage::Payload { chunks, .. } = &self.stage else { return Ok(()) };
        if chunks.received() < chunks.manifest().payload_size {
            return Ok(());
        }
        let Stage::Payload { chunks, .. } = std::mem::replace(&mut self.stage, Stage::Failed) else { return Ok(()) };
        let m = chunks.manifest().clone();
        chunks.finish()?;
        // A fetch still queued for a payload that is all here is moot.
        self.actions.retain(|a| !matches!(a, Action::Fetch { .. }));
        self.actions.push_back(Action::Rehash { len: m.payload_size });
        self.stage = Stage::ReadBack(m);
        Ok(())
    }
}
