//! The `peer` section (`natscope peer`): its JSON contract and schema,
//! the table and the HTML page, hostile strings from the other side, and
//! the page of a whole session made from the two sides' reports.

use crate::common;
use model::peer::{PeerRole, PeerSection};
use model::*;
use report::merge::{PairError, Which, pair};
use report::table::TableOptions;
use serde_json::{Value, json};

const PLAIN: TableOptions = TableOptions {
    color: false,
    width: None,
};

/// Markup, a script end, terminal escapes (clear screen, an OSC 8 link,
/// C1 CSI) and a bidi override, as a hostile peer would put into its
/// version or reasons.
const HOSTILE: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>\u{1b}[2J\u{1b}]8;;http://attacker.example/\u{7}link\u{1b}]8;;\u{1b}\\\u{9b}31m\u{202e}evil";

fn to_value(r: &Report) -> Value {
    serde_json::to_value(r).expect("a report serializes")
}

fn real(role: &str) -> Report {
    report::from_json(&common::peer_fixture(role)).expect("a real peer report reads")
}

fn assert_no_controls(out: &str) {
    for (i, c) in out.char_indices() {
        assert!(
            c == '\n' || !c.is_control(),
            "control character {c:?} at byte {i} in:\n{out}"
        );
    }
    assert!(!out.contains('\u{202e}'), "bidi override left in:\n{out}");
}

