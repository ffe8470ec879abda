//! The one bridge between tokio's clock and the sans-IO crates' clock.
//!
//! stun-proto, turn-client-proto, turn-server-proto and rice-proto all take
//! time as a `stun_proto::Instant` (nanoseconds from an arbitrary origin)
//! and never read a clock themselves. Every driver that runs one of them on
//! tokio converts with a [`Clock`]: one origin per driver, saturating both
//! ways (no overflow, no negative durations). Because the origin is a
//! `tokio::time::Instant`, tests that pause tokio's time drive the sans-IO
//! state machines deterministically.

use std::time::Duration;

use stun_proto::Instant as SansInstant;
use tokio::time::Instant;

/// Converts between tokio's `Instant` and the sans-IO `Instant`, relative to
/// one origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose sans-IO zero is `origin`.
    pub fn new(origin: Instant) -> Clock {
        Clock { origin }
    }

    /// A clock whose sans-IO zero is now.
    pub fn start() -> Clock {
        Clock::new(Instant::now())
    }

    /// The origin.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// `t` on the sans-IO clock; times before the origin are zero, times
    /// beyond 292 years saturate.
    pub fn to_sans(&self, t: Instant) -> SansInstant {
        let nanos = t.saturating_duration_since(self.origin).as_nanos();
        SansInstant::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// A sans-IO time as a tokio `Instant`; negative times are the origin.
    pub fn to_tokio(&self, t: SansInstant) -> Instant {
        let nanos = u64::try_from(t.as_nanos()).unwrap_or(0);
        self.origin + Duration::from_nanos(nanos)
    }

    /// Now, on the sans-IO clock (reads tokio's clock: for drivers only,
    /// never inside a state machine).
    pub fn now(&self) -> SansInstant {
        self.to_sans(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn converts_both_ways_and_saturates() {
        let clock = Clock::start();
        assert_eq!(clock.now(), SansInstant::from_nanos(0));
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(clock.now(), SansInstant::from_nanos(1_500_000_000));
        let t = clock.origin() + Duration::from_millis(250);
        assert_eq!(clock.to_tokio(clock.to_sans(t)), t);
        // Before the origin: zero. Negative sans-IO times: the origin.
        let later = Clock::new(clock.origin() + Duration::from_secs(10));
        assert_eq!(later.to_sans(clock.origin()), SansInstant::from_nanos(0));
        assert_eq!(clock.to_tokio(SansInstant::from_nanos(-5)), clock.origin());
    }
}
