//! TURN diagnostics against the embedded TURN server and a real coturn, on
//! loopback only.

use probe::resolve::Resolver;
use probe::servers::{ServerUri, parse_ice_servers};
use probe::turn::{
    QualityConfig, Secret, StageStatus, TestPki, TestTurnServer, TestTurnServerConfig, TlsOptions,
    TurnAuth, TurnFailure, TurnProbeConfig, TurnStage, TurnTransport, TurnTransportResult,
    probe_all,
};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "c0rrect-h0rse-battery";
const SECRET: &str = "sh4red-rest-s3cret";
const REALM: &str = "natscope.test";

fn cfg(auth: Option<TurnAuth>) -> TurnProbeConfig {
    TurnProbeConfig {
        auth,
        expected_realm: None,
        tls: TlsOptions::default(),
        peer: None,
        stage_timeout: Duration::from_secs(3),
        quality: Some(QualityConfig {
            packets: 20,
            ..QualityConfig::default()
        }),
        resolver: Some(loopback_resolver()),
    }
}

/// A resolver whose only name server is a closed loopback port: `localhost`
/// is answered locally (RFC 6761), and nothing leaves the machine.
fn loopback_resolver() -> Resolver {
    Resolver::with_nameservers(vec![SocketAddr::from(([127, 0, 0, 1], free_port()))])
        .expect("resolver with a loopback name server")
}

fn alice(pw: &str) -> Option<TurnAuth> {
    Some(TurnAuth::LongTerm {
        username: "alice".into(),
        password: Secret::new(pw),
    })
}

fn uri(s: &str) -> ServerUri {
    ServerUri::parse(s).expect("test URIs are valid")
}

fn assert_relays(r: &TurnTransportResult) {
    for st in [
        TurnStage::UnauthenticatedAllocate,
        TurnStage::Allocate,
        TurnStage::CreatePermission,
        TurnStage::DataRoundTrip,
        TurnStage::ChannelBind,
        TurnStage::ChannelRoundTrip,
        TurnStage::Refresh,
        TurnStage::Quality,
        TurnStage::Deallocate,
    ] {
        let s = r
            .stage(st)
            .unwrap_or_else(|| panic!("{st:?} missing in {r:#?}"));
        assert_eq!(
            s.status,
            StageStatus::Passed,
            "{st:?} of {} {}: {r:#?}",
            r.uri,
            r.transport
        );
    }
    assert!(r.ok, "{r:#?}");
    assert!(r.relayed_address.is_some() && r.mapped_address.is_some());
    assert_eq!(r.realm.as_deref(), Some(REALM));
    let q = r.quality.as_ref().expect("quality measured");
    assert!(q.received > 0, "{q:?}");
    // The Refresh really went out and was answered with a lifetime.
    let note = r
        .stage(TurnStage::Refresh)
        .and_then(|s| s.note.clone())
        .unwrap_or_default();
    assert!(note.contains("s granted"), "{note}: {r:#?}");
    // The DNS stage ran for names and was skipped for IP literals.
    let dns = r.stage(TurnStage::Dns).expect("dns stage recorded");
    if r.uri.contains("localhost") {
        assert_eq!(dns.status, StageStatus::Passed, "{r:#?}");
    } else {
        assert_eq!(dns.status, StageStatus::NotTested, "{r:#?}");
    }
}

fn assert_no_secrets(results: &[TurnTransportResult]) {
    let json = serde_json::to_string(results).expect("results serialize");
    let dbg = format!("{results:?}");
    for s in [PASSWORD, SECRET] {
        assert!(!json.contains(s) && !dbg.contains(s), "secret leaked");
    }
}

fn failure_of(r: &TurnTransportResult) -> &TurnFailure {
    r.failure
        .as_ref()
        .unwrap_or_else(|| panic!("expected a failure: {r:#?}"))
}

// ------------------------------------------------------------------ embedded

