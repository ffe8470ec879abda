//! TURN diagnostics against the embedded TURN server and a real coturn, on
//! loopback only. (Long by design: one test per named TURN failure, each
//! provoked against a real server.)

use lab::{CoturnOptions, LoopbackCoturn};
use model::Secret;
use model::servers::{ServerUri, parse_ice_servers};
use model::turn::{StageStatus, TurnFailure, TurnStage, TurnTransport, TurnTransportResult};
use probe::resolve::Resolver;
use probe::stun::binding::{
    BindingOptions, BindingTarget, Transport as BindingTransport, query_all,
};
use probe::turn::HeldAllocation;
use probe::turn::{QualityConfig, TlsOptions, TurnAuth, TurnProbeConfig, probe_all};
use servers::pki::{CertValidity, Pki};
use servers::turn::{TurnFaults, TurnServer, TurnServerConfig};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
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
        // These tests name `localhost` for its TLS certificate name; the
        // servers listen on 127.0.0.1 only, so its ::1 is left out here
        // (`localhost_is_probed_on_both_families` covers both).
        ipv4: true,
        ipv6: false,
    }
}

/// A resolver whose only name server is a closed loopback port: `localhost`
/// is answered locally (RFC 6761), and nothing leaves the machine.
fn loopback_resolver() -> Resolver {
    Resolver::with_nameservers(vec![SocketAddr::from((
        [127, 0, 0, 1],
        crate::support::dead_port(),
    ))])
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
    for st in TurnStage::MAIN {
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
    let note = note_of(r, TurnStage::Refresh);
    assert!(note.contains("s granted"), "{note}: {r:#?}");
    // The DNS stage ran for names and was skipped for IP literals.
    let dns = r.stage(TurnStage::Dns).expect("dns stage recorded");
    if r.uri.contains("localhost") {
        assert_eq!(dns.status, StageStatus::Passed, "{r:#?}");
    } else {
        assert_eq!(dns.status, StageStatus::NotTested, "{r:#?}");
    }
}

/// [`probe_all`], bounded so that a test can never hang.
async fn probe_bounded(uris: &[ServerUri], c: &TurnProbeConfig) -> Vec<TurnTransportResult> {
    tokio::time::timeout(Duration::from_secs(60), probe_all(uris, c))
        .await
        .expect("probe is bounded")
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

/// The note of stage `st` ("" when there is none).
fn note_of(r: &TurnTransportResult, st: TurnStage) -> String {
    r.stage(st).and_then(|s| s.note.clone()).unwrap_or_default()
}

/// Stage `st` of `r` was recorded with status `want`.
fn assert_status(r: &TurnTransportResult, st: TurnStage, want: StageStatus) {
    assert_eq!(
        r.stage(st).map(|s| &s.status),
        Some(&want),
        "{st:?}: {r:#?}"
    );
}

// ------------------------------------------------------------------ embedded

/// The embedded server's configuration for alice (realm [`REALM`]).
fn alice_server() -> TurnServerConfig {
    TurnServerConfig::new(REALM, "alice", Secret::new(PASSWORD))
}

/// `turn:` URIs of the embedded server's UDP and TCP listeners.
fn udp_tcp_uris(server: &TurnServer) -> [ServerUri; 2] {
    [
        uri(&format!(
            "turn:127.0.0.1:{}?transport=udp",
            server.udp_addr.port()
        )),
        uri(&format!(
            "turn:127.0.0.1:{}?transport=tcp",
            server.tcp_addr.port()
        )),
    ]
}

#[tokio::test]
async fn embedded_server_allocates_and_relays_over_udp_tcp_tls() {
    let server = TurnServer::start(alice_server())
        .await
        .expect("embedded server starts");
    let mut c = cfg(alice(PASSWORD));
    c.tls.ca_pem = Some(server.ca_pem().as_bytes().to_vec());
    let [udp, tcp] = udp_tcp_uris(&server);
    let tls = uri(&format!("turns:localhost:{}", server.tls_addr.port()));
    let uris = [udp, tcp, tls];
    let results = probe_bounded(&uris, &c).await;
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
    let mut other = alice_server();
    other.cert_names = vec!["turn.example.org".into()];
    let other = TurnServer::start(other).await.expect("server starts");
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

/// The embedded server answers STUN Binding requests itself
/// (turn-server-proto 0.7.3 alone sends its answer to the server's own
/// address, so nothing comes back): the Binding probe
/// (`probe::stun::binding`, on the one transaction layer) against its UDP
/// and TCP listeners gets XOR-MAPPED-ADDRESS = the probe's own socket, from
/// the listener it asked, and no OTHER-ADDRESS (it is no RFC 5780 server).
/// TURN on the same listeners still relays afterwards.
#[tokio::test]
async fn embedded_server_answers_binding_over_udp_and_tcp() {
    let server = TurnServer::start(alice_server())
        .await
        .expect("embedded server starts");
    let targets = [
        BindingTarget {
            label: "embedded turn udp".into(),
            addr: server.udp_addr,
            transport: BindingTransport::Udp,
        },
        BindingTarget {
            label: "embedded turn tcp".into(),
            addr: server.tcp_addr,
            transport: BindingTransport::Tcp,
        },
    ];
    let opts = BindingOptions {
        binds: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        timeout: Duration::from_secs(10),
        ..BindingOptions::default()
    };
    let results = query_all(&targets, &opts).await;
    assert_eq!(results.len(), 2);
    for r in &results {
        let info = match &r.outcome {
            Ok(info) => info,
            Err(e) => panic!("{}: {e}", r.target.label),
        };
        let local = r.local.expect("the probe's local address");
        assert_eq!(info.mapped, local, "{r:#?}");
        assert!(info.xor && !info.mapped_mismatch, "{r:#?}");
        assert_eq!(info.from, r.target.addr, "{r:#?}");
        assert_eq!(info.other_address, None, "{r:#?}");
    }

    let uris = udp_tcp_uris(&server);
    let c = cfg(alice(PASSWORD));
    let relayed = probe_bounded(&uris, &c).await;
    for r in &relayed {
        assert_relays(r);
    }
}

// ------------------------------------------------------------------ coturn

/// How a test coturn authenticates.
#[derive(Clone, Copy)]
enum Auth {
    /// `lt-cred-mech`, user alice with PASSWORD.
    LongTerm,
    /// TURN REST API: `use-auth-secret` with SECRET.
    Rest,
}

/// The shared loopback coturn (`lab::LoopbackCoturn`: own config,
/// free ports, killed on drop also when a test panics), serving a Pki
/// chain (leaf + private CA) on TLS/DTLS.
struct Coturn {
    server: LoopbackCoturn,
    port: u16,
    tls_port: u16,
    ca_pem: String,
}

impl Coturn {
    /// STUN/TURN over UDP and TCP.
    fn addr(&self) -> SocketAddr {
        SocketAddr::V4(self.server.primary)
    }
}

fn start_coturn(auth: Auth, extra: &[&str]) -> Coturn {
    let pki = Pki::generate(&["localhost", "127.0.0.1"]).expect("certificate");
    start_coturn_on(auth, extra, pki, None)
}

/// A coturn with extra configuration lines (e.g. `relay-ip=::1`), serving
/// `pki`, on `ports` (from `LoopbackCoturn::pick_ports`) or free ones.
fn start_coturn_on(auth: Auth, extra: &[&str], pki: Pki, ports: Option<(u16, u16)>) -> Coturn {
    let mut opts = CoturnOptions {
        user: "alice".into(),
        password: PASSWORD.into(),
        realm: REALM.into(),
        extra_config: extra.iter().map(|l| l.to_string()).collect(),
        ready_timeout: Duration::from_secs(10),
        ..CoturnOptions::default()
    };
    if let Auth::Rest = auth {
        opts.rest_secret = Some(SECRET.into());
    }
    let ca_pem = pki.ca_pem.clone();
    opts.tls_pki = Some(pki);
    let server = match ports {
        Some(p) => LoopbackCoturn::start_with_ports(&opts, false, p),
        None => LoopbackCoturn::start(&opts, false),
    }
    .expect("coturn (turnserver) starts on loopback");
    Coturn {
        port: server.primary.port(),
        tls_port: server.tls.port(),
        server,
        ca_pem,
    }
}

#[tokio::test]
async fn coturn_allocates_and_relays_and_names_failures() {
    let turn = start_coturn(Auth::LongTerm, &[]);
    let mut c = cfg(alice(PASSWORD));
    c.tls.ca_pem = Some(turn.ca_pem.as_bytes().to_vec());
    let uris = [
        uri(&format!("turn:127.0.0.1:{}", turn.port)), // UDP + TCP
        uri(&format!("turns:localhost:{}", turn.tls_port)),
        uri(&format!("turns:localhost:{}?transport=udp", turn.tls_port)),
    ];
    let results = probe_bounded(&uris, &c).await;
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
    // TLS and DTLS record the certificate's notAfter (the watch's expiry
    // series); plain transports have none.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    for r in &results[2..] {
        let at = r.certificate_not_after.expect("a certificate expiry");
        assert!(u64::try_from(at).is_ok_and(|at| at > now), "{r:#?}");
    }
    assert!(
        results[..2]
            .iter()
            .all(|r| r.certificate_not_after.is_none())
    );
    // DTLS: coturn's DTLS 1.2 on its TLS port over UDP, certificate
    // verified against the CA, then the same TURN stages inside it.
    let hs = results[3]
        .stage(TurnStage::DtlsHandshake)
        .expect("DTLS handshake stage recorded");
    assert_eq!(hs.status, StageStatus::Passed, "{:#?}", results[3]);
    let note = hs.note.clone().unwrap_or_default();
    // coturn sends leaf + CA; the chain was read off its (plaintext, DTLS
    // 1.2) Certificate message.
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
    let dead = crate::support::dead_port();
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
    let turn = start_coturn(Auth::Rest, &[]);
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
    let turn = start_coturn(Auth::LongTerm, &[]);
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

    // A different CA key under the same CA name (every Pki CA is
    // "natscope test CA"): the chain coturn sends is checked by signature,
    // not by name, and rejected.
    let mut other_ca = cfg(alice(PASSWORD));
    let stranger = Pki::generate(&["localhost"]).expect("certificate");
    other_ca.tls.ca_pem = Some(stranger.ca_pem.as_bytes().to_vec());
    let r = probe_all(std::slice::from_ref(&dtls), &other_ca).await;
    assert_eq!(r[0].failed_stage, Some(TurnStage::DtlsHandshake), "{r:#?}");
    assert!(
        matches!(failure_of(&r[0]), TurnFailure::TlsOther { detail } if detail.contains("signature does not verify")),
        "{r:#?}"
    );

    // --insecure gets past the unknown CA and relays, and says so.
    let mut insecure = cfg(alice(PASSWORD));
    insecure.tls.insecure = true;
    let r = probe_all(std::slice::from_ref(&dtls), &insecure).await;
    assert_relays(&r[0]);
    assert_eq!(handshake(&r[0]), StageStatus::Passed);
    let note = note_of(&r[0], TurnStage::DtlsHandshake);
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
    let dead = crate::support::dead_port();
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
    let dual = start_coturn(Auth::LongTerm, &["relay-ip=::1"]);
    let v4 = start_coturn(Auth::LongTerm, &[]);
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
            assert_status(r, st, StageStatus::Passed);
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
    assert!(json.to_string().contains("\"allocate-ipv6\""));
    assert_no_secrets(&with_v6);
}

/// Without credentials nothing is allocated, so `allocate_ipv6` is not tested.
#[tokio::test]
async fn coturn_ipv6_stage_not_tested_without_allocation() {
    let turn = start_coturn(Auth::LongTerm, &["relay-ip=::1"]);
    let uris = [uri(&format!("turn:127.0.0.1:{}?transport=udp", turn.port))];
    let wrong = cfg(alice("not-the-password"));
    let results = probe_bounded(&uris, &wrong).await;
    let r = &results[0];
    assert_eq!(r.failed_stage, Some(TurnStage::Allocate), "{r:#?}");
    assert_status(r, TurnStage::AllocateIpv6, StageStatus::NotTested);
}

/// A coturn with `no-tcp-relay` refuses RFC 6062 TCP allocations (442
/// Unsupported Transport Protocol): `tcp_allocation` fails with that code
/// while the UDP-relay stages, `ok` and `failure` are untouched.
#[tokio::test]
async fn coturn_without_tcp_relay_fails_only_the_tcp_allocation_stage() {
    let turn = start_coturn(Auth::LongTerm, &["no-tcp-relay"]);
    let uris = [uri(&format!("turn:127.0.0.1:{}?transport=tcp", turn.port))];
    let mut c = cfg(alice(PASSWORD));
    c.quality = None;
    let results = probe_bounded(&uris, &c).await;
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

// ------------------------------------------------- named server answers

/// The main stages after `failed` were not run.
fn assert_rest_not_tested(r: &TurnTransportResult, failed: TurnStage) {
    for st in [
        TurnStage::Allocate,
        TurnStage::CreatePermission,
        TurnStage::DataRoundTrip,
        TurnStage::ChannelBind,
        TurnStage::ChannelRoundTrip,
        TurnStage::Refresh,
        TurnStage::Quality,
    ] {
        if st as u8 > failed as u8 {
            assert_status(r, st, StageStatus::NotTested);
        }
    }
    assert!(!r.ok, "{r:#?}");
}

/// What probing one embedded server with injected faults gave.
struct FaultRun {
    /// The UDP result, then the TCP one.
    results: Vec<TurnTransportResult>,
    /// The faults the server injected, counted after the probes.
    faults_injected: u32,
}

/// Starts the embedded server with `faults` and probes it over UDP and TCP,
/// bounded. The faults are counted after a round trip with the UDP listener
/// ([`udp_barrier`]), so that the server has handled anything the probe sent
/// (one request too many would be counted).
async fn probe_with_faults(faults: TurnFaults) -> FaultRun {
    let mut sc = alice_server();
    sc.faults = faults;
    let server = TurnServer::start(sc).await.expect("embedded server starts");
    let uris = udp_tcp_uris(&server);
    let c = cfg(alice(PASSWORD));
    let results = probe_bounded(&uris, &c).await;
    assert_eq!(results.len(), 2, "{results:#?}");
    udp_barrier(server.udp_addr).await;
    FaultRun {
        results,
        faults_injected: server.faults_injected(),
    }
}

/// Probes two embedded servers at once ([`probe_with_faults`]): one whose
/// fault `knob` is 1, and one where it is `again`.
async fn probe_once_and_again(
    knob: fn(&mut TurnFaults) -> &mut u32,
    again: u32,
) -> (FaultRun, FaultRun) {
    let faults = |n| {
        let mut f = TurnFaults::default();
        *knob(&mut f) = n;
        f
    };
    tokio::join!(
        probe_with_faults(faults(1)),
        probe_with_faults(faults(again))
    )
}

/// A run against a server whose knob gave one 438 per listener at `stage`:
/// both probes relayed (every stage passed), the 438 was retried once,
/// noted at `stage` and in `stale_nonce_retried`, with no stale nonce noted
/// on the stages `clean`; the server gave exactly one 438 per listener
/// (UDP, TCP).
fn assert_retried_once_at(run: &FaultRun, stage: TurnStage, clean: &[TurnStage]) {
    for r in &run.results {
        assert_relays(r);
        assert!(r.stale_nonce_retried, "{r:#?}");
        assert!(
            note_of(r, stage).contains("stale nonce (438), retried once"),
            "{stage:?}: {r:#?}"
        );
        for &st in clean {
            assert!(!note_of(r, st).contains("stale nonce"), "{st:?}: {r:#?}");
        }
    }
    assert_eq!(run.faults_injected, 2, "{:#?}", run.results);
    assert_no_secrets(&run.results);
}

/// A run against a server whose knob answers 438 at `stage` at least twice
/// in a row: both probes failed there, named `stale_nonce` after their one
/// retry, with the stages `passed` passed; the server gave exactly two 438s
/// per listener (the first request and its one retry: a third would have
/// been counted).
fn assert_named_after_one_retry_at(run: &FaultRun, stage: TurnStage, passed: &[TurnStage]) {
    for r in &run.results {
        assert_eq!(r.failed_stage, Some(stage), "{r:#?}");
        assert_eq!(failure_of(r), &TurnFailure::StaleNonce, "{r:#?}");
        assert!(r.stale_nonce_retried, "{r:#?}");
        assert!(!r.ok, "{r:#?}");
        for &st in passed {
            assert_status(r, st, StageStatus::Passed);
        }
    }
    assert_eq!(run.faults_injected, 4, "{:#?}", run.results);
}

/// `stale_nonce_retried: true` reaches the JSON report.
fn assert_retried_in_json(run: &FaultRun) {
    let json = serde_json::to_value(&run.results).expect("serializes");
    assert_eq!(json[0]["stale_nonce_retried"], serde_json::json!(true));
}

/// 438 Stale Nonce to the authenticated Allocate (the embedded server's
/// fault knob: its nonce lifetime runs out right then, so it answers 438
/// with a fresh NONCE). Once: natscope retries once with the new nonce, the
/// allocation and relay work, and the report says a stale nonce was
/// retried. Twice in a row: named `stale_nonce` at `allocate`, and the
/// server saw exactly two authenticated Allocates per transport: one retry,
/// then natscope stops. coturn cannot be made to do this on cue: its `stale-nonce=N`
/// expires nonces after N seconds, which never falls between a 401 and the
/// Allocate sent right after it.
#[tokio::test]
async fn embedded_stale_nonce_is_retried_once_then_named() {
    let (once, always) = probe_once_and_again(|f| &mut f.stale_nonce_allocates, 5).await;
    assert_retried_once_at(&once, TurnStage::Allocate, &[]);
    assert_retried_in_json(&once);
    let unauthenticated = [TurnStage::UnauthenticatedAllocate];
    assert_named_after_one_retry_at(&always, TurnStage::Allocate, &unauthenticated);
    for r in &always.results {
        assert_rest_not_tested(r, TurnStage::Allocate);
    }
}

/// 438 Stale Nonce to the Refresh (the embedded server's
/// `stale_nonce_refreshes` knob), over UDP and TCP. Once: the `refresh`
/// stage retries once with the server's new nonce and passes, its note and
/// `stale_nonce_retried` say so, `allocate` saw no 438, and the server gave
/// exactly one 438 per listener. Then `deallocate` passes: the deleting
/// Refresh (turn-client-proto's own request) carries the nonce of that 438
/// answer, so `deallocate` sees no 438 (with the expired nonce the server
/// would answer 438 and `deallocate` would note a retry). Twice in a row: `stale_nonce` at `refresh`
/// (the retry was not retried again), and `deallocate` still passes with
/// the newest nonce.
#[tokio::test]
async fn embedded_stale_nonce_on_refresh_is_retried_then_deallocate_passes() {
    let (once, twice) = probe_once_and_again(|f| &mut f.stale_nonce_refreshes, 2).await;
    let clean = [TurnStage::Allocate, TurnStage::Deallocate];
    assert_retried_once_at(&once, TurnStage::Refresh, &clean);
    let passed = [
        TurnStage::Allocate,
        TurnStage::ChannelRoundTrip,
        TurnStage::Deallocate,
    ];
    assert_named_after_one_retry_at(&twice, TurnStage::Refresh, &passed);
}

/// 438 Stale Nonce to the deleting Refresh (LIFETIME 0; the embedded
/// server's `stale_nonce_deletes` knob, which leaves the `refresh` stage's
/// Refresh alone), over UDP and TCP. turn-client-proto forgets the
/// allocation as soon as it sends that request, so natscope builds the
/// retry itself. Once: `deallocate` retries once with the server's new
/// nonce and passes (every stage passes), its note and
/// `stale_nonce_retried` say so, `allocate` and `refresh` saw no 438, one
/// 438 per listener. Twice in a row: `stale_nonce` at `deallocate` (the
/// retry was not retried again: a third deleting Refresh would have been
/// answered with success), every earlier stage passed, and exactly the
/// deleting Refresh and its one retry were answered 438 per listener.
#[tokio::test]
async fn embedded_stale_nonce_on_deallocate_is_retried_once_then_named() {
    let (once, twice) = probe_once_and_again(|f| &mut f.stale_nonce_deletes, 2).await;
    let clean = [TurnStage::Allocate, TurnStage::Refresh];
    assert_retried_once_at(&once, TurnStage::Deallocate, &clean);
    assert_retried_in_json(&once);
    let passed = [
        TurnStage::Allocate,
        TurnStage::ChannelRoundTrip,
        TurnStage::Refresh,
        TurnStage::Quality,
    ];
    assert_named_after_one_retry_at(&twice, TurnStage::Deallocate, &passed);
    assert_no_secrets(&twice.results);
}

/// A held allocation's release meets the same 438 to its deleting Refresh
/// (`stale_nonce_deletes`): it retries once with the new nonce like the
/// `deallocate` stage, and the server confirms the deletion. Twice in a
/// row: not confirmed (the retry was not retried again).
#[tokio::test]
async fn held_allocation_release_retries_one_stale_nonce() {
    for (n, confirmed) in [(1, true), (2, false)] {
        let mut sc = alice_server();
        sc.faults = TurnFaults {
            stale_nonce_deletes: n,
            ..TurnFaults::default()
        };
        let server = TurnServer::start(sc).await.expect("embedded server starts");
        let auth = alice(PASSWORD).expect("credentials");
        let held = HeldAllocation::udp(server.udp_addr, &auth, Duration::from_secs(5))
            .await
            .expect("allocates");
        assert_eq!(held.release(Duration::from_secs(3)).await, confirmed, "{n}");
        udp_barrier(server.udp_addr).await;
        assert_eq!(server.faults_injected(), n, "the delete and its one retry");
    }
}

/// A request/answer round trip with the UDP listener at `server` (an
/// Allocate without credentials, answered 401 by turn-server-proto behind
/// the same queue as every other TURN request; a Binding request would be
/// answered before that queue): once it is answered, the server has
/// handled every datagram sent to it before.
async fn udp_barrier(server: SocketAddr) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    // Allocate request (0x0003) with REQUESTED-TRANSPORT UDP, no credentials.
    let mut req = vec![0x00, 0x03, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
    req.extend_from_slice(b"natscope-bar");
    req.extend_from_slice(&[0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0]);
    let mut buf = [0u8; 1500];
    for _ in 0..10 {
        sock.send_to(&req, server).await.expect("send to loopback");
        let answer =
            tokio::time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await;
        if let Ok(Ok((n, _))) = answer
            && n >= 20
            && buf[8..20] == req[8..20]
        {
            return;
        }
    }
    panic!("no answer from {server}");
}

/// coturn `user-quota=1` with one allocation of alice's already held: the
/// Allocate is answered 486, named `allocation_quota` (not a generic server
/// error) over UDP and TCP. Once the held allocation is deleted, the same
/// probe allocates, so it was the quota.
#[tokio::test]
async fn coturn_user_quota_is_named_allocation_quota() {
    let turn = start_coturn(Auth::LongTerm, &["user-quota=1"]);
    let auth = alice(PASSWORD).expect("credentials");
    let held = HeldAllocation::udp(turn.addr(), &auth, Duration::from_secs(5))
        .await
        .expect("the first allocation fits the quota");
    let r = assert_allocate_refused_while_held(&turn, held, TurnFailure::AllocationQuota).await;
    let json = serde_json::to_string(&r).expect("serializes");
    assert!(json.contains("\"kind\":\"allocation-quota\""), "{json}");
}

/// Probes `turn` over UDP and TCP (no quality burst) while `held` takes
/// what an allocation needs: both fail at `allocate`, named `failure`, with
/// nothing after it run. Then `held` is released (the server confirms) and
/// the same probe allocates, so it was `held` that was in the way. Returns the
/// failed results.
async fn assert_allocate_refused_while_held(
    turn: &Coturn,
    held: HeldAllocation,
    failure: TurnFailure,
) -> Vec<TurnTransportResult> {
    let udp_tcp = [uri(&format!("turn:127.0.0.1:{}", turn.port))];
    let mut c = cfg(alice(PASSWORD));
    c.quality = None;
    let results = probe_bounded(&udp_tcp, &c).await;
    assert_eq!(results.len(), 2);
    for r in &results {
        assert_eq!(r.failed_stage, Some(TurnStage::Allocate), "{r:#?}");
        assert_eq!(failure_of(r), &failure, "{r:#?}");
        assert_rest_not_tested(r, TurnStage::Allocate);
    }
    assert!(held.release(Duration::from_secs(3)).await, "deleted");
    allocates_once_freed(turn, &c).await;
    results
}

/// After a held allocation is deleted, coturn frees its quota slot and
/// relay port a moment later (on its own timer): probes over UDP until one
/// allocates, bounded by a deadline. (Only allocates: with room for one
/// allocation, the data test's second allocation does not fit, and
/// relaying is left untested; see
/// `a_quota_of_one_leaves_relaying_untested_not_failed`.)
async fn allocates_once_freed(turn: &Coturn, c: &TurnProbeConfig) {
    let udp_only = uri(&format!("turn:127.0.0.1:{}?transport=udp", turn.port));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = probe_all(std::slice::from_ref(&udp_only), c).await;
        if r[0]
            .stage(TurnStage::Allocate)
            .is_some_and(|s| s.status == StageStatus::Passed)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still failing after the held allocation was deleted: {r:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// coturn whose relay port range is one port (`min-port=max-port=P`),
/// already taken by an allocation the test holds: the Allocate is answered
/// 508, named `insufficient_capacity` over UDP and TCP. Once the held
/// allocation is deleted, the same probe relays.
#[tokio::test]
async fn coturn_without_relay_ports_is_named_insufficient_capacity() {
    let p = {
        let free = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        free.local_addr().expect("bound").port()
    };
    let (min, max) = (format!("min-port={p}"), format!("max-port={p}"));
    let turn = start_coturn(Auth::LongTerm, &[&min, &max]);
    let auth = alice(PASSWORD).expect("credentials");
    let held = HeldAllocation::udp(turn.addr(), &auth, Duration::from_secs(5))
        .await
        .expect("the one relay port is free");
    assert_eq!(held.relayed_address().port(), p, "{held:?}");
    assert_allocate_refused_while_held(&turn, held, TurnFailure::InsufficientCapacity).await;
}

/// coturn `denied-peer-ip` covering the echo peer natscope opens on
/// 127.0.0.1: the allocation works, CreatePermission is answered 403 and
/// named `forbidden_peer` ("forbidden peer address") at
/// `create_permission`; the relay stages are not run and the allocation is
/// still deleted.
#[tokio::test]
async fn coturn_denied_peer_is_named_forbidden_peer_at_permission() {
    let turn = start_coturn(Auth::LongTerm, &["denied-peer-ip=127.0.0.1"]);
    let mut c = cfg(alice(PASSWORD));
    c.quality = None;
    let r = probe_bounded(&[uri(&format!("turn:127.0.0.1:{}", turn.port))], &c).await;
    assert_eq!(r.len(), 2);
    for r in &r {
        assert_eq!(r.failed_stage, Some(TurnStage::CreatePermission), "{r:#?}");
        assert_eq!(failure_of(r), &TurnFailure::ForbiddenPeer, "{r:#?}");
        assert!(
            failure_of(r)
                .to_string()
                .contains("does not relay to this peer")
        );
        assert_status(r, TurnStage::Allocate, StageStatus::Passed);
        assert!(r.peer.is_some_and(|p| p.ip().is_loopback()), "{r:#?}");
        assert_rest_not_tested(r, TurnStage::CreatePermission);
        assert_status(r, TurnStage::Deallocate, StageStatus::Passed);
    }
}

/// coturn `alternate-server=`: 300 Try Alternate to the Allocate.
/// Followed once: A redirects to B, a working coturn; the probe relays
/// through B and reports A in `redirected_from`, B in `server`, and a note
/// on the redirected stage. A loop (C redirects to D, D back to C) is
/// followed once, then named `alternate_server_loop` (naming C) at the stage
/// the second 300 answered, with nothing after it run.
#[tokio::test]
async fn coturn_alternate_server_is_followed_once_and_loops_are_named() {
    let pb = LoopbackCoturn::pick_ports(false, &[]).expect("ports");
    let pa = LoopbackCoturn::pick_ports(false, &[pb.0, pb.1]).expect("ports");
    let pc = LoopbackCoturn::pick_ports(false, &[pb.0, pb.1, pa.0, pa.1]).expect("ports");
    let pd =
        LoopbackCoturn::pick_ports(false, &[pb.0, pb.1, pa.0, pa.1, pc.0, pc.1]).expect("ports");
    let pki = || Pki::generate(&["localhost", "127.0.0.1"]).expect("certificate");
    let alt = |port: u16| format!("alternate-server=127.0.0.1:{port}");
    let b = start_coturn_on(Auth::LongTerm, &[], pki(), Some(pb));
    let a = start_coturn_on(Auth::LongTerm, &[&alt(pb.0)], pki(), Some(pa));
    let c_ = start_coturn_on(Auth::LongTerm, &[&alt(pd.0)], pki(), Some(pc));
    let d = start_coturn_on(Auth::LongTerm, &[&alt(pc.0)], pki(), Some(pd));
    let config = cfg(alice(PASSWORD));

    let followed = probe_bounded(&[uri(&format!("turn:127.0.0.1:{}", a.port))], &config).await;
    assert_eq!(followed.len(), 2, "{followed:#?}");
    for r in &followed {
        assert_relays(r);
        assert_eq!(r.redirected_from, Some(a.addr()), "{r:#?}");
        assert_eq!(r.server, Some(b.addr()), "{r:#?}");
        let note = note_of(r, TurnStage::UnauthenticatedAllocate);
        assert!(
            note.contains(&format!("redirected here by {}", a.addr())),
            "{r:#?}"
        );
    }

    let looped = probe_bounded(&[uri(&format!("turn:127.0.0.1:{}", c_.port))], &config).await;
    assert_eq!(looped.len(), 2, "{looped:#?}");
    for r in &looped {
        assert_eq!(
            failure_of(r),
            &TurnFailure::AlternateServerLoop {
                alternate: c_.addr()
            },
            "{r:#?}"
        );
        assert_eq!(
            r.failed_stage,
            Some(TurnStage::UnauthenticatedAllocate),
            "{r:#?}"
        );
        assert_eq!(r.redirected_from, Some(c_.addr()), "{r:#?}");
        assert_eq!(r.server, Some(d.addr()), "{r:#?}");
        assert_rest_not_tested(r, TurnStage::UnauthenticatedAllocate);
        assert_status(r, TurnStage::Allocate, StageStatus::NotTested);
    }
    let json = serde_json::to_string(&looped).expect("serializes");
    assert!(
        json.contains("\"kind\":\"alternate-server-loop\""),
        "{json}"
    );
}

/// TLS then DTLS to `t`'s TLS port, with its CA as --ca.
async fn probe_tls_dtls(t: &Coturn) -> Vec<TurnTransportResult> {
    let mut c = cfg(alice(PASSWORD));
    c.tls.ca_pem = Some(t.ca_pem.as_bytes().to_vec());
    let uris = [
        uri(&format!("turns:localhost:{}", t.tls_port)),
        uri(&format!("turns:localhost:{}?transport=udp", t.tls_port)),
    ];
    probe_all(&uris, &c).await
}

/// coturn serving a certificate that expired (signed by the CA natscope is
/// given) and one for another name: named `tls_expired` and
/// `tls_name_mismatch` at the TLS and at the DTLS handshake, not just "handshake failed".
/// (An unknown CA is covered by the tests above, over TLS and DTLS.)
#[tokio::test]
async fn coturn_expired_and_wrong_name_certificates_are_named() {
    let expired = Pki::generate_with_validity(&["localhost", "127.0.0.1"], CertValidity::Expired)
        .expect("certificate");
    let other_name = Pki::generate(&["turn.example.org"]).expect("certificate");
    let expired = start_coturn_on(Auth::LongTerm, &[], expired, None);
    let other_name = start_coturn_on(Auth::LongTerm, &[], other_name, None);
    let (exp, name) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(probe_tls_dtls(&expired), probe_tls_dtls(&other_name))
    })
    .await
    .expect("bounded");
    let handshake = |r: &TurnTransportResult| match r.transport {
        TurnTransport::Tls => TurnStage::TlsHandshake,
        _ => TurnStage::DtlsHandshake,
    };
    assert_eq!(exp.len(), 2);
    assert_eq!(name.len(), 2);
    for r in &exp {
        assert_eq!(r.failed_stage, Some(handshake(r)), "{r:#?}");
        assert_eq!(failure_of(r), &TurnFailure::TlsExpired, "{r:#?}");
        assert!(r.stage(TurnStage::Allocate).is_none(), "{r:#?}");
    }
    for r in &name {
        assert_eq!(r.failed_stage, Some(handshake(r)), "{r:#?}");
        assert_eq!(
            failure_of(r),
            &TurnFailure::TlsNameMismatch {
                server_name: "localhost".into()
            },
            "{r:#?}"
        );
        assert!(r.stage(TurnStage::Allocate).is_none(), "{r:#?}");
    }
}

/// Runs `openssl` with `args` in `dir`; it must succeed.
fn openssl(dir: &crate::support::TempDir, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir.path(""))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PKI whose server key is RSA 2048 (made by openssl: the ring provider
/// signs with RSA but cannot generate RSA keys), the leaf signed by a
/// private CA, as most deployments' (Let's Encrypt RSA) chains are.
fn rsa_pki(dir: &crate::support::TempDir) -> Pki {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.key",
        ],
    );
    let key = std::fs::read_to_string(dir.path("rsa.key")).expect("openssl wrote the key");
    Pki::generate_with_leaf_key(&["localhost", "127.0.0.1"], &key).expect("RSA certificate")
}

/// What `openssl req -x509` makes by default: one self-signed RSA
/// certificate (basicConstraints CA:TRUE), served alone and given as --ca.
fn openssl_self_signed(dir: &crate::support::TempDir) -> Pki {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            "self.key",
            "-out",
            "self.pem",
        ],
    );
    let read = |f| std::fs::read_to_string(dir.path(f)).expect("openssl wrote it");
    let (cert, key) = (read("self.pem"), read("self.key"));
    Pki::from_pem(&cert, &cert, &key).expect("openssl's PEM parses")
}

