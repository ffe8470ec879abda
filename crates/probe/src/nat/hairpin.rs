//! RFC 5780 §4.5 hairpinning: from a second socket, send a Binding request
//! to the first socket's mapped address and see whether it arrives there.

use std::net::SocketAddr;

use natclass::Hairpin;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::stun::transaction::{IncomingStun, RetransmitConfig, UdpStunClient, binding_request};

/// Sends up to `cfg.rc` Binding requests (spaced `cfg.initial_rto`, then a
/// final wait of `cfg.final_wait()`) from a fresh socket bound on `local` to
/// `target` (the first socket's mapped address), and watches `incoming`
/// (the first socket's incoming requests) for one of them. Bounded by
/// `deadline`.
pub(crate) async fn hairpin_test(
    incoming: &mut mpsc::Receiver<IncomingStun>,
    local: SocketAddr,
    target: SocketAddr,
    cfg: RetransmitConfig,
    deadline: Instant,
) -> Hairpin {
    let second = match UdpStunClient::bind(local).await {
        Ok(s) => s,
        Err(e) => {
            return Hairpin::Error {
                message: format!("second socket: {e}"),
            };
        }
    };
    let (tid, bytes) = binding_request(None, None, None, true);
    let mut sent = 0u32;
    for i in 0..cfg.rc.max(1) {
        if Instant::now() >= deadline {
            break;
        }
        if let Err(e) = second.send_raw(&bytes, target).await {
            tracing::debug!("hairpin send to {target} failed: {e}");
        }
        sent += 1;
        let wait = if i + 1 == cfg.rc.max(1) {
            cfg.final_wait()
        } else {
            cfg.initial_rto
        };
        let until = (Instant::now() + wait).min(deadline);
        loop {
            match tokio::time::timeout_at(until, incoming.recv()).await {
                Ok(Some(msg)) if msg.transaction_id == tid => return Hairpin::Received,
                // Some other request (not ours): keep waiting.
                Ok(Some(_)) => continue,
                // The first socket's driver is gone.
                Ok(None) => {
                    return Hairpin::Error {
                        message: "first socket closed".to_owned(),
                    };
                }
                Err(_) => break,
            }
        }
    }
    if sent == 0 {
        Hairpin::Error {
            message: "deadline reached before sending".to_owned(),
        }
    } else {
        Hairpin::NotReceived {
            transmissions: sent,
        }
    }
}