#[tokio::test]
async fn embedded_server_allocates_and_relays_over_udp_tcp_tls() {
    let server = TestTurnServer::start(TestTurnServerConfig::new(
        REALM,
        "alice",
        Secret::new(PASSWORD),
    ))
    .await
    .expect("embedded server starts");
    let mut c = cfg(alice(PASSWORD));
    c.tls.ca_pem = Some(server.ca_pem().as_bytes().to_vec());
    let uris = [
        uri(&format!(
            "turn:127.0.0.1:{}?transport=udp",
            server.udp_addr.port()
        )),
        uri(&format!(
            "turn:127.0.0.1:{}?transport=tcp",
            server.tcp_addr.port()
        )),
        uri(&format!("turns:localhost:{}", server.tls_addr.port())),
    ];
    let results = tokio::time::timeout(Duration::from_secs(60), probe_all(&uris, &c))
        .await
        .expect("probe is bounded");
    assert_eq!(results.len(), 3);
    for r in &results {
        assert_relays(r);
    }
    assert_eq!(results[2].transport, TurnTransport::Tls);
    assert_eq!(
        results[2]
            .stage(TurnStage::TlsHandshake)
            .map(|s| s.status.clone()),
        Some(StageStatus::Passed)
    );
    assert_no_secrets(&results);

    // Wrong password against the embedded server: named, not "relay failed".
    let bad = probe_all(&uris[..1], &cfg(alice("nope"))).await;
    assert_eq!(bad[0].failed_stage, Some(TurnStage::Allocate));
    assert_eq!(failure_of(&bad[0]), &TurnFailure::WrongCredentials);

    // Certificate for another name, verified with the right CA.
    let mut other = TestTurnServerConfig::new(REALM, "alice", Secret::new(PASSWORD));
    other.cert_names = vec!["turn.example.org".into()];
    let other = TestTurnServer::start(other).await.expect("server starts");
    let mut c2 = cfg(alice(PASSWORD));
    c2.tls.ca_pem = Some(other.ca_pem().as_bytes().to_vec());
    let r = probe_all(
        &[uri(&format!("turns:127.0.0.1:{}", other.tls_addr.port()))],
        &c2,
    )
    .await;
    assert_eq!(r[0].failed_stage, Some(TurnStage::TlsHandshake));
    assert!(
        matches!(failure_of(&r[0]), TurnFailure::TlsNameMismatch { .. }),
        "{r:#?}"
    );
    // ... and --insecure gets past it and relays.
    c2.tls.insecure = true;
    let r = probe_all(
        &[uri(&format!("turns:127.0.0.1:{}", other.tls_addr.port()))],
        &c2,
    )
    .await;
    assert_relays(&r[0]);
}

// ------------------------------------------------------------------ coturn

