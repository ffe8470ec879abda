//! The STUN transaction layer and the Binding probe against tiny test-local
//! STUN answerers on loopback (real sockets; no mocks).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use probe::stun::binding::{
    BindingError, BindingOptions, BindingTarget, Transport, compare_mappings, query_all,
};
use probe::stun::tcp::{TcpStunClient, read_frame, stun_framer};
use probe::stun::transaction::{
    RetransmitConfig, TransactionError, UdpStunClient, binding_request,
};
use probe::stun::types::attribute::{ErrorCode, Software, XorMappedAddress};
use probe::stun::types::message::{Message, MessageWrite, MessageWriteExt, MessageWriteVec};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::Instant;

/// How the test answerer behaves.
#[derive(Clone, Copy)]
enum Mode {
    /// Answer every request.
    Answer,
    /// Drop the first N requests, answer the rest.
    DropFirst(u32),
    /// Never answer.
    Silent,
    /// Answer each request with garbage and with a response carrying another
    /// transaction id, never with the right one.
    Garbage,
    /// Answer with a 400 Bad Request error response.
    ErrorResponse,
}

/// A success response with XOR-MAPPED-ADDRESS = `from`.
fn success_for(req: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    let msg = Message::from_bytes(req).ok()?;
    let mut resp = Message::builder_success(&msg, MessageWriteVec::new());
    resp.add_attribute(&XorMappedAddress::new(from, msg.transaction_id()))
        .ok()?;
    resp.add_attribute(&Software::new("test-answerer").ok()?)
        .ok()?;
    resp.add_fingerprint().ok()?;
    Some(resp.finish())
}

struct UdpAnswerer {
    addr: SocketAddr,
    seen: Arc<AtomicU32>,
    /// When each request arrived (tokio's clock: virtual in paused tests).
    arrivals: Arc<std::sync::Mutex<Vec<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for UdpAnswerer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn udp_answerer(bind: SocketAddr, mode: Mode) -> UdpAnswerer {
    let sock = UdpSocket::bind(bind).await.expect("bind test answerer");
    let addr = sock.local_addr().expect("local addr");
    let seen = Arc::new(AtomicU32::new(0));
    let seen2 = seen.clone();
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
    let arrivals2 = arrivals.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                continue;
            };
            let count = seen2.fetch_add(1, Ordering::SeqCst) + 1;
            if let Ok(mut a) = arrivals2.lock() {
                a.push(Instant::now());
            }
            let req = &buf[..n];
            match mode {
                Mode::Silent => {}
                Mode::DropFirst(k) if count <= k => {}
                Mode::Answer | Mode::DropFirst(_) => {
                    if let Some(resp) = success_for(req, from) {
                        let _ = sock.send_to(&resp, from).await;
                    }
                }
                Mode::ErrorResponse => {
                    if let Ok(msg) = Message::from_bytes(req) {
                        let mut resp = Message::builder_error(&msg, MessageWriteVec::new());
                        if let Ok(code) = ErrorCode::new(400, "Bad Request") {
                            let _ = resp.add_attribute(&code);
                        }
                        let _ = sock.send_to(&resp.finish(), from).await;
                    }
                }
                Mode::Garbage => {
                    let _ = sock.send_to(b"definitely not STUN", from).await;
                    // A well-formed response for another transaction.
                    let (_, other) = binding_request(None, None, None, false);
                    if let Some(resp) = success_for(&other, from) {
                        let _ = sock.send_to(&resp, from).await;
                    }
                }
            }
        }
    });
    UdpAnswerer {
        addr,
        seen,
        arrivals,
        task,
    }
}

