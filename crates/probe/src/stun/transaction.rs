//! The one STUN transaction layer: RFC 8489 client transactions over UDP
//! (retransmission with RTO/Rc/Rm) and TCP (see [`super::tcp`]), the parsed
//! [`StunResponse`] every probe reads, and [`binding_request`], the Binding
//! request builder every probe uses. (About 800 lines: one driver loop and
//! its transaction table, which read best together.)
//!
//! UDP transactions run on `stun-proto`'s sans-IO [`StunAgent`]: one
//! background driver task per [`UdpStunClient`] owns the socket's receive
//! side and the agent's retransmission timers, so many requests (to many
//! servers) can be in flight on one socket at once. Responses are matched by
//! transaction id only, so answers from another address or port (RFC 5780
//! CHANGE-REQUEST) are accepted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stun_proto::agent::{StunAgent, StunAgentPollRet};
use stun_proto::types::TransportType;
use stun_proto::types::attribute::{ErrorCode, Software, XorMappedAddress};
use stun_proto::types::message::{
    BINDING, Message, MessageClass, MessageHeader, MessageWrite, MessageWriteExt, MessageWriteVec,
    TransactionId,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use wire::Clock;

use wire::attrs::{
    ChangeRequest, ChangedAddress, MappedAddress, OtherAddress, Padding, ResponseOrigin,
    ResponsePort, SourceAddress,
};

/// Largest STUN message natscope reads (UDP datagram or TCP frame).
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// Most UDP transactions one [`UdpStunClient`] keeps in flight at once.
pub const MAX_IN_FLIGHT: usize = 4096;

/// Capacity of the channel of incoming STUN requests/indications
/// ([`UdpStunClient::incoming`]); further messages are dropped and counted.
pub const INCOMING_CAPACITY: usize = 64;

/// RFC 8489 §6.2.1 retransmission parameters for one UDP transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitConfig {
    /// The first retransmission timeout (RTO); doubled after each transmission.
    pub initial_rto: Duration,
    /// The ceiling for the doubled RTO.
    pub max_rto: Duration,
    /// Total number of transmissions (RFC 8489 Rc, default 7).
    pub rc: u32,
    /// The wait after the last transmission is `rm × initial_rto`
    /// (RFC 8489 Rm, default 16).
    pub rm: u32,
}

impl Default for RetransmitConfig {
    /// RFC 8489: RTO 500 ms, Rc 7, Rm 16 (39.5 s in all). RFC 8489 sets no
    /// cap on the doubled RTO; 60 s is never reached with these values.
    fn default() -> Self {
        Self {
            initial_rto: Duration::from_millis(500),
            max_rto: Duration::from_secs(60),
            rc: 7,
            rm: 16,
        }
    }
}

impl RetransmitConfig {
    /// The shortest RTO [`RetransmitConfig::for_rtt`] picks.
    pub const MIN_ADAPTED_RTO: Duration = Duration::from_millis(50);

    /// A configuration adapted to a measured round-trip time: RTO =
    /// clamp(3 × rtt, 50 ms, 500 ms), Rc and Rm as in RFC 8489. Lets later
    /// probes fail fast on loopback/LAN while staying safe on slow paths.
    pub fn for_rtt(rtt: Duration) -> Self {
        let rto = rtt
            .saturating_mul(3)
            .clamp(Self::MIN_ADAPTED_RTO, Duration::from_millis(500));
        Self {
            initial_rto: rto,
            ..Self::default()
        }
    }

    /// The waits between transmissions (RFC 8489: RTO, 2×RTO, …, capped at
    /// `max_rto`), `rc - 1` of them.
    pub fn retransmit_waits(&self) -> impl Iterator<Item = Duration> + '_ {
        (0..self.rc.max(1) - 1).map(|i| {
            self.initial_rto
                .saturating_mul(2u32.saturating_pow(i))
                .min(self.max_rto)
        })
    }

    /// The wait after the last transmission (`rm × initial_rto`).
    pub fn final_wait(&self) -> Duration {
        self.initial_rto.saturating_mul(self.rm)
    }

    /// How long a transaction that never gets an answer takes: the sum of
    /// all waits (39.5 s for the RFC defaults).
    pub fn total_wait(&self) -> Duration {
        self.retransmit_waits()
            .fold(self.final_wait(), |acc, w| acc.saturating_add(w))
    }
}

