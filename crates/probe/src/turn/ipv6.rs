//! The additive `allocate_ipv6` stage: after the IPv4 allocation passed, a
//! second, short allocation on a fresh connection of the same transport asks
//! for an IPv6 relayed address (REQUESTED-ADDRESS-FAMILY, RFC 6156 / RFC 8656
//! §7.1), and is deleted again. Its outcome is recorded without touching
//! `ok`, `failed_stage` or `failure`.

use super::config::TurnProbeConfig;
use super::conn::{Conn, connected_udp};
use super::dtls;
use super::failure::{name_failure, name_io_error};
use super::session::{Session, allocation_outcome};
use super::stages::{additive_inputs, ms_since};
use crate::turn::creds::ResolvedCredentials;
use crate::turn::target::host_name;
use crate::turn::tls;
use model::servers::ServerUri;
use model::turn::{TurnFailure, TurnStage, TurnTransport, TurnTransportResult};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use turn_client_proto::api::TurnClientApi;
use turn_client_proto::types::AddressFamily;
use turn_client_proto::types::message::ALLOCATE;

/// ERROR-CODE 440 Address Family not Supported (RFC 8656 §19).
const ADDRESS_FAMILY_NOT_SUPPORTED: u16 = 440;

/// Runs and records the `allocate_ipv6` stage on `r` (not tested unless the
/// IPv4 `allocate` stage passed).
pub(super) async fn allocate_ipv6_stage(
    uri: &ServerUri,
    transport: TurnTransport,
    cfg: &TurnProbeConfig,
    r: &mut TurnTransportResult,
) {
    let Some((server, creds)) = additive_inputs(
        uri,
        cfg,
        r,
        TurnStage::AllocateIpv6,
        "the IPv4 allocation did not succeed",
    ) else {
        return;
    };
    let t0 = tokio::time::Instant::now();
    match allocate(uri, transport, server, cfg, &creds).await {
        Ok((relayed, deleted)) => {
            r.relayed_address_ipv6 = Some(relayed);
            let del = if deleted {
                "deleted again"
            } else {
                "deletion not confirmed"
            };
            r.pass(
                TurnStage::AllocateIpv6,
                ms_since(t0),
                Some(format!("IPv6 relayed address {relayed}; {del}")),
            );
        }
        Err(f) => r.fail_additive(TurnStage::AllocateIpv6, Some(ms_since(t0)), f),
    }
}

/// Connects, allocates with REQUESTED-ADDRESS-FAMILY IPv6 and deletes the
/// allocation. Returns the IPv6 relayed address and whether the deletion
/// was confirmed.
async fn allocate(
    uri: &ServerUri,
    transport: TurnTransport,
    server: SocketAddr,
    cfg: &TurnProbeConfig,
    creds: &ResolvedCredentials,
) -> Result<(SocketAddr, bool), TurnFailure> {
    let timeout_ms = u64::try_from(cfg.stage_timeout.as_millis()).unwrap_or(u64::MAX);
    let conn = connect(uri, transport, server, cfg).await?;
    let mut s =
        Session::new(conn, Some(creds), AddressFamily::IPV6).map_err(|e| name_io_error(&e))?;
    let deadline = tokio::time::Instant::now() + cfg.stage_timeout;
    let (created, res) = s.settle(true, deadline, allocation_outcome).await;
    if !created {
        // The first 401 is the challenge, not a failure.
        return Err(match s.tap.last_error_after_challenge(ALLOCATE) {
            Some((ADDRESS_FAMILY_NOT_SUPPORTED, _)) => TurnFailure::AddressFamilyNotSupported,
            Some((401, _)) => TurnFailure::WrongCredentials,
            answer => name_failure(ALLOCATE, answer, res, timeout_ms),
        });
    }
    let relayed = s
        .client
        .relayed_addresses()
        .map(|(_, a)| a)
        .chain(s.tap.relayed)
        .find(SocketAddr::is_ipv6);
    let deleted = delete(&mut s, creds, cfg.stage_timeout.min(Duration::from_secs(1))).await;
    match relayed {
        Some(a) => Ok((a, deleted)),
        None => Err(TurnFailure::UnexpectedResponse {
            detail: format!(
                "asked for an IPv6 relayed address, got {}",
                s.tap.relayed.map_or("none".to_string(), |a| a.to_string())
            ),
        }),
    }
}

/// Deletes the allocation ([`Session::delete_allocation`]: Refresh with
/// lifetime 0, a 438 Stale Nonce retried once); true when the server
/// confirmed it (or closed the stream connection) within `wait`.
pub(super) async fn delete(s: &mut Session, creds: &ResolvedCredentials, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    match s.delete_allocation(creds, deadline).await {
        Some(Ok(d)) => matches!(d.answer, Some(Ok(()))) || s.closed_after_delete(&d),
        _ => false,
    }
}

/// A fresh connection of `transport` to `server`, bounded by the stage
/// timeout. The first connection's stages already recorded how connecting
/// went; this one only needs to work.
pub(super) async fn connect(
    uri: &ServerUri,
    transport: TurnTransport,
    server: SocketAddr,
    cfg: &TurnProbeConfig,
) -> Result<Conn, TurnFailure> {
    let host = host_name(uri);
    let timeout_ms = u64::try_from(cfg.stage_timeout.as_millis()).unwrap_or(u64::MAX);
    let attempt = async {
        match transport {
            TurnTransport::Udp => connected_udp(server)
                .await
                .map(Conn::Udp)
                .map_err(|e| name_io_error(&e)),
            TurnTransport::Dtls => {
                let sock = connected_udp(server).await.map_err(|e| name_io_error(&e))?;
                let est = dtls::connect(sock, &host, &cfg.tls).await?;
                Ok(Conn::Dtls(Box::new(est.conn)))
            }
            TurnTransport::Tcp | TurnTransport::Tls => {
                let tcp = TcpStream::connect(server)
                    .await
                    .map_err(|e| name_io_error(&e))?;
                let _ = tcp.set_nodelay(true);
                let local = tcp.local_addr().map_err(|e| name_io_error(&e))?;
                let remote = tcp.peer_addr().map_err(|e| name_io_error(&e))?;
                if transport == TurnTransport::Tcp {
                    return Ok(Conn::stream(Box::new(tcp), local, remote));
                }
                let tls = tls::connect_with(&cfg.tls, &host, tcp).await?;
                Ok(Conn::stream(Box::new(tls), local, remote))
            }
        }
    };
    match tokio::time::timeout(cfg.stage_timeout, attempt).await {
        Ok(res) => res,
        Err(_) => Err(TurnFailure::Timeout {
            after_ms: timeout_ms,
        }),
    }
}
