//! The NAT sections, one per address family (`#nat` for IPv4, `#nat-ipv6`):
//! plain-language verdict, the client → NAT → servers diagram, details,
//! per-server findings and evidence. Both are drawn by the same code,
//! parameterised by a [`View`].

use super::writer::Html;
use super::{close_section, not_run, open_section, opt, yes_no};
use model::document::Report;
use model::section::Section;
use natclass::{Behaviour, Confidence, Family, NatVerdict, P2pOutlook, PortPattern, Translation};
use std::net::SocketAddr;

/// The NAT type in one sentence (the verdict's own summary when it has one).
pub(super) fn plain_sentence(h: &mut Html, v: &NatVerdict) {
    if v.summary.trim().is_empty() {
        h.t(v.rfc3489.name()).m(": ").t(v.p2p.sentence()).m(".");
    } else {
        h.t(&v.summary);
    }
}

/// [`plain_sentence`] without a leading "IPv4: " / "IPv6: " (where a label
/// already names the family).
fn sentence_without_family(h: &mut Html, v: &NatVerdict) {
    let summary = v.summary.trim();
    let rest = ["IPv4:", "IPv6:"]
        .iter()
        .find_map(|p| summary.strip_prefix(p))
        .map(str::trim_start);
    match rest {
        Some(rest) if !rest.is_empty() => {
            h.t(rest);
        }
        _ => plain_sentence(h, v),
    }
}

/// The NAT sentences of the verdict card: one per tested family, labelled
/// by family when there is an IPv6 verdict (`NAT:` alone otherwise).
pub(super) fn verdict_lines(h: &mut Html, r: &Report) {
    let ipv6 = r.nat_ipv6.tested();
    if let Some(v) = r.nat.tested() {
        if ipv6.is_some() {
            h.m("<p id=\"verdict-nat\"><strong>NAT (IPv4):</strong> ");
            sentence_without_family(h, v);
        } else {
            h.m("<p><strong>NAT:</strong> ");
            plain_sentence(h, v);
        }
        h.m("</p>\n");
    }
    if let Some(v) = ipv6 {
        h.m("<p id=\"verdict-nat-ipv6\"><strong>NAT (IPv6):</strong> ");
        sentence_without_family(h, v);
        h.m("</p>\n");
    }
}

/// Which verdict a NAT section shows, and under which ids.
struct View<'a> {
    /// The section's element id; every id inside starts with it
    /// (`nat-details`, `nat-ipv6-details`).
    id: &'static str,
    /// The section's heading.
    title: &'static str,
    /// The verdict.
    section: &'a Section<NatVerdict>,
    /// The family the section is about (`nat` is IPv4 by contract, even
    /// where an older verdict does not say so).
    family: Family,
}

/// The NAT sections: IPv4 (`#nat`, titled "NAT type" unless an IPv6
/// verdict is beside it), then IPv6 (`#nat-ipv6`) unless the command never
/// ran it.
pub(super) fn sections(h: &mut Html, r: &Report) {
    let ipv6 = r.nat_ipv6.tested().is_some();
    section(
        h,
        r,
        &View {
            id: "nat",
            title: if ipv6 { "NAT type (IPv4)" } else { "NAT type" },
            section: &r.nat,
            family: Family::Ipv4,
        },
    );
    if !not_run(&r.nat_ipv6) {
        section(
            h,
            r,
            &View {
                id: "nat-ipv6",
                title: "NAT type (IPv6)",
                section: &r.nat_ipv6,
                family: Family::Ipv6,
            },
        );
    }
}

/// What sits between the device and the servers, as the diagram names it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Middle {
    /// Nothing translates and nothing filters (or the verdict's old
    /// "no NAT").
    NoNat,
    /// Nothing translates, but a firewall filters.
    Firewall,
    /// A NAT (NAT44, or unknown translation behind a NAT).
    Nat,
    /// A stateful IPv6 NAT.
    Nat66,
    /// RFC 6296 prefix translation.
    Nptv6,
}

impl Middle {
    fn of(v: &NatVerdict, family: Family) -> Middle {
        match v.translation {
            Some(Translation::None) if v.filtering == Behaviour::EndpointIndependent => {
                Middle::NoNat
            }
            Some(Translation::None) => Middle::Firewall,
            Some(Translation::Nptv6) => Middle::Nptv6,
            Some(Translation::Nat) if family == Family::Ipv6 => Middle::Nat66,
            Some(Translation::Nat) => Middle::Nat,
            None if v.behind_nat == Some(false) => Middle::NoNat,
            None if family == Family::Ipv6 && v.behind_nat == Some(true) => Middle::Nat66,
            None => Middle::Nat,
        }
    }

