//! ICE on this machine: two rice-proto agents in one process, driven by
//! natscope's own tokio loop, gather host, server-reflexive and relayed
//! candidates from the configured STUN/TURN servers, exchange them
//! in-process (through their SDP `a=candidate:` lines), run connectivity
//! checks, and send a real payload both ways over the selected pair.
//!
//! rice-proto has no public per-pair state, so each candidate-type
//! restriction (`model::ice::IceFilter`: host↔host, srflx↔srflx,
//! relay↔relay, relay↔host, unrestricted) is its own ICE session. Runs go
//! in parallel, each bounded in time, and one run's failure never affects
//! another.
//!
//! ```no_run
//! # async fn demo() {
//! use model::ice::IceFilter;
//! use probe::ice::{IceOptions, IceServers, run_all};
//! let results = run_all(&IceFilter::ALL_FILTERS, &IceServers::default(), &IceOptions::loopback()).await;
//! for r in &results {
//!     println!("{}: {:?}", r.filter, r.failure);
//! }
//! # }
//! ```
//!
//! The modules, in the order a run uses them:
//!
//! - [`plan`]: which runs to make (pure).
//! - [`run`]: one run, phase by phase; all runs in parallel.
//! - `gather` (private): host and srflx candidates (rice-proto's gatherer
//!   skips loopback sockets); relayed ones come from rice-proto's TURN
//!   gatherer.
//! - `agent` (private): the tokio driver around the two sans-IO agents
//!   (TCP/TLS streams from TURN servers framed by `wire::Framer`), with
//!   `tcp` (private) for each connection to a TURN server over TCP/TLS.
//! - [`datachannel`]: a WebRTC data channel (str0m: DTLS + SCTP) bridged
//!   over the selected pair after a successful run (opt out with
//!   [`IceOptions::data_channel`]).
//! - [`result`]: what a run found, and its form in the report
//!   (`model::ice`).
//!
//! Limits: host and srflx candidates are UDP (no ICE-TCP candidates);
//! TURN is reached over UDP, TCP or TLS (relayed candidates are UDP, as in
//! browsers); DTLS to the TURN server is not offered to the agents; one
//! component.

mod agent;
pub mod datachannel;
pub(crate) mod gather;
pub mod plan;
pub mod result;
pub mod run;
mod side;
mod tcp;

pub use plan::{IceRunPlan, plan_runs};
pub use result::{
    AgentReport, CandidateInfo, DataChannelFailure, DataChannelPhase, DataChannelResult,
    GatherError, HairpinNote, IceFailure, IcePhase, IceRunResult, PayloadExchange,
    SelectedPairInfo, ServerProblem, ice_section,
};
pub use run::{BurstSeen, RemoteSignal, run_all, run_filter, run_filter_on_sockets, run_remote};

use model::Secret;
use model::ice::RelayProtocol;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// A STUN server for srflx candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StunServerSpec {
    /// The URL shown in results (e.g. `stun:stun.example.net:3478`).
    pub url: String,
    /// Its resolved UDP address.
    pub addr: SocketAddr,
}

/// A TURN server for relayed candidates. The password never appears in
/// results or logs.
#[derive(Debug, Clone)]
pub struct TurnServerSpec {
    /// The URL shown in results (e.g. `turn:turn.example.net:3478`).
    pub url: String,
    /// Its resolved address (for `transport`).
    pub addr: SocketAddr,
    /// How the agents reach it: UDP, TCP or TLS over TCP. The relayed
    /// candidate itself is UDP in every case (RFC 8656 allocations); this
    /// is WebRTC's `relayProtocol`.
    pub transport: IceTurnTransport,
    /// Long-term credential username.
    pub username: String,
    /// Long-term credential password.
    pub password: Secret,
}

/// The transport between an ICE agent and its TURN server.
#[derive(Debug, Clone)]
pub enum IceTurnTransport {
    /// `turn:` over UDP.
    Udp,
    /// `turn:…?transport=tcp`: TURN over one TCP connection per agent.
    Tcp,
    /// `turns:`: TURN over TLS over TCP (rustls, ring provider).
    Tls {
        /// The name the certificate must carry (SNI).
        server_name: rustls::pki_types::ServerName<'static>,
        /// Trust anchors and verification (see [`crate::turn::tls::client_config`]).
        config: std::sync::Arc<rustls::ClientConfig>,
    },
}

impl IceTurnTransport {
    /// The relay protocol this transport gives relayed candidates.
    pub fn protocol(&self) -> RelayProtocol {
        match self {
            Self::Udp => RelayProtocol::Udp,
            Self::Tcp => RelayProtocol::Tcp,
            Self::Tls { .. } => RelayProtocol::Tls,
        }
    }
}

/// The servers both agents gather from.
#[derive(Debug, Clone, Default)]
pub struct IceServers {
    /// STUN servers (srflx).
    pub stun: Vec<StunServerSpec>,
    /// TURN servers (relay).
    pub turn: Vec<TurnServerSpec>,
}

impl IceServers {
    /// The relay protocols the TURN servers offer, in preference order,
    /// each once.
    pub fn relay_protocols(&self) -> Vec<RelayProtocol> {
        RelayProtocol::ALL
            .into_iter()
            .filter(|p| self.turn.iter().any(|t| t.transport.protocol() == *p))
            .collect()
    }

    /// The same servers with only the TURN servers reached over `p`.
    pub fn only_relay(&self, p: RelayProtocol) -> IceServers {
        IceServers {
            stun: self.stun.clone(),
            turn: self
                .turn
                .iter()
                .filter(|t| t.transport.protocol() == p)
                .cloned()
                .collect(),
        }
    }
}

/// Bounds and local addresses of the runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceOptions {
    /// IPs to bind host sockets on (one socket per IP per agent). Loopback
    /// works here although rice-proto's own gatherer would skip it.
    pub host_ips: Vec<IpAddr>,
    /// Deadline for gathering (STUN answers, TURN allocations).
    pub gather_timeout: Duration,
    /// Deadline for connectivity checks, from the candidate exchange.
    pub connect_timeout: Duration,
    /// Deadline for each ping/pong over the selected pair.
    pub payload_timeout: Duration,
    /// Number of ping/pong round trips over the selected pair.
    pub pings: u32,
    /// After a successful run, open a WebRTC data channel (DTLS + SCTP)
    /// over the selected pair and send a message each way (bounded by
    /// `connect_timeout` to open, `payload_timeout` per message).
    pub data_channel: bool,
}

impl IceOptions {
    /// Host sockets on 127.0.0.1; 5 s gathering, 10 s checks, 2 s per
    /// ping, 5 pings, data channel on.
    pub fn loopback() -> Self {
        Self {
            host_ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            gather_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            payload_timeout: Duration::from_secs(2),
            pings: 5,
            data_channel: true,
        }
    }

    /// The longest one run can take.
    pub fn run_bound(&self) -> Duration {
        let data_channel = if self.data_channel {
            self.connect_timeout + self.payload_timeout
        } else {
            Duration::ZERO
        };
        self.gather_timeout
            + self.connect_timeout
            + self.payload_timeout.saturating_mul(2 * self.pings.max(1))
            + data_channel
            + Duration::from_secs(2)
    }
}
