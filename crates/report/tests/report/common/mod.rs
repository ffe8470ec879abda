//! Sample reports shared by the integration tests.
#![allow(dead_code)]

use model::*;
use std::path::PathBuf;

/// natscope's fixtures/reports directory.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/reports")
}

pub fn addr(s: &str) -> std::net::SocketAddr {
    s.parse().expect("test literal is a socket address")
}

/// A NAT verdict built through its JSON form, so this keeps compiling while
/// natclass grows new (serde-defaulted) fields.
pub fn verdict() -> natclass::NatVerdict {
    serde_json::from_value(serde_json::json!({
        "mapping": "endpoint-independent",
        "filtering": "address-and-port-dependent",
        "behind_nat": true,
        "udp": "ok",
        "hairpinning": null,
        "public": "203.0.113.7:40000",
        "double_nat": false,
        "confidence": "high",
        "evidence": [
            {"test": "mapping-test-2", "detail": "same mapping towards 198.51.100.2:3478"},
            {"test": "filtering-test-3", "detail": "no answer from 198.51.100.1:3479"}
        ]
    }))
    .expect("sample verdict matches natclass::NatVerdict")
}

pub fn stun_server(label: &str, software: Option<&str>) -> StunServer {
    StunServer {
        label: label.to_owned(),
        uri: format!("stun:{label}"),
        transport: Transport::Udp,
        address: Some(addr("198.51.100.1:3478")),
        local: Some(addr("192.0.2.10:40000")),
        outcome: Outcome::Ok,
        mapped: Some(addr("203.0.113.7:40000")),
        rtt_ms: Some(23.4),
        transmissions: 1,
        response_origin: Some(addr("198.51.100.1:3478")),
        other_address: Some(addr("198.51.100.2:3479")),
        rfc5780: Some(true),
        rfc3489: Some(false),
        software: software.map(str::to_owned),
        error: None,
        waited_ms: None,
    }
}

/// A report with every typed section tested.
pub fn full() -> Report {
    let mut r = Report::new("diagnose", "2025-01-15T10:30:00Z");
    r.options = Options {
        timeout_ms: Some(3000),
        servers: vec!["stun.example.net".into()],
        bind: None,
        ipv4: true,
        ipv6: true,
        redacted: false,
    };
    let ip: std::net::IpAddr = "192.0.2.10".parse().expect("literal");
    r.interfaces = Section::Tested(Interfaces {
        interfaces: vec![Interface {
            name: "eth0".into(),
            index: 2,
            kind: InterfaceKind::Ethernet,
            up: true,
            mtu: Some(1500),
            mac: Some("02:00:00:00:00:01".into()),
            addresses: vec![InterfaceAddress {
                ip,
                prefix: 24,
                scope: AddressScope::of(ip),
            }],
            gateway: Some("192.0.2.1".parse().expect("literal")),
            vpn_hint: None,
        }],
        default_gateway: Some(DefaultGateway {
            interface: "eth0".into(),
            addresses: vec!["192.0.2.1".parse().expect("literal")],
        }),
    });
    let mut timeout = stun_server("stun2.example.net", None);
    timeout.transport = Transport::Tcp;
    timeout.outcome = Outcome::Timeout;
    timeout.mapped = None;
    timeout.rtt_ms = None;
    timeout.rfc5780 = None;
    timeout.error = Some("no answer within 3000 ms".into());
    r.stun = Section::Tested(StunSection {
        servers: vec![
            stun_server("stun.example.net", Some("example-stun 1.0")),
            timeout,
        ],
        agreement: Agreement {
            ipv4: FamilyAgreement {
                answered: 1,
                same_ip: None,
                same_port: None,
                public_ips: vec!["203.0.113.7".parse().expect("literal")],
            },
            ipv6: FamilyAgreement::default(),
        },
        counters: Counters {
            malformed: 2,
            unmatched: 1,
        },
    });
    r.nat = Section::Tested(verdict());
    r.turn = Section::not_tested("no TURN server given");
    r.ice = Section::failed("could not bind a UDP socket");
    r.summary = Summary {
        works: vec!["UDP reaches STUN servers".into()],
        problems: vec!["STUN over TCP timed out".into()],
        advice: vec!["Configure a TURN server".into()],
        checks: vec![
            Check {
                id: CheckId::Udp,
                status: CheckStatus::Pass,
                reason: "1 server answered".into(),
            },
            Check {
                id: CheckId::parse("turn"),
                status: CheckStatus::NotTested,
                reason: "no TURN server given".into(),
            },
        ],
    };
    r
}

