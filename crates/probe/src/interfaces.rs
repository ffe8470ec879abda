//! Local network interfaces: names, kinds, addresses with prefixes, MTU,
//! gateways, DNS servers, and the flags a user cares about (private, CGNAT,
//! link-local, ULA, "looks like a VPN").
//!
//! [`list`] is the only function that asks the operating system (through
//! `netdev`); the classification helpers ([`classify_ip`], [`classify_kind`],
//! [`vpn_hint`]) are pure and tested on data.

use std::net::IpAddr;

use netdev::interface::state::OperState;
use netdev::interface::types::InterfaceType;
use serde::Serialize;

/// What sort of link an interface is (the model's one definition).
pub use model::InterfaceKind;

pub use natclass::addr::{AddrFlags, classify as classify_ip};

/// One address of an interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InterfaceAddr {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (netmask) in bits.
    pub prefix_len: u8,
    /// IPv6 scope id (zone index) for link-local addresses, if any.
    pub scope_id: Option<u32>,
    /// What kind of address it is.
    pub flags: AddrFlags,
}

/// One local network interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Interface {
    /// System name (`eth0`, `wlan0`, `en0`; a GUID on Windows).
    pub name: String,
    /// Human-readable name when the OS has one (Windows, macOS).
    pub friendly_name: Option<String>,
    /// OS interface index.
    pub index: u32,
    /// Link kind, from the OS type and name heuristics.
    pub kind: InterfaceKind,
    /// Administratively up and not operationally down.
    pub up: bool,
    /// Point-to-point link (typical of tunnels and PPP).
    pub point_to_point: bool,
    /// MTU in bytes, if known.
    pub mtu: Option<u32>,
    /// MAC address (`aa:bb:cc:dd:ee:ff`), if any (tunnels have none).
    pub mac: Option<String>,
    /// IPv4 and IPv6 addresses with prefix and flags (fe80:: included).
    pub addresses: Vec<InterfaceAddr>,
    /// Default gateway addresses through this interface, if known.
    pub gateways: Vec<IpAddr>,
    /// DNS servers the OS associates with this interface, if known.
    pub dns_servers: Vec<IpAddr>,
    /// This interface carries the default route.
    pub is_default: bool,
    /// Why this interface looks like a VPN/tunnel, if it does.
    pub vpn_hint: Option<String>,
}

/// Why the interface list could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum InterfacesError {
    /// The operating system reported no interface at all (not even
    /// loopback), so the list could not be read.
    #[error("the operating system reported no network interfaces")]
    NoneFound,
}

/// Every local interface, with classification, in a stable order (by
/// interface index, then name: the OS tables come in no fixed order).
/// Reads the OS tables once.
pub fn list() -> Result<Vec<Interface>, InterfacesError> {
    let raw = netdev::get_interfaces();
    if raw.is_empty() {
        return Err(InterfacesError::NoneFound);
    }
    let mut list: Vec<Interface> = raw.iter().map(convert).collect();
    sort(&mut list);
    Ok(list)
}

/// The stable order of [`list`] (pure).
fn sort(list: &mut [Interface]) {
    list.sort_by(|a, b| a.index.cmp(&b.index).then_with(|| a.name.cmp(&b.name)));
}

/// Every address of every local interface (up or down, loopback included),
/// for "is the mapped address one of ours?" (no NAT) checks. Empty if the
/// list cannot be read.
pub fn local_addresses() -> Vec<IpAddr> {
    list()
        .map(|ifaces| {
            ifaces
                .into_iter()
                .flat_map(|i| i.addresses.into_iter().map(|a| a.addr))
                .collect()
        })
        .unwrap_or_default()
}

