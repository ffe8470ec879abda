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

/// Serves UDP socket `idx` of `sockets` until the task is aborted.
pub(crate) async fn serve(idx: usize, sockets: Arc<[UdpSocket]>, answerer: Arc<Answerer>) {
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
        inc(&answerer.metrics.udp_received);
        let arrival = Arrival {
            src,
            local: idx,
            origin,
            transport: Transport::Udp,
            at: std::time::Instant::now(),
        };
        let Outcome::Reply { len, via, to } = answerer.answer(&input[..n], arrival, &mut out)
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
