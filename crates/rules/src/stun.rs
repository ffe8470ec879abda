//! The `stun` and `udp` checks and the STUN summary lines.

use model::{Check, CheckId, CheckStatus, Outcome, StunSection, StunServer, Summary, Transport};

/// Summary lines and the `stun` and `udp` checks for the `stun` section.
pub(crate) fn summarize(section: &StunSection, summary: &mut Summary) {
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
    summary.checks.push(Check::new(
        CheckId::Stun,
        if answered.is_empty() {
            CheckStatus::Fail
        } else {
            CheckStatus::Pass
        },
        format!("{} of {total} servers answered", answered.len()),
    ));
    summary.checks.push(Check::new(
        CheckId::Udp,
        match (udp_tried, udp_answered) {
            (false, _) => CheckStatus::NotTested,
            (true, true) => CheckStatus::Pass,
            (true, false) => CheckStatus::Fail,
        },
        if udp_answered {
            "a UDP Binding request was answered"
        } else if udp_tried {
            "no UDP Binding request was answered"
        } else {
            "no UDP server was tried"
        },
    ));
}
