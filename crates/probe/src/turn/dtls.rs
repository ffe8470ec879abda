//! DTLS for `turns:…?transport=udp`: webrtc-dtls (DTLS 1.2; ECDHE with
//! RSA *and* ECDSA server certificates — most TURN deployments use RSA)
//! as a record layer over a connected UDP socket, under the same
//! TURN-over-UDP client the `udp` transport uses.
//!
//! Certificates are checked by natscope's one verifier (rustls' WebPKI on
//! the ring provider, plus a certificate pinned by `--ca`:
//! [`super::tls::server_verifier`]) from webrtc-dtls' peer-certificate
//! callback, before the handshake finishes and before a single TURN byte
//! is sent; webrtc-dtls itself checks the key-exchange signature against
//! the leaf. The socket is handed to webrtc-dtls through [`SnoopConn`]
//! (its public `Conn` trait), which reads the cipher suite off the
//! plaintext ServerHello and the server's alert when it refuses us, and
//! which stops webrtc-dtls' background tasks when natscope gives up.

use super::tls::{TlsOptions, certificate_note, name_rustls_error, server_name, server_verifier};
use model::turn::TurnFailure;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, UnixTime};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use webrtc_dtls::cipher_suite::CipherSuiteId;
use webrtc_dtls::config::{Config, ExtendedMasterSecretType};
use webrtc_dtls::conn::DTLSConn;

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65536;

/// The cipher suites natscope offers, in order (all DTLS 1.2, ECDHE).
const OFFERED: [CipherSuiteId; 4] = [
    CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256,
    CipherSuiteId::Tls_Ecdhe_Rsa_With_Aes_128_Gcm_Sha256,
    CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_256_Cbc_Sha,
    CipherSuiteId::Tls_Ecdhe_Rsa_With_Aes_256_Cbc_Sha,
];

/// IANA name of a cipher suite natscope offers (or its number).
fn suite_name(id: u16) -> String {
    match id {
        0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into(),
        0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
        0xc00a => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA".into(),
        0xc014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA".into(),
        other => format!("cipher suite 0x{other:04x}"),
    }
}

