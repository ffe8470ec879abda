//! Terminal rendering of a [`Report`] with comfy-table.
//!
//! Layout: a header line, the verdict (the diagnosis' sentence, then each
//! root cause with what to do, what works, the checks), then one block per
//! section. Every string from the
//! report goes through [`sanitize::terminal`] (reports may be read back from
//! files, so nothing in them is trusted). Colour is used only when
//! [`TableOptions::color`] is set; the renderer never looks at the terminal
//! itself.

use crate::merge::PeerPair;
use crate::{Report, format, sanitize};
use comfy_table::{Cell, Color, ColumnConstraint, ContentArrangement, Table, presets};
use model::audit::{AttemptOutcome, AuditSection, AuditServer};
use model::browser::{BrowserOutcome, BrowserSection};
use model::diagnosis::Severity;
use model::ice::IceSection;
use model::interfaces::Interfaces;
use model::load::{LoadEnd, LoadSection};
use model::peer::{PeerOutcome, PeerRole, PeerSection};
use model::portmap::{CheckStatus as PmCheck, PortmapSection, PortmapStatus};
use model::section::Section;
use model::stun::{FamilyAgreement, Outcome, StunSection, Transport};
use model::summary::CheckStatus;
use model::turn::TurnSection;
use natclass::NatVerdict;
use serde_json::Value;
use std::fmt::Write as _;

/// How to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableOptions {
    /// Use ANSI colours and bold (the CLI sets this from TTY + `NO_COLOR`).
    pub color: bool,
    /// Fit every line into this many columns: text wraps between words
    /// (inside its cell in a table), and a table too wide even then drops
    /// its least important columns (the JSON keeps everything). `None`: no
    /// limit (a file, or a pipe with no terminal to measure).
    pub width: Option<u16>,
}

/// Narrowest width honoured: below it every line would be a word.
const MIN_WIDTH: u16 = 40;

/// Longest SOFTWARE text shown in the STUN table (the JSON has it all).
const SOFTWARE_MAX: usize = 48;

/// Render a report for a terminal.
pub fn render(report: &Report, opts: TableOptions) -> String {
    let r = Renderer { opts };
    let mut out = String::new();
    let first = format!("{} ", r.bold(&clean(&report.tool.name)));
    let rest = format!(
        "{} · {} · {}",
        clean(&report.tool.version),
        clean(&report.command),
        clean(&report.generated_at)
    );
    r.para(&mut out, &first, "  ", &rest);
    out.push('\n');
    r.summary(report, &mut out);
    r.section(&mut out, "Interfaces", &report.interfaces, |o, c| {
        r.interfaces(c, o)
    });
    r.section(&mut out, "STUN servers", &report.stun, |o, c| r.stun(c, o));
    // With an IPv6 verdict beside it, the NAT section says it is the IPv4
    // one; without, it keeps its old title.
    let ipv6 = report.nat_ipv6.tested().is_some();
    let nat_title = if ipv6 { "NAT (IPv4)" } else { "NAT" };
    r.section(&mut out, nat_title, &report.nat, |o, c| r.nat(c, o));
    r.section(&mut out, "NAT (IPv6)", &report.nat_ipv6, |o, c| r.nat(c, o));
    r.section(&mut out, "TURN", &report.turn, |o, c| r.turn(c, o));
    r.section(&mut out, "TURN audit", &report.audit, |o, c| r.audit(c, o));
    r.section(&mut out, "TURN load", &report.load, |o, c| r.load(c, o));
    r.section(&mut out, "ICE", &report.ice, |o, c| r.ice(c, o));
    r.section(&mut out, "Port mapping", &report.portmap, |o, c| {
        r.portmap(c, o)
    });
    r.section(&mut out, "Browser", &report.browser, |o, c| r.browser(c, o));
    r.section(&mut out, "Peer", &report.peer, |o, c| r.peer(c, o));
    out
}

/// Render the two sides of one `natscope peer` session for a terminal:
/// the session, then each side's peer section (creator first) with its
/// NAT verdict.
pub fn render_pair(pair: &PeerPair<'_>, opts: TableOptions) -> String {
    let r = Renderer { opts };
    let mut out = String::new();
    let first = format!("{} ", r.bold("natscope peer session"));
    r.para(&mut out, &first, "  ", &clean(pair.session));
    out.push('\n');
    for (role, report, peer) in pair.sides() {
        let title = match role {
            PeerRole::Creator => "Creator",
            PeerRole::Joiner => "Joiner",
        };
        r.heading(&mut out, title);
        let rest = format!(
            "{} {} · {}",
            clean(&report.tool.name),
            clean(&report.tool.version),
            clean(&report.generated_at)
        );
        r.para(&mut out, "report: ", "  ", &rest);
        if !report.diagnosis.verdict.is_empty() {
            r.para(
                &mut out,
                "verdict: ",
                "  ",
                &clean(&report.diagnosis.verdict),
            );
        }
        out.push('\n');
        r.peer(peer, &mut out);
    }
    out
}