    /// The box's heading.
    fn label(self) -> &'static str {
        match self {
            Middle::NoNat => "No NAT",
            Middle::Firewall => "Firewall (no NAT)",
            Middle::Nat => "NAT",
            Middle::Nat66 => "NAT66",
            Middle::Nptv6 => "NPTv6",
        }
    }
}

/// Whether the filtering is a firewall's rather than a NAT's: IPv6 with
/// nothing translating, or only the stateless NPTv6 (which filters
/// nothing itself).
fn firewall_filters(v: &NatVerdict, family: Family) -> bool {
    family == Family::Ipv6 && matches!(v.translation, Some(Translation::None | Translation::Nptv6))
}

fn section(h: &mut Html, r: &Report, view: &View<'_>) {
    let Some(v) = open_section(h, view.id, view.title, view.section, |h, v| {
        h.t(v.rfc3489.name())
            .m(" · ")
            .m(behaviour_str(v.mapping))
            .m(" mapping, ")
            .m(behaviour_str(v.filtering))
            .m(" filtering");
    }) else {
        return;
    };
    let id = view.id;
    h.m("<p class=\"lead\" id=\"").m(id).m("-summary\">");
    plain_sentence(h, v);
    h.m("</p>\n");
    diagram(h, r, v, view);

    h.m("<h3>What this means</h3>\n<ul>");
    if let Some(t) = v.translation {
        h.m("<li><strong>Translation</strong> (what rewrites your address): ")
            .m(translation_words(t, view.family))
            .m("</li>");
    }
    if view.family == Family::Ipv6 && v.translation == Some(Translation::None) {
        h.m("<li><strong>Mapping</strong>: none — no translation: the servers see this host's own address and port, so peers can address you directly; whether they get in is the firewall's filtering.</li>");
    } else {
        h.m("<li><strong>Mapping</strong> (which public address:port the NAT gives you): ");
        h.m(mapping_words(v.mapping)).m("</li>");
    }
    if firewall_filters(v, view.family) {
        h.m("<li><strong>Filtering</strong> by the firewall (who may send to you): ");
        h.m(firewall_filtering_words(v.filtering)).m("</li>");
    } else {
        h.m("<li><strong>Filtering</strong> (who may send to you): ");
        h.m(filtering_words(v.filtering)).m("</li>");
    }
    h.m("<li><strong>Peer-to-peer</strong>: ")
        .t(v.p2p.sentence())
        .m(".</li></ul>\n");

    h.m("<div class=\"scroll\"><table class=\"kv\" id=\"")
        .m(id)
        .m("-details\"><tbody>\n");
    // Per-family verdicts always say what translates (or that it is not
    // known); older ones never did.
    if v.translation.is_some() || v.family.is_some() {
        h.m("<tr><th>Translation</th><td>")
            .m(crate::format::translation(v.translation))
            .m("</td></tr>\n");
    }
    h.m("<tr><th>Mapping</th><td>");
    behaviour(h, v.mapping);
    h.m(" <span class=\"muted\">(confidence ");
    confidence(h, v.mapping_confidence);
    h.m(")</span></td></tr>\n<tr><th>Filtering</th><td>");
    behaviour(h, v.filtering);
    h.m(" <span class=\"muted\">(confidence ");
    confidence(h, v.filtering_confidence);
    h.m(")</span></td></tr>\n<tr><th>RFC 3489 name</th><td>")
        .t(v.rfc3489.name())
        .m("</td></tr>\n<tr><th>Overall confidence</th><td>");
    confidence(h, v.confidence);
    h.m("</td></tr>\n<tr><th>Behind a NAT</th><td>");
    yes_no(h, v.behind_nat, "unknown");
    h.m("</td></tr>\n<tr><th>UDP</th><td>");
    h.m(match v.udp {
        natclass::UdpStatus::Ok => "<span class=\"badge pass\">works</span>",
        natclass::UdpStatus::Blocked => "<span class=\"badge fail\">blocked</span>",
        natclass::UdpStatus::Unknown => "<span class=\"badge nt\">unknown</span>",
    });
    h.m("</td></tr>\n<tr><th>Public address</th><td><code class=\"addr\">");
    opt(h, v.public);
    h.m("</code></td></tr>\n<tr><th>Hairpinning</th><td>");
    yes_no(h, v.hairpinning, "not tested");
    h.m("</td></tr>\n<tr><th>Double NAT</th><td>");
    yes_no(h, v.double_nat, "unknown");
    h.m("</td></tr>\n<tr><th>Carrier-grade NAT</th><td>");
    yes_no(h, v.cgnat, "unknown");
    h.m("</td></tr>\n<tr><th>Port allocation</th><td>");
    match &v.port_allocation {
        None => {
            h.m("<span class=\"muted\">not sampled</span>");
        }
        Some(p) => {
            h.m(match p.pattern {
                PortPattern::Preserved => "ports preserved",
                PortPattern::Reused => "one port reused for every destination",
                PortPattern::Sequential { .. } => "sequential, step ",
                PortPattern::Random => "random",
                PortPattern::Unknown => "unknown",
            });
            if let PortPattern::Sequential { step } = p.pattern {
                h.int(step);
            }
            h.m(" <span class=\"muted\">(")
                .int(p.preserved)
                .m(" of ")
                .int(p.samples)
                .m(" samples kept their local port)</span>");
        }
    }
    h.m("</td></tr>\n<tr><th>Mapping lifetime</th><td>");
    match &v.mapping_lifetime {
        None => {
            h.m("<span class=\"muted\">not probed</span>");
        }
        Some(l) => {
            match (l.lower_ms, l.upper_ms) {
                (Some(lo), Some(hi)) => h
                    .m("between ")
                    .int(lo / 1000)
                    .m(" s and ")
                    .int(hi / 1000)
                    .m(" s"),
                (Some(lo), None) => h.m("at least ").int(lo / 1000).m(" s"),
                (None, Some(hi)) => h.m("less than ").int(hi / 1000).m(" s"),
                (None, None) => h.m("unknown"),
            };
            h.m(" <span class=\"muted\">(").int(l.probes).m(" probes");
            if !l.consistent {
                h.m(", inconsistent");
            }
            h.m(")</span>");
        }
    }
    h.m("</td></tr>\n</tbody></table></div>\n");

    if !v.servers.is_empty() {
        h.m("<details class=\"sub\"><summary>Per server</summary>\n<div class=\"scroll\"><table id=\"")
            .m(id)
            .m("-servers\"><thead><tr><th>Server</th><th>Status</th><th>Mapping</th><th>Filtering</th><th>Hairpinning</th><th>Public</th><th>Confidence</th></tr></thead><tbody>\n");
        for s in &v.servers {
            h.m("<tr><td><code class=\"addr\">")
                .d(s.server)
                .m("</code></td><td>");
            h.m(match s.status {
                natclass::ServerStatus::Rfc5780 => "<span class=\"badge pass\">RFC 5780</span>",
                natclass::ServerStatus::Rfc3489 => {
                    "<span class=\"badge pass\">RFC 3489 (classic)</span>"
                }
                natclass::ServerStatus::NotRfc5780 => {
                    "<span class=\"badge warn\">no RFC 5780</span>"
                }
                natclass::ServerStatus::Inconsistent => {
                    "<span class=\"badge warn\">inconsistent</span>"
                }
                natclass::ServerStatus::UdpBlocked => {
                    "<span class=\"badge fail\">UDP blocked</span>"
                }
                natclass::ServerStatus::Down => "<span class=\"badge fail\">down</span>",
                natclass::ServerStatus::PortClosed => {
                    "<span class=\"badge fail\">port closed</span>"
                }
                natclass::ServerStatus::NoUdpAnswer => {
                    "<span class=\"badge fail\">no UDP answer</span>"
                }
                natclass::ServerStatus::NotTested => "<span class=\"badge nt\">not tested</span>",
            });
            h.m("</td><td>");
            behaviour(h, s.mapping);
            h.m("</td><td>");
            behaviour(h, s.filtering);
            h.m("</td><td>");
            yes_no(h, s.hairpinning, "not tested");
            h.m("</td><td><code class=\"addr\">");
            opt(h, s.public);
            h.m("</code></td><td>");
            confidence(h, s.confidence);
            h.m("</td></tr>\n");
        }
        h.m("</tbody></table></div>\n</details>\n");
    }

    if !v.disagreements.is_empty() {
        h.m("<h3>Disagreements</h3>\n<ul id=\"")
            .m(id)
            .m("-disagreements\">");
        for d in &v.disagreements {
            h.m("<li><strong>")
                .t(&d.aspect)
                .m("</strong>: ")
                .t(&d.detail)
                .m("</li>");
        }
        h.m("</ul>\n");
    }

    if v.evidence.is_empty() {
        h.m("<p class=\"muted\">No evidence recorded.</p>\n");
    } else {
        h.m("<details class=\"sub\"><summary>Evidence (")
            .int(v.evidence.len())
            .m(" tests)</summary>\n");
        h.m("<div class=\"scroll\"><table id=\"")
            .m(id)
            .m("-evidence\"><thead><tr><th>Test</th><th>Server</th><th>What happened</th></tr></thead><tbody>\n");
        for e in &v.evidence {
            h.m("<tr><td><code class=\"addr\">")
                .t(&e.test)
                .m("</code></td><td><code class=\"addr\">");
            opt(h, e.server);
            h.m("</code></td><td>").t(&e.detail).m("</td></tr>\n");
        }
        h.m("</tbody></table></div>\n</details>\n");
    }
    close_section(h);
}

