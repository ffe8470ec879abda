//! # natscope-probe: every outbound probe
//!
//! The clients: everything natscope sends to a server it did not start.
//! Each probe fills natscope-model's result types (or, where a probe keeps
//! more than the report, converts with exhaustive `From` impls).
//!
//! - [`interfaces`]: local interfaces, addresses, MTU, gateways, and the
//!   flags a user cares about (private, CGNAT, link-local, likely VPN).
//! - [`resolve`]: server names to addresses (A/AAAA, SRV).
//! - [`icmp`]: ICMP errors queued on UDP sockets (port unreachable, time
//!   exceeded), the one place they are read.
//! - [`stun`]: the one STUN transaction layer (RFC 8489 retransmission over
//!   UDP, TCP framed by `wire::Framer`), the Binding probe every other probe
//!   builds on, and the `stun` section.
//! - [`nat`]: the RFC 5780 NAT behaviour tests (mapping, filtering,
//!   hairpinning, port allocation, lifetime), producing `natclass`
//!   observations.
//! - [`turn`]: TURN diagnostics over UDP, TCP, TLS and DTLS on the
//!   turn-client-proto family: every stage timed and named.
//! - [`ice`]: two ICE agents (rice-proto) on this machine, connected to each
//!   other per candidate type, with a WebRTC data channel (str0m).
//! - [`browser`]: the other end of `natscope browser`: answers the page's
//!   steps, runs natscope's WebRTC peer (str0m) for the browser to connect
//!   to, and starts a headless Chromium or Firefox.
//! - [`portmap`]: UPnP IGD, NAT-PMP and PCP: can the gateway open a port,
//!   and does its external address match what STUN sees (double NAT)?
//! - [`push`]: one HTTP PUT of metrics to a Prometheus Pushgateway
//!   (`natscope watch --once --push`).
//! - [`rendezvous`]: the client of `natscope serve --rendezvous`: open or
//!   join a session by its code and exchange signalling messages with the
//!   other side (`natscope peer`).
//!
//! ## What it deliberately does not do
//!
//! - It does not decide anything about NAT behaviour: it records observations
//!   and hands them to `natclass`, which is pure. Pass/fail is
//!   `natscope-rules`'.
//! - It runs no server: the responder and the embedded TURN server are
//!   `natscope-servers`, the netns lab `natscope-lab`. Nothing here imports
//!   them (only the tests do).
//! - It does not render output; that is `natscope-report`.
//! - It never panics on network input and never treats one server's failure
//!   as fatal: failures become data.
//!
//! ## RFC checklist
//!
//! - [x] RFC 8489 STUN client: Binding over UDP (RTO/Rc/Rm retransmission,
//!   the schedule checked on tokio's paused clock) and TCP, FINGERPRINT,
//!   ERROR-CODE, long-term credentials (through turn-client-proto); SOFTWARE
//!   read, not sent (§11: conservative with RFC 3489 servers).
//! - [x] RFC 8489 §8 / RFC 5928 DNS discovery: SRV `_stun._udp`,
//!   `_stun._tcp`, `_turn._udp`, `_turn._tcp`, `_turns._tcp`, then A/AAAA.
//! - [x] RFC 5780 client: mapping tests I–III, filtering tests I–III on fresh
//!   sockets, hairpinning, binding lifetime search; RFC 3489 servers
//!   (MAPPED-ADDRESS, CHANGED-ADDRESS) read.
//! - [x] RFC 8656 TURN client: Allocate (401 challenge, 438 retry, 300
//!   redirect), CreatePermission, Send/Data, ChannelBind/ChannelData,
//!   Refresh, deallocation; REQUESTED-ADDRESS-FAMILY (RFC 8656 §7.1) for an
//!   IPv6 relay; over UDP, TCP, TLS (rustls) and DTLS (webrtc-dtls: RSA and ECDSA).
//! - [x] RFC 6062 TURN TCP allocations: Connect, ConnectionBind, data.
//! - [x] TURN REST API credentials (draft-uberti-behave-turn-rest).
//! - [x] RFC 8445 ICE between two rice-proto agents (host, srflx, relay,
//!   prflx seen), RFC 8831/8832 data channel over DTLS + SCTP (str0m).
//! - [x] RFC 6886 NAT-PMP and RFC 6887 PCP MAP (crab_nat) and PCP ANNOUNCE,
//!   UPnP IGD (igd-next).
//! - [ ] RFC 6544 ICE-TCP candidates; STUN over TLS (`stuns:`); RFC 7635
//!   third-party authorization: not implemented.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod browser;
pub mod ice;
pub mod icmp;
pub mod interfaces;
pub mod nat;
pub mod peer;
pub mod portmap;
pub mod push;
pub mod rendezvous;
pub mod resolve;
pub mod stun;
pub mod turn;
