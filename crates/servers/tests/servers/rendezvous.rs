//! The rendezvous over real loopback sockets, spoken to in raw HTTP/1.1:
//! long polls held and woken, bounded below the HTTP server's time, more
//! held at once than the metrics endpoint's connection bound, TLS, and
//! requests that are not the API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use servers::rendezvous::{Limits, RendezvousServer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wire::rendezvous::{JoinResponse, LONG_POLL, MAX_RESPONSE_BODY, OpenResponse};

async fn start() -> RendezvousServer {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    RendezvousServer::start(l, None, Limits::default()).expect("start")
}

/// One request over `io`; the status and the body.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    io.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = io.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn post(s: &RendezvousServer, op: &str, body: &str) -> (u16, String) {
    let io = TcpStream::connect(s.local_addr()).await.expect("connect");
    exchange(io, "POST", &format!("/v1/{op}"), body).await
}

fn parsed<T: serde::de::DeserializeOwned + wire::rendezvous::Bounded>(b: &str) -> T {
    wire::rendezvous::parse(b.as_bytes(), MAX_RESPONSE_BODY).expect("an API answer")
}

async fn open_join(s: &RendezvousServer) -> (OpenResponse, JoinResponse) {
    let (st, b) = post(s, "open", "{}").await;
    assert_eq!(st, 200, "{b}");
    let o: OpenResponse = parsed(&b);
    let (st, b) = post(s, "join", &format!(r#"{{"code":"{}"}}"#, o.code)).await;
    assert_eq!(st, 200, "{b}");
    (o, parsed(&b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_is_woken_by_a_message_and_ends_empty_within_its_bound() {
    let s = Arc::new(start().await);
    let (o, j) = open_join(&s).await;
    let waiting = {
        let s = s.clone();
        let token = j.token.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let r = post(
                &s,
                "recv",
                &format!(r#"{{"token":"{token}","after":0,"wait_ms":4000}}"#),
            )
            .await;
            (r, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (st, b) = post(
        &s,
        "send",
        &format!(r#"{{"token":"{}","n":1,"text":"hello"}}"#, o.token),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    let ((st, b), took) = waiting.await.expect("task");
    assert_eq!(st, 200, "{b}");
    assert!(b.contains(r#""text":"hello""#), "{b}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    // Nothing pending: held for LONG_POLL at most, whatever was asked,
    // and answered before the HTTP server's per-connection time.
    let started = Instant::now();
    let (st, b) = post(
        &s,
        "recv",
        &format!(r#"{{"token":"{}","after":1,"wait_ms":600000}}"#, j.token),
    )
    .await;
    let took = started.elapsed();
    assert_eq!((st, b.as_str()), (200, r#"{"messages":[]}"#));
    assert!(took >= LONG_POLL - Duration::from_millis(100), "{took:?}");
    assert!(took < servers::http::IO_TIMEOUT, "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_long_polls_than_the_metrics_bound_are_held_at_once() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let limits = Limits {
        opens_per_minute: 0,
        ..Limits::default()
    };
    let s = Arc::new(RendezvousServer::start(l, None, limits).expect("start"));
    let mut polls = Vec::new();
    for _ in 0..(servers::http::MAX_CONNECTIONS + 8) {
        let (st, b) = post(&s, "open", "{}").await;
        assert_eq!(st, 200, "{b}");
        let creator: OpenResponse = parsed(&b);
        let s = s.clone();
        polls.push(tokio::spawn(async move {
            post(
                &s,
                "wait",
                &format!(r#"{{"token":"{}","wait_ms":1500}}"#, creator.token),
            )
            .await
        }));
    }
    let started = Instant::now();
    for p in polls {
        let (st, b) = p.await.expect("task");
        assert_eq!((st, b.as_str()), (200, r#"{"joined":false}"#));
    }
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_the_api_is_refused_and_secrets_in_urls_are_not_read() {
    let s = start().await;
    let (o, _) = open_join(&s).await;
    // A code in a query string is not a join.
    let io = TcpStream::connect(s.local_addr()).await.expect("connect");
    let (st, _) = exchange(io, "GET", &format!("/v1/join?code={}", o.code), "").await;
    assert_eq!(st, 404);
    let io = TcpStream::connect(s.local_addr()).await.expect("connect");
    let (st, b) = exchange(io, "POST", "/v1/join?x=1", "{}").await;
    assert_eq!(st, 400, "{b}");
    let (st, _) = post(&s, "nope", "{}").await;
    assert_eq!(st, 404);
    let (st, b) = post(&s, "send", &"x".repeat(200_000)).await;
    assert_eq!(st, 413, "{b}");
    let (st, b) = post(&s, "join", &format!(r#"{{"code":"{}"}}"#, o.code)).await;
    assert_eq!(st, 409, "{b}");
    let m = s.metrics();
    assert_eq!((m.opened, m.joined, m.live), (1, 1, 1));
    assert!(!format!("{s:?}").contains(&o.code));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_operators_certificate() {
    let pki = servers::pki::Pki::generate(&["localhost"]).expect("pki");
    let cfg = servers::http::tls_config(pki.chain_pem.as_bytes(), pki.key_pem.as_bytes())
        .expect("a TLS config");
    assert!(servers::http::tls_config(b"", pki.key_pem.as_bytes()).is_err());
    assert!(servers::http::tls_config(pki.chain_pem.as_bytes(), b"nope").is_err());
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let s = RendezvousServer::start(l, Some(cfg), Limits::default()).expect("start");
    assert!(s.url().starts_with("https://"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).expect("the CA");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(s.local_addr()).await.expect("connect");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").expect("a name"),
            tcp,
        )
        .await
        .expect("handshake");
    let (st, b) = exchange(tls, "POST", "/v1/open", "{}").await;
    assert_eq!(st, 200, "{b}");
    let _: OpenResponse = parsed(&b);
    // A client that never starts its handshake is dropped in time.
    let mut idle = TcpStream::connect(s.local_addr()).await.expect("connect");
    let mut buf = [0u8; 1];
    let r = tokio::time::timeout(
        servers::http::IO_TIMEOUT + Duration::from_secs(1),
        idle.read(&mut buf),
    )
    .await
    .expect("closed within IO_TIMEOUT");
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
}