/// The offered suites, for a failure that says what natscope can do.
fn offered_list() -> String {
    OFFERED
        .iter()
        .map(|s| suite_name(*s as u16))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An established DTLS association with the TURN server.
pub(crate) struct DtlsConn {
    dtls: DTLSConn,
    sock: Arc<SnoopConn>,
}

/// What the handshake produced besides the connection: a note for the
/// `dtls_handshake` stage.
pub(crate) struct Established {
    /// The connection.
    pub conn: DtlsConn,
    /// e.g. "DTLS 1.2, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, certificate
    /// verified; server sent 2 certificate(s)".
    pub note: String,
    /// The server certificate's notAfter (Unix seconds), if it parsed.
    pub not_after: Option<i64>,
}

/// What [`SnoopConn`] read off the plaintext handshake.
#[derive(Default)]
struct Seen {
    /// The cipher suite of the ServerHello.
    suite: Option<u16>,
    /// A fatal alert the server sent in clear (during the handshake).
    alert: Option<u8>,
}

/// The connected socket reported ICMP port unreachable (`ECONNREFUSED`):
/// nothing listens there.
fn is_refused(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ConnectionRefused
}

/// The connected UDP socket as webrtc-dtls sees it: reads the ServerHello's
/// cipher suite and plaintext alerts on the way in, and ends every pending
/// and later read once `close` is called (webrtc-dtls' tasks then stop).
struct SnoopConn {
    sock: UdpSocket,
    seen: Mutex<Seen>,
    closed: watch::Sender<bool>,
    /// Set when a read or send met ICMP port unreachable.
    refused: watch::Sender<bool>,
}

/// DTLS record header length.
const RECORD_HEADER: usize = 13;
/// TLS content types.
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
/// TLS handshake type `server_hello`.
const HS_SERVER_HELLO: u8 = 2;
/// DTLS handshake header length.
const HANDSHAKE_HEADER: usize = 12;

impl SnoopConn {
    fn new(sock: UdpSocket) -> SnoopConn {
        SnoopConn {
            sock,
            seen: Mutex::new(Seen::default()),
            closed: watch::channel(false).0,
            refused: watch::channel(false).0,
        }
    }

    /// Records an I/O error; returns it for webrtc-dtls.
    fn io_error(&self, e: io::Error) -> webrtc_util::Error {
        if is_refused(&e) {
            self.refused.send_replace(true);
        }
        e.into()
    }

    /// Resolves once the server's port was found closed.
    async fn refused(&self) {
        let mut refused = self.refused.subscribe();
        // The sender lives in `self`, so the channel cannot close.
        let _ = refused.wait_for(|r| *r).await;
    }

    /// Ends reads now and later (idempotent).
    fn shut(&self) {
        self.closed.send_replace(true);
    }

    fn seen(&self) -> (Option<u16>, Option<u8>) {
        // A poisoned lock only means a reader panicked; the data is plain.
        let s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        (s.suite, s.alert)
    }

    /// Looks at every plaintext (epoch 0) record of a datagram.
    fn inspect(&self, datagram: &[u8]) {
        let mut rest = datagram;
        while rest.len() >= RECORD_HEADER {
            let len = u16::from_be_bytes([rest[11], rest[12]]) as usize;
            let Some(fragment) = rest.get(RECORD_HEADER..RECORD_HEADER + len) else {
                return;
            };
            let epoch = u16::from_be_bytes([rest[3], rest[4]]);
            if epoch == 0 {
                let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                match rest[0] {
                    CT_ALERT if fragment.len() >= 2 && fragment[0] == 2 => {
                        seen.alert = Some(fragment[1]);
                    }
                    CT_HANDSHAKE => {
                        if let Some(s) = server_hello_suite(fragment) {
                            seen.suite = Some(s);
                        }
                    }
                    _ => {}
                }
            }
            rest = &rest[RECORD_HEADER + len..];
        }
    }
}

/// The cipher suite of a ServerHello handshake fragment (the first
/// fragment carries it: version 2, random 32, session id, suite 2).
fn server_hello_suite(hs: &[u8]) -> Option<u16> {
    if hs.len() < HANDSHAKE_HEADER || hs[0] != HS_SERVER_HELLO || hs[6..9] != [0, 0, 0] {
        return None;
    }
    let body = &hs[HANDSHAKE_HEADER..];
    let sid_len = *body.get(34)? as usize;
    let at = 35 + sid_len;
    Some(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]))
}

fn closed_error() -> webrtc_util::Error {
    webrtc_util::Error::Other("closed by natscope".into())
}

#[async_trait::async_trait]
impl webrtc_util::Conn for SnoopConn {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(self.sock.connect(addr).await?)
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        let mut closed = self.closed.subscribe();
        if *closed.borrow() {
            return Err(closed_error());
        }
        tokio::select! {
            r = self.sock.recv(buf) => {
                let n = r.map_err(|e| self.io_error(e))?;
                self.inspect(&buf[..n]);
                Ok(n)
            }
            _ = closed.wait_for(|c| *c) => Err(closed_error()),
        }
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let n = webrtc_util::Conn::recv(self, buf).await?;
        Ok((n, self.sock.peer_addr()?))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        if *self.closed.borrow() {
            return Err(closed_error());
        }
        self.sock.send(buf).await.map_err(|e| self.io_error(e))
    }

    async fn send_to(&self, buf: &[u8], _target: SocketAddr) -> webrtc_util::Result<usize> {
        webrtc_util::Conn::send(self, buf).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.sock.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.sock.peer_addr().ok()
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.shut();
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// Shuts the socket when the handshake future is dropped (natscope's stage
/// deadline) or fails, so webrtc-dtls' retransmission and read tasks end.
struct ShutOnDrop(Option<Arc<SnoopConn>>);

impl Drop for ShutOnDrop {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.shut();
        }
    }
}

/// RFC 8446 §6 / RFC 5246 §7.2 alert descriptions, named.
fn alert_name(d: u8) -> String {
    let name = match d {
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return format!("alert {d}"),
    };
    format!("{name} ({d})")
}

