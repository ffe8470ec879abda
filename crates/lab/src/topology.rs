//! The address plan and the `ip -batch` scripts that build the lab.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::{Ipv6Behaviour, Lab, LabError, LabSpec, NatBehaviour, Ns, nat, nat6, netns};

/// The IPv6 prefix length of every lab link (LANs and the "internet").
pub(crate) const LINK6_PREFIX: u8 = 64;
/// The length of a site's inside (and NPTv6 outside) prefix.
pub(crate) const SITE6_PREFIX: u8 = 48;
/// Site 1's inside prefix (its LAN is the first /64 of it).
pub(crate) const SITE1_INSIDE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0);
/// Site 1's NPTv6 outside prefix.
pub(crate) const SITE1_OUTSIDE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0);
/// Site 2's inside prefix.
pub(crate) const SITE2_INSIDE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 0);
/// Site 2's NPTv6 outside prefix.
pub(crate) const SITE2_OUTSIDE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 4, 0, 0, 0, 0, 0);
/// The "internet" link's prefix (routers' WANs, server, peer).
pub(crate) const INET6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 0);

/// `prefix` with its last 16-bit word set to `last` (`2001:db8:1::` + 0x10
/// = `2001:db8:1::10`).
fn host6(prefix: Ipv6Addr, last: u16) -> Ipv6Addr {
    let mut w = prefix.segments();
    w[7] = last;
    Ipv6Addr::from(w)
}

/// The lab's address plan (all documentation / CGNAT ranges).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabAddrs {
    /// The client's main LAN address (192.0.2.10; 198.51.100.10 when routed).
    pub client: Ipv4Addr,
    /// The client's second LAN address on the same interface (…​.11).
    pub client_second: Ipv4Addr,
    /// The LAN prefix length (24).
    pub lan_prefix: u8,
    /// The router's LAN address, the client's default gateway (…​.1).
    pub router_lan: Ipv4Addr,
    /// The router's own WAN address: 203.0.113.1, or 100.64.0.2 behind a
    /// carrier NAT.
    pub router_wan: Ipv4Addr,
    /// The address the internet sees for NATed traffic: 203.0.113.1 (the
    /// router's WAN, or the carrier's outside address with a carrier NAT).
    pub router_public: Ipv4Addr,
    /// The carrier NAT's inside address (100.64.0.1), with a carrier NAT.
    pub carrier_inside: Option<Ipv4Addr>,
    /// What a server should see as the client's source address:
    /// `router_public`, or the client's own address without NAT.
    pub expected_public: Ipv4Addr,
    /// The server's primary public address (203.0.113.100).
    pub server_primary: Ipv4Addr,
    /// The server's alternate public address (203.0.113.101), for RFC 5780.
    pub server_alternate: Ipv4Addr,
    /// The third public host (203.0.113.200).
    pub peer: Ipv4Addr,
    /// With a second site: its client's LAN address (192.0.2.20/24, the
    /// LAN behind `router2`, whose LAN address is 192.0.2.1).
    #[serde(default)]
    pub client2: Option<Ipv4Addr>,
    /// With a second site: its router's WAN = public address (203.0.113.2).
    #[serde(default)]
    pub router2_public: Option<Ipv4Addr>,
    /// With IPv6: the client's main address (2001:db8:1::10/64 on eth0).
    #[serde(default)]
    pub client6: Option<Ipv6Addr>,
    /// With IPv6: the client's second address on eth0 (2001:db8:1::11/64).
    #[serde(default)]
    pub client6_second: Option<Ipv6Addr>,
    /// With IPv6: the router's LAN address, the client's IPv6 gateway
    /// (2001:db8:1::1/64).
    #[serde(default)]
    pub router6_lan: Option<Ipv6Addr>,
    /// With IPv6: the router's WAN address (2001:db8:ff::1/64), the gateway
    /// of the server and peer towards the client's prefix, and the NAT66
    /// public address.
    #[serde(default)]
    pub router6_wan: Option<Ipv6Addr>,
    /// With IPv6: the server's primary address (2001:db8:ff::100/64).
    #[serde(default)]
    pub server6_primary: Option<Ipv6Addr>,
    /// With IPv6: the server's alternate address (2001:db8:ff::101/64), for
    /// RFC 5780.
    #[serde(default)]
    pub server6_alternate: Option<Ipv6Addr>,
    /// With IPv6: the third public host (2001:db8:ff::200/64).
    #[serde(default)]
    pub peer6: Option<Ipv6Addr>,
    /// With IPv6: what a server sees as the client's IPv6 source address:
    /// `client6` when routed or firewalled, `router6_wan` with NAT66, and
    /// the RFC 6296 translation of `client6` into 2001:db8:2::/48 with
    /// NPTv6 (2001:db8:2:fffe::10, see [`crate::npt_translate`]).
    #[serde(default)]
    pub expected_public6: Option<Ipv6Addr>,
    /// With IPv6 and a second site: its client's address (2001:db8:3::20/64,
    /// behind `router2`, whose LAN address is 2001:db8:3::1).
    #[serde(default)]
    pub client2_6: Option<Ipv6Addr>,
    /// With IPv6 and a second site: its router's WAN address
    /// (2001:db8:ff::2/64).
    #[serde(default)]
    pub router2_6_wan: Option<Ipv6Addr>,
    /// With IPv6 and a second site: what a server sees as `client2_6`
    /// (as [`LabAddrs::expected_public6`]; NPTv6 maps 2001:db8:3::/48 to
    /// 2001:db8:4::/48).
    #[serde(default)]
    pub expected_public2_6: Option<Ipv6Addr>,
}

