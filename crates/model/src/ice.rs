//! The `ice` section: two ICE agents on this machine, one session per
//! candidate-type filter (host↔host, srflx↔srflx, relay↔relay, relay↔host,
//! unrestricted), and which of them connect.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// Content of the `ice` section.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IceSection {
    /// One entry per filter, in report order.
    pub runs: Vec<IceRun>,
    /// What the runs did not cover (e.g. "data channel (DTLS/SCTP) not
    /// tested"), in plain words.
    pub not_tested: Vec<String>,
}

/// Which candidate types the two agents (the controlling agent "a" and the
/// controlled agent "b") may use in one ICE session, like the "candidate
/// type" boxes of a browser ICE test page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IceFilter {
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

impl IceFilter {
    /// Every filter, in report order.
    pub const ALL_FILTERS: [IceFilter; 5] = [
        IceFilter::HostHost,
        IceFilter::SrflxSrflx,
        IceFilter::RelayRelay,
        IceFilter::RelayHost,
        IceFilter::All,
    ];

    /// The stable name (`host-host`, `srflx-srflx`, `relay-relay`,
    /// `relay-host`, `all`).
    pub fn as_str(self) -> &'static str {
        match self {
            IceFilter::HostHost => "host-host",
            IceFilter::SrflxSrflx => "srflx-srflx",
            IceFilter::RelayRelay => "relay-relay",
            IceFilter::RelayHost => "relay-host",
            IceFilter::All => "all",
        }
    }

    /// The candidate type `side` keeps; `None` means every type.
    pub fn allowed(self, side: Side) -> Option<CandidateType> {
        match (self, side) {
            (IceFilter::HostHost, _) => Some(CandidateType::Host),
            (IceFilter::SrflxSrflx, _) => Some(CandidateType::Srflx),
            (IceFilter::RelayRelay, _) => Some(CandidateType::Relay),
            (IceFilter::RelayHost, Side::A) => Some(CandidateType::Relay),
            (IceFilter::RelayHost, Side::B) => Some(CandidateType::Host),
            (IceFilter::All, _) => None,
        }
    }

    /// Whether `side` keeps a candidate of type `kind`.
    pub fn keeps(self, side: Side, kind: CandidateType) -> bool {
        self.allowed(side).is_none_or(|k| k == kind)
    }

    /// Whether `side` needs to gather candidates of type `kind` at all.
    pub fn gathers(self, side: Side, kind: CandidateType) -> bool {
        kind != CandidateType::Prflx && self.keeps(side, kind)
    }
}

impl std::fmt::Display for IceFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for IceFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL_FILTERS
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown ICE filter {s:?} (host-host, srflx-srflx, relay-relay, relay-host, all)"
                )
            })
    }
}

/// One of the two ICE agents of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Agent "a", the controlling one.
    A,
    /// Agent "b", the controlled one.
    B,
}

impl Side {
    /// Both, "a" first.
    pub const BOTH: [Side; 2] = [Side::A, Side::B];

    /// `a` or `b`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }

    /// The other agent.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// 0 for "a", 1 for "b": the index into a pair of per-agent values.
    pub fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of an ICE candidate (RFC 8445 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CandidateType {
    /// A host candidate: an address of a local interface.
    Host,
    /// A server-reflexive candidate: our address as a STUN server saw it.
    Srflx,
    /// A peer-reflexive candidate: learned from a connectivity check.
    Prflx,
    /// A relayed candidate: an address allocated on a TURN server.
    Relay,
}

impl std::fmt::Display for CandidateType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an agent reached the TURN server behind a relayed candidate
/// (WebRTC's `relayProtocol`), in RFC 8445 §5.1.2.2 preference order: UDP
/// before TCP before TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayProtocol {
    /// TURN over UDP.
    Udp,
    /// TURN over TCP.
    Tcp,
    /// TURN over TLS.
    Tls,
}

impl std::fmt::Display for RelayProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RelayProtocol {
    /// All three, in preference order.
    pub const ALL: [RelayProtocol; 3] = [Self::Udp, Self::Tcp, Self::Tls];

    /// `udp`, `tcp` or `tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }

