//! The STUN attributes natscope needs that `stun-types` does not type:
//! RFC 5780 (CHANGE-REQUEST, RESPONSE-PORT, PADDING, OTHER-ADDRESS,
//! RESPONSE-ORIGIN) and RFC 3489's MAPPED-ADDRESS, CHANGED-ADDRESS and
//! SOURCE-ADDRESS (for old servers).
//!
//! This is the one place they are defined. Each is implemented through
//! `stun-types`' public attribute traits, so `Message::attribute::<T>()` and
//! `MessageWriteExt::add_attribute(&T)` work with them like with the built-in
//! ones.
//!
//! Parsing never panics: malformed values come back as
//! [`StunParseError`](stun_proto::types::message::StunParseError).

use std::net::SocketAddr;

use stun_proto::types::attribute::{
    Attribute, AttributeFromRaw, AttributeStaticType, AttributeType, AttributeWrite,
    AttributeWriteExt, MappedSocketAddr, RawAttribute,
};
use stun_proto::types::message::StunParseError;

/// MAPPED-ADDRESS (RFC 3489 / RFC 8489 §14.1).
pub const MAPPED_ADDRESS: AttributeType = AttributeType::new(0x0001);
/// RFC 3489 SOURCE-ADDRESS (deprecated; the RFC 5780 equivalent is RESPONSE-ORIGIN).
pub const SOURCE_ADDRESS: AttributeType = AttributeType::new(0x0004);
/// RFC 3489 CHANGED-ADDRESS (deprecated; the RFC 5780 equivalent is OTHER-ADDRESS).
pub const CHANGED_ADDRESS: AttributeType = AttributeType::new(0x0005);
/// CHANGE-REQUEST (RFC 5780 §7.2).
pub const CHANGE_REQUEST: AttributeType = AttributeType::new(0x0003);
/// PADDING (RFC 5780 §7.6).
pub const PADDING: AttributeType = AttributeType::new(0x0026);
/// RESPONSE-PORT (RFC 5780 §7.5).
pub const RESPONSE_PORT: AttributeType = AttributeType::new(0x0027);
/// RESPONSE-ORIGIN (RFC 5780 §7.3).
pub const RESPONSE_ORIGIN: AttributeType = AttributeType::new(0x802b);
/// OTHER-ADDRESS (RFC 5780 §7.4).
pub const OTHER_ADDRESS: AttributeType = AttributeType::new(0x802c);

/// The largest PADDING natscope writes or accepts as a request for padding.
/// Keeps a response within a typical 1500-byte MTU path.
pub const MAX_PADDING: u16 = 1200;

/// Gives the attributes defined here their names in `stun-types`' `Display`
/// output. Idempotent; cheap after the first call.
pub fn register_names() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        MAPPED_ADDRESS.add_name("MAPPED-ADDRESS");
        SOURCE_ADDRESS.add_name("SOURCE-ADDRESS");
        CHANGED_ADDRESS.add_name("CHANGED-ADDRESS");
        CHANGE_REQUEST.add_name("CHANGE-REQUEST");
        PADDING.add_name("PADDING");
        RESPONSE_PORT.add_name("RESPONSE-PORT");
        RESPONSE_ORIGIN.add_name("RESPONSE-ORIGIN");
        OTHER_ADDRESS.add_name("OTHER-ADDRESS");
    });
}

/// Defines a plain (non-XOR) address attribute on top of `MappedSocketAddr`.
macro_rules! address_attribute {
    ($(#[$doc:meta])* $name:ident, $atype:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub SocketAddr);

        impl $name {
            /// The address this attribute carries.
            pub fn addr(&self) -> SocketAddr {
                self.0
            }
        }

        impl AttributeStaticType for $name {
            const TYPE: AttributeType = $atype;
        }

        impl Attribute for $name {
            fn get_type(&self) -> AttributeType {
                Self::TYPE
            }
            fn length(&self) -> u16 {
                MappedSocketAddr::new(self.0).length()
            }
        }

        impl AttributeWrite for $name {
            fn to_raw(&self) -> RawAttribute<'_> {
                MappedSocketAddr::new(self.0).to_raw(Self::TYPE).into_owned()
            }
            fn write_into_unchecked(&self, dest: &mut [u8]) {
                self.write_header_unchecked(dest);
                MappedSocketAddr::new(self.0).write_into_unchecked(&mut dest[4..]);
            }
        }

        impl AttributeFromRaw<'_> for $name {
            fn from_raw_ref(raw: &RawAttribute) -> Result<Self, StunParseError> {
                raw.check_type_and_len(Self::TYPE, 4..=20)?;
                Ok(Self(MappedSocketAddr::from_raw(raw)?.addr()))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}: {}", Self::TYPE, self.0)
            }
        }
    };
}