/// A browser section of every shape: policy all with host (mDNS), srflx,
/// relay (UDP) and an ICE-TCP candidate, candidate errors; policy relay
/// with a TLS relay candidate. Connected under all, timed out under relay.
pub fn browser() -> browser::BrowserSection {
    use browser::*;
    use ice::{CandidateType, RelayProtocol};
    let candidate = |kind: CandidateType, address: &str, url: Option<&str>| BrowserCandidate {
        kind,
        protocol: "udp".into(),
        address: address.into(),
        mdns: address.ends_with(".local"),
        port: 54321,
        url: url.map(str::to_owned),
        relay_protocol: (kind == CandidateType::Relay).then_some(RelayProtocol::Udp),
        tcp_type: None,
        at_ms: 12.25,
    };
    let mut tcp = candidate(
        CandidateType::Host,
        "0c6d3f2a-5b1e-4e7a-9d3c-1f2e3d4c5b6a.local",
        None,
    );
    tcp.protocol = "tcp".into();
    tcp.port = 9;
    tcp.tcp_type = Some("active".into());
    let mut tls_relay = candidate(
        CandidateType::Relay,
        "198.51.100.20",
        Some("turns:turn.example.net:443"),
    );
    tls_relay.relay_protocol = Some(RelayProtocol::Tls);
    let error = |code: u16, url: &str, text: &str| BrowserCandidateError {
        code,
        url: url.into(),
        text: text.into(),
        at_ms: 300.5,
    };
    BrowserSection {
        browser: BrowserInfo {
            name: "Firefox".into(),
            version: "128.0".into(),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
                .into(),
        },
        launched: "firefox".into(),
        gathering: vec![
            BrowserGathering {
                policy: BrowserPolicy::All,
                complete: true,
                total_ms: 350.75,
                candidates: vec![
                    candidate(
                        CandidateType::Host,
                        "0c6d3f2a-5b1e-4e7a-9d3c-1f2e3d4c5b6a.local",
                        None,
                    ),
                    tcp,
                    candidate(
                        CandidateType::Srflx,
                        "203.0.113.7",
                        Some("stun:stun.example.net:3478"),
                    ),
                    candidate(
                        CandidateType::Relay,
                        "198.51.100.20",
                        Some("turn:turn.example.net:3478"),
                    ),
                ],
                errors: vec![
                    error(
                        701,
                        "turn:turn.example.net:3479",
                        "TURN allocate request timed out.",
                    ),
                    error(401, "turn:turn.example.net:3478", "Unauthorized"),
                ],
                servers: vec![
                    BrowserServerGathering {
                        url: "stun:stun.example.net:3478".into(),
                        candidates: 1,
                        first_ms: Some(30.5),
                        errors: 0,
                    },
                    BrowserServerGathering {
                        url: "turn:turn.example.net:3479".into(),
                        candidates: 0,
                        first_ms: None,
                        errors: 1,
                    },
                ],
            },
            BrowserGathering {
                policy: BrowserPolicy::Relay,
                complete: false,
                total_ms: 5000.0,
                candidates: vec![tls_relay],
                errors: Vec::new(),
                servers: Vec::new(),
            },
        ],
        connections: vec![
            BrowserConnection {
                policy: BrowserPolicy::All,
                outcome: BrowserOutcome::Connected,
                failure: None,
                ice_connected_ms: Some(64.5),
                channel_open_ms: Some(120.25),
                round_trip_ms: Some(1.5),
                echoed: 10,
                sent: 10,
                selected: Some(BrowserSelectedPair {
                    local: CandidateType::Srflx,
                    local_protocol: "udp".into(),
                    relay_protocol: None,
                    remote: CandidateType::Host,
                    local_address: "203.0.113.7:54321".into(),
                    remote_address: "192.0.2.10:40000".into(),
                }),
                stats: Some(BrowserStats {
                    current_rtt_ms: Some(1.25),
                    available_outgoing_bitrate: Some(2_500_000.0),
                    bytes_sent: Some(4096),
                    bytes_received: None,
                }),
                peer_saw: Some("ICE connected; packets from 203.0.113.7:54321".into()),
            },
            BrowserConnection {
                policy: BrowserPolicy::Relay,
                outcome: BrowserOutcome::TimedOut,
                failure: Some("ICE checking did not finish within 10 s".into()),
                ice_connected_ms: None,
                channel_open_ms: None,
                round_trip_ms: None,
                echoed: 0,
                sent: 0,
                selected: None,
                stats: None,
                peer_saw: None,
            },
        ],
        not_tested: vec!["ICE-TCP connectivity".into()],
    }
}

