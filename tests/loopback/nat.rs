//! The NAT probe (`probe::nat`) against real servers on loopback: natscope's
//! RFC 5780 responder (127.0.0.1 + 127.0.0.2), real coturn with two
//! listening IPs, a plain (single-address) responder, and a dead port.
//! Loopback has no NAT, so the truth is known: mapped == local, endpoint-
//! independent mapping and filtering, an RFC 5780 capable server.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use natclass::{Behaviour, Confidence, NatVerdict, ServerStatus, UdpStatus, classify};
use probe::nat::{NatProbeConfig, NatProbeOutput};
use servers::responder::{RateLimit, Responder, ResponderConfig};

const LO1: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const LO2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

async fn run(servers: Vec<SocketAddr>, timeout: Duration) -> (NatProbeOutput, NatVerdict) {
    let cfg = NatProbeConfig {
        servers,
        timeout,
        local: probe::nat::local_network(),
        ..NatProbeConfig::default()
    };
    let out = probe::nat::probe(&cfg).await;
    let v = classify(&out.observations);
    (out, v)
}

fn assert_open_internet(out: &NatProbeOutput, v: &NatVerdict) {
    let dump = || format!("{v:#?}\n{:#?}", out.observations);
    assert_eq!(v.udp, UdpStatus::Ok, "{}", dump());
    assert_eq!(v.behind_nat, Some(false), "{}", dump());
    assert_eq!(v.mapping, Behaviour::EndpointIndependent, "{}", dump());
    assert_eq!(v.filtering, Behaviour::EndpointIndependent, "{}", dump());
    assert_eq!(v.filtering_confidence, Confidence::High, "{}", dump());
    assert_eq!(v.rfc3489, natclass::Rfc3489Type::OpenInternet, "{}", dump());
    assert_eq!(v.servers.len(), 1, "{}", dump());
    assert_eq!(v.servers[0].status, ServerStatus::Rfc5780, "{}", dump());
    assert!(v.disagreements.is_empty(), "{}", dump());
    let o = &out.observations.servers[0];
    // Every test really ran and was answered from where it should be.
    let other = o.other_address.expect("OTHER-ADDRESS");
    assert_eq!(
        o.mapping.test3,
        natclass::Reply::Answered {
            mapped: o.local.expect("local"),
            source: other,
        },
        "{}",
        dump()
    );
    assert_eq!(o.tcp_answered, Some(true), "{}", dump());
    assert_eq!(o.hairpin, natclass::Hairpin::Received, "{}", dump());
    // Port samples: fresh sockets, mapped port == local port on loopback.
    let pa = v.port_allocation.as_ref().expect("port samples");
    assert_eq!(pa.samples, 4, "{}", dump());
    assert_eq!(pa.port_preservation, Some(true), "{}", dump());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natscope_responder_on_loopback() {
    let cfg = ResponderConfig {
        rate_limit: RateLimit::disabled(),
        ..ResponderConfig::loopback_lab()
    };
    let responder = Responder::start(cfg).expect("responder on 127.0.0.1/127.0.0.2");
    let (out, v) = run(vec![responder.addrs().primary], Duration::from_secs(5)).await;
    assert_open_internet(&out, &v);
    assert_eq!(
        out.observations.servers[0].other_address,
        responder.addrs().other_address
    );
}

/// A loopback port nothing listens on: bound once to learn it, then closed.
fn dead_port() -> u16 {
    std::net::UdpSocket::bind((LO1, 0))
        .and_then(|s| s.local_addr())
        .expect("a free loopback port")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_is_port_closed_at_once() {
    let closed = SocketAddr::new(LO1, dead_port());
    let (out, v) = run(vec![closed], Duration::from_secs(10)).await;
    let dump = format!("{v:#?}\n{:#?}", out.observations);
    assert_eq!(v.servers[0].status, ServerStatus::PortClosed, "{dump}");
    assert!(v.evidence.iter().any(|e| e.test == "port-closed"), "{dump}");
    assert_eq!(v.udp, UdpStatus::Unknown, "{dump}");
    // ICMP port unreachable ended the test at the first transmission.
    assert!(
        matches!(
            out.observations.servers[0].mapping.test1,
            natclass::Reply::PortClosed { .. }
        ),
        "{dump}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_server_is_down() {
    // Bound and never answering: silence, not a closed port.
    let silent = std::net::UdpSocket::bind((LO1, 0)).expect("bind loopback");
    let dead = silent.local_addr().expect("bound");
    let (out, v) = run(vec![dead], Duration::from_secs(2)).await;
    let dump = format!("{v:#?}\n{:#?}", out.observations);
    assert_eq!(v.servers.len(), 1, "{dump}");
    assert_eq!(v.servers[0].status, ServerStatus::Down, "{dump}");
    assert!(v.evidence.iter().any(|e| e.test == "server-down"), "{dump}");
    assert_eq!(v.udp, UdpStatus::Unknown, "{dump}");
    assert_eq!(v.mapping, Behaviour::Unknown, "{dump}");
    assert_eq!(out.observations.servers[0].tcp_answered, Some(false));
    // The silence is real: several transmissions went out.
    match &out.observations.servers[0].mapping.test1 {
        natclass::Reply::NoAnswer { transmissions } => assert!(*transmissions >= 3, "{dump}"),
        other => panic!("expected no answer, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_server_gives_plain_inference_only() {
    let cfg = ResponderConfig {
        primary: LO1,
        alternate: None,
        port: 0,
        rate_limit: RateLimit::disabled(),
        ..ResponderConfig::default()
    };
    let plain = Responder::start(cfg).expect("plain responder");
    let (out, v) = run(vec![plain.addrs().primary], Duration::from_secs(5)).await;
    let dump = format!("{v:#?}\n{:#?}", out.observations);
    assert!(out.observations.servers.is_empty(), "{dump}");
    let p = out.observations.plain.as_ref().expect("plain probe ran");
    assert_eq!(p.answers.len(), 1, "{dump}");
    assert!(p.answers[0].reply.answered(), "{dump}");
    assert_eq!(v.servers.len(), 1, "{dump}");
    assert_eq!(v.servers[0].status, ServerStatus::NotRfc5780, "{dump}");
    assert_eq!(v.filtering, Behaviour::Unknown, "{dump}");
    assert_eq!(v.behind_nat, Some(false), "{dump}");
    assert!(
        v.evidence
            .iter()
            .any(|e| e.test == "plain-mapping" && e.detail.contains("filtering unknown")),
        "{dump}"
    );
    assert!(v.evidence.iter().any(|e| e.test == "not-rfc5780"), "{dump}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_servers_at_once_one_dead() {
    let cfg = ResponderConfig {
        rate_limit: RateLimit::disabled(),
        ..ResponderConfig::loopback_lab()
    };
    let responder = Responder::start(cfg).expect("responder");
    let silent = std::net::UdpSocket::bind((LO1, 0)).expect("bind loopback");
    let dead = silent.local_addr().expect("bound");
    let (out, v) = run(
        vec![dead, responder.addrs().primary],
        Duration::from_secs(2),
    )
    .await;
    let dump = format!("{v:#?}\n{:#?}", out.observations);
    assert_eq!(v.mapping, Behaviour::EndpointIndependent, "{dump}");
    assert_eq!(v.filtering, Behaviour::EndpointIndependent, "{dump}");
    let statuses: Vec<ServerStatus> = v.servers.iter().map(|s| s.status).collect();
    assert!(statuses.contains(&ServerStatus::Down), "{dump}");
    assert!(statuses.contains(&ServerStatus::Rfc5780), "{dump}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_on_loopback() {
    // The one loopback coturn launcher (two listening IPs: RFC 5780 on);
    // killed and cleaned up on drop, also when the test panics.
    let coturn = lab::LoopbackCoturn::start(&lab::CoturnOptions::default(), true)
        .expect("coturn (Debian package `coturn`) starts on loopback");
    let primary = SocketAddr::V4(coturn.primary);
    let (out, v) = run(vec![primary], Duration::from_secs(5)).await;
    // coturn has no port-sample or hairpin quirks on loopback; the full
    // open-internet verdict must hold when it is queried on its FIRST address.
    assert_open_internet(&out, &v);
    assert_eq!(
        out.observations.servers[0].other_address,
        Some(SocketAddr::new(LO2, coturn.primary.port() + 1))
    );
}
