//! STUN: the RFC 5780 attributes natscope adds to `stun-types`, the one
//! transaction layer every probe uses, and the Binding probe.

pub mod attrs;
pub mod binding;
pub mod tcp;
pub mod transaction;

pub use stun_proto::types;
