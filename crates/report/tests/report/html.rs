//! The HTML renderer: content of the fixtures, hostile strings from the
//! network can never become markup, the embedded JSON reads back, and the
//! page fetches nothing.

use model::*;
use report::html::{CONTENT_SECURITY_POLICY, JSON_ELEMENT_ID, render};
use serde_json::{Value, json};
use std::path::PathBuf;

fn fixture(name: &str) -> Report {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/reports")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    report::from_json(&text).expect("fixture is a valid natscope/1 report")
}

/// Every hostile piece, and all of them at once.
const PIECES: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'><svg onload=alert(1)>",
    "</script><script>alert(2)</script>",
    "<!--",
    "]]><style>*{display:none}</style>",
    "\u{1b}[2J\u{1b}]8;;http://attacker.example/\u{7}link\u{1b}]8;;\u{1b}\\",
    "\u{2028}\u{9b}31m&amp;",
];

fn hostile() -> String {
    PIECES.concat()
}

/// A TURN section of the typed shape, every free-text field hostile.
fn hostile_turn(h: &str) -> Value {
    json!({
        "results": [
            {
                "uri": format!("turn:{h}"),
                "transport": "udp",
                "server": "198.51.100.5:3478",
                "ok": false,
                "failed_stage": "allocate",
                "failure": {"kind": "server_error", "code": 420, "reason": h},
                "stages": [
                    {"stage": "unauthenticated_allocate", "status": "passed", "duration_ms": 12.5, "error": null, "note": h},
                    {"stage": "allocate", "status": "failed", "duration_ms": 30.0,
                     "error": {"kind": "server_error", "code": 420, "reason": h}, "note": h},
                    {"stage": "create_permission", "status": "not_tested", "duration_ms": null, "error": null, "note": null}
                ],
                "realm": h,
                "relayed_address": null,
                "mapped_address": null,
                "lifetime_secs": null,
                "peer": null,
                "redirected_from": null,
                "stale_nonce_retried": false,
                "software": h,
                "quality": null
            },
            {
                "uri": h, "transport": "tls", "server": null, "ok": false,
                "failed_stage": "tls_handshake",
                "failure": {"kind": "tls_name_mismatch", "server_name": h},
                "stages": [
                    {"stage": "dns", "status": "failed", "duration_ms": 1.0,
                     "error": {"kind": "dns", "detail": h}, "note": null},
                    {"stage": "tls_handshake", "status": "failed", "duration_ms": 2.0,
                     "error": {"kind": "realm_mismatch", "expected": h, "server": h}, "note": null}
                ],
                "realm": null, "relayed_address": null, "mapped_address": null,
                "lifetime_secs": null, "peer": null, "redirected_from": null,
                "stale_nonce_retried": false, "software": null, "quality": null
            }
        ]
    })
}

/// An ICE section of the typed shape, every free-text field hostile.
fn hostile_ice(h: &str) -> Value {
    // The agent's role is an enum now (`a`/`b`): not free text.
    let agent = |role: &str| {
        json!({
            "role": role, "allowed": "relay",
            "candidates": [{"type": "relay", "protocol": h, "address": "198.51.100.7:50000",
                            "related_address": null, "server": h, "gathered_ms": 0.29417499999999996,
                            "used": false, "dropped": h}],
            "server_problems": [{"server": h, "type": "relay", "error": h, "code": 401}],
            "gathering_ms": 3.0, "gathering_complete": false
        })
    };
    json!({
        "runs": [
            {"filter": "relay-relay", "connected": false,
             "failure": {"kind": "turn-error", "server": h, "code": 401, "error": h},
             "agents": [agent("a"), agent("b")], "selected": null, "peer_reflexive_seen": true,
             "time_to_connected_ms": null, "rtt_ms": null, "payload": null, "hairpin": null,
             "data_channel": {"works": false, "failure": h, "time_to_open_ms": null,
                              "dtls_connected_ms": null, "a_to_b": false, "b_to_a": false,
                              "message_rtt_ms": null},
             "duration_ms": 12.0},
            {"filter": "host-host", "connected": false,
             "failure": {"kind": "no-candidates", "agent": "b", "type": "host", "reason": h},
             "agents": [], "selected": null, "peer_reflexive_seen": false,
             "time_to_connected_ms": null, "rtt_ms": null, "payload": null, "hairpin": null,
             "duration_ms": 1.0},
            {"filter": "all", "connected": false,
             "failure": {"kind": "local", "message": h},
             "agents": [], "selected": null, "peer_reflexive_seen": false,
             "time_to_connected_ms": null, "rtt_ms": null, "payload": null,
             "hairpin": {"kind": "required", "public_ip": "203.0.113.7"},
             "duration_ms": 1.0},
            {"filter": "srflx-srflx", "connected": false,
             "failure": {"kind": "timeout", "phase": h},
             "agents": [], "selected": null, "peer_reflexive_seen": false,
             "time_to_connected_ms": null, "rtt_ms": null, "payload": null, "hairpin": null,
             "duration_ms": 1.0}
        ],
        "not_tested": [h]
    })
}

