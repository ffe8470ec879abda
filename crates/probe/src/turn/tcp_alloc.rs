//! The additive `tcp_allocation` stage (RFC 6062, `turn:` over TCP/TLS
//! only): after the UDP-relay allocation passed, a second allocation on a
//! fresh control connection with REQUESTED-TRANSPORT TCP, CreatePermission
//! and Connect to a loopback TCP echo peer, ConnectionBind on a new data
//! connection, and a byte round trip through it. Its outcome is recorded
//! without touching `ok`, `failed_stage` or `failure`.

use super::config::TurnProbeConfig;
use super::failure::{PumpError, map_pump, name_failure, name_io_error};
use super::session::{DataConn, Session, permission_outcome};
use super::stages::{additive_inputs, ms_since};
use super::tap::Tap;
use crate::turn::creds::ResolvedCredentials;
use crate::turn::target::host_name;
use crate::turn::tls;
use model::servers::ServerUri;
use model::turn::{TurnFailure, TurnStage, TurnTransport, TurnTransportResult};
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use turn_client_proto::api::{TurnClientApi, TurnConfig, TurnEvent};
use turn_client_proto::prelude::DelayedTransmitBuild;
use turn_client_proto::types::message::{ALLOCATE, CONNECT, CONNECTION_BIND, CREATE_PERMISSION};
use turn_client_proto::types::{TransportType, TurnCredentials};

/// Bytes sent to the TCP peer through the relay (and echoed back).
const PAYLOAD: &[u8] = b"natscope-rfc6062-tcp-relay-data..";

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
    let t0 = tokio::time::Instant::now();
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

/// The failure after `method` did not succeed, from what the server
/// answered (`tap`) or else how the wait ended (`res`).
fn failure(
    tap: &Tap,
    method: turn_client_proto::types::stun::message::Method,
    res: Result<(), PumpError>,
    timeout_ms: u64,
) -> TurnFailure {
    match tap.last_error_after_challenge(method) {
        Some((401, _)) => TurnFailure::WrongCredentials,
        answer => name_failure(method, answer, res, timeout_ms),
    }
}

/// A new stream to the server for the data connection (TCP, or TLS for
/// `turns:`).
async fn data_connection(
    uri: &ServerUri,
    transport: TurnTransport,
    server: SocketAddr,
    cfg: &TurnProbeConfig,
) -> Result<DataConn, TurnFailure> {
    let host = host_name(uri);
    let tcp = TcpStream::connect(server)
        .await
        .map_err(|e| name_io_error(&e))?;
    let _ = tcp.set_nodelay(true);
    let local = tcp.local_addr().map_err(|e| name_io_error(&e))?;
    if transport == TurnTransport::Tcp {
        return Ok(DataConn {
            io: Box::new(tcp),
            local,
        });
    }
    let tls = tls::connect_with(&cfg.tls, &host, tcp).await?;
    Ok(DataConn {
        io: Box::new(tls),
        local,
    })
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
    let control = super::conn::connect_fresh(uri, transport, server, cfg).await?;
    let (local, _) = control.addrs().map_err(|e| name_io_error(&e))?;
    let echo = start_tcp_echo(local.ip())
        .await
        .map_err(|e| name_io_error(&e))?;
    let peer = echo.addr;
    let mut config = TurnConfig::new(TurnCredentials::new(
        &creds.username,
        creds.password.expose(),
    ));
    config.set_allocation_transport(TransportType::Tcp);
    let mut s = Session::with_config(control, config).map_err(|e| name_io_error(&e))?;

    // Allocate with REQUESTED-TRANSPORT TCP; an unsigned error answer
    // (pion/turn's 442) ends the wait as soon as it arrives.
    let (res, _) = s.await_allocation(deadline).await;
    let relayed = s.events.iter().find_map(|e| match e {
        TurnEvent::AllocationCreated(TransportType::Tcp, a) => Some(*a),
        _ => None,
    });
    let Some(relayed) = relayed else {
        return Err(failure(&s.tap, ALLOCATE, res, timeout_ms));
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
    let (created, res) = s.settle(true, deadline, permission_outcome).await;
    if !created {
        return Err(failure(&s.tap, CREATE_PERMISSION, res, timeout_ms));
    }
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
        return Err(failure(&s.tap, CONNECT, res, timeout_ms));
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
    let data = match data {
        Ok(d) => d,
        Err(f) => {
            let _ = s
                .client
                .allocated_tcp_socket(id, socket, peer_addr, None, now);
            return Err(f);
        }
    };
    let data_local = data.local;
    s.data = Some(data);
    if let Err(e) = s
        .client
        .allocated_tcp_socket(id, socket, peer_addr, Some(data_local), now)
    {
        return Err(TurnFailure::UnexpectedResponse {
            detail: format!("ConnectionBind not possible: {e}"),
        });
    }
    let (connected, res) = s
        .settle(true, deadline, |e| match e {
            TurnEvent::TcpConnected(..) => Some(true),
            TurnEvent::TcpConnectFailed(..) => Some(false),
            _ => None,
        })
        .await;
    if !connected {
        let method = if s.tap.last_error_for(CONNECT).is_some() {
            CONNECT
        } else {
            CONNECTION_BIND
        };
        return Err(failure(&s.tap, method, res, timeout_ms));
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
    if !frame.is_empty() {
        s.send_from(data_local, &frame)
            .await
            .map_err(|e| name_io_error(&e))?;
    }
    let res = s
        .pump(deadline, |s| {
            s.peer_data.iter().map(Vec::len).sum::<usize>() >= PAYLOAD.len()
        })
        .await;
    match res {
        Ok(()) if s.peer_data.iter().flatten().take(PAYLOAD.len()).eq(PAYLOAD) => {}
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