/// [`full`] with [`browser`] tested.
pub fn with_browser() -> Report {
    let mut r = full();
    r.browser = Section::Tested(browser());
    r
}

/// Network text with markup and terminal escapes, as a hostile TURN server
/// would put into SOFTWARE or a reason phrase.
pub const HOSTILE_SOFTWARE: &str = "Coturn-4.6.1 <script>alert(1)</script>\u{1b}[31mred\u{1b}[0m";

/// An audit of one server: UDP given and relayed, TLS on 443 implied and
/// timed out; loopback accepted and proved through the relay, a private
/// peer refused, link-local not tested, a multicast peer answered with an
/// error; a quota at 486; REST credentials probed. Its SOFTWARE is
/// [`HOSTILE_SOFTWARE`].
pub fn audit() -> audit::AuditSection {
    use audit::*;
    use turn::{TurnFailure, TurnTransport};
    let attempt = |category, peer: &str, via, outcome, delivered| PeerAttempt {
        category,
        peer: addr(peer),
        transport: TurnTransport::Udp,
        via,
        outcome,
        delivered,
        ms: Some(1.5),
    };
    AuditSection {
        servers: vec![AuditServer {
            label: "turn.example.net".into(),
            uri: "turn:turn.example.net:3478".into(),
            address: Some(addr("198.51.100.5:3478")),
            software: Some(HOSTILE_SOFTWARE.into()),
            product: Some(Product {
                name: "coturn".into(),
                version: Some("4.6.1".into()),
            }),
            transports: vec![
                AuditTransport {
                    uri: "turn:turn.example.net:3478".into(),
                    transport: TurnTransport::Udp,
                    port: 3478,
                    given: true,
                    relayed: Some(addr("198.51.100.5:50000")),
                    relayed_ipv6: None,
                    failure: None,
                },
                AuditTransport {
                    uri: "turns:turn.example.net:443".into(),
                    transport: TurnTransport::Tls,
                    port: 443,
                    given: false,
                    relayed: None,
                    relayed_ipv6: None,
                    failure: Some(TurnFailure::Timeout { after_ms: 3000 }),
                },
            ],
            peers: vec![
                attempt(
                    PeerCategory::Loopback,
                    "127.0.0.1:3478",
                    PeerVia::Send,
                    AttemptOutcome::Accepted,
                    Some(true),
                ),
                attempt(
                    PeerCategory::Private,
                    "10.0.0.1:9",
                    PeerVia::CreatePermission,
                    AttemptOutcome::Refused,
                    None,
                ),
                attempt(
                    PeerCategory::Private,
                    "192.168.0.1:9",
                    PeerVia::CreatePermission,
                    AttemptOutcome::Refused,
                    None,
                ),
                attempt(
                    PeerCategory::LinkLocal,
                    "169.254.169.254:80",
                    PeerVia::Connect,
                    AttemptOutcome::NotTested {
                        why: "no TCP allocation".into(),
                    },
                    None,
                ),
                attempt(
                    PeerCategory::Multicast,
                    "224.0.0.1:9",
                    PeerVia::ChannelBind,
                    AttemptOutcome::Error {
                        code: 420,
                        reason: "Unknown Attribute".into(),
                    },
                    None,
                ),
            ],
            quota: Some(QuotaProbe {
                bound: 50,
                granted: 5,
                stopped_by: Some(486),
                released: 4,
            }),
            rest: Some(RestLifetime {
                expired_accepted: Some(false),
                long_lived_secs: 30 * 86_400,
                long_lived_accepted: Some(true),
            }),
        }],
    }
}

