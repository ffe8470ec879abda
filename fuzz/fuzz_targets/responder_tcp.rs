//! `natscope serve`'s whole TCP request path: one connection's reads (any
//! bytes, cut where the input says, timeouts and the end of the stream
//! included) through the connection's framer and the responder's one
//! answerer, as the connection task runs them.
//!
//! Invariants, per read:
//! - every answer is one whole STUN Binding success or error that fits the
//!   connection's buffer and carries the transaction id of a complete
//!   request of the stream, in order, at most one answer per request;
//! - nothing is answered after the connection closed; while it is open the
//!   framer holds less than one largest request (`MAX_REQUEST_LEN`):
//!   framing never yields or waits for a frame beyond the cap;
//! - CHANGE-REQUEST asking for a change and RESPONSE-PORT get errors (TCP
//!   can only answer on the connection);
//! - the counters add up: messages received = malformed-or-ignored +
//!   requests (+ the one malformed tail counted at close), requests =
//!   rate-limited + successes + errors.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use servers::fuzzing::{RESPONDER_MAX_REQUEST, Responder};
use servers::responder::{RateLimit, ResponderConfig};

const CHANGE_REQUEST: u16 = 0x0003;
const RESPONSE_PORT: u16 = 0x0027;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let two_addr = sel & 1 != 0;
    let p = "192.0.2.10".parse().expect("literal");
    let a = "192.0.2.11".parse().expect("literal");
    let cfg = ResponderConfig {
        primary: p,
        alternate: two_addr.then_some(a),
        port: 3478,
        alt_port: 3479,
        software: (sel & 2 != 0).then(|| "natscope fuzz".to_string()),
        rate_limit: if sel & 4 != 0 {
            RateLimit::per_second(1)
        } else {
            RateLimit::disabled()
        },
        max_padding: if sel & 8 != 0 { 0 } else { 1200 },
        ..ResponderConfig::default()
    };
    let bound: Vec<SocketAddr> = if two_addr {
        vec![
            SocketAddr::new(p, 3478),
            SocketAddr::new(p, 3479),
            SocketAddr::new(a, 3478),
            SocketAddr::new(a, 3479),
        ]
    } else {
        vec![SocketAddr::new(p, 3478)]
    };
    let mut r = Responder::new(&cfg, &bound).expect("a valid configuration");
    let local = usize::from(sel >> 4) % bound.len();
    let peer: SocketAddr = "198.51.100.7:50000".parse().expect("literal");
    let mut conn = r.stream(local, bound[local], peer);

    // Reference framing, independent of the framer: the whole STUN
    // messages the stream holds, in order.
    let mut stream: Vec<u8> = Vec::new();
    let mut requests: Vec<Vec<u8>> = Vec::new();
    let mut scanned = 0usize;
    let mut next_request = 0usize;
    let mut open = true;
    let mut now = Instant::now();

    for rec in common::records(rest) {
        now += Duration::from_millis(u64::from(rec.op & 0x3f) * 50);
        let read = match rec.op >> 6 {
            // A timeout or an error.
            3 => None,
            _ => Some(rec.data),
        };
        let got = r.stream_read(&mut conn, read, now);
        if !open {
            assert!(got.answers.is_empty(), "answered after close");
            assert!(!got.open);
            continue;
        }
        if let Some(d) = read {
            stream.extend_from_slice(&d[..d.len().min(RESPONDER_MAX_REQUEST)]);
        }
        while stream.len() >= scanned + 20 {
            let len = 20
                + usize::from(u16::from_be_bytes([
                    stream[scanned + 2],
                    stream[scanned + 3],
                ]));
            if stream.len() < scanned + len {
                break;
            }
            requests.push(stream[scanned..scanned + len].to_vec());
            scanned += len;
        }
        for resp in &got.answers {
            assert!(common::whole_message(resp), "not one whole message");
            assert_eq!(common::method(resp), 0x001);
            let class = common::class(resp);
            assert!(class == 2 || class == 3, "class {class}");
            assert!(resp.len() <= r.out_len());
            // The transaction id of a later request of the stream (the first
            // one it fits: requests may share an id). Over TCP a
            // CHANGE-REQUEST asking for a change and RESPONSE-PORT are
            // refused.
            let tid = common::tid(resp);
            let fits = |q: &Vec<u8>| {
                let change = common::attribute(q, CHANGE_REQUEST)
                    .is_some_and(|v| v.len() == 4 && v[3] & 0x06 != 0);
                let refused = change || common::attribute(q, RESPONSE_PORT).is_some();
                common::tid(q) == tid && (class == 3 || !refused)
            };
            let at = requests[next_request..]
                .iter()
                .position(fits)
                .unwrap_or_else(|| panic!("answer to no request (or TCP honoured CHANGE-REQUEST/RESPONSE-PORT): {resp:02x?}"));
            next_request += at + 1;
        }
        open = got.open;
        if open {
            assert!(
                conn.buffered() < RESPONDER_MAX_REQUEST,
                "framer holds {}",
                conn.buffered()
            );
        }
        let m = r.metrics();
        assert_eq!(m.udp_received, 0);
        assert_eq!(
            m.requests,
            m.rate_limited + m.success_responses + m.error_responses,
            "{m:?}"
        );
        assert!(
            m.tcp_received + 1 >= m.malformed_dropped + m.ignored_dropped + m.requests,
            "{m:?}"
        );
    }
});
