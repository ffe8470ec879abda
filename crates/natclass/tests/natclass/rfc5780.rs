//! Table-driven tests of RFC 5780 classification: every mapping × filtering ×
//! hairpin outcome, no NAT, server problems, loss and wrong-source answers.

use crate::common::*;
use natclass::*;

#[test]
fn every_mapping_filtering_hairpin_combination() {
    let hairpins = [
        (Hairpin::NotTested, None),
        (Hairpin::Received, Some(true)),
        (Hairpin::NotReceived { transmissions: 3 }, Some(false)),
        (
            Hairpin::Error {
                message: "bind failed".into(),
            },
            None,
        ),
    ];
    for m in [B::Ei, B::Ad, B::Apd] {
        for f in [B::Ei, B::Ad, B::Apd] {
            for (h, want_h) in &hairpins {
                let o = server_behind(sa(PRIMARY), sa(OTHER), m, f, h.clone());
                let v = classify(&one(o));
                let ctx = format!("{m:?} {f:?} {h:?}: {v:#?}");
                assert_eq!(v.mapping, behaviour(m), "{ctx}");
                assert_eq!(v.filtering, behaviour(f), "{ctx}");
                assert_eq!(v.hairpinning, *want_h, "{ctx}");
                assert_eq!(v.udp, UdpStatus::Ok, "{ctx}");
                assert_eq!(v.behind_nat, Some(true), "{ctx}");
                assert_eq!(v.public, Some(public(50000)), "{ctx}");
                assert_eq!(v.mapping_confidence, Confidence::High, "{ctx}");
                // Silence-based filtering from one server is medium only.
                let fc = if f == B::Ei {
                    Confidence::High
                } else {
                    Confidence::Medium
                };
                assert_eq!(v.filtering_confidence, fc, "{ctx}");
                assert_eq!(v.confidence, fc, "{ctx}");
                assert_eq!(v.servers.len(), 1);
                assert_eq!(v.servers[0].status, ServerStatus::Rfc5780, "{ctx}");
                assert!(v.disagreements.is_empty(), "{ctx}");
                let name = match (m, f) {
                    (B::Ei, B::Ei) => Rfc3489Type::FullCone,
                    (B::Ei, B::Ad) => Rfc3489Type::RestrictedCone,
                    (B::Ei, B::Apd) => Rfc3489Type::PortRestrictedCone,
                    _ => Rfc3489Type::Symmetric,
                };
                assert_eq!(v.rfc3489, name, "{ctx}");
                let p2p = match (m, f) {
                    (B::Ei, B::Ei) => P2pOutlook::Direct,
                    (B::Ei, B::Ad) => P2pOutlook::HolePunching,
                    (B::Ei, B::Apd) => P2pOutlook::TurnForSymmetricPeers,
                    (_, B::Ei) => P2pOutlook::HolePunching,
                    _ => P2pOutlook::TurnNeeded,
                };
                assert_eq!(v.p2p, p2p, "{ctx}");
                assert!(v.summary.contains(name.name()), "{ctx}");
                assert!(v.summary.contains(p2p.sentence()), "{ctx}");
                for t in [
                    "mapping-test-1",
                    "mapping-test-2",
                    "mapping-test-3",
                    "filtering-test-1",
                    "filtering-test-2",
                    "filtering-test-3",
                ] {
                    assert!(has(&v, t), "missing {t}: {ctx}");
                }
                assert_eq!(
                    has(&v, "hairpin-test"),
                    !matches!(h, Hairpin::NotTested),
                    "{ctx}"
                );
                // Deterministic.
                assert_eq!(
                    v,
                    classify(&one(server_behind(sa(PRIMARY), sa(OTHER), m, f, h.clone())))
                );
            }
        }
    }
}

