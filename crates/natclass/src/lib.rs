//! # natclass: NAT behaviour classification, pure and deterministic
//!
//! Observations in (plain data the network probe fills in: [`Observations`]),
//! verdicts out ([`NatVerdict`]: mapping, filtering, hairpinning, UDP status,
//! double NAT/CGNAT, port allocation, mapping lifetime, per-server status,
//! disagreements, an RFC 3489 name and a P2P outlook), each with evidence and
//! a confidence.
//!
//! - [`classify`] / [`classify_with`]: the whole verdict.
//! - [`holepunch`]: can two peers connect directly (docs/holepunch.md)?
//! - [`port_allocation`]: port preservation and sequential/random allocation.
//! - [`mapping_lifetime`] and [`next_lifetime_probe`]: where the UDP idle
//!   timeout lies and which idle interval to test next (time is an input).
//!
//! The meaning of every value, evidence test name and confidence level is in
//! docs/verdicts.md.
//!
//! ## What it deliberately does not do
//!
//! - No sockets, no clock, no tokio, no randomness: the same observations
//!   always give the same verdict, and every rule is unit-tested without a
//!   network. `crates/probe` runs the tests and fills [`Observations`].
//! - It never pretends: silence is only evidence when the control request on
//!   the same fresh socket was answered; answers from unexpected sources
//!   (e.g. coturn ignoring CHANGE-REQUEST) are reported as server problems,
//!   not read as filtering; plain servers never yield a filtering verdict;
//!   disagreeing servers are listed, not averaged away.
//! - It does not render output (that is `natscope-report`).
//!
//! ## RFC checklist
//!
//! - [x] RFC 4787 vocabulary: endpoint-independent, address-dependent,
//!   address-and-port-dependent mapping and filtering; port preservation;
//!   hairpinning; mapping lifetime (REQ-5 idle timeout bracket).
//! - [x] RFC 5780 §4.3 mapping tests I–III (including "no NAT" when the mapped
//!   address is local).
//! - [x] RFC 5780 §4.4 filtering tests I–III on a fresh socket, with the
//!   control test required and response sources checked.
//! - [x] RFC 5780 §4.5 hairpinning.
//! - [x] RFC 5780 §4.6 mapping lifetime (bracket + binary-search planner).
//! - [x] RFC 3489 names: open internet, symmetric UDP firewall, full cone,
//!   restricted cone, port restricted cone, symmetric, UDP blocked.
//! - [x] RFC 6598 shared address space (CGNAT) and double-NAT evidence.
//! - [x] Per address family: a verdict is about the family of its servers
//!   ([`Family`]); for IPv6, no translation (a firewall's filtering in
//!   RFC 4787 terms, RFC 6092), NAT66, or RFC 6296 NPTv6 (told by its
//!   checksum-neutral rewrite) — [`Translation`].
//! - [ ] RFC 5780 §4.6 with two sockets over TCP, and ALG detection: not
//!   modelled.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod class;
mod classify;
mod holepunch;
mod lifetime;
mod observe;
mod plain;
mod ports;
mod server;
mod verdict;

pub mod addr;
pub use classify::{classify, classify_with, is_cgnat, is_private};
pub use holepunch::{HolePunchOutcome, HolePunchPrediction, holepunch};
pub use lifetime::{LifetimePlan, mapping_lifetime, next_lifetime_probe};
pub use observe::{
    ClassifyOptions, FilteringTests, Hairpin, LifetimeProbe, LocalNetwork, MappingTests,
    Observations, PathHop, PathTrace, PlainAnswer, PlainProbe, PortSample, Reply,
    ServerObservation,
};
pub use ports::{MAX_SEQUENTIAL_STEP, MIN_PATTERN_SAMPLES, port_allocation};
pub use verdict::{
    Behaviour, Confidence, Disagreement, Evidence, Family, MappingLifetime, NatVerdict, P2pOutlook,
    PortAllocation, PortPattern, Rfc3489Type, ServerStatus, ServerVerdict, Translation, UdpStatus,
};
