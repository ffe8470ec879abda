//! DTLS for `turns:…?transport=udp`: dimpl (its pure-Rust crypto backend,
//! no aws-lc-rs) as a record layer over a connected UDP socket, under the
//! same TURN-over-UDP client the `udp` transport uses.
//!
//! dimpl does no PKI validation: it hands over the server's leaf
//! certificate (after checking the handshake signatures against it) and
//! natscope verifies it with rustls' WebPKI verifier on the ring provider
//! (chain to `--ca` or the system roots, validity period, the URI host),
//! before a single TURN byte is sent. For DTLS 1.2 the server's
//! Certificate message travels in clear, so the intermediates are read off
//! the wire here and given to the verifier too; DTLS 1.3 encrypts it, so
//! only the leaf is known (an intermediate must then be in `--ca`).
//! natscope's own client certificate is a throwaway ECDSA P-256 one made
//! by rcgen (ring); dimpl only does ECDSA.

use super::tls::{TlsOptions, name_rustls_error, server_name, server_verifier};
use model::turn::TurnFailure;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, UnixTime};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;

/// At most this many decrypted records wait to be read.
const MAX_INBOX: usize = 256;
/// Largest Certificate handshake message natscope reassembles for
/// intermediates (bigger chains verify with the leaf only).
const MAX_CERT_MSG: usize = 64 * 1024;
/// Largest datagram read.
const MAX_DATAGRAM: usize = 65536;

/// An established DTLS association with the TURN server.
pub(crate) struct DtlsConn {
    sock: UdpSocket,
    dtls: dimpl::Dtls,
    /// Decrypted application data records, oldest first (bounded).
    inbox: VecDeque<Vec<u8>>,
    /// When dimpl wants `handle_timeout` next.
    next_timeout: Option<Instant>,
    /// The server sent close_notify.
    closed: bool,
    out: Vec<u8>,
}

/// What the handshake produced besides the connection: a note for the
/// `dtls_handshake` stage.
pub(crate) struct Established {
    /// The connection.
    pub conn: DtlsConn,
    /// e.g. "DTLS 1.2, certificate verified".
    pub note: String,
}

/// Names a dimpl error as the TLS-family failure an operator reads.
fn name_dimpl_error(e: &dimpl::Error) -> TurnFailure {
    match e {
        dimpl::Error::SecurityError(dimpl::SecurityError::FatalAlert { description }) => {
            TurnFailure::TlsOther {
                detail: format!("server sent fatal alert: {}", alert_name(*description)),
            }
        }
        dimpl::Error::Timeout(_) => TurnFailure::TlsOther {
            detail: "DTLS handshake gave up (retransmissions exhausted)".into(),
        },
        other => TurnFailure::TlsOther {
            detail: format!("DTLS: {other}"),
        },
    }
}

