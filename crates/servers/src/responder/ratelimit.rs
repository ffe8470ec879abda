//! Per-source token buckets, in a map of bounded size.
//!
//! Keyed by source IPv4 address, or by the /64 prefix of an IPv6 source
//! (one host usually owns a whole /64). When the map is full, the entry
//! inserted first is evicted, so memory stays bounded whatever the number
//! of (possibly spoofed) sources.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

/// Rate-limit settings of a [`Responder`](super::Responder).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained Binding requests per second allowed from one source
    /// (IPv4 address or IPv6 /64). 0 disables rate limiting.
    pub per_second: u32,
    /// Requests a source may send in a burst above the sustained rate.
    pub burst: u32,
    /// How many sources are tracked at once; the oldest is evicted beyond.
    pub max_sources: usize,
}

impl RateLimit {
    /// No rate limiting (the embedded lab and tests).
    pub const fn disabled() -> Self {
        Self {
            per_second: 0,
            burst: 0,
            max_sources: 0,
        }
    }

    /// `per_second` sustained, with a burst of twice that (at least 10).
    pub fn per_second(per_second: u32) -> Self {
        Self {
            per_second,
            burst: per_second.saturating_mul(2).max(10),
            ..Self::default()
        }
    }

    /// Whether this limit is enforced at all.
    pub fn is_enabled(&self) -> bool {
        self.per_second > 0
    }
}

impl Default for RateLimit {
    /// 50 requests/s per source, bursts of 100, 65 536 sources tracked.
    fn default() -> Self {
        Self {
            per_second: 50,
            burst: 100,
            max_sources: 65_536,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The token-bucket table.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    cfg: RateLimit,
    buckets: HashMap<IpAddr, Bucket>,
    order: VecDeque<IpAddr>,
}

/// The key of a source: the IPv4 address, or the IPv6 /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::V6(o.into())
        }
    }
}

impl RateLimiter {
    /// A limiter for an enabled `cfg` (callers skip it when disabled).
    pub(crate) fn new(cfg: RateLimit) -> Self {
        let cfg = RateLimit {
            burst: cfg.burst.max(1),
            max_sources: cfg.max_sources.max(1),
            ..cfg
        };
        Self {
            cfg,
            buckets: HashMap::with_capacity(cfg.max_sources.min(4096)),
            order: VecDeque::with_capacity(cfg.max_sources.min(4096)),
        }
    }

    /// Takes one token for `ip` at `now`; false when the source is over its
    /// limit.
    pub(crate) fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        let k = key(ip);
        let burst = f64::from(self.cfg.burst);
        let rate = f64::from(self.cfg.per_second);
        if let Some(b) = self.buckets.get_mut(&k) {
            let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
            b.tokens = (b.tokens + elapsed * rate).min(burst);
            b.last = now;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                return true;
            }
            return false;
        }
        while self.buckets.len() >= self.cfg.max_sources {
            match self.order.pop_front() {
                Some(old) => {
                    self.buckets.remove(&old);
                }
                None => break,
            }
        }
        self.buckets.insert(
            k,
            Bucket {
                tokens: burst - 1.0,
                last: now,
            },
        );
        self.order.push_back(k);
        true
    }

    /// Sources currently tracked.
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let mut rl = RateLimiter::new(RateLimit {
            per_second: 10,
            burst: 5,
            max_sources: 10,
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        let allowed = (0..20).filter(|_| rl.allow(ip, t0)).count();
        assert_eq!(allowed, 5);
        // 0.5 s later: 5 more tokens.
        let t1 = t0 + Duration::from_millis(500);
        let allowed = (0..20).filter(|_| rl.allow(ip, t1)).count();
        assert_eq!(allowed, 5);
        // Another source is not affected.
        assert!(rl.allow("192.0.2.2".parse().unwrap(), t1));
    }

    #[test]
    fn map_is_bounded_and_evicts_oldest() {
        let mut rl = RateLimiter::new(RateLimit {
            per_second: 1,
            burst: 1,
            max_sources: 3,
        });
        let t = Instant::now();
        for i in 1..=3u8 {
            assert!(rl.allow(IpAddr::from([198, 51, 100, i]), t));
        }
        assert!(!rl.allow(IpAddr::from([198, 51, 100, 1]), t));
        assert!(rl.allow(IpAddr::from([198, 51, 100, 4]), t));
        assert_eq!(rl.tracked(), 3);
        // .1 was evicted, so it starts afresh.
        assert!(rl.allow(IpAddr::from([198, 51, 100, 1]), t));
        assert_eq!(rl.tracked(), 3);
    }

    #[test]
    fn ipv6_is_keyed_by_slash_64() {
        let mut rl = RateLimiter::new(RateLimit {
            per_second: 1,
            burst: 1,
            max_sources: 10,
        });
        let t = Instant::now();
        assert!(rl.allow("2001:db8::1".parse().unwrap(), t));
        assert!(!rl.allow("2001:db8::2".parse().unwrap(), t));
        assert!(rl.allow("2001:db8:0:1::1".parse().unwrap(), t));
    }
}
