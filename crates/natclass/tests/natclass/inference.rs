//! Plain-server inference, port allocation, mapping lifetime, hole punching
//! and the JSON contract.

use crate::common::*;
use natclass::*;
use std::time::Duration;

fn plain(pairs: &[(&str, &str)]) -> Observations {
    Observations {
        plain: Some(PlainProbe {
            local: Some(sa(LOCAL)),
            answers: pairs
                .iter()
                .map(|(s, m)| PlainAnswer {
                    server: sa(s),
                    reply: answered(sa(m), sa(s)),
                    tcp_answered: None,
                })
                .collect(),
        }),
        ..Observations::default()
    }
}

#[test]
fn plain_server_inference_table() {
    let p = "198.51.100.7:50000";
    type Case<'a> = (&'a [(&'a str, &'a str)], Behaviour, Confidence, Rfc3489Type);
    let cases: &[Case] = &[
        (
            &[("203.0.113.1:3478", p), ("203.0.113.2:19302", p)],
            Behaviour::EndpointIndependent,
            Confidence::Medium,
            Rfc3489Type::Cone,
        ),
        (
            &[("203.0.113.1:3478", p), ("203.0.113.2:3478", p)],
            Behaviour::EndpointIndependent,
            Confidence::Low,
            Rfc3489Type::Cone,
        ),
        (
            &[
                ("203.0.113.1:3478", p),
                ("203.0.113.2:3478", "198.51.100.7:50001"),
            ],
            Behaviour::Unknown,
            Confidence::Medium,
            Rfc3489Type::Symmetric,
        ),
        (
            &[
                ("203.0.113.1:3478", p),
                ("203.0.113.1:3479", p),
                ("203.0.113.2:3478", "198.51.100.7:50001"),
            ],
            Behaviour::AddressDependent,
            Confidence::Medium,
            Rfc3489Type::Symmetric,
        ),
        (
            &[
                ("203.0.113.1:3478", p),
                ("203.0.113.1:3479", "198.51.100.7:50001"),
            ],
            Behaviour::AddressAndPortDependent,
            Confidence::Medium,
            Rfc3489Type::Symmetric,
        ),
        (
            &[
                ("203.0.113.1:3478", p),
                ("203.0.113.2:3479", p),
                ("203.0.113.3:3480", "198.51.100.8:50000"),
            ],
            Behaviour::Unknown,
            Confidence::Low,
            Rfc3489Type::Symmetric,
        ),
        (
            &[("203.0.113.1:3478", p)],
            Behaviour::Unknown,
            Confidence::None,
            Rfc3489Type::Unknown,
        ),
        (
            &[("203.0.113.1:3478", p), ("203.0.113.1:3479", p)],
            Behaviour::Unknown,
            Confidence::None,
            Rfc3489Type::Unknown,
        ),
    ];
    for (pairs, m, c, name) in cases {
        let v = classify(&plain(pairs));
        assert_eq!(
            (v.mapping, v.mapping_confidence, v.rfc3489),
            (*m, *c, *name),
            "{pairs:?}: {v:#?}"
        );
        assert_eq!(
            v.filtering,
            Behaviour::Unknown,
            "plain servers never give filtering"
        );
        assert!(
            v.evidence
                .iter()
                .any(|e| e.test == "plain-mapping" && e.detail.contains("filtering unknown"))
        );
        assert!(
            v.servers
                .iter()
                .all(|s| s.status == ServerStatus::NotRfc5780)
        );
        assert_eq!(v.udp, UdpStatus::Ok);
    }
}

#[test]
fn plain_servers_down_or_blocked() {
    let mut obs = plain(&[("203.0.113.1:3478", "198.51.100.7:50000")]);
    let probe = obs.plain.as_mut().expect("set above");
    probe.answers.push(PlainAnswer {
        server: sa("203.0.113.2:3478"),
        reply: silent(7),
        tcp_answered: Some(false),
    });
    let v = classify(&obs);
    assert_eq!(v.servers[1].status, ServerStatus::Down);

    let obs = Observations {
        plain: Some(PlainProbe {
            local: Some(sa(LOCAL)),
            answers: vec![PlainAnswer {
                server: sa("203.0.113.2:3478"),
                reply: silent(7),
                tcp_answered: Some(true),
            }],
        }),
        ..Observations::default()
    };
    assert_eq!(classify(&obs).udp, UdpStatus::Blocked);
}

