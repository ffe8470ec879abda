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
