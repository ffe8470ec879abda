//! natclass — TODO(helper): crate docs.
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// RFC 4787 mapping / filtering behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// Endpoint-independent.
    EndpointIndependent,
    /// Address-dependent.
    AddressDependent,
    /// Address-and-port-dependent.
    AddressAndPortDependent,
    /// Could not be determined (the evidence says why).
    Unknown,
}

/// Whether UDP gets through at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UdpStatus {
    /// At least one UDP Binding was answered.
    Ok,
    /// UDP is blocked (TCP reached a server that UDP could not).
    Blocked,
    /// Not enough evidence.
    Unknown,
}

/// How sure a verdict is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// Nothing to go on.
    None,
    /// Inferred indirectly or from partial/contradictory evidence.
    Low,
    /// Consistent evidence, but one test or one server only.
    Medium,
    /// Direct RFC 5780 tests, consistent, repeated.
    High,
}

/// One piece of evidence behind a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Which test produced it, e.g. `mapping-test-2`, `filtering-test-3`.
    pub test: String,
    /// What happened, in words, with the addresses involved.
    pub detail: String,
}

/// The NAT verdict: the `nat` section of the JSON report (docs/json.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatVerdict {
    /// Mapping behaviour.
    pub mapping: Behaviour,
    /// Filtering behaviour.
    pub filtering: Behaviour,
    /// Whether we are behind a NAT at all; `None` when unknown.
    pub behind_nat: Option<bool>,
    /// Whether UDP works.
    pub udp: UdpStatus,
    /// Hairpinning; `None` when not tested.
    pub hairpinning: Option<bool>,
    /// The public address:port seen by the servers.
    pub public: Option<SocketAddr>,
    /// Double NAT; `None` when it cannot be told.
    pub double_nat: Option<bool>,
    /// Overall confidence.
    pub confidence: Confidence,
    /// Evidence, in the order it was gathered.
    pub evidence: Vec<Evidence>,
}
