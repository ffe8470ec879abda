//! Port allocation analysis: port preservation and, for dependent mappings,
//! the allocation pattern hole-punching port prediction relies on.

use crate::observe::PortSample;
use crate::verdict::{Evidence, PortAllocation, PortPattern};

/// Largest step still called "sequential".
pub const MAX_SEQUENTIAL_STEP: i32 = 16;

/// Fewest samples needed to name a pattern (two deltas).
pub const MIN_PATTERN_SAMPLES: usize = 3;

/// Analyse samples taken from separate sockets / destinations, in sending
/// order. `None` when there are no samples.
pub fn port_allocation(samples: &[PortSample]) -> Option<PortAllocation> {
    if samples.is_empty() {
        return None;
    }
    let preserved = samples
        .iter()
        .filter(|s| s.mapped.port() == s.local.port())
        .count();
    let deltas: Vec<i32> = samples
        .windows(2)
        .map(|w| i32::from(w[1].mapped.port()) - i32::from(w[0].mapped.port()))
        .collect();
    let pattern = if preserved == samples.len() {
        PortPattern::Preserved
    } else if samples.len() < MIN_PATTERN_SAMPLES {
        PortPattern::Unknown
    } else if deltas.iter().all(|d| *d == 0) {
        PortPattern::Reused
    } else if deltas.iter().all(|d| *d > 0 && *d <= MAX_SEQUENTIAL_STEP)
        || deltas.iter().all(|d| *d < 0 && -*d <= MAX_SEQUENTIAL_STEP)
    {
        PortPattern::Sequential {
            step: most_common(&deltas),
        }
    } else {
        PortPattern::Random
    };
    Some(PortAllocation {
        samples: samples.len(),
        preserved,
        port_preservation: Some(preserved == samples.len()),
        pattern,
        deltas,
    })
}

/// The most common value (smallest on ties); `deltas` is non-empty here.
fn most_common(deltas: &[i32]) -> i32 {
    let mut best = (0usize, 0i32);
    for d in deltas {
        let n = deltas.iter().filter(|x| *x == d).count();
        if n > best.0 || (n == best.0 && *d < best.1) {
            best = (n, *d);
        }
    }
    best.1
}

/// Evidence text for a port allocation.
pub(crate) fn evidence(p: &PortAllocation) -> Evidence {
    let pattern = match p.pattern {
        PortPattern::Preserved => "ports preserved".to_owned(),
        PortPattern::Reused => "the same public port for every sample".to_owned(),
        PortPattern::Sequential { step } => {
            format!("sequential allocation, step {step}: port prediction possible")
        }
        PortPattern::Random => "random allocation: port prediction impractical".to_owned(),
        PortPattern::Unknown => {
            format!("pattern unknown (fewer than {MIN_PATTERN_SAMPLES} samples)")
        }
    };
    Evidence::new(
        "port-allocation",
        format!(
            "{} of {} samples kept their local port; {pattern}; deltas {:?}",
            p.preserved, p.samples, p.deltas
        ),
    )
}
