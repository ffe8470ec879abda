//! The `peer` section (`natscope peer`): ICE, a data channel and a plain
//! UDP hole punch between natscope on two machines that met through a
//! rendezvous (`natscope serve --rendezvous`), and what the two sides' NAT
//! verdicts predicted against what happened.
//!
//! Also the signalling messages the two sides exchange through the
//! rendezvous ([`Signal`], parsed by [`parse_signal`] with bounds: a hostile
//! peer's message is refused, never trusted for sizes).
//!
//! Vocabulary of outcomes is libp2p's (DCUtR): a direct connection is a
//! `success` when both sides' packets had to punch through, `reversed`
//! when one side was reachable without a hole punch (the other side simply
//! connected to it), `failed` otherwise.

use crate::ice::{CandidateType, IceRun};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Which side of the session this report is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerRole {
    /// The side that opened the session and printed the code (ICE
    /// controlling; agent "a" in the ICE runs).
    Creator,
    /// The side that joined with the code (ICE controlled; agent "b").
    Joiner,
}

impl PeerRole {
    /// `creator` or `joiner`.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerRole::Creator => "creator",
            PeerRole::Joiner => "joiner",
        }
    }

    /// The other side.
    pub fn other(self) -> PeerRole {
        match self {
            PeerRole::Creator => PeerRole::Joiner,
            PeerRole::Joiner => PeerRole::Creator,
        }
    }
}

/// An ICE policy: which candidates both sides offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerPolicy {
    /// Host and server-reflexive candidates only: a direct path or nothing.
    Direct,
    /// Every candidate, relayed (TURN) ones too: what a WebRTC app does.
    RelayAllowed,
}

impl PeerPolicy {
    /// Both policies, in the order they run.
    pub const ALL: [PeerPolicy; 2] = [PeerPolicy::Direct, PeerPolicy::RelayAllowed];

    /// `direct` or `relay-allowed`.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerPolicy::Direct => "direct",
            PeerPolicy::RelayAllowed => "relay-allowed",
        }
    }
}

/// What one policy's ICE run came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerOutcome {
    /// Connected over a direct path that needed both sides to punch
    /// (neither was reachable unsolicited), or over the relay for
    /// `relay-allowed` when that is what was selected.
    Success,
    /// Connected directly because one side was reachable unsolicited: the
    /// other side's packets simply reached it (no hole punch needed).
    Reversed,
    /// Did not connect.
    Failed,
    /// Not run (the other side left, no TURN server for `relay-allowed`,
    /// an earlier step failed).
    NotTested,
}

impl PeerOutcome {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerOutcome::Success => "success",
            PeerOutcome::Reversed => "reversed",
            PeerOutcome::Failed => "failed",
            PeerOutcome::NotTested => "not-tested",
        }
    }
}

/// One policy's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerPolicyResult {
    /// The policy.
    pub policy: PeerPolicy,
    /// Its outcome.
    pub outcome: PeerOutcome,
    /// Why `not-tested` or `failed`, in plain words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The selected pair's candidate types, this side's first
    /// (`srflx-srflx`, `relay-host`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A short throughput figure over the selected pair: what the other
    /// side received of this side's burst, kbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_kbps: Option<f64>,
    /// The ICE run from this side (agent list holds this side only; the
    /// other side's report holds its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice: Option<IceRun>,
}

/// Which side's hole-punch packets got through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PunchDirection {
    /// Both ways.
    Both,
    /// Only this side's packets reached the other side.
    LocalToRemote,
    /// Only the other side's packets reached this side.
    RemoteToLocal,
    /// Neither.
    Neither,
}

impl PunchDirection {
    /// From the two directions.
    pub fn of(local_to_remote: bool, remote_to_local: bool) -> PunchDirection {
        match (local_to_remote, remote_to_local) {
            (true, true) => PunchDirection::Both,
            (true, false) => PunchDirection::LocalToRemote,
            (false, true) => PunchDirection::RemoteToLocal,
            (false, false) => PunchDirection::Neither,
        }
    }

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PunchDirection::Both => "both",
            PunchDirection::LocalToRemote => "local-to-remote",
            PunchDirection::RemoteToLocal => "remote-to-local",
            PunchDirection::Neither => "neither",
        }
    }
}

