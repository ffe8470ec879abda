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
/// A server name with both IPv4 and IPv6 addresses is probed once per
/// family (one result each, IPv4 first), as far as `cfg` allows them.
/// Credentials: `cfg.auth`, else those a URI carries (`iceServers`
/// `username`/`credential`) as long-term credentials.
pub async fn probe_all(uris: &[ServerUri], cfg: &TurnProbeConfig) -> Vec<TurnTransportResult> {
    // Names first, all at once: the addresses of each family.
    let pairs: Vec<(&ServerUri, TurnTransport)> = uris
        .iter()
        .flat_map(|u| turn_transports(u).into_iter().map(move |t| (u, t)))
        .collect();
    let mut lookups = tokio::task::JoinSet::new();
    for (i, (u, t)) in pairs.iter().enumerate() {
        if matches!(u.host, Host::Name(_)) {
            let (u, t, cfg) = ((*u).clone(), *t, cfg.clone());
            lookups.spawn(async move { (i, resolve_families(&u, t, &cfg).await) });
        }
    }
    let mut resolved: Vec<Option<FamiliesResolved>> = vec![None; pairs.len()];
    while let Some(joined) = lookups.join_next().await {
        if let Ok((i, r)) = joined
            && let Some(slot) = resolved.get_mut(i)
        {
            *slot = Some(r);
        }
    }
    let mut set = tokio::task::JoinSet::new();
    let mut n = 0usize;
    for ((uri, t), pre) in pairs.into_iter().zip(resolved) {
        let targets: Vec<Option<Resolved>> = match pre {
            Some(Ok(list)) => list.into_iter().map(|r| Some(Ok(r))).collect(),
            Some(Err(f)) => vec![Some(Err(f))],
            None => vec![None],
        };
        for target in targets {
            let (uri, cfg) = (uri.clone(), cfg.clone());
            let idx = n;
            n += 1;
            set.spawn(async move { (idx, probe_transport_at(&uri, t, target, &cfg).await) });
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
    probe_transport_at(uri, transport, None, cfg).await
}

/// A name resolved for one family: the address, whether SRV gave it, and
/// how long the resolution took (ms).
type Found = (SocketAddr, bool, f64);

/// One family's address, or the `dns` stage's failure.
type Resolved = Result<Found, TurnFailure>;

/// Every family's address, or the `dns` stage's failure.
type FamiliesResolved = Result<Vec<Found>, TurnFailure>;

/// [`probe_transport`] with the name already resolved (`pre`), or
/// resolving it itself when `pre` is `None`.
async fn probe_transport_at(
    uri: &ServerUri,
    transport: TurnTransport,
    pre: Option<Resolved>,
    cfg: &TurnProbeConfig,
) -> TurnTransportResult {
    let mut result = TurnTransportResult::new(&uri.to_string(), transport);
    let server = match pre {
        None => resolve_stage(uri, transport, cfg, &mut result).await,
        Some(Ok((addr, via_srv, ms))) => {
            let via = if via_srv { " via SRV" } else { "" };
            result.pass(
                TurnStage::Dns,
                ms,
                Some(format!("{} -> {addr}{via}", host_name(uri))),
            );
            Some(addr)
        }
        Some(Err(f)) => {
            result.fail(TurnStage::Dns, None, f);
            None
        }
    };
    let Some(server) = server else {
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

/// The first address of each family `cfg` allows for a name (IPv4 first),
/// each with the time the resolution took; the `dns` stage's failure when
/// there is none.
async fn resolve_families(
    uri: &ServerUri,
    transport: TurnTransport,
    cfg: &TurnProbeConfig,
) -> FamiliesResolved {
    let t0 = tokio::time::Instant::now();
    let targets = resolve_all(uri, transport, cfg).await?;
    let ms = ms_since(t0);
    let mut out: Vec<Found> = Vec::new();
    for v4 in [true, false] {
        if let Some(t) = targets.iter().find(|t| t.0.is_ipv4() == v4) {
            out.push((t.0, t.1, ms));
        }
    }
    // A family this host has no route for is not probed (an IPv4-only host
    // and a dual-stack name): the other family's result stands for it.
    if out.len() > 1 {
        out.retain(|(a, _, _)| routable(*a));
    }
    if out.is_empty() {
        return Err(TurnFailure::Dns {
            detail: format!("{}: no address this host has a route to", host_name(uri)),
        });
    }
    Ok(out)
}

/// Whether the routing table has a route to `dest` (a connected UDP socket;
/// nothing is sent).
fn routable(dest: SocketAddr) -> bool {
    let local = SocketAddr::new(crate::nat::unspecified_for(dest), 0);
    std::net::UdpSocket::bind(local)
        .and_then(|s| s.connect(dest))
        .is_ok()
}

/// Every address of `uri` for `transport` of a family `cfg` allows, with
/// whether SRV gave it.
async fn resolve_all(
    uri: &ServerUri,
    transport: TurnTransport,
    cfg: &TurnProbeConfig,
) -> Result<Vec<(SocketAddr, bool)>, TurnFailure> {
    if let Host::Ip(ip) = &uri.host {
        return Ok(vec![(SocketAddr::new(*ip, uri.port_or_default()), false)]);
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
        Ok(targets) => {
            let all = targets.len();
            let kept: Vec<(SocketAddr, bool)> = targets
                .into_iter()
                .filter(|t| cfg.allows(t.addr))
                .map(|t| (t.addr, t.via_srv))
                .collect();
            if kept.is_empty() {
                let detail = if all == 0 {
                    format!("{}: no address", host_name(uri))
                } else {
                    format!(
                        "{}: no {} address (the other family is excluded by -4/-6)",
                        host_name(uri),
                        if cfg.ipv4 { "IPv4" } else { "IPv6" }
                    )
                };
                return Err(TurnFailure::Dns { detail });
            }
            Ok(kept)
        }
        Err(ResolveError::Timeout { .. }) => Err(TurnFailure::Timeout {
            after_ms: u64::try_from(cfg.stage_timeout.as_millis()).unwrap_or(u64::MAX),
        }),
        Err(e) => Err(TurnFailure::Dns {
            detail: e.to_string(),
        }),
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
    let all = resolve_all(uri, transport, cfg).await?;
    all.into_iter().next().ok_or_else(|| TurnFailure::Dns {
        detail: format!("{}: no address", host_name(uri)),
    })
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
