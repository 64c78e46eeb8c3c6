//! What PID 1 and its children (`vigil child ROLE`) say to each other over
//! their socketpair: the roles, the messages both ways, and their framing
//! (a little-endian length, then postcard). Typed end to end: a VRRP state
//! is a [`VrrpState`], not a string to compare.

pub mod fds;
pub mod update;

use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_config::Config;

/// A supervised daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Vrrp,
    Checkers,
    /// Downloads and writes update bundles (the `update` module).
    Updater,
    /// The `bfd_instance` sessions (the `bfd` module).
    Bfd,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Vrrp => "vrrp",
            Role::Checkers => "checkers",
            Role::Updater => "updater",
            Role::Bfd => "bfd",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Vrrp, Role::Checkers, Role::Updater, Role::Bfd].into_iter().find(|r| r.name() == s)
    }
}

/// PID 1 to the child.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Down {
    /// The config to run. `generation` tags the checkers' health reports;
    /// `resume`: the health a checkers child that died last reported for
    /// this generation, so that its successor starts from the same verdicts.
    Config {
        config: Arc<Config>,
        generation: u64,
        resume: Option<Health>,
    },
    Ping(u64),
    /// Stop (the VRRP child resigns with priority 0 first); answered with `Stopped`.
    Shutdown,
    /// To the updater.
    Update(update::Command),
    /// To the VRRP child: masters resign and stay down (before a reboot
    /// into an update); answered with `HandedOver` within `wait_ms`.
    Handover {
        wait_ms: u32,
    },
    /// To the VRRP child and the checkers: each BFD session's name and
    /// whether it is up (all of them, each time one changes).
    Bfd(Vec<(String, bool)>),
}

/// The child to PID 1.
#[derive(Debug, Serialize, Deserialize)]
pub enum Up {
    Pong(u64),
    /// What `show vrrp` / `show checkers` / ... say, and the metrics.
    Status(crate::report::Report),
    /// The VRRP instances' states.
    States(Vec<(String, VrrpState)>),
    /// What the checkers say the pools should be.
    Health(Health),
    /// Log lines, formatted (PID 1 prints them).
    Log(String),
    Stopped,
    /// From the updater.
    Update(update::Report),
    /// From the VRRP child: each instance that resigned, and whether a
    /// backup took over.
    HandedOver(Vec<(String, bool)>),
    /// From the BFD child: each session's name and whether it is up.
    Bfd(Vec<(String, bool)>),
}

/// What a child gets besides its socket: file descriptors PID 1 opens for
/// it (the updater: the inactive slot and the state partition, never the
/// whole disk), sent over a second socketpair (the child's stdout) with
/// SCM_RIGHTS each time it starts.
pub type Grant = Arc<dyn Fn() -> Result<Vec<OwnedFd>, String> + Send + Sync>;

/// A VRRP instance's state, as the VRRP child reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VrrpState {
    #[default]
    Init,
    Backup,
    Master,
    Fault,
}

impl From<vigil_vrrp::instance::State> for VrrpState {
    fn from(s: vigil_vrrp::instance::State) -> VrrpState {
        use vigil_vrrp::instance::State;
        match s {
            State::Initialize => VrrpState::Init,
            State::Backup => VrrpState::Backup,
            State::Master => VrrpState::Master,
            State::Fault => VrrpState::Fault,
        }
    }
}

impl std::fmt::Display for VrrpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VrrpState::Init => "INIT",
            VrrpState::Backup => "BACKUP",
            VrrpState::Master => "MASTER",
            VrrpState::Fault => "FAULT",
        })
    }
}

/// What the health checkers say the pools should be, for the config of
/// `generation`: per (virtual server, real server) index, the weight to
/// give it, or None to keep it out; and the virtual servers whose sorry
/// server joins (quorum lost).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Health {
    pub generation: u64,
    /// The real servers (virtual server, real server) whose weight in the
    /// pool is not the configured one: another weight, or None (out of
    /// it). Those in the pool at their configured weight are not listed:
    /// the table builds them so unsaid, and with every one listed the map
    /// was 1.8 MB at issue #2318's shape, held in several copies.
    pub weights: std::collections::BTreeMap<(usize, usize), Option<u32>>,
    pub sorry: std::collections::BTreeSet<usize>,
    /// The real servers whose checkers say DOWN (a restarted checkers
    /// child starts from these verdicts).
    pub down: std::collections::BTreeSet<(usize, usize)>,
    /// The virtual servers without their quorum.
    pub quorum_lost: std::collections::BTreeSet<usize>,
}

/// Messages over 64 MiB are refused (a config is at most 4 MiB).
const MAX_MESSAGE: usize = 64 << 20;

pub async fn send<T: Serialize>(s: &mut (impl AsyncWriteExt + Unpin), m: &T) -> std::io::Result<()> {
    let body = postcard::to_allocvec(m).map_err(std::io::Error::other)?;
    s.write_all(&(body.len() as u32).to_le_bytes()).await?;
    s.write_all(&body).await
}

pub async fn recv<T: for<'a> Deserialize<'a>>(s: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(std::io::Error::other(format!("a message of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await?;
    postcard::from_bytes(&body).map_err(|e| std::io::Error::other(format!("a bad message: {e}")))
}

/// Reads messages whole on their own task and hands them over a channel
/// (a read cut short by another branch of a select would lose bytes
/// mid-message); the channel ends after the first error.
pub fn spawn_reader<T: for<'a> Deserialize<'a> + Send + 'static>(
    mut rd: tokio::net::unix::OwnedReadHalf,
) -> (tokio::sync::mpsc::UnboundedReceiver<std::io::Result<T>>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let m: std::io::Result<T> = recv(&mut rd).await;
            let end = m.is_err();
            if tx.send(m).is_err() || end {
                return;
            }
        }
    });
    (rx, task)
}
