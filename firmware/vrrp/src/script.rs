//! Tracked scripts (`vrrp_script`), sans-IO: what a script's runs mean.
//!
//! [`Tracker`] turns exit statuses into a [`Verdict`] with keepalived's
//! rise and fall: a failing script needs `rise` successes in a row to
//! count as succeeding, a succeeding one `fall` failures in a row to count
//! as failing; before its first run a script is [`Verdict::Init`] (or
//! `Bad` with `init_fail`), and the first run decides at once ("one
//! success is enough", as keepalived puts it). [`contribution`] is what a
//! verdict does to an instance that tracks the script with a weight.
//! The runner (the firmware) starts the program and times it out; the
//! [`crate::router::Router`] applies the verdicts.

/// What a script's runs say, so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not run yet.
    Init,
    Good,
    Bad,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Init => "not run yet",
            Verdict::Good => "succeeding",
            Verdict::Bad => "failing",
        }
    }
}

/// keepalived's counter: 0..rise-1 is failing, rise..=rise+fall-1 is
/// succeeding; a success counts up, a failure down, and crossing `rise`
/// jumps to the far end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    rise: u32,
    fall: u32,
    result: u32,
    verdict: Verdict,
    /// Results in a row that point away from the verdict (for the log).
    pub against: u32,
}

impl Tracker {
    /// `rise` and `fall` of at least 1 (0 is taken as 1).
    pub fn new(rise: u8, fall: u8, init_fail: bool) -> Tracker {
        let (rise, fall) = (u32::from(rise.max(1)), u32::from(fall.max(1)));
        if init_fail {
            Tracker { rise, fall, result: 0, verdict: Verdict::Bad, against: 0 }
        } else {
            Tracker { rise, fall, result: rise - 1, verdict: Verdict::Init, against: 0 }
        }
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// A run ended (`ok`: exit status 0). Returns the new verdict when it
    /// changed.
    pub fn handle_result(&mut self, ok: bool) -> Option<Verdict> {
        let top = self.rise + self.fall - 1;
        let before = self.verdict;
        if ok {
            if self.result + 1 < self.rise {
                self.result += 1;
            } else {
                self.result = top;
                self.verdict = Verdict::Good;
            }
        } else if self.result > self.rise {
            self.result -= 1;
        } else {
            self.result = 0;
            // From succeeding (at `rise`), or the first run: failing now.
            if self.verdict != Verdict::Bad {
                self.verdict = Verdict::Bad;
            }
        }
        self.against = match (self.verdict, ok) {
            (Verdict::Good, false) | (Verdict::Bad, true) => self.against + 1,
            _ => 0,
        };
        (self.verdict != before).then_some(self.verdict)
    }
}

/// What a tracked script does to an instance that tracks it with `weight`
/// (`reverse`: the other way round), as keepalived: None when the
/// instance must be down (weight 0 and the script failing, or succeeding
/// with `reverse`); otherwise the change to its priority. Positive
/// weights count while the script succeeds, negative ones while it fails;
/// a script not run yet counts for nothing (and holds a weight-0 tracker
/// back: see [`holds`]).
pub fn contribution(weight: i16, reverse: bool, verdict: Verdict) -> Option<i32> {
    let m = if reverse { -1 } else { 1 };
    let w = i32::from(weight);
    match (weight, verdict) {
        (_, Verdict::Init) => Some(0),
        (0, Verdict::Good) => (!reverse).then_some(0),
        (0, Verdict::Bad) => reverse.then_some(0),
        (w16, Verdict::Good) if w16 > 0 => Some(w * m),
        (w16, Verdict::Bad) if w16 < 0 => Some(w * m),
        _ => Some(0),
    }
}

/// What a tracked file's number does to an instance that tracks it with
/// `weight` (`reverse`: the other way round), as keepalived: with weight
/// 0, any number but 0 (0 when reversed) puts it down (None); otherwise
/// number x weight moves the priority, clamped to -254..=253, and -254
/// puts it down.
pub fn file_contribution(weight: i16, reverse: bool, value: i32) -> Option<i32> {
    if weight == 0 {
        return ((value != 0) == reverse).then_some(0);
    }
    let m = if reverse { -1 } else { 1 };
    let status = i64::from(value).saturating_mul(i64::from(weight)).saturating_mul(m).clamp(-254, 253) as i32;
    (status > -254).then_some(status)
}

/// Whether a script not run yet holds its tracker back: an instance whose
/// weight-0 script has not said yet does not start (keepalived keeps it
/// in INIT), so that it does not flap through FAULT or MASTER on the way.
pub fn holds(weight: i16, verdict: Verdict) -> bool {
    weight == 0 && verdict == Verdict::Init
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &mut Tracker, results: &str) -> String {
        results
            .chars()
            .map(|c| match t.handle_result(c == '+') {
                Some(Verdict::Good) => 'G',
                Some(Verdict::Bad) => 'B',
                Some(Verdict::Init) => 'I',
                None => '.',
            })
            .collect()
    }

