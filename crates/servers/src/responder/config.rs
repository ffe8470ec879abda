//! What a [`Responder`](super::Responder) serves and how.

use std::net::{IpAddr, Ipv4Addr};

use super::ratelimit::RateLimit;
use wire::attrs::MAX_PADDING;

/// The default STUN port (RFC 8489 §18.6).
pub const DEFAULT_PORT: u16 = 3478;
/// The default alternate port (the usual choice of RFC 5780 servers).
pub const DEFAULT_ALT_PORT: u16 = 3479;

/// Configuration of a [`Responder`](super::Responder).
///
/// With `alternate` set, the responder is a full RFC 5780 server on four UDP
/// sockets (`primary`/`alternate` × `port`/`alt_port`) and, when `tcp`, four
/// TCP listeners. Without it, it is a plain RFC 8489 Binding server on one
/// UDP socket (and one TCP listener).
///
/// `port` 0 picks a free primary port and `alt_port` 0 a free alternate
/// port (tests and the embedded lab set both to 0). Picked ports are free
/// on both IPs (and for TCP when `tcp`): the responder retries with new
/// ports on EADDRINUSE, a bounded number of times.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponderConfig {
    /// The primary IP: where clients send their first request. Must be a
    /// specific address in two-address mode; may be unspecified (0.0.0.0,
    /// `::`) in single-address mode.
    pub primary: IpAddr,
    /// The alternate IP (RFC 5780); `None` for single-address mode.
    pub alternate: Option<IpAddr>,
    /// The primary port (0: pick a free one).
    pub port: u16,
    /// The alternate port (0: pick a free one). Unused in single-address mode.
    pub alt_port: u16,
    /// The public address of `primary` when the server is behind a 1:1 NAT
    /// (cloud VMs): used in RESPONSE-ORIGIN instead of the bound address.
    pub advertise_primary: Option<IpAddr>,
    /// The public address of `alternate` behind a 1:1 NAT: used in
    /// OTHER-ADDRESS and RESPONSE-ORIGIN instead of the bound address.
    pub advertise_alternate: Option<IpAddr>,
    /// SOFTWARE attribute value (at most 763 bytes); `None` sends none.
    pub software: Option<String>,
    /// Also serve STUN over TCP (RFC 8489 framing).
    pub tcp: bool,
    /// Per-source rate limit of Binding requests.
    pub rate_limit: RateLimit,
    /// The largest PADDING the responder puts in a response.
    pub max_padding: u16,
}

impl Default for ResponderConfig {
    /// Single-address mode on 0.0.0.0:3478 (UDP and TCP), default rate
    /// limit, PADDING capped at [`MAX_PADDING`], no SOFTWARE.
    fn default() -> Self {
        Self {
            primary: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            alternate: None,
            port: DEFAULT_PORT,
            alt_port: DEFAULT_ALT_PORT,
            advertise_primary: None,
            advertise_alternate: None,
            software: None,
            tcp: true,
            rate_limit: RateLimit::default(),
            max_padding: MAX_PADDING,
        }
    }
}

impl ResponderConfig {
    /// A loopback RFC 5780 lab responder: 127.0.0.1 and 127.0.0.2, free
    /// ports, UDP and TCP, no rate limit (for tests and `diagnose --lab`).
    pub fn loopback_lab() -> Self {
        Self {
            primary: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
            alternate: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))),
            port: 0,
            alt_port: 0,
            rate_limit: RateLimit::disabled(),
            software: Some(concat!("natscope ", env!("CARGO_PKG_VERSION")).to_owned()),
            ..Self::default()
        }
    }
}
