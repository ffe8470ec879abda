//! What one ICE session (one [`IceFilter`]) found: the candidates
//! each agent gathered, the pair ICE selected, the payload exchanged over
//! it, or the named reason it failed.

use model::ice::{CandidateType, IceFilter, RelayProtocol, Side};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// One candidate an agent gathered (or learned, for peer-reflexive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CandidateInfo {
    /// Candidate type.
    pub kind: CandidateType,
    /// Transport protocol (`udp`).
    pub protocol: String,
    /// The candidate's address.
    pub address: SocketAddr,
    /// The related address (the base for srflx, the mapped address for
    /// relay), when there is one.
    pub related_address: Option<SocketAddr>,
    /// URL of the STUN/TURN server that produced it (`None` for host).
    pub server: Option<String>,
    /// Time from the start of gathering to this candidate.
    pub gathered_after: Duration,
    /// Whether the run's filter let the agent use it.
    pub used: bool,
    /// Why a gathered candidate of an allowed type was not used (e.g.
    /// redundant with a host candidate), if so.
    pub dropped: Option<String>,
    /// Relayed candidates: how the agent reached its TURN server —
    /// WebRTC's `relayProtocol`. `None` for other types.
    pub relay_protocol: Option<RelayProtocol>,
}

/// A STUN or TURN server that produced no candidate for one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerProblem {
    /// The server URL.
    pub server: String,
    /// What kind of candidate it should have produced.
    pub kind: CandidateType,
    /// What went wrong.
    pub error: GatherError,
}

/// Why a STUN/TURN server produced no candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum GatherError {
    /// No answer before the gathering deadline.
    NoResponse,
    /// The TURN server answered with an error (last one seen on the wire).
    /// `401` twice means the credentials were rejected.
    TurnError {
        /// STUN ERROR-CODE.
        code: u16,
        /// Reason phrase (untrusted network text).
        reason: String,
        /// How many error answers were seen.
        count: u32,
    },
    /// The STUN server answered with an error.
    StunError {
        /// STUN ERROR-CODE.
        code: u16,
        /// Reason phrase (untrusted network text).
        reason: String,
    },
    /// The TURN client gave up without an error answer we could read.
    TurnFailed,
    /// The STUN answer had no mapped address.
    NoMappedAddress,
    /// A local socket error.
    Socket {
        /// The error text.
        message: String,
    },
    /// Another TURN server over TCP/TLS has the same address (e.g. TCP and
    /// TLS on one port); rice-proto keeps one TCP connection per server
    /// address, so this one is left to its own per-transport run.
    SharedTcpAddress {
        /// The URL of the server that has the connection.
        other: String,
    },
    /// The TCP connection or the TLS handshake to the TURN server failed
    /// (a certificate problem is named), or the connection closed before
    /// an allocation.
    Connection {
        /// What happened (refused, no answer within the bound, closed).
        message: String,
    },
    /// The address family of the server does not match the local socket.
    FamilyMismatch,
    /// ICMP port unreachable: the server's host is up, nothing listens on
    /// the port.
    PortClosed {
        /// Who sent the ICMP error, when known.
        from: Option<std::net::IpAddr>,
    },
}

impl std::fmt::Display for GatherError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GatherError::NoResponse => f.write_str("no response"),
            GatherError::TurnError {
                code: 401, count, ..
            } if *count >= 2 => f.write_str("TURN 401 Unauthorized: credentials rejected"),
            GatherError::TurnError { code, reason, .. } => write!(f, "TURN error {code} {reason}"),
            GatherError::StunError { code, reason } => write!(f, "STUN error {code} {reason}"),
            GatherError::TurnFailed => f.write_str("TURN allocation failed"),
            GatherError::NoMappedAddress => f.write_str("answer without a mapped address"),
            GatherError::Socket { message } => write!(f, "socket error: {message}"),
            GatherError::Connection { message } => write!(f, "{message}"),
            GatherError::SharedTcpAddress { other } => write!(
                f,
                "same TCP address as {other}: one connection per server address \
                 in a run; tested in its own relay-relay run"
            ),
            GatherError::FamilyMismatch => f.write_str("address family mismatch"),
            GatherError::PortClosed { from } => {
                f.write_str(model::stun::PORT_CLOSED)?;
                match from {
                    Some(ip) => write!(f, " (ICMP port unreachable from {ip})"),
                    None => f.write_str(" (ICMP port unreachable)"),
                }
            }
        }
    }
}

