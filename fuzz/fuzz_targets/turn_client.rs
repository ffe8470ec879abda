//! The TURN client's handling of whatever a server sends, through the
//! probe's sans-IO surface (`probe::turn::fuzzing::TurnClientHarness`: the
//! session's turn-client-proto client, tap, peer-data bound and, for
//! streams, framer), over UDP and over a stream, with and without
//! credentials.
//!
//! The input is a sequence of steps: a server datagram (or stream bytes)
//! carrying the transaction id of the client's last request (so answers
//! match and reach the client's deeper states), one as it is, or time
//! passing. After every step the client is polled and what it sends is
//! taken.
//!
//! Invariants:
//! - the client only ever sends from its own address to the server's
//!   (an answer cannot aim it at a third party), at most a few messages
//!   per step (no storm), each a STUN message or ChannelData;
//! - every queue and table of the session stays within its bound (peer
//!   data, events, the tap's in-flight, gap and error tables, the framer);
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use probe::turn::fuzzing::{SansInstant, TurnClientHarness};

/// Signs a forged answer as a server knowing the password would: when
/// `msg` is one whole STUN message carrying MESSAGE-INTEGRITY, its HMAC is
/// recomputed with the long-term key of `user`/`realm`/`pass` (RFC 8489
/// §9.2.2), and a FINGERPRINT after it recomputed too.
fn sign(msg: &mut [u8], user: &str, realm: &str, pass: &str) {
    use hmac::{Hmac, Mac};
    use md5::{Digest, Md5};
    if !common::whole_message(msg) {
        return;
    }
    let mut at = 20;
    let mut mi = None;
    let mut fp = None;
    while at + 4 <= msg.len() {
        let t = u16::from_be_bytes([msg[at], msg[at + 1]]);
        let len = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
        if at + 4 + len > msg.len() {
            return;
        }
        match t {
            0x0008 if len == 20 && mi.is_none() => mi = Some(at),
            0x8028 if len == 4 => fp = Some(at),
            _ => {}
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    let total = msg.len();
    if let Some(o) = mi {
        let key = Md5::digest(format!("{user}:{realm}:{pass}").as_bytes());
        let len = u16::try_from(o + 24 - 20).unwrap_or(0);
        msg[2..4].copy_from_slice(&len.to_be_bytes());
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).expect("any key length");
        mac.update(&msg[..o]);
        let tag = mac.finalize().into_bytes();
        msg[o + 4..o + 24].copy_from_slice(&tag);
    }
    let len = u16::try_from(total - 20).unwrap_or(0);
    msg[2..4].copy_from_slice(&len.to_be_bytes());
    if let Some(f) = fp
        && mi.is_none_or(|o| f > o)
    {
        let crc = crc32(&msg[..f]) ^ 0x5354_554e;
        msg[f + 4..f + 8].copy_from_slice(&crc.to_be_bytes());
    }
}

/// CRC-32 (ISO HDLC, as FINGERPRINT uses).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The REALM of a STUN message, when it has one.
fn realm_of(msg: &[u8]) -> Option<String> {
    if !common::whole_message(msg) {
        return None;
    }
    common::attribute(msg, 0x0014).map(|r| String::from_utf8_lossy(r).into_owned())
}

/// Most messages a client may send in reaction to one step.
const MAX_SENT_PER_STEP: usize = 16;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let stream = sel & 1 != 0;
    let local: SocketAddr = "192.0.2.1:50000".parse().expect("literal");
    let remote: SocketAddr = "198.51.100.1:3478".parse().expect("literal");
    let (user, pass) = if sel & 2 != 0 {
        ("alice", "pw")
    } else {
        ("", "")
    };
    let mut c = TurnClientHarness::new(stream, local, remote, user, pass);
    let base = tokio::time::Instant::now();
    let mut nanos: i64 = 0;
    let mut last_tid: Option<[u8; 16]> = None;
    let mut realm = String::new();
    let take = |c: &mut TurnClientHarness, nanos: i64, last_tid: &mut Option<[u8; 16]>| {
        let now = SansInstant::from_nanos(nanos);
        let at = base + Duration::from_nanos(nanos as u64);
        let mut sent = 0usize;
        for _ in 0..4 {
            let _ = c.poll(now);
            let out = c.transmit(now, at);
            for o in &out {
                assert_eq!(o.to, remote, "sent to {} (not the server)", o.to);
                assert_eq!(o.from, local, "sent from {}", o.from);
                assert!(o.data.len() >= 4);
                if o.data[0] >> 6 == 0 && common::class(&o.data) == 0 {
                    *last_tid = common::tid(&o.data);
                }
            }
            sent += out.len();
            if out.is_empty() {
                break;
            }
        }
        assert!(sent <= MAX_SENT_PER_STEP, "{sent} messages in one step");
        c.check_bounds().expect("session state within bounds");
    };
    take(&mut c, nanos, &mut last_tid);

    for rec in common::records(rest) {
        let now = SansInstant::from_nanos(nanos);
        let at = base + Duration::from_nanos(nanos as u64);
        match rec.op % 4 {
            // A server message with the last request's transaction id.
            0 | 1 => {
                let mut msg = rec.data.to_vec();
                if rec.op % 4 == 0
                    && let Some(tid) = last_tid
                    && msg.len() >= 20
                {
                    msg[4..20].copy_from_slice(&tid);
                }
                if let Some(r) = realm_of(&msg) {
                    realm = r;
                }
                if rec.op % 4 == 0 {
                    sign(&mut msg, user, &realm, pass);
                }
                if stream {
                    let _ = c.receive_stream(&msg, now, at);
                } else {
                    c.receive(&msg, now, at);
                }
            }
            // Time passes: up to ~65 s.
            2 => {
                let ms = rec
                    .data
                    .iter()
                    .fold(0u64, |a, &b| (a * 256 + u64::from(b)) % 65_536);
                nanos = nanos.saturating_add((ms as i64) * 1_000_000);
            }
            // Raw stream bytes / datagram, untouched, delivered in pieces.
            _ => {
                for piece in rec.data.chunks(7) {
                    if stream {
                        if c.receive_stream(piece, now, at).is_err() {
                            break;
                        }
                    } else {
                        c.receive(piece, now, at);
                    }
                }
            }
        }
        take(&mut c, nanos, &mut last_tid);
    }
});
