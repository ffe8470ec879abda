//! Maps probe results into the report model (`report`), and derives the
//! summary lines and checks the exit code is computed from.

use std::time::{SystemTime, UNIX_EPOCH};

use probe::stun::binding::{
    BindingError, BindingResult, Transport as ProbeTransport, compare_mappings,
};
use report::{
    Agreement, Check, CheckStatus, FamilyAgreement, Outcome, StunSection, StunServer, Transport,
};

/// One server the user asked about, with what became of it.
pub struct StunEntry {
    /// As the user wrote it.
    pub label: String,
    /// Canonical URI (no credentials).
    pub uri: String,
    /// Transport tried.
    pub transport: ProbeTransport,
    /// The binding result, or why the name could not be resolved.
    pub result: Result<BindingResult, String>,
}

fn transport(t: ProbeTransport) -> Transport {
    match t {
        ProbeTransport::Udp => Transport::Udp,
        ProbeTransport::Tcp => Transport::Tcp,
    }
}

/// The `stun` section from the probe results.
pub fn stun_section(entries: &[StunEntry], counters: report::Counters) -> StunSection {
    let mut servers = Vec::with_capacity(entries.len());
    for e in entries {
        let mut s = StunServer {
            label: e.label.clone(),
            uri: e.uri.clone(),
            transport: transport(e.transport),
            address: None,
            local: None,
            outcome: Outcome::Unresolved,
            mapped: None,
            rtt_ms: None,
            transmissions: 0,
            response_origin: None,
            other_address: None,
            rfc5780: None,
            software: None,
            error: None,
        };
        match &e.result {
            Err(why) => s.error = Some(why.clone()),
            Ok(r) => {
                s.address = Some(r.target.addr);
                s.local = r.local;
                match &r.outcome {
                    Ok(info) => {
                        s.outcome = Outcome::Ok;
                        s.mapped = Some(info.mapped);
                        s.rtt_ms = Some(info.rtt.as_secs_f64() * 1000.0);
                        s.transmissions = info.transmissions;
                        s.response_origin = info.response_origin;
                        s.other_address = info.other_address;
                        s.rfc5780 = Some(info.other_address.is_some());
                        s.software = info.software.clone();
                    }
                    Err(err) => {
                        s.outcome = match err {
                            BindingError::Timeout { .. } | BindingError::Deadline { .. } => {
                                Outcome::Timeout
                            }
                            _ => Outcome::Error,
                        };
                        if let BindingError::Timeout { transmissions }
                        | BindingError::Deadline { transmissions } = err
                        {
                            s.transmissions = *transmissions;
                        }
                        s.error = Some(err.to_string());
                    }
                }
            }
        }
        servers.push(s);
    }
    let results: Vec<BindingResult> = entries
        .iter()
        .filter_map(|e| e.result.as_ref().ok().cloned())
        .collect();
    let mut agreement = Agreement::default();
    for a in compare_mappings(&results) {
        if a.transport != ProbeTransport::Udp {
            continue;
        }
        let fam = FamilyAgreement {
            answered: u32::try_from(a.answers).unwrap_or(u32::MAX),
            same_ip: a.same_ip,
            same_port: a.same_port,
            public_ips: a.public_ips.clone(),
        };
        if a.ipv4 {
            agreement.ipv4 = fam;
        } else {
            agreement.ipv6 = fam;
        }
    }
    StunSection {
        servers,
        agreement,
        counters,
    }
}

/// Summary lines and checks for the `stun` section.
pub fn summarize_stun(section: &StunSection, summary: &mut report::Summary) {
    let answered: Vec<&StunServer> = section
        .servers
        .iter()
        .filter(|s| s.outcome == Outcome::Ok)
        .collect();
    let udp_answered = answered.iter().any(|s| s.transport == Transport::Udp);
    let udp_tried = section
        .servers
        .iter()
        .any(|s| s.transport == Transport::Udp);
    let total = section.servers.len();
    if answered.is_empty() {
        summary
            .problems
            .push(format!("no STUN server answered ({total} tried)"));
        summary.advice.push(
            "check that UDP to the servers' ports is allowed, and that the servers are up \
             (natscope stun --tcp tells UDP blocking from a dead server)"
                .into(),
        );
    } else {
        summary.works.push(format!(
            "{} of {total} STUN servers answered",
            answered.len()
        ));
    }
    for s in section.servers.iter().filter(|s| s.outcome != Outcome::Ok) {
        summary.problems.push(format!(
            "{} ({}): {}",
            s.label,
            match s.transport {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
            },
            s.error.as_deref().unwrap_or("no answer")
        ));
    }
    let v4 = &section.agreement.ipv4;
    if v4.answered >= 2 {
        match (v4.same_ip, v4.same_port) {
            (Some(true), Some(true)) => summary.works.push(
                "all servers saw the same public IPv4 address and port: consistent with \
                 endpoint-independent mapping"
                    .into(),
            ),
            (Some(true), Some(false)) => summary.problems.push(
                "servers saw different public ports: the NAT's mapping depends on the \
                 destination (symmetric-like); direct P2P will often need TURN"
                    .into(),
            ),
            (Some(false), _) => summary.problems.push(
                "servers saw different public IPv4 addresses (several NATs or a NAT pool)".into(),
            ),
            _ => {}
        }
    }
    summary.checks.push(Check {
        id: "stun".into(),
        status: if answered.is_empty() {
            CheckStatus::Fail
        } else {
            CheckStatus::Pass
        },
        reason: format!("{} of {total} servers answered", answered.len()),
    });
    summary.checks.push(Check {
        id: "udp".into(),
        status: match (udp_tried, udp_answered) {
            (false, _) => CheckStatus::NotTested,
            (true, true) => CheckStatus::Pass,
            (true, false) => CheckStatus::Fail,
        },
        reason: if udp_answered {
            "a UDP Binding request was answered".into()
        } else if udp_tried {
            "no UDP Binding request was answered".into()
        } else {
            "no UDP server was tried".into()
        },
    });
}

