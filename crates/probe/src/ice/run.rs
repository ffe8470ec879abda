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
use model::peer::{IceDescription, SdpKind};
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
    run_bounded(filter, servers, opts, None, None).await
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
    run_bounded(filter, servers, opts, Some(PerSide { a, b }), None).await
}

/// Runs this machine's side of an ICE session with another natscope: one
/// agent (`side` "a" controlling for the session's creator, "b" for the
/// joiner) gathers from `servers`, sends its description and receives the
/// other side's through `signal`, runs the checks, exchanges payload (and
/// a short burst, whose receipt the caller learns from the other side),
/// and opens a data channel whose SDP also goes through `signal`. The
/// result lists this side's agent only.
pub async fn run_remote(
    side: Side,
    servers: &IceServers,
    opts: &IceOptions,
    signal: &mut dyn RemoteSignal,
) -> (IceRunResult, BurstSeen) {
    let mut seen = BurstSeen::default();
    let remote = Remote {
        side,
        signal,
        burst: &mut seen,
    };
    let r = run_bounded(IceFilter::All, servers, opts, None, Some(remote)).await;
    (r, seen)
}

/// The other side of a [`run_remote`]: carries this side's ICE description
/// and data-channel SDP to the other natscope, and brings its own. Errors
/// are plain words (the other side left, its message could not be read,
/// the rendezvous failed).
#[async_trait::async_trait]
pub trait RemoteSignal: Send + Sync {
    /// Sends this side's ICE description.
    async fn send_description(&mut self, d: IceDescription) -> Result<(), String>;
    /// The other side's ICE description, by `deadline`.
    async fn recv_description(&mut self, deadline: Instant) -> Result<IceDescription, String>;
    /// Tells the other side this side has its candidates and starts the
    /// checks.
    async fn send_ready(&mut self) -> Result<(), String>;
    /// Waits until the other side has this side's candidates.
    async fn recv_ready(&mut self, deadline: Instant) -> Result<(), String>;
    /// Sends the data channel's SDP (an offer from "a", an answer from
    /// "b").
    async fn send_sdp(&mut self, kind: SdpKind, sdp: String) -> Result<(), String>;
    /// The other side's SDP of `kind`, by `deadline`.
    async fn recv_sdp(&mut self, kind: SdpKind, deadline: Instant) -> Result<String, String>;
}

/// What this side received of the other side's burst (see [`run_remote`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BurstSeen {
    /// Bytes received.
    pub bytes: u64,
    /// From the first to the last burst datagram received.
    pub span: Duration,
}

/// Datagrams in a remote run's burst, and their size: 300 kB, a short
/// throughput figure that a relay's quota does not mind.
const BURST: (u32, usize) = (256, 1200);
/// Prefix of a burst datagram.
const BURST_TAG: &[u8] = b"natscope-burst ";

/// The remote side of a run, when there is one.
pub(crate) struct Remote<'a> {
    pub(crate) side: Side,
    pub(crate) signal: &'a mut dyn RemoteSignal,
    burst: &'a mut BurstSeen,
}

async fn run_bounded(
    filter: IceFilter,
    servers: &IceServers,
    opts: &IceOptions,
    host_sockets: Option<PerSide<Vec<std::net::UdpSocket>>>,
    remote: Option<Remote<'_>>,
) -> IceRunResult {
    let t0 = Instant::now();
    let run = run_phases(filter, servers, opts, t0, host_sockets, remote);
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
    remote: Option<Remote<'_>>,
) -> IceRunResult {
    let only = remote.as_ref().map(|r| r.side);
    let pair = match Pair::new(filter, opts.gather_timeout, only) {
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
        remote,
    };
    let gathered = async {
        let host = run.host_sockets(given_sockets).await?;
        // TURN allocations start first and progress while the srflx
        // requests wait (a network that drops UDP to the STUN server would
        // otherwise spend the whole gathering deadline before asking the
        // TURN servers, over TCP too).
        run.start_relays().await?;
        run.host_and_srflx(host).await?;
        run.gather().await;
        run.check_candidates()
    };
    match gathered.await {
        Ok(()) => run.connect().await,
        Err(failure) => {
            // The other side must not wait for candidates that will not
            // come.
            if let Some(r) = run.remote.as_mut() {
                let gave_up = IceDescription {
                    ufrag: String::new(),
                    pwd: String::new(),
                    candidates: Vec::new(),
                    gave_up: Some(failure.to_string()),
                };
                let _ = r.signal.send_description(gave_up).await;
            }
            run.finish_early(failure)
        }
    }
}

