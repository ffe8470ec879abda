//! The embedded TURN server's request path for one listener (UDP, or a
//! TCP/TLS one with each client's stream cut by the one framer as the
//! server does): Binding requests answered by the responder's
//! single-address answerer, everything else by turn-server-proto, its poll
//! loop with relay sockets simulated (`servers::fuzzing::TurnCore`).
//!
//! The input is a sequence of steps: a message (over TCP: stream bytes,
//! framed as the server frames them) from one
//! of three clients, a datagram from a peer to an allocated relay, or time
//! passing.
//!
//! Invariants:
//! - the poll loop settles after every step (no endless loop);
//! - what leaves the listener goes only to a client that has sent
//!   something (the sender itself, or for a Binding RESPONSE-PORT another
//!   port of its IP with an answer no larger than the request), and a STUN
//!   response from it carries the transaction id of a request that client
//!   sent; at most one response per message;
//! - what leaves a relay address comes from an allocated relay;
//! - relays stay within the server's cap.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use model::Secret;
use servers::fuzzing::{SansInstant, Sent, TurnCore};
use servers::turn::TurnServerConfig;
use wire::Framer;

const CLIENTS: [&str; 3] = ["192.0.2.1:50000", "192.0.2.1:50001", "[2001:db8::1]:50000"];
const PEER: &str = "198.51.100.9:40000";

/// A STUN success or error response.
fn is_response(d: &[u8]) -> bool {
    d.len() >= 20 && d[0] >> 6 == 0 && matches!(common::class(d), 2 | 3)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let tcp = sel & 1 != 0;
    let listen: SocketAddr = "192.0.2.10:3478".parse().expect("literal");
    let cfg = TurnServerConfig::new("natscope.test", "alice", Secret::new("pw"));
    let mut core = TurnCore::new(&cfg, tcp, listen);
    let clients: Vec<SocketAddr> = CLIENTS
        .iter()
        .map(|c| c.parse().expect("literal"))
        .collect();
    let peer: SocketAddr = PEER.parse().expect("literal");
    let mut framers: Vec<Framer> = clients.iter().map(|_| Framer::default()).collect();
    let mut closed = vec![false; clients.len()];
    let mut spoke: HashSet<SocketAddr> = HashSet::new();
    let mut sent_tids: HashSet<(SocketAddr, [u8; 16])> = HashSet::new();
    let mut nanos: i64 = 0;

    for rec in common::records(rest) {
        let now = SansInstant::from_nanos(nanos);
        let which = usize::from(rec.op >> 2) % clients.len();
        let from = clients[which];
        // Each step: the messages it delivers (sender, bytes) and what the
        // core sent in reaction.
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        let out: Vec<Sent> = match rec.op & 3 {
            0 | 1 => {
                if tcp {
                    // Stream bytes, framed as the server frames them; a
                    // framing error ends the connection. (turn-server-proto
                    // given unframed bytes over TCP resynchronises inside
                    // them and answers a request found mid-buffer: the
                    // server never hands it anything but whole frames.)
                    if closed[which] {
                        continue;
                    }
                    let f = &mut framers[which];
                    if f.push(rec.data).is_err() {
                        closed[which] = true;
                    }
                    loop {
                        match f.next_frame() {
                            Ok(Some((_, frame))) => inputs.push(frame),
                            Ok(None) => break,
                            Err(_) => {
                                closed[which] = true;
                                break;
                            }
                        }
                    }
                } else {
                    inputs.push(rec.data.to_vec());
                }
                let mut out = Vec::new();
                for msg in &inputs {
                    spoke.insert(from);
                    if msg.len() >= 20 && msg[0] >> 6 == 0 && common::class(msg) == 0 {
                        sent_tids.insert((from, common::tid(msg).expect("20 bytes")));
                    }
                    let sent = core.recv(msg, from, now).expect("the poll loop settles");
                    let responses = sent
                        .iter()
                        .filter(|s| s.from == listen && is_response(&s.data))
                        .count();
                    assert!(responses <= 1, "{responses} responses to one message");
                    for s in &sent {
                        // Binding answers with RESPONSE-PORT: another port
                        // of the sender's IP, never larger than the request.
                        if s.from == listen && s.to != from {
                            assert_eq!(s.to.ip(), from.ip(), "answer to another host");
                            assert!(!tcp, "a stream answer elsewhere");
                            assert!(s.data.len() <= msg.len(), "amplification");
                        }
                    }
                    out.extend(sent);
                }
                out
            }
            2 => {
                let Some(&relay) = core.relays().first() else {
                    continue;
                };
                core.relay_recv(rec.data, relay, peer, now)
                    .expect("the poll loop settles")
            }
            _ => {
                let ms = rec
                    .data
                    .iter()
                    .fold(0u64, |a, &b| (a * 256 + u64::from(b)) % 1_000_000);
                nanos = nanos.saturating_add((ms as i64) * 1_000_000);
                core.poll(SansInstant::from_nanos(nanos))
                    .expect("the poll loop settles")
            }
        };
        for s in &out {
            if s.from == listen {
                assert!(
                    spoke.contains(&s.to)
                        || clients
                            .iter()
                            .any(|c| c.ip() == s.to.ip() && spoke.contains(c)),
                    "sent to {} that never spoke",
                    s.to
                );
                let d = &s.data;
                if is_response(d) {
                    let tid = common::tid(d).expect("20 bytes");
                    assert!(
                        clients
                            .iter()
                            .any(|c| sent_tids.contains(&(*c, tid)) && c.ip() == s.to.ip()),
                        "a response to no request of {}",
                        s.to
                    );
                }
            } else {
                // Relay addresses are handed out from port 40000 up on the
                // listener's IP (one may close in the same poll round that
                // sends from it).
                assert!(
                    s.from.ip() == listen.ip() && s.from.port() >= 40000,
                    "sent from {} (no relay)",
                    s.from
                );
            }
        }
        assert!(core.relays().len() <= 256);
    }
});
