//! `natscope turn --load`: a bounded load test of the user's own TURN
//! server.

use crate::cli_time::{parse_duration, parse_duration_or_zero};
use crate::turn_cmd::TurnArgs;
use anyhow::{Context, bail};
use model::turn::TurnTransport;
use probe::turn::TurnAuth;
use probe::turn::load::LoadPlan;
use std::io::IsTerminal;
use std::time::Duration;

/// For operators: the load test of their own TURN server.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Load the server instead of testing it: --allocations allocations
    /// from distinct source ports, ramped up in steps, paired relay to
    /// relay, each streaming --rate packets/s of --size bytes, for
    /// --duration; then every allocation is deleted. Reports allocation
    /// times, relayed packets/s, loss, RTT and jitter per step, and where
    /// the server first showed strain (docs/operators.md).
    #[arg(long, conflicts_with_all = ["peer", "no_quality"])]
    pub load: bool,
    /// Allocations at full load (rounded up to an even number).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..=20000), requires = "load")]
    pub allocations: u32,
    /// Packets per second each allocation sends.
    #[arg(long, value_name = "PPS", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10000), requires = "load")]
    pub rate: u32,
    /// Payload bytes per packet (audio-like by default).
    #[arg(long, value_name = "BYTES", default_value_t = 160, value_parser = clap::value_parser!(u32).range(32..=1200), requires = "load")]
    pub size: u32,
    /// Whole run, ramp included (e.g. 30s, 2m; at most 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s", requires = "load")]
    pub duration: Duration,
    /// Time to reach full load (0s: all at once).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_or_zero, default_value = "10s", requires = "load")]
    pub ramp: Duration,
    /// Ramp steps.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100), requires = "load")]
    pub steps: u32,
    /// Confirm that you run the server being loaded: needed for any target
    /// that is not on loopback or in a documentation range (lab).
    #[arg(long, requires = "load")]
    pub i_own_this_server: bool,
}

/// Runs `natscope turn --load`: the first TURN server given, over UDP.
pub async fn run(
    turn: &TurnArgs,
    load: &LoadArgs,
    output: &crate::output::OutputArgs,
) -> anyhow::Result<crate::Verdict> {
    let (servers, cfg) = crate::turn_cmd::probe_config(turn)?;
    let Some(first) = servers.first() else {
        bail!("the --ice-servers file has no turn: or turns: entry");
    };
    if servers.len() > 1 {
        eprintln!(
            "natscope: --load tests one server: {} (the others are not loaded)",
            first.label
        );
    }
    if !probe::turn::turn_transports(&first.uri).contains(&TurnTransport::Udp) {
        bail!(
            "{}: --load runs over UDP; give a turn: URI that allows UDP (turn:HOST or \
             turn:HOST?transport=udp)",
            first.label
        );
    }
    if load.ramp > load.duration {
        bail!(
            "--ramp ({}) is longer than --duration ({})",
            crate::cli_time::show(load.ramp),
            crate::cli_time::show(load.duration)
        );
    }
    if load.duration > Duration::from_secs(3600) || load.duration < Duration::from_secs(1) {
        bail!("--duration must be between 1s and 1h");
    }
    let auth = cfg
        .auth
        .clone()
        .or_else(|| TurnAuth::from_uri(&first.uri))
        .context("no TURN credentials")?;
    let (server, _) = probe::turn::client::resolve(&first.uri, TurnTransport::Udp, &cfg)
        .await
        .map_err(|f| anyhow::anyhow!("{}: {}", first.label, f.describe()))?;
    if !load.i_own_this_server && !probe::turn::load::is_lab_or_loopback(server.ip()) {
        bail!(
            "{} ({server}) is not on loopback or in the lab: a load test sends a lot of \
             traffic; pass --i-own-this-server to load a server you run",
            first.label
        );
    }
    let plan = LoadPlan {
        allocations: load.allocations,
        rate_pps: load.rate,
        size: load.size,
        duration: load.duration,
        ramp: load.ramp,
        steps: load.steps,
        request_timeout: cfg.stage_timeout,
        ..LoadPlan::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signals = tokio::spawn(async move {
        if crate::signals::stop_requested().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let progress: Option<probe::turn::load::Progress> = std::io::stderr()
        .is_terminal()
        .then(|| Box::new(|line: &str| eprintln!("natscope: {line}")) as _);
    let section = probe::turn::load::run(
        &first.label,
        &first.uri.to_string(),
        server,
        &auth,
        plan,
        load.i_own_this_server,
        stop_rx,
        progress,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}: {e}", first.label))?;
    signals.abort();
    let interrupted = (section.ended == model::load::LoadEnd::Interrupted).then(|| {
        format!(
            "interrupted; {} of {} allocations deleted (the server frees the rest when their \
             lifetime ends)",
            section.allocations.released, section.allocations.release_attempted
        )
    });
    let mut rep = model::Report::new("turn", crate::cli_time::now_rfc3339());
    rep.options.servers = vec![first.label.clone()];
    rep.load = model::Section::Tested(section);
    rules::conclude(&mut rep);
    output.emit(&rep)?;
    // What was measured is written first; then exit 130.
    if let Some(why) = interrupted {
        return Err(crate::Interrupted(why).into());
    }
    Ok(rules::verdict(&rep.summary))
}
