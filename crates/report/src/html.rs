//! The single-file HTML report: [`render`].
//!
//! One self-contained page: inline CSS, inline SVG diagrams, no JavaScript,
//! no external fetches (a `Content-Security-Policy` meta forbids them), usable
//! on a phone and printable. The full report is embedded as JSON in
//! `<script type="application/json" id="natscope-report">` for tools
//! (docs/html.md).
//!
//! Every string of the report is untrusted (it may come from the network or
//! from whoever wrote the JSON file). All output goes through the private
//! writer type, whose only way to write a runtime string is to escape it:
//! markup can only be a string literal of this crate.

mod audit;
mod browser;
mod ice;
mod interfaces;
mod load;
mod nat;
mod peer;
mod portmap;
mod stun;
mod turn;
mod writer;

use crate::merge::PeerPair;
use model::diagnosis::{SecurityLevel, Severity};
use model::document::Report;
use model::peer::PeerRole;
use model::section::Section;
use model::summary::CheckStatus;
use writer::Html;

/// The `id` of the `<script type="application/json">` element that holds the
/// report's JSON.
pub const JSON_ELEMENT_ID: &str = "natscope-report";

/// The page's Content-Security-Policy: nothing may be fetched or run; only
/// the inline stylesheet and `data:` images are allowed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const STYLE: &str = include_str!("html/style.css");

/// Render a report as one self-contained HTML page.
///
/// The verdict in plain words comes first, then the NAT type with a diagram
/// (IPv4, then IPv6 when the report has an IPv6 verdict),
/// the STUN servers with an RTT chart, TURN (with the audit and the load
/// test, when run), ICE, port mapping, a real
/// browser's view, a session with natscope on another machine (when run),
/// the interfaces, and the raw JSON (embedded so that [`Report::from_json`]
/// reads it back unchanged from the element with id [`JSON_ELEMENT_ID`]).
pub fn render(report: &Report) -> String {
    let mut h = Html::new();
    head(&mut h, &report.tool.version, |h| {
        h.m("natscope report: ")
            .t(&report.command)
            .m(" — ")
            .t(&report.generated_at);
    });

    header(&mut h, report);
    h.m("<main>\n");
    verdict(&mut h, report);
    nat::sections(&mut h, report);
    stun::section(&mut h, &report.stun);
    turn::section(&mut h, &report.turn);
    audit::section(&mut h, &report.audit);
    load::section(&mut h, &report.load);
    ice::section(&mut h, &report.ice);
    portmap::section(&mut h, &report.portmap);
    browser::section(&mut h, &report.browser);
    peer::section(&mut h, &report.peer);
    interfaces::section(&mut h, &report.interfaces);
    raw_json(&mut h, report);
    h.m("</main>\n<footer>Made by ")
        .t(&report.tool.name)
        .m(" ")
        .t(&report.tool.version)
        .m(". This page is self-contained: it loads nothing and runs no scripts.</footer>\n");

    h.m("<script type=\"application/json\" id=\"natscope-report\">")
        .json(&report.to_json_pretty())
        .m("</script>\n</body>\n</html>\n");
    h.finish()
}

