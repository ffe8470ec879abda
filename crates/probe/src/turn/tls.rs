//! TLS for `turns:`: client configuration (system roots, `--ca`, or
//! `--insecure`), naming certificate problems, and certificates for the
//! embedded test server. rustls with the `ring` provider only.

use super::stages::TurnFailure;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
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
    /// Certificate generation failed (test server).
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
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

/// Names a TLS handshake failure (an io::Error from tokio-rustls).
pub fn name_tls_error(err: &std::io::Error, server_name: &str) -> TurnFailure {
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(e) => name_rustls_error(e, server_name),
        None => super::client::name_io_error(err),
    }
}

/// Names a rustls error (certificate problems by kind, the rest as
/// `TlsOther`).
pub fn name_rustls_error(err: &rustls::Error, server_name: &str) -> TurnFailure {
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
            other => TurnFailure::TlsOther {
                detail: format!("invalid certificate: {other:?}"),
            },
        },
        other => TurnFailure::TlsOther {
            detail: other.to_string(),
        },
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

/// A private CA and a server certificate signed by it (for test servers).
#[derive(Clone)]
pub struct TestPki {
    /// The CA certificate, PEM (what a client passes as `--ca`).
    pub ca_pem: String,
    /// The CA certificate, DER.
    pub ca_der: CertificateDer<'static>,
    /// The server certificate chain, PEM (leaf then CA).
    pub chain_pem: String,
    /// The server certificate chain, DER (leaf then CA).
    pub chain_der: Vec<CertificateDer<'static>>,
    /// The server private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

/// The validity window of a [`TestPki`] server certificate (test support:
/// provoking `tls_expired` needs a certificate outside its window).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TestCertValidity {
    /// rcgen's default window, which includes now.
    #[default]
    Current,
    /// Valid during 2020 only: expired.
    Expired,
    /// Valid from 2090 on: not yet valid.
    NotYetValid,
}

impl TestPki {
    /// Generates a CA and a server certificate valid for `names` (DNS names
    /// or IP literals).
    pub fn generate(names: &[&str]) -> Result<Self, TlsSetupError> {
        Self::generate_with_validity(names, TestCertValidity::Current)
    }

    /// Like [`Self::generate`], with the server certificate's validity
    /// window chosen by `validity` (the CA stays valid, so only the leaf's
    /// dates can fail verification).
    pub fn generate_with_validity(
        names: &[&str],
        validity: TestCertValidity,
    ) -> Result<Self, TlsSetupError> {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "natscope test CA");
        let ca_key = rcgen::KeyPair::generate()?;
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;
        let mut leaf_params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        match validity {
            TestCertValidity::Current => {}
            TestCertValidity::Expired => {
                leaf_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                leaf_params.not_after = rcgen::date_time_ymd(2020, 12, 31);
            }
            TestCertValidity::NotYetValid => {
                leaf_params.not_before = rcgen::date_time_ymd(2090, 1, 1);
                leaf_params.not_after = rcgen::date_time_ymd(2091, 1, 1);
            }
        }
        let leaf_key = rcgen::KeyPair::generate()?;
        let leaf = leaf_params.signed_by(&leaf_key, &ca)?;
        Ok(Self {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            chain_pem: format!("{}{}", leaf.pem(), ca.pem()),
            chain_der: vec![leaf.der().clone(), ca.der().clone()],
            key_pem: leaf_key.serialize_pem(),
        })
    }

    /// A rustls server configuration serving this chain.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        let cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain_der.clone(), key)?;
        Ok(Arc::new(cfg))
    }
}
