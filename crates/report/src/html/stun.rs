//! The STUN section: per-server table and an RTT bar chart.

use super::writer::Html;
use super::{close_section, open_section, opt, yes_no};
use model::section::Section;
use model::stun::{FamilyAgreement, Outcome, StunSection, StunServer, Transport};

pub(super) fn section(h: &mut Html, stun: &Section<StunSection>) {
    let Some(s) = open_section(h, "stun", "STUN servers", stun, |h, s| {
        let answered = s
            .servers
            .iter()
            .filter(|x| x.outcome == Outcome::Ok)
            .count();
        h.int(answered)
            .m(" of ")
            .int(s.servers.len())
            .m(" server probes answered");
    }) else {
        return;
    };
    if s.servers.is_empty() {
        h.m("<p class=\"muted\">No STUN server was tried.</p>\n");
    } else {
        rtt_chart(h, &s.servers);
        table(h, &s.servers);
    }

    h.m("<h3>Do the servers agree?</h3>\n<div class=\"scroll\"><table id=\"stun-agreement\"><thead><tr><th>Family</th><th>Answered</th><th>Same public IP</th><th>Same public port</th><th>Public IPs</th></tr></thead><tbody>\n");
    agreement_row(h, "IPv4", &s.agreement.ipv4);
    agreement_row(h, "IPv6", &s.agreement.ipv6);
    h.m("</tbody></table></div>\n<p class=\"muted\">Ignored packets: ")
        .int(s.counters.malformed)
        .m(" malformed, ")
        .int(s.counters.unmatched)
        .m(" unmatched.</p>\n");
    close_section(h);
}

fn agreement_row(h: &mut Html, family: &'static str, a: &FamilyAgreement) {
    h.m("<tr><td>")
        .m(family)
        .m("</td><td class=\"num\">")
        .int(a.answered)
        .m("</td><td>");
    yes_no(h, a.same_ip, "—");
    h.m("</td><td>");
    yes_no(h, a.same_port, "—");
    h.m("</td><td>");
    for (i, ip) in a.public_ips.iter().enumerate() {
        if i > 0 {
            h.m(", ");
        }
        h.m("<code class=\"addr\">").d(ip).m("</code>");
    }
    h.m("</td></tr>\n");
}

fn transport(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
    }
}

fn outcome_badge(h: &mut Html, o: Outcome) {
    h.m(match o {
        Outcome::Ok => "<span class=\"badge pass\">ok</span>",
        Outcome::Timeout => "<span class=\"badge fail\">timeout</span>",
        Outcome::Refused => "<span class=\"badge fail\">port closed</span>",
        Outcome::Error => "<span class=\"badge fail\">error</span>",
        Outcome::Unresolved => "<span class=\"badge fail\">unresolved</span>",
    });
}

