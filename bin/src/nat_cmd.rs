//! `natscope nat`: the NAT behaviour probe (RFC 5780) and its verdict.
//!
//! The lead's code resolves the servers; this module takes socket addresses,
//! runs [`probe::nat::probe`] and classifies with [`natclass::classify`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use probe::nat::{LifetimeConfig, NatProbeConfig};

use crate::cli_time::parse_duration;

/// Flags of the NAT behaviour probe.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct NatArgs {
    /// Also measure the UDP mapping lifetime (RFC 5780 §4.6): idle
    /// intervals are searched within BUDGET (default 5m). Opt-in: it takes
    /// that long.
    #[arg(
        long,
        value_name = "BUDGET",
        num_args = 0..=1,
        default_missing_value = "5m",
        value_parser = parse_duration
    )]
    pub lifetime: Option<Duration>,
    /// Skip the hairpinning test.
    #[arg(long)]
    pub no_hairpin: bool,
    /// Port allocation samples (fresh sockets) to take; 0 for none.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub port_samples: usize,
}

impl Default for NatArgs {
    fn default() -> Self {
        Self {
            lifetime: None,
            no_hairpin: false,
            port_samples: 4,
        }
    }
}

impl NatArgs {
    /// The probe configuration for these flags.
    pub fn config(
        &self,
        targets: Vec<SocketAddr>,
        bind: Option<IpAddr>,
        timeout: Duration,
    ) -> NatProbeConfig {
        NatProbeConfig {
            servers: targets,
            bind,
            timeout,
            hairpin: !self.no_hairpin,
            port_samples: self.port_samples,
            local: probe::nat::local_network(),
            lifetime: self.lifetime.map(|budget| LifetimeConfig {
                budget,
                plan: natclass::LifetimePlan::default(),
            }),
            ..NatProbeConfig::default()
        }
    }
}

/// One NAT probe run: the verdict, the observations it came from (for
/// `--json` debugging) and the wall time.
#[derive(Debug, Clone)]
pub struct NatRun {
    /// The classification.
    pub verdict: natclass::NatVerdict,
    /// What was observed.
    pub observations: natclass::Observations,
    /// Wall time of the probe.
    pub elapsed: Duration,
}

/// Probes `targets` (RFC 5780 primary addresses or plain STUN servers, UDP;
/// the TCP Binding goes to the same address) and classifies the NAT.
/// Bounded by `timeout` (plus the `--lifetime` budget when given). Never
/// fails: unreachable servers are part of the verdict.
pub async fn run_probe(
    targets: Vec<SocketAddr>,
    bind: Option<IpAddr>,
    timeout: Duration,
    args: &NatArgs,
) -> NatRun {
    let out = probe::nat::probe(&args.config(targets, bind, timeout)).await;
    NatRun {
        verdict: natclass::classify(&out.observations),
        observations: out.observations,
        elapsed: out.elapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        nat: NatArgs,
    }

    #[test]
    fn flags_parse() {
        let c = Cli::parse_from(["t"]);
        assert_eq!(c.nat, NatArgs::default());
        let c = Cli::parse_from(["t", "--lifetime", "--no-hairpin", "--port-samples", "0"]);
        assert_eq!(c.nat.lifetime, Some(Duration::from_secs(300)));
        assert!(c.nat.no_hairpin);
        assert_eq!(c.nat.port_samples, 0);
        let c = Cli::parse_from(["t", "--lifetime", "90s"]);
        assert_eq!(c.nat.lifetime, Some(Duration::from_secs(90)));
        let cfg = c.nat.config(
            vec!["192.0.2.1:3478".parse().expect("literal")],
            None,
            Duration::from_secs(3),
        );
        assert!(cfg.hairpin);
        assert_eq!(
            cfg.lifetime.map(|l| l.budget),
            Some(Duration::from_secs(90))
        );
    }
}

/// `natscope nat`: servers, probe options, NAT flags and output options.
#[derive(Debug, clap::Args)]
pub struct NatCmd {
    #[command(flatten)]
    servers: crate::servers_arg::ServerArgs,
    #[command(flatten)]
    nat: NatArgs,
    #[command(flatten)]
    probe: crate::servers_arg::ProbeArgs,
    #[command(flatten)]
    output: crate::output::OutputArgs,
}

/// The NAT verdicts, one per address family.
#[derive(Debug, Clone)]
pub struct NatSections {
    /// From the IPv4 servers: the report's `nat`.
    pub ipv4: model::Section<natclass::NatVerdict>,
    /// From the IPv6 servers: the report's `nat_ipv6`.
    pub ipv6: model::Section<natclass::NatVerdict>,
}