/// What one agent did in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentReport {
    /// `a` (controlling) or `b` (controlled).
    pub role: Side,
    /// The candidate types this agent was allowed (`None`: all).
    pub allowed: Option<CandidateType>,
    /// Every candidate gathered, used or not.
    pub candidates: Vec<CandidateInfo>,
    /// Servers that produced no candidate, and why.
    pub server_problems: Vec<ServerProblem>,
    /// How long gathering took for this agent.
    pub gathering_time: Duration,
    /// Whether gathering finished before its deadline.
    pub gathering_complete: bool,
}

/// The pair ICE selected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelectedPairInfo {
    /// Local (agent "a") candidate type.
    pub local_kind: CandidateType,
    /// Local candidate address.
    pub local_address: SocketAddr,
    /// Remote (agent "b") candidate type.
    pub remote_kind: CandidateType,
    /// Remote candidate address.
    pub remote_address: SocketAddr,
    /// The same pair as agent "b" selected it, when it did (local = b).
    pub peer_view: Option<(CandidateType, SocketAddr, CandidateType, SocketAddr)>,
    /// When the local candidate is relayed: how agent "a" reaches its TURN
    /// server.
    pub local_relay_protocol: Option<RelayProtocol>,
    /// When the remote candidate is relayed: how agent "b" reaches its
    /// TURN server.
    pub remote_relay_protocol: Option<RelayProtocol>,
}

/// Whether a srflx↔srflx pair needs the NAT to hairpin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum HairpinNote {
    /// The srflx addresses equal the host addresses: there is no NAT
    /// between the agents and the STUN server, so hairpinning was not
    /// exercised.
    NoNat,
    /// Both agents share one public IP: the check only passes if the NAT
    /// hairpins (loops packets to its own public address back inside).
    Required {
        /// The shared public IP.
        public_ip: IpAddr,
    },
    /// The agents have different public IPs: no hairpinning involved.
    NotRequired,
}

/// The application payload sent over the selected pair, both ways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayloadExchange {
    /// Pings sent by "a".
    pub sent: u32,
    /// Pings "b" received intact.
    pub a_to_b: u32,
    /// Pongs "a" received intact.
    pub b_to_a: u32,
    /// Round-trip times of the answered pings.
    pub rtts: Vec<Duration>,
}

impl PayloadExchange {
    /// Whether at least one payload went each way.
    pub fn both_ways(&self) -> bool {
        self.a_to_b > 0 && self.b_to_a > 0
    }

    /// The smallest round-trip time.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.rtts.iter().min().copied()
    }
}

/// The ICE phase a timeout happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IcePhase {
    /// Gathering candidates.
    Gathering,
    /// Connectivity checks.
    Checks,
    /// Sending payload over the selected pair.
    Payload,
    /// Waiting for the other natscope's candidates ([`super::run_remote`]).
    Signalling,
}

/// Why a run did not connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum IceFailure {
    /// An agent gathered no candidate of the type the filter allows it.
    NoCandidates {
        /// `a` or `b`.
        agent: Side,
        /// The candidate type that is missing.
        kind: CandidateType,
        /// Why (e.g. "no TURN server configured", or the servers' errors).
        reason: String,
    },
    /// A TURN server refused the allocation; the error is named.
    TurnError {
        /// The TURN server URL.
        server: String,
        /// What it answered.
        error: GatherError,
    },
    /// Connectivity checks ran and every pair failed.
    ChecksFailed,
    /// A phase did not finish before its deadline.
    Timeout {
        /// Which phase.
        phase: IcePhase,
    },
    /// ICE connected but no payload made it one of the ways.
    PayloadFailed,
    /// A local error (socket, rice-proto) stopped the run.
    Local {
        /// The error text.
        message: String,
    },
}

