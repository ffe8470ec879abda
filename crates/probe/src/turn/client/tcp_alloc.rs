//! The additive `tcp_allocation` stage (RFC 6062, `turn:` over TCP/TLS
//! only): after the UDP-relay allocation passed, a second allocation on a
//! fresh control connection with REQUESTED-TRANSPORT TCP, CreatePermission
//! and Connect to a loopback TCP echo peer, ConnectionBind on a new data
//! connection, and a byte round trip through it. Its outcome is recorded
//! without touching `ok`, `failed_stage` or `failure`.

use super::{
    Conn, Io, PumpError, Tap, TurnProbeConfig, additive_inputs, ipv6, map_pump, ms_since,
    name_code, name_io_error,
};
use crate::servers::ServerUri;
use crate::turn::creds::ResolvedCredentials;
use crate::turn::stages::{TurnFailure, TurnStage, TurnTransport, TurnTransportResult};
use crate::turn::target::host_name;
use crate::turn::tls::{client_config, name_tls_error, server_name};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use turn_client_proto::api::{
    Socket5Tuple, TurnClientApi, TurnConfig, TurnEvent, TurnPollRet, TurnRecvRet,
};
use turn_client_proto::client::TurnClient;
use turn_client_proto::prelude::DelayedTransmitBuild;
use turn_client_proto::stun::Instant as SansInstant;
use turn_client_proto::stun::agent::Transmit;
use turn_client_proto::tcp::TurnClientTcp;
use turn_client_proto::types::message::{ALLOCATE, CONNECT, CONNECTION_BIND, CREATE_PERMISSION};
use turn_client_proto::types::{TransportType, TurnCredentials};

/// Bytes sent to the TCP peer through the relay (and echoed back).
const PAYLOAD: &[u8] = b"natscope-rfc6062-tcp-relay-data..";

/// Upper bound of echoed bytes kept.
const MAX_PEER_BYTES: usize = 64 * 1024;

/// Runs and records the `tcp_allocation` stage on `r`.
pub(super) async fn tcp_allocation_stage(
    uri: &ServerUri,
    transport: TurnTransport,
    cfg: &TurnProbeConfig,
    r: &mut TurnTransportResult,
) {
    if !matches!(transport, TurnTransport::Tcp | TurnTransport::Tls) {
        r.not_tested(
            TurnStage::TcpAllocation,
            "RFC 6062 TCP allocations need turn: over TCP or TLS",
        );
        return;
    }
    let Some((server, creds)) = additive_inputs(
        uri,
        cfg,
        r,
        TurnStage::TcpAllocation,
        "the UDP-relay allocation did not succeed",
    ) else {
        return;
    };
    let t0 = std::time::Instant::now();
    match run(uri, transport, server, cfg, &creds).await {
        Ok(note) => r.pass(TurnStage::TcpAllocation, ms_since(t0), Some(note)),
        Err(f) => r.fail_additive(TurnStage::TcpAllocation, Some(ms_since(t0)), f),
    }
}

