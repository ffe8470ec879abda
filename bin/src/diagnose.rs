//! `natscope diagnose`: the whole picture in one run.
//!
//! With `--lab`, natscope first starts its own servers on loopback (the RFC
//! 5780 responder on 127.0.0.1 and 127.0.0.2, the same one `natscope serve`
//! runs) and diagnoses against them: no root, no network.

use clap::Args;
use probe::responder::{Responder, ResponderConfig};
use probe::servers::ServerUri;

use crate::Verdict;
use crate::output::OutputArgs;
use crate::servers_arg::{NamedServer, ProbeArgs, ServerArgs};
use crate::{interfaces_cmd, stun_cmd, to_report};

/// Arguments of `natscope diagnose`.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// Start embedded test servers on loopback (127.0.0.1 / 127.0.0.2) and
    /// diagnose against them instead of the named or default servers.
    #[arg(long, conflicts_with_all = ["servers", "ice_servers"])]
    lab: bool,
    #[command(flatten)]
    servers: ServerArgs,
    #[command(flatten)]
    nat: crate::nat_cmd::NatArgs,
    #[command(flatten)]
    probe: ProbeArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// The servers `--lab` starts; dropped (and stopped) at the end of the run.
struct EmbeddedLab {
    stun: Responder,
}

impl EmbeddedLab {
    fn start() -> anyhow::Result<Self> {
        let stun = Responder::start(ResponderConfig::loopback_lab())
            .map_err(|e| anyhow::anyhow!("cannot start the embedded STUN responder: {e}"))?;
        Ok(Self { stun })
    }

    /// The lab's servers, as a user would name them.
    fn servers(&self) -> anyhow::Result<Vec<NamedServer>> {
        let addrs = self.stun.addrs();
        let mut out = Vec::new();
        for addr in [Some(addrs.primary), addrs.alternate].into_iter().flatten() {
            let label = format!("stun:{addr}");
            let uri = ServerUri::parse(&label)?;
            out.push(NamedServer { label, uri });
        }
        Ok(out)
    }
}

/// Runs the command.
pub async fn run(args: DiagnoseArgs) -> anyhow::Result<Verdict> {
    let lab = if args.lab {
        Some(EmbeddedLab::start()?)
    } else {
        None
    };
    let servers = match &lab {
        Some(lab) => lab.servers()?,
        None => args.servers.collect()?,
    };
    let mut rep = report::Report::new(
        if args.lab {
            "diagnose --lab"
        } else {
            "diagnose"
        },
        to_report::now_rfc3339(),
    );
    rep.options.timeout_ms =
        Some(u64::try_from(args.probe.timeout.as_millis()).unwrap_or(u64::MAX));
    rep.options.servers = servers.iter().map(|s| s.label.clone()).collect();
    rep.options.bind = args.probe.bind.map(|b| b.to_string());

    let (interfaces, stun, nat) = tokio::join!(
        async { interfaces_cmd::section() },
        stun_cmd::probe_section(&servers, args.lab, &args.probe),
        crate::nat_cmd::nat_section(&servers, &args.probe, &args.nat),
    );
    rep.interfaces = interfaces;
    to_report::summarize_stun(&stun, &mut rep.summary);
    rep.stun = report::Section::Tested(stun);
    to_report::summarize_nat(&nat, &mut rep.summary);
    rep.nat = report::Section::Tested(nat);

    if let Some(lab) = lab {
        lab.stun.shutdown().await;
    }
    args.output.emit(&rep)?;
    Ok(Verdict::from_checks(&rep.summary.checks))
}