    #[test]
    fn rise_and_fall_as_keepalived() {
        // The first run decides.
        assert_eq!(run(&mut Tracker::new(3, 2, false), "+"), "G");
        assert_eq!(run(&mut Tracker::new(3, 2, false), "-"), "B");
        // Then fall=2 failures in a row to fail, rise=3 successes to recover;
        // a success between failures starts the count again.
        let mut t = Tracker::new(3, 2, false);
        assert_eq!(run(&mut t, "+-+--++-+++-"), "G...B.....G.");
        // init_fail: failing from the start; rise successes to succeed.
        let mut t = Tracker::new(2, 1, true);
        assert_eq!(t.verdict(), Verdict::Bad);
        assert_eq!(run(&mut t, "+-++-"), "...GB");
    }

    #[test]
    fn the_log_knows_how_many_results_point_the_other_way() {
        let mut t = Tracker::new(1, 3, false);
        run(&mut t, "+--");
        assert_eq!((t.verdict(), t.against), (Verdict::Good, 2));
        run(&mut t, "-");
        assert_eq!((t.verdict(), t.against), (Verdict::Bad, 0));
    }

    #[test]
    fn file_numbers_as_keepalived() {
        assert_eq!(file_contribution(0, false, 0), Some(0));
        assert_eq!(file_contribution(0, false, 3), None);
        assert_eq!(file_contribution(0, true, 0), None);
        assert_eq!(file_contribution(0, true, 3), Some(0));
        assert_eq!(file_contribution(1, false, -20), Some(-20));
        assert_eq!(file_contribution(-10, false, 3), Some(-30));
        assert_eq!(file_contribution(10, true, 3), Some(-30));
        assert_eq!(file_contribution(1, false, 500), Some(253));
        assert_eq!(file_contribution(2, false, -127), None);
        assert_eq!(file_contribution(1, false, i32::MIN), None);
    }

    #[test]
    fn weights_as_keepalived() {
        use Verdict::*;
        // weight 0: down while failing (or while succeeding, reversed).
        assert_eq!(contribution(0, false, Bad), None);
        assert_eq!(contribution(0, false, Good), Some(0));
        assert_eq!(contribution(0, true, Good), None);
        assert_eq!(contribution(0, true, Bad), Some(0));
        // Positive: added while succeeding; negative: added while failing.
        assert_eq!(contribution(10, false, Good), Some(10));
        assert_eq!(contribution(10, false, Bad), Some(0));
        assert_eq!(contribution(-10, false, Bad), Some(-10));
        assert_eq!(contribution(-10, false, Good), Some(0));
        // Reversed: the same moments, the other direction.
        assert_eq!(contribution(10, true, Good), Some(-10));
        assert_eq!(contribution(-10, true, Bad), Some(10));
        // Not run yet: nothing, but a weight-0 tracker waits for it.
        assert_eq!(contribution(-10, false, Init), Some(0));
        assert!(holds(0, Init) && !holds(0, Bad) && !holds(5, Init));
    }
}
