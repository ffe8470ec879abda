//! Input the dependencies cannot take: checked here, once, before a
//! message reaches them.
//!
//! stun-proto 2.0.4 panics on one NONCE shape. Its long-term credential
//! code (`NonceSecurityBits::from_nonce`, run by the client on every 401 /
//! 438 a TURN server sends and by turn-server-proto on every request a
//! client signs) slices the NONCE as a string at byte 4 after the RFC 8489
//! "nonce cookie" (`obMatJos2`); when that byte is inside a multi-byte
//! UTF-8 character the slice panics. A hostile TURN server (or, for the
//! embedded server, any client) could end natscope with one datagram. Found
//! by the `turn_client` fuzz target (seed
//! `fixtures/fuzz/turn_client/regression-nonce-cookie-split-char.bin`).
//! Every place that hands a server's or client's bytes to stun-proto's
//! long-term authentication (the TURN probe's session, the ICE agent, the
//! embedded TURN server) drops such a message instead: it is malformed
//! anyway (the security bits after the cookie are base64, RFC 8489 §9.2).

/// The RFC 8489 §9.2 nonce cookie.
const NONCE_COOKIE: &[u8] = b"obMatJos2";
/// NONCE (RFC 8489 §14.10).
const NONCE: u16 = 0x0015;

/// False when `msg` is a STUN message (magic cookie) carrying a NONCE that
/// starts with the nonce cookie and whose byte at index 4 after it (the
/// 5th) is inside a UTF-8 character: what stun-proto 2.0.4 panics on. True for everything
/// else (including what is not STUN at all: ChannelData, garbage).
pub fn stun_proto_can_take(msg: &[u8]) -> bool {
    if !crate::has_magic_cookie(msg) {
        return true;
    }
    let mut at = crate::HEADER_LEN;
    while let Some(hdr) = msg.get(at..at + 4) {
        let t = u16::from_be_bytes([hdr[0], hdr[1]]);
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        let Some(value) = msg.get(at + 4..at + 4 + len) else {
            return true;
        };
        if t == NONCE
            && let Some(security) = value.strip_prefix(NONCE_COOKIE)
            && security.get(4).is_some_and(|b| b & 0xc0 == 0x80)
        {
            return false;
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_nonce(nonce: &[u8]) -> Vec<u8> {
        let mut m = vec![0x01, 0x13, 0, 0, 0x21, 0x12, 0xa4, 0x42];
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&NONCE.to_be_bytes());
        m.extend_from_slice(&(nonce.len() as u16).to_be_bytes());
        m.extend_from_slice(nonce);
        m.resize(m.len().div_ceil(4) * 4, 0);
        let len = (m.len() - 20) as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m
    }

    #[test]
    fn a_character_across_the_security_bits_is_refused() {
        // 'Ğ' (2 bytes) at 3..5 after the cookie: byte 4 is inside it.
        assert!(!stun_proto_can_take(&with_nonce(
            "obMatJos2AAAĞdl7W".as_bytes()
        )));
        assert!(!stun_proto_can_take(&with_nonce(
            "obMatJos2`AAĞd".as_bytes()
        )));
    }

    #[test]
    fn ordinary_nonces_and_other_input_pass() {
        assert!(stun_proto_can_take(&with_nonce(
            b"obMatJos2AAAAdl7W7PeDU4hKE72jda"
        )));
        assert!(stun_proto_can_take(&with_nonce(
            "obMatJosĞ2AAAA".as_bytes()
        )));
        assert!(stun_proto_can_take(&with_nonce(
            "obMatJos2ĞĞ".as_bytes()[..13].as_ref()
        )));
        assert!(stun_proto_can_take(&with_nonce(b"plain-nonce")));
        assert!(stun_proto_can_take(b"\x40\x00\x00\x04abcd"));
        assert!(stun_proto_can_take(b""));
    }

    /// The guard refuses exactly the NONCEs on which stun-proto 2.0.4's
    /// slice (`&security[..4]` after the cookie, `NonceSecurityBits::
    /// from_nonce`) panics. The real panic, through turn-client-proto, is
    /// proved by the probe's hostile TURN server test.
    #[test]
    fn matches_stun_proto() {
        use stun_proto::types::attribute::Nonce;
        use stun_proto::types::message::Message;
        for (nonce, refused) in [
            ("obMatJos2`AAĞdl7W", true),
            ("obMatJos2AAAĞdl7W", true),
            ("obMatJos2AAĞdl7W", false),
            ("obMatJos2AAAAdl7W", false),
            ("obMatJos2ĞAAAdl7W", false),
            ("obMatJos2AĞAAdl7W", false),
        ] {
            let m = with_nonce(nonce.as_bytes());
            let msg = Message::from_bytes(&m).expect("a whole message");
            let n: Nonce = msg.attribute().expect("a NONCE");
            assert_eq!(n.nonce(), nonce);
            assert_eq!(stun_proto_can_take(&m), !refused, "{nonce}");
            // What stun-proto 2.0.4 does with it (NonceSecurityBits::from_nonce):
            let s = n.nonce().strip_prefix("obMatJos2").expect("cookie");
            let panics = std::panic::catch_unwind(|| s.len() >= 4 && s[..4].is_empty()).is_err();
            // (is_empty is never true: only whether the slice panics counts.)
            assert_eq!(panics, refused, "{nonce}");
        }
    }
}
