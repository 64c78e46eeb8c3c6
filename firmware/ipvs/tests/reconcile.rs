//! The reconciler against a table in memory standing in for the kernel's
//! (the ops are applied with `Op::apply_to`, as the kernel would).

use vigil_ipvs::{Dest, DestKey, Forward, Op, Owned, Proto, Service, ServiceKey, Table, plan};

fn key(last: u8, port: u16) -> ServiceKey {
    ServiceKey::Addr { proto: Proto::Tcp, addr: format!("192.0.2.{last}").parse().unwrap(), port }
}

fn dest(last: u8, weight: u32) -> Dest {
    Dest::new(format!("10.0.0.{last}").parse().unwrap(), 80, weight, Forward::Masq)
}

/// n services x m destinations.
fn table(n: u8, m: u8) -> Table {
    let mut t = Table::default();
    for s in 1..=n {
        t.add_service(Service::new(key(s, 80), "rr"));
        for d in 1..=m {
            t.add_dest(key(s, 80), dest(d, 1));
        }
    }
    t
}

/// Plans, applies to `kernel`, records ownership; returns the ops.
fn reconcile(want: &Table, kernel: &mut Table, owned: &mut Owned) -> Vec<Op> {
    let ops = plan(want, kernel, owned);
    for op in &ops {
        op.apply_to(kernel);
        owned.record(op);
    }
    owned.adopt(want);
    ops
}

#[test]
fn from_empty_everything_is_added_and_a_second_pass_changes_nothing() {
    let want = table(3, 4);
    let mut kernel = Table::default();
    let mut owned = Owned::default();
    let ops = reconcile(&want, &mut kernel, &mut owned);
    assert_eq!(ops.iter().filter(|o| matches!(o, Op::AddService(_))).count(), 3);
    assert_eq!(ops.iter().filter(|o| matches!(o, Op::AddDest(..))).count(), 12);
    assert_eq!(kernel, want);
    assert_eq!(reconcile(&want, &mut kernel, &mut owned), [], "idempotent");
}

#[test]
fn a_reload_touches_only_what_changed() {
    let mut want = table(3, 4);
    let mut kernel = Table::default();
    let mut owned = Owned::default();
    reconcile(&want, &mut kernel, &mut owned);
    // One weight, one scheduler, one destination gone, one new.
    want.add_dest(key(1, 80), dest(2, 5));
    want.services.get_mut(&key(2, 80)).unwrap().0.scheduler = "wlc".into();
    want.services.get_mut(&key(3, 80)).unwrap().1.remove(&DestKey { addr: "10.0.0.4".parse().unwrap(), port: 80 });
    want.add_dest(key(3, 80), dest(9, 1));
    let ops = reconcile(&want, &mut kernel, &mut owned);
    assert_eq!(
        ops,
        [
            Op::EditDest(key(1, 80), dest(2, 5)),
            Op::EditService(Box::new(want.services[&key(2, 80)].0.clone())),
            Op::AddDest(key(3, 80), dest(9, 1)),
            Op::DelDest(key(3, 80), DestKey { addr: "10.0.0.4".parse().unwrap(), port: 80 }),
        ]
    );
    assert_eq!(kernel, want);
}

#[test]
fn entries_vigil_does_not_own_are_left_alone_unless_it_owns_the_table() {
    let want = table(1, 2);
    // The kernel already has a foreign service, and a foreign dest in ours.
    let mut kernel = Table::default();
    kernel.add_service(Service::new(key(99, 443), "rr"));
    kernel.add_dest(key(99, 443), dest(50, 1));
    kernel.add_service(Service::new(key(1, 80), "rr"));
    kernel.add_dest(key(1, 80), dest(50, 1));
    let mut owned = Owned::default();
    reconcile(&want, &mut kernel, &mut owned);
    assert!(kernel.services.contains_key(&key(99, 443)), "foreign service kept");
    assert_eq!(kernel.services[&key(1, 80)].1.len(), 3, "foreign destination kept");
    // Removing our service from the config removes it; the foreign one stays.
    let ops = reconcile(&Table::default(), &mut kernel, &mut owned);
    assert_eq!(ops, [Op::DelService(key(1, 80))]);
    // Owning the table: the foreign service goes too.
    owned.all = true;
    let ops = reconcile(&Table::default(), &mut kernel, &mut owned);
    assert_eq!(ops, [Op::DelService(key(99, 443))]);
    assert!(kernel.services.is_empty());
}

#[test]
fn persistence_fwmark_and_ipv6_services_compare_by_their_settings() {
    let mut want = Table::default();
    let fw = ServiceKey::Fwmark { mark: 7, v6: false };
    let mut s = Service::new(fw, "sh");
    s.timeout = 300;
    s.netmask_prefix = 24;
    want.add_service(s.clone());
    let v6 = ServiceKey::Addr { proto: Proto::Udp, addr: "2001:db8::1".parse().unwrap(), port: 53 };
    want.add_service(Service::new(v6, "rr"));
    want.add_dest(v6, Dest::new("2001:db8::2".parse().unwrap(), 53, 1, Forward::Route));
    let mut kernel = Table::default();
    let mut owned = Owned::default();
    reconcile(&want, &mut kernel, &mut owned);
    // The kernel reports PERSISTENT and HASHED in the flags: still the same.
    kernel.services.get_mut(&fw).unwrap().0.flags |= 0x1 | 0x2;
    assert_eq!(plan(&want, &kernel, &owned), []);
    // A new persistence granularity is an edit, not a re-add.
    s.netmask_prefix = 16;
    want.add_service(s.clone());
    assert_eq!(plan(&want, &kernel, &owned), [Op::EditService(Box::new(s))]);
}