/// `page` without its embedded JSON elements (where text is JSON-escaped,
/// not HTML, and never shown).
fn shown(page: &str) -> String {
    let mut out = String::new();
    let mut rest = page;
    while let Some(at) = rest.find("<script type=\"application/json\"") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find("</script>").expect("a closed script") + at;
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn assert_html_clean(page: &str) {
    assert!(!page.contains("<script>alert"), "markup got through");
    assert!(!page.contains("<img src=x"), "markup got through");
    assert!(
        !page.contains("onerror=alert(2)>"),
        "an attribute got through"
    );
    assert!(!page.contains('\u{1b}') && !page.contains('\u{9b}'));
    assert!(
        !shown(page).contains('\u{202e}'),
        "a bidi override is shown"
    );
    // The only scripts are the JSON data elements.
    assert_eq!(
        page.matches("<script").count(),
        page.matches("<script type=\"application/json\"").count()
    );
}

// ---------------------------------------------------------------------------
// JSON contract
// ---------------------------------------------------------------------------

#[test]
fn peer_round_trips_and_paths_hold() {
    let r = common::with_peer(PeerRole::Creator, "");
    let back = report::from_json(&r.to_json_pretty()).expect("own output reads back");
    assert_eq!(back, r);
    let v = to_value(&r);
    let at = |p: &str| v.pointer(p).unwrap_or_else(|| panic!("{p} missing"));
    assert_eq!(at("/peer/status"), "tested");
    assert_eq!(at("/peer/session"), "5f2a9c0e7b1d4a36");
    assert_eq!(at("/peer/role"), "creator");
    assert_eq!(at("/peer/observed"), "hole-punched");
    assert_eq!(at("/peer/prediction_held"), true);
    assert_eq!(at("/peer/predicted/outcome"), "direct-likely");
    assert_eq!(at("/peer/policies/0/policy"), "direct");
    assert_eq!(at("/peer/policies/0/outcome"), "success");
    assert_eq!(at("/peer/policies/0/path"), "srflx-srflx");
    assert_eq!(at("/peer/policies/0/ice/selected/local_type"), "srflx");
    assert_eq!(at("/peer/policies/1/policy"), "relay-allowed");
    assert_eq!(at("/peer/holepunch/status"), "tested");
    assert_eq!(
        at("/peer/holepunch/attempts/0/got_through"),
        "local-to-remote"
    );
    assert_eq!(at("/peer/holepunch/first_attempt_success"), false);
    // Optional fields are absent, never null.
    assert!(v.pointer("/peer/failure").is_none());
    assert!(v.pointer("/peer/policies/1/ice").is_none());
    assert!(
        v.pointer("/peer/holepunch/attempts/0/first_in_ms")
            .is_none()
    );

    let mut r = Report::new("peer", "2025-01-15T10:30:00Z");
    r.peer = Section::Tested(common::peer_failed());
    let back = report::from_json(&r.to_json_pretty()).expect("failure-only reads back");
    assert_eq!(back, r);
    let v = to_value(&r);
    assert_eq!(v["peer"]["failure"]["kind"], "unknown-session");
    assert!(v["peer"].get("session").is_none());
    assert_eq!(
        v["peer"]["holepunch"],
        json!({"status": "not-tested", "reason": "the session never began"})
    );
}

#[test]
fn reports_without_peer_read_as_not_run() {
    let mut v = to_value(&common::full());
    assert_eq!(
        v["peer"],
        json!({"status": "not-tested", "reason": "not run"})
    );
    v.as_object_mut().expect("object").remove("peer");
    let r = report::from_json(&v.to_string()).expect("a report older than peer reads");
    assert_eq!(r.peer.reason(), Some("not run"));
}

mod schema {
    use super::*;

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
    fn real_and_constructed_peer_reports_validate() {
        let v = validator();
        // Real ones: both sides of a session, and a joiner with a wrong code.
        for role in ["creator", "joiner", "failed"] {
            let doc: Value =
                serde_json::from_str(&common::peer_fixture(role)).expect("fixture is JSON");
            assert_eq!(errors(&v, &doc), Vec::<String>::new(), "real {role} report");
        }
        for role in [PeerRole::Creator, PeerRole::Joiner] {
            let doc = to_value(&common::with_peer(role, HOSTILE));
            assert_eq!(errors(&v, &doc), Vec::<String>::new(), "{role:?}");
        }
        // Failure-only, a failed hole punch, a section not tested or failed.
        let mut r = Report::new("peer", "2025-01-15T10:30:00Z");
        r.peer = Section::Tested(common::peer_failed());
        assert_eq!(errors(&v, &to_value(&r)), Vec::<String>::new());
        let mut p = common::peer(PeerRole::Joiner, "");
        p.holepunch = Section::failed("no socket");
        r.peer = Section::Tested(p);
        assert_eq!(errors(&v, &to_value(&r)), Vec::<String>::new());
        r.peer = Section::failed("the rendezvous is unreachable");
        assert_eq!(errors(&v, &to_value(&r)), Vec::<String>::new());
    }

    #[test]
    fn broken_peer_sections_do_not_validate() {
        let v = validator();
        let doc = to_value(&common::with_peer(PeerRole::Creator, ""));
        for (path, bad) in [
            ("/peer/role", json!("host")),
            ("/peer/observed", json!("maybe")),
            ("/peer/prediction_held", json!("yes")),
            ("/peer/predicted/outcome", json!("likely")),
            ("/peer/policies/0/policy", json!("relay")),
            ("/peer/policies/0/outcome", json!("connected")),
            ("/peer/policies/0/throughput_kbps", json!("fast")),
            ("/peer/policies/0/ice/filter", json!("srflx-relay")),
            ("/peer/holepunch/attempts/0/got_through", json!("up")),
            ("/peer/holepunch/attempts/0/attempt", json!(0)),
            ("/peer/holepunch/attempts/0/sent", json!(-1)),
            ("/peer/holepunch/local_public", json!("nowhere")),
            ("/peer/holepunch/local_reachable", json!(null)),
            ("/peer/holepunch", json!({"status": "tested"})),
            ("/peer/local_nat/mapping", json!("cone")),
            ("/peer/duration_ms", json!(-5)),
            ("/peer", json!({"status": "tested"})),
        ] {
            let mut bad_doc = doc.clone();
            *bad_doc
                .pointer_mut(path)
                .unwrap_or_else(|| panic!("{path} exists")) = bad.clone();
            assert!(!v.is_valid(&bad_doc), "schema accepted {path} = {bad}");
        }
        let mut failed = Report::new("peer", "2025-01-15T10:30:00Z");
        failed.peer = Section::Tested(common::peer_failed());
        let mut bad_doc = to_value(&failed);
        bad_doc["peer"]["failure"]
            .as_object_mut()
            .expect("object")
            .remove("remedy");
        assert!(
            !v.is_valid(&bad_doc),
            "schema accepted a failure without remedy"
        );
    }
}

// ---------------------------------------------------------------------------
// Table
// ---------------------------------------------------------------------------

#[test]
fn table_shows_the_session_policies_holepunch_and_prediction() {
    let out = report::table::render(&common::with_peer(PeerRole::Creator, ""), PLAIN);
    let peer = &out[out.find("\nPeer\n").expect("a Peer heading")..];
    for want in [
        "session: 5f2a9c0e7b1d4a36",
        "role: creator",
        "rendezvous: https://rendezvous.example.net:8478",
        "other side: natscope 0.1.0",
        "srflx-srflx",
        "85.2 ms",
        "31.5 ms",
        "2.5 Mbit/s",
        "open after 140.8 ms",
        "the TURN server refused",
        "Hole punch",
        "reachable unsolicited: this side no, the other side no",
        "only this side's packets",
        "41.2 ms",
        "198.51.100.30:50003",
        "first-attempt success: no",
        "predicted: direct by hole punching",
        "observed: direct by hole punching",
        "prediction held: yes",
        "this side's NAT: ",
        "TCP simultaneous open",
        "192.168.1.20:40010 to 198.51.100.30:50010",
        "7 / 6",
        "12.2 ms",
        "TCP: connected in 2 of at most 3 attempts",
    ] {
        assert!(peer.contains(want), "{want:?} missing in:\n{peer}");
    }
    // Not run: nothing printed.
    let out = report::table::render(&common::full(), PLAIN);
    assert!(!out.contains("\nPeer"), "{out}");
}

#[test]
fn table_shows_the_failure_with_its_remedy() {
    let mut r = Report::new("peer", "2025-01-15T10:30:00Z");
    r.peer = Section::Tested(common::peer_failed());
    let out = report::table::render(&r, PLAIN);
    for want in [
        "session failed: unknown-session: the rendezvous knows no session",
        "→ check the code the other side printed",
        "hole punch: not tested (the session never began)",
        "prediction held: unknown",
        "not tested",
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
    r.peer = Section::failed("the rendezvous is unreachable");
    let out = report::table::render(&r, PLAIN);
    assert!(out.contains("Peer: failed"), "{out}");
}

#[test]
fn table_sanitises_the_other_sides_strings() {
    let mut r = common::with_peer(PeerRole::Joiner, HOSTILE);
    if let Section::Tested(p) = &mut r.peer {
        p.remote_nat.as_mut().expect("remote verdict").summary = HOSTILE.into();
        p.session = Some(HOSTILE.into());
    }
    for width in [None, Some(80)] {
        let out = report::table::render(
            &r,
            TableOptions {
                color: false,
                width,
            },
        );
        assert_no_controls(&out);
        assert!(
            out.contains("the TURN server refused") || width.is_some(),
            "{out}"
        );
    }
    let out = report::table::render(
        &r,
        TableOptions {
            color: true,
            width: None,
        },
    );
    assert!(
        !out.contains("\u{1b}[2J") && !out.contains("\u{1b}]8"),
        "{out}"
    );
}

#[test]
fn peer_table_fits_80_columns() {
    let out = report::table::render(
        &common::with_peer(PeerRole::Creator, ""),
        TableOptions {
            color: false,
            width: Some(80),
        },
    );
    for line in out.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line}");
    }
}

