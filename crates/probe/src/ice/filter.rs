//! Candidate-type filters: which local candidates each of the two agents
//! keeps in one ICE session, like the "candidate type" boxes of a browser
//! ICE test page.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The type of an ICE candidate (RFC 8445 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CandidateKind {
    /// A host candidate: an address of a local interface.
    Host,
    /// A server-reflexive candidate: our address as a STUN server saw it.
    Srflx,
    /// A peer-reflexive candidate: learned from a connectivity check.
    Prflx,
    /// A relayed candidate: an address allocated on a TURN server.
    Relay,
}

impl CandidateKind {
    /// The SDP name (`host`, `srflx`, `prflx`, `relay`).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::Host => "host",
            CandidateKind::Srflx => "srflx",
            CandidateKind::Prflx => "prflx",
            CandidateKind::Relay => "relay",
        }
    }
}

impl fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<rice_proto::candidate::CandidateType> for CandidateKind {
    fn from(t: rice_proto::candidate::CandidateType) -> Self {
        use rice_proto::candidate::CandidateType as T;
        match t {
            T::Host => CandidateKind::Host,
            T::ServerReflexive => CandidateKind::Srflx,
            T::PeerReflexive => CandidateKind::Prflx,
            T::Relayed => CandidateKind::Relay,
        }
    }
}

/// Which candidate types the two agents (the controlling agent "a" and the
/// controlled agent "b") may use in one ICE session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateFilter {
    /// Both agents use host candidates only.
    HostHost,
    /// Both agents use server-reflexive candidates only (sent from their
    /// host sockets, as browsers do). Behind one shared NAT this needs the
    /// NAT to hairpin.
    SrflxSrflx,
    /// Both agents use relayed candidates only (TURN on both sides).
    RelayRelay,
    /// Agent "a" uses relayed candidates only, agent "b" host only.
    RelayHost,
    /// No restriction: whichever pair ICE nominates.
    All,
}

impl CandidateFilter {
    /// Every filter, in report order.
    pub const ALL_FILTERS: [CandidateFilter; 5] = [
        CandidateFilter::HostHost,
        CandidateFilter::SrflxSrflx,
        CandidateFilter::RelayRelay,
        CandidateFilter::RelayHost,
        CandidateFilter::All,
    ];

    /// The stable name (`host-host`, `srflx-srflx`, `relay-relay`,
    /// `relay-host`, `all`).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateFilter::HostHost => "host-host",
            CandidateFilter::SrflxSrflx => "srflx-srflx",
            CandidateFilter::RelayRelay => "relay-relay",
            CandidateFilter::RelayHost => "relay-host",
            CandidateFilter::All => "all",
        }
    }

    /// The candidate types agent `side` (0 = "a", 1 = "b") keeps; `None`
    /// means every type.
    pub fn allowed(self, side: usize) -> Option<CandidateKind> {
        match (self, side) {
            (CandidateFilter::HostHost, _) => Some(CandidateKind::Host),
            (CandidateFilter::SrflxSrflx, _) => Some(CandidateKind::Srflx),
            (CandidateFilter::RelayRelay, _) => Some(CandidateKind::Relay),
            (CandidateFilter::RelayHost, 0) => Some(CandidateKind::Relay),
            (CandidateFilter::RelayHost, _) => Some(CandidateKind::Host),
            (CandidateFilter::All, _) => None,
        }
    }

    /// Whether agent `side` keeps a candidate of type `kind`.
    pub fn keeps(self, side: usize, kind: CandidateKind) -> bool {
        self.allowed(side).is_none_or(|k| k == kind)
    }

    /// Whether agent `side` needs to gather candidates of type `kind` at all.
    pub fn gathers(self, side: usize, kind: CandidateKind) -> bool {
        kind != CandidateKind::Prflx && self.keeps(side, kind)
    }
}

impl fmt::Display for CandidateFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CandidateFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL_FILTERS
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!("unknown ICE filter {s:?} (host-host, srflx-srflx, relay-relay, relay-host, all)")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_host_is_asymmetric() {
        let f = CandidateFilter::RelayHost;
        assert!(f.keeps(0, CandidateKind::Relay));
        assert!(!f.keeps(0, CandidateKind::Host));
        assert!(f.keeps(1, CandidateKind::Host));
        assert!(!f.keeps(1, CandidateKind::Relay));
    }

    #[test]
    fn all_keeps_everything_but_gathers_no_prflx() {
        assert!(CandidateFilter::All.keeps(1, CandidateKind::Prflx));
        assert!(!CandidateFilter::All.gathers(1, CandidateKind::Prflx));
    }

    #[test]
    fn names_round_trip() {
        for f in CandidateFilter::ALL_FILTERS {
            assert_eq!(f.as_str().parse::<CandidateFilter>(), Ok(f));
        }
    }
}
