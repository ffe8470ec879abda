//! The peer section (`natscope peer`): ICE, a data channel and a plain UDP
//! hole punch with natscope on another machine, met through a rendezvous;
//! one row per ICE policy, the hole-punch attempts, what the two NAT
//! verdicts predicted against what happened, and the session's failure
//! with its remedy. [`body`] is drawn once on a report's page and once per
//! side on the page of a whole session ([`super::render_pair`]).
//!
//! The other side's version, its NAT verdict, the reasons and the
//! rendezvous URL came from the network (or whoever wrote the file): they
//! only ever go through [`Html::t`].

use super::writer::Html;
use super::{close_section, open_section};
use crate::format;
use crate::format::peer as fp;
use model::peer::{
    HolePunch, PeerObserved, PeerOutcome, PeerPolicyResult, PeerSection, PunchDirection, TcpPunch,
};
use model::section::Section;

/// Rows drawn per table (a built report has two policies and at most
/// three attempts; a hand-made one could hold any number).
const MAX_ROWS: usize = 32;
/// Longest version string shown (the JSON has it all).
const VERSION_MAX: usize = 48;

pub(super) fn section(h: &mut Html, peer: &Section<PeerSection>) {
    if super::not_run(peer) {
        return;
    }
    let Some(p) = open_section(h, "peer", "Peer", peer, |h, p| {
        h.t(&fp::gist(p));
    }) else {
        return;
    };
    h.m("<p class=\"muted\">ICE, a data channel and a plain UDP hole punch with natscope on another machine, met through a rendezvous; first with direct candidates only, then with the relay allowed.</p>\n");
    body(h, "peer", p);
    close_section(h);
}

/// The section's content; every element id inside starts with `id`.
pub(super) fn body(h: &mut Html, id: &'static str, p: &PeerSection) {
    info(h, id, p);
    h.m("<h3>ICE per policy</h3>\n");
    if p.policies.is_empty() {
        h.m("<p class=\"muted\">No ICE policy was run.</p>\n");
    } else {
        policies(h, id, &p.policies);
    }
    h.m("<h3>Hole punch</h3>\n");
    match &p.holepunch {
        Section::Tested(hp) => holepunch(h, id, hp),
        Section::NotTested { reason } => {
            h.m("<p class=\"reason\">not tested: ")
                .t(reason)
                .m("</p>\n");
        }
        Section::Failed { reason } => {
            h.m("<p class=\"reason failed\">failed: ")
                .t(reason)
                .m("</p>\n");
        }
    }
    h.m("<h3>TCP simultaneous open</h3>\n");
    match &p.tcp {
        Section::Tested(tp) => tcp(h, id, tp),
        Section::NotTested { reason } => {
            h.m("<p class=\"reason\">not tested: ")
                .t(reason)
                .m("</p>\n");
        }
        Section::Failed { reason } => {
            h.m("<p class=\"reason failed\">failed: ")
                .t(reason)
                .m("</p>\n");
        }
    }
    h.m("<h3>Predicted and observed</h3>\n");
    prediction(h, id, p);
    if let Some(f) = &p.failure {
        h.m("<h3>The session failed</h3>\n<p class=\"err\" id=\"")
            .m(id)
            .m("-failure\" data-kind=\"")
            .t(&f.kind)
            .m("\"><strong>")
            .t(&f.kind)
            .m("</strong>: ")
            .t(&f.message)
            .m("</p>\n<p class=\"remedy\">What to do: ")
            .t(&f.remedy)
            .m("</p>\n");
    }
}

