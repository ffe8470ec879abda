//! The `interfaces` section: local network interfaces and the default route.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Content of the `interfaces` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Interfaces {
    /// Every interface found, in the order the OS listed them.
    pub interfaces: Vec<Interface>,
    /// The default route's interface and gateway; `None` when there is no
    /// default route (or it could not be read).
    pub default_gateway: Option<DefaultGateway>,
}

/// The default route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultGateway {
    /// Name of the interface the default route leaves through.
    pub interface: String,
    /// Gateway addresses (IPv4 and/or IPv6) of the default route.
    pub addresses: Vec<IpAddr>,
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// OS name, e.g. `eth0`, `wlan0`, `wg0`.
    pub name: String,
    /// OS interface index.
    pub index: u32,
    /// What kind of link it is.
    pub kind: InterfaceKind,
    /// Administratively and operationally up.
    pub up: bool,
    /// MTU in bytes; `None` when unknown.
    pub mtu: Option<u32>,
    /// Hardware address as `aa:bb:cc:dd:ee:ff`; `None` when there is none.
    pub mac: Option<String>,
    /// Addresses configured on it.
    pub addresses: Vec<InterfaceAddress>,
    /// Gateway reached through this interface; `None` when none.
    pub gateway: Option<IpAddr>,
    /// Why natscope thinks this is a VPN or tunnel (e.g. "WireGuard-style
    /// name wg0, no MAC"); `None` when nothing suggests one.
    pub vpn_hint: Option<String>,
}

/// Kind of interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterfaceKind {
    /// Wired Ethernet.
    Ethernet,
    /// Loopback.
    Loopback,
    /// Tunnel (WireGuard, tun/tap, GRE, IPsec...).
    Tunnel,
    /// Wi-Fi.
    Wireless,
    /// Bridge.
    Bridge,
    /// Other virtual link (veth, docker, dummy...).
    Virtual,
    /// Anything else.
    Other,
}

/// One address on an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceAddress {
    /// The address.
    pub ip: IpAddr,
    /// Prefix length (e.g. 24 for a /24).
    pub prefix: u8,
    /// What kind of address it is.
    pub scope: AddressScope,
}

/// What kind of address an address is (loopback, private, CGNAT, …): the
/// same flags natclass's one classifier computes, so there is one definition.
pub use natclass::addr::AddrFlags as AddressScope;

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(s: &str) -> AddressScope {
        AddressScope::of(s.parse().expect("test literal is an IP address"))
    }

    #[test]
    fn classifies_v4() {
        assert!(scope("127.0.0.1").loopback && !scope("127.0.0.1").global);
        assert!(scope("169.254.1.1").link_local);
        assert!(scope("10.1.2.3").private && scope("172.16.0.1").private);
        assert!(scope("192.168.1.1").private);
        assert!(!scope("172.32.0.1").private);
        assert!(scope("100.64.0.1").cgnat && scope("100.127.255.254").cgnat);
        assert!(!scope("100.128.0.1").cgnat);
        assert!(scope("203.0.113.7").documentation && !scope("203.0.113.7").global);
        assert!(scope("198.51.100.1").documentation);
        assert!(scope("11.22.33.44").global);
        assert!(!scope("0.0.0.0").global && !scope("224.0.0.1").global);
    }

    #[test]
    fn classifies_v6() {
        assert!(scope("::1").loopback);
        assert!(scope("fe80::1").link_local && !scope("fe80::1").global);
        assert!(scope("fd00::1").ula && !scope("fd00::1").global);
        assert!(scope("2001:db8::1").documentation && !scope("2001:db8::1").global);
        assert!(scope("2a00:1::1").global);
        assert!(scope("::ffff:192.168.0.1").private);
        assert!(!scope("ff02::1").global);
    }
}
