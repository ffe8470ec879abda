//! The verdict: direct connectivity against each kind of peer NAT (the
//! hole-punch model), whether the relay works, and the one sentence.

use super::join_words;
use super::relay::turn_results;
use model::diagnosis::{Finding, FindingId, PeerNat, PeerOutlook, RelayOutlook, Severity};
use model::{Outcome, Report, Section};
use natclass::{Behaviour, HolePunchOutcome, NatVerdict, UdpStatus};

/// Direct connectivity against each kind of peer NAT.
pub(super) fn direct(report: &Report) -> Vec<PeerOutlook> {
    let Section::Tested(ours) = &report.nat else {
        return Vec::new();
    };
    if ours.udp != UdpStatus::Ok && ours.mapping == Behaviour::Unknown {
        return Vec::new();
    }
    PeerNat::ALL
        .iter()
        .map(|&peer| PeerOutlook {
            peer,
            outcome: natclass::holepunch(ours, &peer_verdict(peer)).outcome,
        })
        .collect()
}

/// A typical verdict for a peer of kind `peer`.
fn peer_verdict(peer: PeerNat) -> NatVerdict {
    use Behaviour::*;
    let (behind, mapping, filtering) = match peer {
        PeerNat::OpenInternet => (false, EndpointIndependent, EndpointIndependent),
        PeerNat::FullCone => (true, EndpointIndependent, EndpointIndependent),
        PeerNat::RestrictedCone => (true, EndpointIndependent, AddressDependent),
        PeerNat::PortRestrictedCone => (true, EndpointIndependent, AddressAndPortDependent),
        PeerNat::Symmetric => (true, AddressAndPortDependent, AddressAndPortDependent),
    };
    NatVerdict {
        behind_nat: Some(behind),
        mapping,
        filtering,
        udp: UdpStatus::Ok,
        ..NatVerdict::unknown()
    }
}

/// Whether some TURN transport relayed data.
pub(super) fn relay(report: &Report) -> RelayOutlook {
    let results = turn_results(report);
    let mut out = RelayOutlook::default();
    if results.is_empty() {
        return out;
    }
    let mut untested = false;
    for r in results {
        let t = r.transport.to_string();
        let list = if r.ok {
            &mut out.transports
        } else if r.failure.is_none() {
            // The allocation worked but no data test could run: neither.
            untested = true;
            continue;
        } else {
            &mut out.failed
        };
        if !list.contains(&t) {
            list.push(t);
        }
    }
    out.failed.retain(|t| !out.transports.contains(t));
    out.works = if out.transports.is_empty() && out.failed.is_empty() && untested {
        None
    } else {
        Some(!out.transports.is_empty())
    };
    out
}

/// The one sentence at the top: about direct peer-to-peer when the NAT was
/// looked at, about the relay when TURN was, about STUN when that is all
/// the run did; then the most important cause when the sentence does not
/// already say it.
pub(super) fn sentence(
    report: &Report,
    direct: &[PeerOutlook],
    relay: &RelayOutlook,
    findings: &[Finding],
) -> String {
    let ran = |reason: Option<&str>| reason != Some(model::document::NOT_RUN);
    let nat_ran = ran(report.nat.reason());
    let turn_ran = ran(report.turn.reason());
    // Blocked UDP over IPv4 (IPv6's own has its own words, below).
    let udp_blocked = findings.iter().any(|x| {
        x.id == FindingId::UdpBlocked && !x.evidence.iter().any(|e| e.path.starts_with(".nat_ipv6"))
    });
    let ipv6_part = ipv6_sentence(report);
    let relay_part = relay_sentence(relay, findings);
    let mut parts: Vec<String> = Vec::new();
    if udp_blocked {
        parts.push(
            "Direct peer-to-peer over UDP cannot work from this network (outbound UDP is blocked)"
                .to_owned(),
        );
    } else if nat_ran && (report.nat.tested().is_some() || ipv6_part.is_none()) {
        parts.push(direct_sentence(report, direct));
    }
    if let Some(v6) = ipv6_part {
        // Both families looked at: say which one the first part is about.
        if nat_ran && !parts.is_empty() && report.nat.tested().is_some() {
            parts[0] = format!("over IPv4, {}", decapitalize(&parts[0]));
        }
        parts.insert(usize::from(!parts.is_empty() && nat_ran), v6);
    }
    if turn_ran || (nat_ran && report.command.starts_with("diagnose")) {
        parts.push(relay_part);
    }
    if let Some(b) = browser_sentence(report) {
        parts.push(b);
    }
    if let Some(p) = peer_sentence(report) {
        parts.push(p);
    }
    if let Some(a) = audit_sentence(report, findings) {
        parts.push(a);
    }
    if let Some(l) = load_sentence(report) {
        parts.push(l);
    }
    if parts.is_empty() {
        parts.push(ice_sentence(report).unwrap_or_else(|| stun_sentence(report, findings)));
    }
    let mut sentence = capitalize(&parts.join("; "));
    sentence.push('.');
    // The most important cause, unless the sentence already says it.
    let already_said = |x: &Finding| {
        sentence.to_lowercase().contains(&x.title.to_lowercase())
            || (x.id == FindingId::SectionTimeout && sentence.contains("overall deadline"))
            || (x.id == FindingId::UdpBlocked && udp_blocked)
    };
    if let Some(top) = findings
        .iter()
        .find(|x| x.severity == Severity::Critical && !already_said(x))
    {
        sentence.push_str(&format!(
            " Most important: {}.",
            top.title.trim_end_matches('.')
        ));
    }
    sentence
}

