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
    summary.checks.push(Check::new(
        CheckId::Udp,
        match v.udp {
            UdpStatus::Ok => CheckStatus::Pass,
            UdpStatus::Blocked => CheckStatus::Fail,
            UdpStatus::Unknown => CheckStatus::NotTested,
        },
        format!("UDP: {}", json_word(&v.udp)),
    ));
}
