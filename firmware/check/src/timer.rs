//! One checker's schedule and verdict, as keepalived keeps them: a probe
//! every `delay_loop`; after a failure, retries every `delay_before_retry`
//! until `retry` failures in a row take the server down; one success brings
//! it back up. The first probe waits a `warmup` jitter (given by the caller:
//! the randomness stays outside).

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub delay_loop: Duration,
    pub delay_before_retry: Duration,
    /// Failures in a row before the server is down (at least 1).
    pub retry: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Up,
    Down,
}

#[derive(Debug, Clone)]
pub struct CheckTimer {
    timing: Timing,
    verdict: Verdict,
    failures: u8,
    next: Instant,
    /// A probe is running (its result not in yet): no new one is due.
    in_flight: bool,
    pub probes: u64,
    pub failed_probes: u64,
}

impl CheckTimer {
    /// `start_up`: keepalived's default (false with `alpha`: down until the
    /// first success). The first probe is at `now + jitter`.
    pub fn new(now: Instant, timing: Timing, start_up: bool, jitter: Duration) -> CheckTimer {
        CheckTimer {
            timing,
            verdict: if start_up { Verdict::Up } else { Verdict::Down },
            failures: 0,
            next: now + jitter,
            in_flight: false,
            probes: 0,
            failed_probes: 0,
        }
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// When the next probe is due (None while one is running).
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.in_flight).then_some(self.next)
    }

    /// The probe due at `now` starts (the caller runs it, with a timeout).
    pub fn start_probe(&mut self, now: Instant) -> bool {
        if self.in_flight || now < self.next {
            return false;
        }
        self.in_flight = true;
        self.probes += 1;
        true
    }

    /// A probe's result. Returns the new verdict if it changed.
    pub fn handle_result(&mut self, now: Instant, ok: bool) -> Option<Verdict> {
        self.in_flight = false;
        let before = self.verdict;
        if ok {
            self.failures = 0;
            self.verdict = Verdict::Up;
            self.next = now + self.timing.delay_loop;
        } else {
            self.failed_probes += 1;
            self.failures = self.failures.saturating_add(1);
            if self.failures >= self.timing.retry.max(1) {
                self.verdict = Verdict::Down;
                self.next = now + self.timing.delay_loop;
            } else {
                // Not down yet: retry sooner.
                self.next = now + self.timing.delay_before_retry;
            }
        }
        (self.verdict != before).then_some(self.verdict)
    }
}