#[test]
fn no_nat_open_internet_and_firewall() {
    for (f, name, p2p) in [
        (B::Ei, Rfc3489Type::OpenInternet, P2pOutlook::Direct),
        (
            B::Ad,
            Rfc3489Type::SymmetricUdpFirewall,
            P2pOutlook::HolePunching,
        ),
        (
            B::Apd,
            Rfc3489Type::SymmetricUdpFirewall,
            P2pOutlook::TurnForSymmetricPeers,
        ),
    ] {
        let mut o = default_server(B::Ei, f);
        // No translation: the servers see our own address.
        for r in [
            &mut o.mapping.test1,
            &mut o.mapping.test2,
            &mut o.mapping.test3,
        ] {
            if let Reply::Answered { mapped, .. } = r {
                *mapped = sa(LOCAL);
            }
        }
        for r in [
            &mut o.filtering.test1,
            &mut o.filtering.test2,
            &mut o.filtering.test3,
        ] {
            if let Reply::Answered { mapped, .. } = r {
                *mapped = sa(FRESH);
            }
        }
        let v = classify(&one(o));
        assert_eq!(v.behind_nat, Some(false), "{v:#?}");
        assert_eq!(v.double_nat, Some(false));
        assert_eq!(v.mapping, Behaviour::EndpointIndependent);
        assert_eq!(v.filtering, behaviour(f));
        assert_eq!(v.rfc3489, name);
        assert_eq!(v.p2p, p2p);
        assert!(has(&v, "no-nat"));
    }
}

#[test]
fn mapped_ip_local_but_port_translated_is_behind_nat() {
    let mut o = default_server(B::Ei, B::Ei);
    o.mapping.test1 = answered(sa("192.0.2.10:61000"), sa(PRIMARY));
    let v = classify(&one(o));
    assert_eq!(v.behind_nat, Some(true));
}

fn unreachable(tcp: Option<bool>) -> ServerObservation {
    let mut o = ServerObservation::new(sa(PRIMARY));
    o.mapping.test1 = silent(7);
    o.filtering.test1 = silent(7);
    o.tcp_answered = tcp;
    o
}

#[test]
fn udp_blocked_server_down_and_no_udp_answer_are_distinct() {
    let v = classify(&one(unreachable(Some(true))));
    assert_eq!(v.udp, UdpStatus::Blocked);
    assert_eq!(v.rfc3489, Rfc3489Type::UdpBlocked);
    assert_eq!(v.p2p, P2pOutlook::TurnNeeded);
    assert_eq!(v.confidence, Confidence::High);
    assert_eq!(v.servers[0].status, ServerStatus::UdpBlocked);
    assert!(has(&v, "udp-blocked") && !has(&v, "server-down"));
    assert_eq!(v.summary.split(':').next(), Some("UDP blocked"));

    let v = classify(&one(unreachable(Some(false))));
    assert_eq!(v.udp, UdpStatus::Unknown);
    assert_eq!(v.servers[0].status, ServerStatus::Down);
    assert!(has(&v, "server-down") && !has(&v, "udp-blocked"));
    assert_eq!(v.confidence, Confidence::None);
    assert_eq!(v.rfc3489, Rfc3489Type::Unknown);

    let v = classify(&one(unreachable(None)));
    assert_eq!(v.udp, UdpStatus::Unknown);
    assert_eq!(v.servers[0].status, ServerStatus::NoUdpAnswer);
    assert!(has(&v, "no-udp-answer"));

    // Weak silence (one transmission) makes "blocked" low confidence.
    let mut o = unreachable(Some(true));
    o.mapping.test1 = silent(1);
    o.filtering.test1 = Reply::NotRun;
    let v = classify(&one(o));
    assert_eq!((v.udp, v.confidence), (UdpStatus::Blocked, Confidence::Low));

    // Not tested at all.
    let v = classify(&one(ServerObservation::new(sa(PRIMARY))));
    assert_eq!(v.servers[0].status, ServerStatus::NotTested);
    assert_eq!(v.udp, UdpStatus::Unknown);
}

#[test]
fn udp_blocked_to_one_server_while_another_answers() {
    let mut obs = one(default_server(B::Ei, B::Apd));
    let mut dead = unreachable(Some(true));
    dead.server = sa("203.0.113.50:3478");
    obs.servers.push(dead);
    let v = classify(&obs);
    assert_eq!(v.udp, UdpStatus::Ok);
    assert_eq!(v.servers[1].status, ServerStatus::UdpBlocked);
    assert_eq!(v.rfc3489, Rfc3489Type::PortRestrictedCone);
}

