//! The `peer-session`, `peer-connect` and `peer-direct` checks and the
//! summary lines of `natscope peer`: ICE per policy, the plain UDP hole
//! punch and the prediction from both sides' NAT verdicts, between this
//! machine and another one met through a rendezvous.
//!
//! `peer-direct` fails when only the TURN relay connected the two machines,
//! as `ice-srflx` and `nat-eim` fail on a network that needs a relay: the
//! question `natscope peer` answers is whether the two machines connect
//! directly. `peer-connect` says whether they connect at all.
//!
//! The other side's NAT verdict, version and stop reason came from the
//! network: only their enum values are put into words, and free text is
//! cut to one short line ([`one_line`]).

use crate::json_word;
use model::peer::{
    HolePunch, PeerFailure, PeerObserved, PeerOutcome, PeerPolicy, PeerPolicyResult, PeerSection,
    PunchDirection,
};
use model::{Check, CheckId, CheckStatus, Section, Summary};
use natclass::{Behaviour, HolePunchOutcome, NatVerdict, Rfc3489Type, UdpStatus};

/// Longest free text quoted from the section.
const MAX_TEXT: usize = 200;
/// Longest path name quoted (`srflx-srflx`).
const MAX_PATH: usize = 40;

/// `s` as one line of at most `max` characters: control characters and
/// runs of white space become one space; longer text ends in `…`.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut gap = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() {
            gap = !out.is_empty();
            continue;
        }
        if n >= max {
            out.push('…');
            return out;
        }
        if gap {
            out.push(' ');
            n += 1;
            gap = false;
        }
        out.push(c);
        n += 1;
    }
    out
}

/// Free text of the section, for a sentence (one line, no final period).
pub(crate) fn text(s: &str) -> String {
    one_line(s, MAX_TEXT).trim_end_matches('.').to_owned()
}

/// Whether a policy connected the two machines.
pub(crate) fn connected(p: &PeerPolicyResult) -> bool {
    matches!(p.outcome, PeerOutcome::Success | PeerOutcome::Reversed)
}

/// Whether a policy ran (connected or not).
pub(crate) fn tried(p: &PeerPolicyResult) -> bool {
    p.outcome != PeerOutcome::NotTested
}

/// The selected pair's types (`srflx-srflx`), when known.
pub(crate) fn path(p: &PeerPolicyResult) -> Option<String> {
    p.path
        .as_deref()
        .map(|s| one_line(s, MAX_PATH))
        .filter(|s| !s.is_empty())
}

/// Whether the selected pair went through a relay (`None`: not known).
pub(crate) fn relayed_path(p: &PeerPolicyResult) -> Option<bool> {
    path(p).map(|s| s.contains("relay"))
}

/// The index of `policy`'s result in `.peer.policies`.
pub(crate) fn policy_index(s: &PeerSection, policy: PeerPolicy) -> Option<usize> {
    s.policies.iter().position(|p| p.policy == policy)
}

/// The result that connected the two machines directly: the `direct`
/// policy, else `relay-allowed` when ICE selected a pair without a relay.
pub(crate) fn direct_connection(s: &PeerSection) -> Option<&PeerPolicyResult> {
    s.policy(PeerPolicy::Direct)
        .filter(|p| connected(p))
        .or_else(|| {
            s.policy(PeerPolicy::RelayAllowed)
                .filter(|p| connected(p) && relayed_path(p) == Some(false))
        })
}

/// The `relay-allowed` result, when it alone connected the two machines
/// (the `direct` policy ran and failed, and the pair was relayed or its
/// types are unknown).
pub(crate) fn relay_only(s: &PeerSection) -> Option<&PeerPolicyResult> {
    let direct_failed = s
        .policy(PeerPolicy::Direct)
        .is_some_and(|d| d.outcome == PeerOutcome::Failed);
    s.policy(PeerPolicy::RelayAllowed)
        .filter(|p| direct_failed && connected(p) && relayed_path(p) != Some(false))
}

/// Whether some policy connected the two machines.
pub(crate) fn any_connected(s: &PeerSection) -> bool {
    s.policies.iter().any(connected)
}

