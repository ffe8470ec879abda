//! Observations: plain data the network probe fills in. Nothing here is
//! interpreted; [`crate::classify`] does that.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The outcome of one STUN request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Reply {
    /// The test was not run (distinct from "no answer").
    #[default]
    NotRun,
    /// A success response arrived.
    Answered {
        /// (XOR-)MAPPED-ADDRESS in the response.
        mapped: SocketAddr,
        /// Source address of the response datagram.
        source: SocketAddr,
    },
    /// No response after `transmissions` transmissions.
    NoAnswer {
        /// How many times the request was sent.
        transmissions: u32,
    },
    /// ICMP port unreachable came back: the host is up, nothing listens
    /// on the port.
    PortClosed {
        /// Who sent the ICMP error, when known.
        from: Option<IpAddr>,
    },
    /// The request failed otherwise (error response, send error, bad reply).
    Error {
        /// What went wrong.
        message: String,
    },
}

impl Reply {
    /// The mapped address, when answered.
    pub fn mapped(&self) -> Option<SocketAddr> {
        match self {
            Reply::Answered { mapped, .. } => Some(*mapped),
            _ => None,
        }
    }

    /// True when answered.
    pub fn answered(&self) -> bool {
        matches!(self, Reply::Answered { .. })
    }
}

/// RFC 5780 §4.3 mapping tests, all from ONE local socket.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MappingTests {
    /// Test I: Binding to the primary address.
    pub test1: Reply,
    /// Test II: Binding to the alternate IP, primary port.
    pub test2: Reply,
    /// Test III: Binding to the alternate IP and alternate port.
    pub test3: Reply,
}

/// RFC 5780 §4.4 filtering tests, on a FRESH local socket, all sent to the
/// primary address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FilteringTests {
    /// The fresh socket's local address.
    pub local: Option<SocketAddr>,
    /// Test I (control): plain Binding.
    pub test1: Reply,
    /// Test II: CHANGE-REQUEST change IP and port.
    pub test2: Reply,
    /// Test III: CHANGE-REQUEST change port only.
    pub test3: Reply,
}

/// RFC 5780 §4.5 hairpinning test.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Hairpin {
    /// Not tested.
    #[default]
    NotTested,
    /// The packet sent to our own mapped address arrived.
    Received,
    /// It did not arrive after `transmissions` sends.
    NotReceived {
        /// How many were sent.
        transmissions: u32,
    },
    /// The test could not be run (e.g. socket error).
    Error {
        /// What went wrong.
        message: String,
    },
}

/// Everything observed against one server asked for RFC 5780 tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerObservation {
    /// The primary address queried.
    pub server: SocketAddr,
    /// OTHER-ADDRESS from test I; `None` when absent (plain server).
    pub other_address: Option<SocketAddr>,
    /// `other_address` is RFC 3489's CHANGED-ADDRESS (no OTHER-ADDRESS was
    /// sent): a classic RFC 3489 server, whose CHANGE-REQUEST tests are
    /// the same.
    #[serde(default)]
    pub rfc3489: bool,
    /// Local address of the mapping-test socket.
    pub local: Option<SocketAddr>,
    /// Mapping tests.
    pub mapping: MappingTests,
    /// Filtering tests.
    pub filtering: FilteringTests,
    /// Hairpinning test.
    pub hairpin: Hairpin,
    /// Whether a Binding over TCP to the same server was answered; `None`
    /// when not tried. Tells "UDP blocked" from "server down".
    pub tcp_answered: Option<bool>,
}

impl ServerObservation {
    /// An observation with nothing run yet.
    pub fn new(server: SocketAddr) -> ServerObservation {
        ServerObservation {
            server,
            other_address: None,
            rfc3489: false,
            local: None,
            mapping: MappingTests::default(),
            filtering: FilteringTests::default(),
            hairpin: Hairpin::NotTested,
            tcp_answered: None,
        }
    }
}

/// One plain RFC 8489 server queried from the shared plain socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlainAnswer {
    /// Server address queried.
    pub server: SocketAddr,
    /// Binding result.
    pub reply: Reply,
    /// TCP Binding to the same server answered; `None` when not tried.
    pub tcp_answered: Option<bool>,
}

/// Bindings to several plain servers from ONE local socket.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlainProbe {
    /// The socket's local address.
    pub local: Option<SocketAddr>,
    /// One entry per server ip:port.
    pub answers: Vec<PlainAnswer>,
}

/// What we know about the local network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LocalNetwork {
    /// Addresses of local interfaces.
    pub addresses: Vec<IpAddr>,
    /// Default gateways.
    pub gateways: Vec<IpAddr>,
    /// External address reported by the gateway (UPnP / NAT-PMP / PCP), if any.
    pub port_mapping_external: Option<IpAddr>,
    /// The routers on the way to a STUN server, from TTL-limited probes;
    /// `None`: not traced.
    #[serde(default)]
    pub path: Option<PathTrace>,
}

/// TTL-limited probes towards one server: which router answered ICMP time
/// exceeded at each TTL (1 = the first router, normally the LAN gateway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathTrace {
    /// The server the probes went to.
    pub destination: IpAddr,
    /// The highest TTL sent.
    pub max_ttl: u8,
    /// Routers that answered, in TTL order (a silent TTL is absent).
    pub hops: Vec<PathHop>,
    /// The lowest TTL at which the server itself answered; `None`: it did
    /// not answer within `max_ttl` hops (or at all).
    pub reached_at: Option<u8>,
}

/// One router that answered a TTL-limited probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathHop {
    /// The TTL of the probe it answered.
    pub ttl: u8,
    /// The address its ICMP time exceeded came from.
    pub address: IpAddr,
}

/// One port allocation sample: a separate socket and/or destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSample {
    /// Local address of the socket.
    pub local: SocketAddr,
    /// Where the Binding went.
    pub destination: SocketAddr,
    /// Mapped address reported.
    pub mapped: SocketAddr,
}

/// One mapping-lifetime probe: idle for `idle`, then the server tried to
/// reach the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeProbe {
    /// Idle interval before the probe.
    pub idle: Duration,
    /// Whether the mapping was still alive.
    pub alive: bool,
}

/// All observations of one run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Observations {
    /// Local network facts.
    pub local: LocalNetwork,
    /// Servers asked for RFC 5780 tests.
    pub servers: Vec<ServerObservation>,
    /// Plain-server mapping inference; `None` when not run.
    pub plain: Option<PlainProbe>,
    /// Port allocation samples, in sending order.
    pub port_samples: Vec<PortSample>,
    /// Mapping lifetime probes.
    pub lifetime: Vec<LifetimeProbe>,
}

/// Tunables of the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassifyOptions {
    /// A "no answer" after fewer transmissions than this is weak evidence
    /// (confidence at most `Low`).
    pub solid_transmissions: u32,
}

impl Default for ClassifyOptions {
    fn default() -> ClassifyOptions {
        ClassifyOptions {
            solid_transmissions: 3,
        }
    }
}
