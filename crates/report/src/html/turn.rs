//! The TURN section: per server URI and transport, a stage waterfall (failed
//! stages in red with the named reason), the stage table and the
//! allocation's details.

use super::writer::Html;
use super::{close_section, open_section};
use crate::format;
use model::section::Section;
use model::turn::{StageResult, StageStatus, TurnSection, TurnTransportResult};

/// Stages drawn per result (a built report has at most 13).
const MAX_STAGES: usize = 64;
/// Results drawn (a hand-made report could hold any number).
const MAX_RESULTS: usize = 200;

pub(super) fn section(h: &mut Html, turn: &Section<TurnSection>) {
    let Some(t) = open_section(h, "turn", "TURN", turn, |h, t| {
        let ok = t.results.iter().filter(|r| r.ok).count();
        h.int(ok)
            .m(" of ")
            .int(t.results.len())
            .m(" server × transport results work");
    }) else {
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
    close_section(h);
}

/// One row per URI and transport: works or not, and why not.
fn overview(h: &mut Html, results: &[TurnTransportResult]) {
    h.m("<div class=\"scroll\"><table id=\"turn-table\" class=\"reflow\"><thead><tr><th>Server</th><th>Transport</th><th>Result</th><th>Failed at</th><th>Relayed address</th><th>Total</th></tr></thead><tbody>\n");
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

/// The red "✘ reason" line of a failed stage.
fn failure_text(h: &mut Html, s: &StageResult, max: usize) {
    h.m("✘ ");
    match &s.error {
        Some(e) => h.t_short(&e.describe(), max),
        None => h.m("failed"),
    };
}

/// The geometry of one waterfall drawing.
struct Layout {
    id_suffix: &'static str,
    class: &'static str,
    width: usize,
    /// Where the bars start and how long the whole run is drawn.
    x0: f64,
    bar_w: f64,
    /// Stage labels left of the bars (wide) or above them (narrow).
    label_above: bool,
    /// Characters of a failure reason drawn.
    reason_chars: usize,
}

const WIDE: Layout = Layout {
    id_suffix: "",
    class: "wide",
    width: 760,
    x0: 200.0,
    bar_w: 330.0,
    label_above: false,
    reason_chars: 80,
};

const NARROW: Layout = Layout {
    id_suffix: "-narrow",
    class: "narrow",
    width: 360,
    x0: 4.0,
    bar_w: 270.0,
    label_above: true,
    reason_chars: 48,
};

/// Stages as a waterfall: each bar starts where the previous one ended and
/// is as long as its stage took. Failed stages are red and name the reason
/// on a line of their own under the bar, so it is never cut at the edge.
/// Drawn wide (`#turn-waterfall-N`) and narrow (`#turn-waterfall-N-narrow`,
/// labels above the bars, for phones).
fn waterfall(h: &mut Html, index: usize, stages: &[StageResult]) {
    h.m("<figure class=\"chart\">");
    waterfall_svg(h, index, stages, &WIDE);
    waterfall_svg(h, index, stages, &NARROW);
    h.m("</figure>\n");
}

fn waterfall_svg(h: &mut Html, index: usize, stages: &[StageResult], l: &Layout) {
    const TOP: f64 = 22.0;
    let row = if l.label_above { 40.0 } else { 26.0 };
    const REASON: f64 = 18.0;
    let total = total_ms(stages);
    let failed_with_line = |s: &StageResult| s.status == StageStatus::Failed && dur(s).is_some();
    let height = TOP
        + row * stages.len() as f64
        + REASON * stages.iter().filter(|s| failed_with_line(s)).count() as f64
        + 6.0;
    h.m("<svg class=\"turn-waterfall ")
        .m(l.class)
        .m("\" id=\"turn-waterfall-")
        .int(index)
        .m(l.id_suffix)
        .m("\" viewBox=\"0 0 ")
        .int(l.width)
        .m(" ")
        .num(height, 0)
        .m("\" role=\"img\"><title>TURN stages, in order, as a timeline</title>\n")
        .m("<text x=\"")
        .num(l.x0, 0)
        .m("\" y=\"14\" font-size=\"12\" fill=\"#57606a\">0 ms</text><text x=\"")
        .num(l.x0 + l.bar_w, 0)
        .m("\" y=\"14\" text-anchor=\"end\" font-size=\"12\" fill=\"#57606a\">")
        .t(&format::ms(total))
        .m("</text>\n");
    let mut cursor = 0.0f64;
    let mut y = TOP;
    for s in stages {
        // The baseline of the bar's text.
        let (label_x, label_y, anchor, base) = if l.label_above {
            (l.x0, y + 13.0, "start", y + 32.0)
        } else {
            (l.x0 - 8.0, y + 16.0, "end", y + 16.0)
        };
        h.m("<text x=\"")
            .num(label_x, 0)
            .m("\" y=\"")
            .num(label_y, 0)
            .m("\" text-anchor=\"")
            .m(anchor)
            .m("\" font-size=\"")
            .m(if l.label_above { "13" } else { "12" })
            .m("\" fill=\"#1b1f24\">")
            .m(s.stage.label())
            .m("</text>");
        let x = if total > 0.0 {
            l.x0 + cursor / total * l.bar_w
        } else {
            l.x0
        };
        y += row;
        let Some(d) = dur(s) else {
            h.m("<text x=\"")
                .num(x + 4.0, 1)
                .m("\" y=\"")
                .num(base, 0)
                .m("\" font-size=\"12\" fill=\"#57606a\">not run</text>\n");
            continue;
        };
        cursor += d;
        let w = if total > 0.0 {
            (d / total * l.bar_w).max(2.0)
        } else {
            2.0
        };
        let failed = s.status == StageStatus::Failed;
        h.m("<rect x=\"")
            .num(x, 1)
            .m("\" y=\"")
            .num(base - 12.0, 0)
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
            .num(base, 0)
            .m("\" font-size=\"12\" fill=\"")
            .m(if failed { "#c62828" } else { "#1b1f24" })
            .m("\">")
            .t(&format::ms(d))
            .m("</text>\n");
        if failed {
            h.m("<text x=\"")
                .num(l.x0, 0)
                .m("\" y=\"")
                .num(base + REASON, 0)
                .m("\" font-size=\"12\" fill=\"#c62828\">");
            failure_text(h, s, l.reason_chars);
            h.m("</text>\n");
            y += REASON;
        }
    }
    h.m("</svg>");
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
