//! The browser section: what a real browser gathered with the same servers
//! and whether it connected to natscope's own WebRTC peer, per ICE
//! transport policy (`all`, `relay`): the gathering per policy, the
//! candidate errors, the connections, and the candidates themselves.
//!
//! Every string of the section came from the browser (or whoever wrote
//! the file): it only ever goes through [`Html::t`].

use super::writer::Html;
use super::{close_section, open_section};
use crate::format;
use crate::format::browser as fb;
use model::browser::{
    BrowserConnection, BrowserGathering, BrowserOutcome, BrowserSection, BrowserStats,
};
use model::section::Section;

/// Rows drawn per table (a built report has two policies and a few dozen
/// candidates; a hand-made one could hold any number).
const MAX_ROWS: usize = 64;
const MAX_CANDIDATES: usize = 200;

pub(super) fn section(h: &mut Html, browser: &Section<BrowserSection>) {
    let Some(b) = open_section(h, "browser", "Browser", browser, gist) else {
        return;
    };
    h.m("<p class=\"muted\">A real browser gathered candidates with the same STUN/TURN servers and connected to natscope's own WebRTC peer, once per ICE transport policy (<code>all</code>, <code>relay</code>).</p>\n");
    h.m("<div class=\"scroll\"><table class=\"kv\" id=\"browser-info\"><tbody><tr><th>Browser</th><td>")
        .t(&fb::name(b))
        .m("</td></tr><tr><th>Page</th><td>")
        .t(&fb::launched(&b.launched))
        .m("</td></tr>");
    if !b.browser.user_agent.trim().is_empty() {
        h.m("<tr><th>User agent</th><td><code>")
            .t(&b.browser.user_agent)
            .m("</code></td></tr>");
    }
    h.m("</tbody></table></div>\n");

    h.m("<h3>Gathering</h3>\n");
    if b.gathering.is_empty() {
        h.m("<p class=\"muted\">The browser did not gather.</p>\n");
    } else {
        gathering(h, &b.gathering);
    }
    errors(h, &b.gathering);
    h.m("<h3>Connection to natscope's peer</h3>\n");
    if b.connections.is_empty() {
        h.m("<p class=\"muted\">The browser did not try to connect.</p>\n");
    } else {
        connections(h, &b.connections);
    }
    if !b.not_tested.is_empty() {
        h.m("<p class=\"muted\">Not tested: ");
        for (i, n) in b.not_tested.iter().take(MAX_ROWS).enumerate() {
            if i > 0 {
                h.m("; ");
            }
            h.t(n);
        }
        h.m(".</p>\n");
    }
    if b.gathering
        .iter()
        .any(|g| !g.candidates.is_empty() || !g.servers.is_empty())
    {
        h.m("<details class=\"sub\"><summary>Gathered candidates of each policy</summary>\n");
        for (i, g) in b.gathering.iter().take(MAX_ROWS).enumerate() {
            candidates(h, i, g);
        }
        h.m("</details>\n");
    }
    close_section(h);
}

/// The one-line gist: the browser, and where it connected.
fn gist(h: &mut Html, b: &BrowserSection) {
    h.t(&fb::name(b));
    let with = |o: BrowserOutcome| -> Vec<&'static str> {
        b.connections
            .iter()
            .filter(|c| c.outcome == o)
            .map(|c| c.policy.as_str())
            .collect()
    };
    let ok = with(BrowserOutcome::Connected);
    let mut not = with(BrowserOutcome::Failed);
    not.extend(with(BrowserOutcome::TimedOut));
    if !ok.is_empty() {
        h.m(" · connected under ");
        policies(h, &ok);
    }
    if !not.is_empty() {
        h.m(" · did not connect under ");
        policies(h, &not);
    }
    if ok.is_empty() && not.is_empty() {
        h.m(" · no connection tried");
    }
    let errors: usize = b.gathering.iter().map(|g| g.errors.len()).sum();
    if errors > 0 {
        h.m(" · ").int(errors).m(if errors == 1 {
            " candidate error"
        } else {
            " candidate errors"
        });
    }
}

