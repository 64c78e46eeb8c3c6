//! What vigil reads and writes in the bootloader's environment, sans-IO:
//! the formats ([`grub`], [`uboot`]) and the A/B boot state kept in them
//! ([`ab`]). The I/O (where the blocks live on the disk, writing them in
//! place and reading them back) is the caller's.

pub mod ab;
pub mod esp;
pub mod gate;
pub mod grub;
pub mod note;
pub mod uboot;
