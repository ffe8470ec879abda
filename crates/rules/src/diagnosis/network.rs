//! Findings about the network itself: STUN answers, the NAT's behaviour,
//! port mapping.

use super::relay::turn_results;
use super::{Findings, failed_checks, finding, with_status};
use model::diagnosis::{Finding, FindingId, Severity};
use model::portmap::{CheckStatus as Pm, PortmapStatus};
use model::turn::{TurnTransport, TurnTransportResult};
use model::{CheckId, CheckStatus, Outcome, Report, Section, Transport};
use natclass::{Behaviour, ServerStatus, UdpStatus};

pub(super) fn stun(report: &Report, f: &mut Findings) {
    let Section::Tested(s) = &report.stun else {
        return;
    };
    let answered = |t: Transport| {
        s.servers
            .iter()
            .any(|x| x.transport == t && x.outcome == Outcome::Ok)
    };
    let (udp_ok, tcp_ok) = (answered(Transport::Udp), answered(Transport::Tcp));
    let stun_checks = [CheckId::Stun, CheckId::Udp];
    for (i, srv) in s.servers.iter().enumerate() {
        let path = format!(".stun.servers[{i}]");
        match srv.outcome {
            Outcome::Unresolved => f.add(
                finding(
                    FindingId::ServerUnresolved,
                    Severity::Warning,
                    format!("The server name of {} does not resolve", srv.label),
                    format!(
                        "Check the spelling of {} and this machine's DNS (resolv.conf); or name the server by IP address",
                        srv.label
                    ),
                )
                .with_evidence(format!("{path}.error"), srv.error.clone().unwrap_or_default())
                .explaining(failed_checks(report, &[CheckId::Stun])),
            ),
            Outcome::Refused => f.add(
                finding(
                    FindingId::StunPortClosed,
                    Severity::Critical,
                    format!(
                        "Nothing listens on {} ({}): the port is closed",
                        srv.address.map(|a| a.to_string()).unwrap_or_else(|| srv.label.clone()),
                        transport_word(srv.transport)
                    ),
                    format!(
                        "Check the port of {} (STUN's default is 3478) and that the STUN server is running",
                        srv.label
                    ),
                )
                .with_evidence(format!("{path}.outcome"), "refused")
                .explaining(failed_checks(report, &stun_checks)),
            ),
            _ => {}
        }
    }
    if !udp_ok && tcp_ok {
        f.add(udp_blocked(report).with_evidence(
            ".stun.servers",
            "STUN over TCP was answered, STUN over UDP was not",
        ));
    } else if !udp_ok && !tcp_ok && !s.servers.is_empty() {
        // A server whose port is closed has its own finding.
        let refused: Vec<&str> = s
            .servers
            .iter()
            .filter(|x| x.outcome == Outcome::Refused)
            .map(|x| x.label.as_str())
            .collect();
        let silent: Vec<&str> = s
            .servers
            .iter()
            .filter(|x| matches!(x.outcome, Outcome::Timeout | Outcome::Error))
            .map(|x| x.label.as_str())
            .filter(|l| !refused.contains(l))
            .collect();
        if !silent.is_empty() {
            f.add(
                finding(
                    FindingId::StunUnreachable,
                    Severity::Critical,
                    format!("No STUN server answered ({})", silent.join(", ")),
                    "Check that the servers are up and that this network lets UDP out to their \
                     ports; `natscope stun --tcp` tells a dead server from blocked UDP",
                )
                .with_evidence(".stun.servers[].outcome", "no answer from any server")
                .explaining(failed_checks(report, &stun_checks)),
            );
        }
    } else {
        let broken = broken_ipv6_paths(s);
        for (i, srv) in s.servers.iter().enumerate() {
            // A silent AAAA beside an answering A has its own finding.
            if matches!(srv.outcome, Outcome::Timeout) && !broken.iter().any(|(b, _)| *b == i) {
                f.add(
                    finding(
                        FindingId::StunServerSilent,
                        Severity::Info,
                        format!(
                            "{} did not answer over {} while other servers did",
                            srv.label,
                            transport_word(srv.transport)
                        ),
                        format!(
                            "Remove {} from your iceServers, or check that it is up",
                            srv.label
                        ),
                    )
                    .with_evidence(format!(".stun.servers[{i}].outcome"), "timeout"),
                );
            }
        }
    }
}