/// A report whose every free-text field holds the hostile string; `turn`
/// and `ice` tested with hostile content.
fn hostile_tested() -> Report {
    let h = hostile();
    let mut v: Value = serde_json::from_str(&fixture("synthetic.json").to_json_pretty())
        .expect("report JSON parses");
    v["command"] = json!(h);
    v["generated_at"] = json!(h);
    v["tool"]["version"] = json!(h);
    v["options"]["servers"] = json!([h]);
    v["options"]["bind"] = json!(h);
    for s in v["stun"]["servers"]
        .as_array_mut()
        .expect("synthetic.json has stun servers")
    {
        s["label"] = json!(h);
        s["uri"] = json!(h);
        s["software"] = json!(h);
        s["error"] = json!(h);
    }
    for e in v["nat"]["evidence"]
        .as_array_mut()
        .expect("synthetic.json has evidence")
    {
        e["test"] = json!(h);
        e["detail"] = json!(h);
    }
    v["nat"]["summary"] = json!(h);
    v["nat"]["disagreements"] = json!([{"aspect": h, "detail": h}]);
    for i in v["interfaces"]["interfaces"]
        .as_array_mut()
        .expect("synthetic.json has interfaces")
    {
        i["name"] = json!(h);
        i["mac"] = json!(h);
        i["vpn_hint"] = json!(h);
    }
    v["interfaces"]["default_gateway"]["interface"] = json!(h);
    v["summary"]["works"] = json!([h]);
    v["summary"]["problems"] = json!([h]);
    v["summary"]["advice"] = json!([h]);
    v["summary"]["checks"] = json!([
        {"id": h, "status": "failed", "reason": h},
        {"id": "turn", "status": "passed", "reason": h}
    ]);
    let mut turn = hostile_turn(&h);
    turn["status"] = json!("tested");
    v["turn"] = turn;
    let mut ice = hostile_ice(&h);
    ice["status"] = json!("tested");
    v["ice"] = ice;
    let pm = &mut v["portmap"];
    for k in ["gateway", "local_ip", "stun_mapped"] {
        pm[k] = json!(h);
    }
    pm["leftover"] = json!([h]);
    pm["double_nat"]["evidence"] = json!([h]);
    for p in pm["protocols"]
        .as_array_mut()
        .expect("synthetic.json has portmap protocols")
    {
        for k in ["protocol", "reason", "server", "external_ip"] {
            p[k] = json!(h);
        }
        p["details"] = json!([[h, h]]);
        p["errors"] = json!([h]);
        p["mapping"] = json!({
            "internal": h, "external_port": 1, "external": h, "lifetime_secs": 30,
            "traffic": "failed", "traffic_reason": h,
            "removed": "failed", "removal_reason": h
        });
    }
    let mut browser = serde_json::to_value(hostile_browser(&h)).expect("browser serializes");
    browser["status"] = json!("tested");
    v["browser"] = browser;
    serde_json::from_value(v).expect("hostile report matches the model")
}

/// A browser section with every free-text field set to `h`.
fn hostile_browser(h: &str) -> model::browser::BrowserSection {
    let mut b = crate::common::browser();
    b.browser.name = h.into();
    b.browser.version = h.into();
    b.browser.user_agent = h.into();
    b.launched = h.into();
    b.not_tested = vec![h.into()];
    for g in &mut b.gathering {
        for c in &mut g.candidates {
            c.protocol = h.into();
            c.address = h.into();
            c.url = Some(h.into());
            c.tcp_type = Some(h.into());
        }
        for e in &mut g.errors {
            e.url = h.into();
            e.text = h.into();
        }
        g.servers.push(model::browser::BrowserServerGathering {
            url: h.into(),
            candidates: 0,
            first_ms: None,
            errors: 1,
        });
    }
    for c in &mut b.connections {
        c.failure = Some(h.into());
        c.peer_saw = Some(h.into());
        c.selected = Some(model::browser::BrowserSelectedPair {
            local: model::ice::CandidateType::Relay,
            local_protocol: h.into(),
            relay_protocol: Some(model::ice::RelayProtocol::Tls),
            remote: model::ice::CandidateType::Host,
            local_address: h.into(),
            remote_address: h.into(),
        });
    }
    b
}

/// Every section not tested or failed, with hostile reasons.
fn hostile_reasons() -> Report {
    let h = hostile();
    let mut r = Report::new(h.clone(), h.clone());
    r.interfaces = Section::not_tested(h.clone());
    r.stun = Section::failed(h.clone());
    r.nat = Section::not_tested(h.clone());
    r.turn = Section::failed(h.clone());
    r.ice = Section::not_tested(h.clone());
    r.portmap = Section::failed(h.clone());
    r.browser = Section::not_tested(h.clone());
    r.audit = Section::not_tested(h.clone());
    r.load = Section::failed(h.clone());
    r
}

/// The text of the embedded JSON element.
fn embedded_json(html: &str) -> &str {
    let open = format!("<script type=\"application/json\" id=\"{JSON_ELEMENT_ID}\">");
    let start = html.find(&open).expect("embedded JSON element") + open.len();
    let len = html[start..]
        .find("</script>")
        .expect("JSON element closed");
    &html[start..start + len]
}

const TAGS: &[&str] = &[
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "main",
    "footer",
    "section",
    "h1",
    "h2",
    "h3",
    "p",
    "ul",
    "li",
    "div",
    "span",
    "strong",
    "code",
    "br",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "figure",
    "figcaption",
    "svg",
    "rect",
    "line",
    "polygon",
    "polyline",
    "circle",
    "text",
    "script",
    "ol",
    "details",
    "summary",
];

const ATTRIBUTES: &[&str] = &[
    "lang",
    "charset",
    "http-equiv",
    "content",
    "name",
    "id",
    "class",
    "data-status",
    "data-id",
    "viewbox",
    "role",
    "aria-labelledby",
    "x",
    "y",
    "x1",
    "y1",
    "x2",
    "y2",
    "width",
    "height",
    "rx",
    "fill",
    "stroke",
    "stroke-width",
    "stroke-dasharray",
    "cx",
    "cy",
    "r",
    "rowspan",
    "text-anchor",
    "font-size",
    "font-weight",
    "points",
    "type",
];

