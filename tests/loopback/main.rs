//! The probes as a library against real servers on loopback: TURN against
//! coturn and the embedded TURN server, ICE between two agents, NAT
//! classification against the responder.

#[path = "../support/mod.rs"]
mod support;

mod audit;
mod embedded_turn;
mod ice;
mod load;
mod nat;
mod turn;
mod turn_timing;
