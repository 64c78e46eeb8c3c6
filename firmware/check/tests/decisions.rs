//! Checker schedules and pool decisions, with an explicit clock.

use std::time::{Duration, Instant};
use vigil_check::pool::{Member, Pool, Quorum, Wanted};
use vigil_check::timer::{CheckTimer, Timing, Verdict};

const S: Duration = Duration::from_secs(1);

fn timing(retry: u8) -> Timing {
    Timing { delay_loop: 6 * S, delay_before_retry: 2 * S, retry }
}

/// Runs the timer's probes with these results; returns (time of each probe
/// from t0, verdict after it).
fn run(t: &mut CheckTimer, t0: Instant, results: &[bool]) -> Vec<(u64, Verdict)> {
    let mut out = Vec::new();
    for &ok in results {
        let now = t.poll_timeout().unwrap();
        assert!(t.start_probe(now));
        assert_eq!(t.poll_timeout(), None, "no probe is due while one runs");
        t.handle_result(now, ok);
        out.push(((now - t0).as_secs(), t.verdict()));
    }
    out
}

#[test]
fn down_after_retry_failures_in_a_row_up_after_one_success() {
    let t0 = Instant::now();
    let mut t = CheckTimer::new(t0, timing(3), true, Duration::ZERO);
    use Verdict::{Down, Up};
    let got = run(&mut t, t0, &[true, false, false, false, false, true, true]);
    // Every 6 s while fine; after a failure retries every 2 s; the third
    // failure in a row is down, then back to every 6 s; one success is up.
    assert_eq!(got, [(0, Up), (6, Up), (8, Up), (10, Down), (16, Down), (22, Up), (28, Up)]);
}

#[test]
fn a_success_between_failures_resets_the_count() {
    let t0 = Instant::now();
    let mut t = CheckTimer::new(t0, timing(2), true, Duration::ZERO);
    let got = run(&mut t, t0, &[false, true, false, true, false, false]);
    let verdicts: Vec<Verdict> = got.iter().map(|g| g.1).collect();
    use Verdict::{Down, Up};
    assert_eq!(verdicts, [Up, Up, Up, Up, Up, Down]);
}

#[test]
fn alpha_starts_down_and_warmup_delays_the_first_probe() {
    let t0 = Instant::now();
    let mut t = CheckTimer::new(t0, timing(1), false, 3 * S);
    assert_eq!(t.verdict(), Verdict::Down);
    assert_eq!(t.poll_timeout(), Some(t0 + 3 * S));
    assert!(!t.start_probe(t0 + 2 * S), "not due yet");
    assert!(t.start_probe(t0 + 3 * S));
    assert_eq!(t.handle_result(t0 + 3 * S, true), Some(Verdict::Up));
}

fn member(weight: u32, alive: bool) -> Member {
    Member { weight, alive, dynamic_weight: None, inhibit_on_failure: false }
}

#[test]
fn dead_servers_leave_the_pool_or_stay_at_weight_zero_with_inhibit() {
    let p = Pool::new(Quorum { quorum: 1, hysteresis: 0 });
    let mut ms = vec![member(3, true), member(2, false), member(1, false)];
    ms[2].inhibit_on_failure = true;
    ms[0].dynamic_weight = Some(7);
    assert_eq!(p.wanted(&ms), Wanted { members: vec![(0, 7), (2, 0)], sorry: false });
}

#[test]
fn quorum_is_lost_and_regained_with_hysteresis_and_brings_the_sorry_server() {
    // Quorum 4, hysteresis 1: lost below 3, regained at 5.
    let mut p = Pool::new(Quorum { quorum: 4, hysteresis: 1 });
    let mut ms = vec![member(2, true), member(2, true), member(2, true)];
    assert_eq!(p.update(&ms), None); // 6: fine
    ms[0].alive = false; // 4
    assert_eq!(p.update(&ms), None);
    ms[1].alive = false; // 2 < 3: lost
    assert_eq!(p.update(&ms), Some(false));
    assert!(p.wanted(&ms).sorry);
    ms[1].alive = true; // 4: not yet 5
    assert_eq!(p.update(&ms), None);
    assert!(!p.has_quorum());
    ms[0].alive = true; // 6 >= 5: regained
    assert_eq!(p.update(&ms), Some(true));
    assert!(!p.wanted(&ms).sorry);
}

#[test]
fn an_empty_pool_has_no_quorum() {
    let mut p = Pool::new(Quorum { quorum: 1, hysteresis: 0 });
    let ms = vec![member(1, false)];
    assert_eq!(p.update(&ms), Some(false));
    assert_eq!(p.wanted(&ms), Wanted { members: vec![], sorry: true });
}