fn mapping_words(b: Behaviour) -> &'static str {
    match b {
        Behaviour::EndpointIndependent => {
            "endpoint-independent: the same public address:port is used for every destination, so a peer can reach you at the address a STUN server saw."
        }
        Behaviour::AddressDependent => {
            "address-dependent: each destination address gets its own public port, so the address a STUN server saw is not the one a peer sees."
        }
        Behaviour::AddressAndPortDependent => {
            "address-and-port-dependent (symmetric): every destination address:port gets its own public port; peers cannot predict it."
        }
        Behaviour::Unknown => "unknown: the tests could not tell (see the evidence).",
    }
}

fn filtering_words(b: Behaviour) -> &'static str {
    match b {
        Behaviour::EndpointIndependent => {
            "endpoint-independent: once you have sent anything, packets from anyone reach you."
        }
        Behaviour::AddressDependent => {
            "address-dependent: only hosts (IP addresses) you have sent to can reach you."
        }
        Behaviour::AddressAndPortDependent => {
            "address-and-port-dependent: only the exact address:port you have sent to can reach you."
        }
        Behaviour::Unknown => "unknown: the tests could not tell (see the evidence).",
    }
}

/// The filtering of a firewall (IPv6 with no translation, or behind
/// NPTv6), in RFC 4787 terms and RFC 6092's.
fn firewall_filtering_words(b: Behaviour) -> &'static str {
    match b {
        Behaviour::EndpointIndependent => {
            "endpoint-independent: the firewall lets anyone reach a port you have sent from (or does not filter at all)."
        }
        Behaviour::AddressDependent => {
            "address-dependent: the firewall admits only hosts (IP addresses) you have sent to."
        }
        Behaviour::AddressAndPortDependent => {
            "address-and-port-dependent: a stateful firewall admits only replies from the exact address:port you have sent to (the RFC 6092 default for home routers), so a direct connection needs both sides to send (hole punching)."
        }
        Behaviour::Unknown => "unknown: the tests could not tell (see the evidence).",
    }
}