impl std::fmt::Display for IceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IceFailure::NoCandidates {
                agent,
                kind,
                reason,
            } => {
                write!(
                    f,
                    "no {kind} candidates gathered by agent {agent}: {reason}"
                )
            }
            IceFailure::TurnError { server, error } => write!(f, "{server}: {error}"),
            IceFailure::ChecksFailed => f.write_str("connectivity checks failed"),
            IceFailure::Timeout { phase } => write!(f, "timeout during {phase}"),
            IceFailure::PayloadFailed => {
                f.write_str("connected, but payload did not pass both ways")
            }
            IceFailure::Local { message } => write!(f, "local error: {message}"),
        }
    }
}

/// The result of one ICE session restricted by one filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IceRunResult {
    /// The filter.
    pub filter: IceFilter,
    /// When the run used only the TURN servers reached over one protocol
    /// (to prove each relay transport on its own); `None`: every
    /// configured server.
    pub relay_only: Option<RelayProtocol>,
    /// `None` when connected and payload passed both ways, else the reason.
    pub failure: Option<IceFailure>,
    /// Agent "a" (controlling) and agent "b" (controlled).
    pub agents: Vec<AgentReport>,
    /// The pair ICE selected (nominated), if any.
    pub selected: Option<SelectedPairInfo>,
    /// Whether a peer-reflexive candidate appeared on either agent.
    pub peer_reflexive_seen: bool,
    /// From the start of connectivity checks to both agents connected.
    pub time_to_connected: Option<Duration>,
    /// Payload over the selected pair (`None` when ICE never connected).
    pub payload: Option<PayloadExchange>,
    /// For srflx↔srflx: whether the NAT must hairpin.
    pub hairpin: Option<HairpinNote>,
    /// The WebRTC data channel (DTLS + SCTP) over the selected pair, when
    /// ICE connected and it was not turned off; `None`: not tested.
    pub data_channel: Option<DataChannelResult>,
    /// Total wall time of the run.
    pub duration: Duration,
}

impl IceRunResult {
    /// Whether the run connected and exchanged payload both ways.
    pub fn connected(&self) -> bool {
        self.failure.is_none()
    }
}

/// What the data channel over one run's selected pair did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataChannelResult {
    /// `None` when the channel opened and a message went each way, else
    /// why not.
    pub failure: Option<DataChannelFailure>,
    /// From the SDP exchange to str0m's own ICE connected (both peers).
    pub ice_connected_after: Option<Duration>,
    /// From the SDP exchange to DTLS established (both peers).
    pub dtls_connected_after: Option<Duration>,
    /// From the SDP exchange to the data channel open on both peers.
    pub time_to_open: Option<Duration>,
    /// The channel label both peers saw.
    pub label: Option<String>,
    /// Whether a message from "a" arrived intact at "b".
    pub a_to_b: bool,
    /// Whether the answer from "b" arrived intact at "a".
    pub b_to_a: bool,
    /// Round trip of the message and its answer.
    pub message_rtt: Option<Duration>,
    /// Datagrams bridged over the selected pair from "a" to "b" and back.
    pub datagrams: (u32, u32),
}

impl DataChannelResult {
    /// Whether the channel opened and a message went each way.
    pub fn works(&self) -> bool {
        self.failure.is_none()
    }
}

/// The data-channel phase a timeout happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataChannelPhase {
    /// str0m's ICE checks over the bridged path.
    Ice,
    /// The DTLS handshake.
    Dtls,
    /// SCTP association and DCEP channel open.
    Open,
    /// A message each way.
    Message,
}

