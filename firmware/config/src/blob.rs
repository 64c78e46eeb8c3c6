//! The config as bytes: a 32-byte header, then the postcard encoding of
//! [`Config`].
//!
//! ```text
//!  0  magic "VGLC"          12  generation u64
//!  4  schema u16            20  body CRC-32 u32
//!  6  flags u16             24  reserved (0)
//!  8  body length u32       28  header CRC-32 u32 (of bytes 0..28)
//! ```
//! All little-endian. CRC-32 is the ISO-HDLC one (as zlib's `crc32`).

use crate::model::Config;
use std::fmt;

pub const MAGIC: [u8; 4] = *b"VGLC";
pub const HEADER_LEN: usize = 32;
/// The schema this firmware writes. 2: `global.supervision` (heartbeats);
/// 3: `global.update_confirm_s` (the trial slot's health gate); 4:
/// `global.updates` (the update channel, window, poll interval, extra key);
/// 5: `vrrp_scripts`, `track_script` in instances and sync groups,
/// `global.script_user`, `global.vrrp_strict`, `global.mail`, instances'
/// `skip_check_adv_addr`, `smtp_alert` in instances, sync groups, virtual
/// and real servers; 6: `virtual_server_groups` and `virtual_server group
/// NAME`, virtual servers' `sorry_server_inhibit` and
/// `sorry_server_lvs_method`, real servers' own `alpha`, instances'
/// `dont_track_primary`, `lower_prio_no_advert`, `higher_prio_send_advert`;
/// 7: instances' `down_timer_adverts`, `unicast_ttl`, `mcast_dst_ip`,
/// `unicast_fault_no_peer`, `track_src_ip`, `promote_secondaries`,
/// `notify_master_rx_lower_pri`, `notify_deleted` and three more garp
/// settings; the global `vrrp_startup_delay`, `lvs_flush_on_stop`,
/// `startup_script`, `shutdown_script`, the `SSL` block,
/// `rs_init_notifies`, `no_checker_emails`; virtual servers' `ha_suspend`
/// and `ip_family`; checkers' `bind_if`, `bind_port`, `fwmark`, `alpha`,
/// `log_all_failures`, HTTP's `http_protocol`, `enable_sni` and a url's
/// `regex`; 8: addresses' `scope`, `peer`, `preferred_lft`, flags and
/// `no_track`; routes' protocol, TOS, realms, metrics, `pref`, next hops,
/// `append`, `no_track`; rules' TOS, realms, `goto`, suppressors, uid and
/// port ranges, `ipproto`, `l3mdev`, protocol, `no_track`; `use_vmac`'s
/// name and MAC and `vmac_xmit_base`; FILE_CHECK (a checker kind appended
/// last: older blobs decode unchanged); 9: `bfd_instances`, `track_bfd` in
/// instances and sync groups, BFD_CHECK (appended); 10: the global GARP
/// pace (`vrrp_garp_interval`, `vrrp_gna_interval`), `garp_group`, and the
/// syslog server's transport (TCP); 11: `metrics_listen`; 12: `track_groups`
/// and `static_tracks` (keepalived's static track groups); 13: instances'
/// `use_vmac_addr`, addresses' `use_vmac`, the global `vmac_addr_prefix`;
/// 14: instances' `use_ipvlan`.
pub const SCHEMA: u16 = 14;
/// The largest body any valid config encodes to is below this (a test fills
/// every bound and checks); a slot holds `HEADER_LEN + MAX_BODY`.
pub const MAX_BODY: usize = 4 * 1024 * 1024 - HEADER_LEN;

/// Set while a `commit confirmed` is pending: such a blob is not booted.
pub const FLAG_UNCONFIRMED: u16 = 1;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

pub fn crc32(bytes: &[u8]) -> u32 {
    CRC.checksum(bytes)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub schema: u16,
    pub flags: u16,
    pub length: u32,
    pub generation: u64,
    pub body_crc: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobError {
    /// Erased flash (all 0xff or 0x00) or something that is not a config.
    Empty,
    NotAConfig {
        magic: [u8; 4],
    },
    Truncated {
        have: usize,
        need: usize,
    },
    HeaderCrc,
    TooNew {
        schema: u16,
    },
    TooLong {
        length: u32,
    },
    /// A config too large to encode: how large, and what takes the room
    /// (part, bytes, items), largest first.
    ConfigTooLarge {
        length: usize,
        parts: Vec<(&'static str, usize, usize)>,
    },
    BodyCrc {
        generation: u64,
    },
    Decode {
        generation: u64,
        why: String,
    },
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobError::Empty => f.write_str("empty (erased)"),
            BlobError::NotAConfig { magic } => {
                write!(f, "not a vigil config (starts {magic:02x?})")
            }
            BlobError::Truncated { have, need } => write!(f, "truncated: {have} of {need} bytes"),
            BlobError::HeaderCrc => f.write_str("header checksum mismatch (torn or corrupt write)"),
            BlobError::TooNew { schema } => write!(
                f,
                "written by a newer firmware (config schema {schema}; this firmware reads up to {SCHEMA}); left untouched"
            ),
            BlobError::TooLong { length } => {
                write!(f, "body length {length} exceeds the maximum {MAX_BODY}")
            }
            BlobError::ConfigTooLarge { length, parts } => {
                let kib = |n: usize| n.div_ceil(1024);
                write!(
                    f,
                    "the config encodes to {} KiB, and a flash slot holds {} KiB: cut at least {} KiB",
                    kib(*length),
                    kib(MAX_BODY),
                    kib(length.saturating_sub(MAX_BODY))
                )?;
                let list: Vec<String> = parts
                    .iter()
                    .filter(|p| p.1 > 0)
                    .map(|(name, bytes, n)| match n {
                        0 | 1 => format!("{name} {} KiB", kib(*bytes)),
                        n => format!("{name} {} KiB ({n}, {} bytes each)", kib(*bytes), bytes / n),
                    })
                    .collect();
                write!(f, "; the room goes to: {}", list.join(", "))
            }
            BlobError::BodyCrc { generation } => {
                write!(f, "generation {generation}: body checksum mismatch (torn or corrupt write)")
            }
            BlobError::Decode { generation, why } => {
                write!(f, "generation {generation}: cannot decode: {why}")
            }
        }
    }
}

impl std::error::Error for BlobError {}

impl Header {
    pub fn parse(bytes: &[u8]) -> Result<Header, BlobError> {
        if bytes.len() < HEADER_LEN {
            return Err(BlobError::Truncated { have: bytes.len(), need: HEADER_LEN });
        }
        let h = &bytes[..HEADER_LEN];
        if h.iter().all(|&b| b == 0xff) || h.iter().all(|&b| b == 0) {
            return Err(BlobError::Empty);
        }
        let magic = [h[0], h[1], h[2], h[3]];
        if magic != MAGIC {
            return Err(BlobError::NotAConfig { magic });
        }
        let u16_at = |o: usize| u16::from_le_bytes([h[o], h[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        if crc32(&h[..28]) != u32_at(28) {
            return Err(BlobError::HeaderCrc);
        }
        let mut g = [0u8; 8];
        g.copy_from_slice(&h[12..20]);
        let header = Header {
            schema: u16_at(4),
            flags: u16_at(6),
            length: u32_at(8),
            generation: u64::from_le_bytes(g),
            body_crc: u32_at(20),
        };
        if header.schema > SCHEMA {
            return Err(BlobError::TooNew { schema: header.schema });
        }
        if header.length as usize > MAX_BODY {
            return Err(BlobError::TooLong { length: header.length });
        }
        Ok(header)
    }

    pub fn emit(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC);
        h[4..6].copy_from_slice(&self.schema.to_le_bytes());
        h[6..8].copy_from_slice(&self.flags.to_le_bytes());
        h[8..12].copy_from_slice(&self.length.to_le_bytes());
        h[12..20].copy_from_slice(&self.generation.to_le_bytes());
        h[20..24].copy_from_slice(&self.body_crc.to_le_bytes());
        let c = crc32(&h[..28]);
        h[28..32].copy_from_slice(&c.to_le_bytes());
        h
    }

    /// Blob length, header included.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.length as usize
    }
}

/// A decoded blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub header: Header,
    pub config: Config,
}

/// Encodes a config as a blob of the current schema.
pub fn encode(config: &Config, generation: u64, flags: u16) -> Result<Vec<u8>, BlobError> {
    let body = postcard::to_allocvec(config).map_err(|e| BlobError::Decode { generation, why: e.to_string() })?;
    if body.len() > MAX_BODY {
        return Err(BlobError::ConfigTooLarge { length: body.len(), parts: parts_by_size(config) });
    }
    let header = Header { schema: SCHEMA, flags, length: body.len() as u32, generation, body_crc: crc32(&body) };
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&header.emit());
    out.extend_from_slice(&body);
    Ok(out)
}

/// What each part of a config takes encoded, largest first (for a config
/// that does not fit: the operator needs to know what to cut).
fn parts_by_size(c: &Config) -> Vec<(&'static str, usize, usize)> {
    fn size<T: serde::Serialize>(v: &T) -> usize {
        postcard::to_allocvec(v).map_or(0, |v| v.len())
    }
    let mut parts = vec![
        ("virtual_server", size(&c.virtual_servers), c.virtual_servers.len()),
        ("virtual_server_group", size(&c.virtual_server_groups), c.virtual_server_groups.len()),
        ("vrrp_instance", size(&c.vrrp_instances), c.vrrp_instances.len()),
        ("interface", size(&c.interfaces), c.interfaces.len()),
        ("vrrp_sync_group", size(&c.sync_groups), c.sync_groups.len()),
        ("global_defs", size(&c.global), 1),
    ];
    parts.sort_by_key(|p| std::cmp::Reverse(p.1));
    parts
}

/// Decodes a blob (trailing bytes after the body, such as the rest of a
/// flash slot, are ignored). Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<Decoded, BlobError> {
    let header = Header::parse(bytes)?;
    let need = header.total_len();
    if bytes.len() < need {
        return Err(BlobError::Truncated { have: bytes.len(), need });
    }
    let body = &bytes[HEADER_LEN..need];
    if crc32(body) != header.body_crc {
        return Err(BlobError::BodyCrc { generation: header.generation });
    }
    let config =
        migrate(header.schema, body).map_err(|why| BlobError::Decode { generation: header.generation, why })?;
    Ok(Decoded { header, config })
}

