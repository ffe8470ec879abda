//! Mapping lifetime: where the idle timeout lies, and a pure planner for the
//! next idle interval to test. Time is only ever an input.

use crate::observe::LifetimeProbe;
use crate::verdict::{Evidence, MappingLifetime};
use std::time::Duration;

/// Bounds of the lifetime search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifetimePlan {
    /// First interval to try.
    pub start: Duration,
    /// Stop growing beyond this: "at least `max`" is a good enough answer.
    pub max: Duration,
    /// Stop when the bracket is this narrow.
    pub resolution: Duration,
}

impl Default for LifetimePlan {
    fn default() -> LifetimePlan {
        LifetimePlan {
            start: Duration::from_secs(15),
            max: Duration::from_secs(300),
            resolution: Duration::from_secs(5),
        }
    }
}

/// Bracket from probes: (longest alive, shortest dead above it, consistent).
fn bracket(probes: &[LifetimeProbe]) -> (Option<Duration>, Option<Duration>, bool) {
    let lower = probes.iter().filter(|p| p.alive).map(|p| p.idle).max();
    let consistent = !probes
        .iter()
        .any(|p| !p.alive && lower.is_some_and(|l| p.idle <= l));
    let upper = probes
        .iter()
        .filter(|p| !p.alive && lower.is_none_or(|l| p.idle > l))
        .map(|p| p.idle)
        .min();
    (lower, upper, consistent)
}

/// Where the lifetime lies; `None` without probes. A dead probe shorter than
/// an alive one is reported as inconsistent and ignored for the bracket.
pub fn mapping_lifetime(probes: &[LifetimeProbe]) -> Option<MappingLifetime> {
    if probes.is_empty() {
        return None;
    }
    let (lower, upper, consistent) = bracket(probes);
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Some(MappingLifetime {
        lower_ms: lower.map(ms),
        upper_ms: upper.map(ms),
        probes: probes.len(),
        consistent,
    })
}

/// The next idle interval to test, or `None` when done: the bracket is
/// narrower than `plan.resolution`, the lifetime is known to be at least
/// `plan.max`, or nothing useful fits in `budget` (the time left).
///
/// Without a dead probe the interval doubles from `plan.start` (capped at
/// `plan.max` and at `budget`); with one, it bisects the bracket.
pub fn next_lifetime_probe(
    probes: &[LifetimeProbe],
    budget: Duration,
    plan: &LifetimePlan,
) -> Option<Duration> {
    let (lower, upper, _) = bracket(probes);
    let floor = lower.unwrap_or(Duration::ZERO);
    let next = match upper {
        Some(up) => {
            if up.saturating_sub(floor) <= plan.resolution {
                return None;
            }
            floor + (up - floor) / 2
        }
        None => {
            if lower.is_some_and(|l| l >= plan.max) {
                return None;
            }
            let want = match lower {
                None => plan.start,
                Some(l) => (l * 2).max(plan.start),
            };
            want.min(plan.max)
        }
    };
    if next <= budget {
        return Some(next);
    }
    // Clamped by the budget: only worth it if it still moves the lower bound
    // by at least the resolution.
    (budget > floor && budget - floor >= plan.resolution).then_some(budget)
}

/// Evidence text for a lifetime.
pub(crate) fn evidence(l: &MappingLifetime) -> Evidence {
    let f =
        |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |ms| format!("{} s", ms as f64 / 1000.0));
    let mut detail = format!(
        "mapping lifetime between {} (alive) and {} (expired), {} probe(s)",
        f(l.lower_ms),
        f(l.upper_ms),
        l.probes
    );
    if !l.consistent {
        detail.push_str("; inconsistent: a shorter idle interval expired while a longer one survived (loss or refresh traffic)");
    }
    Evidence::new("mapping-lifetime", detail)
}