/// What rewrites the address, as "What this means" explains it.
fn translation_words(t: Translation, family: Family) -> &'static str {
    match (t, family) {
        (Translation::None, _) => {
            "none: the servers see this host's own address; nothing rewrites it (a firewall may still filter)."
        }
        (Translation::Nat, Family::Ipv6) => {
            "NAT66: a stateful NAT replaces your IPv6 address with its own, and may replace ports."
        }
        (Translation::Nat, Family::Ipv4) => {
            "NAT: a stateful NAT replaces your address with its own, and may replace ports."
        }
        (Translation::Nptv6, _) => {
            "NPTv6 (RFC 6296): the network prefix is swapped statelessly; ports are kept and the translation itself filters nothing."
        }
    }
}

fn behaviour_str(b: Behaviour) -> &'static str {
    match b {
        Behaviour::EndpointIndependent => "endpoint-independent",
        Behaviour::AddressDependent => "address-dependent",
        Behaviour::AddressAndPortDependent => "address-and-port-dependent",
        Behaviour::Unknown => "unknown",
    }
}

fn behaviour(h: &mut Html, b: Behaviour) {
    h.m(behaviour_str(b));
}

fn confidence(h: &mut Html, c: Confidence) {
    h.m(match c {
        Confidence::None => "none",
        Confidence::Low => "low",
        Confidence::Medium => "medium",
        Confidence::High => "high",
    });
}

/// Up to three server addresses to draw: the verdict's servers, else the
/// STUN servers that answered (of the verdict's family, when it is known).
fn diagram_servers(r: &Report, v: &NatVerdict, family: Option<Family>) -> (Vec<SocketAddr>, usize) {
    let mut all: Vec<SocketAddr> = v.servers.iter().map(|s| s.server).collect();
    if all.is_empty()
        && let Some(stun) = r.stun.tested()
    {
        for s in &stun.servers {
            if let Some(a) = s.address
                && s.mapped.is_some()
                && family.is_none_or(|f| f == Family::of(a.ip()))
                && !all.contains(&a)
            {
                all.push(a);
            }
        }
    }
    let total = all.len();
    all.truncate(3);
    (all, total)
}

