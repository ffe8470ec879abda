//! # natscope-servers: the servers natscope runs
//!
//! - [`responder`]: the RFC 5780 STUN responder — `natscope serve`, the
//!   embedded loopback lab (`natscope diagnose --lab`) and the netns lab's
//!   "internet" side. Two addresses × two ports, UDP and TCP,
//!   CHANGE-REQUEST, RESPONSE-PORT, PADDING, rate limiting, no
//!   amplification, metrics.
//! - [`turn`]: the embedded TURN server (turn-server-proto) over UDP, TCP
//!   and TLS, which `diagnose --lab` relays through; with the
//!   `test-support` feature it injects faults on purpose.
//! - [`pki`]: the run's private CA and server certificate.
//! - [`http`]: the one small HTTP server (hyper) for `/metrics` and the
//!   browser page.
//! - [`browser`]: the page and one-time link and session-cookie-protected signalling channel of
//!   `natscope browser` (the WebRTC peer that answers it is
//!   `probe::browser`'s).
//!
//! - [`rendezvous`]: the rendezvous of `natscope serve --rendezvous`: two
//!   `natscope peer` clients meet by a session code and exchange signalling
//!   messages (bounded, expiring, rate-limited; plain HTTP or TLS).
//!
//! ## What it deliberately does not do
//!
//! - No client code: nothing here imports `natscope-probe`. Servers and
//!   clients share only the sans-IO base (`natscope-wire`: attributes,
//!   framing, the clock bridge) and the model's `Secret`.
//! - No decisions about NAT behaviour; no TURN over DTLS or RFC 6062 TCP
//!   relaying in the embedded TURN server (coturn covers them in tests).
//!
//! ## RFC checklist
//!
//! - [x] RFC 8489 Binding over UDP and TCP; FINGERPRINT; SOFTWARE; 420 with
//!   UNKNOWN-ATTRIBUTES.
//! - [x] RFC 5780 §6 server: OTHER-ADDRESS, RESPONSE-ORIGIN, CHANGE-REQUEST
//!   (and 420 from a single-address server), RESPONSE-PORT, PADDING.
//! - [x] RFC 3489 compatibility: MAPPED-ADDRESS in every answer.
//! - [x] RFC 8656 TURN server (allocation, permissions, channels) through
//!   turn-server-proto, over UDP, TCP and TLS, long-term credentials.
//! - [x] RFC 3489 cookieless requests answered (MAPPED-ADDRESS,
//!   CHANGED-ADDRESS, SOURCE-ADDRESS; CHANGE-REQUEST honoured).
//! - [ ] RFC 6062 Connect is refused (403); DTLS is not served.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod browser;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod pki;
pub mod rendezvous;
pub mod responder;
pub mod turn;
