//! Turning a [`ServerUri`] into socket addresses: IP literals directly,
//! names through SRV (RFC 8489 §8, RFC 5928) and A/AAAA, on hickory-resolver.
//!
//! When a URI has no port, SRV is tried first for each transport
//! (`_stun._udp`, `_stun._tcp`, `_stuns._tcp`, `_turn._udp`, `_turn._tcp`,
//! `_turns._tcp`; `_turns._udp` for DTLS) and A/AAAA with the scheme's
//! default port is the fallback. An explicit port skips SRV. Both address
//! families are always asked for. The whole resolution of one URI is bounded
//! by the caller's timeout.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;

use model::servers::{Host, ServerUri, Transport, default_port};

/// At most this many SRV records are followed per name (bounds the work a
/// hostile zone can cause).
pub const MAX_SRV_RECORDS: usize = 16;
/// How long AAAA may take once A has answered (after RFC 8305 §3's
/// "Resolution Delay", which is 50 ms for starting connections; longer
/// here so that a report lists IPv6 addresses a recursive resolver gives a
/// little later).
pub const RESOLUTION_DELAY: Duration = Duration::from_millis(300);

/// One address to contact a server at, over one transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedTarget {
    /// The URI this came from (credentials included; they never print).
    pub uri: ServerUri,
    /// Address and port to contact.
    pub addr: SocketAddr,
    /// Transport to use (TCP means TLS for `stuns:`/`turns:`).
    pub transport: Transport,
    /// The address came from an SRV record (port and target from DNS).
    pub via_srv: bool,
}

/// Why a server name could not be resolved. Every variant names the host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The name does not exist (NXDOMAIN).
    #[error("{host}: no such domain (NXDOMAIN)")]
    NxDomain {
        /// The host name.
        host: String,
    },
    /// The name exists but has no A/AAAA (nor usable SRV) records.
    #[error("{host}: name exists but has no A/AAAA records")]
    NoRecords {
        /// The host name.
        host: String,
    },
    /// No answer within the timeout.
    #[error("{host}: DNS resolution timed out after {timeout:?}")]
    Timeout {
        /// The host name.
        host: String,
        /// The bound that expired.
        timeout: Duration,
    },
    /// The DNS server answered with an error code (SERVFAIL, REFUSED...).
    #[error("{host}: DNS server answered {code}")]
    ServerError {
        /// The host name.
        host: String,
        /// The response code, e.g. `Server Failure`.
        code: String,
    },
    /// Any other resolver failure (network unreachable, malformed answer...).
    #[error("{host}: DNS lookup failed: {message}")]
    Lookup {
        /// The host name.
        host: String,
        /// The resolver's message.
        message: String,
    },
    /// The resolver could not be set up (e.g. unreadable /etc/resolv.conf).
    #[error("cannot set up the DNS resolver: {message}")]
    Setup {
        /// What went wrong.
        message: String,
    },
}

/// A DNS resolver for server names.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

impl Resolver {
    /// The system's resolver configuration (`/etc/resolv.conf`, the Windows
    /// registry).
    pub fn system() -> Result<Self, ResolveError> {
        let builder = TokioResolver::builder_tokio().map_err(|e| ResolveError::Setup {
            message: e.to_string(),
        })?;
        let inner = builder.build().map_err(|e| ResolveError::Setup {
            message: e.to_string(),
        })?;
        Ok(Resolver { inner })
    }

