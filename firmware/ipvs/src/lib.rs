//! Linux IPVS (the kernel's layer-4 load balancer) for vigil.
//!
//! - [`table`]: virtual services and their destinations as values;
//! - [`reconcile`]: the smallest set of changes from what the kernel holds
//!   to what is wanted (pure; no sockets);
//! - [`genl`]: the `IPVS` generic netlink family's attributes, encoded and
//!   decoded with `neli`;
//! - [`client`]: the thin I/O layer: a generic netlink socket to the kernel.

pub mod client;
pub mod genl;
pub mod reconcile;
pub mod table;

pub use client::{Client, Error};
pub use reconcile::{Op, Owned, plan, plan_removals, plan_service};
pub use table::{Counters, Dest, DestKey, Dests, Forward, Proto, Service, ServiceKey, Table, TunnelType};
