//! The `turn` section: one result per TURN server URI and transport, with
//! every stage timed and the first failure named. `probe::turn` fills these
//! types directly; the report renders them.
//!
//! JSON values are kebab-case like the rest of the contract (since `natscope/2`);
//! reports written as `natscope/1` used snake_case here, and are still read
//! (each multi-word value carries its old spelling as an alias).

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
#[serde(rename_all = "kebab-case")]
pub enum TurnStage {
    /// Name resolution of the server host (SRV, then A/AAAA); not tested for
    /// IP literals.
    Dns,
    /// TCP three-way handshake (TCP and TLS only).
    #[serde(alias = "tcp_connect")]
    TcpConnect,
    /// TLS handshake and certificate verification.
    #[serde(alias = "tls_handshake")]
    TlsHandshake,
    /// DTLS handshake.
    #[serde(alias = "dtls_handshake")]
    DtlsHandshake,
    /// Allocate without credentials; a healthy server answers 401 with
    /// REALM and NONCE.
    #[serde(alias = "unauthenticated_allocate")]
    UnauthenticatedAllocate,
    /// Allocate with credentials: relayed address, lifetime, mapped address.
    Allocate,
    /// CreatePermission for the peer's address.
    #[serde(alias = "create_permission")]
    CreatePermission,
    /// Send indication to the peer and Data indication back.
    #[serde(alias = "data_round_trip")]
    DataRoundTrip,
    /// ChannelBind for the peer.
    #[serde(alias = "channel_bind")]
    ChannelBind,
    /// ChannelData to the peer and back.
    #[serde(alias = "channel_round_trip")]
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
    #[serde(alias = "allocate_ipv6")]
    AllocateIpv6,
    /// Additive, `turn:` over TCP/TLS only: an RFC 6062 TCP allocation on a
    /// fresh control connection (REQUESTED-TRANSPORT TCP), Connect to a TCP
    /// echo peer, ConnectionBind on a new data connection, bytes echoed back;
    /// run only after `allocate` passed. Its outcome never changes `ok`,
    /// `failed_stage` or `failure`.
    #[serde(alias = "tcp_allocation")]
    TcpAllocation,
}

/// What went wrong, named the way an operator thinks about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TurnFailure {
    /// The stage did not finish before its deadline.
    Timeout {
        /// The deadline that expired, in milliseconds.
        after_ms: u64,
    },
    /// Nothing listens on the server port (TCP RST / ICMP port unreachable).
    #[serde(alias = "connection_refused")]
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
    #[serde(alias = "tls_unknown_ca")]
    TlsUnknownCa,
    /// The certificate does not name the host in the URI.
    #[serde(alias = "tls_name_mismatch")]
    TlsNameMismatch {
        /// The name natscope checked (from the URI).
        server_name: String,
    },
    /// The certificate has expired (or is not yet valid).
    #[serde(alias = "tls_expired")]
    TlsExpired,
    /// The server presents a CA certificate (basicConstraints CA:TRUE) as
    /// its own certificate: rustls and browsers refuse it even when that
    /// CA is trusted.
    TlsCaAsServerCert,
    /// Another TLS failure (protocol, alert, bad certificate).
    #[serde(alias = "tls_other")]
    TlsOther {
        /// rustls' description.
        detail: String,
    },
    /// The transport is not supported by this build of natscope.
    #[serde(alias = "not_supported")]
    NotSupported {
        /// Why.
        detail: String,
    },
    /// The server answered the unauthenticated Allocate without a 401
    /// challenge (no REALM/NONCE), or answered something else unexpected.
    #[serde(alias = "unexpected_response")]
    UnexpectedResponse {
        /// What was received.
        detail: String,
    },
    /// 401 after sending credentials: wrong username or password.
    #[serde(alias = "wrong_credentials")]
    WrongCredentials,
    /// The server's realm is not the one the credentials are for.
    #[serde(alias = "realm_mismatch")]
    RealmMismatch {
        /// The realm the operator expected.
        expected: String,
        /// The realm the server announced.
        server: String,
    },
    /// REST credential rejected and its expiry time is in the past.
    #[serde(alias = "rest_credential_expired")]
    RestCredentialExpired {
        /// The expiry in the username.
        expiry_unix: i64,
        /// natscope's clock.
        now_unix: i64,
    },
    /// REST credential rejected although it has not expired: wrong shared
    /// secret, or the server's clock is far off.
    #[serde(alias = "rest_credential_rejected")]
    RestCredentialRejected,
    /// 438 Stale Nonce, still after the one retry.
    #[serde(alias = "stale_nonce")]
    StaleNonce,
    /// 486 Allocation Quota Reached: this user has too many allocations.
    #[serde(alias = "allocation_quota")]
    AllocationQuota,
    /// 508 Insufficient Capacity: the server has no relay ports/bandwidth.
    #[serde(alias = "insufficient_capacity")]
    InsufficientCapacity,
    /// 403 Forbidden: the server does not allow relaying to this peer.
    #[serde(alias = "forbidden_peer")]
    ForbiddenPeer,
    /// 300 Try Alternate (the redirect is followed once; this means the
    /// alternate also redirected).
    #[serde(alias = "alternate_server_loop")]
    AlternateServerLoop {
        /// The last alternate offered.
        alternate: SocketAddr,
    },
    /// 440 Address Family not Supported: the server has no relay address of
    /// the requested family (e.g. no IPv6 relay address configured).
    #[serde(alias = "address_family_not_supported")]
    AddressFamilyNotSupported,
    /// The server ignored REQUESTED-ADDRESS-FAMILY and allocated a relay of
    /// the other family (pion/turn gives an IPv4 relay when asked for IPv6).
    AddressFamilyIgnored {
        /// The relayed address it gave instead.
        relayed: SocketAddr,
    },
    /// Another STUN error code.
    #[serde(alias = "server_error")]
    ServerError {
        /// The ERROR-CODE number.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// The request failed and the server gave no reason we could read.
    Failed,
    /// Data sent through the relay did not come back.
    #[serde(alias = "no_relayed_data")]
    NoRelayedData {
        /// The deadline, in milliseconds.
        after_ms: u64,
    },
}

