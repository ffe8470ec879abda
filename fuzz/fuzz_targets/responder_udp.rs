//! `natscope serve`'s whole UDP request path: a sequence of datagrams from
//! a few sources, at times the input chooses, through the responder's one
//! answerer (parsing, RFC 5780 / RFC 3489 answers, the per-source rate
//! limiter, the no-amplification rule), as the UDP loops run it.
//!
//! Invariants, per datagram:
//! - an answer goes to the request's source IP (its port, or the
//!   RESPONSE-PORT it asked for), from a socket that exists; another socket
//!   only for a CHANGE-REQUEST in two-address mode; errors only to the
//!   source itself;
//! - an answer to another port than the source's is never larger than the
//!   request (the no-amplification rule); any answer fits the loops'
//!   buffer, its PADDING is at most the request's and the cap, the rest at
//!   most `RESPONSE_BASE_LEN`;
//! - an answer carries the request's transaction id (magic cookie + 96
//!   bits, or RFC 3489's 128 bits), is one whole STUN message, a Binding
//!   success or error;
//! - the counters add up: received = malformed + ignored + requests,
//!   requests = rate-limited + successes + errors + amplification refusals,
//!   answers = successes + errors;
//! - no source (IPv4 address, IPv6 /64) gets more answers than its bucket
//!   allows (burst + rate × elapsed) while the table does not evict.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use servers::fuzzing::{RESPONDER_BASE_LEN, Responder};
use servers::responder::{RateLimit, ResponderConfig};

const SOURCES: [&str; 8] = [
    "192.0.2.1",
    "192.0.2.2",
    "::ffff:192.0.2.1",
    "2001:db8::1",
    "2001:db8::2",
    "2001:db8:0:1::1",
    "198.51.100.7",
    "::1",
];

const PADDING: u16 = 0x0026;
const CHANGE_REQUEST: u16 = 0x0003;
const RESPONSE_PORT: u16 = 0x0027;

fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::V6(o.into())
        }
    }
}

