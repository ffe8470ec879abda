//! The embedded server's peer policy, which turn-server-proto lacks: a
//! CreatePermission or ChannelBind naming the unspecified address (0.0.0.0,
//! `::`, which Linux delivers to the host itself: CVE-2020-26262), a
//! multicast or broadcast address, an RFC 1918 private, link-local
//! (169.254.169.254, cloud metadata, included) or unique local address is
//! answered 403 Forbidden here, signed with the user's key, before the core
//! sees it — as a hardened coturn answers them. `natscope turn --audit`
//! found it relaying to all of them (and proved 0.0.0.0 reached the host).
//! Loopback and 100.64.0.0/10 peers stay allowed: the embedded server is a
//! loopback and lab server, its tests relay to loopback peers, and the lab
//! shows a carrier-grade NAT in 100.64.0.0/10.

use model::Secret;
use std::net::IpAddr;
use turn_server_proto::types::attribute::XorPeerAddress;
use turn_server_proto::types::message::{CHANNEL_BIND, CREATE_PERMISSION};
use turn_server_proto::types::stun::attribute::{
    Attribute, AttributeFromRaw, AttributeStaticType, ErrorCode, Software, Userhash, Username,
};
use turn_server_proto::types::stun::message::{
    LongTermKeyCredentials, Message, MessageClass, MessageIntegrityCredentials, MessageWrite,
    MessageWriteExt, MessageWriteVec,
};

/// Whether the embedded server refuses to relay to `ip`.
pub(crate) fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            a.is_unspecified()
                || a.is_multicast()
                || a.is_broadcast()
                || a.is_private()
                || a.is_link_local()
        }
        IpAddr::V6(a) => {
            let s0 = a.segments()[0];
            a.is_unspecified()
                || a.is_multicast()
                || (s0 & 0xffc0) == 0xfe80
                || (s0 & 0xfe00) == 0xfc00
                || a.to_ipv4_mapped().is_some_and(|m| forbidden(IpAddr::V4(m)))
        }
    }
}

/// The users and realm the refusals are signed for.
#[derive(Debug, Clone)]
pub(crate) struct PeerPolicy {
    pub(crate) users: Vec<(String, Secret)>,
    pub(crate) realm: String,
}

impl PeerPolicy {
    /// The signed 403 answer to `frame` when it is an authenticated
    /// CreatePermission or ChannelBind naming a [`forbidden`] peer; `None`
    /// for everything else (the core answers it).
    pub(crate) fn refusal(&self, frame: &[u8]) -> Option<Vec<u8>> {
        refusal(frame, &self.users, &self.realm)
    }
}

