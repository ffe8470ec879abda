//! `natscope ice`: two ICE agents on this machine, one session per
//! candidate-type filter, and which candidate types connect.

use crate::cli_time::parse_duration;
use crate::servers_arg::{CredentialArgs, NamedServer, ServerArgs};
use anyhow::{Context, bail};
use model::Secret;
use model::ice::IceFilter;
use model::servers::{Host, Scheme, ServerUri, Transport};
use probe::ice::{
    IceOptions, IceRunResult, IceServers, IceTurnTransport, StunServerSpec, TurnServerSpec, run_all,
};
use probe::turn::TlsOptions;
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
    /// Servers as the other commands take them: stun:, turn: and turns:
    /// URIs (each used for the candidates its scheme gives).
    #[arg(value_name = "URI")]
    pub servers: Vec<String>,
    /// A WebRTC RTCConfiguration / iceServers JSON file (`urls`,
    /// `username`, `credential`), as a browser would be given.
    #[arg(long, value_name = "FILE")]
    pub ice_servers: Option<PathBuf>,
    #[command(flatten)]
    pub creds: CredentialArgs,
    /// Local IPs to bind host candidates on (repeatable). Default: the
    /// address the system would use toward the first server, else 127.0.0.1.
    #[arg(long = "bind", value_name = "IP")]
    pub bind: Vec<IpAddr>,
    /// Filters to run (default: all of host-host, srflx-srflx, relay-relay,
    /// relay-host, all).
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<IceFilter>,
    /// Gathering deadline (e.g. 5s, 500ms; 100ms to 60s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub gather_timeout: Duration,
    /// Connectivity-check deadline (e.g. 10s; 100ms to 120s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub connect_timeout: Duration,
    /// Ping/pong round trips over the selected pair.
    #[arg(long, default_value_t = 5)]
    pub pings: u32,
    /// Skip the WebRTC data channel (DTLS + SCTP) over each connected pair.
    #[arg(long)]
    pub no_data_channel: bool,
    #[command(flatten)]
    pub family: crate::servers_arg::FamilyArgs,
}

