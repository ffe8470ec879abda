//! `natscope turn`: TURN diagnostics per server URI and transport.

use anyhow::{Context, bail};
use model::Secret;
use model::servers::ServerUri;
use model::turn::{TurnSection, TurnTransportResult};
use probe::resolve::Resolver;
use probe::turn::{QualityConfig, TlsOptions, TurnAuth, TurnProbeConfig, probe_all};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `natscope turn`. Secrets are `Secret`s: their Debug/Display output
/// is `***`.
#[derive(clap::Args, Debug)]
pub struct TurnArgs {
    /// TURN server URIs: turn:HOST[:PORT][?transport=udp|tcp], turns:HOST[:PORT]
    /// (TLS) or turns:HOST[:PORT]?transport=udp (DTLS).
    #[arg(required = true)]
    pub uris: Vec<String>,
    /// Long-term credential username.
    #[arg(long, env = "NATSCOPE_TURN_USERNAME")]
    pub username: Option<String>,
    /// Long-term credential password.
    #[arg(long, env = "NATSCOPE_TURN_PASSWORD", hide_env_values = true)]
    pub password: Option<Secret>,
    /// TURN REST API shared secret (coturn static-auth-secret): natscope
    /// derives an ephemeral username/password from it.
    #[arg(
        long,
        env = "NATSCOPE_TURN_SECRET",
        hide_env_values = true,
        conflicts_with = "password"
    )]
    pub turn_secret: Option<Secret>,
    /// Validity of the REST credential in seconds.
    #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
    pub rest_ttl: i64,
    /// The realm the credentials belong to (reported as a mismatch if the
    /// server announces another).
    #[arg(long)]
    pub realm: Option<String>,
    /// PEM file of CA certificate(s) to trust for turns: instead of the
    /// system store.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Do not verify the server certificate.
    #[arg(long)]
    pub insecure: bool,
    /// A UDP echo peer for the data stages (default: a second allocation on
    /// the same server, relay to relay, which works behind any NAT).
    #[arg(long, value_name = "ADDR")]
    pub peer: Option<SocketAddr>,
    /// Deadline of each stage, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub stage_timeout_ms: u64,
    /// Skip the relay quality burst.
    #[arg(long)]
    pub no_quality: bool,
}

/// Builds the probe configuration from the arguments. URIs are parsed by
/// the crate's one server-URI parser and must be `turn:`/`turns:`. Names
/// are resolved by the system resolver (set up lazily by the probe, so a
/// broken resolv.conf is a `dns` stage failure, not an error here).
/// Without --username/--password/--turn-secret, credentials a URI carries
/// are used.
pub fn probe_config(args: &TurnArgs) -> anyhow::Result<(Vec<ServerUri>, TurnProbeConfig)> {
    let uris = args
        .uris
        .iter()
        .map(|u| {
            let uri = ServerUri::parse(u).with_context(|| format!("bad TURN URI {u}"))?;
            if !uri.scheme.is_turn() {
                bail!("not a TURN URI: {u} (expected turn: or turns:)");
            }
            Ok(uri)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let auth = match (&args.turn_secret, &args.username, &args.password) {
        (Some(secret), user, _) => Some(TurnAuth::Rest {
            secret: secret.clone(),
            user: user.clone(),
            ttl_secs: args.rest_ttl,
        }),
        (None, Some(u), Some(p)) => Some(TurnAuth::LongTerm {
            username: u.clone(),
            password: p.clone(),
        }),
        (None, Some(_), None) => bail!("--username needs --password (or NATSCOPE_TURN_PASSWORD)"),
        (None, None, Some(_)) => bail!("--password needs --username"),
        (None, None, None) => None,
    };
    if auth.is_none() {
        require_credentials(args.uris.iter().zip(&uris))?;
    }
    let ca_pem = match &args.ca {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
        None => None,
    };
    let cfg = TurnProbeConfig {
        auth,
        expected_realm: args.realm.clone(),
        tls: TlsOptions {
            ca_pem,
            insecure: args.insecure,
        },
        peer: args.peer,
        stage_timeout: Duration::from_millis(args.stage_timeout_ms.clamp(100, 60_000)),
        quality: (!args.no_quality).then(QualityConfig::default),
        resolver: Resolver::system().ok(),
    };
    Ok((uris, cfg))
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
pub async fn run_probe(args: &TurnArgs) -> anyhow::Result<Vec<TurnTransportResult>> {
    let (uris, cfg) = probe_config(args)?;
    Ok(probe_all(&uris, &cfg).await)
}

/// `natscope turn`: the TURN arguments plus output options.
#[derive(Debug, clap::Args)]
pub struct TurnCmd {
    #[command(flatten)]
    turn: TurnArgs,
    #[command(flatten)]
    output: crate::output::OutputArgs,
}

/// Runs `natscope turn`.
pub async fn run(cmd: TurnCmd) -> anyhow::Result<crate::Verdict> {
    cmd.output.check()?;
    if cmd.turn.uris.is_empty() {
        anyhow::bail!(
            "name at least one TURN server (turn:host[:port][?transport=udp|tcp] or turns:host)"
        );
    }
    let results = run_probe(&cmd.turn).await?;
    let mut rep = model::Report::new("turn", crate::cli_time::now_rfc3339());
    rep.options.servers = cmd.turn.uris.clone();
    rep.turn = model::Section::Tested(TurnSection { results });
    rules::conclude(&mut rep);
    cmd.output.emit(&rep)?;
    Ok(rules::verdict(&rep.summary))
}
