//! The Binding probe: ask many STUN servers "what is my address?" at once,
//! over UDP and TCP, and compare their answers — the first evidence of how
//! the NAT maps.
//!
//! All UDP targets of one address family share ONE socket (so their answers
//! are comparable: same local port, many destinations); each TCP target gets
//! its own connection. One target's failure never affects the others.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::tcp::TcpStunClient;
use super::transaction::{
    Counters, ResponseClass, RetransmitConfig, StunResponse, TransactionError, UdpStunClient,
    binding_request,
};

/// The transport a Binding request uses: UDP (with RFC 8489
/// retransmission) or TCP (one transmission).
pub use model::Transport;

/// One server to query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingTarget {
    /// The server as the user wrote it (for reports).
    pub label: String,
    /// The resolved address.
    pub addr: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
}

/// How to run [`query_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingOptions {
    /// Local addresses to bind, at most one per family: each applies to the
    /// targets of its family; a family without one uses the unspecified
    /// address (the system's route).
    pub binds: Vec<IpAddr>,
    /// UDP retransmission parameters.
    pub retransmit: RetransmitConfig,
    /// Bound on the whole call.
    pub timeout: Duration,
}

impl Default for BindingOptions {
    /// Unspecified local address, RFC 8489 retransmission, 5 s overall.
    fn default() -> Self {
        Self {
            binds: Vec::new(),
            retransmit: RetransmitConfig::default(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// What a server told us in a success response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingInfo {
    /// The reflexive address (XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS).
    pub mapped: SocketAddr,
    /// Whether `mapped` came from XOR-MAPPED-ADDRESS (false: RFC 3489
    /// MAPPED-ADDRESS only).
    pub xor: bool,
    /// XOR-MAPPED-ADDRESS and MAPPED-ADDRESS disagree (a sign of an ALG
    /// rewriting addresses in packets).
    pub mapped_mismatch: bool,
    /// Where the response came from.
    pub from: SocketAddr,
    /// OTHER-ADDRESS (or CHANGED-ADDRESS): the server supports RFC 5780
    /// (or RFC 3489) tests.
    pub other_address: Option<SocketAddr>,
    /// The alternate address came from CHANGED-ADDRESS: an RFC 3489 server.
    pub rfc3489: bool,
    /// RESPONSE-ORIGIN (or SOURCE-ADDRESS).
    pub response_origin: Option<SocketAddr>,
    /// SOFTWARE.
    pub software: Option<String>,
    /// Round trip from the last transmission to the response.
    pub rtt: Duration,
    /// How many times the request was sent.
    pub transmissions: u32,
}

impl BindingInfo {
    fn from_response(r: &StunResponse) -> Result<Self, BindingError> {
        if r.parsed.class == ResponseClass::Error {
            let (code, reason) = r.parsed.error.clone().unwrap_or((0, String::new()));
            return Err(BindingError::ErrorResponse { code, reason });
        }
        let mapped = r.mapped().ok_or(BindingError::NoMappedAddress)?;
        Ok(Self {
            mapped,
            xor: r.parsed.xor_mapped.is_some(),
            mapped_mismatch: matches!(
                (r.parsed.xor_mapped, r.parsed.mapped_address),
                (Some(a), Some(b)) if a != b
            ),
            from: r.from,
            other_address: r.parsed.other_address,
            rfc3489: r.parsed.rfc3489,
            response_origin: r.parsed.response_origin,
            software: r.parsed.software.clone(),
            rtt: r.rtt,
            transmissions: r.transmissions,
        })
    }
}

/// Why a Binding probe of one target failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// No response after all UDP retransmissions (or Ti over TCP).
    #[error("no response after {transmissions} transmission(s)")]
    Timeout {
        /// How many times the request was sent.
        transmissions: u32,
    },
    /// The overall probe timeout ended the transaction first.
    #[error("no response before the probe timeout ({transmissions} transmission(s))")]
    Deadline {
        /// How many times the request was sent.
        transmissions: u32,
    },
    /// TCP connection refused.
    #[error("connection refused")]
    ConnectRefused,
    /// ICMP port unreachable over UDP: nothing listens on the port.
    #[error("{} (ICMP port unreachable{})", model::stun::PORT_CLOSED, .from.map(|a| format!(" from {a}")).unwrap_or_default())]
    PortClosed {
        /// Who answered, when known.
        from: Option<std::net::IpAddr>,
    },
    /// Another ICMP error (host or network unreachable, prohibited).
    #[error("{0}")]
    Unreachable(String),
    /// TCP connection timed out.
    #[error("connection timed out")]
    ConnectTimeout,
    /// The server answered with an error response.
    #[error("error response {code} {reason}")]
    ErrorResponse {
        /// ERROR-CODE code (0 if the attribute was missing).
        code: u16,
        /// ERROR-CODE reason phrase.
        reason: String,
    },
    /// A success response without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS.
    #[error("success response without a mapped address")]
    NoMappedAddress,
    /// No local socket for this target's family could be bound.
    #[error("cannot bind a local socket: {0}")]
    Bind(String),
    /// The connection closed before a response.
    #[error("connection closed before a response")]
    Closed,
    /// The server's reply could not be understood.
    #[error("invalid response: {0}")]
    Protocol(String),
    /// Another socket error.
    #[error("socket error: {0}")]
    Io(String),
}

impl From<TransactionError> for BindingError {
    fn from(e: TransactionError) -> Self {
        match e {
            TransactionError::Timeout { transmissions } => Self::Timeout { transmissions },
            TransactionError::Deadline { transmissions } => Self::Deadline { transmissions },
            TransactionError::ConnectRefused(_) => Self::ConnectRefused,
            TransactionError::Unreachable {
                kind: crate::icmp::IcmpKind::PortUnreachable,
                from,
                ..
            } => Self::PortClosed { from },
            TransactionError::Unreachable { .. } => Self::Unreachable(e.to_string()),
            TransactionError::ConnectTimeout(_) => Self::ConnectTimeout,
            TransactionError::Closed => Self::Closed,
            TransactionError::Bind { .. } => Self::Bind(e.to_string()),
            TransactionError::Parse(m) => Self::Protocol(m),
            TransactionError::Io(io) => Self::Io(io.to_string()),
            other => Self::Io(other.to_string()),
        }
    }
}

/// The outcome of probing one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingResult {
    /// The target probed.
    pub target: BindingTarget,
    /// The local address used (None if no socket could be set up).
    pub local: Option<SocketAddr>,
    /// What the server said, or what went wrong.
    pub outcome: Result<BindingInfo, BindingError>,
    /// From the first transmission to the answer or to giving up; `None`
    /// when nothing was sent.
    pub elapsed: Option<Duration>,
}

/// The bind address of a family among `binds` (at most one per family).
pub fn bind_of_family(binds: &[IpAddr], family_v4: bool) -> Option<IpAddr> {
    binds.iter().copied().find(|b| b.is_ipv4() == family_v4)
}

fn local_for(family_v4: bool, binds: &[IpAddr]) -> SocketAddr {
    match bind_of_family(binds, family_v4) {
        Some(ip) => SocketAddr::new(ip, 0),
        None if family_v4 => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        None => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

/// Probes every target concurrently with a Binding request and returns one
/// result per target, in the order of `targets`. The whole call is bounded
/// by `opts.timeout`.
pub async fn query_all(targets: &[BindingTarget], opts: &BindingOptions) -> Vec<BindingResult> {
    query_all_counted(targets, opts).await.0
}

/// [`query_all`], plus the UDP sockets' counters summed over both families
/// (malformed datagrams and unmatched responses that were ignored).
pub async fn query_all_counted(
    targets: &[BindingTarget],
    opts: &BindingOptions,
) -> (Vec<BindingResult>, Counters) {
    let deadline = Instant::now() + opts.timeout;
    // One UDP socket per family, only if a UDP target of that family exists.
    let mut udp: [Option<Result<Arc<UdpStunClient>, BindingError>>; 2] = [None, None];
    for (i, v4) in [(0usize, true), (1usize, false)] {
        let needed = targets
            .iter()
            .any(|t| t.transport == Transport::Udp && t.addr.is_ipv4() == v4);
        if needed {
            udp[i] = Some(
                UdpStunClient::bind(local_for(v4, &opts.binds))
                    .await
                    .map(Arc::new)
                    .map_err(BindingError::from),
            );
        }
    }

    let mut set = tokio::task::JoinSet::new();
    let mut results: Vec<Option<BindingResult>> = vec![None; targets.len()];
    for (index, target) in targets.iter().enumerate() {
        let target = target.clone();
        let cfg = opts.retransmit;
        match target.transport {
            Transport::Udp => {
                let slot = usize::from(!target.addr.is_ipv4());
                match &udp[slot] {
                    Some(Ok(client)) => {
                        let client = client.clone();
                        set.spawn(async move {
                            let (_, req) = binding_request(None, None, None, true);
                            let sent = Instant::now();
                            let outcome =
                                match client.request(req, target.addr, cfg, deadline).await {
                                    Ok(r) => BindingInfo::from_response(&r),
                                    Err(e) => Err(e.into()),
                                };
                            let local = Some(client.local_addr());
                            (
                                index,
                                BindingResult {
                                    target,
                                    local,
                                    outcome,
                                    elapsed: Some(sent.elapsed()),
                                },
                            )
                        });
                    }
                    Some(Err(e)) => {
                        results[index] = Some(BindingResult {
                            target,
                            local: None,
                            outcome: Err(e.clone()),
                            elapsed: None,
                        });
                    }
                    // Not reached: a slot is set up above for every family
                    // that has a UDP target. Reported as data, not a panic.
                    None => {
                        results[index] = Some(BindingResult {
                            target,
                            local: None,
                            outcome: Err(BindingError::Bind("no UDP socket".to_owned())),
                            elapsed: None,
                        });
                    }
                }
            }
            Transport::Tcp => {
                let bind = bind_of_family(&opts.binds, target.addr.is_ipv4());
                set.spawn(async move {
                    let sent = Instant::now();
                    let (local, outcome) = probe_tcp(&target, bind, deadline).await;
                    (
                        index,
                        BindingResult {
                            target,
                            local,
                            outcome,
                            elapsed: Some(sent.elapsed()),
                        },
                    )
                });
            }
        }
    }
    // Every task is bounded by `deadline` itself; this outer bound (with a
    // grace period) only guards against a task that never finishes.
    let grace = deadline + Duration::from_secs(2);
    while let Ok(Some(joined)) = tokio::time::timeout_at(grace, set.join_next()).await {
        if let Ok((index, result)) = joined
            && let Some(slot) = results.get_mut(index)
        {
            *slot = Some(result);
        }
    }
    set.abort_all();
    let mut counters = Counters::default();
    for client in udp.iter().flatten().flatten() {
        counters += client.counters();
    }
    let results = targets
        .iter()
        .zip(results)
        .map(|(target, r)| {
            r.unwrap_or_else(|| BindingResult {
                target: target.clone(),
                local: None,
                outcome: Err(BindingError::Deadline { transmissions: 0 }),
                elapsed: None,
            })
        })
        .collect();
    (results, counters)
}

async fn probe_tcp(
    target: &BindingTarget,
    bind: Option<IpAddr>,
    deadline: Instant,
) -> (Option<SocketAddr>, Result<BindingInfo, BindingError>) {
    // `bind` is already of the target's family (or none).
    let local = bind.map(|ip| SocketAddr::new(ip, 0));
    let mut client = match TcpStunClient::connect(target.addr, local, deadline).await {
        Ok(c) => c,
        Err(e) => return (None, Err(e.into())),
    };
    let (_, req) = binding_request(None, None, None, true);
    let outcome = match client.request(req, deadline).await {
        Ok(r) => BindingInfo::from_response(&r),
        Err(e) => Err(e.into()),
    };
    (Some(client.local_addr()), outcome)
}

/// How the mapped addresses of several answers from one local socket
/// family and transport compare: the first evidence of NAT mapping
/// behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingAgreement {
    /// IPv4 (true) or IPv6 (false).
    pub ipv4: bool,
    /// The transport of the answers compared.
    pub transport: Transport,
    /// How many targets answered with a mapped address.
    pub answers: usize,
    /// All mapped IPs equal (None when fewer than 2 answers).
    pub same_ip: Option<bool>,
    /// All mapped ports equal (None when fewer than 2 answers, and always
    /// None for TCP, where every connection has its own local port).
    pub same_port: Option<bool>,
    /// The distinct mapped IPs, in order of first appearance.
    pub public_ips: Vec<IpAddr>,
    /// The distinct mapped ports, in order of first appearance.
    pub ports: Vec<u16>,
    /// Some mapped address equals the local address: no NAT for this
    /// family/transport on the path to that server. `None` when the local
    /// address was unspecified and so cannot be compared.
    pub mapped_equals_local: Option<bool>,
}

/// Compares the mapped addresses per (family, transport); one entry for
/// each combination with at least one target.
pub fn compare_mappings(results: &[BindingResult]) -> Vec<MappingAgreement> {
    let mut out = Vec::new();
    for transport in [Transport::Udp, Transport::Tcp] {
        for ipv4 in [true, false] {
            let group: Vec<&BindingResult> = results
                .iter()
                .filter(|r| r.target.transport == transport && r.target.addr.is_ipv4() == ipv4)
                .collect();
            if group.is_empty() {
                continue;
            }
            let answers: Vec<(SocketAddr, Option<SocketAddr>)> = group
                .iter()
                .filter_map(|r| r.outcome.as_ref().ok().map(|i| (i.mapped, r.local)))
                .collect();
            let mut public_ips = Vec::new();
            let mut ports = Vec::new();
            for (m, _) in &answers {
                if !public_ips.contains(&m.ip()) {
                    public_ips.push(m.ip());
                }
                if !ports.contains(&m.port()) {
                    ports.push(m.port());
                }
            }
            let enough = answers.len() >= 2;
            let known_local: Vec<bool> = answers
                .iter()
                .filter_map(|(m, l)| l.filter(|l| !l.ip().is_unspecified()).map(|l| l == *m))
                .collect();
            out.push(MappingAgreement {
                ipv4,
                transport,
                answers: answers.len(),
                same_ip: enough.then_some(public_ips.len() == 1),
                same_port: (enough && transport == Transport::Udp).then_some(ports.len() == 1),
                public_ips,
                ports,
                mapped_equals_local: (!known_local.is_empty())
                    .then(|| known_local.iter().any(|b| *b)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(addr: &str, transport: Transport, mapped: Option<&str>) -> BindingResult {
        BindingResult {
            target: BindingTarget {
                label: addr.to_owned(),
                addr: addr.parse().expect("test address"),
                transport,
            },
            local: Some("0.0.0.0:40000".parse().expect("test address")),
            outcome: match mapped {
                Some(m) => Ok(BindingInfo {
                    mapped: m.parse().expect("test address"),
                    xor: true,
                    mapped_mismatch: false,
                    from: addr.parse().expect("test address"),
                    other_address: None,
                    rfc3489: false,
                    response_origin: None,
                    software: None,
                    rtt: Duration::from_millis(1),
                    transmissions: 1,
                }),
                None => Err(BindingError::Timeout { transmissions: 7 }),
            },
            elapsed: None,
        }
    }

    #[test]
    fn compare_needs_two_answers() {
        let r = [
            result("192.0.2.1:3478", Transport::Udp, Some("203.0.113.5:5000")),
            result("192.0.2.2:3478", Transport::Udp, None),
        ];
        let c = compare_mappings(&r);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].answers, 1);
        assert_eq!(c[0].same_ip, None);
        assert_eq!(c[0].same_port, None);
        assert_eq!(c[0].mapped_equals_local, None);
    }

    #[test]
    fn compare_detects_port_change() {
        let r = [
            result("192.0.2.1:3478", Transport::Udp, Some("203.0.113.5:5000")),
            result("192.0.2.2:3478", Transport::Udp, Some("203.0.113.5:5001")),
            result("192.0.2.3:3478", Transport::Tcp, Some("203.0.113.5:6000")),
            result("192.0.2.4:3478", Transport::Tcp, Some("203.0.113.5:6001")),
        ];
        let c = compare_mappings(&r);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].transport, Transport::Udp);
        assert_eq!(c[0].same_ip, Some(true));
        assert_eq!(c[0].same_port, Some(false));
        assert_eq!(c[0].ports, vec![5000, 5001]);
        assert_eq!(c[1].transport, Transport::Tcp);
        assert_eq!(c[1].same_ip, Some(true));
        assert_eq!(c[1].same_port, None);
    }

    #[test]
    fn transport_serde_is_kebab() {
        assert_eq!(
            serde_json::to_string(&Transport::Udp).expect("serialize"),
            "\"udp\""
        );
    }
}