impl LabAddrs {
    /// The plan for a spec.
    pub fn for_spec(spec: &LabSpec) -> LabAddrs {
        let v6 = spec.ipv6;
        let v6_2 = spec.second_site.and(spec.ipv6);
        let routed = spec.nat == NatBehaviour::None;
        let lan = |last: u8| {
            if routed {
                Ipv4Addr::new(198, 51, 100, last)
            } else {
                Ipv4Addr::new(192, 0, 2, last)
            }
        };
        let public = Ipv4Addr::new(203, 0, 113, 1);
        let router_wan = if spec.carrier_nat {
            Ipv4Addr::new(100, 64, 0, 2)
        } else {
            public
        };
        LabAddrs {
            client: lan(10),
            client_second: lan(11),
            lan_prefix: 24,
            router_lan: lan(1),
            router_wan,
            router_public: public,
            carrier_inside: spec.carrier_nat.then_some(Ipv4Addr::new(100, 64, 0, 1)),
            expected_public: if routed && !spec.carrier_nat {
                lan(10)
            } else {
                public
            },
            server_primary: Ipv4Addr::new(203, 0, 113, 100),
            server_alternate: Ipv4Addr::new(203, 0, 113, 101),
            peer: Ipv4Addr::new(203, 0, 113, 200),
            client2: spec.second_site.map(|_| Ipv4Addr::new(192, 0, 2, 20)),
            router2_public: spec.second_site.map(|_| Ipv4Addr::new(203, 0, 113, 2)),
            client6: v6.map(|_| host6(SITE1_INSIDE6, 0x10)),
            client6_second: v6.map(|_| host6(SITE1_INSIDE6, 0x11)),
            router6_lan: v6.map(|_| host6(SITE1_INSIDE6, 1)),
            router6_wan: v6.map(|_| host6(INET6, 1)),
            server6_primary: v6.map(|_| host6(INET6, 0x100)),
            server6_alternate: v6.map(|_| host6(INET6, 0x101)),
            peer6: v6.map(|_| host6(INET6, 0x200)),
            expected_public6: v6.map(|b| {
                expected6(
                    b,
                    host6(SITE1_INSIDE6, 0x10),
                    host6(INET6, 1),
                    SITE1_OUTSIDE6,
                )
            }),
            client2_6: v6_2.map(|_| host6(SITE2_INSIDE6, 0x20)),
            router2_6_wan: v6_2.map(|_| host6(INET6, 2)),
            expected_public2_6: v6_2.map(|b| {
                expected6(
                    b,
                    host6(SITE2_INSIDE6, 0x20),
                    host6(INET6, 2),
                    SITE2_OUTSIDE6,
                )
            }),
        }
    }
}

