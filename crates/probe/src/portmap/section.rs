//! The `portmap` section of the report from a [`PortmapOutcome`]:
//! addresses as text, outcomes as the model's tri-states.

use super::{Availability, MappingOutcome, PortmapOutcome, ProtocolOutcome, Removal, TrafficCheck};
use model::portmap::{
    CheckStatus, DoubleNatReport, PortmapMapping, PortmapProtocolResult, PortmapSection,
    PortmapStatus,
};
use std::time::Duration;

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The report section for an outcome. Every field of the outcome is
/// destructured: one added here is carried over, or dropped on purpose.
pub fn section(o: &PortmapOutcome) -> PortmapSection {
    let PortmapOutcome {
        skipped,
        gateway,
        local_ip,
        stun_mapped,
        protocols,
        double_nat,
        leftover,
        elapsed,
    } = o;
    let protocols = protocols
        .iter()
        .map(|p| {
            let ProtocolOutcome {
                protocol,
                availability,
                server,
                details,
                external_ip,
                mapping,
                errors,
                elapsed,
            } = p;
            let (status, reason) = match availability {
                Availability::NotTested { reason } => {
                    (PortmapStatus::NotTested, Some(reason.clone()))
                }
                Availability::NotAvailable { reason } => {
                    (PortmapStatus::NotAvailable, Some(reason.clone()))
                }
                Availability::Available => (PortmapStatus::Available, None),
            };
            let mapping = mapping.as_ref().map(|m| {
                let MappingOutcome {
                    internal,
                    external_port,
                    external,
                    lifetime_secs,
                    traffic,
                    removal,
                } = m;
                let (traffic, traffic_reason) = match traffic {
                    TrafficCheck::NotTested { reason } => {
                        (CheckStatus::NotTested, Some(reason.clone()))
                    }
                    TrafficCheck::Passed => (CheckStatus::Passed, None),
                    TrafficCheck::Failed { reason } => (CheckStatus::Failed, Some(reason.clone())),
                };
                let (removed, removal_reason) = match removal {
                    Removal::Removed => (CheckStatus::Passed, None),
                    Removal::Failed { reason } => (CheckStatus::Failed, Some(reason.clone())),
                };
                PortmapMapping {
                    internal: internal.to_string(),
                    external_port: *external_port,
                    external: external.map(|e| e.to_string()),
                    lifetime_secs: *lifetime_secs,
                    traffic,
                    traffic_reason,
                    removed,
                    removal_reason,
                }
            });
            PortmapProtocolResult {
                protocol: protocol.id().into(),
                status,
                reason,
                server: server.map(|s| s.to_string()),
                external_ip: external_ip.map(|i| i.to_string()),
                details: details.clone(),
                mapping,
                errors: errors.clone(),
                elapsed_ms: ms(*elapsed),
            }
        })
        .collect();
    PortmapSection {
        skipped: *skipped,
        gateway: gateway.map(|g| g.to_string()),
        local_ip: local_ip.map(|g| g.to_string()),
        stun_mapped: stun_mapped.map(|g| g.to_string()),
        protocols,
        double_nat: DoubleNatReport {
            detected: double_nat.detected,
            evidence: double_nat.evidence.clone(),
        },
        leftover: leftover.iter().map(|(d, r)| format!("{d}: {r}")).collect(),
        elapsed_ms: ms(*elapsed),
    }
}
