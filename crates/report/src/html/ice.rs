//! The ICE section: the candidate-type matrix (one row per run: host↔host,
//! srflx↔srflx, relay↔relay, relay↔host, all) and, below it, the candidates
//! each agent gathered.

use super::writer::Html;
use super::{close_section, open_section};
use crate::format;
use model::ice::{CandidateType, IceAgent, IceDataChannel, IceFilter, IceRun, IceSection, Side};
use model::section::Section;

/// Runs, agents and candidates drawn (a hand-made report could hold any
/// number; a built one has 5 runs of 2 agents with a few candidates each).
const MAX_RUNS: usize = 64;
const MAX_AGENTS: usize = 8;
const MAX_CANDIDATES: usize = 200;

pub(super) fn section(h: &mut Html, ice: &Section<IceSection>) {
    let Some(s) = open_section(h, "ice", "ICE", ice, |h, s| {
        let ok = s.runs.iter().filter(|r| r.connected).count();
        h.int(ok)
            .m(" of ")
            .int(s.runs.len())
            .m(" candidate-type runs connected");
    }) else {
        return;
    };
    let runs = &s.runs[..s.runs.len().min(MAX_RUNS)];
    if runs.is_empty() {
        h.m("<p class=\"muted\">No ICE run.</p>\n");
    } else {
        h.m("<p class=\"muted\">Two ICE agents on this machine, one session per candidate-type restriction.</p>\n");
        type_matrix(h, runs);
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
        h.m("<details class=\"sub\"><summary>Gathered candidates of each run</summary>\n");
        for (i, r) in runs.iter().enumerate() {
            candidates(h, i, r);
        }
        h.m("</details>\n");
    }
    close_section(h);
}

