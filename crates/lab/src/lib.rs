//! # natscope-lab: real kernel NATs in network namespaces
//!
//! The network-namespace NAT lab: real Linux kernel NATs (nftables +
//! conntrack) between a client and a small documentation-range "internet",
//! with natscope's responder, coturn and miniupnpd as its servers. Tests
//! prove verdicts here; `natscope lab` gives users the same lab.
//!
//! Linux only, and it needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN). Nothing is
//! ever created in the root namespace: every namespace, veth pair and bridge
//! lives under `/run/netns/<prefix>-<role>` and is removed when the [`Lab`] is
//! dropped (also when a test panics).
//!
//! ```text
//!  client ns                router ns                 inet ns (bridge br0)
//!  192.0.2.10/24  eth0 ── lan 192.0.2.1/24
//!  192.0.2.11/24               wan 203.0.113.1/24 ── r ┐
//!                                                      ├ br0 ── s ── server ns eth0 203.0.113.100, .101
//!                                                      └──────── p ── peer ns   eth0 203.0.113.200
//!
//!  with LabSpec::ipv6 (dual stack, every address `nodad`, all in 2001:db8::/32):
//!  2001:db8:1::10/64 eth0 ── lan 2001:db8:1::1/64
//!  2001:db8:1::11/64            wan 2001:db8:ff::1/64 ── br0 ── server 2001:db8:ff::100, ::101
//!  default via ...:1::1         ip6 natlab6 / ip6tables         peer   2001:db8:ff::200
//!                                                   (routes to the site via 2001:db8:ff::1)
//! ```
//!
//! With a carrier NAT ([`LabSpec::carrier_nat`], or [`NatBehaviour::DoubleNat`])
//! the router's WAN is `100.64.0.2/24` and a carrier namespace sits between
//! it and the bridge (`100.64.0.1/24` inside, `203.0.113.1/24` outside).
//! With [`NatBehaviour::None`] the LAN is `198.51.100.0/24` and is routed
//! without translation.
//!
//! With [`LabSpec::ipv6`] every host also gets IPv6 and the router applies
//! an [`Ipv6Behaviour`] (routed, RFC 6092 firewalls with APDF/ADF/EIF
//! filtering, NAT66, NPTv6) in its own nft table `ip6 natlab6` (NPTv6:
//! ip6tables `SNPT`/`DNPT`); the IPv4 NAT is unchanged. The server and
//! peer route the site's visible /48 (`2001:db8:1::/48`, or the NPTv6
//! outside `2001:db8:2::/48`; none for NAT66) via the router's WAN; there is
//! no IPv6 default route anywhere but the client's. Hairpinning is IPv4
//! only; loss applies to both families. Not with a carrier NAT.
//!
//! Typical use (see `docs/lab.md` and `tests/lab.rs`):
//!
//! ```no_run
//! use lab::{Lab, LabSpec, NatBehaviour, Ns};
//! let lab = Lab::up(LabSpec::new(NatBehaviour::EimApdf)).expect("root needed");
//! let refl = lab.addrs().server_primary;
//! lab.start_reflector(Ns::Server, &[(refl, 4000).into()]).unwrap();
//! let seen = lab
//!     .run_in(Ns::Client, move || {
//!         let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
//!         s.set_read_timeout(Some(std::time::Duration::from_secs(1))).unwrap();
//!         s.send_to(b"hi", (refl, 4000)).unwrap();
//!         let mut buf = [0u8; 100];
//!         let (n, _) = s.recv_from(&mut buf).unwrap();
//!         String::from_utf8_lossy(&buf[..n]).into_owned()
//!     })
//!     .unwrap();
//! println!("the reflector saw us as {seen}");
//! ```
//!
//! ## What it deliberately does not do
//!
//! - It never touches the root namespace: no route, address or rule is
//!   added there, and no namespace is connected to a real interface.
//!   Addresses are from the documentation ranges (RFC 5737, RFC 3849) and
//!   RFC 6598's shared space for the carrier NAT.
//! - It has no protocol client: probes run inside it (`Lab::run_in`,
//!   `natscope lab exec`).
//!
//! ## Standards checklist
//!
//! - [x] RFC 4787 behaviours: EIM, ADM, APDM mapping; EIF, ADF, APDF
//!   filtering; hairpinning on/off; short UDP mapping timeouts.
//! - [x] RFC 6598 carrier-grade NAT (double NAT) topology.
//! - [x] RFC 6886 NAT-PMP, RFC 6887 PCP and UPnP IGD through miniupnpd.
//! - [x] IPv6, dual stack ([`Ipv6Behaviour`]): routed; RFC 6092 stateful
//!   firewall (APDF) and address-dependent / endpoint-independent
//!   filtering variants; NAT66 masquerade; RFC 6296 NPTv6
//!   ([`npt_translate`]); the second site too. Not behind a carrier NAT;
//!   no IPv6 hairpinning, NAT64/DNS64 or DHCPv6/SLAAC (addresses are
//!   static).
#![cfg(target_os = "linux")]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod conntrack;
mod coturn;
mod nat;
mod nat6;
mod netns;
mod reflector;
mod topology;

