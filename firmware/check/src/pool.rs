//! One virtual server's pool from its real servers' verdicts: who is in
//! IPVS and with what weight, and whether the service has its quorum.
//!
//! keepalived's rules: a real server is alive when all its checkers say up
//! (one with no checker always is); a dead one leaves the pool, or stays at
//! weight 0 with `inhibit_on_failure` (existing connections drain, new ones
//! go elsewhere). The quorum is the sum of the alive servers' weights: it
//! is gained at `quorum + hysteresis` and lost below `quorum - hysteresis`;
//! without it the sorry server (if any) joins the pool.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Configured weight.
    pub weight: u32,
    /// Every checker says up (or there is none).
    pub alive: bool,
    /// A weight a MISC_CHECK (`misc_dynamic`) reported, replacing `weight`.
    pub dynamic_weight: Option<u32>,
    pub inhibit_on_failure: bool,
}

impl Member {
    pub fn live_weight(&self) -> u32 {
        if self.alive { self.dynamic_weight.unwrap_or(self.weight) } else { 0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    pub quorum: u32,
    pub hysteresis: u32,
}

/// The pool's state across updates (the quorum's hysteresis needs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub quorum: Quorum,
    has_quorum: bool,
}

/// What the pool should be: (member index, weight) in IPVS, and whether the
/// sorry server joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub members: Vec<(usize, u32)>,
    pub sorry: bool,
}

impl Pool {
    /// A new pool starts with its quorum (as keepalived: servers start up
    /// unless `alpha`, and the first update settles it).
    pub fn new(quorum: Quorum) -> Pool {
        Pool { quorum, has_quorum: true }
    }

    pub fn has_quorum(&self) -> bool {
        self.has_quorum
    }

    /// Recomputes the quorum from the members; returns the new state if it
    /// changed.
    pub fn update(&mut self, members: &[Member]) -> Option<bool> {
        let live: u64 = members.iter().map(|m| u64::from(m.live_weight())).sum();
        let q = u64::from(self.quorum.quorum);
        let h = u64::from(self.quorum.hysteresis);
        let before = self.has_quorum;
        if !self.has_quorum && live >= q + h && live > 0 {
            self.has_quorum = true;
        } else if self.has_quorum && (live == 0 || live < q.saturating_sub(h)) {
            self.has_quorum = false;
        }
        (self.has_quorum != before).then_some(self.has_quorum)
    }

    pub fn wanted(&self, members: &[Member]) -> Wanted {
        let members = members
            .iter()
            .enumerate()
            .filter_map(|(i, m)| match (m.alive, m.inhibit_on_failure) {
                (true, _) => Some((i, m.live_weight())),
                (false, true) => Some((i, 0)),
                (false, false) => None,
            })
            .collect();
        Wanted { members, sorry: !self.has_quorum }
    }
}
