//! What changed between two runs of `natscope watch`: the events it prints
//! as JSON lines. A pure function of the two reports.
//!
//! Events: the public address changed (per family), the NAT's mapping or
//! filtering changed, a check flipped (passed ↔ failed ↔ not tested). Each
//! carries the diagnosis finding of the newer run that explains it, when
//! there is one.

use model::diagnosis::Finding;
use model::{CheckStatus, Report};
use serde::Serialize;

/// What kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The public (mapped) address STUN saw changed.
    PublicAddressChanged,
    /// The NAT's mapping or filtering behaviour changed.
    NatChanged,
    /// A check's status changed.
    CheckChanged,
    /// A TURN server's certificate expires within [`EXPIRY_WARNING`]
    /// (said once, when it first does).
    CertificateExpiresSoon,
}

/// How close to its expiry a certificate is announced: 14 days.
pub const EXPIRY_WARNING: i64 = 14 * 86_400;

/// One change, as `natscope watch` prints it (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The kind of change.
    pub event: EventKind,
    /// What changed: a check id, `ipv4`/`ipv6`, `mapping`/`filtering`.
    pub subject: String,
    /// The value before (`null` when it was unknown).
    pub from: Option<String>,
    /// The value now (`null` when it is unknown now).
    pub to: Option<String>,
    /// When the newer run was made (its `generated_at`).
    pub at: String,
    /// The newer run's finding that explains it, if any.
    pub finding: Option<Finding>,
}

fn status_word(s: CheckStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| s.word().to_owned())
}

/// The first public address per family the STUN section saw (`None`: not
/// tested or no answer).
fn public(r: &Report, ipv6: bool) -> Option<String> {
    let stun = r.stun.tested()?;
    let a = if ipv6 {
        &stun.agreement.ipv6
    } else {
        &stun.agreement.ipv4
    };
    a.public_ips.first().map(|ip| ip.to_string())
}