/// The outcome of one stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageStatus {
    /// The stage succeeded.
    Passed,
    /// The stage failed; see `error`.
    Failed,
    /// The stage was not run (an earlier stage failed, or not applicable).
    #[serde(alias = "not_tested")]
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

/// How the relayed data stages reached their peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataPath {
    /// Relay to relay: a second allocation on the same server returned the
    /// data (the default: works behind any NAT that lets TURN work).
    RelayToRelay,
    /// The peer given with `--peer`.
    GivenPeer,
}

impl DataPath {
    /// In words, e.g. `relay to relay (a second allocation on the server)`.
    pub fn describe(self) -> &'static str {
        match self {
            DataPath::RelayToRelay => {
                "relay to relay (a second allocation on the same server echoed it)"
            }
            DataPath::GivenPeer => "to the peer given with --peer",
        }
    }
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
    /// How the data stages reached that peer; `None` when they did not run
    /// (and in reports older than natscope/3).
    #[serde(default)]
    pub data_path: Option<DataPath>,
    /// A 300 ALTERNATE-SERVER redirect that was followed.
    pub redirected_from: Option<SocketAddr>,
    /// True when the server answered 438 Stale Nonce and natscope retried.
    pub stale_nonce_retried: bool,
    /// The server's SOFTWARE attribute, if any.
    pub software: Option<String>,
    /// For TURN over TLS and DTLS: when the server's certificate expires
    /// (its notAfter, Unix seconds); `None` for plain transports, when no
    /// certificate was seen, and in older reports.
    #[serde(default)]
    pub certificate_not_after: Option<i64>,
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
    /// The stages every transport runs after its connection is up, in
    /// order (the additive `allocate-ipv6` and `tcp-allocation` come after).
    pub const MAIN: [TurnStage; 9] = [
        TurnStage::UnauthenticatedAllocate,
        TurnStage::Allocate,
        TurnStage::CreatePermission,
        TurnStage::DataRoundTrip,
        TurnStage::ChannelBind,
        TurnStage::ChannelRoundTrip,
        TurnStage::Refresh,
        TurnStage::Quality,
        TurnStage::Deallocate,
    ];

    /// The stage's name for people, e.g. `TLS handshake`.
    pub fn label(self) -> &'static str {
        match self {
            TurnStage::Dns => "DNS",
            TurnStage::TcpConnect => "TCP connect",
            TurnStage::TlsHandshake => "TLS handshake",
            TurnStage::DtlsHandshake => "DTLS handshake",
            TurnStage::UnauthenticatedAllocate => "unauthenticated Allocate",
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

/// The registered name of a STUN/TURN error code (RFC 8489 §18.3, RFC 8656
/// §19, RFC 6062 §6.3), for answers whose reason phrase is empty.
pub fn error_code_name(code: u16) -> Option<&'static str> {
    Some(match code {
        300 => "Try Alternate",
        400 => "Bad Request",
        401 => "Unauthenticated",
        403 => "Forbidden",
        405 => "Mobility Forbidden",
        420 => "Unknown Attribute",
        437 => "Allocation Mismatch",
        438 => "Stale Nonce",
        440 => "Address Family not Supported",
        441 => "Wrong Credentials",
        442 => "Unsupported Transport Protocol",
        443 => "Peer Address Family Mismatch",
        446 => "Connection Already Exists",
        447 => "Connection Timeout or Failure",
        486 => "Allocation Quota Reached",
        500 => "Server Error",
        508 => "Insufficient Capacity",
        _ => return None,
    })
}

