//! `natscope ice`: two ICE agents on this machine, one session per
//! candidate-type filter, and which candidate types connect.

use crate::servers_arg::NamedServer;
use anyhow::{Context, bail};
use probe::ice::{
    CandidateFilter, CandidateKind, GatherError, HairpinNote, IceFailure, IceOptions, IcePhase,
    IceRunResult, IceServers, IceTurnTransport, RelayProtocol, StunServerSpec, TurnServerSpec,
    run_all,
};
use probe::servers::{Host, Scheme, ServerUri, Transport};
use probe::turn::{Secret, TlsOptions};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `natscope ice`. The TURN password is a `Secret`: its Debug
/// output is redacted.
#[derive(clap::Args, Debug)]
pub struct IceArgs {
    /// STUN servers for srflx candidates: stun:HOST[:PORT] (UDP).
    #[arg(long = "stun", value_name = "URI")]
    pub stun: Vec<String>,
    /// TURN servers for relayed candidates: turn:HOST[:PORT] (UDP),
    /// turn:HOST[:PORT]?transport=tcp (TURN over TCP), turns:HOST[:PORT]
    /// (TURN over TLS). Repeat to compare transports.
    #[arg(long = "turn", value_name = "URI")]
    pub turn: Vec<String>,
    /// PEM file of CA certificate(s) to trust for turns: instead of the
    /// system store.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Do not verify turns: server certificates.
    #[arg(long)]
    pub insecure: bool,
    /// TURN long-term username.
    #[arg(long, env = "NATSCOPE_TURN_USERNAME")]
    pub username: Option<String>,
    /// TURN long-term password.
    #[arg(long, env = "NATSCOPE_TURN_PASSWORD", hide_env_values = true)]
    pub password: Option<Secret>,
    /// Local IPs to bind host candidates on (repeatable). Default: the
    /// address the system would use toward the first server, else 127.0.0.1.
    #[arg(long = "bind", value_name = "IP")]
    pub bind: Vec<IpAddr>,
    /// Filters to run (default: all of host-host, srflx-srflx, relay-relay,
    /// relay-host, all).
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<CandidateFilter>,
    /// Gathering deadline, ms.
    #[arg(long, default_value_t = 5000)]
    pub gather_timeout_ms: u64,
    /// Connectivity-check deadline, ms.
    #[arg(long, default_value_t = 10000)]
    pub connect_timeout_ms: u64,
    /// Ping/pong round trips over the selected pair.
    #[arg(long, default_value_t = 5)]
    pub pings: u32,
    /// Skip the WebRTC data channel (DTLS + SCTP) over each connected pair.
    #[arg(long)]
    pub no_data_channel: bool,
}

/// How an ICE agent reaches a server given by `uri`: `stun:` and `turn:`
/// without `?transport` over UDP (as browsers do), `turn:?transport=tcp`
/// over TCP, `turns:` over TLS. DTLS (`turns:?transport=udp`) and `stuns:`
/// are not offered to ICE agents: `Err` says so.
pub fn ice_transport(uri: &ServerUri) -> Result<Transport, String> {
    match (uri.scheme, uri.transport) {
        (Scheme::Stun, _) | (Scheme::Turn, None | Some(Transport::Udp)) => Ok(Transport::Udp),
        (Scheme::Turn, Some(Transport::Tcp)) | (Scheme::Turns, None | Some(Transport::Tcp)) => {
            Ok(Transport::Tcp)
        }
        (Scheme::Turns, Some(Transport::Udp)) => {
            Err("TURN over DTLS is tested by the turn section, not offered to ICE agents".into())
        }
        (Scheme::Stuns, _) => Err("stuns: is not used for ICE candidates".into()),
    }
}

