//! The RFC 5780 responder against a plain tokio UDP/TCP client on loopback
//! (127.0.0.1 and 127.0.0.2 are both local on Linux).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use servers::responder::{RateLimit, Responder, ResponderConfig};
use stun_proto::types::attribute::{
    AttributeStaticType, AttributeType, ErrorCode, Fingerprint, RawAttribute, Software,
    UnknownAttributes, XorMappedAddress,
};
use stun_proto::types::message::{
    BINDING, Message, MessageClass, MessageWrite, MessageWriteExt, MessageWriteVec, TransactionId,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout};
use wire::attrs::{
    CHANGE_REQUEST, ChangeRequest, MappedAddress, OtherAddress, Padding, ResponseOrigin,
    ResponsePort,
};

/// Bound on every wait for something that should arrive.
const WAIT: Duration = Duration::from_secs(3);
/// How long we listen for something that should NOT arrive.
const QUIET: Duration = Duration::from_millis(300);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// What a test reads out of a response.
#[derive(Debug)]
struct Resp {
    from: SocketAddr,
    len: usize,
    class: MessageClass,
    txid: TransactionId,
    xor: Option<SocketAddr>,
    mapped: Option<SocketAddr>,
    origin: Option<SocketAddr>,
    other: Option<SocketAddr>,
    padding: Option<u16>,
    software: Option<String>,
    error: Option<u16>,
    unknown: Option<UnknownAttributes>,
}

fn decode(data: &[u8], from: SocketAddr) -> Resp {
    // from_bytes also checks the FINGERPRINT.
    let msg = Message::from_bytes(data).expect("a well-formed STUN response");
    assert!(msg.has_method(BINDING));
    assert!(msg.has_attribute(Fingerprint::TYPE));
    let txid = msg.transaction_id();
    Resp {
        from,
        len: data.len(),
        class: msg.class(),
        txid,
        xor: msg
            .attribute::<XorMappedAddress>()
            .ok()
            .map(|a| a.addr(txid)),
        mapped: msg.attribute::<MappedAddress>().ok().map(|a| a.addr()),
        origin: msg.attribute::<ResponseOrigin>().ok().map(|a| a.addr()),
        other: msg.attribute::<OtherAddress>().ok().map(|a| a.addr()),
        padding: msg.attribute::<Padding>().ok().map(|p| p.len()),
        software: msg
            .attribute::<Software>()
            .ok()
            .map(|s| s.software().to_owned()),
        error: msg.attribute::<ErrorCode>().ok().map(|e| e.code()),
        unknown: msg.attribute::<UnknownAttributes>().ok(),
    }
}

/// A Binding request; `add` puts attributes in. With FINGERPRINT.
fn request(add: impl FnOnce(&mut MessageWriteVec)) -> (Vec<u8>, TransactionId) {
    let mut w = Message::builder_request(BINDING, MessageWriteVec::new());
    add(&mut w);
    w.add_fingerprint().unwrap();
    let txid = w.transaction_id();
    (w.finish(), txid)
}

async fn recv(sock: &UdpSocket, wait: Duration) -> Option<Resp> {
    let mut buf = vec![0u8; 4096];
    let (n, from) = timeout(wait, sock.recv_from(&mut buf)).await.ok()?.ok()?;
    Some(decode(&buf[..n], from))
}

async fn client(ip_: &str) -> UdpSocket {
    UdpSocket::bind((ip(ip_), 0)).await.unwrap()
}

/// Sends `req` to `to` and waits for the response with `txid`.
async fn transact(sock: &UdpSocket, to: SocketAddr, req: &[u8], txid: TransactionId) -> Resp {
    sock.send_to(req, to).await.unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let r = recv(sock, left)
            .await
            .expect("a response before the deadline");
        if r.txid == txid {
            return r;
        }
    }
}

fn lab() -> Responder {
    Responder::start(ResponderConfig {
        software: Some("natscope-test".into()),
        ..ResponderConfig::loopback_lab()
    })
    .expect("loopback lab responder starts")
}