/// Which local socket the shown mapping belongs to.
enum LocalSocket {
    /// The local socket of the STUN binding whose mapped address is the
    /// verdict's public address (the same socket, so the same mapping).
    Stun { local: SocketAddr, server: String },
    /// No NAT: the NAT test's mapped address is one of this host's own
    /// sockets, so the public address is the local socket.
    NoNat(SocketAddr),
    /// The report does not say which local socket was mapped.
    Unknown,
}

/// The local socket whose mapping the diagram shows: never a socket of
/// another probe.
fn mapped_local(r: &Report, v: &NatVerdict) -> LocalSocket {
    let Some(public) = v.public else {
        return LocalSocket::Unknown;
    };
    if let Some(stun) = r.stun.tested()
        && let Some(s) = stun
            .servers
            .iter()
            .find(|s| s.mapped == Some(public) && s.local.is_some())
        && let Some(local) = s.local
    {
        return LocalSocket::Stun {
            local,
            server: s.label.clone(),
        };
    }
    if v.behind_nat == Some(false) {
        return LocalSocket::NoNat(public);
    }
    LocalSocket::Unknown
}

/// The NAT box's colours for the peer-to-peer outlook.
fn outlook_colours(p: P2pOutlook) -> (&'static str, &'static str) {
    match p {
        P2pOutlook::Direct | P2pOutlook::HolePunching => ("#dafbe1", "#1a7f37"),
        P2pOutlook::TurnForSymmetricPeers => ("#fff8c5", "#9a6700"),
        P2pOutlook::TurnNeeded => ("#ffebe9", "#c62828"),
        P2pOutlook::Unknown => ("#eaeef2", "#57606a"),
    }
}

/// The device's socket line in the diagram.
fn local_label(h: &mut Html, local: &LocalSocket, max: usize) {
    match local {
        LocalSocket::Stun { local, .. } | LocalSocket::NoNat(local) => {
            h.m("local ").t_short(&local.to_string(), max);
        }
        LocalSocket::Unknown => {
            h.m("local socket not known");
        }
    }
}

/// The client → NAT → servers diagram (inline SVG, id `nat-diagram`), drawn
/// twice: wide (`#nat-diagram`, side by side) and narrow
/// (`#nat-diagram-narrow`, stacked, for phones); the stylesheet shows one.
/// The IPv6 section's are `#nat-ipv6-diagram` and `#nat-ipv6-diagram-narrow`.
fn diagram(h: &mut Html, r: &Report, v: &NatVerdict, view: &View<'_>) {
    let local = mapped_local(r, v);
    let family = match view.family {
        Family::Ipv6 => Some(Family::Ipv6),
        Family::Ipv4 => v.family,
    };
    let (servers, total) = diagram_servers(r, v, family);
    let middle = Middle::of(v, view.family);
    h.m("<figure class=\"chart\">");
    diagram_wide(h, v, view.id, middle, &local, &servers, total);
    diagram_narrow(h, v, view.id, middle, &local, &servers, total);
    h.m(match middle {
        Middle::Firewall => "<figcaption>Your device sends through the firewall to the STUN servers; nothing translates its address, and the firewall's filtering decides whether peers can reach you directly. ",
        Middle::Nptv6 => "<figcaption>Your device sends through the NPTv6 translator (and whatever firewall is beside it) to the STUN servers; only the prefix is rewritten, and the filtering decides whether peers can reach you directly. ",
        Middle::NoNat | Middle::Nat | Middle::Nat66 => "<figcaption>Your device sends through the NAT to the STUN servers; the NAT's mapping and filtering decide whether peers can reach you directly. ",
    });
    match &local {
        LocalSocket::Stun { server, .. } => {
            h.m("The local socket shown is the one of the STUN binding to ")
                .t(server)
                .m(", whose public mapping is shown.");
        }
        LocalSocket::NoNat(_) => {
            h.m("No NAT: the address the servers saw is this host's own socket.");
        }
        LocalSocket::Unknown => {
            h.m("The report does not record which local socket was mapped.");
        }
    }
    h.m("</figcaption></figure>\n");
}

/// The diagram's `<title>`, id `{section}{suffix}` (e.g.
/// `nat-diagram-title`).
fn diagram_title(
    h: &mut Html,
    v: &NatVerdict,
    section: &'static str,
    suffix: &'static str,
    middle: Middle,
) {
    h.m("<title id=\"")
        .m(section)
        .m(suffix)
        .m("\">Your device, the ")
        .m(match middle {
            Middle::Firewall => "firewall",
            Middle::Nptv6 => "NPTv6 translator",
            Middle::Nat66 => "NAT66",
            Middle::NoNat | Middle::Nat => "NAT",
        })
        .m(" (")
        .m(behaviour_str(v.mapping))
        .m(" mapping, ")
        .m(behaviour_str(v.filtering))
        .m(" filtering, RFC 3489: ")
        .t(v.rfc3489.name())
        .m(") and the STUN servers</title>\n");
}

