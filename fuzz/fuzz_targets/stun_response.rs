//! The transaction layer's one response parser (`parse_response`), used for
//! every UDP datagram and TCP frame natscope receives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use probe::stun::transaction::{ResponseClass, parse_response};

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = parse_response(data) {
        // A parsed response is a response with the datagram's transaction id.
        assert!(matches!(
            parsed.class,
            ResponseClass::Success | ResponseClass::Error
        ));
        let mut tid = [0u8; 16];
        tid[4..].copy_from_slice(&data[8..20]);
        assert_eq!(u128::from_be_bytes(tid), u128::from(parsed.transaction_id));
        let _ = format!("{parsed:?}");
    }
});
