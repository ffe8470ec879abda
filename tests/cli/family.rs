//! `-4` / `-6` and `--bind` per family, end to end: natscope's responder on
//! 127.0.0.1/127.0.0.2 (RFC 5780) and a plain one on ::1. Loopback has no
//! NAT: each family's verdict says so, in its own section. (The NAT lab
//! proves IPv6 firewalls, NAT66 and NPTv6: tests/lab/ipv6.rs.)

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use crate::support::{assert_exit, assert_schema_valid, json_of, run_natscope, stderr_text};
use servers::responder::{RateLimit, Responder, ResponderConfig};

const LIMIT: Duration = Duration::from_secs(30);

fn responders() -> (Responder, Responder, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let v4 = Responder::start(ResponderConfig {
        rate_limit: RateLimit::disabled(),
        port: 0,
        alt_port: 0,
        ..ResponderConfig::loopback_lab()
    })
    .expect("IPv4 responder on loopback");
    let v6 = Responder::start(ResponderConfig {
        primary: IpAddr::V6(Ipv6Addr::LOCALHOST),
        alternate: None,
        port: 0,
        alt_port: 0,
        rate_limit: RateLimit::disabled(),
        ..ResponderConfig::loopback_lab()
    })
    .expect("IPv6 responder on ::1");
    drop(_guard);
    (v4, v6, rt)
}

fn uris(v4: &Responder, v6: &Responder) -> [String; 2] {
    [
        format!("stun:{}", v4.addrs().primary),
        format!("stun:{}", v6.addrs().primary),
    ]
}

#[test]
fn each_family_gets_its_own_verdict() {
    let (v4, v6, _rt) = responders();
    let [a, b] = uris(&v4, &v6);
    let out = run_natscope(["nat", "--format", "json", &a, &b], LIMIT);
    assert_exit(&out, &[0], "nat on both families");
    let doc = json_of(&out);
    assert_schema_valid(&doc);
    assert_eq!(doc["nat"]["status"], "tested", "{doc:#}");
    assert_eq!(doc["nat"]["family"], "ipv4");
    assert_eq!(doc["nat"]["translation"], "none");
    assert_eq!(doc["nat_ipv6"]["status"], "tested", "{doc:#}");
    assert_eq!(doc["nat_ipv6"]["family"], "ipv6");
    assert_eq!(doc["nat_ipv6"]["translation"], "none");
    assert_eq!(doc["nat_ipv6"]["udp"], "ok");
    assert_eq!(
        doc["nat_ipv6"]["public"]
            .as_str()
            .map(|p| p.starts_with("[::1]:")),
        Some(true)
    );
    // Each verdict rests on its own family's servers only.
    for (section, v6) in [("nat", false), ("nat_ipv6", true)] {
        for s in doc[section]["servers"].as_array().expect("servers") {
            let server = s["server"].as_str().expect("server");
            assert_eq!(server.starts_with('['), v6, "{section}: {server}");
        }
    }
    let summary = doc["nat_ipv6"]["summary"].as_str().expect("summary");
    assert!(summary.starts_with("IPv6: no NAT"), "{summary}");
    let checks: Vec<String> = doc["summary"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            format!(
                "{}={}",
                c["id"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(checks.contains(&"udp-ipv6=passed".to_owned()), "{checks:?}");
    let verdict = doc["diagnosis"]["verdict"].as_str().expect("verdict");
    assert!(verdict.contains("over IPv6 there is no NAT"), "{verdict}");
    // The table names both sections.
    let out = run_natscope(["nat", "--format", "table", &a, &b], LIMIT);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("NAT (IPv6)"), "{text}");
}

#[test]
fn minus_4_and_minus_6_send_nothing_over_the_other_family() {
    let (v4, v6, _rt) = responders();
    let [a, b] = uris(&v4, &v6);
    let doc = json_of(&run_natscope(
        ["nat", "-4", "--format", "json", &a, &b],
        LIMIT,
    ));
    assert_eq!(doc["nat"]["status"], "tested");
    assert_eq!(doc["nat_ipv6"]["status"], "not-tested");
    assert_eq!(doc["nat_ipv6"]["reason"], "skipped (-4)");
    assert_eq!(doc["options"]["ipv6"], false);
    let doc = json_of(&run_natscope(
        ["nat", "-6", "--format", "json", &a, &b],
        LIMIT,
    ));
    assert_eq!(doc["nat"]["status"], "not-tested");
    assert_eq!(doc["nat"]["reason"], "skipped (-6)");
    assert_eq!(doc["nat_ipv6"]["status"], "tested");
    let verdict = doc["diagnosis"]["verdict"].as_str().expect("verdict");
    assert!(!verdict.contains("IPv4"), "{verdict}");
    // STUN with -6: the IPv4 server is left out, with a note.
    let out = run_natscope(["stun", "-6", "--format", "json", &a, &b], LIMIT);
    assert_exit(&out, &[0], "stun -6");
    let doc = json_of(&out);
    let servers = doc["stun"]["servers"].as_array().expect("servers");
    assert_eq!(servers.len(), 1, "{doc:#}");
    assert!(
        stderr_text(&out).contains("skipped"),
        "{}",
        stderr_text(&out)
    );
    // Nothing left to test is a usage error naming the input.
    let out = run_natscope(["nat", "-4", &b], LIMIT);
    assert_exit(&out, &[2], "nat -4 with only an IPv6 server");
    assert!(stderr_text(&out).contains(&b), "{}", stderr_text(&out));
}

#[test]
fn bind_takes_one_address_per_family() {
    let (v4, v6, _rt) = responders();
    let [a, b] = uris(&v4, &v6);
    let out = run_natscope(
        [
            "nat",
            "--format",
            "json",
            "--bind",
            "127.0.0.1",
            "--bind",
            "::1",
            &a,
            &b,
        ],
        LIMIT,
    );
    assert_exit(&out, &[0], "a bind per family");
    let doc = json_of(&out);
    assert_eq!(doc["options"]["bind"], "127.0.0.1,::1");
    assert_eq!(doc["nat_ipv6"]["status"], "tested", "{doc:#}");
    for (args, words) in [
        (
            vec!["--bind", "127.0.0.1", "--bind", "127.0.0.2"],
            "at most one local address per family",
        ),
        (vec!["--bind", "::1", "-4"], "-4"),
    ] {
        let mut all = vec!["nat"];
        all.extend(args);
        all.push(&a);
        let out = run_natscope(&all, LIMIT);
        assert_exit(&out, &[2], &format!("{all:?}"));
        assert!(
            stderr_text(&out).contains(words),
            "{all:?}: {}",
            stderr_text(&out)
        );
    }
}