/// One hole-punch attempt: both sides send to each other's
/// server-reflexive address at the same time for a fixed window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PunchAttempt {
    /// 1-based.
    pub attempt: u32,
    /// Both directions got through within the window.
    pub success: bool,
    /// Which side's packets got through.
    pub got_through: PunchDirection,
    /// From this side's first packet to the other side's first packet
    /// received here, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_in_ms: Option<f64>,
    /// From the other side's first packet to this side's first packet
    /// received there (the other side's figure), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_out_ms: Option<f64>,
    /// Packets this side sent in the attempt.
    pub sent: u32,
    /// Packets this side received from the other side.
    pub received: u32,
}

/// The plain UDP hole-punch measurement (DCUtR-comparable: attempts and
/// first-attempt success).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HolePunch {
    /// This side's socket as the STUN server saw it (what the other side
    /// sent to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_public: Option<SocketAddr>,
    /// The other side's advertised address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_public: Option<SocketAddr>,
    /// Whether this side was reachable unsolicited: the other side's
    /// packets to a socket of this side that had not sent to it arrived.
    pub local_reachable: bool,
    /// Whether the other side was reachable unsolicited (its figure).
    pub remote_reachable: bool,
    /// The attempts made, at most [`HolePunch::MAX_ATTEMPTS`]; stops at the
    /// first success.
    pub attempts: Vec<PunchAttempt>,
    /// Some attempt succeeded.
    pub success: bool,
    /// The first attempt succeeded (DCUtR reports 97.6 % of successes on
    /// the first attempt).
    pub first_attempt_success: bool,
    /// Where the other side's packets came from, when not its advertised
    /// address (its NAT mapped a new port towards this side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_seen_from: Option<SocketAddr>,
}

impl HolePunch {
    /// Attempts per measurement (as DCUtR's retries).
    pub const MAX_ATTEMPTS: u32 = 3;
}

/// How an attempt's TCP connection came about, seen from this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TcpOpen {
    /// Both sides' `connect()` met: a TCP simultaneous open (each side's
    /// SYN crossed the other's), the hole punched for TCP.
    Simultaneous,
    /// This side's `connect()` reached the other side's listening socket:
    /// the other side was reachable unsolicited by TCP.
    Outgoing,
    /// The other side's `connect()` reached this side's listening socket:
    /// this side was reachable unsolicited by TCP.
    Incoming,
}

impl TcpOpen {
    /// From whether each side's connection came in through its listener
    /// (both false: both sides connected out).
    pub fn of(local_accepted: bool, remote_accepted: bool) -> TcpOpen {
        match (local_accepted, remote_accepted) {
            (true, _) => TcpOpen::Incoming,
            (false, true) => TcpOpen::Outgoing,
            (false, false) => TcpOpen::Simultaneous,
        }
    }

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TcpOpen::Simultaneous => "simultaneous",
            TcpOpen::Outgoing => "outgoing",
            TcpOpen::Incoming => "incoming",
        }
    }
}

/// One TCP simultaneous-open attempt: both sides `connect()` from their
/// port to each other's public address at the same time, again and again,
/// for a fixed window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpAttempt {
    /// 1-based.
    pub attempt: u32,
    /// A connection was made and both sides read the other's greeting on
    /// it (a stray listener does not count).
    pub connected: bool,
    /// How the connection came about, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<TcpOpen>,
    /// From the attempt's start to the connection, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_connect_ms: Option<f64>,
    /// `connect()` calls this side made in the attempt.
    pub tries: u32,
    /// Of them, refused at once (a TCP reset: the other side's NAT or
    /// host had no connection for it yet).
    pub refused: u32,
}

/// The TCP simultaneous-open measurement: one port per side, its public
/// mapping learnt by STUN over TCP from that port, then up to
/// [`TcpPunch::MAX_ATTEMPTS`] attempts in lock step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpPunch {
    /// This side's port as the STUN server saw it over TCP (what the other
    /// side connected to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_public: Option<SocketAddr>,
    /// The other side's advertised address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_public: Option<SocketAddr>,
    /// The connection's local address on this host, when one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_addr: Option<SocketAddr>,
    /// The connection's remote address as this host saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<SocketAddr>,
    /// The attempts made, at most [`TcpPunch::MAX_ATTEMPTS`]; stops at the
    /// first success.
    pub attempts: Vec<TcpAttempt>,
    /// Some attempt connected.
    pub success: bool,
    /// The first attempt connected.
    pub first_attempt_success: bool,
}