/// Reads a body of any schema this firmware knows into today's model. Each
/// schema change adds an arm that decodes the old layout and converts it.
fn migrate(schema: u16, body: &[u8]) -> Result<Config, String> {
    match schema {
        SCHEMA => postcard::from_bytes::<Config>(body).map_err(|e| e.to_string()),
        13 => postcard::from_bytes::<v13::Config>(body).map(Config::from).map_err(|e| format!("schema 13: {e}")),
        12 => postcard::from_bytes::<v12::Config>(body).map(Config::from).map_err(|e| format!("schema 12: {e}")),
        11 => postcard::from_bytes::<v11::Config>(body)
            .map(v12::Config::from)
            .map(Config::from)
            .map_err(|e| format!("schema 11: {e}")),
        10 => postcard::from_bytes::<v10::Config>(body)
            .map(v12::Config::from)
            .map(Config::from)
            .map_err(|e| format!("schema 10: {e}")),
        9 => postcard::from_bytes::<v9::Config>(body)
            .map(v12::Config::from)
            .map(Config::from)
            .map_err(|e| format!("schema 9: {e}")),
        8 => postcard::from_bytes::<v8::Config>(body)
            .map(v9::Config::from)
            .map(v12::Config::from)
            .map(Config::from)
            .map_err(|e| format!("schema 8: {e}")),
        7 => postcard::from_bytes::<v7::Config>(body)
            .map(v8::Config::from)
            .map(v9::Config::from)
            .map(v12::Config::from)
            .map(Config::from)
            .map_err(|e| format!("schema 7: {e}")),
        6 => postcard::from_bytes::<v6::Config>(body)
            .map(v7::Config::from)
            .map(v8::Config::from)
            .map(v9::Config::from)
            .map(v12::Config::from)
            .map(Config::from)
            .map_err(|e| format!("schema 6: {e}")),
        5 => postcard::from_bytes::<v5::Config>(body)
            .map(v6::Config::from)
            .map(v7::Config::from)
            .map(v8::Config::from)
            .map(v9::Config::from)
            .map(v12::Config::from)
            .map(Config::from)
            .map_err(|e| format!("schema 5: {e}")),
        4 => postcard::from_bytes::<v4::Config>(body)
            .map(v6::Config::from)
            .map(v7::Config::from)
            .map(v8::Config::from)
            .map(v9::Config::from)
            .map(v12::Config::from)
            .map(Config::from)
            .map_err(|e| format!("schema 4: {e}")),
        3 => postcard::from_bytes::<v3::Config>(body)
            .map(v4::Config::from)
            .map(v6::Config::from)
            .map(v7::Config::from)
            .map(v8::Config::from)
            .map(v9::Config::from)
            .map(v12::Config::from)
            .map(Config::from)
            .map_err(|e| format!("schema 3: {e}")),
        2 => postcard::from_bytes::<v2::Config>(body)
            .map(v3::Config::from)
            .map(v4::Config::from)
            .map(v6::Config::from)
            .map(v7::Config::from)
            .map(v8::Config::from)
            .map(v9::Config::from)
            .map(v12::Config::from)
            .map(Config::from)
            .map_err(|e| format!("schema 2: {e}")),
        1 => postcard::from_bytes::<v1::Config>(body)
            .map(v2::Config::from)
            .map(v3::Config::from)
            .map(v4::Config::from)
            .map(v6::Config::from)
            .map(v7::Config::from)
            .map(v8::Config::from)
            .map(v9::Config::from)
            .map(v12::Config::from)
            .map(Config::from)
            .map_err(|e| format!("schema 1: {e}")),
        old => Err(format!("config schema {old} is not one this firmware can read (it reads 1..={SCHEMA})")),
    }
}

/// Schema 1: `Global` had no `supervision` (postcard is not self-describing,
/// so the old layout is spelled out; everything after `global` is as today).
/// It is read as schema 2, then brought up to today's.
pub mod v1 {
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    // The instances and groups as they were before schema 5 (the glob's
    // names are shadowed by these).
    use super::v4::{SyncGroup, VirtualServer, VrrpInstance};
    use crate::model::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Global {
        pub router_id: Name,
        pub hostname: heapless::String<HOSTNAME>,
        pub time_servers: Vec<core::net::IpAddr, TIME_SERVERS>,
        pub syslog: Option<core::net::SocketAddr>,
        pub watchdog: Watchdog,
        pub console_password: Option<PasswordHash>,
        pub enable_script_security: bool,
        pub lvs_flush: bool,
        pub lvs_sync_daemon: Option<LvsSyncDaemon>,
        pub lvs_timeouts: Option<LvsTimeouts>,
    }

    impl From<Config> for super::v2::Config {
        fn from(c: Config) -> super::v2::Config {
            let g = c.global;
            super::v2::Config {
                global: super::v2::Global {
                    router_id: g.router_id,
                    hostname: g.hostname,
                    time_servers: g.time_servers,
                    syslog: g.syslog,
                    watchdog: g.watchdog,
                    console_password: g.console_password,
                    enable_script_security: g.enable_script_security,
                    lvs_flush: g.lvs_flush,
                    lvs_sync_daemon: g.lvs_sync_daemon,
                    lvs_timeouts: g.lvs_timeouts,
                    supervision: Supervision::default(),
                },
                interfaces: c.interfaces,
                vrrp_instances: c.vrrp_instances,
                sync_groups: c.sync_groups,
                virtual_servers: c.virtual_servers,
            }
        }
    }
}

/// Schema 2: `Global` had no `update_confirm_s`.
pub mod v2 {
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    // The instances and groups as they were before schema 5 (the glob's
    // names are shadowed by these).
    use super::v4::{SyncGroup, VirtualServer, VrrpInstance};
    use crate::model::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Global {
        pub router_id: Name,
        pub hostname: heapless::String<HOSTNAME>,
        pub time_servers: Vec<core::net::IpAddr, TIME_SERVERS>,
        pub syslog: Option<core::net::SocketAddr>,
        pub watchdog: Watchdog,
        pub console_password: Option<PasswordHash>,
        pub enable_script_security: bool,
        pub lvs_flush: bool,
        pub lvs_sync_daemon: Option<LvsSyncDaemon>,
        pub lvs_timeouts: Option<LvsTimeouts>,
        pub supervision: Supervision,
    }

    impl From<Config> for super::v3::Config {
        fn from(c: Config) -> super::v3::Config {
            let g = c.global;
            super::v3::Config {
                global: super::v3::Global {
                    router_id: g.router_id,
                    hostname: g.hostname,
                    time_servers: g.time_servers,
                    syslog: g.syslog,
                    watchdog: g.watchdog,
                    console_password: g.console_password,
                    enable_script_security: g.enable_script_security,
                    lvs_flush: g.lvs_flush,
                    lvs_sync_daemon: g.lvs_sync_daemon,
                    lvs_timeouts: g.lvs_timeouts,
                    supervision: g.supervision,
                    update_confirm_s: UPDATE_CONFIRM_S,
                },
                interfaces: c.interfaces,
                vrrp_instances: c.vrrp_instances,
                sync_groups: c.sync_groups,
                virtual_servers: c.virtual_servers,
            }
        }
    }
}

/// Schema 3: `Global` had no `updates`.
pub mod v3 {
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    // The instances and groups as they were before schema 5 (the glob's
    // names are shadowed by these).
    use super::v4::{SyncGroup, VirtualServer, VrrpInstance};
    use crate::model::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Global {
        pub router_id: Name,
        pub hostname: heapless::String<HOSTNAME>,
        pub time_servers: Vec<core::net::IpAddr, TIME_SERVERS>,
        pub syslog: Option<core::net::SocketAddr>,
        pub watchdog: Watchdog,
        pub console_password: Option<PasswordHash>,
        pub enable_script_security: bool,
        pub lvs_flush: bool,
        pub lvs_sync_daemon: Option<LvsSyncDaemon>,
        pub lvs_timeouts: Option<LvsTimeouts>,
        pub supervision: Supervision,
        pub update_confirm_s: u16,
    }

    impl From<Config> for super::v4::Config {
        fn from(c: Config) -> super::v4::Config {
            let g = c.global;
            super::v4::Config {
                global: super::v4::Global {
                    router_id: g.router_id,
                    hostname: g.hostname,
                    time_servers: g.time_servers,
                    syslog: g.syslog,
                    watchdog: g.watchdog,
                    console_password: g.console_password,
                    enable_script_security: g.enable_script_security,
                    lvs_flush: g.lvs_flush,
                    lvs_sync_daemon: g.lvs_sync_daemon,
                    lvs_timeouts: g.lvs_timeouts,
                    supervision: g.supervision,
                    update_confirm_s: g.update_confirm_s,
                    updates: crate::model::Updates::default(),
                },
                interfaces: c.interfaces,
                vrrp_instances: c.vrrp_instances,
                sync_groups: c.sync_groups,
                virtual_servers: c.virtual_servers,
            }
        }
    }
}

