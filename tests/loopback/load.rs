//! `natscope turn --load` against coturn on loopback: a small ramped load
//! completes with every probe back and every allocation deleted; a server
//! that stops answering mid-run, one that answers garbage, one that
//! redirects (300), Ctrl-C, and a target that is not the user's: each ends
//! within its bound, with what was measured and the reason.

use lab::{CoturnOptions, LoopbackCoturn};
use serde_json::Value;
use std::time::{Duration, Instant};

const PASSWORD: &str = "load-secret";

fn coturn(extra: &[&str]) -> LoopbackCoturn {
    let opts = CoturnOptions {
        user: "alice".into(),
        password: PASSWORD.into(),
        realm: "natscope.test".into(),
        extra_config: extra.iter().map(|s| s.to_string()).collect(),
        ..CoturnOptions::default()
    };
    LoopbackCoturn::start(&opts, false).expect("coturn starts on loopback")
}

fn load_args(server: &str, more: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "turn",
        "--load",
        server,
        "--username",
        "alice",
        "--password",
        PASSWORD,
        "--stage-timeout",
        "2s",
        "--format",
        "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(more.iter().map(|s| s.to_string()));
    v
}

fn load_of(rep: &Value) -> &Value {
    &rep["load"]
}

#[test]
fn a_ramped_load_on_coturn_completes_and_releases_every_allocation() {
    let c = coturn(&[]);
    let server = format!("turn:{}?transport=udp", c.primary);
    let out = crate::support::run_natscope(
        load_args(
            &server,
            &[
                "--allocations",
                "20",
                "--duration",
                "4s",
                "--ramp",
                "2s",
                "--steps",
                "2",
            ],
        ),
        Duration::from_secs(30),
    );
    crate::support::assert_exit(&out, &[0], "a load coturn carries");
    let rep = crate::support::json_of(&out);
    crate::support::assert_schema_valid(&rep);
    let l = load_of(&rep);
    assert_eq!(l["ended"]["reason"], "completed", "{l:#}");
    assert_eq!(l["allocations"]["created"], 20, "{l:#}");
    assert_eq!(
        l["allocations"]["released"], 20,
        "every allocation deleted: {l:#}"
    );
    let steps = l["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2, "{l:#}");
    assert_eq!(steps[0]["allocations"], 10);
    assert_eq!(steps[1]["allocations"], 20);
    // 20 allocations × 50 probes/s, each returned: ~2000 packets/s offered
    // at full load (probes and returns).
    let offered = steps[1]["offered_pps"].as_f64().unwrap();
    assert!((1500.0..=2100.0).contains(&offered), "{offered}");
    assert!(l["traffic"]["rtt"]["p50_ms"].as_f64().is_some(), "{l:#}");
    assert!(
        l["traffic"]["loss_percent"].as_f64().unwrap() < 1.0,
        "{l:#}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
}

#[test]
fn a_server_that_stops_answering_mid_run_ends_the_run_with_what_was_measured() {
    let c = coturn(&[]);
    let server = format!("turn:{}?transport=udp", c.primary);
    let pid = c.pid().to_string();
    let child = crate::support::natscope()
        .args(load_args(
            &server,
            &[
                "--allocations",
                "10",
                "--duration",
                "60s",
                "--ramp",
                "0s",
                "--steps",
                "1",
            ],
        ))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("natscope starts");
    std::thread::sleep(Duration::from_secs(2));
    let t0 = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status();
    let out = crate::support::wait_bounded(child, Duration::from_secs(30));
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status();
    // Silent for 3 s, then every delete waits its 2 s bound.
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    crate::support::assert_exit(&out, &[1], "a server that stopped relaying fails the run");
    let rep = crate::support::json_of(&out);
    let l = load_of(&rep);
    assert_eq!(l["ended"]["reason"], "server-silent", "{l:#}");
    assert!(
        l["traffic"]["received"].as_u64().unwrap() > 100,
        "measured first: {l:#}"
    );
    assert_eq!(l["allocations"]["release_attempted"], 10);
    let f = rep["diagnosis"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "load-ended-early")
        .unwrap_or_else(|| panic!("no load-ended-early: {:#}", rep["diagnosis"]));
    assert!(
        f["title"].as_str().unwrap().contains("relayed nothing"),
        "{f:#}"
    );
}

#[test]
fn a_server_restarted_mid_run_has_dropped_the_allocations_and_the_run_says_so() {
    let opts = CoturnOptions {
        user: "alice".into(),
        password: PASSWORD.into(),
        realm: "natscope.test".into(),
        ..CoturnOptions::default()
    };
    let ports = LoopbackCoturn::pick_ports(false, &[]).expect("free ports");
    let first = LoopbackCoturn::start_with_ports(&opts, false, ports).expect("coturn starts");
    let server = format!("turn:{}?transport=udp", first.primary);
    let child = crate::support::natscope()
        .args(load_args(
            &server,
            &["--allocations", "10", "--duration", "60s", "--ramp", "0s"],
        ))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("natscope starts");
    std::thread::sleep(Duration::from_secs(2));
    // The same address, a fresh server: it knows none of the allocations.
    drop(first);
    let t0 = Instant::now();
    let _second = LoopbackCoturn::start_with_ports(&opts, false, ports).expect("coturn restarts");
    let out = crate::support::wait_bounded(child, Duration::from_secs(30));
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    crate::support::assert_exit(
        &out,
        &[1],
        "a server that lost the allocations fails the run",
    );
    let rep = crate::support::json_of(&out);
    let l = load_of(&rep);
    assert_eq!(l["ended"]["reason"], "server-silent", "{l:#}");
    assert!(
        l["traffic"]["received"].as_u64().unwrap() > 100,
        "measured first: {l:#}"
    );
}

#[test]
fn garbage_answers_give_no_allocation_and_a_named_end() {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = sock.local_addr().expect("addr");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let t = std::thread::spawn(move || {
        let mut b = [0u8; 2048];
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok((n, from)) = sock.recv_from(&mut b) {
                // Same length, every byte flipped: never STUN.
                let junk: Vec<u8> = b[..n].iter().map(|x| !x).collect();
                let _ = sock.send_to(&junk, from);
            }
        }
    });
    let t0 = Instant::now();
    let out = crate::support::run_natscope(
        load_args(
            &format!("turn:{addr}?transport=udp"),
            &["--allocations", "4", "--duration", "5s", "--ramp", "0s"],
        ),
        Duration::from_secs(30),
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = t.join();
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    crate::support::assert_exit(&out, &[1], "no allocation fails the run");
    let rep = crate::support::json_of(&out);
    let l = load_of(&rep);
    assert_eq!(l["ended"]["reason"], "no-allocation", "{l:#}");
    assert_eq!(l["allocations"]["created"], 0);
}

#[test]
fn a_redirecting_server_is_named_with_its_alternate() {
    let c = coturn(&["alternate-server=127.0.0.1:3999"]);
    let out = crate::support::run_natscope(
        load_args(
            &format!("turn:{}?transport=udp", c.primary),
            &["--allocations", "4", "--duration", "5s", "--ramp", "0s"],
        ),
        Duration::from_secs(30),
    );
    crate::support::assert_exit(&out, &[1], "a redirect ends the run");
    let rep = crate::support::json_of(&out);
    let l = load_of(&rep);
    assert_eq!(l["ended"]["reason"], "redirected", "{l:#}");
    assert_eq!(l["ended"]["to"], "127.0.0.1:3999", "{l:#}");
}

#[test]
fn ctrl_c_releases_every_allocation_and_reports() {
    let c = coturn(&[]);
    let child = crate::support::natscope()
        .args(load_args(
            &format!("turn:{}?transport=udp", c.primary),
            &["--allocations", "10", "--duration", "60s", "--ramp", "0s"],
        ))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("natscope starts");
    std::thread::sleep(Duration::from_secs(2));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let t0 = Instant::now();
    let out = crate::support::wait_bounded(child, Duration::from_secs(20));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    crate::support::assert_exit(&out, &[130], "Ctrl-C");
    let rep = crate::support::json_of(&out);
    let l = load_of(&rep);
    assert_eq!(l["ended"]["reason"], "interrupted", "{l:#}");
    assert_eq!(l["allocations"]["released"], 10, "{l:#}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("10 of 10 allocations deleted"), "{stderr}");
}

#[test]
fn a_server_that_is_not_on_loopback_or_in_the_lab_needs_the_owner_flag() {
    // 198.18.0.1 (RFC 2544 benchmarking): refused before anything is sent.
    let out = crate::support::run_natscope(
        load_args("turn:198.18.0.1?transport=udp", &[]),
        Duration::from_secs(10),
    );
    crate::support::assert_exit(&out, &[2], "a usage error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--i-own-this-server"), "{stderr}");
}
