//! SNTP for vigil (RFC 4330; the client side of RFC 5905).
//!
//! - [`packet`]: the 48-byte NTP header as a wrapper over bytes plus a
//!   parsed [`packet::Repr`], and NTP timestamps;
//! - [`sample`]: what a reply says (offset, delay), after the checks that
//!   throw out falsetickers (kiss-o'-death, stratum 0 or above 15, leap
//!   unsynchronised, zero transmit time, an origin that is not ours);
//! - [`decide`]: the best of several servers, and step or slew;
//! - [`query`]: the one blocking I/O function: ask one server over UDP.

pub mod decide;
pub mod packet;
pub mod query;
pub mod sample;
