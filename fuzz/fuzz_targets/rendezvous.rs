//! The rendezvous of `natscope serve --rendezvous`, both ends: a sequence
//! of requests from a few sources, at times the input chooses, through the
//! server's sans-IO core (`servers::fuzzing::RendezvousCore`, what every
//! HTTP request runs), and arbitrary answers through the client's reading
//! of them (`probe::rendezvous::fuzzing`).
//!
//! In a request's body, `$C` stands for the last session code the server
//! handed out and `$T0`/`$T1` for the last creator/joiner token, so the
//! input reaches the authenticated paths.
//!
//! Invariants, per request:
//! - every answer is one the client reads: a 200 parses as the call's
//!   answer type, a refusal as an error body; no answer is over the
//!   client's bound, none names a code or a token but `open`'s and `join`'s
//!   own;
//! - a `recv` answer's messages are contiguous and after `after` (those
//!   up to a larger `after` asked before are gone); a long
//!   poll waits at most `LONG_POLL`;
//! - sessions ≤ the cap, held bytes ≤ the global bound, and the counters
//!   add up: opened = live + closed + expired.
//!
//! Client records (op ≥ 0x80): an answer of any status and body is read
//! as the client does, never a panic; a sequence of `recv` answers gives
//! messages numbered 1, 2, … each once.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use servers::fuzzing::{RendezvousCore, RendezvousLimits, RendezvousOutcome, RendezvousRandomness};
use wire::rendezvous::{self as api, LONG_POLL, MAX_RESPONSE_BODY, Op};

const SOURCES: [&str; 4] = ["192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"];
const STATUSES: [u16; 8] = [200, 200, 400, 404, 409, 429, 503, 302];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let limits = RendezvousLimits {
        max_sessions: [2, 8, 1024, 1][usize::from(sel & 3)],
        max_total_bytes: if sel & 4 != 0 {
            40_000
        } else {
            api::MAX_TOTAL_BYTES
        },
        opens_per_minute: if sel & 8 != 0 { 0 } else { 10 },
        failed_joins_per_minute: if sel & 16 != 0 { 0 } else { 20 },
        max_sources: if sel & 32 != 0 { 1 } else { 1024 },
        ..RendezvousLimits::default()
    };
    let mut core = RendezvousCore::new(limits);
    let t0 = Instant::now();
    let mut now = t0;
    let mut n: u8 = 0;
    let mut code = String::new();
    let mut tokens = [String::new(), String::new()];
    let mut client_answers: Vec<(u16, Vec<u8>)> = Vec::new();

    for rec in common::records(rest) {
        if rec.op & 0x80 != 0 {
            let op = Op::ALL[usize::from(rec.op & 7) % Op::ALL.len()];
            let status = STATUSES[usize::from((rec.op >> 3) & 7)];
            let _ = probe::rendezvous::fuzzing::answer(op, status, rec.data);
            client_answers.push((status, rec.data.to_vec()));
            continue;
        }
        let op = Op::ALL[usize::from(rec.op & 7) % Op::ALL.len()];
        let source: IpAddr = SOURCES[usize::from((rec.op >> 3) & 3)]
            .parse()
            .expect("literal");
        now += [0, 1_000, 60_000, 200_000].map(Duration::from_millis)[usize::from(rec.op >> 5 & 3)];
        n = n.wrapping_add(1);
        let random = RendezvousRandomness {
            code: [n; api::CODE_BYTES],
            token: [n; api::TOKEN_BYTES],
            label: [n; api::LABEL_BYTES],
        };
        let body = String::from_utf8_lossy(rec.data)
            .replace("$C", &code)
            .replace("$T0", &tokens[0])
            .replace("$T1", &tokens[1]);
        let (method, path) = if rec.op & 0x40 != 0 && rec.data.first() == Some(&b'G') {
            ("GET", "/metrics".to_owned())
        } else {
            ("POST", op.path(""))
        };
        let outcome = core.handle(method, &path, body.as_bytes(), source, now, &random);
        let answer = match outcome {
            RendezvousOutcome::Answer(a) => a,
            RendezvousOutcome::Pending { wait, empty } => {
                assert!(wait <= LONG_POLL, "a long poll of {wait:?}");
                assert!(!wait.is_zero());
                assert!(matches!(op, Op::Wait | Op::Recv), "{op:?} pending");
                empty
            }
        };
        let b = answer.body.as_bytes();
        assert!(b.len() <= MAX_RESPONSE_BODY, "answer of {} bytes", b.len());
        assert_eq!(answer.refusal.is_some(), answer.status != 200);
        let read = probe::rendezvous::fuzzing::answer(op, answer.status, b);
        if answer.status == 200 {
            assert!(
                read.is_ok(),
                "{op:?}: the client cannot read {:?}: {read:?}",
                answer.body
            );
            match op {
                Op::Open => {
                    let o: api::OpenResponse = api::parse(b, MAX_RESPONSE_BODY).expect("read");
                    code = o.code;
                    tokens[0] = o.token;
                }
                Op::Join => {
                    let j: api::JoinResponse = api::parse(b, MAX_RESPONSE_BODY).expect("read");
                    tokens[1] = j.token;
                }
                Op::Recv => {
                    let r: api::RecvResponse = api::parse(b, MAX_RESPONSE_BODY).expect("read");
                    let req: api::RecvRequest =
                        api::parse(body.as_bytes(), api::MAX_REQUEST_BODY).expect("accepted");
                    // After `after` (earlier ones may be gone: acknowledged
                    // by a larger `after` before), contiguous.
                    if let Some(first) = r.messages.first() {
                        assert!(
                            first.seq > req.after,
                            "recv answered {} after {}",
                            first.seq,
                            req.after
                        );
                    }
                    for w in r.messages.windows(2) {
                        assert_eq!(w[1].seq, w[0].seq + 1, "recv out of order");
                    }
                }
                _ => {}
            }
        } else {
            let e: api::ErrorBody =
                api::parse(b, MAX_RESPONSE_BODY).expect("a refusal is an error body");
            assert_eq!(e.error.status(), answer.status);
            for secret in [&code, &tokens[0], &tokens[1]] {
                assert!(secret.is_empty() || !answer.body.contains(secret.as_str()));
            }
        }
        let m = core.metrics();
        assert!(core.sessions() <= limits.max_sessions);
        assert!(core.held_bytes() <= limits.max_total_bytes);
        assert_eq!(m.opened, m.live + m.closed + m.expired, "{m:?}");
        assert!(m.joined <= m.opened);
        assert!(m.live as usize <= core.sessions());
    }

    let answers: Vec<(u16, &[u8])> = client_answers
        .iter()
        .map(|(s, b)| (*s, b.as_slice()))
        .collect();
    let (got, _) = probe::rendezvous::fuzzing::receive(&answers);
    for (i, (seq, text)) in got.iter().enumerate() {
        assert_eq!(*seq as usize, i + 1, "messages not numbered 1, 2, …");
        assert!(text.len() <= api::MAX_MESSAGE);
    }
});