/// A coturn process on loopback; killed on drop (also when a test panics).
struct Coturn {
    child: Child,
    dir: PathBuf,
    port: u16,
    tls_port: u16,
    ca_pem: String,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free port P where TCP and UDP are free on 127.0.0.1.
fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let p = l.local_addr().expect("bound").port();
        if UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

fn start_coturn(auth_lines: &str, tag: &str) -> Coturn {
    start_coturn_with(auth_lines, "", tag)
}

/// `start_coturn` with extra configuration lines (e.g. `relay-ip=::1`).
fn start_coturn_with(auth_lines: &str, extra_lines: &str, tag: &str) -> Coturn {
    let dir = std::env::temp_dir().join(format!("natscope-coturn-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pki = TestPki::generate(&["localhost", "127.0.0.1"]).expect("certificate");
    std::fs::write(dir.join("cert.pem"), &pki.chain_pem).expect("write cert");
    std::fs::write(dir.join("key.pem"), &pki.key_pem).expect("write key");
    let (port, tls_port) = (free_port(), free_port());
    let conf = format!(
        "listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\nlistening-port={port}\n\
         tls-listening-port={tls_port}\nrealm={REALM}\n{auth_lines}\n{extra_lines}\nfingerprint\n\
         allow-loopback-peers\nno-cli\nno-rfc5780\nno-multicast-peers\n\
         min-port=40000\nmax-port=60000\n\
         cert={d}/cert.pem\npkey={d}/key.pem\npidfile={d}/turn.pid\n\
         log-file={d}/turn.log\nsimple-log\nno-stdout-log\n",
        d = dir.display()
    );
    std::fs::write(dir.join("turnserver.conf"), conf).expect("write config");
    let child = Command::new("/usr/bin/turnserver")
        .arg("-c")
        .arg(dir.join("turnserver.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("coturn (/usr/bin/turnserver) starts");
    let c = Coturn {
        child,
        dir,
        port,
        tls_port,
        ca_pem: pki.ca_pem.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = [port, tls_port].iter().all(|p| {
            TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], *p)),
                Duration::from_millis(200),
            )
            .is_ok()
        });
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "coturn did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Give the UDP/DTLS listeners a moment after TCP is up.
    std::thread::sleep(Duration::from_millis(200));
    c
}

#[tokio::test]
async fn coturn_allocates_and_relays_and_names_failures() {
    let turn = start_coturn(&format!("lt-cred-mech\nuser=alice:{PASSWORD}"), "lt");
    let mut c = cfg(alice(PASSWORD));
    c.tls.ca_pem = Some(turn.ca_pem.as_bytes().to_vec());
    let uris = [
        uri(&format!("turn:127.0.0.1:{}", turn.port)), // UDP + TCP
        uri(&format!("turns:localhost:{}", turn.tls_port)),
        uri(&format!("turns:localhost:{}?transport=udp", turn.tls_port)),
    ];
    let results = tokio::time::timeout(Duration::from_secs(60), probe_all(&uris, &c))
        .await
        .expect("bounded");
    assert_eq!(results.len(), 4, "{results:#?}");
    assert_eq!(results[0].transport, TurnTransport::Udp);
    assert_eq!(results[1].transport, TurnTransport::Tcp);
    assert_eq!(results[2].transport, TurnTransport::Tls);
    assert_eq!(results[3].transport, TurnTransport::Dtls);
    for r in &results {
        assert_relays(r);
        assert!(
            r.software.as_deref().unwrap_or("").contains("Coturn"),
            "{r:#?}"
        );
    }
    // DTLS: coturn's DTLS 1.2 on its TLS port over UDP, certificate
    // verified against the CA, then the same TURN stages inside it.
    let hs = results[3]
        .stage(TurnStage::DtlsHandshake)
        .expect("DTLS handshake stage recorded");
    assert_eq!(hs.status, StageStatus::Passed, "{:#?}", results[3]);
    let note = hs.note.clone().unwrap_or_default();
    // coturn sends leaf + CA; the chain was read off its (plaintext, DTLS
    // 1.2) Certificate message, not just the leaf dimpl reports.
    assert!(
        note.contains("DTLS 1.2")
            && note.contains("certificate verified")
            && note.contains("sent 2 certificate(s)"),
        "{note}"
    );
    assert_no_secrets(&results);

    // No --username/--password: the credentials of an iceServers entry are
    // used as long-term credentials, and never printed.
    let ice = format!(
        r#"[{{"urls": ["turn:127.0.0.1:{}?transport=udp", "turns:localhost:{}"],
            "username": "alice", "credential": "{PASSWORD}"}}]"#,
        turn.port, turn.tls_port
    );
    let ice_uris = parse_ice_servers(&ice, "test").expect("valid iceServers JSON");
    let mut from_json = cfg(None);
    from_json.tls.ca_pem = Some(turn.ca_pem.as_bytes().to_vec());
    let r = probe_all(&ice_uris, &from_json).await;
    assert_eq!(r.len(), 2, "{r:#?}");
    for r in &r {
        assert_relays(r);
    }
    assert_no_secrets(&r);

    // A name that does not resolve fails at the DNS stage, named as such.
    let r = probe_all(&[uri("turn:turn.invalid:3478")], &cfg(alice(PASSWORD))).await;
    for r in &r {
        assert_eq!(r.failed_stage, Some(TurnStage::Dns), "{r:#?}");
    }

    let udp_tcp = uri(&format!("turn:127.0.0.1:{}", turn.port));
    // Wrong password: 401 after authenticating, over both transports.
    let r = probe_all(
        std::slice::from_ref(&udp_tcp),
        &cfg(alice("wrong-password")),
    )
    .await;
    for r in &r {
        assert_eq!(r.failed_stage, Some(TurnStage::Allocate), "{r:#?}");
        assert_eq!(failure_of(r), &TurnFailure::WrongCredentials);
        assert_eq!(
            r.stage(TurnStage::UnauthenticatedAllocate)
                .map(|s| s.status.clone()),
            Some(StageStatus::Passed)
        );
    }
    // Credentials meant for another realm.
    let mut wrong_realm = cfg(alice(PASSWORD));
    wrong_realm.expected_realm = Some("other.example".into());
    let r = probe_all(std::slice::from_ref(&udp_tcp), &wrong_realm).await;
    assert!(
        matches!(failure_of(&r[0]), TurnFailure::RealmMismatch { server, .. } if server == REALM),
        "{r:#?}"
    );
    // Self-signed (private CA) certificate without --ca.
    let r = probe_all(
        &[uri(&format!("turns:localhost:{}", turn.tls_port))],
        &cfg(alice(PASSWORD)),
    )
    .await;
    assert_eq!(r[0].failed_stage, Some(TurnStage::TlsHandshake), "{r:#?}");
    assert_eq!(failure_of(&r[0]), &TurnFailure::TlsUnknownCa);
    // Nothing listening: refused, over UDP (ICMP) and TCP, within the deadline.
    let dead = free_port();
    let started = Instant::now();
    let r = probe_all(
        &[uri(&format!("turn:127.0.0.1:{dead}"))],
        &cfg(alice(PASSWORD)),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(30));
    for r in &r {
        assert_eq!(failure_of(r), &TurnFailure::ConnectionRefused, "{r:#?}");
    }
    assert_eq!(r[1].failed_stage, Some(TurnStage::TcpConnect));
}