/// ICE servers from named servers: `stun:` ones give srflx candidates,
/// `turn:`/`turns:` ones relayed candidates over the transport
/// [`ice_transport`] names (credentials from the URI, e.g. an iceServers
/// file, else `username`/`password`; certificates checked with `tls`).
/// Names are resolved through `probe::resolve`; anything else is an error
/// naming the input.
pub async fn servers_from(
    named: &[NamedServer],
    username: Option<&str>,
    password: Option<&Secret>,
    tls: &TlsOptions,
    dns_budget: Duration,
) -> anyhow::Result<IceServers> {
    let mut servers = IceServers::default();
    let resolved = crate::stun_cmd::resolve_all(named, false, dns_budget).await;
    let mut tls_config = None;
    for (s, r) in named.iter().zip(resolved) {
        let uri = &s.uri;
        let want = ice_transport(uri).map_err(|e| anyhow::anyhow!("{}: {e}", s.label))?;
        let addr = r
            .map_err(|e| anyhow::anyhow!("{}: {e}", s.label))?
            .into_iter()
            .filter(|t| t.transport == want)
            // IPv4 first (the agents' host addresses and most relays are
            // IPv4), then whatever the name has.
            .min_by_key(|t| !t.addr.is_ipv4())
            .map(|t| t.addr)
            .with_context(|| format!("{}: no {} address", s.label, want.as_str()))?;
        match uri.scheme {
            Scheme::Stun => servers.stun.push(StunServerSpec {
                url: uri.to_string(),
                addr,
            }),
            Scheme::Turn | Scheme::Turns => {
                let username = uri
                    .username
                    .clone()
                    .or_else(|| username.map(str::to_owned))
                    .with_context(|| format!("{}: a TURN server needs --username", s.label))?;
                let password = match (&uri.credential, password) {
                    (Some(c), _) => c.clone(),
                    (None, Some(p)) => p.clone(),
                    (None, None) => bail!(
                        "{}: a TURN server needs --password (or NATSCOPE_TURN_PASSWORD)",
                        s.label
                    ),
                };
                let transport = match (uri.scheme, want) {
                    (Scheme::Turns, _) => {
                        let config = match &tls_config {
                            Some(c) => std::sync::Arc::clone(c),
                            None => {
                                let c = probe::turn::tls::client_config(tls)
                                    .with_context(|| format!("{}: TLS set-up", s.label))?;
                                tls_config = Some(c.clone());
                                c
                            }
                        };
                        let host = match &uri.host {
                            Host::Name(n) => n.clone(),
                            Host::Ip(ip) => ip.to_string(),
                        };
                        let server_name = probe::turn::tls::server_name(&host)
                            .with_context(|| format!("{}: not a TLS server name", s.label))?;
                        IceTurnTransport::Tls {
                            server_name,
                            config,
                        }
                    }
                    (_, Transport::Tcp) => IceTurnTransport::Tcp,
                    (_, Transport::Udp) => IceTurnTransport::Udp,
                };
                servers.turn.push(TurnServerSpec {
                    url: uri.to_string(),
                    addr,
                    transport,
                    username,
                    password,
                });
            }
            Scheme::Stuns => bail!("{}: stuns: is not used for ICE candidates", s.label),
        }
    }
    Ok(servers)
}

/// The local IP host candidates go on: the one the system would use toward
/// the first server (a UDP `connect` sends nothing, it only asks the routing
/// table), else 127.0.0.1.
pub async fn default_host_ip(servers: &IceServers) -> anyhow::Result<IpAddr> {
    let first = servers
        .stun
        .first()
        .map(|s| s.addr)
        .or(servers.turn.first().map(|t| t.addr));
    let Some(to) = first else {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    };
    let any: SocketAddr = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .expect("literal socket address");
    let sock = tokio::net::UdpSocket::bind(any)
        .await
        .context("binding a probe socket")?;
    sock.connect(to)
        .await
        .context("no route to the first server")?;
    Ok(sock.local_addr()?.ip())
}