/// What a server sees as the source of `client` behind a router with IPv6
/// behaviour `b`, WAN address `wan` and NPTv6 outside prefix `outside`.
fn expected6(b: Ipv6Behaviour, client: Ipv6Addr, wan: Ipv6Addr, outside: Ipv6Addr) -> Ipv6Addr {
    match b {
        Ipv6Behaviour::Nat66 => wan,
        Ipv6Behaviour::Npt => {
            let inside = nat6::prefix_of(client, SITE6_PREFIX);
            // The client is inside its own /48 and the prefix is shorter
            // than 64 bits, so the translation exists; the fallback is
            // unreachable.
            nat6::npt_translate(client, inside, outside, SITE6_PREFIX).unwrap_or(client)
        }
        _ => client,
    }
}

/// One site's IPv6 addresses, for the build.
#[derive(Debug, Clone, Copy)]
struct Site6 {
    client: Ipv6Addr,
    router_lan: Ipv6Addr,
    router_wan: Ipv6Addr,
    /// The prefix the internet routes to this site's router, if any: the
    /// inside /48 (routed, firewalls), the NPTv6 outside /48, none (NAT66:
    /// the router's WAN address is on-link).
    visible: Option<Ipv6Addr>,
}

impl Site6 {
    fn new(
        b: Ipv6Behaviour,
        client: Ipv6Addr,
        wan: Ipv6Addr,
        inside: Ipv6Addr,
        outside: Ipv6Addr,
    ) -> Site6 {
        Site6 {
            client,
            router_lan: host6(inside, 1),
            router_wan: wan,
            visible: match b {
                Ipv6Behaviour::Nat66 => None,
                Ipv6Behaviour::Npt => Some(outside),
                _ => Some(inside),
            },
        }
    }

    /// `route add PREFIX/48 via WAN` towards this site (none for NAT66).
    fn route_to(&self) -> String {
        self.visible
            .map(|v| format!("route add {v}/{SITE6_PREFIX} via {}\n", self.router_wan))
            .unwrap_or_default()
    }
}

/// What `natscope lab up` saves so that `natscope lab down` can remove the
/// lab (stored as JSON in [`super::STATE_DIR`]`/<prefix>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabState {
    /// The namespace name prefix.
    pub prefix: String,
    /// The spec the lab was built from.
    pub spec: LabSpec,
    /// The namespace names.
    pub namespaces: Vec<String>,
    /// The address plan.
    pub addrs: LabAddrs,
}

impl LabState {
    /// Deletes the lab's namespaces (those that still exist).
    pub fn teardown(&self) -> Result<(), LabError> {
        let existing: Vec<String> = self
            .namespaces
            .iter()
            .filter(|n| std::path::Path::new("/run/netns").join(n).exists())
            .cloned()
            .collect();
        delete_namespaces(&existing)
    }
}

/// `ip -batch` deleting the given namespaces.
pub(crate) fn delete_namespaces(names: &[String]) -> Result<(), LabError> {
    if names.is_empty() {
        return Ok(());
    }
    let script: String = names.iter().map(|n| format!("netns del {n}\n")).collect();
    netns::run_tool(&["ip", "-force", "-batch", "-"], Some(&script))
}