#[test]
fn plain_inference_combines_with_rfc5780() {
    let mut obs = plain(&[
        ("198.51.100.30:3478", "198.51.100.7:50000"),
        ("198.51.100.31:3479", "198.51.100.7:50000"),
    ]);
    obs.servers.push(default_server(B::Ei, B::Ad));
    let v = classify(&obs);
    assert_eq!(
        (v.mapping, v.mapping_confidence),
        (Behaviour::EndpointIndependent, Confidence::High)
    );
    let mut obs = plain(&[
        ("198.51.100.30:3478", "198.51.100.7:50000"),
        ("198.51.100.31:3479", "198.51.100.7:50009"),
    ]);
    obs.servers.push(default_server(B::Ei, B::Ad));
    let v = classify(&obs);
    assert!(
        v.disagreements.iter().any(|d| d.aspect == "mapping"),
        "{v:#?}"
    );
    assert_eq!(v.mapping_confidence, Confidence::Low);
}

fn samples(ports: &[(u16, u16)]) -> Vec<PortSample> {
    ports
        .iter()
        .enumerate()
        .map(|(i, (l, m))| PortSample {
            local: sa(&format!("192.0.2.10:{l}")),
            destination: sa(&format!("203.0.113.{}:3478", i + 1)),
            mapped: public(*m),
        })
        .collect()
}

#[test]
fn port_allocation_patterns() {
    type Case<'a> = (&'a [(u16, u16)], PortPattern, Option<bool>, &'a [i32]);
    let cases: &[Case] = &[
        (
            &[(40000, 40000), (40001, 40001), (40007, 40007)],
            PortPattern::Preserved,
            Some(true),
            &[1, 6],
        ),
        (
            &[
                (40000, 50000),
                (40001, 50002),
                (40002, 50004),
                (40003, 50006),
            ],
            PortPattern::Sequential { step: 2 },
            Some(false),
            &[2, 2, 2],
        ),
        (
            &[
                (40000, 50000),
                (40001, 50001),
                (40002, 50003),
                (40003, 50004),
            ],
            PortPattern::Sequential { step: 1 },
            Some(false),
            &[1, 2, 1],
        ),
        (
            &[(40000, 50010), (40001, 50008), (40002, 50006)],
            PortPattern::Sequential { step: -2 },
            Some(false),
            &[-2, -2],
        ),
        (
            &[(40000, 50000), (40001, 61234), (40002, 50321)],
            PortPattern::Random,
            Some(false),
            &[11234, -10913],
        ),
        (
            &[(40000, 50000), (40000, 50000), (40000, 50000)],
            PortPattern::Reused,
            Some(false),
            &[0, 0],
        ),
        (
            &[(40000, 50000), (40001, 50001)],
            PortPattern::Unknown,
            Some(false),
            &[1],
        ),
    ];
    for (ports, pattern, pres, deltas) in cases {
        let p = port_allocation(&samples(ports)).expect("samples given");
        assert_eq!(
            (p.pattern, p.port_preservation, p.deltas.as_slice()),
            (*pattern, *pres, *deltas),
            "{ports:?}"
        );
        assert_eq!(p.samples, ports.len());
    }
    assert_eq!(port_allocation(&[]), None);
    let obs = Observations {
        port_samples: samples(&[(40000, 50000), (40001, 50002), (40002, 50004)]),
        ..Observations::default()
    };
    let v = classify(&obs);
    assert!(
        v.evidence
            .iter()
            .any(|e| e.test == "port-allocation" && e.detail.contains("[2, 2]"))
    );
    assert_eq!(v.udp, UdpStatus::Ok);
}

fn probe(secs: u64, alive: bool) -> LifetimeProbe {
    LifetimeProbe {
        idle: Duration::from_secs(secs),
        alive,
    }
}

#[test]
fn lifetime_bracket() {
    assert_eq!(mapping_lifetime(&[]), None);
    let l = mapping_lifetime(&[
        probe(15, true),
        probe(60, false),
        probe(30, true),
        probe(45, false),
    ])
    .expect("probes");
    assert_eq!(
        (l.lower_ms, l.upper_ms, l.consistent, l.probes),
        (Some(30_000), Some(45_000), true, 4)
    );
    let l =
        mapping_lifetime(&[probe(30, true), probe(20, false), probe(60, false)]).expect("probes");
    assert_eq!(
        (l.lower_ms, l.upper_ms, l.consistent),
        (Some(30_000), Some(60_000), false)
    );
    let l = mapping_lifetime(&[probe(15, false)]).expect("probes");
    assert_eq!((l.lower_ms, l.upper_ms), (None, Some(15_000)));
    let v = classify(&Observations {
        lifetime: vec![probe(30, true), probe(20, false)],
        ..Observations::default()
    });
    assert!(
        v.evidence
            .iter()
            .any(|e| e.test == "mapping-lifetime" && e.detail.contains("inconsistent"))
    );
}

