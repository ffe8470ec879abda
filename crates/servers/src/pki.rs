//! The run's PKI: a private CA and a server certificate it signs, generated
//! for each run of the embedded TURN server (`natscope diagnose --lab`) and
//! for the netns lab's coturn. Clients trust it with `--ca` (the CA's PEM).

use rustls::pki_types::CertificateDer;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;

/// Errors generating certificates or a server configuration.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen could not generate a key or certificate.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("TLS server configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A private CA and a server certificate signed by it.
#[derive(Clone)]
pub struct Pki {
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

/// Never prints the key.
impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

/// The validity window of a [`Pki`] server certificate: test support, to
/// provoke an expired or not yet valid certificate.
#[cfg(feature = "test-support")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CertValidity {
    /// rcgen's default window, which includes now.
    #[default]
    Current,
    /// Valid during 2020 only: expired.
    Expired,
    /// Valid from 2090 on: not yet valid.
    NotYetValid,
}

impl Pki {
    /// Generates a CA and a server certificate valid for `names` (DNS names
    /// or IP literals), valid now.
    pub fn generate(names: &[&str]) -> Result<Pki, PkiError> {
        Pki::generate_inner(names, |_| {})
    }

    /// Like [`Pki::generate`], with the server certificate's validity window
    /// chosen by `validity` (the CA stays valid, so only the leaf's dates
    /// can fail verification).
    #[cfg(feature = "test-support")]
    pub fn generate_with_validity(names: &[&str], validity: CertValidity) -> Result<Pki, PkiError> {
        Pki::generate_inner(names, |leaf| match validity {
            CertValidity::Current => {}
            CertValidity::Expired => {
                leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
                leaf.not_after = rcgen::date_time_ymd(2020, 12, 31);
            }
            CertValidity::NotYetValid => {
                leaf.not_before = rcgen::date_time_ymd(2090, 1, 1);
                leaf.not_after = rcgen::date_time_ymd(2091, 1, 1);
            }
        })
    }

    /// Like [`Pki::generate`], but the server certificate carries
    /// basicConstraints CA:TRUE (what `openssl req -x509` makes by default):
    /// clients refuse it as a server certificate even though its issuer is
    /// trusted. Test support.
    #[cfg(feature = "test-support")]
    pub fn generate_ca_flagged_leaf(names: &[&str]) -> Result<Pki, PkiError> {
        Pki::generate_inner(names, |leaf| {
            leaf.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        })
    }

    /// A PKI from PEM text made elsewhere (e.g. by `openssl`): `ca_pem` is
    /// what clients trust, `chain_pem` the chain served (leaf first; for a
    /// self-signed certificate both are the same one), `key_pem` the
    /// server's private key (PKCS#8).
    pub fn from_pem(ca_pem: &str, chain_pem: &str, key_pem: &str) -> Result<Pki, PkiError> {
        let certs = |pem: &str| -> Result<Vec<CertificateDer<'static>>, PkiError> {
            let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| rustls::Error::General(format!("certificate PEM: {e}")))?;
            if certs.is_empty() {
                return Err(rustls::Error::General("no certificate in the PEM text".into()).into());
            }
            Ok(certs)
        };
        let ca_der = certs(ca_pem)?.swap_remove(0);
        Ok(Pki {
            ca_pem: ca_pem.to_owned(),
            ca_der,
            chain_pem: chain_pem.to_owned(),
            chain_der: certs(chain_pem)?,
            key_pem: key_pem.to_owned(),
        })
    }

    /// Like [`Pki::generate`], but the server key is `leaf_key_pem`
    /// (PKCS#8 PEM; e.g. an RSA key from `openssl genpkey`, which the ring
    /// provider can sign with but not generate). Test support.
    #[cfg(feature = "test-support")]
    pub fn generate_with_leaf_key(names: &[&str], leaf_key_pem: &str) -> Result<Pki, PkiError> {
        let key = rcgen::KeyPair::from_pem(leaf_key_pem)?;
        Pki::generate_keyed(names, |_| {}, key)
    }

    fn generate_inner(
        names: &[&str],
        adjust_leaf: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> Result<Pki, PkiError> {
        Pki::generate_keyed(names, adjust_leaf, rcgen::KeyPair::generate()?)
    }

    fn generate_keyed(
        names: &[&str],
        adjust_leaf: impl FnOnce(&mut rcgen::CertificateParams),
        leaf_key: rcgen::KeyPair,
    ) -> Result<Pki, PkiError> {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "natscope test CA");
        let ca_key = rcgen::KeyPair::generate()?;
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;
        let mut leaf_params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        adjust_leaf(&mut leaf_params);
        let leaf = leaf_params.signed_by(&leaf_key, &ca)?;
        Ok(Pki {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            chain_pem: format!("{}{}", leaf.pem(), ca.pem()),
            chain_der: vec![leaf.der().clone(), ca.der().clone()],
            key_pem: leaf_key.serialize_pem(),
        })
    }

    /// A rustls server configuration serving this chain (ring provider).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(self.chain_der.clone(), key)?;
        Ok(Arc::new(cfg))
    }
}
