//! ICE (`probe::ice`) on real kernel NATs (the netns lab).
//!
//! - One NAT, both agents in the client namespace: srflx↔srflx connects
//!   when the router hairpins and fails when it does not, and the result
//!   says hairpinning is required (both agents share the public IP).
//! - Behind a UDP-blocking NAT (coturn in the server namespace), relay↔relay
//!   over TURN/UDP fails naming the server, and over TURN-TCP and TURN-TLS
//!   it connects, with payload and a WebRTC data channel both ways.
//! - Two sites (two clients behind two different NATs): for each pair of
//!   behaviours, srflx↔srflx runs with one agent in each site
//!   (`probe::ice::run_filter_on_sockets` with a host socket bound in each
//!   client namespace), each site's NAT is classified with `probe::nat`
//!   against natscope's RFC 5780 responder, and the connect/fail outcome must
//!   agree with `natclass::holepunch`'s prediction.
//!
//! Needs root. Without it every test FAILS with the reason (never skips).
//! Each test builds its own lab, so the tests run in parallel.
#![cfg(target_os = "linux")]

use std::net::{IpAddr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use lab::{CoturnOptions, Lab, LabSpec, NatBehaviour, Ns};
use model::ice::{CandidateType, IceFilter, RelayProtocol};
use natclass::{HolePunchOutcome, NatVerdict, classify, holepunch};
use probe::ice::{
    GatherError, HairpinNote, IceFailure, IceOptions, IceRunResult, IceServers, IceTurnTransport,
    StunServerSpec, TurnServerSpec,
};
use probe::nat::NatProbeConfig;
use servers::responder::Responder;

use crate::support::lab_up as up;

fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// natscope's responder in the server namespace (probe::lab).
fn start_responder(lab: &Lab, rt: &tokio::runtime::Runtime) -> Responder {
    lab.start_responder(rt.handle())
        .expect("responder starts in the server namespace")
}

fn stun_servers(lab: &Lab) -> IceServers {
    let addr = SocketAddr::new(IpAddr::V4(lab.addrs().server_primary), 3478);
    IceServers {
        stun: vec![StunServerSpec {
            url: format!("stun:{addr}"),
            addr,
        }],
        turn: Vec::new(),
    }
}

fn options(host: IpAddr) -> IceOptions {
    IceOptions {
        host_ips: vec![host],
        gather_timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(8),
        payload_timeout: Duration::from_secs(1),
        pings: 3,
        ..IceOptions::loopback()
    }
}

/// One ICE run with both agents in `ns` (a current-thread runtime there).
fn run_in(
    lab: &Lab,
    ns: Ns,
    filter: IceFilter,
    servers: IceServers,
    opts: IceOptions,
) -> IceRunResult {
    lab.run_in(ns, move || {
        current_thread().block_on(async {
            probe::ice::run_all(&[filter], &servers, &opts)
                .await
                .pop()
                .expect("run_all returns one result per filter")
        })
    })
    .expect("the namespace exists")
}

fn srflx_one_nat(hairpin: bool) -> IceRunResult {
    let rt = server_runtime();
    let lab = up(LabSpec::new(NatBehaviour::EimApdf).hairpin(hairpin));
    let _responder = start_responder(&lab, &rt);
    let opts = options(IpAddr::V4(lab.addrs().client));
    let r = run_in(
        &lab,
        Ns::Client,
        IceFilter::SrflxSrflx,
        stun_servers(&lab),
        opts,
    );
    // Both agents gathered a srflx candidate on the NAT's public address.
    for agent in &r.agents {
        assert!(
            agent
                .candidates
                .iter()
                .any(|c| c.kind == CandidateType::Srflx
                    && c.used
                    && c.address.ip() == IpAddr::V4(lab.addrs().router_public)),
            "agent {} has no srflx on {}: {r:#?}",
            agent.role,
            lab.addrs().router_public
        );
    }
    assert_eq!(
        r.hairpin,
        Some(HairpinNote::Required {
            public_ip: IpAddr::V4(lab.addrs().router_public)
        }),
        "the result must say hairpinning is needed: {r:#?}"
    );
    r
}

#[test]
fn srflx_pair_behind_one_nat_connects_with_hairpinning() {
    let r = srflx_one_nat(true);
    assert!(
        r.connected(),
        "srflx↔srflx failed through a hairpinning NAT: {r:#?}"
    );
    let sel = r
        .selected
        .as_ref()
        .expect("connected runs have a selected pair");
    assert_eq!(sel.local_kind, CandidateType::Srflx, "{r:#?}");
    let p = r.payload.as_ref().expect("connected runs send payload");
    assert!(p.both_ways(), "{p:?}");
}

#[test]
fn srflx_pair_behind_one_nat_fails_without_hairpinning() {
    let r = srflx_one_nat(false);
    assert!(
        !r.connected(),
        "srflx↔srflx connected through a NAT that does not hairpin: {r:#?}"
    );
    assert!(
        matches!(
            r.failure,
            Some(IceFailure::ChecksFailed | IceFailure::Timeout { .. })
        ),
        "should fail in the checks: {:?}",
        r.failure
    );
}

/// Behind a NAT that drops UDP, relays over TURN/UDP cannot be gathered,
/// but relays over TURN-TCP and TURN-TLS (coturn, certificate checked
/// against the lab's CA) connect both agents, carry the payload both ways
/// and a WebRTC data channel; the run restricted to TURN/UDP names the
/// server that did not answer.
#[test]
fn relay_behind_udp_blocking_nat_works_over_turn_tcp_and_tls() {
    let lab = up(LabSpec::new(NatBehaviour::UdpBlocked));
    let turn = lab
        .start_coturn(CoturnOptions::default())
        .unwrap_or_else(|e| panic!("coturn did not start in the lab: {e}"));
    let addr = SocketAddr::V4(turn.primary);
    let tls_addr = SocketAddr::V4(turn.tls);
    let ca_pem = std::fs::read(&turn.cert_pem).expect("coturn's certificate file");
    let tls = probe::turn::tls::client_config(&probe::turn::TlsOptions {
        ca_pem: Some(ca_pem),
        insecure: false,
    })
    .expect("TLS client configuration");
    let spec = |url: String, addr: SocketAddr, transport: IceTurnTransport| TurnServerSpec {
        url,
        addr,
        transport,
        username: "natscope".into(),
        password: model::Secret::new("natscope-secret"),
    };
    let servers = IceServers {
        stun: Vec::new(),
        turn: vec![
            spec(format!("turn:{addr}"), addr, IceTurnTransport::Udp),
            spec(
                format!("turn:{addr}?transport=tcp"),
                addr,
                IceTurnTransport::Tcp,
            ),
            spec(
                format!("turns:{tls_addr}"),
                tls_addr,
                IceTurnTransport::Tls {
                    server_name: probe::turn::tls::server_name(&turn.tls.ip().to_string())
                        .expect("an IP is a TLS server name"),
                    config: tls,
                },
            ),
        ],
    };
    let opts = options(IpAddr::V4(lab.addrs().client));
    let runs = lab
        .run_in(Ns::Client, move || {
            current_thread().block_on(probe::ice::run_all(
                &[IceFilter::RelayRelay],
                &servers,
                &opts,
            ))
        })
        .expect("the namespace exists");
    let run = |p: Option<RelayProtocol>| {
        runs.iter()
            .find(|r| r.relay_only == p)
            .unwrap_or_else(|| panic!("no relay-relay run for {p:?}: {runs:#?}"))
    };

    // TURN over UDP: no relay, and the server that did not answer is named.
    let udp = run(Some(RelayProtocol::Udp));
    assert!(
        !udp.connected(),
        "TURN/UDP through a UDP-blocking NAT: {udp:#?}"
    );
    match &udp.failure {
        Some(IceFailure::NoCandidates { kind, reason, .. }) => {
            assert_eq!(*kind, CandidateType::Relay);
            assert!(reason.contains(&format!("turn:{addr}")), "{reason}");
        }
        other => panic!("expected no relay candidates, got {other:?}: {udp:#?}"),
    }
    let problem = udp
        .agents
        .iter()
        .flat_map(|a| &a.server_problems)
        .find(|p| p.kind == CandidateType::Relay)
        .unwrap_or_else(|| panic!("no relay server problem reported: {udp:#?}"));
    assert!(
        matches!(
            problem.error,
            GatherError::NoResponse | GatherError::TurnFailed
        ),
        "{problem:?}"
    );

    // TURN over TCP and over TLS: each connects on its own, relayed on
    // both sides over that transport, payload and data channel both ways.
    for p in [RelayProtocol::Tcp, RelayProtocol::Tls] {
        let r = run(Some(p));
        assert!(r.connected(), "relay over TURN-{p} failed: {r:#?}");
        let sel = r.selected.as_ref().expect("a connected run has a pair");
        assert_eq!(
            (sel.local_kind, sel.remote_kind),
            (CandidateType::Relay, CandidateType::Relay),
            "{r:#?}"
        );
        assert_eq!(sel.local_relay_protocol, Some(p), "{r:#?}");
        assert_eq!(sel.remote_relay_protocol, Some(p), "{r:#?}");
        assert_eq!(
            sel.local_address.ip(),
            IpAddr::V4(*turn.primary.ip()),
            "relayed by coturn: {r:#?}"
        );
        assert!(r.payload.as_ref().is_some_and(|x| x.both_ways()), "{r:#?}");
        let dc = r.data_channel.as_ref().expect("data channel tested");
        assert!(dc.works(), "data channel over TURN-{p}: {dc:#?}");
    }

    // With every server, ICE still connects (over TCP or TLS).
    let all = run(None);
    assert!(all.connected(), "{all:#?}");
    let via = all
        .selected
        .as_ref()
        .and_then(|s| s.local_relay_protocol)
        .expect("relayed");
    assert!(
        matches!(via, RelayProtocol::Tcp | RelayProtocol::Tls),
        "{all:#?}"
    );
}

/// Classifies the NAT of `ns` with `probe::nat` against the responder.
fn classify_in(lab: &Lab, ns: Ns) -> NatVerdict {
    let server = SocketAddr::new(IpAddr::V4(lab.addrs().server_primary), 3478);
    lab.run_in(ns, move || {
        // Inside the namespace: its interfaces are the host's.
        let cfg = NatProbeConfig {
            servers: vec![server],
            timeout: Duration::from_secs(3),
            local: probe::nat::local_network(),
            ..NatProbeConfig::default()
        };
        let out = current_thread().block_on(probe::nat::probe(&cfg));
        classify(&out.observations)
    })
    .expect("client namespace")
}

fn bind_in(lab: &Lab, ns: Ns, ip: std::net::Ipv4Addr) -> UdpSocket {
    lab.run_in(ns, move || UdpSocket::bind(SocketAddrV4::new(ip, 0)))
        .expect("client namespace")
        .expect("bind a host socket in the client namespace")
}

/// srflx↔srflx with agent "a" in site 1 and agent "b" in site 2; the NATs
/// classified by `probe::nat`; the outcome compared with
/// `natclass::holepunch`.
fn two_sites(a: NatBehaviour, b: NatBehaviour) {
    let rt = server_runtime();
    let lab = up(LabSpec::new(a).second_site(b));
    let _responder = start_responder(&lab, &rt);
    let addrs = lab.addrs().clone();
    let (c2, pub2) = (
        addrs.client2.expect("second site has a client"),
        addrs.router2_public.expect("second site has a router"),
    );

    let va = classify_in(&lab, Ns::Client);
    let vb = classify_in(&lab, Ns::Client2);
    let prediction = holepunch(&va, &vb);

    let socks = [
        vec![bind_in(&lab, Ns::Client, addrs.client)],
        vec![bind_in(&lab, Ns::Client2, c2)],
    ];
    let servers = stun_servers(&lab);
    let opts = options(IpAddr::V4(addrs.client));
    let r = current_thread().block_on(probe::ice::run_filter_on_sockets(
        IceFilter::SrflxSrflx,
        &servers,
        &opts,
        socks,
    ));
    let what = format!(
        "{a:?} vs {b:?}: site 1 {:?} / {:?} ({}), site 2 {:?} / {:?} ({}); prediction {:?} ({}); ICE {} ({:?})",
        va.mapping,
        va.filtering,
        va.summary,
        vb.mapping,
        vb.filtering,
        vb.summary,
        prediction.outcome,
        prediction.reason,
        if r.connected() { "connected" } else { "failed" },
        r.failure,
    );
    eprintln!("{what}");

    // The agents really sat behind the two NATs.
    let srflx_ip = |i: usize| {
        r.agents.get(i).and_then(|ag| {
            ag.candidates
                .iter()
                .find(|c| c.kind == CandidateType::Srflx && c.used)
                .map(|c| c.address.ip())
        })
    };
    assert_eq!(
        srflx_ip(0),
        Some(IpAddr::V4(addrs.router_public)),
        "{what}\n{r:#?}"
    );
    assert_eq!(srflx_ip(1), Some(IpAddr::V4(pub2)), "{what}\n{r:#?}");
    assert_eq!(r.hairpin, Some(HairpinNote::NotRequired), "{what}");

    let predicted_connect = match prediction.outcome {
        HolePunchOutcome::Direct | HolePunchOutcome::DirectLikely => true,
        HolePunchOutcome::RelayNeeded => false,
        HolePunchOutcome::Unknown => panic!("natclass could not predict: {what}"),
    };
    if r.connected() != predicted_connect {
        // Evidence: both routers' UDP conntrack tables after the run.
        let ct = |ns: Ns| {
            lab.exec(ns, &["conntrack", "-L", "-p", "udp"])
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_else(|e| e.to_string())
        };
        panic!(
            "ICE disagrees with natclass::holepunch: {what}\nrouter conntrack:\n{}\nrouter2 conntrack:\n{}\n{r:#?}",
            ct(Ns::Router),
            ct(Ns::Router2)
        );
    }
}

/// Two port-restricted cones connect directly (natclass: `direct-likely`).
/// This pair found a lab artefact: without a WAN input firewall on the
/// router, a peer's early check arriving at the router itself got a
/// confirmed conntrack entry, and masquerade then re-mapped our client's
/// flow to that peer to a new port (conntrack showed `192.0.2.20:38868 ->
/// 203.0.113.1:57505` leaving as `203.0.113.2:60597`). Real CPEs drop such
/// packets before conntrack confirms them; the lab router now does too
/// (docs/lab.md), and this pair connects as predicted.
#[test]
fn two_sites_eim_apdf_vs_eim_apdf() {
    two_sites(NatBehaviour::EimApdf, NatBehaviour::EimApdf);
}

#[test]
fn two_sites_eim_eif_vs_apdm() {
    two_sites(NatBehaviour::EimEif, NatBehaviour::Apdm);
}

#[test]
fn two_sites_eim_apdf_vs_apdm() {
    two_sites(NatBehaviour::EimApdf, NatBehaviour::Apdm);
}

#[test]
fn two_sites_apdm_vs_apdm() {
    two_sites(NatBehaviour::Apdm, NatBehaviour::Apdm);
}