    /// Specific name servers (UDP and TCP on each given address and port);
    /// e.g. a test DNS server on loopback. No hosts file, no search list.
    pub fn with_nameservers(servers: Vec<SocketAddr>) -> Result<Self, ResolveError> {
        if servers.is_empty() {
            return Err(ResolveError::Setup {
                message: "no name servers given".into(),
            });
        }
        let configs = servers
            .iter()
            .map(|sa| {
                let mut udp = ConnectionConfig::udp();
                udp.port = sa.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = sa.port();
                NameServerConfig::new(sa.ip(), true, vec![udp, tcp])
            })
            .collect();
        let mut builder = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(configs),
            TokioRuntimeProvider::default(),
        );
        builder.options_mut().use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        let inner = builder.build().map_err(|e| ResolveError::Setup {
            message: e.to_string(),
        })?;
        Ok(Resolver { inner })
    }

    /// Resolves `uri` for its default transports ([`ServerUri::transports`]
    /// with `stun_tcp = false`).
    pub async fn resolve(
        &self,
        uri: &ServerUri,
        timeout: Duration,
    ) -> Result<Vec<ResolvedTarget>, ResolveError> {
        let transports = uri.transports(false);
        self.resolve_for(uri, &transports, timeout).await
    }

    /// Resolves `uri` for the given transports, bounded by `timeout` as a
    /// whole. Targets are ordered by transport, then SRV priority (weight
    /// descending within one priority), then IPv4 before IPv6; duplicates are
    /// removed. An error for one transport's SRV name falls back to A/AAAA;
    /// the result is an error only when no address at all was found.
    pub async fn resolve_for(
        &self,
        uri: &ServerUri,
        transports: &[Transport],
        timeout: Duration,
    ) -> Result<Vec<ResolvedTarget>, ResolveError> {
        let name = match &uri.host {
            Host::Ip(ip) => {
                let port = uri.port_or_default();
                return Ok(transports
                    .iter()
                    .map(|t| ResolvedTarget {
                        uri: uri.clone(),
                        addr: SocketAddr::new(*ip, port),
                        transport: *t,
                        via_srv: false,
                    })
                    .collect());
            }
            Host::Name(n) => n.clone(),
        };
        match tokio::time::timeout(timeout, self.resolve_name(uri, &name, transports)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(ResolveError::Timeout {
                host: name,
                timeout,
            }),
        }
        .map_err(|e| match e {
            // hickory's own per-query timeout: report the caller's bound.
            ResolveError::Timeout { host, .. } => ResolveError::Timeout { host, timeout },
            other => other,
        })
    }

    async fn resolve_name(
        &self,
        uri: &ServerUri,
        name: &str,
        transports: &[Transport],
    ) -> Result<Vec<ResolvedTarget>, ResolveError> {
        let mut out: Vec<ResolvedTarget> = Vec::new();
        let push = |out: &mut Vec<ResolvedTarget>, addr, transport, via_srv| {
            if !out
                .iter()
                .any(|t| t.addr == addr && t.transport == transport)
            {
                out.push(ResolvedTarget {
                    uri: uri.clone(),
                    addr,
                    transport,
                    via_srv,
                });
            }
        };
        // A/AAAA of the name itself, looked up at most once.
        let mut direct: Option<Vec<IpAddr>> = None;
        for &transport in transports {
            if uri.port.is_none() {
                let srv_name = srv_name(uri, transport, name);
                if let Some(targets) = self.srv_targets(&srv_name).await? {
                    let mut found = false;
                    for (target, port) in targets {
                        // A target that does not resolve is skipped; the next
                        // SRV record (or the fallback) may still work.
                        if let Ok(ips) = self.lookup_ips(&target).await {
                            for ip in ips {
                                push(&mut out, SocketAddr::new(ip, port), transport, true);
                                found = true;
                            }
                        }
                    }
                    if found {
                        continue;
                    }
                }
            }
            let ips = match &direct {
                Some(ips) => ips.clone(),
                None => {
                    let ips = self.lookup_ips(name).await?;
                    direct = Some(ips.clone());
                    ips
                }
            };
            let port = uri.port.unwrap_or_else(|| default_port(uri.scheme));
            for ip in ips {
                push(&mut out, SocketAddr::new(ip, port), transport, false);
            }
        }
        Ok(out)
    }

    /// SRV records of `srv_name` as (target, port), best first; `None` when
    /// there are none (NXDOMAIN, no records, or only the "." target).
    /// Timeouts propagate; other failures count as "no SRV".
    async fn srv_targets(
        &self,
        srv_name: &str,
    ) -> Result<Option<Vec<(String, u16)>>, ResolveError> {
        let lookup = match self.inner.srv_lookup(fqdn(srv_name)).await {
            Ok(l) => l,
            Err(e) => {
                return match classify(srv_name, &e) {
                    t @ ResolveError::Timeout { .. } => Err(t),
                    _ => Ok(None),
                };
            }
        };
        let mut srvs: Vec<(u16, u16, String, u16)> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(srv) => Some((
                    srv.priority,
                    srv.weight,
                    srv.target
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                    srv.port,
                )),
                _ => None,
            })
            // RFC 2782: a target of "." means "service not available here".
            .filter(|(_, _, target, port)| !target.is_empty() && *port != 0)
            .take(MAX_SRV_RECORDS)
            .collect();
        if srvs.is_empty() {
            return Ok(None);
        }
        srvs.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        Ok(Some(srvs.into_iter().map(|(_, _, t, p)| (t, p)).collect()))
    }

    /// A and AAAA of `host`, queried together; IPv4 first. An error only
    /// when neither family has an address. Once A has answered with
    /// addresses, AAAA gets [`RESOLUTION_DELAY`] more (after RFC 8305 §3):
    /// a name in the hosts file with IPv4 only, or a DNS server that drops
    /// AAAA queries, must not cost the whole DNS budget.
    async fn lookup_ips(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let name = fqdn(host);
        let v4 = self.inner.ipv4_lookup(name.clone());
        let v6 = self.inner.ipv6_lookup(name);
        tokio::pin!(v4, v6);
        let has = |r: &Result<hickory_resolver::lookup::Lookup, NetError>| {
            r.as_ref().is_ok_and(|l| !l.answers().is_empty())
        };
        let late = || {
            NetError::from(format!(
                "no AAAA answer within {} ms of the A answer",
                RESOLUTION_DELAY.as_millis()
            ))
        };
        // IPv4 is what natscope uses first: after an A answer, AAAA gets
        // RESOLUTION_DELAY more; an early AAAA answer waits for A in full.
        let (v4, v6) = tokio::select! {
            a = &mut v4 => {
                let b = if has(&a) {
                    tokio::time::timeout(RESOLUTION_DELAY, &mut v6)
                        .await
                        .unwrap_or_else(|_| Err(late()))
                } else {
                    v6.await
                };
                (a, b)
            }
            b = &mut v6 => (v4.await, b),
        };
        let mut ips = Vec::new();
        let mut errors = Vec::new();
        match v4 {
            Ok(l) => ips.extend(l.answers().iter().filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                _ => None,
            })),
            Err(e) => errors.push(classify(host, &e)),
        }
        match v6 {
            Ok(l) => ips.extend(l.answers().iter().filter_map(|r| match &r.data {
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })),
            Err(e) => errors.push(classify(host, &e)),
        }
        if !ips.is_empty() {
            return Ok(ips);
        }
        // Most telling error first: NXDOMAIN, timeout, server error, other.
        let rank = |e: &ResolveError| match e {
            ResolveError::NxDomain { .. } => 0,
            ResolveError::Timeout { .. } => 1,
            ResolveError::ServerError { .. } => 2,
            ResolveError::Lookup { .. } | ResolveError::Setup { .. } => 3,
            ResolveError::NoRecords { .. } => 4,
        };
        Err(errors
            .into_iter()
            .min_by_key(rank)
            .unwrap_or_else(|| ResolveError::NoRecords {
                host: host.to_string(),
            }))
    }
}