/// A load run of 3 steps (10, 20, 30 allocations) whose last step lost
/// 4 %: the knee; one error code.
pub fn load() -> load::LoadSection {
    use load::*;
    let step = |at_ms, allocations: u32, loss: f64, p50: f64| LoadStep {
        at_ms,
        allocations,
        offered_pps: f64::from(allocations) * 50.0,
        delivered_pps: f64::from(allocations) * 50.0 * (1.0 - loss / 100.0),
        loss_percent: Some(loss),
        rtt_p50_ms: Some(p50),
        rtt_p95_ms: Some(p50 * 2.0),
        jitter_ms: Some(0.75),
    };
    let pct = |p50| Percentiles {
        count: 100,
        p50_ms: Some(p50),
        p95_ms: Some(p50 * 2.0),
        p99_ms: Some(p50 * 3.0),
        max_ms: Some(p50 * 4.0),
    };
    LoadSection {
        label: "turn.example.net".into(),
        uri: "turn:turn.example.net:3478".into(),
        transport: turn::TurnTransport::Udp,
        address: Some(addr("198.51.100.5:3478")),
        config: LoadConfig {
            allocations: 30,
            rate_pps: 50,
            size: 160,
            steps: 3,
            ramp_ms: 20_000,
            duration_ms: 30_000,
        },
        allocations: AllocationStats {
            attempted: 31,
            created: 30,
            failed: 1,
            per_second: Some(12.5),
            time: pct(8.25),
            released: 30,
            release_attempted: 30,
        },
        traffic: TrafficStats {
            sent: 60_000,
            received: 59_100,
            lost: 900,
            loss_percent: Some(1.5),
            sent_pps: 2000.0,
            received_pps: 1970.0,
            sent_mbit_s: 3.2,
            received_mbit_s: 3.15,
            rtt: Percentiles {
                count: 59_100,
                ..pct(12.5)
            },
            jitter_ms: Some(0.8),
        },
        steps: vec![
            step(0, 10, 0.0, 10.0),
            step(10_000, 20, 0.5, 12.0),
            step(20_000, 30, 4.0, 31.5),
        ],
        knee: Some(Knee {
            allocations: 30,
            offered_pps: 1500.0,
            reason: KneeReason::Loss,
        }),
        errors: vec![ErrorCount {
            code: 486,
            request: "Allocate".into(),
            count: 1,
            meaning: "486 Allocation Quota Reached".into(),
        }],
        ended: LoadEnd::Completed,
        malformed: 2,
    }
}

/// [`full`] with [`audit`] and [`load`] tested, and an audit finding of
/// security level high.
pub fn with_audit_load() -> Report {
    let mut r = full();
    r.command = "turn".into();
    r.audit = Section::Tested(audit());
    r.load = Section::Tested(load());
    let mut f = Finding::new(
        FindingId::AuditRelaysLoopback,
        Severity::Critical,
        "turn.example.net relays to its own host (127.0.0.1)",
        "Set no-loopback-peers and denied-peer-ip=0.0.0.0-0.255.255.255 in turnserver.conf",
    )
    .with_evidence(".audit.servers[0].peers[0].outcome", "accepted")
    .explaining([CheckId::TurnAudit]);
    f.security = Some(diagnosis::SecurityLevel::High);
    r.diagnosis.findings.push(f);
    r.summary.checks.push(Check {
        id: CheckId::TurnAudit,
        status: CheckStatus::Fail,
        reason: "the server relays to its own host".into(),
    });
    r.summary.checks.push(Check {
        id: CheckId::TurnLoad,
        status: CheckStatus::Pass,
        reason: "30 allocations relayed".into(),
    });
    r
}