/// Builds namespaces, links, addresses, routes, sysctls and nft rules.
pub(crate) fn build(lab: &Lab) -> Result<(), LabError> {
    let a = lab.addrs();
    let spec = lab.spec();
    let n = |r: Ns| lab.ns_name(r);
    let p = a.lan_prefix;

    // 1. Namespaces and veth pairs, created directly inside the namespaces
    //    (nothing appears in the root namespace).
    let mut root = String::new();
    for r in Ns::ALL.iter().filter(|r| lab.has(**r)) {
        root += &format!("netns add {}\n", n(*r));
    }
    root += &format!(
        "link add eth0 netns {} type veth peer name lan netns {}\n",
        n(Ns::Client),
        n(Ns::Router)
    );
    if spec.carrier_nat {
        root += &format!(
            "link add wan netns {} type veth peer name cpe netns {}\n",
            n(Ns::Router),
            n(Ns::Carrier)
        );
        root += &format!(
            "link add wan netns {} type veth peer name r netns {}\n",
            n(Ns::Carrier),
            n(Ns::Internet)
        );
    } else {
        root += &format!(
            "link add wan netns {} type veth peer name r netns {}\n",
            n(Ns::Router),
            n(Ns::Internet)
        );
    }
    root += &format!(
        "link add eth0 netns {} type veth peer name s netns {}\n",
        n(Ns::Server),
        n(Ns::Internet)
    );
    root += &format!(
        "link add eth0 netns {} type veth peer name p netns {}\n",
        n(Ns::Peer),
        n(Ns::Internet)
    );
    if spec.second_site.is_some() {
        root += &format!(
            "link add eth0 netns {} type veth peer name lan netns {}\n",
            n(Ns::Client2),
            n(Ns::Router2)
        );
        root += &format!(
            "link add wan netns {} type veth peer name r2 netns {}\n",
            n(Ns::Router2),
            n(Ns::Internet)
        );
    }
    netns::run_tool(&["ip", "-batch", "-"], Some(&root))?;
    if spec.ipv6.is_some() {
        // Before any link is up: no duplicate address detection on the
        // IPv6 interfaces (so link-local addresses are never tentative: a
        // router sends neighbour solicitations for forwarded packets only
        // from a valid link-local address, and would otherwise wait about a
        // second for DAD), and no autoconfiguration from router
        // advertisements (nobody in the lab sends any; this keeps it so).
        let mut ifaces: Vec<(Ns, &[&str])> = vec![
            (Ns::Client, &["eth0"]),
            (Ns::Router, &["lan", "wan"]),
            (Ns::Server, &["eth0"]),
            (Ns::Peer, &["eth0"]),
        ];
        if spec.second_site.is_some() {
            ifaces.extend([
                (Ns::Client2, &["eth0"][..]),
                (Ns::Router2, &["lan", "wan"][..]),
            ]);
        }
        for (ns, names) in ifaces {
            let keys: Vec<String> = names
                .iter()
                .flat_map(|i| {
                    [
                        format!("net/ipv6/conf/{i}/accept_dad"),
                        format!("net/ipv6/conf/{i}/accept_ra"),
                    ]
                })
                .collect();
            netns::run_in_netns(&n(ns), move || {
                let values: Vec<(&str, String)> =
                    keys.iter().map(|k| (k.as_str(), "0".to_string())).collect();
                netns::write_sysctls(&values)
            })??;
        }
    }

    // 2. Per-namespace addresses and routes. IPv6 (when asked for) goes
    //    into the same batches: `nodad` addresses are usable at once.
    let p6 = LINK6_PREFIX;
    let site1 = match (spec.ipv6, a.client6, a.router6_wan) {
        (Some(b), Some(c), Some(w)) => Some(Site6::new(b, c, w, SITE1_INSIDE6, SITE1_OUTSIDE6)),
        _ => None,
    };
    let site2 = match (spec.ipv6, a.client2_6, a.router2_6_wan) {
        (Some(b), Some(c), Some(w)) => Some(Site6::new(b, c, w, SITE2_INSIDE6, SITE2_OUTSIDE6)),
        _ => None,
    };
    let mut client = format!(
        "link set lo up\nlink set eth0 up\naddr add {}/{p} dev eth0\naddr add {}/{p} dev eth0\nroute add default via {}\n",
        a.client, a.client_second, a.router_lan
    );
    let mut router = format!(
        "link set lo up\nlink set lan up\nlink set wan up\naddr add {}/{p} dev lan\n",
        a.router_lan
    );
    if let Some(s1) = site1 {
        // The second address first: Linux prefers the most recently added
        // of equal IPv6 addresses as a source, and the main one must be
        // the default source (as 192.0.2.10 is for IPv4).
        if let Some(second) = a.client6_second {
            client += &format!("addr add {second}/{p6} dev eth0 nodad\n");
        }
        client += &format!("addr add {}/{p6} dev eth0 nodad\n", s1.client);
        client += &format!("route add default via {}\n", s1.router_lan);
        router += &format!(
            "addr add {}/{p6} dev lan nodad\naddr add {}/{p6} dev wan nodad\n",
            s1.router_lan, s1.router_wan
        );
        // The other site's clients, for site-to-site traffic.
        if let Some(s2) = site2 {
            router += &s2.route_to();
        }
    }
    if let Some(inside) = a.carrier_inside {
        router += &format!(
            "addr add {}/24 dev wan\nroute add default via {inside}\n",
            a.router_wan
        );
        let carrier = format!(
            "link set lo up\nlink set cpe up\nlink set wan up\naddr add {inside}/24 dev cpe\naddr add {}/24 dev wan\n",
            a.router_public
        );
        // Routed client LAN behind a carrier: the carrier must know it.
        let carrier = if spec.nat == NatBehaviour::None {
            format!(
                "{carrier}route add {}/{p} via {}\n",
                lan_network(a.client, p),
                a.router_wan
            )
        } else {
            carrier
        };
        netns::run_tool(
            &["ip", "-n", &n(Ns::Carrier), "-batch", "-"],
            Some(&carrier),
        )?;
    } else {
        router += &format!("addr add {}/24 dev wan\n", a.router_wan);
    }
    let mut inet = String::from(
        "link set lo up\nlink add br0 type bridge\nlink set br0 up\n\
                link set r master br0\nlink set r up\n\
                link set s master br0\nlink set s up\n\
                link set p master br0\nlink set p up\n",
    );
    if spec.second_site.is_some() {
        inet += "link set r2 master br0\nlink set r2 up\n";
    }
    let host = |addrs: &[Ipv4Addr], addrs6: &[Option<Ipv6Addr>]| {
        let mut s = String::from("link set lo up\nlink set eth0 up\n");
        for ad in addrs {
            s += &format!("addr add {ad}/24 dev eth0\n");
        }
        s += &format!("route add default via {}\n", a.router_public);
        for ad in addrs6.iter().flatten() {
            s += &format!("addr add {ad}/{p6} dev eth0 nodad\n");
        }
        // No IPv6 default route: only the sites' visible prefixes are
        // reachable, through their routers.
        for site in [site1, site2].into_iter().flatten() {
            s += &site.route_to();
        }
        s
    };
    netns::run_tool(&["ip", "-n", &n(Ns::Client), "-batch", "-"], Some(&client))?;
    netns::run_tool(&["ip", "-n", &n(Ns::Router), "-batch", "-"], Some(&router))?;
    netns::run_tool(&["ip", "-n", &n(Ns::Internet), "-batch", "-"], Some(&inet))?;
    netns::run_tool(
        &["ip", "-n", &n(Ns::Server), "-batch", "-"],
        Some(&host(
            &[a.server_primary, a.server_alternate],
            &[a.server6_primary, a.server6_alternate],
        )),
    )?;
    netns::run_tool(
        &["ip", "-n", &n(Ns::Peer), "-batch", "-"],
        Some(&host(&[a.peer], &[a.peer6])),
    )?;

    // 3. nft rules (one `nft -f` per NAT namespace), then sysctls (the
    //    conntrack ones exist once nft has loaded conntrack).
    let timeout_s = spec.udp_timeout.map(|t| {
        let s = t.as_secs() + u64::from(t.subsec_nanos() > 0);
        s.max(1)
    });
    let mut sysctls: Vec<(&str, String)> = vec![("net/ipv4/ip_forward", "1".into())];
    if let Some(s) = timeout_s {
        sysctls.push(("net/netfilter/nf_conntrack_udp_timeout", s.to_string()));
        sysctls.push((
            "net/netfilter/nf_conntrack_udp_timeout_stream",
            s.to_string(),
        ));
    }
    let router_rules = nat::ruleset(spec, a);
    let carrier_rules = spec.carrier_nat.then(nat::carrier_ruleset);
    if let (Some(nat2), Some(c2), Some(pub2)) = (spec.second_site, a.client2, a.router2_public) {
        let gw2 = Ipv4Addr::new(192, 0, 2, 1);
        let mut client2 = format!(
            "link set lo up\nlink set eth0 up\naddr add {c2}/{p} dev eth0\nroute add default via {gw2}\n"
        );
        let mut router2 = format!(
            "link set lo up\nlink set lan up\nlink set wan up\naddr add {gw2}/{p} dev lan\naddr add {pub2}/24 dev wan\n"
        );
        if let Some(s2) = site2 {
            client2 += &format!(
                "addr add {}/{p6} dev eth0 nodad\nroute add default via {}\n",
                s2.client, s2.router_lan
            );
            router2 += &format!(
                "addr add {}/{p6} dev lan nodad\naddr add {}/{p6} dev wan nodad\n",
                s2.router_lan, s2.router_wan
            );
            if let Some(s1) = site1 {
                router2 += &s1.route_to();
            }
        }
        netns::run_tool(
            &["ip", "-n", &n(Ns::Client2), "-batch", "-"],
            Some(&client2),
        )?;
        netns::run_tool(
            &["ip", "-n", &n(Ns::Router2), "-batch", "-"],
            Some(&router2),
        )?;
        // The same rule sets as the main router, for the second site's
        // behaviour and addresses (site 1's public address keeps its own
        // ADM pool).
        let spec2 = LabSpec {
            udp_timeout: spec.udp_timeout,
            ipv6: spec.ipv6,
            ..LabSpec::new(nat2)
        };
        let mut a2 = a.clone();
        a2.client = c2;
        a2.router_lan = gw2;
        a2.router_wan = pub2;
        a2.client6 = a.client2_6;
        a2.client6_second = None;
        a2.router6_lan = site2.map(|s| s.router_lan);
        a2.router6_wan = a.router2_6_wan;
        a2.expected_public6 = a.expected_public2_6;
        let rules2 = nat::ruleset(&spec2, &a2);
        let rules2_6 = nat6::ruleset6(&spec2, &a2);
        let sys = with_ipv6_sysctls(&sysctls, spec.ipv6.is_some());
        netns::run_in_netns(&n(Ns::Router2), move || -> Result<(), LabError> {
            if let Some(rules) = rules2 {
                netns::run_tool(&["nft", "-f", "-"], Some(&rules))?;
            }
            rules2_6.load()?;
            netns::write_sysctls(&sys)
        })??;
    }
    let router_ns = n(Ns::Router);
    let carrier_ns = spec.carrier_nat.then(|| n(Ns::Carrier));
    let router_rules6 = nat6::ruleset6(spec, a);
    let sys = with_ipv6_sysctls(&sysctls, spec.ipv6.is_some());
    netns::run_in_netns(&router_ns, move || -> Result<(), LabError> {
        if let Some(rules) = router_rules {
            netns::run_tool(&["nft", "-f", "-"], Some(&rules))?;
        }
        router_rules6.load()?;
        netns::write_sysctls(&sys)
    })??;
    if let (Some(cns), Some(rules)) = (carrier_ns, carrier_rules) {
        netns::run_in_netns(&cns, move || -> Result<(), LabError> {
            netns::run_tool(&["nft", "-f", "-"], Some(&rules))?;
            netns::write_sysctls(&sysctls)
        })??;
    }
    Ok(())
}

