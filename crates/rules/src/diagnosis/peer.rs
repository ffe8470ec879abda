//! Findings about a `natscope peer` session: the session that failed, the
//! two machines that did not connect, a connection only the TURN relay
//! made (and why, from both NAT verdicts), a prediction that did not hold,
//! and ICE and the plain hole punch disagreeing.

use super::{Findings, failed_checks, finding};
use crate::peer::{
    behind, connected, direct_connection, failure_title, observed_words, one_line, policy_index,
    predicted_words, punch_words, relay_only, side_nat, text, tried, why,
};
use model::diagnosis::{Finding, FindingId, Severity};
use model::peer::{PeerObserved, PeerOutcome, PeerPolicy, PeerSection};
use model::{CheckId, Report, Section};
use natclass::{Behaviour, HolePunchOutcome, NatVerdict, UdpStatus};

pub(super) fn peer(report: &Report, f: &mut Findings) {
    let Section::Tested(s) = &report.peer else {
        return;
    };
    session_failed(report, s, f);
    no_connection(report, s, f);
    relay_needed(report, s, f);
    prediction_differs(s, f);
    punch_disagrees(s, f);
}

/// Evidence of both sides' NAT types.
fn with_nats(mut x: Finding, s: &PeerSection) -> Finding {
    x = x.with_evidence(
        ".peer.local_nat",
        format!("this machine: {}", side_nat(s, true)),
    );
    x.with_evidence(
        ".peer.remote_nat",
        format!("the other machine: {}", side_nat(s, false)),
    )
}

/// Evidence of one policy's outcome.
fn with_policy(x: Finding, s: &PeerSection, policy: PeerPolicy) -> Finding {
    let Some(i) = policy_index(s, policy) else {
        return x;
    };
    let p = &s.policies[i];
    let detail = match p.outcome {
        PeerOutcome::Success | PeerOutcome::Reversed => match crate::peer::path(p) {
            Some(path) => format!("{} over {path}", p.outcome.as_str()),
            None => p.outcome.as_str().to_owned(),
        },
        PeerOutcome::Failed | PeerOutcome::NotTested => {
            format!("{}: {}", p.outcome.as_str(), why(p))
        }
    };
    x.with_evidence(format!(".peer.policies[{i}].outcome"), detail)
}

/// The session itself failed (rendezvous, code, the other side).
fn session_failed(report: &Report, s: &PeerSection, f: &mut Findings) {
    let Some(fail) = &s.failure else {
        return;
    };
    let kind = one_line(&fail.kind, 40);
    let remedy = text(&fail.remedy);
    let remedy = if remedy.is_empty() {
        fallback_remedy(&kind).to_owned()
    } else {
        remedy
    };
    let x = finding(
        FindingId::PeerSessionFailed,
        Severity::Critical,
        failure_title(fail),
        remedy,
    )
    .with_evidence(".peer.failure.kind", kind)
    .with_evidence(".peer.failure.message", text(&fail.message))
    .explaining(failed_checks(
        report,
        &[CheckId::PeerSession, CheckId::PeerConnect],
    ));
    f.add(x);
}

/// What to do about a session failure whose report has no remedy.
fn fallback_remedy(kind: &str) -> &'static str {
    match kind {
        "rendezvous-url" => "Give the rendezvous as http://HOST[:PORT] or https://HOST[:PORT]",
        "rendezvous-unreachable" => {
            "Check that natscope serve --rendezvous runs on that host and port, and that both \
             machines reach it (a firewall, a proxy, the wrong port)"
        }
        "unknown-session" => {
            "Check the code the other machine printed (it is valid for one session only, until \
             it ends), or open a new session"
        }
        "session-full" => "The session already has two sides: open a new one",
        "peer-never-came" => {
            "Run natscope peer with the code on the other machine before the wait ends \
             (--join-timeout)"
        }
        "rendezvous-refused" | "rendezvous-bounds" => {
            "The rendezvous refused this client (too many sessions or messages from this \
             address): wait a little and try again, or ask its operator"
        }
        "peer-timeout" => {
            "Check that the other side is still running; a very slow link or a stalled \
             rendezvous also does this"
        }
        "peer-left" => "See the other side's report for why it stopped",
        "peer-message" => "Run the same natscope version on both sides",
        _ => "See the other side's report, and run both sides again",
    }
}