/// One run's state between phases.
struct Run<'a, 'r> {
    remote: Option<Remote<'r>>,
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

/// The other side's message did not come (or could not be read).
fn signalling(message: String) -> IceFailure {
    tracing::debug!("ice signalling: {message}");
    IceFailure::Timeout {
        phase: IcePhase::Signalling,
    }
}

impl Run<'_, '_> {
    /// The agents this process drives: both, or this machine's side of a
    /// remote run.
    fn sides(&self) -> Vec<Side> {
        match &self.remote {
            Some(r) => vec![r.side],
            None => Side::BOTH.to_vec(),
        }
    }

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
        for side in self.sides() {
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

    /// Phase 3: srflx Binding requests from the host sockets (both agents
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
        // The agents are driven meanwhile (their TURN gathering).
        let (a, b) = {
            let srflx = async { tokio::join!(srflx_of(Side::A), srflx_of(Side::B)) };
            tokio::pin!(srflx);
            tokio::select! {
                r = &mut srflx => r,
                _ = self.pair.drive_until(deadline, |_| false) => srflx.await,
            }
        };
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

    /// Phase 2: starts rice-proto's TURN gatherer: one local UDP socket per
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
        for side in self.sides() {
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
        for side in self.sides() {
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
        for side in self.sides() {
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
        if let Err(failure) = self.exchange().await {
            return self.finish_early(failure);
        }
        let checks_t0 = Instant::now();
        tracing::debug!(filter = %self.filter, at_ms = self.t0.elapsed().as_secs_f64() * 1e3, "ice: checks start");
        let connect_deadline = checks_t0 + self.opts.connect_timeout;
        self.pair
            .drive_until(connect_deadline, |s| {
                s.active().all(|s| s.is_connected()) || s.active().any(|s| s.failed)
            })
            .await;
        let connected = self.pair.sides.active().all(|s| s.is_connected());
        tracing::debug!(filter = %self.filter, connected, at_ms = self.t0.elapsed().as_secs_f64() * 1e3, "ice: checks done");
        let time_to_connected = connected
            .then(|| self.pair.sides.active().filter_map(|s| s.connected).max())
            .flatten()
            .map(|t| t.saturating_duration_since(checks_t0));
        let selected = self.selected_pair();
        let peer_reflexive_seen = self
            .pair
            .sides
            .active()
            .any(|s| s.known_kinds().contains(&CandidateType::Prflx))
            || selected.as_ref().is_some_and(|s| {
                s.local_kind == CandidateType::Prflx || s.remote_kind == CandidateType::Prflx
            });
        let hairpin = (self.filter == IceFilter::SrflxSrflx).then(|| hairpin_note(&self.reports));

        let (failure, payload) = if !connected {
            let failure = if self.pair.sides.active().any(|s| s.failed) {
                IceFailure::ChecksFailed
            } else {
                IceFailure::Timeout {
                    phase: IcePhase::Checks,
                }
            };
            (Some(failure), None)
        } else {
            let p = match self.remote.as_mut() {
                Some(r) => {
                    let (p, seen) = remote_payload(&mut self.pair, r.side, self.opts).await;
                    *r.burst = seen;
                    p
                }
                None => exchange_payload(&mut self.pair, self.filter, self.opts).await,
            };
            (
                (!p.both_ways()).then_some(IceFailure::PayloadFailed),
                Some(p),
            )
        };
        tracing::debug!(filter = %self.filter, at_ms = self.t0.elapsed().as_secs_f64() * 1e3, "ice: payload done");
        let data_channel = if connected && self.opts.data_channel {
            let remote = self.remote.as_mut().map(|r| (r.side, &mut *r.signal));
            let dc = super::datachannel::run(
                &mut self.pair,
                self.filter,
                self.opts.connect_timeout,
                self.opts.payload_timeout,
                remote,
            );
            Some(dc.await)
        } else {
            None
        };
        tracing::debug!(filter = %self.filter, at_ms = self.t0.elapsed().as_secs_f64() * 1e3, "ice: data channel done");
        self.release().await;
        let agents = self.agents();
        IceRunResult {
            filter: self.filter,
            relay_only: None,
            failure,
            agents,
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
        let ours = self.remote.as_ref().map_or(Side::A, |r| r.side);
        let p = self.pair.sides[ours].selected.as_ref()?;
        if self.remote.is_some() {
            return Some(SelectedPairInfo {
                local_relay_protocol: relay_protocol(ours, p.local.address),
                remote_relay_protocol: None,
                local_kind: candidate_type(p.local.candidate_type),
                local_address: p.local.address,
                remote_kind: candidate_type(p.remote.candidate_type),
                remote_address: p.remote.address,
                peer_view: None,
            });
        }
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
                    s.active().all(|s| s.closed)
                })
                .await;
            tracing::debug!(
                filter = %self.filter,
                closed = self.pair.sides.active().all(|s| s.closed),
                at_ms = self.t0.elapsed().as_secs_f64() * 1e3,
                "ice: released"
            );
        }
    }

    /// The result of a run that ended early, with what the agents gathered.
    fn finish_early(self, failure: IceFailure) -> IceRunResult {
        let (filter, elapsed) = (self.filter, self.t0.elapsed());
        IceRunResult {
            agents: self.agents(),
            ..empty_result(filter, failure, elapsed)
        }
    }

    /// The agent reports: both, or this side's in a remote run.
    fn agents(&self) -> Vec<AgentReport> {
        self.sides()
            .into_iter()
            .map(|side| self.reports[side].clone())
            .collect()
    }

    /// Phase 6a: the candidate exchange: in-process, or through the remote
    /// signalling (this side's description out, the other side's in,
    /// bounded by the other side's gathering plus the check time).
    async fn exchange(&mut self) -> Phase<()> {
        let Some(r) = self.remote.as_mut() else {
            return self.pair.exchange().map_err(local);
        };
        let side = r.side;
        let ours = self.pair.local_description(side);
        r.signal.send_description(ours).await.map_err(signalling)?;
        let deadline = Instant::now() + self.opts.gather_timeout + self.opts.connect_timeout;
        let theirs = r
            .signal
            .recv_description(deadline)
            .await
            .map_err(signalling)?;
        if let Some(why) = theirs.gave_up {
            return Err(IceFailure::NoCandidates {
                agent: side.other(),
                kind: CandidateType::Host,
                reason: format!("the other side gathered nothing: {why}"),
            });
        }
        if theirs.candidates.is_empty() {
            return Err(IceFailure::NoCandidates {
                agent: side.other(),
                kind: CandidateType::Host,
                reason: "the other side sent no candidate".into(),
            });
        }
        self.pair.set_remote(side, &theirs).map_err(local)?;
        // Both sides start their checks only when both have the other's
        // candidates: a check (and the nomination it may carry) that
        // reaches an agent without the sender's credentials is lost.
        r.signal.send_ready().await.map_err(signalling)?;
        let deadline = Instant::now() + self.opts.connect_timeout;
        r.signal.recv_ready(deadline).await.map_err(signalling)
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

/// Pings and pongs both ways over the selected pair between this side and
/// the other natscope (each side pings, and answers the other side's
/// pings), then a short burst each way. Returns the exchange from this
/// side's view (`a_to_b` counts this side's pings answered, `b_to_a` the
/// other side's pings seen, for side "a"; mirrored for "b") and what this
/// side received of the other side's burst.
async fn remote_payload(
    pair: &mut Pair,
    side: Side,
    opts: &IceOptions,
) -> (PayloadExchange, BurstSeen) {
    let mut p = PayloadExchange {
        sent: 0,
        a_to_b: 0,
        b_to_a: 0,
        rtts: Vec::new(),
    };
    let mut answered = 0u32;
    let mut seen_pings: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    let ping_prefix = format!("natscope-peer ping {} ", side.other()).into_bytes();
    // Answers the other side's pings found in the queue; keeps the rest.
    let answer = |pair: &mut Pair, seen: &mut std::collections::HashSet<Vec<u8>>| {
        let got: Vec<Vec<u8>> = pair.sides[side].app_rx.drain(..).collect();
        let mut keep = Vec::new();
        for d in got {
            if let Some(rest) = d.strip_prefix(ping_prefix.as_slice()) {
                let mut pong = format!("natscope-peer pong {} ", side.other()).into_bytes();
                pong.extend_from_slice(rest);
                let _ = pair.send_app(side, &pong);
                seen.insert(d);
            } else {
                keep.push(d);
            }
        }
        pair.sides[side].app_rx.extend(keep);
    };
    let deadline = Instant::now() + opts.payload_timeout;
    for i in 0..opts.pings {
        let ping = format!("natscope-peer ping {side} {i}").into_bytes();
        let pong = format!("natscope-peer pong {side} {i}").into_bytes();
        let start = Instant::now();
        if pair.send_app(side, &ping).is_err() {
            break;
        }
        p.sent += 1;
        let round = (start + opts.payload_timeout / opts.pings.max(1)).min(deadline);
        loop {
            answer(pair, &mut seen_pings);
            if pair.sides[side].app_rx.iter().any(|d| *d == pong) {
                pair.sides[side].app_rx.retain(|d| *d != pong);
                answered += 1;
                p.rtts.push(start.elapsed());
                break;
            }
            if !pair
                .drive_until(round, |s| !s[side].app_rx.is_empty())
                .await
            {
                break;
            }
        }
    }
    // The other side may still be pinging: answer until it has had its
    // rounds (its pings seen), bounded.
    let linger = Instant::now() + opts.payload_timeout / 2;
    while (seen_pings.len() as u32) < opts.pings && Instant::now() < linger {
        pair.drive_until(linger, |s| !s[side].app_rx.is_empty())
            .await;
        answer(pair, &mut seen_pings);
    }
    let theirs = seen_pings.len() as u32;
    (p.a_to_b, p.b_to_a) = match side {
        Side::A => (answered, theirs),
        Side::B => (theirs, answered),
    };
    // The burst: sent at once, counted for a bounded while.
    let mut datagram = BURST_TAG.to_vec();
    datagram.resize(BURST.1, b'.');
    for _ in 0..BURST.0 {
        if pair.send_app(side, &datagram).is_err() {
            break;
        }
    }
    let mut seen = BurstSeen::default();
    let mut first: Option<Instant> = None;
    let end = Instant::now() + Duration::from_millis(400);
    let mut quiet_since = Instant::now();
    loop {
        let got: Vec<Vec<u8>> = pair.sides[side].app_rx.drain(..).collect();
        for d in got {
            if d.starts_with(BURST_TAG) {
                let now = Instant::now();
                let f = *first.get_or_insert(now);
                seen.bytes += d.len() as u64;
                seen.span = now.saturating_duration_since(f);
                quiet_since = now;
            }
        }
        let now = Instant::now();
        // Done at the bound, or 100 ms after the last burst datagram.
        if now >= end || (first.is_some() && now >= quiet_since + Duration::from_millis(100)) {
            break;
        }
        let wake = end.min(now + Duration::from_millis(100));
        pair.drive_until(wake, |s| !s[side].app_rx.is_empty()).await;
    }
    (p, seen)
}
