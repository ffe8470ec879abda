//! STUN over TCP (RFC 8489 §6.2.2): messages framed by the one framer
//! (`wire::Framer`, STUN only), answered on the same connection. Connections are bounded in
//! number (shared across listeners) and in idle time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use wire::Framer;

use super::answer::{Answerer, Arrival, MAX_REQUEST_LEN, Outcome, RESPONSE_BASE_LEN, Transport};
use super::metrics::inc;

/// Most TCP connections open at once, over all listeners.
pub const MAX_TCP_CONNECTIONS: usize = 1024;
/// A connection with no complete request for this long is closed.
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest time a started message may take to arrive whole, however
/// slowly its bytes trickle in (a slow client is closed after it), and the
/// longest wait to write a response.
pub const TCP_IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after an accept error (e.g. out of file descriptors).
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections on listener `idx` until the task is aborted (which
/// drops the `JoinSet` and so aborts every connection task too).
pub(crate) async fn serve(
    idx: usize,
    listener: TcpListener,
    answerer: Arc<Answerer>,
    slots: Arc<Semaphore>,
) {
    let mut conns = JoinSet::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "tcp accept error");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            inc(&answerer.metrics.tcp_refused);
            tracing::debug!(%peer, "tcp connection refused: limit reached");
            continue;
        };
        inc(&answerer.metrics.tcp_accepted);
        let answerer = answerer.clone();
        conns.spawn(async move {
            let _permit = permit;
            connection(idx, stream, peer, &answerer).await;
        });
    }
}

async fn connection(idx: usize, mut stream: TcpStream, peer: SocketAddr, answerer: &Answerer) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let origin = answerer.tcp_origin(idx, local);
    let mut framer = Framer::stun_only(MAX_REQUEST_LEN);
    let mut chunk = vec![0u8; MAX_REQUEST_LEN];
    let mut out = vec![0u8; RESPONSE_BASE_LEN + usize::from(answerer.max_padding) + 8];
    let m = &answerer.metrics;
    // When the message now buffered in part began to arrive.
    let mut started: Option<tokio::time::Instant> = None;
    loop {
        // Idle between messages; a started one must be whole within
        // TCP_IO_TIMEOUT of its first bytes (a client trickling a byte at a
        // time cannot hold the connection longer).
        let deadline = if framer.buffered() == 0 {
            started = None;
            tokio::time::Instant::now() + TCP_IDLE_TIMEOUT
        } else {
            *started.get_or_insert_with(tokio::time::Instant::now) + TCP_IO_TIMEOUT
        };
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await;
        let data = match &read {
            Ok(Ok(n)) => chunk.get(..*n),
            _ => None,
        };
        if !take_read(&mut framer, data, answerer) {
            return;
        }
        let filled = framer.buffered();
        loop {
            let arrival = Arrival {
                src: peer,
                local: idx,
                origin: Some(origin),
                transport: Transport::Tcp,
                at: std::time::Instant::now(),
            };
            match next_answer(&mut framer, answerer, arrival, &mut out) {
                Step::More => break,
                Step::Close => {
                    tracing::debug!(%peer, "closing tcp connection: not STUN");
                    return;
                }
                Step::Reply(len) => {
                    match tokio::time::timeout(TCP_IO_TIMEOUT, stream.write_all(&out[..len])).await
                    {
                        Ok(Ok(())) => {}
                        _ => {
                            inc(&m.send_errors);
                            return;
                        }
                    }
                }
            }
        }
        // A message was taken whole: what is left began with this read, so
        // its deadline starts now (a pipelining client whose reads end
        // mid-message is never closed while its messages keep completing).
        if framer.buffered() < filled {
            started = None;
        }
    }
}

/// What to do next on a connection (the sans-IO part of [`connection`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// No complete message buffered: read more.
    More,
    /// Write `out[..len]` back on the connection, then ask again.
    Reply(usize),
    /// Framing is lost: close the connection (already counted).
    Close,
}

/// Feeds one read to the connection's framer: `data` is what the read
/// returned, `None` for an error or a timeout. False when the connection
/// must close (end of stream, error, timeout, or a framer that refuses
/// more); a message left unfinished is counted as malformed.
pub(crate) fn take_read(framer: &mut Framer, data: Option<&[u8]>, answerer: &Answerer) -> bool {
    match data {
        // At most MAX_REQUEST_LEN per read, drained by `next_answer` after
        // every read: never overfull.
        Some(d) if !d.is_empty() && framer.push(d).is_ok() => true,
        _ => {
            if framer.buffered() > 0 {
                inc(&answerer.metrics.malformed_dropped);
            }
            false
        }
    }
}

/// Answers the buffered messages until one gets an answer (written into
/// `out`), more bytes are needed, or framing is lost. Messages that get no
/// answer (dropped and counted by the answerer) are skipped.
pub(crate) fn next_answer(
    framer: &mut Framer,
    answerer: &Answerer,
    arrival: Arrival,
    out: &mut [u8],
) -> Step {
    let m = &answerer.metrics;
    loop {
        let request = match framer.next_frame() {
            Ok(Some((_, frame))) if wire::has_magic_cookie(&frame) => frame,
            Ok(None) => return Step::More,
            // Framing is lost: nothing after this can be trusted.
            Ok(Some(_)) | Err(_) => {
                inc(&m.tcp_received);
                inc(&m.malformed_dropped);
                return Step::Close;
            }
        };
        inc(&m.tcp_received);
        if let Outcome::Reply { len, .. } = answerer.answer(&request, arrival, out) {
            return Step::Reply(len);
        }
    }
}
