//! STUN message parsing + every attribute natscope reads from the network:
//! our RFC 5780 / RFC 3489 types (crates/probe/src/stun/attrs.rs) and the
//! stun-types ones the transaction layer and responder read. Both through
//! `Message::attribute::<T>()` and directly on a raw attribute value, so
//! the attribute parsers see arbitrary lengths even when the message
//! framing would reject them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stun_proto::types::attribute::{
    AttributeFromRaw, ErrorCode, RawAttribute, Software, UnknownAttributes, XorMappedAddress,
};
use stun_proto::types::message::Message;
use wire::attrs::{
    CHANGE_REQUEST, CHANGED_ADDRESS, ChangeRequest, ChangedAddress, MAPPED_ADDRESS, MappedAddress,
    OTHER_ADDRESS, OtherAddress, PADDING, Padding, RESPONSE_ORIGIN, RESPONSE_PORT, ResponseOrigin,
    ResponsePort, SOURCE_ADDRESS, SourceAddress,
};

fuzz_target!(|data: &[u8]| {
    // 1. The whole datagram as a STUN message.
    if let Ok(msg) = Message::from_bytes(data) {
        let tid = msg.transaction_id();
        let _ = msg.attribute::<MappedAddress>().map(|a| a.addr());
        let _ = msg.attribute::<OtherAddress>().map(|a| a.addr());
        let _ = msg.attribute::<ResponseOrigin>().map(|a| a.addr());
        let _ = msg.attribute::<ChangedAddress>().map(|a| a.addr());
        let _ = msg.attribute::<SourceAddress>().map(|a| a.addr());
        let _ = msg.attribute::<ChangeRequest>();
        let _ = msg.attribute::<ResponsePort>().map(|a| a.port());
        let _ = msg.attribute::<Padding>().map(|a| a.len());
        let _ = msg.attribute::<XorMappedAddress>().map(|a| a.addr(tid));
        let _ = msg.attribute::<Software>().map(|s| s.software().len());
        let _ = msg
            .attribute::<ErrorCode>()
            .map(|e| (e.code(), e.reason().len()));
        let _ = msg.attribute::<UnknownAttributes>();
        // Display of every attribute (what -vvv logs).
        for (_, raw) in msg.iter_attributes() {
            let _ = raw.to_string();
        }
        let _ = msg.to_string();
    }

    // 2. The input as one attribute value of each of our types.
    if let Some((&selector, value)) = data.split_first() {
        let atype = match selector % 8 {
            0 => MAPPED_ADDRESS,
            1 => OTHER_ADDRESS,
            2 => RESPONSE_ORIGIN,
            3 => CHANGED_ADDRESS,
            4 => SOURCE_ADDRESS,
            5 => CHANGE_REQUEST,
            6 => RESPONSE_PORT,
            _ => PADDING,
        };
        let raw = RawAttribute::new(atype, value);
        let _ = MappedAddress::from_raw_ref(&raw);
        let _ = OtherAddress::from_raw_ref(&raw);
        let _ = ResponseOrigin::from_raw_ref(&raw);
        let _ = ChangedAddress::from_raw_ref(&raw);
        let _ = SourceAddress::from_raw_ref(&raw);
        let _ = ChangeRequest::from_raw_ref(&raw);
        let _ = ResponsePort::from_raw_ref(&raw);
        let _ = Padding::from_raw_ref(&raw);
    }
});
