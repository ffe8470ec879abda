//! The embedded TURN server on turn-server-proto: UDP, TCP and TLS listeners
//! on one IP (loopback by default), long-term credentials, one UDP relay
//! socket bound per allocation. It is what `natscope diagnose --lab` relays
//! through, and what the tests provoke TURN failures with.
//!
//! STUN Binding requests are answered by the server itself, on every
//! listener, the way natscope's single-address responder answers them
//! (the responder's one `Answerer`: XOR-MAPPED-ADDRESS of the sender,
//! MAPPED-ADDRESS, RESPONSE-ORIGIN, FINGERPRINT; 420 to a CHANGE-REQUEST
//! asking for a change): turn-server-proto 0.7.3 sends its Binding answer
//! to the server's own address, so a client would never get it. Everything
//! else goes to turn-server-proto. TCP and TLS streams are cut into whole
//! STUN and ChannelData messages by the one framer (`wire::Framer`), so
//! each message is handled as it arrives, also when one read holds several.
//! (RFC 6062 data connections, which carry raw bytes, never exist: the
//! server refuses Connect.)
//!
//! With the `test-support` feature, [`TurnServerConfig::faults`]
//! ([`TurnFaults`]) makes it answer the way a misbehaving or loaded server
//! would, and [`TurnServerConfig::cert_validity`] serves an expired or not
//! yet valid certificate.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use model::Secret;
//! use servers::turn::{TurnServer, TurnServerConfig};
//! let cfg = TurnServerConfig::new("natscope.test", "alice", Secret::new("pw"));
//! let server = TurnServer::start(cfg).await?;
//! println!("turn:{}  turns:{}", server.udp_addr, server.tls_addr);
//! server.shutdown();
//! # Ok(()) }
//! ```

mod faults;
mod peers;

#[cfg(feature = "test-support")]
pub use faults::TurnFaults;
#[cfg(not(feature = "test-support"))]
use faults::TurnFaults;

#[cfg(feature = "test-support")]
use crate::pki::CertValidity;
use crate::pki::Pki;
use crate::responder::answer::{
    Answerer, Arrival, Outcome, RESPONSE_BASE_LEN, Transport as StunTransport,
};
use faults::{Faults, NONCE_LIFETIME};
use model::Secret;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
#[cfg(feature = "test-support")]
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;
use turn_server_proto::api::{TurnServerApi, TurnServerPollRet};
use turn_server_proto::server::TurnServer as ProtoServer;
use turn_server_proto::stun::Instant as SansInstant;
use turn_server_proto::stun::agent::Transmit;
use turn_server_proto::types::TransportType;
use wire::{Clock, Framer};

/// Configuration of the embedded TURN server.
#[derive(Clone, Debug)]
pub struct TurnServerConfig {
    /// The realm announced in 401 answers.
    pub realm: String,
    /// Long-term users.
    pub users: Vec<(String, Secret)>,
    /// The IP to listen on and to relay from (loopback by default).
    pub ip: IpAddr,
    /// DNS names / IPs the generated TLS certificate is valid for.
    pub cert_names: Vec<String>,
    /// The validity window of the generated TLS certificate (test support:
    /// [`CertValidity::Expired`] provokes `tls-expired`).
    #[cfg(feature = "test-support")]
    pub cert_validity: CertValidity,
    /// Fault injection (test support); none by default.
    #[cfg(feature = "test-support")]
    pub faults: TurnFaults,
}

impl TurnServerConfig {
    /// One user on 127.0.0.1, certificate valid for `localhost` and
    /// `127.0.0.1`.
    pub fn new(realm: &str, username: &str, password: Secret) -> Self {
        Self {
            realm: realm.to_string(),
            users: vec![(username.to_string(), password)],
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            cert_names: vec!["localhost".into(), "127.0.0.1".into()],
            #[cfg(feature = "test-support")]
            cert_validity: CertValidity::Current,
            #[cfg(feature = "test-support")]
            faults: TurnFaults::default(),
        }
    }

