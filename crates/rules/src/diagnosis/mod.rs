//! The diagnosis: root causes from a report's sections and checks, one
//! finding per cause (listing every check it explains), most severe first,
//! and one verdict sentence. Pure: report in, diagnosis out.
//!
//! Every failed check is explained by at least one finding: the specific
//! rules below first, a `check-failed` finding for anything they miss.

mod browser;
mod network;
mod peer;
mod relay;
mod verdict;

use crate::failed_section_check;
use model::diagnosis::{Diagnosis, Finding, FindingId, Severity};
use model::{CheckId, CheckStatus, Report};

/// The diagnosis of `report`, whose `summary` holds its checks
/// ([`crate::summarize`] first).
pub fn diagnose(report: &Report) -> Diagnosis {
    let mut f = Findings::default();
    sections(report, &mut f);
    network::stun(report, &mut f);
    network::nat(report, &mut f);
    network::nat_ipv6(report, &mut f);
    network::ipv6_paths(report, &mut f);
    relay::turn(report, &mut f);
    relay::ice(report, &mut f);
    network::portmap(report, &mut f);
    browser::browser(report, &mut f);
    peer::peer(report, &mut f);
    if let model::Section::Tested(a) = &report.audit {
        for x in crate::audit::findings(a) {
            f.add(x);
        }
    }
    if let model::Section::Tested(l) = &report.load {
        for x in crate::load::findings(l) {
            f.add(x);
        }
    }
    unexplained(report, &mut f);
    let mut findings = f.0;
    // Most severe first; among equals, in the order found.
    findings.sort_by_key(|x| x.severity);
    let direct = verdict::direct(report);
    let relay = verdict::relay(report);
    let verdict = verdict::sentence(report, &direct, &relay, &findings);
    Diagnosis {
        verdict,
        direct,
        relay,
        findings,
    }
}

/// The findings so far; one finding per (id, title): adding the same cause
/// again only adds its evidence and the checks it explains.
#[derive(Default)]
pub(super) struct Findings(Vec<Finding>);

impl Findings {
    pub(super) fn add(&mut self, new: Finding) {
        match self
            .0
            .iter_mut()
            .find(|x| x.id == new.id && x.title == new.title)
        {
            Some(x) => {
                for e in new.evidence {
                    if !x.evidence.contains(&e) {
                        x.evidence.push(e);
                    }
                }
                for c in new.explains {
                    if !x.explains.contains(&c) {
                        x.explains.push(c);
                    }
                }
                x.severity = x.severity.min(new.severity);
            }
            None => self.0.push(new),
        }
    }

    /// The finding that already explains a cause at `server` (a TURN
    /// server's URI), to attach more checks to.
    pub(super) fn for_server(&mut self, server: &str) -> Option<&mut Finding> {
        self.0.iter_mut().find(|x| {
            x.id.as_str().starts_with("turn-")
                && x.evidence.iter().any(|e| e.detail.contains(server))
        })
    }

    /// The first finding with `id`, to attach more checks to.
    pub(super) fn by_id(&mut self, id: &FindingId) -> Option<&mut Finding> {
        self.0.iter_mut().find(|x| &x.id == id)
    }

    pub(super) fn explained(&self, id: &CheckId) -> bool {
        self.0.iter().any(|x| x.explains.contains(id))
    }
}

pub(super) fn finding(
    id: FindingId,
    severity: Severity,
    title: impl Into<String>,
    remedy: impl Into<String>,
) -> Finding {
    Finding::new(id, severity, title, remedy)
}

/// The checks of `report` with status `status` among `ids`.
pub(super) fn with_status(report: &Report, ids: &[CheckId], status: CheckStatus) -> Vec<CheckId> {
    ids.iter()
        .filter(|id| report.summary.check(id).is_some_and(|c| c.status == status))
        .cloned()
        .collect()
}

pub(super) fn failed_checks(report: &Report, ids: &[CheckId]) -> Vec<CheckId> {
    with_status(report, ids, CheckStatus::Fail)
}

// ---------------------------------------------------------------- sections

/// Sections that were asked for and could not produce a result: the ones
/// cut short by the deadline are one cause (one finding), each other
/// failure its own.
fn sections(report: &Report, f: &mut Findings) {
    let parts: [(&str, &str, Option<&str>); 11] = [
        (
            "interfaces",
            "interfaces",
            report.interfaces.failed_reason(),
        ),
        ("stun", "STUN", report.stun.failed_reason()),
        ("nat", "NAT classification", report.nat.failed_reason()),
        (
            "nat_ipv6",
            "IPv6 NAT classification",
            report.nat_ipv6.failed_reason(),
        ),
        ("turn", "TURN", report.turn.failed_reason()),
        ("ice", "ICE", report.ice.failed_reason()),
        ("portmap", "port mapping", report.portmap.failed_reason()),
        ("browser", "browser", report.browser.failed_reason()),
        ("peer", "peer-to-peer session", report.peer.failed_reason()),
        ("audit", "TURN audit", report.audit.failed_reason()),
        ("load", "TURN load", report.load.failed_reason()),
    ];
    let mut late: Vec<(&str, &str)> = Vec::new();
    for (key, name, reason) in parts {
        let Some(reason) = reason else { continue };
        if reason.contains("overall deadline") {
            late.push((key, name));
            continue;
        }
        f.add(
            finding(
                FindingId::SectionFailed,
                Severity::Critical,
                format!("The {name} tests could not run: {reason}"),
                "Fix the local problem named above (a socket that cannot be bound, an unreadable \
                 file), then run again",
            )
            .with_evidence(format!(".{key}.reason"), reason)
            .explaining(failed_section_check(key)),
        );
    }
    if late.is_empty() {
        return;
    }
    let names: Vec<String> = late.iter().map(|(_, n)| (*n).to_owned()).collect();
    let mut x = finding(
        FindingId::SectionTimeout,
        Severity::Critical,
        format!(
            "The {} tests did not finish within the overall deadline",
            join_words(&names)
        ),
        "Give the run more time (--timeout 60s), or look at the servers' findings: a server \
         that never answers holds its tests until their timeouts",
    );
    for (key, _) in late {
        x = x
            .with_evidence(
                format!(".{key}.reason"),
                "did not finish within the overall deadline",
            )
            .explaining(failed_section_check(key));
    }
    f.add(x);
}

// ---------------------------------------------------------------- fallback

/// A failed check no rule explained gets a finding of its own, so that every
/// failure has an explanation and a remedy.
fn unexplained(report: &Report, f: &mut Findings) {
    for c in &report.summary.checks {
        if c.status != CheckStatus::Fail || f.explained(&c.id) {
            continue;
        }
        let x = finding(
            FindingId::CheckFailed,
            Severity::Critical,
            format!("The {} check failed: {}", c.id, c.reason),
            "See the section's details in the report (--format html gives the full picture)",
        )
        .with_evidence(".summary.checks", format!("{}: {}", c.id, c.reason))
        .explaining([c.id.clone()]);
        f.add(x);
    }
}

pub(crate) fn join_words(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
