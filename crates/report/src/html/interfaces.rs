//! The interfaces section.

use super::writer::Html;
use super::{close_section, open_section};
use model::interfaces::{AddressScope, InterfaceKind, Interfaces};
use model::section::Section;

pub(super) fn section(h: &mut Html, interfaces: &Section<Interfaces>) {
    let Some(ifs) = open_section(h, "interfaces", "Network interfaces", interfaces, |h, i| {
        let up = i.interfaces.iter().filter(|i| i.up).count();
        h.int(i.interfaces.len())
            .m(" interfaces, ")
            .int(up)
            .m(" up");
        if let Some(g) = &i.default_gateway {
            h.m(" · default route via ").t(&g.interface);
        }
    }) else {
        return;
    };
    match &ifs.default_gateway {
        Some(g) => {
            h.m("<p id=\"default-gateway\">Default route: <code>")
                .t(&g.interface)
                .m("</code>");
            if !g.addresses.is_empty() {
                h.m(" via <code>");
                for (i, a) in g.addresses.iter().enumerate() {
                    if i > 0 {
                        h.m(", ");
                    }
                    h.d(a);
                }
                h.m("</code>");
            }
            h.m("</p>\n");
        }
        None => {
            h.m("<p id=\"default-gateway\" class=\"err\">No default route found.</p>\n");
        }
    }
    if ifs.interfaces.is_empty() {
        h.m("<p class=\"muted\">No interfaces found.</p>\n");
        close_section(h);
        return;
    }
    h.m("<div class=\"scroll\"><table id=\"interfaces-table\"><thead><tr><th>Name</th><th>Kind</th><th>State</th><th>Addresses</th><th>MTU</th><th>MAC</th><th>Gateway</th><th>VPN / tunnel</th></tr></thead><tbody>\n");
    for i in &ifs.interfaces {
        h.m("<tr><td><code>").t(&i.name).m("</code></td><td>");
        h.m(match i.kind {
            InterfaceKind::Ethernet => "ethernet",
            InterfaceKind::Loopback => "loopback",
            InterfaceKind::Tunnel => "tunnel",
            InterfaceKind::Wireless => "wireless",
            InterfaceKind::Bridge => "bridge",
            InterfaceKind::Virtual => "virtual",
            InterfaceKind::Other => "other",
        });
        h.m("</td><td>").m(if i.up {
            "<span class=\"badge pass\">up</span>"
        } else {
            "<span class=\"badge nt\">down</span>"
        });
        h.m("</td><td>");
        for (n, a) in i.addresses.iter().enumerate() {
            if n > 0 {
                h.m("<br>");
            }
            h.m("<code class=\"addr\">")
                .d(a.ip)
                .m("/")
                .int(a.prefix)
                .m("</code>");
            scope_tags(h, a.scope);
        }
        h.m("</td><td class=\"num\">");
        match i.mtu {
            Some(m) => {
                h.int(m);
            }
            None => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        h.m("</td><td><code>");
        match &i.mac {
            Some(m) => {
                h.t(m);
            }
            None => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        h.m("</code></td><td><code class=\"addr\">");
        match i.gateway {
            Some(g) => {
                h.d(g);
            }
            None => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        h.m("</code></td><td>");
        match &i.vpn_hint {
            Some(v) => {
                h.t(v);
            }
            None => {
                h.m("<span class=\"muted\">—</span>");
            }
        }
        h.m("</td></tr>\n");
    }
    h.m("</tbody></table></div>\n");
    close_section(h);
}

fn scope_tags(h: &mut Html, s: AddressScope) {
    let tags: [(bool, &'static str); 7] = [
        (s.loopback, " <span class=\"tag\">loopback</span>"),
        (s.link_local, " <span class=\"tag\">link-local</span>"),
        (s.private, " <span class=\"tag\">private</span>"),
        (s.cgnat, " <span class=\"tag cgnat\">CGNAT</span>"),
        (s.ula, " <span class=\"tag\">ULA</span>"),
        (s.documentation, " <span class=\"tag\">documentation</span>"),
        (s.global, " <span class=\"tag global\">public</span>"),
    ];
    for (on, tag) in tags {
        if on {
            h.m(tag);
        }
    }
}
