//! The terminal renderer: content, sanitising, colour only on request.

use crate::common;
use model::*;
use report::table::{TableOptions, render};

const PLAIN: TableOptions = TableOptions {
    color: false,
    width: None,
};

fn hostile() -> String {
    "evil\u{1b}[2J\u{1b}]8;;http://attacker.example/\u{7}link\u{1b}]8;;\u{1b}\\\r\n\u{7}\u{9b}31mX\u{1b}[0m"
        .to_owned()
}

fn assert_no_controls(out: &str) {
    for (i, c) in out.char_indices() {
        assert!(
            c == '\n' || !c.is_control(),
            "control character {c:?} at byte {i} in:\n{out}"
        );
    }
}

#[test]
fn shows_summary_then_sections() {
    let out = render(&common::full(), PLAIN);
    let summary = out.find("Verdict").expect("verdict heading");
    let works = out.find("UDP reaches STUN servers").expect("works line");
    let problems = out.find("STUN over TCP timed out").expect("problem line");
    let advice = out.find("Configure a TURN server").expect("advice line");
    let interfaces = out.find("\nInterfaces\n").expect("interfaces heading");
    let stun = out.find("\nSTUN servers\n").expect("stun heading");
    let nat = out.find("\nNAT\n").expect("nat heading");
    let checks = out.find("│ check").expect("checks table");
    // The first screen: verdict, what to do, the checks; what works after.
    assert!(summary < problems && problems < advice && advice < checks && checks < works);
    assert!(
        works < interfaces && interfaces < stun && stun < nat,
        "{out}"
    );
    for needle in [
        "eth0",
        "192.0.2.10/24 documentation",
        "default route: eth0 via 192.0.2.1",
        "stun.example.net",
        "203.0.113.7:40000",
        "23.4 ms",
        "example-stun 1.0",
        "timeout",
        "no answer within 3000 ms",
        "Mapping agreement",
        "endpoint independent",
        "address and port dependent",
        "mapping-test-2: same mapping towards 198.51.100.2:3478",
        "high",
        "ignored packets: 2 malformed, 1 unmatched",
        "TURN: not tested (no TURN server given)",
        "ICE: failed (could not bind a UDP socket)",
        "udp",
        "passed",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn not_tested_sections_say_why() {
    let mut r = Report::new("stun", "2025-01-15T10:30:00Z");
    r.nat = Section::not_tested("skipped by --no-nat");
    let out = render(&r, PLAIN);
    assert!(
        out.contains("NAT: not tested (skipped by --no-nat)"),
        "{out}"
    );
    // Sections the command never runs are not printed at all.
    assert!(!out.contains("Interfaces"), "{out}");
    // No NAT table (its rows: mapping, filtering...).
    assert!(!out.contains("filtering"), "{out}");
    assert!(!out.contains("Port mapping"), "{out}");
}

#[test]
fn hostile_network_strings_are_sanitised() {
    let mut r = common::full();
    if let Section::Tested(stun) = &mut r.stun {
        stun.servers[0].software = Some(hostile());
        stun.servers[1].error = Some(hostile());
        stun.servers[1].label = hostile();
    }
    if let Section::Tested(ifs) = &mut r.interfaces {
        ifs.interfaces[0].vpn_hint = Some(hostile());
    }
    if let Section::Tested(nat) = &mut r.nat {
        nat.evidence[0].detail = hostile();
    }
    r.summary.problems.push(hostile());
    r.turn = Section::not_tested(hostile());
    r.portmap = Section::Tested(hostile_portmap());
    r.command = hostile();
    for width in [None, Some(60), Some(200)] {
        let out = render(
            &r,
            TableOptions {
                color: false,
                width,
            },
        );
        assert_no_controls(&out);
        assert!(out.contains("evil"), "{out}");
        assert!(!out.contains("attacker.example"), "{out}");
    }
    // With colour on, the only escapes are our own SGR sequences.
    let out = render(
        &r,
        TableOptions {
            color: true,
            width: Some(120),
        },
    );
    assert!(!out.contains("\u{1b}]"), "OSC leaked");
    assert!(!out.contains("\u{1b}[2J"), "clear-screen leaked");
    assert!(!out.contains('\u{7}') && !out.contains('\r') && !out.contains('\u{9b}'));
    for (i, _) in out.match_indices('\u{1b}') {
        let rest = &out[i + 1..];
        let body: String = rest.chars().take_while(|c| *c != 'm').collect();
        assert!(
            rest.starts_with('[') && body[1..].chars().all(|c| c.is_ascii_digit() || c == ';'),
            "non-SGR escape at {i}: {:?}",
            &rest[..rest.len().min(12)]
        );
    }
}

/// A portmap section with every free-text field hostile.
fn hostile_portmap() -> model::portmap::PortmapSection {
    use model::portmap::*;
    let h = hostile();
    PortmapSection {
        skipped: false,
        gateway: Some(h.clone()),
        local_ip: Some(h.clone()),
        stun_mapped: Some(h.clone()),
        protocols: vec![PortmapProtocolResult {
            protocol: h.clone(),
            status: PortmapStatus::Available,
            reason: Some(h.clone()),
            server: Some(h.clone()),
            external_ip: Some(h.clone()),
            details: vec![(h.clone(), h.clone())],
            mapping: Some(PortmapMapping {
                internal: h.clone(),
                external_port: 1,
                external: Some(h.clone()),
                lifetime_secs: 30,
                traffic: CheckStatus::Failed,
                traffic_reason: Some(h.clone()),
                removed: CheckStatus::Failed,
                removal_reason: Some(h.clone()),
            }),
            errors: vec![h.clone()],
            elapsed_ms: 1,
        }],
        double_nat: DoubleNatReport {
            detected: Some(true),
            evidence: vec![h.clone()],
        },
        leftover: vec![h],
        elapsed_ms: 1,
    }
}

#[test]
fn long_software_is_shortened() {
    let mut r = common::full();
    if let Section::Tested(stun) = &mut r.stun {
        stun.servers[0].software = Some("A".repeat(5000));
    }
    let out = render(&r, PLAIN);
    assert!(!out.contains(&"A".repeat(49)), "software not shortened");
    assert!(out.contains(&format!("{}…", "A".repeat(47))));
}

#[test]
fn no_colour_codes_without_color() {
    for r in [common::full(), Report::new("stun", "2025-01-15T10:30:00Z")] {
        for width in [None, Some(80)] {
            let out = render(
                &r,
                TableOptions {
                    color: false,
                    width,
                },
            );
            assert!(
                !out.contains('\u{1b}'),
                "escape in uncoloured output:\n{out}"
            );
            assert_no_controls(&out);
        }
    }
}

#[test]
fn colour_when_asked() {
    let out = render(
        &common::full(),
        TableOptions {
            color: true,
            width: None,
        },
    );
    assert!(out.contains("\u{1b}["), "no colour codes with color on");
}

#[test]
fn width_is_respected() {
    let out = render(
        &common::full(),
        TableOptions {
            color: false,
            width: Some(80),
        },
    );
    for line in out.lines() {
        if line.starts_with(['┌', '│', '├', '└', '╞', '╭']) {
            assert!(
                line.chars().count() <= 80,
                "table line wider than 80: {line}"
            );
        }
    }
}

#[test]
fn renders_fixtures() {
    for name in ["full.json", "synthetic.json", "not-tested.json"] {
        let text = std::fs::read_to_string(common::fixtures_dir().join(name)).expect("fixture");
        let r = report::from_json(&text).expect("fixture parses");
        let out = render(&r, PLAIN);
        assert!(out.contains("Verdict"), "{name}");
        assert_no_controls(&out);
    }
    let text =
        std::fs::read_to_string(common::fixtures_dir().join("synthetic.json")).expect("fixture");
    let out = render(&report::from_json(&text).expect("parses"), PLAIN);
    // Newer natclass fields are shown when present.
    assert!(out.contains("port restricted cone"), "{out}");
    assert!(out.contains("wg0"), "{out}");
    // The port mapping table and the double-NAT line.
    for needle in [
        "Port mapping",
        "upnp",
        "available",
        "not available",
        "100.64.0.2:40002",
        "port 40002 (120 s) / not tested / yes",
        "double NAT: yes",
        "carrier-grade NAT range",
    ] {
        assert!(out.contains(needle), "{needle:?} missing:\n{out}");
    }
    // The lab run: TURN per transport, the ICE matrix.
    let text = std::fs::read_to_string(common::fixtures_dir().join("full.json")).expect("fixture");
    let out = render(&report::from_json(&text).expect("parses"), PLAIN);
    for needle in [
        "turns:localhost:",
        "TLS",
        "works",
        "relay ↔ relay",
        "relay ↔ relay, TURN-TLS only",
        "relay/UDP → relay/UDP",
        "relay/TLS → relay/TLS",
    ] {
        assert!(out.contains(needle), "{needle:?} missing:\n{out}");
    }
}

/// Every report on disk: fixtures/reports (the full lab report among them)
/// and fixtures/diagnosis (real runs against misconfigured servers).
fn corpus() -> Vec<(String, Report)> {
    let root = common::fixtures_dir().join("..");
    let mut out = Vec::new();
    for dir in ["reports", "diagnosis"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("fixture directory")
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).expect("fixture readable");
            let report =
                report::json::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            out.push((p.display().to_string(), report));
        }
    }
    out.push(("common::full".into(), common::full()));
    out
}