/// Why a policy did not connect (or was not run), in words.
pub(crate) fn why(p: &PeerPolicyResult) -> String {
    if let Some(r) = p.reason.as_deref().map(text).filter(|r| !r.is_empty()) {
        return r;
    }
    if let Some(f) = p.ice.as_ref().and_then(|i| i.failure.as_ref()) {
        return text(&f.describe());
    }
    match p.outcome {
        PeerOutcome::NotTested => "it was not run".to_owned(),
        PeerOutcome::Failed | PeerOutcome::Success | PeerOutcome::Reversed => {
            "it did not connect".to_owned()
        }
    }
}

/// The figures of a connection: `srflx-srflx, 12.0 ms to connect, round
/// trip 3.1 ms, 850 kbit/s`.
pub(crate) fn figures(p: &PeerPolicyResult) -> String {
    let mut parts = Vec::new();
    if let Some(x) = path(p) {
        parts.push(x);
    }
    if let Some(i) = &p.ice {
        if let Some(t) = i
            .time_to_connected_ms
            .filter(|t| t.is_finite() && *t >= 0.0)
        {
            parts.push(format!("{} to connect", crate::browser::ms(t)));
        }
        if let Some(t) = i.rtt_ms.filter(|t| t.is_finite() && *t >= 0.0) {
            parts.push(format!("round trip {}", crate::browser::ms(t)));
        }
    }
    if let Some(k) = p.throughput_kbps.filter(|k| k.is_finite() && *k >= 0.0) {
        parts.push(format!("{k:.0} kbit/s"));
    }
    parts.join(", ")
}

/// ` (figures)`, or nothing.
fn in_brackets(s: String) -> String {
    if s.is_empty() { s } else { format!(" ({s})") }
}

/// A NAT verdict in words: `a symmetric NAT (address-and-port-dependent
/// mapping, address-dependent filtering)`.
pub(crate) fn nat_type(v: &NatVerdict) -> String {
    if v.udp == UdpStatus::Blocked {
        return "a network that blocks UDP".to_owned();
    }
    let kind = match v.rfc3489 {
        Rfc3489Type::OpenInternet => "no NAT",
        Rfc3489Type::SymmetricUdpFirewall => "no NAT, but a firewall that admits only replies",
        Rfc3489Type::FullCone => "a full-cone NAT",
        Rfc3489Type::RestrictedCone => "a restricted-cone NAT",
        Rfc3489Type::PortRestrictedCone => "a port-restricted-cone NAT",
        Rfc3489Type::Cone => "a cone NAT",
        Rfc3489Type::Symmetric => "a symmetric NAT",
        Rfc3489Type::UdpBlocked => return "a network that blocks UDP".to_owned(),
        Rfc3489Type::Unknown if v.behind_nat == Some(false) => "no NAT",
        Rfc3489Type::Unknown => "a NAT of unknown type",
    };
    let mapping = (v.mapping != Behaviour::Unknown && v.behind_nat != Some(false))
        .then(|| format!("{} mapping", json_word(&v.mapping)));
    let filtering = (v.filtering != Behaviour::Unknown)
        .then(|| format!("{} filtering", json_word(&v.filtering)));
    let details: Vec<String> = mapping.into_iter().chain(filtering).collect();
    if details.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({})", details.join(", "))
    }
}

/// This machine's NAT in words (`local`), or the other machine's.
pub(crate) fn side_nat(s: &PeerSection, local: bool) -> String {
    match (local, if local { &s.local_nat } else { &s.remote_nat }) {
        (_, Some(v)) => nat_type(v),
        (true, None) => "a NAT that was not classified".to_owned(),
        (false, None) => "a NAT whose verdict did not arrive".to_owned(),
    }
}

/// `{who} is behind {nat}` (`{who} has no NAT`, `{who} is on a network
/// that blocks UDP`), for a sentence.
pub(crate) fn behind(who: &str, nat: &str) -> String {
    if nat.starts_with("no NAT") {
        format!("{who} has {nat}")
    } else if nat.starts_with("a network") {
        format!("{who} is on {nat}")
    } else {
        format!("{who} is behind {nat}")
    }
}

/// What a prediction said, for a sentence.
pub(crate) fn predicted_words(o: HolePunchOutcome) -> &'static str {
    match o {
        HolePunchOutcome::Direct => "a direct connection without hole punching",
        HolePunchOutcome::DirectLikely => "a direct connection by hole punching",
        HolePunchOutcome::RelayNeeded => "that only a TURN relay would connect them",
        HolePunchOutcome::Unknown => "nothing certain",
    }
}

