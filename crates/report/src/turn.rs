//! The `turn` section of the JSON report: one entry per TURN server URI and
//! transport, with every stage timed and the first failure named.
//!
//! Field-for-field the same shape as `probe::turn::TurnTransportResult`, so
//! `serde_json::from_value(serde_json::to_value(&probe_results)?)` converts.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// The `turn` section: all transports tested.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct TurnSection {
    /// One result per URI and transport, in the order given.
    pub results: Vec<TurnTransportResult>,
}

/// The transport used to reach the TURN server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TurnTransport {
    /// `turn:` over UDP.
    Udp,
    /// `turn:` over TCP.
    Tcp,
    /// `turns:` over TCP (TLS).
    Tls,
    /// `turns:` over UDP (DTLS).
    Dtls,
}

/// One step of the TURN check, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnStage {
    /// Name resolution of the server host (SRV, then A/AAAA); not tested for
    /// IP literals.
    Dns,
    /// TCP three-way handshake (TCP and TLS only).
    TcpConnect,
    /// TLS handshake and certificate verification.
    TlsHandshake,
    /// DTLS handshake.
    DtlsHandshake,
    /// Allocate without credentials; a healthy server answers 401 with
    /// REALM and NONCE.
    UnauthenticatedAllocate,
    /// Allocate with credentials: relayed address, lifetime, mapped address.
    Allocate,
    /// CreatePermission for the peer's address.
    CreatePermission,
    /// Send indication to the peer and Data indication back.
    DataRoundTrip,
    /// ChannelBind for the peer.
    ChannelBind,
    /// ChannelData to the peer and back.
    ChannelRoundTrip,
    /// Refresh of the allocation.
    Refresh,
    /// A short burst through the relay: RTT, loss, throughput.
    Quality,
    /// Refresh with lifetime 0 (deallocation).
    Deallocate,
    /// Additive: a second, short allocation on a fresh connection asking for
    /// an IPv6 relayed address (REQUESTED-ADDRESS-FAMILY, RFC 6156 / RFC 8656);
    /// run only after the IPv4 `allocate` passed. Its outcome never changes
    /// `ok`, `failed_stage` or `failure`.
    AllocateIpv6,
    /// Additive, `turn:` over TCP/TLS only: an RFC 6062 TCP allocation on a
    /// fresh control connection (REQUESTED-TRANSPORT TCP), Connect to a TCP
    /// echo peer, ConnectionBind on a new data connection, bytes echoed back;
    /// run only after `allocate` passed. Its outcome never changes `ok`,
    /// `failed_stage` or `failure`.
    TcpAllocation,
}

/// What went wrong, named the way an operator thinks about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TurnFailure {
    /// The stage did not finish before its deadline.
    Timeout {
        /// The deadline that expired, in milliseconds.
        after_ms: u64,
    },
    /// Nothing listens on the server port (TCP RST / ICMP port unreachable).
    ConnectionRefused,
    /// The server name could not be resolved (NXDOMAIN, no records, DNS
    /// server error).
    Dns {
        /// The resolver's description, naming the host.
        detail: String,
    },
    /// Another socket error.
    Io {
        /// The OS error text.
        detail: String,
    },
    /// The server certificate is not signed by a trusted CA (self-signed,
    /// private CA not given with --ca).
    TlsUnknownCa,
    /// The certificate does not name the host in the URI.
    TlsNameMismatch {
        /// The name natscope checked (from the URI).
        server_name: String,
    },
    /// The certificate has expired (or is not yet valid).
    TlsExpired,
    /// Another TLS failure (protocol, alert, bad certificate).
    TlsOther {
        /// rustls' description.
        detail: String,
    },
    /// The transport is not supported by this build of natscope.
    NotSupported {
        /// Why.
        detail: String,
    },
    /// The server answered the unauthenticated Allocate without a 401
    /// challenge (no REALM/NONCE), or answered something else unexpected.
    UnexpectedResponse {
        /// What was received.
        detail: String,
    },
    /// 401 after sending credentials: wrong username or password.
    WrongCredentials,
    /// The server's realm is not the one the credentials are for.
    RealmMismatch {
        /// The realm the operator expected.
        expected: String,
        /// The realm the server announced.
        server: String,
    },
    /// REST credential rejected and its expiry time is in the past.
    RestCredentialExpired {
        /// The expiry in the username.
        expiry_unix: i64,
        /// natscope's clock.
        now_unix: i64,
    },
    /// REST credential rejected although it has not expired: wrong shared
    /// secret, or the server's clock is far off.
    RestCredentialRejected,
    /// 438 Stale Nonce, still after the one retry.
    StaleNonce,
    /// 486 Allocation Quota Reached: this user has too many allocations.
    AllocationQuota,
    /// 508 Insufficient Capacity: the server has no relay ports/bandwidth.
    InsufficientCapacity,
    /// 403 Forbidden: the server does not allow relaying to this peer.
    ForbiddenPeer,
    /// 300 Try Alternate (the redirect is followed once; this means the
    /// alternate also redirected).
    AlternateServerLoop {
        /// The last alternate offered.
        alternate: SocketAddr,
    },
    /// 440 Address Family not Supported: the server has no relay address of
    /// the requested family (e.g. no IPv6 relay address configured).
    AddressFamilyNotSupported,
    /// Another STUN error code.
    ServerError {
        /// The ERROR-CODE number.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// The request failed and the server gave no reason we could read.
    Failed,
    /// Data sent through the relay did not come back.
    NoRelayedData {
        /// The deadline, in milliseconds.
        after_ms: u64,
    },
}

