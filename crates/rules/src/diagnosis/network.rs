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
        for (i, srv) in s.servers.iter().enumerate() {
            if matches!(srv.outcome, Outcome::Timeout) {
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
    for (i, s) in v.servers.iter().enumerate() {
        let path = format!(".nat.servers[{i}].status");
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
                .explaining(failed_checks(report, &[CheckId::Nat])),
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
