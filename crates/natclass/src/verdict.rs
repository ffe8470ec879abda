//! The verdict types: the JSON contract of the `nat` report section.
//!
//! Field names and value spellings of [`NatVerdict`] are a stable interface
//! (docs/verdicts.md); fields are only ever added, each with a serde default so
//! older documents still parse.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// RFC 4787 mapping / filtering behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// Endpoint-independent.
    EndpointIndependent,
    /// Address-dependent.
    AddressDependent,
    /// Address-and-port-dependent.
    AddressAndPortDependent,
    /// Could not be determined (the evidence says why).
    #[default]
    Unknown,
}

/// The address family a verdict is about (`nat` is IPv4, `nat_ipv6` IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: std::net::IpAddr) -> Family {
        if ip.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }

    /// "IPv4" or "IPv6", for sentences.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        }
    }
}

/// What, if anything, rewrites this host's address on the way out
/// (docs/verdicts.md, "Translation").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Translation {
    /// Nothing: servers see the host's own address (a firewall may still
    /// filter what comes in; `filtering` says how).
    None,
    /// A stateful NAT (NAT44, or NAT66 for IPv6): the address is replaced by
    /// the NAT's, and ports may be.
    Nat,
    /// RFC 6296 NPTv6: the prefix is swapped statelessly (checksum-neutral),
    /// ports are kept and nothing is filtered by the translation itself.
    Nptv6,
}

/// Whether UDP gets through at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UdpStatus {
    /// At least one UDP Binding was answered.
    Ok,
    /// UDP is blocked (TCP reached a server that UDP could not).
    Blocked,
    /// Not enough evidence.
    #[default]
    Unknown,
}

/// How sure a verdict is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// Nothing to go on.
    #[default]
    None,
    /// Inferred indirectly (plain servers), or from partial, lossy or
    /// contradictory evidence.
    Low,
    /// Consistent evidence that rests on silence (a "no answer") seen by one
    /// server only, or indirect inference from several plain servers.
    Medium,
    /// Direct RFC 5780 tests, consistent: either positive answers from a
    /// consistent server, or silence confirmed by a second server.
    High,
}

impl Confidence {
    /// One level up (agreement of independent sources), capped at `High`.
    pub fn raised(self) -> Confidence {
        match self {
            Confidence::None => Confidence::Low,
            Confidence::Low => Confidence::Medium,
            Confidence::Medium | Confidence::High => Confidence::High,
        }
    }
}

/// One piece of evidence behind a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Which test produced it, e.g. `mapping-test-2`, `filtering-test-3`
    /// (all names are listed in docs/verdicts.md).
    pub test: String,
    /// What happened, in words, with the addresses involved.
    pub detail: String,
    /// The server the evidence is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<SocketAddr>,
}

impl Evidence {
    /// Evidence not tied to one server.
    pub fn new(test: &str, detail: impl Into<String>) -> Evidence {
        Evidence {
            test: test.to_owned(),
            detail: detail.into(),
            server: None,
        }
    }

    /// Evidence about one server.
    pub fn about(server: SocketAddr, test: &str, detail: impl Into<String>) -> Evidence {
        Evidence {
            test: test.to_owned(),
            detail: detail.into(),
            server: Some(server),
        }
    }
}

/// The classic RFC 3489 name of the NAT type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rfc3489Type {
    /// No NAT and no filtering: "open internet".
    OpenInternet,
    /// No NAT, but a firewall filters unsolicited UDP ("symmetric UDP firewall").
    SymmetricUdpFirewall,
    /// EIM + EIF.
    FullCone,
    /// EIM + ADF.
    RestrictedCone,
    /// EIM + APDF.
    PortRestrictedCone,
    /// EIM with filtering not determined (some kind of cone).
    Cone,
    /// Any mapping that is not endpoint-independent.
    Symmetric,
    /// UDP does not get through.
    UdpBlocked,
    /// Not enough evidence.
    #[default]
    Unknown,
}

