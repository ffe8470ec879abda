//! What kind of IP address an address is: loopback, link-local, private
//! (RFC 1918), CGNAT (RFC 6598), ULA, documentation, global. The one
//! classifier natscope has: interfaces, NAT verdicts and reports all use it.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Flags of one address. Several can be true at once (e.g. a documentation
/// address is never `global`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrFlags {
    /// 127.0.0.0/8 or ::1.
    pub loopback: bool,
    /// 169.254.0.0/16 or fe80::/10.
    pub link_local: bool,
    /// RFC 1918: 10/8, 172.16/12, 192.168/16.
    pub private: bool,
    /// RFC 6598 shared address space 100.64.0.0/10 (carrier-grade NAT, also
    /// used by Tailscale).
    pub cgnat: bool,
    /// RFC 4193 unique local IPv6, fc00::/7.
    pub ula: bool,
    /// Documentation ranges: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
    /// 2001:db8::/32, 3fff::/20.
    pub documentation: bool,
    /// Globally routable unicast (public): none of the special ranges above
    /// nor other reserved ones (multicast, unspecified, benchmarking, 240/4...).
    pub global: bool,
}

impl AddrFlags {
    /// Classifies `ip`; the same as [`classify`].
    pub fn of(ip: IpAddr) -> AddrFlags {
        classify(ip)
    }
}

/// Classifies one address (pure).
pub fn classify(ip: IpAddr) -> AddrFlags {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrFlags {
    let o = ip.octets();
    let loopback = ip.is_loopback();
    let link_local = ip.is_link_local();
    let private = ip.is_private();
    let cgnat = o[0] == 100 && (o[1] & 0xc0) == 64;
    let documentation = ip.is_documentation();
    let reserved = ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
        || o[0] >= 240; // 240.0.0.0/4 reserved
    AddrFlags {
        loopback,
        link_local,
        private,
        cgnat,
        ula: false,
        documentation,
        global: !(loopback || link_local || private || cgnat || documentation || reserved),
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddrFlags {
    let s = ip.segments();
    let loopback = ip.is_loopback();
    let link_local = (s[0] & 0xffc0) == 0xfe80;
    let ula = (s[0] & 0xfe00) == 0xfc00;
    let documentation = (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] & 0xfff0) == 0x3ff0;
    // Global unicast is 2000::/3 (RFC 4291), minus the special ranges.
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    AddrFlags {
        loopback,
        link_local,
        private: false,
        cgnat: false,
        ula,
        documentation,
        global: global_unicast && !documentation,
    }
}