fn refusal(frame: &[u8], users: &[(String, Secret)], realm: &str) -> Option<Vec<u8>> {
    let msg = Message::from_bytes(frame).ok()?;
    if !msg.has_class(MessageClass::Request)
        || !(msg.method() == CREATE_PERMISSION || msg.method() == CHANNEL_BIND)
    {
        return None;
    }
    let tx = msg.transaction_id();
    // Every XOR-PEER-ADDRESS of the request (CreatePermission may carry
    // several).
    let mut any = false;
    for (_, raw) in msg.iter_attributes() {
        if raw.get_type() == XorPeerAddress::TYPE
            && let Ok(p) = XorPeerAddress::from_raw_ref(&raw)
            && forbidden(p.addr(tx).ip())
        {
            any = true;
        }
    }
    if !any {
        return None;
    }
    // The user, by USERNAME or (RFC 8489 §14.4) USERHASH.
    let (name, pass) = match msg.attribute::<Username>() {
        Ok(user) => users.iter().find(|(u, _)| u == user.username())?,
        Err(_) => {
            let hash = msg.attribute::<Userhash>().ok()?;
            users
                .iter()
                .find(|(u, _)| Userhash::compute(u, realm) == *hash.hash())?
        }
    };
    let creds: MessageIntegrityCredentials =
        LongTermKeyCredentials::new(name.clone(), pass.expose().to_string(), realm.to_string())
            .into();
    // Unauthenticated (or wrongly signed) requests are the core's to
    // challenge.
    let algorithm = msg.validate_integrity(&creds).ok()?;
    let mut reply = Message::builder_error(&msg, MessageWriteVec::new());
    let code = ErrorCode::builder(ErrorCode::FORBIDDEN)
        .reason("Forbidden IP")
        .build()
        .ok()?;
    reply.add_attribute(&code).ok()?;
    if let Ok(sw) = Software::new("natscope") {
        let _ = reply.add_attribute(&sw);
    }
    reply.add_message_integrity(&creds, algorithm).ok()?;
    reply.add_fingerprint().ok()?;
    Some(reply.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use turn_server_proto::types::stun::message::IntegrityAlgorithm;

    #[test]
    fn unspecified_multicast_private_and_link_local_are_forbidden_loopback_is_not() {
        for ip in [
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "255.255.255.255",
            "ff02::1",
            "::ffff:0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "fe80::1",
            "fd00::1",
        ] {
            assert!(forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "::1",
            "203.0.113.9",
            "2001:db8::1",
            "100.64.0.1",
        ] {
            assert!(!forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    fn request(peer: &str, user: &str, pass: &str) -> Vec<u8> {
        let mut m = Message::builder_request(CREATE_PERMISSION, MessageWriteVec::new());
        let tx = m.transaction_id();
        m.add_attribute(&XorPeerAddress::new(peer.parse().unwrap(), tx))
            .unwrap();
        m.add_attribute(&Username::new(user).unwrap()).unwrap();
        let creds: MessageIntegrityCredentials =
            LongTermKeyCredentials::new(user.into(), pass.into(), "r".into()).into();
        m.add_message_integrity(&creds, IntegrityAlgorithm::Sha1)
            .unwrap();
        m.finish()
    }

    #[test]
    fn only_authenticated_requests_naming_a_forbidden_peer_are_refused() {
        let users = vec![("alice".to_string(), Secret::new("pw"))];
        let policy = PeerPolicy {
            users,
            realm: "r".into(),
        };
        assert_eq!(policy.refusal(b"not stun"), None);
        let answer = policy
            .refusal(&request("0.0.0.0:3478", "alice", "pw"))
            .expect("0.0.0.0 is refused");
        let m = Message::from_bytes(&answer).unwrap();
        assert!(m.has_class(MessageClass::Error));
        assert_eq!(m.attribute::<ErrorCode>().unwrap().code(), 403);
        let creds: MessageIntegrityCredentials =
            LongTermKeyCredentials::new("alice".into(), "pw".into(), "r".into()).into();
        assert!(
            m.validate_integrity(&creds).is_ok(),
            "signed with the user's key"
        );
        // A peer it relays to, a wrong password, an unknown user: the core's.
        assert_eq!(
            policy.refusal(&request("127.0.0.1:3478", "alice", "pw")),
            None
        );
        assert_eq!(
            policy.refusal(&request("0.0.0.0:3478", "alice", "no")),
            None
        );
        assert_eq!(policy.refusal(&request("0.0.0.0:3478", "bob", "pw")), None);
        // USERHASH instead of USERNAME (what turn-client-proto sends).
        let mut m = Message::builder_request(CHANNEL_BIND, MessageWriteVec::new());
        let tx = m.transaction_id();
        m.add_attribute(&XorPeerAddress::new("[::]:3478".parse().unwrap(), tx))
            .unwrap();
        m.add_attribute(&Userhash::new(Userhash::compute("alice", "r")))
            .unwrap();
        m.add_message_integrity(&creds, IntegrityAlgorithm::Sha256)
            .unwrap();
        assert!(policy.refusal(&m.finish()).is_some(), "by USERHASH");
    }
}