/// Scan every tag of the document: each `<` must open or close one of our
/// known elements, whose attributes are all known names with double-quoted
/// values free of `<`, `"` and URLs. Returns the number of `<script` tags.
fn check_markup(html: &str) -> usize {
    let rest = html
        .strip_prefix("<!DOCTYPE html>\n")
        .expect("document starts with the doctype");
    let mut scripts = 0;
    let mut i = 0;
    let bytes = rest.as_bytes();
    while let Some(off) = rest[i..].find('<') {
        let start = i + off + 1;
        let end = start
            + rest[start..]
                .find('>')
                .unwrap_or_else(|| panic!("unclosed tag at byte {start}"));
        let tag = &rest[start..end];
        i = end + 1;
        let (closing, tag) = match tag.strip_prefix('/') {
            Some(t) => (true, t),
            None => (false, tag),
        };
        let name_len = tag
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(tag.len());
        let name = &tag[..name_len];
        assert!(
            TAGS.contains(&name),
            "unexpected tag <{}{name}> at byte {start}: {:?}",
            if closing { "/" } else { "" },
            &rest[start.saturating_sub(40)..(end + 40).min(rest.len())]
        );
        if name == "script" && !closing {
            scripts += 1;
        }
        // Attributes.
        let attrs = tag[name_len..].trim_end_matches('/');
        let mut a = attrs.trim_start();
        while !a.is_empty() {
            let eq = a
                .find('=')
                .unwrap_or_else(|| panic!("attribute without value in <{tag}>"));
            let attr = a[..eq].trim();
            assert!(
                ATTRIBUTES.contains(&attr.to_ascii_lowercase().as_str()),
                "unexpected attribute {attr:?} in <{tag}>"
            );
            let after = &a[eq + 1..];
            let value_and_rest = after
                .strip_prefix('"')
                .unwrap_or_else(|| panic!("unquoted attribute value in <{tag}>"));
            let close = value_and_rest
                .find('"')
                .unwrap_or_else(|| panic!("unterminated attribute value in <{tag}>"));
            let value = &value_and_rest[..close];
            assert!(!value.contains('<'), "'<' in attribute value in <{tag}>");
            assert!(!value.contains("://"), "URL in attribute value in <{tag}>");
            a = value_and_rest[close + 1..].trim_start();
        }
        // Raw-text elements: skip to their end tag (they must hold no '<').
        if !closing && (name == "style" || name == "script") {
            let close = format!("</{name}>");
            let body_len = rest[i..]
                .find(&close)
                .unwrap_or_else(|| panic!("<{name}> not closed"));
            let body = &rest[i..i + body_len];
            assert!(!body.contains('<'), "'<' inside <{name}>");
            i += body_len;
        }
        let _ = bytes;
    }
    scripts
}

fn assert_safe(report: &Report) -> String {
    let html = render(report);
    for piece in PIECES {
        // The pieces with markup or controls must not appear as such.
        if piece.contains('<') || piece.contains('\u{1b}') {
            assert!(!html.contains(piece), "{piece:?} appears unescaped");
        }
    }
    for bad in [
        "<script>alert",
        "<img",
        "<svg onload",
        "</script><script>",
        "<!--",
        "<style>*",
        "\u{1b}",
        "\u{9b}",
        "\u{7}",
    ] {
        assert!(!html.contains(bad), "{bad:?} in the HTML");
    }
    assert_eq!(check_markup(&html), 1, "only our JSON <script> element");
    let json = embedded_json(&html);
    let back = report::from_json(json).expect("embedded JSON is a natscope/1 report");
    assert_eq!(&back, report, "embedded JSON reads back to the same report");
    html
}

#[test]
fn synthetic_fixture_shows_the_verdict_first() {
    let r = fixture("synthetic.json");
    let html = assert_safe(&r);
    let pos = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from the HTML"))
    };
    assert!(
        pos("id=\"verdict\"") < pos("id=\"nat\"")
            && pos("id=\"nat\"") < pos("id=\"stun\"")
            && pos("id=\"stun\"") < pos("id=\"turn\"")
            && pos("id=\"turn\"") < pos("id=\"ice\"")
            && pos("id=\"ice\"") < pos("id=\"interfaces\"")
    );
    for needle in [
        "2 checks that ran passed",
        "UDP reaches STUN servers (2 of 2 answered)",
        "STUN over TCP to stun.example.org:3478 timed out",
        "Configure a TURN server for peers behind symmetric NATs",
        "<span class=\"badge pass\">✔ passed</span>",
        "<span class=\"badge nt\">not tested</span>",
        "no IPv6 STUN server",
        // NAT.
        "<svg id=\"nat-diagram\"",
        "port restricted cone",
        "endpoint-independent",
        "address-and-port-dependent",
        "TURN needed for peers behind symmetric NATs",
        "Port restricted cone NAT: direct connections with most peers",
        "203.0.113.7:40000",
        "mapping-test-2",
        "no answer from 198.51.100.1:3479 (change port only)",
        // STUN.
        "<table id=\"stun-table\"",
        "<svg id=\"stun-rtt-chart\"",
        "23.4 ms",
        "41.0 ms",
        "example-stun 1.0",
        "no answer within 3000 ms",
        "no answer (timeout)",
        "198.51.100.2:3479",
        // Interfaces.
        "<table id=\"interfaces-table\"",
        "wg0",
        "WireGuard-style name, point-to-point, no MAC",
        "100.64.0.5/32",
        "CGNAT",
        "Default route: <code>eth0</code> via <code>192.0.2.1</code>",
        // Not tested.
        "not tested: no TURN server given",
        "not tested: not implemented yet",
    ] {
        assert!(html.contains(needle), "{needle:?} missing");
    }
    assert_eq!(
        html.matches("<tr><td>stun").count(),
        3,
        "one row per server"
    );
}

#[test]
fn not_tested_fixture_says_why() {
    let r = fixture("not-tested.json");
    let html = assert_safe(&r);
    for needle in [
        "1 of 2 checks failed",
        "not tested: skipped by --no-interfaces",
        "not tested: not applicable: no STUN server answered",
        "not tested: not requested",
        "failed: could not bind a UDP socket: address in use",
        "stun.example.invalid: no A/AAAA record",
        "name did not resolve",
        "<span class=\"badge fail\">✘ failed</span>",
    ] {
        assert!(html.contains(needle), "{needle:?} missing");
    }
    assert!(
        !html.contains("id=\"nat-diagram\""),
        "no diagram without a verdict"
    );
    assert!(!html.contains("id=\"interfaces-table\""));
}

