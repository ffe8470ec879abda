//! The netns lab (Linux, root): real kernel NATs, and natscope's verdicts,
//! TURN, ICE, port mapping and `serve` proved behind them. Fails loudly,
//! never skips, when the lab cannot be built.
#![cfg(target_os = "linux")]

#[path = "../support/mod.rs"]
mod support;

mod audit;
mod classic;
mod family;
mod ice;
mod ipv6;
mod nat;
mod netns;
mod peer;
mod peer_restart;
mod portmap;
mod serve;
mod turn;
mod watch;