    /// The fault knobs (none without the `test-support` feature).
    fn fault_knobs(&self) -> TurnFaults {
        #[cfg(feature = "test-support")]
        return self.faults.clone();
        #[cfg(not(feature = "test-support"))]
        TurnFaults::default()
    }

    /// The run's PKI, valid for [`Self::cert_names`].
    fn pki(&self) -> io::Result<Pki> {
        let names: Vec<&str> = self.cert_names.iter().map(String::as_str).collect();
        #[cfg(feature = "test-support")]
        let pki = Pki::generate_with_validity(&names, self.cert_validity);
        #[cfg(not(feature = "test-support"))]
        let pki = Pki::generate(&names);
        pki.map_err(io::Error::other)
    }
}

/// A running embedded TURN server. Dropping it stops every task.
#[derive(Debug)]
pub struct TurnServer {
    /// `turn:` over UDP.
    pub udp_addr: SocketAddr,
    /// `turn:` over TCP.
    pub tcp_addr: SocketAddr,
    /// `turns:` over TLS.
    pub tls_addr: SocketAddr,
    /// The run's CA and server certificate.
    pub pki: Pki,
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))]
    injected: Arc<AtomicU32>,
    tasks: Vec<JoinHandle<()>>,
}

impl TurnServer {
    /// Binds the listeners and starts serving.
    pub async fn start(cfg: TurnServerConfig) -> io::Result<Self> {
        let pki = cfg.pki()?;
        let tls_cfg = pki.server_config().map_err(io::Error::other)?;
        let udp = Arc::new(UdpSocket::bind(SocketAddr::new(cfg.ip, 0)).await?);
        let tcp = TcpListener::bind(SocketAddr::new(cfg.ip, 0)).await?;
        let tls = TcpListener::bind(SocketAddr::new(cfg.ip, 0)).await?;
        let (udp_addr, tcp_addr, tls_addr) =
            (udp.local_addr()?, tcp.local_addr()?, tls.local_addr()?);
        let mut tasks = Vec::new();
        let injected = Arc::new(AtomicU32::new(0));
        let knobs = cfg.fault_knobs();
        let faults = || Faults::new(&knobs, injected.clone());
        let binding = Arc::new(Answerer::single_address());
        let policy = peers::PeerPolicy {
            users: cfg.users.clone(),
            realm: cfg.realm.clone(),
        };

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
            policy.clone(),
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
            policy.clone(),
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
            policy.clone(),
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

    /// How many faults ([`TurnFaults`]) the server has injected so far,
    /// over all listeners (test support).
    #[cfg(feature = "test-support")]
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

impl Drop for TurnServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub(crate) fn new_core(
    cfg: &TurnServerConfig,
    t: TransportType,
    listen: SocketAddr,
) -> ProtoServer {
    let mut s = ProtoServer::new(t, listen, cfg.realm.clone());
    for (u, p) in &cfg.users {
        s.add_user(u.clone(), p.expose().to_string());
    }
    if cfg.fault_knobs().any() {
        s.set_nonce_expiry_duration(NONCE_LIFETIME);
    }
    s
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
pub(crate) const BINDING_OUT_LEN: usize = RESPONSE_BASE_LEN + 8;

/// True when `frame` is a STUN Binding request (type 0x0001, magic cookie).
pub(crate) fn is_binding_request(frame: &[u8]) -> bool {
    wire::has_magic_cookie(frame) && frame[..2] == [0x00, 0x01]
}

/// Answers the Binding request `req` from `from`, received on the listener
/// at `listen`, into `out`: the answer's length and where it goes (the
/// sender; over UDP another port of it when RESPONSE-PORT asks), or `None`
/// when it gets no answer (malformed).
pub(crate) fn answer_binding(
    answerer: &Answerer,
    req: &[u8],
    from: SocketAddr,
    listen: SocketAddr,
    transport: StunTransport,
    out: &mut [u8],
) -> Option<(usize, SocketAddr)> {
    let arrival = Arrival {
        src: from,
        local: 0,
        origin: (!listen.ip().is_unspecified()).then_some(listen),
        transport,
        at: std::time::Instant::now(),
    };
    match answerer.answer(req, arrival, out) {
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
        let mut framer = Framer::default();
        let mut out = vec![0u8; BINDING_OUT_LEN];
        'read: loop {
            match rd.read(&mut b).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if framer.push(&b[..n]).is_err() {
                        break;
                    }
                }
            }
            loop {
                let frame = match framer.next_frame() {
                    Ok(Some((_, frame))) => frame,
                    Ok(None) => break,
                    // Framing is lost: nothing after it can be trusted.
                    Err(_) => break 'read,
                };
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
        }
        writer.abort();
        let _ = tx.send(Inbound::StreamClosed { from }).await;
    });
}