#[test]
fn page_is_self_contained() {
    let html = render(&fixture("full.json"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src &#39;none&#39;; style-src &#39;unsafe-inline&#39;"));
    assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none';"));
    assert!(
        !CONTENT_SECURITY_POLICY.contains("script-src"),
        "no scripts run"
    );
    assert!(
        html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    assert!(html.contains("@media print"));
    assert!(html.contains("@media (max-width: 600px)"));
    for remote in [
        "http://", "https://", "url(", "@import", "src=", "href=", "//fonts",
    ] {
        assert!(
            !html.contains(remote),
            "{remote:?} in a page that must fetch nothing"
        );
    }
}

#[test]
fn hostile_strings_stay_text() {
    let r = hostile_tested();
    let html = assert_safe(&r);
    // They are shown, escaped.
    let shown = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;";
    assert!(html.contains(shown), "hostile text shown escaped");
    assert!(html.contains("&lt;!--"));
    // The terminal escapes are removed, the text around them kept.
    assert!(html.contains("link"));
    // The TURN waterfall and stage table render the hostile reasons.
    assert!(html.contains("id=\"turn-waterfall-1\""));
    assert!(html.contains("class=\"err\">error 420 &lt;script&gt;"));
    assert!(html.contains("TLS: the certificate does not name &lt;script&gt;"));
    // The ICE matrix and candidate table show the hostile ICE strings.
    assert!(html.contains("id=\"ice-matrix\""));
    assert!(html.contains("id=\"ice-candidates-0\""));
    assert!(html.contains("refused (401): &lt;script&gt;"));
    assert!(html.contains("<span class=\"muted\">no: &lt;script&gt;"));
    assert!(html.contains("0.294 ms"));
    assert!(html.contains("1 of 2 checks failed"));
    // The port mapping table, double-NAT evidence and leftovers.
    assert!(html.contains("id=\"portmap-protocols\""));
    assert!(html.contains("<tr><th>&lt;script&gt;alert(1)"));
    assert!(html.contains("<li>&lt;script&gt;alert(1)"));
    assert!(html.contains("<li class=\"err\">&lt;script&gt;alert(1)"));
    // The browser's strings: candidate URL and address, error URL and text,
    // the failure, the selected pair.
    assert!(html.contains("id=\"browser-errors\""));
    assert!(html.contains("id=\"browser-candidates-0\""));
    assert!(html.contains("<td><code>&lt;script&gt;alert(1)"));
    assert!(html.contains("<br><span class=\"err\">&lt;script&gt;alert(1)"));
    assert!(html.contains("<code class=\"addr\">&lt;script&gt;alert(1)"));
}

#[test]
fn synthetic_fixture_shows_port_mapping() {
    let html = assert_safe(&fixture("synthetic.json"));
    for needle in [
        "<section class=\"card\" id=\"portmap\" data-status=\"tested\">",
        "<th>upnp</th>",
        "<th>nat-pmp</th>",
        "<span class=\"badge pass\">available</span>",
        "<span class=\"badge nt\">not available</span>",
        "<code class=\"addr\">100.64.0.2:40002</code>",
        "→ port 40002 (120 s)",
        "no NAT-PMP answer from 192.0.2.1:5351",
        "<strong>Double NAT:</strong> <span class=\"badge fail\">yes</span>",
        "carrier-grade NAT range",
    ] {
        assert!(html.contains(needle), "{needle:?} missing");
    }
    let html = assert_safe(&fixture("not-tested.json"));
    assert!(html.contains("id=\"portmap\" data-status=\"not-tested\""));
}

#[test]
fn hostile_reasons_stay_text() {
    let html = assert_safe(&hostile_reasons());
    assert!(html.contains("not tested: &lt;script&gt;alert(1)"));
    assert!(html.contains("failed: &lt;script&gt;alert(1)"));
    assert!(html.contains("id=\"portmap\" data-status=\"failed\""));
    assert!(html.contains("id=\"browser\" data-status=\"not-tested\""));
    assert!(html.contains("id=\"audit\" data-status=\"not-tested\""));
    assert!(html.contains("id=\"load\" data-status=\"failed\""));
}

/// A TURN result of the typed shape.
fn turn_result(uri: &str, transport: &str, ok: bool, failure: Value, stages: Value) -> Value {
    json!({
        "uri": uri, "transport": transport, "server": "198.51.100.5:3478", "ok": ok,
        "failed_stage": if ok { Value::Null } else { json!("tls_handshake") },
        "failure": failure, "stages": stages, "realm": "example.net",
        "relayed_address": if ok { json!("203.0.113.9:50000") } else { Value::Null },
        "mapped_address": null, "lifetime_secs": if ok { json!(600) } else { Value::Null },
        "peer": null, "redirected_from": null, "stale_nonce_retried": false,
        "software": null, "quality": null
    })
}

#[test]
fn turn_stages_render_as_a_waterfall() {
    let mut r = fixture("synthetic.json");
    let turn = json!({
        "results": [
            turn_result("turn:turn.example.net:3478", "udp", true, Value::Null, json!([
                {"stage": "unauthenticated_allocate", "status": "passed", "duration_ms": 11.0, "error": null, "note": null},
                {"stage": "allocate", "status": "passed", "duration_ms": 14.0, "error": null, "note": "stale nonce, retried once"},
                {"stage": "channel_round_trip", "status": "passed", "duration_ms": 3.5, "error": null, "note": null}
            ])),
            turn_result("turns:turn.example.net:5349", "tls", false, json!({"kind": "tls_unknown_ca"}), json!([
                {"stage": "tcp_connect", "status": "passed", "duration_ms": 2.0, "error": null, "note": null},
                {"stage": "tls_handshake", "status": "failed", "duration_ms": 5.0, "error": {"kind": "tls_unknown_ca"}, "note": null},
                {"stage": "allocate", "status": "not_tested", "duration_ms": null, "error": null, "note": null}
            ]))
        ]
    });
    r.turn = Section::Tested(serde_json::from_value(turn).expect("typed TURN section"));
    let html = assert_safe(&r);
    for needle in [
        "id=\"turn-table\"",
        "id=\"turn-waterfall-0\"",
        "id=\"turn-waterfall-1\"",
        "<code>turn:turn.example.net:3478</code> over UDP <span class=\"badge pass\">✔ works</span>",
        "over TLS <span class=\"badge fail\">✘ fails</span>",
        "Failed at <strong>TLS handshake</strong>: TLS: certificate not signed by a trusted CA",
        "stale nonce, retried once",
        "28.5 ms",
        "fill=\"#c62828\"",
        "✘ TLS: certificate not signed",
        "not run",
        "203.0.113.9:50000",
        "600 s",
    ] {
        assert!(html.contains(needle), "{needle:?} missing");
    }
}

#[test]
fn lab_fixture_renders_turn_and_ice() {
    let r = fixture("full.json");
    let html = assert_safe(&r);
    let turn = r.turn.tested().expect("TURN tested in the lab fixture");
    for i in 0..turn.results.len() {
        assert!(
            html.contains(&format!("id=\"turn-waterfall-{i}\"")),
            "waterfall {i}"
        );
    }
    let ice = r.ice.tested().expect("ICE tested in the lab fixture");
    // relay ↔ relay once with every TURN server, once per relay protocol.
    assert_eq!(ice.runs.len(), 8);
    assert_eq!(
        html.matches("<tr id=\"ice-run-").count(),
        8,
        "one matrix row per run"
    );
    for needle in [
        "id=\"ice-matrix\"",
        "<th>host ↔ host</th>",
        "<th>srflx ↔ srflx</th>",
        "<th>relay ↔ relay</th>",
        "<th>relay ↔ relay, TURN-UDP only</th>",
        "<th>relay ↔ relay, TURN-TCP only</th>",
        "<th>relay ↔ relay, TURN-TLS only</th>",
        "<th>relay ↔ host</th>",
        "<th>all types</th>",
        "<strong>relay/UDP → relay/UDP</strong>",
        "<strong>relay/TCP → relay/TCP</strong>",
        "<strong>relay/TLS → relay/TLS</strong>",
        "udp via TURN-TLS",
        "a→b 5/5",
        "hairpinning not exercised",
        "id=\"ice-candidates-7\"",
        "turn:127.0.0.1:",
    ] {
        assert!(html.contains(needle), "{needle:?} missing");
    }
    assert_eq!(
        html.matches("<span class=\"badge pass\">✔ connected</span>")
            .count(),
        ice.runs.iter().filter(|r| r.connected).count()
    );
    // Every duration is rounded (0.1 ms, or 3 significant digits below
    // 1 ms): no number with 6 or more decimals outside the embedded JSON.
    let visible = &html[..html
        .find("<script type=\"application/json\"")
        .expect("JSON element")];
    let long_float = visible
        .as_bytes()
        .windows(8)
        .any(|w| w[0].is_ascii_digit() && w[1] == b'.' && w[2..].iter().all(u8::is_ascii_digit));
    assert!(!long_float, "unrounded number in the page");
    assert!(!visible.contains("0.28949899999999995"));
}

#[test]
fn browser_fixture_renders_the_browser_section() {
    let r = fixture("browser.json");
    let html = assert_safe(&r);
    let pos = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from the HTML"))
    };
    assert!(
        pos("id=\"portmap\"") < pos("id=\"browser\"")
            && pos("id=\"browser\"") < pos("id=\"interfaces\"")
    );
    for needle in [
        "<section class=\"card\" id=\"browser\" data-status=\"tested\"><details class=\"fold\"><summary><h2>Browser",
        "<span class=\"gist\">Chromium 126.0.6478.126 · connected under all and relay · 3 candidate errors</span>",
        "started headless by natscope (chromium)",
        "HeadlessChrome/126.0.6478.126",
        "id=\"browser-gathering\"",
        "<tr><th>all</th><td>2 host, 1 srflx, 1 relay (UDP)</td><td class=\"num\">2</td><td class=\"num\">2</td><td class=\"num\">412.6 ms</td><td>yes</td></tr>",
        "id=\"browser-errors\"",
        "<td class=\"num err\">701</td><td><code>turns:turn.example.net:443</code></td><td>Failed to establish connection</td>",
        "id=\"browser-connections\"",
        "<span class=\"badge pass\">✔ connected</span>",
        "<strong>srflx → host</strong>",
        "<strong>relay/UDP → host</strong>",
        "<code class=\"addr\">198.51.100.20:50004</code> → <code class=\"addr\">192.0.2.10:40000</code>",
        "round trip 0.900 ms",
        "10/10 echoed",
        "2.5 Mbit/s available out",
        "bytes 18342 sent, 17950 received",
        "natscope's peer: ICE connected",
        "id=\"browser-candidates-0\"",
        "id=\"browser-candidates-1\"",
        "id=\"browser-servers-0\"",
        "6b1f0c3e-2a41-4d0e-9c1e-7f3a5d2b8e10.local</code> <span class=\"tag\">mDNS</span>",
        "udp via TURN-UDP",
        "tcp (active)",
        "Not tested: ICE-TCP connectivity",
        "data-id=\"browser-no-relay-candidate\"",
    ] {
        assert!(html.contains(needle), "{needle:?} missing");
    }
    // Other reports carry the section as not run.
    let html = assert_safe(&fixture("full.json"));
    assert!(html.contains("id=\"browser\" data-status=\"not-tested\""));
    assert!(!html.contains("id=\"browser-gathering\""));
}

/// A candidate URL and error text with markup and a terminal escape:
/// escaped, the escape removed, the page still one script element.
#[test]
fn hostile_browser_url_and_error_text_stay_text() {
    let evil = "<script>alert(1)</script>\u{1b}[31mred";
    let mut r = fixture("browser.json");
    if let Section::Tested(b) = &mut r.browser {
        b.gathering[0].errors[0].url = evil.into();
        b.gathering[0].errors[0].text = evil.into();
        b.gathering[0].candidates[2].url = Some(evil.into());
        b.connections[0].outcome = model::browser::BrowserOutcome::Failed;
        b.connections[0].failure = Some(evil.into());
    }
    let html = assert_safe(&r);
    assert!(!html.contains('\u{1b}'));
    // (The embedded JSON keeps the string, as a JSON escape.)
    let visible = &html[..html
        .find("<script type=\"application/json\"")
        .expect("JSON element")];
    assert!(!visible.contains("[31m"));
    assert!(html.contains("<td><code>&lt;script&gt;alert(1)&lt;/script&gt;red</code></td><td>&lt;script&gt;alert(1)&lt;/script&gt;red</td>"));
    assert!(html.contains("<span class=\"badge fail\">✘ failed</span><br><span class=\"err\">&lt;script&gt;alert(1)&lt;/script&gt;red</span>"));
    assert!(html.contains("did not connect under all"));
}

/// The audit and load sections with every free-text field set to `h`.
fn hostile_audit_load(h: &str) -> Report {
    let mut r = crate::common::with_audit_load();
    if let Section::Tested(a) = &mut r.audit {
        let s = &mut a.servers[0];
        s.label = h.into();
        s.uri = h.into();
        s.software = Some(h.into());
        s.product = Some(model::audit::Product {
            name: h.into(),
            version: Some(h.into()),
        });
        s.transports[0].uri = h.into();
        s.transports[1].failure = Some(model::turn::TurnFailure::ServerError {
            code: 500,
            reason: h.into(),
        });
        s.peers[3].outcome = model::audit::AttemptOutcome::NotTested { why: h.into() };
        s.peers[4].outcome = model::audit::AttemptOutcome::Error {
            code: 403,
            reason: h.into(),
        };
    }
    if let Section::Tested(l) = &mut r.load {
        l.label = h.into();
        l.uri = h.into();
        l.errors[0].request = h.into();
        l.errors[0].meaning = h.into();
        l.ended = model::load::LoadEnd::Failed { detail: h.into() };
    }
    r.diagnosis.findings[0].title = h.into();
    r
}

#[test]
fn audit_section_renders_per_server() {
    let r = crate::common::with_audit_load();
    let html = assert_safe(&r);
    let pos = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from the HTML"))
    };
    assert!(
        pos("id=\"turn\"") < pos("id=\"audit\"")
            && pos("id=\"audit\"") < pos("id=\"load\"")
            && pos("id=\"load\"") < pos("id=\"ice\"")
    );
    for needle in [
        "<section class=\"card\" id=\"audit\" data-status=\"tested\"><details class=\"fold\"><summary><h2>TURN audit",
        "<span class=\"gist\">1 server audited · 1 forbidden peer let through</span>",
        "id=\"audit-server-0\"",
        "<tr><th>Address</th><td><code class=\"addr\">198.51.100.5:3478</code></td></tr>",
        "<tr><th>Product</th><td>coturn 4.6.1</td></tr>",
        "granted 5 allocations before 486 Allocation Quota Reached; 4 released",
        "expired credential refused; credential valid for 30 days accepted",
        // Transports.
        "id=\"audit-transports-0\"",
        "<code class=\"addr\">198.51.100.5:50000</code>",
        "<span class=\"muted\">implied</span>",
        "<span class=\"err\">timeout: no answer within 3000 ms</span>",
        // Peers, grouped by category.
        "id=\"audit-peers-0\"",
        "<th rowspan=\"1\">loopback<br><span class=\"muted\">loopback (the server host itself)</span></th><td><code class=\"addr\">127.0.0.1:3478</code></td><td>UDP</td><td>Send</td><td><span class=\"badge fail\">✘ accepted</span></td><td><span class=\"badge fail\">proved</span></td>",
        "<th rowspan=\"2\">private",
        "<td><span class=\"badge pass\">✔ refused</span></td><td><span class=\"muted\">—</span></td>",
        "<span class=\"badge nt\">not tested</span> <span class=\"muted\">no TCP allocation</span>",
        "<span class=\"badge warn\">error 420 Unknown Attribute</span>",
        "Connect (RFC 6062)",
        // The finding's security level beside its severity.
        "<span class=\"badge fail\">critical</span> <span class=\"badge fail security\">security: high</span> <strong>turn.example.net relays to its own host",
    ] {
        assert!(html.contains(needle), "{needle:?} missing");
    }
    // The private group's second row has no category cell.
    assert!(html.contains("<tr><td><code class=\"addr\">192.168.0.1:9</code></td>"));
    // Findings without a security level show none.
    let mut plain = r.clone();
    plain.diagnosis.findings[0].security = None;
    assert!(!render(&plain).contains("security: "));
}

#[test]
fn load_section_renders_with_a_chart() {
    let r = crate::common::with_audit_load();
    let html = assert_safe(&r);
    for needle in [
        "<section class=\"card\" id=\"load\" data-status=\"tested\"><details class=\"fold\"><summary><h2>TURN load",
        "<span class=\"gist\">30 of 31 allocations · loss 1.5 % · strain at 30 allocations</span>",
        "id=\"load-summary\"",
        "30 allocations × 50 packets/s × 160 bytes, 3 steps over 20.0 s, 30.0 s in all",
        "31 attempted, 30 created, <span class=\"err\">1 failed</span>; 12.5 per second",
        "p50 8.2 ms / p95 16.5 ms / p99 24.8 ms, max 33.0 ms",
        "2000 packets/s, 3.2 Mbit/s (60000 packets)",
        "1.5 % (900 probes lost)",
        "<tr><th>End</th><td>ran its full duration</td></tr>",
        "<tr><th>Ignored packets</th><td>2 malformed</td></tr>",
        "<p id=\"load-knee\"><strong>Knee:</strong> <span class=\"badge warn\">strain</span> at 30 allocations (1500 packets/s offered): loss over 1 %</p>",
        // The chart, wide and narrow: two series and a legend.
        "<svg class=\"wide load-chart\" id=\"load-chart\" viewBox=\"0 0 640 260\" role=\"img\">",
        "<svg class=\"narrow load-chart\" id=\"load-chart-narrow\"",
        "loss %</text>",
        "RTT p50 (ms)</text>",
        "allocations streaming</text>",
        "stroke=\"#c62828\" stroke-width=\"2\"/>",
        "stroke-dasharray=\"5 3\"/>",
        // Steps, the knee's row marked; errors.
        "id=\"load-steps\"",
        "<tr class=\"knee\"><td class=\"num\">20.0 s</td><td class=\"num\">30 <span class=\"tag\">knee</span></td>",
        "<td class=\"num err\">4.0 %</td>",
        "id=\"load-errors\"",
        "<tr><td class=\"num err\">486</td><td>Allocate</td><td class=\"num\">1</td><td>486 Allocation Quota Reached</td></tr>",
    ] {
        assert!(html.contains(needle), "{needle:?} missing");
    }
    let svg = chart(&html, "load-chart");
    assert_eq!(svg.matches("<polyline ").count(), 2, "{svg}");
    assert_eq!(svg.matches("<circle ").count(), 3, "{svg}");
    assert_eq!(svg.matches("<rect ").count(), 3, "{svg}");
    // Points: loss 4 % is the top of a 5 % scale, at 30 of 30 allocations.
    assert!(svg.contains(" 576.0,74.8\""), "{svg}");
}

/// The `<svg id=...>` element, whole.
fn chart<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("{id} missing"));
    let start = html[..at].rfind("<svg").expect("svg opened");
    let end = at + html[at..].find("</svg>").expect("svg closed") + "</svg>".len();
    &html[start..end]
}

