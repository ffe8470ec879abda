//! One ICE session per [`IceFilter`], phase by phase — host sockets,
//! host and srflx candidates, relayed candidates, the gathering verdict,
//! candidate check, connectivity checks, payload, data channel, release —
//! and [`run_all`], every planned run in parallel.

use super::agent::{Pair, TlsTarget, candidate_type};
use super::gather::{SrflxAnswer, srflx_on_socket};
use super::plan::{plan_runs, shared_tcp_addresses};
use super::result::*;
use super::side::PerSide;
use super::{IceOptions, IceServers, IceTurnTransport, TurnServerSpec};
use model::ice::{CandidateType, IceFilter, Side};
use rice_proto::candidate::{Candidate, CandidateType as RiceType, TransportType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// Runs every run [`plan_runs`] makes of `filters`, in parallel. Results
/// come back in plan order; each run is bounded by
/// [`IceOptions::run_bound`] and a failing (or panicking) run becomes a
/// result, never an abort.
pub async fn run_all(
    filters: &[IceFilter],
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
        let mut r = match h.await {
            Ok(r) => r,
            Err(e) => empty_result(
                plan.filter,
                IceFailure::Local {
                    message: format!("run task ended: {e}"),
                },
                Duration::ZERO,
            ),
        };
        r.relay_only = plan.relay_only;
        out.push(r);
    }
    out
}

/// Runs one ICE session restricted by `filter`.
pub async fn run_filter(
    filter: IceFilter,
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
    filter: IceFilter,
    servers: &IceServers,
    opts: &IceOptions,
    host_sockets: [Vec<std::net::UdpSocket>; 2],
) -> IceRunResult {
    let [a, b] = host_sockets;
    run_bounded(filter, servers, opts, Some(PerSide { a, b })).await
}

