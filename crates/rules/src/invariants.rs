//! The diagnosis' promises, checked on the recorded corpus
//! (fixtures/diagnosis: real runs against misconfigured servers) and on
//! thousands of reports made from it at random: every failed check is
//! explained by a finding, no finding appears twice, there is always advice
//! when a check failed, and no Rust internals reach the words.

use crate::{conclude, diagnose};
use model::ice::{CandidateType, IceRunFailure, Side};
use model::turn::{TurnFailure, TurnStage};
use model::{CheckStatus, Outcome, Report, Section};
use natclass::{Behaviour, UdpStatus};

fn corpus() -> Vec<(String, Report)> {
    let mut out = Vec::new();
    for dir in ["diagnosis", "reports"] {
        let path = format!("{}/../../fixtures/{dir}", env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).expect("fixture readable");
            let r = report::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            out.push((f.display().to_string(), r));
        }
    }
    assert!(out.len() >= 10, "the corpus is there");
    out
}

const INTERNALS: &[&str] = &[
    "Other(",
    "Error {",
    "Some(",
    "None)",
    "OtherError",
    "Tested(",
    "NotTested",
    "Failed {",
];

#[track_caller]
fn check(name: &str, r: &Report) {
    let d = &r.diagnosis;
    assert!(!d.verdict.is_empty(), "{name}: no verdict");
    for c in &r.summary.checks {
        if c.status == CheckStatus::Fail {
            assert!(
                d.findings.iter().any(|f| f.explains.contains(&c.id)),
                "{name}: failed check {} explained by no finding: {:#?}",
                c.id,
                d.findings
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for f in &d.findings {
        assert!(
            seen.insert((f.id.clone(), f.title.clone())),
            "{name}: twice: {f:?}"
        );
        assert!(!f.remedy.is_empty(), "{name}: no remedy: {f:?}");
        for text in [&f.title, &f.remedy] {
            for bad in INTERNALS {
                assert!(!text.contains(bad), "{name}: {bad:?} in {text:?}");
            }
        }
    }
    if r.summary.any_failed() {
        assert!(
            !r.summary.advice.is_empty(),
            "{name}: a check failed, no advice"
        );
    }
    for bad in INTERNALS {
        assert!(!d.verdict.contains(bad), "{name}: {bad:?} in the verdict");
    }
}

#[test]
fn the_corpus_keeps_every_promise() {
    for (name, mut r) in corpus() {
        // Recorded by this natscope: the diagnosis is what the sections say.
        let recorded = r.diagnosis.clone();
        conclude(&mut r);
        check(&name, &r);
        if name.contains("fixtures/diagnosis") {
            assert_eq!(r.diagnosis, recorded, "{name}: the diagnosis changed");
        }
    }
}

/// A small deterministic generator (xorshift): the same reports every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn turn_failure(rng: &mut Rng) -> TurnFailure {
    let all = [
        TurnFailure::Timeout { after_ms: 5000 },
        TurnFailure::ConnectionRefused,
        TurnFailure::Dns {
            detail: "no record".into(),
        },
        TurnFailure::Io {
            detail: "network unreachable".into(),
        },
        TurnFailure::TlsUnknownCa,
        TurnFailure::TlsNameMismatch {
            server_name: "turn.example.org".into(),
        },
        TurnFailure::TlsExpired,
        TurnFailure::TlsCaAsServerCert,
        TurnFailure::TlsOther {
            detail: "handshake failed".into(),
        },
        TurnFailure::NotSupported {
            detail: "no DTLS".into(),
        },
        TurnFailure::UnexpectedResponse {
            detail: "no 401".into(),
        },
        TurnFailure::WrongCredentials,
        TurnFailure::RealmMismatch {
            expected: "a".into(),
            server: "b".into(),
        },
        TurnFailure::RestCredentialExpired {
            expiry_unix: 1,
            now_unix: 100,
        },
        TurnFailure::RestCredentialRejected,
        TurnFailure::StaleNonce,
        TurnFailure::AllocationQuota,
        TurnFailure::InsufficientCapacity,
        TurnFailure::ForbiddenPeer,
        TurnFailure::AlternateServerLoop {
            alternate: "192.0.2.9:3478".parse().expect("addr"),
        },
        TurnFailure::AddressFamilyNotSupported,
        TurnFailure::AddressFamilyIgnored {
            relayed: "192.0.2.9:50000".parse().expect("literal"),
        },
        TurnFailure::ServerError {
            code: 400,
            reason: "Bad Request".into(),
        },
        TurnFailure::Failed,
        TurnFailure::NoRelayedData { after_ms: 5000 },
    ];
    all[rng.below(all.len())].clone()
}

fn mutate(r: &mut Report, rng: &mut Rng) {
    let reasons = [
        "did not finish within the overall deadline (--timeout)",
        "cannot bind 0.0.0.0:0: address in use",
    ];
    macro_rules! maybe_fail {
        ($s:expr) => {
            if rng.chance(10) {
                $s = Section::failed(reasons[rng.below(reasons.len())]);
            }
        };
    }
    maybe_fail!(r.interfaces);
    maybe_fail!(r.stun);
    if let Section::Tested(v) = &r.nat
        && rng.chance(30)
    {
        // The same verdict read as an IPv6 one (translation varied below).
        let mut v6 = v.clone();
        v6.family = Some(natclass::Family::Ipv6);
        let t = [
            None,
            Some(natclass::Translation::None),
            Some(natclass::Translation::Nat),
            Some(natclass::Translation::Nptv6),
        ];
        v6.translation = t[rng.below(t.len())];
        r.nat_ipv6 = Section::Tested(v6);
    }
    maybe_fail!(r.nat);
    maybe_fail!(r.nat_ipv6);
    maybe_fail!(r.turn);
    maybe_fail!(r.ice);
    maybe_fail!(r.portmap);
    if !matches!(r.browser, Section::Tested(_)) && rng.chance(25) {
        r.browser = Section::Tested(crate::browser::tests::working());
    }
    maybe_fail!(r.browser);
    if let Section::Tested(b) = &mut r.browser {
        mutate_browser(b, rng);
    }
    if !matches!(r.peer, Section::Tested(_)) && rng.chance(25) {
        r.peer = Section::Tested(random_peer(rng));
    }
    maybe_fail!(r.peer);
    if let Section::Tested(s) = &mut r.stun {
        for srv in &mut s.servers {
            if rng.chance(30) {
                let o = [
                    Outcome::Ok,
                    Outcome::Timeout,
                    Outcome::Refused,
                    Outcome::Error,
                    Outcome::Unresolved,
                ];
                srv.outcome = o[rng.below(o.len())];
                if srv.outcome != Outcome::Ok {
                    srv.mapped = None;
                }
            }
        }
    }
    let behaviours = [
        Behaviour::EndpointIndependent,
        Behaviour::AddressDependent,
        Behaviour::AddressAndPortDependent,
        Behaviour::Unknown,
    ];
    let vary = |v: &mut natclass::NatVerdict, rng: &mut Rng| {
        if rng.chance(40) {
            v.mapping = behaviours[rng.below(behaviours.len())];
            v.filtering = behaviours[rng.below(behaviours.len())];
        }
        if rng.chance(15) {
            v.udp = UdpStatus::Blocked;
        }
    };
    if let Section::Tested(v) = &mut r.nat {
        vary(v, rng);
        if rng.chance(20) {
            v.hairpinning = Some(false);
        }
        if rng.chance(15) {
            v.double_nat = Some(true);
        }
    }
    if let Section::Tested(v) = &mut r.nat_ipv6 {
        vary(v, rng);
        if rng.chance(15) {
            // A broken IPv6 path: nobody answered.
            v.udp = UdpStatus::Unknown;
            for s in &mut v.servers {
                s.status = natclass::ServerStatus::NoUdpAnswer;
            }
        }
    }
    if let Section::Tested(t) = &mut r.turn {
        for res in &mut t.results {
            if rng.chance(40) {
                let stages = [
                    TurnStage::TcpConnect,
                    TurnStage::TlsHandshake,
                    TurnStage::UnauthenticatedAllocate,
                    TurnStage::Allocate,
                    TurnStage::CreatePermission,
                    TurnStage::DataRoundTrip,
                ];
                res.ok = false;
                res.failed_stage = Some(stages[rng.below(stages.len())]);
                res.failure = Some(turn_failure(rng));
            }
        }
    }
    if let Section::Tested(ice) = &mut r.ice {
        let uris: Vec<String> = match &r.turn {
            Section::Tested(t) => t.results.iter().map(|x| x.uri.clone()).collect(),
            _ => Vec::new(),
        };
        for run in &mut ice.runs {
            if rng.chance(30) {
                run.connected = false;
                run.failure = Some(match rng.below(5) {
                    0 => IceRunFailure::ChecksFailed,
                    1 => IceRunFailure::PayloadFailed,
                    2 => IceRunFailure::TurnError {
                        server: uris
                            .first()
                            .cloned()
                            .unwrap_or_else(|| "turn:192.0.2.1".into()),
                        code: Some(401),
                        error: "credentials rejected".into(),
                    },
                    3 => IceRunFailure::NoCandidates {
                        agent: Side::B,
                        candidate_type: CandidateType::Relay,
                        reason: uris.first().cloned().unwrap_or_default(),
                    },
                    _ => IceRunFailure::Local {
                        message: "address in use".into(),
                    },
                });
            }
        }
    }
}

/// A browser section with candidates, errors and outcomes changed.
fn mutate_browser(b: &mut model::browser::BrowserSection, rng: &mut Rng) {
    use model::browser::{BrowserCandidateError, BrowserOutcome};
    let urls: Vec<String> = b
        .gathering
        .iter()
        .flat_map(|g| g.servers.iter().map(|s| s.url.clone()))
        .chain(["turn:turn.example.net:3479?transport=tcp".to_owned()])
        .collect();
    for g in &mut b.gathering {
        if rng.chance(20) {
            g.candidates.clear();
        } else if rng.chance(30) {
            g.candidates.retain(|c| c.kind != CandidateType::Relay);
        }
        if rng.chance(30) {
            for s in &mut g.servers {
                s.candidates = 0;
            }
        }
        if rng.chance(40) {
            let codes = [701, 401, 403, 438, 486, 508, 300, 600];
            for _ in 0..rng.below(4) + 1 {
                g.errors.push(BrowserCandidateError {
                    code: codes[rng.below(codes.len())],
                    url: urls[rng.below(urls.len())].clone(),
                    text: "TURN allocate request timed out.".into(),
                    at_ms: 3.0,
                });
            }
        }
        g.complete = !rng.chance(10);
    }
    if rng.chance(10) {
        b.gathering.pop();
    }
    for c in &mut b.connections {
        let outcomes = [
            BrowserOutcome::Connected,
            BrowserOutcome::Failed,
            BrowserOutcome::TimedOut,
        ];
        if rng.chance(35) {
            c.outcome = outcomes[rng.below(outcomes.len())];
            if c.outcome != BrowserOutcome::Connected {
                c.failure = rng.chance(50).then(|| "ICE failed".to_owned());
            }
        }
        if let Some(p) = &mut c.selected
            && rng.chance(20)
        {
            p.local = CandidateType::Relay;
        }
    }
    if !b.connections.is_empty() && rng.chance(10) {
        b.connections.remove(0);
    }
}

/// A `peer` section with random outcomes, verdicts, hole punch, prediction
/// and failure (not always consistent with each other: a report read from
/// a file need not be).
fn random_peer(rng: &mut Rng) -> model::peer::PeerSection {
    use crate::peer::tests::{punch, punched, relayed, unreachable, verdict};
    use model::peer::{PeerFailure, PeerObserved, PeerOutcome, PunchDirection};
    let mut s = match rng.below(3) {
        0 => punched(),
        1 => relayed(),
        _ => unreachable(),
    };
    let outcomes = [
        PeerOutcome::Success,
        PeerOutcome::Reversed,
        PeerOutcome::Failed,
        PeerOutcome::NotTested,
    ];
    let paths = [
        Some("srflx-srflx"),
        Some("relay-host"),
        Some("host-relay"),
        Some("prflx-srflx"),
        Some("host-host"),
        None,
    ];
    for p in &mut s.policies {
        if rng.chance(50) {
            p.outcome = outcomes[rng.below(outcomes.len())];
        }
        if rng.chance(40) {
            p.path = paths[rng.below(paths.len())].map(str::to_owned);
        }
        if rng.chance(20) {
            p.reason =
                [None, Some(String::new()), Some("two\nlines".to_owned())][rng.below(3)].clone();
        }
        if rng.chance(10) {
            p.throughput_kbps = Some(f64::NAN);
        }
    }
    if rng.chance(10) {
        s.policies.pop();
    }
    if rng.chance(5) {
        s.policies.clear();
    }
    let behaviours = [
        Behaviour::EndpointIndependent,
        Behaviour::AddressDependent,
        Behaviour::AddressAndPortDependent,
        Behaviour::Unknown,
    ];
    let nat = |rng: &mut Rng| {
        (!rng.chance(20)).then(|| {
            let mut v = verdict(
                behaviours[rng.below(behaviours.len())],
                behaviours[rng.below(behaviours.len())],
            );
            if rng.chance(10) {
                v.udp = UdpStatus::Blocked;
            }
            if rng.chance(10) {
                v.behind_nat = Some(false);
            }
            v
        })
    };
    s.local_nat = nat(rng);
    s.remote_nat = nat(rng);
    s.predicted = match (&s.local_nat, &s.remote_nat) {
        (Some(l), Some(r)) => Some(natclass::holepunch(l, r)),
        _ => None,
    };
    let observed = [
        PeerObserved::Direct,
        PeerObserved::HolePunched,
        PeerObserved::Relayed,
        PeerObserved::NoConnection,
        PeerObserved::Unknown,
    ];
    s.observed = observed[rng.below(observed.len())];
    s.prediction_held = [None, Some(true), Some(false)][rng.below(3)];
    s.holepunch = match rng.below(4) {
        0 => Section::not_tested("turned off (--no-punch)"),
        1 => Section::failed("the other side\nleft"),
        _ => {
            let mut h = punch(rng.chance(50));
            h.local_reachable = rng.chance(20);
            h.remote_reachable = rng.chance(20);
            if rng.chance(20) {
                h.attempts.clear();
            } else if let Some(a) = h.attempts.first_mut() {
                let d = [
                    PunchDirection::Both,
                    PunchDirection::LocalToRemote,
                    PunchDirection::RemoteToLocal,
                    PunchDirection::Neither,
                ];
                a.got_through = d[rng.below(d.len())];
            }
            Section::Tested(h)
        }
    };
    if rng.chance(30) {
        let kinds = [
            "rendezvous-url",
            "rendezvous-unreachable",
            "unknown-session",
            "session-full",
            "peer-never-came",
            "rendezvous-refused",
            "rendezvous-bounds",
            "rendezvous-error",
            "peer-timeout",
            "peer-left",
            "peer-message",
            "something-newer",
        ];
        s.failure = Some(PeerFailure {
            kind: kinds[rng.below(kinds.len())].to_owned(),
            message: ["", "the other side stopped:\n\u{1b}[2Jgone."][rng.below(2)].to_owned(),
            remedy: ["", "Run again."][rng.below(2)].to_owned(),
        });
    } else if rng.chance(30) {
        s.failure = None;
    }
    s
}

/// The peer section's own promises: not tested writes no peer check, a
/// session failure fails the run, and its words are single lines.
#[track_caller]
fn check_peer(name: &str, r: &Report) {
    let peer_checks = [
        model::CheckId::PeerSession,
        model::CheckId::PeerConnect,
        model::CheckId::PeerDirect,
    ];
    match &r.peer {
        Section::NotTested { .. } => {
            for id in &peer_checks {
                assert!(r.summary.check(id).is_none(), "{name}: {id} written");
            }
        }
        Section::Failed { .. } => assert!(r.summary.any_failed(), "{name}: passed"),
        Section::Tested(s) => {
            if s.failure.is_some() {
                assert!(
                    r.summary
                        .check(&model::CheckId::PeerSession)
                        .is_some_and(|c| c.status == CheckStatus::Fail),
                    "{name}: a failed session did not fail peer-session"
                );
            }
            for id in &peer_checks {
                assert!(r.summary.check(id).is_some(), "{name}: {id} missing");
            }
            let peer_findings = r
                .diagnosis
                .findings
                .iter()
                .filter(|f| f.id.as_str().starts_with("peer-"));
            for f in peer_findings {
                for text in [&f.title, &f.remedy]
                    .into_iter()
                    .chain(f.evidence.iter().map(|e| &e.detail))
                {
                    assert!(
                        !text.chars().any(char::is_control),
                        "{name}: control character in {text:?}"
                    );
                }
            }
            for c in peer_checks.iter().filter_map(|id| r.summary.check(id)) {
                assert!(
                    !c.reason.chars().any(char::is_control),
                    "{name}: control character in {:?}",
                    c.reason
                );
            }
        }
    }
}

#[test]
fn random_reports_keep_every_promise() {
    let corpus = corpus();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for round in 0..3000 {
        let (name, base) = &corpus[rng.below(corpus.len())];
        let mut r = base.clone();
        mutate(&mut r, &mut rng);
        conclude(&mut r);
        check(&format!("{name} (round {round})"), &r);
        check_peer(&format!("{name} (round {round})"), &r);
        // Deriving twice gives the same diagnosis (no hidden state).
        assert_eq!(diagnose(&r), r.diagnosis, "{name} (round {round})");
    }
}