/// Render the two sides of one `natscope peer` session as one page: the
/// session, then both sides next to each other (creator | joiner), each
/// with its report's verdict, its NAT verdict and its peer section; both
/// reports embedded as JSON (ids `natscope-report-creator` and
/// `natscope-report-joiner`).
pub fn render_pair(pair: &PeerPair<'_>) -> String {
    let mut h = Html::new();
    head(&mut h, &pair.creator.tool.version, |h| {
        h.m("natscope peer session: ").t(pair.session);
    });
    h.m("<header class=\"top\"><h1>natscope peer session</h1><p><span><code>")
        .t(pair.session)
        .m("</code></span> · <span>both sides</span></p></header>\n<main>\n");
    h.m("<section class=\"card\" id=\"peer\" data-status=\"tested\" data-merged=\"true\"><h2>Peer session <span class=\"badge pass\">both sides</span></h2>\n<p class=\"muted\">The reports of the two machines of one <code>natscope peer</code> session: each ran ICE, a data channel and a plain UDP hole punch towards the other, first with direct candidates only, then with the relay allowed. Each side measured from its own end.</p>\n<div class=\"pair\">\n");
    for (role, report, p) in pair.sides() {
        let (id, title) = match role {
            PeerRole::Creator => ("peer-creator", "Creator (opened the session)"),
            PeerRole::Joiner => ("peer-joiner", "Joiner (joined with the code)"),
        };
        h.m("<div class=\"side\" id=\"")
            .m(id)
            .m("\"><h3>")
            .m(title)
            .m("</h3>\n");
        h.m("<p class=\"muted\">")
            .t(&report.tool.name)
            .m(" ")
            .t(&report.tool.version)
            .m(" · ")
            .t(&report.generated_at)
            .m("</p>\n");
        if !report.diagnosis.verdict.is_empty() {
            h.m("<div class=\"headline nt\">")
                .t(&report.diagnosis.verdict)
                .m("</div>\n");
        }
        // The side's own NAT verdict: the one its peer run made, else the
        // report's NAT section.
        match p.local_nat.as_ref().or_else(|| report.nat.tested()) {
            Some(v) => {
                h.m("<p><strong>NAT:</strong> ");
                nat::plain_sentence(&mut h, v);
                h.m("</p>\n");
            }
            None => {
                h.m("<p><strong>NAT:</strong> <span class=\"muted\">no verdict</span></p>\n");
            }
        }
        peer::body(&mut h, id, p);
        h.m("</div>\n");
    }
    h.m("</div>\n</section>\n</main>\n<footer>Made by natscope from two reports. This page is self-contained: it loads nothing and runs no scripts.</footer>\n");
    h.m("<script type=\"application/json\" id=\"natscope-report-creator\">")
        .json(&pair.creator.to_json_pretty())
        .m("</script>\n<script type=\"application/json\" id=\"natscope-report-joiner\">")
        .json(&pair.joiner.to_json_pretty())
        .m("</script>\n</body>\n</html>\n");
    h.finish()
}

