//! The data test's default peer: a second allocation on the same server,
//! over a fresh connection of the same transport, that sends back whatever
//! reaches its relayed address. Data then goes relay to relay — the path
//! two browsers behind NATs end up on — so the test works behind any NAT
//! and firewall that lets TURN itself work. (A local socket as the peer
//! does not: the relay's packets to the NAT's public address are dropped,
//! there being no mapping towards the relay.)

use super::config::TurnProbeConfig;
use super::conn::connect_fresh;
use super::creds::ResolvedCredentials;
use super::failure::{PumpError, map_pump, name_failure, name_io_error};
use super::session::{Session, allocation_outcome, permission_outcome};
use model::servers::ServerUri;
use model::turn::{TurnFailure, TurnTransport};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use turn_client_proto::api::TurnClientApi;
use turn_client_proto::types::message::{ALLOCATE, CREATE_PERMISSION};
use turn_client_proto::types::{AddressFamily, TransportType};

/// How long the echo waits for its own deletion when stopped.
const DELETE_WAIT: Duration = Duration::from_secs(1);

/// An echo allocation: allocated by [`EchoAllocation::start`], echoing
/// once [`EchoAllocation::run`] permitted the main allocation.
/// [`EchoAllocation::stop`] deletes it; dropping it aborts the task (the
/// server then lets the allocation expire).
pub(super) struct EchoAllocation {
    /// Its relayed address: the peer the main allocation sends to.
    pub(super) relayed: SocketAddr,
    creds: ResolvedCredentials,
    /// The session until [`EchoAllocation::run`] hands it to the task.
    session: Option<Session>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for EchoAllocation {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl EchoAllocation {
    /// Allocates on `server` over a fresh connection of `transport`, with a
    /// relayed address of `family_of`'s family. Fails, naming why, when the
    /// server refuses a second allocation (a quota of one, for example).
    pub(super) async fn start(
        uri: &ServerUri,
        transport: TurnTransport,
        server: SocketAddr,
        cfg: &TurnProbeConfig,
        creds: &ResolvedCredentials,
        family_of: SocketAddr,
    ) -> Result<EchoAllocation, TurnFailure> {
        let timeout_ms = u64::try_from(cfg.stage_timeout.as_millis()).unwrap_or(u64::MAX);
        let conn = connect_fresh(uri, transport, server, cfg).await?;
        let mut s =
            Session::new(conn, Some(creds), AddressFamily::IPV4).map_err(|e| name_io_error(&e))?;
        let deadline = Instant::now() + cfg.stage_timeout;
        let (created, res) = s.settle(true, deadline, allocation_outcome).await;
        if !created {
            let answer = s.tap.last_error_after_challenge(ALLOCATE);
            return Err(name_failure(ALLOCATE, answer, res, timeout_ms));
        }
        let relayed = s
            .client
            .relayed_addresses()
            .map(|(_, a)| a)
            .chain(s.tap.relayed)
            .find(|a| a.is_ipv4() == family_of.is_ipv4())
            .ok_or_else(|| TurnFailure::UnexpectedResponse {
                detail: "the second allocation has no relayed address".into(),
            })?;
        Ok(EchoAllocation {
            relayed,
            creds: creds.clone(),
            session: Some(s),
            stop: None,
            task: None,
        })
    }

    /// Permits `main_relayed` (the main allocation's relayed address) and
    /// starts returning what it sends.
    pub(super) async fn run(
        &mut self,
        main_relayed: SocketAddr,
        cfg: &TurnProbeConfig,
    ) -> Result<(), TurnFailure> {
        let Some(mut s) = self.session.take() else {
            return Ok(());
        };
        let timeout_ms = u64::try_from(cfg.stage_timeout.as_millis()).unwrap_or(u64::MAX);
        let now = s.now();
        let issued = s
            .client
            .create_permission(TransportType::Udp, main_relayed.ip(), now)
            .is_ok();
        let deadline = Instant::now() + cfg.stage_timeout;
        let (permitted, res) = s.settle(issued, deadline, permission_outcome).await;
        if !permitted {
            let answer = s.tap.last_error_for(CREATE_PERMISSION);
            let _ = s.delete_within(&self.creds, DELETE_WAIT).await;
            return Err(name_failure(CREATE_PERMISSION, answer, res, timeout_ms));
        }
        let (stop, stopped) = oneshot::channel();
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(echo(
            s,
            main_relayed,
            stopped,
            self.creds.clone(),
        )));
        Ok(())
    }

    /// Stops echoing and deletes the allocation (bounded).
    pub(super) async fn stop(mut self) {
        if let Some(mut s) = self.session.take() {
            let _ = s.delete_within(&self.creds, DELETE_WAIT).await;
            return;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.as_mut() {
            let bound = DELETE_WAIT + Duration::from_millis(500);
            let _ = tokio::time::timeout(bound, task).await;
        }
    }
}

/// Returns every datagram from `to` to it, through the relay, until
/// `stopped`; then deletes the allocation.
async fn echo(
    mut s: Session,
    to: SocketAddr,
    mut stopped: oneshot::Receiver<()>,
    creds: ResolvedCredentials,
) {
    loop {
        let step = Instant::now() + Duration::from_millis(500);
        tokio::select! {
            _ = &mut stopped => break,
            r = s.pump(step, |s| !s.peer_data.is_empty()) => match r {
                Ok(()) | Err(PumpError::Timeout) => {}
                Err(e) => {
                    tracing::debug!("echo allocation ended: {}", map_pump(e, 0).describe());
                    return;
                }
            },
        }
        let data: Vec<Vec<u8>> = s.peer_data.drain(..).collect();
        for d in data {
            if s.send_to_peer(to, &d).await.is_err() {
                return;
            }
        }
    }
    let _ = s.delete_within(&creds, DELETE_WAIT).await;
}
