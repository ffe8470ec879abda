//! STUN: the one transaction layer every probe uses (UDP and TCP) and the
//! Binding probe. The RFC 5780 / RFC 3489 attributes are `wire::attrs`.

pub mod binding;
pub mod section;
pub mod tcp;
pub mod transaction;

pub use stun_proto::types;
