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
/// Longest wait for the rest of a started message, or to write a response.
const TCP_IO_TIMEOUT: Duration = Duration::from_secs(10);
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
    loop {
        // Idle between messages; the rest of a started one must come sooner.
        let wait = if framer.buffered() == 0 {
            TCP_IDLE_TIMEOUT
        } else {
            TCP_IO_TIMEOUT
        };
        match tokio::time::timeout(wait, stream.read(&mut chunk)).await {
            // At most MAX_REQUEST_LEN per read, drained below: never overfull.
            Ok(Ok(n)) if n > 0 && framer.push(&chunk[..n]).is_ok() => {}
            _ if framer.buffered() > 0 => {
                inc(&m.malformed_dropped);
                return;
            }
            _ => return,
        }
        loop {
            let request = match framer.next_frame() {
                Ok(Some((_, frame))) if wire::has_magic_cookie(&frame) => frame,
                Ok(None) => break,
                // Framing is lost: nothing after this can be trusted.
                Ok(Some(_)) | Err(_) => {
                    inc(&m.tcp_received);
                    inc(&m.malformed_dropped);
                    tracing::debug!(%peer, "closing tcp connection: not STUN");
                    return;
                }
            };
            inc(&m.tcp_received);
            let arrival = Arrival {
                src: peer,
                local: idx,
                origin: Some(origin),
                transport: Transport::Tcp,
                at: std::time::Instant::now(),
            };
            if let Outcome::Reply { len, .. } = answerer.answer(&request, arrival, &mut out) {
                match tokio::time::timeout(TCP_IO_TIMEOUT, stream.write_all(&out[..len])).await {
                    Ok(Ok(())) => {}
                    _ => {
                        inc(&m.send_errors);
                        return;
                    }
                }
            }
        }
    }
}