pub use conntrack::{ConntrackUdp, parse_conntrack};
pub use coturn::{CoturnInfo, CoturnOptions, LoopbackCoturn};
pub use nat::ruleset;
pub use nat6::{Ipv6Rules, npt_translate, ruleset6};
pub use reflector::REFLECTOR_FROM_PREFIX;
pub use topology::{LabAddrs, LabState};

mod miniupnpd;
pub use miniupnpd::{MINIUPNPD_TABLE, MiniupnpdInfo, MiniupnpdOptions};

impl Lab {
    /// Starts miniupnpd (UPnP IGD, NAT-PMP, PCP) on the router with a config
    /// and nftables chains of our own, and waits (bounded) until NAT-PMP
    /// answers. Killed on drop. See `lab/miniupnpd.rs`.
    pub fn start_miniupnpd(&self, opts: MiniupnpdOptions) -> Result<MiniupnpdInfo, LabError> {
        miniupnpd::start(self, opts)
    }
}

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where the CLI keeps the state files of labs left up (`natscope lab up`).
pub const STATE_DIR: &str = "/run/natscope-lab";

/// Errors of the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The process lacks the privileges to create namespaces.
    #[error("the NAT lab needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN): {reason}")]
    NotPermitted {
        /// What exactly is missing.
        reason: String,
    },
    /// A required external program is not installed.
    #[error("the NAT lab needs `{tool}` (Debian package `{package}`), not found in PATH")]
    MissingTool {
        /// The program name.
        tool: String,
        /// The Debian package that provides it.
        package: String,
    },
    /// An external command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line (no secrets are ever passed on command lines).
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// An I/O error (spawning, files, sockets).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The requested namespace is not part of this lab (e.g. `Carrier`
    /// without a carrier NAT).
    #[error("namespace role {0:?} does not exist in this lab")]
    NoSuchNamespace(Ns),
    /// A service did not come up in time.
    #[error("{service} did not answer within {waited:?}: {detail}")]
    NotReady {
        /// Which service.
        service: String,
        /// How long we waited.
        waited: Duration,
        /// What was seen (log tail etc.).
        detail: String,
    },
    /// A spec option is out of range.
    #[error("invalid lab spec: {0}")]
    InvalidSpec(String),
    /// Something IPv6 was asked of a lab built without IPv6.
    #[error("{what} needs a lab with IPv6 (LabSpec::ipv6); this one is IPv4 only")]
    NoIpv6 {
        /// What was asked for.
        what: String,
    },
}

impl LabError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LabError::Io {
            context: context.into(),
            source,
        }
    }
}

/// A namespace role in the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ns {
    /// The LAN host behind the NAT.
    Client,
    /// The NAT router (CPE).
    Router,
    /// The optional carrier-grade NAT between router and internet.
    Carrier,
    /// The "internet": a bridge, no addresses.
    Internet,
    /// The server host (two public addresses, coturn, reflectors).
    Server,
    /// A third public host (TURN peer, "host never contacted").
    Peer,
    /// The LAN host of the second site ([`LabSpec::second_site`]).
    Client2,
    /// The NAT router of the second site.
    Router2,
}

