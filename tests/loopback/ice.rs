//! ICE between two in-process rice-proto agents, per candidate type, on
//! loopback only: host↔host, srflx via the embedded STUN responder, relay
//! via the embedded TURN server, a named TURN error, and runs without
//! servers.

use model::Secret;
use model::ice::{CandidateType, IceFilter, RelayProtocol, Side};
use probe::ice::{
    GatherError, HairpinNote, IceFailure, IceOptions, IceRunResult, IceServers, IceTurnTransport,
    StunServerSpec, TurnServerSpec, run_all, run_filter,
};
use probe::turn::TlsOptions;
use servers::pki::Pki;
use servers::responder::{Responder, ResponderConfig};
use servers::turn::{TurnServer, TurnServerConfig};
use std::net::{IpAddr, Ipv4Addr};

const PASSWORD: &str = "c0rrect-h0rse-battery";

fn opts() -> IceOptions {
    IceOptions {
        pings: 3,
        ..IceOptions::loopback()
    }
}

fn responder() -> Responder {
    let cfg = ResponderConfig {
        primary: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        tcp: false,
        ..ResponderConfig::loopback_lab()
    };
    let cfg = ResponderConfig {
        alternate: None,
        ..cfg
    };
    Responder::start(cfg).expect("loopback responder starts")
}

async fn turn_server() -> TurnServer {
    let cfg = TurnServerConfig::new("natscope.test", "alice", Secret::new(PASSWORD));
    TurnServer::start(cfg)
        .await
        .expect("embedded TURN server starts")
}

fn stun_spec(r: &Responder) -> StunServerSpec {
    let addr = r.addrs().primary;
    StunServerSpec {
        url: format!("stun:{addr}"),
        addr,
    }
}

fn turn_spec(t: &TurnServer, password: &str) -> TurnServerSpec {
    TurnServerSpec {
        url: format!("turn:{}?transport=udp", t.udp_addr),
        addr: t.udp_addr,
        transport: IceTurnTransport::Udp,
        username: "alice".into(),
        password: Secret::new(password),
    }
}

fn turn_tcp_spec(t: &TurnServer) -> TurnServerSpec {
    TurnServerSpec {
        url: format!("turn:{}?transport=tcp", t.tcp_addr),
        addr: t.tcp_addr,
        transport: IceTurnTransport::Tcp,
        ..turn_spec(t, PASSWORD)
    }
}

/// `turns:localhost:PORT`, the certificate checked against `ca_pem`.
fn turn_tls_spec(t: &TurnServer, ca_pem: &str) -> TurnServerSpec {
    let config = probe::turn::tls::client_config(&TlsOptions {
        ca_pem: Some(ca_pem.as_bytes().to_vec()),
        insecure: false,
    })
    .expect("TLS client configuration");
    TurnServerSpec {
        url: format!("turns:localhost:{}", t.tls_addr.port()),
        addr: t.tls_addr,
        transport: IceTurnTransport::Tls {
            server_name: probe::turn::tls::server_name("localhost").expect("a DNS name"),
            config,
        },
        ..turn_spec(t, PASSWORD)
    }
}

/// Servers with one TURN server and no STUN server.
fn turn_only(turn: TurnServerSpec) -> IceServers {
    IceServers {
        stun: vec![],
        turn: vec![turn],
    }
}

/// Connected, with the selected pair of the expected types and a payload
/// that made every trip both ways.
fn assert_connected(r: &IceRunResult, local: CandidateType, remote: CandidateType) {
    assert!(
        r.connected(),
        "{} did not connect: {:?}\n{r:#?}",
        r.filter,
        r.failure
    );
    let sel = r
        .selected
        .as_ref()
        .expect("a connected run has a selected pair");
    assert_eq!((sel.local_kind, sel.remote_kind), (local, remote), "{r:#?}");
    let p = r
        .payload
        .as_ref()
        .expect("a connected run exchanged payload");
    assert!(p.sent > 0);
    assert_eq!(p.a_to_b, p.sent, "every ping reached b: {p:?}");
    assert_eq!(p.b_to_a, p.sent, "every pong reached a: {p:?}");
    assert_eq!(p.rtts.len() as u32, p.sent);
    assert!(r.time_to_connected.is_some());
}

#[tokio::test]
async fn host_host_connects_and_exchanges_payload_both_ways() {
    let r = run_filter(IceFilter::HostHost, &IceServers::default(), &opts()).await;
    assert_connected(&r, CandidateType::Host, CandidateType::Host);
    let sel = r.selected.as_ref().expect("checked above");
    assert!(sel.local_address.ip().is_loopback() && sel.remote_address.ip().is_loopback());
    assert_ne!(sel.local_address, sel.remote_address);
    for a in &r.agents {
        assert!(
            a.candidates
                .iter()
                .all(|c| c.kind == CandidateType::Host && c.used),
            "{a:#?}"
        );
    }
}