/// Waits (bounded) until `cond` holds on the responder's counters.
async fn until(r: &Responder, cond: impl Fn(&servers::responder::MetricsSnapshot) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond(&r.metrics().snapshot()) {
        assert!(Instant::now() < deadline, "{:?}", r.metrics().snapshot());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn free_ports_are_shared_by_both_ips() {
    let r = lab();
    let a = r.addrs();
    let udp = a.udp();
    assert_eq!(udp.len(), 4);
    assert_eq!(a.primary.ip(), ip("127.0.0.1"));
    let alt = a.alternate.unwrap();
    assert_eq!(alt.ip(), ip("127.0.0.2"));
    assert_ne!(a.primary.port(), alt.port());
    assert_eq!(
        a.primary_alt_port.unwrap(),
        SocketAddr::new(a.primary.ip(), alt.port())
    );
    assert_eq!(
        a.alternate_primary_port.unwrap(),
        SocketAddr::new(alt.ip(), a.primary.port())
    );
    assert_eq!(a.tcp, udp);
    r.shutdown().await;
}

#[tokio::test]
async fn mapped_addresses_other_address_and_origin() {
    let r = lab();
    let a = r.addrs();
    let c = client("127.0.0.1").await;
    let me = c.local_addr().unwrap();
    let (req, txid) = request(|_| {});
    let resp = transact(&c, a.primary, &req, txid).await;
    assert_eq!(resp.class, MessageClass::Success);
    assert_eq!(resp.from, a.primary);
    assert_eq!(resp.xor, Some(me));
    assert_eq!(resp.mapped, Some(me));
    assert_eq!(resp.origin, Some(a.primary));
    assert_eq!(resp.other, a.alternate);
    assert_eq!(resp.other, a.other_address);
    assert_eq!(resp.software.as_deref(), Some("natscope-test"));
    assert_eq!(resp.padding, None);
    let m = r.metrics().snapshot();
    assert_eq!((m.requests, m.success_responses), (1, 1));
}

#[tokio::test]
async fn other_address_names_the_alternate_and_the_alternate_names_the_primary() {
    // Test I (at the primary) and natdiscovery's test II (alternate IP,
    // primary port) both learn the alternate; the alternate names the
    // primary, so it differs in IP and port from wherever it is asked.
    let r = lab();
    let a = r.addrs();
    let four = [
        a.primary,
        a.primary_alt_port.unwrap(),
        a.alternate_primary_port.unwrap(),
        a.alternate.unwrap(),
    ];
    let c = client("127.0.0.1").await;
    for (i, to) in four.iter().enumerate() {
        let (req, txid) = request(|_| {});
        let resp = transact(&c, *to, &req, txid).await;
        assert_eq!(resp.origin, Some(*to));
        let expected = if i == 3 { four[0] } else { four[3] };
        assert_eq!(resp.other, Some(expected), "request to {to}");
    }
}

#[tokio::test]
async fn change_request_answers_from_the_changed_address() {
    let r = lab();
    let a = r.addrs();
    let c = client("127.0.0.1").await;
    let me = c.local_addr().unwrap();
    for (change_ip, change_port) in [(false, false), (true, false), (false, true), (true, true)] {
        let (req, txid) = request(|w| {
            w.add_attribute(&ChangeRequest::new(change_ip, change_port))
                .unwrap()
        });
        let resp = transact(&c, a.primary, &req, txid).await;
        let expected = a.udp_for_change(change_ip, change_port).unwrap();
        assert_eq!(resp.from, expected, "ip={change_ip} port={change_port}");
        assert_eq!(resp.origin, Some(expected));
        assert_eq!(resp.xor, Some(me));
        assert_eq!(resp.other, a.alternate);
    }
    // From the alternate socket, "change both" comes back from the primary.
    let (req, txid) = request(|w| w.add_attribute(&ChangeRequest::new(true, true)).unwrap());
    let resp = transact(&c, a.alternate.unwrap(), &req, txid).await;
    assert_eq!(resp.from, a.primary);
    assert_eq!(resp.origin, Some(a.primary));
    let m = r.metrics().snapshot();
    assert_eq!((m.change_ip, m.change_port), (3, 3));
}

#[tokio::test]
async fn response_port_sends_to_the_other_socket_without_amplifying() {
    let r = lab();
    let a = r.addrs();
    let sender = client("127.0.0.1").await;
    let receiver = client("127.0.0.1").await;
    let port = receiver.local_addr().unwrap().port();

    // A padded request: the response fits in the request's size.
    let (req, txid) = request(|w| {
        w.add_attribute(&ResponsePort(port)).unwrap();
        w.add_attribute(&Padding(200)).unwrap();
    });
    sender.send_to(&req, a.primary).await.unwrap();
    let resp = recv(&receiver, WAIT)
        .await
        .expect("response at the RESPONSE-PORT");
    assert_eq!(resp.txid, txid);
    assert_eq!(resp.from, a.primary);
    assert_eq!(resp.xor, Some(sender.local_addr().unwrap()));
    assert!(resp.len <= req.len(), "{} > {}", resp.len, req.len());
    assert!(resp.padding.is_some());
    assert!(
        recv(&sender, QUIET).await.is_none(),
        "nothing at the source port"
    );

    // A small request: any response would be larger, so none is sent.
    let (req, _) = request(|w| w.add_attribute(&ResponsePort(port)).unwrap());
    sender.send_to(&req, a.primary).await.unwrap();
    until(&r, |m| m.amplification_refused == 1).await;
    assert!(recv(&receiver, QUIET).await.is_none());
    assert!(recv(&sender, QUIET).await.is_none());

    // RESPONSE-PORT equal to the source port is a plain answer.
    let own = sender.local_addr().unwrap().port();
    let (req, txid) = request(|w| w.add_attribute(&ResponsePort(own)).unwrap());
    let resp = transact(&sender, a.primary, &req, txid).await;
    assert_eq!(resp.class, MessageClass::Success);
    let m = r.metrics().snapshot();
    assert_eq!((m.response_port, m.amplification_refused), (2, 1));
}

#[tokio::test]
async fn padding_is_honoured_and_capped() {
    let r = Responder::start(ResponderConfig {
        max_padding: 300,
        ..ResponderConfig::loopback_lab()
    })
    .unwrap();
    let a = r.addrs();
    let c = client("127.0.0.1").await;
    let (req, txid) = request(|w| w.add_attribute(&Padding(100)).unwrap());
    let resp = transact(&c, a.primary, &req, txid).await;
    assert_eq!(resp.padding, Some(100));
    let (req, txid) = request(|w| w.add_attribute(&Padding(1200)).unwrap());
    let resp = transact(&c, a.primary, &req, txid).await;
    assert_eq!(resp.padding, Some(300));
    assert!(resp.len < 300 + 200);
    assert_eq!(r.metrics().snapshot().padding, 2);
}

#[tokio::test]
async fn advertised_addresses_appear_in_other_address_and_origin() {
    let r = Responder::start(ResponderConfig {
        advertise_primary: Some(ip("203.0.113.10")),
        advertise_alternate: Some(ip("203.0.113.20")),
        ..ResponderConfig::loopback_lab()
    })
    .unwrap();
    let a = r.addrs();
    let alt_port = a.alternate.unwrap().port();
    let public_other = SocketAddr::new(ip("203.0.113.20"), alt_port);
    assert_eq!(a.other_address, Some(public_other));
    let c = client("127.0.0.1").await;
    let (req, txid) = request(|_| {});
    let resp = transact(&c, a.primary, &req, txid).await;
    assert_eq!(resp.other, Some(public_other));
    assert_eq!(
        resp.origin,
        Some(SocketAddr::new(ip("203.0.113.10"), a.primary.port()))
    );
    let (req, txid) = request(|w| w.add_attribute(&ChangeRequest::new(true, true)).unwrap());
    let resp = transact(&c, a.primary, &req, txid).await;
    assert_eq!(resp.from, a.alternate.unwrap());
    assert_eq!(resp.origin, Some(public_other));
}

#[tokio::test]
async fn single_address_mode_is_plain_rfc_8489() {
    let r = Responder::start(ResponderConfig {
        primary: ip("127.0.0.1"),
        alternate: None,
        port: 0,
        rate_limit: RateLimit::disabled(),
        ..ResponderConfig::default()
    })
    .unwrap();
    let a = r.addrs();
    assert_eq!(a.udp(), vec![a.primary]);
    assert_eq!(a.tcp, vec![a.primary]);
    assert_eq!(a.other_address, None);
    let c = client("127.0.0.1").await;
    let (req, txid) = request(|_| {});
    let resp = transact(&c, a.primary, &req, txid).await;
    assert_eq!(resp.class, MessageClass::Success);
    assert_eq!(resp.other, None);
    assert_eq!(resp.origin, Some(a.primary));
    assert_eq!(resp.xor, Some(c.local_addr().unwrap()));

    // A change it cannot make: 420 naming CHANGE-REQUEST.
    let (req, txid) = request(|w| w.add_attribute(&ChangeRequest::new(true, false)).unwrap());
    let resp = transact(&c, a.primary, &req, txid).await;
    assert_eq!(resp.class, MessageClass::Error);
    assert_eq!(resp.error, Some(420));
    assert!(resp.unknown.unwrap().has_attribute(CHANGE_REQUEST));
    // A CHANGE-REQUEST with no flag asks for nothing: answered.
    let (req, txid) = request(|w| w.add_attribute(&ChangeRequest::new(false, false)).unwrap());
    let resp = transact(&c, a.primary, &req, txid).await;
    assert_eq!(resp.class, MessageClass::Success);
}

#[tokio::test]
async fn two_address_mode_rejects_wildcards() {
    let err = Responder::start(ResponderConfig {
        primary: ip("0.0.0.0"),
        alternate: Some(ip("127.0.0.2")),
        port: 0,
        ..ResponderConfig::default()
    })
    .unwrap_err();
    assert!(matches!(
        err,
        servers::responder::ResponderError::UnspecifiedAddress(_)
    ));
}

async fn tcp_transact(s: &mut TcpStream, req: &[u8]) -> Vec<u8> {
    s.write_all(req).await.unwrap();
    let mut head = [0u8; 20];
    timeout(WAIT, s.read_exact(&mut head))
        .await
        .unwrap()
        .unwrap();
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let mut msg = head.to_vec();
    msg.resize(20 + len, 0);
    timeout(WAIT, s.read_exact(&mut msg[20..]))
        .await
        .unwrap()
        .unwrap();
    msg
}

#[tokio::test]
async fn tcp_binding_works_and_keeps_the_connection() {
    let r = lab();
    let a = r.addrs();
    for listener in [a.tcp[0], a.tcp[3]] {
        let mut s = timeout(WAIT, TcpStream::connect(listener))
            .await
            .unwrap()
            .unwrap();
        let me = s.local_addr().unwrap();
        for _ in 0..2 {
            let (req, txid) = request(|w| w.add_attribute(&Padding(8)).unwrap());
            let resp = decode(&tcp_transact(&mut s, &req).await, listener);
            assert_eq!(resp.txid, txid);
            assert_eq!(resp.class, MessageClass::Success);
            assert_eq!(resp.xor, Some(me));
            assert_eq!(resp.origin, Some(listener));
            // OTHER-ADDRESS is the diagonal opposite of the listener.
            let other = if listener == a.tcp[0] {
                a.alternate.unwrap()
            } else {
                a.primary
            };
            assert_eq!(resp.other, Some(other));
            assert_eq!(resp.padding, Some(8));
        }
        // Over TCP a response cannot come from elsewhere: 420.
        let (req, txid) = request(|w| w.add_attribute(&ChangeRequest::new(true, false)).unwrap());
        let resp = decode(&tcp_transact(&mut s, &req).await, listener);
        assert_eq!((resp.txid, resp.error), (txid, Some(420)));
    }
    assert_eq!(r.metrics().snapshot().tcp_accepted, 2);
}

/// A slow client trickling one byte every 2 s never finishes its message:
/// the connection is closed TCP_IO_TIMEOUT after the first bytes (not
/// kept open by each byte), counted as malformed. A client that meanwhile
/// pipelines requests split across writes (its buffer is never empty: each
/// write ends one request and starts the next) keeps being answered: the
/// deadline belongs to each message, not to the connection.
#[tokio::test]
async fn tcp_slow_client_is_closed_after_the_message_deadline() {
    let r = lab();
    let a = r.addrs();
    let mut slow = timeout(WAIT, TcpStream::connect(a.tcp[0]))
        .await
        .unwrap()
        .unwrap();
    // A header announcing 400 bytes: the message can never be whole in time.
    let (mut req, _) = request(|w| w.add_attribute(&Padding(380)).unwrap());
    req.truncate(20);
    let started = Instant::now();
    slow.write_all(&req[..10]).await.unwrap();
    let mut good = timeout(WAIT, TcpStream::connect(a.tcp[0]))
        .await
        .unwrap()
        .unwrap();
    let bound = servers::responder::TCP_IO_TIMEOUT + Duration::from_secs(3);
    let mut next = 10;
    // The good client's request in progress: its unsent tail and its id.
    let (q, txid) = request(|_| {});
    good.write_all(&q[..10]).await.unwrap();
    let mut pending = (q[10..].to_vec(), txid);
    let closed_after = loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            started.elapsed() < bound,
            "slow client still open after {bound:?}"
        );
        let (q, txid) = request(|_| {});
        let mut write = std::mem::take(&mut pending.0);
        write.extend_from_slice(&q[..10]);
        let resp = tcp_transact(&mut good, &write).await;
        assert_eq!(decode(&resp, a.tcp[0]).txid, pending.1);
        pending = (q[10..].to_vec(), txid);
        // A write to a connection the server closed fails (at the latest on
        // the second write, after the RST); so does a read returning EOF.
        let byte = [req.get(next).copied().unwrap_or(0)];
        next += 1;
        let mut buf = [0u8; 1];
        let write_failed = slow.write_all(&byte).await.is_err();
        let eof = matches!(
            timeout(Duration::from_millis(50), slow.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        );
        if write_failed || eof {
            break started.elapsed();
        }
    };
    assert!(
        closed_after >= servers::responder::TCP_IO_TIMEOUT - Duration::from_secs(1),
        "closed after {closed_after:?}, before the deadline"
    );
    until(&r, |m| m.malformed_dropped == 1).await;
}

#[tokio::test]
async fn garbage_truncated_and_non_requests_are_counted_never_answered() {
    let r = lab();
    let a = r.addrs();
    let c = client("127.0.0.1").await;
    let (good, _) = request(|_| {});
    let indication = Message::builder_indication(BINDING, MessageWriteVec::new()).finish();
    let success = {
        let parsed = Message::from_bytes(&good).unwrap();
        Message::builder_success(&parsed, MessageWriteVec::new()).finish()
    };
    let mut bad_fingerprint = good.clone();
    let last = bad_fingerprint.len() - 1;
    bad_fingerprint[last] ^= 0xff;
    let mut too_long = good.clone();
    too_long.extend_from_slice(&[0; 4]);
    let malformed: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![0u8; 3],
        good[..good.len() - 4].to_vec(),
        bad_fingerprint,
        too_long,
        vec![0xff; 600],
    ];
    for p in &malformed {
        c.send_to(p, a.primary).await.unwrap();
    }
    c.send_to(&indication, a.primary).await.unwrap();
    c.send_to(&success, a.primary).await.unwrap();
    until(&r, |m| m.malformed_dropped == 6 && m.ignored_dropped == 2).await;
    assert!(recv(&c, QUIET).await.is_none(), "no answer to any of it");
    let m = r.metrics().snapshot();
    assert_eq!(m.udp_received, 8);
    assert_eq!(
        (m.requests, m.success_responses, m.error_responses),
        (0, 0, 0)
    );

    // TCP garbage closes the connection unanswered.
    let mut s = TcpStream::connect(a.tcp[0]).await.unwrap();
    s.write_all(&[0xffu8; 40]).await.unwrap();
    let mut buf = [0u8; 64];
    let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    until(&r, |m| m.malformed_dropped == 7).await;
}