/// Why a STUN transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum TransactionError {
    /// No response after all retransmissions and the final wait.
    #[error("no response after {transmissions} transmission(s)")]
    Timeout {
        /// How many times the request was sent.
        transmissions: u32,
    },
    /// The caller's deadline passed before a response or the RFC timeout.
    #[error("deadline reached after {transmissions} transmission(s)")]
    Deadline {
        /// How many times the request was sent (0 if never).
        transmissions: u32,
    },
    /// A socket operation failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// Binding the local socket failed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The local address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TCP connection was refused (nothing listening, or a RST).
    #[error("connection refused by {0}")]
    ConnectRefused(SocketAddr),
    /// An ICMP error came back for the request over UDP: port unreachable
    /// (nothing listens), host or network unreachable, or prohibited.
    #[error("{} from {}", .kind.describe(), .from.map(|a| a.to_string()).unwrap_or_else(|| "the path".into()))]
    Unreachable {
        /// What the ICMP error said.
        kind: crate::icmp::IcmpKind,
        /// Who sent it, when known.
        from: Option<std::net::IpAddr>,
        /// How many times the request was sent.
        transmissions: u32,
    },
    /// The TCP connection did not complete before the deadline.
    #[error("connection to {0} timed out")]
    ConnectTimeout(SocketAddr),
    /// The connection or the client's driver task is gone.
    #[error("transport closed")]
    Closed,
    /// The request given is not an encodable STUN request.
    #[error("invalid request: {0}")]
    Encode(String),
    /// The peer sent something that is not a valid STUN message where one
    /// was expected (TCP framing, or a matched response that fails to parse).
    #[error("invalid response: {0}")]
    Parse(String),
    /// The same transaction id is already in flight on this client.
    #[error("transaction already in progress")]
    AlreadyInProgress,
    /// Too many transactions in flight on this client ([`MAX_IN_FLIGHT`]).
    #[error("too many transactions in flight")]
    TooManyInFlight,
}

/// The class of a STUN response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseClass {
    /// A success response.
    Success,
    /// An error response (see [`StunResponse::error`]).
    Error,
}

/// The attributes natscope reads from a STUN response; produced by
/// [`parse_response`] for UDP and TCP alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedResponse {
    /// The transaction id.
    pub transaction_id: TransactionId,
    /// Success or error response.
    pub class: ResponseClass,
    /// XOR-MAPPED-ADDRESS, decoded.
    pub xor_mapped: Option<SocketAddr>,
    /// MAPPED-ADDRESS (RFC 3489 servers, and RFC 5780 servers beside XOR).
    pub mapped_address: Option<SocketAddr>,
    /// OTHER-ADDRESS, else RFC 3489 CHANGED-ADDRESS.
    pub other_address: Option<SocketAddr>,
    /// `other_address` came from CHANGED-ADDRESS (no OTHER-ADDRESS): a
    /// classic RFC 3489 server.
    pub rfc3489: bool,
    /// RESPONSE-ORIGIN, else RFC 3489 SOURCE-ADDRESS.
    pub response_origin: Option<SocketAddr>,
    /// SOFTWARE.
    pub software: Option<String>,
    /// ERROR-CODE: code and reason phrase.
    pub error: Option<(u16, String)>,
}

/// Parses a STUN response (success or error). The one parsing function of
/// the transaction layer; never panics on network input.
pub fn parse_response(bytes: &[u8]) -> Result<ParsedResponse, TransactionError> {
    let msg = Message::from_bytes(bytes).map_err(|e| TransactionError::Parse(e.to_string()))?;
    parse_message(&msg)
}

