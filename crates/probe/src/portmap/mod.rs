//! Port mapping protocols: UPnP IGD, NAT-PMP (RFC 6886) and PCP (RFC 6887).
//!
//! For the default gateway (or one given), each protocol is tested on its
//! own: is there a server at all ([`Availability`]), what external address
//! does it report, can it map a UDP port, does the mapping pass traffic from
//! outside (when a [`RemoteSender`] is given), and is the mapping removed
//! again. The external addresses are compared with the STUN-mapped address
//! (when the caller has one) and classified with [`natclass::addr`]: a
//! private/CGNAT external address, or one that differs from what STUN sees,
//! is evidence of double NAT ([`DoubleNatFinding`]).
//!
//! Protocol code comes from `igd-next` (SSDP, device description, SOAP) and
//! `crab_nat` (NAT-PMP and PCP MAP); only PCP ANNOUNCE, which crab_nat lacks,
//! is written here ([`pcp`]).
//!
//! Mappings are never left behind: see [`cleanup`] (the [`MappingLedger`],
//! the Ctrl-C path and the short leases). With [`PortmapConfig::skip`] nothing
//! at all is sent.

pub mod cleanup;
mod doublenat;
mod natpmp;
pub mod pcp;
pub mod section;
mod upnp;
mod verify;

pub use cleanup::{CleanupReport, MappingLedger};
pub use doublenat::{DoubleNatFinding, double_nat};
pub use verify::{RemoteSender, UdpRemoteSender};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// One of the three protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortmapProtocol {
    /// UPnP Internet Gateway Device (SSDP + SOAP `WANIPConnection`).
    Upnp,
    /// NAT Port Mapping Protocol, RFC 6886.
    NatPmp,
    /// Port Control Protocol, RFC 6887.
    Pcp,
}

impl PortmapProtocol {
    /// The report's id (`upnp`, `nat-pmp`, `pcp`).
    pub fn id(self) -> &'static str {
        match self {
            PortmapProtocol::Upnp => "upnp",
            PortmapProtocol::NatPmp => "nat-pmp",
            PortmapProtocol::Pcp => "pcp",
        }
    }

    /// The display name (`UPnP IGD`, `NAT-PMP`, `PCP`).
    pub fn name(self) -> &'static str {
        match self {
            PortmapProtocol::Upnp => "UPnP IGD",
            PortmapProtocol::NatPmp => "NAT-PMP",
            PortmapProtocol::Pcp => "PCP",
        }
    }
}

/// What to test and how long to wait.
#[derive(Debug, Clone)]
pub struct PortmapConfig {
    /// Send nothing at all: every protocol is reported "not tested".
    pub skip: bool,
    /// The gateway to ask (NAT-PMP/PCP server); the default gateway from
    /// [`crate::interfaces`] when `None`. UPnP discovery is SSDP multicast
    /// either way.
    pub gateway: Option<IpAddr>,
    /// The address STUN saw for this host, to compare with each protocol's
    /// external address (double-NAT evidence).
    pub stun_mapped: Option<IpAddr>,
    /// Test UPnP IGD.
    pub upnp: bool,
    /// Test NAT-PMP.
    pub natpmp: bool,
    /// Test PCP.
    pub pcp: bool,
    /// How long SSDP discovery, NAT-PMP's first answer and PCP ANNOUNCE may
    /// take before the protocol is "not available".
    pub discovery_timeout: Duration,
    /// Bound of every later request (external address, map, unmap).
    pub step_timeout: Duration,
    /// Requested lease of test mappings (short, so a mapping whose deletion
    /// failed disappears by itself).
    pub lifetime: Duration,
    /// Sends a token from outside the NAT to the mapped address; the traffic
    /// check is "not tested" without it.
    pub remote_sender: Option<Arc<dyn RemoteSender>>,
    /// How long the traffic check waits for the token.
    pub traffic_timeout: Duration,
}

impl Default for PortmapConfig {
    fn default() -> Self {
        PortmapConfig {
            skip: false,
            gateway: None,
            stun_mapped: None,
            upnp: true,
            natpmp: true,
            pcp: true,
            discovery_timeout: Duration::from_secs(2),
            step_timeout: Duration::from_secs(2),
            lifetime: Duration::from_secs(120),
            remote_sender: None,
            traffic_timeout: Duration::from_secs(2),
        }
    }
}

impl PortmapConfig {
    /// The longest a whole [`probe`] can take with this config (the three
    /// protocols run concurrently): discovery, external address, map,
    /// traffic check, unmap, and the final cleanup pass.
    pub fn bound(&self) -> Duration {
        self.discovery_timeout
            + self.step_timeout * 4
            + self.traffic_timeout
            + Duration::from_secs(1)
    }
}