/// `442 Unsupported Transport Protocol`: the code and the server's reason
/// phrase, or the registered name when the phrase is empty.
pub fn error_code_text(code: u16, reason: &str) -> String {
    let reason = reason.trim();
    match (reason.is_empty(), error_code_name(code)) {
        (false, _) => format!("{code} {reason}"),
        (true, Some(name)) => format!("{code} {name}"),
        (true, None) => code.to_string(),
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
            TurnFailure::TlsCaAsServerCert => {
                "TLS: the server presents a CA certificate as its own certificate".to_owned()
            }
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
            TurnFailure::AddressFamilyIgnored { relayed } => format!(
                "asked for a relay of the other address family (REQUESTED-ADDRESS-FAMILY), the server gave {relayed}: it ignores the attribute"
            ),
            TurnFailure::ServerError { code, reason } => {
                format!("error {}", error_code_text(*code, reason))
            }
            TurnFailure::Failed => "failed; the server gave no readable reason".to_owned(),
            TurnFailure::NoRelayedData { after_ms } => {
                format!("no relayed data came back within {after_ms} ms")
            }
        }
    }
}

impl std::fmt::Display for TurnTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TurnTransport::Udp => "udp",
            TurnTransport::Tcp => "tcp",
            TurnTransport::Tls => "tls",
            TurnTransport::Dtls => "dtls",
        })
    }
}

/// The failure in plain words ([`TurnFailure::describe`]).
impl std::fmt::Display for TurnFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl TurnTransportResult {
    /// An empty result for a URI and transport.
    pub fn new(uri: &str, transport: TurnTransport) -> Self {
        Self {
            uri: uri.to_string(),
            transport,
            server: None,
            ok: false,
            failed_stage: None,
            failure: None,
            stages: Vec::new(),
            realm: None,
            relayed_address: None,
            relayed_address_ipv6: None,
            mapped_address: None,
            lifetime_secs: None,
            peer: None,
            data_path: None,
            redirected_from: None,
            stale_nonce_retried: false,
            software: None,
            certificate_not_after: None,
            quality: None,
        }
    }

    /// Records a passed stage.
    pub fn pass(&mut self, stage: TurnStage, ms: f64, note: Option<String>) {
        self.stages.push(StageResult {
            stage,
            status: StageStatus::Passed,
            duration_ms: Some(ms),
            error: None,
            note,
        });
    }

    /// Records a failed stage; the first failure becomes the result's.
    pub fn fail(&mut self, stage: TurnStage, ms: Option<f64>, error: TurnFailure) {
        if self.failure.is_none() {
            self.failed_stage = Some(stage);
            self.failure = Some(error.clone());
        }
        self.fail_additive(stage, ms, error);
    }

    /// Records a failed additive stage (such as `allocate-ipv6`): unlike
    /// [`Self::fail`] it never becomes the result's failure.
    pub fn fail_additive(&mut self, stage: TurnStage, ms: Option<f64>, error: TurnFailure) {
        self.stages.push(StageResult {
            stage,
            status: StageStatus::Failed,
            duration_ms: ms,
            error: Some(error),
            note: None,
        });
    }

    /// Records a stage that was not run.
    pub fn not_tested(&mut self, stage: TurnStage, note: &str) {
        self.stages.push(StageResult {
            stage,
            status: StageStatus::NotTested,
            duration_ms: None,
            error: None,
            note: Some(note.to_string()),
        });
    }

    /// The status of a stage, if recorded.
    pub fn stage(&self, stage: TurnStage) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.stage == stage)
    }
}