/// A loopback TCP echo peer; its tasks end when dropped.
struct TcpEcho {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TcpEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_tcp_echo(ip: IpAddr) -> std::io::Result<TcpEcho> {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        // Dropping the set (on abort) aborts every connection's task.
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut s, _)) = listener.accept().await {
            if conns.len() >= 8 {
                continue;
            }
            conns.spawn(async move {
                let mut b = [0u8; 4096];
                while let Ok(n) = s.read(&mut b).await {
                    if n == 0 || s.write_all(&b[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(TcpEcho { addr, task })
}

/// The RFC 6062 client: one control connection, at most one data
/// connection.
struct TcpSession {
    client: TurnClient,
    control: Conn,
    data: Option<(Box<dyn Io>, SocketAddr)>,
    base: std::time::Instant,
    tap: Tap,
    events: Vec<TurnEvent>,
    socket_request: Option<(u32, Socket5Tuple, SocketAddr)>,
    peer_bytes: Vec<u8>,
    closed: bool,
    local: SocketAddr,
    remote: SocketAddr,
}

impl TcpSession {
    fn now(&self) -> SansInstant {
        SansInstant::from_nanos(self.base.elapsed().as_nanos() as i64)
    }

    fn to_tokio(&self, t: SansInstant) -> tokio::time::Instant {
        let nanos = t.as_nanos().max(0) as u64;
        tokio::time::Instant::from_std(self.base + Duration::from_nanos(nanos))
    }

    async fn flush(&mut self) -> Result<(), PumpError> {
        let now = self.now();
        while let Some(t) = self.client.poll_transmit(now) {
            self.tap.inspect_outgoing(&t.data);
            match &mut self.data {
                Some((io, local)) if t.from == *local => {
                    io.write_all(&t.data).await.map_err(PumpError::Io)?;
                    io.flush().await.map_err(PumpError::Io)?;
                }
                _ => self.control.send(&t.data).await.map_err(PumpError::Io)?,
            }
        }
        Ok(())
    }

    fn take_peer_data(&mut self, d: &[u8]) {
        let room = MAX_PEER_BYTES.saturating_sub(self.peer_bytes.len());
        self.peer_bytes.extend_from_slice(&d[..d.len().min(room)]);
    }

    async fn pump<F: FnMut(&mut TcpSession) -> bool>(
        &mut self,
        deadline: tokio::time::Instant,
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
                    self.events.push(ev);
                }
            }
            if done(self) {
                return Ok(());
            }
            if self.closed {
                return Err(PumpError::Closed);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PumpError::Timeout);
            }
            let wake = wait
                .map(|t| self.to_tokio(t))
                .unwrap_or(deadline)
                .min(deadline);
            let mut chunk = [0u8; 16384];
            let data_read = async {
                match &mut self.data {
                    Some((io, local)) => (io.read(&mut chunk).await, *local),
                    None => std::future::pending().await,
                }
            };
            enum Got {
                Control(std::io::Result<Vec<u8>>),
                Data(std::io::Result<usize>, SocketAddr),
                Wake,
            }
            let got = tokio::select! {
                r = self.control.recv() => Got::Control(r),
                (r, local) = data_read => Got::Data(r, local),
                _ = tokio::time::sleep_until(wake) => Got::Wake,
            };
            let now = self.now();
            match got {
                Got::Control(Ok(frame)) => {
                    self.tap.inspect(&frame);
                    let t = Transmit::new(
                        frame.as_slice(),
                        TransportType::Tcp,
                        self.remote,
                        self.local,
                    );
                    let _ = self.client.recv(t, now);
                }
                Got::Control(Err(e)) => return Err(PumpError::Io(e)),
                Got::Data(Ok(0), _) => {
                    return Err(PumpError::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "server closed the data connection",
                    )));
                }
                Got::Data(Ok(n), local) => {
                    self.tap.inspect(&chunk[..n]);
                    let t = Transmit::new(&chunk[..n], TransportType::Tcp, self.remote, local);
                    if let TurnRecvRet::PeerData(d) = self.client.recv(t, now) {
                        self.take_peer_data(d.data());
                    }
                }
                Got::Data(Err(e), _) => return Err(PumpError::Io(e)),
                Got::Wake => {}
            }
            while let Some(d) = self.client.poll_recv(now) {
                self.take_peer_data(d.data());
            }
        }
    }

    /// The failure after `method` did not succeed.
    fn failure(
        &self,
        method: turn_client_proto::types::stun::message::Method,
        res: Result<(), PumpError>,
        timeout_ms: u64,
    ) -> TurnFailure {
        let mut errors = self
            .tap
            .last_error
            .iter()
            .filter(|(m, _, _)| *m == method)
            .peekable();
        if method == ALLOCATE
            && let Some((_, 401, _)) = errors.peek()
        {
            errors.next();
        }
        match (errors.last(), res) {
            (Some((_, 401, _)), _) => TurnFailure::WrongCredentials,
            (Some((_, code, reason)), _) => name_code(method, *code, reason.clone()),
            (None, Err(e)) => map_pump(e, timeout_ms),
            (None, Ok(())) => TurnFailure::Failed,
        }
    }
}

