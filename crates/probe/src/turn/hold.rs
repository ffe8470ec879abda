//! A TURN allocation held open on purpose: the audit's quota test
//! (allocate until 486), and in tests to fill a server's quota (coturn
//! `user-quota` / `total-quota`) or its relay port range before probing
//! it, so that the probe meets 486 or 508 the way it would on a busy
//! server. Also the one place an allocation's failure is named from what
//! the server answered ([`allocate`]).

use super::conn::{Conn, connected_udp};
use super::failure::PumpError;
use super::failure::{name_failure, name_io_error};
use super::session::Session;
use crate::turn::creds::{ResolvedCredentials, TurnAuth, unix_now};
use model::turn::TurnFailure;
use std::net::SocketAddr;
use std::time::Duration;
use turn_client_proto::api::TurnClientApi;
use turn_client_proto::types::AddressFamily;
use turn_client_proto::types::message::ALLOCATE;

/// One allocation over UDP, held until [`HeldAllocation::release`] deletes
/// it or the value is dropped. Nothing refreshes it: after a drop the
/// server frees it when its lifetime (usually 600 s) runs out.
pub struct HeldAllocation {
    session: Session,
    /// For the retry of a deleting Refresh answered 438.
    creds: ResolvedCredentials,
    relayed: SocketAddr,
}

impl std::fmt::Debug for HeldAllocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldAllocation")
            .field("server", &self.session.remote)
            .field("relayed", &self.relayed)
            .finish_non_exhaustive()
    }
}

impl HeldAllocation {
    /// Allocates on the TURN server at `server` over UDP with `auth`,
    /// within `timeout`. The failure is named like the `allocate` stage's
    /// (e.g. `allocation_quota` when the quota is already full).
    pub async fn udp(
        server: SocketAddr,
        auth: &TurnAuth,
        timeout: Duration,
    ) -> Result<Self, TurnFailure> {
        let creds = auth.resolve(unix_now());
        let sock = connected_udp(server).await.map_err(|e| name_io_error(&e))?;
        let (session, relayed) =
            allocate(Conn::Udp(sock), Some(&creds), AddressFamily::IPV4, timeout).await?;
        Ok(Self {
            session,
            creds,
            relayed,
        })
    }

    /// The relayed address the server granted.
    pub fn relayed_address(&self) -> SocketAddr {
        self.relayed
    }

    /// Deletes the allocation (Refresh with lifetime 0, a 438 Stale Nonce
    /// retried once like the `deallocate` stage does); true when the server
    /// confirmed it within `wait`.
    pub async fn release(mut self, wait: Duration) -> bool {
        self.session.delete_within(&self.creds, wait).await
    }
}

/// Allocates (a UDP relay of `family`) over `conn` with `creds` within
/// `timeout`: the session and its relayed address, or the failure named
/// like the `allocate` stage's (e.g. `allocation_quota` for 486).
pub(super) async fn allocate(
    conn: Conn,
    creds: Option<&ResolvedCredentials>,
    family: AddressFamily,
    timeout: Duration,
) -> Result<(Session, SocketAddr), TurnFailure> {
    let mut session = Session::new(conn, creds, family).map_err(|e| name_io_error(&e))?;
    let deadline = tokio::time::Instant::now() + timeout;
    let (res, created) = session.await_allocation(deadline).await;
    let relayed = session
        .client
        .relayed_addresses()
        .map(|(_, a)| a)
        .next()
        .or(session.tap.relayed);
    match (created, relayed) {
        (true, Some(relayed)) => Ok((session, relayed)),
        _ => Err(allocation_failure(&session, res, timeout)),
    }
}

/// Why `session`'s Allocate did not succeed: a 401 after the challenge is
/// wrong credentials; else the server's last answer, or how the wait
/// ended (`res`).
pub(super) fn allocation_failure(
    session: &Session,
    res: Result<(), PumpError>,
    timeout: Duration,
) -> TurnFailure {
    let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let last = session.tap.allocate_errors_after_challenge().last();
    match (last, res) {
        (Some(401), _) => TurnFailure::WrongCredentials,
        (last, res) => {
            let answer = last.map(|code| {
                let reason = session.tap.last_error_for(ALLOCATE);
                (code, reason.map(|(_, r)| r).unwrap_or_default())
            });
            name_failure(ALLOCATE, answer, res, timeout_ms)
        }
    }
}
