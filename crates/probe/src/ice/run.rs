//! One ICE session per [`CandidateFilter`]: gather, exchange, check, send
//! a payload both ways, and report; and [`run_all`], every filter in
//! parallel.

use super::agent::{Pair, TlsTarget};
use super::filter::{CandidateFilter, CandidateKind};
use super::gather::srflx_on_socket;
use super::result::*;
use super::{IceOptions, IceServers, IceTurnTransport, RelayProtocol, TurnServerSpec};
use rice_proto::candidate::{Candidate, CandidateType, TransportType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// One planned run: a candidate-type filter, and optionally a restriction
/// to the TURN servers reached over one relay protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IceRunPlan {
    /// The candidate-type filter.
    pub filter: CandidateFilter,
    /// `Some(p)`: only TURN servers reached over `p`.
    pub relay_only: Option<RelayProtocol>,
}

/// The runs for `filters` (pure): each filter once with every server, and
/// — when the TURN servers span more than one relay protocol — relay↔relay
/// once more per protocol, so that each transport (TURN over UDP, TCP,
/// TLS) is proved on its own instead of only the one ICE prefers.
pub fn plan_runs(filters: &[CandidateFilter], servers: &IceServers) -> Vec<IceRunPlan> {
    let protocols = servers.relay_protocols();
    let mut out = Vec::new();
    for &filter in filters {
        out.push(IceRunPlan {
            filter,
            relay_only: None,
        });
        if filter == CandidateFilter::RelayRelay && protocols.len() > 1 {
            out.extend(protocols.iter().map(|p| IceRunPlan {
                filter,
                relay_only: Some(*p),
            }));
        }
    }
    out
}