/// RFC 8446 §6 / RFC 5246 §7.2 alert descriptions, named.
fn alert_name(d: u8) -> String {
    let name = match d {
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure (no common cipher suite, group or signature algorithm?)",
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

/// A throwaway ECDSA P-256 client certificate (dimpl needs one even when
/// the server does not ask for it).
fn client_certificate() -> Result<dimpl::DtlsCertificate, rcgen::Error> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert =
        rcgen::CertificateParams::new(vec!["natscope-client".to_string()])?.self_signed(&key)?;
    Ok(dimpl::DtlsCertificate {
        certificate: cert.der().to_vec(),
        private_key: key.serialize_der(),
    })
}

fn setup_error(detail: impl std::fmt::Display) -> TurnFailure {
    TurnFailure::TlsOther {
        detail: format!("DTLS setup: {detail}"),
    }
}

/// Runs the DTLS handshake with the server `sock` is connected to and
/// verifies its certificate for `host` according to `opts`. Bounded by the
/// caller's timeout (the future is cancel-safe to drop).
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
    let config = dimpl::Config::builder().build().map_err(setup_error)?;
    let cert = client_certificate().map_err(setup_error)?;
    let mut dtls = dimpl::Dtls::new_auto(Arc::new(config), cert, Instant::now());
    dtls.set_active(true);
    let mut conn = DtlsConn {
        sock,
        dtls,
        inbox: VecDeque::new(),
        next_timeout: None,
        closed: false,
        out: vec![0u8; 2048],
    };
    let mut chain = CertSnoop::default();
    let mut verified = false;
    let mut server_chain_len = 0usize;
    let mut connected = false;
    loop {
        // Drain dimpl: flights to send, the certificate, Connected.
        let mut packets = Vec::new();
        let mut peer_cert = None;
        loop {
            match conn.dtls.poll_output(&mut conn.out) {
                dimpl::Output::Packet(p) => packets.push(p.to_vec()),
                dimpl::Output::BufferTooSmall { needed } => {
                    if needed > MAX_DATAGRAM {
                        return Err(setup_error("dimpl output larger than a datagram"));
                    }
                    conn.out.resize(needed, 0);
                }
                dimpl::Output::Timeout(t) => {
                    conn.next_timeout = Some(t);
                    break;
                }
                dimpl::Output::Connected => connected = true,
                dimpl::Output::PeerCert(der) => peer_cert = Some(der.to_vec()),
                dimpl::Output::ApplicationData(d) if conn.inbox.len() < MAX_INBOX => {
                    conn.inbox.push_back(d.to_vec());
                }
                dimpl::Output::CloseNotify => conn.closed = true,
                // KeyingMaterial (DTLS-SRTP) and future variants.
                _ => {}
            }
        }
        if let Some(der) = peer_cert {
            // Verify before anything else is sent, so a rejected server
            // never sees our next flight.
            let intermediates = chain.intermediates();
            server_chain_len = 1 + intermediates.len();
            if let Some(v) = &verifier {
                verify(v.as_ref(), der, &intermediates, host)?;
            }
            verified = true;
        }
        for p in &packets {
            conn.sock.send(p).await.map_err(|e| name_sock_error(&e))?;
        }
        if connected {
            if !verified {
                return Err(TurnFailure::TlsOther {
                    detail: "DTLS connected without a server certificate".into(),
                });
            }
            let version = match conn.dtls.protocol_version() {
                Some(dimpl::ProtocolVersion::DTLS1_2) => "DTLS 1.2",
                Some(dimpl::ProtocolVersion::DTLS1_3) => "DTLS 1.3",
                _ => "DTLS",
            };
            let how = if opts.insecure {
                "certificate NOT verified (--insecure)"
            } else {
                "certificate verified"
            };
            return Ok(Established {
                conn,
                note: format!(
                    "{version}, {how}; server sent {server_chain_len} certificate(s){}",
                    if server_chain_len == 1 && version == "DTLS 1.3" {
                        " (DTLS 1.3: intermediates not visible)"
                    } else {
                        ""
                    }
                ),
            });
        }
        if conn.closed {
            return Err(TurnFailure::TlsOther {
                detail: "server closed the DTLS association during the handshake".into(),
            });
        }
        // Wait for the server or dimpl's retransmission timer.
        let wake = conn.next_timeout;
        let mut buf = vec![0u8; MAX_DATAGRAM];
        tokio::select! {
            r = conn.sock.recv(&mut buf) => {
                let n = r.map_err(|e| name_sock_error(&e))?;
                chain.inspect(&buf[..n]);
                conn.dtls.handle_packet(&buf[..n]).map_err(|e| name_dimpl_error(&e))?;
            }
            _ = sleep_until(wake) => {
                conn.dtls.handle_timeout(Instant::now()).map_err(|e| name_dimpl_error(&e))?;
            }
        }
    }
}

/// Verifies the server's leaf (DER, as dimpl reports it) with the
/// intermediates seen on the wire: chain to the trusted roots, validity
/// period, and the URI host (DNS name or IP literal).
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

fn name_sock_error(e: &io::Error) -> TurnFailure {
    super::failure::name_io_error(e)
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending::<()>().await,
    }
}

fn dimpl_io(e: dimpl::Error) -> io::Error {
    match e {
        dimpl::Error::ConnectionClosed => io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "DTLS association closed by the server",
        ),
        other => io::Error::other(format!("DTLS: {other}")),
    }
}