// ---------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------

#[test]
fn html_has_a_peer_section_with_everything() {
    let page = report::html::render(&common::with_peer(PeerRole::Creator, ""));
    let at = page.find("id=\"peer\"").expect("a #peer section");
    let sec = &page[at..];
    let sec = &sec[..sec.find("</section>").expect("closed")];
    assert!(sec.contains("data-status=\"tested\""));
    for want in [
        "id=\"peer-info\"",
        "<code>5f2a9c0e7b1d4a36</code>",
        "https://rendezvous.example.net:8478",
        "natscope 0.1.0",
        "id=\"peer-policies\"",
        "data-policy=\"direct\"",
        "✔ success",
        "<strong>srflx-srflx</strong>",
        "85.2 ms",
        "2.5 Mbit/s",
        "✔ open",
        "data-policy=\"relay-allowed\"",
        "the TURN server refused",
        "id=\"peer-holepunch\"",
        "id=\"peer-tcp\"",
        "id=\"peer-tcp-attempts\"",
        "id=\"peer-attempts\"",
        "data-direction=\"local-to-remote\"",
        "only this side's packets",
        "First-attempt success</th><td>no",
        "198.51.100.30:50003",
        "id=\"peer-prediction\"",
        "direct by hole punching",
        "✔ yes",
    ] {
        assert!(sec.contains(want), "{want:?} missing in:\n{sec}");
    }
    // Not run: no section at all.
    assert!(!report::html::render(&common::full()).contains("id=\"peer\""));
}

