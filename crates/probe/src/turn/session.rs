//! The session: turn-client-proto's sans-IO client and the connection(s)
//! it runs over, pumped from tokio (the one clock bridge: `wire::Clock`).
//! Every frame passes the [`Tap`] on its way in; the waits for an answer
//! (allocation, permission, channel, refresh, deletion) live here, the
//! stages that use them in `stages`.

use super::conn::{Conn, Io};
use super::creds::ResolvedCredentials;
use super::failure::PumpError;
use super::quality::BurstIo;
use super::refresh::build_refresh;
use super::tap::{RefreshMark, Tap};
use model::turn::TurnFailure;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use turn_client_proto::api::{
    Socket5Tuple, TurnClientApi, TurnConfig, TurnEvent, TurnPollRet, TurnRecvRet,
};
use turn_client_proto::client::TurnClient;
use turn_client_proto::prelude::DelayedTransmitBuild;
use turn_client_proto::stun::agent::Transmit;
use turn_client_proto::tcp::TurnClientTcp;
use turn_client_proto::types::TurnCredentials;
use turn_client_proto::types::{AddressFamily, TransportType};
use turn_client_proto::udp::TurnClientUdp;
use wire::Clock;

/// Builds the future `make` returns on the heap, in a frame of its own
/// that is gone before it is polled. Awaiting a stage directly puts its
/// whole future in the caller's poll frame — in debug builds one copy per
/// await point, which made the stage script's frame half a megabyte (tokio
/// worker stacks are 2 MiB). Awaiting `boxed(|| stage(..))` costs the
/// caller a pointer.
pub(super) fn boxed<F: std::future::Future>(make: impl FnOnce() -> F) -> std::pin::Pin<Box<F>> {
    Box::pin(make())
}

/// turn-client-proto's minimum time between two requests
/// (`MIN_STUN_REQUEST_CADENCE`, not configurable): the wait skipped after
/// each answer.
pub(super) const PACING: Duration = Duration::from_millis(50);

/// turn-client-proto's client and the connection(s) it runs over.
pub(super) struct Session {
    pub(super) conn: Conn,
    /// The RFC 6062 data connection to the same server, once there is one
    /// (the `tcp_allocation` stage); unframed, read as it comes.
    pub(super) data: Option<DataConn>,
    pub(super) client: TurnClient,
    /// The one bridge to the sans-IO clock.
    pub(super) clock: Clock,
    /// How far the client's clock runs ahead of the real one: the pacing
    /// waits skipped so far ([`PACING`]).
    pub(super) skipped: Duration,
    pub(super) tap: Tap,
    pub(super) events: VecDeque<TurnEvent>,
    pub(super) peer_data: VecDeque<Vec<u8>>,
    /// The client's last ask for an RFC 6062 data connection (after a
    /// successful Connect): connection id, 5-tuple, peer.
    pub(super) socket_request: Option<(u32, Socket5Tuple, SocketAddr)>,
    pub(super) closed: bool,
    pub(super) transport: TransportType,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
}

/// An RFC 6062 data connection: the stream and its local address (what
/// turn-client-proto's transmits for it come from).
pub(super) struct DataConn {
    pub(super) io: Box<dyn Io>,
    pub(super) local: SocketAddr,
}

/// What an event says about an Allocate: `Some(true)` created,
/// `Some(false)` failed, `None` neither.
pub(super) fn allocation_outcome(e: &TurnEvent) -> Option<bool> {
    match e {
        TurnEvent::AllocationCreated(..) => Some(true),
        TurnEvent::AllocationCreateFailed(..) => Some(false),
        _ => None,
    }
}

/// What an event says about a CreatePermission: `Some(true)` created,
/// `Some(false)` failed, `None` neither.
pub(super) fn permission_outcome(e: &TurnEvent) -> Option<bool> {
    match e {
        TurnEvent::PermissionCreated(..) => Some(true),
        TurnEvent::PermissionCreateFailed(..) => Some(false),
        _ => None,
    }
}

/// Most relayed datagrams a session keeps unread ([`Session::peer_data`]);
/// more are dropped.
pub(super) const MAX_PEER_DATA: usize = 1024;

