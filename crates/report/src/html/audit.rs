//! The TURN audit section (`natscope turn --audit`): per server, who it
//! says it is, one allocation per transport (given and implied), every
//! attempt to relay to a peer a public server should refuse, grouped by
//! category, and the quota and REST credential probes.
//!
//! SOFTWARE, reason phrases and the reasons an attempt was not made come
//! from the server (or whoever wrote the file): they only ever go through
//! [`Html::t`].

use super::writer::Html;
use super::{close_section, open_section};
use crate::format;
use crate::format::audit as fa;
use model::audit::{AttemptOutcome, AuditSection, AuditServer, AuditTransport, PeerAttempt};
use model::section::Section;

/// Servers and rows drawn (a built report has a few; a hand-made one
/// could hold any number).
const MAX_SERVERS: usize = 32;
const MAX_ROWS: usize = 200;

pub(super) fn section(h: &mut Html, audit: &Section<AuditSection>) {
    if super::not_run(audit) {
        return;
    }
    let Some(a) = open_section(h, "audit", "TURN audit", audit, gist) else {
        return;
    };
    h.m("<p class=\"muted\">What one authenticated client may do that a public TURN server should refuse: relay to the server host itself, its private network, link-local addresses (cloud metadata), multicast or its own addresses; unbounded allocations; expired or long-lived REST credentials; and how the server can be reached (TLS on 443, TCP).</p>\n");
    if a.servers.is_empty() {
        h.m("<p class=\"muted\">No server was audited.</p>\n");
    }
    for (i, s) in a.servers.iter().take(MAX_SERVERS).enumerate() {
        server(h, i, s);
    }
    if a.servers.len() > MAX_SERVERS {
        h.m("<p class=\"muted\">… and ")
            .int(a.servers.len() - MAX_SERVERS)
            .m(" more servers (see the raw data).</p>\n");
    }
    close_section(h);
}

/// The one-line gist: servers audited, and how many forbidden peers were
/// let through.
fn gist(h: &mut Html, a: &AuditSection) {
    h.int(a.servers.len()).m(if a.servers.len() == 1 {
        " server audited"
    } else {
        " servers audited"
    });
    let through: usize = a
        .servers
        .iter()
        .map(|s| s.peers.iter().filter(|p| p.let_through()).count())
        .sum();
    match through {
        0 => h.m(" · no forbidden peer let through"),
        1 => h.m(" · 1 forbidden peer let through"),
        n => h.m(" · ").int(n).m(" forbidden peers let through"),
    };
    let unbounded = a
        .servers
        .iter()
        .any(|s| s.quota.as_ref().is_some_and(|q| q.stopped_by.is_none()));
    if unbounded {
        h.m(" · no allocation quota");
    }
}

/// One server: identity, transports, peers, quota and REST.
fn server(h: &mut Html, index: usize, s: &AuditServer) {
    h.m("<div class=\"turn-result\" id=\"audit-server-")
        .int(index)
        .m("\"><h3>")
        .t(&s.label)
        .m("</h3>\n<div class=\"scroll\"><table class=\"kv\"><tbody><tr><th>URI</th><td><code>")
        .t(&s.uri)
        .m("</code></td></tr><tr><th>Address</th><td><code class=\"addr\">");
    super::opt(h, s.address);
    h.m("</code></td></tr><tr><th>Software</th><td>");
    match &s.software {
        Some(sw) => {
            h.m("<code>").t(sw).m("</code>");
        }
        None => {
            h.m("<span class=\"muted\">not disclosed</span>");
        }
    }
    h.m("</td></tr><tr><th>Product</th><td>");
    match &s.product {
        Some(p) => {
            h.t(&fa::product(p));
        }
        None => {
            h.m("<span class=\"muted\">not recognised</span>");
        }
    }
    h.m("</td></tr><tr><th>Allocation quota</th><td>");
    match &s.quota {
        Some(q) if q.stopped_by.is_none() => {
            h.m("<span class=\"err\">").t(&fa::quota(q)).m("</span>");
        }
        Some(q) => {
            h.t(&fa::quota(q));
        }
        None => {
            h.m("<span class=\"muted\">not tested</span>");
        }
    }
    h.m("</td></tr>");
    if let Some(r) = &s.rest {
        h.m("<tr><th>REST credentials</th><td>")
            .t(&fa::rest(r))
            .m("</td></tr>");
    }
    h.m("</tbody></table></div>\n");

    h.m("<p><strong>Allocations per transport</strong></p>\n");
    if s.transports.is_empty() {
        h.m("<p class=\"muted\">No allocation was made.</p>\n");
    } else {
        transports(h, index, &s.transports);
    }
    h.m("<p><strong>Peers a public server should refuse</strong></p>\n");
    if s.peers.is_empty() {
        h.m("<p class=\"muted\">No forbidden peer was tried.</p>\n");
    } else {
        peers(h, index, &s.peers);
    }
    h.m("</div>\n");
}

