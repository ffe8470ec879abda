//! An embedded TURN server on turn-server-proto: UDP, TCP and TLS listeners
//! on one IP (loopback by default), long-term credentials, one UDP relay
//! socket bound per allocation. For tests and the loopback lab only.
//!
//! STUN Binding requests are answered by the server itself, on every
//! listener, the way natscope's single-address responder answers them
//! (`crate::responder`: XOR-MAPPED-ADDRESS of the sender, MAPPED-ADDRESS,
//! RESPONSE-ORIGIN, FINGERPRINT; 420 to a CHANGE-REQUEST asking for a
//! change): turn-server-proto 0.7.3 sends its Binding answer to the
//! server's own address, so a client would never get it. Everything else
//! goes to turn-server-proto. TCP and TLS streams are cut into whole STUN
//! and ChannelData messages first (ChannelData padding dropped, at most one
//! message buffered), so each message is handled as it arrives, also when
//! one read holds several. (RFC 6062 data connections, which carry raw
//! bytes, never exist: the server refuses Connect.)
//!
//! Test support beyond a healthy server: [`TestTurnServerConfig::faults`]
//! ([`TestTurnFaults`]) makes it answer the way a misbehaving or loaded
//! server would, and [`TestTurnServerConfig::cert_validity`] serves an
//! expired or not yet valid certificate.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use probe::turn::{Secret, TestTurnServer, TestTurnServerConfig};
//! let cfg = TestTurnServerConfig::new("natscope.test", "alice", Secret::new("pw"));
//! let server = TestTurnServer::start(cfg).await?;
//! println!("turn:{}  turns:{}", server.udp_addr, server.tls_addr);
//! server.shutdown();
//! # Ok(()) }
//! ```

use super::client::{MAX_FRAME, frame_len, strip_padding};
use super::creds::Secret;
use super::tls::{TestCertValidity, TestPki};
use crate::responder::answer::{Answerer, Outcome, RESPONSE_BASE_LEN, Transport as StunTransport};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use turn_server_proto::api::{TurnServerApi, TurnServerPollRet};
use turn_server_proto::server::TurnServer;
use turn_server_proto::stun::Instant as SansInstant;
use turn_server_proto::stun::agent::Transmit;
use turn_server_proto::types::TransportType;

/// Configuration of the embedded TURN server.
#[derive(Clone, Debug)]
pub struct TestTurnServerConfig {
    /// The realm announced in 401 answers.
    pub realm: String,
    /// Long-term users.
    pub users: Vec<(String, Secret)>,
    /// The IP to listen on and to relay from (loopback by default).
    pub ip: IpAddr,
    /// DNS names / IPs the generated TLS certificate is valid for.
    pub cert_names: Vec<String>,
    /// The validity window of the generated TLS certificate (test support:
    /// [`TestCertValidity::Expired`] provokes `tls_expired`).
    pub cert_validity: TestCertValidity,
    /// Fault injection (test support); none by default.
    pub faults: TestTurnFaults,
}

/// Test support: answers the embedded server gives on purpose, to provoke
/// failures a healthy turn-server-proto server never shows. All off by
/// default. Counted per listener (UDP, TCP and TLS each on their own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestTurnFaults {
    /// The first N authenticated Allocate requests (those carrying
    /// MESSAGE-INTEGRITY, each new transaction counted once) find their
    /// nonce expired, so the server answers 438 Stale Nonce with REALM and a
    /// fresh NONCE, exactly as when a nonce's lifetime runs out: the nonce
    /// lifetime is set to turn-server-proto's minimum (30 s) and the
    /// listener's clock is moved 31 s forward before such a request is
    /// handled. Allocations of that listener age by as much (their default
    /// lifetime is 600 s). 1 lets a client that retries once with the new
    /// nonce succeed; 2 or more answers that retry with 438 again.
    pub stale_nonce_allocates: u32,
    /// The same for Refresh: the first N authenticated Refresh requests
    /// (deleting ones, LIFETIME 0, included) are answered 438 Stale Nonce
    /// after the listener's clock jumps past the nonce lifetime. A probe's
    /// `refresh` stage sends the first Refresh of a connection, so 1
    /// provokes exactly one 438 there (retried), 2 answers its retry 438
    /// too; the deleting Refresh after it is then not touched.
    pub stale_nonce_refreshes: u32,
    /// The same for deleting Refreshes only (LIFETIME 0; counted apart, and
    /// used before `stale_nonce_refreshes` for them): the first N are
    /// answered 438 Stale Nonce, other Refreshes are left alone. A probe's
    /// `deallocate` stage sends the first deleting Refresh of a connection,
    /// so 1 provokes exactly one 438 there (retried), 2 answers its retry
    /// 438 too.
    pub stale_nonce_deletes: u32,
}

