//! The address plan and the `ip -batch` scripts that build the lab.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::{Lab, LabError, LabSpec, NatBehaviour, Ns, nat, netns};

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
}

impl LabAddrs {
    /// The plan for a spec.
    pub fn for_spec(spec: &LabSpec) -> LabAddrs {
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
        }
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

    // 2. Per-namespace addresses and routes.
    let client = format!(
        "link set lo up\nlink set eth0 up\naddr add {}/{p} dev eth0\naddr add {}/{p} dev eth0\nroute add default via {}\n",
        a.client, a.client_second, a.router_lan
    );
    let mut router = format!(
        "link set lo up\nlink set lan up\nlink set wan up\naddr add {}/{p} dev lan\n",
        a.router_lan
    );
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
    let host = |addrs: &[Ipv4Addr]| {
        let mut s = String::from("link set lo up\nlink set eth0 up\n");
        for ad in addrs {
            s += &format!("addr add {ad}/24 dev eth0\n");
        }
        s += &format!("route add default via {}\n", a.router_public);
        s
    };
    netns::run_tool(&["ip", "-n", &n(Ns::Client), "-batch", "-"], Some(&client))?;
    netns::run_tool(&["ip", "-n", &n(Ns::Router), "-batch", "-"], Some(&router))?;
    netns::run_tool(&["ip", "-n", &n(Ns::Internet), "-batch", "-"], Some(&inet))?;
    netns::run_tool(
        &["ip", "-n", &n(Ns::Server), "-batch", "-"],
        Some(&host(&[a.server_primary, a.server_alternate])),
    )?;
    netns::run_tool(
        &["ip", "-n", &n(Ns::Peer), "-batch", "-"],
        Some(&host(&[a.peer])),
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
        let client2 = format!(
            "link set lo up\nlink set eth0 up\naddr add {c2}/{p} dev eth0\nroute add default via {gw2}\n"
        );
        let router2 = format!(
            "link set lo up\nlink set lan up\nlink set wan up\naddr add {gw2}/{p} dev lan\naddr add {pub2}/24 dev wan\n"
        );
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
            ..LabSpec::new(nat2)
        };
        let mut a2 = a.clone();
        a2.client = c2;
        a2.router_lan = gw2;
        a2.router_wan = pub2;
        let rules2 = nat::ruleset(&spec2, &a2);
        let sys = sysctls.clone();
        netns::run_in_netns(&n(Ns::Router2), move || -> Result<(), LabError> {
            if let Some(rules) = rules2 {
                netns::run_tool(&["nft", "-f", "-"], Some(&rules))?;
            }
            netns::write_sysctls(&sys)
        })??;
    }
    let router_ns = n(Ns::Router);
    let carrier_ns = spec.carrier_nat.then(|| n(Ns::Carrier));
    let sys = sysctls.clone();
    netns::run_in_netns(&router_ns, move || -> Result<(), LabError> {
        if let Some(rules) = router_rules {
            netns::run_tool(&["nft", "-f", "-"], Some(&rules))?;
        }
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

fn lan_network(addr: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(u32::from(addr) & mask)
}
