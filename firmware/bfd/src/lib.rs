//! Bidirectional Forwarding Detection, sans-IO.
//!
//! [`wire`] is the control packet (RFC 5880 section 4.1) over a byte
//! buffer, with a parsed [`wire::Repr`]; [`session`] is one session's state
//! machine (section 6.8), driven by packets and an explicit clock, in the
//! quinn-proto shape: `handle_packet(now, ..)`, `handle_timeout(now)`,
//! `poll_transmit(now)`, `poll_timeout()`, `poll_event()`. The sockets
//! (UDP 3784 single hop with TTL 255, 4784 multihop) are the caller's.

pub mod session;
pub mod table;
pub mod wire;

pub use session::{Dropped, Event, Session, Settings};
pub use table::{Farewell, Peer, Refused, Table};
pub use wire::{Diag, Repr, State};

/// UDP port of single-hop control packets (RFC 5881).
pub const PORT_SINGLE_HOP: u16 = 3784;
/// UDP port of multihop control packets (RFC 5883).
pub const PORT_MULTIHOP: u16 = 4784;
/// Source ports are taken from 49152-65535 (RFC 5881 section 4).
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
