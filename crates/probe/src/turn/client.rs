//! The TURN probe: per URI and transport, the `dns` stage, the connection
//! (TCP, TLS, DTLS handshakes), the stage script on a session, one 300
//! redirect followed, and the additive stages (IPv6 relay, RFC 6062).
//!
//! The pieces, each depending only on those before it: `failure` (naming),
//! `conn` (the connection and its framing), `tap` (what the server said;
//! pure), `refresh` (natscope's own Refresh), `session` (turn-client-proto
//! pumped from tokio), `stages` (the script), then the additive stages
//! (`ipv6`, `tcp_alloc`), `hold` and this orchestration.

pub use super::config::TurnProbeConfig;
use super::conn::{Conn, connected_udp};
use super::creds::{TurnAuth, unix_now};
use super::dtls;
use super::failure::name_io_error;
use super::session::Session;
use super::stages::{Flow, add_note, all_later, bounded, ms_since, stage_failed};
use super::target::{host_name, turn_transports, wire_transport};
use super::tls::client_config;
use super::{ipv6, tcp_alloc};
use crate::resolve::{ResolveError, Resolver};
use model::servers::{Host, ServerUri};
use model::turn::{TurnFailure, TurnStage, TurnTransport, TurnTransportResult};
use std::net::SocketAddr;
use tokio::net::TcpStream;
use turn_client_proto::types::AddressFamily;