impl Ns {
    /// All roles.
    pub const ALL: [Ns; 8] = [
        Ns::Client,
        Ns::Router,
        Ns::Carrier,
        Ns::Internet,
        Ns::Server,
        Ns::Peer,
        Ns::Client2,
        Ns::Router2,
    ];

    /// The role's short name (suffix of the namespace name, CLI role name).
    pub fn as_str(self) -> &'static str {
        match self {
            Ns::Client => "client",
            Ns::Router => "router",
            Ns::Carrier => "carrier",
            Ns::Internet => "inet",
            Ns::Server => "server",
            Ns::Peer => "peer",
            Ns::Client2 => "client2",
            Ns::Router2 => "router2",
        }
    }

    /// Parses a role name (as printed by [`Ns::as_str`]; `internet` also works).
    pub fn parse(s: &str) -> Option<Ns> {
        match s {
            "internet" => Some(Ns::Internet),
            _ => Ns::ALL.into_iter().find(|n| n.as_str() == s),
        }
    }
}

/// The NAT behaviour the router implements (RFC 4787 terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatBehaviour {
    /// Endpoint-independent mapping, address-and-port-dependent filtering
    /// ("port-restricted cone"; plain `masquerade`, the Linux default).
    EimApdf,
    /// Address-and-port-dependent mapping ("symmetric";
    /// `masquerade fully-random`).
    Apdm,
    /// Address-dependent mapping (separate `snat` port pools per destination
    /// address), address-and-port-dependent filtering.
    Adm,
    /// Endpoint-independent mapping and filtering ("full cone").
    EimEif,
    /// Endpoint-independent mapping, address-dependent filtering
    /// ("restricted cone").
    EimAdf,
    /// No NAT: the client has a public-range address and the router only
    /// routes.
    None,
    /// EIM/APDF NAT whose forward path drops all UDP (TCP still works).
    UdpBlocked,
    /// Double NAT: EIM/APDF at the router (CPE) behind an EIM/APDF carrier
    /// NAT (CGNAT, 100.64.0.0/10 in between).
    DoubleNat,
}

impl NatBehaviour {
    /// Every behaviour.
    pub const ALL: [NatBehaviour; 8] = [
        NatBehaviour::EimApdf,
        NatBehaviour::Apdm,
        NatBehaviour::Adm,
        NatBehaviour::EimEif,
        NatBehaviour::EimAdf,
        NatBehaviour::None,
        NatBehaviour::UdpBlocked,
        NatBehaviour::DoubleNat,
    ];

    /// The CLI name (`eim-apdf`, `apdm`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            NatBehaviour::EimApdf => "eim-apdf",
            NatBehaviour::Apdm => "apdm",
            NatBehaviour::Adm => "adm",
            NatBehaviour::EimEif => "eim-eif",
            NatBehaviour::EimAdf => "eim-adf",
            NatBehaviour::None => "none",
            NatBehaviour::UdpBlocked => "udp-blocked",
            NatBehaviour::DoubleNat => "double",
        }
    }

    /// Parses a CLI name.
    pub fn parse(s: &str) -> Option<NatBehaviour> {
        NatBehaviour::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// What the router does to IPv6 (dual stack: alongside the IPv4 NAT, which
/// is unchanged). The LAN is `2001:db8:1::/64` (inside `2001:db8:1::/48`),
/// the "internet" `2001:db8:ff::/64`. See `docs/lab.md`, "IPv6".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ipv6Behaviour {
    /// Routed, no filtering at all: the client's own address is public and
    /// anyone can reach it.
    Routed,
    /// RFC 6092 stateful firewall: inbound only `ct state
    /// established,related` (address-and-port-dependent filtering), plus
    /// ICMPv6.
    FirewallApdf,
    /// Address-dependent filtering: inbound UDP to a client (address, port)
    /// from any port of a remote address that (address, port) has sent to
    /// (a dynamic nft set learned on outbound), else established only.
    FirewallAdf,
    /// Endpoint-independent filtering: inbound UDP to any client (address,
    /// port) that has sent outbound, else established only.
    FirewallEif,
    /// NAT66: `masquerade` to the router's WAN address (endpoint-independent
    /// mapping, address-and-port-dependent filtering, like IPv4
    /// masquerade); the LAN prefix is not routed from outside.
    Nat66,
    /// RFC 6296 NPTv6 (stateless, checksum-neutral prefix translation,
    /// `2001:db8:1::/48` <-> `2001:db8:2::/48`, ip6tables `SNPT`/`DNPT`). No
    /// filtering (so endpoint-independent filtering results).
    Npt,
}

