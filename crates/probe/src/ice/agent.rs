//! The tokio driver around two sans-IO rice-proto agents in one process:
//! their UDP sockets, the TCP connections to TURN servers they ask for
//! (TURN over TCP, and over TLS: natscope terminates TLS here with
//! tokio-rustls, so certificate problems are named and rice-proto sees
//! plain TURN over TCP), their timers, the routing of their transmits, and
//! the application data they receive.
//!
//! Both agents are driven from ONE loop (one task per run), so candidate
//! exchange is a plain function call and nothing needs locking. Each TCP
//! connection is one task (connect, read, write) that reports to that
//! loop through the same bounded channel as the UDP readers.

use super::result::GatherError;
use super::side::PerSide;
use crate::stun::transaction::{ResponseClass, parse_response};
use model::ice::{CandidateType, IceFilter, Side};
use rice_proto::agent::{Agent, AgentPoll};
use rice_proto::candidate::{Candidate, CandidatePair, TransportType};
use rice_proto::component::ComponentConnectionState;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use stun_proto::Instant as SansInstant;
use stun_proto::agent::Transmit;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;
use turn_client_proto::api::TurnClientApi;
use wire::{Clock, Framer};

/// Capacity of the channel of received datagrams (both agents).
const INBOUND_CAPACITY: usize = 1024;
/// Most application datagrams kept per agent until read.
const APP_QUEUE: usize = 64;
/// Largest datagram read.
const MAX_DATAGRAM: usize = 65536;
/// turn-client-proto's minimum time between two TURN requests (its
/// `MIN_STUN_REQUEST_CADENCE`): the wait skipped after each TURN answer.
const TURN_PACING: std::time::Duration = std::time::Duration::from_millis(50);
/// The agents' Ta (RFC 8445 §14.2): the least time between two checks.
const TIMING_ADVANCE: std::time::Duration = std::time::Duration::from_millis(5);

/// What the socket tasks report to the driving loop.
pub(crate) enum Inbound {
    /// A datagram on a UDP socket, or bytes on a TCP connection.
    Data {
        side: Side,
        transport: TransportType,
        local: SocketAddr,
        from: SocketAddr,
        data: Vec<u8>,
    },
    /// A TCP connection asked for with `AllocateSocket` is up (or failed).
    TcpConnected {
        side: Side,
        /// The `from` of the request (rice-proto's placeholder address).
        requested: SocketAddr,
        to: SocketAddr,
        result: Result<(SocketAddr, mpsc::Sender<Vec<u8>>), String>,
    },
    /// A TCP connection ended (closed by the server or an error).
    TcpClosed {
        side: Side,
        local: SocketAddr,
        to: SocketAddr,
        reason: String,
    },
}

/// TLS for a TURN-over-TLS connection: the name the certificate must
/// carry, and the client configuration (trust anchors, ring provider).
#[derive(Debug, Clone)]
pub(crate) struct TlsTarget {
    pub(crate) server_name: rustls::pki_types::ServerName<'static>,
    pub(crate) config: Arc<rustls::ClientConfig>,
}

/// A relayed candidate rice-proto's gatherer produced.
#[derive(Debug)]
pub(crate) struct RelayGathered {
    pub(crate) candidate: Candidate,
    pub(crate) turn_server: Option<usize>,
    pub(crate) at: Instant,
    pub(crate) used: bool,
    pub(crate) dropped: Option<String>,
}

/// Error answers seen from one TURN server.
#[derive(Debug, Clone)]
pub(crate) struct TurnErrorSeen {
    pub(crate) code: u16,
    pub(crate) reason: String,
    pub(crate) count: u32,
}

/// The type of a rice-proto candidate, in natscope's model.
pub(crate) fn candidate_type(t: rice_proto::candidate::CandidateType) -> CandidateType {
    use rice_proto::candidate::CandidateType as T;
    match t {
        T::Host => CandidateType::Host,
        T::ServerReflexive => CandidateType::Srflx,
        T::PeerReflexive => CandidateType::Prflx,
        T::Relayed => CandidateType::Relay,
    }
}

