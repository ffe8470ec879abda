//! The result model of a TURN probe: stages, their outcomes, and the named
//! failures an operator can act on.

use serde::Serialize;
use std::net::SocketAddr;

/// The transport used to reach the TURN server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
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

/// One step of the TURN check, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TurnFailure {
    /// The stage did not finish before its deadline.
    #[error("timed out after {after_ms} ms")]
    Timeout {
        /// The deadline that expired, in milliseconds.
        after_ms: u64,
    },
    /// Nothing listens on the server port (TCP RST / ICMP port unreachable).
    #[error("connection refused: nothing listens on that port")]
    ConnectionRefused,
    /// The server name could not be resolved (NXDOMAIN, no records, DNS
    /// server error).
    #[error("DNS: {detail}")]
    Dns {
        /// The resolver's description, naming the host.
        detail: String,
    },
    /// Another socket error.
    #[error("socket error: {detail}")]
    Io {
        /// The OS error text.
        detail: String,
    },
    /// The server certificate is not signed by a trusted CA (self-signed,
    /// private CA not given with --ca).
    #[error("TLS: certificate signed by an unknown CA")]
    TlsUnknownCa,
    /// The certificate does not name the host in the URI.
    #[error("TLS: certificate does not match the server name {server_name}")]
    TlsNameMismatch {
        /// The name natscope checked (from the URI).
        server_name: String,
    },
    /// The certificate has expired (or is not yet valid).
    #[error("TLS: certificate expired or not yet valid")]
    TlsExpired,
    /// Another TLS failure (protocol, alert, bad certificate).
    #[error("TLS handshake failed: {detail}")]
    TlsOther {
        /// rustls' description.
        detail: String,
    },
    /// The transport is not supported by this build of natscope.
    #[error("not supported: {detail}")]
    NotSupported {
        /// Why.
        detail: String,
    },
    /// The server answered the unauthenticated Allocate without a 401
    /// challenge (no REALM/NONCE), or answered something else unexpected.
    #[error("unexpected server answer: {detail}")]
    UnexpectedResponse {
        /// What was received.
        detail: String,
    },
    /// 401 after sending credentials: wrong username or password.
    #[error("wrong credentials: the server rejected username/password (401)")]
    WrongCredentials,
    /// The server's realm is not the one the credentials are for.
    #[error("realm mismatch: server realm {server:?}, expected {expected:?}")]
    RealmMismatch {
        /// The realm the operator expected.
        expected: String,
        /// The realm the server announced.
        server: String,
    },
    /// REST credential rejected and its expiry time is in the past.
    #[error("REST credential expired (expiry {expiry_unix}, now {now_unix})")]
    RestCredentialExpired {
        /// The expiry in the username.
        expiry_unix: i64,
        /// natscope's clock.
        now_unix: i64,
    },
    /// REST credential rejected although it has not expired: wrong shared
    /// secret, or the server's clock is far off.
    #[error("REST credential rejected (401): wrong shared secret or server clock skew")]
    RestCredentialRejected,
    /// 438 Stale Nonce twice in a row: the retry with the server's new
    /// nonce was answered 438 again (natscope retries once).
    #[error("stale nonce (438) even after retrying with the new nonce")]
    StaleNonce,
    /// 486 Allocation Quota Reached: this user has too many allocations.
    #[error("allocation quota reached (486): too many allocations for this user")]
    AllocationQuota,
    /// 508 Insufficient Capacity: the server has no relay ports/bandwidth.
    #[error("server out of capacity (508)")]
    InsufficientCapacity,
    /// 403 Forbidden to a request naming a peer (CreatePermission,
    /// ChannelBind, RFC 6062 Connect): the server does not allow relaying to
    /// this peer address. (403 to an Allocate is a `ServerError`.)
    #[error("forbidden peer address (403): the server's policy refuses relaying to this peer")]
    ForbiddenPeer,
    /// 300 Try Alternate (the redirect is followed once; this means the
    /// alternate also redirected).
    #[error("redirected to {alternate} (300) more than once")]
    AlternateServerLoop {
        /// The last alternate offered.
        alternate: SocketAddr,
    },
    /// 440 Address Family not Supported: the server has no relay address of
    /// the requested family (e.g. no IPv6 relay address configured).
    #[error("address family not supported (440): the server has no relay address of that family")]
    AddressFamilyNotSupported,
    /// Another STUN error code.
    #[error("server error {code} {reason}")]
    ServerError {
        /// The ERROR-CODE number.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// The request failed and the server gave no reason we could read.
    #[error("request failed without a readable reason")]
    Failed,
    /// Data sent through the relay did not come back.
    #[error("no data came back through the relay within {after_ms} ms")]
    NoRelayedData {
        /// The deadline, in milliseconds.
        after_ms: u64,
    },
}

/// The outcome of one stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    /// The IPv6 relayed address of the additive `allocate_ipv6` stage.
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
            redirected_from: None,
            stale_nonce_retried: false,
            software: None,
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
        self.stages.push(StageResult {
            stage,
            status: StageStatus::Failed,
            duration_ms: ms,
            error: Some(error),
            note: None,
        });
    }

    /// Records a failed additive stage (such as `allocate_ipv6`): unlike
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
