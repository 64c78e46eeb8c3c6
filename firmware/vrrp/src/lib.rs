//! VRRP for vigil: the wire format ([`wire`]) and the per-instance state
//! machine ([`instance`]), both free of I/O: the firmware's thin layer owns
//! the sockets, the addresses and the clock.

pub mod instance;
pub mod pace;
pub mod process;
pub mod router;
pub mod script;
pub mod sync;
pub mod wire;