/// Hands `frame`, which arrived from `remote` on the connection whose
/// local address is `to`, to the client and keeps the peer data it yields
/// (at most [`MAX_PEER_DATA`] held). The sans-IO half of
/// [`Session::handle_frame`].
pub(super) fn deliver(
    client: &mut TurnClient,
    peer_data: &mut VecDeque<Vec<u8>>,
    frame: &[u8],
    transport: TransportType,
    remote: SocketAddr,
    to: SocketAddr,
    now: turn_client_proto::stun::Instant,
) {
    let t = Transmit::new(frame, transport, remote, to);
    if let TurnRecvRet::PeerData(d) = client.recv(t, now)
        && peer_data.len() < MAX_PEER_DATA
    {
        peer_data.push_back(d.data().to_vec());
    }
    while let Some(d) = client.poll_recv(now) {
        if peer_data.len() < MAX_PEER_DATA {
            peer_data.push_back(d.data().to_vec());
        }
    }
}

/// The TURN client of `transport` (UDP: also for DTLS, with natscope's
/// retransmission schedule; TCP: for TCP and TLS streams) from `local` to
/// `remote`, allocating with `config`.
pub(super) fn new_client(
    transport: TransportType,
    local: SocketAddr,
    remote: SocketAddr,
    mut config: TurnConfig,
) -> TurnClient {
    match transport {
        TransportType::Udp => {
            config.set_request_retransmits(
                Duration::from_millis(250),
                Duration::from_secs(2),
                6,
                Duration::from_secs(2),
            );
            TurnClient::Udp(TurnClientUdp::allocate(local, remote, config))
        }
        TransportType::Tcp => TurnClient::Tcp(TurnClientTcp::allocate(local, remote, config)),
    }
}

/// The configuration [`Session::new`] allocates with: `creds` (none: empty
/// ones), a UDP relay of `family`.
pub(super) fn session_config(
    creds: Option<&ResolvedCredentials>,
    family: AddressFamily,
) -> TurnConfig {
    let credentials = match creds {
        Some(c) => TurnCredentials::new(&c.username, c.password.expose()),
        None => TurnCredentials::new("", ""),
    };
    let mut config = TurnConfig::new(credentials);
    config.set_allocation_transport(TransportType::Udp);
    config.set_address_family(family);
    config
}

impl Session {
    pub(super) fn new(
        conn: Conn,
        creds: Option<&ResolvedCredentials>,
        family: AddressFamily,
    ) -> io::Result<Self> {
        Self::with_config(conn, session_config(creds, family))
    }

    /// A session allocating with `config` over `conn` (the TURN client of
    /// the connection's kind: UDP for UDP and DTLS, TCP for streams).
    pub(super) fn with_config(conn: Conn, config: TurnConfig) -> io::Result<Self> {
        let (local, remote) = conn.addrs()?;
        // Over DTLS the TURN client is the UDP one: datagram semantics,
        // retransmissions included (RFC 8656 §3.1).
        let transport = match conn {
            Conn::Udp(_) | Conn::Dtls(_) => TransportType::Udp,
            Conn::Stream { .. } => TransportType::Tcp,
        };
        let client = new_client(transport, local, remote, config);
        Ok(Self {
            conn,
            data: None,
            client,
            clock: Clock::start(),
            skipped: Duration::ZERO,
            tap: Tap::default(),
            events: VecDeque::new(),
            peer_data: VecDeque::new(),
            socket_request: None,
            closed: false,
            transport,
            local,
            remote,
        })
    }

    /// Now, for the sans-IO client: the real time plus the pacing waits
    /// skipped.
    pub(super) fn now(&self) -> turn_client_proto::stun::Instant {
        self.clock.now() + self.skipped
    }

    /// When the real clock reaches the client's `t`.
    fn real(&self, t: turn_client_proto::stun::Instant) -> Instant {
        let at = self.clock.to_tokio(t);
        at.checked_sub(self.skipped).unwrap_or(at)
    }