/// Builds the servers and options from the arguments (resolves names).
pub async fn config(args: &IceArgs) -> anyhow::Result<(IceServers, IceOptions)> {
    let mut named = Vec::new();
    for (s, want) in args
        .stun
        .iter()
        .map(|s| (s, Scheme::Stun))
        .chain(args.turn.iter().map(|s| (s, Scheme::Turn)))
    {
        let uri = ServerUri::parse(s).with_context(|| format!("bad URI {s}"))?;
        let scheme_ok = match want {
            Scheme::Stun => uri.scheme == Scheme::Stun,
            _ => uri.scheme.is_turn(),
        };
        if !scheme_ok {
            bail!(
                "{s}: --{} takes {} URIs",
                if want == Scheme::Stun { "stun" } else { "turn" },
                if want == Scheme::Stun {
                    "stun:"
                } else {
                    "turn:/turns:"
                }
            );
        }
        ice_transport(&uri).map_err(|e| anyhow::anyhow!("{s}: {e}"))?;
        named.push(NamedServer {
            label: s.clone(),
            uri,
        });
    }
    let ca_pem = match &args.ca {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
        None => None,
    };
    let tls = TlsOptions {
        ca_pem,
        insecure: args.insecure,
    };
    let servers = servers_from(
        &named,
        args.username.as_deref(),
        args.password.as_ref(),
        &tls,
        Duration::from_secs(5),
    )
    .await?;
    let mut host_ips = args.bind.clone();
    if host_ips.is_empty() {
        host_ips.push(default_host_ip(&servers).await?);
    }
    let opts = IceOptions {
        host_ips,
        gather_timeout: Duration::from_millis(args.gather_timeout_ms.clamp(100, 60_000)),
        connect_timeout: Duration::from_millis(args.connect_timeout_ms.clamp(100, 120_000)),
        payload_timeout: Duration::from_secs(2),
        pings: args.pings.clamp(1, 100),
        data_channel: !args.no_data_channel,
    };
    Ok((servers, opts))
}