/// Who met where: the session, this side, the rendezvous, the other side.
fn info(h: &mut Html, id: &'static str, p: &PeerSection) {
    h.m("<div class=\"scroll\"><table class=\"kv\" id=\"")
        .m(id)
        .m("-info\"><tbody><tr><th>Session</th><td>");
    match &p.session {
        Some(s) => {
            h.m("<code>").t(s).m("</code>");
        }
        None => {
            h.m("<span class=\"muted\">none (the sides never met)</span>");
        }
    }
    h.m("</td></tr><tr><th>This side</th><td>")
        .m(p.role.as_str())
        .m("</td></tr><tr><th>Rendezvous</th><td><code>")
        .t(&p.rendezvous)
        .m("</code></td></tr><tr><th>The other side</th><td>");
    match &p.remote_version {
        Some(v) => {
            h.m("natscope ").t_short(v, VERSION_MAX);
        }
        None => {
            h.m("<span class=\"muted\">unknown</span>");
        }
    }
    h.m("</td></tr><tr><th>Took</th><td>")
        .t(&format::ms(p.duration_ms))
        .m("</td></tr></tbody></table></div>\n");
}

/// One row per policy: outcome, path, times, throughput, data channel.
fn policies(h: &mut Html, id: &'static str, list: &[PeerPolicyResult]) {
    h.m("<div class=\"scroll\"><table class=\"reflow\" id=\"")
        .m(id)
        .m("-policies\"><thead><tr><th>Policy</th><th>Outcome</th><th>Path</th><th>Measured</th><th>Data channel</th></tr></thead><tbody>\n");
    for r in list.iter().take(MAX_ROWS) {
        h.m("<tr data-policy=\"")
            .m(r.policy.as_str())
            .m("\"><th>")
            .m(r.policy.as_str())
            .m("</th><td>")
            .m(match r.outcome {
                PeerOutcome::Success => "<span class=\"badge pass\">✔ success</span>",
                PeerOutcome::Reversed => "<span class=\"badge pass\">✔ reversed</span>",
                PeerOutcome::Failed => "<span class=\"badge fail\">✘ failed</span>",
                PeerOutcome::NotTested => "<span class=\"badge nt\">– not tested</span>",
            });
        if r.outcome == PeerOutcome::Reversed {
            h.m("<br><span class=\"muted\">one side was reachable: no hole punch needed</span>");
        }
        let notes = fp::notes(r);
        if !notes.is_empty() {
            h.m(if r.outcome == PeerOutcome::Failed {
                "<br><span class=\"err\">"
            } else {
                "<br><span class=\"muted\">"
            })
            .t(&notes)
            .m("</span>");
        }
        h.m("</td><td>");
        match &r.path {
            Some(path) => {
                h.m("<strong>").t(path).m("</strong>");
            }
            None => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        let ice = r.ice.as_ref();
        h.m("</td><td>");
        measured(h, r);
        h.m("</td><td>");
        match ice.and_then(|i| i.data_channel.as_ref()) {
            None => {
                h.m("<span class=\"muted\">not tested</span>");
            }
            Some(dc) => {
                h.m(if dc.works {
                    "<span class=\"badge pass\">✔ open</span>"
                } else {
                    "<span class=\"badge fail\">✘ failed</span>"
                });
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
                if let Some(f) = &dc.failure {
                    h.m("<br><span class=\"err\">").t(f).m("</span>");
                }
            }
        }
        h.m("</td></tr>\n");
    }
    if list.len() > MAX_ROWS {
        h.m("<tr><td class=\"muted\">… and ")
            .int(list.len() - MAX_ROWS)
            .m(" more</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
}

/// Time to connected, RTT and throughput, one per line.
fn measured(h: &mut Html, r: &PeerPolicyResult) {
    let ice = r.ice.as_ref();
    let mut any = false;
    if let Some(t) = ice.and_then(|i| i.time_to_connected_ms) {
        h.m("<span class=\"line nowrap\">connected after ")
            .t(&format::ms(t))
            .m("</span>");
        any = true;
    }
    if let Some(t) = ice.and_then(|i| i.rtt_ms) {
        h.m("<span class=\"line nowrap\">RTT ")
            .t(&format::ms(t))
            .m("</span>");
        any = true;
    }
    if let Some(k) = r.throughput_kbps {
        h.m("<span class=\"line nowrap\">")
            .t(&fp::throughput(Some(k)))
            .m(" throughput</span>");
        any = true;
    }
    if !any {
        h.m("<span class=\"muted\">—</span>");
    }
}

/// Reachability each side, the attempts, first-attempt success.
fn holepunch(h: &mut Html, id: &'static str, hp: &HolePunch) {
    h.m("<div class=\"scroll\"><table class=\"kv\" id=\"")
        .m(id)
        .m("-holepunch\"><tbody><tr><th>Result</th><td>")
        .m(if hp.success {
            "<span class=\"badge pass\">✔ got through</span>"
        } else {
            "<span class=\"badge fail\">✘ did not get through</span>"
        })
        .m(" in ")
        .int(hp.attempts.len())
        .m(" of at most ")
        .int(HolePunch::MAX_ATTEMPTS)
        .m(" attempts</td></tr><tr><th>First-attempt success</th><td>")
        .m(if hp.first_attempt_success {
            "yes"
        } else {
            "no"
        })
        .m("</td></tr><tr><th>This side reachable unsolicited</th><td>")
        .m(if hp.local_reachable { "yes" } else { "no" })
        .m("</td></tr><tr><th>The other side reachable unsolicited</th><td>")
        .m(if hp.remote_reachable { "yes" } else { "no" })
        .m("</td></tr><tr><th>Public addresses</th><td>this side <code class=\"addr\">");
    super::opt(h, hp.local_public);
    h.m("</code>, the other side <code class=\"addr\">");
    super::opt(h, hp.remote_public);
    h.m("</code>");
    if let Some(from) = hp.remote_seen_from {
        h.m("<br><span class=\"muted\">the other side's packets came from <code class=\"addr\">")
            .d(from)
            .m("</code> (its NAT mapped a new port towards this side)</span>");
    }
    h.m("</td></tr></tbody></table></div>\n");
    if hp.attempts.is_empty() {
        h.m("<p class=\"muted\">No attempt was made.</p>\n");
        return;
    }
    h.m("<div class=\"scroll\"><table id=\"")
        .m(id)
        .m("-attempts\"><thead><tr><th>Attempt</th><th>Result</th><th>Got through</th><th>First packet in / out</th><th>Sent / received</th></tr></thead><tbody>\n");
    for a in hp.attempts.iter().take(MAX_ROWS) {
        h.m("<tr><td class=\"num\">")
            .int(a.attempt)
            .m("</td><td>")
            .m(if a.success {
                "<span class=\"badge pass\">✔ success</span>"
            } else {
                "<span class=\"badge fail\">✘ failed</span>"
            })
            .m("</td><td data-direction=\"")
            .m(a.got_through.as_str())
            .m("\">")
            .m(fp::direction(a.got_through));
        if a.got_through == PunchDirection::Neither {
            h.m(" <span class=\"muted\">(blocked both ways)</span>");
        }
        h.m("</td><td class=\"num\"><span class=\"line\">in ");
        opt_ms(h, a.first_in_ms);
        h.m("</span><span class=\"line\">out ");
        opt_ms(h, a.first_out_ms);
        h.m("</span></td><td class=\"num\">")
            .int(a.sent)
            .m(" / ")
            .int(a.received)
            .m("</td></tr>\n");
    }
    if hp.attempts.len() > MAX_ROWS {
        h.m("<tr><td class=\"muted\">… and ")
            .int(hp.attempts.len() - MAX_ROWS)
            .m(" more</td></tr>\n");
    }
    h.m("</tbody></table></div>\n<p class=\"muted\">First packet in: from this side's first packet to the other side's first one received here; out: the other side's figure.</p>\n");
}

/// The TCP result, the public addresses, the connection, the attempts.
fn tcp(h: &mut Html, id: &'static str, tp: &TcpPunch) {
    h.m("<div class=\"scroll\"><table class=\"kv\" id=\"")
        .m(id)
        .m("-tcp\"><tbody><tr><th>Result</th><td>")
        .m(if tp.success {
            "<span class=\"badge pass\">✔ connected</span>"
        } else {
            "<span class=\"badge fail\">✘ did not connect</span>"
        })
        .m(" in ")
        .int(tp.attempts.len())
        .m(" of at most ")
        .int(TcpPunch::MAX_ATTEMPTS)
        .m(" attempts</td></tr><tr><th>First-attempt success</th><td>")
        .m(if tp.first_attempt_success {
            "yes"
        } else {
            "no"
        })
        .m("</td></tr><tr><th>Public addresses</th><td>this side <code class=\"addr\">");
    super::opt(h, tp.local_public);
    h.m("</code>, the other side <code class=\"addr\">");
    super::opt(h, tp.remote_public);
    h.m("</code></td></tr>");
    if let (Some(l), Some(r)) = (tp.local_addr, tp.remote_addr) {
        h.m("<tr><th>Connection</th><td><code class=\"addr\">")
            .d(l)
            .m("</code> to <code class=\"addr\">")
            .d(r)
            .m("</code></td></tr>");
    }
    h.m("</tbody></table></div>\n");
    if tp.attempts.is_empty() {
        h.m("<p class=\"muted\">No attempt was made.</p>\n");
        return;
    }
    h.m("<div class=\"scroll\"><table id=\"")
        .m(id)
        .m("-tcp-attempts\"><thead><tr><th>Attempt</th><th>Result</th><th>How</th><th>Connected after</th><th>Tries / refused</th></tr></thead><tbody>\n");
    for a in tp.attempts.iter().take(MAX_ROWS) {
        h.m("<tr><td class=\"num\">")
            .int(a.attempt)
            .m("</td><td>")
            .m(if a.connected {
                "<span class=\"badge pass\">✔ connected</span>"
            } else {
                "<span class=\"badge fail\">✘ failed</span>"
            })
            .m("</td><td>");
        match a.open {
            Some(o) => {
                h.m(fp::tcp_open(o));
            }
            None => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        h.m("</td><td class=\"num\">");
        opt_ms(h, a.time_to_connect_ms);
        h.m("</td><td class=\"num\">")
            .int(a.tries)
            .m(" / ")
            .int(a.refused)
            .m("</td></tr>\n");
    }
    if tp.attempts.len() > MAX_ROWS {
        h.m("<tr><td class=\"muted\">… and ")
            .int(tp.attempts.len() - MAX_ROWS)
            .m(" more</td></tr>\n");
    }
    h.m("</tbody></table></div>\n<p class=\"muted\">Tries: connection requests this side sent; refused: answered at once by a reset (the other side's NAT or host had no connection for it yet).</p>\n");
}

/// Both NAT verdicts, what they predicted, what happened, whether it held.
fn prediction(h: &mut Html, id: &'static str, p: &PeerSection) {
    h.m("<div class=\"scroll\"><table class=\"kv\" id=\"")
        .m(id)
        .m("-prediction\"><tbody><tr><th>This side's NAT</th><td>");
    match &p.local_nat {
        Some(v) => {
            super::nat::plain_sentence(h, v);
        }
        None => {
            h.m("<span class=\"muted\">unknown</span>");
        }
    }
    h.m("</td></tr><tr><th>The other side's NAT</th><td>");
    match &p.remote_nat {
        Some(v) => {
            super::nat::plain_sentence(h, v);
        }
        None => {
            h.m("<span class=\"muted\">unknown</span>");
        }
    }
    h.m("</td></tr><tr><th>Predicted</th><td>");
    match &p.predicted {
        Some(pr) => {
            h.m("<strong>")
                .m(fp::predicted(pr.outcome))
                .m("</strong><br><span class=\"muted\">")
                .t(&pr.reason)
                .m("</span>");
        }
        None => {
            h.m("<span class=\"muted\">nothing (a NAT verdict is missing)</span>");
        }
    }
    h.m("</td></tr><tr><th>Observed</th><td>")
        .m(fp::observed(p.observed));
    if p.observed == PeerObserved::Unknown {
        h.m(" <span class=\"badge nt\">unknown</span>");
    }
    h.m("</td></tr><tr><th>Prediction held</th><td>")
        .m(match p.prediction_held {
            Some(true) => "<span class=\"badge pass\">✔ yes</span>",
            Some(false) => "<span class=\"badge warn\">✘ no</span>",
            None => "<span class=\"badge nt\">– unknown</span>",
        })
        .m("</td></tr></tbody></table></div>\n");
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