/// Issue 15 items 4 and 5: coturn with an RSA certificate relays over DTLS
/// and TLS (a DTLS stack with ECDSA suites only failed with
/// handshake_failure), an ECDSA one too, and the notes name suite and key;
/// a self-signed certificate given with --ca (CA:TRUE, as openssl makes it)
/// is accepted as pinned and reported as self-signed; a server whose
/// cipher list shares no suite with natscope is named plainly.
#[tokio::test]
async fn coturn_rsa_ecdsa_and_self_signed_certificates_over_dtls_and_tls() {
    let dir = crate::support::TempDir::new("turn-rsa");
    let rsa = start_coturn_on(Auth::LongTerm, &[], rsa_pki(&dir), None);
    let ecdsa = start_coturn(Auth::LongTerm, &[]);
    let self_signed = start_coturn_on(Auth::LongTerm, &[], openssl_self_signed(&dir), None);
    // Only RSA key exchange with AES-256-CBC: no forward secrecy, a suite
    // natscope does not offer.
    let narrow = start_coturn_on(
        Auth::LongTerm,
        &["cipher-list=AES256-SHA"],
        rsa_pki(&dir),
        None,
    );
    let (rsa_r, ecdsa_r, self_r, narrow_r) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(
            probe_tls_dtls(&rsa),
            probe_tls_dtls(&ecdsa),
            probe_tls_dtls(&self_signed),
            probe_tls_dtls(&narrow)
        )
    })
    .await
    .expect("bounded");
    let handshake = |r: &TurnTransportResult| match r.transport {
        TurnTransport::Tls => TurnStage::TlsHandshake,
        _ => TurnStage::DtlsHandshake,
    };
    for (results, key) in [(&rsa_r, "RSA 2048-bit key"), (&ecdsa_r, "ECDSA P-256 key")] {
        assert_eq!(results.len(), 2, "{results:#?}");
        for r in results {
            assert_relays(r);
            let note = note_of(r, handshake(r));
            assert!(
                note.contains(key) && note.contains("certificate verified"),
                "{note}"
            );
        }
        let dtls = note_of(&results[1], TurnStage::DtlsHandshake);
        let suite = if key.starts_with("RSA") {
            "ECDHE_RSA"
        } else {
            "ECDHE_ECDSA"
        };
        assert!(dtls.contains("DTLS 1.2") && dtls.contains(suite), "{dtls}");
    }
    // Pinned and self-signed: relays, and the note says what browsers do.
    for r in &self_r {
        assert_relays(r);
        let note = note_of(r, handshake(r));
        assert!(
            note.contains("self-signed and pinned by --ca")
                && note.contains("browsers will not trust it"),
            "{note}"
        );
    }
    // The same self-signed certificate without --ca is still refused (a
    // CA certificate as the server's own: webpki's first objection).
    let r = probe_all(
        &[uri(&format!(
            "turns:localhost:{}?transport=udp",
            self_signed.tls_port
        ))],
        &cfg(alice(PASSWORD)),
    )
    .await;
    assert_eq!(failure_of(&r[0]), &TurnFailure::TlsCaAsServerCert, "{r:#?}");
    // No common suite: named at the handshake, over DTLS with the suites
    // natscope offered.
    let dtls = &narrow_r[1];
    assert_eq!(
        dtls.failed_stage,
        Some(TurnStage::DtlsHandshake),
        "{dtls:#?}"
    );
    assert!(
        matches!(failure_of(dtls), TurnFailure::TlsOther { detail }
            if detail.contains("accepts none of the DTLS 1.2 cipher suites natscope offers")
                && detail.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")),
        "{dtls:#?}"
    );
    assert_eq!(
        narrow_r[0].failed_stage,
        Some(TurnStage::TlsHandshake),
        "{narrow_r:#?}"
    );
    assert_no_secrets(&rsa_r);
}

