//! # natscope-probe: everything in natscope that touches the network
//!
//! This crate owns every socket natscope opens:
//!
//! - [`interfaces`]: local interfaces, addresses, MTU, gateways, and the flags a
//!   user cares about (private, CGNAT, link-local, likely VPN).
//! - [`servers`] and [`resolve`]: where STUN/TURN servers come from (URIs,
//!   `host:port`, WebRTC `iceServers` JSON, the documented public defaults) and
//!   how their names become addresses (A/AAAA, SRV).
//! - [`stun`]: the one STUN transaction layer (RFC 8489 retransmission over UDP
//!   and TCP), the RFC 5780 attributes natscope adds to `stun-types`, and the
//!   Binding probe every other probe builds on.
//! - [`nat`]: the RFC 5780 NAT behaviour tests (mapping, filtering,
//!   hairpinning, port allocation, lifetime), producing `natclass` observations.
//! - [`ice`]: two ICE agents (rice-proto) on this machine, connected to each
//!   other per candidate type.
//! - [`portmap`]: UPnP IGD, NAT-PMP and PCP: can the gateway open a port,
//!   and does its external address match what STUN sees (double NAT)?
//! - [`responder`]: an RFC 5780 STUN responder (`natscope serve`, and the
//!   embedded loopback lab).
//! - [`turn`]: TURN diagnostics (UDP, TCP, TLS, DTLS) on the turn-client-proto
//!   family, and the embedded test TURN server.
//! - [`lab`]: the network-namespace NAT lab (Linux, root): real kernel NATs
//!   for tests and for users.
//!
//! ## What it deliberately does not do
//!
//! - It does not decide anything about NAT behaviour: it records observations
//!   and hands them to `natclass`, which is pure.
//! - It does not render output; that is `natscope-report`.
//! - It never panics on network input and never treats one server's failure
//!   as fatal: failures become data.
//!
//! ## RFC checklist
//!
//! - [x] RFC 8489 STUN: Binding over UDP (RTO/Rc/Rm retransmission) and TCP
//!   (framing by header length), FINGERPRINT, SOFTWARE, ERROR-CODE.
//! - [x] RFC 5780 attributes: CHANGE-REQUEST, RESPONSE-PORT, PADDING,
//!   OTHER-ADDRESS, RESPONSE-ORIGIN.
//! - [x] RFC 3489 MAPPED-ADDRESS (for old servers).
//! - [x] RFC 5769 test vectors.
//! - [x] RFC 7064 / RFC 7065 `stun:`/`stuns:`/`turn:`/`turns:` URIs.
//! - [x] RFC 8489 §8 SRV discovery (`_stun._udp`, `_stun._tcp`).
#![deny(missing_docs)]

pub mod ice;
pub mod interfaces;
pub mod nat;
pub mod portmap;
pub mod resolve;
pub mod stun;
pub mod turn;
