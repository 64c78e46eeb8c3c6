//! The health gate a slot on trial must pass before vigil confirms it:
//! everything below holds without a break for `update_confirm_s`.
//!
//! - PID 1 reached ready;
//! - the config came from flash (the embedded default means the config
//!   ring was not read: a firmware that cannot read it must not be kept);
//! - every configured interface is up;
//! - no supervised child is crash-looping (restarted within the window);
//!   one the supervisor gave up on fails the trial at once: vigil reboots,
//!   and the bootloader's countdown brings the good slot back.
//!
//! Sans-IO: the caller observes the system and passes the time.

use std::time::{Duration, Instant};

/// What the caller saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub ready: bool,
    pub config_from_flash: bool,
    /// Configured interfaces that are not up.
    pub interfaces_down: Vec<String>,
    /// Children restarted since the last observation.
    pub restarted: Vec<String>,
    /// Children the supervisor gave up on.
    pub given_up: Vec<String>,
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not healthy now; why, in the operator's words.
    Waiting(String),
    /// Healthy since a while; confirmed at `at` if it stays so.
    Holding { at: Instant },
    /// Healthy for the whole window: confirm the slot.
    Confirm,
    /// The trial has failed: reboot (the bootloader counts it down).
    Fail(String),
}

#[derive(Debug, Clone)]
pub struct Gate {
    hold: Duration,
    since: Option<Instant>,
}

impl Gate {
    pub fn new(hold: Duration) -> Gate {
        Gate { hold, since: None }
    }

    pub fn observe(&mut self, now: Instant, h: &Health) -> Verdict {
        if !h.given_up.is_empty() {
            return Verdict::Fail(format!("{} kept crashing and was given up", h.given_up.join(", ")));
        }
        let why = if !h.ready {
            Some("not ready yet".to_string())
        } else if !h.config_from_flash {
            Some("the config did not come from flash (running the built-in default)".to_string())
        } else if !h.interfaces_down.is_empty() {
            Some(format!("{} down", h.interfaces_down.join(", ")))
        } else if !h.restarted.is_empty() {
            Some(format!("{} restarted", h.restarted.join(", ")))
        } else {
            None
        };
        if let Some(why) = why {
            self.since = None;
            return Verdict::Waiting(why);
        }
        let since = *self.since.get_or_insert(now);
        if now >= since + self.hold { Verdict::Confirm } else { Verdict::Holding { at: since + self.hold } }
    }

    /// When the gate would confirm if nothing changes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.since.map(|s| s + self.hold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Health {
        Health { ready: true, config_from_flash: true, ..Health::default() }
    }

    #[test]
    fn confirms_after_an_unbroken_window() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut g = Gate::new(120 * s);
        assert_eq!(g.observe(t0, &Health::default()), Verdict::Waiting("not ready yet".into()));
        assert_eq!(g.observe(t0 + s, &healthy()), Verdict::Holding { at: t0 + 121 * s });
        assert_eq!(g.poll_timeout(), Some(t0 + 121 * s));
        // A restart breaks the window: it starts again.
        let restarted = Health { restarted: vec!["vrrp".into()], ..healthy() };
        assert_eq!(g.observe(t0 + 60 * s, &restarted), Verdict::Waiting("vrrp restarted".into()));
        assert_eq!(g.observe(t0 + 61 * s, &healthy()), Verdict::Holding { at: t0 + 181 * s });
        assert_eq!(g.observe(t0 + 180 * s, &healthy()), Verdict::Holding { at: t0 + 181 * s });
        assert_eq!(g.observe(t0 + 181 * s, &healthy()), Verdict::Confirm);
    }

    #[test]
    fn says_why_it_waits_and_fails_on_a_given_up_child() {
        let t = Instant::now();
        let mut g = Gate::new(Duration::from_secs(120));
        let h = Health { config_from_flash: false, ..healthy() };
        assert_eq!(
            g.observe(t, &h),
            Verdict::Waiting("the config did not come from flash (running the built-in default)".into())
        );
        let h = Health { interfaces_down: vec!["eth0".into(), "eth1".into()], ..healthy() };
        assert_eq!(g.observe(t, &h), Verdict::Waiting("eth0, eth1 down".into()));
        let h = Health { given_up: vec!["checkers".into()], ..healthy() };
        assert_eq!(g.observe(t, &h), Verdict::Fail("checkers kept crashing and was given up".into()));
    }
}
