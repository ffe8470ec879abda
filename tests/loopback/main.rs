//! The probes as a library against real servers on loopback: TURN against
//! coturn and the embedded TURN server, ICE between two agents, NAT
//! classification against the responder, the rendezvous of `natscope
//! serve --rendezvous` with its client.

#[path = "../support/mod.rs"]
mod support;

mod audit;
mod embedded_turn;
mod ice;
mod load;
mod nat;
mod peer;
mod rendezvous;
mod turn;
mod turn_timing;