/// Names a refused handshake from the alert the server sent, if any.
fn name_alert(alert: u8) -> TurnFailure {
    let detail = match alert {
        // handshake_failure / insufficient_security before a ServerHello:
        // the server found nothing in common with the ClientHello.
        40 | 71 => format!(
            "server sent fatal alert: {}: it accepts none of the DTLS 1.2 cipher suites \
             natscope offers ({}); add ECDHE-RSA-AES128-GCM-SHA256 or \
             ECDHE-ECDSA-AES128-GCM-SHA256 to the server's cipher list (coturn: cipher-list)",
            alert_name(alert),
            offered_list()
        ),
        70 => format!(
            "server sent fatal alert: {}: it does not speak DTLS 1.2",
            alert_name(alert)
        ),
        _ => format!("server sent fatal alert: {}", alert_name(alert)),
    };
    TurnFailure::TlsOther { detail }
}

fn name_dtls_error(e: &webrtc_dtls::Error) -> TurnFailure {
    use webrtc_dtls::Error as E;
    let detail = match e {
        E::ErrAlertFatalOrClose => "the server ended the DTLS handshake".to_owned(),
        E::ErrInvalidCipherSuite | E::ErrCipherSuiteUnset => format!(
            "the server chose a cipher suite natscope did not offer (natscope offers {})",
            offered_list()
        ),
        E::ErrConnClosed => "the DTLS association closed during the handshake".to_owned(),
        E::Io(io) => return super::failure::name_io_error(&io.0),
        E::Util(webrtc_util::Error::Io(io)) => return super::failure::name_io_error(&io.0),
        // webrtc-dtls' messages are plain sentences ("... is not supported").
        other => format!("DTLS: {other}"),
    };
    TurnFailure::TlsOther { detail }
}

fn setup_error(detail: impl std::fmt::Display) -> TurnFailure {
    TurnFailure::TlsOther {
        detail: format!("DTLS setup: {detail}"),
    }
}

/// Runs the DTLS handshake with the server `sock` is connected to and
/// verifies its certificate for `host` according to `opts`. Unbounded: the
/// caller puts its deadline around it (dropping the future stops the
/// handshake and its tasks).
pub(crate) async fn connect(
    sock: UdpSocket,
    host: &str,
    opts: &TlsOptions,
) -> Result<Established, TurnFailure> {
    let verifier = if opts.insecure {
        None
    } else {
        Some(server_verifier(opts).map_err(setup_error)?)
    };
    if server_name(host).is_none() {
        return Err(TurnFailure::TlsOther {
            detail: format!("{host} is not a valid TLS server name"),
        });
    }
    // The verifier's verdict, named, for when it aborts the handshake.
    let refused: Arc<Mutex<Option<TurnFailure>>> = Arc::default();
    let verify_cb = {
        let (refused, host) = (refused.clone(), host.to_owned());
        move |certs: &[Vec<u8>], _chains: &[CertificateDer<'static>]| {
            let Some(v) = &verifier else {
                return Ok(());
            };
            let Some((leaf, rest)) = certs.split_first() else {
                return Err(webrtc_dtls::Error::ErrNoCertificates);
            };
            let intermediates: Vec<CertificateDer<'static>> = rest
                .iter()
                .map(|c| CertificateDer::from(c.clone()))
                .collect();
            verify(v.as_ref(), leaf.clone(), &intermediates, &host).map_err(|f| {
                let text = f.to_string();
                *refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
                webrtc_dtls::Error::Other(text)
            })
        }
    };
    let config = Config {
        cipher_suites: OFFERED.to_vec(),
        // natscope checks the certificate itself (above); webrtc-dtls'
        // own check would use a second verifier.
        insecure_skip_verify: true,
        verify_peer_certificate: Some(Arc::new(verify_cb)),
        server_name: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        extended_master_secret: ExtendedMasterSecretType::Request,
        ..Config::default()
    };
    let snoop = Arc::new(SnoopConn::new(sock));
    let mut guard = ShutOnDrop(Some(snoop.clone()));
    let conn: Arc<dyn webrtc_util::Conn + Send + Sync> = snoop.clone();
    let handshake = tokio::select! {
        r = DTLSConn::new(conn, config, true, None) => r,
        () = snoop.refused() => return Err(TurnFailure::ConnectionRefused),
    };
    let dtls = match handshake {
        Ok(d) => d,
        Err(e) => {
            if let Some(f) = refused.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(f);
            }
            if let (_, Some(alert)) = snoop.seen() {
                return Err(name_alert(alert));
            }
            return Err(name_dtls_error(&e));
        }
    };
    guard.0 = None;
    let state = dtls.connection_state().await;
    let suite = snoop
        .seen()
        .0
        .map(suite_name)
        .unwrap_or_else(|| "cipher suite not seen".into());
    let how = match (opts.insecure, state.peer_certificates.first()) {
        (true, _) => "certificate NOT verified (--insecure)".to_owned(),
        (false, Some(leaf)) => format!("certificate verified ({})", certificate_note(leaf, opts)),
        (false, None) => "certificate verified".to_owned(),
    };
    let note = format!(
        "DTLS 1.2, {suite}, {how}; server sent {} certificate(s)",
        state.peer_certificates.len()
    );
    let not_after = state
        .peer_certificates
        .first()
        .and_then(|leaf| super::tls::not_after(leaf));
    Ok(Established {
        conn: DtlsConn { dtls, sock: snoop },
        note,
        not_after,
    })
}