/// The current time as RFC 3339 UTC (`2026-11-23T20:37:40Z`).
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The `interfaces` section from the probe's interface list.
pub fn interfaces(list: &[probe::interfaces::Interface]) -> report::Interfaces {
    use probe::interfaces::InterfaceKind as K;
    use report::InterfaceKind as R;
    let mut default_gateway = None;
    let interfaces = list
        .iter()
        .map(|i| {
            if i.is_default && default_gateway.is_none() {
                default_gateway = Some(report::DefaultGateway {
                    interface: i.name.clone(),
                    addresses: i.gateways.clone(),
                });
            }
            report::Interface {
                name: i.name.clone(),
                index: i.index,
                kind: match i.kind {
                    K::Ethernet => R::Ethernet,
                    K::Loopback => R::Loopback,
                    K::Tunnel => R::Tunnel,
                    K::Wireless => R::Wireless,
                    K::Bridge => R::Bridge,
                    K::Virtual => R::Virtual,
                    K::Other => R::Other,
                },
                up: i.up,
                mtu: i.mtu,
                mac: i.mac.clone(),
                addresses: i
                    .addresses
                    .iter()
                    .map(|a| report::InterfaceAddress {
                        ip: a.addr,
                        prefix: a.prefix_len,
                        scope: report::AddressScope::of(a.addr),
                    })
                    .collect(),
                gateway: i.gateways.first().copied(),
                vpn_hint: i.vpn_hint.clone(),
            }
        })
        .collect();
    report::Interfaces {
        interfaces,
        default_gateway,
    }
}

/// The `turn` section: the probe's results converted to the report model
/// (the two types have the same JSON shape, so a serde round trip converts).
pub fn turn_section(
    results: &[probe::turn::TurnTransportResult],
) -> anyhow::Result<report::Section<report::turn::TurnSection>> {
    Ok(report::Section::Tested(report::turn::TurnSection {
        results: serde_json::from_value(serde_json::to_value(results)?)?,
    }))
}

/// Summary lines and `turn-<transport>` checks from the TURN results.
pub fn summarize_turn(results: &[probe::turn::TurnTransportResult], summary: &mut report::Summary) {
    use std::collections::BTreeMap;
    let mut per_transport: BTreeMap<String, bool> = BTreeMap::new();
    for r in results {
        let transport = r.transport.to_string().to_lowercase();
        let ok = per_transport.entry(transport.clone()).or_insert(false);
        *ok |= r.ok;
        if r.ok {
            summary.works.push(format!(
                "TURN {} over {transport}: allocation and relay work{}",
                r.uri,
                r.relayed_address
                    .map(|a| format!(" (relayed address {a})"))
                    .unwrap_or_default()
            ));
        } else {
            let stage = r
                .failed_stage
                .map(|s| format!("{s:?}"))
                .unwrap_or_else(|| "an unknown stage".into());
            let why = r
                .failure
                .as_ref()
                .map(|f| f.to_string())
                .unwrap_or_else(|| "failed".into());
            summary.problems.push(format!(
                "TURN {} over {transport} failed at {stage}: {why}",
                r.uri
            ));
        }
    }
    let udp_ok = per_transport.get("udp").copied();
    let stream_ok = per_transport.get("tcp").copied().unwrap_or(false)
        || per_transport.get("tls").copied().unwrap_or(false);
    if udp_ok == Some(false) && stream_ok {
        summary.advice.push(
            "TURN over UDP fails but TCP/TLS works: UDP is likely blocked on this network; \
             offer a turns: server on port 443 so clients behind such firewalls can relay"
                .into(),
        );
    }
    for (transport, ok) in per_transport {
        summary.checks.push(Check {
            id: format!("turn-{transport}"),
            status: if ok {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            },
            reason: if ok {
                format!("a TURN allocation over {transport} relayed data")
            } else {
                format!("no TURN server relayed data over {transport}")
            },
        });
    }
}