/// The candidate-type matrix: one row per run.
fn matrix(h: &mut Html, runs: &[IceRun]) {
    h.m("<div class=\"scroll\"><table id=\"ice-matrix\" class=\"reflow\"><thead><tr><th>Run</th><th>Connected</th><th>Selected pair</th><th>Measured</th><th>Data channel</th><th>Notes</th></tr></thead><tbody>\n");
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
        h.m("</td><td>");
        measured(h, r);
        h.m("</td><td>");
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

/// Time to connected, RTT and the payload both ways, one per line.
fn measured(h: &mut Html, r: &IceRun) {
    let mut any = false;
    if let Some(t) = r.time_to_connected_ms {
        h.m("<span class=\"line\">connected after ")
            .t(&format::ms(t))
            .m("</span>");
        any = true;
    }
    if let Some(t) = r.rtt_ms {
        h.m("<span class=\"line\">RTT ")
            .t(&format::ms(t))
            .m("</span>");
        any = true;
    }
    if let Some(p) = &r.payload {
        h.m("<span class=\"line\">payload <span class=\"nowrap\">a→b ")
            .int(p.a_to_b)
            .m("/")
            .int(p.sent)
            .m("</span> <span class=\"nowrap\">b→a ")
            .int(p.b_to_a)
            .m("/")
            .int(p.sent)
            .m("</span></span>");
        any = true;
    }
    if !any {
        h.m("<span class=\"muted\">—</span>");
    }
}

/// The candidate types a matrix cell stands for.
const TYPES: [CandidateType; 3] = [
    CandidateType::Host,
    CandidateType::Srflx,
    CandidateType::Relay,
];

/// What the runs say about one local type × remote type cell.
#[derive(Default)]
struct Cell {
    /// Runs restricted to exactly this pair of types, and how many connected.
    runs: usize,
    connected: usize,
    /// Whether an unrestricted run selected a pair of these types.
    selected_when_free: bool,
}

/// The candidate-type matrix as a graphic (`#ice-type-matrix`, a CSS grid):
/// agent a's (local) candidate type down, agent b's (remote) across; each
/// cell passed, failed, partly passed or not tested.
fn type_matrix(h: &mut Html, runs: &[IceRun]) {
    let index = |t: CandidateType| TYPES.iter().position(|x| *x == t);
    let mut cells: [[Cell; 3]; 3] = Default::default();
    for r in runs {
        match (r.filter.allowed(Side::A), r.filter.allowed(Side::B)) {
            (Some(a), Some(b)) => {
                if let (Some(i), Some(j)) = (index(a), index(b)) {
                    cells[i][j].runs += 1;
                    cells[i][j].connected += usize::from(r.connected);
                }
            }
            _ => {
                if r.filter == IceFilter::All
                    && r.connected
                    && let Some(p) = &r.selected
                    && let (Some(i), Some(j)) = (index(p.local_type), index(p.remote_type))
                {
                    cells[i][j].selected_when_free = true;
                }
            }
        }
    }
    h.m("<figure class=\"ice-types\"><div class=\"ice-grid\" id=\"ice-type-matrix\" role=\"table\" aria-labelledby=\"ice-type-matrix-caption\">")
        .m("<div class=\"corner\" role=\"columnheader\">local ↓ · remote →</div>");
    for t in TYPES {
        h.m("<div class=\"colhead\" role=\"columnheader\">")
            .m(t.as_str())
            .m("</div>");
    }
    for (i, row) in cells.iter().enumerate() {
        h.m("<div class=\"rowhead\" role=\"rowheader\">")
            .m(TYPES[i].as_str())
            .m("</div>");
        for (j, c) in row.iter().enumerate() {
            let (class, word) = if c.runs > 0 {
                if c.connected == c.runs {
                    ("pass", "✔ pass")
                } else if c.connected == 0 {
                    ("fail", "✘ fail")
                } else {
                    ("partial", "◐ partly")
                }
            } else if c.selected_when_free {
                ("pass", "✔ pass")
            } else {
                ("nt", "– not tested")
            };
            h.m("<div class=\"cell ")
                .m(class)
                .m("\" role=\"cell\" data-id=\"")
                .m(TYPES[i].as_str())
                .m("-")
                .m(TYPES[j].as_str())
                .m("\"><strong>")
                .m(word)
                .m("</strong>");
            if c.runs > 0 {
                h.m("<span class=\"runs\">")
                    .int(c.connected)
                    .m(" of ")
                    .int(c.runs)
                    .m(if c.runs == 1 {
                        " run connected"
                    } else {
                        " runs connected"
                    })
                    .m("</span>");
            } else if c.selected_when_free {
                h.m("<span class=\"runs\">selected with all types allowed</span>");
            }
            h.m("</div>");
        }
    }
    h.m("</div><figcaption id=\"ice-type-matrix-caption\">Candidate types: agent a's (local) down, agent b's (remote) across; each cell is the outcome of the runs restricted to that pair of types, or the pair ICE selected when every type was allowed.</figcaption></figure>\n");
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
        h.m("<br><span class=\"nowrap\">open after ")
            .t(&format::ms(t))
            .m("</span>");
    }
    if let Some(t) = dc.message_rtt_ms {
        h.m("<br><span class=\"nowrap\">message RTT ")
            .t(&format::ms(t))
            .m("</span>");
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

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;

    /// The class of the type-matrix cell `local`-`remote`.
    fn cell<'a>(html: &'a str, local: &str, remote: &str) -> &'a str {
        let key = format!("\" role=\"cell\" data-id=\"{local}-{remote}\">");
        let at = html
            .find(&key)
            .unwrap_or_else(|| panic!("cell {local}-{remote}"));
        let open = html[..at].rfind("<div class=\"cell ").expect("cell div") + 17;
        &html[open..at]
    }

    #[test]
    fn type_matrix_shows_each_pair_kind() {
        let mut r = fixture("full.json");
        let html = super::super::render(&r);
        assert!(html.contains("id=\"ice-type-matrix\""));
        assert_eq!(html.matches("role=\"cell\"").count(), 9, "3 × 3 cells");
        // The lab run: host-host, srflx-srflx, relay-relay (4 runs) and
        // relay-host connected; the rest was not tested.
        assert_eq!(cell(&html, "host", "host"), "pass");
        assert_eq!(cell(&html, "srflx", "srflx"), "pass");
        assert_eq!(cell(&html, "relay", "relay"), "pass");
        assert_eq!(cell(&html, "relay", "host"), "pass");
        assert_eq!(cell(&html, "host", "relay"), "nt");
        assert_eq!(cell(&html, "srflx", "relay"), "nt");
        assert!(html.contains("4 of 4 runs connected"));

        // One relay run failing: partly; all failing: fail.
        let ice = match &mut r.ice {
            model::section::Section::Tested(i) => i,
            _ => panic!("ICE tested in the lab fixture"),
        };
        let relay: Vec<usize> = (0..ice.runs.len())
            .filter(|&i| ice.runs[i].filter == model::ice::IceFilter::RelayRelay)
            .collect();
        ice.runs[relay[0]].connected = false;
        let html = super::super::render(&r);
        assert_eq!(cell(&html, "relay", "relay"), "partial");
        assert!(html.contains("3 of 4 runs connected"));
        let ice = match &mut r.ice {
            model::section::Section::Tested(i) => i,
            _ => unreachable!(),
        };
        for &i in &relay {
            ice.runs[i].connected = false;
        }
        let html = super::super::render(&r);
        assert_eq!(cell(&html, "relay", "relay"), "fail");
    }
}
