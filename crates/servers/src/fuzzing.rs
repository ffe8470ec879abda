//! Sans-IO entry points into the servers' request paths, for the fuzz
//! targets (`fuzz/`) and the soak bench. Not a stable API (hidden from the
//! docs): it exposes exactly what the production loops run, minus the
//! sockets, so the targets can check the servers' invariants on arbitrary
//! input.
//!
//! - [`Responder`]: the RFC 5780 responder's answering (the one `Answerer`
//!   both `natscope serve` loops use, its rate limiter and its
//!   no-amplification rule) for a UDP datagram ([`Responder::datagram`],
//!   what the UDP loops run per datagram) and for a TCP byte stream
//!   ([`Responder::stream_read`], what a TCP connection runs per read).
//! - [`TurnCore`]: the embedded TURN server's request path: Binding
//!   requests to the responder's single-address answerer, everything else
//!   to turn-server-proto, and its poll loop, with relay sockets simulated
//!   (an address handed out, nothing bound).
//! - [`RendezvousCore`]: the rendezvous' whole request path (what every
//!   HTTP request of `natscope serve --rendezvous` runs, under its lock),
//!   with time and randomness given.

use std::net::SocketAddr;
use std::time::Instant;

use turn_server_proto::api::{
    SocketAllocateError, TcpConnectError, TurnServerApi, TurnServerPollRet,
};
use turn_server_proto::server::TurnServer as ProtoServer;
use turn_server_proto::stun::agent::Transmit;
use turn_server_proto::types::{AddressFamily, TransportType};
use wire::Framer;

use crate::responder::answer::{
    Answerer, Arrival, MAX_REQUEST_LEN, Outcome, RESPONSE_BASE_LEN, Transport,
};
use crate::responder::tcp::{Step, next_answer, take_read};
use crate::responder::{MetricsSnapshot, ResponderConfig, ResponderError, answerer_for};
use crate::turn::{
    BINDING_OUT_LEN, MAX_RELAYS, MAX_STREAMS, TurnServerConfig, answer_binding, is_binding_request,
    new_core,
};

pub use turn_server_proto::stun::Instant as SansInstant;

pub use crate::rendezvous::core::{
    Core as RendezvousCore, Limits as RendezvousLimits, Outcome as RendezvousOutcome,
    Randomness as RendezvousRandomness,
};

/// The largest request the responder reads (a UDP datagram or a TCP
/// message; longer TCP messages close the connection).
pub const RESPONDER_MAX_REQUEST: usize = MAX_REQUEST_LEN;

/// Room the responder keeps for every attribute of an answer but PADDING.
pub const RESPONDER_BASE_LEN: usize = RESPONSE_BASE_LEN;

/// One answer of the responder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The answer's bytes.
    pub bytes: Vec<u8>,
    /// The index of the socket it leaves from (`ip * 2 + port`).
    pub via: usize,
    /// Where it goes.
    pub to: SocketAddr,
}

/// The responder's answering, without sockets.
#[derive(Debug)]
pub struct Responder {
    answerer: Answerer,
    out: Vec<u8>,
}

/// What one read did to a TCP connection ([`Responder::stream_read`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamRead {
    /// Answers written back, in order.
    pub answers: Vec<Vec<u8>>,
    /// False when the connection was closed after them.
    pub open: bool,
}

/// One TCP connection's state (its framer).
#[derive(Debug)]
pub struct Stream {
    framer: Framer,
    local: usize,
    origin: SocketAddr,
    peer: SocketAddr,
    open: bool,
}

impl Stream {
    /// Bytes read and not yet answered or refused.
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }
}

impl Responder {
    /// The responder `Responder::start` would run for `cfg` with its UDP
    /// sockets bound to `bound_udp` (primary, primary IP × alternate port,
    /// alternate IP × primary port, alternate; one address in
    /// single-address mode). Binds nothing.
    pub fn new(cfg: &ResponderConfig, bound_udp: &[SocketAddr]) -> Result<Self, ResponderError> {
        let answerer = answerer_for(cfg, bound_udp)?;
        // The buffer size the UDP and TCP loops use.
        let out = vec![0u8; RESPONSE_BASE_LEN + usize::from(answerer.max_padding) + 8];
        Ok(Self { answerer, out })
    }

    /// The largest answer the output buffer can hold.
    pub fn out_len(&self) -> usize {
        self.out.len()
    }

    /// The PADDING cap.
    pub fn max_padding(&self) -> u16 {
        self.answerer.max_padding
    }