#[test]
fn every_line_fits_the_width() {
    let corpus = corpus();
    assert!(
        corpus.iter().any(|(name, _)| name.ends_with("lab.json")),
        "the full lab report is in the corpus"
    );
    for (name, r) in &corpus {
        for width in [80u16, 100, 160] {
            for color in [false, true] {
                let out = render(
                    r,
                    TableOptions {
                        color,
                        width: Some(width),
                    },
                );
                for line in out.lines() {
                    let w = textwrap::core::display_width(line);
                    assert!(
                        w <= usize::from(width),
                        "{name} at {width} columns: a line of {w}:\n{line}\n\n{out}"
                    );
                }
            }
        }
    }
}

#[test]
fn words_are_not_broken_when_the_width_allows() {
    let (_, lab) = corpus()
        .into_iter()
        .find(|(name, _)| name.ends_with("lab.json"))
        .expect("the lab report");
    for width in [80u16, 100] {
        let out = render(
            &lab,
            TableOptions {
                color: false,
                width: Some(width),
            },
        );
        // The verdict and findings are prose: wrapped between words only.
        let verdict: String = out
            .split("\nWhy, and what to do")
            .next()
            .expect("some output")
            .lines()
            .skip_while(|l| *l != "Verdict")
            .collect::<Vec<_>>()
            .join(" ");
        let words: Vec<&str> = verdict.split_whitespace().collect();
        let whole: Vec<&str> = lab.diagnosis.verdict.split_whitespace().collect();
        for w in &whole {
            assert!(words.contains(w), "{width}: word {w:?} was split:\n{out}");
        }
    }
}