impl TestTurnServerConfig {
    /// One user on 127.0.0.1, certificate valid for `localhost` and
    /// `127.0.0.1`.
    pub fn new(realm: &str, username: &str, password: Secret) -> Self {
        Self {
            realm: realm.to_string(),
            users: vec![(username.to_string(), password)],
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            cert_names: vec!["localhost".into(), "127.0.0.1".into()],
            cert_validity: TestCertValidity::Current,
            faults: TestTurnFaults::default(),
        }
    }
}

/// A running embedded TURN server. Dropping it stops every task.
#[derive(Debug)]
pub struct TestTurnServer {
    /// `turn:` over UDP.
    pub udp_addr: SocketAddr,
    /// `turn:` over TCP.
    pub tcp_addr: SocketAddr,
    /// `turns:` over TLS.
    pub tls_addr: SocketAddr,
    /// The generated CA and server certificate.
    pub pki: TestPki,
    injected: Arc<AtomicU32>,
    tasks: Vec<JoinHandle<()>>,
}

impl TestTurnServer {
    /// Binds the listeners and starts serving.
    pub async fn start(cfg: TestTurnServerConfig) -> io::Result<Self> {
        let names: Vec<&str> = cfg.cert_names.iter().map(String::as_str).collect();
        let pki =
            TestPki::generate_with_validity(&names, cfg.cert_validity).map_err(io::Error::other)?;
        let tls_cfg = pki.server_config().map_err(io::Error::other)?;
        let udp = Arc::new(UdpSocket::bind(SocketAddr::new(cfg.ip, 0)).await?);
        let tcp = TcpListener::bind(SocketAddr::new(cfg.ip, 0)).await?;
        let tls = TcpListener::bind(SocketAddr::new(cfg.ip, 0)).await?;
        let (udp_addr, tcp_addr, tls_addr) =
            (udp.local_addr()?, tcp.local_addr()?, tls.local_addr()?);
        let mut tasks = Vec::new();
        let injected = Arc::new(AtomicU32::new(0));
        let faults = || Faults::new(&cfg.faults, injected.clone());
        let binding = Arc::new(Answerer::single_address());

        // UDP
        let (tx, rx) = mpsc::channel::<Inbound>(1024);
        let core = new_core(&cfg, TransportType::Udp, udp_addr);
        tasks.push(tokio::spawn(run_core(
            core,
            rx,
            tx.clone(),
            Some(udp.clone()),
            cfg.ip,
            faults(),
        )));
        let answerer = binding.clone();
        tasks.push(tokio::spawn(async move {
            let mut b = vec![0u8; 65536];
            let mut out = vec![0u8; BINDING_OUT_LEN];
            while let Ok((n, from)) = udp.recv_from(&mut b).await {
                if is_binding_request(&b[..n]) {
                    let answer = answer_binding(
                        &answerer,
                        &b[..n],
                        from,
                        udp_addr,
                        StunTransport::Udp,
                        &mut out,
                    );
                    if let Some((len, to)) = answer {
                        let _ = udp.send_to(&out[..len], to).await;
                    }
                    continue;
                }
                if tx
                    .send(Inbound::Client {
                        from,
                        data: b[..n].to_vec(),
                    })
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }));

        // TCP
        let (tx, rx) = mpsc::channel::<Inbound>(1024);
        let core = new_core(&cfg, TransportType::Tcp, tcp_addr);
        tasks.push(tokio::spawn(run_core(
            core,
            rx,
            tx.clone(),
            None,
            cfg.ip,
            faults(),
        )));
        let answerer = binding.clone();
        tasks.push(tokio::spawn(async move {
            while let Ok((s, from)) = tcp.accept().await {
                let _ = s.set_nodelay(true);
                spawn_stream(s, from, tcp_addr, tx.clone(), answerer.clone());
            }
        }));

        // TLS
        let (tx, rx) = mpsc::channel::<Inbound>(1024);
        let core = new_core(&cfg, TransportType::Tcp, tls_addr);
        tasks.push(tokio::spawn(run_core(
            core,
            rx,
            tx.clone(),
            None,
            cfg.ip,
            faults(),
        )));
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_cfg);
        tasks.push(tokio::spawn(async move {
            while let Ok((s, from)) = tls.accept().await {
                let _ = s.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                let answerer = binding.clone();
                tokio::spawn(async move {
                    let accept = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(s),
                    );
                    if let Ok(Ok(tls)) = accept.await {
                        spawn_stream(tls, from, tls_addr, tx, answerer);
                    }
                });
            }
        }));