/// Neither policy connected.
fn no_connection(report: &Report, s: &PeerSection, f: &mut Findings) {
    if crate::peer::any_connected(s) || !s.policies.iter().any(tried) {
        return;
    }
    let relay = s.policy(PeerPolicy::RelayAllowed);
    let relay_tried = relay.is_some_and(tried);
    let title = if relay_tried {
        "This machine and the other machine did not connect, neither directly nor through the \
         TURN relay"
    } else {
        "This machine and the other machine did not connect directly, and no TURN relay was \
         tried"
    };
    let udp = [&s.local_nat, &s.remote_nat]
        .into_iter()
        .flatten()
        .any(|v| v.udp == UdpStatus::Blocked);
    let remedy = if relay_tried {
        "The TURN relay did not connect either: test the TURN server from both machines \
         (natscope turn, natscope ice), check its credentials on both sides, and offer TURN \
         over TLS on port 443 (turns:HOST:443) for networks that block UDP; check that UDP \
         leaves both networks"
    } else if udp {
        "UDP is blocked on one side: give both sides a TURN server reached over TCP or TLS \
         (--turn turns:HOST:443), so the relay connects them"
    } else {
        "Give both sides a TURN server (--turn turn:HOST, or turns:HOST:443 for strict \
         networks): it connects machines that cannot reach each other directly; and check that \
         UDP leaves both networks (a firewall that drops it stops every direct path)"
    };
    let mut x = finding(
        FindingId::PeerNoConnection,
        Severity::Critical,
        title,
        remedy,
    );
    for p in PeerPolicy::ALL {
        x = with_policy(x, s, p);
    }
    x = with_nats(x, s);
    if let Some(p) = &s.predicted {
        x = x.with_evidence(
            ".peer.predicted.outcome",
            format!("{}: {}", json(p.outcome), text(&p.reason)),
        );
    }
    f.add(x.explaining(failed_checks(
        report,
        &[CheckId::PeerConnect, CheckId::PeerDirect],
    )));
}

/// Whether a verdict's mapping is known to be endpoint-dependent.
fn symmetric(v: &NatVerdict) -> bool {
    v.behind_nat != Some(false)
        && matches!(
            v.mapping,
            Behaviour::AddressDependent | Behaviour::AddressAndPortDependent
        )
}

/// Why no direct path exists, from both NAT verdicts.
fn why_relay(s: &PeerSection) -> String {
    let (Some(l), Some(r)) = (&s.local_nat, &s.remote_nat) else {
        let missing = match (&s.local_nat, &s.remote_nat) {
            (None, None) => "neither machine's NAT was classified",
            (None, Some(_)) => "this machine's NAT was not classified",
            _ => "the other machine's NAT verdict did not arrive",
        };
        return format!("the cause cannot be told ({missing})");
    };
    let this = side_nat(s, true);
    let other = side_nat(s, false);
    if l.udp == UdpStatus::Blocked || r.udp == UdpStatus::Blocked {
        let who = if l.udp == UdpStatus::Blocked {
            "this machine's network"
        } else {
            "the other machine's network"
        };
        return format!("{who} blocks UDP, so only a relay over TCP or TLS gets through");
    }
    let prediction = natclass::holepunch(l, r);
    match prediction.outcome {
        HolePunchOutcome::RelayNeeded => {
            let how = match (symmetric(l), symmetric(r)) {
                (true, true) => "both NATs give each destination its own port, so neither \
                                 side learns the port the other's packets will come from"
                    .to_owned(),
                (true, false) | (false, true) => {
                    let (sym, strict) = if symmetric(l) {
                        ("this machine's", "the other machine's")
                    } else {
                        ("the other machine's", "this machine's")
                    };
                    format!(
                        "{sym} NAT gives each destination its own port, and {strict} NAT \
                         admits only the exact address and port it sent to, which the \
                         symmetric side never uses towards it"
                    )
                }
                (false, false) => text(&prediction.reason),
            };
            format!(
                "{} and {}; {how}",
                behind("this machine", &this),
                behind("the other machine", &other)
            )
        }
        HolePunchOutcome::Direct | HolePunchOutcome::DirectLikely => format!(
            "{} and {}, which should connect directly; something else on the path drops the \
             direct packets (a firewall between the two networks, or a NAT that behaves \
             otherwise towards the other machine than towards the STUN server)",
            behind("this machine", &this),
            behind("the other machine", &other)
        ),
        HolePunchOutcome::Unknown => format!(
            "{} and {}; too little is known of them to tell why",
            behind("this machine", &this),
            behind("the other machine", &other)
        ),
    }
}