/// What happened, in the prediction's terms, for a sentence.
pub(crate) fn observed_words(o: PeerObserved) -> &'static str {
    match o {
        PeerObserved::Direct => {
            "they connected directly without a hole punch (one side was reachable)"
        }
        PeerObserved::HolePunched => "they connected directly by hole punching",
        PeerObserved::Relayed => "only the TURN relay connected them",
        PeerObserved::NoConnection => "they did not connect at all",
        PeerObserved::Unknown => "too little was tested to say what happened",
    }
}

/// How a hole punch's packets got through, in words.
fn direction_words(d: PunchDirection) -> &'static str {
    match d {
        PunchDirection::Both => "packets got through both ways, but not within one attempt",
        PunchDirection::LocalToRemote => "only this machine's packets reached the other machine",
        PunchDirection::RemoteToLocal => "only the other machine's packets reached this machine",
        PunchDirection::Neither => "no packet got through either way",
    }
}

/// The attempt that succeeded, in words: `on the first attempt`, `on
/// attempt 2 of 3`.
pub(crate) fn punch_attempt(h: &HolePunch) -> String {
    if h.first_attempt_success {
        return "on the first attempt".to_owned();
    }
    match h.attempts.iter().find(|a| a.success) {
        Some(a) => format!("on attempt {} of {}", a.attempt, HolePunch::MAX_ATTEMPTS),
        None => "after retrying".to_owned(),
    }
}

/// The hole punch in one sentence (after `Plain UDP hole punch: `), and
/// whether it succeeded.
pub(crate) fn punch_words(h: &HolePunch) -> String {
    if h.success {
        let first = h
            .attempts
            .iter()
            .find(|a| a.success)
            .and_then(|a| a.first_in_ms)
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|t| {
                format!(
                    " (first packet from the other machine after {})",
                    crate::browser::ms(t)
                )
            })
            .unwrap_or_default();
        return format!(
            "both machines' packets got through {}{first}",
            punch_attempt(h)
        );
    }
    match h.attempts.last() {
        None => "no attempt was made".to_owned(),
        Some(last) => format!(
            "no attempt got through both ways ({}; {})",
            crate::browser::plural(h.attempts.len(), "attempt"),
            direction_words(last.got_through)
        ),
    }
}

/// The session failure in one sentence: `The session with the other
/// machine failed: …` (the finding's title, the verdict's words).
pub(crate) fn failure_title(f: &PeerFailure) -> String {
    let message = text(&f.message);
    if message.is_empty() {
        format!(
            "The session with the other machine failed ({})",
            one_line(&f.kind, MAX_PATH)
        )
    } else {
        format!("The session with the other machine failed: {message}")
    }
}