#[test]
fn sections_a_command_never_runs_are_not_printed() {
    let mut r = Report::new("stun", "2025-01-15T10:30:00Z");
    r.turn = Section::not_tested("skipped (--no-turn)");
    let out = render(&r, PLAIN);
    assert!(!out.contains("NAT:"), "{out}");
    assert!(!out.contains("Port mapping"), "{out}");
    assert!(
        out.contains("TURN: not tested (skipped (--no-turn))"),
        "{out}"
    );
}

#[test]
fn browser_section_shows_gathering_errors_and_connections() {
    let out = render(&common::with_browser(), PLAIN);
    let at = out.find("\nBrowser\n").expect("browser heading");
    let b = &out[at..];
    for needle in [
        "Firefox 128.0, started headless by natscope (firefox)",
        "user agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0)",
        "Gathering",
        "│ all    ┆ 2 host, 1 srflx, 1 relay (UDP)",
        "1 relay (TLS)",
        "350.8 ms",
        "Candidate errors",
        "turn:turn.example.net:3479",
        "TURN allocate request timed out.",
        "401",
        "Unauthorized",
        "Connection to natscope's peer",
        "srflx → host",
        "64.5 ms",
        "1.5 ms (10/10)",
        "RTT 1.2 ms, 2.5 Mbit/s out",
        "timed out: ICE checking did not finish within 10 s",
        "not tested: ICE-TCP connectivity",
    ] {
        assert!(b.contains(needle), "{needle:?} missing:\n{b}");
    }
    // Gathering incomplete under relay; mDNS hosts counted.
    assert!(b.contains("│ relay  ┆ 1 relay (TLS)"), "{b}");
    let all_row = b
        .lines()
        .find(|l| l.starts_with("│ all    ┆ 2 host"))
        .expect("gathering row of policy all");
    assert!(
        all_row.contains("┆ 2    ┆ 2      ┆"),
        "2 mDNS, 2 errors: {all_row}"
    );
}