/// The JSON spelling of a serde enum value (`endpoint-independent`).
fn json_word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

/// Summary lines and the `nat-eim` (and, if not yet there, `udp`) checks
/// from the NAT verdict.
pub fn summarize_nat(v: &natclass::NatVerdict, summary: &mut report::Summary) {
    use natclass::{Behaviour, UdpStatus};
    let sentence = format!(
        "NAT: {} — {} (confidence: {})",
        v.rfc3489.name(),
        v.p2p.sentence(),
        json_word(&v.confidence)
    );
    match (v.udp, v.mapping) {
        (UdpStatus::Blocked, _) => {
            summary
                .problems
                .push("UDP is blocked: only TURN over TCP/TLS can work".into());
            summary
                .advice
                .push("offer a turns: (TURN over TLS) server, ideally on port 443".into());
        }
        (_, Behaviour::EndpointIndependent) => summary.works.push(sentence),
        (_, Behaviour::Unknown) => summary.problems.push(format!(
            "the NAT's mapping behaviour could not be determined: {}",
            v.summary
        )),
        _ => {
            summary.problems.push(sentence);
            summary.advice.push(
                "peers behind this NAT need a TURN relay for many connections: configure TURN"
                    .into(),
            );
        }
    }
    for d in &v.disagreements {
        summary
            .problems
            .push(format!("servers disagree on {}: {}", d.aspect, d.detail));
    }
    summary.checks.push(Check {
        id: "nat-eim".into(),
        status: match v.mapping {
            Behaviour::EndpointIndependent => CheckStatus::Pass,
            Behaviour::Unknown => CheckStatus::NotTested,
            _ => CheckStatus::Fail,
        },
        reason: format!("mapping is {}", json_word(&v.mapping)),
    });
    if !summary.checks.iter().any(|c| c.id == "udp") {
        summary.checks.push(Check {
            id: "udp".into(),
            status: match v.udp {
                UdpStatus::Ok => CheckStatus::Pass,
                UdpStatus::Blocked => CheckStatus::Fail,
                UdpStatus::Unknown => CheckStatus::NotTested,
            },
            reason: format!("UDP: {}", json_word(&v.udp)),
        });
    }
}

/// A protocol id (`upnp`, `nat-pmp`, `pcp`) for people.
fn portmap_name(id: &str) -> &str {
    match id {
        "upnp" => "UPnP IGD",
        "nat-pmp" => "NAT-PMP",
        "pcp" => "PCP",
        other => other,
    }
}

