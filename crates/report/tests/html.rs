//! The HTML renderer: content of the fixtures, hostile strings from the
//! network can never become markup, the embedded JSON reads back, and the
//! page fetches nothing.

use report::html::{CONTENT_SECURITY_POLICY, JSON_ELEMENT_ID, render};
use report::*;
use serde_json::{Value, json};
use std::path::PathBuf;

fn fixture(name: &str) -> Report {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/reports")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Report::from_json(&text).expect("fixture is a valid natscope/1 report")
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

/// A TURN section shaped like the probe's results, with hostile text.
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
                    {"stage": h, "status": "failed", "duration_ms": 30.0,
                     "error": {"kind": "server_error", "code": 420, "reason": h}, "note": null},
                    {"stage": "create_permission", "status": "not_tested", "duration_ms": null, "error": null, "note": null}
                ],
                "realm": h,
                "software": h
            }
        ],
        h: {h: [h, 1, true, null]}
    })
}

fn hostile_ice(h: &str) -> Value {
    json!({
        "pairs": [
            {"local_type": "host", "remote_type": "host", "state": "succeeded", "detail": h},
            {"local_type": "srflx", "remote_type": h, "state": "failed", "detail": h}
        ],
        "note": h
    })
}

/// A report whose every free-text field holds the hostile string; `turn`
/// and `ice` tested with hostile content.
fn hostile_tested() -> Report {
    let h = hostile();
    let mut v: Value =
        serde_json::from_str(&fixture("full.json").to_json_pretty()).expect("report JSON parses");
    v["command"] = json!(h);
    v["generated_at"] = json!(h);
    v["tool"]["version"] = json!(h);
    v["options"]["servers"] = json!([h]);
    v["options"]["bind"] = json!(h);
    for s in v["stun"]["servers"]
        .as_array_mut()
        .expect("full.json has stun servers")
    {
        s["label"] = json!(h);
        s["uri"] = json!(h);
        s["software"] = json!(h);
        s["error"] = json!(h);
    }
    for e in v["nat"]["evidence"]
        .as_array_mut()
        .expect("full.json has evidence")
    {
        e["test"] = json!(h);
        e["detail"] = json!(h);
    }
    v["nat"]["summary"] = json!(h);
    v["nat"]["disagreements"] = json!([{"aspect": h, "detail": h}]);
    for i in v["interfaces"]["interfaces"]
        .as_array_mut()
        .expect("full.json has interfaces")
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
        {"id": h, "status": "fail", "reason": h},
        {"id": "turn", "status": "pass", "reason": h}
    ]);
    let mut turn = hostile_turn(&h);
    turn["status"] = json!("tested");
    v["turn"] = turn;
    let mut ice = hostile_ice(&h);
    ice["status"] = json!("tested");
    v["ice"] = ice;
    serde_json::from_value(v).expect("hostile report matches the model")
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
    let back = Report::from_json(json).expect("embedded JSON is a natscope/1 report");
    assert_eq!(&back, report, "embedded JSON reads back to the same report");
    html
}

#[test]
fn full_fixture_shows_the_verdict_first() {
    let r = fixture("full.json");
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
        "All 2 checks that ran passed",
        "UDP reaches STUN servers (2 of 2 answered)",
        "STUN over TCP to stun.example.org:3478 timed out",
        "Configure a TURN server for peers behind symmetric NATs",
        "<span class=\"badge pass\">pass</span>",
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
        "Problems found: 1 of 2 checks failed",
        "not tested: skipped by --no-interfaces",
        "not tested: not applicable: no STUN server answered",
        "not tested: not requested",
        "failed: could not bind a UDP socket: address in use",
        "stun.example.invalid: no A/AAAA record",
        "name did not resolve",
        "<span class=\"badge fail\">fail</span>",
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
    // The TURN waterfall and stage table render the hostile stage and error.
    assert!(html.contains("id=\"turn-waterfall-0\""));
    assert!(html.contains("class=\"err\">server error (code: 420, reason: &lt;script&gt;"));
    assert!(html.contains("id=\"ice-matrix\""));
    assert!(html.contains("Problems found: 1 of 2 checks failed"));
}

#[test]
fn hostile_reasons_stay_text() {
    let html = assert_safe(&hostile_reasons());
    assert!(html.contains("not tested: &lt;script&gt;alert(1)"));
    assert!(html.contains("failed: &lt;script&gt;alert(1)"));
}

#[test]
fn turn_stages_render_as_a_waterfall() {
    let mut r = fixture("full.json");
    let Value::Object(turn) = json!({
        "results": [
            {"uri": "turn:turn.example.net:3478", "transport": "udp", "ok": true,
             "failed_stage": null, "failure": null,
             "stages": [
                {"stage": "unauthenticated_allocate", "status": "passed", "duration_ms": 11.0, "error": null, "note": null},
                {"stage": "allocate", "status": "passed", "duration_ms": 14.0, "error": null, "note": "stale nonce, retried once"},
                {"stage": "channel_round_trip", "status": "passed", "duration_ms": 3.5, "error": null, "note": null}
             ],
             "relayed_address": "203.0.113.9:50000", "lifetime_secs": 600},
            {"uri": "turns:turn.example.net:5349", "transport": "tls", "ok": false,
             "failed_stage": "tls_handshake", "failure": {"kind": "tls_unknown_ca"},
             "stages": [
                {"stage": "tcp_connect", "status": "passed", "duration_ms": 2.0, "error": null, "note": null},
                {"stage": "tls_handshake", "status": "failed", "duration_ms": 5.0, "error": {"kind": "tls_unknown_ca"}, "note": null},
                {"stage": "allocate", "status": "not_tested", "duration_ms": null, "error": null, "note": null}
             ]}
        ]
    }) else {
        unreachable!("literal is an object")
    };
    r.turn = Section::Tested(turn);
    let html = assert_safe(&r);
    for needle in [
        "id=\"turn-waterfall-0\"",
        "id=\"turn-waterfall-1\"",
        "<code>turn:turn.example.net:3478</code> over UDP <span class=\"badge pass\">works</span>",
        "over TLS <span class=\"badge fail\">fails</span>",
        "Failed at <strong>tls handshake</strong>: tls unknown ca",
        "stale nonce, retried once",
        "28.5 ms",
        "✗ tls unknown ca",
        "not run",
        "203.0.113.9:50000",
    ] {
        assert!(html.contains(needle), "{needle:?} missing");
    }
}

#[test]
fn unknown_opaque_content_is_a_key_value_table() {
    let mut r = fixture("full.json");
    let Value::Object(ice) = json!({"gathered": {"host": 2, "srflx": 1}, "connected": false})
    else {
        unreachable!("literal is an object")
    };
    r.ice = Section::Tested(ice);
    let html = assert_safe(&r);
    assert!(html.contains("<tr><th>host</th><td>2</td></tr>"));
    assert!(html.contains("<tr><th>connected</th><td>no</td></tr>"));
    assert!(!html.contains("id=\"ice-matrix\""));
}

#[test]
fn deep_opaque_content_is_bounded() {
    let mut deep = json!("bottom");
    for _ in 0..100 {
        deep = json!({ "d": deep });
    }
    let mut r = fixture("full.json");
    let Value::Object(turn) = deep else {
        unreachable!("literal is an object")
    };
    r.turn = Section::Tested(turn);
    let html = render(&r);
    assert!(html.contains('…'));
    assert!(!html.contains("bottom</td>"));
}
