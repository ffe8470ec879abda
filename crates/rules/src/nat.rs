//! The `nat-eim` check (and `udp`, when no STUN section made it) and the
//! NAT summary lines.

use crate::json_word;
use model::{Check, CheckId, CheckStatus, Summary};
use natclass::{Behaviour, NatVerdict, UdpStatus};

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
