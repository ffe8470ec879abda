//! natclass's tests, one binary: every RFC 5780 outcome table and the
//! inference rules, fed observations, checked verdicts.

mod common;
mod inference;
mod ipv6;
mod rfc5780;