struct Core {
    server: ProtoServer,
    listen: SocketAddr,
    transport: TransportType,
    udp: Option<Arc<UdpSocket>>,
    writers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    /// Relay sockets; their reader tasks die with their entry.
    relays: HashMap<SocketAddr, (Arc<UdpSocket>, AbortOnDropHandle<()>)>,
    clock: Clock,
    /// How far this listener's clock runs ahead of real time (stale-nonce
    /// fault injection moves it).
    skew: Duration,
}

pub(crate) const MAX_RELAYS: usize = 256;
pub(crate) const MAX_STREAMS: usize = 256;

impl Core {
    /// The listener's clock: real time plus the injected skew.
    fn now(&self) -> SansInstant {
        self.clock.to_sans(Instant::now() + self.skew)
    }

    /// When, in real time, the listener's clock shows `t`.
    fn real_time(&self, t: SansInstant) -> Instant {
        let at = self.clock.to_tokio(t);
        at.checked_sub(self.skew).unwrap_or(self.clock.origin())
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
                    // Relays are bound on the listening IP: a request for
                    // the other family is 440 (RFC 8656 §7.1), never a
                    // relay of the wrong family.
                    let same_family = match family {
                        turn_server_proto::types::AddressFamily::IPV4 => ip.is_ipv4(),
                        _ => ip.is_ipv6(),
                    };
                    let res = if !same_family {
                        Err(turn_server_proto::api::SocketAllocateError::AddressFamilyNotSupported)
                    } else if self.relays.len() >= MAX_RELAYS {
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
                                    self.relays.insert(addr, (sock, AbortOnDropHandle::new(task)));
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
    server: ProtoServer,
    mut rx: mpsc::Receiver<Inbound>,
    tx: mpsc::Sender<Inbound>,
    udp: Option<Arc<UdpSocket>>,
    ip: IpAddr,
    mut faults: Faults,
    policy: peers::PeerPolicy,
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
        clock: Clock::start(),
        skew: Duration::ZERO,
    };
    loop {
        let wake = core.service(&tx, ip).await;
        let at_most = Instant::now() + Duration::from_secs(1);
        let wake = wake.map_or(at_most, |t| core.real_time(t).min(at_most));
        let msg = tokio::select! {
            m = rx.recv() => match m { Some(m) => m, None => return },
            _ = tokio::time::sleep_until(wake) => continue,
        };
        if let Inbound::Client { data, .. } = &msg
            && let Some(jump) = faults.clock_jump(data)
        {
            core.skew += jump;
        }
        let now = core.now();
        let out = match msg {
            Inbound::Client { from, data } if !wire::guard::stun_proto_can_take(&data) => {
                tracing::debug!(%from, "dropped a request stun-proto cannot take (NONCE)");
                None
            }
            Inbound::Client { from, data } => match policy.refusal(&data) {
                Some(reply) => Some(Transmit::new(reply, core.transport, core.listen, from)),
                None => {
                    let t = Transmit::new(data.as_slice(), core.transport, from, core.listen);
                    core.server.recv(t, now).map(|b| b.build())
                }
            },
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