/// The embedded server's TLS listener with an expired and with a not yet
/// valid certificate (verified with the right CA): both `tls_expired`.
#[tokio::test]
async fn embedded_tls_certificate_outside_its_validity_is_named() {
    for validity in [CertValidity::Expired, CertValidity::NotYetValid] {
        let mut sc = alice_server();
        sc.cert_validity = validity;
        let server = TurnServer::start(sc).await.expect("server starts");
        let mut c = cfg(alice(PASSWORD));
        c.tls.ca_pem = Some(server.ca_pem().as_bytes().to_vec());
        let r = probe_all(
            &[uri(&format!("turns:localhost:{}", server.tls_addr.port()))],
            &c,
        )
        .await;
        assert_eq!(r[0].failed_stage, Some(TurnStage::TlsHandshake), "{r:#?}");
        assert_eq!(
            failure_of(&r[0]),
            &TurnFailure::TlsExpired,
            "{validity:?}: {r:#?}"
        );
    }
}

/// A server that allows one allocation per user cannot give natscope its
/// echo peer (a second allocation): relaying is then not tested — said,
/// with the reason — not failed.
#[tokio::test]
async fn a_quota_of_one_leaves_relaying_untested_not_failed() {
    let turn = start_coturn(Auth::LongTerm, &["user-quota=1"]);
    let c = TurnProbeConfig {
        quality: None,
        ..cfg(alice(PASSWORD))
    };
    let results = probe_bounded(
        &[uri(&format!("turn:127.0.0.1:{}?transport=udp", turn.port))],
        &c,
    )
    .await;
    let r = &results[0];
    assert!(!r.ok, "{r:#?}");
    assert_eq!(r.failure, None, "nothing failed: {r:#?}");
    assert_status(r, TurnStage::Allocate, StageStatus::Passed);
    assert_status(r, TurnStage::CreatePermission, StageStatus::NotTested);
    assert_status(r, TurnStage::DataRoundTrip, StageStatus::NotTested);
    let note = note_of(r, TurnStage::DataRoundTrip);
    assert!(
        note.contains("second allocation") && note.contains("486"),
        "{note}"
    );
    assert_status(r, TurnStage::Deallocate, StageStatus::Passed);
    // The report: the check is not tested, a warning says why.
    let mut report = model::Report::new("turn", "2026-01-01T00:00:00Z");
    report.turn = model::Section::Tested(model::turn::TurnSection {
        results: results.clone(),
    });
    rules::conclude(&mut report);
    let check = report
        .summary
        .check(&model::CheckId::TurnUdp)
        .expect("a turn-udp check");
    assert_eq!(check.status, model::CheckStatus::NotTested, "{check:?}");
    assert!(!report.summary.any_failed());
    assert_eq!(
        report.diagnosis.findings[0].id,
        model::diagnosis::FindingId::TurnDataNotTested,
        "{:#?}",
        report.diagnosis
    );
}