/// A NAT verdict field as its JSON word.
fn nat_field(r: &Report, field: &str) -> Option<String> {
    let v = serde_json::to_value(r.nat.tested()?).ok()?;
    match v.get(field)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// TURN certificates of a report that expire within [`EXPIRY_WARNING`] of
/// `now` (Unix seconds): (server, transport, notAfter).
fn expiring(r: &Report, now: i64) -> Vec<(String, String, i64)> {
    r.turn
        .tested()
        .map(|t| {
            t.results
                .iter()
                .filter_map(|x| {
                    let at = x.certificate_not_after?;
                    (at - now < EXPIRY_WARNING)
                        .then(|| (x.uri.clone(), x.transport.label().to_owned(), at))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The events between `prev` and `next` (both concluded reports), `next`
/// made at `now` (Unix seconds). The first run (`prev` is `None`) can only
/// announce certificates that already expire soon.
pub fn changes(prev: Option<&Report>, next: &Report, now: i64) -> Vec<Event> {
    let mut out = Vec::new();
    let at = next.generated_at.clone();
    let before = prev.map(|p| expiring(p, now)).unwrap_or_default();
    for (server, transport, not_after) in expiring(next, now) {
        if before
            .iter()
            .any(|(s, t, _)| *s == server && *t == transport)
        {
            continue;
        }
        let days = (not_after - now) / 86_400;
        out.push(Event {
            event: EventKind::CertificateExpiresSoon,
            subject: format!("{server} over {transport}"),
            from: None,
            to: Some(if not_after <= now {
                "expired".to_owned()
            } else {
                format!("expires in {days} days")
            }),
            at: at.clone(),
            finding: None,
        });
    }
    let Some(prev) = prev else {
        return out;
    };
    let finding_for = |check: Option<&str>| -> Option<Finding> {
        let findings = &next.diagnosis.findings;
        match check {
            Some(id) => findings
                .iter()
                .find(|f| f.explains.iter().any(|c| c.as_str() == id))
                .cloned(),
            None => findings.first().cloned(),
        }
    };
    for (family, v6) in [("ipv4", false), ("ipv6", true)] {
        let (a, b) = (public(prev, v6), public(next, v6));
        // Only a change between two answers: a run without STUN answers is
        // a failed check, reported as such.
        if a.is_some() && b.is_some() && a != b {
            out.push(Event {
                event: EventKind::PublicAddressChanged,
                subject: family.to_owned(),
                from: a,
                to: b,
                at: at.clone(),
                finding: None,
            });
        }
    }
    for field in ["mapping", "filtering"] {
        let (a, b) = (nat_field(prev, field), nat_field(next, field));
        if a.is_some() && b.is_some() && a != b {
            out.push(Event {
                event: EventKind::NatChanged,
                subject: field.to_owned(),
                from: a,
                to: b,
                at: at.clone(),
                finding: finding_for(Some("nat-eim")),
            });
        }
    }
    for c in &next.summary.checks {
        let before = prev.summary.checks.iter().find(|p| p.id == c.id);
        let was = before.map(|p| p.status);
        if was != Some(c.status) {
            let id = c.id.as_str();
            out.push(Event {
                event: EventKind::CheckChanged,
                subject: id.to_owned(),
                from: was.map(status_word),
                to: Some(status_word(c.status)),
                at: at.clone(),
                finding: (c.status == CheckStatus::Fail)
                    .then(|| finding_for(Some(id)))
                    .flatten(),
            });
        }
    }
    for p in &prev.summary.checks {
        if !next.summary.checks.iter().any(|c| c.id == p.id) {
            out.push(Event {
                event: EventKind::CheckChanged,
                subject: p.id.as_str().to_owned(),
                from: Some(status_word(p.status)),
                to: None,
                at: at.clone(),
                finding: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::summary::Check;
    use model::{CheckId, Section};

    fn report(at: &str, checks: &[(CheckId, CheckStatus)]) -> Report {
        let mut r = Report::new("watch", at);
        r.summary.checks = checks
            .iter()
            .map(|(id, st)| Check::new(id.clone(), *st, "x"))
            .collect();
        r
    }

    #[test]
    fn a_flipped_check_is_one_event_with_its_finding() {
        let a = report("t1", &[(CheckId::Udp, CheckStatus::Pass)]);
        let mut b = report("t2", &[(CheckId::Udp, CheckStatus::Fail)]);
        let f = Finding::new(
            model::diagnosis::FindingId::UdpBlocked,
            model::diagnosis::Severity::Critical,
            "UDP is blocked",
            "allow UDP",
        )
        .explaining([CheckId::Udp]);
        b.diagnosis.findings.push(f.clone());
        let ev = changes(Some(&a), &b, 0);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].event, EventKind::CheckChanged);
        assert_eq!(ev[0].subject, "udp");
        assert_eq!(ev[0].from.as_deref(), Some("passed"));
        assert_eq!(ev[0].to.as_deref(), Some("failed"));
        assert_eq!(ev[0].at, "t2");
        assert_eq!(
            ev[0].finding.as_ref().map(|f| f.title.as_str()),
            Some("UDP is blocked")
        );
        // The same again: nothing changed.
        assert!(changes(Some(&b), &b, 0).is_empty());
    }

    #[test]
    fn a_certificate_near_expiry_is_said_once() {
        let mut r = report("t1", &[]);
        let mut t = model::turn::TurnTransportResult::new(
            "turns:turn.example.org",
            model::turn::TurnTransport::Tls,
        );
        t.certificate_not_after = Some(1_000_000 + 10 * 86_400);
        r.turn = Section::Tested(model::turn::TurnSection { results: vec![t] });
        let first = changes(None, &r, 1_000_000);
        assert_eq!(first.len(), 1, "{first:?}");
        assert_eq!(first[0].event, EventKind::CertificateExpiresSoon);
        assert_eq!(first[0].to.as_deref(), Some("expires in 10 days"));
        assert!(changes(Some(&r), &r, 1_000_100).is_empty());
        // 20 days left: nothing to say.
        assert!(changes(None, &r, 1_000_000 - 10 * 86_400).is_empty());
    }

    #[test]
    fn unknown_is_not_a_change_of_address() {
        let a = report("t1", &[]);
        let mut b = report("t2", &[]);
        b.stun = Section::not_tested("x");
        assert!(changes(Some(&a), &b, 0).is_empty());
    }
}