/// The IPv6 part, when IPv6 was classified: its translation and what its
/// firewall lets in, in a few words.
fn ipv6_sentence(report: &Report) -> Option<String> {
    use natclass::Translation;
    let v = report.nat_ipv6.tested()?;
    if v.udp == UdpStatus::Blocked {
        return Some("over IPv6, UDP is blocked (IPv6 candidates will not connect)".to_owned());
    }
    if !v.servers.iter().any(|s| s.status.answered()) {
        if v.servers
            .iter()
            .all(|s| s.status == natclass::ServerStatus::PortClosed)
        {
            return Some(
                "over IPv6, no STUN server answered (nothing listens on their ports)".to_owned(),
            );
        }
        return Some(
            "IPv6 is broken on this network (no IPv6 server answered): browsers lose time on it"
                .to_owned(),
        );
    }
    let inbound = match v.filtering {
        Behaviour::EndpointIndependent => {
            "anyone may send in once this host has sent from that port"
        }
        Behaviour::AddressDependent => {
            "a firewall admits only addresses this host has sent to (hole punching works)"
        }
        Behaviour::AddressAndPortDependent => {
            "a stateful firewall admits only replies, so direct IPv6 works when both sides send (as ICE does)"
        }
        Behaviour::Unknown => "inbound filtering is unknown",
    };
    Some(match v.translation {
        Some(Translation::None) => format!("over IPv6 there is no NAT and {inbound}"),
        Some(Translation::Nptv6) => {
            format!("over IPv6 an NPTv6 prefix translation keeps ports and {inbound}")
        }
        Some(Translation::Nat) => format!(
            "over IPv6 a NAT66 ({}) stands in the way: {}",
            v.rfc3489.name(),
            v.p2p.sentence()
        ),
        None => format!(
            "over IPv6, {}",
            decapitalize(v.summary.trim_start_matches("IPv6: "))
        ),
    })
}

/// The audit's part: how many high-level weaknesses, or none.
fn audit_sentence(report: &Report, findings: &[Finding]) -> Option<String> {
    let a = report.audit.tested()?;
    let names: Vec<&str> = a.servers.iter().map(|s| s.label.as_str()).collect();
    let who = names.join(", ");
    if findings.iter().any(|x| x.id == FindingId::AuditNotPossible) {
        return Some(format!("the TURN audit of {who} could not be made"));
    }
    let high = findings
        .iter()
        .filter(|x| x.security == Some(model::diagnosis::SecurityLevel::High))
        .count();
    let lower = findings
        .iter()
        .filter(|x| {
            x.security.is_some() && x.security != Some(model::diagnosis::SecurityLevel::High)
        })
        .count();
    Some(match (high, lower) {
        (0, 0) => format!("the TURN audit of {who} found no weakness"),
        (0, n) => {
            format!("the TURN audit of {who} found no high-level weakness ({n} of lower level)")
        }
        (1, _) => format!("the TURN audit of {who} found 1 high-level weakness"),
        (n, _) => format!("the TURN audit of {who} found {n} high-level weaknesses"),
    })
}

/// The load test's part: what the server carried.
fn load_sentence(report: &Report) -> Option<String> {
    let l = report.load.tested()?;
    let t = &l.traffic;
    let mut s = format!(
        "{} carried {} allocations at {:.0} packets/s ({}, median round trip {})",
        l.label,
        l.allocations.created,
        t.received_pps,
        t.loss_percent
            .map(|x| format!("loss {x:.2} %"))
            .unwrap_or_else(|| "loss unknown".into()),
        t.rtt
            .p50_ms
            .map(|x| format!("{x:.2} ms"))
            .unwrap_or_else(|| "unknown".into())
    );
    if let Some(k) = &l.knee {
        s.push_str(&format!(", straining from {} allocations", k.allocations));
    }
    Some(s)
}

/// `s` with a lower-case first letter, to stand inside a sentence (not for
/// names: a title starting with a server name keeps it).
fn decapitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) if first.is_uppercase() && c.clone().next().is_some_and(char::is_lowercase) => {
            first.to_lowercase().chain(c).collect()
        }
        _ => s.to_owned(),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Whether the relay works, and over which transports.
