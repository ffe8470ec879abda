//! End-to-end tests of the natscope CLI against real servers on loopback:
//! the embedded lab, natscope's RFC 5780 responder, a silent socket and a
//! garbage-spewing one. Checks outputs, the JSON contract and exit codes.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use probe::responder::{Responder, ResponderConfig};
use support::{assert_schema_valid, json_of, natscope, run_bounded};

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn diagnose_lab_works_on_a_fresh_machine() {
    let mut cmd = natscope();
    cmd.args(["diagnose", "--lab", "--format", "json"]);
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_of(&out);
    assert_schema_valid(&doc);
    assert_eq!(doc["schema"], "natscope/1");
    assert_eq!(doc["interfaces"]["status"], "tested");
    let servers = doc["stun"]["servers"].as_array().expect("servers array");
    assert_eq!(
        servers.len(),
        4,
        "primary + alternate, UDP + TCP: {servers:#?}"
    );
    for s in servers {
        assert_eq!(s["outcome"], "ok", "{s:#?}");
        assert_eq!(s["rfc5780"], true, "{s:#?}");
        let mapped: SocketAddr = s["mapped"].as_str().unwrap().parse().unwrap();
        let local: SocketAddr = s["local"].as_str().unwrap().parse().unwrap();
        // Loopback has no NAT: the server sees exactly our socket.
        assert_eq!(mapped.ip().to_string(), "127.0.0.1");
        assert_eq!(mapped.port(), local.port());
    }
    assert_eq!(doc["stun"]["agreement"]["ipv4"]["same_ip"], true);
    assert_eq!(doc["stun"]["agreement"]["ipv4"]["same_port"], true);
    let checks = doc["summary"]["checks"].as_array().unwrap();
    // Every section works against the embedded servers.
    for id in [
        "stun",
        "udp",
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
        assert!(
            checks
                .iter()
                .any(|c| c["id"] == id && c["status"] == "pass"),
            "check {id} passes: {checks:#?}"
        );
    }
    for section in ["nat", "turn", "ice"] {
        assert_eq!(
            doc[section]["status"], "tested",
            "{section}: {:#?}",
            doc[section]
        );
    }
    assert_eq!(doc["nat"]["mapping"], "endpoint-independent");
    assert_eq!(doc["nat"]["filtering"], "endpoint-independent");
    assert_eq!(doc["nat"]["behind_nat"], false);
    let turn = doc["turn"]["results"].as_array().unwrap();
    assert_eq!(turn.len(), 3);
    assert!(turn.iter().all(|t| t["ok"] == true), "{turn:#?}");
    // Port mapping in the lab: only loopback is asked, nothing answers
    // there, so nothing is available and the check is not tested (never a
    // failure).
    let pm = &doc["portmap"];
    assert_eq!(pm["status"], "tested", "{pm:#?}");
    assert_eq!(pm["gateway"], "127.0.0.1", "{pm:#?}");
    let protocols: Vec<&str> = pm["protocols"]
        .as_array()
        .expect("protocols array")
        .iter()
        .map(|p| p["protocol"].as_str().expect("protocol name"))
        .collect();
    assert_eq!(protocols, ["upnp", "nat-pmp", "pcp"]);
    assert_eq!(pm["protocols"][0]["status"], "not-tested", "{pm:#?}");
    for p in &pm["protocols"].as_array().expect("protocols array")[1..] {
        assert_eq!(p["status"], "not-available", "{p:#?}");
        assert!(p["mapping"].is_null(), "{p:#?}");
    }
    assert_eq!(pm["leftover"], serde_json::json!([]));
    let check = checks
        .iter()
        .find(|c| c["id"] == "portmap")
        .expect("portmap check");
    assert_eq!(check["status"], "not-tested", "{check:#?}");
    assert!(
        check["reason"].as_str().unwrap().contains("not available"),
        "{check:#?}"
    );
    // The embedded TURN password is generated per run and never printed.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("lab-"), "no lab password in the output");
}

