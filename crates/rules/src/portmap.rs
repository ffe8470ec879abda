//! The `portmap` check and the port-mapping summary lines (UPnP IGD,
//! NAT-PMP, PCP; double NAT).

use model::portmap::{CheckStatus as Pm, PortmapSection, PortmapStatus};
use model::{Check, CheckId, CheckStatus, Section, Summary};

/// Summary lines and the `portmap` check: pass when a protocol made a test
/// mapping that was removed again; fail when a mapping could not be removed
/// (it stays until its lease expires); not tested when skipped or no
/// protocol made a mapping (with why). Double NAT is a problem line with
/// its evidence.
pub(crate) fn summarize(section: &Section<PortmapSection>, summary: &mut Summary) {
    let p = match section {
        Section::Tested(p) => p,
        other => {
            summary.checks.push(Check::new(
                CheckId::Portmap,
                CheckStatus::NotTested,
                other.reason().unwrap_or("not run"),
            ));
            return;
        }
    };
    let mut removed = Vec::new();
    let mut not_removed: Vec<String> = Vec::new();
    for r in &p.protocols {
        let name = r.protocol_name();
        match &r.mapping {
            Some(m) => {
                let external = m
                    .external
                    .clone()
                    .or_else(|| r.external_ip.clone())
                    .unwrap_or_else(|| format!("port {}", m.external_port));
                match m.removed {
                    Pm::Passed => {
                        removed.push(name.to_owned());
                        summary.works.push(format!(
                            "port mapping works: {name} opened {external} and removed it again"
                        ));
                    }
                    _ => not_removed.push(format!(
                        "{name} mapping {external}: {}",
                        m.removal_reason
                            .as_deref()
                            .unwrap_or("removal not confirmed")
                    )),
                }
                if m.traffic == Pm::Failed {
                    summary.problems.push(format!(
                        "{name} mapped {external} but traffic from outside did not arrive: {}",
                        m.traffic_reason.as_deref().unwrap_or("no packet")
                    ));
                }
            }
            None if r.status == PortmapStatus::Available => {
                let why = if r.errors.is_empty() {
                    "no mapping was granted".to_owned()
                } else {
                    r.errors.join("; ")
                };
                summary.problems.push(format!(
                    "{name} answered but the test mapping failed: {why}"
                ));
            }
            None => {}
        }
    }
    for l in &p.leftover {
        if !not_removed.iter().any(|n| n == l) {
            not_removed.push(l.clone());
        }
    }
    if p.double_nat.detected == Some(true) {
        let evidence = if p.double_nat.evidence.is_empty() {
            "the gateway's external address is not the public one".to_owned()
        } else {
            p.double_nat.evidence.join("; ")
        };
        summary.problems.push(format!("double NAT: {evidence}"));
        summary.advice.push(
            "a port opened on this router is not reachable from the internet: bridge the first \
             router or ask the provider for a public address"
                .into(),
        );
    }
    let (status, reason) = if !not_removed.is_empty() {
        summary.problems.push(format!(
            "port mapping left behind (it expires with its lease): {}",
            not_removed.join("; ")
        ));
        (
            CheckStatus::Fail,
            format!("mapping not removed: {}", not_removed.join("; ")),
        )
    } else if !removed.is_empty() {
        (
            CheckStatus::Pass,
            format!("{} made a test mapping and removed it", removed.join(", ")),
        )
    } else {
        let why: Vec<String> = p
            .protocols
            .iter()
            .map(|r| {
                let state = match r.status {
                    PortmapStatus::NotTested => "not tested",
                    PortmapStatus::NotAvailable => "not available",
                    PortmapStatus::Available => "no mapping made",
                };
                match &r.reason {
                    Some(reason) => format!("{} {state}: {reason}", r.protocol_name()),
                    None => format!("{} {state}", r.protocol_name()),
                }
            })
            .collect();
        (
            CheckStatus::NotTested,
            if why.is_empty() {
                "no port mapping protocol was tried".to_owned()
            } else {
                format!("no test mapping made: {}", why.join("; "))
            },
        )
    };
    summary
        .checks
        .push(Check::new(CheckId::Portmap, status, reason));
}

/// Mappings a cut-short run left behind (the section itself did not
/// finish, so only the cleanup knows): a problem line, and the `portmap`
/// check fails. `left` holds (mapping, why it could not be removed).
pub fn left_behind(summary: &mut Summary, left: &[(String, String)]) {
    if left.is_empty() {
        return;
    }
    let left: Vec<String> = left.iter().map(|(d, why)| format!("{d}: {why}")).collect();
    summary.problems.push(format!(
        "port mapping left behind (it expires with its lease): {}",
        left.join("; ")
    ));
    let check = Check::new(
        CheckId::Portmap,
        CheckStatus::Fail,
        format!("mapping not removed: {}", left.join("; ")),
    );
    match summary.checks.iter_mut().find(|c| c.id == CheckId::Portmap) {
        Some(c) => *c = check,
        None => summary.checks.push(check),
    }
}

#[cfg(test)]
mod tests {
    use model::CheckStatus;
    use model::{CheckId, Section, Summary};

    /// The synthetic fixture's portmap section (UPnP mapped and removed,
    /// double NAT found).
    fn synthetic_portmap() -> model::portmap::PortmapSection {
        let text = include_str!("../../../fixtures/reports/synthetic.json");
        let r = report::from_json(text).expect("synthetic fixture parses");
        r.portmap.tested().expect("portmap tested").clone()
    }

    fn portmap_check(section: Section<model::portmap::PortmapSection>) -> (model::Check, Summary) {
        let mut s = Summary::default();
        super::summarize(&section, &mut s);
        let c = s.check(&CheckId::Portmap).cloned();
        (c.expect("portmap check written"), s)
    }

    #[test]
    fn portmap_check_pass_fail_not_tested() {
        let (c, s) = portmap_check(Section::Tested(synthetic_portmap()));
        assert_eq!(c.status, CheckStatus::Pass, "{c:?}");
        assert!(c.reason.contains("UPnP IGD"), "{c:?}");
        assert!(
            s.problems
                .iter()
                .any(|p| p.starts_with("double NAT: ") && p.contains("100.64.0.2")),
            "{s:?}"
        );

        let mut leak = synthetic_portmap();
        let m = leak.protocols[0].mapping.as_mut().expect("UPnP mapping");
        m.removed = model::portmap::CheckStatus::Failed;
        m.removal_reason = Some("gateway refused".into());
        let (c, s) = portmap_check(Section::Tested(leak));
        assert_eq!(c.status, CheckStatus::Fail, "{c:?}");
        assert!(c.reason.contains("gateway refused"), "{c:?}");
        assert!(s.problems.iter().any(|p| p.contains("left behind")));

        let mut none = synthetic_portmap();
        none.protocols[0].mapping = None;
        none.protocols[0].status = model::portmap::PortmapStatus::NotAvailable;
        none.protocols[0].reason = Some("no SSDP answer".into());
        let (c, _) = portmap_check(Section::Tested(none));
        assert_eq!(c.status, CheckStatus::NotTested, "{c:?}");
        assert!(
            c.reason.contains("UPnP IGD not available: no SSDP answer"),
            "{c:?}"
        );

        let (c, _) = portmap_check(Section::not_tested("skipped (--no-portmap)"));
        assert_eq!(c.status, CheckStatus::NotTested);
        assert!(c.reason.contains("--no-portmap"));
    }
}
