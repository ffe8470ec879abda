//! # natscope-rules: what a report means
//!
//! Pure functions from a [`Report`]'s sections to its [`Summary`] — what
//! works, what does not, what to do — and to the checks the exit code is
//! computed from. The probes fill the sections; the binary calls
//! [`summarize`] on the report and [`verdict`] or [`require`] on the
//! result. Because the rules read only the report, they are tested against
//! saved reports (fixtures/reports/*.json) without a network.
//!
//! - [`conclude`]: the summary, then the diagnosis, into the report.
//! - [`summarize`]: the whole summary, section by section (STUN, NAT,
//!   TURN, ICE, port mapping, a real browser, a peer-to-peer session with
//!   another machine, the TURN audit and load test), each check id once
//!   (the first section that makes it wins: STUN's `udp` over the NAT
//!   probe's).
//! - [`diagnose`]: the root causes (one finding per cause, with the checks
//!   it explains and a remedy) and the verdict sentence.
//! - [`verdict`], [`require`]: pass/fail for the exit code, and `--require`.
//! - [`portmap::left_behind`]: the one thing a report cannot say — port
//!   mappings a cut-short run left behind.
//! - [`watch::changes`]: what changed between two runs of `natscope watch`
//!   (public address, NAT behaviour, a check), as events.
//!
//! ## What it deliberately does not do
//!
//! - No sockets, no clock, no I/O: report in, findings out.
//! - No rendering: `natscope-report` draws what these rules decide.
//!
//! ## Standards checklist
//!
//! - [x] RFC 4787 terms in the NAT lines (endpoint-independent mapping is
//!   what the `nat-eim` check requires).
//! - [x] RFC 8656 / RFC 8445: a TURN transport passes when it relayed data;
//!   an ICE run passes when it connected and payload went both ways.
//! - [ ] RFC 6544 ICE-TCP candidates: never tested, so never checked.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod audit;
mod browser;
mod diagnosis;
mod ice;
#[cfg(test)]
mod invariants;
mod load;
mod nat;
mod peer;
pub mod portmap;
mod stun;
mod turn;
pub mod watch;

pub use diagnosis::diagnose;
pub use ice::ice_check_runs;

use model::{Check, CheckId, CheckStatus, Report, Section, Summary};

/// What a command found, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every requested check passed.
    Pass,
    /// At least one check failed.
    Fail,
}

/// `Fail` when any check failed.
pub fn verdict(summary: &Summary) -> Verdict {
    if summary.any_failed() {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// A `--require`d check that did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmet {
    /// The check ran and failed, or was not tested.
    NotPassed(Check),
    /// No section of this run makes the check.
    NotRun(CheckId),
}

/// The required checks that did not pass, in the order required; the run
/// passes when there are none.
pub fn require(summary: &Summary, required: &[CheckId]) -> Vec<Unmet> {
    required
        .iter()
        .filter_map(|id| match summary.check(id) {
            Some(c) if c.status == CheckStatus::Pass => None,
            Some(c) => Some(Unmet::NotPassed(c.clone())),
            None => Some(Unmet::NotRun(id.clone())),
        })
        .collect()
}

/// The summary of `report`, derived from its sections (its own `summary`
/// is ignored).
pub fn summarize(report: &Report) -> Summary {
    let mut summary = Summary::default();
    let mut add = |fill: &dyn Fn(&mut Summary)| {
        let mut part = Summary::default();
        fill(&mut part);
        merge(&mut summary, part);
    };
    add(&|p| section(&report.interfaces, "interfaces", p, |_, _| {}));
    add(&|p| section(&report.stun, "stun", p, stun::summarize));
    add(&|p| section(&report.nat, "nat", p, nat::summarize));
    add(&|p| section(&report.nat_ipv6, "nat_ipv6", p, nat::summarize_ipv6));
    add(&|p| section(&report.turn, "turn", p, turn::summarize));
    add(&|p| {
        let given = ice::IceServersGiven::from_labels(&report.options.servers);
        section(&report.ice, "ice", p, |i, p| ice::summarize(i, &given, p));
    });
    if !is_not_run(&report.portmap) {
        add(&|p| section(&report.portmap, "portmap", p, |_, _| {}));
        add(&|p| portmap::summarize(&report.portmap, p));
    }
    add(&|p| {
        section(&report.browser, "browser", p, |b, p| {
            browser::summarize(b, &report.options.servers, p)
        })
    });
    add(&|p| section(&report.peer, "peer", p, peer::summarize));
    add(&|p| section(&report.audit, "audit", p, audit::summarize));
    add(&|p| section(&report.load, "load", p, load::summarize));
    summary
}

/// Fills `report`'s summary and diagnosis from its sections: what every
/// command does once its sections are in.
pub fn conclude(report: &mut Report) {
    report.summary = summarize(report);
    report.diagnosis = diagnose(report);
    // What to do: the remedies of the causes found (there is one for every
    // failed check).
    report.summary.advice = advice(&report.diagnosis);
}

/// The remedies of the findings that call for action, most severe first,
/// each once.
pub fn advice(d: &model::Diagnosis) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in &d.findings {
        if f.severity <= model::Severity::Warning && !out.contains(&f.remedy) {
            out.push(f.remedy.clone());
        }
    }
    out
}