/// One ICE agent and its sockets.
pub(crate) struct AgentState {
    pub(crate) agent: Agent,
    pub(crate) stream_id: usize,
    pub(crate) component_id: usize,
    side: Side,
    filter: IceFilter,
    sockets: HashMap<SocketAddr, Arc<UdpSocket>>,
    /// TCP connections to TURN servers: (local, server) → writer.
    tcp: HashMap<(SocketAddr, SocketAddr), mpsc::Sender<Vec<u8>>>,
    /// Reassembly of each TCP connection's incoming stream, by local
    /// address.
    tcp_frames: HashMap<SocketAddr, Framer>,
    /// local TURN socket/connection address → (TURN server index, server
    /// address).
    turn_sockets: HashMap<SocketAddr, (usize, SocketAddr)>,
    /// TURN servers reached over TCP/TLS: server address → (index, IP to
    /// connect from, TLS to run over the connection).
    turn_tcp: HashMap<SocketAddr, (usize, std::net::IpAddr, Option<TlsTarget>)>,
    /// TURN servers this agent gathers from (indices).
    turn_expected: Vec<usize>,
    pub(crate) turn_errors: HashMap<usize, TurnErrorSeen>,
    /// TCP/TLS TURN servers whose connection failed or closed early.
    pub(crate) turn_conn_errors: HashMap<usize, String>,
    pub(crate) relays: Vec<RelayGathered>,
    pub(crate) gathering_started: bool,
    pub(crate) gathering_done: bool,
    pub(crate) locals_closed: bool,
    pub(crate) selected: Option<CandidatePair>,
    pub(crate) connected: Option<Instant>,
    pub(crate) failed: bool,
    /// The agent reported itself closed (after [`Pair::close`]: its TURN
    /// allocations are released).
    pub(crate) closed: bool,
    /// How far this agent's clock runs ahead of the real one: the TURN
    /// pacing waits skipped so far (see [`Pair::incoming_data`]).
    skipped: std::time::Duration,
    pub(crate) app_rx: VecDeque<Vec<u8>>,
    /// Whether this process drives the agent: both in a local run; only
    /// this machine's side when the other side is another natscope
    /// ([`Pair::new`]'s `only`). An inactive agent is never polled.
    pub(crate) active: bool,
}

impl AgentState {
    /// Whether the agent may still accept local candidates.
    fn can_add_local(&self) -> bool {
        !self.locals_closed
    }

    /// Adds a local candidate (host or srflx) if the filter keeps its type.
    /// Returns `Err(reason)` when rice-proto refused it (redundant).
    pub(crate) fn add_local(&mut self, cand: Candidate) -> Result<(), String> {
        if !self.can_add_local() {
            return Err("local candidates already closed".into());
        }
        let sid = self.stream_id;
        let Some(mut stream) = self.agent.mut_stream(sid) else {
            return Err("no stream".into());
        };
        if stream.add_local_candidate(cand) {
            Ok(())
        } else {
            Err("redundant with a higher-priority candidate on the same address".into())
        }
    }

    /// The local candidates the agent will use (SDP strings), for the peer.
    pub(crate) fn local_candidate_sdp(&self) -> Vec<String> {
        self.agent
            .stream(self.stream_id)
            .map(|s| s.local_candidates().map(|c| c.to_sdp_string()).collect())
            .unwrap_or_default()
    }

    /// Every local and remote candidate the agent knows, with types.
    pub(crate) fn known_kinds(&self) -> Vec<CandidateType> {
        let Some(s) = self.agent.stream(self.stream_id) else {
            return Vec::new();
        };
        s.local_candidates()
            .map(|c| candidate_type(c.candidate_type))
            .chain(
                s.remote_candidates()
                    .iter()
                    .map(|c| candidate_type(c.candidate_type)),
            )
            .collect()
    }

    /// Closes the local candidate list (no more gathering).
    pub(crate) fn close_locals(&mut self) {
        if self.locals_closed {
            return;
        }
        self.locals_closed = true;
        let sid = self.stream_id;
        if let Some(mut stream) = self.agent.mut_stream(sid) {
            stream.end_of_local_candidates();
        }
    }

    /// Whether gathering is over for this agent: never started, complete,
    /// or every TURN server either produced a candidate or gave a final
    /// error (anything but the first 401 challenge or a 438 stale nonce).
    pub(crate) fn gathering_over(&self) -> bool {
        if !self.gathering_started || self.gathering_done {
            return true;
        }
        self.turn_expected.iter().all(|i| {
            self.relays.iter().any(|r| r.turn_server == Some(*i))
                || self.turn_conn_errors.contains_key(i)
                || self.turn_errors.get(i).is_some_and(|e| {
                    (e.code == 401 && e.count >= 2) || (e.code != 401 && e.code != 438)
                })
        })
    }