/// Summary lines and the `portmap` check: pass when a protocol made a test
/// mapping that was removed again; fail when a mapping could not be removed
/// (it stays until its lease expires); not tested when skipped or no
/// protocol made a mapping (with why). Double NAT is a problem line with
/// its evidence.
pub fn summarize_portmap(
    section: &report::Section<report::portmap::PortmapSection>,
    summary: &mut report::Summary,
) {
    use report::portmap::{CheckStatus as Pm, PortmapStatus};
    let p = match section {
        report::Section::Tested(p) => p,
        other => {
            summary.checks.push(Check {
                id: "portmap".into(),
                status: CheckStatus::NotTested,
                reason: other.reason().unwrap_or("not run").to_owned(),
            });
            return;
        }
    };
    let mut removed = Vec::new();
    let mut not_removed: Vec<String> = Vec::new();
    for r in &p.protocols {
        let name = portmap_name(&r.protocol);
        match &r.mapping {
            Some(m) => {
                let external = m
                    .external
                    .clone()
                    .or_else(|| r.external_ip.clone())
                    .unwrap_or_else(|| format!("port {}", m.external_port));
                match m.removed {
                    Pm::Passed => {
                        removed.push(name.to_owned());
                        summary.works.push(format!(
                            "port mapping works: {name} opened {external} and removed it again"
                        ));
                    }
                    _ => not_removed.push(format!(
                        "{name} mapping {external}: {}",
                        m.removal_reason
                            .as_deref()
                            .unwrap_or("removal not confirmed")
                    )),
                }
                if m.traffic == Pm::Failed {
                    summary.problems.push(format!(
                        "{name} mapped {external} but traffic from outside did not arrive: {}",
                        m.traffic_reason.as_deref().unwrap_or("no packet")
                    ));
                }
            }
            None if r.status == PortmapStatus::Available => {
                let why = if r.errors.is_empty() {
                    "no mapping was granted".to_owned()
                } else {
                    r.errors.join("; ")
                };
                summary.problems.push(format!(
                    "{name} answered but the test mapping failed: {why}"
                ));
            }
            None => {}
        }
    }
    for l in &p.leftover {
        if !not_removed.iter().any(|n| n == l) {
            not_removed.push(l.clone());
        }
    }
    if p.double_nat.detected == Some(true) {
        let evidence = if p.double_nat.evidence.is_empty() {
            "the gateway's external address is not the public one".to_owned()
        } else {
            p.double_nat.evidence.join("; ")
        };
        summary.problems.push(format!("double NAT: {evidence}"));
        summary.advice.push(
            "a port opened on this router is not reachable from the internet: bridge the first \
             router or ask the provider for a public address"
                .into(),
        );
    }
    let (status, reason) = if !not_removed.is_empty() {
        summary.problems.push(format!(
            "port mapping left behind (it expires with its lease): {}",
            not_removed.join("; ")
        ));
        (
            CheckStatus::Fail,
            format!("mapping not removed: {}", not_removed.join("; ")),
        )
    } else if !removed.is_empty() {
        (
            CheckStatus::Pass,
            format!("{} made a test mapping and removed it", removed.join(", ")),
        )
    } else {
        let why: Vec<String> = p
            .protocols
            .iter()
            .map(|r| {
                let state = match r.status {
                    PortmapStatus::NotTested => "not tested",
                    PortmapStatus::NotAvailable => "not available",
                    PortmapStatus::Available => "no mapping made",
                };
                match &r.reason {
                    Some(reason) => format!("{} {state}: {reason}", portmap_name(&r.protocol)),
                    None => format!("{} {state}", portmap_name(&r.protocol)),
                }
            })
            .collect();
        (
            CheckStatus::NotTested,
            if why.is_empty() {
                "no port mapping protocol was tried".to_owned()
            } else {
                format!("no test mapping made: {}", why.join("; "))
            },
        )
    };
    summary.checks.push(Check {
        id: "portmap".into(),
        status,
        reason,
    });
}

#[cfg(test)]
mod tests {
    use report::CheckStatus;

    /// The synthetic fixture's portmap section (UPnP mapped and removed,
    /// double NAT found).
    fn synthetic_portmap() -> report::portmap::PortmapSection {
        let text = include_str!("../../fixtures/reports/synthetic.json");
        let r = report::Report::from_json(text).expect("synthetic fixture parses");
        r.portmap.tested().expect("portmap tested").clone()
    }

    fn portmap_check(
        section: report::Section<report::portmap::PortmapSection>,
    ) -> (report::Check, report::Summary) {
        let mut s = report::Summary::default();
        super::summarize_portmap(&section, &mut s);
        let c = s.checks.iter().find(|c| c.id == "portmap").cloned();
        (c.expect("portmap check written"), s)
    }

    #[test]
    fn portmap_check_pass_fail_not_tested() {
        let (c, s) = portmap_check(report::Section::Tested(synthetic_portmap()));
        assert_eq!(c.status, CheckStatus::Pass, "{c:?}");
        assert!(c.reason.contains("UPnP IGD"), "{c:?}");
        assert!(
            s.problems
                .iter()
                .any(|p| p.starts_with("double NAT: ") && p.contains("100.64.0.2")),
            "{s:?}"
        );

        let mut leak = synthetic_portmap();
        let m = leak.protocols[0].mapping.as_mut().expect("UPnP mapping");
        m.removed = report::portmap::CheckStatus::Failed;
        m.removal_reason = Some("gateway refused".into());
        let (c, s) = portmap_check(report::Section::Tested(leak));
        assert_eq!(c.status, CheckStatus::Fail, "{c:?}");
        assert!(c.reason.contains("gateway refused"), "{c:?}");
        assert!(s.problems.iter().any(|p| p.contains("left behind")));

        let mut none = synthetic_portmap();
        none.protocols[0].mapping = None;
        none.protocols[0].status = report::portmap::PortmapStatus::NotAvailable;
        none.protocols[0].reason = Some("no SSDP answer".into());
        let (c, _) = portmap_check(report::Section::Tested(none));
        assert_eq!(c.status, CheckStatus::NotTested, "{c:?}");
        assert!(
            c.reason.contains("UPnP IGD not available: no SSDP answer"),
            "{c:?}"
        );

        let (c, _) = portmap_check(report::Section::not_tested("skipped (--no-portmap)"));
        assert_eq!(c.status, CheckStatus::NotTested);
        assert!(c.reason.contains("--no-portmap"));
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_466_260), "2026-11-23T20:37:40Z");
    }
}