/// `all and relay`.
fn policies(h: &mut Html, list: &[&'static str]) {
    for (i, p) in list.iter().enumerate() {
        if i > 0 {
            h.m(if i + 1 == list.len() { " and " } else { ", " });
        }
        h.m(p);
    }
}

/// One row per policy: candidates by type, mDNS, errors, time.
fn gathering(h: &mut Html, list: &[BrowserGathering]) {
    h.m("<div class=\"scroll\"><table id=\"browser-gathering\" class=\"reflow\"><thead><tr><th>Policy</th><th>Candidates</th><th>mDNS host</th><th>Errors</th><th>Total</th><th>Complete</th></tr></thead><tbody>\n");
    for g in list.iter().take(MAX_ROWS) {
        h.m("<tr><th>").m(g.policy.as_str()).m("</th><td>");
        if g.candidates.is_empty() {
            h.m("<span class=\"badge fail\">✘ none</span>");
        } else {
            h.t(&fb::candidates(g));
        }
        h.m("</td><td class=\"num\">")
            .int(fb::mdns(g))
            .m("</td><td class=\"num\">")
            .int(g.errors.len())
            .m("</td><td class=\"num\">")
            .t(&format::ms(g.total_ms))
            .m("</td><td>")
            .m(if g.complete {
                "yes"
            } else {
                "<span class=\"badge warn\">no</span>"
            })
            .m("</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

/// Every `icecandidateerror`: policy, code, URL, text.
fn errors(h: &mut Html, list: &[BrowserGathering]) {
    if list.iter().all(|g| g.errors.is_empty()) {
        return;
    }
    h.m("<h3>Candidate errors</h3>\n<p class=\"muted\">701: the server was not reached from a local address; other codes are the STUN/TURN server's error (401: credentials refused).</p>\n");
    h.m("<div class=\"scroll\"><table id=\"browser-errors\"><thead><tr><th>Policy</th><th>Code</th><th>URL</th><th>Error</th><th>At</th></tr></thead><tbody>\n");
    let mut rows = 0;
    for g in list {
        for e in &g.errors {
            rows += 1;
            if rows > MAX_CANDIDATES {
                continue;
            }
            h.m("<tr><td>")
                .m(g.policy.as_str())
                .m("</td><td class=\"num err\">")
                .int(e.code)
                .m("</td><td><code>")
                .t(&e.url)
                .m("</code></td><td>")
                .t(&e.text)
                .m("</td><td class=\"num\">")
                .t(&format::ms(e.at_ms))
                .m("</td></tr>\n");
        }
    }
    if rows > MAX_CANDIDATES {
        h.m("<tr><td class=\"muted\">… and ")
            .int(rows - MAX_CANDIDATES)
            .m(" more</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

/// One row per policy: outcome, pair, times, the data channel, getStats.
fn connections(h: &mut Html, list: &[BrowserConnection]) {
    h.m("<div class=\"scroll\"><table id=\"browser-connections\" class=\"reflow\"><thead><tr><th>Policy</th><th>Outcome</th><th>Selected pair</th><th>ICE connected</th><th>Data channel</th><th>getStats</th></tr></thead><tbody>\n");
    for c in list.iter().take(MAX_ROWS) {
        h.m("<tr><th>")
            .m(c.policy.as_str())
            .m("</th><td>")
            .m(match c.outcome {
                BrowserOutcome::Connected => "<span class=\"badge pass\">✔ connected</span>",
                BrowserOutcome::Failed => "<span class=\"badge fail\">✘ failed</span>",
                BrowserOutcome::TimedOut => "<span class=\"badge fail\">✘ timed out</span>",
            });
        if let Some(f) = &c.failure {
            h.m("<br><span class=\"err\">").t(f).m("</span>");
        }
        if let Some(p) = &c.peer_saw {
            h.m("<br><span class=\"muted\">natscope's peer: ")
                .t(p)
                .m("</span>");
        }
        h.m("</td><td>");
        match &c.selected {
            Some(p) => {
                h.m("<strong>")
                    .t(&fb::pair(p))
                    .m("</strong> <span class=\"muted\">")
                    .t(&p.local_protocol)
                    .m("</span><br><code class=\"addr\">")
                    .t(&p.local_address)
                    .m("</code> → <code class=\"addr\">")
                    .t(&p.remote_address)
                    .m("</code>");
            }
            None => {
                h.m("<span class=\"muted\">none</span>");
            }
        }
        h.m("</td><td class=\"num\">");
        opt_ms(h, c.ice_connected_ms);
        h.m("</td><td>");
        channel(h, c);
        h.m("</td><td>");
        stats(h, c.stats.as_ref());
        h.m("</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

fn opt_ms(h: &mut Html, v: Option<f64>) {
    match v {
        Some(t) => {
            h.t(&format::ms(t));
        }
        None => {
            h.m("<span class=\"muted\">—</span>");
        }
    }
}

/// The data channel: when it opened, the round trip, messages echoed.
fn channel(h: &mut Html, c: &BrowserConnection) {
    let mut any = false;
    if let Some(t) = c.channel_open_ms {
        h.m("<span class=\"line nowrap\">open after ")
            .t(&format::ms(t))
            .m("</span>");
        any = true;
    }
    if let Some(t) = c.round_trip_ms {
        h.m("<span class=\"line nowrap\">round trip ")
            .t(&format::ms(t))
            .m("</span>");
        any = true;
    }
    if c.sent > 0 {
        h.m("<span class=\"line nowrap\">")
            .int(c.echoed)
            .m("/")
            .int(c.sent)
            .m(" echoed</span>");
        any = true;
    }
    if !any {
        h.m("<span class=\"muted\">—</span>");
    }
}

/// `getStats` of the selected pair.
fn stats(h: &mut Html, s: Option<&BrowserStats>) {
    let Some(s) = s else {
        h.m("<span class=\"muted\">—</span>");
        return;
    };
    let mut any = false;
    if let Some(v) = s.current_rtt_ms {
        h.m("<span class=\"line\">RTT ")
            .t(&format::ms(v))
            .m("</span>");
        any = true;
    }
    if let Some(v) = s.available_outgoing_bitrate {
        h.m("<span class=\"line\">")
            .t(&format::bitrate(v))
            .m(" available out</span>");
        any = true;
    }
    if s.bytes_sent.is_some() || s.bytes_received.is_some() {
        h.m("<span class=\"line nowrap\">bytes ");
        match s.bytes_sent {
            Some(n) => h.int(n),
            None => h.m("—"),
        };
        h.m(" sent, ");
        match s.bytes_received {
            Some(n) => h.int(n),
            None => h.m("—"),
        };
        h.m(" received</span>");
        any = true;
    }
    if !any {
        h.m("<span class=\"muted\">—</span>");
    }
}

/// One policy's candidates, then what each STUN/TURN URL gave.
fn candidates(h: &mut Html, index: usize, g: &BrowserGathering) {
    h.m("<p class=\"ice-run-head\"><strong>policy ")
        .m(g.policy.as_str())
        .m("</strong> · ")
        .int(g.candidates.len())
        .m(if g.candidates.len() == 1 {
            " candidate in "
        } else {
            " candidates in "
        })
        .t(&format::ms(g.total_ms));
    if !g.complete {
        h.m(" <span class=\"badge warn\">gathering incomplete</span>");
    }
    h.m("</p>\n");
    if g.candidates.is_empty() {
        h.m("<p class=\"muted\">No candidate gathered.</p>\n");
    } else {
        h.m("<div class=\"scroll\"><table class=\"ice-candidates\" id=\"browser-candidates-")
            .int(index)
            .m("\"><thead><tr><th>Type</th><th>Protocol</th><th>Address</th><th>Port</th><th>URL</th><th>Gathered at</th></tr></thead><tbody>\n");
        for c in g.candidates.iter().take(MAX_CANDIDATES) {
            h.m("<tr><td>")
                .m(c.kind.as_str())
                .m("</td><td>")
                .t(&c.protocol);
            if let Some(p) = c.relay_protocol {
                h.m(" via TURN-").m(p.upper());
            }
            if let Some(t) = &c.tcp_type {
                h.m(" (").t(t).m(")");
            }
            h.m("</td><td><code class=\"addr\">")
                .t(&c.address)
                .m("</code>");
            if c.mdns {
                h.m(" <span class=\"tag\">mDNS</span>");
            }
            h.m("</td><td class=\"num\">").int(c.port).m("</td><td>");
            match &c.url {
                Some(u) => {
                    h.m("<code>").t(u).m("</code>");
                }
                None => {
                    h.m("<span class=\"muted\">—</span>");
                }
            }
            h.m("</td><td class=\"num\">")
                .t(&format::ms(c.at_ms))
                .m("</td></tr>\n");
        }
        if g.candidates.len() > MAX_CANDIDATES {
            h.m("<tr><td class=\"muted\">… and ")
                .int(g.candidates.len() - MAX_CANDIDATES)
                .m(" more</td></tr>\n");
        }
        h.m("</tbody></table></div>\n");
    }
    if !g.servers.is_empty() {
        h.m("<div class=\"scroll\"><table id=\"browser-servers-")
            .int(index)
            .m("\"><thead><tr><th>Server URL</th><th>Candidates</th><th>First after</th><th>Errors</th></tr></thead><tbody>\n");
        for s in g.servers.iter().take(MAX_ROWS) {
            h.m("<tr><td><code>")
                .t(&s.url)
                .m("</code></td><td class=\"num\">")
                .int(s.candidates)
                .m("</td><td class=\"num\">");
            opt_ms(h, s.first_ms);
            h.m("</td><td class=\"num\">")
                .int(s.errors)
                .m("</td></tr>\n");
        }
        h.m("</tbody></table></div>\n");
    }
}