impl Ipv6Behaviour {
    /// Every behaviour.
    pub const ALL: [Ipv6Behaviour; 6] = [
        Ipv6Behaviour::Routed,
        Ipv6Behaviour::FirewallApdf,
        Ipv6Behaviour::FirewallAdf,
        Ipv6Behaviour::FirewallEif,
        Ipv6Behaviour::Nat66,
        Ipv6Behaviour::Npt,
    ];

    /// The CLI name (`routed`, `firewall-apdf`, ...; the serde name too).
    pub fn as_str(self) -> &'static str {
        match self {
            Ipv6Behaviour::Routed => "routed",
            Ipv6Behaviour::FirewallApdf => "firewall-apdf",
            Ipv6Behaviour::FirewallAdf => "firewall-adf",
            Ipv6Behaviour::FirewallEif => "firewall-eif",
            Ipv6Behaviour::Nat66 => "nat66",
            Ipv6Behaviour::Npt => "npt",
        }
    }

    /// Parses a CLI name.
    pub fn parse(s: &str) -> Option<Ipv6Behaviour> {
        Ipv6Behaviour::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// Whether the client's own (inside) prefix is routed from the
    /// internet: not with NAT66 or NPTv6, whose inside prefix is private.
    pub fn inside_prefix_routed(self) -> bool {
        !matches!(self, Ipv6Behaviour::Nat66 | Ipv6Behaviour::Npt)
    }
}

/// What to build: the NAT behaviour plus options. Builder style.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabSpec {
    /// The router's NAT behaviour.
    pub nat: NatBehaviour,
    /// Put a carrier NAT (CGNAT) in front of the router. Implied by
    /// [`NatBehaviour::DoubleNat`].
    pub carrier_nat: bool,
    /// Hairpinning on the router (LAN host reaching another LAN host through
    /// its public mapping).
    pub hairpin: bool,
    /// Random loss on the router's forward path, percent (0..=100), both
    /// directions.
    pub loss_percent: u8,
    /// Conntrack UDP timeout on the router (and carrier), whole seconds; the
    /// kernel default (30 s / 120 s stream) when `None`.
    pub udp_timeout: Option<Duration>,
    /// Namespace name prefix; a unique `ns-<pid>-<n>` when `None`.
    pub prefix: Option<String>,
    /// A second site: another client behind another NAT router with this
    /// behaviour, on the same "internet" ([`LabSpec::second_site`]).
    #[serde(default)]
    pub second_site: Option<NatBehaviour>,
    /// IPv6 alongside IPv4 (dual stack) with this behaviour on the router
    /// (and on the second site's router); IPv4 only when `None`.
    /// Hairpinning is IPv4 only; loss applies to IPv6 forwarding too. Not
    /// with a carrier NAT.
    #[serde(default)]
    pub ipv6: Option<Ipv6Behaviour>,
}

