//! The NAT behaviour probe: runs the RFC 5780 tests against every server at
//! once and fills `natclass::Observations` (the decision is `natclass`'s).
//!
//! Per server ([`rfc5780`]): mapping test I; then II ∥ III from the same
//! socket (§4.3) and hairpinning (§4.5, [`hairpin`]); filtering control then
//! II ∥ III on [`plan::FILTERING_ROUNDS`] fresh sockets, merged (§4.4); a
//! TCP Binding in parallel (tells "UDP blocked" from "server down"). Servers
//! without OTHER-ADDRESS are queried again from one shared socket for plain
//! inference. Port allocation samples ([`ports`]) and the opt-in mapping
//! lifetime search (§4.6, [`lifetime`]) use the first server that answered.
//! Beside them, TTL-limited Binding requests to the first server ([`path`])
//! name the routers on the way, for the double-NAT verdict.
//!
//! Speed with honesty: test I uses a 100 ms initial RTO
//! ([`plan::discovery_config`]); every later test uses a constant spacing
//! adapted to the measured round trip with 7 sends ([`plan::fast_config`]),
//! so a "no answer" costs ~0.5 s on a LAN and stays solid under 10 % loss.
//! Everything is bounded by [`NatProbeConfig::timeout`] (the lifetime search
//! by its own budget). One server's failure is data, never fatal.

pub mod plan;

mod fresh;
mod hairpin;
mod lifetime;
mod path;
mod plain;
mod ports;
mod rfc5780;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use natclass::{LifetimePlan, LocalNetwork, Observations};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use rfc5780::{ServerCtx, ServerRun, TestI};

/// The opt-in mapping lifetime search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifetimeConfig {
    /// Total time the search may take (it runs beside the other tests).
    pub budget: Duration,
    /// Start, maximum and resolution of the search.
    pub plan: LifetimePlan,
}

/// What to probe and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatProbeConfig {
    /// Server addresses (RFC 5780 primary addresses, or plain servers).
    pub servers: Vec<SocketAddr>,
    /// Local IP to bind every socket to; the unspecified address when `None`.
    pub bind: Option<IpAddr>,
    /// Bound on the whole probe (the lifetime search excepted).
    pub timeout: Duration,
    /// Run the hairpinning test.
    pub hairpin: bool,
    /// Run a TCP Binding beside the UDP tests.
    pub tcp: bool,
    /// Number of port allocation samples (fresh sockets); 0 for none.
    pub port_samples: usize,
    /// Fresh sockets the filtering tests run on (merged); at least 1.
    pub filtering_rounds: usize,
    /// The mapping lifetime search; `None` (the default) skips it.
    pub lifetime: Option<LifetimeConfig>,
    /// Trace the routers towards the first server (TTL-limited Binding
    /// requests, ICMP time exceeded) to tell a double NAT.
    pub path_trace: bool,
    /// This host's interface addresses and gateways, read by the caller
    /// ([`local_network`]; empty by default): the probe does not look at
    /// the system itself, and adds the local addresses its sockets used.
    pub local: LocalNetwork,
}

/// This host's interface addresses and gateways (`netdev`), for
/// [`NatProbeConfig::local`]; empty when they cannot be read.
pub fn local_network() -> LocalNetwork {
    let mut local = LocalNetwork::default();
    if let Ok(ifaces) = crate::interfaces::list() {
        for i in ifaces {
            local.addresses.extend(i.addresses.iter().map(|a| a.addr));
            local.gateways.extend(i.gateways.iter().copied());
        }
    }
    local
}

impl Default for NatProbeConfig {
    /// No servers, 5 s timeout, hairpin and TCP on, 4 port samples,
    /// [`plan::FILTERING_ROUNDS`] filtering rounds, no lifetime search.
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            bind: None,
            timeout: Duration::from_secs(5),
            hairpin: true,
            tcp: true,
            port_samples: 4,
            filtering_rounds: plan::FILTERING_ROUNDS,
            lifetime: None,
            path_trace: true,
            local: LocalNetwork::default(),
        }
    }
}

/// What the probe observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatProbeOutput {
    /// The observations, ready for `natclass::classify`.
    pub observations: Observations,
    /// Wall time of the whole probe.
    pub elapsed: Duration,
}

/// The unspecified address of `addr`'s family.
pub fn unspecified_for(addr: SocketAddr) -> IpAddr {
    if addr.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    }
}

