//! Which server to believe, and what to do with the clock.

use crate::sample::Sample;

/// Offsets beyond this are stepped (as ntpd's step threshold); smaller
/// ones are slewed so time never jumps under running daemons.
pub const STEP_NS: i128 = 128_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    /// Set the clock (add this many nanoseconds).
    Step(i128),
    /// Let the kernel slew it by this much.
    Slew(i128),
    None,
}

/// The best sample: lowest round-trip delay, then lowest stratum (the
/// shortest path to a good clock carries the least error).
pub fn best(samples: &[Sample]) -> Option<Sample> {
    samples.iter().copied().min_by_key(|s| (s.delay_ns.max(0), s.stratum))
}

/// Step when far off (or always at boot, before anything depends on the
/// time), slew when close, nothing below a microsecond.
pub fn correction(offset_ns: i128, at_boot: bool) -> Correction {
    if offset_ns.abs() < 1_000 {
        Correction::None
    } else if at_boot || offset_ns.abs() > STEP_NS {
        Correction::Step(offset_ns)
    } else {
        Correction::Slew(offset_ns)
    }
}
