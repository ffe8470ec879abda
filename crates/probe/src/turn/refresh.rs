//! natscope's own authenticated Refresh: turn-client-proto refreshes only
//! near expiry and exposes no refresh call, so the `refresh` stage and the
//! retry of a deleting Refresh answered 438 build theirs here.

use super::creds::ResolvedCredentials;
use super::tap::Signing;
use turn_client_proto::types::attribute::Lifetime;
use turn_client_proto::types::message::REFRESH;
use turn_client_proto::types::stun::attribute::{
    Nonce, PasswordAlgorithm, PasswordAlgorithms, Realm, Userhash, Username,
};
use turn_client_proto::types::stun::message::{
    IntegrityAlgorithm, LongTermCredentials, Message, MessageWrite, MessageWriteExt,
    MessageWriteVec, StunWriteError, TransactionId,
};

/// RFC 8656 §3.2: the default allocation lifetime, asked for when the server
/// did not say what it granted.
pub(super) const DEFAULT_LIFETIME_SECS: u32 = 600;

/// An authenticated Refresh (long-term credentials signed the way the client
/// signs: USERNAME or USERHASH, MESSAGE-INTEGRITY or -SHA256, plus
/// FINGERPRINT) asking for `lifetime` seconds; also its transaction id.
pub(super) fn build_refresh(
    creds: &ResolvedCredentials,
    realm: &str,
    nonce: &str,
    signing: &Signing,
    lifetime: u32,
) -> Result<(Vec<u8>, TransactionId), StunWriteError> {
    let mut b = Message::builder_request(REFRESH, MessageWriteVec::new());
    let tx = b.transaction_id();
    b.add_attribute(&Lifetime::new(lifetime))?;
    b.add_attribute(&Nonce::new(nonce)?)?;
    b.add_attribute(&Realm::new(realm)?)?;
    match &signing.userhash {
        Some(hash) => b.add_attribute(&Userhash::new(*hash))?,
        None => b.add_attribute(&Username::new(&creds.username)?)?,
    }
    if let Some(algos) = &signing.password_algorithms {
        b.add_attribute(&PasswordAlgorithms::new(algos))?;
    }
    if let Some(algo) = signing.password_algorithm {
        b.add_attribute(&PasswordAlgorithm::new(algo))?;
    }
    let algorithm = if signing.sha256 {
        IntegrityAlgorithm::Sha256
    } else {
        IntegrityAlgorithm::Sha1
    };
    let key = LongTermCredentials::new(creds.username.clone(), creds.password.expose().to_string())
        .to_key(realm.to_string());
    b.add_message_integrity(&key.into(), algorithm)?;
    b.add_fingerprint()?;
    Ok((b.finish(), tx))
}
