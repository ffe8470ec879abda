//! Name resolution against a real DNS server (hickory-server) on 127.0.0.1.
//!
//! The zone answers with documentation-range addresses only; nothing is ever
//! contacted at them: these tests only resolve.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, AAAA, SOA, SRV, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use model::servers::{ServerUri, Transport};
use probe::resolve::{ResolveError, ResolvedTarget, Resolver};
use tokio::net::{TcpListener, UdpSocket};

const ORIGIN: &str = "natscope.test.";
/// Bound for one resolution in the tests that expect an answer.
const BOUND: Duration = Duration::from_secs(5);
/// Hard ceiling for any test step, so a bug can never hang the suite.
const CEILING: Duration = Duration::from_secs(20);

fn n(s: &str) -> Name {
    Name::from_str(s).expect("valid test name")
}

fn zone() -> InMemoryZoneHandler {
    let origin = n(ORIGIN);
    let mut h = InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let serial = 1;
    let mut add = |name: &str, rdata: RData| {
        assert!(
            h.upsert_mut(Record::from_rdata(n(name), 60, rdata), serial),
            "insert {name}"
        );
    };
    add(
        ORIGIN,
        RData::SOA(SOA::new(
            n("ns.natscope.test."),
            n("hostmaster.natscope.test."),
            serial,
            3600,
            600,
            86400,
            60,
        )),
    );
    // A server name with SRV records for every service, pointing elsewhere.
    add(
        "srv.natscope.test.",
        RData::A(A("192.0.2.10".parse().unwrap())),
    );
    let srv =
        |prio, weight, port, target: &str| RData::SRV(SRV::new(prio, weight, port, n(target)));
    add(
        "_stun._udp.srv.natscope.test.",
        srv(10, 5, 3479, "stun1.natscope.test."),
    );
    add(
        "_stun._udp.srv.natscope.test.",
        srv(20, 5, 3481, "stun2.natscope.test."),
    );
    add(
        "_stun._tcp.srv.natscope.test.",
        srv(10, 5, 3480, "stun1.natscope.test."),
    );
    add(
        "_turn._udp.srv.natscope.test.",
        srv(0, 0, 3490, "turn1.natscope.test."),
    );
    add(
        "_turn._tcp.srv.natscope.test.",
        srv(0, 0, 3491, "turn1.natscope.test."),
    );
    add(
        "_turns._tcp.srv.natscope.test.",
        srv(0, 0, 5350, "turn1.natscope.test."),
    );
    add(
        "stun1.natscope.test.",
        RData::A(A("198.51.100.7".parse().unwrap())),
    );
    add(
        "stun1.natscope.test.",
        RData::AAAA(AAAA("2001:db8::7".parse().unwrap())),
    );
    add(
        "stun2.natscope.test.",
        RData::A(A("198.51.100.8".parse().unwrap())),
    );
    add(
        "turn1.natscope.test.",
        RData::A(A("203.0.113.20".parse().unwrap())),
    );
    // A plain name, no SRV: A/AAAA fallback with the default port.
    add(
        "plain.natscope.test.",
        RData::A(A("203.0.113.5".parse().unwrap())),
    );
    add(
        "plain.natscope.test.",
        RData::AAAA(AAAA("2001:db8::5".parse().unwrap())),
    );
    // A name that exists but has no address.
    add(
        "empty.natscope.test.",
        RData::TXT(TXT::new(vec!["no address here".into()])),
    );
    h
}

/// A UDP socket and a TCP listener on the same loopback port. The ephemeral
/// UDP port's TCP twin may be taken by another test running in parallel, so
/// a few ports are tried.
async fn udp_and_tcp_on_one_port() -> (UdpSocket, TcpListener, SocketAddr) {
    let mut tries = 0;
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let addr = udp.local_addr().expect("local addr");
        match TcpListener::bind(addr).await {
            Ok(tcp) => return (udp, tcp, addr),
            Err(e) => {
                tries += 1;
                assert!(tries < 50, "no port free for both UDP and TCP: {e}");
            }
        }
    }
}