#[tokio::test]
async fn srflx_via_embedded_stun_responder() {
    let resp = responder();
    let servers = IceServers {
        stun: vec![stun_spec(&resp)],
        turn: vec![],
    };
    let r = run_filter(IceFilter::SrflxSrflx, &servers, &opts()).await;
    assert_connected(&r, CandidateType::Srflx, CandidateType::Srflx);
    for a in &r.agents {
        let srflx: Vec<_> = a
            .candidates
            .iter()
            .filter(|c| c.kind == CandidateType::Srflx)
            .collect();
        assert_eq!(srflx.len(), 1, "{a:#?}");
        assert_eq!(
            srflx[0].server.as_deref(),
            Some(servers.stun[0].url.as_str())
        );
        // No NAT on loopback: the mapped address is the socket's own.
        assert_eq!(Some(srflx[0].address), srflx[0].related_address);
        assert!(a.candidates.iter().all(|c| c.kind != CandidateType::Host));
    }
    assert_eq!(r.hairpin, Some(HairpinNote::NoNat));
    resp.shutdown().await;
}

#[tokio::test]
async fn relay_relay_via_embedded_turn_server_connects() {
    let turn = turn_server().await;
    let servers = turn_only(turn_spec(&turn, PASSWORD));
    let r = run_filter(IceFilter::RelayRelay, &servers, &opts()).await;
    assert_connected(&r, CandidateType::Relay, CandidateType::Relay);
    for a in &r.agents {
        let relay: Vec<_> = a
            .candidates
            .iter()
            .filter(|c| c.kind == CandidateType::Relay)
            .collect();
        assert_eq!(relay.len(), 1, "{a:#?}");
        assert_eq!(
            relay[0].server.as_deref(),
            Some(servers.turn[0].url.as_str())
        );
        assert!(relay[0].used);
        assert!(a.server_problems.is_empty(), "{a:#?}");
    }
    let sel = r.selected.as_ref().expect("connected");
    let a_relay = r.agents[0]
        .candidates
        .iter()
        .find(|c| c.kind == CandidateType::Relay)
        .expect("checked");
    assert_eq!(sel.local_address, a_relay.address);
}

#[tokio::test]
async fn relay_host_connects() {
    let turn = turn_server().await;
    let servers = turn_only(turn_spec(&turn, PASSWORD));
    let r = run_filter(IceFilter::RelayHost, &servers, &opts()).await;
    assert_connected(&r, CandidateType::Relay, CandidateType::Host);
}

#[tokio::test]
async fn wrong_turn_credentials_name_the_turn_error() {
    let turn = turn_server().await;
    let servers = turn_only(turn_spec(&turn, "not-the-password"));
    let r = run_filter(IceFilter::RelayRelay, &servers, &opts()).await;
    assert!(!r.connected());
    match &r.failure {
        Some(IceFailure::TurnError {
            server,
            error: GatherError::TurnError { code, count, .. },
        }) => {
            assert_eq!(server, &servers.turn[0].url);
            assert_eq!(*code, 401);
            assert!(*count >= 2, "a 401 after credentials were sent");
        }
        other => panic!("expected a named TURN error, got {other:?}\n{r:#?}"),
    }
    assert!(
        r.agents[0]
            .candidates
            .iter()
            .all(|c| c.kind != CandidateType::Relay)
    );
    // The password never shows up in the result.
    let dump = format!("{r:?}");
    assert!(!dump.contains("not-the-password"));
}

#[tokio::test]
async fn no_servers_reports_no_candidates_without_failing_host() {
    let results = run_all(&IceFilter::ALL_FILTERS, &IceServers::default(), &opts()).await;
    assert_eq!(results.len(), IceFilter::ALL_FILTERS.len());
    for r in &results {
        match r.filter {
            IceFilter::HostHost | IceFilter::All => {
                assert_connected(r, CandidateType::Host, CandidateType::Host)
            }
            IceFilter::SrflxSrflx => match &r.failure {
                Some(IceFailure::NoCandidates {
                    kind: CandidateType::Srflx,
                    reason,
                    ..
                }) => {
                    assert!(reason.contains("no STUN server"), "{reason}")
                }
                other => panic!("srflx-srflx: {other:?}"),
            },
            IceFilter::RelayRelay | IceFilter::RelayHost => match &r.failure {
                Some(IceFailure::NoCandidates {
                    kind: CandidateType::Relay,
                    agent,
                    reason,
                }) => {
                    assert_eq!(*agent, Side::A);
                    assert!(reason.contains("no TURN server"), "{reason}")
                }
                other => panic!("{}: {other:?}", r.filter),
            },
        }
    }
}