address_attribute!(
    /// MAPPED-ADDRESS: the reflexive address, not XOR-ed. Sent by RFC 3489
    /// servers instead of XOR-MAPPED-ADDRESS, and by RFC 5780 servers beside it.
    MappedAddress,
    MAPPED_ADDRESS
);
address_attribute!(
    /// OTHER-ADDRESS: the server's alternate IP and port (RFC 5780 §7.4).
    /// Its presence is how a client learns the server can do RFC 5780 tests.
    OtherAddress,
    OTHER_ADDRESS
);
address_attribute!(
    /// RESPONSE-ORIGIN: the address and port the response was sent from
    /// (RFC 5780 §7.3).
    ResponseOrigin,
    RESPONSE_ORIGIN
);
address_attribute!(
    /// CHANGED-ADDRESS: RFC 3489's name for the alternate address.
    ChangedAddress,
    CHANGED_ADDRESS
);
address_attribute!(
    /// SOURCE-ADDRESS: RFC 3489's name for the response's source.
    SourceAddress,
    SOURCE_ADDRESS
);

/// CHANGE-REQUEST (RFC 5780 §7.2): asks the server to answer from its other
/// IP address, its other port, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeRequest {
    /// The "A" flag: answer from the alternate IP address.
    pub change_ip: bool,
    /// The "B" flag: answer from the alternate port.
    pub change_port: bool,
}

impl ChangeRequest {
    const IP_FLAG: u32 = 0x4;
    const PORT_FLAG: u32 = 0x2;

    /// A CHANGE-REQUEST with the given flags.
    pub fn new(change_ip: bool, change_port: bool) -> Self {
        Self {
            change_ip,
            change_port,
        }
    }

    fn value(&self) -> [u8; 4] {
        let mut v = 0u32;
        if self.change_ip {
            v |= Self::IP_FLAG;
        }
        if self.change_port {
            v |= Self::PORT_FLAG;
        }
        v.to_be_bytes()
    }
}

impl AttributeStaticType for ChangeRequest {
    const TYPE: AttributeType = CHANGE_REQUEST;
}

impl Attribute for ChangeRequest {
    fn get_type(&self) -> AttributeType {
        Self::TYPE
    }
    fn length(&self) -> u16 {
        4
    }
}

impl AttributeWrite for ChangeRequest {
    fn to_raw(&self) -> RawAttribute<'_> {
        RawAttribute::new_owned(Self::TYPE, Box::new(self.value()))
    }
    fn write_into_unchecked(&self, dest: &mut [u8]) {
        let offset = self.write_header_unchecked(dest);
        dest[offset..offset + 4].copy_from_slice(&self.value());
    }
}

impl AttributeFromRaw<'_> for ChangeRequest {
    fn from_raw_ref(raw: &RawAttribute) -> Result<Self, StunParseError> {
        raw.check_type_and_len(Self::TYPE, 4..=4)?;
        let v = u32::from_be_bytes([raw.value[0], raw.value[1], raw.value[2], raw.value[3]]);
        Ok(Self {
            change_ip: v & Self::IP_FLAG != 0,
            change_port: v & Self::PORT_FLAG != 0,
        })
    }
}

impl std::fmt::Display for ChangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: change-ip={} change-port={}",
            Self::TYPE,
            self.change_ip,
            self.change_port
        )
    }
}

/// RESPONSE-PORT (RFC 5780 §7.5): asks the server to send its response to
/// this port (at the request's source IP) instead of the source port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePort(pub u16);

impl ResponsePort {
    /// The port the response should go to.
    pub fn port(&self) -> u16 {
        self.0
    }
}

impl AttributeStaticType for ResponsePort {
    const TYPE: AttributeType = RESPONSE_PORT;
}

impl Attribute for ResponsePort {
    fn get_type(&self) -> AttributeType {
        Self::TYPE
    }
    fn length(&self) -> u16 {
        4
    }
}

impl AttributeWrite for ResponsePort {
    fn to_raw(&self) -> RawAttribute<'_> {
        let [a, b] = self.0.to_be_bytes();
        RawAttribute::new_owned(Self::TYPE, Box::new([a, b, 0, 0]))
    }
    fn write_into_unchecked(&self, dest: &mut [u8]) {
        let offset = self.write_header_unchecked(dest);
        let [a, b] = self.0.to_be_bytes();
        dest[offset..offset + 4].copy_from_slice(&[a, b, 0, 0]);
    }
}

impl AttributeFromRaw<'_> for ResponsePort {
    fn from_raw_ref(raw: &RawAttribute) -> Result<Self, StunParseError> {
        // RFC 5780 §7.5: a 16-bit port followed by 16 bits of padding. Some
        // implementations send only the 2 port bytes; accept both.
        raw.check_type_and_len(Self::TYPE, 2..=4)?;
        Ok(Self(u16::from_be_bytes([raw.value[0], raw.value[1]])))
    }
}

