//! VRRP's `no_accept` mode in the kernel's nf_tables: a master that does not
//! own its virtual addresses must not take packets sent to them (RFC 5798
//! 6.1 Accept_Mode false); it still answers ARP (not IP, so not filtered)
//! and IPv6 neighbour solicitations, and routes.
//!
//! Two tables named `vigil` (families ip and ip6), each with one base chain
//! `no_accept` on the input hook, hold one drop rule per guarded address.
//! Every change replaces both tables in one batch (create, delete, create
//! anew with the current rules), which the kernel applies atomically: there
//! is no moment with half a rule set. With nothing to guard the tables are
//! deleted. Messages are netfilter netlink (NFNL_SUBSYS_NFTABLES), encoded
//! here: neli has no nf_tables types, and there is no pure-Rust crate for it
//! that does not call the `nft` binary or libnftnl.

use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_ERROR: u16 = 2;

const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
const NF_INET_LOCAL_IN: u32 = 1;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_META_L4PROTO: u32 = 16;
const IPPROTO_ICMPV6: u8 = 58;

pub const TABLE: &str = "vigil";
const CHAIN: &str = "no_accept";

/// Netlink attributes into a byte buffer; nests patch their length in.
#[derive(Default)]
struct Attrs(Vec<u8>);

impl Attrs {
    fn put(&mut self, ty: u16, payload: &[u8]) -> &mut Self {
        let len = 4 + payload.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(payload);
        self.pad();
        self
    }
    fn str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.put(ty, &b)
    }
    fn be32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }
    fn nest(&mut self, ty: u16, inner: impl FnOnce(&mut Attrs)) -> &mut Self {
        let mut a = Attrs::default();
        inner(&mut a);
        self.put(ty | NLA_F_NESTED, &a.0)
    }
    fn pad(&mut self) {
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
    }
}

/// One nf_tables expression in a rule's expression list.
fn expr(list: &mut Attrs, name: &str, data: impl FnOnce(&mut Attrs)) {
    const NFTA_LIST_ELEM: u16 = 1;
    const NFTA_EXPR_NAME: u16 = 1;
    const NFTA_EXPR_DATA: u16 = 2;
    list.nest(NFTA_LIST_ELEM, |e| {
        e.str(NFTA_EXPR_NAME, name).nest(NFTA_EXPR_DATA, data);
    });
}

/// Loads `len` bytes at `offset` of a header into register 1.
fn payload(list: &mut Attrs, base: u32, offset: u32, len: u32) {
    expr(list, "payload", |d| {
        d.be32(1, NFT_REG_1).be32(2, base).be32(3, offset).be32(4, len);
    });
}

/// Register 1 equals `value` (else the rule stops here).
fn cmp_eq(list: &mut Attrs, value: &[u8]) {
    expr(list, "cmp", |d| {
        d.be32(1, NFT_REG_1).be32(2, 0).nest(3, |v| {
            v.put(1, value);
        });
    });
}

fn verdict(list: &mut Attrs, code: u32) {
    expr(list, "immediate", |d| {
        d.be32(1, NFT_REG_VERDICT).nest(2, |data| {
            data.nest(2, |v| {
                v.be32(1, code);
            });
        });
    });
}

