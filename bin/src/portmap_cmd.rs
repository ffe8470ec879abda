//! `--no-portmap` and the port mapping options; running the probe with a
//! Ctrl-C path that still deletes every mapping.
//!
//! Ctrl-C: the probe future is raced against `tokio::signal::ctrl_c()`. On
//! the signal the probe future is dropped (cancelled) and the shared
//! [`MappingLedger`] deletes whatever it had mapped, bounded by
//! `--portmap-timeout`, before we return an error (the caller exits
//! non-zero). Anything a gateway refuses to delete expires with the short
//! lease (`--portmap-lifetime`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::cli_time::parse_duration;
use model::portmap::PortmapSection;
use probe::portmap::{Availability, MappingLedger, PortmapConfig, PortmapOutcome, PortmapProtocol};

/// Port mapping (UPnP IGD, NAT-PMP, PCP) options.
#[derive(clap::Args, Debug, Clone)]
pub struct PortmapArgs {
    /// Do not test port mapping at all (set by `diagnose --no-portmap`;
    /// `natscope portmap` always tests).
    #[arg(skip)]
    pub skip: bool,
    /// Gateway to ask (NAT-PMP/PCP); the default gateway otherwise.
    #[arg(long = "portmap-gateway", value_name = "IP")]
    pub gateway: Option<IpAddr>,
    /// How long to wait for each protocol's first answer and each later
    /// step (e.g. 2s, 500ms; 100ms to 30s).
    #[arg(
        long = "portmap-timeout",
        value_name = "DURATION",
        value_parser = parse_duration,
        default_value = "2s"
    )]
    pub portmap_timeout: Duration,
    /// Lease requested for test mappings (e.g. 2m; 30s to 1h; they are
    /// deleted anyway).
    #[arg(
        long = "portmap-lifetime",
        value_name = "DURATION",
        value_parser = parse_duration,
        default_value = "2m"
    )]
    pub portmap_lifetime: Duration,
}

impl PortmapArgs {
    /// The probe configuration; `stun_mapped` is the address STUN saw.
    pub fn config(&self, stun_mapped: Option<IpAddr>) -> PortmapConfig {
        let t = self
            .portmap_timeout
            .clamp(Duration::from_millis(100), Duration::from_secs(30));
        PortmapConfig {
            skip: self.skip,
            gateway: self.gateway,
            stun_mapped,
            discovery_timeout: t,
            step_timeout: t,
            lifetime: Duration::from_secs(self.portmap_lifetime.as_secs().clamp(30, 3600)),
            ..PortmapConfig::default()
        }
    }
}

impl PortmapArgs {
    /// The configuration for `diagnose --lab`: no network beyond loopback.
    /// NAT-PMP and PCP ask 127.0.0.1 (unless `--portmap-gateway` names
    /// another gateway), where nothing answers; UPnP is off because its SSDP
    /// search is multicast and would leave loopback.
    pub fn lab_config(&self) -> PortmapConfig {
        let mut cfg = self.config(None);
        cfg.gateway = Some(
            self.gateway
                .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
        );
        cfg.upnp = false;
        cfg
    }
}

/// Reason given for UPnP in `diagnose --lab`.
pub const LAB_UPNP_REASON: &str =
    "not tested with --lab: the SSDP search is multicast and would leave loopback";

/// Marks UPnP as not tested for the lab reason (it was disabled by
/// [`PortmapArgs::lab_config`]).
pub fn mark_lab(out: &mut PortmapOutcome) {
    for p in &mut out.protocols {
        if p.protocol == PortmapProtocol::Upnp
            && matches!(p.availability, Availability::NotTested { .. })
        {
            p.availability = Availability::NotTested {
                reason: LAB_UPNP_REASON.to_owned(),
            };
        }
    }
}