#[tokio::test]
async fn coturn_rest_credentials_valid_and_expired() {
    let turn = start_coturn(
        &format!("use-auth-secret\nstatic-auth-secret={SECRET}"),
        "rest",
    );
    let u = uri(&format!("turn:127.0.0.1:{}?transport=udp", turn.port));
    let rest = |ttl_secs| {
        Some(TurnAuth::Rest {
            secret: Secret::new(SECRET),
            user: Some("alice".into()),
            ttl_secs,
        })
    };
    let ok = probe_all(std::slice::from_ref(&u), &cfg(rest(600))).await;
    assert_relays(&ok[0]);
    let expired = probe_all(std::slice::from_ref(&u), &cfg(rest(-600))).await;
    assert_eq!(expired[0].failed_stage, Some(TurnStage::Allocate));
    assert!(
        matches!(
            failure_of(&expired[0]),
            TurnFailure::RestCredentialExpired { .. }
        ),
        "{expired:#?}"
    );
    let wrong_secret = Some(TurnAuth::Rest {
        secret: Secret::new("not-the-secret"),
        user: None,
        ttl_secs: 600,
    });
    let r = probe_all(std::slice::from_ref(&u), &cfg(wrong_secret)).await;
    assert_eq!(failure_of(&r[0]), &TurnFailure::RestCredentialRejected);
    let mut all = ok;
    all.extend(expired);
    all.extend(r);
    assert_no_secrets(&all);
}

#[tokio::test]
async fn coturn_dtls_names_certificate_and_reachability_failures() {
    let turn = start_coturn(&format!("lt-cred-mech\nuser=alice:{PASSWORD}"), "dtls");
    let dtls = uri(&format!("turns:localhost:{}?transport=udp", turn.tls_port));
    let handshake = |r: &TurnTransportResult| {
        r.stage(TurnStage::DtlsHandshake)
            .map(|s| s.status.clone())
            .unwrap_or_else(|| panic!("no DTLS handshake stage: {r:#?}"))
    };

    // Private CA not given: the certificate problem is named, and no TURN
    // stage ran over an unverified association.
    let r = probe_all(std::slice::from_ref(&dtls), &cfg(alice(PASSWORD))).await;
    assert_eq!(r[0].transport, TurnTransport::Dtls);
    assert_eq!(r[0].failed_stage, Some(TurnStage::DtlsHandshake), "{r:#?}");
    assert_eq!(failure_of(&r[0]), &TurnFailure::TlsUnknownCa);
    assert!(r[0].stage(TurnStage::Allocate).is_none(), "{r:#?}");

    // A different CA key under the same CA name (every TestPki CA is
    // "natscope test CA"): the chain coturn sends is checked by signature,
    // not by name, and rejected.
    let mut other_ca = cfg(alice(PASSWORD));
    let stranger = TestPki::generate(&["localhost"]).expect("certificate");
    other_ca.tls.ca_pem = Some(stranger.ca_pem.as_bytes().to_vec());
    let r = probe_all(std::slice::from_ref(&dtls), &other_ca).await;
    assert_eq!(r[0].failed_stage, Some(TurnStage::DtlsHandshake), "{r:#?}");
    assert!(
        matches!(failure_of(&r[0]), TurnFailure::TlsOther { detail } if detail.contains("BadSignature")),
        "{r:#?}"
    );

    // --insecure gets past the unknown CA and relays, and says so.
    let mut insecure = cfg(alice(PASSWORD));
    insecure.tls.insecure = true;
    let r = probe_all(std::slice::from_ref(&dtls), &insecure).await;
    assert_relays(&r[0]);
    assert_eq!(handshake(&r[0]), StageStatus::Passed);
    let note = r[0]
        .stage(TurnStage::DtlsHandshake)
        .and_then(|s| s.note.clone())
        .unwrap_or_default();
    assert!(note.contains("NOT verified"), "{note}");
    assert_no_secrets(&r);

    // A UDP port that swallows everything: the handshake times out, named
    // at the DTLS stage, within the stage deadline.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    let port = silent.local_addr().expect("bound").port();
    let r = probe_all(
        &[uri(&format!("turns:127.0.0.1:{port}?transport=udp"))],
        &cfg(alice(PASSWORD)),
    )
    .await;
    assert_eq!(r[0].failed_stage, Some(TurnStage::DtlsHandshake), "{r:#?}");
    assert_eq!(
        failure_of(&r[0]),
        &TurnFailure::Timeout { after_ms: 3000 },
        "{r:#?}"
    );
    drop(silent);

    // Nothing bound at all: loopback answers ICMP port unreachable, which
    // the connected socket reports as refused, at the DTLS stage.
    let dead = free_port();
    let r = probe_all(
        &[uri(&format!("turns:127.0.0.1:{dead}?transport=udp"))],
        &cfg(alice(PASSWORD)),
    )
    .await;
    assert_eq!(r[0].failed_stage, Some(TurnStage::DtlsHandshake), "{r:#?}");
    assert_eq!(failure_of(&r[0]), &TurnFailure::ConnectionRefused, "{r:#?}");
}

