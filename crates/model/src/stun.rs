//! The `stun` section: one Binding test per STUN server and how the answers
//! agree.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// The words every probe uses for a server port that answered ICMP port
/// unreachable (in `error` texts), so the diagnosis can tell it from
/// silence wherever it is reported.
pub const PORT_CLOSED: &str = "the port is closed";

/// Content of the `stun` section.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StunSection {
    /// One entry per server × transport tried, in the order given.
    pub servers: Vec<StunServer>,
    /// Do the servers that answered see the same public address?
    pub agreement: Agreement,
    /// Packets received and ignored.
    pub counters: Counters,
}

/// The result of a Binding request to one server over one transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StunServer {
    /// The server as the user gave it (or the built-in default's name).
    pub label: String,
    /// Normalised URI, e.g. `stun:stun.example.net:3478`. Never contains
    /// credentials.
    pub uri: String,
    /// Transport used.
    pub transport: Transport,
    /// Resolved server address; `None` when resolution failed.
    pub address: Option<SocketAddr>,
    /// Local address the request was sent from; `None` when no socket was
    /// bound.
    pub local: Option<SocketAddr>,
    /// How the request ended.
    pub outcome: Outcome,
    /// XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS) of the answer: our public
    /// address as this server saw it.
    pub mapped: Option<SocketAddr>,
    /// Round-trip time of the answered transmission, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Number of transmissions sent (1 + retransmissions).
    pub transmissions: u32,
    /// RESPONSE-ORIGIN of the answer (RFC 5780), when present.
    pub response_origin: Option<SocketAddr>,
    /// OTHER-ADDRESS of the answer (RFC 5780), when present.
    pub other_address: Option<SocketAddr>,
    /// Whether the server advertises RFC 5780 (an OTHER-ADDRESS was present);
    /// `None` when it did not answer.
    pub rfc5780: Option<bool>,
    /// Whether it is a classic RFC 3489 server: CHANGED-ADDRESS instead of
    /// OTHER-ADDRESS (then in `other_address`); `None` when it did not
    /// answer, or in reports older than natscope/3.
    #[serde(default)]
    pub rfc3489: Option<bool>,
    /// SOFTWARE attribute of the answer. Untrusted text from the network:
    /// renderers must sanitise it.
    pub software: Option<String>,
    /// What went wrong, when `outcome` is not `ok`. May quote network text.
    pub error: Option<String>,
    /// How long the request took from its first transmission to the answer
    /// or to giving up, in milliseconds (what a silent address costs);
    /// `None` when nothing was sent, or in older reports.
    #[serde(default)]
    pub waited_ms: Option<f64>,
}

/// Transport of a STUN request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

/// How a Binding request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A success response arrived.
    Ok,
    /// No answer before the last retransmission's deadline.
    Timeout,
    /// The server's port is closed: the connection was refused (TCP reset,
    /// or ICMP port unreachable for UDP).
    Refused,
    /// An error response, a refused connection, or a send failure (see
    /// `error`).
    Error,
    /// The server's name did not resolve.
    Unresolved,
}

/// Agreement of mapped addresses, per address family.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Agreement {
    /// IPv4 servers.
    pub ipv4: FamilyAgreement,
    /// IPv6 servers.
    pub ipv6: FamilyAgreement,
}

/// Agreement of mapped addresses within one address family.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FamilyAgreement {
    /// Number of servers of this family that answered.
    pub answered: u32,
    /// All answers carry the same public IP; `None` with fewer than two
    /// answers.
    pub same_ip: Option<bool>,
    /// All answers carry the same public port; `None` with fewer than two
    /// answers.
    pub same_port: Option<bool>,
    /// The distinct public IPs seen, in first-seen order.
    pub public_ips: Vec<IpAddr>,
}

/// Packets received and ignored during the STUN tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Packets that were not valid STUN messages.
    pub malformed: u64,
    /// Valid STUN messages that matched no outstanding transaction.
    pub unmatched: u64,
}