async fn tcp_answerer(bind: SocketAddr) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(bind).await.expect("bind tcp answerer");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        while let Ok((mut stream, from)) = listener.accept().await {
            tokio::spawn(async move {
                let mut framer = stun_framer();
                while let Ok(frame) = read_frame(&mut stream, &mut framer).await {
                    if let Some(resp) = success_for(&frame, from)
                        && stream.write_all(&resp).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

fn fast() -> RetransmitConfig {
    RetransmitConfig {
        initial_rto: Duration::from_millis(50),
        max_rto: Duration::from_millis(400),
        rc: 7,
        rm: 4,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn v4() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
}

fn v6() -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0)
}

async fn ipv6_available() -> bool {
    match UdpSocket::bind(v6()).await {
        Ok(_) => true,
        Err(e) => {
            println!("skipping IPv6 part: cannot bind [::1]: {e}");
            false
        }
    }
}

async fn check_udp_binding(local: SocketAddr) {
    let server = udp_answerer(local, Mode::Answer).await;
    let client = UdpStunClient::bind(local).await.expect("bind client");
    let (_, req) = binding_request(None, None, None, true);
    let resp = client
        .request(req, server.addr, fast(), soon())
        .await
        .expect("response");
    assert!(resp.is_success());
    assert_eq!(resp.mapped(), Some(client.local_addr()));
    assert_eq!(resp.parsed.xor_mapped, Some(client.local_addr()));
    assert_eq!(resp.from, server.addr);
    assert_eq!(resp.local, client.local_addr());
    assert_eq!(resp.transmissions, 1);
    assert_eq!(resp.parsed.software.as_deref(), Some("test-answerer"));
    assert_eq!(client.counters().matched, 1);
}

async fn check_tcp_binding(local: SocketAddr) {
    let (addr, task) = tcp_answerer(local).await;
    let mut client = TcpStunClient::connect(addr, None, soon())
        .await
        .expect("connect");
    for _ in 0..2 {
        let (tid, req) = binding_request(None, None, None, true);
        let resp = client.request(req, soon()).await.expect("response");
        assert_eq!(resp.parsed.transaction_id, tid);
        assert_eq!(resp.mapped(), Some(client.local_addr()));
        assert_eq!(resp.from, addr);
        assert_eq!(resp.transmissions, 1);
    }
    task.abort();
}

#[tokio::test]
async fn udp_binding_ipv4() {
    check_udp_binding(v4()).await;
}

#[tokio::test]
async fn udp_binding_ipv6() {
    if ipv6_available().await {
        check_udp_binding(v6()).await;
    }
}

#[tokio::test]
async fn tcp_binding_ipv4() {
    check_tcp_binding(v4()).await;
}

#[tokio::test]
async fn tcp_binding_ipv6() {
    if ipv6_available().await {
        check_tcp_binding(v6()).await;
    }
}

#[tokio::test]
async fn retransmission_recovers_dropped_requests() {
    let server = udp_answerer(v4(), Mode::DropFirst(2)).await;
    let client = UdpStunClient::bind(v4()).await.expect("bind client");
    let (_, req) = binding_request(None, None, None, true);
    let resp = client
        .request(req, server.addr, fast(), soon())
        .await
        .expect("answered after retransmission");
    assert_eq!(resp.transmissions, 3);
    assert_eq!(server.seen.load(Ordering::SeqCst), 3);
    assert_eq!(resp.mapped(), Some(client.local_addr()));
    assert_eq!(client.counters().retransmissions, 2);
}

/// RFC 8489 §6.2.1 with its defaults (RTO 500 ms, Rc 7, Rm 16): requests
/// at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s, then 16 × RTO = 8 s more
/// before giving up at 39.5 s. Checked on tokio's paused clock: the real
/// schedule, run in no time.
#[tokio::test(start_paused = true)]
async fn retransmissions_follow_the_rfc_8489_schedule() {
    let server = udp_answerer(v4(), Mode::Silent).await;
    let client = UdpStunClient::bind(v4()).await.expect("bind client");
    let (_, req) = binding_request(None, None, None, true);
    let start = Instant::now();
    let err = client
        .request(
            req,
            server.addr,
            RetransmitConfig::default(),
            start + Duration::from_secs(60),
        )
        .await
        .expect_err("no answer");
    assert!(
        matches!(err, TransactionError::Timeout { transmissions: 7 }),
        "{err:?}"
    );
    let gave_up = start.elapsed();
    let sent: Vec<u128> = server
        .arrivals
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|t| t.duration_since(start).as_millis())
        .collect();
    assert_eq!(sent, [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(gave_up.as_millis(), 39_500);
}

#[tokio::test(start_paused = true)]
async fn silent_server_times_out_after_all_transmissions() {
    let server = udp_answerer(v4(), Mode::Silent).await;
    let client = UdpStunClient::bind(v4()).await.expect("bind client");
    let cfg = RetransmitConfig {
        initial_rto: Duration::from_millis(20),
        max_rto: Duration::from_millis(100),
        rc: 3,
        rm: 4,
    };
    let (_, req) = binding_request(None, None, None, true);
    let err = client
        .request(req, server.addr, cfg, soon())
        .await
        .expect_err("no answer");
    assert!(
        matches!(err, TransactionError::Timeout { transmissions: 3 }),
        "{err:?}"
    );
    assert_eq!(server.seen.load(Ordering::SeqCst), 3);
    assert_eq!(client.counters().timeouts, 1);
}

/// One client holds at most MAX_IN_FLIGHT transactions: one more is
/// refused at once (`TooManyInFlight`), the others run to their deadline.
#[tokio::test(start_paused = true)]
async fn transactions_in_flight_are_capped() {
    use probe::stun::transaction::MAX_IN_FLIGHT;
    let server = udp_answerer(v4(), Mode::Silent).await;
    let client = Arc::new(UdpStunClient::bind(v4()).await.expect("bind client"));
    // Long timers (the clock is paused: no real wait) so that none of the
    // first transactions can end while the last ones are still submitted.
    let cfg = RetransmitConfig {
        initial_rto: Duration::from_secs(20),
        max_rto: Duration::from_secs(20),
        rc: 2,
        rm: 2,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..=MAX_IN_FLIGHT {
        let (client, to) = (client.clone(), server.addr);
        let (_, req) = binding_request(None, None, None, true);
        set.spawn(async move { client.request(req, to, cfg, deadline).await });
    }
    let (mut refused, mut timed_out) = (0, 0);
    while let Some(r) = set.join_next().await {
        match r.expect("request task") {
            Err(TransactionError::TooManyInFlight) => refused += 1,
            Err(TransactionError::Timeout { .. } | TransactionError::Deadline { .. }) => {
                timed_out += 1
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((refused, timed_out), (1, MAX_IN_FLIGHT));
}

#[tokio::test(start_paused = true)]
async fn deadline_ends_a_long_transaction() {
    let server = udp_answerer(v4(), Mode::Silent).await;
    let client = UdpStunClient::bind(v4()).await.expect("bind client");
    // RFC defaults would wait 39.5 s; the deadline ends it first.
    let (_, req) = binding_request(None, None, None, true);
    let start = Instant::now();
    let deadline = start + Duration::from_millis(300);
    let err = client
        .request(req, server.addr, RetransmitConfig::default(), deadline)
        .await
        .expect_err("no answer");
    assert!(
        matches!(err, TransactionError::Deadline { transmissions: 1 }),
        "{err:?}"
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(300),
        "ends at the deadline"
    );
}

#[tokio::test]
async fn garbage_and_wrong_ids_are_counted_then_timeout() {
    let server = udp_answerer(v4(), Mode::Garbage).await;
    let client = UdpStunClient::bind(v4()).await.expect("bind client");
    let cfg = RetransmitConfig {
        initial_rto: Duration::from_millis(100),
        max_rto: Duration::from_millis(100),
        rc: 2,
        rm: 4,
    };
    let (_, req) = binding_request(None, None, None, true);
    let err = client
        .request(req, server.addr, cfg, soon())
        .await
        .expect_err("never the right answer");
    assert!(
        matches!(err, TransactionError::Timeout { transmissions: 2 }),
        "{err:?}"
    );
    let c = client.counters();
    assert!(c.malformed >= 1, "{c:?}");
    assert!(c.unmatched >= 1, "{c:?}");
    assert_eq!(c.matched, 0);
    // The driver is still alive: a good server still gets through.
    let good = udp_answerer(v4(), Mode::Answer).await;
    let (_, req) = binding_request(None, None, None, true);
    let resp = client
        .request(req, good.addr, fast(), soon())
        .await
        .expect("driver survived");
    assert_eq!(resp.mapped(), Some(client.local_addr()));
}

#[tokio::test]
async fn driver_survives_icmp_errors() {
    // A port with nothing bound: the kernel answers with ICMP port unreachable.
    let dead = {
        let s = UdpSocket::bind(v4()).await.expect("bind");
        s.local_addr().expect("addr")
    };
    let client = UdpStunClient::bind(v4()).await.expect("bind client");
    let cfg = RetransmitConfig {
        initial_rto: Duration::from_millis(20),
        max_rto: Duration::from_millis(20),
        rc: 2,
        rm: 2,
    };
    let (_, req) = binding_request(None, None, None, true);
    let err = client
        .request(req, dead, cfg, soon())
        .await
        .expect_err("nothing there");
    // Reported at once as what it is, not as silence.
    assert!(
        matches!(
            err,
            TransactionError::Unreachable {
                kind: probe::icmp::IcmpKind::PortUnreachable,
                transmissions: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let good = udp_answerer(v4(), Mode::Answer).await;
    let (_, req) = binding_request(None, None, None, true);
    client
        .request(req, good.addr, fast(), soon())
        .await
        .expect("driver survived the ICMP error");
}

#[tokio::test]
async fn tcp_connect_refused() {
    let dead = {
        let l = TcpListener::bind(v4()).await.expect("bind");
        l.local_addr().expect("addr")
    };
    let err = TcpStunClient::connect(dead, None, soon())
        .await
        .expect_err("nothing listening");
    assert!(
        matches!(err, TransactionError::ConnectRefused(a) if a == dead),
        "{err:?}"
    );
}

#[tokio::test]
async fn concurrent_requests_on_one_socket_all_match() {
    let servers = [
        udp_answerer(v4(), Mode::Answer).await,
        udp_answerer(v4(), Mode::Answer).await,
        udp_answerer(v4(), Mode::DropFirst(1)).await,
        udp_answerer(v4(), Mode::Answer).await,
    ];
    let client = UdpStunClient::bind(v4()).await.expect("bind client");
    let reqs: Vec<_> = servers
        .iter()
        .map(|_| binding_request(None, None, None, true))
        .collect();
    let req = |i: usize| client.request(reqs[i].1.clone(), servers[i].addr, fast(), soon());
    // All four in flight at once on the one socket.
    let (a, b, c, d) = tokio::join!(req(0), req(1), req(2), req(3));
    let results = [a, b, c, d];
    for ((server, (tid, _)), r) in servers.iter().zip(&reqs).zip(results) {
        let r = r.expect("answer");
        assert_eq!(r.parsed.transaction_id, *tid);
        assert_eq!(r.from, server.addr);
        assert_eq!(r.mapped(), Some(client.local_addr()));
    }
    assert_eq!(client.counters().matched, 4);
    assert_eq!(client.counters().unmatched, 0);
}

#[tokio::test]
async fn incoming_requests_are_delivered() {
    let client = UdpStunClient::bind(v4()).await.expect("bind client");
    let mut incoming = client.incoming().expect("first take");
    assert!(client.incoming().is_none(), "taken once");
    let peer = UdpSocket::bind(v4()).await.expect("bind peer");
    let (tid, req) = binding_request(None, None, None, true);
    peer.send_to(&req, client.local_addr()).await.expect("send");
    let got = tokio::time::timeout(Duration::from_secs(10), incoming.recv())
        .await
        .expect("delivered in time")
        .expect("channel open");
    assert_eq!(got.transaction_id, tid);
    assert_eq!(got.from, peer.local_addr().expect("addr"));
    assert_eq!(got.bytes, req);
}

#[tokio::test]
async fn query_all_reports_each_target() {
    let a = udp_answerer(v4(), Mode::Answer).await;
    let dead = udp_answerer(v4(), Mode::Silent).await;
    let b = udp_answerer(v4(), Mode::DropFirst(1)).await;
    let erring = udp_answerer(v4(), Mode::ErrorResponse).await;
    let (tcp, tcp_task) = tcp_answerer(v4()).await;
    let tcp_dead = {
        let l = TcpListener::bind(v4()).await.expect("bind");
        l.local_addr().expect("addr")
    };
    let t = |label: &str, addr, transport| BindingTarget {
        label: label.to_owned(),
        addr,
        transport,
    };
    let targets = vec![
        t("a", a.addr, Transport::Udp),
        t("dead", dead.addr, Transport::Udp),
        t("b", b.addr, Transport::Udp),
        t("tcp", tcp, Transport::Tcp),
        t("tcp-dead", tcp_dead, Transport::Tcp),
        t("erring", erring.addr, Transport::Udp),
    ];
    let opts = BindingOptions {
        binds: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        retransmit: RetransmitConfig {
            initial_rto: Duration::from_millis(30),
            max_rto: Duration::from_millis(60),
            rc: 3,
            rm: 2,
        },
        timeout: Duration::from_secs(5),
    };
    let results = query_all(&targets, &opts).await;
    assert_eq!(results.len(), 6);
    for (r, t) in results.iter().zip(&targets) {
        assert_eq!(&r.target, t, "order kept");
    }
    let ua = results[0].outcome.as_ref().expect("a answers");
    let ub = results[2].outcome.as_ref().expect("b answers");
    // One UDP socket shared by all UDP targets of the family.
    assert_eq!(results[0].local, results[2].local);
    assert_eq!(Some(ua.mapped), results[0].local);
    assert_eq!(ub.mapped, ua.mapped);
    assert_eq!(ub.transmissions, 2);
    assert!(
        matches!(
            results[1].outcome,
            Err(BindingError::Timeout { transmissions: 3 })
        ),
        "{:?}",
        results[1].outcome
    );
    let ut = results[3].outcome.as_ref().expect("tcp answers");
    assert_eq!(Some(ut.mapped), results[3].local);
    assert_eq!(results[4].outcome, Err(BindingError::ConnectRefused));
    assert_eq!(
        results[5].outcome,
        Err(BindingError::ErrorResponse {
            code: 400,
            reason: "Bad Request".to_owned()
        })
    );

    let cmp = compare_mappings(&results);
    let udp = cmp
        .iter()
        .find(|m| m.transport == Transport::Udp && m.ipv4)
        .expect("udp v4 group");
    assert_eq!(udp.answers, 2);
    assert_eq!(udp.same_ip, Some(true));
    assert_eq!(udp.same_port, Some(true));
    assert_eq!(udp.mapped_equals_local, Some(true));
    assert_eq!(udp.public_ips, vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    tcp_task.abort();
}

/// A bind address applies to its own family only: an IPv4 target with only
/// an IPv6 bind goes out from the system's IPv4 route.
#[tokio::test]
async fn query_all_binds_apply_per_family() {
    let a = udp_answerer(v4(), Mode::Answer).await;
    let targets = vec![BindingTarget {
        label: "a".to_owned(),
        addr: a.addr,
        transport: Transport::Udp,
    }];
    let opts = BindingOptions {
        binds: vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
        retransmit: fast(),
        timeout: Duration::from_secs(5),
    };
    let results = query_all(&targets, &opts).await;
    assert!(results[0].outcome.is_ok(), "{:?}", results[0].outcome);
    assert!(
        results[0].local.is_some_and(|l| l.is_ipv4()),
        "{:?}",
        results[0].local
    );
}
