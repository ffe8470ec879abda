//! `natscope peer`: ICE, a data channel and a hole punch with natscope on
//! another machine, met through a rendezvous (`natscope serve
//! --rendezvous`). Without a code it opens a session and prints the code;
//! with one it joins (docs/peer.md).

use crate::cli_time::parse_duration;
use crate::ice_cmd::IceArgs;
use crate::servers_arg::{CredentialArgs, FamilyArgs};
use anyhow::Context;
use model::peer::{PeerRole, PeerSection};
use probe::peer::{Channel, PeerOptions, RendezvousTransport, SessionInfo, rendezvous_failure};
use probe::rendezvous::{Rendezvous, RendezvousOptions, RendezvousUrl, SessionCode};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `natscope peer`.
#[derive(clap::Args, Debug)]
pub struct PeerArgs {
    /// The rendezvous: http://HOST[:PORT] or https://HOST[:PORT]
    /// (`natscope serve --rendezvous` on a host both machines reach).
    #[arg(long, value_name = "URL")]
    pub rendezvous: String,
    /// The session code the other side printed; without it this side opens
    /// a session and prints a code for the other side.
    #[arg(value_name = "CODE")]
    pub code: Option<String>,
    /// A CA certificate (PEM) to trust for an https:// rendezvous, beside
    /// the system's roots.
    #[arg(long, value_name = "FILE")]
    pub rendezvous_ca: Option<PathBuf>,
    /// STUN servers for srflx candidates and the hole punch:
    /// stun:HOST[:PORT]. The NAT verdict behind the prediction also comes
    /// from them (an RFC 5780 server gives the full verdict).
    #[arg(long = "stun", value_name = "URI")]
    pub stun: Vec<String>,
    /// TURN servers for relayed candidates (the relay-allowed policy):
    /// turn:HOST[:PORT], turn:…?transport=tcp, turns:HOST[:PORT].
    #[arg(long = "turn", value_name = "URI")]
    pub turn: Vec<String>,
    /// A WebRTC iceServers JSON file, as a browser would be given.
    #[arg(long, value_name = "FILE")]
    pub ice_servers: Option<PathBuf>,
    #[command(flatten)]
    pub creds: CredentialArgs,
    /// Local IPs for host candidates (repeatable). Default: the address the
    /// system uses toward the servers.
    #[arg(long = "bind", value_name = "IP")]
    pub bind: Vec<IpAddr>,
    /// How long the opening side waits for the other side to join (1s to
    /// 30m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub join_timeout: Duration,
    /// The longest wait for one step of the other side (1s to 120s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub step_timeout: Duration,
    /// Gathering deadline per ICE run (100ms to 60s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub gather_timeout: Duration,
    /// Connectivity-check deadline per ICE run (100ms to 120s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub connect_timeout: Duration,
    /// Skip the plain UDP hole-punch measurement and the TCP simultaneous
    /// open.
    #[arg(long)]
    pub no_punch: bool,
    /// Skip this side's NAT test (the prediction then has nothing to go
    /// on).
    #[arg(long)]
    pub no_nat: bool,
    #[command(flatten)]
    pub family: FamilyArgs,
}

/// `natscope peer`: the arguments plus output options.
#[derive(Debug, clap::Args)]
pub struct PeerCmd {
    #[command(flatten)]
    peer: PeerArgs,
    #[command(flatten)]
    output: crate::output::OutputArgs,
}

