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