/// Is there a server for this protocol?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Availability {
    /// Not tested (skipped by the user, or not applicable), with why.
    NotTested {
        /// Why it was not tested.
        reason: String,
    },
    /// Tested, and no such service answered.
    NotAvailable {
        /// What was tried and what happened.
        reason: String,
    },
    /// A server answered.
    Available,
}

/// Did the mapping pass traffic from outside?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum TrafficCheck {
    /// Not checked (no remote sender, or no external address), with why.
    NotTested {
        /// Why.
        reason: String,
    },
    /// A datagram sent to the external address arrived on the local socket.
    Passed,
    /// Nothing arrived.
    Failed {
        /// What was sent and for how long.
        reason: String,
    },
}

/// Was the test mapping removed?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Removal {
    /// The gateway confirmed the deletion.
    Removed,
    /// Deletion failed; the mapping expires with its lease.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A test mapping (always UDP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingOutcome {
    /// The local socket mapped.
    pub internal: SocketAddr,
    /// The external port granted.
    pub external_port: u16,
    /// The external address+port, when the external address is known.
    pub external: Option<SocketAddr>,
    /// The lease granted, seconds (UPnP: as requested).
    pub lifetime_secs: u32,
    /// Whether it passed traffic.
    pub traffic: TrafficCheck,
    /// Whether it was removed.
    pub removal: Removal,
}

/// The result for one protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtocolOutcome {
    /// Which protocol.
    pub protocol: PortmapProtocol,
    /// Whether a server answered.
    pub availability: Availability,
    /// The server that answered (SSDP responder / NAT-PMP-PCP server).
    pub server: Option<SocketAddr>,
    /// Protocol details: UPnP device description URL and service type; PCP
    /// epoch. `(key, value)` pairs.
    pub details: Vec<(String, String)>,
    /// The external address the gateway reports.
    pub external_ip: Option<IpAddr>,
    /// The test mapping, if one was made.
    pub mapping: Option<MappingOutcome>,
    /// Why a step failed after the server answered (external address or
    /// mapping refused, ...).
    pub errors: Vec<String>,
    /// How long this protocol took.
    pub elapsed: Duration,
}

