//! Mapping inference from plain RFC 8489 servers (no OTHER-ADDRESS): mapped
//! addresses seen from ONE local socket towards several server ip:port.
//! Filtering can never be inferred this way.

use crate::LocalNetwork;
use crate::class::{Class, Finding};
use crate::observe::{ClassifyOptions, PlainProbe, Reply, ServerObservation};
use crate::server::{ServerResult, classify_server};
use crate::verdict::{Confidence, Evidence};
use std::net::SocketAddr;

/// What the plain probe contributed.
pub(crate) struct PlainResult {
    pub(crate) servers: Vec<ServerResult>,
    pub(crate) mapping: Option<Finding>,
}

/// Infer the mapping behaviour from (server, mapped) pairs.
pub(crate) fn infer(
    p: &PlainProbe,
    net: &LocalNetwork,
    opts: &ClassifyOptions,
    ev: &mut Vec<Evidence>,
) -> PlainResult {
    // Per-server status (down / UDP blocked / answered) through the same
    // rules as RFC 5780 servers, with only test I run and no OTHER-ADDRESS.
    let mut servers = Vec::new();
    for a in &p.answers {
        let mut o = ServerObservation::new(a.server);
        o.local = p.local;
        o.mapping.test1 = a.reply.clone();
        o.tcp_answered = a.tcp_answered;
        servers.push(classify_server(&o, net, opts, ev));
    }
    let seen: Vec<(SocketAddr, SocketAddr)> = p
        .answers
        .iter()
        .filter_map(|a| match a.reply {
            Reply::Answered { mapped, .. } => Some((a.server, mapped)),
            _ => None,
        })
        .collect();
    let mapping = pairs(&seen, ev);
    PlainResult { servers, mapping }
}

fn pairs(seen: &[(SocketAddr, SocketAddr)], ev: &mut Vec<Evidence>) -> Option<Finding> {
    let mut same_both = false; // same mapping, different server IP and port
    let mut same_ip_only = false; // same mapping, different IP, same port
    let mut diff_by_ip = false; // different mapping for different server IP
    let mut same_by_port = false; // same mapping, same IP, different port
    let mut diff_by_port = false; // different mapping, same IP, different port
    for (i, (s1, m1)) in seen.iter().enumerate() {
        for (s2, m2) in &seen[i + 1..] {
            let same = m1 == m2;
            if s1.ip() != s2.ip() {
                match (same, s1.port() != s2.port()) {
                    (true, true) => same_both = true,
                    (true, false) => same_ip_only = true,
                    (false, _) => diff_by_ip = true,
                }
            } else if s1.port() != s2.port() {
                if same {
                    same_by_port = true;
                } else {
                    diff_by_port = true;
                }
            }
        }
    }
    let list = seen
        .iter()
        .map(|(s, m)| format!("{s} -> {m}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (finding, why) = if diff_by_port {
        (
            Some((Class::Apd, Confidence::Medium)),
            "public address differs between ports of the same server IP: address-and-port-dependent mapping",
        )
    } else if diff_by_ip && (same_both || same_ip_only) {
        (
            Some((Class::NotEi, Confidence::Low)),
            "public address is the same towards some server IPs and differs towards others: inconsistent (several public addresses?), not endpoint-independent",
        )
    } else if diff_by_ip && same_by_port {
        (
            Some((Class::Ad, Confidence::Medium)),
            "public address differs per server IP but not per port: address-dependent mapping",
        )
    } else if diff_by_ip {
        (
            Some((Class::NotEi, Confidence::Medium)),
            "public address differs per server IP: address-dependent or address-and-port-dependent mapping (no same-IP/different-port pair to tell which)",
        )
    } else if same_both {
        (
            Some((Class::Ei, Confidence::Medium)),
            "same public address towards different server IPs and ports: endpoint-independent mapping (inferred, filtering unknown)",
        )
    } else if same_ip_only {
        (
            Some((Class::Ei, Confidence::Low)),
            "same public address towards different server IPs (same port only): endpoint-independent mapping, weakly inferred",
        )
    } else if seen.len() < 2 {
        (
            None,
            "fewer than two plain servers answered: mapping cannot be inferred",
        )
    } else {
        (
            None,
            "only same-IP server pairs agree: endpoint-independent or address-dependent, cannot tell",
        )
    };
    if !seen.is_empty() {
        ev.push(Evidence::new(
            "plain-mapping",
            format!("{why} [{list}]; filtering unknown: plain servers cannot test it"),
        ));
    }
    finding
}
