//! The plain UDP hole-punch measurement between the two sides, reported
//! the way the libp2p DCUtR campaign reports its attempts (attempts, first
//! attempt success, which side's packets got through).
//!
//! Three fresh sockets per side, each with its own NAT mapping:
//!
//! - `listen` learns its public address and never sends to the other side:
//!   the other side's `reach` socket sends to it for [`REACH_WINDOW`], so
//!   what arrives proves this side is reachable unsolicited (no hole punch
//!   needed: a "reversed" connection in libp2p's words);
//! - `punch` learns its public address; in each attempt both sides send
//!   to each other's `punch` address at the same moment (synchronised by a
//!   `punch-ready` exchange) for at most [`ATTEMPT_WINDOW`]. A packet
//!   carries a flag saying whether its sender has already received the
//!   other side's: an attempt succeeds when both sides saw each other.
//!
//! Packets from an address other than the advertised one are accepted and
//! answered (the other NAT mapped a new port towards this side, as an ICE
//! peer-reflexive candidate), and named in the result.

use super::signal::{Channel, SignalFailure};
use crate::ice::StunServerSpec;
use crate::ice::gather::srflx_on_socket;
use model::peer::{HolePunch, PunchAttempt, PunchDirection, Signal};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// How long the reachability test sends.
pub const REACH_WINDOW: Duration = Duration::from_millis(300);
/// The longest one attempt sends.
pub const ATTEMPT_WINDOW: Duration = Duration::from_millis(600);
/// Time between two punch packets.
const PACE: Duration = Duration::from_millis(20);
/// After both sides saw each other, packets go on this long so the other
/// side sees the flag too.
const GRACE: Duration = Duration::from_millis(60);
/// Prefix of a punch packet.
const TAG: &str = "natscope-punch";

/// Why the measurement was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PunchSkipped {
    /// Plain words for the report (`holepunch: not tested`).
    NotTested(String),
    /// The signalling failed: the whole session is in trouble.
    Signal(SignalFailure),
}

/// What a socket's public address is, by the first STUN server that
/// answers.
async fn public_of(
    sock: &UdpSocket,
    stun: &[StunServerSpec],
    deadline: Instant,
) -> Option<SocketAddr> {
    srflx_on_socket(sock, stun, deadline)
        .await
        .into_iter()
        .find_map(|a| a.result.ok())
}

fn packet(nonce: u64, attempt: u32, seen: bool) -> Vec<u8> {
    format!("{TAG} {nonce:016x} {attempt} {}", u8::from(seen)).into_bytes()
}

/// Reads a punch packet of `nonce` and `attempt`: its "seen" flag.
fn read_packet(data: &[u8], nonce: u64, attempt: u32) -> Option<bool> {
    let text = std::str::from_utf8(data).ok()?;
    let mut it = text.split(' ');
    if it.next()? != TAG {
        return None;
    }
    let n = u64::from_str_radix(it.next()?, 16).ok()?;
    let a: u32 = it.next()?.parse().ok()?;
    let seen = match it.next()? {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    (n == nonce && a == attempt && it.next().is_none()).then_some(seen)
}

pub(crate) fn random_nonce() -> u64 {
    let mut b = [0u8; 8];
    // SystemRandom fails only without an OS random source; a fixed nonce
    // then still works (it only marks packets).
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u64::from_be_bytes(b)
}

/// What one side saw in a window.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    received: u32,
    first_in: Option<Duration>,
    from: Option<SocketAddr>,
    /// A packet with the "seen" flag arrived: the other side has ours.
    flagged: bool,
    sent: u32,
}

/// Sends from `out` to `to` every [`PACE`] (and to where the other side's
/// packets came from) while receiving on `inn` (the same socket for an
/// attempt), until `window` ends or both sides saw each other.
/// One sending window: where to, the two sides' nonces, the attempt, how
/// long, and whether to stop once both sides saw each other.
struct Window {
    to: SocketAddr,
    nonce_out: u64,
    nonce_in: u64,
    attempt: u32,
    length: Duration,
    stop_when_both: bool,
}