#[test]
fn html_shows_the_failure_and_real_reports_render() {
    let mut r = Report::new("peer", "2025-01-15T10:30:00Z");
    r.peer = Section::Tested(common::peer_failed());
    let page = report::html::render(&r);
    assert!(page.contains("id=\"peer-failure\" data-kind=\"unknown-session\""));
    assert!(page.contains("What to do: check the code the other side printed"));
    assert!(page.contains("not tested: the session never began"));
    // A real joiner with a wrong code: the failure and its remedy.
    let failed = real("failed");
    let page = report::html::render(&failed);
    assert!(page.contains("data-kind=\"unknown-session\""));
    assert!(page.contains("No ICE policy was run."));
    let out = report::table::render(&failed, PLAIN);
    assert!(out.contains("session failed: unknown-session"), "{out}");
    assert!(out.contains("→ check the code"), "{out}");
    for role in ["creator", "joiner"] {
        let page = report::html::render(&real(role));
        assert!(page.contains("id=\"peer\""), "{role}");
        assert!(page.contains("reversed"), "{role}");
        assert!(page.contains("neither side has a TURN server"), "{role}");
    }
}

#[test]
fn html_escapes_the_other_sides_strings() {
    let mut r = common::with_peer(PeerRole::Joiner, HOSTILE);
    if let Section::Tested(p) = &mut r.peer {
        p.remote_nat.as_mut().expect("remote verdict").summary = HOSTILE.into();
        p.session = Some(HOSTILE.into());
        p.rendezvous = HOSTILE.into();
        p.failure = Some(model::peer::PeerFailure {
            kind: HOSTILE.into(),
            message: HOSTILE.into(),
            remedy: HOSTILE.into(),
        });
    }
    let page = report::html::render(&r);
    assert_html_clean(&page);
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // The embedded JSON still reads back to the same report.
    let start = page.find("id=\"natscope-report\">").expect("embedded JSON")
        + "id=\"natscope-report\">".len();
    let end = start + page[start..].find("</script>").expect("closed");
    assert_eq!(
        report::from_json(&page[start..end]).expect("embedded JSON reads"),
        r
    );
}

// ---------------------------------------------------------------------------
// Both sides on one page
// ---------------------------------------------------------------------------