#[tokio::test]
async fn rate_limit_stops_a_flood_from_one_source_only() {
    let r = Responder::start(ResponderConfig {
        rate_limit: RateLimit {
            per_second: 1,
            burst: 5,
            max_sources: 1024,
        },
        ..ResponderConfig::loopback_lab()
    })
    .unwrap();
    let a = r.addrs();
    let flooder = client("127.0.0.1").await;
    const FLOOD: u64 = 60;
    for _ in 0..FLOOD {
        let (req, _) = request(|_| {});
        flooder.send_to(&req, a.primary).await.unwrap();
    }
    until(&r, |m| m.requests == FLOOD).await;
    let mut answered = 0u64;
    while recv(&flooder, QUIET).await.is_some() {
        answered += 1;
    }
    let m = r.metrics().snapshot();
    assert_eq!(answered, m.success_responses);
    assert_eq!(m.rate_limited + m.success_responses, FLOOD);
    assert!(m.success_responses >= 5, "the burst is served: {m:?}");
    assert!(m.rate_limited >= FLOOD / 2, "the flood is cut: {m:?}");

    // Another source is served at once.
    let other = client("127.0.0.3").await;
    let (req, txid) = request(|_| {});
    let resp = transact(&other, a.primary, &req, txid).await;
    assert_eq!(resp.xor, Some(other.local_addr().unwrap()));
}

