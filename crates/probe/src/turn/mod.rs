//! TURN diagnostics (RFC 8656): does the relay really work over UDP, TCP,
//! TLS and DTLS, and if not, at which stage and why.
//!
//! - [`uri`]: `turn:`/`turns:` URIs and the transports they imply.
//! - [`creds`]: long-term and TURN REST API credentials; [`creds::Secret`]
//!   keeps passwords out of every output.
//! - [`stages`]: the result model (stages, named failures, relay quality).
//! - [`client`]: the probe driver on turn-client-proto's sans-IO client.
//! - [`tls`]: certificate verification options and naming of TLS failures.
//! - `dtls`: DTLS (dimpl, pure-Rust crypto) under the TURN-over-UDP client,
//!   with natscope's own certificate verification.
//! - [`quality`]: the bounded burst through the relay.
//! - [`server`]: an embedded TURN server (UDP, TCP, TLS on loopback) for
//!   tests and the lab.

pub mod client;
pub mod creds;
mod dtls;
pub mod quality;
pub mod server;
pub mod stages;
pub mod target;
pub mod tls;

pub use client::{HeldAllocation, TurnProbeConfig, probe_all, probe_transport};
pub use creds::{Secret, TurnAuth};
pub use quality::QualityConfig;
pub use server::{TestTurnFaults, TestTurnServer, TestTurnServerConfig};
pub use stages::{
    RelayQuality, StageResult, StageStatus, TurnFailure, TurnStage, TurnTransport,
    TurnTransportResult,
};
pub use target::turn_transports;
pub use tls::{TestCertValidity, TestPki, TlsOptions};