/// Schema 4: what schema 5 added was not there (see [`SCHEMA`]).
pub mod v4 {
    use super::v6::{Checker, Garp};
    use super::v7::{Tunnel, VirtualAddress};
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    use crate::model::{
        Forwarding, Interface, IpNet, LvsSyncDaemon, LvsTimeouts, Name, Notify, PasswordHash, PathText, Protocol,
        Scheduler, Supervision, Track, Updates, VirtualKey, VrrpState, Watchdog,
    };
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Global {
        pub router_id: Name,
        pub hostname: heapless::String<HOSTNAME>,
        pub time_servers: Vec<core::net::IpAddr, TIME_SERVERS>,
        pub syslog: Option<core::net::SocketAddr>,
        pub watchdog: Watchdog,
        pub console_password: Option<PasswordHash>,
        pub enable_script_security: bool,
        pub lvs_flush: bool,
        pub lvs_sync_daemon: Option<LvsSyncDaemon>,
        pub lvs_timeouts: Option<LvsTimeouts>,
        pub supervision: Supervision,
        pub update_confirm_s: u16,
        pub updates: Updates,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VrrpInstance {
        pub name: Name,
        pub version: u8,
        pub state: VrrpState,
        pub interface: crate::model::IfName,
        pub virtual_router_id: u8,
        pub priority: u8,
        pub advert_int_cs: u16,
        pub virtual_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub unicast_src_ip: Option<core::net::IpAddr>,
        pub unicast_peer: Vec<core::net::IpAddr, UNICAST_PEERS>,
        pub preempt: bool,
        pub preempt_delay_s: u16,
        pub auth_pass: Option<heapless::String<AUTH_PASS>>,
        pub use_vmac: bool,
        pub accept: bool,
        pub track_interface: Vec<Track, TRACKS>,
        pub notify: Notify,
        pub garp: Garp,
    }

    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct SyncGroup {
        pub name: Name,
        pub group: Vec<Name, GROUP_MEMBERS>,
        pub notify: Notify,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VirtualServer {
        pub key: VirtualKey,
        pub protocol: Protocol,
        pub lb_algo: Scheduler,
        pub lb_kind: Forwarding,
        pub persistence_timeout: u32,
        pub persistence_granularity: Option<IpNet>,
        pub delay_loop_s: u16,
        pub quorum: u16,
        pub hysteresis: u16,
        pub sorry_server: Option<core::net::SocketAddr>,
        pub inhibit_on_failure: bool,
        pub alpha: bool,
        pub omega: bool,
        pub real_servers: Vec<RealServer, REAL_SERVERS>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct RealServer {
        pub addr: core::net::SocketAddr,
        pub weight: u32,
        pub lb_kind: Option<Forwarding>,
        pub inhibit_on_failure: Option<bool>,
        pub notify_up: Option<PathText>,
        pub notify_down: Option<PathText>,
        pub uthreshold: u32,
        pub lthreshold: u32,
        pub tunnel: Option<Tunnel>,
        pub checkers: Vec<Checker, CHECKERS>,
    }

    impl From<VirtualServer> for super::v6::VirtualServer {
        fn from(v: VirtualServer) -> Self {
            super::v6::VirtualServer {
                key: v.key,
                protocol: v.protocol,
                lb_algo: v.lb_algo,
                lb_kind: v.lb_kind,
                persistence_timeout: v.persistence_timeout,
                persistence_granularity: v.persistence_granularity,
                delay_loop_s: v.delay_loop_s,
                quorum: v.quorum,
                hysteresis: v.hysteresis,
                sorry_server: v.sorry_server,
                inhibit_on_failure: v.inhibit_on_failure,
                alpha: v.alpha,
                omega: v.omega,
                real_servers: v.real_servers.map(|r| super::v6::RealServer {
                    addr: r.addr,
                    weight: r.weight,
                    lb_kind: r.lb_kind,
                    inhibit_on_failure: r.inhibit_on_failure,
                    notify_up: r.notify_up,
                    notify_down: r.notify_down,
                    uthreshold: r.uthreshold,
                    lthreshold: r.lthreshold,
                    tunnel: r.tunnel,
                    checkers: r.checkers,
                    smtp_alert: None,
                    alpha: None,
                }),
                smtp_alert: None,
                quorum_up: None,
                quorum_down: None,
                ipvs_flags: 0,
                sorry_server_inhibit: false,
                sorry_server_lvs_kind: None,
            }
        }
    }

    impl From<VrrpInstance> for super::v6::VrrpInstance {
        fn from(v: VrrpInstance) -> Self {
            super::v6::VrrpInstance {
                name: v.name,
                version: v.version,
                state: v.state,
                interface: v.interface,
                virtual_router_id: v.virtual_router_id,
                priority: v.priority,
                advert_int_cs: v.advert_int_cs,
                virtual_ipaddress: v.virtual_ipaddress,
                unicast_src_ip: v.unicast_src_ip,
                unicast_peer: v.unicast_peer,
                preempt: v.preempt,
                preempt_delay_s: v.preempt_delay_s,
                auth_pass: v.auth_pass,
                use_vmac: v.use_vmac,
                accept: v.accept,
                track_interface: v.track_interface,
                track_script: Vec::new(),
                notify: v.notify,
                garp: v.garp,
                skip_check_adv_addr: false,
                smtp_alert: None,
                virtual_ipaddress_excluded: Vec::new(),
                virtual_routes: Vec::new(),
                track_process: Vec::new(),
                track_file: Vec::new(),
                virtual_rules: Vec::new(),
                dont_track_primary: false,
                lower_prio_no_advert: false,
                higher_prio_send_advert: false,
            }
        }
    }

    impl From<Config> for super::v6::Config {
        fn from(c: Config) -> super::v6::Config {
            let g = c.global;
            super::v6::Config {
                global: super::v6::Global {
                    router_id: g.router_id,
                    hostname: g.hostname,
                    time_servers: g.time_servers,
                    syslog: g.syslog,
                    watchdog: g.watchdog,
                    console_password: g.console_password,
                    enable_script_security: g.enable_script_security,
                    script_user: None,
                    vrrp_strict: false,
                    lvs_flush: g.lvs_flush,
                    lvs_sync_daemon: g.lvs_sync_daemon,
                    lvs_timeouts: g.lvs_timeouts,
                    supervision: g.supervision,
                    update_confirm_s: g.update_confirm_s,
                    updates: g.updates,
                    mail: crate::model::Mail::default(),
                    static_ipaddress: Vec::new(),
                    static_routes: Vec::new(),
                    static_rules: Vec::new(),
                },
                interfaces: c.interfaces,
                vrrp_instances: c.vrrp_instances.map(Into::into),
                sync_groups: c.sync_groups.map(|g| super::v8::SyncGroup {
                    name: g.name,
                    group: g.group,
                    track_script: Vec::new(),
                    notify: g.notify,
                    smtp_alert: None,
                    track_process: Vec::new(),
                    track_file: Vec::new(),
                }),
                virtual_servers: c.virtual_servers.map(Into::into),
                vrrp_scripts: Vec::new(),
                track_processes: Vec::new(),
                track_files: Vec::new(),
                virtual_server_groups: Vec::new(),
            }
        }
    }
}

/// Schema 5: no `virtual_server_groups` (a schema-5 blob cannot hold a
/// `virtual_server group`, so its keys decode as they are today), virtual
/// servers without the sorry server's inhibit and forwarding.
pub mod v5 {
    use super::v6::{Checker, Garp, Global};
    use super::v7::{Route, Rule, Tunnel, VirtualAddress};
    use super::v8::SyncGroup;
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    use crate::model::{
        Forwarding, IfName, Interface, IpNet, Name, Notify, PathText, Protocol, Scheduler, Track, TrackFile,
        TrackProcess, TrackScript, VirtualKey, VrrpScript, VrrpState,
    };
    use core::net::IpAddr;
    use serde::{Deserialize, Serialize};

    /// An instance before `dont_track_primary`, `lower_prio_no_advert` and
    /// `higher_prio_send_advert`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VrrpInstance {
        pub name: Name,
        pub version: u8,
        pub state: VrrpState,
        pub interface: IfName,
        pub virtual_router_id: u8,
        pub priority: u8,
        pub advert_int_cs: u16,
        pub virtual_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub unicast_src_ip: Option<IpAddr>,
        pub unicast_peer: Vec<IpAddr, UNICAST_PEERS>,
        pub preempt: bool,
        pub preempt_delay_s: u16,
        pub auth_pass: Option<heapless::String<AUTH_PASS>>,
        pub use_vmac: bool,
        pub accept: bool,
        pub track_interface: Vec<Track, TRACKS>,
        pub track_script: Vec<TrackScript, TRACKS>,
        pub notify: Notify,
        pub garp: Garp,
        pub skip_check_adv_addr: bool,
        pub smtp_alert: Option<bool>,
        pub virtual_ipaddress_excluded: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub virtual_routes: Vec<Route, ROUTES>,
        pub track_process: Vec<TrackScript, TRACKS>,
        pub track_file: Vec<TrackScript, TRACKS>,
        pub virtual_rules: Vec<Rule, ROUTES>,
    }

    impl From<VrrpInstance> for super::v6::VrrpInstance {
        fn from(v: VrrpInstance) -> Self {
            super::v6::VrrpInstance {
                name: v.name,
                version: v.version,
                state: v.state,
                interface: v.interface,
                virtual_router_id: v.virtual_router_id,
                priority: v.priority,
                advert_int_cs: v.advert_int_cs,
                virtual_ipaddress: v.virtual_ipaddress,
                unicast_src_ip: v.unicast_src_ip,
                unicast_peer: v.unicast_peer,
                preempt: v.preempt,
                preempt_delay_s: v.preempt_delay_s,
                auth_pass: v.auth_pass,
                use_vmac: v.use_vmac,
                accept: v.accept,
                track_interface: v.track_interface,
                track_script: v.track_script,
                notify: v.notify,
                garp: v.garp,
                skip_check_adv_addr: v.skip_check_adv_addr,
                smtp_alert: v.smtp_alert,
                virtual_ipaddress_excluded: v.virtual_ipaddress_excluded,
                virtual_routes: v.virtual_routes,
                track_process: v.track_process,
                track_file: v.track_file,
                virtual_rules: v.virtual_rules,
                dont_track_primary: false,
                lower_prio_no_advert: false,
                higher_prio_send_advert: false,
            }
        }
    }

    /// A real server before its own `alpha`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct RealServer {
        pub addr: core::net::SocketAddr,
        pub weight: u32,
        pub lb_kind: Option<Forwarding>,
        pub inhibit_on_failure: Option<bool>,
        pub notify_up: Option<PathText>,
        pub notify_down: Option<PathText>,
        pub uthreshold: u32,
        pub lthreshold: u32,
        pub tunnel: Option<Tunnel>,
        pub checkers: Vec<Checker, CHECKERS>,
        pub smtp_alert: Option<bool>,
    }

    impl From<RealServer> for super::v6::RealServer {
        fn from(r: RealServer) -> Self {
            super::v6::RealServer {
                addr: r.addr,
                weight: r.weight,
                lb_kind: r.lb_kind,
                inhibit_on_failure: r.inhibit_on_failure,
                notify_up: r.notify_up,
                notify_down: r.notify_down,
                uthreshold: r.uthreshold,
                lthreshold: r.lthreshold,
                tunnel: r.tunnel,
                checkers: r.checkers,
                smtp_alert: r.smtp_alert,
                alpha: None,
            }
        }
    }

    /// A virtual server before `sorry_server_inhibit` and
    /// `sorry_server_lvs_method`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VirtualServer {
        pub key: VirtualKey,
        pub protocol: Protocol,
        pub lb_algo: Scheduler,
        pub lb_kind: Forwarding,
        pub persistence_timeout: u32,
        pub persistence_granularity: Option<IpNet>,
        pub delay_loop_s: u16,
        pub quorum: u16,
        pub hysteresis: u16,
        pub sorry_server: Option<core::net::SocketAddr>,
        pub inhibit_on_failure: bool,
        pub alpha: bool,
        pub omega: bool,
        pub real_servers: Vec<RealServer, REAL_SERVERS>,
        pub smtp_alert: Option<bool>,
        pub quorum_up: Option<PathText>,
        pub quorum_down: Option<PathText>,
        pub ipvs_flags: u8,
    }

    impl From<VirtualServer> for super::v6::VirtualServer {
        fn from(v: VirtualServer) -> Self {
            super::v6::VirtualServer {
                key: v.key,
                protocol: v.protocol,
                lb_algo: v.lb_algo,
                lb_kind: v.lb_kind,
                persistence_timeout: v.persistence_timeout,
                persistence_granularity: v.persistence_granularity,
                delay_loop_s: v.delay_loop_s,
                quorum: v.quorum,
                hysteresis: v.hysteresis,
                sorry_server: v.sorry_server,
                inhibit_on_failure: v.inhibit_on_failure,
                alpha: v.alpha,
                omega: v.omega,
                real_servers: v.real_servers.map(Into::into),
                smtp_alert: v.smtp_alert,
                quorum_up: v.quorum_up,
                quorum_down: v.quorum_down,
                ipvs_flags: v.ipvs_flags,
                sorry_server_inhibit: false,
                sorry_server_lvs_kind: None,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
        pub vrrp_scripts: Vec<VrrpScript, VRRP_SCRIPTS>,
        pub track_processes: Vec<TrackProcess, VRRP_SCRIPTS>,
        pub track_files: Vec<TrackFile, VRRP_SCRIPTS>,
    }

    impl From<Config> for super::v6::Config {
        fn from(c: Config) -> super::v6::Config {
            super::v6::Config {
                global: c.global,
                interfaces: c.interfaces,
                vrrp_instances: c.vrrp_instances.map(Into::into),
                sync_groups: c.sync_groups,
                virtual_servers: c.virtual_servers.map(Into::into),
                vrrp_scripts: c.vrrp_scripts,
                track_processes: c.track_processes,
                track_files: c.track_files,
                virtual_server_groups: Vec::new(),
            }
        }
    }
}

/// Schema 6: instances and the garp settings before schema 7's additions
/// (`down_timer_adverts` ... `notify_master_rx_lower_pri`, the refresh and
/// lower-priority bursts), and the global settings before
/// `vrrp_startup_delay`, `lvs_flush_on_stop` and the start/stop scripts.
pub mod v6 {
    use super::v7::{Route, Rule, VirtualAddress};
    use super::v8::SyncGroup;
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    use crate::model::{
        IfName, Interface, LvsSyncDaemon, LvsTimeouts, Mail, Name, Notify, PasswordHash, ScriptUser, Supervision,
        Track, TrackFile, TrackProcess, TrackScript, Updates, VirtualServerGroup, VrrpScript, VrrpState, Watchdog,
    };
    use core::net::IpAddr;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Garp {
        pub master_delay_s: u16,
        pub master_repeat: u8,
        pub master_refresh_s: u16,
        pub interval_ms: u16,
    }