        Ok(Self {
            udp_addr,
            tcp_addr,
            tls_addr,
            pki,
            injected,
            tasks,
        })
    }

    /// How many faults ([`TestTurnFaults`]) the server has injected so far,
    /// over all listeners (test support).
    pub fn faults_injected(&self) -> u32 {
        self.injected.load(Ordering::Relaxed)
    }

    /// The CA certificate (PEM) clients must trust for the TLS listener.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// Stops the server.
    pub fn shutdown(self) {
        drop(self)
    }
}

impl Drop for TestTurnServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// turn-server-proto's shortest nonce lifetime (it panics below it).
const NONCE_LIFETIME: Duration = Duration::from_secs(30);

fn new_core(cfg: &TestTurnServerConfig, t: TransportType, listen: SocketAddr) -> TurnServer {
    let mut s = TurnServer::new(t, listen, cfg.realm.clone());
    for (u, p) in &cfg.users {
        s.add_user(u.clone(), p.expose().to_string());
    }
    if cfg.faults != TestTurnFaults::default() {
        s.set_nonce_expiry_duration(NONCE_LIFETIME);
    }
    s
}

/// One listener's fault state.
struct Faults {
    /// Stale-nonce answers still to give to Allocates.
    allocates_left: u32,
    /// Stale-nonce answers still to give to Refreshes.
    refreshes_left: u32,
    /// Stale-nonce answers still to give to deleting Refreshes (LIFETIME 0)
    /// before `refreshes_left` is used for them.
    deletes_left: u32,
    /// Transactions already answered stale (a retransmission is not a new
    /// fault); bounded.
    seen: VecDeque<[u8; 12]>,
    /// Faults injected by the whole server.
    injected: Arc<AtomicU32>,
}

impl Faults {
    fn new(cfg: &TestTurnFaults, injected: Arc<AtomicU32>) -> Self {
        Self {
            allocates_left: cfg.stale_nonce_allocates,
            refreshes_left: cfg.stale_nonce_refreshes,
            deletes_left: cfg.stale_nonce_deletes,
            seen: VecDeque::new(),
            injected,
        }
    }

    /// How far to move the listener's clock before `data` is handled.
    fn clock_jump(&mut self, data: &[u8]) -> Option<Duration> {
        if self.allocates_left == 0 && self.refreshes_left == 0 && self.deletes_left == 0 {
            return None;
        }
        let req = authenticated_request(data)?;
        let tx = req.tx;
        let left = match req.method {
            ALLOCATE => &mut self.allocates_left,
            REFRESH if req.deleting && self.deletes_left > 0 => &mut self.deletes_left,
            REFRESH => &mut self.refreshes_left,
            _ => return None,
        };
        if *left == 0 || self.seen.contains(&tx) {
            return None;
        }
        *left -= 1;
        if self.seen.len() >= 64 {
            self.seen.pop_front();
        }
        self.seen.push_back(tx);
        self.injected.fetch_add(1, Ordering::Relaxed);
        Some(NONCE_LIFETIME + Duration::from_secs(1))
    }
}

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
/// STUN attribute types of MESSAGE-INTEGRITY and MESSAGE-INTEGRITY-SHA256.
const INTEGRITY_TYPES: [u16; 2] = [0x0008, 0x001C];
/// STUN attribute type of LIFETIME.
const LIFETIME: u16 = 0x000D;
/// Message types of an Allocate and a Refresh request.
const ALLOCATE: u16 = 0x0003;
const REFRESH: u16 = 0x0004;