/// Starts the zone on 127.0.0.1 (UDP and TCP, same port).
async fn dns_server() -> (SocketAddr, Server<Catalog>) {
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::from(n(ORIGIN)), vec![Arc::new(zone())]);
    let (udp, tcp, addr) = udp_and_tcp_on_one_port().await;
    let mut server = Server::new(catalog);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 16);
    (addr, server)
}

async fn resolve(uri: &str) -> (Result<Vec<ResolvedTarget>, ResolveError>, Server<Catalog>) {
    let (addr, server) = dns_server().await;
    let r = Resolver::with_nameservers(vec![addr]).expect("resolver");
    let uri = ServerUri::parse(uri).expect("test uri");
    let res = tokio::time::timeout(CEILING, r.resolve(&uri, BOUND))
        .await
        .expect("resolution returned within the ceiling");
    (res, server)
}

fn summary(targets: &[ResolvedTarget]) -> Vec<(String, Transport, bool)> {
    targets
        .iter()
        .map(|t| (t.addr.to_string(), t.transport, t.via_srv))
        .collect()
}

#[tokio::test]
async fn srv_discovery_when_no_port() {
    let (res, _server) = resolve("stun:srv.natscope.test").await;
    let targets = res.expect("resolves");
    assert_eq!(
        summary(&targets),
        vec![
            ("198.51.100.7:3479".into(), Transport::Udp, true),
            ("[2001:db8::7]:3479".into(), Transport::Udp, true),
            ("198.51.100.8:3481".into(), Transport::Udp, true),
        ],
        "priority order, both families of the SRV target, SRV ports"
    );
    assert_eq!(targets[0].uri.to_string(), "stun:srv.natscope.test");
}

#[tokio::test]
async fn srv_for_turn_and_turns() {
    let (res, _server) = resolve("turn:srv.natscope.test").await;
    assert_eq!(
        summary(&res.expect("turn resolves")),
        vec![
            ("203.0.113.20:3490".into(), Transport::Udp, true),
            ("203.0.113.20:3491".into(), Transport::Tcp, true),
        ]
    );
    let (res, _server) = resolve("turns:srv.natscope.test").await;
    assert_eq!(
        summary(&res.expect("turns resolves")),
        vec![("203.0.113.20:5350".into(), Transport::Tcp, true)]
    );
    let (res, _server) = resolve("turn:srv.natscope.test?transport=tcp").await;
    assert_eq!(
        summary(&res.expect("turn tcp resolves")),
        vec![("203.0.113.20:3491".into(), Transport::Tcp, true)]
    );
}

#[tokio::test]
async fn stun_tcp_on_request_uses_its_own_srv() {
    let (addr, _server) = dns_server().await;
    let r = Resolver::with_nameservers(vec![addr]).expect("resolver");
    let uri = ServerUri::parse("stun:srv.natscope.test").expect("uri");
    let targets = tokio::time::timeout(CEILING, r.resolve_for(&uri, &uri.transports(true), BOUND))
        .await
        .expect("within ceiling")
        .expect("resolves");
    let tcp: Vec<_> = summary(&targets)
        .into_iter()
        .filter(|t| t.1 == Transport::Tcp)
        .collect();
    assert_eq!(
        tcp,
        vec![
            ("198.51.100.7:3480".into(), Transport::Tcp, true),
            ("[2001:db8::7]:3480".into(), Transport::Tcp, true),
        ]
    );
}

#[tokio::test]
async fn a_aaaa_fallback_without_srv() {
    let (res, _server) = resolve("stun:plain.natscope.test").await;
    assert_eq!(
        summary(&res.expect("resolves")),
        vec![
            ("203.0.113.5:3478".into(), Transport::Udp, false),
            ("[2001:db8::5]:3478".into(), Transport::Udp, false),
        ]
    );
    // turns: falls back to 5349 over TCP.
    let (res, _server) = resolve("turns:plain.natscope.test").await;
    assert_eq!(
        summary(&res.expect("resolves")),
        vec![
            ("203.0.113.5:5349".into(), Transport::Tcp, false),
            ("[2001:db8::5]:5349".into(), Transport::Tcp, false),
        ]
    );
}