async fn window(out: &UdpSocket, inn: Option<&UdpSocket>, w: Window) -> Seen {
    let Window {
        to,
        nonce_out,
        nonce_in,
        attempt,
        length: window,
        stop_when_both,
    } = w;
    let start = Instant::now();
    let end = start + window;
    let mut seen = Seen::default();
    let mut both_at: Option<Instant> = None;
    let mut next_send = start;
    let mut buf = [0u8; 256];
    loop {
        let now = Instant::now();
        if now >= end || both_at.is_some_and(|t| now >= t + GRACE) {
            return seen;
        }
        if now >= next_send {
            let p = packet(nonce_out, attempt, seen.received > 0);
            let _ = out.send_to(&p, to).await;
            seen.sent += 1;
            if let Some(from) = seen.from
                && from != to
            {
                let _ = out.send_to(&p, from).await;
            }
            next_send = now + PACE;
        }
        let sock = inn.unwrap_or(out);
        let wake = next_send.min(end);
        // An ICMP error or nothing yet: go on sending.
        if let Ok(Ok((n, from))) = tokio::time::timeout_at(wake, sock.recv_from(&mut buf)).await
            && let Some(flag) = read_packet(&buf[..n], nonce_in, attempt)
        {
            seen.received += 1;
            seen.first_in.get_or_insert(start.elapsed());
            seen.from.get_or_insert(from);
            seen.flagged |= flag;
            if stop_when_both && seen.flagged && both_at.is_none() {
                both_at = Some(Instant::now());
            }
        }
    }
}