/// Compares the gateways' external addresses with `stun_mapped` (learnt
/// after the probe ran, e.g. concurrently in `diagnose`) and recomputes the
/// double-NAT finding. Keeps the existing finding when `stun_mapped` is
/// `None` or already the one compared with.
pub fn compare_with_stun(out: &mut PortmapOutcome, stun_mapped: Option<IpAddr>) {
    if stun_mapped.is_none() || out.stun_mapped == stun_mapped || out.skipped {
        return;
    }
    let externals: Vec<(PortmapProtocol, IpAddr)> = out
        .protocols
        .iter()
        .filter_map(|o| o.external_ip.map(|ip| (o.protocol, ip)))
        .collect();
    out.stun_mapped = stun_mapped;
    out.double_nat = probe::portmap::double_nat(&externals, stun_mapped);
}

/// The report section: not tested when skipped (`--no-portmap`), tested
/// otherwise.
pub fn section(o: &PortmapOutcome) -> model::Section<PortmapSection> {
    if o.skipped {
        model::Section::not_tested("skipped (--no-portmap): nothing was sent to the gateway")
    } else {
        model::Section::Tested(probe::portmap::section::section(o))
    }
}

/// `natscope portmap`.
#[derive(clap::Args, Debug)]
pub struct PortmapCmd {
    #[command(flatten)]
    args: PortmapArgs,
    /// Ask this STUN server (URI or host:port) for the public address first,
    /// to compare it with the gateway's external address (double NAT).
    #[arg(long, value_name = "SERVER")]
    stun: Option<String>,
    #[command(flatten)]
    probe: crate::servers_arg::ProbeArgs,
    #[command(flatten)]
    output: crate::output::OutputArgs,
}

/// Runs `natscope portmap`.
pub async fn run(cmd: PortmapCmd) -> anyhow::Result<crate::Verdict> {
    cmd.output.check()?;
    cmd.probe.check()?;
    let mut rep = model::Report::new("portmap", crate::cli_time::now_rfc3339());
    rep.options.timeout_ms =
        Some(u64::try_from(cmd.args.config(None).step_timeout.as_millis()).unwrap_or(u64::MAX));
    rep.options.bind = cmd.probe.bind_label();
    let mut stun_mapped = None;
    if let (Some(label), false) = (&cmd.stun, cmd.args.skip) {
        let uri = model::servers::ServerUri::parse(label)?;
        let servers = [crate::servers_arg::NamedServer {
            label: label.clone(),
            uri,
        }];
        rep.options.servers = vec![label.clone()];
        let stun = crate::stun_cmd::probe_section(&servers, false, &cmd.probe).await;
        stun_mapped = public_ip(&stun);
        rep.stun = model::Section::Tested(stun);
    }
    let outcome = run_probe(&cmd.args, stun_mapped).await?;
    rep.portmap = section(&outcome);
    rules::conclude(&mut rep);
    cmd.output.emit(&rep)?;
    Ok(rules::verdict(&rep.summary))
}

/// The first public IP a STUN server reported (IPv4 first).
pub fn public_ip(stun: &model::StunSection) -> Option<IpAddr> {
    let mapped = || stun.servers.iter().filter_map(|s| s.mapped).map(|m| m.ip());
    mapped().find(IpAddr::is_ipv4).or_else(|| mapped().next())
}

/// Runs the port mapping probe; on Ctrl-C deletes every mapping made so far
/// (bounded) and returns an error.
pub async fn run_probe(
    args: &PortmapArgs,
    stun_mapped: Option<IpAddr>,
) -> anyhow::Result<PortmapOutcome> {
    let cfg = args.config(stun_mapped);
    let ledger = Arc::new(MappingLedger::new());
    tokio::select! {
        out = probe::portmap::probe(&cfg, &ledger) => Ok(out),
        _ = tokio::signal::ctrl_c() => {
            let message = if ledger.outstanding() > 0 {
                let r = ledger.cleanup(cfg.step_timeout).await;
                format!(
                    "interrupted; port mappings removed: {}, not removed (they expire with their lease): {}",
                    r.removed.len(),
                    r.failed.len()
                )
            } else {
                "interrupted".to_owned()
            };
            Err(crate::Interrupted(message).into())
        }
    }
}