#[test]
fn load_chart_handles_few_steps_and_missing_values() {
    // One step: one marker per series, no line.
    let mut r = crate::common::with_audit_load();
    if let Section::Tested(l) = &mut r.load {
        l.steps.truncate(1);
        l.knee = None;
    }
    let html = assert_safe(&r);
    let svg = chart(&html, "load-chart");
    assert_eq!(svg.matches("<polyline ").count(), 0, "{svg}");
    assert_eq!(svg.matches("<circle ").count(), 1, "{svg}");
    assert_eq!(svg.matches("<rect ").count(), 1, "{svg}");
    assert!(html.contains("none: the server kept up at every step"));
    assert!(
        html.contains("<span class=\"gist\">30 of 31 allocations · loss 1.5 % · no knee</span>")
    );

    // A gap: the middle step has no loss and no RTT, hostile values
    // (NaN, negative) are left out.
    let mut r = crate::common::with_audit_load();
    if let Section::Tested(l) = &mut r.load {
        l.steps[1].loss_percent = None;
        l.steps[1].rtt_p50_ms = None;
        l.steps[2].rtt_p50_ms = Some(-1.0);
    }
    let html = assert_safe(&r);
    let svg = chart(&html, "load-chart");
    assert_eq!(svg.matches("<polyline ").count(), 0, "{svg}");
    assert_eq!(svg.matches("<circle ").count(), 2, "{svg}");
    assert_eq!(svg.matches("<rect ").count(), 1, "{svg}");
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");

    // Nothing measured at all: the chart says so.
    let mut r = crate::common::with_audit_load();
    if let Section::Tested(l) = &mut r.load {
        for s in &mut l.steps {
            s.loss_percent = None;
            s.rtt_p50_ms = None;
            s.allocations = 0;
        }
    }
    let html = assert_safe(&r);
    assert!(chart(&html, "load-chart").contains("no loss or round trip measured"));

    // No step: no chart.
    let mut r = crate::common::with_audit_load();
    if let Section::Tested(l) = &mut r.load {
        l.steps.clear();
        l.knee = None;
        l.ended = model::load::LoadEnd::NoAllocation {
            detail: "486 on every Allocate".into(),
        };
    }
    let html = assert_safe(&r);
    assert!(!html.contains("id=\"load-chart\""));
    assert!(!html.contains("id=\"load-steps\""));
    assert!(html.contains("No ramp step was measured."));
    assert!(
        html.contains(
            "<span class=\"err\">no allocation could be made: 486 on every Allocate</span>"
        )
    );
}

