//! The `nat-eim` check (and `udp`, when no STUN section made it) and the
//! NAT summary lines.

use crate::json_word;
use model::{Check, CheckId, CheckStatus, Summary};
use natclass::{Behaviour, NatVerdict, Translation, UdpStatus};

/// Summary lines and checks from the NAT verdict.
pub(crate) fn summarize(v: &NatVerdict, summary: &mut Summary) {
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
    summary.checks.push(Check::new(
        CheckId::NatEim,
        match v.mapping {
            Behaviour::EndpointIndependent => CheckStatus::Pass,
            Behaviour::Unknown => CheckStatus::NotTested,
            _ => CheckStatus::Fail,
        },
        format!("mapping is {}", json_word(&v.mapping)),
    ));
    let (udp, why) = match v.udp {
        UdpStatus::Ok => (CheckStatus::Pass, "a UDP Binding request was answered"),
        UdpStatus::Blocked => (
            CheckStatus::Fail,
            "no UDP Binding request was answered while TCP was: UDP is blocked",
        ),
        UdpStatus::Unknown => (
            CheckStatus::NotTested,
            "no server answered over UDP or TCP, so UDP could not be judged",
        ),
    };
    summary.checks.push(Check::new(CheckId::Udp, udp, why));
    // Asked for a NAT classification and no server could give one: the
    // run did not do what it was asked (a closed port, a dead server).
    if v.udp == UdpStatus::Unknown && !v.servers.iter().any(|s| s.status.answered()) {
        let states: Vec<String> = v
            .servers
            .iter()
            .map(|s| format!("{}: {}", s.server, s.status.describe()))
            .collect();
        summary.checks.push(Check::new(
            CheckId::Nat,
            CheckStatus::Fail,
            format!(
                "no STUN server answered the NAT tests ({})",
                if states.is_empty() {
                    "no server given".to_owned()
                } else {
                    states.join("; ")
                }
            ),
        ));
    }
}

/// Summary lines and the `udp-ipv6` / `nat-eim-ipv6` checks from the IPv6
/// verdict (`nat_ipv6`). Its summary sentence already names the family.
pub(crate) fn summarize_ipv6(v: &NatVerdict, summary: &mut Summary) {
    let answered = v.servers.iter().any(|s| s.status.answered());
    match (v.udp, v.mapping) {
        (UdpStatus::Blocked, _) => {
            summary.problems.push(
                "IPv6: UDP is blocked (TCP reached the IPv6 servers): IPv6 candidates will not connect"
                    .into(),
            );
        }
        (UdpStatus::Unknown, _) if !answered => {
            summary.problems.push(format!(
                "IPv6: no IPv6 STUN server answered ({}): this host's IPv6 path looks broken, \
                 which slows browsers' candidate gathering",
                servers_listing(v)
            ));
            summary.advice.push(
                "fix or disable IPv6 on this network, or remove the servers' AAAA records if \
                 their IPv6 is what is broken"
                    .into(),
            );
        }
        (_, Behaviour::EndpointIndependent) => summary.works.push(v.summary.clone()),
        (_, Behaviour::Unknown) => summary.problems.push(format!(
            "IPv6: the mapping behaviour could not be determined: {}",
            v.summary.trim_start_matches("IPv6: ")
        )),
        _ => {
            summary.problems.push(v.summary.clone());
            summary.advice.push(
                "IPv6 goes through a NAT66 that maps each destination to its own port: peers \
                 need a TURN relay over IPv6 (or IPv4)"
                    .into(),
            );
        }
    }
    let (udp, why) = match v.udp {
        UdpStatus::Ok => (
            CheckStatus::Pass,
            "a UDP Binding request to an IPv6 server was answered".to_owned(),
        ),
        UdpStatus::Blocked => (
            CheckStatus::Fail,
            "no UDP Binding request to an IPv6 server was answered while TCP was".to_owned(),
        ),
        UdpStatus::Unknown => (
            CheckStatus::Fail,
            format!("no IPv6 server answered ({})", servers_listing(v)),
        ),
    };
    summary.checks.push(Check::new(CheckId::UdpIpv6, udp, why));
    let translated = match v.translation {
        Some(Translation::None) => "no translation",
        Some(Translation::Nptv6) => "NPTv6",
        Some(Translation::Nat) => "NAT66",
        None => "translation unknown",
    };
    summary.checks.push(Check::new(
        CheckId::NatEimIpv6,
        match v.mapping {
            Behaviour::EndpointIndependent => CheckStatus::Pass,
            Behaviour::Unknown => CheckStatus::NotTested,
            _ => CheckStatus::Fail,
        },
        format!("{translated}; mapping is {}", json_word(&v.mapping)),
    ));
}

fn servers_listing(v: &NatVerdict) -> String {
    if v.servers.is_empty() {
        return "no server given".to_owned();
    }
    v.servers
        .iter()
        .map(|s| format!("{}: {}", s.server, s.status.describe()))
        .collect::<Vec<_>>()
        .join("; ")
}