/// The direct policy failed and the relay connected.
fn relay_needed(report: &Report, s: &PeerSection, f: &mut Findings) {
    let Some(p) = relay_only(s) else {
        return;
    };
    let title = match crate::peer::path(p) {
        Some(x) => {
            format!("Only the TURN relay connected this machine and the other machine ({x})")
        }
        None => "Only with TURN relays allowed did ICE connect this machine and the other machine"
            .to_owned(),
    };
    let sym = [&s.local_nat, &s.remote_nat]
        .into_iter()
        .flatten()
        .any(symmetric);
    let mut remedy = "Keep a TURN server in the iceServers of both sides: these two networks \
                      need it. Offer TURN over TLS on port 443 (turns:HOST:443) too, which \
                      passes the strictest firewalls"
        .to_owned();
    if sym {
        remedy.push_str(
            "; on a network you run, switching the symmetric NAT to endpoint-independent \
             mapping (nftables masquerade without fully-random) makes direct connections \
             possible",
        );
    }
    let mut x = finding(
        FindingId::PeerRelayNeeded,
        Severity::Warning,
        format!("{title}: {}", why_relay(s)),
        remedy,
    );
    x = with_policy(x, s, PeerPolicy::Direct);
    x = with_policy(x, s, PeerPolicy::RelayAllowed);
    x = with_nats(x, s);
    f.add(x.explaining(failed_checks(report, &[CheckId::PeerDirect])));
}

fn json<T: serde::Serialize>(v: T) -> String {
    crate::json_word(&v)
}

/// What happened is not what the two verdicts predicted.
fn prediction_differs(s: &PeerSection, f: &mut Findings) {
    if s.prediction_held != Some(false) {
        return;
    }
    let Some(p) = &s.predicted else {
        return;
    };
    // Better than predicted is good news; worse limits the two machines.
    let direct_seen = matches!(s.observed, PeerObserved::Direct | PeerObserved::HolePunched);
    let severity = match p.outcome {
        HolePunchOutcome::RelayNeeded if direct_seen => Severity::Info,
        HolePunchOutcome::DirectLikely if s.observed == PeerObserved::Direct => Severity::Info,
        _ => Severity::Warning,
    };
    let x = finding(
        FindingId::PeerPredictionDiffers,
        severity,
        format!(
            "The NAT types of this machine ({}) and the other machine ({}) predicted {}, but {}",
            side_nat(s, true),
            side_nat(s, false),
            predicted_words(p.outcome),
            observed_words(s.observed)
        ),
        "Trust the observed result: it is what these two networks did. The prediction comes \
         from the hole-punch table (docs/holepunch.md); please report this pair of NAT types \
         with both machines' reports so the table can be corrected",
    )
    .with_evidence(
        ".peer.predicted",
        format!("{}: {}", json(p.outcome), text(&p.reason)),
    )
    .with_evidence(".peer.observed", s.observed.as_str());
    f.add(with_nats(x, s));
}

/// ICE with direct candidates and the plain hole punch disagree.
fn punch_disagrees(s: &PeerSection, f: &mut Findings) {
    let Section::Tested(h) = &s.holepunch else {
        return;
    };
    let Some(d) = s.policy(PeerPolicy::Direct).filter(|d| tried(d)) else {
        return;
    };
    let ice_direct = connected(d) || direct_connection(s).is_some();
    let x = match (ice_direct, h.success) {
        (false, true) => finding(
            FindingId::PeerPunchDisagrees,
            Severity::Warning,
            format!(
                "ICE with host and srflx candidates did not connect, but the plain UDP hole \
                 punch did: {}",
                punch_words(h)
            ),
            "A direct path exists and ICE missed it: a NAT that drops the first packets of a \
             new flow, or a connectivity-check deadline too short for the path \
             (--connect-timeout), does this. Run again; apps using ICE may meet the same and \
             fall back to the relay",
        ),
        (true, false) => finding(
            FindingId::PeerPunchDisagrees,
            Severity::Info,
            format!(
                "ICE connected directly, but the plain UDP hole punch did not: {}",
                punch_words(h)
            ),
            "Nothing to fix for apps using ICE: ICE retransmits its checks and learns \
             peer-reflexive addresses (a NAT's new port towards the other side) that a plain \
             punch to the advertised address does not; a NAT that maps a new port per \
             destination or filters by port explains the difference",
        ),
        _ => return,
    };
    let x = with_policy(x, s, PeerPolicy::Direct)
        .with_evidence(".peer.holepunch.success", h.success.to_string());
    f.add(x);
}

#[cfg(test)]
mod tests {
    use crate::peer::tests::{punch, punched, relayed, report, result, unreachable, verdict};
    use crate::{conclude, verdict as exit};
    use model::diagnosis::{FindingId, Severity};
    use model::peer::{PeerObserved, PeerOutcome, PeerPolicy, PeerSection};
    use model::{CheckId, Report, Section};
    use natclass::Behaviour::*;

