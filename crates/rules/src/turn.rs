//! The `turn-<transport>` checks and the TURN summary lines.

use model::turn::{TurnSection, TurnTransport};
use model::{Check, CheckId, CheckStatus, Summary};
use std::collections::BTreeMap;

/// Summary lines and one check per transport tested.
pub(crate) fn summarize(section: &TurnSection, summary: &mut Summary) {
    // Keyed by the transport's name: the checks come in its alphabetical
    // order (the order natscope has always written them in).
    let mut per_transport: BTreeMap<String, (TurnTransport, bool)> = BTreeMap::new();
    for r in &section.results {
        let transport = r.transport;
        let entry = per_transport
            .entry(transport.to_string())
            .or_insert((transport, false));
        entry.1 |= r.ok;
        if r.ok {
            summary.works.push(format!(
                "TURN {} over {transport}: allocation and relay work{}",
                r.uri,
                r.relayed_address
                    .map(|a| format!(" (relayed address {a})"))
                    .unwrap_or_default()
            ));
        } else {
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
    let ok = |t: TurnTransport| per_transport.get(&t.to_string()).map(|e| e.1);
    let udp_ok = ok(TurnTransport::Udp);
    let stream_ok = ok(TurnTransport::Tcp) == Some(true) || ok(TurnTransport::Tls) == Some(true);
    if udp_ok == Some(false) && stream_ok {
        summary.advice.push(
            "TURN over UDP fails but TCP/TLS works: UDP is likely blocked on this network; \
             offer a turns: server on port 443 so clients behind such firewalls can relay"
                .into(),
        );
    }
    for (transport, ok) in per_transport.into_values() {
        summary.checks.push(Check::new(
            CheckId::turn(transport),
            if ok {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            },
            if ok {
                format!("a TURN allocation over {transport} relayed data")
            } else {
                format!("no TURN server relayed data over {transport}")
            },
        ));
    }
}