#[test]
fn server_not_rfc5780_capable() {
    let mut o = default_server(B::Ei, B::Ei);
    o.other_address = None;
    o.mapping.test2 = Reply::NotRun;
    o.mapping.test3 = Reply::NotRun;
    o.filtering = FilteringTests::default();
    let v = classify(&one(o));
    assert_eq!(v.servers[0].status, ServerStatus::NotRfc5780);
    assert!(has(&v, "not-rfc5780"));
    assert_eq!(v.mapping, Behaviour::Unknown);
    assert_eq!(v.filtering, Behaviour::Unknown);
    assert_eq!(v.udp, UdpStatus::Ok);
    assert_eq!(v.public, Some(public(50000)));
    assert_eq!(v.confidence, Confidence::None);
    assert_eq!(v.rfc3489, Rfc3489Type::Unknown);
}

#[test]
fn inconsistent_other_address() {
    for other in [
        PRIMARY,
        "203.0.113.1:3479",
        "203.0.113.2:3478",
        "[2001:db8::2]:3479",
    ] {
        let mut o = default_server(B::Ei, B::Ei);
        o.other_address = Some(sa(other));
        let v = classify(&one(o));
        assert_eq!(v.servers[0].status, ServerStatus::Inconsistent, "{other}");
        assert!(has(&v, "inconsistent-server"));
        assert_eq!(v.mapping, Behaviour::Unknown);
        assert_eq!(v.filtering, Behaviour::Unknown);
    }
}

#[test]
fn coturn_wrong_source_is_not_filtering_evidence() {
    // Server ignores CHANGE-REQUEST: tests II and III answered from primary.
    let mut o = default_server(B::Ei, B::Apd);
    o.filtering.test2 = answered(public(50010), sa(PRIMARY));
    o.filtering.test3 = answered(public(50010), sa(PRIMARY));
    let v = classify(&one(o));
    assert_eq!(v.filtering, Behaviour::Unknown, "{v:#?}");
    assert_ne!(v.rfc3489, Rfc3489Type::FullCone);
    assert_eq!(v.rfc3489, Rfc3489Type::Cone);
    assert_eq!(v.servers[0].status, ServerStatus::Inconsistent);
    assert!(v.evidence.iter().any(|e| e.test == "inconsistent-server" && e.detail.contains("ignored CHANGE-REQUEST")));
    // Mapping is still usable.
    assert_eq!(v.mapping, Behaviour::EndpointIndependent);

    // Test II from a wrong source, test III correct: EIF or ADF, unknown.
    let mut o = default_server(B::Ei, B::Ad);
    o.filtering.test2 = answered(public(50010), sa("203.0.113.9:3478"));
    let v = classify(&one(o));
    assert_eq!(v.filtering, Behaviour::Unknown);
    assert!(has(&v, "inconsistent-server"));

    // Test II from a wrong source, test III silent: APDF, low.
    let mut o = default_server(B::Ei, B::Apd);
    o.filtering.test2 = answered(public(50010), sa(PRIMARY));
    let v = classify(&one(o));
    assert_eq!(
        (v.filtering, v.filtering_confidence),
        (Behaviour::AddressAndPortDependent, Confidence::Low)
    );

    // Wrong source on a mapping test caps mapping confidence.
    let mut o = default_server(B::Apd, B::Apd);
    o.mapping.test3 = answered(public(50003), sa(PRIMARY));
    let v = classify(&one(o));
    assert_eq!(
        (v.mapping, v.mapping_confidence),
        (Behaviour::AddressAndPortDependent, Confidence::Medium)
    );
}

