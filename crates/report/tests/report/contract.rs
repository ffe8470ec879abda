//! The JSON contract (docs/json.md): paths, shapes, round trips, fixtures,
//! hostile input and the JSON Schema.

use crate::common;
use model::*;
use report::*;
use serde_json::{Value, json};

fn to_value(r: &Report) -> Value {
    serde_json::from_str(&r.to_json_pretty()).expect("to_json_pretty writes valid JSON")
}

fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer)
        .unwrap_or_else(|| panic!("missing JSON path {pointer}"))
}

#[test]
fn documented_paths_hold() {
    let v = to_value(&common::full());
    assert_eq!(at(&v, "/schema"), "natscope/3");
    assert_eq!(at(&v, "/tool/name"), "natscope");
    assert_eq!(at(&v, "/tool/version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(at(&v, "/generated_at"), "2025-01-15T10:30:00Z");
    assert_eq!(at(&v, "/command"), "diagnose");
    assert_eq!(at(&v, "/options/timeout_ms"), 3000);
    // Sections: status beside the flattened content.
    assert_eq!(at(&v, "/nat/status"), "tested");
    assert_eq!(at(&v, "/nat/mapping"), "endpoint-independent");
    assert_eq!(at(&v, "/nat/filtering"), "address-and-port-dependent");
    assert_eq!(at(&v, "/nat/public"), "203.0.113.7:40000");
    assert_eq!(at(&v, "/nat/hairpinning"), &Value::Null);
    assert_eq!(at(&v, "/nat/evidence/0/test"), "mapping-test-2");
    assert!(v.pointer("/nat/reason").is_none());
    assert_eq!(at(&v, "/stun/status"), "tested");
    assert_eq!(at(&v, "/stun/servers/0/mapped"), "203.0.113.7:40000");
    assert_eq!(at(&v, "/stun/servers/0/transport"), "udp");
    assert_eq!(at(&v, "/stun/servers/0/outcome"), "ok");
    assert_eq!(at(&v, "/stun/servers/0/rtt_ms"), 23.4);
    assert_eq!(at(&v, "/stun/servers/0/rfc5780"), true);
    assert_eq!(at(&v, "/stun/servers/0/software"), "example-stun 1.0");
    assert_eq!(at(&v, "/stun/servers/1/outcome"), "timeout");
    assert_eq!(at(&v, "/stun/servers/1/transport"), "tcp");
    assert_eq!(at(&v, "/stun/servers/1/rfc5780"), &Value::Null);
    assert_eq!(at(&v, "/stun/servers/1/mapped"), &Value::Null);
    assert_eq!(at(&v, "/stun/agreement/ipv4/answered"), 1);
    assert_eq!(at(&v, "/stun/agreement/ipv4/same_ip"), &Value::Null);
    assert_eq!(at(&v, "/stun/agreement/ipv4/public_ips/0"), "203.0.113.7");
    assert_eq!(at(&v, "/stun/counters/malformed"), 2);
    assert_eq!(at(&v, "/interfaces/status"), "tested");
    assert_eq!(at(&v, "/interfaces/interfaces/0/kind"), "ethernet");
    assert_eq!(
        at(&v, "/interfaces/interfaces/0/addresses/0/ip"),
        "192.0.2.10"
    );
    assert_eq!(
        at(
            &v,
            "/interfaces/interfaces/0/addresses/0/scope/documentation"
        ),
        true
    );
    assert_eq!(
        at(&v, "/interfaces/interfaces/0/addresses/0/scope/global"),
        false
    );
    assert_eq!(at(&v, "/interfaces/default_gateway/interface"), "eth0");
    // Not tested and failed sections: status + reason only.
    assert_eq!(
        at(&v, "/turn"),
        &json!({"status": "not-tested", "reason": "no TURN server given"})
    );
    assert_eq!(
        at(&v, "/ice"),
        &json!({"status": "failed", "reason": "could not bind a UDP socket"})
    );
    assert_eq!(at(&v, "/summary/checks/0/id"), "udp");
    assert_eq!(at(&v, "/summary/checks/0/status"), "passed");
    assert_eq!(at(&v, "/summary/checks/1/status"), "not-tested");
}

#[test]
fn schema_and_status_come_first() {
    let text = common::full().to_json_pretty();
    assert!(
        text.starts_with("{\n  \"schema\": \"natscope/3\","),
        "schema must be the first key:\n{text}"
    );
    let nat = text.find("\"nat\": {").expect("nat section present");
    assert!(text[nat..].starts_with("\"nat\": {\n    \"status\": \"tested\","));
}

#[test]
fn round_trips() {
    let full = common::full();
    let back = report::from_json(&full.to_json_pretty()).expect("own output reads back");
    assert_eq!(back, full);

    let browser = common::with_browser();
    let back = report::from_json(&browser.to_json_pretty()).expect("own output reads back");
    assert_eq!(back, browser);

    let empty = Report::new("stun", "2025-01-15T10:30:00Z");
    let back = report::from_json(&empty.to_json_pretty()).expect("own output reads back");
    assert_eq!(back, empty);
    assert_eq!(back.nat.reason(), Some("not run"));
    assert_eq!(back.nat.status_str(), "not-tested");
}

#[test]
fn fixtures_parse_and_round_trip() {
    let mut seen = 0;
    for entry in std::fs::read_dir(common::fixtures_dir()).expect("fixtures/reports exists") {
        let path = entry.expect("readable dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable fixture");
        let report = report::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let again = report::from_json(&report.to_json_pretty()).expect("re-read");
        assert_eq!(again, report, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 2, "expected at least 2 fixtures, found {seen}");
}

#[test]
fn fixtures_have_expected_content() {
    let text = std::fs::read_to_string(common::fixtures_dir().join("synthetic.json"))
        .expect("synthetic.json exists");
    let r = report::from_json(&text).expect("synthetic fixture parses");
    let nat = r.nat.tested().expect("nat tested in synthetic.json");
    assert_eq!(nat.mapping, natclass::Behaviour::EndpointIndependent);
    let stun = r.stun.tested().expect("stun tested in synthetic.json");
    assert_eq!(stun.servers.len(), 3);
    assert_eq!(stun.servers[2].outcome, Outcome::Timeout);
    let ifs = r
        .interfaces
        .tested()
        .expect("interfaces tested in synthetic.json");
    assert!(ifs.interfaces[2].vpn_hint.is_some());
    assert_eq!(r.turn.reason(), Some("no TURN server given"));

    // full.json is a real `natscope diagnose --lab --format json` run.
    let text = std::fs::read_to_string(common::fixtures_dir().join("full.json"))
        .expect("full.json exists");
    let r = report::from_json(&text).expect("full fixture parses");
    let turn = r.turn.tested().expect("turn tested in full.json");
    let transports: Vec<_> = turn.results.iter().map(|t| t.transport).collect();
    assert_eq!(
        transports,
        [
            turn::TurnTransport::Udp,
            turn::TurnTransport::Tcp,
            turn::TurnTransport::Tls
        ]
    );
    assert!(
        turn.results
            .iter()
            .all(|t| t.ok && t.relayed_address.is_some())
    );
    let ice = r.ice.tested().expect("ice tested in full.json");
    let runs: Vec<_> = ice.runs.iter().map(|r| (r.filter, r.relay_only)).collect();
    // relay-relay with every TURN server, then once per relay protocol.
    use ice::{IceFilter as F, RelayProtocol as P};
    assert_eq!(
        runs,
        [
            (F::HostHost, None),
            (F::SrflxSrflx, None),
            (F::RelayRelay, None),
            (F::RelayRelay, Some(P::Udp)),
            (F::RelayRelay, Some(P::Tcp)),
            (F::RelayRelay, Some(P::Tls)),
            (F::RelayHost, None),
            (F::All, None)
        ]
    );
    assert!(ice.runs.iter().all(|r| r.connected));
    // Each restricted run's pair is relayed over its own protocol on both
    // ends.
    for r in ice.runs.iter().filter(|r| r.relay_only.is_some()) {
        let pair = r.selected.as_ref().expect("connected runs have a pair");
        assert_eq!(pair.local_relay_protocol, r.relay_only);
        assert_eq!(pair.remote_relay_protocol, r.relay_only);
    }
    let relay = &ice.runs[2];
    let pair = relay
        .selected
        .as_ref()
        .expect("relay↔relay selected a pair");
    assert_eq!(
        (pair.local_type, pair.remote_type),
        (ice::CandidateType::Relay, ice::CandidateType::Relay)
    );
    let ids: Vec<&str> = r.summary.checks.iter().map(|c| c.id.as_str()).collect();
    for id in [
        "udp",
        "stun",
        "nat-eim",
        "turn-udp",
        "turn-tcp",
        "turn-tls",
        "ice-host",
        "ice-srflx",
        "ice-relay",
        "ice-relay-udp",
        "ice-relay-tcp",
        "ice-relay-tls",
    ] {
        assert!(ids.contains(&id), "check {id} missing: {ids:?}");
    }

    let text = std::fs::read_to_string(common::fixtures_dir().join("not-tested.json"))
        .expect("not-tested.json exists");
    let r = report::from_json(&text).expect("not-tested fixture parses");
    assert!(r.interfaces.tested().is_none());
    assert!(matches!(r.nat, Section::NotTested { .. }));
    assert!(matches!(r.ice, Section::Failed { .. }));
    assert!(r.summary.any_failed());
}

#[test]
fn reports_without_portmap_read_as_not_run() {
    let mut v = to_value(&common::full());
    assert_eq!(
        at(&v, "/portmap"),
        &json!({"status": "not-tested", "reason": "not run"})
    );
    v.as_object_mut().expect("object").remove("portmap");
    let r = report::from_json(&v.to_string()).expect("a report older than portmap reads");
    assert_eq!(r.portmap.status_str(), "not-tested");
    assert_eq!(r.portmap.reason(), Some("not run"));
    // And it comes right after `ice` in the JSON.
    let text = common::full().to_json_pretty();
    let (ice, pm, summary) = (
        text.find("\n  \"ice\":").expect("ice"),
        text.find("\n  \"portmap\":").expect("portmap"),
        text.find("\n  \"summary\":").expect("summary"),
    );
    assert!(ice < pm && pm < summary);
}

#[test]
fn browser_paths_hold() {
    let v = to_value(&common::with_browser());
    assert_eq!(at(&v, "/browser/status"), "tested");
    assert_eq!(at(&v, "/browser/browser/name"), "Firefox");
    assert_eq!(at(&v, "/browser/launched"), "firefox");
    assert_eq!(at(&v, "/browser/gathering/0/policy"), "all");
    assert_eq!(at(&v, "/browser/gathering/1/policy"), "relay");
    assert_eq!(at(&v, "/browser/gathering/0/candidates/0/type"), "host");
    assert_eq!(at(&v, "/browser/gathering/0/candidates/0/mdns"), true);
    assert_eq!(
        at(&v, "/browser/gathering/0/candidates/0/url"),
        &Value::Null
    );
    assert_eq!(
        at(&v, "/browser/gathering/0/candidates/0/relay_protocol"),
        &Value::Null
    );
    assert_eq!(
        at(&v, "/browser/gathering/0/candidates/1/tcp_type"),
        "active"
    );
    assert_eq!(
        at(&v, "/browser/gathering/0/candidates/3/relay_protocol"),
        "udp"
    );
    assert!(
        v.pointer("/browser/gathering/0/candidates/0/kind")
            .is_none()
    );
    assert_eq!(at(&v, "/browser/gathering/0/errors/0/code"), 701);
    assert_eq!(
        at(&v, "/browser/gathering/0/servers/1/first_ms"),
        &Value::Null
    );
    assert_eq!(at(&v, "/browser/connections/0/outcome"), "connected");
    assert_eq!(at(&v, "/browser/connections/1/outcome"), "timed-out");
    assert_eq!(at(&v, "/browser/connections/1/selected"), &Value::Null);
    assert_eq!(at(&v, "/browser/connections/0/selected/local"), "srflx");
    assert_eq!(
        at(&v, "/browser/connections/0/selected/relay_protocol"),
        &Value::Null
    );
    assert_eq!(
        at(&v, "/browser/connections/0/stats/bytes_received"),
        &Value::Null
    );
    assert_eq!(at(&v, "/browser/not_tested/0"), "ICE-TCP connectivity");
}

#[test]
fn reports_without_browser_read_as_not_run() {
    let mut v = to_value(&common::full());
    assert_eq!(
        at(&v, "/browser"),
        &json!({"status": "not-tested", "reason": "not run"})
    );
    v.as_object_mut().expect("object").remove("browser");
    let r = report::from_json(&v.to_string()).expect("a report older than browser reads");
    assert_eq!(r.browser.status_str(), "not-tested");
    assert_eq!(r.browser.reason(), Some("not run"));
    // Right after `portmap` in the JSON.
    let text = common::full().to_json_pretty();
    let (pm, browser, summary) = (
        text.find("\n  \"portmap\":").expect("portmap"),
        text.find("\n  \"browser\":").expect("browser"),
        text.find("\n  \"summary\":").expect("summary"),
    );
    assert!(pm < browser && browser < summary);
}

#[test]
fn browser_fixture_has_a_browser_section() {
    let text = std::fs::read_to_string(common::fixtures_dir().join("browser.json"))
        .expect("browser.json exists");
    let r = report::from_json(&text).expect("browser fixture parses");
    assert_eq!(r.command, "browser");
    let b = r.browser.tested().expect("browser tested in browser.json");
    assert_eq!(b.browser.name, "Chromium");
    use browser::{BrowserOutcome as O, BrowserPolicy as P};
    let policies: Vec<_> = b.gathering.iter().map(|g| g.policy).collect();
    assert_eq!(policies, [P::All, P::Relay]);
    let all = b.gathering(P::All).expect("policy all");
    assert!(all.candidates.iter().any(|c| c.mdns));
    assert!(!all.errors.is_empty());
    let relay = b.gathering(P::Relay).expect("policy relay");
    assert!(
        relay
            .candidates
            .iter()
            .all(|c| c.kind == ice::CandidateType::Relay)
    );
    assert!(b.connections.iter().all(|c| c.outcome == O::Connected));
    let ids: Vec<&str> = r.summary.checks.iter().map(|c| c.id.as_str()).collect();
    for id in ["browser-gather", "browser-connect", "browser-relay"] {
        assert!(ids.contains(&id), "check {id} missing: {ids:?}");
    }
    assert!(r.turn.tested().is_some(), "natscope's own TURN test");
    // Written by this natscope: reading and writing it changes nothing but
    // the sections added since, which it lacks and which come back as not
    // run.
    let mut again: Value = serde_json::from_str(&r.to_json_pretty()).expect("JSON");
    let original: Value = serde_json::from_str(&text).expect("JSON");
    for key in ["audit", "load", "nat_ipv6", "peer"] {
        if original.get(key).is_none() {
            let added = again
                .as_object_mut()
                .expect("object")
                .remove(key)
                .unwrap_or_else(|| panic!("{key} written"));
            assert_eq!(added, json!({"status": "not-tested", "reason": "not run"}));
        }
    }
    assert_eq!(again, original);
}

#[test]
fn synthetic_fixture_has_a_portmap_section() {
    let text = std::fs::read_to_string(common::fixtures_dir().join("synthetic.json"))
        .expect("synthetic.json exists");
    let r = report::from_json(&text).expect("synthetic fixture parses");
    let pm = r
        .portmap
        .tested()
        .expect("portmap tested in synthetic.json");
    let names: Vec<&str> = pm.protocols.iter().map(|p| p.protocol.as_str()).collect();
    assert_eq!(names, ["upnp", "nat-pmp", "pcp"]);
    assert_eq!(pm.protocols[0].status, portmap::PortmapStatus::Available);
    assert_eq!(pm.protocols[1].status, portmap::PortmapStatus::NotAvailable);
    let m = pm.protocols[0].mapping.as_ref().expect("UPnP mapping");
    assert_eq!(m.removed, portmap::CheckStatus::Passed);
    assert_eq!(m.traffic, portmap::CheckStatus::NotTested);
    assert_eq!(pm.double_nat.detected, Some(true));
    let v: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(at(&v, "/portmap/protocols/0/details/0/0"), "control_url");
}

#[test]
fn unknown_fields_are_ignored() {
    let mut v = to_value(&common::full());
    v["future_top_level"] = json!({"x": 1});
    v["stun"]["servers"][0]["future_field"] = json!("y");
    v["nat"]["future_verdict_field"] = json!([1, 2]);
    v["turn"] = json!({"status": "tested", "results": [], "future_turn_field": 1});
    v["ice"] = json!({"status": "tested", "runs": [], "not_tested": [], "future": {"x": [1]}});
    let r = report::from_json(&v.to_string()).expect("additive changes stay readable");
    assert!(r.turn.tested().is_some_and(|t| t.results.is_empty()));
    assert!(r.ice.tested().is_some_and(|i| i.runs.is_empty()));
}

#[test]
fn rejects_other_schemas() {
    let mut v = to_value(&common::full());
    v["schema"] = json!("natscope/4");
    assert_eq!(
        report::from_json(&v.to_string()),
        Err(ReportError::UnsupportedSchema {
            found: "natscope/4".into()
        })
    );
    v["schema"] = json!("\u{1b}[2Jevil");
    match report::from_json(&v.to_string()) {
        Err(ReportError::UnsupportedSchema { found }) => assert_eq!(found, "evil"),
        other => panic!("expected UnsupportedSchema, got {other:?}"),
    }
    v.as_object_mut().expect("object").remove("schema");
    assert_eq!(
        report::from_json(&v.to_string()),
        Err(ReportError::MissingSchema)
    );
}

#[test]
fn rejects_bad_sections() {
    let good = to_value(&common::full());
    let cases = [
        ("/nat", json!({"status": "maybe"})),
        ("/nat", json!({"status": "not-tested"})),
        ("/nat", json!({"mapping": "endpoint-independent"})),
        ("/nat", json!({"status": "tested"})),
        ("/stun", json!("tested")),
        ("/turn", json!({"status": "tested"})),
        (
            "/turn",
            json!({"status": "tested", "results": [{"uri": "turn:x"}]}),
        ),
        (
            "/ice",
            json!({"status": "tested", "runs": 3, "not_tested": []}),
        ),
        (
            "/stun",
            json!({"status": "tested", "servers": 5, "agreement": {}, "counters": {}}),
        ),
    ];
    for (path, bad) in cases {
        let mut v = good.clone();
        *v.pointer_mut(path).expect("path exists") = bad.clone();
        let err = report::from_json(&v.to_string());
        assert!(
            matches!(err, Err(ReportError::Invalid { .. })),
            "{path} = {bad} accepted: {err:?}"
        );
    }
}

#[test]
fn garbage_never_panics() {
    let full = common::full().to_json_pretty();
    let mut inputs: Vec<String> = vec![
        String::new(),
        "null".into(),
        "[]".into(),
        "42".into(),
        "\"natscope/1\"".into(),
        "{".into(),
        "{\"schema\": \"natscope/1\"}".into(),
        "{\"schema\": 1}".into(),
        "\u{0}\u{ff}garbage".into(),
        "[".repeat(100_000),
        format!("{{\"schema\":\"natscope/1\",\"x\":{}", "[".repeat(10_000)),
        format!(
            "{}{}",
            "{\"a\":".repeat(5_000),
            "1".to_owned() + &"}".repeat(5_000)
        ),
    ];
    // Every truncation of a valid document.
    for cut in (0..full.len()).step_by(7) {
        if full.is_char_boundary(cut) {
            inputs.push(full[..cut].to_owned());
        }
    }
    // Deep nesting inside an opaque section.
    let mut v = to_value(&common::full());
    v["turn"] = json!({"status": "tested"});
    let deep = format!("{}1{}", "[".repeat(1_000), "]".repeat(1_000));
    let doc = v.to_string().replacen(
        "\"turn\":{\"status\":\"tested\"}",
        &format!("\"turn\":{{\"status\":\"tested\",\"deep\":{deep}}}"),
        1,
    );
    assert!(doc.contains("\"deep\""), "injection worked");
    inputs.push(doc);

    for input in &inputs {
        let result = std::panic::catch_unwind(|| report::from_json(input));
        let result = result.unwrap_or_else(|_| panic!("from_json panicked on {:.60?}", input));
        assert!(result.is_err(), "accepted garbage {:.60?}", input);
        if let Err(e) = result {
            let msg = e.to_string();
            assert!(!msg.chars().any(char::is_control), "{msg:?}");
        }
    }
}

#[test]
fn error_messages_are_sanitised() {
    let mut v = to_value(&common::full());
    v["stun"]["servers"][0]["outcome"] = json!("\u{1b}]8;;http://x/\u{7}boom\u{1b}[2J");
    let err = report::from_json(&v.to_string()).expect_err("unknown outcome rejected");
    let msg = err.to_string();
    assert!(
        !msg.contains('\u{1b}') && !msg.chars().any(char::is_control),
        "{msg:?}"
    );
    assert!(msg.contains("boom"), "{msg}");
}

#[test]
fn audit_and_load_round_trip() {
    let r = common::with_audit_load();
    let text = r.to_json_pretty();
    let back = report::from_json(&text).expect("own output reads back");
    assert_eq!(back, r);
    assert_eq!(back.audit, Section::Tested(common::audit()));
    assert_eq!(back.load, Section::Tested(common::load()));
    // Each section alone, through serde_json.
    let audit = common::audit();
    let again: audit::AuditSection =
        serde_json::from_str(&serde_json::to_string(&audit).expect("serializes")).expect("parses");
    assert_eq!(again, audit);
    let load = common::load();
    let again: load::LoadSection =
        serde_json::from_str(&serde_json::to_string(&load).expect("serializes")).expect("parses");
    assert_eq!(again, load);
    // Every outcome and end shape survives too.
    let mut r = common::with_audit_load();
    if let Section::Tested(a) = &mut r.audit {
        a.servers[0].peers[0].outcome = audit::AttemptOutcome::Attempted;
        a.servers[0].peers[1].outcome = audit::AttemptOutcome::Timeout { after_ms: 3000 };
        a.servers[0].quota = None;
        a.servers[0].rest = None;
        a.servers[0].product = None;
    }
    for ended in [
        load::LoadEnd::Interrupted,
        load::LoadEnd::ServerSilent { after_ms: 5000 },
        load::LoadEnd::NoAllocation {
            detail: "486".into(),
        },
        load::LoadEnd::Redirected {
            to: Some(common::addr("198.51.100.9:3478")),
        },
        load::LoadEnd::Redirected { to: None },
        load::LoadEnd::Failed {
            detail: "socket closed".into(),
        },
    ] {
        if let Section::Tested(l) = &mut r.load {
            l.ended = ended;
            l.knee = None;
        }
        let back = report::from_json(&r.to_json_pretty()).expect("reads back");
        assert_eq!(back, r);
    }
}

#[test]
fn audit_and_load_paths_hold() {
    let v = to_value(&common::with_audit_load());
    assert_eq!(at(&v, "/audit/status"), "tested");
    assert_eq!(at(&v, "/audit/servers/0/address"), "198.51.100.5:3478");
    assert_eq!(at(&v, "/audit/servers/0/product/name"), "coturn");
    assert_eq!(at(&v, "/audit/servers/0/transports/1/given"), false);
    assert_eq!(
        at(&v, "/audit/servers/0/transports/1/failure/kind"),
        "timeout"
    );
    assert_eq!(at(&v, "/audit/servers/0/peers/0/category"), "loopback");
    assert_eq!(at(&v, "/audit/servers/0/peers/0/via"), "send");
    assert_eq!(
        at(&v, "/audit/servers/0/peers/0/outcome"),
        &json!({"result": "accepted"})
    );
    assert_eq!(at(&v, "/audit/servers/0/peers/0/delivered"), true);
    assert_eq!(at(&v, "/audit/servers/0/peers/1/delivered"), &Value::Null);
    assert_eq!(
        at(&v, "/audit/servers/0/peers/3/outcome"),
        &json!({"result": "not-tested", "why": "no TCP allocation"})
    );
    assert_eq!(at(&v, "/audit/servers/0/quota/stopped_by"), 486);
    assert_eq!(at(&v, "/audit/servers/0/rest/long_lived_accepted"), true);
    assert_eq!(at(&v, "/load/status"), "tested");
    assert_eq!(at(&v, "/load/transport"), "udp");
    assert_eq!(at(&v, "/load/config/allocations"), 30);
    assert_eq!(at(&v, "/load/allocations/time/p50_ms"), 8.25);
    assert_eq!(at(&v, "/load/steps/2/loss_percent"), 4.0);
    assert_eq!(at(&v, "/load/knee/reason"), "loss");
    assert_eq!(at(&v, "/load/ended"), &json!({"reason": "completed"}));
    assert_eq!(at(&v, "/diagnosis/findings/0/security"), "high");
    // Other findings have no `security` key at all.
    let plain = to_value(&common::full());
    assert!(
        plain["diagnosis"]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .all(|f| f.get("security").is_none())
    );
}

#[test]
fn reports_without_audit_or_load_read_as_not_run() {
    let mut v = to_value(&common::full());
    for key in ["audit", "load", "nat_ipv6"] {
        assert_eq!(
            at(&v, &format!("/{key}")),
            &json!({"status": "not-tested", "reason": "not run"})
        );
        v.as_object_mut().expect("object").remove(key);
    }
    let r = report::from_json(&v.to_string()).expect("a report older than audit/load reads");
    assert_eq!(r.audit.reason(), Some("not run"));
    assert_eq!(r.load.reason(), Some("not run"));
    assert_eq!(r.nat_ipv6.reason(), Some("not run"));
}

mod schema {
    use super::*;

    #[test]
    fn audit_and_load_validate_and_broken_ones_do_not() {
        let v = validator();
        let doc = to_value(&common::with_audit_load());
        assert_eq!(errors(&v, &doc), Vec::<String>::new());
        // Older reports without the sections, and sections not tested.
        let mut old = doc.clone();
        old.as_object_mut().expect("object").remove("audit");
        old.as_object_mut().expect("object").remove("load");
        assert_eq!(errors(&v, &old), Vec::<String>::new());
        let mut r = common::with_audit_load();
        r.audit = Section::not_tested("skipped");
        r.load = Section::failed("no socket");
        assert_eq!(errors(&v, &to_value(&r)), Vec::<String>::new());
        // Every outcome and end shape.
        let mut r = common::with_audit_load();
        if let Section::Tested(a) = &mut r.audit {
            a.servers[0].peers[0].outcome = audit::AttemptOutcome::Attempted;
            a.servers[0].peers[1].outcome = audit::AttemptOutcome::Timeout { after_ms: 3000 };
            a.servers[0].quota = None;
            a.servers[0].rest = None;
            a.servers[0].product = None;
            a.servers[0].software = None;
            a.servers[0].transports[0].relayed_ipv6 = Some(common::addr("[2001:db8::5]:50000"));
        }
        if let Section::Tested(l) = &mut r.load {
            l.ended = load::LoadEnd::Redirected { to: None };
            l.knee = None;
            l.allocations.time = load::Percentiles::default();
        }
        assert_eq!(errors(&v, &to_value(&r)), Vec::<String>::new());
        for (path, bad) in [
            ("/audit/servers/0/peers/0/category", json!("intranet")),
            ("/audit/servers/0/peers/0/via", json!("CreatePermission")),
            (
                "/audit/servers/0/peers/0/outcome",
                json!({"result": "maybe"}),
            ),
            (
                "/audit/servers/0/peers/3/outcome",
                json!({"result": "not-tested"}),
            ),
            (
                "/audit/servers/0/peers/4/outcome",
                json!({"result": "error", "code": 420}),
            ),
            ("/audit/servers/0/peers/0/peer", json!("localhost")),
            ("/audit/servers/0/peers/0/delivered", json!("yes")),
            ("/audit/servers/0/transports/0/port", json!(70000)),
            ("/audit/servers/0/transports/0/transport", json!("quic")),
            ("/audit/servers/0/quota/granted", json!(-1)),
            ("/audit/servers/0/product", json!({"name": "coturn"})),
            ("/audit/servers", json!(null)),
            ("/audit", json!({"status": "tested"})),
            ("/load/transport", json!("quic")),
            ("/load/steps/0/loss_percent", json!("none")),
            ("/load/steps/0/allocations", json!(-3)),
            ("/load/knee/reason", json!("jitter")),
            ("/load/ended", json!({"reason": "exploded"})),
            ("/load/ended", json!({"reason": "server-silent"})),
            ("/load/traffic/rtt", json!({"count": 1})),
            ("/load/errors/0/code", json!("486")),
            ("/load", json!({"status": "tested"})),
            ("/diagnosis/findings/0/security", json!("critical")),
        ] {
            let mut bad_doc = doc.clone();
            *bad_doc
                .pointer_mut(path)
                .unwrap_or_else(|| panic!("{path} exists")) = bad.clone();
            assert!(!v.is_valid(&bad_doc), "schema accepted {path} = {bad}");
        }
        let mut bad_doc = doc.clone();
        bad_doc["load"]
            .as_object_mut()
            .expect("object")
            .remove("steps");
        assert!(
            !v.is_valid(&bad_doc),
            "schema accepted a load without steps"
        );
    }

    fn validator() -> jsonschema::Validator {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../docs/natscope-3.schema.json"),
        )
        .expect("docs/natscope-3.schema.json exists");
        let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::draft202012::new(&schema).expect("schema compiles")
    }

    fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
        validator
            .iter_errors(doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    #[test]
    fn generated_reports_validate() {
        let v = validator();
        for r in [
            common::full(),
            common::with_browser(),
            common::with_audit_load(),
            Report::new("stun", "2025-01-15T10:30:00Z"),
        ] {
            let doc = to_value(&r);
            assert_eq!(errors(&v, &doc), Vec::<String>::new());
        }
        // A NatVerdict::unknown()-shaped verdict (everything null/unknown).
        let mut r = common::full();
        let mut nat = common::verdict();
        nat.public = None;
        nat.behind_nat = None;
        nat.evidence.clear();
        r.nat = Section::Tested(nat);
        assert_eq!(errors(&v, &to_value(&r)), Vec::<String>::new());
    }

    #[test]
    fn fixtures_validate() {
        let v = validator();
        for name in [
            "full.json",
            "synthetic.json",
            "not-tested.json",
            "browser.json",
        ] {
            let text =
                std::fs::read_to_string(common::fixtures_dir().join(name)).expect("fixture exists");
            let doc: Value = serde_json::from_str(&text).expect("fixture is JSON");
            assert_eq!(errors(&v, &doc), Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn schema_rejects_broken_documents() {
        let v = validator();
        let good = to_value(&common::full());
        let cases = [
            ("/schema", json!("natscope/2")),
            ("/nat/status", json!("maybe")),
            ("/nat/mapping", json!("cone")),
            ("/stun/servers/0/outcome", json!("great")),
            ("/stun/servers/0/mapped", json!("not an address")),
            ("/turn", json!({"status": "not-tested"})),
            ("/summary/checks/0/status", json!("ok")),
            ("/interfaces/interfaces/0/kind", json!("satellite")),
            ("/portmap", json!({"status": "tested"})),
        ];
        for (path, bad) in cases {
            let mut doc = good.clone();
            *doc.pointer_mut(path).expect("path exists") = bad.clone();
            assert!(!v.is_valid(&doc), "schema accepted {path} = {bad}");
        }
        // The typed TURN and ICE sections of the lab fixture.
        let text = std::fs::read_to_string(common::fixtures_dir().join("full.json"))
            .expect("full.json exists");
        let lab: Value = serde_json::from_str(&text).expect("fixture is JSON");
        assert!(v.is_valid(&lab));
        for (path, bad) in [
            ("/turn/results/0/transport", json!("carrier-pigeon")),
            ("/turn/results/0/stages/1/stage", json!("handshake")),
            ("/turn/results/0/stages/1/status", json!("ok")),
            (
                "/turn/results/0/failure",
                json!({"kind": "server_error", "code": 420}),
            ),
            ("/turn/results/0/relayed_address", json!("nowhere")),
            ("/turn/results/0/ok", json!("yes")),
            ("/ice/runs/0/filter", json!("host-relay")),
            ("/ice/runs/0/connected", json!(null)),
            ("/ice/runs/0/selected/local_type", json!("stun")),
            ("/ice/runs/0/agents/0/candidates/0/address", json!("x")),
            (
                "/ice/runs/0/failure",
                json!({"kind": "no-candidates", "agent": "a"}),
            ),
            ("/ice/runs/1/hairpin", json!({"kind": "required"})),
            (
                "/nat/servers",
                json!([{"server": "198.51.100.1:3478", "status": "grumpy"}]),
            ),
        ] {
            let mut doc = lab.clone();
            *doc.pointer_mut(path)
                .unwrap_or_else(|| panic!("{path} exists in full.json")) = bad.clone();
            assert!(!v.is_valid(&doc), "schema accepted {path} = {bad}");
        }
        let mut doc = lab.clone();
        doc["ice"]["runs"][0]
            .as_object_mut()
            .expect("object")
            .remove("agents");
        assert!(
            !v.is_valid(&doc),
            "schema accepted an ICE run without agents"
        );

        // The typed portmap section of the synthetic fixture.
        let text = std::fs::read_to_string(common::fixtures_dir().join("synthetic.json"))
            .expect("synthetic.json exists");
        let synthetic: Value = serde_json::from_str(&text).expect("fixture is JSON");
        assert!(v.is_valid(&synthetic));
        for (path, bad) in [
            ("/portmap/protocols/0/protocol", json!("upnp2")),
            ("/portmap/protocols/0/status", json!("maybe")),
            ("/portmap/protocols/0/mapping/removed", json!("yes")),
            ("/portmap/protocols/0/mapping/external_port", json!(70000)),
            ("/portmap/protocols/0/details/0", json!(["only-a-key"])),
            ("/portmap/double_nat/detected", json!("yes")),
            ("/portmap/skipped", json!(null)),
        ] {
            let mut doc = synthetic.clone();
            *doc.pointer_mut(path)
                .unwrap_or_else(|| panic!("{path} exists in synthetic.json")) = bad.clone();
            assert!(!v.is_valid(&doc), "schema accepted {path} = {bad}");
        }

        // The typed browser section (the serde shapes: `type` for the
        // candidate type, kebab-case outcomes, nullable options).
        let browser = to_value(&common::with_browser());
        assert!(v.is_valid(&browser));
        for (path, bad) in [
            ("/browser/gathering/0/policy", json!("any")),
            ("/browser/gathering/0/complete", json!(null)),
            ("/browser/gathering/0/candidates/0/type", json!("stun")),
            ("/browser/gathering/0/candidates/0/port", json!(70000)),
            ("/browser/gathering/0/candidates/0/mdns", json!("yes")),
            (
                "/browser/gathering/0/candidates/3/relay_protocol",
                json!("dtls"),
            ),
            ("/browser/gathering/0/errors/0/code", json!("701")),
            ("/browser/gathering/0/servers/1/first_ms", json!("never")),
            ("/browser/connections/0/outcome", json!("timed_out")),
            ("/browser/connections/1/outcome", json!("timeout")),
            ("/browser/connections/0/selected/local", json!("host-udp")),
            ("/browser/connections/0/stats/bytes_sent", json!(-1)),
            ("/browser/connections/0/round_trip_ms", json!("1 ms")),
            ("/browser/browser", json!({"name": "Firefox"})),
            ("/browser", json!({"status": "tested"})),
        ] {
            let mut doc = browser.clone();
            *doc.pointer_mut(path)
                .unwrap_or_else(|| panic!("{path} exists in the browser report")) = bad.clone();
            assert!(!v.is_valid(&doc), "schema accepted {path} = {bad}");
        }
        // `kind` is written `type`; an Option is always present (null).
        for (at, key) in [
            ("/browser/gathering/0/candidates/0", "type"),
            ("/browser/gathering/0/candidates/0", "url"),
            ("/browser/connections/1", "selected"),
            ("/browser/connections/0/stats", "bytes_received"),
        ] {
            let mut doc = browser.clone();
            doc.pointer_mut(at)
                .and_then(Value::as_object_mut)
                .unwrap_or_else(|| panic!("{at} is an object"))
                .remove(key);
            assert!(!v.is_valid(&doc), "schema accepted {at} without {key}");
        }

        let mut doc = good.clone();
        doc["nat"]
            .as_object_mut()
            .expect("object")
            .remove("mapping");
        assert!(
            !v.is_valid(&doc),
            "schema accepted a tested nat without mapping"
        );
    }
}

#[test]
fn docs_example_is_the_full_fixture_and_reads() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/json.md"),
    )
    .expect("docs/json.md exists");
    let start = docs.find("## Example").expect("example heading");
    let body = &docs[start..];
    let open = body.find("```json\n").expect("json block") + "```json\n".len();
    let close = body[open..].find("```").expect("closed block") + open;
    let example = &body[open..close];
    report::from_json(example).expect("the documented example is a valid report");
    let fixture = std::fs::read_to_string(common::fixtures_dir().join("full.json"))
        .expect("full.json exists");
    let a: Value = serde_json::from_str(example).expect("example is JSON");
    let b: Value = serde_json::from_str(&fixture).expect("fixture is JSON");
    assert_eq!(
        a, b,
        "docs/json.md example and fixtures/reports/full.json differ"
    );
}

#[test]
fn older_schemas_still_read() {
    // Real `diagnose --lab` runs written by natscope/1 (snake_case TURN
    // values, `pass` / `fail`) and natscope/2 (`pass` / `fail`, no
    // diagnosis): both read, and come back in today's spelling.
    for (name, schema) in [
        ("natscope-1-full.json", "natscope/1"),
        ("natscope-2-full.json", "natscope/2"),
    ] {
        let text = std::fs::read_to_string(common::fixtures_dir().join("older").join(name))
            .expect("older fixture exists");
        assert!(
            text.contains(&format!("\"schema\": \"{schema}\"")),
            "{name}"
        );
        assert!(
            text.contains("\"status\": \"pass\""),
            "{name} uses the old words"
        );
        let r = report::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.schema, model::SCHEMA, "{name}");
        assert!(!r.summary.checks.is_empty(), "{name}");
        assert!(
            r.summary
                .checks
                .iter()
                .all(|c| c.status == CheckStatus::Pass || c.status == CheckStatus::NotTested),
            "{name}: {:?}",
            r.summary.checks
        );
        let turn = r.turn.tested().expect("turn tested");
        assert!(turn.results.iter().all(|t| t.ok), "{name}");
        let again = r.to_json_pretty();
        assert!(!again.contains("\"pass\""), "{name} is rewritten as passed");
        assert!(again.contains("\"passed\""), "{name}");
        assert!(!again.contains("unauthenticated_allocate"), "{name}");
    }
}
