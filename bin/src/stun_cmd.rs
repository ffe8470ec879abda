//! `natscope stun`: Binding requests to every server at once.

use clap::Args;
use model::servers::{Host, Scheme, Transport as UriTransport};
use probe::resolve::Resolver;
use probe::stun::binding::{BindingOptions, BindingTarget, Transport, query_all_counted};
use probe::stun::section::StunEntry;
use probe::stun::transaction::RetransmitConfig;

use crate::Verdict;
use crate::output::OutputArgs;
use crate::servers_arg::{NamedServer, ProbeArgs, ServerArgs};

/// Arguments of `natscope stun`.
#[derive(Debug, Args)]
pub struct StunArgs {
    #[command(flatten)]
    servers: ServerArgs,
    /// Also send a Binding request over TCP to every stun: server.
    #[arg(long)]
    tcp: bool,
    #[command(flatten)]
    probe: ProbeArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Resolves every server concurrently (IP literals need no DNS), for its
/// transports (`tcp`: also TCP for stun: URIs), bounded by `budget`. One
/// result per server, in order; a failure names the host.
pub async fn resolve_all(
    servers: &[NamedServer],
    tcp: bool,
    dns_budget: std::time::Duration,
) -> Vec<Result<Vec<probe::resolve::ResolvedTarget>, String>> {
    let needs_dns = servers.iter().any(|s| matches!(s.uri.host, Host::Name(_)));
    let resolver = if needs_dns {
        Some(Resolver::system().map_err(|e| e.to_string()))
    } else {
        None
    };
    futures_util::future::join_all(servers.iter().map(|s| {
        let resolver = resolver.as_ref();
        async move {
            let transports = s.uri.transports(tcp);
            match (&s.uri.host, resolver) {
                (Host::Name(_), Some(Err(e))) => Err(e.clone()),
                (_, Some(Ok(r))) => r
                    .resolve_for(&s.uri, &transports, dns_budget)
                    .await
                    .map_err(|e| e.to_string()),
                (Host::Ip(ip), _) => Ok(transports
                    .iter()
                    .map(|t| probe::resolve::ResolvedTarget {
                        uri: s.uri.clone(),
                        addr: std::net::SocketAddr::new(*ip, s.uri.port_or_default()),
                        transport: *t,
                        via_srv: false,
                    })
                    .collect()),
                (Host::Name(_), None) => Err("name resolution unavailable".to_string()),
            }
        }
    }))
    .await
}

/// Resolves and queries `servers`; the `stun` section of the report.
pub async fn probe_section(
    servers: &[NamedServer],
    tcp: bool,
    probe: &ProbeArgs,
) -> model::StunSection {
    let mut entries: Vec<StunEntry> = Vec::new();
    // Name resolution gets at most half the time budget; bindings get what
    // is left of the whole budget when it is done.
    // Slots in `entries` still waiting for a binding result, by target index.
    let mut targets: Vec<BindingTarget> = Vec::new();
    let mut slots: Vec<usize> = Vec::new();
    let started = tokio::time::Instant::now();
    let resolved = resolve_all(servers, tcp, probe.timeout / 2).await;
    for (server, res) in servers.iter().zip(resolved) {
        let uri = server.uri.to_string();
        match res {
            Err(why) => entries.push(StunEntry {
                label: server.label.clone(),
                uri,
                transport: Transport::Udp,
                result: Err(why),
            }),
            Ok(list) => {
                let (list, skipped): (Vec<_>, Vec<_>) = list
                    .into_iter()
                    .partition(|t| probe.family.allows(t.addr.ip()));
                if list.is_empty()
                    && let Some(t) = skipped.first()
                {
                    entries.push(StunEntry {
                        label: server.label.clone(),
                        uri,
                        transport: Transport::Udp,
                        result: Err(format!(
                            "its only addresses are {}: {}",
                            if t.addr.is_ipv4() { "IPv4" } else { "IPv6" },
                            probe.family.skipped(t.addr.is_ipv6()).unwrap_or("skipped"),
                        )),
                    });
                    continue;
                }
                for t in list {
                    let transport = match t.transport {
                        UriTransport::Udp => Transport::Udp,
                        UriTransport::Tcp => Transport::Tcp,
                    };
                    if matches!(server.uri.scheme, Scheme::Stuns | Scheme::Turns) {
                        entries.push(StunEntry {
                            label: server.label.clone(),
                            uri: uri.clone(),
                            transport,
                            result: Err("STUN over TLS is not probed by `natscope stun` \
                                         (use `natscope turn` for turns: servers)"
                                .into()),
                        });
                        continue;
                    }
                    slots.push(entries.len());
                    entries.push(StunEntry {
                        label: server.label.clone(),
                        uri: uri.clone(),
                        transport,
                        result: Err(String::new()),
                    });
                    targets.push(BindingTarget {
                        label: server.label.clone(),
                        addr: t.addr,
                        transport,
                    });
                }
            }
        }
    }
    let opts = BindingOptions {
        binds: probe.bind.clone(),
        retransmit: RetransmitConfig::default(),
        timeout: probe.timeout.saturating_sub(started.elapsed()),
    };
    let (results, counters) = query_all_counted(&targets, &opts).await;
    for (slot, result) in slots.into_iter().zip(results) {
        entries[slot].result = Ok(result);
    }
    probe::stun::section::section(
        &entries,
        model::Counters {
            malformed: counters.malformed,
            unmatched: counters.unmatched,
        },
    )
}

/// Runs the command.
pub async fn run(args: StunArgs) -> anyhow::Result<Verdict> {
    args.output.check()?;
    args.probe.check()?;
    let servers = crate::servers_arg::keep_families(args.servers.collect()?, args.probe.family)?;
    let mut rep = model::Report::new("stun", crate::cli_time::now_rfc3339());
    rep.options.ipv4 = !args.probe.family.ipv6_only;
    rep.options.ipv6 = !args.probe.family.ipv4_only;
    rep.options.timeout_ms =
        Some(u64::try_from(args.probe.timeout.as_millis()).unwrap_or(u64::MAX));
    rep.options.servers = servers.iter().map(|s| s.label.clone()).collect();
    rep.options.bind = args.probe.bind_label();
    rep.stun = model::Section::Tested(probe_section(&servers, args.tcp, &args.probe).await);
    rules::conclude(&mut rep);
    args.output.emit(&rep)?;
    Ok(rules::verdict(&rep.summary))
}