/// The per-server findings of a verdict (`prefix` `.nat` or `.nat_ipv6`):
/// closed ports (explaining `explains`), plain and inconsistent servers.
fn server_statuses(
    report: &Report,
    v: &natclass::NatVerdict,
    prefix: &str,
    explains: &[CheckId],
    f: &mut Findings,
) {
    for (i, s) in v.servers.iter().enumerate() {
        let path = format!("{prefix}.servers[{i}].status");
        match s.status {
            ServerStatus::NotRfc5780 => f.add(
                finding(
                    FindingId::StunNotRfc5780,
                    Severity::Info,
                    "The STUN servers do not support RFC 5780: NAT filtering could not be tested",
                    "Add an RFC 5780 server (`natscope serve` on a host with two public \
                     addresses, or coturn with two listening IPs) to learn the filtering",
                )
                .with_evidence(path, format!("{} answered without OTHER-ADDRESS", s.server)),
            ),
            ServerStatus::PortClosed => f.add(
                finding(
                    FindingId::StunPortClosed,
                    Severity::Critical,
                    format!("Nothing listens on {} (UDP): the port is closed", s.server),
                    format!(
                        "Check the port of {} (STUN's default is 3478) and that the STUN server is running",
                        s.server
                    ),
                )
                .with_evidence(path, "port-closed")
                .explaining(failed_checks(report, explains)),
            ),
            ServerStatus::Inconsistent => f.add(
                finding(
                    FindingId::StunServerInconsistent,
                    Severity::Warning,
                    format!(
                        "{}'s RFC 5780 answers contradict themselves: its tests were not used",
                        s.server
                    ),
                    format!(
                        "If {} is coturn, query it on its first listening address; otherwise \
                         check its alternate address configuration",
                        s.server
                    ),
                )
                .with_evidence(path, "inconsistent OTHER-ADDRESS or response sources"),
            ),
            _ => {}
        }
    }
}

/// Names with an IPv4 and an IPv6 address whose IPv4 answered while the
/// IPv6 one stayed silent: `(IPv6 entry, IPv4 entry)` indices.
fn broken_ipv6_paths(s: &model::StunSection) -> Vec<(usize, usize)> {
    let v6 = |x: &model::StunServer| x.address.is_some_and(|a| a.is_ipv6());
    s.servers
        .iter()
        .enumerate()
        .filter(|(_, x)| x.outcome == Outcome::Timeout && v6(x))
        .filter_map(|(i, x)| {
            s.servers
                .iter()
                .position(|y| {
                    y.label == x.label
                        && y.transport == x.transport
                        && y.outcome == Outcome::Ok
                        && y.address.is_some_and(|a| a.is_ipv4())
                })
                .map(|j| (i, j))
        })
        .collect()
}

/// Every dual-stack name whose AAAA path is broken: what it costs a browser
/// and what this run waited for it.
pub(super) fn ipv6_paths(report: &Report, f: &mut Findings) {
    let Section::Tested(s) = &report.stun else {
        return;
    };
    for (i, j) in broken_ipv6_paths(s) {
        let (x, y) = (&s.servers[i], &s.servers[j]);
        let (Some(a6), Some(a4)) = (x.address, y.address) else {
            continue;
        };
        let waited = x
            .waited_ms
            .map(|ms| format!("{:.1} s", ms / 1000.0))
            .unwrap_or_else(|| "the whole timeout".to_owned());
        f.add(
            finding(
                FindingId::Ipv6PathBroken,
                Severity::Warning,
                format!(
                    "{}'s IPv6 address {} does not answer while its IPv4 address {} does: \
                     a broken IPv6 path",
                    x.label,
                    a6.ip(),
                    a4.ip()
                ),
                format!(
                    "Browsers gather over IPv6 as well: candidate gathering does not finish \
                     until their requests to {} time out (tens of seconds), which delays \
                     every call. If you run {}, make it answer on its IPv6 address (listening \
                     address, firewall) or remove its AAAA record; if every IPv6 server is \
                     silent, it is this network's IPv6 that is broken",
                    a6.ip(),
                    x.label
                ),
            )
            .with_evidence(
                format!(".stun.servers[{i}].outcome"),
                format!("timeout after {waited} ({} transmissions)", x.transmissions),
            )
            .with_evidence(format!(".stun.servers[{j}].outcome"), "ok"),
        );
    }
}