#[test]
fn repeated_candidate_errors_are_one_row() {
    let mut r = common::with_browser();
    if let Section::Tested(b) = &mut r.browser {
        let e = b.gathering[0].errors[0].clone();
        b.gathering[0].errors.extend([e.clone(), e]);
    }
    let out = render(&r, PLAIN);
    assert!(out.contains("701 ×3"), "{out}");
    assert_eq!(
        out.matches("TURN allocate request timed out.").count(),
        1,
        "{out}"
    );
}

#[test]
fn browser_not_tested_failed_and_not_run() {
    let mut r = Report::new("browser", "2025-01-15T10:30:00Z");
    let out = render(&r, PLAIN);
    assert!(!out.contains("Browser"), "not run: not printed\n{out}");
    r.browser = Section::not_tested("skipped (--no-browser)");
    let out = render(&r, PLAIN);
    assert!(
        out.contains("Browser: not tested (skipped (--no-browser))"),
        "{out}"
    );
    assert!(!out.contains("Gathering"), "{out}");
    r.browser = Section::failed("could not start chromium: not found");
    let out = render(&r, PLAIN);
    assert!(
        out.contains("Browser: failed (could not start chromium: not found)"),
        "{out}"
    );
}

/// A hostile candidate URL and error text: `<script>` stays text, the
/// terminal escape is removed, nothing else breaks the line.
#[test]
fn hostile_browser_strings_are_sanitised() {
    let evil = "<script>alert(1)</script>\u{1b}[31mred\u{1b}[0m\r\n\u{9b}2J";
    let mut r = common::with_browser();
    if let Section::Tested(b) = &mut r.browser {
        b.browser.name = evil.into();
        b.browser.version = evil.into();
        b.browser.user_agent = evil.into();
        b.launched = evil.into();
        b.not_tested = vec![evil.into()];
        for g in &mut b.gathering {
            for e in &mut g.errors {
                e.url = format!("turn:{evil}");
                e.text = evil.into();
            }
            for c in &mut g.candidates {
                c.address = evil.into();
                c.url = Some(evil.into());
            }
        }
        for c in &mut b.connections {
            c.failure = Some(evil.into());
            c.outcome = model::browser::BrowserOutcome::Failed;
            if let Some(p) = &mut c.selected {
                p.local_protocol = evil.into();
                p.local_address = evil.into();
            }
        }
    }
    for width in [None, Some(80), Some(120)] {
        let out = render(
            &r,
            TableOptions {
                color: false,
                width,
            },
        );
        assert_no_controls(&out);
        assert!(!out.contains("\u{1b}[31m"), "{out}");
        assert!(out.contains("<script>alert(1)</script>red"), "{out}");
        if let Some(w) = width {
            for line in out.lines() {
                assert!(
                    textwrap::core::display_width(line) <= usize::from(w),
                    "a line wider than {w}:\n{line}"
                );
            }
        }
    }
}

#[test]
fn browser_tables_fit_80_columns() {
    let mut long = common::with_browser();
    if let Section::Tested(b) = &mut long.browser {
        for g in &mut b.gathering {
            for e in &mut g.errors {
                e.url = format!("turns:{}.example.net:443?transport=tcp", "a".repeat(90));
                e.text = "word ".repeat(40);
            }
        }
        b.connections[1].failure = Some("x".repeat(300));
    }
    let text =
        std::fs::read_to_string(common::fixtures_dir().join("browser.json")).expect("fixture");
    let fixture = report::from_json(&text).expect("parses");
    for r in [common::with_browser(), long, fixture] {
        for width in [80u16, 60, 40] {
            for color in [false, true] {
                let out = render(
                    &r,
                    TableOptions {
                        color,
                        width: Some(width),
                    },
                );
                assert!(out.contains("Connection to natscope's peer"), "{out}");
                for line in out.lines() {
                    let w = textwrap::core::display_width(line);
                    assert!(
                        w <= usize::from(width),
                        "{width} columns: a line of {w}:\n{line}\n\n{out}"
                    );
                }
            }
        }
    }
}

