//! TLS for `turns:`: client configuration (system roots, `--ca`, or
//! `--insecure`) and naming certificate problems. rustls with the `ring`
//! provider only.

use model::turn::TurnFailure;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::sync::Arc;

/// Errors building TLS configuration (local problems, not server problems).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The `--ca` file held no usable certificate.
    #[error("no certificate found in the CA file")]
    NoCaCertificate,
    /// The system trust store could not be read and no `--ca` was given.
    #[error("no trusted root certificates available (system store empty)")]
    NoRoots,
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// How the server certificate is verified.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// PEM-encoded CA certificate(s) to trust instead of the system store.
    pub ca_pem: Option<Vec<u8>>,
    /// Skip certificate verification entirely.
    pub insecure: bool,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls client configuration for `opts`.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let builder =
        ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let verifier = if opts.insecure {
        Arc::new(CaFileVerifier {
            webpki: None,
            pinned: Vec::new(),
            provider: provider(),
        })
    } else {
        server_verifier(opts)?
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The trust anchors for `opts`: the `--ca` PEM file's certificates, or the
/// system store.
pub(crate) fn root_store(opts: &TlsOptions) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    if let Some(pem) = &opts.ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem).flatten() {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(TlsSetupError::NoCaCertificate);
        }
    } else {
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(TlsSetupError::NoRoots);
        }
    }
    Ok(roots)
}

/// natscope's one certificate verifier, for TLS and DTLS alike: rustls'
/// WebPKI verifier on the ring provider (chain to `opts`' roots, validity,
/// name), and — when `--ca` is given — a server certificate that *is* one
/// of the `--ca` certificates (pinned: self-signed, often CA:TRUE as
/// `openssl req -x509` makes it) accepted after its own name and validity
/// checks, as openssl's verify does.
pub(crate) fn server_verifier(opts: &TlsOptions) -> Result<Arc<CaFileVerifier>, TlsSetupError> {
    let provider = provider();
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(root_store(opts)?),
        provider.clone(),
    )
    .build()
    .map_err(|e| TlsSetupError::Rustls(rustls::Error::General(e.to_string())))?;
    Ok(Arc::new(CaFileVerifier {
        webpki: Some(webpki),
        pinned: pinned_certs(opts),
        provider,
    }))
}

/// The `--ca` file's certificates (empty without `--ca`).
fn pinned_certs(opts: &TlsOptions) -> Vec<CertificateDer<'static>> {
    opts.ca_pem
        .as_deref()
        .map(|pem| CertificateDer::pem_slice_iter(pem).flatten().collect())
        .unwrap_or_default()
}

/// See [`server_verifier`].
#[derive(Debug)]
pub(crate) struct CaFileVerifier {
    /// `None` with `--insecure`: any certificate is accepted (the
    /// handshake signatures are still checked against it).
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    pinned: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for CaFileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Ok(v) => Ok(v),
            Err(e)
                if self
                    .pinned
                    .iter()
                    .any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                // The user gave this very certificate: trust it, but only
                // for its own names and validity period.
                let _ = e;
                verify_pinned(end_entity, server_name, now)?;
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Name and validity checks for a certificate pinned by `--ca`.
fn verify_pinned(
    cert: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let invalid = rustls::Error::InvalidCertificate;
    let ee = webpki::EndEntityCert::try_from(cert)
        .map_err(|_| invalid(CertificateError::BadEncoding))?;
    ee.verify_is_valid_for_subject_name(name)
        .map_err(|_| invalid(CertificateError::NotValidForName))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| invalid(CertificateError::BadEncoding))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = parsed.validity();
    if now > validity.not_after.timestamp() {
        return Err(invalid(CertificateError::Expired));
    }
    if now < validity.not_before.timestamp() {
        return Err(invalid(CertificateError::NotValidYet));
    }
    Ok(())
}

/// What a person needs to know about the server's certificate `leaf`
/// (DER), for a handshake stage's note: its key, whether it was pinned by
/// `--ca` and self-signed, and what browsers will make of that. Never
/// fails: an unreadable certificate is said to be so.
pub(crate) fn certificate_note(leaf: &[u8], opts: &TlsOptions) -> String {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return "certificate not readable".to_owned();
    };
    let key = match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => format!("RSA {}-bit", rsa.key_size()),
        Ok(x509_parser::public_key::PublicKey::EC(ec)) => match ec.key_size() {
            256 => "ECDSA P-256".to_owned(),
            384 => "ECDSA P-384".to_owned(),
            n => format!("EC {n}-bit"),
        },
        _ => "other key type".to_owned(),
    };
    let pinned = pinned_certs(opts).iter().any(|p| p.as_ref() == leaf);
    let self_signed = cert.subject() == cert.issuer();
    let days = (cert.validity().not_after.timestamp() - unix_secs()) / 86_400;
    let mut note = format!("{key} key, expires in {days} days");
    match (pinned, self_signed) {
        (true, true) => note.push_str(
            ", self-signed and pinned by --ca: browsers will not trust it, so WebRTC \
             apps get no relay over this turns: URL (use a publicly trusted certificate)",
        ),
        (true, false) => note.push_str(", pinned by --ca"),
        (false, true) => note.push_str(", self-signed"),
        (false, false) => {}
    }
    note
}