impl TcpPunch {
    /// Attempts per measurement (as the UDP hole punch).
    pub const MAX_ATTEMPTS: u32 = 3;
}

/// What happened, in the prediction's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerObserved {
    /// Direct without a hole punch (one side reachable unsolicited).
    Direct,
    /// Direct by hole punching.
    HolePunched,
    /// Only through the relay.
    Relayed,
    /// Not at all.
    NoConnection,
    /// Not enough was tested to say (the other side left early).
    Unknown,
}

impl PeerObserved {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerObserved::Direct => "direct",
            PeerObserved::HolePunched => "hole-punched",
            PeerObserved::Relayed => "relayed",
            PeerObserved::NoConnection => "no-connection",
            PeerObserved::Unknown => "unknown",
        }
    }
}

/// A failure of the session itself (rendezvous, the other side), with a
/// remedy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerFailure {
    /// Stable kind: `rendezvous-unreachable`, `unknown-session`,
    /// `session-full`, `peer-never-came`, `peer-left`, `peer-message`,
    /// `rendezvous-error`, `version`, `local`.
    pub kind: String,
    /// What happened, in plain words.
    pub message: String,
    /// What to do about it.
    pub remedy: String,
}

/// The `peer` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerSection {
    /// The session's label, the same in both sides' reports (not the
    /// code: the code is a secret and never written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The rendezvous URL (scheme, host, port).
    pub rendezvous: String,
    /// This side.
    pub role: PeerRole,
    /// The other side's natscope version, from its hello.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_version: Option<String>,
    /// This side's NAT verdict (as in `.nat`), when it could be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_nat: Option<natclass::NatVerdict>,
    /// The other side's NAT verdict, as it sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_nat: Option<natclass::NatVerdict>,
    /// What the two verdicts predict (docs/holepunch.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted: Option<natclass::HolePunchPrediction>,
    /// What happened.
    pub observed: PeerObserved,
    /// Whether `observed` is what `predicted` said (absent when either is
    /// unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_held: Option<bool>,
    /// One result per policy, `direct` first.
    pub policies: Vec<PeerPolicyResult>,
    /// The plain UDP hole-punch measurement, or why it was not made.
    pub holepunch: crate::Section<HolePunch>,
    /// The TCP simultaneous-open measurement, or why it was not made
    /// (absent in reports of natscope before it: not tested).
    #[serde(default = "tcp_not_recorded")]
    pub tcp: crate::Section<TcpPunch>,
    /// The session failed (rendezvous, the other side): why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<PeerFailure>,
    /// Wall time of the whole run, from the rendezvous to the end, ms.
    pub duration_ms: f64,
}

impl PeerSection {
    /// A section with nothing measured yet: `role` at `rendezvous`, the
    /// hole punches (UDP and TCP) not tested for `why`.
    pub fn empty(rendezvous: &str, role: PeerRole, why: &str) -> PeerSection {
        PeerSection {
            session: None,
            rendezvous: rendezvous.to_string(),
            role,
            remote_version: None,
            local_nat: None,
            remote_nat: None,
            predicted: None,
            observed: PeerObserved::Unknown,
            prediction_held: None,
            policies: Vec::new(),
            holepunch: crate::Section::not_tested(why),
            tcp: crate::Section::not_tested(why),
            failure: None,
            duration_ms: 0.0,
        }
    }

    /// The result of `policy`, when run.
    pub fn policy(&self, policy: PeerPolicy) -> Option<&PeerPolicyResult> {
        self.policies.iter().find(|p| p.policy == policy)
    }
}

fn tcp_not_recorded() -> crate::Section<TcpPunch> {
    crate::Section::not_tested("this natscope did not measure TCP")
}

/// A selected path's name: `local-remote` candidate types.
pub fn path_name(local: CandidateType, remote: CandidateType) -> String {
    format!("{}-{}", local.as_str(), remote.as_str())
}

// ---------------------------------------------------------------------------
// Signalling messages
// ---------------------------------------------------------------------------

/// The signalling protocol's version; a peer with another one is named.
/// 2: the two policies run at the same time (1 ran them in turn).
pub const SIGNAL_VERSION: u32 = 2;
/// Largest signalling message accepted, bytes.
pub const MAX_SIGNAL: usize = 16 * 1024;
/// Most candidates in one description.
pub const MAX_CANDIDATES: usize = 64;
/// Longest candidate line, SDP text, or other string field.
pub const MAX_LINE: usize = 256;
/// Longest SDP.
pub const MAX_SDP: usize = 8 * 1024;

