//! The TURN section: per server URI and transport, a stage waterfall (failed
//! stages in red with the named reason), the stage table and the
//! allocation's details.

use super::open_section;
use super::writer::Html;
use crate::format;
use model::section::Section;
use model::turn::{StageResult, StageStatus, TurnSection, TurnTransportResult};

/// Stages drawn per result (a built report has at most 13).
const MAX_STAGES: usize = 64;
/// Results drawn (a hand-made report could hold any number).
const MAX_RESULTS: usize = 200;

pub(super) fn section(h: &mut Html, turn: &Section<TurnSection>) {
    let Some(t) = open_section(h, "turn", "TURN", turn) else {
        return;
    };
    if t.results.is_empty() {
        h.m("<p class=\"muted\">No TURN server was tried.</p>\n");
    } else {
        overview(h, &t.results);
    }
    for (i, r) in t.results.iter().take(MAX_RESULTS).enumerate() {
        result(h, i, r);
    }
    if t.results.len() > MAX_RESULTS {
        h.m("<p class=\"muted\">… and ")
            .int(t.results.len() - MAX_RESULTS)
            .m(" more results (see the raw data).</p>\n");
    }
    h.m("</section>\n");
}

/// One row per URI and transport: works or not, and why not.
fn overview(h: &mut Html, results: &[TurnTransportResult]) {
    h.m("<div class=\"scroll\"><table id=\"turn-table\"><thead><tr><th>Server</th><th>Transport</th><th>Result</th><th>Failed at</th><th>Relayed address</th><th>Total</th></tr></thead><tbody>\n");
    for r in results.iter().take(MAX_RESULTS) {
        h.m("<tr><td><code>")
            .t(&r.uri)
            .m("</code></td><td>")
            .m(r.transport.label())
            .m("</td><td>");
        ok_badge(h, r.ok);
        h.m("</td><td>");
        match (&r.failed_stage, &r.failure) {
            (None, None) => {
                h.m("<span class=\"muted\">—</span>");
            }
            (stage, failure) => {
                h.m("<span class=\"err\">");
                if let Some(s) = stage {
                    h.m("<strong>").m(s.label()).m("</strong>");
                }
                if let Some(f) = failure {
                    if stage.is_some() {
                        h.m(": ");
                    }
                    h.t(&f.describe());
                }
                h.m("</span>");
            }
        }
        h.m("</td><td><code class=\"addr\">");
        super::opt(h, r.relayed_address);
        h.m("</code></td><td class=\"num\">")
            .t(&format::ms(total_ms(&r.stages)))
            .m("</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

fn ok_badge(h: &mut Html, ok: bool) {
    h.m(if ok {
        "<span class=\"badge pass\">✔ works</span>"
    } else {
        "<span class=\"badge fail\">✘ fails</span>"
    });
}

/// A duration usable for geometry: finite and not negative.
fn dur(s: &StageResult) -> Option<f64> {
    s.duration_ms.filter(|d| d.is_finite() && *d >= 0.0)
}

fn total_ms(stages: &[StageResult]) -> f64 {
    stages.iter().take(MAX_STAGES).filter_map(dur).sum()
}

/// One transport result: heading, failure, waterfall, stage table, details.
fn result(h: &mut Html, index: usize, r: &TurnTransportResult) {
    h.m("<div class=\"turn-result\" id=\"turn-result-")
        .int(index)
        .m("\"><h3><code>")
        .t(&r.uri)
        .m("</code> over ")
        .m(r.transport.label())
        .m(" ");
    ok_badge(h, r.ok);
    h.m("</h3>\n");
    if r.failed_stage.is_some() || r.failure.is_some() {
        h.m("<p class=\"err\">Failed");
        if let Some(stage) = r.failed_stage {
            h.m(" at <strong>").m(stage.label()).m("</strong>");
        }
        if let Some(f) = &r.failure {
            h.m(": ").t(&f.describe());
        }
        h.m("</p>\n");
    }
    let stages = &r.stages[..r.stages.len().min(MAX_STAGES)];
    if stages.is_empty() {
        h.m("<p class=\"muted\">No stage ran.</p>\n");
    } else {
        waterfall(h, index, stages);
        stage_table(h, stages);
    }
    details(h, r);
    h.m("</div>\n");
}

fn stage_table(h: &mut Html, stages: &[StageResult]) {
    h.m("<div class=\"scroll\"><table class=\"turn-stages\"><thead><tr><th>Stage</th><th>Result</th><th>Duration</th><th>Details</th></tr></thead><tbody>\n");
    for s in stages {
        h.m("<tr><td>").m(s.stage.label()).m("</td><td>");
        h.m(match s.status {
            StageStatus::Passed => "<span class=\"badge pass\">ok</span>",
            StageStatus::Failed => "<span class=\"badge fail\">failed</span>",
            StageStatus::NotTested => "<span class=\"badge nt\">not run</span>",
        });
        h.m("</td><td class=\"num\">");
        match dur(s) {
            Some(d) => {
                h.t(&format::ms(d));
            }
            None => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        h.m("</td><td>");
        if let Some(e) = &s.error {
            h.m("<span class=\"err\">").t(&e.describe()).m("</span>");
        }
        if let Some(n) = &s.note {
            h.m(" <span class=\"muted\">").t(n).m("</span>");
        }
        h.m("</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

/// Stages as a waterfall: each bar starts where the previous one ended and
/// is as long as its stage took. Failed stages are red and name the reason.
fn waterfall(h: &mut Html, index: usize, stages: &[StageResult]) {
    const ROW: usize = 26;
    const TOP: usize = 22;
    const X0: f64 = 200.0;
    const W: f64 = 330.0;
    let total = total_ms(stages);
    let height = TOP + ROW * stages.len() + 6;
    h.m("<figure class=\"chart\"><svg class=\"turn-waterfall\" id=\"turn-waterfall-")
        .int(index)
        .m("\" viewBox=\"0 0 760 ")
        .int(height)
        .m("\" role=\"img\"><title>TURN stages, in order, as a timeline</title>\n")
        .m("<text x=\"200\" y=\"14\" font-size=\"11\" fill=\"#57606a\">0 ms</text><text x=\"530\" y=\"14\" text-anchor=\"end\" font-size=\"11\" fill=\"#57606a\">")
        .t(&format::ms(total))
        .m("</text>\n");
    let mut cursor = 0.0f64;
    for (i, s) in stages.iter().enumerate() {
        let y = TOP + ROW * i;
        h.m("<text x=\"192\" y=\"")
            .int(y + 16)
            .m("\" text-anchor=\"end\" font-size=\"12\" fill=\"#1b1f24\">")
            .m(s.stage.label())
            .m("</text>");
        let x = if total > 0.0 {
            X0 + cursor / total * W
        } else {
            X0
        };
        let Some(d) = dur(s) else {
            h.m("<text x=\"")
                .num(x + 4.0, 1)
                .m("\" y=\"")
                .int(y + 16)
                .m("\" font-size=\"11\" fill=\"#57606a\">not run</text>\n");
            continue;
        };
        cursor += d;
        let w = if total > 0.0 {
            (d / total * W).max(2.0)
        } else {
            2.0
        };
        let failed = s.status == StageStatus::Failed;
        h.m("<rect x=\"")
            .num(x, 1)
            .m("\" y=\"")
            .int(y + 4)
            .m("\" width=\"")
            .num(w, 1)
            .m("\" height=\"16\" rx=\"3\" fill=\"")
            .m(match s.status {
                StageStatus::Passed => "#1a7f37",
                StageStatus::Failed => "#c62828",
                StageStatus::NotTested => "#8c959f",
            })
            .m("\"/><text x=\"")
            .num(x + w + 5.0, 1)
            .m("\" y=\"")
            .int(y + 16)
            .m("\" font-size=\"11\" fill=\"")
            .m(if failed { "#c62828" } else { "#1b1f24" })
            .m("\">")
            .t(&format::ms(d));
        if failed {
            h.m(" ✘ ");
            match &s.error {
                Some(e) => h.t_short(&e.describe(), 44),
                None => h.m("failed"),
            };
        }
        h.m("</text>\n");
    }
    h.m("</svg></figure>\n");
}

/// Server, addresses, realm, lifetime, quality.
fn details(h: &mut Html, r: &TurnTransportResult) {
    h.m("<div class=\"scroll\"><table class=\"kv turn-details\"><tbody>");
    let addr_row = |h: &mut Html, name: &'static str, a: Option<std::net::SocketAddr>| {
        if let Some(a) = a {
            h.m("<tr><th>")
                .m(name)
                .m("</th><td><code class=\"addr\">")
                .d(a)
                .m("</code></td></tr>");
        }
    };
    addr_row(h, "Server address", r.server);
    addr_row(h, "Redirected from", r.redirected_from);
    addr_row(h, "Relayed address", r.relayed_address);
    addr_row(h, "Your address as the server saw it", r.mapped_address);
    addr_row(h, "Peer of the round trips", r.peer);
    if let Some(realm) = &r.realm {
        h.m("<tr><th>Realm</th><td><code>")
            .t(realm)
            .m("</code></td></tr>");
    }
    if let Some(l) = r.lifetime_secs {
        h.m("<tr><th>Allocation lifetime</th><td>")
            .int(l)
            .m(" s</td></tr>");
    }
    if r.stale_nonce_retried {
        h.m("<tr><th>Stale nonce</th><td>the server answered 438 Stale Nonce; retried once</td></tr>");
    }
    if let Some(sw) = &r.software {
        h.m("<tr><th>Server software</th><td><code>")
            .t(sw)
            .m("</code></td></tr>");
    }
    if let Some(q) = &r.quality {
        h.m("<tr><th>Relay quality</th><td>")
            .int(q.received)
            .m(" of ")
            .int(q.sent)
            .m(" packets came back (")
            .num(q.loss_percent, 1)
            .m(" % loss)");
        if let Some(p50) = q.rtt_p50_ms {
            h.m(", RTT median ").t(&format::ms(p50));
        }
        if let Some(p95) = q.rtt_p95_ms {
            h.m(", p95 ").t(&format::ms(p95));
        }
        h.m(", ").num(q.throughput_kbps, 0).m(" kbit/s</td></tr>");
    }
    h.m("</tbody></table></div>\n");
}