#[test]
fn audit_section_shows_transports_peers_quota_and_rest() {
    let out = render(&common::with_audit_load(), PLAIN);
    let at = out.find("\nTURN audit\n").expect("audit heading");
    let end = out.find("\nTURN load\n").expect("load heading");
    assert!(
        out.find("\nTURN: not tested").expect("TURN") < at,
        "after TURN"
    );
    let a = &out[at..end];
    for needle in [
        "turn.example.net turn:turn.example.net:3478",
        "address: 198.51.100.5:3478",
        "product: coturn 4.6.1",
        // Transports: given and implied, relayed or the failure.
        "turn:turn.example.net:3478",
        "given",
        "198.51.100.5:50000",
        "turns:turn.example.net:443",
        "implied",
        "timeout: no answer within 3000 ms",
        // Peers, by category.
        "loopback",
        "127.0.0.1:3478",
        "Send",
        "accepted",
        "proved",
        "private",
        "10.0.0.1:9",
        "CreatePermission",
        "refused",
        "link-local",
        "Connect (RFC 6062)",
        "not tested: no TCP allocation",
        "error 420 Unknown Attribute",
        "quota: granted 5 allocations before 486 Allocation Quota Reached; 4 released",
        "REST credentials: expired credential refused; credential valid for 30 days accepted",
    ] {
        assert!(a.contains(needle), "{needle:?} missing:\n{a}");
    }
    // Grouped: the category is named once per group.
    assert_eq!(a.matches("│ private ").count(), 1, "{a}");
    let row = |peer: &str| {
        a.lines()
            .find(|l| l.contains(peer))
            .unwrap_or_else(|| panic!("row of {peer}"))
            .to_owned()
    };
    assert!(row("127.0.0.1:3478").contains("proved"));
    assert!(row("10.0.0.1:9").contains("—"));
    let first_cell = |line: &str| {
        line.split('┆')
            .next()
            .unwrap_or("")
            .trim_matches(['│', ' '])
            .to_owned()
    };
    assert_eq!(first_cell(&row("10.0.0.1:9")), "private");
    assert_eq!(first_cell(&row("192.168.0.1:9")), "", "{a}");
    // The finding's security level beside its severity mark.
    assert!(
        out.contains("✘ [high] turn.example.net relays to its own host (127.0.0.1)"),
        "{out}"
    );
    assert!(out.contains("turn-audit"));
}

#[test]
fn load_section_shows_steps_knee_and_errors() {
    let out = render(&common::with_audit_load(), PLAIN);
    let at = out.find("\nTURN load\n").expect("load heading");
    let l = &out[at..];
    for needle in [
        "turn.example.net turn:turn.example.net:3478 over UDP",
        "address: 198.51.100.5:3478",
        "asked for: 30 allocations × 50 packets/s × 160 bytes, 3 steps over 20.0 s, 30.0 s in all",
        "allocations: 31 attempted, 30 created, 1 failed; 12.5 per second; time p50 8.2 ms / p95 16.5 ms / p99 24.8 ms; 30 of 30 released",
        "traffic: sent 2000 packets/s (3.2 Mbit/s), received 1970 packets/s (3.1 Mbit/s); 900 of 60000 round trips lost (1.5 %); RTT p50 12.5 ms / p95 25.0 ms / p99 37.5 ms; jitter 0.800 ms",
        "offered pps",
        "knee: at 30 allocations (1500 packets/s offered): loss over 1 %",
        "486",
        "Allocate",
        "486 Allocation Quota Reached",
        "end: ran its full duration",
        "ignored packets: 2 malformed",
    ] {
        assert!(l.contains(needle), "{needle:?} missing:\n{l}");
    }
    let steps: Vec<&str> = l
        .lines()
        .filter(|line| line.starts_with("│ ") && line.contains(" s "))
        .collect();
    assert_eq!(steps.len(), 3, "one row per step:\n{l}");
    assert!(
        steps[2].contains("4.0 %") && steps[2].contains("31.5 ms"),
        "{l}"
    );
}

#[test]
fn audit_and_load_not_run_print_nothing() {
    let r = common::full();
    assert_eq!(r.audit.reason(), Some("not run"));
    let out = render(&r, PLAIN);
    assert!(
        !out.contains("TURN audit") && !out.contains("TURN load"),
        "{out}"
    );
    let mut r = Report::new("turn", "2025-01-15T10:30:00Z");
    r.audit = Section::not_tested("skipped (--no-audit)");
    r.load = Section::failed("could not bind 40 sockets");
    let out = render(&r, PLAIN);
    assert!(
        out.contains("TURN audit: not tested (skipped (--no-audit))"),
        "{out}"
    );
    assert!(
        out.contains("TURN load: failed (could not bind 40 sockets)"),
        "{out}"
    );
}

