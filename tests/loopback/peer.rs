//! `natscope peer`'s session logic between two in-process sides on
//! loopback (the signalling through an in-memory channel; the rendezvous
//! and two processes are proved in tests/lab/peer.rs): ICE per policy, the
//! data channel, the burst, the hole punch, and a side that leaves.

use model::Secret;
use model::peer::{PeerObserved, PeerOutcome, PeerPolicy, PeerRole};
use probe::ice::{IceServers, IceTurnTransport, StunServerSpec, TurnServerSpec};
use probe::peer::{Channel, PeerOptions, SessionInfo, memory_pair, run};
use servers::responder::{Responder, ResponderConfig};
use servers::turn::{TurnServer, TurnServerConfig};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const PASSWORD: &str = "c0rrect-h0rse-battery";

fn responder() -> Responder {
    let cfg = ResponderConfig {
        primary: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        // TCP too: the TCP simultaneous open learns its address over it.
        tcp: true,
        alternate: None,
        ..ResponderConfig::loopback_lab()
    };
    Responder::start(cfg).expect("loopback responder starts")
}

fn opts() -> PeerOptions {
    let mut o = PeerOptions::internet(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    o.step_timeout = Duration::from_secs(5);
    o
}

fn info(role: PeerRole) -> SessionInfo {
    SessionInfo {
        role,
        session: Some("test-session".into()),
        rendezvous: "memory".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sides_connect_directly_and_through_the_relay() {
    let r = responder();
    let turn = TurnServer::start(TurnServerConfig::new(
        "natscope.test",
        "alice",
        Secret::new(PASSWORD),
    ))
    .await
    .expect("embedded TURN server starts");
    let servers = IceServers {
        stun: vec![StunServerSpec {
            url: format!("stun:{}", r.addrs().primary),
            addr: r.addrs().primary,
        }],
        turn: vec![TurnServerSpec {
            url: format!("turn:{}?transport=udp", turn.udp_addr),
            addr: turn.udp_addr,
            transport: IceTurnTransport::Udp,
            username: "alice".into(),
            password: Secret::new(PASSWORD),
        }],
    };
    let (ta, tb) = memory_pair();
    let o = opts();
    let (mut ca, mut cb) = (Channel::new(ta), Channel::new(tb));
    let (a, b) = tokio::join!(
        run(&mut ca, info(PeerRole::Creator), &servers, &o, async {
            None
        }),
        run(&mut cb, info(PeerRole::Joiner), &servers, &o, async {
            None
        }),
    );
    for s in [&a, &b] {
        let pretty = serde_json::to_string_pretty(s).unwrap();
        assert!(s.failure.is_none(), "{pretty}");
        let direct = s.policy(PeerPolicy::Direct).expect("direct ran");
        // Loopback: no NAT, so each side is reachable unsolicited.
        assert_eq!(direct.outcome, PeerOutcome::Reversed, "{pretty}");
        let relay = s.policy(PeerPolicy::RelayAllowed).expect("relay ran");
        assert_eq!(relay.outcome, PeerOutcome::Success, "{pretty}");
        assert!(direct.throughput_kbps.is_some_and(|t| t > 0.0), "{pretty}");
        let dc = direct
            .ice
            .as_ref()
            .and_then(|i| i.data_channel.as_ref())
            .expect("data channel tried");
        assert!(dc.works, "{pretty}");
        let h = s.holepunch.tested().expect("hole punch measured");
        assert!(h.success && h.first_attempt_success, "{pretty}");
        assert!(h.local_reachable && h.remote_reachable, "{pretty}");
        // TCP: no NAT on loopback, so one side's connect reaches the
        // other side's listener (or both cross) on the first attempt.
        let t = s.tcp.tested().expect("TCP simultaneous open measured");
        assert!(t.success && t.first_attempt_success, "{pretty}");
        assert_eq!(t.local_public, t.local_addr, "{pretty}");
        assert_eq!(t.remote_public, t.remote_addr, "{pretty}");
        let first = &t.attempts[0];
        assert!(first.connected && first.open.is_some(), "{pretty}");
        // An incoming connection may be taken before this side tried.
        if first.open != Some(model::peer::TcpOpen::Incoming) {
            assert!(first.tries >= 1, "{pretty}");
        }
        assert!(
            first.time_to_connect_ms.is_some_and(|ms| ms < 1500.0),
            "{pretty}"
        );
        assert_eq!(s.observed, PeerObserved::Direct);
        assert!(!pretty.contains(PASSWORD));
        assert!(s.duration_ms < 5000.0, "{pretty}");
    }
    assert_eq!(a.role, PeerRole::Creator);
    assert_eq!(b.role, PeerRole::Joiner);
    // The two ends of the one TCP connection.
    let (ta, tb) = (a.tcp.tested().unwrap(), b.tcp.tested().unwrap());
    assert_eq!(ta.local_addr, tb.remote_addr);
    assert_eq!(ta.remote_addr, tb.local_addr);
    let open = |t: &model::peer::TcpPunch| t.attempts[0].open;
    use model::peer::TcpOpen::*;
    match (open(ta), open(tb)) {
        (Some(Simultaneous), Some(Simultaneous))
        | (Some(Outgoing), Some(Incoming))
        | (Some(Incoming), Some(Outgoing)) => {}
        other => panic!("the two sides disagree on how TCP connected: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_side_that_never_answers_is_named_in_bounded_time() {
    let (ta, _tb) = memory_pair();
    let mut o = opts();
    o.step_timeout = Duration::from_millis(500);
    let t = std::time::Instant::now();
    let a = run(
        &mut Channel::new(ta),
        info(PeerRole::Creator),
        &IceServers::default(),
        &o,
        async { None },
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let f = a.failure.expect("named");
    assert_eq!(f.kind, "peer-timeout", "{f:?}");
    assert!(f.message.contains("hello"), "{f:?}");
    assert!(
        a.policies
            .iter()
            .all(|p| p.outcome == PeerOutcome::NotTested)
    );
}
