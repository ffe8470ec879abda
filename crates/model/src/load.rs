//! The `load` section (`natscope turn --load`): how much a TURN server
//! carries. Allocations from distinct source ports are ramped up in steps;
//! the allocations are paired, and each streams audio-like packets to its
//! partner's relayed address, which returns them (relay to relay, so it
//! works behind any NAT). Per step: the offered and relayed packet rates,
//! loss, round-trip time and jitter; over the run: allocation times, errors
//! by code, and the load at which the server first showed strain.

use crate::turn::TurnTransport;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Content of the `load` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSection {
    /// The server as the user gave it.
    pub label: String,
    /// Normalised URI. Never contains credentials.
    pub uri: String,
    /// Transport to the server.
    pub transport: TurnTransport,
    /// The server address reached.
    pub address: Option<SocketAddr>,
    /// What was asked for.
    pub config: LoadConfig,
    /// How the allocations went.
    pub allocations: AllocationStats,
    /// Traffic over the whole run.
    pub traffic: TrafficStats,
    /// One entry per ramp step (and the hold after the last), in order.
    pub steps: Vec<LoadStep>,
    /// The first step at which loss exceeded 1 % or the median round trip
    /// doubled against the first step; `None` when neither happened.
    pub knee: Option<Knee>,
    /// Error answers by code, most frequent first.
    pub errors: Vec<ErrorCount>,
    /// How the run ended.
    pub ended: LoadEnd,
    /// Packets that were not valid TURN/STUN, or carried no payload of
    /// this run.
    pub malformed: u64,
}

/// The load asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadConfig {
    /// Allocations at full load (even: they are paired).
    pub allocations: u32,
    /// Packets per second each allocation sends.
    pub rate_pps: u32,
    /// Payload bytes per packet.
    pub size: u32,
    /// Ramp steps.
    pub steps: u32,
    /// Time to reach full load, in milliseconds.
    pub ramp_ms: u64,
    /// Whole run (ramp included), in milliseconds.
    pub duration_ms: u64,
}

/// Percentiles of a set of times, in milliseconds; each `None` when there
/// were no samples.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Largest.
    pub max_ms: Option<f64>,
}

/// How the allocations went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationStats {
    /// Allocations attempted.
    pub attempted: u32,
    /// Allocations granted.
    pub created: u32,
    /// Allocations refused or unanswered.
    pub failed: u32,
    /// Allocations granted per second of allocating, over the ramp.
    pub per_second: Option<f64>,
    /// Time from the first Allocate to the allocation (401 challenge
    /// included).
    pub time: Percentiles,
    /// Allocations the server confirmed deleted at the end.
    pub released: u32,
    /// Allocations natscope tried to delete at the end.
    pub release_attempted: u32,
}

/// Traffic over the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficStats {
    /// Packets sent to the server (probes and returns).
    pub sent: u64,
    /// Packets the server delivered.
    pub received: u64,
    /// Probes sent that never came back.
    pub lost: u64,
    /// `lost` in percent of the probes sent (excluding the last second's,
    /// still in flight when the run stopped).
    pub loss_percent: Option<f64>,
    /// Packets per second sent to the server.
    pub sent_pps: f64,
    /// Packets per second the server delivered.
    pub received_pps: f64,
    /// Mbit/s sent (payload plus TURN framing).
    pub sent_mbit_s: f64,
    /// Mbit/s delivered.
    pub received_mbit_s: f64,
    /// Round-trip times of the probes (out through the relays and back).
    pub rtt: Percentiles,
    /// Mean jitter (RFC 3550 interarrival jitter over round trips), in
    /// milliseconds.
    pub jitter_ms: Option<f64>,
}

/// One ramp step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadStep {
    /// When the step started, in milliseconds since the first allocation.
    pub at_ms: u64,
    /// Allocations streaming during the step.
    pub allocations: u32,
    /// Packets per second offered (sent to the server).
    pub offered_pps: f64,
    /// Packets per second delivered.
    pub delivered_pps: f64,
    /// Loss of the step's probes, in percent; `None` with none sent.
    pub loss_percent: Option<f64>,
    /// Median round trip.
    pub rtt_p50_ms: Option<f64>,
    /// 95th percentile round trip.
    pub rtt_p95_ms: Option<f64>,
    /// Mean jitter.
    pub jitter_ms: Option<f64>,
}

