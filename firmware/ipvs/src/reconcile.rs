//! From the table the kernel holds to the one wanted, with the fewest
//! changes: an unchanged service or destination is never touched (so its
//! connections live on through any reload), a changed one is edited in
//! place rather than deleted and re-added, and entries vigil does not own
//! are left alone. Pure: the caller reads the kernel's table, applies the
//! ops, and records them in [`Owned`].

use crate::table::{Dest, DestKey, Dests, Service, ServiceKey, Table};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Boxed: a service is large and rare, a destination small and many
    /// (a plan of 40,000 ops is half the size).
    AddService(Box<Service>),
    EditService(Box<Service>),
    DelService(ServiceKey),
    AddDest(ServiceKey, Dest),
    EditDest(ServiceKey, Dest),
    DelDest(ServiceKey, DestKey),
}

impl Op {
    /// The same change on a table in memory (what the kernel does with it).
    pub fn apply_to(&self, t: &mut Table) {
        match self {
            Op::AddService(s) | Op::EditService(s) => {
                let dests = t.services.remove(&s.key).map(|(_, d)| d).unwrap_or_default();
                t.services.insert(s.key, (Service::clone(s), dests));
            }
            Op::DelService(k) => {
                t.services.remove(k);
            }
            Op::AddDest(k, d) | Op::EditDest(k, d) => {
                t.add_dest(*k, d.clone());
            }
            Op::DelDest(k, d) => {
                if let Some((_, dests)) = t.services.get_mut(k) {
                    dests.remove(d);
                }
            }
        }
    }
}

/// The entries vigil manages: those its config has asked for (created or
/// taken over). `all`: the config owns the whole table, and anything else
/// in it is removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owned {
    pub all: bool,
    services: BTreeSet<ServiceKey>,
    /// By service: a destination's key once, not with its service's beside
    /// it (37,298 destinations: 1.5 MB less), in a sorted `Vec` (a
    /// `BTreeSet`'s half-full nodes took twice that).
    dests: BTreeMap<ServiceKey, Keys>,
}

/// Destination keys, sorted, each once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Keys(Vec<DestKey>);

impl Keys {
    fn contains(&self, k: &DestKey) -> bool {
        self.0.binary_search(k).is_ok()
    }

    fn insert(&mut self, k: DestKey) {
        if let Err(i) = self.0.binary_search(&k) {
            self.0.insert(i, k);
        }
    }

    fn remove(&mut self, k: &DestKey) {
        if let Ok(i) = self.0.binary_search(k) {
            self.0.remove(i);
        }
    }

    fn extend(&mut self, keys: impl Iterator<Item = DestKey>) {
        self.0.extend(keys);
        self.0.sort_unstable();
        self.0.dedup();
        self.0.shrink_to_fit();
    }
}

impl Owned {
    pub fn owns_service(&self, k: &ServiceKey) -> bool {
        self.all || self.services.contains(k)
    }

    pub fn owns_dest(&self, s: &ServiceKey, d: &DestKey) -> bool {
        self.all || self.dests.get(s).is_some_and(|ds| ds.contains(d))
    }

    /// Records an op the kernel accepted.
    pub fn record(&mut self, op: &Op) {
        match op {
            Op::AddService(s) | Op::EditService(s) => {
                self.services.insert(s.key);
            }
            Op::DelService(k) => {
                self.services.remove(k);
                self.dests.remove(k);
            }
            Op::AddDest(k, d) | Op::EditDest(k, d) => {
                self.dests.entry(*k).or_default().insert(d.key);
            }
            Op::DelDest(k, d) => {
                if let Some(ds) = self.dests.get_mut(k) {
                    ds.remove(d);
                    if ds.0.is_empty() {
                        self.dests.remove(k);
                    }
                }
            }
        }
    }

    /// Gives back the room its lists grew into as ops were recorded.
    pub fn shrink_to_fit(&mut self) {
        for ds in self.dests.values_mut() {
            ds.0.shrink_to_fit();
        }
    }

    /// Takes over every wanted entry that is already in the kernel as
    /// wanted (no op was needed, but it is vigil's from now on).
    pub fn adopt(&mut self, want: &Table) {
        for (k, (_, dests)) in &want.services {
            self.adopt_service(*k, dests);
        }
    }

    /// The same for one wanted service.
    pub fn adopt_service(&mut self, k: ServiceKey, dests: &Dests) {
        self.services.insert(k);
        if !dests.is_empty() {
            self.dests.entry(k).or_default().extend(dests.keys().copied());
        }
    }
}

/// The ops that turn `have` into `want` as far as vigil may: service by
/// service ([`plan_service`]), then the services no longer wanted removed
/// ([`plan_removals`]).
pub fn plan(want: &Table, have: &Table, owned: &Owned) -> Vec<Op> {
    let mut ops = Vec::new();
    for (k, entry) in &want.services {
        ops.extend(plan_service(*k, entry, have.services.get(k), owned));
    }
    ops.extend(plan_removals(have, |k| want.services.contains_key(k), owned));
    ops
}

/// One wanted service: it added or edited, its destinations added or
/// edited, and only then those no longer wanted removed (if owned), so
/// that a service never runs short of destinations during a reload. A
/// service at a time: a caller that applies each service's ops before
/// planning the next never holds the whole plan (39,582 ops, 5 MB, at
/// keepalived issue #2318's shape).
pub fn plan_service(k: ServiceKey, want: &(Service, Dests), have: Option<&(Service, Dests)>, owned: &Owned) -> Vec<Op> {
    let (svc, dests) = want;
    let mut ops = Vec::new();
    match have {
        None => ops.push(Op::AddService(Box::new(svc.clone()))),
        Some((cur, _)) if !cur.same_settings(svc) => ops.push(Op::EditService(Box::new(svc.clone()))),
        Some(_) => {}
    }
    let have_dests = have.map(|(_, d)| d);
    for d in dests {
        match have_dests.and_then(|h| h.get(&d.key)) {
            None => ops.push(Op::AddDest(k, d.clone())),
            Some(cur) if !cur.same_settings(d) => ops.push(Op::EditDest(k, d.clone())),
            Some(_) => {}
        }
    }
    for dk in have_dests.into_iter().flat_map(|h| h.keys()) {
        if !dests.contains_key(dk) && owned.owns_dest(&k, dk) {
            ops.push(Op::DelDest(k, *dk));
        }
    }
    ops
}

/// The services of `have` that are not `wanted` and vigil owns: removed
/// (the kernel takes their destinations with them).
pub fn plan_removals(have: &Table, wanted: impl Fn(&ServiceKey) -> bool, owned: &Owned) -> Vec<Op> {
    have.services.keys().filter(|k| !wanted(k) && owned.owns_service(k)).map(|k| Op::DelService(*k)).collect()
}
