//! Host and server-reflexive candidates, gathered by natscope itself
//! (rice-proto's gatherer skips loopback sockets, and natscope wants to
//! name the server and time of every candidate). Relayed candidates come
//! from rice-proto's TURN gatherer (see [`super::agent`]).
//!
//! The srflx Binding request is sent from the ICE host socket itself (a
//! different socket could get a different NAT mapping), so it cannot go
//! through [`crate::stun::transaction::UdpStunClient`], which owns its
//! socket; it reuses that layer's request builder, response parser and
//! retransmission schedule.

use super::StunServerSpec;
use super::result::GatherError;
use crate::stun::transaction::{ResponseClass, RetransmitConfig, binding_request, parse_response};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// The answer of one STUN server to the srflx Binding request.
#[derive(Debug, Clone)]
pub(crate) struct SrflxAnswer {
    /// Index into the STUN server list.
    pub server: usize,
    /// Mapped address, or why there is none.
    pub result: Result<SocketAddr, GatherError>,
    /// When the answer arrived.
    pub at: Instant,
}

/// Sends one Binding request per STUN server from `sock` (all at once,
/// retransmitted on RFC 8489's schedule with a 100 ms first RTO) and waits
/// for the answers until `deadline`. Datagrams that are not answers to
/// these requests are discarded (nothing else talks to the socket yet).
pub(crate) async fn srflx_on_socket(
    sock: &UdpSocket,
    servers: &[StunServerSpec],
    deadline: Instant,
) -> Vec<SrflxAnswer> {
    let local = match sock.local_addr() {
        Ok(a) => a,
        Err(e) => {
            return (0..servers.len())
                .map(|server| SrflxAnswer {
                    server,
                    result: Err(GatherError::Socket {
                        message: e.to_string(),
                    }),
                    at: Instant::now(),
                })
                .collect();
        }
    };
    let cfg = RetransmitConfig {
        initial_rto: Duration::from_millis(100),
        ..RetransmitConfig::default()
    };
    // A closed server port answers at once instead of after the deadline.
    if let Err(e) = crate::icmp::enable(sock, local) {
        tracing::debug!("no ICMP error reporting on {local}: {e}");
    }
    struct Tx {
        server: usize,
        to: SocketAddr,
        tid: stun_proto::types::message::TransactionId,
        bytes: Vec<u8>,
        next: Instant,
        waits: Vec<Duration>,
    }
    let mut answers = Vec::new();
    let mut pending = Vec::new();
    let now = Instant::now();
    for (server, spec) in servers.iter().enumerate() {
        if spec.addr.is_ipv4() != local.is_ipv4() {
            answers.push(SrflxAnswer {
                server,
                result: Err(GatherError::FamilyMismatch),
                at: now,
            });
            continue;
        }
        let (tid, bytes) = binding_request(None, None, None, true);
        pending.push(Tx {
            server,
            to: spec.addr,
            tid,
            bytes,
            next: now,
            waits: cfg
                .retransmit_waits()
                .chain([cfg.final_wait()])
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect(),
        });
    }
    let mut buf = vec![0u8; 2048];
    while !pending.is_empty() {
        let now = Instant::now();
        // Send what is due; a request whose waits are exhausted has timed out.
        let mut i = 0;
        while i < pending.len() {
            if pending[i].next <= now {
                match pending[i].waits.pop() {
                    Some(w) => {
                        if let Err(e) = sock.send_to(&pending[i].bytes, pending[i].to).await {
                            let tx = pending.swap_remove(i);
                            answers.push(SrflxAnswer {
                                server: tx.server,
                                result: Err(GatherError::Socket {
                                    message: e.to_string(),
                                }),
                                at: now,
                            });
                            continue;
                        }
                        // After the last transmission `w` is the final wait.
                        pending[i].next = now + w;
                    }
                    None => {
                        let tx = pending.swap_remove(i);
                        answers.push(SrflxAnswer {
                            server: tx.server,
                            result: Err(GatherError::NoResponse),
                            at: now,
                        });
                        continue;
                    }
                }
            }
            i += 1;
        }
        if pending.is_empty() {
            break;
        }
        let wake = pending
            .iter()
            .map(|t| t.next)
            .min()
            .unwrap_or(deadline)
            .min(deadline);
        if now >= deadline {
            break;
        }
        let recv = tokio::time::timeout_at(wake, sock.recv_from(&mut buf)).await;
        let (n, _from) = match recv {
            Ok(Ok(got)) => got,
            Ok(Err(_)) => {
                // An ICMP error ends the request it answers.
                for e in crate::icmp::drain(sock) {
                    if e.kind != crate::icmp::IcmpKind::PortUnreachable {
                        continue;
                    }
                    while let Some(idx) = pending.iter().position(|t| t.to == e.to) {
                        let tx = pending.swap_remove(idx);
                        answers.push(SrflxAnswer {
                            server: tx.server,
                            result: Err(GatherError::PortClosed { from: e.from }),
                            at: Instant::now(),
                        });
                    }
                }
                continue;
            }
            Err(_) => continue,
        };
        let Ok(parsed) = parse_response(&buf[..n]) else {
            continue;
        };
        let Some(idx) = pending.iter().position(|t| t.tid == parsed.transaction_id) else {
            continue;
        };
        let tx = pending.swap_remove(idx);
        let result = match parsed.class {
            ResponseClass::Success => parsed
                .xor_mapped
                .or(parsed.mapped_address)
                .ok_or(GatherError::NoMappedAddress),
            ResponseClass::Error => {
                let (code, reason) = parsed.error.unwrap_or((0, String::new()));
                Err(GatherError::StunError { code, reason })
            }
        };
        answers.push(SrflxAnswer {
            server: tx.server,
            result,
            at: Instant::now(),
        });
    }
    for tx in pending {
        answers.push(SrflxAnswer {
            server: tx.server,
            result: Err(GatherError::NoResponse),
            at: Instant::now(),
        });
    }
    answers.sort_by_key(|a| a.server);
    answers
}
