//! The ICE section: the candidate-type matrix (one row per run: host↔host,
//! srflx↔srflx, relay↔relay, relay↔host, all) and, below it, the candidates
//! each agent gathered.

use super::open_section;
use super::writer::Html;
use crate::format;
use model::ice::{IceAgent, IceDataChannel, IceRun, IceSection};
use model::section::Section;

/// Runs, agents and candidates drawn (a hand-made report could hold any
/// number; a built one has 5 runs of 2 agents with a few candidates each).
const MAX_RUNS: usize = 64;
const MAX_AGENTS: usize = 8;
const MAX_CANDIDATES: usize = 200;

pub(super) fn section(h: &mut Html, ice: &Section<IceSection>) {
    let Some(s) = open_section(h, "ice", "ICE", ice) else {
        return;
    };
    let runs = &s.runs[..s.runs.len().min(MAX_RUNS)];
    if runs.is_empty() {
        h.m("<p class=\"muted\">No ICE run.</p>\n");
    } else {
        h.m("<p class=\"muted\">Two ICE agents on this machine, one session per candidate-type restriction.</p>\n");
        matrix(h, runs);
    }
    if !s.not_tested.is_empty() {
        h.m("<p class=\"muted\">Not tested: ");
        for (i, n) in s.not_tested.iter().take(MAX_CANDIDATES).enumerate() {
            if i > 0 {
                h.m("; ");
            }
            h.t(n);
        }
        h.m(".</p>\n");
    }
    if !runs.is_empty() {
        h.m("<h3>Gathered candidates</h3>\n");
        for (i, r) in runs.iter().enumerate() {
            candidates(h, i, r);
        }
    }
    h.m("</section>\n");
}