/// Findings from the IPv6 verdict (`nat_ipv6`): its translation and the
/// firewall's filtering, in IPv6 words; the mapping problems the IPv4
/// rules know, with the family named.
pub(super) fn nat_ipv6(report: &Report, f: &mut Findings) {
    let Section::Tested(v) = &report.nat_ipv6 else {
        return;
    };
    let v6_checks = [CheckId::UdpIpv6, CheckId::NatEimIpv6];
    if v.udp == UdpStatus::Blocked {
        f.add(
            finding(
                FindingId::UdpBlocked,
                Severity::Warning,
                "Outbound UDP over IPv6 is blocked (TCP reached the IPv6 servers)",
                "IPv6 candidates will not connect: allow outbound UDP in the IPv6 firewall, \
                 or rely on IPv4 and TURN",
            )
            .with_evidence(".nat_ipv6.udp", "blocked")
            .explaining(failed_checks(report, &v6_checks)),
        );
        return;
    }
    server_statuses(report, v, ".nat_ipv6", &v6_checks, f);
    let answered = v.servers.iter().any(|s| s.status.answered());
    let closed = |s: &natclass::ServerVerdict| s.status == ServerStatus::PortClosed;
    if !answered && v.servers.iter().all(closed) {
        // Closed ports only: each has its own finding (above).
        return;
    }
    if !answered {
        let ipv4_works = report.nat.tested().is_some_and(|n| n.udp == UdpStatus::Ok)
            || report.stun.tested().is_some_and(|s| {
                s.servers
                    .iter()
                    .any(|x| x.outcome == Outcome::Ok && x.address.is_some_and(|a| a.is_ipv4()))
            });
        let silent: Vec<String> = v
            .servers
            .iter()
            .filter(|s| !closed(s))
            .map(|s| s.server.to_string())
            .collect();
        let (title, remedy) = if ipv4_works {
            (
                format!(
                    "No IPv6 server answered ({}) while IPv4 works: this host's IPv6 path is \
                     broken",
                    silent.join(", ")
                ),
                "This host has an IPv6 route that does not reach the internet: browsers \
                 gather IPv6 candidates that never connect and wait for them. Fix the IPv6 \
                 uplink (router advertisements, the provider's prefix, a firewall dropping \
                 outbound IPv6), or disable IPv6 on this host until it works",
            )
        } else {
            (
                format!("No IPv6 server answered ({})", silent.join(", ")),
                "Check that the IPv6 servers are up and listen on their IPv6 addresses, and \
                 that this network lets UDP out over IPv6",
            )
        };
        f.add(
            finding(FindingId::Ipv6PathBroken, Severity::Warning, title, remedy)
                .with_evidence(".nat_ipv6.servers[].status", "no IPv6 server answered")
                .explaining(failed_checks(report, &v6_checks)),
        );
        return;
    }
    let public = v.public.map(|p| p.ip().to_string()).unwrap_or_default();
    match v.translation {
        Some(natclass::Translation::None) => {
            let title = match v.filtering {
                Behaviour::AddressAndPortDependent => Some(
                    "IPv6 has no NAT, but a stateful firewall admits only replies \
                     (address-and-port-dependent filtering): a direct IPv6 connection works \
                     only when both sides send",
                ),
                Behaviour::AddressDependent => Some(
                    "IPv6 has no NAT, but a stateful firewall admits only addresses this host \
                     has sent to (address-dependent filtering): a direct IPv6 connection needs \
                     hole punching",
                ),
                _ => None,
            };
            if let Some(title) = title {
                f.add(
                    finding(
                        FindingId::Ipv6Firewall,
                        Severity::Info,
                        title,
                        "WebRTC (ICE) sends from both sides, so this works for calls; a peer \
                         that cannot send first (a server, a forwarded port) needs the port \
                         opened in the IPv6 firewall (RFC 6092 lets users open ports), and \
                         peers without IPv6 still need IPv4 or TURN",
                    )
                    .with_evidence(".nat_ipv6.filtering", word(&v.filtering))
                    .with_evidence(".nat_ipv6.translation", "none"),
                );
            }
        }
        Some(natclass::Translation::Nptv6) => f.add(
            finding(
                FindingId::Ipv6Nptv6,
                Severity::Info,
                format!(
                    "IPv6 goes through NPTv6 prefix translation (RFC 6296): servers see {} \
                     instead of this host's own address",
                    if public.is_empty() {
                        "another address"
                    } else {
                        public.as_str()
                    }
                ),
                "ICE copes (its server-reflexive candidate carries the translated address); \
                 protocols that write their own address into messages without ICE (plain \
                 SIP, FTP) see the wrong one",
            )
            .with_evidence(".nat_ipv6.translation", "nptv6"),
        ),
        Some(natclass::Translation::Nat) => f.add(
            finding(
                FindingId::Ipv6Nat66,
                Severity::Info,
                format!(
                    "IPv6 goes through a NAT66: servers see {}, the NAT's address",
                    if public.is_empty() {
                        "another address"
                    } else {
                        public.as_str()
                    }
                ),
                "Direct IPv6 then behaves like IPv4 behind a NAT (see the mapping and \
                 filtering); a network that can route its prefix does better with plain \
                 routing and a stateful firewall (RFC 6092)",
            )
            .with_evidence(".nat_ipv6.translation", "nat"),
        ),
        None => {}
    }
    match v.mapping {
        Behaviour::AddressDependent | Behaviour::AddressAndPortDependent => f.add(
            finding(
                FindingId::NatSymmetric,
                Severity::Warning,
                format!(
                    "IPv6: the translation maps each destination to its own port ({} mapping): \
                     direct IPv6 connections fail with most peers",
                    word(&v.mapping)
                ),
                "Route the IPv6 prefix instead of translating it, or switch the NAT66 to \
                 endpoint-independent mapping; peers need TURN meanwhile",
            )
            .with_evidence(".nat_ipv6.mapping", word(&v.mapping))
            .explaining(failed_checks(report, &[CheckId::NatEimIpv6])),
        ),
        Behaviour::Unknown => f.add(
            finding(
                FindingId::NatUnknown,
                Severity::Info,
                "IPv6: the mapping behaviour could not be determined",
                "Test against an RFC 5780 STUN server with two IPv6 addresses (natscope \
                 serve, or coturn listening on two IPv6 addresses)",
            )
            .with_evidence(".nat_ipv6.summary", v.summary.clone()),
        ),
        Behaviour::EndpointIndependent => {}
    }
    for (i, d) in v.disagreements.iter().enumerate() {
        f.add(
            finding(
                FindingId::ServersDisagree,
                Severity::Warning,
                format!("The IPv6 servers disagree about the {}", d.aspect),
                "Compare the servers' answers (--format json): a server behind a load \
                 balancer or several NATs on the path give different views",
            )
            .with_evidence(format!(".nat_ipv6.disagreements[{i}]"), d.detail.clone()),
        );
    }
}