/// Issue 15 item 9: pion/turn v2, an independent TURN server, over UDP and
/// TCP. It relays; its quirks are named, each as soon as it answers: it
/// ignores REQUESTED-ADDRESS-FAMILY (an IPv4 relay for an IPv6 request),
/// answers an RFC 6062 TCP Allocate with an unsigned 442 (which used to
/// wait for the 3 s stage deadline), and rejects a wrong password with 400
/// — which the diagnosis calls probably wrong credentials.
#[tokio::test]
async fn pion_turn_relays_and_its_quirks_are_named_at_once() {
    let mut pion = crate::support::PionTurn::start(REALM, "alice", PASSWORD);
    let u = uri(&format!("turn:127.0.0.1:{}", pion.addr.port()));
    let started = Instant::now();
    let results = probe_bounded(std::slice::from_ref(&u), &cfg(alice(PASSWORD))).await;
    let took = started.elapsed();
    assert_eq!(results.len(), 2, "{results:#?}");
    for r in &results {
        assert_relays(r);
        let v6 = r
            .stage(TurnStage::AllocateIpv6)
            .expect("allocate-ipv6 recorded");
        assert!(
            matches!(&v6.error, Some(TurnFailure::AddressFamilyIgnored { relayed }) if relayed.is_ipv4()),
            "{r:#?}"
        );
    }
    let tcp = &results[1];
    assert_eq!(tcp.transport, TurnTransport::Tcp);
    let alloc = tcp
        .stage(TurnStage::TcpAllocation)
        .expect("tcp-allocation recorded");
    assert_eq!(alloc.status, StageStatus::Failed, "{tcp:#?}");
    assert!(
        matches!(
            &alloc.error,
            Some(TurnFailure::ServerError { code: 442, .. })
        ),
        "{tcp:#?}"
    );
    assert!(alloc.duration_ms.is_some_and(|ms| ms < 1000.0), "{tcp:#?}");
    // Everything, both transports, well inside one stage deadline (3 s).
    assert!(took < Duration::from_secs(2), "{took:?}");

    // A wrong password: 400 at Allocate, at once, and the diagnosis says
    // what it probably means.
    assert!(pion.alive(), "pion-turn exited");
    let out = crate::support::run_natscope(
        [
            "turn",
            &format!("turn:127.0.0.1:{}?transport=udp", pion.addr.port()),
            "--username",
            "alice",
            "--password",
            "not-the-password",
            "--format",
            "json",
        ],
        Duration::from_secs(60),
    );
    let doc = crate::support::json_of(&out);
    let r = &doc["turn"]["results"][0];
    assert_eq!(r["failed_stage"], "allocate", "{r:#}");
    assert_eq!(r["failure"]["code"], 400, "{r:#}");
    let finding = &doc["diagnosis"]["findings"][0];
    assert!(
        finding["remedy"]
            .as_str()
            .unwrap_or("")
            .starts_with("Probably wrong credentials")
            && finding["title"]
                .as_str()
                .unwrap_or("")
                .contains("400 Bad Request"),
        "{finding:#}"
    );
    let allocate_ms = r["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["stage"] == "allocate"))
        .and_then(|s| s["duration_ms"].as_f64())
        .unwrap_or(f64::MAX);
    assert!(allocate_ms < 1000.0, "{r:#}");
}

/// A TURN name with an IPv4 and an IPv6 address is probed on both families
/// (one result each, IPv4 first): `localhost` is 127.0.0.1 and ::1, and the
/// embedded server listens on 127.0.0.1 only, so the IPv6 result names the
/// closed port while the IPv4 one relays. `-6` (ipv4 off) leaves only ::1.
#[tokio::test]
async fn localhost_is_probed_on_both_families() {
    let server = TurnServer::start(alice_server())
        .await
        .expect("embedded server starts");
    let mut c = cfg(alice(PASSWORD));
    c.ipv6 = true;
    c.tls.ca_pem = Some(server.ca_pem().as_bytes().to_vec());
    let tls = uri(&format!("turns:localhost:{}", server.tls_addr.port()));
    let results = probe_bounded(std::slice::from_ref(&tls), &c).await;
    assert_eq!(results.len(), 2, "{results:#?}");
    let (v4, v6) = (&results[0], &results[1]);
    assert_eq!(v4.server.map(|s| s.is_ipv4()), Some(true), "{v4:#?}");
    assert_relays(v4);
    assert_eq!(v6.server.map(|s| s.is_ipv6()), Some(true), "{v6:#?}");
    assert!(!v6.ok, "{v6:#?}");
    assert_eq!(v6.failed_stage, Some(TurnStage::TcpConnect), "{v6:#?}");
    let dns = v6
        .stage(TurnStage::Dns)
        .and_then(|s| s.note.clone())
        .unwrap_or_default();
    assert!(dns.contains("[::1]"), "{dns}");

    c.ipv4 = false;
    let only6 = probe_bounded(&[tls], &c).await;
    assert_eq!(only6.len(), 1, "{only6:#?}");
    assert_eq!(
        only6[0].server.map(|s| s.is_ipv6()),
        Some(true),
        "{only6:#?}"
    );
}

/// An IPv6 --peer on an IPv4 relay: a relay reaches peers of its own family
/// only, so the data stages are not tested, with the reason (never a
/// "failed without a readable reason").
#[tokio::test]
async fn a_peer_of_the_other_family_is_named_not_failed() {
    let server = TurnServer::start(alice_server())
        .await
        .expect("embedded server starts");
    let mut c = cfg(alice(PASSWORD));
    c.peer = Some("[::1]:9".parse().expect("literal"));
    let [udp, _] = udp_tcp_uris(&server);
    let r = probe_bounded(&[udp], &c).await;
    assert_eq!(r.len(), 1);
    assert!(!r[0].ok, "{r:#?}");
    assert_eq!(r[0].failure, None, "{r:#?}");
    let note = r[0]
        .stage(TurnStage::CreatePermission)
        .and_then(|s| s.note.clone())
        .unwrap_or_default();
    assert!(note.contains("peers of its own family only"), "{note}");
}