fn diagram_wide(
    h: &mut Html,
    v: &NatVerdict,
    id: &'static str,
    middle: Middle,
    local: &LocalSocket,
    servers: &[SocketAddr],
    total: usize,
) {
    h.m("<svg id=\"")
        .m(id)
        .m("-diagram\" class=\"wide\" viewBox=\"0 0 760 250\" role=\"img\" aria-labelledby=\"")
        .m(id)
        .m("-diagram-title\">");
    diagram_title(h, v, id, "-diagram-title", middle);

    // Client.
    h.m("<rect x=\"8\" y=\"60\" width=\"170\" height=\"90\" rx=\"10\" fill=\"#e8f0fb\" stroke=\"#0b5cad\"/>")
        .m("<text x=\"93\" y=\"92\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"600\" fill=\"#0b3d73\">Your device</text>")
        .m("<text x=\"93\" y=\"116\" text-anchor=\"middle\" font-size=\"12\" fill=\"#333\">");
    local_label(h, local, 21);
    h.m("</text>\n");

    // Client → NAT arrow.
    arrow(h, 178, 105, 262);

    // NAT box.
    let (fill, stroke) = outlook_colours(v.p2p);
    h.m("<rect x=\"266\" y=\"20\" width=\"250\" height=\"170\" rx=\"10\" fill=\"")
        .m(fill)
        .m("\" stroke=\"")
        .m(stroke)
        .m("\" stroke-width=\"2\"/>")
        .m("<text x=\"391\" y=\"46\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"600\" fill=\"#1b1f24\">")
        .m(middle.label())
        .m("</text>")
        .m("<text x=\"391\" y=\"70\" text-anchor=\"middle\" font-size=\"13\" fill=\"#1b1f24\">")
        .t_short(v.rfc3489.name(), 34)
        .m("</text>")
        .m("<text x=\"280\" y=\"100\" font-size=\"12\" fill=\"#333\">mapping:</text>")
        .m("<text x=\"280\" y=\"116\" font-size=\"12\" font-weight=\"600\" fill=\"#1b1f24\">")
        .m(behaviour_str(v.mapping))
        .m("</text>")
        .m("<text x=\"280\" y=\"138\" font-size=\"12\" fill=\"#333\">filtering:</text>")
        .m("<text x=\"280\" y=\"154\" font-size=\"12\" font-weight=\"600\" fill=\"#1b1f24\">")
        .m(behaviour_str(v.filtering))
        .m("</text>")
        .m("<text x=\"280\" y=\"178\" font-size=\"12\" fill=\"#333\">public: ");
    match v.public {
        Some(p) => h.t_short(&p.to_string(), 28),
        None => h.m("unknown"),
    };
    h.m("</text>\n");

    // Servers.
    let boxes: Vec<Option<SocketAddr>> = if servers.is_empty() {
        vec![None]
    } else {
        servers.iter().copied().map(Some).collect()
    };
    let n = boxes.len() as i64;
    for (i, server) in boxes.iter().enumerate() {
        let i = i as i64;
        // Spread the boxes over y 20..190.
        let height = 44i64;
        let gap = if n > 1 {
            (170 - n * height) / (n - 1)
        } else {
            0
        };
        let y = if n == 1 { 83 } else { 20 + i * (height + gap) };
        let mid = y + height / 2;
        // From the NAT's right edge to the box.
        h.m("<line x1=\"516\" y1=\"105\" x2=\"590\" y2=\"")
            .int(mid)
            .m("\" stroke=\"#57606a\" stroke-width=\"2\"/>");
        h.m("<polygon points=\"590,")
            .int(mid - 6)
            .m(" 600,")
            .int(mid)
            .m(" 590,")
            .int(mid + 6)
            .m("\" fill=\"#57606a\"/>");
        h.m("<rect x=\"600\" y=\"")
            .int(y)
            .m("\" width=\"152\" height=\"")
            .int(height)
            .m("\" rx=\"8\" fill=\"#f6f8fa\" stroke=\"#57606a\"/>")
            .m("<text x=\"676\" y=\"")
            .int(y + 18)
            .m("\" text-anchor=\"middle\" font-size=\"12\" font-weight=\"600\" fill=\"#1b1f24\">STUN server</text>")
            .m("<text x=\"676\" y=\"")
            .int(y + 35)
            .m("\" text-anchor=\"middle\" font-size=\"12\" fill=\"#333\">");
        match server {
            Some(a) => h.t_short(&a.to_string(), 22),
            None => h.m("servers"),
        };
        h.m("</text>\n");
    }
    if total > 3 {
        h.m("<text x=\"676\" y=\"206\" text-anchor=\"middle\" font-size=\"12\" fill=\"#57606a\">and ")
            .int(total - 3)
            .m(" more</text>");
    }

    // Outlook banner.
    h.m("<rect x=\"8\" y=\"212\" width=\"744\" height=\"32\" rx=\"6\" fill=\"")
        .m(fill)
        .m("\" stroke=\"")
        .m(stroke)
        .m("\"/><text x=\"380\" y=\"233\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"600\" fill=\"#1b1f24\">Peer-to-peer: ")
        .t(v.p2p.sentence())
        .m("</text>\n</svg>");
}