fn convert(raw: &netdev::Interface) -> Interface {
    let mut addresses: Vec<InterfaceAddr> = raw
        .ipv4
        .iter()
        .map(|net| InterfaceAddr {
            addr: IpAddr::V4(net.addr()),
            prefix_len: net.prefix_len(),
            scope_id: None,
            flags: classify_ip(IpAddr::V4(net.addr())),
        })
        .collect();
    addresses.extend(raw.ipv6.iter().enumerate().map(|(i, net)| {
        let scope = raw.ipv6_scope_ids.get(i).copied().filter(|s| *s != 0);
        InterfaceAddr {
            addr: IpAddr::V6(net.addr()),
            prefix_len: net.prefix_len(),
            scope_id: scope,
            flags: classify_ip(IpAddr::V6(net.addr())),
        }
    }));

    let kind = classify_kind(raw.if_type, &raw.name, raw.is_loopback());
    let point_to_point = raw.is_point_to_point();
    let ips: Vec<IpAddr> = addresses.iter().map(|a| a.addr).collect();
    let vpn_hint = vpn_hint(&raw.name, kind, point_to_point, raw.mtu, &ips);
    let up = raw.is_up()
        && !matches!(
            raw.oper_state,
            OperState::Down | OperState::LowerLayerDown | OperState::NotPresent
        );
    let mac = raw
        .mac_addr
        .filter(|m| m.octets() != [0u8; 6])
        .map(|m| m.to_string());
    let gateways = raw
        .gateway
        .as_ref()
        .map(|g| {
            g.ipv4
                .iter()
                .map(|v4| IpAddr::V4(*v4))
                .chain(g.ipv6.iter().map(|v6| IpAddr::V6(*v6)))
                .collect()
        })
        .unwrap_or_default();

    Interface {
        name: raw.name.clone(),
        friendly_name: raw.friendly_name.clone(),
        index: raw.index,
        kind,
        up,
        point_to_point,
        mtu: raw.mtu,
        mac,
        addresses,
        gateways,
        dns_servers: raw.dns_servers.clone(),
        is_default: raw.default,
        vpn_hint,
    }
}

/// Link kind from the OS type, the name and the loopback flag (pure).
///
/// Name heuristics win over the OS type where the OS is vague (Linux reports
/// WireGuard, bridges and veth pairs as "Ethernet" or "Unknown").
pub fn classify_kind(if_type: InterfaceType, name: &str, loopback_flag: bool) -> InterfaceKind {
    let n = name.to_ascii_lowercase();
    if loopback_flag || if_type == InterfaceType::Loopback || n == "lo" || n.starts_with("lo0") {
        return InterfaceKind::Loopback;
    }
    if tunnel_name_prefix(&n).is_some() {
        return InterfaceKind::Tunnel;
    }
    const BRIDGE: &[&str] = &["br", "docker", "virbr", "bridge", "lxcbr", "cni", "vmbr"];
    if BRIDGE.iter().any(|p| n.starts_with(p)) {
        return InterfaceKind::Bridge;
    }
    const VIRTUAL: &[&str] = &[
        "veth",
        "dummy",
        "macvlan",
        "macvtap",
        "vnet",
        "vmnet",
        "vboxnet",
        "vethernet",
        "flannel",
        "cali",
        "kube",
        "ifb",
        "nlmon",
        "vxlan",
        "geneve",
    ];
    if VIRTUAL.iter().any(|p| n.starts_with(p)) {
        return InterfaceKind::Virtual;
    }
    if n.starts_with("wl") || n.starts_with("wifi") || n.starts_with("ath") || n.starts_with("wwan")
    {
        return InterfaceKind::Wireless;
    }
    match if_type {
        InterfaceType::Loopback => InterfaceKind::Loopback,
        InterfaceType::Tunnel | InterfaceType::Ppp | InterfaceType::Slip => InterfaceKind::Tunnel,
        InterfaceType::Wireless80211
        | InterfaceType::PeerToPeerWireless
        | InterfaceType::Wwan
        | InterfaceType::Wwanpp
        | InterfaceType::Wwanpp2
        | InterfaceType::Wman => InterfaceKind::Wireless,
        InterfaceType::Bridge => InterfaceKind::Bridge,
        InterfaceType::ProprietaryVirtual => InterfaceKind::Virtual,
        InterfaceType::Ethernet
        | InterfaceType::Ethernet3Megabit
        | InterfaceType::FastEthernetT
        | InterfaceType::FastEthernetFx
        | InterfaceType::GigabitEthernet => InterfaceKind::Ethernet,
        _ => InterfaceKind::Other,
    }
}