impl std::fmt::Display for DataChannelPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DataChannelPhase::Ice => "the ICE checks",
            DataChannelPhase::Dtls => "the DTLS handshake",
            DataChannelPhase::Open => "the channel open (SCTP)",
            DataChannelPhase::Message => "the message exchange",
        })
    }
}

/// Why the data channel did not work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DataChannelFailure {
    /// Building the peers or negotiating the SDP failed (local).
    Setup {
        /// The error text.
        message: String,
    },
    /// A phase did not finish before its deadline.
    Timeout {
        /// Which phase.
        phase: DataChannelPhase,
    },
    /// A str0m peer failed (e.g. DTLS error, ICE disconnected).
    Peer {
        /// `a` or `b`.
        peer: String,
        /// The error text.
        message: String,
    },
    /// rice-proto refused to send over the selected pair.
    Bridge {
        /// The error text.
        message: String,
    },
}

impl std::fmt::Display for DataChannelFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataChannelFailure::Setup { message } => write!(f, "setup: {message}"),
            DataChannelFailure::Timeout { phase } => write!(f, "timeout during {phase}"),
            DataChannelFailure::Peer { peer, message } => write!(f, "peer {peer}: {message}"),
            DataChannelFailure::Bridge { message } => write!(f, "bridge: {message}"),
        }
    }
}

impl std::fmt::Display for IcePhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IcePhase::Gathering => "gathering",
            IcePhase::Checks => "checks",
            IcePhase::Payload => "payload",
            IcePhase::Signalling => "signalling",
        })
    }
}