impl Rfc3489Type {
    /// Plain-language name, e.g. "port restricted cone".
    pub fn name(self) -> &'static str {
        match self {
            Rfc3489Type::OpenInternet => "open internet (no NAT)",
            Rfc3489Type::SymmetricUdpFirewall => "no NAT, symmetric UDP firewall",
            Rfc3489Type::FullCone => "full cone",
            Rfc3489Type::RestrictedCone => "restricted cone",
            Rfc3489Type::PortRestrictedCone => "port restricted cone",
            Rfc3489Type::Cone => "cone (filtering unknown)",
            Rfc3489Type::Symmetric => "symmetric",
            Rfc3489Type::UdpBlocked => "UDP blocked",
            Rfc3489Type::Unknown => "unknown",
        }
    }
}

/// What the verdict means for peer-to-peer connectivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum P2pOutlook {
    /// Reachable or full-cone: direct connections likely.
    Direct,
    /// EIM with address-dependent (or open) filtering towards symmetric peers:
    /// direct with most peers after hole punching.
    HolePunching,
    /// EIM with port-restricted (or unknown) filtering: symmetric peers need TURN.
    TurnForSymmetricPeers,
    /// Symmetric NAT or UDP blocked: TURN needed.
    TurnNeeded,
    /// Not enough evidence.
    #[default]
    Unknown,
}

impl P2pOutlook {
    /// The sentence shown to users (docs/verdicts.md).
    pub fn sentence(self) -> &'static str {
        match self {
            P2pOutlook::Direct => "direct connections likely",
            P2pOutlook::HolePunching => "direct connections with most peers; needs hole punching",
            P2pOutlook::TurnForSymmetricPeers => "TURN needed for peers behind symmetric NATs",
            P2pOutlook::TurnNeeded => "TURN needed",
            P2pOutlook::Unknown => "not enough evidence to say",
        }
    }
}

/// How the NAT picks public ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PortPattern {
    /// Every mapped port equals its local port.
    Preserved,
    /// Every sample got the same public port (one endpoint-independent mapping).
    Reused,
    /// Consecutive mappings differ by a small constant-sign step.
    Sequential {
        /// The most common step between consecutive mapped ports.
        step: i32,
    },
    /// No usable pattern.
    Random,
    /// Too few samples.
    #[default]
    Unknown,
}

/// Port allocation behaviour (what hole-punching port prediction needs).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PortAllocation {
    /// Number of samples analysed.
    pub samples: usize,
    /// How many samples kept their local port.
    pub preserved: usize,
    /// `Some(true)` when every sample kept its port, `Some(false)` when at least
    /// one did not, `None` without samples.
    pub port_preservation: Option<bool>,
    /// The allocation pattern.
    pub pattern: PortPattern,
    /// Differences between consecutive mapped ports, in sample order.
    pub deltas: Vec<i32>,
}

/// Where the mapping lifetime (UDP idle timeout) lies.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MappingLifetime {
    /// Longest idle interval after which the mapping was still alive (ms).
    pub lower_ms: Option<u64>,
    /// Shortest idle interval (above `lower_ms`) after which it was gone (ms).
    pub upper_ms: Option<u64>,
    /// Number of probes.
    pub probes: usize,
    /// False when a shorter interval died while a longer one survived
    /// (loss, or traffic refreshing the mapping).
    pub consistent: bool,
}

/// What natscope found out about one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerStatus {
    /// Answered, with a usable RFC 5780 OTHER-ADDRESS; responses consistent.
    Rfc5780,
    /// A classic RFC 3489 server: answered with a usable CHANGED-ADDRESS
    /// (no OTHER-ADDRESS); its CHANGE-REQUEST tests are used the same way.
    Rfc3489,
    /// Answered but without OTHER-ADDRESS (plain RFC 8489 server).
    NotRfc5780,
    /// Answered, but OTHER-ADDRESS or response sources are inconsistent
    /// (e.g. coturn queried on its second address).
    Inconsistent,
    /// No answer over UDP, but TCP answered: UDP to it is blocked.
    UdpBlocked,
    /// No answer over UDP or TCP: server down or unreachable.
    Down,
    /// ICMP port unreachable: the host is up, nothing listens on the port.
    PortClosed,
    /// No answer over UDP; TCP not tested.
    NoUdpAnswer,
    /// Not tested.
    #[default]
    NotTested,
}

