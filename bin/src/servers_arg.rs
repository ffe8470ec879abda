//! Server selection and probe options shared by the probing commands.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use model::Secret;
use model::servers::{DEFAULT_STUN_SERVERS, ServerUri, load_ice_servers};
use probe::turn::{TlsOptions, TurnAuth};

use crate::cli_time::{parse_duration, parse_signed_secs};

/// Which servers to probe.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Servers: stun:/turn:/turns: URIs (RFC 7064/7065), host:port, host, or an IP.
    /// Without any (and without --ice-servers), a documented list of public
    /// STUN servers is used (docs/servers.md).
    #[arg(value_name = "SERVER")]
    pub servers: Vec<String>,
    /// A WebRTC RTCConfiguration / iceServers JSON file (`urls`, `username`, `credential`).
    #[arg(long, value_name = "FILE")]
    pub ice_servers: Option<PathBuf>,
}

/// A server as the user named it, parsed.
#[derive(Debug, Clone)]
pub struct NamedServer {
    /// What the user wrote (or the iceServers URL); never holds credentials.
    pub label: String,
    /// The parsed URI (credentials, if any, stay inside).
    pub uri: ServerUri,
}

impl ServerArgs {
    /// Whether the user named no server at all.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.ice_servers.is_none()
    }

    /// Parses every server; the defaults when none were given. A bad
    /// input is an error naming it (exit 2).
    pub fn collect(&self) -> anyhow::Result<Vec<NamedServer>> {
        let mut out = self.given()?;
        if self.is_empty() {
            for s in DEFAULT_STUN_SERVERS {
                // The defaults are compile-time constants covered by a unit test.
                let uri = ServerUri::parse(s).with_context(|| format!("default server {s:?}"))?;
                out.push(NamedServer {
                    label: (*s).to_string(),
                    uri,
                });
            }
        }
        Ok(out)
    }

    /// Parses the servers the user named (arguments, then the iceServers
    /// file), without the defaults.
    pub fn given(&self) -> anyhow::Result<Vec<NamedServer>> {
        let mut out = Vec::new();
        for s in &self.servers {
            let uri = ServerUri::parse(s).with_context(|| format!("invalid server {s:?}"))?;
            out.push(NamedServer {
                label: s.clone(),
                uri,
            });
        }
        if let Some(path) = &self.ice_servers {
            for uri in load_ice_servers(path)? {
                out.push(NamedServer {
                    label: uri.to_string(),
                    uri,
                });
            }
        }
        Ok(out)
    }
}

/// TURN credentials and certificate trust: the same flags on every command
/// that takes TURN servers (`turn`, `ice`, `diagnose`). Credentials an URI
/// or iceServers entry carries win over these. Secrets are [`Secret`]s
/// (`***` in any Debug output) and never reach a report.
#[derive(Debug, Clone, Args)]
pub struct CredentialArgs {
    /// TURN long-term username (for servers whose URI or iceServers entry has none).
    #[arg(long, env = "NATSCOPE_TURN_USERNAME")]
    pub username: Option<String>,
    /// TURN long-term password.
    #[arg(long, env = "NATSCOPE_TURN_PASSWORD", hide_env_values = true)]
    pub password: Option<Secret>,
    /// TURN REST API shared secret (coturn static-auth-secret): natscope
    /// derives an ephemeral username and password from it (--username, if
    /// given, is the user part).
    #[arg(
        long,
        env = "NATSCOPE_TURN_SECRET",
        hide_env_values = true,
        conflicts_with = "password"
    )]
    pub turn_secret: Option<Secret>,
    /// Validity of the REST credential (e.g. 1h, 10m, 3600; negative for an
    /// already expired one, to test the server's check).
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_signed_secs,
        default_value = "1h",
        allow_negative_numbers = true
    )]
    pub rest_ttl: i64,
    /// The realm the credentials belong to (TURN tests report a mismatch if
    /// the server announces another).
    #[arg(long)]
    pub realm: Option<String>,
    /// PEM file of CA certificate(s) (or a pinned self-signed server
    /// certificate) to trust for turns: servers instead of the system store.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Do not verify turns: server certificates.
    #[arg(long)]
    pub insecure: bool,
}

impl CredentialArgs {
    /// The credentials the flags give, checked: a username without a
    /// password (or the reverse) is a usage error naming the flag.
    pub fn auth(&self) -> anyhow::Result<Option<TurnAuth>> {
        Ok(match (&self.turn_secret, &self.username, &self.password) {
            (Some(secret), user, _) => Some(TurnAuth::Rest {
                secret: secret.clone(),
                user: user.clone(),
                ttl_secs: self.rest_ttl,
            }),
            (None, Some(u), Some(p)) => Some(TurnAuth::LongTerm {
                username: u.clone(),
                password: p.clone(),
            }),
            (None, Some(_), None) => {
                bail!("--username needs --password (or NATSCOPE_TURN_PASSWORD), or --turn-secret")
            }
            (None, None, Some(_)) => bail!("--password needs --username"),
            (None, None, None) => None,
        })
    }

    /// The credentials as a username and password for ICE agents (REST
    /// credentials computed now).
    pub fn long_term(&self) -> anyhow::Result<Option<(String, Secret)>> {
        Ok(self.auth()?.map(|a| {
            let c = a.resolve(probe::turn::creds::unix_now());
            (c.username, c.password)
        }))
    }

