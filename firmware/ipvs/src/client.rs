//! A generic netlink client for the kernel's `IPVS` family: blocking calls
//! on a private socket, each one request and its replies. Errors from the
//! kernel come back with what was asked and what the errno means there.

use crate::genl::{self, Attr, attr, cmd};
use crate::reconcile::Op;
use crate::table::{Dest, Service, ServiceKey, Table};
use neli::consts::genl::{CtrlAttr, CtrlCmd};
use neli::consts::nl::{GenlId, NlmF};
use neli::consts::socket::NlFamily;
use neli::genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, NlattrBuilder};
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::socket::synchronous::NlSocketHandle;
use neli::types::GenlBuffer;
use neli::utils::Groups;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The socket or the message itself failed.
    Netlink(String),
    /// No IPVS family: the ip_vs module is not loaded.
    NoIpvs,
    /// The kernel refused `what` with this errno.
    Kernel { what: String, errno: i32 },
}

impl Error {
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Netlink(m) => write!(f, "IPVS netlink: {m}"),
            Error::NoIpvs => write!(f, "the kernel has no IPVS (module ip_vs not loaded)"),
            Error::Kernel { what, errno } => {
                let why = match *errno {
                    libc::EEXIST => "it exists already",
                    libc::ESRCH => "no such service",
                    libc::ENOENT => "no such entry, or the scheduler's module (ip_vs_<name>) is not loaded",
                    libc::EINVAL => "invalid arguments",
                    libc::EPERM => "not permitted (CAP_NET_ADMIN needed)",
                    libc::EAFNOSUPPORT => "address family not supported (no IPv6 in IPVS?)",
                    libc::EBUSY => "busy (a sync daemon is already running in that state)",
                    _ => "",
                };
                let text = std::io::Error::from_raw_os_error(*errno);
                if why.is_empty() { write!(f, "{what}: {text}") } else { write!(f, "{what}: {why} ({text})") }
            }
        }
    }
}

impl std::error::Error for Error {}

fn nl(e: impl fmt::Display) -> Error {
    Error::Netlink(e.to_string())
}

pub struct Client {
    sock: NlSocketHandle,
    family: u16,
}

/// What GET_INFO tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// e.g. 0x010201 for 1.2.1.
    pub version: u32,
    pub conn_tab_size: u32,
}

impl Info {
    pub fn version_text(&self) -> String {
        format!("{}.{}.{}", self.version >> 16, (self.version >> 8) & 0xff, self.version & 0xff)
    }
}

/// A connection-sync daemon as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    /// genl::daemon::MASTER or BACKUP.
    pub state: u32,
    pub interface: String,
    pub sync_id: u32,
}

type Reply = Genlmsghdr<u8, u16>;

impl Client {
    pub fn open() -> Result<Client, Error> {
        let sock = NlSocketHandle::connect(NlFamily::Generic, None, Groups::empty()).map_err(nl)?;
        let family = resolve(&sock)?;
        Ok(Client { sock, family })
    }

    /// Sends one command and collects the replies' attributes (one list per
    /// message; none for a plain acknowledgement).
    fn request(&mut self, what: impl Fn() -> String, c: u8, attrs: Vec<Attr>, dump: bool) -> Result<Vec<Reply>, Error> {
        let genl = GenlmsghdrBuilder::default()
            .cmd(c)
            .version(genl::VERSION)
            .attrs(attrs.into_iter().collect::<GenlBuffer<u16, _>>())
            .build()
            .map_err(nl)?;
        let flags = if dump { NlmF::DUMP | NlmF::ACK } else { NlmF::ACK };
        let msg = NlmsghdrBuilder::default()
            .nl_type(self.family)
            .nl_flags(NlmF::REQUEST | flags)
            .nl_payload(NlPayload::Payload(genl))
            .build()
            .map_err(nl)?;
        self.sock.send(&msg).map_err(nl)?;
        let mut out = Vec::new();
        loop {
            let (msgs, _) = self.sock.recv::<u16, Reply>().map_err(nl)?;
            for m in msgs {
                let m = m.map_err(nl)?;
                if *m.nl_type() == libc::NLMSG_DONE as u16 {
                    return Ok(out);
                }
                match m.nl_payload() {
                    NlPayload::Payload(p) => out.push(p.clone()),
                    NlPayload::Ack(_) if !dump => return Ok(out),
                    NlPayload::Err(e) => return Err(Error::Kernel { what: what(), errno: -*e.error() }),
                    _ => {}
                }
            }
        }
    }