/// The same diagram stacked top to bottom, 360 units wide: at a phone's
/// width one unit is about one pixel, so its 12-unit text stays readable.
fn diagram_narrow(
    h: &mut Html,
    v: &NatVerdict,
    id: &'static str,
    middle: Middle,
    local: &LocalSocket,
    servers: &[SocketAddr],
    total: usize,
) {
    let boxes: Vec<Option<SocketAddr>> = if servers.is_empty() {
        vec![None]
    } else {
        servers.iter().copied().map(Some).collect()
    };
    let servers_top = 234i64;
    let row = 34i64;
    let more = if total > 3 { 20 } else { 0 };
    let banner = servers_top + row * boxes.len() as i64 + more + 8;
    let height = banner + 52;
    h.m("<svg id=\"")
        .m(id)
        .m("-diagram-narrow\" class=\"narrow\" viewBox=\"0 0 360 ")
        .int(height)
        .m("\" role=\"img\" aria-labelledby=\"")
        .m(id)
        .m("-diagram-narrow-title\">");
    diagram_title(h, v, id, "-diagram-narrow-title", middle);
    // Client.
    h.m("<rect x=\"4\" y=\"4\" width=\"352\" height=\"56\" rx=\"10\" fill=\"#e8f0fb\" stroke=\"#0b5cad\"/>")
        .m("<text x=\"180\" y=\"27\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"600\" fill=\"#0b3d73\">Your device</text>")
        .m("<text x=\"180\" y=\"48\" text-anchor=\"middle\" font-size=\"13\" fill=\"#333\">");
    local_label(h, local, 44);
    h.m("</text>\n");
    down_arrow(h, 180, 60, 82);
    // NAT box.
    let (fill, stroke) = outlook_colours(v.p2p);
    h.m("<rect x=\"4\" y=\"82\" width=\"352\" height=\"130\" rx=\"10\" fill=\"")
        .m(fill)
        .m("\" stroke=\"")
        .m(stroke)
        .m("\" stroke-width=\"2\"/>")
        .m("<text x=\"180\" y=\"105\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"600\" fill=\"#1b1f24\">")
        .m(middle.label())
        .m("</text>")
        .m("<text x=\"180\" y=\"125\" text-anchor=\"middle\" font-size=\"13\" fill=\"#1b1f24\">")
        .t_short(v.rfc3489.name(), 44)
        .m("</text>")
        .m("<text x=\"16\" y=\"150\" font-size=\"13\" fill=\"#1b1f24\">mapping: ")
        .m(behaviour_str(v.mapping))
        .m("</text>")
        .m("<text x=\"16\" y=\"172\" font-size=\"13\" fill=\"#1b1f24\">filtering: ")
        .m(behaviour_str(v.filtering))
        .m("</text>")
        .m("<text x=\"16\" y=\"196\" font-size=\"13\" fill=\"#333\">public: ");
    match v.public {
        Some(p) => h.t_short(&p.to_string(), 40),
        None => h.m("unknown"),
    };
    h.m("</text>\n");
    down_arrow(h, 180, 212, servers_top);
    for (i, server) in boxes.iter().enumerate() {
        let y = servers_top + row * i as i64;
        h.m("<rect x=\"4\" y=\"")
            .int(y)
            .m("\" width=\"352\" height=\"28\" rx=\"8\" fill=\"#f6f8fa\" stroke=\"#57606a\"/><text x=\"16\" y=\"")
            .int(y + 19)
            .m("\" font-size=\"13\" font-weight=\"600\" fill=\"#1b1f24\">STUN server</text><text x=\"112\" y=\"")
            .int(y + 19)
            .m("\" font-size=\"13\" fill=\"#1b1f24\">");
        match server {
            Some(a) => h.t_short(&a.to_string(), 30),
            None => h.m("servers"),
        };
        h.m("</text>\n");
    }
    if total > 3 {
        h.m("<text x=\"180\" y=\"")
            .int(servers_top + row * boxes.len() as i64 + 12)
            .m("\" text-anchor=\"middle\" font-size=\"12\" fill=\"#57606a\">and ")
            .int(total - 3)
            .m(" more</text>");
    }
    h.m("<rect x=\"4\" y=\"")
        .int(banner)
        .m("\" width=\"352\" height=\"46\" rx=\"6\" fill=\"")
        .m(fill)
        .m("\" stroke=\"")
        .m(stroke)
        .m("\"/><text x=\"180\" y=\"")
        .int(banner + 19)
        .m("\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"600\" fill=\"#1b1f24\">Peer-to-peer:</text><text x=\"180\" y=\"")
        .int(banner + 37)
        .m("\" text-anchor=\"middle\" font-size=\"12\" fill=\"#1b1f24\">")
        .t(v.p2p.sentence())
        .m("</text>\n</svg>");
}