/// The document's head (strict CSP, the inline stylesheet) with `title`,
/// and the opening `<body>`.
fn head(h: &mut Html, version: &str, title: impl FnOnce(&mut Html)) {
    h.m("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        .m("<meta http-equiv=\"Content-Security-Policy\" content=\"")
        .t(CONTENT_SECURITY_POLICY)
        .m("\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
        .m("<meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"generator\" content=\"natscope ")
        .t(version)
        .m("\">\n<title>");
    title(h);
    h.m("</title>\n<style>\n")
        .m(STYLE)
        .m("</style>\n</head>\n<body>\n");
}

fn header(h: &mut Html, r: &Report) {
    h.m("<header class=\"top\"><h1>natscope report</h1><p><span>")
        .t(&r.command)
        .m("</span> · <span>")
        .t(&r.generated_at)
        .m("</span> · <span>")
        .t(&r.tool.name)
        .m(" ")
        .t(&r.tool.version)
        .m("</span></p></header>\n");
}

/// The verdict: the diagnosis' sentence, the root causes with what to do,
/// what works, the checks.
fn verdict(h: &mut Html, r: &Report) {
    let s = &r.summary;
    let d = &r.diagnosis;
    let count = |st: CheckStatus| s.checks.iter().filter(|c| c.status == st).count();
    let (failed, passed) = (count(CheckStatus::Fail), count(CheckStatus::Pass));
    let not_tested = s.checks.len() - failed - passed;

    h.m("<section class=\"card\" id=\"verdict\"><h2>Verdict <span class=\"tally\" id=\"verdict-tally\">");
    tally(h, s.checks.len(), failed, passed, not_tested);
    h.m("</span></h2>\n");
    let class = if failed > 0 {
        "bad"
    } else if passed > 0 {
        "ok"
    } else {
        "nt"
    };
    h.m("<div class=\"headline ")
        .m(class)
        .m("\" id=\"verdict-headline\">");
    if d.verdict.is_empty() {
        h.m("No diagnosis in this report");
    } else {
        h.t(&d.verdict);
    }
    h.m("</div>\n");

    if !d.findings.is_empty() {
        h.m("<h3>Why, and what to do</h3>\n<ol class=\"findings\" id=\"findings\">\n");
        for f in &d.findings {
            h.m("<li class=\"finding ")
                .m(f.severity.as_str())
                .m("\" data-id=\"")
                .t(f.id.as_str())
                .m("\"><span class=\"badge ")
                .m(match f.severity {
                    Severity::Critical => "fail",
                    Severity::Warning => "warn",
                    Severity::Info => "nt",
                })
                .m("\">")
                .m(f.severity.as_str())
                .m("</span> ");
            if let Some(level) = f.security {
                h.m("<span class=\"badge ")
                    .m(match level {
                        SecurityLevel::High => "fail",
                        SecurityLevel::Medium => "warn",
                        SecurityLevel::Low => "nt",
                    })
                    .m(" security\">security: ")
                    .m(level.as_str())
                    .m("</span> ");
            }
            h.m("<strong>")
                .t(&f.title)
                .m("</strong><div class=\"remedy\"><span>What to do: ")
                .t(&f.remedy)
                .m("</span>");
            if !f.explains.is_empty() || !f.evidence.is_empty() {
                h.m("<details><summary>Evidence");
                if !f.explains.is_empty() {
                    h.m(" · explains ");
                    for (i, c) in f.explains.iter().enumerate() {
                        if i > 0 {
                            h.m(", ");
                        }
                        h.m("<code>").t(c.as_str()).m("</code>");
                    }
                }
                h.m("</summary><ul>");
                for e in &f.evidence {
                    h.m("<li><code>")
                        .t(&e.path)
                        .m("</code>: ")
                        .t(&e.detail)
                        .m("</li>");
                }
                h.m("</ul></details>");
            }
            h.m("</div></li>\n");
        }
        h.m("</ol>\n");
    }
    h.m("<h3>Checks</h3>\n");
    if s.checks.is_empty() {
        h.m("<p class=\"muted\">No checks ran.</p>\n");
    } else {
        h.m("<div class=\"scroll\"><table class=\"checks\" id=\"checks\"><thead><tr><th>Check</th><th>Result</th><th>Why</th></tr></thead><tbody>\n");
        for c in &s.checks {
            // A long reason gets the whole width where the checks are in
            // two columns.
            h.m(if c.reason.chars().count() > 90 {
                "<tr class=\"long\"><td><code>"
            } else {
                "<tr><td><code>"
            })
            .t(c.id.as_str())
            .m("</code></td><td>");
            check_badge(h, c.status);
            h.m("</td><td>").t(&c.reason).m("</td></tr>\n");
        }
        h.m("</tbody></table></div>\n");
        if not_tested > 0 {
            h.m("<p class=\"muted\">Not tested is not the same as failed: those parts were skipped or not applicable.</p>\n");
        }
    }
    nat::verdict_lines(h, r);

    h.m("<div class=\"cols\">\n");
    list(
        h,
        "works",
        "What works",
        &s.works,
        "nothing confirmed working",
    );
    list(h, "problems", "Symptoms", &s.problems, "no problems found");
    // A report without a diagnosis (older than natscope/3, rendered as
    // is) still has its advice list.
    if d.findings.is_empty() && !s.advice.is_empty() {
        list(h, "advice", "What to do", &s.advice, "");
    }
    h.m("</div>\n");

    h.m("</section>\n");
}

/// The tally of checks: how many failed, or passed, or that nothing was
/// tested conclusively.
fn tally(h: &mut Html, total: usize, failed: usize, passed: usize, not_tested: usize) {
    if failed > 0 {
        h.m(CheckStatus::Fail.symbol())
            .m(" ")
            .int(failed)
            .m(" of ")
            .int(total)
            .m(" checks failed");
    } else if passed > 0 {
        h.m(CheckStatus::Pass.symbol())
            .m(" ")
            .int(passed)
            .m(if passed == 1 {
                " check that ran passed"
            } else {
                " checks that ran passed"
            });
        if not_tested > 0 {
            h.m(" <span class=\"muted\">(")
                .int(not_tested)
                .m(" not tested)</span>");
        }
    } else {
        h.m(CheckStatus::NotTested.symbol())
            .m(" Nothing was tested conclusively");
    }
}

fn list(
    h: &mut Html,
    class: &'static str,
    title: &'static str,
    items: &[String],
    empty: &'static str,
) {
    h.m("<div class=\"col\"><h3>").m(title).m("</h3>");
    if items.is_empty() {
        h.m("<p class=\"muted\">").m(empty).m("</p>");
    } else {
        h.m("<ul class=\"").m(class).m("\">");
        for item in items {
            h.m("<li>").t(item).m("</li>");
        }
        h.m("</ul>");
    }
    h.m("</div>\n");
}

/// A pass / fail / not-tested badge.
pub(crate) fn check_badge(h: &mut Html, status: CheckStatus) {
    h.m(match status {
        CheckStatus::Pass => "<span class=\"badge pass\">✔ passed</span>",
        CheckStatus::Fail => "<span class=\"badge fail\">✘ failed</span>",
        CheckStatus::NotTested => "<span class=\"badge nt\">– not tested</span>",
    });
}

/// Opens `<section id=...>` with its heading and status badge. When the
/// section was tested, its content goes into a `<details>` element, closed
/// by default: the heading, the badge and a one-line `gist` form the
/// `<summary>`; the caller writes the content and ends with
/// [`close_section`]. Otherwise the section writes "not tested: reason" (or
/// "failed: reason"), is closed here and `None` is returned.
pub(crate) fn open_section<'a, T>(
    h: &mut Html,
    id: &'static str,
    title: &'static str,
    section: &'a Section<T>,
    gist: impl FnOnce(&mut Html, &T),
) -> Option<&'a T> {
    h.m("<section class=\"card\" id=\"")
        .m(id)
        .m("\" data-status=\"")
        .m(section.status_str())
        .m("\">");
    match section {
        Section::Tested(content) => {
            h.m("<details class=\"fold\"><summary><h2>")
                .m(title)
                .m(" <span class=\"badge pass\">tested</span></h2><span class=\"gist\">");
            gist(h, content);
            h.m("</span></summary>\n<div class=\"fold-body\">\n");
            Some(content)
        }
        Section::NotTested { reason } => {
            h.m("<h2>")
                .m(title)
                .m(" <span class=\"badge nt\">not tested</span></h2>\n<p class=\"reason\">not tested: ")
                .t(reason)
                .m("</p>\n</section>\n");
            None
        }
        Section::Failed { reason } => {
            h.m("<h2>")
                .m(title)
                .m(" <span class=\"badge fail\">failed</span></h2>\n<p class=\"reason failed\">failed: ")
                .t(reason)
                .m("</p>\n</section>\n");
            None
        }
    }
}