#[test]
fn audit_and_load_not_run_render_nothing() {
    let r = fixture("full.json");
    assert_eq!(r.audit.reason(), Some("not run"));
    assert_eq!(r.load.reason(), Some("not run"));
    let html = assert_safe(&r);
    assert!(!html.contains("id=\"audit\""), "audit not run: nothing");
    assert!(!html.contains("id=\"load\""), "load not run: nothing");
    assert!(!html.contains("TURN audit") && !html.contains("TURN load"));
    let mut r = Report::new("turn", "2025-01-15T10:30:00Z");
    r.audit = Section::not_tested("skipped (--no-audit)");
    let html = assert_safe(&r);
    assert!(html.contains("id=\"audit\" data-status=\"not-tested\""));
    assert!(html.contains("not tested: skipped (--no-audit)"));
    assert!(!html.contains("id=\"load\""));
}

#[test]
fn hostile_audit_and_load_strings_stay_text() {
    let evil = "<script>alert(1)</script>\u{1b}[31mred";
    let r = hostile_audit_load(evil);
    let html = assert_safe(&r);
    let visible = &html[..html
        .find("<script type=\"application/json\"")
        .expect("JSON element")];
    assert!(!visible.contains("[31m"));
    let shown = "&lt;script&gt;alert(1)&lt;/script&gt;red";
    for needle in [
        // The server's SOFTWARE, label, URI and product.
        format!("<tr><th>Software</th><td><code>{shown}</code></td></tr>"),
        format!("<h3>{shown}</h3>"),
        format!("<tr><th>Product</th><td>{shown} {shown}</td></tr>"),
        // Reason phrases of a failure and an attempt, why not tested.
        format!("<span class=\"err\">error 500 {shown}</span>"),
        format!("<span class=\"badge warn\">error 403 {shown}</span>"),
        format!("<span class=\"muted\">{shown}</span>"),
        // The load's error meaning, request and end.
        format!("<td>{shown}</td><td class=\"num\">1</td><td>{shown}</td>"),
        format!("<span class=\"err\">stopped early: {shown}</span>"),
        format!("<strong>{shown}</strong>"),
    ] {
        assert!(html.contains(&needle), "{needle:?} missing");
    }
    // And the whole hostile set.
    let r = hostile_audit_load(&hostile());
    let html = assert_safe(&r);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img"));
}