    /// Hands what arrived on the connection whose local address is `to` to
    /// the client (through the tap) and keeps the peer data it yields.
    pub(super) fn handle_frame(&mut self, frame: &[u8], to: SocketAddr) {
        // What stun-proto would panic on is dropped before anything (the
        // tap included) reads it.
        if !wire::guard::stun_proto_can_take(frame) {
            tracing::debug!(remote = %self.remote, len = frame.len(), "dropped an answer stun-proto cannot take (NONCE)");
            return;
        }
        if self.tap.inspect(frame, Instant::now()) {
            // An answer: the request it ends is no longer in flight, and
            // the next one (the stage script's, or the client's own retry
            // after a 401 or 438) is a reaction to it. turn-client-proto
            // would hold that one back until 50 ms after the last request
            // went out; the script is sequential, so the wait protects
            // nothing and is skipped. Timers of other requests still in
            // flight (none, in the script) would fire that much earlier:
            // a retransmission, never a loss.
            self.skipped += PACING;
        }
        let now = self.now();
        deliver(
            &mut self.client,
            &mut self.peer_data,
            frame,
            self.transport,
            self.remote,
            to,
            now,
        );
    }

    pub(super) async fn flush(&mut self) -> Result<(), PumpError> {
        let now = self.now();
        while let Some(t) = self.client.poll_transmit(now) {
            self.tap.inspect_outgoing(&t.data, Instant::now());
            self.send_from(t.from, &t.data)
                .await
                .map_err(PumpError::Io)?;
        }
        Ok(())
    }

    /// Sends `data` on the data connection when `from` is its local
    /// address, else on the connection to the server.
    pub(super) async fn send_from(&mut self, from: SocketAddr, data: &[u8]) -> io::Result<()> {
        match &mut self.data {
            Some(d) if d.local == from => {
                d.io.write_all(data).await?;
                d.io.flush().await
            }
            _ => self.conn.send(data).await,
        }
    }