impl GatherError {
    /// The STUN/TURN ERROR-CODE, when the server answered with one.
    pub fn code(&self) -> Option<u16> {
        match self {
            GatherError::TurnError { code, .. } | GatherError::StunError { code, .. } => {
                Some(*code)
            }
            _ => None,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A run as the report holds it: durations in milliseconds, errors in plain
/// words. Every field is destructured, so a field added to either side
/// fails to compile until it is carried over (or dropped here on purpose).
impl From<&IceRunResult> for model::ice::IceRun {
    fn from(r: &IceRunResult) -> Self {
        use model::ice as m;
        let IceRunResult {
            filter,
            relay_only,
            failure,
            agents,
            selected,
            peer_reflexive_seen,
            time_to_connected,
            payload,
            hairpin,
            data_channel,
            duration,
        } = r;
        m::IceRun {
            filter: *filter,
            relay_only: *relay_only,
            connected: r.connected(),
            failure: failure.as_ref().map(m::IceRunFailure::from),
            agents: agents.iter().map(m::IceAgent::from).collect(),
            selected: selected.as_ref().map(m::IcePair::from),
            peer_reflexive_seen: *peer_reflexive_seen,
            time_to_connected_ms: time_to_connected.map(ms),
            rtt_ms: payload.as_ref().and_then(PayloadExchange::min_rtt).map(ms),
            payload: payload.as_ref().map(|p| {
                let PayloadExchange {
                    sent,
                    a_to_b,
                    b_to_a,
                    rtts: _,
                } = p;
                m::IcePayload {
                    sent: *sent,
                    a_to_b: *a_to_b,
                    b_to_a: *b_to_a,
                }
            }),
            hairpin: hairpin.as_ref().map(|h| match h {
                HairpinNote::NoNat => m::IceHairpin::NoNat,
                HairpinNote::Required { public_ip } => m::IceHairpin::Required {
                    public_ip: *public_ip,
                },
                HairpinNote::NotRequired => m::IceHairpin::NotRequired,
            }),
            data_channel: data_channel.as_ref().map(m::IceDataChannel::from),
            duration_ms: ms(*duration),
        }
    }
}

impl From<&IceFailure> for model::ice::IceRunFailure {
    fn from(f: &IceFailure) -> Self {
        use model::ice::IceRunFailure as F;
        match f {
            IceFailure::NoCandidates {
                agent,
                kind,
                reason,
            } => F::NoCandidates {
                agent: *agent,
                candidate_type: *kind,
                reason: reason.clone(),
            },
            IceFailure::TurnError { server, error } => F::TurnError {
                server: server.clone(),
                code: error.code(),
                error: error.to_string(),
            },
            IceFailure::ChecksFailed => F::ChecksFailed,
            IceFailure::Timeout { phase } => F::Timeout {
                phase: phase.to_string(),
            },
            IceFailure::PayloadFailed => F::PayloadFailed,
            IceFailure::Local { message } => F::Local {
                message: message.clone(),
            },
        }
    }
}

impl From<&AgentReport> for model::ice::IceAgent {
    fn from(a: &AgentReport) -> Self {
        let AgentReport {
            role,
            allowed,
            candidates,
            server_problems,
            gathering_time,
            gathering_complete,
        } = a;
        model::ice::IceAgent {
            role: *role,
            allowed: *allowed,
            candidates: candidates
                .iter()
                .map(|c| {
                    let CandidateInfo {
                        kind,
                        protocol,
                        address,
                        related_address,
                        server,
                        gathered_after,
                        used,
                        dropped,
                        relay_protocol,
                    } = c;
                    model::ice::IceCandidate {
                        kind: *kind,
                        protocol: protocol.clone(),
                        address: *address,
                        related_address: *related_address,
                        server: server.clone(),
                        gathered_ms: ms(*gathered_after),
                        used: *used,
                        dropped: dropped.clone(),
                        relay_protocol: *relay_protocol,
                    }
                })
                .collect(),
            server_problems: server_problems
                .iter()
                .map(|p| {
                    let ServerProblem {
                        server,
                        kind,
                        error,
                    } = p;
                    model::ice::IceServerProblem {
                        server: server.clone(),
                        kind: *kind,
                        error: error.to_string(),
                        code: error.code(),
                    }
                })
                .collect(),
            gathering_ms: ms(*gathering_time),
            gathering_complete: *gathering_complete,
        }
    }
}

impl From<&SelectedPairInfo> for model::ice::IcePair {
    fn from(s: &SelectedPairInfo) -> Self {
        let SelectedPairInfo {
            local_kind,
            local_address,
            remote_kind,
            remote_address,
            peer_view: _,
            local_relay_protocol,
            remote_relay_protocol,
        } = s;
        model::ice::IcePair {
            local_type: *local_kind,
            local_address: *local_address,
            remote_type: *remote_kind,
            remote_address: *remote_address,
            local_relay_protocol: *local_relay_protocol,
            remote_relay_protocol: *remote_relay_protocol,
        }
    }
}

impl From<&DataChannelResult> for model::ice::IceDataChannel {
    fn from(d: &DataChannelResult) -> Self {
        let DataChannelResult {
            failure,
            ice_connected_after: _,
            dtls_connected_after,
            time_to_open,
            label: _,
            a_to_b,
            b_to_a,
            message_rtt,
            datagrams: _,
        } = d;
        model::ice::IceDataChannel {
            works: d.works(),
            failure: failure.as_ref().map(ToString::to_string),
            time_to_open_ms: time_to_open.map(ms),
            dtls_connected_ms: dtls_connected_after.map(ms),
            a_to_b: *a_to_b,
            b_to_a: *b_to_a,
            message_rtt_ms: message_rtt.map(ms),
        }
    }
}

/// The `ice` section for these runs, with what the runs do not cover.
pub fn ice_section(results: &[IceRunResult]) -> model::ice::IceSection {
    model::ice::IceSection {
        runs: results.iter().map(model::ice::IceRun::from).collect(),
        not_tested: vec![
            "ICE-TCP candidates (RFC 6544): host and srflx candidates are UDP".into(),
            "TURN over DTLS for ICE agents (the turn section tests DTLS)".into(),
        ],
    }
}