/// The text of the section with element id `id`.
fn section_of<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section class=\"card\" id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = start + html[start..].find("</section>").expect("section closed");
    &html[start..end]
}

#[test]
fn ipv6_verdict_has_its_own_section_with_firewall_words() {
    let r = crate::common::with_nat_ipv6("");
    let html = assert_safe(&r);
    let pos = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from the HTML"))
    };
    assert!(
        pos("id=\"nat\"") < pos("id=\"nat-ipv6\"") && pos("id=\"nat-ipv6\"") < pos("id=\"stun\"")
    );

    let v4 = section_of(&html, "nat");
    assert!(v4.contains("<h2>NAT type (IPv4) <span"), "{v4}");
    assert!(
        v4.contains("<tr><th>Translation</th><td>NAT</td></tr>"),
        "{v4}"
    );
    assert!(v4.contains(">NAT</text>"), "IPv4 NAT box: {v4}");

    let v6 = section_of(&html, "nat-ipv6");
    assert!(v6.contains("data-status=\"tested\""), "{v6}");
    for needle in [
        "<h2>NAT type (IPv6) <span",
        // Its own ids, none shared with the IPv4 section.
        "id=\"nat-ipv6-summary\"",
        "id=\"nat-ipv6-details\"",
        "id=\"nat-ipv6-servers\"",
        "id=\"nat-ipv6-evidence\"",
        "<svg id=\"nat-ipv6-diagram\"",
        "<svg id=\"nat-ipv6-diagram-narrow\"",
        "aria-labelledby=\"nat-ipv6-diagram-title\"",
        // Translation shown; the mapping says there is none; the
        // filtering is the firewall's, in RFC 6092 terms.
        "<tr><th>Translation</th><td>none (the host's own address)</td></tr>",
        "<strong>Translation</strong> (what rewrites your address): none: the servers see this host's own address",
        "<strong>Mapping</strong>: none — no translation",
        "<strong>Filtering</strong> by the firewall (who may send to you): address-and-port-dependent: a stateful firewall admits only replies",
        "RFC 6092",
        // The diagram's middle box is the firewall.
        ">Firewall (no NAT)</text>",
        "Your device sends through the firewall",
        "<tr><th>Behind a NAT</th><td>no</td></tr>",
        "[2001:db8:1::10]:40002",
    ] {
        assert!(v6.contains(needle), "{needle:?} missing in:\n{v6}");
    }
    assert!(!v6.contains("the NAT gives you"), "no NAT words: {v6}");
    assert_eq!(
        v6.matches("id=\"nat-").count(),
        v6.matches("id=\"nat-ipv6").count(),
        "ids prefixed nat-ipv6: {v6}"
    );
    // Each id once in the page.
    for id in [
        "nat-summary",
        "nat-details",
        "nat-diagram",
        "nat-ipv6-summary",
        "nat-ipv6-diagram",
    ] {
        assert_eq!(html.matches(&format!("id=\"{id}\"")).count(), 1, "{id}");
    }

    // The verdict card names both families.
    let verdict = section_of(&html, "verdict");
    assert!(
        verdict.contains("<strong>NAT (IPv4):</strong> "),
        "{verdict}"
    );
    assert!(
        verdict.contains(
            "<strong>NAT (IPv6):</strong> no NAT; a stateful firewall admits only replies"
        ),
        "{verdict}"
    );
}

