//! The `portmap` section of the JSON report: UPnP IGD, NAT-PMP and PCP
//! results per protocol, and double-NAT evidence.

use serde::{Deserialize, Serialize};

/// The whole `portmap` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortmapSection {
    /// True when the user skipped port mapping (`--no-portmap`): nothing sent.
    pub skipped: bool,
    /// The gateway asked (NAT-PMP/PCP server), if known.
    pub gateway: Option<String>,
    /// The local address toward the gateway.
    pub local_ip: Option<String>,
    /// The STUN-mapped address the external addresses were compared with.
    pub stun_mapped: Option<String>,
    /// One entry per protocol: upnp, nat-pmp, pcp.
    pub protocols: Vec<PortmapProtocolResult>,
    /// Double-NAT evidence.
    pub double_nat: DoubleNatReport,
    /// Mappings that could not be removed (they expire with their lease).
    pub leftover: Vec<String>,
    /// Wall time, milliseconds.
    pub elapsed_ms: u64,
}

/// Whether a protocol's server answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortmapStatus {
    /// Not tested (skipped or disabled).
    NotTested,
    /// Tested; no such service answered.
    NotAvailable,
    /// A server answered.
    Available,
}

/// Tri-state outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    /// Not checked.
    NotTested,
    /// Checked and it worked.
    Passed,
    /// Checked and it failed.
    Failed,
}

/// One protocol's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortmapProtocolResult {
    /// `upnp`, `nat-pmp` or `pcp`.
    pub protocol: String,
    /// Whether a server answered.
    pub status: PortmapStatus,
    /// Why not tested / not available.
    pub reason: Option<String>,
    /// The server that answered.
    pub server: Option<String>,
    /// The external address the gateway reports.
    pub external_ip: Option<String>,
    /// Protocol details (device description URL, service type, PCP epoch).
    pub details: Vec<(String, String)>,
    /// The test mapping, if one was made.
    pub mapping: Option<PortmapMapping>,
    /// Failures after the server answered.
    pub errors: Vec<String>,
    /// Milliseconds this protocol took.
    pub elapsed_ms: u64,
}

/// A test mapping (UDP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortmapMapping {
    /// The local socket mapped.
    pub internal: String,
    /// The external port granted.
    pub external_port: u16,
    /// External address:port, when known.
    pub external: Option<String>,
    /// Lease granted, seconds.
    pub lifetime_secs: u32,
    /// Did traffic from outside arrive?
    pub traffic: CheckStatus,
    /// Why the traffic check was not done or failed.
    pub traffic_reason: Option<String>,
    /// Was the mapping removed? (`failed` means it expires with its lease.)
    pub removed: CheckStatus,
    /// Why removal failed.
    pub removal_reason: Option<String>,
}

/// Double-NAT evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoubleNatReport {
    /// true / false / null (not enough data).
    pub detected: Option<bool>,
    /// Plain sentences.
    pub evidence: Vec<String>,
}

impl PortmapProtocolResult {
    /// The protocol for people: `UPnP IGD`, `NAT-PMP`, `PCP` (an unknown
    /// id from a newer report as written).
    pub fn protocol_name(&self) -> &str {
        match self.protocol.as_str() {
            "upnp" => "UPnP IGD",
            "nat-pmp" => "NAT-PMP",
            "pcp" => "PCP",
            other => other,
        }
    }
}