fn parse_message(msg: &Message<'_>) -> Result<ParsedResponse, TransactionError> {
    let class = match msg.class() {
        MessageClass::Success => ResponseClass::Success,
        MessageClass::Error => ResponseClass::Error,
        other => {
            return Err(TransactionError::Parse(format!(
                "expected a response, got a {other:?}"
            )));
        }
    };
    let tid = msg.transaction_id();
    let other = msg.attribute::<OtherAddress>().map(|a| a.addr()).ok();
    let changed = msg.attribute::<ChangedAddress>().map(|a| a.addr()).ok();
    Ok(ParsedResponse {
        transaction_id: tid,
        class,
        xor_mapped: msg
            .attribute::<XorMappedAddress>()
            .ok()
            .map(|a| a.addr(tid)),
        mapped_address: msg.attribute::<MappedAddress>().ok().map(|a| a.addr()),
        other_address: other.or(changed),
        rfc3489: other.is_none() && changed.is_some(),
        response_origin: msg
            .attribute::<ResponseOrigin>()
            .map(|a| a.addr())
            .or_else(|_| msg.attribute::<SourceAddress>().map(|a| a.addr()))
            .ok(),
        software: msg
            .attribute::<Software>()
            .ok()
            .map(|s| s.software().to_owned()),
        error: msg
            .attribute::<ErrorCode>()
            .ok()
            .map(|e| (e.code(), e.reason().to_owned())),
    })
}

/// A STUN response to one of our requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StunResponse {
    /// Where the response came from (may differ from where the request went).
    pub from: SocketAddr,
    /// The local socket address the transaction used.
    pub local: SocketAddr,
    /// Time from the LAST transmission of the request to the response.
    pub rtt: Duration,
    /// How many times the request was sent.
    pub transmissions: u32,
    /// The raw response.
    pub bytes: Vec<u8>,
    /// The parsed attributes.
    pub parsed: ParsedResponse,
}

impl StunResponse {
    /// The reflexive address: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS.
    pub fn mapped(&self) -> Option<SocketAddr> {
        self.parsed.xor_mapped.or(self.parsed.mapped_address)
    }

    /// Whether this is a success response.
    pub fn is_success(&self) -> bool {
        self.parsed.class == ResponseClass::Success
    }
}

/// Builds a Binding request with the attributes a test needs, in the
/// order RFC 5780 servers expect: CHANGE-REQUEST, RESPONSE-PORT, PADDING,
/// FINGERPRINT. `padding` is clamped to [`wire::attrs::MAX_PADDING`].
///
/// No SOFTWARE: RFC 8489 §11 asks clients to be conservative with servers
/// of the RFC 3489 era, and Debian's stund drops a request whose attribute
/// length is not a multiple of 4 ("natscope/0.1.0" is 14 bytes) — silence
/// natscope would misread as a dead server.
pub fn binding_request(
    change: Option<ChangeRequest>,
    response_port: Option<u16>,
    padding: Option<u16>,
    fingerprint: bool,
) -> (TransactionId, Vec<u8>) {
    let mut msg = Message::builder_request(BINDING, MessageWriteVec::new());
    // The attributes below are small and well-formed and the message has no
    // integrity/fingerprint yet, so adding them cannot fail; errors would only
    // drop the attribute, never panic.
    if let Some(change) = change {
        let _ = msg.add_attribute(&change);
    }
    if let Some(port) = response_port {
        let _ = msg.add_attribute(&ResponsePort(port));
    }
    if let Some(pad) = padding {
        let _ = msg.add_attribute(&Padding(pad.min(wire::attrs::MAX_PADDING)));
    }
    if fingerprint {
        let _ = msg.add_fingerprint();
    }
    let bytes = msg.finish();
    let tid = MessageHeader::from_bytes(&bytes)
        .map(|h| h.transaction_id())
        // The builder always writes a 20-byte header, so this branch is dead.
        .unwrap_or_else(|_| TransactionId::generate());
    (tid, bytes)
}

/// A STUN request or indication received on a client socket (for example a
/// hairpinned Binding request), delivered by [`UdpStunClient::incoming`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingStun {
    /// Who sent it.
    pub from: SocketAddr,
    /// The raw message.
    pub bytes: Vec<u8>,
    /// Its transaction id.
    pub transaction_id: TransactionId,
}

