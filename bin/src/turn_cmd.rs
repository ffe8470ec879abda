//! `natscope turn`: TURN diagnostics per server URI and transport.

use crate::cli_time::parse_duration;
use crate::servers_arg::{CredentialArgs, NamedServer, ServerArgs};
use anyhow::{Context, bail};
use model::servers::ServerUri;
use model::turn::{TurnSection, TurnTransportResult};
use probe::resolve::Resolver;
use probe::turn::{QualityConfig, TurnProbeConfig, probe_all};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `natscope turn`. Secrets are `Secret`s: their Debug/Display output
/// is `***`.
#[derive(clap::Args, Debug)]
pub struct TurnArgs {
    /// TURN server URIs: turn:HOST[:PORT][?transport=udp|tcp], turns:HOST[:PORT]
    /// (TLS) or turns:HOST[:PORT]?transport=udp (DTLS).
    #[arg(value_name = "URI")]
    pub uris: Vec<String>,
    /// A WebRTC RTCConfiguration / iceServers JSON file: its turn:/turns:
    /// entries are tested (with their username and credential); stun:
    /// entries are skipped.
    #[arg(long, value_name = "FILE")]
    pub ice_servers: Option<PathBuf>,
    #[command(flatten)]
    pub creds: CredentialArgs,
    /// A UDP echo peer for the data stages (default: a second allocation on
    /// the same server, relay to relay, which works behind any NAT).
    #[arg(long, value_name = "ADDR")]
    pub peer: Option<SocketAddr>,
    /// Deadline of each stage (e.g. 5s, 500ms; 100ms to 60s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub stage_timeout: Duration,
    /// Skip the relay quality burst.
    #[arg(long)]
    pub no_quality: bool,
    #[command(flatten)]
    pub family: crate::servers_arg::FamilyArgs,
}

impl TurnArgs {
    /// Every TURN server named: the arguments (which must be TURN URIs),
    /// then the iceServers file's TURN entries.
    pub fn servers(&self) -> anyhow::Result<Vec<NamedServer>> {
        let mut out = Vec::new();
        for u in &self.uris {
            let uri = ServerUri::parse(u).with_context(|| format!("bad TURN URI {u}"))?;
            if !uri.scheme.is_turn() {
                bail!("not a TURN URI: {u} (expected turn: or turns:)");
            }
            out.push(NamedServer {
                label: u.clone(),
                uri,
            });
        }
        if let Some(path) = &self.ice_servers {
            let file = ServerArgs {
                servers: Vec::new(),
                ice_servers: Some(path.clone()),
            };
            out.extend(file.given()?.into_iter().filter(|s| s.uri.scheme.is_turn()));
        }
        Ok(out)
    }
}

/// Builds the probe configuration from the arguments. URIs are parsed by
/// the crate's one server-URI parser and must be `turn:`/`turns:`. Names
/// are resolved by the system resolver (set up lazily by the probe, so a
/// broken resolv.conf is a `dns` stage failure, not an error here).
/// Without --username/--password/--turn-secret, credentials a URI carries
/// are used.
pub fn probe_config(args: &TurnArgs) -> anyhow::Result<(Vec<NamedServer>, TurnProbeConfig)> {
    let servers = crate::servers_arg::keep_families(args.servers()?, args.family)?;
    let auth = args.creds.auth()?;
    if auth.is_none() {
        require_credentials(servers.iter().map(|s| (&s.label, &s.uri)))?;
    }
    let cfg = TurnProbeConfig {
        ipv4: !args.family.ipv6_only,
        ipv6: !args.family.ipv4_only,
        auth,
        expected_realm: args.creds.realm.clone(),
        tls: args.creds.tls(None)?,
        peer: args.peer,
        stage_timeout: args
            .stage_timeout
            .clamp(Duration::from_millis(100), Duration::from_secs(60)),
        quality: (!args.no_quality).then(QualityConfig::default),
        resolver: Resolver::system().ok(),
    };
    Ok((servers, cfg))
}

/// Fails (a usage error, before anything is sent) when a TURN URI has no
/// credentials of its own and none were given: the probe could test only
/// the 401 challenge, which says nothing about whether the relay works.
pub fn require_credentials<'a>(
    uris: impl IntoIterator<Item = (&'a String, &'a ServerUri)>,
) -> anyhow::Result<()> {
    for (label, uri) in uris {
        if uri.scheme.is_turn() && uri.username.is_none() {
            bail!(
                "{label}: no TURN credentials: pass --username and --password (or \
                 NATSCOPE_TURN_PASSWORD), --turn-secret for REST credentials, or an \
                 --ice-servers file with username and credential"
            );
        }
    }
    Ok(())
}