fn relay_sentence(relay: &RelayOutlook, findings: &[Finding]) -> String {
    let upper = |v: &[String]| -> Vec<String> { v.iter().map(|t| t.to_uppercase()).collect() };
    match relay.works {
        Some(true) if relay.failed.is_empty() => format!(
            "the TURN relay works from here over {}",
            join_words(&upper(&relay.transports))
        ),
        Some(true) => format!(
            "the TURN relay works from here over {} (not over {})",
            join_words(&upper(&relay.transports)),
            join_words(&upper(&relay.failed))
        ),
        Some(false) => {
            let cause = findings
                .iter()
                .find(|x| x.id.as_str().starts_with("turn-") && x.severity == Severity::Critical)
                .map(|x| x.title.clone())
                .unwrap_or_else(|| "every TURN transport failed".into());
            format!(
                "the TURN relay does not work from here: {}",
                decapitalize(&cause)
            )
        }
        None => "no TURN relay was tested (configure one in your iceServers; turns: on 443 \
                 reaches through most firewalls)"
            .to_owned(),
    }
}

/// Direct connectivity, by kind of peer NAT.
fn direct_sentence(report: &Report, direct: &[PeerOutlook]) -> String {
    if direct.is_empty() {
        let why = match &report.nat {
            Section::Tested(v) if v.mapping == Behaviour::Unknown => {
                "the NAT's behaviour could not be determined".to_owned()
            }
            Section::Tested(_) => "the NAT test found too little".to_owned(),
            Section::NotTested { reason } => format!("the NAT was not tested: {reason}"),
            Section::Failed { reason } if reason.contains("overall deadline") => {
                "the NAT test did not finish within the overall deadline".to_owned()
            }
            Section::Failed { reason } => format!("the NAT test could not run: {reason}"),
        };
        return format!("whether direct peer-to-peer works from here is unknown: {why}");
    }
    let with = |pred: fn(HolePunchOutcome) -> bool| -> Vec<String> {
        direct
            .iter()
            .filter(|p| pred(p.outcome))
            .map(|p| p.peer.label().to_owned())
            .collect()
    };
    let ok = with(|o| matches!(o, HolePunchOutcome::Direct | HolePunchOutcome::DirectLikely));
    let relayed = with(|o| o == HolePunchOutcome::RelayNeeded);
    let unknown = with(|o| o == HolePunchOutcome::Unknown);
    let mut s = if ok.len() == direct.len() {
        "direct peer-to-peer works from here with peers behind any kind of NAT".to_owned()
    } else if ok.is_empty() && unknown.is_empty() {
        "direct peer-to-peer from here needs a relay with every kind of peer".to_owned()
    } else if ok.is_empty() {
        "direct peer-to-peer from here is unknown with most peers".to_owned()
    } else {
        format!(
            "direct peer-to-peer works from here with {}",
            join_words(&ok)
        )
    };
    if !relayed.is_empty() && !ok.is_empty() {
        s.push_str(&format!(
            "; peers behind {} need a relay",
            join_words(&relayed)
        ));
    }
    if !unknown.is_empty() && !ok.is_empty() {
        s.push_str(&format!("; with {} it is unknown", join_words(&unknown)));
    }
    s
}

/// How a real browser connected to natscope's peer, when one was tested.
fn browser_sentence(report: &Report) -> Option<String> {
    use crate::browser::{label, pair_types, relayed};
    use model::browser::{BrowserConnection, BrowserOutcome, BrowserPolicy};
    let Section::Tested(b) = &report.browser else {
        return None;
    };
    let who = label(b);
    fn connected(c: Option<&BrowserConnection>) -> Option<&BrowserConnection> {
        c.filter(|c| match c.outcome {
            BrowserOutcome::Connected => true,
            BrowserOutcome::Failed | BrowserOutcome::TimedOut => false,
        })
    }
    let all = b.connection(BrowserPolicy::All);
    let relay = b.connection(BrowserPolicy::Relay);
    let pair = |c: &BrowserConnection| {
        c.selected
            .as_ref()
            .map(|p| format!(" ({})", pair_types(p)))
            .unwrap_or_default()
    };
    Some(match (all, connected(all), relay, connected(relay)) {
        (_, Some(a), _, _) if a.selected.as_ref().is_some_and(relayed) => format!(
            "{who} connects to natscope's peer only through the TURN relay{}",
            pair(a)
        ),
        (_, Some(a), Some(_), Some(r)) => format!(
            "{who} connects to natscope's peer directly{} and through the TURN relay{}",
            pair(a),
            pair(r)
        ),
        (_, Some(a), Some(_), None) => format!(
            "{who} connects to natscope's peer directly{}, but not through the TURN relay",
            pair(a)
        ),
        (_, Some(a), None, _) => format!("{who} connects to natscope's peer directly{}", pair(a)),
        (Some(_), None, _, Some(r)) => format!(
            "{who} connects to natscope's peer only through the TURN relay{} (not with every \
             candidate type allowed)",
            pair(r)
        ),
        (None, None, _, Some(r)) => format!(
            "{who} connects to natscope's peer through the TURN relay{}",
            pair(r)
        ),
        (Some(_), None, _, None) | (None, None, Some(_), None) => {
            format!("{who} does not connect to natscope's peer")
        }
        (None, None, None, None) if b.gathering.is_empty() => {
            format!("{who} was not tested against natscope's peer")
        }
        (None, None, None, None) => {
            format!("{who} gathered candidates but did not try to connect to natscope's peer")
        }
    })
}