/// The expression lists of the rules guarding one address: for IPv6,
/// neighbour solicitations and advertisements to it are let through first.
fn rules_for(addr: IpAddr) -> Vec<Attrs> {
    let mut rules = Vec::new();
    match addr {
        IpAddr::V4(a) => {
            let mut r = Attrs::default();
            payload(&mut r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4);
            cmp_eq(&mut r, &a.octets());
            verdict(&mut r, NF_DROP);
            rules.push(r);
        }
        IpAddr::V6(a) => {
            for nd_type in [135u8, 136] {
                let mut r = Attrs::default();
                payload(&mut r, NFT_PAYLOAD_NETWORK_HEADER, 24, 16);
                cmp_eq(&mut r, &a.octets());
                expr(&mut r, "meta", |d| {
                    d.be32(1, NFT_REG_1).be32(2, NFT_META_L4PROTO);
                });
                cmp_eq(&mut r, &[IPPROTO_ICMPV6]);
                payload(&mut r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
                cmp_eq(&mut r, &[nd_type]);
                verdict(&mut r, NF_ACCEPT);
                rules.push(r);
            }
            let mut r = Attrs::default();
            payload(&mut r, NFT_PAYLOAD_NETWORK_HEADER, 24, 16);
            cmp_eq(&mut r, &a.octets());
            verdict(&mut r, NF_DROP);
            rules.push(r);
        }
    }
    rules
}

/// The whole batch that makes the kernel's tables match `guarded`.
/// Returns the bytes and the sequence number of the last message.
pub fn batch(guarded: &BTreeSet<IpAddr>, seq0: u32) -> (Vec<u8>, u32) {
    let mut out = Vec::new();
    let mut seq = seq0;
    let mut msg = |out: &mut Vec<u8>, ty: u16, flags: u16, family: u8, attrs: &Attrs| {
        seq = seq.wrapping_add(1);
        let len = 16 + 4 + attrs.0.len();
        out.extend_from_slice(&(len as u32).to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: family, version 0, resource id (the subsystem, for batches).
        out.push(family);
        out.push(0);
        let res = if ty == NFNL_MSG_BATCH_BEGIN || ty == NFNL_MSG_BATCH_END { NFNL_SUBSYS_NFTABLES } else { 0 };
        out.extend_from_slice(&res.to_be_bytes());
        out.extend_from_slice(&attrs.0);
        seq
    };
    let nft = |m: u16| (NFNL_SUBSYS_NFTABLES << 8) | m;
    let mut table = Attrs::default();
    table.str(1, TABLE);
    msg(&mut out, NFNL_MSG_BATCH_BEGIN, 0, 0, &Attrs::default());
    let mut last = 0;
    for family in [NFPROTO_IPV4, NFPROTO_IPV6] {
        let mine: Vec<IpAddr> = guarded.iter().copied().filter(|a| a.is_ipv4() == (family == NFPROTO_IPV4)).collect();
        // Create (so the delete cannot fail), delete: the table is gone,
        // whatever it held.
        msg(&mut out, nft(NFT_MSG_NEWTABLE), NLM_F_CREATE | NLM_F_ACK, family, &table);
        last = msg(&mut out, nft(NFT_MSG_DELTABLE), NLM_F_ACK, family, &table);
        if mine.is_empty() {
            continue;
        }
        msg(&mut out, nft(NFT_MSG_NEWTABLE), NLM_F_CREATE | NLM_F_ACK, family, &table);
        let mut chain = Attrs::default();
        chain
            .str(1, TABLE)
            .str(3, CHAIN)
            .nest(4, |h| {
                // Priority -1, as keepalived: before the usual filter chains.
                h.be32(1, NF_INET_LOCAL_IN).be32(2, (-1i32) as u32);
            })
            .be32(5, NF_ACCEPT)
            .str(7, "filter");
        last = msg(&mut out, nft(NFT_MSG_NEWCHAIN), NLM_F_CREATE | NLM_F_ACK, family, &chain);
        for a in mine {
            for exprs in rules_for(a) {
                let mut rule = Attrs::default();
                rule.str(1, TABLE).str(2, CHAIN).nest(4, |l| l.0.extend_from_slice(&exprs.0));
                last = msg(&mut out, nft(NFT_MSG_NEWRULE), NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, family, &rule);
            }
        }
    }
    msg(&mut out, NFNL_MSG_BATCH_END, 0, 0, &Attrs::default());
    (out, last)
}

/// The addresses guarded now, and a socket to the kernel's nf_tables.
#[derive(Default)]
pub struct NoAccept {
    guarded: BTreeSet<IpAddr>,
    seq: u32,
    /// The kernel holds tables of ours (so an empty set must be applied).
    installed: bool,
}

impl NoAccept {
    /// Guards (`on`) or releases the addresses, then brings the kernel in line.
    pub fn set(&mut self, addrs: impl IntoIterator<Item = IpAddr>, on: bool) -> io::Result<()> {
        let before = self.guarded.clone();
        for a in addrs {
            if on {
                self.guarded.insert(a);
            } else {
                self.guarded.remove(&a);
            }
        }
        if before == self.guarded && (self.installed || self.guarded.is_empty()) {
            return Ok(());
        }
        let (bytes, last) = batch(&self.guarded, self.seq);
        self.seq = last.wrapping_add(2);
        let r = send(&bytes, last);
        if r.is_ok() {
            self.installed = !self.guarded.is_empty();
        }
        r
    }

    pub fn guarded(&self) -> &BTreeSet<IpAddr> {
        &self.guarded
    }
}

/// Sends one batch and waits for the kernel's answer to its last message
/// (an error on any message aborts the whole batch and comes back first).
fn send(bytes: &[u8], last: u32) -> io::Result<()> {
    use nix::sys::socket::{
        AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto, setsockopt, socket,
        sockopt,
    };
    let fd: OwnedFd =
        socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkNetFilter)?;
    setsockopt(&fd, sockopt::ReceiveTimeout, &nix::sys::time::TimeVal::new(2, 0))?;
    sendto(fd.as_raw_fd(), bytes, &NetlinkAddr::new(0, 0), MsgFlags::empty())?;
    let mut buf = vec![0u8; 16384];
    loop {
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
        let mut b = &buf[..n];
        while b.len() >= 16 {
            let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
            let ty = u16::from_ne_bytes([b[4], b[5]]);
            let seq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
            if len < 16 || len > b.len() {
                return Err(io::Error::other("nf_tables: malformed reply"));
            }
            if ty == NLMSG_ERROR && len >= 20 {
                let errno = i32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
                if errno != 0 {
                    return Err(io::Error::from_raw_os_error(-errno));
                }
                if seq == last {
                    return Ok(());
                }
            }
            b = &b[len.next_multiple_of(4).min(b.len())..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks netlink messages and checks every length adds up.
    fn messages(b: &[u8]) -> Vec<(u16, u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut b = b;
        while !b.is_empty() {
            let len = u32::from_ne_bytes(b[..4].try_into().unwrap()) as usize;
            assert!(len >= 20 && len <= b.len() && len.is_multiple_of(4), "message length {len}");
            out.push((u16::from_ne_bytes([b[4], b[5]]), b[16], b[20..len].to_vec()));
            b = &b[len..];
        }
        out
    }

    fn attrs_ok(mut b: &[u8]) {
        while !b.is_empty() {
            let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
            let ty = u16::from_ne_bytes([b[2], b[3]]);
            assert!(len >= 4 && len <= b.len(), "attribute length {len}");
            if ty & NLA_F_NESTED != 0 {
                attrs_ok(&b[4..len]);
            }
            b = &b[len.next_multiple_of(4).min(b.len())..];
        }
    }

    #[test]
    fn a_batch_replaces_both_tables_and_holds_one_rule_per_guard() {
        let set: BTreeSet<IpAddr> = ["192.0.2.100".parse().unwrap(), "2001:db8::100".parse().unwrap()].into();
        let (bytes, _) = batch(&set, 0);
        let msgs = messages(&bytes);
        let types: Vec<u16> = msgs.iter().map(|m| m.0 & 0xff).collect();
        // begin; ip: new, del, new, chain, 1 rule; ip6: new, del, new, chain, 3 rules; end.
        assert_eq!(types, [0x10, 0, 2, 0, 3, 6, 0, 2, 0, 3, 6, 6, 6, 0x11]);
        assert_eq!(msgs[5].1, NFPROTO_IPV4);
        assert_eq!(msgs[12].1, NFPROTO_IPV6);
        for m in &msgs {
            attrs_ok(&m.2);
        }
        // The IPv4 rule compares the destination address at offset 16.
        let rule = &msgs[5].2;
        assert!(rule.windows(4).any(|w| w == [192, 0, 2, 100]));
    }

    #[test]
    fn nothing_guarded_deletes_the_tables() {
        let (bytes, _) = batch(&BTreeSet::new(), 7);
        let types: Vec<u16> = messages(&bytes).iter().map(|m| m.0 & 0xff).collect();
        assert_eq!(types, [0x10, 0, 2, 0, 2, 0x11]);
    }
}