    /// Forgets the TCP connection `local` → `to` (dropping its writer ends
    /// its task) and records why; before an allocation that is the TURN
    /// server's gathering failure.
    fn drop_tcp(&mut self, local: SocketAddr, to: SocketAddr, reason: String) {
        self.tcp.remove(&(local, to));
        self.tcp_frames.remove(&local);
        tracing::debug!("TCP {local} <-> {to}: {reason}");
        if let Some((i, _)) = self.turn_sockets.get(&local)
            && !self.relays.iter().any(|r| r.turn_server == Some(*i))
        {
            self.turn_conn_errors.insert(*i, reason);
        }
    }

    /// Whether the component is connected with a selected pair.
    pub(crate) fn is_connected(&self) -> bool {
        self.connected.is_some() && self.selected.is_some()
    }
}

/// The two agents, indexed by [`Side`].
pub(crate) type Sides = PerSide<AgentState>;

impl PerSide<AgentState> {
    /// The agents this process drives (see [`AgentState::active`]).
    pub(crate) fn active(&self) -> impl Iterator<Item = &AgentState> {
        self.iter().filter(|s| s.active)
    }
}

/// Two agents, their sockets, and the loop that drives them.
pub(crate) struct Pair {
    pub(crate) sides: Sides,
    rx: mpsc::Receiver<Inbound>,
    tx: mpsc::Sender<Inbound>,
    readers: Vec<AbortOnDropHandle<()>>,
    clock: Clock,
    /// Bound on each TCP connect to a TURN server.
    tcp_connect_timeout: std::time::Duration,
}

impl Pair {
    /// Two fresh agents ("a" controlling) with one stream and one component
    /// each, and random local ICE credentials.
    /// `tcp_connect_timeout` bounds each TCP connect to a TURN server.
    /// With `only`, just that agent is driven: the other side is another
    /// natscope, reached through signalling ([`Pair::local_description`],
    /// [`Pair::set_remote`]).
    pub(crate) fn new(
        filter: IceFilter,
        tcp_connect_timeout: std::time::Duration,
        only: Option<Side>,
    ) -> Result<Self, String> {
        let (tx, rx) = mpsc::channel(INBOUND_CAPACITY);
        let mk = |side: Side| -> Result<AgentState, String> {
            // Ta (RFC 8445 §14.2) 5 ms instead of 50: the two agents check a
            // few dozen pairs at most, so the pacing that protects a network
            // from a burst of hundreds of checks only made every run wait
            // 50 ms per step (100 ms to connect on loopback).
            let mut agent = Agent::builder()
                .controlling(side == Side::A)
                .trickle_ice(false)
                .timing_advance(TIMING_ADVANCE)
                .build();
            let stream_id = agent.add_stream();
            let mut stream = agent.mut_stream(stream_id).ok_or("rice-proto: no stream")?;
            let component_id = stream
                .add_component()
                .map_err(|e| format!("rice-proto: {e}"))?;
            stream.set_local_credentials(rice_proto::stream::Credentials::new(
                rice_proto::random_string(8),
                rice_proto::random_string(24),
            ));
            Ok(AgentState {
                agent,
                stream_id,
                component_id,
                side,
                filter,
                sockets: HashMap::new(),
                tcp: HashMap::new(),
                tcp_frames: HashMap::new(),
                turn_sockets: HashMap::new(),
                turn_tcp: HashMap::new(),
                turn_expected: Vec::new(),
                turn_errors: HashMap::new(),
                turn_conn_errors: HashMap::new(),
                relays: Vec::new(),
                gathering_started: false,
                gathering_done: false,
                locals_closed: false,
                selected: None,
                connected: None,
                failed: false,
                closed: false,
                skipped: std::time::Duration::ZERO,
                app_rx: VecDeque::new(),
                active: only.is_none_or(|o| o == side),
            })
        };
        Ok(Self {
            sides: PerSide::try_new(mk)?,
            rx,
            tx,
            readers: Vec::new(),
            clock: Clock::start(),
            tcp_connect_timeout,
        })
    }