/// How this machine and the other one connected (`natscope peer`), and
/// whether their NAT types predicted it.
fn peer_sentence(report: &Report) -> Option<String> {
    use crate::peer::{connected, direct_connection, failure_title, path, predicted_words, tried};
    use model::peer::{PeerOutcome, PeerPolicy};
    let s = report.peer.tested()?;
    let held = match (s.prediction_held, &s.predicted) {
        (Some(true), Some(_)) => ", as their NAT types predicted".to_owned(),
        (Some(false), Some(p)) => format!(
            ", although their NAT types predicted {}",
            predicted_words(p.outcome)
        ),
        _ => String::new(),
    };
    let pair =
        |p: &model::peer::PeerPolicyResult| path(p).map(|x| format!(" ({x})")).unwrap_or_default();
    let both = "this machine and the other machine";
    let relay = s.policy(PeerPolicy::RelayAllowed);
    Some(if let Some(p) = direct_connection(s) {
        if p.outcome == PeerOutcome::Reversed {
            format!(
                "{both} connect directly{}, one of them reachable without a hole punch{held}",
                pair(p)
            )
        } else {
            format!("{both} connect directly by hole punching{}{held}", pair(p))
        }
    } else if let Some(p) = relay.filter(|p| connected(p)) {
        format!(
            "{both} connect only through the TURN relay{}{held}",
            pair(p)
        )
    } else if s.policies.iter().any(tried) {
        if relay.is_some_and(tried) {
            format!("{both} do not connect, neither directly nor through the TURN relay{held}")
        } else {
            format!("{both} do not connect directly, and no TURN relay was tried{held}")
        }
    } else if let Some(f) = &s.failure {
        decapitalize(&failure_title(f))
    } else {
        format!("whether {both} connect was not tested")
    })
}

/// For a run that only asked STUN servers.
/// Which ICE pairings connected, for a run that tested ICE but neither the
/// NAT nor TURN (`natscope ice`).
fn ice_sentence(report: &Report) -> Option<String> {
    let Section::Tested(s) = &report.ice else {
        return None;
    };
    // Runs whose servers were not given were not tested.
    let given = crate::ice::IceServersGiven::from_labels(&report.options.servers);
    let (ok, failed): (Vec<_>, Vec<_>) = s
        .runs
        .iter()
        .filter(|r| given.configured(r.filter))
        .partition(|r| r.connected);
    if ok.is_empty() && failed.is_empty() {
        return None;
    }
    let labels =
        |v: &[&model::ice::IceRun]| -> Vec<String> { v.iter().map(|r| r.label()).collect() };
    Some(match (ok.is_empty(), failed.is_empty()) {
        (false, true) => format!(
            "ICE connects from here: every pairing tested connected ({})",
            join_words(&labels(&ok))
        ),
        (true, _) => format!(
            "ICE does not connect from here: no pairing connected ({})",
            join_words(&labels(&failed))
        ),
        (false, false) => format!(
            "ICE connects from here over {}; {} did not connect",
            join_words(&labels(&ok)),
            join_words(&labels(&failed))
        ),
    })
}

fn stun_sentence(report: &Report, findings: &[Finding]) -> String {
    let Section::Tested(s) = &report.stun else {
        return "nothing that decides peer-to-peer was tested".to_owned();
    };
    let answered = s
        .servers
        .iter()
        .filter(|x| x.outcome == Outcome::Ok)
        .count();
    if answered == 0 {
        let cause = findings
            .iter()
            .find(|x| x.severity == Severity::Critical)
            .map(|x| x.title.clone())
            .unwrap_or_else(|| "no server answered".into());
        return format!("STUN does not work from here: {}", decapitalize(&cause));
    }
    let public = s.servers.iter().find_map(|x| x.mapped);
    match public {
        Some(p) => format!(
            "STUN works from here: {answered} of {} servers answered and see this host as {p}",
            s.servers.len()
        ),
        None => format!(
            "STUN works from here: {answered} of {} servers answered",
            s.servers.len()
        ),
    }
}