/// Runs every run [`plan_runs`] makes of `filters`, in parallel. Results
/// come back in plan order; each run is bounded by
/// [`IceOptions::run_bound`] and a failing (or panicking) run becomes a
/// result, never an abort.
pub async fn run_all(
    filters: &[CandidateFilter],
    servers: &IceServers,
    opts: &IceOptions,
) -> Vec<IceRunResult> {
    let opts = Arc::new(opts.clone());
    let handles: Vec<_> = plan_runs(filters, servers)
        .into_iter()
        .map(|plan| {
            let servers = match plan.relay_only {
                Some(p) => servers.only_relay(p),
                None => servers.clone(),
            };
            let opts = opts.clone();
            (
                plan,
                tokio::spawn(async move {
                    let mut r = run_filter(plan.filter, &servers, &opts).await;
                    r.relay_only = plan.relay_only;
                    r
                }),
            )
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for (plan, h) in handles {
        out.push(match h.await {
            Ok(r) => r,
            Err(e) => {
                let mut r = empty_result(
                    plan.filter,
                    IceFailure::Local {
                        message: format!("run task ended: {e}"),
                    },
                    Duration::ZERO,
                );
                r.relay_only = plan.relay_only;
                r
            }
        });
    }
    out
}

/// Runs one ICE session restricted by `filter`.
pub async fn run_filter(
    filter: CandidateFilter,
    servers: &IceServers,
    opts: &IceOptions,
) -> IceRunResult {
    run_bounded(filter, servers, opts, None).await
}

/// Runs one ICE session restricted by `filter` on host sockets the caller
/// bound: `host_sockets[0]` for agent "a", `[1]` for agent "b" (instead of
/// binding one per [`IceOptions::host_ips`]). A socket keeps the network
/// namespace it was created in, so the two agents can sit behind different
/// NATs (e.g. one in each site of the netns lab) while one tokio loop drives
/// both and exchanges their candidates in-process. srflx gathering uses
/// these sockets; relay sockets are still bound by the run itself (in the
/// caller's namespace).
pub async fn run_filter_on_sockets(
    filter: CandidateFilter,
    servers: &IceServers,
    opts: &IceOptions,
    host_sockets: [Vec<std::net::UdpSocket>; 2],
) -> IceRunResult {
    run_bounded(filter, servers, opts, Some(host_sockets)).await
}

async fn run_bounded(
    filter: CandidateFilter,
    servers: &IceServers,
    opts: &IceOptions,
    host_sockets: Option<[Vec<std::net::UdpSocket>; 2]>,
) -> IceRunResult {
    let t0 = Instant::now();
    let run = run_inner(filter, servers, opts, t0, host_sockets);
    match tokio::time::timeout(opts.run_bound(), run).await {
        Ok(r) => r,
        Err(_) => empty_result(
            filter,
            IceFailure::Timeout {
                phase: IcePhase::Checks,
            },
            t0.elapsed(),
        ),
    }
}

fn empty_result(filter: CandidateFilter, failure: IceFailure, duration: Duration) -> IceRunResult {
    IceRunResult {
        filter,
        relay_only: None,
        failure: Some(failure),
        agents: Vec::new(),
        selected: None,
        peer_reflexive_seen: false,
        time_to_connected: None,
        payload: None,
        hairpin: None,
        data_channel: None,
        duration,
    }
}

const ROLES: [&str; 2] = ["a", "b"];

/// rice-proto's configuration for one TURN server: credentials and the
/// transport to it. TURN over TLS is TCP to rice-proto: the driver runs
/// TLS on the connection (see [`tls_target`]).
fn turn_config(t: &TurnServerSpec) -> rice_proto::turn::TurnConfig {
    let client_transport = match t.transport {
        IceTurnTransport::Udp => TransportType::Udp,
        IceTurnTransport::Tcp | IceTurnTransport::Tls { .. } => TransportType::Tcp,
    };
    rice_proto::turn::TurnConfig::new(
        client_transport,
        t.addr,
        rice_proto::turn::TurnCredentials::new(&t.username, t.password.expose()),
    )
}

/// TURN servers reached over TCP or TLS at the same address as an earlier
/// one (e.g. `turn:…:443?transport=tcp` and `turns:…:443` on a server that
/// tells them apart by the first byte): index → the earlier one's index.
/// rice-proto keeps one TCP connection per server address, so in a run with
/// both only the first gets one; the other is proved in its own
/// per-transport run ([`plan_runs`]).
fn shared_tcp_addresses(turn: &[TurnServerSpec]) -> std::collections::HashMap<usize, usize> {
    let mut first: std::collections::HashMap<SocketAddr, usize> = Default::default();
    let mut out = std::collections::HashMap::new();
    for (i, t) in turn.iter().enumerate() {
        if matches!(t.transport, IceTurnTransport::Udp) {
            continue;
        }
        match first.get(&t.addr) {
            Some(&j) => {
                out.insert(i, j);
            }
            None => {
                first.insert(t.addr, i);
            }
        }
    }
    out
}

/// The TLS the driver runs on the connection to `t`, for `turns:`.
fn tls_target(t: &TurnServerSpec) -> Option<TlsTarget> {
    match &t.transport {
        IceTurnTransport::Tls {
            server_name,
            config,
        } => Some(TlsTarget {
            server_name: server_name.clone(),
            config: config.clone(),
        }),
        IceTurnTransport::Udp | IceTurnTransport::Tcp => None,
    }
}

fn bind_ip_for(opts: &IceOptions, target: SocketAddr) -> IpAddr {
    opts.host_ips
        .iter()
        .copied()
        .find(|ip| ip.is_ipv4() == target.is_ipv4())
        .unwrap_or(if target.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        })
}

fn host_candidate(component_id: usize, i: usize, addr: SocketAddr) -> Candidate {
    let prio = Candidate::calculate_priority(
        CandidateType::Host,
        TransportType::Udp,
        None,
        65535 - i as u32,
        component_id,
    );
    Candidate::builder(
        component_id,
        CandidateType::Host,
        TransportType::Udp,
        &format!("10{i}"),
        addr,
    )
    .priority(prio)
    .base_address(addr)
    .build()
}

fn srflx_candidate(component_id: usize, i: usize, addr: SocketAddr, base: SocketAddr) -> Candidate {
    let prio = Candidate::calculate_priority(
        CandidateType::ServerReflexive,
        TransportType::Udp,
        None,
        65535 - i as u32,
        component_id,
    );
    Candidate::builder(
        component_id,
        CandidateType::ServerReflexive,
        TransportType::Udp,
        &format!("20{i}"),
        addr,
    )
    .priority(prio)
    .base_address(base)
    .related_address(base)
    .build()
}

// `side` indexes several parallel per-agent arrays (sockets, reports, agents).
#[allow(clippy::needless_range_loop)]
async fn run_inner(
    filter: CandidateFilter,
    servers: &IceServers,
    opts: &IceOptions,
    t0: Instant,
    given_sockets: Option<[Vec<std::net::UdpSocket>; 2]>,
) -> IceRunResult {
    let mut pair = match Pair::new(filter, opts.gather_timeout) {
        Ok(p) => p,
        Err(message) => return empty_result(filter, IceFailure::Local { message }, t0.elapsed()),
    };
    let mut reports: Vec<AgentReport> = (0..2)
        .map(|side| AgentReport {
            role: ROLES[side].to_string(),
            allowed: filter.allowed(side),
            candidates: Vec::new(),
            server_problems: Vec::new(),
            gathering_time: Duration::ZERO,
            gathering_complete: true,
        })
        .collect();
    let gather_deadline = t0 + opts.gather_timeout;

    // Host sockets (the base of host and srflx candidates).
    let mut host_socks: [Vec<UdpSocket>; 2] = [Vec::new(), Vec::new()];
    let bind_own = given_sockets.is_none();
    if let Some(given) = given_sockets {
        for (side, socks) in given.into_iter().enumerate() {
            if !(filter.gathers(side, CandidateKind::Host)
                || filter.gathers(side, CandidateKind::Srflx))
            {
                continue;
            }
            for s in socks {
                match s
                    .set_nonblocking(true)
                    .and_then(|()| UdpSocket::from_std(s))
                {
                    Ok(s) => host_socks[side].push(s),
                    Err(e) => {
                        return finish_early(
                            filter,
                            reports,
                            IceFailure::Local {
                                message: format!("host socket: {e}"),
                            },
                            t0,
                        );
                    }
                }
            }
        }
    }
    for side in (0..2).filter(|_| bind_own) {
        if !(filter.gathers(side, CandidateKind::Host)
            || filter.gathers(side, CandidateKind::Srflx))
        {
            continue;
        }
        for ip in &opts.host_ips {
            match UdpSocket::bind(SocketAddr::new(*ip, 0)).await {
                Ok(s) => host_socks[side].push(s),
                Err(e) => {
                    return finish_early(
                        filter,
                        reports,
                        IceFailure::Local {
                            message: format!("bind {ip}: {e}"),
                        },
                        t0,
                    );
                }
            }
        }
    }

    // srflx: Binding requests from the host sockets, both agents at once.
    let want_srflx =
        |side: usize| filter.gathers(side, CandidateKind::Srflx) && !servers.stun.is_empty();
    let srflx_side = |side: usize| {
        let socks = &host_socks[side];
        async move {
            let mut out = Vec::new();
            if want_srflx(side) {
                for s in socks {
                    out.push(srflx_on_socket(s, &servers.stun, gather_deadline).await);
                }
            }
            out
        }
    };
    let (s0, s1) = tokio::join!(srflx_side(0), srflx_side(1));
    let srflx = [s0, s1];

    for side in 0..2 {
        let cid = pair.sides[side].component_id;
        let socks = std::mem::take(&mut host_socks[side]);
        for (i, sock) in socks.into_iter().enumerate() {
            let local = match pair.add_socket(side, sock, None) {
                Ok(a) => a,
                Err(e) => {
                    return finish_early(
                        filter,
                        reports,
                        IceFailure::Local {
                            message: format!("socket: {e}"),
                        },
                        t0,
                    );
                }
            };
            if filter.gathers(side, CandidateKind::Host) {
                let res = pair.sides[side].add_local(host_candidate(cid, i, local));
                reports[side].candidates.push(CandidateInfo {
                    kind: CandidateKind::Host,
                    protocol: "udp".into(),
                    address: local,
                    related_address: None,
                    server: None,
                    gathered_after: t0.elapsed(),
                    used: res.is_ok(),
                    dropped: res.err(),
                    relay_protocol: None,
                });
            }
            let Some(answers) = srflx[side].get(i) else {
                continue;
            };
            let mut seen: Vec<SocketAddr> = Vec::new();
            for a in answers {
                let url = servers
                    .stun
                    .get(a.server)
                    .map(|s| s.url.clone())
                    .unwrap_or_default();
                match &a.result {
                    Ok(mapped) => {
                        let (used, dropped) = if seen.contains(mapped) {
                            (
                                false,
                                Some("same address as an earlier srflx candidate".to_string()),
                            )
                        } else {
                            seen.push(*mapped);
                            match pair.sides[side].add_local(srflx_candidate(
                                cid,
                                i * 16 + a.server,
                                *mapped,
                                local,
                            )) {
                                Ok(()) => (true, None),
                                Err(e) => (false, Some(e)),
                            }
                        };
                        reports[side].candidates.push(CandidateInfo {
                            kind: CandidateKind::Srflx,
                            protocol: "udp".into(),
                            address: *mapped,
                            related_address: Some(local),
                            server: Some(url),
                            gathered_after: a.at.saturating_duration_since(t0),
                            used,
                            dropped,
                            relay_protocol: None,
                        });
                    }
                    Err(e) => reports[side].server_problems.push(ServerProblem {
                        server: url,
                        kind: CandidateKind::Srflx,
                        error: e.clone(),
                    }),
                }
            }
        }
    }

    // relay: rice-proto's TURN gatherer: one local UDP socket per TURN
    // server over UDP; over TCP/TLS one connection per server, made when
    // rice-proto asks for it (rice-proto runs TLS itself).
    let configs: Vec<rice_proto::turn::TurnConfig> = servers.turn.iter().map(turn_config).collect();
    for side in 0..2 {
        if !filter.gathers(side, CandidateKind::Relay) || servers.turn.is_empty() {
            continue;
        }
        let mut entries = Vec::new();
        let shared = shared_tcp_addresses(&servers.turn);
        for (i, t) in servers.turn.iter().enumerate() {
            let bind = SocketAddr::new(bind_ip_for(opts, t.addr), 0);
            if let Some(&j) = shared.get(&i) {
                reports[side].server_problems.push(ServerProblem {
                    server: t.url.clone(),
                    kind: CandidateKind::Relay,
                    error: GatherError::SharedTcpAddress {
                        other: servers.turn[j].url.clone(),
                    },
                });
                continue;
            }
            if !matches!(t.transport, IceTurnTransport::Udp) {
                entries.push((i, bind, &configs[i], tls_target(t)));
                continue;
            }
            let local = match UdpSocket::bind(bind).await {
                Ok(sock) => pair.add_socket(side, sock, Some((i, t.addr))),
                Err(e) => Err(e),
            };
            match local {
                Ok(local) => entries.push((i, local, &configs[i], None)),
                Err(e) => reports[side].server_problems.push(ServerProblem {
                    server: t.url.clone(),
                    kind: CandidateKind::Relay,
                    error: GatherError::Socket {
                        message: e.to_string(),
                    },
                }),
            }
        }
        // rice-proto ranks relays by their order here: UDP, then TCP, then
        // TLS, as browsers do (RFC 8445 §5.1.2.2 local preference).
        entries.sort_by_key(|(i, _, _, _)| servers.turn[*i].transport.protocol());
        if let Err(message) = pair.start_turn_gathering(side, &entries) {
            return finish_early(filter, reports, IceFailure::Local { message }, t0);
        }
    }
    pair.drive_until(gather_deadline, |s| s.iter().all(|s| s.gathering_over()))
        .await;
    let gather_end = t0.elapsed();
    for side in 0..2 {
        let s = &pair.sides[side];
        let started = s.gathering_started;
        reports[side].gathering_complete = !started || s.gathering_done;
        for r in &s.relays {
            reports[side].candidates.push(CandidateInfo {
                kind: r.candidate.candidate_type.into(),
                protocol: "udp".into(),
                address: r.candidate.address,
                related_address: r.candidate.related_address,
                server: r
                    .turn_server
                    .and_then(|i| servers.turn.get(i))
                    .map(|t| t.url.clone()),
                gathered_after: r.at.saturating_duration_since(t0),
                used: r.used,
                dropped: r.dropped.clone(),
                relay_protocol: r
                    .turn_server
                    .and_then(|i| servers.turn.get(i))
                    .map(|t| t.transport.protocol()),
            });
        }
        if started {
            for (i, t) in servers.turn.iter().enumerate() {
                if s.relays.iter().any(|r| r.turn_server == Some(i))
                    || reports[side]
                        .server_problems
                        .iter()
                        .any(|p| p.server == t.url && p.kind == CandidateKind::Relay)
                {
                    continue;
                }
                let error = match pair.turn_error(side, i) {
                    Some(e) => e,
                    None if s.turn_conn_errors.contains_key(&i) => GatherError::Connection {
                        message: s.turn_conn_errors[&i].clone(),
                    },
                    None if s.gathering_done => GatherError::TurnFailed,
                    None => GatherError::NoResponse,
                };
                reports[side].server_problems.push(ServerProblem {
                    server: t.url.clone(),
                    kind: CandidateKind::Relay,
                    error,
                });
            }
        }
        reports[side].gathering_time = if started {
            gather_end
        } else {
            reports[side]
                .candidates
                .iter()
                .map(|c| c.gathered_after)
                .max()
                .unwrap_or_default()
        };
    }

    // Does each agent have a candidate of the type it is allowed?
    for side in 0..2 {
        if reports[side].candidates.iter().any(|c| c.used) {
            continue;
        }
        let kind = filter.allowed(side).unwrap_or(CandidateKind::Host);
        let problems: Vec<&ServerProblem> = reports[side]
            .server_problems
            .iter()
            .filter(|p| filter.keeps(side, p.kind))
            .collect();
        if kind == CandidateKind::Relay
            && let Some(p) = problems
                .iter()
                .find(|p| matches!(p.error, GatherError::TurnError { .. }))
        {
            let failure = IceFailure::TurnError {
                server: p.server.clone(),
                error: p.error.clone(),
            };
            return finish_early(filter, reports, failure, t0);
        }
        let reason = match kind {
            CandidateKind::Srflx if servers.stun.is_empty() => {
                "no STUN server configured".to_string()
            }
            CandidateKind::Relay if servers.turn.is_empty() => {
                "no TURN server configured".to_string()
            }
            CandidateKind::Host if opts.host_ips.is_empty() => {
                "no host address to bind".to_string()
            }
            _ if !problems.is_empty() => problems
                .iter()
                .map(|p| format!("{}: {}", p.server, p.error))
                .collect::<Vec<_>>()
                .join("; "),
            _ => "every gathered candidate was dropped".to_string(),
        };
        let failure = IceFailure::NoCandidates {
            agent: ROLES[side].to_string(),
            kind,
            reason,
        };
        return finish_early(filter, reports, failure, t0);
    }

    // Exchange and connectivity checks.
    if let Err(message) = pair.exchange() {
        return finish_early(filter, reports, IceFailure::Local { message }, t0);
    }
    let checks_t0 = Instant::now();
    let connect_deadline = checks_t0 + opts.connect_timeout;
    pair.drive_until(connect_deadline, |s| {
        s.iter().all(|s| s.is_connected()) || s.iter().any(|s| s.failed)
    })
    .await;
    let connected = pair.sides.iter().all(|s| s.is_connected());
    let time_to_connected = if connected {
        pair.sides
            .iter()
            .filter_map(|s| s.connected)
            .max()
            .map(|t| t.saturating_duration_since(checks_t0))
    } else {
        None
    };
    // How each agent reached the TURN server behind a relayed candidate of
    // the selected pair (looked up in that agent's own candidate list).
    let relay_protocol = |side: usize, addr: SocketAddr| {
        reports[side]
            .candidates
            .iter()
            .find(|c| c.kind == CandidateKind::Relay && c.address == addr)
            .and_then(|c| c.relay_protocol)
    };
    let selected = pair.sides[0].selected.as_ref().map(|p| SelectedPairInfo {
        local_relay_protocol: relay_protocol(0, p.local.address),
        remote_relay_protocol: relay_protocol(1, p.remote.address),
        local_kind: p.local.candidate_type.into(),
        local_address: p.local.address,
        remote_kind: p.remote.candidate_type.into(),
        remote_address: p.remote.address,
        peer_view: pair.sides[1].selected.as_ref().map(|q| {
            (
                q.local.candidate_type.into(),
                q.local.address,
                q.remote.candidate_type.into(),
                q.remote.address,
            )
        }),
    });
    let peer_reflexive_seen = pair
        .sides
        .iter()
        .any(|s| s.known_kinds().contains(&CandidateKind::Prflx))
        || selected.as_ref().is_some_and(|s| {
            s.local_kind == CandidateKind::Prflx || s.remote_kind == CandidateKind::Prflx
        });
    let hairpin = (filter == CandidateFilter::SrflxSrflx).then(|| hairpin_note(&reports));

    let mut failure = None;
    let mut payload = None;
    if !connected {
        failure = Some(if pair.sides.iter().any(|s| s.failed) {
            IceFailure::ChecksFailed
        } else {
            IceFailure::Timeout {
                phase: IcePhase::Checks,
            }
        });
    } else {
        let p = exchange_payload(&mut pair, filter, opts).await;
        if !p.both_ways() {
            failure = Some(IceFailure::PayloadFailed);
        }
        payload = Some(p);
    }
    let data_channel = if connected && opts.data_channel {
        Some(
            super::datachannel::run(
                &mut pair,
                filter,
                opts.connect_timeout,
                opts.payload_timeout,
            )
            .await,
        )
    } else {
        None
    };

    // Release TURN allocations (bounded).
    if pair.sides.iter().any(|s| !s.relays.is_empty()) {
        pair.close();
        pair.drive_until(Instant::now() + Duration::from_millis(200), |_| false)
            .await;
    }

    IceRunResult {
        filter,
        relay_only: None,
        failure,
        agents: reports,
        selected,
        peer_reflexive_seen,
        time_to_connected,
        payload,
        hairpin,
        data_channel,
        duration: t0.elapsed(),
    }
}

fn finish_early(
    filter: CandidateFilter,
    agents: Vec<AgentReport>,
    failure: IceFailure,
    t0: Instant,
) -> IceRunResult {
    IceRunResult {
        agents,
        ..empty_result(filter, failure, t0.elapsed())
    }
}

fn hairpin_note(reports: &[AgentReport]) -> HairpinNote {
    let srflx: Vec<Vec<&CandidateInfo>> = reports
        .iter()
        .map(|r| {
            r.candidates
                .iter()
                .filter(|c| c.kind == CandidateKind::Srflx && c.used)
                .collect()
        })
        .collect();
    let all_no_nat = srflx
        .iter()
        .flatten()
        .all(|c| Some(c.address) == c.related_address);
    if all_no_nat {
        return HairpinNote::NoNat;
    }
    let (a, b) = match (srflx.first(), srflx.get(1)) {
        (Some(a), Some(b)) => (a, b),
        _ => return HairpinNote::NotRequired,
    };
    a.iter()
        .find_map(|x| {
            b.iter()
                .find(|y| y.address.ip() == x.address.ip())
                .map(|_| x.address.ip())
        })
        .map(|public_ip| HairpinNote::Required { public_ip })
        .unwrap_or(HairpinNote::NotRequired)
}

async fn exchange_payload(
    pair: &mut Pair,
    filter: CandidateFilter,
    opts: &IceOptions,
) -> PayloadExchange {
    let mut p = PayloadExchange {
        sent: 0,
        a_to_b: 0,
        b_to_a: 0,
        rtts: Vec::new(),
    };
    for i in 0..opts.pings {
        let ping = format!("natscope-ice ping {filter} {i}").into_bytes();
        let pong = format!("natscope-ice pong {filter} {i}").into_bytes();
        let start = Instant::now();
        if pair.send_app(0, &ping).is_err() {
            break;
        }
        p.sent += 1;
        let deadline = start + opts.payload_timeout;
        let got = pair
            .drive_until(deadline, |s| s[1].app_rx.iter().any(|d| *d == ping))
            .await;
        pair.sides[1].app_rx.clear();
        if !got {
            continue;
        }
        p.a_to_b += 1;
        if pair.send_app(1, &pong).is_err() {
            continue;
        }
        let got = pair
            .drive_until(deadline, |s| s[0].app_rx.iter().any(|d| *d == pong))
            .await;
        pair.sides[0].app_rx.clear();
        if got {
            p.b_to_a += 1;
            p.rtts.push(start.elapsed());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ice::{StunServerSpec, TurnServerSpec};
    use crate::turn::Secret;

    fn turn(port: u16, transport: IceTurnTransport) -> TurnServerSpec {
        TurnServerSpec {
            url: format!("turn:192.0.2.1:{port}"),
            addr: SocketAddr::from(([192, 0, 2, 1], port)),
            transport,
            username: "u".into(),
            password: Secret::new("p".to_string()),
        }
    }

    fn tls() -> IceTurnTransport {
        let config = crate::turn::tls::client_config(&crate::turn::TlsOptions {
            ca_pem: None,
            insecure: true,
        })
        .expect("an insecure client config needs no roots");
        IceTurnTransport::Tls {
            server_name: crate::turn::tls::server_name("turn.example.net").expect("a DNS name"),
            config,
        }
    }

    #[test]
    fn relay_relay_is_run_once_more_per_protocol_when_several_are_configured() {
        let servers = IceServers {
            stun: vec![StunServerSpec {
                url: "stun:192.0.2.1".into(),
                addr: SocketAddr::from(([192, 0, 2, 1], 3478)),
            }],
            turn: vec![
                turn(5349, tls()),
                turn(3478, IceTurnTransport::Udp),
                turn(3479, IceTurnTransport::Tcp),
            ],
        };
        let plan = plan_runs(&CandidateFilter::ALL_FILTERS, &servers);
        let relay: Vec<Option<RelayProtocol>> = plan
            .iter()
            .filter(|p| p.filter == CandidateFilter::RelayRelay)
            .map(|p| p.relay_only)
            .collect();
        assert_eq!(
            relay,
            [
                None,
                Some(RelayProtocol::Udp),
                Some(RelayProtocol::Tcp),
                Some(RelayProtocol::Tls)
            ]
        );
        assert_eq!(plan.len(), CandidateFilter::ALL_FILTERS.len() + 3);
        // Each restricted run sees only its own servers (and all STUN).
        let tcp_only = servers.only_relay(RelayProtocol::Tcp);
        assert_eq!(tcp_only.turn.len(), 1);
        assert_eq!(tcp_only.turn[0].addr.port(), 3479);
        assert_eq!(tcp_only.stun.len(), 1);
    }

    #[test]
    fn tcp_and_tls_on_one_address_share_it_with_the_first() {
        let turn_list = vec![
            turn(443, IceTurnTransport::Tcp),
            turn(443, IceTurnTransport::Udp),
            turn(443, tls()),
            turn(5349, tls()),
        ];
        let shared = shared_tcp_addresses(&turn_list);
        // Only the TLS server on :443 collides (with the TCP one); UDP on
        // the same port and TLS elsewhere do not.
        assert_eq!(shared.len(), 1);
        assert_eq!(shared.get(&2), Some(&0));
        // Each still gets its own per-transport run.
        let servers = IceServers {
            stun: Vec::new(),
            turn: turn_list,
        };
        assert_eq!(servers.only_relay(RelayProtocol::Tls).turn.len(), 2);
        assert!(shared_tcp_addresses(&servers.only_relay(RelayProtocol::Tls).turn).is_empty());
    }

    #[test]
    fn one_protocol_needs_no_extra_run() {
        let servers = IceServers {
            stun: Vec::new(),
            turn: vec![turn(5349, tls()), turn(5350, tls())],
        };
        let plan = plan_runs(&[CandidateFilter::RelayRelay], &servers);
        assert_eq!(
            plan,
            [IceRunPlan {
                filter: CandidateFilter::RelayRelay,
                relay_only: None
            }]
        );
        assert_eq!(servers.relay_protocols(), [RelayProtocol::Tls]);
    }
}