/// Probes every URI over every transport it implies
/// ([`turn_transports`]; `stun:` URIs imply none), concurrently. One
/// transport's failure never stops the others; results keep input order.
/// Credentials: `cfg.auth`, else those a URI carries (`iceServers`
/// `username`/`credential`) as long-term credentials.
pub async fn probe_all(uris: &[ServerUri], cfg: &TurnProbeConfig) -> Vec<TurnTransportResult> {
    let mut set = tokio::task::JoinSet::new();
    let mut n = 0usize;
    for uri in uris {
        for t in turn_transports(uri) {
            let (uri, cfg) = (uri.clone(), cfg.clone());
            let idx = n;
            n += 1;
            set.spawn(async move { (idx, probe_transport(&uri, t, &cfg).await) });
        }
    }
    let mut out: Vec<(usize, TurnTransportResult)> = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        if let Ok(pair) = r {
            out.push(pair);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Probes one URI over one transport, following one 300 redirect. The
/// host is resolved first (the `dns` stage; SRV `_turn._udp`,
/// `_turns._tcp`... when the URI has no port).
pub async fn probe_transport(
    uri: &ServerUri,
    transport: TurnTransport,
    cfg: &TurnProbeConfig,
) -> TurnTransportResult {
    let mut result = TurnTransportResult::new(&uri.to_string(), transport);
    let Some(server) = resolve_stage(uri, transport, cfg, &mut result).await else {
        return result;
    };
    if let Flow::Redirect { to: alt, .. } = run_once(uri, transport, server, cfg, &mut result).await
    {
        // 300 Try Alternate: start over on the alternate, once. The first
        // server's stages are replaced; `redirected_from` keeps its address
        // and a note on the stage that was redirected says so.
        let mut second = TurnTransportResult::new(&uri.to_string(), transport);
        second.stages = result
            .stages
            .iter()
            .filter(|st| st.stage == TurnStage::Dns)
            .cloned()
            .collect();
        second.redirected_from = Some(server);
        let redirected = format!("redirected here by {server} (300 Try Alternate)");
        match run_once(uri, transport, alt, cfg, &mut second).await {
            Flow::Done => add_note(&mut second, TurnStage::UnauthenticatedAllocate, &redirected),
            Flow::Redirect { to: again, stage } => {
                // The alternate redirected too: bounded, named, not followed.
                second.fail(
                    stage,
                    None,
                    TurnFailure::AlternateServerLoop { alternate: again },
                );
                add_note(
                    &mut second,
                    stage,
                    &format!("{redirected}; redirected again, to {again}: not followed"),
                );
                all_later(&mut second, stage, "earlier stage failed");
            }
        }
        result = second;
    }
    // Additive: never changes `ok`, `failed_stage` or `failure`.
    ipv6::allocate_ipv6_stage(uri, transport, cfg, &mut result).await;
    tcp_alloc::tcp_allocation_stage(uri, transport, cfg, &mut result).await;
    result.ok = result.failure.is_none()
        && matches!(
            result.stage(TurnStage::ChannelRoundTrip).map(|s| &s.status),
            Some(model::turn::StageStatus::Passed)
        );
    result
}

/// The `dns` stage: the address to contact, or `None` after recording the
/// failure.
async fn resolve_stage(
    uri: &ServerUri,
    transport: TurnTransport,
    cfg: &TurnProbeConfig,
    r: &mut TurnTransportResult,
) -> Option<SocketAddr> {
    if let Host::Ip(ip) = &uri.host {
        r.not_tested(TurnStage::Dns, "IP literal: no DNS needed");
        return Some(SocketAddr::new(*ip, uri.port_or_default()));
    }
    let t0 = tokio::time::Instant::now();
    match resolve(uri, transport, cfg).await {
        Ok((addr, via_srv)) => {
            let via = if via_srv { " via SRV" } else { "" };
            r.pass(
                TurnStage::Dns,
                ms_since(t0),
                Some(format!("{} -> {addr}{via}", host_name(uri))),
            );
            Some(addr)
        }
        Err(f) => {
            r.fail(TurnStage::Dns, Some(ms_since(t0)), f);
            None
        }
    }
}

/// The server address of `uri` for `transport` (an IP literal as it is;
/// a name by `cfg.resolver` or the system's, SRV first when the URI has no
/// port) and whether SRV gave it, within the stage timeout; the failure
/// named like the `dns` stage's.
pub async fn resolve(
    uri: &ServerUri,
    transport: TurnTransport,
    cfg: &TurnProbeConfig,
) -> Result<(SocketAddr, bool), TurnFailure> {
    if let Host::Ip(ip) = &uri.host {
        return Ok((SocketAddr::new(*ip, uri.port_or_default()), false));
    }
    let resolver = match &cfg.resolver {
        Some(res) => res.clone(),
        None => Resolver::system().map_err(|e| TurnFailure::Dns {
            detail: e.to_string(),
        })?,
    };
    let found = resolver
        .resolve_for(uri, &[wire_transport(transport)], cfg.stage_timeout)
        .await;
    match found {
        Ok(targets) => match targets.first() {
            Some(t) => Ok((t.addr, t.via_srv)),
            None => Err(TurnFailure::Dns {
                detail: format!("{}: no address", host_name(uri)),
            }),
        },
        Err(ResolveError::Timeout { .. }) => Err(TurnFailure::Timeout {
            after_ms: u64::try_from(cfg.stage_timeout.as_millis()).unwrap_or(u64::MAX),
        }),
        Err(e) => Err(TurnFailure::Dns {
            detail: e.to_string(),
        }),
    }
}

fn first_stage(t: TurnTransport) -> TurnStage {
    match t {
        TurnTransport::Udp => TurnStage::UnauthenticatedAllocate,
        TurnTransport::Dtls => TurnStage::DtlsHandshake,
        _ => TurnStage::TcpConnect,
    }
}

/// The per-transport sequence after the connection exists.
async fn run_once(
    uri: &ServerUri,
    transport: TurnTransport,
    server: SocketAddr,
    cfg: &TurnProbeConfig,
    r: &mut TurnTransportResult,
) -> Flow {
    r.server = Some(server);
    let host = host_name(uri);
    // --- connect ---
    let conn = match transport {
        TurnTransport::Dtls => {
            let t0 = tokio::time::Instant::now();
            let sock = match connected_udp(server).await {
                Ok(s) => s,
                Err(e) => {
                    r.fail(TurnStage::DtlsHandshake, None, name_io_error(&e));
                    return Flow::Done;
                }
            };
            match bounded(cfg.stage_timeout, dtls::connect(sock, &host, &cfg.tls)).await {
                Ok(est) => {
                    r.certificate_not_after = est.not_after;
                    r.pass(TurnStage::DtlsHandshake, ms_since(t0), Some(est.note));
                    Conn::Dtls(Box::new(est.conn))
                }
                Err(f) => return stage_failed(r, TurnStage::DtlsHandshake, t0, f),
            }
        }
        TurnTransport::Udp => match connected_udp(server).await {
            Ok(sock) => Conn::Udp(sock),
            Err(e) => {
                r.fail(TurnStage::UnauthenticatedAllocate, None, name_io_error(&e));
                return Flow::Done;
            }
        },
        TurnTransport::Tcp | TurnTransport::Tls => {
            let t0 = tokio::time::Instant::now();
            let connect = async {
                TcpStream::connect(server)
                    .await
                    .map_err(|e| name_io_error(&e))
            };
            let tcp = match bounded(cfg.stage_timeout, connect).await {
                Ok(s) => s,
                Err(f) => return stage_failed(r, TurnStage::TcpConnect, t0, f),
            };
            r.pass(TurnStage::TcpConnect, ms_since(t0), None);
            let _ = tcp.set_nodelay(true);
            let (local, remote) = match (tcp.local_addr(), tcp.peer_addr()) {
                (Ok(l), Ok(p)) => (l, p),
                (Err(e), _) | (_, Err(e)) => {
                    r.fail(TurnStage::TcpConnect, None, name_io_error(&e));
                    return Flow::Done;
                }
            };
            if transport == TurnTransport::Tcp {
                Conn::stream(Box::new(tcp), local, remote)
            } else {
                let t1 = tokio::time::Instant::now();
                let config = match client_config(&cfg.tls) {
                    Ok(c) => c,
                    Err(e) => {
                        r.fail(
                            TurnStage::TlsHandshake,
                            None,
                            TurnFailure::TlsOther {
                                detail: e.to_string(),
                            },
                        );
                        return Flow::Done;
                    }
                };
                let handshake = super::tls::connect(config, &host, tcp);
                match bounded(cfg.stage_timeout, handshake).await {
                    Ok(tls) => {
                        let note = super::tls::handshake_note(tls.get_ref().1, &cfg.tls);
                        r.certificate_not_after = tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .and_then(|leaf| super::tls::not_after(leaf));
                        r.pass(TurnStage::TlsHandshake, ms_since(t1), Some(note));
                        Conn::stream(Box::new(tls), local, remote)
                    }
                    Err(f) => return stage_failed(r, TurnStage::TlsHandshake, t1, f),
                }
            }
        }
    };
    // Explicit credentials win; else those the URI carries (iceServers).
    let auth = cfg.auth.clone().or_else(|| TurnAuth::from_uri(uri));
    let creds = auth.as_ref().map(|a| a.resolve(unix_now()));
    let mut s = match Session::new(conn, creds.as_ref(), AddressFamily::IPV4) {
        Ok(s) => s,
        Err(e) => {
            r.fail(first_stage(transport), None, name_io_error(&e));
            return Flow::Done;
        }
    };
    let flow = s
        .run_stages(uri, transport, server, cfg, creds.as_ref(), r)
        .await;
    r.stale_nonce_retried = s.tap.stale_nonces > 0;
    if r.software.is_none() {
        r.software = s.tap.software.clone();
    }
    flow
}