/// The outcome of one stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// The stage succeeded.
    Passed,
    /// The stage failed; see `error`.
    Failed,
    /// The stage was not run (an earlier stage failed, or not applicable).
    NotTested,
}

/// One stage, timed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageResult {
    /// Which stage.
    pub stage: TurnStage,
    /// Passed, failed or not tested.
    pub status: StageStatus,
    /// How long the stage took, in milliseconds (None when not run).
    pub duration_ms: Option<f64>,
    /// The failure, when `status` is `Failed`.
    pub error: Option<TurnFailure>,
    /// A short human note (e.g. "stale nonce, retried once").
    pub note: Option<String>,
}

/// Relay quality from a short burst through the channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelayQuality {
    /// Packets sent.
    pub sent: u32,
    /// Packets that came back.
    pub received: u32,
    /// Loss in percent.
    pub loss_percent: f64,
    /// Median round-trip time in milliseconds (None if nothing came back).
    pub rtt_p50_ms: Option<f64>,
    /// 95th percentile round-trip time in milliseconds.
    pub rtt_p95_ms: Option<f64>,
    /// Echoed payload throughput in kbit/s over the burst.
    pub throughput_kbps: f64,
}

/// The result for one server URI over one transport.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnTransportResult {
    /// The URI as given (no credentials are ever part of it).
    pub uri: String,
    /// The transport tested.
    pub transport: TurnTransport,
    /// The server address contacted (after DNS; after a redirect, the
    /// alternate).
    pub server: Option<SocketAddr>,
    /// True when allocation and relaying worked.
    pub ok: bool,
    /// The first failing stage and its failure.
    pub failed_stage: Option<TurnStage>,
    /// The failure of `failed_stage`.
    pub failure: Option<TurnFailure>,
    /// All stages in order.
    pub stages: Vec<StageResult>,
    /// The realm the server announced.
    pub realm: Option<String>,
    /// The relayed transport address.
    pub relayed_address: Option<SocketAddr>,
    /// The IPv6 relayed address of the additive `allocate_ipv6` stage
    /// (absent in reports written before that stage existed).
    #[serde(default)]
    pub relayed_address_ipv6: Option<SocketAddr>,
    /// Our address as the server saw it (XOR-MAPPED-ADDRESS).
    pub mapped_address: Option<SocketAddr>,
    /// The allocation lifetime the server granted, in seconds.
    pub lifetime_secs: Option<u32>,
    /// The peer used for the round trips.
    pub peer: Option<SocketAddr>,
    /// A 300 ALTERNATE-SERVER redirect that was followed.
    pub redirected_from: Option<SocketAddr>,
    /// True when the server answered 438 Stale Nonce and natscope retried.
    pub stale_nonce_retried: bool,
    /// The server's SOFTWARE attribute, if any.
    pub software: Option<String>,
    /// Relay quality, when the channel round trip worked.
    pub quality: Option<RelayQuality>,
}