/// An authenticated request, as far as fault injection needs it.
#[derive(Debug, PartialEq, Eq)]
struct SignedRequest {
    /// The message type.
    method: u16,
    /// The transaction id.
    tx: [u8; 12],
    /// LIFETIME 0 came before the integrity attribute (a deleting Refresh).
    deleting: bool,
}

/// The request `data` starts with, when it carries MESSAGE-INTEGRITY(-SHA256),
/// i.e. is an authenticated one.
fn authenticated_request(data: &[u8]) -> Option<SignedRequest> {
    if data.len() < 20 || data[0] & 0xC0 != 0 || data[4..8] != MAGIC_COOKIE {
        return None;
    }
    let mtype = u16::from_be_bytes([data[0], data[1]]);
    // Class bits (0x0110) zero: a request.
    if mtype & 0x0110 != 0 {
        return None;
    }
    let end = 20 + usize::from(u16::from_be_bytes([data[2], data[3]]));
    let msg = data.get(..end)?;
    let mut at = 20;
    let mut deleting = false;
    while at + 4 <= msg.len() {
        let kind = u16::from_be_bytes([msg[at], msg[at + 1]]);
        if INTEGRITY_TYPES.contains(&kind) {
            let mut tx = [0u8; 12];
            tx.copy_from_slice(&msg[8..20]);
            return Some(SignedRequest {
                method: mtype,
                tx,
                deleting,
            });
        }
        let len = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
        if kind == LIFETIME && len == 4 {
            deleting = msg.get(at + 4..at + 8) == Some(&[0u8; 4][..]);
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

enum Inbound {
    Client {
        from: SocketAddr,
        data: Vec<u8>,
    },
    NewStream {
        from: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
    },
    StreamClosed {
        from: SocketAddr,
    },
    Relay {
        relayed: SocketAddr,
        from: SocketAddr,
        data: Vec<u8>,
    },
}

/// Room for a Binding answer ([`Answerer::single_address`] caps PADDING at
/// 0 bytes).
const BINDING_OUT_LEN: usize = RESPONSE_BASE_LEN + 8;

/// True when `frame` is a STUN Binding request (type 0x0001, magic cookie).
fn is_binding_request(frame: &[u8]) -> bool {
    frame.len() >= 20 && frame[..2] == [0x00, 0x01] && frame[4..8] == MAGIC_COOKIE
}

/// Answers the Binding request `req` from `from`, received on the listener
/// at `listen`, into `out`: the answer's length and where it goes (the
/// sender; over UDP another port of it when RESPONSE-PORT asks), or `None`
/// when it gets no answer (malformed).
fn answer_binding(
    answerer: &Answerer,
    req: &[u8],
    from: SocketAddr,
    listen: SocketAddr,
    transport: StunTransport,
    out: &mut [u8],
) -> Option<(usize, SocketAddr)> {
    let origin = (!listen.ip().is_unspecified()).then_some(listen);
    match answerer.answer(req, from, 0, origin, transport, out) {
        Outcome::Reply { len, to, .. } => Some((len, to)),
        Outcome::Drop => None,
    }
}

/// Serves one TCP or TLS connection from `from`, accepted on `listen`:
/// cuts what it reads into whole STUN / ChannelData messages, answers
/// Binding requests itself and hands every other message to the core.
fn spawn_stream<S>(
    s: S,
    from: SocketAddr,
    listen: SocketAddr,
    tx: mpsc::Sender<Inbound>,
    answerer: Arc<Answerer>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(s);
    let (wtx, mut wrx) = mpsc::channel::<Vec<u8>>(256);
    tokio::spawn(async move {
        let writer = wtx.clone();
        if tx.send(Inbound::NewStream { from, writer }).await.is_err() {
            return;
        }
        let writer = tokio::spawn(async move {
            while let Some(d) = wrx.recv().await {
                if wr.write_all(&d).await.is_err() || wr.flush().await.is_err() {
                    break;
                }
            }
        });
        let mut b = vec![0u8; 16384];
        let mut buf: Vec<u8> = Vec::new();
        let mut out = vec![0u8; BINDING_OUT_LEN];
        'read: loop {
            match rd.read(&mut b).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&b[..n]),
            }
            while strip_padding(&mut buf)
                && let Some(n) = frame_len(&buf)
            {
                let frame: Vec<u8> = buf.drain(..n).collect();
                if is_binding_request(&frame) {
                    let answer = answer_binding(
                        &answerer,
                        &frame,
                        from,
                        listen,
                        StunTransport::Tcp,
                        &mut out,
                    );
                    if let Some((len, _)) = answer
                        && wtx.send(out[..len].to_vec()).await.is_err()
                    {
                        break 'read;
                    }
                    continue;
                }
                if tx
                    .send(Inbound::Client { from, data: frame })
                    .await
                    .is_err()
                {
                    break 'read;
                }
            }
            // Safety bound: what is left is less than one frame (at most
            // MAX_FRAME bytes) plus padding.
            if buf.len() > MAX_FRAME + 4 {
                break;
            }
        }
        writer.abort();
        let _ = tx.send(Inbound::StreamClosed { from }).await;
    });
}