impl DtlsConn {
    /// Local and server address.
    pub(crate) fn addrs(&self) -> io::Result<(std::net::SocketAddr, std::net::SocketAddr)> {
        Ok((self.sock.local_addr()?, self.sock.peer_addr()?))
    }

    /// Drains dimpl without awaiting (so `recv` stays cancel-safe): records
    /// go out with `try_send` (a full socket buffer drops the datagram, as
    /// UDP may anyway), plaintext goes to the inbox.
    fn drain(&mut self) -> io::Result<()> {
        loop {
            match self.dtls.poll_output(&mut self.out) {
                dimpl::Output::Packet(p) => match self.sock.try_send(p) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                },
                dimpl::Output::BufferTooSmall { needed } => {
                    if needed > MAX_DATAGRAM {
                        return Err(io::Error::other("DTLS record larger than a datagram"));
                    }
                    self.out.resize(needed, 0);
                }
                dimpl::Output::Timeout(t) => {
                    self.next_timeout = Some(t);
                    return Ok(());
                }
                dimpl::Output::ApplicationData(d) if self.inbox.len() < MAX_INBOX => {
                    self.inbox.push_back(d.to_vec());
                }
                dimpl::Output::CloseNotify => self.closed = true,
                // Connected, PeerCert, KeyingMaterial: handshake-time only.
                _ => {}
            }
        }
    }

    /// Encrypts one TURN message (STUN or ChannelData) into a record and
    /// sends it.
    pub(crate) async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if self.closed {
            return Err(dimpl_io(dimpl::Error::ConnectionClosed));
        }
        self.dtls.send_application_data(data).map_err(dimpl_io)?;
        self.drain()
    }

    /// One decrypted record (one TURN message). Cancel-safe: nothing is
    /// awaited between taking a datagram and queueing its plaintext.
    pub(crate) async fn recv(&mut self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            if let Some(d) = self.inbox.pop_front() {
                return Ok(d);
            }
            if self.closed {
                return Err(dimpl_io(dimpl::Error::ConnectionClosed));
            }
            let wake = self.next_timeout;
            tokio::select! {
                r = self.sock.recv(&mut buf) => {
                    let n = r?;
                    // Records that do not decrypt are dropped by dimpl; an
                    // error here is fatal for the association.
                    self.dtls.handle_packet(&buf[..n]).map_err(dimpl_io)?;
                }
                _ = sleep_until(wake) => {
                    self.next_timeout = None;
                    self.dtls.handle_timeout(Instant::now()).map_err(dimpl_io)?;
                }
            }
            self.drain()?;
        }
    }
}

/// Reassembles the server's DTLS 1.2 Certificate handshake message from
/// plaintext (epoch 0) records to learn the intermediates; dimpl only
/// reports the leaf. Bounded by [`MAX_CERT_MSG`].
#[derive(Default)]
struct CertSnoop {
    /// The message body and which bytes of it arrived.
    body: Vec<u8>,
    have: Vec<bool>,
    seq: Option<u16>,
}

/// DTLS record header length.
const RECORD_HEADER: usize = 13;
/// DTLS handshake header length.
const HANDSHAKE_HEADER: usize = 12;
/// TLS handshake type `certificate`.
const HS_CERTIFICATE: u8 = 11;
/// TLS content type `handshake`.
const CT_HANDSHAKE: u8 = 22;

fn be24(b: &[u8]) -> usize {
    ((b[0] as usize) << 16) | ((b[1] as usize) << 8) | b[2] as usize
}

impl CertSnoop {
    /// Looks at every record of a datagram for Certificate fragments.
    fn inspect(&mut self, datagram: &[u8]) {
        let mut rest = datagram;
        while rest.len() >= RECORD_HEADER {
            let len = u16::from_be_bytes([rest[11], rest[12]]) as usize;
            let Some(fragment) = rest.get(RECORD_HEADER..RECORD_HEADER + len) else {
                return;
            };
            let epoch = u16::from_be_bytes([rest[3], rest[4]]);
            if rest[0] == CT_HANDSHAKE && epoch == 0 {
                self.fragment(fragment);
            }
            rest = &rest[RECORD_HEADER + len..];
        }
    }

