//! The tokio driver around two sans-IO rice-proto agents in one process:
//! their UDP sockets, their timers, the routing of their transmits, and
//! the application data they receive.
//!
//! Both agents are driven from ONE loop (one task per run), so candidate
//! exchange is a plain function call and nothing needs locking.

use super::filter::{CandidateFilter, CandidateKind};
use super::result::GatherError;
use crate::stun::transaction::{ResponseClass, parse_response};
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
use tokio::task::JoinHandle;
use tokio::time::Instant;
use turn_client_proto::api::TurnClientApi;

/// Capacity of the channel of received datagrams (both agents).
const INBOUND_CAPACITY: usize = 1024;
/// Most application datagrams kept per agent until read.
const APP_QUEUE: usize = 64;
/// Largest datagram read.
const MAX_DATAGRAM: usize = 65536;

/// A received datagram.
struct Inbound {
    side: usize,
    local: SocketAddr,
    from: SocketAddr,
    data: Vec<u8>,
}

/// Aborts a reader task when dropped.
struct AbortOnDrop(JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A relayed candidate rice-proto's gatherer produced.
#[derive(Debug)]
pub(crate) struct RelayGathered {
    pub candidate: Candidate,
    pub turn_server: Option<usize>,
    pub at: Instant,
    pub used: bool,
    pub dropped: Option<String>,
}

/// Error answers seen from one TURN server.
#[derive(Debug, Clone)]
pub(crate) struct TurnErrorSeen {
    pub code: u16,
    pub reason: String,
    pub count: u32,
}

/// One ICE agent and its sockets.
pub(crate) struct Side {
    pub agent: Agent,
    pub stream_id: usize,
    pub component_id: usize,
    idx: usize,
    filter: CandidateFilter,
    sockets: HashMap<SocketAddr, Arc<UdpSocket>>,
    /// local TURN socket address → (TURN server index, server address).
    turn_sockets: HashMap<SocketAddr, (usize, SocketAddr)>,
    pub turn_errors: HashMap<usize, TurnErrorSeen>,
    pub relays: Vec<RelayGathered>,
    pub gathering_started: bool,
    pub gathering_done: bool,
    pub locals_closed: bool,
    pub selected: Option<CandidatePair>,
    pub connected: Option<Instant>,
    pub failed: bool,
    pub app_rx: VecDeque<Vec<u8>>,
    pub errors: Vec<String>,
}

impl Side {
    /// Whether the agent may still accept local candidates.
    fn can_add_local(&self) -> bool {
        !self.locals_closed
    }

    /// Adds a local candidate (host or srflx) if the filter keeps its type.
    /// Returns `Err(reason)` when rice-proto refused it (redundant).
    pub fn add_local(&mut self, cand: Candidate) -> Result<(), String> {
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
    pub fn local_candidate_sdp(&self) -> Vec<String> {
        self.agent
            .stream(self.stream_id)
            .map(|s| s.local_candidates().map(|c| c.to_sdp_string()).collect())
            .unwrap_or_default()
    }

    /// Every local and remote candidate the agent knows, with types.
    pub fn known_kinds(&self) -> Vec<CandidateKind> {
        let Some(s) = self.agent.stream(self.stream_id) else {
            return Vec::new();
        };
        s.local_candidates()
            .map(|c| c.candidate_type.into())
            .chain(
                s.remote_candidates()
                    .iter()
                    .map(|c| c.candidate_type.into()),
            )
            .collect()
    }

    /// Closes the local candidate list (no more gathering).
    pub fn close_locals(&mut self) {
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
    pub fn gathering_over(&self) -> bool {
        if !self.gathering_started || self.gathering_done {
            return true;
        }
        self.turn_sockets.values().all(|(i, _)| {
            self.relays.iter().any(|r| r.turn_server == Some(*i))
                || self.turn_errors.get(i).is_some_and(|e| {
                    (e.code == 401 && e.count >= 2) || (e.code != 401 && e.code != 438)
                })
        })
    }

    /// Whether the component is connected with a selected pair.
    pub fn is_connected(&self) -> bool {
        self.connected.is_some() && self.selected.is_some()
    }
}

/// Two agents, their sockets, and the loop that drives them.
pub(crate) struct Pair {
    pub sides: [Side; 2],
    rx: mpsc::Receiver<Inbound>,
    tx: mpsc::Sender<Inbound>,
    readers: Vec<AbortOnDrop>,
    base: Instant,
}

impl Pair {
    /// Two fresh agents ("a" controlling) with one stream and one component
    /// each, and random local ICE credentials.
    pub fn new(filter: CandidateFilter) -> Result<Self, String> {
        let (tx, rx) = mpsc::channel(INBOUND_CAPACITY);
        let mk = |idx: usize| -> Result<Side, String> {
            let mut agent = Agent::builder()
                .controlling(idx == 0)
                .trickle_ice(false)
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
            Ok(Side {
                agent,
                stream_id,
                component_id,
                idx,
                filter,
                sockets: HashMap::new(),
                turn_sockets: HashMap::new(),
                turn_errors: HashMap::new(),
                relays: Vec::new(),
                gathering_started: false,
                gathering_done: false,
                locals_closed: false,
                selected: None,
                connected: None,
                failed: false,
                app_rx: VecDeque::new(),
                errors: Vec::new(),
            })
        };
        Ok(Self {
            sides: [mk(0)?, mk(1)?],
            rx,
            tx,
            readers: Vec::new(),
            base: Instant::now(),
        })
    }

    fn now(&self) -> SansInstant {
        SansInstant::from_nanos(self.base.elapsed().as_nanos().min(i64::MAX as u128) as i64)
    }

    fn to_tokio(&self, t: SansInstant) -> Instant {
        self.base + std::time::Duration::from_nanos(t.as_nanos().max(0) as u64)
    }

    /// Hands a bound socket to agent `side`; its datagrams now go to the
    /// agent. `turn` marks a socket that talks to TURN server `turn.0` at
    /// `turn.1`.
    pub fn add_socket(
        &mut self,
        side: usize,
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
        self.readers.push(AbortOnDrop(tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                match sock.recv_from(&mut buf).await {
                    Ok((n, from)) => {
                        let m = Inbound {
                            side,
                            local,
                            from,
                            data: buf[..n].to_vec(),
                        };
                        if tx.send(m).await.is_err() {
                            break;
                        }
                    }
                    // ICMP errors (port unreachable) surface here; keep reading.
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                }
            }
        })));
        Ok(local)
    }

    /// Starts rice-proto's TURN gathering on agent `side` for the TURN
    /// sockets already added. `configs[i]` is the config of TURN server i.
    pub fn start_turn_gathering(
        &mut self,
        side: usize,
        configs: &[rice_proto::turn::TurnConfig],
    ) -> Result<(), String> {
        let s = &mut self.sides[side];
        let turns: Vec<(SocketAddr, &rice_proto::turn::TurnConfig)> = s
            .turn_sockets
            .iter()
            .filter_map(|(local, (i, _))| configs.get(*i).map(|c| (*local, c)))
            .collect();
        let (sid, cid) = (s.stream_id, s.component_id);
        let mut stream = s.agent.mut_stream(sid).ok_or("no stream")?;
        let mut comp = stream.mut_component(cid).ok_or("no component")?;
        comp.gather_candidates(&[], &[], &turns)
            .map_err(|e| format!("rice-proto gather: {e}"))?;
        s.gathering_started = true;
        Ok(())
    }

    fn send(&self, side: usize, t: &Transmit<Box<[u8]>>) {
        let s = &self.sides[side];
        if let Some(sock) = s.sockets.get(&t.from) {
            // UDP send errors (e.g. ICMP unreachable) are like loss: ICE retries.
            let _ = sock.try_send_to(&t.data, t.to);
        }
    }

    /// Polls agent `side` until it waits; handles its events and sends its
    /// transmits. Returns when it next wants to be polled.
    fn service(&mut self, side: usize) -> Instant {
        let now = self.now();
        let wake;
        loop {
            let ev = self.sides[side].agent.poll(now);
            match ev {
                AgentPoll::WaitUntil(t) => {
                    wake = self.to_tokio(t);
                    break;
                }
                AgentPoll::Closed => {
                    wake = Instant::now() + std::time::Duration::from_secs(3600);
                    break;
                }
                AgentPoll::AllocateSocket(req) => {
                    // natscope's ICE runs are UDP only: refuse TCP sockets.
                    let s = &mut self.sides[side];
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
                }
                AgentPoll::RemoveSocket(_) => {}
                AgentPoll::SelectedPair(p) => {
                    let pair = p.selected.candidate_pair().clone();
                    let s = &mut self.sides[side];
                    if let Some(mut stream) = s.agent.mut_stream(p.stream_id)
                        && let Some(mut comp) = stream.mut_component(p.component_id)
                        && let Err(e) = comp.set_selected_pair(pair.clone())
                    {
                        s.errors.push(format!("set_selected_pair: {e}"));
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
                    let kind = CandidateKind::from(cand.candidate_type);
                    let turn_server = g
                        .gathered
                        .turn_agent
                        .as_ref()
                        .and_then(|t| s.turn_sockets.get(&t.local_addr()).map(|(i, _)| *i));
                    let (used, dropped) = if !s.filter.keeps(s.idx, kind) {
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
        let now = self.now();
        let s = &mut self.sides[m.side];
        // Name TURN failures: note every STUN error answer a TURN server sends.
        if let Some((i, server)) = s.turn_sockets.get(&m.local)
            && *server == m.from
            && let Ok(p) = parse_response(&m.data)
            && p.class == ResponseClass::Error
        {
            let (code, reason) = p.error.unwrap_or((0, String::new()));
            let e = s.turn_errors.entry(*i).or_insert(TurnErrorSeen {
                code,
                reason: reason.clone(),
                count: 0,
            });
            e.code = code;
            e.reason = reason;
            e.count += 1;
        }
        let (sid, cid) = (s.stream_id, s.component_id);
        let Some(mut stream) = s.agent.mut_stream(sid) else {
            return;
        };
        let t = Transmit::new(m.data.as_slice(), TransportType::Udp, m.from, m.local);
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
    pub async fn drive_until(
        &mut self,
        deadline: Instant,
        done: impl Fn(&[Side; 2]) -> bool,
    ) -> bool {
        loop {
            let mut wake = deadline;
            for side in 0..2 {
                wake = wake.min(self.service(side));
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
    pub fn send_app(&mut self, side: usize, data: &[u8]) -> Result<(), String> {
        let now = self.now();
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

    /// Exchanges credentials and candidates between the agents (through
    /// their SDP `a=candidate:` form) and closes both candidate lists.
    pub fn exchange(&mut self) -> Result<(), String> {
        let sdp = [
            self.sides[0].local_candidate_sdp(),
            self.sides[1].local_candidate_sdp(),
        ];
        let creds = [
            self.sides[0]
                .agent
                .stream(self.sides[0].stream_id)
                .and_then(|s| s.local_credentials()),
            self.sides[1]
                .agent
                .stream(self.sides[1].stream_id)
                .and_then(|s| s.local_credentials()),
        ];
        for side in 0..2 {
            let other = 1 - side;
            let s = &mut self.sides[side];
            s.close_locals();
            let sid = s.stream_id;
            let mut stream = s.agent.mut_stream(sid).ok_or("no stream")?;
            if let Some(c) = creds[other].clone() {
                stream.set_remote_credentials(c);
            }
            for line in &sdp[other] {
                let cand: Candidate = line
                    .parse()
                    .map_err(|e| format!("candidate {line:?}: {e:?}"))?;
                stream.add_remote_candidate(cand);
            }
            stream.end_of_remote_candidates();
        }
        Ok(())
    }

    /// The error seen from TURN server `i` by agent `side`, as a
    /// [`GatherError`].
    pub fn turn_error(&self, side: usize, i: usize) -> Option<GatherError> {
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
    pub fn close(&mut self) {
        let now = self.now();
        for s in &mut self.sides {
            s.agent.close(now);
        }
    }
}