    /// Now, for agent `side`: the real time plus the waits it skipped.
    fn now(&self, side: Side) -> SansInstant {
        self.clock.now() + self.sides[side].skipped
    }

    /// Hands a bound socket to agent `side`; its datagrams now go to the
    /// agent. `turn` marks a socket that talks to TURN server `turn.0` at
    /// `turn.1`.
    pub(crate) fn add_socket(
        &mut self,
        side: Side,
        sock: UdpSocket,
        turn: Option<(usize, SocketAddr)>,
    ) -> std::io::Result<SocketAddr> {
        let local = sock.local_addr()?;
        let sock = Arc::new(sock);
        self.sides[side].sockets.insert(local, sock.clone());
        if let Some(t) = turn {
            self.sides[side].turn_sockets.insert(local, t);
        }
        let tx = self.tx.clone();
        self.readers
            .push(AbortOnDropHandle::new(tokio::spawn(async move {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                loop {
                    match sock.recv_from(&mut buf).await {
                        Ok((n, from)) => {
                            let m = Inbound::Data {
                                side,
                                transport: TransportType::Udp,
                                local,
                                from,
                                data: buf[..n].to_vec(),
                            };
                            if tx.send(m).await.is_err() {
                                break;
                            }
                        }
                        // ICMP errors (port unreachable) surface here: clear
                        // them and keep reading.
                        Err(_) => {
                            if crate::icmp::drain(sock.as_ref()).is_empty() {
                                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                            }
                        }
                    }
                }
            })));
        Ok(local)
    }

    /// Starts rice-proto's TURN gathering on agent `side`. Each entry is
    /// (TURN server index, local address, config, TLS): for UDP the local
    /// address of a socket already added with [`Pair::add_socket`]; for
    /// TCP the IP to connect from (port 0): the connection (with TLS when
    /// given) is made when rice-proto asks for it.
    pub(crate) fn start_turn_gathering(
        &mut self,
        side: Side,
        entries: &[(
            usize,
            SocketAddr,
            &rice_proto::turn::TurnConfig,
            Option<TlsTarget>,
        )],
    ) -> Result<(), String> {
        let s = &mut self.sides[side];
        let mut turns: Vec<(SocketAddr, &rice_proto::turn::TurnConfig)> = Vec::new();
        for (i, local, config, tls) in entries {
            if config.client_transport() == TransportType::Tcp {
                s.turn_tcp
                    .insert(config.addr(), (*i, local.ip(), tls.clone()));
            }
            s.turn_expected.push(*i);
            turns.push((*local, *config));
        }
        let (sid, cid) = (s.stream_id, s.component_id);
        let mut stream = s.agent.mut_stream(sid).ok_or("no stream")?;
        let mut comp = stream.mut_component(cid).ok_or("no component")?;
        comp.gather_candidates(&[], &[], &turns)
            .map_err(|e| format!("rice-proto gather: {e}"))?;
        s.gathering_started = true;
        Ok(())
    }

    fn send(&mut self, side: Side, t: &Transmit<Box<[u8]>>) {
        let s = &mut self.sides[side];
        if t.transport == TransportType::Tcp {
            let Some(w) = s.tcp.get(&(t.from, t.to)) else {
                return;
            };
            // A stream cannot drop bytes: a full queue means the connection
            // is stuck, so it is closed (and named) rather than corrupted.
            if w.try_send(t.data.to_vec()).is_err() {
                s.drop_tcp(t.from, t.to, "write queue full: connection closed".into());
            }
            return;
        }
        if let Some(sock) = s.sockets.get(&t.from) {
            // UDP send errors (e.g. ICMP unreachable) are like loss: ICE
            // retries. The send is the syscall itself: tokio's try_send_to
            // refuses (WouldBlock) until the reactor has seen the new
            // socket writable, which dropped every agent's first checks —
            // half a second (the RTO) on every host-host run.
            let _ = socket2::SockRef::from(sock.as_ref()).send_to(&t.data, &t.to.into());
        }
    }