impl ProtocolOutcome {
    fn new(protocol: PortmapProtocol, availability: Availability) -> Self {
        ProtocolOutcome {
            protocol,
            availability,
            server: None,
            details: Vec::new(),
            external_ip: None,
            mapping: None,
            errors: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }
    fn not_tested(protocol: PortmapProtocol, reason: &str) -> Self {
        Self::new(
            protocol,
            Availability::NotTested {
                reason: reason.into(),
            },
        )
    }
    fn not_available(protocol: PortmapProtocol, reason: String) -> Self {
        Self::new(protocol, Availability::NotAvailable { reason })
    }
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortmapOutcome {
    /// True when nothing was sent (`skip`).
    pub skipped: bool,
    /// The gateway asked (NAT-PMP/PCP), if one was known.
    pub gateway: Option<IpAddr>,
    /// Our address toward the gateway.
    pub local_ip: Option<IpAddr>,
    /// The STUN-mapped address compared against.
    pub stun_mapped: Option<IpAddr>,
    /// UPnP, NAT-PMP, PCP, in that order.
    pub protocols: Vec<ProtocolOutcome>,
    /// Double-NAT evidence from the external addresses.
    pub double_nat: DoubleNatFinding,
    /// Mappings that could not be deleted even by the final cleanup pass
    /// (description, reason); they expire with their lease.
    pub leftover: Vec<(String, String)>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// The default gateway from the interface table (IPv4 preferred).
pub fn default_gateway() -> Option<IpAddr> {
    let ifs = crate::interfaces::list().ok()?;
    let gws: Vec<IpAddr> = ifs
        .iter()
        .filter(|i| i.up)
        .flat_map(|i| i.gateways.iter().copied())
        .filter(|g| !g.is_unspecified())
        .collect();
    gws.iter()
        .find(|g| g.is_ipv4())
        .or_else(|| gws.first())
        .copied()
}

/// Runs the enabled protocol tests (concurrently) and a final cleanup pass
/// over `ledger`. Never fails: every failure is data in the outcome. Takes
/// at most about [`PortmapConfig::bound`].
///
/// Share `ledger` with whoever handles Ctrl-C: if this future is dropped
/// mid-run, `ledger.cleanup(..)` deletes whatever it had mapped.
pub async fn probe(cfg: &PortmapConfig, ledger: &Arc<MappingLedger>) -> PortmapOutcome {
    let started = Instant::now();
    if cfg.skip {
        let r = "skipped (--no-portmap): nothing was sent";
        return PortmapOutcome {
            skipped: true,
            gateway: None,
            local_ip: None,
            stun_mapped: cfg.stun_mapped,
            protocols: vec![
                ProtocolOutcome::not_tested(PortmapProtocol::Upnp, r),
                ProtocolOutcome::not_tested(PortmapProtocol::NatPmp, r),
                ProtocolOutcome::not_tested(PortmapProtocol::Pcp, r),
            ],
            double_nat: DoubleNatFinding::default(),
            leftover: Vec::new(),
            elapsed: started.elapsed(),
        };
    }
    let gateway = cfg.gateway.or_else(default_gateway);
    let local_ip = gateway.and_then(|g| cleanup::local_ip_toward(g).ok());

    let disabled = "disabled in the configuration";
    let upnp_f = async {
        if cfg.upnp {
            upnp::test(cfg, local_ip, ledger).await
        } else {
            ProtocolOutcome::not_tested(PortmapProtocol::Upnp, disabled)
        }
    };
    let natpmp_f = async {
        if !cfg.natpmp {
            return ProtocolOutcome::not_tested(PortmapProtocol::NatPmp, disabled);
        }
        match (gateway, local_ip) {
            (Some(IpAddr::V4(g)), Some(l)) => natpmp::test(cfg, g, l, ledger).await,
            (Some(IpAddr::V6(g)), _) => ProtocolOutcome::not_available(
                PortmapProtocol::NatPmp,
                format!("the gateway {g} is IPv6; NAT-PMP is IPv4 only"),
            ),
            _ => ProtocolOutcome::not_available(
                PortmapProtocol::NatPmp,
                "no default gateway found to ask".into(),
            ),
        }
    };
    let pcp_f = async {
        if !cfg.pcp {
            return ProtocolOutcome::not_tested(PortmapProtocol::Pcp, disabled);
        }
        match (gateway, local_ip) {
            (Some(g), Some(l)) => pcp::test(cfg, g, l, ledger).await,
            _ => ProtocolOutcome::not_available(
                PortmapProtocol::Pcp,
                "no default gateway found to ask".into(),
            ),
        }
    };
    let (u, n, p) = tokio::join!(upnp_f, natpmp_f, pcp_f);
    let protocols = vec![u, n, p];

    // Anything a protocol test could not delete: one more try.
    let leftover = if ledger.outstanding() > 0 {
        ledger.cleanup(cfg.step_timeout).await.failed
    } else {
        Vec::new()
    };
    let externals: Vec<(PortmapProtocol, IpAddr)> = protocols
        .iter()
        .filter_map(|o| o.external_ip.map(|ip| (o.protocol, ip)))
        .collect();
    PortmapOutcome {
        skipped: false,
        gateway,
        local_ip,
        stun_mapped: cfg.stun_mapped,
        double_nat: double_nat(&externals, cfg.stun_mapped),
        protocols,
        leftover,
        elapsed: started.elapsed(),
    }
}

/// Checks that a test mapping passes traffic, when possible.
async fn traffic(
    cfg: &PortmapConfig,
    sock: &tokio::net::UdpSocket,
    external: Option<SocketAddr>,
) -> TrafficCheck {
    let Some(sender) = cfg.remote_sender.as_deref() else {
        return TrafficCheck::NotTested {
            reason: "no remote sender outside the NAT was given".into(),
        };
    };
    let Some(ext) = external else {
        return TrafficCheck::NotTested {
            reason: "the external address is unknown".into(),
        };
    };
    match verify::check(sock, ext, sender, cfg.traffic_timeout).await {
        verify::Passes::Yes => TrafficCheck::Passed,
        verify::Passes::No(reason) => TrafficCheck::Failed { reason },
    }
}

/// Binds the UDP socket to be mapped on our address toward the gateway.
async fn bind_local(local_ip: IpAddr) -> std::io::Result<tokio::net::UdpSocket> {
    tokio::net::UdpSocket::bind(SocketAddr::new(local_ip, 0)).await
}

/// Releases a guard and turns the result into a [`Removal`].
async fn release(guard: cleanup::MappingGuard, bound: Duration) -> Removal {
    match guard.release(bound).await {
        Ok(()) => Removal::Removed,
        Err(reason) => Removal::Failed { reason },
    }
}
