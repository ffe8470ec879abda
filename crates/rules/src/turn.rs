//! The `turn-<transport>` checks and the TURN summary lines.

use model::turn::{StageStatus, TurnSection, TurnStage, TurnTransport, TurnTransportResult};
use model::{Check, CheckId, CheckStatus, Summary};
use std::collections::BTreeMap;

/// Summary lines and one check per transport tested.
pub(crate) fn summarize(section: &TurnSection, summary: &mut Summary) {
    // Keyed by the transport's name: the checks come in its alphabetical
    // order (the order natscope has always written them in). The best
    // outcome of any server over that transport counts.
    let mut per_transport: BTreeMap<String, (TurnTransport, Outcome)> = BTreeMap::new();
    for r in &section.results {
        let transport = r.transport;
        let outcome = outcome(r);
        let entry = per_transport
            .entry(transport.to_string())
            .or_insert((transport, outcome));
        entry.1 = entry.1.max(outcome);
        match outcome {
            Outcome::Relayed => summary.works.push(format!(
                "TURN {} over {transport}: allocation and relay work{}{}",
                r.uri,
                r.relayed_address
                    .map(|a| format!(" (relayed address {a})"))
                    .unwrap_or_default(),
                r.data_path
                    .map(|p| format!(", data sent {}", p.describe()))
                    .unwrap_or_default()
            )),
            Outcome::DataNotTested => summary.problems.push(format!(
                "TURN {} over {transport}: the allocation works, relaying was not tested: {}",
                r.uri,
                data_not_tested_reason(r)
            )),
            Outcome::Failed => {
                let stage = r
                    .failed_stage
                    .map(|s| s.label().to_owned())
                    .unwrap_or_else(|| "an unknown stage".into());
                let why = r
                    .failure
                    .as_ref()
                    .map(|f| f.describe())
                    .unwrap_or_else(|| "failed".into());
                summary.problems.push(format!(
                    "TURN {} over {transport} failed at {stage}: {why}",
                    r.uri
                ));
            }
        }
    }
    let ok = |t: TurnTransport| per_transport.get(&t.to_string()).map(|e| e.1);
    let udp_ok = ok(TurnTransport::Udp);
    let stream_ok = ok(TurnTransport::Tcp) == Some(Outcome::Relayed)
        || ok(TurnTransport::Tls) == Some(Outcome::Relayed);
    if udp_ok == Some(Outcome::Failed) && stream_ok {
        summary.advice.push(
            "TURN over UDP fails but TCP/TLS works: UDP is likely blocked on this network; \
             offer a turns: server on port 443 so clients behind such firewalls can relay"
                .into(),
        );
    }
    for (transport, outcome) in per_transport.into_values() {
        let (status, reason) = match outcome {
            Outcome::Relayed => (
                CheckStatus::Pass,
                format!("a TURN allocation over {transport} relayed data"),
            ),
            Outcome::DataNotTested => (
                CheckStatus::NotTested,
                format!("a TURN allocation over {transport} works; relaying data was not tested"),
            ),
            Outcome::Failed => (
                CheckStatus::Fail,
                format!("no TURN server relayed data over {transport}"),
            ),
        };
        summary
            .checks
            .push(Check::new(CheckId::turn(transport), status, reason));
    }
}

/// What one result shows, worst first (the best of several servers over
/// a transport counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// A stage failed.
    Failed,
    /// The allocation worked, but the data stages could not run (no echo
    /// peer): not tested, not failed.
    DataNotTested,
    /// Data went through the relay.
    Relayed,
}

fn outcome(r: &TurnTransportResult) -> Outcome {
    if r.ok {
        Outcome::Relayed
    } else if r.failure.is_none()
        && r.stage(TurnStage::Allocate).map(|s| &s.status) == Some(&StageStatus::Passed)
    {
        Outcome::DataNotTested
    } else {
        Outcome::Failed
    }
}

/// Why the data stages of `r` did not run (the note of its first
/// untested data stage).
pub(crate) fn data_not_tested_reason(r: &TurnTransportResult) -> String {
    r.stage(TurnStage::CreatePermission)
        .filter(|s| s.status == StageStatus::NotTested)
        .and_then(|s| s.note.clone())
        .unwrap_or_else(|| "no peer to relay to".to_owned())
}
