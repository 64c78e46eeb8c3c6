//! Tracked processes (`vrrp_track_process`), sans-IO: how many processes
//! of a name run, against a quorum, with keepalived's delays.
//!
//! [`ProcessTracker`] takes a count at a time and says when the verdict
//! changes: in quorum (`quorum..=quorum_max`) is [`Verdict::Good`], out of
//! it [`Verdict::Bad`]; the first count decides at once, and after that a
//! change must last `fork_delay` (into quorum) or `terminate_delay` (out
//! of it) before it counts, so a process that restarts at once does not
//! move the VIP. [`matches`] says whether a process is one of those
//! watched. The firmware reads /proc; the router applies the verdicts as
//! a script's (see [`crate::script::contribution`]).

use crate::script::Verdict;
use std::time::{Duration, Instant};

/// How the parameters after the process name match (keepalived's
/// `param_match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamMatch {
    Exact,
    Initial,
    Partial,
}

/// What is watched: the name (`comm`, or the program path when
/// `full_command` or when the name has a '/'), and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub name: String,
    pub params: Vec<String>,
    pub param_match: ParamMatch,
    pub full_command: bool,
}

/// Longest name the kernel keeps in /proc/PID/comm (TASK_COMM_LEN - 1).
const COMM: usize = 15;

/// Whether a process (its `comm` and command line) is one of `p`'s.
pub fn matches(p: &Pattern, comm: &str, argv: &[String]) -> bool {
    let named = if p.full_command || p.name.contains('/') {
        argv.first().is_some_and(|a| *a == p.name)
    } else {
        let mut cut = p.name.len().min(COMM);
        while !p.name.is_char_boundary(cut) {
            cut -= 1;
        }
        comm == &p.name[..cut]
    };
    if !named || p.params.is_empty() {
        return named;
    }
    let have = argv.get(1..).unwrap_or_default();
    match p.param_match {
        ParamMatch::Exact => have == p.params.as_slice(),
        ParamMatch::Initial => have.starts_with(&p.params),
        ParamMatch::Partial => {
            let (last, first) = p.params.split_last().unwrap_or((&p.params[0], &[]));
            have.len() >= p.params.len()
                && have.starts_with(first)
                && have.get(first.len()).is_some_and(|h| h.starts_with(last.as_str()))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessTracker {
    quorum: u32,
    quorum_max: Option<u32>,
    fork_delay: Duration,
    terminate_delay: Duration,
    verdict: Verdict,
    /// A change seen, and when it counts.
    pending: Option<(Verdict, Instant)>,
    /// The last count.
    pub count: u32,
}

impl ProcessTracker {
    pub fn new(quorum: u32, quorum_max: Option<u32>, fork_delay: Duration, terminate_delay: Duration) -> Self {
        ProcessTracker {
            quorum,
            quorum_max,
            fork_delay,
            terminate_delay,
            verdict: Verdict::Init,
            pending: None,
            count: 0,
        }
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// How many of the processes run now. Returns the new verdict when it
    /// changed.
    pub fn handle_count(&mut self, now: Instant, count: u32) -> Option<Verdict> {
        self.count = count;
        let in_quorum = count >= self.quorum && self.quorum_max.is_none_or(|m| count <= m);
        let want = if in_quorum { Verdict::Good } else { Verdict::Bad };
        if want == self.verdict {
            self.pending = None;
            return None;
        }
        let delay = if want == Verdict::Good { self.fork_delay } else { self.terminate_delay };
        if self.verdict == Verdict::Init || delay.is_zero() {
            self.pending = None;
            self.verdict = want;
            return Some(want);
        }
        match self.pending {
            Some((v, _)) if v == want => {}
            _ => self.pending = Some((want, now + delay)),
        }
        self.handle_timeout(now)
    }

    /// A pending change whose delay is over counts now.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Verdict> {
        let (v, at) = self.pending?;
        if now < at {
            return None;
        }
        self.pending = None;
        self.verdict = v;
        Some(v)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.map(|p| p.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, params: &[&str], m: ParamMatch) -> Pattern {
        Pattern {
            name: name.into(),
            params: params.iter().map(|s| s.to_string()).collect(),
            param_match: m,
            full_command: false,
        }
    }

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_and_parameters_as_keepalived() {
        let haproxy = argv(&["/usr/sbin/haproxy", "-f", "/etc/haproxy/haproxy.cfg"]);
        assert!(matches(&p("haproxy", &[], ParamMatch::Exact), "haproxy", &haproxy));
        assert!(!matches(&p("nginx", &[], ParamMatch::Exact), "haproxy", &haproxy));
        // A path matches the program, not the name.
        assert!(matches(&p("/usr/sbin/haproxy", &[], ParamMatch::Exact), "haproxy", &haproxy));
        // comm keeps 15 characters.
        assert!(matches(&p("a-very-long-daemon-name", &[], ParamMatch::Exact), "a-very-long-dae", &argv(&["x"])));
        let exact = p("haproxy", &["-f", "/etc/haproxy/haproxy.cfg"], ParamMatch::Exact);
        assert!(matches(&exact, "haproxy", &haproxy));
        assert!(!matches(&p("haproxy", &["-f"], ParamMatch::Exact), "haproxy", &haproxy));
        assert!(matches(&p("haproxy", &["-f"], ParamMatch::Initial), "haproxy", &haproxy));
        assert!(matches(&p("haproxy", &["-f", "/etc/hap"], ParamMatch::Partial), "haproxy", &haproxy));
        assert!(!matches(&p("haproxy", &["-f", "/etc/hap"], ParamMatch::Initial), "haproxy", &haproxy));
    }

    #[test]
    fn quorum_and_delays() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut t = ProcessTracker::new(2, Some(3), 2 * s, 3 * s);
        // The first count decides at once.
        assert_eq!(t.handle_count(t0, 2), Some(Verdict::Good));
        // Out of quorum (too many): after terminate_delay, if it lasts.
        assert_eq!(t.handle_count(t0 + s, 4), None);
        assert_eq!(t.poll_timeout(), Some(t0 + 4 * s));
        assert_eq!(t.handle_count(t0 + 2 * s, 3), None); // back in: forgotten
        assert_eq!(t.poll_timeout(), None);
        assert_eq!(t.handle_count(t0 + 3 * s, 1), None);
        assert_eq!(t.handle_timeout(t0 + 5 * s), None);
        assert_eq!(t.handle_timeout(t0 + 6 * s), Some(Verdict::Bad));
        // Back into quorum after fork_delay.
        assert_eq!(t.handle_count(t0 + 7 * s, 2), None);
        assert_eq!(t.handle_count(t0 + 9 * s, 2), Some(Verdict::Good));
        // No delays: at once.
        let mut t = ProcessTracker::new(1, None, Duration::ZERO, Duration::ZERO);
        assert_eq!(t.handle_count(t0, 0), Some(Verdict::Bad));
        assert_eq!(t.handle_count(t0, 5), Some(Verdict::Good));
    }
}
