//! Health checking for vigil's virtual servers, in keepalived's terms.
//!
//! - [`timer`]: one checker of one real server: when to probe next
//!   (`delay_loop`, `delay_before_retry`, `warmup`) and when a run of
//!   results makes it go down (`retry` failures in a row) or up (one
//!   success). Pure, with an explicit clock.
//! - [`pool`]: one virtual server: which real servers are in the IPVS pool
//!   and with what weight (down ones removed, or weight 0 with
//!   `inhibit_on_failure`), quorum with hysteresis, the sorry server.
//! - [`probe`] (and [`ping`], [`dns`]): the checks themselves, on real sockets.

pub mod dns;
pub mod ping;
pub mod pool;
pub mod probe;
pub mod timer;
pub mod tls;