/// Name prefixes of VPN/tunnel interfaces and what they usually are.
const TUNNEL_PREFIXES: &[(&str, &str)] = &[
    ("tailscale", "Tailscale"),
    ("wg", "WireGuard"),
    ("utun", "macOS utun (VPN apps, WireGuard, Tailscale)"),
    ("tun", "TUN device (OpenVPN and others)"),
    ("tap", "TAP device (OpenVPN bridged mode and others)"),
    ("ppp", "PPP link (PPTP/L2TP VPN or PPPoE)"),
    ("zt", "ZeroTier"),
    ("ipsec", "IPsec"),
    ("gpd", "GlobalProtect"),
    ("nordlynx", "NordVPN (WireGuard)"),
    ("proton", "ProtonVPN"),
];

fn tunnel_name_prefix(lower_name: &str) -> Option<(&'static str, &'static str)> {
    TUNNEL_PREFIXES
        .iter()
        .find(|(p, _)| lower_name.starts_with(p))
        .copied()
}

/// Largest MTU we call "typical of WireGuard" (its default is 1420; Tailscale
/// uses 1280).
pub const WIREGUARD_MTU_MAX: u32 = 1420;
/// Smallest MTU an IPv6-capable link may have; below it MTU says nothing.
const MIN_VPN_MTU: u32 = 1280;