#[test]
fn lifetime_planner_finds_the_timeout_within_budget() {
    let plan = LifetimePlan::default();
    for truth in [7u64, 47, 118, 180, 299, 1000] {
        let mut probes = Vec::new();
        let mut budget = Duration::from_secs(3600);
        while let Some(next) = next_lifetime_probe(&probes, budget, &plan) {
            assert!(
                next <= budget && probes.len() < 64,
                "planner must stay bounded"
            );
            budget -= next;
            probes.push(LifetimeProbe {
                idle: next,
                alive: next.as_secs() < truth,
            });
        }
        let l = mapping_lifetime(&probes).expect("probed");
        let lower = l.lower_ms.unwrap_or(0);
        if truth >= 300 {
            assert!(lower >= 300_000 && l.upper_ms.is_none(), "{truth}: {l:?}");
        } else {
            let upper = l.upper_ms.expect("found an expiry");
            assert!(
                lower < truth * 1000 && truth * 1000 <= upper,
                "{truth}: {l:?}"
            );
            assert!(upper - lower <= 5_000, "{truth}: resolution {l:?}");
        }
    }
    // A small budget stops early or clamps.
    assert_eq!(
        next_lifetime_probe(&[], Duration::from_secs(2), &plan),
        None
    );
    assert_eq!(
        next_lifetime_probe(&[probe(15, true)], Duration::from_secs(25), &plan),
        Some(Duration::from_secs(25))
    );
    assert_eq!(
        next_lifetime_probe(&[probe(30, true), probe(60, false)], Duration::MAX, &plan),
        Some(Duration::from_secs(45))
    );
}

fn verdict(m: Behaviour, f: Behaviour, behind: Option<bool>) -> NatVerdict {
    let mut v = NatVerdict::unknown();
    v.mapping = m;
    v.filtering = f;
    v.behind_nat = behind;
    v.udp = UdpStatus::Ok;
    v
}

#[test]
fn holepunch_table() {
    use Behaviour::*;
    use HolePunchOutcome::*;
    let nat = |m, f| verdict(m, f, Some(true));
    let open = verdict(EndpointIndependent, EndpointIndependent, Some(false));
    let full = nat(EndpointIndependent, EndpointIndependent);
    let restricted = nat(EndpointIndependent, AddressDependent);
    let port_restricted = nat(EndpointIndependent, AddressAndPortDependent);
    let sym_eif = nat(AddressAndPortDependent, EndpointIndependent);
    let sym_adf = nat(AddressDependent, AddressDependent);
    let sym = nat(AddressAndPortDependent, AddressAndPortDependent);
    let cases = [
        (&open, &sym, Direct),
        (&full, &sym, Direct),
        (&restricted, &restricted, DirectLikely),
        (&port_restricted, &port_restricted, DirectLikely),
        (&restricted, &sym, DirectLikely),
        (&port_restricted, &sym, RelayNeeded),
        (&port_restricted, &sym_adf, RelayNeeded),
        (&port_restricted, &sym_eif, RelayNeeded),
        (&sym_eif, &sym_adf, DirectLikely),
        (&sym_eif, &sym, RelayNeeded),
        (&sym_adf, &sym_adf, RelayNeeded),
        (&sym, &sym, RelayNeeded),
    ];
    for (a, b, want) in cases {
        assert_eq!(
            holepunch(a, b).outcome,
            want,
            "{:?}/{:?} vs {:?}/{:?}",
            a.mapping,
            a.filtering,
            b.mapping,
            b.filtering
        );
        assert_eq!(holepunch(b, a).outcome, want, "symmetric");
        assert!(!holepunch(a, b).reason.is_empty());
    }
    let mut blocked = full.clone();
    blocked.udp = UdpStatus::Blocked;
    assert_eq!(holepunch(&blocked, &open).outcome, RelayNeeded);
    // Unknown filtering, EIM vs EIM: direct in every case.
    let cone = nat(EndpointIndependent, Behaviour::Unknown);
    assert_eq!(holepunch(&cone, &restricted).outcome, DirectLikely);
    // Unknown filtering vs symmetric: depends.
    assert_eq!(holepunch(&cone, &sym).outcome, HolePunchOutcome::Unknown);
    assert_eq!(
        holepunch(&NatVerdict::unknown(), &NatVerdict::unknown()).outcome,
        HolePunchOutcome::Unknown
    );
    // Open peer with unknown everything else still reaches anyone.
    assert_eq!(holepunch(&open, &NatVerdict::unknown()).outcome, Direct);
    // Sequential allocation is mentioned as a way out.
    let mut seq = sym.clone();
    seq.port_allocation = port_allocation(&samples(&[(1, 50000), (2, 50001), (3, 50002)]));
    let p = holepunch(&seq, &sym);
    assert_eq!(p.outcome, RelayNeeded);
    assert!(p.reason.contains("port prediction"));
}

