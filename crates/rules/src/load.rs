//! The TURN load test's rules (`natscope turn --load`): the `turn-load`
//! check (the run went its course and the server relayed), and findings for
//! an early end, the knee (where loss first passed 1 % or the round trip
//! doubled) and the errors the server answered under load. Pure.

use model::diagnosis::{Finding, FindingId, Severity};
use model::load::{KneeReason, LoadEnd, LoadSection};
use model::turn::error_code_text;
use model::{Check, CheckId, CheckStatus, Summary};

/// The `turn-load` check and the summary lines.
pub(crate) fn summarize(l: &LoadSection, p: &mut Summary) {
    let t = &l.traffic;
    let ok_end = matches!(l.ended, LoadEnd::Completed | LoadEnd::Interrupted);
    if t.received > 0 {
        p.works.push(format!(
            "{} relayed {:.0} packets/s ({:.2} Mbit/s) for {} allocations, loss {}",
            l.label,
            t.received_pps,
            t.received_mbit_s,
            l.allocations.created,
            t.loss_percent
                .map(|x| format!("{x:.2} %"))
                .unwrap_or_else(|| "unknown".into())
        ));
    }
    let check = if !ok_end {
        Check::new(CheckId::TurnLoad, CheckStatus::Fail, l.ended.describe())
    } else if t.received == 0 {
        Check::new(
            CheckId::TurnLoad,
            CheckStatus::Fail,
            "nothing was relayed during the run",
        )
    } else if l.ended == LoadEnd::Interrupted {
        Check::new(
            CheckId::TurnLoad,
            CheckStatus::NotTested,
            "stopped by the user before the end",
        )
    } else {
        Check::new(
            CheckId::TurnLoad,
            CheckStatus::Pass,
            format!(
                "{} allocations streamed for {:.0} s",
                l.allocations.created,
                l.config.duration_ms as f64 / 1000.0
            ),
        )
    };
    if check.status == CheckStatus::Fail {
        p.problems.push(format!("{}: {}", l.label, check.reason));
    }
    p.checks.push(check);
}

/// The load test's findings.
pub(crate) fn findings(l: &LoadSection) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = &l.label;
    let ok_end = matches!(l.ended, LoadEnd::Completed | LoadEnd::Interrupted);
    if !ok_end || l.traffic.received == 0 {
        let remedy = match &l.ended {
            LoadEnd::Redirected { to: Some(a) } => format!("Run the load test against {a}"),
            LoadEnd::NoAllocation { .. } => {
                "Run natscope turn against the server to see which stage fails".to_string()
            }
            _ => "Look at the server's log and its host (CPU, memory, open files: coturn \
                  needs a file descriptor per allocation) at the time the run stopped, and \
                  run a smaller load (--allocations) to find what it carries"
                .to_string(),
        };
        let words = if ok_end {
            "nothing was relayed".to_string()
        } else {
            l.ended.describe()
        };
        out.push(
            Finding::new(
                FindingId::LoadEndedEarly,
                Severity::Critical,
                format!("The load test of {name}: {words}"),
                remedy,
            )
            .with_evidence(".load.ended", l.ended.describe())
            .explaining([CheckId::TurnLoad]),
        );
    }
    if let Some(k) = &l.knee {
        let first = l.steps.first();
        let at = l
            .steps
            .iter()
            .find(|s| s.allocations == k.allocations)
            .or(first);
        let detail = match (k.reason, at) {
            (KneeReason::Loss, Some(s)) => format!(
                "loss {:.2} % at {} allocations ({:.0} packets/s offered)",
                s.loss_percent.unwrap_or(0.0),
                s.allocations,
                s.offered_pps
            ),
            (KneeReason::Rtt, Some(s)) => format!(
                "median round trip {:.2} ms at {} allocations, against {:.2} ms at {}",
                s.rtt_p50_ms.unwrap_or(0.0),
                s.allocations,
                first.and_then(|f| f.rtt_p50_ms).unwrap_or(0.0),
                first.map(|f| f.allocations).unwrap_or(0)
            ),
            (_, None) => String::new(),
        };
        out.push(
            Finding::new(
                FindingId::LoadKnee,
                Severity::Warning,
                format!(
                    "{name} showed strain at {} allocations ({:.0} packets/s): {}",
                    k.allocations,
                    k.offered_pps,
                    match k.reason {
                        KneeReason::Loss => "loss passed 1 %",
                        KneeReason::Rtt => "the round trip doubled",
                    }
                ),
                "That is what the server carries from here. To tell the server from the \
                 network, run the same load from a machine next to the server; for coturn, \
                 give it more relay threads (relay-threads=) or more instances behind DNS",
            )
            .with_evidence(".load.knee", detail),
        );
    }
    if !l.errors.is_empty() {
        let list: Vec<String> = l
            .errors
            .iter()
            .map(|e| format!("{}× {} to {}", e.count, e.meaning, e.request))
            .collect();
        let remedy = if l.errors.iter().any(|e| e.code == 486) {
            "486: the per-user quota (coturn user-quota=) is below the load; raise it for \
             the load test's user, or run fewer --allocations"
        } else if l.errors.iter().any(|e| e.code == 508) {
            "508: the server ran out of relay ports or its total quota (coturn min-port / \
             max-port, total-quota=)"
        } else {
            "See the codes above; the server's log names the cause"
        };
        let mut f = Finding::new(
            FindingId::LoadErrors,
            Severity::Warning,
            format!("{name} answered errors under load: {}", list.join(", ")),
            remedy,
        );
        for e in &l.errors {
            f = f.with_evidence(
                ".load.errors",
                format!(
                    "{} × {}",
                    e.count,
                    if e.code == 0 {
                        "no answer".to_string()
                    } else {
                        error_code_text(e.code, "")
                    }
                ),
            );
        }
        out.push(f);
    }
    out
}