    /// The counters so far.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.answerer.metrics.snapshot()
    }

    /// One UDP datagram from `src` on socket `local` at `at`: what the UDP
    /// loops run for it (counted, answered or dropped). At most
    /// [`RESPONDER_MAX_REQUEST`] bytes are read, as the loops' buffer does.
    pub fn datagram(
        &mut self,
        data: &[u8],
        src: SocketAddr,
        local: usize,
        at: Instant,
    ) -> Option<Reply> {
        let data = &data[..data.len().min(MAX_REQUEST_LEN)];
        let arrival = Arrival {
            src,
            local,
            origin: self.answerer.origins.get(local).copied().flatten(),
            transport: Transport::Udp,
            at,
        };
        match self.answerer.answer_datagram(data, arrival, &mut self.out) {
            Outcome::Drop => None,
            Outcome::Reply { len, via, to } => Some(Reply {
                bytes: self.out[..len].to_vec(),
                via,
                to,
            }),
        }
    }

    /// A TCP connection from `peer` accepted on listener `local` whose
    /// local address is `local_addr`.
    pub fn stream(&self, local: usize, local_addr: SocketAddr, peer: SocketAddr) -> Stream {
        Stream {
            framer: Framer::stun_only(MAX_REQUEST_LEN),
            local,
            origin: self.answerer.tcp_origin(local, local_addr),
            peer,
            open: true,
        }
    }

    /// One read on `stream` at `at`: `Some(bytes)` (at most
    /// [`RESPONDER_MAX_REQUEST`] per read, as the connection's buffer;
    /// longer input is cut), `None` for a timeout or error, an empty slice
    /// for the end of the stream. What the connection task runs.
    pub fn stream_read(
        &mut self,
        stream: &mut Stream,
        data: Option<&[u8]>,
        at: Instant,
    ) -> StreamRead {
        let mut r = StreamRead::default();
        if !stream.open {
            return r;
        }
        let data = data.map(|d| &d[..d.len().min(MAX_REQUEST_LEN)]);
        if !take_read(&mut stream.framer, data, &self.answerer) {
            stream.open = false;
            return r;
        }
        let arrival = Arrival {
            src: stream.peer,
            local: stream.local,
            origin: Some(stream.origin),
            transport: Transport::Tcp,
            at,
        };
        loop {
            match next_answer(&mut stream.framer, &self.answerer, arrival, &mut self.out) {
                Step::More => break,
                Step::Close => {
                    stream.open = false;
                    break;
                }
                Step::Reply(len) => r.answers.push(self.out[..len].to_vec()),
            }
        }
        r.open = stream.open;
        r
    }
}

/// What the TURN core sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// From (the listener, or a relay address).
    pub from: SocketAddr,
    /// To.
    pub to: SocketAddr,
    /// The bytes.
    pub data: Vec<u8>,
}

/// The embedded TURN server's request path for one listener, without
/// sockets: relay sockets are simulated (each allocation gets the next
/// port on the listener's IP; at most as many as the server allows).
#[derive(Debug)]
pub struct TurnCore {
    server: ProtoServer,
    binding: Answerer,
    listen: SocketAddr,
    transport: TransportType,
    relays: Vec<SocketAddr>,
    next_port: u16,
    out: Vec<u8>,
    /// TCP: the clients with a connection (what `Core::route` has a writer
    /// for); a transmit from the listener to anyone else is dropped there.
    streams: std::collections::HashSet<SocketAddr>,
    unroutable: u64,
}

/// Most rounds of the poll loop per input before [`TurnCore`] reports a
/// loop that does not settle.
pub const TURN_POLL_ROUNDS: usize = 10_000;

impl TurnCore {
    /// A listener at `listen` (`tcp`: a TCP/TLS one, else UDP) with the
    /// users of `cfg`.
    pub fn new(cfg: &TurnServerConfig, tcp: bool, listen: SocketAddr) -> Self {
        let transport = if tcp {
            TransportType::Tcp
        } else {
            TransportType::Udp
        };
        Self {
            server: new_core(cfg, transport, listen),
            binding: Answerer::single_address(),
            listen,
            transport,
            relays: Vec::new(),
            next_port: 40000,
            out: vec![0u8; BINDING_OUT_LEN],
            streams: Default::default(),
            unroutable: 0,
        }
    }

    /// Transmits from the listener that the production loop drops because
    /// no connection goes to their destination (TCP only).
    pub fn unroutable(&self) -> u64 {
        self.unroutable
    }

    /// Records `t` as sent, unless `Core::route` would drop it.
    fn emit(&mut self, sent: &mut Vec<Sent>, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        if self.transport == TransportType::Tcp
            && from == self.listen
            && !self.streams.contains(&to)
        {
            self.unroutable += 1;
            return;
        }
        sent.push(Sent { from, to, data });
    }