/// An ICE description: credentials and every candidate (no trickle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceDescription {
    /// ICE username fragment.
    pub ufrag: String,
    /// ICE password (the ICE session's own, random per run; not a user
    /// secret, but still never written to a report).
    pub pwd: String,
    /// `candidate:` lines (SDP attribute values, without `a=`).
    pub candidates: Vec<String>,
    /// Why this side has no candidates, when it gave up before gathering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gave_up: Option<String>,
}

/// A signalling message between the two sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Signal {
    /// First message of each side.
    Hello {
        /// [`SIGNAL_VERSION`].
        version: u32,
        /// natscope's version.
        natscope: String,
        /// Whether the sender has a TURN server (runs `relay-allowed`).
        relay: bool,
    },
    /// A policy's ICE description.
    Ice {
        /// The policy.
        policy: PeerPolicy,
        /// The description.
        description: IceDescription,
    },
    /// The sender has the other side's candidates and starts its checks
    /// (each side waits for the other's, so that no check, and no
    /// nomination, reaches a side that cannot read it yet).
    ChecksReady {
        /// The policy.
        policy: PeerPolicy,
    },
    /// The data channel's SDP offer (creator) or answer (joiner).
    Sdp {
        /// The policy.
        policy: PeerPolicy,
        /// `offer` or `answer`.
        kind: SdpKind,
        /// The SDP.
        sdp: String,
    },
    /// A policy's run is over on the sender's side (so the other side does
    /// not wait for a step that will not come); with what it measured.
    PolicyDone {
        /// The policy.
        policy: PeerPolicy,
        /// The sender connected.
        connected: bool,
        /// Bytes of this side's burst the sender received.
        burst_received: u64,
        /// From the burst's first to last datagram at the sender, µs.
        burst_span_us: u64,
    },
    /// Hole punch: the sender's sockets for the measurement.
    PunchReady {
        /// The address the sender's "listen" socket was seen at (never
        /// sends to the peer: the reachability test).
        listen: Option<SocketAddr>,
        /// The address the sender's punching socket was seen at.
        punch: Option<SocketAddr>,
        /// The attempt about to start (1-based), or 0 for the reachability
        /// test.
        attempt: u32,
        /// Marks the sender's punch packets (random per run).
        nonce: u64,
    },
    /// The sender's NAT verdict, when its NAT test is done (absent: it has
    /// none).
    Nat {
        /// The verdict.
        nat: Option<natclass::NatVerdict>,
    },
    /// Hole punch: what the sender saw in one attempt (or the reachability
    /// test, attempt 0).
    PunchSeen {
        /// The attempt.
        attempt: u32,
        /// The sender received the other side's packets.
        received: bool,
        /// From the sender's first packet to the first it received, µs.
        first_in_us: Option<u64>,
        /// Where they came from.
        from: Option<SocketAddr>,
    },
    /// TCP simultaneous open: the sender's port as the STUN server saw it
    /// over TCP, ready for an attempt.
    TcpReady {
        /// The sender's public address for TCP (absent: STUN over TCP got
        /// no answer, so it has nothing to connect from).
        public: Option<SocketAddr>,
        /// The attempt about to start (1-based), or 0 for the address
        /// exchange.
        attempt: u32,
        /// Marks the sender's greeting on a connection (random per run).
        nonce: u64,
    },
    /// TCP simultaneous open: what the sender saw in one attempt.
    TcpSeen {
        /// The attempt.
        attempt: u32,
        /// The sender has a connection on which it read this side's
        /// greeting.
        connected: bool,
        /// The sender's connection came in through its listening socket.
        accepted: bool,
    },
    /// The sender is done; nothing more follows.
    Bye {
        /// Why it stops early, if it does.
        #[serde(default)]
        reason: Option<String>,
    },
}

/// An SDP's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SdpKind {
    /// The creator's offer.
    Offer,
    /// The joiner's answer.
    Answer,
}

