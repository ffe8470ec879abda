//! The server URI parser (`ServerUri::parse`: stun:/stuns:/turn:/turns:
//! URIs, host:port, bare IPs) and what natscope derives from a TURN URI
//! (transports, TLS server name, URI credentials). A parsed URI's canonical
//! form (its `Display`, used as the report label) must parse back to the
//! same server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model::servers::ServerUri;
use probe::turn::{TurnAuth, turn_transports};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let uri = match ServerUri::parse(text) {
        Ok(uri) => uri,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = uri.port_or_default();
    let _ = uri.transports(true);
    let _ = turn_transports(&uri);
    let name = probe::turn::target::host_name(&uri);
    let _ = probe::turn::tls::server_name(&name);
    let _ = TurnAuth::from_uri(&uri).map(|a| a.resolve(0));

    let canonical = uri.to_string();
    let again = ServerUri::parse(&canonical)
        .unwrap_or_else(|e| panic!("canonical form {canonical:?} of {text:?} does not parse: {e}"));
    assert_eq!(again.scheme, uri.scheme, "{canonical:?}");
    assert_eq!(again.host, uri.host, "{canonical:?}");
    assert_eq!(again.port, uri.port, "{canonical:?}");
    assert_eq!(again.transport, uri.transport, "{canonical:?}");
});