#[test]
fn loss_patterns_lower_confidence() {
    // Weak silence: APDF at low confidence.
    let mut o = default_server(B::Ei, B::Apd);
    o.filtering.test2 = silent(1);
    o.filtering.test3 = silent(1);
    let v = classify(&one(o));
    assert_eq!(
        (v.filtering, v.filtering_confidence),
        (Behaviour::AddressAndPortDependent, Confidence::Low)
    );
    assert_eq!(v.confidence, Confidence::Low);

    // Control unanswered on the fresh socket: silence proves nothing.
    let mut o = default_server(B::Ei, B::Apd);
    o.filtering.test1 = silent(7);
    let v = classify(&one(o));
    assert_eq!(v.filtering, Behaviour::Unknown);
    assert_eq!(v.filtering_confidence, Confidence::None);
    assert!(v.evidence.iter().any(|e| e.detail.contains("control")));

    // Isolated loss of mapping test II.
    let mut o = default_server(B::Apd, B::Apd);
    o.mapping.test2 = silent(7);
    let v = classify(&one(o));
    assert_eq!(v.mapping, Behaviour::Unknown);
    assert!(
        v.evidence
            .iter()
            .any(|e| e.detail.contains("isolated loss"))
    );

    // Test III lost after II differed: symmetric, but which kind is unknown.
    let mut o = default_server(B::Apd, B::Apd);
    o.mapping.test3 = silent(7);
    let v = classify(&one(o));
    assert_eq!(v.mapping, Behaviour::Unknown);
    assert_eq!(v.rfc3489, Rfc3489Type::Symmetric);
    assert_eq!(v.mapping_confidence, Confidence::Low);

    // III lost although II came through: EIF kept, medium.
    let mut o = default_server(B::Ei, B::Ei);
    o.filtering.test3 = silent(7);
    let v = classify(&one(o));
    assert_eq!(
        (v.filtering, v.filtering_confidence),
        (Behaviour::EndpointIndependent, Confidence::Medium)
    );

    // II silent, III not run: not EIF, rest unknown.
    let mut o = default_server(B::Ei, B::Apd);
    o.filtering.test3 = Reply::NotRun;
    let v = classify(&one(o));
    assert_eq!(v.filtering, Behaviour::Unknown);
    assert_eq!(v.rfc3489, Rfc3489Type::Cone);
    assert_eq!(v.p2p, P2pOutlook::TurnForSymmetricPeers);
}

#[test]
fn multi_server_agreement_raises_and_disagreement_is_reported() {
    let second = |m, f| {
        server_behind(
            sa("198.51.100.20:3478"),
            sa("198.51.100.21:3479"),
            m,
            f,
            Hairpin::NotTested,
        )
    };
    let mut obs = one(default_server(B::Ei, B::Apd));
    obs.servers.push(second(B::Ei, B::Apd));
    let v = classify(&obs);
    assert_eq!(v.filtering_confidence, Confidence::High);
    assert_eq!(v.confidence, Confidence::High);
    assert!(v.disagreements.is_empty());
    assert!(has(&v, "multi-server"));

    let mut obs = one(default_server(B::Ei, B::Ei));
    obs.servers.push(second(B::Apd, B::Apd));
    let v = classify(&obs);
    assert_eq!(v.mapping, Behaviour::AddressAndPortDependent);
    assert_eq!(v.filtering, Behaviour::AddressAndPortDependent);
    assert_eq!(v.confidence, Confidence::Low);
    let aspects: Vec<&str> = v.disagreements.iter().map(|d| d.aspect.as_str()).collect();
    assert_eq!(aspects, ["mapping", "filtering"]);
    assert!(v.summary.contains("disagree"));

    // Hairpinning disagreement: positive proof wins, recorded.
    let mut obs = one(server_behind(
        sa(PRIMARY),
        sa(OTHER),
        B::Ei,
        B::Ei,
        Hairpin::Received,
    ));
    obs.servers.push(server_behind(
        sa("198.51.100.20:3478"),
        sa("198.51.100.21:3479"),
        B::Ei,
        B::Ei,
        Hairpin::NotReceived { transmissions: 3 },
    ));
    let v = classify(&obs);
    assert_eq!(v.hairpinning, Some(true));
    assert!(v.disagreements.iter().any(|d| d.aspect == "hairpinning"));

    // Different public IPs are reported.
    let mut o2 = second(B::Ei, B::Ei);
    o2.mapping.test1 = answered(sa("198.51.100.99:50000"), sa("198.51.100.20:3478"));
    let mut obs = one(default_server(B::Ei, B::Ei));
    obs.servers.push(o2);
    let v = classify(&obs);
    assert!(v.disagreements.iter().any(|d| d.aspect == "public"));
}