#[test]
fn hostile_audit_and_load_strings_are_sanitised() {
    let evil = "<script>alert(1)</script>\u{1b}[31mred\u{1b}[0m\r\n\u{9b}2J\u{1b}]8;;http://attacker.example/\u{7}x";
    let mut r = common::with_audit_load();
    if let Section::Tested(a) = &mut r.audit {
        let s = &mut a.servers[0];
        s.label = evil.into();
        s.uri = evil.into();
        s.product = Some(model::audit::Product {
            name: evil.into(),
            version: Some(evil.into()),
        });
        s.transports[0].uri = evil.into();
        s.transports[1].failure = Some(model::turn::TurnFailure::Dns {
            detail: evil.into(),
        });
        s.peers[3].outcome = model::audit::AttemptOutcome::NotTested { why: evil.into() };
        s.peers[4].outcome = model::audit::AttemptOutcome::Error {
            code: 403,
            reason: evil.into(),
        };
    }
    if let Section::Tested(l) = &mut r.load {
        l.label = evil.into();
        l.uri = evil.into();
        l.errors[0].request = evil.into();
        l.errors[0].meaning = evil.into();
        l.ended = model::load::LoadEnd::Failed {
            detail: evil.into(),
        };
    }
    for width in [None, Some(40), Some(60), Some(80), Some(120)] {
        for color in [false, true] {
            let out = render(&r, TableOptions { color, width });
            if !color {
                assert_no_controls(&out);
            }
            assert!(!out.contains("\u{1b}[31mred"), "{out}");
            assert!(!out.contains("\u{1b}]"), "OSC leaked");
            assert!(!out.contains("attacker.example"), "{out}");
            assert!(!out.contains('\r') && !out.contains('\u{9b}') && !out.contains('\u{7}'));
            if width.is_none() {
                assert!(out.contains("<script>alert(1)</script>red"), "{out}");
                // The SOFTWARE of the fixture, cleaned.
                assert!(
                    out.contains("software: Coturn-4.6.1 <script>alert(1)</script>red"),
                    "{out}"
                );
            }
            if let Some(w) = width {
                for line in out.lines() {
                    let lw = textwrap::core::display_width(line);
                    assert!(
                        lw <= usize::from(w),
                        "{w} columns: a line of {lw}:\n{line}\n\n{out}"
                    );
                }
            }
        }
    }
}

#[test]
fn audit_and_load_fit_the_width() {
    let r = common::with_audit_load();
    for width in [40u16, 60, 80, 100] {
        for color in [false, true] {
            let out = render(
                &r,
                TableOptions {
                    color,
                    width: Some(width),
                },
            );
            assert!(out.contains("TURN audit") && out.contains("TURN load"));
            for line in out.lines() {
                let w = textwrap::core::display_width(line);
                assert!(
                    w <= usize::from(width),
                    "{width} columns: a line of {w}:\n{line}\n\n{out}"
                );
            }
        }
    }
}

#[test]
fn load_with_no_step_and_no_values_renders() {
    let mut r = common::with_audit_load();
    if let Section::Tested(l) = &mut r.load {
        l.steps.clear();
        l.knee = None;
        l.errors.clear();
        l.malformed = 0;
        l.traffic.loss_percent = None;
        l.traffic.jitter_ms = None;
        l.traffic.rtt = model::load::Percentiles::default();
        l.allocations.per_second = None;
        l.ended = model::load::LoadEnd::NoAllocation {
            detail: "486 on every Allocate".into(),
        };
    }
    let out = render(&r, PLAIN);
    let l = &out[out.find("\nTURN load\n").expect("load heading")..];
    for needle in [
        "(no step measured)",
        "knee: none",
        "RTT p50 — / p95 — / p99 —",
        "end: no allocation could be made: 486 on every Allocate",
    ] {
        assert!(l.contains(needle), "{needle:?} missing:\n{l}");
    }
    assert!(!l.contains("ignored packets"), "{l}");
}

/// The line of the table row `name` in `block`.
fn row<'a>(block: &'a str, name: &str) -> &'a str {
    block
        .lines()
        .find(|l| l.contains(&format!("│ {name} ")))
        .unwrap_or_else(|| panic!("no {name:?} row in:\n{block}"))
}