fn transport_word(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
    }
}

/// UDP does not get out; the remedy names the TURN transports that do work.
pub(super) fn udp_blocked(report: &Report) -> Finding {
    let stream_ok: Vec<&TurnTransportResult> = turn_results(report)
        .iter()
        .filter(|r| r.ok && matches!(r.transport, TurnTransport::Tcp | TurnTransport::Tls))
        .collect();
    let remedy = match stream_ok.iter().find(|r| r.transport == TurnTransport::Tls) {
        Some(r) => format!(
            "Outbound UDP is blocked on this network; TURN over TLS works ({}): make sure your \
             iceServers list a turns: server, ideally on port 443 (turns:host:443?transport=tcp)",
            r.uri
        ),
        None => match stream_ok.first() {
            Some(r) => format!(
                "Outbound UDP is blocked on this network; TURN over TCP works ({}): list it in \
                 your iceServers, and add a turns: server on port 443 for stricter firewalls",
                r.uri
            ),
            None => "Outbound UDP is blocked on this network: peers can only connect through \
                     TURN over TCP or TLS; offer a turns: server on port 443"
                .to_owned(),
        },
    };
    let ice_relay_udp = [CheckId::IceRelayUdp, CheckId::TurnUdp, CheckId::IceSrflx];
    finding(
        FindingId::UdpBlocked,
        Severity::Critical,
        "Outbound UDP is blocked on this network",
        remedy,
    )
    .explaining(failed_checks(
        report,
        &[
            vec![CheckId::Udp, CheckId::Stun, CheckId::NatEim],
            ice_relay_udp.to_vec(),
        ]
        .concat(),
    ))
}