/// Summary lines and the three peer checks.
pub(crate) fn summarize(s: &PeerSection, summary: &mut Summary) {
    let direct = s.policy(PeerPolicy::Direct);
    let relay = s.policy(PeerPolicy::RelayAllowed);
    let punch = s.holepunch.tested();
    let mut punch_said = false;
    match direct {
        Some(p) if connected(p) => {
            let how = match (p.outcome, punch) {
                (PeerOutcome::Reversed, _) => {
                    let who = match punch {
                        Some(h) if h.local_reachable && !h.remote_reachable => {
                            "this machine is reachable"
                        }
                        Some(h) if h.remote_reachable && !h.local_reachable => {
                            "the other machine is reachable"
                        }
                        _ => "one side is reachable",
                    };
                    format!("no hole punch needed, {who} without one")
                }
                (_, Some(h)) if h.success => {
                    punch_said = true;
                    format!("hole punched {}", punch_attempt(h))
                }
                _ => "hole punched".to_owned(),
            };
            summary.works.push(format!(
                "Direct connection to the other machine: {how}{}",
                in_brackets(figures(p))
            ));
        }
        Some(p) if p.outcome == PeerOutcome::Failed => summary.problems.push(format!(
            "No direct connection to the other machine: {}",
            why(p)
        )),
        _ => {}
    }
    let direct_ok = direct.is_some_and(connected);
    let direct_failed = direct.is_some_and(|d| d.outcome == PeerOutcome::Failed);
    match relay {
        Some(p) if connected(p) => summary.works.push(match relayed_path(p) {
            Some(false) if direct_ok => format!(
                "With TURN relays allowed too, ICE chose the direct path to the other machine{}",
                in_brackets(figures(p))
            ),
            Some(false) => format!(
                "With TURN relays allowed, ICE found a direct path to the other machine that \
                 the direct policy missed{}",
                in_brackets(figures(p))
            ),
            _ if !direct_ok => format!(
                "Only through the TURN relay: connected to the other machine{}",
                in_brackets(figures(p))
            ),
            _ => format!(
                "Through the TURN relay too: connected to the other machine{}",
                in_brackets(figures(p))
            ),
        }),
        Some(p) if p.outcome == PeerOutcome::Failed => summary.problems.push(if direct_ok {
            format!(
                "Through the TURN relay: did not connect to the other machine: {}",
                why(p)
            )
        } else {
            format!("Not through the TURN relay either: {}", why(p))
        }),
        Some(p) if direct_failed => summary
            .problems
            .push(format!("No TURN relay was tried: {}", why(p))),
        _ => {}
    }
    match &s.holepunch {
        Section::Tested(h) => {
            if h.success && !punch_said {
                summary
                    .works
                    .push(format!("Plain UDP hole punch: {}", punch_words(h)));
            } else if !h.success {
                summary
                    .problems
                    .push(format!("Plain UDP hole punch: {}", punch_words(h)));
            }
            if h.local_reachable {
                summary.works.push(
                    "This machine is reachable without a hole punch: the other machine's \
                     packets reached a socket that had not sent to it"
                        .to_owned(),
                );
            }
            if h.remote_reachable {
                summary.works.push(
                    "The other machine is reachable without a hole punch: this machine's \
                     packets reached a socket that had not sent to it"
                        .to_owned(),
                );
            }
        }
        Section::Failed { reason } => summary.problems.push(format!(
            "Plain UDP hole punch: could not run: {}",
            text(reason)
        )),
        Section::NotTested { .. } => {}
    }
    if let (Some(p), Some(held)) = (&s.predicted, s.prediction_held) {
        let sides = format!(
            "this machine: {}; the other machine: {}",
            side_nat(s, true),
            side_nat(s, false)
        );
        let predicted = predicted_words(p.outcome);
        if held {
            summary.works.push(format!(
                "The NAT types predicted {predicted}, and so it was; {sides}"
            ));
        } else {
            summary.problems.push(format!(
                "The NAT types predicted {predicted}, but {}; {sides}",
                observed_words(s.observed)
            ));
        }
    }
    if let Some(f) = &s.failure {
        summary.problems.push(failure_title(f));
    }
    summary.checks.push(session_check(s));
    summary.checks.push(connect_check(s));
    summary.checks.push(direct_check(s));
}

/// `peer-session`: the session ran to its end.
fn session_check(s: &PeerSection) -> Check {
    match &s.failure {
        Some(f) => Check::new(
            CheckId::PeerSession,
            CheckStatus::Fail,
            failure_title(f).replacen("The session", "the session", 1),
        ),
        None => Check::new(
            CheckId::PeerSession,
            CheckStatus::Pass,
            format!(
                "the session through {} ran to its end",
                one_line(&s.rendezvous, MAX_TEXT)
            ),
        ),
    }
}

/// `peer-connect`: some policy connected the two machines.
fn connect_check(s: &PeerSection) -> Check {
    let id = CheckId::PeerConnect;
    let ok = |p: &PeerPolicyResult, only: &str| {
        Check::new(
            id.clone(),
            CheckStatus::Pass,
            format!(
                "connected{only} under policy {}{}",
                p.policy.as_str(),
                in_brackets(path(p).unwrap_or_default())
            ),
        )
    };
    let direct = s.policy(PeerPolicy::Direct);
    let relay = s.policy(PeerPolicy::RelayAllowed);
    if let Some(p) = direct.filter(|p| connected(p)) {
        return ok(p, "");
    }
    if let Some(p) = relay.filter(|p| connected(p)) {
        return ok(p, " only");
    }
    let tried_any = s.policies.iter().any(tried);
    match (&s.failure, tried_any) {
        (Some(f), false) => Check::new(
            id,
            CheckStatus::Fail,
            format!(
                "no connection was tried: {}",
                failure_title(f).replacen("The session", "the session", 1)
            ),
        ),
        (_, true) => {
            let parts: Vec<String> = s
                .policies
                .iter()
                .map(|p| format!("{}: {}", p.policy.as_str(), why(p)))
                .collect();
            Check::new(
                id,
                CheckStatus::Fail,
                format!("no policy connected ({})", parts.join("; ")),
            )
        }
        (None, false) => Check::new(id, CheckStatus::NotTested, "no ICE policy was run"),
    }
}