async fn run_bounded(
    filter: IceFilter,
    servers: &IceServers,
    opts: &IceOptions,
    host_sockets: Option<PerSide<Vec<std::net::UdpSocket>>>,
) -> IceRunResult {
    let t0 = Instant::now();
    let run = run_phases(filter, servers, opts, t0, host_sockets);
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

fn empty_result(filter: IceFilter, failure: IceFailure, duration: Duration) -> IceRunResult {
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

/// The phases in order; the first one that ends the run returns its
/// result.
async fn run_phases(
    filter: IceFilter,
    servers: &IceServers,
    opts: &IceOptions,
    t0: Instant,
    given_sockets: Option<PerSide<Vec<std::net::UdpSocket>>>,
) -> IceRunResult {
    let pair = match Pair::new(filter, opts.gather_timeout) {
        Ok(p) => p,
        Err(message) => return empty_result(filter, IceFailure::Local { message }, t0.elapsed()),
    };
    let mut run = Run {
        filter,
        servers,
        opts,
        t0,
        gather_deadline: t0 + opts.gather_timeout,
        pair,
        reports: PerSide::new(|side| AgentReport {
            role: side,
            allowed: filter.allowed(side),
            candidates: Vec::new(),
            server_problems: Vec::new(),
            gathering_time: Duration::ZERO,
            gathering_complete: true,
        }),
    };
    let gathered = async {
        let host = run.host_sockets(given_sockets).await?;
        run.host_and_srflx(host).await?;
        run.start_relays().await?;
        run.gather().await;
        run.check_candidates()
    };
    match gathered.await {
        Ok(()) => run.connect().await,
        Err(failure) => run.finish_early(failure),
    }
}

/// One run's state between phases.
struct Run<'a> {
    filter: IceFilter,
    servers: &'a IceServers,
    opts: &'a IceOptions,
    t0: Instant,
    gather_deadline: Instant,
    pair: Pair,
    reports: PerSide<AgentReport>,
}

/// A phase that ends the run early says why.
type Phase<T> = Result<T, IceFailure>;

fn local(message: String) -> IceFailure {
    IceFailure::Local { message }
}

impl Run<'_> {
    /// Whether `side` gathers host or srflx candidates (both sit on host
    /// sockets).
    fn needs_host_sockets(&self, side: Side) -> bool {
        self.filter.gathers(side, CandidateType::Host)
            || self.filter.gathers(side, CandidateType::Srflx)
    }

    /// Phase 1: the host sockets (the base of host and srflx candidates):
    /// the caller's, or one bound per [`IceOptions::host_ips`].
    async fn host_sockets(
        &self,
        given: Option<PerSide<Vec<std::net::UdpSocket>>>,
    ) -> Phase<PerSide<Vec<UdpSocket>>> {
        let mut socks: PerSide<Vec<UdpSocket>> = PerSide::default();
        if let Some(given) = given {
            for (side, list) in given.into_pairs() {
                if !self.needs_host_sockets(side) {
                    continue;
                }
                for s in list {
                    let s = s
                        .set_nonblocking(true)
                        .and_then(|()| UdpSocket::from_std(s))
                        .map_err(|e| local(format!("host socket: {e}")))?;
                    socks[side].push(s);
                }
            }
            return Ok(socks);
        }
        for side in Side::BOTH {
            if !self.needs_host_sockets(side) {
                continue;
            }
            for ip in &self.opts.host_ips {
                let s = UdpSocket::bind(SocketAddr::new(*ip, 0))
                    .await
                    .map_err(|e| local(format!("bind {ip}: {e}")))?;
                socks[side].push(s);
            }
        }
        Ok(socks)
    }

    /// Phase 2: srflx Binding requests from the host sockets (both agents
    /// at once), then each socket's host candidate and its srflx ones.
    async fn host_and_srflx(&mut self, host: PerSide<Vec<UdpSocket>>) -> Phase<()> {
        let (servers, filter, deadline) = (self.servers, self.filter, self.gather_deadline);
        let srflx_of = |side: Side| {
            let socks = &host[side];
            async move {
                let mut out = Vec::new();
                if filter.gathers(side, CandidateType::Srflx) && !servers.stun.is_empty() {
                    for s in socks {
                        out.push(srflx_on_socket(s, &servers.stun, deadline).await);
                    }
                }
                out
            }
        };
        let (a, b) = tokio::join!(srflx_of(Side::A), srflx_of(Side::B));
        let srflx = PerSide { a, b };
        for (side, socks) in host.into_pairs() {
            let cid = self.pair.sides[side].component_id;
            for (i, sock) in socks.into_iter().enumerate() {
                let local_addr = self
                    .pair
                    .add_socket(side, sock, None)
                    .map_err(|e| local(format!("socket: {e}")))?;
                if filter.gathers(side, CandidateType::Host) {
                    let res = self.pair.sides[side].add_local(host_candidate(cid, i, local_addr));
                    self.reports[side].candidates.push(CandidateInfo {
                        kind: CandidateType::Host,
                        protocol: "udp".into(),
                        address: local_addr,
                        related_address: None,
                        server: None,
                        gathered_after: self.t0.elapsed(),
                        used: res.is_ok(),
                        dropped: res.err(),
                        relay_protocol: None,
                    });
                }
                if let Some(answers) = srflx[side].get(i) {
                    self.add_srflx(side, cid, i, local_addr, answers);
                }
            }
        }
        Ok(())
    }

    /// The srflx candidates of host socket `i` of `side` (at `base`), one
    /// per distinct mapped address; servers that gave none are recorded.
    fn add_srflx(
        &mut self,
        side: Side,
        cid: usize,
        i: usize,
        base: SocketAddr,
        answers: &[SrflxAnswer],
    ) {
        let mut seen: Vec<SocketAddr> = Vec::new();
        for a in answers {
            let url = self
                .servers
                .stun
                .get(a.server)
                .map(|s| s.url.clone())
                .unwrap_or_default();
            let mapped = match &a.result {
                Ok(mapped) => *mapped,
                // A dual-stack run: this socket is of the other family; a
                // host socket of the server's family asks it. Only a server
                // no host address can reach is a problem.
                Err(GatherError::FamilyMismatch)
                    if self.servers.stun.get(a.server).is_some_and(|s| {
                        self.opts
                            .host_ips
                            .iter()
                            .any(|ip| ip.is_ipv4() == s.addr.is_ipv4())
                    }) =>
                {
                    continue;
                }
                Err(e) => {
                    self.reports[side].server_problems.push(ServerProblem {
                        server: url,
                        kind: CandidateType::Srflx,
                        error: e.clone(),
                    });
                    continue;
                }
            };
            let (used, dropped) = if seen.contains(&mapped) {
                (
                    false,
                    Some("same address as an earlier srflx candidate".to_string()),
                )
            } else {
                seen.push(mapped);
                let cand = srflx_candidate(cid, i * 16 + a.server, mapped, base);
                match self.pair.sides[side].add_local(cand) {
                    Ok(()) => (true, None),
                    Err(e) => (false, Some(e)),
                }
            };
            self.reports[side].candidates.push(CandidateInfo {
                kind: CandidateType::Srflx,
                protocol: "udp".into(),
                address: mapped,
                related_address: Some(base),
                server: Some(url),
                gathered_after: a.at.saturating_duration_since(self.t0),
                used,
                dropped,
                relay_protocol: None,
            });
        }
    }

    /// Phase 3: starts rice-proto's TURN gatherer: one local UDP socket per
    /// TURN server over UDP; over TCP/TLS one connection per server, made
    /// when rice-proto asks for it (the driver runs TLS itself).
    async fn start_relays(&mut self) -> Phase<()> {
        let servers = self.servers;
        if servers.turn.is_empty() {
            return Ok(());
        }
        let configs: Vec<rice_proto::turn::TurnConfig> =
            servers.turn.iter().map(turn_config).collect();
        let shared = shared_tcp_addresses(&servers.turn);
        for side in Side::BOTH {
            if !self.filter.gathers(side, CandidateType::Relay) {
                continue;
            }
            let mut entries = Vec::new();
            for (i, t) in servers.turn.iter().enumerate() {
                let bind = SocketAddr::new(bind_ip_for(self.opts, t.addr), 0);
                if let Some(&j) = shared.get(&i) {
                    self.reports[side].server_problems.push(ServerProblem {
                        server: t.url.clone(),
                        kind: CandidateType::Relay,
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
                let bound = match UdpSocket::bind(bind).await {
                    Ok(sock) => self.pair.add_socket(side, sock, Some((i, t.addr))),
                    Err(e) => Err(e),
                };
                match bound {
                    Ok(local_addr) => entries.push((i, local_addr, &configs[i], None)),
                    Err(e) => self.reports[side].server_problems.push(ServerProblem {
                        server: t.url.clone(),
                        kind: CandidateType::Relay,
                        error: GatherError::Socket {
                            message: e.to_string(),
                        },
                    }),
                }
            }
            // rice-proto ranks relays by their order here: UDP, then TCP,
            // then TLS, as browsers do (RFC 8445 §5.1.2.2 local preference).
            entries.sort_by_key(|(i, _, _, _)| servers.turn[*i].transport.protocol());
            self.pair
                .start_turn_gathering(side, &entries)
                .map_err(local)?;
        }
        Ok(())
    }

    /// Phase 4: drives gathering to its end or deadline, then records each
    /// agent's relayed candidates, the TURN servers that gave none (and
    /// why), and its gathering time.
    async fn gather(&mut self) {
        self.pair
            .drive_until(self.gather_deadline, |s| {
                s.iter().all(|s| s.gathering_over())
            })
            .await;
        let gather_end = self.t0.elapsed();
        let turn = &self.servers.turn;
        for side in Side::BOTH {
            let s = &self.pair.sides[side];
            let report = &mut self.reports[side];
            let started = s.gathering_started;
            report.gathering_complete = !started || s.gathering_done;
            for r in &s.relays {
                let server = r.turn_server.and_then(|i| turn.get(i));
                report.candidates.push(CandidateInfo {
                    kind: candidate_type(r.candidate.candidate_type),
                    protocol: "udp".into(),
                    address: r.candidate.address,
                    related_address: r.candidate.related_address,
                    server: server.map(|t| t.url.clone()),
                    gathered_after: r.at.saturating_duration_since(self.t0),
                    used: r.used,
                    dropped: r.dropped.clone(),
                    relay_protocol: server.map(|t| t.transport.protocol()),
                });
            }
            if started {
                for (i, t) in turn.iter().enumerate() {
                    let named = report
                        .server_problems
                        .iter()
                        .any(|p| p.server == t.url && p.kind == CandidateType::Relay);
                    if named || s.relays.iter().any(|r| r.turn_server == Some(i)) {
                        continue;
                    }
                    let error = match self.pair.turn_error(side, i) {
                        Some(e) => e,
                        None => match s.turn_conn_errors.get(&i) {
                            Some(message) => GatherError::Connection {
                                message: message.clone(),
                            },
                            None if s.gathering_done => GatherError::TurnFailed,
                            None => GatherError::NoResponse,
                        },
                    };
                    report.server_problems.push(ServerProblem {
                        server: t.url.clone(),
                        kind: CandidateType::Relay,
                        error,
                    });
                }
            }
            report.gathering_time = if started {
                gather_end
            } else {
                report
                    .candidates
                    .iter()
                    .map(|c| c.gathered_after)
                    .max()
                    .unwrap_or_default()
            };
        }
    }

    /// Phase 5: does each agent have a candidate of the type it is allowed?
    /// If not, the run ends with the most specific reason.
    fn check_candidates(&self) -> Phase<()> {
        for side in Side::BOTH {
            let report = &self.reports[side];
            if report.candidates.iter().any(|c| c.used) {
                continue;
            }
            let kind = self.filter.allowed(side).unwrap_or(CandidateType::Host);
            let problems: Vec<&ServerProblem> = report
                .server_problems
                .iter()
                .filter(|p| self.filter.keeps(side, p.kind))
                .collect();
            if kind == CandidateType::Relay
                && let Some(p) = problems
                    .iter()
                    .find(|p| matches!(p.error, GatherError::TurnError { .. }))
            {
                return Err(IceFailure::TurnError {
                    server: p.server.clone(),
                    error: p.error.clone(),
                });
            }
            let reason = match kind {
                CandidateType::Srflx if self.servers.stun.is_empty() => {
                    "no STUN server configured".to_string()
                }
                CandidateType::Relay if self.servers.turn.is_empty() => {
                    "no TURN server configured".to_string()
                }
                CandidateType::Host if self.opts.host_ips.is_empty() => {
                    "no host address to bind".to_string()
                }
                _ if !problems.is_empty() => problems
                    .iter()
                    .map(|p| format!("{}: {}", p.server, p.error))
                    .collect::<Vec<_>>()
                    .join("; "),
                _ => "every gathered candidate was dropped".to_string(),
            };
            return Err(IceFailure::NoCandidates {
                agent: side,
                kind,
                reason,
            });
        }
        Ok(())
    }

    /// Phases 6–9: exchange and connectivity checks, payload both ways, the
    /// data channel, and the release of TURN allocations. Always ends the
    /// run.
    async fn connect(mut self) -> IceRunResult {
        if let Err(message) = self.pair.exchange() {
            return self.finish_early(local(message));
        }
        let checks_t0 = Instant::now();
        tracing::debug!(filter = %self.filter, at_ms = self.t0.elapsed().as_secs_f64() * 1e3, "ice: checks start");
        let connect_deadline = checks_t0 + self.opts.connect_timeout;
        self.pair
            .drive_until(connect_deadline, |s| {
                s.iter().all(|s| s.is_connected()) || s.iter().any(|s| s.failed)
            })
            .await;
        let connected = self.pair.sides.iter().all(|s| s.is_connected());
        tracing::debug!(filter = %self.filter, connected, at_ms = self.t0.elapsed().as_secs_f64() * 1e3, "ice: checks done");
        let time_to_connected = connected
            .then(|| self.pair.sides.iter().filter_map(|s| s.connected).max())
            .flatten()
            .map(|t| t.saturating_duration_since(checks_t0));
        let selected = self.selected_pair();
        let peer_reflexive_seen = self
            .pair
            .sides
            .iter()
            .any(|s| s.known_kinds().contains(&CandidateType::Prflx))
            || selected.as_ref().is_some_and(|s| {
                s.local_kind == CandidateType::Prflx || s.remote_kind == CandidateType::Prflx
            });
        let hairpin = (self.filter == IceFilter::SrflxSrflx).then(|| hairpin_note(&self.reports));

        let (failure, payload) = if !connected {
            let failure = if self.pair.sides.iter().any(|s| s.failed) {
                IceFailure::ChecksFailed
            } else {
                IceFailure::Timeout {
                    phase: IcePhase::Checks,
                }
            };
            (Some(failure), None)
        } else {
            let p = exchange_payload(&mut self.pair, self.filter, self.opts).await;
            (
                (!p.both_ways()).then_some(IceFailure::PayloadFailed),
                Some(p),
            )
        };
        tracing::debug!(filter = %self.filter, at_ms = self.t0.elapsed().as_secs_f64() * 1e3, "ice: payload done");
        let data_channel = if connected && self.opts.data_channel {
            let dc = super::datachannel::run(
                &mut self.pair,
                self.filter,
                self.opts.connect_timeout,
                self.opts.payload_timeout,
            );
            Some(dc.await)
        } else {
            None
        };
        tracing::debug!(filter = %self.filter, at_ms = self.t0.elapsed().as_secs_f64() * 1e3, "ice: data channel done");
        self.release().await;
        IceRunResult {
            filter: self.filter,
            relay_only: None,
            failure,
            agents: self.reports.into_vec(),
            selected,
            peer_reflexive_seen,
            time_to_connected,
            payload,
            hairpin,
            data_channel,
            duration: self.t0.elapsed(),
        }
    }

    /// The pair agent "a" selected, with how each agent reached the TURN
    /// server behind a relayed candidate (from its own candidate list).
    fn selected_pair(&self) -> Option<SelectedPairInfo> {
        let relay_protocol = |side: Side, addr: SocketAddr| {
            self.reports[side]
                .candidates
                .iter()
                .find(|c| c.kind == CandidateType::Relay && c.address == addr)
                .and_then(|c| c.relay_protocol)
        };
        let p = self.pair.sides[Side::A].selected.as_ref()?;
        Some(SelectedPairInfo {
            local_relay_protocol: relay_protocol(Side::A, p.local.address),
            remote_relay_protocol: relay_protocol(Side::B, p.remote.address),
            local_kind: candidate_type(p.local.candidate_type),
            local_address: p.local.address,
            remote_kind: candidate_type(p.remote.candidate_type),
            remote_address: p.remote.address,
            peer_view: self.pair.sides[Side::B].selected.as_ref().map(|q| {
                (
                    candidate_type(q.local.candidate_type),
                    q.local.address,
                    candidate_type(q.remote.candidate_type),
                    q.remote.address,
                )
            }),
        })
    }

    /// Releases TURN allocations (bounded).
    async fn release(&mut self) {
        if self.pair.sides.iter().any(|s| !s.relays.is_empty()) {
            self.pair.close();
            // Until both agents say they are closed (their deallocations
            // answered), bounded.
            self.pair
                .drive_until(Instant::now() + Duration::from_millis(200), |s| {
                    s.iter().all(|s| s.closed)
                })
                .await;
            tracing::debug!(
                filter = %self.filter,
                closed = self.pair.sides.iter().all(|s| s.closed),
                at_ms = self.t0.elapsed().as_secs_f64() * 1e3,
                "ice: released"
            );
        }
    }

    /// The result of a run that ended early, with what the agents gathered.
    fn finish_early(self, failure: IceFailure) -> IceRunResult {
        IceRunResult {
            agents: self.reports.into_vec(),
            ..empty_result(self.filter, failure, self.t0.elapsed())
        }
    }
}

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

/// A local UDP candidate of type `kind` (host or srflx) with foundation
/// `foundation` and local preference `65535 - i`.
fn udp_candidate(
    kind: RiceType,
    foundation: String,
    component_id: usize,
    i: usize,
    addr: SocketAddr,
    base: SocketAddr,
) -> Candidate {
    let local_pref = 65535u32.saturating_sub(u32::try_from(i).unwrap_or(u32::MAX));
    let prio =
        Candidate::calculate_priority(kind, TransportType::Udp, None, local_pref, component_id);
    let b = Candidate::builder(component_id, kind, TransportType::Udp, &foundation, addr)
        .priority(prio)
        .base_address(base);
    match kind {
        RiceType::Host => b.build(),
        _ => b.related_address(base).build(),
    }
}

fn host_candidate(component_id: usize, i: usize, addr: SocketAddr) -> Candidate {
    udp_candidate(
        RiceType::Host,
        format!("10{i}"),
        component_id,
        i,
        addr,
        addr,
    )
}

fn srflx_candidate(component_id: usize, i: usize, addr: SocketAddr, base: SocketAddr) -> Candidate {
    udp_candidate(
        RiceType::ServerReflexive,
        format!("20{i}"),
        component_id,
        i,
        addr,
        base,
    )
}

/// For srflx↔srflx: do both agents share a public IP (the pair needs the
/// NAT to hairpin), or is there no NAT at all?
fn hairpin_note(reports: &PerSide<AgentReport>) -> HairpinNote {
    let used_srflx = |side: Side| -> Vec<&CandidateInfo> {
        reports[side]
            .candidates
            .iter()
            .filter(|c| c.kind == CandidateType::Srflx && c.used)
            .collect()
    };
    let (a, b) = (used_srflx(Side::A), used_srflx(Side::B));
    let all_no_nat = a
        .iter()
        .chain(&b)
        .all(|c| Some(c.address) == c.related_address);
    if all_no_nat {
        return HairpinNote::NoNat;
    }
    a.iter()
        .find_map(|x| {
            b.iter()
                .find(|y| y.address.ip() == x.address.ip())
                .map(|_| x.address.ip())
        })
        .map(|public_ip| HairpinNote::Required { public_ip })
        .unwrap_or(HairpinNote::NotRequired)
}

/// Pings from "a", pongs from "b", over the selected pair.
async fn exchange_payload(
    pair: &mut Pair,
    filter: IceFilter,
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
        if pair.send_app(Side::A, &ping).is_err() {
            break;
        }
        p.sent += 1;
        let deadline = start + opts.payload_timeout;
        let got = pair
            .drive_until(deadline, |s| s[Side::B].app_rx.iter().any(|d| *d == ping))
            .await;
        pair.sides[Side::B].app_rx.clear();
        if !got {
            continue;
        }
        p.a_to_b += 1;
        if pair.send_app(Side::B, &pong).is_err() {
            continue;
        }
        let got = pair
            .drive_until(deadline, |s| s[Side::A].app_rx.iter().any(|d| *d == pong))
            .await;
        pair.sides[Side::A].app_rx.clear();
        if got {
            p.b_to_a += 1;
            p.rtts.push(start.elapsed());
        }
    }
    p
}