    /// `UDP`, `TCP` or `TLS`.
    pub fn upper(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }
}

/// One run (one ICE session).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IceRun {
    /// The filter.
    pub filter: IceFilter,
    /// When the run used only the TURN servers reached over this protocol
    /// (each relay transport proved on its own); absent: every server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_only: Option<RelayProtocol>,
    /// Connected and payload passed both ways.
    pub connected: bool,
    /// Why not, when `connected` is false.
    pub failure: Option<IceRunFailure>,
    /// Agent "a" (controlling) then agent "b" (controlled).
    pub agents: Vec<IceAgent>,
    /// The pair ICE selected, as agent "a" sees it.
    pub selected: Option<IcePair>,
    /// Whether a peer-reflexive candidate appeared.
    pub peer_reflexive_seen: bool,
    /// From the start of connectivity checks to both agents connected, ms.
    pub time_to_connected_ms: Option<f64>,
    /// Smallest application-level round trip over the selected pair, ms.
    pub rtt_ms: Option<f64>,
    /// Payload exchanged over the selected pair.
    pub payload: Option<IcePayload>,
    /// srflx↔srflx only: whether the NAT must hairpin.
    pub hairpin: Option<IceHairpin>,
    /// A WebRTC data channel (DTLS + SCTP) over the selected pair; absent
    /// when not tested (ICE did not connect, or turned off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_channel: Option<IceDataChannel>,
    /// Wall time of the run, ms.
    pub duration_ms: f64,
}

/// A WebRTC data channel (str0m peers: ICE, DTLS, SCTP, DCEP) carried over
/// the pair ICE selected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IceDataChannel {
    /// The channel opened and a message went each way.
    pub works: bool,
    /// Why not (e.g. `timeout during the DTLS handshake`), when `works` is false.
    pub failure: Option<String>,
    /// From the SDP exchange to the channel open on both peers, ms.
    pub time_to_open_ms: Option<f64>,
    /// From the SDP exchange to DTLS established on both peers, ms.
    pub dtls_connected_ms: Option<f64>,
    /// A message from "a" arrived at "b".
    pub a_to_b: bool,
    /// The answer from "b" arrived at "a".
    pub b_to_a: bool,
    /// Round trip of the message and its answer, ms.
    pub message_rtt_ms: Option<f64>,
}

/// One agent's gathering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IceAgent {
    /// `a` or `b`.
    pub role: Side,
    /// The only candidate type this agent could use (`None`: any).
    pub allowed: Option<CandidateType>,
    /// Gathered candidates.
    pub candidates: Vec<IceCandidate>,
    /// Servers that produced no candidate, and why.
    pub server_problems: Vec<IceServerProblem>,
    /// Gathering time, ms.
    pub gathering_ms: f64,
    /// Whether gathering finished before its deadline.
    pub gathering_complete: bool,
}

/// A gathered candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IceCandidate {
    /// Type.
    #[serde(rename = "type")]
    pub kind: CandidateType,
    /// `udp`.
    pub protocol: String,
    /// Address.
    pub address: SocketAddr,
    /// Related address (base for srflx, mapped address for relay).
    pub related_address: Option<SocketAddr>,
    /// The STUN/TURN server URL that produced it (never credentials).
    pub server: Option<String>,
    /// Time from the start of gathering, ms.
    pub gathered_ms: f64,
    /// Whether the filter let the agent use it.
    pub used: bool,
    /// Why an allowed candidate was not used.
    pub dropped: Option<String>,
    /// Relayed candidates: how the agent reached its TURN server —
    /// WebRTC's `relayProtocol`. Absent for other types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_protocol: Option<RelayProtocol>,
}

/// A server that produced no candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IceServerProblem {
    /// Server URL.
    pub server: String,
    /// The candidate type it should have produced.
    #[serde(rename = "type")]
    pub kind: CandidateType,
    /// Plain-language error (may quote a reason phrase from the network).
    pub error: String,
    /// STUN/TURN ERROR-CODE, when the server answered with one.
    pub code: Option<u16>,
}

/// The selected pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcePair {
    /// Local candidate type (agent "a").
    pub local_type: CandidateType,
    /// Local address.
    pub local_address: SocketAddr,
    /// Remote candidate type (agent "b").
    pub remote_type: CandidateType,
    /// Remote address.
    pub remote_address: SocketAddr,
    /// When the local candidate is relayed: how agent "a" reached its TURN
    /// server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_relay_protocol: Option<RelayProtocol>,
    /// When the remote candidate is relayed: how agent "b" reached its
    /// TURN server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_relay_protocol: Option<RelayProtocol>,
}

/// Payload over the selected pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcePayload {
    /// Pings sent by "a".
    pub sent: u32,
    /// Pings received by "b".
    pub a_to_b: u32,
    /// Pongs received by "a".
    pub b_to_a: u32,
}

/// Why a run did not connect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum IceRunFailure {
    /// An agent gathered no candidate of its allowed type.
    NoCandidates {
        /// `a` or `b`.
        agent: Side,
        /// The missing type.
        #[serde(rename = "type")]
        candidate_type: CandidateType,
        /// Why.
        reason: String,
    },
    /// A TURN server refused; its error named.
    TurnError {
        /// Server URL.
        server: String,
        /// ERROR-CODE, when known.
        code: Option<u16>,
        /// Plain-language error.
        error: String,
    },
    /// Checks ran and failed.
    ChecksFailed,
    /// A phase hit its deadline (`gathering`, `checks`, `payload`).
    Timeout {
        /// The phase.
        phase: String,
    },
    /// Connected but payload did not pass both ways.
    PayloadFailed,
    /// A local error.
    Local {
        /// The error.
        message: String,
    },
}