/// `_service._proto.name` for a URI and transport (RFC 8489 §8, RFC 5928,
/// RFC 7350 for `_turns._udp`).
pub fn srv_name(uri: &ServerUri, transport: Transport, name: &str) -> String {
    format!("_{}._{}.{}", uri.scheme.as_str(), transport.as_str(), name)
}

/// An absolute name (trailing dot) so no search list applies.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn classify(host: &str, e: &NetError) -> ResolveError {
    let host = host.to_string();
    match e {
        NetError::Timeout => ResolveError::Timeout {
            host,
            timeout: Duration::ZERO,
        },
        NetError::Dns(DnsError::NoRecordsFound(nr))
            if nr.response_code == ResponseCode::NXDomain =>
        {
            ResolveError::NxDomain { host }
        }
        NetError::Dns(DnsError::NoRecordsFound(_)) => ResolveError::NoRecords { host },
        NetError::Dns(DnsError::ResponseCode(ResponseCode::NXDomain)) => {
            ResolveError::NxDomain { host }
        }
        NetError::Dns(DnsError::ResponseCode(code)) => ResolveError::ServerError {
            host,
            code: code.to_string(),
        },
        other => ResolveError::Lookup {
            host,
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::servers::ServerUri;

    #[test]
    fn srv_names() {
        let u = |s: &str| ServerUri::parse(s).expect("test uri");
        assert_eq!(
            srv_name(&u("stun:a.example"), Transport::Udp, "a.example"),
            "_stun._udp.a.example"
        );
        assert_eq!(
            srv_name(&u("stun:a.example"), Transport::Tcp, "a.example"),
            "_stun._tcp.a.example"
        );
        assert_eq!(
            srv_name(&u("stuns:a.example"), Transport::Tcp, "a.example"),
            "_stuns._tcp.a.example"
        );
        assert_eq!(
            srv_name(&u("turn:a.example"), Transport::Udp, "a.example"),
            "_turn._udp.a.example"
        );
        assert_eq!(
            srv_name(&u("turns:a.example"), Transport::Tcp, "a.example"),
            "_turns._tcp.a.example"
        );
    }

    #[test]
    fn fqdn_adds_one_dot() {
        assert_eq!(fqdn("a.example"), "a.example.");
        assert_eq!(fqdn("a.example."), "a.example.");
    }

    #[tokio::test]
    async fn ip_literals_need_no_dns() {
        // Name server on a port nobody listens on: any DNS use would fail.
        let r = Resolver::with_nameservers(vec!["127.0.0.1:9".parse().expect("addr")])
            .expect("resolver");
        let uri = ServerUri::parse("turn:[2001:db8::1]").expect("uri");
        let t = r
            .resolve(&uri, Duration::from_secs(1))
            .await
            .expect("no DNS needed");
        let got: Vec<_> = t.iter().map(|t| (t.addr, t.transport, t.via_srv)).collect();
        let a: SocketAddr = "[2001:db8::1]:3478".parse().expect("addr");
        assert_eq!(
            got,
            vec![(a, Transport::Udp, false), (a, Transport::Tcp, false)]
        );
    }
}