    /// rice-proto asks for a TCP connection from `req.from` (a placeholder
    /// on the IP it wants) to `req.to`. Only TURN servers configured for
    /// TCP/TLS get one (natscope offers no ICE-TCP candidates); the answer
    /// comes back through the loop as [`Inbound::TcpConnected`].
    fn allocate_socket(
        &mut self,
        side: Side,
        req: rice_proto::agent::AgentSocket,
        now: SansInstant,
    ) {
        let s = &mut self.sides[side];
        let wanted = (req.transport == TransportType::Tcp)
            .then(|| s.turn_tcp.get(&req.to).cloned())
            .flatten();
        let Some((_, ip, tls)) = wanted else {
            if let Some(mut stream) = s.agent.mut_stream(req.stream_id) {
                stream.allocated_socket(
                    req.component_id,
                    req.transport,
                    req.from,
                    req.to,
                    Err(stun_proto::agent::StunError::ResourceNotFound),
                    now,
                );
            }
            return;
        };
        let tx = self.tx.clone();
        let timeout = self.tcp_connect_timeout;
        self.readers.push(AbortOnDropHandle::new(tokio::spawn(
            super::tcp::connection(side, ip, req.from, req.to, tls, tx, timeout),
        )));
    }

    /// Polls agent `side` until it waits; handles its events and sends its
    /// transmits. Returns when it next wants to be polled.
    fn service(&mut self, side: Side) -> Instant {
        let now = self.now(side);
        let wake;
        loop {
            let ev = self.sides[side].agent.poll(now);
            match ev {
                AgentPoll::WaitUntil(t) => {
                    let at = self.clock.to_tokio(t);
                    wake = at.checked_sub(self.sides[side].skipped).unwrap_or(at);
                    break;
                }
                AgentPoll::Closed => {
                    self.sides[side].closed = true;
                    wake = Instant::now() + std::time::Duration::from_secs(3600);
                    break;
                }
                AgentPoll::AllocateSocket(req) => self.allocate_socket(side, req, now),
                AgentPoll::RemoveSocket(_) => {}
                AgentPoll::SelectedPair(p) => {
                    let pair = p.selected.candidate_pair().clone();
                    let s = &mut self.sides[side];
                    if let Some(mut stream) = s.agent.mut_stream(p.stream_id)
                        && let Some(mut comp) = stream.mut_component(p.component_id)
                        && let Err(e) = comp.set_selected_pair(pair.clone())
                    {
                        tracing::warn!("ICE agent {side}: set_selected_pair: {e}");
                    }
                    s.selected = Some(pair);
                }
                AgentPoll::ComponentStateChange(c) => {
                    let s = &mut self.sides[side];
                    match c.state {
                        ComponentConnectionState::Connected => {
                            s.connected.get_or_insert_with(Instant::now);
                        }
                        ComponentConnectionState::Failed => s.failed = true,
                        _ => {}
                    }
                }
                AgentPoll::GatheredCandidate(g) => {
                    let s = &mut self.sides[side];
                    let cand = g.gathered.candidate.clone();
                    let kind = candidate_type(cand.candidate_type);
                    let turn_server = g
                        .gathered
                        .turn_agent
                        .as_ref()
                        .and_then(|t| s.turn_sockets.get(&t.local_addr()).map(|(i, _)| *i));
                    let (used, dropped) = if !s.filter.keeps(s.side, kind) {
                        (false, None)
                    } else if !s.can_add_local() {
                        (
                            false,
                            Some("arrived after the gathering deadline".to_string()),
                        )
                    } else {
                        let sid = s.stream_id;
                        match s.agent.mut_stream(sid) {
                            Some(mut stream) => {
                                if stream.add_local_gathered_candidate(g.gathered) {
                                    (true, None)
                                } else {
                                    (false, Some("redundant".to_string()))
                                }
                            }
                            None => (false, Some("no stream".to_string())),
                        }
                    };
                    s.relays.push(RelayGathered {
                        candidate: cand,
                        turn_server,
                        at: Instant::now(),
                        used,
                        dropped,
                    });
                }
                AgentPoll::GatheringComplete(_) => {
                    self.sides[side].gathering_done = true;
                }
            }
        }
        while let Some(t) = self.sides[side].agent.poll_transmit(now) {
            self.send(side, &t.transmit);
        }
        wake
    }

