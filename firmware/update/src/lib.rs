//! Signed update bundles, sans-IO: the file format ([`bundle`]), what a
//! device admits ([`Manifest::admit`]), the signature ([`verify`]), and
//! the check of each chunk before it is written ([`Chunks`]).
//!
//! A bundle is one file per board and build:
//!
//! ```text
//! magic "VIGILUPD" | format u16 | manifest length u32 | signature length u32   (18 bytes, little-endian)
//! manifest (postcard)                                                             (at most 64 KiB)
//! signature (minisign's text form, over the manifest's bytes)                    (at most 4 KiB)
//! payload (the slot's file system, cut after its last used byte)
//! ```
//!
//! The signature covers the manifest; the manifest holds the payload's
//! SHA-256 and one per 1 MiB chunk, so a device checks everything it is
//! about to write before it writes it, and refuses a bundle (wrong board,
//! older build, bad signature ...) before it fetches a payload byte.

pub mod bundle;
pub mod channel;
pub mod install;
mod manifest;
pub mod release;
pub mod state;
pub mod window;

pub use bundle::{Error, Header};
pub use install::{Action, Failure, Install};
pub use manifest::{Chunks, Device, Manifest, Refusal, verify};

/// The payload is checked in chunks of this size (the last may be shorter).
pub const CHUNK: usize = 1 << 20;