/// What a [`UdpStunClient`]'s driver has seen (a snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams that were not valid STUN messages.
    pub malformed: u64,
    /// Responses for no transaction in flight (unknown or late).
    pub unmatched: u64,
    /// Responses matched to a transaction in flight.
    pub matched: u64,
    /// Requests/indications received (delivered or dropped).
    pub incoming: u64,
    /// Requests/indications dropped because the incoming channel was full or
    /// not taken.
    pub incoming_dropped: u64,
    /// First transmissions of requests.
    pub requests: u64,
    /// Retransmissions (transmissions after the first).
    pub retransmissions: u64,
    /// Transactions that ended in a timeout.
    pub timeouts: u64,
    /// Socket errors on send or receive (e.g. ICMP port unreachable), survived.
    pub socket_errors: u64,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.received += o.received;
        self.malformed += o.malformed;
        self.unmatched += o.unmatched;
        self.matched += o.matched;
        self.incoming += o.incoming;
        self.incoming_dropped += o.incoming_dropped;
        self.requests += o.requests;
        self.retransmissions += o.retransmissions;
        self.timeouts += o.timeouts;
        self.socket_errors += o.socket_errors;
    }
}

#[derive(Debug, Default)]
struct AtomicCounters {
    received: AtomicU64,
    malformed: AtomicU64,
    unmatched: AtomicU64,
    matched: AtomicU64,
    incoming: AtomicU64,
    incoming_dropped: AtomicU64,
    requests: AtomicU64,
    retransmissions: AtomicU64,
    timeouts: AtomicU64,
    socket_errors: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl AtomicCounters {
    fn snapshot(&self) -> Counters {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            received: g(&self.received),
            malformed: g(&self.malformed),
            unmatched: g(&self.unmatched),
            matched: g(&self.matched),
            incoming: g(&self.incoming),
            incoming_dropped: g(&self.incoming_dropped),
            requests: g(&self.requests),
            retransmissions: g(&self.retransmissions),
            timeouts: g(&self.timeouts),
            socket_errors: g(&self.socket_errors),
        }
    }
}

struct Command {
    bytes: Vec<u8>,
    to: SocketAddr,
    cfg: RetransmitConfig,
    deadline: Instant,
    reply: oneshot::Sender<Result<StunResponse, TransactionError>>,
}