#[test]
fn json_contract_round_trip() {
    let mut obs = one(server_behind(
        sa(PRIMARY),
        sa(OTHER),
        B::Ei,
        B::Apd,
        Hairpin::Received,
    ));
    obs.port_samples = samples(&[(40000, 40000), (40001, 40001), (40002, 40002)]);
    obs.lifetime = vec![probe(30, true), probe(60, false)];
    let v = classify(&obs);
    let json = serde_json::to_value(&v).expect("serialisable");
    let keys: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "mapping",
        "filtering",
        "behind_nat",
        "udp",
        "hairpinning",
        "public",
        "double_nat",
        "confidence",
        "evidence",
        "mapping_confidence",
        "filtering_confidence",
        "cgnat",
        "rfc3489",
        "p2p",
        "summary",
        "port_allocation",
        "mapping_lifetime",
        "servers",
        "disagreements",
    ] {
        assert!(keys.contains(&k), "missing {k} in {keys:?}");
    }
    assert_eq!(json["mapping"], "endpoint-independent");
    assert_eq!(json["filtering"], "address-and-port-dependent");
    assert_eq!(json["udp"], "ok");
    assert_eq!(json["confidence"], "medium");
    assert_eq!(json["behind_nat"], true);
    assert_eq!(json["hairpinning"], true);
    assert_eq!(json["double_nat"], serde_json::Value::Null);
    assert_eq!(json["public"], "198.51.100.7:50000");
    assert_eq!(json["rfc3489"], "port-restricted-cone");
    assert_eq!(json["p2p"], "turn-for-symmetric-peers");
    assert_eq!(json["port_allocation"]["pattern"]["kind"], "preserved");
    assert_eq!(json["mapping_lifetime"]["lower_ms"], 30_000);
    assert_eq!(json["servers"][0]["status"], "rfc5780");
    assert!(
        json["evidence"][0].get("test").is_some() && json["evidence"][0].get("detail").is_some()
    );
    let back: NatVerdict = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, v);

    // Every value spelling.
    let s = |x: serde_json::Value| x.as_str().expect("string").to_owned();
    let b = |x: Behaviour| s(serde_json::to_value(x).expect("ser"));
    assert_eq!(
        [
            b(Behaviour::EndpointIndependent),
            b(Behaviour::AddressDependent),
            b(Behaviour::AddressAndPortDependent),
            b(Behaviour::Unknown)
        ],
        [
            "endpoint-independent",
            "address-dependent",
            "address-and-port-dependent",
            "unknown"
        ]
    );
    let u = |x: UdpStatus| s(serde_json::to_value(x).expect("ser"));
    assert_eq!(
        [
            u(UdpStatus::Ok),
            u(UdpStatus::Blocked),
            u(UdpStatus::Unknown)
        ],
        ["ok", "blocked", "unknown"]
    );
    let c = |x: Confidence| s(serde_json::to_value(x).expect("ser"));
    assert_eq!(
        [
            c(Confidence::None),
            c(Confidence::Low),
            c(Confidence::Medium),
            c(Confidence::High)
        ],
        ["none", "low", "medium", "high"]
    );
    let st = |x: ServerStatus| s(serde_json::to_value(x).expect("ser"));
    assert_eq!(
        [
            st(ServerStatus::NotRfc5780),
            st(ServerStatus::UdpBlocked),
            st(ServerStatus::Down),
            st(ServerStatus::Inconsistent),
            st(ServerStatus::NoUdpAnswer)
        ],
        [
            "not-rfc5780",
            "udp-blocked",
            "down",
            "inconsistent",
            "no-udp-answer"
        ]
    );

    // The original nine-field document still parses (new fields default).
    let old = r#"{"mapping":"unknown","filtering":"unknown","behind_nat":null,"udp":"blocked","hairpinning":null,
        "public":null,"double_nat":null,"confidence":"low","evidence":[{"test":"udp-blocked","detail":"x"}]}"#;
    let v: NatVerdict = serde_json::from_str(old).expect("old document");
    assert_eq!(v.udp, UdpStatus::Blocked);
    assert!(v.servers.is_empty());

    // Observations are serialisable too (fixtures).
    let text = serde_json::to_string(&obs).expect("ser");
    let back: Observations = serde_json::from_str(&text).expect("de");
    assert_eq!(back, obs);
}