impl TurnTransport {
    /// Upper-case name for people: `UDP`, `TCP`, `TLS`, `DTLS`.
    pub fn label(self) -> &'static str {
        match self {
            TurnTransport::Udp => "UDP",
            TurnTransport::Tcp => "TCP",
            TurnTransport::Tls => "TLS",
            TurnTransport::Dtls => "DTLS",
        }
    }
}

impl TurnStage {
    /// The stage's name for people, e.g. `TLS handshake`.
    pub fn label(self) -> &'static str {
        match self {
            TurnStage::Dns => "DNS",
            TurnStage::TcpConnect => "TCP connect",
            TurnStage::TlsHandshake => "TLS handshake",
            TurnStage::DtlsHandshake => "DTLS handshake",
            TurnStage::UnauthenticatedAllocate => "Allocate (no credentials)",
            TurnStage::Allocate => "Allocate",
            TurnStage::CreatePermission => "CreatePermission",
            TurnStage::DataRoundTrip => "Send/Data round trip",
            TurnStage::ChannelBind => "ChannelBind",
            TurnStage::ChannelRoundTrip => "ChannelData round trip",
            TurnStage::Refresh => "Refresh",
            TurnStage::Quality => "Relay quality",
            TurnStage::Deallocate => "Deallocate",
            TurnStage::AllocateIpv6 => "Allocate IPv6 relay",
            TurnStage::TcpAllocation => "TCP allocation (RFC 6062)",
        }
    }
}

impl TurnFailure {
    /// The failure named in plain words. May quote untrusted text (server
    /// reason phrases, OS and TLS messages): renderers must escape it.
    pub fn describe(&self) -> String {
        match self {
            TurnFailure::Timeout { after_ms } => format!("timeout: no answer within {after_ms} ms"),
            TurnFailure::ConnectionRefused => {
                "connection refused: nothing listens on the server port".to_owned()
            }
            TurnFailure::Dns { detail } => format!("DNS: {detail}"),
            TurnFailure::Io { detail } => format!("socket error: {detail}"),
            TurnFailure::TlsUnknownCa => {
                "TLS: certificate not signed by a trusted CA (self-signed or private CA?)"
                    .to_owned()
            }
            TurnFailure::TlsNameMismatch { server_name } => {
                format!("TLS: the certificate does not name {server_name}")
            }
            TurnFailure::TlsExpired => "TLS: certificate expired or not yet valid".to_owned(),
            TurnFailure::TlsOther { detail } => format!("TLS: {detail}"),
            TurnFailure::NotSupported { detail } => format!("not supported: {detail}"),
            TurnFailure::UnexpectedResponse { detail } => {
                format!("unexpected response: {detail}")
            }
            TurnFailure::WrongCredentials => {
                "401 Unauthorized: wrong username or password".to_owned()
            }
            TurnFailure::RealmMismatch { expected, server } => {
                format!("realm mismatch: expected {expected:?}, the server announced {server:?}")
            }
            TurnFailure::RestCredentialExpired {
                expiry_unix,
                now_unix,
            } => format!(
                "REST credential expired {} s ago",
                now_unix.saturating_sub(*expiry_unix)
            ),
            TurnFailure::RestCredentialRejected => {
                "REST credential rejected although not expired: wrong shared secret, or the server's clock is off".to_owned()
            }
            TurnFailure::StaleNonce => "438 Stale Nonce, still after one retry".to_owned(),
            TurnFailure::AllocationQuota => {
                "486 Allocation Quota Reached: too many allocations for this user".to_owned()
            }
            TurnFailure::InsufficientCapacity => {
                "508 Insufficient Capacity: the server has no relay capacity left".to_owned()
            }
            TurnFailure::ForbiddenPeer => {
                "403 Forbidden: the server does not relay to this peer".to_owned()
            }
            TurnFailure::AlternateServerLoop { alternate } => {
                format!("300 Try Alternate loop: the alternate {alternate} redirected again")
            }
            TurnFailure::AddressFamilyNotSupported => {
                "440 Address Family not Supported: the server has no relay address of that family"
                    .to_owned()
            }
            TurnFailure::ServerError { code, reason } => format!("error {code}: {reason}"),
            TurnFailure::Failed => "failed; the server gave no readable reason".to_owned(),
            TurnFailure::NoRelayedData { after_ms } => {
                format!("no relayed data came back within {after_ms} ms")
            }
        }
    }
}