/// The additive `allocate_ipv6` stage over UDP, TCP, TLS and DTLS: a coturn
/// with an IPv6 relay address (`relay-ip=::1` next to `relay-ip=127.0.0.1`)
/// grants a `::1` relayed address; a coturn with only an IPv4 relay address
/// answers 440, named `address_family_not_supported`. Either way the IPv4
/// stages, `ok` and `failure` are untouched.
#[tokio::test]
async fn coturn_ipv6_relay_allocation_passes_or_names_440() {
    let lt = format!("lt-cred-mech\nuser=alice:{PASSWORD}");
    let dual = start_coturn_with(&lt, "relay-ip=::1", "dual-relay");
    let v4 = start_coturn(&lt, "v4-relay");
    let uris = |t: &Coturn| {
        [
            uri(&format!("turn:127.0.0.1:{}", t.port)), // UDP + TCP
            uri(&format!("turns:localhost:{}", t.tls_port)),
            uri(&format!("turns:localhost:{}?transport=udp", t.tls_port)),
        ]
    };
    let config = |t: &Coturn| {
        let mut c = cfg(alice(PASSWORD));
        c.quality = None;
        c.tls.ca_pem = Some(t.ca_pem.as_bytes().to_vec());
        c
    };
    let (dual_uris, dual_cfg) = (uris(&dual), config(&dual));
    let (v4_uris, v4_cfg) = (uris(&v4), config(&v4));
    let (with_v6, without_v6) = tokio::time::timeout(Duration::from_secs(90), async {
        tokio::join!(
            probe_all(&dual_uris, &dual_cfg),
            probe_all(&v4_uris, &v4_cfg)
        )
    })
    .await
    .expect("bounded");
    assert_eq!(with_v6.len(), 4, "{with_v6:#?}");
    assert_eq!(without_v6.len(), 4, "{without_v6:#?}");
    for r in with_v6.iter().chain(&without_v6) {
        // The IPv4 allocation and relay are unaffected.
        assert!(
            r.ok && r.failure.is_none() && r.failed_stage.is_none(),
            "{r:#?}"
        );
        assert!(r.relayed_address.is_some_and(|a| a.is_ipv4()), "{r:#?}");
        for st in [
            TurnStage::Allocate,
            TurnStage::ChannelRoundTrip,
            TurnStage::Deallocate,
        ] {
            assert_eq!(
                r.stage(st).map(|s| &s.status),
                Some(&StageStatus::Passed),
                "{st:?}: {r:#?}"
            );
        }
    }
    for r in &with_v6 {
        let st = r
            .stage(TurnStage::AllocateIpv6)
            .unwrap_or_else(|| panic!("allocate_ipv6 missing: {r:#?}"));
        assert_eq!(st.status, StageStatus::Passed, "{} {r:#?}", r.transport);
        let relayed = r.relayed_address_ipv6.expect("IPv6 relayed address");
        assert_eq!(
            relayed.ip(),
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            "{r:#?}"
        );
        assert!(
            st.note
                .as_deref()
                .unwrap_or("")
                .contains(&relayed.to_string())
        );
    }
    for r in &without_v6 {
        let st = r
            .stage(TurnStage::AllocateIpv6)
            .unwrap_or_else(|| panic!("allocate_ipv6 missing: {r:#?}"));
        assert_eq!(st.status, StageStatus::Failed, "{} {r:#?}", r.transport);
        assert_eq!(
            st.error,
            Some(TurnFailure::AddressFamilyNotSupported),
            "{} {r:#?}",
            r.transport
        );
        assert_eq!(r.relayed_address_ipv6, None);
    }
    // RFC 6062 TCP allocation (additive): Connect + ConnectionBind + echo
    // over turn: TCP and turns: TLS; not tested over UDP and DTLS.
    for r in with_v6.iter().chain(&without_v6) {
        let st = r
            .stage(TurnStage::TcpAllocation)
            .unwrap_or_else(|| panic!("tcp_allocation missing: {r:#?}"));
        match r.transport {
            TurnTransport::Tcp | TurnTransport::Tls => {
                assert_eq!(st.status, StageStatus::Passed, "{} {r:#?}", r.transport);
                assert!(
                    st.note.as_deref().unwrap_or("").contains("bytes echoed"),
                    "{r:#?}"
                );
            }
            TurnTransport::Udp | TurnTransport::Dtls => {
                assert_eq!(st.status, StageStatus::NotTested, "{r:#?}")
            }
        }
    }
    let json = serde_json::to_value(&with_v6).expect("serializes");
    assert!(json.to_string().contains("\"allocate_ipv6\""));
    assert_no_secrets(&with_v6);
}