    fn fragment(&mut self, mut hs: &[u8]) {
        // A record may carry several handshake fragments.
        while hs.len() >= HANDSHAKE_HEADER {
            let (ty, total) = (hs[0], be24(&hs[1..4]));
            let seq = u16::from_be_bytes([hs[4], hs[5]]);
            let (off, flen) = (be24(&hs[6..9]), be24(&hs[9..12]));
            let Some(data) = hs.get(HANDSHAKE_HEADER..HANDSHAKE_HEADER + flen) else {
                return;
            };
            if ty == HS_CERTIFICATE && total <= MAX_CERT_MSG && off + flen <= total {
                if self.seq != Some(seq) || self.body.len() != total {
                    self.seq = Some(seq);
                    self.body = vec![0; total];
                    self.have = vec![false; total];
                }
                self.body[off..off + flen].copy_from_slice(data);
                self.have[off..off + flen]
                    .iter_mut()
                    .for_each(|h| *h = true);
            }
            hs = &hs[HANDSHAKE_HEADER + flen..];
        }
    }

    /// The certificates after the leaf, when the whole message arrived.
    fn intermediates(&self) -> Vec<CertificateDer<'static>> {
        if self.body.len() < 3 || self.have.iter().any(|h| !h) {
            return Vec::new();
        }
        let list_len = be24(&self.body[..3]);
        let Some(mut list) = self.body.get(3..3 + list_len) else {
            return Vec::new();
        };
        let mut certs = Vec::new();
        while list.len() >= 3 && certs.len() < 16 {
            let n = be24(&list[..3]);
            let Some(der) = list.get(3..3 + n) else {
                break;
            };
            certs.push(CertificateDer::from(der.to_vec()));
            list = &list[3 + n..];
        }
        certs.into_iter().skip(1).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(hs: &[u8]) -> Vec<u8> {
        let mut r = vec![CT_HANDSHAKE, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1];
        r.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        r.extend_from_slice(hs);
        r
    }

    fn hs_fragment(total: usize, off: usize, data: &[u8]) -> Vec<u8> {
        let mut h = vec![HS_CERTIFICATE];
        h.extend_from_slice(&(total as u32).to_be_bytes()[1..]);
        h.extend_from_slice(&[0, 2]);
        h.extend_from_slice(&(off as u32).to_be_bytes()[1..]);
        h.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        h.extend_from_slice(data);
        h
    }

    #[test]
    fn reassembles_fragmented_certificate_chain() {
        let (leaf, ca) = (vec![1u8; 40], vec![2u8; 30]);
        let mut list = Vec::new();
        for c in [&leaf, &ca] {
            list.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
            list.extend_from_slice(c);
        }
        let mut body = (list.len() as u32).to_be_bytes()[1..].to_vec();
        body.extend_from_slice(&list);
        let mut snoop = CertSnoop::default();
        // Second half first, in its own datagram; the first half shares a
        // datagram with another record.
        snoop.inspect(&record(&hs_fragment(body.len(), 50, &body[50..])));
        assert!(snoop.intermediates().is_empty(), "incomplete");
        let mut dgram = record(&hs_fragment(body.len(), 0, &body[..50]));
        dgram.extend_from_slice(&record(&[0u8; 3]));
        snoop.inspect(&dgram);
        assert_eq!(snoop.intermediates(), vec![CertificateDer::from(ca)]);
        // Garbage never panics.
        snoop.inspect(&[CT_HANDSHAKE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1]);
        snoop.fragment(&[HS_CERTIFICATE, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 9]);
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
    fn names_alerts() {
        assert!(alert_name(40).starts_with("handshake_failure"));
        assert_eq!(alert_name(200), "alert 200");
        let f = name_dimpl_error(&dimpl::Error::SecurityError(
            dimpl::SecurityError::FatalAlert { description: 48 },
        ));
        assert!(f.to_string().contains("unknown_ca"), "{f}");
    }
}