    fn incoming(&mut self, m: Inbound) {
        match m {
            Inbound::Data {
                side,
                transport: TransportType::Tcp,
                local,
                from,
                data,
            } => self.incoming_stream(side, local, from, &data),
            Inbound::Data {
                side,
                transport,
                local,
                from,
                data,
            } => self.incoming_data(side, transport, local, from, data),
            Inbound::TcpConnected {
                side,
                requested,
                to,
                result,
            } => {
                let now = self.now(side);
                let s = &mut self.sides[side];
                let index = s.turn_tcp.get(&to).map(|(i, _, _)| *i);
                let local = match result {
                    Ok((local, writer)) => {
                        s.tcp.insert((local, to), writer);
                        s.tcp_frames.insert(local, Framer::default());
                        if let Some(i) = index {
                            s.turn_sockets.insert(local, (i, to));
                        }
                        Ok(local)
                    }
                    Err(e) => {
                        if let Some(i) = index {
                            s.turn_conn_errors.insert(i, e);
                        }
                        Err(stun_proto::agent::StunError::ResourceNotFound)
                    }
                };
                let (sid, cid) = (s.stream_id, s.component_id);
                if let Some(mut stream) = s.agent.mut_stream(sid) {
                    stream.allocated_socket(cid, TransportType::Tcp, requested, to, local, now);
                }
            }
            Inbound::TcpClosed {
                side,
                local,
                to,
                reason,
            } => self.sides[side].drop_tcp(local, to, reason),
        }
    }

    /// Bytes from a TCP connection (plaintext, also for TLS): fed to the
    /// agent one TURN message at a time: rice-proto 0.4.3 panics when one
    /// call carries two TURN messages with peer data, which TCP gives
    /// whenever the server's writes coalesce (coturn over TLS does). A
    /// stream that cannot be split is closed and named.
    fn incoming_stream(&mut self, side: Side, local: SocketAddr, from: SocketAddr, data: &[u8]) {
        let s = &mut self.sides[side];
        let Some(frames) = s.tcp_frames.get_mut(&local) else {
            return;
        };
        let mut units = Vec::new();
        let mut broken = frames.push(data).err();
        while broken.is_none() {
            match frames.next_frame() {
                Ok(Some((_, u))) => units.push(u),
                Ok(None) => break,
                Err(e) => broken = Some(e),
            }
        }
        for u in units {
            self.incoming_data(side, TransportType::Tcp, local, from, u);
        }
        if let Some(e) = broken {
            self.sides[side].drop_tcp(local, from, e.to_string());
        }
    }

    fn incoming_data(
        &mut self,
        side: Side,
        transport: TransportType,
        local: SocketAddr,
        from: SocketAddr,
        data: Vec<u8>,
    ) {
        if !wire::guard::stun_proto_can_take(&data) {
            tracing::debug!(%from, len = data.len(), "dropped a message stun-proto cannot take (NONCE)");
            return;
        }
        let now = self.now(side);
        let s = &mut self.sides[side];
        // Name TURN failures: note every STUN error answer a TURN server
        // sends (one datagram or one framed TCP/TLS message).
        let turn_answer = s
            .turn_sockets
            .get(&local)
            .filter(|(_, server)| *server == from)
            .and_then(|(i, _)| parse_response(&data).ok().map(|p| (*i, p)));
        if turn_answer.is_some() {
            // A TURN server's answer: the request it ends is no longer in
            // flight, and the next (the authenticated Allocate after the
            // 401, a CreatePermission) is a reaction to it.
            // turn-client-proto (inside rice-proto) would hold that one
            // back until 50 ms after its last request; the agent is told
            // that time has passed. Its other timers run that much ahead
            // too: a check retransmitted or paced a little early, never
            // one lost. (The same as the TURN probe's session does.)
            s.skipped += TURN_PACING;
        }
        if let Some((i, p)) = &turn_answer
            && p.class == ResponseClass::Error
        {
            let i = *i;
            let (code, reason) = p.error.clone().unwrap_or((0, String::new()));
            let e = s.turn_errors.entry(i).or_insert(TurnErrorSeen {
                code,
                reason: reason.clone(),
                count: 0,
            });
            e.code = code;
            e.reason = reason;
            e.count += 1;
        }
        let now = now
            + if turn_answer.is_some() {
                TURN_PACING
            } else {
                std::time::Duration::ZERO
            };
        let (sid, cid) = (s.stream_id, s.component_id);
        let Some(mut stream) = s.agent.mut_stream(sid) else {
            return;
        };
        let t = Transmit::new(data.as_slice(), transport, from, local);
        let reply = stream.handle_incoming_data(cid, t, now);
        let mut got = Vec::new();
        if let Some(d) = reply.data {
            got.push(d.as_ref().to_vec());
        }
        if reply.have_more_data {
            while let Some(p) = stream.poll_recv() {
                got.push(p.data);
            }
        }
        for d in got {
            if s.app_rx.len() < APP_QUEUE {
                s.app_rx.push_back(d);
            }
        }
    }

