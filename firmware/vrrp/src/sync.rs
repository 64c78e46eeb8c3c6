//! Sync groups: instances that move together, as keepalived's
//! `vrrp_sync_group` (e.g. the outside and inside addresses of one router,
//! so traffic never enters through one node and leaves through another).
//!
//! - a member that becomes master takes the others with it;
//! - a master that falls back to backup takes the others with it;
//! - a member in FAULT of its own puts the whole group in FAULT, and the
//!   group leaves FAULT (as backups) only when no member has one.
//!
//! Pure: the caller owns the instances and tells the group what happened;
//! the group calls the members' `follow_*` / `set_group_fault` methods on
//! the caller's slice (with an accessor, so any list of routers will do).

use crate::instance::{Instance, State};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    /// Indices of the members in the caller's list of instances.
    pub members: Vec<usize>,
    /// The state every member agreed on last (for the group's notify).
    agreed: Option<State>,
}

impl Group {
    pub fn new(name: &str, members: Vec<usize>) -> Group {
        Group { name: name.to_string(), members, agreed: None }
    }

    pub fn contains(&self, i: usize) -> bool {
        self.members.contains(&i)
    }

    /// Member `i` moved to `to` (from a `StateChange` action): the others
    /// follow. Returns the members that were told to move (their actions
    /// are waiting in their queues, and may change state again).
    pub fn member_changed<T>(
        &self,
        now: Instant,
        i: usize,
        to: State,
        all: &mut [T],
        inst: impl Fn(&mut T) -> &mut Instance,
    ) -> Vec<usize> {
        let mut moved = Vec::new();
        if !self.contains(i) {
            return moved;
        }
        for &m in self.members.iter().filter(|&&m| m != i) {
            let Some(inst) = all.get_mut(m).map(&inst) else { continue };
            let before = inst.state();
            match to {
                State::Master => inst.follow_master(now),
                State::Backup => inst.follow_backup(now),
                State::Fault | State::Initialize => {}
            }
            if inst.state() != before {
                moved.push(m);
            }
        }
        moved
    }

    /// Re-derives the group fault from the members' own faults; call after
    /// any link or tracking change.
    pub fn update_fault<T>(&self, now: Instant, all: &mut [T], inst: impl Fn(&mut T) -> &mut Instance) {
        let mut any = false;
        for &m in &self.members {
            if let Some(inst) = all.get_mut(m).map(&inst) {
                any |= inst.own_fault();
            }
        }
        for &m in &self.members {
            if let Some(inst) = all.get_mut(m).map(&inst) {
                inst.set_group_fault(now, any);
            }
        }
    }

    /// When all members agree on a state that differs from the last one
    /// agreed: that state (for the group's notify), once.
    pub fn agreed_change(&mut self, states: impl IntoIterator<Item = State>) -> Option<State> {
        let mut it = states.into_iter();
        let first = it.next()?;
        if it.all(|s| s == first) && self.agreed != Some(first) {
            self.agreed = Some(first);
            return Some(first);
        }
        None
    }
}