#[tokio::test]
async fn explicit_port_skips_srv() {
    // srv.natscope.test has SRV records, but with a port only its own A
    // record counts.
    let (res, _server) = resolve("stun:srv.natscope.test:3478").await;
    assert_eq!(
        summary(&res.expect("resolves")),
        vec![("192.0.2.10:3478".into(), Transport::Udp, false)]
    );
    let (res, _server) = resolve("srv.natscope.test:19302").await;
    assert_eq!(
        summary(&res.expect("resolves")),
        vec![("192.0.2.10:19302".into(), Transport::Udp, false)]
    );
}

#[tokio::test]
async fn nxdomain_is_named() {
    let (res, _server) = resolve("stun:missing.natscope.test").await;
    let err = res.expect_err("no such name");
    assert_eq!(
        err,
        ResolveError::NxDomain {
            host: "missing.natscope.test".into()
        }
    );
    assert!(err.to_string().contains("missing.natscope.test"), "{err}");
}

#[tokio::test]
async fn existing_name_without_addresses() {
    let (res, _server) = resolve("stun:empty.natscope.test:3478").await;
    let err = res.expect_err("no A/AAAA");
    assert_eq!(
        err,
        ResolveError::NoRecords {
            host: "empty.natscope.test".into()
        }
    );
}

#[tokio::test]
async fn silent_nameserver_times_out_within_the_bound() {
    // A "name server" that receives queries and never answers, on UDP and TCP.
    let (udp, tcp, addr) = udp_and_tcp_on_one_port().await;
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        let mut buf = [0u8; 1500];
        loop {
            tokio::select! {
                r = udp.recv_from(&mut buf) => { let _ = r; }
                c = tcp.accept() => {
                    if let Ok((s, _)) = c && held.len() < 64 {
                        held.push(s);
                    }
                }
            }
        }
    });
    let r = Resolver::with_nameservers(vec![addr]).expect("resolver");
    let uri = ServerUri::parse("stun:plain.natscope.test").expect("uri");
    let bound = Duration::from_millis(700);
    let err = tokio::time::timeout(CEILING, r.resolve(&uri, bound))
        .await
        .expect("the resolver's own bound fired before the ceiling")
        .expect_err("nobody answers");
    assert_eq!(
        err,
        ResolveError::Timeout {
            host: "plain.natscope.test".into(),
            timeout: bound
        }
    );
    assert!(err.to_string().contains("plain.natscope.test"), "{err}");
    silent.abort();
}

/// A name server that answers A but never AAAA (a middlebox dropping
/// AAAA queries, or a name only in the hosts file): the name resolves from
/// its A record well within the bound, without waiting for the AAAA
/// query's timeout (RFC 8305 resolution delay). Before: the DNS stage
/// failed with a timeout after its whole budget.
#[tokio::test]
async fn a_name_whose_aaaa_query_is_never_answered_resolves_from_its_a_record() {
    let (zone_addr, _server) = dns_server().await;
    let front = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let front_addr = front.local_addr().expect("addr");
    let proxy = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, client)) = front.recv_from(&mut buf).await else {
                continue;
            };
            let q = buf[..n].to_vec();
            // QTYPE follows the first question's name (after the header).
            let mut i = 12;
            while i < q.len() && q[i] != 0 {
                i += usize::from(q[i]) + 1;
            }
            let qtype = q
                .get(i + 1..i + 3)
                .map(|t| u16::from_be_bytes([t[0], t[1]]));
            if qtype == Some(28) {
                continue; // AAAA: dropped
            }
            let up = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            up.send_to(&q, zone_addr).await.expect("forward");
            let mut ans = [0u8; 1500];
            if let Ok(Ok((m, _))) =
                tokio::time::timeout(Duration::from_secs(2), up.recv_from(&mut ans)).await
            {
                let _ = front.send_to(&ans[..m], client).await;
            }
        }
    });
    let r = Resolver::with_nameservers(vec![front_addr]).expect("resolver");
    let uri = ServerUri::parse("stun:plain.natscope.test:3478").expect("uri");
    let targets = tokio::time::timeout(CEILING, r.resolve(&uri, Duration::from_secs(2)))
        .await
        .expect("within the ceiling")
        .expect("the A record is enough");
    assert!(
        targets.iter().any(|t| t.addr.is_ipv4()),
        "{:?}",
        summary(&targets)
    );
    proxy.abort();
}
