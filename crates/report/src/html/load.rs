//! The TURN load section (`natscope turn --load`): the server and what was
//! asked for, the allocations and the traffic over the run, a chart of
//! loss and median round trip against the allocations streaming at each
//! step, the steps themselves, the knee, the errors and how the run ended.
//!
//! Error meanings and end details may quote the server (or whoever wrote
//! the file): they only ever go through [`Html::t`].

use super::writer::Html;
use super::{close_section, open_section};
use crate::format;
use crate::format::load as fl;
use model::load::{LoadEnd, LoadSection, LoadStep, Percentiles};
use model::section::Section;

/// Steps and error rows drawn (a built report has a few dozen steps; a
/// hand-made one could hold any number).
const MAX_STEPS: usize = 500;
const MAX_ROWS: usize = 64;

/// The chart's colours: loss red, round trip blue (also told apart by a
/// dashed line and square markers).
const LOSS: &str = "#c62828";
const RTT: &str = "#0b5cad";

pub(super) fn section(h: &mut Html, load: &Section<LoadSection>) {
    if super::not_run(load) {
        return;
    }
    let Some(l) = open_section(h, "load", "TURN load", load, gist) else {
        return;
    };
    h.m("<p class=\"muted\">Allocations from distinct source ports were ramped up in steps; each streams audio-like packets to its partner's relayed address, which returns them (relay to relay).</p>\n");
    summary(h, l);
    let steps = &l.steps[..l.steps.len().min(MAX_STEPS)];
    h.m("<p id=\"load-knee\"><strong>Knee:</strong> ");
    match &l.knee {
        Some(k) => {
            h.m("<span class=\"badge warn\">strain</span> ")
                .t(&fl::knee(k));
        }
        None => {
            h.m("none: the server kept up at every step");
        }
    }
    h.m("</p>\n");
    if steps.is_empty() {
        h.m("<p class=\"muted\">No ramp step was measured.</p>\n");
    } else {
        chart(h, steps);
        steps_table(h, l, steps);
    }
    errors(h, l);
    close_section(h);
}

/// The one-line gist: allocations made, the knee, how it ended.
fn gist(h: &mut Html, l: &LoadSection) {
    h.int(l.allocations.created)
        .m(" of ")
        .int(l.allocations.attempted)
        .m(" allocations · loss ")
        .t(&format::percent(l.traffic.loss_percent));
    match &l.knee {
        Some(k) => h.m(" · strain at ").int(k.allocations).m(" allocations"),
        None => h.m(" · no knee"),
    };
    if l.ended != LoadEnd::Completed {
        h.m(" · ").t(&l.ended.describe());
    }
}

fn percentiles(h: &mut Html, p: &Percentiles) {
    h.t(&fl::percentiles(p));
    if let Some(max) = p.max_ms {
        h.m(", max ").t(&format::ms(max));
    }
    h.m(" <span class=\"muted\">(")
        .int(p.count)
        .m(" samples)</span>");
}

/// Server, what was asked for, allocations, traffic, end.
fn summary(h: &mut Html, l: &LoadSection) {
    h.m("<div class=\"scroll\"><table class=\"kv\" id=\"load-summary\"><tbody><tr><th>Server</th><td>")
        .t(&l.label)
        .m(" <code>")
        .t(&l.uri)
        .m("</code> over ")
        .m(l.transport.label())
        .m("</td></tr><tr><th>Address</th><td><code class=\"addr\">");
    super::opt(h, l.address);
    h.m("</code></td></tr><tr><th>Asked for</th><td>")
        .t(&fl::config(&l.config))
        .m("</td></tr>");
    let a = &l.allocations;
    h.m("<tr><th>Allocations</th><td>")
        .int(a.attempted)
        .m(" attempted, ")
        .int(a.created)
        .m(" created, ");
    if a.failed > 0 {
        h.m("<span class=\"err\">")
            .int(a.failed)
            .m(" failed</span>");
    } else {
        h.m("0 failed");
    }
    if let Some(ps) = a.per_second {
        h.m("; ").t(&format::number(ps, 1)).m(" per second");
    }
    h.m("</td></tr><tr><th>Time to allocate</th><td>");
    percentiles(h, &a.time);
    h.m("</td></tr><tr><th>Released at the end</th><td>")
        .int(a.released)
        .m(" of ")
        .int(a.release_attempted)
        .m("</td></tr>");
    let t = &l.traffic;
    h.m("<tr><th>Sent</th><td>")
        .t(&format::number(t.sent_pps, 0))
        .m(" packets/s, ")
        .t(&format::bitrate(t.sent_mbit_s * 1e6))
        .m(" (")
        .int(t.sent)
        .m(" packets)</td></tr><tr><th>Received</th><td>")
        .t(&format::number(t.received_pps, 0))
        .m(" packets/s, ")
        .t(&format::bitrate(t.received_mbit_s * 1e6))
        .m(" (")
        .int(t.received)
        .m(" packets)</td></tr><tr><th>Loss</th><td>")
        .t(&format::percent(t.loss_percent))
        .m(" (")
        .int(t.lost)
        .m(" probes lost)</td></tr><tr><th>Round trip</th><td>");
    percentiles(h, &t.rtt);
    h.m("</td></tr><tr><th>Jitter</th><td>")
        .t(&format::opt_ms(t.jitter_ms))
        .m("</td></tr><tr><th>End</th><td>");
    match l.ended {
        LoadEnd::Completed => {
            h.t(&l.ended.describe());
        }
        LoadEnd::Interrupted => {
            h.m("<span class=\"badge warn\">interrupted</span> ")
                .t(&l.ended.describe());
        }
        LoadEnd::ServerSilent { .. }
        | LoadEnd::NoAllocation { .. }
        | LoadEnd::Redirected { .. }
        | LoadEnd::Failed { .. } => {
            h.m("<span class=\"err\">")
                .t(&l.ended.describe())
                .m("</span>");
        }
    }
    h.m("</td></tr>");
    if l.malformed > 0 {
        h.m("<tr><th>Ignored packets</th><td>")
            .int(l.malformed)
            .m(" malformed</td></tr>");
    }
    h.m("</tbody></table></div>\n");
}

