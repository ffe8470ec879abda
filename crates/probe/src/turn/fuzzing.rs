//! The TURN client's handling of what a server sends, without sockets, for
//! the fuzz targets (`fuzz/`). Not a stable API (hidden from the docs).
//!
//! [`TurnClientHarness`] is what a probe session runs on every frame, with
//! the connection taken away: the same turn-client-proto client
//! (`session::new_client`, configured by `session::session_config`), the
//! same tap (`Tap::inspect` / `Tap::inspect_outgoing`), the same delivery
//! and peer-data bound (`session::deliver`) and, for streams, the same
//! framer (`wire::Framer::default()`, as `conn::Conn::stream`).

use std::collections::VecDeque;
use std::net::SocketAddr;

use model::Secret;
use tokio::time::Instant;
use turn_client_proto::api::{TurnClientApi, TurnPollRet};
use turn_client_proto::client::TurnClient;
use turn_client_proto::types::{AddressFamily, TransportType};
use wire::{FrameError, Framer};

use super::creds::ResolvedCredentials;
use super::session::{MAX_PEER_DATA, deliver, new_client, session_config};
use super::tap::Tap;

pub use turn_client_proto::stun::Instant as SansInstant;

/// Most events a session keeps unread (as `Session::pump`).
pub const MAX_EVENTS: usize = 256;

/// A request or data the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// From.
    pub from: SocketAddr,
    /// To.
    pub to: SocketAddr,
    /// The bytes.
    pub data: Vec<u8>,
}

/// What the client's poll said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Wake it again at this time.
    WaitUntil(SansInstant),
    /// It asked for an RFC 6062 data connection.
    DataConnection,
    /// It closed.
    Closed,
    /// It closed an RFC 6062 data connection.
    TcpClose,
}

/// A probe session's TURN client fed by hand.
pub struct TurnClientHarness {
    client: TurnClient,
    tap: Tap,
    peer_data: VecDeque<Vec<u8>>,
    events: VecDeque<String>,
    framer: Framer,
    transport: TransportType,
    local: SocketAddr,
    remote: SocketAddr,
}

impl std::fmt::Debug for TurnClientHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnClientHarness")
            .field("transport", &self.transport)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl TurnClientHarness {
    /// A client from `local` to the server at `remote` over a stream (TCP,
    /// TLS) or datagrams (UDP, DTLS), with long-term credentials
    /// (`username` empty: none), allocating an IPv4 UDP relay as the probe
    /// does.
    pub fn new(
        stream: bool,
        local: SocketAddr,
        remote: SocketAddr,
        username: &str,
        password: &str,
    ) -> Self {
        let creds = (!username.is_empty()).then(|| ResolvedCredentials {
            username: username.to_string(),
            password: Secret::new(password),
            rest_expiry_unix: None,
        });
        let transport = if stream {
            TransportType::Tcp
        } else {
            TransportType::Udp
        };
        let config = session_config(creds.as_ref(), AddressFamily::IPV4);
        Self {
            client: new_client(transport, local, remote, config),
            tap: Tap::default(),
            peer_data: VecDeque::new(),
            events: VecDeque::new(),
            framer: Framer::default(),
            transport,
            local,
            remote,
        }
    }

    /// Everything the client wants to send at `now` (noted by the tap at
    /// `at`, as `Session::flush`).
    pub fn transmit(&mut self, now: SansInstant, at: Instant) -> Vec<Outgoing> {
        let mut out = Vec::new();
        while let Some(t) = self.client.poll_transmit(now) {
            self.tap.inspect_outgoing(&t.data, at);
            out.push(Outgoing {
                from: t.from,
                to: t.to,
                data: t.data.to_vec(),
            });
        }
        out
    }

    /// Polls the client at `now` and keeps its events (at most
    /// [`MAX_EVENTS`], as `Session::pump`).
    pub fn poll(&mut self, now: SansInstant) -> Poll {
        let r = match self.client.poll(now) {
            TurnPollRet::WaitUntil(t) => Poll::WaitUntil(t),
            TurnPollRet::AllocateTcpSocket { .. } => Poll::DataConnection,
            TurnPollRet::Closed => Poll::Closed,
            TurnPollRet::TcpClose { .. } => Poll::TcpClose,
        };
        while let Some(ev) = self.client.poll_event() {
            if self.events.len() < MAX_EVENTS {
                self.events.push_back(format!("{ev:?}"));
            }
        }
        r
    }

    /// One datagram or frame from the server, arrived at `at` (tap) and
    /// `now` (client). True when the tap read it as an answer.
    pub fn receive(&mut self, frame: &[u8], now: SansInstant, at: Instant) -> bool {
        // As `Session::handle_frame`.
        if !wire::guard::stun_proto_can_take(frame) {
            return false;
        }
        let answer = self.tap.inspect(frame, at);
        deliver(
            &mut self.client,
            &mut self.peer_data,
            frame,
            self.transport,
            self.remote,
            self.local,
            now,
        );
        answer
    }

    /// Bytes read from a stream connection: framed as the probe frames
    /// them, each frame [`receive`](Self::receive)d. The frames delivered,
    /// or the framing error that would end the connection.
    pub fn receive_stream(
        &mut self,
        bytes: &[u8],
        now: SansInstant,
        at: Instant,
    ) -> Result<Vec<Vec<u8>>, FrameError> {
        self.framer.push(bytes)?;
        let mut frames = Vec::new();
        while let Some((_, frame)) = self.framer.next_frame()? {
            self.receive(&frame, now, at);
            frames.push(frame);
        }
        Ok(frames)
    }

    /// Relayed datagrams held.
    pub fn peer_data(&self) -> usize {
        self.peer_data.len()
    }

    /// Events held (their `Debug` text).
    pub fn events(&self) -> &VecDeque<String> {
        &self.events
    }

    /// The relayed address the server announced, as the tap read it.
    pub fn relayed(&self) -> Option<SocketAddr> {
        self.tap.relayed
    }

    /// A violated bound of the session's state, if any: peer data, events,
    /// the tap's tables.
    pub fn check_bounds(&self) -> Result<(), String> {
        let t = &self.tap;
        let checks = [
            ("peer data", self.peer_data.len(), MAX_PEER_DATA),
            ("events", self.events.len(), MAX_EVENTS),
            ("tap in-flight", t.in_flight.len(), 256),
            ("tap gaps", t.gaps.len(), 256),
            ("tap error transactions", t.error_tx.len(), 64),
            ("tap errors", t.last_error.len(), 64),
            (
                "framer",
                self.framer.buffered(),
                wire::framing::MAX_BUFFERED,
            ),
        ];
        for (what, len, max) in checks {
            if len > max {
                return Err(format!("{what}: {len} > {max}"));
            }
        }
        Ok(())
    }
}