#[test]
fn the_real_pair_makes_one_page_with_both_sides() {
    let (a, b) = (real("creator"), real("joiner"));
    // Either order: the creator comes first.
    for (first, second) in [(&a, &b), (&b, &a)] {
        let p = pair(first, second).expect("the two sides of one session");
        assert_eq!(p.creator_peer.role, PeerRole::Creator);
        assert_eq!(p.joiner_peer.role, PeerRole::Joiner);
        let page = report::html::render_pair(&p);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src &#39;none&#39;;"
        ));
        let creator = page.find("id=\"peer-creator\"").expect("creator side");
        let joiner = page.find("id=\"peer-joiner\"").expect("joiner side");
        assert!(creator < joiner, "creator | joiner");
        assert!(page.contains("id=\"peer-creator-policies\""));
        assert!(page.contains("id=\"peer-joiner-policies\""));
        assert!(page.contains("id=\"peer-creator-holepunch\""));
        assert!(page.contains("id=\"peer-joiner-holepunch\""));
        assert_eq!(page.matches("<strong>NAT:</strong>").count(), 2);
        assert!(page.contains(p.session));
        // Both reports are embedded and read back.
        for (id, want) in [
            ("natscope-report-creator", p.creator),
            ("natscope-report-joiner", p.joiner),
        ] {
            let key = format!("id=\"{id}\">");
            let start = page.find(&key).expect("embedded") + key.len();
            let end = start + page[start..].find("</script>").expect("closed");
            assert_eq!(&report::from_json(&page[start..end]).expect("reads"), want);
        }
        let table = report::table::render_pair(&p, PLAIN);
        let c = table.find("\nCreator\n").expect("creator in the table");
        let j = table.find("\nJoiner\n").expect("joiner in the table");
        assert!(c < j);
        assert_eq!(table.matches("role: ").count(), 2, "{table}");
    }
}

#[test]
fn a_hostile_pair_is_escaped() {
    let mut a = common::with_peer(PeerRole::Creator, HOSTILE);
    let mut b = common::with_peer(PeerRole::Joiner, HOSTILE);
    for r in [&mut a, &mut b] {
        if let Section::Tested(p) = &mut r.peer {
            p.session = Some(HOSTILE.into());
        }
        r.tool.version = HOSTILE.into();
        r.diagnosis.verdict = HOSTILE.into();
    }
    let p = pair(&a, &b).expect("same (hostile) label, different roles");
    let page = report::html::render_pair(&p);
    assert_html_clean(&page);
    assert!(page.contains("id=\"peer-creator\"") && page.contains("id=\"peer-joiner\""));
    let table = report::table::render_pair(&p, PLAIN);
    assert_no_controls(&table);
}

#[test]
fn reports_of_different_sessions_or_sides_do_not_pair() {
    let creator = common::with_peer(PeerRole::Creator, "");
    let joiner = common::with_peer(PeerRole::Joiner, "");
    let mut other = common::with_peer(PeerRole::Joiner, "");
    if let Section::Tested(p) = &mut other.peer {
        p.session = Some("\u{1b}[2Jffff0000".into());
    }
    match pair(&creator, &other) {
        Err(e @ PairError::DifferentSessions { .. }) => {
            let text = e.to_string();
            assert!(text.contains("5f2a9c0e7b1d4a36") && text.contains("ffff0000"));
            assert!(!text.contains('\u{1b}'), "{text:?}");
        }
        other => panic!("different sessions paired: {other:?}"),
    }
    assert!(matches!(
        pair(&creator, &creator),
        Err(PairError::SameRole {
            role: PeerRole::Creator
        })
    ));
    let no_peer = common::full();
    assert!(matches!(
        pair(&creator, &no_peer),
        Err(PairError::NoPeer {
            which: Which::Second,
            ..
        })
    ));
    let text = pair(&no_peer, &joiner).expect_err("no peer").to_string();
    assert!(text.contains("first report has no peer section"), "{text}");
    assert!(text.contains("not run"), "{text}");
    assert!(matches!(
        pair(&real("creator"), &real("failed")),
        Err(PairError::NoSession {
            which: Which::Second
        })
    ));
    let mut unmet = Report::new("peer", "2025-01-15T10:30:00Z");
    unmet.peer = Section::Tested(common::peer_failed());
    assert!(matches!(
        pair(&creator, &unmet),
        Err(PairError::NoSession {
            which: Which::Second
        })
    ));
    let _: &PeerSection = pair(&joiner, &creator).expect("pairs").creator_peer;
}