    /// Relay addresses currently allocated.
    pub fn relays(&self) -> &[SocketAddr] {
        &self.relays
    }

    /// One message (a datagram, or a frame of a stream) from the client at
    /// `from`: Binding requests answered by the server itself, the rest
    /// handed to turn-server-proto; then its poll loop. Everything sent in
    /// reaction, or `Err` when the poll loop did not settle within
    /// [`TURN_POLL_ROUNDS`].
    pub fn recv(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        now: SansInstant,
    ) -> Result<Vec<Sent>, &'static str> {
        let mut sent = Vec::new();
        if self.transport == TransportType::Tcp && self.streams.len() < MAX_STREAMS {
            self.streams.insert(from);
        }
        if is_binding_request(data) {
            let t = match self.transport {
                TransportType::Udp => Transport::Udp,
                TransportType::Tcp => Transport::Tcp,
            };
            if let Some((len, to)) =
                answer_binding(&self.binding, data, from, self.listen, t, &mut self.out)
            {
                sent.push(Sent {
                    from: self.listen,
                    to,
                    data: self.out[..len].to_vec(),
                });
            }
            return Ok(sent);
        }
        if !wire::guard::stun_proto_can_take(data) {
            return Ok(sent);
        }
        let t = Transmit::new(data, self.transport, from, self.listen);
        if let Some(b) = self.server.recv(t, now) {
            let t = b.build();
            self.emit(&mut sent, t.from, t.to, t.data);
        }
        self.service(now, &mut sent)?;
        Ok(sent)
    }

    /// A datagram from `peer` to the relay address `relayed`.
    pub fn relay_recv(
        &mut self,
        data: &[u8],
        relayed: SocketAddr,
        peer: SocketAddr,
        now: SansInstant,
    ) -> Result<Vec<Sent>, &'static str> {
        let mut sent = Vec::new();
        let t = Transmit::new(data, TransportType::Udp, peer, relayed);
        if let Some(b) = self.server.recv(t, now) {
            let t = b.build();
            self.emit(&mut sent, t.from, t.to, t.data);
        }
        self.service(now, &mut sent)?;
        Ok(sent)
    }

    /// The poll loop alone (timers), at `now`.
    pub fn poll(&mut self, now: SansInstant) -> Result<Vec<Sent>, &'static str> {
        let mut sent = Vec::new();
        self.service(now, &mut sent)?;
        Ok(sent)
    }

    /// What `Core::service` does, with relay sockets simulated.
    fn service(&mut self, now: SansInstant, sent: &mut Vec<Sent>) -> Result<(), &'static str> {
        let ip = self.listen.ip();
        for _ in 0..TURN_POLL_ROUNDS {
            match self.server.poll(now) {
                TurnServerPollRet::WaitUntil(_) => {
                    while let Some(t) = self.server.poll_transmit(now) {
                        self.emit(sent, t.from, t.to, t.data);
                    }
                    return Ok(());
                }
                TurnServerPollRet::AllocateSocket {
                    transport,
                    listen_addr,
                    client_addr,
                    allocation_transport,
                    family,
                } => {
                    let same_family = match family {
                        AddressFamily::IPV4 => ip.is_ipv4(),
                        _ => ip.is_ipv6(),
                    };
                    let res = if !same_family {
                        Err(SocketAllocateError::AddressFamilyNotSupported)
                    } else if self.relays.len() >= MAX_RELAYS || self.next_port == u16::MAX {
                        Err(SocketAllocateError::InsufficientCapacity)
                    } else {
                        let addr = SocketAddr::new(ip, self.next_port);
                        self.next_port += 1;
                        self.relays.push(addr);
                        Ok(addr)
                    };
                    self.server.allocated_socket(
                        transport,
                        listen_addr,
                        client_addr,
                        allocation_transport,
                        family,
                        res,
                        now,
                    );
                }
                TurnServerPollRet::SocketClose { listen_addr, .. } => {
                    self.relays.retain(|a| *a != listen_addr);
                }
                TurnServerPollRet::TcpConnect {
                    relayed_addr,
                    peer_addr,
                    listen_addr,
                    client_addr,
                } => {
                    self.server.tcp_connected(
                        relayed_addr,
                        peer_addr,
                        listen_addr,
                        client_addr,
                        Err(TcpConnectError::Forbidden),
                        now,
                    );
                }
                TurnServerPollRet::TcpClose { .. } => {}
            }
        }
        Err("the TURN server's poll loop did not settle")
    }
}