/// Runs the TURN probe: one result per URI and transport, in input order.
pub async fn run_probe(
    args: &TurnArgs,
) -> anyhow::Result<(Vec<NamedServer>, Vec<TurnTransportResult>)> {
    let (servers, cfg) = probe_config(args)?;
    let uris: Vec<ServerUri> = servers.iter().map(|s| s.uri.clone()).collect();
    let results = probe_all(&uris, &cfg).await;
    Ok((servers, results))
}

/// `natscope turn`: the TURN arguments plus output options.
#[derive(Debug, clap::Args)]
pub struct TurnCmd {
    #[command(flatten)]
    turn: TurnArgs,
    #[command(flatten)]
    audit: AuditArgs,
    #[command(flatten)]
    load: crate::load_cmd::LoadArgs,
    #[command(flatten)]
    output: crate::output::OutputArgs,
}

/// For operators: the security audit of their own TURN server.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Audit the server instead of testing it: with these credentials, try
    /// to reach peers a public server must refuse (loopback, 0.0.0.0,
    /// private and link-local ranges, cloud metadata, multicast, its own
    /// addresses) by CreatePermission, ChannelBind, Send and RFC 6062
    /// Connect; check TLS on 443 and TCP, the allocation quota, REST
    /// credential lifetimes and the SOFTWARE version. Exits 1 on any
    /// high-level finding (docs/operators.md).
    #[arg(long, conflicts_with_all = ["load", "peer", "no_quality"])]
    pub audit: bool,
    /// The most allocations the audit's quota test makes at once.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500), requires = "audit")]
    pub quota_bound: u32,
    /// The peer categories Send and Connect may carry data to (default:
    /// all): loopback, unspecified, private, shared-cgnat, link-local,
    /// unique-local, multicast, server-own. CreatePermission and
    /// ChannelBind only talk to the server and are always tried.
    #[arg(long, value_name = "CATEGORY,...", value_delimiter = ',', value_parser = parse_category, requires = "audit")]
    pub send_to: Vec<model::audit::PeerCategory>,
}

/// A peer category by its JSON spelling.
fn parse_category(s: &str) -> Result<model::audit::PeerCategory, String> {
    model::audit::PeerCategory::ALL
        .into_iter()
        .find(|c| c.as_str() == s.trim())
        .ok_or_else(|| {
            let all: Vec<&str> = model::audit::PeerCategory::ALL
                .iter()
                .map(|c| c.as_str())
                .collect();
            format!("unknown peer category {s:?} (one of {})", all.join(", "))
        })
}

/// Runs `natscope turn`.
pub async fn run(cmd: TurnCmd) -> anyhow::Result<crate::Verdict> {
    cmd.output.check()?;
    if cmd.turn.uris.is_empty() && cmd.turn.ice_servers.is_none() {
        anyhow::bail!(
            "name at least one TURN server (turn:host[:port][?transport=udp|tcp] or turns:host), \
             or an --ice-servers file"
        );
    }
    if cmd.audit.audit {
        return run_audit(&cmd).await;
    }
    if cmd.load.load {
        return crate::load_cmd::run(&cmd.turn, &cmd.load, &cmd.output).await;
    }
    let (servers, results) = run_probe(&cmd.turn).await?;
    if servers.is_empty() {
        anyhow::bail!("the --ice-servers file has no turn: or turns: entry");
    }
    let mut rep = model::Report::new("turn", crate::cli_time::now_rfc3339());
    rep.options.servers = servers.iter().map(|s| s.label.clone()).collect();
    rep.turn = model::Section::Tested(TurnSection { results });
    rules::conclude(&mut rep);
    cmd.output.emit(&rep)?;
    Ok(rules::verdict(&rep.summary))
}

/// `natscope turn --audit`: one audit per server host, one after another
/// (each makes many allocations; in parallel they would meet each other's
/// quota).
async fn run_audit(cmd: &TurnCmd) -> anyhow::Result<crate::Verdict> {
    let (servers, cfg) = probe_config(&cmd.turn)?;
    if servers.is_empty() {
        anyhow::bail!("the --ice-servers file has no turn: or turns: entry");
    }
    let acfg = probe::turn::audit::AuditConfig {
        quota_bound: cmd.audit.quota_bound,
        send_to: (!cmd.audit.send_to.is_empty()).then(|| cmd.audit.send_to.clone()),
        ..Default::default()
    };
    let named: Vec<(String, ServerUri)> = servers
        .iter()
        .map(|s| (s.label.clone(), s.uri.clone()))
        .collect();
    let mut section = model::audit::AuditSection::default();
    for (label, uris) in probe::turn::audit::group_by_host(&named) {
        section
            .servers
            .push(probe::turn::audit::audit_server(&label, &uris, &cfg, &acfg).await);
    }
    let mut rep = model::Report::new("turn", crate::cli_time::now_rfc3339());
    rep.options.servers = servers.iter().map(|s| s.label.clone()).collect();
    rep.audit = model::Section::Tested(section);
    rules::conclude(&mut rep);
    cmd.output.emit(&rep)?;
    Ok(rules::verdict(&rep.summary))
}