/// Where the server first showed strain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    /// Allocations streaming at that step.
    pub allocations: u32,
    /// Packets per second offered at that step.
    pub offered_pps: f64,
    /// What crossed its bound.
    pub reason: KneeReason,
}

/// What crossed its bound at the knee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KneeReason {
    /// Loss exceeded 1 %.
    Loss,
    /// The median round trip doubled against the first step's.
    Rtt,
}

/// Error answers with one code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// The ERROR-CODE (0 for no answer at all).
    pub code: u16,
    /// To which request (`Allocate`, `ChannelBind`, `Refresh`…).
    pub request: String,
    /// How often.
    pub count: u32,
    /// In words, e.g. `486 Allocation Quota Reached`.
    pub meaning: String,
}

/// How a load run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum LoadEnd {
    /// It ran its full duration.
    Completed,
    /// The user stopped it (Ctrl-C / SIGTERM).
    Interrupted,
    /// The server stopped relaying: nothing came back for a while.
    ServerSilent {
        /// How long nothing came back, in milliseconds.
        after_ms: u64,
    },
    /// No allocation could be made.
    NoAllocation {
        /// Why, in words.
        detail: String,
    },
    /// The server answered 300 Try Alternate.
    Redirected {
        /// The ALTERNATE-SERVER it named.
        to: Option<SocketAddr>,
    },
    /// Another reason, in words.
    Failed {
        /// What happened.
        detail: String,
    },
}

impl LoadEnd {
    /// In words, for people.
    pub fn describe(&self) -> String {
        match self {
            LoadEnd::Completed => "ran its full duration".into(),
            LoadEnd::Interrupted => "stopped by the user".into(),
            LoadEnd::ServerSilent { after_ms } => format!(
                "stopped early: the server relayed nothing for {:.1} s",
                *after_ms as f64 / 1000.0
            ),
            LoadEnd::NoAllocation { detail } => format!("no allocation could be made: {detail}"),
            LoadEnd::Redirected { to: Some(a) } => {
                format!("the server redirects (300 Try Alternate) to {a}: load that server")
            }
            LoadEnd::Redirected { to: None } => {
                "the server redirects (300 Try Alternate) without naming where".into()
            }
            LoadEnd::Failed { detail } => format!("stopped early: {detail}"),
        }
    }
}

/// The first step whose loss exceeds 1 %, or whose median round trip is
/// more than twice the first step's: where the server first showed
/// strain; `None` when no step did.
pub fn find_knee(steps: &[LoadStep]) -> Option<Knee> {
    let base = steps.first().and_then(|s| s.rtt_p50_ms);
    for s in steps {
        if s.loss_percent.is_some_and(|l| l > 1.0) {
            return Some(Knee {
                allocations: s.allocations,
                offered_pps: s.offered_pps,
                reason: KneeReason::Loss,
            });
        }
        if let (Some(b), Some(r)) = (base, s.rtt_p50_ms)
            && b > 0.0
            && r > 2.0 * b
        {
            return Some(Knee {
                allocations: s.allocations,
                offered_pps: s.offered_pps,
                reason: KneeReason::Rtt,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(allocations: u32, loss: f64, rtt: f64) -> LoadStep {
        LoadStep {
            at_ms: 0,
            allocations,
            offered_pps: allocations as f64 * 50.0,
            delivered_pps: 0.0,
            loss_percent: Some(loss),
            rtt_p50_ms: Some(rtt),
            rtt_p95_ms: None,
            jitter_ms: None,
        }
    }

    #[test]
    fn the_knee_is_the_first_step_over_1_percent_loss_or_twice_the_rtt() {
        assert_eq!(find_knee(&[step(10, 0.0, 1.0), step(20, 0.5, 1.9)]), None);
        let k = find_knee(&[step(10, 0.0, 1.0), step(20, 1.5, 1.0), step(30, 9.0, 5.0)]).unwrap();
        assert_eq!((k.allocations, k.reason), (20, KneeReason::Loss));
        let k = find_knee(&[step(10, 0.0, 1.0), step(20, 0.0, 2.1)]).unwrap();
        assert_eq!((k.allocations, k.reason), (20, KneeReason::Rtt));
        assert_eq!(find_knee(&[]), None);
    }
}