/// Hairpinning note for srflx↔srflx.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum IceHairpin {
    /// srflx equals host: no NAT in between, hairpinning not exercised.
    NoNat,
    /// Both agents share this public IP: the pair needs NAT hairpinning.
    Required {
        /// The shared public IP.
        public_ip: IpAddr,
    },
    /// Different public IPs: no hairpinning involved.
    NotRequired,
}

impl IceFilter {
    /// The run's name for people, e.g. `srflx ↔ srflx`.
    pub fn label(self) -> &'static str {
        match self {
            IceFilter::HostHost => "host ↔ host",
            IceFilter::SrflxSrflx => "srflx ↔ srflx",
            IceFilter::RelayRelay => "relay ↔ relay",
            IceFilter::RelayHost => "relay ↔ host",
            IceFilter::All => "all types",
        }
    }
}

impl IceRun {
    /// The run's name: the filter, and the relay transport when the run was
    /// restricted to one (e.g. `relay ↔ relay, TURN-TLS only`).
    pub fn label(&self) -> String {
        match self.relay_only {
            Some(p) => format!("{}, TURN-{} only", self.filter.label(), p.upper()),
            None => self.filter.label().to_owned(),
        }
    }
}

impl IcePair {
    /// The candidate types, with the relay transport of relayed ones (e.g.
    /// `relay/TLS → host`).
    pub fn types(&self) -> String {
        let one = |t: CandidateType, p: Option<RelayProtocol>| match p {
            Some(p) => format!("{}/{}", t.as_str(), p.upper()),
            None => t.as_str().to_owned(),
        };
        format!(
            "{} → {}",
            one(self.local_type, self.local_relay_protocol),
            one(self.remote_type, self.remote_relay_protocol)
        )
    }
}

impl IceCandidate {
    /// The transport column: `udp`, or for a relayed candidate how the TURN
    /// server was reached (`udp via TURN-TLS`).
    pub fn protocol_label(&self) -> String {
        match self.relay_protocol {
            Some(p) => format!("{} via TURN-{}", self.protocol, p.upper()),
            None => self.protocol.clone(),
        }
    }
}

impl CandidateType {
    /// The SDP name: `host`, `srflx`, `prflx`, `relay`.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
        }
    }
}

impl IceRunFailure {
    /// The failure in plain words. May quote untrusted text (TURN reason
    /// phrases, OS errors): renderers must escape it.
    pub fn describe(&self) -> String {
        match self {
            IceRunFailure::NoCandidates {
                agent,
                candidate_type,
                reason,
            } => format!(
                "agent {agent} gathered no {} candidate: {reason}",
                candidate_type.as_str()
            ),
            IceRunFailure::TurnError {
                server,
                code,
                error,
            } => match code {
                Some(code) => format!("TURN server {server} refused ({code}): {error}"),
                None => format!("TURN server {server} refused: {error}"),
            },
            IceRunFailure::ChecksFailed => "connectivity checks failed".to_owned(),
            IceRunFailure::Timeout { phase } => format!("timed out during {phase}"),
            IceRunFailure::PayloadFailed => {
                "connected, but payload did not pass both ways".to_owned()
            }
            IceRunFailure::Local { message } => format!("local error: {message}"),
        }
    }
}

impl IceHairpin {
    /// The note in plain words.
    pub fn describe(&self) -> String {
        match self {
            IceHairpin::NoNat => {
                "srflx equals host (no NAT between the agents): hairpinning not exercised"
                    .to_owned()
            }
            IceHairpin::Required { public_ip } => format!(
                "both agents share the public IP {public_ip}: this pair needs NAT hairpinning"
            ),
            IceHairpin::NotRequired => "different public IPs: no hairpinning involved".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_host_is_asymmetric() {
        let f = IceFilter::RelayHost;
        assert!(f.keeps(Side::A, CandidateType::Relay));
        assert!(!f.keeps(Side::A, CandidateType::Host));
        assert!(f.keeps(Side::B, CandidateType::Host));
        assert!(!f.keeps(Side::B, CandidateType::Relay));
    }

    #[test]
    fn all_keeps_everything_but_gathers_no_prflx() {
        assert!(IceFilter::All.keeps(Side::B, CandidateType::Prflx));
        assert!(!IceFilter::All.gathers(Side::B, CandidateType::Prflx));
    }

    #[test]
    fn names_round_trip() {
        for f in IceFilter::ALL_FILTERS {
            assert_eq!(f.as_str().parse::<IceFilter>(), Ok(f));
        }
    }
}