/// Without credentials nothing is allocated, so `allocate_ipv6` is not tested.
#[tokio::test]
async fn coturn_ipv6_stage_not_tested_without_allocation() {
    let turn = start_coturn_with(
        &format!("lt-cred-mech\nuser=alice:{PASSWORD}"),
        "relay-ip=::1",
        "v6-noauth",
    );
    let uris = [uri(&format!("turn:127.0.0.1:{}?transport=udp", turn.port))];
    let wrong = cfg(alice("not-the-password"));
    let results = tokio::time::timeout(Duration::from_secs(30), probe_all(&uris, &wrong))
        .await
        .expect("bounded");
    let r = &results[0];
    assert_eq!(r.failed_stage, Some(TurnStage::Allocate), "{r:#?}");
    assert_eq!(
        r.stage(TurnStage::AllocateIpv6).map(|s| &s.status),
        Some(&StageStatus::NotTested),
        "{r:#?}"
    );
}

/// A coturn with `no-tcp-relay` refuses RFC 6062 TCP allocations (442
/// Unsupported Transport Protocol): `tcp_allocation` fails with that code
/// while the UDP-relay stages, `ok` and `failure` are untouched.
#[tokio::test]
async fn coturn_without_tcp_relay_fails_only_the_tcp_allocation_stage() {
    let turn = start_coturn_with(
        &format!("lt-cred-mech\nuser=alice:{PASSWORD}"),
        "no-tcp-relay",
        "no-tcp-relay",
    );
    let uris = [uri(&format!("turn:127.0.0.1:{}?transport=tcp", turn.port))];
    let mut c = cfg(alice(PASSWORD));
    c.quality = None;
    let results = tokio::time::timeout(Duration::from_secs(30), probe_all(&uris, &c))
        .await
        .expect("bounded");
    let r = &results[0];
    assert!(r.ok && r.failure.is_none(), "{r:#?}");
    let st = r
        .stage(TurnStage::TcpAllocation)
        .unwrap_or_else(|| panic!("tcp_allocation missing: {r:#?}"));
    assert_eq!(st.status, StageStatus::Failed, "{r:#?}");
    assert!(
        matches!(st.error, Some(TurnFailure::ServerError { code: 442, .. })),
        "{r:#?}"
    );
}
