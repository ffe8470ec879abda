//! TTL-limited Binding requests towards a STUN server: which router answers
//! ICMP time exceeded at each TTL (read without privileges through
//! `IP_RECVERR`, [`crate::icmp`]), and at which TTL the server itself
//! answers. `natclass` decides from the hops whether a second NAT sits
//! between the LAN gateway and the public mapping.
//!
//! One socket per TTL, all sent at once (and once more after
//! [`RESEND_AFTER`] against loss), so the trace costs one round trip to the
//! server plus the slowest router's answer, bounded by the caller's wait.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use natclass::{PathHop, PathTrace};
use tokio::time::Instant;

use crate::icmp::{self, IcmpKind};
use crate::stun::transaction::binding_request;

/// The highest TTL sent: a second NAT sits within the first few hops.
pub(crate) const MAX_TTL: u8 = 6;
/// When the probes are sent a second time (a lost probe or ICMP answer).
const RESEND_AFTER: Duration = Duration::from_millis(150);
/// How often the sockets' error queues and receive buffers are read.
const POLL: Duration = Duration::from_millis(5);

/// One TTL's socket and request.
struct Probe {
    ttl: u8,
    sock: std::net::UdpSocket,
    request: Vec<u8>,
    hop: Option<IpAddr>,
    reached: bool,
}

/// A socket bound on `bind` (or the unspecified address of `server`'s
/// family) sending with `ttl`, ICMP errors on, non-blocking.
fn probe_socket(server: SocketAddr, bind: Option<IpAddr>, ttl: u8) -> std::io::Result<Probe> {
    let local = SocketAddr::new(bind.unwrap_or_else(|| super::unspecified_for(server)), 0);
    let sock = std::net::UdpSocket::bind(local)?;
    sock.set_nonblocking(true)?;
    icmp::enable(&sock, sock.local_addr()?)?;
    let s = socket2::SockRef::from(&sock);
    if server.is_ipv4() {
        s.set_ttl_v4(u32::from(ttl))?;
    } else {
        s.set_unicast_hops_v6(u32::from(ttl))?;
    }
    let (_, request) = binding_request(None, None, None, true);
    Ok(Probe {
        ttl,
        sock,
        request,
        hop: None,
        reached: false,
    })
}

impl Probe {
    fn send(&self, server: SocketAddr) {
        if let Err(e) = self.sock.send_to(&self.request, server) {
            tracing::debug!("TTL {} probe to {server}: {e}", self.ttl);
        }
    }

    /// Reads what arrived: time exceeded from a router, or the server's
    /// Binding success for this socket's request.
    fn poll(&mut self, server: SocketAddr) {
        for e in icmp::drain(&self.sock) {
            if e.kind == IcmpKind::TimeExceeded && e.to == server {
                self.hop = self.hop.or(e.from);
            }
        }
        let mut buf = [0u8; 1500];
        while let Ok((n, _)) = self.sock.recv_from(&mut buf) {
            // A Binding success (0x0101) carrying this request's
            // transaction id (bytes 8..20 of the header).
            let answer = buf.get(..n).unwrap_or_default();
            if answer.len() >= 20
                && answer[..2] == [0x01, 0x01]
                && answer[8..20] == self.request[8..20]
            {
                self.reached = true;
            }
        }
    }
}

/// Traces the path to `server` for at most `wait` (ending early once the
/// server answered and every lower TTL has a router). `None` when no probe
/// socket could be made.
pub(crate) async fn trace(
    server: SocketAddr,
    bind: Option<IpAddr>,
    wait: Duration,
) -> Option<PathTrace> {
    let mut probes: Vec<Probe> = (1..=MAX_TTL)
        .filter_map(|ttl| match probe_socket(server, bind, ttl) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::debug!("TTL {ttl} probe socket: {e}");
                None
            }
        })
        .collect();
    if probes.is_empty() {
        return None;
    }
    let start = Instant::now();
    let end = start + wait;
    for p in &probes {
        p.send(server);
    }
    let mut resent = false;
    loop {
        tokio::time::sleep(POLL).await;
        for p in &mut probes {
            p.poll(server);
        }
        let reached_at = probes.iter().find(|p| p.reached).map(|p| p.ttl);
        let complete = reached_at
            .is_some_and(|r| probes.iter().filter(|p| p.ttl < r).all(|p| p.hop.is_some()));
        let now = Instant::now();
        if complete || now >= end {
            return Some(PathTrace {
                destination: server.ip(),
                max_ttl: MAX_TTL,
                hops: probes
                    .iter()
                    .filter_map(|p| {
                        p.hop.map(|address| PathHop {
                            ttl: p.ttl,
                            address,
                        })
                    })
                    .collect(),
                reached_at,
            });
        }
        if !resent && now >= start + RESEND_AFTER {
            resent = true;
            for p in probes.iter().filter(|p| p.hop.is_none() && !p.reached) {
                p.send(server);
            }
        }
    }
}
