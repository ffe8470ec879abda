//! Byte-vector tests: the RFC 5769 test vectors and natscope's RFC 5780
//! attribute vectors in fixtures/stun/, parsed with stun-types and our
//! attribute types (see fixtures/stun/README.md for their provenance).

use std::net::SocketAddr;
use std::path::PathBuf;

use probe::stun::transaction::{ResponseClass, parse_response};
use probe::stun::types::attribute::{
    Fingerprint, Nonce, Realm, Software, Username, XorMappedAddress,
};
use probe::stun::types::message::{
    BINDING, IntegrityAlgorithm, LongTermKeyCredentials, Message, MessageClass,
    MessageIntegrityCredentials, MessageType, MessageWrite, MessageWriteExt, MessageWriteVec,
    ShortTermCredentials, TransactionId,
};
use probe::stun::types::prelude::*;
use wire::attrs::{
    ChangeRequest, MappedAddress, OtherAddress, Padding, ResponseOrigin, ResponsePort,
};

const RFC5769_TID: u128 = 0xb7e7_a701_bc34_d686_fa87_dfae;
const RFC5769_PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/stun")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn short_term() -> MessageIntegrityCredentials {
    ShortTermCredentials::new(RFC5769_PASSWORD.to_owned()).into()
}

#[test]
fn rfc5769_sample_request() {
    let data = fixture("rfc5769-sample-request.bin");
    let msg = Message::from_bytes(&data).expect("parses, FINGERPRINT valid");
    assert!(msg.has_class(MessageClass::Request));
    assert!(msg.has_method(BINDING));
    assert_eq!(msg.transaction_id(), TransactionId::from(RFC5769_TID));
    assert_eq!(
        msg.attribute::<Software>().expect("SOFTWARE").software(),
        "STUN test client"
    );
    assert_eq!(
        msg.attribute::<Username>().expect("USERNAME").username(),
        "evtj:h6vY"
    );
    assert!(msg.has_attribute(Fingerprint::TYPE));
    assert!(matches!(
        msg.validate_integrity(&short_term()),
        Ok(IntegrityAlgorithm::Sha1)
    ));
    // A wrong password must fail.
    let wrong: MessageIntegrityCredentials = ShortTermCredentials::new("wrong".to_owned()).into();
    assert!(msg.validate_integrity(&wrong).is_err());
}

#[test]
fn rfc5769_ipv4_response() {
    let data = fixture("rfc5769-ipv4-response.bin");
    let msg = Message::from_bytes(&data).expect("parses, FINGERPRINT valid");
    assert!(msg.has_class(MessageClass::Success));
    assert!(msg.has_attribute(Fingerprint::TYPE));
    let xor = msg
        .attribute::<XorMappedAddress>()
        .expect("XOR-MAPPED-ADDRESS");
    let expected: SocketAddr = "192.0.2.1:32853".parse().expect("literal");
    assert_eq!(xor.addr(msg.transaction_id()), expected);
    assert!(matches!(
        msg.validate_integrity(&short_term()),
        Ok(IntegrityAlgorithm::Sha1)
    ));
    // Our one response parser agrees.
    let parsed = parse_response(&data).expect("response");
    assert_eq!(parsed.class, ResponseClass::Success);
    assert_eq!(parsed.xor_mapped, Some(expected));
    assert_eq!(parsed.software.as_deref(), Some("test vector"));
    assert_eq!(parsed.mapped_address, None);
    assert_eq!(parsed.error, None);
}

#[test]
fn rfc5769_ipv6_response() {
    let data = fixture("rfc5769-ipv6-response.bin");
    let msg = Message::from_bytes(&data).expect("parses, FINGERPRINT valid");
    assert!(msg.has_class(MessageClass::Success));
    let expected: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
        .parse()
        .expect("literal");
    assert_eq!(
        msg.attribute::<XorMappedAddress>()
            .expect("XOR-MAPPED-ADDRESS")
            .addr(msg.transaction_id()),
        expected
    );
    assert_eq!(
        msg.attribute::<Software>().expect("SOFTWARE").software(),
        "test vector"
    );
    assert!(matches!(
        msg.validate_integrity(&short_term()),
        Ok(IntegrityAlgorithm::Sha1)
    ));
    assert_eq!(
        parse_response(&data).expect("response").xor_mapped,
        Some(expected)
    );
}