fn table(h: &mut Html, servers: &[StunServer]) {
    h.m("<div class=\"scroll\"><table id=\"stun-table\"><thead><tr><th>Server</th><th>Transport</th><th>Result</th><th>RTT</th><th>Sent</th><th>Your public address</th><th>Local address</th><th>RFC 5780</th><th>Software</th></tr></thead><tbody>\n");
    for s in servers {
        h.m("<tr><td>").t(&s.label);
        if s.uri != s.label {
            h.m("<br><code class=\"muted\">").t(&s.uri).m("</code>");
        }
        h.m("<br><code class=\"addr muted\">");
        match s.address {
            Some(a) => h.d(a),
            None => h.m("not resolved"),
        };
        h.m("</code>");
        h.m("</td><td>").m(transport(s.transport)).m("</td><td>");
        outcome_badge(h, s.outcome);
        if let Some(e) = &s.error {
            h.m("<span class=\"err block\">").t(e).m("</span>");
        }
        h.m("</td><td class=\"num\">");
        match s.rtt_ms {
            Some(ms) => {
                h.num(ms, 1).m(" ms");
            }
            None => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        h.m("</td><td class=\"num\">")
            .int(s.transmissions)
            .m("</td><td><code class=\"addr\">");
        opt(h, s.mapped);
        h.m("</code></td><td><code class=\"addr\">");
        opt(h, s.local);
        h.m("</code></td><td>");
        match (s.rfc5780, s.rfc3489) {
            (Some(true), _) => {
                h.m("<span class=\"badge pass\">yes</span>");
                if let Some(o) = s.other_address {
                    h.m("<br><span class=\"muted\">other: <code class=\"addr\">")
                        .d(o)
                        .m("</code></span>");
                }
            }
            (_, Some(true)) => {
                h.m("<span class=\"badge warn\">RFC 3489</span>");
                if let Some(o) = s.other_address {
                    h.m("<br><span class=\"muted\">CHANGED-ADDRESS: <code class=\"addr\">")
                        .d(o)
                        .m("</code></span>");
                }
            }
            (Some(false), _) => {
                h.m("<span class=\"badge warn\">no</span>");
            }
            (None, _) => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        h.m("</td><td>");
        match &s.software {
            Some(sw) => {
                h.m("<code>").t(sw).m("</code>");
            }
            None => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        h.m("</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

/// What a server without a measured RTT shows instead of a bar.
fn no_bar(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "answered, RTT not measured",
        Outcome::Timeout => "no answer (timeout)",
        Outcome::Refused => "port closed (refused)",
        Outcome::Error => "error",
        Outcome::Unresolved => "name did not resolve",
    }
}

/// The measured RTT of an answered server, if it can be drawn.
fn bar_ms(s: &StunServer) -> Option<f64> {
    s.rtt_ms
        .filter(|ms| s.outcome == Outcome::Ok && ms.is_finite() && *ms >= 0.0)
}

/// A horizontal bar per server × transport: RTT in ms, or the failure.
/// Drawn wide (`#stun-rtt-chart`, labels left of the bars) and narrow
/// (`#stun-rtt-chart-narrow`, labels above the bars, for phones).
fn rtt_chart(h: &mut Html, servers: &[StunServer]) {
    let max = servers
        .iter()
        .filter_map(|s| s.rtt_ms)
        .filter(|x| x.is_finite() && *x > 0.0)
        .fold(0.0f64, f64::max);
    let scale_max = nice_ceiling(max);
    h.m("<figure class=\"chart\">");
    rtt_wide(h, servers, scale_max);
    rtt_narrow(h, servers, scale_max);
    h.m("<figcaption>Round-trip time of the answered Binding request per server and transport.</figcaption></figure>\n");
}

fn rtt_wide(h: &mut Html, servers: &[StunServer], scale_max: f64) {
    const ROW: i64 = 28;
    const TOP: i64 = 26;
    const LABEL_W: f64 = 250.0;
    const BAR_W: f64 = 400.0;
    let height = TOP + ROW * servers.len() as i64 + 8;

    h.m("<svg id=\"stun-rtt-chart\" class=\"wide\" viewBox=\"0 0 760 ")
        .int(height)
        .m("\" role=\"img\" aria-labelledby=\"stun-rtt-title\"><title id=\"stun-rtt-title\">Round-trip time per STUN server</title>\n");
    // Axis: 0 and the scale maximum.
    h.m("<text x=\"250\" y=\"14\" font-size=\"12\" fill=\"#57606a\">0 ms</text><text x=\"650\" y=\"14\" text-anchor=\"end\" font-size=\"12\" fill=\"#57606a\">")
        .num(scale_max, 0)
        .m(" ms</text><line x1=\"250\" y1=\"20\" x2=\"250\" y2=\"")
        .int(height - 6)
        .m("\" stroke=\"#d8dce2\"/>\n");
    for (i, s) in servers.iter().enumerate() {
        let y = TOP + ROW * i as i64;
        h.m("<text x=\"242\" y=\"")
            .int(y + 17)
            .m("\" text-anchor=\"end\" font-size=\"12\" fill=\"#1b1f24\">")
            .t_short(&s.label, 30)
            .m(" (")
            .m(transport(s.transport))
            .m(")</text>");
        match bar_ms(s) {
            Some(ms) => {
                let w = if scale_max > 0.0 {
                    (ms / scale_max * BAR_W).clamp(2.0, BAR_W)
                } else {
                    2.0
                };
                h.m("<rect x=\"250\" y=\"")
                    .int(y + 4)
                    .m("\" width=\"")
                    .num(w, 1)
                    .m("\" height=\"18\" rx=\"3\" fill=\"#1a7f37\"/><text x=\"")
                    .num(LABEL_W + w + 6.0, 1)
                    .m("\" y=\"")
                    .int(y + 17)
                    .m("\" font-size=\"12\" fill=\"#1b1f24\">")
                    .num(ms, 1)
                    .m(" ms</text>\n");
            }
            None => {
                h.m("<text x=\"256\" y=\"")
                    .int(y + 17)
                    .m("\" font-size=\"12\" fill=\"#c62828\">")
                    .m(no_bar(s.outcome))
                    .m("</text>\n");
            }
        }
    }
    h.m("</svg>");
}

fn rtt_narrow(h: &mut Html, servers: &[StunServer], scale_max: f64) {
    const ROW: i64 = 42;
    const TOP: i64 = 22;
    const X0: f64 = 4.0;
    const BAR_W: f64 = 280.0;
    let height = TOP + ROW * servers.len() as i64 + 4;
    h.m("<svg id=\"stun-rtt-chart-narrow\" class=\"narrow\" viewBox=\"0 0 360 ")
        .int(height)
        .m("\" role=\"img\" aria-labelledby=\"stun-rtt-narrow-title\"><title id=\"stun-rtt-narrow-title\">Round-trip time per STUN server</title>\n");
    h.m("<text x=\"4\" y=\"14\" font-size=\"12\" fill=\"#57606a\">0 ms</text><text x=\"284\" y=\"14\" text-anchor=\"end\" font-size=\"12\" fill=\"#57606a\">")
        .num(scale_max, 0)
        .m(" ms</text>\n");
    for (i, s) in servers.iter().enumerate() {
        let y = TOP + ROW * i as i64;
        h.m("<text x=\"4\" y=\"")
            .int(y + 13)
            .m("\" font-size=\"13\" fill=\"#1b1f24\">")
            .t_short(&s.label, 36)
            .m(" (")
            .m(transport(s.transport))
            .m(")</text>");
        match bar_ms(s) {
            Some(ms) => {
                let w = if scale_max > 0.0 {
                    (ms / scale_max * BAR_W).clamp(2.0, BAR_W)
                } else {
                    2.0
                };
                h.m("<rect x=\"4\" y=\"")
                    .int(y + 19)
                    .m("\" width=\"")
                    .num(w, 1)
                    .m("\" height=\"16\" rx=\"3\" fill=\"#1a7f37\"/><text x=\"")
                    .num(X0 + w + 5.0, 1)
                    .m("\" y=\"")
                    .int(y + 32)
                    .m("\" font-size=\"12\" fill=\"#1b1f24\">")
                    .num(ms, 1)
                    .m(" ms</text>\n");
            }
            None => {
                h.m("<text x=\"4\" y=\"")
                    .int(y + 32)
                    .m("\" font-size=\"12\" fill=\"#c62828\">")
                    .m(no_bar(s.outcome))
                    .m("</text>\n");
            }
        }
    }
    h.m("</svg>");
}

/// The smallest of 1, 2, 5 × 10^k that is ≥ `x` (at least 10 ms).
fn nice_ceiling(x: f64) -> f64 {
    if !x.is_finite() || x <= 10.0 {
        return 10.0;
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
