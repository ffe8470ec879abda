//! # natscope-model: the one result model
//!
//! Every result natscope produces has one type, here: the probes
//! (`natscope-probe`) fill these types, the rules (`natscope-rules`) derive
//! the summary and diagnosis from them, and the renderers
//! (`natscope-report`) draw them. There are no mirror types and no
//! conversion by serialization: a field added here is a field every crate
//! sees at compile time.
//!
//! - [`Report`]: the whole document, whose JSON form (`"schema":
//!   "natscope/3"`, docs/json.md) is the stable contract; every part is a
//!   [`Section`] (tested, not tested or failed, with a reason).
//! - [`interfaces`], [`stun`], [`turn`], [`ice`], [`portmap`], [`browser`],
//!   [`audit`], [`load`]: the sections;
//!   the NAT verdict is `natclass::NatVerdict`.
//! - [`summary`]: the checks ([`CheckId`] is an enum) and summary lines.
//! - [`diagnosis`]: the verdict sentence and the root causes
//!   ([`Finding`]s with evidence, the checks they explain and a remedy).
//! - [`servers`]: where STUN/TURN servers come from — RFC 7064/7065 URIs,
//!   `host:port`, WebRTC `iceServers` JSON, the documented public defaults —
//!   and the one [`Secret`] type that keeps credentials out of every output.
//!
//! ## What it deliberately does not do
//!
//! - No sockets, no clock, no decisions: it is data and its serde form.
//!   Reading a document (schema checks, sanitised errors) and rendering it
//!   are `natscope-report`'s; deciding pass/fail is `natscope-rules`'.
//!
//! ## RFC checklist
//!
//! - [x] RFC 7064 `stun:`/`stuns:` and RFC 7065 `turn:`/`turns:` URIs
//!   (`?transport=udp|tcp`, IPv6 literals, default ports 3478/5349).
//! - [x] W3C WebRTC `RTCIceServer` (`urls`, `username`, `credential`).
//! - [ ] RFC 7064 `stuns:` is parsed but no probe speaks STUN over TLS.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod audit;
pub mod browser;
pub mod diagnosis;
pub mod document;
pub mod ice;
pub mod interfaces;
pub mod load;
pub mod peer;
pub mod portmap;
pub mod section;
pub mod servers;
pub mod stun;
pub mod summary;
pub mod turn;

pub use diagnosis::{Diagnosis, Finding, FindingId, Severity};
pub use document::{Options, READABLE_SCHEMAS, Report, SCHEMA, Tool};
pub use interfaces::{
    AddressScope, DefaultGateway, Interface, InterfaceAddress, InterfaceKind, Interfaces,
};
pub use section::Section;
pub use servers::{Secret, ServerUri};
pub use stun::{Agreement, Counters, FamilyAgreement, Outcome, StunSection, StunServer, Transport};
pub use summary::{Check, CheckId, CheckStatus, Summary};