impl std::fmt::Display for ResponsePort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", Self::TYPE, self.0)
    }
}

/// PADDING (RFC 5780 §7.6): bytes whose only purpose is to make the message
/// bigger (to test fragmentation). In a request, its length is also the
/// length the client asks the server to pad its response with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Padding(pub u16);

impl Padding {
    /// The number of padding bytes (before 4-byte alignment).
    pub fn len(&self) -> u16 {
        self.0
    }

    /// Whether the padding is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

impl AttributeStaticType for Padding {
    const TYPE: AttributeType = PADDING;
}

impl Attribute for Padding {
    fn get_type(&self) -> AttributeType {
        Self::TYPE
    }
    fn length(&self) -> u16 {
        self.0
    }
}

impl AttributeWrite for Padding {
    fn to_raw(&self) -> RawAttribute<'_> {
        RawAttribute::new_owned(
            Self::TYPE,
            vec![0u8; usize::from(self.0)].into_boxed_slice(),
        )
    }
    fn write_into_unchecked(&self, dest: &mut [u8]) {
        let offset = self.write_header_unchecked(dest);
        let end = offset + stun_proto::types::attribute::pad_attribute_len(usize::from(self.0));
        dest[offset..end].fill(0);
    }
}

impl AttributeFromRaw<'_> for Padding {
    fn from_raw_ref(raw: &RawAttribute) -> Result<Self, StunParseError> {
        raw.check_type_and_len(Self::TYPE, ..=usize::from(u16::MAX))?;
        // The check above bounds the length, so the conversion cannot fail.
        Ok(Self(u16::try_from(raw.value.len()).unwrap_or(u16::MAX)))
    }
}

impl std::fmt::Display for Padding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} bytes", Self::TYPE, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun_proto::types::message::{
        BINDING, Message, MessageWrite, MessageWriteExt, MessageWriteVec, TransactionId,
    };

    fn roundtrip<A>(attr: A) -> A
    where
        A: AttributeWrite + for<'a> AttributeFromRaw<'a> + AttributeStaticType + std::fmt::Debug,
    {
        let mut msg = Message::builder_request(BINDING, MessageWriteVec::new());
        msg.add_attribute(&attr).unwrap();
        let bytes = msg.finish();
        let parsed = Message::from_bytes(&bytes).unwrap();
        parsed.attribute::<A>().unwrap()
    }

    #[test]
    fn address_attributes_roundtrip_v4_and_v6() {
        for addr in ["192.0.2.1:3478", "[2001:db8::1]:5349"] {
            let a: SocketAddr = addr.parse().unwrap();
            assert_eq!(roundtrip(MappedAddress(a)).addr(), a);
            assert_eq!(roundtrip(OtherAddress(a)).addr(), a);
            assert_eq!(roundtrip(ResponseOrigin(a)).addr(), a);
            assert_eq!(roundtrip(ChangedAddress(a)).addr(), a);
            assert_eq!(roundtrip(SourceAddress(a)).addr(), a);
        }
    }

    #[test]
    fn change_request_flags() {
        for (ip, port) in [(false, false), (true, false), (false, true), (true, true)] {
            assert_eq!(
                roundtrip(ChangeRequest::new(ip, port)),
                ChangeRequest::new(ip, port)
            );
        }
        assert_eq!(ChangeRequest::new(true, true).value(), [0, 0, 0, 6]);
    }

    #[test]
    fn response_port_and_padding() {
        assert_eq!(roundtrip(ResponsePort(40000)), ResponsePort(40000));
        assert_eq!(roundtrip(Padding(13)), Padding(13));
        assert_eq!(roundtrip(Padding(0)), Padding(0));
    }

    #[test]
    fn malformed_values_are_errors_not_panics() {
        let _ = TransactionId::generate();
        for bad in [
            &[][..],
            &[0, 1],
            &[0, 9, 0, 1, 1, 2, 3, 4],
            &[0, 1, 0, 1, 1, 2, 3],
        ] {
            let raw = RawAttribute::new(OTHER_ADDRESS, bad);
            assert!(OtherAddress::from_raw_ref(&raw).is_err(), "{bad:?}");
        }
        assert!(
            ChangeRequest::from_raw_ref(&RawAttribute::new(CHANGE_REQUEST, &[0, 0, 6])).is_err()
        );
        assert!(ResponsePort::from_raw_ref(&RawAttribute::new(RESPONSE_PORT, &[1])).is_err());
        // wrong type is an error too
        assert!(ResponsePort::from_raw_ref(&RawAttribute::new(PADDING, &[1, 2, 0, 0])).is_err());
    }
}
