//! What a TURN probe needs besides the server URIs.

use super::creds::TurnAuth;
use super::quality::QualityConfig;
use super::tls::TlsOptions;
use crate::resolve::Resolver;
use std::net::SocketAddr;
use std::time::Duration;

/// Everything a TURN probe needs besides the server URIs.
#[derive(Clone, Debug)]
pub struct TurnProbeConfig {
    /// Credentials; `None` runs only the unauthenticated stage.
    pub auth: Option<TurnAuth>,
    /// The realm the credentials belong to; a different server realm is
    /// reported as a realm mismatch.
    pub expected_realm: Option<String>,
    /// Certificate verification for `turns:`.
    pub tls: TlsOptions,
    /// External UDP echo peer; default: a local echo socket.
    pub peer: Option<SocketAddr>,
    /// Deadline of each stage.
    pub stage_timeout: Duration,
    /// Relay quality burst; `None` skips it.
    pub quality: Option<QualityConfig>,
    /// Resolver for server names; `None` uses the system's
    /// ([`Resolver::system`]), set up when a name needs resolving.
    pub resolver: Option<Resolver>,
    /// Use IPv4 server addresses (`false` with `-6`).
    pub ipv4: bool,
    /// Use IPv6 server addresses (`false` with `-4`).
    pub ipv6: bool,
}

impl TurnProbeConfig {
    /// Whether server addresses of `addr`'s family may be used.
    pub fn allows(&self, addr: SocketAddr) -> bool {
        if addr.is_ipv4() { self.ipv4 } else { self.ipv6 }
    }
}

impl Default for TurnProbeConfig {
    fn default() -> Self {
        Self {
            auth: None,
            expected_realm: None,
            tls: TlsOptions::default(),
            peer: None,
            stage_timeout: Duration::from_secs(5),
            quality: Some(QualityConfig::default()),
            resolver: None,
            ipv4: true,
            ipv6: true,
        }
    }
}