/// Aborts a task when dropped (relay readers die with their core).
struct AbortOnDrop(JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Core {
    server: TurnServer,
    listen: SocketAddr,
    transport: TransportType,
    udp: Option<Arc<UdpSocket>>,
    writers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    relays: HashMap<SocketAddr, (Arc<UdpSocket>, AbortOnDrop)>,
    base: std::time::Instant,
    /// How far this listener's clock runs ahead of real time (stale-nonce
    /// fault injection moves it).
    skew: Duration,
}

const MAX_RELAYS: usize = 256;
const MAX_STREAMS: usize = 256;

impl Core {
    fn now(&self) -> SansInstant {
        SansInstant::from_nanos((self.base.elapsed() + self.skew).as_nanos() as i64)
    }

    /// How long from now until the listener's clock shows `t`.
    fn until(&self, t: SansInstant) -> Duration {
        let nanos = t.as_nanos().max(0) as u64;
        Duration::from_nanos(nanos)
            .saturating_sub(self.skew)
            .saturating_sub(self.base.elapsed())
    }

    fn route(&self, t: Transmit<Vec<u8>>) {
        if t.from == self.listen {
            if let Some(u) = &self.udp {
                let _ = u.try_send_to(&t.data, t.to);
            } else if let Some(w) = self.writers.get(&t.to) {
                let _ = w.try_send(t.data);
            }
        } else if let Some((sock, _)) = self.relays.get(&t.from) {
            let _ = sock.try_send_to(&t.data, t.to);
        }
    }

    async fn service(&mut self, tx: &mpsc::Sender<Inbound>, ip: IpAddr) -> Option<SansInstant> {
        loop {
            let now = self.now();
            match self.server.poll(now) {
                TurnServerPollRet::WaitUntil(t) => {
                    while let Some(t) = self.server.poll_transmit(now) {
                        self.route(t);
                    }
                    return Some(t);
                }
                TurnServerPollRet::AllocateSocket {
                    transport,
                    listen_addr,
                    client_addr,
                    allocation_transport,
                    family,
                } => {
                    let res = if self.relays.len() >= MAX_RELAYS {
                        Err(turn_server_proto::api::SocketAllocateError::InsufficientCapacity)
                    } else {
                        match UdpSocket::bind(SocketAddr::new(ip, 0)).await {
                            Ok(sock) => match sock.local_addr() {
                                Ok(addr) => {
                                    let sock = Arc::new(sock);
                                    let (rs, tx) = (sock.clone(), tx.clone());
                                    let task = tokio::spawn(async move {
                                        let mut b = vec![0u8; 65536];
                                        while let Ok((n, from)) = rs.recv_from(&mut b).await {
                                            let m = Inbound::Relay { relayed: addr, from, data: b[..n].to_vec() };
                                            if tx.send(m).await.is_err() {
                                                break;
                                            }
                                        }
                                    });
                                    self.relays.insert(addr, (sock, AbortOnDrop(task)));
                                    Ok(addr)
                                }
                                Err(_) => Err(turn_server_proto::api::SocketAllocateError::InsufficientCapacity),
                            },
                            Err(_) => Err(turn_server_proto::api::SocketAllocateError::InsufficientCapacity),
                        }
                    };
                    let now = self.now();
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
                    self.relays.remove(&listen_addr);
                }
                TurnServerPollRet::TcpConnect {
                    relayed_addr,
                    peer_addr,
                    listen_addr,
                    client_addr,
                } => {
                    let now = self.now();
                    self.server.tcp_connected(
                        relayed_addr,
                        peer_addr,
                        listen_addr,
                        client_addr,
                        Err(turn_server_proto::api::TcpConnectError::Forbidden),
                        now,
                    );
                }
                TurnServerPollRet::TcpClose { .. } => {}
            }
        }
    }
}

async fn run_core(
    server: TurnServer,
    mut rx: mpsc::Receiver<Inbound>,
    tx: mpsc::Sender<Inbound>,
    udp: Option<Arc<UdpSocket>>,
    ip: IpAddr,
    mut faults: Faults,
) {
    let listen = server.listen_address();
    let transport = server.transport();
    let mut core = Core {
        server,
        listen,
        transport,
        udp,
        writers: HashMap::new(),
        relays: HashMap::new(),
        base: std::time::Instant::now(),
        skew: Duration::ZERO,
    };
    loop {
        let wake = core.service(&tx, ip).await;
        let sleep_for = wake
            .map(|t| core.until(t))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        let msg = tokio::select! {
            m = rx.recv() => match m { Some(m) => m, None => return },
            _ = tokio::time::sleep(sleep_for) => continue,
        };
        if let Inbound::Client { data, .. } = &msg
            && let Some(jump) = faults.clock_jump(data)
        {
            core.skew += jump;
        }
        let now = core.now();
        let out = match msg {
            Inbound::Client { from, data } => {
                let t = Transmit::new(data.as_slice(), core.transport, from, core.listen);
                core.server.recv(t, now).map(|b| b.build())
            }
            Inbound::Relay {
                relayed,
                from,
                data,
            } => {
                let t = Transmit::new(data.as_slice(), TransportType::Udp, from, relayed);
                core.server.recv(t, now).map(|b| b.build())
            }
            Inbound::NewStream { from, writer } => {
                if core.writers.len() < MAX_STREAMS {
                    core.writers.insert(from, writer);
                }
                None
            }
            Inbound::StreamClosed { from } => {
                core.writers.remove(&from);
                None
            }
        };
        if let Some(t) = out {
            core.route(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN message: `method` request with attributes `(type, len)`.
    fn request(method: u8, attrs: &[(u16, u16)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, len) in attrs {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&len.to_be_bytes());
            body.resize(body.len() + usize::from(*len).div_ceil(4) * 4, 0);
        }
        let mut m = vec![0, method];
        m.extend_from_slice(&u16::try_from(body.len()).expect("small").to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(b"natscope-txn");
        m.extend_from_slice(&body);
        m
    }

    /// What [`authenticated_request`] finds in one of [`request`]'s messages.
    fn signed_request(method: u16, deleting: bool) -> Option<SignedRequest> {
        Some(SignedRequest {
            method,
            tx: *b"natscope-txn",
            deleting,
        })
    }

    /// A Refresh with LIFETIME `secs`, signed.
    fn refresh_for(secs: u32) -> Vec<u8> {
        let mut m = request(4, &[(LIFETIME, 4), (0x0008, 20)]);
        // The LIFETIME value follows the 20-byte header and its own 4.
        m[24..28].copy_from_slice(&secs.to_be_bytes());
        m
    }

    #[test]
    fn recognises_authenticated_requests_only() {
        // REQUESTED-TRANSPORT, USERNAME (odd length, padded), then integrity.
        let signed = request(3, &[(0x0019, 4), (0x0006, 5), (0x0008, 20)]);
        assert_eq!(
            authenticated_request(&signed),
            signed_request(ALLOCATE, false)
        );
        let sha256 = request(3, &[(0x001C, 32)]);
        assert_eq!(
            authenticated_request(&sha256),
            signed_request(ALLOCATE, false)
        );
        // Followed by more stream data: still recognised.
        let mut more = signed.clone();
        more.extend_from_slice(&[0x40, 0, 0, 4]);
        assert_eq!(
            authenticated_request(&more),
            signed_request(ALLOCATE, false)
        );
        assert_eq!(
            authenticated_request(&refresh_for(0)),
            signed_request(REFRESH, true)
        );
        assert_eq!(
            authenticated_request(&refresh_for(600)),
            signed_request(REFRESH, false)
        );
        assert_eq!(authenticated_request(&request(3, &[(0x0019, 4)])), None);
        assert_eq!(authenticated_request(&signed[..signed.len() - 1]), None);
        assert_eq!(authenticated_request(&[0u8; 8]), None);
        // A response (class bits set) is not a request.
        let mut answer = signed.clone();
        answer[1] |= 0x10;
        assert_eq!(authenticated_request(&answer), None);
    }

    /// `m` with another transaction id (first byte `b`): a new transaction.
    fn new_tx(mut m: Vec<u8>, b: u8) -> Vec<u8> {
        m[8] = b;
        m
    }

    /// Feeds `steps` (a message, whether the clock must jump past the nonce
    /// lifetime for it, why) in order to one listener's faults set by
    /// `cfg`; returns how many faults the server counted.
    fn run_faults(cfg: &TestTurnFaults, steps: &[(Vec<u8>, bool, &str)]) -> u32 {
        let injected = Arc::new(AtomicU32::new(0));
        let mut f = Faults::new(cfg, injected.clone());
        for (msg, jumps, why) in steps {
            let jump = f.clock_jump(msg);
            if *jumps {
                assert!(jump.is_some_and(|d| d > NONCE_LIFETIME), "{why}: {jump:?}");
            } else {
                assert_eq!(jump, None, "{why}");
            }
        }
        injected.load(Ordering::Relaxed)
    }

    #[test]
    fn stale_nonce_faults_count_each_transaction_once() {
        let cfg = TestTurnFaults {
            stale_nonce_allocates: 2,
            ..TestTurnFaults::default()
        };
        let signed = request(3, &[(0x0008, 20)]);
        let steps = [
            (request(3, &[]), false, "not authenticated"),
            (request(4, &[(0x0008, 20)]), false, "a Refresh"),
            (signed.clone(), true, "the first Allocate"),
            (signed.clone(), false, "a retransmission"),
            (new_tx(signed.clone(), b'N'), true, "the second Allocate"),
            (new_tx(signed, b'O'), false, "only the first two"),
        ];
        assert_eq!(run_faults(&cfg, &steps), 2);
    }

    #[test]
    fn stale_nonce_refresh_faults_leave_allocates_alone() {
        let cfg = TestTurnFaults {
            stale_nonce_refreshes: 1,
            ..TestTurnFaults::default()
        };
        let refresh = request(4, &[(0x000D, 4), (0x0008, 20)]);
        let steps = [
            (request(3, &[(0x0008, 20)]), false, "an Allocate"),
            (refresh.clone(), true, "the first Refresh"),
            (refresh.clone(), false, "a retransmission"),
            (new_tx(refresh, b'R'), false, "only the first"),
        ];
        assert_eq!(run_faults(&cfg, &steps), 1);
    }

    #[test]
    fn stale_nonce_delete_faults_touch_deleting_refreshes_only() {
        let cfg = TestTurnFaults {
            stale_nonce_deletes: 2,
            ..TestTurnFaults::default()
        };
        let steps = [
            (request(3, &[(0x0008, 20)]), false, "an Allocate"),
            (refresh_for(600), false, "not deleting"),
            (refresh_for(0), true, "the deleting Refresh"),
            (refresh_for(0), false, "a retransmission"),
            (new_tx(refresh_for(0), b'R'), true, "the retry"),
            (new_tx(refresh_for(0), b'S'), false, "only the first two"),
        ];
        assert_eq!(run_faults(&cfg, &steps), 2);

        // With both knobs a deleting Refresh uses up its own first.
        let both = TestTurnFaults {
            stale_nonce_refreshes: 1,
            stale_nonce_deletes: 1,
            ..TestTurnFaults::default()
        };
        let steps = [
            (refresh_for(0), true, "the deleting Refresh"),
            (
                new_tx(refresh_for(600), b'R'),
                true,
                "refreshes_left untouched",
            ),
        ];
        assert_eq!(run_faults(&both, &steps), 2);
    }

    /// Binding requests to every listener are answered by the server
    /// itself, with the sender's address: UDP through the transaction
    /// layer, also with 420 to a CHANGE-REQUEST (a single address cannot
    /// honour it); TCP with two requests in one write (each answered, in
    /// order); TLS with the server's certificate verified.
    #[tokio::test]
    async fn answers_binding_requests_on_every_listener() {
        use crate::stun::attrs::ChangeRequest;
        use crate::stun::tcp::read_frame;
        use crate::stun::transaction::{
            ResponseClass, RetransmitConfig, UdpStunClient, binding_request, parse_response,
        };
        use crate::turn::tls::{TlsOptions, client_config, server_name};

        let server = TestTurnServer::start(TestTurnServerConfig::new(
            "natscope.test",
            "alice",
            Secret::new("pw"),
        ))
        .await
        .expect("embedded server starts");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

        // UDP, through the transaction layer.
        let udp = UdpStunClient::bind(loopback).await.expect("bind loopback");
        let (_, req) = binding_request(None, None, None, true, true);
        let r = udp
            .request(req, server.udp_addr, RetransmitConfig::default(), deadline)
            .await
            .expect("UDP Binding answered");
        assert_eq!(r.parsed.class, ResponseClass::Success);
        assert_eq!(r.parsed.xor_mapped, Some(udp.local_addr()));
        assert_eq!(r.parsed.response_origin, Some(server.udp_addr));
        assert_eq!(r.parsed.other_address, None, "not an RFC 5780 server");
        let (_, req) = binding_request(
            Some(ChangeRequest::new(true, true)),
            None,
            None,
            false,
            true,
        );
        let r = udp
            .request(req, server.udp_addr, RetransmitConfig::default(), deadline)
            .await
            .expect("CHANGE-REQUEST answered");
        assert_eq!(r.parsed.class, ResponseClass::Error);
        assert_eq!(r.parsed.error.map(|(code, _)| code), Some(420));

        // TCP: two requests in one write.
        let mut tcp = tokio::net::TcpStream::connect(server.tcp_addr)
            .await
            .expect("connect to loopback");
        let local = tcp.local_addr().expect("local address");
        let (tid1, mut two) = binding_request(None, None, None, false, true);
        let (tid2, second) = binding_request(None, None, None, false, false);
        two.extend_from_slice(&second);
        tcp.write_all(&two).await.expect("write");
        for tid in [tid1, tid2] {
            let frame = tokio::time::timeout_at(deadline, read_frame(&mut tcp))
                .await
                .expect("bounded")
                .expect("TCP Binding answered");
            let parsed = parse_response(&frame).expect("a STUN response");
            assert_eq!(parsed.transaction_id, tid);
            assert_eq!(parsed.xor_mapped, Some(local));
            assert_eq!(parsed.response_origin, Some(server.tcp_addr));
        }

        // TLS.
        let tls_cfg = client_config(&TlsOptions {
            ca_pem: Some(server.ca_pem().as_bytes().to_vec()),
            insecure: false,
        })
        .expect("client config");
        let tcp = tokio::net::TcpStream::connect(server.tls_addr)
            .await
            .expect("connect to loopback");
        let local = tcp.local_addr().expect("local address");
        let name = server_name("localhost").expect("valid name");
        let connector = tokio_rustls::TlsConnector::from(tls_cfg);
        let mut tls = tokio::time::timeout_at(deadline, connector.connect(name, tcp))
            .await
            .expect("bounded")
            .expect("TLS handshake");
        let (tid, req) = binding_request(None, None, None, false, true);
        tls.write_all(&req).await.expect("write");
        tls.flush().await.expect("flush");
        let frame = tokio::time::timeout_at(deadline, read_frame(&mut tls))
            .await
            .expect("bounded")
            .expect("TLS Binding answered");
        let parsed = parse_response(&frame).expect("a STUN response");
        assert_eq!(parsed.transaction_id, tid);
        assert_eq!(parsed.xor_mapped, Some(local));
    }
}
