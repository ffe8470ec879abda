//! The `stun` section of the report from the Binding results: one entry per
//! server and transport, and whether the answers agree.

use super::binding::{BindingError, BindingResult, compare_mappings};
use model::{Agreement, FamilyAgreement, Outcome, StunSection, StunServer, Transport};

/// One server the user asked about, with what became of it.
pub struct StunEntry {
    /// As the user wrote it.
    pub label: String,
    /// Canonical URI (no credentials).
    pub uri: String,
    /// Transport tried.
    pub transport: Transport,
    /// The binding result, or why the name could not be resolved.
    pub result: Result<BindingResult, String>,
}

/// The `stun` section from the probe results.
pub fn section(entries: &[StunEntry], counters: model::Counters) -> StunSection {
    let mut servers = Vec::with_capacity(entries.len());
    for e in entries {
        let mut s = StunServer {
            label: e.label.clone(),
            uri: e.uri.clone(),
            transport: e.transport,
            address: None,
            local: None,
            outcome: Outcome::Unresolved,
            mapped: None,
            rtt_ms: None,
            transmissions: 0,
            response_origin: None,
            other_address: None,
            rfc5780: None,
            rfc3489: None,
            software: None,
            error: None,
            waited_ms: None,
        };
        match &e.result {
            Err(why) => s.error = Some(why.clone()),
            Ok(r) => {
                s.address = Some(r.target.addr);
                s.local = r.local;
                s.waited_ms = r.elapsed.map(|d| d.as_secs_f64() * 1000.0);
                match &r.outcome {
                    Ok(info) => {
                        s.outcome = Outcome::Ok;
                        s.mapped = Some(info.mapped);
                        s.rtt_ms = Some(info.rtt.as_secs_f64() * 1000.0);
                        s.transmissions = info.transmissions;
                        s.response_origin = info.response_origin;
                        s.other_address = info.other_address;
                        s.rfc5780 = Some(info.other_address.is_some() && !info.rfc3489);
                        s.rfc3489 = Some(info.rfc3489);
                        s.software = info.software.clone();
                    }
                    Err(err) => {
                        s.outcome = match err {
                            BindingError::Timeout { .. } | BindingError::Deadline { .. } => {
                                Outcome::Timeout
                            }
                            BindingError::ConnectRefused | BindingError::PortClosed { .. } => {
                                Outcome::Refused
                            }
                            _ => Outcome::Error,
                        };
                        if let BindingError::Timeout { transmissions }
                        | BindingError::Deadline { transmissions } = err
                        {
                            s.transmissions = *transmissions;
                        }
                        s.error = Some(err.to_string());
                    }
                }
            }
        }
        servers.push(s);
    }
    let results: Vec<BindingResult> = entries
        .iter()
        .filter_map(|e| e.result.as_ref().ok().cloned())
        .collect();
    let mut agreement = Agreement::default();
    for a in compare_mappings(&results) {
        if a.transport != Transport::Udp {
            continue;
        }
        let fam = FamilyAgreement {
            answered: u32::try_from(a.answers).unwrap_or(u32::MAX),
            same_ip: a.same_ip,
            same_port: a.same_port,
            public_ips: a.public_ips.clone(),
        };
        if a.ipv4 {
            agreement.ipv4 = fam;
        } else {
            agreement.ipv6 = fam;
        }
    }
    StunSection {
        servers,
        agreement,
        counters,
    }
}