    fn concluded(s: PeerSection) -> Report {
        let mut r = report(s);
        conclude(&mut r);
        r
    }

    fn ids(r: &Report) -> Vec<&str> {
        r.diagnosis.findings.iter().map(|f| f.id.as_str()).collect()
    }

    fn one(r: &Report, id: FindingId) -> &model::diagnosis::Finding {
        r.diagnosis
            .findings
            .iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("no {id}: {:#?}", r.diagnosis.findings))
    }

    #[test]
    fn a_hole_punched_session_passes_with_no_finding() {
        let r = concluded(punched());
        assert_eq!(exit(&r.summary), crate::Verdict::Pass);
        assert!(r.diagnosis.findings.is_empty(), "{:#?}", r.diagnosis);
        assert_eq!(
            r.diagnosis.verdict,
            "This machine and the other machine connect directly by hole punching \
             (srflx-srflx), as their NAT types predicted."
        );
    }

    #[test]
    fn relay_needed_explains_why_from_both_nats() {
        let r = concluded(relayed());
        assert_eq!(exit(&r.summary), crate::Verdict::Fail);
        let x = one(&r, FindingId::PeerRelayNeeded);
        assert_eq!(x.severity, Severity::Warning);
        assert!(x.explains.contains(&CheckId::PeerDirect), "{x:?}");
        assert!(
            x.title.contains("this machine is behind a symmetric NAT")
                && x.title
                    .contains("the other machine is behind a port-restricted-cone NAT")
                && x.title
                    .contains("this machine's NAT gives each destination its own port"),
            "{}",
            x.title
        );
        assert!(x.remedy.contains("turns:HOST:443"), "{}", x.remedy);
        assert!(x.remedy.contains("endpoint-independent"), "{}", x.remedy);
        assert!(r.summary.advice.contains(&x.remedy));
        assert!(
            r.diagnosis
                .verdict
                .starts_with("This machine and the other machine connect only through the TURN relay (relay-srflx), as their NAT types predicted"),
            "{}",
            r.diagnosis.verdict
        );
        assert!(!ids(&r).contains(&"check-failed"), "{:?}", ids(&r));
    }

    #[test]
    fn a_failed_session_is_critical_with_its_remedy() {
        let r = concluded(unreachable());
        assert_eq!(exit(&r.summary), crate::Verdict::Fail);
        let x = one(&r, FindingId::PeerSessionFailed);
        assert_eq!(x.severity, Severity::Critical);
        assert_eq!(
            x.title,
            "The session with the other machine failed: the rendezvous https://rv.example.net \
             did not answer (connection refused)"
        );
        assert!(x.explains.contains(&CheckId::PeerSession));
        assert!(x.explains.contains(&CheckId::PeerConnect));
        assert!(
            r.summary
                .advice
                .iter()
                .any(|a| a.contains("natscope serve --rendezvous"))
        );
        // Said once: the verdict's words are the finding's title.
        assert_eq!(
            r.diagnosis.verdict,
            "The session with the other machine failed: the rendezvous https://rv.example.net \
             did not answer (connection refused)."
        );
        assert_eq!(ids(&r), ["peer-session-failed"]);

        // Without a remedy in the report, one by kind.
        let mut s = unreachable();
        if let Some(f) = &mut s.failure {
            f.kind = "unknown-session".into();
            f.remedy.clear();
        }
        let r = concluded(s);
        assert!(
            one(&r, FindingId::PeerSessionFailed)
                .remedy
                .contains("Check the code")
        );
    }

    #[test]
    fn no_connection_says_what_to_add() {
        let mut s = relayed();
        s.policies[1] = result(PeerPolicy::RelayAllowed, PeerOutcome::NotTested, "");
        s.observed = PeerObserved::NoConnection;
        let r = concluded(s);
        let x = one(&r, FindingId::PeerNoConnection);
        assert_eq!(x.severity, Severity::Critical);
        assert!(x.title.contains("no TURN relay was tried"), "{}", x.title);
        assert!(x.remedy.contains("--turn"), "{}", x.remedy);
        assert!(x.explains.contains(&CheckId::PeerConnect));
        assert!(x.explains.contains(&CheckId::PeerDirect));
        assert!(!ids(&r).contains(&"peer-relay-needed"));

        let mut s = relayed();
        s.policies[1] = result(PeerPolicy::RelayAllowed, PeerOutcome::Failed, "");
        s.observed = PeerObserved::NoConnection;
        let r = concluded(s);
        let x = one(&r, FindingId::PeerNoConnection);
        assert!(
            x.title
                .contains("neither directly nor through the TURN relay")
        );
        assert!(x.remedy.contains("natscope turn"), "{}", x.remedy);
        assert!(
            r.diagnosis.verdict.contains("do not connect"),
            "{}",
            r.diagnosis.verdict
        );
    }

    #[test]
    fn a_prediction_that_did_not_hold_names_both_sides() {
        // Both port-restricted: direct predicted, only the relay worked.
        let mut s = relayed();
        s.local_nat = Some(verdict(EndpointIndependent, AddressAndPortDependent));
        s.predicted = Some(natclass::holepunch(
            s.local_nat.as_ref().expect("set"),
            s.remote_nat.as_ref().expect("set"),
        ));
        s.prediction_held = Some(false);
        let r = concluded(s);
        let x = one(&r, FindingId::PeerPredictionDiffers);
        assert_eq!(x.severity, Severity::Warning);
        assert_eq!(
            x.title,
            "The NAT types of this machine (a port-restricted-cone NAT (endpoint-independent \
             mapping, address-and-port-dependent filtering)) and the other machine (a \
             port-restricted-cone NAT (endpoint-independent mapping, address-and-port-dependent \
             filtering)) predicted a direct connection by hole punching, but only the TURN \
             relay connected them"
        );
        assert!(x.remedy.contains("docs/holepunch.md"));
        assert!(
            x.evidence
                .iter()
                .any(|e| e.path == ".peer.observed" && e.detail == "relayed")
        );
        // The relay finding says the verdicts did not explain it.
        let y = one(&r, FindingId::PeerRelayNeeded);
        assert!(y.title.contains("should connect directly"), "{}", y.title);
        assert!(
            r.diagnosis
                .verdict
                .contains("although their NAT types predicted"),
            "{}",
            r.diagnosis.verdict
        );

        // Better than predicted: worth knowing only.
        let mut s = punched();
        s.predicted = Some(natclass::HolePunchPrediction {
            outcome: natclass::HolePunchOutcome::RelayNeeded,
            reason: "a table entry".into(),
        });
        s.prediction_held = Some(false);
        let r = concluded(s);
        assert_eq!(
            one(&r, FindingId::PeerPredictionDiffers).severity,
            Severity::Info
        );
        assert_eq!(exit(&r.summary), crate::Verdict::Pass);
    }

    #[test]
    fn ice_and_the_plain_punch_disagreeing_is_named() {
        let mut s = relayed();
        s.holepunch = Section::Tested(punch(true));
        let r = concluded(s);
        let x = one(&r, FindingId::PeerPunchDisagrees);
        assert_eq!(x.severity, Severity::Warning);
        assert!(
            x.title.contains("the plain UDP hole punch did"),
            "{}",
            x.title
        );

        let mut s = punched();
        s.holepunch = Section::Tested(punch(false));
        let r = concluded(s);
        let x = one(&r, FindingId::PeerPunchDisagrees);
        assert_eq!(x.severity, Severity::Info);
        assert_eq!(exit(&r.summary), crate::Verdict::Pass);
    }

    #[test]
    fn a_section_not_tested_says_nothing_and_a_failed_one_fails() {
        let mut r = Report::new("diagnose", "2026-12-07T10:30:00Z");
        conclude(&mut r);
        assert!(!r.diagnosis.verdict.contains("other machine"));
        let mut r = Report::new("peer", "2026-12-07T10:30:00Z");
        r.peer = Section::failed("cannot bind 0.0.0.0:0: address in use");
        conclude(&mut r);
        assert_eq!(exit(&r.summary), crate::Verdict::Fail);
        assert!(
            r.diagnosis
                .findings
                .iter()
                .any(|f| f.id == FindingId::SectionFailed
                    && f.explains.contains(&CheckId::PeerConnect)),
            "{:#?}",
            r.diagnosis.findings
        );
    }

    #[test]
    fn untrusted_text_stays_on_one_line() {
        let mut s = unreachable();
        if let Some(f) = &mut s.failure {
            f.kind = "peer-left".into();
            f.message = "the other side stopped:\nline two\r\n\u{1b}[31mred".into();
        }
        let r = concluded(s);
        for text in r
            .diagnosis
            .findings
            .iter()
            .flat_map(|f| [&f.title, &f.remedy])
            .chain(&r.summary.problems)
            .chain(std::iter::once(&r.diagnosis.verdict))
        {
            assert!(!text.chars().any(char::is_control), "{text:?}");
        }
    }
}
