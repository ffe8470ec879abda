//! The natscope binary end to end: every command against real servers on
//! loopback (natscope's own and coturn), hostile servers, and secrets that
//! must never reach any output.

#[path = "../support/mod.rs"]
mod support;

mod commands;
mod diagnosis;
mod family;
mod hostile;
mod secrets;
mod watch;
