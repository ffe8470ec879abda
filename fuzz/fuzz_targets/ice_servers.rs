//! The `iceServers` / RTCConfiguration JSON reader (`--ice-servers FILE`).
//! Besides "never panics", checks that a credential read from the file
//! never shows in the `Display` or `Debug` of the URI it is attached to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model::servers::parse_ice_servers;
use probe::turn::{TurnAuth, turn_transports};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let uris = match parse_ice_servers(text, "fuzz.json") {
        Ok(uris) => uris,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    for uri in uris {
        let _ = turn_transports(&uri);
        let _ = TurnAuth::from_uri(&uri).map(|a| a.resolve(1_700_000_000));
        let Some(cred) = uri.credential.as_ref().map(|c| c.expose().to_owned()) else {
            continue;
        };
        if cred.is_empty() {
            continue;
        }
        let mut without = uri.clone();
        without.credential = None;
        // Only meaningful when the secret is not also part of the public
        // fields (host, username...).
        if !format!("{without:?}").contains(&cred) {
            assert!(!format!("{uri:?}").contains(&cred), "credential in Debug");
        }
        if !without.to_string().contains(&cred) {
            assert!(!uri.to_string().contains(&cred), "credential in Display");
        }
    }
});