fn unix_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The TLS server name for a host string (DNS name or IP literal).
pub fn server_name(host: &str) -> Option<ServerName<'static>> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(h.to_string()).ok()
}

/// TLS over an established TCP connection to `host` (the name, or IP
/// literal, the certificate must carry; SNI), with `config`. The one TLS
/// client handshake of natscope: the TURN stages and the ICE driver use it,
/// and every failure comes back named ([`name_tls_error`]). Unbounded: the
/// caller puts its deadline around it.
pub async fn connect(
    config: Arc<ClientConfig>,
    host: &str,
    tcp: tokio::net::TcpStream,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, TurnFailure> {
    let name = server_name(host).ok_or_else(|| TurnFailure::TlsOther {
        detail: format!("{host} is not a valid TLS server name"),
    })?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| name_tls_error(&e, host))
}

/// [`connect`] with the configuration `opts` asks for; a configuration
/// problem (unreadable `--ca`, no system roots) is named as `TlsOther`.
pub async fn connect_with(
    opts: &TlsOptions,
    host: &str,
    tcp: tokio::net::TcpStream,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, TurnFailure> {
    let config = client_config(opts).map_err(|e| TurnFailure::TlsOther {
        detail: e.to_string(),
    })?;
    connect(config, host, tcp).await
}

/// The TLS handshake stage's note: version, cipher suite and what
/// [`certificate_note`] says of the server's certificate.
pub(crate) fn handshake_note(conn: &rustls::ClientConnection, opts: &TlsOptions) -> String {
    let version = conn
        .protocol_version()
        .map(version_name)
        .unwrap_or_else(|| "TLS".to_owned());
    let suite = conn
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or("cipher suite unknown");
    let cert = match (
        opts.insecure,
        conn.peer_certificates().and_then(|c| c.first()),
    ) {
        (true, _) => "certificate NOT verified (--insecure)".to_owned(),
        (false, Some(leaf)) => format!("certificate verified ({})", certificate_note(leaf, opts)),
        (false, None) => "certificate verified".to_owned(),
    };
    format!("{version}, {suite}, {cert}")
}

/// The server certificate's notAfter (Unix seconds), when the handshake
/// showed one that parses.
pub(crate) fn not_after(leaf: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// A TLS version for people: `TLS 1.3`.
pub fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_owned(),
        rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_owned(),
        rustls::ProtocolVersion::TLSv1_1 => "TLS 1.1".to_owned(),
        rustls::ProtocolVersion::TLSv1_0 => "TLS 1.0".to_owned(),
        _ => "TLS".to_owned(),
    }
}

/// Names a TLS handshake failure (an io::Error from tokio-rustls).
pub fn name_tls_error(err: &std::io::Error, server_name: &str) -> TurnFailure {
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(e) => name_rustls_error(e, server_name),
        None => super::failure::name_io_error(err),
    }
}

/// Names a rustls error: certificate problems by kind, the rest in plain
/// words (never a library type's Debug form).
pub fn name_rustls_error(err: &rustls::Error, server_name: &str) -> TurnFailure {
    let other = |detail: &str| TurnFailure::TlsOther {
        detail: detail.to_owned(),
    };
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TurnFailure::TlsUnknownCa,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TurnFailure::TlsNameMismatch {
                    server_name: server_name.to_string(),
                }
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TurnFailure::TlsExpired,
            CertificateError::Other(o) => match o.0.downcast_ref::<webpki::Error>() {
                Some(webpki::Error::CaUsedAsEndEntity) => TurnFailure::TlsCaAsServerCert,
                Some(webpki::Error::EndEntityUsedAsCa) => {
                    other("the server's chain uses a leaf certificate as a CA")
                }
                Some(webpki::Error::UnknownIssuer) => TurnFailure::TlsUnknownCa,
                Some(webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }) => {
                    TurnFailure::TlsExpired
                }
                Some(webpki::Error::CertNotValidForName(_)) => TurnFailure::TlsNameMismatch {
                    server_name: server_name.to_string(),
                },
                // webpki's own texts are its Debug names: not for people.
                _ => other("the server certificate was refused"),
            },
            CertificateError::BadEncoding => other("the server certificate is not valid DER"),
            CertificateError::Revoked => other("the server certificate is revoked"),
            CertificateError::BadSignature => {
                other("the server certificate's signature does not verify")
            }
            CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                other("the server certificate is signed with an algorithm natscope does not accept")
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                other("the server certificate is not for TLS servers (extended key usage)")
            }
            CertificateError::UnhandledCriticalExtension => {
                other("the server certificate has a critical extension natscope cannot check")
            }
            _ => other("the server certificate was refused"),
        },
        rustls::Error::AlertReceived(alert) => other(&format!(
            "the server ended the handshake with the alert {}",
            alert.as_str().unwrap_or("(unnamed)")
        )),
        rustls::Error::NoCertificatesPresented => other("the server presented no certificate"),
        rustls::Error::PeerIncompatible(_) => other(
            "no TLS version or cipher suite in common with the server (natscope offers TLS 1.2 and 1.3)",
        ),
        rustls::Error::PeerMisbehaved(_) => other("the server broke the TLS protocol"),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            other("the server did not answer with TLS (is this port plain TURN over TCP?)")
        }
        rustls::Error::DecryptError => other("a TLS record from the server did not decrypt"),
        _ => other("the TLS handshake failed"),
    }
}