/// An IPv6 verdict as natclass writes it for a host with no translation
/// behind a stateful firewall (RFC 6092: address-and-port-dependent
/// filtering), built through its JSON form. `text` goes into the summary
/// and the evidence (pass something hostile to test escaping).
pub fn verdict_ipv6(text: &str) -> natclass::NatVerdict {
    serde_json::from_value(serde_json::json!({
        "mapping": "endpoint-independent",
        "filtering": "address-and-port-dependent",
        "behind_nat": false,
        "udp": "ok",
        "hairpinning": null,
        "public": "[2001:db8:1::10]:40002",
        "double_nat": false,
        "confidence": "high",
        "mapping_confidence": "high",
        "filtering_confidence": "high",
        "rfc3489": "symmetric-udp-firewall",
        "p2p": "turn-for-symmetric-peers",
        "summary": format!("IPv6: no NAT; a stateful firewall admits only replies (address-and-port-dependent filtering, the RFC 6092 default): a direct connection works only when both sides send (hole punching) (confidence high){text}"),
        "evidence": [
            {
                "test": "mapping-test-1",
                "detail": format!("mapped [2001:db8:1::10]:40002 is this host's own socket{text}"),
                "server": "[2001:db8::1]:3478"
            },
            {"test": "filtering-test-3", "detail": "no answer from [2001:db8::2]:3479 (change port only)"}
        ],
        "servers": [{
            "server": "[2001:db8::1]:3478",
            "status": "rfc5780",
            "mapping": "endpoint-independent",
            "filtering": "address-and-port-dependent",
            "hairpinning": null,
            "public": "[2001:db8:1::10]:40002",
            "confidence": "high"
        }],
        "family": "ipv6",
        "translation": "none"
    }))
    .expect("sample IPv6 verdict matches natclass::NatVerdict")
}

/// [`full`] with an IPv4 and a tested IPv6 verdict (no translation, APDF
/// firewall); `text` as in [`verdict_ipv6`].
pub fn with_nat_ipv6(text: &str) -> Report {
    let mut r = full();
    if let Section::Tested(v) = &mut r.nat {
        v.family = Some(natclass::Family::Ipv4);
        v.translation = Some(natclass::Translation::Nat);
    }
    r.nat_ipv6 = Section::Tested(verdict_ipv6(text));
    r
}

