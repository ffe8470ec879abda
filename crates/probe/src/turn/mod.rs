//! TURN diagnostics (RFC 8656): does the relay really work over UDP, TCP,
//! TLS and DTLS, and if not, at which stage and why. The results are
//! `model::turn`'s types, filled here.
//!
//! - [`target`]: the transports a `turn:`/`turns:` URI implies.
//! - [`creds`]: long-term and TURN REST API credentials (the one
//!   `model::Secret` keeps passwords out of every output).
//! - [`client`]: the probe — `dns` stage, connection, the stage script, one
//!   redirect, the additive stages — built in one direction from `failure`
//!   (naming), `conn` (the connection and its framing), `tap` (what the
//!   server said; pure), `refresh` (natscope's own Refresh), `session`
//!   (turn-client-proto pumped from tokio), `echo` (the data test's peer: a
//!   second allocation, relay to relay) and `stages` (the script), then
//!   `ipv6` and `tcp_alloc` (the additive stages) and `hold` (an
//!   allocation held open on purpose).
//! - [`audit`]: `natscope turn --audit`, what a server lets a client reach
//!   that it should refuse.
//! - [`load`]: `natscope turn --load`, how much a server carries.
//! - [`tls`]: the one TLS client handshake, certificate verification
//!   options and naming of TLS failures.
//! - `dtls`: DTLS 1.2 (webrtc-dtls; RSA and ECDSA certificates) under the TURN-over-UDP client,
//!   with natscope's own certificate verification.
//! - [`quality`]: the bounded burst through the relay.

pub mod audit;
pub mod client;
mod config;
mod conn;
pub mod creds;
mod dtls;
mod echo;
mod failure;
#[doc(hidden)]
pub mod fuzzing;
pub mod hold;
mod ipv6;
pub mod load;
pub mod quality;
mod refresh;
mod session;
mod stages;
mod tap;
pub mod target;
mod tcp_alloc;
pub mod tls;

pub use client::{TurnProbeConfig, probe_all, probe_transport};
pub use creds::TurnAuth;
pub use hold::HeldAllocation;
pub use quality::QualityConfig;
pub use target::turn_transports;
pub use tls::TlsOptions;
