//! Hole-punch compatibility of two peers' verdicts (docs/holepunch.md).
//!
//! Model: ICE-style simultaneous sends to each other's server-reflexive
//! address, one public IP per NAT. Only "endpoint-independent or not" matters
//! for mapping; filtering matters in full. Unknown behaviours are expanded to
//! every possibility: an answer is only given when all possibilities agree.

use crate::verdict::{Behaviour, NatVerdict, PortPattern, UdpStatus};
use serde::{Deserialize, Serialize};

/// Predicted outcome for a pair of peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HolePunchOutcome {
    /// One side is reachable unsolicited: direct without hole punching.
    Direct,
    /// Simultaneous hole punching should succeed.
    DirectLikely,
    /// A relay (TURN) is needed.
    RelayNeeded,
    /// Not enough evidence.
    Unknown,
}

/// A prediction and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolePunchPrediction {
    /// The prediction.
    pub outcome: HolePunchOutcome,
    /// Why, in words.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    Ei,
    Ad,
    Apd,
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    open: bool,
    eim: bool,
    f: F,
}

/// Every concrete peer a verdict may stand for.
fn candidates(v: &NatVerdict) -> Vec<Peer> {
    let no_nat = v.behind_nat == Some(false);
    let maps: &[bool] = if no_nat {
        &[true]
    } else {
        match v.mapping {
            Behaviour::EndpointIndependent => &[true],
            Behaviour::AddressDependent | Behaviour::AddressAndPortDependent => &[false],
            Behaviour::Unknown if v.rfc3489 == crate::Rfc3489Type::Symmetric => &[false],
            Behaviour::Unknown => &[true, false],
        }
    };
    let filts: &[F] = match v.filtering {
        Behaviour::EndpointIndependent => &[F::Ei],
        Behaviour::AddressDependent => &[F::Ad],
        Behaviour::AddressAndPortDependent => &[F::Apd],
        Behaviour::Unknown => &[F::Ei, F::Ad, F::Apd],
    };
    let mut out = Vec::new();
    for &eim in maps {
        for &f in filts {
            out.push(Peer {
                open: no_nat && f == F::Ei,
                eim,
                f,
            });
        }
    }
    out
}

fn pair(a: Peer, b: Peer) -> (HolePunchOutcome, &'static str) {
    use HolePunchOutcome::*;
    if a.open || b.open {
        return (
            Direct,
            "a peer without NAT or filtering is reachable by anyone",
        );
    }
    if (a.eim && a.f == F::Ei) || (b.eim && b.f == F::Ei) {
        return (
            Direct,
            "a full-cone peer is reachable at its public address and answers from it",
        );
    }
    if a.eim && b.eim {
        return (
            DirectLikely,
            "both mappings are endpoint-independent: simultaneous hole punching opens both filters",
        );
    }
    if a.eim != b.eim {
        let e = if a.eim { a } else { b };
        return match e.f {
            F::Apd => (
                RelayNeeded,
                "EIM+APDF accepts only the exact address it sent to, but the symmetric peer's port towards it differs from its advertised one",
            ),
            _ => (
                DirectLikely,
                "EIM+ADF accepts the symmetric peer's new port from the same IP, and answers from its advertised address",
            ),
        };
    }
    // Both mappings are endpoint-dependent.
    if a.f == F::Ei || b.f == F::Ei {
        let other = if a.f == F::Ei { b } else { a };
        return match other.f {
            F::Apd => (
                RelayNeeded,
                "both mappings endpoint-dependent and one side port-restricted: neither side learns the other's real port",
            ),
            _ => (
                DirectLikely,
                "both mappings endpoint-dependent, but open filtering on one side lets the first packet in and the other side accepts its new port",
            ),
        };
    }
    (
        RelayNeeded,
        "both mappings endpoint-dependent and neither side filters openly: fails without port prediction",
    )
}

fn sequential(v: &NatVerdict) -> Option<i32> {
    match v.port_allocation.as_ref()?.pattern {
        PortPattern::Sequential { step } => Some(step),
        _ => None,
    }
}

/// Predict whether peers `a` and `b` can connect directly.
pub fn holepunch(a: &NatVerdict, b: &NatVerdict) -> HolePunchPrediction {
    use HolePunchOutcome::*;
    if a.udp == UdpStatus::Blocked || b.udp == UdpStatus::Blocked {
        return HolePunchPrediction {
            outcome: RelayNeeded,
            reason: "UDP is blocked for a peer: TURN over TCP/TLS needed".to_owned(),
        };
    }
    let mut results = Vec::new();
    for pa in candidates(a) {
        for pb in candidates(b) {
            let r = pair(pa, pb);
            if !results.contains(&r) {
                results.push(r);
            }
        }
    }
    let (outcome, mut reason) = match results.as_slice() {
        [(o, why)] => (*o, (*why).to_owned()),
        _ if results
            .iter()
            .all(|(o, _)| matches!(o, Direct | DirectLikely)) =>
        {
            (
                DirectLikely,
                "direct in every case the evidence allows (some need hole punching)".to_owned(),
            )
        }
        _ => (
            Unknown,
            "the unknown mapping/filtering leaves both direct and relayed outcomes possible"
                .to_owned(),
        ),
    };
    if outcome == RelayNeeded
        && let Some(step) = sequential(a).or(sequential(b))
    {
        reason.push_str(&format!(
            "; sequential port allocation (step {step}) means port prediction might still succeed"
        ));
    }
    HolePunchPrediction { outcome, reason }
}
