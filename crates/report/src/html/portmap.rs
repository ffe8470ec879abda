//! The port mapping section: one row per protocol (UPnP IGD, NAT-PMP, PCP)
//! with the test mapping, the traffic check and its removal, then the
//! double-NAT evidence and any mapping that could not be removed.

use super::writer::Html;
use super::{close_section, open_section};
use model::portmap::{CheckStatus, PortmapSection, PortmapStatus};
use model::section::Section;

/// Rows and lines drawn (a built report has 3 protocols and a few lines; a
/// hand-made one could hold any number).
const MAX_ROWS: usize = 16;
const MAX_LINES: usize = 64;

pub(super) fn section(h: &mut Html, portmap: &Section<PortmapSection>) {
    let Some(p) = open_section(h, "portmap", "Port mapping", portmap, |h, p| {
        let available = p
            .protocols
            .iter()
            .filter(|r| r.status == PortmapStatus::Available)
            .count();
        h.int(available)
            .m(" of ")
            .int(p.protocols.len())
            .m(" protocols available");
        if p.double_nat.detected == Some(true) {
            h.m(" · double NAT");
        }
    }) else {
        return;
    };
    h.m("<p class=\"muted\">Whether the gateway lets applications open ports (UPnP IGD, NAT-PMP, PCP): a test mapping is made, checked and removed.");
    if let Some(g) = &p.gateway {
        h.m(" Gateway: <code class=\"addr\">").t(g).m("</code>.");
    }
    h.m("</p>\n");
    h.m("<div class=\"scroll\"><table id=\"portmap-protocols\"><thead><tr><th>Protocol</th><th>Status</th><th>External address</th><th>Mapping</th><th>Traffic</th><th>Removed</th><th>Notes</th></tr></thead><tbody>\n");
    for r in p.protocols.iter().take(MAX_ROWS) {
        h.m("<tr><th>").t(&r.protocol).m("</th><td>");
        h.m(match r.status {
            PortmapStatus::NotTested => "<span class=\"badge nt\">not tested</span>",
            PortmapStatus::NotAvailable => "<span class=\"badge nt\">not available</span>",
            PortmapStatus::Available => "<span class=\"badge pass\">available</span>",
        });
        h.m("</td><td>");
        let external = r
            .mapping
            .as_ref()
            .and_then(|m| m.external.as_deref())
            .or(r.external_ip.as_deref());
        match external {
            Some(e) => {
                h.m("<code class=\"addr\">").t(e).m("</code>");
            }
            None => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        h.m("</td><td>");
        match &r.mapping {
            Some(m) => {
                h.m("<code class=\"addr\">")
                    .t(&m.internal)
                    .m("</code> → port ")
                    .int(m.external_port)
                    .m(" (")
                    .int(m.lifetime_secs)
                    .m(" s)</td><td>");
                check(h, &m.traffic);
                h.m("</td><td>");
                check(h, &m.removed);
            }
            None => {
                h.m("<span class=\"muted\">none</span></td><td><span class=\"muted\">—</span></td><td><span class=\"muted\">—</span>");
            }
        }
        h.m("</td><td>");
        let mut notes = r.reason.iter().collect::<Vec<_>>();
        if let Some(m) = &r.mapping {
            notes.extend(m.traffic_reason.iter());
            notes.extend(m.removal_reason.iter());
        }
        notes.extend(r.errors.iter().take(MAX_LINES));
        for (i, n) in notes.into_iter().enumerate() {
            if i > 0 {
                h.m("<br>");
            }
            h.t(n);
        }
        h.m("</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");

    h.m("<p id=\"portmap-double-nat\"><strong>Double NAT:</strong> ");
    h.m(match p.double_nat.detected {
        Some(true) => "<span class=\"badge fail\">yes</span>",
        Some(false) => "no",
        None => "<span class=\"muted\">unknown</span>",
    });
    h.m("</p>\n");
    if !p.double_nat.evidence.is_empty() {
        h.m("<ul>");
        for e in p.double_nat.evidence.iter().take(MAX_LINES) {
            h.m("<li>").t(e).m("</li>");
        }
        h.m("</ul>\n");
    }
    if !p.leftover.is_empty() {
        h.m("<p class=\"err\">Not removed (they expire with their lease):</p><ul>");
        for l in p.leftover.iter().take(MAX_LINES) {
            h.m("<li class=\"err\">").t(l).m("</li>");
        }
        h.m("</ul>\n");
    }
    close_section(h);
}

fn check(h: &mut Html, c: &CheckStatus) {
    h.m(match c {
        CheckStatus::NotTested => "<span class=\"badge nt\">not tested</span>",
        CheckStatus::Passed => "<span class=\"badge pass\">yes</span>",
        CheckStatus::Failed => "<span class=\"badge fail\">no</span>",
    });
}