    /// Drives both agents until `done` holds or `deadline` passes. Returns
    /// whether `done` held.
    pub(crate) async fn drive_until(
        &mut self,
        deadline: Instant,
        done: impl Fn(&Sides) -> bool,
    ) -> bool {
        loop {
            let mut wake = deadline;
            for side in Side::BOTH {
                if self.sides[side].active {
                    wake = wake.min(self.service(side));
                }
            }
            if done(&self.sides) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            // Never sleep less than 1 ms in a busy loop, never past the deadline.
            let wake = wake
                .max(Instant::now() + std::time::Duration::from_millis(1))
                .min(deadline);
            tokio::select! {
                m = self.rx.recv() => {
                    if let Some(m) = m {
                        self.incoming(m);
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Sends `data` from agent `side` over its selected pair.
    pub(crate) fn send_app(&mut self, side: Side, data: &[u8]) -> Result<(), String> {
        let now = self.now(side);
        let s = &mut self.sides[side];
        let (sid, cid) = (s.stream_id, s.component_id);
        let mut stream = s.agent.mut_stream(sid).ok_or("no stream")?;
        let mut comp = stream.mut_component(cid).ok_or("no component")?;
        let t = comp
            .send(data, now)
            .map_err(|e| format!("rice-proto send: {e}"))?;
        self.send(side, &t);
        Ok(())
    }

    /// Agent `side`'s credentials and candidates, for the other side; its
    /// local candidate list is closed (no more gathering).
    pub(crate) fn local_description(&mut self, side: Side) -> model::peer::IceDescription {
        let s = &mut self.sides[side];
        s.close_locals();
        let creds = s
            .agent
            .stream(s.stream_id)
            .and_then(|st| st.local_credentials());
        let (ufrag, pwd) = creds.map(|c| (c.ufrag, c.passwd)).unwrap_or_default();
        model::peer::IceDescription {
            ufrag,
            pwd,
            candidates: s.local_candidate_sdp(),
            gave_up: None,
        }
    }

    /// Gives agent `side` the other side's credentials and candidates and
    /// closes its remote list. A candidate line that cannot be read is an
    /// error naming it (sanitised by the renderers).
    pub(crate) fn set_remote(
        &mut self,
        side: Side,
        remote: &model::peer::IceDescription,
    ) -> Result<(), String> {
        let s = &mut self.sides[side];
        let sid = s.stream_id;
        let mut stream = s.agent.mut_stream(sid).ok_or("no stream")?;
        stream.set_remote_credentials(rice_proto::stream::Credentials::new(
            remote.ufrag.clone(),
            remote.pwd.clone(),
        ));
        for line in &remote.candidates {
            let cand: Candidate = line
                .parse()
                .map_err(|_| format!("the candidate {line:?} could not be read"))?;
            stream.add_remote_candidate(cand);
        }
        stream.end_of_remote_candidates();
        Ok(())
    }

    /// Exchanges credentials and candidates between the two local agents
    /// (through their SDP `a=candidate:` form) and closes both candidate
    /// lists.
    pub(crate) fn exchange(&mut self) -> Result<(), String> {
        let a = self.local_description(Side::A);
        let b = self.local_description(Side::B);
        self.set_remote(Side::A, &b)?;
        self.set_remote(Side::B, &a)
    }

    /// The error seen from TURN server `i` by agent `side`, as a
    /// [`GatherError`].
    pub(crate) fn turn_error(&self, side: Side, i: usize) -> Option<GatherError> {
        self.sides[side]
            .turn_errors
            .get(&i)
            .map(|e| GatherError::TurnError {
                code: e.code,
                reason: e.reason.clone(),
                count: e.count,
            })
    }
}

impl Pair {
    /// Closes both agents (TURN allocations are released by the following
    /// polls).
    pub(crate) fn close(&mut self) {
        for side in Side::BOTH {
            if !self.sides[side].active {
                continue;
            }
            let now = self.now(side);
            self.sides[side].agent.close(now);
        }
    }
}
