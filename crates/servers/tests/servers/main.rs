//! natscope-servers' tests, one binary: the RFC 5780 responder answered
//! over real loopback sockets, and the rendezvous over real HTTP.

mod rendezvous;
mod responder;
