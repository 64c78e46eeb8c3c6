//! Arbitrary bytes as a VRRP packet from IPv4 and IPv6 sources: parse must
//! return an error or a Repr, never panic; what a parsed Repr emits parses
//! back to the same Repr (bytes may differ: reserved bits are ignored on
//! receive and sent as zero).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use vigil_vrrp::wire::{Packet, Repr};

fuzz_target!(|data: &[u8]| {
    let pairs: [(IpAddr, IpAddr); 2] = [
        ("10.0.0.2".parse().unwrap(), "224.0.0.18".parse().unwrap()),
        ("fe80::2".parse().unwrap(), "ff02::12".parse().unwrap()),
    ];
    for (src, dst) in pairs {
        if let Ok(p) = Packet::new_checked(data) {
            if let Ok(r) = Repr::parse(&p, src, dst) {
                let bytes = r.emit(src, dst).expect("emit");
                let again = Repr::parse(&Packet::new_checked(&bytes[..]).expect("header"), src, dst).expect("parse");
                assert_eq!(again, r);
            }
        }
    }
});
