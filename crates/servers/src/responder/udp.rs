//! The UDP receive/answer loop: one task per socket, buffers allocated once
//! per task, responses sent from whichever of the shared sockets the
//! request's CHANGE-REQUEST selects.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::answer::{Answerer, Arrival, MAX_REQUEST_LEN, Outcome, RESPONSE_BASE_LEN, Transport};
use super::metrics::inc;

/// Pause after a receive error, so a persistent error cannot spin a core.
const RECV_ERROR_BACKOFF: Duration = Duration::from_millis(1);

/// Serves UDP socket `idx` of `sockets` until the task is aborted: in
/// batches on Linux ([`super::mmsg`]), a datagram at a time elsewhere.
pub(crate) async fn serve(idx: usize, sockets: Arc<[UdpSocket]>, answerer: Arc<Answerer>) {
    #[cfg(target_os = "linux")]
    serve_batched(idx, sockets, answerer).await;
    #[cfg(not(target_os = "linux"))]
    serve_one_by_one(idx, sockets, answerer).await;
}

/// One `recvmmsg` per wake-up, answers to the same socket in one
/// `sendmmsg`; answers from another socket (CHANGE-REQUEST), and any a
/// full send buffer cut short, one by one.
#[cfg(target_os = "linux")]
async fn serve_batched(idx: usize, sockets: Arc<[UdpSocket]>, answerer: Arc<Answerer>) {
    use super::mmsg::{RecvBatch, SendBatch};
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;

    let Some(sock) = sockets.get(idx) else {
        return;
    };
    let fd = sock.as_raw_fd();
    let origin = answerer.origins.get(idx).copied().flatten();
    let mut input = RecvBatch::new(MAX_REQUEST_LEN);
    let out_len = RESPONSE_BASE_LEN + usize::from(answerer.max_padding) + 8;
    let mut batch = SendBatch::new(out_len);
    loop {
        let n = match sock.async_io(Interest::READABLE, || input.recv(fd)).await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "udp receive error");
                tokio::time::sleep(RECV_ERROR_BACKOFF).await;
                continue;
            }
        };
        let at = std::time::Instant::now();
        batch.clear();
        for i in 0..n {
            let Some((data, src)) = input.get(i) else {
                continue;
            };
            let arrival = Arrival {
                src,
                local: idx,
                origin,
                transport: Transport::Udp,
                at,
            };
            // Answers leaving from this socket join the batch; the slot is
            // only used (pushed) when the answer says so.
            let Some(slot) = batch.slot() else {
                continue;
            };
            match answerer.answer_datagram(data, arrival, slot) {
                Outcome::Reply { len, via, to } if via == idx => batch.push(len, to),
                Outcome::Reply { len, via, to } => {
                    // Rare (CHANGE-REQUEST): from the socket it names, now.
                    if let (Some(from), Some(bytes)) = (sockets.get(via), slot.get(..len)) {
                        send_one(from, bytes, to, &answerer).await;
                    }
                }
                _ => {}
            }
        }
        let mut sent = 0;
        while sent < batch.len() {
            match sock.try_io(Interest::WRITABLE, || batch.send(fd, sent)) {
                Ok(0) => break,
                Ok(k) => sent += k,
                Err(_) => break,
            }
        }
        // What the send buffer did not take now, one by one (awaiting room).
        for i in sent..batch.len() {
            if let Some((data, to)) = batch.get(i) {
                send_one(sock, data, to, &answerer).await;
            }
        }
    }
}

#[cfg(target_os = "linux")]
async fn send_one(from: &UdpSocket, data: &[u8], to: std::net::SocketAddr, answerer: &Answerer) {
    if let Err(e) = from.send_to(data, to).await {
        inc(&answerer.metrics.send_errors);
        tracing::debug!(%to, error = %e, "udp send failed");
    }
}

#[cfg(not(target_os = "linux"))]
async fn serve_one_by_one(idx: usize, sockets: Arc<[UdpSocket]>, answerer: Arc<Answerer>) {
    let Some(sock) = sockets.get(idx) else {
        return;
    };
    let origin = answerer.origins.get(idx).copied().flatten();
    let mut input = vec![0u8; MAX_REQUEST_LEN];
    let mut out = vec![0u8; RESPONSE_BASE_LEN + usize::from(answerer.max_padding) + 8];
    loop {
        let (n, src) = match sock.recv_from(&mut input).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "udp receive error");
                tokio::time::sleep(RECV_ERROR_BACKOFF).await;
                continue;
            }
        };
        let arrival = Arrival {
            src,
            local: idx,
            origin,
            transport: Transport::Udp,
            at: std::time::Instant::now(),
        };
        let Outcome::Reply { len, via, to } =
            answerer.answer_datagram(&input[..n], arrival, &mut out)
        else {
            continue;
        };
        let Some(from) = sockets.get(via) else {
            continue;
        };
        if let Err(e) = from.send_to(&out[..len], to).await {
            inc(&answerer.metrics.send_errors);
            tracing::debug!(%to, error = %e, "udp send failed");
        }
    }
}