/// A real `natscope peer` report: `creator` and `joiner` of one session on
/// loopback (one rendezvous, both sides on this machine, no NAT), as the
/// two sides wrote them; `failed`, a joiner with a wrong code.
pub fn peer_fixture(role: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/report/fixtures")
        .join(format!("peer-{role}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// One side's ICE run of a peer session: connected srflx → srflx with a
/// data channel (the agent list holds this side only).
pub fn peer_ice() -> ice::IceRun {
    use ice::*;
    IceRun {
        filter: IceFilter::All,
        relay_only: None,
        connected: true,
        failure: None,
        agents: vec![IceAgent {
            role: Side::A,
            allowed: None,
            candidates: vec![IceCandidate {
                kind: CandidateType::Srflx,
                protocol: "udp".into(),
                address: addr("203.0.113.7:40001"),
                related_address: Some(addr("192.0.2.10:40001")),
                server: Some("stun:stun.example.net:3478".into()),
                gathered_ms: 20.5,
                used: true,
                dropped: None,
                relay_protocol: None,
            }],
            server_problems: Vec::new(),
            gathering_ms: 20.5,
            gathering_complete: true,
        }],
        selected: Some(IcePair {
            local_type: CandidateType::Srflx,
            local_address: addr("203.0.113.7:40001"),
            remote_type: CandidateType::Srflx,
            remote_address: addr("198.51.100.30:50001"),
            local_relay_protocol: None,
            remote_relay_protocol: None,
        }),
        peer_reflexive_seen: false,
        time_to_connected_ms: Some(85.25),
        rtt_ms: Some(31.5),
        payload: Some(IcePayload {
            sent: 3,
            a_to_b: 3,
            b_to_a: 3,
        }),
        hairpin: None,
        data_channel: Some(IceDataChannel {
            works: true,
            failure: None,
            time_to_open_ms: Some(140.75),
            dtls_connected_ms: Some(120.0),
            a_to_b: true,
            b_to_a: true,
            message_rtt_ms: Some(32.0),
        }),
        duration_ms: 900.0,
    }
}

/// A tested peer session of every shape: direct succeeded by hole
/// punching (srflx-srflx), relay-allowed failed with a reason; two
/// hole-punch attempts, the second through; both NAT verdicts, the
/// prediction held. `remote_version` and the prediction's reason are
/// `untrusted` (pass hostile text to test escaping).
pub fn peer(role: peer::PeerRole, untrusted: &str) -> peer::PeerSection {
    use peer::*;
    let mut remote = verdict();
    remote.public = Some(addr("198.51.100.30:50000"));
    PeerSection {
        session: Some("5f2a9c0e7b1d4a36".into()),
        rendezvous: "https://rendezvous.example.net:8478".into(),
        role,
        remote_version: Some(format!("0.1.0{untrusted}")),
        local_nat: Some(verdict()),
        remote_nat: Some(remote),
        predicted: Some(natclass::HolePunchPrediction {
            outcome: natclass::HolePunchOutcome::DirectLikely,
            reason: format!("both map endpoint-independently{untrusted}"),
        }),
        observed: PeerObserved::HolePunched,
        prediction_held: Some(true),
        policies: vec![
            PeerPolicyResult {
                policy: PeerPolicy::Direct,
                outcome: PeerOutcome::Success,
                reason: None,
                path: Some("srflx-srflx".into()),
                throughput_kbps: Some(2450.5),
                ice: Some(peer_ice()),
            },
            PeerPolicyResult {
                policy: PeerPolicy::RelayAllowed,
                outcome: PeerOutcome::Failed,
                reason: Some(format!("the TURN server refused{untrusted}")),
                path: None,
                throughput_kbps: None,
                ice: None,
            },
        ],
        holepunch: Section::Tested(HolePunch {
            local_public: Some(addr("203.0.113.7:40002")),
            remote_public: Some(addr("198.51.100.30:50002")),
            local_reachable: false,
            remote_reachable: false,
            attempts: vec![
                PunchAttempt {
                    attempt: 1,
                    success: false,
                    got_through: PunchDirection::LocalToRemote,
                    first_in_ms: None,
                    first_out_ms: Some(41.25),
                    sent: 10,
                    received: 0,
                },
                PunchAttempt {
                    attempt: 2,
                    success: true,
                    got_through: PunchDirection::Both,
                    first_in_ms: Some(33.5),
                    first_out_ms: Some(35.75),
                    sent: 10,
                    received: 9,
                },
            ],
            success: true,
            first_attempt_success: false,
            remote_seen_from: Some(addr("198.51.100.30:50003")),
        }),
        tcp: Section::Tested(TcpPunch {
            local_public: Some(addr("203.0.113.7:40010")),
            remote_public: Some(addr("198.51.100.30:50010")),
            local_addr: Some(addr("192.168.1.20:40010")),
            remote_addr: Some(addr("198.51.100.30:50010")),
            attempts: vec![
                TcpAttempt {
                    attempt: 1,
                    connected: false,
                    open: None,
                    time_to_connect_ms: None,
                    tries: 7,
                    refused: 6,
                },
                TcpAttempt {
                    attempt: 2,
                    connected: true,
                    open: Some(TcpOpen::Simultaneous),
                    time_to_connect_ms: Some(12.25),
                    tries: 2,
                    refused: 1,
                },
            ],
            success: true,
            first_attempt_success: false,
        }),
        failure: None,
        duration_ms: 2750.5,
    }
}

/// A peer session that failed before the two sides met: no session label,
/// nothing run, the failure with its remedy.
pub fn peer_failed() -> peer::PeerSection {
    use peer::*;
    PeerSection {
        session: None,
        rendezvous: "http://rendezvous.example.net:8478".into(),
        role: PeerRole::Joiner,
        remote_version: None,
        local_nat: None,
        remote_nat: None,
        predicted: None,
        observed: PeerObserved::Unknown,
        prediction_held: None,
        policies: PeerPolicy::ALL
            .into_iter()
            .map(|policy| PeerPolicyResult {
                policy,
                outcome: PeerOutcome::NotTested,
                reason: Some("the session never began".into()),
                path: None,
                throughput_kbps: None,
                ice: None,
            })
            .collect(),
        holepunch: Section::not_tested("the session never began"),
        tcp: Section::not_tested("the session never began"),
        failure: Some(PeerFailure {
            kind: "unknown-session".into(),
            message: "the rendezvous knows no session with this code".into(),
            remedy: "check the code the other side printed, or ask it to start again".into(),
        }),
        duration_ms: 120.0,
    }
}

/// A `natscope peer` report from `role`'s side with [`peer`].
pub fn with_peer(role: peer::PeerRole, untrusted: &str) -> Report {
    let mut r = Report::new("peer", "2025-01-15T10:30:00Z");
    r.peer = Section::Tested(peer(role, untrusted));
    r
}