/// Runs `natscope peer`.
pub async fn run(cmd: PeerCmd) -> anyhow::Result<crate::Verdict> {
    cmd.output.check()?;
    let a = &cmd.peer;
    let url: RendezvousUrl = a
        .rendezvous
        .parse()
        .map_err(|e| anyhow::anyhow!("--rendezvous {}: {e}", a.rendezvous))?;
    let code: Option<SessionCode> = match &a.code {
        Some(c) => Some(
            c.parse()
                .map_err(|e| anyhow::anyhow!("the session code: {e}"))?,
        ),
        None => None,
    };
    if let Some(ca) = &a.rendezvous_ca {
        std::fs::metadata(ca).with_context(|| format!("--rendezvous-ca {}", ca.display()))?;
    }
    let ice_args = IceArgs {
        stun: a.stun.clone(),
        turn: a.turn.clone(),
        servers: Vec::new(),
        ice_servers: a.ice_servers.clone(),
        creds: a.creds.clone(),
        bind: a.bind.clone(),
        filters: Vec::new(),
        gather_timeout: a.gather_timeout,
        connect_timeout: a.connect_timeout,
        pings: 3,
        no_data_channel: false,
        family: a.family,
    };
    let (servers, ice) = crate::ice_cmd::config(&ice_args).await?;
    let opts = PeerOptions {
        ice,
        step_timeout: a
            .step_timeout
            .clamp(Duration::from_secs(1), Duration::from_secs(120)),
        punch: !a.no_punch,
    };
    let ropts = RendezvousOptions {
        extra_ca: a.rendezvous_ca.clone(),
        ..RendezvousOptions::default()
    };

    // This side's NAT test runs while the session is set up.
    let nat_targets: Vec<_> = servers
        .stun
        .iter()
        .map(|s| s.addr)
        .filter(|a| a.is_ipv4())
        .collect();
    let bind = opts.ice.host_ips.iter().copied().find(IpAddr::is_ipv4);
    let nat_task = (!a.no_nat && !nat_targets.is_empty()).then(|| {
        let nat_args = crate::nat_cmd::NatArgs {
            lifetime: None,
            no_hairpin: true,
            port_samples: 0,
        };
        tokio::spawn(async move {
            crate::nat_cmd::run_probe(nat_targets, bind, Duration::from_secs(5), &nat_args)
                .await
                .verdict
        })
    });
    let nat = async move {
        match nat_task {
            Some(t) => t.await.ok(),
            None => None,
        }
    };

    let role = if code.is_some() {
        PeerRole::Joiner
    } else {
        PeerRole::Creator
    };
    let shown = url.to_string();
    let mut section = PeerSection::empty(&shown, role, "the session did not start");
    let t0 = std::time::Instant::now();
    let rv = match &code {
        Some(code) => Rendezvous::join(&url, code, &ropts).await,
        None => match Rendezvous::open(&url, &ropts).await {
            Ok((mut rv, code)) => {
                eprintln!(
                    "natscope: session open. On the other machine run:\n\n    natscope peer --rendezvous {shown} {code}\n\nWaiting for it to join (up to {})…",
                    crate::cli_time::show(a.join_timeout)
                );
                let deadline = tokio::time::Instant::now()
                    + a.join_timeout
                        .clamp(Duration::from_secs(1), Duration::from_secs(1800));
                match rv.wait_joined(deadline).await {
                    Ok(()) => Ok(rv),
                    Err(e) => {
                        rv.close().await;
                        Err(e)
                    }
                }
            }
            Err(e) => Err(e),
        },
    };
    match rv {
        Ok(rv) => {
            let info = SessionInfo {
                role,
                session: Some(rv.session_label().to_string()),
                rendezvous: shown.clone(),
            };
            let mut channel = Channel::new(Box::new(RendezvousTransport(rv)));
            section = probe::peer::run(&mut channel, info, &servers, &opts, nat).await;
            channel.close().await;
        }
        Err(e) => {
            let f = rendezvous_failure(&e);
            section.failure = Some(probe::peer::failure_of(&f));
            section.duration_ms = t0.elapsed().as_secs_f64() * 1e3;
        }
    }
    let mut rep = model::Report::new("peer", crate::cli_time::now_rfc3339());
    rep.options.servers = a.stun.iter().chain(&a.turn).cloned().collect();
    rep.peer = model::Section::Tested(section);
    rules::conclude(&mut rep);
    cmd.output.emit(&rep)?;
    Ok(rules::verdict(&rep.summary))
}
