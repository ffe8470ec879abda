//! The TCP simultaneous-open measurement between the two sides, in the
//! lock step of the UDP hole punch ([`super::punch`]).
//!
//! Each side binds one TCP port P (`SO_REUSEADDR` + `SO_REUSEPORT`, so
//! that several sockets share it) and:
//!
//! - learns P's public mapping by a STUN Binding over TCP *from P* to its
//!   first STUN server (STUN servers serve TCP on their UDP port);
//! - listens on P, so that a side without a NAT (or with a NAT that lets
//!   the other side in) accepts the other side's connection the way a TCP
//!   server would: without it, every SYN that does not cross this side's
//!   own SYN is answered by a reset, and the open is a race of
//!   microseconds;
//! - in each attempt (synchronised by a `tcp-ready` exchange) calls
//!   `connect()` from P to the other side's public address again and again
//!   for at most [`ATTEMPT_WINDOW`]: each try bounded by [`TRY_BOUND`] (a
//!   lost SYN is otherwise sent again only after 1 s), a refused one (a
//!   reset: the other NAT or host had no connection for it yet) tried
//!   again after [`REFUSED_PAUSE`]. The first connection (made, or
//!   accepted from the other side's address) is greeted: both sides write
//!   a tagged line with their nonce and read the other's, so a stray
//!   listener is not counted. `tcp-seen` then tells both sides the
//!   attempt's outcome.

use super::punch::{PunchSkipped, random_nonce};
use super::signal::{Channel, SignalFailure};
use crate::ice::StunServerSpec;
use crate::stun::tcp::TcpStunClient;
use crate::stun::transaction::binding_request;
use model::peer::{Signal, TcpAttempt, TcpOpen, TcpPunch};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Instant;

/// The longest one attempt tries to connect.
pub const ATTEMPT_WINDOW: Duration = Duration::from_millis(700);
/// The longest one `connect()` waits for its SYN's answer.
pub const TRY_BOUND: Duration = Duration::from_millis(250);
/// The pause after a refused or failed `connect()` before the next one.
pub const REFUSED_PAUSE: Duration = Duration::from_millis(20);
/// The longest the greeting exchange on a connection takes.
const GREETING_BOUND: Duration = Duration::from_millis(500);
/// The bound on the STUN Binding over TCP (connection and answer).
const STUN_BOUND: Duration = Duration::from_secs(2);
/// Prefix of a greeting line.
const TAG: &str = "natscope-tcp";
/// Longest greeting read.
const GREETING_MAX: usize = 64;

/// A TCP socket bound to `local`, sharing its port with the others of this
/// measurement.
fn socket(local: SocketAddr) -> std::io::Result<TcpSocket> {
    let s = if local.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    s.set_reuseaddr(true)?;
    #[cfg(unix)]
    s.set_reuseport(true)?;
    s.bind(local)?;
    Ok(s)
}

/// P's public address, by a STUN Binding over TCP from `local` to
/// `server`, with the connection that learnt it.
async fn public_of(local: SocketAddr, server: SocketAddr) -> Option<(SocketAddr, TcpStunClient)> {
    let deadline = Instant::now() + STUN_BOUND;
    let sock = socket(local).ok()?;
    let mut client = TcpStunClient::connect_socket(sock, server, deadline)
        .await
        .ok()?;
    let (_, req) = binding_request(None, None, None, true);
    let r = client.request(req, deadline).await.ok()?;
    if !r.is_success() {
        return None;
    }
    Some((r.mapped()?, client))
}

fn greeting(nonce: u64, attempt: u32) -> String {
    format!("{TAG} {nonce:016x} {attempt}\n")
}

/// Whether `line` (without its newline) is the greeting of `nonce` and
/// `attempt`.
fn is_greeting(line: &[u8], nonce: u64, attempt: u32) -> bool {
    let Ok(text) = std::str::from_utf8(line) else {
        return false;
    };
    let mut it = text.split(' ');
    let ok = it.next() == Some(TAG)
        && it
            .next()
            .and_then(|n| u64::from_str_radix(n, 16).ok())
            .is_some_and(|n| n == nonce)
        && it
            .next()
            .and_then(|a| a.parse::<u32>().ok())
            .is_some_and(|a| a == attempt);
    ok && it.next().is_none()
}