impl LabSpec {
    /// A spec with the given behaviour and no options.
    pub fn new(nat: NatBehaviour) -> Self {
        LabSpec {
            nat,
            carrier_nat: nat == NatBehaviour::DoubleNat,
            hairpin: false,
            loss_percent: 0,
            udp_timeout: None,
            prefix: None,
            second_site: None,
            ipv6: None,
        }
    }
    /// Adds IPv6 (dual stack) with this behaviour on the router; see
    /// [`Ipv6Behaviour`] and [`LabAddrs`]'s `*6` fields.
    pub fn ipv6(mut self, behaviour: Ipv6Behaviour) -> Self {
        self.ipv6 = Some(behaviour);
        self
    }
    /// Enables or disables hairpinning (IPv4 only).
    pub fn hairpin(mut self, on: bool) -> Self {
        self.hairpin = on;
        self
    }
    /// Random loss percentage (both directions).
    pub fn loss_percent(mut self, percent: u8) -> Self {
        self.loss_percent = percent;
        self
    }
    /// Short conntrack UDP timeout (rounded up to whole seconds).
    pub fn udp_timeout(mut self, timeout: Duration) -> Self {
        self.udp_timeout = Some(timeout);
        self
    }
    /// Adds (or removes) the carrier NAT in front of the router.
    pub fn carrier_nat(mut self, on: bool) -> Self {
        self.carrier_nat = on || self.nat == NatBehaviour::DoubleNat;
        self
    }
    /// Adds a second site: namespaces `client2` (192.0.2.20/24) behind
    /// `router2` (WAN 203.0.113.2) with NAT behaviour `nat` (no hairpin,
    /// loss or carrier; the conntrack timeout applies). Not with
    /// [`NatBehaviour::None`] or [`NatBehaviour::DoubleNat`]. With
    /// [`LabSpec::ipv6`], router 2 gets the same IPv6 behaviour: client 2 is
    /// 2001:db8:3::20/64 (gateway 2001:db8:3::1), router 2's WAN
    /// 2001:db8:ff::2 (NPTv6 maps 2001:db8:3::/48 to 2001:db8:4::/48).
    pub fn second_site(mut self, nat: NatBehaviour) -> Self {
        self.second_site = Some(nat);
        self
    }
    /// Fixed namespace name prefix (the CLI's `--name`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    fn validate(&self) -> Result<(), LabError> {
        if self.loss_percent > 100 {
            return Err(LabError::InvalidSpec(format!(
                "loss {}% is over 100%",
                self.loss_percent
            )));
        }
        if let Some(t) = self.udp_timeout
            && t.is_zero()
        {
            return Err(LabError::InvalidSpec("udp timeout of 0 s".into()));
        }
        if let Some(n @ (NatBehaviour::None | NatBehaviour::DoubleNat)) = self.second_site {
            return Err(LabError::InvalidSpec(format!(
                "second site: behaviour {} is not supported",
                n.as_str()
            )));
        }
        if let Some(v6) = self.ipv6
            && self.carrier_nat
        {
            return Err(LabError::InvalidSpec(format!(
                "IPv6 ({}) with a carrier NAT is not built: the carrier path is IPv4 only \
                 (drop the carrier / double NAT, or the IPv6 option)",
                v6.as_str()
            )));
        }
        if let Some(p) = &self.prefix {
            let ok = !p.is_empty()
                && p.len() <= 40
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(LabError::InvalidSpec(format!(
                    "prefix {p:?}: use 1-40 characters of [A-Za-z0-9_-]"
                )));
            }
        }
        Ok(())
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running lab. Dropping it kills the processes it started (only those),
/// stops its reflectors and deletes its namespaces.
pub struct Lab {
    spec: LabSpec,
    prefix: String,
    addrs: LabAddrs,
    roles: Vec<Ns>,
    /// Namespaces created so far (teardown deletes exactly these).
    created: Vec<String>,
    children: Mutex<Vec<Child>>,
    reflectors: Mutex<Vec<reflector::Reflector>>,
    workdir: PathBuf,
    armed: bool,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("prefix", &self.prefix)
            .field("spec", &self.spec)
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl Lab {
    /// Builds the topology for `spec`: namespaces, veths, bridge, addresses,
    /// routes, sysctls and one `nft -f` per NAT namespace.
    ///
    /// Fails with [`LabError::NotPermitted`] when not root, and
    /// [`LabError::MissingTool`] when `ip`/`nft` are missing. On failure,
    /// everything created so far is removed.
    pub fn up(spec: LabSpec) -> Result<Lab, LabError> {
        spec.validate()?;
        netns::check_privileges()?;
        netns::require_tool("ip", "iproute2")?;
        netns::require_tool("nft", "nftables")?;
        if spec.ipv6 == Some(Ipv6Behaviour::Npt) {
            netns::require_tool("ip6tables", "iptables")?;
        }
        let prefix = spec.prefix.clone().unwrap_or_else(|| {
            format!(
                "ns-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            )
        });
        let addrs = LabAddrs::for_spec(&spec);
        let mut roles = vec![Ns::Client, Ns::Router, Ns::Internet, Ns::Server, Ns::Peer];
        if spec.carrier_nat {
            roles.insert(2, Ns::Carrier);
        }
        if spec.second_site.is_some() {
            roles.extend([Ns::Client2, Ns::Router2]);
        }
        let workdir = std::env::temp_dir().join(format!("natscope-lab-{prefix}"));
        let mut lab = Lab {
            spec,
            prefix,
            addrs,
            roles,
            created: Vec::new(),
            children: Mutex::new(Vec::new()),
            reflectors: Mutex::new(Vec::new()),
            workdir,
            armed: true,
        };
        // Refuse to reuse an existing prefix (e.g. a CLI lab left up).
        for r in &lab.roles {
            let name = lab.ns_name(*r);
            if std::path::Path::new("/run/netns").join(&name).exists() {
                return Err(LabError::InvalidSpec(format!(
                    "namespace {name} already exists (run `natscope lab down --name {}`)",
                    lab.prefix
                )));
            }
        }
        // From here on Drop removes whatever was created.
        lab.created = lab.roles.iter().map(|r| lab.ns_name(*r)).collect();
        topology::build(&lab)?;
        Ok(lab)
    }

    /// The spec this lab was built from.
    pub fn spec(&self) -> &LabSpec {
        &self.spec
    }
    /// The namespace name prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    /// The address plan.
    pub fn addrs(&self) -> &LabAddrs {
        &self.addrs
    }
    /// Whether the lab has this role (`Carrier` only with a carrier NAT).
    pub fn has(&self, ns: Ns) -> bool {
        self.roles.contains(&ns)
    }
    /// The namespace name of a role (`<prefix>-<role>`), whether or not the
    /// role exists in this lab.
    pub fn ns_name(&self, ns: Ns) -> String {
        format!("{}-{}", self.prefix, ns.as_str())
    }
    fn existing(&self, ns: Ns) -> Result<String, LabError> {
        if self.has(ns) {
            Ok(self.ns_name(ns))
        } else {
            Err(LabError::NoSuchNamespace(ns))
        }
    }
    /// The client namespace name.
    pub fn client_ns(&self) -> String {
        self.ns_name(Ns::Client)
    }
    /// The router namespace name.
    pub fn router_ns(&self) -> String {
        self.ns_name(Ns::Router)
    }
    /// The server namespace name.
    pub fn server_ns(&self) -> String {
        self.ns_name(Ns::Server)
    }
    /// The peer namespace name.
    pub fn peer_ns(&self) -> String {
        self.ns_name(Ns::Peer)
    }
    /// The carrier namespace name, when there is a carrier NAT.
    pub fn carrier_ns(&self) -> Option<String> {
        self.has(Ns::Carrier).then(|| self.ns_name(Ns::Carrier))
    }

    /// Runs `f` on a new std thread that has joined the namespace's network
    /// stack (`setns(CLONE_NEWNET)` on `/run/netns/NAME`) and returns its
    /// result. Sockets (std or tokio — build a current-thread runtime inside)
    /// and child processes created by `f` live in that namespace. A panic in
    /// `f` is propagated to the caller.
    pub fn run_in<F, T>(&self, ns: Ns, f: F) -> Result<T, LabError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let name = self.existing(ns)?;
        netns::run_in_netns(&name, f)
    }

    /// Runs a command inside the namespace (`ip netns exec NAME argv...`)
    /// and returns its output (a non-zero exit is not an error here).
    pub fn exec(&self, ns: Ns, argv: &[&str]) -> Result<Output, LabError> {
        let name = self.existing(ns)?;
        let mut cmd = netns::ip_netns_exec(&name, argv)?;
        cmd.stdin(Stdio::null());
        cmd.output()
            .map_err(|e| LabError::io(format!("running {argv:?} in {name}"), e))
    }

    /// Starts a long-running command inside the namespace; the lab kills it
    /// (SIGKILL) and reaps it on drop. stdin is closed; stdout and stderr go
    /// to `<workdir>/<pid>.log`. Returns the pid.
    pub fn spawn(&self, ns: Ns, argv: &[&str]) -> Result<u32, LabError> {
        let name = self.existing(ns)?;
        self.ensure_workdir()?;
        // The program's file name: a path (`/usr/bin/x`) has slashes.
        let program = argv
            .first()
            .and_then(|p| std::path::Path::new(p).file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("cmd");
        let log_path = self.workdir.join(format!("spawn-{program}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| LabError::io(format!("opening {}", log_path.display()), e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| LabError::io("duplicating log file", e))?;
        let mut cmd = netns::ip_netns_exec(&name, argv)?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        let child = cmd
            .spawn()
            .map_err(|e| LabError::io(format!("spawning {argv:?} in {name}"), e))?;
        let pid = child.id();
        self.children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(child);
        Ok(pid)
    }

    /// Kills (SIGKILL) and reaps one process started by [`Lab::spawn`] or
    /// [`Lab::start_coturn`]. Unknown pids are ignored: the lab never signals
    /// processes it did not start.
    pub fn kill(&self, pid: u32) {
        let mut children = self.children.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = children.iter().position(|c| c.id() == pid) {
            let mut c = children.remove(i);
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The UDP conntrack entries of a namespace (`conntrack -L -p udp`),
    /// parsed. Needs the `conntrack` tool.
    pub fn conntrack(&self, ns: Ns) -> Result<Vec<ConntrackUdp>, LabError> {
        netns::require_tool("conntrack", "conntrack")?;
        let out = self.exec(ns, &["conntrack", "-L", "-p", "udp"])?;
        if !out.status.success() {
            return Err(LabError::Command {
                command: "conntrack -L -p udp".into(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(parse_conntrack(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Starts a UDP reflector in `ns` on each of `binds`, IPv4 or IPv6 (see
    /// [`REFLECTOR_FROM_PREFIX`] for its protocol). It runs until the lab is
    /// dropped. Returns the bound addresses.
    pub fn start_reflector(
        &self,
        ns: Ns,
        binds: &[std::net::SocketAddr],
    ) -> Result<Vec<std::net::SocketAddr>, LabError> {
        let name = self.existing(ns)?;
        let r = reflector::Reflector::start(&name, binds)?;
        let bound = r.addrs().to_vec();
        self.reflectors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r);
        Ok(bound)
    }

    /// Starts coturn in the server namespace with a config of our own (both
    /// server addresses, STUN 3478 (+3479 RFC 5780 alternate), TLS 5349 with
    /// a fresh self-signed certificate, long-term credentials) and waits
    /// (bounded) until it answers a Binding request. Killed on drop. With
    /// [`CoturnOptions::ipv6`] it also listens on (and relays from) the
    /// server's IPv6 addresses; [`LabError::NoIpv6`] without IPv6 in the
    /// lab. RFC 5780 answers are right only when queried on coturn's first
    /// address of each family (`CoturnInfo::primary`, `primary6`).
    pub fn start_coturn(&self, opts: CoturnOptions) -> Result<CoturnInfo, LabError> {
        coturn::start(self, opts)
    }

    /// Starts natscope's RFC 5780 responder (the one `natscope serve` runs)
    /// on both server addresses, ports 3478/3479, UDP and TCP, no rate
    /// limit. Its sockets are bound inside the server namespace (a socket
    /// keeps its namespace); its tasks run on `runtime`. Stops when the
    /// returned value is dropped or shut down.
    pub fn start_responder(
        &self,
        runtime: &tokio::runtime::Handle,
    ) -> Result<servers::responder::Responder, LabError> {
        let a = self.addrs();
        self.responder_on(a.server_primary.into(), a.server_alternate.into(), runtime)
    }

    /// [`Lab::start_responder`] on IPv6: `server6_primary` and
    /// `server6_alternate`, ports 3478/3479, UDP and TCP (one responder
    /// serves one address family; run both for dual stack). Fails with
    /// [`LabError::NoIpv6`] when the lab was built without IPv6.
    pub fn start_responder6(
        &self,
        runtime: &tokio::runtime::Handle,
    ) -> Result<servers::responder::Responder, LabError> {
        let a = self.addrs();
        match (a.server6_primary, a.server6_alternate) {
            (Some(p), Some(alt)) => self.responder_on(p.into(), alt.into(), runtime),
            _ => Err(LabError::NoIpv6 {
                what: "the IPv6 responder (Lab::start_responder6)".into(),
            }),
        }
    }

    fn responder_on(
        &self,
        primary: std::net::IpAddr,
        alternate: std::net::IpAddr,
        runtime: &tokio::runtime::Handle,
    ) -> Result<servers::responder::Responder, LabError> {
        use servers::responder::{RateLimit, Responder, ResponderConfig};
        let handle = runtime.clone();
        self.run_in(Ns::Server, move || {
            let _guard = handle.enter();
            Responder::start(ResponderConfig {
                primary,
                alternate: Some(alternate),
                port: 3478,
                alt_port: 3479,
                rate_limit: RateLimit::disabled(),
                ..ResponderConfig::default()
            })
        })?
        .map_err(|e| LabError::NotReady {
            service: "natscope responder".into(),
            waited: Duration::ZERO,
            detail: e.to_string(),
        })
    }

    /// Leaves the namespaces up after this value is gone (for `natscope lab
    /// up`): stops reflectors and kills started processes, then returns the
    /// state needed to tear the lab down later.
    pub fn detach(mut self) -> LabState {
        self.stop_processes();
        self.armed = false;
        LabState {
            prefix: self.prefix.clone(),
            spec: self.spec.clone(),
            namespaces: self.created.clone(),
            addrs: self.addrs.clone(),
        }
    }

    /// The lab's working directory (configuration and logs of the
    /// programs it started, e.g. `turnserver.log`); deleted with the lab.
    pub fn workdir(&self) -> &std::path::Path {
        &self.workdir
    }
    pub(crate) fn ensure_workdir(&self) -> Result<(), LabError> {
        std::fs::create_dir_all(&self.workdir)
            .map_err(|e| LabError::io(format!("creating {}", self.workdir.display()), e))
    }
    pub(crate) fn adopt_child(&self, child: Child) {
        self.children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(child);
    }

    fn stop_processes(&mut self) {
        for r in self
            .reflectors
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            r.stop();
        }
        for mut c in self
            .children
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_processes();
        let _ = std::fs::remove_dir_all(&self.workdir);
        if self.armed {
            // Errors are ignored: there is nothing better to do in Drop, and
            // `natscope lab down --name PREFIX` can retry.
            let _ = topology::delete_namespaces(&self.created);
        }
    }
}

/// Deletes every namespace named `<prefix>-<role>` that exists (used by
/// `natscope lab down`). Returns the names deleted.
pub fn teardown_prefix(prefix: &str) -> Result<Vec<String>, LabError> {
    let names: Vec<String> = Ns::ALL
        .iter()
        .map(|r| format!("{prefix}-{}", r.as_str()))
        .filter(|n| std::path::Path::new("/run/netns").join(n).exists())
        .collect();
    topology::delete_namespaces(&names)?;
    Ok(names)
}

/// Runs a command in a namespace by name with inherited stdio (for `natscope
/// lab exec`), returning its exit status.
pub fn exec_inherit(ns_name: &str, argv: &[&str]) -> Result<std::process::ExitStatus, LabError> {
    let mut cmd: Command = netns::ip_netns_exec(ns_name, argv)?;
    cmd.status()
        .map_err(|e| LabError::io(format!("running {argv:?} in {ns_name}"), e))
}