/// A UDP STUN client: one socket, any number of concurrent transactions.
///
/// Dropping it stops its driver task (transactions still in flight end).
#[derive(Debug)]
pub struct UdpStunClient {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    commands: mpsc::Sender<Command>,
    counters: Arc<AtomicCounters>,
    incoming: Mutex<Option<mpsc::Receiver<IncomingStun>>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for UdpStunClient {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl UdpStunClient {
    /// Binds a UDP socket on `local` (port 0 for an ephemeral port) and
    /// starts its driver task. Must be called inside a tokio runtime.
    pub async fn bind(local: SocketAddr) -> Result<Self, TransactionError> {
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|source| TransactionError::Bind {
                addr: local,
                source,
            })?;
        let local = socket.local_addr()?;
        // A closed port answers at once (ICMP port unreachable) instead of
        // letting the transaction run to its timeout.
        if let Err(e) = crate::icmp::enable(&socket, local) {
            tracing::debug!("no ICMP error reporting on {local}: {e}");
        }
        let socket = Arc::new(socket);
        let counters = Arc::new(AtomicCounters::default());
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (in_tx, in_rx) = mpsc::channel(INCOMING_CAPACITY);
        let driver = Driver {
            socket: socket.clone(),
            agent: StunAgent::builder(TransportType::Udp, local).build(),
            clock: Clock::start(),
            pending: HashMap::new(),
            counters: counters.clone(),
            incoming: in_tx,
            agent_wake: Instant::now() + Duration::from_secs(3600),
        };
        let driver = tokio::spawn(driver.run(cmd_rx));
        Ok(Self {
            socket,
            local,
            commands: cmd_tx,
            counters,
            incoming: Mutex::new(Some(in_rx)),
            driver,
        })
    }

    /// The bound local address (with the actual port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A snapshot of the driver's counters.
    pub fn counters(&self) -> Counters {
        self.counters.snapshot()
    }

    /// The STUN requests and indications received on this socket (e.g. a
    /// hairpinned Binding request). The receiver can be taken once; later
    /// calls return `None`. The channel holds [`INCOMING_CAPACITY`] messages;
    /// when it is full (or never taken) further ones are dropped and counted
    /// in [`Counters::incoming_dropped`].
    pub fn incoming(&self) -> Option<mpsc::Receiver<IncomingStun>> {
        // A poisoned lock only means another thread panicked while taking the
        // receiver; the Option inside is still valid.
        let mut guard = self
            .incoming
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        guard.take()
    }

    /// Sends bytes without a transaction (fire-and-forget).
    pub async fn send_raw(&self, bytes: &[u8], to: SocketAddr) -> Result<(), TransactionError> {
        self.socket.send_to(bytes, to).await?;
        Ok(())
    }

    /// Runs one RFC 8489 transaction: sends the encoded STUN `request` to
    /// `to`, retransmits per `cfg`, and returns the response whose
    /// transaction id matches (from whatever address it comes), or an error
    /// by `deadline` at the latest.
    pub async fn request(
        &self,
        request: Vec<u8>,
        to: SocketAddr,
        cfg: RetransmitConfig,
        deadline: Instant,
    ) -> Result<StunResponse, TransactionError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command {
            bytes: request,
            to,
            cfg,
            deadline,
            reply,
        };
        // The driver enforces the deadline; this outer bound (with a grace
        // period for its reply) only guards against a wedged driver.
        let grace = deadline + Duration::from_secs(1);
        let fut = async {
            self.commands
                .send(cmd)
                .await
                .map_err(|_| TransactionError::Closed)?;
            rx.await.map_err(|_| TransactionError::Closed)?
        };
        match tokio::time::timeout_at(grace, fut).await {
            Ok(r) => r,
            Err(_) => Err(TransactionError::Deadline { transmissions: 0 }),
        }
    }
}

struct Pending {
    reply: oneshot::Sender<Result<StunResponse, TransactionError>>,
    /// Where the request went (to match ICMP errors).
    to: SocketAddr,
    transmissions: u32,
    last_send: Instant,
    deadline: Instant,
}