fn transports(h: &mut Html, index: usize, list: &[AuditTransport]) {
    h.m("<div class=\"scroll\"><table id=\"audit-transports-")
        .int(index)
        .m("\"><thead><tr><th>URI</th><th>Transport</th><th>Port</th><th>Source</th><th>Relayed address</th></tr></thead><tbody>\n");
    for t in list.iter().take(MAX_ROWS) {
        h.m("<tr><td><code>")
            .t(&t.uri)
            .m("</code></td><td>")
            .m(t.transport.label())
            .m("</td><td class=\"num\">")
            .int(t.port)
            .m("</td><td>")
            .m(if t.given {
                "given"
            } else {
                "<span class=\"muted\">implied</span>"
            })
            .m("</td><td>");
        match &t.failure {
            Some(f) => {
                h.m("<span class=\"err\">").t(&f.describe()).m("</span>");
            }
            None if t.relayed.is_none() && t.relayed_ipv6.is_none() => {
                h.m("<span class=\"muted\">—</span>");
            }
            None => {
                for (i, a) in t.relayed.iter().chain(t.relayed_ipv6.iter()).enumerate() {
                    if i > 0 {
                        h.m("<br>");
                    }
                    h.m("<code class=\"addr\">").d(a).m("</code>");
                }
            }
        }
        h.m("</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

/// One row per attempt, grouped by category (its cell spans the group).
fn peers(h: &mut Html, index: usize, list: &[PeerAttempt]) {
    h.m("<div class=\"scroll\"><table class=\"audit-peers\" id=\"audit-peers-")
        .int(index)
        .m("\"><thead><tr><th>Category</th><th>Peer</th><th>Transport</th><th>Via</th><th>Outcome</th><th>Delivered</th><th>Time</th></tr></thead><tbody>\n");
    let mut rows = 0;
    for (category, attempts) in fa::grouped(list) {
        let shown = attempts.len().min(MAX_ROWS.saturating_sub(rows));
        if shown == 0 {
            break;
        }
        for (i, p) in attempts.iter().take(shown).enumerate() {
            h.m("<tr>");
            if i == 0 {
                h.m("<th rowspan=\"")
                    .int(shown)
                    .m("\">")
                    .m(category.as_str())
                    .m("<br><span class=\"muted\">")
                    .t(category.describe())
                    .m("</span></th>");
            }
            h.m("<td><code class=\"addr\">")
                .d(p.peer)
                .m("</code></td><td>")
                .m(p.transport.label())
                .m("</td><td>")
                .m(p.via.label())
                .m("</td><td>");
            outcome(h, &p.outcome);
            h.m("</td><td>");
            match p.delivered {
                Some(true) => h.m("<span class=\"badge fail\">proved</span>"),
                Some(false) => h.m("sent, no answer"),
                None => h.m("<span class=\"muted\">—</span>"),
            };
            h.m("</td><td class=\"num\">");
            match p.ms {
                Some(ms) => h.t(&format::ms(ms)),
                None => h.m("<span class=\"muted\">—</span>"),
            };
            h.m("</td></tr>\n");
        }
        rows += shown;
    }
    if list.len() > rows {
        h.m("<tr><td class=\"muted\">… and ")
            .int(list.len() - rows)
            .m(" more</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

fn outcome(h: &mut Html, o: &AttemptOutcome) {
    match o {
        AttemptOutcome::Refused => {
            h.m("<span class=\"badge pass\">✔ refused</span>");
        }
        AttemptOutcome::Accepted => {
            h.m("<span class=\"badge fail\">✘ accepted</span>");
        }
        AttemptOutcome::Attempted => {
            h.m("<span class=\"badge fail\">✘ attempted (447)</span>");
        }
        AttemptOutcome::Error { .. } | AttemptOutcome::Timeout { .. } => {
            h.m("<span class=\"badge warn\">")
                .t(&fa::outcome(o))
                .m("</span>");
        }
        AttemptOutcome::NotTested { why } => {
            h.m("<span class=\"badge nt\">not tested</span> <span class=\"muted\">")
                .t(why)
                .m("</span>");
        }
    }
}
