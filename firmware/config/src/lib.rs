//! vigil's configuration.
//!
//! - [`model`]: the typed, bounded tree for everything vigil runs.
//! - [`validate`]: every problem, each named by its path.
//! - [`blob`]: the checksummed, versioned postcard encoding.
//! - [`store`]: the slot ring on flash that survives a power cut at any byte.

pub mod blob;
pub mod bounded;
pub mod command;
pub mod keepalived;
pub mod model;
pub mod store;
pub mod validate;

pub use bounded::Bounded;
pub use model::*;
pub use validate::ConfigError;