    /// Drives the client until `done` holds, the deadline passes, or a
    /// connection (to the server, or the RFC 6062 data connection) fails.
    pub(super) async fn pump<F: FnMut(&mut Session) -> bool>(
        &mut self,
        deadline: Instant,
        mut done: F,
    ) -> Result<(), PumpError> {
        loop {
            self.flush().await?;
            let now = self.now();
            let wait = match self.client.poll(now) {
                TurnPollRet::WaitUntil(t) => Some(t),
                TurnPollRet::AllocateTcpSocket {
                    id,
                    socket,
                    peer_addr,
                } => {
                    self.socket_request = Some((id, socket, peer_addr));
                    None
                }
                TurnPollRet::Closed => {
                    self.closed = true;
                    None
                }
                TurnPollRet::TcpClose { .. } => None,
            };
            self.flush().await?;
            while let Some(ev) = self.client.poll_event() {
                if self.events.len() < 256 {
                    self.events.push_back(ev);
                }
            }
            if done(self) {
                return Ok(());
            }
            if self.closed {
                return Err(PumpError::Closed);
            }
            if Instant::now() >= deadline {
                return Err(PumpError::Timeout);
            }
            let wake = wait.map(|t| self.real(t)).unwrap_or(deadline).min(deadline);
            // The read buffer is on the heap: a 16 KiB array here would sit
            // in every future that pumps (and, in debug builds, in their
            // stack frames too).
            let data_read = async {
                match &mut self.data {
                    Some(d) => {
                        let mut chunk = vec![0u8; 16384];
                        let r = d.io.read(&mut chunk).await.map(|n| {
                            chunk.truncate(n);
                            chunk
                        });
                        (r, d.local)
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = self.conn.recv() => {
                    let frame = r.map_err(PumpError::Io)?;
                    self.handle_frame(&frame, self.local);
                }
                (r, local) = data_read => match r.map_err(PumpError::Io)? {
                    chunk if chunk.is_empty() => {
                        return Err(PumpError::Io(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "server closed the data connection",
                        )));
                    }
                    chunk => self.handle_frame(&chunk, local),
                },
                _ = tokio::time::sleep_until(wake) => continue,
            }
            // An awaited answer ends the pump before anything the client
            // queued in reply to it (e.g. a retry after a second 438) goes
            // out.
            if done(self) {
                return Ok(());
            }
        }
    }

    pub(super) async fn send_to_peer(
        &mut self,
        peer: SocketAddr,
        payload: &[u8],
    ) -> Result<(), PumpError> {
        let now = self.now();
        match self.client.send_to(TransportType::Udp, peer, payload, now) {
            Ok(Some(t)) => {
                let data = t.data.build();
                self.conn.send(&data).await.map_err(PumpError::Io)
            }
            Ok(None) => self.flush().await,
            Err(_) => Err(PumpError::Closed),
        }
    }

    /// Sends `payload` to the peer and waits for it to come back.
    pub(super) async fn round_trip(
        &mut self,
        peer: SocketAddr,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<(), PumpError> {
        self.peer_data.clear();
        let deadline = Instant::now() + timeout;
        // Resend every 500 ms: UDP to the peer may be lost.
        loop {
            self.send_to_peer(peer, payload).await?;
            let step = (Instant::now() + Duration::from_millis(500)).min(deadline);
            let p = payload.to_vec();
            match self
                .pump(step, |s| s.peer_data.iter().any(|d| *d == p))
                .await
            {
                Ok(()) => return Ok(()),
                Err(PumpError::Timeout) if Instant::now() < deadline => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for the outcome of a request the client was asked to send:
    /// pumps until `deadline` or an event `outcome` names (`Some(true)`
    /// success, `Some(false)` failure), then clears the events. `issued`
    /// false (the client refused to send it) skips the wait, as
    /// `Err(Closed)`. Returns whether a success came and how the wait
    /// ended.
    pub(super) async fn settle(
        &mut self,
        issued: bool,
        deadline: Instant,
        outcome: fn(&TurnEvent) -> Option<bool>,
    ) -> (bool, Result<(), PumpError>) {
        let res = if issued {
            self.pump(deadline, |s| s.events.iter().any(|e| outcome(e).is_some()))
                .await
        } else {
            Err(PumpError::Closed)
        };
        let ok = self.events.iter().any(|e| outcome(e) == Some(true));
        self.events.clear();
        (ok, res)
    }

    /// Drives the authenticated Allocate until `deadline`: until the
    /// allocation is created, the client gives up on it, or the server gave
    /// an answer that settles it ([`Tap::allocate_failed_for_good`];
    /// turn-client-proto allows up to 8 stale nonce retries, and ignores
    /// unsigned error answers to authenticated requests until its own
    /// timeouts). Returns how the wait ended and whether the allocation was
    /// created.
    pub(super) async fn await_allocation(
        &mut self,
        deadline: Instant,
    ) -> (Result<(), PumpError>, bool) {
        let res = self
            .pump(deadline, |s| {
                s.tap.allocate_failed_for_good()
                    || s.events.iter().any(|e| allocation_outcome(e).is_some())
            })
            .await;
        let created = self
            .events
            .iter()
            .any(|e| matches!(e, TurnEvent::AllocationCreated(..)));
        (res, created)
    }

    /// Deletes the allocation: turn-client-proto's Refresh with LIFETIME 0,
    /// waiting until `deadline` for its answer. The client forgets the
    /// allocation as soon as it sends that request, so it cannot retry a
    /// 438 Stale Nonce: natscope sends the one retry itself
    /// ([`Self::send_refresh`], LIFETIME 0, the nonce of the 438); a second
    /// 438 in a row is the answer. `None` when the client has no allocation
    /// to delete; `Some(Err(..))` when the retry could not be built.
    pub(super) async fn delete_allocation(
        &mut self,
        creds: &ResolvedCredentials,
        deadline: Instant,
    ) -> Option<Result<Deletion, TurnFailure>> {
        let mark = self.tap.refresh_mark();
        let now = self.now();
        self.client.delete(now).ok()?;
        let wait = self.await_refresh(mark, deadline).await;
        let mut d = Deletion {
            answer: self.tap.refresh_answer(mark),
            wait,
            stale_retried: false,
        };
        if matches!(d.answer, Some(Err((438, _)))) {
            let (mark, wait) = match self.send_refresh(creds, 0, deadline).await {
                Ok(sent) => sent,
                Err(f) => return Some(Err(f)),
            };
            d = Deletion {
                answer: self.tap.refresh_answer(mark),
                wait,
                stale_retried: true,
            };
        }
        Some(Ok(d))
    }

    /// Deletes the allocation ([`Self::delete_allocation`]); true when the
    /// server confirmed it (or closed the stream connection) within `wait`.
    pub(super) async fn delete_within(
        &mut self,
        creds: &ResolvedCredentials,
        wait: Duration,
    ) -> bool {
        let deadline = Instant::now() + wait;
        match self.delete_allocation(creds, deadline).await {
            Some(Ok(d)) => matches!(d.answer, Some(Ok(()))) || self.closed_after_delete(&d),
            _ => false,
        }
    }

    /// True when `d` had no answer because the server closed the stream
    /// connection: servers may close the control connection once the
    /// allocation is gone (coturn does over TCP).
    pub(super) fn closed_after_delete(&self, d: &Deletion) -> bool {
        matches!(self.conn, Conn::Stream { .. })
            && d.answer.is_none()
            && matches!(
                &d.wait,
                Err(PumpError::Io(e)) if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
                )
            )
    }

    /// Sends natscope's own authenticated Refresh asking for `lifetime`
    /// seconds ([`build_refresh`] with the latest realm, nonce and signing
    /// style) and waits until `deadline` for its answer
    /// ([`Self::await_refresh`]); over UDP and DTLS it is resent every
    /// 500 ms meanwhile. Returns where the tap stood when it went out (the
    /// answer is [`Tap::refresh_answer`] of that) and how the wait ended.
    pub(super) async fn send_refresh(
        &mut self,
        creds: &ResolvedCredentials,
        lifetime: u32,
        deadline: Instant,
    ) -> Result<(RefreshMark, Result<(), PumpError>), TurnFailure> {
        let (Some(realm), Some(nonce)) = (self.tap.realm.clone(), self.tap.nonce.clone()) else {
            return Err(TurnFailure::UnexpectedResponse {
                detail: "no realm/nonce from the server to authenticate a Refresh".into(),
            });
        };
        let signing = self.tap.signing.clone().unwrap_or_default();
        let (request, _tx) =
            build_refresh(creds, &realm, &nonce, &signing, lifetime).map_err(|e| {
                TurnFailure::UnexpectedResponse {
                    detail: format!("cannot build Refresh: {e}"),
                }
            })?;
        let mark = self.tap.refresh_mark();
        let res = loop {
            self.tap.inspect_outgoing(&request, Instant::now());
            if let Err(e) = self.conn.send(&request).await {
                break Err(PumpError::Io(e));
            }
            let step = match self.conn {
                Conn::Stream { .. } => deadline,
                _ => (Instant::now() + Duration::from_millis(500)).min(deadline),
            };
            match self.await_refresh(mark, step).await {
                Err(PumpError::Timeout) if Instant::now() < deadline => continue,
                other => break other,
            }
        };
        Ok((mark, res))
    }

    /// Waits until `deadline` for the answer to a Refresh sent at `mark`
    /// (success or an error answer). Drives turn-client-proto while it runs;
    /// once it has closed (it forgets the allocation as soon as it sends the
    /// deleting Refresh) reads frames off the wire into the tap.
    pub(super) async fn await_refresh(
        &mut self,
        mark: RefreshMark,
        deadline: Instant,
    ) -> Result<(), PumpError> {
        let res = self
            .pump(deadline, |s| s.tap.refresh_answer(mark).is_some())
            .await;
        if !matches!(res, Err(PumpError::Closed)) {
            return res;
        }
        while self.tap.refresh_answer(mark).is_none() {
            match tokio::time::timeout_at(deadline, self.conn.recv()).await {
                Ok(Ok(frame)) => {
                    let _ = self.tap.inspect(&frame, Instant::now());
                }
                Ok(Err(e)) => return Err(PumpError::Io(e)),
                Err(_) => return Err(PumpError::Timeout),
            }
        }
        Ok(())
    }
}

/// How deleting an allocation went ([`Session::delete_allocation`]).
pub(super) struct Deletion {
    /// The answer to the last deleting Refresh sent ([`Tap::refresh_answer`]).
    pub(super) answer: Option<Result<(), (u16, String)>>,
    /// How the wait for that answer ended.
    pub(super) wait: Result<(), PumpError>,
    /// The first deleting Refresh was answered 438 and retried once.
    pub(super) stale_retried: bool,
}

impl BurstIo for Session {
    async fn send(&mut self, peer: SocketAddr, payload: &[u8]) -> bool {
        self.send_to_peer(peer, payload).await.is_ok()
    }

    async fn recv_until(&mut self, deadline: Instant) -> Vec<Vec<u8>> {
        let _ = self.pump(deadline, |s| !s.peer_data.is_empty()).await;
        self.peer_data.drain(..).collect()
    }
}