/// Runs every requested filter (in parallel); results in filter order.
pub async fn run_probe(args: &IceArgs) -> anyhow::Result<Vec<IceRunResult>> {
    let (servers, opts) = config(args).await?;
    let filters = if args.filters.is_empty() {
        CandidateFilter::ALL_FILTERS.to_vec()
    } else {
        args.filters.clone()
    };
    Ok(run_all(&filters, &servers, &opts).await)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn kind(k: CandidateKind) -> report::ice::CandidateType {
    use report::ice::CandidateType as T;
    match k {
        CandidateKind::Host => T::Host,
        CandidateKind::Srflx => T::Srflx,
        CandidateKind::Prflx => T::Prflx,
        CandidateKind::Relay => T::Relay,
    }
}

fn relay_protocol(p: RelayProtocol) -> report::ice::RelayProtocol {
    use report::ice::RelayProtocol as R;
    match p {
        RelayProtocol::Udp => R::Udp,
        RelayProtocol::Tcp => R::Tcp,
        RelayProtocol::Tls => R::Tls,
    }
}

fn gather_code(e: &GatherError) -> Option<u16> {
    match e {
        GatherError::TurnError { code, .. } | GatherError::StunError { code, .. } => Some(*code),
        _ => None,
    }
}

/// Converts probe results into the report's `ice` section.
pub fn ice_section(results: &[IceRunResult]) -> report::ice::IceSection {
    use report::ice as r;
    let runs = results
        .iter()
        .map(|x| r::IceRun {
            filter: match x.filter {
                CandidateFilter::HostHost => r::IceFilter::HostHost,
                CandidateFilter::SrflxSrflx => r::IceFilter::SrflxSrflx,
                CandidateFilter::RelayRelay => r::IceFilter::RelayRelay,
                CandidateFilter::RelayHost => r::IceFilter::RelayHost,
                CandidateFilter::All => r::IceFilter::All,
            },
            relay_only: x.relay_only.map(relay_protocol),
            connected: x.connected(),
            failure: x.failure.as_ref().map(|f| match f {
                IceFailure::NoCandidates {
                    agent,
                    kind: k,
                    reason,
                } => r::IceRunFailure::NoCandidates {
                    agent: agent.clone(),
                    candidate_type: kind(*k),
                    reason: reason.clone(),
                },
                IceFailure::TurnError { server, error } => r::IceRunFailure::TurnError {
                    server: server.clone(),
                    code: gather_code(error),
                    error: error.to_string(),
                },
                IceFailure::ChecksFailed => r::IceRunFailure::ChecksFailed,
                IceFailure::Timeout { phase } => r::IceRunFailure::Timeout {
                    phase: match phase {
                        IcePhase::Gathering => "gathering",
                        IcePhase::Checks => "checks",
                        IcePhase::Payload => "payload",
                    }
                    .to_string(),
                },
                IceFailure::PayloadFailed => r::IceRunFailure::PayloadFailed,
                IceFailure::Local { message } => r::IceRunFailure::Local {
                    message: message.clone(),
                },
            }),
            agents: x
                .agents
                .iter()
                .map(|a| r::IceAgent {
                    role: a.role.clone(),
                    allowed: a.allowed.map(kind),
                    candidates: a
                        .candidates
                        .iter()
                        .map(|c| r::IceCandidate {
                            kind: kind(c.kind),
                            protocol: c.protocol.clone(),
                            address: c.address,
                            related_address: c.related_address,
                            server: c.server.clone(),
                            gathered_ms: ms(c.gathered_after),
                            used: c.used,
                            dropped: c.dropped.clone(),
                            relay_protocol: c.relay_protocol.map(relay_protocol),
                        })
                        .collect(),
                    server_problems: a
                        .server_problems
                        .iter()
                        .map(|p| r::IceServerProblem {
                            server: p.server.clone(),
                            kind: kind(p.kind),
                            error: p.error.to_string(),
                            code: gather_code(&p.error),
                        })
                        .collect(),
                    gathering_ms: ms(a.gathering_time),
                    gathering_complete: a.gathering_complete,
                })
                .collect(),
            selected: x.selected.as_ref().map(|s| r::IcePair {
                local_type: kind(s.local_kind),
                local_address: s.local_address,
                remote_type: kind(s.remote_kind),
                remote_address: s.remote_address,
                local_relay_protocol: s.local_relay_protocol.map(relay_protocol),
                remote_relay_protocol: s.remote_relay_protocol.map(relay_protocol),
            }),
            peer_reflexive_seen: x.peer_reflexive_seen,
            time_to_connected_ms: x.time_to_connected.map(ms),
            rtt_ms: x.payload.as_ref().and_then(|p| p.min_rtt()).map(ms),
            payload: x.payload.as_ref().map(|p| r::IcePayload {
                sent: p.sent,
                a_to_b: p.a_to_b,
                b_to_a: p.b_to_a,
            }),
            hairpin: x.hairpin.as_ref().map(|h| match h {
                HairpinNote::NoNat => r::IceHairpin::NoNat,
                HairpinNote::Required { public_ip } => r::IceHairpin::Required {
                    public_ip: *public_ip,
                },
                HairpinNote::NotRequired => r::IceHairpin::NotRequired,
            }),
            data_channel: x.data_channel.as_ref().map(|d| r::IceDataChannel {
                works: d.works(),
                failure: d.failure.as_ref().map(|f| f.to_string()),
                time_to_open_ms: d.time_to_open.map(ms),
                dtls_connected_ms: d.dtls_connected_after.map(ms),
                a_to_b: d.a_to_b,
                b_to_a: d.b_to_a,
                message_rtt_ms: d.message_rtt.map(ms),
            }),
            duration_ms: ms(x.duration),
        })
        .collect();
    r::IceSection {
        runs,
        not_tested: vec![
            "ICE-TCP candidates (RFC 6544): host and srflx candidates are UDP".into(),
            "TURN over DTLS for ICE agents (the turn section tests DTLS)".into(),
        ],
    }
}

/// `natscope ice`: the ICE arguments plus output options.
#[derive(Debug, clap::Args)]
pub struct IceCmd {
    #[command(flatten)]
    ice: IceArgs,
    #[command(flatten)]
    output: crate::output::OutputArgs,
}

/// Runs `natscope ice`.
pub async fn run(cmd: IceCmd) -> anyhow::Result<crate::Verdict> {
    let (servers, _) = config(&cmd.ice).await?;
    let results = run_probe(&cmd.ice).await?;
    let mut rep = report::Report::new("ice", crate::to_report::now_rfc3339());
    summarize(&results, &servers, &mut rep.summary);
    rep.ice = tested_section(&results);
    cmd.output.emit(&rep)?;
    Ok(crate::Verdict::from_checks(&rep.summary.checks))
}

/// The `ice` section as stored in the report (tested, with these runs).
pub fn tested_section(results: &[IceRunResult]) -> report::Section<report::ice::IceSection> {
    report::Section::Tested(ice_section(results))
}

/// The name of a run in summary lines: the filter, and the relay
/// transport when the run was restricted to one.
fn run_name(r: &IceRunResult) -> String {
    match r.relay_only {
        Some(p) => format!("{} over TURN-{}", r.filter, p.as_str().to_uppercase()),
        None => r.filter.to_string(),
    }
}

/// Summary lines and the `ice-host`, `ice-srflx`, `ice-relay` checks, plus
/// `ice-relay-udp`, `ice-relay-tcp`, `ice-relay-tls` (relay↔relay with the
/// TURN servers reached over that transport only). A candidate type or
/// transport with no server configured for it is "not tested", not a
/// failure.
pub fn summarize(results: &[IceRunResult], servers: &IceServers, summary: &mut report::Summary) {
    use report::{Check, CheckStatus};
    let (have_stun, have_turn) = (!servers.stun.is_empty(), !servers.turn.is_empty());
    for r in results {
        let (id, configured) = match r.filter {
            CandidateFilter::HostHost => ("ice-host", true),
            CandidateFilter::SrflxSrflx => ("ice-srflx", have_stun),
            CandidateFilter::RelayRelay => ("ice-relay", have_turn),
            CandidateFilter::RelayHost | CandidateFilter::All => ("", true),
        };
        let name = run_name(r);
        if r.connected() {
            let via = r
                .selected
                .as_ref()
                .and_then(|s| s.local_relay_protocol.or(s.remote_relay_protocol))
                .filter(|_| r.relay_only.is_none())
                .map(|p| format!(" (relayed via TURN-{})", p.as_str().to_uppercase()))
                .unwrap_or_default();
            let dc = if r.data_channel.as_ref().is_some_and(|d| d.works()) {
                "; a WebRTC data channel (DTLS + SCTP) opened over it"
            } else {
                ""
            };
            summary.works.push(format!(
                "ICE {name}: connected and exchanged data both ways{via}{dc}"
            ));
        } else if configured {
            let why = r
                .failure
                .as_ref()
                .map(|f| f.to_string())
                .unwrap_or_else(|| "did not connect".into());
            summary.problems.push(format!("ICE {name}: {why}"));
        }
        if id.is_empty() || r.relay_only.is_some() {
            continue;
        }
        summary.checks.push(Check {
            id: id.into(),
            status: match (configured, r.connected()) {
                (false, _) => CheckStatus::NotTested,
                (true, true) => CheckStatus::Pass,
                (true, false) => CheckStatus::Fail,
            },
            reason: if !configured {
                format!("no server configured for {name}")
            } else if r.connected() {
                format!("{name} connected")
            } else {
                format!("{name} did not connect")
            },
        });
    }
    // One check per relay transport: the run restricted to it, or the
    // relay-relay run when it is the only transport configured.
    let protocols = servers.relay_protocols();
    let relay_run = |p: RelayProtocol| {
        results
            .iter()
            .find(|r| r.filter == CandidateFilter::RelayRelay && r.relay_only == Some(p))
            .or_else(|| {
                (protocols == [p])
                    .then(|| {
                        results.iter().find(|r| {
                            r.filter == CandidateFilter::RelayRelay && r.relay_only.is_none()
                        })
                    })
                    .flatten()
            })
    };
    let ran_relay = results
        .iter()
        .any(|r| r.filter == CandidateFilter::RelayRelay);
    for p in RelayProtocol::ALL {
        let upper = p.as_str().to_uppercase();
        let (status, reason) = match relay_run(p) {
            _ if !ran_relay => continue,
            _ if !protocols.contains(&p) => (
                CheckStatus::NotTested,
                format!("no TURN server over {upper} configured for ICE"),
            ),
            None => (
                CheckStatus::NotTested,
                format!("relay-relay over TURN-{upper} was not run"),
            ),
            Some(r) if r.connected() => (
                CheckStatus::Pass,
                format!("relay-relay over TURN-{upper} connected"),
            ),
            Some(r) => (
                CheckStatus::Fail,
                format!(
                    "relay-relay over TURN-{upper} did not connect: {}",
                    r.failure
                        .as_ref()
                        .map(|f| f.to_string())
                        .unwrap_or_else(|| "no pair".into())
                ),
            ),
        };
        summary.checks.push(Check {
            id: format!("ice-relay-{}", p.as_str()),
            status,
            reason,
        });
    }
}
