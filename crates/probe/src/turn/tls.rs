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
    let config = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(root_store(opts)?)
            .with_no_client_auth()
    };
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

/// A certificate verifier (chain to `opts`' roots, validity, name) on the
/// ring provider; what DTLS uses on the leaf dimpl hands over.
pub(crate) fn server_verifier(
    opts: &TlsOptions,
) -> Result<Arc<rustls::client::WebPkiServerVerifier>, TlsSetupError> {
    rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(root_store(opts)?),
        provider(),
    )
    .build()
    .map_err(|e| TlsSetupError::Rustls(rustls::Error::General(e.to_string())))
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
            "no TLS version or cipher suite in common with the server (natscope offers TLS 1.2              and 1.3)",
        ),
        rustls::Error::PeerMisbehaved(_) => other("the server broke the TLS protocol"),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            other("the server did not answer with TLS (is this port plain TURN over TCP?)")
        }
        rustls::Error::DecryptError => other("a TLS record from the server did not decrypt"),
        _ => other("the TLS handshake failed"),
    }
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