fn config(sel: u8) -> (ResponderConfig, Vec<SocketAddr>) {
    let two_addr = sel & 1 != 0;
    let per_second = [0, 1, 10, 50][usize::from((sel >> 1) & 3)];
    let mut rate_limit = if per_second == 0 {
        RateLimit::disabled()
    } else {
        RateLimit::per_second(per_second)
    };
    if sel & 0x08 != 0 {
        rate_limit.max_sources = 2;
    }
    let software = match (sel >> 4) & 3 {
        0 => None,
        1 => Some("natscope fuzz".to_string()),
        // The longest SOFTWARE the responder accepts.
        _ => Some("s".repeat(763)),
    };
    let max_padding = if sel & 0x40 != 0 { 0 } else { 1200 };
    let p: IpAddr = "192.0.2.10".parse().expect("literal");
    let a: IpAddr = "192.0.2.11".parse().expect("literal");
    let unspecified = sel & 0x80 != 0 && !two_addr;
    let primary = if unspecified {
        "0.0.0.0".parse().expect("literal")
    } else {
        p
    };
    let cfg = ResponderConfig {
        primary,
        alternate: two_addr.then_some(a),
        port: 3478,
        alt_port: 3479,
        software,
        rate_limit,
        max_padding,
        ..ResponderConfig::default()
    };
    let bound = if two_addr {
        vec![
            SocketAddr::new(p, 3478),
            SocketAddr::new(p, 3479),
            SocketAddr::new(a, 3478),
            SocketAddr::new(a, 3479),
        ]
    } else {
        vec![SocketAddr::new(primary, 3478)]
    };
    (cfg, bound)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (cfg, bound) = config(sel);
    let mut r = Responder::new(&cfg, &bound).expect("a valid configuration");
    let rl = cfg.rate_limit;
    let check_rate = rl.is_enabled() && rl.max_sources > SOURCES.len();
    let t0 = Instant::now();
    let mut now = t0;
    // Per rate-limit key: first answer's time, answers.
    let mut answered: HashMap<IpAddr, (Instant, u64)> = HashMap::new();
    let mut datagrams = 0u64;
    let mut replies = 0u64;

    for (i, rec) in common::records(rest).enumerate() {
        now += [0, 1, 10, 100, 1000, 10_000, 0, 0].map(Duration::from_millis)
            [usize::from(rec.op >> 5)];
        let ip: IpAddr = SOURCES[usize::from(rec.op & 7)].parse().expect("literal");
        let src = SocketAddr::new(ip, 50000 + (i % 5) as u16);
        let local = usize::from((rec.op >> 3) & 3) % bound.len();
        let req = rec.data;
        datagrams += 1;
        let reply = r.datagram(req, src, local, now);

        let m = r.metrics();
        assert_eq!(m.udp_received, datagrams);
        assert_eq!(
            m.udp_received,
            m.malformed_dropped + m.ignored_dropped + m.requests,
            "{m:?}"
        );
        assert_eq!(
            m.requests,
            m.rate_limited + m.success_responses + m.error_responses + m.amplification_refused,
            "{m:?}"
        );
        let Some(reply) = reply else {
            assert_eq!(replies, m.success_responses + m.error_responses, "{m:?}");
            continue;
        };
        replies += 1;
        assert_eq!(replies, m.success_responses + m.error_responses, "{m:?}");

        let resp = &reply.bytes;
        // Where it goes and from where.
        assert_eq!(reply.to.ip(), src.ip(), "answer to another host");
        assert!(reply.via < bound.len(), "no socket {}", reply.via);
        assert!(resp.len() <= r.out_len());
        assert!(
            common::whole_message(resp),
            "not one whole message: {resp:02x?}"
        );
        assert_eq!(common::method(resp), 0x001, "not Binding");
        let class = common::class(resp);
        assert!(class == 2 || class == 3, "class {class}");
        if class == 3 {
            assert_eq!(reply.to, src, "an error away from the source");
            assert_eq!(reply.via, local, "an error from another socket");
        }
        if reply.via != local {
            assert!(
                cfg.alternate.is_some(),
                "changed socket in single-address mode"
            );
            assert!(
                common::attribute(req, CHANGE_REQUEST).is_some(),
                "changed socket without CHANGE-REQUEST"
            );
        }
        // The no-amplification rule.
        if reply.to != src {
            assert!(common::attribute(req, RESPONSE_PORT).is_some());
            assert!(
                resp.len() <= req.len(),
                "amplification: {} byte answer to a {} byte request sent elsewhere",
                resp.len(),
                req.len()
            );
        }
        // PADDING: bounded by the request's and the cap; the rest by the
        // base length.
        let pad = common::attribute(resp, PADDING).map_or(0, <[u8]>::len);
        if pad > 0 {
            let asked = common::attribute(req, PADDING).map_or(0, <[u8]>::len);
            assert!(pad <= asked, "PADDING {pad} > asked {asked}");
            assert!(pad <= usize::from(r.max_padding()), "PADDING over the cap");
        }
        let pad_cost = if common::attribute(resp, PADDING).is_some() {
            4 + pad.div_ceil(4) * 4
        } else {
            0
        };
        assert!(resp.len() - pad_cost <= RESPONDER_BASE_LEN);
        // The request's transaction id.
        assert_eq!(common::tid(resp), common::tid(req), "transaction id");

        // The rate limit.
        if check_rate {
            let e = answered.entry(key(ip)).or_insert((now, 0));
            e.1 += 1;
            let elapsed = now.saturating_duration_since(e.0).as_secs_f64();
            let allowed = f64::from(rl.burst) + f64::from(rl.per_second) * elapsed + 1.0;
            assert!(
                (e.1 as f64) <= allowed,
                "{} answers to one source in {elapsed} s",
                e.1
            );
        }
    }
});
