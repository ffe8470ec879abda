//! `turn:` / `turns:` URIs (RFC 7065) and the transports each one means.

use super::stages::TurnTransport;

/// A parsed TURN server URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnUri {
    /// The URI as given.
    pub original: String,
    /// `turns:` (TLS/DTLS).
    pub secure: bool,
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// Port (default 3478, or 5349 for `turns:`).
    pub port: u16,
    /// The `?transport=` parameter, if any.
    pub transport: Option<UriTransport>,
}

/// The `?transport=` value of a TURN URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UriTransport {
    /// `transport=udp`.
    Udp,
    /// `transport=tcp`.
    Tcp,
}

/// Why a URI was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnUriError {
    /// Not `turn:` or `turns:`.
    #[error("not a turn:/turns: URI: {0}")]
    Scheme(String),
    /// Empty or malformed host.
    #[error("bad host in {0}")]
    Host(String),
    /// Port is not a number.
    #[error("bad port in {0}")]
    Port(String),
    /// Unknown `transport=` value.
    #[error("unknown transport in {0}")]
    Transport(String),
}

impl TurnUri {
    /// Parses `turn:host[:port][?transport=udp|tcp]` or `turns:...`.
    pub fn parse(s: &str) -> Result<Self, TurnUriError> {
        let t = s.trim();
        let (secure, rest) = if let Some(r) = t.strip_prefix("turns:") {
            (true, r)
        } else if let Some(r) = t.strip_prefix("turn:") {
            (false, r)
        } else {
            return Err(TurnUriError::Scheme(s.to_string()));
        };
        let rest = rest.trim_start_matches("//");
        let (hostport, query) = match rest.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (rest, None),
        };
        let transport = match query {
            None => None,
            Some(q) => {
                let mut tr = None;
                for kv in q.split('&') {
                    if let Some(v) = kv.strip_prefix("transport=") {
                        tr = Some(match v.to_ascii_lowercase().as_str() {
                            "udp" => UriTransport::Udp,
                            "tcp" => UriTransport::Tcp,
                            _ => return Err(TurnUriError::Transport(s.to_string())),
                        });
                    }
                }
                tr
            }
        };
        let default_port = if secure { 5349 } else { 3478 };
        let (host, port) = if let Some(after) = hostport.strip_prefix('[') {
            let (h, tail) = after
                .split_once(']')
                .ok_or_else(|| TurnUriError::Host(s.to_string()))?;
            let port = match tail.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| TurnUriError::Port(s.to_string()))?,
                None if tail.is_empty() => default_port,
                None => return Err(TurnUriError::Host(s.to_string())),
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse().map_err(|_| TurnUriError::Port(s.to_string()))?,
                ),
                None => (hostport.to_string(), default_port),
            }
        };
        if host.is_empty() || host.contains('@') || host.contains('/') {
            return Err(TurnUriError::Host(s.to_string()));
        }
        Ok(Self {
            original: t.to_string(),
            secure,
            host,
            port,
            transport,
        })
    }

    /// The transports this URI asks to test: `turn:` without a transport
    /// means UDP and TCP; `turns:` means TLS, or DTLS with `transport=udp`.
    pub fn transports(&self) -> Vec<TurnTransport> {
        match (self.secure, self.transport) {
            (false, None) => vec![TurnTransport::Udp, TurnTransport::Tcp],
            (false, Some(UriTransport::Udp)) => vec![TurnTransport::Udp],
            (false, Some(UriTransport::Tcp)) => vec![TurnTransport::Tcp],
            (true, Some(UriTransport::Udp)) => vec![TurnTransport::Dtls],
            (true, _) => vec![TurnTransport::Tls],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        let u = TurnUri::parse("turn:turn.example.org").unwrap();
        assert_eq!((u.port, u.secure), (3478, false));
        assert_eq!(u.transports(), vec![TurnTransport::Udp, TurnTransport::Tcp]);
        let u = TurnUri::parse("turns:[2001:db8::1]:443?transport=tcp").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("2001:db8::1", 443));
        assert_eq!(u.transports(), vec![TurnTransport::Tls]);
        let u = TurnUri::parse("turns:192.0.2.1?transport=udp").unwrap();
        assert_eq!(u.transports(), vec![TurnTransport::Dtls]);
        assert!(TurnUri::parse("stun:192.0.2.1").is_err());
        assert!(TurnUri::parse("turn:192.0.2.1?transport=sctp").is_err());
    }
}