fn micros(d: Option<Duration>) -> Option<u64> {
    d.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn ms(us: Option<u64>) -> Option<f64> {
    us.map(|us| us as f64 / 1e3)
}

/// The measurement: reachability test, then up to
/// [`HolePunch::MAX_ATTEMPTS`] attempts, each side in lock step with the
/// other through `channel`. `step` bounds each wait for the other side.
pub(crate) async fn measure(
    channel: &Channel,
    stun: &[StunServerSpec],
    host_ip: IpAddr,
    step: Duration,
) -> Result<HolePunch, PunchSkipped> {
    let sig = PunchSkipped::Signal;
    let bind = |ip| async move { UdpSocket::bind(SocketAddr::new(ip, 0)).await.ok() };
    let (listen, reach, punch) = (
        bind(host_ip).await,
        bind(host_ip).await,
        bind(host_ip).await,
    );
    let nonce = random_nonce();
    let mut why_not: Option<String> = None;
    let (mut listen_public, mut punch_public) = (None, None);
    let stun: Vec<StunServerSpec> = stun
        .iter()
        .filter(|s| s.addr.is_ipv4() == host_ip.is_ipv4())
        .cloned()
        .collect();
    match (&listen, &reach, &punch) {
        (Some(l), Some(_), Some(p)) if !stun.is_empty() => {
            let deadline = Instant::now() + Duration::from_secs(2);
            let (a, b) = tokio::join!(public_of(l, &stun, deadline), public_of(p, &stun, deadline));
            (listen_public, punch_public) = (a, b);
            if a.is_none() || b.is_none() {
                why_not = Some(
                    "no STUN server answered, so this side has no public address to punch from"
                        .into(),
                );
            }
        }
        _ if stun.is_empty() => {
            why_not = Some(
                "no STUN server to learn this side's public address from (none of its address family answered)"
                    .into(),
            );
        }
        _ => why_not = Some(format!("no UDP socket could be bound on {host_ip}")),
    }
    let ready = |attempt: u32| Signal::PunchReady {
        listen: listen_public,
        punch: punch_public,
        attempt,
        nonce,
    };
    channel.send(&ready(0)).await.map_err(sig)?;
    let deadline = Instant::now() + step;
    let (their_listen, their_punch, their_nonce) = channel
        .recv("hole-punch addresses", deadline, None, |s| match s {
            Signal::PunchReady {
                listen,
                punch,
                attempt: 0,
                nonce,
            } => Some((*listen, *punch, *nonce)),
            _ => None,
        })
        .await
        .map_err(sig)?;
    if let Some(w) = why_not {
        return Err(PunchSkipped::NotTested(w));
    }
    let (Some(their_listen), Some(their_punch)) = (their_listen, their_punch) else {
        return Err(PunchSkipped::NotTested(
            "the other side has no public address to punch from (its STUN server did not answer)"
                .into(),
        ));
    };
    // Bound above; the match returned otherwise.
    let (Some(listen), Some(reach), Some(punch)) = (listen, reach, punch) else {
        return Err(PunchSkipped::NotTested("no socket".into()));
    };

    // Reachability: this side's reach socket → their listen socket, while
    // our listen socket hears theirs.
    let w = Window {
        to: their_listen,
        nonce_out: nonce,
        nonce_in: their_nonce,
        attempt: 0,
        length: REACH_WINDOW,
        stop_when_both: false,
    };
    let s = window(&reach, Some(&listen), w).await;
    let local_reachable = s.received > 0;
    let seen = |attempt: u32, s: &Seen| Signal::PunchSeen {
        attempt,
        received: s.received > 0,
        first_in_us: micros(s.first_in),
        from: s.from,
    };
    channel.send(&seen(0, &s)).await.map_err(sig)?;
    let remote_reachable = their_seen(channel, 0, step).await.map_err(sig)?.0;

    let mut out = HolePunch {
        local_public: punch_public,
        remote_public: Some(their_punch),
        local_reachable,
        remote_reachable,
        attempts: Vec::new(),
        success: false,
        first_attempt_success: false,
        remote_seen_from: None,
    };
    for attempt in 1..=HolePunch::MAX_ATTEMPTS {
        channel.send(&ready(attempt)).await.map_err(sig)?;
        let deadline = Instant::now() + step;
        channel
            .recv("hole-punch start", deadline, None, |s| {
                matches!(s, Signal::PunchReady { attempt: a, .. } if *a == attempt).then_some(())
            })
            .await
            .map_err(sig)?;
        let w = Window {
            to: their_punch,
            nonce_out: nonce,
            nonce_in: their_nonce,
            attempt,
            length: ATTEMPT_WINDOW,
            stop_when_both: true,
        };
        let s = window(&punch, None, w).await;
        channel.send(&seen(attempt, &s)).await.map_err(sig)?;
        let (they_received, their_first_in) =
            their_seen(channel, attempt, step).await.map_err(sig)?;
        let got_in = s.received > 0;
        let success = got_in && they_received;
        if out.remote_seen_from.is_none() && s.from.is_some_and(|f| f != their_punch) {
            out.remote_seen_from = s.from;
        }
        out.attempts.push(PunchAttempt {
            attempt,
            success,
            got_through: PunchDirection::of(they_received, got_in),
            first_in_ms: s.first_in.map(|d| d.as_secs_f64() * 1e3),
            first_out_ms: ms(their_first_in),
            sent: s.sent,
            received: s.received,
        });
        if success {
            out.success = true;
            out.first_attempt_success = attempt == 1;
            break;
        }
    }
    Ok(out)
}

/// The other side's `punch-seen` of `attempt`: whether it received, and
/// its time to the first packet.
async fn their_seen(
    channel: &Channel,
    attempt: u32,
    step: Duration,
) -> Result<(bool, Option<u64>), SignalFailure> {
    let deadline = Instant::now() + step;
    channel
        .recv("hole-punch result", deadline, None, |s| match s {
            Signal::PunchSeen {
                attempt: a,
                received,
                first_in_us,
                ..
            } if *a == attempt => Some((*received, *first_in_us)),
            _ => None,
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip_and_strangers_are_ignored() {
        let p = packet(0xabc, 2, true);
        assert_eq!(read_packet(&p, 0xabc, 2), Some(true));
        assert_eq!(read_packet(&p, 0xabd, 2), None);
        assert_eq!(read_packet(&p, 0xabc, 1), None);
        assert_eq!(read_packet(b"natscope-punch zz 1 1", 0, 1), None);
        assert_eq!(read_packet(&[0xff; 40], 0, 1), None);
    }
}