#[test]
fn no_portmap_sends_nothing_and_says_so() {
    let mut cmd = natscope();
    cmd.args([
        "diagnose",
        "--lab",
        "--no-portmap",
        "--no-turn",
        "--no-ice",
        "--format",
        "json",
    ]);
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_of(&out);
    assert_schema_valid(&doc);
    assert_eq!(
        doc["portmap"]["status"], "not-tested",
        "{:#?}",
        doc["portmap"]
    );
    let reason = doc["portmap"]["reason"].as_str().expect("reason");
    assert!(reason.contains("--no-portmap"), "{reason}");
    let checks = doc["summary"]["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["id"] == "portmap" && c["status"] == "not-tested"),
        "{checks:#?}"
    );

    // `natscope portmap --no-portmap`: exit 0, not tested.
    let mut cmd = natscope();
    cmd.args(["portmap", "--no-portmap", "--format", "json"]);
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_of(&out);
    assert_schema_valid(&doc);
    assert_eq!(doc["command"], "portmap");
    assert_eq!(doc["portmap"]["status"], "not-tested");
    assert!(
        doc["portmap"]["reason"]
            .as_str()
            .expect("reason")
            .contains("--no-portmap")
    );
    assert_eq!(doc["summary"]["checks"][0]["id"], "portmap");
    assert_eq!(doc["summary"]["checks"][0]["status"], "not-tested");
    // `--require portmap` is a known check (not met here: exit 1).
    let mut cmd = natscope();
    cmd.args([
        "diagnose",
        "--lab",
        "--no-portmap",
        "--no-turn",
        "--no-ice",
        "--require",
        "portmap",
        "--format",
        "json",
    ]);
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("required check portmap not tested"));
}

async fn responder() -> Responder {
    Responder::start(ResponderConfig::loopback_lab()).expect("responder starts on loopback")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stun_reports_mapping_and_rfc5780_capability() {
    let r = responder().await;
    let addrs = r.addrs();
    let alt = addrs.alternate.expect("two-address responder");
    let mut cmd = natscope();
    cmd.args(["stun", "--format", "json", "--tcp", "--timeout", "5s"])
        .arg(format!("stun:{}", addrs.primary))
        .arg(format!("{alt}"));
    let out = tokio::task::spawn_blocking(move || run_bounded(cmd, LIMIT))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_of(&out);
    assert_schema_valid(&doc);
    let servers = doc["stun"]["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 4);
    for s in servers {
        assert_eq!(s["outcome"], "ok", "{s:#?}");
        assert!(s["other_address"].as_str().is_some(), "{s:#?}");
        assert!(s["software"].as_str().unwrap().starts_with("natscope"));
        let mapped: SocketAddr = s["mapped"].as_str().unwrap().parse().unwrap();
        let local: SocketAddr = s["local"].as_str().unwrap().parse().unwrap();
        assert_eq!(mapped.port(), local.port(), "no NAT on loopback: {s:#?}");
        assert_eq!(mapped.ip().to_string(), "127.0.0.1");
    }
    // The primary's OTHER-ADDRESS names the alternate.
    assert_eq!(servers[0]["other_address"], alt.to_string());
    // RESPONSE-ORIGIN of the primary is the primary.
    assert_eq!(servers[0]["response_origin"], addrs.primary.to_string());
    r.shutdown().await;
}

#[test]
fn silent_server_times_out_within_the_deadline_and_exits_1() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let mut cmd = natscope();
    cmd.args(["stun", "--format", "json", "--timeout", "1s"])
        .arg(addr.to_string());
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    assert_schema_valid(&doc);
    let s = &doc["stun"]["servers"][0];
    assert_eq!(s["outcome"], "timeout", "{s:#?}");
    assert!(
        s["transmissions"].as_u64().unwrap() >= 2,
        "retransmitted: {s:#?}"
    );
    let checks = doc["summary"]["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["id"] == "udp" && c["status"] == "fail")
    );
    drop(silent);
}

#[test]
fn garbage_answers_are_counted_and_ignored() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let spewer = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        let mut answered = 0;
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            // Garbage, a truncated STUN header, and a response with a wrong transaction id.
            let _ = sock.send_to(b"\x00\x01garbage\xff\xfe", from);
            let _ = sock.send_to(&buf[..n.min(10)], from);
            // A well-formed Binding success response, header only, whose
            // transaction id is not ours.
            let mut wrong = buf[..n.min(20)].to_vec();
            wrong[0] = 0x01;
            wrong[1] = 0x01;
            wrong[2] = 0;
            wrong[3] = 0;
            wrong[19] ^= 0xff;
            let _ = sock.send_to(&wrong, from);
            answered += 1;
            if answered > 8 {
                break;
            }
        }
    });
    let mut cmd = natscope();
    cmd.args(["stun", "--format", "json", "--timeout", "1s"])
        .arg(addr.to_string());
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    let s = &doc["stun"]["servers"][0];
    assert_eq!(s["outcome"], "timeout", "{s:#?}");
    let counters = &doc["stun"]["counters"];
    assert!(counters["malformed"].as_u64().unwrap() >= 1, "{counters}");
    assert!(counters["unmatched"].as_u64().unwrap() >= 1, "{counters}");
    let _ = spewer.join();
}