#[tokio::test]
async fn unknown_comprehension_required_attribute_gets_420() {
    let r = lab();
    let a = r.addrs();
    let c = client("127.0.0.1").await;
    let unknown = AttributeType::new(0x7ff0);
    let (req, txid) = request(|w| {
        w.add_attribute(&RawAttribute::new(unknown, &[1, 2, 3, 4]))
            .unwrap()
    });
    let resp = transact(&c, a.primary, &req, txid).await;
    assert_eq!(resp.class, MessageClass::Error);
    assert_eq!(resp.error, Some(420));
    assert_eq!(resp.from, a.primary);
    assert!(resp.unknown.unwrap().has_attribute(unknown));

    // An unknown comprehension-optional attribute is ignored.
    let (req, txid) = request(|w| {
        w.add_attribute(&RawAttribute::new(AttributeType::new(0xc0f0), &[0; 4]))
            .unwrap()
    });
    let resp = transact(&c, a.primary, &req, txid).await;
    assert_eq!(resp.class, MessageClass::Success);
    let m = r.metrics().snapshot();
    assert_eq!((m.error_responses, m.success_responses), (1, 1));
}

#[tokio::test]
async fn shutdown_closes_the_sockets() {
    let r = lab();
    let a = r.addrs();
    r.shutdown().await;
    // The ports are free again.
    for addr in a.udp() {
        UdpSocket::bind(addr).await.expect("port released");
    }
}

#[tokio::test]
async fn ipv6_loopback_single_address() {
    let started = Responder::start(ResponderConfig {
        primary: ip("::1"),
        alternate: None,
        port: 0,
        rate_limit: RateLimit::disabled(),
        ..ResponderConfig::default()
    });
    let r = match started {
        Ok(r) => r,
        Err(servers::responder::ResponderError::Bind { source, .. })
            if source.kind() == std::io::ErrorKind::AddrNotAvailable =>
        {
            eprintln!("no ::1 on this host; IPv6 not tested");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let c = client("::1").await;
    let (req, txid) = request(|_| {});
    let resp = transact(&c, r.addrs().primary, &req, txid).await;
    assert_eq!(resp.xor, Some(c.local_addr().unwrap()));
    assert_eq!(resp.mapped, Some(c.local_addr().unwrap()));
    assert_eq!(resp.origin, Some(r.addrs().primary));
}