#[test]
fn ipv6_middle_box_names_the_translation() {
    for (t, label) in [
        (Some(natclass::Translation::Nptv6), ">NPTv6</text>"),
        (Some(natclass::Translation::Nat), ">NAT66</text>"),
    ] {
        let mut r = crate::common::with_nat_ipv6("");
        if let Section::Tested(v) = &mut r.nat_ipv6 {
            v.translation = t;
            v.behind_nat = Some(true);
        }
        let html = assert_safe(&r);
        let v6 = section_of(&html, "nat-ipv6");
        assert_eq!(
            v6.matches(label).count(),
            2,
            "wide and narrow {label}: {v6}"
        );
    }
}

#[test]
fn without_an_ipv6_verdict_the_nat_section_is_unchanged() {
    let html = assert_safe(&fixture("synthetic.json"));
    assert!(!html.contains("id=\"nat-ipv6\""), "not run: nothing");
    assert!(html.contains("<h2>NAT type <span"));
    assert!(html.contains("<p><strong>NAT:</strong> "));
    assert!(!html.contains("Translation"));
    let mut r = fixture("synthetic.json");
    r.nat_ipv6 = Section::not_tested("no IPv6 STUN server");
    let html = assert_safe(&r);
    assert!(html.contains("<h2>NAT type <span"));
    let v6 = section_of(&html, "nat-ipv6");
    assert!(v6.contains("data-status=\"not-tested\""), "{v6}");
    assert!(v6.contains("not tested: no IPv6 STUN server"), "{v6}");
}

#[test]
fn hostile_ipv6_verdict_strings_stay_text() {
    let r = crate::common::with_nat_ipv6(&hostile());
    let html = assert_safe(&r);
    let v6 = section_of(&html, "nat-ipv6");
    let shown = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;";
    assert!(
        v6.matches(shown).count() >= 2,
        "summary (lead) and evidence escaped: {v6}"
    );
    let verdict = section_of(&html, "verdict");
    assert!(
        verdict.contains(shown),
        "the card's IPv6 sentence: {verdict}"
    );
}