#[tokio::test]
async fn every_filter_with_both_servers() {
    let resp = responder();
    let turn = turn_server().await;
    let servers = IceServers {
        stun: vec![stun_spec(&resp)],
        turn: vec![turn_spec(&turn, PASSWORD)],
    };
    let results = run_all(&IceFilter::ALL_FILTERS, &servers, &opts()).await;
    for r in &results {
        assert!(r.connected(), "{}: {:?}\n{r:#?}", r.filter, r.failure);
    }
    let all = results
        .iter()
        .find(|r| r.filter == IceFilter::All)
        .expect("all ran");
    // Unrestricted: every type was gathered; ICE nominates the host pair.
    let kinds: Vec<_> = all.agents[0].candidates.iter().map(|c| c.kind).collect();
    for k in [
        CandidateType::Host,
        CandidateType::Srflx,
        CandidateType::Relay,
    ] {
        assert!(kinds.contains(&k), "{k} missing: {all:#?}");
    }
    let sel = all.selected.as_ref().expect("connected");
    assert_eq!(
        (sel.local_kind, sel.remote_kind),
        (CandidateType::Host, CandidateType::Host)
    );
    resp.shutdown().await;
}

/// A WebRTC data channel (str0m: ICE, DTLS, SCTP, DCEP) opened over the
/// run's selected pair, with a message each way.
fn assert_data_channel(r: &IceRunResult) {
    let dc = r.data_channel.as_ref().unwrap_or_else(|| {
        panic!(
            "{}: a connected run tests the data channel\n{r:#?}",
            r.filter
        )
    });
    assert!(
        dc.works(),
        "{}: data channel failed: {:?}\n{dc:#?}",
        r.filter,
        dc.failure
    );
    assert!(dc.a_to_b && dc.b_to_a, "{dc:#?}");
    assert!(dc.ice_connected_after.is_some(), "{dc:#?}");
    assert!(dc.dtls_connected_after.is_some(), "{dc:#?}");
    let open = dc.time_to_open.expect("an open channel has a time to open");
    assert!(
        open >= dc.dtls_connected_after.expect("checked above"),
        "{dc:#?}"
    );
    assert!(dc.message_rtt.is_some(), "{dc:#?}");
    assert_eq!(
        dc.label.as_deref(),
        Some(format!("natscope-{}", r.filter).as_str())
    );
    eprintln!("{}: {dc:?}", r.filter);
    // str0m's STUN checks, the DTLS flights and SCTP went over the pair.
    assert!(dc.datagrams.0 >= 3 && dc.datagrams.1 >= 3, "{dc:#?}");
}

#[tokio::test]
async fn host_host_opens_a_webrtc_data_channel_over_the_selected_pair() {
    let r = run_filter(IceFilter::HostHost, &IceServers::default(), &opts()).await;
    assert_connected(&r, CandidateType::Host, CandidateType::Host);
    assert_data_channel(&r);
}

#[tokio::test]
async fn relay_relay_opens_a_webrtc_data_channel_through_turn() {
    let turn = turn_server().await;
    let servers = turn_only(turn_spec(&turn, PASSWORD));
    let r = run_filter(IceFilter::RelayRelay, &servers, &opts()).await;
    assert_connected(&r, CandidateType::Relay, CandidateType::Relay);
    let sel = r.selected.as_ref().expect("checked above");
    // Both ends of the selected pair are TURN relayed addresses, so every
    // bridged str0m datagram went through the TURN server.
    for a in &r.agents {
        assert!(
            a.candidates.iter().any(|c| c.kind == CandidateType::Relay
                && c.used
                && (c.address == sel.local_address || c.address == sel.remote_address)),
            "{a:#?}"
        );
    }
    assert_data_channel(&r);
}

#[tokio::test]
async fn data_channel_can_be_turned_off() {
    let o = IceOptions {
        data_channel: false,
        ..opts()
    };
    let r = run_filter(IceFilter::HostHost, &IceServers::default(), &o).await;
    assert_connected(&r, CandidateType::Host, CandidateType::Host);
    assert!(r.data_channel.is_none(), "not tested means None: {r:#?}");
}

#[tokio::test]
async fn a_run_that_never_connects_has_no_data_channel_result() {
    // relay-relay without a TURN server: no candidates, so not tested.
    let r = run_filter(IceFilter::RelayRelay, &IceServers::default(), &opts()).await;
    assert!(!r.connected());
    assert!(r.data_channel.is_none(), "{r:#?}");
}