    /// Certificate trust: `lab_ca` (the embedded lab's CA) if given, else
    /// `--ca` read now (an unreadable file is an error naming it).
    pub fn tls(&self, lab_ca: Option<&[u8]>) -> anyhow::Result<TlsOptions> {
        let ca_pem = match (lab_ca, &self.ca) {
            (Some(pem), _) => Some(pem.to_vec()),
            (None, Some(p)) => {
                Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?)
            }
            (None, None) => None,
        };
        Ok(TlsOptions {
            ca_pem,
            insecure: self.insecure,
        })
    }
}

/// `-4` / `-6`: the address families a command sends on (default both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Args)]
pub struct FamilyArgs {
    /// IPv4 only: nothing is sent over IPv6 (IPv6 sections say "skipped (-4)").
    #[arg(short = '4', long = "ipv4-only", conflicts_with = "ipv6_only")]
    pub ipv4_only: bool,
    /// IPv6 only: nothing is sent over IPv4.
    #[arg(short = '6', long = "ipv6-only")]
    pub ipv6_only: bool,
}

impl FamilyArgs {
    /// Whether addresses of `ip`'s family may be used.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() {
            !self.ipv6_only
        } else {
            !self.ipv4_only
        }
    }

    /// Why a family is skipped ("skipped (-4)"), or `None` when it runs.
    pub fn skipped(&self, v6: bool) -> Option<&'static str> {
        match (v6, self.ipv4_only, self.ipv6_only) {
            (true, true, _) => Some("skipped (-4)"),
            (false, _, true) => Some("skipped (-6)"),
            _ => None,
        }
    }
}

/// Timeout, local address(es) and families.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// The command's overall time limit (e.g. 3s, 2.5s, 500ms).
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_duration,
        default_value = "3s"
    )]
    pub timeout: Duration,
    /// Local address to send from (chooses the interface); give it once per
    /// family (--bind 192.0.2.10 --bind 2001:db8::10) to choose both.
    #[arg(long, value_name = "ADDR")]
    pub bind: Vec<IpAddr>,
    #[command(flatten)]
    pub family: FamilyArgs,
}

impl ProbeArgs {
    /// Checks the flags together: at most one `--bind` per family, and no
    /// `--bind` of a family `-4`/`-6` excludes (usage errors naming them).
    pub fn check(&self) -> anyhow::Result<()> {
        check_binds(&self.bind, self.family)
    }

    /// The `--bind` address of `dest`'s family, if one was given.
    pub fn bind_for(&self, dest: IpAddr) -> Option<IpAddr> {
        bind_for(&self.bind, dest)
    }

    /// The `--bind` addresses as the report's `options.bind`.
    pub fn bind_label(&self) -> Option<String> {
        bind_label(&self.bind)
    }
}

/// `servers` without the IP literals of a family `-4`/`-6` excludes (each
/// named on stderr); a usage error when that leaves none of several.
/// Names stay: their addresses are filtered when they are resolved.
pub fn keep_families(
    servers: Vec<NamedServer>,
    family: FamilyArgs,
) -> anyhow::Result<Vec<NamedServer>> {
    let given = servers.len();
    let (kept, dropped): (Vec<NamedServer>, Vec<NamedServer>) =
        servers.into_iter().partition(|s| match &s.uri.host {
            model::servers::Host::Ip(ip) => family.allows(*ip),
            model::servers::Host::Name(_) => true,
        });
    if given > 0 && kept.is_empty() {
        let names: Vec<&str> = dropped.iter().map(|s| s.label.as_str()).collect();
        bail!(
            "{}: every server given is an {} address, and {} excludes that family",
            names.join(", "),
            if family.ipv4_only { "IPv6" } else { "IPv4" },
            if family.ipv4_only { "-4" } else { "-6" }
        );
    }
    for s in &dropped {
        eprintln!(
            "note: {} skipped: {}",
            report::sanitize::terminal(&s.label),
            if family.ipv4_only {
                "an IPv6 address, and -4 was given"
            } else {
                "an IPv4 address, and -6 was given"
            }
        );
    }
    Ok(kept)
}

/// See [`ProbeArgs::check`].
pub fn check_binds(binds: &[IpAddr], family: FamilyArgs) -> anyhow::Result<()> {
    for v6 in [false, true] {
        let of: Vec<&IpAddr> = binds.iter().filter(|b| b.is_ipv6() == v6).collect();
        if of.len() > 1 {
            bail!(
                "--bind {} and --bind {}: give at most one local address per family",
                of[0],
                of[1]
            );
        }
        if let (Some(b), Some(why)) = (of.first(), family.skipped(v6)) {
            bail!(
                "--bind {b} is an {} address, but {why}",
                if v6 { "IPv6" } else { "IPv4" }
            );
        }
    }
    Ok(())
}

/// The address of `dest`'s family among `binds`.
pub fn bind_for(binds: &[IpAddr], dest: IpAddr) -> Option<IpAddr> {
    binds
        .iter()
        .copied()
        .find(|b| b.is_ipv4() == dest.is_ipv4())
}

/// `binds` comma-separated, `None` when empty.
pub fn bind_label(binds: &[IpAddr]) -> Option<String> {
    (!binds.is_empty()).then(|| {
        binds
            .iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(",")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let args = ServerArgs {
            servers: vec![],
            ice_servers: None,
        };
        let all = args.collect().expect("the default list parses");
        assert_eq!(all.len(), DEFAULT_STUN_SERVERS.len());
    }

    #[test]
    fn bad_uri_names_the_input() {
        let args = ServerArgs {
            servers: vec!["ftp://x".into()],
            ice_servers: None,
        };
        let err = format!("{:#}", args.collect().unwrap_err());
        assert!(err.contains("ftp://x"), "{err}");
    }
}