/// Explains why an interface looks like a VPN or tunnel, or `None` (pure).
///
/// Primary signs: a tunnel-style name (`tun*`, `tap*`, `wg*`, `utun*`,
/// `ppp*`, `tailscale*`, `zt*`, `ipsec*`...), a tunnel kind, the
/// point-to-point flag. Supporting signs, reported only with a primary one:
/// MTU 1280..=1420 (WireGuard-typical) and a 100.64.0.0/10 address on a
/// tunnel (Tailscale-like). A low MTU alone says nothing: PPPoE lines,
/// cloud VMs and lab veths have one on plain Ethernet.
pub fn vpn_hint(
    name: &str,
    kind: InterfaceKind,
    point_to_point: bool,
    mtu: Option<u32>,
    addrs: &[IpAddr],
) -> Option<String> {
    if kind == InterfaceKind::Loopback {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let mut reasons: Vec<String> = Vec::new();
    if let Some((prefix, what)) = tunnel_name_prefix(&lower) {
        reasons.push(format!("name starts with \"{prefix}\" ({what})"));
    } else if kind == InterfaceKind::Tunnel {
        reasons.push("the OS reports a tunnel interface".into());
    }
    if point_to_point {
        reasons.push("point-to-point link".into());
    }
    let primary = !reasons.is_empty();
    let low_mtu = mtu.filter(|m| (MIN_VPN_MTU..=WIREGUARD_MTU_MAX).contains(m));
    if let Some(m) = low_mtu
        && primary
    {
        reasons.push(format!(
            "MTU {m} ≤ {WIREGUARD_MTU_MAX} (typical of WireGuard)"
        ));
    }
    if primary && addrs.iter().any(|a| classify_ip(*a).cgnat) {
        reasons.push("100.64.0.0/10 address on a tunnel (Tailscale-like)".into());
    }
    if reasons.is_empty() {
        None
    } else {
        Some(reasons.join("; "))
    }
}

/// The `interfaces` section for `list`: the report keeps what a reader
/// needs (every field of [`Interface`] is destructured, so one added here
/// is carried over or dropped on purpose).
pub fn section(list: &[Interface]) -> model::Interfaces {
    let mut default_gateway = None;
    let interfaces = list
        .iter()
        .map(|i| {
            let Interface {
                name,
                friendly_name: _,
                index,
                kind,
                up,
                point_to_point: _,
                mtu,
                mac,
                addresses,
                gateways,
                dns_servers: _,
                is_default,
                vpn_hint,
            } = i;
            if *is_default && default_gateway.is_none() {
                default_gateway = Some(model::DefaultGateway {
                    interface: name.clone(),
                    addresses: gateways.clone(),
                });
            }
            model::Interface {
                name: name.clone(),
                index: *index,
                kind: *kind,
                up: *up,
                mtu: *mtu,
                mac: mac.clone(),
                addresses: addresses
                    .iter()
                    .map(|a| model::InterfaceAddress {
                        ip: a.addr,
                        prefix: a.prefix_len,
                        scope: model::AddressScope::of(a.addr),
                    })
                    .collect(),
                gateway: gateways.first().copied(),
                vpn_hint: vpn_hint.clone(),
            }
        })
        .collect();
    model::Interfaces {
        interfaces,
        default_gateway,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn f(s: &str) -> AddrFlags {
        classify_ip(s.parse().expect("test address"))
    }

    #[test]
    fn ipv4_flags() {
        assert!(f("127.0.0.1").loopback && !f("127.0.0.1").global);
        assert!(f("169.254.10.1").link_local);
        for p in ["10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1"] {
            assert!(f(p).private && !f(p).global, "{p}");
        }
        assert!(!f("172.32.0.1").private);
        assert!(f("100.64.0.1").cgnat && f("100.127.255.254").cgnat && !f("100.64.0.1").global);
        assert!(!f("100.128.0.1").cgnat && !f("100.63.255.255").cgnat);
        for d in ["192.0.2.1", "198.51.100.7", "203.0.113.200"] {
            assert!(f(d).documentation && !f(d).global, "{d}");
        }
        // A public address (Cloudflare's resolver) and reserved ones.
        assert!(f("1.1.1.1").global);
        for r in [
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.0.9",
        ] {
            assert!(!f(r).global, "{r}");
        }
    }

    #[test]
    fn ipv6_flags() {
        assert!(f("::1").loopback && !f("::1").global);
        assert!(f("fe80::1").link_local && !f("fe80::1").global);
        assert!(f("fd12:3456::1").ula && f("fc00::1").ula && !f("fd00::1").global);
        assert!(f("2001:db8::1").documentation && !f("2001:db8::1").global);
        assert!(f("3fff::1").documentation);
        assert!(f("2606:4700:4700::1111").global);
        assert!(!f("ff02::1").global && !f("::").global);
        // IPv4-mapped addresses are classified as IPv4.
        assert!(f("::ffff:10.0.0.1").private);
    }

    #[test]
    fn kinds() {
        use InterfaceKind as K;
        use InterfaceType as T;
        assert_eq!(classify_kind(T::Loopback, "lo", true), K::Loopback);
        assert_eq!(classify_kind(T::Unknown, "lo0", false), K::Loopback);
        assert_eq!(classify_kind(T::Ethernet, "eth0", false), K::Ethernet);
        assert_eq!(classify_kind(T::Ethernet, "enp3s0", false), K::Ethernet);
        assert_eq!(classify_kind(T::Ethernet, "wlan0", false), K::Wireless);
        assert_eq!(classify_kind(T::Wireless80211, "en0", false), K::Wireless);
        assert_eq!(classify_kind(T::Unknown, "wg0", false), K::Tunnel);
        assert_eq!(classify_kind(T::Ethernet, "tailscale0", false), K::Tunnel);
        assert_eq!(classify_kind(T::Unknown, "utun3", false), K::Tunnel);
        assert_eq!(classify_kind(T::Ppp, "ppp0", false), K::Tunnel);
        assert_eq!(classify_kind(T::Tunnel, "gif0", false), K::Tunnel);
        assert_eq!(classify_kind(T::Ethernet, "docker0", false), K::Bridge);
        assert_eq!(classify_kind(T::Ethernet, "br-1a2b3c", false), K::Bridge);
        assert_eq!(classify_kind(T::Bridge, "bridge0", false), K::Bridge);
        assert_eq!(classify_kind(T::Ethernet, "veth12ab", false), K::Virtual);
        assert_eq!(classify_kind(T::Unknown, "can0", false), K::Other);
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter()
            .map(|s| s.parse().expect("test address"))
            .collect()
    }

    #[test]
    fn vpn_hints() {
        use InterfaceKind as K;
        let h = vpn_hint("wg0", K::Tunnel, true, Some(1420), &ips(&["10.8.0.2"])).unwrap();
        assert!(
            h.contains("WireGuard") && h.contains("point-to-point") && h.contains("MTU 1420"),
            "{h}"
        );

        let h = vpn_hint(
            "tailscale0",
            K::Tunnel,
            false,
            Some(1280),
            &ips(&["100.101.102.103", "fd7a:115c:a1e0::1"]),
        )
        .unwrap();
        assert!(
            h.contains("Tailscale-like") && h.contains("MTU 1280"),
            "{h}"
        );

        // The OS type alone.
        let h = vpn_hint("gif0", K::Tunnel, false, Some(1500), &[]).unwrap();
        assert!(h.contains("tunnel"), "{h}");
        // Point-to-point alone.
        assert!(vpn_hint("sl0", K::Other, true, Some(1500), &[]).is_some());
        // A WireGuard-sized MTU alone is no evidence: plain Ethernet (a
        // PPPoE line, a cloud VM, a lab veth) has one too.
        assert_eq!(
            vpn_hint("eth1", K::Ethernet, false, Some(1400), &ips(&["192.0.2.5"])),
            None
        );

        // Ordinary interfaces: no hint.
        assert_eq!(
            vpn_hint(
                "eth0",
                K::Ethernet,
                false,
                Some(1500),
                &ips(&["192.168.1.10"])
            ),
            None
        );
        assert_eq!(
            vpn_hint(
                "wlan0",
                K::Wireless,
                false,
                Some(1500),
                &ips(&["100.64.1.2"])
            ),
            None,
            "CGNAT alone is the ISP, not a VPN"
        );
        assert_eq!(
            vpn_hint("lo", K::Loopback, false, Some(65536), &ips(&["127.0.0.1"])),
            None
        );
        assert_eq!(vpn_hint("eth2", K::Ethernet, false, Some(1420), &[]), None);
    }

    #[test]
    fn list_sees_loopback() {
        // Reads the OS tables only; sends nothing.
        let all = list().expect("every Linux host has an interface");
        let lo = all
            .iter()
            .find(|i| i.kind == InterfaceKind::Loopback)
            .expect("a loopback interface");
        assert!(lo.up);
        assert!(lo.vpn_hint.is_none());
        let v4 = lo
            .addresses
            .iter()
            .find(|a| a.addr == IpAddr::V4(Ipv4Addr::LOCALHOST))
            .expect("127.0.0.1 on loopback");
        assert_eq!(v4.prefix_len, 8);
        assert!(v4.flags.loopback);
        assert!(local_addresses().contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
        // By index, whatever order the OS tables came in.
        let indexes: Vec<u32> = all.iter().map(|i| i.index).collect();
        assert!(indexes.windows(2).all(|w| w[0] <= w[1]), "{indexes:?}");
    }

    #[test]
    fn order_is_by_index_then_name() {
        let iface = |name: &str, index: u32| Interface {
            name: name.into(),
            friendly_name: None,
            index,
            kind: InterfaceKind::Ethernet,
            up: true,
            point_to_point: false,
            mtu: Some(1500),
            mac: None,
            addresses: Vec::new(),
            gateways: Vec::new(),
            dns_servers: Vec::new(),
            is_default: false,
            vpn_hint: None,
        };
        let mut a = vec![
            iface("eth1", 3),
            iface("lo", 1),
            iface("b", 2),
            iface("a", 2),
        ];
        sort(&mut a);
        let names: Vec<&str> = a.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["lo", "a", "b", "eth1"]);
    }
}
