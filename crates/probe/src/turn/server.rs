//! An embedded TURN server on turn-server-proto: UDP, TCP and TLS listeners
//! on one IP (loopback by default), long-term credentials, one UDP relay
//! socket bound per allocation. For tests and the loopback lab only.
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

use super::creds::Secret;
use super::tls::TestPki;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
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
    tasks: Vec<JoinHandle<()>>,
}

impl TestTurnServer {
    /// Binds the listeners and starts serving.
    pub async fn start(cfg: TestTurnServerConfig) -> io::Result<Self> {
        let names: Vec<&str> = cfg.cert_names.iter().map(String::as_str).collect();
        let pki = TestPki::generate(&names).map_err(io::Error::other)?;
        let tls_cfg = pki.server_config().map_err(io::Error::other)?;
        let udp = Arc::new(UdpSocket::bind(SocketAddr::new(cfg.ip, 0)).await?);
        let tcp = TcpListener::bind(SocketAddr::new(cfg.ip, 0)).await?;
        let tls = TcpListener::bind(SocketAddr::new(cfg.ip, 0)).await?;
        let (udp_addr, tcp_addr, tls_addr) =
            (udp.local_addr()?, tcp.local_addr()?, tls.local_addr()?);
        let mut tasks = Vec::new();

        // UDP
        let (tx, rx) = mpsc::channel::<Inbound>(1024);
        let core = new_core(&cfg, TransportType::Udp, udp_addr);
        tasks.push(tokio::spawn(run_core(
            core,
            rx,
            tx.clone(),
            Some(udp.clone()),
            cfg.ip,
        )));
        tasks.push(tokio::spawn(async move {
            let mut b = vec![0u8; 65536];
            while let Ok((n, from)) = udp.recv_from(&mut b).await {
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
        tasks.push(tokio::spawn(run_core(core, rx, tx.clone(), None, cfg.ip)));
        tasks.push(tokio::spawn(async move {
            while let Ok((s, from)) = tcp.accept().await {
                let _ = s.set_nodelay(true);
                spawn_stream(s, from, tx.clone());
            }
        }));

        // TLS
        let (tx, rx) = mpsc::channel::<Inbound>(1024);
        let core = new_core(&cfg, TransportType::Tcp, tls_addr);
        tasks.push(tokio::spawn(run_core(core, rx, tx.clone(), None, cfg.ip)));
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_cfg);
        tasks.push(tokio::spawn(async move {
            while let Ok((s, from)) = tls.accept().await {
                let _ = s.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let accept = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(s),
                    );
                    if let Ok(Ok(tls)) = accept.await {
                        spawn_stream(tls, from, tx);
                    }
                });
            }
        }));

        Ok(Self {
            udp_addr,
            tcp_addr,
            tls_addr,
            pki,
            tasks,
        })
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

fn new_core(cfg: &TestTurnServerConfig, t: TransportType, listen: SocketAddr) -> TurnServer {
    let mut s = TurnServer::new(t, listen, cfg.realm.clone());
    for (u, p) in &cfg.users {
        s.add_user(u.clone(), p.expose().to_string());
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

fn spawn_stream<S>(s: S, from: SocketAddr, tx: mpsc::Sender<Inbound>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(s);
    let (wtx, mut wrx) = mpsc::channel::<Vec<u8>>(256);
    tokio::spawn(async move {
        if tx
            .send(Inbound::NewStream { from, writer: wtx })
            .await
            .is_err()
        {
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
        loop {
            match rd.read(&mut b).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
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
}

const MAX_RELAYS: usize = 256;
const MAX_STREAMS: usize = 256;

impl Core {
    fn now(&self) -> SansInstant {
        SansInstant::from_nanos(self.base.elapsed().as_nanos() as i64)
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
    };
    loop {
        let wake = core.service(&tx, ip).await;
        let sleep_for = wake
            .map(|t| {
                let nanos = t.as_nanos().max(0) as u64;
                (core.base + std::time::Duration::from_nanos(nanos))
                    .saturating_duration_since(std::time::Instant::now())
            })
            .unwrap_or(std::time::Duration::from_secs(1))
            .min(std::time::Duration::from_secs(1));
        let msg = tokio::select! {
            m = rx.recv() => match m { Some(m) => m, None => return },
            _ = tokio::time::sleep(sleep_for) => continue,
        };
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