/// Verifies the server's leaf (DER) with the intermediates it sent: chain
/// to the trusted roots (or pinned by `--ca`), validity period, and the
/// URI host (DNS name or IP literal).
fn verify(
    verifier: &dyn ServerCertVerifier,
    leaf: Vec<u8>,
    intermediates: &[CertificateDer<'static>],
    host: &str,
) -> Result<(), TurnFailure> {
    let name = server_name(host).ok_or_else(|| TurnFailure::TlsOther {
        detail: format!("{host} is not a valid TLS server name"),
    })?;
    verifier
        .verify_server_cert(
            &CertificateDer::from(leaf),
            intermediates,
            &name,
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
        .map_err(|e| name_rustls_error(&e, host))
}

fn dtls_io(e: webrtc_dtls::Error) -> io::Error {
    match e {
        webrtc_dtls::Error::ErrConnClosed | webrtc_dtls::Error::ErrAlertFatalOrClose => {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "DTLS association closed by the server",
            )
        }
        webrtc_dtls::Error::Io(io) => io.0,
        other => io::Error::other(format!("DTLS: {other}")),
    }
}

impl DtlsConn {
    /// Local and server address.
    pub(crate) fn addrs(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        Ok((self.sock.sock.local_addr()?, self.sock.sock.peer_addr()?))
    }

    /// Encrypts one TURN message (STUN or ChannelData) into a record and
    /// sends it.
    pub(crate) async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.dtls.write(data, None).await.map_err(dtls_io)?;
        Ok(())
    }

    /// One decrypted record (one TURN message). Cancel-safe: webrtc-dtls
    /// decrypts in its own task and queues records on a channel.
    pub(crate) async fn recv(&mut self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let n = self.dtls.read(&mut buf, None).await.map_err(dtls_io)?;
        buf.truncate(n);
        Ok(buf)
    }
}

