//! vigil-image: the host side of vigil.
//!
//! It reads board definitions, fetches and unpacks the pinned Debian kernel,
//! resolves the kernel modules a board needs, builds a reproducible initramfs
//! around the static firmware, and runs QEMU nodes, alone or as a cluster on
//! a virtual Ethernet switch that tests can steer.

pub mod apt;
pub mod boards;
pub mod build;
pub mod channel;
pub mod config_tool;
pub mod disk;
pub mod elf;
pub mod flash;
pub mod initramfs;
pub mod kernel;
pub mod modinfo;
pub mod modules;
pub mod node;
pub mod paths;
pub mod qemu;
pub mod qmp;
pub mod switch;
pub mod update;

pub use boards::load_board;
pub use build::{Image, build_image};
pub use node::{Node, NodeSpec};
pub use switch::Switch;
