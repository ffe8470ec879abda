//! str0m's crypto provider for natscope: DTLS from dimpl with its RustCrypto
//! backend, hashes/HMAC/AES-GCM from ring, AES-CM (SRTP) from the `aes`
//! block cipher. No aws-lc-rs, no OpenSSL.
//!
//! Why our own: str0m 0.25's `rust-crypto` feature needs
//! `str0m-rust-crypto` 0.7, which our registry does not carry, and
//! `str0m-rust-crypto` 0.6 (for str0m 0.24) enables dimpl's `rcgen`
//! feature, which pulls aws-lc-rs. This module follows the structure of
//! `str0m-rust-crypto` 0.6 (MIT OR Apache-2.0) with the DTLS certificate
//! made by rcgen on ring. Only the data channel (DTLS + SCTP) is used by
//! natscope; the SRTP ciphers are complete so str0m's contract holds.

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use dimpl09 as dimpl;
use ring::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use std::sync::Arc;
use std::time::Instant;
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
};
use str0m::crypto::{
    AeadAes128GcmCipher, AeadAes256GcmCipher, Aes128CmSha1_80Cipher, CryptoError, CryptoProvider,
    Sha1HmacProvider, Sha1Provider, Sha256Provider, SrtpProvider, SupportedAeadAes128Gcm,
    SupportedAeadAes256Gcm, SupportedAes128CmSha1_80,
};

/// The provider: every part is a static, as str0m requires.
pub(crate) fn provider() -> CryptoProvider {
    static SRTP: Srtp = Srtp;
    static SHA1_HMAC: Hashes = Hashes;
    static SHA1: Hashes = Hashes;
    static SHA256: Hashes = Hashes;
    static DTLS: Dtls = Dtls;
    CryptoProvider {
        srtp_provider: &SRTP,
        sha1_hmac_provider: &SHA1_HMAC,
        sha1_provider: &SHA1,
        sha256_provider: &SHA256,
        dtls_provider: &DTLS,
    }
}

/// SHA-1, HMAC-SHA1 and SHA-256 from ring.
#[derive(Debug)]
struct Hashes;

impl Sha1HmacProvider for Hashes {
    fn sha1_hmac(&self, key: &[u8], payloads: &[&[u8]]) -> [u8; 20] {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
        let mut ctx = ring::hmac::Context::with_key(&key);
        for p in payloads {
            ctx.update(p);
        }
        let mut out = [0u8; 20];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}

impl Sha1Provider for Hashes {
    fn sha1(&self, data: &[u8]) -> [u8; 20] {
        let mut out = [0u8; 20];
        out.copy_from_slice(
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref(),
        );
        out
    }
}

impl Sha256Provider for Hashes {
    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
        out
    }
}

/// DTLS: dimpl (RustCrypto backend), certificate from rcgen (ring).
#[derive(Debug)]
struct Dtls;

impl DtlsProvider for Dtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).ok()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).ok()?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "natscope WebRTC peer");
        params.distinguished_name = dn;
        params.is_ca = rcgen::IsCa::NoCa;
        // A unique serial per certificate (browsers reject repeats).
        let mut serial = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial).ok()?;
        serial[0] &= 0x7f;
        params.serial_number = Some(serial.to_vec().into());
        let cert = params.self_signed(&key).ok()?;
        Some(DtlsCert {
            certificate: cert.der().to_vec(),
            private_key: key.serialize_der(),
        })
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        // ICE verified return routability before DTLS: no server cookie.
        let mut builder = dimpl::Config::builder()
            .use_server_cookie(false)
            .with_crypto_provider(dimpl::crypto::rust_crypto::default_provider());
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        let config = Arc::new(
            builder
                .build()
                .map_err(|e| CryptoError::Other(format!("dimpl config: {e}")))?,
        );
        let cert = cert.clone();
        let dtls = match dtls_version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert, now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert, now),
            other => {
                return Err(CryptoError::Other(format!(
                    "unsupported DTLS version: {other}"
                )));
            }
        };
        Ok(Box::new(DtlsConn(dtls)))
    }
}

/// One dimpl DTLS endpoint.
struct DtlsConn(dimpl::Dtls);

impl std::fmt::Debug for DtlsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DtlsConn")
    }
}

impl DtlsInstance for DtlsConn {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }
    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }
    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }
    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }
    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }
    fn is_active(&self) -> bool {
        self.0.is_active()
    }
    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }
    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }
    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}

/// SRTP ciphers.
#[derive(Debug)]
struct Srtp;

/// AES-128 in counter mode (RFC 3711 AES-CM): keystream = AES(iv + i).
struct AesCm(aes::Aes128);

impl std::fmt::Debug for AesCm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesCm")
    }
}

impl Aes128CmSha1_80Cipher for AesCm {
    fn encrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        let out = output
            .get_mut(..input.len())
            .ok_or_else(|| CryptoError::Other("AES-CM: output too short".into()))?;
        let mut counter = u128::from_be_bytes(*iv);
        for (inp, outp) in input.chunks(16).zip(out.chunks_mut(16)) {
            let mut block = aes::Block::from(counter.to_be_bytes());
            self.0.encrypt_block(&mut block);
            for ((o, i), k) in outp.iter_mut().zip(inp).zip(block.iter()) {
                *o = i ^ k;
            }
            counter = counter.wrapping_add(1);
        }
        Ok(())
    }

    fn decrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.encrypt(iv, input, output)
    }
}