/// The candidate-type matrix: one row per run.
fn matrix(h: &mut Html, runs: &[IceRun]) {
    h.m("<div class=\"scroll\"><table id=\"ice-matrix\"><thead><tr><th>Run</th><th>Connected</th><th>Selected pair</th><th>Time to connected</th><th>RTT</th><th>Payload</th><th>Data channel</th><th>Notes</th></tr></thead><tbody>\n");
    for (i, r) in runs.iter().enumerate() {
        h.m("<tr id=\"ice-run-")
            .int(i)
            .m("\"><th>")
            .t(&r.label())
            .m("</th><td>")
            .m(if r.connected {
                "<span class=\"badge pass\">✔ connected</span>"
            } else {
                "<span class=\"badge fail\">✘ failed</span>"
            })
            .m("</td><td>");
        match &r.selected {
            Some(p) => {
                h.m("<strong>")
                    .t(&p.types())
                    .m("</strong><br><code class=\"addr\">")
                    .d(p.local_address)
                    .m("</code> → <code class=\"addr\">")
                    .d(p.remote_address)
                    .m("</code>");
            }
            None => {
                h.m("<span class=\"muted\">none</span>");
            }
        }
        h.m("</td><td class=\"num\">");
        opt_ms(h, r.time_to_connected_ms);
        h.m("</td><td class=\"num\">");
        opt_ms(h, r.rtt_ms);
        h.m("</td><td class=\"num\">");
        match &r.payload {
            Some(p) => {
                h.m("a→b ")
                    .int(p.a_to_b)
                    .m("/")
                    .int(p.sent)
                    .m("<br>b→a ")
                    .int(p.b_to_a)
                    .m("/")
                    .int(p.sent);
            }
            None => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        h.m("</td><td class=\"nowrap\">");
        data_channel(h, r.data_channel.as_ref());
        h.m("</td><td>");
        if let Some(f) = &r.failure {
            h.m("<span class=\"err\">").t(&f.describe()).m("</span>");
        }
        if let Some(hp) = &r.hairpin {
            if r.failure.is_some() {
                h.m("<br>");
            }
            h.m("<span class=\"muted\">").t(&hp.describe()).m("</span>");
        }
        if r.peer_reflexive_seen {
            h.m("<br><span class=\"muted\">a peer-reflexive candidate appeared</span>");
        }
        h.m("</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

/// The WebRTC data channel over the selected pair: open or not, and when.
fn data_channel(h: &mut Html, dc: Option<&IceDataChannel>) {
    let Some(dc) = dc else {
        h.m("<span class=\"muted\">not tested</span>");
        return;
    };
    if dc.works {
        h.m("<span class=\"badge pass\">✔ open</span>");
    } else {
        h.m("<span class=\"badge fail\">✘ failed</span>");
    }
    if let Some(t) = dc.time_to_open_ms {
        h.m("<br>open after ").t(&format::ms(t));
    }
    if let Some(t) = dc.message_rtt_ms {
        h.m("<br>message RTT ").t(&format::ms(t));
    }
    if !dc.works {
        h.m("<br>a→b ")
            .m(if dc.a_to_b { "✔" } else { "✘" })
            .m(" b→a ")
            .m(if dc.b_to_a { "✔" } else { "✘" });
    }
    if let Some(f) = &dc.failure {
        h.m("<br><span class=\"err\">").t(f).m("</span>");
    }
}

fn opt_ms(h: &mut Html, v: Option<f64>) {
    match v {
        Some(ms) => {
            h.t(&format::ms(ms));
        }
        None => {
            h.m("<span class=\"muted\">—</span>");
        }
    }
}

/// One run's candidates, both agents in one compact table.
fn candidates(h: &mut Html, index: usize, r: &IceRun) {
    let agents = &r.agents[..r.agents.len().min(MAX_AGENTS)];
    h.m("<p class=\"ice-run-head\"><strong>")
        .t(&r.label())
        .m("</strong>");
    for a in agents {
        h.m(" · agent ")
            .t(a.role.as_str())
            .m(": ")
            .int(a.candidates.len())
            .m(if a.candidates.len() == 1 {
                " candidate in "
            } else {
                " candidates in "
            })
            .t(&format::ms(a.gathering_ms));
        if !a.gathering_complete {
            h.m(" <span class=\"badge warn\">gathering incomplete</span>");
        }
    }
    h.m("</p>\n");
    if agents.iter().all(|a| a.candidates.is_empty()) {
        h.m("<p class=\"muted\">No candidate gathered.</p>\n");
    } else {
        h.m("<div class=\"scroll\"><table class=\"ice-candidates\" id=\"ice-candidates-")
            .int(index)
            .m("\"><thead><tr><th>Agent</th><th>Type</th><th>Protocol</th><th>Address</th><th>Related</th><th>Server</th><th>Gathered at</th><th>Used</th></tr></thead><tbody>\n");
        for a in agents {
            agent_rows(h, a);
        }
        h.m("</tbody></table></div>\n");
    }
    for a in agents {
        for p in a.server_problems.iter().take(MAX_CANDIDATES) {
            h.m("<p class=\"err\">agent ")
                .t(a.role.as_str())
                .m(": <code>")
                .t(&p.server)
                .m("</code> gave no ")
                .m(p.kind.as_str())
                .m(" candidate");
            if let Some(code) = p.code {
                h.m(" (error ").int(code).m(")");
            }
            h.m(": ").t(&p.error).m("</p>\n");
        }
    }
}

fn agent_rows(h: &mut Html, a: &IceAgent) {
    for c in a.candidates.iter().take(MAX_CANDIDATES) {
        h.m(if c.used {
            "<tr><td>"
        } else {
            "<tr class=\"unused\"><td>"
        })
        .t(a.role.as_str())
        .m("</td><td>")
        .m(c.kind.as_str())
        .m("</td><td>")
        .t(&c.protocol_label())
        .m("</td><td><code class=\"addr\">")
        .d(c.address)
        .m("</code></td><td><code class=\"addr\">");
        super::opt(h, c.related_address);
        h.m("</code></td><td>");
        match &c.server {
            Some(s) => {
                h.m("<code>").t(s).m("</code>");
            }
            None => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        h.m("</td><td class=\"num\">")
            .t(&format::ms(c.gathered_ms))
            .m("</td><td>");
        if c.used {
            h.m("yes");
        } else if let Some(why) = &c.dropped {
            h.m("<span class=\"muted\">no: ").t(why).m("</span>");
        } else {
            h.m("<span class=\"muted\">no (filtered out)</span>");
        }
        h.m("</td></tr>\n");
    }
    if a.candidates.len() > MAX_CANDIDATES {
        h.m("<tr><td class=\"muted\">… and ")
            .int(a.candidates.len() - MAX_CANDIDATES)
            .m(" more</td></tr>\n");
    }
}