// ---------------------------------------------------------------- NAT

pub(super) fn nat(report: &Report, f: &mut Findings) {
    let Section::Tested(v) = &report.nat else {
        return;
    };
    if v.udp == UdpStatus::Blocked {
        f.add(udp_blocked(report).with_evidence(".nat.udp", "blocked"));
        return;
    }
    server_statuses(report, v, ".nat", &[CheckId::Nat], f);
    // No server answered the NAT tests (the closed ports have their own
    // finding, above): the STUN finding explains it, or one is made.
    let nat_failed = failed_checks(report, &[CheckId::Nat]);
    if !nat_failed.is_empty() && !f.explained(&CheckId::Nat) {
        match f.by_id(&FindingId::StunUnreachable) {
            Some(x) => {
                x.explains.extend(nat_failed);
            }
            None => {
                let silent: Vec<String> = v.servers.iter().map(|s| s.server.to_string()).collect();
                f.add(
                    finding(
                        FindingId::StunUnreachable,
                        Severity::Critical,
                        format!(
                            "No STUN server answered the NAT tests ({})",
                            silent.join(", ")
                        ),
                        "Check that the servers are up and that this network lets UDP out to \
                         their ports; `natscope stun --tcp` tells a dead server from blocked UDP",
                    )
                    .with_evidence(".nat.servers[].status", "no server answered")
                    .explaining(nat_failed),
                );
            }
        }
    }
    let eim = [CheckId::NatEim];
    match (v.mapping, v.filtering) {
        (Behaviour::AddressDependent | Behaviour::AddressAndPortDependent, _) => f.add(
            finding(
                FindingId::NatSymmetric,
                Severity::Warning,
                format!(
                    "This NAT maps each destination to its own port ({} mapping, a \"symmetric\" NAT): direct connections fail with most peers",
                    word(&v.mapping)
                ),
                "Configure a TURN server for your users (turns: on 443 reaches through most \
                 firewalls); on a network you run, switch the NAT to endpoint-independent \
                 mapping (e.g. nftables masquerade without fully-random)",
            )
            .with_evidence(".nat.mapping", word(&v.mapping))
            .explaining(failed_checks(report, &eim)),
        ),
        (Behaviour::EndpointIndependent, Behaviour::AddressAndPortDependent)
            if v.behind_nat != Some(false) =>
        {
            f.add(
                finding(
                    FindingId::NatPortRestricted,
                    Severity::Info,
                    "This NAT is port-restricted: peers behind symmetric NATs need a relay to reach you",
                    "Keep a TURN server in your iceServers for those peers",
                )
                .with_evidence(".nat.filtering", word(&v.filtering)),
            )
        }
        (Behaviour::Unknown, _) => f.add(
            finding(
                FindingId::NatUnknown,
                Severity::Warning,
                "The NAT's mapping behaviour could not be determined",
                "Test against an RFC 5780 STUN server (natscope serve, or coturn with two \
                 addresses), and check that UDP reaches it",
            )
            .with_evidence(".nat.summary", v.summary.clone())
            .explaining(with_status(report, &eim, CheckStatus::Fail)),
        ),
        _ => {}
    }
    if v.hairpinning == Some(false) {
        f.add(
            finding(
                FindingId::NoHairpinning,
                Severity::Info,
                "This NAT does not hairpin: two devices behind it cannot reach each other through their public addresses",
                "Devices on the same network connect through host candidates; for peers behind \
                 the same NAT with separate subnets, enable NAT loopback/hairpinning on the \
                 router",
            )
            .with_evidence(".nat.hairpinning", "false"),
        );
    }
    if v.double_nat == Some(true) {
        f.add(double_nat(".nat.double_nat", "true"));
    }
    for (i, d) in v.disagreements.iter().enumerate() {
        f.add(
            finding(
                FindingId::ServersDisagree,
                Severity::Warning,
                format!("The servers disagree about the {}", d.aspect),
                "Compare the servers' answers (--format json): a server behind a load \
                 balancer or several NATs on the path give different views",
            )
            .with_evidence(format!(".nat.disagreements[{i}]"), d.detail.clone()),
        );
    }
}