/// Whether the command never ran this section (reason
/// [`model::document::NOT_RUN`]): sections that only some commands write
/// (the TURN audit and load test) then print nothing at all.
pub(crate) fn not_run<T>(section: &Section<T>) -> bool {
    matches!(section, Section::NotTested { reason } if reason == model::document::NOT_RUN)
}

/// Closes a section opened by [`open_section`] that was tested.
pub(crate) fn close_section(h: &mut Html) {
    h.m("</div></details></section>\n");
}

/// "yes" / "no" / "unknown".
pub(crate) fn yes_no(h: &mut Html, v: Option<bool>, unknown: &'static str) {
    h.m(match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => unknown,
    });
}

/// An optional `Display` value, or a muted dash.
pub(crate) fn opt<D: std::fmt::Display>(h: &mut Html, v: Option<D>) {
    match v {
        Some(v) => {
            h.d(v);
        }
        None => {
            h.m("<span class=\"muted\">—</span>");
        }
    }
}

fn raw_json(h: &mut Html, r: &Report) {
    h.m("<section class=\"card\" id=\"raw-json\"><details class=\"fold\"><summary><h2>Raw data</h2><span class=\"gist\">the options of the run; the report as JSON for tools</span></summary>\n<div class=\"fold-body\">\n<p>The complete report (schema <code>")
        .t(&r.schema)
        .m("</code>) is embedded in this file as JSON, in the element <code>&lt;script type=\"application/json\" id=\"natscope-report\"&gt;</code>. ")
        .m("Tools can read it from there; the format is described in natscope's <code>docs/json.md</code>.</p>\n");
    h.m("<h3>Options of the run</h3><div class=\"scroll\"><table class=\"kv\"><tbody>");
    h.m("<tr><th>Servers</th><td>");
    if r.options.servers.is_empty() {
        h.m("<span class=\"muted\">defaults</span>");
    }
    for (i, s) in r.options.servers.iter().enumerate() {
        if i > 0 {
            h.m("<br>");
        }
        h.m("<code>").t(s).m("</code>");
    }
    h.m("</td></tr><tr><th>Timeout</th><td>");
    match r.options.timeout_ms {
        Some(ms) => {
            h.int(ms).m(" ms");
        }
        None => {
            h.m("default");
        }
    }
    h.m("</td></tr><tr><th>Bind address</th><td>");
    match &r.options.bind {
        Some(b) => {
            h.m("<code>").t(b).m("</code>");
        }
        None => {
            h.m("any");
        }
    }
    h.m("</td></tr><tr><th>Address families</th><td>");
    match (r.options.ipv4, r.options.ipv6) {
        (true, true) => h.m("IPv4 and IPv6"),
        (true, false) => h.m("IPv4 only"),
        (false, true) => h.m("IPv6 only"),
        (false, false) => h.m("none"),
    };
    h.m("</td></tr></tbody></table></div>\n");
    close_section(h);
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn fixture(name: &str) -> Report {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/reports")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        crate::from_json(&text).expect("fixture is a valid report")
    }

    #[test]
    fn detail_sections_are_closed_details_and_the_verdict_is_not() {
        for name in ["full.json", "synthetic.json", "not-tested.json"] {
            let html = render(&fixture(name));
            assert!(
                !html.contains("<details open"),
                "{name}: a <details> is open"
            );
            let verdict = &html[html.find("id=\"verdict\"").expect("verdict")..];
            let verdict = &verdict[..verdict.find("</section>").expect("verdict closed")];
            assert!(
                !verdict.contains("<details class=\"fold\""),
                "{name}: the verdict is not folded"
            );
            for id in [
                "nat",
                "stun",
                "turn",
                "ice",
                "portmap",
                "browser",
                "interfaces",
                "raw-json",
            ] {
                let at = html
                    .find(&format!("id=\"{id}\""))
                    .unwrap_or_else(|| panic!("{name}: section {id}"));
                let open = &html[at..at + 200];
                let tested = open.contains("data-status=\"tested\"") || id == "raw-json";
                assert_eq!(
                    open.contains("<details class=\"fold\"><summary><h2>"),
                    tested,
                    "{name}: {id} folded exactly when it has details: {open}"
                );
            }
            assert_eq!(
                html.matches("<details").count(),
                html.matches("</details>").count(),
                "{name}: every <details> closed"
            );
            assert_eq!(
                html.matches("<section").count(),
                html.matches("</section>").count(),
                "{name}: every <section> closed"
            );
        }
    }
}