#[test]
fn double_nat_and_cgnat() {
    let mut obs = one(default_server(B::Ei, B::Apd));
    obs.local.port_mapping_external = Some("100.64.3.4".parse().expect("literal"));
    let v = classify(&obs);
    assert_eq!((v.double_nat, v.cgnat), (Some(true), Some(true)));
    assert!(has(&v, "double-nat") && has(&v, "cgnat"));
    assert!(v.summary.contains("double NAT"));

    obs.local.port_mapping_external = Some("10.1.2.3".parse().expect("literal"));
    let v = classify(&obs);
    assert_eq!((v.double_nat, v.cgnat), (Some(true), None));

    obs.local.port_mapping_external = Some(PUBLIC_IP.parse().expect("literal"));
    let v = classify(&obs);
    assert_eq!((v.double_nat, v.cgnat), (Some(false), Some(false)));

    obs.local.port_mapping_external = None;
    let v = classify(&obs);
    assert_eq!((v.double_nat, v.cgnat), (None, None));

    obs.local.addresses = vec!["100.72.1.2".parse().expect("literal")];
    let v = classify(&obs);
    assert_eq!(v.cgnat, Some(true));
    assert!(
        is_cgnat("100.127.255.255".parse().expect("l"))
            && !is_cgnat("100.128.0.1".parse().expect("l"))
    );
    assert!(
        is_private("172.16.0.1".parse().expect("l")) && is_private("fd00::1".parse().expect("l"))
    );
}

/// Issue 15 item 11: double NAT from TTL-limited probes alone (no port
/// mapping protocol on the gateway).
#[test]
fn double_nat_from_the_routers_on_the_path() {
    let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("literal");
    let trace = |hops: &[(u8, &str)], reached_at: Option<u8>| PathTrace {
        destination: ip("203.0.113.100"),
        max_ttl: 6,
        hops: hops
            .iter()
            .map(|(ttl, a)| PathHop {
                ttl: *ttl,
                address: ip(a),
            })
            .collect(),
        reached_at,
    };
    let verdict = |t: PathTrace| {
        let mut obs = one(default_server(B::Ei, B::Apd));
        obs.local.path = Some(t);
        classify(&obs)
    };
    let detail = |v: &NatVerdict| {
        v.evidence
            .iter()
            .filter(|e| e.test == "double-nat")
            .map(|e| e.detail.clone())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    // The carrier's inside address right after the gateway: CGNAT.
    let v = verdict(trace(&[(1, "192.0.2.1"), (2, "100.64.0.1")], Some(3)));
    assert_eq!((v.double_nat, v.cgnat), (Some(true), Some(true)), "{v:#?}");
    let d = detail(&v);
    assert!(
        d.contains("hop 2") && d.contains("100.64.0.1") && d.contains("carrier-grade"),
        "{d}"
    );
    assert!(
        d.contains("1: 192.0.2.1, 2: 100.64.0.1, 3: the server"),
        "{d}"
    );
    // A private router after the gateway: a second NAT, not a CGNAT.
    let v = verdict(trace(
        &[(1, "192.168.1.1"), (2, "192.168.0.1"), (3, "198.51.100.1")],
        None,
    ));
    assert_eq!((v.double_nat, v.cgnat), (Some(true), None), "{v:#?}");
    // The server right after the gateway, or a public router: single NAT.
    let v = verdict(trace(&[(1, "192.0.2.1")], Some(2)));
    assert_eq!(v.double_nat, Some(false), "{v:#?}");
    assert!(detail(&v).contains("single NAT"));
    let v = verdict(trace(
        &[(1, "192.168.1.1"), (2, "198.51.100.1"), (3, "10.9.9.9")],
        None,
    ));
    assert_eq!(
        v.double_nat,
        Some(false),
        "private ISP routers past a public hop are not NATs"
    );
    // A silent hop before anything public: unknown, and said why.
    let v = verdict(trace(&[(1, "192.168.1.1"), (3, "198.51.100.1")], None));
    assert_eq!(v.double_nat, None, "{v:#?}");
    assert!(detail(&v).contains("hop 2") && detail(&v).contains("did not answer"));
    // Nobody answered at all: unknown.
    assert_eq!(verdict(trace(&[], None)).double_nat, None);
    // The gateway's own port mapping answer outranks the path.
    let mut obs = one(default_server(B::Ei, B::Apd));
    obs.local.path = Some(trace(&[(1, "192.168.1.1"), (2, "10.0.0.1")], None));
    obs.local.port_mapping_external = Some(ip(PUBLIC_IP));
    assert_eq!(classify(&obs).double_nat, Some(false));
}