/// One row per step; the knee's row is marked.
fn steps_table(h: &mut Html, l: &LoadSection, steps: &[LoadStep]) {
    let knee = l
        .knee
        .as_ref()
        .and_then(|k| steps.iter().position(|s| s.allocations == k.allocations));
    h.m("<div class=\"scroll\"><table id=\"load-steps\"><thead><tr><th>At</th><th>Allocations</th><th>Offered</th><th>Delivered</th><th>Loss</th><th>RTT p50</th><th>RTT p95</th><th>Jitter</th></tr></thead><tbody>\n");
    for (i, s) in steps.iter().enumerate() {
        h.m(if knee == Some(i) {
            "<tr class=\"knee\">"
        } else {
            "<tr>"
        })
        .m("<td class=\"num\">")
        .t(&format::ms_as_secs(s.at_ms))
        .m("</td><td class=\"num\">")
        .int(s.allocations);
        if knee == Some(i) {
            h.m(" <span class=\"tag\">knee</span>");
        }
        h.m("</td><td class=\"num\">")
            .t(&format::number(s.offered_pps, 0))
            .m(" pps</td><td class=\"num\">")
            .t(&format::number(s.delivered_pps, 0))
            .m(" pps</td><td class=\"num")
            .m(if s.loss_percent.is_some_and(|p| p > 1.0) {
                " err"
            } else {
                ""
            })
            .m("\">")
            .t(&format::percent(s.loss_percent))
            .m("</td><td class=\"num\">")
            .t(&format::opt_ms(s.rtt_p50_ms))
            .m("</td><td class=\"num\">")
            .t(&format::opt_ms(s.rtt_p95_ms))
            .m("</td><td class=\"num\">")
            .t(&format::opt_ms(s.jitter_ms))
            .m("</td></tr>\n");
    }
    if l.steps.len() > steps.len() {
        h.m("<tr><td class=\"muted\">… and ")
            .int(l.steps.len() - steps.len())
            .m(" more</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

/// Error answers by code.
fn errors(h: &mut Html, l: &LoadSection) {
    if l.errors.is_empty() {
        return;
    }
    h.m("<p><strong>Error answers</strong></p>\n<div class=\"scroll\"><table id=\"load-errors\"><thead><tr><th>Code</th><th>Request</th><th>Count</th><th>Meaning</th></tr></thead><tbody>\n");
    for e in l.errors.iter().take(MAX_ROWS) {
        h.m("<tr><td class=\"num err\">")
            .int(e.code)
            .m("</td><td>")
            .t(&e.request)
            .m("</td><td class=\"num\">")
            .int(e.count)
            .m("</td><td>")
            .t(&e.meaning)
            .m("</td></tr>\n");
    }
    if l.errors.len() > MAX_ROWS {
        h.m("<tr><td class=\"muted\">… and ")
            .int(l.errors.len() - MAX_ROWS)
            .m(" more</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

/// A value usable for geometry: finite and not negative.
fn usable(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

/// The smallest 1, 2 or 5 × 10ⁿ at least `x`, and at least `floor` (≥ 1).
fn nice_max(x: f64, floor: f64) -> f64 {
    if !x.is_finite() || x <= floor {
        return floor;
    }
    let mut base = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if m * base >= x {
                return m * base;
            }
        }
        base *= 10.0;
        if base > 1e12 {
            return x;
        }
    }
}

/// The geometry of one chart drawing.
struct Layout {
    id_suffix: &'static str,
    class: &'static str,
    width: f64,
    height: f64,
    /// The plot area's edges.
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

const WIDE: Layout = Layout {
    id_suffix: "",
    class: "wide load-chart",
    width: 640.0,
    height: 260.0,
    left: 58.0,
    right: 576.0,
    top: 40.0,
    bottom: 214.0,
};

const NARROW: Layout = Layout {
    id_suffix: "-narrow",
    class: "narrow load-chart",
    width: 360.0,
    height: 250.0,
    left: 46.0,
    right: 306.0,
    top: 54.0,
    bottom: 204.0,
};

/// Loss (left axis, red, round markers) and median round trip (right
/// axis, blue, dashed, square markers) per step, against the allocations
/// streaming at that step. A step without a value leaves a gap; a single
/// step is a marker on each series. Drawn wide (`#load-chart`) and narrow
/// (`#load-chart-narrow`, for phones).
fn chart(h: &mut Html, steps: &[LoadStep]) {
    h.m("<figure class=\"chart\">");
    chart_svg(h, steps, &WIDE);
    chart_svg(h, steps, &NARROW);
    h.m("<figcaption>Loss and median round trip at each step, against the allocations streaming.</figcaption></figure>\n");
}

fn chart_svg(h: &mut Html, steps: &[LoadStep], l: &Layout) {
    let x_max = steps
        .iter()
        .map(|s| s.allocations)
        .max()
        .unwrap_or(0)
        .max(1);
    let loss_max = nice_max(
        steps
            .iter()
            .filter_map(|s| usable(s.loss_percent))
            .fold(0.0, f64::max),
        1.0,
    );
    let rtt_max = nice_max(
        steps
            .iter()
            .filter_map(|s| usable(s.rtt_p50_ms))
            .fold(0.0, f64::max),
        1.0,
    );
    let (pw, ph) = (l.right - l.left, l.bottom - l.top);
    let x = |a: u32| l.left + f64::from(a) / f64::from(x_max) * pw;
    let y = |v: f64, max: f64| l.bottom - (v.min(max) / max) * ph;

    h.m("<svg class=\"")
        .m(l.class)
        .m("\" id=\"load-chart")
        .m(l.id_suffix)
        .m("\" viewBox=\"0 0 ")
        .num(l.width, 0)
        .m(" ")
        .num(l.height, 0)
        .m("\" role=\"img\"><title>Loss and median round trip per step, against allocations</title>\n");

    // Legend, top left.
    let ly = l.top - 26.0;
    h.m("<line x1=\"")
        .num(l.left, 0)
        .m("\" y1=\"")
        .num(ly, 0)
        .m("\" x2=\"")
        .num(l.left + 22.0, 0)
        .m("\" y2=\"")
        .num(ly, 0)
        .m("\" stroke=\"")
        .m(LOSS)
        .m("\" stroke-width=\"2\"/><text x=\"")
        .num(l.left + 28.0, 0)
        .m("\" y=\"")
        .num(ly + 4.0, 0)
        .m("\" font-size=\"12\" fill=\"#1b1f24\">loss %</text><line x1=\"")
        .num(l.left + 90.0, 0)
        .m("\" y1=\"")
        .num(ly, 0)
        .m("\" x2=\"")
        .num(l.left + 112.0, 0)
        .m("\" y2=\"")
        .num(ly, 0)
        .m("\" stroke=\"")
        .m(RTT)
        .m("\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/><text x=\"")
        .num(l.left + 118.0, 0)
        .m("\" y=\"")
        .num(ly + 4.0, 0)
        .m("\" font-size=\"12\" fill=\"#1b1f24\">RTT p50 (ms)</text>\n");

    // Grid and axes: 0, half and the top of each scale.
    for frac in [0.0, 0.5, 1.0] {
        let gy = l.bottom - frac * ph;
        h.m("<line x1=\"")
            .num(l.left, 0)
            .m("\" y1=\"")
            .num(gy, 1)
            .m("\" x2=\"")
            .num(l.right, 0)
            .m("\" y2=\"")
            .num(gy, 1)
            .m("\" stroke=\"")
            .m(if frac == 0.0 { "#8c959f" } else { "#d8dce2" })
            .m("\"/><text x=\"")
            .num(l.left - 6.0, 0)
            .m("\" y=\"")
            .num(gy + 4.0, 1)
            .m("\" text-anchor=\"end\" font-size=\"12\" fill=\"")
            .m(LOSS)
            .m("\">");
        tick(h, loss_max * frac);
        h.m("</text><text x=\"")
            .num(l.right + 6.0, 0)
            .m("\" y=\"")
            .num(gy + 4.0, 1)
            .m("\" font-size=\"12\" fill=\"")
            .m(RTT)
            .m("\">");
        tick(h, rtt_max * frac);
        h.m("</text>\n");
    }
    h.m("<line x1=\"")
        .num(l.left, 0)
        .m("\" y1=\"")
        .num(l.top, 0)
        .m("\" x2=\"")
        .num(l.left, 0)
        .m("\" y2=\"")
        .num(l.bottom, 0)
        .m("\" stroke=\"#8c959f\"/><line x1=\"")
        .num(l.right, 0)
        .m("\" y1=\"")
        .num(l.top, 0)
        .m("\" x2=\"")
        .num(l.right, 0)
        .m("\" y2=\"")
        .num(l.bottom, 0)
        .m("\" stroke=\"#8c959f\"/>\n");
    // The x axis: 0 and the most allocations, and its name.
    h.m("<text x=\"")
        .num(l.left, 0)
        .m("\" y=\"")
        .num(l.bottom + 16.0, 0)
        .m("\" text-anchor=\"middle\" font-size=\"12\" fill=\"#57606a\">0</text><text x=\"")
        .num(l.right, 0)
        .m("\" y=\"")
        .num(l.bottom + 16.0, 0)
        .m("\" text-anchor=\"middle\" font-size=\"12\" fill=\"#57606a\">")
        .int(x_max)
        .m("</text><text x=\"")
        .num((l.left + l.right) / 2.0, 0)
        .m("\" y=\"")
        .num(l.bottom + 32.0, 0)
        .m("\" text-anchor=\"middle\" font-size=\"12\" fill=\"#57606a\">allocations streaming</text>\n");

    let loss: Vec<Option<(f64, f64)>> = steps
        .iter()
        .map(|s| usable(s.loss_percent).map(|v| (x(s.allocations), y(v, loss_max))))
        .collect();
    let rtt: Vec<Option<(f64, f64)>> = steps
        .iter()
        .map(|s| usable(s.rtt_p50_ms).map(|v| (x(s.allocations), y(v, rtt_max))))
        .collect();
    if loss.iter().chain(rtt.iter()).all(Option::is_none) {
        h.m("<text x=\"")
            .num((l.left + l.right) / 2.0, 0)
            .m("\" y=\"")
            .num((l.top + l.bottom) / 2.0, 0)
            .m("\" text-anchor=\"middle\" font-size=\"12\" fill=\"#57606a\">no loss or round trip measured</text>\n");
    }
    series(h, &loss, LOSS, false);
    series(h, &rtt, RTT, true);
    h.m("</svg>");
}

/// A tick label: one decimal below 10, none above.
fn tick(h: &mut Html, v: f64) {
    if v != 0.0 && v < 10.0 {
        h.num(v, 1);
    } else {
        h.num(v, 0);
    }
}

/// One series: a polyline per run of consecutive values, and a marker at
/// every value (round for loss, square for the round trip).
fn series(h: &mut Html, points: &[Option<(f64, f64)>], color: &'static str, dashed: bool) {
    for run in points.split(Option::is_none) {
        if run.len() < 2 {
            continue;
        }
        h.m("<polyline points=\"");
        for (i, (px, py)) in run.iter().flatten().enumerate() {
            if i > 0 {
                h.m(" ");
            }
            h.num(*px, 1).m(",").num(*py, 1);
        }
        h.m("\" fill=\"none\" stroke=\"")
            .m(color)
            .m("\" stroke-width=\"2\"");
        if dashed {
            h.m(" stroke-dasharray=\"5 3\"");
        }
        h.m("/>\n");
    }
    for (px, py) in points.iter().flatten() {
        if dashed {
            h.m("<rect x=\"")
                .num(px - 3.0, 1)
                .m("\" y=\"")
                .num(py - 3.0, 1)
                .m("\" width=\"6\" height=\"6\" fill=\"")
                .m(color)
                .m("\"/>");
        } else {
            h.m("<circle cx=\"")
                .num(*px, 1)
                .m("\" cy=\"")
                .num(*py, 1)
                .m("\" r=\"3\" fill=\"")
                .m(color)
                .m("\"/>");
        }
    }
    h.m("\n");
}