/// The lines of `out` from the heading `title` to the next blank line
/// after its table and evidence (the next section's heading).
fn block<'a>(out: &'a str, title: &str) -> &'a str {
    let start = out
        .find(&format!("\n{title}\n"))
        .unwrap_or_else(|| panic!("no {title:?} heading in:\n{out}"))
        + 1;
    let end = out[start..].find("\n\n").map_or(out.len(), |e| start + e);
    &out[start..end]
}

#[test]
fn ipv4_and_ipv6_verdicts_each_get_a_section_with_the_translation() {
    let out = render(&common::with_nat_ipv6(""), PLAIN);
    assert!(!out.contains("\nNAT\n"), "titled by family:\n{out}");
    let v4 = out.find("\nNAT (IPv4)\n").expect("IPv4 heading");
    let v6 = out.find("\nNAT (IPv6)\n").expect("IPv6 heading");
    let turn = out.find("TURN: not tested").expect("TURN after NAT");
    assert!(v4 < v6 && v6 < turn, "{out}");

    let ipv4 = block(&out, "NAT (IPv4)");
    assert!(row(ipv4, "translation").contains("NAT"), "{ipv4}");
    assert!(row(ipv4, "behind NAT").contains("yes"), "{ipv4}");

    let ipv6 = block(&out, "NAT (IPv6)");
    assert!(
        row(ipv6, "translation").contains("none (the host's own address)"),
        "{ipv6}"
    );
    // No translation: "behind NAT" still says so.
    assert!(row(ipv6, "behind NAT").contains("no"), "{ipv6}");
    for needle in [
        "IPv6: no NAT; a stateful firewall admits only replies",
        "address and port dependent",
        "symmetric udp firewall",
        "[2001:db8:1::10]:40002",
        "mapping-test-1: mapped [2001:db8:1::10]:40002 is this host's own socket",
    ] {
        assert!(
            out[v6..turn].contains(needle),
            "missing {needle:?} in:\n{ipv6}"
        );
    }
}

#[test]
fn translation_words() {
    let mut r = common::with_nat_ipv6("");
    for (t, words) in [
        (
            Some(natclass::Translation::Nptv6),
            "NPTv6 (RFC 6296 prefix translation)",
        ),
        (Some(natclass::Translation::Nat), "NAT"),
        (None, "unknown"),
    ] {
        if let Section::Tested(v) = &mut r.nat_ipv6 {
            v.translation = t;
        }
        let out = render(&r, PLAIN);
        let line = row(block(&out, "NAT (IPv6)"), "translation");
        assert!(line.contains(words), "{line}");
    }
}

#[test]
fn without_an_ipv6_verdict_the_nat_section_is_unchanged() {
    // common::full(): an older verdict (no family, no translation) and no
    // IPv6 section: the old title, no translation row.
    let out = render(&common::full(), PLAIN);
    assert!(out.contains("\nNAT\n"), "{out}");
    assert!(
        !out.contains("NAT (IPv4)") && !out.contains("NAT (IPv6)"),
        "{out}"
    );
    assert!(!out.contains("translation"), "{out}");
    // Not tested IPv6 (no IPv6 server): said, the IPv4 title unchanged.
    let mut r = common::full();
    r.nat_ipv6 = Section::not_tested("no IPv6 STUN server");
    let out = render(&r, PLAIN);
    assert!(out.contains("\nNAT\n"), "{out}");
    assert!(
        out.contains("NAT (IPv6): not tested (no IPv6 STUN server)"),
        "{out}"
    );
}

#[test]
fn hostile_ipv6_verdict_strings_are_sanitised() {
    let out = render(&common::with_nat_ipv6(&hostile()), PLAIN);
    assert_no_controls(&out);
    assert!(out.contains("NAT (IPv6)"));
    assert!(!out.contains("\u{1b}"), "{out}");
}

#[test]
fn a_timed_out_server_says_how_long_it_was_waited_for() {
    let mut r = common::full();
    if let Section::Tested(s) = &mut r.stun {
        for server in &mut s.servers {
            server.waited_ms = Some(if server.outcome == Outcome::Timeout {
                3012.0
            } else {
                23.4
            });
        }
    }
    let out = render(&r, PLAIN);
    assert!(out.contains("timeout after 3.0 s"), "{out}");
    assert!(!out.contains("ok after"), "only a timeout says it: {out}");
}
