//! Server selection and probe options shared by the probing commands.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use model::servers::{DEFAULT_STUN_SERVERS, ServerUri, load_ice_servers};

use crate::cli_time::parse_duration;

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
}

/// Timeout and local address.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// Overall time limit for the probe (e.g. 3, 2.5s, 500ms).
    #[arg(long, value_parser = parse_duration, default_value = "3s", global = true)]
    pub timeout: Duration,
    /// Local address to send from (chooses the interface).
    #[arg(long, value_name = "ADDR", global = true)]
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