/// AES-GCM (ring), 128 or 256 bit.
struct Gcm(LessSafeKey);

impl std::fmt::Debug for Gcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gcm")
    }
}

impl Gcm {
    const TAG_LEN: usize = 16;

    fn seal(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        let out = output
            .get_mut(..input.len() + Self::TAG_LEN)
            .ok_or_else(|| CryptoError::Other("AES-GCM: output too short".into()))?;
        let (body, tag_out) = out.split_at_mut(input.len());
        body.copy_from_slice(input);
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), body)
            .map_err(|_| CryptoError::Other("AES-GCM encrypt failed".into()))?;
        tag_out.copy_from_slice(tag.as_ref());
        Ok(())
    }

    fn open(
        &self,
        iv: &[u8; 12],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        if input.len() < Self::TAG_LEN {
            return Err(CryptoError::Other(
                "AES-GCM: input shorter than the tag".into(),
            ));
        }
        let aad = aads.concat();
        let mut buf = input.to_vec();
        let plain = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(*iv),
                Aad::from(&aad[..]),
                &mut buf,
            )
            .map_err(|_| CryptoError::Other("AES-GCM decrypt failed".into()))?;
        let n = plain.len();
        output
            .get_mut(..n)
            .ok_or_else(|| CryptoError::Other("AES-GCM: output too short".into()))?
            .copy_from_slice(plain);
        Ok(n)
    }
}

impl AeadAes128GcmCipher for Gcm {
    fn encrypt(
        &mut self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.seal(iv, aad, input, output)
    }
    fn decrypt(
        &mut self,
        iv: &[u8; 12],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        self.open(iv, aads, input, output)
    }
}

impl AeadAes256GcmCipher for Gcm {
    fn encrypt(
        &mut self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.seal(iv, aad, input, output)
    }
    fn decrypt(
        &mut self,
        iv: &[u8; 12],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        self.open(iv, aads, input, output)
    }
}

/// Factory for the three SRTP profiles.
#[derive(Debug)]
struct SrtpFactory;

impl SupportedAes128CmSha1_80 for SrtpFactory {
    fn create_cipher(&self, key: [u8; 16], _encrypt: bool) -> Box<dyn Aes128CmSha1_80Cipher> {
        Box::new(AesCm(aes::Aes128::new(&key.into())))
    }
}

impl SupportedAeadAes128Gcm for SrtpFactory {
    fn create_cipher(&self, key: [u8; 16], _encrypt: bool) -> Box<dyn AeadAes128GcmCipher> {
        // Invariant: a 16-byte key is exactly AES-128-GCM's key length.
        let k = UnboundKey::new(&AES_128_GCM, &key).expect("16-byte key for AES-128-GCM");
        Box::new(Gcm(LessSafeKey::new(k)))
    }
}

impl SupportedAeadAes256Gcm for SrtpFactory {
    fn create_cipher(&self, key: [u8; 32], _encrypt: bool) -> Box<dyn AeadAes256GcmCipher> {
        // Invariant: a 32-byte key is exactly AES-256-GCM's key length.
        let k = UnboundKey::new(&AES_256_GCM, &key).expect("32-byte key for AES-256-GCM");
        Box::new(Gcm(LessSafeKey::new(k)))
    }
}

/// AES-ECB of `input` then of a full padding block, as str0m's SRTP key
/// derivation expects (OpenSSL-style ECB with PKCS#7 padding: 32 bytes).
fn ecb_round<C>(cipher: &C, input: &[u8], output: &mut [u8])
where
    C: BlockCipherEncrypt + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>,
{
    let (Some(inp), Some(out)) = (input.get(..16), output.get_mut(..32)) else {
        return;
    };
    let mut b1 = aes::Block::default();
    b1.copy_from_slice(inp);
    cipher.encrypt_block(&mut b1);
    out[..16].copy_from_slice(&b1);
    let mut b2 = aes::Block::from([0x10u8; 16]);
    cipher.encrypt_block(&mut b2);
    out[16..].copy_from_slice(&b2);
}

impl SrtpProvider for Srtp {
    fn aes_128_cm_sha1_80(&self) -> &'static dyn SupportedAes128CmSha1_80 {
        &SrtpFactory
    }
    fn aead_aes_128_gcm(&self) -> &'static dyn SupportedAeadAes128Gcm {
        &SrtpFactory
    }
    fn aead_aes_256_gcm(&self) -> &'static dyn SupportedAeadAes256Gcm {
        &SrtpFactory
    }
    fn srtp_aes_128_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        if let Ok(c) = aes::Aes128::new_from_slice(key) {
            ecb_round(&c, input, output);
        }
    }
    fn srtp_aes_256_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        if let Ok(c) = aes::Aes256::new_from_slice(key) {
            ecb_round(&c, input, output);
        }
    }
}
