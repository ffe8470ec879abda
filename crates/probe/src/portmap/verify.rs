//! Does a mapping pass traffic? A cooperating host outside the NAT sends a
//! token to the mapped external address; we watch for it on the mapped
//! local socket.

use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use tokio::net::UdpSocket;

/// Something outside the NAT that can send a UDP datagram to an address
/// (e.g. a socket opened on a server, or in the lab's server namespace).
pub trait RemoteSender: Send + Sync + Debug {
    /// Sends `payload` to `target` once.
    fn send_to<'a>(
        &'a self,
        target: SocketAddr,
        payload: &'a [u8],
    ) -> Pin<Box<dyn Future<Output = std::io::Result<()>> + Send + 'a>>;
    /// Where the datagrams come from (for the report).
    fn source(&self) -> Option<SocketAddr>;
}

/// A [`RemoteSender`] that is just a UDP socket (the socket's network
/// namespace is the one it was created in, whichever thread uses it).
#[derive(Debug)]
pub struct UdpRemoteSender(pub UdpSocket);

impl RemoteSender for UdpRemoteSender {
    fn send_to<'a>(
        &'a self,
        target: SocketAddr,
        payload: &'a [u8],
    ) -> Pin<Box<dyn Future<Output = std::io::Result<()>> + Send + 'a>> {
        Box::pin(async move { self.0.send_to(payload, target).await.map(|_| ()) })
    }
    fn source(&self) -> Option<SocketAddr> {
        self.0.local_addr().ok()
    }
}

/// The outcome of a traffic check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Passes {
    /// The token arrived on the mapped socket.
    Yes,
    /// Nothing arrived before the deadline.
    No(String),
}

/// Sends a fresh token from `sender` to `external` every 200 ms until it
/// arrives on `local` or `bound` has passed. Other datagrams are ignored.
pub(crate) async fn check(
    local: &UdpSocket,
    external: SocketAddr,
    sender: &dyn RemoteSender,
    bound: Duration,
) -> Passes {
    let token = format!("natscope-portmap-{:016x}", random_u64());
    let deadline = tokio::time::Instant::now() + bound;
    let mut buf = [0u8; 256];
    let mut sent = 0u32;
    let mut last_err = None;
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break;
        }
        match sender.send_to(external, token.as_bytes()).await {
            Ok(()) => sent += 1,
            Err(e) => last_err = Some(e.to_string()),
        }
        let slot = (now + Duration::from_millis(200)).min(deadline);
        while let Ok(r) = tokio::time::timeout_at(slot, local.recv_from(&mut buf)).await {
            if let Ok((n, _from)) = r
                && &buf[..n] == token.as_bytes()
            {
                return Passes::Yes;
            }
        }
    }
    Passes::No(match last_err {
        Some(e) if sent == 0 => format!("the remote sender could not send: {e}"),
        _ => format!("{sent} datagrams sent to {external} within {bound:?}, none arrived"),
    })
}

/// A random-enough token source without a RNG dependency (std's hasher keys
/// are random per process).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
