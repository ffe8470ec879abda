//! # natscope-wire: the sans-IO base every natscope crate builds on
//!
//! - [`attrs`]: the STUN attributes `stun-types` does not type — RFC 5780's
//!   CHANGE-REQUEST, RESPONSE-PORT, PADDING, OTHER-ADDRESS, RESPONSE-ORIGIN
//!   and RFC 3489's MAPPED-ADDRESS, SOURCE-ADDRESS, CHANGED-ADDRESS —
//!   through its public attribute traits, so they read and write like the
//!   built-in ones.
//! - [`classic`]: RFC 3489 Binding requests and responses (no magic
//!   cookie), which `stun-types` refuses: what a server needs to answer
//!   classic clients.
//! - [`framing`]: the one STUN/ChannelData stream framer (clients, ICE
//!   driver, servers).
//! - [`guard`]: input a dependency would panic on (a stun-proto 2.0.4
//!   NONCE bug), refused before it reaches it.
//! - [`rendezvous`]: the `natscope serve --rendezvous` HTTP API's JSON
//!   bodies, bounds and session-code format, with bounded parsers (shared
//!   by `servers::rendezvous` and `probe::rendezvous`).
//! - [`clock`]: the one bridge between tokio's clock and the sans-IO crates'
//!   `Instant`.
//! - Protocol constants shared by clients and servers ([`MAGIC_COOKIE`],
//!   [`HEADER_LEN`]).
//!
//! ## What it deliberately does not do
//!
//! - No sockets and no tasks: the only tokio it uses is the `Instant` type
//!   (for [`clock::Clock`]). It never reads the clock for a decision.
//! - No transactions or retransmission (stun-proto's `StunAgent`, driven by
//!   `natscope-probe`), no TURN state (turn-client-proto / turn-server-proto).
//!
//! ## RFC checklist
//!
//! - [x] RFC 8489 §5 header, magic cookie; §6.2.2 framing over TCP/TLS by
//!   the header's length.
//! - [x] RFC 8656 §12.5 ChannelData over streams: padding to 4 removed, an
//!   unpadded peer accepted.
//! - [x] RFC 5780 §7.2–7.6 attributes; RFC 3489 §11.2 MAPPED-ADDRESS,
//!   SOURCE-ADDRESS, CHANGED-ADDRESS.
//! - [x] RFC 3489 §8.2 / §11 classic Binding request parsing and
//!   success/error responses (MAPPED-ADDRESS, SOURCE-ADDRESS,
//!   CHANGED-ADDRESS, ERROR-CODE, UNKNOWN-ATTRIBUTES).
//! - [ ] RFC 3489 RESPONSE-ADDRESS (never honoured: a reflection vector) and
//!   the shared-secret request: not implemented.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod attrs;
pub mod classic;
pub mod clock;
pub mod framing;
pub mod guard;
pub mod rendezvous;

pub use clock::Clock;
pub use framing::{FrameError, FrameKind, Framer};
pub use stun_proto;

/// The STUN magic cookie (RFC 8489 §5), in network byte order.
pub const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];

/// The length of a STUN header (RFC 8489 §5).
pub const HEADER_LEN: usize = 20;

/// True when `data` starts with a STUN header carrying the magic cookie
/// (RFC 8489; RFC 3489 messages have none).
pub fn has_magic_cookie(data: &[u8]) -> bool {
    data.len() >= HEADER_LEN && data[0] & 0xc0 == 0 && data[4..8] == MAGIC_COOKIE
}