fn clean(s: &str) -> String {
    sanitize::terminal(s)
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

fn or_dash<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// `port-restricted-cone` → `port restricted cone`.
fn words(kebab: &str) -> String {
    clean(&kebab.replace('-', " "))
}

/// A JSON enum value (string) in words, or `-`.
fn value_words(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => words(s),
        Some(Value::Bool(b)) => yes_no(Some(*b)).to_owned(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => clean(&other.to_string()),
    }
}

struct Renderer {
    opts: TableOptions,
}

impl Renderer {
    fn table(&self) -> Table {
        let mut t = Table::new();
        t.load_style(presets::UTF8_FULL_CONDENSED);
        // Never consult the real terminal: the caller decided colour/width.
        t.force_no_tty();
        if self.opts.color {
            t.enforce_styling();
        }
        if let Some(w) = self.width() {
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(w);
        }
        t
    }

    fn width(&self) -> Option<u16> {
        self.opts.width.map(|w| w.max(MIN_WIDTH))
    }

    /// Writes `text` as a paragraph: the first line starts with `first`
    /// (which may hold colour codes), the others with `rest`; wrapped
    /// between words to the width (a word longer than a line is split).
    fn para(&self, out: &mut String, first: &str, rest: &str, text: &str) {
        match self.width() {
            None => {
                let _ = writeln!(out, "{first}{text}");
            }
            Some(w) => {
                let opts = textwrap::Options::new(usize::from(w))
                    .initial_indent(first)
                    .subsequent_indent(rest)
                    .break_words(true);
                for line in textwrap::wrap(text, opts) {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
    }

    /// Writes a table that fits the width: comfy-table wraps each cell;
    /// while a line is still too wide, the next column of `drop_order`
    /// (least important first) is hidden.
    fn push_fitted(&self, out: &mut String, t: &mut Table, drop_order: &[usize]) {
        if let Some(w) = self.width() {
            let too_wide = |t: &Table| {
                t.lines()
                    .any(|l| textwrap::core::display_width(&l) > usize::from(w))
            };
            for &col in drop_order {
                if !too_wide(t) {
                    break;
                }
                if let Some(c) = t.column_mut(col) {
                    c.set_constraint(ColumnConstraint::Hidden);
                }
            }
        }
        self.push_table(out, t);
    }

    fn paint(&self, text: &str, sgr: &str) -> String {
        if self.opts.color {
            format!("\u{1b}[{sgr}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }

    fn bold(&self, text: &str) -> String {
        self.paint(text, "1")
    }

    fn heading(&self, out: &mut String, title: &str) {
        let _ = writeln!(out, "{}", self.bold(title));
    }

    fn cell(&self, text: &str, color: Option<Color>) -> Cell {
        let cell = Cell::new(clean(text));
        match color {
            Some(c) if self.opts.color => cell.fg(c),
            _ => cell,
        }
    }

    fn push_table(&self, out: &mut String, t: &Table) {
        out.push_str(&t.to_string());
        out.push_str("\n\n");
    }

    /// A section's block. A section the command never runs (reason
    /// [`model::document::NOT_RUN`]) prints nothing: each command shows only
    /// its own sections.
    fn section<T>(
        &self,
        out: &mut String,
        title: &str,
        section: &Section<T>,
        body: impl FnOnce(&mut String, &T),
    ) {
        match section {
            Section::NotTested { reason } if reason == model::document::NOT_RUN => {}
            Section::Tested(content) => {
                self.heading(out, title);
                body(out, content);
            }
            Section::NotTested { reason } => {
                let head = format!("{}: {} ", self.bold(title), self.paint("not tested", "33"));
                self.para(out, &head, "  ", &format!("({})", clean(reason)));
                out.push('\n');
            }
            Section::Failed { reason } => {
                let head = format!("{}: {} ", self.bold(title), self.paint("failed", "31"));
                self.para(out, &head, "  ", &format!("({})", clean(reason)));
                out.push('\n');
            }
        }
    }

    /// The verdict sentence, the root causes with what to do, the checks,
    /// then what works.
    fn summary(&self, report: &Report, out: &mut String) {
        let d = &report.diagnosis;
        let s = &report.summary;
        self.heading(out, "Verdict");
        if !d.verdict.is_empty() {
            self.para(out, "  ", "  ", &clean(&d.verdict));
        }
        let counts = |st: CheckStatus| s.checks.iter().filter(|c| c.status == st).count();
        let (failed, passed) = (counts(CheckStatus::Fail), counts(CheckStatus::Pass));
        let tally = if failed > 0 {
            self.paint(
                &format!(
                    "{} {failed} of {} checks failed",
                    CheckStatus::Fail.symbol(),
                    s.checks.len()
                ),
                "31",
            )
        } else if passed > 0 {
            self.paint(
                &format!(
                    "{} {passed} of {} checks passed",
                    CheckStatus::Pass.symbol(),
                    s.checks.len()
                ),
                "32",
            )
        } else {
            format!(
                "{} nothing was tested conclusively",
                CheckStatus::NotTested.symbol()
            )
        };
        let _ = writeln!(out, "  {tally}\n");
        if !d.findings.is_empty() {
            self.heading(out, "Why, and what to do");
            for f in &d.findings {
                let (mark, sgr) = match f.severity {
                    Severity::Critical => ("✘", "31"),
                    Severity::Warning => ("!", "33"),
                    Severity::Info => ("i", "36"),
                };
                let first = format!("  {} ", self.paint(mark, sgr));
                let title = match f.security {
                    Some(level) => format!("[{}] {}", level.as_str(), clean(&f.title)),
                    None => clean(&f.title),
                };
                self.para(out, &first, "    ", &title);
                let first = format!("    {} ", self.paint("→", "36"));
                self.para(out, &first, "      ", &clean(&f.remedy));
                if !f.explains.is_empty() {
                    let ids: Vec<&str> = f.explains.iter().map(|c| c.as_str()).collect();
                    self.para(out, "    explains: ", "      ", &clean(&ids.join(", ")));
                }
            }
            out.push('\n');
        }
        // A report without a diagnosis (written before natscope/3 had one)
        // still has its symptom and advice lists: show them instead.
        if d.findings.is_empty() {
            for (title, lines, mark, sgr) in [
                ("Problems", &s.problems, CheckStatus::Fail.symbol(), "31"),
                ("What to do", &s.advice, "→", "36"),
            ] {
                if lines.is_empty() {
                    continue;
                }
                self.heading(out, title);
                for line in lines {
                    let first = format!("  {} ", self.paint(mark, sgr));
                    self.para(out, &first, "    ", &clean(line));
                }
                out.push('\n');
            }
        }
        if !s.checks.is_empty() {
            let mut t = self.table();
            t.set_header(vec!["check", "result", "why"]);
            for c in &s.checks {
                let color = match c.status {
                    CheckStatus::Pass => Color::Green,
                    CheckStatus::Fail => Color::Red,
                    CheckStatus::NotTested => Color::Yellow,
                };
                t.add_row(vec![
                    self.cell(c.id.as_str(), None),
                    self.cell(
                        &format!("{} {}", c.status.symbol(), c.status.word()),
                        Some(color),
                    ),
                    self.cell(&c.reason, None),
                ]);
            }
            self.push_fitted(out, &mut t, &[]);
        }
        // What works is detail: after the checks, so that the first screen
        // is the verdict, what to do and the checks.
        if !s.works.is_empty() {
            self.heading(out, "What works");
            for line in &s.works {
                let first = format!("  {} ", self.paint(CheckStatus::Pass.symbol(), "32"));
                self.para(out, &first, "    ", &clean(line));
            }
            out.push('\n');
        }
    }

    fn interfaces(&self, ifs: &Interfaces, out: &mut String) {
        if ifs.interfaces.is_empty() {
            let _ = writeln!(out, "  (no interfaces)");
        } else {
            let mut t = self.table();
            t.set_header(vec![
                "name",
                "kind",
                "up",
                "MTU",
                "addresses",
                "gateway",
                "note",
            ]);
            for i in &ifs.interfaces {
                let addrs: Vec<String> = i
                    .addresses
                    .iter()
                    .map(|a| {
                        let s = a.scope;
                        let flags: Vec<&str> = [
                            (s.loopback, "loopback"),
                            (s.link_local, "link-local"),
                            (s.private, "private"),
                            (s.cgnat, "CGNAT"),
                            (s.ula, "ULA"),
                            (s.documentation, "documentation"),
                            (s.global, "global"),
                        ]
                        .into_iter()
                        .filter_map(|(on, name)| on.then_some(name))
                        .collect();
                        format!("{}/{} {}", a.ip, a.prefix, flags.join(","))
                    })
                    .collect();
                let kind = serde_json::to_value(i.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                t.add_row(vec![
                    self.cell(&i.name, None),
                    self.cell(&kind, None),
                    self.cell(if i.up { "up" } else { "down" }, None),
                    self.cell(&or_dash(i.mtu), None),
                    Cell::new(clean(&addrs.join("\n"))),
                    self.cell(&or_dash(i.gateway), None),
                    self.cell(i.vpn_hint.as_deref().unwrap_or(""), None),
                ]);
            }
            self.push_fitted(out, &mut t, &[6, 1, 3, 2, 5]);
            out.pop();
        }
        match &ifs.default_gateway {
            Some(g) => {
                let via: Vec<String> = g.addresses.iter().map(|a| a.to_string()).collect();
                let text = format!(
                    "{} via {}",
                    clean(&g.interface),
                    if via.is_empty() {
                        "-".to_owned()
                    } else {
                        via.join(", ")
                    }
                );
                self.para(out, "default route: ", "  ", &text);
            }
            None => {
                let _ = writeln!(out, "default route: none");
            }
        }
        out.push('\n');
    }

    fn stun(&self, stun: &StunSection, out: &mut String) {
        if stun.servers.is_empty() {
            let _ = writeln!(out, "  (no servers)\n");
        } else {
            let mut t = self.table();
            t.set_header(vec![
                "server",
                "transport",
                "result",
                "mapped (public)",
                "RTT",
                "RFC 5780",
                "software",
                "error",
            ]);
            for s in &stun.servers {
                let (outcome, color) = match s.outcome {
                    Outcome::Ok => ("ok", Color::Green),
                    Outcome::Timeout => ("timeout", Color::Red),
                    Outcome::Refused => ("port closed", Color::Red),
                    Outcome::Error => ("error", Color::Red),
                    Outcome::Unresolved => ("unresolved", Color::Red),
                };
                // What a silent server cost: how long it was waited for.
                let outcome = match (s.outcome, s.waited_ms) {
                    (Outcome::Timeout, Some(ms)) if ms.is_finite() && ms >= 0.0 => {
                        format!("{outcome} after {}", format::secs(ms))
                    }
                    _ => outcome.to_owned(),
                };
                let transport = match s.transport {
                    Transport::Udp => "UDP",
                    Transport::Tcp => "TCP",
                };
                let rtt = s
                    .rtt_ms
                    .filter(|v| v.is_finite())
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.1} ms"));
                let rfc5780 = match (s.rfc5780, s.rfc3489) {
                    (Some(true), _) => "yes",
                    (_, Some(true)) => "no: RFC 3489 (CHANGED-ADDRESS)",
                    (Some(false), _) => "no",
                    (None, _) => "-",
                };
                t.add_row(vec![
                    self.cell(&s.label, None),
                    self.cell(transport, None),
                    self.cell(&outcome, Some(color)),
                    self.cell(&or_dash(s.mapped), None),
                    self.cell(&rtt, None),
                    self.cell(rfc5780, None),
                    Cell::new(sanitize::terminal_short(
                        s.software.as_deref().unwrap_or(""),
                        SOFTWARE_MAX,
                    )),
                    self.cell(s.error.as_deref().unwrap_or(""), None),
                ]);
            }
            self.push_fitted(out, &mut t, &[6, 5, 4, 1]);
        }

        self.heading(out, "Mapping agreement");
        let mut t = self.table();
        t.set_header(vec![
            "family",
            "answered",
            "same IP",
            "same port",
            "public IPs",
        ]);
        let rows: [(&str, &FamilyAgreement); 2] = [
            ("IPv4", &stun.agreement.ipv4),
            ("IPv6", &stun.agreement.ipv6),
        ];
        for (family, a) in rows {
            let same = |v: Option<bool>| match v {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            let ips: Vec<String> = a.public_ips.iter().map(|ip| ip.to_string()).collect();
            t.add_row(vec![
                self.cell(family, None),
                self.cell(&a.answered.to_string(), None),
                self.cell(same(a.same_ip), None),
                self.cell(same(a.same_port), None),
                self.cell(&ips.join(", "), None),
            ]);
        }
        self.push_fitted(out, &mut t, &[]);
        let c = stun.counters;
        if c.malformed > 0 || c.unmatched > 0 {
            let text = format!("{} malformed, {} unmatched", c.malformed, c.unmatched);
            self.para(out, "ignored packets: ", "  ", &text);
            out.push('\n');
        }
    }

    fn nat(&self, v: &NatVerdict, out: &mut String) {
        // Fields natclass may add later are read through their JSON form, so
        // this renderer keeps compiling (and shows them) as the verdict grows.
        let json = serde_json::to_value(v).unwrap_or(Value::Null);
        let field = |name: &str| json.get(name);
        let mut t = self.table();
        let mut row = |k: &str, val: String| {
            t.add_row(vec![self.cell(k, None), self.cell(&val, None)]);
        };
        if let Some(Value::String(s)) = field("summary")
            && !s.is_empty()
        {
            row("in short", s.clone());
        }
        if let Some(v) = field("rfc3489") {
            row("NAT type (RFC 3489)", value_words(Some(v)));
        }
        // Verdicts of per-family reports always say what translates the
        // address (or that it is unknown); older ones never did.
        if v.translation.is_some() || v.family.is_some() {
            row("translation", format::translation(v.translation).to_owned());
        }
        row("mapping", value_words(field("mapping")));
        row("filtering", value_words(field("filtering")));
        row("behind NAT", yes_no(v.behind_nat).to_owned());
        row("UDP", value_words(field("udp")));
        row("hairpinning", yes_no(v.hairpinning).to_owned());
        row("public address", or_dash(v.public));
        row("double NAT", yes_no(v.double_nat).to_owned());
        if let Some(c) = field("cgnat") {
            let text = match c {
                Value::Null => "unknown".to_owned(),
                other => value_words(Some(other)),
            };
            row("carrier-grade NAT", text);
        }
        if let Some(p) = field("p2p") {
            row("peer-to-peer", value_words(Some(p)));
        }
        if let Some(Value::Object(pa)) = field("port_allocation") {
            let kind = pa.get("pattern").and_then(|p| p.get("kind"));
            row("port allocation", value_words(kind));
        }
        if let Some(Value::Object(ml)) = field("mapping_lifetime") {
            let ms = |k: &str| ml.get(k).and_then(Value::as_u64);
            let text = match (ms("lower_ms"), ms("upper_ms")) {
                (Some(lo), Some(hi)) => format!("between {lo} and {hi} ms"),
                (Some(lo), None) => format!("more than {lo} ms"),
                (None, Some(hi)) => format!("less than {hi} ms"),
                (None, None) => "unknown".to_owned(),
            };
            row("mapping lifetime", text);
        }
        row("confidence", value_words(field("confidence")));
        self.push_fitted(out, &mut t, &[]);

        if let Some(Value::Array(ds)) = field("disagreements")
            && !ds.is_empty()
        {
            let _ = writeln!(out, "disagreements:");
            for d in ds {
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("");
                let text = format!("{}: {}", clean(s("aspect")), clean(s("detail")));
                self.para(out, "  - ", "    ", &text);
            }
        }
        if !v.evidence.is_empty() {
            let _ = writeln!(out, "evidence:");
            for e in &v.evidence {
                let text = format!("{}: {}", clean(&e.test), clean(&e.detail));
                self.para(out, "  - ", "    ", &text);
            }
        }
        out.push('\n');
    }

    /// One row per TURN server URI and transport.
    fn turn(&self, t: &TurnSection, out: &mut String) {
        let mut table = self.table();
        table.set_header(vec![
            "server",
            "transport",
            "result",
            "failed at",
            "relayed",
            "total",
        ]);
        for r in &t.results {
            let (text, color) = if r.ok {
                ("works", Color::Green)
            } else {
                ("fails", Color::Red)
            };
            let failed = match (r.failed_stage, &r.failure) {
                (None, None) => "-".to_owned(),
                (Some(s), None) => s.label().to_owned(),
                (None, Some(f)) => f.describe(),
                (Some(s), Some(f)) => format!("{}: {}", s.label(), f.describe()),
            };
            let total: f64 = r
                .stages
                .iter()
                .filter_map(|s| s.duration_ms)
                .filter(|d| d.is_finite() && *d >= 0.0)
                .sum();
            table.add_row(vec![
                self.cell(&r.uri, None),
                self.cell(r.transport.label(), None),
                self.cell(text, Some(color)),
                self.cell(&failed, (!r.ok).then_some(Color::Red)),
                self.cell(&or_dash(r.relayed_address), None),
                self.cell(&format::ms(total), None),
            ]);
        }
        self.push_fitted(out, &mut table, &[4, 5]);
    }

    /// The candidate-type matrix: one row per ICE run.
    fn ice(&self, s: &IceSection, out: &mut String) {
        let mut table = self.table();
        table.set_header(vec![
            "run",
            "connected",
            "selected pair",
            "time",
            "RTT",
            "notes",
        ]);
        for r in &s.runs {
            let (text, color) = if r.connected {
                ("yes", Color::Green)
            } else {
                ("no", Color::Red)
            };
            let pair = r.selected.as_ref().map_or_else(
                || "-".to_owned(),
                |p| format!("{} ({} → {})", p.types(), p.local_address, p.remote_address),
            );
            let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), format::ms);
            let notes: Vec<String> = r
                .failure
                .iter()
                .map(|f| f.describe())
                .chain(r.hairpin.iter().map(|h| h.describe()))
                .collect();
            table.add_row(vec![
                self.cell(&r.label(), None),
                self.cell(text, Some(color)),
                self.cell(&pair, None),
                self.cell(&ms(r.time_to_connected_ms), None),
                self.cell(&ms(r.rtt_ms), None),
                self.cell(&notes.join("; "), None),
            ]);
        }
        self.push_fitted(out, &mut table, &[4, 3]);
    }

    /// One row per protocol (UPnP IGD, NAT-PMP, PCP), then double NAT.
    fn portmap(&self, p: &PortmapSection, out: &mut String) {
        let mut table = self.table();
        table.set_header(vec![
            "protocol",
            "status",
            "external address",
            "mapping / traffic / removed",
            "reason",
        ]);
        let check = |c: &PmCheck| match c {
            PmCheck::NotTested => "not tested",
            PmCheck::Passed => "yes",
            PmCheck::Failed => "NO",
        };
        for r in &p.protocols {
            let (status, color) = match r.status {
                PortmapStatus::NotTested => ("not tested", Color::Yellow),
                PortmapStatus::NotAvailable => ("not available", Color::Yellow),
                PortmapStatus::Available => ("available", Color::Green),
            };
            let external = r
                .mapping
                .as_ref()
                .and_then(|m| m.external.clone())
                .or_else(|| r.external_ip.clone())
                .unwrap_or_else(|| "-".to_owned());
            let mapping = r.mapping.as_ref().map_or_else(
                || "-".to_owned(),
                |m| {
                    format!(
                        "port {} ({} s) / {} / {}",
                        m.external_port,
                        m.lifetime_secs,
                        check(&m.traffic),
                        check(&m.removed)
                    )
                },
            );
            let reasons: Vec<&str> = r
                .reason
                .iter()
                .chain(
                    r.mapping
                        .iter()
                        .flat_map(|m| m.traffic_reason.iter().chain(m.removal_reason.iter())),
                )
                .chain(r.errors.iter())
                .map(String::as_str)
                .collect();
            let leak = r
                .mapping
                .as_ref()
                .is_some_and(|m| m.removed == PmCheck::Failed);
            table.add_row(vec![
                self.cell(&r.protocol, None),
                self.cell(status, Some(color)),
                self.cell(&external, None),
                self.cell(&mapping, leak.then_some(Color::Red)),
                self.cell(&reasons.join("; "), None),
            ]);
        }
        self.push_fitted(out, &mut table, &[3, 2]);
        let _ = writeln!(
            out,
            "double NAT: {}",
            match p.double_nat.detected {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            }
        );
        for e in &p.double_nat.evidence {
            self.para(out, "  - ", "    ", &clean(e));
        }
        for l in &p.leftover {
            let first = format!(
                "{} ",
                self.paint("not removed (expires with its lease):", "31")
            );
            self.para(out, &first, "  ", &clean(l));
        }
        out.push('\n');
    }

    /// The browser, then one gathering row and one connection row per
    /// ICE transport policy, and the candidate errors between them.
    fn browser(&self, b: &BrowserSection, out: &mut String) {
        use crate::format::browser as fb;
        let who = format!("{}, {}", fb::name(b), fb::launched(&b.launched));
        self.para(out, "", "  ", &clean(&who));
        if !b.browser.user_agent.trim().is_empty() {
            self.para(out, "user agent: ", "  ", &clean(&b.browser.user_agent));
        }
        out.push('\n');
        if b.gathering.is_empty() {
            let _ = writeln!(out, "  (no gathering)\n");
        } else {
            self.heading(out, "Gathering");
            let mut t = self.table();
            t.set_header(vec![
                "policy",
                "candidates",
                "mDNS",
                "errors",
                "total",
                "complete",
            ]);
            for g in &b.gathering {
                let (complete, color) = if g.complete {
                    ("yes", None)
                } else {
                    ("no", Some(Color::Yellow))
                };
                let none = g.candidates.is_empty();
                t.add_row(vec![
                    self.cell(g.policy.as_str(), None),
                    self.cell(&fb::candidates(g), none.then_some(Color::Red)),
                    self.cell(&fb::mdns(g).to_string(), None),
                    self.cell(
                        &g.errors.len().to_string(),
                        (!g.errors.is_empty()).then_some(Color::Yellow),
                    ),
                    self.cell(&format::ms(g.total_ms), None),
                    self.cell(complete, color),
                ]);
            }
            self.push_fitted(out, &mut t, &[5, 2, 4]);
        }
        // The same error repeats once per local address: one row each.
        let mut errors: Vec<(&str, u16, &str, &str, usize)> = Vec::new();
        for g in &b.gathering {
            for e in &g.errors {
                let key = (g.policy.as_str(), e.code, e.url.as_str(), e.text.as_str());
                match errors.iter_mut().find(|x| (x.0, x.1, x.2, x.3) == key) {
                    Some(x) => x.4 += 1,
                    None => errors.push((key.0, key.1, key.2, key.3, 1)),
                }
            }
        }
        if !errors.is_empty() {
            self.heading(out, "Candidate errors");
            let mut t = self.table();
            t.set_header(vec!["policy", "code", "URL", "error"]);
            for (policy, code, url, text, n) in errors {
                let code = if n > 1 {
                    format!("{code} ×{n}")
                } else {
                    code.to_string()
                };
                t.add_row(vec![
                    self.cell(policy, None),
                    self.cell(&code, Some(Color::Yellow)),
                    self.cell(url, None),
                    self.cell(text, None),
                ]);
            }
            self.push_fitted(out, &mut t, &[0]);
        }
        if !b.connections.is_empty() {
            self.heading(out, "Connection to natscope's peer");
            let mut t = self.table();
            t.set_header(vec![
                "policy",
                "outcome",
                "selected pair",
                "connected in",
                "round trip",
                "getStats",
            ]);
            let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), format::ms);
            for c in &b.connections {
                let color = match c.outcome {
                    BrowserOutcome::Connected => Color::Green,
                    BrowserOutcome::Failed | BrowserOutcome::TimedOut => Color::Red,
                };
                let outcome = match (c.outcome, &c.failure) {
                    (BrowserOutcome::Failed | BrowserOutcome::TimedOut, Some(f)) => {
                        format!("{}: {f}", fb::outcome(c.outcome))
                    }
                    (BrowserOutcome::Failed | BrowserOutcome::TimedOut, None)
                    | (BrowserOutcome::Connected, _) => fb::outcome(c.outcome).to_owned(),
                };
                let pair = c.selected.as_ref().map_or_else(|| "-".to_owned(), fb::pair);
                // The data channel's median round trip, and how many of
                // the messages sent came back.
                let channel = match c.round_trip_ms {
                    Some(rt) => format!("{} ({}/{})", format::ms(rt), c.echoed, c.sent),
                    None if c.sent > 0 => format!("- ({}/{})", c.echoed, c.sent),
                    None => "-".to_owned(),
                };
                let stats: Vec<String> = c
                    .stats
                    .iter()
                    .flat_map(|s| {
                        [
                            s.current_rtt_ms.map(|v| format!("RTT {}", format::ms(v))),
                            s.available_outgoing_bitrate
                                .map(|v| format!("{} out", format::bitrate(v))),
                        ]
                    })
                    .flatten()
                    .collect();
                t.add_row(vec![
                    self.cell(c.policy.as_str(), None),
                    self.cell(&outcome, Some(color)),
                    self.cell(&pair, None),
                    self.cell(&ms(c.ice_connected_ms), None),
                    self.cell(&channel, None),
                    self.cell(
                        &if stats.is_empty() {
                            "-".to_owned()
                        } else {
                            stats.join(", ")
                        },
                        None,
                    ),
                ]);
            }
            self.push_fitted(out, &mut t, &[5, 3, 4]);
        }
        for n in &b.not_tested {
            self.para(out, "not tested: ", "  ", &clean(n));
        }
        if !b.not_tested.is_empty() {
            out.push('\n');
        }
    }
    /// A session with natscope on another machine: who met where, one row
    /// per ICE policy, the hole punch, prediction against observation, and
    /// the session's failure with its remedy.
    fn peer(&self, p: &PeerSection, out: &mut String) {
        use crate::format::peer as fp;
        if let Some(s) = &p.session {
            self.para(out, "session: ", "  ", &clean(s));
        }
        self.para(out, "role: ", "  ", p.role.as_str());
        self.para(out, "rendezvous: ", "  ", &clean(&p.rendezvous));
        let other = match &p.remote_version {
            Some(v) => format!("natscope {}", sanitize::terminal_short(v, SOFTWARE_MAX)),
            None => "unknown".to_owned(),
        };
        self.para(out, "other side: ", "  ", &other);
        self.para(out, "took: ", "  ", &format::ms(p.duration_ms));
        out.push('\n');

        if p.policies.is_empty() {
            let _ = writeln!(out, "  (no ICE policy run)\n");
        } else {
            let mut t = self.table();
            t.set_header(vec![
                "policy",
                "outcome",
                "path",
                "measured",
                "data channel",
                "notes",
            ]);
            for r in &p.policies {
                let color = match r.outcome {
                    PeerOutcome::Success | PeerOutcome::Reversed => Color::Green,
                    PeerOutcome::Failed => Color::Red,
                    PeerOutcome::NotTested => Color::Yellow,
                };
                t.add_row(vec![
                    self.cell(r.policy.as_str(), None),
                    self.cell(fp::outcome(r.outcome), Some(color)),
                    self.cell(r.path.as_deref().unwrap_or("-"), None),
                    self.cell(&fp::measured(r), None),
                    self.cell(&fp::data_channel(r), None),
                    self.cell(&fp::notes(r), None),
                ]);
            }
            self.push_fitted(out, &mut t, &[4, 3]);
        }

        match &p.holepunch {
            Section::Tested(hp) => {
                self.heading(out, "Hole punch");
                let reach = format!(
                    "this side {}, the other side {}",
                    if hp.local_reachable { "yes" } else { "no" },
                    if hp.remote_reachable { "yes" } else { "no" }
                );
                self.para(out, "reachable unsolicited: ", "  ", &reach);
                let addrs = format!(
                    "this side {}, the other side {}",
                    or_dash(hp.local_public),
                    or_dash(hp.remote_public)
                );
                self.para(out, "public addresses: ", "  ", &addrs);
                if let Some(from) = hp.remote_seen_from {
                    let text = format!("{from} (not its advertised address)");
                    self.para(out, "the other side's packets came from: ", "  ", &text);
                }
                if hp.attempts.is_empty() {
                    let _ = writeln!(out, "  (no attempt made)");
                } else {
                    let mut t = self.table();
                    t.set_header(vec![
                        "attempt",
                        "result",
                        "got through",
                        "first packet in",
                        "first packet out",
                        "sent / received",
                    ]);
                    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), format::ms);
                    for a in &hp.attempts {
                        let (text, color) = if a.success {
                            ("success", Color::Green)
                        } else {
                            ("failed", Color::Red)
                        };
                        t.add_row(vec![
                            self.cell(&a.attempt.to_string(), None),
                            self.cell(text, Some(color)),
                            self.cell(fp::direction(a.got_through), None),
                            self.cell(&ms(a.first_in_ms), None),
                            self.cell(&ms(a.first_out_ms), None),
                            self.cell(&format!("{} / {}", a.sent, a.received), None),
                        ]);
                    }
                    self.push_fitted(out, &mut t, &[5, 4]);
                    out.pop();
                }
                let result = format!(
                    "{} in {} of at most {} attempts; first-attempt success: {}",
                    if hp.success { "succeeded" } else { "failed" },
                    hp.attempts.len(),
                    model::peer::HolePunch::MAX_ATTEMPTS,
                    if hp.first_attempt_success {
                        "yes"
                    } else {
                        "no"
                    }
                );
                let result = if hp.success {
                    result
                } else {
                    self.paint(&result, "31")
                };
                self.para(out, "hole punch: ", "  ", &result);
            }
            Section::NotTested { reason } => {
                self.para(
                    out,
                    "hole punch: not tested ",
                    "  ",
                    &format!("({})", clean(reason)),
                );
            }
            Section::Failed { reason } => {
                let head = format!("hole punch: {} ", self.paint("failed", "31"));
                self.para(out, &head, "  ", &format!("({})", clean(reason)));
            }
        }
        out.push('\n');

        match &p.tcp {
            Section::Tested(tp) => {
                self.heading(out, "TCP simultaneous open");
                let addrs = format!(
                    "this side {}, the other side {}",
                    or_dash(tp.local_public),
                    or_dash(tp.remote_public)
                );
                self.para(out, "public addresses: ", "  ", &addrs);
                if let (Some(l), Some(r)) = (tp.local_addr, tp.remote_addr) {
                    self.para(out, "connection: ", "  ", &format!("{l} to {r}"));
                }
                if tp.attempts.is_empty() {
                    let _ = writeln!(out, "  (no attempt made)");
                } else {
                    let mut t = self.table();
                    t.set_header(vec![
                        "attempt",
                        "result",
                        "how",
                        "connected after",
                        "tries / refused",
                    ]);
                    for a in &tp.attempts {
                        let (text, color) = if a.connected {
                            ("connected", Color::Green)
                        } else {
                            ("failed", Color::Red)
                        };
                        t.add_row(vec![
                            self.cell(&a.attempt.to_string(), None),
                            self.cell(text, Some(color)),
                            self.cell(a.open.map_or("-", fp::tcp_open), None),
                            self.cell(
                                &a.time_to_connect_ms
                                    .map_or_else(|| "-".to_owned(), format::ms),
                                None,
                            ),
                            self.cell(&format!("{} / {}", a.tries, a.refused), None),
                        ]);
                    }
                    self.push_fitted(out, &mut t, &[2]);
                    out.pop();
                }
                let result = format!(
                    "{} in {} of at most {} attempts; first-attempt success: {}",
                    if tp.success { "connected" } else { "failed" },
                    tp.attempts.len(),
                    model::peer::TcpPunch::MAX_ATTEMPTS,
                    if tp.first_attempt_success {
                        "yes"
                    } else {
                        "no"
                    }
                );
                let result = if tp.success {
                    result
                } else {
                    self.paint(&result, "31")
                };
                self.para(out, "TCP: ", "  ", &result);
            }
            Section::NotTested { reason } => {
                self.para(
                    out,
                    "TCP simultaneous open: not tested ",
                    "  ",
                    &format!("({})", clean(reason)),
                );
            }
            Section::Failed { reason } => {
                let head = format!("TCP simultaneous open: {} ", self.paint("failed", "31"));
                self.para(out, &head, "  ", &format!("({})", clean(reason)));
            }
        }
        out.push('\n');

        if let Some(v) = &p.local_nat {
            self.para(out, "this side's NAT: ", "  ", &clean(&fp::nat(v)));
        }
        if let Some(v) = &p.remote_nat {
            self.para(out, "the other side's NAT: ", "  ", &clean(&fp::nat(v)));
        }
        match &p.predicted {
            Some(pr) => {
                let text = format!("{}: {}", fp::predicted(pr.outcome), clean(&pr.reason));
                self.para(out, "predicted: ", "  ", &text);
            }
            None => self.para(
                out,
                "predicted: ",
                "  ",
                "nothing (a NAT verdict is missing)",
            ),
        }
        self.para(out, "observed: ", "  ", fp::observed(p.observed));
        let held = match p.prediction_held {
            Some(false) => self.paint("no", "33"),
            other => fp::held(other).to_owned(),
        };
        self.para(out, "prediction held: ", "  ", &held);
        if let Some(f) = &p.failure {
            let head = format!("{} ", self.paint("session failed:", "31"));
            let text = format!("{}: {}", clean(&f.kind), clean(&f.message));
            self.para(out, &head, "  ", &text);
            let first = format!("  {} ", self.paint("→", "36"));
            self.para(out, &first, "    ", &clean(&f.remedy));
        }
        out.push('\n');
    }

    /// Per audited server: who it is, one allocation per transport, every
    /// forbidden-peer attempt by category, the quota and REST lines.
    fn audit(&self, a: &AuditSection, out: &mut String) {
        if a.servers.is_empty() {
            let _ = writeln!(out, "  (no servers)\n");
        }
        for s in &a.servers {
            self.audit_server(s, out);
        }
    }

    fn audit_server(&self, s: &AuditServer, out: &mut String) {
        use crate::format::audit as fa;
        let first = format!("{} ", self.bold(&clean(&s.label)));
        self.para(out, &first, "  ", &clean(&s.uri));
        self.para(out, "address: ", "  ", &or_dash(s.address));
        if let Some(sw) = &s.software {
            self.para(
                out,
                "software: ",
                "  ",
                &sanitize::terminal_short(sw, SOFTWARE_MAX),
            );
        }
        if let Some(p) = &s.product {
            self.para(out, "product: ", "  ", &clean(&fa::product(p)));
        }
        out.push('\n');

        if s.transports.is_empty() {
            let _ = writeln!(out, "  (no allocation made)\n");
        } else {
            let mut t = self.table();
            t.set_header(vec![
                "URI",
                "transport",
                "source",
                "relayed address / failure",
            ]);
            for tr in &s.transports {
                let (text, color) = match (&tr.relayed, &tr.relayed_ipv6, &tr.failure) {
                    (_, _, Some(f)) => (f.describe(), Some(Color::Red)),
                    (None, None, None) => ("—".to_owned(), None),
                    (v4, v6, None) => {
                        let addrs: Vec<String> =
                            v4.iter().chain(v6.iter()).map(|a| a.to_string()).collect();
                        (addrs.join(", "), Some(Color::Green))
                    }
                };
                t.add_row(vec![
                    self.cell(&tr.uri, None),
                    self.cell(tr.transport.label(), None),
                    self.cell(if tr.given { "given" } else { "implied" }, None),
                    self.cell(&text, color),
                ]);
            }
            self.push_fitted(out, &mut t, &[2, 1]);
        }

        if s.peers.is_empty() {
            let _ = writeln!(out, "  (no forbidden peer tried)\n");
        } else {
            let mut t = self.table();
            t.set_header(vec![
                "category",
                "peer",
                "transport",
                "via",
                "outcome",
                "delivered",
            ]);
            for (category, attempts) in fa::grouped(&s.peers) {
                for (i, p) in attempts.into_iter().enumerate() {
                    let color = match p.outcome {
                        AttemptOutcome::Refused => Color::Green,
                        AttemptOutcome::Accepted | AttemptOutcome::Attempted => Color::Red,
                        AttemptOutcome::Error { .. }
                        | AttemptOutcome::Timeout { .. }
                        | AttemptOutcome::NotTested { .. } => Color::Yellow,
                    };
                    let delivered_color = (p.delivered == Some(true)).then_some(Color::Red);
                    t.add_row(vec![
                        self.cell(if i == 0 { category.as_str() } else { "" }, None),
                        self.cell(&p.peer.to_string(), None),
                        self.cell(p.transport.label(), None),
                        self.cell(p.via.label(), None),
                        self.cell(&fa::outcome(&p.outcome), Some(color)),
                        self.cell(fa::delivered(p.delivered), delivered_color),
                    ]);
                }
            }
            self.push_fitted(out, &mut t, &[2, 3, 5]);
        }

        match &s.quota {
            Some(q) => {
                let text = clean(&fa::quota(q));
                let text = if q.stopped_by.is_none() {
                    self.paint(&text, "31")
                } else {
                    text
                };
                self.para(out, "quota: ", "  ", &text);
            }
            None => self.para(out, "quota: ", "  ", "not tested"),
        }
        if let Some(r) = &s.rest {
            self.para(out, "REST credentials: ", "  ", &clean(&fa::rest(r)));
        }
        out.push('\n');
    }

    /// The load run: the server, what was asked, the allocations and the
    /// traffic, one row per step, the knee, the errors and how it ended.
    fn load(&self, l: &LoadSection, out: &mut String) {
        use crate::format::load as fl;
        let first = format!("{} ", self.bold(&clean(&l.label)));
        let head = format!("{} over {}", clean(&l.uri), l.transport.label());
        self.para(out, &first, "  ", &head);
        self.para(out, "address: ", "  ", &or_dash(l.address));
        self.para(out, "asked for: ", "  ", &fl::config(&l.config));
        let a = &l.allocations;
        let allocations = format!(
            "{} attempted, {} created, {} failed; {} per second; time {}; {} of {} released",
            a.attempted,
            a.created,
            a.failed,
            a.per_second
                .map_or_else(|| "—".to_owned(), |v| format::number(v, 1)),
            fl::percentiles(&a.time),
            a.released,
            a.release_attempted
        );
        self.para(out, "allocations: ", "  ", &allocations);
        let tr = &l.traffic;
        let traffic = format!(
            "sent {} packets/s ({}), received {} packets/s ({}); {} of {} round trips lost ({}); RTT {}; jitter {}",
            format::number(tr.sent_pps, 0),
            format::bitrate(tr.sent_mbit_s * 1e6),
            format::number(tr.received_pps, 0),
            format::bitrate(tr.received_mbit_s * 1e6),
            tr.lost,
            tr.rtt.count + tr.lost,
            format::percent(tr.loss_percent),
            fl::percentiles(&tr.rtt),
            format::opt_ms(tr.jitter_ms)
        );
        self.para(out, "traffic: ", "  ", &traffic);
        out.push('\n');

        if l.steps.is_empty() {
            let _ = writeln!(out, "  (no step measured)\n");
        } else {
            let mut t = self.table();
            t.set_header(vec![
                "at",
                "allocations",
                "offered pps",
                "delivered pps",
                "loss",
                "RTT p50",
                "RTT p95",
                "jitter",
            ]);
            for s in &l.steps {
                let lossy = s.loss_percent.is_some_and(|p| p > 1.0);
                t.add_row(vec![
                    self.cell(&format::ms_as_secs(s.at_ms), None),
                    self.cell(&s.allocations.to_string(), None),
                    self.cell(&format::number(s.offered_pps, 0), None),
                    self.cell(&format::number(s.delivered_pps, 0), None),
                    self.cell(
                        &format::percent(s.loss_percent),
                        lossy.then_some(Color::Red),
                    ),
                    self.cell(&format::opt_ms(s.rtt_p50_ms), None),
                    self.cell(&format::opt_ms(s.rtt_p95_ms), None),
                    self.cell(&format::opt_ms(s.jitter_ms), None),
                ]);
            }
            self.push_fitted(out, &mut t, &[7, 6, 3, 0]);
        }
        match &l.knee {
            Some(k) => {
                let text = self.paint(&fl::knee(k), "33");
                self.para(out, "knee: ", "  ", &text);
            }
            None => self.para(
                out,
                "knee: ",
                "  ",
                "none: the server kept up at every step",
            ),
        }
        if !l.errors.is_empty() {
            out.push('\n');
            let mut t = self.table();
            t.set_header(vec!["code", "request", "count", "meaning"]);
            for e in &l.errors {
                t.add_row(vec![
                    self.cell(&e.code.to_string(), Some(Color::Yellow)),
                    self.cell(&e.request, None),
                    self.cell(&e.count.to_string(), None),
                    self.cell(&e.meaning, None),
                ]);
            }
            self.push_fitted(out, &mut t, &[1]);
            out.pop();
        }
        let end = clean(&l.ended.describe());
        let end = match l.ended {
            LoadEnd::Completed => end,
            LoadEnd::Interrupted => self.paint(&end, "33"),
            LoadEnd::ServerSilent { .. }
            | LoadEnd::NoAllocation { .. }
            | LoadEnd::Redirected { .. }
            | LoadEnd::Failed { .. } => self.paint(&end, "31"),
        };
        self.para(out, "end: ", "  ", &end);
        if l.malformed > 0 {
            self.para(
                out,
                "ignored packets: ",
                "  ",
                &format!("{} malformed", l.malformed),
            );
        }
        out.push('\n');
    }
}