/// Resolves `servers` to UDP addresses and runs the NAT probe once per
/// address family, both at once (`-4`/`-6` skip one): the `nat` and
/// `nat_ipv6` sections. Names that cannot be resolved are listed as
/// evidence. A family with no server, or (IPv6) no route, is not tested,
/// with the reason.
pub async fn nat_sections(
    servers: &[crate::servers_arg::NamedServer],
    probe: &crate::servers_arg::ProbeArgs,
    args: &NatArgs,
) -> NatSections {
    let started = tokio::time::Instant::now();
    let resolved = crate::stun_cmd::resolve_all(servers, false, probe.timeout / 2).await;
    let mut targets = Vec::new();
    let mut unresolved = Vec::new();
    for (server, r) in servers.iter().zip(resolved) {
        match r {
            Ok(list) => targets.extend(
                list.into_iter()
                    .filter(|t| t.transport == model::servers::Transport::Udp)
                    .map(|t| t.addr),
            ),
            Err(why) => unresolved.push(natclass::Evidence {
                test: "resolve".into(),
                detail: format!("{}: {why}", server.label),
                server: None,
            }),
        }
    }
    targets.dedup();
    let (v4, v6): (Vec<SocketAddr>, Vec<SocketAddr>) =
        targets.into_iter().partition(SocketAddr::is_ipv4);
    let remaining = probe.timeout.saturating_sub(started.elapsed());
    let family = |targets: Vec<SocketAddr>, other: usize, v6: bool| async move {
        let name = if v6 { "IPv6" } else { "IPv4" };
        if let Some(why) = probe.family.skipped(v6) {
            return model::Section::not_tested(why);
        }
        // IPv4 with no server at all still runs (empty): its "nat" check
        // then says that no server could be asked.
        if targets.is_empty() && (v6 || other > 0) {
            return model::Section::not_tested(format!(
                "no {name} STUN server (none of the servers has an {name} address)"
            ));
        }
        let bind = targets.first().and_then(|t| probe.bind_for(t.ip()));
        if v6
            && let Some(first) = targets.first()
            && let Err(e) = route_to(*first, bind)
        {
            return model::Section::not_tested(format!(
                "this host has no IPv6 route to {first} ({e})"
            ));
        }
        let run = run_probe(targets, bind, remaining, args).await;
        tracing::info!(
            elapsed_ms = run.elapsed.as_millis(),
            family = name,
            "NAT probe finished"
        );
        tracing::debug!(observations = ?run.observations, "NAT observations");
        model::Section::Tested(run.verdict)
    };
    let (n4, n6) = (v4.len(), v6.len());
    let (mut ipv4, mut ipv6) = tokio::join!(family(v4, n6, false), family(v6, n4, true));
    // The names that did not resolve belong to whichever verdict exists.
    if let model::Section::Tested(v) = &mut ipv4 {
        v.evidence.extend(unresolved);
    } else if let model::Section::Tested(v) = &mut ipv6 {
        v.evidence.extend(unresolved);
    }
    // The one family asked for (-4/-6) that could not be tested: the run
    // did not do what it was asked.
    for (section, asked) in [
        (&mut ipv4, probe.family.ipv4_only),
        (&mut ipv6, probe.family.ipv6_only),
    ] {
        if asked && let model::Section::NotTested { reason } = section {
            *section = model::Section::failed(reason.clone());
        }
    }
    NatSections { ipv4, ipv6 }
}

/// Whether this host can route to `dest` (from `bind`): a connected UDP
/// socket, nothing sent.
fn route_to(dest: SocketAddr, bind: Option<IpAddr>) -> std::io::Result<()> {
    let local = SocketAddr::new(bind.unwrap_or(probe::nat::unspecified_for(dest)), 0);
    std::net::UdpSocket::bind(local)?.connect(dest)
}

/// Runs `natscope nat`.
pub async fn run(cmd: NatCmd) -> anyhow::Result<crate::Verdict> {
    cmd.output.check()?;
    cmd.probe.check()?;
    let servers = crate::servers_arg::keep_families(cmd.servers.collect()?, cmd.probe.family)?;
    let mut rep = model::Report::new("nat", crate::cli_time::now_rfc3339());
    rep.options.ipv4 = !cmd.probe.family.ipv6_only;
    rep.options.ipv6 = !cmd.probe.family.ipv4_only;
    rep.options.timeout_ms = Some(u64::try_from(cmd.probe.timeout.as_millis()).unwrap_or(u64::MAX));
    rep.options.servers = servers.iter().map(|s| s.label.clone()).collect();
    rep.options.bind = cmd.probe.bind_label();
    let sections = nat_sections(&servers, &cmd.probe, &cmd.nat).await;
    rep.nat = sections.ipv4;
    rep.nat_ipv6 = sections.ipv6;
    rules::conclude(&mut rep);
    cmd.output.emit(&rep)?;
    Ok(rules::verdict(&rep.summary))
}