    pub fn info(&mut self) -> Result<Info, Error> {
        let r = self.request(|| "reading IPVS info".into(), cmd::GET_INFO, Vec::new(), false)?;
        let attrs = r.first().map(top).unwrap_or_default();
        Ok(Info {
            version: genl::get_u32(&attrs, genl::info::VERSION).unwrap_or(0),
            conn_tab_size: genl::get_u32(&attrs, genl::info::CONN_TAB_SIZE).unwrap_or(0),
        })
    }

    pub fn services(&mut self) -> Result<Vec<Service>, Error> {
        let r = self.request(|| "listing services".into(), cmd::GET_SERVICE, Vec::new(), true)?;
        Ok(r.iter().filter_map(|m| nested_of(m, attr::SERVICE)).filter_map(|a| genl::parse_service(&a)).collect())
    }

    pub fn dests(&mut self, k: &ServiceKey) -> Result<Vec<Dest>, Error> {
        let r = self.request(|| format!("listing {k}'s destinations"), cmd::GET_DEST, vec![svc_key(k)?], true)?;
        let v6 = k.is_ipv6();
        Ok(r.iter().filter_map(|m| nested_of(m, attr::DEST)).filter_map(|a| genl::parse_dest(&a, v6)).collect())
    }

    /// The whole table: every service with its destinations.
    pub fn table(&mut self) -> Result<Table, Error> {
        let mut t = Table::default();
        for s in self.services()? {
            let k = s.key;
            t.add_service(s);
            let dests = self.dests(&k)?;
            t.set_dests(k, dests);
        }
        Ok(t)
    }

    pub fn apply(&mut self, op: &Op) -> Result<(), Error> {
        let e = |e: genl::EncodeError| nl(e);
        let (c, attrs, what) = match op {
            Op::AddService(s) => (cmd::NEW_SERVICE, vec![genl::service(s).map_err(e)?], format!("adding {}", s.key)),
            Op::EditService(s) => (cmd::SET_SERVICE, vec![genl::service(s).map_err(e)?], format!("changing {}", s.key)),
            Op::DelService(k) => (cmd::DEL_SERVICE, vec![svc_key(k)?], format!("removing {k}")),
            Op::AddDest(k, d) => {
                (cmd::NEW_DEST, vec![svc_key(k)?, genl::dest(d).map_err(e)?], format!("adding {} to {k}", d.key))
            }
            Op::EditDest(k, d) => {
                (cmd::SET_DEST, vec![svc_key(k)?, genl::dest(d).map_err(e)?], format!("changing {} in {k}", d.key))
            }
            Op::DelDest(k, d) => {
                (cmd::DEL_DEST, vec![svc_key(k)?, genl::dest_key(d).map_err(e)?], format!("removing {d} from {k}"))
            }
        };
        self.request(|| what.clone(), c, attrs, false).map(drop)
    }

    /// Removes every service (and so every destination).
    pub fn flush(&mut self) -> Result<(), Error> {
        self.request(|| "flushing the table".into(), cmd::FLUSH, Vec::new(), false).map(drop)
    }

    /// (tcp, tcpfin, udp) connection timeouts in seconds.
    pub fn timeouts(&mut self) -> Result<(u32, u32, u32), Error> {
        let r = self.request(|| "reading timeouts".into(), cmd::GET_CONFIG, Vec::new(), false)?;
        let a = r.first().map(top).unwrap_or_default();
        let g = |t| genl::get_u32(&a, t).unwrap_or(0);
        Ok((g(attr::TIMEOUT_TCP), g(attr::TIMEOUT_TCP_FIN), g(attr::TIMEOUT_UDP)))
    }

    /// Sets the timeouts; 0 leaves one unchanged (as ipvsadm --set).
    pub fn set_timeouts(&mut self, tcp: u32, tcpfin: u32, udp: u32) -> Result<(), Error> {
        let e = |e: genl::EncodeError| nl(e);
        let attrs = vec![
            genl::u32_attr(attr::TIMEOUT_TCP, tcp).map_err(e)?,
            genl::u32_attr(attr::TIMEOUT_TCP_FIN, tcpfin).map_err(e)?,
            genl::u32_attr(attr::TIMEOUT_UDP, udp).map_err(e)?,
        ];
        self.request(|| "setting timeouts".into(), cmd::SET_CONFIG, attrs, false).map(drop)
    }

    /// Starts the connection-sync daemon in `state` (MASTER or BACKUP).
    pub fn start_daemon(&mut self, d: &SyncDaemon) -> Result<(), Error> {
        let e = |e: genl::EncodeError| nl(e);
        let inner = vec![
            genl::u32_attr(genl::daemon::STATE, d.state).map_err(e)?,
            genl::str_attr(genl::daemon::MCAST_IFN, &d.interface).map_err(e)?,
            genl::u32_attr(genl::daemon::SYNC_ID, d.sync_id).map_err(e)?,
        ];
        let a = genl::nested(attr::DAEMON, &inner).map_err(e)?;
        let what = format!("starting the sync daemon ({}, {})", state_name(d.state), d.interface);
        self.request(|| what.clone(), cmd::NEW_DAEMON, vec![a], false).map(drop)
    }