/// The local address a socket bound on `bound` really uses towards `dest`:
/// for an unspecified bind, the source address the kernel's routing picks
/// (a connected UDP socket, nothing sent). Used for "mapped == local".
pub(crate) fn effective_local(bound: SocketAddr, dest: SocketAddr) -> SocketAddr {
    if !bound.ip().is_unspecified() {
        return bound;
    }
    let probe = std::net::UdpSocket::bind(SocketAddr::new(bound.ip(), 0))
        .and_then(|s| s.connect(dest).map(|()| s))
        .and_then(|s| s.local_addr());
    match probe {
        Ok(a) => SocketAddr::new(a.ip(), bound.port()),
        Err(_) => bound,
    }
}

/// The longest the path trace waits for routers (it runs beside the
/// filtering tests, which take about as long).
const PATH_WAIT: Duration = Duration::from_millis(500);

/// Runs the whole probe. Never fails: every failure is recorded in the
/// observations.
pub async fn probe(cfg: &NatProbeConfig) -> NatProbeOutput {
    let start = Instant::now();
    let deadline = start + cfg.timeout;
    let ctx = ServerCtx {
        bind: cfg.bind,
        hairpin: cfg.hairpin,
        tcp: cfg.tcp,
        filtering_rounds: cfg.filtering_rounds.max(1),
        deadline,
    };
    let (first_tx, first_rx) = mpsc::channel::<TestI>(cfg.servers.len().max(1));

    let servers_fut = {
        let ctx = ctx.clone();
        let servers = cfg.servers.clone();
        async move {
            let mut set = JoinSet::new();
            for (i, server) in servers.iter().copied().enumerate() {
                let ctx = ctx.clone();
                let first = first_tx.clone();
                set.spawn(async move { (i, rfc5780::run_server(server, ctx, first).await) });
            }
            drop(first_tx);
            let mut runs: Vec<Option<ServerRun>> = vec![None; servers.len()];
            while let Some(joined) = set.join_next().await {
                match joined {
                    Ok((i, run)) => {
                        if let Some(slot) = runs.get_mut(i) {
                            *slot = Some(run);
                        }
                    }
                    Err(e) => tracing::warn!("NAT probe task failed: {e}"),
                }
            }
            // A task that died leaves its server "not tested".
            let runs: Vec<ServerRun> = runs
                .into_iter()
                .zip(&servers)
                .map(|(r, s)| {
                    r.unwrap_or_else(|| ServerRun {
                        obs: natclass::ServerObservation::new(*s),
                        plain: false,
                    })
                })
                .collect();
            plain::split(runs, ctx.bind, deadline).await
        }
    };

    let aux_fut = aux(first_rx, cfg, start, deadline);
    let path_fut = async {
        match cfg.servers.first() {
            Some(server) if cfg.path_trace => {
                path::trace(*server, cfg.bind, cfg.timeout.min(PATH_WAIT)).await
            }
            _ => None,
        }
    };
    let ((servers, plain), (port_samples, lifetime), path) =
        tokio::join!(servers_fut, aux_fut, path_fut);

    let mut local = cfg.local.clone();
    local.path = local.path.or(path);
    let used = servers
        .iter()
        .flat_map(|s| [s.local, s.filtering.local])
        .chain(plain.iter().map(|p| p.local))
        .flatten()
        .map(|a| a.ip());
    for ip in used {
        if !ip.is_unspecified() && !local.addresses.contains(&ip) {
            local.addresses.push(ip);
        }
    }
    local.gateways.dedup();

    NatProbeOutput {
        observations: Observations {
            local,
            servers,
            plain,
            port_samples,
            lifetime,
        },
        elapsed: start.elapsed(),
    }
}

/// Port samples and the lifetime search, on the first RFC 5780 server that
/// answered test I (else the first server that answered at all).
async fn aux(
    mut first: mpsc::Receiver<TestI>,
    cfg: &NatProbeConfig,
    start: Instant,
    deadline: Instant,
) -> (Vec<natclass::PortSample>, Vec<natclass::LifetimeProbe>) {
    if cfg.port_samples == 0 && cfg.lifetime.is_none() {
        return (Vec::new(), Vec::new());
    }
    let mut fallback = None;
    let mut chosen = None;
    while let Ok(Some(ti)) = tokio::time::timeout_at(deadline, first.recv()).await {
        if ti.rfc5780() {
            chosen = Some(ti);
            break;
        }
        fallback = fallback.or(Some(ti));
    }
    let Some(ti) = chosen.or(fallback) else {
        return (Vec::new(), Vec::new());
    };
    let other = ti.other.filter(|_| ti.rfc5780());
    let samples = ports::port_samples(
        ti.server,
        other,
        cfg.port_samples,
        cfg.bind,
        ti.rtt,
        deadline,
    );
    let life = async {
        match cfg.lifetime {
            Some(l) if other.is_some() => {
                lifetime::lifetime_probes(ti.server, cfg.bind, ti.rtt, l.plan, start + l.budget)
                    .await
            }
            _ => Vec::new(),
        }
    };
    tokio::join!(samples, life)
}