#[test]
fn bad_input_is_a_one_line_error_and_exit_2() {
    for args in [
        vec!["stun", "ftp://example.invalid"],
        vec!["stun", "stun:[::1"],
        vec!["stun", "--ice-servers", "/nonexistent/ice.json"],
        vec!["stun", "--timeout", "soon", "127.0.0.1:1"],
    ] {
        let mut cmd = natscope();
        cmd.args(&args);
        let out = run_bounded(cmd, LIMIT);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
        let last = args.last().unwrap();
        assert!(
            err.contains(last) || err.contains("soon"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn table_output_honours_no_color_and_interfaces_lists_loopback() {
    let mut cmd = natscope();
    cmd.args(["interfaces", "--format", "table"]);
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains('\u{1b}'),
        "no escape sequences with NO_COLOR"
    );
    assert!(text.contains("127.0.0.1/8"), "{text}");

    let mut cmd = natscope();
    cmd.args(["interfaces", "--format", "json"]);
    let doc = json_of(&run_bounded(cmd, LIMIT));
    assert_schema_valid(&doc);
    let ifs = doc["interfaces"]["interfaces"].as_array().unwrap();
    let lo = ifs
        .iter()
        .find(|i| i["kind"] == "loopback")
        .expect("a loopback interface");
    assert!(
        lo["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["ip"] == "127.0.0.1" && a["scope"]["loopback"] == true)
    );
}

#[test]
fn output_file_is_written() {
    let dir = std::env::temp_dir().join(format!("natscope-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.json");
    let mut cmd = natscope();
    cmd.args(["diagnose", "--lab", "-o"]).arg(&path);
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["schema"], "natscope/1");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stun_against_real_coturn_reports_mapping_and_rfc5780() {
    use probe::lab::{CoturnOptions, LoopbackCoturn};
    // Two listening addresses: coturn answers RFC 5780 (OTHER-ADDRESS).
    let two = LoopbackCoturn::start(&CoturnOptions::default(), true)
        .expect("coturn starts on loopback (scripts/test installs the coturn package)");
    // One address: a plain RFC 8489 server.
    let one = LoopbackCoturn::start(&CoturnOptions::default(), false).expect("coturn starts");
    let mut cmd = natscope();
    cmd.args(["stun", "--format", "json", "--tcp", "--timeout", "5s"])
        .arg(format!("stun:{}", two.primary))
        .arg(format!("turn:{}", one.primary));
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_of(&out);
    assert_schema_valid(&doc);
    let servers = doc["stun"]["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 4, "{servers:#?}");
    for s in servers {
        assert_eq!(s["outcome"], "ok", "{s:#?}");
        let mapped: SocketAddr = s["mapped"].as_str().unwrap().parse().unwrap();
        let local: SocketAddr = s["local"].as_str().unwrap().parse().unwrap();
        assert_eq!(mapped.ip().to_string(), "127.0.0.1", "{s:#?}");
        assert_eq!(mapped.port(), local.port(), "{s:#?}");
        assert!(
            s["software"].as_str().unwrap_or("").contains("Coturn"),
            "{s:#?}"
        );
    }
    let two_addr = two.primary.to_string();
    for s in servers {
        let is_two = s["address"] == two_addr.as_str();
        assert_eq!(
            s["rfc5780"], is_two,
            "RFC 5780 only with two addresses: {s:#?}"
        );
        if is_two {
            let other: SocketAddr = s["other_address"].as_str().unwrap().parse().unwrap();
            assert_eq!(other.ip().to_string(), "127.0.0.2");
            assert_eq!(other.port(), two.primary.port() + 1);
        }
    }
    assert_eq!(doc["stun"]["agreement"]["ipv4"]["same_port"], true);
}

#[test]
fn require_gates_ci_on_named_checks() {
    let mut cmd = natscope();
    cmd.args(["diagnose", "--lab", "--format", "json"])
        .args(["--require", "udp,nat-eim,turn-tls,ice-relay"]);
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A skipped section cannot satisfy a requirement: exit 1, one line each.
    let mut cmd = natscope();
    cmd.args([
        "diagnose",
        "--lab",
        "--no-turn",
        "--no-ice",
        "--format",
        "json",
    ])
    .args(["--require", "udp,turn-udp,ice-relay"]);
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("required check"))
        .collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines.iter().any(|l| l.contains("turn-udp")));
    assert!(lines.iter().any(|l| l.contains("ice-relay")));
    let doc = json_of(&out);
    assert_eq!(doc["turn"]["status"], "not-tested");
    assert_eq!(doc["turn"]["reason"], "skipped (--no-turn)");

    // An unknown check name is a usage error.
    let mut cmd = natscope();
    cmd.args(["diagnose", "--lab", "--require", "full-cone"]);
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("full-cone"));
}

#[test]
fn html_output_redaction_and_report_render() {
    let dir = std::env::temp_dir().join(format!("natscope-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("r.json");
    let html = dir.join("r.html");
    let mut cmd = natscope();
    cmd.args(["diagnose", "--lab", "--redact", "-o"]).arg(&json);
    assert_eq!(run_bounded(cmd, LIMIT).status.code(), Some(0));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["options"]["redacted"], true);
    assert_schema_valid(&doc);
    let mut cmd = natscope();
    cmd.args(["report", "render"])
        .arg(&json)
        .arg("-o")
        .arg(&html);
    assert_eq!(run_bounded(cmd, LIMIT).status.code(), Some(0));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("id=\"natscope-report\""));
    // A report of an unknown schema is a one-line error, exit 2.
    std::fs::write(dir.join("bad.json"), "{\"schema\": \"natscope/9\"}").unwrap();
    let mut cmd = natscope();
    cmd.args(["report", "render"]).arg(dir.join("bad.json"));
    let out = run_bounded(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("natscope/9"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_answers_rfc5780_exposes_metrics_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_natscope"))
        .args([
            "serve",
            "--primary",
            "127.0.0.1",
            "--alternate",
            "127.0.0.2",
        ])
        .args(["--port", "0", "--alt-port", "0", "--metrics", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("natscope serve starts");
    // Kill it whatever happens below; SIGTERM is the graceful path tested.
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().expect("piped stdout");
    let mut guard = Guard(child);
    // The startup lines: bound addresses, OTHER-ADDRESS, metrics URL.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let metrics_url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("serve printed no metrics line; so far: {lines:#?}"));
        lines.push(line.clone());
        if let Some(url) = line.strip_prefix("metrics http://") {
            break url.trim_end_matches("/metrics").to_string();
        }
    };
    let primary = lines
        .iter()
        .find_map(|l| l.strip_prefix("udp "))
        .expect("a udp line")
        .to_string();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("OTHER-ADDRESS 127.0.0.2:")),
        "{lines:#?}"
    );

    // A real client: natscope stun sees an RFC 5780 server.
    let mut cmd = natscope();
    cmd.args(["stun", "--format", "json"])
        .arg(format!("stun:{primary}"));
    let doc = json_of(&run_bounded(cmd, LIMIT));
    assert_eq!(doc["stun"]["servers"][0]["outcome"], "ok");
    assert_eq!(doc["stun"]["servers"][0]["rfc5780"], true);

    // Prometheus metrics count it.
    let mut s = std::net::TcpStream::connect(&metrics_url).expect("metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let requests: f64 = body
        .lines()
        .find(|l| l.starts_with("natscope_serve_requests_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no requests counter in:\n{body}"));
    assert!(requests >= 1.0, "{body}");

    // SIGTERM: a clean shutdown with exit 0.
    // SAFETY: kill(2) on the pid of a child we own and have not reaped.
    let rc = unsafe { libc::kill(guard.0.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = guard.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "serve ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn every_probe_command_writes_schema_valid_json() {
    // `nat` and `ice` against the embedded responder; `portmap` skipped
    // (sends nothing). stun/diagnose/interfaces/turn are covered above and
    // in tests/hostile.rs.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(async { responder().await });
    let primary = format!("stun:{}", r.addrs().primary);
    for args in [
        vec!["nat", "--format", "json", primary.as_str()],
        vec![
            "ice",
            "--format",
            "json",
            "--no-data-channel",
            "--stun",
            primary.as_str(),
        ],
        vec!["portmap", "--no-portmap", "--format", "json"],
    ] {
        let mut cmd = natscope();
        cmd.args(&args);
        let out = run_bounded(cmd, LIMIT);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc = json_of(&out);
        assert_schema_valid(&doc);
        assert_eq!(doc["schema"], "natscope/1", "{args:?}");
    }
    drop(r);
}

/// `natscope ice` with TURN over TCP and over TLS (`turns:`, certificate
/// checked with `--ca`): relay↔relay connects over each, the report tags
/// relayed candidates with their relay protocol, and the per-transport
/// checks pass; the password appears nowhere.
#[test]
fn ice_relays_over_turn_tcp_and_tls_from_the_command_line() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let password = "tcp-and-tls-s3cret";
    let turn = rt
        .block_on(probe::turn::TestTurnServer::start(
            probe::turn::TestTurnServerConfig::new(
                "natscope.test",
                "alice",
                probe::turn::Secret::new(password),
            ),
        ))
        .expect("embedded TURN server starts");
    let dir = std::env::temp_dir().join(format!("natscope-ice-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, turn.ca_pem()).expect("write CA");
    let mut cmd = natscope();
    cmd.args([
        "ice",
        "--format",
        "json",
        "--filter",
        "relay-relay",
        "--username",
        "alice",
    ])
    .env("NATSCOPE_TURN_PASSWORD", password)
    .arg("--turn")
    .arg(format!("turn:{}?transport=tcp", turn.tcp_addr))
    .arg("--turn")
    .arg(format!("turns:localhost:{}", turn.tls_addr.port()))
    .arg("--ca")
    .arg(&ca);
    let out = run_bounded(cmd, LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!stdout.contains(password) && !stderr.contains(password));
    let doc = json_of(&out);
    assert_schema_valid(&doc);
    let runs = doc["ice"]["runs"].as_array().expect("runs");
    // relay-relay with both servers, then once over each transport.
    let only: Vec<&str> = runs
        .iter()
        .map(|r| r["relay_only"].as_str().unwrap_or("all"))
        .collect();
    assert_eq!(only, ["all", "tcp", "tls"], "{runs:#?}");
    for r in runs {
        assert_eq!(r["connected"], true, "{r:#?}");
        if let Some(p) = r["relay_only"].as_str() {
            assert_eq!(r["selected"]["local_relay_protocol"], p, "{r:#?}");
            assert_eq!(r["selected"]["remote_relay_protocol"], p, "{r:#?}");
        }
        for a in r["agents"].as_array().expect("agents") {
            for c in a["candidates"].as_array().expect("candidates") {
                assert!(
                    matches!(c["relay_protocol"].as_str(), Some("tcp" | "tls")),
                    "{c:#?}"
                );
            }
        }
    }
    let checks = doc["summary"]["checks"].as_array().expect("checks");
    let status = |id: &str| {
        checks
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(
        status("ice-relay-tcp").as_deref(),
        Some("pass"),
        "{checks:#?}"
    );
    assert_eq!(
        status("ice-relay-tls").as_deref(),
        Some("pass"),
        "{checks:#?}"
    );
    assert_eq!(
        status("ice-relay-udp").as_deref(),
        Some("not-tested"),
        "{checks:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    turn.shutdown();
}