/// Why a signalling message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// Larger than [`MAX_SIGNAL`].
    #[error("a message of {0} bytes (at most {MAX_SIGNAL})")]
    TooLarge(usize),
    /// Not a signalling message.
    #[error("a message that could not be read: {0}")]
    Malformed(String),
    /// A field beyond its bound.
    #[error("a message with {0}")]
    OutOfBounds(String),
}

/// Reads one signalling message, refusing anything beyond the bounds.
pub fn parse_signal(text: &str) -> Result<Signal, SignalError> {
    if text.len() > MAX_SIGNAL {
        return Err(SignalError::TooLarge(text.len()));
    }
    let s: Signal = serde_json::from_str(text).map_err(|e| {
        // serde_json's message names the field and position, never Rust
        // types; cut it short anyway.
        let mut m = e.to_string();
        m.truncate(120);
        SignalError::Malformed(m)
    })?;
    check_bounds(&s)?;
    Ok(s)
}

fn long(what: &str, s: &str, max: usize) -> Result<(), SignalError> {
    if s.len() > max {
        return Err(SignalError::OutOfBounds(format!(
            "a {what} of {} bytes (at most {max})",
            s.len()
        )));
    }
    Ok(())
}

fn check_bounds(s: &Signal) -> Result<(), SignalError> {
    match s {
        Signal::Hello { natscope, .. } => long("version string", natscope, MAX_LINE),
        Signal::Ice { description, .. } => {
            long("username fragment", &description.ufrag, MAX_LINE)?;
            long("password", &description.pwd, MAX_LINE)?;
            if let Some(g) = &description.gave_up {
                long("reason", g, MAX_LINE)?;
            }
            if description.candidates.len() > MAX_CANDIDATES {
                return Err(SignalError::OutOfBounds(format!(
                    "{} candidates (at most {MAX_CANDIDATES})",
                    description.candidates.len()
                )));
            }
            description
                .candidates
                .iter()
                .try_for_each(|c| long("candidate", c, MAX_LINE))
        }
        Signal::Sdp { sdp, .. } => long("session description", sdp, MAX_SDP),
        Signal::Bye { reason: Some(r) } => long("reason", r, MAX_LINE),
        Signal::PolicyDone { .. }
        | Signal::ChecksReady { .. }
        | Signal::PunchReady { .. }
        | Signal::PunchSeen { .. }
        | Signal::TcpReady { .. }
        | Signal::TcpSeen { .. }
        | Signal::Nat { .. }
        | Signal::Bye { reason: None } => Ok(()),
    }
}

/// The JSON text of a message (what [`parse_signal`] reads).
pub fn signal_text(s: &Signal) -> String {
    // Serializing plain data with string keys cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let m = Signal::Ice {
            policy: PeerPolicy::Direct,
            description: IceDescription {
                ufrag: "abcd".into(),
                pwd: "p".repeat(24),
                candidates: vec!["candidate:1 1 UDP 1 192.0.2.1 5000 typ host".into()],
                gave_up: None,
            },
        };
        assert_eq!(parse_signal(&signal_text(&m)).unwrap(), m);
        let big = Signal::Ice {
            policy: PeerPolicy::Direct,
            description: IceDescription {
                ufrag: "a".into(),
                pwd: "b".into(),
                candidates: vec!["c".into(); MAX_CANDIDATES + 1],
                gave_up: None,
            },
        };
        assert!(matches!(
            parse_signal(&signal_text(&big)),
            Err(SignalError::OutOfBounds(_))
        ));
        assert!(matches!(
            parse_signal(&"x".repeat(MAX_SIGNAL + 1)),
            Err(SignalError::TooLarge(_))
        ));
        assert!(matches!(
            parse_signal(r#"{"type":"bye","extra":1}"#),
            Err(SignalError::Malformed(_))
        ));
        for m in [
            Signal::TcpReady {
                public: Some("203.0.113.1:40010".parse().unwrap()),
                attempt: 1,
                nonce: 7,
            },
            Signal::TcpSeen {
                attempt: 2,
                connected: true,
                accepted: false,
            },
        ] {
            assert_eq!(parse_signal(&signal_text(&m)).unwrap(), m);
        }
        assert!(matches!(
            parse_signal(r#"{"type":"tcp-seen","attempt":1,"connected":true}"#),
            Err(SignalError::Malformed(_))
        ));
        assert!(matches!(
            parse_signal(r#"{"type":"launch"}"#),
            Err(SignalError::Malformed(_))
        ));
    }
}
