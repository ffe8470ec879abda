//! The signalling messages `natscope peer` reads from the other side
//! (`model::peer::parse_signal`, through the rendezvous): never panics,
//! refuses anything beyond its bounds, and what it accepts writes back to
//! the same message (so a relayed message cannot change meaning).
#![no_main]

use libfuzzer_sys::fuzz_target;
use model::peer::{MAX_CANDIDATES, MAX_SIGNAL, Signal, parse_signal, signal_text};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_signal(text) {
        Ok(s) => {
            assert!(text.len() <= MAX_SIGNAL);
            if let Signal::Ice { description, .. } = &s {
                assert!(description.candidates.len() <= MAX_CANDIDATES);
            }
            let again = parse_signal(&signal_text(&s)).expect("what was read writes back readable");
            assert_eq!(again, s);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