struct Driver {
    socket: Arc<UdpSocket>,
    agent: StunAgent,
    clock: Clock,
    pending: HashMap<TransactionId, Pending>,
    counters: Arc<AtomicCounters>,
    incoming: mpsc::Sender<IncomingStun>,
    /// The agent's next timer, refreshed by every [`Driver::on_timers`].
    agent_wake: Instant,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut buf = vec![0u8; MAX_MESSAGE_SIZE];
        loop {
            let wake = self.next_wake();
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.start(cmd).await,
                    None => return,
                },
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        // `n` is at most the buffer length.
                        let data = buf.get(..n).unwrap_or(&[]);
                        self.on_datagram(data, from);
                    }
                    Err(e) => {
                        // ICMP errors end the transactions they answer;
                        // other transient errors are survived, with a short
                        // pause against spinning on a persistent one.
                        bump(&self.counters.socket_errors);
                        tracing::debug!("recv error: {e}");
                        if !self.on_icmp() && e.kind() != std::io::ErrorKind::ConnectionRefused {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                },
                _ = tokio::time::sleep_until(wake), if !self.pending.is_empty() => {}
            }
            self.on_timers().await;
        }
    }

    /// When the loop must wake next: the agent's next timer (as of the
    /// last [`Driver::on_timers`]) or the earliest caller deadline.
    fn next_wake(&self) -> Instant {
        self.pending
            .values()
            .map(|p| p.deadline)
            .fold(self.agent_wake, Instant::min)
    }

    async fn start(&mut self, cmd: Command) {
        let Command {
            bytes,
            to,
            cfg,
            deadline,
            reply,
        } = cmd;
        let tid = match MessageHeader::from_bytes(&bytes) {
            Ok(h) if h.get_type().class() == MessageClass::Request => h.transaction_id(),
            Ok(_) => {
                let _ = reply.send(Err(TransactionError::Encode(
                    "not a STUN request".to_owned(),
                )));
                return;
            }
            Err(e) => {
                let _ = reply.send(Err(TransactionError::Encode(e.to_string())));
                return;
            }
        };
        if self.pending.contains_key(&tid) {
            let _ = reply.send(Err(TransactionError::AlreadyInProgress));
            return;
        }
        if self.pending.len() >= MAX_IN_FLIGHT {
            let _ = reply.send(Err(TransactionError::TooManyInFlight));
            return;
        }
        let now = Instant::now();
        if deadline <= now {
            let _ = reply.send(Err(TransactionError::Deadline { transmissions: 0 }));
            return;
        }
        let sans_now = self.clock.to_sans(now);
        let data = match self.agent.send_request(bytes.as_slice(), to, sans_now) {
            Ok(t) => t.data.to_vec(),
            Err(e) => {
                let _ = reply.send(Err(TransactionError::Encode(e.to_string())));
                return;
            }
        };
        if let Some(mut req) = self.agent.mut_request_transaction(tid) {
            req.configure_timeout_with_max(
                cfg.initial_rto,
                cfg.rc.max(1),
                cfg.final_wait(),
                cfg.max_rto,
            );
        }
        bump(&self.counters.requests);
        let sent = self.socket.send_to(&data, to).await;
        self.pending.insert(
            tid,
            Pending {
                reply,
                to,
                transmissions: 1,
                last_send: now,
                deadline,
            },
        );
        if let Err(e) = sent {
            // A failed send is like a lost packet: retransmission may
            // recover. It may also carry an earlier ICMP error.
            bump(&self.counters.socket_errors);
            tracing::debug!("send to {to} failed: {e}");
            self.on_icmp();
        }
    }

    /// Ends the transactions an ICMP error answers (port, host or network
    /// unreachable; prohibited). Returns whether any error was queued.
    fn on_icmp(&mut self) -> bool {
        let errors = crate::icmp::drain(self.socket.as_ref());
        for e in &errors {
            if e.kind == crate::icmp::IcmpKind::TimeExceeded {
                continue;
            }
            let hit: Vec<TransactionId> = self
                .pending
                .iter()
                .filter(|(_, p)| p.to == e.to)
                .map(|(t, _)| *t)
                .collect();
            for tid in hit {
                self.cancel(tid);
                if let Some(p) = self.pending.remove(&tid) {
                    let _ = p.reply.send(Err(TransactionError::Unreachable {
                        kind: e.kind,
                        from: e.from,
                        transmissions: p.transmissions,
                    }));
                }
            }
        }
        !errors.is_empty()
    }

    fn on_datagram(&mut self, data: &[u8], from: SocketAddr) {
        bump(&self.counters.received);
        let Ok(msg) = Message::from_bytes(data) else {
            bump(&self.counters.malformed);
            return;
        };
        let tid = msg.transaction_id();
        if !msg.is_response() {
            bump(&self.counters.incoming);
            let item = IncomingStun {
                from,
                bytes: data.to_vec(),
                transaction_id: tid,
            };
            if self.incoming.try_send(item).is_err() {
                bump(&self.counters.incoming_dropped);
            }
            return;
        }
        if !self.pending.contains_key(&tid) {
            bump(&self.counters.unmatched);
            return;
        }
        let parsed = match parse_message(&msg) {
            Ok(p) => p,
            Err(_) => {
                bump(&self.counters.malformed);
                return;
            }
        };
        let now = Instant::now();
        let sans_now = self.clock.to_sans(now);
        self.agent
            .handle_stun_message_with_time(&msg, from, sans_now);
        let Some(p) = self.pending.remove(&tid) else {
            return;
        };
        bump(&self.counters.matched);
        let _ = p.reply.send(Ok(StunResponse {
            from,
            local: self.agent.local_addr(),
            rtt: now.saturating_duration_since(p.last_send),
            transmissions: p.transmissions,
            bytes: data.to_vec(),
            parsed,
        }));
    }

    fn cancel(&mut self, tid: TransactionId) {
        if let Some(mut req) = self.agent.mut_request_transaction(tid) {
            req.cancel();
        }
    }

    async fn on_timers(&mut self) {
        let now = Instant::now();
        // Callers that gave up, and transactions past their deadline.
        let expired: Vec<TransactionId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now || p.reply.is_closed())
            .map(|(t, _)| *t)
            .collect();
        for tid in expired {
            self.cancel(tid);
            if let Some(p) = self.pending.remove(&tid) {
                let _ = p.reply.send(Err(TransactionError::Deadline {
                    transmissions: p.transmissions,
                }));
            }
        }
        let sans_now = self.clock.to_sans(now);
        // Retransmissions that are due.
        let mut due = Vec::new();
        while let Some(t) = self.agent.poll_transmit(sans_now) {
            due.push((t.to, t.data.to_vec()));
        }
        for (to, data) in due {
            if let Ok(h) = MessageHeader::from_bytes(&data)
                && let Some(p) = self.pending.get_mut(&h.transaction_id())
            {
                p.transmissions += 1;
                p.last_send = now;
            }
            bump(&self.counters.retransmissions);
            if let Err(e) = self.socket.send_to(&data, to).await {
                bump(&self.counters.socket_errors);
                tracing::debug!("retransmit to {to} failed: {e}");
                self.on_icmp();
            }
        }
        // Timeouts and cancellations.
        loop {
            match self.agent.poll(sans_now) {
                StunAgentPollRet::TransactionTimedOut(tid) => {
                    if let Some(p) = self.pending.remove(&tid) {
                        bump(&self.counters.timeouts);
                        let _ = p.reply.send(Err(TransactionError::Timeout {
                            transmissions: p.transmissions,
                        }));
                    }
                }
                StunAgentPollRet::TransactionCancelled(tid) => {
                    self.pending.remove(&tid);
                }
                StunAgentPollRet::WaitUntil(t) => {
                    self.agent_wake = self.clock.to_tokio(t);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_defaults_total_39_5_s() {
        let cfg = RetransmitConfig::default();
        assert_eq!(cfg.total_wait(), Duration::from_millis(39_500));
        assert_eq!(cfg.retransmit_waits().count(), 6);
    }

    #[test]
    fn for_rtt_clamps() {
        let lo = RetransmitConfig::for_rtt(Duration::from_micros(50));
        assert_eq!(lo.initial_rto, Duration::from_millis(50));
        let mid = RetransmitConfig::for_rtt(Duration::from_millis(40));
        assert_eq!(mid.initial_rto, Duration::from_millis(120));
        let hi = RetransmitConfig::for_rtt(Duration::from_secs(2));
        assert_eq!(hi.initial_rto, Duration::from_millis(500));
    }

    #[test]
    fn binding_request_carries_attributes() {
        let (tid, bytes) = binding_request(
            Some(ChangeRequest::new(true, false)),
            Some(4000),
            Some(8),
            true,
        );
        let msg = Message::from_bytes(&bytes).expect("valid request");
        assert_eq!(msg.transaction_id(), tid);
        assert!(msg.has_class(MessageClass::Request));
        assert_eq!(
            msg.attribute::<ChangeRequest>().expect("change"),
            ChangeRequest::new(true, false)
        );
        assert_eq!(msg.attribute::<ResponsePort>().expect("port").port(), 4000);
        assert_eq!(msg.attribute::<Padding>().expect("pad").len(), 8);
        // Conservative for RFC 3489 servers: no SOFTWARE, and every
        // attribute a multiple of 4 bytes long.
        assert!(msg.attribute::<Software>().is_err());
        let mut at = 20;
        while at + 4 <= bytes.len() {
            let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
            assert_eq!(len % 4, 0, "attribute at {at} is {len} bytes");
            at += 4 + len;
        }
    }

    #[test]
    fn parse_rejects_requests_and_garbage() {
        let (_, req) = binding_request(None, None, None, false);
        assert!(parse_response(&req).is_err());
        assert!(parse_response(&[0xff; 40]).is_err());
        assert!(parse_response(&[]).is_err());
    }
}