impl Drop for DtlsConn {
    fn drop(&mut self) {
        // Ends webrtc-dtls' read task (its next read fails).
        self.sock.shut();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ct: u8, epoch: u16, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ct, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0, 0, 1]);
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn server_hello(suite: u16, sid: &[u8]) -> Vec<u8> {
        let mut body = vec![0xfe, 0xfd];
        body.extend_from_slice(&[7u8; 32]);
        body.push(sid.len() as u8);
        body.extend_from_slice(sid);
        body.extend_from_slice(&suite.to_be_bytes());
        body.push(0);
        let mut h = vec![HS_SERVER_HELLO];
        h.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        h.extend_from_slice(&[0, 1, 0, 0, 0]);
        h.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        h.extend_from_slice(&body);
        h
    }

    #[tokio::test]
    async fn reads_the_suite_and_the_alert_off_plaintext_records() {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind loopback");
        let snoop = SnoopConn::new(sock);
        // ServerHello and another record in one datagram.
        let mut dgram = record(CT_HANDSHAKE, 0, &server_hello(0xc02f, &[1, 2, 3]));
        dgram.extend_from_slice(&record(CT_HANDSHAKE, 0, &[11, 0, 0]));
        snoop.inspect(&dgram);
        assert_eq!(snoop.seen(), (Some(0xc02f), None));
        // Encrypted (epoch 1) records are not read.
        snoop.inspect(&record(CT_ALERT, 1, &[2, 40]));
        assert_eq!(snoop.seen().1, None);
        snoop.inspect(&record(CT_ALERT, 0, &[2, 40]));
        assert_eq!(snoop.seen().1, Some(40));
        // Garbage never panics.
        snoop.inspect(&[CT_HANDSHAKE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1]);
        snoop.inspect(&record(CT_HANDSHAKE, 0, &[HS_SERVER_HELLO, 0, 0, 9]));
        assert_eq!(server_hello_suite(&server_hello(0xc02b, &[])[..20]), None);
        assert_eq!(server_hello_suite(&server_hello(0xc02b, &[])), Some(0xc02b));
    }

    #[tokio::test]
    async fn shut_ends_a_pending_read() {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind loopback");
        let here = sock.local_addr().expect("bound");
        sock.connect(here).await.expect("connect to itself");
        let snoop = Arc::new(SnoopConn::new(sock));
        let reader = {
            let s = snoop.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 16];
                webrtc_util::Conn::recv(s.as_ref(), &mut buf).await
            })
        };
        tokio::task::yield_now().await;
        drop(ShutOnDrop(Some(snoop.clone())));
        let r = tokio::time::timeout(std::time::Duration::from_secs(5), reader)
            .await
            .expect("the read ends at once")
            .expect("task");
        assert!(r.is_err());
        assert!(webrtc_util::Conn::send(snoop.as_ref(), b"x").await.is_err());
    }

    /// root CA -> intermediate CA -> leaf for `names`.
    fn three_level_chain(names: &[&str]) -> (String, Vec<u8>, CertificateDer<'static>) {
        let ca = |cn: &str| {
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            p.distinguished_name.push(rcgen::DnType::CommonName, cn);
            p
        };
        let root_key = rcgen::KeyPair::generate().expect("key");
        let root = rcgen::CertifiedIssuer::self_signed(ca("test root"), root_key).expect("root");
        let mid_key = rcgen::KeyPair::generate().expect("key");
        let mid_cert = ca("test intermediate")
            .signed_by(&mid_key, &root)
            .expect("intermediate");
        let mid = rcgen::Issuer::new(ca("test intermediate"), mid_key);
        let leaf_key = rcgen::KeyPair::generate().expect("key");
        let leaf =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params")
                .signed_by(&leaf_key, &mid)
                .expect("leaf");
        (root.pem(), leaf.der().to_vec(), mid_cert.der().clone())
    }

    #[test]
    fn verifies_leaf_chain_and_name() {
        let (root_pem, leaf, mid) = three_level_chain(&["turn.example.org", "192.0.2.1"]);
        let opts = TlsOptions {
            ca_pem: Some(root_pem.into_bytes()),
            insecure: false,
        };
        let v = server_verifier(&opts).expect("verifier");
        let chain = [mid];
        assert_eq!(
            verify(v.as_ref(), leaf.clone(), &chain, "turn.example.org"),
            Ok(())
        );
        assert_eq!(
            verify(v.as_ref(), leaf.clone(), &chain, "192.0.2.1"),
            Ok(())
        );
        // Without the intermediate the leaf does not chain to the root.
        assert_eq!(
            verify(v.as_ref(), leaf.clone(), &[], "turn.example.org"),
            Err(TurnFailure::TlsUnknownCa)
        );
        assert_eq!(
            verify(v.as_ref(), leaf.clone(), &chain, "other.example.org"),
            Err(TurnFailure::TlsNameMismatch {
                server_name: "other.example.org".into()
            })
        );
        // Another CA entirely.
        let other = servers::pki::Pki::generate(&["turn.example.org"]).expect("pki");
        let v2 = server_verifier(&TlsOptions {
            ca_pem: Some(other.ca_pem.into_bytes()),
            insecure: false,
        })
        .expect("verifier");
        assert_eq!(
            verify(v2.as_ref(), leaf, &chain, "turn.example.org"),
            Err(TurnFailure::TlsUnknownCa)
        );
    }

    #[test]
    fn names_alerts_and_suites() {
        assert!(alert_name(40).starts_with("handshake_failure"));
        assert_eq!(alert_name(200), "alert 200");
        let f = name_alert(40).to_string();
        assert!(
            f.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") && f.contains("none of"),
            "{f}"
        );
        assert!(name_alert(48).to_string().contains("unknown_ca"));
        assert_eq!(suite_name(0x1301), "cipher suite 0x1301");
        assert_eq!(
            OFFERED.map(|s| s as u16),
            [0xc02b, 0xc02f, 0xc00a, 0xc014],
            "suite_name knows every offered suite"
        );
    }
}
