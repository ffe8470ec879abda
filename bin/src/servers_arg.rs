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

/// Timeout and local address.
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
    /// Local address to send from (chooses the interface).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
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