    pub fn stop_daemon(&mut self, state: u32) -> Result<(), Error> {
        let e = |e: genl::EncodeError| nl(e);
        let a = genl::nested(attr::DAEMON, &[genl::u32_attr(genl::daemon::STATE, state).map_err(e)?]).map_err(e)?;
        let what = format!("stopping the sync daemon ({})", state_name(state));
        self.request(|| what.clone(), cmd::DEL_DAEMON, vec![a], false).map(drop)
    }

    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>, Error> {
        let r = self.request(|| "listing sync daemons".into(), cmd::GET_DAEMON, Vec::new(), true)?;
        Ok(r.iter()
            .filter_map(|m| nested_of(m, attr::DAEMON))
            .map(|a| SyncDaemon {
                state: genl::get_u32(&a, genl::daemon::STATE).unwrap_or(0),
                interface: genl::get_string(&a, genl::daemon::MCAST_IFN).unwrap_or_default(),
                sync_id: genl::get_u32(&a, genl::daemon::SYNC_ID).unwrap_or(0),
            })
            .collect())
    }
}

pub fn state_name(state: u32) -> &'static str {
    match state {
        genl::daemon::MASTER => "master",
        genl::daemon::BACKUP => "backup",
        _ => "?",
    }
}

fn svc_key(k: &ServiceKey) -> Result<Attr, Error> {
    genl::service_key(k).map_err(nl)
}

/// A reply's top-level attributes.
fn top(m: &Reply) -> Vec<(u16, Vec<u8>)> {
    m.attrs().iter().map(|a| (*a.nla_type().nla_type(), a.nla_payload().as_ref().to_vec())).collect()
}

/// The attributes nested in a reply's attribute of type `ty`.
fn nested_of(m: &Reply, ty: u16) -> Option<Vec<(u16, Vec<u8>)>> {
    m.attrs().iter().find(|a| *a.nla_type().nla_type() == ty).map(genl::children)
}

/// The IPVS family's id, from the generic netlink controller.
fn resolve(sock: &NlSocketHandle) -> Result<u16, Error> {
    let name = NlattrBuilder::default()
        .nla_type(AttrTypeBuilder::default().nla_type(CtrlAttr::FamilyName).build().map_err(nl)?)
        .nla_payload(genl::FAMILY)
        .build()
        .map_err(nl)?;
    let genl = GenlmsghdrBuilder::default()
        .cmd(CtrlCmd::Getfamily)
        .version(2)
        .attrs(std::iter::once(name).collect::<GenlBuffer<_, _>>())
        .build()
        .map_err(nl)?;
    let msg = NlmsghdrBuilder::default()
        .nl_type(GenlId::Ctrl)
        .nl_flags(NlmF::REQUEST | NlmF::ACK)
        .nl_payload(NlPayload::Payload(genl))
        .build()
        .map_err(nl)?;
    sock.send(&msg).map_err(nl)?;
    let mut id = None;
    loop {
        let (msgs, _) = sock.recv::<GenlId, Genlmsghdr<CtrlCmd, CtrlAttr>>().map_err(nl)?;
        for m in msgs {
            let m = m.map_err(nl)?;
            match m.nl_payload() {
                NlPayload::Payload(p) => {
                    id = p.attrs().get_attr_handle().get_attr_payload_as::<u16>(CtrlAttr::FamilyId).ok();
                }
                NlPayload::Ack(_) => return id.ok_or(Error::NoIpvs),
                NlPayload::Err(e) if -*e.error() == libc::ENOENT => return Err(Error::NoIpvs),
                NlPayload::Err(e) => {
                    return Err(Error::Kernel { what: "looking up the IPVS family".into(), errno: -*e.error() });
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn kernel_errors_say_what_was_asked_and_what_it_means() {
        let e = Error::Kernel { what: "adding TCP 10.0.0.1:80".into(), errno: libc::EEXIST };
        assert_eq!(e.to_string(), "adding TCP 10.0.0.1:80: it exists already (File exists (os error 17))");
        let e = Error::Kernel { what: "adding TCP 10.0.0.1:80".into(), errno: libc::ENOENT };
        assert!(e.to_string().contains("the scheduler's module (ip_vs_<name>) is not loaded"), "{e}");
        assert_eq!(Error::NoIpvs.to_string(), "the kernel has no IPVS (module ip_vs not loaded)");
        assert_eq!(e.errno(), Some(libc::ENOENT));
    }
}
