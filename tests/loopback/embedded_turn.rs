//! The embedded TURN server (`natscope diagnose --lab`'s relay) answers
//! STUN Binding itself on every listener, through natscope's own clients.

use model::Secret;
use probe::stun::tcp::{read_frame, stun_framer};
use probe::stun::transaction::{
    ResponseClass, RetransmitConfig, UdpStunClient, binding_request, parse_response,
};
use probe::turn::tls::{TlsOptions, connect_with};
use servers::turn::{TurnServer, TurnServerConfig};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use wire::attrs::ChangeRequest;

/// Binding requests to every listener are answered by the server itself,
/// with the sender's address: UDP through the transaction layer, also with
/// 420 to a CHANGE-REQUEST (a single address cannot honour it); TCP with
/// two requests in one write (each answered, in order); TLS with the
/// server's certificate verified.
#[tokio::test]
async fn answers_binding_requests_on_every_listener() {
    let server = TurnServer::start(TurnServerConfig::new(
        "natscope.test",
        "alice",
        Secret::new("pw"),
    ))
    .await
    .expect("embedded server starts");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

    // UDP, through the transaction layer.
    let udp = UdpStunClient::bind(loopback).await.expect("bind loopback");
    let (_, req) = binding_request(None, None, None, true);
    let r = udp
        .request(req, server.udp_addr, RetransmitConfig::default(), deadline)
        .await
        .expect("UDP Binding answered");
    assert_eq!(r.parsed.class, ResponseClass::Success);
    assert_eq!(r.parsed.xor_mapped, Some(udp.local_addr()));
    assert_eq!(r.parsed.response_origin, Some(server.udp_addr));
    assert_eq!(r.parsed.other_address, None, "not an RFC 5780 server");
    let (_, req) = binding_request(Some(ChangeRequest::new(true, true)), None, None, true);
    let r = udp
        .request(req, server.udp_addr, RetransmitConfig::default(), deadline)
        .await
        .expect("CHANGE-REQUEST answered");
    assert_eq!(r.parsed.class, ResponseClass::Error);
    assert_eq!(r.parsed.error.map(|(code, _)| code), Some(420));

    // TCP: two requests in one write.
    let mut tcp = tokio::net::TcpStream::connect(server.tcp_addr)
        .await
        .expect("connect to loopback");
    let local = tcp.local_addr().expect("local address");
    let (tid1, mut two) = binding_request(None, None, None, true);
    let (tid2, second) = binding_request(None, None, None, false);
    two.extend_from_slice(&second);
    tcp.write_all(&two).await.expect("write");
    let mut framer = stun_framer();
    for tid in [tid1, tid2] {
        let frame = tokio::time::timeout_at(deadline, read_frame(&mut tcp, &mut framer))
            .await
            .expect("bounded")
            .expect("TCP Binding answered");
        let parsed = parse_response(&frame).expect("a STUN response");
        assert_eq!(parsed.transaction_id, tid);
        assert_eq!(parsed.xor_mapped, Some(local));
        assert_eq!(parsed.response_origin, Some(server.tcp_addr));
    }

    // TLS, with the server's certificate verified.
    let opts = TlsOptions {
        ca_pem: Some(server.ca_pem().as_bytes().to_vec()),
        insecure: false,
    };
    let tcp = tokio::net::TcpStream::connect(server.tls_addr)
        .await
        .expect("connect to loopback");
    let local = tcp.local_addr().expect("local address");
    let mut tls = tokio::time::timeout_at(deadline, connect_with(&opts, "localhost", tcp))
        .await
        .expect("bounded")
        .expect("TLS handshake");
    let (tid, req) = binding_request(None, None, None, true);
    tls.write_all(&req).await.expect("write");
    tls.flush().await.expect("flush");
    let frame = tokio::time::timeout_at(deadline, read_frame(&mut tls, &mut stun_framer()))
        .await
        .expect("bounded")
        .expect("TLS Binding answered");
    let parsed = parse_response(&frame).expect("a STUN response");
    assert_eq!(parsed.transaction_id, tid);
    assert_eq!(parsed.xor_mapped, Some(local));
}
