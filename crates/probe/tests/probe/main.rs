//! natscope-probe's tests, one binary: DNS (a real hickory zone on
//! loopback), the STUN transaction layer against real sockets, and the
//! RFC 5769 / RFC 5780 byte vectors.

mod resolve;
mod stun_vectors;
mod transaction;
