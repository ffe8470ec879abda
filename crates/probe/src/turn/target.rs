//! Which TURN transports a server URI means. URIs themselves are the
//! crate's one [`ServerUri`] (`turn:`/`turns:` parsing, `iceServers`
//! credentials) and names are resolved by [`crate::resolve`]; this module
//! only maps them onto [`TurnTransport`]s.

use model::servers::{Host, Scheme, ServerUri, Transport};
use model::turn::TurnTransport;

/// The transports a URI asks to test: `turn:` without `?transport=` means
/// UDP and TCP; `turns:` means TLS, or DTLS with `?transport=udp`. A
/// `stun:`/`stuns:` URI means none.
pub fn turn_transports(uri: &ServerUri) -> Vec<TurnTransport> {
    match (uri.scheme, uri.transport) {
        (Scheme::Turn, None) => vec![TurnTransport::Udp, TurnTransport::Tcp],
        (Scheme::Turn, Some(Transport::Udp)) => vec![TurnTransport::Udp],
        (Scheme::Turn, Some(Transport::Tcp)) => vec![TurnTransport::Tcp],
        (Scheme::Turns, Some(Transport::Udp)) => vec![TurnTransport::Dtls],
        (Scheme::Turns, _) => vec![TurnTransport::Tls],
        (Scheme::Stun | Scheme::Stuns, _) => Vec::new(),
    }
}

/// The wire transport under a TURN transport (TLS runs over TCP, DTLS over
/// UDP): what SRV names (`_turns._udp`...) and resolution are keyed by.
pub fn wire_transport(t: TurnTransport) -> Transport {
    match t {
        TurnTransport::Udp | TurnTransport::Dtls => Transport::Udp,
        TurnTransport::Tcp | TurnTransport::Tls => Transport::Tcp,
    }
}

/// The host as TLS/DTLS verify it: the DNS name, or the IP literal without
/// brackets.
pub fn host_name(uri: &ServerUri) -> String {
    match &uri.host {
        Host::Ip(ip) => ip.to_string(),
        Host::Name(n) => n.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> ServerUri {
        ServerUri::parse(s).expect("test URIs are valid")
    }

    #[test]
    fn transports_of_turn_uris() {
        let u = uri("turn:turn.example.org");
        assert_eq!(u.port_or_default(), 3478);
        assert_eq!(
            turn_transports(&u),
            vec![TurnTransport::Udp, TurnTransport::Tcp]
        );
        let u = uri("turns:[2001:db8::1]:443?transport=tcp");
        assert_eq!(
            (host_name(&u).as_str(), u.port_or_default()),
            ("2001:db8::1", 443)
        );
        assert_eq!(turn_transports(&u), vec![TurnTransport::Tls]);
        let u = uri("turns:192.0.2.1?transport=udp");
        assert_eq!(u.port_or_default(), 5349);
        assert_eq!(turn_transports(&u), vec![TurnTransport::Dtls]);
        assert_eq!(wire_transport(TurnTransport::Dtls), Transport::Udp);
        assert_eq!(wire_transport(TurnTransport::Tls), Transport::Tcp);
        assert!(turn_transports(&uri("stun:192.0.2.1")).is_empty());
        assert!(ServerUri::parse("turn:192.0.2.1?transport=sctp").is_err());
    }
}