/// Writes this side's greeting and reads the other's (one line, at most
/// [`GREETING_MAX`] bytes), within [`GREETING_BOUND`].
async fn greet(stream: &mut TcpStream, nonce_out: u64, nonce_in: u64, attempt: u32) -> bool {
    let exchange = async {
        stream
            .write_all(greeting(nonce_out, attempt).as_bytes())
            .await
            .ok()?;
        let mut buf = [0u8; GREETING_MAX];
        let mut n = 0;
        while n < buf.len() {
            let got = stream.read(&mut buf[n..]).await.ok()?;
            if got == 0 {
                return None;
            }
            n += got;
            if let Some(end) = buf[..n].iter().position(|b| *b == b'\n') {
                return Some(is_greeting(&buf[..end], nonce_in, attempt));
            }
        }
        Some(false)
    };
    tokio::time::timeout(GREETING_BOUND, exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// What one attempt came to on this side.
#[derive(Debug)]
struct Tried {
    /// The greeted connection, and whether it came in through the
    /// listener.
    conn: Option<(TcpStream, bool)>,
    time_to_connect: Option<Duration>,
    tries: u32,
    refused: u32,
}

/// Connects from `local` to `to` again and again until `end`, while
/// accepting on `listener` from `to`'s address; greets the first
/// connection.
async fn attempt(
    listener: &TcpListener,
    local: SocketAddr,
    to: SocketAddr,
    nonce: (u64, u64),
    attempt: u32,
    end: Instant,
) -> Tried {
    let start = Instant::now();
    let mut out = Tried {
        conn: None,
        time_to_connect: None,
        tries: 0,
        refused: 0,
    };
    while Instant::now() < end {
        // One connection: ours, or theirs through the listener.
        let made = async {
            loop {
                let now = Instant::now();
                if now >= end {
                    return None;
                }
                out.tries += 1;
                // A socket that cannot be bound (the port is taken by a
                // connection of an earlier attempt going away) is a
                // failed try.
                let try_end = (now + TRY_BOUND).min(end);
                let r = match socket(local) {
                    Ok(s) => tokio::time::timeout_at(try_end, s.connect(to)).await,
                    Err(e) => Ok(Err(e)),
                };
                match r {
                    Ok(Ok(s)) => return Some((s, false)),
                    // The try's socket is dropped here, before P is bound
                    // again.
                    Err(_) => continue,
                    Ok(Err(e)) => {
                        if e.kind() == std::io::ErrorKind::ConnectionRefused {
                            out.refused += 1;
                        }
                        tokio::time::sleep_until((Instant::now() + REFUSED_PAUSE).min(end)).await;
                    }
                }
            }
        };
        let accepted = async {
            loop {
                match listener.accept().await {
                    Ok((s, from)) if from.ip() == to.ip() => return Some((s, true)),
                    // A stranger, or a failed accept: not the other side.
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(REFUSED_PAUSE).await,
                }
            }
        };
        let conn = tokio::select! {
            c = made => c,
            c = accepted => c,
        };
        let Some((mut stream, incoming)) = conn else {
            break;
        };
        let at = start.elapsed();
        if greet(&mut stream, nonce.0, nonce.1, attempt).await {
            out.time_to_connect = Some(at);
            out.conn = Some((stream, incoming));
            break;
        }
        // Not the other side (a stray listener, or no greeting in time):
        // go on while the window lasts.
    }
    out
}

/// The measurement: the address exchange, then up to
/// [`TcpPunch::MAX_ATTEMPTS`] attempts, in lock step with the other side
/// through `channel`. `step` bounds each wait for the other side.
pub(crate) async fn measure(
    channel: &Channel,
    stun: &[StunServerSpec],
    host_ip: IpAddr,
    step: Duration,
) -> Result<TcpPunch, PunchSkipped> {
    let sig = PunchSkipped::Signal;
    let nonce = random_nonce();
    let server = stun
        .iter()
        .find(|s| s.addr.is_ipv4() == host_ip.is_ipv4())
        .map(|s| s.addr);
    let listener = socket(SocketAddr::new(host_ip, 0)).and_then(|s| s.listen(8));
    let local = listener.as_ref().ok().and_then(|l| l.local_addr().ok());
    // The STUN connection stays open until the measurement ends: a NAT
    // keeps a TCP mapping while a connection uses it (RFC 5382), so the
    // attempts' connections from P get the port STUN saw. Linux masquerade
    // keeps P's port for a new destination anyway whenever it is free, so
    // on Linux closing it first would work too; keeping it is what works
    // on both.
    let mut why_not: Option<String> = None;
    let mut learnt = None;
    match (server, local) {
        (None, _) => {
            why_not = Some(
                "no STUN server to learn this side's public TCP address from (none of its address family)"
                    .into(),
            );
        }
        (Some(_), None) => why_not = Some(format!("no TCP port could be bound on {host_ip}")),
        (Some(server), Some(local)) => match public_of(local, server).await {
            Some(l) => learnt = Some(l),
            None => {
                why_not = Some(format!(
                    "the STUN server {server} did not answer over TCP, so this side has no public TCP address"
                ));
            }
        },
    }
    let public = learnt.as_ref().map(|(a, _)| *a);
    let ready = |attempt: u32| Signal::TcpReady {
        public,
        attempt,
        nonce,
    };
    channel.send(&ready(0)).await.map_err(sig)?;
    let deadline = Instant::now() + step;
    let (their_public, their_nonce) = channel
        .recv("TCP addresses", deadline, None, |s| match s {
            Signal::TcpReady {
                public,
                attempt: 0,
                nonce,
            } => Some((*public, *nonce)),
            _ => None,
        })
        .await
        .map_err(sig)?;
    if let Some(w) = why_not {
        return Err(PunchSkipped::NotTested(w));
    }
    let Some(their_public) = their_public else {
        return Err(PunchSkipped::NotTested(
            "the other side has no public TCP address (its STUN server did not answer over TCP)"
                .into(),
        ));
    };
    // Set above; the match returned otherwise.
    let (Ok(listener), Some(local)) = (listener, local) else {
        return Err(PunchSkipped::NotTested("no TCP port".into()));
    };

    let mut out = TcpPunch {
        local_public: public,
        remote_public: Some(their_public),
        local_addr: None,
        remote_addr: None,
        attempts: Vec::new(),
        success: false,
        first_attempt_success: false,
    };
    for n in 1..=TcpPunch::MAX_ATTEMPTS {
        channel.send(&ready(n)).await.map_err(sig)?;
        let deadline = Instant::now() + step;
        channel
            .recv("TCP attempt start", deadline, None, |s| {
                matches!(s, Signal::TcpReady { attempt: a, .. } if *a == n).then_some(())
            })
            .await
            .map_err(sig)?;
        let end = Instant::now() + ATTEMPT_WINDOW;
        let t = attempt(&listener, local, their_public, (nonce, their_nonce), n, end).await;
        let accepted = t.conn.as_ref().is_some_and(|(_, a)| *a);
        let seen = Signal::TcpSeen {
            attempt: n,
            connected: t.conn.is_some(),
            accepted,
        };
        channel.send(&seen).await.map_err(sig)?;
        let (they_connected, they_accepted) = their_seen(channel, n, step).await.map_err(sig)?;
        // The connection is kept until both sides know the outcome: a
        // side that closed with the other's greeting unread would reset
        // it before the other read ours.
        let connected = t.conn.is_some() && they_connected;
        if let Some((s, _)) = &t.conn
            && connected
        {
            out.local_addr = s.local_addr().ok();
            out.remote_addr = s.peer_addr().ok();
        }
        out.attempts.push(TcpAttempt {
            attempt: n,
            connected,
            open: connected.then(|| TcpOpen::of(accepted, they_accepted)),
            time_to_connect_ms: t
                .time_to_connect
                .filter(|_| connected)
                .map(|d| d.as_secs_f64() * 1e3),
            tries: t.tries,
            refused: t.refused,
        });
        drop(t);
        if connected {
            out.success = true;
            out.first_attempt_success = n == 1;
            break;
        }
    }
    drop(learnt);
    Ok(out)
}

/// The other side's `tcp-seen` of `attempt`: whether it connected, and
/// whether through its listener.
async fn their_seen(
    channel: &Channel,
    attempt: u32,
    step: Duration,
) -> Result<(bool, bool), SignalFailure> {
    let deadline = Instant::now() + step;
    channel
        .recv("TCP attempt result", deadline, None, |s| match s {
            Signal::TcpSeen {
                attempt: a,
                connected,
                accepted,
            } if *a == attempt => Some((*connected, *accepted)),
            _ => None,
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_round_trip_and_strangers_are_refused() {
        let g = greeting(0xabc, 2);
        let line = g.trim_end_matches('\n').as_bytes();
        assert!(is_greeting(line, 0xabc, 2));
        assert!(!is_greeting(line, 0xabd, 2));
        assert!(!is_greeting(line, 0xabc, 1));
        assert!(!is_greeting(b"natscope-tcp zz 1", 0, 1));
        assert!(!is_greeting(b"SSH-2.0-OpenSSH_9.2", 0, 1));
        assert!(!is_greeting(&[0xff; 20], 0, 1));
        assert!(!is_greeting(
            b"natscope-tcp 0000000000000abc 2 extra",
            0xabc,
            2
        ));
    }

    #[test]
    fn open_is_named_from_both_sides() {
        assert_eq!(TcpOpen::of(false, false), TcpOpen::Simultaneous);
        assert_eq!(TcpOpen::of(false, true), TcpOpen::Outgoing);
        assert_eq!(TcpOpen::of(true, false), TcpOpen::Incoming);
    }

    #[tokio::test]
    async fn two_sockets_share_a_listening_port_and_a_greeting_is_read() {
        let lo = SocketAddr::from(([127, 0, 0, 1], 0));
        let l = socket(lo).and_then(|s| s.listen(8)).expect("listener");
        let p = l.local_addr().expect("bound");
        // A connecting socket on the listener's port (as the attempts).
        let other = socket(lo).and_then(|s| s.listen(8)).expect("other");
        let to = other.local_addr().expect("bound");
        let c = socket(p).expect("shares the port");
        let (a, b) = tokio::join!(c.connect(to), other.accept());
        let mut a = a.expect("connects");
        let (mut b, from) = b.expect("accepts");
        assert_eq!(from, p);
        let (x, y) = tokio::join!(greet(&mut a, 1, 2, 1), greet(&mut b, 2, 1, 1));
        assert!(x && y);
    }
}