/// A new stream to the server for the data connection (TCP, or TLS for
/// `turns:`): the stream and its local address.
async fn data_connection(
    uri: &ServerUri,
    transport: TurnTransport,
    server: SocketAddr,
    cfg: &TurnProbeConfig,
) -> Result<(Box<dyn Io>, SocketAddr), TurnFailure> {
    let host = host_name(uri);
    let tcp = TcpStream::connect(server)
        .await
        .map_err(|e| name_io_error(&e))?;
    let _ = tcp.set_nodelay(true);
    let local = tcp.local_addr().map_err(|e| name_io_error(&e))?;
    if transport == TurnTransport::Tcp {
        return Ok((Box::new(tcp), local));
    }
    let config = client_config(&cfg.tls).map_err(|e| TurnFailure::TlsOther {
        detail: e.to_string(),
    })?;
    let name = server_name(&host).ok_or_else(|| TurnFailure::TlsOther {
        detail: format!("{host} is not a valid TLS server name"),
    })?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| name_tls_error(&e, &host))?;
    Ok((Box::new(tls), local))
}

/// The whole RFC 6062 exchange, bounded by the stage timeout; a note on
/// success.
async fn run(
    uri: &ServerUri,
    transport: TurnTransport,
    server: SocketAddr,
    cfg: &TurnProbeConfig,
    creds: &ResolvedCredentials,
) -> Result<String, TurnFailure> {
    let timeout_ms = u64::try_from(cfg.stage_timeout.as_millis()).unwrap_or(u64::MAX);
    let deadline = tokio::time::Instant::now() + cfg.stage_timeout;
    let control = ipv6::connect(uri, transport, server, cfg).await?;
    let (local, remote) = control.addrs().map_err(|e| name_io_error(&e))?;
    let echo = start_tcp_echo(local.ip())
        .await
        .map_err(|e| name_io_error(&e))?;
    let peer = echo.addr;
    let mut config = TurnConfig::new(TurnCredentials::new(
        &creds.username,
        creds.password.expose(),
    ));
    config.set_allocation_transport(TransportType::Tcp);
    let mut s = TcpSession {
        client: TurnClient::Tcp(TurnClientTcp::allocate(local, remote, config)),
        control,
        data: None,
        base: std::time::Instant::now(),
        tap: Tap::default(),
        events: Vec::new(),
        socket_request: None,
        peer_bytes: Vec::new(),
        closed: false,
        local,
        remote,
    };
    let any_event = |s: &TcpSession, f: fn(&TurnEvent) -> Option<bool>| s.events.iter().find_map(f);

    // Allocate with REQUESTED-TRANSPORT TCP.
    let res = s
        .pump(deadline, |s| {
            any_event(s, |e| match e {
                TurnEvent::AllocationCreated(..) => Some(true),
                TurnEvent::AllocationCreateFailed(..) => Some(false),
                _ => None,
            })
            .is_some()
        })
        .await;
    let relayed = s.events.iter().find_map(|e| match e {
        TurnEvent::AllocationCreated(TransportType::Tcp, a) => Some(*a),
        _ => None,
    });
    let Some(relayed) = relayed else {
        return Err(s.failure(ALLOCATE, res, timeout_ms));
    };
    s.events.clear();

    // CreatePermission for the peer, then Connect.
    let now = s.now();
    if s.client
        .create_permission(TransportType::Tcp, peer.ip(), now)
        .is_err()
    {
        return Err(TurnFailure::Failed);
    }
    let res = s
        .pump(deadline, |s| {
            any_event(s, |e| match e {
                TurnEvent::PermissionCreated(..) => Some(true),
                TurnEvent::PermissionCreateFailed(..) => Some(false),
                _ => None,
            })
            .is_some()
        })
        .await;
    if !s
        .events
        .iter()
        .any(|e| matches!(e, TurnEvent::PermissionCreated(..)))
    {
        return Err(s.failure(CREATE_PERMISSION, res, timeout_ms));
    }
    s.events.clear();
    let now = s.now();
    if let Err(e) = s.client.tcp_connect(peer, now) {
        return Err(TurnFailure::UnexpectedResponse {
            detail: format!("cannot send Connect: {e}"),
        });
    }
    let res = s
        .pump(deadline, |s| {
            s.socket_request.is_some()
                || s.events
                    .iter()
                    .any(|e| matches!(e, TurnEvent::TcpConnectFailed(..)))
        })
        .await;
    let Some((id, socket, peer_addr)) = s.socket_request.take() else {
        return Err(s.failure(CONNECT, res, timeout_ms));
    };

    // ConnectionBind on a new data connection.
    let data = match tokio::time::timeout_at(deadline, data_connection(uri, transport, server, cfg))
        .await
    {
        Ok(d) => d,
        Err(_) => Err(TurnFailure::Timeout {
            after_ms: timeout_ms,
        }),
    };
    let now = s.now();
    let (io, data_local) = match data {
        Ok(d) => d,
        Err(f) => {
            let _ = s
                .client
                .allocated_tcp_socket(id, socket, peer_addr, None, now);
            return Err(f);
        }
    };
    s.data = Some((io, data_local));
    if let Err(e) = s
        .client
        .allocated_tcp_socket(id, socket, peer_addr, Some(data_local), now)
    {
        return Err(TurnFailure::UnexpectedResponse {
            detail: format!("ConnectionBind not possible: {e}"),
        });
    }
    let res = s
        .pump(deadline, |s| {
            s.events.iter().any(|e| {
                matches!(
                    e,
                    TurnEvent::TcpConnected(..) | TurnEvent::TcpConnectFailed(..)
                )
            })
        })
        .await;
    if !s
        .events
        .iter()
        .any(|e| matches!(e, TurnEvent::TcpConnected(..)))
    {
        let method = if s.tap.last_error_for(CONNECT).is_some() {
            CONNECT
        } else {
            CONNECTION_BIND
        };
        return Err(s.failure(method, res, timeout_ms));
    }

    // Bytes to the peer through the relay and back.
    let now = s.now();
    let frame = match s.client.send_to(TransportType::Tcp, peer, PAYLOAD, now) {
        Ok(Some(t)) => t.data.build(),
        Ok(None) => Vec::new(),
        Err(e) => {
            return Err(TurnFailure::UnexpectedResponse {
                detail: format!("cannot send to the TCP peer: {e}"),
            });
        }
    };
    if let Some((io, _)) = &mut s.data
        && !frame.is_empty()
    {
        io.write_all(&frame).await.map_err(|e| name_io_error(&e))?;
        io.flush().await.map_err(|e| name_io_error(&e))?;
    }
    let res = s
        .pump(deadline, |s| s.peer_bytes.len() >= PAYLOAD.len())
        .await;
    match res {
        Ok(()) if s.peer_bytes.starts_with(PAYLOAD) => {}
        Ok(()) => {
            return Err(TurnFailure::UnexpectedResponse {
                detail: "different bytes came back from the TCP peer".into(),
            });
        }
        Err(PumpError::Timeout) => {
            return Err(TurnFailure::NoRelayedData {
                after_ms: timeout_ms,
            });
        }
        Err(e) => return Err(map_pump(e, timeout_ms)),
    }
    // Best effort: free the allocation (the server also drops it when the
    // control connection closes).
    let now = s.now();
    if s.client.delete(now).is_ok() {
        let _ = s.flush().await;
    }
    drop(echo);
    Ok(format!(
        "TCP relayed address {relayed}; Connect to {peer}, ConnectionBind, {} bytes echoed",
        PAYLOAD.len()
    ))
}