/// ICE servers from named servers: `stun:` ones give srflx candidates,
/// `turn:`/`turns:` ones relayed candidates over the transport
/// `ServerUri::ice_transport` names (credentials from the URI, e.g. an iceServers
/// file, else `username`/`password`; certificates checked with `tls`).
/// Names are resolved through `probe::resolve`; anything else is an error
/// naming the input. A STUN name with IPv4 and IPv6 addresses gives a
/// server of each family (srflx candidates for both); a TURN name its
/// IPv4 address first. Only the families `family` allows are used.
pub async fn servers_from(
    named: &[NamedServer],
    username: Option<&str>,
    password: Option<&Secret>,
    tls: &TlsOptions,
    dns_budget: Duration,
    family: crate::servers_arg::FamilyArgs,
) -> anyhow::Result<IceServers> {
    let mut servers = IceServers::default();
    let resolved = crate::stun_cmd::resolve_all(named, false, dns_budget).await;
    let mut tls_config = None;
    for (s, r) in named.iter().zip(resolved) {
        let uri = &s.uri;
        let want = uri
            .ice_transport()
            .map_err(|e| anyhow::anyhow!("{}: {e}", s.label))?;
        let mut addrs: Vec<SocketAddr> = r
            .map_err(|e| anyhow::anyhow!("{}: {e}", s.label))?
            .into_iter()
            .filter(|t| t.transport == want && family.allows(t.addr.ip()))
            .map(|t| t.addr)
            .collect();
        // IPv4 first (most relays are IPv4), then whatever the name has.
        addrs.sort_by_key(|a| !a.is_ipv4());
        let addr = *addrs.first().with_context(|| {
            format!(
                "{}: no {} address of the families used",
                s.label,
                want.as_str()
            )
        })?;
        match uri.scheme {
            Scheme::Stun => {
                for v4 in [true, false] {
                    if let Some(a) = addrs.iter().find(|a| a.is_ipv4() == v4) {
                        servers.stun.push(StunServerSpec {
                            url: uri.to_string(),
                            addr: *a,
                        });
                    }
                }
            }
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

/// The local IPs host candidates go on: per address family of the servers,
/// the one the system would use toward the first server of that family (a
/// UDP `connect` sends nothing, it only asks the routing table); a family
/// with no route is left out unless it is the only one (then the error
/// names it). Without servers, 127.0.0.1.
pub async fn default_host_ips(servers: &IceServers) -> anyhow::Result<Vec<IpAddr>> {
    let all: Vec<SocketAddr> = servers
        .stun
        .iter()
        .map(|s| s.addr)
        .chain(servers.turn.iter().map(|t| t.addr))
        .collect();
    if all.is_empty() {
        return Ok(vec![IpAddr::from([127, 0, 0, 1])]);
    }
    let mut out = Vec::new();
    let mut first_error = None;
    for v4 in [true, false] {
        let Some(to) = all.iter().find(|a| a.is_ipv4() == v4) else {
            continue;
        };
        match route_source(*to).await {
            Ok(ip) => out.push(ip),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (out.is_empty(), first_error) {
        (true, Some(e)) => Err(e),
        _ => Ok(out),
    }
}

/// The source address the routing table picks towards `to`.
async fn route_source(to: SocketAddr) -> anyhow::Result<IpAddr> {
    let any = SocketAddr::new(probe::nat::unspecified_for(to), 0);
    let sock = tokio::net::UdpSocket::bind(any)
        .await
        .context("binding a probe socket")?;
    sock.connect(to)
        .await
        .with_context(|| format!("no route to {to}"))?;
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
        uri.ice_transport()
            .map_err(|e| anyhow::anyhow!("{s}: {e}"))?;
        named.push(NamedServer {
            label: s.clone(),
            uri,
        });
    }
    let rest = ServerArgs {
        servers: args.servers.clone(),
        ice_servers: args.ice_servers.clone(),
    };
    for s in rest.given()? {
        if s.uri.scheme == Scheme::Stuns {
            bail!("{}: stuns: is not used for ICE candidates", s.label);
        }
        s.uri
            .ice_transport()
            .map_err(|e| anyhow::anyhow!("{}: {e}", s.label))?;
        named.push(s);
    }
    let tls = args.creds.tls(None)?;
    let long_term = args.creds.long_term()?;
    let servers = servers_from(
        &named,
        long_term.as_ref().map(|(u, _)| u.as_str()),
        long_term.as_ref().map(|(_, p)| p),
        &tls,
        Duration::from_secs(5),
        args.family,
    )
    .await?;
    if let Some(b) = args.bind.iter().find(|b| !args.family.allows(**b)) {
        bail!(
            "--bind {b}: {}",
            args.family
                .skipped(b.is_ipv6())
                .unwrap_or("its family is excluded")
        );
    }
    let mut host_ips = args.bind.clone();
    if host_ips.is_empty() {
        host_ips = default_host_ips(&servers).await?;
    }
    let opts = IceOptions {
        host_ips,
        gather_timeout: args
            .gather_timeout
            .clamp(Duration::from_millis(100), Duration::from_secs(60)),
        connect_timeout: args
            .connect_timeout
            .clamp(Duration::from_millis(100), Duration::from_secs(120)),
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
        IceFilter::ALL_FILTERS.to_vec()
    } else {
        args.filters.clone()
    };
    Ok(run_all(&filters, &servers, &opts).await)
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
    cmd.output.check()?;
    let results = run_probe(&cmd.ice).await?;
    let mut rep = model::Report::new("ice", crate::cli_time::now_rfc3339());
    rep.options.servers = cmd
        .ice
        .stun
        .iter()
        .chain(&cmd.ice.turn)
        .chain(&cmd.ice.servers)
        .cloned()
        .collect();
    rep.ice = tested_section(&results);
    rules::conclude(&mut rep);
    cmd.output.emit(&rep)?;
    Ok(rules::verdict(&rep.summary))
}

/// The `ice` section as stored in the report (tested, with these runs).
pub fn tested_section(results: &[IceRunResult]) -> model::Section<model::ice::IceSection> {
    model::Section::Tested(probe::ice::ice_section(results))
}