/// Relayed candidates over TURN-TCP and TURN-TLS (the embedded server,
/// its certificate checked against its CA): with UDP, TCP and TLS servers
/// configured, relay↔relay runs once with all and once per transport; each
/// restricted run connects over that transport on both sides, carries the
/// payload and a WebRTC data channel both ways.
#[tokio::test]
async fn relay_relay_connects_over_turn_udp_tcp_and_tls_each() {
    let turn = turn_server().await;
    let servers = IceServers {
        stun: vec![],
        turn: vec![
            turn_tls_spec(&turn, turn.ca_pem()),
            turn_tcp_spec(&turn),
            turn_spec(&turn, PASSWORD),
        ],
    };
    let results = run_all(&[IceFilter::RelayRelay], &servers, &opts()).await;
    assert_eq!(results.len(), 4, "{results:#?}");
    for r in &results {
        assert_connected(r, CandidateType::Relay, CandidateType::Relay);
        assert_data_channel(r);
        // Every agent gathered one relay per server, each tagged with the
        // transport it was reached over.
        let wanted: Vec<RelayProtocol> = match r.relay_only {
            Some(p) => vec![p],
            None => RelayProtocol::ALL.to_vec(),
        };
        for a in &r.agents {
            let mut got: Vec<RelayProtocol> = a
                .candidates
                .iter()
                .filter(|c| c.kind == CandidateType::Relay)
                .map(|c| c.relay_protocol.expect("relays carry their protocol"))
                .collect();
            got.sort();
            assert_eq!(got, wanted, "{a:#?}");
            assert!(a.server_problems.is_empty(), "{a:#?}");
        }
        let sel = r.selected.as_ref().expect("connected");
        if let Some(p) = r.relay_only {
            assert_eq!(sel.local_relay_protocol, Some(p), "{r:#?}");
            assert_eq!(sel.remote_relay_protocol, Some(p), "{r:#?}");
        }
    }
    assert_eq!(
        results.iter().map(|r| r.relay_only).collect::<Vec<_>>(),
        [
            None,
            Some(RelayProtocol::Udp),
            Some(RelayProtocol::Tcp),
            Some(RelayProtocol::Tls)
        ]
    );
}

/// TURN-TLS with a certificate from an unknown CA gives no relay, and the
/// run says which server and that the allocation failed; nothing hangs.
#[tokio::test]
async fn turn_tls_with_an_untrusted_certificate_gives_no_relay() {
    let turn = turn_server().await;
    let other = Pki::generate(&["localhost"]).expect("a second CA");
    let servers = turn_only(turn_tls_spec(&turn, &other.ca_pem));
    let r = run_filter(IceFilter::RelayRelay, &servers, &opts()).await;
    assert!(!r.connected(), "{r:#?}");
    match &r.failure {
        Some(IceFailure::NoCandidates { kind, reason, .. }) => {
            assert_eq!(*kind, CandidateType::Relay);
            assert!(reason.contains(&servers.turn[0].url), "{reason}");
        }
        other => panic!("expected no relay candidates, got {other:?}\n{r:#?}"),
    }
    assert!(
        r.agents
            .iter()
            .all(|a| a.candidates.iter().all(|c| c.kind != CandidateType::Relay)),
        "{r:#?}"
    );
    // Each agent names the certificate problem (same issuer name, other
    // key: webpki says BadSignature).
    for message in relay_connection_errors(&r) {
        assert!(
            message.contains("TLS") && message.contains("certificate"),
            "{message}"
        );
    }
}

/// Each agent's relay server problem, which must be a connection error.
fn relay_connection_errors(r: &IceRunResult) -> Vec<String> {
    r.agents
        .iter()
        .map(|a| {
            let p = a
                .server_problems
                .iter()
                .find(|p| p.kind == CandidateType::Relay)
                .unwrap_or_else(|| panic!("no relay problem: {a:#?}"));
            match &p.error {
                GatherError::Connection { message } => message.clone(),
                other => panic!("expected a connection error, got {other:?}"),
            }
        })
        .collect()
}

/// A TURN-TCP server that refuses the connection is named with the
/// connection error, for each agent.
#[tokio::test]
async fn turn_tcp_connection_refused_is_named() {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let servers = IceServers {
        stun: vec![],
        turn: vec![TurnServerSpec {
            url: format!("turn:{addr}?transport=tcp"),
            addr,
            transport: IceTurnTransport::Tcp,
            username: "alice".into(),
            password: Secret::new(PASSWORD),
        }],
    };
    let r = run_filter(IceFilter::RelayRelay, &servers, &opts()).await;
    assert!(!r.connected(), "{r:#?}");
    let errors = relay_connection_errors(&r);
    assert_eq!(errors.len(), 2, "{r:#?}");
    for message in errors {
        assert!(message.contains(&addr.to_string()), "{message}");
    }
}