fn double_nat(path: &str, detail: &str) -> Finding {
    finding(
        FindingId::DoubleNat,
        Severity::Warning,
        "This host is behind two NATs (a carrier-grade NAT or a second router)",
        "A port opened on this router is not reachable from the internet: bridge the first \
         router, or ask the provider for a public address; peers will need a relay more often",
    )
    .with_evidence(path, detail)
}

/// The JSON spelling of a verdict word (`endpoint-independent`).
fn word<T: serde::Serialize>(v: &T) -> String {
    crate::json_word(v)
}

pub(super) fn portmap(report: &Report, f: &mut Findings) {
    let Section::Tested(p) = &report.portmap else {
        return;
    };
    let check = [CheckId::Portmap];
    for l in &p.leftover {
        f.add(
            finding(
                FindingId::PortmapLeftBehind,
                Severity::Critical,
                "A test port mapping could not be removed: it stays open until its lease ends",
                "Remove it in the router's port forwarding page, or wait for the lease \
                 (--portmap-lifetime, 120 s by default) to run out",
            )
            .with_evidence(".portmap.leftover", l.clone())
            .explaining(failed_checks(report, &check)),
        );
    }
    let mut any_available = false;
    for (i, r) in p.protocols.iter().enumerate() {
        let name = r.protocol_name();
        let path = format!(".portmap.protocols[{i}]");
        if r.status == PortmapStatus::Available {
            any_available = true;
        }
        match &r.mapping {
            Some(m) if m.traffic == Pm::Failed => f.add(
                finding(
                    FindingId::PortmapNoTraffic,
                    Severity::Warning,
                    format!("{name} mapped a port, but traffic from outside did not arrive"),
                    "A second NAT or a firewall in front of the router drops it: see the double NAT \
                     finding, or open the port there too",
                )
                .with_evidence(format!("{path}.mapping.traffic_reason"), m.traffic_reason.clone().unwrap_or_default()),
            ),
            None if r.status == PortmapStatus::Available => f.add(
                finding(
                    FindingId::PortmapRefused,
                    Severity::Warning,
                    format!("{name} answered but refused the test mapping"),
                    format!("Enable {name} port mapping for this host on the router (often off by default)"),
                )
                .with_evidence(format!("{path}.errors"), r.errors.join("; ")),
            ),
            _ => {}
        }
    }
    if !any_available
        && !p.skipped
        && !p.protocols.is_empty()
        && p.protocols
            .iter()
            .any(|r| r.status == PortmapStatus::NotAvailable)
    {
        f.add(
            finding(
                FindingId::PortmapUnavailable,
                Severity::Info,
                "No port mapping protocol (UPnP IGD, NAT-PMP, PCP) answered on the gateway",
                "Nothing to do for WebRTC (ICE does not need it); enable UPnP or NAT-PMP on the \
                 router if an application needs inbound ports",
            )
            .with_evidence(".portmap.protocols[].status", "not-available"),
        );
    }
    if p.double_nat.detected == Some(true) {
        f.add(double_nat(
            ".portmap.double_nat",
            &p.double_nat.evidence.join("; "),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::conclude;
    use model::diagnosis::FindingId;
    use model::{CheckId, CheckStatus, Outcome, Report, Section, StunServer, Transport};
    use natclass::{
        Behaviour, Confidence, Family, NatVerdict, ServerStatus, ServerVerdict, Translation,
        UdpStatus,
    };

    fn verdict(family: Family, t: Translation, m: Behaviour, f: Behaviour) -> NatVerdict {
        let server = match family {
            Family::Ipv4 => "203.0.113.100:3478",
            Family::Ipv6 => "[2001:db8:ff::100]:3478",
        };
        NatVerdict {
            mapping: m,
            filtering: f,
            behind_nat: Some(t != Translation::None),
            udp: UdpStatus::Ok,
            public: Some("[2001:db8:ff::1]:40000".parse().expect("literal")),
            confidence: Confidence::High,
            family: Some(family),
            translation: Some(t),
            servers: vec![ServerVerdict {
                server: server.parse().expect("literal"),
                status: ServerStatus::Rfc5780,
                mapping: m,
                filtering: f,
                hairpinning: None,
                public: None,
                confidence: Confidence::High,
            }],
            ..NatVerdict::unknown()
        }
    }

    fn dual(v6: NatVerdict) -> Report {
        let mut r = Report::new("nat", "2026-12-07T00:00:00Z");
        r.nat = Section::Tested(verdict(
            Family::Ipv4,
            Translation::Nat,
            Behaviour::EndpointIndependent,
            Behaviour::AddressAndPortDependent,
        ));
        r.nat_ipv6 = Section::Tested(v6);
        conclude(&mut r);
        r
    }

    fn ids(r: &Report) -> Vec<&str> {
        r.diagnosis.findings.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn a_dual_stack_site_names_both_families() {
        let r = dual(verdict(
            Family::Ipv6,
            Translation::None,
            Behaviour::EndpointIndependent,
            Behaviour::AddressAndPortDependent,
        ));
        let d = &r.diagnosis.verdict;
        assert!(d.starts_with("Over IPv4, direct peer-to-peer"), "{d}");
        assert!(
            d.contains("over IPv6 there is no NAT and a stateful firewall admits only replies"),
            "{d}"
        );
        assert!(ids(&r).contains(&"ipv6-firewall"), "{:?}", ids(&r));
        // The IPv4 port-restricted NAT keeps its own finding.
        assert!(ids(&r).contains(&"nat-port-restricted"), "{:?}", ids(&r));
        let check = |id: CheckId| r.summary.check(&id).map(|c| c.status);
        assert_eq!(check(CheckId::UdpIpv6), Some(CheckStatus::Pass));
        assert_eq!(check(CheckId::NatEimIpv6), Some(CheckStatus::Pass));
        assert_eq!(check(CheckId::NatEim), Some(CheckStatus::Pass));
    }

    #[test]
    fn nat66_and_nptv6_are_named() {
        let r = dual(verdict(
            Family::Ipv6,
            Translation::Nat,
            Behaviour::AddressAndPortDependent,
            Behaviour::AddressAndPortDependent,
        ));
        assert!(ids(&r).contains(&"ipv6-nat66"), "{:?}", ids(&r));
        let sym = r
            .diagnosis
            .findings
            .iter()
            .find(|f| f.id == FindingId::NatSymmetric)
            .expect("a symmetric NAT66 finding");
        assert!(sym.title.starts_with("IPv6: "), "{}", sym.title);
        assert!(sym.explains.contains(&CheckId::NatEimIpv6));
        let r = dual(verdict(
            Family::Ipv6,
            Translation::Nptv6,
            Behaviour::EndpointIndependent,
            Behaviour::EndpointIndependent,
        ));
        assert!(ids(&r).contains(&"ipv6-nptv6"), "{:?}", ids(&r));
        assert!(
            r.diagnosis.verdict.contains("NPTv6"),
            "{}",
            r.diagnosis.verdict
        );
    }

    #[test]
    fn silent_ipv6_while_ipv4_works_is_a_broken_path() {
        let mut v6 = verdict(
            Family::Ipv6,
            Translation::None,
            Behaviour::Unknown,
            Behaviour::Unknown,
        );
        v6.udp = UdpStatus::Unknown;
        v6.servers[0].status = ServerStatus::NoUdpAnswer;
        let r = dual(v6);
        let broken = r
            .diagnosis
            .findings
            .iter()
            .find(|f| f.id == FindingId::Ipv6PathBroken)
            .expect("broken IPv6 path");
        assert!(
            broken.title.contains("while IPv4 works"),
            "{}",
            broken.title
        );
        assert!(broken.explains.contains(&CheckId::UdpIpv6));
        assert!(
            r.diagnosis.verdict.contains("IPv6 is broken"),
            "{}",
            r.diagnosis.verdict
        );
        assert_eq!(
            r.summary.check(&CheckId::UdpIpv6).map(|c| c.status),
            Some(CheckStatus::Fail)
        );
    }

    fn stun(label: &str, addr: &str, outcome: Outcome, waited: f64) -> StunServer {
        StunServer {
            label: label.into(),
            uri: format!("stun:{label}"),
            transport: Transport::Udp,
            address: Some(addr.parse().expect("literal")),
            local: None,
            outcome,
            mapped: None,
            rtt_ms: None,
            transmissions: 7,
            response_origin: None,
            other_address: None,
            rfc5780: None,
            rfc3489: None,
            software: None,
            error: None,
            waited_ms: Some(waited),
        }
    }

    #[test]
    fn a_silent_aaaa_beside_an_answering_a_is_named_with_its_cost() {
        let mut r = Report::new("stun", "2026-12-07T00:00:00Z");
        r.stun = Section::Tested(model::StunSection {
            servers: vec![
                stun("stun.example.test", "192.0.2.1:3478", Outcome::Ok, 1.0),
                stun(
                    "stun.example.test",
                    "[2001:db8::1]:3478",
                    Outcome::Timeout,
                    2950.0,
                ),
                stun("other.example.test", "192.0.2.2:3478", Outcome::Ok, 1.0),
            ],
            ..Default::default()
        });
        conclude(&mut r);
        let f = r
            .diagnosis
            .findings
            .iter()
            .find(|f| f.id == FindingId::Ipv6PathBroken)
            .expect("the broken AAAA is named");
        assert!(
            f.title
                .contains("stun.example.test's IPv6 address 2001:db8::1"),
            "{}",
            f.title
        );
        assert!(f.remedy.contains("tens of seconds"), "{}", f.remedy);
        assert!(
            f.evidence
                .iter()
                .any(|e| e.detail.contains("timeout after 3.0 s")),
            "{:?}",
            f.evidence
        );
        // Not also reported as a silent server.
        assert!(!ids(&r).contains(&"stun-server-silent"), "{:?}", ids(&r));
    }

    #[test]
    fn ipv6_only_runs_speak_of_ipv6_only() {
        let mut r = Report::new("nat", "2026-12-07T00:00:00Z");
        r.nat = Section::not_tested("skipped (-6)");
        r.nat_ipv6 = Section::Tested(verdict(
            Family::Ipv6,
            Translation::None,
            Behaviour::EndpointIndependent,
            Behaviour::EndpointIndependent,
        ));
        conclude(&mut r);
        let d = &r.diagnosis.verdict;
        assert!(
            d.starts_with("Over IPv6 there is no NAT and anyone may send in"),
            "{d}"
        );
        assert!(!d.contains("IPv4"), "{d}");
    }
}