/// A vertical arrow at `x` from `y1` down to `y2` (head at `y2`).
fn down_arrow(h: &mut Html, x: i64, y1: i64, y2: i64) {
    h.m("<line x1=\"")
        .int(x)
        .m("\" y1=\"")
        .int(y1)
        .m("\" x2=\"")
        .int(x)
        .m("\" y2=\"")
        .int(y2 - 8)
        .m("\" stroke=\"#57606a\" stroke-width=\"2\"/><polygon points=\"")
        .int(x - 6)
        .m(",")
        .int(y2 - 10)
        .m(" ")
        .int(x)
        .m(",")
        .int(y2)
        .m(" ")
        .int(x + 6)
        .m(",")
        .int(y2 - 10)
        .m("\" fill=\"#57606a\"/>\n");
}

/// A horizontal arrow at height `y` from `x1` to `x2` (head at `x2`).
fn arrow(h: &mut Html, x1: i64, y: i64, x2: i64) {
    h.m("<line x1=\"")
        .int(x1)
        .m("\" y1=\"")
        .int(y)
        .m("\" x2=\"")
        .int(x2 - 8)
        .m("\" y2=\"")
        .int(y)
        .m("\" stroke=\"#57606a\" stroke-width=\"2\"/><polygon points=\"")
        .int(x2 - 10)
        .m(",")
        .int(y - 6)
        .m(" ")
        .int(x2)
        .m(",")
        .int(y)
        .m(" ")
        .int(x2 - 10)
        .m(",")
        .int(y + 6)
        .m("\" fill=\"#57606a\"/>\n");
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;

    /// The text of the wide and narrow NAT diagrams.
    fn diagrams(html: &str) -> &str {
        let start = html.find("<svg id=\"nat-diagram\"").expect("diagram");
        let end = start + html[start..].find("</figure>").expect("figure closed");
        &html[start..end]
    }

    #[test]
    fn device_shows_the_socket_whose_mapping_is_shown() {
        // The STUN binding to stun1 mapped 192.0.2.10:40000 to the verdict's
        // public 203.0.113.7:40000: that is the device's socket.
        let html = super::super::render(&fixture("synthetic.json"));
        let d = diagrams(&html);
        assert!(d.contains("public: 203.0.113.7:40000"), "{d}");
        assert_eq!(d.matches("local 192.0.2.10:40000").count(), 2, "{d}");
        assert!(!d.contains("192.0.2.10:40001"), "{d}");
        assert!(d.contains("STUN binding to stun:stun1.example.net"), "{d}");
    }

    #[test]
    fn device_never_shows_another_probes_socket() {
        // The lab run: the NAT test's socket (public 127.0.0.1:38705) is no
        // STUN binding's; the STUN bindings' sockets (0.0.0.0:54990, ...)
        // must not be drawn beside it. No NAT: the public address is the
        // local socket.
        let html = super::super::render(&fixture("full.json"));
        let d = diagrams(&html);
        assert!(d.contains("public: 127.0.0.1:38705"), "{d}");
        assert_eq!(d.matches("local 127.0.0.1:38705").count(), 2, "{d}");
        assert!(!d.contains("0.0.0.0"), "{d}");
        assert!(!d.contains("54990"), "{d}");

        // Behind a NAT with no matching binding: not known, said so.
        let mut r = fixture("full.json");
        if let model::section::Section::Tested(v) = &mut r.nat {
            v.behind_nat = Some(true);
        }
        let html = super::super::render(&r);
        let d = diagrams(&html);
        assert_eq!(d.matches("local socket not known").count(), 2, "{d}");
        assert!(d.contains("does not record which local socket"), "{d}");
        assert!(!d.contains("54990"), "{d}");
    }
}
