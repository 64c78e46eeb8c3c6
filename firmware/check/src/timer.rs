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

/// Kept for every check (37,298 of them at keepalived issue #2318's
/// shape), so kept small: the intervals in milliseconds (a `Timing` of
/// `Duration`s is 40 bytes), the counts in 32 bits (they saturate: at a
/// probe a second, after 136 years).
#[derive(Debug, Clone)]
pub struct CheckTimer {
    delay_loop_ms: u32,
    delay_before_retry_ms: u32,
    retry: u8,
    verdict: Verdict,
    failures: u8,
    /// A probe is running (its result not in yet): no new one is due.
    in_flight: bool,
    next: Instant,
    probes: u32,
    failed_probes: u32,
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

impl CheckTimer {
    /// `start_up`: keepalived's default (false with `alpha`: down until the
    /// first success). The first probe is at `now + jitter`.
    pub fn new(now: Instant, timing: Timing, start_up: bool, jitter: Duration) -> CheckTimer {
        CheckTimer {
            delay_loop_ms: millis(timing.delay_loop),
            delay_before_retry_ms: millis(timing.delay_before_retry),
            retry: timing.retry,
            verdict: if start_up { Verdict::Up } else { Verdict::Down },
            failures: 0,
            in_flight: false,
            next: now + jitter,
            probes: 0,
            failed_probes: 0,
        }
    }

    /// Probes started.
    pub fn probes(&self) -> u32 {
        self.probes
    }

    /// Probes that failed.
    pub fn failed_probes(&self) -> u32 {
        self.failed_probes
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
        self.probes = self.probes.saturating_add(1);
        true
    }

    /// A probe's result. Returns the new verdict if it changed.
    pub fn handle_result(&mut self, now: Instant, ok: bool) -> Option<Verdict> {
        self.in_flight = false;
        let before = self.verdict;
        let delay_loop = Duration::from_millis(u64::from(self.delay_loop_ms));
        if ok {
            self.failures = 0;
            self.verdict = Verdict::Up;
            self.next = now + delay_loop;
        } else {
            self.failed_probes = self.failed_probes.saturating_add(1);
            self.failures = self.failures.saturating_add(1);
            if self.failures >= self.retry.max(1) {
                self.verdict = Verdict::Down;
                self.next = now + delay_loop;
            } else {
                // Not down yet: retry sooner.
                self.next = now + Duration::from_millis(u64::from(self.delay_before_retry_ms));
            }
        }
        (self.verdict != before).then_some(self.verdict)
    }
}