impl ServerStatus {
    /// Whether the server answered over UDP (whatever it is worth).
    pub fn answered(self) -> bool {
        matches!(
            self,
            ServerStatus::Rfc5780
                | ServerStatus::Rfc3489
                | ServerStatus::NotRfc5780
                | ServerStatus::Inconsistent
        )
    }

    /// In words, e.g. `port closed`.
    pub fn describe(self) -> &'static str {
        match self {
            ServerStatus::Rfc5780 => "RFC 5780 server",
            ServerStatus::Rfc3489 => "classic RFC 3489 server",
            ServerStatus::NotRfc5780 => "answered, without RFC 5780",
            ServerStatus::Inconsistent => "inconsistent RFC 5780 answers",
            ServerStatus::UdpBlocked => "UDP blocked (TCP answered)",
            ServerStatus::Down => "no answer over UDP or TCP",
            ServerStatus::PortClosed => "port closed (ICMP port unreachable)",
            ServerStatus::NoUdpAnswer => "no UDP answer",
            ServerStatus::NotTested => "not tested",
        }
    }
}

/// The per-server part of a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerVerdict {
    /// The server's primary address.
    pub server: SocketAddr,
    /// What the server is / did.
    pub status: ServerStatus,
    /// Mapping seen through this server alone.
    pub mapping: Behaviour,
    /// Filtering seen through this server alone.
    pub filtering: Behaviour,
    /// Hairpinning seen through this server; `None` when not tested.
    pub hairpinning: Option<bool>,
    /// Mapped address of the first Binding.
    pub public: Option<SocketAddr>,
    /// Confidence of this server's mapping and filtering findings (the lower).
    pub confidence: Confidence,
}

/// Two sources saying different things about the same aspect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disagreement {
    /// `mapping`, `filtering`, `hairpinning` or `public`.
    pub aspect: String,
    /// Who said what.
    pub detail: String,
}

/// The NAT verdict: the `nat` section of the JSON report (docs/json.md,
/// docs/verdicts.md).
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
    /// Confidence of `mapping` alone.
    #[serde(default)]
    pub mapping_confidence: Confidence,
    /// Confidence of `filtering` alone.
    #[serde(default)]
    pub filtering_confidence: Confidence,
    /// Carrier-grade NAT (RFC 6598 100.64.0.0/10) seen; `None` when unknown.
    #[serde(default)]
    pub cgnat: Option<bool>,
    /// RFC 3489 name.
    #[serde(default)]
    pub rfc3489: Rfc3489Type,
    /// Peer-to-peer outlook.
    #[serde(default)]
    pub p2p: P2pOutlook,
    /// One plain-language sentence.
    #[serde(default)]
    pub summary: String,
    /// Port allocation; `None` when not sampled.
    #[serde(default)]
    pub port_allocation: Option<PortAllocation>,
    /// Mapping lifetime; `None` when not probed.
    #[serde(default)]
    pub mapping_lifetime: Option<MappingLifetime>,
    /// Per-server findings.
    #[serde(default)]
    pub servers: Vec<ServerVerdict>,
    /// Sources that disagreed (never hidden).
    #[serde(default)]
    pub disagreements: Vec<Disagreement>,
    /// The address family of the servers this verdict rests on; `None` in
    /// documents older than per-family verdicts (or with no server).
    #[serde(default)]
    pub family: Option<Family>,
    /// What rewrites the address (none, NAT, NPTv6); `None` when unknown.
    #[serde(default)]
    pub translation: Option<Translation>,
}

impl NatVerdict {
    /// A verdict that knows nothing (every field unknown / not tested).
    pub fn unknown() -> NatVerdict {
        NatVerdict {
            mapping: Behaviour::Unknown,
            filtering: Behaviour::Unknown,
            behind_nat: None,
            udp: UdpStatus::Unknown,
            hairpinning: None,
            public: None,
            double_nat: None,
            confidence: Confidence::None,
            evidence: Vec::new(),
            mapping_confidence: Confidence::None,
            filtering_confidence: Confidence::None,
            cgnat: None,
            rfc3489: Rfc3489Type::Unknown,
            p2p: P2pOutlook::Unknown,
            summary: String::new(),
            port_allocation: None,
            mapping_lifetime: None,
            servers: Vec::new(),
            disagreements: Vec::new(),
            family: None,
            translation: None,
        }
    }
}