#[test]
fn rfc5769_long_term_request() {
    let data = fixture("rfc5769-long-term-request.bin");
    let msg = Message::from_bytes(&data).expect("parses");
    assert!(msg.has_class(MessageClass::Request));
    assert_eq!(
        msg.transaction_id(),
        TransactionId::from(0x78ad_3433_c6ad_72c0_29da_412e_u128)
    );
    let username = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
    assert_eq!(
        msg.attribute::<Username>().expect("USERNAME").username(),
        username
    );
    assert_eq!(
        msg.attribute::<Nonce>().expect("NONCE").nonce(),
        "f//499k954d6OL34oL9FSTvy64sA"
    );
    assert_eq!(
        msg.attribute::<Realm>().expect("REALM").realm(),
        "example.org"
    );
    // "The\u{00AD}M\u{00AA}tr\u{2168}" after SASLprep.
    let creds: MessageIntegrityCredentials = LongTermKeyCredentials::new(
        username.to_owned(),
        "TheMatrIX".to_owned(),
        "example.org".to_owned(),
    )
    .into();
    assert!(matches!(
        msg.validate_integrity(&creds),
        Ok(IntegrityAlgorithm::Sha1)
    ));
}

#[test]
fn rfc5769_corrupted_fingerprint_is_rejected() {
    let mut data = fixture("rfc5769-ipv4-response.bin");
    let last = data.len() - 1;
    data[last] ^= 0xff;
    assert!(Message::from_bytes(&data).is_err());
    assert!(parse_response(&data).is_err());
}

#[test]
fn rfc5780_request_vector() {
    let data = fixture("rfc5780-request.bin");
    let msg = Message::from_bytes(&data).expect("parses");
    assert!(msg.has_class(MessageClass::Request));
    let change = msg.attribute::<ChangeRequest>().expect("CHANGE-REQUEST");
    assert_eq!(change, ChangeRequest::new(true, true));
    let port = msg.attribute::<ResponsePort>().expect("RESPONSE-PORT");
    assert_eq!(port.port(), 50000);
    let padding = msg.attribute::<Padding>().expect("PADDING");
    assert_eq!(padding.len(), 8);

    // Re-encode with our attribute types: bit-identical.
    let mut b = Message::builder(
        MessageType::from_class_method(MessageClass::Request, BINDING),
        msg.transaction_id(),
        MessageWriteVec::new(),
    );
    b.add_attribute(&change).expect("add");
    b.add_attribute(&port).expect("add");
    b.add_attribute(&padding).expect("add");
    assert_eq!(b.finish(), data);
}

#[test]
fn rfc5780_response_vector() {
    let data = fixture("rfc5780-response.bin");
    let msg = Message::from_bytes(&data).expect("parses");
    assert!(msg.has_class(MessageClass::Success));
    let mapped: SocketAddr = "192.0.2.1:32853".parse().expect("literal");
    let origin: SocketAddr = "198.51.100.1:3478".parse().expect("literal");
    let other: SocketAddr = "198.51.100.2:3479".parse().expect("literal");
    let tid = msg.transaction_id();
    let xor = msg
        .attribute::<XorMappedAddress>()
        .expect("XOR-MAPPED-ADDRESS");
    assert_eq!(xor.addr(tid), mapped);
    let m = msg.attribute::<MappedAddress>().expect("MAPPED-ADDRESS");
    assert_eq!(m.addr(), mapped);
    let ro = msg.attribute::<ResponseOrigin>().expect("RESPONSE-ORIGIN");
    assert_eq!(ro.addr(), origin);
    let oa = msg.attribute::<OtherAddress>().expect("OTHER-ADDRESS");
    assert_eq!(oa.addr(), other);

    let parsed = parse_response(&data).expect("response");
    assert_eq!(parsed.xor_mapped, Some(mapped));
    assert_eq!(parsed.mapped_address, Some(mapped));
    assert_eq!(parsed.response_origin, Some(origin));
    assert_eq!(parsed.other_address, Some(other));

    let mut b = Message::builder(
        MessageType::from_class_method(MessageClass::Success, BINDING),
        tid,
        MessageWriteVec::new(),
    );
    b.add_attribute(&XorMappedAddress::new(mapped, tid))
        .expect("add");
    b.add_attribute(&MappedAddress(mapped)).expect("add");
    b.add_attribute(&ResponseOrigin(origin)).expect("add");
    b.add_attribute(&OtherAddress(other)).expect("add");
    assert_eq!(b.finish(), data);
}