/// Appends `part` to `into`: lines in order, advice once, each check id
/// once (the one already there is kept).
pub fn merge(into: &mut Summary, part: Summary) {
    into.works.extend(part.works);
    into.problems.extend(part.problems);
    for a in part.advice {
        if !into.advice.contains(&a) {
            into.advice.push(a);
        }
    }
    for c in part.checks {
        if into.check(&c.id).is_none() {
            into.checks.push(c);
        }
    }
}

/// One section's part: its rules when tested; when it was asked for but
/// could not produce a result (or did not finish), its problem line
/// (`"{name}: {reason}"`) and a failed check — a CI job must not pass a run
/// whose tests did not happen; nothing when not tested.
fn section<T>(
    section: &Section<T>,
    key: &str,
    summary: &mut Summary,
    rules: impl Fn(&T, &mut Summary),
) {
    match section {
        Section::Tested(content) => rules(content, summary),
        Section::Failed { reason } => {
            summary
                .problems
                .push(format!("{}: {reason}", section_name(key)));
            if let Some(id) = failed_section_check(key) {
                summary
                    .checks
                    .push(Check::new(id, CheckStatus::Fail, reason.clone()));
            }
        }
        Section::NotTested { .. } => {}
    }
}

/// A section's name for people.
fn section_name(key: &str) -> &str {
    match key {
        "stun" => "STUN",
        "nat" => "NAT classification",
        "nat_ipv6" => "IPv6 NAT classification",
        "turn" => "TURN",
        "ice" => "ICE",
        "portmap" => "port mapping",
        "browser" => "browser",
        "peer" => "peer-to-peer session",
        "audit" => "TURN audit",
        "load" => "TURN load test",
        other => other,
    }
}

/// The check a section that could not produce a result fails.
pub(crate) fn failed_section_check(key: &str) -> Option<CheckId> {
    Some(match key {
        "interfaces" => CheckId::Interfaces,
        "stun" => CheckId::Stun,
        "nat" => CheckId::Nat,
        "nat_ipv6" => CheckId::UdpIpv6,
        "turn" => CheckId::Turn,
        "ice" => CheckId::Ice,
        "portmap" => CheckId::Portmap,
        // The browser's main check: a browser that could not run did not
        // connect.
        "browser" => CheckId::BrowserConnect,
        // The peer's main check: a session that could not run did not
        // connect.
        "peer" => CheckId::PeerConnect,
        "audit" => CheckId::TurnAudit,
        "load" => CheckId::TurnLoad,
        _ => return None,
    })
}

/// Whether a section was not part of the command at all (`Report::new`'s
/// "not run"), as opposed to skipped by a flag.
fn is_not_run<T>(section: &Section<T>) -> bool {
    matches!(section, Section::NotTested { reason } if reason == model::document::NOT_RUN)
}

/// The JSON spelling of a serde enum value (`endpoint-independent`).
fn json_word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Report {
        let path = format!(
            "{}/../../fixtures/reports/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        report::from_json(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The summary of a real `diagnose --lab` run is what the rules derive
    /// from its sections alone: the rules need nothing but the report.
    #[test]
    fn a_recorded_run_summarizes_to_its_own_summary() {
        // (synthetic.json and not-tested.json are written by hand, their
        // summaries too.)
        let r = fixture("full.json");
        assert_eq!(summarize(&r), r.summary);
    }

    /// The hand-written `natscope browser` report (fixtures/reports/
    /// browser.json) holds what the rules derive from its sections.
    #[test]
    fn the_browser_fixture_concludes_to_its_own_summary_and_diagnosis() {
        let r = fixture("browser.json");
        let mut again = r.clone();
        conclude(&mut again);
        assert_eq!(again.summary, r.summary);
        assert_eq!(again.diagnosis, r.diagnosis);
        let ids: Vec<&str> = r.summary.checks.iter().map(|c| c.id.as_str()).collect();
        for id in ["browser-gather", "browser-connect", "browser-relay"] {
            assert!(ids.contains(&id), "{id} missing: {ids:?}");
        }
    }

    #[test]
    fn verdict_and_require_follow_the_checks() {
        let r = fixture("full.json");
        assert_eq!(verdict(&r.summary), Verdict::Pass);
        assert!(require(&r.summary, &[CheckId::TurnTls, CheckId::IceRelayTls]).is_empty());
        assert_eq!(
            require(&r.summary, &[CheckId::TurnDtls]),
            [Unmet::NotRun(CheckId::TurnDtls)]
        );
        let mut failed = r.summary.clone();
        failed.checks[0].status = CheckStatus::Fail;
        assert_eq!(verdict(&failed), Verdict::Fail);
        assert!(matches!(
            require(&failed, &[failed.checks[0].id.clone()])[..],
            [Unmet::NotPassed(_)]
        ));
    }
}
