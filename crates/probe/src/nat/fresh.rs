//! Fresh sockets for the filtering tests (RFC 5780 §4.4), fresh for the
//! network too. A stateful firewall or NAT keeps a closed socket's
//! pinholes until they time out (minutes), and the OS may hand the same
//! local port to the next socket: a filtering socket on a port that, a
//! moment ago, sent to the server's alternate address would see the
//! alternate's answer let in and report endpoint-independent filtering
//! that is not there (seen in the lab, about once in 40 runs, with an
//! address-dependent IPv6 firewall). So every socket the NAT probe sends
//! to other endpoints with is recorded here, and a filtering socket is
//! rebound until its port is not one of them. Within one process only
//! (`natscope watch` is one); a separate run could still meet such a port,
//! with the OS's random port choice making that rare.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::stun::transaction::{TransactionError, UdpStunClient};

/// How long a port stays avoided: longer than the UDP timeouts of common
/// firewalls and NATs (RFC 4787 REQ-5 asks for at least 2 minutes).
const WINDOW: Duration = Duration::from_secs(300);

/// At most this many ports are remembered (the oldest are forgotten).
const MAX_REMEMBERED: usize = 4096;

/// Binds tried before the last one is taken whatever its port.
const ATTEMPTS: usize = 8;

/// Local ports that sent to more than one server endpoint, and when.
static USED: Mutex<Vec<(u16, Instant)>> = Mutex::new(Vec::new());

/// Records that the socket on `local` sent to other endpoints than the
/// primary (mapping tests, port samples, hairpinning, lifetime probes).
pub(crate) fn mark(local: SocketAddr) {
    let now = Instant::now();
    // A poisoned lock only means another probe task panicked while holding
    // it; the list itself is still usable.
    let mut used = USED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    used.retain(|(_, at)| now.duration_since(*at) < WINDOW);
    used.push((local.port(), now));
    if used.len() > MAX_REMEMBERED {
        let excess = used.len() - MAX_REMEMBERED;
        used.drain(..excess);
    }
}

fn recently_used(port: u16) -> bool {
    let now = Instant::now();
    let used = USED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    used.iter()
        .any(|(p, at)| *p == port && now.duration_since(*at) < WINDOW)
}

/// A UDP client on `local` (port 0) whose port no recent NAT-probe socket
/// used; after [`ATTEMPTS`] binds the last one is taken as it is (the
/// sockets held meanwhile keep the OS from handing their ports out again).
pub(crate) async fn bind_fresh(local: SocketAddr) -> Result<UdpStunClient, TransactionError> {
    let mut held = Vec::new();
    loop {
        let client = UdpStunClient::bind(local).await?;
        if held.len() + 1 >= ATTEMPTS || !recently_used(client.local_addr().port()) {
            return Ok(client);
        }
        held.push(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_marked_port_is_not_handed_to_a_filtering_socket() {
        let lo: SocketAddr = "127.0.0.1:0".parse().expect("literal");
        // Mark 2000 ports the OS just gave out (about 7 % of its range),
        // then free them: 200 plain binds would hit one almost surely.
        let mut marked = Vec::new();
        for _ in 0..2000 {
            let c = UdpStunClient::bind(lo).await.expect("bind");
            mark(c.local_addr());
            marked.push(c.local_addr().port());
            drop(c);
            // The client's receive task lets go of the socket on its next turn.
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        for _ in 0..200 {
            let c = bind_fresh(lo).await.expect("bind");
            let port = c.local_addr().port();
            drop(c);
            tokio::task::yield_now().await;
            assert!(!marked.contains(&port), "port {port} was used a moment ago");
        }
    }
}