    impl From<Garp> for crate::model::Garp {
        fn from(g: Garp) -> Self {
            crate::model::Garp {
                master_delay_s: g.master_delay_s,
                master_repeat: g.master_repeat,
                master_refresh_s: g.master_refresh_s,
                interval_ms: g.interval_ms,
                ..crate::model::Garp::default()
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Global {
        pub router_id: Name,
        pub hostname: heapless::String<HOSTNAME>,
        pub time_servers: Vec<IpAddr, TIME_SERVERS>,
        pub syslog: Option<core::net::SocketAddr>,
        pub watchdog: Watchdog,
        pub console_password: Option<PasswordHash>,
        pub enable_script_security: bool,
        pub script_user: Option<ScriptUser>,
        pub vrrp_strict: bool,
        pub lvs_flush: bool,
        pub lvs_sync_daemon: Option<LvsSyncDaemon>,
        pub lvs_timeouts: Option<LvsTimeouts>,
        pub supervision: Supervision,
        pub update_confirm_s: u16,
        pub updates: Updates,
        pub mail: Mail,
        pub static_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub static_routes: Vec<Route, ROUTES>,
        pub static_rules: Vec<Rule, ROUTES>,
    }

    impl From<Global> for super::v7::Global {
        fn from(g: Global) -> Self {
            super::v7::Global {
                router_id: g.router_id,
                hostname: g.hostname,
                time_servers: g.time_servers,
                syslog: g.syslog,
                watchdog: g.watchdog,
                console_password: g.console_password,
                enable_script_security: g.enable_script_security,
                script_user: g.script_user,
                vrrp_strict: g.vrrp_strict,
                lvs_flush: g.lvs_flush,
                lvs_sync_daemon: g.lvs_sync_daemon,
                lvs_timeouts: g.lvs_timeouts,
                supervision: g.supervision,
                update_confirm_s: g.update_confirm_s,
                updates: g.updates,
                mail: g.mail,
                static_ipaddress: g.static_ipaddress,
                static_routes: g.static_routes,
                static_rules: g.static_rules,
                vrrp_startup_delay_ms: 0,
                lvs_flush_on_stop: None,
                startup_script: None,
                shutdown_script: None,
                ssl: None,
                rs_init_notifies: false,
                no_checker_emails: false,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VrrpInstance {
        pub name: Name,
        pub version: u8,
        pub state: VrrpState,
        pub interface: IfName,
        pub virtual_router_id: u8,
        pub priority: u8,
        pub advert_int_cs: u16,
        pub virtual_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub unicast_src_ip: Option<IpAddr>,
        pub unicast_peer: Vec<IpAddr, UNICAST_PEERS>,
        pub preempt: bool,
        pub preempt_delay_s: u16,
        pub auth_pass: Option<heapless::String<AUTH_PASS>>,
        pub use_vmac: bool,
        pub accept: bool,
        pub track_interface: Vec<Track, TRACKS>,
        pub track_script: Vec<TrackScript, TRACKS>,
        pub notify: Notify,
        pub garp: Garp,
        pub skip_check_adv_addr: bool,
        pub smtp_alert: Option<bool>,
        pub virtual_ipaddress_excluded: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub virtual_routes: Vec<Route, ROUTES>,
        pub track_process: Vec<TrackScript, TRACKS>,
        pub track_file: Vec<TrackScript, TRACKS>,
        pub virtual_rules: Vec<Rule, ROUTES>,
        pub dont_track_primary: bool,
        pub lower_prio_no_advert: bool,
        pub higher_prio_send_advert: bool,
    }

    impl From<VrrpInstance> for super::v7::VrrpInstance {
        fn from(v: VrrpInstance) -> Self {
            super::v7::VrrpInstance {
                name: v.name,
                version: v.version,
                state: v.state,
                interface: v.interface,
                virtual_router_id: v.virtual_router_id,
                priority: v.priority,
                advert_int_cs: v.advert_int_cs,
                virtual_ipaddress: v.virtual_ipaddress,
                unicast_src_ip: v.unicast_src_ip,
                unicast_peer: v.unicast_peer,
                preempt: v.preempt,
                preempt_delay_s: v.preempt_delay_s,
                auth_pass: v.auth_pass,
                use_vmac: v.use_vmac,
                accept: v.accept,
                track_interface: v.track_interface,
                track_script: v.track_script,
                notify: v.notify,
                garp: v.garp.into(),
                skip_check_adv_addr: v.skip_check_adv_addr,
                smtp_alert: v.smtp_alert,
                virtual_ipaddress_excluded: v.virtual_ipaddress_excluded,
                virtual_routes: v.virtual_routes,
                track_process: v.track_process,
                track_file: v.track_file,
                virtual_rules: v.virtual_rules,
                dont_track_primary: v.dont_track_primary,
                lower_prio_no_advert: v.lower_prio_no_advert,
                higher_prio_send_advert: v.higher_prio_send_advert,
                down_timer_adverts: crate::model::VrrpInstance::DOWN_TIMER_ADVERTS,
                unicast_ttl: 255,
                mcast_dst_ip: None,
                unicast_fault_no_peer: false,
                track_src_ip: false,
                promote_secondaries: false,
                notify_master_rx_lower_pri: None,
                notify_deleted: None,
                garp_extra_if: None,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
        pub vrrp_scripts: Vec<VrrpScript, VRRP_SCRIPTS>,
        pub track_processes: Vec<TrackProcess, VRRP_SCRIPTS>,
        pub track_files: Vec<TrackFile, VRRP_SCRIPTS>,
        pub virtual_server_groups: Vec<VirtualServerGroup, VS_GROUPS>,
    }

    impl From<Config> for super::v7::Config {
        fn from(c: Config) -> super::v7::Config {
            super::v7::Config {
                global: c.global.into(),
                interfaces: c.interfaces,
                vrrp_instances: c.vrrp_instances.map(Into::into),
                sync_groups: c.sync_groups,
                virtual_servers: c.virtual_servers.map(Into::into),
                vrrp_scripts: c.vrrp_scripts,
                track_processes: c.track_processes,
                track_files: c.track_files,
                virtual_server_groups: c.virtual_server_groups,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Url {
        pub path: crate::model::PathText,
        pub status_code: Vec<crate::model::StatusRange, STATUS_CODES>,
        pub digest: Option<[u8; 16]>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct HttpCheck {
        pub tls: bool,
        pub urls: Vec<Url, URLS>,
        pub virtualhost: Option<heapless::String<HOSTNAME>>,
        pub verify_cert: bool,
    }

    /// Checkers before schema 7's (HTTP's protocol, SNI and regex, the
    /// checker's own bind_if, bind_port, fwmark, alpha and
    /// log_all_failures).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub enum CheckKind {
        Tcp,
        Http(HttpCheck),
        Smtp { helo_name: Option<Name> },
        Dns { query_type: crate::model::DnsType, query_name: heapless::String<PATH> },
        Udp { payload: Vec<u8, 64>, require_reply: bool },
        Ping,
        Misc { path: crate::model::PathText, timeout_s: u16, dynamic: bool },
    }

    impl From<CheckKind> for crate::model::CheckKind {
        fn from(k: CheckKind) -> Self {
            use crate::model::CheckKind as K;
            match k {
                CheckKind::Tcp => K::Tcp,
                CheckKind::Http(h) => K::Http(Box::new(crate::model::HttpCheck {
                    tls: h.tls,
                    urls: h.urls.map(|u| crate::model::Url {
                        path: u.path,
                        status_code: u.status_code,
                        digest: u.digest,
                        regex: None,
                    }),
                    virtualhost: h.virtualhost,
                    verify_cert: h.verify_cert,
                    // keepalived's defaults (1.0, no server name), as an
                    // import of the same config gives today.
                    protocol: crate::model::HttpProtocol::Http10,
                    enable_sni: false,
                })),
                CheckKind::Smtp { helo_name } => K::Smtp { helo_name: helo_name.map(Box::new) },
                CheckKind::Dns { query_type, query_name } => K::Dns { query_type, query_name: Box::new(query_name) },
                CheckKind::Udp { payload, require_reply } => K::Udp { payload: Box::new(payload), require_reply },
                CheckKind::Ping => K::Ping,
                CheckKind::Misc { path, timeout_s, dynamic } => K::Misc { path: Box::new(path), timeout_s, dynamic },
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Checker {
        pub kind: CheckKind,
        pub connect_ip: Option<IpAddr>,
        pub connect_port: Option<u16>,
        pub bind_to: Option<IpAddr>,
        pub connect_timeout_s: u16,
        pub retry: u8,
        pub delay_before_retry_s: u16,
        pub warmup_s: u16,
        pub delay_loop_s: Option<u16>,
    }

    impl From<Checker> for crate::model::Checker {
        fn from(c: Checker) -> Self {
            crate::model::Checker {
                connect_ip: c.connect_ip,
                connect_port: c.connect_port,
                bind_to: c.bind_to,
                connect_timeout_s: c.connect_timeout_s,
                retry: c.retry,
                delay_before_retry_s: c.delay_before_retry_s,
                warmup_s: c.warmup_s,
                delay_loop_s: c.delay_loop_s,
                ..crate::model::Checker::new(c.kind.into())
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct RealServer {
        pub addr: core::net::SocketAddr,
        pub weight: u32,
        pub lb_kind: Option<crate::model::Forwarding>,
        pub inhibit_on_failure: Option<bool>,
        pub notify_up: Option<crate::model::PathText>,
        pub notify_down: Option<crate::model::PathText>,
        pub uthreshold: u32,
        pub lthreshold: u32,
        pub tunnel: Option<super::v7::Tunnel>,
        pub checkers: Vec<Checker, CHECKERS>,
        pub smtp_alert: Option<bool>,
        pub alpha: Option<bool>,
    }

    impl From<RealServer> for super::v7::RealServer {
        fn from(r: RealServer) -> Self {
            super::v7::RealServer {
                addr: r.addr,
                weight: r.weight,
                lb_kind: r.lb_kind,
                inhibit_on_failure: r.inhibit_on_failure,
                notify_up: r.notify_up,
                notify_down: r.notify_down,
                uthreshold: r.uthreshold,
                lthreshold: r.lthreshold,
                tunnel: r.tunnel,
                checkers: r.checkers.map(Into::into),
                smtp_alert: r.smtp_alert,
                alpha: r.alpha,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VirtualServer {
        pub key: crate::model::VirtualKey,
        pub protocol: crate::model::Protocol,
        pub lb_algo: crate::model::Scheduler,
        pub lb_kind: crate::model::Forwarding,
        pub persistence_timeout: u32,
        pub persistence_granularity: Option<crate::model::IpNet>,
        pub delay_loop_s: u16,
        pub quorum: u16,
        pub hysteresis: u16,
        pub sorry_server: Option<core::net::SocketAddr>,
        pub inhibit_on_failure: bool,
        pub alpha: bool,
        pub omega: bool,
        pub real_servers: Vec<RealServer, REAL_SERVERS>,
        pub smtp_alert: Option<bool>,
        pub quorum_up: Option<crate::model::PathText>,
        pub quorum_down: Option<crate::model::PathText>,
        pub ipvs_flags: u8,
        pub sorry_server_inhibit: bool,
        pub sorry_server_lvs_kind: Option<crate::model::Forwarding>,
    }

    impl From<VirtualServer> for super::v7::VirtualServer {
        fn from(v: VirtualServer) -> Self {
            super::v7::VirtualServer {
                key: v.key,
                protocol: v.protocol,
                lb_algo: v.lb_algo,
                lb_kind: v.lb_kind,
                persistence_timeout: v.persistence_timeout,
                persistence_granularity: v.persistence_granularity,
                delay_loop_s: v.delay_loop_s,
                quorum: v.quorum,
                hysteresis: v.hysteresis,
                sorry_server: v.sorry_server,
                inhibit_on_failure: v.inhibit_on_failure,
                alpha: v.alpha,
                omega: v.omega,
                real_servers: v.real_servers.map(Into::into),
                smtp_alert: v.smtp_alert,
                quorum_up: v.quorum_up,
                quorum_down: v.quorum_down,
                ipvs_flags: v.ipvs_flags,
                sorry_server_inhibit: v.sorry_server_inhibit,
                sorry_server_lvs_kind: v.sorry_server_lvs_kind,
                ha_suspend: false,
                ip_family_v6: None,
            }
        }
    }
}

/// Schema 7: what schema 8 added was not there: a virtual address's
/// scope, peer, lifetime and flags; a route's protocol, TOS, metrics,
/// realms and next hops; a rule's TOS, realms and goto; a vmac's name and
/// MAC and `vmac_xmit_base`. The types that changed are spelled out as
/// they were (postcard is not self-describing).
pub mod v7 {
    use super::v8::SyncGroup;
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    use crate::model::{
        FlushOnStop, Garp, HookScript, IfName, Interface, IpNet, LvsSyncDaemon, LvsTimeouts, Mail, Name, Notify,
        PasswordHash, PathText, RouteKind, RouteScope, ScriptUser, SslFiles, Supervision, Track, TrackFile,
        TrackProcess, TrackScript, Updates, VirtualServerGroup, VrrpScript, VrrpState, Watchdog,
    };
    use core::net::{IpAddr, Ipv4Addr};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VirtualAddress {
        pub addr: IpNet,
        pub brd: Option<Ipv4Addr>,
        pub dev: Option<IfName>,
        pub label: Option<IfName>,
    }

    impl From<VirtualAddress> for super::v12::VirtualAddress {
        fn from(a: VirtualAddress) -> Self {
            super::v12::VirtualAddress {
                brd: a.brd,
                dev: a.dev,
                label: a.label,
                ..super::v12::VirtualAddress::new(a.addr)
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Route {
        pub kind: RouteKind,
        pub dst: IpNet,
        pub via: Option<IpAddr>,
        pub dev: Option<IfName>,
        pub src: Option<IpAddr>,
        pub metric: Option<u32>,
        pub table: Option<u32>,
        pub scope: Option<RouteScope>,
        pub onlink: bool,
    }

    impl From<Route> for crate::model::Route {
        fn from(r: Route) -> Self {
            crate::model::Route {
                kind: r.kind,
                via: r.via,
                dev: r.dev,
                src: r.src,
                metric: r.metric,
                table: r.table,
                scope: r.scope,
                onlink: r.onlink,
                ..crate::model::Route::new(r.dst)
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Rule {
        pub v6: bool,
        pub from: Option<IpNet>,
        pub to: Option<IpNet>,
        pub invert: bool,
        pub fwmark: Option<(u32, Option<u32>)>,
        pub iif: Option<IfName>,
        pub oif: Option<IfName>,
        pub priority: Option<u32>,
        pub table: Option<u32>,
        pub kind: RouteKind,
    }

    impl From<Rule> for crate::model::Rule {
        fn from(r: Rule) -> Self {
            crate::model::Rule {
                v6: r.v6,
                from: r.from,
                to: r.to,
                invert: r.invert,
                fwmark: r.fwmark,
                iif: r.iif,
                oif: r.oif,
                priority: r.priority,
                table: r.table,
                kind: r.kind,
                ..crate::model::Rule::default()
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Global {
        pub router_id: Name,
        pub hostname: heapless::String<HOSTNAME>,
        pub time_servers: Vec<IpAddr, TIME_SERVERS>,
        pub syslog: Option<core::net::SocketAddr>,
        pub watchdog: Watchdog,
        pub console_password: Option<PasswordHash>,
        pub enable_script_security: bool,
        pub script_user: Option<ScriptUser>,
        pub vrrp_strict: bool,
        pub lvs_flush: bool,
        pub lvs_sync_daemon: Option<LvsSyncDaemon>,
        pub lvs_timeouts: Option<LvsTimeouts>,
        pub supervision: Supervision,
        pub update_confirm_s: u16,
        pub updates: Updates,
        pub mail: Mail,
        pub static_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub static_routes: Vec<Route, ROUTES>,
        pub static_rules: Vec<Rule, ROUTES>,
        pub vrrp_startup_delay_ms: u32,
        pub lvs_flush_on_stop: Option<FlushOnStop>,
        pub startup_script: Option<HookScript>,
        pub shutdown_script: Option<HookScript>,
        pub ssl: Option<SslFiles>,
        pub rs_init_notifies: bool,
        pub no_checker_emails: bool,
    }

    impl From<Global> for super::v9::Global {
        fn from(g: Global) -> Self {
            super::v9::Global {
                router_id: g.router_id,
                hostname: g.hostname,
                time_servers: g.time_servers,
                syslog: g.syslog,
                watchdog: g.watchdog,
                console_password: g.console_password,
                enable_script_security: g.enable_script_security,
                script_user: g.script_user,
                vrrp_strict: g.vrrp_strict,
                lvs_flush: g.lvs_flush,
                lvs_sync_daemon: g.lvs_sync_daemon,
                lvs_timeouts: g.lvs_timeouts,
                supervision: g.supervision,
                update_confirm_s: g.update_confirm_s,
                updates: g.updates,
                mail: g.mail,
                static_ipaddress: g.static_ipaddress.map(Into::into),
                static_routes: g.static_routes.map(Into::into),
                static_rules: g.static_rules.map(Into::into),
                vrrp_startup_delay_ms: g.vrrp_startup_delay_ms,
                lvs_flush_on_stop: g.lvs_flush_on_stop,
                startup_script: g.startup_script,
                shutdown_script: g.shutdown_script,
                ssl: g.ssl,
                rs_init_notifies: g.rs_init_notifies,
                no_checker_emails: g.no_checker_emails,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VrrpInstance {
        pub name: Name,
        pub version: u8,
        pub state: VrrpState,
        pub interface: IfName,
        pub virtual_router_id: u8,
        pub priority: u8,
        pub advert_int_cs: u16,
        pub virtual_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub unicast_src_ip: Option<IpAddr>,
        pub unicast_peer: Vec<IpAddr, UNICAST_PEERS>,
        pub preempt: bool,
        pub preempt_delay_s: u16,
        pub auth_pass: Option<heapless::String<AUTH_PASS>>,
        pub use_vmac: bool,
        pub accept: bool,
        pub track_interface: Vec<Track, TRACKS>,
        pub track_script: Vec<TrackScript, TRACKS>,
        pub notify: Notify,
        pub garp: Garp,
        pub skip_check_adv_addr: bool,
        pub smtp_alert: Option<bool>,
        pub virtual_ipaddress_excluded: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub virtual_routes: Vec<Route, ROUTES>,
        pub track_process: Vec<TrackScript, TRACKS>,
        pub track_file: Vec<TrackScript, TRACKS>,
        pub virtual_rules: Vec<Rule, ROUTES>,
        pub dont_track_primary: bool,
        pub lower_prio_no_advert: bool,
        pub higher_prio_send_advert: bool,
        pub down_timer_adverts: u8,
        pub unicast_ttl: u8,
        pub mcast_dst_ip: Option<IpAddr>,
        pub unicast_fault_no_peer: bool,
        pub track_src_ip: bool,
        pub promote_secondaries: bool,
        pub notify_master_rx_lower_pri: Option<PathText>,
        pub notify_deleted: Option<Option<PathText>>,
        pub garp_extra_if: Option<(u32, bool)>,
    }

    impl From<VrrpInstance> for super::v8::VrrpInstance {
        fn from(v: VrrpInstance) -> Self {
            super::v8::VrrpInstance {
                name: v.name,
                version: v.version,
                state: v.state,
                interface: v.interface,
                virtual_router_id: v.virtual_router_id,
                priority: v.priority,
                advert_int_cs: v.advert_int_cs,
                virtual_ipaddress: v.virtual_ipaddress.map(Into::into),
                unicast_src_ip: v.unicast_src_ip,
                unicast_peer: v.unicast_peer,
                preempt: v.preempt,
                preempt_delay_s: v.preempt_delay_s,
                auth_pass: v.auth_pass,
                vmac: v.use_vmac.then(crate::model::Vmac::default),
                accept: v.accept,
                track_interface: v.track_interface,
                track_script: v.track_script,
                notify: v.notify,
                garp: v.garp,
                skip_check_adv_addr: v.skip_check_adv_addr,
                smtp_alert: v.smtp_alert,
                virtual_ipaddress_excluded: v.virtual_ipaddress_excluded.map(Into::into),
                virtual_routes: v.virtual_routes.map(Into::into),
                track_process: v.track_process,
                track_file: v.track_file,
                virtual_rules: v.virtual_rules.map(Into::into),
                dont_track_primary: v.dont_track_primary,
                lower_prio_no_advert: v.lower_prio_no_advert,
                higher_prio_send_advert: v.higher_prio_send_advert,
                down_timer_adverts: v.down_timer_adverts,
                unicast_ttl: v.unicast_ttl,
                mcast_dst_ip: v.mcast_dst_ip,
                unicast_fault_no_peer: v.unicast_fault_no_peer,
                track_src_ip: v.track_src_ip,
                promote_secondaries: v.promote_secondaries,
                notify_master_rx_lower_pri: v.notify_master_rx_lower_pri,
                notify_deleted: v.notify_deleted,
                garp_extra_if: v.garp_extra_if,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
        pub vrrp_scripts: Vec<VrrpScript, VRRP_SCRIPTS>,
        pub track_processes: Vec<TrackProcess, VRRP_SCRIPTS>,
        pub track_files: Vec<TrackFile, VRRP_SCRIPTS>,
        pub virtual_server_groups: Vec<VirtualServerGroup, VS_GROUPS>,
    }

    impl From<Config> for super::v8::Config {
        fn from(c: Config) -> super::v8::Config {
            super::v8::Config {
                global: c.global.into(),
                interfaces: c.interfaces,
                vrrp_instances: c.vrrp_instances.map(Into::into),
                sync_groups: c.sync_groups,
                virtual_servers: c.virtual_servers.map(Into::into),
                vrrp_scripts: c.vrrp_scripts,
                track_processes: c.track_processes,
                track_files: c.track_files,
                virtual_server_groups: c.virtual_server_groups,
            }
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub enum Tunnel {
        Ipip,
        Gue { port: u16 },
        Gre,
    }

    impl From<Tunnel> for crate::model::Tunnel {
        fn from(t: Tunnel) -> Self {
            use crate::model::TunCsum::None as No;
            match t {
                Tunnel::Ipip => crate::model::Tunnel::Ipip,
                Tunnel::Gue { port } => crate::model::Tunnel::Gue { port, csum: No },
                Tunnel::Gre => crate::model::Tunnel::Gre { csum: No },
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct RealServer {
        pub addr: core::net::SocketAddr,
        pub weight: u32,
        pub lb_kind: Option<crate::model::Forwarding>,
        pub inhibit_on_failure: Option<bool>,
        pub notify_up: Option<PathText>,
        pub notify_down: Option<PathText>,
        pub uthreshold: u32,
        pub lthreshold: u32,
        pub tunnel: Option<Tunnel>,
        pub checkers: Vec<crate::model::Checker, CHECKERS>,
        pub smtp_alert: Option<bool>,
        pub alpha: Option<bool>,
    }

    impl From<RealServer> for crate::model::RealServer {
        fn from(r: RealServer) -> Self {
            crate::model::RealServer {
                addr: r.addr,
                weight: r.weight,
                lb_kind: r.lb_kind,
                inhibit_on_failure: r.inhibit_on_failure,
                notify_up: r.notify_up.map(Box::new),
                notify_down: r.notify_down.map(Box::new),
                uthreshold: r.uthreshold,
                lthreshold: r.lthreshold,
                tunnel: r.tunnel.map(Into::into),
                checkers: r.checkers.into(),
                smtp_alert: r.smtp_alert,
                alpha: r.alpha,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VirtualServer {
        pub key: crate::model::VirtualKey,
        pub protocol: crate::model::Protocol,
        pub lb_algo: crate::model::Scheduler,
        pub lb_kind: crate::model::Forwarding,
        pub persistence_timeout: u32,
        pub persistence_granularity: Option<IpNet>,
        pub delay_loop_s: u16,
        pub quorum: u16,
        pub hysteresis: u16,
        pub sorry_server: Option<core::net::SocketAddr>,
        pub inhibit_on_failure: bool,
        pub alpha: bool,
        pub omega: bool,
        pub real_servers: Vec<RealServer, REAL_SERVERS>,
        pub smtp_alert: Option<bool>,
        pub quorum_up: Option<PathText>,
        pub quorum_down: Option<PathText>,
        pub ipvs_flags: u8,
        pub sorry_server_inhibit: bool,
        pub sorry_server_lvs_kind: Option<crate::model::Forwarding>,
        pub ha_suspend: bool,
        pub ip_family_v6: Option<bool>,
    }

    impl From<VirtualServer> for crate::model::VirtualServer {
        fn from(v: VirtualServer) -> Self {
            crate::model::VirtualServer {
                key: v.key,
                protocol: v.protocol,
                lb_algo: v.lb_algo,
                lb_kind: v.lb_kind,
                persistence_timeout: v.persistence_timeout,
                persistence_granularity: v.persistence_granularity,
                delay_loop_s: v.delay_loop_s,
                quorum: v.quorum,
                hysteresis: v.hysteresis,
                sorry_server: v.sorry_server,
                inhibit_on_failure: v.inhibit_on_failure,
                alpha: v.alpha,
                omega: v.omega,
                real_servers: v.real_servers.map(Into::into),
                smtp_alert: v.smtp_alert,
                quorum_up: v.quorum_up,
                quorum_down: v.quorum_down,
                ipvs_flags: v.ipvs_flags,
                sorry_server_inhibit: v.sorry_server_inhibit,
                sorry_server_lvs_kind: v.sorry_server_lvs_kind,
                ha_suspend: v.ha_suspend,
                ip_family_v6: v.ip_family_v6,
                ..crate::model::VirtualServer::new(crate::model::VirtualKey::Fwmark(1))
            }
        }
    }
}

/// Schema 8: no BFD (`bfd_instances`, instances' and sync groups'
/// `track_bfd`). Everything else is as today.
pub mod v8 {
    use super::v9::Global;
    use super::v12::VirtualAddress;
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    use crate::model::*;
    use core::net::IpAddr;
    use heapless::String;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VrrpInstance {
        pub name: Name,
        pub version: u8,
        pub state: VrrpState,
        pub interface: IfName,
        pub virtual_router_id: u8,
        pub priority: u8,
        pub advert_int_cs: u16,
        pub virtual_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub unicast_src_ip: Option<IpAddr>,
        pub unicast_peer: Vec<IpAddr, UNICAST_PEERS>,
        pub preempt: bool,
        pub preempt_delay_s: u16,
        pub auth_pass: Option<String<AUTH_PASS>>,
        pub vmac: Option<Vmac>,
        pub accept: bool,
        pub track_interface: Vec<Track, TRACKS>,
        pub track_script: Vec<TrackScript, TRACKS>,
        pub notify: Notify,
        pub garp: Garp,
        pub skip_check_adv_addr: bool,
        pub smtp_alert: Option<bool>,
        pub virtual_ipaddress_excluded: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub virtual_routes: Vec<Route, ROUTES>,
        pub track_process: Vec<TrackScript, TRACKS>,
        pub track_file: Vec<TrackScript, TRACKS>,
        pub virtual_rules: Vec<Rule, ROUTES>,
        pub dont_track_primary: bool,
        pub lower_prio_no_advert: bool,
        pub higher_prio_send_advert: bool,
        pub down_timer_adverts: u8,
        pub unicast_ttl: u8,
        pub mcast_dst_ip: Option<IpAddr>,
        pub unicast_fault_no_peer: bool,
        pub track_src_ip: bool,
        pub promote_secondaries: bool,
        pub notify_master_rx_lower_pri: Option<PathText>,
        pub notify_deleted: Option<Option<PathText>>,
        pub garp_extra_if: Option<(u32, bool)>,
    }

    impl From<VrrpInstance> for super::v12::VrrpInstance {
        fn from(v: VrrpInstance) -> Self {
            super::v12::VrrpInstance {
                name: v.name,
                version: v.version,
                state: v.state,
                interface: v.interface,
                virtual_router_id: v.virtual_router_id,
                priority: v.priority,
                advert_int_cs: v.advert_int_cs,
                virtual_ipaddress: v.virtual_ipaddress,
                unicast_src_ip: v.unicast_src_ip,
                unicast_peer: v.unicast_peer,
                preempt: v.preempt,
                preempt_delay_s: v.preempt_delay_s,
                auth_pass: v.auth_pass,
                vmac: v.vmac,
                accept: v.accept,
                track_interface: v.track_interface,
                track_script: v.track_script,
                notify: v.notify,
                garp: v.garp,
                skip_check_adv_addr: v.skip_check_adv_addr,
                smtp_alert: v.smtp_alert,
                virtual_ipaddress_excluded: v.virtual_ipaddress_excluded,
                virtual_routes: v.virtual_routes,
                track_process: v.track_process,
                track_file: v.track_file,
                virtual_rules: v.virtual_rules,
                dont_track_primary: v.dont_track_primary,
                lower_prio_no_advert: v.lower_prio_no_advert,
                higher_prio_send_advert: v.higher_prio_send_advert,
                down_timer_adverts: v.down_timer_adverts,
                unicast_ttl: v.unicast_ttl,
                mcast_dst_ip: v.mcast_dst_ip,
                unicast_fault_no_peer: v.unicast_fault_no_peer,
                track_src_ip: v.track_src_ip,
                promote_secondaries: v.promote_secondaries,
                notify_master_rx_lower_pri: v.notify_master_rx_lower_pri,
                notify_deleted: v.notify_deleted,
                garp_extra_if: v.garp_extra_if,
                track_bfd: Vec::new(),
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct SyncGroup {
        pub name: Name,
        pub group: Vec<Name, GROUP_MEMBERS>,
        pub track_script: Vec<TrackScript, TRACKS>,
        pub notify: Notify,
        pub smtp_alert: Option<bool>,
        pub track_process: Vec<TrackScript, TRACKS>,
        pub track_file: Vec<TrackScript, TRACKS>,
    }

    impl From<SyncGroup> for crate::model::SyncGroup {
        fn from(v: SyncGroup) -> Self {
            crate::model::SyncGroup {
                name: v.name,
                group: v.group,
                track_script: v.track_script,
                notify: v.notify,
                smtp_alert: v.smtp_alert,
                track_process: v.track_process,
                track_file: v.track_file,
                track_bfd: Vec::new(),
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
        pub vrrp_scripts: Vec<VrrpScript, VRRP_SCRIPTS>,
        pub track_processes: Vec<TrackProcess, VRRP_SCRIPTS>,
        pub track_files: Vec<TrackFile, VRRP_SCRIPTS>,
        pub virtual_server_groups: Vec<VirtualServerGroup, VS_GROUPS>,
    }

    impl From<Config> for super::v9::Config {
        fn from(v: Config) -> Self {
            super::v9::Config {
                global: v.global,
                interfaces: v.interfaces,
                vrrp_instances: v.vrrp_instances.map(Into::into),
                sync_groups: v.sync_groups.map(Into::into),
                virtual_servers: v.virtual_servers,
                vrrp_scripts: v.vrrp_scripts,
                track_processes: v.track_processes,
                track_files: v.track_files,
                virtual_server_groups: v.virtual_server_groups,
                bfd_instances: Vec::new(),
            }
        }
    }
}

/// Schema 9: no GARP pacing (`vrrp_garp_interval` / `vrrp_gna_interval` as
/// the global per-interface pace, `garp_group`): everything else is as
/// today.
pub mod v9 {
    use super::v12::{VirtualAddress, VrrpInstance};
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    use crate::model::*;
    use core::net::{IpAddr, SocketAddr};
    use heapless::String;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Global {
        pub router_id: Name,
        pub hostname: String<HOSTNAME>,
        pub time_servers: Vec<IpAddr, TIME_SERVERS>,
        pub syslog: Option<SocketAddr>,
        pub watchdog: Watchdog,
        pub console_password: Option<PasswordHash>,
        pub enable_script_security: bool,
        pub script_user: Option<ScriptUser>,
        pub vrrp_strict: bool,
        pub lvs_flush: bool,
        pub lvs_sync_daemon: Option<LvsSyncDaemon>,
        pub lvs_timeouts: Option<LvsTimeouts>,
        pub supervision: Supervision,
        pub update_confirm_s: u16,
        pub updates: Updates,
        pub mail: Mail,
        pub static_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub static_routes: Vec<Route, ROUTES>,
        pub static_rules: Vec<Rule, ROUTES>,
        pub vrrp_startup_delay_ms: u32,
        pub lvs_flush_on_stop: Option<FlushOnStop>,
        pub startup_script: Option<HookScript>,
        pub shutdown_script: Option<HookScript>,
        pub ssl: Option<SslFiles>,
        pub rs_init_notifies: bool,
        pub no_checker_emails: bool,
    }

    impl From<Global> for super::v12::Global {
        fn from(v: Global) -> Self {
            super::v12::Global {
                router_id: v.router_id,
                hostname: v.hostname,
                time_servers: v.time_servers,
                syslog: v.syslog.map(|addr| SyslogTarget { addr, tcp: false }),
                watchdog: v.watchdog,
                console_password: v.console_password,
                enable_script_security: v.enable_script_security,
                script_user: v.script_user,
                vrrp_strict: v.vrrp_strict,
                lvs_flush: v.lvs_flush,
                lvs_sync_daemon: v.lvs_sync_daemon,
                lvs_timeouts: v.lvs_timeouts,
                supervision: v.supervision,
                update_confirm_s: v.update_confirm_s,
                updates: v.updates,
                mail: v.mail,
                static_ipaddress: v.static_ipaddress,
                static_routes: v.static_routes,
                static_rules: v.static_rules,
                vrrp_startup_delay_ms: v.vrrp_startup_delay_ms,
                lvs_flush_on_stop: v.lvs_flush_on_stop,
                startup_script: v.startup_script,
                shutdown_script: v.shutdown_script,
                ssl: v.ssl,
                rs_init_notifies: v.rs_init_notifies,
                no_checker_emails: v.no_checker_emails,
                garp_interval_us: None,
                gna_interval_us: None,
                garp_groups: Vec::new(),
                metrics_listen: None,
                track_groups: Vec::new(),
                static_tracks: Vec::new(),
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
        pub vrrp_scripts: Vec<VrrpScript, VRRP_SCRIPTS>,
        pub track_processes: Vec<TrackProcess, VRRP_SCRIPTS>,
        pub track_files: Vec<TrackFile, VRRP_SCRIPTS>,
        pub virtual_server_groups: Vec<VirtualServerGroup, VS_GROUPS>,
        pub bfd_instances: Vec<BfdInstance, BFD_INSTANCES>,
    }

    impl From<Config> for super::v12::Config {
        fn from(v: Config) -> Self {
            super::v12::Config {
                global: v.global.into(),
                interfaces: v.interfaces,
                vrrp_instances: v.vrrp_instances,
                sync_groups: v.sync_groups,
                virtual_servers: v.virtual_servers,
                vrrp_scripts: v.vrrp_scripts,
                track_processes: v.track_processes,
                track_files: v.track_files,
                virtual_server_groups: v.virtual_server_groups,
                bfd_instances: v.bfd_instances,
            }
        }
    }
}

/// Schema 10: before `metrics_listen` (schema 11).
pub mod v10 {
    use super::v12::{VirtualAddress, VrrpInstance};
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    use crate::model::*;
    use core::net::IpAddr;
    use heapless::String;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Global {
        pub router_id: Name,
        pub hostname: String<HOSTNAME>,
        pub time_servers: Vec<IpAddr, TIME_SERVERS>,
        pub syslog: Option<SyslogTarget>,
        pub watchdog: Watchdog,
        pub console_password: Option<PasswordHash>,
        pub enable_script_security: bool,
        pub script_user: Option<ScriptUser>,
        pub vrrp_strict: bool,
        pub lvs_flush: bool,
        pub lvs_sync_daemon: Option<LvsSyncDaemon>,
        pub lvs_timeouts: Option<LvsTimeouts>,
        pub supervision: Supervision,
        pub update_confirm_s: u16,
        pub updates: Updates,
        pub mail: Mail,
        pub static_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub static_routes: Vec<Route, ROUTES>,
        pub static_rules: Vec<Rule, ROUTES>,
        pub vrrp_startup_delay_ms: u32,
        pub lvs_flush_on_stop: Option<FlushOnStop>,
        pub startup_script: Option<HookScript>,
        pub shutdown_script: Option<HookScript>,
        pub ssl: Option<SslFiles>,
        pub rs_init_notifies: bool,
        pub no_checker_emails: bool,
        pub garp_interval_us: Option<u32>,
        pub gna_interval_us: Option<u32>,
        pub garp_groups: Vec<GarpGroup, GARP_GROUPS>,
    }

    impl From<Global> for super::v12::Global {
        fn from(v: Global) -> Self {
            super::v12::Global {
                router_id: v.router_id,
                hostname: v.hostname,
                time_servers: v.time_servers,
                syslog: v.syslog,
                watchdog: v.watchdog,
                console_password: v.console_password,
                enable_script_security: v.enable_script_security,
                script_user: v.script_user,
                vrrp_strict: v.vrrp_strict,
                lvs_flush: v.lvs_flush,
                lvs_sync_daemon: v.lvs_sync_daemon,
                lvs_timeouts: v.lvs_timeouts,
                supervision: v.supervision,
                update_confirm_s: v.update_confirm_s,
                updates: v.updates,
                mail: v.mail,
                static_ipaddress: v.static_ipaddress,
                static_routes: v.static_routes,
                static_rules: v.static_rules,
                vrrp_startup_delay_ms: v.vrrp_startup_delay_ms,
                lvs_flush_on_stop: v.lvs_flush_on_stop,
                startup_script: v.startup_script,
                shutdown_script: v.shutdown_script,
                ssl: v.ssl,
                rs_init_notifies: v.rs_init_notifies,
                no_checker_emails: v.no_checker_emails,
                garp_interval_us: v.garp_interval_us,
                gna_interval_us: v.gna_interval_us,
                garp_groups: v.garp_groups,
                metrics_listen: None,
                track_groups: Vec::new(),
                static_tracks: Vec::new(),
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
        pub vrrp_scripts: Vec<VrrpScript, VRRP_SCRIPTS>,
        pub track_processes: Vec<TrackProcess, VRRP_SCRIPTS>,
        pub track_files: Vec<TrackFile, VRRP_SCRIPTS>,
        pub virtual_server_groups: Vec<VirtualServerGroup, VS_GROUPS>,
        pub bfd_instances: Vec<BfdInstance, BFD_INSTANCES>,
    }

    impl From<Config> for super::v12::Config {
        fn from(v: Config) -> Self {
            super::v12::Config {
                global: v.global.into(),
                interfaces: v.interfaces,
                vrrp_instances: v.vrrp_instances,
                sync_groups: v.sync_groups,
                virtual_servers: v.virtual_servers,
                vrrp_scripts: v.vrrp_scripts,
                track_processes: v.track_processes,
                track_files: v.track_files,
                virtual_server_groups: v.virtual_server_groups,
                bfd_instances: v.bfd_instances,
            }
        }
    }
}

/// Schema 11: before `track_groups` and `static_tracks` (schema 12).
pub mod v11 {
    use super::v12::{VirtualAddress, VrrpInstance};
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    use crate::model::*;
    use core::net::IpAddr;
    use heapless::String;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Global {
        pub router_id: Name,
        pub hostname: String<HOSTNAME>,
        pub time_servers: Vec<IpAddr, TIME_SERVERS>,
        pub syslog: Option<SyslogTarget>,
        pub watchdog: Watchdog,
        pub console_password: Option<PasswordHash>,
        pub enable_script_security: bool,
        pub script_user: Option<ScriptUser>,
        pub vrrp_strict: bool,
        pub lvs_flush: bool,
        pub lvs_sync_daemon: Option<LvsSyncDaemon>,
        pub lvs_timeouts: Option<LvsTimeouts>,
        pub supervision: Supervision,
        pub update_confirm_s: u16,
        pub updates: Updates,
        pub mail: Mail,
        pub static_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub static_routes: Vec<Route, ROUTES>,
        pub static_rules: Vec<Rule, ROUTES>,
        pub vrrp_startup_delay_ms: u32,
        pub lvs_flush_on_stop: Option<FlushOnStop>,
        pub startup_script: Option<HookScript>,
        pub shutdown_script: Option<HookScript>,
        pub ssl: Option<SslFiles>,
        pub rs_init_notifies: bool,
        pub no_checker_emails: bool,
        pub garp_interval_us: Option<u32>,
        pub gna_interval_us: Option<u32>,
        pub garp_groups: Vec<GarpGroup, GARP_GROUPS>,
        pub metrics_listen: Option<core::net::SocketAddr>,
    }

    impl From<Global> for super::v12::Global {
        fn from(v: Global) -> Self {
            super::v12::Global {
                router_id: v.router_id,
                hostname: v.hostname,
                time_servers: v.time_servers,
                syslog: v.syslog,
                watchdog: v.watchdog,
                console_password: v.console_password,
                enable_script_security: v.enable_script_security,
                script_user: v.script_user,
                vrrp_strict: v.vrrp_strict,
                lvs_flush: v.lvs_flush,
                lvs_sync_daemon: v.lvs_sync_daemon,
                lvs_timeouts: v.lvs_timeouts,
                supervision: v.supervision,
                update_confirm_s: v.update_confirm_s,
                updates: v.updates,
                mail: v.mail,
                static_ipaddress: v.static_ipaddress,
                static_routes: v.static_routes,
                static_rules: v.static_rules,
                vrrp_startup_delay_ms: v.vrrp_startup_delay_ms,
                lvs_flush_on_stop: v.lvs_flush_on_stop,
                startup_script: v.startup_script,
                shutdown_script: v.shutdown_script,
                ssl: v.ssl,
                rs_init_notifies: v.rs_init_notifies,
                no_checker_emails: v.no_checker_emails,
                garp_interval_us: v.garp_interval_us,
                gna_interval_us: v.gna_interval_us,
                garp_groups: v.garp_groups,
                metrics_listen: v.metrics_listen,
                track_groups: Vec::new(),
                static_tracks: Vec::new(),
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
        pub vrrp_scripts: Vec<VrrpScript, VRRP_SCRIPTS>,
        pub track_processes: Vec<TrackProcess, VRRP_SCRIPTS>,
        pub track_files: Vec<TrackFile, VRRP_SCRIPTS>,
        pub virtual_server_groups: Vec<VirtualServerGroup, VS_GROUPS>,
        pub bfd_instances: Vec<BfdInstance, BFD_INSTANCES>,
    }

    impl From<Config> for super::v12::Config {
        fn from(v: Config) -> Self {
            super::v12::Config {
                global: v.global.into(),
                interfaces: v.interfaces,
                vrrp_instances: v.vrrp_instances,
                sync_groups: v.sync_groups,
                virtual_servers: v.virtual_servers,
                vrrp_scripts: v.vrrp_scripts,
                track_processes: v.track_processes,
                track_files: v.track_files,
                virtual_server_groups: v.virtual_server_groups,
                bfd_instances: v.bfd_instances,
            }
        }
    }
}

/// Schema 12: before instances' `use_vmac_addr`, addresses' `use_vmac` and
/// the global `vmac_addr_prefix` (schema 13). Schemas 8 to 11 read their
/// instances and addresses as these.
pub mod v12 {
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    use crate::model::*;
    use core::net::{IpAddr, Ipv4Addr, SocketAddr};
    use heapless::String;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VirtualAddress {
        pub addr: IpNet,
        pub brd: Option<Ipv4Addr>,
        pub dev: Option<IfName>,
        pub label: Option<IfName>,
        pub scope: Option<RouteScope>,
        pub peer: Option<IpNet>,
        pub preferred_lft: Option<Lifetime>,
        pub flags: u32,
        pub no_track: bool,
    }

    impl VirtualAddress {
        pub fn new(addr: IpNet) -> VirtualAddress {
            crate::model::VirtualAddress::new(addr).into()
        }
    }

    /// Today's address as schema 12 wrote it (for [`VirtualAddress::new`]).
    impl From<crate::model::VirtualAddress> for VirtualAddress {
        fn from(v: crate::model::VirtualAddress) -> Self {
            VirtualAddress {
                addr: v.addr,
                brd: v.brd,
                dev: v.dev,
                label: v.label,
                scope: v.scope,
                peer: v.peer,
                preferred_lft: v.preferred_lft,
                flags: v.flags,
                no_track: v.no_track,
            }
        }
    }

    impl From<VirtualAddress> for crate::model::VirtualAddress {
        fn from(v: VirtualAddress) -> Self {
            crate::model::VirtualAddress {
                addr: v.addr,
                brd: v.brd,
                dev: v.dev,
                label: v.label,
                scope: v.scope,
                peer: v.peer,
                preferred_lft: v.preferred_lft,
                flags: v.flags,
                no_track: v.no_track,
                use_vmac: false,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VrrpInstance {
        pub name: Name,
        pub version: u8,
        pub state: VrrpState,
        pub interface: IfName,
        pub virtual_router_id: u8,
        pub priority: u8,
        pub advert_int_cs: u16,
        pub virtual_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub unicast_src_ip: Option<IpAddr>,
        pub unicast_peer: Vec<IpAddr, UNICAST_PEERS>,
        pub preempt: bool,
        pub preempt_delay_s: u16,
        pub auth_pass: Option<String<AUTH_PASS>>,
        pub vmac: Option<Vmac>,
        pub accept: bool,
        pub track_interface: Vec<Track, TRACKS>,
        pub track_script: Vec<TrackScript, TRACKS>,
        pub notify: Notify,
        pub garp: Garp,
        pub skip_check_adv_addr: bool,
        pub smtp_alert: Option<bool>,
        pub virtual_ipaddress_excluded: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub virtual_routes: Vec<Route, ROUTES>,
        pub track_process: Vec<TrackScript, TRACKS>,
        pub track_file: Vec<TrackScript, TRACKS>,
        pub virtual_rules: Vec<Rule, ROUTES>,
        pub dont_track_primary: bool,
        pub lower_prio_no_advert: bool,
        pub higher_prio_send_advert: bool,
        pub down_timer_adverts: u8,
        pub unicast_ttl: u8,
        pub mcast_dst_ip: Option<IpAddr>,
        pub unicast_fault_no_peer: bool,
        pub track_src_ip: bool,
        pub promote_secondaries: bool,
        pub notify_master_rx_lower_pri: Option<PathText>,
        pub notify_deleted: Option<Option<PathText>>,
        pub garp_extra_if: Option<(u32, bool)>,
        pub track_bfd: Vec<TrackScript, TRACKS>,
    }

    impl From<VrrpInstance> for crate::model::VrrpInstance {
        fn from(v: VrrpInstance) -> Self {
            crate::model::VrrpInstance {
                name: v.name,
                version: v.version,
                state: v.state,
                interface: v.interface,
                virtual_router_id: v.virtual_router_id,
                priority: v.priority,
                advert_int_cs: v.advert_int_cs,
                virtual_ipaddress: v.virtual_ipaddress.map(Into::into),
                unicast_src_ip: v.unicast_src_ip,
                unicast_peer: v.unicast_peer,
                preempt: v.preempt,
                preempt_delay_s: v.preempt_delay_s,
                auth_pass: v.auth_pass,
                vmac: v.vmac,
                accept: v.accept,
                track_interface: v.track_interface,
                track_script: v.track_script,
                notify: v.notify,
                garp: v.garp,
                skip_check_adv_addr: v.skip_check_adv_addr,
                smtp_alert: v.smtp_alert,
                virtual_ipaddress_excluded: v.virtual_ipaddress_excluded.map(Into::into),
                virtual_routes: v.virtual_routes,
                track_process: v.track_process,
                track_file: v.track_file,
                virtual_rules: v.virtual_rules,
                dont_track_primary: v.dont_track_primary,
                lower_prio_no_advert: v.lower_prio_no_advert,
                higher_prio_send_advert: v.higher_prio_send_advert,
                down_timer_adverts: v.down_timer_adverts,
                unicast_ttl: v.unicast_ttl,
                mcast_dst_ip: v.mcast_dst_ip,
                unicast_fault_no_peer: v.unicast_fault_no_peer,
                track_src_ip: v.track_src_ip,
                promote_secondaries: v.promote_secondaries,
                notify_master_rx_lower_pri: v.notify_master_rx_lower_pri,
                notify_deleted: v.notify_deleted,
                garp_extra_if: v.garp_extra_if,
                track_bfd: v.track_bfd,
                use_vmac_addr: false,
                ipvlan: None,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Global {
        pub router_id: Name,
        pub hostname: String<HOSTNAME>,
        pub time_servers: Vec<IpAddr, TIME_SERVERS>,
        pub syslog: Option<SyslogTarget>,
        pub watchdog: Watchdog,
        pub console_password: Option<PasswordHash>,
        pub enable_script_security: bool,
        pub script_user: Option<ScriptUser>,
        pub vrrp_strict: bool,
        pub lvs_flush: bool,
        pub lvs_sync_daemon: Option<LvsSyncDaemon>,
        pub lvs_timeouts: Option<LvsTimeouts>,
        pub supervision: Supervision,
        pub update_confirm_s: u16,
        pub updates: Updates,
        pub mail: Mail,
        pub static_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub static_routes: Vec<Route, ROUTES>,
        pub static_rules: Vec<Rule, ROUTES>,
        pub vrrp_startup_delay_ms: u32,
        pub lvs_flush_on_stop: Option<FlushOnStop>,
        pub startup_script: Option<HookScript>,
        pub shutdown_script: Option<HookScript>,
        pub ssl: Option<SslFiles>,
        pub rs_init_notifies: bool,
        pub no_checker_emails: bool,
        pub garp_interval_us: Option<u32>,
        pub gna_interval_us: Option<u32>,
        pub garp_groups: Vec<GarpGroup, GARP_GROUPS>,
        pub metrics_listen: Option<SocketAddr>,
        pub track_groups: Vec<TrackGroup, TRACK_GROUPS>,
        pub static_tracks: Vec<StaticTrack, STATIC_TRACKS>,
    }

    impl From<Global> for crate::model::Global {
        fn from(v: Global) -> Self {
            crate::model::Global {
                router_id: v.router_id,
                hostname: v.hostname,
                time_servers: v.time_servers,
                syslog: v.syslog,
                watchdog: v.watchdog,
                console_password: v.console_password,
                enable_script_security: v.enable_script_security,
                script_user: v.script_user,
                vrrp_strict: v.vrrp_strict,
                lvs_flush: v.lvs_flush,
                lvs_sync_daemon: v.lvs_sync_daemon,
                lvs_timeouts: v.lvs_timeouts,
                supervision: v.supervision,
                update_confirm_s: v.update_confirm_s,
                updates: v.updates,
                mail: v.mail,
                static_ipaddress: v.static_ipaddress.map(Into::into),
                static_routes: v.static_routes,
                static_rules: v.static_rules,
                vrrp_startup_delay_ms: v.vrrp_startup_delay_ms,
                lvs_flush_on_stop: v.lvs_flush_on_stop,
                startup_script: v.startup_script,
                shutdown_script: v.shutdown_script,
                ssl: v.ssl,
                rs_init_notifies: v.rs_init_notifies,
                no_checker_emails: v.no_checker_emails,
                garp_interval_us: v.garp_interval_us,
                gna_interval_us: v.gna_interval_us,
                garp_groups: v.garp_groups,
                metrics_listen: v.metrics_listen,
                track_groups: v.track_groups,
                static_tracks: v.static_tracks,
                vmac_addr_prefix: None,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
        pub vrrp_scripts: Vec<VrrpScript, VRRP_SCRIPTS>,
        pub track_processes: Vec<TrackProcess, VRRP_SCRIPTS>,
        pub track_files: Vec<TrackFile, VRRP_SCRIPTS>,
        pub virtual_server_groups: Vec<VirtualServerGroup, VS_GROUPS>,
        pub bfd_instances: Vec<BfdInstance, BFD_INSTANCES>,
    }

    impl From<Config> for crate::model::Config {
        fn from(v: Config) -> Self {
            crate::model::Config {
                global: v.global.into(),
                interfaces: v.interfaces,
                vrrp_instances: v.vrrp_instances.map(Into::into),
                sync_groups: v.sync_groups,
                virtual_servers: v.virtual_servers,
                vrrp_scripts: v.vrrp_scripts,
                track_processes: v.track_processes,
                track_files: v.track_files,
                virtual_server_groups: v.virtual_server_groups,
                bfd_instances: v.bfd_instances,
            }
        }
    }
}

/// Schema 13: instances had no `use_ipvlan` (see [`SCHEMA`]).
pub mod v13 {
    use crate::bounded::Bounded as Vec;
    use crate::model::limits::*;
    use crate::model::*;
    use core::net::IpAddr;
    use heapless::String;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VrrpInstance {
        pub name: Name,
        pub version: u8,
        pub state: VrrpState,
        pub interface: IfName,
        pub virtual_router_id: u8,
        pub priority: u8,
        pub advert_int_cs: u16,
        pub virtual_ipaddress: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub unicast_src_ip: Option<IpAddr>,
        pub unicast_peer: Vec<IpAddr, UNICAST_PEERS>,
        pub preempt: bool,
        pub preempt_delay_s: u16,
        pub auth_pass: Option<String<AUTH_PASS>>,
        pub vmac: Option<Vmac>,
        pub accept: bool,
        pub track_interface: Vec<Track, TRACKS>,
        pub track_script: Vec<TrackScript, TRACKS>,
        pub notify: Notify,
        pub garp: Garp,
        pub skip_check_adv_addr: bool,
        pub smtp_alert: Option<bool>,
        pub virtual_ipaddress_excluded: Vec<VirtualAddress, VIRTUAL_ADDRESSES>,
        pub virtual_routes: Vec<Route, ROUTES>,
        pub track_process: Vec<TrackScript, TRACKS>,
        pub track_file: Vec<TrackScript, TRACKS>,
        pub virtual_rules: Vec<Rule, ROUTES>,
        pub dont_track_primary: bool,
        pub lower_prio_no_advert: bool,
        pub higher_prio_send_advert: bool,
        pub down_timer_adverts: u8,
        pub unicast_ttl: u8,
        pub mcast_dst_ip: Option<IpAddr>,
        pub unicast_fault_no_peer: bool,
        pub track_src_ip: bool,
        pub promote_secondaries: bool,
        pub notify_master_rx_lower_pri: Option<PathText>,
        pub notify_deleted: Option<Option<PathText>>,
        pub garp_extra_if: Option<(u32, bool)>,
        pub track_bfd: Vec<TrackScript, TRACKS>,
        pub use_vmac_addr: bool,
    }

    impl From<VrrpInstance> for crate::model::VrrpInstance {
        fn from(v: VrrpInstance) -> Self {
            crate::model::VrrpInstance {
                name: v.name,
                version: v.version,
                state: v.state,
                interface: v.interface,
                virtual_router_id: v.virtual_router_id,
                priority: v.priority,
                advert_int_cs: v.advert_int_cs,
                virtual_ipaddress: v.virtual_ipaddress,
                unicast_src_ip: v.unicast_src_ip,
                unicast_peer: v.unicast_peer,
                preempt: v.preempt,
                preempt_delay_s: v.preempt_delay_s,
                auth_pass: v.auth_pass,
                vmac: v.vmac,
                accept: v.accept,
                track_interface: v.track_interface,
                track_script: v.track_script,
                notify: v.notify,
                garp: v.garp,
                skip_check_adv_addr: v.skip_check_adv_addr,
                smtp_alert: v.smtp_alert,
                virtual_ipaddress_excluded: v.virtual_ipaddress_excluded,
                virtual_routes: v.virtual_routes,
                track_process: v.track_process,
                track_file: v.track_file,
                virtual_rules: v.virtual_rules,
                dont_track_primary: v.dont_track_primary,
                lower_prio_no_advert: v.lower_prio_no_advert,
                higher_prio_send_advert: v.higher_prio_send_advert,
                down_timer_adverts: v.down_timer_adverts,
                unicast_ttl: v.unicast_ttl,
                mcast_dst_ip: v.mcast_dst_ip,
                unicast_fault_no_peer: v.unicast_fault_no_peer,
                track_src_ip: v.track_src_ip,
                promote_secondaries: v.promote_secondaries,
                notify_master_rx_lower_pri: v.notify_master_rx_lower_pri,
                notify_deleted: v.notify_deleted,
                garp_extra_if: v.garp_extra_if,
                track_bfd: v.track_bfd,
                use_vmac_addr: v.use_vmac_addr,
                ipvlan: None,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Config {
        pub global: Global,
        pub interfaces: Vec<Interface, INTERFACES>,
        pub vrrp_instances: Vec<VrrpInstance, VRRP_INSTANCES>,
        pub sync_groups: Vec<SyncGroup, SYNC_GROUPS>,
        pub virtual_servers: Vec<VirtualServer, VIRTUAL_SERVERS>,
        pub vrrp_scripts: Vec<VrrpScript, VRRP_SCRIPTS>,
        pub track_processes: Vec<TrackProcess, VRRP_SCRIPTS>,
        pub track_files: Vec<TrackFile, VRRP_SCRIPTS>,
        pub virtual_server_groups: Vec<VirtualServerGroup, VS_GROUPS>,
        pub bfd_instances: Vec<BfdInstance, BFD_INSTANCES>,
    }

    impl From<Config> for crate::model::Config {
        fn from(v: Config) -> Self {
            crate::model::Config {
                global: v.global,
                interfaces: v.interfaces,
                vrrp_instances: v.vrrp_instances.map(Into::into),
                sync_groups: v.sync_groups,
                virtual_servers: v.virtual_servers,
                vrrp_scripts: v.vrrp_scripts,
                track_processes: v.track_processes,
                track_files: v.track_files,
                virtual_server_groups: v.virtual_server_groups,
                bfd_instances: v.bfd_instances,
            }
        }
    }
}