/// `peer-direct`: connected without a relay.
fn direct_check(s: &PeerSection) -> Check {
    let id = CheckId::PeerDirect;
    let direct = s.policy(PeerPolicy::Direct);
    match (direct, direct_connection(s)) {
        (Some(_), Some(p)) if p.policy == PeerPolicy::Direct => Check::new(
            id,
            CheckStatus::Pass,
            format!(
                "the direct policy (host and srflx candidates) connected{}",
                in_brackets(path(p).unwrap_or_default())
            ),
        ),
        (d, Some(p)) => Check::new(
            id,
            CheckStatus::Pass,
            format!(
                "{}with TURN relays allowed ICE selected a direct pair{}",
                if d.is_some_and(tried) {
                    "the direct policy did not connect, but "
                } else {
                    ""
                },
                in_brackets(path(p).unwrap_or_default())
            ),
        ),
        (Some(d), None) if d.outcome == PeerOutcome::Failed => {
            let instead = if relay_only(s).is_some() {
                "; only the TURN relay connected the two machines, so they cannot connect \
                 directly (peer-connect passed)"
            } else {
                ""
            };
            Check::new(
                id,
                CheckStatus::Fail,
                format!(
                    "the direct policy (host and srflx candidates) did not connect: {}{instead}",
                    why(d)
                ),
            )
        }
        (Some(d), None) => Check::new(
            id,
            CheckStatus::NotTested,
            format!("the direct policy was not run: {}", why(d)),
        ),
        (None, None) if s.failure.is_some() => Check::new(
            id,
            CheckStatus::NotTested,
            "the direct policy was not run: the session failed first",
        ),
        (None, None) => Check::new(id, CheckStatus::NotTested, "the direct policy was not run"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use model::peer::{PeerRole, PunchAttempt};
    use model::{Report, Section};

    /// A verdict with this mapping and filtering behind a NAT.
    pub(crate) fn verdict(mapping: Behaviour, filtering: Behaviour) -> NatVerdict {
        use Behaviour::*;
        let rfc3489 = match (mapping, filtering) {
            (EndpointIndependent, EndpointIndependent) => Rfc3489Type::FullCone,
            (EndpointIndependent, AddressDependent) => Rfc3489Type::RestrictedCone,
            (EndpointIndependent, AddressAndPortDependent) => Rfc3489Type::PortRestrictedCone,
            (EndpointIndependent, Unknown) => Rfc3489Type::Cone,
            (AddressDependent | AddressAndPortDependent, _) => Rfc3489Type::Symmetric,
            (Unknown, _) => Rfc3489Type::Unknown,
        };
        NatVerdict {
            mapping,
            filtering,
            behind_nat: Some(true),
            udp: UdpStatus::Ok,
            rfc3489,
            summary: "line one\nline two".into(),
            ..NatVerdict::unknown()
        }
    }

    pub(crate) fn result(policy: PeerPolicy, outcome: PeerOutcome, path: &str) -> PeerPolicyResult {
        let ok = matches!(outcome, PeerOutcome::Success | PeerOutcome::Reversed);
        PeerPolicyResult {
            policy,
            outcome,
            reason: match outcome {
                PeerOutcome::Failed => Some("connectivity checks failed".into()),
                PeerOutcome::NotTested => {
                    Some("neither side has a TURN server (give one with --turn)".into())
                }
                PeerOutcome::Success | PeerOutcome::Reversed => None,
            },
            path: ok.then(|| path.to_owned()),
            throughput_kbps: ok.then_some(850.0),
            ice: None,
        }
    }

    pub(crate) fn punch(success: bool) -> HolePunch {
        HolePunch {
            local_public: Some("203.0.113.7:40000".parse().expect("literal")),
            remote_public: Some("198.51.100.9:41000".parse().expect("literal")),
            local_reachable: false,
            remote_reachable: false,
            attempts: vec![PunchAttempt {
                attempt: 1,
                success,
                got_through: if success {
                    PunchDirection::Both
                } else {
                    PunchDirection::LocalToRemote
                },
                first_in_ms: success.then_some(12.0),
                first_out_ms: success.then_some(11.0),
                sent: 20,
                received: if success { 18 } else { 0 },
            }],
            success,
            first_attempt_success: success,
            remote_seen_from: None,
        }
    }

    /// Both port-restricted cone: direct by hole punching, as predicted.
    pub(crate) fn punched() -> PeerSection {
        use Behaviour::*;
        let local = verdict(EndpointIndependent, AddressAndPortDependent);
        let remote = verdict(EndpointIndependent, AddressAndPortDependent);
        PeerSection {
            session: Some("k3xq".into()),
            rendezvous: "https://rv.example.net".into(),
            role: PeerRole::Creator,
            remote_version: Some("3.1.0".into()),
            predicted: Some(natclass::holepunch(&local, &remote)),
            local_nat: Some(local),
            remote_nat: Some(remote),
            observed: PeerObserved::HolePunched,
            prediction_held: Some(true),
            policies: vec![
                result(PeerPolicy::Direct, PeerOutcome::Success, "srflx-srflx"),
                result(
                    PeerPolicy::RelayAllowed,
                    PeerOutcome::Success,
                    "srflx-srflx",
                ),
            ],
            holepunch: Section::Tested(punch(true)),
            tcp: Section::not_tested("turned off (--no-punch)"),
            failure: None,
            duration_ms: 2400.0,
        }
    }

    /// Symmetric here, port-restricted there: only the relay connects.
    pub(crate) fn relayed() -> PeerSection {
        use Behaviour::*;
        let local = verdict(AddressAndPortDependent, AddressAndPortDependent);
        let remote = verdict(EndpointIndependent, AddressAndPortDependent);
        PeerSection {
            predicted: Some(natclass::holepunch(&local, &remote)),
            local_nat: Some(local),
            remote_nat: Some(remote),
            observed: PeerObserved::Relayed,
            prediction_held: Some(true),
            policies: vec![
                result(PeerPolicy::Direct, PeerOutcome::Failed, ""),
                result(
                    PeerPolicy::RelayAllowed,
                    PeerOutcome::Success,
                    "relay-srflx",
                ),
            ],
            holepunch: Section::Tested(punch(false)),
            ..punched()
        }
    }

    /// The rendezvous was never reached.
    pub(crate) fn unreachable() -> PeerSection {
        PeerSection {
            session: None,
            remote_version: None,
            local_nat: None,
            remote_nat: None,
            predicted: None,
            observed: PeerObserved::Unknown,
            prediction_held: None,
            policies: Vec::new(),
            holepunch: Section::not_tested("the session did not start"),
            tcp: Section::not_tested("the session did not start"),
            failure: Some(PeerFailure {
                kind: "rendezvous-unreachable".into(),
                message: "the rendezvous https://rv.example.net did not answer\n(connection \
                          refused)."
                    .into(),
                remedy: "Check that natscope serve --rendezvous runs there and that this \
                         machine reaches it"
                    .into(),
            }),
            duration_ms: 30.0,
            ..punched()
        }
    }

    pub(crate) fn report(s: PeerSection) -> Report {
        let mut r = Report::new("peer", "2026-12-07T10:30:00Z");
        r.options.servers = vec![
            "stun:stun.example.net:3478".into(),
            "turn:turn.example.net:3478".into(),
        ];
        r.peer = Section::Tested(s);
        r
    }

    pub(crate) fn summary(s: &PeerSection) -> Summary {
        let mut out = Summary::default();
        summarize(s, &mut out);
        out
    }

    pub(crate) fn status(s: &Summary, id: CheckId) -> CheckStatus {
        s.check(&id)
            .unwrap_or_else(|| panic!("{id} written: {s:?}"))
            .status
    }

    #[test]
    fn a_hole_punched_session_passes_every_check() {
        let s = summary(&punched());
        for id in [
            CheckId::PeerSession,
            CheckId::PeerConnect,
            CheckId::PeerDirect,
        ] {
            assert_eq!(status(&s, id.clone()), CheckStatus::Pass, "{id}: {s:?}");
        }
        assert!(
            s.works.iter().any(|w| w
                == "Direct connection to the other machine: hole punched on the first attempt \
                    (srflx-srflx, 850 kbit/s)"),
            "{:?}",
            s.works
        );
        assert!(
            s.works.iter().any(|w| w
                == "The NAT types predicted a direct connection by hole punching, and so it \
                    was; this machine: a port-restricted-cone NAT (endpoint-independent \
                    mapping, address-and-port-dependent filtering); the other machine: a \
                    port-restricted-cone NAT (endpoint-independent mapping, \
                    address-and-port-dependent filtering)"),
            "{:?}",
            s.works
        );
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(
            s.check(&CheckId::PeerConnect).expect("written").reason,
            "connected under policy direct (srflx-srflx)"
        );
    }

    #[test]
    fn relay_only_connects_but_fails_peer_direct() {
        let s = summary(&relayed());
        assert_eq!(status(&s, CheckId::PeerSession), CheckStatus::Pass);
        assert_eq!(status(&s, CheckId::PeerConnect), CheckStatus::Pass);
        let d = s.check(&CheckId::PeerDirect).expect("written");
        assert_eq!(d.status, CheckStatus::Fail);
        assert!(d.reason.contains("connectivity checks failed"), "{d:?}");
        assert!(d.reason.contains("only the TURN relay"), "{d:?}");
        assert!(
            s.works.iter().any(|w| w
                == "Only through the TURN relay: connected to the other machine (relay-srflx, \
                    850 kbit/s)"),
            "{:?}",
            s.works
        );
        assert!(
            s.problems
                .iter()
                .any(|p| p.starts_with("Plain UDP hole punch: no attempt got through")),
            "{:?}",
            s.problems
        );
    }

    #[test]
    fn a_direct_pair_under_relay_allowed_counts_as_direct() {
        let mut p = relayed();
        p.policies[1].path = Some("prflx-srflx".into());
        let s = summary(&p);
        let d = s.check(&CheckId::PeerDirect).expect("written");
        assert_eq!(d.status, CheckStatus::Pass, "{d:?}");
        assert!(d.reason.contains("selected a direct pair"), "{d:?}");
    }

    #[test]
    fn a_failed_session_fails_and_says_why_in_one_line() {
        let s = summary(&unreachable());
        let c = s.check(&CheckId::PeerSession).expect("written");
        assert_eq!(c.status, CheckStatus::Fail);
        assert_eq!(
            c.reason,
            "the session with the other machine failed: the rendezvous https://rv.example.net \
             did not answer (connection refused)"
        );
        assert_eq!(status(&s, CheckId::PeerConnect), CheckStatus::Fail);
        assert_eq!(status(&s, CheckId::PeerDirect), CheckStatus::NotTested);
        assert!(s.problems.iter().all(|p| !p.contains('\n')), "{s:?}");
    }

    #[test]
    fn nothing_connected_fails_connect_and_direct() {
        let mut p = relayed();
        p.policies[1] = result(PeerPolicy::RelayAllowed, PeerOutcome::NotTested, "");
        let s = summary(&p);
        assert_eq!(status(&s, CheckId::PeerConnect), CheckStatus::Fail);
        assert_eq!(status(&s, CheckId::PeerDirect), CheckStatus::Fail);
        assert!(
            s.problems.iter().any(|x| x
                == "No TURN relay was tried: neither side has a TURN server (give one with \
                    --turn)"),
            "{:?}",
            s.problems
        );
    }

    #[test]
    fn no_peer_section_writes_no_check_and_a_failed_one_fails_peer_connect() {
        let r = Report::new("diagnose", "2026-12-07T10:30:00Z");
        let s = crate::summarize(&r);
        for id in [
            CheckId::PeerSession,
            CheckId::PeerConnect,
            CheckId::PeerDirect,
        ] {
            assert!(s.check(&id).is_none(), "{id} written: {s:?}");
        }
        let mut r = Report::new("peer", "2026-12-07T10:30:00Z");
        r.peer = Section::not_tested("skipped");
        assert!(crate::summarize(&r).check(&CheckId::PeerConnect).is_none());
        r.peer = Section::failed("cannot bind 0.0.0.0:0: address in use");
        let s = crate::summarize(&r);
        assert_eq!(status(&s, CheckId::PeerConnect), CheckStatus::Fail);
    }

    #[test]
    fn words_stay_plain_and_short() {
        assert_eq!(one_line("a\n\n b\tc\u{7}d", 100), "a b c d");
        assert_eq!(one_line(&"x".repeat(10), 4), "xxxx…");
        assert_eq!(one_line("  ", 4), "");
        let v = NatVerdict {
            udp: UdpStatus::Blocked,
            ..verdict(Behaviour::Unknown, Behaviour::Unknown)
        };
        assert_eq!(nat_type(&v), "a network that blocks UDP");
        assert_eq!(
            nat_type(&verdict(Behaviour::Unknown, Behaviour::Unknown)),
            "a NAT of unknown type"
        );
    }
}