/// A router's sysctls: `base`, plus IPv6 forwarding when the lab has IPv6.
fn with_ipv6_sysctls(base: &[(&'static str, String)], ipv6: bool) -> Vec<(&'static str, String)> {
    let mut v = base.to_vec();
    if ipv6 {
        v.push(("net/ipv6/conf/all/forwarding", "1".into()));
    }
    v
}

fn lan_network(addr: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(u32::from(addr) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_without_ipv6_still_parse() {
        // A state file written before IPv6 existed (`natscope lab down`
        // must still read it): no `ipv6` in the spec, no `*6` addresses.
        let spec = LabSpec::new(NatBehaviour::EimApdf);
        let mut state = serde_json::to_value(LabState {
            prefix: "old".into(),
            spec: spec.clone(),
            namespaces: vec!["old-client".into()],
            addrs: LabAddrs::for_spec(&spec),
        })
        .expect("serialises");
        let strip = |v: &mut serde_json::Value, keys: &[&str]| {
            let obj = v.as_object_mut().expect("an object");
            for k in keys {
                assert!(obj.remove(*k).is_some(), "{k} was written");
            }
        };
        strip(&mut state["spec"], &["ipv6"]);
        strip(
            &mut state["addrs"],
            &[
                "client6",
                "client6_second",
                "router6_lan",
                "router6_wan",
                "server6_primary",
                "server6_alternate",
                "peer6",
                "expected_public6",
                "client2_6",
                "router2_6_wan",
                "expected_public2_6",
            ],
        );
        let back: LabState = serde_json::from_value(state).expect("old state parses");
        assert_eq!(back.spec, spec);
        assert_eq!(back.addrs.client6, None);
    }

    #[test]
    fn ipv6_spec_round_trips_with_kebab_case_names() {
        for b in Ipv6Behaviour::ALL {
            let spec = LabSpec::new(NatBehaviour::EimApdf).ipv6(b);
            let json = serde_json::to_value(&spec).expect("serialises");
            assert_eq!(json["ipv6"], b.as_str());
            assert_eq!(Ipv6Behaviour::parse(b.as_str()), Some(b));
            let back: LabSpec = serde_json::from_value(json).expect("parses");
            assert_eq!(back, spec);
        }
        assert_eq!(Ipv6Behaviour::parse("nat64"), None);
    }

    #[test]
    fn ipv6_with_a_carrier_nat_is_invalid_and_second_site_is_planned() {
        for spec in [
            LabSpec::new(NatBehaviour::DoubleNat).ipv6(Ipv6Behaviour::Routed),
            LabSpec::new(NatBehaviour::EimApdf)
                .carrier_nat(true)
                .ipv6(Ipv6Behaviour::Nat66),
        ] {
            assert!(
                matches!(spec.validate(), Err(LabError::InvalidSpec(m)) if m.contains("carrier")),
                "{spec:?}"
            );
        }
        let spec = LabSpec::new(NatBehaviour::EimApdf)
            .second_site(NatBehaviour::Apdm)
            .ipv6(Ipv6Behaviour::Npt);
        assert!(spec.validate().is_ok());
        let a = LabAddrs::for_spec(&spec);
        assert_eq!(
            a.client2_6,
            Some(Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 0x20))
        );
        assert_eq!(
            a.router2_6_wan,
            Some(Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2))
        );
        assert_eq!(
            a.expected_public2_6,
            Some(Ipv6Addr::new(0x2001, 0xdb8, 4, 0xfffe, 0, 0, 0, 0x20))
        );
        // Every IPv6 address of the plan is in 2001:db8::/32.
        let all = [
            a.client6,
            a.client6_second,
            a.router6_lan,
            a.router6_wan,
            a.server6_primary,
            a.server6_alternate,
            a.peer6,
            a.expected_public6,
            a.client2_6,
            a.router2_6_wan,
            a.expected_public2_6,
        ];
        for ad in all {
            let ad = ad.expect("planned");
            assert_eq!(&ad.segments()[..2], &[0x2001, 0xdb8], "{ad}");
        }
    }
}
